-- Data quality (issue 15, first part): datasets, metrics per business date,
-- threshold / freshness / reconciliation / volume checks, their verdicts kept
-- as history.  Fixed dates; the session's zone and DateStyle are changed on
-- purpose and change nothing.
SET client_min_messages = warning;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'America/Los_Angeles';

SELECT kant.add_dataset('rds.users', 'Asia/Tokyo', 'HEGEL''s RDS users table') AS rds,
       kant.add_dataset('bq.users', 'Asia/Tokyo', 'users in BigQuery, loaded by SOCRATES') AS bq;

-- 1. Metrics: the newest measurement wins, whatever order they arrive in; the
-- same one again changes nothing.
SELECT kant.report_metric('rds.users', '2024-11-20', 'row_count', 10000, measured_at => '2024-11-21T01:00:00Z') AS first,
       kant.report_metric('rds.users', '2024-11-20', 'row_count', 10000, measured_at => '2024-11-21T01:00:00Z') AS again,
       kant.report_metric('rds.users', '2024-11-20', 'row_count', 9990, measured_at => '2024-11-21T00:00:00Z') AS older,
       kant.report_metric('rds.users', '2024-11-20', 'row_count', 10002, measured_at => '2024-11-21T01:30:00Z') AS newer;
SELECT value, to_char(measured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS measured_utc, source
FROM kant.dq_metric WHERE metric = 'row_count';

-- an unknown dataset is registered by its first metric (UTC)
SELECT kant.report_metric('s3.users', '2024-11-20', 'bytes', 123456, measured_at => '2024-11-21T00:30:00Z');
SELECT name, time_zone, auto_registered FROM kant.dataset ORDER BY dataset_id;

-- bad input: SQLSTATE, the field named, nothing stored
\set VERBOSITY default
SELECT kant.report_metric('bq users', '2024-11-20', 'row_count', 1);
SELECT kant.report_metric('bq.users', '2024-11-20', 'Row Count', 1);
SELECT kant.report_metric('bq.users', '2024-11-20', 'row_count');
SELECT kant.report_metric('bq.users', '2024-11-20', 'row_count', 1e40);
SELECT kant.report_metric('bq.users', NULL, 'row_count', 1);
SELECT kant.add_dataset('gcs.users', '+09:00');

-- 2. A batch: good records land, bad ones are quarantined with their field and reason.
-- (terse: the warnings' detail names the batch, whose id depends on the tests before)
\set VERBOSITY terse
SELECT received, inserted, updated, unchanged, rejected FROM kant.report_metrics($$[
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "row_count", "value": 9800, "measured_at": "2024-11-21T02:00:00Z"},
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "duplicate_keys", "value": 3, "measured_at": "2024-11-21T02:00:00Z"},
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "null_count:email", "value": 5, "measured_at": "2024-11-21T02:00:00Z"},
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "max_timestamp", "value_at": "2024-11-20T23:30:00+09:00", "measured_at": "2024-11-21T02:00:00Z"},
  {"dataset": "bq.users", "business_date": "2024-13-01", "metric": "bytes", "value": 1},
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "bytes", "value": "12"},
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "bytes", "value": 1, "value_at": "2024-11-20T00:00:00Z"},
  {"dataset": "bq.users", "business_date": "2024-11-20", "metric": "max_timestamp", "value_at": "2024-11-20 23:30"},
  "row_count=5"
]$$);
SELECT item_index, field, sqlstate, reason FROM kant.rejected WHERE source = 'metrics' ORDER BY item_index;
\set VERBOSITY default
SELECT kant.report_metrics('{"rows": []}');

