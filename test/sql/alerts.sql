-- Alerting: the checks at chosen instants (run_checks(as_of) sees the runs as
-- they were then), the alert lifecycle, folding along dependencies, silences,
-- routing, and the Slack messages queued in the outbox.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'Asia/Tokyo';
SELECT kant.add_system('etl', 'manual', 'Asia/Tokyo', display_name => 'ETL') > 0 AS added;
SELECT kant.configure_job('etl', j, pipeline => 'nightly') > 0 AS configured
FROM unnest(ARRAY['extract', 'load', 'report']) AS j;
SELECT kant.set_dependency('etl/load', ARRAY['etl/extract']) AS deps,
       kant.set_dependency('etl/report', ARRAY['etl/load']) AS deps;
SELECT kant.set_schedule('etl', s, job => j, grace => '20 minutes', active_from => '2026-11-01')
FROM (VALUES ('extract', '0 1 * * *'), ('load', '30 1 * * *'), ('report', '30 2 * * *')) AS v(j, s);
SELECT kant.create_slo('nightly_done', '04:00', deadline_offset_days => 0, time_zone => 'Asia/Tokyo',
                       pipeline => 'nightly', evaluate_from => '2026-11-01') > 0 AS slo;
-- ten healthy nights: extract 01:00-01:30, load 01:30-02:30, report 02:30-03:00
SELECT sum((kant.report_run('etl', j, j || '-' || d, 'succeeded', d::date, 1,
        (d::date + s)::timestamp AT TIME ZONE 'Asia/Tokyo',
        (d::date + s + m * interval '1 minute')::timestamp AT TIME ZONE 'Asia/Tokyo')).inserted) AS history
FROM generate_series('2026-11-10'::date, '2026-11-19', '1 day') AS d,
     (VALUES ('extract', time '01:00', 30), ('load', '01:30', 60), ('report', '02:30', 30)) AS v(j, s, m);
SELECT job_id, samples, p90_seconds FROM kant.job_durations(ARRAY(SELECT job_id FROM kant.job ORDER BY 1), '2026-11-20 00:00+09');

-- two channels: everything, and critical only for the pipeline
SELECT kant.set_channel('ops', 'http://127.0.0.1:9/services/T000/B000/secret');
SELECT kant.set_channel('pager', 'KANT_TEST_PAGER_WEBHOOK', from_env => true);
SELECT kant.add_route('ops') > 0 AS route, kant.add_route('pager', pipeline => 'nightly', min_severity => 'critical') > 0 AS route;
SELECT name, webhook, pending FROM kant.channels ORDER BY name;

CREATE TEMP TABLE seen (id bigint);
CREATE FUNCTION pg_temp.news() RETURNS TABLE (channel text, event text, alert_key text)
LANGUAGE sql AS $$
	WITH n AS (SELECT * FROM kant.notification WHERE notification_id NOT IN (SELECT id FROM seen)),
	     s AS (INSERT INTO seen SELECT notification_id FROM n)
	SELECT n.channel, n.event, n.alert_key FROM n ORDER BY n.notification_id
$$;
CREATE FUNCTION pg_temp.run(day date, hhmm time, OUT opened integer, OUT resolved integer, OUT open_now integer, OUT queued integer)
LANGUAGE sql AS $$ SELECT * FROM kant.run_checks((day + hhmm)::timestamp AT TIME ZONE 'Asia/Tokyo') $$;
SELECT * FROM pg_temp.run('2026-11-19', '12:00');

-- 1. a failure with a retry configured, retried and done before the deadline: no message
SELECT kant.set_job_retries('etl/extract', 1);
SELECT (kant.report_run('etl', 'extract', 'extract-20a', 'failed', '2026-11-20', 1,
        '2026-11-20 01:00+09', '2026-11-20 01:10+09', error_message => 'OutOfMemoryError')).inserted,
       (kant.report_run('etl', 'extract', 'extract-20a', 'succeeded', '2026-11-20', 2,
        '2026-11-20 01:15+09', '2026-11-20 01:45+09')).inserted,
       (kant.report_run('etl', 'load', 'load-20', 'succeeded', '2026-11-20', 1,
        '2026-11-20 01:50+09', '2026-11-20 02:50+09')).inserted,
       (kant.report_run('etl', 'report', 'report-20', 'succeeded', '2026-11-20', 1,
        '2026-11-20 02:50+09', '2026-11-20 03:20+09')).inserted;
