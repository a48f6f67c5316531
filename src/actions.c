/*
 * actions.c
 *	  Requests that act on a system rather than read it, for gates and
 *	  recovery: kant._airflow_post triggers a DAG run, kant._airflow_clear
 *	  clears failed task instances of a DAG run (and kant._airflow_dag_run
 *	  reads the run it is about to clear), kant._glue_call starts a Glue job
 *	  run.  They take the system and its credentials, the HTTP layer's
 *	  timeouts and retries and the reply checks of the collectors.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
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

/*
 * The same, the body whole (kant._airflow_clear: a compact JSON document
 * kant reads, every task instance of it).
 */
static Datum
action_end_whole(FunctionCallInfo fcinfo, ErrorContextCallback *ctx, MemoryContext fcxt,
				 KantHttpRequest *req, const char *body, const char *third)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		v[3];
	bool		isnull[3] = {false, false, third == NULL};

	error_context_stack = ctx->previous;
	MemoryContextSwitchTo(fcxt);
	v[0] = Int32GetDatum((int32) req->status);
	v[1] = CStringGetTextDatum(body);
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
 * The text of an Airflow error reply: its problem document's title and
 * detail (v1), its detail (v2), or for FastAPI's 422 the first validation
 * error's location and message; cleaned and capped, nothing else of the body.
 */
static char *
af_error_text(KantHttpRequest *req)
{
	char	   *title;
	char	   *detail;
	JsonbContainer *doc;
	JsonbValue	buf;
	JsonbValue *v;

	airflow_error(req, &title, &detail);
	if (title && detail)
		return psprintf("%s: %s", title, detail);
	if (title || detail)
		return title ? title : detail;
	/* {"detail": [{"loc": [...], "msg": "...", "type": "..."}, ...]} */
	doc = reply_error_doc(req);
	v = doc ? json_get(doc, "detail", &buf) : NULL;
	if (v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		JsonContainerSize(v->val.binary.data) > 0)
	{
		JsonbValue *first = getIthJsonbValueFromContainer(v->val.binary.data, 0);

		if (first->type == jbvBinary && JsonContainerIsObject(first->val.binary.data))
		{
			JsonbContainer *e = first->val.binary.data;
			char	   *msg = reply_doc_text(e, "msg");
			JsonbValue	lbuf;
			JsonbValue *loc = json_get(e, "loc", &lbuf);
			char	   *where = NULL;

			if (loc && loc->type == jbvBinary && JsonContainerIsArray(loc->val.binary.data) &&
				JsonContainerSize(loc->val.binary.data) > 0)
			{
				JsonbValue *last = getIthJsonbValueFromContainer(loc->val.binary.data,
																 JsonContainerSize(loc->val.binary.data) - 1);

				if (last->type == jbvString)
				{
					JsonbParseState *ps = NULL;
					JsonbValue	k,
								o;

					/* cleaned as any error text: through a one-key document */
					k.type = jbvString;
					k.val.string.val = "loc";
					k.val.string.len = 3;
					pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
					pushJsonbValue(&ps, WJB_KEY, &k);
					pushJsonbValue(&ps, WJB_VALUE, last);
					o = *pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
					where = reply_doc_text(&JsonbValueToJsonb(&o)->root, "loc");
				}
			}
			if (msg)
				return psprintf("HTTP %ld: %s%s%s", req->status, where ? where : "", where ? ": " : "", msg);
		}
	}
	/*
	 * Airflow 3's unique-constraint 409: {"detail": {"reason": "Unique
	 * constraint violation", "statement", "orig_error", "message"}}
	 * (api_fastapi/common/exceptions.py _UniqueConstraintErrorHandler); the
	 * reason and the message (it names the error's id in the server's log).
	 */
	if (v && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		char	   *reason = reply_doc_text(v->val.binary.data, "reason");
		char	   *message = reply_doc_text(v->val.binary.data, "message");

		if (reason)
			return message ? psprintf("%s: %s", reason, message) : reason;
	}
	return psprintf("HTTP %ld: the reply (%zu bytes) is not an Airflow error document; kant does not show it",
					req->status, req->response_len);
}

