-- kant.ingest_airflow_task_instances: REST API v1 (Airflow 2 / Composer 2) and v2 (Airflow 3)
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES') AS id;

CREATE TEMP VIEW r AS
SELECT j.name AS job, j.dag_id, j.task_id, r.external_id, r.attempt, c.is_current,
       r.business_date AS bd, r.bd_source AS src, r.state, r.raw_state, r.started_at, r.ended_at
FROM kant.job_run r JOIN kant.job j USING (job_id) JOIN kant.runs c USING (run_id)
ORDER BY j.name, r.external_id, r.attempt;

-- 1. v1: a daily DAG at 06:00 Asia/Tokyo; logical date 2024-11-23T21:00Z is
--    2024-11-24 06:00 in Tokyo: business date 2024-11-24.
SELECT received, inserted, updated, unchanged, rejected
FROM kant.ingest_airflow_task_instances('socrates', '{
  "task_instances": [
    {"dag_id": "socrates_daily", "task_id": "load_users", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:00:05.123456+00:00",
     "end_date": "2024-11-24T21:10:00+00:00", "duration": 594.876544, "state": "success",
     "try_number": 1, "map_index": -1, "max_tries": 2, "hostname": "airflow-worker-7d9f", "unixname": "airflow",
     "pool": "default_pool", "pool_slots": 1, "queue": "default", "priority_weight": 3,
     "operator": "GCSToBigQueryOperator", "queued_when": "2024-11-24T21:00:01.000001+00:00", "pid": 4242,
     "executor_config": "{}", "sla_miss": null, "rendered_fields": {}, "trigger": null, "triggerer_job": null, "note": null},
    {"dag_id": "socrates_daily", "task_id": "load_orders", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:00:04+00:00",
     "end_date": "2024-11-24T21:02:00+00:00", "state": "up_for_retry", "try_number": 1, "map_index": -1, "max_tries": 2},
    {"dag_id": "socrates_daily", "task_id": "report", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": null, "end_date": null,
     "state": null, "try_number": 0, "map_index": -1, "max_tries": 0}
  ],
  "total_entries": 3}');
SELECT job, dag_id, task_id, external_id, attempt, bd, src, state, raw_state, started_at, ended_at FROM r;
SELECT details FROM kant.job_run WHERE details->>'operator' = 'GCSToBigQueryOperator';

-- 2. Try 2 of load_orders runs, then succeeds; try 1 stays as it ended and is
--    superseded.  The stale up_for_retry of try 1 changes nothing.
SELECT inserted, updated, unchanged FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
    {"dag_id": "socrates_daily", "task_id": "load_orders", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:07:00+00:00",
     "end_date": null, "state": "running", "try_number": 2, "map_index": -1, "max_tries": 2}], "total_entries": 1}');
SELECT inserted, updated, unchanged FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
    {"dag_id": "socrates_daily", "task_id": "load_orders", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:07:00+00:00",
     "end_date": "2024-11-24T21:20:30.5+00:00", "state": "success", "try_number": 2, "map_index": -1, "max_tries": 2},
    {"dag_id": "socrates_daily", "task_id": "load_orders", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:00:04+00:00",
     "end_date": "2024-11-24T21:02:00+00:00", "state": "up_for_retry", "try_number": 1, "map_index": -1, "max_tries": 2}],
  "total_entries": 2}');
SELECT job, external_id, attempt, is_current, state, started_at, ended_at FROM r WHERE task_id = 'load_orders';

-- 3. Before Airflow 2.10 a retry could show the failed try's try_number: the
--    later start is the newer try, so running replaces up_for_retry.
SELECT updated FROM kant.ingest_airflow_task_instances('socrates', '[
    {"dag_id": "legacy", "task_id": "t", "dag_run_id": "manual__1", "execution_date": "2024-11-24T00:00:00+00:00",
     "start_date": "2024-11-24T00:00:00+00:00", "end_date": "2024-11-24T00:01:00+00:00",
     "state": "up_for_retry", "try_number": 2}]');
SELECT updated FROM kant.ingest_airflow_task_instances('socrates', '[
    {"dag_id": "legacy", "task_id": "t", "dag_run_id": "manual__1", "execution_date": "2024-11-24T00:00:00+00:00",
     "start_date": "2024-11-24T00:06:00+00:00", "end_date": null, "state": "running", "try_number": 2}]');
SELECT job, attempt, state, started_at, ended_at FROM r WHERE dag_id = 'legacy';

-- 4. Mapped tasks: each map index is its own run.
SELECT inserted FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
    {"dag_id": "socrates_daily", "task_id": "export_partition", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "state": "success", "try_number": 1, "map_index": 0,
     "start_date": "2024-11-24T21:30:00+00:00", "end_date": "2024-11-24T21:31:00+00:00"},
    {"dag_id": "socrates_daily", "task_id": "export_partition", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "state": "failed", "try_number": 1, "map_index": 1,
     "start_date": "2024-11-24T21:30:00+00:00", "end_date": "2024-11-24T21:32:00+00:00"},
    {"dag_id": "socrates_daily", "task_id": "export_partition", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "state": "queued", "try_number": 1, "map_index": 2}]}');
SELECT external_id, state FROM r WHERE task_id = 'export_partition';

