/*
 * collect.c
 *	  kant.collect_glue(system) and kant.collect_airflow(system): poll AWS Glue
 *	  and Airflow from inside Postgres.
 *
 * Glue: GetJobs (paged) finds the jobs; GetJobRuns (pages of 200, newest
 * first) is read for every job at once, bounded by the system's max_parallel,
 * back to the job's watermark in kant.collect_state minus an overlap, each
 * page ingested as it arrives; GetTriggers gives the jobs' schedules.
 * Requests are signed with SigV4 by libcurl.  Airflow: see further down.
 *
 * A collection runs in steps, each a subtransaction committed into the call
 * when it succeeds: a failure (an endpoint down, a page that times out,
 * access denied) rolls back only its own step, keeps what earlier steps read,
 * and is recorded in kant.collection and raised as a WARNING.  Watermarks
 * move only when a job was read back to the old one.  Cancel and
 * statement_timeout propagate.
 */
#include "kant.h"
#include "http.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

typedef struct Collector
{
	const char *kind;			/* glue or airflow */
	char	   *system;
	/* as stored; checked by resolve_access() inside the recorded work */
	char	   *region;
	char	   *principal;
	char	   *secret;
	char	   *token;
	char		source;			/* 'l' stored, 'e' environment, 'f' secret file */
	int32		system_id;
	char	   *endpoint;
	char	   *sigv4;
	char	   *userpwd;
	char	   *token_header;	/* NULL without a session token: never an empty one */
	/* airflow */
	const char *api;			/* "v1" (Airflow 2) or "v2" (Airflow 3) */
	char	   *auth_header;	/* Authorization: Bearer ..., or NULL for basic auth */
	bool		has_cursor;
	char	   *since;			/* updated_at_gte, ISO 8601 UTC */
	int			page_len;
	int			overlap_s;
	KantHttpOptions opt;
	const char *op;				/* for the error context */
	/* counts */
	int			requests;
	int			retries;
	int			pages;
	int			jobs;
	int			runs_seen;
	int			runs_new;
	int			runs_changed;
	int			schedules;
	/* how it ended */
	char	   *error;
	char	   *sqlstate;
} Collector;

typedef struct JobPager
{
	char	   *name;
	bool		has_stop;
	double		stop_before;	/* epoch seconds: older pages are known */
	char	   *next_token;
	bool		any;			/* runs seen in this collection */
	double		newest;			/* the newest StartedOn seen */
} JobPager;

/* The runs phase, carried across its rounds (each round is its own step). */
typedef struct RunsPhase
{
	List	   *names;
	JobPager   *jobs;
	int		   *todo;
	int			ntodo;
} RunsPhase;

static void
glue_context(void *arg)
{
	Collector	   *g = arg;

	errcontext("collecting %s system \"%s\"%s%s", g->kind, g->system,
			   g->op ? ", " : "", g->op ? g->op : "");
}

/* A credential's value: stored, or from the environment or a secret file (secrets.c). */
static char *
secret_or_error(Collector *g, const char *stored, const char *what)
{
	return kant_secret_value(stored, g->source, what, g->system);
}

static char *
spi_text(HeapTuple t, TupleDesc d, int col)
{
	char	   *v = SPI_getvalue(t, d, col);

	return v ? pstrdup(v) : NULL;
}

static void
load_system(Collector *g, const char *want_kind)
{
	Oid			argt[1] = {TEXTOID};
	Datum		argv[1] = {CStringGetTextDatum(g->system)};
	HeapTuple	t;
	TupleDesc	d;
	char	   *kind,
			   *region,
			   *principal,
			   *secret,
			   *token;
	char		source;
	bool		isnull;

	if (SPI_execute_with_args(
							  "SELECT s.system_id, s.kind, s.endpoint, s.region, s.max_parallel,"
							  " s.collect_overlap_seconds, c.from_env, c.principal, c.secret, c.session_token,"
							  " s.connect_timeout_ms, s.timeout_ms, c.from_file"
							  " FROM kant.system s LEFT JOIN kant.credential c USING (system_id)"
							  " WHERE s.name = $1", 1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the system failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("system \"%s\" does not exist", g->system),
				 errhint("Register it with kant.add_system('%s', 'glue', ...).", g->system)));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->system_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	kind = spi_text(t, d, 2);
	g->endpoint = spi_text(t, d, 3);
	region = spi_text(t, d, 4);
	kant_http_default_options(&g->opt);
	{
		Datum		mp = SPI_getbinval(t, d, 5, &isnull);

		if (!isnull)
			g->opt.max_parallel = DatumGetInt32(mp);
		/* the system's own timeouts, else the settings' */
		mp = SPI_getbinval(t, d, 11, &isnull);
		if (!isnull)
			g->opt.connect_timeout_ms = DatumGetInt32(mp);
		mp = SPI_getbinval(t, d, 12, &isnull);
		if (!isnull)
			g->opt.timeout_ms = DatumGetInt32(mp);
	}
	g->overlap_s = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
	source = DatumGetBool(SPI_getbinval(t, d, 7, &isnull)) ? 'e' :
		DatumGetBool(SPI_getbinval(t, d, 13, &isnull)) ? 'f' : 'l';
	principal = spi_text(t, d, 8);
	secret = spi_text(t, d, 9);
	token = spi_text(t, d, 10);

	if (strcmp(kind, want_kind) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("system \"%s\" is of kind %s, not %s", g->system, kind, want_kind),
				 errhint("Collect it with kant.collect_%s().", kind)));
	g->region = region;
	g->principal = principal;
	g->secret = secret;
	g->token = token;
	g->source = source;
}

