/*
 * kant.c
 *	  Module entry point and settings.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/guc.h"

#include "kant.h"
#include "http.h"

PG_MODULE_MAGIC;

char	   *kant_default_time_zone = NULL;
bool		kant_keep_payloads = false;
int			kant_touch_interval_s = 900;
int			kant_max_warnings = 10;

void		_PG_init(void);

/* ------------------------------------------------ time-zone helpers */

/* A zone kant can use (an IANA name the server knows), or NULL. */
pg_tz *
kant_zone(const char *name)
{
	pg_tz	   *tz = pg_tzset(name);

	return (tz != NULL && pg_tz_acceptable(tz)) ? tz : NULL;
}

/* The local wall-clock time of t in tz, as a naive timestamp. */
Timestamp
kant_local_time(TimestampTz t, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	Timestamp	local;

	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, tz) != 0 ||
		tm2timestamp(&tm, fsec, NULL, &local) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return local;
}

/* Days since 2000-01-01 of a naive timestamp, rounding down. */
int64
kant_floor_days(Timestamp t)
{
	int64		d = t / USECS_PER_DAY;

	if (t < 0 && t % USECS_PER_DAY != 0)
		d--;
	return d;
}

static bool
check_time_zone_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL)
		return true;
	if (kant_zone(*newval) == NULL)
	{
		GUC_check_errdetail("\"%s\" is not a time zone name known to this server.", *newval);
		GUC_check_errhint("Use an IANA name such as \"Asia/Tokyo\"; see pg_timezone_names.");
		return false;
	}
	return true;
}

void
_PG_init(void)
{
	DefineCustomStringVariable("kant.default_time_zone",
							   "Time zone given to systems that kant registers automatically.",
							   "A system first seen in an ingested payload gets this zone; "
							   "set the real one with kant.alter_system().",
							   &kant_default_time_zone,
							   "UTC",
							   PGC_SUSET, 0,
							   check_time_zone_name, NULL, NULL);

	DefineCustomBoolVariable("kant.keep_payloads",
							 "Store every ingested payload verbatim in kant.ingest_batch.",
							 "Off: only its size and SHA-256 digest are kept "
							 "(rejected records are always kept whole in kant.rejected).",
							 &kant_keep_payloads,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("kant.touch_interval",
							"How stale last_seen may get before an unchanged run is touched.",
							"Re-ingesting an unchanged run writes nothing unless its "
							"last_seen is older than this.",
							&kant_touch_interval_s,
							900, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kant.max_warnings",
							"Rejected records reported as WARNING per ingested batch.",
							"Further rejections are summarised in one line; all are "
							"kept in kant.rejected.",
							&kant_max_warnings,
							10, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	kant_http_define_gucs();
	kant_secrets_define_gucs();
	kant_auth_define_gucs();
	kant_collect_define_gucs();
	MarkGUCPrefixReserved("kant");
}

/* kant.valid_time_zone(text): used by CHECK constraints and config functions. */
PG_FUNCTION_INFO_V1(kant_valid_time_zone);
Datum
kant_valid_time_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(kant_zone(text_to_cstring(PG_GETARG_TEXT_PP(0))) != NULL);
}
