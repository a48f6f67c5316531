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
 * Concurrency: each call takes a transaction-level advisory lock per system
 * (in name order when a payload spans systems), so two sessions ingesting
 * overlapping payloads serialise per system instead of racing on the unique
 * key; in READ COMMITTED each SPI statement takes a fresh snapshot, so the
 * second session sees what the first committed.
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
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "kant.h"
#include "locks.h"

#define FLUSH_SIZE		500
#define FLUSH_BYTES		(64 * 1024 * 1024)	/* and at most this much record data */
#define MAX_NAME_LEN	1000

/* ------------------------------------------------------------------ types */

typedef struct SystemInfo
{
	char		name[MAX_NAME_LEN + 1];	/* hash key */
	int32		system_id;
	char	   *kind;
	pg_tz	   *tz;
	char	   *bd_argument;
	int32		bd_offset_days;
	int64		bd_day_start;	/* microseconds after local midnight */
	bool		locked;
} SystemInfo;

typedef struct JobKey
{
	int32		system_id;
	char		name[MAX_NAME_LEN + 1];
} JobKey;

typedef struct JobInfo
{
	JobKey		key;
	int32		job_id;
	SystemInfo *sys;
	char	   *bd_argument;	/* effective: job's, else system's */
	int32		bd_offset_days;
	int64		bd_day_start;
} JobInfo;

typedef struct Pending
{
	RunRecord  *rec;
	JobInfo    *job;
	SystemInfo *sys;
	JsonbValue *raw;			/* the source record, for quarantine */
	int			index;
	bool		folded;			/* merged into an earlier pending record */
	bool		exists;
	bool		bd_changed;		/* an update gave it another business date */
	int64		run_id;
	RunRecord  *stored;			/* the row as it is in kant.job_run */
	TimestampTz last_seen;
} Pending;

/*
 * kant.job_run's relation, indexes and column numbers, looked up by name
 * once per call (an upgrade may move columns; names stay).
 */
typedef struct RunRel
{
	Oid			relid;
	Oid			key_idx;		/* UNIQUE (job_id, external_id, attempt) */
	Oid			prev_idx;		/* (job_id, previous_external_id) partial */
	Oid			run_id_seq;
	AttrNumber	run_id,
				job_id,
				external_id,
				attempt,
				first_seen,
				batch_id,
				state,
				raw_state,
				started_at,
				ended_at,
				updated_at,
				error_message,
				previous_external_id,
				business_date,
				bd_source,
				details,
				last_seen,
				superseded_at;	/* 0.6.0 on; InvalidAttrNumber before */
} RunRel;

#define RUNREL_COLUMNS 17		/* the columns of kant.job_run before 0.6.0 */

struct IngestState
{
	IngestSource source;
	const char *source_name;
	MemoryContext batch_cxt;
	MemoryContext flush_cxt;
	HTAB	   *systems;
	HTAB	   *jobs;
	SystemInfo *system;			/* the system of the record being read */
	bool		multi_system;	/* the payload spans systems (OpenLineage) */
	int64		batch_id;
	TimestampTz now;
	int			received;
	int			inserted;
	int			updated;
	int			unchanged;
	int			rejected;
	Pending    *pending;
	int			npending;
	int			since_flush;	/* records read since the flush context was reset */
	int64		pending_bytes;	/* about how much the pending records hold */
	bool		batch_logged;
	int			chain_loops;	/* attempts whose retry chain loops */
	int			chain_deep;		/* ... or is too long to pass a date down */
	char	   *chain_loop_example;
	char	   *chain_deep_example;
	struct varlena *payload;
	bool		payload_is_jsonb;
	RunRel		rr;
};

/* ------------------------------------------------------------- SPI plans */

/*
 * Plans are prepared once per backend and kept.  They name kant's relations
 * by schema-qualified name, so a re-created extension is picked up by plan
 * revalidation; the extension OID check below also drops them in that case.
 */
static Oid	plans_ext_oid = InvalidOid;
static int	plans_columns = -1;	/* which 0.6.0 columns the plans write */

#define HAS_RECORD_TEXT		0x01	/* kant.rejected.record_text */
#define HAS_PAYLOAD_TEXT	0x02	/* kant.ingest_batch.payload_text */
#define HAS_DEDUP_KEY		0x04	/* kant.rejected.dedup_key, times_seen, ... */
static SPIPlanPtr plan_insert;
static SPIPlanPtr plan_update;
static SPIPlanPtr plan_touch;
static SPIPlanPtr plan_reject;
static SPIPlanPtr plan_batch_insert;
static SPIPlanPtr plan_batch_finish;
static SPIPlanPtr plan_system_get;
static SPIPlanPtr plan_system_get_ol;
static SPIPlanPtr plan_system_register;
static SPIPlanPtr plan_job_get;
static SPIPlanPtr plan_job_register;
static SPIPlanPtr plan_chain_set;
static SPIPlanPtr plan_supersede;
static SPIPlanPtr plan_dirty;		/* NULL until kant.slo_dirty exists (0.3.0) */

/*
 * custom: plan at every execution.  A generic plan made while job_run is
 * small would keep a sequential scan of it while one call grows it by
 * millions of rows; statements that look rows up in job_run by key are
 * either direct index scans (probe_stored, has_successor) or custom plans.
 */
static SPIPlanPtr
prepare_opt(const char *sql, int nargs, Oid *types, bool custom)
{
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types,
									   custom ? CURSOR_OPT_CUSTOM_PLAN : 0);

	if (p == NULL)
		elog(ERROR, "kant: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "kant: SPI_keepplan failed");
	return p;
}

#define prepare_plan(sql, n, t) prepare_opt(sql, n, t, false)

#define T_INT4A INT4ARRAYOID
#define T_INT8A INT8ARRAYOID
#define T_TEXTA TEXTARRAYOID
#define T_DATEA DATEARRAYOID
#define T_CHARA CHARARRAYOID
#define T_TSTZA TIMESTAMPTZARRAYOID
#define T_JSONBA JSONBARRAYOID

static void
free_plans(void)
{
	SPIPlanPtr *all[] = {&plan_insert, &plan_update, &plan_touch,
		&plan_reject, &plan_batch_insert, &plan_batch_finish, &plan_system_get,
		&plan_system_get_ol, &plan_system_register, &plan_job_get,
		&plan_job_register, &plan_chain_set, &plan_dirty, &plan_supersede};
	int			i;

	for (i = 0; i < (int) lengthof(all); i++)
	{
		if (*all[i])
			SPI_freeplan(*all[i]);
		*all[i] = NULL;
	}
}

/*
 * The columns 0.6.0 added, looked up at every call: the module serves older
 * installations too, and ALTER EXTENSION UPDATE adds them under a live
 * backend.
 */
static int
kant_columns(void)
{
	Oid			ns = get_namespace_oid("kant", false);
	Oid			rejected = get_relname_relid("rejected", ns);
	Oid			batch = get_relname_relid("ingest_batch", ns);
	int			cols = 0;

	if (OidIsValid(rejected) && get_attnum(rejected, "record_text") != InvalidAttrNumber)
		cols |= HAS_RECORD_TEXT;
	if (OidIsValid(rejected) && get_attnum(rejected, "dedup_key") != InvalidAttrNumber)
		cols |= HAS_DEDUP_KEY;
	if (OidIsValid(batch) && get_attnum(batch, "payload_text") != InvalidAttrNumber)
		cols |= HAS_PAYLOAD_TEXT;
	return cols;
}

