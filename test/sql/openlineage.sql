-- kant.ingest_openlineage: RunEvents are deltas; the job namespace picks the system
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

-- Airflow's OpenLineage provider emits namespace "composer-prod" for SOCRATES
SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', ol_namespace => 'composer-prod') > 0 AS added;

CREATE TEMP VIEW r AS
SELECT s.name AS system, j.name AS job, r.external_id, r.attempt, r.business_date AS bd, r.bd_source AS src,
       r.state, r.raw_state, r.started_at, r.ended_at, r.source_updated_at AS updated, r.error_message
FROM kant.job_run r JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id)
ORDER BY s.name, j.name, r.external_id;

-- 1. COMPLETE arrives before START: the run ends succeeded and keeps START's
--    start time; RUNNING in between changes nothing that matters.
SELECT received, inserted, updated, unchanged, rejected FROM kant.ingest_openlineage('{
  "eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00.000Z",
  "run": {"runId": "0193a1b2-0000-7000-8000-000000000001",
          "facets": {"nominalTime": {"nominalStartTime": "2024-11-23T21:00:00Z"},
                     "airflow": {"taskInstance": {"try_number": 1}}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.load_users"},
  "inputs": [], "outputs": [],
  "producer": "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0",
  "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}');
SELECT received, inserted, updated, unchanged FROM kant.ingest_openlineage('[
 {"eventType": "START", "eventTime": "2024-11-24T21:00:05.5Z",
  "run": {"runId": "0193a1b2-0000-7000-8000-000000000001",
          "facets": {"nominalTime": {"nominalStartTime": "2024-11-23T21:00:00Z"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.load_users"},
  "producer": "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"},
 {"eventType": "RUNNING", "eventTime": "2024-11-24T21:05:00Z",
  "run": {"runId": "0193a1b2-0000-7000-8000-000000000001"},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.load_users"},
  "producer": "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"}]');
SELECT system, job, attempt, bd, src, state, raw_state, started_at, ended_at, updated FROM r;

-- 2. FAIL with an errorMessage facet and a try number; no nominal time: the
--    business date comes from the start-time rule in the system's zone.
SELECT inserted FROM kant.ingest_openlineage('[
 {"eventType": "START", "eventTime": "2024-11-24T15:10:00Z",
  "run": {"runId": "0193a1b2-0000-7000-8000-000000000002", "facets": {"airflow": {"taskInstance": {"try_number": 2}}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.load_orders"}},
 {"eventType": "FAIL", "eventTime": "2024-11-24T15:20:00Z",
  "run": {"runId": "0193a1b2-0000-7000-8000-000000000002",
          "facets": {"airflow": {"taskInstance": {"try_number": 2}},
                     "errorMessage": {"message": "division by zero", "programmingLanguage": "python"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.load_orders"}}]');
SELECT job, attempt, bd, src, state, started_at, ended_at, error_message FROM r WHERE job LIKE '%load_orders';

-- 3. OTHER events carry no state: counted as unchanged, nothing stored.
SELECT received, inserted, unchanged FROM kant.ingest_openlineage('{"eventType": "OTHER", "eventTime": "2024-11-24T21:00:00Z",
  "run": {"runId": "0193a1b2-0000-7000-8000-000000000003"},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.load_users"}}');

-- 4. One array spanning namespaces: an unknown namespace is registered as a
--    system of kind openlineage; the batch has no single system.
SELECT received, inserted FROM kant.ingest_openlineage('[
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T03:00:00Z",
  "run": {"runId": "dbt-1"}, "job": {"namespace": "dbt://analytics", "name": "model.orders"}},
 {"eventType": "ABORT", "eventTime": "2024-11-24T03:00:00Z",
  "run": {"runId": "spark-1"}, "job": {"namespace": "spark://cluster-a", "name": "nightly.compaction"}}]');
SELECT name, kind, time_zone, auto_registered FROM kant.system ORDER BY system_id;
SELECT source, system_id IS NULL AS multi_system FROM kant.ingest_batch ORDER BY batch_id DESC LIMIT 1;
SELECT system, job, state, ended_at FROM r WHERE system <> 'socrates';

-- 5. Bad events are quarantined; good ones land.
TRUNCATE kant.rejected;
SELECT received, inserted, unchanged, rejected FROM kant.ingest_openlineage('[
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T03:00:00Z", "run": {"runId": "x1"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T03:00:00Z", "run": {"runId": "x2"}, "job": {"name": "j"}},
 {"eventType": "COMPLETE", "run": {"runId": "x3"}, "job": {"namespace": "composer-prod", "name": "j"}},
 {"eventType": "FINISHED", "eventTime": "2024-11-24T03:00:00Z", "run": {"runId": "x4"}, "job": {"namespace": "composer-prod", "name": "j"}},
 {"eventType": "COMPLETE", "eventTime": "yesterday", "run": {"runId": "x5"}, "job": {"namespace": "composer-prod", "name": "j"}},
 {"eventTime": "2024-11-24T03:00:00Z", "run": {"runId": "x6"}, "job": {"namespace": "composer-prod", "name": "j"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T03:00:00Z", "run": {"runId": "x7"}, "job": {"namespace": "composer-prod", "name": "j"}}]');
SELECT item_index, item_path, sqlstate, reason FROM kant.rejected ORDER BY item_index;

-- 6. Not RunEvents: an error.
\set VERBOSITY default
SELECT * FROM kant.ingest_openlineage('{"job": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_openlineage('42');
\echo :LAST_ERROR_SQLSTATE

-- 7. Airflow's OpenLineage provider gives every try and every map index of a
--    task instance a runId of its own (OpenLineageAdapter.
--    build_task_instance_run_id(dag_id, task_id, try_number, logical_date,
--    map_index)), and every task event its "airflow" run facet with dagRun
--    (run_id; execution_date on Airflow 2, logical_date on 3) and
--    taskInstance (try_number; map_index only when mapped:
--    providers/openlineage/utils/utils.py TaskInstanceInfo).  kant keys such
--    an event as its Airflow collector keys the task instance: DAG run id
--    "#map_index", try number, logical date.  Map index 0 failed at try 1 and
--    succeeded at try 2; map index 1 failed: one run, not done, failed.
SELECT received, inserted, updated FROM kant.ingest_openlineage('[
 {"eventType": "START", "eventTime": "2024-11-24T21:00:00Z",
  "run": {"runId": "01934a00-0000-7000-8000-0000000000a1", "facets": {
    "nominalTime": {"nominalStartTime": "2024-11-23T21:00:00Z"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-23T21:00:00+00:00",
                           "execution_date": "2024-11-23T21:00:00+00:00", "run_type": "scheduled"},
                "taskInstance": {"try_number": 1, "map_index": 0, "pool": "default_pool"},
                "task": {"task_id": "map_load"}, "taskUuid": "01934a00-0000-7000-8000-0000000000a1"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.map_load"}},
 {"eventType": "FAIL", "eventTime": "2024-11-24T21:01:00Z",
  "run": {"runId": "01934a00-0000-7000-8000-0000000000a1", "facets": {
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-23T21:00:00+00:00",
                           "execution_date": "2024-11-23T21:00:00+00:00", "run_type": "scheduled"},
                "taskInstance": {"try_number": 1, "map_index": 0, "pool": "default_pool"},
                "task": {"task_id": "map_load"}, "taskUuid": "01934a00-0000-7000-8000-0000000000a1"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.map_load"}},
 {"eventType": "START", "eventTime": "2024-11-24T21:06:00Z",
  "run": {"runId": "01934a00-0000-7000-8000-0000000000a2", "facets": {
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-23T21:00:00+00:00",
                           "execution_date": "2024-11-23T21:00:00+00:00", "run_type": "scheduled"},
                "taskInstance": {"try_number": 2, "map_index": 0, "pool": "default_pool"},
                "task": {"task_id": "map_load"}, "taskUuid": "01934a00-0000-7000-8000-0000000000a2"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.map_load"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:08:00Z",
  "run": {"runId": "01934a00-0000-7000-8000-0000000000a2", "facets": {
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-23T21:00:00+00:00",
                           "execution_date": "2024-11-23T21:00:00+00:00", "run_type": "scheduled"},
                "taskInstance": {"try_number": 2, "map_index": 0, "pool": "default_pool"},
                "task": {"task_id": "map_load"}, "taskUuid": "01934a00-0000-7000-8000-0000000000a2"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.map_load"}},
 {"eventType": "FAIL", "eventTime": "2024-11-24T21:02:00Z",
  "run": {"runId": "01934a00-0000-7000-8000-0000000000b1", "facets": {
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-23T21:00:00+00:00",
                           "execution_date": "2024-11-23T21:00:00+00:00", "run_type": "scheduled"},
                "taskInstance": {"try_number": 1, "map_index": 1, "pool": "default_pool"},
                "task": {"task_id": "map_load"}, "taskUuid": "01934a00-0000-7000-8000-0000000000b1"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.map_load"}}]');
SELECT external_id, attempt, bd, src, state, started_at, ended_at FROM r WHERE job = 'socrates_daily.map_load';
SELECT done, failed, runs, counted_runs FROM kant.job j, kant._job_day(j.job_id, '2024-11-24')
WHERE j.name = 'socrates_daily.map_load';
-- the REST collector's view of map index 0, try 2, is the same attempt
SELECT inserted, updated, unchanged FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
  {"dag_id": "socrates_daily", "task_id": "map_load", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
   "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:06:00+00:00",
   "end_date": "2024-11-24T21:08:00+00:00", "state": "success", "try_number": 2, "map_index": 0, "max_tries": 2}],
  "total_entries": 1}');
SELECT count(*) AS attempts, count(DISTINCT details->>'ol_run_id') AS ol_run_ids FROM kant.job_run r
JOIN kant.job j USING (job_id) WHERE j.name = 'socrates_daily.map_load';

-- 8. The provider on Airflow before 2.10 (processing_engine facet: name
--    Airflow, its version) gives COMPLETE and FAIL events the next try's
--    number (TaskInstance.try_number is _try_number + 1 unless the task is
--    running; the provider's _get_try_number_success subtracts it for the
--    runId only): kant takes one off.  A FAIL with retries left
--    (try_number <= task.retries: TaskInstance.is_eligible_to_retry) is
--    Airflow's up_for_retry: retrying, not a failure.
SELECT received, inserted, updated FROM kant.ingest_openlineage('[
 {"eventType": "START", "eventTime": "2024-11-25T21:00:00Z",
  "run": {"runId": "01934b00-0000-7000-8000-0000000000c1", "facets": {
    "processing_engine": {"name": "Airflow", "version": "2.9.3", "openlineageAdapterVersion": "1.12.0"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-24T21:00:00+00:00",
                           "execution_date": "2024-11-24T21:00:00+00:00"},
                "taskInstance": {"try_number": 1, "pool": "default_pool"},
                "task": {"task_id": "old_load", "retries": 2}, "taskUuid": "01934b00-0000-7000-8000-0000000000c1"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.old_load"}},
 {"eventType": "FAIL", "eventTime": "2024-11-25T21:05:00Z",
  "run": {"runId": "01934b00-0000-7000-8000-0000000000c2", "facets": {
    "processing_engine": {"name": "Airflow", "version": "2.9.3", "openlineageAdapterVersion": "1.12.0"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-24T21:00:00+00:00",
                           "execution_date": "2024-11-24T21:00:00+00:00"},
                "taskInstance": {"try_number": 2, "pool": "default_pool"},
                "task": {"task_id": "old_load", "retries": 2}, "taskUuid": "01934b00-0000-7000-8000-0000000000c2"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.old_load"}},
 {"eventType": "START", "eventTime": "2024-11-25T21:10:00Z",
  "run": {"runId": "01934b00-0000-7000-8000-0000000000c3", "facets": {
    "processing_engine": {"name": "Airflow", "version": "2.9.3", "openlineageAdapterVersion": "1.12.0"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-24T21:00:00+00:00",
                           "execution_date": "2024-11-24T21:00:00+00:00"},
                "taskInstance": {"try_number": 2, "pool": "default_pool"},
                "task": {"task_id": "old_load", "retries": 2}, "taskUuid": "01934b00-0000-7000-8000-0000000000c3"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.old_load"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-25T21:15:00Z",
  "run": {"runId": "01934b00-0000-7000-8000-0000000000c4", "facets": {
    "processing_engine": {"name": "Airflow", "version": "2.9.3", "openlineageAdapterVersion": "1.12.0"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-24T21:00:00+00:00",
                           "execution_date": "2024-11-24T21:00:00+00:00"},
                "taskInstance": {"try_number": 3, "pool": "default_pool"},
                "task": {"task_id": "old_load", "retries": 2}, "taskUuid": "01934b00-0000-7000-8000-0000000000c4"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.old_load"}}]');
SELECT external_id, attempt, state, raw_state, started_at, ended_at FROM r WHERE job = 'socrates_daily.old_load'
ORDER BY attempt;
-- the last try failing on Airflow 2.10 or later: a failure
SELECT inserted FROM kant.ingest_openlineage('{"eventType": "FAIL", "eventTime": "2024-11-25T22:00:00Z",
  "run": {"runId": "01934b00-0000-7000-8000-0000000000d1", "facets": {
    "processing_engine": {"name": "Airflow", "version": "2.10.4", "openlineageAdapterVersion": "1.14.0"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "scheduled__2024-11-24T21:00:00+00:00",
                           "execution_date": "2024-11-24T21:00:00+00:00"},
                "taskInstance": {"try_number": 3, "pool": "default_pool"},
                "task": {"task_id": "last_try", "retries": 2}, "taskUuid": "01934b00-0000-7000-8000-0000000000d1"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.last_try"}}');
SELECT external_id, attempt, state FROM r WHERE job = 'socrates_daily.last_try';

-- 9. An older provider's dagRun facet has no logical_date / execution_date
--    (DagRunInfo: conf, dag_id, data_interval_start/end, run_id, run_type,
--    start_date).  Airflow 2 names a run it made "<run_type>__<logical
--    date>" (DagRun.generate_run_id): a manual run's logical date is its
--    trigger time, not its nominal (data interval) start, and the collector
--    dates it by the logical date.
SELECT inserted FROM kant.ingest_openlineage('{"eventType": "START", "eventTime": "2024-11-25T16:00:05Z",
  "run": {"runId": "01934c00-0000-7000-8000-0000000000e1", "facets": {
    "nominalTime": {"nominalStartTime": "2024-11-24T21:00:00Z", "nominalEndTime": "2024-11-25T21:00:00Z"},
    "airflow": {"dag": {"dag_id": "socrates_daily", "start_date": "2024-11-01T00:00:00+00:00"},
                "dagRun": {"dag_id": "socrates_daily", "run_id": "manual__2024-11-25T16:00:00+00:00",
                           "run_type": "manual", "data_interval_start": "2024-11-24T21:00:00+00:00"},
                "taskInstance": {"try_number": 1, "pool": "default_pool"},
                "task": {"task_id": "by_hand"}, "taskUuid": "01934c00-0000-7000-8000-0000000000e1"}}},
  "job": {"namespace": "composer-prod", "name": "socrates_daily.by_hand"}}');
SELECT external_id, attempt, bd, src FROM r WHERE job = 'socrates_daily.by_hand';
