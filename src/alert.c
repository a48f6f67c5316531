/*
 * alert.c
 *	  Delivery of kant's notifications: kant._post_json(urls, bodies) posts
 *	  one JSON body to each URL at once through the HTTP layer and returns
 *	  each outcome.  The outbox (kant.notification) and its retry policy live
 *	  in SQL (kant.deliver_notifications): this function never retries, so
 *	  that a Retry-After or a backoff is kept in the outbox, not in a
 *	  backend that may die.
 *
 * A URL "env:NAME" is read from the server's environment variable NAME
 * (webhook URLs are secrets).  Messages name the host only, never the path
 * that holds a webhook's secret.
 */
#include "kant.h"
#include "http.h"

#include <stdlib.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "mb/pg_wchar.h"

PG_FUNCTION_INFO_V1(kant_post_json);
Datum
kant_post_json(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KantHttpOptions opt;
	Datum	   *urls,
			   *bodies;
	bool	   *unulls,
			   *bnulls;
	int			n,
				nb,
				i;
	KantHttpRequest **reqs;
	char	  **problems;
	List	   *headers = list_make2(pstrdup("Content-Type: application/json; charset=utf-8"),
									 pstrdup("Accept: */*"));
	int		   *slot;
	int			nsend = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("urls and bodies must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false, TYPALIGN_INT, &urls, &unulls, &n);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &bodies, &bnulls, &nb);
	if (n != nb)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("urls and bodies differ in length (%d and %d)", n, nb)));
	kant_http_default_options(&opt);
	opt.max_retries = 0;		/* the outbox retries, with what the server said */
	opt.max_parallel = Max(n, 1);
	reqs = palloc0(sizeof(KantHttpRequest *) * Max(n, 1));
	problems = palloc0(sizeof(char *) * Max(n, 1));
	slot = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		char	   *url;
		char	   *body;

		if (unulls[i] || bnulls[i])
		{
			problems[i] = pstrdup("no webhook URL or no body");
			continue;
		}
		url = TextDatumGetCString(urls[i]);
		if (strncmp(url, "env:", 4) == 0)
		{
			const char *v = getenv(url + 4);

			if (v == NULL || *v == '\0')
			{
				problems[i] = psprintf("the server has no environment variable %s", url + 4);
				continue;
			}
			url = pstrdup(v);
		}
		body = TextDatumGetCString(bodies[i]);
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "POST";
		reqs[i]->url = url;
		reqs[i]->body = body;
		reqs[i]->body_len = strlen(body);
		reqs[i]->headers = headers;
		slot[nsend++] = i;
	}
	if (nsend > 0)
	{
		KantHttpRequest **send = palloc(sizeof(KantHttpRequest *) * nsend);

		for (i = 0; i < nsend; i++)
			send[i] = reqs[slot[i]];
		kant_http_perform(send, nsend, &opt, NULL, NULL);
	}

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		KantHttpRequest *r = reqs[i];
		Datum		v[5];
		bool		isnull[5] = {false, true, true, true, true};
		char	   *error = problems[i];

		v[0] = Int32GetDatum(i + 1);
		if (r != NULL)
		{
			if (r->too_large)
				error = psprintf("%s: response larger than kant.http_max_size", r->host);
			else if (r->curl_code != 0)
				error = psprintf("%s: %s", r->host, r->error);
			if (r->status != 0)
			{
				v[1] = Int32GetDatum((int32) r->status);
				isnull[1] = false;
			}
			if (r->retry_after_s >= 0)
			{
				v[2] = Int32GetDatum((int32) r->retry_after_s);
				isnull[2] = false;
			}
			if (r->response && r->status != 0 &&
				pg_verifymbstr(r->response, (int) Min(r->response_len, 1000), true))
			{
				/* Slack answers in a word: ok, invalid_payload, no_service ... */
				v[3] = PointerGetDatum(cstring_to_text_with_len(r->response, Min(r->response_len, 1000)));
				isnull[3] = false;
			}
		}
		if (error)
		{
			v[4] = CStringGetTextDatum(error);
			isnull[4] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	}
	return (Datum) 0;
}
