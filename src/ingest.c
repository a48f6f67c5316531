/*
 * ingest.c
 *	  The ingest engine: merge normalised run records into kant.job_run.
 *
 * Every source front-end feeds RunRecords through ingest_add().  Records are
 * buffered and written set-wise, one SPI statement per step and buffer:
 *
 *	 1. resolve (or register) each record's job, derive its business date;
 *	 2. fold records of the same run attempt within the buffer;
 *	 3. probe kant.job_run for the attempts that already exist;
 *	 4. merge: a monotone, order-independent rule (see version_cmp);
 *	 5. insert new attempts, update changed ones, touch stale last_seen;
 *	 6. Glue retry chains: retries take the business date of the run they
 *		retry, whatever order the runs arrived in.
 *
 * The steps live in the files around ingest_int.h: systems, jobs and
 * business dates in ingest_registry.c, the plans in ingest_plan.c, the probe,
 * the insert and the current attempt in ingest_write.c, retry chains in
 * ingest_chain.c, quarantine in ingest_reject.c.
 *
 * Concurrency: each call takes a transaction-level advisory lock per system
 * (in name order when a payload spans systems), so two sessions ingesting
 * overlapping payloads serialise per system instead of racing on the unique
 * key; in READ COMMITTED each SPI statement takes a fresh snapshot, so the
 * second session sees what the first committed.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/int.h"
#include "common/sha2.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ingest_int.h"

#define FLUSH_SIZE		500
#define FLUSH_BYTES		(64 * 1024 * 1024)	/* and at most this much record data */

/* -------------------------------------------------------------- merging */

static inline int
cmp_bool(bool a, bool b)
{
	return (a == b) ? 0 : (a ? 1 : -1);
}

static inline int
cmp_ts(bool ha, TimestampTz a, bool hb, TimestampTz b)
{
	if (ha != hb)
		return ha ? 1 : -1;
	if (!ha || a == b)
		return 0;
	return a < b ? -1 : 1;
}

static inline int
cmp_str(const char *a, const char *b)
{
	int			c;

	if (a == NULL || b == NULL)
		return (a == b) ? 0 : (a ? 1 : -1);
	c = strcmp(a, b);
	return (c > 0) - (c < 0);
}

/*
 * The total order on versions of one run attempt.  The greater version is
 * what the source said last:
 *	 terminal beats non-terminal (a late RUNNING never undoes SUCCEEDED);
 *	 then the source's own modification time (Glue LastModifiedOn,
 *	 OpenLineage eventTime); then start, then end time (Airflow has no
 *	 modification time, and before 2.10 a retry could reuse the try_number
 *	 of the failed try: the later start is the newer try); then the state's
 *	 order; then the content itself,
 *	 so that equal-looking versions still order the same in every session.
 */
static int
version_cmp(RunRecord *a, RunRecord *b)
{
	int			c;

	if ((c = cmp_bool(run_state_terminal(a->state), run_state_terminal(b->state))) != 0)
		return c;
	if ((c = cmp_ts(a->has_updated, a->updated_at, b->has_updated, b->updated_at)) != 0)
		return c;
	if ((c = cmp_ts(a->has_started, a->started_at, b->has_started, b->started_at)) != 0)
		return c;
	if ((c = cmp_ts(a->has_ended, a->ended_at, b->has_ended, b->ended_at)) != 0)
		return c;
	if (a->state != b->state)
		return a->state < b->state ? -1 : 1;
	if ((c = cmp_str(a->raw_state, b->raw_state)) != 0)
		return c;
	if ((c = cmp_str(a->error_message, b->error_message)) != 0)
		return c;
	if ((c = cmp_bool(BD_IS_EXPLICIT(a->bd_source), BD_IS_EXPLICIT(b->bd_source))) != 0)
		return c;
	if (BD_IS_EXPLICIT(a->bd_source) && a->business_date != b->business_date)
		return a->business_date < b->business_date ? -1 : 1;
	if ((c = cmp_str(a->previous_external_id, b->previous_external_id)) != 0)
		return c;
	if (a->details == NULL || b->details == NULL)
		return (a->details == b->details) ? 0 : (a->details ? 1 : -1);
	c = compareJsonbContainers(&a->details->root, &b->details->root);
	return (c > 0) - (c < 0);
}

/*
 * Merge two versions of one attempt into a new record: the greater version's
 * content, a start time from either (OpenLineage's START carries it, the
 * COMPLETE does not), an explicit business date from either, else the
 * stored derived one (it may be inherited from a retried run).
 */
