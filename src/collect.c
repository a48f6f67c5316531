/*
 * collect.c
 *	  A collection: kant.collect_glue(system) and kant.collect_airflow(system)
 *	  poll AWS Glue and Airflow from inside Postgres (collect_glue.c,
 *	  collect_airflow.c); this is what they share, and kant.collect_hot, which
 *	  reads only what can change soon (glue_hot, airflow_hot).
 *
 * A collection runs in steps, each a subtransaction committed into the call
 * when it succeeds: a failure (an endpoint down, a page that times out,
 * access denied, a reply kant cannot use) rolls back only its own step, keeps
 * what earlier steps read, and is recorded in kant.collection and raised as a
 * WARNING.  Watermarks move only when a job was read back to the old one.
 * Cancel and statement_timeout propagate.
 *
 * A collection is a sweep (kant.collect_glue, kant.collect_airflow: all of
 * it, the only kind that moves watermarks and cursors and that the
 * staleness of gates and alerts counts) or hot (kant.collect_hot: runs in
 * flight, attempts to come, jobs due now; moves nothing).  Both spend the
 * system's request budget (kant.collect_budget, kant._collect_budget): a
 * token bucket refilled at a rate that halves on the first throttled reply
 * of a collection and grows back by a fixed step a minute (AIMD: Glue
 * publishes no rate per API, and its limit is shared by every client of the
 * account and Region).  A hot collection makes no request past the budget,
 * none after a throttled reply, and none at or after its deadline (the
 * tick's, else 45 seconds): those it counts as deferred.  A sweep is not
 * held to the budget (it must finish, and it alone moves watermarks); it
 * spends what is there, down to zero, and its throttled replies halve the
 * rate as a hot collection's do.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "collect_int.h"
#include "locks.h"

/* a hot collection called on its own: its deadline (a tick gives its own) */
#define HOT_DEADLINE_S		45
/* a round not worth starting this close to the deadline */
#define HOT_MARGIN_MS		1000
/* hot collections' records are kept this long (one a minute a system) */
#define HOT_KEEP			"7 days"

/* ------------------------------------------------------------ the system */

/* The error context of a collection or an action: which system, which call. */
void
collect_context(void *arg)
{
	Collector	   *g = arg;

	errcontext("collecting %s system \"%s\"%s%s", g->kind, g->system,
			   g->op ? ", " : "", g->op ? g->op : "");
}

/* A credential's value: stored, or from the environment or a secret file (secrets.c). */
char *
collect_secret(Collector *g, const char *stored, const char *what)
{
	return kant_secret_value(stored, g->source, what, g->system);
}

/* RFC 3986 percent-encoding: unreserved characters kept (a path segment, a form value). */
void
collect_percent_encode(StringInfo b, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(b, (char) c);
		else
			appendStringInfo(b, "%%%02X", c);
	}
}

/* A column of an SPI row as a palloc'd string, or NULL. */
char *
collect_spi_text(HeapTuple t, TupleDesc d, int col)
{
	char	   *v = SPI_getvalue(t, d, col);

	return v ? pstrdup(v) : NULL;
}

/*
 * The system and its credentials as stored.  Nothing is resolved here: a
 * missing region or secret is an error of the first step, recorded
 * (glue_resolve_access, airflow_resolve).
 */
