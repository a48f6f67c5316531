/*
 * fuzz_cron.c
 *	  libFuzzer target: the cron parser and day rule of src/cron_parse.c.
 *
 * Arbitrary bytes (cut at the first NUL, as text_to_cstring would never
 * pass one) go to cron_parse().  Whatever it answers must hold:
 *	 - a refusal has a message and a position inside the expression (or one
 *	   past its end);
 *	 - names, L, W and cron( are case-insensitive and blanks around the
 *	   expression do not matter: the upper-cased text and the text after a
 *	   blank parse to the same schedule, or fail at the same place;
 *	 - an accepted schedule has no bit outside its field's range, no field
 *	   left empty, and no AWS-only form outside cron(...);
 *	 - on every day of 2000-01-01 .. 2027-12-31 (28 years: every calendar
 *	   a year can have) cron_day_matches() agrees with a reference made by
 *	   counting days, not by arithmetic, and the calendar helpers agree too.
 * A broken invariant aborts, which libFuzzer reports as a crash with the
 * input.  Schedules that never run on any of those days (0 0 30 2 *, which
 * cron accepts, and kant too: cron_next() is then NULL) are printed, the
 * first few, so a reader sees what the fuzzer found to be legal but idle.
 *
 * Built and run by `make fuzz` (test/harness/fuzz.sh):
 * fuzz-sources: src/cron_parse.c
 * fuzz-max-len: 256
 */
#include "postgres_fe.h"

#include <stdio.h>
#include <stdlib.h>

#include "cron_parse.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPAN_FROM 2000
#define SPAN_TO 2027

static char *never_printed[5];

static void
fail(const char *expr, const char *what)
{
	fprintf(stderr, "fuzz_cron: invariant broken for \"%s\": %s\n", expr, what);
	abort();
}

/* Parse; a refusal must have a message and a position in [1, len + 1]. */
static bool
parse(const char *expr, CronSpec *c, int *pos)
{
	CronError	e = {0};
	bool		ok = cron_parse(expr, c, &e);

	*pos = 0;
	if (ok)
	{
		if (e.msg != NULL)
			fail(expr, "accepted with an error message");
		return true;
	}
	if (e.msg == NULL || e.msg[0] == '\0')
		fail(expr, "refused without a message");
	if (e.pos < 1 || (size_t) e.pos > strlen(expr) + 1)
		fail(expr, "error position outside the expression");
	*pos = e.pos;
	pfree(e.msg);
	return false;
}

static void
check_ranges(const char *expr, const CronSpec *c)
{
	bool		any_nth = false;
	bool		any_year = false;
	int			i;

	if (c->minutes == 0 || (c->minutes >> 60) != 0)
		fail(expr, "minute bits empty or past 59");
	if (c->hours == 0 || (c->hours >> 24) != 0)
		fail(expr, "hour bits empty or past 23");
	if (c->months == 0 || (c->months >> 12) != 0)
		fail(expr, "month bits empty or past 12");
	if ((c->dom >> 31) != 0 || (c->dom_weekday >> 31) != 0)
		fail(expr, "day-of-month bits past 31");
	if ((c->dow >> 7) != 0 || (c->dow_last >> 7) != 0)
		fail(expr, "day-of-week bits past Saturday");
	for (i = 0; i < 7; i++)
	{
		if ((c->dow_nth[i] >> 5) != 0)
			fail(expr, "#n bits past 5");
		any_nth |= c->dow_nth[i] != 0;
	}
	for (i = 0; i <= CRON_YEAR_MAX - CRON_YEAR_MIN; i++)
		any_year |= (c->years[i / 8] >> (i % 8)) & 1;
	for (; i < (int) sizeof(c->years) * 8; i++)
		if ((c->years[i / 8] >> (i % 8)) & 1)
			fail(expr, "year bit past the last year");
	if (!c->dom_any && c->dom == 0 && c->dom_weekday == 0 && !c->dom_last && !c->dom_last_weekday)
		fail(expr, "day-of-month field accepted empty");
	if (!c->dow_any && c->dow == 0 && c->dow_last == 0 && !any_nth)
		fail(expr, "day-of-week field accepted empty");
	if (!c->years_any && !any_year)
		fail(expr, "year field accepted empty");
	if (!c->aws && (c->dom_weekday || c->dom_last || c->dom_last_weekday || c->dow_last ||
					!c->years_any))
		fail(expr, "AWS-only form accepted in standard cron");
	if (c->aws && !c->dom_any && !c->dow_any)
		fail(expr, "AWS cron accepted without '?' in a day field");
}

/*
 * The day rule, by counting: wday[d] and nth[d] come from walking the month
 * from a weekday carried day by day; the nearest weekday is searched for.
 * Vixie cron: both day fields restricted (neither begins with *) -> either
 * matches; AWS: one is '?' and both must match.
 */