static RunRecord *
merge_versions(JobInfo *job, IngestSource source, RunRecord *stored, RunRecord *incoming)
{
	RunRecord  *win = (version_cmp(incoming, stored) > 0) ? incoming : stored;
	RunRecord  *lose = (win == incoming) ? stored : incoming;
	RunRecord  *m = palloc(sizeof(RunRecord));

	*m = *win;
	if (!m->has_started && lose->has_started)
	{
		m->has_started = true;
		m->started_at = lose->started_at;
	}
	if (!BD_IS_EXPLICIT(m->bd_source))
	{
		if (BD_IS_EXPLICIT(lose->bd_source))
		{
			m->bd_source = lose->bd_source;
			m->business_date = lose->business_date;
		}
		else if (stored->bd_source == BD_INHERITED)
		{
			m->bd_source = BD_INHERITED;
			m->business_date = stored->business_date;
		}
		else
		{
			/* without a timestamp (none in either version) the date stays */
			(void) ingest_rule_date(job, source, m, incoming);
			m->bd_source = BD_RULE;
		}
	}
	return m;
}

/* Does the merged row differ from what is stored? */
static bool
row_differs(RunRecord *a, RunRecord *b)
{
	return version_cmp(a, b) != 0 ||
		a->business_date != b->business_date ||
		a->bd_source != b->bd_source;
}

/* ------------------------------------------------------------ the batch */

IngestState *
ingest_begin(IngestSource source, const char *system_name, struct varlena *payload,
			 bool payload_is_jsonb)
{
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"kant ingest",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	IngestState *st = palloc0(sizeof(IngestState));
	HASHCTL		ctl;

	st->source = source;
	st->source_name = (source == SRC_REPORT) ? "report" : ingest_source_kind(source);
	st->batch_cxt = batch_cxt;
	st->flush_cxt = AllocSetContextCreate(batch_cxt, "kant ingest flush",
										  ALLOCSET_DEFAULT_SIZES);
	st->pending = palloc(sizeof(Pending) * FLUSH_SIZE);
	st->payload = payload;
	st->payload_is_jsonb = payload_is_jsonb;
	st->now = GetCurrentTimestamp();

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MAX_NAME_LEN + 1;
	ctl.entrysize = sizeof(SystemInfo);
	ctl.hcxt = batch_cxt;
	st->systems = hash_create("kant systems", 8, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(JobKey);
	ctl.entrysize = sizeof(JobInfo);
	st->jobs = hash_create("kant jobs", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	ingest_prepare_plans();
	ingest_runrel_init(&st->rr);

	if (system_name != NULL)
		(void) ingest_set_system(st, system_name, NULL, NULL);
	return st;
}

/* The batch row is written lazily, after the systems are known and locked. */
void
ingest_log_batch(IngestState *st)
{
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', 'n'};
	bool		isnull;

	if (st->batch_logged)
		return;
	args[0] = CStringGetTextDatum(st->source_name);
	if (st->system && !st->multi_system)
		args[1] = Int32GetDatum(st->system->system_id);
	else
		nulls[1] = 'n';
	args[2] = TimestampTzGetDatum(st->now);
	if (st->payload)
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
		uint8		digest[PG_SHA256_DIGEST_LENGTH];
		bytea	   *b = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

		if (pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (uint8 *) VARDATA_ANY(st->payload),
								 VARSIZE_ANY_EXHDR(st->payload)) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "kant: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
		pg_cryptohash_free(ctx);
		SET_VARSIZE(b, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
		memcpy(VARDATA(b), digest, PG_SHA256_DIGEST_LENGTH);
		args[3] = Int64GetDatum(VARSIZE_ANY_EXHDR(st->payload));
		args[4] = PointerGetDatum(b);
		/* a text payload is kept as text: jsonb may not hold all of it */
		nulls[5] = 'n';
		if (kant_keep_payloads && st->payload_is_jsonb)
		{
			args[5] = PointerGetDatum(st->payload);
			nulls[5] = ' ';
		}
		else if (kant_keep_payloads && (ingest_plans.columns & HAS_PAYLOAD_TEXT))
		{
			args[6] = PointerGetDatum(st->payload);
			nulls[6] = ' ';
		}
		else if (kant_keep_payloads)
		{
			/* before 0.6.0: jsonb only */
			args[5] = DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring((text *) st->payload)));
			nulls[5] = ' ';
		}
	}
	else
		nulls[3] = nulls[4] = nulls[5] = 'n';
	ingest_spi_exec(ingest_plans.batch_insert, args, nulls, SPI_OK_INSERT_RETURNING);
	st->batch_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	st->batch_logged = true;
}

