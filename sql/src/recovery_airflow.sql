/*
 * kant: Recovery on the Airflow side: clearing failed task instances.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * A failed Airflow task instance is recovered by clearing it:
 * POST dags/{dag_id}/clearTaskInstances (REST API v1: Airflow 2 / Cloud
 * Composer 2, v2: Airflow 3; test/fakes/airflow/v1-openapi.yaml
 * ClearTaskInstances, v2-openapi.yaml ClearTaskInstancesBody).  What the
 * servers do with it (apache/airflow, as cited in test/fakes/fake_airflow.py):
 * the selection is dag.clear(dry_run=True, ...) -- with only_failed the task
 * instances in State.failed_states (failed, upstream_failed); a clear sets
 * them to state None and, with reset_dag_runs, a finished DAG run to queued
 * (v1 defaults reset_dag_runs to false: the run would stay failed and the
 * cleared tasks never run; both versions default dry_run to true).
 */

---------------------------------------------------------------------------
-- What a policy names, and the policy each job has
---------------------------------------------------------------------------

-- kant.recovery_policy (recovery.sql) may name a whole Airflow DAG: every
-- task of it without a policy of its own; and says whether a clear takes
-- the downstream task instances along
ALTER TABLE @extschema@.recovery_policy DROP CONSTRAINT recovery_policy_pkey,
	ALTER COLUMN job_id DROP NOT NULL,
	ADD COLUMN system_id integer REFERENCES @extschema@.system ON DELETE CASCADE,
	ADD COLUMN dag_id text,
	ADD COLUMN include_downstream boolean NOT NULL DEFAULT true,
	ADD CONSTRAINT recovery_policy_job_key UNIQUE (job_id),
	ADD CONSTRAINT recovery_policy_dag_key UNIQUE (system_id, dag_id),
	ADD CONSTRAINT recovery_policy_target_check CHECK ((job_id IS NOT NULL AND system_id IS NULL AND dag_id IS NULL)
		OR (job_id IS NULL AND system_id IS NOT NULL AND dag_id IS NOT NULL));
COMMENT ON TABLE @extschema@.recovery_policy IS
	'What kant recovers on its own, one row per Glue job, Airflow task or Airflow DAG (kant.set_recovery): a failed Glue run is restarted (StartJobRun with its id and arguments), a failed Airflow task instance cleared (clearTaskInstances of its DAG run); at most max_attempts times per job and business date, min_wait after the failure, only while the remaining work''s p90 still fits before the SLO deadline (kant.recovery_scope: the policy each job has)';
COMMENT ON COLUMN @extschema@.recovery_policy.job_id IS 'the Glue job or Airflow task; NULL for a whole DAG';
COMMENT ON COLUMN @extschema@.recovery_policy.max_attempts IS 'restarts (Glue) or clears (Airflow) per job and business date at most';
COMMENT ON COLUMN @extschema@.recovery_policy.system_id IS 'a whole DAG: its Airflow system (job_id is NULL)';
COMMENT ON COLUMN @extschema@.recovery_policy.dag_id IS 'a whole DAG: its dag_id; its tasks without a policy of their own follow this one';
COMMENT ON COLUMN @extschema@.recovery_policy.include_downstream IS
	'Airflow: clear with include_downstream, so the tasks the failure left upstream_failed run again too (without it they stay upstream_failed and the DAG run fails again); ignored for Glue';

