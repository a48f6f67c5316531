/*
 * ingest_write.c
 *	  kant.job_run read and written directly: the probe for the stored
 *	  version of each attempt (one unique-index lookup each), the insert of
 *	  new attempts (COPY's multi-insert path), and the rule of the current
 *	  attempt (superseded_at), for ingestion and for kant._supersede().
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "ingest_int.h"

/* ------------------------------------------------- direct index lookups */

static Oid
kant_relid(const char *name)
{
	Oid			oid = get_relname_relid(name, get_namespace_oid("kant", false));

	if (!OidIsValid(oid))
		elog(ERROR, "kant: relation kant.%s is missing; reinstall the extension", name);
	return oid;
}

static AttrNumber
kant_attnum(Oid relid, const char *name)
{
	AttrNumber	a = get_attnum(relid, name);

	if (a == InvalidAttrNumber)
		elog(ERROR, "kant: column kant.job_run.%s is missing; reinstall the extension", name);
	return a;
}

void
ingest_runrel_init(RunRel *r)
{
	r->relid = kant_relid("job_run");
	r->key_idx = kant_relid("job_run_key");
	r->prev_idx = kant_relid("job_run_previous_idx");
	r->run_id = kant_attnum(r->relid, "run_id");
	r->run_id_seq = getIdentitySequence(r->relid, r->run_id, false);
	r->job_id = kant_attnum(r->relid, "job_id");
	r->external_id = kant_attnum(r->relid, "external_id");
	r->attempt = kant_attnum(r->relid, "attempt");
	r->first_seen = kant_attnum(r->relid, "first_seen");
	r->batch_id = kant_attnum(r->relid, "batch_id");
	r->state = kant_attnum(r->relid, "state");
	r->raw_state = kant_attnum(r->relid, "raw_state");
	r->started_at = kant_attnum(r->relid, "started_at");
	r->ended_at = kant_attnum(r->relid, "ended_at");
	r->updated_at = kant_attnum(r->relid, "source_updated_at");
	r->error_message = kant_attnum(r->relid, "error_message");
	r->previous_external_id = kant_attnum(r->relid, "previous_external_id");
	r->business_date = kant_attnum(r->relid, "business_date");
	r->bd_source = kant_attnum(r->relid, "bd_source");
	r->details = kant_attnum(r->relid, "details");
	r->last_seen = kant_attnum(r->relid, "last_seen");
	/* a database not yet updated to 0.6.0 has no superseded_at */
	r->superseded_at = get_attnum(r->relid, "superseded_at");
}

static inline char *
slot_text(TupleTableSlot *slot, AttrNumber a)
{
	return slot->tts_isnull[a - 1] ? NULL : TextDatumGetCString(slot->tts_values[a - 1]);
}

static inline bool
slot_ts(TupleTableSlot *slot, AttrNumber a, TimestampTz *ts)
{
	if (slot->tts_isnull[a - 1])
	{
		*ts = 0;
		return false;
	}
	*ts = DatumGetTimestampTz(slot->tts_values[a - 1]);
	return true;
}

/* A stored kant.job_run row as a RunRecord (identity fields from p->rec). */
static RunRecord *
stored_record(RunRel *rr, TupleTableSlot *slot, Pending *p)
{
	RunRecord  *r = palloc(sizeof(RunRecord));

	slot_getallattrs(slot);
	*r = *p->rec;
	p->run_id = DatumGetInt64(slot->tts_values[rr->run_id - 1]);
	r->state = (RunState) DatumGetChar(slot->tts_values[rr->state - 1]);
	r->raw_state = slot_text(slot, rr->raw_state);
	r->has_started = slot_ts(slot, rr->started_at, &r->started_at);
	r->has_ended = slot_ts(slot, rr->ended_at, &r->ended_at);
	r->has_updated = slot_ts(slot, rr->updated_at, &r->updated_at);
	r->error_message = slot_text(slot, rr->error_message);
	r->previous_external_id = slot_text(slot, rr->previous_external_id);
	r->business_date = DatumGetDateADT(slot->tts_values[rr->business_date - 1]);
	r->bd_source = DatumGetChar(slot->tts_values[rr->bd_source - 1]);
	r->has_bd_basis = false;
	r->details = slot->tts_isnull[rr->details - 1] ? NULL :
		DatumGetJsonbPCopy(slot->tts_values[rr->details - 1]);
	r->arguments = NULL;
	p->last_seen = DatumGetTimestampTz(slot->tts_values[rr->last_seen - 1]);
	return r;
}

