/*
 * slo.c
 *	  kant.slo_eval(): the SLO / SLA verdict of one business date, as an
 *	  aggregate over the run attempts (and expected slots without a run) of
 *	  the jobs an SLO covers.
 *
 * Every input row is one attempt of a required job, or one expected slot
 * that no run matched (state NULL, due_at set).  The caller says which
 * attempts are current (the latest of their run, not superseded by a retry),
 * so the day's rule needs no per-job memory:
 *
 *	 the day is complete when every current attempt succeeded (or was
 *	 skipped) and no expected slot is unmatched;
 *	 completion = the latest end among current successful attempts, so a
 *	 failure recovered by a retry counts as success at the retry's end;
 *	 the critical job is the one that ended last, or on an incomplete day
 *	 the first (smallest id) job that is not done;
 *	 status against a limit (SLO deadline, SLA end):
 *		no rows					-> no_data
 *		complete				-> met if completion <= limit, else missed
 *		incomplete, as_of < limit -> pending
 *		incomplete otherwise	-> missed
 *
 * The state is an ordinary int8[] of fixed length (counts, and timestamps
 * as microseconds), so partial states combine with plain arithmetic and the
 * aggregate runs in parallel without serialisation functions.
 */
#include "kant.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

enum
{
	SE_ROWS,					/* input rows */
	SE_CURRENT,					/* current attempts */
	SE_DONE,					/* current attempts that succeeded or were skipped */
	SE_OPEN,					/* current attempts not finished */
	SE_BAD,						/* current attempts that ended without success */
	SE_FAILURES,				/* attempts that failed, timed out or had an upstream failure */
	SE_RETRIES,					/* attempts superseded by a later one */
	SE_MISSING,					/* unmatched slots past their grace period */
	SE_AWAITED,					/* unmatched slots still within it */
	SE_END,						/* latest end of a current successful attempt */
	SE_CRITICAL,				/* the job of that attempt */
	SE_BLOCKER,					/* smallest job id not done (open, failed, missing) */
	SE_DEADLINE,
	SE_SLA_END,
	SE_AS_OF,
	SE_NSLOTS
};

#define SE_UNSET PG_INT64_MIN

PG_FUNCTION_INFO_V1(kant_slo_eval_trans);
PG_FUNCTION_INFO_V1(kant_slo_eval_combine);
PG_FUNCTION_INFO_V1(kant_slo_eval_final);

static int64 *
state_values(ArrayType *a)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != SE_NSLOTS || ARR_HASNULL(a) ||
		ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid kant.slo_eval state"),
				 errdetail("The state is an array of %d bigints.", SE_NSLOTS)));
	/* one dimension, no null bitmap (checked above) */
	return (int64 *) ((char *) a + ARR_OVERHEAD_NONULLS(1));
}

static ArrayType *
state_new(MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum		d[SE_NSLOTS];
	ArrayType  *a;
	int			i;

	for (i = 0; i < SE_NSLOTS; i++)
		d[i] = Int64GetDatum(0);
	d[SE_END] = d[SE_CRITICAL] = d[SE_DEADLINE] = d[SE_SLA_END] = d[SE_AS_OF] =
		Int64GetDatum(SE_UNSET);
	d[SE_BLOCKER] = Int64GetDatum(PG_INT64_MAX);
	a = construct_array(d, SE_NSLOTS, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	MemoryContextSwitchTo(old);
	return a;
}

/* The limits are the same for every row of a group: check, then keep. */
static void
same_limit(int64 *s, int slot, int64 v, const char *what)
{
	if (s[slot] == SE_UNSET)
		s[slot] = v;
	else if (s[slot] != v && v != SE_UNSET)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kant.slo_eval: %s differs between rows of one group", what),
				 errhint("Evaluate one SLO and one business date per group: GROUP BY the SLO and the business date.")));
}

static inline void
take_blocker(int64 *s, int64 job)
{
	if (job < s[SE_BLOCKER])
		s[SE_BLOCKER] = job;
}

