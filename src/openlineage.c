/*
 * openlineage.c
 *	  kant.ingest_openlineage(payload): OpenLineage RunEvents.
 *
 * Events are deltas, not snapshots: START carries the start time, COMPLETE /
 * FAIL / ABORT the end; RUNNING only says the run is alive; OTHER carries
 * facets but no state and is counted, not stored.  The system of an event
 * is the kant system whose ol_namespace is the event's job namespace (else
 * the system named like the namespace, registered when first seen).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "kant.h"

/* obj.a.b.c as a container, or NULL */
static JsonbContainer *
dig(JsonbContainer *o, const char *const *keys, int nkeys)
{
	int			i;

	for (i = 0; i < nkeys && o != NULL; i++)
	{
		JsonbValue	buf;
		JsonbValue *v = json_get(o, keys[i], &buf);

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			return NULL;
		o = v->val.binary.data;
	}
	return o;
}

/*
 * The event's job namespace: a string of 1 to 1000 bytes, or NULL with err
 * set.  It names a system (kant.system.ol_namespace, else the system of
 * that name); one that would be registered on first sight must also be a
 * valid system name, which get_system checks.
 */
static char *
event_namespace(JsonbContainer *ev, const char *path, RecordError *err)
{
	static const char *const job[] = {"job"};
	JsonbContainer *j = dig(ev, job, 1);
	char	   *job_path = json_path_key(path, "job");
	char	   *ns;

	if (j == NULL)
	{
		json_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, job_path,
				  "A RunEvent has a run object (runId) and a job object (namespace, name).",
				  "RunEvent has no \"job\" object");
		return NULL;
	}
	ns = json_get_string(j, "namespace", job_path, true, err);
	if (ns != NULL && strlen(ns) > KANT_MAX_NAME_BYTES)
	{
		json_fail(err, ERRCODE_STRING_DATA_RIGHT_TRUNCATION, json_path_key(job_path, "namespace"),
				  name_rule_hint(NAME_SYSTEM),
				  "field \"namespace\" is %d bytes long; kant accepts at most %d",
				  (int) strlen(ns), KANT_MAX_NAME_BYTES);
		return NULL;
	}
	return ns;
}

/* The Airflow version the provider names (processing_engine), or major 0 */
static void
airflow_version(JsonbContainer *facets, const char *af_path, int *major, int *minor)
{
	static const char *const pe_k[] = {"processing_engine"};
	JsonbContainer *pe = dig(facets, pe_k, 1);
	RecordError advisory = {0};	/* a facet of another shape only says nothing */
	char	   *name = pe ? json_get_string(pe, "name", af_path, false, &advisory) : NULL;
	char	   *version = pe ? json_get_string(pe, "version", af_path, false, &advisory) : NULL;

	*major = *minor = 0;
	if (name && version && pg_strcasecmp(name, "Airflow") == 0 &&
		sscanf(version, "%d.%d", major, minor) != 2)
		*major = *minor = 0;
}

/*
 * The try of an Airflow task event, and whether Airflow will try again.
 *
 * Before Airflow 2.10, TaskInstance.try_number is the next try's number
 * whenever the task is not running, so the provider's COMPLETE and FAIL
 * events carry one more than their START (the provider's own
 * _get_try_number_success subtracts it for the runId only); the
 * processing_engine facet names the Airflow version.  A FAIL of a try with
 * retries left (try_number <= task.retries: TaskInstance.is_eligible_to_retry)
 * is Airflow's up_for_retry, not a failure: kant keeps it as retrying.
 */
static void
airflow_try(JsonbContainer *facets, const char *af_path, int major, int minor, RunRecord *r)
{
	static const char *const task_k[] = {"airflow", "task"};
	JsonbContainer *task = dig(facets, task_k, 2);
	RecordError advisory = {0};
	int32		retries = 0;

	if (major > 0 && (major < 2 || (major == 2 && minor < 10)) && r->attempt > 1 && r->has_ended)
		r->attempt--;
	if (task && r->state == RS_FAILED &&
		json_get_int_range(task, "retries", json_path_key(af_path, "task"), false, 0, KANT_MAX_ATTEMPT,
						   &retries, &advisory) &&
		retries > 0 && r->attempt <= retries)
	{
		r->state = RS_RETRYING;
		r->raw_state = psprintf("FAIL (try %d of %d: Airflow retries it)", r->attempt, retries + 1);
	}
}