/*
 * A snapshot that sees what this call wrote so far and, in READ COMMITTED,
 * what other sessions committed before we got the system's lock: the same
 * rule SPI statements follow.
 */
static Snapshot
fresh_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
}

void
ingest_runscan_begin(RunScan *rs, RunRel *rr, Oid index, int nkeys)
{
	rs->rel = table_open(rr->relid, AccessShareLock);
	rs->idx = index_open(index, AccessShareLock);
	rs->snap = fresh_snapshot();
	rs->slot = table_slot_create(rs->rel, NULL);
	rs->scan = index_beginscan(rs->rel, rs->idx, rs->snap, nkeys, 0);
}

/* The first visible row with these keys, in rs->slot. */
bool
ingest_runscan_find(RunScan *rs, ScanKey keys, int nkeys)
{
	index_rescan(rs->scan, keys, nkeys, NULL, 0);
	return index_getnext_slot(rs->scan, ForwardScanDirection, rs->slot);
}

void
ingest_runscan_end(RunScan *rs)
{
	index_endscan(rs->scan);
	ExecDropSingleTupleTableSlot(rs->slot);
	UnregisterSnapshot(rs->snap);
	index_close(rs->idx, AccessShareLock);
	table_close(rs->rel, AccessShareLock);
}

/* Find the stored row of each live record: one unique-index probe each. */
void
ingest_probe_stored(IngestState *st, Pending **live, int n)
{
	RunScan		rs;
	ScanKeyData key[3];
	int			i;

	ingest_runscan_begin(&rs, &st->rr, st->rr.key_idx, 3);
	for (i = 0; i < n; i++)
	{
		Pending    *p = live[i];
		text	   *ext = cstring_to_text(p->rec->external_id);

		/* ScanKeyInit compares with the C collation, the column's */
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(p->job->job_id));
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(ext));
		ScanKeyInit(&key[2], 3, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(p->rec->attempt));
		if (ingest_runscan_find(&rs, key, 3))
		{
			p->exists = true;
			p->stored = stored_record(&st->rr, rs.slot, p);
		}
		pfree(ext);
	}
	ingest_runscan_end(&rs);
}

/* ------------------------------------------------------------- inserts */

/*
 * Insert new attempts.  The direct path is COPY's: one table_multi_insert()
 * per buffer, then index entries and AFTER ROW triggers (the foreign key
 * checks) for each row, through the executor's own routines, so constraints,
 * indexes and foreign keys hold exactly as for an INSERT.  A table someone
 * gave triggers of their own (or extra columns) takes the plain INSERT path.
 */
static void
insert_runs_spi(IngestState *st, Pending **ins, int n)
{
	Col			ij, ie, ia, ibd, ibs, is, irs, isa, iea, iua, iem, ipe, id;
	int			i;

	col_init(&ij, INT4OID, n);
	col_init(&ie, TEXTOID, n);
	col_init(&ia, INT4OID, n);
	col_init(&ibd, DATEOID, n);
	col_init(&ibs, CHAROID, n);
	col_init(&is, TEXTOID, n);
	col_init(&irs, TEXTOID, n);
	col_init(&isa, TIMESTAMPTZOID, n);
	col_init(&iea, TIMESTAMPTZOID, n);
	col_init(&iua, TIMESTAMPTZOID, n);
	col_init(&iem, TEXTOID, n);
	col_init(&ipe, TEXTOID, n);
	col_init(&id, JSONBOID, n);
	for (i = 0; i < n; i++)
	{
		RunRecord  *r = ins[i]->rec;

		col_add(&ij, Int32GetDatum(ins[i]->job->job_id), false);
		col_text(&ie, r->external_id);
		col_add(&ia, Int32GetDatum(r->attempt), false);
		col_add(&ibd, DateADTGetDatum(r->business_date), false);
		col_add(&ibs, CharGetDatum(r->bd_source), false);
		col_text(&is, run_state_name(r->state));
		col_text(&irs, r->raw_state);
		col_add(&isa, TimestampTzGetDatum(r->started_at), !r->has_started);
		col_add(&iea, TimestampTzGetDatum(r->ended_at), !r->has_ended);
		col_add(&iua, TimestampTzGetDatum(r->updated_at), !r->has_updated);
		col_text(&iem, r->error_message);
		col_text(&ipe, r->previous_external_id);
		col_add(&id, JsonbPGetDatum(r->details), r->details == NULL);
	}
	{
		Datum		args[15] = {col_array(&ij), col_array(&ie), col_array(&ia),
			col_array(&ibd), col_array(&ibs), col_array(&is), col_array(&irs),
			col_array(&isa), col_array(&iea), col_array(&iua), col_array(&iem),
			col_array(&ipe), col_array(&id), TimestampTzGetDatum(st->now),
		Int64GetDatum(st->batch_id)};

		ingest_spi_exec(ingest_plans.insert, args, NULL, SPI_OK_INSERT);
	}
}