static void
prepare_plans(void)
{
	Oid			ext = get_extension_oid("kant", false);
	int			cols = kant_columns();

	if (ext == plans_ext_oid && cols == plans_columns && plan_insert != NULL)
		return;
	free_plans();

	{
		Oid			t[] = {T_INT4A, T_TEXTA, T_INT4A, T_DATEA, T_CHARA, T_TEXTA, T_TEXTA,
		T_TSTZA, T_TSTZA, T_TSTZA, T_TEXTA, T_TEXTA, T_JSONBA, TIMESTAMPTZOID, INT8OID};

		plan_insert = prepare_plan(
			"INSERT INTO kant.job_run (job_id, external_id, attempt, business_date,"
			" bd_source, state, raw_state, started_at, ended_at, source_updated_at,"
			" error_message, previous_external_id, details, first_seen, last_seen, batch_id)"
			" SELECT u.j, u.e, u.a, u.bd, u.bs, u.s::kant.run_state, u.rs, u.sa, u.ea, u.ua,"
			" u.em, u.pe, u.d, $14, $14, $15"
			" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
			" AS u(j, e, a, bd, bs, s, rs, sa, ea, ua, em, pe, d)", 15, t);
	}
	{
		Oid			t[] = {T_INT8A, T_DATEA, T_CHARA, T_TEXTA, T_TEXTA, T_TSTZA, T_TSTZA,
		T_TSTZA, T_TEXTA, T_TEXTA, T_JSONBA, TIMESTAMPTZOID, INT8OID};

		plan_update = prepare_opt(
			"UPDATE kant.job_run r SET business_date = u.bd, bd_source = u.bs,"
			" state = u.s::kant.run_state, raw_state = u.rs, started_at = u.sa,"
			" ended_at = u.ea, source_updated_at = u.ua, error_message = u.em,"
			" previous_external_id = u.pe, details = u.d, last_seen = $12, batch_id = $13"
			" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
			" AS u(id, bd, bs, s, rs, sa, ea, ua, em, pe, d)"
			" WHERE r.run_id = u.id", 13, t, true);
	}
	{
		Oid			t[] = {T_INT8A, TIMESTAMPTZOID};

		plan_touch = prepare_opt(
			"UPDATE kant.job_run SET last_seen = $2 WHERE run_id = ANY ($1)", 2, t, true);
	}
	{
		Oid			t[] = {INT8OID, INT4OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, JSONBOID, TEXTOID, BYTEAOID, BYTEAOID, TIMESTAMPTZOID};

		/*
		 * $11: the text of a record jsonb cannot hold; $12, $13: its hash and
		 * the key of the rejection: the same one again counts on its row;
		 * $14: when, once for rejected_at and last_seen_at (0.6.0)
		 */
		if (cols & HAS_DEDUP_KEY)
			plan_reject = prepare_plan(
				"INSERT INTO kant.rejected AS x (batch_id, system_id, source, item_index,"
				" item_path, sqlstate, reason, hint, field, record, record_text,"
				" record_sha256, dedup_key, last_batch_id, rejected_at, last_seen_at)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $1, $14, $14)"
				" ON CONFLICT (dedup_key) DO UPDATE SET times_seen = x.times_seen + 1,"
				" last_seen_at = excluded.last_seen_at, last_batch_id = excluded.last_batch_id"
				" RETURNING x.rejected_id, x.batch_id, x.times_seen", 14, t);
		else
			plan_reject = prepare_plan((cols & HAS_RECORD_TEXT) ?
				"INSERT INTO kant.rejected (batch_id, system_id, source, item_index, item_path,"
				" sqlstate, reason, hint, field, record, record_text)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)" :
				"INSERT INTO kant.rejected (batch_id, system_id, source, item_index, item_path,"
				" sqlstate, reason, hint, field, record)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				(cols & HAS_RECORD_TEXT) ? 11 : 10, t);
	}
	{
		Oid			t[] = {TEXTOID, INT4OID, TIMESTAMPTZOID, INT8OID, BYTEAOID, JSONBOID,
		TEXTOID};

		/* $7: a text payload kept as text; the sender is the role after SET ROLE (0.6.0) */
		plan_batch_insert = prepare_plan((cols & HAS_PAYLOAD_TEXT) ?
			"INSERT INTO kant.ingest_batch (source, system_id, received_at, received_by,"
			" payload_bytes, payload_sha256, payload, payload_text)"
			" VALUES ($1, $2, $3, pg_catalog.pg_get_userbyid(kant._outer_role()), $4, $5, $6, $7) RETURNING batch_id" :
			"INSERT INTO kant.ingest_batch (source, system_id, received_at, received_by,"
			" payload_bytes, payload_sha256, payload)"
			" VALUES ($1, $2, $3, session_user, $4, $5, $6) RETURNING batch_id",
			(cols & HAS_PAYLOAD_TEXT) ? 7 : 6, t);
	}
	{
		Oid			t[] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID};

		plan_batch_finish = prepare_plan(
			"UPDATE kant.ingest_batch SET finished_at = clock_timestamp(), received = $2,"
			" inserted = $3, updated = $4, unchanged = $5, rejected = $6"
			" WHERE batch_id = $1", 6, t);
	}
	{
		Oid			t[] = {TEXTOID};

		plan_system_get = prepare_plan(
			"SELECT system_id, kind, time_zone, bd_argument, bd_offset_days, bd_day_start"
			" FROM kant.system WHERE name = $1", 1, t);
		plan_system_get_ol = prepare_plan(
			"SELECT system_id, kind, time_zone, bd_argument, bd_offset_days, bd_day_start, name"
			" FROM kant.system WHERE ol_namespace = $1"
			" OR (name = $1 AND NOT EXISTS (SELECT FROM kant.system WHERE ol_namespace = $1))",
			1, t);
	}
	{
		Oid			t[] = {TEXTOID, TEXTOID, TEXTOID};

		plan_system_register = prepare_plan(
			"INSERT INTO kant.system (name, kind, time_zone, auto_registered)"
			" VALUES ($1, $2, $3, true) ON CONFLICT (name) DO NOTHING", 3, t);
	}
	{
		Oid			t[] = {INT4OID, TEXTOID};

		plan_job_get = prepare_plan(
			"SELECT job_id, bd_argument, bd_offset_days, bd_day_start"
			" FROM kant.job WHERE system_id = $1 AND name = $2", 2, t);
	}
	{
		Oid			t[] = {INT4OID, TEXTOID, TEXTOID, TEXTOID};

		plan_job_register = prepare_plan(
			"INSERT INTO kant.job (system_id, name, dag_id, task_id, pipeline, auto_registered)"
			" SELECT $1, $2, $3, $4, s.default_pipeline, true FROM kant.system s"
			" WHERE s.system_id = $1 ON CONFLICT (system_id, name) DO NOTHING", 4, t);
	}
	{
		Oid			t[] = {T_INT8A, T_DATEA, T_CHARA};

		/*
		 * retries that take the date of the run they retry, or of their own
		 * start when their chain loops or is too long (fix_retry_chains)
		 */
		plan_chain_set = prepare_opt(
			"UPDATE kant.job_run r SET business_date = u.bd, bd_source = u.bs"
			" FROM unnest($1, $2, $3) AS u(id, bd, bs) WHERE r.run_id = u.id", 3, t, true);
	}
	plans_ext_oid = ext;
	plans_columns = cols;
}

/*
 * Execute a kept plan.  SPI leaves CurrentMemoryContext at its procedure
 * context, which lives until SPI_finish; switch back so that per-flush
 * allocations stay in the flush context and a huge payload does not pile up.
 */
static void
spi_exec(SPIPlanPtr plan, Datum *values, const char *nulls, int expect)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	MemoryContextSwitchTo(cxt);
	if (rc != expect)
		elog(ERROR, "kant: SPI_execute_plan returned %s", SPI_result_code_string(rc));
}

/* ------------------------------------------------------ column builders */

typedef struct Col
{
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *values;
	bool	   *nulls;
	int			n;
	int			cap;
} Col;

static void
col_init(Col *c, Oid elemtype, int cap)
{
	c->elemtype = elemtype;
	get_typlenbyvalalign(elemtype, &c->typlen, &c->typbyval, &c->typalign);
	c->values = palloc(sizeof(Datum) * Max(cap, 1));
	c->nulls = palloc(sizeof(bool) * Max(cap, 1));
	c->n = 0;
	c->cap = Max(cap, 1);
}

