-- SLOs for the simulated month (run by `make demo` after the runs are ingested):
-- HEGEL's exports must be done by 04:30 JST, when SOCRATES (Composer) starts
-- reading them; SOCRATES' marts must be published by 10:00 JST, when schools
-- open their dashboards; both the morning after the business date, and a
-- failure must be recovered the same day (SLA).
\pset footer off
\pset null ''
SET client_min_messages = warning;

\echo '== Schedules: read by the collectors (Glue triggers, DAG schedules), bounded here to the simulated month'
SELECT sy.name AS system, x.source, count(*) AS jobs, min(x.cron) AS first_cron, min(x.time_zone) AS zone,
       count(kant.set_schedule(sy.name, x.cron, job => j.name, time_zone => x.time_zone,
             grace => CASE sy.kind WHEN 'glue' THEN interval '30 minutes' ELSE interval '1 hour' END,
             active_from => :'start', active_until => :'last')) AS bounded
FROM kant.schedule x JOIN kant.job j USING (job_id) JOIN kant.system sy USING (system_id)
GROUP BY 1, 2 ORDER BY 1;

SELECT kant.create_slo('hegel_nightly', '04:30', pipeline => 'hegel_nightly', objective => 0.9,
         description => 'HEGEL: every Glue export of day D done by D+1 04:30 JST') > 0 AS hegel_slo,
       kant.create_slo('socrates_daily', '10:00', pipeline => 'socrates_daily', objective => 0.9,
         description => 'SOCRATES: every Composer task of day D done by D+1 10:00 JST') > 0 AS socrates_slo;

\echo '== Attainment over the month (SLO: done by the deadline; SLA: recovered the same day)'
-- percentages as numeric: a float8's text follows extra_float_digits (at -15, 100 reads 1e+02)
SELECT s.name AS slo, ss.systems AS system,
       to_char(s.deadline_time, 'HH24:MI') || ' ' || s.time_zone AS deadline,
       a.slo_days_met || '/' || a.slo_days_evaluated AS slo_met,
       round(100 * a.slo_attainment)::numeric || '%' AS slo_pct,
       a.sla_days_met || '/' || a.sla_days_evaluated AS sla_met,
       round(100 * a.sla_attainment)::numeric || '%' AS sla_pct,
       round(100 * a.objective) || '%' AS objective,
       a.error_budget_days AS budget_days, a.slo_budget_remaining_days AS budget_left,
       a.streak_days AS streak
FROM kant.slo s
JOIN kant.slo_systems ss USING (slo_id)
CROSS JOIN LATERAL kant.slo_attainment(s.name, 30, :'last') a
ORDER BY 1;

\echo '== Per-day strip,' :start '..' :last '  o met   L late (SLO missed, SLA met)   X missed   ? pending   . no data'
SELECT slo,
       string_agg(CASE WHEN slo_status = 'met' THEN 'o'
                       WHEN slo_status = 'missed' AND sla_status = 'met' THEN 'L'
                       WHEN slo_status = 'missed' THEN 'X'
                       WHEN slo_status = 'pending' THEN '?' ELSE '.' END, '' ORDER BY business_date) AS days
FROM kant.bi_slo_daily
WHERE business_date BETWEEN :'start' AND :'last'
GROUP BY slo ORDER BY slo;

\echo '== Days that missed, and why'
SELECT business_date, slo, slo_status, sla_status,
       to_char(completed_at_local, 'MM-DD HH24:MI') AS done_jst,
       round(lateness_seconds / 60) AS late_min, failures, retries, missing, critical_job
FROM kant.bi_slo_daily
WHERE business_date BETWEEN :'start' AND :'last' AND slo_status <> 'met'
ORDER BY business_date, slo;

\echo '== The last night (business date' :last'): jobs late against their deadline, and runs that never started'
SELECT system_display_name AS system, job, state,
       to_char(coalesce(started_at_local, scheduled_at_local), 'HH24:MI') AS start_jst,
       to_char(ended_at_local, 'HH24:MI') AS end_jst,
       to_char(expected_end_local, 'HH24:MI') AS deadline_jst,
       round(seconds_late / 60) AS late_min
FROM kant.bi_run_timeline
WHERE business_date = :'last' AND is_current = 1 AND (is_late = 1 OR state = 'missing')
ORDER BY seconds_late DESC NULLS FIRST;

\echo '== Jobs to speed up first: slowest p90 and how fast they grow (bi_job_duration)'
SELECT system_display_name AS system, job, runs_28d AS runs, round(p50_seconds / 60, 1) AS p50_min,
       round(p90_seconds / 60, 1) AS p90_min, round(max_seconds / 60, 1) AS max_min,
       round(trend_seconds_per_week / 60, 1) AS trend_min_per_week
FROM kant.bi_job_duration ORDER BY p90_seconds DESC LIMIT 5;
