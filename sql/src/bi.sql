/*
 * kant: Views for BI (Tableau reads these).
 *
 * Plain types only, naive timestamps with the zone in the column name (_utc)
 * or in a column beside it (_local), flags as 0/1, and nothing that depends
 * on the session's TimeZone, DateStyle or IntervalStyle.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

CREATE VIEW @extschema@.bi_run_timeline AS
SELECT
	r.run_id,
	sy.name AS system,
	coalesce(sy.display_name, sy.name) AS system_display_name,
	sy.time_zone AS system_time_zone,
	j.pipeline,
	j.name AS job,
	r.business_date,
	r.external_id,
	r.attempt,
	CASE WHEN @extschema@._is_current(r.superseded_at) THEN 1 ELSE 0 END AS is_current,
	r.state::text AS state,
	NULL::timestamp AS scheduled_at_utc,
	NULL::timestamp AS scheduled_at_local,
	r.started_at AT TIME ZONE 'UTC' AS started_at_utc,
	r.ended_at AT TIME ZONE 'UTC' AS ended_at_utc,
	r.started_at AT TIME ZONE sy.time_zone AS started_at_local,
	r.ended_at AT TIME ZONE sy.time_zone AS ended_at_local,
	round(extract(epoch FROM r.ended_at - r.started_at), 3)::numeric(14,3) AS duration_seconds,
	jd.slo,
	x.expected_end AT TIME ZONE 'UTC' AS expected_end_utc,
	x.expected_end AT TIME ZONE sy.time_zone AS expected_end_local,
	round(extract(epoch FROM x.late), 3)::numeric(14,3) AS seconds_late,
	CASE WHEN x.late > interval '0' THEN 1 ELSE 0 END AS is_late,
	r.error_message
FROM @extschema@.job_run r
JOIN @extschema@.job j ON j.job_id = r.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
LEFT JOIN @extschema@.job_deadline jd ON jd.job_id = r.job_id
CROSS JOIN LATERAL (
	SELECT e.expected_end,
		   CASE WHEN r.ended_at IS NOT NULL THEN r.ended_at - e.expected_end
				WHEN NOT @extschema@.is_terminal(r.state) AND pg_catalog.now() > e.expected_end
				THEN pg_catalog.now() - e.expected_end END AS late
	FROM (SELECT @extschema@._due(r.business_date, jd.deadline_offset_days, jd.deadline_time,
								  jd.time_zone) AS expected_end) e) x
UNION ALL
SELECT
	NULL::bigint,
	sy.name,
	coalesce(sy.display_name, sy.name),
	sy.time_zone,
	j.pipeline,
	j.name,
	e.business_date,
	NULL::text,
	0,
	1,
	'missing',
	e.slot_at AT TIME ZONE 'UTC',
	e.slot_at AT TIME ZONE sy.time_zone,
	NULL::timestamp,
	NULL::timestamp,
	NULL::timestamp,
	NULL::timestamp,
	NULL::numeric(14,3),
	jd.slo,
	x.expected_end AT TIME ZONE 'UTC',
	x.expected_end AT TIME ZONE sy.time_zone,
	NULL::numeric(14,3),
	CASE WHEN pg_catalog.now() > x.expected_end THEN 1 ELSE 0 END,
	'no run started within the grace period of the slot'
FROM @extschema@.expected_runs e
JOIN @extschema@.job j ON j.job_id = e.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
LEFT JOIN @extschema@.job_deadline jd ON jd.job_id = e.job_id
CROSS JOIN LATERAL (
	SELECT @extschema@._due(e.business_date, jd.deadline_offset_days, jd.deadline_time,
							jd.time_zone) AS expected_end) x
WHERE e.status = 'missing';
COMMENT ON VIEW @extschema@.bi_run_timeline IS
	'One row per run attempt, and one per missing expected run (state missing): when it ran in UTC and in the system''s zone, how long, and how late against the deadline of its SLO';
COMMENT ON COLUMN @extschema@.bi_run_timeline.run_id IS 'kant''s id of the attempt; NULL for a missing run';
COMMENT ON COLUMN @extschema@.bi_run_timeline.system IS 'system name';
COMMENT ON COLUMN @extschema@.bi_run_timeline.system_display_name IS 'system display name (e.g. HEGEL)';
COMMENT ON COLUMN @extschema@.bi_run_timeline.system_time_zone IS 'IANA zone of the _local columns';
COMMENT ON COLUMN @extschema@.bi_run_timeline.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.bi_run_timeline.job IS 'job name (Glue JobName, Airflow dag_id.task_id)';
COMMENT ON COLUMN @extschema@.bi_run_timeline.business_date IS 'date of the data';
COMMENT ON COLUMN @extschema@.bi_run_timeline.external_id IS 'the source''s run id';
COMMENT ON COLUMN @extschema@.bi_run_timeline.attempt IS 'attempt number from 1; 0 for a missing run';
COMMENT ON COLUMN @extschema@.bi_run_timeline.is_current IS '1 for the latest attempt of a run (and for a missing run), else 0';
COMMENT ON COLUMN @extschema@.bi_run_timeline.state IS 'normalised state, or missing';
COMMENT ON COLUMN @extschema@.bi_run_timeline.scheduled_at_utc IS 'missing runs: when the schedule fired, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.scheduled_at_local IS 'missing runs: when the schedule fired, in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.started_at_utc IS 'start, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.ended_at_utc IS 'end, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.started_at_local IS 'start, wall-clock time in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.ended_at_local IS 'end, wall-clock time in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.duration_seconds IS 'end minus start in seconds';
COMMENT ON COLUMN @extschema@.bi_run_timeline.slo IS 'the SLO whose deadline is the expected end (earliest deadline among the SLOs covering the job)';
COMMENT ON COLUMN @extschema@.bi_run_timeline.expected_end_utc IS 'the SLO deadline for the business date, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.expected_end_local IS 'the SLO deadline for the business date, in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.seconds_late IS 'end minus expected end in seconds (negative: early); an unfinished run past the expected end: now minus expected end; NULL for a missing run';
COMMENT ON COLUMN @extschema@.bi_run_timeline.is_late IS '1 when seconds_late > 0, or a missing run past its expected end; else 0';
COMMENT ON COLUMN @extschema@.bi_run_timeline.error_message IS 'error reported by the source';

CREATE VIEW @extschema@.bi_slo_daily AS
SELECT
	s.name AS slo,
	s.pipeline,
	ss.systems,
	y.business_date,
	s.time_zone AS slo_time_zone,
	y.deadline AT TIME ZONE 'UTC' AS deadline_utc,
	y.deadline AT TIME ZONE s.time_zone AS deadline_local,
	y.sla_end AT TIME ZONE 'UTC' AS sla_end_utc,
	y.sla_end AT TIME ZONE s.time_zone AS sla_end_local,
	y.completed_at AT TIME ZONE 'UTC' AS completed_at_utc,
	y.completed_at AT TIME ZONE s.time_zone AS completed_at_local,
	y.slo_status,
	y.sla_status,
	CASE WHEN y.slo_status = 'met' THEN 1 ELSE 0 END AS slo_met,
	CASE WHEN y.sla_status = 'met' THEN 1 ELSE 0 END AS sla_met,
	CASE WHEN y.slo_status IN ('met', 'missed') AND y.sla_status IN ('met', 'missed') THEN 1 ELSE 0 END AS is_final,
	round(y.lateness_seconds::numeric, 3)::numeric(14,3) AS lateness_seconds,
	y.runs,
	y.done,
	y.running,
	y.failures,
	y.retries,
	y.missing,
	j.name AS critical_job,
	cs.name AS critical_job_system,
	y.evaluated_at AT TIME ZONE 'UTC' AS evaluated_at_utc,
	y.checks_failed
FROM @extschema@.slo_day y
JOIN @extschema@.slo s ON s.slo_id = y.slo_id
LEFT JOIN @extschema@.slo_systems ss ON ss.slo_id = y.slo_id
LEFT JOIN @extschema@.job j ON j.job_id = y.critical_job_id
LEFT JOIN @extschema@.system cs ON cs.system_id = j.system_id;
COMMENT ON VIEW @extschema@.bi_slo_daily IS 'One row per SLO and business date: deadline, completion, SLO and SLA verdicts, lateness, failures, missing runs, critical job';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo IS 'SLO name';
COMMENT ON COLUMN @extschema@.bi_slo_daily.pipeline IS 'the SLO''s pipeline';
COMMENT ON COLUMN @extschema@.bi_slo_daily.systems IS 'systems of the jobs in scope (display names)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.business_date IS 'the business date judged';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo_time_zone IS 'IANA zone of the _local columns (the SLO''s)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.deadline_utc IS 'SLO deadline, UTC';
COMMENT ON COLUMN @extschema@.bi_slo_daily.deadline_local IS 'SLO deadline, wall-clock time in slo_time_zone';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_end_utc IS 'end of the SLA window, UTC';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_end_local IS 'end of the SLA window, in slo_time_zone';
COMMENT ON COLUMN @extschema@.bi_slo_daily.completed_at_utc IS 'when the last required job reached its final success, UTC; NULL until complete';
COMMENT ON COLUMN @extschema@.bi_slo_daily.completed_at_local IS 'the same in slo_time_zone';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo_status IS 'met, missed, pending or no_data';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_status IS 'met, missed, pending or no_data';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo_met IS '1 when the SLO was met, else 0';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_met IS '1 when the SLA was met, else 0';
COMMENT ON COLUMN @extschema@.bi_slo_daily.is_final IS '1 when neither verdict can change any more by the clock (late data can still change it)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.lateness_seconds IS 'completion minus deadline in seconds (negative: early); incomplete past the deadline: how late at evaluation';
COMMENT ON COLUMN @extschema@.bi_slo_daily.runs IS 'current attempts of required runs';
COMMENT ON COLUMN @extschema@.bi_slo_daily.done IS 'of those, succeeded or skipped';
COMMENT ON COLUMN @extschema@.bi_slo_daily.running IS 'of those, not finished';
COMMENT ON COLUMN @extschema@.bi_slo_daily.failures IS 'attempts that failed (recovered or not)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.retries IS 'attempts superseded by a retry';
COMMENT ON COLUMN @extschema@.bi_slo_daily.missing IS 'expected runs that never started';
COMMENT ON COLUMN @extschema@.bi_slo_daily.critical_job IS 'complete day: the job that finished last; incomplete day: a job not done yet (running, failed or missing)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.critical_job_system IS 'its system';
COMMENT ON COLUMN @extschema@.bi_slo_daily.evaluated_at_utc IS 'when the verdict was computed, UTC';
COMMENT ON COLUMN @extschema@.bi_slo_daily.checks_failed IS 'critical data-quality checks of the SLO''s datasets that failed for the date (kant.set_slo_datasets: such a day is missed, on time or not); 0 without datasets';

CREATE VIEW @extschema@.bi_slo_attainment AS
WITH periods AS (
	SELECT s.slo_id, p.period, p.since, p.until
	FROM @extschema@.slo s
	CROSS JOIN LATERAL (SELECT (pg_catalog.now() AT TIME ZONE s.time_zone)::date AS today) t
	CROSS JOIN LATERAL (VALUES
		('last_7_days', t.today - 6, t.today),
		('last_28_days', t.today - 27, t.today),
		('last_90_days', t.today - 89, t.today),
		('window', t.today - s.window_days + 1, t.today)) AS p(period, since, until)
	UNION ALL
	SELECT DISTINCT y.slo_id, 'month',
		date_trunc('month', y.business_date::timestamp)::date,
		(date_trunc('month', y.business_date::timestamp) + interval '1 month - 1 day')::date
	FROM @extschema@.slo_day y
), counts AS (
	SELECT p.slo_id, p.period, p.since, p.until,
		count(y.*) FILTER (WHERE y.slo_status IN ('met', 'missed'))::integer AS slo_eval,
		count(y.*) FILTER (WHERE y.slo_status = 'met')::integer AS slo_met,
		count(y.*) FILTER (WHERE y.sla_status IN ('met', 'missed'))::integer AS sla_eval,
		count(y.*) FILTER (WHERE y.sla_status = 'met')::integer AS sla_met,
		count(y.*) FILTER (WHERE y.slo_status = 'pending' OR y.sla_status = 'pending')::integer AS pending,
		count(y.*) FILTER (WHERE y.slo_status = 'no_data')::integer AS no_data
	FROM periods p
	LEFT JOIN @extschema@.slo_day y
		ON y.slo_id = p.slo_id AND y.business_date BETWEEN p.since AND p.until
	GROUP BY p.slo_id, p.period, p.since, p.until
)
SELECT
	s.name AS slo,
	ss.systems,
	c.period,
	c.since AS period_start,
	c.until AS period_end,
	c.slo_eval AS slo_days_evaluated,
	c.slo_met AS slo_days_met,
	c.slo_eval - c.slo_met AS slo_days_missed,
	round(100.0 * c.slo_met / NULLIF(c.slo_eval, 0), 2)::numeric(5,2) AS slo_met_pct,
	c.sla_eval AS sla_days_evaluated,
	c.sla_met AS sla_days_met,
	c.sla_eval - c.sla_met AS sla_days_missed,
	round(100.0 * c.sla_met / NULLIF(c.sla_eval, 0), 2)::numeric(5,2) AS sla_met_pct,
	round(100 * s.objective, 2)::numeric(5,2) AS objective_pct,
	floor((1 - s.objective) * c.slo_eval)::integer AS error_budget_days,
	c.slo_eval - c.slo_met AS slo_budget_used_days,
	floor((1 - s.objective) * c.slo_eval)::integer - (c.slo_eval - c.slo_met) AS slo_budget_remaining_days,
	c.sla_eval - c.sla_met AS sla_budget_used_days,
	floor((1 - s.objective) * c.sla_eval)::integer - (c.sla_eval - c.sla_met) AS sla_budget_remaining_days,
	c.pending AS pending_days,
	c.no_data AS no_data_days,
	(SELECT count(*)::integer FROM @extschema@.slo_day y
	 WHERE y.slo_id = c.slo_id AND y.business_date <= c.until AND y.slo_status = 'met'
	   AND y.business_date > coalesce((SELECT max(z.business_date) FROM @extschema@.slo_day z
									   WHERE z.slo_id = c.slo_id AND z.business_date <= c.until
										 AND z.slo_status = 'missed'), '-infinity')) AS streak_days
FROM counts c
JOIN @extschema@.slo s ON s.slo_id = c.slo_id
LEFT JOIN @extschema@.slo_systems ss ON ss.slo_id = c.slo_id;
COMMENT ON VIEW @extschema@.bi_slo_attainment IS
	'Per SLO: attainment of SLO and SLA over the last 7, 28 and 90 days, its own window, and each calendar month; error budget in days and what is left of it';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo IS 'SLO name';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.systems IS 'systems of the jobs in scope (e.g. HEGEL)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.period IS 'last_7_days, last_28_days, last_90_days, window (the SLO''s own) or month';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.period_start IS 'first business date of the period';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.period_end IS 'last business date of the period (today in the SLO''s zone for rolling periods)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_days_evaluated IS 'days with a final SLO verdict (met or missed)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_days_met IS 'days the SLO was met';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_days_missed IS 'days the SLO was missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_met_pct IS '100 x met / evaluated';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_days_evaluated IS 'days with a final SLA verdict';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_days_met IS 'days the SLA was met (recovered the same day)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_days_missed IS 'days the SLA was missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_met_pct IS '100 x SLA met / evaluated';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.objective_pct IS 'the objective in percent';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.error_budget_days IS 'floor((1 - objective) x days evaluated)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_budget_used_days IS 'SLO days missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_budget_remaining_days IS 'error budget minus SLO days missed (negative: overspent)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_budget_used_days IS 'SLA days missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_budget_remaining_days IS 'error budget minus SLA days missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.pending_days IS 'days whose verdict is not final yet';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.no_data_days IS 'days with no run and no expected run';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.streak_days IS 'SLO met days since the last missed day, up to period_end';

---------------------------------------------------------------------------
-- Durations: "today" is a date in the system's zone, never the session's
---------------------------------------------------------------------------

-- "Today" is a date in a zone: the system's, never the session's (pgjdbc sets
-- the session's TimeZone to the JVM's, so two Tableau users saw two numbers).
CREATE VIEW @extschema@.bi_job_duration AS
SELECT
	sy.name AS system,
	coalesce(sy.display_name, sy.name) AS system_display_name,
	j.pipeline,
	j.name AS job,
	count(*)::integer AS runs_28d,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds)::numeric, 3)::numeric(14,3) AS p50_seconds,
	round(percentile_cont(0.9) WITHIN GROUP (ORDER BY d.seconds)::numeric, 3)::numeric(14,3) AS p90_seconds,
	round(max(d.seconds)::numeric, 3)::numeric(14,3) AS max_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 0))::numeric, 3)::numeric(14,3) AS p50_week_0_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 1))::numeric, 3)::numeric(14,3) AS p50_week_1_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 2))::numeric, 3)::numeric(14,3) AS p50_week_2_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 3))::numeric, 3)::numeric(14,3) AS p50_week_3_seconds,
	round((-regr_slope(d.seconds, d.days_ago) * 7)::numeric, 3)::numeric(14,3) AS trend_seconds_per_week
FROM @extschema@.job_run r
JOIN @extschema@.job j ON j.job_id = r.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
CROSS JOIN LATERAL (SELECT (pg_catalog.now() AT TIME ZONE sy.time_zone)::date AS today) t
CROSS JOIN LATERAL (
	SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS seconds,
		   (t.today - r.business_date) AS days_ago,
		   (t.today - r.business_date) / 7 AS week) d
WHERE r.state OPERATOR(@extschema@.=) 'succeeded' AND r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
  AND r.business_date > t.today - 28
GROUP BY sy.name, sy.display_name, j.pipeline, j.name;
COMMENT ON VIEW @extschema@.bi_job_duration IS
	'Per job over the last 28 business dates (counted back from today in the system''s zone): p50/p90/max duration of successful attempts, the weekly median and its trend; which job to parallelise or reschedule first';
COMMENT ON COLUMN @extschema@.bi_job_duration.system IS 'system name';
COMMENT ON COLUMN @extschema@.bi_job_duration.system_display_name IS 'system display name';
COMMENT ON COLUMN @extschema@.bi_job_duration.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.bi_job_duration.job IS 'job name';
COMMENT ON COLUMN @extschema@.bi_job_duration.runs_28d IS 'successful attempts in the last 28 business dates';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_seconds IS 'median duration in seconds';
COMMENT ON COLUMN @extschema@.bi_job_duration.p90_seconds IS '90th percentile duration in seconds';
COMMENT ON COLUMN @extschema@.bi_job_duration.max_seconds IS 'longest duration in seconds';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_0_seconds IS 'median duration over the last 7 business dates';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_1_seconds IS 'median duration 8 to 14 days ago';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_2_seconds IS 'median duration 15 to 21 days ago';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_3_seconds IS 'median duration 22 to 28 days ago';
COMMENT ON COLUMN @extschema@.bi_job_duration.trend_seconds_per_week IS 'least-squares change of duration per week (positive: getting slower)';

CREATE VIEW @extschema@.bi_data_dictionary AS
SELECT
	c.relname::text AS view_name,
	pg_catalog.obj_description(c.oid, 'pg_class') AS view_description,
	a.attnum::integer AS column_position,
	a.attname::text AS column_name,
	pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
	pg_catalog.col_description(c.oid, a.attnum) AS column_description
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = '@extschema@'::regnamespace AND c.relkind = 'v'
  AND c.relname LIKE 'bi\_%';
COMMENT ON VIEW @extschema@.bi_data_dictionary IS
	'Every column of kant''s BI views with its type and description (for clients such as psqlODBC that do not show comments)';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.view_name IS 'the view';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.view_description IS 'what the view holds';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.column_position IS 'position of the column, from 1';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.column_name IS 'the column';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.data_type IS 'its SQL type';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.column_description IS 'what it means';

CREATE VIEW @extschema@.bi_alert_daily AS
SELECT coalesce(a.business_date, (a.opened_at AT TIME ZONE 'UTC')::date) AS day,
	a.kind,
	a.severity,
	coalesce(sy.name, (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_array_elements_text(a.detail->'systems') x), '') AS system,
	coalesce(s.name, '') AS slo,
	count(*)::bigint AS alerts,
	count(*) FILTER (WHERE a.status = 'resolved')::bigint AS resolved,
	count(*) FILTER (WHERE a.notifications > 0)::bigint AS notified,
	count(*) FILTER (WHERE a.folded_into IS NOT NULL OR a.silence_id IS NOT NULL)::bigint AS folded_or_silenced,
	coalesce(sum(a.notifications), 0)::bigint AS messages,
	(avg(extract(epoch FROM a.resolved_at - a.opened_at)) / 60)::double precision AS mean_minutes_open
FROM @extschema@.alert a
LEFT JOIN @extschema@.system sy ON sy.system_id = a.system_id
LEFT JOIN @extschema@.slo s ON s.slo_id = a.slo_id
GROUP BY 1, 2, 3, 4, 5;
COMMENT ON VIEW @extschema@.bi_alert_daily IS
	'Alerts per day and kind (for Tableau): how many, resolved, notified, folded or silenced, messages sent and mean time open';
COMMENT ON COLUMN @extschema@.bi_alert_daily.day IS 'the business date of the alert (the UTC day it opened for a stale collector)';
COMMENT ON COLUMN @extschema@.bi_alert_daily.kind IS 'failure, late, missing, predicted, stuck, stale or data_quality';
COMMENT ON COLUMN @extschema@.bi_alert_daily.severity IS 'critical or warning';
COMMENT ON COLUMN @extschema@.bi_alert_daily.system IS 'system (for SLO alerts, the systems of its jobs)';
COMMENT ON COLUMN @extschema@.bi_alert_daily.slo IS 'SLO (late and predicted), else empty';
COMMENT ON COLUMN @extschema@.bi_alert_daily.alerts IS 'alerts opened';
COMMENT ON COLUMN @extschema@.bi_alert_daily.resolved IS 'of those, resolved';
COMMENT ON COLUMN @extschema@.bi_alert_daily.notified IS 'of those, sent at least once';
COMMENT ON COLUMN @extschema@.bi_alert_daily.folded_or_silenced IS 'of those, folded under an upstream alert or silenced (as last open): never sent on their own';
COMMENT ON COLUMN @extschema@.bi_alert_daily.messages IS 'messages queued about them (opened, reminders, resolved)';
COMMENT ON COLUMN @extschema@.bi_alert_daily.mean_minutes_open IS 'mean minutes from open to resolved, of the resolved ones';
