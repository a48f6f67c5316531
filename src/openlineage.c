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

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
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

static char *
event_namespace(JsonbContainer *ev)
{
	static const char *const job[] = {"job"};
	JsonbContainer *j = dig(ev, job, 1);
	RecordError err = {0};

	return j ? json_get_string(j, "namespace", "$", true, &err) : NULL;
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
	TimestampTz event_time;

	memset(r, 0, sizeof(RunRecord));
	r->path = path;
	*skip = false;
	if (run == NULL || job == NULL)
	{
		rec_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, run == NULL ? run_path : job_path,
				 "A RunEvent has a run object (runId) and a job object (namespace, name).",
				 "RunEvent has no \"%s\" object", run == NULL ? "run" : "job");
		return false;
	}
	r->external_id = json_get_string(run, "runId", run_path, true, err);
	r->job_name = json_get_string(job, "name", job_path, true, err);
	if (!json_get_timestamp(ev, "eventTime", path, true, &event_time, err))
		return false;
	if (err->failed ||
		!check_id_length(r->external_id, json_path_key(run_path, "runId"), err) ||
		!check_id_length(r->job_name, json_path_key(job_path, "name"), err))
		return false;

	etype = json_get_string(ev, "eventType", path, false, err);
	if (err->failed)
		return false;
	if (etype == NULL || pg_strcasecmp(etype, "OTHER") == 0)
	{
		*skip = true;
		return true;
	}
	if (!parse_state_field(ev, "eventType", path, "OpenLineage", r, err))
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

			if (json_get_int(ti, "try_number", json_path_key(fpath, "airflow.taskInstance"),
							 false, &try_number, err) && try_number >= 0)
				r->attempt = try_number;
		}
		if (nt && json_get_timestamp(nt, "nominalStartTime",
									 json_path_key(fpath, "nominalTime"), false,
									 &r->bd_basis, err))
		{
			r->has_bd_basis = true;
			r->bd_source = BD_NOMINAL;
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

		r->details = pick_details(ev, keys, 1, NULL, NULL, 0);
	}
	return true;
}

/* a namespace kant can map to a system, or NULL */
static char *
usable_namespace(JsonbValue *rec)
{
	char	   *ns = event_namespace(rec->val.binary.data);

	return (ns != NULL && ns[0] != '\0' && strlen(ns) <= 1000) ? ns : NULL;
}

/*
 * Before any record: the systems of all events, locked in one order, so
 * that two sessions with events of the same systems can not deadlock.
 */
static void
lock_namespaces(IngestState *st, PayloadList *pl)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext scratch = ingest_record_context(st);
	List	   *names = NIL;
	int			i;

	for (i = 0; i < pl->count; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scratch);
		RecordError err = {0};
		char	   *path;
		JsonbValue *v = record_at(pl, i, &path, &err);
		char	   *ns = err.failed ? NULL : usable_namespace(v);
		ListCell   *lc;
		bool		seen = false;

		MemoryContextSwitchTo(old);
		foreach(lc, names)
			if (ns && strcmp(lfirst(lc), ns) == 0)
				seen = true;
		if (ns && !seen)
			names = lappend(names, MemoryContextStrdup(outer, ns));
		MemoryContextReset(scratch);
	}
	ingest_lock_systems(st, names);
}

static RecordOutcome
openlineage_record(IngestState *st, JsonbValue *rec, char *path, RunRecord *r, RecordError *err)
{
	char	   *ns = usable_namespace(rec);
	bool		skip = false;

	ingest_set_system(st, ns);
	if (ns == NULL)
	{
		rec_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND,
				 json_path_key(json_path_key(path, "job"), "namespace"),
				 "kant maps a job namespace to a system (kant.system.ol_namespace).",
				 "RunEvent job has no usable namespace");
		return RECORD_REJECT;
	}
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

PG_FUNCTION_INFO_V1(kant_ingest_openlineage);
Datum
kant_ingest_openlineage(PG_FUNCTION_ARGS)
{
	return ingest_payload(fcinfo, &openlineage_spec);
}
