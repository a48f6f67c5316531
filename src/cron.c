/*
 * cron.c
 *	  Cron schedules: parse and expand, in an IANA time zone, DST-correct.
 *
 * Two dialects:
 *	 - standard 5-field cron (Airflow, pg_cron): minute hour day-of-month
 *	   month day-of-week, day-of-week 0-7 (0 and 7 are Sunday), names
 *	   JAN-DEC and SUN-SAT, presets @hourly @daily @weekly @monthly @yearly;
 *	   when both day fields are restricted a day matches either (Vixie cron);
 *	 - AWS 6-field cron as Glue triggers and EventBridge write it,
 *	   cron(minute hour day-of-month month day-of-week year): day-of-week
 *	   1-7 with 1 = Sunday, exactly one of the day fields is '?', and the
 *	   day fields take L (last), W (nearest weekday), LW and n#k (k-th
 *	   weekday n of the month).
 *
 * Occurrences are local wall-clock times of the schedule's zone.  A time
 * that does not exist (spring forward) runs once, shifted by the gap, as
 * PostgreSQL reads such a time; a time that exists twice (fall back) runs
 * once, at its first occurrence.
 *
 * Parsing and the day rule are in cron_parse.c (no backend code there, so
 * test/fuzz/fuzz_cron.c fuzzes them as a plain program); this file turns a
 * parsed schedule into instants.
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "kant.h"
#include "cron_parse.h"

/* ------------------------------------------------------- time zones */

/*
 * The instants a local wall-clock time stands for: the offsets a day before
 * and a day after bracket any transition.  Two instants when the time
 * repeats (fall back), none when it does not exist (spring forward; *gap
 * is then the instant at the offset from before the transition, which is
 * how PostgreSQL reads such a time).
 */
static int
local_instants(Timestamp local, pg_tz *tz, TimestampTz *out, TimestampTz *gap)
{
	TimestampTz c_before = local - (kant_local_time(local - USECS_PER_DAY, tz) -
									(local - USECS_PER_DAY));
	TimestampTz c_after = local - (kant_local_time(local + USECS_PER_DAY, tz) -
								   (local + USECS_PER_DAY));
	int			n = 0;

	if (kant_local_time(c_before, tz) == local)
		out[n++] = c_before;
	if (c_after != c_before && kant_local_time(c_after, tz) == local)
		out[n++] = c_after;
	if (n == 2 && out[1] < out[0])
	{
		TimestampTz t = out[0];

		out[0] = out[1];
		out[1] = t;
	}
	*gap = c_before;
	return n;
}

static pg_tz *
zone_or_error(const char *name)
{
	pg_tz	   *tz = kant_zone(name);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown time zone \"%s\"", name),
				 errhint("Use an IANA name such as Asia/Tokyo (see pg_timezone_names).")));
	return tz;
}

/*
 * The dialect argument of a cron function, when it has one (argument argno;
 * the forms without it read standard or AWS cron, as before 0.6.0).
 */
static CronDialect
dialect_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *d;

	if (PG_NARGS() <= argno)
		return CRON_VIXIE;
	d = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(d, "vixie") == 0)
		return CRON_VIXIE;
	if (strcmp(d, "croniter") == 0)
		return CRON_CRONITER;
	if (strcmp(d, "aws") == 0)
		return CRON_AWS;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown cron dialect \"%s\"", d),
			 errhint("A dialect is vixie (standard cron, pg_cron), croniter (Airflow) or aws (Glue, EventBridge).")));
	return CRON_VIXIE;			/* keep the compiler quiet */
}

static void
parse_or_error(const char *expr, CronDialect d, CronSpec *c)
{
	CronError	e = {0};

	if (!cron_parse_dialect(expr, d, c, &e))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\" at position %d: %s", expr, e.pos, e.msg),
				 d == CRON_CRONITER ?
				 errhint("Airflow reads 5-field cron as croniter does (\"30 2 * * *\", L, L5, 5#2) "
						 "or a preset (@daily, @quarterly).") :
				 errhint("Use 5-field cron (\"30 2 * * *\"), a preset (@daily), or AWS "
						 "cron(minute hour day-of-month month day-of-week year), e.g. "
						 "cron(15 12 * * ? *).")));
}

