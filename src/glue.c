/*
 * glue.c
 *	  kant.ingest_glue_job_runs(system, payload): AWS Glue job runs.
 *
 * The payload is a GetJobRuns or GetJobRun response body as AWS sends it
 * (JSON 1.1 protocol: timestamps in epoch seconds with fractions), or the
 * same data after boto3 / the AWS CLI turned timestamps into ISO strings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "kant.h"

static bool
parse_glue_run(JsonbValue *rec, char *path, RunRecord *r, RecordError *err)
{
	JsonbContainer *o = rec->val.binary.data;
	JsonbValue	buf;
	JsonbValue *args;
	int32		attempt = 0;

	memset(r, 0, sizeof(RunRecord));
	r->path = path;
	r->external_id = json_get_name(o, "Id", path, true, NAME_ID, err);
	r->job_name = json_get_name(o, "JobName", path, true, NAME_JOB, err);
	if (err->failed)
		return false;
	/* Glue counts attempts from 0; kant counts from 1 like Airflow's try_number. */
	if (!json_get_int_range(o, "Attempt", path, false, 0, KANT_MAX_ATTEMPT - 1, &attempt, err) &&
		err->failed)
		return false;
	r->attempt = attempt + 1;
	if (!json_get_state(o, "JobRunState", path, "Glue", r, err))
		return false;
	r->has_started = json_get_timestamp(o, "StartedOn", path, false, &r->started_at, err);
	r->has_ended = json_get_timestamp(o, "CompletedOn", path, false, &r->ended_at, err);
	r->has_updated = json_get_timestamp(o, "LastModifiedOn", path, false, &r->updated_at, err);
	r->error_message = json_get_string(o, "ErrorMessage", path, false, err);
	/* a retry names the run it retries; "" is no run */
	r->previous_external_id = json_get_name(o, "PreviousRunId", path, false, NAME_ID, err);
	if (r->previous_external_id && r->previous_external_id[0] == '\0')
		r->previous_external_id = NULL;
	args = json_get(o, "Arguments", &buf);
	if (args != NULL)
	{
		if (args->type != jbvBinary || !JsonContainerIsObject(args->val.binary.data))
			json_fail(err, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, json_path_key(path, "Arguments"),
					  "Arguments is a map of strings in the Glue API.",
					  "Arguments must be an object, not %s", json_type_name(args));
		else
			r->arguments = args->val.binary.data;
	}
	if (err->failed)
		return false;
	r->bd_source = BD_NONE;
	/* the whole JobRun, as AWS sent it: a copy of its bytes, nothing rebuilt */
	r->details = JsonbValueToJsonb(rec);
	return true;
}

static RecordOutcome
glue_record(IngestState *st, JsonbValue *rec, char *path, RunRecord *r, RecordError *err)
{
	return parse_glue_run(rec, path, r, err) ? RECORD_OK : RECORD_REJECT;
}

static const IngestSpec glue_spec = {
	.source = SRC_GLUE,
	.usage = "kant.ingest_glue_job_runs('hegel', <GetJobRuns response>)",
	.list_key = "JobRuns",
	.single_key = "JobRun",
	.id_key = "Id",
	.what = "Glue JobRun",
	.hint = "Pass the body of a Glue GetJobRuns or GetJobRun response as AWS returns it: "
	"{\"JobRuns\": [{\"Id\": ..., \"JobName\": ..., \"JobRunState\": ...}]}.",
	.parse = glue_record,
};

PG_FUNCTION_INFO_V1(kant_ingest_glue_job_runs);
Datum
kant_ingest_glue_job_runs(PG_FUNCTION_ARGS)
{
	return ingest_payload(fcinfo, &glue_spec);
}
