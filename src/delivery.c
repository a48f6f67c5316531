/*
 * delivery.c
 *	  Delivery of kant's notifications: kant._post_json(urls, bodies) posts
 *	  one JSON body to each URL at once through the HTTP layer and returns
 *	  each outcome.  The outbox (kant.notification) and its retry policy live
 *	  in SQL (kant.deliver_notifications, sql/src/delivery.sql): this
 *	  function never retries, so that a Retry-After or a backoff is kept in
 *	  the outbox, not in a backend that may die.
 *
 * kant._post_channels(channels, bodies) (0.6.0) takes channel names and
 * reads each webhook URL itself -- stored, from the server's environment or
 * from a secret file -- so that no caller sees a URL or can post elsewhere;
 * kant._post_json(urls, bodies), what 0.5.0 called, takes URLs ("env:NAME"
 * from the environment).  Messages name the host only, never the path that
 * holds a webhook's secret; Slack's answer is returned cut short, printable.
 */
#include "kant.h"
#include "http.h"

#include <stdlib.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "mb/pg_wchar.h"

/* Slack's answer, for the outbox: at most 300 bytes of printable text. */
static text *
short_answer(const char *s, size_t len)
{
	StringInfoData b;
	size_t		i;

	len = Min(len, 300);
	while (len > 0 && !pg_verifymbstr(s, (int) len, true))
		len--;					/* cut on a character boundary */
	initStringInfo(&b);
	for (i = 0; i < len; i++)
		appendStringInfoChar(&b, ((unsigned char) s[i] < 0x20 || s[i] == 0x7F) ? ' ' : s[i]);
	return cstring_to_text_with_len(b.data, b.len);
}

/*
 * POST bodies[i] to urls[i] (NULL url: problems[i] says why) at once, no
 * retries, and return one row each: ord, status, Retry-After, answer, error.
 */
static Datum
post_all(FunctionCallInfo fcinfo, char **urls, char **bodies, char **problems, int n)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KantHttpOptions opt;
	KantHttpRequest **reqs = palloc0(sizeof(KantHttpRequest *) * Max(n, 1));
	KantHttpRequest **send = palloc(sizeof(KantHttpRequest *) * Max(n, 1));
	List	   *headers = list_make2(pstrdup("Content-Type: application/json; charset=utf-8"),
									 pstrdup("Accept: */*"));
	int			nsend = 0;
	int			i;

	kant_http_default_options(&opt);
	opt.max_retries = 0;		/* the outbox retries, with what the server said */
	opt.max_parallel = Max(n, 1);
	for (i = 0; i < n; i++)
	{
		char		why[200];

		if (urls[i] == NULL)
			continue;
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "POST";
		reqs[i]->url = urls[i];
		reqs[i]->body = bodies[i];
		reqs[i]->body_len = strlen(bodies[i]);
		reqs[i]->headers = headers;
		/* a refused host is that message's failure, not the round's */
		if (!kant_http_host_allowed_url(urls[i], why, sizeof(why)))
		{
			problems[i] = pstrdup(why);
			reqs[i] = NULL;
			continue;
		}
		send[nsend++] = reqs[i];
	}
	if (nsend > 0)
		kant_http_perform(send, nsend, &opt, NULL, NULL);

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
			if (r->response && r->status != 0)
			{
				/* Slack answers in a word: ok, invalid_payload, no_service ... */
				v[3] = PointerGetDatum(short_answer(r->response, r->response_len));
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

/* kant._post_json(urls, bodies): what kant 0.5.0's outbox called. */
PG_FUNCTION_INFO_V1(kant_post_json);
Datum
kant_post_json(PG_FUNCTION_ARGS)
{
	Datum	   *urls,
			   *bodies;
	bool	   *unulls,
			   *bnulls;
	int			n,
				nb,
				i;
	char	  **u,
			  **b,
			  **problems;

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
	u = palloc0(sizeof(char *) * Max(n, 1));
	b = palloc0(sizeof(char *) * Max(n, 1));
	problems = palloc0(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (unulls[i] || bnulls[i])
		{
			problems[i] = pstrdup("no webhook URL or no body");
			continue;
		}
		u[i] = TextDatumGetCString(urls[i]);
		b[i] = TextDatumGetCString(bodies[i]);
		if (strncmp(u[i], "env:", 4) == 0)
		{
			const char *v = getenv(u[i] + 4);

			if (v == NULL || *v == '\0')
			{
				problems[i] = psprintf("the server has no environment variable %s", u[i] + 4);
				u[i] = NULL;
				continue;
			}
			u[i] = pstrdup(v);
		}
	}
	return post_all(fcinfo, u, b, problems, n);
}

/*
 * kant._post_channels(channels, bodies): POST each body to its channel's
 * webhook (kant.channel; its URL stored, from the environment or from a
 * secret file).  SECURITY DEFINER: only kant reads the URLs.
 */
PG_FUNCTION_INFO_V1(kant_post_channels);
Datum
kant_post_channels(PG_FUNCTION_ARGS)
{
	Datum	   *chans,
			   *bodies;
	bool	   *cnulls,
			   *bnulls;
	int			n,
				nb,
				i;
	char	  **u,
			  **b,
			  **problems;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("channels and bodies must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false, TYPALIGN_INT, &chans, &cnulls, &n);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &bodies, &bnulls, &nb);
	if (n != nb)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("channels and bodies differ in length (%d and %d)", n, nb)));
	u = palloc0(sizeof(char *) * Max(n, 1));
	b = palloc0(sizeof(char *) * Max(n, 1));
	problems = palloc0(sizeof(char *) * Max(n, 1));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	for (i = 0; i < n; i++)
	{
		Oid			argt[1] = {TEXTOID};
		Datum		argv[1];
		char	   *name;

		if (cnulls[i] || bnulls[i])
		{
			problems[i] = MemoryContextStrdup(cxt, "no channel or no body");
			continue;
		}
		name = TextDatumGetCString(chans[i]);
		argv[0] = chans[i];
		if (SPI_execute_with_args("SELECT webhook_url, from_env, from_file FROM kant.channel WHERE name = $1",
								  1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the channel failed");
		if (SPI_processed == 0)
		{
			problems[i] = MemoryContextStrdup(cxt, psprintf("channel \"%s\" does not exist", name));
			continue;
		}
		{
			HeapTuple	t = SPI_tuptable->vals[0];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *stored = SPI_getvalue(t, d, 1);
			char		source = DatumGetBool(SPI_getbinval(t, d, 2, &isnull)) ? 'e' :
				DatumGetBool(SPI_getbinval(t, d, 3, &isnull)) ? 'f' : 'l';
			MemoryContext spi = MemoryContextSwitchTo(cxt);
			int			code;

			/* a webhook that cannot be read now fails that message only */
			u[i] = kant_secret_lookup(stored, source, "webhook URL", name, &problems[i], &code);
			MemoryContextSwitchTo(spi);
		}
		b[i] = MemoryContextStrdup(cxt, TextDatumGetCString(bodies[i]));
	}
	SPI_finish();
	MemoryContextSwitchTo(cxt);
	return post_all(fcinfo, u, b, problems, n);
}