/* Only kant's own columns and only internal (foreign key) triggers? */
static bool
direct_insert_ok(RunRel *rr, ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i,
				live = 0;

	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	if (live != RUNREL_COLUMNS + (rr->superseded_at != InvalidAttrNumber ? 1 : 0))
		return false;
	if (rri->ri_TrigDesc)
		for (i = 0; i < rri->ri_TrigDesc->numtriggers; i++)
			if (!rri->ri_TrigDesc->triggers[i].tgisinternal)
				return false;
	return true;
}

void
ingest_insert_runs(IngestState *st, Pending **ins, int n)
{
	RunRel	   *rr = &st->rr;
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	Relation	rel;
	TupleTableSlot **slots;
	BulkInsertState bistate;
	CommandId	cid;
	int			i;

	rte->rtekind = RTE_RELATION;
	rte->relid = rr->relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(estate, list_make1(rte));
	ExecInitResultRelation(estate, rri, 1);
	rel = rri->ri_RelationDesc;
	CheckValidResultRel(rri, CMD_INSERT);

	if (!direct_insert_ok(rr, rri))
	{
		ExecCloseResultRelations(estate);
		ExecCloseRangeTableRelations(estate);
		FreeExecutorState(estate);
		insert_runs_spi(st, ins, n);
		return;
	}

	ExecOpenIndices(rri, false);
	AfterTriggerBeginQuery();
	cid = GetCurrentCommandId(true);
	bistate = GetBulkInsertState();
	slots = palloc(sizeof(TupleTableSlot *) * n);
	for (i = 0; i < n; i++)
	{
		RunRecord  *r = ins[i]->rec;
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		Datum	   *v = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;

		ExecClearTuple(slot);
		memset(isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
#define SET(att, val, null) do { v[(att) - 1] = (val); isnull[(att) - 1] = (null); } while (0)
		SET(rr->run_id, Int64GetDatum(nextval_internal(rr->run_id_seq, false)), false);
		SET(rr->job_id, Int32GetDatum(ins[i]->job->job_id), false);
		SET(rr->external_id, CStringGetTextDatum(r->external_id), false);
		SET(rr->attempt, Int32GetDatum(r->attempt), false);
		SET(rr->business_date, DateADTGetDatum(r->business_date), false);
		SET(rr->bd_source, CharGetDatum(r->bd_source), false);
		SET(rr->state, CharGetDatum((char) r->state), false);
		SET(rr->raw_state, CStringGetTextDatum(r->raw_state), false);
		SET(rr->started_at, TimestampTzGetDatum(r->started_at), !r->has_started);
		SET(rr->ended_at, TimestampTzGetDatum(r->ended_at), !r->has_ended);
		SET(rr->updated_at, TimestampTzGetDatum(r->updated_at), !r->has_updated);
		SET(rr->error_message, r->error_message ? CStringGetTextDatum(r->error_message) : 0,
			r->error_message == NULL);
		SET(rr->previous_external_id, r->previous_external_id ?
			CStringGetTextDatum(r->previous_external_id) : 0, r->previous_external_id == NULL);
		SET(rr->details, PointerGetDatum(r->details), r->details == NULL);
		SET(rr->first_seen, TimestampTzGetDatum(st->now), false);
		SET(rr->last_seen, TimestampTzGetDatum(st->now), false);
		SET(rr->batch_id, Int64GetDatum(st->batch_id), false);
#undef SET
		ExecStoreVirtualTuple(slot);
		if (rel->rd_att->constr)
			ExecConstraints(rri, slot, estate);
		slots[i] = slot;
	}
	table_multi_insert(rel, slots, n, cid, 0, bistate);
	for (i = 0; i < n; i++)
	{
		List	   *recheck = ExecInsertIndexTuples(rri, slots[i], estate, false, false,
													NULL, NIL);

		ExecARInsertTriggers(estate, rri, slots[i], recheck, NULL);
		list_free(recheck);
		ResetPerTupleExprContext(estate);
	}
	FreeBulkInsertState(bistate);
	table_finish_bulk_insert(rel, 0);
	/* the foreign key checks fire here */
	AfterTriggerEndQuery(estate);
	for (i = 0; i < n; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	ExecResetTupleTable(estate->es_tupleTable, false);	/* trigger slots */
	ExecCloseResultRelations(estate);	/* closes the indices too */
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
	CommandCounterIncrement();
}

/* ------------------------------------------------- the current attempt */

/*
 * The rule of the current attempt (sql/src/rules.sql names it; this is its
 * one home): an attempt is superseded by a later attempt of the same run
 * (Airflow's next try_number, Glue's Attempt) and by a retry that names its
 * run (Glue's PreviousRunId), from when the first of those began
 * (kant._began: its start, or when kant first saw it).  For each run (job_id, external_id)
 * given, set job_run.superseded_at of every attempt to that, NULL when none:
 * two index scans per run, one UPDATE by run_id for what changed.  Ingestion
 * calls it for every attempt it writes and the run it retries; the upgrade to
 * 0.6.0 for every run that has a retry or a later attempt.  Returns the
 * attempts changed.
 */
typedef struct RunAttempt
{
	int64		run_id;
	int32		attempt;
	TimestampTz started;		/* kant._began: start, else first seen */
	bool		was_null;
	TimestampTz was;
} RunAttempt;

static int
attempt_desc(const void *a, const void *b)
{
	int32		x = ((const RunAttempt *) a)->attempt;
	int32		y = ((const RunAttempt *) b)->attempt;

	return (x < y) - (x > y);
}

/*
 * When an attempt began (kant._began): its start, or when kant first saw it
 * when the scheduler gave none (a cleared task queued again).
 */
static TimestampTz
slot_started(RunRel *rr, TupleTableSlot *slot)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, rr->started_at, &isnull);

	if (isnull)
		d = slot_getattr(slot, rr->first_seen, &isnull);
	return isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
}