/* A path segment, percent-encoded: run ids hold ':' and '+'. */
static char *
af_segment(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	collect_percent_encode(&b, s);
	return b.data;
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
		answer = af_error_text(req);
	return action_end(fcinfo, &ctx, fcxt, req, answer, g.api);
}

/* One request of an action; a transport failure is an error. */
static KantHttpRequest *
af_action_request(Collector *g, const char *op, char *url, const char *body)
{
	KantHttpRequest *req;

	airflow_requests(g, op, &url, 1, &req);
	if (body)
	{
		req->method = "POST";
		req->body = (char *) body;
		req->body_len = strlen(body);
		req->headers = lappend(list_copy(req->headers), pstrdup("Content-Type: application/json"));
	}
	kant_http_perform(&req, 1, &g->opt, auth_retry, g);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g->op);
	return req;
}

/* An optional integer field of an item, or dflt. */
static int64
af_item_int(Reply *r, JsonbContainer *o, const char *at, const char *key, int64 dflt)
{
	double		d;

	if (!reply_get_number(r, o, at, key, &d))
		return dflt;
	if (d != (double) (int64) d || d < -1 || d > PG_INT32_MAX)
		reply_unusable(r, "%s.%s must be an integer of at least -1", at, key);
	return (int64) d;
}

/* A nullable string field of an item: NULL when absent or null. */
static char *
af_item_nullable(Reply *r, JsonbContainer *o, const char *at, const char *key, int max_chars)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(o, key, &buf);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	return reply_get_string(r, o, at, key, false, max_chars);
}

/* the page size kant asks for: Airflow's default maximum_page_limit */
#define AF_ACTION_PAGE		100

/*
 * kant._airflow_dag_run(system, dag_id, dag_run_id): a DAG run as Airflow
 * has it now, before kant acts on it: GET dags/{dag_id}/dagRuns/{dag_run_id}
 * (v1 DAGRun, v2 DAGRunResponse: its state) and every page of its
 * .../taskInstances (the current try of each task instance).  Returns the
 * status of the DAG run's GET; with 2xx the run's state and its task
 * instances as a JSON array of {task_id, map_index, state (null: none yet),
 * try_number, max_tries}; else the error's text in detail (404: Airflow
 * knows no such DAG or run).  A transport failure, an error listing the task
 * instances, or a 2xx reply that is not what the spec says is an error.
 */
