/*
 * run_state.c
 *	  kant.run_state: one normalised run state for every scheduler.
 *
 * A pass-by-value, one-byte base type.  Input accepts every spelling the
 * supported sources use (Glue JobRunState, Airflow task states, OpenLineage
 * event types, pg_cron statuses), case-insensitively; output is always the
 * canonical name.
 */
#include "postgres.h"

#include "access/hash.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "kant.h"

static const char *const state_names[RS_MAX + 1] = {
	[RS_INVALID] = NULL,
	[RS_SCHEDULED] = "scheduled",
	[RS_QUEUED] = "queued",
	[RS_RUNNING] = "running",
	[RS_DEFERRED] = "deferred",
	[RS_RETRYING] = "retrying",
	[RS_SUCCEEDED] = "succeeded",
	[RS_FAILED] = "failed",
	[RS_TIMED_OUT] = "timed_out",
	[RS_CANCELLED] = "cancelled",
	[RS_SKIPPED] = "skipped",
	[RS_UPSTREAM_FAILED] = "upstream_failed",
};

/*
 * Every accepted spelling, with the source that uses it.  The source column
 * is documentation (kant.state_mapping()); lookup ignores it.
 */
typedef struct StateSpelling
{
	const char *source;
	const char *spelling;
	RunState	state;
} StateSpelling;

static const StateSpelling spellings[] = {
	/* canonical names */
	{"kant", "scheduled", RS_SCHEDULED},
	{"kant", "queued", RS_QUEUED},
	{"kant", "running", RS_RUNNING},
	{"kant", "deferred", RS_DEFERRED},
	{"kant", "retrying", RS_RETRYING},
	{"kant", "succeeded", RS_SUCCEEDED},
	{"kant", "failed", RS_FAILED},
	{"kant", "timed_out", RS_TIMED_OUT},
	{"kant", "cancelled", RS_CANCELLED},
	{"kant", "skipped", RS_SKIPPED},
	{"kant", "upstream_failed", RS_UPSTREAM_FAILED},
	/* AWS Glue JobRunState */
	{"glue", "STARTING", RS_QUEUED},
	{"glue", "WAITING", RS_QUEUED},
	{"glue", "RUNNING", RS_RUNNING},
	{"glue", "STOPPING", RS_RUNNING},
	{"glue", "SUCCEEDED", RS_SUCCEEDED},
	{"glue", "FAILED", RS_FAILED},
	{"glue", "ERROR", RS_FAILED},
	{"glue", "TIMEOUT", RS_TIMED_OUT},
	{"glue", "EXPIRED", RS_TIMED_OUT},
	{"glue", "STOPPED", RS_CANCELLED},
	/* Airflow task instance states (REST API v1 and v2) */
	{"airflow", "none", RS_SCHEDULED},
	{"airflow", "null", RS_SCHEDULED},
	{"airflow", "scheduled", RS_SCHEDULED},
	{"airflow", "queued", RS_QUEUED},
	{"airflow", "running", RS_RUNNING},
	{"airflow", "restarting", RS_RUNNING},
	{"airflow", "sensing", RS_RUNNING},
	{"airflow", "deferred", RS_DEFERRED},
	{"airflow", "up_for_reschedule", RS_DEFERRED},
	{"airflow", "up_for_retry", RS_RETRYING},
	{"airflow", "success", RS_SUCCEEDED},
	{"airflow", "failed", RS_FAILED},
	{"airflow", "shutdown", RS_CANCELLED},
	{"airflow", "removed", RS_SKIPPED},	/* ignored by DagRun.update_state */
	{"airflow", "skipped", RS_SKIPPED},
	{"airflow", "upstream_failed", RS_UPSTREAM_FAILED},
	/* OpenLineage RunEvent eventType */
	{"openlineage", "START", RS_RUNNING},
	{"openlineage", "RUNNING", RS_RUNNING},
	{"openlineage", "COMPLETE", RS_SUCCEEDED},
	{"openlineage", "FAIL", RS_FAILED},
	{"openlineage", "ABORT", RS_CANCELLED},
	/* pg_cron cron.job_run_details.status */
	{"pg_cron", "starting", RS_QUEUED},
	{"pg_cron", "connecting", RS_RUNNING},
	{"pg_cron", "sending", RS_RUNNING},
	{"pg_cron", "running", RS_RUNNING},
	{"pg_cron", "succeeded", RS_SUCCEEDED},
	{"pg_cron", "failed", RS_FAILED},
	/* common variants */
	{"other", "canceled", RS_CANCELLED},
	{"other", "timeout", RS_TIMED_OUT},
};

#define NUM_SPELLINGS ((int) lengthof(spellings))

static bool
ci_equal(const char *a, int alen, const char *b)
{
	int			i;

	for (i = 0; i < alen; i++)
	{
		if (b[i] == '\0' || pg_ascii_tolower((unsigned char) a[i]) !=
			pg_ascii_tolower((unsigned char) b[i]))
			return false;
	}
	return b[alen] == '\0';
}

/*
 * Map a spelling to its state, or RS_INVALID.  Surrounding blanks are
 * ignored; the comparison is ASCII case-insensitive.
 */