static inline void
col_add(Col *c, Datum v, bool isnull)
{
	if (c->n == c->cap)
	{
		c->cap *= 2;
		c->values = repalloc(c->values, sizeof(Datum) * c->cap);
		c->nulls = repalloc(c->nulls, sizeof(bool) * c->cap);
	}
	c->values[c->n] = v;
	c->nulls[c->n] = isnull;
	c->n++;
}

static inline void
col_text(Col *c, const char *s)
{
	col_add(c, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

static Datum
col_array(Col *c)
{
	int			dims[1] = {c->n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(c->values, c->nulls, 1, dims, lbs,
											  c->elemtype, c->typlen, c->typbyval,
											  c->typalign));
}

/* ------------------------------------------------------------- systems */

static void
fill_system(IngestState *st, SystemInfo *sys, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	char	   *tzname;

	sys->system_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	sys->kind = MemoryContextStrdup(st->batch_cxt, SPI_getvalue(tup, desc, 2));
	tzname = SPI_getvalue(tup, desc, 3);
	sys->tz = kant_zone(tzname);
	if (sys->tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("system \"%s\" has an unknown time zone \"%s\"", sys->name, tzname),
				 errhint("Set a valid IANA zone with kant.alter_system().")));
	sys->bd_argument = SPI_getvalue(tup, desc, 4);
	if (sys->bd_argument)
		sys->bd_argument = MemoryContextStrdup(st->batch_cxt, sys->bd_argument);
	sys->bd_offset_days = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	sys->bd_day_start = DatumGetTimeADT(SPI_getbinval(tup, desc, 6, &isnull));
}

static const char *
source_kind(IngestSource source)
{
	switch (source)
	{
		case SRC_GLUE:
			return "glue";
		case SRC_AIRFLOW:
			return "airflow";
		case SRC_OPENLINEAGE:
			return "openlineage";
		case SRC_REPORT:
			return "manual";
	}
	return "manual";
}

/* The system argument: the hash key and the column bound its length. */
static void
check_name(const char *name)
{
	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("system name must not be empty"),
				 errhint("Pass the system name kant knows the scheduler by, e.g. 'hegel'.")));
	if (strlen(name) > MAX_NAME_LEN)
		name_check_system_argument(name);
}

static void
lock_system(SystemInfo *sys)
{
	LOCKTAG		tag;

	if (sys->locked)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, KANT_LOCK_INGEST, (uint32) sys->system_id, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	sys->locked = true;
}

/*
 * Find a system by name (or, for OpenLineage, by namespace), registering it
 * when first seen.  A name that kant.system could not hold as it is (see
 * name_problem) is registered never: with err, the record is quarantined
 * (NULL returned); without, the call fails.  An existing system is found
 * whatever its name: an administrator chose it.
 */