/*
 * An Airflow task instance's event (the provider's "airflow" run facet, with
 * dagRun and taskInstance) is keyed as kant's Airflow collector keys the task
 * instance: its DAG run id, "#<map_index>" for a mapped task, the try number
 * as the attempt, the logical date as the business date.  The provider gives
 * every try, and every map index, a runId of its own
 * (OpenLineageAdapter.build_task_instance_run_id), so keyed by runId a retry
 * would be a run of its own and a failed map index a run beside the others;
 * keyed so, the events, the REST collector and a callback's report_run of one
 * task instance are one attempt.  Events without the facet (other producers,
 * older integrations) stay keyed by their runId.
 */
static bool
airflow_identity(JsonbContainer *facets, const char *fpath, RunRecord *r, RecordError *err)
{
	static const char *const dr_k[] = {"airflow", "dagRun"};
	static const char *const ti_k[] = {"airflow", "taskInstance"};
	JsonbContainer *dr = dig(facets, dr_k, 2);
	JsonbContainer *ti = dig(facets, ti_k, 2);
	char	   *af_path = json_path_key(fpath, "airflow");
	char	   *dr_path = json_path_key(af_path, "dagRun");
	char	   *run_id;
	int32		map_index = -1;
	int			major,
				minor;
	const char *bd_key = NULL;
	JsonbValue	buf;

	if (dr == NULL || ti == NULL)
		return true;
	airflow_version(facets, af_path, &major, &minor);
	airflow_try(facets, af_path, major, minor, r);
	run_id = json_get_name(dr, "run_id", dr_path, false, NAME_ID, err);
	if (run_id == NULL)
		return !err->failed;
	/* the provider omits map_index (or gives null) for a task not mapped */
	if (!json_get_int_range(ti, "map_index", json_path_key(af_path, "taskInstance"), false,
							-1, PG_INT32_MAX, &map_index, err) && err->failed)
		return false;
	r->external_id = map_index >= 0 ? psprintf("%s#%d", run_id, map_index) : run_id;
	if (!name_check(r->external_id, NAME_ID, json_path_key(dr_path, "run_id"),
					"dag_run_id#map_index", err))
		return false;
	/* the logical date, as the collector reads it (Airflow 3, 2, 3 manual) */
	if (json_get(dr, "logical_date", &buf) != NULL)
		bd_key = "logical_date";
	else if (json_get(dr, "execution_date", &buf) != NULL)
		bd_key = "execution_date";
	else if (json_get(dr, "run_after", &buf) != NULL)
		bd_key = "run_after";
	if (bd_key != NULL)
	{
		if (!json_get_timestamp(dr, bd_key, dr_path, true, &r->bd_basis, err))
			return false;
		r->has_bd_basis = true;
		r->bd_source = BD_LOGICAL;
		r->bd_field = json_path_key(dr_path, bd_key);
	}
	else
	{
		/*
		 * Providers before DagRunInfo carried execution_date: Airflow 2 names
		 * a run it made "<run_type>__<logical date>" (DagRun.generate_run_id),
		 * which a manual run's nominal time (its data interval) is not.
		 * Airflow 3 puts run_after there instead: not for it.
		 */
		static const char *const types[] = {"scheduled__", "manual__", "backfill__", "dataset_triggered__"};
		int			i;

		for (i = 0; i < (int) lengthof(types) && major < 3; i++)
			if (strncmp(run_id, types[i], strlen(types[i])) == 0)
			{
				JsonbValue	v;
				RecordError quiet = {0};

				v.type = jbvString;
				v.val.string.val = (char *) run_id + strlen(types[i]);
				v.val.string.len = strlen(v.val.string.val);
				if (json_value_timestamp(&v, json_path_key(dr_path, "run_id"), &r->bd_basis, &quiet))
				{
					r->has_bd_basis = true;
					r->bd_source = BD_LOGICAL;
					r->bd_field = json_path_key(dr_path, "run_id");
				}
				break;
			}
	}
	return true;
}

