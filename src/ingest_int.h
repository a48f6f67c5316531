/*
 * ingest_int.h
 *	  The ingest engine's own declarations, shared by its files (front-ends
 *	  see only kant.h):
 *
 *	  ingest.c			a call: its batch, the records it takes, the flush (fold,
 *						probe, merge, write) and the end of the call
 *	  ingest_plan.c		the statements it runs, prepared once per backend
 *	  ingest_registry.c	systems and jobs, found or registered and locked; business
 *						dates given, taken from an argument or by the start-time rule
 *	  ingest_write.c	kant.job_run read and written directly: the probe, the
 *						insert, the current attempt (superseded_at)
 *	  ingest_chain.c	Glue retry chains: a retry takes its first run's date
 *	  ingest_reject.c	quarantine: kant.rejected, one row per rejection
 */
#ifndef KANT_INGEST_INT_H
#define KANT_INGEST_INT_H

#include "kant.h"

#include "access/genam.h"
#include "access/skey.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#define MAX_NAME_LEN	1000
/* retries a first run's business date is passed down (ingest_chain.c) */
#define MAX_CHAIN_DEPTH 1000

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

/* An index scan on kant.job_run, rescanned once per key (ingest_write.c). */
typedef struct RunScan
{
	Relation	rel;
	Relation	idx;
	Snapshot	snap;
	TupleTableSlot *slot;
	IndexScanDesc scan;
} RunScan;

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

static inline void
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

static inline Datum
col_array(Col *c)
{
	int			dims[1] = {c->n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(c->values, c->nulls, 1, dims, lbs,
											  c->elemtype, c->typlen, c->typbyval,
											  c->typalign));
}

/* ------------------------------------------------------------- SPI plans */

#define HAS_RECORD_TEXT		0x01	/* kant.rejected.record_text */
#define HAS_PAYLOAD_TEXT	0x02	/* kant.ingest_batch.payload_text */
#define HAS_DEDUP_KEY		0x04	/* kant.rejected.dedup_key, times_seen, ... */

/* The plans of ingest_plan.c; supersede and dirty are made at first use. */
typedef struct IngestPlans
{
	int			columns;		/* which 0.6.0 columns the plans write (HAS_*) */
	SPIPlanPtr	insert;
	SPIPlanPtr	update;
	SPIPlanPtr	touch;
	SPIPlanPtr	reject;
	SPIPlanPtr	batch_insert;
	SPIPlanPtr	batch_finish;
	SPIPlanPtr	system_get;
	SPIPlanPtr	system_get_ol;
	SPIPlanPtr	system_register;
	SPIPlanPtr	job_get;
	SPIPlanPtr	job_register;
	SPIPlanPtr	chain_set;
	SPIPlanPtr	supersede;
	SPIPlanPtr	dirty;			/* NULL until kant.slo_dirty exists (0.3.0) */
} IngestPlans;

#define T_INT4A INT4ARRAYOID
#define T_INT8A INT8ARRAYOID
#define T_TEXTA TEXTARRAYOID
#define T_DATEA DATEARRAYOID
#define T_CHARA CHARARRAYOID
#define T_TSTZA TIMESTAMPTZARRAYOID
#define T_JSONBA JSONBARRAYOID

/* ------------------------------------------------------------ ingest.c */

extern void ingest_log_batch(IngestState *st);

/* ------------------------------------------------------- ingest_plan.c */

extern IngestPlans ingest_plans;
extern SPIPlanPtr ingest_prepare(const char *sql, int nargs, Oid *types, bool custom);
extern void ingest_prepare_plans(void);
extern void ingest_spi_exec(SPIPlanPtr plan, Datum *values, const char *nulls, int expect);

/* --------------------------------------------------- ingest_registry.c */

extern const char *ingest_source_kind(IngestSource source);
extern JobInfo *ingest_get_job(IngestState *st, SystemInfo *sys, RunRecord *rec);
extern DateADT ingest_local_date(TimestampTz ts, pg_tz *tz, int64 day_start, int32 offset_days);
extern bool ingest_rule_date(JobInfo *job, IngestSource source, RunRecord *r, RunRecord *given);
extern bool ingest_check_business_date(JobInfo *job, RunRecord *r, RecordError *err);
extern bool ingest_resolve_business_date(JobInfo *job, IngestSource source, RunRecord *r,
										 RecordError *err);

/* ------------------------------------------------------ ingest_write.c */

extern void ingest_runrel_init(RunRel *r);
extern void ingest_runscan_begin(RunScan *rs, RunRel *rr, Oid index, int nkeys);
extern bool ingest_runscan_find(RunScan *rs, ScanKey keys, int nkeys);
extern void ingest_runscan_end(RunScan *rs);
extern void ingest_probe_stored(IngestState *st, Pending **live, int n);
extern void ingest_insert_runs(IngestState *st, Pending **ins, int n);
extern void ingest_supersede_keys(Col *kj, Col *ke, int32 job_id, RunRecord *r);
extern int64 ingest_supersede_runs(RunRel *rr, Col *kj, Col *ke);

/* ------------------------------------------------------ ingest_chain.c */

extern void ingest_find_named_predecessors(IngestState *st, Col *jobs, Col *ids,
										   Col *seed_jobs, Col *seed_ids);
extern void ingest_fix_retry_chains(IngestState *st, Col *sj, Col *se, Col *dj, Col *dd);

/* ----------------------------------------------------- ingest_reject.c */

extern void ingest_store_reject(IngestState *st, RecordError *err, JsonbValue *raw,
								const char *raw_text, int raw_len, int index,
								const char *rec_path, SystemInfo *sys);

#endif							/* KANT_INGEST_INT_H */