static void
take_end(int64 *s, int64 end, int64 job)
{
	if (end > s[SE_END] || (end == s[SE_END] && job < s[SE_CRITICAL]))
	{
		s[SE_END] = end;
		s[SE_CRITICAL] = job;
	}
}

/*
 * slo_eval_trans(state, job_id, state, ended_at, is_current, due_at,
 *				  deadline, sla_end, as_of)
 */
Datum
kant_slo_eval_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ArrayType  *a;
	int64	   *s;
	int			i;
	static const char *const names[] = {"deadline", "sla_end", "as_of"};

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kant.slo_eval_trans called outside an aggregate")));
	for (i = 0; i < 3; i++)
		if (PG_ARGISNULL(6 + i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("kant.slo_eval: %s must not be null", names[i]),
					 errhint("Pass the day's SLO deadline, SLA end and the evaluation time (e.g. now()).")));
		else if (TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(6 + i)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kant.slo_eval: %s must be finite", names[i]),
					 errhint("Pass the day's SLO deadline, SLA end and the evaluation time (e.g. now()).")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kant.slo_eval: job_id must not be null")));

	/* our own array, allocated in the aggregate context: update it in place */
	a = PG_ARGISNULL(0) ? state_new(aggcxt) : PG_GETARG_ARRAYTYPE_P(0);
	s = state_values(a);

	same_limit(s, SE_DEADLINE, PG_GETARG_TIMESTAMPTZ(6), "deadline");
	same_limit(s, SE_SLA_END, PG_GETARG_TIMESTAMPTZ(7), "sla_end");
	same_limit(s, SE_AS_OF, PG_GETARG_TIMESTAMPTZ(8), "as_of");
	s[SE_ROWS]++;

	if (PG_ARGISNULL(2))
	{
		/* an expected slot that no run matched */
		if (PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("kant.slo_eval: a row without a state needs due_at"),
					 errdetail("A row with state NULL stands for an expected run that has not started; due_at is when it becomes missing.")));
		if (PG_GETARG_TIMESTAMPTZ(5) <= s[SE_AS_OF])
			s[SE_MISSING]++;
		else
			s[SE_AWAITED]++;
		take_blocker(s, PG_GETARG_INT32(1));
	}
	else
	{
		RunState	st = (RunState) DatumGetChar(PG_GETARG_DATUM(2));
		bool		current = PG_ARGISNULL(4) ? true : PG_GETARG_BOOL(4);

		if (st == RS_FAILED || st == RS_TIMED_OUT || st == RS_UPSTREAM_FAILED)
			s[SE_FAILURES]++;
		if (!current)
			s[SE_RETRIES]++;
		else
		{
			s[SE_CURRENT]++;
			if (run_state_done(st))
			{
				s[SE_DONE]++;
				if (!PG_ARGISNULL(3))
					take_end(s, PG_GETARG_TIMESTAMPTZ(3), PG_GETARG_INT32(1));
			}
			else
			{
				if (run_state_terminal(st))
					s[SE_BAD]++;
				else
					s[SE_OPEN]++;
				take_blocker(s, PG_GETARG_INT32(1));
			}
		}
	}
	PG_RETURN_ARRAYTYPE_P(a);
}

Datum
kant_slo_eval_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ArrayType  *a;
	int64	   *s,
			   *t;
	int			i;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kant.slo_eval_combine called outside an aggregate")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
	{
		/* the state must live in our aggregate context */
		MemoryContext old = MemoryContextSwitchTo(aggcxt);

		a = DatumGetArrayTypePCopy(PG_GETARG_DATUM(1));
		MemoryContextSwitchTo(old);
		state_values(a);
		PG_RETURN_ARRAYTYPE_P(a);
	}
	a = PG_GETARG_ARRAYTYPE_P(0);
	s = state_values(a);
	t = state_values(PG_GETARG_ARRAYTYPE_P(1));
	for (i = SE_ROWS; i <= SE_AWAITED; i++)
		s[i] += t[i];
	if (t[SE_END] != SE_UNSET)
		take_end(s, t[SE_END], t[SE_CRITICAL]);
	take_blocker(s, t[SE_BLOCKER]);
	same_limit(s, SE_DEADLINE, t[SE_DEADLINE], "deadline");
	same_limit(s, SE_SLA_END, t[SE_SLA_END], "sla_end");
	same_limit(s, SE_AS_OF, t[SE_AS_OF], "as_of");
	PG_RETURN_ARRAYTYPE_P(a);
}