-- 5. v2 (Airflow 3): Z offsets, logical_date, and run_after when a manual or
--    asset-triggered run has no logical date.
SELECT received, inserted, rejected FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
    {"id": "01935f2a-7c1e-7d2b-9a51-3c1f0e2b6a10", "task_id": "load_items", "dag_id": "socrates_daily",
     "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00", "map_index": -1,
     "logical_date": "2024-11-23T21:00:00Z", "run_after": "2024-11-24T21:00:00Z",
     "start_date": "2024-11-24T21:00:03.5Z", "end_date": null, "duration": null, "state": "running",
     "try_number": 1, "max_tries": 2, "task_display_name": "load_items", "dag_display_name": "socrates_daily",
     "hostname": "w1", "unixname": "airflow", "pool": "default_pool", "pool_slots": 1, "queue": "default",
     "priority_weight": 1, "operator": "PythonOperator", "operator_name": "PythonOperator",
     "queued_when": "2024-11-24T21:00:01Z", "scheduled_when": "2024-11-24T21:00:00.5Z", "pid": null,
     "executor": null, "executor_config": "{}", "note": null, "rendered_map_index": null,
     "rendered_fields": {}, "trigger": null, "triggerer_job": null, "dag_version": null},
    {"id": "01935f2a-7c1e-7d2b-9a51-3c1f0e2b6a11", "task_id": "backfill_fix", "dag_id": "socrates_adhoc",
     "dag_run_id": "manual__2024-11-25T02:30:00+00:00", "map_index": -1,
     "logical_date": null, "run_after": "2024-11-25T02:30:00Z",
     "start_date": "2024-11-25T02:30:10Z", "end_date": "2024-11-25T02:31:10Z", "state": "success",
     "try_number": 1, "max_tries": 0, "task_display_name": "backfill_fix", "dag_display_name": "socrates_adhoc",
     "pool": "default_pool", "pool_slots": 1, "executor_config": "{}"}],
  "total_entries": 2}');
SELECT job, external_id, bd, src, state, started_at FROM r WHERE task_id IN ('load_items', 'backfill_fix');

-- 6. Business dates across DST in a zone that has it (America/New_York):
--    midnight local before and after both transitions.
SELECT kant.add_system('nyc', 'airflow', 'America/New_York') > 0 AS added;
CREATE TEMP TABLE dst (external_id text, logical_utc timestamptz);
INSERT INTO dst VALUES
  ('r1', '2024-03-10T04:59:59+00:00'), ('r2', '2024-03-10T05:00:00+00:00'),
  ('r3', '2024-03-11T03:59:59+00:00'), ('r4', '2024-03-11T04:00:00+00:00'),
  ('r5', '2024-11-03T03:59:59+00:00'), ('r6', '2024-11-03T04:00:00+00:00'),
  ('r7', '2024-11-04T04:59:59+00:00'), ('r8', '2024-11-04T05:00:00+00:00');
SELECT inserted FROM kant.ingest_airflow_task_instances('nyc', jsonb_build_object('task_instances',
  (SELECT jsonb_agg(jsonb_build_object('dag_id', 'dst', 'task_id', 't', 'dag_run_id', external_id,
      'execution_date', logical_utc, 'state', 'success', 'try_number', 1, 'map_index', -1))
   FROM dst)));
SELECT d.external_id, d.logical_utc, d.logical_utc AT TIME ZONE 'America/New_York' AS logical_local,
       r.business_date
FROM dst d JOIN kant.job_run r USING (external_id) JOIN kant.job j USING (job_id)
WHERE j.name = 'dst.t' ORDER BY d.logical_utc;

-- 7. Bad task instances are quarantined, the good ones land.
TRUNCATE kant.rejected;
SELECT received, inserted, rejected FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
    {"task_id": "t", "dag_run_id": "r", "execution_date": "2024-11-24T00:00:00+00:00", "state": "success"},
    {"dag_id": "d", "task_id": "t", "dag_run_id": "r", "execution_date": "2024-11-24T00:00:00+00:00", "state": "sucess"},
    {"dag_id": "d", "task_id": "t", "dag_run_id": "r", "execution_date": "2024-11-24T00:00:00+00:00", "state": "success", "try_number": "1"},
    {"dag_id": "d", "task_id": "t", "dag_run_id": "r", "state": "success"},
    {"dag_id": "d", "task_id": "t", "dag_run_id": "r", "execution_date": "2024-11-24", "state": "success"},
    {"dag_id": "d", "task_id": "t", "dag_run_id": "r", "execution_date": "2024-11-24T00:00:00+00:00", "state": "success",
     "start_date": "2024-11-24T25:00:00+00:00"},
    {"dag_id": "d", "task_id": "ok", "dag_run_id": "r", "execution_date": "2024-11-24T00:00:00+00:00", "state": "skipped"}]}');
SELECT item_index, item_path, sqlstate, reason FROM kant.rejected ORDER BY item_index;
SELECT job, state FROM r WHERE dag_id = 'd' AND job LIKE 'd.%';

-- 8. Not a task instance list: an error, nothing ingested.
\set VERBOSITY default
SELECT * FROM kant.ingest_airflow_task_instances('socrates', '{"dag_runs": [], "total_entries": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": "none"}');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0 AS added;
SELECT * FROM kant.ingest_airflow_task_instances('hegel', '{"task_instances": []}');
\echo :LAST_ERROR_SQLSTATE
