-- kant 0.4.0 -> 0.5.0: collectors set schedules in one batch; the Airflow
-- collector reads DAG runs and their task instances; alerting (checks, alert
-- lifecycle, silences, Slack outbox).
\echo Use "ALTER EXTENSION kant UPDATE TO '0.5.0'" to load this file. \quit

-- Schedules found by a collector, in one statement: a schedule a user set
-- wins, an unchanged one is left alone, and the expected runs of the jobs
-- whose schedule changed are rebuilt once for all of them.
DROP FUNCTION @extschema@._collector_schedule(text, text, text, text, text);
CREATE FUNCTION @extschema@._collector_schedules(system text, jobs text[], schedules text[],
		time_zones text[], source text)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sy record;
	bad record;
	changed integer[];
BEGIN
	SELECT s.* INTO sy FROM @extschema@.system s WHERE s.name = _collector_schedules.system;
	FOR bad IN
		SELECT DISTINCT u.job, u.cron FROM unnest(jobs, schedules) AS u(job, cron)
		WHERE NOT @extschema@.cron_is_valid(u.cron)
	LOOP
		RAISE WARNING 'kant: % of system % has a schedule kant cannot read: %', bad.job, system, bad.cron;
	END LOOP;
	WITH found AS (
		SELECT DISTINCT ON (j.job_id) j.job_id, btrim(u.cron) AS cron, u.zone
		FROM unnest(jobs, schedules, time_zones) AS u(job, cron, zone)
		JOIN @extschema@.job j ON j.system_id = sy.system_id AND j.name = u.job
		WHERE @extschema@.cron_is_valid(u.cron) AND @extschema@.valid_time_zone(u.zone)
		ORDER BY j.job_id, u.cron
	), up AS (
		INSERT INTO @extschema@.schedule AS x (job_id, cron, time_zone, grace_seconds, slot_date,
			active_from, source)
		SELECT f.job_id, f.cron, f.zone, 3600,
			CASE WHEN sy.kind = 'airflow' THEN 'previous_tick' ELSE 'start' END,
			(now() AT TIME ZONE sy.time_zone)::date, _collector_schedules.source
		FROM found f
		LEFT JOIN @extschema@.schedule cur ON cur.job_id = f.job_id
		WHERE cur.job_id IS NULL
		   OR (cur.source <> 'user' AND (cur.cron, cur.time_zone) IS DISTINCT FROM (f.cron, f.zone))
		ON CONFLICT (job_id) DO UPDATE SET
			cron = excluded.cron, time_zone = excluded.time_zone,
			active_from = excluded.active_from, source = excluded.source, updated_at = now()
		RETURNING x.job_id
	)
	SELECT array_agg(up.job_id) INTO changed FROM up;
	IF changed IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM @extschema@._reexpand(changed);
	RETURN cardinality(changed);
END
$$;
COMMENT ON FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text) IS
	'internal: set the schedules a collector found (Glue triggers, DAG schedules) in one batch, unless a user set one; returns the jobs whose schedule changed';
REVOKE ALL ON FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text) FROM PUBLIC;

---------------------------------------------------------------------------
-- Retries and dependencies: what the checks need to know about jobs
---------------------------------------------------------------------------

ALTER TABLE @extschema@.job ADD COLUMN max_retries integer CHECK (max_retries BETWEEN 0 AND 100);
COMMENT ON COLUMN @extschema@.job.max_retries IS
	'retries the scheduler makes after a failed attempt (Glue MaxRetries, read by the collector); NULL: unknown (Airflow says it per run: up_for_retry)';

CREATE TABLE @extschema@.job_dependency (
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	upstream_job_id	integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	PRIMARY KEY (job_id, upstream_job_id),
	CHECK (job_id <> upstream_job_id)
);
CREATE INDEX job_dependency_upstream_idx ON @extschema@.job_dependency (upstream_job_id);
COMMENT ON TABLE @extschema@.job_dependency IS
	'A job starts after its upstream jobs (across systems) succeeded for the same business date: the critical path of a predicted breach, and the folding of downstream alerts';
COMMENT ON COLUMN @extschema@.job_dependency.job_id IS 'the downstream job';
COMMENT ON COLUMN @extschema@.job_dependency.upstream_job_id IS 'a job it waits for';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_dependency', '');

CREATE FUNCTION @extschema@._job_ref(spec text, what text)
	RETURNS integer
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	jid integer;
BEGIN
	IF spec IS NULL OR strpos(spec, '/') = 0 THEN
		RAISE EXCEPTION 'invalid job "%" in %', spec, what
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name a job as system/job, e.g. ''hegel/export_users'' or ''socrates/daily_load.load_users''.';
	END IF;
	SELECT j.job_id INTO jid FROM @extschema@.job j
	JOIN @extschema@.system s ON s.system_id = j.system_id
	WHERE s.name = split_part(spec, '/', 1) AND j.name = substr(spec, strpos(spec, '/') + 1);
	IF jid IS NULL THEN
		RAISE EXCEPTION 'job "%" in % does not exist', spec, what
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with kant.configure_job() or ingest one of its runs first.';
	END IF;
	RETURN jid;
END
$$;
COMMENT ON FUNCTION @extschema@._job_ref(text, text) IS 'internal: the job named system/job';

CREATE FUNCTION @extschema@.set_dependency(job text, upstream text[])
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	jid integer := @extschema@._job_ref(job, 'job');
	ups integer[] := '{}';
	u text;
BEGIN
	FOREACH u IN ARRAY coalesce(upstream, '{}') LOOP
		ups := ups || @extschema@._job_ref(u, 'upstream');
	END LOOP;
	IF jid = ANY (ups) THEN
		RAISE EXCEPTION 'job "%" cannot wait for itself', job USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- no cycles: none of the upstream jobs may (transitively) wait for this one
	IF EXISTS (
		WITH RECURSIVE down(job_id) AS (
			SELECT d.job_id FROM @extschema@.job_dependency d WHERE d.upstream_job_id = jid
			UNION
			SELECT d.job_id FROM @extschema@.job_dependency d JOIN down ON d.upstream_job_id = down.job_id
		)
		SELECT FROM down WHERE down.job_id = ANY (ups)) THEN
		RAISE EXCEPTION 'the dependencies of "%" would make a cycle', job
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'An upstream job already waits (directly or not) for this job.';
	END IF;
	DELETE FROM @extschema@.job_dependency d WHERE d.job_id = jid;
	INSERT INTO @extschema@.job_dependency (job_id, upstream_job_id)
	SELECT DISTINCT jid, x FROM unnest(ups) AS x;
	RETURN cardinality(ups);
END
$$;
COMMENT ON FUNCTION @extschema@.set_dependency(text, text[]) IS
	'Declare the upstream jobs (system/job, any system) a job waits for, replacing earlier ones (an empty array removes them); returns how many';
REVOKE ALL ON FUNCTION @extschema@.set_dependency(text, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.set_job_retries(job text, max_retries integer)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF max_retries IS NOT NULL AND max_retries NOT BETWEEN 0 AND 100 THEN
		RAISE EXCEPTION 'max_retries must be between 0 and 100' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE @extschema@.job j SET max_retries = set_job_retries.max_retries
	WHERE j.job_id = @extschema@._job_ref(set_job_retries.job, 'job');
END
$$;
COMMENT ON FUNCTION @extschema@.set_job_retries(text, integer) IS
	'Say how many retries the scheduler makes after a failed attempt of a job (system/job); the Glue collector sets it from the job''s MaxRetries';
REVOKE ALL ON FUNCTION @extschema@.set_job_retries(text, integer) FROM PUBLIC;

---------------------------------------------------------------------------
-- Alerting: settings, channels, routes, silences, alerts, the outbox
---------------------------------------------------------------------------

CREATE TABLE @extschema@.alert_settings (
	singleton		boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	reminder_interval interval CHECK (reminder_interval > '0'),
	retry_wait		interval CHECK (retry_wait >= '0'),
	stale_after		interval CHECK (stale_after > '0'),
	stuck_factor	double precision CHECK (stuck_factor > 1),
	lookback		interval CHECK (lookback >= '1 hour'),
	predict_horizon	interval CHECK (predict_horizon > '0'),
	history_runs	integer CHECK (history_runs BETWEEN 3 AND 1000),
	max_attempts	integer CHECK (max_attempts BETWEEN 1 AND 100),
	max_reminders	integer CHECK (max_reminders BETWEEN 0 AND 100)
);
COMMENT ON TABLE @extschema@.alert_settings IS
	'How the checks and delivery behave; at most one row, set with kant.set_alerting(); a NULL column (or no row) means the default';
COMMENT ON COLUMN @extschema@.alert_settings.singleton IS 'always true: one row';
COMMENT ON COLUMN @extschema@.alert_settings.reminder_interval IS 'an open alert is repeated this often (default 4 hours)';
COMMENT ON COLUMN @extschema@.alert_settings.max_reminders IS 'at most this many reminders of one alert (default 3)';
COMMENT ON COLUMN @extschema@.alert_settings.retry_wait IS 'after a failed attempt with retries left, wait this long for the retry before alerting (default 15 minutes)';
COMMENT ON COLUMN @extschema@.alert_settings.stale_after IS 'a collector whose last success is older is stale (default 2 hours)';
COMMENT ON COLUMN @extschema@.alert_settings.stuck_factor IS 'a run is stuck after this many times its p95 duration (default 3)';
COMMENT ON COLUMN @extschema@.alert_settings.lookback IS 'how far back the checks look at business dates and deadlines (default 2 days)';
COMMENT ON COLUMN @extschema@.alert_settings.predict_horizon IS 'breaches are predicted for deadlines this close (default 12 hours)';
COMMENT ON COLUMN @extschema@.alert_settings.history_runs IS 'durations are estimated from this many recent successful runs of a job (default 30)';
COMMENT ON COLUMN @extschema@.alert_settings.max_attempts IS 'a notification is given up after this many failed deliveries (default 10)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_settings', '');

CREATE FUNCTION @extschema@._alert_settings(OUT reminder_interval interval, OUT retry_wait interval,
		OUT stale_after interval, OUT stuck_factor double precision, OUT lookback interval,
		OUT predict_horizon interval, OUT history_runs integer, OUT max_attempts integer,
		OUT max_reminders integer)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(s.reminder_interval, '4 hours'), coalesce(s.retry_wait, '15 minutes'),
		   coalesce(s.stale_after, '2 hours'), coalesce(s.stuck_factor, 3),
		   coalesce(s.lookback, '2 days'), coalesce(s.predict_horizon, '12 hours'),
		   coalesce(s.history_runs, 30), coalesce(s.max_attempts, 10), coalesce(s.max_reminders, 3)
	FROM (SELECT) AS one LEFT JOIN @extschema@.alert_settings s ON true
	$$;
COMMENT ON FUNCTION @extschema@._alert_settings() IS 'internal: the alert settings in effect';