/* (job_id, external_id) order, to visit each run once however often it is named */
typedef struct RunKey
{
	int32		job_id;
	text	   *external_id;
} RunKey;

static int
runkey_cmp(const void *a, const void *b)
{
	const RunKey *x = a;
	const RunKey *y = b;
	int			lx,
				ly,
				c;

	if (x->job_id != y->job_id)
		return x->job_id < y->job_id ? -1 : 1;
	lx = VARSIZE_ANY_EXHDR(x->external_id);
	ly = VARSIZE_ANY_EXHDR(y->external_id);
	c = memcmp(VARDATA_ANY(x->external_id), VARDATA_ANY(y->external_id), Min(lx, ly));
	return c != 0 ? c : (lx > ly) - (lx < ly);
}

int64
ingest_supersede_runs(RunRel *rr, Col *kj, Col *ke)
{
	RunScan		rs,
				ps;
	ScanKeyData key[2];
	Col			uid,
				uat;
	RunAttempt *att = NULL;
	int			cap = 0;
	int			i;
	int64		changed = 0;

	RunKey	   *keys;
	int			nkeys = 0;

	/*
	 * Each run once: a payload of many attempts of one run names it once per
	 * attempt, and every visit reads all its attempts.
	 */
	keys = palloc(sizeof(RunKey) * Max(kj->n, 1));
	for (i = 0; i < kj->n; i++)
	{
		keys[i].job_id = DatumGetInt32(kj->values[i]);
		keys[i].external_id = DatumGetTextPP(ke->values[i]);
	}
	qsort(keys, kj->n, sizeof(RunKey), runkey_cmp);
	for (i = 0; i < kj->n; i++)
		if (nkeys == 0 || runkey_cmp(&keys[nkeys - 1], &keys[i]) != 0)
			keys[nkeys++] = keys[i];

	col_init(&uid, INT8OID, 16);
	col_init(&uat, TIMESTAMPTZOID, 16);
	ingest_runscan_begin(&rs, rr, rr->key_idx, 2);
	ingest_runscan_begin(&ps, rr, rr->prev_idx, 2);
	for (i = 0; i < nkeys; i++)
	{
		int			n = 0,
					k;
		bool		have_retry = false;
		TimestampTz retry = 0;
		bool		have_later = false;
		TimestampTz later = 0;

		CHECK_FOR_INTERRUPTS();
		/* ScanKeyInit compares with the C collation, the column's */
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(keys[i].job_id));
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(keys[i].external_id));
		index_rescan(rs.scan, key, 2, NULL, 0);
		while (index_getnext_slot(rs.scan, ForwardScanDirection, rs.slot))
		{
			bool		isnull;
			Datum		d;

			if (n == cap)
			{
				cap = cap ? cap * 2 : 8;
				att = att ? repalloc(att, sizeof(RunAttempt) * cap) : palloc(sizeof(RunAttempt) * cap);
			}
			att[n].run_id = DatumGetInt64(slot_getattr(rs.slot, rr->run_id, &isnull));
			att[n].attempt = DatumGetInt32(slot_getattr(rs.slot, rr->attempt, &isnull));
			att[n].started = slot_started(rr, rs.slot);
			d = slot_getattr(rs.slot, rr->superseded_at, &att[n].was_null);
			att[n].was = att[n].was_null ? 0 : DatumGetTimestampTz(d);
			n++;
		}
		if (n == 0)
			continue;
		index_rescan(ps.scan, key, 2, NULL, 0);
		while (index_getnext_slot(ps.scan, ForwardScanDirection, ps.slot))
		{
			TimestampTz s = slot_started(rr, ps.slot);

			if (!have_retry || s < retry)
				retry = s;
			have_retry = true;
		}
		/* from the last attempt down: each is superseded by the ones after it */
		qsort(att, n, sizeof(RunAttempt), attempt_desc);
		for (k = 0; k < n; k++)
		{
			bool		is_null = !have_retry && !have_later;
			TimestampTz at = 0;

			if (!is_null)
				at = !have_later ? retry : !have_retry ? later : Min(retry, later);
			if (is_null != att[k].was_null || (!is_null && at != att[k].was))
			{
				col_add(&uid, Int64GetDatum(att[k].run_id), false);
				col_add(&uat, TimestampTzGetDatum(at), is_null);
			}
			if (!have_later || att[k].started < later)
				later = att[k].started;
			have_later = true;
		}
	}
	ingest_runscan_end(&ps);
	ingest_runscan_end(&rs);
	if (uid.n > 0)
	{
		Datum		args[2] = {col_array(&uid), col_array(&uat)};

		if (ingest_plans.supersede == NULL)
		{
			Oid			t[] = {T_INT8A, T_TSTZA};

			ingest_plans.supersede = ingest_prepare("UPDATE kant.job_run o SET superseded_at = u.at"
								   " FROM unnest($1, $2) AS u(run_id, at) WHERE o.run_id = u.run_id",
								   2, t, true);
		}
		ingest_spi_exec(ingest_plans.supersede, args, NULL, SPI_OK_UPDATE);
		changed = uid.n;
	}
	return changed;
}