SELECT * FROM pg_temp.run('2026-11-20', '01:12');   -- retry expected: wait
SELECT * FROM pg_temp.run('2026-11-20', '01:20');   -- retrying
SELECT * FROM pg_temp.run('2026-11-20', '03:30');   -- done
SELECT * FROM pg_temp.news();
-- with a retry_wait of 2 minutes, at 01:13 (the retry came at 01:15) it would have been alerted
SELECT kant.set_alerting(retry_wait => '2 minutes');
SELECT alert_key, summary FROM kant.check_conditions('2026-11-20 01:13+09') ORDER BY 1;
SELECT kant.set_alerting(retry_wait => '15 minutes');

-- 2. no retries: failure opens once; the downstream's missing run folds
-- under it; the rerun resolves it; the day is then late, and completes
SELECT kant.set_job_retries('etl/extract', 0);
SELECT (kant.report_run('etl', 'extract', 'extract-21', 'failed', '2026-11-21', 1,
        '2026-11-21 01:00+09', '2026-11-21 01:10+09', error_message => 'S3 AccessDenied')).inserted,
       (kant.report_run('etl', 'extract', 'extract-21', 'succeeded', '2026-11-21', 2,
        '2026-11-21 02:00+09', '2026-11-21 02:30+09')).inserted,
       (kant.report_run('etl', 'load', 'load-21', 'succeeded', '2026-11-21', 1,
        '2026-11-21 02:30+09', '2026-11-21 03:30+09')).inserted,
       (kant.report_run('etl', 'report', 'report-21', 'succeeded', '2026-11-21', 1,
        '2026-11-21 03:30+09', '2026-11-21 04:10+09')).inserted;
SELECT * FROM pg_temp.run('2026-11-21', '01:12');
SELECT * FROM pg_temp.news();
SELECT * FROM pg_temp.run('2026-11-21', '01:55');   -- load missing: folded, no message
SELECT * FROM pg_temp.news();
SELECT kind, job, business_date, folded_into, summary FROM kant.open_alerts ORDER BY alert_id;
SELECT payload->>'text' AS text, jsonb_path_query_array(payload, '$.blocks[*].type') AS blocks
FROM kant.notification n JOIN kant.alert a USING (alert_id)
WHERE a.kind = 'failure' AND a.business_date = '2026-11-21' ORDER BY notification_id LIMIT 1;
SELECT kant._slack_message(alert_id, 'reminder')->>'text' AS reminder_lists_the_blocked
FROM kant.alert WHERE kind = 'failure' AND business_date = '2026-11-21';
SELECT * FROM pg_temp.run('2026-11-21', '02:05');   -- rerun running: resolved; load waits on it
SELECT * FROM pg_temp.news();
SELECT alert_key, status, resolution FROM kant.alert WHERE business_date = '2026-11-21' ORDER BY alert_id;
SELECT * FROM pg_temp.run('2026-11-21', '04:05');   -- report still running: late
SELECT * FROM pg_temp.news();
SELECT summary FROM kant.open_alerts;
SELECT * FROM pg_temp.run('2026-11-21', '04:15');   -- complete
SELECT * FROM pg_temp.news();
SELECT alert_key, status, resolution FROM kant.alert WHERE kind = 'late';

-- 3. a silence mutes; its end unmutes; then a reminder after reminder_interval (2 h here)
SELECT kant.set_alerting(reminder_interval => '2 hours');
SELECT kant.silence('extract maintenance, OPS-42', '30 minutes', system => 'etl', kind => 'failure',
                    starts_at => '2026-11-22 01:00+09') > 0 AS silenced;
SELECT (kant.report_run('etl', 'extract', 'extract-22', 'failed', '2026-11-22', 1,
        '2026-11-22 01:00+09', '2026-11-22 01:10+09')).inserted;