void
collect_load_system(Collector *g, const char *want_kind)
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
							  " s.connect_timeout_ms, s.timeout_ms, c.from_file,"
							  " c.bound_to, kant._credential_target(s.kind, s.endpoint, s.region),"
							  " cs.source, cs.base_source, cs.role_arn, cs.role_session_name, cs.external_id,"
							  " cs.duration_seconds, cs.web_identity_token_file, cs.audience, cs.key_file,"
							  " cs.scopes, cs.sts_endpoint, cs.bound_to, cs.impersonate,"
							  " coalesce(cs.xmin::text, '-') || '/' || coalesce(c.xmin::text, '-')"
							  " FROM kant.system s LEFT JOIN kant.credential c USING (system_id)"
							  " LEFT JOIN kant.credential_source cs USING (system_id)"
							  " WHERE s.name = $1", 1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the system failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("system \"%s\" does not exist", g->system),
				 errhint("Register it with kant.add_system('%s', '%s', ...).", g->system,
						 want_kind ? want_kind : "glue")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->system_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	kind = collect_spi_text(t, d, 2);
	g->endpoint = collect_spi_text(t, d, 3);
	region = collect_spi_text(t, d, 4);
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
	principal = collect_spi_text(t, d, 8);
	secret = collect_spi_text(t, d, 9);
	token = collect_spi_text(t, d, 10);

	if (want_kind == NULL)
	{
		/* a hot collection: either kind kant polls */
		if (strcmp(kind, "glue") == 0)
			g->kind = "glue";
		else if (strcmp(kind, "airflow") == 0)
			g->kind = "airflow";
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("kant does not poll %s systems", kind),
					 errhint("OpenLineage and manual systems send their runs (kant.ingest_openlineage, kant.report_run).")));
	}
	else if (strcmp(kind, want_kind) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("system \"%s\" is of kind %s, not %s", g->system, kind, want_kind),
				 errhint("Collect it with kant.collect_%s().", kind)));
	g->region = region;
	g->principal = principal;
	g->secret = secret;
	g->token = token;
	g->source = source;
	g->bound_to = collect_spi_text(t, d, 14);
	g->target = collect_spi_text(t, d, 15);
	auth_load_source(g, t, d, 16);
}

/*
 * Credentials go only where they were set for: kind and host (scheme and
 * name, kant._credential_target) when kant.set_credentials() stored them.
 * Whoever may move a system's endpoint or kind afterwards (kant_admin) must
 * not thereby send someone else's secret to a host of their choosing.
 */
void
collect_check_binding(Collector *g)
{
	if (g->bound_to == NULL || g->target == NULL || strcmp(g->bound_to, g->target) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credentials of system \"%s\" were set for %s; it now points at %s",
						g->system, g->bound_to ? g->bound_to : "no endpoint",
						g->target ? g->target : "no endpoint"),
				 errdetail("Credentials are bound to the kind and host they were set for, so that moving an endpoint cannot send them elsewhere."),
				 errhint("Set them again for the new endpoint: kant.set_credentials('%s', ...).", g->system)));
}

/* ------------------------------------------------------------ settings */

int			kant_collect_max_pages = 10000;
int			kant_collect_max_items = 200000;

