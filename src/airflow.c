/*
 * airflow.c
 *	  kant.ingest_airflow_task_instances(system, payload): Airflow task
 *	  instances from the stable REST API.
 *
 * v1 (Airflow 2, Cloud Composer 2): execution_date, offsets like +00:00.
 * v2 (Airflow 3): logical_date (nullable for manual and asset-triggered
 * runs) and run_after, offsets written as Z.  One row per try: a task
 * instance is (dag_id, task_id, dag_run_id, map_index), try_number the attempt.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "kant.h"

static const char *const airflow_detail_keys[] = {
	"dag_run_id", "map_index", "max_tries", "operator", "hostname", "pool", "queue"
};

static bool
parse_task_instance(JsonbContainer *o, char *path, RunRecord *r, RecordError *err)
{
	JsonbValue	buf;
	JsonbValue *sv;
	char	   *dag_run_id;
	int32		map_index = -1;
	int32		try_number = 1;
	const char *bd_key;

	memset(r, 0, sizeof(RunRecord));
	r->path = path;
	r->dag_id = json_get_name(o, "dag_id", path, true, NAME_JOB, err);
	r->task_id = json_get_name(o, "task_id", path, true, NAME_JOB, err);
	dag_run_id = json_get_name(o, "dag_run_id", path, true, NAME_ID, err);
	if (err->failed)
		return false;
	/* -1: not a mapped task */
	(void) json_get_int_range(o, "map_index", path, false, -1, PG_INT32_MAX, &map_index, err);
	(void) json_get_int_range(o, "try_number", path, false, 0, KANT_MAX_ATTEMPT, &try_number,
							  err);
	if (err->failed)
		return false;
	r->attempt = try_number;
	r->job_name = psprintf("%s.%s", r->dag_id, r->task_id);
	/* mapped tasks: each map index is its own run of the task */
	r->external_id = (map_index >= 0) ? psprintf("%s#%d", dag_run_id, map_index) : dag_run_id;
	if (!name_check(r->job_name, NAME_JOB, json_path_key(path, "task_id"),
					"dag_id.task_id", err) ||
		!name_check(r->external_id, NAME_ID, json_path_key(path, "dag_run_id"),
					"dag_run_id#map_index", err))
		return false;

	/* state is nullable: null (and the deprecated "none") is "no status yet" */
	sv = json_get(o, "state", &buf);
	if (sv == NULL)
	{
		r->state = RS_SCHEDULED;
		r->raw_state = "null";
	}
	else if (!json_get_state(o, "state", path, "Airflow", r, err))
		return false;

	r->has_started = json_get_timestamp(o, "start_date", path, false, &r->started_at, err);
	r->has_ended = json_get_timestamp(o, "end_date", path, false, &r->ended_at, err);

	/* business date: the logical date in the system's zone */
	if (json_get(o, "logical_date", &buf) != NULL)
		bd_key = "logical_date";
	else if (json_get(o, "execution_date", &buf) != NULL)
		bd_key = "execution_date";
	else
		bd_key = "run_after";
	if (!json_get_timestamp(o, bd_key, path, false, &r->bd_basis, err))
	{
		if (!err->failed)
			json_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, json_path_key(path, "logical_date"),
					  "Task instances carry execution_date (API v1) or logical_date / "
					  "run_after (API v2); kant takes the business date from it.",
					  "task instance has no logical_date, execution_date or run_after");
		return false;
	}
	r->has_bd_basis = true;
	r->bd_source = BD_LOGICAL;
	r->bd_field = json_path_key(path, bd_key);
	if (err->failed)
		return false;
	r->details = json_pick_details(o, airflow_detail_keys, lengthof(airflow_detail_keys),
								   NULL, NULL, 0, path, err);
	return !err->failed;
}

static RecordOutcome
airflow_record(IngestState *st, JsonbValue *rec, char *path, RunRecord *r, RecordError *err)
{
	return parse_task_instance(rec->val.binary.data, path, r, err) ? RECORD_OK : RECORD_REJECT;
}

static const IngestSpec airflow_spec = {
	.source = SRC_AIRFLOW,
	.usage = "kant.ingest_airflow_task_instances('socrates', <taskInstances response>)",
	.list_key = "task_instances",
	.id_key = "task_id",
	.what = "Airflow task instance",
	.hint = "Pass the body of an Airflow REST API task instance list as the server returns it: "
	"{\"task_instances\": [...], \"total_entries\": n}.",
	.parse = airflow_record,
};

PG_FUNCTION_INFO_V1(kant_ingest_airflow_task_instances);
Datum
kant_ingest_airflow_task_instances(PG_FUNCTION_ARGS)
{
	return ingest_payload(fcinfo, &airflow_spec);
}
