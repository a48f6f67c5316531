-- Views to read the model: every attempt, the current ones, per business date
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL') > 0
   AND kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES') > 0 AS systems;
SELECT kant.configure_job('hegel', 'export_users', pipeline => 'hegel_nightly') > 0 AS configured;

SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_1", "Attempt": 0, "JobName": "export_users", "JobRunState": "FAILED",
   "StartedOn": 1732467600, "CompletedOn": 1732468200.25, "LastModifiedOn": 1732468200.25, "ErrorMessage": "OOM"},
  {"Id": "jr_2", "Attempt": 1, "PreviousRunId": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED",
   "StartedOn": 1732468500, "CompletedOn": 1732469400.75, "LastModifiedOn": 1732469401},
  {"Id": "jr_3", "Attempt": 0, "JobName": "export_orders", "JobRunState": "RUNNING",
   "StartedOn": 1732467600, "LastModifiedOn": 1732467700}]}');
SELECT inserted FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances": [
  {"dag_id": "socrates_daily", "task_id": "load", "dag_run_id": "scheduled__2024-11-23T15:00:00+00:00",
   "execution_date": "2024-11-23T15:00:00+00:00", "state": "success", "try_number": 1, "map_index": 0,
   "start_date": "2024-11-24T21:00:00+00:00", "end_date": "2024-11-24T21:05:00+00:00"},
  {"dag_id": "socrates_daily", "task_id": "load", "dag_run_id": "scheduled__2024-11-23T15:00:00+00:00",
   "execution_date": "2024-11-23T15:00:00+00:00", "state": "failed", "try_number": 1, "map_index": 1,
   "start_date": "2024-11-24T21:00:00+00:00", "end_date": "2024-11-24T21:01:30+00:00"}]}');

SELECT system, system_display_name, system_kind, job, pipeline, external_id, attempt, is_current,
       business_date, state, started_at_local, ended_at_local, time_zone, duration_seconds, error_message
FROM kant.runs ORDER BY system, job, external_id, attempt;

SELECT system, job, external_id, attempt, state FROM kant.current_runs ORDER BY system, job, external_id;

SELECT * FROM kant.runs_by_business_date ORDER BY business_date, system, job;

-- every view and column commented; the views people read (runs and the bi_
-- views) use plain types only: BI tools read them directly.  The bi_ views
-- have no timestamptz either (naive UTC / local, the zone in a column).
SELECT c.relname AS view, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       col_description(c.oid, a.attnum) IS NOT NULL AS commented
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind = 'v' AND a.attnum > 0
  AND (col_description(c.oid, a.attnum) IS NULL
       OR (c.relname IN ('runs', 'current_runs', 'runs_by_business_date')
           AND format_type(a.atttypid, a.atttypmod) NOT IN ('text', 'integer', 'bigint', 'date',
               'timestamp with time zone', 'timestamp without time zone', 'numeric(14,3)'))
       OR (c.relname LIKE 'bi\_%'
           AND format_type(a.atttypid, a.atttypmod) NOT IN ('text', 'integer', 'bigint', 'date',
               'double precision', 'timestamp without time zone', 'numeric(14,3)', 'numeric(5,2)')))
ORDER BY 1, 2;
SELECT count(*) AS views, count(obj_description(oid, 'pg_class')) AS commented
FROM pg_class WHERE relnamespace = 'kant'::regnamespace AND relkind = 'v';

-- index-driven reads: a business date, a job's history
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM kant.job_run WHERE business_date = '2024-11-24';
EXPLAIN (COSTS OFF) SELECT * FROM kant.job_run WHERE job_id = 1 ORDER BY started_at DESC LIMIT 10;
EXPLAIN (COSTS OFF) SELECT * FROM kant.job_run WHERE NOT kant.is_terminal(state);
RESET enable_seqscan;
