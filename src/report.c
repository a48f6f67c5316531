/*
 * report.c
 *	  kant.ingest_reports(system, payload): runs reported directly, one
 *	  object per run attempt.  kant.report_run(...) (SQL, named arguments)
 *	  is the one-run form that Composer callbacks and scripts call.
 *
 *	  {"job": "dag.task", "run_id": "...", "state": "success",
 *	   "attempt": 1, "business_date": "2024-11-24",
 *	   "started_at": "...", "ended_at": "...", "updated_at": "...",
 *	   "error_message": "...", "details": {...}}
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "kant.h"

static bool
parse_report(JsonbContainer *o, char *path, RunRecord *r, RecordError *err)
{
	JsonbValue	buf;
	JsonbValue *v;
	char	   *bd;
	int32		attempt = 1;

	memset(r, 0, sizeof(RunRecord));
	r->path = path;
	r->job_name = json_get_name(o, "job", path, true, NAME_JOB, err);
	r->external_id = json_get_name(o, "run_id", path, true, NAME_ID, err);
	if (err->failed)
		return false;
	if (!json_get_int_range(o, "attempt", path, false, 0, KANT_MAX_ATTEMPT, &attempt, err) &&
		err->failed)
		return false;
	r->attempt = attempt;
	if (!json_get_state(o, "state", path, "reported", r, err))
		return false;
	r->has_started = json_get_timestamp(o, "started_at", path, false, &r->started_at, err);
	r->has_ended = json_get_timestamp(o, "ended_at", path, false, &r->ended_at, err);
	r->has_updated = json_get_timestamp(o, "updated_at", path, false, &r->updated_at, err);
	r->error_message = json_get_string(o, "error_message", path, false, err);
	bd = json_get_string(o, "business_date", path, false, err);
	if (bd != NULL)
	{
		/* its range is checked with every other business date (ingest.c) */
		if (!json_parse_iso_date(bd, strlen(bd), &r->business_date))
			json_fail(err, ERRCODE_INVALID_DATETIME_FORMAT, json_path_key(path, "business_date"),
					  "Pass a date such as 2024-11-24.",
					  "business_date is not a date: \"%s\"", json_clip_text(bd, strlen(bd), 64));
		r->bd_source = BD_REPORTED;
		r->bd_field = json_path_key(path, "business_date");
	}
	else
		r->bd_source = BD_RULE;
	v = json_get(o, "details", &buf);
	if (v != NULL)
	{
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			json_fail(err, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, json_path_key(path, "details"),
					  NULL, "details must be an object, not %s", json_type_name(v));
		else
			r->details = JsonbValueToJsonb(v);
	}
	return !err->failed;
}

static RecordOutcome
report_record(IngestState *st, JsonbValue *rec, char *path, RunRecord *r, RecordError *err)
{
	return parse_report(rec->val.binary.data, path, r, err) ? RECORD_OK : RECORD_REJECT;
}

static const IngestSpec report_spec = {
	.source = SRC_REPORT,
	.usage = "kant.report_run(system => ..., job => ..., run_id => ..., state => ...)",
	.list_key = "runs",
	.id_key = "job",
	.what = "reported run",
	.hint = "Pass one run object ({\"job\": ..., \"run_id\": ..., \"state\": ...}) "
	"or an array of them.",
	.parse = report_record,
};

PG_FUNCTION_INFO_V1(kant_ingest_reports);
Datum
kant_ingest_reports(PG_FUNCTION_ARGS)
{
	return ingest_payload(fcinfo, &report_spec);
}
