/*
 * actions.c
 *	  Requests that act on a system rather than read it, for gates and
 *	  recovery: kant._airflow_post triggers a DAG run, kant._glue_call starts
 *	  a Glue job run.  They take the system and its credentials, the HTTP
 *	  layer's timeouts and retries and the reply checks of the collectors.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "collect_int.h"

/*
 * One request that acts on a system (not a collection): the system and its
 * credentials as the collectors read them, the same error context.
 */
static void
action_begin(Collector *g, ErrorContextCallback *ctx, const char *kind, text *system)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->system = text_to_cstring(system);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	ctx->callback = collect_context;
	ctx->arg = g;
	ctx->previous = error_context_stack;
	error_context_stack = ctx;
	collect_load_system(g, kind);
}

/*
 * Its one result row: status, body (at most 4,000 bytes, whole characters),
 * and a third text or NULL.
 */
static Datum
action_end(FunctionCallInfo fcinfo, ErrorContextCallback *ctx, MemoryContext fcxt,
		   KantHttpRequest *req, const char *body, const char *third)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		v[3];
	bool		isnull[3] = {false, false, third == NULL};
	int			len = strlen(body);

	error_context_stack = ctx->previous;
	/* the row outlives SPI */
	MemoryContextSwitchTo(fcxt);
	v[0] = Int32GetDatum((int32) req->status);
	v[1] = PointerGetDatum(cstring_to_text_with_len(body, pg_mbcliplen(body, len, Min(len, 4000))));
	v[2] = third ? CStringGetTextDatum(third) : (Datum) 0;
	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	SPI_finish();
	return (Datum) 0;
}

/* A 2xx reply of an action, as the JSON text of the object it must be. */
static char *
action_reply(Reply *r)
{
	return JsonbToCString(NULL, r->root, VARSIZE(r->json));
}

/*
 * kant._airflow_post(system, path, body): POST a JSON body to the Airflow
 * REST API of a system (path after /api/<version>/, the version detected as
 * the collector does), with its credentials, the HTTP layer's timeouts and
 * retries (429, 5xx, transport).  Returns the final status, the body and the
 * API version; a transport failure is an error, and so is a 2xx reply that
 * is not a JSON object (a DAG run, for .../dagRuns).  The body of an error
 * status is only its problem document's title and detail, cleaned and
 * capped.  For triggering DAG runs (kant.trigger_ready_gates).
 */
PG_FUNCTION_INFO_V1(kant_airflow_post);
Datum
kant_airflow_post(PG_FUNCTION_ARGS)
{
	Collector	g;
	ErrorContextCallback ctx;
	MemoryContext fcxt = CurrentMemoryContext;
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *body = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *url;
	char	   *answer;
	KantHttpRequest *req;

	action_begin(&g, &ctx, "airflow", PG_GETARG_TEXT_PP(0));
	airflow_detect(&g, NULL);
	url = psprintf("%s/api/%s/%s", g.endpoint, g.api, path);
	airflow_requests(&g, psprintf("POST %s", path), &url, 1, &req);
	req->method = "POST";
	req->body = body;
	req->body_len = strlen(body);
	req->headers = lappend(req->headers, pstrdup("Content-Type: application/json"));
	kant_http_perform(&req, 1, &g.opt, auth_retry, &g);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g.op);
	if (req->status < 400)
	{
		Reply		r;
		size_t		len = strlen(path);

		reply_read(&r, &g, req);
		/* a DAGRun: its dag_id, and its dag_run_id (v1 lets it be null) */
		if (len >= 8 && strcmp(path + len - 8, "/dagRuns") == 0)
		{
			reply_get_string(&r, r.root, NULL, "dag_id", true, AF_ID_MAX);
			reply_get_string(&r, r.root, NULL, "dag_run_id", strcmp(g.api, "v2") == 0, AF_ID_MAX);
		}
		answer = action_reply(&r);
	}
	else
	{
		char	   *title;
		char	   *detail;

		airflow_error(req, &title, &detail);
		if (title && detail)
			answer = psprintf("%s: %s", title, detail);
		else if (title || detail)
			answer = title ? title : detail;
		else
			answer = psprintf("HTTP %ld: the reply (%zu bytes) is not an Airflow error document; kant does not show it",
							  req->status, req->response_len);
	}
	return action_end(fcinfo, &ctx, fcxt, req, answer, g.api);
}

/*
 * kant._glue_call(system, operation, body): one signed Glue JSON 1.1 request
 * (for StartJobRun), with the HTTP layer's timeouts and Glue's retry policy
 * (throttling, 5xx).  Returns the final status, the body, and Glue's error
 * type without its namespace (e.g. ConcurrentRunsExceededException) when the
 * answer is an error; a transport failure is an error, and so is a 2xx reply
 * that is not a JSON object (with a JobRunId, for StartJobRun).  The body of
 * an error status is only its type and message, cleaned and capped.
 */
PG_FUNCTION_INFO_V1(kant_glue_call);
Datum
kant_glue_call(PG_FUNCTION_ARGS)
{
	Collector	g;
	ErrorContextCallback ctx;
	MemoryContext fcxt = CurrentMemoryContext;
	char	   *op = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *body = text_to_cstring(PG_GETARG_TEXT_PP(2));
	KantHttpRequest *req;
	char	   *etype = NULL;
	char	   *answer;

	action_begin(&g, &ctx, "glue", PG_GETARG_TEXT_PP(0));
	glue_resolve_access(&g);
	glue_requests(&g, op, &body, 1, &req);
	kant_http_perform(&req, 1, &g.opt, auth_retry, &g);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, op);
	if (req->status < 400)
	{
		Reply		r;

		reply_read(&r, &g, req);
		if (strcmp(op, "StartJobRun") == 0 &&
			*reply_get_string(&r, r.root, NULL, "JobRunId", true, GLUE_NAME_MAX) == '\0')
			reply_unusable(&r, "\"JobRunId\" is empty");
		answer = action_reply(&r);
	}
	else
	{
		char	   *message;

		etype = glue_error(req, &message);
		if (etype && message)
			answer = psprintf("%s: %s", etype, message);
		else if (etype)
			answer = etype;
		else
			answer = psprintf("HTTP %ld: the reply (%zu bytes) is not a Glue error document; kant does not show it",
							  req->status, req->response_len);
	}
	return action_end(fcinfo, &ctx, fcxt, req, answer, etype);
}