SELECT * FROM pg_temp.run('2026-11-22', '01:12');
SELECT * FROM pg_temp.news();
SELECT kind, job, silenced_because FROM kant.open_alerts WHERE business_date = '2026-11-22' ORDER BY alert_id;
SELECT * FROM pg_temp.run('2026-11-22', '01:35');   -- the silence is over
SELECT * FROM pg_temp.news();
SELECT * FROM pg_temp.run('2026-11-22', '02:35');   -- no reminder yet; the breach is now predicted
SELECT * FROM pg_temp.news();
SELECT * FROM pg_temp.run('2026-11-22', '03:40');   -- 2 h later: reminders
SELECT * FROM pg_temp.news();
-- fix the night so it does not disturb what follows: extract-22 retried
-- (its attempt 2: an unlinked new run would leave the failed one current,
-- and the day not done, by kant._job_day), then load and report
SELECT (kant.report_run('etl', 'extract', 'extract-22', 'succeeded', '2026-11-22', 2, '2026-11-22 03:59+09', '2026-11-22 04:00+09')).inserted;
SELECT (kant.report_run('etl', j, j || '-22b', 'succeeded', '2026-11-22', 1, '2026-11-22 04:00+09', '2026-11-22 04:01+09')).inserted
FROM unnest(ARRAY['load', 'report']) AS j;
SELECT * FROM pg_temp.run('2026-11-22', '04:30');
SELECT * FROM pg_temp.news();

-- 4. predicted breach: on a healthy night none; on a slow one, before the deadline
SELECT count(*) AS healthy_predicted FROM kant.check_conditions('2026-11-19 02:45+09') WHERE kind = 'predicted';
SELECT (kant.report_run('etl', 'extract', 'extract-23', 'succeeded', '2026-11-23', 1,
        '2026-11-23 01:00+09', '2026-11-23 02:50+09')).inserted,
       (kant.report_run('etl', 'load', 'load-23', 'succeeded', '2026-11-23', 1,
        '2026-11-23 02:50+09', '2026-11-23 03:50+09')).inserted,
       (kant.report_run('etl', 'report', 'report-23', 'succeeded', '2026-11-23', 1,
        '2026-11-23 03:50+09', '2026-11-23 04:20+09')).inserted;
SELECT * FROM pg_temp.run('2026-11-23', '01:40');   -- slow, but the day still fits
SELECT * FROM pg_temp.news();
SELECT * FROM pg_temp.run('2026-11-23', '02:45');   -- 1 h 45 min in: predicted 04:15, and stuck
SELECT * FROM pg_temp.news();
SELECT kind, summary FROM kant.open_alerts WHERE business_date = '2026-11-23' ORDER BY alert_id;
SELECT * FROM pg_temp.run('2026-11-23', '04:05');   -- the deadline passed: late (predicted resolves quietly)
SELECT * FROM pg_temp.news();
SELECT * FROM pg_temp.run('2026-11-23', '04:25');
SELECT * FROM pg_temp.news();
SELECT alert_key, resolution FROM kant.alert WHERE business_date = '2026-11-23' ORDER BY alert_id;

-- 5. a stale collector, and its recovery
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0 AS added;
INSERT INTO kant.collection (system_id, started_at, ended_at, error)
SELECT system_id, t, t + interval '5 seconds', e FROM kant.system,
  (VALUES (timestamptz '2026-11-24 00:00+09', NULL), ('2026-11-24 01:00+09', 'kant: GetJobs: could not reach glue.ap-northeast-1.amazonaws.com'),
          ('2026-11-24 02:00+09', 'kant: GetJobs: could not reach glue.ap-northeast-1.amazonaws.com')) AS v(t, e)
WHERE name = 'hegel';
SELECT * FROM pg_temp.run('2026-11-24', '02:30');
SELECT * FROM pg_temp.news();
SELECT summary FROM kant.open_alerts WHERE kind = 'stale';
INSERT INTO kant.collection (system_id, started_at, ended_at)
SELECT system_id, '2026-11-24 03:00+09', '2026-11-24 03:00:05+09' FROM kant.system WHERE name = 'hegel';
SELECT * FROM pg_temp.run('2026-11-24', '03:05');
SELECT * FROM pg_temp.news();