void
kant_collect_define_gucs(void)
{
	DefineCustomIntVariable("kant.collect_max_pages",
							"Pages a collection reads of one listing.",
							"A Glue listing (GetJobs, GetTriggers, one job's GetJobRuns) or an "
							"Airflow listing (DAGs, DAG runs, one DAG run's task instances) that "
							"would take more ends the collection with an error: a NextToken that "
							"never ends, or a server that pages one item at a time.",
							&kant_collect_max_pages,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kant.collect_max_items",
							"Items a collection holds of one listing.",
							"Glue jobs, the jobs of Glue triggers, Airflow DAGs, the DAG runs of "
							"one collection and any total_entries: more ends the collection "
							"with an error instead of holding them all in memory.",
							&kant_collect_max_items,
							200000, 1, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/* --------------------------------------------------------------- pages */

/* A request reached its outcome: count its attempts in the collection's record. */
void
collect_count_attempts(Collector *g, KantHttpRequest *req)
{
	g->requests += req->attempts;
	g->retries += Max(req->attempts - 1, 0);
	/*
	 * a throttled last attempt the retry check never saw (retries spent);
	 * one it saw and wanted to retry, which the deadline then stopped, it
	 * counted already (auth_retry)
	 */
	if (req->attempts > 0 && !req->deadline_cut && collect_is_throttle(g, req))
		g->throttles++;
}

/*
 * A reply that says the system is throttling kant: HTTP 429 (RFC 6585), or
 * Glue's HTTP 400 with ThrottlingException or TooManyRequestsException (the
 * exceptions botocore's standard retry mode treats as throttling,
 * botocore/retries/standard.py).
 */
bool
collect_is_throttle(Collector *g, KantHttpRequest *req)
{
	char	   *t;

	if (req->curl_code != 0 || req->too_large)
		return false;
	if (req->status == 429)
		return true;
	if (req->status != 400 || strcmp(g->kind, "glue") != 0)
		return false;
	t = glue_error(req, NULL);
	return t != NULL && (strcmp(t, "ThrottlingException") == 0 ||
						 strcmp(t, "TooManyRequestsException") == 0);
}

/*
 * How many of want requests a hot collection may start now: none once a
 * reply was throttled, none within a second of its deadline, none past its
 * budget; at most max_parallel (a round), so that a throttled reply stops
 * the next round.  A sweep may start them all.
 */
int
collect_allowance(Collector *g, int want)
{
	int			left;

	if (!g->hot)
		return want;
	if (g->throttles > 0 ||
		GetCurrentTimestamp() >= g->deadline - (TimestampTz) HOT_MARGIN_MS * 1000)
		return 0;
	left = (int) floor(g->tokens) - g->requests;
	return Max(Min(Min(want, left), g->opt.max_parallel), 0);
}

/*
 * A hot collection's request that ended throttled, or that its deadline
 * ended: deferred to the next tick (the sweep reads it anyway), not an error.
 */
bool
collect_deferred(Collector *g, KantHttpRequest *req)
{
	if (!g->hot || !(req->deadline_cut || collect_is_throttle(g, req)))
		return false;
	g->deferred++;
	return true;
}

/* Another page of a NextToken listing: within kant.collect_max_pages. */
void
collect_another_page(Reply *r, int pages, const char *listing)
{
	if (pages >= kant_collect_max_pages)
		reply_over_cap(r, "kant.collect_max_pages", "%s goes on past %d pages", listing, pages);
}

/* A text[] of C strings. */
Datum
collect_text_array(List *strings)
{
	int			n = list_length(strings);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	ListCell   *lc;

	/* a NULL string is a NULL element */
	foreach(lc, strings)
	{
		int			i = foreach_current_index(lc);

		nulls[i] = lfirst(lc) == NULL;
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(lfirst(lc));
	}
	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A page goes through the system's ingestion function, like any payload: as
 * the jsonb the collector parsed already (the reply is parsed once).  Returns
 * which of its n records the ingestion quarantined (kant.rejected's
 * item_index), or NULL when it quarantined none: those move no watermark.
 */
bool *
collect_ingest_page(Collector *g, Jsonb *page, int n)
{
	Oid			argt[2] = {TEXTOID, JSONBOID};
	Datum		argv[2] = {CStringGetTextDatum(g->system), JsonbPGetDatum(page)};
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;
	int64		batch_id;
	int32		rejected;
	const char *sql = strcmp(g->kind, "glue") == 0 ?
		"SELECT received, inserted, updated, rejected, batch_id FROM kant.ingest_glue_job_runs($1, $2)" :
		"SELECT received, inserted, updated, rejected, batch_id FROM kant.ingest_airflow_task_instances($1, $2)";

	if (SPI_execute_with_args(sql, 2, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: ingesting a page failed");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->runs_seen += DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	g->runs_new += DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
	g->runs_changed += DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	rejected = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
	batch_id = DatumGetInt64(SPI_getbinval(t, d, 5, &isnull));
	g->pages++;
	if (rejected == 0 || n == 0)
		return NULL;
	return collect_quarantined(batch_id, n);
}

/* Which of the n records of an ingested batch it kept in kant.rejected (item_index). */
bool *
collect_quarantined(int64 batch_id, int n)
{
	Oid			bt[1] = {INT8OID};
	Datum		bv[1] = {Int64GetDatum(batch_id)};
	bool	   *quarantined;
	bool		isnull;
	uint64		k;

	/* not read-only: it must see what the ingestion just wrote */
	if (SPI_execute_with_args("SELECT item_index FROM kant.rejected WHERE batch_id = $1",
							  1, bt, bv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the quarantined records failed");
	quarantined = palloc0(sizeof(bool) * Max(n, 1));
	for (k = 0; k < SPI_processed; k++)
	{
		int32		i = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));

		if (!isnull && i >= 0 && i < n)
			quarantined[i] = true;
	}
	return quarantined;
}

/*
 * The schedules a collector found, set in one statement (registering the jobs
 * they name first): a few statements however many jobs there are.
 */
void
collect_set_schedules(Collector *g, List *jobs, List *crons, List *zones, const char *source,
					  List *slot_dates, const char *default_slot_date)
{
	Oid			argt[7] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTARRAYOID, TEXTOID};
	Datum		argv[7];
	char		nulls[7] = "       ";
	bool		isnull;

	if (jobs == NIL)
		return;
	argv[0] = CStringGetTextDatum(g->system);
	argv[1] = collect_text_array(jobs);
	argv[2] = collect_text_array(crons);
	argv[3] = collect_text_array(zones);
	argv[4] = CStringGetTextDatum(source);
	argv[5] = slot_dates != NIL ? collect_text_array(slot_dates) : (Datum) 0;
	nulls[5] = slot_dates != NIL ? ' ' : 'n';
	argv[6] = default_slot_date ? CStringGetTextDatum(default_slot_date) : (Datum) 0;
	nulls[6] = default_slot_date ? ' ' : 'n';
	if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE kant._collector_job(s.system_id, u.job))"
							  " FROM kant.system s, unnest($2) AS u(job) WHERE s.name = $1",
							  2, argt, argv, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_execute_with_args("SELECT kant._collector_schedules($1, $2, $3, $4, $5, $6, $7)",
							  7, argt, argv, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: setting schedules failed");
	g->schedules += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---------------------------------------------------------------- steps */

/*
 * Run one step in a subtransaction.  On error: roll it back, keep the error
 * in g, return false.  Cancel, statement_timeout and termination propagate.
 */
bool
collect_run_step(Collector *g, StepFn fn, void *arg)
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
		g->hint = ed->hint ? pstrdup(ed->hint) : NULL;
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return g->error == NULL;
}

/* ------------------------------------------------------------ the call */

void
collect_begin(Collector *g, Call *c, const char *kind, text *system, bool hot)
{
	bool		isnull;
	Oid			argt[2] = {INT4OID, TEXTOID};
	Datum		argv[2];

	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->hot = hot;
	g->system = text_to_cstring(system);
	c->fcxt = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	c->ctx.callback = collect_context;
	c->ctx.arg = g;
	c->ctx.previous = error_context_stack;
	error_context_stack = &c->ctx;

	collect_load_system(g, kind);
	argv[0] = Int32GetDatum(g->system_id);
	argv[1] = CStringGetTextDatum(hot ? "hot" : "sweep");
	/*
	 * One collection of a system at a time: a second sweep waits its turn; a
	 * hot collection does not wait (the tick goes on to the gates), it
	 * records that it read nothing
	 */
	if (SPI_execute_with_args(hot ?
							  "SELECT pg_try_advisory_xact_lock(" CppAsString2(KANT_LOCK_COLLECT) ", $1)" :
							  "SELECT pg_advisory_xact_lock(" CppAsString2(KANT_LOCK_COLLECT) ", $1)",
							  1, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: locking the system failed");
	if (hot)
		g->busy = !DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (SPI_execute_with_args("INSERT INTO kant.collection (system_id, started_at, mode)"
							  " VALUES ($1, clock_timestamp(), $2) RETURNING collection_id, started_at",
							  2, argt, argv, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "kant: recording the collection failed");
	c->collection_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	g->started = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
	if (hot)
	{
		TimestampTz tick = kant_http_deadline();

		/* the tick's deadline, else its own */
		g->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOT_DEADLINE_S * 1000);
		if (tick != 0 && tick < g->deadline)
			g->deadline = tick;
		g->opt.deadline = g->deadline;
		/* what the budget allows now */
		if (!g->busy)
		{
			if (SPI_execute_with_args("SELECT kant._collect_budget($1, 0, false)",
									  1, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "kant: reading the request budget failed");
			g->tokens = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
}

Datum
collect_end(Collector *g, Call *c)
{
	char	   *error = g->error;
	char	   *sqlstate = g->sqlstate;
	/* the record's hint: the error's, or for a collection that ended well, its warning */
	char	   *hint = error ? g->hint : g->warning;
	Datum		result;

	error_context_stack = c->ctx.previous;
	if (!g->busy)
	{
		Oid			bt[3] = {INT4OID, INT4OID, BOOLOID};
		Datum		bv[3] = {Int32GetDatum(g->system_id), Int32GetDatum(g->requests),
		BoolGetDatum(g->throttles > 0)};

		/* the budget pays for what was sent; a throttled reply halves its rate */
		if (SPI_execute_with_args("SELECT kant._collect_budget($1, $2, $3)",
								  3, bt, bv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: spending the request budget failed");
	}
	if (g->hot)
	{
		Oid			ht[2] = {INT4OID, INT8OID};
		Datum		hv[2] = {Int32GetDatum(g->system_id), Int64GetDatum(c->collection_id)};

		/* a hot collection a minute: a week of their records is kept */
		if (SPI_execute_with_args("DELETE FROM kant.collection WHERE system_id = $1 AND mode = 'hot'"
								  " AND started_at < now() - interval '" HOT_KEEP "' AND collection_id <> $2",
								  2, ht, hv, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "kant: pruning the hot collections failed");
	}
	{
		Oid			argt[14] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID,
		INT4OID, INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID};
		Datum		argv[14] = {Int64GetDatum(c->collection_id), Int32GetDatum(g->requests),
			Int32GetDatum(g->retries), Int32GetDatum(g->pages), Int32GetDatum(g->jobs),
			Int32GetDatum(g->runs_seen), Int32GetDatum(g->runs_new), Int32GetDatum(g->runs_changed),
			Int32GetDatum(g->schedules),
			sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0,
			error ? CStringGetTextDatum(error) : (Datum) 0,
			hint ? CStringGetTextDatum(hint) : (Datum) 0,
		Int32GetDatum(g->deferred), Int32GetDatum(g->throttles)};
		char		nulls[14];

		memset(nulls, ' ', sizeof(nulls));
		nulls[9] = sqlstate ? ' ' : 'n';
		nulls[10] = error ? ' ' : 'n';
		nulls[11] = hint ? ' ' : 'n';
		if (SPI_execute_with_args("UPDATE kant.collection SET ended_at = clock_timestamp(),"
								  " requests = $2, retries = $3, pages = $4, jobs = $5, runs_seen = $6,"
								  " runs_new = $7, runs_changed = $8, schedules = $9, sqlstate = $10, error = $11,"
								  " hint = $12, deferred = $13, throttled = $14 WHERE collection_id = $1 RETURNING *",
								  14, argt, argv, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "kant: recording the collection failed");
		result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	}
	/* SPI_finish frees what the steps allocated: keep the message */
	if (error)
	{
		error = MemoryContextStrdup(c->fcxt, error);
		sqlstate = MemoryContextStrdup(c->fcxt, sqlstate);
	}
	hint = hint ? MemoryContextStrdup(c->fcxt, hint) : NULL;
	SPI_finish();
	if (error)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("kant: collection %lld of %s system \"%s\" failed [%s]: %s",
						(long long) c->collection_id, g->kind, g->system, sqlstate, error),
				 errhint("%s%sWhat was read before the failure is kept; the next collection reads the rest. See SELECT * FROM kant.collector_health;",
						 hint ? hint : "", hint ? " " : "")));
	else if (hint && !g->busy)	/* a hot collection that gave way to a sweep: as it should */
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("kant: collection %lld of %s system \"%s\" ended without error, but: %s",
						(long long) c->collection_id, g->kind, g->system, hint),
				 errhint("kant.collection keeps it as the collection's hint (kant.collector_health.last_error_hint).")));
	return result;
}

/* ------------------------------------------------------------ hot */

/*
 * kant.collect_hot(system): read what can change soon (kant._hot_targets
 * chooses it, in priority order), within the system's request budget and
 * the deadline; ingest it as the sweep does; move no watermark, no cursor,
 * no schedule.  Another collection of the system in progress (a sweep)
 * holds its lock: then nothing is read, and that is recorded.
 */
PG_FUNCTION_INFO_V1(kant_collect_hot);
Datum
kant_collect_hot(PG_FUNCTION_ARGS)
{
	Collector	g;
	Call		c;

	collect_begin(&g, &c, NULL, PG_GETARG_TEXT_PP(0), true);
	if (g.busy)
	{
		Oid			argt[1] = {INT4OID};
		Datum		argv[1] = {Int32GetDatum(g.system_id)};
		bool		isnull;

		if (SPI_execute_with_args("SELECT count(*)::integer FROM kant._hot_targets($1)",
								  1, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the hot targets failed");
		g.deferred = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		g.warning = psprintf("another collection of system \"%s\" is in progress (a sweep holds its lock): this hot collection read nothing; the sweep reads everything",
							 g.system);
	}
	else if (strcmp(g.kind, "glue") == 0)
		glue_hot(&g);
	else
		airflow_hot(&g);
	PG_RETURN_DATUM(collect_end(&g, &c));
}