static void
check_month(const char *expr, const CronSpec *c, int y, int m, int first_wday, int ndays)
{
	int			wday[32],
				nth[32],
				nearest[32],
				seen[7] = {0};
	int			last_weekday = 0;
	int			d,
				k;

	for (d = 1; d <= ndays; d++)
	{
		wday[d] = (first_wday + d - 1) % 7;
		nth[d] = ++seen[wday[d]];	/* the k-th such weekday of the month */
		if (wday[d] != 0 && wday[d] != 6)
			last_weekday = d;
	}
	/* kW past the month's end runs on no day of it, as plain k does */
	for (k = 1; k <= 31; k++)
	{
		int			best = 0;

		for (d = 1; d <= ndays && k <= ndays; d++)
			if (wday[d] != 0 && wday[d] != 6 &&
				(best == 0 || abs(d - k) < abs(best - k)))
				best = d;
		nearest[k] = best;
	}
	if (cron_days_in_month(y, m) != ndays)
		fail(expr, "cron_days_in_month disagrees with the calendar");
	if (cron_nearest_weekday(y, m, ndays) != last_weekday)
		fail(expr, "cron_nearest_weekday(last) is not the last weekday");

	for (d = 1; d <= ndays; d++)
	{
		bool		dom_ok = c->dom_any;
		bool		dow_ok = c->dow_any;
		bool		want;
		int			w = wday[d];

		if (cron_weekday(y, m, d) != w)
			fail(expr, "cron_weekday disagrees with the calendar");
		if (cron_nearest_weekday(y, m, d) != nearest[d])
			fail(expr, "cron_nearest_weekday disagrees with a search");
		if (!dom_ok)
		{
			dom_ok = ((c->dom >> (d - 1)) & 1) ||
				(c->dom_last && d == ndays) ||
				(c->dom_last_weekday && d == last_weekday);
			for (k = 1; k <= 31 && !dom_ok; k++)
				if (((c->dom_weekday >> (k - 1)) & 1) && nearest[k] == d)
					dom_ok = true;
		}
		if (!dow_ok)
			dow_ok = ((c->dow >> w) & 1) ||
				(((c->dow_last >> w) & 1) && d + 7 > ndays) ||
				((c->dow_nth[w] >> (nth[d] - 1)) & 1);
		if (!c->aws && !c->dom_star && !c->dow_star)
			want = dom_ok || dow_ok;
		else
			want = dom_ok && dow_ok;
		if (cron_day_matches(c, y, m, d) != want)
			fail(expr, "cron_day_matches disagrees with the reference");
	}
}

static void
check_days(const char *expr, const CronSpec *c)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			wday = 6;		/* 2000-01-01 was a Saturday */
	int			runs = 0;
	int			y,
				m;

	for (y = SPAN_FROM; y <= SPAN_TO; y++)
	{
		bool		leap = (y % 4 == 0);	/* true for 2000-2027 */

		for (m = 1; m <= 12; m++)
		{
			int			ndays = len[m - 1] + (m == 2 && leap ? 1 : 0);
			int			d;

			check_month(expr, c, y, m, wday, ndays);
			if ((c->months >> (m - 1)) & 1)
				for (d = 1; d <= ndays; d++)
					runs += cron_day_matches(c, y, m, d);
			wday = (wday + ndays) % 7;
		}
	}
	for (y = CRON_YEAR_MIN - 10; y <= CRON_YEAR_MAX + 10; y++)
	{
		bool		in = y >= CRON_YEAR_MIN && y <= CRON_YEAR_MAX &&
			((c->years[(y - CRON_YEAR_MIN) / 8] >> ((y - CRON_YEAR_MIN) % 8)) & 1);

		if (cron_year_matches(c, y) != (c->years_any || in))
			fail(expr, "cron_year_matches disagrees with the year bits");
	}
	if (runs == 0)
	{
		int			i;

		for (i = 0; i < (int) lengthof(never_printed) && never_printed[i]; i++)
			if (strcmp(never_printed[i], expr) == 0)
				return;
		if (i == (int) lengthof(never_printed))
			return;
		never_printed[i] = strdup(expr);
		fprintf(stderr, "fuzz_cron: accepted, but its month and day fields match no day of %d-%d: \"%s\"\n",
				SPAN_FROM, SPAN_TO, expr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *expr = malloc(size + 1);
	char	   *upper = malloc(size + 1);
	char	   *blank = malloc(size + 2);
	CronSpec	c,
				c2;
	int			pos,
				pos2;
	bool		ok;
	size_t		i;

	memcpy(expr, data, size);
	expr[size] = '\0';
	for (i = 0; expr[i]; i++)
		upper[i] = (expr[i] >= 'a' && expr[i] <= 'z') ? expr[i] - 'a' + 'A' : expr[i];
	upper[i] = '\0';
	blank[0] = ' ';
	strcpy(blank + 1, expr);

	ok = parse(expr, &c, &pos);
	if (parse(upper, &c2, &pos2) != ok || (ok ? memcmp(&c, &c2, sizeof(c)) != 0 : pos != pos2))
		fail(expr, "upper case parses differently");
	if (parse(blank, &c2, &pos2) != ok || (ok ? memcmp(&c, &c2, sizeof(c)) != 0 : pos + 1 != pos2))
		fail(expr, "a leading blank parses differently");
	if (ok)
	{
		check_ranges(expr, &c);
		check_days(expr, &c);
	}
	free(expr);
	free(upper);
	free(blank);
	return 0;
}
