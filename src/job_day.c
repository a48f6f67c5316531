/*
 * job_day.c
 *	  The rule of done, in C: kant._job_day_agg(), an aggregate over every
 *	  attempt of one job and business date.  kant._job_day() and
 *	  kant._done_since() (sql/src/rules.sql) are its SQL faces; the SLO
 *	  evaluation, the checks and the gates ask those.
 *
 * At an instant T, the attempts that count are those that had begun
 * (kant._began: the start, or when kant first saw it) and were not
 * superseded by then (kant._is_current).  They form runs (kant._run_key:
 * an Airflow run id without its "#map_index").  A job that runs once a day
 * (k = 1 expected slot) counts its latest run (runs that began together all
 * count); one with k > 1 slots counts every run.  The job is done at T when
 * it had at least k runs and every attempt of the runs that count was done
 * (succeeded or skipped, ended by T).
 *
 * Done since: the first instant by as_of at which that held.  Only
 * something that came after a done attempt can undo done (a later attempt
 * superseding it, more runs than expected), so without either the answer is
 * done_at at as_of; with one, the ends of done attempts between the start
 * of the k-th run and the last start are asked one by one.
 *
 * In C because the SQL form cost ~0.8 ms a job and date: the SLO refresh of
 * years of history and every gate poll ask it.  The attempts of one job and
 * date are a handful, kept in memory; each instant is one pass over them.
 */
#include "kant.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(kant_job_day_trans);
PG_FUNCTION_INFO_V1(kant_job_day_final);

typedef struct JdAttempt
{
	int64		run_id;
	RunState	state;
	bool		has_began;
	bool		has_started;
	bool		has_ended;
	bool		has_superseded;
	TimestampTz began;
	TimestampTz started_at;
	TimestampTz ended_at;
	TimestampTz superseded_at;
	char	   *external_id;
	int			external_len;
	int			key_len;		/* the run key is external_id[0..key_len) */
	int			run;			/* index of its run (same key) */
	int			ext;			/* index of its run id (same external_id) */
} JdAttempt;

typedef struct JdState
{
	TimestampTz as_of;
	int32		k;
	bool		airflow;
	int			n;
	int			cap;
	JdAttempt  *a;
} JdState;

/* What the rule says at one instant. */
typedef struct JdAnswer
{
	bool		done;
	bool		has_runs;		/* false: no attempt counts (SQL's NULLs) */
	bool		has_done_at;
	TimestampTz done_at;
	bool		in_flight;
	bool		has_in_flight_since;
	TimestampTz in_flight_since;
	bool		failed;
	int32		attempts;
	int32		runs;
	bool		has_failed_run;
	int64		failed_run_id;
	bool	   *counted;		/* per run index: counts */
} JdAnswer;

/* kant._run_key: for Airflow (and OpenLineage), drop a trailing "#<digits>" (the map index) */
static int
run_key_len(const char *s, int len, bool airflow)
{
	int			i = len;

	if (!airflow)
		return len;
	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	if (i < len && i > 0 && s[i - 1] == '#')
		return i - 1;
	return len;
}

/*
 * _job_day_trans(state, as_of, k, kind, run_id, external_id, state,
 *				  started_at, ended_at, first_seen, superseded_at)
 */
