/*
 * collect_glue.c
 *	  kant.collect_glue(system): poll AWS Glue.
 *
 * GetJobs (paged) finds the jobs; GetJobRuns (pages of 200, newest
 * first) is read for every job at once, bounded by the system's max_parallel,
 * back to the job's watermark in kant.collect_state minus an overlap, each
 * page ingested as it arrives; GetTriggers gives the jobs' schedules.  With
 * kant.set_glue_data_quality on, the Data Quality results started since
 * the system's watermark in kant.glue_dq_source come last
 * (ListDataQualityResults, BatchGetDataQualityResult).  Requests are signed
 * with SigV4 by libcurl.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "collect_int.h"

/* a NextToken is sent back; Glue's are a few hundred bytes */
#define TOKEN_MAX			65536
/* pages kant asks for: the most each API allows (Glue's model: MaxResults) */
#define GLUE_JOBS_PAGE		1000
#define GLUE_RUNS_PAGE		200
#define GLUE_TRIGGERS_PAGE	200
#define GLUE_DQ_LIST_PAGE	1000
/* ResultIds of one BatchGetDataQualityResult: at most 100 (Glue's model) */
#define GLUE_DQ_BATCH		100
/* a StartedOn kant reads as a time at all (epoch seconds, before 2200) */
#define STARTED_ON_MAX		7258118400.0

typedef struct JobPager
{
	char	   *name;
	bool		has_stop;
	double		stop_before;	/* epoch seconds: older pages are known */
	char	   *next_token;
	int			pages;			/* read in this collection */
	bool		any;			/* runs accepted in this collection */
	double		newest;			/* the newest StartedOn of those */
} JobPager;

/* The Data Quality phase, carried across its steps. */
typedef struct DqPhase
{
	bool		enabled;
	bool		has_since;
	double		since;			/* StartedAfter, epoch seconds */
	char	  **ids;			/* the ResultIds listed, sorted, each once */
	int			nids;
	int			next;			/* the first of them not fetched yet */
	bool		any;			/* results ingested (not quarantined) */
	double		newest;			/* the newest StartedOn of those */
} DqPhase;

/* The runs phase, carried across its rounds (each round is its own step). */
typedef struct RunsPhase
{
	List	   *names;
	JobPager   *jobs;
	int		   *todo;			/* jobs with a page to read, in turn */
	int			ntodo;
} RunsPhase;

/* Region and credentials: a problem here is a failed collection, recorded. */
void
glue_resolve_access(Collector *g)
{
	char	   *principal = g->principal,
			   *secret = g->secret,
			   *token = g->token;

	if (g->region == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("glue system \"%s\" has no region", g->system),
				 errhint("kant.set_endpoint('%s', region => 'ap-northeast-1')", g->system)));
	if (g->endpoint == NULL)
		g->endpoint = psprintf("https://glue.%s.amazonaws.com/", g->region);
	g->sigv4 = psprintf("aws:amz:%s:glue", g->region);
	if (auth_from_source(g))
		return;
	if (principal == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("glue system \"%s\" has no credentials", g->system),
				 errhint("kant.set_credentials('%s', access_key_id, secret_access_key[, session_token]), or with from_env => true the names of environment variables.",
						 g->system)));
	collect_check_binding(g);
	principal = collect_secret(g, principal, "access key id");
	secret = collect_secret(g, secret, "secret access key");
	if (token)
		token = collect_secret(g, token, "session token");
	g->userpwd = psprintf("%s:%s", principal, secret);
	g->token_header = token && *token ? psprintf("X-Amz-Security-Token: %s", token) : NULL;
}

/* ------------------------------------------------------------ requests */

/*
 * Glue's error type as botocore reads it (BaseJSONParser._do_error_parse:
 * "ns#Type:extra" is Type) and its message, when the body is a Glue error
 * document {"__type", "message"}; else NULL.  The type must be a name.
 */
char *
glue_error(KantHttpRequest *req, char **message)
{
	JsonbContainer *doc = reply_error_doc(req);
	JsonbValue	buf;
	JsonbValue *v = doc ? json_get(doc, "__type", &buf) : NULL;
	const char *t;
	int			len,
				i;

	if (message)
		*message = NULL;
	if (v == NULL || v->type != jbvString)
		return NULL;
	t = v->val.string.val;
	len = v->val.string.len;
	for (i = 0; i < len && t[i] != ':'; i++)
		;
	len = i;
	for (i = len - 1; i >= 0; i--)
		if (t[i] == '#')
		{
			t += i + 1;
			len -= i + 1;
			break;
		}
	if (len < 1 || len > 128)
		return NULL;
	for (i = 0; i < len; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
			  (t[i] >= '0' && t[i] <= '9') || t[i] == '_' || t[i] == '.'))
			return NULL;
	if (message)
	{
		*message = reply_doc_text(doc, "message");
		if (*message == NULL)
			*message = reply_doc_text(doc, "Message");
	}
	return pnstrdup(t, len);
}

static bool
glue_error_is(KantHttpRequest *req, const char *type)
{
	char	   *t;

	if (req->status != 400)
		return false;
	t = glue_error(req, NULL);
	return t != NULL && strcmp(t, type) == 0;
}

/*
 * Glue answers throttling with HTTP 400 and an exception type: retry those.
 * A request that must not run twice (StartJobRun has no idempotency token:
 * botocore glue-2017-03-31 StartJobRunRequest) is retried only when Glue
 * cannot have acted on it: no connection, 429, a throttling exception.  After
 * a timeout or a 5xx Glue may have started the run; the caller looks at
 * Glue's runs before it asks again (kant._glue_find_run).
 */
