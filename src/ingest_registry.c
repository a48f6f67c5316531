/*
 * ingest_registry.c
 *	  The systems and jobs of the records being ingested, and their
 *	  business dates.
 *
 * A system is found by name (or, for OpenLineage, by namespace) and a job by
 * system and name, each registered when first seen and cached for the call;
 * every system a call writes for is locked first (KANT_LOCK_INGEST).  A
 * record's business date is given (an explicit source, a job argument) or
 * derived by its job's start-time rule in its system's zone, and every one is
 * checked against the same range.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ingest_int.h"
#include "locks.h"

/* ------------------------------------------------------------- systems */

static void
fill_system(IngestState *st, SystemInfo *sys, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	char	   *tzname;

	sys->system_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	sys->kind = MemoryContextStrdup(st->batch_cxt, SPI_getvalue(tup, desc, 2));
	tzname = SPI_getvalue(tup, desc, 3);
	sys->tz = kant_zone(tzname);
	if (sys->tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("system \"%s\" has an unknown time zone \"%s\"", sys->name, tzname),
				 errhint("Set a valid IANA zone with kant.alter_system().")));
	sys->bd_argument = SPI_getvalue(tup, desc, 4);
	if (sys->bd_argument)
		sys->bd_argument = MemoryContextStrdup(st->batch_cxt, sys->bd_argument);
	sys->bd_offset_days = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	sys->bd_day_start = DatumGetTimeADT(SPI_getbinval(tup, desc, 6, &isnull));
}

const char *
ingest_source_kind(IngestSource source)
{
	switch (source)
	{
		case SRC_GLUE:
			return "glue";
		case SRC_AIRFLOW:
			return "airflow";
		case SRC_OPENLINEAGE:
			return "openlineage";
		case SRC_REPORT:
			return "manual";
	}
	return "manual";
}

/* The system argument: the hash key and the column bound its length. */
static void
check_name(const char *name)
{
	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("system name must not be empty"),
				 errhint("Pass the system name kant knows the scheduler by, e.g. 'hegel'.")));
	if (strlen(name) > MAX_NAME_LEN)
		name_check_system_argument(name);
}

static void
lock_system(SystemInfo *sys)
{
	LOCKTAG		tag;

	if (sys->locked)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, KANT_LOCK_INGEST, (uint32) sys->system_id, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	sys->locked = true;
}

/*
 * Find a system by name (or, for OpenLineage, by namespace), registering it
 * when first seen.  A name that kant.system could not hold as it is (see
 * name_problem) is registered never: with err, the record is quarantined
 * (NULL returned); without, the call fails.  An existing system is found
 * whatever its name: an administrator chose it.
 */