-- 3. Checks.
SELECT kant.check_threshold('bq users not empty', 'bq.users', 'row_count', '>', 0) > 0 AS not_empty,
       kant.check_threshold('bq users unique', 'bq.users', 'duplicate_keys', '=', 0) > 0 AS unique_keys,
       kant.check_threshold('bq email mostly set', 'bq.users', 'null_count:email', '<=', 0.001, per_row => true) > 0 AS nulls,
       kant.check_reconciliation('users arrived', 'bq.users', 'rds.users', tolerance_ratio => 0.001) > 0 AS reconciled,
       kant.check_freshness('bq users fresh', 'bq.users', '2 hours') > 0 AS fresh,
       kant.check_volume('bq users volume', 'bq.users') > 0 AS volume,
       kant.check_threshold('bq phone mostly set', 'bq.users', 'null_count:phone', '<=', 0.01, per_row => true,
                            severity => 'warning') > 0 AS phone;
SELECT kant.check_threshold('x', 'no.such', 'row_count', '>', 0);
SELECT kant.check_threshold('x', 'bq.users', 'row_count', '=>', 0);
SELECT kant.check_reconciliation('x', 'bq.users', 'bq.users');
SELECT kant.check_volume('x', 'bq.users', history_weeks => 1);
SELECT kant.check_freshness('x', 'bq.users', NULL);

-- the verdicts for 2024-11-20: a 2% shortfall against RDS fails the
-- reconciliation and names both sides; 3 duplicate keys fail; the newest row
-- at 23:30 JST is 30 min before the date ends in Tokyo; the phone metric is
-- not there yet (pending); the volume has no history yet (not judged)
SELECT check_name, status, observed, expected, detail, changed
FROM kant.evaluate_checks('2024-11-20', '2024-11-20', '2024-11-21T03:00:00Z');

-- evaluated again with nothing new: no new verdict; a newer measurement: one
SELECT count(*) FILTER (WHERE changed) AS changed FROM kant.evaluate_checks('2024-11-20', '2024-11-20', '2024-11-21T04:00:00Z');
SELECT kant.report_metric('bq.users', '2024-11-20', 'row_count', 10001, measured_at => '2024-11-21T05:00:00Z');
SELECT kant.report_metric('bq.users', '2024-11-20', 'null_count:phone', 0, measured_at => '2024-11-21T05:00:00Z');
SELECT check_name, status, observed, expected, changed
FROM kant.evaluate_checks('2024-11-20', '2024-11-20', '2024-11-21T06:00:00Z') WHERE changed;
SELECT c.name, count(*) AS verdicts, string_agg(r.status, ' -> ' ORDER BY r.evaluated_at) AS history
FROM kant.dq_result r JOIN kant.dq_check c USING (check_id) GROUP BY c.name ORDER BY c.name;

-- a share of zero rows cannot be judged
SELECT kant.report_metric('bq.users', '2024-11-21', 'row_count', 0, measured_at => '2024-11-22T02:00:00Z');
SELECT kant.report_metric('bq.users', '2024-11-21', 'null_count:email', 2, measured_at => '2024-11-22T02:00:00Z');
SELECT check_name, status, detail FROM kant.evaluate_checks('2024-11-21', '2024-11-21', '2024-11-22T03:00:00Z')
WHERE check_name = 'bq email mostly set';

-- 4. Volume: eight Wednesdays of history around 10,000 rows, one of them an
-- outlier (a backfill of 40,000) that the median and MAD shrug off; a
-- Wednesday with half the rows is an anomaly, one within the usual spread is not.
SELECT count(*) FROM (
  SELECT kant.report_metric('bq.users', d, 'row_count', v, measured_at => d + interval '1 day 2 hours')
  FROM (VALUES ('2024-09-25'::date, 10050), ('2024-10-02', 9900), ('2024-10-09', 10100), ('2024-10-16', 40000),
               ('2024-10-23', 9950), ('2024-10-30', 10000), ('2024-11-06', 10080), ('2024-11-13', 9920)) h(d, v)) x;
