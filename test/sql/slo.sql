-- SLOs and SLAs: schedules and expected runs, the evaluation aggregate, daily
-- facts kept current incrementally, attainment, and the bi_ views.  Every
-- date here is in the past, so every verdict is final and does not depend on
-- when the test runs.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;

-- 1. Local deadlines across DST (America/New_York): a time that does not
-- exist is shifted by the gap, a repeated one is its first occurrence.
SELECT kant.local_instant('2026-03-07 06:00', 'America/New_York') AS est,
       kant.local_instant('2026-03-08 06:00', 'America/New_York') AS edt,
       kant.local_instant('2026-03-08 02:30', 'America/New_York') AS gap,
       kant.local_instant('2026-11-01 01:30', 'America/New_York') AS repeated,
       kant.local_instant('2026-11-01 06:00', 'America/New_York') AS est_again;

-- 2. The aggregate on its own.  Rows: (job, state, ended_at, is_current, due_at).
CREATE TEMP TABLE cases (name text, job int, state kant.run_state, ended_at timestamptz,
                         is_current boolean, due_at timestamptz);
INSERT INTO cases VALUES
  ('all done early',         1, 'succeeded', '2026-03-02 04:00+00', true,  NULL),
  ('all done early',         2, 'succeeded', '2026-03-02 05:00+00', true,  NULL),
  ('retry before deadline',  1, 'failed',    '2026-03-02 04:00+00', false, NULL),
  ('retry before deadline',  1, 'succeeded', '2026-03-02 05:30+00', true,  NULL),
  ('retry after deadline',   1, 'failed',    '2026-03-02 04:00+00', false, NULL),
  ('retry after deadline',   1, 'succeeded', '2026-03-02 09:00+00', true,  NULL),
  ('recovered after SLA',    1, 'timed_out', '2026-03-02 04:00+00', false, NULL),
  ('recovered after SLA',    1, 'succeeded', '2026-03-03 01:00+00', true,  NULL),
  ('still failed',           1, 'failed',    '2026-03-02 04:00+00', true,  NULL),
  ('still running',          1, 'running',   NULL,                  true,  NULL),
  ('missing job',            1, 'succeeded', '2026-03-02 04:00+00', true,  NULL),
  ('missing job',            2, NULL,        NULL,                  true,  '2026-03-02 03:00+00'),
  ('not due yet',            2, NULL,        NULL,                  true,  '2026-03-02 07:00+00'),
  ('skipped branch',         1, 'succeeded', '2026-03-02 04:00+00', true,  NULL),
  ('skipped branch',         2, 'skipped',   '2026-03-02 04:10+00', true,  NULL),
  ('cancelled',              1, 'cancelled', '2026-03-02 04:00+00', true,  NULL);
-- deadline 06:00, SLA end 24:00; evaluated at 05:00 (before) and at 10:00 (after)
SELECT c.name, a.as_of::time AS as_of, (v).slo_status, (v).sla_status, (v).completed_at,
       (v).lateness_seconds, (v).runs, (v).done, (v).running, (v).failures, (v).retries,
       (v).missing, (v).awaited, (v).critical_job_id AS critical
FROM (SELECT DISTINCT name FROM cases) c
CROSS JOIN (VALUES (timestamptz '2026-03-02 05:00+00'), ('2026-03-02 10:00+00'), ('2026-03-03 12:00+00')) a(as_of)
CROSS JOIN LATERAL (
  SELECT kant.slo_eval(x.job, x.state, x.ended_at, x.is_current, x.due_at,
                       '2026-03-02 06:00+00', '2026-03-03 00:00+00', a.as_of) AS v
  FROM cases x WHERE x.name = c.name) e
ORDER BY c.name, a.as_of;
-- no rows at all: no data
SELECT (kant.slo_eval(job, state, ended_at, is_current, due_at,
        '2026-03-02 06:00+00', '2026-03-03 00:00+00', now())).* FROM cases WHERE false;
