/*
 * collect.c
 *	  A collection: kant.collect_glue(system) and kant.collect_airflow(system)
 *	  poll AWS Glue and Airflow from inside Postgres (collect_glue.c,
 *	  collect_airflow.c); this is what they share.
 *
 * A collection runs in steps, each a subtransaction committed into the call
 * when it succeeds: a failure (an endpoint down, a page that times out,
 * access denied, a reply kant cannot use) rolls back only its own step, keeps
 * what earlier steps read, and is recorded in kant.collection and raised as a
 * WARNING.  Watermarks move only when a job was read back to the old one.
 * Cancel and statement_timeout propagate.
 */
#include "postgres.h"

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
				 errhint("Register it with kant.add_system('%s', '%s', ...).", g->system, want_kind)));
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
	g->retries += req->attempts - 1;
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
	c->ctx.callback = collect_context;
	c->ctx.arg = g;
	c->ctx.previous = error_context_stack;
	error_context_stack = &c->ctx;

	collect_load_system(g, kind);
	argv[0] = Int32GetDatum(g->system_id);
	/* one collection of a system at a time: a second one waits its turn */
	if (SPI_execute_with_args("SELECT pg_advisory_xact_lock(" CppAsString2(KANT_LOCK_COLLECT) ", $1)",
							  1, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: locking the system failed");
	if (SPI_execute_with_args("INSERT INTO kant.collection (system_id, started_at)"
							  " VALUES ($1, clock_timestamp()) RETURNING collection_id, started_at",
							  1, argt, argv, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "kant: recording the collection failed");
	c->collection_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	g->started = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
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
	{
		Oid			argt[12] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID,
		INT4OID, INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
		Datum		argv[12] = {Int64GetDatum(c->collection_id), Int32GetDatum(g->requests),
			Int32GetDatum(g->retries), Int32GetDatum(g->pages), Int32GetDatum(g->jobs),
			Int32GetDatum(g->runs_seen), Int32GetDatum(g->runs_new), Int32GetDatum(g->runs_changed),
			Int32GetDatum(g->schedules),
			sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0,
			error ? CStringGetTextDatum(error) : (Datum) 0,
		hint ? CStringGetTextDatum(hint) : (Datum) 0};
		char		nulls[12];

		memset(nulls, ' ', sizeof(nulls));
		nulls[9] = sqlstate ? ' ' : 'n';
		nulls[10] = error ? ' ' : 'n';
		nulls[11] = hint ? ' ' : 'n';
		if (SPI_execute_with_args("UPDATE kant.collection SET ended_at = clock_timestamp(),"
								  " requests = $2, retries = $3, pages = $4, jobs = $5, runs_seen = $6,"
								  " runs_new = $7, runs_changed = $8, schedules = $9, sqlstate = $10, error = $11,"
								  " hint = $12 WHERE collection_id = $1 RETURNING *",
								  12, argt, argv, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
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
	else if (hint)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("kant: collection %lld of %s system \"%s\" ended without error, but: %s",
						(long long) c->collection_id, g->kind, g->system, hint),
				 errhint("kant.collection keeps it as the collection's hint (kant.collector_health.last_error_hint).")));
	return result;
}
