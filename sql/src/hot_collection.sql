/*
 * kant: Hot collection, the request budget and the tick (issue 16).
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * The hourly sweep (kant.collect_glue, kant.collect_airflow) reads
 * everything; a gate learns from it that its last upstream job finished up
 * to an hour late.  kant.collect_hot reads, every minute, only what can
 * change soon: the runs kant holds as in flight (Glue GetJobRun by id, once
 * the run may be near its end), failed Glue attempts whose retry is coming,
 * jobs due to start now, and Airflow's DAG runs in flight.  kant.tick() runs
 * it for every system with hot collection on, then the gates, then recovery,
 * in one transaction: the gate sees what the collection just ingested.  A
 * per-system request budget (AIMD: Glue publishes no rate per API and its
 * limit is shared by the account and Region) keeps the hot reads within
 * what the system allows.
 */

---------------------------------------------------------------------------
-- The request budget of a system, and whether it is collected hot
---------------------------------------------------------------------------

CREATE TABLE @extschema@.collect_budget (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	hot				boolean NOT NULL DEFAULT false,
	per_minute		integer NOT NULL DEFAULT 300 CHECK (per_minute BETWEEN 1 AND 100000),
	increase		integer CHECK (increase BETWEEN 1 AND 100000),
	rate			double precision NOT NULL DEFAULT 300 CHECK (rate >= 1),
	tokens			double precision NOT NULL DEFAULT 300 CHECK (tokens >= 0),
	refilled_at		timestamptz NOT NULL DEFAULT now(),
	throttled_at	timestamptz,
	halvings		bigint NOT NULL DEFAULT 0,
	updated_at		timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.collect_budget', '');
COMMENT ON TABLE @extschema@.collect_budget IS
	'Per collected system: whether kant.tick() collects it hot (kant.set_hot_collection; kant.schedule_collection turns it on), and its request budget (kant.set_collect_budget): a token bucket holding at most a minute of requests, refilled at rate a minute; rate halves on the first throttled reply of a collection and grows back by increase a minute up to per_minute (AIMD). A hot collection makes no request past it; a sweep spends it but is not held to it. No row: hot off, the defaults';
COMMENT ON COLUMN @extschema@.collect_budget.hot IS 'kant.tick() runs kant.collect_hot for the system';
COMMENT ON COLUMN @extschema@.collect_budget.per_minute IS 'requests a minute at most (default 300: 5 a second)';
COMMENT ON COLUMN @extschema@.collect_budget.increase IS 'requests a minute the rate grows back by each minute without throttling; NULL: a tenth of per_minute';
COMMENT ON COLUMN @extschema@.collect_budget.rate IS 'the rate now, requests a minute (1 to per_minute)';
COMMENT ON COLUMN @extschema@.collect_budget.tokens IS 'requests the bucket holds now (at most rate)';
COMMENT ON COLUMN @extschema@.collect_budget.refilled_at IS 'when the bucket was last refilled';
COMMENT ON COLUMN @extschema@.collect_budget.throttled_at IS 'when a collection last met throttling (and halved the rate)';
COMMENT ON COLUMN @extschema@.collect_budget.halvings IS 'how often the rate was halved';
COMMENT ON COLUMN @extschema@.collect_budget.updated_at IS 'when the settings were last changed';

/*
 * The budget of a system as a collection begins (used 0) and ends (what it
 * sent, whether a reply was throttled): refill the bucket for the time since
 * the last refill, at the rate, which first grows by increase a minute
 * unless a throttled reply came since; take what was used (never below
 * zero: a sweep may spend more than there is, and owes nothing); on
 * throttling, halve the rate (at least 1) and keep at most that much.
 * Returns the tokens left.  AIMD as TCP's congestion control (RFC 5681) and
 * the AWS SDKs' adaptive retry mode do it: the limit is unknown and shared.
 */
CREATE FUNCTION @extschema@._collect_budget(system_id integer, used integer, throttled boolean)
	RETURNS double precision
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	b record;
	t timestamptz := clock_timestamp();
	minutes double precision;
	r double precision;
	k double precision;
BEGIN
	INSERT INTO @extschema@.collect_budget AS x (system_id) VALUES ($1) ON CONFLICT DO NOTHING;
	SELECT x.* INTO b FROM @extschema@.collect_budget x WHERE x.system_id = $1 FOR UPDATE;
	minutes := greatest(extract(epoch FROM t - b.refilled_at)::double precision / 60, 0);
	r := b.rate;
	IF b.throttled_at IS NULL OR b.throttled_at < b.refilled_at THEN
		r := least(b.per_minute, r + coalesce(b.increase, greatest(1, b.per_minute / 10)) * minutes);
	END IF;
	k := greatest(least(r, b.tokens + r * minutes) - coalesce(used, 0), 0);
	IF throttled THEN
		r := greatest(1, r / 2);
		k := least(k, r);
	END IF;
	UPDATE @extschema@.collect_budget x SET rate = r, tokens = k, refilled_at = t,
		throttled_at = CASE WHEN throttled THEN t ELSE x.throttled_at END,
		halvings = x.halvings + CASE WHEN throttled THEN 1 ELSE 0 END
	WHERE x.system_id = $1;
	RETURN k;
END
$$;
COMMENT ON FUNCTION @extschema@._collect_budget(integer, integer, boolean) IS
	'internal: a system''s request budget as a collection begins (used 0) and ends: refill the bucket (the rate first grows by increase a minute unless throttled since), take what was used (never below 0), halve the rate when a reply was throttled; returns the requests the bucket holds';
REVOKE ALL ON FUNCTION @extschema@._collect_budget(integer, integer, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._collected_system(system text)
	RETURNS integer
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	k text;
BEGIN
	SELECT s.system_id, s.kind INTO sid, k FROM @extschema@.system s WHERE s.name = _collected_system.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name, kind FROM kant.system;';
	END IF;
	IF k NOT IN ('glue', 'airflow') THEN
		RAISE EXCEPTION 'kant does not poll % systems', k
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'OpenLineage and manual systems send their runs (kant.ingest_openlineage, kant.report_run).';
	END IF;
	RETURN sid;
END
$$;
COMMENT ON FUNCTION @extschema@._collected_system(text) IS
	'internal: the id of a system kant polls (glue or airflow); 42704 when there is none of that name, 0A000 for another kind';
REVOKE ALL ON FUNCTION @extschema@._collected_system(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.set_collect_budget(system text, per_minute integer DEFAULT 300,
		increase integer DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer := @extschema@._collected_system(system);
BEGIN
	IF per_minute IS NULL OR per_minute NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'per_minute must be between 1 and 100000, not %', coalesce(per_minute::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The requests a minute kant may make to the system at most (default 300); throttling halves the rate, which grows back by increase a minute.';
	END IF;
	IF increase IS NOT NULL AND increase NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'increase must be between 1 and 100000, not %', increase
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Requests a minute the rate grows back by each minute without throttling; NULL: a tenth of per_minute.';
	END IF;
	INSERT INTO @extschema@.collect_budget AS b (system_id, per_minute, increase, rate, tokens)
	VALUES (sid, per_minute, increase, per_minute, per_minute)
	ON CONFLICT (system_id) DO UPDATE SET per_minute = excluded.per_minute, increase = excluded.increase,
		rate = least(b.rate, excluded.per_minute), tokens = least(b.tokens, excluded.per_minute),
		updated_at = now();
END
$$;
COMMENT ON FUNCTION @extschema@.set_collect_budget(text, integer, integer) IS
	'Set a collected system''s request budget: per_minute requests a minute at most (1-100000, default 300), increase the requests a minute the rate grows back by each minute after throttling halved it (NULL: a tenth of per_minute). A lower per_minute applies at once, a higher one is grown to. Hot collections keep to it; a sweep spends it (kant.collect_budget)';
REVOKE ALL ON FUNCTION @extschema@.set_collect_budget(text, integer, integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.set_hot_collection(system text, enabled boolean DEFAULT true)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer := @extschema@._collected_system(system);
	was boolean;
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'enabled must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'true: kant.tick() collects the system hot; false: only its sweep does.';
	END IF;
	SELECT b.hot INTO was FROM @extschema@.collect_budget b WHERE b.system_id = sid;
	INSERT INTO @extschema@.collect_budget AS b (system_id, hot) VALUES (sid, enabled)
	ON CONFLICT (system_id) DO UPDATE SET hot = excluded.hot, updated_at = now()
	WHERE b.hot IS DISTINCT FROM excluded.hot;
	RETURN coalesce(was, false) IS DISTINCT FROM enabled;
END
$$;
COMMENT ON FUNCTION @extschema@.set_hot_collection(text, boolean) IS
	'Turn hot collection of a Glue or Airflow system on (kant.tick() runs kant.collect_hot for it every minute) or off; kant.schedule_collection turns it on, kant.unschedule_collection off; returns whether the setting changed';
REVOKE ALL ON FUNCTION @extschema@.set_hot_collection(text, boolean) FROM PUBLIC;

---------------------------------------------------------------------------
-- What a hot collection reads
---------------------------------------------------------------------------

CREATE TABLE @extschema@.hot_read (
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	target			text COLLATE "C" NOT NULL,
	read_at			timestamptz NOT NULL,
	misses			integer NOT NULL DEFAULT 0 CHECK (misses >= 0),
	PRIMARY KEY (job_id, target)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.hot_read', '');
COMMENT ON TABLE @extschema@.hot_read IS
	'When a hot collection last read a Glue run in flight by its id (GetJobRun): a run not yet near its end is read again 10 minutes later; forgotten once the run ends';
COMMENT ON COLUMN @extschema@.hot_read.target IS 'the run''s id (kant.job_run.external_id)';
COMMENT ON COLUMN @extschema@.hot_read.read_at IS 'when it was last read (the start of the reading transaction)';
COMMENT ON COLUMN @extschema@.hot_read.misses IS 'reads in a row Glue answered EntityNotFoundException (a run another source reported): such a run is read every 10 minutes only';

/*
 * What a hot collection of a system reads now, in the order to read it: the
 * reads for a gate not yet triggered or an SLO still open (its SLA end not
 * passed) for the run's business date first, then by kind -- (1) runs in
 * flight, (2) attempts to come, (3) runs due to start -- then oldest first.
 *
 * Glue:
 *   GetJobRun <job> <run>: a current attempt kant holds as not finished
 *     (started within 8 days, as the sweep reads back), every minute once it may be
 *     near its end (now >= start + the p10 of the job's durations - 1
 *     minute; p10 over the successful runs kant.job_durations reads: the
 *     alert settings' history_runs), else every 10 minutes; every minute
 *     without a history, and every minute when its job is the last one a
 *     gate not yet triggered waits for that business date (a run that ends
 *     before its p10 may be the one that opens the gate); every 10 minutes
 *     once Glue said it does not know it.
 *   GetJobRuns <job>: (2) a failed or timed-out current attempt whose next
 *     one kant has not seen (no run names it as PreviousRunId): Glue retries
 *     it (attempts left under the job's MaxRetries, ended within the alert
 *     settings' retry_wait) or kant restarted it (kant.action_log recover or
 *     rerun, done, within retry_wait); a run kant.rerun started for a date
 *     without one, not seen yet (within retry_wait); (3) an expected run whose slot has come and
 *     whose grace has not passed, not started yet (as kant.expected_runs
 *     counts the runs of the date), or a job whose upstream jobs
 *     (kant.set_dependency) all succeeded for a business date, the last
 *     within the hour, without a run for that date.  One GetJobRuns a job.
 * Airflow:
 *   taskInstances <dag_id> <dag_run_id>: a DAG run with a task instance kant
 *     holds as not finished (first seen within 8 days).
 */
CREATE FUNCTION @extschema@._hot_targets(system_id integer, as_of timestamptz DEFAULT now())
	RETURNS TABLE (op text, job text, run text, business_date date, on_path boolean, why text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH sy AS (
		SELECT s.system_id, s.kind FROM @extschema@.system s WHERE s.system_id = $1
	), st AS (
		SELECT a.retry_wait, a.history_runs FROM @extschema@._alert_settings() a
	), flight AS (
		SELECT r.job_id, j.name AS job, j.dag_id, r.external_id, r.details, r.business_date, r.started_at,
			r.first_seen, sy.kind
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.job_run r ON r.job_id = j.job_id AND NOT @extschema@.is_terminal(r.state)
		WHERE coalesce(r.started_at, r.first_seen) >= $2 - interval '8 days'
		  -- an attempt a later one superseded (an Airflow try never run) is no longer in flight
		  AND @extschema@._is_current(r.superseded_at)
	), p10 AS (
		SELECT f.job_id, percentile_cont(0.1) WITHIN GROUP (ORDER BY x.d) AS p10
		FROM (SELECT DISTINCT fl.job_id FROM flight fl WHERE fl.kind = 'glue') f
		CROSS JOIN LATERAL (
			SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS d
			FROM @extschema@.job_run r
			WHERE r.job_id = f.job_id AND r.started_at <= $2 AND r.ended_at <= $2 AND r.state::text = 'succeeded'
			ORDER BY r.started_at DESC
			LIMIT (SELECT st.history_runs FROM st)) x
		GROUP BY f.job_id
	), gate_days AS (
		-- the gates not yet triggered for the date of a Glue run in flight
		SELECT DISTINCT gs.gate_id, f.business_date
		FROM flight f JOIN @extschema@.gate_scope gs ON gs.job_id = f.job_id
		WHERE f.kind = 'glue'
		  AND NOT EXISTS (SELECT FROM @extschema@._gate_trigger(gs.gate_id, f.business_date))
	), last_up AS (
		-- the one required job such a gate still waits for (kant._required_jobs, kant._job_day,
		-- as kant_gate_ready asks them): its end opens the gate
		SELECT w.waits_for[1] AS job_id, w.business_date
		FROM (SELECT gd.business_date,
					 array_agg(rq.job_id) FILTER (WHERE rq.required AND NOT jd.done) AS waits_for
			  FROM gate_days gd
			  CROSS JOIN LATERAL @extschema@._required_jobs(NULL, gd.gate_id, gd.business_date) rq
			  CROSS JOIN LATERAL @extschema@._job_day(rq.job_id, gd.business_date) jd
			  GROUP BY gd.gate_id, gd.business_date) w
		WHERE cardinality(w.waits_for) = 1
	), every AS (
		-- (1) Glue runs in flight, read by id
		SELECT 'GetJobRun'::text AS op, f.job, f.external_id AS run, f.business_date, f.job_id, 1 AS kind_order,
			coalesce(f.started_at, f.first_seen) AS at, 'in flight'::text AS why
		FROM flight f
		LEFT JOIN p10 p ON p.job_id = f.job_id
		LEFT JOIN @extschema@.hot_read h ON h.job_id = f.job_id AND h.target = f.external_id
		WHERE f.kind = 'glue'
		  AND CASE WHEN h.misses > 0 THEN h.read_at <= $2 - interval '10 minutes'
				   -- the last job a gate waits for, however early in its run
				   WHEN EXISTS (SELECT FROM last_up l WHERE l.job_id = f.job_id AND l.business_date = f.business_date)
					   THEN true
				   WHEN p.p10 IS NULL OR f.started_at IS NULL THEN true
				   WHEN $2 >= f.started_at + make_interval(secs => p.p10) - interval '1 minute' THEN true
				   ELSE coalesce(h.read_at, f.first_seen) <= $2 - interval '10 minutes' END
		UNION ALL
		-- (2) failed Glue attempts whose retry (Glue's, or kant's restart) is to come
		SELECT 'GetJobRuns', j.name, NULL, r.business_date, j.job_id, 2, r.ended_at, 'the retry of ' || r.external_id
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.job_run r ON r.job_id = j.job_id
		WHERE sy.kind = 'glue' AND r.started_at >= $2 - interval '8 days'
		  AND r.state::text IN ('failed', 'timed_out') AND @extschema@._is_current(r.superseded_at)
		  AND ((j.max_retries IS NOT NULL AND r.attempt - 1 < j.max_retries
				AND r.ended_at > $2 - (SELECT st.retry_wait FROM st))
			   OR EXISTS (SELECT FROM @extschema@.action_log a
						  WHERE a.kind IN ('recover', 'rerun') AND a.job_id = j.job_id AND a.target = r.external_id
							AND a.outcome = 'done' AND a.at > $2 - (SELECT st.retry_wait FROM st)))
		  AND NOT EXISTS (SELECT FROM @extschema@.job_run n
						  WHERE n.job_id = r.job_id AND n.previous_external_id = r.external_id)
		UNION ALL
		-- (2) and a run kant.rerun started for a business date that had none
		SELECT 'GetJobRuns', j.name, NULL, a.business_date, j.job_id, 2, a.at,
			'the run kant.rerun started for ' || to_char(a.business_date::timestamp, 'YYYY-MM-DD')
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.action_log a ON a.job_id = j.job_id AND a.kind = 'rerun' AND a.outcome = 'done'
			AND a.target = 'business_date=' || to_char(a.business_date::timestamp, 'YYYY-MM-DD')
		WHERE sy.kind = 'glue' AND a.at > $2 - (SELECT st.retry_wait FROM st)
		  AND NOT EXISTS (SELECT FROM @extschema@.job_run n
						  WHERE n.job_id = j.job_id AND n.business_date = a.business_date)
		UNION ALL
		-- (3) Glue runs due: a slot come, not started, within its grace
		SELECT 'GetJobRuns', j.name, NULL, x.business_date, j.job_id, 3, x.slot_at,
			'expected at ' || @extschema@._utc(x.slot_at)
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.expected_run x ON x.job_id = j.job_id
		-- (a grace of more than 8 days is not looked at: the index reads a week of slots)
		WHERE sy.kind = 'glue' AND x.slot_at <= $2 AND x.slot_at > $2 - interval '8 days' AND x.due_at > $2
		  AND (SELECT count(*) FROM @extschema@.expected_run y
			   WHERE y.job_id = x.job_id AND y.business_date = x.business_date AND y.slot_at <= x.slot_at)
			  > (SELECT count(DISTINCT r.external_id) FROM @extschema@.job_run r
				 WHERE r.job_id = x.job_id AND r.business_date = x.business_date
				   AND @extschema@._is_current(r.superseded_at))
		UNION ALL
		-- (3) Glue runs due: every upstream job succeeded, the last within the hour
		SELECT 'GetJobRuns', j.name, NULL, u.business_date, j.job_id, 3, u.ended_at, 'its upstream jobs are done'
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
			AND j.job_id IN (SELECT d.job_id FROM @extschema@.job_dependency d)
		CROSS JOIN LATERAL (
			SELECT r.business_date, max(r.ended_at) AS ended_at
			FROM @extschema@.job_dependency d
			CROSS JOIN LATERAL (
				SELECT r.business_date, r.ended_at FROM @extschema@.job_run r
				WHERE r.job_id = d.upstream_job_id AND r.started_at > $2 - interval '8 days'
				  AND r.state::text = 'succeeded' AND r.ended_at > $2 - interval '1 hour' AND r.ended_at <= $2) r
			WHERE d.job_id = j.job_id
			GROUP BY r.business_date) u
		WHERE sy.kind = 'glue'
		  AND NOT EXISTS (SELECT FROM @extschema@.job_run r WHERE r.job_id = j.job_id AND r.business_date = u.business_date)
		  AND NOT EXISTS (SELECT FROM @extschema@.job_dependency d
						  CROSS JOIN LATERAL @extschema@._job_day(d.upstream_job_id, u.business_date) jd
						  WHERE d.job_id = j.job_id AND NOT jd.done)
		UNION ALL
		-- Airflow DAG runs in flight, read by their task instances
		SELECT 'taskInstances', f.dag_id, coalesce(f.details->>'dag_run_id', f.external_id), f.business_date,
			f.job_id, 1, coalesce(f.started_at, f.first_seen), 'in flight'
		FROM flight f
		WHERE f.kind = 'airflow' AND f.dag_id IS NOT NULL
	), judged AS (
		SELECT e.*,
			-- a gate not yet triggered for the date, or an SLO whose SLA end has not passed
			EXISTS (SELECT FROM @extschema@.gate_scope gs
					WHERE gs.job_id = e.job_id
					  AND NOT EXISTS (SELECT FROM @extschema@._gate_trigger(gs.gate_id, e.business_date)))
			OR EXISTS (SELECT FROM @extschema@.slo_scope sc JOIN @extschema@.slo s ON s.slo_id = sc.slo_id
					   WHERE sc.job_id = e.job_id
						 AND @extschema@._due(e.business_date, s.sla_offset_days, s.sla_time, s.time_zone) > $2)
				AS on_path
		FROM every e
	)
	SELECT t.op, t.job, t.run, t.business_date, t.on_path, t.why
	FROM (SELECT DISTINCT ON (jd.op, jd.job, coalesce(jd.run, '')) jd.*
		  FROM judged jd
		  ORDER BY jd.op, jd.job, coalesce(jd.run, ''), jd.on_path DESC, jd.kind_order, jd.at) t
	ORDER BY t.on_path DESC, t.kind_order, t.at, t.job, t.run
	$$;
COMMENT ON FUNCTION @extschema@._hot_targets(integer, timestamptz) IS
	'internal: what a hot collection of a system reads at as_of, in order (for a gate not yet triggered or an SLO still open first; then runs in flight, attempts to come, runs due; oldest first): Glue GetJobRun of a run in flight (every minute from its start + the p10 of its durations - 1 minute, or while its job is the last one a gate waits for, else every 10 minutes), GetJobRuns of a job whose failed attempt Glue or kant is retrying or whose run is due (a slot come within its grace, or its upstream jobs done within the hour); Airflow taskInstances of a DAG run in flight';
REVOKE ALL ON FUNCTION @extschema@._hot_targets(integer, timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.collect_hot(system text)
	RETURNS @extschema@.collection
	AS 'MODULE_PATHNAME', 'kant_collect_hot'
	LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.collect_hot(text) IS
	'Read what can change soon on a Glue or Airflow system and ingest it as the sweep does (kant._hot_targets: Glue runs in flight by id, GetJobRun, once near their end; GetJobRuns of a few runs for a retry to come or a run due; Airflow''s DAG runs in flight, kant''s and those listed queued or running, and their task instances; no job, DAG or trigger listing), within the system''s request budget (kant.collect_budget), stopping at the first throttled reply and at the deadline (the tick''s, else 45 seconds); what it did not read is counted as deferred. Moves no watermark, cursor or schedule; a sweep of the system in progress makes it read nothing. Returns the collection record (mode hot)';
REVOKE ALL ON FUNCTION @extschema@.collect_hot(text) FROM PUBLIC;

---------------------------------------------------------------------------
-- The tick: a minute's work in one transaction
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._http_deadline(deadline timestamptz)
	RETURNS void
	AS 'MODULE_PATHNAME', 'kant_http_set_deadline'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._http_deadline(timestamptz) IS
	'internal: until the transaction ends (or the next call), no request kant makes starts, waits for a retry (Retry-After included) or runs at or past the deadline: it ends with its last outcome, or as a timeout; NULL: none';
REVOKE ALL ON FUNCTION @extschema@._http_deadline(timestamptz) FROM PUBLIC;

/*
 * pg_cron 1.4 has no schedule under a minute, queues a job still running at
 * its next minute (every minute missed adds a run), and runs at most five
 * jobs at once with background workers: a minute's work is one job, and
 * ends well inside the minute.  The collections take up to two thirds of
 * the deadline, the gates and recovery the rest; every request keeps to it
 * (kant._http_deadline).  The gates run in the same transaction as the
 * collections, so they see what was just ingested (as separate jobs started
 * the same second, the gate could run before the collection commits, and
 * the hand-off would take a minute more).
 */
CREATE FUNCTION @extschema@.tick(deadline interval DEFAULT '45 seconds')
	RETURNS TABLE (step text, target text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	sy record;
	c @extschema@.collection;
	targets text[];
	outcomes text[];
	details text[];
	i integer;
BEGIN
	IF deadline IS NULL OR deadline < interval '1 second' OR deadline > interval '10 minutes' THEN
		RAISE EXCEPTION 'deadline must be between 1 second and 10 minutes, not %', coalesce(deadline::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'pg_cron starts kant.tick() every minute: the default, 45 seconds, ends each tick before the next.';
	END IF;
	-- the collections: every system collected hot, each on its own
	PERFORM @extschema@._http_deadline(t0 + deadline * 2 / 3);
	FOR sy IN
		SELECT s.name FROM @extschema@.collect_budget b JOIN @extschema@.system s ON s.system_id = b.system_id
		WHERE b.hot AND s.kind IN ('glue', 'airflow')
		ORDER BY s.name
	LOOP
		step := 'collect';
		target := sy.name;
		BEGIN
			SELECT * INTO c FROM @extschema@.collect_hot(sy.name);
			outcome := CASE WHEN c.error IS NOT NULL THEN 'failed' WHEN c.deferred > 0 THEN 'deferred' ELSE 'done' END;
			detail := format('%s request%s, %s runs read, %s new, %s changed, %s deferred, %s throttled%s',
							 c.requests, CASE WHEN c.requests = 1 THEN '' ELSE 's' END,
							 c.runs_seen, c.runs_new, c.runs_changed, c.deferred, c.throttled,
							 coalesce(' [' || c.sqlstate || '] ' || c.error, ''));
		EXCEPTION WHEN OTHERS THEN
			IF SQLSTATE IN ('57014', '57P01') THEN
				RAISE;				-- cancel and shutdown are not outcomes
			END IF;
			outcome := 'failed';
			detail := SQLSTATE || ': ' || SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
	PERFORM @extschema@._http_deadline(t0 + deadline);
	-- the gates, seeing what the collections ingested
	BEGIN
		SELECT array_agg(g.gate ORDER BY g.gate, g.business_date), array_agg(g.outcome ORDER BY g.gate, g.business_date),
			array_agg(format('%s: %s%s', to_char(g.business_date::timestamp, 'YYYY-MM-DD'),
							 coalesce('HTTP ' || g.http_status || ' ', ''), coalesce(left(g.detail, 200), ''))
					  ORDER BY g.gate, g.business_date)
		INTO targets, outcomes, details
		FROM @extschema@.trigger_ready_gates() g;
	EXCEPTION WHEN OTHERS THEN
		IF SQLSTATE IN ('57014', '57P01') THEN
			RAISE;
		END IF;
		targets := ARRAY[NULL];
		outcomes := ARRAY['failed'];
		details := ARRAY[SQLSTATE || ': ' || SQLERRM];
	END;
	FOR i IN 1 .. coalesce(cardinality(targets), 0) LOOP
		step := 'gate'; target := targets[i]; outcome := outcomes[i]; detail := details[i];
		RETURN NEXT;
	END LOOP;
	-- then recovery
	BEGIN
		SELECT array_agg(r.job ORDER BY r.job, r.failed_run), array_agg(r.outcome ORDER BY r.job, r.failed_run),
			array_agg(format('%s %s: %s', to_char(r.business_date::timestamp, 'YYYY-MM-DD'), r.failed_run,
							 coalesce(left(r.detail, 200), '')) ORDER BY r.job, r.failed_run)
		INTO targets, outcomes, details
		FROM @extschema@.recover_failed_runs() r;
	EXCEPTION WHEN OTHERS THEN
		IF SQLSTATE IN ('57014', '57P01') THEN
			RAISE;
		END IF;
		targets := ARRAY[NULL];
		outcomes := ARRAY['failed'];
		details := ARRAY[SQLSTATE || ': ' || SQLERRM];
	END;
	FOR i IN 1 .. coalesce(cardinality(targets), 0) LOOP
		step := 'recover'; target := targets[i]; outcome := outcomes[i]; detail := details[i];
		RETURN NEXT;
	END LOOP;
	PERFORM @extschema@._http_deadline(NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.tick(interval) IS
	'A minute''s work, in one transaction and within deadline (1 second to 10 minutes, default 45 seconds): kant.collect_hot for every system with hot collection on (kant.set_hot_collection; up to two thirds of the deadline), then kant.trigger_ready_gates() (seeing what was just ingested), then kant.recover_failed_runs(); no request runs past the deadline. One system''s failure stops neither the others nor the gates. Returns a row per step done: collect (system, done / deferred / failed, the counts), gate (gate, the trigger''s outcome, the date), recover (job, the outcome, the date and run). The pg_cron job kant-gates runs it (kant.schedule_gate_triggers)';
REVOKE ALL ON FUNCTION @extschema@.tick(interval) FROM PUBLIC;