-- a tie on the last end names the smaller job id, whatever the input order
SELECT (kant.slo_eval(j, 'succeeded', '2026-03-02 05:00+00', true, NULL,
        '2026-03-02 06:00+00', '2026-03-03 00:00+00', now())).critical_job_id
FROM unnest(ARRAY[7, 3, 5]) j;
-- misuse is an error that says what to do
SELECT kant.slo_eval(1, 'succeeded', now(), true, NULL, d, d, now())
FROM (VALUES (timestamptz '2026-03-02 06:00+00'), ('2026-03-03 06:00+00')) v(d);
SELECT kant.slo_eval(1, 'succeeded', now(), true, NULL, NULL, now(), now());
SELECT kant.slo_eval(1, NULL, NULL, true, NULL, now(), now(), now());
-- the limits are times, not infinities (-infinity once passed for "not set")
SELECT kant.slo_eval(1, 'succeeded', '2026-03-02 05:00+00', true, NULL, '-infinity', 'infinity', '2026-03-04 00:00+00');
SELECT kant.slo_eval(1, 'succeeded', '2026-03-02 05:00+00', true, NULL, '2026-03-02 06:00+00', '2026-03-03 00:00+00', 'infinity');
-- a run that never ends is late by a lot, not by a negative wrapped-around figure
SELECT (kant.slo_eval(1, 'succeeded', 'infinity', true, NULL, '1999-03-02 06:00+00', '1999-03-03 00:00+00',
        '1999-03-04 00:00+00')).lateness_seconds > 0 AS late;

-- 3. A pipeline in New York: extract then load, done by 06:00 the next morning.
SELECT kant.add_system('ny', 'manual', 'America/New_York', display_name => 'NY', bd_offset_days => -1) > 0 AS added;
SELECT kant.configure_job('ny', 'extract', pipeline => 'nightly') > 0 AS job,
       kant.configure_job('ny', 'load', pipeline => 'nightly') > 0 AS job;
SELECT kant.set_calendar('us_all', '{1,2,3,4,5,6,7}', 'every day, minus holidays');
INSERT INTO kant.holiday VALUES ('us_all', '2026-03-14', 'a holiday');

-- schedules: errors name the problem
SELECT kant.set_schedule('ny', '30 2 * * 8', job => 'load');
SELECT kant.set_schedule('ny', 'cron(15 12 * * * *)', job => 'load');
SELECT kant.set_schedule('ny', '30 2 * * *');
SELECT kant.set_schedule('ny', '30 2 * * *', job => 'load', time_zone => 'Mars/Olympus');
SELECT kant.set_schedule('ny', '30 2 * * *', job => 'nope');
SELECT kant.set_schedule('ny', '30 2 * * *', job => 'load', calendar => 'nope');
-- load runs at 02:30 New York time and produces the previous day's data
SELECT kant.set_schedule('ny', '30 2 * * *', job => 'load', grace => '2 hours',
                         calendar => 'us_all', active_from => '2026-03-06');
-- 02:30 does not exist on 2026-03-08: that slot fires once, at 03:30 EDT; the holiday has none
SELECT business_date, slot_at, due_at FROM kant.expected_run
WHERE business_date BETWEEN '2026-03-05' AND '2026-03-15' ORDER BY slot_at;

-- SLO definitions: errors name the field
SELECT kant.create_slo('bad', '06:00', pipeline => 'nightly', time_zone => 'Mars/Olympus');
SELECT kant.create_slo('bad', '06:00', deadline_offset_days => -1, pipeline => 'nightly');
SELECT kant.create_slo('bad', '00:00', deadline_offset_days => 0, pipeline => 'nightly');
SELECT kant.create_slo('bad', '06:00', pipeline => 'no_such_pipeline');
SELECT kant.create_slo('bad', '06:00');
SELECT kant.create_slo('bad', '06:00', jobs => ARRAY['ny/nope']);
SELECT kant.create_slo('bad', '06:00', jobs => ARRAY['load']);
SELECT kant.create_slo('bad', '06:00', pipeline => 'nightly', sla_end => '05:00', sla_offset_days => 1);
SELECT kant.create_slo('bad', '06:00', pipeline => 'nightly', objective => 1.5);