CREATE FUNCTION @extschema@._recovery_target(spec text, OUT job_id integer, OUT system_id integer, OUT dag_id text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m text[];
	found_n integer;
BEGIN
	BEGIN
		job_id := @extschema@._job_ref(spec, 'job');
		RETURN;
	EXCEPTION WHEN undefined_object THEN
		NULL;
	END;
	-- an Airflow DAG kant has seen a task of: system/dag_id, the system quoted
	-- ("a/b"/dag) when its name holds a slash
	IF left(spec, 1) = '"' THEN
		m := regexp_match(spec, '^"((?:[^"]|"")+)"/(.+)$');
		SELECT count(*), min(s.system_id), min(m[2]) INTO found_n, system_id, dag_id
		FROM @extschema@.system s
		WHERE m IS NOT NULL AND s.name = replace(m[1], '""', '"') AND s.kind = 'airflow'
		  AND EXISTS (SELECT FROM @extschema@.job j WHERE j.system_id = s.system_id AND j.dag_id = m[2]);
	ELSE
		SELECT count(*), min(s.system_id), min(substr(spec, p + 1)) INTO found_n, system_id, dag_id
		FROM generate_series(1, length(spec)) AS p
		JOIN @extschema@.system s ON s.name = left(spec, p - 1) AND s.kind = 'airflow'
		WHERE substr(spec, p, 1) = '/'
		  AND EXISTS (SELECT FROM @extschema@.job j WHERE j.system_id = s.system_id AND j.dag_id = substr(spec, p + 1));
	END IF;
	IF found_n > 1 THEN
		RAISE EXCEPTION 'DAG "%" is ambiguous', spec
			USING ERRCODE = 'ambiguous_parameter', HINT = 'Quote the system name: "system"/dag_id.';
	END IF;
	IF found_n = 0 THEN
		RAISE EXCEPTION 'job or DAG "%" does not exist', spec
			USING ERRCODE = 'undefined_object',
				  HINT = 'Name a Glue job as system/job, an Airflow task as system/dag_id.task_id, a whole DAG as system/dag_id; kant knows them once it has ingested a run (or kant.configure_job).';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._recovery_target(text) IS
	'internal: what a recovery policy names: a job (system/job, kant._job_ref) first, else an Airflow DAG of which kant knows a task (system/dag_id); 42704 when neither, 42725 when ambiguous';
REVOKE ALL ON FUNCTION @extschema@._recovery_target(text) FROM PUBLIC;

CREATE VIEW @extschema@.recovery_scope AS
SELECT DISTINCT ON (j.job_id) j.job_id, s.name AS system, j.name AS job, s.kind AS system_kind, j.dag_id,
	p.max_attempts, p.min_wait, p.dry_run, p.include_downstream, p.job_id IS NULL AS from_dag
FROM @extschema@.recovery_policy p
JOIN @extschema@.job j ON j.job_id = p.job_id
	OR (p.job_id IS NULL AND j.system_id = p.system_id AND j.dag_id = p.dag_id)
JOIN @extschema@.system s ON s.system_id = j.system_id
WHERE s.kind IN ('glue', 'airflow')
ORDER BY j.job_id, p.job_id NULLS LAST;
COMMENT ON VIEW @extschema@.recovery_scope IS
	'Every job kant recovers and the policy it has: its own (kant.set_recovery on the job or task), else its DAG''s (a policy on a whole Airflow DAG)';
COMMENT ON COLUMN @extschema@.recovery_scope.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.recovery_scope.system IS 'its system';
COMMENT ON COLUMN @extschema@.recovery_scope.job IS 'its name (dag_id.task_id for Airflow)';
COMMENT ON COLUMN @extschema@.recovery_scope.system_kind IS 'glue (restarted) or airflow (cleared)';
COMMENT ON COLUMN @extschema@.recovery_scope.dag_id IS 'Airflow: its DAG';
COMMENT ON COLUMN @extschema@.recovery_scope.max_attempts IS 'restarts or clears per business date at most';
COMMENT ON COLUMN @extschema@.recovery_scope.min_wait IS 'wait after a failure';
COMMENT ON COLUMN @extschema@.recovery_scope.dry_run IS 'only log';
COMMENT ON COLUMN @extschema@.recovery_scope.include_downstream IS 'Airflow: clear what the failure left upstream_failed too';
COMMENT ON COLUMN @extschema@.recovery_scope.from_dag IS 'true: the policy of its whole DAG';

---------------------------------------------------------------------------
-- Talking to Airflow
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._airflow_clear_body(api text, dag_run_id text, task_ids text[],
		include_downstream boolean, dry_run boolean)
	RETURNS jsonb
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT jsonb_build_object('dry_run', dry_run, 'only_failed', true, 'reset_dag_runs', true,
			'dag_run_id', dag_run_id, 'include_downstream', include_downstream)
		|| CASE WHEN EXISTS (SELECT FROM unnest(task_ids) AS t WHERE t IS NOT NULL)
				THEN jsonb_build_object('task_ids', (SELECT jsonb_agg(DISTINCT t ORDER BY t)
													 FROM unnest(task_ids) AS t WHERE t IS NOT NULL))
				ELSE '{}' END
		|| CASE WHEN api = 'v2' THEN jsonb_build_object('prevent_running_task', true) ELSE '{}' END
	$$;
COMMENT ON FUNCTION @extschema@._airflow_clear_body(text, text, text[], boolean, boolean) IS
	'internal: the one body of POST dags/{dag_id}/clearTaskInstances kant sends, valid in the v1 (ClearTaskInstances) and v2 (ClearTaskInstancesBody, no other field allowed) specs: dry_run and reset_dag_runs always explicit (the servers default dry_run to true, and v1 reset_dag_runs to false: a failed run would stay failed), only_failed, the DAG run, task_ids (sorted, once each; left out when none: every failed task instance of the run), include_downstream; api v2 adds prevent_running_task (a 409 rather than restarting a running task instance; v1''s form refuses unknown fields)';
REVOKE ALL ON FUNCTION @extschema@._airflow_clear_body(text, text, text[], boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._airflow_clear(system text, dag_id text, dag_run_id text, task_ids text[],
		include_downstream boolean, dry_run boolean)
	RETURNS TABLE (status integer, body text, api text)
	SET search_path = pg_catalog, pg_temp
	AS 'MODULE_PATHNAME', 'kant_airflow_clear'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._airflow_clear(text, text, text, text[], boolean, boolean) IS
	'internal: clear failed task instances of one DAG run: POST dags/{dag_id}/clearTaskInstances with kant._airflow_clear_body for the API version the server speaks (detected as the collector does; its credentials, timeouts and retries). task_ids NULL or empty: every failed task instance of the run; with include_downstream also the failed and upstream_failed ones downstream of them; dry_run: Airflow only answers what it would clear. Returns the status, the API version and the body: for 2xx the reply checked against the spec (v1 TaskInstanceReferenceCollection, v2 TaskInstanceCollectionResponse; every item of this DAG and run, else 08P01) as {"task_instances": [{"task_id", "map_index" (v2 only)}], "total_entries"}; else the error''s text (404: no such DAG or DAG run; 409, v2: a task instance it would clear is running; 400/422: the body was refused). A transport failure is an error';
REVOKE ALL ON FUNCTION @extschema@._airflow_clear(text, text, text, text[], boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._airflow_dag_run(system text, dag_id text, dag_run_id text,
		task_instances boolean DEFAULT true)
	RETURNS TABLE (status integer, detail text, run_state text, task_instances jsonb, api text)
	SET search_path = pg_catalog, pg_temp
	AS 'MODULE_PATHNAME', 'kant_airflow_dag_run'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._airflow_dag_run(text, text, text, boolean) IS
	'internal: a DAG run as Airflow has it now: GET dags/{dag_id}/dagRuns/{dag_run_id} (its state: queued, running, success, failed) and, unless task_instances is false (then NULL), every page of its taskInstances (the current try of each: a JSON array of {task_id, map_index, state (null: none yet), try_number, max_tries}); status is the DAG run GET''s, and on an error status detail is its text (404: Airflow knows no such DAG run) and the rest NULL. A transport failure, an error listing the task instances or a reply not of the spec''s shape is an error';
REVOKE ALL ON FUNCTION @extschema@._airflow_dag_run(text, text, text, boolean) FROM PUBLIC;

---------------------------------------------------------------------------
-- What a clear would run again, and how long that takes
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._airflow_failures(system_id integer, dag_id text, since date)
	RETURNS TABLE (job_id integer, job_name text, task_id text, map_index integer, dag_run_id text,
		external_id text, attempt integer, business_date date, ended_at timestamptz, max_attempts integer,
		min_wait interval, dry_run boolean, include_downstream boolean)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT j.job_id, j.name, j.task_id,
		CASE WHEN l.details->>'map_index' ~ '^[0-9]{1,9}$' THEN (l.details->>'map_index')::integer ELSE -1 END,
		coalesce(l.details->>'dag_run_id', l.external_id), l.external_id, l.attempt, l.business_date, l.ended_at,
		rs.max_attempts, rs.min_wait, rs.dry_run, rs.include_downstream
	FROM @extschema@.recovery_scope rs
	JOIN @extschema@.job j ON j.job_id = rs.job_id
	CROSS JOIN LATERAL (
		SELECT r.details, r.external_id, r.attempt, r.business_date, r.ended_at, r.state
		FROM @extschema@.job_run r
		WHERE r.job_id = j.job_id AND r.business_date >= $3
		-- the newest of the newest business date, as for Glue (recovery.sql)
		ORDER BY r.business_date DESC, r.started_at DESC NULLS FIRST, r.attempt DESC
		LIMIT 1) l
	WHERE j.system_id = $1 AND j.dag_id = $2 AND l.state::text IN ('failed', 'timed_out')
	$$;
COMMENT ON FUNCTION @extschema@._airflow_failures(integer, text, date) IS
	'internal: the tasks of an Airflow DAG with a recovery policy whose newest task instance of the newest business date (since on) failed: Airflow gave up on it (its own retries are up_for_retry, not failed), with the try (attempt), its DAG run and the policy';
REVOKE ALL ON FUNCTION @extschema@._airflow_failures(integer, text, date) FROM PUBLIC;

CREATE FUNCTION @extschema@._remaining_p90(job_id integer, rest integer[], as_of timestamptz DEFAULT now())
	RETURNS double precision
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH h AS (
		SELECT r.started_at, coalesce(r.details->>'dag_run_id', r.external_id) AS run
		FROM @extschema@.job_run r
		WHERE r.job_id = $1 AND r.state::text = 'succeeded' AND r.started_at <= $3 AND r.ended_at <= $3
		ORDER BY r.started_at DESC
		LIMIT (SELECT s.history_runs FROM @extschema@._alert_settings() s)
	)
	SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM e.end_at - h.started_at)::double precision)
	FROM h
	CROSS JOIN LATERAL (
		-- the run's task instances of those tasks (mapped ones are run#index)
		SELECT max(r.ended_at) AS end_at
		FROM @extschema@.job_run r
		WHERE r.job_id = ANY ($1 || $2) AND r.state::text = 'succeeded' AND r.ended_at <= $3
		  AND (r.external_id = h.run OR (r.external_id > h.run || '#' AND r.external_id < h.run || '$'))) e
	WHERE e.end_at IS NOT NULL
	$$;
COMMENT ON FUNCTION @extschema@._remaining_p90(integer, integer[], timestamptz) IS
	'internal: how long the rest of an Airflow DAG run takes from a task on: the p90 (seconds) over the task''s last successful runs before as_of (kant.alert_settings.history_runs of them) of the time from its start to the end of the last of it and the rest tasks in the same DAG run; NULL without history';
REVOKE ALL ON FUNCTION @extschema@._remaining_p90(integer, integer[], timestamptz) FROM PUBLIC;

---------------------------------------------------------------------------
-- Recovering: kant.recover_failed_runs() calls this after the Glue jobs
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._recover_airflow(dry_run boolean)
	RETURNS TABLE (job text, business_date date, failed_run text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	st record;
	since date;
	d record;
	g record;
	c record;
	dr record;
	res record;
	tgt text;
	why text;
	done_n integer;
	deadline timestamptz;
	deadline_zone text;
	p90 double precision;
	rest integer[];
	ti jsonb;
	cleared jsonb;
	body jsonb;
	sent text[];
	n integer;
	i integer;
	-- the failed task instances of one DAG run kant is about to clear
	jobs integer[];
	names text[];
	tasks text[];
	targets text[];
	bds date[];
	tries integer[];
	maps integer[];
	nums integer[];
	maxes integer[];
	outs text[];
	whys text[];
	codes integer[];
BEGIN
	SELECT * INTO st FROM @extschema@._alert_settings();
	-- business dates of every zone in the lookback window; waits as elapsed time
	since := ((now() - @extschema@._elapsed(st.lookback)) AT TIME ZONE 'UTC')::date - 1;
	FOR d IN
		SELECT DISTINCT s.system_id, s.name AS sys, j.dag_id
		FROM @extschema@.recovery_scope rs
		JOIN @extschema@.job j ON j.job_id = rs.job_id
		JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.kind = 'airflow' AND j.dag_id IS NOT NULL
		  AND EXISTS (SELECT FROM @extschema@.job_run r WHERE r.job_id = j.job_id AND r.business_date >= since
					  AND r.state::text IN ('failed', 'timed_out'))
		ORDER BY s.name, j.dag_id
	LOOP
		-- one caller at a time per DAG: a second waits, then finds the failure handled
		-- a DAG another session is clearing (recovery, kant.rerun) is left to
		-- it: the next tick looks again, none waits (kant.tick's deadline)
		CONTINUE WHEN NOT pg_try_advisory_xact_lock(@extschema@._lock_key('recover_dag'), hashtext(d.system_id || '/' || d.dag_id));
		-- one clear per DAG run (and per include_downstream and dry run of the policies in it)
		FOR g IN
			SELECT DISTINCT x.dag_run_id, x.include_downstream, (_recover_airflow.dry_run OR x.dry_run) AS dry
			FROM @extschema@._airflow_failures(d.system_id, d.dag_id, since) x
			ORDER BY 1, 2, 3
		LOOP
			jobs := '{}'; names := '{}'; tasks := '{}'; targets := '{}'; bds := '{}'; tries := '{}';
			maps := '{}'; nums := '{}'; maxes := '{}';
			FOR c IN
				SELECT x.* FROM @extschema@._airflow_failures(d.system_id, d.dag_id, since) x
				WHERE x.dag_run_id = g.dag_run_id AND x.include_downstream = g.include_downstream
				  AND (_recover_airflow.dry_run OR x.dry_run) = g.dry
				ORDER BY x.job_name
			LOOP
				-- a failure is a try: a new failure after a clear is a new try
				tgt := @extschema@._failure_target(d.dag_id, c.external_id, c.attempt);
				-- once per try, whether recovery or kant.rerun cleared it
				CONTINUE WHEN EXISTS (SELECT FROM @extschema@._prior_action(c.job_id, tgt, g.dry));
				CONTINUE WHEN c.ended_at > now() - @extschema@._elapsed(c.min_wait);
				why := NULL;
				done_n := @extschema@._recoveries(c.job_id, c.business_date, g.dry);
				IF done_n >= c.max_attempts THEN
					why := format('cleared %s of %s times for %s already', done_n, c.max_attempts,
								  to_char(c.business_date::timestamp, 'YYYY-MM-DD'));
				END IF;
				-- what the clear runs again: the task and, downstream, what its
				-- failure left upstream_failed in the run (as kant holds it)
				rest := CASE WHEN c.include_downstream THEN ARRAY(
					SELECT DISTINCT r.job_id FROM @extschema@.job_run r
					JOIN @extschema@.job j ON j.job_id = r.job_id
					WHERE j.system_id = d.system_id AND j.dag_id = d.dag_id AND r.business_date = c.business_date
					  AND coalesce(r.details->>'dag_run_id', r.external_id) = g.dag_run_id
					  AND r.state::text = 'upstream_failed' AND r.superseded_at IS NULL AND r.job_id <> c.job_id)
					ELSE '{}' END;
				IF why IS NULL THEN
					deadline := NULL;
					SELECT x.at, x.time_zone INTO deadline, deadline_zone
					FROM (SELECT @extschema@._due(c.business_date, jd.deadline_offset_days, jd.deadline_time, jd.time_zone) AS at,
							  jd.time_zone
						  FROM @extschema@.job_deadline jd WHERE jd.job_id = ANY (c.job_id || rest)) x
					ORDER BY x.at LIMIT 1;
					p90 := coalesce(@extschema@._remaining_p90(c.job_id, rest),
									(SELECT jd.p90_seconds FROM @extschema@.job_durations(ARRAY[c.job_id]) jd), 0);
					IF deadline IS NOT NULL AND now() + make_interval(secs => p90) > deadline THEN
						why := format('the deadline cannot be met: the DAG run from %s on takes %s (p90) and the deadline is %s %s',
									  c.task_id, @extschema@._human(p90),
									  to_char(deadline AT TIME ZONE deadline_zone, 'YYYY-MM-DD HH24:MI'), deadline_zone);
					END IF;
				END IF;
				-- not while the DAG run is still running other tasks, as kant holds it
				IF why IS NULL AND EXISTS (
					SELECT FROM @extschema@.job_run r JOIN @extschema@.job j ON j.job_id = r.job_id
					WHERE j.system_id = d.system_id AND j.dag_id = d.dag_id AND r.business_date = c.business_date
					  AND coalesce(r.details->>'dag_run_id', r.external_id) = g.dag_run_id
					  AND NOT @extschema@.is_terminal(r.state) AND r.superseded_at IS NULL) THEN
					why := 'the DAG run is still running other tasks: kant clears once it has finished';
				END IF;
				IF why IS NOT NULL THEN
					INSERT INTO @extschema@.action_log AS a (kind, job_id, business_date, system_id, target, outcome, detail)
					VALUES ('recover', c.job_id, c.business_date, d.system_id, tgt, 'skipped', why)
					ON CONFLICT DO NOTHING;
					IF FOUND THEN
						job := c.job_name; business_date := c.business_date; failed_run := tgt;
						outcome := 'skipped'; detail := why;
						RETURN NEXT;
					END IF;
					CONTINUE;
				END IF;
				jobs := jobs || c.job_id; names := names || c.job_name; tasks := tasks || c.task_id;
				targets := targets || tgt; bds := bds || c.business_date; tries := tries || c.attempt;
				maps := maps || c.map_index; nums := nums || (done_n + 1); maxes := maxes || c.max_attempts;
			END LOOP;
			n := cardinality(jobs);
			CONTINUE WHEN n = 0;
			body := @extschema@._airflow_clear_body(NULL, g.dag_run_id, tasks, g.include_downstream, false);
			IF g.dry THEN
				FOR i IN 1 .. n LOOP
					INSERT INTO @extschema@.action_log AS a (kind, job_id, business_date, system_id, target, outcome, detail)
					VALUES ('recover', jobs[i], bds[i], d.system_id, targets[i], 'dry_run',
							format('would ask Airflow for DAG run %s and, when it has finished and %s failed in try %s, POST dags/%s/clearTaskInstances %s (API v2 adds "prevent_running_task": true) (clear %s of %s)',
								   g.dag_run_id, tasks[i], tries[i], d.dag_id, body, nums[i], maxes[i]))
					ON CONFLICT DO NOTHING;
					IF FOUND THEN
						job := names[i]; business_date := bds[i]; failed_run := targets[i];
						outcome := 'dry_run'; detail := body::text;
						RETURN NEXT;
					END IF;
				END LOOP;
				CONTINUE;
			END IF;
			outs := array_fill(NULL::text, ARRAY[n]);
			whys := array_fill(NULL::text, ARRAY[n]);
			codes := array_fill(NULL::integer, ARRAY[n]);
			BEGIN
				/*
				 * The run as Airflow has it, not as it was ingested: a writer
				 * reports runs, it never chooses what kant clears with the
				 * system's credentials.  kant clears a finished DAG run whose
				 * task instance failed in the try kant holds.
				 */
				SELECT * INTO dr FROM @extschema@._airflow_dag_run(d.sys, d.dag_id, g.dag_run_id);
				IF dr.status = 404 THEN
					FOR i IN 1 .. n LOOP
						outs[i] := 'refused'; codes[i] := dr.status;
						whys[i] := format('Airflow does not know DAG run %s of %s (HTTP 404: %s): kant clears only task instances Airflow reports as failed',
										  g.dag_run_id, d.dag_id, left(dr.detail, 500));
					END LOOP;
				ELSIF dr.status NOT BETWEEN 200 AND 299 THEN
					FOR i IN 1 .. n LOOP
						outs[i] := 'failed'; codes[i] := dr.status;
						whys[i] := format('GET dagRun: HTTP %s: %s', dr.status, left(dr.detail, 1000));
					END LOOP;
				ELSIF dr.run_state IS DISTINCT FROM 'failed' AND dr.run_state IS DISTINCT FROM 'success' THEN
					FOR i IN 1 .. n LOOP
						outs[i] := 'skipped'; codes[i] := dr.status;
						whys[i] := format('Airflow says the DAG run is %s: kant clears once it has finished',
										  coalesce(dr.run_state, 'in no state'));
					END LOOP;
				ELSE
					sent := '{}';
					FOR i IN 1 .. n LOOP
						-- its current try (a server that lists earlier tries too: the last)
						SELECT t INTO ti FROM jsonb_array_elements(dr.task_instances) AS t
						WHERE t->>'task_id' = tasks[i] AND (t->>'map_index')::integer = maps[i]
						ORDER BY (t->>'try_number')::integer DESC LIMIT 1;
						codes[i] := dr.status;
						IF ti IS NULL THEN
							outs[i] := 'refused';
							whys[i] := format('Airflow has no task instance %s in DAG run %s: kant clears only task instances Airflow reports as failed',
											  tasks[i], g.dag_run_id);
						ELSIF ti->>'state' = 'failed' AND (ti->>'try_number')::integer = tries[i] THEN
							sent := sent || tasks[i];
						ELSIF ti->>'state' IN ('success', 'skipped', 'removed') THEN
							outs[i] := 'refused';
							whys[i] := format('Airflow says %s is %s (try %s): nothing to clear', tasks[i], ti->>'state',
											  ti->>'try_number');
						ELSE
							-- up_for_retry (Airflow's own retry), a later try, or already cleared
							outs[i] := 'skipped';
							whys[i] := format('Airflow says %s is %s in try %s: kant waits', tasks[i],
											  coalesce(ti->>'state', 'none'), ti->>'try_number');
						END IF;
					END LOOP;
					IF cardinality(sent) > 0 THEN
						SELECT * INTO res FROM @extschema@._airflow_clear(d.sys, d.dag_id, g.dag_run_id, sent,
																		 g.include_downstream, false);
						cleared := CASE WHEN res.status BETWEEN 200 AND 299 THEN res.body::jsonb END;
						FOR i IN 1 .. n LOOP
							CONTINUE WHEN outs[i] IS NOT NULL;
							codes[i] := res.status;
							IF cleared IS NOT NULL AND EXISTS (
								SELECT FROM jsonb_array_elements(cleared->'task_instances') AS t
								WHERE t->>'task_id' = tasks[i]) THEN
								outs[i] := 'done';
								whys[i] := format('clear %s of %s (try %s failed): Airflow cleared %s task instances of DAG run %s (API %s): %s',
												  nums[i], maxes[i], tries[i], cleared->>'total_entries', g.dag_run_id, res.api,
												  left((SELECT string_agg(DISTINCT t->>'task_id', ', ')
														FROM jsonb_array_elements(cleared->'task_instances') AS t), 600));
							ELSIF cleared IS NOT NULL THEN
								outs[i] := 'refused';
								whys[i] := format('Airflow did not clear %s (its answer left it out: it is not failed any more)', tasks[i]);
							ELSIF res.status = 404 THEN
								outs[i] := 'refused';
								whys[i] := format('Airflow does not know DAG %s or its run %s (HTTP 404: %s)', d.dag_id,
												  g.dag_run_id, left(res.body, 500));
							ELSIF res.status = 409 THEN
								outs[i] := 'already';
								whys[i] := format('a task instance the clear would reset is running already (HTTP 409: %s)',
												  left(res.body, 500));
							ELSE
								outs[i] := 'failed';
								whys[i] := format('clearTaskInstances: HTTP %s: %s', res.status, left(res.body, 1000));
							END IF;
						END LOOP;
					END IF;
				END IF;
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;				-- cancel and shutdown are not outcomes
				END IF;
				FOR i IN 1 .. n LOOP
					outs[i] := 'failed'; codes[i] := NULL; whys[i] := SQLSTATE || ': ' || SQLERRM;
				END LOOP;
			END;
			FOR i IN 1 .. n LOOP
				INSERT INTO @extschema@.action_log AS a (kind, job_id, business_date, system_id, target, outcome,
					http_status, detail)
				VALUES ('recover', jobs[i], bds[i], d.system_id, targets[i], outs[i], codes[i], whys[i])
				ON CONFLICT DO NOTHING;
				IF FOUND THEN
					job := names[i]; business_date := bds[i]; failed_run := targets[i];
					outcome := outs[i]; detail := whys[i];
					RETURN NEXT;
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._recover_airflow(boolean) IS
	'internal: the Airflow part of kant.recover_failed_runs(): for each task with a policy (kant.recovery_scope) whose newest task instance failed (Airflow gave up: its own retries are up_for_retry, which kant waits for), min_wait after it, fewer than max_attempts clears that business date, the p90 of the rest of the DAG run (kant._remaining_p90) before the earliest SLO deadline of what the clear runs again, and no task of the DAG run in flight as kant holds it: asks Airflow (kant._airflow_dag_run) and clears (kant._airflow_clear, one POST per DAG run) only a finished DAG run whose task instance failed in the same try, once per try (target dag_id/dag_run_id try n), under a lock per DAG; 404 refused, 409 already, every outcome and reason to skip in kant.action_log';
REVOKE ALL ON FUNCTION @extschema@._recover_airflow(boolean) FROM PUBLIC;