SELECT kant.report_metric('bq.users', '2024-11-27', 'row_count', 5000, measured_at => '2024-11-28T02:00:00Z');
SELECT kant.report_metric('bq.users', '2024-12-04', 'row_count', 10120, measured_at => '2024-12-05T02:00:00Z');
SELECT business_date, status, observed, expected, detail
FROM kant.evaluate_checks('2024-11-20', '2024-12-04', '2024-12-05T03:00:00Z')
WHERE check_name = 'bq users volume' AND business_date IN ('2024-11-20', '2024-11-27', '2024-12-04');

-- 5. The same verdicts whatever the session's zone and DateStyle
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'German, DMY';
SELECT count(*) AS differ FROM (
  SELECT check_name, business_date, status, observed, expected, detail
  FROM kant.evaluate_checks('2024-11-20', '2024-12-04', '2024-12-05T03:00:00Z')
  EXCEPT
  SELECT s.check_name, s.business_date, s.status, s.observed, s.expected, s.detail FROM kant.dq_status s) x;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'America/Los_Angeles';

-- 6. kant.dq_status: the latest verdict per check and date
SELECT check_name, kind, severity, dataset, source_dataset, business_date, status
FROM kant.dq_status WHERE business_date = '2024-11-20' ORDER BY check_name;

-- a check replaced by name keeps its id; dropped, its results go with it
SELECT kant.check_threshold('bq users not empty', 'bq.users', 'row_count', '>=', 100) AS same_id;
SELECT kant.drop_check('bq users not empty') AS dropped, kant.drop_check('bq users not empty') AS again;
SELECT count(*) FROM kant.dq_status WHERE check_name = 'bq users not empty';

-- 7. For Tableau: the verdicts, and both sides of each reconciliation
SELECT check_name, dataset, business_date, status, passed, failed, observed, expected
FROM kant.bi_dq_daily WHERE business_date = '2024-11-20' ORDER BY check_name;
SELECT check_name, target_dataset, source_dataset, business_date, target_value, source_value, difference,
       difference_pct, status
FROM kant.bi_dq_reconciliation ORDER BY business_date;
SELECT view_name, count(*) AS columns, count(column_description) AS described
FROM kant.bi_data_dictionary WHERE view_name LIKE 'bi\_dq\_%' GROUP BY view_name ORDER BY view_name;

-- 8. A gate that requires its datasets' critical checks: the jobs done is not
-- enough when BigQuery holds 2% fewer rows than RDS (5000 of 5100); a warning check
-- (the volume one warns: 5100 is half the usual Wednesday) never holds it
SELECT kant.add_system('dq_socrates', 'airflow', 'Asia/Tokyo') > 0 AS socrates;
SELECT kant.configure_job('dq_socrates', 'load_users', pipeline => 'users_daily') > 0 AS configured;
SELECT kant.report_run('dq_socrates', 'load_users', 'manual__2024-11-27', 'success', business_date => '2024-11-27',
       started_at => '2024-11-27T20:00:00Z', ended_at => '2024-11-27T20:30:00Z') IS NOT NULL AS reported;
SELECT kant.create_gate('users_ready', pipeline => 'users_daily') > 0 AS gate;
SELECT kant.kant_gate_ready('users_ready', '2024-11-27') AS ready_without_checks;
SELECT kant.set_gate_datasets('users_ready', ARRAY['bq.users']) AS datasets;
SELECT kant.report_metric('rds.users', '2024-11-27', 'row_count', 5100, measured_at => '2024-11-28T01:00:00Z');
SELECT kant.kant_gate_ready('users_ready', '2024-11-27') AS ready_short_by_2pct;
SELECT job, state, detail FROM kant.gate_status('users_ready', '2024-11-27') ORDER BY state, job;
SELECT kant.report_metric('bq.users', '2024-11-27', 'row_count', 5100, measured_at => '2024-11-28T03:00:00Z');
SELECT kant.report_metric('bq.users', '2024-11-27', 'duplicate_keys', 0, measured_at => '2024-11-28T03:00:00Z');
SELECT kant.report_metric('bq.users', '2024-11-27', 'null_count:email', 0, measured_at => '2024-11-28T03:00:00Z');
SELECT kant.report_metric('bq.users', '2024-11-27', 'max_timestamp', value_at => '2024-11-27T14:00:00Z', measured_at => '2024-11-28T03:00:00Z');
SELECT job, state FROM kant.gate_status('users_ready', '2024-11-27') WHERE state LIKE 'dq\_%' ORDER BY job;
SELECT kant.kant_gate_ready('users_ready', '2024-11-27') AS ready_when_right;
SELECT kant.set_gate_datasets('users_ready', ARRAY['no.such']);

