-- kant.report_run(...): one run reported directly, by name (Composer callbacks, scripts)
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo') > 0 AS added;

CREATE TEMP VIEW r AS
SELECT s.name AS system, j.name AS job, r.external_id, r.attempt, r.business_date AS bd, r.bd_source AS src,
       r.state, r.raw_state, r.started_at, r.ended_at, r.error_message, r.details
FROM kant.job_run r JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id)
ORDER BY s.name, j.name, r.external_id, r.attempt;

-- 1. What an on_failure_callback sends, then the retry's on_success_callback.
SELECT received, inserted, updated, unchanged, rejected FROM kant.report_run(
    system => 'socrates', job => 'socrates_daily.load_users',
    run_id => 'scheduled__2024-11-23T21:00:00+00:00', attempt => 1,
    state => 'failed', business_date => '2024-11-24',
    started_at => '2024-11-24 21:00:05+00', ended_at => '2024-11-24 21:03:00+00',
    error_message => 'google.api_core.exceptions.Forbidden: 403 Access Denied');
SELECT received, inserted FROM kant.report_run(
    system => 'socrates', job => 'socrates_daily.load_users',
    run_id => 'scheduled__2024-11-23T21:00:00+00:00', attempt => 2,
    state => 'success', business_date => '2024-11-24',
    started_at => '2024-11-24 21:08:00+00', ended_at => '2024-11-24 21:15:00+00',
    details => '{"hostname": "airflow-worker-1"}');
SELECT job, external_id, attempt, bd, src, state, raw_state, started_at, ended_at, error_message, details FROM r;
SELECT job, attempt, is_current, state FROM kant.runs ORDER BY attempt;

-- 2. Reporting the same thing again changes nothing; a late "running" for a
--    finished attempt does not undo it.
SELECT inserted, updated, unchanged FROM kant.report_run(
    system => 'socrates', job => 'socrates_daily.load_users',
    run_id => 'scheduled__2024-11-23T21:00:00+00:00', attempt => 2,
    state => 'success', business_date => '2024-11-24',
    started_at => '2024-11-24 21:08:00+00', ended_at => '2024-11-24 21:15:00+00',
    details => '{"hostname": "airflow-worker-1"}');
SELECT inserted, updated, unchanged FROM kant.report_run('socrates', 'socrates_daily.load_users',
    'scheduled__2024-11-23T21:00:00+00:00', 'running', '2024-11-24', 2, '2024-11-24 21:08:00+00');
SELECT attempt, state FROM r WHERE attempt = 2;

-- 3. Without a business date: the start-time rule in the system's zone.
SELECT inserted FROM kant.report_run(system => 'socrates', job => 'adhoc.export',
    run_id => 'manual_1', state => 'succeeded', started_at => '2024-11-24 15:30:00+00');
SELECT job, bd, src FROM r WHERE job = 'adhoc.export';

-- 4. A pg_cron run reported by a script, for a new (manual) system.
SELECT inserted FROM kant.report_run(system => 'ops_cron', job => 'vacuum_analyze',
    run_id => '4711', state => 'succeeded', started_at => '2024-11-24 01:00:00+00',
    ended_at => '2024-11-24 01:00:02+00');
SELECT name, kind FROM kant.system WHERE name = 'ops_cron';

-- 5. A bad report is kept with its reason and reported as a WARNING.
SELECT received, inserted, rejected FROM kant.report_run(system => 'socrates', job => 'socrates_daily.load_users',
    run_id => 'scheduled__2024-11-23T21:00:00+00:00', state => 'sucess');
SELECT item_path, sqlstate, reason, record->>'state' AS state FROM kant.rejected;
SELECT received, rejected FROM kant.report_run(system => 'socrates', job => '', run_id => 'r', state => 'success');

-- 6. Several reports at once, as an array.
SELECT received, inserted FROM kant.ingest_reports('socrates', '[
  {"job": "batch.a", "run_id": "r1", "state": "queued", "business_date": "2024-11-24"},
  {"job": "batch.b", "run_id": "r1", "state": "running", "business_date": "2024-11-24", "started_at": "2024-11-24T01:00:00Z"}]');
SELECT received, inserted FROM kant.ingest_reports('socrates', '{"runs": [
  {"job": "batch.c", "run_id": "r1", "state": "succeeded", "business_date": "2024/11/24"}]}');
SELECT job, bd, state FROM r WHERE job LIKE 'batch.%';