SELECT kant.create_slo('ny_nightly', '06:00', pipeline => 'nightly', calendar => 'us_all',
                       evaluate_from => '2026-03-06', objective => 0.9) > 0 AS created;
SELECT kant.create_slo('ny_nightly', '07:00', pipeline => 'nightly');
-- the zone came from the system; the SLA ends with the deadline's local day
SELECT name, pipeline, deadline_offset_days, deadline_time, time_zone, sla_offset_days, sla_time,
       objective, window_days, calendar, evaluate_from FROM kant.slo;
SELECT * FROM kant.slo_deadline(1, '2026-03-07');

-- the runs, reported as a Composer callback would
CREATE TEMP TABLE feed (bd date, job text, attempt int, state text, started timestamptz, ended timestamptz);
INSERT INTO feed VALUES
  -- met: load ends 05:30 EST, deadline 06:00 EST (11:00Z)
  ('2026-03-06', 'extract', 1, 'success', '2026-03-07 07:00+00', '2026-03-07 08:00+00'),
  ('2026-03-06', 'load',    1, 'success', '2026-03-07 09:00+00', '2026-03-07 10:30+00'),
  -- missed: the same 10:30Z is 06:30 EDT; the deadline moved to 10:00Z with DST
  ('2026-03-07', 'extract', 1, 'success', '2026-03-08 07:00+00', '2026-03-08 08:00+00'),
  ('2026-03-07', 'load',    1, 'success', '2026-03-08 09:00+00', '2026-03-08 10:30+00'),
  -- a failure recovered by the retry before the deadline: met
  ('2026-03-08', 'extract', 1, 'success', '2026-03-09 07:00+00', '2026-03-09 07:30+00'),
  ('2026-03-08', 'load',    1, 'failed',  '2026-03-09 07:40+00', '2026-03-09 08:00+00'),
  ('2026-03-08', 'load',    2, 'success', '2026-03-09 08:10+00', '2026-03-09 09:00+00'),
  -- recovered after the deadline, within the day: SLO missed, SLA met
  ('2026-03-09', 'extract', 1, 'success', '2026-03-10 07:00+00', '2026-03-10 07:30+00'),
  ('2026-03-09', 'load',    1, 'failed',  '2026-03-10 07:40+00', '2026-03-10 08:00+00'),
  ('2026-03-09', 'load',    2, 'success', '2026-03-10 14:00+00', '2026-03-10 15:00+00'),
  -- recovered after the SLA window (ends 2026-03-12 00:00 EDT = 04:00Z): both missed
  ('2026-03-10', 'extract', 1, 'success', '2026-03-11 07:00+00', '2026-03-11 07:30+00'),
  ('2026-03-10', 'load',    1, 'failed',  '2026-03-11 07:40+00', '2026-03-11 08:00+00'),
  ('2026-03-10', 'load',    2, 'success', '2026-03-12 04:30+00', '2026-03-12 05:00+00'),
  -- load never ran: missing
  ('2026-03-11', 'extract', 1, 'success', '2026-03-12 07:00+00', '2026-03-12 07:30+00'),
  -- extract crosses local midnight (23:30 -> 01:10 EDT); load ends 05:40 EDT: met
  ('2026-03-12', 'extract', 1, 'success', '2026-03-13 03:30+00', '2026-03-13 05:10+00'),
  ('2026-03-12', 'load',    1, 'success', '2026-03-13 06:30+00', '2026-03-13 09:40+00'),
  -- 2026-03-13: load missing, for now.  2026-03-14: a holiday.  2026-03-15: nothing at all.
  ('2026-03-13', 'extract', 1, 'success', '2026-03-14 07:00+00', '2026-03-14 07:30+00'),
  -- fall back: deadline 06:00 EST = 11:00Z again; 10:30Z is 05:30 EST: met
  ('2026-10-31', 'extract', 1, 'success', '2026-11-01 07:00+00', '2026-11-01 08:00+00'),
  ('2026-10-31', 'load',    1, 'success', '2026-11-01 09:00+00', '2026-11-01 10:30+00');