PG_FUNCTION_INFO_V1(kant_airflow_dag_run);
Datum
kant_airflow_dag_run(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Collector	g;
	ErrorContextCallback ctx;
	MemoryContext fcxt = CurrentMemoryContext;
	char	   *dag = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *run = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *base;
	KantHttpRequest *req;
	Reply		r;
	long		status;
	char	   *detail = NULL;
	char	   *run_state = NULL;
	StringInfoData tis;
	Datum		v[5];
	bool		isnull[5] = {false, false, false, false, false};

	action_begin(&g, &ctx, "airflow", PG_GETARG_TEXT_PP(0));
	airflow_detect(&g, NULL);
	base = psprintf("%s/api/%s/dags/%s/dagRuns/%s", g.endpoint, g.api, af_segment(dag), af_segment(run));
	req = af_action_request(&g, "GET dagRun", base, NULL);
	status = req->status;
	initStringInfo(&tis);
	if (req->status >= 300)
		detail = af_error_text(req);
	else
	{
		int64		offset = 0;
		int64		total = 0;
		int			pages = 0;
		bool		more;
		char	   *got;

		reply_read(&r, &g, req);
		got = reply_get_string(&r, r.root, NULL, "dag_id", true, AF_ID_MAX);
		if (strcmp(got, dag) != 0)
			reply_unusable(&r, "\"dag_id\" is not the DAG kant asked for");
		got = af_item_nullable(&r, r.root, NULL, "dag_run_id", AF_ID_MAX);
		if (got && strcmp(got, run) != 0)
			reply_unusable(&r, "\"dag_run_id\" is not the DAG run kant asked for");
		run_state = af_item_nullable(&r, r.root, NULL, "state", 100);
		appendStringInfoChar(&tis, '[');
		/* the DAG run alone: whether it exists (a trigger's 409) needs no listing */
		more = PG_GETARG_BOOL(3);
		while (more)
		{
			JsonbContainer *arr;
			int			n,
						i;

			CHECK_FOR_INTERRUPTS();
			req = af_action_request(&g, "GET taskInstances",
									psprintf("%s/taskInstances?limit=%d&offset=" INT64_FORMAT, base,
											 AF_ACTION_PAGE, offset), NULL);
			if (req->status >= 300)
				ereport(ERROR,
						(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
						 errmsg("kant: Airflow GET taskInstances on %s failed with HTTP %ld: %s",
								req->host, req->status, af_error_text(req))));
			reply_read(&r, &g, req);
			arr = reply_get_array(&r, r.root, NULL, "task_instances", true, AF_ACTION_PAGE);
			total = reply_get_count(&r, "total_entries");
			n = JsonContainerSize(arr);
			for (i = 0; i < n; i++)
			{
				char	   *at;
				JsonbContainer *o = reply_item_object(&r, arr, "\"task_instances\"", i, &at);
				char	   *task = reply_get_string(&r, o, at, "task_id", true, AF_ID_MAX);
				char	   *state = af_item_nullable(&r, o, at, "state", 100);

				got = af_item_nullable(&r, o, at, "dag_run_id", AF_ID_MAX);
				if (got && strcmp(got, run) != 0)
					reply_unusable(&r, "%s is a task instance of another DAG run", at);
				if (tis.len > 1)
					appendStringInfoChar(&tis, ',');
				appendStringInfoString(&tis, "{\"task_id\": ");
				escape_json(&tis, task);
				appendStringInfo(&tis, ", \"map_index\": " INT64_FORMAT ", \"state\": ",
								 af_item_int(&r, o, at, "map_index", -1));
				if (state)
					escape_json(&tis, state);
				else
					appendStringInfoString(&tis, "null");
				appendStringInfo(&tis, ", \"try_number\": " INT64_FORMAT ", \"max_tries\": " INT64_FORMAT "}",
								 af_item_int(&r, o, at, "try_number", 0), af_item_int(&r, o, at, "max_tries", 0));
			}
			offset += n;
			if (n == 0 && offset < total)
				reply_unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no task instances",
							   total, offset);
			if (++pages > kant_collect_max_pages)
				reply_over_cap(&r, "kant.collect_max_pages", "the task instances of DAG run %s take more than %d pages",
							   run, kant_collect_max_pages);
			reply_release(req);
			more = offset < total;
		}
		appendStringInfoChar(&tis, ']');
	}
	error_context_stack = ctx.previous;
	MemoryContextSwitchTo(fcxt);
	v[0] = Int32GetDatum((int32) status);
	isnull[1] = detail == NULL;
	v[1] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	isnull[2] = run_state == NULL;
	v[2] = run_state ? CStringGetTextDatum(run_state) : (Datum) 0;
	isnull[3] = status >= 300 || !PG_GETARG_BOOL(3);
	v[3] = isnull[3] ? (Datum) 0 : DirectFunctionCall1(jsonb_in, CStringGetDatum(tis.data));
	v[4] = CStringGetTextDatum(g.api);
	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	SPI_finish();
	return (Datum) 0;
}

/*
 * kant._airflow_clear(system, dag_id, dag_run_id, task_ids, include_downstream,
 * dry_run): POST dags/{dag_id}/clearTaskInstances with the body
 * kant._airflow_clear_body builds for the API version the server speaks
 * (detected as the collector does): only_failed, the DAG run, the tasks
 * (all failed ones of the run when task_ids is NULL or empty), their
 * downstream if asked, reset_dag_runs and dry_run explicit (the servers'
 * defaults would leave the run failed, or change nothing), and on v2
 * prevent_running_task.  Returns the status; for 2xx the reply checked
 * against the spec's shape (v1 TaskInstanceReferenceCollection, v2
 * TaskInstanceCollectionResponse, every item of the DAG run) and given as
 * {"task_instances": [{"task_id", "map_index" (v2)}...], "total_entries"};
 * else the error's text (404 no such DAG or run; 409 a task instance it
 * would clear is running, v2).  A transport failure or a 2xx reply of
 * another shape is an error.  With dry_run Airflow only answers what it
 * would clear.
 */
