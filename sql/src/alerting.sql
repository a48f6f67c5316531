/*
 * kant: Alerting: conditions, alerts, silences.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

---------------------------------------------------------------------------
-- Settings, silences, alerts
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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert_settings', '');
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

CREATE TABLE @extschema@.silence (
	silence_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	system			text,
	job				text,
	pipeline		text,
	kind			text CHECK (@extschema@._is_alert_kind(kind)),
	starts_at		timestamptz NOT NULL DEFAULT now(),
	ends_at			timestamptz NOT NULL,
	reason			text NOT NULL CHECK (btrim(reason) <> ''),
	created_by		text NOT NULL DEFAULT current_user,
	CHECK (ends_at > starts_at)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.silence', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.silence', 'silence_id')::pg_catalog.regclass, '');
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

CREATE TABLE @extschema@.alert (
	alert_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	alert_key		text NOT NULL UNIQUE,
	kind			text NOT NULL CHECK (@extschema@._is_alert_kind(kind)),
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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alert', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.alert', 'alert_id')::pg_catalog.regclass, '');
COMMENT ON TABLE @extschema@.alert IS
	'Alerts with a lifecycle: one row per key (kind, the job, SLO or system by id, business date), opened once, updated while the condition lasts, resolved when it clears';
COMMENT ON COLUMN @extschema@.alert.alert_id IS 'the alert';
COMMENT ON COLUMN @extschema@.alert.alert_key IS 'stable key from ids: kind/job:<job_id>/<business date>, kind/slo:<slo_id>/<business date>, stale/system:<system_id>, data_quality/check:<check_id>/<business date>';
COMMENT ON COLUMN @extschema@.alert.kind IS 'failure, late, missing, predicted, stuck, stale or data_quality (kant.alert_kinds())';
COMMENT ON COLUMN @extschema@.alert.severity IS 'critical (failure, late, missing, stale) or warning (predicted, stuck)';
COMMENT ON COLUMN @extschema@.alert.system_id IS 'the system';
COMMENT ON COLUMN @extschema@.alert.job_id IS 'the job (job alerts)';
COMMENT ON COLUMN @extschema@.alert.slo_id IS 'the SLO (late, predicted)';
COMMENT ON COLUMN @extschema@.alert.business_date IS 'the business date (NULL for stale)';
COMMENT ON COLUMN @extschema@.alert.status IS 'open or resolved';
COMMENT ON COLUMN @extschema@.alert.summary IS 'one line: what and why';
COMMENT ON COLUMN @extschema@.alert.detail IS 'the facts behind it (jobs not done, predicted end, attempt, error ...)';
COMMENT ON COLUMN @extschema@.alert.folded_into IS 'the upstream alert this one is folded into (sent as part of it), or NULL; kept when it resolves';
COMMENT ON COLUMN @extschema@.alert.silence_id IS 'the silence that mutes it now, or NULL';
COMMENT ON COLUMN @extschema@.alert.opened_at IS 'when the condition was first seen';
COMMENT ON COLUMN @extschema@.alert.last_seen_at IS 'the last check that saw it';
COMMENT ON COLUMN @extschema@.alert.resolved_at IS 'when it cleared';
COMMENT ON COLUMN @extschema@.alert.resolution IS 'how it cleared';
COMMENT ON COLUMN @extschema@.alert.notified_at IS 'when a message about it was last queued (NULL: never)';
COMMENT ON COLUMN @extschema@.alert.notifications IS 'messages queued about it';

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
	d interval := @extschema@._elapsed(duration);	-- '1 day' is 24 hours in every session's zone
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'a silence needs a reason' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Say why, e.g. kant.silence(''HEGEL maintenance, ticket OPS-123'', ''4 hours'', system => ''hegel'').';
	END IF;
	IF (duration IS NULL) = (until IS NULL) THEN
		RAISE EXCEPTION 'give a silence either a duration or an end (until)' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'kant.silence(reason, ''2 hours'', ...) or kant.silence(reason, until => ''2026-11-27 09:00+09'', ...).';
	END IF;
	IF coalesce(until, f + d) <= f THEN
		RAISE EXCEPTION 'a silence must end after it starts' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF kind IS NOT NULL AND NOT @extschema@._is_alert_kind(kind) THEN
		RAISE EXCEPTION 'invalid kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('One of %s; NULL for all.', (SELECT string_agg(k.kind, ', ') FROM @extschema@.alert_kinds() k));
	END IF;
	IF system IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.system s WHERE s.name = silence.system) THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.system;';
	END IF;
	INSERT INTO @extschema@.silence (system, job, pipeline, kind, starts_at, ends_at, reason)
	VALUES (system, job, pipeline, kind, f, coalesce(until, f + d), btrim(reason))
	RETURNING silence_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) IS
	'Mute alerts of a system / job / pipeline / kind (NULL: any) for a duration or until a time, with a reason; returns the silence id';
REVOKE ALL ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;
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
	-- the settings as elapsed time: '2 days' is 48 hours in every session's zone
	lookback interval;
	horizon interval;
	retry_wait interval;
	stale_after interval;
	d0 date;
	d1 date;
BEGIN
	SELECT * INTO st FROM @extschema@._alert_settings();
	lookback := @extschema@._elapsed(st.lookback);
	horizon := @extschema@._elapsed(st.predict_horizon);
	retry_wait := @extschema@._elapsed(st.retry_wait);
	stale_after := @extschema@._elapsed(st.stale_after);
	-- business dates of every zone (UTC-12 to UTC+14) in the window
	d0 := ((as_of - lookback) AT TIME ZONE 'UTC')::date - 1;
	d1 := ((as_of + horizon) AT TIME ZONE 'UTC')::date + 1;
	RETURN QUERY
	WITH seen AS MATERIALIZED (
		SELECT r.run_id, r.job_id, r.business_date, r.external_id, r.attempt, r.previous_external_id,
			r.started_at, r.error_message,
			CASE WHEN r.ended_at > as_of THEN NULL ELSE r.ended_at END AS ended_at,
			CASE WHEN r.ended_at > as_of THEN 'running'::@extschema@.run_state ELSE r.state END AS state
		FROM @extschema@.job_run r
		WHERE r.business_date BETWEEN d0 AND d1 AND @extschema@._began(r.started_at, r.first_seen) <= as_of
	), day AS MATERIALIZED (
		-- each job and date with runs: done, in flight, how many runs
		-- (kant._job_day), and its latest attempt
		SELECT g.job_id, g.business_date, jd.done, jd.in_flight AS active, jd.in_flight_since AS active_since,
			g.last_run, jd.runs AS started_runs, jd.failed_run_id, jd.was_done
		FROM (SELECT r.job_id, r.business_date,
				(array_agg(r.run_id ORDER BY r.started_at DESC NULLS FIRST, r.attempt DESC))[1] AS last_run
			  FROM seen r GROUP BY r.job_id, r.business_date) g
		CROSS JOIN LATERAL @extschema@._job_day(g.job_id, g.business_date, as_of) jd
	), jobs AS (
		SELECT j.job_id, j.name, j.pipeline, j.dag_id, j.max_retries, sy.system_id, sy.name AS system,
			sy.time_zone AS system_zone
		FROM @extschema@.job j JOIN @extschema@.system sy ON sy.system_id = j.system_id
	), deadline AS (
		SELECT dy.job_id, dy.business_date,
			@extschema@._due(dy.business_date, jd.deadline_offset_days, jd.deadline_time, jd.time_zone) AS at
		FROM day dy JOIN @extschema@.job_deadline jd ON jd.job_id = dy.job_id
	),
	-- SLO days in the lookback window and in the prediction horizon
	slo_days AS MATERIALIZED (
		SELECT s.slo_id, s.name, s.pipeline, s.time_zone, g.bd AS business_date,
			@extschema@._due(g.bd, s.deadline_offset_days, s.deadline_time, s.time_zone) AS deadline
		FROM @extschema@.slo s
		CROSS JOIN LATERAL (SELECT d0 + i AS bd FROM generate_series(0, d1 - d0) AS i) g
		WHERE g.bd >= s.evaluate_from
		  AND @extschema@._due(g.bd, s.deadline_offset_days, s.deadline_time, s.time_zone)
			  BETWEEN as_of - lookback AND as_of + horizon
		  AND (s.calendar IS NULL OR @extschema@.is_business_day(s.calendar, g.bd))
	), in_play AS (
		-- the jobs each SLO day requires (kant._required_jobs), done or not
		-- done: done once by as_of (kant._job_day's was_done, as
		-- kant._done_since: a re-run after the job was done is a failure, not
		-- a late day)
		SELECT sd.slo_id, sd.business_date, rq.job_id, coalesce(dy.was_done, false) AS done,
			coalesce(dy.active, false) AS active, dy.active_since, dy.last_run
		FROM slo_days sd
		CROSS JOIN LATERAL @extschema@._required_jobs(sd.slo_id, NULL, sd.business_date, as_of) rq
		LEFT JOIN day dy ON dy.job_id = rq.job_id AND dy.business_date = sd.business_date
		WHERE rq.required
	), durs AS MATERIALIZED (
		-- durations of every job not done, in one call (index scans of a few rows each)
		SELECT d.* FROM @extschema@.job_durations(ARRAY(
			SELECT dy.job_id FROM day dy WHERE NOT dy.done
			UNION SELECT p.job_id FROM in_play p WHERE NOT p.done), as_of, st.history_runs) d
	),
	-- failure: the last attempt failed or timed out, nothing runs, and no retry
	-- is still to come (retries left, within retry_wait, while the deadline holds)
	failure AS (
		SELECT 'failure' AS kind, j.system_id, j.job_id, NULL::integer AS slo_id,
			dy.business_date,
			format('%s/%s %s (attempt %s) for %s%s', j.system, j.name,
				   CASE WHEN l.state::text = 'timed_out' THEN 'timed out' ELSE 'failed' END, l.attempt, to_char(dy.business_date, 'YYYY-MM-DD'),
				   CASE WHEN l.error_message IS NOT NULL THEN ': ' || left(l.error_message, 200) ELSE '' END) AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'run', l.external_id, 'attempt', l.attempt, 'max_retries', j.max_retries, 'state', l.state::text,
				'error', left(l.error_message, 1000), 'ended_at', @extschema@._utc(l.ended_at),
				'deadline', @extschema@._utc(dl.at),
				'time_zone', j.system_zone, 'dag_id', j.dag_id, 'restarts', nullif(rc.n, 0),
				'max_restarts', rp.max_attempts)) AS detail
		FROM day dy
		-- the attempt that failed (kant._job_day: of the runs that count,
		-- every map index of them)
		JOIN seen l ON l.run_id = dy.failed_run_id
		JOIN jobs j ON j.job_id = dy.job_id
		LEFT JOIN deadline dl ON dl.job_id = dy.job_id AND dl.business_date = dy.business_date
		-- its own recovery policy or its DAG's
		LEFT JOIN @extschema@.recovery_scope rp ON rp.job_id = dy.job_id
		LEFT JOIN LATERAL (
			SELECT count(*) FILTER (WHERE a.outcome = 'done') AS n,
				-- Glue: the failed run's id; Airflow: dag_id/dag_run_id try n (kant._recover_airflow)
				bool_or(a.target IN (l.external_id, @extschema@._failure_target(j.dag_id, l.external_id, l.attempt))
						AND a.outcome = 'done') AS this_one
			FROM @extschema@.action_log a
			WHERE a.kind = 'recover' AND a.job_id = dy.job_id AND a.business_date = dy.business_date) rc ON true
		WHERE NOT dy.done AND NOT dy.active AND l.state::text IN ('failed', 'timed_out')
		  -- a retry is to come: Glue's own (MaxRetries), or kant's restart
		  -- (recovery policy), while its p90 still fits before the deadline
		  AND NOT (((j.max_retries IS NOT NULL AND l.attempt - 1 < j.max_retries)
					OR (rp.job_id IS NOT NULL AND coalesce(rc.n, 0) < rp.max_attempts))
				   AND l.ended_at > as_of - retry_wait - @extschema@._elapsed(coalesce(rp.min_wait, '0'))
				   AND (dl.at IS NULL OR as_of + make_interval(secs => coalesce(
						(SELECT d.p90_seconds FROM durs d WHERE d.job_id = dy.job_id), 0)) <= dl.at))
		  -- kant restarted (cleared) this very run: the new one is not collected yet
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
			'missing' AS kind, j.system_id, j.job_id, NULL::integer AS slo_id, s.business_date,
			CASE WHEN j.dag_id IS NULL
				THEN format('%s/%s has not started for %s: expected at %s (%s), grace ended %s ago', j.system, j.name,
				   to_char(s.business_date, 'YYYY-MM-DD'), to_char(s.slot_at AT TIME ZONE j.system_zone, 'MM-DD HH24:MI'), j.system_zone,
				   @extschema@._human(extract(epoch FROM as_of - s.due_at)))
				ELSE format('%s: DAG %s has not started for %s: expected at %s (%s), grace ended %s ago', j.system, j.dag_id,
				   to_char(s.business_date, 'YYYY-MM-DD'), to_char(s.slot_at AT TIME ZONE j.system_zone, 'MM-DD HH24:MI'), j.system_zone,
				   @extschema@._human(extract(epoch FROM as_of - s.due_at))) END AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'expected_at', @extschema@._utc(s.slot_at), 'due_at', @extschema@._utc(s.due_at),
				'time_zone', j.system_zone, 'dag_id', j.dag_id)) AS detail
		FROM slots s
		JOIN jobs j ON j.job_id = s.job_id
		LEFT JOIN day dy ON dy.job_id = s.job_id AND dy.business_date = s.business_date
		WHERE s.due_at <= as_of AND s.due_at > as_of - lookback
		  AND s.slot_no > coalesce(dy.started_runs, 0)
		  AND NOT EXISTS (SELECT FROM dag_started g WHERE g.system_id = j.system_id AND g.dag_id = j.dag_id
						  AND g.business_date = s.business_date)
		ORDER BY coalesce(j.dag_id, j.job_id::text), j.system_id, s.business_date, s.slot_at, j.job_id
	),
	-- stuck: running for more than stuck_factor times its p95
	stuck AS (
		SELECT 'stuck' AS kind, j.system_id, j.job_id, NULL::integer AS slo_id, dy.business_date,
			format('%s/%s has been running for %s for %s, %s times its p95 of %s', j.system, j.name,
				   @extschema@._human(extract(epoch FROM as_of - dy.active_since)), to_char(dy.business_date, 'YYYY-MM-DD'),
				   round((extract(epoch FROM as_of - dy.active_since) / d.p95_seconds)::numeric, 1),
				   @extschema@._human(d.p95_seconds)) AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'running_since', @extschema@._utc(dy.active_since), 'p95_seconds', round(d.p95_seconds::numeric, 1),
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
			@extschema@._alert_key(pk.kind, 'job', r.root_job_id, r.business_date) AS root_key,
			w.job_id IS NOT NULL AS is_waiting
		FROM job_alerts a
		LEFT JOIN roots r ON r.job_id = a.job_id AND r.business_date = a.business_date
		LEFT JOIN primary_kinds pk ON pk.job_id = r.root_job_id AND pk.business_date = r.business_date
		LEFT JOIN jobs rj ON rj.job_id = r.root_job_id
		LEFT JOIN waiting w ON w.job_id = a.job_id AND w.business_date = a.business_date
	),
	late AS (
		SELECT 'late' AS kind, NULL::integer AS system_id, NULL::integer AS job_id,
			sd.slo_id, sd.business_date,
			format('%s for %s is late: %s of %s jobs not done %s the %s deadline (%s): %s',
				   sd.name, to_char(sd.business_date, 'YYYY-MM-DD'), count(*) FILTER (WHERE NOT p.done), count(*),
				   CASE WHEN as_of - sd.deadline < interval '1 minute' THEN 'at'
						ELSE @extschema@._human(extract(epoch FROM as_of - sd.deadline)) || ' after' END,
				   to_char(sd.deadline AT TIME ZONE sd.time_zone, 'HH24:MI'), sd.time_zone,
				   string_agg(j.system || '/' || j.name, ', ' ORDER BY j.system, j.name) FILTER (WHERE NOT p.done)) AS summary,
			jsonb_build_object('slo', sd.name, 'pipeline', sd.pipeline, 'deadline', @extschema@._utc(sd.deadline),
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
		SELECT 'predicted' AS kind, NULL::integer AS system_id, NULL::integer AS job_id,
			sd.slo_id, sd.business_date,
			format('%s for %s is predicted to complete at %s, %s after its %s deadline (%s); critical: %s/%s',
				   sd.name, to_char(sd.business_date, 'YYYY-MM-DD'), to_char(pa.est_end AT TIME ZONE sd.time_zone, 'HH24:MI'),
				   @extschema@._human(extract(epoch FROM pa.est_end - sd.deadline)),
				   to_char(sd.deadline AT TIME ZONE sd.time_zone, 'HH24:MI'), sd.time_zone,
				   cj.system, cj.name) AS summary,
			jsonb_build_object('slo', sd.name, 'pipeline', sd.pipeline, 'deadline', @extschema@._utc(sd.deadline),
				'time_zone', sd.time_zone, 'predicted_end', @extschema@._utc(pa.est_end),
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
	-- stale collector: no successful sweep within stale_after (a hot collection reads only
	-- what is in flight: it says nothing of a trigger that never fired)
	stale AS (
		SELECT 'stale' AS kind, s.system_id, NULL::integer AS job_id, NULL::integer AS slo_id,
			NULL::date AS business_date,
			CASE WHEN c.last_ok IS NULL THEN format('the %s collector of %s has never succeeded (last error: %s)',
												   s.kind, s.name, coalesce(c.last_error, 'none'))
				 ELSE format('the %s collector of %s last succeeded %s ago%s', s.kind, s.name,
							 @extschema@._human(extract(epoch FROM as_of - c.last_ok)),
							 CASE WHEN c.last_error IS NOT NULL THEN '; last error: ' || left(c.last_error, 300) ELSE '' END) END AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', s.name, 'last_success_at', @extschema@._utc(c.last_ok),
				'last_error', left(c.last_error, 1000))) AS detail
		FROM @extschema@.system s
		CROSS JOIN LATERAL (
			SELECT max(x.ended_at) FILTER (WHERE x.error IS NULL AND x.ended_at <= as_of) AS last_ok,
				(array_agg(x.error ORDER BY x.started_at DESC))[1] AS last_error,
				count(*) AS n
			FROM @extschema@.collection x
			WHERE x.system_id = s.system_id AND x.mode = 'sweep' AND x.started_at <= as_of
			  AND x.started_at > as_of - greatest(lookback, stale_after * 4)) c
		WHERE s.kind IN ('glue', 'airflow') AND c.n > 0
		  AND (c.last_ok IS NULL OR c.last_ok < as_of - stale_after)
	),
	-- data-quality checks whose latest verdict at as_of (kant.dq_result, kept
	-- by kant.evaluate_checks, which kant.run_checks runs first) failed; a
	-- pending one (a measurement not seen yet) does not clear a failure
	dq AS (
		SELECT c.check_id, c.severity, v.business_date,
			format('%s: %s on %s for %s%s%s', c.name, v.status, d.name, to_char(v.business_date, 'YYYY-MM-DD'),
				   CASE WHEN v.expected IS NOT NULL THEN format(': observed %s, expected %s', v.observed, v.expected)
						ELSE '' END,
				   CASE WHEN v.detail IS NULL THEN '' WHEN v.expected IS NULL THEN ': ' || v.detail
						ELSE ' (' || v.detail || ')' END) AS summary,
			jsonb_strip_nulls(jsonb_build_object('check', c.name, 'kind', c.kind, 'dataset', d.name,
				'source_dataset', s.name, 'metric', c.metric, 'status', v.status, 'observed', v.observed,
				'expected', v.expected, 'detail', v.detail, 'pipeline', c.pipeline)) AS detail
		FROM @extschema@.dq_check c
		JOIN @extschema@.dataset d ON d.dataset_id = c.dataset_id
		LEFT JOIN @extschema@.dataset s ON s.dataset_id = c.source_dataset_id
		CROSS JOIN LATERAL (SELECT d0 + i AS bd FROM generate_series(0, d1 - d0) AS i) b
		CROSS JOIN LATERAL (SELECT r.business_date, r.status, r.observed, r.expected, r.detail
							FROM @extschema@.dq_result r
							WHERE r.check_id = c.check_id AND r.business_date = b.bd AND r.evaluated_at <= as_of
							  AND r.status <> 'pending'
							ORDER BY r.evaluated_at DESC LIMIT 1) v
		WHERE c.active AND v.status IN ('fail', 'warn', 'error')
	)
	SELECT @extschema@._alert_key(f.kind, 'job', f.job_id, f.business_date),
		f.kind, k.severity, f.system_id, f.job_id, f.slo_id, f.business_date, f.summary, f.detail, f.root_key
	FROM folded f JOIN jobs j ON j.job_id = f.job_id
	JOIN @extschema@.alert_kinds() k ON k.kind = f.kind
	-- a run not started while an upstream job is still on its way is waiting,
	-- not missing (the SLO's predicted and late alerts speak for the day)
	WHERE NOT (f.kind = 'missing' AND f.root_key IS NULL AND f.is_waiting)
	UNION ALL
	SELECT @extschema@._alert_key(x.kind, 'slo', x.slo_id, x.business_date),
		x.kind, k.severity, x.system_id, x.job_id, x.slo_id, x.business_date, x.summary, x.detail, NULL
	FROM (SELECT * FROM late UNION ALL SELECT * FROM predicted) x
	JOIN @extschema@.slo s ON s.slo_id = x.slo_id
	JOIN @extschema@.alert_kinds() k ON k.kind = x.kind
	UNION ALL
	SELECT @extschema@._alert_key(x.kind, 'system', x.system_id, NULL), x.kind, k.severity, x.system_id, NULL, NULL, NULL, x.summary, x.detail, NULL
	FROM stale x JOIN @extschema@.system sy ON sy.system_id = x.system_id
	JOIN @extschema@.alert_kinds() k ON k.kind = x.kind
	UNION ALL
	-- a check's own severity: a warning check raises a warning
	SELECT @extschema@._alert_key('data_quality', 'check', q.check_id, q.business_date), 'data_quality', q.severity,
		NULL, NULL, NULL, q.business_date, q.summary, q.detail, NULL
	FROM dq q;
END
$$;
COMMENT ON FUNCTION @extschema@.check_conditions(timestamptz) IS
	'What is wrong at as_of (default now): failures (retry-aware), late SLO days, missing runs, predicted breaches, stuck runs, stale collectors, failed data-quality checks (their latest verdict at as_of in kant.dq_result); read-only (kant.run_checks() turns them into alerts)';
REVOKE ALL ON FUNCTION @extschema@.check_conditions(timestamptz) FROM PUBLIC;

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
	lookback interval;
	reminder_interval interval;
	d0 date;
BEGIN
	-- one check at a time: two at once would open the same alert twice
	PERFORM pg_advisory_xact_lock(@extschema@._lock_key('checks'), 0);
	SELECT * INTO st FROM @extschema@._alert_settings();
	lookback := @extschema@._elapsed(st.lookback);
	reminder_interval := @extschema@._elapsed(st.reminder_interval);
	d0 := ((as_of - lookback) AT TIME ZONE 'UTC')::date - 1;
	-- the data-quality verdicts of the window, kept before they are read
	IF EXISTS (SELECT FROM @extschema@.dq_check c WHERE c.active) THEN
		PERFORM count(*) FROM @extschema@.evaluate_checks(d0, (as_of AT TIME ZONE 'UTC')::date + 1, as_of);
	END IF;
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
			  AND (s.pipeline IS NULL OR s.pipeline = coalesce(j.pipeline, sl.pipeline, x.detail->>'pipeline'))
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
					OR (a.kind = 'late' AND (a.detail->>'deadline')::timestamptz <= as_of - lookback)
					OR (a.kind = 'missing' AND (a.detail->>'due_at')::timestamptz <= as_of - lookback)
					THEN 'no longer checked (older than the lookback)'
				WHEN a.kind = 'predicted' AND @extschema@._alert_key('late', 'slo', a.slo_id, a.business_date) = ANY (keys)
					THEN 'the deadline passed (see the late alert)'
				WHEN a.kind = 'data_quality' AND NOT EXISTS (SELECT FROM @extschema@.dq_check c
						WHERE c.name = a.detail->>'check' AND c.active)
					THEN 'the check was dropped'
				ELSE (SELECT k.resolved_when FROM @extschema@.alert_kinds() k WHERE k.kind = a.kind) END
			-- folded_into stays: that it was sent as part of an upstream alert is
			-- history (bi_alert_daily counts it); a reopened alert is folded anew
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
			   OR (a.severity = 'critical' AND a.notified_at <= as_of - reminder_interval
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
			  AND (r.pipeline IS NULL OR r.pipeline = coalesce(j.pipeline, sl.pipeline, m.detail->>'pipeline'))
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
REVOKE ALL ON FUNCTION @extschema@.run_checks(timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.schedule_checks(checks text DEFAULT '*/5 * * * *', delivery text DEFAULT '* * * * *')
	RETURNS bigint[]
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
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
	SET search_path = pg_catalog, pg_temp
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

CREATE FUNCTION @extschema@._alert_key(kind text, about text, id integer, business_date date) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT $1 || '/' || $2 || ':' || $3 || coalesce('/' || to_char($4::timestamp, 'YYYY-MM-DD'), '') $$;
COMMENT ON FUNCTION @extschema@._alert_key(text, text, integer, date) IS
	'internal: an alert''s key from ids: kind/job:<job_id>/<business date>, kind/slo:<slo_id>/<business date>, stale/system:<system_id>, data_quality/check:<check_id>/<business date>; unique whatever the names hold';