static int
cmp_tstz(const void *a, const void *b)
{
	TimestampTz x = *(const TimestampTz *) a;
	TimestampTz y = *(const TimestampTz *) b;

	return (x > y) - (x < y);
}

/*
 * The Julian days expand() visits: local_instants() probes a day's local
 * times a day either side, which must stay inside PostgreSQL's timestamp
 * range (4714-11-24 BC to 294276); the outermost days of it are skipped.
 */
#define EXPAND_FIRST_JD (DATETIME_MIN_JULIAN + 2)
#define EXPAND_LAST_JD (TIMESTAMP_END_JULIAN - 3)

/* The longest range kant.cron_occurrences() expands: ten years. */
#define CRON_MAX_SPAN ((int64) 3660 * USECS_PER_DAY)

/*
 * The first local wall-clock minute after naive that the schedule names, no
 * later than limit (else DT_NOEND): what croniter's get_next gives for a
 * naive start time.
 */
static Timestamp
next_local(const CronSpec *c, Timestamp naive, Timestamp limit)
{
	int64		day = kant_floor_days(naive);
	int64		minute = (naive - day * USECS_PER_DAY) / USECS_PER_MINUTE + 1;

	for (; day * USECS_PER_DAY <= limit; day++, minute = 0)
	{
		int			y,
					m,
					d,
					h;
		int64		jd = day + POSTGRES_EPOCH_JDATE;

		if (minute >= MINS_PER_HOUR * HOURS_PER_DAY)
			continue;
		if (jd < EXPAND_FIRST_JD || jd > EXPAND_LAST_JD)
			return DT_NOEND;
		j2date((int) jd, &y, &m, &d);
		if (!(c->months & (1u << (m - 1))) || !cron_year_matches(c, y) || !cron_day_matches(c, y, m, d))
			continue;
		for (h = (int) (minute / MINS_PER_HOUR); h < HOURS_PER_DAY; h++)
		{
			int			mi;

			if (!(c->hours & (1u << h)))
				continue;
			for (mi = (h == minute / MINS_PER_HOUR) ? (int) (minute % MINS_PER_HOUR) : 0; mi < MINS_PER_HOUR; mi++)
				if (c->minutes & (UINT64CONST(1) << mi))
				{
					Timestamp	t = day * USECS_PER_DAY + (h * MINS_PER_HOUR + mi) * USECS_PER_MINUTE;

					return t <= limit ? t : DT_NOEND;
				}
		}
	}
	return DT_NOEND;
}

/*
 * Airflow's schedule, run after run (airflow/timetables/_cron.py,
 * CronMixin._get_next): croniter gives the next local wall-clock time after
 * the current run's; when its hour field is all 24 hours
 * (_covers_every_hour) the step is added to the current instant (real time:
 * a repeated hour runs twice, a missing one not at all, a half-hour shift
 * moves the runs by half an hour), else the local time is made an instant
 * with fold=1 (airflow/utils/timezone.py make_aware, pendulum's convert: a
 * time in a gap moves forward by the gap, and the next run is looked for
 * after that; a repeated time is its second instance).
 */
static void
expand_croniter(const CronSpec *c, pg_tz *tz, TimestampTz from, TimestampTz to,
				bool (*emit) (void *arg, TimestampTz t), void *arg)
{
	TimestampTz t = from - 1;
	Timestamp	limit;

	if (to <= from)
		return;
	/* a zone is less than a day off UTC */
	limit = (to > DT_NOEND - 2 * USECS_PER_DAY) ? DT_NOEND - 1 : to + 2 * USECS_PER_DAY;
	for (;;)
	{
		Timestamp	naive,
					next;
		TimestampTz inst[2],
					gap,
					t_next;
		int			k;

		CHECK_FOR_INTERRUPTS();
		naive = kant_local_time(t, tz);
		next = next_local(c, naive, limit);
		if (next == DT_NOEND)
			return;
		if (c->hour_star)
			t_next = t + (next - naive);
		else
		{
			k = local_instants(next, tz, inst, &gap);
			t_next = k == 0 ? gap : inst[k - 1];
		}
		if (t_next <= t)
			t_next = t + USECS_PER_MINUTE;	/* cannot happen; never loop */
		else if (t_next >= to)
			return;
		else if (t_next >= from && !emit(arg, t_next))
			return;
		t = t_next;
	}
}

