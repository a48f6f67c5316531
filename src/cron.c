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
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "kant.h"

#define YEAR_MIN 1970
#define YEAR_MAX 2199

typedef struct CronSpec
{
	uint64		minutes;		/* bit m: minute m */
	uint32		hours;			/* bit h */
	uint32		months;			/* bit m-1 */
	uint32		dom;			/* bit d-1: day d of the month */
	uint32		dom_weekday;	/* bit d-1: the weekday nearest day d (dW) */
	bool		dom_last;		/* L: the last day of the month */
	bool		dom_last_weekday;	/* LW */
	uint8		dow;			/* bit 0..6: Sunday..Saturday */
	uint8		dow_last;		/* bit w: the last weekday w of the month (wL) */
	uint8		dow_nth[7];		/* bit k-1 of [w]: the k-th weekday w (w#k) */
	bool		dom_any;		/* * or ? */
	bool		dow_any;
	bool		dom_star;		/* the field begins with * (Vixie's rule) */
	bool		dow_star;
	bool		hour_star;		/* every hour: runs by real time across DST */
	bool		aws;
	uint8		years[(YEAR_MAX - YEAR_MIN + 8) / 8];
	bool		years_any;
} CronSpec;

typedef struct CronError
{
	int			pos;			/* 1-based position in the expression */
	char	   *msg;
} CronError;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
"JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

typedef enum Field
{
	F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_YEAR
} Field;

static const char *const field_names[] = {"minute", "hour", "day-of-month", "month",
"day-of-week", "year"};

static bool
cron_fail(CronError *e, int pos, const char *fmt,...) pg_attribute_printf(3, 4);

static bool
cron_fail(CronError *e, int pos, const char *fmt,...)
{
	va_list		ap;
	char		buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->pos = pos;
	e->msg = pstrdup(buf);
	return false;
}

static void
field_range(Field f, bool aws, int *lo, int *hi)
{
	switch (f)
	{
		case F_MINUTE:
			*lo = 0, *hi = 59;
			break;
		case F_HOUR:
			*lo = 0, *hi = 23;
			break;
		case F_DOM:
			*lo = 1, *hi = 31;
			break;
		case F_MONTH:
			*lo = 1, *hi = 12;
			break;
		case F_DOW:
			*lo = aws ? 1 : 0, *hi = 7;
			break;
		case F_YEAR:
			*lo = YEAR_MIN, *hi = YEAR_MAX;
			break;
	}
}

/* A number or a name at s (advancing it); -1 when there is none. */
static int
read_value(const char **s, Field f)
{
	const char *p = *s;
	int			v = 0;
	int			i;

	if (isdigit((unsigned char) *p))
	{
		while (isdigit((unsigned char) *p) && v < 100000)
			v = v * 10 + (*p++ - '0');
		*s = p;
		return v;
	}
	if (f == F_MONTH || f == F_DOW)
	{
		const char *const *names = (f == F_MONTH) ? month_names : dow_names;
		int			n = (f == F_MONTH) ? 12 : 7;

		for (i = 0; i < n; i++)
		{
			if (pg_strncasecmp(p, names[i], 3) == 0)
			{
				*s = p + 3;
				return -(i + 2);	/* a name: decoded by the caller */
			}
		}
	}
	return -1;
}

/* Decode a value read by read_value into the field's numbering. */
static int
decode_value(int raw, Field f, bool aws)
{
	if (raw >= 0)
		return raw;
	if (f == F_MONTH)
		return -raw - 1;		/* JAN = 1 */
	/* SUN: 0 in standard cron, 1 in AWS */
	return (-raw - 2) + (aws ? 1 : 0);
}

/* day-of-week in the field's numbering -> 0 (Sunday) .. 6 */
static int
dow_index(int v, bool aws)
{
	if (aws)
		return v - 1;
	return v % 7;
}

static void
set_bit(CronSpec *c, Field f, int v)
{
	switch (f)
	{
		case F_MINUTE:
			c->minutes |= UINT64CONST(1) << v;
			break;
		case F_HOUR:
			c->hours |= ((uint32) 1) << v;
			break;
		case F_DOM:
			c->dom |= ((uint32) 1) << (v - 1);
			break;
		case F_MONTH:
			c->months |= ((uint32) 1) << (v - 1);
			break;
		case F_DOW:
			c->dow |= (uint8) (1 << dow_index(v, c->aws));
			break;
		case F_YEAR:
			c->years[(v - YEAR_MIN) / 8] |= (uint8) (1 << ((v - YEAR_MIN) % 8));
			break;
	}
}