/* returns false with err set, or with *skip set for OTHER events */
static bool
parse_run_event(JsonbContainer *ev, char *path, RunRecord *r, bool *skip, RecordError *err)
{
	static const char *const run_k[] = {"run"};
	static const char *const job_k[] = {"job"};
	static const char *const facets_k[] = {"run", "facets"};
	JsonbContainer *run = dig(ev, run_k, 1);
	JsonbContainer *job = dig(ev, job_k, 1);
	JsonbContainer *facets = dig(ev, facets_k, 2);
	char	   *run_path = json_path_key(path, "run");
	char	   *job_path = json_path_key(path, "job");
	char	   *etype;
	char	   *ol_run_id;
	TimestampTz event_time;

	memset(r, 0, sizeof(RunRecord));
	r->path = path;
	*skip = false;
	if (run == NULL || job == NULL)
	{
		json_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, run == NULL ? run_path : job_path,
				  "A RunEvent has a run object (runId) and a job object (namespace, name).",
				  "RunEvent has no \"%s\" object", run == NULL ? "run" : "job");
		return false;
	}
	r->external_id = ol_run_id = json_get_name(run, "runId", run_path, true, NAME_ID, err);
	r->job_name = json_get_name(job, "name", job_path, true, NAME_JOB, err);
	if (err->failed)
		return false;
	if (!json_get_timestamp(ev, "eventTime", path, true, &event_time, err))
		return false;

	etype = json_get_string(ev, "eventType", path, false, err);
	if (err->failed)
		return false;
	if (etype == NULL || pg_strcasecmp(etype, "OTHER") == 0)
	{
		*skip = true;
		return true;
	}
	if (!json_get_state(ev, "eventType", path, "OpenLineage", r, err))
		return false;
	r->has_updated = true;
	r->updated_at = event_time;
	if (pg_strcasecmp(etype, "START") == 0)
	{
		r->has_started = true;
		r->started_at = event_time;
	}
	else if (run_state_terminal(r->state))
	{
		r->has_ended = true;
		r->ended_at = event_time;
	}

	r->attempt = 1;
	if (facets)
	{
		static const char *const ti_k[] = {"airflow", "taskInstance"};
		static const char *const nt_k[] = {"nominalTime"};
		static const char *const em_k[] = {"errorMessage"};
		JsonbContainer *ti = dig(facets, ti_k, 2);
		JsonbContainer *nt = dig(facets, nt_k, 1);
		JsonbContainer *em = dig(facets, em_k, 1);
		char	   *fpath = json_path_key(run_path, "facets");

		if (ti)
		{
			int32		try_number;

			if (json_get_int_range(ti, "try_number",
								   json_path_key(json_path_key(fpath, "airflow"), "taskInstance"),
								   false, 0, KANT_MAX_ATTEMPT, &try_number, err))
				r->attempt = try_number;
		}
		if (ti && !err->failed && !airflow_identity(facets, fpath, r, err))
			return false;
		/* else the nominal start: data_interval_start for an Airflow task */
		if (nt && !r->has_bd_basis && json_get_timestamp(nt, "nominalStartTime",
									 json_path_key(fpath, "nominalTime"), false,
									 &r->bd_basis, err))
		{
			r->has_bd_basis = true;
			r->bd_source = BD_NOMINAL;
			r->bd_field = json_path_key(json_path_key(fpath, "nominalTime"),
										"nominalStartTime");
		}
		if (em)
			r->error_message = json_get_string(em, "message",
											   json_path_key(fpath, "errorMessage"),
											   false, err);
	}
	if (err->failed)
		return false;
	if (r->bd_source == BD_NONE)
		r->bd_source = BD_RULE;
	{
		static const char *const keys[] = {"producer"};
		JsonbValue	k,
					v;

		/* the event's own runId, when the record is keyed by Airflow's */
		k.type = jbvString;
		k.val.string.val = "ol_run_id";
		k.val.string.len = 9;
		v.type = jbvString;
		v.val.string.val = ol_run_id;
		v.val.string.len = strlen(ol_run_id);
		r->details = json_pick_details(ev, keys, 1, &k, &v, r->external_id != ol_run_id ? 1 : 0, path, err);
	}
	return !err->failed;
}

/*
 * Before any record: the systems of all events, locked in one order, so
 * that two sessions with events of the same systems can not deadlock.
 * Events whose namespace can not name a system are left for the main pass
 * to quarantine.
 */