CREATE FUNCTION @extschema@.set_alerting(reminder_interval interval DEFAULT NULL,
		retry_wait interval DEFAULT NULL, stale_after interval DEFAULT NULL,
		stuck_factor double precision DEFAULT NULL, lookback interval DEFAULT NULL,
		predict_horizon interval DEFAULT NULL, history_runs integer DEFAULT NULL,
		max_attempts integer DEFAULT NULL, max_reminders integer DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	INSERT INTO @extschema@.alert_settings AS a (reminder_interval, retry_wait, stale_after,
		stuck_factor, lookback, predict_horizon, history_runs, max_attempts, max_reminders)
	VALUES (reminder_interval, retry_wait, stale_after, stuck_factor, lookback, predict_horizon,
		history_runs, max_attempts, max_reminders)
	ON CONFLICT (singleton) DO UPDATE SET
		reminder_interval = coalesce(excluded.reminder_interval, a.reminder_interval),
		retry_wait = coalesce(excluded.retry_wait, a.retry_wait),
		stale_after = coalesce(excluded.stale_after, a.stale_after),
		stuck_factor = coalesce(excluded.stuck_factor, a.stuck_factor),
		lookback = coalesce(excluded.lookback, a.lookback),
		predict_horizon = coalesce(excluded.predict_horizon, a.predict_horizon),
		history_runs = coalesce(excluded.history_runs, a.history_runs),
		max_attempts = coalesce(excluded.max_attempts, a.max_attempts),
		max_reminders = coalesce(excluded.max_reminders, a.max_reminders);
EXCEPTION WHEN check_violation THEN
	RAISE EXCEPTION 'invalid alert setting: %', SQLERRM
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'reminder_interval and stale_after > 0, retry_wait >= 0, stuck_factor > 1, lookback >= 1 hour, history_runs 3..1000, max_attempts 1..100, max_reminders 0..100.';
END
$$;
COMMENT ON FUNCTION @extschema@.set_alerting(interval, interval, interval, double precision, interval, interval, integer, integer, integer) IS
	'Change alert settings (the arguments given; the others stay): reminder_interval, retry_wait, stale_after, stuck_factor, lookback, predict_horizon, history_runs, max_attempts, max_reminders';
REVOKE ALL ON FUNCTION @extschema@.set_alerting(interval, interval, interval, double precision, interval, interval, integer, integer, integer) FROM PUBLIC;

-- Slack incoming webhooks.  The URL is a secret: no view shows it, no role is
-- granted it, no message contains more than its host.
CREATE TABLE @extschema@.channel (
	name			text PRIMARY KEY CHECK (name ~ '^[a-z0-9_][a-z0-9_.-]*$' AND length(name) <= 100),
	webhook_url		text NOT NULL,
	from_env		boolean NOT NULL DEFAULT false,
	min_interval	interval NOT NULL DEFAULT '1 second' CHECK (min_interval >= '0'),
	last_sent_at	timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.channel IS
	'Where notifications go: Slack incoming webhooks, readable only by the extension owner (the URL is a secret); see kant.channels';
COMMENT ON COLUMN @extschema@.channel.name IS 'channel name used by routes';
COMMENT ON COLUMN @extschema@.channel.webhook_url IS 'the incoming webhook URL (a secret), or with from_env the server environment variable holding it';
COMMENT ON COLUMN @extschema@.channel.from_env IS 'true: webhook_url names an environment variable of the server process';
COMMENT ON COLUMN @extschema@.channel.min_interval IS 'at most one message per this interval (Slack allows about one a second per webhook)';
COMMENT ON COLUMN @extschema@.channel.last_sent_at IS 'when a message was last posted';
COMMENT ON COLUMN @extschema@.channel.created_at IS 'when the channel was added';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.channel', '');

CREATE TABLE @extschema@.alert_route (
	route_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	channel			text NOT NULL REFERENCES @extschema@.channel ON DELETE CASCADE ON UPDATE CASCADE,
	system			text,
	pipeline		text,
	kind			text CHECK (kind IN ('failure', 'late', 'missing', 'predicted', 'stuck', 'stale')),
	min_severity	text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('warning', 'critical'))
);
COMMENT ON TABLE @extschema@.alert_route IS
	'Which alerts go to which channel: every route whose system, pipeline and kind match (NULL matches all) and whose minimum severity is reached; an alert goes once to each channel matched';
COMMENT ON COLUMN @extschema@.alert_route.route_id IS 'the route';
COMMENT ON COLUMN @extschema@.alert_route.channel IS 'the channel';
COMMENT ON COLUMN @extschema@.alert_route.system IS 'only alerts of this system (NULL: any)';
COMMENT ON COLUMN @extschema@.alert_route.pipeline IS 'only alerts of this pipeline (NULL: any)';
COMMENT ON COLUMN @extschema@.alert_route.kind IS 'only alerts of this kind (NULL: any)';
COMMENT ON COLUMN @extschema@.alert_route.min_severity IS 'warning (all) or critical (failure, late, missing, stale)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_route', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.alert_route', 'route_id')::pg_catalog.regclass, '');

CREATE TABLE @extschema@.silence (
	silence_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	system			text,
	job				text,
	pipeline		text,
	kind			text CHECK (kind IN ('failure', 'late', 'missing', 'predicted', 'stuck', 'stale')),
	starts_at		timestamptz NOT NULL DEFAULT now(),
	ends_at			timestamptz NOT NULL,
	reason			text NOT NULL CHECK (btrim(reason) <> ''),
	created_by		text NOT NULL DEFAULT current_user,
	CHECK (ends_at > starts_at)
);
COMMENT ON TABLE @extschema@.silence IS
	'Silences: matching alerts are still recorded but not sent until the silence ends (then an alert still open is sent)';
COMMENT ON COLUMN @extschema@.silence.silence_id IS 'the silence';
COMMENT ON COLUMN @extschema@.silence.system IS 'only this system (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.job IS 'only this job (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.pipeline IS 'only this pipeline (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.kind IS 'only this kind (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.starts_at IS 'from';
COMMENT ON COLUMN @extschema@.silence.ends_at IS 'until';
COMMENT ON COLUMN @extschema@.silence.reason IS 'why (required)';
COMMENT ON COLUMN @extschema@.silence.created_by IS 'who';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.silence', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.silence', 'silence_id')::pg_catalog.regclass, '');

CREATE TABLE @extschema@.alert (
	alert_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	alert_key		text NOT NULL UNIQUE,
	kind			text NOT NULL CHECK (kind IN ('failure', 'late', 'missing', 'predicted', 'stuck', 'stale')),
	severity		text NOT NULL CHECK (severity IN ('warning', 'critical')),
	system_id		integer REFERENCES @extschema@.system ON DELETE CASCADE,
	job_id			integer REFERENCES @extschema@.job ON DELETE CASCADE,
	slo_id			integer REFERENCES @extschema@.slo ON DELETE CASCADE,
	business_date	date,
	status			text NOT NULL CHECK (status IN ('open', 'resolved')),
	summary			text NOT NULL,
	detail			jsonb NOT NULL DEFAULT '{}',
	folded_into		bigint REFERENCES @extschema@.alert ON DELETE SET NULL,
	silence_id		integer REFERENCES @extschema@.silence ON DELETE SET NULL,
	opened_at		timestamptz NOT NULL,
	last_seen_at	timestamptz NOT NULL,
	resolved_at		timestamptz,
	resolution		text,
	notified_at		timestamptz,
	notifications	integer NOT NULL DEFAULT 0
);
CREATE INDEX alert_open_idx ON @extschema@.alert (alert_id) WHERE status = 'open';
CREATE INDEX alert_opened_idx ON @extschema@.alert (opened_at);
COMMENT ON TABLE @extschema@.alert IS
	'Alerts with a lifecycle: one row per key (kind/system/job or SLO/business date), opened once, updated while the condition lasts, resolved when it clears';
COMMENT ON COLUMN @extschema@.alert.alert_id IS 'the alert';
COMMENT ON COLUMN @extschema@.alert.alert_key IS 'stable key: kind/system/job-or-slo/business date';
COMMENT ON COLUMN @extschema@.alert.kind IS 'failure, late, missing, predicted, stuck or stale';
COMMENT ON COLUMN @extschema@.alert.severity IS 'critical (failure, late, missing, stale) or warning (predicted, stuck)';
COMMENT ON COLUMN @extschema@.alert.system_id IS 'the system';
COMMENT ON COLUMN @extschema@.alert.job_id IS 'the job (job alerts)';
COMMENT ON COLUMN @extschema@.alert.slo_id IS 'the SLO (late, predicted)';
COMMENT ON COLUMN @extschema@.alert.business_date IS 'the business date (NULL for stale)';
COMMENT ON COLUMN @extschema@.alert.status IS 'open or resolved';
COMMENT ON COLUMN @extschema@.alert.summary IS 'one line: what and why';
COMMENT ON COLUMN @extschema@.alert.detail IS 'the facts behind it (jobs not done, predicted end, attempt, error ...)';
COMMENT ON COLUMN @extschema@.alert.folded_into IS 'the upstream alert this one is folded into (sent as part of it), or NULL';
COMMENT ON COLUMN @extschema@.alert.silence_id IS 'the silence that mutes it now, or NULL';
COMMENT ON COLUMN @extschema@.alert.opened_at IS 'when the condition was first seen';
COMMENT ON COLUMN @extschema@.alert.last_seen_at IS 'the last check that saw it';
COMMENT ON COLUMN @extschema@.alert.resolved_at IS 'when it cleared';
COMMENT ON COLUMN @extschema@.alert.resolution IS 'how it cleared';
COMMENT ON COLUMN @extschema@.alert.notified_at IS 'when a message about it was last queued (NULL: never)';
COMMENT ON COLUMN @extschema@.alert.notifications IS 'messages queued about it';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert', '');

CREATE TABLE @extschema@.notification (
	notification_id	bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	channel			text NOT NULL REFERENCES @extschema@.channel ON DELETE CASCADE ON UPDATE CASCADE,
	alert_id		bigint REFERENCES @extschema@.alert ON DELETE SET NULL,
	alert_key		text NOT NULL,
	event			text NOT NULL CHECK (event IN ('opened', 'reminder', 'resolved')),
	payload			jsonb NOT NULL,
	status			text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
	attempts		integer NOT NULL DEFAULT 0,
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	checked_at		timestamptz NOT NULL DEFAULT now(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	sent_at			timestamptz,
	http_status		integer,
	last_error		text
);
CREATE INDEX notification_pending_idx ON @extschema@.notification (channel, notification_id)
	WHERE status = 'pending';
COMMENT ON TABLE @extschema@.notification IS
	'The outbox: messages the checks queued in their transaction, delivered by kant.deliver_notifications() at least once, in order per channel';
COMMENT ON COLUMN @extschema@.notification.notification_id IS 'the message; its order within a channel';
COMMENT ON COLUMN @extschema@.notification.channel IS 'where it goes';
COMMENT ON COLUMN @extschema@.notification.alert_id IS 'the alert';
COMMENT ON COLUMN @extschema@.notification.alert_key IS 'the alert''s key (also in the message: a repeat after a crash can be told apart)';
COMMENT ON COLUMN @extschema@.notification.event IS 'opened, reminder or resolved';
COMMENT ON COLUMN @extschema@.notification.payload IS 'the Slack message: text and Block Kit blocks';
COMMENT ON COLUMN @extschema@.notification.status IS 'pending, sent, or failed (permanently; see last_error)';
COMMENT ON COLUMN @extschema@.notification.attempts IS 'delivery attempts so far';
COMMENT ON COLUMN @extschema@.notification.next_attempt_at IS 'not before (Retry-After, backoff)';
COMMENT ON COLUMN @extschema@.notification.checked_at IS 'the instant the check judged (run_checks'' as_of)';
COMMENT ON COLUMN @extschema@.notification.created_at IS 'when the check queued it';
COMMENT ON COLUMN @extschema@.notification.sent_at IS 'when Slack accepted it';
COMMENT ON COLUMN @extschema@.notification.http_status IS 'HTTP status of the last attempt';
COMMENT ON COLUMN @extschema@.notification.last_error IS 'what went wrong last (Slack''s answer, or the transport error; host only)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.notification', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.alert', 'alert_id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.notification', 'notification_id')::pg_catalog.regclass, '');

CREATE FUNCTION @extschema@.set_channel(name text, webhook_url text, from_env boolean DEFAULT false,
		min_interval interval DEFAULT '1 second')
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF name IS NULL OR name !~ '^[a-z0-9_][a-z0-9_.-]*$' OR length(name) > 100 THEN
		RAISE EXCEPTION 'invalid channel name "%"', name
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use lower-case letters, digits, _ . -, e.g. data-platform-alerts.';
	END IF;
	IF webhook_url IS NULL OR btrim(webhook_url) = '' THEN
		RAISE EXCEPTION 'webhook_url must be given' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'The Slack incoming webhook URL (https://hooks.slack.com/services/...), or with from_env => true the name of a server environment variable.';
	END IF;
	IF NOT from_env AND webhook_url !~* '^https?://[^/]+' THEN
		-- never echo the URL: it is a secret
		RAISE EXCEPTION 'webhook_url of channel "%" is not an http(s) URL', name
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Slack incoming webhooks look like https://hooks.slack.com/services/T.../B.../....';
	END IF;
	IF from_env AND webhook_url !~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN
		RAISE EXCEPTION 'with from_env, webhook_url must name an environment variable'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. kant.set_channel(''alerts'', ''KANT_SLACK_WEBHOOK'', from_env => true).';
	END IF;
	IF min_interval IS NULL OR min_interval < '0' THEN
		RAISE EXCEPTION 'min_interval must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO @extschema@.channel AS c (name, webhook_url, from_env, min_interval)
	VALUES (set_channel.name, btrim(webhook_url), from_env, min_interval)
	ON CONFLICT ON CONSTRAINT channel_pkey DO UPDATE SET webhook_url = excluded.webhook_url,
		from_env = excluded.from_env, min_interval = excluded.min_interval;
END
$$;
COMMENT ON FUNCTION @extschema@.set_channel(text, text, boolean, interval) IS
	'Add or rotate a Slack incoming webhook (a secret, kept in kant.channel, readable by the extension owner only), or name a server environment variable holding it';
REVOKE ALL ON FUNCTION @extschema@.set_channel(text, text, boolean, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.drop_channel(name text)
	RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH d AS (DELETE FROM @extschema@.channel c WHERE c.name = $1 RETURNING 1)
	SELECT EXISTS (SELECT FROM d)
	$$;
COMMENT ON FUNCTION @extschema@.drop_channel(text) IS
	'Remove a channel, its routes and its undelivered messages; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.drop_channel(text) FROM PUBLIC;

CREATE VIEW @extschema@.channels AS
SELECT c.name,
	CASE WHEN c.from_env THEN 'env:' || c.webhook_url
		 ELSE substring(c.webhook_url FROM '^[A-Za-z]+://[^/]+') || '/…' END AS webhook,
	c.min_interval, c.last_sent_at,
	(SELECT count(*) FROM @extschema@.notification n WHERE n.channel = c.name AND n.status = 'pending') AS pending,
	(SELECT count(*) FROM @extschema@.notification n WHERE n.channel = c.name AND n.status = 'failed') AS failed
FROM @extschema@.channel c;
COMMENT ON VIEW @extschema@.channels IS 'Channels without their secret: the webhook''s host only';
COMMENT ON COLUMN @extschema@.channels.name IS 'channel name';
COMMENT ON COLUMN @extschema@.channels.webhook IS 'the webhook''s scheme and host (the path is a secret), or env:VARIABLE';
COMMENT ON COLUMN @extschema@.channels.min_interval IS 'at most one message per this interval';
COMMENT ON COLUMN @extschema@.channels.last_sent_at IS 'when a message was last posted';
COMMENT ON COLUMN @extschema@.channels.pending IS 'messages waiting';
COMMENT ON COLUMN @extschema@.channels.failed IS 'messages given up (see kant.notification_outbox)';

CREATE FUNCTION @extschema@.add_route(channel text, system text DEFAULT NULL, pipeline text DEFAULT NULL,
		kind text DEFAULT NULL, min_severity text DEFAULT 'warning')
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.channel c WHERE c.name = add_route.channel) THEN
		RAISE EXCEPTION 'channel "%" does not exist', channel
			USING ERRCODE = 'undefined_object', HINT = 'Add it with kant.set_channel(name, webhook_url).';
	END IF;
	IF system IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.system s WHERE s.name = add_route.system) THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.system;';
	END IF;
	IF kind IS NOT NULL AND kind NOT IN ('failure', 'late', 'missing', 'predicted', 'stuck', 'stale') THEN
		RAISE EXCEPTION 'invalid kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value', HINT = 'One of failure, late, missing, predicted, stuck, stale; NULL for all.';
	END IF;
	IF min_severity IS NULL OR min_severity NOT IN ('warning', 'critical') THEN
		RAISE EXCEPTION 'invalid min_severity "%"', min_severity
			USING ERRCODE = 'invalid_parameter_value', HINT = 'warning (everything) or critical (failure, late, missing, stale).';
	END IF;
	INSERT INTO @extschema@.alert_route (channel, system, pipeline, kind, min_severity)
	VALUES (channel, system, pipeline, kind, min_severity) RETURNING route_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.add_route(text, text, text, text, text) IS
	'Send the alerts of a system / pipeline / kind (NULL: any) of at least a severity to a channel; returns the route id';
REVOKE ALL ON FUNCTION @extschema@.add_route(text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.drop_route(route_id integer)
	RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH d AS (DELETE FROM @extschema@.alert_route r WHERE r.route_id = $1 RETURNING 1)
	SELECT EXISTS (SELECT FROM d)
	$$;
COMMENT ON FUNCTION @extschema@.drop_route(integer) IS 'Remove a route; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.drop_route(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.silence(reason text, duration interval DEFAULT NULL,
		system text DEFAULT NULL, job text DEFAULT NULL, pipeline text DEFAULT NULL,
		kind text DEFAULT NULL, until timestamptz DEFAULT NULL, starts_at timestamptz DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
	f timestamptz := coalesce(starts_at, now());
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'a silence needs a reason' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Say why, e.g. kant.silence(''HEGEL maintenance, ticket OPS-123'', ''4 hours'', system => ''hegel'').';
	END IF;
	IF (duration IS NULL) = (until IS NULL) THEN
		RAISE EXCEPTION 'give a silence either a duration or an end (until)' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'kant.silence(reason, ''2 hours'', ...) or kant.silence(reason, until => ''2026-11-27 09:00+09'', ...).';
	END IF;
	IF coalesce(until, f + duration) <= f THEN
		RAISE EXCEPTION 'a silence must end after it starts' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF kind IS NOT NULL AND kind NOT IN ('failure', 'late', 'missing', 'predicted', 'stuck', 'stale') THEN
		RAISE EXCEPTION 'invalid kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value', HINT = 'One of failure, late, missing, predicted, stuck, stale; NULL for all.';
	END IF;
	IF system IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.system s WHERE s.name = silence.system) THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.system;';
	END IF;
	INSERT INTO @extschema@.silence (system, job, pipeline, kind, starts_at, ends_at, reason)
	VALUES (system, job, pipeline, kind, f, coalesce(until, f + duration), btrim(reason))
	RETURNING silence_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) IS
	'Mute alerts of a system / job / pipeline / kind (NULL: any) for a duration or until a time, with a reason; returns the silence id';
REVOKE ALL ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.unsilence(silence_id integer)
	RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH u AS (UPDATE @extschema@.silence s SET ends_at = greatest(s.starts_at + interval '1 microsecond', now())
			   WHERE s.silence_id = $1 AND s.ends_at > now() RETURNING 1)
	SELECT EXISTS (SELECT FROM u)
	$$;
COMMENT ON FUNCTION @extschema@.unsilence(integer) IS 'End a silence now (it is kept, for the record); false when it was not active';
REVOKE ALL ON FUNCTION @extschema@.unsilence(integer) FROM PUBLIC;

