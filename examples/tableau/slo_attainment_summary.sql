-- Tableau custom SQL: "SLO / SLA attainment" dashboard, part 2: the headline
-- numbers.  One row per SLO and period (last_7_days, last_28_days,
-- last_90_days, window, and one per calendar month); show slo_met_pct against
-- objective_pct and the error budget left (negative: overspent).
SELECT
    slo,
    systems,
    period,
    period_start,
    period_end,
    slo_days_evaluated,
    slo_days_met,
    slo_met_pct,
    sla_days_met,
    sla_met_pct,
    objective_pct,
    error_budget_days,
    slo_budget_used_days,
    slo_budget_remaining_days,
    streak_days
FROM kant.bi_slo_attainment