#define MAX_NAMESPACES 256		/* systems one call locks (lock table slots) */

static void
lock_namespaces(IngestState *st, PayloadList *pl)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "kant namespaces",
												  ALLOCSET_SMALL_SIZES);
	List	   *names = NIL;
	HASHCTL		ctl;
	HTAB	   *seen;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = KANT_MAX_NAME_BYTES + 1;
	ctl.entrysize = KANT_MAX_NAME_BYTES + 1;
	ctl.hcxt = outer;
	seen = hash_create("kant namespaces", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(scratch);
		RecordError err = {0};
		PayloadRecord rec;
		char	   *ns = NULL;
		bool		found;

		if (!payload_next(pl, &rec, &err))
		{
			MemoryContextSwitchTo(old);
			break;
		}
		if (!err.failed)
			ns = event_namespace(rec.value->val.binary.data, rec.path, &err);
		MemoryContextSwitchTo(old);
		if (ns)
		{
			(void) hash_search(seen, ns, HASH_ENTER, &found);
			if (!found)
			{
				if (list_length(names) >= MAX_NAMESPACES)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("payload spans more than %d job namespaces", MAX_NAMESPACES),
							 errdetail("kant locks the system of every namespace of a payload "
									   "before it writes; nothing was ingested."),
							 errhint("Send the events of fewer namespaces per call.")));
				names = lappend(names, MemoryContextStrdup(outer, ns));
			}
		}
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
	hash_destroy(seen);
	ingest_lock_systems(st, names);
}

static RecordOutcome
openlineage_record(IngestState *st, JsonbValue *rec, char *path, RunRecord *r, RecordError *err)
{
	char	   *ns = event_namespace(rec->val.binary.data, path, err);
	bool		skip = false;

	if (!ingest_set_system(st, ns, json_path_key(json_path_key(path, "job"), "namespace"), err) ||
		ns == NULL)
		return RECORD_REJECT;
	if (!parse_run_event(rec->val.binary.data, path, r, &skip, err))
		return RECORD_REJECT;
	return skip ? RECORD_SKIP : RECORD_OK;
}

static const IngestSpec openlineage_spec = {
	.source = SRC_OPENLINEAGE,
	.usage = "kant.ingest_openlineage(<RunEvent or array of RunEvents>)",
	.id_key = "eventTime",
	.what = "OpenLineage RunEvent",
	.hint = "Pass one OpenLineage RunEvent ({\"eventType\": ..., \"eventTime\": ..., "
	"\"run\": {...}, \"job\": {...}}) or an array of them.",
	.parse = openlineage_record,
	.prepare = lock_namespaces,
};

/*
 * After the runs: the events' data-quality facets (dataQualityMetrics,
 * dataQualityAssertions, outputStatistics) as metrics and assertions of
 * their datasets, by kant._dq_openlineage (sql/src/quality_ingest.sql),
 * which needs the runs stored for their business dates.  A text payload is
 * made jsonb only when it names one of the facets.
 */
static void
quality_facets(FunctionCallInfo fcinfo, Datum result)
{
	bool		is_jsonb = get_fn_expr_argtype(fcinfo->flinfo, 0) == JSONBOID;
	bool		isnull;
	Datum		batch_id = GetAttributeByNum(DatumGetHeapTupleHeader(result), 1, &isnull);
	Datum		payload;
	Oid			argtypes[2] = {JSONBOID, INT8OID};
	Datum		values[2];

	if (isnull)
		return;
	if (is_jsonb)
		payload = PG_GETARG_DATUM(0);
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(0);
		char	   *s = text_to_cstring(t);

		if (strstr(s, "dataQuality") == NULL && strstr(s, "outputStatistics") == NULL)
		{
			pfree(s);
			return;
		}
		payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(s));
	}
	values[0] = payload;
	values[1] = batch_id;
	SPI_connect();
	SPI_execute_with_args("SELECT kant._dq_openlineage($1, $2)", 2, argtypes, values, NULL, false, 1);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(kant_ingest_openlineage);
Datum
kant_ingest_openlineage(PG_FUNCTION_ARGS)
{
	Datum		result = ingest_payload(fcinfo, &openlineage_spec);

	quality_facets(fcinfo, result);
	return result;
}