-- 9. Alerts: kant.run_checks keeps the window's verdicts and raises a
-- data_quality alert for each check that fails (a warning check: a warning);
-- the alert resolves when the check passes
SELECT kant.report_metric('bq.users', '2024-11-27', 'duplicate_keys', 7, measured_at => '2024-11-28T04:00:00Z');
SELECT opened, resolved FROM kant.run_checks('2024-11-28T05:00:00Z');
SELECT alert_key ~ '^data_quality/check:[0-9]+/2024-11-27$' AS keyed, severity, status, summary
FROM kant.alert WHERE kind = 'data_quality' ORDER BY summary;
SELECT kant.report_metric('bq.users', '2024-11-27', 'duplicate_keys', 0, measured_at => '2024-11-28T06:00:00Z');
SELECT opened, resolved FROM kant.run_checks('2024-11-28T07:00:00Z');
SELECT severity, status, resolution IS NOT NULL AS resolution FROM kant.alert WHERE kind = 'data_quality' ORDER BY severity;
-- its Slack message names the check, the dataset and the numbers (no empty field)
SELECT m->'blocks'->0->'text'->>'text' AS header,
       (SELECT string_agg(f->>'text', ' | ') FROM jsonb_array_elements(m->'blocks'->1->'fields') f) AS fields,
       NOT jsonb_path_exists(m, '$.**.text ? (@ == null)') AS no_empty_text
FROM (SELECT kant._slack_message(a.alert_id, 'opened') AS m FROM kant.alert a
      WHERE a.kind = 'data_quality' AND a.severity = 'warning') x;