---------------------------------------------------------------------------
-- Checks
---------------------------------------------------------------------------

-- Duration statistics of jobs from their recent successful runs (index
-- job_run (job_id, started_at): a few rows per job, whatever the history).
CREATE FUNCTION @extschema@.job_durations(job_ids integer[], as_of timestamptz DEFAULT now(),
		runs integer DEFAULT NULL)
	RETURNS TABLE (job_id integer, samples integer, p50_seconds double precision,
		p90_seconds double precision, p95_seconds double precision)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT j.job_id, count(*)::integer,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY x.d),
		percentile_cont(0.9) WITHIN GROUP (ORDER BY x.d),
		percentile_cont(0.95) WITHIN GROUP (ORDER BY x.d)
	FROM unnest(job_ids) AS j(job_id)
	CROSS JOIN LATERAL (
		SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS d
		FROM @extschema@.job_run r
		WHERE r.job_id = j.job_id AND r.started_at <= as_of AND r.ended_at <= as_of
		  AND r.state::text = 'succeeded'
		ORDER BY r.started_at DESC
		LIMIT coalesce(runs, (SELECT s.history_runs FROM @extschema@._alert_settings() s))) x
	GROUP BY j.job_id
	$$;
COMMENT ON FUNCTION @extschema@.job_durations(integer[], timestamptz, integer) IS
	'Median, p90 and p95 duration (seconds) of jobs over their last successful runs before as_of (default: kant.alert_settings.history_runs of them)';

CREATE TYPE @extschema@.alert_condition AS (
	alert_key		text,
	kind			text,
	severity		text,
	system_id		integer,
	job_id			integer,
	slo_id			integer,
	business_date	date,
	summary			text,
	detail			jsonb,
	root_key		text
);
COMMENT ON TYPE @extschema@.alert_condition IS
	'A condition a check found at one instant: an alert''s key, kind, what it is about and, for a job folded under a failing upstream, the upstream''s key';

-- "how late": 1 h 05 min, 12 min, 40 s
CREATE FUNCTION @extschema@._human(seconds double precision)
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
		WHEN $1 IS NULL THEN NULL
		WHEN abs($1) >= 86400 THEN format('%s d %s h', trunc(abs($1) / 86400), trunc(abs($1)::numeric % 86400 / 3600))
		WHEN abs($1) >= 3600 THEN format('%s h %s min', trunc(abs($1) / 3600), lpad(trunc(abs($1)::numeric % 3600 / 60)::text, 2, '0'))
		WHEN abs($1) >= 60 THEN format('%s min', trunc(abs($1) / 60))
		ELSE format('%s s', round(abs($1))) END
	$$;
COMMENT ON FUNCTION @extschema@._human(double precision) IS 'internal: a duration for people';

/*
 * What is wrong at as_of, from the data kant holds.  Every query is bounded
 * by business date (the lookback window) or by what is open, so its cost
 * does not grow with history.  Runs are seen as they were at as_of (a run
 * that ended later is running; one that started later does not exist), so
 * a past night can be replayed.
 */
CREATE FUNCTION @extschema@.check_conditions(as_of timestamptz DEFAULT now())
	RETURNS SETOF @extschema@.alert_condition
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	st record;
	d0 date;
	d1 date;
