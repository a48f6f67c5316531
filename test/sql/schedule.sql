-- Expected runs: how a schedule's slots map to business dates, for Glue
-- (AWS cron in UTC, the job's start-time rule) and Airflow (the previous tick
-- is the logical date), hourly schedules across DST, calendars, and changes
-- that keep history.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;

SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', bd_offset_days => -1) > 0 AS glue,
       kant.add_system('socrates', 'airflow', 'Asia/Tokyo') > 0 AS airflow,
       kant.add_system('ny', 'airflow', 'America/New_York') > 0 AS ny;
SELECT kant.configure_job('hegel', 'export_users') > 0, kant.configure_job('socrates', 'daily.load') > 0,
       kant.configure_job('ny', 'hourly.sync') > 0, kant.configure_job('ny', 'weekday.report') > 0;

-- Glue: a trigger's cron(...) is read in UTC by default; 17:00 UTC is 02:00 in
-- Tokyo the next day, and the job exports the day before it starts
SELECT kant.set_schedule('hegel', 'cron(0 17 * * ? *)', job => 'export_users',
                         active_from => '2026-03-02', active_until => '2026-03-04');
SELECT s.time_zone, s.slot_date FROM kant.schedule s JOIN kant.job j USING (job_id) WHERE j.name = 'export_users';
SELECT business_date, slot_at, slot_at AT TIME ZONE 'Asia/Tokyo' AS slot_tokyo, due_at
FROM kant.expected_run e JOIN kant.job j USING (job_id) WHERE j.name = 'export_users' ORDER BY slot_at;

-- Airflow: the DAG run at 04:30 on the 3rd has the logical date of the tick
-- before it, the 2nd
SELECT kant.set_schedule('socrates', '30 4 * * *', job => 'daily.load',
                         active_from => '2026-03-02', active_until => '2026-03-04');
SELECT s.time_zone, s.slot_date FROM kant.schedule s JOIN kant.job j USING (job_id) WHERE j.name = 'daily.load';
SELECT business_date, slot_at AT TIME ZONE 'Asia/Tokyo' AS slot_tokyo
FROM kant.expected_run e JOIN kant.job j USING (job_id) WHERE j.name = 'daily.load' ORDER BY slot_at;

-- hourly, in New York: 23 slots on the spring-forward date, 25 on the fall-back date
SELECT kant.set_schedule('ny', '0 * * * *', job => 'hourly.sync',
                         active_from => '2026-03-07', active_until => '2026-03-09');
SELECT kant.set_schedule('ny', '0 * * * *', job => 'hourly.sync',
                         active_from => '2026-10-31', active_until => '2026-11-02');
SELECT business_date, count(*) AS slots, min(slot_at AT TIME ZONE 'America/New_York') AS first_local,
       max(slot_at AT TIME ZONE 'America/New_York') AS last_local
FROM kant.expected_run e JOIN kant.job j USING (job_id) WHERE j.name = 'hourly.sync'
GROUP BY 1 ORDER BY 1;
-- changing the schedule from a date keeps the slots before it
SELECT kant.set_schedule('ny', '0 * * * *', job => 'hourly.sync',
                         active_from => '2026-03-07', active_until => '2026-03-09');
SELECT kant.set_schedule('ny', '0 */6 * * *', job => 'hourly.sync',
                         active_from => '2026-03-09', active_until => '2026-03-09');
SELECT business_date, count(*) AS slots FROM kant.expected_run e JOIN kant.job j USING (job_id)
WHERE j.name = 'hourly.sync' GROUP BY 1 ORDER BY 1;

-- slots are matched to runs by count: 3 of the 4 slots of 2026-03-09 started
SELECT sum(inserted) AS inserted FROM generate_series(0, 2) i CROSS JOIN LATERAL kant.report_run(
  system => 'ny', job => 'hourly.sync', run_id => 'scheduled__' || i, state => 'success',
  business_date => '2026-03-09', started_at => '2026-03-09 12:00+00', ended_at => '2026-03-09 12:05+00');
SELECT business_date, status, count(*) AS slots, min(slot_no) AS first_slot, max(slot_no) AS last_slot
FROM kant.expected_runs WHERE job = 'hourly.sync' GROUP BY 1, 2 ORDER BY 1, 2;

-- a calendar: weekdays only, minus a holiday; Saturday 2026-03-07 and Sunday
-- 2026-03-08 and the holiday on Tuesday 2026-03-10 have no slot
SELECT kant.set_calendar('us', description => 'Monday to Friday');
INSERT INTO kant.holiday VALUES ('us', '2026-03-10', 'a holiday');
SELECT kant.set_schedule('ny', '0 18 * * *', job => 'weekday.report', calendar => 'us',
                         slot_date => 'start', active_from => '2026-03-05', active_until => '2026-03-12');
SELECT business_date, to_char(business_date, 'Dy') AS day FROM kant.expected_run e JOIN kant.job j USING (job_id)
WHERE j.name = 'weekday.report' ORDER BY 1;
-- the holiday removed: its slot comes back
DELETE FROM kant.holiday WHERE day = '2026-03-10';
SELECT count(*) AS weekday_slots FROM kant.expected_run e JOIN kant.job j USING (job_id) WHERE j.name = 'weekday.report';
SELECT kant.set_calendar('us', '{1,2,3,4,5,8}');
SELECT kant.set_calendar('us', '{}');

-- expansion is idempotent; errors
SELECT kant.expand_schedules() AS added_again;
SELECT kant.set_schedule('ny', '0 18 * * *', job => 'weekday.report', active_from => '2026-03-05',
                         active_until => '2026-03-01');
SELECT kant.set_schedule('ny', '0 18 * * *', job => 'weekday.report', slot_date => 'end');
SELECT kant.set_schedule('nope', '0 18 * * *', job => 'weekday.report');
SELECT kant.set_schedule('ny', '0 18 * * *', pipeline => 'nothing_here');
SELECT kant.unset_schedule('ny', job => 'weekday.report');
SELECT count(*) AS weekday_slots FROM kant.expected_run e JOIN kant.job j USING (job_id) WHERE j.name = 'weekday.report';