MemoryContext
ingest_record_context(IngestState *st)
{
	return st->flush_cxt;
}

static void flush(IngestState *st);

/*
 * Records are read into the flush context; a flush resets it.  Rejected and
 * skipped records count too, so that a payload of bad records does not
 * pile up in memory either.
 */
static inline void
record_done(IngestState *st)
{
	if (st->npending >= FLUSH_SIZE || ++st->since_flush >= FLUSH_SIZE ||
		st->pending_bytes >= FLUSH_BYTES)
		flush(st);
}

/*
 * What a pending record adds to a flush's column arrays: big records flush
 * sooner, so that no array of a flush nears the 1 GB a datum may hold.
 */
static int64
record_bytes(RunRecord *r, JsonbValue *raw)
{
	int64		n = 64;

	if (r->details)
		n += VARSIZE(r->details);
	if (r->error_message)
		n += strlen(r->error_message);
	if (raw && raw->type == jbvBinary)
		n += raw->val.binary.len;
	return n;
}

void
ingest_reject(IngestState *st, RecordError *err, JsonbValue *raw, const char *raw_text,
			  int raw_len, int index, const char *path)
{
	st->received++;
	ingest_store_reject(st, err, raw, raw_text, raw_len, index, path, st->system);
	record_done(st);
}

/* A record that carries no run state (OpenLineage OTHER): counted, not stored. */
void
ingest_skip(IngestState *st)
{
	st->received++;
	st->unchanged++;
	record_done(st);
}

void
ingest_add(IngestState *st, RunRecord *rec, JsonbValue *raw, int index)
{
	Pending    *p;

	st->received++;
	p = &st->pending[st->npending++];
	memset(p, 0, sizeof(Pending));
	p->rec = rec;
	p->sys = st->system;
	p->raw = raw;
	p->index = index;
	st->pending_bytes += record_bytes(rec, raw);
	record_done(st);
}

/* Fold pending records that name the same attempt: merge them in memory. */
static void
fold_duplicates(IngestState *st)
{
	HASHCTL		ctl;
	HTAB	   *seen;
	int			i;
	typedef struct
	{
		char		key[MAX_NAME_LEN + 32];
		int			first;
	}			FoldEntry;

	if (st->npending < 2)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MAX_NAME_LEN + 32;
	ctl.entrysize = sizeof(FoldEntry);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("kant fold", st->npending, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < st->npending; i++)
	{
		Pending    *p = &st->pending[i];
		char		key[MAX_NAME_LEN + 32];
		FoldEntry  *e;
		bool		found;

		if (p->job == NULL)
			continue;
		snprintf(key, sizeof(key), "%d/%d/%s", p->job->job_id, p->rec->attempt,
				 p->rec->external_id);
		e = hash_search(seen, key, HASH_ENTER, &found);
		if (!found)
			e->first = i;
		else
		{
			Pending    *f = &st->pending[e->first];

			f->rec = merge_versions(f->job, st->source, f->rec, p->rec);
			p->folded = true;
		}
	}
	hash_destroy(seen);
}

/*
 * Queue the (job, business date) pairs a flush changed, for the incremental
 * SLO refresh: kant.slo_dirty, in the same transaction as the runs.  An
 * installation older than 0.3.0 has no queue; after ALTER EXTENSION UPDATE
 * the plan is made on the next flush.
 */
static void
mark_dirty(Col *jobs, Col *dates)
{
	if (jobs->n == 0)
		return;
	if (ingest_plans.dirty == NULL)
	{
		Oid			t[2] = {T_INT4A, T_DATEA};

		if (!OidIsValid(get_relname_relid("slo_dirty", get_namespace_oid("kant", false))))
			return;
		/*
		 * Only jobs some SLO covers: the refresh drops the others anyway, and
		 * queueing every (job, date) of a history load costs it ~15%.  An SLO
		 * created later evaluates its history itself.
		 */
		ingest_plans.dirty = ingest_prepare(
			"INSERT INTO kant.slo_dirty (job_id, business_date)"
			" SELECT DISTINCT u.j, u.d FROM unnest($1, $2) AS u(j, d)"
			" WHERE u.j IN (SELECT sc.job_id FROM kant.slo_scope sc)"
			" ON CONFLICT DO NOTHING", 2, t, false);
	}
	{
		Datum		args[2] = {col_array(jobs), col_array(dates)};

		ingest_spi_exec(ingest_plans.dirty, args, NULL, SPI_OK_INSERT);
	}
}