RunState
run_state_from_spelling(const char *s, int len)
{
	int			i;

	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n'))
		len--;
	if (len == 0)
		return RS_INVALID;
	for (i = 0; i < NUM_SPELLINGS; i++)
	{
		if (ci_equal(s, len, spellings[i].spelling))
			return spellings[i].state;
	}
	return RS_INVALID;
}

const char *
run_state_name(RunState st)
{
	if (st <= RS_INVALID || st > RS_MAX)
		elog(ERROR, "kant: corrupt run_state value %d", (int) st);
	return state_names[st];
}

/* A terminal state ends an attempt: nothing will change it but a newer report. */
bool
run_state_terminal(RunState st)
{
	return st >= RS_SUCCEEDED;
}

/*
 * A done state lets what depends on the attempt go on: it succeeded, or the
 * scheduler skipped it.  The one list (kant.is_done() in SQL, kant.slo_eval).
 */
bool
run_state_done(RunState st)
{
	return st == RS_SUCCEEDED || st == RS_SKIPPED;
}

/* "SUCCEEDED, success, ..." for error details; lower-case and de-duplicated. */
char *
run_state_accepted_list(void)
{
	StringInfoData buf;
	int			i,
				j;

	initStringInfo(&buf);
	for (i = 0; i < NUM_SPELLINGS; i++)
	{
		bool		dup = false;

		for (j = 0; j < i; j++)
			if (pg_strcasecmp(spellings[i].spelling, spellings[j].spelling) == 0)
				dup = true;
		if (dup)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		for (j = 0; spellings[i].spelling[j]; j++)
			appendStringInfoChar(&buf, pg_ascii_tolower((unsigned char) spellings[i].spelling[j]));
	}
	return buf.data;
}

static RunState
state_from_cstring_or_error(const char *str)
{
	RunState	st = run_state_from_spelling(str, strlen(str));

	if (st == RS_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input value for kant.run_state: \"%s\"", str),
				 errdetail("Accepted spellings (case-insensitive): %s.",
						   run_state_accepted_list()),
				 errhint("See kant.state_mapping() for what each spelling means.")));
	return st;
}

#define DatumGetRunState(d) ((RunState) DatumGetChar(d))
#define RunStateGetDatum(s) CharGetDatum((char) (s))
#define PG_GETARG_RUNSTATE(n) DatumGetRunState(PG_GETARG_DATUM(n))

PG_FUNCTION_INFO_V1(run_state_in);
Datum
run_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_DATUM(RunStateGetDatum(state_from_cstring_or_error(str)));
}

PG_FUNCTION_INFO_V1(run_state_out);
Datum
run_state_out(PG_FUNCTION_ARGS)
{
	RunState	st = PG_GETARG_RUNSTATE(0);

	PG_RETURN_CSTRING(pstrdup(run_state_name(st)));
}

/* Binary I/O sends the canonical name, like enum_send does with labels. */
PG_FUNCTION_INFO_V1(run_state_recv);
Datum
run_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *str = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);

	PG_RETURN_DATUM(RunStateGetDatum(state_from_cstring_or_error(str)));
}

PG_FUNCTION_INFO_V1(run_state_send);
Datum
run_state_send(PG_FUNCTION_ARGS)
{
	RunState	st = PG_GETARG_RUNSTATE(0);
	const char *name = run_state_name(st);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, name, strlen(name));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define CMP_FUNC(fname, op) \
PG_FUNCTION_INFO_V1(fname); \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(PG_GETARG_RUNSTATE(0) op PG_GETARG_RUNSTATE(1)); \
}

CMP_FUNC(run_state_eq, ==)
CMP_FUNC(run_state_ne, !=)
CMP_FUNC(run_state_lt, <)
CMP_FUNC(run_state_le, <=)
CMP_FUNC(run_state_gt, >)
CMP_FUNC(run_state_ge, >=)

PG_FUNCTION_INFO_V1(run_state_cmp);
Datum
run_state_cmp(PG_FUNCTION_ARGS)
{
	RunState	a = PG_GETARG_RUNSTATE(0);
	RunState	b = PG_GETARG_RUNSTATE(1);

	PG_RETURN_INT32(a < b ? -1 : (a > b ? 1 : 0));
}

PG_FUNCTION_INFO_V1(run_state_hash);
Datum
run_state_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_RUNSTATE(0));
}

PG_FUNCTION_INFO_V1(run_state_is_terminal);
Datum
run_state_is_terminal(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(run_state_terminal(PG_GETARG_RUNSTATE(0)));
}

PG_FUNCTION_INFO_V1(run_state_is_done);
Datum
run_state_is_done(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(run_state_done(PG_GETARG_RUNSTATE(0)));
}

/*
 * kant.state_mapping(): every accepted spelling, its source and its state.
 * The README's mapping table is this function's output.
 */
PG_FUNCTION_INFO_V1(run_state_mapping);
Datum
run_state_mapping(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < NUM_SPELLINGS; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(spellings[i].source);
		values[1] = CStringGetTextDatum(spellings[i].spelling);
		values[2] = RunStateGetDatum(spellings[i].state);
		values[3] = BoolGetDatum(run_state_terminal(spellings[i].state));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
