/*
 * locks.c
 *	  kant.advisory_locks() and kant._lock_key(): the list of locks.h, for
 *	  SQL and for people reading pg_locks.
 */
#include "kant.h"
#include "locks.h"

#include "funcapi.h"
#include "utils/builtins.h"

typedef struct KantLock
{
	const char *purpose;
	int32		key1;
	const char *key2;
} KantLock;

static const KantLock kant_locks[] = {
	{"ingest", KANT_LOCK_INGEST, "system_id: one ingestion of a system at a time; 0: the rejections that name no system"},
	{"slo_refresh", KANT_LOCK_SLO_REFRESH, "1: one kant.refresh_slo() at a time"},
	{"collect", KANT_LOCK_COLLECT, "system_id: one collection of a system at a time"},
	{"checks", KANT_LOCK_CHECKS, "0: one kant.run_checks() at a time"},
	{"delivery", KANT_LOCK_CHECKS, "1: one kant.deliver_notifications() at a time (session lock, tried)"},
	{"gate_trigger", KANT_LOCK_GATE, "gate_id: one trigger of a gate's downstream at a time"},
	{"recover", KANT_LOCK_RECOVER, "job_id: one restart of a job's failed run at a time"},
	{"token", KANT_LOCK_TOKEN, "system_id: one refresh of a system's cached credentials at a time (src/auth.c)"},
	{"measure", KANT_LOCK_MEASURE, "measure_id: one run of a measurement at a time (tried: a busy one is skipped)"},
	{"recover_dag", KANT_LOCK_RECOVER_DAG, "hashtext(system_id || '/' || dag_id): one clear of an Airflow DAG's failed task instances at a time (recovery, re-runs)"},
};

PG_FUNCTION_INFO_V1(kant_advisory_locks);
Datum
kant_advisory_locks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < lengthof(kant_locks); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(kant_locks[i].purpose);
		values[1] = Int32GetDatum(kant_locks[i].key1);
		values[2] = CStringGetTextDatum(kant_locks[i].key2);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(kant_lock_key);
Datum
kant_lock_key(PG_FUNCTION_ARGS)
{
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		i;

	for (i = 0; i < lengthof(kant_locks); i++)
		if (strcmp(kant_locks[i].purpose, purpose) == 0)
			PG_RETURN_INT32(kant_locks[i].key1);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("kant has no advisory lock for \"%s\"", purpose),
			 errhint("See SELECT purpose FROM kant.advisory_locks();")));
	PG_RETURN_NULL();
}