bool
glue_retry(KantHttpRequest *req, void *arg)
{
	Collector  *g = arg;
	char	   *t;

	if (g->not_idempotent && req->curl_code != 0)
		return kant_http_unsent(req);
	if (g->not_idempotent && req->status >= 500)
		return false;
	if (kant_http_default_retry(req))
		return true;
	if (req->status != 400)
		return false;
	t = glue_error(req, NULL);
	return t != NULL &&
		(strcmp(t, "ThrottlingException") == 0 ||
		 strcmp(t, "TooManyRequestsException") == 0 ||
		 strcmp(t, "ConcurrentModificationException") == 0);
}

/* An operation of the Data Quality phase: access denied to it is not the collection's failure. */
static bool
is_dq_op(const char *op)
{
	return op != NULL && (strcmp(op, "ListDataQualityResults") == 0 ||
						  strcmp(op, "BatchGetDataQualityResult") == 0);
}

/*
 * A Glue error: its type and message, cleaned and capped.  Anything else
 * the endpoint sent (an HTML page of a proxy, an internal service's error)
 * is not shown: kant.collection and alerts are read by less privileged
 * roles.
 */
static void
glue_raise(Collector *g, KantHttpRequest *req)
{
	char	   *message;
	char	   *type;
	int			code;

	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g->op);
	type = glue_error(req, &message);
	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("kant: Glue %s on %s failed with HTTP %ld%s", g->op, req->host, req->status,
						reply_attempts_note(req)),
				 errdetail("The reply (%zu bytes) is not a Glue error document; kant does not show it.",
						   req->response_len)));
	code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	if (strcmp(type, "AccessDeniedException") == 0 ||
		strcmp(type, "UnrecognizedClientException") == 0 ||
		strcmp(type, "InvalidSignatureException") == 0 ||
		strcmp(type, "ExpiredTokenException") == 0)
		code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	/* the credentials work, but this operation is not allowed to them */
	g->denied = strcmp(type, "AccessDeniedException") == 0;
	ereport(ERROR,
			(errcode(code),
			 errmsg("kant: Glue %s on %s failed with HTTP %ld: %s", g->op, req->host, req->status, type),
			 message ? errdetail("%s", message) : 0,
			 code == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ?
			 errhint("Check the system's credentials (kant.set_credentials) and that they may call %s.",
					 is_dq_op(g->op) ?
					 "glue:ListDataQualityResults and glue:BatchGetDataQualityResult" :
					 "glue:GetJobs, glue:GetJobRuns and glue:GetTriggers") : 0));
}

/* A job deleted since GetJobs: GetJobRuns answers EntityNotFoundException. */
static bool
not_found(KantHttpRequest *req)
{
	return glue_error_is(req, "EntityNotFoundException");
}

/* Signed POST requests of one operation, not yet sent. */
void
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