static SystemInfo *
get_system(IngestState *st, const char *name, const char *field, RecordError *err)
{
	SystemInfo *sys;
	bool		found;
	int			attempt;
	bool		ol = (st->source == SRC_OPENLINEAGE);

	if (err == NULL)
		check_name(name);
	sys = hash_search(st->systems, name, HASH_ENTER, &found);
	if (found)
		return sys;
	sys->system_id = 0;
	sys->locked = false;

	for (attempt = 0; attempt < 2; attempt++)
	{
		Datum		arg[1] = {CStringGetTextDatum(name)};

		spi_exec(ol ? plan_system_get_ol : plan_system_get, arg, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			fill_system(st, sys, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		if (attempt == 0)
		{
			Datum		rargs[3] = {CStringGetTextDatum(name),
				CStringGetTextDatum(source_kind(st->source)),
			CStringGetTextDatum(kant_default_time_zone)};
			int			sqlstate;
			const char *why = name_problem(name, strlen(name), NAME_SYSTEM, &sqlstate);

			if (why != NULL && err != NULL)
			{
				hash_search(st->systems, name, HASH_REMOVE, NULL);
				json_fail(err, sqlstate, field, name_rule_hint(NAME_SYSTEM),
						  "namespace \"%s\" is no system's, and kant cannot register it: "
						  "the name %s", json_clip_text(name, strlen(name), 64), why);
				return NULL;
			}
			if (why != NULL)
				ereport(ERROR,
						(errcode(sqlstate),
						 errmsg("system \"%s\" does not exist, and kant cannot register it: "
								"the name %s", name, why),
						 errhint("%s", name_rule_hint(NAME_SYSTEM))));
			spi_exec(plan_system_register, rargs, NULL, SPI_OK_INSERT);
			if (SPI_processed > 0)
				ereport(NOTICE,
						(errmsg("kant: registered new %s system \"%s\" with time zone %s",
								source_kind(st->source), name, kant_default_time_zone),
						 errhint("Business dates derive from the system's time zone: set it "
								 "with kant.alter_system('%s', time_zone => '...').", name)));
		}
	}
	if (sys->system_id == 0)
		elog(ERROR, "kant: could not register system \"%s\"", name);

	/* A Glue payload for an Airflow system is a caller's mistake worth stopping. */
	if ((st->source == SRC_GLUE || st->source == SRC_AIRFLOW) &&
		strcmp(sys->kind, source_kind(st->source)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("system \"%s\" is of kind %s, not %s", name, sys->kind,
						source_kind(st->source)),
				 errhint("Pass a system of kind %s, or ingest this payload with the "
						 "function for %s systems.", source_kind(st->source), sys->kind)));
	return sys;
}

/*
 * The system of the records that follow.  With err (a record's namespace),
 * false when the record names a system kant cannot register: err says why.
 */
bool
ingest_set_system(IngestState *st, const char *system_name, const char *field,
				  RecordError *err)
{
	if (system_name == NULL)
	{
		st->system = NULL;
		return true;
	}
	st->system = get_system(st, system_name, field, err);
	if (st->system == NULL)
		return false;
	lock_system(st->system);
	return true;
}

static int
cmp_cstr(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * Lock every system a multi-system payload touches, in name order, before
 * writing anything: two sessions then can not deadlock on each other.
 */
void
ingest_lock_systems(IngestState *st, List *system_names)
{
	List	   *sorted = list_copy(system_names);
	List	   *systems = NIL;
	ListCell   *lc;

	list_sort(sorted, cmp_cstr);
	foreach(lc, sorted)
	{
		RecordError err = {0};
		SystemInfo *sys = get_system(st, (char *) lfirst(lc), "$", &err);

		/* a namespace kant cannot register: its records are quarantined later */
		if (sys != NULL)
			systems = lappend(systems, sys);
	}
	st->multi_system = list_length(systems) > 1;
	/* lock in system_id order so that the order is the same in every session */
	foreach(lc, systems)
	{
		SystemInfo *a = lfirst(lc);
		ListCell   *lc2;
		SystemInfo *min = a;

		foreach(lc2, systems)
		{
			SystemInfo *b = lfirst(lc2);

			if (!b->locked && (min->locked || b->system_id < min->system_id))
				min = b;
		}
		lock_system(min);
	}
}

/* ---------------------------------------------------------------- jobs */

static JobInfo *
get_job(IngestState *st, SystemInfo *sys, RunRecord *rec)
{
	JobKey		key;
	JobInfo    *job;
	bool		found;
	int			attempt;

	memset(&key, 0, sizeof(key));
	key.system_id = sys->system_id;
	strlcpy(key.name, rec->job_name, sizeof(key.name));
	job = hash_search(st->jobs, &key, HASH_ENTER, &found);
	if (found)
		return job;
	job->job_id = 0;
	job->sys = sys;

	for (attempt = 0; attempt < 2; attempt++)
	{
		Datum		args[2] = {Int32GetDatum(sys->system_id), CStringGetTextDatum(rec->job_name)};

		spi_exec(plan_job_get, args, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *arg;
			Datum		d;

			job->job_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			arg = SPI_getvalue(tup, desc, 2);
			job->bd_argument = arg ? MemoryContextStrdup(st->batch_cxt, arg) : sys->bd_argument;
			d = SPI_getbinval(tup, desc, 3, &isnull);
			job->bd_offset_days = isnull ? sys->bd_offset_days : DatumGetInt32(d);
			d = SPI_getbinval(tup, desc, 4, &isnull);
			job->bd_day_start = isnull ? sys->bd_day_start : DatumGetTimeADT(d);
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		if (attempt == 0)
		{
			Datum		rargs[4] = {Int32GetDatum(sys->system_id),
				CStringGetTextDatum(rec->job_name),
				rec->dag_id ? CStringGetTextDatum(rec->dag_id) : (Datum) 0,
			rec->task_id ? CStringGetTextDatum(rec->task_id) : (Datum) 0};
			char		nulls[4] = {' ', ' ', rec->dag_id ? ' ' : 'n', rec->task_id ? ' ' : 'n'};

			spi_exec(plan_job_register, rargs, nulls, SPI_OK_INSERT);
		}
	}
	if (job->job_id == 0)
		elog(ERROR, "kant: could not register job \"%s\"", rec->job_name);
	return job;
}

/* ------------------------------------------------------- business dates */

/* The local calendar date of ts in tz, after moving the day boundary. */
static DateADT
local_date(TimestampTz ts, pg_tz *tz, int64 day_start, int32 offset_days)
{
	return (DateADT) (kant_floor_days(kant_local_time(ts, tz) - day_start) + offset_days);
}

/*
 * The timestamps the start-time rule may take, in its order of preference,
 * as each source names them (for messages).  Airflow records always carry
 * their logical date; an OpenLineage event has one eventTime.
 */
static const char *const basis_keys[][3] = {
	[SRC_GLUE] = {"StartedOn", "CompletedOn", "LastModifiedOn"},
	[SRC_AIRFLOW] = {"start_date", "end_date", "start_date"},
	[SRC_OPENLINEAGE] = {"eventTime", "eventTime", "eventTime"},
	[SRC_REPORT] = {"started_at", "ended_at", "updated_at"},
};

/* The timestamp a derived business date is computed from, and its key. */
static bool
bd_basis(RunRecord *r, TimestampTz *ts, int *which)
{
	*which = 0;
	if (r->has_bd_basis)
		*ts = r->bd_basis;
	else if (r->has_started)
		*ts = r->started_at;
	else if (r->has_ended)
	{
		*ts = r->ended_at;
		*which = 1;
	}
	else if (r->has_updated)
	{
		*ts = r->updated_at;
		*which = 2;
	}
	else
		return false;
	return true;
}

/* Does the record as it arrived carry timestamp which (of bd_basis) as ts? */
static bool
carries_basis(RunRecord *given, int which, TimestampTz ts)
{
	switch (which)
	{
		case 0:
			return given->has_started && given->started_at == ts;
		case 1:
			return given->has_ended && given->ended_at == ts;
		default:
			return given->has_updated && given->updated_at == ts;
	}
}

/*
 * The start-time rule: the job's day boundary and offset, in its system's
 * zone.  given is the record as it arrived when r merges it with the stored
 * row: a timestamp it does not carry is named as the stored one, not as a
 * field of the record.
 */
static bool
rule_date(JobInfo *job, IngestSource source, RunRecord *r, RunRecord *given)
{
	TimestampTz ts;
	int			which;

	r->has_bd_basis = false;
	if (!bd_basis(r, &ts, &which))
		return false;
	r->business_date = local_date(ts, job->sys->tz, job->bd_day_start, job->bd_offset_days);
	r->bd_source = BD_RULE;
	if (given == NULL || carries_basis(given, which, ts))
	{
		r->bd_field = json_path_key(r->path, basis_keys[source][which]);
		r->bd_stored_key = NULL;
	}
	else
	{
		r->bd_field = NULL;
		r->bd_stored_key = basis_keys[source][which];
	}
	return true;
}

static char *
iso_date(DateADT d)
{
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return psprintf("%04d-%02d-%02d", y, m, day);
}

/*
 * The one range check of business dates, whatever gave or derived them: a
 * given date, a Glue argument, an Airflow logical date, an OpenLineage
 * nominal time or the start-time rule.  json_date_in_range is the range
 * kant accepts dates and timestamps in; a timestamp inside it can still
 * make a date outside it (a zone east of UTC, bd_offset_days).
 */
static bool
check_business_date(JobInfo *job, RunRecord *r, RecordError *err)
{
	const char *tz = pg_get_timezone_name(job->sys->tz);
	const char *field = r->bd_field ? r->bd_field : r->path;
	char	   *how;

	if (json_date_in_range(r->business_date))
		return true;
	switch (r->bd_source)
	{
		case BD_REPORTED:
			how = psprintf("given in %s", field);
			break;
		case BD_ARGUMENT:
			how = psprintf("given by the job argument \"%s\" in %s", job->bd_argument, field);
			break;
		case BD_LOGICAL:
		case BD_NOMINAL:
			how = psprintf("derived from %s in time zone %s", field, tz);
			break;
		default:
			how = psprintf("derived from %s%s by the start-time rule (time zone %s, "
						   "day start %02d:%02d, offset %d day%s)",
						   r->bd_stored_key ? r->bd_stored_key : field,
						   r->bd_stored_key ? " as kant stored it for the attempt" : "", tz,
						   (int) (job->bd_day_start / USECS_PER_HOUR),
						   (int) (job->bd_day_start / USECS_PER_MINUTE % 60),
						   job->bd_offset_days, abs(job->bd_offset_days) == 1 ? "" : "s");
			break;
	}
	json_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, field,
			  "kant accepts business dates from 1900 to 9999.",
			  "business date %s %s is out of the range kant accepts",
			  iso_date(r->business_date), how);
	return false;
}

/*
 * Settle a record's business date.  Explicit sources already have it or
 * have an explicit timestamp; Glue runs take the job's argument when it is
 * configured and present, else the job's rule on the start time.  Every
 * date, however it came, is then checked against the same range.
 */
static bool
resolve_business_date(JobInfo *job, IngestSource source, RunRecord *r, RecordError *err)
{
	switch (r->bd_source)
	{
		case BD_REPORTED:
		case BD_ARGUMENT:
			return check_business_date(job, r, err);
		case BD_LOGICAL:
		case BD_NOMINAL:
			r->business_date = local_date(r->bd_basis, job->sys->tz, 0, 0);
			return check_business_date(job, r, err);
		default:
			break;
	}

	if (r->arguments != NULL && job->bd_argument != NULL)
	{
		JsonbValue	buf;
		JsonbValue *v = json_get(r->arguments, job->bd_argument, &buf);

		if (v != NULL)
		{
			char	   *field = json_path_key(psprintf("%s.Arguments", r->path),
											  job->bd_argument);

			if (v->type != jbvString ||
				!json_parse_iso_date(v->val.string.val, v->val.string.len, &r->business_date))
			{
				json_fail(err, ERRCODE_INVALID_DATETIME_FORMAT, field,
						  "The job's business-date argument must hold a date such as "
						  "2024-11-24 or 20241124 (see kant.configure_job).",
						  "business date argument \"%s\" is not a date: %s",
						  job->bd_argument,
						  v->type == jbvString ?
						  psprintf("\"%s\"", json_clip_text(v->val.string.val, v->val.string.len, 64)) :
						  json_type_name(v));
				return false;
			}
			r->bd_source = BD_ARGUMENT;
			r->bd_field = field;
			return check_business_date(job, r, err);
		}
	}

	if (!rule_date(job, source, r, NULL))
	{
		json_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, r->path,
				  "kant derives a business date from the run's start time "
				  "(or a configured job argument); the record has neither.",
				  "cannot derive a business date: the record has no timestamp");
		return false;
	}
	return check_business_date(job, r, err);
}

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
			(void) rule_date(job, source, m, incoming);
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

static void runrel_init(RunRel *r);

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
	st->source_name = (source == SRC_REPORT) ? "report" : source_kind(source);
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
	prepare_plans();
	runrel_init(&st->rr);

	if (system_name != NULL)
		(void) ingest_set_system(st, system_name, NULL, NULL);
	return st;
}

/* The batch row is written lazily, after the systems are known and locked. */
static void
log_batch(IngestState *st)
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
		else if (kant_keep_payloads && (plans_columns & HAS_PAYLOAD_TEXT))
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
	spi_exec(plan_batch_insert, args, nulls, SPI_OK_INSERT_RETURNING);
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

static void
sha256_of(const void *data, size_t len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "kant: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

static bytea *
digest_bytea(const uint8 *digest)
{
	bytea	   *b = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(b, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(b), digest, PG_SHA256_DIGEST_LENGTH);
	return b;
}

/*
 * s with the record's own path (its place in the payload: $.JobRuns[7]) put
 * as "@": the same record at another place of another page is the same
 * rejection.
 */
static void
append_relative(StringInfo buf, const char *s, const char *rec_path)
{
	size_t		n = rec_path ? strlen(rec_path) : 0;
	const char *hit;

	appendStringInfo(buf, "%zu:", strlen(s));
	while (n > 1 && (hit = strstr(s, rec_path)) != NULL)
	{
		appendBinaryStringInfo(buf, s, hit - s);
		appendStringInfoChar(buf, '@');
		s = hit + n;
	}
	appendStringInfoString(buf, s);
	appendStringInfoChar(buf, '\n');
}

/*
 * Quarantine a record in kant.rejected.  From 0.6.0 a rejection has a key
 * (system, source, the record's SHA-256, SQLSTATE, field and reason relative
 * to the record): the same record rejected again for the same reason, as a
 * collector reading an overlapping window brings it, counts on the row of
 * its first sighting instead of making another.
 */
static void
store_reject(IngestState *st, RecordError *err, JsonbValue *raw, const char *raw_text,
			 int raw_len, int index, const char *rec_path, SystemInfo *sys)
{
	Datum		args[14];
	char		nulls[14] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n', 'n', 'n', ' '};
	char	   *path = err->field ? err->field : "$";
	const char *sqlstate = unpack_sql_state(err->sqlstate);
	bool		dedup = (plans_columns & HAS_DEDUP_KEY) != 0;
	int64		first_batch = 0;
	int64		rejected_id = 0;
	int32		times_seen = 1;

	log_batch(st);
	st->rejected++;
	args[0] = Int64GetDatum(st->batch_id);
	if (sys)
		args[1] = Int32GetDatum(sys->system_id);
	else
		nulls[1] = 'n';
	args[2] = CStringGetTextDatum(st->source_name);
	args[3] = Int32GetDatum(index);
	args[4] = CStringGetTextDatum(path);
	args[5] = CStringGetTextDatum(sqlstate);
	args[6] = CStringGetTextDatum(err->message);
	if (err->hint)
		args[7] = CStringGetTextDatum(err->hint);
	else
		nulls[7] = 'n';
	args[8] = CStringGetTextDatum(path);
	if (raw)
		args[9] = JsonbPGetDatum(JsonbValueToJsonb(raw));
	else
		nulls[9] = 'n';
	if (raw == NULL && raw_text != NULL)
	{
		args[10] = PointerGetDatum(cstring_to_text_with_len(raw_text, raw_len));
		nulls[10] = ' ';
	}
	if (dedup)
	{
		uint8		record_hash[PG_SHA256_DIGEST_LENGTH];
		uint8		key[PG_SHA256_DIGEST_LENGTH];
		StringInfoData k;

		/* the record as kept: the text of its jsonb (as record::text), else its text */
		memset(record_hash, 0, sizeof(record_hash));
		if (raw)
		{
			Jsonb	   *jb = DatumGetJsonbP(args[9]);
			char	   *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

			sha256_of(text, strlen(text), record_hash);
		}
		else if (raw_text != NULL)
			sha256_of(raw_text, raw_len, record_hash);
		if (raw || raw_text != NULL)
		{
			args[11] = PointerGetDatum(digest_bytea(record_hash));
			nulls[11] = ' ';
		}

		initStringInfo(&k);
		appendStringInfo(&k, "%d\n%s\n%s\n", sys ? sys->system_id : 0, st->source_name,
						 sqlstate);
		append_relative(&k, path, rec_path);
		append_relative(&k, err->message, rec_path);
		appendBinaryStringInfo(&k, (char *) record_hash, sizeof(record_hash));
		sha256_of(k.data, k.len, key);
		args[12] = PointerGetDatum(digest_bytea(key));
		nulls[12] = ' ';
		args[13] = TimestampTzGetDatum(GetCurrentTimestamp());

		/*
		 * Rejections without a system are keyed across every system's lock:
		 * they take one lock of their own, so that two payloads bringing the
		 * same two in opposite orders wait instead of deadlocking.
		 */
		if (sys == NULL)
		{
			LOCKTAG		tag;

			SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, KANT_LOCK_INGEST, 0, 2);
			(void) LockAcquire(&tag, ExclusiveLock, false, false);
		}
		spi_exec(plan_reject, args, nulls, SPI_OK_INSERT_RETURNING);
		if (SPI_processed == 1)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			rejected_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			first_batch = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			times_seen = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	else
		spi_exec(plan_reject, args, nulls, SPI_OK_INSERT);

	if (st->rejected <= kant_max_warnings)
	{
		if (times_seen > 1)
			ereport(WARNING,
					(errcode(err->sqlstate),
					 errmsg("kant: rejected %s record at %s: %s", st->source_name, path,
							err->message),
					 errdetail("kant.rejected holds it already (rejected_id %lld, first in "
							   "batch %lld) and counts it again: seen %d times; the other "
							   "records of the payload are ingested.",
							   (long long) rejected_id, (long long) first_batch, times_seen),
					 err->hint ? errhint("%s", err->hint) : 0));
		else
			ereport(WARNING,
					(errcode(err->sqlstate),
					 errmsg("kant: rejected %s record at %s: %s", st->source_name, path,
							err->message),
					 errdetail("The record is kept in kant.rejected (batch %lld); the other "
							   "records of the payload are ingested.",
							   (long long) st->batch_id),
					 err->hint ? errhint("%s", err->hint) : 0));
	}
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
	store_reject(st, err, raw, raw_text, raw_len, index, path, st->system);
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

static void
runrel_init(RunRel *r)
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

/* An index scan on kant.job_run, rescanned once per key. */
typedef struct RunScan
{
	Relation	rel;
	Relation	idx;
	Snapshot	snap;
	TupleTableSlot *slot;
	IndexScanDesc scan;
} RunScan;

static void
runscan_begin(RunScan *rs, RunRel *rr, Oid index, int nkeys)
{
	rs->rel = table_open(rr->relid, AccessShareLock);
	rs->idx = index_open(index, AccessShareLock);
	rs->snap = fresh_snapshot();
	rs->slot = table_slot_create(rs->rel, NULL);
	rs->scan = index_beginscan(rs->rel, rs->idx, rs->snap, nkeys, 0);
}

/* The first visible row with these keys, in rs->slot. */
static bool
runscan_find(RunScan *rs, ScanKey keys, int nkeys)
{
	index_rescan(rs->scan, keys, nkeys, NULL, 0);
	return index_getnext_slot(rs->scan, ForwardScanDirection, rs->slot);
}

static void
runscan_end(RunScan *rs)
{
	index_endscan(rs->scan);
	ExecDropSingleTupleTableSlot(rs->slot);
	UnregisterSnapshot(rs->snap);
	index_close(rs->idx, AccessShareLock);
	table_close(rs->rel, AccessShareLock);
}

/* Find the stored row of each live record: one unique-index probe each. */
static void
probe_stored(IngestState *st, Pending **live, int n)
{
	RunScan		rs;
	ScanKeyData key[3];
	int			i;

	runscan_begin(&rs, &st->rr, st->rr.key_idx, 3);
	for (i = 0; i < n; i++)
	{
		Pending    *p = live[i];
		text	   *ext = cstring_to_text(p->rec->external_id);

		/* ScanKeyInit compares with the C collation, the column's */
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(p->job->job_id));
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(ext));
		ScanKeyInit(&key[2], 3, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(p->rec->attempt));
		if (runscan_find(&rs, key, 3))
		{
			p->exists = true;
			p->stored = stored_record(&st->rr, rs.slot, p);
		}
		pfree(ext);
	}
	runscan_end(&rs);
}

/*
 * Which of these new Glue runs does an already stored retry name as its
 * PreviousRunId (the retry arrived first)?  Probes the small partial index.
 */
static void
find_named_predecessors(IngestState *st, Col *jobs, Col *ids, Col *seed_jobs, Col *seed_ids)
{
	RunScan		rs;
	ScanKeyData key[2];
	int			i;

	runscan_begin(&rs, &st->rr, st->rr.prev_idx, 2);
	for (i = 0; i < jobs->n; i++)
	{
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, jobs->values[i]);
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, ids->values[i]);
		if (runscan_find(&rs, key, 2))
		{
			col_add(seed_jobs, jobs->values[i], false);
			col_add(seed_ids, ids->values[i], false);
		}
	}
	runscan_end(&rs);
}