/* Region and credentials: a problem here is a failed collection, recorded. */
static void
resolve_access(Collector *g)
{
	char	   *principal = g->principal,
			   *secret = g->secret,
			   *token = g->token;

	if (g->region == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("glue system \"%s\" has no region", g->system),
				 errhint("kant.set_endpoint('%s', region => 'ap-northeast-1')", g->system)));
	if (principal == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("glue system \"%s\" has no credentials", g->system),
				 errhint("kant.set_credentials('%s', access_key_id, secret_access_key[, session_token]), or with from_env => true the names of environment variables.",
						 g->system)));
	principal = secret_or_error(g, principal, "access key id");
	secret = secret_or_error(g, secret, "secret access key");
	if (token)
		token = secret_or_error(g, token, "session token");
	if (g->endpoint == NULL)
		g->endpoint = psprintf("https://glue.%s.amazonaws.com/", g->region);
	g->sigv4 = psprintf("aws:amz:%s:glue", g->region);
	g->userpwd = psprintf("%s:%s", principal, secret);
	g->token_header = token && *token ? psprintf("X-Amz-Security-Token: %s", token) : NULL;
}

/* Glue answers throttling with HTTP 400 and an exception type: retry those. */
static bool
glue_retry(KantHttpRequest *req, void *arg)
{
	if (kant_http_default_retry(req))
		return true;
	return req->status == 400 && req->response &&
		(strstr(req->response, "ThrottlingException") != NULL ||
		 strstr(req->response, "TooManyRequestsException") != NULL ||
		 strstr(req->response, "ConcurrentModificationException") != NULL);
}

static Jsonb *
parse_reply(KantHttpRequest *req)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->response)));
}

/* The value of a key of a JSON object, or NULL. */
static JsonbValue *
json_key(Jsonb *j, const char *key)
{
	JsonbValue	k;

	if (j == NULL || !JB_ROOT_IS_OBJECT(j))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
}