/*
 * Call emit for every occurrence in [from, to), in order, each instant once;
 * stop early when emit returns false.  DST: a time that does not exist runs
 * once, shifted by the gap; a time that repeats runs once, the first time.
 * A schedule for every hour (hour field *) runs by real time instead, like
 * Vixie cron: the repeated hour runs twice and the missing hour not at all.
 * The croniter dialect runs as Airflow runs it (expand_croniter).
 */
static void
expand(const CronSpec *c, pg_tz *tz, TimestampTz from, TimestampTz to,
	   bool (*emit) (void *arg, TimestampTz t), void *arg)
{
	/*
	 * The local days of [from, to): a zone is less than a day off UTC, so
	 * the UTC days two either side cover them (converting from and to
	 * themselves could leave the timestamp range at its ends).
	 */
	int64		first = POSTGRES_EPOCH_JDATE + kant_floor_days(from) - 2;
	int64		last_day = POSTGRES_EPOCH_JDATE + kant_floor_days(to) + 2;
	int			jd = (int) Max(first, EXPAND_FIRST_JD);
	int			jd_end = (int) Min(last_day, EXPAND_LAST_JD);
	TimestampTz *day;
	bool		any = false;
	TimestampTz last = 0;

	if (c->croniter)
	{
		expand_croniter(c, tz, from, to, emit, arg);
		return;
	}
	day = palloc(sizeof(TimestampTz) * 24 * 60 * 2);
	for (; jd <= jd_end; jd++)
	{
		int			y,
					m,
					d,
					h,
					mi,
					n = 0,
					i;

		CHECK_FOR_INTERRUPTS();
		j2date(jd, &y, &m, &d);
		if (!(c->months & (1u << (m - 1))) || !cron_year_matches(c, y) || !cron_day_matches(c, y, m, d))
			continue;
		for (h = 0; h < 24; h++)
		{
			if (!(c->hours & (1u << h)))
				continue;
			for (mi = 0; mi < 60; mi++)
			{
				Timestamp	local;
				TimestampTz inst[2],
							gap;
				int			k;

				if (!(c->minutes & (UINT64CONST(1) << mi)))
					continue;
				local = ((Timestamp) (jd - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY) +
					(h * MINS_PER_HOUR + mi) * USECS_PER_MINUTE;
				k = local_instants(local, tz, inst, &gap);
				if (k == 0 && !c->hour_star)
					day[n++] = gap;
				else if (k == 2 && c->hour_star)
				{
					day[n++] = inst[0];
					day[n++] = inst[1];
				}
				else if (k > 0)
					day[n++] = inst[0];
			}
		}
		qsort(day, n, sizeof(TimestampTz), cmp_tstz);
		for (i = 0; i < n; i++)
		{
			if (day[i] < from || day[i] >= to || (any && day[i] <= last))
				continue;		/* out of range, or a second local time for one instant */
			any = true;
			last = day[i];
			if (!emit(arg, day[i]))
			{
				pfree(day);
				return;
			}
		}
	}
	pfree(day);
}

/* ---------------------------------------------------------------- SQL */

PG_FUNCTION_INFO_V1(kant_cron_is_valid);
Datum
kant_cron_is_valid(PG_FUNCTION_ARGS)
{
	CronSpec	c;
	CronError	e = {0};

	CronDialect d = dialect_arg(fcinfo, 1);

	PG_RETURN_BOOL(cron_parse_dialect(text_to_cstring(PG_GETARG_TEXT_PP(0)), d, &c, &e));
}

PG_FUNCTION_INFO_V1(kant_cron_check);
Datum
kant_cron_check(PG_FUNCTION_ARGS)
{
	CronSpec	c;

	parse_or_error(text_to_cstring(PG_GETARG_TEXT_PP(0)), dialect_arg(fcinfo, 1), &c);
	PG_RETURN_VOID();
}

/*
 * The schedule (argument 0), the zone (argument 1) and the dialect (argument
 * dialect_argno, when given) of a cron function.
 */
static pg_tz *
cron_args(FunctionCallInfo fcinfo, CronSpec *c, int dialect_argno)
{
	parse_or_error(text_to_cstring(PG_GETARG_TEXT_PP(0)), dialect_arg(fcinfo, dialect_argno), c);
	return zone_or_error(text_to_cstring(PG_GETARG_TEXT_PP(1)));
}

static bool
collect(void *arg, TimestampTz t)
{
	ReturnSetInfo *rsinfo = arg;
	Datum		v = TimestampTzGetDatum(t);
	bool		isnull = false;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &isnull);
	return true;
}