/* ------------------------------------------------------- retry chains */

/*
 * A Glue retry names the run it retries (PreviousRunId; StartJobRun's
 * JobRunId for a retry by hand) and takes that run's business date, which
 * that run may have taken from the one before it, and so on up to the
 * chain's first run.  Real chains are a few runs (a job's MaxRetries, some
 * retries by hand); past MAX_CHAIN_DEPTH retries a run takes the date of its
 * own start (the job's rule), and so does a run whose PreviousRunIds loop,
 * whatever date an earlier, shorter view of its chain gave it: the outcome
 * does not depend on the order the runs arrived in.
 *
 * The walk visits each run once per flush, whatever the number of attempts
 * and the arrival order: up from a run to the first run of its chain
 * (remembering every run's date and depth on the way), and down from the
 * seeds (new retries, runs a new run is the predecessor of, runs whose date
 * changed) through their retries, breadth first, MAX_CHAIN_DEPTH + 1 runs
 * deep: a run further below every seed was more than MAX_CHAIN_DEPTH runs
 * below its chain's first run before (the retry of a new seed was a first
 * run then), and had the date of its own start already.  So a chain
 * arriving retries first, a flush at a time, costs each flush the runs it
 * brings and MAX_CHAIN_DEPTH more.  A run of several attempts takes its predecessor and
 * the date it passes on from its first attempt; each attempt with a derived
 * date takes the date of the run it names.
 */