Datum
kant_job_day_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext old;
	JdState    *st;
	JdAttempt  *at;
	text	   *ext;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "kant._job_day_trans called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kant._job_day_agg: as_of and k must not be null")));
	if (PG_ARGISNULL(0))
	{
		old = MemoryContextSwitchTo(aggcxt);
		st = palloc0(sizeof(JdState));
		st->as_of = PG_GETARG_TIMESTAMPTZ(1);
		st->k = Max(PG_GETARG_INT32(2), 1);
		if (!PG_ARGISNULL(3))
		{
			text	   *kind = PG_GETARG_TEXT_PP(3);

			/* kant._run_key: Airflow's and OpenLineage's run ids carry map indexes */
			st->airflow = (VARSIZE_ANY_EXHDR(kind) == 7 &&
						   memcmp(VARDATA_ANY(kind), "airflow", 7) == 0) ||
				(VARSIZE_ANY_EXHDR(kind) == 11 &&
				 memcmp(VARDATA_ANY(kind), "openlineage", 11) == 0);
		}
		st->cap = 16;
		st->a = palloc(st->cap * sizeof(JdAttempt));
		MemoryContextSwitchTo(old);
	}
	else
		st = (JdState *) PG_GETARG_POINTER(0);

	/* a row without run id or state is no attempt (job_run has neither NULL) */
	if (PG_ARGISNULL(4) || PG_ARGISNULL(5) || PG_ARGISNULL(6))
		PG_RETURN_POINTER(st);

	old = MemoryContextSwitchTo(aggcxt);
	if (st->n == st->cap)
	{
		st->cap *= 2;
		st->a = repalloc(st->a, st->cap * sizeof(JdAttempt));
	}
	at = &st->a[st->n++];
	memset(at, 0, sizeof(JdAttempt));
	at->run_id = PG_GETARG_INT64(4);
	ext = PG_GETARG_TEXT_PP(5);
	at->external_len = VARSIZE_ANY_EXHDR(ext);
	at->external_id = palloc(at->external_len + 1);
	memcpy(at->external_id, VARDATA_ANY(ext), at->external_len);
	at->external_id[at->external_len] = '\0';
	at->key_len = run_key_len(at->external_id, at->external_len, st->airflow);
	at->state = (RunState) DatumGetChar(PG_GETARG_DATUM(6));
	if (!PG_ARGISNULL(7))
	{
		at->has_started = true;
		at->started_at = PG_GETARG_TIMESTAMPTZ(7);
	}
	if (!PG_ARGISNULL(8))
	{
		at->has_ended = true;
		at->ended_at = PG_GETARG_TIMESTAMPTZ(8);
	}
	/* kant._began: the start, or when kant first saw it */
	if (at->has_started)
	{
		at->has_began = true;
		at->began = at->started_at;
	}
	else if (!PG_ARGISNULL(9))
	{
		at->has_began = true;
		at->began = PG_GETARG_TIMESTAMPTZ(9);
	}
	if (!PG_ARGISNULL(10))
	{
		at->has_superseded = true;
		at->superseded_at = PG_GETARG_TIMESTAMPTZ(10);
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* attempts with the same run key, with the same external id: one index each */
static int
number_by(JdState *st, bool whole)
{
	int			groups = 0;
	int			i,
				j;

	for (i = 0; i < st->n; i++)
	{
		JdAttempt  *a = &st->a[i];
		int			len = whole ? a->external_len : a->key_len;
		int			g = -1;

		for (j = 0; j < i && g < 0; j++)
		{
			JdAttempt  *b = &st->a[j];
			int			blen = whole ? b->external_len : b->key_len;

			if (blen == len && memcmp(a->external_id, b->external_id, len) == 0)
				g = whole ? b->ext : b->run;
		}
		if (g < 0)
			g = groups++;
		if (whole)
			a->ext = g;
		else
			a->run = g;
	}
	return groups;
}

static inline bool
counts_at(const JdAttempt *a, TimestampTz t)
{
	return a->has_began && a->began <= t &&
		(!a->has_superseded || a->superseded_at > t);
}

typedef struct JdRun
{
	int			n;
	int			ok;
	int			open;
	int			bad;
	bool		has_start;
	TimestampTz start;
	bool		has_open_since;
	TimestampTz open_since;
	bool		has_last_end;
	TimestampTz last_end;
} JdRun;

/* The rule at instant t (kant._job_day with as_of = t). */
static void
answer_at(JdState *st, int nruns, JdRun *r, TimestampTz t, JdAnswer *ans)
{
	int			i;
	int			runs = 0;
	int			counted_n = 0;
	int			ok_runs = 0;
	int			open = 0;
	int			bad = 0;
	bool		has_max = false;
	TimestampTz max_start = 0;
	const JdAttempt *failed = NULL;

	memset(r, 0, nruns * sizeof(JdRun));
	ans->attempts = 0;
	for (i = 0; i < st->n; i++)
	{
		const JdAttempt *a = &st->a[i];
		JdRun	   *u = &r[a->run];
		bool		ended_by = !a->has_ended || a->ended_at <= t;

		if (!counts_at(a, t))
			continue;
		u->n++;
		ans->attempts++;
		if (!u->has_start || a->began < u->start)
			u->start = a->began;
		u->has_start = true;
		if (run_state_done(a->state) && ended_by)
			u->ok++;
		if (!run_state_terminal(a->state) || (a->has_ended && a->ended_at > t))
		{
			u->open++;
			if (a->has_started && (!u->has_open_since || a->started_at < u->open_since))
			{
				u->open_since = a->started_at;
				u->has_open_since = true;
			}
		}
		if (run_state_terminal(a->state) && !run_state_done(a->state) && ended_by)
			u->bad++;
		if (a->has_ended && (!u->has_last_end || a->ended_at > u->last_end))
		{
			u->last_end = a->ended_at;
			u->has_last_end = true;
		}
	}
	for (i = 0; i < nruns; i++)
		if (r[i].n > 0)
		{
			runs++;
			if (!has_max || r[i].start > max_start)
				max_start = r[i].start;
			has_max = true;
		}

	ans->has_done_at = false;
	ans->has_in_flight_since = false;
	for (i = 0; i < nruns; i++)
	{
		JdRun	   *u = &r[i];

		ans->counted[i] = u->n > 0 && (st->k > 1 || u->start == max_start);
		if (!ans->counted[i])
			continue;
		counted_n++;
		if (u->ok == u->n)
			ok_runs++;
		open += u->open;
		bad += u->bad;
		if (u->has_open_since &&
			(!ans->has_in_flight_since || u->open_since < ans->in_flight_since))
		{
			ans->in_flight_since = u->open_since;
			ans->has_in_flight_since = true;
		}
		if (u->has_last_end && (!ans->has_done_at || u->last_end > ans->done_at))
		{
			ans->done_at = u->last_end;
			ans->has_done_at = true;
		}
	}
	ans->runs = runs;
	ans->has_runs = runs > 0;
	ans->done = runs >= st->k && ok_runs == counted_n;
	if (!ans->done)
		ans->has_done_at = false;
	ans->in_flight = open > 0;
	ans->failed = bad > 0;

	/* the attempt that failed: the latest start (NULLS LAST), then run id */
	ans->has_failed_run = false;
	if (bad > 0)
	{
		for (i = 0; i < st->n; i++)
		{
			const JdAttempt *a = &st->a[i];

			if (!counts_at(a, t) || !ans->counted[a->run] ||
				!run_state_terminal(a->state) || run_state_done(a->state) ||
				(a->has_ended && a->ended_at > t))
				continue;
			if (failed == NULL ||
				(a->has_started && !failed->has_started) ||
				(a->has_started == failed->has_started &&
				 ((a->has_started && a->started_at > failed->started_at) ||
				  ((!a->has_started || a->started_at == failed->started_at) &&
				   a->run_id > failed->run_id))))
				failed = a;
		}
		if (failed)
		{
			ans->has_failed_run = true;
			ans->failed_run_id = failed->run_id;
		}
	}
}

static int
cmp_key(const void *x, const void *y)
{
	const JdAttempt *a = *(const JdAttempt *const *) x;
	const JdAttempt *b = *(const JdAttempt *const *) y;

	int			c = memcmp(a->external_id, b->external_id, Min(a->key_len, b->key_len));

	return c != 0 ? c : a->key_len - b->key_len;
}

/*
 * The run keys that count, sorted as job_run.external_id sorts (COLLATE
 * "C": by bytes).
 */
static Datum
counted_runs(JdState *st, int nruns, const bool *counted, bool *isnull)
{
	JdAttempt **one = palloc((nruns + 1) * sizeof(JdAttempt *));
	Datum	   *d;
	int			m = 0;
	int			i;

	memset(one, 0, nruns * sizeof(JdAttempt *));
	for (i = 0; i < st->n; i++)
		if (counted[st->a[i].run] && one[st->a[i].run] == NULL)
			one[st->a[i].run] = &st->a[i];
	for (i = 0; i < nruns; i++)
		if (one[i])
			one[m++] = one[i];
	if (m == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	qsort(one, m, sizeof(JdAttempt *), cmp_key);
	d = palloc(m * sizeof(Datum));
	for (i = 0; i < m; i++)
		d[i] = PointerGetDatum(cstring_to_text_with_len(one[i]->external_id, one[i]->key_len));
	*isnull = false;
	return PointerGetDatum(construct_array(d, m, TEXTOID, -1, false, TYPALIGN_INT));
}

static int
cmp_ts(const void *x, const void *y)
{
	TimestampTz a = *(const TimestampTz *) x;
	TimestampTz b = *(const TimestampTz *) y;

	return a < b ? -1 : a > b ? 1 : 0;
}

/*
 * The result, kant._job_day_result: done, done_at, in_flight,
 * in_flight_since, failed, attempts, runs, failed_run_id, counted_runs (at
 * as_of), then was_done, done_since, done_since_runs (the first time).
 */
Datum
kant_job_day_final(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		v[12];
	bool		n[12];
	JdState    *st;
	JdState		empty;
	int			nruns;
	JdRun	   *r;
	JdAnswer	now;
	JdAnswer	first;
	bool		was_done = false;
	bool		first_is_now = false;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kant._job_day_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (PG_ARGISNULL(0))
	{
		memset(&empty, 0, sizeof(empty));
		empty.k = 1;
		st = &empty;
	}
	else
		st = (JdState *) PG_GETARG_POINTER(0);

	nruns = number_by(st, false);
	r = palloc((nruns + 1) * sizeof(JdRun));
	now.counted = palloc0((nruns + 1) * sizeof(bool));
	first.counted = palloc0((nruns + 1) * sizeof(bool));
	answer_at(st, nruns, r, st->as_of, &now);

	/*
	 * Done since.  Something after a done attempt: more runs than expected,
	 * or a done attempt superseded by as_of.
	 */
	{
		bool		after = now.runs > st->k;

		for (i = 0; i < st->n && !after; i++)
			after = run_state_done(st->a[i].state) && st->a[i].has_superseded &&
				st->a[i].superseded_at <= st->as_of;
		if (after)
		{
			int			next = number_by(st, true);
			TimestampTz *first_start = palloc((next + 1) * sizeof(TimestampTz));
			bool	   *seen = palloc0((next + 1) * sizeof(bool));
			TimestampTz *ends = palloc((st->n + 1) * sizeof(TimestampTz));
			int			nstarted = 0;
			int			nends = 0;
			bool		has_last = false;
			TimestampTz last_start = 0;
			TimestampTz bound;

			/* per run id: its first start; and the last start of all */
			for (i = 0; i < st->n; i++)
			{
				JdAttempt  *a = &st->a[i];

				if (!a->has_began || a->began > st->as_of)
					continue;
				if (!seen[a->ext] || a->began < first_start[a->ext])
					first_start[a->ext] = a->began;
				seen[a->ext] = true;
				if (!has_last || a->began > last_start)
					last_start = a->began;
				has_last = true;
			}
			/* the k-th run id to start: before it, fewer runs than expected */
			for (i = 0; i < next; i++)
				if (seen[i])
					first_start[nstarted++] = first_start[i];
			if (nstarted < st->k)
				bound = DT_NOEND;
			else
			{
				qsort(first_start, nstarted, sizeof(TimestampTz), cmp_ts);
				bound = first_start[st->k - 1];
			}
			for (i = 0; i < st->n && has_last; i++)
			{
				JdAttempt  *a = &st->a[i];

				if (run_state_done(a->state) && a->has_ended && a->ended_at <= st->as_of &&
					a->ended_at >= bound && a->ended_at < last_start)
					ends[nends++] = a->ended_at;
			}
			qsort(ends, nends, sizeof(TimestampTz), cmp_ts);
			for (i = 0; i < nends && !was_done; i++)
			{
				if (i > 0 && ends[i] == ends[i - 1])
					continue;
				answer_at(st, nruns, r, ends[i], &first);
				if (first.done)
				{
					was_done = true;
					first.has_done_at = true;
					first.done_at = ends[i];
				}
			}
		}
		if (!was_done && now.done)
		{
			was_done = true;
			first_is_now = true;
		}
	}

	memset(n, false, sizeof(n));
	v[0] = BoolGetDatum(now.done);
	v[1] = TimestampTzGetDatum(now.done_at);
	n[1] = !now.has_done_at;
	v[2] = BoolGetDatum(now.in_flight);
	n[2] = !now.has_runs;
	v[3] = TimestampTzGetDatum(now.in_flight_since);
	n[3] = !now.has_in_flight_since;
	v[4] = BoolGetDatum(now.failed);
	n[4] = !now.has_runs;
	v[5] = Int32GetDatum(now.attempts);
	n[5] = !now.has_runs;
	v[6] = Int32GetDatum(now.runs);
	v[7] = Int64GetDatum(now.failed_run_id);
	n[7] = !now.has_failed_run;
	v[8] = counted_runs(st, nruns, now.counted, &n[8]);
	v[9] = BoolGetDatum(was_done);
	if (was_done && !first_is_now)
	{
		v[10] = TimestampTzGetDatum(first.done_at);
		v[11] = counted_runs(st, nruns, first.counted, &n[11]);
	}
	else if (was_done)
	{
		v[10] = TimestampTzGetDatum(now.done_at);
		n[10] = !now.has_done_at;
		v[11] = v[8];
		n[11] = n[8];
	}
	else
		n[10] = n[11] = true;
	for (i = 0; i < 12; i++)
		if (n[i])
			v[i] = (Datum) 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}
