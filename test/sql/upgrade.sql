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

-- 0.5.0 -> 0.6.0 keeps what a team set up: a gate's condition (a name
-- resolved at each call, run as kant's owner) becomes the function's OID, run
-- as its owner; one that no longer resolves keeps the gate closed; open
-- alerts keep their identity under keys made of ids
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant VERSION '0.5.0';
CREATE FUNCTION public.upg_dq_ok(gate text, business_date date) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
SELECT kant.add_system('etl', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('etl', 'extract', pipeline => 'p') > 0 AS configured;
SELECT kant.create_gate('with_dq', pipeline => 'p', condition => 'public.upg_dq_ok') > 0 AS gate,
       kant.create_gate('with_lost', pipeline => 'p', condition => 'public.upg_dq_ok') > 0 AS gate2;
UPDATE kant.gate SET condition = 'public.no_longer_there' WHERE name = 'with_lost';
SELECT (kant.report_run('etl', 'extract', 'r1', 'failed', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 01:05+00')).inserted;
SELECT open_now FROM kant.run_checks('2026-03-01 02:00+00');
SELECT alert_key FROM kant.alert;
SELECT (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected,
       (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected;
ALTER EXTENSION kant UPDATE TO '0.6.0';
SELECT name, condition, condition_role FROM kant.gate ORDER BY name;
-- a record quarantined twice under 0.5.0 keeps its two rows (no key); rejected
-- again it gets one keyed row, which counts it from then on
SELECT times_seen, last_batch_id = batch_id AS last_is_first, last_seen_at = rejected_at AS seen_when_rejected,
       record_sha256 = sha256(convert_to(record::text, 'UTF8')) AS hashed, dedup_key IS NULL AS no_key
FROM kant.rejected ORDER BY rejected_id;
SELECT (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected,
       (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected;
SELECT times_seen, dedup_key IS NULL AS no_key, record_sha256 = sha256(convert_to(record::text, 'UTF8')) AS hashed
FROM kant.rejected ORDER BY rejected_id;
SELECT (kant.report_run('etl', 'extract', 'r1', 'succeeded', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 01:06+00')).inserted IS NOT NULL AS reported;
SELECT kant.kant_gate_ready('with_dq', '2026-03-01') AS ready;
SELECT kant.kant_gate_ready('with_lost', '2026-03-01') AS ready;
SELECT alert_key = kant._alert_key('failure', 'job', job_id, business_date) AS rekeyed, status FROM kant.alert;
SELECT opened, resolved FROM kant.run_checks('2026-03-01 02:10+00');
DROP FUNCTION public.upg_dq_ok(text, date);