-- 10. What a breaker found (issue 15), each kept fixed:
-- a time that is not finite, or a value too small for Tableau's doubles, is refused
SELECT kant.report_metric('bq.users', '2024-11-20', 'max_timestamp', value_at => 'infinity');
SELECT kant.report_metric('bq.users', '2024-11-20', 'row_count', 5, measured_at => 'infinity');
SELECT kant.report_metric('bq.users', '2024-11-20', 'row_count', 1e-400);
-- an evaluation of the past sees only what was measured by then
SELECT kant.add_dataset('rds.orders', 'UTC') > 0 AS rds, kant.add_dataset('bq.orders', 'UTC') > 0 AS bq;
SELECT kant.check_reconciliation('orders arrived', 'bq.orders', 'rds.orders', pipeline => 'orders_daily') > 0 AS checked;
SELECT kant.report_metric('rds.orders', '2024-12-20', 'row_count', 100, measured_at => '2024-12-21T01:00:00Z');
SELECT kant.report_metric('bq.orders', '2024-12-20', 'row_count', 90, measured_at => '2024-12-21T06:00:00Z');
SELECT as_of, (SELECT status FROM kant.evaluate_checks('2024-12-20', '2024-12-20', as_of) WHERE check_name = 'orders arrived')
FROM (VALUES (timestamptz '2024-12-21T00:30:00Z'), ('2024-12-21T02:00:00Z'), ('2024-12-21T07:00:00Z')) v(as_of);
-- business dates are counted, not stepped through the session's zone (Samoa skipped 2011-12-30)
SET TimeZone = 'Pacific/Apia';
SELECT count(*) AS dates FROM kant.evaluate_checks('2011-12-28', '2012-01-01', '2012-01-02T00:00:00Z')
WHERE check_name = 'orders arrived';
SET TimeZone = 'America/Los_Angeles';
-- a date ends at the first of two midnights (Havana's clocks go back from 01:00 to 00:00)
SELECT kant.add_dataset('cu.events', 'America/Havana') > 0 AS havana;
SELECT kant.check_freshness('events fresh', 'cu.events', '1 hour') > 0 AS fresh;
SELECT kant.report_metric('cu.events', '2024-11-02', 'max_timestamp', value_at => '2024-11-03T03:30:00Z',
       measured_at => '2024-11-03T06:00:00Z');
SELECT status, detail FROM kant.evaluate_checks('2024-11-02', '2024-11-02', '2024-11-03T07:00:00Z')
WHERE check_name = 'events fresh';
-- a route by pipeline gets the check's alerts; dropping the check resolves it as dropped, not passed
SELECT kant.set_channel('orders-team', 'http://127.0.0.1:9/services/T0/B0/orders') IS NOT NULL AS channel;
SELECT kant.add_route('orders-team', pipeline => 'orders_daily') > 0 AS route;
SELECT opened >= 1 AS opened FROM kant.run_checks('2024-12-21T08:00:00Z');
SELECT n.channel, n.event, a.kind FROM kant.notification n JOIN kant.alert a USING (alert_id)
WHERE a.kind = 'data_quality' AND n.channel = 'orders-team';
SELECT kant.drop_check('orders arrived');
SELECT resolved >= 1 AS resolved FROM kant.run_checks('2024-12-21T09:00:00Z');
SELECT status, resolution FROM kant.alert WHERE kind = 'data_quality' AND detail->>'check' = 'orders arrived';

-- 11. An SLO "on time and right" (off by default): with datasets, a day whose
-- critical check failed is not met, even though every job was on time.
RESET TimeZone;
SELECT kant.add_system('shop', 'manual', 'Asia/Tokyo') > 0 AS shop;
SELECT (kant.report_run('shop', 'load_sales', 'ls-' || d, 'succeeded', d, 1,
        (d + 1)::timestamp AT TIME ZONE 'Asia/Tokyo' + interval '1 hour',
        (d + 1)::timestamp AT TIME ZONE 'Asia/Tokyo' + interval '2 hours')).inserted
FROM (VALUES (date '2025-02-03'), ('2025-02-04')) v(d);
SELECT kant.create_slo('sales_right', '06:00', time_zone => 'Asia/Tokyo', jobs => ARRAY['shop/load_sales'],
       evaluate_from => '2025-02-03') > 0 AS slo;
SELECT kant.add_dataset('bq.sales', 'Asia/Tokyo') > 0 AS ds;
SELECT kant.check_threshold('sales not empty', 'bq.sales', 'row_count', '>', 0) > 0 AS checked;
SELECT kant.report_metric('bq.sales', d, 'row_count', n, measured_at => '2025-02-05T00:00:00Z')
FROM (VALUES (date '2025-02-03', 500), ('2025-02-04', 0)) v(d, n);
SELECT count(*) AS verdicts FROM kant.evaluate_checks('2025-02-03', '2025-02-04', '2025-02-05T01:00:00Z')
WHERE check_name = 'sales not empty';
SELECT kant.refresh_slo('sales_right', '2025-02-03', '2025-02-04') AS days;
SELECT business_date, slo_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date <= '2025-02-04' ORDER BY 1;
SELECT kant.set_slo_datasets('sales_right', ARRAY['bq.sales']) AS datasets;
SELECT kant.refresh_slo() >= 2 AS refreshed;
SELECT business_date, slo_status, sla_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date <= '2025-02-04' ORDER BY 1;
-- the data is fixed: the verdict passes, the day is judged again and met
SELECT kant.report_metric('bq.sales', '2025-02-04', 'row_count', 480, measured_at => '2025-02-05T02:00:00Z');
SELECT count(*) FILTER (WHERE changed) AS changed FROM kant.evaluate_checks('2025-02-04', '2025-02-04', '2025-02-05T03:00:00Z')
WHERE check_name = 'sales not empty';
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT business_date, slo_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date <= '2025-02-04' ORDER BY 1;
SELECT kant.set_slo_datasets('sales_right', ARRAY['no.such']);
SELECT kant.set_slo_datasets('sales_right', '{}') AS off;

-- 12. What the reviews found: a metric kant names has its type; a measurement
-- from the future is refused; a replay does not rewrite history; an SLO's days
-- are judged again when a check's severity changes or it is dropped.
SELECT kant.report_metric('bq.sales', '2025-02-06', 'max_timestamp', 1);
SELECT kant.report_metric('bq.sales', '2025-02-06', 'row_count', value_at => '2025-02-06T10:00:00Z');
SELECT kant.report_metric('bq.sales', '2025-02-06', 'row_count', -5);
SELECT kant.report_metric('bq.sales', '2025-02-06', 'duplicate_keys', 2.5);
SELECT kant.report_metric('bq.sales', '2025-02-06', 'row_count', 1, measured_at => now() + interval '1 hour');
SELECT kant.report_metric('bq.sales', '2025-02-06', 'sales_amount', -12.5, measured_at => '2025-02-07T00:00:00Z') AS any_number;
-- a verdict kept in the future would stay the latest until then: refused
SELECT count(*) FROM kant.evaluate_checks('2025-02-06', '2025-02-06', now() + interval '1 day');
-- pass at 02:00, then a later measurement fails it at 06:00; a replay as of 03:00 keeps nothing
SELECT kant.add_dataset('bq.replay', 'UTC') > 0 AS ds;
SELECT kant.check_threshold('replay not empty', 'bq.replay', 'row_count', '>', 0) > 0 AS checked;
SELECT kant.report_metric('bq.replay', '2024-03-01', 'row_count', 100, measured_at => '2024-03-02T01:00:00Z');
SELECT status, changed FROM kant.evaluate_checks('2024-03-01', '2024-03-01', '2024-03-02T02:00:00Z') WHERE check_name = 'replay not empty';
SELECT kant.report_metric('bq.replay', '2024-03-01', 'row_count', 0, measured_at => '2024-03-02T05:00:00Z');
SELECT status, changed FROM kant.evaluate_checks('2024-03-01', '2024-03-01', '2024-03-02T06:00:00Z') WHERE check_name = 'replay not empty';
SELECT status, changed FROM kant.evaluate_checks('2024-03-01', '2024-03-01', '2024-03-02T03:00:00Z') WHERE check_name = 'replay not empty';
SELECT to_char(evaluated_at AT TIME ZONE 'UTC', 'HH24:MI') AS at, status FROM kant.dq_result r
JOIN kant.dq_check c USING (check_id) WHERE c.name = 'replay not empty' ORDER BY evaluated_at;
-- the SLO on time and right: a failing day, then the check made a warning: met again
SELECT kant.set_slo_datasets('sales_right', ARRAY['bq.sales']) AS datasets;
SELECT kant.report_metric('bq.sales', '2025-02-04', 'row_count', 0, measured_at => '2025-02-05T04:00:00Z');
SELECT count(*) AS verdicts FROM kant.evaluate_checks('2025-02-04', '2025-02-04', '2025-02-05T05:00:00Z')
WHERE check_name = 'sales not empty';
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT business_date, slo_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date = '2025-02-04';
SELECT kant.check_threshold('sales not empty', 'bq.sales', 'row_count', '>', 0, severity => 'warning') > 0 AS warning;
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT business_date, slo_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date = '2025-02-04';
SELECT kant.check_threshold('sales not empty', 'bq.sales', 'row_count', '>', 0) > 0 AS critical;
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT slo_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date = '2025-02-04';
SELECT kant.drop_check('sales not empty');
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT slo_status, checks_failed FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'sales_right' AND business_date = '2025-02-04';
SELECT kant.set_slo_datasets('sales_right', '{}') AS off;