#define MAX_CHAIN_DEPTH 1000

typedef struct ChainKey
{
	int32		job_id;
	const char *id;
} ChainKey;

typedef enum ChainStatus
{
	CHAIN_UNKNOWN,				/* not walked yet */
	CHAIN_WALKING,				/* on the walk in progress */
	CHAIN_DATED,				/* date and depth known */
	CHAIN_ABSENT,				/* no such run is stored */
	CHAIN_LOOP,					/* its PreviousRunIds lead into a loop */
	CHAIN_TOO_DEEP				/* more than MAX_CHAIN_DEPTH runs after its first */
} ChainStatus;

typedef struct ChainRun
{
	ChainKey	key;
	ChainStatus status;
	bool		loaded;
	bool		exists;
	bool		inherits;		/* its first attempt takes its date from prev */
	char	   *prev;			/* its first attempt's PreviousRunId */
	DateADT		own;			/* its first attempt's stored business date */
	DateADT		date;			/* the date its retries take (CHAIN_DATED) */
	int			depth;			/* runs before it in its chain (CHAIN_DATED) */
	bool		queued;			/* on the walk down */
	int			below;			/* ... this many runs below the nearest seed */
} ChainRun;

/* One attempt of a run on the walk down. */
typedef struct ChainAttempt
{
	int64		run_id;
	char	   *prev;
	char		bd_source;
	DateADT		business_date;
	bool		has_basis;		/* a timestamp for the job's rule (bd_basis) */
	TimestampTz basis;
} ChainAttempt;

typedef struct ChainWalk
{
	IngestState *st;
	HTAB	   *runs;
	RunScan		byid;			/* the attempts of a run */
	RunScan		byprev;			/* the retries of a run */
	ChainRun  **stack;
	int			loops;			/* attempts left alone: their chain loops */
	int			deep;			/* ... or is too long */
	ChainRun   *loop_example;
	ChainRun   *deep_example;
	JobInfo    *job;			/* the job of the last own_date() */
} ChainWalk;

static uint32
chain_hash(const void *key, Size keysize)
{
	const ChainKey *k = key;

	return hash_combine(hash_bytes_uint32((uint32) k->job_id),
						hash_bytes((const unsigned char *) k->id, strlen(k->id)));
}

static int
chain_match(const void *a, const void *b, Size keysize)
{
	const ChainKey *x = a;
	const ChainKey *y = b;

	return (x->job_id == y->job_id && strcmp(x->id, y->id) == 0) ? 0 : 1;
}

static ChainRun *
chain_get(ChainWalk *cw, int32 job_id, const char *id)
{
	ChainKey	key = {job_id, id};
	bool		found;
	ChainRun   *r = hash_search(cw->runs, &key, HASH_ENTER, &found);

	if (!found)
	{
		r->key.id = pstrdup(id);
		r->status = CHAIN_UNKNOWN;
		r->loaded = r->exists = r->inherits = r->queued = false;
		r->prev = NULL;
	}
	return r;
}

/* Position cw->byid on the attempts of a run, first attempt first. */
static void
chain_scan_attempts(ChainWalk *cw, int32 job_id, const char *id, text **ext)
{
	ScanKeyData key[2];

	*ext = cstring_to_text(id);
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(job_id));
	ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(*ext));
	index_rescan(cw->byid.scan, key, 2, NULL, 0);
}

static void
chain_read_attempt(ChainWalk *cw, ChainAttempt *a)
{
	RunRel	   *rr = &cw->st->rr;
	TupleTableSlot *slot = cw->byid.slot;
	bool		isnull;
	Datum		d;

	a->run_id = DatumGetInt64(slot_getattr(slot, rr->run_id, &isnull));
	d = slot_getattr(slot, rr->previous_external_id, &isnull);
	a->prev = isnull ? NULL : TextDatumGetCString(d);
	a->bd_source = DatumGetChar(slot_getattr(slot, rr->bd_source, &isnull));
	a->business_date = DatumGetDateADT(slot_getattr(slot, rr->business_date, &isnull));
	/* the start-time rule's order of preference (bd_basis) */
	a->has_basis = false;
	d = slot_getattr(slot, rr->started_at, &isnull);
	if (isnull)
		d = slot_getattr(slot, rr->ended_at, &isnull);
	if (isnull)
		d = slot_getattr(slot, rr->updated_at, &isnull);
	if (!isnull)
	{
		a->has_basis = true;
		a->basis = DatumGetTimestampTz(d);
	}
}

static inline bool
bd_derived(char bd_source)
{
	return bd_source == BD_RULE || bd_source == BD_INHERITED;
}

static void
chain_load(ChainWalk *cw, ChainRun *r)
{
	text	   *ext;

	if (r->loaded)
		return;
	r->loaded = true;
	chain_scan_attempts(cw, r->key.job_id, r->key.id, &ext);
	if (index_getnext_slot(cw->byid.scan, ForwardScanDirection, cw->byid.slot))
	{
		ChainAttempt a;

		chain_read_attempt(cw, &a);
		r->exists = true;
		r->prev = a.prev;
		r->own = a.business_date;
		r->inherits = a.prev != NULL && bd_derived(a.bd_source);
	}
	pfree(ext);
}

/*
 * The date a run passes on to its retries, and its depth: walk up to the
 * first run of its chain, or to a run already known, then set every run on
 * the way.  A walk ends after 2 * MAX_CHAIN_DEPTH + 1 runs: the first half
 * of them are then too deep, the rest are left for another walk.
 */