/* kant.cron_occurrences(expr, time_zone, from, to): every run in [from, to). */
PG_FUNCTION_INFO_V1(kant_cron_occurrences);
Datum
kant_cron_occurrences(PG_FUNCTION_ARGS)
{
	CronSpec	c;
	pg_tz	   *tz = cron_args(fcinfo, &c, 4);
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz to = PG_GETARG_TIMESTAMPTZ(3);
	int64		span;

	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the range of a cron expansion must be finite"),
				 errhint("Give both ends as times, e.g. now() and now() + interval '7 days'.")));
	/* to - from overflows int64 across most of the timestamp range */
	if (from < to && (pg_sub_s64_overflow(to, from, &span) || span > CRON_MAX_SPAN))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cron expansion over more than ten years"),
				 errhint("Expand a shorter range at a time.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (from < to)
		expand(&c, tz, from, to, collect, fcinfo->resultinfo);
	return (Datum) 0;
}

typedef struct First
{
	TimestampTz t;
	bool		found;
} First;

static bool
first(void *arg, TimestampTz t)
{
	First	   *f = arg;

	f->t = t;
	f->found = true;
	return false;
}

/* kant.cron_next(expr, time_zone, after): the first run after a time. */
PG_FUNCTION_INFO_V1(kant_cron_next);
Datum
kant_cron_next(PG_FUNCTION_ARGS)
{
	CronSpec	c;
	pg_tz	   *tz = cron_args(fcinfo, &c, 3);
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);
	First		f = {0};
	TimestampTz from;

	/* UTC midnight a day after the last year the year field allows */
	TimestampTz bound = ((int64) (date2j(CRON_YEAR_MAX + 1, 1, 1) - POSTGRES_EPOCH_JDATE) + 1) *
		USECS_PER_DAY;

	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cron_next needs a finite time to look after"),
				 errhint("Give the time the next run follows, e.g. now().")));
	/* look a year at a time, up to the last year the year field allows */
	for (from = after + 1; !f.found && from < bound;)
	{
		TimestampTz to = from + (int64) 366 * USECS_PER_DAY;

		expand(&c, tz, from, to, first, &f);
		from = to;
	}
	if (!f.found)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(f.t);
}

/*
 * kant.local_instant(local timestamp, time_zone): the instant a local
 * wall-clock time stands for, by the same DST rule as schedules: a time that
 * does not exist is shifted by the gap (02:30 on a spring-forward night is
 * 03:30), a time that repeats is its first occurrence (PostgreSQL's
 * AT TIME ZONE takes the second).  Deadlines are read this way.
 */
PG_FUNCTION_INFO_V1(kant_local_instant);
Datum
kant_local_instant(PG_FUNCTION_ARGS)
{
	Timestamp	local = PG_GETARG_TIMESTAMP(0);
	pg_tz	   *tz = zone_or_error(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	TimestampTz inst[2],
				gap;

	if (TIMESTAMP_NOT_FINITE(local))
		PG_RETURN_TIMESTAMPTZ(local);
	if (local_instants(local, tz, inst, &gap) == 0)
		PG_RETURN_TIMESTAMPTZ(gap);
	PG_RETURN_TIMESTAMPTZ(inst[0]);
}