SELECT sum(inserted) AS inserted FROM feed f CROSS JOIN LATERAL kant.report_run(
  system => 'ny', job => f.job, run_id => 'manual__' || f.bd, attempt => f.attempt,
  state => f.state, business_date => f.bd, started_at => f.started, ended_at => f.ended);
SELECT kant.refresh_slo() > 0 AS evaluated;

SELECT business_date, slo_status, sla_status, completed_at_local, lateness_seconds, runs, done,
       failures, retries, missing, critical_job, slo_met, sla_met, is_final
FROM kant.bi_slo_daily WHERE slo = 'ny_nightly'
  AND (business_date BETWEEN '2026-03-05' AND '2026-03-15' OR business_date = '2026-10-31')
ORDER BY business_date;

-- what an expected run without a run looks like, in every view
SELECT job, business_date, slot_no, slot_at, status FROM kant.expected_runs
WHERE business_date BETWEEN '2026-03-10' AND '2026-03-13' ORDER BY business_date;
SELECT job, business_date, attempt, is_current, state, scheduled_at_local, started_at_local,
       ended_at_local, duration_seconds, slo, expected_end_local, seconds_late, is_late
FROM kant.bi_run_timeline
WHERE business_date IN ('2026-03-07', '2026-03-11', '2026-03-12') ORDER BY business_date, job, attempt;

-- attainment over the ten days to 2026-03-15: the holiday is not a day
SELECT since, until, slo_days_evaluated, slo_days_met, slo_days_missed, sla_days_met,
       round(slo_attainment::numeric, 4) AS slo_attainment, objective, error_budget_days,
       slo_budget_remaining_days, sla_budget_remaining_days, no_data_days, streak_days
FROM kant.slo_attainment('ny_nightly', 10, '2026-03-15');
SELECT streak_days FROM kant.slo_attainment('ny_nightly', 10, '2026-03-12');
SELECT period, period_start, period_end, slo_days_evaluated, slo_days_met, slo_met_pct,
       sla_days_met, sla_met_pct, objective_pct, error_budget_days, slo_budget_remaining_days,
       no_data_days, streak_days
FROM kant.bi_slo_attainment WHERE slo = 'ny_nightly' AND period = 'month' AND period_start = '2026-03-01';

-- 4. Late data re-evaluates a past day, and only the days it touches.
SELECT count(*) FILTER (WHERE slo_status = 'pending' OR sla_status = 'pending') AS pending_before
FROM kant.slo_day \gset
SELECT kant.refresh_slo() = :pending_before AS nothing_new;
SELECT now() AS t0 \gset
SELECT inserted FROM kant.report_run(system => 'ny', job => 'load', run_id => 'manual__2026-03-13',
  state => 'success', business_date => '2026-03-13',
  started_at => '2026-03-14 08:00+00', ended_at => '2026-03-14 09:00+00');
SELECT job_id, business_date FROM kant.slo_dirty;
SELECT kant.refresh_slo() = :pending_before + 1 AS one_day_more;
SELECT business_date, slo_status, sla_status, missing FROM kant.slo_day
WHERE evaluated_at > :'t0' AND slo_status <> 'pending' AND sla_status <> 'pending';
SELECT streak_days FROM kant.slo_attainment('ny_nightly', 10, '2026-03-13');

