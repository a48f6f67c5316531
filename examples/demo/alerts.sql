-- Alerting over the simulated month (run by `make demo` after slo.sql, with the
-- psql variable slack_url: the fake Slack).  The month is replayed through
-- kant.run_checks(as_of) every 30 minutes of each night, 00:30 to 11:00 JST,
-- seeing the runs as they were at that instant; the messages go to the fake
-- Slack through kant.deliver_notifications(), as pg_cron would send them.
\pset footer off
\pset null ''
SET client_min_messages = warning;

-- the order the platform runs in, declared: each Composer task waits for the
-- one that usually runs before it, and each S3->GCS transfer for the HEGEL
-- export of its table (predicted breaches follow this path; a failure's
-- downstream alerts fold into it)
WITH ord AS (
	SELECT j.name, j.dag_id, j.task_id,
		row_number() OVER (ORDER BY avg(extract(epoch FROM r.started_at - r.business_date))) AS n
	FROM kant.job j JOIN kant.system s USING (system_id) JOIN kant.job_run r USING (job_id)
	WHERE s.name = 'socrates' AND r.started_at IS NOT NULL
	GROUP BY j.name, j.dag_id, j.task_id
)
SELECT sum(kant.set_dependency('socrates/' || o.name,
		array_remove(ARRAY['socrates/' || p.name,
			CASE WHEN o.dag_id = 's3_to_gcs' THEN 'hegel/hegel_export_' || substr(o.task_id, 10) END], NULL))) AS dependencies
FROM ord o LEFT JOIN ord p ON p.n = o.n - 1;

SELECT kant.set_channel('data-platform', :'slack_url', min_interval => '0.02 seconds') AS channel,  -- demo pace; Slack's is 1 s
       kant.add_route('data-platform') > 0 AS route;

\echo '== Replaying 30 nights: kant.run_checks() every 30 minutes, 00:30-11:00 JST (pg_cron would run it every 5)'
SELECT sum(c.opened) AS opened, sum(c.resolved) AS resolved, sum(c.queued) AS messages_queued, count(*) AS checks
FROM generate_series((:'start'::date + 1) + time '00:30', (:'last'::date + 1) + time '11:00', '30 minutes') AS t
CROSS JOIN LATERAL kant.run_checks(t AT TIME ZONE 'Asia/Tokyo') c
WHERE t::time BETWEEN '00:30' AND '11:00' AND t AT TIME ZONE 'Asia/Tokyo' <= now();
CALL kant.deliver_notifications(120);

\echo '== Alerts by kind (kant.bi_alert_daily): sent on their own, or folded under an upstream alert (sent as part of it)'
SELECT kind, severity, sum(alerts) AS alerts, sum(notified) AS sent, sum(folded_or_silenced) AS folded,
       sum(messages) AS messages
FROM kant.bi_alert_daily GROUP BY 1, 2 ORDER BY 1;

\echo '== What the old approach sent (one Slack message per job run) and what kant sent'
SELECT (SELECT count(*) FROM kant.job_run WHERE business_date BETWEEN :'start' AND :'last') AS old_messages_one_per_run,
       (SELECT count(*) FROM kant.notification WHERE status = 'sent') AS kant_messages_sent,
       (SELECT count(*) FROM kant.notification WHERE status <> 'sent') AS not_sent;

\echo '== One night as Slack received it: business date' :night '(SOCRATES missed its SLA)'
SELECT to_char(n.checked_at AT TIME ZONE 'Asia/Tokyo', 'MM-DD HH24:MI') AS check_jst,
       n.event, left(n.payload->>'text', 160) AS text
FROM kant.notification n JOIN kant.alert a USING (alert_id)
WHERE n.status = 'sent' AND a.business_date = :'night'
ORDER BY n.notification_id;