static char *
json_str(Jsonb *j, const char *key)
{
	JsonbValue *v = json_key(j, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A Glue error: {"__type": "[namespace#]Type", "message": "..."} */
static void
glue_raise(Collector *g, KantHttpRequest *req)
{
	char	   *volatile type = NULL;
	char	   *volatile message = NULL;
	int			code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;

	MemoryContext cxt = CurrentMemoryContext;

	if (req->curl_code != 0 || req->too_large || req->response_len == 0)
		kant_http_raise(req, g->op);
	PG_TRY();
	{
		Jsonb	   *j = parse_reply(req);

		type = json_str(j, "__type");
		message = json_str(j, "message");
		if (message == NULL)
			message = json_str(j, "Message");
	}
	PG_CATCH();
	{
		/* not JSON: report it as an HTTP error with the body */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	if (type == NULL)
		kant_http_raise(req, g->op);
	{
		char	   *hash = strchr(type, '#');

		if (hash)
			type = hash + 1;
	}
	code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	if (strcmp(type, "AccessDeniedException") == 0 ||
		strcmp(type, "UnrecognizedClientException") == 0 ||
		strcmp(type, "InvalidSignatureException") == 0 ||
		strcmp(type, "ExpiredTokenException") == 0)
		code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	ereport(ERROR,
			(errcode(code),
			 errmsg("kant: Glue %s on %s failed with HTTP %ld: %s", g->op, req->host, req->status, type),
			 message ? errdetail("%s", message) : 0,
			 code == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ?
			 errhint("Check the system's credentials (kant.set_credentials) and that they may call glue:GetJobs, glue:GetJobRuns and glue:GetTriggers.") : 0));
}

/* Run one batch of requests of one operation; every reply is a 200 or an error. */
static bool
not_found(KantHttpRequest *req)
{
	return req->status == 400 && req->response &&
		strstr(req->response, "EntityNotFoundException") != NULL;
}

/* Signed POST requests of one operation, not yet sent. */
/* A request reached its outcome: count its attempts in the collection's record. */
static void
count_attempts(Collector *g, KantHttpRequest *req)
{
	g->requests += req->attempts;
	g->retries += req->attempts - 1;
}

/* A page is ingested: its reply need not wait for the end of the round. */
static void
release_reply(KantHttpRequest *req)
{
	pfree(req->response);
	req->response = NULL;
	req->response_len = 0;
}

static void
glue_requests(Collector *g, const char *op, char **bodies, int n, KantHttpRequest **reqs)
{
	List	   *headers = list_make2(psprintf("Content-Type: application/x-amz-json-1.1"),
									 psprintf("X-Amz-Target: AWSGlue.%s", op));
	int			i;

	if (g->token_header)
		headers = lappend(headers, g->token_header);
	g->op = op;
	for (i = 0; i < n; i++)
	{
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "POST";
		reqs[i]->url = g->endpoint;
		reqs[i]->body = bodies[i];
		reqs[i]->body_len = strlen(bodies[i]);
		reqs[i]->headers = headers;
		reqs[i]->aws_sigv4 = g->sigv4;
		reqs[i]->userpwd = g->userpwd;
	}
}

static void
glue_batch(Collector *g, const char *op, char **bodies, int n, KantHttpRequest **reqs)
{
	int			i;

	glue_requests(g, op, bodies, n, reqs);
	kant_http_perform(reqs, n, &g->opt, glue_retry, g);
	for (i = 0; i < n; i++)
	{
		count_attempts(g, reqs[i]);
		/* a job deleted since GetJobs has no runs to read: not an error */
		if (kant_http_failed(reqs[i]) && !(strcmp(op, "GetJobRuns") == 0 && not_found(reqs[i])))
			glue_raise(g, reqs[i]);
	}
}

static char *
json_body(const char *key, const char *value, const char *token, int max_results)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "{\"MaxResults\": %d", max_results);
	if (key)
	{
		appendStringInfo(&b, ", \"%s\": ", key);
		escape_json(&b, value);
	}
	if (token)
	{
		appendStringInfoString(&b, ", \"NextToken\": ");
		escape_json(&b, token);
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* The objects of the array under key, e.g. Jobs or Triggers. */
static List *
json_array_objects(Jsonb *j, const char *key)
{
	JsonbValue *v = json_key(j, key);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	List	   *out = NIL;

	if (v == NULL || v->type != jbvBinary)
		return NIL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM && e.type == jbvBinary)
			out = lappend(out, JsonbValueToJsonb(&e));
	return out;
}

static double
json_num(Jsonb *j, const char *key, bool *found)
{
	JsonbValue *v = json_key(j, key);

	*found = v != NULL && v->type == jbvNumeric;
	return *found ? DatumGetFloat8(DirectFunctionCall1(numeric_float8,
													   NumericGetDatum(v->val.numeric))) : 0;
}

/* A text[] of C strings. */
static Datum
text_array(List *strings)
{
	int			n = list_length(strings);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	ListCell   *lc;

	foreach(lc, strings)
		d[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static void
discover_jobs(Collector *g, List **names)
{
	char	   *token = NULL;
	Oid			argt[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	List	   *retries = NIL;

	do
	{
		char	   *body = json_body(NULL, NULL, token, 1000);
		KantHttpRequest *req;
		Jsonb	   *j;
		ListCell   *lc;

		glue_batch(g, "GetJobs", &body, 1, &req);
		j = parse_reply(req);
		foreach(lc, json_array_objects(j, "Jobs"))
		{
			char	   *name = json_str(lfirst(lc), "Name");
			bool		found;
			double		mr = json_num(lfirst(lc), "MaxRetries", &found);

			if (name == NULL)
				continue;
			*names = lappend(*names, name);
			/* as text, so that an absent one is NULL */
			retries = lappend(retries, found && mr >= 0 && mr <= 100 ? psprintf("%d", (int) mr) : NULL);
		}
		token = json_str(j, "NextToken");
	} while (token != NULL);
	g->jobs = list_length(*names);
	if (*names != NIL)
	{
		Datum		argv[3] = {Int32GetDatum(g->system_id), text_array(*names), (Datum) 0};
		int			n = list_length(retries);
		Datum	   *d = palloc(sizeof(Datum) * n);
		bool	   *isnull = palloc(sizeof(bool) * n);
		int			dims[1] = {n};
		int			lbs[1] = {1};
		ListCell   *lc;

		foreach(lc, retries)
		{
			int			i = foreach_current_index(lc);

			isnull[i] = lfirst(lc) == NULL;
			d[i] = isnull[i] ? (Datum) 0 : CStringGetTextDatum(lfirst(lc));
		}
		argv[2] = PointerGetDatum(construct_md_array(d, isnull, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		/* register the jobs, then keep each one's MaxRetries (the checks wait for a retry) */
		if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE kant._collector_job($1, u.name))"
								  " FROM unnest($2) AS u(name)", 2, argt, argv,
								  NULL, false, 0) != SPI_OK_SELECT ||
			SPI_execute_with_args("UPDATE kant.job j SET max_retries = u.mr::integer"
								  " FROM unnest($2, $3) AS u(name, mr)"
								  " WHERE j.system_id = $1 AND j.name = u.name"
								  " AND j.max_retries IS DISTINCT FROM u.mr::integer",
								  3, argt, argv, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "kant: registering the jobs failed");
	}
}

/*
 * Where each job's reading may stop: back to what an earlier collection read
 * completely (kant.collect_state), minus the overlap.  Not the newest run
 * kant holds: a collection cut short may have stored a job's newest page and
 * not the older ones.  One query for all the jobs.
 */
static void
job_watermarks(Collector *g, RunsPhase *ph, int n)
{
	Oid			argt[2] = {INT4OID, TEXTARRAYOID};
	Datum		argv[2] = {Int32GetDatum(g->system_id), text_array(ph->names)};
	uint64		k;

	if (n == 0)
		return;
	if (SPI_execute_with_args("SELECT u.ord::integer, extract(epoch FROM c.read_until)::float8"
							  " FROM unnest($2) WITH ORDINALITY AS u(name, ord)"
							  " JOIN kant.job j ON j.system_id = $1 AND j.name = u.name"
							  " JOIN kant.collect_state c ON c.job_id = j.job_id"
							  " WHERE c.read_until IS NOT NULL",
							  2, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the watermarks failed");
	for (k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));
		JobPager   *p = &ph->jobs[ord - 1];

		p->has_stop = true;
		p->stop_before = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, &isnull))
			- g->overlap_s;
	}
}

/* A job read back to its watermark (or to its first run): move the watermark. */
static void
job_read(Collector *g, JobPager *p)
{
	Oid			argt[3] = {INT4OID, TEXTOID, FLOAT8OID};
	Datum		argv[3] = {Int32GetDatum(g->system_id), CStringGetTextDatum(p->name),
	Float8GetDatum(p->newest)};

	if (!p->any)
		return;
	if (SPI_execute_with_args("INSERT INTO kant.collect_state AS c (job_id, read_until)"
							  " SELECT j.job_id, to_timestamp($3) FROM kant.job j"
							  " WHERE j.system_id = $1 AND j.name = $2"
							  " ON CONFLICT (job_id) DO UPDATE SET read_until ="
							  " greatest(c.read_until, excluded.read_until), updated_at = now()",
							  3, argt, argv, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "kant: moving a watermark failed");
}

/*
 * A page goes through the system's ingestion function, like any payload: as
 * the jsonb the collector parsed already (the reply is parsed once).
 */
static void
ingest_page(Collector *g, Jsonb *page)
{
	Oid			argt[2] = {TEXTOID, JSONBOID};
	Datum		argv[2] = {CStringGetTextDatum(g->system), JsonbPGetDatum(page)};
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;
	const char *sql = strcmp(g->kind, "glue") == 0 ?
		"SELECT received, inserted, updated FROM kant.ingest_glue_job_runs($1, $2)" :
		"SELECT received, inserted, updated FROM kant.ingest_airflow_task_instances($1, $2)";

	if (SPI_execute_with_args(sql, 2, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: ingesting a page failed");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->runs_seen += DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	g->runs_new += DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
	g->runs_changed += DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	g->pages++;
}

static void
runs_begin(Collector *g, RunsPhase *ph)
{
	int			n = list_length(ph->names);
	ListCell   *lc;

	ph->jobs = palloc0(sizeof(JobPager) * Max(n, 1));
	ph->todo = palloc(sizeof(int) * Max(n, 1));
	ph->ntodo = 0;
	foreach(lc, ph->names)
	{
		int			i = foreach_current_index(lc);

		ph->jobs[i].name = lfirst(lc);
		ph->todo[ph->ntodo++] = i;
	}
	job_watermarks(g, ph, n);
}

typedef struct Round
{
	Collector	   *g;
	RunsPhase  *ph;
	int		   *next;			/* jobs with another page to read */
	int			nnext;
	MemoryContext keep;
} Round;

/* A page arrived: ingest it now, while the other requests are in flight. */
static void
page_done(KantHttpRequest *req, void *arg)
{
	Round	   *rd = arg;
	Collector	   *g = rd->g;
	int			job = (int) (intptr_t) req->user;
	JobPager   *p = &rd->ph->jobs[job];
	Jsonb	   *j;
	double		oldest = 0;
	bool		any = false;
	ListCell   *lc;

	count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (not_found(req))
			return;				/* deleted since GetJobs: nothing to read */
		glue_raise(g, req);
	}
	j = parse_reply(req);
	ingest_page(g, j);
	foreach(lc, json_array_objects(j, "JobRuns"))
	{
		bool		found;
		double		s = json_num(lfirst(lc), "StartedOn", &found);

		if (!found)
			continue;
		if (!any || s < oldest)
			oldest = s;
		if (!p->any || s > p->newest)
			p->newest = s;
		any = p->any = true;
	}
	{
		char	   *token = json_str(j, "NextToken");

		p->next_token = token ? MemoryContextStrdup(rd->keep, token) : NULL;
	}
	/* newest first: once a page reaches back past the watermark, stop */
	if (p->next_token && !(p->has_stop && any && oldest < p->stop_before))
		rd->next[rd->nnext++] = job;
	else
		job_read(g, p);
	release_reply(req);
}

/* One round: the next page of every job still being read, all at once. */
static void
runs_round(Collector *g, void *arg)
{
	RunsPhase  *ph = arg;
	MemoryContext keep = CurrentMemoryContext;
	/* the pages of a round (replies, parsed JSON) go when the round ends */
	MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	char	  **bodies = palloc(sizeof(char *) * ph->ntodo);
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * ph->ntodo);
	KantHttpOptions opt = g->opt;
	Round		rd;
	int			i;

	for (i = 0; i < ph->ntodo; i++)
		bodies[i] = json_body("JobName", ph->jobs[ph->todo[i]].name,
							  ph->jobs[ph->todo[i]].next_token, 200);
	glue_requests(g, "GetJobRuns", bodies, ph->ntodo, reqs);
	for (i = 0; i < ph->ntodo; i++)
		reqs[i]->user = (void *) (intptr_t) ph->todo[i];
	rd.g = g;
	rd.ph = ph;
	rd.next = MemoryContextAlloc(keep, sizeof(int) * Max(ph->ntodo, 1));
	rd.nnext = 0;
	rd.keep = keep;
	opt.on_done = page_done;
	opt.on_done_arg = &rd;
	kant_http_perform(reqs, ph->ntodo, &opt, glue_retry, g);
	memcpy(ph->todo, rd.next, sizeof(int) * rd.nnext);
	ph->ntodo = rd.nnext;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/*
 * The schedules a collector found, set in one statement (registering the jobs
 * they name first): a few statements however many jobs there are.
 */
static void
set_schedules(Collector *g, List *jobs, List *crons, List *zones, const char *source)
{
	Oid			argt[5] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID};
	Datum		argv[5];
	bool		isnull;

	if (jobs == NIL)
		return;
	argv[0] = CStringGetTextDatum(g->system);
	argv[1] = text_array(jobs);
	argv[2] = text_array(crons);
	argv[3] = text_array(zones);
	argv[4] = CStringGetTextDatum(source);
	if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE kant._collector_job(s.system_id, u.job))"
							  " FROM kant.system s, unnest($2) AS u(job) WHERE s.name = $1",
							  2, argt, argv, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_execute_with_args("SELECT kant._collector_schedules($1, $2, $3, $4, $5)",
							  5, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: setting schedules failed");
	g->schedules += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
read_triggers(Collector *g)
{
	char	   *token = NULL;
	List	   *jobs = NIL,
			   *crons = NIL,
			   *zones = NIL;

	do
	{
		char	   *body = json_body(NULL, NULL, token, 200);
		KantHttpRequest *req;
		Jsonb	   *j;
		ListCell   *lc;

		glue_batch(g, "GetTriggers", &body, 1, &req);
		j = parse_reply(req);
		foreach(lc, json_array_objects(j, "Triggers"))
		{
			Jsonb	   *t = lfirst(lc);
			char	   *type = json_str(t, "Type");
			char	   *state = json_str(t, "State");
			char	   *schedule = json_str(t, "Schedule");
			ListCell   *ac;

			if (type == NULL || strcmp(type, "SCHEDULED") != 0 || schedule == NULL ||
				(state && (strcmp(state, "DEACTIVATED") == 0 || strcmp(state, "DELETING") == 0)))
				continue;
			foreach(ac, json_array_objects(t, "Actions"))
			{
				char	   *job = json_str(lfirst(ac), "JobName");

				if (job == NULL)
					continue;
				jobs = lappend(jobs, job);
				crons = lappend(crons, schedule);
				zones = lappend(zones, "UTC");	/* Glue triggers run in UTC */
			}
		}
		token = json_str(j, "NextToken");
	} while (token != NULL);
	set_schedules(g, jobs, crons, zones, "glue_trigger");
}

/* ---------------------------------------------------------------- steps */

typedef void (*StepFn) (Collector *g, void *arg);

/*
 * Run one step in a subtransaction.  On error: roll it back, keep the error
 * in g, return false.  Cancel, statement_timeout and termination propagate.
 */
static bool
run_step(Collector *g, StepFn fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
		fn(g, arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		/* the user asked to stop: do not swallow that */
		if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED || ed->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		g->error = ed->detail ? psprintf("%s: %s", ed->message, ed->detail) : pstrdup(ed->message);
		g->sqlstate = pstrdup(unpack_sql_state(ed->sqlerrcode));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return g->error == NULL;
}

static void
step_jobs(Collector *g, void *arg)
{
	resolve_access(g);
	discover_jobs(g, (List **) arg);
}

static void
step_runs_begin(Collector *g, void *arg)
{
	runs_begin(g, (RunsPhase *) arg);
}

static void
step_triggers(Collector *g, void *arg)
{
	read_triggers(g);
	g->op = NULL;
}

/* ------------------------------------------------------------ the call */

typedef struct Call
{
	ErrorContextCallback ctx;
	MemoryContext fcxt;
	int64		collection_id;
} Call;

static void
collect_begin(Collector *g, Call *c, const char *kind, text *system)
{
	bool		isnull;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1];

	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->system = text_to_cstring(system);
	c->fcxt = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	c->ctx.callback = glue_context;
	c->ctx.arg = g;
	c->ctx.previous = error_context_stack;
	error_context_stack = &c->ctx;

	load_system(g, kind);
	argv[0] = Int32GetDatum(g->system_id);
	/* one collection of a system at a time: a second one waits its turn */
	if (SPI_execute_with_args("SELECT pg_advisory_xact_lock(1801547382, $1)",
							  1, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: locking the system failed");
	if (SPI_execute_with_args("INSERT INTO kant.collection (system_id, started_at)"
							  " VALUES ($1, clock_timestamp()) RETURNING collection_id",
							  1, argt, argv, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "kant: recording the collection failed");
	c->collection_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
}

static Datum
collect_end(Collector *g, Call *c)
{
	char	   *error = g->error;
	char	   *sqlstate = g->sqlstate;
	Datum		result;

	error_context_stack = c->ctx.previous;
	{
		Oid			argt[11] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID,
		INT4OID, INT4OID, INT4OID, TEXTOID, TEXTOID};
		Datum		argv[11] = {Int64GetDatum(c->collection_id), Int32GetDatum(g->requests),
			Int32GetDatum(g->retries), Int32GetDatum(g->pages), Int32GetDatum(g->jobs),
			Int32GetDatum(g->runs_seen), Int32GetDatum(g->runs_new), Int32GetDatum(g->runs_changed),
			Int32GetDatum(g->schedules),
			sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0,
		error ? CStringGetTextDatum(error) : (Datum) 0};
		char		nulls[11];

		memset(nulls, ' ', sizeof(nulls));
		nulls[9] = sqlstate ? ' ' : 'n';
		nulls[10] = error ? ' ' : 'n';
		if (SPI_execute_with_args("UPDATE kant.collection SET ended_at = clock_timestamp(),"
								  " requests = $2, retries = $3, pages = $4, jobs = $5, runs_seen = $6,"
								  " runs_new = $7, runs_changed = $8, schedules = $9, sqlstate = $10, error = $11"
								  " WHERE collection_id = $1 RETURNING *",
								  11, argt, argv, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "kant: recording the collection failed");
		result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	}
	/* SPI_finish frees what the steps allocated: keep the message */
	if (error)
	{
		error = MemoryContextStrdup(c->fcxt, error);
		sqlstate = MemoryContextStrdup(c->fcxt, sqlstate);
	}
	SPI_finish();
	if (error)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("kant: collection %lld of %s system \"%s\" failed [%s]: %s",
						(long long) c->collection_id, g->kind, g->system, sqlstate, error),
				 errhint("What was read before the failure is kept; the next collection reads the rest. See SELECT * FROM kant.collector_health;")));
	return result;
}

PG_FUNCTION_INFO_V1(kant_collect_glue);
Datum
kant_collect_glue(PG_FUNCTION_ARGS)
{
	Collector		g;
	Call		c;
	RunsPhase	ph;

	collect_begin(&g, &c, "glue", PG_GETARG_TEXT_PP(0));

	/*
	 * Each step commits into the function's transaction when it succeeds, so
	 * what was read before a failure stays; a step that fails is rolled back
	 * whole and ends the collection.
	 */
	memset(&ph, 0, sizeof(ph));
	if (run_step(&g, step_jobs, &ph.names))
	{
		if (run_step(&g, step_runs_begin, &ph))
			while (ph.ntodo > 0 && run_step(&g, runs_round, &ph))
				;
		g.op = NULL;
		if (g.error == NULL)
			run_step(&g, step_triggers, NULL);
	}
	PG_RETURN_DATUM(collect_end(&g, &c));
}

/* ------------------------------------------------------------ airflow */

/*
 * kant.collect_airflow(system): the DAG runs that changed since the last
 * collection (minus the overlap) and their task instances, through the stable
 * REST API -- v2 (Airflow 3) when the server has it, else v1 (Airflow 2,
 * Composer 2) -- every listing paged until total_entries whatever page size
 * the server clamps to; the DAG runs' task instances are read at once
 * (bounded by max_parallel) and each page ingested as it arrives; then the
 * DAGs' cron schedules.  Basic auth with a user and password, or a bearer
 * token.
 */

static Jsonb *
json_obj(Jsonb *j, const char *key)
{
	JsonbValue *v = json_key(j, key);

	if (v == NULL || v->type != jbvBinary)
		return NULL;
	return JsonbValueToJsonb(v);
}

static void
resolve_airflow(Collector *g)
{
	char	   *principal = g->principal,
			   *secret = g->secret;
	size_t		len;

	if (g->endpoint == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("airflow system \"%s\" has no endpoint", g->system),
				 errhint("kant.set_endpoint('%s', 'https://<your Airflow web server>')", g->system)));
	if (secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("airflow system \"%s\" has no credentials", g->system),
				 errhint("kant.set_credentials('%s', user, password) for basic auth, or kant.set_credentials('%s', NULL, token) for a bearer token.",
						 g->system, g->system)));
	if (principal)
		principal = secret_or_error(g, principal, "user");
	secret = secret_or_error(g, secret, principal ? "password" : "token");
	len = strlen(g->endpoint);
	while (len > 0 && g->endpoint[len - 1] == '/')
		g->endpoint[--len] = '\0';
	if (principal)
		g->userpwd = psprintf("%s:%s", principal, secret);
	else
		g->auth_header = psprintf("Authorization: Bearer %s", secret);
}

/* Airflow's errors are problem+json: {"title", "detail", "status"}. */
static void
af_raise(Collector *g, KantHttpRequest *req)
{
	char	   *volatile title = NULL;
	char	   *volatile detail = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	if (req->curl_code != 0 || req->too_large || req->response_len == 0)
		kant_http_raise(req, g->op);
	PG_TRY();
	{
		Jsonb	   *j = parse_reply(req);

		title = json_str(j, "title");
		detail = json_str(j, "detail");
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	if (title == NULL && detail == NULL)
		kant_http_raise(req, g->op);
	ereport(ERROR,
			(errcode(req->status == 401 || req->status == 403 ?
					 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("kant: Airflow %s on %s failed with HTTP %ld: %s", g->op, req->host, req->status,
					title ? title : detail),
			 title && detail ? errdetail("%s", detail) : 0));
}

static void
af_start(Collector *g, const char *op, char **urls, int n, KantHttpRequest **reqs)
{
	List	   *headers = list_make1(pstrdup("Accept: application/json"));
	int			i;

	if (g->auth_header)
		headers = lappend(headers, g->auth_header);
	g->op = op;
	for (i = 0; i < n; i++)
	{
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "GET";
		reqs[i]->url = urls[i];
		reqs[i]->headers = headers;
		reqs[i]->userpwd = g->userpwd;
		reqs[i]->basic_auth = true;
	}
}

static void
af_get(Collector *g, const char *op, char **urls, int n, KantHttpRequest **reqs, bool allow_404)
{
	int			i;

	af_start(g, op, urls, n, reqs);
	kant_http_perform(reqs, n, &g->opt, NULL, NULL);
	for (i = 0; i < n; i++)
	{
		count_attempts(g, reqs[i]);
		if (kant_http_failed(reqs[i]) && !(allow_404 && reqs[i]->status == 404))
			af_raise(g, reqs[i]);
	}
}

static int
json_int(Jsonb *j, const char *key)
{
	bool		found;
	double		v = json_num(j, key, &found);

	return found ? (int) v : -1;
}

/* Which API the server speaks, and from when to read. */
static void
step_af_detect(Collector *g, void *arg)
{
	char	   *url;
	KantHttpRequest *req;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};
	bool		isnull;
	Datum		v;

	resolve_airflow(g);
	url = psprintf("%s/api/v2/version", g->endpoint);
	af_get(g, "GET /api/v2/version", &url, 1, &req, true);
	if (req->status == 200)
		g->api = "v2";
	else
	{
		url = psprintf("%s/api/v1/version", g->endpoint);
		af_get(g, "GET /api/v1/version", &url, 1, &req, false);
		g->api = "v1";
	}
	if (SPI_execute_with_args("SELECT to_char((s.collected_until - make_interval(secs => s.collect_overlap_seconds))"
							  " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
							  " FROM kant.system s WHERE s.system_id = $1",
							  1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the cursor failed");
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	g->has_cursor = !isnull;
	g->since = isnull ? NULL : TextDatumGetCString(v);
}

/* A path segment, percent-encoded: run ids hold ':' and '+'. */
static char *
path_segment(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(&b, c);
		else
			appendStringInfo(&b, "%%%02X", c);
	}
	return b.data;
}

static int
cmp_str(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/* A page of task instances still to read: a DAG run's path and an offset. */
typedef struct AfPage
{
	char	   *run;			/* dags/<dag_id>/dagRuns/<dag_run_id>, encoded */
	int			offset;
} AfPage;

typedef struct AfRuns
{
	List	   *todo;			/* of AfPage *: the next round */
	int			dag_runs;
} AfRuns;

static char *
dag_runs_url(Collector *g, const char *filter, int offset)
{
	return psprintf("%s/api/%s/dags/~/dagRuns?limit=1000&offset=%d%s",
					g->endpoint, g->api, offset, filter);
}

/* The DAG runs of a listing's page, as task-instance paths. */
static List *
dag_run_paths(Jsonb *page, List *paths)
{
	ListCell   *lc;

	foreach(lc, json_array_objects(page, "dag_runs"))
	{
		char	   *dag = json_str(lfirst(lc), "dag_id");
		char	   *run = json_str(lfirst(lc), "dag_run_id");

		if (dag && run)
			paths = lappend(paths, psprintf("dags/%s/dagRuns/%s", path_segment(dag), path_segment(run)));
	}
	return paths;
}

/*
 * Which DAG runs to read.  The first time, all of them; after that, the ones
 * that ended since the cursor (minus the overlap) and the ones queued or
 * running now -- a DAG run whose task is cleared goes back to queued, so that
 * is seen too.  These filters exist since Airflow 2.0 (updated_at_gte only
 * since 2.6).  Each listing is paged to total_entries through the server's
 * clamp, the pages after the first at once.
 */
static void
step_af_runs(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	const char *filters[2];
	int			nf,
				f,
				i,
				nrest = 0;
	char	   *urls[2];
	KantHttpRequest *reqs[2];
	List	   *paths = NIL;
	List	   *rest = NIL;
	ListCell   *lc;

	if (g->since)
	{
		filters[0] = psprintf("&end_date_gte=%s", g->since);
		filters[1] = "&state=queued&state=running";
		nf = 2;
	}
	else
	{
		filters[0] = "";
		nf = 1;
	}
	for (f = 0; f < nf; f++)
		urls[f] = dag_runs_url(g, filters[f], 0);
	af_get(g, "GET dagRuns", urls, nf, reqs, false);
	for (f = 0; f < nf; f++)
	{
		Jsonb	   *j = parse_reply(reqs[f]);
		int			total = json_int(j, "total_entries");
		int			len = list_length(json_array_objects(j, "dag_runs"));
		int			off;

		paths = dag_run_paths(j, paths);
		if (len > 0)
			for (off = len; off < total; off += len)
				rest = lappend(rest, dag_runs_url(g, filters[f], off));
	}
	if (rest != NIL)
	{
		char	  **more = palloc(sizeof(char *) * list_length(rest));
		KantHttpRequest **mreqs = palloc(sizeof(KantHttpRequest *) * list_length(rest));

		foreach(lc, rest)
			more[nrest++] = lfirst(lc);
		af_get(g, "GET dagRuns", more, nrest, mreqs, false);
		for (i = 0; i < nrest; i++)
			paths = dag_run_paths(parse_reply(mreqs[i]), paths);
	}
	/* a run both ended since and running again (cleared) is read once */
	list_sort(paths, cmp_str);
	ar->todo = NIL;
	foreach(lc, paths)
	{
		AfPage	   *p;

		if (foreach_current_index(lc) > 0 &&
			strcmp(lfirst(lc), list_nth(paths, foreach_current_index(lc) - 1)) == 0)
			continue;
		p = palloc(sizeof(AfPage));
		p->run = lfirst(lc);
		p->offset = 0;
		ar->todo = lappend(ar->todo, p);
	}
	ar->dag_runs = list_length(ar->todo);
}

typedef struct AfRound
{
	Collector  *g;
	List	   *next;
	MemoryContext keep;
} AfRound;

/* A page of a DAG run's task instances arrived: ingest it now. */
static void
ti_page_done(KantHttpRequest *req, void *arg)
{
	AfRound    *rd = arg;
	Collector  *g = rd->g;
	AfPage	   *p = req->user;
	Jsonb	   *j;
	int			total,
				len;

	count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (req->status == 404)
			return;				/* the DAG run was deleted since it was listed */
		af_raise(g, req);
	}
	j = parse_reply(req);
	ingest_page(g, j);
	total = json_int(j, "total_entries");
	len = list_length(json_array_objects(j, "task_instances"));
	if (len > 0 && p->offset + len < total)
	{
		MemoryContext old = MemoryContextSwitchTo(rd->keep);
		AfPage	   *n = palloc(sizeof(AfPage));

		n->run = pstrdup(p->run);
		n->offset = p->offset + len;
		rd->next = lappend(rd->next, n);
		MemoryContextSwitchTo(old);
	}
	release_reply(req);
}

/*
 * One round: the next page of task instances of every DAG run still being
 * read, all at once (bounded by max_parallel), each ingested as it arrives.
 */
static void
step_af_tis(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			n = list_length(ar->todo);
	char	  **urls = palloc(sizeof(char *) * n);
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * n);
	KantHttpOptions opt = g->opt;
	AfRound		rd;
	ListCell   *lc;

	foreach(lc, ar->todo)
	{
		AfPage	   *p = lfirst(lc);

		urls[foreach_current_index(lc)] = psprintf("%s/api/%s/%s/taskInstances?limit=1000&offset=%d",
												   g->endpoint, g->api, p->run, p->offset);
	}
	rd.g = g;
	rd.next = NIL;
	rd.keep = keep;
	opt.on_done = ti_page_done;
	opt.on_done_arg = &rd;
	af_start(g, "GET taskInstances", urls, n, reqs);
	foreach(lc, ar->todo)
		reqs[foreach_current_index(lc)]->user = lfirst(lc);
	kant_http_perform(reqs, n, &opt, NULL, NULL);
	ar->todo = rd.next;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/* The DAGs' cron schedules become their tasks' schedules; then the cursor moves. */
static void
step_af_dags(Collector *g, void *arg)
{
	int			offset = 0,
				total;
	Oid			qt[2] = {INT4OID, TEXTARRAYOID};
	List	   *dag_ids = NIL,
			   *dag_crons = NIL,
			   *jobs = NIL,
			   *crons = NIL,
			   *zones = NIL;
	uint64		k;

	do
	{
		char	   *url = psprintf("%s/api/%s/dags?limit=1000&offset=%d", g->endpoint, g->api, offset);
		KantHttpRequest *req;
		Jsonb	   *j;
		List	   *dags;
		ListCell   *lc;

		af_get(g, "GET dags", &url, 1, &req, false);
		j = parse_reply(req);
		total = json_int(j, "total_entries");
		dags = json_array_objects(j, "dags");
		offset += list_length(dags);
		foreach(lc, dags)
		{
			Jsonb	   *d = lfirst(lc);
			char	   *dag_id = json_str(d, "dag_id");
			char	   *cron = NULL;
			Jsonb	   *si;

			if (dag_id == NULL)
				continue;
			g->jobs++;
			if (strcmp(g->api, "v2") == 0)
				cron = json_str(d, "timetable_summary");
			else if ((si = json_obj(d, "schedule_interval")) != NULL)
			{
				char	   *type = json_str(si, "__type");

				if (type && strcmp(type, "CronExpression") == 0)
					cron = json_str(si, "value");
			}
			if (cron == NULL)
				continue;
			dag_ids = lappend(dag_ids, dag_id);
			dag_crons = lappend(dag_crons, cron);
		}
		if (dags == NIL)
			break;
	} while (offset < total);
	if (dag_ids != NIL)
	{
		Datum		qv[2] = {Int32GetDatum(g->system_id), text_array(dag_ids)};

		/* the tasks kant knows of each DAG (it sees the ones just ingested) */
		if (SPI_execute_with_args("SELECT j.name, s.time_zone, u.ord::integer FROM unnest($2) WITH ORDINALITY AS u(dag_id, ord)"
								  " JOIN kant.job j ON j.system_id = $1 AND j.dag_id = u.dag_id"
								  " JOIN kant.system s ON s.system_id = j.system_id",
								  2, qt, qv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the DAGs' tasks failed");
		for (k = 0; k < SPI_processed; k++)
		{
			HeapTuple	t = SPI_tuptable->vals[k];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			int			ord = DatumGetInt32(SPI_getbinval(t, td, 3, &isnull));

			jobs = lappend(jobs, SPI_getvalue(t, td, 1));
			zones = lappend(zones, SPI_getvalue(t, td, 2));
			crons = lappend(crons, list_nth(dag_crons, ord - 1));
		}
		set_schedules(g, jobs, crons, zones, "airflow_dag");
	}
	g->op = NULL;
	{
		Oid			ut[1] = {INT4OID};
		Datum		uv[1] = {Int32GetDatum(g->system_id)};

		/* everything updated before this transaction began has been read */
		if (SPI_execute_with_args("UPDATE kant.system SET collected_until = now() WHERE system_id = $1",
								  1, ut, uv, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "kant: moving the cursor failed");
	}
}

PG_FUNCTION_INFO_V1(kant_collect_airflow);
Datum
kant_collect_airflow(PG_FUNCTION_ARGS)
{
	Collector		g;
	Call		c;

	AfRuns		ar;

	collect_begin(&g, &c, "airflow", PG_GETARG_TEXT_PP(0));
	memset(&ar, 0, sizeof(ar));
	if (run_step(&g, step_af_detect, NULL) &&
		run_step(&g, step_af_runs, &ar))
	{
		while (ar.todo != NIL && run_step(&g, step_af_tis, &ar))
			;
		if (g.error == NULL)
			run_step(&g, step_af_dags, NULL);
	}
	PG_RETURN_DATUM(collect_end(&g, &c));
}

/* ------------------------------------------------------------ actions */

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
	ctx->callback = glue_context;
	ctx->arg = g;
	ctx->previous = error_context_stack;
	error_context_stack = ctx;
	load_system(g, kind);
}

/* Its one result row: status, body (at most 4,000 bytes), and a third text or NULL. */
static Datum
action_end(FunctionCallInfo fcinfo, ErrorContextCallback *ctx, MemoryContext fcxt,
		   KantHttpRequest *req, const char *third)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		v[3];
	bool		isnull[3] = {false, false, third == NULL};

	error_context_stack = ctx->previous;
	/* the row outlives SPI */
	MemoryContextSwitchTo(fcxt);
	v[0] = Int32GetDatum((int32) req->status);
	v[1] = PointerGetDatum(cstring_to_text_with_len(req->response ? req->response : "",
												   req->response ? (int) Min(req->response_len, 4000) : 0));
	v[2] = third ? CStringGetTextDatum(third) : (Datum) 0;
	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	SPI_finish();
	return (Datum) 0;
}

/*
 * kant._airflow_post(system, path, body): POST a JSON body to the Airflow
 * REST API of a system (path after /api/<version>/, the version detected as
 * the collector does), with its credentials, the HTTP layer's timeouts and
 * retries (429, 5xx, transport).  Returns the final status, the body and the
 * API version; a transport failure is an error.  For triggering DAG runs
 * (kant.trigger_ready_gates).
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
	KantHttpRequest *req;

	action_begin(&g, &ctx, "airflow", PG_GETARG_TEXT_PP(0));
	step_af_detect(&g, NULL);
	url = psprintf("%s/api/%s/%s", g.endpoint, g.api, path);
	af_start(&g, psprintf("POST %s", path), &url, 1, &req);
	req->method = "POST";
	req->body = body;
	req->body_len = strlen(body);
	req->headers = lappend(req->headers, pstrdup("Content-Type: application/json"));
	kant_http_perform(&req, 1, &g.opt, NULL, NULL);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g.op);
	return action_end(fcinfo, &ctx, fcxt, req, g.api);
}

/*
 * kant._glue_call(system, operation, body): one signed Glue JSON 1.1 request
 * (for StartJobRun), with the HTTP layer's timeouts and Glue's retry policy
 * (throttling, 5xx).  Returns the final status, the body, and Glue's error
 * type without its namespace (e.g. ConcurrentRunsExceededException) when the
 * answer is an error; a transport failure is an error.
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
	char	   *volatile etype = NULL;

	action_begin(&g, &ctx, "glue", PG_GETARG_TEXT_PP(0));
	resolve_access(&g);
	glue_requests(&g, op, &body, 1, &req);
	kant_http_perform(&req, 1, &g.opt, glue_retry, &g);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, op);
	if (req->status >= 400 && req->response)
	{
		MemoryContext cxt = CurrentMemoryContext;

		/* Glue's error type, when the body says it (else NULL) */
		PG_TRY();
		{
			char	   *t = json_str(parse_reply(req), "__type");

			if (t)
				etype = strrchr(t, '#') ? strrchr(t, '#') + 1 : t;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
		}
		PG_END_TRY();
	}
	return action_end(fcinfo, &ctx, fcxt, req, etype);
}