/* Write the buffered records.  Runs inside the flush memory context. */
static void
flush(IngestState *st)
{
	MemoryContext old;
	int			i;
	int			n = 0;
	Pending   **live;

	st->since_flush = 0;
	st->pending_bytes = 0;
	if (st->npending == 0)
	{
		MemoryContextReset(st->flush_cxt);
		return;
	}
	old = MemoryContextSwitchTo(st->flush_cxt);
	ingest_log_batch(st);

	/* 1. jobs and business dates */
	live = palloc(sizeof(Pending *) * st->npending);
	for (i = 0; i < st->npending; i++)
	{
		Pending    *p = &st->pending[i];
		RecordError err = {0};

		p->job = ingest_get_job(st, p->sys, p->rec);
		if (!ingest_resolve_business_date(p->job, st->source, p->rec, &err))
		{
			p->job = NULL;
			ingest_store_reject(st, &err, p->raw, NULL, 0, p->index, p->rec->path, p->sys);
		}
	}

	/* 2. fold duplicates */
	fold_duplicates(st);
	for (i = 0; i < st->npending; i++)
	{
		Pending    *p = &st->pending[i];

		if (p->job == NULL)
			continue;
		if (p->folded)
		{
			st->unchanged++;
			continue;
		}
		live[n++] = p;
	}

	/* 3. probe */
	if (n > 0)
		ingest_probe_stored(st, live, n);

	/* 4. merge and 5. write */
	{
		Pending   **ins = palloc(sizeof(Pending *) * Max(n, 1));
		int			nins = 0;
		Col			uid, ubd, ubs, us, urs, usa, uea, uua, uem, upe, ud;
		Col			tid;
		Col			cj, ce;		/* chain candidates (Glue) */
		Col			dj, dd;		/* (job, business date) pairs changed */
		Col			kj, ke;		/* runs whose attempts' supersession may change */

		col_init(&uid, INT8OID, n);
		col_init(&ubd, DATEOID, n);
		col_init(&ubs, CHAROID, n);
		col_init(&us, TEXTOID, n);
		col_init(&urs, TEXTOID, n);
		col_init(&usa, TIMESTAMPTZOID, n);
		col_init(&uea, TIMESTAMPTZOID, n);
		col_init(&uua, TIMESTAMPTZOID, n);
		col_init(&uem, TEXTOID, n);
		col_init(&upe, TEXTOID, n);
		col_init(&ud, JSONBOID, n);
		col_init(&tid, INT8OID, n);
		col_init(&cj, INT4OID, n);
		col_init(&ce, TEXTOID, n);
		col_init(&dj, INT4OID, n);
		col_init(&dd, DATEOID, n);
		col_init(&kj, INT4OID, 2 * n);
		col_init(&ke, TEXTOID, 2 * n);

		for (i = 0; i < n; i++)
		{
			Pending    *p = live[i];
			RunRecord  *r = p->rec;

			if (!p->exists)
			{
				ingest_supersede_keys(&kj, &ke, p->job->job_id, r);
				ins[nins++] = p;
				col_add(&dj, Int32GetDatum(p->job->job_id), false);
				col_add(&dd, DateADTGetDatum(r->business_date), false);
				if (st->source == SRC_GLUE)
				{
					col_add(&cj, Int32GetDatum(p->job->job_id), false);
					col_text(&ce, r->external_id);
				}
				st->inserted++;
				continue;
			}

			r = merge_versions(p->job, st->source, p->stored, r);
			/* the job's rule may have changed since: check the date it gives now */
			if (r->bd_source == BD_RULE && r->business_date != p->stored->business_date)
			{
				RecordError err = {0};

				if (!ingest_check_business_date(p->job, r, &err))
				{
					ingest_store_reject(st, &err, p->raw, NULL, 0, p->index, p->rec->path, p->sys);
					continue;
				}
			}
			if (row_differs(r, p->stored))
			{
				ingest_supersede_keys(&kj, &ke, p->job->job_id, r);
				col_add(&uid, Int64GetDatum(p->run_id), false);
				col_add(&ubd, DateADTGetDatum(r->business_date), false);
				col_add(&ubs, CharGetDatum(r->bd_source), false);
				col_text(&us, run_state_name(r->state));
				col_text(&urs, r->raw_state);
				col_add(&usa, TimestampTzGetDatum(r->started_at), !r->has_started);
				col_add(&uea, TimestampTzGetDatum(r->ended_at), !r->has_ended);
				col_add(&uua, TimestampTzGetDatum(r->updated_at), !r->has_updated);
				col_text(&uem, r->error_message);
				col_text(&upe, r->previous_external_id);
				col_add(&ud, JsonbPGetDatum(r->details), r->details == NULL);
				col_add(&dj, Int32GetDatum(p->job->job_id), false);
				col_add(&dd, DateADTGetDatum(r->business_date), false);
				if (p->stored->business_date != r->business_date)
				{
					col_add(&dj, Int32GetDatum(p->job->job_id), false);
					col_add(&dd, DateADTGetDatum(p->stored->business_date), false);
				}
				/* its retries follow a run whose date changed */
				if (st->source == SRC_GLUE &&
					(p->stored->business_date != r->business_date ||
					 p->stored->bd_source != r->bd_source))
				{
					p->bd_changed = true;
					col_add(&cj, Int32GetDatum(p->job->job_id), false);
					col_text(&ce, r->external_id);
				}
				st->updated++;
			}
			else
			{
				int64		age;

				/* a stored -infinity would overflow the subtraction: old enough */
				if (pg_sub_s64_overflow(st->now, p->last_seen, &age) ||
					age > (int64) kant_touch_interval_s * USECS_PER_SEC)
					col_add(&tid, Int64GetDatum(p->run_id), false);
				st->unchanged++;
			}
		}

		if (nins > 0)
			ingest_insert_runs(st, ins, nins);
		if (uid.n > 0)
		{
			Datum		args[13] = {col_array(&uid), col_array(&ubd), col_array(&ubs),
				col_array(&us), col_array(&urs), col_array(&usa), col_array(&uea),
				col_array(&uua), col_array(&uem), col_array(&upe), col_array(&ud),
			TimestampTzGetDatum(st->now), Int64GetDatum(st->batch_id)};

			ingest_spi_exec(ingest_plans.update, args, NULL, SPI_OK_UPDATE);
		}
		if (tid.n > 0)
		{
			Datum		args[2] = {col_array(&tid), TimestampTzGetDatum(st->now)};

			ingest_spi_exec(ingest_plans.touch, args, NULL, SPI_OK_UPDATE);
		}

		/*
		 * 6. Glue retry chains.  Seeds: new runs that are retries, new runs
		 * that a stored retry names as its predecessor (it arrived first),
		 * and runs whose business date an update changed.
		 */
		if (cj.n > 0)
		{
			Col			sj,
						se;

			col_init(&sj, INT4OID, cj.n);
			col_init(&se, TEXTOID, cj.n);
			for (i = 0; i < n; i++)
			{
				Pending    *p = live[i];

				if ((!p->exists || p->bd_changed) && p->rec->previous_external_id != NULL)
				{
					col_add(&sj, Int32GetDatum(p->job->job_id), false);
					col_text(&se, p->rec->external_id);
				}
			}
			ingest_find_named_predecessors(st, &cj, &ce, &sj, &se);
			if (sj.n > 0)
				ingest_fix_retry_chains(st, &sj, &se, &dj, &dd);
		}

		/*
		 * 7. The current attempt: superseded_at of every attempt of the runs
		 * written and of the runs they retry (kant._supersede, the rule's
		 * one home).  Skipped in a database not yet updated to 0.6.0.
		 */
		if (kj.n > 0 && st->rr.superseded_at != InvalidAttrNumber)
			(void) ingest_supersede_runs(&st->rr, &kj, &ke);
		mark_dirty(&dj, &dd);
	}

	st->npending = 0;
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->flush_cxt);
}