PG_FUNCTION_INFO_V1(kant_airflow_clear);
Datum
kant_airflow_clear(PG_FUNCTION_ARGS)
{
	Collector	g;
	ErrorContextCallback ctx;
	MemoryContext fcxt = CurrentMemoryContext;
	char	   *dag;
	char	   *run;
	char	   *body;
	char	   *answer;
	KantHttpRequest *req;
	Oid			argt[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, BOOLOID, BOOLOID};
	Datum		argv[5];
	char		argn[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		b;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kant._airflow_clear needs a system, a DAG, a DAG run, include_downstream and dry_run"),
				 errhint("Only task_ids may be NULL: every failed task instance of the run.")));
	dag = text_to_cstring(PG_GETARG_TEXT_PP(1));
	run = text_to_cstring(PG_GETARG_TEXT_PP(2));
	action_begin(&g, &ctx, "airflow", PG_GETARG_TEXT_PP(0));
	airflow_detect(&g, NULL);
	argv[0] = CStringGetTextDatum(g.api);
	argv[1] = PointerGetDatum(PG_GETARG_TEXT_PP(2));
	argv[2] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	argn[2] = PG_ARGISNULL(3) ? 'n' : ' ';
	argv[3] = PG_GETARG_DATUM(4);
	argv[4] = PG_GETARG_DATUM(5);
	if (SPI_execute_with_args("SELECT kant._airflow_clear_body($1, $2, $3, $4, $5)::text",
							  5, argt, argv, argn, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "kant: building the clearTaskInstances body failed");
	b = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	body = TextDatumGetCString(b);
	req = af_action_request(&g, "POST clearTaskInstances",
							psprintf("%s/api/%s/dags/%s/clearTaskInstances", g.endpoint, g.api, af_segment(dag)),
							body);
	if (req->status < 300)
	{
		Reply		r;
		JsonbContainer *arr;
		StringInfoData out;
		bool		v2 = strcmp(g.api, "v2") == 0;
		int			n,
					i;

		reply_read(&r, &g, req);
		arr = reply_get_array(&r, r.root, NULL, "task_instances", true, kant_collect_max_items);
		n = JsonContainerSize(arr);
		if (v2 && reply_get_count(&r, "total_entries") != n)
			reply_unusable(&r, "\"total_entries\" is not the number of task instances");
		initStringInfo(&out);
		appendStringInfoString(&out, "{\"task_instances\": [");
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *o = reply_item_object(&r, arr, "\"task_instances\"", i, &at);
			char	   *task = reply_get_string(&r, o, at, "task_id", true, AF_ID_MAX);
			char	   *got = reply_get_string(&r, o, at, "dag_id", v2, AF_ID_MAX);

			if (got && strcmp(got, dag) != 0)
				reply_unusable(&r, "%s is a task instance of another DAG", at);
			got = reply_get_string(&r, o, at, "dag_run_id", v2, AF_ID_MAX);
			if (got && strcmp(got, run) != 0)
				reply_unusable(&r, "%s is a task instance of another DAG run", at);
			if (i > 0)
				appendStringInfoString(&out, ", ");
			appendStringInfoString(&out, "{\"task_id\": ");
			escape_json(&out, task);
			if (v2)
				appendStringInfo(&out, ", \"map_index\": " INT64_FORMAT,
								 af_item_int(&r, o, at, "map_index", -1));
			appendStringInfoChar(&out, '}');
		}
		appendStringInfo(&out, "], \"total_entries\": %d}", n);
		answer = out.data;
	}
	else
		answer = af_error_text(req);
	return action_end_whole(fcinfo, &ctx, fcxt, req, answer, g.api);
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
	g.not_idempotent = strcmp(op, "StartJobRun") == 0;
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
	/* a reply kant reads (GetJobRuns: a page of runs) whole; an error's text capped */
	if (req->status < 400)
		return action_end_whole(fcinfo, &ctx, fcxt, req, answer, etype);
	return action_end(fcinfo, &ctx, fcxt, req, answer, etype);
}
