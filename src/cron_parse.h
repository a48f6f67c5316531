/*
 * cron_parse.h
 *	  Cron expressions parsed into bit sets, and the day rule.  Private to
 *	  cron.c (expansion in a time zone) and test/fuzz/fuzz_cron.c: this
 *	  part needs no backend code, so it compiles as frontend code too.
 */
#ifndef CRON_PARSE_H
#define CRON_PARSE_H

#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2199

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
	bool		croniter;		/* croniter's rules (Airflow): see cron_parse_dialect */
	bool		dom_has_star;	/* the field holds a * anywhere (croniter's rule) */
	bool		dow_has_star;
	bool		day_or;			/* croniter: either day field matches */
	bool		dow_nth_any;	/* croniter: day-of-week holds # or L forms */
	uint8		years[(CRON_YEAR_MAX - CRON_YEAR_MIN + 8) / 8];
	bool		years_any;
} CronSpec;

typedef struct CronError
{
	int			pos;			/* 1-based position in the expression */
	char	   *msg;			/* palloc'd */
} CronError;

/* false with *e filled in when expr is not a schedule kant reads */
extern bool cron_parse(const char *expr, CronSpec *c, CronError *e);

/*
 * The dialects a schedule is written in.  CRON_VIXIE: standard cron as
 * Vixie cron and pg_cron read it, or AWS cron(...) (6 fields) as Glue and
 * EventBridge read it, told apart by their form.  CRON_CRONITER: 5-field cron
 * as croniter reads it for Airflow.  CRON_AWS: AWS cron only.
 */
typedef enum CronDialect
{
	CRON_VIXIE,
	CRON_CRONITER,
	CRON_AWS
} CronDialect;

extern bool cron_parse_dialect(const char *expr, CronDialect d, CronSpec *c, CronError *e);

/* calendar: proleptic Gregorian, m 1-12, d 1-31 */
extern int	cron_days_in_month(int y, int m);
extern int	cron_weekday(int y, int m, int d);	/* 0 = Sunday */
extern int	cron_nearest_weekday(int y, int m, int d);

/* does the schedule run on this day (day fields) / in this year (year field) */
extern bool cron_day_matches(const CronSpec *c, int y, int m, int d);
extern bool cron_year_matches(const CronSpec *c, int y);

#endif							/* CRON_PARSE_H */