/* The run of an attempt written, and the run it retries. */
void
ingest_supersede_keys(Col *kj, Col *ke, int32 job_id, RunRecord *r)
{
	col_add(kj, Int32GetDatum(job_id), false);
	col_text(ke, r->external_id);
	if (r->previous_external_id != NULL)
	{
		col_add(kj, Int32GetDatum(job_id), false);
		col_text(ke, r->previous_external_id);
	}
}

/*
 * kant._supersede(job_ids, external_ids): ingest_supersede_runs() for SQL (the
 * upgrade to 0.6.0 sets superseded_at of the runs stored before it).
 */
PG_FUNCTION_INFO_V1(kant_supersede);
Datum
kant_supersede(PG_FUNCTION_ARGS)
{
	ArrayType  *jobs = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *jv,
			   *iv;
	bool	   *jn,
			   *in;
	int			nj,
				ni,
				i;
	Col			kj,
				ke;
	RunRel		rr;
	int64		changed;

	deconstruct_array(jobs, INT4OID, 4, true, TYPALIGN_INT, &jv, &jn, &nj);
	deconstruct_array(ids, TEXTOID, -1, false, TYPALIGN_INT, &iv, &in, &ni);
	if (nj != ni)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("job_ids and external_ids must have the same length")));
	col_init(&kj, INT4OID, Max(nj, 1));
	col_init(&ke, TEXTOID, Max(nj, 1));
	for (i = 0; i < nj; i++)
		if (!jn[i] && !in[i])
		{
			col_add(&kj, jv[i], false);
			col_add(&ke, iv[i], false);
		}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	ingest_runrel_init(&rr);
	if (rr.superseded_at == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kant.job_run has no column superseded_at"),
				 errhint("ALTER EXTENSION kant UPDATE;")));
	changed = ingest_supersede_runs(&rr, &kj, &ke);
	SPI_finish();
	PG_RETURN_INT64(changed);
}