BEGIN
	SELECT * INTO st FROM @extschema@._alert_settings();
	d0 := (as_of - st.lookback)::date - 1;
	d1 := as_of::date + 1;
	RETURN QUERY
	WITH seen AS MATERIALIZED (
		SELECT r.run_id, r.job_id, r.business_date, r.external_id, r.attempt, r.previous_external_id,
			r.started_at, r.error_message,
			CASE WHEN r.ended_at > as_of THEN NULL ELSE r.ended_at END AS ended_at,
			CASE WHEN r.ended_at > as_of THEN 'running'::@extschema@.run_state ELSE r.state END AS state
		FROM @extschema@.job_run r
		WHERE r.business_date BETWEEN d0 AND d1 AND (r.started_at IS NULL OR r.started_at <= as_of)
	), runs AS MATERIALIZED (
		-- an attempt is current unless a later attempt (Airflow's next try) or a
		-- retry (Glue's PreviousRunId) supersedes it: an up_for_retry try that
		-- was retried is not running
		SELECT r.*,
			r.attempt = max(r.attempt) OVER (PARTITION BY r.job_id, r.external_id)
			AND NOT EXISTS (SELECT FROM seen n WHERE n.job_id = r.job_id
							AND n.previous_external_id = r.external_id) AS is_current
		FROM seen r
	), day AS MATERIALIZED (
		SELECT r.job_id, r.business_date,
			bool_or(r.state::text IN ('succeeded', 'skipped')) AS done,
			bool_or(r.is_current AND NOT @extschema@.is_terminal(r.state)) AS active,
			(array_agg(r.run_id ORDER BY r.started_at DESC NULLS FIRST, r.attempt DESC))[1] AS last_run,
			greatest(count(*) FILTER (WHERE r.attempt = 1 AND r.previous_external_id IS NULL),
					 CASE WHEN count(*) > 0 THEN 1 ELSE 0 END) AS started_runs,
			min(r.started_at) FILTER (WHERE r.is_current AND NOT @extschema@.is_terminal(r.state)) AS active_since
		FROM runs r GROUP BY r.job_id, r.business_date
	), jobs AS (
		SELECT j.job_id, j.name, j.pipeline, j.dag_id, j.max_retries, sy.system_id, sy.name AS system,
			sy.time_zone AS system_zone
		FROM @extschema@.job j JOIN @extschema@.system sy ON sy.system_id = j.system_id
	), deadline AS (
		SELECT dy.job_id, dy.business_date,
			@extschema@.local_instant((dy.business_date + jd.deadline_offset_days) + jd.deadline_time, jd.time_zone) AS at
		FROM day dy JOIN @extschema@.job_deadline jd ON jd.job_id = dy.job_id
	),
	-- SLO days in the lookback window and in the prediction horizon
	slo_days AS MATERIALIZED (
		-- kant.slo_deadline(), inlined: one C call per SLO and date
		SELECT s.slo_id, s.name, s.pipeline, s.time_zone, g.bd::date AS business_date,
			@extschema@.local_instant((g.bd::date + s.deadline_offset_days) + s.deadline_time, s.time_zone) AS deadline
		FROM @extschema@.slo s
		CROSS JOIN generate_series(d0, d1, interval '1 day') AS g(bd)
		WHERE g.bd::date >= s.evaluate_from
		  AND @extschema@.local_instant((g.bd::date + s.deadline_offset_days) + s.deadline_time, s.time_zone)
			  BETWEEN as_of - st.lookback AND as_of + st.predict_horizon
		  AND (s.calendar IS NULL OR @extschema@.is_business_day(s.calendar, g.bd::date))
	), in_play AS (
		SELECT sd.slo_id, sd.business_date, sc.job_id, coalesce(dy.done, false) AS done,
			coalesce(dy.active, false) AS active, dy.active_since, dy.last_run
		FROM slo_days sd
		JOIN @extschema@.slo_scope sc ON sc.slo_id = sd.slo_id
		LEFT JOIN day dy ON dy.job_id = sc.job_id AND dy.business_date = sd.business_date
		WHERE dy.job_id IS NOT NULL
		   OR EXISTS (SELECT FROM @extschema@.expected_run x
					  WHERE x.job_id = sc.job_id AND x.business_date = sd.business_date)
	), durs AS MATERIALIZED (
		-- durations of every job not done, in one call (index scans of a few rows each)
		SELECT d.* FROM @extschema@.job_durations(ARRAY(
			SELECT dy.job_id FROM day dy WHERE NOT dy.done
			UNION SELECT p.job_id FROM in_play p WHERE NOT p.done), as_of, st.history_runs) d
	),
	-- failure: the last attempt failed or timed out, nothing runs, and no retry
	-- is still to come (retries left, within retry_wait, while the deadline holds)
	failure AS (
		SELECT 'failure' AS kind, 'critical' AS severity, j.system_id, j.job_id, NULL::integer AS slo_id,
			dy.business_date,
			format('%s/%s %s (attempt %s) for %s%s', j.system, j.name,
				   CASE WHEN l.state::text = 'timed_out' THEN 'timed out' ELSE 'failed' END, l.attempt, to_char(dy.business_date, 'YYYY-MM-DD'),
				   CASE WHEN l.error_message IS NOT NULL THEN ': ' || left(l.error_message, 200) ELSE '' END) AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'run', l.external_id, 'attempt', l.attempt, 'max_retries', j.max_retries, 'state', l.state::text,
				'error', left(l.error_message, 1000), 'ended_at', l.ended_at, 'deadline', dl.at,
				'time_zone', j.system_zone, 'dag_id', j.dag_id, 'restarts', nullif(rc.n, 0),
				'max_restarts', rp.max_attempts)) AS detail
		FROM day dy
		JOIN runs l ON l.run_id = dy.last_run
		JOIN jobs j ON j.job_id = dy.job_id
		LEFT JOIN deadline dl ON dl.job_id = dy.job_id AND dl.business_date = dy.business_date
		LEFT JOIN @extschema@.recovery_policy rp ON rp.job_id = dy.job_id
		LEFT JOIN LATERAL (
			SELECT count(*) FILTER (WHERE a.outcome = 'done') AS n,
				bool_or(a.target = l.external_id AND a.outcome = 'done') AS this_one
			FROM @extschema@.action_log a
			WHERE a.kind = 'recover' AND a.job_id = dy.job_id AND a.business_date = dy.business_date) rc ON true
		WHERE NOT dy.done AND NOT dy.active AND l.state::text IN ('failed', 'timed_out')
		  -- a retry is to come: Glue's own (MaxRetries), or kant's restart
		  -- (recovery policy), while its p90 still fits before the deadline
		  AND NOT (((j.max_retries IS NOT NULL AND l.attempt - 1 < j.max_retries)
					OR (rp.job_id IS NOT NULL AND coalesce(rc.n, 0) < rp.max_attempts))
				   AND l.ended_at > as_of - st.retry_wait - coalesce(rp.min_wait, '0')
				   AND (dl.at IS NULL OR as_of + make_interval(secs => coalesce(
						(SELECT d.p90_seconds FROM durs d WHERE d.job_id = dy.job_id), 0)) <= dl.at))
		  -- kant restarted this very run: the new one is not collected yet
		  AND NOT coalesce(rc.this_one, false)
	),
	-- missing: an expected run that has not started by the end of its grace period
	slots AS (
		SELECT x.job_id, x.business_date, x.slot_at, x.due_at,
			row_number() OVER (PARTITION BY x.job_id, x.business_date ORDER BY x.slot_at) AS slot_no
		FROM @extschema@.expected_run x
		WHERE x.business_date BETWEEN d0 AND d1
	), dag_started AS (
		-- Airflow starts a DAG's tasks itself: once any task of a DAG run has
		-- started, the others wait for it, they are not missing
		SELECT DISTINCT j.system_id, j.dag_id, dy.business_date
		FROM day dy JOIN jobs j ON j.job_id = dy.job_id
		WHERE j.dag_id IS NOT NULL
	), missing AS (
		-- one alert per Airflow DAG run that did not start (its first task)
		SELECT DISTINCT ON (coalesce(j.dag_id, j.job_id::text), j.system_id, s.business_date)
			'missing' AS kind, 'critical' AS severity, j.system_id, j.job_id, NULL::integer AS slo_id, s.business_date,
			CASE WHEN j.dag_id IS NULL
				THEN format('%s/%s has not started for %s: expected at %s (%s), grace ended %s ago', j.system, j.name,
				   to_char(s.business_date, 'YYYY-MM-DD'), to_char(s.slot_at AT TIME ZONE j.system_zone, 'MM-DD HH24:MI'), j.system_zone,
				   @extschema@._human(extract(epoch FROM as_of - s.due_at)))
				ELSE format('%s: DAG %s has not started for %s: expected at %s (%s), grace ended %s ago', j.system, j.dag_id,
				   to_char(s.business_date, 'YYYY-MM-DD'), to_char(s.slot_at AT TIME ZONE j.system_zone, 'MM-DD HH24:MI'), j.system_zone,
				   @extschema@._human(extract(epoch FROM as_of - s.due_at))) END AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'expected_at', s.slot_at, 'due_at', s.due_at, 'time_zone', j.system_zone, 'dag_id', j.dag_id)) AS detail
		FROM slots s
		JOIN jobs j ON j.job_id = s.job_id
		LEFT JOIN day dy ON dy.job_id = s.job_id AND dy.business_date = s.business_date
		WHERE s.due_at <= as_of AND s.due_at > as_of - st.lookback
		  AND s.slot_no > coalesce(dy.started_runs, 0)
		  AND NOT EXISTS (SELECT FROM dag_started g WHERE g.system_id = j.system_id AND g.dag_id = j.dag_id
						  AND g.business_date = s.business_date)
		ORDER BY coalesce(j.dag_id, j.job_id::text), j.system_id, s.business_date, s.slot_at, j.job_id
	),
	-- stuck: running for more than stuck_factor times its p95
	stuck AS (
		SELECT 'stuck' AS kind, 'warning' AS severity, j.system_id, j.job_id, NULL::integer AS slo_id, dy.business_date,
			format('%s/%s has been running for %s for %s, %s times its p95 of %s', j.system, j.name,
				   @extschema@._human(extract(epoch FROM as_of - dy.active_since)), to_char(dy.business_date, 'YYYY-MM-DD'),
				   round((extract(epoch FROM as_of - dy.active_since) / d.p95_seconds)::numeric, 1),
				   @extschema@._human(d.p95_seconds)) AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'running_since', dy.active_since, 'p95_seconds', round(d.p95_seconds::numeric, 1),
				'samples', d.samples, 'time_zone', j.system_zone, 'dag_id', j.dag_id)) AS detail
		FROM day dy
		JOIN jobs j ON j.job_id = dy.job_id
		JOIN durs d ON d.job_id = dy.job_id
		WHERE dy.active AND dy.active_since IS NOT NULL AND d.samples >= 5 AND d.p95_seconds > 0
		  AND extract(epoch FROM as_of - dy.active_since) > st.stuck_factor * d.p95_seconds
	),
	job_alerts AS (
		SELECT * FROM failure UNION ALL SELECT * FROM missing UNION ALL SELECT * FROM stuck
	),
	-- an alert of a job whose upstream (transitively) has an alert the same
	-- business date is folded under the upstream-most one (joins, not
	-- correlated subqueries: a long pipeline has many ancestors)
	alerted AS MATERIALIZED (
		SELECT DISTINCT a.job_id, a.business_date FROM job_alerts a
	), ancestry AS MATERIALIZED (
		WITH RECURSIVE up(job_id, upstream_job_id, depth) AS (
			SELECT d.job_id, d.upstream_job_id, 1 FROM @extschema@.job_dependency d
			WHERE d.job_id IN (SELECT a.job_id FROM alerted a)
			UNION
			SELECT up.job_id, d.upstream_job_id, up.depth + 1
			FROM up JOIN @extschema@.job_dependency d ON d.job_id = up.upstream_job_id
			WHERE up.depth < 1000
		)
		SELECT up.job_id, up.upstream_job_id, max(up.depth) AS depth FROM up GROUP BY 1, 2
	), waiting AS MATERIALIZED (
		-- a job with an upstream not done yet: not started is not missing then
		SELECT DISTINCT a.job_id, a.business_date
		FROM alerted a
		JOIN ancestry an ON an.job_id = a.job_id
		LEFT JOIN day u ON u.job_id = an.upstream_job_id AND u.business_date = a.business_date
		WHERE NOT coalesce(u.done, false)
	), primary_kinds AS MATERIALIZED (
		-- what is wrong in itself: failures, stuck runs, runs missing with
		-- nothing upstream to wait for
		SELECT a.job_id, a.business_date, min(a.kind) AS kind
		FROM job_alerts a
		LEFT JOIN waiting w ON w.job_id = a.job_id AND w.business_date = a.business_date
		WHERE NOT (a.kind = 'missing' AND w.job_id IS NOT NULL)
		GROUP BY a.job_id, a.business_date
	), alerted_up AS MATERIALIZED (
		SELECT a.job_id, a.business_date, an.upstream_job_id, an.depth
		FROM alerted a
		JOIN ancestry an ON an.job_id = a.job_id
		JOIN primary_kinds u ON u.job_id = an.upstream_job_id AND u.business_date = a.business_date
	), roots AS (
		-- the root: a primary alert upstream that has none upstream of its own
		SELECT DISTINCT ON (x.job_id, x.business_date) x.job_id, x.business_date, x.upstream_job_id AS root_job_id
		FROM alerted_up x
		WHERE NOT EXISTS (SELECT FROM alerted_up y
						  WHERE y.job_id = x.upstream_job_id AND y.business_date = x.business_date)
		ORDER BY x.job_id, x.business_date, x.depth DESC, x.upstream_job_id
	), folded AS (
		SELECT a.*,
			pk.kind || '/' || rj.system || '/' || rj.name || '/' || to_char(r.business_date, 'YYYY-MM-DD') AS root_key,
			w.job_id IS NOT NULL AS is_waiting
		FROM job_alerts a
		LEFT JOIN roots r ON r.job_id = a.job_id AND r.business_date = a.business_date
		LEFT JOIN primary_kinds pk ON pk.job_id = r.root_job_id AND pk.business_date = r.business_date
		LEFT JOIN jobs rj ON rj.job_id = r.root_job_id
		LEFT JOIN waiting w ON w.job_id = a.job_id AND w.business_date = a.business_date
	),
	late AS (
		SELECT 'late' AS kind, 'critical' AS severity, NULL::integer AS system_id, NULL::integer AS job_id,
			sd.slo_id, sd.business_date,
			format('%s for %s is late: %s of %s jobs not done %s the %s deadline (%s): %s',
				   sd.name, to_char(sd.business_date, 'YYYY-MM-DD'), count(*) FILTER (WHERE NOT p.done), count(*),
				   CASE WHEN as_of - sd.deadline < interval '1 minute' THEN 'at'
						ELSE @extschema@._human(extract(epoch FROM as_of - sd.deadline)) || ' after' END,
				   to_char(sd.deadline AT TIME ZONE sd.time_zone, 'HH24:MI'), sd.time_zone,
				   string_agg(j.system || '/' || j.name, ', ' ORDER BY j.system, j.name) FILTER (WHERE NOT p.done)) AS summary,
			jsonb_build_object('slo', sd.name, 'pipeline', sd.pipeline, 'deadline', sd.deadline,
				'time_zone', sd.time_zone, 'late_seconds', round(extract(epoch FROM as_of - sd.deadline)),
				'not_done', jsonb_agg(jsonb_build_object('system', j.system, 'job', j.name,
					'state', CASE WHEN p.active THEN 'running' WHEN p.last_run IS NULL THEN 'not started' ELSE 'failed' END)
					ORDER BY j.system, j.name) FILTER (WHERE NOT p.done),
				'systems', jsonb_agg(DISTINCT j.system)) AS detail
		FROM slo_days sd
		JOIN in_play p ON p.slo_id = sd.slo_id AND p.business_date = sd.business_date
		JOIN jobs j ON j.job_id = p.job_id
		WHERE sd.deadline <= as_of
		GROUP BY sd.slo_id, sd.name, sd.pipeline, sd.time_zone, sd.business_date, sd.deadline
		HAVING bool_or(NOT p.done)
	),
	-- predicted breach: before the deadline, the remaining jobs' p90 durations
	-- along declared dependencies (else from when each is scheduled or now)
	remaining AS MATERIALIZED (
		SELECT p.slo_id, p.business_date, p.job_id, p.active,
			CASE WHEN p.active THEN coalesce(p.active_since, as_of)
				 ELSE greatest(as_of, (SELECT min(x.slot_at) FROM @extschema@.expected_run x
									   WHERE x.job_id = p.job_id AND x.business_date = p.business_date
										 AND x.slot_at > as_of)) END AS base_start,
			coalesce(d.p90_seconds, 0) AS p90
		FROM in_play p
		JOIN slo_days sd ON sd.slo_id = p.slo_id AND sd.business_date = p.business_date AND sd.deadline > as_of
		LEFT JOIN durs d ON d.job_id = p.job_id
		WHERE NOT p.done
	), edges AS MATERIALIZED (
		-- declared dependencies between remaining jobs of the same SLO day
		SELECT r.slo_id, r.business_date, dep.upstream_job_id, r.job_id, r.base_start, r.p90
		FROM remaining r
		JOIN @extschema@.job_dependency dep ON dep.job_id = r.job_id
		JOIN remaining u ON u.slo_id = r.slo_id AND u.business_date = r.business_date
						AND u.job_id = dep.upstream_job_id
		WHERE NOT r.active
	), path AS (
		-- from the jobs nothing remaining holds up (and the running ones),
		-- along the edges: each job ends p90 after the later of its upstream's
		-- end and its own start; the day ends with the latest
		WITH RECURSIVE path(slo_id, business_date, job_id, est_end, depth) AS (
			SELECT r.slo_id, r.business_date, r.job_id,
				CASE WHEN r.active THEN greatest(as_of, r.base_start + make_interval(secs => r.p90))
					 ELSE r.base_start + make_interval(secs => r.p90) END, 0
			FROM remaining r
			WHERE r.active OR NOT EXISTS (SELECT FROM edges e WHERE e.slo_id = r.slo_id
										  AND e.business_date = r.business_date AND e.job_id = r.job_id)
			UNION ALL
			SELECT e.slo_id, e.business_date, e.job_id,
				greatest(p.est_end, e.base_start) + make_interval(secs => e.p90), p.depth + 1
			FROM path p
			JOIN edges e ON e.upstream_job_id = p.job_id AND e.slo_id = p.slo_id
						AND e.business_date = p.business_date
			WHERE p.depth < 1000
		)
		SELECT DISTINCT ON (path.slo_id, path.business_date) path.slo_id, path.business_date,
			path.job_id AS critical_job_id, path.est_end
		FROM path ORDER BY path.slo_id, path.business_date, path.est_end DESC
	), predicted AS (
		SELECT 'predicted' AS kind, 'warning' AS severity, NULL::integer AS system_id, NULL::integer AS job_id,
			sd.slo_id, sd.business_date,
			format('%s for %s is predicted to complete at %s, %s after its %s deadline (%s); critical: %s/%s',
				   sd.name, to_char(sd.business_date, 'YYYY-MM-DD'), to_char(pa.est_end AT TIME ZONE sd.time_zone, 'HH24:MI'),
				   @extschema@._human(extract(epoch FROM pa.est_end - sd.deadline)),
				   to_char(sd.deadline AT TIME ZONE sd.time_zone, 'HH24:MI'), sd.time_zone,
				   cj.system, cj.name) AS summary,
			jsonb_build_object('slo', sd.name, 'pipeline', sd.pipeline, 'deadline', sd.deadline,
				'time_zone', sd.time_zone, 'predicted_end', pa.est_end,
				'late_seconds', round(extract(epoch FROM pa.est_end - sd.deadline)),
				'critical', cj.system || '/' || cj.name,
				'remaining', (SELECT jsonb_agg(rj.system || '/' || rj.name ORDER BY rj.system, rj.name)
							  FROM remaining r JOIN jobs rj ON rj.job_id = r.job_id
							  WHERE r.slo_id = sd.slo_id AND r.business_date = sd.business_date),
				'systems', (SELECT jsonb_agg(DISTINCT rj.system) FROM remaining r JOIN jobs rj ON rj.job_id = r.job_id
							WHERE r.slo_id = sd.slo_id AND r.business_date = sd.business_date)) AS detail
		FROM path pa
		JOIN slo_days sd ON sd.slo_id = pa.slo_id AND sd.business_date = pa.business_date
		JOIN jobs cj ON cj.job_id = pa.critical_job_id
		WHERE pa.est_end > sd.deadline AND sd.deadline > as_of
	),
	-- stale collector: no successful collection within stale_after
	stale AS (
		SELECT 'stale' AS kind, 'critical' AS severity, s.system_id, NULL::integer AS job_id, NULL::integer AS slo_id,
			NULL::date AS business_date,
			CASE WHEN c.last_ok IS NULL THEN format('the %s collector of %s has never succeeded (last error: %s)',
												   s.kind, s.name, coalesce(c.last_error, 'none'))
				 ELSE format('the %s collector of %s last succeeded %s ago%s', s.kind, s.name,
							 @extschema@._human(extract(epoch FROM as_of - c.last_ok)),
							 CASE WHEN c.last_error IS NOT NULL THEN '; last error: ' || left(c.last_error, 300) ELSE '' END) END AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', s.name, 'last_success_at', c.last_ok,
				'last_error', left(c.last_error, 1000))) AS detail
		FROM @extschema@.system s
		CROSS JOIN LATERAL (
			SELECT max(x.ended_at) FILTER (WHERE x.error IS NULL AND x.ended_at <= as_of) AS last_ok,
				(array_agg(x.error ORDER BY x.started_at DESC))[1] AS last_error,
				count(*) AS n
			FROM @extschema@.collection x
			WHERE x.system_id = s.system_id AND x.started_at <= as_of
			  AND x.started_at > as_of - greatest(st.lookback, st.stale_after * 4)) c
		WHERE s.kind IN ('glue', 'airflow') AND c.n > 0
		  AND (c.last_ok IS NULL OR c.last_ok < as_of - st.stale_after)
	)
	SELECT f.kind || '/' || j.system || '/' || j.name || '/' || to_char(f.business_date, 'YYYY-MM-DD'),
		f.kind, f.severity, f.system_id, f.job_id, f.slo_id, f.business_date, f.summary, f.detail, f.root_key
	FROM folded f JOIN jobs j ON j.job_id = f.job_id
	-- a run not started while an upstream job is still on its way is waiting,
	-- not missing (the SLO's predicted and late alerts speak for the day)
	WHERE NOT (f.kind = 'missing' AND f.root_key IS NULL AND f.is_waiting)
	UNION ALL
	SELECT x.kind || '/slo:' || s.name || '/' || to_char(x.business_date, 'YYYY-MM-DD'),
		x.kind, x.severity, x.system_id, x.job_id, x.slo_id, x.business_date, x.summary, x.detail, NULL
	FROM (SELECT * FROM late UNION ALL SELECT * FROM predicted) x
	JOIN @extschema@.slo s ON s.slo_id = x.slo_id
	UNION ALL
	SELECT 'stale/' || sy.name, x.kind, x.severity, x.system_id, NULL, NULL, NULL, x.summary, x.detail, NULL
	FROM stale x JOIN @extschema@.system sy ON sy.system_id = x.system_id;
END
$$;
COMMENT ON FUNCTION @extschema@.check_conditions(timestamptz) IS
	'What is wrong at as_of (default now): failures (retry-aware), late SLO days, missing runs, predicted breaches, stuck runs, stale collectors; read-only (kant.run_checks() turns them into alerts)';

-- The Slack message of an alert event: a short plain text (notifications,
-- screen readers) and Block Kit blocks within Slack's limits.
CREATE FUNCTION @extschema@._slack_message(alert_id bigint, event text)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record;
	zone text;
	title text;
	icon text;
	link text;
	fields jsonb := '[]';
	blocks jsonb;
	blocked text;
	when_text text;
BEGIN
	SELECT x.*, sy.name AS system, coalesce(sy.display_name, sy.name) AS system_display,
		sy.kind AS system_kind, sy.region, sy.endpoint, sy.time_zone AS system_zone,
		j.name AS job, j.dag_id, s.name AS slo
	INTO a
	FROM @extschema@.alert x
	LEFT JOIN @extschema@.system sy ON sy.system_id = x.system_id
	LEFT JOIN @extschema@.job j ON j.job_id = x.job_id
	LEFT JOIN @extschema@.slo s ON s.slo_id = x.slo_id
	WHERE x.alert_id = _slack_message.alert_id;
	zone := coalesce(a.detail->>'time_zone', a.system_zone, 'UTC');
	icon := CASE WHEN event = 'resolved' THEN ':white_check_mark:'
				 ELSE CASE a.kind WHEN 'failure' THEN ':x:' WHEN 'late' THEN ':alarm_clock:'
					  WHEN 'missing' THEN ':ghost:' WHEN 'predicted' THEN ':crystal_ball:'
					  WHEN 'stuck' THEN ':hourglass_flowing_sand:' ELSE ':satellite_antenna:' END END;
	title := CASE event WHEN 'resolved' THEN 'Resolved: ' WHEN 'reminder' THEN 'Still open: ' ELSE '' END
		|| CASE a.kind WHEN 'failure' THEN 'Job failed' WHEN 'late' THEN 'SLO missed: not done by the deadline'
				WHEN 'missing' THEN 'Expected run did not start' WHEN 'predicted' THEN 'SLO breach predicted'
				WHEN 'stuck' THEN 'Run stuck' ELSE 'Collector stale' END
		|| coalesce(' — ' || coalesce(a.slo, a.system_display || coalesce(' ' || a.job, '')), '');
	fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*' ||
		CASE WHEN a.slo IS NOT NULL THEN 'SLO' ELSE 'System' END || '*' || chr(10) ||
		coalesce(a.slo, a.system_display));
	IF a.job IS NOT NULL THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Job*' || chr(10) || '`' || a.job || '`');
	END IF;
	IF a.business_date IS NOT NULL THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Business date*' || chr(10) || to_char(a.business_date, 'YYYY-MM-DD'));
	END IF;
	IF a.detail ? 'deadline' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Deadline*' || chr(10) ||
			to_char((a.detail->>'deadline')::timestamptz AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI') || ' ' || zone);
	END IF;
	IF a.kind = 'late' AND event <> 'resolved' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Late by*' || chr(10) ||
			@extschema@._human((a.detail->>'late_seconds')::double precision));
	ELSIF a.kind = 'predicted' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Predicted end*' || chr(10) ||
			to_char((a.detail->>'predicted_end')::timestamptz AT TIME ZONE zone, 'HH24:MI') || ' (' ||
			@extschema@._human((a.detail->>'late_seconds')::double precision) || ' late)');
	END IF;
	IF a.detail ? 'attempt' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Attempt*' || chr(10) ||
			(a.detail->>'attempt') || coalesce(' of ' || ((a.detail->>'max_retries')::integer + 1), ''));
	END IF;
	IF a.detail ? 'restarts' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Recovery*' || chr(10) ||
			format('kant restarted it (%s/%s)', a.detail->>'restarts', coalesce(a.detail->>'max_restarts', '?')));
	END IF;
	SELECT string_agg(coalesce(j.name, d.alert_key), ', ' ORDER BY d.alert_id) INTO blocked
	FROM @extschema@.alert d LEFT JOIN @extschema@.job j ON j.job_id = d.job_id
	WHERE d.folded_into = a.alert_id AND d.status = 'open';
	link := CASE
		WHEN a.system_kind = 'glue' AND a.job IS NOT NULL AND a.region IS NOT NULL THEN
			format('https://%s.console.aws.amazon.com/gluestudio/home?region=%s#/editor/job/%s/runs',
				   a.region, a.region, replace(a.job, ' ', '%20'))
		WHEN a.system_kind = 'airflow' AND a.dag_id IS NOT NULL AND a.endpoint IS NOT NULL THEN
			rtrim(a.endpoint, '/') || '/dags/' || a.dag_id || '/grid'
		END;
	when_text := CASE event WHEN 'resolved' THEN 'resolved ' || to_char(a.resolved_at AT TIME ZONE zone, 'MM-DD HH24:MI')
		|| coalesce(' (' || a.resolution || ')', '') ELSE 'open since ' || to_char(a.opened_at AT TIME ZONE zone, 'MM-DD HH24:MI') END;
	blocks := jsonb_build_array(
		jsonb_build_object('type', 'header', 'text', jsonb_build_object('type', 'plain_text',
			'text', left(title, 150), 'emoji', true)),
		jsonb_build_object('type', 'section', 'text', jsonb_build_object('type', 'mrkdwn',
			'text', left(icon || ' ' || CASE WHEN event = 'resolved' THEN coalesce(initcap(a.resolution) || '. ', '') ELSE '' END
				|| a.summary, 3000)),
			'fields', fields));
	IF blocked IS NOT NULL AND event <> 'resolved' THEN
		blocks := blocks || jsonb_build_object('type', 'section', 'text', jsonb_build_object('type', 'mrkdwn',
			'text', left(':no_entry: Blocked by this: ' || blocked, 3000)));
	END IF;
	IF link IS NOT NULL THEN
		blocks := blocks || jsonb_build_object('type', 'section', 'text', jsonb_build_object('type', 'mrkdwn',
			'text', '<' || link || '|Open in ' || CASE a.system_kind WHEN 'glue' THEN 'the AWS Glue console' ELSE 'Airflow' END || '>'));
	END IF;
	blocks := blocks || jsonb_build_object('type', 'context', 'elements', jsonb_build_array(
		jsonb_build_object('type', 'mrkdwn', 'text', left('kant · ' || a.alert_key || ' · ' || when_text, 3000))));
	RETURN jsonb_build_object(
		'text', left(CASE event WHEN 'resolved' THEN '[resolved] ' WHEN 'reminder' THEN '[still open] ' ELSE '' END
			|| a.summary || CASE WHEN blocked IS NOT NULL AND event <> 'resolved' THEN ' — blocks ' || blocked ELSE '' END, 3000),
		'blocks', blocks,
		'unfurl_links', false);