-- a run that moves to another business date re-evaluates both dates
SELECT updated FROM kant.report_run(system => 'ny', job => 'extract', run_id => 'manual__2026-03-13',
  state => 'success', business_date => '2026-03-15',
  started_at => '2026-03-14 07:00+00', ended_at => '2026-03-14 07:30+00');
SELECT business_date FROM kant.slo_dirty ORDER BY 1;
SELECT kant.refresh_slo() > 0 AS evaluated;

-- 5. An SLO without schedules: a day without runs has no data.
SELECT kant.create_slo('ny_extract', '06:00', jobs => ARRAY['ny/extract'],
                       evaluate_from => '2026-03-11') > 0 AS created;
SELECT business_date, slo_status, sla_status, runs FROM kant.slo_day y
JOIN kant.slo s USING (slo_id) WHERE s.name = 'ny_extract' AND business_date <= '2026-03-16'
ORDER BY 1;

-- 6. Changing an SLO re-evaluates its history: a 07:00 deadline makes 2026-03-07 met.
SELECT kant.alter_slo('ny_nightly', deadline => '07:00');
SELECT business_date, slo_status, lateness_seconds FROM kant.bi_slo_daily
WHERE slo = 'ny_nightly' AND business_date IN ('2026-03-06', '2026-03-07') ORDER BY 1;
SELECT kant.alter_slo('nope', deadline => '07:00');
SELECT kant.alter_slo('ny_nightly', time_zone => 'Nowhere/Special');

-- 7. A holiday added later: the day drops out, its expected run goes.
INSERT INTO kant.holiday VALUES ('us_all', '2026-03-11', 'declared later');
SELECT business_date FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'ny_nightly' AND business_date BETWEEN '2026-03-10' AND '2026-03-15' ORDER BY 1;
SELECT count(*) AS slots_on_holidays FROM kant.expected_run WHERE business_date IN ('2026-03-11', '2026-03-14');

-- 8. A Glue retry chain: the retry's success is the day's completion.
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL') > 0 AS added;
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_1", "JobName": "export", "JobRunState": "FAILED", "StartedOn": "2026-03-02T17:00:00Z", "CompletedOn": "2026-03-02T17:30:00Z"},
  {"Id": "jr_2", "JobName": "export", "Attempt": 1, "PreviousRunId": "jr_1", "JobRunState": "SUCCEEDED", "StartedOn": "2026-03-02T17:31:00Z", "CompletedOn": "2026-03-02T18:10:00Z"}]}');
SELECT kant.create_slo('hegel_export', '04:00', deadline_offset_days => 0, jobs => ARRAY['hegel/export'],
                       evaluate_from => '2026-03-03') > 0 AS created;
SELECT business_date, slo_status, sla_status, completed_at_local, lateness_seconds, failures, retries
FROM kant.bi_slo_daily WHERE slo = 'hegel_export' AND business_date = '2026-03-03';

-- 9. pg_cron lives in another database here: the helper says what to run there.
SELECT kant.schedule_slo_refresh();

-- 10. dropping
SELECT kant.drop_slo('ny_extract');
SELECT kant.drop_slo('ny_extract');
SELECT kant.unset_schedule('ny', job => 'load');
SELECT count(*) AS expected_runs_left FROM kant.expected_run;

-- 11. bi_job_duration: a job that gets a minute slower every day
SELECT kant.add_system('dur', 'manual', 'UTC') > 0 AS added;
SELECT sum(inserted) AS inserted FROM generate_series(1, 27) d CROSS JOIN LATERAL kant.report_run(
  system => 'dur', job => 'growing', run_id => 'r' || d, state => 'success',
  business_date => current_date - d, started_at => (current_date - d + 1)::timestamptz,
  ended_at => (current_date - d + 1)::timestamptz + (28 - d) * interval '1 minute');
SELECT job, runs_28d, p50_seconds, p90_seconds, max_seconds, p50_week_0_seconds, p50_week_3_seconds,
       trend_seconds_per_week
FROM kant.bi_job_duration WHERE system = 'dur';
