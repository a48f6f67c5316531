-- Data quality over the simulated month (run by `make demo` with psql variables
-- start and last, the month's first and last business dates): HEGEL exports
-- the RDS users table, SOCRATES loads it into BigQuery; each night both count
-- the rows they hold and BigQuery its duplicate keys (kant.report_metric, as a
-- Glue job or a Composer task would report them).  Three nights go wrong:
-- day 18 BigQuery holds 2% fewer rows than RDS, day 12 it holds 42 duplicated
-- keys, day 29 the export itself is half its usual size on both sides.
\pset footer off
\pset null ''
SET client_min_messages = warning;

SELECT kant.add_dataset('rds.users', 'Asia/Tokyo', 'HEGEL: the RDS users table, exported by Glue') > 0 AS rds,
       kant.add_dataset('bq.users', 'Asia/Tokyo', 'SOCRATES: users in BigQuery, loaded by Composer') > 0 AS bq;
SELECT count(*) AS nights_measured FROM (
  -- measured the morning after, 04:10 and 09:40 in Tokyo (the last night: not after now)
  SELECT kant.report_metric('rds.users', d, 'row_count', n,
                            measured_at => least(now(), ((d + 1) + time '04:10') AT TIME ZONE 'Asia/Tokyo')),
         kant.report_metric('bq.users', d, 'row_count', CASE WHEN i = 17 THEN round(n * 0.98) ELSE n END,
                            measured_at => least(now(), ((d + 1) + time '09:40') AT TIME ZONE 'Asia/Tokyo')),
         kant.report_metric('bq.users', d, 'duplicate_keys', CASE WHEN i = 11 THEN 42 ELSE 0 END,
                            measured_at => least(now(), ((d + 1) + time '09:40') AT TIME ZONE 'Asia/Tokyo'))
  FROM generate_series(0, :'last'::date - :'start'::date) i
  CROSS JOIN LATERAL (SELECT :'start'::date + i AS d) x
  -- about 120,000 users, fewer at weekends; day 29 half of it
  CROSS JOIN LATERAL (SELECT round((CASE WHEN extract(isodow FROM d) IN (6, 7) THEN 118000 ELSE 121000 END + (i * 37) % 500)
                                   * CASE WHEN i = 28 THEN 0.5 ELSE 1 END) AS n) y) m;

SELECT kant.check_reconciliation('users arrived in BigQuery', 'bq.users', 'rds.users', tolerance_ratio => 0.001) > 0 AS reconciled,
       kant.check_threshold('users unique in BigQuery', 'bq.users', 'duplicate_keys', '=', 0) > 0 AS unique_keys,
       kant.check_volume('users export volume', 'rds.users', history_weeks => 4) > 0 AS volume;

\echo '== Data-quality verdicts over the month that did not pass (kant.evaluate_checks, kept in kant.dq_result)'
SELECT check_name, business_date, status, observed, expected, detail
FROM kant.evaluate_checks(:'start', :'last') WHERE status <> 'pass' ORDER BY business_date, check_name;

\echo '== Source against target for Tableau (kant.bi_dq_reconciliation), the nights around the short one'
SELECT business_date, source_value AS rds, target_value AS bigquery, difference, difference_pct, status
FROM kant.bi_dq_reconciliation
WHERE business_date BETWEEN :'start'::date + 16 AND :'start'::date + 18 ORDER BY business_date;

\echo '== A gate on the data: the marts may be built once the users in BigQuery are all there and unique'
SELECT kant.create_gate('marts_ready', pipeline => 'socrates_daily') > 0 AS gate,
       kant.set_gate_datasets('marts_ready', ARRAY['bq.users']) AS datasets;
SELECT d AS business_date, kant.kant_gate_ready('marts_ready', d) AS ready
FROM (VALUES (:'start'::date + 16), (:'start'::date + 17)) v(d);
SELECT job AS check_name, state, detail FROM kant.gate_status('marts_ready', :'start'::date + 17) WHERE state LIKE 'dq\_%';

\echo '== Alerts: kant.run_checks, as pg_cron runs it, on the mornings after the three bad nights (10:00 Tokyo)'
\echo '   a failed critical check is a critical alert, the half-size export (a warning check) a warning'
SELECT business_date, r.opened
FROM (VALUES (:'start'::date + 11), (:'start'::date + 17), (:'start'::date + 28)) v(business_date),
     LATERAL kant.run_checks(((business_date + 1) + time '10:00') AT TIME ZONE 'Asia/Tokyo') r;
SELECT business_date, severity, status, coalesce(resolution, '') AS resolution, summary
FROM kant.alert WHERE kind = 'data_quality' ORDER BY business_date;