Datum
ingest_finish(IngestState *st, FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	HeapTuple	tuple;

	flush(st);
	ingest_log_batch(st);
	{
		Datum		args[6] = {Int64GetDatum(st->batch_id), Int32GetDatum(st->received),
			Int32GetDatum(st->inserted), Int32GetDatum(st->updated),
		Int32GetDatum(st->unchanged), Int32GetDatum(st->rejected)};

		ingest_spi_exec(ingest_plans.batch_finish, args, NULL, SPI_OK_UPDATE);
	}
	SPI_finish();

	if (st->rejected > kant_max_warnings)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("kant: %d %s records rejected in batch %lld (%d shown)",
						st->rejected, st->source_name, (long long) st->batch_id,
						kant_max_warnings),
				 errhint("SELECT * FROM kant.rejected WHERE %s = %lld;",
						 /* a record seen before keeps the batch of its first sighting */
						 (ingest_plans.columns & HAS_DEDUP_KEY) ? "last_batch_id" : "batch_id",
						 (long long) st->batch_id)));

	if (st->chain_loops > 0)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg_plural("kant: %d Glue run attempt in batch %lld did not take the business "
							   "date of the first run of its chain: its PreviousRunIds loop",
							   "kant: %d Glue run attempts in batch %lld did not take the business "
							   "date of the first run of their chain: their PreviousRunIds loop",
							   st->chain_loops, st->chain_loops, (long long) st->batch_id),
				 errdetail("One is %s: following PreviousRunId from it never reaches a "
						   "first run.", st->chain_loop_example),
				 errhint("A retry takes the business date of the run it retries; in a loop no "
						 "run has a date to pass on: an attempt in or below one takes the date "
						 "of its own start time.")));
	if (st->chain_deep > 0)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg_plural("kant: %d Glue run attempt in batch %lld did not take the business "
							   "date of the first run of its chain: it is more than %d retries "
							   "after that run",
							   "kant: %d Glue run attempts in batch %lld did not take the business "
							   "date of the first run of their chain: they are more than %d "
							   "retries after that run",
							   st->chain_deep, st->chain_deep, (long long) st->batch_id,
							   MAX_CHAIN_DEPTH),
				 errdetail("One is %s.", st->chain_deep_example),
				 errhint("kant passes a first run's business date down %d retries at most; "
						 "an attempt further down takes the date of its own start time.",
						 MAX_CHAIN_DEPTH)));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kant: ingest function must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(st->batch_id);
	values[1] = Int32GetDatum(st->received);
	values[2] = Int32GetDatum(st->inserted);
	values[3] = Int32GetDatum(st->updated);
	values[4] = Int32GetDatum(st->unchanged);
	values[5] = Int32GetDatum(st->rejected);
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextDelete(st->batch_cxt);
	return HeapTupleGetDatum(tuple);
}