/*
 * Parse one field: text [start, start+len) of the expression expr.
 */
static bool
parse_field(CronSpec *c, Field f, const char *expr, int start, int len, CronError *e)
{
	const char *s = expr + start;
	const char *end = s + len;
	int			lo,
				hi;

	field_range(f, c->aws, &lo, &hi);
	if (*s == '*')
	{
		if (f == F_DOM)
			c->dom_star = true;
		else if (f == F_DOW)
			c->dow_star = true;
		else if (f == F_HOUR)
			c->hour_star = true;
	}

	if (len == 1 && (*s == '*' || *s == '?'))
	{
		if (*s == '?' && c->aws && f != F_DOM && f != F_DOW)
			return cron_fail(e, start + 1, "'?' is allowed only in the day-of-month and day-of-week fields");
		if (f == F_DOM)
			c->dom_any = true;
		else if (f == F_DOW)
			c->dow_any = true;
		else if (f == F_YEAR)
			c->years_any = true;
		else
		{
			int			v;

			for (v = lo; v <= hi; v++)
				set_bit(c, f, v);
		}
		return true;
	}

	while (s < end)
	{
		const char *item = s;
		int			from,
					to,
					step = 1;
		int			raw;

		/* special day forms */
		if (f == F_DOM && pg_strncasecmp(s, "LW", 2) == 0 && (s + 2 == end || s[2] == ','))
		{
			c->dom_last_weekday = true;
			s += 2;
			goto next;
		}
		if (f == F_DOM && (*s == 'L' || *s == 'l') && (s + 1 == end || s[1] == ','))
		{
			c->dom_last = true;
			s += 1;
			goto next;
		}
		if (f == F_DOW && (*s == 'L' || *s == 'l') && (s + 1 == end || s[1] == ','))
		{
			/* L alone in day-of-week: Saturday, the last day of the week */
			set_bit(c, f, c->aws ? 7 : 6);
			s += 1;
			goto next;
		}

		if (*s == '*')
		{
			from = lo;
			to = hi;
			s++;
		}
		else
		{
			raw = read_value(&s, f);
			if (raw == -1)
				return cron_fail(e, (int) (s - expr) + 1, "expected a %s value", field_names[f]);
			from = to = decode_value(raw, f, c->aws);
			if (from < lo || from > hi)
				return cron_fail(e, (int) (item - expr) + 1, "%s value %d is out of range %d-%d",
								 field_names[f], from, lo, hi);
			if (f == F_DOM && s < end && (*s == 'W' || *s == 'w'))
			{
				if (!c->aws)
					return cron_fail(e, (int) (s - expr) + 1, "W is AWS cron syntax: use cron(...)");
				c->dom_weekday |= ((uint32) 1) << (from - 1);
				s++;
				goto next;
			}
			if (f == F_DOW && s < end && (*s == 'L' || *s == 'l'))
			{
				c->dow_last |= (uint8) (1 << dow_index(from, c->aws));
				s++;
				goto next;
			}
			if (f == F_DOW && s < end && *s == '#')
			{
				int			k;

				s++;
				k = read_value(&s, F_MINUTE);
				if (k < 1 || k > 5)
					return cron_fail(e, (int) (s - expr) + 1, "the n in #n must be 1 to 5");
				c->dow_nth[dow_index(from, c->aws)] |= (uint8) (1 << (k - 1));
				goto next;
			}
			if (s < end && *s == '-')
			{
				const char *tp = ++s;

				raw = read_value(&s, f);
				if (raw == -1)
					return cron_fail(e, (int) (tp - expr) + 1, "expected the end of a %s range",
									 field_names[f]);
				to = decode_value(raw, f, c->aws);
				if (to < lo || to > hi)
					return cron_fail(e, (int) (tp - expr) + 1, "%s value %d is out of range %d-%d",
									 field_names[f], to, lo, hi);
				if (to < from)
					return cron_fail(e, (int) (item - expr) + 1, "range %d-%d runs backwards",
									 from, to);
			}
			else if (s < end && *s == '/')
				to = hi;		/* AWS and Quartz: start/step means start to the end */
		}
		if (s < end && *s == '/')
		{
			const char *sp = ++s;

			step = read_value(&s, F_YEAR);
			if (step < 1)
				return cron_fail(e, (int) (sp - expr) + 1, "expected a step of 1 or more");
		}
		{
			int			v;

			for (v = from; v <= to; v += step)
				set_bit(c, f, v);
		}
next:
		if (s < end)
		{
			if (*s != ',')
				return cron_fail(e, (int) (s - expr) + 1, "unexpected '%c' in the %s field",
								 *s, field_names[f]);
			s++;
			if (s == end)
				return cron_fail(e, (int) (s - expr) + 1, "a list may not end with ','");
		}
	}
	return true;
}