/* Run one batch of requests of one operation; every reply is a 200 or an error. */
static void
glue_batch(Collector *g, const char *op, char **bodies, int n, KantHttpRequest **reqs)
{
	int			i;

	glue_requests(g, op, bodies, n, reqs);
	kant_http_perform(reqs, n, &g->opt, auth_retry, g);
	for (i = 0; i < n; i++)
	{
		collect_count_attempts(g, reqs[i]);
		if (kant_http_failed(reqs[i]))
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

/*
 * A page's NextToken: a string when present, NULL at the end (an empty one
 * too: there is nothing to send back).  One that repeats the token kant
 * sent would page forever (botocore's paginator refuses it too: "The same
 * next token was received twice").
 */
static char *
next_token(Reply *r, const char *sent)
{
	char	   *t = reply_get_string(r, r->root, NULL, "NextToken", false, TOKEN_MAX);

	if (t == NULL || *t == '\0')
		return NULL;
	if (sent && strcmp(t, sent) == 0)
		reply_unusable(r, "\"NextToken\" repeats the token kant sent, so the listing would never end");
	return t;
}

/*
 * The jobs (GetJobs, pages of 1,000, each read in a context of its own):
 * each an object with a Name (NameString, 1..255 characters); MaxRetries a
 * number when present.
 */
static void
discover_jobs(Collector *g, List **names)
{
	char	   *token = NULL;
	Oid			argt[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	List	   *retries = NIL;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant GetJobs page", ALLOCSET_DEFAULT_SIZES);
	int			pages = 0;

	for (;;)
	{
		char	   *body;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *jobs;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		body = json_body(NULL, NULL, token, GLUE_JOBS_PAGE);
		glue_batch(g, "GetJobs", &body, 1, &req);
		pages++;
		reply_read(&r, g, req);
		jobs = reply_get_array(&r, r.root, NULL, "Jobs", true, GLUE_JOBS_PAGE);
		n = JsonContainerSize(jobs);
		if (list_length(*names) + n > kant_collect_max_items)
			reply_over_cap(&r, "kant.collect_max_items", "GetJobs lists more than %d jobs",
						   list_length(*names));
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *job = reply_item_object(&r, jobs, "\"Jobs\"", i, &at);
			char	   *name = reply_get_string(&r, job, at, "Name", true, GLUE_NAME_MAX);
			double		mr;
			bool		found = reply_get_number(&r, job, at, "MaxRetries", &mr);

			CHECK_FOR_INTERRUPTS();
			if (*name == '\0')
				reply_unusable(&r, "%s.Name is empty", at);
			MemoryContextSwitchTo(keep);
			*names = lappend(*names, pstrdup(name));
			/* as text, so that an absent one is NULL */
			retries = lappend(retries, found && mr >= 0 && mr <= 100 ? psprintf("%d", (int) mr) : NULL);
			MemoryContextSwitchTo(page);
		}
		{
			char	   *next = next_token(&r, token);

			if (next == NULL)
				break;
			collect_another_page(&r, pages, "GetJobs");
			if (token)
				pfree(token);
			token = MemoryContextStrdup(keep, next);
		}
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	g->jobs = list_length(*names);
	if (*names != NIL)
	{
		Datum		argv[3] = {Int32GetDatum(g->system_id), collect_text_array(*names), (Datum) 0};
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
 * not the older ones.  Further back when kant still holds a run of the job
 * as unfinished: a run in flight longer than the overlap (Glue's default job
 * timeout is 48 hours) behind runs every few minutes would never be read
 * again and stay "running".  Only runs started within 8 days: no batch run
 * lasts longer (Glue stops it at its timeout, at most 7 days).  One query for
 * all the jobs.
 */
static void
job_watermarks(Collector *g, RunsPhase *ph, int n)
{
	Oid			argt[4] = {INT4OID, TEXTARRAYOID, TIMESTAMPTZOID, FLOAT8OID};
	Datum		argv[4] = {Int32GetDatum(g->system_id), collect_text_array(ph->names),
		TimestampTzGetDatum(g->started), Float8GetDatum(g->overlap_s)};
	uint64		k;

	if (n == 0)
		return;

	/*
	 * A watermark past when it was written (a kant before 0.6.0 moved it to
	 * any StartedOn, 2100 too) would stop the reading early: no collection
	 * read runs that had not started yet, so it is taken as that time.
	 */
	if (SPI_execute_with_args("SELECT u.ord::integer,"
							  " least(extract(epoch FROM least(c.read_until, c.updated_at, $3))::float8 - $4,"
							  "       extract(epoch FROM o.oldest)::float8)"
							  " FROM unnest($2) WITH ORDINALITY AS u(name, ord)"
							  " JOIN kant.job j ON j.system_id = $1 AND j.name = u.name"
							  " JOIN kant.collect_state c ON c.job_id = j.job_id"
							  " LEFT JOIN LATERAL (SELECT min(r.started_at) AS oldest FROM kant.job_run r"
							  "   WHERE r.job_id = j.job_id AND NOT kant.is_terminal(r.state)"
							  "     AND r.started_at >= $3 - interval '8 days') o ON true"
							  " WHERE c.read_until IS NOT NULL",
							  4, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the watermarks failed");
	for (k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));
		JobPager   *p = &ph->jobs[ord - 1];

		p->has_stop = true;
		p->stop_before = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, &isnull));
	}
}

/*
 * A job read back to its watermark (or to its first run): move the watermark
 * to the newest StartedOn the ingestion accepted, but never past the start of
 * this collection.  A run Glue says starts in 2100 is kept as Glue says, yet
 * a watermark there would make every later collection stop after its first
 * page: runs started after this collection cannot have been read by it.
 *
 * No clock-skew allowance is added to the cap.  StartedOn is Glue's clock,
 * the cap the database server's: if Glue's runs ahead, capping at our start
 * only re-reads a little more (the overlap re-reads a day anyway), while an
 * allowance of an hour would let one far-future run mark as read the runs
 * that start in the hour after this collection, lost to the next one
 * whenever a system's overlap is shorter than the allowance.
 */
static void
job_read(Collector *g, JobPager *p)
{
	Oid			argt[4] = {INT4OID, TEXTOID, FLOAT8OID, TIMESTAMPTZOID};
	Datum		argv[4] = {Int32GetDatum(g->system_id), CStringGetTextDatum(p->name),
	Float8GetDatum(p->newest), TimestampTzGetDatum(g->started)};

	if (!p->any)
		return;
	/* the old one taken as job_watermarks() took it: no later than it was written */
	if (SPI_execute_with_args("INSERT INTO kant.collect_state AS c (job_id, read_until)"
							  " SELECT j.job_id, least(to_timestamp($3), $4) FROM kant.job j"
							  " WHERE j.system_id = $1 AND j.name = $2"
							  " ON CONFLICT (job_id) DO UPDATE SET read_until = least(greatest("
							  "least(c.read_until, c.updated_at), excluded.read_until), $4),"
							  " updated_at = now()",
							  4, argt, argv, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "kant: moving a watermark failed");
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

/*
 * A page arrived: ingest it now, while the other requests are in flight.
 * The page must have "JobRuns" (an array of at most the 200 asked for) and
 * may have a NextToken; its records go to the ingestion, which quarantines
 * a bad one alone.  Only the records it accepted count for where to stop and
 * where the watermark goes: a quarantined record's StartedOn is no more to be
 * believed than the rest of it.  A StartedOn that is not a plausible epoch
 * moves no watermark.
 */
static void
page_done(KantHttpRequest *req, void *arg)
{
	Round	   *rd = arg;
	Collector  *g = rd->g;
	int			job = (int) (intptr_t) req->user;
	JobPager   *p = &rd->ph->jobs[job];
	Reply		r;
	JsonbContainer *runs;
	char	   *token;
	double		oldest = 0;
	bool		any = false;
	bool	   *quarantined;
	int			i,
				n;

	collect_count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (req->curl_code == 0 && !req->too_large && not_found(req))
			return;				/* deleted since GetJobs: nothing to read */
		glue_raise(g, req);
	}
	reply_read(&r, g, req);
	runs = reply_get_array(&r, r.root, NULL, "JobRuns", true, GLUE_RUNS_PAGE);
	token = next_token(&r, p->next_token);
	p->pages++;
	if (token)
		collect_another_page(&r, p->pages, psprintf("GetJobRuns of job \"%s\"", p->name));
	n = JsonContainerSize(runs);
	quarantined = collect_ingest_page(g, r.json, n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v;
		JsonbValue	buf;
		JsonbValue *s;
		double		t;

		CHECK_FOR_INTERRUPTS();
		if (quarantined && quarantined[i])
			continue;
		v = getIthJsonbValueFromContainer(runs, i);
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
			(s = json_get(v->val.binary.data, "StartedOn", &buf)) == NULL ||
			s->type != jbvNumeric)
			continue;
		t = json_number_float8(s);
		pfree(v);
		if (!(t > 0 && t < STARTED_ON_MAX))
			continue;
		if (!any || t < oldest)
			oldest = t;
		if (!p->any || t > p->newest)
			p->newest = t;
		any = p->any = true;
	}
	if (p->next_token)
		pfree(p->next_token);
	p->next_token = token ? MemoryContextStrdup(rd->keep, token) : NULL;
	/* newest first: once a page reaches back past the watermark, stop */
	if (p->next_token && !(p->has_stop && any && oldest < p->stop_before))
		rd->next[rd->nnext++] = job;
	else
		job_read(g, p);
	reply_release(req);
}

/*
 * One round: the next page of the first ROUND_MAX jobs still being read, all
 * at once; those with another page go to the back of the line.
 */
static void
runs_round(Collector *g, void *arg)
{
	RunsPhase  *ph = arg;
	MemoryContext keep = CurrentMemoryContext;
	/* the pages of a round (replies, parsed JSON) go when the round ends */
	MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			n = Min(ph->ntodo, ROUND_MAX);
	char	  **bodies = palloc(sizeof(char *) * n);
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * n);
	KantHttpOptions opt = g->opt;
	Round		rd;
	int			i;

	for (i = 0; i < n; i++)
		bodies[i] = json_body("JobName", ph->jobs[ph->todo[i]].name,
							  ph->jobs[ph->todo[i]].next_token, GLUE_RUNS_PAGE);
	glue_requests(g, "GetJobRuns", bodies, n, reqs);
	for (i = 0; i < n; i++)
		reqs[i]->user = (void *) (intptr_t) ph->todo[i];
	rd.g = g;
	rd.ph = ph;
	rd.next = palloc(sizeof(int) * n);
	rd.nnext = 0;
	rd.keep = keep;
	opt.on_done = page_done;
	opt.on_done_arg = &rd;
	kant_http_perform(reqs, n, &opt, auth_retry, g);
	memmove(ph->todo, ph->todo + n, sizeof(int) * (ph->ntodo - n));
	memcpy(ph->todo + ph->ntodo - n, rd.next, sizeof(int) * rd.nnext);
	ph->ntodo = ph->ntodo - n + rd.nnext;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/*
 * The activated SCHEDULED triggers' cron schedules become their jobs'
 * schedules, every trigger's of a job started by several (GetTriggers, pages
 * of 200): each trigger an object, Type, State and
 * Schedule strings when present, Actions an array of objects whose JobName
 * is a string when present (an action may start a crawler instead).
 */
static void
read_triggers(Collector *g)
{
	char	   *token = NULL;
	List	   *jobs = NIL,
			   *crons = NIL,
			   *zones = NIL;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant GetTriggers page", ALLOCSET_DEFAULT_SIZES);
	int			pages = 0;

	for (;;)
	{
		char	   *body;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *triggers;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		body = json_body(NULL, NULL, token, GLUE_TRIGGERS_PAGE);
		glue_batch(g, "GetTriggers", &body, 1, &req);
		pages++;
		reply_read(&r, g, req);
		triggers = reply_get_array(&r, r.root, NULL, "Triggers", true, GLUE_TRIGGERS_PAGE);
		n = JsonContainerSize(triggers);
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *t = reply_item_object(&r, triggers, "\"Triggers\"", i, &at);
			char	   *type = reply_get_string(&r, t, at, "Type", false, 64);
			char	   *state = reply_get_string(&r, t, at, "State", false, 64);
			char	   *schedule = reply_get_string(&r, t, at, "Schedule", false, 1024);
			char	   *actions_at = psprintf("%s.Actions", at);
			JsonbContainer *actions = reply_get_array(&r, t, at, "Actions", false, 0);
			int			j,
						m;

			CHECK_FOR_INTERRUPTS();
			/*
			 * Only an activated scheduled trigger fires: one CREATED (never
			 * started), CREATING, DEACTIVATED, DEACTIVATING or DELETING does
			 * not (botocore's TriggerState; a trigger made without
			 * StartOnCreation stays CREATED).
			 */
			if (type == NULL || strcmp(type, "SCHEDULED") != 0 || schedule == NULL || actions == NULL)
				continue;
			m = JsonContainerSize(actions);
			for (j = 0; j < m; j++)
			{
				char	   *aat;
				JsonbContainer *a = reply_item_object(&r, actions, actions_at, j, &aat);
				char	   *job = reply_get_string(&r, a, aat, "JobName", false, GLUE_NAME_MAX);

				CHECK_FOR_INTERRUPTS();
				/*
				 * The whole reply is checked; only an activated trigger counts,
				 * or one on its way there or being updated (ACTIVATING,
				 * UPDATING), so a collection during an update keeps its slots.
				 */
				if (job == NULL || state == NULL ||
					(strcmp(state, "ACTIVATED") != 0 && strcmp(state, "ACTIVATING") != 0 &&
					 strcmp(state, "UPDATING") != 0))
					continue;
				if (list_length(jobs) >= kant_collect_max_items)
					reply_over_cap(&r, "kant.collect_max_items", "GetTriggers starts more than %d jobs",
								   list_length(jobs));
				MemoryContextSwitchTo(keep);
				jobs = lappend(jobs, pstrdup(job));
				crons = lappend(crons, pstrdup(schedule));
				zones = lappend(zones, "UTC");	/* Glue triggers run in UTC */
				MemoryContextSwitchTo(page);
			}
		}
		{
			char	   *next = next_token(&r, token);

			if (next == NULL)
				break;
			collect_another_page(&r, pages, "GetTriggers");
			if (token)
				pfree(token);
			token = MemoryContextStrdup(keep, next);
		}
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	collect_set_schedules(g, jobs, crons, zones, "glue_trigger", NIL, NULL);
}

/* ------------------------------------------------------ Data Quality */

/*
 * Whether the system's Data Quality results are read, and from when: the
 * results started after the watermark minus the system's overlap (a result
 * is listed once its evaluation ends, so one that started before the newest
 * read may come later).  No watermark yet: every result Glue lists, as the
 * first collection reads every run Glue keeps.
 */
static void
dq_begin(Collector *g, DqPhase *ph)
{
	Oid			argt[2] = {INT4OID, FLOAT8OID};
	Datum		argv[2] = {Int32GetDatum(g->system_id), Float8GetDatum(g->overlap_s)};
	bool		isnull;
	Datum		v;

	if (SPI_execute_with_args("SELECT d.enabled, extract(epoch FROM d.read_until)::float8 - $2"
							  " FROM kant.glue_dq_source d WHERE d.system_id = $1",
							  2, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the Data Quality watermark failed");
	if (SPI_processed == 0 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return;
	ph->enabled = true;
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	ph->has_since = !isnull;
	ph->since = isnull ? 0 : DatumGetFloat8(v);
}

static int
cmp_ids(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * The results to fetch (ListDataQualityResults, pages of 1,000, NextToken
 * followed by hand: botocore has no paginator for it): each an object with a
 * ResultId (HashString, 1..255 characters).  A result listed twice (a
 * listing that shifts as results arrive) is fetched once.
 */
static void
dq_list(Collector *g, DqPhase *ph)
{
	char	   *token = NULL;
	List	   *ids = NIL;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant ListDataQualityResults page",
											   ALLOCSET_DEFAULT_SIZES);
	int			pages = 0;
	ListCell   *lc;

	for (;;)
	{
		StringInfoData b;
		char	   *body;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *results;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		initStringInfo(&b);
		appendStringInfo(&b, "{\"MaxResults\": %d", GLUE_DQ_LIST_PAGE);
		/* JSON 1.1 timestamps are epoch seconds */
		if (ph->has_since)
			appendStringInfo(&b, ", \"Filter\": {\"StartedAfter\": %.3f}", ph->since);
		if (token)
		{
			appendStringInfoString(&b, ", \"NextToken\": ");
			escape_json(&b, token);
		}
		appendStringInfoChar(&b, '}');
		body = b.data;
		glue_batch(g, "ListDataQualityResults", &body, 1, &req);
		pages++;
		reply_read(&r, g, req);
		results = reply_get_array(&r, r.root, NULL, "Results", true, GLUE_DQ_LIST_PAGE);
		n = JsonContainerSize(results);
		if (list_length(ids) + n > kant_collect_max_items)
			reply_over_cap(&r, "kant.collect_max_items", "ListDataQualityResults lists more than %d results",
						   list_length(ids));
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *res = reply_item_object(&r, results, "\"Results\"", i, &at);
			char	   *id = reply_get_string(&r, res, at, "ResultId", true, GLUE_NAME_MAX);

			CHECK_FOR_INTERRUPTS();
			if (*id == '\0')
				reply_unusable(&r, "%s.ResultId is empty", at);
			MemoryContextSwitchTo(keep);
			ids = lappend(ids, pstrdup(id));
			MemoryContextSwitchTo(page);
		}
		{
			char	   *next = next_token(&r, token);

			if (next == NULL)
				break;
			collect_another_page(&r, pages, "ListDataQualityResults");
			if (token)
				pfree(token);
			token = MemoryContextStrdup(keep, next);
		}
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	list_sort(ids, cmp_ids);
	ph->ids = palloc(sizeof(char *) * Max(list_length(ids), 1));
	ph->nids = 0;
	foreach(lc, ids)
	{
		if (ph->nids == 0 || strcmp(ph->ids[ph->nids - 1], lfirst(lc)) != 0)
			ph->ids[ph->nids++] = lfirst(lc);
	}
	list_free(ids);
}

typedef struct DqRound
{
	Collector  *g;
	DqPhase    *ph;
} DqRound;

/*
 * A BatchGetDataQualityResult reply arrived: it must have "Results" (an
 * array of at most the ids asked for) and may have "ResultsNotFound" (results
 * deleted since they were listed: nothing to read).  The reply goes whole to
 * kant.ingest_glue_data_quality, which quarantines a bad result alone; only
 * the results it accepted, with a plausible StartedOn, move the watermark.
 */
static void
dq_batch_done(KantHttpRequest *req, void *arg)
{
	DqRound    *rd = arg;
	Collector  *g = rd->g;
	DqPhase    *ph = rd->ph;
	int			asked = (int) (intptr_t) req->user;
	Reply		r;
	JsonbContainer *results;
	Oid			argt[2] = {TEXTOID, JSONBOID};
	Datum		argv[2];
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	int64		batch_id;
	int32		rejected;
	bool	   *quarantined = NULL;
	int			i,
				n;

	collect_count_attempts(g, req);
	if (kant_http_failed(req))
		glue_raise(g, req);
	reply_read(&r, g, req);
	results = reply_get_array(&r, r.root, NULL, "Results", true, asked);
	(void) reply_get_array(&r, r.root, NULL, "ResultsNotFound", false, asked);
	n = JsonContainerSize(results);
	if (n == 0)
	{
		reply_release(req);
		return;
	}
	argv[0] = CStringGetTextDatum(g->system);
	argv[1] = JsonbPGetDatum(r.json);
	if (SPI_execute_with_args("SELECT received, rejected, batch_id"
							  " FROM kant.ingest_glue_data_quality($1, $2)",
							  2, argt, argv, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "kant: ingesting Data Quality results failed");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->dq_results += DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	rejected = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
	batch_id = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
	g->dq_rejected += rejected;
	if (rejected > 0)
		quarantined = collect_quarantined(batch_id, n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v;
		JsonbValue	buf;
		JsonbValue *s;
		double		started;

		CHECK_FOR_INTERRUPTS();
		if (quarantined && quarantined[i])
			continue;
		v = getIthJsonbValueFromContainer(results, i);
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
			(s = json_get(v->val.binary.data, "StartedOn", &buf)) == NULL ||
			s->type != jbvNumeric)
			continue;
		started = json_number_float8(s);
		pfree(v);
		if (!(started > 0 && started < STARTED_ON_MAX))
			continue;
		if (!ph->any || started > ph->newest)
			ph->newest = started;
		ph->any = true;
	}
	reply_release(req);
}

/*
 * One round: the next results, GLUE_DQ_BATCH a request and up to ROUND_MAX
 * requests at once (the system's max_parallel in flight), each reply
 * ingested as it arrives.
 */
static void
dq_round(Collector *g, void *arg)
{
	DqPhase    *ph = arg;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext round = AllocSetContextCreate(keep, "kant Data Quality round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			left = ph->nids - ph->next;
	int			n = Min((left + GLUE_DQ_BATCH - 1) / GLUE_DQ_BATCH, ROUND_MAX);
	char	  **bodies = palloc(sizeof(char *) * Max(n, 1));
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * Max(n, 1));
	int		   *asked = palloc(sizeof(int) * Max(n, 1));
	KantHttpOptions opt = g->opt;
	DqRound		rd;
	int			i,
				j,
				at = ph->next;

	for (i = 0; i < n; i++)
	{
		StringInfoData b;

		asked[i] = Min(GLUE_DQ_BATCH, ph->nids - at);
		initStringInfo(&b);
		appendStringInfoString(&b, "{\"ResultIds\": [");
		for (j = 0; j < asked[i]; j++)
		{
			if (j > 0)
				appendStringInfoString(&b, ", ");
			escape_json(&b, ph->ids[at + j]);
		}
		appendStringInfoString(&b, "]}");
		bodies[i] = b.data;
		at += asked[i];
	}
	glue_requests(g, "BatchGetDataQualityResult", bodies, n, reqs);
	for (i = 0; i < n; i++)
		reqs[i]->user = (void *) (intptr_t) asked[i];
	rd.g = g;
	rd.ph = ph;
	opt.on_done = dq_batch_done;
	opt.on_done_arg = &rd;
	kant_http_perform(reqs, n, &opt, auth_retry, g);
	ph->next = at;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/*
 * Every result listed was fetched: move the watermark to the newest StartedOn
 * the ingestion accepted, never back and never past the start of this
 * collection (as job_read() does for runs), and keep what was read.
 */
static void
dq_end(Collector *g, DqPhase *ph)
{
	Oid			argt[6] = {INT4OID, BOOLOID, FLOAT8OID, TIMESTAMPTZOID, INT4OID, INT4OID};
	Datum		argv[6] = {Int32GetDatum(g->system_id), BoolGetDatum(ph->any), Float8GetDatum(ph->newest),
		TimestampTzGetDatum(g->started), Int32GetDatum(g->dq_results), Int32GetDatum(g->dq_rejected)};

	if (SPI_execute_with_args("UPDATE kant.glue_dq_source d SET"
							  " read_until = CASE WHEN $2 THEN least(greatest(d.read_until, to_timestamp($3)), $4)"
							  "                   ELSE d.read_until END,"
							  " updated_at = CASE WHEN $2 THEN now() ELSE d.updated_at END,"
							  " last_read_at = now(), last_results = $5, last_rejected = $6"
							  " WHERE d.system_id = $1",
							  6, argt, argv, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "kant: moving the Data Quality watermark failed");
}

static void
step_dq_list(Collector *g, void *arg)
{
	DqPhase    *ph = arg;

	dq_begin(g, ph);
	if (ph->enabled)
		dq_list(g, ph);
}

static void
step_dq_end(Collector *g, void *arg)
{
	dq_end(g, (DqPhase *) arg);
	g->op = NULL;
}

/*
 * The Data Quality phase.  Its steps commit one by one, like the runs'
 * rounds; the watermark moves only when every result listed was fetched.
 * AccessDeniedException on its operations does not fail the collection (the
 * runs were read; a policy may not grant the Data Quality actions): the
 * collection ends well, with the problem as its warning.
 */
static void
collect_dq(Collector *g)
{
	DqPhase		ph;

	memset(&ph, 0, sizeof(ph));
	g->denied = false;
	if (collect_run_step(g, step_dq_list, &ph) && ph.enabled)
	{
		while (ph.next < ph.nids && collect_run_step(g, dq_round, &ph))
			;
		if (g->error == NULL)
			collect_run_step(g, step_dq_end, &ph);
	}
	if (g->error != NULL && g->denied && is_dq_op(g->op))
	{
		g->warning = psprintf("Glue Data Quality results were not read: %s. %s%sOr switch their collection off: kant.set_glue_data_quality('%s', false).",
							  g->error, g->hint ? g->hint : "", g->hint ? " " : "", g->system);
		g->error = NULL;
		g->sqlstate = NULL;
		g->hint = NULL;
	}
	g->op = NULL;
}

static void
step_jobs(Collector *g, void *arg)
{
	glue_resolve_access(g);
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

PG_FUNCTION_INFO_V1(kant_collect_glue);
Datum
kant_collect_glue(PG_FUNCTION_ARGS)
{
	Collector		g;
	Call		c;
	RunsPhase	ph;

	collect_begin(&g, &c, "glue", PG_GETARG_TEXT_PP(0), false);

	/*
	 * Each step commits into the function's transaction when it succeeds, so
	 * what was read before a failure stays; a step that fails is rolled back
	 * whole and ends the collection.
	 */
	memset(&ph, 0, sizeof(ph));
	if (collect_run_step(&g, step_jobs, &ph.names))
	{
		if (collect_run_step(&g, step_runs_begin, &ph))
			while (ph.ntodo > 0 && collect_run_step(&g, runs_round, &ph))
				;
		g.op = NULL;
		if (g.error == NULL)
			collect_run_step(&g, step_triggers, NULL);
		/* after the runs: a result may name a run (JobRunId) */
		if (g.error == NULL)
			collect_dq(&g);
	}
	PG_RETURN_DATUM(collect_end(&g, &c));
}


/* ------------------------------------------------------------ hot */

/*
 * kant.collect_hot on a Glue system (collect.c): the reads
 * kant._hot_targets chooses, in its order, a round of at most max_parallel
 * at a time while the budget, throttling and the deadline allow
 * (collect_allowance).  A run in flight is read by id, GetJobRun (botocore's
 * Glue model: GetJobRunRequest {JobName, RunId}, GetJobRunResponse
 * {JobRun}); a job whose next run is due, or whose failed attempt Glue or
 * kant is retrying, by its newest few runs, GetJobRuns with a small
 * MaxResults ("returns the job runs in chronological order, with the newest
 * jobs returned first"; a Glue retry is a new run whose PreviousRunId names
 * the failed one, so the failed run's id never shows it).  The runs a round
 * read go to kant.ingest_glue_job_runs as one GetJobRuns page, as the sweep's
 * pages do.  Nothing moves a watermark.
 */

/* a job's newest runs: enough for one that just started, or a retry */
#define HOT_RUNS_PAGE		5

typedef struct HotRead
{
	bool		one_run;		/* GetJobRun; else GetJobRuns */
	char	   *job;
	char	   *run;			/* GetJobRun: the run's Id */
} HotRead;

typedef struct HotPhase
{
	HotRead    *reads;
	int			n;
	int			next;			/* the first not read yet */
	int			round;			/* reads in the next round */
} HotPhase;

typedef struct HotRound
{
	Collector  *g;
	JsonbParseState *page;		/* the round's runs, one GetJobRuns page */
	int			runs;
	List	   *answered;		/* GetJobRun reads Glue answered */
	List	   *unknown;		/* GetJobRun reads of runs Glue does not know */
} HotRound;

/* A reply of a hot read: its runs join the round's page. */
static void
hot_read_done(KantHttpRequest *req, void *arg)
{
	HotRound   *rd = arg;
	Collector  *g = rd->g;
	HotRead    *t = req->user;
	Reply		r;

	g->op = t->one_run ? "GetJobRun" : "GetJobRuns";
	collect_count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (collect_deferred(g, req))
			return;				/* throttled, or the deadline: the next tick */
		if (req->curl_code == 0 && !req->too_large && not_found(req))
		{
			/* a run Glue does not know (reported by another source), or a job deleted */
			if (t->one_run)
				rd->unknown = lappend(rd->unknown, t);
			return;
		}
		glue_raise(g, req);
	}
	reply_read(&r, g, req);
	if (t->one_run)
	{
		JsonbValue	buf;
		JsonbValue *v = json_get(r.root, "JobRun", &buf);

		if (v == NULL)
			reply_unusable(&r, "\"JobRun\" is missing");
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			reply_unusable(&r, "\"JobRun\" must be an object");
		pushJsonbValue(&rd->page, WJB_ELEM, v);
		rd->runs++;
		rd->answered = lappend(rd->answered, t);
	}
	else
	{
		JsonbContainer *runs = reply_get_array(&r, r.root, NULL, "JobRuns", true, HOT_RUNS_PAGE);
		int			i,
					n = JsonContainerSize(runs);

		for (i = 0; i < n; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(runs, i);

			pushJsonbValue(&rd->page, WJB_ELEM, v);
			rd->runs++;
		}
	}
	reply_release(req);
}

/* When kant last read the runs it read by id, and which Glue did not know. */
static void
hot_mark_read(Collector *g, List *reads, bool unknown)
{
	Oid			argt[4] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID};
	Datum		argv[4];
	List	   *jobs = NIL,
			   *runs = NIL;
	ListCell   *lc;

	if (reads == NIL)
		return;
	foreach(lc, reads)
	{
		HotRead    *t = lfirst(lc);

		jobs = lappend(jobs, t->job);
		runs = lappend(runs, t->run);
	}
	argv[0] = Int32GetDatum(g->system_id);
	argv[1] = collect_text_array(jobs);
	argv[2] = collect_text_array(runs);
	argv[3] = BoolGetDatum(unknown);
	if (SPI_execute_with_args("INSERT INTO kant.hot_read AS h (job_id, target, read_at, misses)"
							  " SELECT j.job_id, u.run, now(), CASE WHEN $4 THEN 1 ELSE 0 END"
							  " FROM unnest($2, $3) AS u(job, run)"
							  " JOIN kant.job j ON j.system_id = $1 AND j.name = u.job"
							  " ON CONFLICT (job_id, target) DO UPDATE SET read_at = excluded.read_at,"
							  " misses = CASE WHEN $4 THEN h.misses + 1 ELSE 0 END",
							  4, argt, argv, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "kant: recording the hot reads failed");
}

/* One round: the next reads, at once; the runs they found ingested as one page. */
static void
hot_round(Collector *g, void *arg)
{
	HotPhase   *ph = arg;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext round = AllocSetContextCreate(keep, "kant hot round", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			n = ph->round;
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * Max(n, 1));
	KantHttpOptions opt = g->opt;
	HotRound	rd;
	int			i;

	memset(&rd, 0, sizeof(rd));
	rd.g = g;
	pushJsonbValue(&rd.page, WJB_BEGIN_OBJECT, NULL);
	{
		JsonbValue	k;

		k.type = jbvString;
		k.val.string.val = "JobRuns";
		k.val.string.len = 7;
		pushJsonbValue(&rd.page, WJB_KEY, &k);
	}
	pushJsonbValue(&rd.page, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		HotRead    *t = &ph->reads[ph->next + i];
		char	   *body;

		if (t->one_run)
		{
			StringInfoData b;

			initStringInfo(&b);
			appendStringInfoString(&b, "{\"JobName\": ");
			escape_json(&b, t->job);
			appendStringInfoString(&b, ", \"RunId\": ");
			escape_json(&b, t->run);
			appendStringInfoChar(&b, '}');
			body = b.data;
		}
		else
			body = json_body("JobName", t->job, NULL, HOT_RUNS_PAGE);
		glue_requests(g, t->one_run ? "GetJobRun" : "GetJobRuns", &body, 1, &reqs[i]);
		reqs[i]->user = t;
	}
	opt.on_done = hot_read_done;
	opt.on_done_arg = &rd;
	kant_http_perform(reqs, n, &opt, auth_retry, g);
	pushJsonbValue(&rd.page, WJB_END_ARRAY, NULL);
	if (rd.runs > 0)
	{
		Jsonb	   *page = JsonbValueToJsonb(pushJsonbValue(&rd.page, WJB_END_OBJECT, NULL));

		(void) collect_ingest_page(g, page, rd.runs);
	}
	hot_mark_read(g, rd.answered, false);
	hot_mark_read(g, rd.unknown, true);
	ph->next += n;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/* What to read, in order (kant._hot_targets). */
static void
hot_begin(Collector *g, void *arg)
{
	HotPhase   *ph = arg;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};
	uint64		k;

	glue_resolve_access(g);
	if (SPI_execute_with_args("SELECT op, job, run FROM kant._hot_targets($1)",
							  1, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the hot targets failed");
	ph->n = (int) SPI_processed;
	ph->reads = palloc0(sizeof(HotRead) * Max(ph->n, 1));
	for (k = 0; k < SPI_processed; k++)
	{
		HeapTuple	t = SPI_tuptable->vals[k];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *op = collect_spi_text(t, d, 1);

		ph->reads[k].one_run = strcmp(op, "GetJobRun") == 0;
		ph->reads[k].job = collect_spi_text(t, d, 2);
		ph->reads[k].run = collect_spi_text(t, d, 3);
	}
}

/* The runs no longer in flight need no record of when they were read. */
static void
hot_end(Collector *g, void *arg)
{
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};

	g->op = NULL;
	if (SPI_execute_with_args("DELETE FROM kant.hot_read h USING kant.job j"
							  " WHERE j.job_id = h.job_id AND j.system_id = $1"
							  " AND NOT EXISTS (SELECT FROM kant.job_run r WHERE r.job_id = h.job_id"
							  "   AND r.external_id = h.target AND NOT kant.is_terminal(r.state))",
							  1, argt, argv, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "kant: forgetting the hot reads failed");
}

void
glue_hot(Collector *g)
{
	HotPhase	ph;

	memset(&ph, 0, sizeof(ph));
	if (!collect_run_step(g, hot_begin, &ph))
		return;
	g->jobs = ph.n;
	while (ph.next < ph.n)
	{
		ph.round = collect_allowance(g, ph.n - ph.next);
		if (ph.round == 0 || !collect_run_step(g, hot_round, &ph))
			break;
	}
	/* what the budget, throttling or the deadline left, and a failed round's */
	g->deferred += ph.n - ph.next;
	if (g->error == NULL)
		collect_run_step(g, hot_end, NULL);
	g->op = NULL;
}
