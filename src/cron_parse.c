/*
 * cron_parse.c
 *	  Cron expressions: parsing into bit sets, and which days a schedule
 *	  runs on.  The two dialects are described in cron.c, which expands a
 *	  parsed schedule in a time zone.
 *
 * Nothing here uses the backend: it compiles into kant.so and, with
 * -DFRONTEND, into the fuzz target test/fuzz/fuzz_cron.c against
 * libpgcommon and libpgport (pstrdup, pg_strncasecmp, pg_vsnprintf).
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <ctype.h>

#include "cron_parse.h"

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
			*lo = CRON_YEAR_MIN, *hi = CRON_YEAR_MAX;
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
			c->years[(v - CRON_YEAR_MIN) / 8] |= (uint8) (1 << ((v - CRON_YEAR_MIN) % 8));
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
	if (f == F_DOM && memchr(s, '*', len) != NULL)
		c->dom_has_star = true;
	else if (f == F_DOW && memchr(s, '*', len) != NULL)
		c->dow_has_star = true;
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
		bool		wrap = false;

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
		if (f == F_DOW && c->croniter && (*s == 'L' || *s == 'l') && s + 1 < end &&
			isdigit((unsigned char) s[1]))
		{
			/* croniter: L5, the last Friday of the month */
			const char *vp = ++s;

			raw = read_value(&s, f);
			from = decode_value(raw, f, false);
			if (raw == -1 || from < lo || from > hi)
				return cron_fail(e, (int) (vp - expr) + 1, "expected a day of the week after L");
			c->dow_last |= (uint8) (1 << dow_index(from, false));
			goto next;
		}
		if (f == F_DOW && (*s == 'L' || *s == 'l') && (s + 1 == end || s[1] == ',') && c->croniter)
			return cron_fail(e, (int) (s - expr) + 1, "croniter has no L alone in day-of-week: write L5 for the last Friday");
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
				if (c->croniter)
					return cron_fail(e, (int) (s - expr) + 1,
									 "croniter writes the last Friday of the month as L5, not 5L");
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
			if (s < end && *s == '-' && f == F_DOM && c->croniter && s + 1 < end &&
				(s[1] == 'L' || s[1] == 'l') && (s + 2 == end || s[2] == ',' || s[2] == '/'))
			{
				/* croniter: 15-L is the 15th to the last day (croniter.py: high "l" is 31) */
				s += 2;
				to = 31;
			}
			else if (s < end && *s == '-')
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
				if (to < from && !c->croniter)
					return cron_fail(e, (int) (item - expr) + 1, "range %d-%d runs backwards",
									 from, to);
				/* croniter: a range past the end wraps around (sat-sun, 22-2) */
				wrap = (to < from);
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
			if (wrap)
				return cron_fail(e, (int) (sp - expr), "kant does not step through a range that wraps around");
		}
		{
			int			v;

			if (wrap)
			{
				for (v = from; v <= hi; v++)
					set_bit(c, f, v);
				for (v = lo; v <= to; v++)
					set_bit(c, f, v);
			}
			else
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

bool
cron_parse(const char *expr, CronSpec *c, CronError *e)
{
	return cron_parse_dialect(expr, CRON_VIXIE, c, e);
}

/*
 * croniter's day rule (croniter.py: expand() and _calc_next()): a day field
 * that is * or ?, or lists every day while the other field holds a *, is
 * "any"; when neither is, a day matches either field.  Vixie cron instead
 * lets a field that begins with * make it match both (see cron_day_matches).
 */
static void
croniter_day_rule(CronSpec *c)
{
	bool		nth = false;
	bool		dom_all;
	bool		dow_all;
	int			w;

	for (w = 0; w < 7; w++)
		nth |= (c->dow_nth[w] != 0);
	dom_all = c->dom_any || (c->dom == 0x7FFFFFFF && !c->dom_last && c->dow_has_star);
	dow_all = c->dow_any || (c->dow == 0x7F && c->dow_last == 0 && !nth && c->dom_has_star);
	c->day_or = !dom_all && !dow_all;
	c->dow_nth_any = nth || c->dow_last != 0;
}

bool
cron_parse_dialect(const char *expr, CronDialect d, CronSpec *c, CronError *e)
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
	c->croniter = (d == CRON_CRONITER);
	while (isspace((unsigned char) *s))
		s++;
	if (*s == '@')
	{
		/* Airflow's cron_presets add @quarterly (airflow/utils/dates.py) */
		static const char *const presets[][2] = {
			{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
			{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
			{"@hourly", "0 * * * *"}, {"@quarterly", "0 0 1 */3 *"}};
		const char *end = s;

		while (*end && !isspace((unsigned char) *end))
			end++;
		for (i = 0; i < (int) lengthof(presets); i++)
			if (strlen(presets[i][0]) == (size_t) (end - s) &&
				pg_strncasecmp(s, presets[i][0], end - s) == 0 &&
				/* Airflow's own preset, looked up case-sensitively (cron_presets.get) */
				(strcmp(presets[i][0], "@quarterly") != 0 ||
				 (d == CRON_CRONITER && strncmp(s, "@quarterly", end - s) == 0)))
				preset = presets[i][1];
		if (!preset || d == CRON_AWS)
			return cron_fail(e, (int) (s - expr) + 1,
							 d == CRON_CRONITER ?
							 "unknown preset; Airflow knows @hourly, @daily, @weekly, @monthly, @quarterly, @yearly" :
							 d == CRON_AWS ? "AWS cron has no presets: use cron(...)" :
							 "unknown preset; kant knows @hourly, @daily, @weekly, @monthly, @yearly");
		while (isspace((unsigned char) *end))
			end++;
		if (*end)
			return cron_fail(e, (int) (end - expr) + 1, "nothing may follow a preset");
		return cron_parse_dialect(preset, d, c, e);
	}
	if (pg_strncasecmp(s, "cron(", 5) == 0)
	{
		const char *close = strrchr(s, ')');
		const char *after;

		if (d == CRON_CRONITER)
			return cron_fail(e, (int) (s - expr) + 1, "cron(...) is AWS cron, not Airflow's");
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
	if (n == 6 && !c->aws && d != CRON_CRONITER)
		c->aws = true;			/* the AWS form without cron( ) */
	if (d == CRON_AWS && !c->aws)
		return cron_fail(e, (int) (body - expr) + 1,
						 "AWS cron has 6 fields: minute hour day-of-month month day-of-week year, found %d", n);
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
	else if (c->croniter)
	{
		/* croniter: L in day-of-month and Lw in day-of-week, no LW or W */
		bool		nth = (c->dow_last != 0);

		for (i = 0; i < 7; i++)
			nth |= (c->dow_nth[i] != 0);
		if (c->dom_last_weekday)
			return cron_fail(e, starts[F_DOM] + 1, "LW is AWS cron syntax, not Airflow's");
		/* croniter.py expand(): "does not support mixing literal values and nth day of week" */
		if (nth && (c->dow != 0 || c->dow_any))
			return cron_fail(e, starts[F_DOW] + 1,
							 "croniter does not mix days of the week with # or L forms in one field");
		croniter_day_rule(c);

		/*
		 * Airflow runs a schedule by real time across DST only when croniter
		 * expanded its hour field to "*", i.e. it names all 24 hours (a star,
		 * 0-23, a step of 1: airflow/timetables/_cron.py _covers_every_hour);
		 * every second hour is read by local time.
		 */
		c->hour_star = (c->hours == 0xFFFFFFu);
	}
	else if ((c->dom_last || c->dom_last_weekday || c->dow_last))
		return cron_fail(e, starts[c->dow_last ? F_DOW : F_DOM] + 1, "L is AWS cron syntax: use cron(...)");
	return true;
}

/* ------------------------------------------------------------- matching */

static const int month_days[2][12] = {
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}};

static bool
leap_year(int y)
{
	return (y % 4 == 0) && (y % 100 != 0 || y % 400 == 0);
}

int
cron_days_in_month(int y, int m)
{
	return month_days[leap_year(y) ? 1 : 0][m - 1];
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, astronomical year
 * numbering as PostgreSQL's date2j uses (Hinnant's days_from_civil).  The
 * backend's date2j/j2day live in the server binary, not in libpgcommon.
 */
static int64
days_from_civil(int y, int m, int d)
{
	int64		yy = (int64) y - (m <= 2 ? 1 : 0);
	int64		era = (yy >= 0 ? yy : yy - 399) / 400;
	int64		yoe = yy - era * 400;
	int64		doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* 0 = Sunday; 1970-01-01 was a Thursday */
int
cron_weekday(int y, int m, int d)
{
	int64		w = (days_from_civil(y, m, d) + 4) % 7;

	return (int) (w < 0 ? w + 7 : w);
}

/* The weekday (Mon-Fri) nearest to day d of the month, not leaving the month. */
int
cron_nearest_weekday(int y, int m, int d)
{
	int			last = cron_days_in_month(y, m);
	int			w;

	if (d > last)
		d = last;
	w = cron_weekday(y, m, d);
	if (w == 6)					/* Saturday: Friday, or Monday if the 1st */
		return (d == 1) ? 3 : d - 1;
	if (w == 0)					/* Sunday: Monday, or Friday if the last */
		return (d == last) ? d - 2 : d + 1;
	return d;
}

bool
cron_day_matches(const CronSpec *c, int y, int m, int d)
{
	int			last = cron_days_in_month(y, m);
	int			w = cron_weekday(y, m, d);
	bool		dom_ok = c->dom_any;
	bool		dow_ok = c->dow_any;
	int			k;

	if (!dom_ok)
	{
		if (c->dom & (((uint32) 1) << (d - 1)))
			dom_ok = true;
		if (c->dom_last && d == last)
			dom_ok = true;
		if (c->dom_last_weekday && d == cron_nearest_weekday(y, m, last))
			dom_ok = true;
		for (k = 1; k <= last && !dom_ok && c->dom_weekday; k++)
			if ((c->dom_weekday & (((uint32) 1) << (k - 1))) && cron_nearest_weekday(y, m, k) == d)
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
	/*
	 * croniter: with # or L in day-of-week (nth_weekday_of_month), both
	 * halves of its union keep that rule, so the day-of-month field adds
	 * nothing: the nth weekday alone decides (croniter.py _calc_next).
	 */
	if (c->croniter && c->dow_nth_any)
		return dow_ok;
	if (c->croniter)
		return c->day_or ? (dom_ok || dow_ok) : (dom_ok && dow_ok);
	if (!c->aws && !c->dom_star && !c->dow_star)
		return dom_ok || dow_ok;
	return dom_ok && dow_ok;
}

bool
cron_year_matches(const CronSpec *c, int y)
{
	if (c->years_any)
		return true;
	if (y < CRON_YEAR_MIN || y > CRON_YEAR_MAX)
		return false;
	return (c->years[(y - CRON_YEAR_MIN) / 8] & (1 << ((y - CRON_YEAR_MIN) % 8))) != 0;
}
