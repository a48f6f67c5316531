-- Tableau custom SQL: "SLO / SLA attainment" dashboard, part 1: the per-day
-- strip.  One mark per SLO and business date: colour by day_class, label with
-- lateness_minutes; filter on is_final = 1 to hide days still in progress.
SELECT
    slo,
    systems,
    business_date,
    slo_status,
    sla_status,
    CASE WHEN slo_status = 'met' THEN 'met'
         WHEN slo_status = 'missed' AND sla_status = 'met' THEN 'late, recovered same day'
         WHEN slo_status = 'missed' THEN 'missed'
         WHEN slo_status = 'pending' THEN 'in progress'
         ELSE 'no data' END AS day_class,
    slo_met,
    sla_met,
    is_final,
    deadline_local,
    completed_at_local,
    round(lateness_seconds / 60, 1) AS lateness_minutes,
    failures,
    retries,
    missing,
    critical_job,
    slo_time_zone
FROM kant.bi_slo_daily
WHERE business_date >= CURRENT_DATE - 365