-- 6. Airflow: a try that went up_for_retry and was retried is not running;
-- tasks of a DAG run that started are waiting, not missing; a DAG run that did
-- not start is one alert, not one per task
SELECT kant.add_system('comp', 'airflow', 'Asia/Tokyo') > 0 AS added;
SELECT received, inserted FROM kant.ingest_airflow_task_instances('comp', '{"task_instances": [
  {"dag_id": "daily", "task_id": "extract", "dag_run_id": "scheduled__2026-11-24T19:30:00+00:00",
   "execution_date": "2026-11-24T19:30:00+00:00", "try_number": 1, "max_tries": 1, "state": "up_for_retry",
   "start_date": "2026-11-25T19:31:00+00:00", "end_date": "2026-11-25T19:35:00+00:00"},
  {"dag_id": "daily", "task_id": "extract", "dag_run_id": "scheduled__2026-11-24T19:30:00+00:00",
   "execution_date": "2026-11-24T19:30:00+00:00", "try_number": 2, "max_tries": 1, "state": "running",
   "start_date": "2026-11-25T19:40:00+00:00", "end_date": null},
  {"dag_id": "daily", "task_id": "load", "dag_run_id": "scheduled__2026-11-23T19:30:00+00:00",
   "execution_date": "2026-11-23T19:30:00+00:00", "try_number": 1, "max_tries": 1, "state": "success",
   "start_date": "2026-11-24T19:31:00+00:00", "end_date": "2026-11-24T19:50:00+00:00"},
  {"dag_id": "daily", "task_id": "extract", "dag_run_id": "scheduled__2026-11-23T19:30:00+00:00",
   "execution_date": "2026-11-23T19:30:00+00:00", "try_number": 1, "max_tries": 1, "state": "success",
   "start_date": "2026-11-24T19:30:30+00:00", "end_date": "2026-11-24T19:31:00+00:00"}]}');
SELECT kant.set_schedule('comp', '30 4 * * *', job => j, grace => '20 minutes', active_from => '2026-11-24')
FROM unnest(ARRAY['daily.extract', 'daily.load']) AS j;
-- business date 2026-11-25 (logical date 11-25 04:30 JST) is in progress at 11-26 05:00 JST:
-- extract's second try runs, load has not started: nothing is wrong
SELECT alert_key, summary FROM kant.check_conditions('2026-11-26 05:00+09')
WHERE system_id = (SELECT system_id FROM kant.system WHERE name = 'comp') ORDER BY 1;
-- business date 2026-11-26: no DAG run at all by 11-27 05:00 JST: one alert for the DAG
SELECT alert_key, summary FROM kant.check_conditions('2026-11-27 05:00+09')
WHERE system_id = (SELECT system_id FROM kant.system WHERE name = 'comp') ORDER BY 1;

-- the views
SELECT day, kind, severity, system, slo, alerts, resolved, notified, folded_or_silenced, messages
FROM kant.bi_alert_daily ORDER BY day, kind, system;
SELECT channel, event, status FROM kant.notification_outbox ORDER BY notification_id LIMIT 3;
-- the secret is nowhere but in kant.channel
SELECT count(*) AS leaks FROM kant.notification WHERE payload::text LIKE '%secret%';

-- 7. run data reaches Slack escaped the way Slack asks (& < > as entities):
-- an error message cannot mention @channel or disguise a link
SELECT kant.configure_job('etl', 'copy <a> & b') > 0 AS configured;
SELECT (kant.report_run('etl', 'copy <a> & b', 'evil-25', 'failed', '2026-11-25', 1,
        '2026-11-25 01:00+09', '2026-11-25 01:05+09',
        error_message => '<!channel> disk full, see <https://evil.example|https://console.aws.amazon.com>')).inserted;
SELECT * FROM pg_temp.run('2026-11-25', '01:10');
SELECT n.channel, n.payload->>'text' AS text
FROM kant.notification n JOIN kant.alert a USING (alert_id) JOIN kant.job j USING (job_id)
WHERE j.name = 'copy <a> & b' ORDER BY n.notification_id;
SELECT v #>> '{}' AS mrkdwn
FROM kant.notification n JOIN kant.alert a USING (alert_id) JOIN kant.job j USING (job_id),
     jsonb_path_query(n.payload, 'strict $.blocks[*].**.text') v
WHERE j.name = 'copy <a> & b' AND jsonb_typeof(v) = 'string' ORDER BY 1;
SELECT count(*) AS unescaped FROM kant.notification
WHERE payload::text ~ '<!channel>|<https://evil|copy <a>';

-- bad input: clear errors
SELECT kant.silence('', '1 hour');
SELECT kant.silence('why', '1 hour', kind => 'flood');
SELECT kant.silence('why', '1 hour', until => '2030-01-01');
SELECT kant.set_channel('Ops Channel', 'https://hooks.slack.com/services/x');
SELECT kant.set_channel('ops2', 'hooks.slack.com/services/T/B/verysecret');
SELECT kant.add_route('nowhere');
SELECT kant.add_route('ops', min_severity => 'info');
SELECT kant.set_dependency('etl/extract', ARRAY['etl/report']);
SELECT kant.set_dependency('etl/extract', ARRAY['etl/nope']);
SELECT kant.set_alerting(stuck_factor => 0.5);
CALL kant.deliver_notifications(-1);
