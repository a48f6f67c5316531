-- Tableau custom SQL: "Timeline vs 06:00" dashboard.
-- One bar per job attempt from started_at_local to ended_at_local (a Gantt
-- bar: start on Columns, duration_seconds / 86400 as the size), coloured by
-- state; a reference line at expected_end_local; missing runs appear as rows
-- with state 'missing' at scheduled_at_local.  Local columns are wall-clock
-- time in system_time_zone (naive TIMESTAMP: Tableau shows them as they are).
SELECT
    system_display_name,
    pipeline,
    job,
    business_date,
    attempt,
    is_current,
    state,
    coalesce(started_at_local, scheduled_at_local) AS bar_start_local,
    coalesce(duration_seconds, 0) AS duration_seconds,
    ended_at_local,
    expected_end_local,
    seconds_late,
    is_late,
    slo,
    system_time_zone,
    error_message
FROM kant.bi_run_timeline
WHERE business_date >= CURRENT_DATE - 30      -- index-driven: keep a date filter