/*
 * The body of every ingestion function: check the arguments, find the
 * records of the payload (jsonb or text), hand each to the source's parser,
 * and merge, skip or quarantine it.
 */
Datum
ingest_payload(FunctionCallInfo fcinfo, const IngestSpec *spec)
{
	bool		has_system = (spec->source != SRC_OPENLINEAGE);
	int			parg = has_system ? 1 : 0;
	char	   *system = NULL;
	struct varlena *payload;
	bool		is_jsonb;
	PayloadList pl;
	IngestState *st;

	if ((has_system && PG_ARGISNULL(0)) || PG_ARGISNULL(parg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null",
						(has_system && PG_ARGISNULL(0)) ? "system" : "payload"),
				 errhint("Call %s.", spec->usage)));
	if (has_system)
		system = text_to_cstring(PG_GETARG_TEXT_PP(0));
	payload = payload_arg(fcinfo, parg, spec->list_key, spec->single_key, spec->id_key,
						  spec->what, spec->hint, &pl, &is_jsonb);

	st = ingest_begin(spec->source, system, payload, is_jsonb);
	if (spec->prepare)
	{
		spec->prepare(st, &pl);
		payload_rewind(&pl);
	}
	for (;;)
	{
		/* in the flush context: ingest_add() etc. reset it every FLUSH_SIZE records */
		MemoryContext old = MemoryContextSwitchTo(ingest_record_context(st));
		RecordError err = {0};
		PayloadRecord rec;
		RunRecord  *r;
		RecordOutcome outcome;

		if (!payload_next(&pl, &rec, &err))
		{
			MemoryContextSwitchTo(old);
			break;
		}
		r = palloc0(sizeof(RunRecord));
		outcome = err.failed ? RECORD_REJECT : spec->parse(st, rec.value, rec.path, r, &err);
		if (outcome == RECORD_REJECT || err.failed)
			ingest_reject(st, &err, rec.value, rec.text, rec.len, rec.index, rec.path);
		else if (outcome == RECORD_SKIP)
			ingest_skip(st);
		else
			ingest_add(st, r, rec.value, rec.index);
		MemoryContextSwitchTo(old);
	}
	return ingest_finish(st, fcinfo);
}

