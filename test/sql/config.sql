-- systems and jobs: registration, changes, validation
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET DateStyle = ISO;
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL',
                       description => 'AWS Glue exports of RDS to S3',
                       bd_argument => '--business_date', default_pipeline => 'hegel_nightly') AS hegel_id;
SELECT name, kind, time_zone, display_name, bd_argument, bd_offset_days, bd_day_start, default_pipeline,
       auto_registered FROM kant.system;

-- validation: SQLSTATE, message, hint
SELECT kant.add_system('hegel', 'glue');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.add_system('x', 'jenkins');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.add_system('x', 'glue', 'Asia/Tokio');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.add_system('x', 'glue', bd_offset_days => 400);
\echo :LAST_ERROR_SQLSTATE
SELECT kant.add_system(' x', 'glue');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.alter_system('nope', time_zone => 'UTC');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.alter_system('hegel', time_zone => 'JST');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.configure_job('nope', 'job');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.configure_job('hegel', '');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.drop_system('nope');
\echo :LAST_ERROR_SQLSTATE
SET kant.default_time_zone = 'Mars/Olympus';
\echo :LAST_ERROR_SQLSTATE

-- changes: NULL arguments leave settings alone
SELECT kant.alter_system('hegel', time_zone => 'UTC', display_name => 'HEGEL (AWS)');
SELECT name, time_zone, display_name, bd_argument, default_pipeline FROM kant.system;

-- jobs: created with settings, then changed; auto-registered jobs take the
-- system's default pipeline
SELECT kant.configure_job('hegel', 'export_users', pipeline => 'hegel_core', bd_offset_days => -1) AS job_id;
SELECT kant.configure_job('hegel', 'export_users', bd_day_start => '04:00') AS same_job_id;
SELECT name, pipeline, bd_argument, bd_offset_days, bd_day_start, auto_registered FROM kant.job;
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '[{"Id": "jr_1", "JobName": "export_orders",
  "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]');
SELECT name, pipeline, auto_registered FROM kant.job ORDER BY job_id;

-- an auto-registered system becomes a configured one when altered
SET kant.default_time_zone = 'Europe/Berlin';
SELECT inserted FROM kant.ingest_glue_job_runs('hegel_eu', '[{"Id": "jr_2", "JobName": "x",
  "JobRunState": "RUNNING", "StartedOn": 1732459800}]');
RESET kant.default_time_zone;
SELECT name, time_zone, auto_registered FROM kant.system WHERE name = 'hegel_eu';
SELECT kant.alter_system('hegel_eu', time_zone => 'Europe/Dublin');
SELECT name, time_zone, auto_registered FROM kant.system WHERE name = 'hegel_eu';

-- dropping a system removes its jobs and runs, keeps the ingest log
SELECT kant.drop_system('hegel_eu') AS runs_removed;
SELECT count(*) AS jobs FROM kant.job j JOIN kant.system s USING (system_id) WHERE s.name = 'hegel_eu';
SELECT count(*) AS batches, count(system_id) AS with_system FROM kant.ingest_batch;

-- time zone validity as CHECK, too
\set VERBOSITY terse
UPDATE kant.system SET time_zone = 'Nowhere/City' WHERE name = 'hegel';
\echo :LAST_ERROR_SQLSTATE
SELECT kant.valid_time_zone('Asia/Tokyo'), kant.valid_time_zone('America/New_York'),
       kant.valid_time_zone('Asia/Tokio'), kant.valid_time_zone('UTC');