END
$$;
COMMENT ON FUNCTION @extschema@._slack_message(bigint, text) IS
	'internal: the Slack message (text and Block Kit blocks) of an alert''s opened, reminder or resolved event';

/*
 * Turn the conditions into alerts and queue their messages, in this
 * transaction: an alert opens once per key, is updated while it lasts,
 * reminded every reminder_interval, resolved when its condition clears (one
 * message, if one was sent about it).  Silenced alerts are kept but not sent;
 * a job's alert under a failing upstream is folded into the upstream's.
 */
CREATE FUNCTION @extschema@.run_checks(as_of timestamptz DEFAULT now(),
		OUT opened integer, OUT resolved integer, OUT open_now integer, OUT queued integer)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	st record;
	fs @extschema@.alert_condition[];
	keys text[];
	gone bigint[];
	d0 date;
BEGIN
	-- one check at a time: two at once would open the same alert twice
	PERFORM pg_advisory_xact_lock(1801547383, 0);
	SELECT * INTO st FROM @extschema@._alert_settings();
	d0 := (as_of - st.lookback)::date - 1;
	fs := ARRAY(SELECT c FROM @extschema@.check_conditions(as_of) c);
	keys := ARRAY(SELECT f.alert_key FROM unnest(fs) f);

	WITH up AS (
		INSERT INTO @extschema@.alert AS a (alert_key, kind, severity, system_id, job_id, slo_id,
			business_date, status, summary, detail, opened_at, last_seen_at)
		SELECT f.alert_key, f.kind, f.severity, f.system_id, f.job_id, f.slo_id, f.business_date,
			'open', f.summary, f.detail, as_of, as_of
		FROM unnest(fs) f
		ON CONFLICT (alert_key) DO UPDATE SET
			summary = excluded.summary, detail = excluded.detail, severity = excluded.severity,
			last_seen_at = as_of, status = 'open',
			opened_at = CASE WHEN a.status = 'resolved' THEN as_of ELSE a.opened_at END,
			notified_at = CASE WHEN a.status = 'resolved' THEN NULL ELSE a.notified_at END,
			resolved_at = NULL, resolution = NULL
		RETURNING a.notified_at IS NULL AND a.opened_at = as_of AS new
	)
	SELECT count(*) FILTER (WHERE up.new) INTO opened FROM up;

	-- folding under the upstream-most alert
	UPDATE @extschema@.alert a SET folded_into = r.alert_id
	FROM unnest(fs) f LEFT JOIN @extschema@.alert r ON r.alert_key = f.root_key
	WHERE a.alert_key = f.alert_key AND a.folded_into IS DISTINCT FROM r.alert_id;

	-- silences in force at as_of
	UPDATE @extschema@.alert a SET silence_id = m.silence_id
	FROM (
		SELECT x.alert_id, (
			SELECT s.silence_id FROM @extschema@.silence s
			WHERE s.starts_at <= as_of AND s.ends_at > as_of
			  AND (s.kind IS NULL OR s.kind = x.kind)
			  AND (s.system IS NULL OR s.system = sy.name OR x.detail->'systems' ? s.system)
			  AND (s.job IS NULL OR s.job = j.name)
			  AND (s.pipeline IS NULL OR s.pipeline = coalesce(j.pipeline, sl.pipeline))
			ORDER BY s.ends_at DESC LIMIT 1) AS silence_id
		FROM @extschema@.alert x
		LEFT JOIN @extschema@.system sy ON sy.system_id = x.system_id
		LEFT JOIN @extschema@.job j ON j.job_id = x.job_id
		LEFT JOIN @extschema@.slo sl ON sl.slo_id = x.slo_id
		WHERE x.status = 'open') m
	WHERE a.alert_id = m.alert_id AND a.silence_id IS DISTINCT FROM m.silence_id;

	-- what cleared
	WITH r AS (
		UPDATE @extschema@.alert a SET status = 'resolved', resolved_at = as_of,
			resolution = CASE
				WHEN a.business_date < d0
					OR (a.kind = 'late' AND (a.detail->>'deadline')::timestamptz <= as_of - st.lookback)
					OR (a.kind = 'missing' AND (a.detail->>'due_at')::timestamptz <= as_of - st.lookback)
					THEN 'no longer checked (older than the lookback)'
				WHEN a.kind = 'predicted' AND ('late/slo:' || sl.name || '/' || to_char(a.business_date, 'YYYY-MM-DD')) = ANY (keys)
					THEN 'the deadline passed (see the late alert)'
				WHEN a.kind = 'predicted' THEN 'back on track'
				WHEN a.kind = 'failure' THEN 'retried or succeeded'
				WHEN a.kind = 'late' THEN 'complete'
				WHEN a.kind = 'missing' THEN 'the run started'
				WHEN a.kind = 'stuck' THEN 'the run ended'
				ELSE 'the collector succeeded again' END,
			folded_into = NULL
		FROM @extschema@.alert o LEFT JOIN @extschema@.slo sl ON sl.slo_id = o.slo_id
		WHERE o.alert_id = a.alert_id AND a.status = 'open'
		  AND NOT EXISTS (SELECT FROM unnest(keys) AS k(key) WHERE k.key = a.alert_key)
		RETURNING a.alert_id
	)
	SELECT count(*), array_agg(r.alert_id) INTO resolved, gone FROM r;

	-- the messages: new (or unmuted, or no longer folded) alerts, reminders, resolutions
	-- (the open alerts by their partial index, and the ones just resolved by
	-- id: never a scan of years of resolved alerts)
	WITH ev AS (
		SELECT a.alert_id, CASE WHEN a.notified_at IS NULL THEN 'opened' ELSE 'reminder' END AS event
		FROM @extschema@.alert a
		WHERE a.status = 'open' AND a.silence_id IS NULL AND a.folded_into IS NULL
		  AND (a.notified_at IS NULL
			   OR (a.severity = 'critical' AND a.notified_at <= as_of - st.reminder_interval
				   AND a.notifications <= st.max_reminders))
		UNION ALL
		SELECT a.alert_id, 'resolved'
		FROM @extschema@.alert a
		WHERE a.alert_id = ANY (coalesce(gone, '{}')) AND a.silence_id IS NULL
		  AND a.notified_at IS NOT NULL
		  AND a.resolution NOT LIKE 'the deadline passed%' AND a.resolution NOT LIKE 'no longer checked%'
	), marked AS (
		UPDATE @extschema@.alert a SET notified_at = as_of, notifications = a.notifications + 1
		FROM ev WHERE a.alert_id = ev.alert_id
		RETURNING a.alert_id, a.alert_key, a.kind, a.severity, a.system_id, a.job_id, a.slo_id, a.detail, ev.event
	), q AS (
		INSERT INTO @extschema@.notification (channel, alert_id, alert_key, event, payload, checked_at)
		SELECT ch.channel, m.alert_id, m.alert_key, m.event, @extschema@._slack_message(m.alert_id, m.event), as_of
		FROM marked m
		LEFT JOIN @extschema@.system sy ON sy.system_id = m.system_id
		LEFT JOIN @extschema@.job j ON j.job_id = m.job_id
		LEFT JOIN @extschema@.slo sl ON sl.slo_id = m.slo_id
		CROSS JOIN LATERAL (
			SELECT DISTINCT r.channel FROM @extschema@.alert_route r
			WHERE (r.kind IS NULL OR r.kind = m.kind)
			  AND (r.system IS NULL OR r.system = sy.name OR m.detail->'systems' ? r.system)
			  AND (r.pipeline IS NULL OR r.pipeline = coalesce(j.pipeline, sl.pipeline))
			  AND (r.min_severity = 'warning' OR m.severity = 'critical')) ch
		ORDER BY m.alert_id, ch.channel
		RETURNING 1
	)
	SELECT count(*) INTO queued FROM q;

	SELECT count(*) INTO open_now FROM @extschema@.alert a WHERE a.status = 'open';
END
$$;
COMMENT ON FUNCTION @extschema@.run_checks(timestamptz) IS
	'Run the checks at as_of (default now): open, update, fold, silence and resolve alerts, and queue their Slack messages in kant.notification (sent by kant.deliver_notifications)';