static bool
parse_cron(const char *expr, CronSpec *c, CronError *e)
{
	const char *s = expr;
	const char *body;
	int			starts[7];
	int			lens[7];
	int			n = 0;
	int			len;
	int			i;
	const char *preset = NULL;

	memset(c, 0, sizeof(*c));
	while (isspace((unsigned char) *s))
		s++;
	if (*s == '@')
	{
		static const char *const presets[][2] = {
			{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
			{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
			{"@hourly", "0 * * * *"}};
		const char *end = s;

		while (*end && !isspace((unsigned char) *end))
			end++;
		for (i = 0; i < (int) lengthof(presets); i++)
			if (strlen(presets[i][0]) == (size_t) (end - s) &&
				pg_strncasecmp(s, presets[i][0], end - s) == 0)
				preset = presets[i][1];
		if (!preset)
			return cron_fail(e, (int) (s - expr) + 1,
							 "unknown preset; kant knows @hourly, @daily, @weekly, @monthly, @yearly");
		while (isspace((unsigned char) *end))
			end++;
		if (*end)
			return cron_fail(e, (int) (end - expr) + 1, "nothing may follow a preset");
		return parse_cron(preset, c, e);
	}
	if (pg_strncasecmp(s, "cron(", 5) == 0)
	{
		const char *close = strrchr(s, ')');
		const char *after;

		if (close == NULL)
			return cron_fail(e, (int) strlen(expr) + 1, "cron( is not closed with ')'");
		after = close + 1;
		while (isspace((unsigned char) *after))
			after++;
		if (*after)
			return cron_fail(e, (int) (after - expr) + 1, "nothing may follow cron(...)");
		c->aws = true;
		body = s + 5;
		len = (int) (close - body);
	}
	else
	{
		body = s;
		len = (int) strlen(s);
		while (len > 0 && isspace((unsigned char) body[len - 1]))
			len--;
	}

	/* split into fields */
	i = 0;
	while (i < len)
	{
		while (i < len && isspace((unsigned char) body[i]))
			i++;
		if (i >= len)
			break;
		if (n == 6)
			return cron_fail(e, (int) (body - expr) + i + 1, "too many fields");
		starts[n] = (int) (body - expr) + i;
		while (i < len && !isspace((unsigned char) body[i]))
			i++;
		lens[n] = (int) (body - expr) + i - starts[n];
		n++;
	}
	if (n == 6 && !c->aws)
		c->aws = true;			/* the AWS form without cron( ) */
	if (n != (c->aws ? 6 : 5))
		return cron_fail(e, (int) (body - expr) + len + 1,
						 c->aws ? "AWS cron has 6 fields: minute hour day-of-month month day-of-week year, found %d" :
						 "cron has 5 fields: minute hour day-of-month month day-of-week, found %d", n);
	for (i = 0; i < n; i++)
		if (!parse_field(c, (Field) i, expr, starts[i], lens[i], e))
			return false;
	if (!c->aws)
		c->years_any = true;
	if (c->aws)
	{
		bool		dom_q = (lens[F_DOM] == 1 && expr[starts[F_DOM]] == '?');
		bool		dow_q = (lens[F_DOW] == 1 && expr[starts[F_DOW]] == '?');

		if (dom_q == dow_q)
			return cron_fail(e, starts[dom_q ? F_DOW : F_DOM] + 1,
							 "AWS cron needs '?' in exactly one of day-of-month and day-of-week");
	}
	else if ((c->dom_last || c->dom_last_weekday || c->dow_last))
		return cron_fail(e, starts[c->dow_last ? F_DOW : F_DOM] + 1, "L is AWS cron syntax: use cron(...)");
	return true;
}

/* ------------------------------------------------------------- matching */

static int
days_in_month(int y, int m)
{
	return day_tab[isleap(y)][m - 1];
}

/* 0 = Sunday */
static int
weekday(int y, int m, int d)
{
	return j2day(date2j(y, m, d));
}

/* The weekday (Mon-Fri) nearest to day d of the month, not leaving the month. */
static int
nearest_weekday(int y, int m, int d)
{
	int			last = days_in_month(y, m);
	int			w;

	if (d > last)
		d = last;
	w = weekday(y, m, d);
	if (w == 6)					/* Saturday: Friday, or Monday if the 1st */
		return (d == 1) ? 3 : d - 1;
	if (w == 0)					/* Sunday: Monday, or Friday if the last */
		return (d == last) ? d - 2 : d + 1;
	return d;
}

static bool
day_matches(const CronSpec *c, int y, int m, int d)
{
	int			last = days_in_month(y, m);
	int			w = weekday(y, m, d);
	bool		dom_ok = c->dom_any;
	bool		dow_ok = c->dow_any;
	int			k;

	if (!dom_ok)
	{
		if (c->dom & (((uint32) 1) << (d - 1)))
			dom_ok = true;
		if (c->dom_last && d == last)
			dom_ok = true;
		if (c->dom_last_weekday && d == nearest_weekday(y, m, last))
			dom_ok = true;
		for (k = 1; k <= last && !dom_ok && c->dom_weekday; k++)
			if ((c->dom_weekday & (((uint32) 1) << (k - 1))) && nearest_weekday(y, m, k) == d)
				dom_ok = true;
	}
	if (!dow_ok)
	{
		if (c->dow & (1 << w))
			dow_ok = true;
		if ((c->dow_last & (1 << w)) && d + 7 > last)
			dow_ok = true;
		if (c->dow_nth[w] & (1 << ((d - 1) / 7)))
			dow_ok = true;
	}
	/*
	 * Standard cron (Vixie): when both day fields are restricted, either
	 * matches; a field that begins with * counts as unrestricted.  AWS: one
	 * of them is '?', i.e. always true.
	 */
	if (!c->aws && !c->dom_star && !c->dow_star)
		return dom_ok || dow_ok;
	return dom_ok && dow_ok;
}

static bool
year_matches(const CronSpec *c, int y)
{
	if (c->years_any)
		return true;
	if (y < YEAR_MIN || y > YEAR_MAX)
		return false;
	return (c->years[(y - YEAR_MIN) / 8] & (1 << ((y - YEAR_MIN) % 8))) != 0;
}

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

static void
parse_or_error(const char *expr, CronSpec *c)
{
	CronError	e = {0};

	if (!parse_cron(expr, c, &e))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\" at position %d: %s", expr, e.pos, e.msg),
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
 * Call emit for every occurrence in [from, to), in order, each instant once;
 * stop early when emit returns false.  DST: a time that does not exist runs
 * once, shifted by the gap; a time that repeats runs once, the first time.
 * A schedule for every hour (hour field *) runs by real time instead, like
 * Vixie cron: the repeated hour runs twice and the missing hour not at all.
 */
static void
expand(const CronSpec *c, pg_tz *tz, TimestampTz from, TimestampTz to,
	   bool (*emit) (void *arg, TimestampTz t), void *arg)
{
	int			jd = POSTGRES_EPOCH_JDATE + (int) kant_floor_days(kant_local_time(from, tz)) - 1;
	int			jd_end = POSTGRES_EPOCH_JDATE + (int) kant_floor_days(kant_local_time(to, tz)) + 1;
	TimestampTz *day = palloc(sizeof(TimestampTz) * 24 * 60 * 2);
	bool		any = false;
	TimestampTz last = 0;

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
		if (!(c->months & (1u << (m - 1))) || !year_matches(c, y) || !day_matches(c, y, m, d))
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

	PG_RETURN_BOOL(parse_cron(text_to_cstring(PG_GETARG_TEXT_PP(0)), &c, &e));
}

PG_FUNCTION_INFO_V1(kant_cron_check);
Datum
kant_cron_check(PG_FUNCTION_ARGS)
{
	CronSpec	c;

	parse_or_error(text_to_cstring(PG_GETARG_TEXT_PP(0)), &c);
	PG_RETURN_VOID();
}

/* The schedule (argument 0) and the zone (argument 1) of a cron function. */
static pg_tz *
cron_args(FunctionCallInfo fcinfo, CronSpec *c)
{
	parse_or_error(text_to_cstring(PG_GETARG_TEXT_PP(0)), c);
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
	pg_tz	   *tz = cron_args(fcinfo, &c);
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz to = PG_GETARG_TIMESTAMPTZ(3);

	if (TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the range of a cron expansion must be finite")));
	if (to - from > (int64) 3660 * USECS_PER_DAY)
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
	pg_tz	   *tz = cron_args(fcinfo, &c);
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);
	First		f = {0};
	TimestampTz from = after + 1;
	int64		end_day = date2j(YEAR_MAX + 1, 1, 1) - POSTGRES_EPOCH_JDATE;

	if (TIMESTAMP_NOT_FINITE(after))
		PG_RETURN_NULL();
	/* look a year at a time, up to the last year the year field allows */
	while (!f.found && kant_floor_days(kant_local_time(from, tz)) < end_day)
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