static void
chain_resolve(ChainWalk *cw, ChainRun *run)
{
	ChainRun   *cur = run;
	ChainStatus end;
	DateADT		date = 0;
	int			depth = 0;
	int			n = 0;
	int			i;
	bool		overflow = false;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (cur->status == CHAIN_WALKING)
		{
			end = CHAIN_LOOP;
			break;
		}
		if (cur->status != CHAIN_UNKNOWN)
		{
			end = cur->status;
			date = cur->date;
			depth = cur->depth;
			break;
		}
		chain_load(cw, cur);
		if (!cur->exists)
		{
			cur->status = end = CHAIN_ABSENT;
			break;
		}
		if (!cur->inherits)
		{
			/* the first run of its chain: its own date */
			cur->status = end = CHAIN_DATED;
			cur->date = date = cur->own;
			cur->depth = depth = 0;
			break;
		}
		if (n == 2 * MAX_CHAIN_DEPTH + 1)
		{
			overflow = true;
			end = CHAIN_TOO_DEEP;
			break;
		}
		cw->stack[n++] = cur;
		cur->status = CHAIN_WALKING;
		cur = chain_get(cw, cur->key.job_id, cur->prev);
	}

	/* the last run on the way names a run not stored: it is the first */
	if (end == CHAIN_ABSENT && n > 0)
	{
		ChainRun   *first = cw->stack[--n];

		first->status = end = CHAIN_DATED;
		first->date = date = first->own;
		first->depth = depth = 0;
	}
	for (i = n - 1; i >= 0; i--)
	{
		ChainRun   *r = cw->stack[i];

		if (overflow)
			/* stack[i] has at least 2 * MAX_CHAIN_DEPTH - i runs before it */
			r->status = (i < MAX_CHAIN_DEPTH) ? CHAIN_TOO_DEEP : CHAIN_UNKNOWN;
		else if (end == CHAIN_DATED)
		{
			r->depth = ++depth;
			r->date = date;
			r->status = (depth > MAX_CHAIN_DEPTH) ? CHAIN_TOO_DEEP : CHAIN_DATED;
		}
		else
			r->status = end;	/* behind a loop or a chain too long */
	}
}

/* A job of this call by id: every chain walked is a job of its records. */
static JobInfo *
job_by_id(IngestState *st, int32 job_id)
{
	HASH_SEQ_STATUS hs;
	JobInfo    *job;

	hash_seq_init(&hs, st->jobs);
	while ((job = hash_seq_search(&hs)) != NULL)
	{
		if (job->job_id == job_id)
		{
			hash_seq_term(&hs);
			return job;
		}
	}
	return NULL;
}

/*
 * The date of an attempt's own start by its job's rule, for an attempt that
 * cannot take its chain's date; false when there is none to give.
 */
static bool
own_date(ChainWalk *cw, int32 job_id, ChainAttempt *a, DateADT *date)
{
	JobInfo    *job = cw->job;

	if (!a->has_basis)
		return false;
	if (job == NULL || job->job_id != job_id)
		job = cw->job = job_by_id(cw->st, job_id);
	if (job == NULL)
		return false;
	*date = local_date(a->basis, job->sys->tz, job->bd_day_start, job->bd_offset_days);
	/* the job's rule may have moved since the attempt was stored */
	return json_date_in_range(*date);
}

/* The runs a chain left alone, for the warnings at the end of the call. */
static char *
chain_run_name(IngestState *st, ChainRun *r)
{
	JobInfo    *job = job_by_id(st, r->key.job_id);

	return MemoryContextStrdup(st->batch_cxt,
							   psprintf("run \"%s\" of job \"%s\"", r->key.id,
										job ? job->key.name : "?"));
}

static void
chain_note(IngestState *st, ChainWalk *cw)
{
	if (cw->loops > 0 && st->chain_loops == 0)
		st->chain_loop_example = chain_run_name(st, cw->loop_example);
	if (cw->deep > 0 && st->chain_deep == 0)
		st->chain_deep_example = chain_run_name(st, cw->deep_example);
	st->chain_loops += cw->loops;
	st->chain_deep += cw->deep;
}

/*
 * Give the retries among the seeds and below them the business date of the
 * run they retry (or of their own start, past a loop or MAX_CHAIN_DEPTH);
 * the (job, date) pairs changed go to dj, dd.
 */
static void
fix_retry_chains(IngestState *st, Col *sj, Col *se, Col *dj, Col *dd)
{
	ChainWalk	cw;
	HASHCTL		ctl;
	ChainRun  **queue;
	int			nqueue = 0;
	int			qcap = Max(sj->n, 16);
	int			head;
	int			i;
	Col			uid,
				ubd,
				ubs;

	memset(&cw, 0, sizeof(cw));
	cw.st = st;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ChainKey);
	ctl.entrysize = sizeof(ChainRun);
	ctl.hash = chain_hash;
	ctl.match = chain_match;
	ctl.hcxt = CurrentMemoryContext;
	cw.runs = hash_create("kant retry chains", Max(sj->n, 16), &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	cw.stack = palloc(sizeof(ChainRun *) * (2 * MAX_CHAIN_DEPTH + 2));
	queue = palloc(sizeof(ChainRun *) * qcap);
	col_init(&uid, INT8OID, sj->n);
	col_init(&ubd, DATEOID, sj->n);
	col_init(&ubs, CHAROID, sj->n);
	runscan_begin(&cw.byid, &st->rr, st->rr.key_idx, 2);
	runscan_begin(&cw.byprev, &st->rr, st->rr.prev_idx, 2);

	for (i = 0; i < sj->n; i++)
	{
		ChainRun   *r = chain_get(&cw, DatumGetInt32(sj->values[i]),
								  TextDatumGetCString(se->values[i]));

		if (!r->queued)
		{
			r->queued = true;
			r->below = 0;
			if (nqueue == qcap)
				queue = repalloc(queue, sizeof(ChainRun *) * (qcap *= 2));
			queue[nqueue++] = r;
		}
	}

	for (head = 0; head < nqueue; head++)
	{
		ChainRun   *run = queue[head];
		int32		job_id = run->key.job_id;
		ChainAttempt *att = NULL;
		int			natt = 0;
		int			acap = 0;
		text	   *ext;
		ScanKeyData key[2];

		CHECK_FOR_INTERRUPTS();

		/* its attempts, read whole first: resolving reuses the scan */
		chain_scan_attempts(&cw, job_id, run->key.id, &ext);
		while (index_getnext_slot(cw.byid.scan, ForwardScanDirection, cw.byid.slot))
		{
			if (natt == acap)
			{
				acap = Max(4, acap * 2);
				att = att ? repalloc(att, sizeof(ChainAttempt) * acap) :
					palloc(sizeof(ChainAttempt) * acap);
			}
			chain_read_attempt(&cw, &att[natt++]);
		}
		pfree(ext);
		for (i = 0; i < natt; i++)
		{
			ChainAttempt *a = &att[i];
			ChainRun   *prev;
			DateADT		date;
			char		source;

			if (a->prev == NULL || !bd_derived(a->bd_source))
				continue;
			prev = chain_get(&cw, job_id, a->prev);
			chain_resolve(&cw, prev);
			if (prev->status == CHAIN_ABSENT)
				continue;		/* it names a run not stored: it starts its chain */
			if (prev->status == CHAIN_DATED && prev->depth < MAX_CHAIN_DEPTH)
			{
				date = prev->date;
				source = BD_INHERITED;
			}
			else
			{
				/* a loop, or too far from the first run: its own start's date */
				if (prev->status == CHAIN_LOOP)
				{
					if (cw.loops++ == 0)
						cw.loop_example = run;
				}
				else if (cw.deep++ == 0)
					cw.deep_example = run;
				if (!own_date(&cw, job_id, a, &date))
					continue;
				source = BD_RULE;
			}
			if (a->business_date != date || a->bd_source != source)
			{
				col_add(&uid, Int64GetDatum(a->run_id), false);
				col_add(&ubd, DateADTGetDatum(date), false);
				col_add(&ubs, CharGetDatum(source), false);
				/* an attempt that moved changes both dates */
				col_add(dj, Int32GetDatum(job_id), false);
				col_add(dd, DateADTGetDatum(date), false);
				col_add(dj, Int32GetDatum(job_id), false);
				col_add(dd, DateADTGetDatum(a->business_date), false);
			}
		}

		/*
		 * its retries, also below a loop or past the depth (their dates
		 * follow), down to MAX_CHAIN_DEPTH + 1 runs below the seeds
		 */
		if (run->below > MAX_CHAIN_DEPTH)
			continue;
		ext = cstring_to_text(run->key.id);
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(job_id));
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(ext));
		index_rescan(cw.byprev.scan, key, 2, NULL, 0);
		while (index_getnext_slot(cw.byprev.scan, ForwardScanDirection, cw.byprev.slot))
		{
			bool		isnull;
			ChainRun   *r = chain_get(&cw, job_id,
									  TextDatumGetCString(slot_getattr(cw.byprev.slot,
																	   st->rr.external_id,
																	   &isnull)));

			if (!r->queued)
			{
				r->queued = true;
				r->below = run->below + 1;
				if (nqueue == qcap)
					queue = repalloc(queue, sizeof(ChainRun *) * (qcap *= 2));
				queue[nqueue++] = r;
			}
		}
		pfree(ext);
	}
	runscan_end(&cw.byprev);
	runscan_end(&cw.byid);

	if (uid.n > 0)
	{
		Datum		args[3] = {col_array(&uid), col_array(&ubd), col_array(&ubs)};

		spi_exec(plan_chain_set, args, NULL, SPI_OK_UPDATE);
	}
	chain_note(st, &cw);
}