REVOKE ALL ON FUNCTION @extschema@.run_checks(timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@._post_json(urls text[], bodies text[])
	RETURNS TABLE (ord integer, status integer, retry_after_seconds integer, body text, error text)
	AS 'MODULE_PATHNAME', 'kant_post_json'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._post_json(text[], text[]) IS
	'internal: POST each JSON body to its URL at once (env:NAME reads the URL from the server environment), no retries; each outcome';
REVOKE ALL ON FUNCTION @extschema@._post_json(text[], text[]) FROM PUBLIC;

/*
 * Deliver the outbox: each round posts the oldest pending message of every
 * channel that is due (Retry-After, backoff, min_interval) at once, records
 * the outcomes and commits, so a crash re-sends at most the round in flight
 * (at least once; the message carries its alert key).  A channel waits while
 * its oldest message waits: order per channel holds.  2xx: sent; 429: again
 * after Retry-After; 5xx, timeouts, connection failures: again with
 * exponential backoff, until max_attempts; other 4xx (invalid_payload,
 * no_service, channel_not_found, ...): failed for good, with Slack's answer.
 *
 * A procedure, for its COMMITs: CALL it outside a transaction block.  Not
 * SECURITY DEFINER and without SET (both forbid COMMIT): kant's objects and
 * the functions it calls are schema-qualified; operators are built-in ones on
 * built-in types (pg_catalog is searched first unless a caller's search_path
 * lists it later).
 */
CREATE PROCEDURE @extschema@.deliver_notifications(max_seconds double precision DEFAULT 50)
	LANGUAGE plpgsql
	AS $$
DECLARE
	t0 timestamptz := pg_catalog.clock_timestamp();
	st record;
	ids bigint[];
	urls text[];
	bodies text[];
	chans text[];
	res record;
	next_due timestamptz;
BEGIN
	IF max_seconds IS NULL OR max_seconds < 0 THEN
		RAISE EXCEPTION 'max_seconds must be >= 0' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- one deliverer at a time (a session lock: COMMIT would release a transaction's)
	IF NOT pg_catalog.pg_try_advisory_lock(1801547383, 1) THEN
		RAISE NOTICE 'kant: another kant.deliver_notifications() is running';
		RETURN;
	END IF;
	SELECT * INTO st FROM @extschema@._alert_settings();
	LOOP
		SELECT pg_catalog.array_agg(h.notification_id ORDER BY h.channel),
			pg_catalog.array_agg(CASE WHEN c.from_env THEN 'env:' || c.webhook_url ELSE c.webhook_url END ORDER BY h.channel),
			pg_catalog.array_agg(h.payload::text ORDER BY h.channel),
			pg_catalog.array_agg(h.channel ORDER BY h.channel)
		INTO ids, urls, bodies, chans
		FROM (SELECT DISTINCT ON (n.channel) n.notification_id, n.channel, n.payload, n.next_attempt_at
			  FROM @extschema@.notification n WHERE n.status = 'pending'
			  ORDER BY n.channel, n.notification_id) h
		JOIN @extschema@.channel c ON c.name = h.channel
		WHERE h.next_attempt_at <= pg_catalog.clock_timestamp()
		  AND (c.last_sent_at IS NULL
			   OR c.last_sent_at + c.min_interval <= pg_catalog.clock_timestamp());
		IF ids IS NULL THEN
			SELECT pg_catalog.min(greatest(h.next_attempt_at,
					   c.last_sent_at + c.min_interval)) INTO next_due
			FROM (SELECT DISTINCT ON (n.channel) n.channel, n.next_attempt_at
				  FROM @extschema@.notification n WHERE n.status = 'pending'
				  ORDER BY n.channel, n.notification_id) h
			JOIN @extschema@.channel c ON c.name = h.channel;
			EXIT WHEN next_due IS NULL
				OR next_due > t0 + pg_catalog.make_interval(secs => max_seconds);
			PERFORM pg_catalog.pg_sleep(least(5, greatest(0.01,
				pg_catalog.date_part('epoch', next_due - pg_catalog.clock_timestamp()))));
			CONTINUE;
		END IF;
		FOR res IN SELECT * FROM @extschema@._post_json(urls, bodies) LOOP
			UPDATE @extschema@.notification n SET
				attempts = n.attempts + 1,
				http_status = res.status,
				status = CASE
					WHEN res.status BETWEEN 200 AND 299 THEN 'sent'
					WHEN res.status = 429 OR res.status >= 500 OR res.status IS NULL THEN
						CASE WHEN n.attempts + 1 >= st.max_attempts THEN 'failed' ELSE 'pending' END
					ELSE 'failed' END,
				sent_at = CASE WHEN res.status BETWEEN 200 AND 299 THEN pg_catalog.clock_timestamp() END,
				next_attempt_at = CASE
					WHEN res.status = 429 THEN pg_catalog.clock_timestamp()
						+ pg_catalog.make_interval(secs => coalesce(res.retry_after_seconds, 30))
					WHEN res.status >= 500 OR res.status IS NULL THEN pg_catalog.clock_timestamp()
						+ pg_catalog.make_interval(secs => least(3600,
							5 * pg_catalog.power(2, n.attempts) * (0.5 + pg_catalog.random() / 2)))
					ELSE n.next_attempt_at END,
				last_error = CASE
					WHEN res.status BETWEEN 200 AND 299 THEN NULL
					WHEN n.attempts + 1 >= st.max_attempts
						 AND (res.status = 429 OR res.status >= 500 OR res.status IS NULL)
						THEN pg_catalog.format('gave up after %s attempts: %s', n.attempts + 1,
							coalesce(res.error, 'HTTP ' || res.status || coalesce(': ' || res.body, '')))
					WHEN res.status = 429 THEN pg_catalog.format('HTTP 429 (rate limited), Retry-After %s s', res.retry_after_seconds)
					ELSE coalesce(res.error, 'HTTP ' || res.status || coalesce(': ' || res.body, '')) END
			WHERE n.notification_id = ids[res.ord];
		END LOOP;
		UPDATE @extschema@.channel c SET last_sent_at = pg_catalog.clock_timestamp()
		WHERE c.name = ANY (chans);
		COMMIT;
		EXIT WHEN pg_catalog.clock_timestamp() - t0
			> pg_catalog.make_interval(secs => max_seconds);
	END LOOP;
	PERFORM pg_catalog.pg_advisory_unlock(1801547383, 1);
END
$$;
COMMENT ON PROCEDURE @extschema@.deliver_notifications(double precision) IS
	'Send queued Slack messages (CALL, outside a transaction block): at least once, in order per channel, at most one per channel''s min_interval; 429 waits for Retry-After, 5xx and timeouts back off, other 4xx fail for good with Slack''s answer; returns after max_seconds';
REVOKE ALL ON PROCEDURE @extschema@.deliver_notifications(double precision) FROM PUBLIC;

CREATE FUNCTION @extschema@._cron_unjob(job_name text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF to_regclass('cron.job') IS NULL
	   OR NOT EXISTS (SELECT FROM cron.job WHERE jobname = job_name AND username = current_user) THEN
		RETURN false;
	END IF;
	PERFORM cron.unschedule(job_name);
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@._cron_unjob(text) IS 'internal: remove a named pg_cron job of the current user; false when there was none';
REVOKE ALL ON FUNCTION @extschema@._cron_unjob(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.schedule_checks(checks text DEFAULT '*/5 * * * *', delivery text DEFAULT '* * * * *')
	RETURNS bigint[]
	LANGUAGE sql VOLATILE
	AS $$
	SELECT ARRAY[@extschema@._cron_job('kant-checks', checks, 'SELECT opened, resolved, open_now, queued FROM kant.run_checks()'),
				 @extschema@._cron_job('kant-deliver', delivery, 'CALL kant.deliver_notifications(50)')]
	$$;
COMMENT ON FUNCTION @extschema@.schedule_checks(text, text) IS
	'Create or update the pg_cron jobs kant-checks (kant.run_checks(), default every 5 minutes) and kant-deliver (CALL kant.deliver_notifications(), default every minute); returns their ids';
REVOKE ALL ON FUNCTION @extschema@.schedule_checks(text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_checks()
	RETURNS boolean
	LANGUAGE sql VOLATILE
	AS $$
	SELECT bool_or(removed) FROM (VALUES (@extschema@._cron_unjob('kant-checks')),
										 (@extschema@._cron_unjob('kant-deliver'))) AS v(removed)
	$$;
COMMENT ON FUNCTION @extschema@.unschedule_checks() IS
	'Remove the pg_cron jobs kant-checks and kant-deliver; false when there were none';
REVOKE ALL ON FUNCTION @extschema@.unschedule_checks() FROM PUBLIC;

---------------------------------------------------------------------------
-- Views
---------------------------------------------------------------------------

CREATE VIEW @extschema@.open_alerts AS
SELECT a.alert_id, a.kind, a.severity, sy.name AS system, j.name AS job, s.name AS slo, a.business_date,
	a.summary, a.opened_at, round(extract(epoch FROM pg_catalog.now() - a.opened_at))::bigint AS open_seconds,
	f.alert_key AS folded_into, si.reason AS silenced_because, si.ends_at AS silenced_until,
	a.notified_at, a.notifications, a.alert_key, a.detail
FROM @extschema@.alert a
LEFT JOIN @extschema@.system sy ON sy.system_id = a.system_id
LEFT JOIN @extschema@.job j ON j.job_id = a.job_id
LEFT JOIN @extschema@.slo s ON s.slo_id = a.slo_id
LEFT JOIN @extschema@.alert f ON f.alert_id = a.folded_into
LEFT JOIN @extschema@.silence si ON si.silence_id = a.silence_id
WHERE a.status = 'open';
COMMENT ON VIEW @extschema@.open_alerts IS 'Alerts open now, with what folds or silences them';
COMMENT ON COLUMN @extschema@.open_alerts.alert_id IS 'the alert';
COMMENT ON COLUMN @extschema@.open_alerts.kind IS 'failure, late, missing, predicted, stuck or stale';
COMMENT ON COLUMN @extschema@.open_alerts.severity IS 'critical or warning';
COMMENT ON COLUMN @extschema@.open_alerts.system IS 'system (job and stale alerts)';
COMMENT ON COLUMN @extschema@.open_alerts.job IS 'job (job alerts)';
COMMENT ON COLUMN @extschema@.open_alerts.slo IS 'SLO (late and predicted)';
COMMENT ON COLUMN @extschema@.open_alerts.business_date IS 'business date';
COMMENT ON COLUMN @extschema@.open_alerts.summary IS 'what and why';
COMMENT ON COLUMN @extschema@.open_alerts.opened_at IS 'when it was first seen';
COMMENT ON COLUMN @extschema@.open_alerts.open_seconds IS 'how long it has been open';
COMMENT ON COLUMN @extschema@.open_alerts.folded_into IS 'key of the upstream alert it is sent with, or NULL';
COMMENT ON COLUMN @extschema@.open_alerts.silenced_because IS 'the reason of the silence muting it, or NULL';
COMMENT ON COLUMN @extschema@.open_alerts.silenced_until IS 'when that silence ends';
COMMENT ON COLUMN @extschema@.open_alerts.notified_at IS 'when a message about it was last queued';
COMMENT ON COLUMN @extschema@.open_alerts.notifications IS 'messages queued about it';
COMMENT ON COLUMN @extschema@.open_alerts.alert_key IS 'its stable key';
COMMENT ON COLUMN @extschema@.open_alerts.detail IS 'the facts behind it';

CREATE VIEW @extschema@.notification_outbox AS
SELECT n.notification_id, n.channel, n.event, n.alert_key, n.status, n.attempts, n.created_at,
	n.next_attempt_at, n.sent_at, n.http_status, n.last_error, n.payload->>'text' AS text
FROM @extschema@.notification n;
COMMENT ON VIEW @extschema@.notification_outbox IS
	'Every queued Slack message and how its delivery went: pending (with when it is tried next), sent, or failed for good with the reason';
COMMENT ON COLUMN @extschema@.notification_outbox.notification_id IS 'the message';
COMMENT ON COLUMN @extschema@.notification_outbox.channel IS 'the channel';
COMMENT ON COLUMN @extschema@.notification_outbox.event IS 'opened, reminder or resolved';
COMMENT ON COLUMN @extschema@.notification_outbox.alert_key IS 'the alert';
COMMENT ON COLUMN @extschema@.notification_outbox.status IS 'pending, sent or failed';
COMMENT ON COLUMN @extschema@.notification_outbox.attempts IS 'delivery attempts';
COMMENT ON COLUMN @extschema@.notification_outbox.created_at IS 'when it was queued';
COMMENT ON COLUMN @extschema@.notification_outbox.next_attempt_at IS 'not tried again before';
COMMENT ON COLUMN @extschema@.notification_outbox.sent_at IS 'when Slack accepted it';
COMMENT ON COLUMN @extschema@.notification_outbox.http_status IS 'HTTP status of the last attempt';
COMMENT ON COLUMN @extschema@.notification_outbox.last_error IS 'Slack''s answer or the transport error (host only)';
COMMENT ON COLUMN @extschema@.notification_outbox.text IS 'the message''s plain text';

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
COMMENT ON COLUMN @extschema@.bi_alert_daily.kind IS 'failure, late, missing, predicted, stuck or stale';
COMMENT ON COLUMN @extschema@.bi_alert_daily.severity IS 'critical or warning';
COMMENT ON COLUMN @extschema@.bi_alert_daily.system IS 'system (for SLO alerts, the systems of its jobs)';
COMMENT ON COLUMN @extschema@.bi_alert_daily.slo IS 'SLO (late and predicted), else empty';
COMMENT ON COLUMN @extschema@.bi_alert_daily.alerts IS 'alerts opened';
COMMENT ON COLUMN @extschema@.bi_alert_daily.resolved IS 'of those, resolved';
COMMENT ON COLUMN @extschema@.bi_alert_daily.notified IS 'of those, sent at least once';
COMMENT ON COLUMN @extschema@.bi_alert_daily.folded_or_silenced IS 'of those, folded under an upstream or silenced (last state)';
COMMENT ON COLUMN @extschema@.bi_alert_daily.messages IS 'messages queued about them (opened, reminders, resolved)';
COMMENT ON COLUMN @extschema@.bi_alert_daily.mean_minutes_open IS 'mean minutes from open to resolved, of the resolved ones';

REVOKE ALL ON FUNCTION @extschema@.check_conditions(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._slack_message(bigint, text) FROM PUBLIC;

---------------------------------------------------------------------------
-- Gates: may a downstream start?  kant_gate_ready() for Composer's
-- SqlSensor; kant.trigger_ready_gates() starts the downstream DAG once.
---------------------------------------------------------------------------

CREATE TABLE @extschema@.gate (
	gate_id			integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name			text NOT NULL UNIQUE CHECK (name <> '' AND name = btrim(name) AND length(name) <= 200),
	pipeline		text,
	downstream_system_id integer REFERENCES @extschema@.system ON DELETE CASCADE,
	downstream_dag_id text,
	stale_after		interval NOT NULL DEFAULT '2 hours' CHECK (stale_after > '0'),
	when_stale		text NOT NULL DEFAULT 'closed' CHECK (when_stale IN ('closed', 'open')),
	condition		text,
	lookback_days	integer NOT NULL DEFAULT 2 CHECK (lookback_days BETWEEN 0 AND 31),
	description		text,
	created_at		timestamptz NOT NULL DEFAULT now(),
	CHECK ((downstream_system_id IS NULL) = (downstream_dag_id IS NULL))
);
COMMENT ON TABLE @extschema@.gate IS
	'Gates: a downstream (an Airflow DAG) may start for business date d once every upstream job (a pipeline''s and/or listed jobs, any system) has succeeded for d';
COMMENT ON COLUMN @extschema@.gate.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.gate.name IS 'name Composer''s sensor asks for';
COMMENT ON COLUMN @extschema@.gate.pipeline IS 'upstream: the jobs of this pipeline (and those in kant.gate_job)';
COMMENT ON COLUMN @extschema@.gate.downstream_system_id IS 'the Airflow system of the DAG to trigger, or NULL (a sensor polls instead)';
COMMENT ON COLUMN @extschema@.gate.downstream_dag_id IS 'the DAG kant.trigger_ready_gates() starts once per business date';
COMMENT ON COLUMN @extschema@.gate.stale_after IS 'an upstream system whose last successful collection is older is stale';
COMMENT ON COLUMN @extschema@.gate.when_stale IS 'closed (default): stale data keeps the gate shut; open: staleness is ignored';
COMMENT ON COLUMN @extschema@.gate.condition IS 'hook for data-quality checks: a function (gate text, business_date date) returning boolean that must also be true';
COMMENT ON COLUMN @extschema@.gate.lookback_days IS 'kant.trigger_ready_gates() considers business dates this many days back';
COMMENT ON COLUMN @extschema@.gate.description IS 'free text';
COMMENT ON COLUMN @extschema@.gate.created_at IS 'when it was created';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gate', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.gate', 'gate_id')::pg_catalog.regclass, '');

CREATE TABLE @extschema@.gate_job (
	gate_id			integer NOT NULL REFERENCES @extschema@.gate ON DELETE CASCADE,
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	PRIMARY KEY (gate_id, job_id)
);
COMMENT ON TABLE @extschema@.gate_job IS 'Upstream jobs a gate waits for besides its pipeline''s';
COMMENT ON COLUMN @extschema@.gate_job.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.gate_job.job_id IS 'an upstream job';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gate_job', '');

CREATE TABLE @extschema@.action_log (
	action_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	at				timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind			text NOT NULL CHECK (kind IN ('trigger', 'recover')),
	gate_id			integer REFERENCES @extschema@.gate ON DELETE CASCADE,
	job_id			integer REFERENCES @extschema@.job ON DELETE CASCADE,
	business_date	date NOT NULL,
	system_id		integer REFERENCES @extschema@.system ON DELETE CASCADE,
	target			text NOT NULL,
	outcome			text NOT NULL CHECK (outcome IN ('done', 'already', 'failed', 'dry_run', 'skipped')),
	http_status		integer,
	detail			text
);
CREATE UNIQUE INDEX action_log_trigger_once ON @extschema@.action_log (gate_id, business_date)
	WHERE kind = 'trigger' AND outcome IN ('done', 'already');
-- a failed run is restarted at most once, whoever asks and however often
CREATE UNIQUE INDEX action_log_recover_once ON @extschema@.action_log (job_id, target)
	WHERE kind = 'recover' AND outcome IN ('done', 'already', 'dry_run');
CREATE UNIQUE INDEX action_log_skip_once ON @extschema@.action_log (job_id, target, detail)
	WHERE kind = 'recover' AND outcome = 'skipped';
CREATE INDEX action_log_at_idx ON @extschema@.action_log (at);
COMMENT ON TABLE @extschema@.action_log IS
	'What kant did to the outside and why: each trigger of a downstream DAG and each restart of a failed Glue run (done, already, failed, dry run, skipped with the reason); at most one successful trigger per gate and business date, at most one restart per failed run';
COMMENT ON COLUMN @extschema@.action_log.action_id IS 'the action';
COMMENT ON COLUMN @extschema@.action_log.at IS 'when';
COMMENT ON COLUMN @extschema@.action_log.kind IS 'trigger (a gate''s downstream DAG) or recover (StartJobRun of a failed Glue run)';
COMMENT ON COLUMN @extschema@.action_log.job_id IS 'the job restarted (recover)';
COMMENT ON COLUMN @extschema@.action_log.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.action_log.business_date IS 'the business date';
COMMENT ON COLUMN @extschema@.action_log.system_id IS 'the system acted on';
COMMENT ON COLUMN @extschema@.action_log.target IS 'what was acted on: DAG/dag_run_id (trigger), the failed JobRun id (recover)';
COMMENT ON COLUMN @extschema@.action_log.outcome IS 'done, already (the DAG run exists; the job is already running), failed, dry_run, skipped (why in detail)';
COMMENT ON COLUMN @extschema@.action_log.http_status IS 'HTTP status of the request';
COMMENT ON COLUMN @extschema@.action_log.detail IS 'the server''s answer or the error';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.action_log', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.action_log', 'action_id')::pg_catalog.regclass, '');

CREATE VIEW @extschema@.gate_scope AS
SELECT g.gate_id, j.job_id
FROM @extschema@.gate g JOIN @extschema@.job j ON j.pipeline = g.pipeline
UNION
SELECT gj.gate_id, gj.job_id FROM @extschema@.gate_job gj;
COMMENT ON VIEW @extschema@.gate_scope IS 'The upstream jobs of each gate: its pipeline''s and those listed';
COMMENT ON COLUMN @extschema@.gate_scope.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.gate_scope.job_id IS 'an upstream job';

CREATE FUNCTION @extschema@.create_gate(name text, pipeline text DEFAULT NULL, jobs text[] DEFAULT NULL,
		downstream_system text DEFAULT NULL, downstream_dag text DEFAULT NULL,
		stale_after interval DEFAULT '2 hours', when_stale text DEFAULT 'closed',
		condition text DEFAULT NULL, description text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids integer[];
	sid integer;
	gid integer;
BEGIN
	IF name IS NULL OR btrim(name) = '' THEN
		RAISE EXCEPTION 'a gate needs a name' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF EXISTS (SELECT FROM @extschema@.gate g WHERE g.name = create_gate.name) THEN
		RAISE EXCEPTION 'gate "%" already exists', name
			USING ERRCODE = 'duplicate_object', HINT = 'Drop it first with kant.drop_gate().';
	END IF;
	ids := @extschema@._slo_scope_jobs(pipeline, jobs);
	IF (downstream_system IS NULL) <> (downstream_dag IS NULL) THEN
		RAISE EXCEPTION 'give both downstream_system and downstream_dag, or neither'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'kant.create_gate(''socrates_daily'', pipeline => ''hegel_nightly'', downstream_system => ''socrates'', downstream_dag => ''s3_to_gcs'').';
	END IF;
	IF downstream_system IS NOT NULL THEN
		SELECT s.system_id INTO sid FROM @extschema@.system s
		WHERE s.name = downstream_system AND s.kind = 'airflow';
		IF sid IS NULL THEN
			RAISE EXCEPTION 'downstream_system "%" is not an Airflow system', downstream_system
				USING ERRCODE = 'invalid_parameter_value', HINT = 'See SELECT name, kind FROM kant.system;';
		END IF;
	END IF;
	IF when_stale IS NULL OR when_stale NOT IN ('closed', 'open') THEN
		RAISE EXCEPTION 'when_stale must be closed or open' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'closed (the default) keeps the gate shut while upstream data is stale.';
	END IF;
	IF stale_after IS NULL OR stale_after <= '0' THEN
		RAISE EXCEPTION 'stale_after must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF condition IS NOT NULL AND to_regprocedure(condition || '(text, date)') IS NULL THEN
		RAISE EXCEPTION 'condition "%" is not a function (text, date)', condition
			USING ERRCODE = 'undefined_function', HINT = 'Create f(gate text, business_date date) RETURNS boolean, and name it schema-qualified.';
	END IF;
	INSERT INTO @extschema@.gate (name, pipeline, downstream_system_id, downstream_dag_id, stale_after,
		when_stale, condition, description)
	VALUES (name, pipeline, sid, downstream_dag, stale_after, when_stale, condition, description)
	RETURNING gate_id INTO gid;
	INSERT INTO @extschema@.gate_job (gate_id, job_id) SELECT DISTINCT gid, x FROM unnest(ids) AS x;
	RETURN gid;
END
$$;
COMMENT ON FUNCTION @extschema@.create_gate(text, text, text[], text, text, interval, text, text, text) IS
	'Create a gate: upstream jobs (a pipeline and/or system/job list), the Airflow DAG it starts (optional), the staleness limit and policy, an optional condition function';
REVOKE ALL ON FUNCTION @extschema@.create_gate(text, text, text[], text, text, interval, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.drop_gate(name text)
	RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH d AS (DELETE FROM @extschema@.gate g WHERE g.name = $1 RETURNING 1)
	SELECT EXISTS (SELECT FROM d)
	$$;
COMMENT ON FUNCTION @extschema@.drop_gate(text) IS 'Remove a gate (and its action log); false when there was none';
REVOKE ALL ON FUNCTION @extschema@.drop_gate(text) FROM PUBLIC;

/*
 * Is a job required for a business date?  When it ran or was expected that
 * day, or when no expanded, active schedule covers that day; a scheduled job
 * without a slot that day (a holiday) is not.  Plain SQL without SET, so
 * that kant_gate_ready() and gate_status() inline it.
 */
CREATE FUNCTION @extschema@._gate_required(job_id integer, business_date date)
	RETURNS boolean
	LANGUAGE sql STABLE
	AS $$
	SELECT EXISTS (SELECT FROM @extschema@.job_run r WHERE r.business_date = $2 AND r.job_id = $1)
		OR EXISTS (SELECT FROM @extschema@.expected_run x WHERE x.job_id = $1 AND x.business_date = $2)
		OR NOT EXISTS (SELECT FROM @extschema@.schedule x
					   WHERE x.job_id = $1 AND x.active_from <= $2
						 AND (x.active_until IS NULL OR x.active_until >= $2)
						 AND x.expanded_until >= ($2 + 2)::timestamptz)
	$$;
COMMENT ON FUNCTION @extschema@._gate_required(integer, date) IS
	'internal: a gate waits for this job on this business date (it ran or was expected, or no schedule covers the day)';

/*
 * Each upstream job's state for a business date (kant._gate_required says
 * which are not_required), and each stale upstream system.
 */
CREATE FUNCTION @extschema@.gate_status(gate text, business_date date)
	RETURNS TABLE (system text, job text, state text, attempt integer, started_at timestamptz,
		ended_at timestamptz, expected_end timestamptz, detail text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g record;
BEGIN
	SELECT x.* INTO g FROM @extschema@.gate x WHERE x.name = gate_status.gate;
	IF g.gate_id IS NULL THEN
		RAISE EXCEPTION 'gate "%" does not exist', gate
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.gate;';
	END IF;
	RETURN QUERY
	WITH up AS (
		SELECT j.job_id, j.name, sy.name AS sys, sy.system_id
		FROM @extschema@.gate_scope sc
		JOIN @extschema@.job j ON j.job_id = sc.job_id
		JOIN @extschema@.system sy ON sy.system_id = j.system_id
		WHERE sc.gate_id = g.gate_id
	), last AS (
		SELECT DISTINCT ON (r.job_id) r.job_id, r.state::text AS state, r.attempt, r.started_at, r.ended_at
		FROM @extschema@.job_run r
		WHERE r.business_date = gate_status.business_date AND r.job_id IN (SELECT up.job_id FROM up)
		ORDER BY r.job_id, (r.state::text IN ('succeeded', 'skipped')) DESC,
			r.started_at DESC NULLS FIRST, r.attempt DESC
	), slot AS (
		SELECT x.job_id, min(x.slot_at) AS slot_at, min(x.due_at) AS due_at
		FROM @extschema@.expected_run x
		WHERE x.business_date = gate_status.business_date AND x.job_id IN (SELECT up.job_id FROM up)
		GROUP BY x.job_id
	), dur AS (
		SELECT d.job_id, d.p90_seconds FROM @extschema@.job_durations(ARRAY(SELECT up.job_id FROM up)) d
	)
	SELECT up.sys, up.name,
		CASE WHEN l.state IN ('succeeded', 'skipped') THEN 'succeeded'
			 WHEN l.state IN ('failed', 'timed_out', 'cancelled', 'upstream_failed') THEN 'failed'
			 WHEN l.state IS NOT NULL THEN 'running'
			 WHEN s.due_at <= now() THEN 'missing'
			 WHEN NOT @extschema@._gate_required(up.job_id, gate_status.business_date) THEN 'not_required'
			 ELSE 'pending' END,
		l.attempt, l.started_at, l.ended_at,
		CASE WHEN l.state IN ('succeeded', 'skipped') THEN l.ended_at
			 WHEN l.started_at IS NOT NULL AND l.ended_at IS NULL
				THEN l.started_at + make_interval(secs => coalesce(d.p90_seconds, 0))
			 WHEN s.slot_at IS NOT NULL THEN greatest(s.slot_at, now()) + make_interval(secs => coalesce(d.p90_seconds, 0))
			 END,
		CASE WHEN l.state IS NOT NULL THEN 'kant state ' || l.state
			 WHEN s.slot_at IS NOT NULL THEN 'expected at ' || s.slot_at::text
			 ELSE NULL END
	FROM up
	LEFT JOIN last l ON l.job_id = up.job_id
	LEFT JOIN slot s ON s.job_id = up.job_id
	LEFT JOIN dur d ON d.job_id = up.job_id
	UNION ALL
	SELECT sy.name, NULL::text, 'stale', NULL::integer, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
		format('last successful collection %s (limit %s)%s',
			   coalesce(@extschema@._human(extract(epoch FROM now() - c.last_ok)) || ' ago', 'never'),
			   g.stale_after, CASE WHEN g.when_stale = 'open' THEN '; the gate ignores it (when_stale = open)' ELSE '' END)
	FROM (SELECT DISTINCT up.system_id FROM up) u
	JOIN @extschema@.system sy ON sy.system_id = u.system_id
	CROSS JOIN LATERAL (
		SELECT (SELECT c.ended_at FROM @extschema@.collection c
				WHERE c.system_id = u.system_id AND c.error IS NULL AND c.ended_at IS NOT NULL
				ORDER BY c.started_at DESC LIMIT 1) AS last_ok,
			   EXISTS (SELECT FROM @extschema@.collection c WHERE c.system_id = u.system_id) AS collected) c
	WHERE c.collected AND (c.last_ok IS NULL OR c.last_ok < now() - g.stale_after)
	ORDER BY 1, 2 NULLS FIRST;
END
$$;
COMMENT ON FUNCTION @extschema@.gate_status(text, date) IS
	'Why a gate is (not) open for a business date: each upstream job''s state (succeeded, running, failed, missing, pending, not_required) with its expected end, and each stale upstream system';
REVOKE ALL ON FUNCTION @extschema@.gate_status(text, date) FROM PUBLIC;

/*
 * The design card's function, for Composer's SqlSensor: true when every
 * required upstream job has succeeded for the business date, no upstream
 * system's collection is stale (unless the gate ignores staleness), and the
 * gate's condition holds.  Index lookups only: (business_date, job_id) on
 * job_run, (job_id, business_date) on expected_run, (system_id, started_at)
 * on collection.
 */
CREATE FUNCTION @extschema@.kant_gate_ready(gate text, business_date date)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g record;
	ok boolean;
BEGIN
	SELECT x.gate_id, x.stale_after, x.when_stale, x.condition INTO g
	FROM @extschema@.gate x WHERE x.name = kant_gate_ready.gate;
	IF g.gate_id IS NULL THEN
		RAISE EXCEPTION 'gate "%" does not exist', gate
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.gate;';
	END IF;
	IF business_date IS NULL THEN
		RAISE EXCEPTION 'business_date must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Composer: SELECT kant.kant_gate_ready(''gate'', ''{{ ds }}'').';
	END IF;
	-- open when some job is required and every required job succeeded
	WITH req AS (
		SELECT sc.job_id,
			EXISTS (SELECT FROM @extschema@.job_run r
					WHERE r.business_date = kant_gate_ready.business_date AND r.job_id = sc.job_id
					  AND r.state::text IN ('succeeded', 'skipped')) AS succeeded
		FROM @extschema@.gate_scope sc
		WHERE sc.gate_id = g.gate_id
		  AND @extschema@._gate_required(sc.job_id, kant_gate_ready.business_date)
	)
	SELECT count(*) > 0 AND bool_and(req.succeeded) FROM req
	INTO ok;
	IF ok AND g.when_stale = 'closed' THEN
		SELECT NOT EXISTS (
			SELECT FROM (SELECT DISTINCT j.system_id FROM @extschema@.gate_scope sc
						 JOIN @extschema@.job j ON j.job_id = sc.job_id WHERE sc.gate_id = g.gate_id) u
			WHERE EXISTS (SELECT FROM @extschema@.collection c WHERE c.system_id = u.system_id)
			  AND coalesce((SELECT c.ended_at FROM @extschema@.collection c
							WHERE c.system_id = u.system_id AND c.error IS NULL AND c.ended_at IS NOT NULL
							ORDER BY c.started_at DESC LIMIT 1), '-infinity') < now() - g.stale_after)
		INTO ok;
	END IF;
	IF ok AND g.condition IS NOT NULL THEN
		EXECUTE format('SELECT %s($1, $2)', g.condition::regproc) INTO ok USING gate, business_date;
		ok := coalesce(ok, false);
	END IF;
	RETURN ok;
END
$$;
COMMENT ON FUNCTION @extschema@.kant_gate_ready(text, date) IS
	'May the downstream of a gate start for this business date? Some upstream job is required and every required one succeeded, no upstream collection stale (fail closed unless when_stale = open), the condition holds. What Composer''s SqlSensor polls.';
REVOKE ALL ON FUNCTION @extschema@.kant_gate_ready(text, date) FROM PUBLIC;

/*
 * Open every ready gate's downstream once per business date: POST
 * dags/{dag}/dagRuns with the deterministic dag_run_id kant__<gate>__<date>
 * and logical_date (midnight of the business date in the system's zone), so
 * that a repeat -- another session, a restart, a retry -- is a 409 that counts
 * as done.  One gate at a time (an advisory lock per gate); every outcome in
 * kant.action_log.  dry_run logs what it would do and changes nothing else.
 */
CREATE FUNCTION @extschema@.trigger_ready_gates(dry_run boolean DEFAULT false)
	RETURNS TABLE (gate text, business_date date, outcome text, http_status integer, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g record;
	d date;
	run_id text;
	body text;
	res record;
	o text;
BEGIN
	FOR g IN
		SELECT x.gate_id, x.name, x.downstream_dag_id, x.lookback_days, sy.name AS sys, sy.time_zone
		FROM @extschema@.gate x JOIN @extschema@.system sy ON sy.system_id = x.downstream_system_id
		ORDER BY x.name
	LOOP
		PERFORM pg_advisory_xact_lock(1801547384, g.gate_id);
		FOR d IN
			SELECT dd::date FROM generate_series((now() AT TIME ZONE g.time_zone)::date - g.lookback_days,
												 (now() AT TIME ZONE g.time_zone)::date, interval '1 day') AS dd
			ORDER BY 1
		LOOP
			CONTINUE WHEN EXISTS (SELECT FROM @extschema@.action_log a
								  WHERE a.gate_id = g.gate_id AND a.business_date = d AND a.kind = 'trigger'
									AND a.outcome IN ('done', 'already'));
			CONTINUE WHEN NOT @extschema@.kant_gate_ready(g.name, d);
			run_id := format('kant__%s__%s', g.name, to_char(d, 'YYYY-MM-DD'));
			body := jsonb_build_object('dag_run_id', run_id,
				'logical_date', to_char(d::timestamp AT TIME ZONE g.time_zone AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
				'conf', jsonb_build_object('business_date', to_char(d, 'YYYY-MM-DD'), 'gate', g.name,
										   'triggered_by', 'kant'))::text;
			IF dry_run THEN
				INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome, detail)
				SELECT 'trigger', g.gate_id, d, s.system_id, g.downstream_dag_id || '/' || run_id, 'dry_run',
					'would POST dags/' || g.downstream_dag_id || '/dagRuns ' || body
				FROM @extschema@.system s WHERE s.name = g.sys;
				gate := g.name; business_date := d; outcome := 'dry_run'; http_status := NULL; detail := body;
				RETURN NEXT;
				CONTINUE;
			END IF;
			BEGIN
				SELECT * INTO res FROM @extschema@._airflow_post(g.sys,
					'dags/' || replace(g.downstream_dag_id, '/', '%2F') || '/dagRuns', body);
				o := CASE WHEN res.status BETWEEN 200 AND 299 THEN 'done'
						  WHEN res.status = 409 THEN 'already' ELSE 'failed' END;
				INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome,
					http_status, detail)
				SELECT 'trigger', g.gate_id, d, s.system_id, g.downstream_dag_id || '/' || run_id, o,
					res.status, left(res.body, 1000)
				FROM @extschema@.system s WHERE s.name = g.sys;
				gate := g.name; business_date := d; outcome := o; http_status := res.status; detail := left(res.body, 200);
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;				-- cancel and shutdown are not outcomes
				END IF;
				INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome, detail)
				SELECT 'trigger', g.gate_id, d, s.system_id, g.downstream_dag_id || '/' || run_id, 'failed',
					SQLSTATE || ': ' || SQLERRM
				FROM @extschema@.system s WHERE s.name = g.sys;
				gate := g.name; business_date := d; outcome := 'failed'; http_status := NULL; detail := SQLERRM;
			END;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.trigger_ready_gates(boolean) IS
	'Trigger each ready gate''s downstream DAG once per business date (deterministic dag_run_id; 409 counts as done), logging every outcome in kant.action_log; dry_run only logs';
REVOKE ALL ON FUNCTION @extschema@.trigger_ready_gates(boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._airflow_post(system text, path text, body text)
	RETURNS TABLE (status integer, body text, api text)
	AS 'MODULE_PATHNAME', 'kant_airflow_post'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._airflow_post(text, text, text) IS
	'internal: POST a JSON body to an Airflow system''s REST API (its version, credentials, timeouts and retries)';
REVOKE ALL ON FUNCTION @extschema@._airflow_post(text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.schedule_gate_triggers(schedule text DEFAULT '* * * * *')
	RETURNS bigint
	LANGUAGE sql VOLATILE
	AS $$ SELECT @extschema@._cron_job('kant-gates', schedule,
		'SELECT gate, business_date, outcome FROM kant.trigger_ready_gates()') $$;
COMMENT ON FUNCTION @extschema@.schedule_gate_triggers(text) IS
	'Create or update the pg_cron job kant-gates that runs kant.trigger_ready_gates() (default every minute); returns its id';
REVOKE ALL ON FUNCTION @extschema@.schedule_gate_triggers(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_gate_triggers()
	RETURNS boolean
	LANGUAGE sql VOLATILE
	AS $$ SELECT @extschema@._cron_unjob('kant-gates') $$;
COMMENT ON FUNCTION @extschema@.unschedule_gate_triggers() IS 'Remove the pg_cron job kant-gates; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.unschedule_gate_triggers() FROM PUBLIC;

CREATE VIEW @extschema@.actions AS
SELECT a.action_id, a.at, a.kind, g.name AS gate, j.name AS job, a.business_date, s.name AS system, a.target,
	a.outcome, a.http_status, a.detail
FROM @extschema@.action_log a
LEFT JOIN @extschema@.gate g ON g.gate_id = a.gate_id
LEFT JOIN @extschema@.job j ON j.job_id = a.job_id
LEFT JOIN @extschema@.system s ON s.system_id = a.system_id;
COMMENT ON VIEW @extschema@.actions IS 'Everything kant did to the outside (triggers, restarts) and what it decided not to do, with the outcome';
COMMENT ON COLUMN @extschema@.actions.job IS 'the job restarted';
COMMENT ON COLUMN @extschema@.actions.action_id IS 'the action';
COMMENT ON COLUMN @extschema@.actions.at IS 'when';
COMMENT ON COLUMN @extschema@.actions.kind IS 'trigger or recover';
COMMENT ON COLUMN @extschema@.actions.gate IS 'the gate';
COMMENT ON COLUMN @extschema@.actions.business_date IS 'the business date';
COMMENT ON COLUMN @extschema@.actions.system IS 'the system acted on';
COMMENT ON COLUMN @extschema@.actions.target IS 'DAG/dag_run_id, or the failed JobRun id';
COMMENT ON COLUMN @extschema@.actions.outcome IS 'done, already, failed, dry_run or skipped';
COMMENT ON COLUMN @extschema@.actions.http_status IS 'HTTP status';
COMMENT ON COLUMN @extschema@.actions.detail IS 'the answer or the error';

---------------------------------------------------------------------------
-- Automatic recovery of failed Glue runs (opt-in, per job)
---------------------------------------------------------------------------

CREATE TABLE @extschema@.recovery_policy (
	job_id			integer PRIMARY KEY REFERENCES @extschema@.job ON DELETE CASCADE,
	max_attempts	integer NOT NULL DEFAULT 2 CHECK (max_attempts BETWEEN 1 AND 10),
	min_wait		interval NOT NULL DEFAULT '5 minutes' CHECK (min_wait >= '0'),
	dry_run			boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.recovery_policy IS
	'Glue jobs kant restarts when a run fails (StartJobRun with the failed run''s id and arguments): at most max_attempts times per business date, min_wait after the failure, only while the job''s p90 still fits before its SLO deadline';
COMMENT ON COLUMN @extschema@.recovery_policy.job_id IS 'the Glue job';
COMMENT ON COLUMN @extschema@.recovery_policy.max_attempts IS 'restarts per business date at most';
COMMENT ON COLUMN @extschema@.recovery_policy.min_wait IS 'wait this long after a failure (and for Glue''s own retries, as the checks do)';
COMMENT ON COLUMN @extschema@.recovery_policy.dry_run IS 'only log what would be done';
COMMENT ON COLUMN @extschema@.recovery_policy.created_at IS 'when the policy was set';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.recovery_policy', '');

CREATE FUNCTION @extschema@.set_recovery(job text, max_attempts integer DEFAULT 2,
		min_wait interval DEFAULT '5 minutes', dry_run boolean DEFAULT false)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	jid integer := @extschema@._job_ref(job, 'job');
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.job j JOIN @extschema@.system s USING (system_id)
				   WHERE j.job_id = jid AND s.kind = 'glue') THEN
		RAISE EXCEPTION 'job "%" is not a Glue job', job
			USING ERRCODE = 'feature_not_supported', HINT = 'kant restarts Glue jobs (StartJobRun); Airflow retries its tasks itself.';
	END IF;
	IF max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 10 THEN
		RAISE EXCEPTION 'max_attempts must be between 1 and 10' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF min_wait IS NULL OR min_wait < '0' THEN
		RAISE EXCEPTION 'min_wait must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO @extschema@.recovery_policy AS p (job_id, max_attempts, min_wait, dry_run)
	VALUES (jid, max_attempts, min_wait, coalesce(dry_run, false))
	ON CONFLICT (job_id) DO UPDATE SET max_attempts = excluded.max_attempts,
		min_wait = excluded.min_wait, dry_run = excluded.dry_run;
END
$$;
COMMENT ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean) IS
	'Let kant restart a Glue job (system/job) when a run fails: up to max_attempts per business date, min_wait after the failure, while its p90 fits before the deadline; dry_run only logs';
REVOKE ALL ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.unset_recovery(job text)
	RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH d AS (DELETE FROM @extschema@.recovery_policy p WHERE p.job_id = @extschema@._job_ref($1, 'job') RETURNING 1)
	SELECT EXISTS (SELECT FROM d)
	$$;
COMMENT ON FUNCTION @extschema@.unset_recovery(text) IS 'Stop restarting a job; false when it had no policy';
REVOKE ALL ON FUNCTION @extschema@.unset_recovery(text) FROM PUBLIC;

CREATE FUNCTION @extschema@._glue_call(system text, operation text, body text)
	RETURNS TABLE (status integer, body text, error_type text)
	AS 'MODULE_PATHNAME', 'kant_glue_call'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._glue_call(text, text, text) IS
	'internal: one signed Glue request (its credentials, timeouts, throttling retries); the status, body and Glue error type';
REVOKE ALL ON FUNCTION @extschema@._glue_call(text, text, text) FROM PUBLIC;

/*
 * Restart what failed while it can still make its deadline.  Per job with a
 * policy (one job at a time: an advisory lock per job), its newest run in the
 * lookback window: when it failed or timed out, nothing of the job is in
 * flight, Glue's own retries are over (or retry_wait has passed), min_wait has
 * passed, fewer than max_attempts restarts were made for the business date,
 * and now + p90 is before the job's SLO deadline -- StartJobRun with the
 * failed run's JobRunId and Arguments.  ConcurrentRunsExceededException means
 * a run is already going: logged as already.  Each failed run is restarted
 * at most once (a unique index on the log), so concurrent calls and restarts
 * do not double-start; each reason to skip is logged once per failed run.
 */
CREATE FUNCTION @extschema@.recover_failed_runs(dry_run boolean DEFAULT false)
	RETURNS TABLE (job text, business_date date, failed_run text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	st record;
	p record;
	last record;
	done_n integer;
	deadline timestamptz;
	p90 double precision;
	body jsonb;
	res record;
	o text;
	why text;
	dry boolean;
BEGIN
	SELECT * INTO st FROM @extschema@._alert_settings();
	FOR p IN
		SELECT rp.*, j.name AS job_name, j.max_retries, s.name AS sys, s.system_id
		FROM @extschema@.recovery_policy rp
		JOIN @extschema@.job j ON j.job_id = rp.job_id
		JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.kind = 'glue'
		ORDER BY j.name
	LOOP
		PERFORM pg_advisory_xact_lock(1801547385, p.job_id);
		dry := dry_run OR p.dry_run;
		SELECT r.* INTO last FROM @extschema@.job_run r
		WHERE r.job_id = p.job_id AND r.business_date >= (now() - st.lookback)::date - 1
		ORDER BY r.started_at DESC NULLS FIRST, r.attempt DESC LIMIT 1;
		CONTINUE WHEN last.run_id IS NULL OR last.state::text NOT IN ('failed', 'timed_out');
		CONTINUE WHEN EXISTS (SELECT FROM @extschema@.action_log a
							  WHERE a.kind = 'recover' AND a.job_id = p.job_id AND a.target = last.external_id
								AND a.outcome IN ('done', 'already', 'dry_run'));
		why := NULL;
		-- Glue retries by itself first
		CONTINUE WHEN p.max_retries IS NOT NULL AND last.attempt - 1 < p.max_retries
			AND last.ended_at > now() - st.retry_wait;
		CONTINUE WHEN last.ended_at > now() - p.min_wait;
		IF EXISTS (SELECT FROM @extschema@.job_run r
				   WHERE r.job_id = p.job_id AND r.business_date >= (now() - st.lookback)::date - 1
					 AND NOT @extschema@.is_terminal(r.state)) THEN
			why := 'another run of the job is in flight';
		END IF;
		SELECT count(*) INTO done_n FROM @extschema@.action_log a
		WHERE a.kind = 'recover' AND a.job_id = p.job_id AND a.business_date = last.business_date
		  AND a.outcome IN ('done', 'dry_run');
		IF why IS NULL AND done_n >= p.max_attempts THEN
			why := format('restarted %s of %s times for %s already', done_n, p.max_attempts, last.business_date);
		END IF;
		SELECT @extschema@.local_instant((last.business_date + jd.deadline_offset_days) + jd.deadline_time, jd.time_zone)
		INTO deadline FROM @extschema@.job_deadline jd WHERE jd.job_id = p.job_id;
		SELECT d.p90_seconds INTO p90 FROM @extschema@.job_durations(ARRAY[p.job_id]) d;
		IF why IS NULL AND deadline IS NOT NULL
		   AND now() + make_interval(secs => coalesce(p90, 0)) > deadline THEN
			why := format('the deadline cannot be met: a run takes %s (p90) and the deadline is %s',
						  @extschema@._human(p90), deadline);
		END IF;
		IF why IS NOT NULL THEN
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, 'skipped', why)
			ON CONFLICT DO NOTHING;
			IF FOUND THEN
				job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
				outcome := 'skipped'; detail := why;
				RETURN NEXT;
			END IF;
			CONTINUE;
		END IF;
		body := jsonb_build_object('JobName', p.job_name, 'JobRunId', last.external_id);
		IF jsonb_typeof(last.details->'Arguments') = 'object' THEN
			body := body || jsonb_build_object('Arguments', last.details->'Arguments');
		END IF;
		IF dry THEN
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, 'dry_run',
					format('would call StartJobRun %s (restart %s of %s)', body, done_n + 1, p.max_attempts));
			job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
			outcome := 'dry_run'; detail := body::text;
			RETURN NEXT;
			CONTINUE;
		END IF;
		BEGIN
			SELECT * INTO res FROM @extschema@._glue_call(p.sys, 'StartJobRun', body::text);
			o := CASE WHEN res.status = 200 THEN 'done'
					  WHEN res.error_type = 'ConcurrentRunsExceededException' THEN 'already'
					  ELSE 'failed' END;
			why := CASE o WHEN 'done' THEN format('restart %s of %s: JobRunId %s', done_n + 1, p.max_attempts,
												  (res.body::jsonb)->>'JobRunId')
						  WHEN 'already' THEN 'a run of the job is already going (ConcurrentRunsExceededException)'
						  ELSE left(res.body, 1000) END;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome,
				http_status, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, o, res.status, why);
		EXCEPTION WHEN OTHERS THEN
			IF SQLSTATE IN ('57014', '57P01') THEN
				RAISE;
			END IF;
			o := 'failed';
			why := SQLSTATE || ': ' || SQLERRM;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, o, why);
		END;
		job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
		outcome := o; detail := why;
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.recover_failed_runs(boolean) IS
	'Restart failed Glue runs of jobs with a recovery policy (StartJobRun with the failed run''s id and arguments) while their p90 fits before the deadline, at most max_attempts per business date, never twice for one failed run, never while a run is in flight; every action and every reason to skip in kant.action_log';
REVOKE ALL ON FUNCTION @extschema@.recover_failed_runs(boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.schedule_recovery(schedule text DEFAULT '* * * * *')
	RETURNS bigint
	LANGUAGE sql VOLATILE
	AS $$ SELECT @extschema@._cron_job('kant-recover', schedule,
		'SELECT job, business_date, outcome FROM kant.recover_failed_runs()') $$;
COMMENT ON FUNCTION @extschema@.schedule_recovery(text) IS
	'Create or update the pg_cron job kant-recover that runs kant.recover_failed_runs() (default every minute); returns its id';
REVOKE ALL ON FUNCTION @extschema@.schedule_recovery(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_recovery()
	RETURNS boolean
	LANGUAGE sql VOLATILE
	AS $$ SELECT @extschema@._cron_unjob('kant-recover') $$;
COMMENT ON FUNCTION @extschema@.unschedule_recovery() IS 'Remove the pg_cron job kant-recover; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.unschedule_recovery() FROM PUBLIC;