/* b to a in seconds; two times far apart overflow int64 microseconds */
static double
seconds_between(int64 a, int64 b)
{
	int64		d;

	if (pg_sub_s64_overflow(a, b, &d))
		return ((double) a - (double) b) / USECS_PER_SEC;
	return (double) d / USECS_PER_SEC;
}

static const char *
verdict(int64 *s, bool complete, int64 limit)
{
	if (s[SE_ROWS] == 0)
		return "no_data";
	if (complete)
		return (s[SE_END] == SE_UNSET || s[SE_END] <= limit) ? "met" : "missed";
	return s[SE_AS_OF] < limit ? "pending" : "missed";
}

/*
 * The verdict as kant.slo_result: slo_status, sla_status, completed_at,
 * lateness_seconds, runs, done, running, failures, retries, missing, awaited,
 * critical_job_id.
 */
Datum
kant_slo_eval_final(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		v[12];
	bool		n[12];
	int64		empty[SE_NSLOTS];
	int64	   *s;
	bool		complete;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kant.slo_eval_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (PG_ARGISNULL(0))
	{
		memset(empty, 0, sizeof(empty));
		empty[SE_END] = empty[SE_CRITICAL] = empty[SE_DEADLINE] =
			empty[SE_SLA_END] = empty[SE_AS_OF] = SE_UNSET;
		empty[SE_BLOCKER] = PG_INT64_MAX;
		s = empty;
	}
	else
		s = state_values(PG_GETARG_ARRAYTYPE_P(0));

	complete = s[SE_CURRENT] > 0 && s[SE_DONE] == s[SE_CURRENT] &&
		s[SE_MISSING] == 0 && s[SE_AWAITED] == 0;
	memset(n, false, sizeof(n));
	v[0] = CStringGetTextDatum(verdict(s, complete, s[SE_DEADLINE]));
	v[1] = CStringGetTextDatum(verdict(s, complete, s[SE_SLA_END]));
	if (complete && s[SE_END] != SE_UNSET)
	{
		v[2] = TimestampTzGetDatum(s[SE_END]);
		v[3] = Float8GetDatum(seconds_between(s[SE_END], s[SE_DEADLINE]));
	}
	else
	{
		n[2] = true;
		/*
		 * Not complete and past the deadline: late by at least this much, up
		 * to the end of the SLA window (after it, the day is lost anyway and
		 * the figure stops growing).
		 */
		if (s[SE_ROWS] > 0 && !complete && s[SE_AS_OF] >= s[SE_DEADLINE])
			v[3] = Float8GetDatum(seconds_between(Min(s[SE_AS_OF], s[SE_SLA_END]), s[SE_DEADLINE]));
		else
			n[3] = true;
	}
	v[4] = Int32GetDatum((int32) s[SE_CURRENT]);
	v[5] = Int32GetDatum((int32) s[SE_DONE]);
	v[6] = Int32GetDatum((int32) s[SE_OPEN]);
	v[7] = Int32GetDatum((int32) s[SE_FAILURES]);
	v[8] = Int32GetDatum((int32) s[SE_RETRIES]);
	v[9] = Int32GetDatum((int32) s[SE_MISSING]);
	v[10] = Int32GetDatum((int32) s[SE_AWAITED]);
	/* complete: the job that finished last; else a job not done yet */
	if (complete)
	{
		v[11] = Int32GetDatum((int32) s[SE_CRITICAL]);
		n[11] = s[SE_CRITICAL] == SE_UNSET;
	}
	else
	{
		v[11] = Int32GetDatum((int32) s[SE_BLOCKER]);
		n[11] = s[SE_BLOCKER] == PG_INT64_MAX;
	}
	for (i = 0; i < 12; i++)
		if (n[i])
			v[i] = (Datum) 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}