/*
 * The rule of the current attempt (sql/src/rules.sql names it; this is its
 * one home): an attempt is superseded by a later attempt of the same run
 * (Airflow's next try_number, Glue's Attempt) and by a retry that names its
 * run (Glue's PreviousRunId), from when the first of those started
 * (-infinity when its start is unknown).  For each run (job_id, external_id)
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
	TimestampTz started;		/* DT_NOBEGIN when unknown */
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

static TimestampTz
slot_started(RunRel *rr, TupleTableSlot *slot)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, rr->started_at, &isnull);

	return isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
}

static int64
supersede_runs(RunRel *rr, Col *kj, Col *ke)
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

	col_init(&uid, INT8OID, 16);
	col_init(&uat, TIMESTAMPTZOID, 16);
	runscan_begin(&rs, rr, rr->key_idx, 2);
	runscan_begin(&ps, rr, rr->prev_idx, 2);
	for (i = 0; i < kj->n; i++)
	{
		int			n = 0,
					k;
		bool		have_retry = false;
		TimestampTz retry = 0;
		bool		have_later = false;
		TimestampTz later = 0;

		CHECK_FOR_INTERRUPTS();
		/* ScanKeyInit compares with the C collation, the column's */
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, kj->values[i]);
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, ke->values[i]);
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
	runscan_end(&ps);
	runscan_end(&rs);
	if (uid.n > 0)
	{
		Datum		args[2] = {col_array(&uid), col_array(&uat)};

		if (plan_supersede == NULL)
		{
			Oid			t[] = {T_INT8A, T_TSTZA};

			plan_supersede = prepare_opt("UPDATE kant.job_run o SET superseded_at = u.at"
								   " FROM unnest($1, $2) AS u(run_id, at) WHERE o.run_id = u.run_id",
								   2, t, true);
		}
		spi_exec(plan_supersede, args, NULL, SPI_OK_UPDATE);
		changed = uid.n;
	}
	return changed;
}

/* The run of an attempt written, and the run it retries. */
static void
supersede_keys(Col *kj, Col *ke, int32 job_id, RunRecord *r)
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

		spi_exec(plan_insert, args, NULL, SPI_OK_INSERT);
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

static void
insert_runs(IngestState *st, Pending **ins, int n)
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
	if (plan_dirty == NULL)
	{
		Oid			t[2] = {T_INT4A, T_DATEA};

		if (!OidIsValid(get_relname_relid("slo_dirty", get_namespace_oid("kant", false))))
			return;
		/*
		 * Only jobs some SLO covers: the refresh drops the others anyway, and
		 * queueing every (job, date) of a history load costs it ~15%.  An SLO
		 * created later evaluates its history itself.
		 */
		plan_dirty = prepare_plan(
			"INSERT INTO kant.slo_dirty (job_id, business_date)"
			" SELECT DISTINCT u.j, u.d FROM unnest($1, $2) AS u(j, d)"
			" WHERE u.j IN (SELECT sc.job_id FROM kant.slo_scope sc)"
			" ON CONFLICT DO NOTHING", 2, t);
	}
	{
		Datum		args[2] = {col_array(jobs), col_array(dates)};

		spi_exec(plan_dirty, args, NULL, SPI_OK_INSERT);
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
	log_batch(st);

	/* 1. jobs and business dates */
	live = palloc(sizeof(Pending *) * st->npending);
	for (i = 0; i < st->npending; i++)
	{
		Pending    *p = &st->pending[i];
		RecordError err = {0};

		p->job = get_job(st, p->sys, p->rec);
		if (!resolve_business_date(p->job, st->source, p->rec, &err))
		{
			p->job = NULL;
			store_reject(st, &err, p->raw, NULL, 0, p->index, p->rec->path, p->sys);
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
		probe_stored(st, live, n);

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
				supersede_keys(&kj, &ke, p->job->job_id, r);
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

				if (!check_business_date(p->job, r, &err))
				{
					store_reject(st, &err, p->raw, NULL, 0, p->index, p->rec->path, p->sys);
					continue;
				}
			}
			if (row_differs(r, p->stored))
			{
				supersede_keys(&kj, &ke, p->job->job_id, r);
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
			insert_runs(st, ins, nins);
		if (uid.n > 0)
		{
			Datum		args[13] = {col_array(&uid), col_array(&ubd), col_array(&ubs),
				col_array(&us), col_array(&urs), col_array(&usa), col_array(&uea),
				col_array(&uua), col_array(&uem), col_array(&upe), col_array(&ud),
			TimestampTzGetDatum(st->now), Int64GetDatum(st->batch_id)};

			spi_exec(plan_update, args, NULL, SPI_OK_UPDATE);
		}
		if (tid.n > 0)
		{
			Datum		args[2] = {col_array(&tid), TimestampTzGetDatum(st->now)};

			spi_exec(plan_touch, args, NULL, SPI_OK_UPDATE);
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
			find_named_predecessors(st, &cj, &ce, &sj, &se);
			if (sj.n > 0)
				fix_retry_chains(st, &sj, &se, &dj, &dd);
		}

		/*
		 * 7. The current attempt: superseded_at of every attempt of the runs
		 * written and of the runs they retry (kant._supersede, the rule's
		 * one home).  Skipped in a database not yet updated to 0.6.0.
		 */
		if (kj.n > 0 && st->rr.superseded_at != InvalidAttrNumber)
			(void) supersede_runs(&st->rr, &kj, &ke);
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
	log_batch(st);
	{
		Datum		args[6] = {Int64GetDatum(st->batch_id), Int32GetDatum(st->received),
			Int32GetDatum(st->inserted), Int32GetDatum(st->updated),
		Int32GetDatum(st->unchanged), Int32GetDatum(st->rejected)};

		spi_exec(plan_batch_finish, args, NULL, SPI_OK_UPDATE);
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
						 (plans_columns & HAS_DEDUP_KEY) ? "last_batch_id" : "batch_id",
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

/*
 * kant._supersede(job_ids, external_ids): supersede_runs() for SQL (the
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
	runrel_init(&rr);
	if (rr.superseded_at == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kant.job_run has no column superseded_at"),
				 errhint("ALTER EXTENSION kant UPDATE;")));
	changed = supersede_runs(&rr, &kj, &ke);
	SPI_finish();
	PG_RETURN_INT64(changed);
}
