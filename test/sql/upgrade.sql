-- Upgrades: a 0.1.0 installation with data updates to the current version,
-- keeps its data, and ends with the same objects as a fresh install.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant VERSION '0.1.0';
SET TimeZone = 'UTC';
SELECT extversion FROM pg_extension WHERE extname = 'kant';
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0 AS added;
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
SELECT to_regproc('kant.cron_next') IS NULL AS no_cron_yet;

ALTER EXTENSION kant UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'kant';
SELECT count(*) AS runs_kept FROM kant.job_run;
SELECT kant.cron_next('30 2 * * *', 'Asia/Tokyo', '2024-11-24 00:00+00') AS cron_works;
-- ingestion still works after the update, in the same session, and from now
-- on queues what it changes for the SLO refresh
SELECT received, unchanged FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
SELECT kant.create_slo('hegel_nightly', '04:00', jobs => ARRAY['hegel/export_users'],
                       deadline_offset_days => 0) > 0 AS slo_created;
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_2", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732546200}]}');
SELECT business_date FROM kant.slo_dirty;
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT business_date, slo_status FROM kant.slo_day ORDER BY 1 LIMIT 2;

CREATE TEMP TABLE updated AS
SELECT pg_describe_object(classid, objid, objsubid) AS obj FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kant');
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SELECT extversion FROM pg_extension WHERE extname = 'kant';
SELECT obj AS only_after_update FROM updated
EXCEPT SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kant');
SELECT pg_describe_object(classid, objid, objsubid) AS only_in_fresh_install FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kant')
EXCEPT SELECT obj FROM updated;
SELECT version FROM pg_available_extension_versions WHERE name = 'kant' ORDER BY version;