static SystemInfo *
get_system(IngestState *st, const char *name, const char *field, RecordError *err)
{
	SystemInfo *sys;
	bool		found;
	int			attempt;
	bool		ol = (st->source == SRC_OPENLINEAGE);

	if (err == NULL)
		check_name(name);
	sys = hash_search(st->systems, name, HASH_ENTER, &found);
	if (found)
		return sys;
	sys->system_id = 0;
	sys->locked = false;

	for (attempt = 0; attempt < 2; attempt++)
	{
		Datum		arg[1] = {CStringGetTextDatum(name)};

		ingest_spi_exec(ol ? ingest_plans.system_get_ol : ingest_plans.system_get, arg, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			fill_system(st, sys, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		if (attempt == 0)
		{
			Datum		rargs[3] = {CStringGetTextDatum(name),
				CStringGetTextDatum(ingest_source_kind(st->source)),
			CStringGetTextDatum(kant_default_time_zone)};
			int			sqlstate;
			const char *why = name_problem(name, strlen(name), NAME_SYSTEM, &sqlstate);

			if (why != NULL && err != NULL)
			{
				hash_search(st->systems, name, HASH_REMOVE, NULL);
				json_fail(err, sqlstate, field, name_rule_hint(NAME_SYSTEM),
						  "namespace \"%s\" is no system's, and kant cannot register it: "
						  "the name %s", json_clip_text(name, strlen(name), 64), why);
				return NULL;
			}
			if (why != NULL)
				ereport(ERROR,
						(errcode(sqlstate),
						 errmsg("system \"%s\" does not exist, and kant cannot register it: "
								"the name %s", name, why),
						 errhint("%s", name_rule_hint(NAME_SYSTEM))));
			ingest_spi_exec(ingest_plans.system_register, rargs, NULL, SPI_OK_INSERT);
			if (SPI_processed > 0)
				ereport(NOTICE,
						(errmsg("kant: registered new %s system \"%s\" with time zone %s",
								ingest_source_kind(st->source), name, kant_default_time_zone),
						 errhint("Business dates derive from the system's time zone: set it "
								 "with kant.alter_system('%s', time_zone => '...').", name)));
		}
	}
	if (sys->system_id == 0)
		elog(ERROR, "kant: could not register system \"%s\"", name);

	/* A Glue payload for an Airflow system is a caller's mistake worth stopping. */
	if ((st->source == SRC_GLUE || st->source == SRC_AIRFLOW) &&
		strcmp(sys->kind, ingest_source_kind(st->source)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("system \"%s\" is of kind %s, not %s", name, sys->kind,
						ingest_source_kind(st->source)),
				 errhint("Pass a system of kind %s, or ingest this payload with the "
						 "function for %s systems.", ingest_source_kind(st->source), sys->kind)));
	return sys;
}

/*
 * The system of the records that follow.  With err (a record's namespace),
 * false when the record names a system kant cannot register: err says why.
 */
bool
ingest_set_system(IngestState *st, const char *system_name, const char *field,
				  RecordError *err)
{
	if (system_name == NULL)
	{
		st->system = NULL;
		return true;
	}
	st->system = get_system(st, system_name, field, err);
	if (st->system == NULL)
		return false;
	lock_system(st->system);
	return true;
}

static int
cmp_cstr(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * Lock every system a multi-system payload touches, in name order, before
 * writing anything: two sessions then can not deadlock on each other.
 */
void
ingest_lock_systems(IngestState *st, List *system_names)
{
	List	   *sorted = list_copy(system_names);
	List	   *systems = NIL;
	ListCell   *lc;

	list_sort(sorted, cmp_cstr);
	foreach(lc, sorted)
	{
		RecordError err = {0};
		SystemInfo *sys = get_system(st, (char *) lfirst(lc), "$", &err);

		/* a namespace kant cannot register: its records are quarantined later */
		if (sys != NULL)
			systems = lappend(systems, sys);
	}
	st->multi_system = list_length(systems) > 1;
	/* lock in system_id order so that the order is the same in every session */
	foreach(lc, systems)
	{
		SystemInfo *a = lfirst(lc);
		ListCell   *lc2;
		SystemInfo *min = a;

		foreach(lc2, systems)
		{
			SystemInfo *b = lfirst(lc2);

			if (!b->locked && (min->locked || b->system_id < min->system_id))
				min = b;
		}
		lock_system(min);
	}
}

/* ---------------------------------------------------------------- jobs */

JobInfo *
ingest_get_job(IngestState *st, SystemInfo *sys, RunRecord *rec)
{
	JobKey		key;
	JobInfo    *job;
	bool		found;
	int			attempt;

	memset(&key, 0, sizeof(key));
	key.system_id = sys->system_id;
	strlcpy(key.name, rec->job_name, sizeof(key.name));
	job = hash_search(st->jobs, &key, HASH_ENTER, &found);
	if (found)
		return job;
	job->job_id = 0;
	job->sys = sys;

	for (attempt = 0; attempt < 2; attempt++)
	{
		Datum		args[2] = {Int32GetDatum(sys->system_id), CStringGetTextDatum(rec->job_name)};

		ingest_spi_exec(ingest_plans.job_get, args, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *arg;
			Datum		d;

			job->job_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			arg = SPI_getvalue(tup, desc, 2);
			job->bd_argument = arg ? MemoryContextStrdup(st->batch_cxt, arg) : sys->bd_argument;
			d = SPI_getbinval(tup, desc, 3, &isnull);
			job->bd_offset_days = isnull ? sys->bd_offset_days : DatumGetInt32(d);
			d = SPI_getbinval(tup, desc, 4, &isnull);
			job->bd_day_start = isnull ? sys->bd_day_start : DatumGetTimeADT(d);
			SPI_freetuptable(SPI_tuptable);
			break;
		}
		if (attempt == 0)
		{
			Datum		rargs[4] = {Int32GetDatum(sys->system_id),
				CStringGetTextDatum(rec->job_name),
				rec->dag_id ? CStringGetTextDatum(rec->dag_id) : (Datum) 0,
			rec->task_id ? CStringGetTextDatum(rec->task_id) : (Datum) 0};
			char		nulls[4] = {' ', ' ', rec->dag_id ? ' ' : 'n', rec->task_id ? ' ' : 'n'};

			ingest_spi_exec(ingest_plans.job_register, rargs, nulls, SPI_OK_INSERT);
		}
	}
	if (job->job_id == 0)
		elog(ERROR, "kant: could not register job \"%s\"", rec->job_name);
	return job;
}

/* ------------------------------------------------------- business dates */

/* The local calendar date of ts in tz, after moving the day boundary. */
DateADT
ingest_local_date(TimestampTz ts, pg_tz *tz, int64 day_start, int32 offset_days)
{
	return (DateADT) (kant_floor_days(kant_local_time(ts, tz) - day_start) + offset_days);
}

/*
 * The timestamps the start-time rule may take, in its order of preference,
 * as each source names them (for messages).  Airflow records always carry
 * their logical date; an OpenLineage event has one eventTime.
 */
static const char *const basis_keys[][3] = {
	[SRC_GLUE] = {"StartedOn", "CompletedOn", "LastModifiedOn"},
	[SRC_AIRFLOW] = {"start_date", "end_date", "start_date"},
	[SRC_OPENLINEAGE] = {"eventTime", "eventTime", "eventTime"},
	[SRC_REPORT] = {"started_at", "ended_at", "updated_at"},
};

/* The timestamp a derived business date is computed from, and its key. */
static bool
bd_basis(RunRecord *r, TimestampTz *ts, int *which)
{
	*which = 0;
	if (r->has_bd_basis)
		*ts = r->bd_basis;
	else if (r->has_started)
		*ts = r->started_at;
	else if (r->has_ended)
	{
		*ts = r->ended_at;
		*which = 1;
	}
	else if (r->has_updated)
	{
		*ts = r->updated_at;
		*which = 2;
	}
	else
		return false;
	return true;
}

/* Does the record as it arrived carry timestamp which (of bd_basis) as ts? */
static bool
carries_basis(RunRecord *given, int which, TimestampTz ts)
{
	switch (which)
	{
		case 0:
			return given->has_started && given->started_at == ts;
		case 1:
			return given->has_ended && given->ended_at == ts;
		default:
			return given->has_updated && given->updated_at == ts;
	}
}

/*
 * The start-time rule: the job's day boundary and offset, in its system's
 * zone.  given is the record as it arrived when r merges it with the stored
 * row: a timestamp it does not carry is named as the stored one, not as a
 * field of the record.
 */
bool
ingest_rule_date(JobInfo *job, IngestSource source, RunRecord *r, RunRecord *given)
{
	TimestampTz ts;
	int			which;

	r->has_bd_basis = false;
	if (!bd_basis(r, &ts, &which))
		return false;
	r->business_date = ingest_local_date(ts, job->sys->tz, job->bd_day_start, job->bd_offset_days);
	r->bd_source = BD_RULE;
	if (given == NULL || carries_basis(given, which, ts))
	{
		r->bd_field = json_path_key(r->path, basis_keys[source][which]);
		r->bd_stored_key = NULL;
	}
	else
	{
		r->bd_field = NULL;
		r->bd_stored_key = basis_keys[source][which];
	}
	return true;
}

static char *
iso_date(DateADT d)
{
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return psprintf("%04d-%02d-%02d", y, m, day);
}

/*
 * The one range check of business dates, whatever gave or derived them: a
 * given date, a Glue argument, an Airflow logical date, an OpenLineage
 * nominal time or the start-time rule.  json_date_in_range is the range
 * kant accepts dates and timestamps in; a timestamp inside it can still
 * make a date outside it (a zone east of UTC, bd_offset_days).
 */
bool
ingest_check_business_date(JobInfo *job, RunRecord *r, RecordError *err)
{
	const char *tz = pg_get_timezone_name(job->sys->tz);
	const char *field = r->bd_field ? r->bd_field : r->path;
	char	   *how;

	if (json_date_in_range(r->business_date))
		return true;
	switch (r->bd_source)
	{
		case BD_REPORTED:
			how = psprintf("given in %s", field);
			break;
		case BD_ARGUMENT:
			how = psprintf("given by the job argument \"%s\" in %s", job->bd_argument, field);
			break;
		case BD_LOGICAL:
		case BD_NOMINAL:
			how = psprintf("derived from %s in time zone %s", field, tz);
			break;
		default:
			how = psprintf("derived from %s%s by the start-time rule (time zone %s, "
						   "day start %02d:%02d, offset %d day%s)",
						   r->bd_stored_key ? r->bd_stored_key : field,
						   r->bd_stored_key ? " as kant stored it for the attempt" : "", tz,
						   (int) (job->bd_day_start / USECS_PER_HOUR),
						   (int) (job->bd_day_start / USECS_PER_MINUTE % 60),
						   job->bd_offset_days, abs(job->bd_offset_days) == 1 ? "" : "s");
			break;
	}
	json_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, field,
			  "kant accepts business dates from 1900 to 9999.",
			  "business date %s %s is out of the range kant accepts",
			  iso_date(r->business_date), how);
	return false;
}

/*
 * Settle a record's business date.  Explicit sources already have it or
 * have an explicit timestamp; Glue runs take the job's argument when it is
 * configured and present, else the job's rule on the start time.  Every
 * date, however it came, is then checked against the same range.
 */
bool
ingest_resolve_business_date(JobInfo *job, IngestSource source, RunRecord *r, RecordError *err)
{
	switch (r->bd_source)
	{
		case BD_REPORTED:
		case BD_ARGUMENT:
			return ingest_check_business_date(job, r, err);
		case BD_LOGICAL:
		case BD_NOMINAL:
			r->business_date = ingest_local_date(r->bd_basis, job->sys->tz, 0, 0);
			return ingest_check_business_date(job, r, err);
		default:
			break;
	}

	if (r->arguments != NULL && job->bd_argument != NULL)
	{
		JsonbValue	buf;
		JsonbValue *v = json_get(r->arguments, job->bd_argument, &buf);

		if (v != NULL)
		{
			char	   *field = json_path_key(psprintf("%s.Arguments", r->path),
											  job->bd_argument);

			if (v->type != jbvString ||
				!json_parse_iso_date(v->val.string.val, v->val.string.len, &r->business_date))
			{
				json_fail(err, ERRCODE_INVALID_DATETIME_FORMAT, field,
						  "The job's business-date argument must hold a date such as "
						  "2024-11-24 or 20241124 (see kant.configure_job).",
						  "business date argument \"%s\" is not a date: %s",
						  job->bd_argument,
						  v->type == jbvString ?
						  psprintf("\"%s\"", json_clip_text(v->val.string.val, v->val.string.len, 64)) :
						  json_type_name(v));
				return false;
			}
			r->bd_source = BD_ARGUMENT;
			r->bd_field = field;
			return ingest_check_business_date(job, r, err);
		}
	}

	if (!ingest_rule_date(job, source, r, NULL))
	{
		json_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, r->path,
				  "kant derives a business date from the run's start time "
				  "(or a configured job argument); the record has neither.",
				  "cannot derive a business date: the record has no timestamp");
		return false;
	}
	return ingest_check_business_date(job, r, err);
}

