/*
 * ingest_chain.c
 *	  Glue retry chains: a retry takes the business date of the run it
 *	  retries, whatever order the runs arrived in.
 *
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
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ingest_int.h"

/*
 * Which of these new Glue runs does an already stored retry name as its
 * PreviousRunId (the retry arrived first)?  Probes the small partial index.
 */
void
ingest_find_named_predecessors(IngestState *st, Col *jobs, Col *ids, Col *seed_jobs,
							   Col *seed_ids)
{
	RunScan		rs;
	ScanKeyData key[2];
	int			i;

	ingest_runscan_begin(&rs, &st->rr, st->rr.prev_idx, 2);
	for (i = 0; i < jobs->n; i++)
	{
		ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_INT4EQ, jobs->values[i]);
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, ids->values[i]);
		if (ingest_runscan_find(&rs, key, 2))
		{
			col_add(seed_jobs, jobs->values[i], false);
			col_add(seed_ids, ids->values[i], false);
		}
	}
	ingest_runscan_end(&rs);
}

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
	*date = ingest_local_date(a->basis, job->sys->tz, job->bd_day_start, job->bd_offset_days);
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
void
ingest_fix_retry_chains(IngestState *st, Col *sj, Col *se, Col *dj, Col *dd)
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
	ingest_runscan_begin(&cw.byid, &st->rr, st->rr.key_idx, 2);
	ingest_runscan_begin(&cw.byprev, &st->rr, st->rr.prev_idx, 2);

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
	ingest_runscan_end(&cw.byprev);
	ingest_runscan_end(&cw.byid);

	if (uid.n > 0)
	{
		Datum		args[3] = {col_array(&uid), col_array(&ubd), col_array(&ubs)};

		ingest_spi_exec(ingest_plans.chain_set, args, NULL, SPI_OK_UPDATE);
	}
	chain_note(st, &cw);
}

