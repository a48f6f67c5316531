/*
 * kant: Re-runs on request: "run the failed part of business date D again".
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

---------------------------------------------------------------------------
-- Restarting one failed Glue run: the one place recovery and kant.rerun
-- both start a Glue job again
---------------------------------------------------------------------------

/*
 * A run of a Glue job that Glue has and kant may not have collected yet: one
 * that names a run as PreviousRunId (its retry), or one started with an
 * argument's value (a business date).  StartJobRun has no idempotency token
 * (botocore glue-2017-03-31 StartJobRunRequest), so kant looks before it
 * starts one.  GetJobRuns lists a job's runs newest first: once a page
 * reaches back past since (epoch seconds) every later run was seen.  A busy
 * job can start more than a page of runs since; at most 10 pages of 100.
 */
CREATE FUNCTION @extschema@._glue_find_run(system text, job text, since double precision,
		previous_run text DEFAULT NULL, arg_name text DEFAULT NULL, arg_values text[] DEFAULT NULL)
	RETURNS TABLE (status integer, detail text, match jsonb)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res record;
	runs jsonb;
	next_token text;
	pages integer := 0;
BEGIN
	LOOP
		SELECT * INTO res FROM @extschema@._glue_call(system, 'GetJobRuns',
			(jsonb_build_object('JobName', job, 'MaxResults', 100)
			 || CASE WHEN next_token IS NOT NULL THEN jsonb_build_object('NextToken', next_token) ELSE '{}' END)::text);
		status := res.status;
		IF res.status <> 200 THEN
			detail := 'GetJobRuns: ' || coalesce(left(res.body, 1000), 'HTTP ' || res.status);
			match := NULL;
			RETURN NEXT;
			RETURN;
		END IF;
		runs := CASE WHEN jsonb_typeof((res.body::jsonb)->'JobRuns') = 'array' THEN (res.body::jsonb)->'JobRuns' ELSE '[]' END;
		SELECT r INTO match FROM jsonb_array_elements(runs) r
		WHERE (previous_run IS NOT NULL AND r->>'PreviousRunId' = previous_run)
		   OR (arg_name IS NOT NULL AND jsonb_typeof(r->'Arguments') = 'object' AND r->'Arguments'->>arg_name = ANY (arg_values))
		LIMIT 1;
		pages := pages + 1;
		next_token := CASE WHEN jsonb_typeof((res.body::jsonb)->'NextToken') = 'string' THEN (res.body::jsonb)->>'NextToken' END;
		EXIT WHEN match IS NOT NULL OR next_token IS NULL OR pages >= 10
			OR EXISTS (SELECT FROM jsonb_array_elements(runs) r
					   WHERE r->>'Id' = previous_run
						  OR since IS NOT NULL AND jsonb_typeof(r->'StartedOn') = 'number'
							 AND (r->>'StartedOn')::double precision < since);
	END LOOP;
	detail := NULL;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@._glue_find_run(text, text, double precision, text, text, text[]) IS
	'internal: look in Glue (GetJobRuns, newest first, pages of 100, at most 10, back to since in epoch seconds or to previous_run) for a run of the job that names previous_run as PreviousRunId, or whose Arguments give arg_name one of arg_values (a date in either of its formats); status 200 and the run that matches (NULL: none), or the error status and its text; kant._glue_restart and kant.rerun''s start of a missing date look before StartJobRun, which has no idempotency token';
REVOKE ALL ON FUNCTION @extschema@._glue_find_run(text, text, double precision, text, text, text[]) FROM PUBLIC;

-- One StartJobRun and what came of it: done (its JobRunId), skipped
-- (ConcurrentRunsExceededException: the job's MaxConcurrentRuns are going) or
-- failed (Glue's error); never repeated after a timeout or a 5xx (glue_retry)
CREATE FUNCTION @extschema@._glue_start(system text, body jsonb)
	RETURNS TABLE (outcome text, http_status integer, detail text, new_run_id text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res record;
BEGIN
	SELECT * INTO res FROM @extschema@._glue_call(system, 'StartJobRun', body::text);
	http_status := res.status;
	outcome := CASE WHEN res.status = 200 THEN 'done'
					WHEN res.error_type = 'ConcurrentRunsExceededException' THEN 'skipped'
					ELSE 'failed' END;
	new_run_id := CASE WHEN outcome = 'done' THEN (res.body::jsonb)->>'JobRunId' END;
	detail := CASE outcome WHEN 'done' THEN 'StartJobRun: JobRunId ' || new_run_id
				   WHEN 'skipped' THEN 'a run of the job is going (ConcurrentRunsExceededException)'
				   ELSE left(res.body, 1000) END;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@._glue_start(text, jsonb) IS
	'internal: one StartJobRun (body: JobName, and JobRunId for a restart, Arguments) through kant._glue_call; outcome done (new_run_id: its JobRunId), skipped (ConcurrentRunsExceededException) or failed (Glue''s error, in detail), with the HTTP status. kant._glue_restart and kant.rerun''s start of a missing date call it, after kant._glue_find_run';
REVOKE ALL ON FUNCTION @extschema@._glue_start(text, jsonb) FROM PUBLIC;

/*
 * The run as Glue has it (GetJobRun), not as it was ingested: a writer
 * reports runs, it never chooses what kant starts with the system's
 * credentials.  A run Glue does not know, or does not call failed, is refused
 * for good; the restart takes Glue's own arguments for the run
 * (StartJobRun's JobRunId names the run to retry, and Glue sets the new
 * run's PreviousRunId to it: botocore glue-2017-03-31 StartJobRunRequest).
 */
CREATE FUNCTION @extschema@._glue_restart(system text, job text, failed_run text)
	RETURNS TABLE (outcome text, http_status integer, detail text, new_run_id text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res record;
	glue_run jsonb;
	retry jsonb;
	body jsonb := jsonb_build_object('JobName', job, 'JobRunId', failed_run);
BEGIN
	SELECT * INTO res FROM @extschema@._glue_call(system, 'GetJobRun',
		jsonb_build_object('JobName', job, 'RunId', failed_run)::text);
	glue_run := CASE WHEN res.status = 200 THEN (res.body::jsonb)->'JobRun' END;
	http_status := res.status;
	IF res.error_type = 'EntityNotFoundException' THEN
		outcome := 'refused';
		detail := format('Glue does not know run %s of job %s (GetJobRun: EntityNotFoundException): kant restarts only runs Glue reports as failed',
						 failed_run, job);
	ELSIF jsonb_typeof(glue_run) IS DISTINCT FROM 'object' THEN
		outcome := 'failed';
		detail := 'GetJobRun: ' || coalesce(left(res.body, 1000), 'HTTP ' || res.status);
	ELSIF glue_run->>'JobName' IS DISTINCT FROM job OR glue_run->>'Id' IS DISTINCT FROM failed_run
		  OR coalesce(glue_run->>'JobRunState', '') NOT IN ('FAILED', 'TIMEOUT', 'ERROR') THEN
		outcome := 'refused';
		detail := format('Glue says run %s of job %s is %s: nothing to restart', failed_run, job,
						 coalesce(glue_run->>'JobRunState', 'in no state'));
	ELSE
		/*
		 * A run that retries this one already (Glue's own retry, a StartJobRun
		 * whose answer was lost: a timeout or a 5xx is not retried, Glue may
		 * have started it; one by hand) names it as PreviousRunId: the failed
		 * run is not restarted twice.  A retry starts after the failed run.
		 */
		SELECT * INTO res FROM @extschema@._glue_find_run(system, job,
			CASE WHEN jsonb_typeof(glue_run->'StartedOn') = 'number' THEN (glue_run->>'StartedOn')::double precision END,
			previous_run => failed_run);
		IF res.status <> 200 THEN
			outcome := 'failed'; http_status := res.status; detail := res.detail;
			RETURN NEXT;
			RETURN;
		END IF;
		retry := res.match;
		IF retry IS NOT NULL THEN
			outcome := 'already'; http_status := 200; new_run_id := retry->>'Id';
			detail := format('Glue has run %s (%s) that retries %s already (its PreviousRunId): not started twice',
							 retry->>'Id', coalesce(retry->>'JobRunState', 'in no state'), failed_run);
			RETURN NEXT;
			RETURN;
		END IF;
		IF jsonb_typeof(glue_run->'Arguments') = 'object' THEN
			body := body || jsonb_build_object('Arguments', glue_run->'Arguments');
		END IF;
		-- a run of the job going is maybe of another date: not this failure's
		-- restart, so tried again later
		SELECT s.outcome, s.http_status, s.new_run_id,
			s.detail || CASE WHEN s.outcome = 'skipped' THEN ': tried again once it has ended' ELSE '' END
		INTO outcome, http_status, new_run_id, detail
		FROM @extschema@._glue_start(system, body) s;
	END IF;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@._glue_restart(text, text, text) IS
	'internal, the rule of restarting a failed Glue run (kant.recover_failed_runs and kant.rerun): GetJobRun first (refused when Glue does not know the run or does not report it FAILED, TIMEOUT or ERROR), GetJobRuns (already when one of the job''s runs since it, newest first, up to 10 pages of 100, names it as PreviousRunId: a retry exists, for instance from a StartJobRun whose answer was lost, which is never retried after a timeout or a 5xx), then StartJobRun with the run''s id and Glue''s arguments for it; outcome done (new_run_id: the JobRunId), skipped (ConcurrentRunsExceededException: a run of the job is going; tried again later), failed (the error) or refused, with the HTTP status and a detail';
REVOKE ALL ON FUNCTION @extschema@._glue_restart(text, text, text) FROM PUBLIC;

---------------------------------------------------------------------------
-- Gates re-armed for a business date: the downstream runs again
---------------------------------------------------------------------------

CREATE TABLE @extschema@.gate_rerun (
	gate_id			integer NOT NULL REFERENCES @extschema@.gate ON DELETE CASCADE,
	business_date	date NOT NULL,
	generation		integer NOT NULL CHECK (generation >= 1),
	requested_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	requested_by	name NOT NULL DEFAULT session_user,
	-- systems kant.rerun acted on: each must have been collected since
	systems			integer[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (gate_id, business_date, generation)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gate_rerun', '');
COMMENT ON TABLE @extschema@.gate_rerun IS
	'A gate''s downstream DAG asked to run again for a business date (kant.rerun(..., retrigger => true)): kant.trigger_ready_gates() triggers it once more, as dag_run_id kant__<gate>__<date>__rerun<generation>, when the gate is ready and every system the re-run acted on has been collected since';
COMMENT ON COLUMN @extschema@.gate_rerun.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.gate_rerun.business_date IS 'the business date';
COMMENT ON COLUMN @extschema@.gate_rerun.generation IS 'the n-th re-trigger asked for that date (1, 2, ...); the first trigger is generation 0 and has no row';
COMMENT ON COLUMN @extschema@.gate_rerun.requested_at IS 'when kant.rerun asked for it';
COMMENT ON COLUMN @extschema@.gate_rerun.requested_by IS 'the session user who asked';
COMMENT ON COLUMN @extschema@.gate_rerun.systems IS 'the systems (kant.system ids) the re-run started or cleared runs on: the downstream waits until a collection of each, started after requested_at, succeeded (until then kant''s data still shows the runs from before the re-run)';

/*
 * Which run of a gate's downstream DAG is due for a business date: the
 * first (generation 0) or the latest re-trigger asked; its deterministic
 * dag_run_id; and its logical date.  The logical date is midnight UTC of the
 * business date, or the zone's midnight where that is later (west of UTC), so
 * that the downstream DAG's {{ ds }} (the logical date's UTC date) and the
 * logical date's date in the downstream system's zone (the business date kant
 * gives its runs) are both the business date; 1 + generation seconds past it
 * (and the gate id in microseconds, for a re-trigger or a second gate on the
 * DAG),
 * as Airflow allows one run per logical date (test/fakes/airflow/
 * v1-openapi.yaml, DAGRun.logical_date: "This together with DAG_ID are a
 * unique key"; a POST whose logical date another run has is a 409:
 * api_connexion dag_run_endpoint.post_dag_run) and the DAG's own schedule may
 * have one at midnight.
 */
CREATE FUNCTION @extschema@._gate_run(gate_id integer, business_date date, time_zone text)
	RETURNS TABLE (generation integer, dag_run_id text, logical_date text, requested_at timestamptz,
		systems integer[])
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT gen, format('kant__%s__%s', g.name, to_char($2::timestamp, 'YYYY-MM-DD'))
			|| CASE WHEN gen > 0 THEN '__rerun' || gen ELSE '' END,
		-- a re-trigger, and a gate whose DAG an older gate triggers too, add the
		-- gate's id in microseconds: two gates' runs of one DAG never share the
		-- logical date Airflow keeps unique
		to_char(greatest($2::timestamp AT TIME ZONE 'UTC', $2::timestamp AT TIME ZONE $3)
				AT TIME ZONE 'UTC' + make_interval(secs => 1 + gen)
				+ CASE WHEN u.own THEN interval '1 microsecond' * g.gate_id ELSE interval '0' END,
				CASE WHEN u.own THEN 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS"Z"' END),
		r.requested_at, coalesce(r.systems, '{}')
	FROM @extschema@.gate g
	LEFT JOIN LATERAL (SELECT x.generation, x.requested_at, x.systems FROM @extschema@.gate_rerun x
					   WHERE x.gate_id = g.gate_id AND x.business_date = $2
					   ORDER BY x.generation DESC LIMIT 1) r ON true
	CROSS JOIN LATERAL (SELECT coalesce(r.generation, 0) AS gen) k
	CROSS JOIN LATERAL (SELECT k.gen > 0 OR EXISTS (
							SELECT FROM @extschema@.gate o
							WHERE o.downstream_system_id = g.downstream_system_id
							  AND o.downstream_dag_id = g.downstream_dag_id AND o.gate_id < g.gate_id) AS own) u
	WHERE g.gate_id = $1
	$$;
COMMENT ON FUNCTION @extschema@._gate_run(integer, date, text) IS
	'internal, the rule of a gate''s downstream run for a business date: the generation due (0, or the latest re-trigger kant.rerun asked), its dag_run_id (kant__<gate>__<date>, then __rerun<n>), its logical_date (ISO 8601 UTC: midnight UTC of the date, or the zone''s midnight west of UTC, plus 1 + generation seconds, and for a re-trigger or a gate whose DAG an older gate triggers too the gate id in microseconds, so that no two gates'' runs of a DAG share one) and, for a re-trigger, when it was asked and the systems to collect first';
REVOKE ALL ON FUNCTION @extschema@._gate_run(integer, date, text) FROM PUBLIC;

-- a gate's trigger for a date is settled once done, found done, or refused
-- (another run holds its logical date: kant.rerun re-arms it)
CREATE FUNCTION @extschema@._gate_trigger(gate_id integer, business_date date, target text DEFAULT NULL)
	RETURNS SETOF @extschema@.action_log
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT a.* FROM @extschema@.action_log a
	WHERE a.gate_id = $1 AND a.business_date = $2 AND a.kind = 'trigger'
	  AND a.outcome IN ('done', 'already', 'refused') AND ($3 IS NULL OR a.target = $3)
	ORDER BY a.at DESC, a.action_id DESC LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@._gate_trigger(integer, date, text) IS
	'internal, the rule of a settled gate trigger: the newest kant.action_log entry (kind trigger, outcome done, already or refused) of the gate and business date, for one target (DAG/dag_run_id) or any; none while the gate is still to trigger. kant.trigger_ready_gates, kant.rerun and the hot collection ask it';
REVOKE ALL ON FUNCTION @extschema@._gate_trigger(integer, date, text) FROM PUBLIC;

---------------------------------------------------------------------------
-- kant.rerun
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rerun(job text DEFAULT NULL, pipeline text DEFAULT NULL, gate text DEFAULT NULL,
		business_date date DEFAULT NULL, dry_run boolean DEFAULT true, retrigger boolean DEFAULT false)
	RETURNS TABLE (action text, subject text, target text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d date := rerun.business_date;
	scope int[];
	j record;
	jd record;
	fr record;
	prior record;
	res record;
	g record;
	gr record;
	arg text;
	fmt text;
	acted int[] := '{}';
	clears jsonb := '[]';
	c record;
	t record;
	o text;
	why text;
	missing boolean;
	st integer;
BEGIN
	IF num_nonnulls(rerun.job, rerun.pipeline, rerun.gate) <> 1 THEN
		RAISE EXCEPTION 'name one of job, pipeline or gate'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'e.g. kant.rerun(gate => ''to_google'', business_date => ''2026-11-29''); kant.rerun(job => ''hegel/export_orders'', ...); kant.rerun(pipeline => ''hegel_nightly'', ...).';
	END IF;
	IF d IS NULL THEN
		RAISE EXCEPTION 'business_date is required'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'kant.rerun re-runs one business date: business_date => ''2026-11-29''.';
	END IF;
	-- a date that has begun nowhere yet has no failed part (the earliest zone is UTC+14)
	IF NOT isfinite(d) THEN
		RAISE EXCEPTION 'business_date must be a date, not %', d
			USING ERRCODE = 'invalid_parameter_value', HINT = 'kant.rerun re-runs one business date: business_date => ''2026-11-29''.';
	END IF;
	IF d > (now() AT TIME ZONE 'UTC')::date + 1 THEN
		RAISE EXCEPTION 'business_date % has not begun yet', d
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'kant.rerun re-runs the failed or missing part of a business date that has begun; a run for a later date is its schedule''s to start.';
	END IF;
	PERFORM @extschema@._act_check(dry_run, 'kant.rerun');
	IF retrigger IS NULL THEN
		RAISE EXCEPTION 'kant.rerun: retrigger must be true or false, not NULL'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'retrigger => true triggers a gate''s downstream again when it ran for the date already.';
	END IF;
	IF rerun.job IS NOT NULL THEN
		-- a job (system/job, system/dag_id.task_id), or a whole Airflow DAG
		-- (system/dag_id), named as kant.set_recovery names them
		SELECT CASE WHEN rt.job_id IS NOT NULL THEN ARRAY[rt.job_id]
					ELSE ARRAY(SELECT x.job_id FROM @extschema@.job x
							   WHERE x.system_id = rt.system_id AND x.dag_id = rt.dag_id ORDER BY x.job_id) END
		INTO scope FROM @extschema@._recovery_target(rerun.job) rt;
	ELSIF rerun.pipeline IS NOT NULL THEN
		scope := ARRAY(SELECT x.job_id FROM @extschema@.job x WHERE x.pipeline = rerun.pipeline);
		IF cardinality(scope) = 0 THEN
			RAISE EXCEPTION 'pipeline "%" has no jobs', rerun.pipeline
				USING ERRCODE = 'undefined_object', HINT = 'kant.job holds each job with its pipeline (kant.configure_job sets it).';
		END IF;
	ELSE
		IF NOT EXISTS (SELECT FROM @extschema@.gate x WHERE x.name = rerun.gate) THEN
			RAISE EXCEPTION 'gate "%" does not exist', rerun.gate
				USING ERRCODE = 'undefined_object', HINT = 'kant.gate holds them.';
		END IF;
		scope := ARRAY(SELECT s.job_id FROM @extschema@.gate_scope s JOIN @extschema@.gate x USING (gate_id)
					   WHERE x.name = rerun.gate);
	END IF;

	FOR j IN
		SELECT x.job_id, x.name, x.dag_id, x.task_id, s.system_id, s.name AS sys, s.kind,
			coalesce(x.bd_argument, s.bd_argument) AS bd_argument,
			(SELECT r.required FROM @extschema@._required(x.job_id, d) r) AS required,
			EXISTS (SELECT FROM @extschema@.expected_run e WHERE e.job_id = x.job_id AND e.business_date = d) AS expected,
			EXISTS (SELECT FROM @extschema@.expected_run e WHERE e.job_id = x.job_id AND e.business_date = d
					AND e.due_at > now()) AS awaited
		FROM @extschema@.job x JOIN @extschema@.system s ON s.system_id = x.system_id
		WHERE x.job_id = ANY (scope)
		ORDER BY x.name, x.job_id
	LOOP
		-- one actor per job at a time: recovery takes the same lock
		PERFORM pg_advisory_xact_lock(@extschema@._lock_key('recover'), j.job_id);
		SELECT * INTO jd FROM @extschema@._job_day(j.job_id, d);
		subject := j.sys || '/' || j.name;
		IF jd.done THEN
			action := 'none'; target := NULL; outcome := 'nothing';
			detail := 'done for ' || to_char(d::timestamp, 'YYYY-MM-DD');
			RETURN NEXT;
			CONTINUE;
		ELSIF jd.in_flight THEN
			action := 'none'; target := NULL; outcome := 'nothing';
			detail := 'a run is in flight since ' || coalesce(to_char(jd.in_flight_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), 'an unknown time');
			RETURN NEXT;
			CONTINUE;
		END IF;
		missing := NOT jd.failed AND coalesce(jd.runs, 0) = 0;
		IF NOT jd.failed AND NOT missing THEN
			action := 'none'; target := NULL; outcome := 'nothing';
			detail := 'neither failed nor missing';
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF j.kind NOT IN ('glue', 'airflow') THEN
			action := 'none'; target := NULL; outcome := 'skipped';
			detail := format('kant starts runs only on Glue and clears task instances only on Airflow: %s is a %s system',
							 j.sys, j.kind);
			RETURN NEXT;
			CONTINUE;
		END IF;

		IF jd.failed AND j.kind = 'airflow' THEN
			-- cleared together, one request per DAG run, below
			FOR fr IN
				SELECT r.external_id, r.attempt, @extschema@._run_key(r.external_id, 'airflow') AS dag_run_id
				FROM @extschema@.job_run r
				WHERE r.job_id = j.job_id AND r.business_date = d AND @extschema@._is_current(r.superseded_at)
				  AND NOT @extschema@.is_done(r.state) AND @extschema@.is_terminal(r.state)
				ORDER BY r.external_id
			LOOP
				clears := clears || jsonb_build_object('job_id', j.job_id, 'job', subject, 'system', j.sys,
					'system_id', j.system_id, 'dag_id', j.dag_id, 'task_id', j.task_id,
					'dag_run_id', fr.dag_run_id,
					'map_index', coalesce(substring(fr.external_id FROM '#([0-9]+)$')::int, -1),
					-- a failure is a try, named as recovery names it (kant._recover_airflow)
					'target', @extschema@._failure_target(j.dag_id, fr.external_id, fr.attempt));
			END LOOP;
			CONTINUE;
		ELSIF jd.failed THEN
			SELECT r.external_id INTO fr FROM @extschema@.job_run r WHERE r.run_id = jd.failed_run_id;
			action := 'restart'; target := fr.external_id;
		ELSIF j.kind = 'airflow' THEN
			action := 'none'; target := NULL; outcome := 'skipped';
			detail := format('no task instance for %s: the DAG run is Airflow''s to create (trigger DAG %s in Airflow); kant clears failed task instances',
							 to_char(d::timestamp, 'YYYY-MM-DD'), j.dag_id);
			RETURN NEXT;
			CONTINUE;
		ELSE
			action := 'start'; target := 'business_date=' || to_char(d::timestamp, 'YYYY-MM-DD');
			why := CASE
				WHEN j.awaited THEN 'its expected run for the date has not passed its grace period yet (kant.expected_runs: awaited)'
				WHEN rerun.job IS NULL AND NOT j.expected AND j.required IS DISTINCT FROM true
					THEN 'not expected that business date (no slot of its schedule; name the job to start it anyway)'
				WHEN j.bd_argument IS NULL
					THEN 'kant cannot tell Glue the business date: the job has no business-date argument'
				END;
			IF why IS NOT NULL THEN
				outcome := 'skipped'; detail := why;
				IF j.bd_argument IS NULL AND NOT j.awaited THEN
					detail := why || ' (set one with kant.configure_job(system, job, bd_argument => ''--business_date''))';
				END IF;
				RETURN NEXT;
				CONTINUE;
			END IF;
		END IF;

		-- once: a restart of this failed run (by kant.rerun or by recovery), a start for this date
		SELECT a.at, a.kind, a.outcome, a.detail INTO prior FROM @extschema@._prior_action(j.job_id, rerun.target) a;
		IF FOUND THEN
			outcome := 'already';
			detail := format('%s at %s by %s: %s', prior.outcome,
							 to_char(prior.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
							 CASE prior.kind WHEN 'recover' THEN 'recovery' ELSE 'kant.rerun' END, prior.detail);
			RETURN NEXT;
			CONTINUE;
		END IF;

		st := NULL;
		IF action = 'restart' THEN
			IF dry_run THEN
				outcome := 'dry_run';
				detail := format('would ask Glue for run %s (GetJobRun) and call StartJobRun {"JobName": %s, "JobRunId": %s} with its arguments',
								 target, to_jsonb(j.name), to_jsonb(target));
			ELSE
				BEGIN
					SELECT * INTO res FROM @extschema@._glue_restart(j.sys, j.name, target);
					outcome := res.outcome; detail := res.detail; st := res.http_status;
				EXCEPTION WHEN OTHERS THEN
					IF SQLSTATE IN ('57014', '57P01') THEN
						RAISE;
					END IF;
					outcome := 'failed'; detail := SQLSTATE || ': ' || SQLERRM;
				END;
			END IF;
		ELSE
			-- the format of the date in the job's last runs (2024-11-24 or 20241124)
			SELECT CASE WHEN r.details->'Arguments'->>j.bd_argument ~ '^[0-9]{8}$' THEN 'YYYYMMDD' ELSE 'YYYY-MM-DD' END
			INTO fmt FROM @extschema@.job_run r
			WHERE r.job_id = j.job_id AND r.details->'Arguments' ? j.bd_argument
			ORDER BY r.started_at DESC NULLS LAST LIMIT 1;
			arg := to_char(d::timestamp, coalesce(fmt, 'YYYY-MM-DD'));
			IF dry_run THEN
				outcome := 'dry_run';
				detail := 'would call StartJobRun ' || jsonb_build_object('JobName', j.name,
					'Arguments', jsonb_build_object(j.bd_argument, arg))::text;
			ELSE
				BEGIN
					/*
					 * A run with the date's argument that kant has not collected
					 * yet (a StartJobRun whose answer was lost, one by hand) is
					 * not started again: Glue is asked for the runs started since
					 * two days before the date.
					 */
					SELECT * INTO res FROM @extschema@._glue_find_run(j.sys, j.name,
						extract(epoch FROM d::timestamp AT TIME ZONE 'UTC' - interval '2 days')::double precision,
						arg_name => j.bd_argument,
						-- a run by hand may write the date in the other format
						arg_values => ARRAY[to_char(d::timestamp, 'YYYY-MM-DD'), to_char(d::timestamp, 'YYYYMMDD')]);
					IF res.status <> 200 THEN
						st := res.status; outcome := 'failed'; detail := res.detail;
					ELSIF res.match IS NOT NULL THEN
						st := res.status; outcome := 'already';
						detail := format('Glue has run %s (%s) with %s %s, which kant has not collected yet: not started twice',
										 res.match->>'Id', coalesce(res.match->>'JobRunState', 'in no state'), j.bd_argument,
										 res.match->'Arguments'->>j.bd_argument);
					ELSE
						SELECT s.outcome, s.http_status,
							s.detail || CASE WHEN s.outcome = 'skipped' THEN ': call again once it has ended' ELSE '' END
						INTO outcome, st, detail
						FROM @extschema@._glue_start(j.sys, jsonb_build_object('JobName', j.name,
							'Arguments', jsonb_build_object(j.bd_argument, arg))) s;
					END IF;
				EXCEPTION WHEN OTHERS THEN
					IF SQLSTATE IN ('57014', '57P01') THEN
						RAISE;
					END IF;
					outcome := 'failed'; detail := SQLSTATE || ': ' || SQLERRM;
				END;
			END IF;
		END IF;
		INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, http_status, detail)
		VALUES ('rerun', j.job_id, d, j.system_id, target, outcome, st, action || ': ' || detail);
		IF outcome = 'done' THEN
			acted := acted || j.system_id;
		END IF;
		RETURN NEXT;
	END LOOP;

	-- Airflow: the failed task instances of each DAG run, in one clearTaskInstances
	FOR c IN
		SELECT x->>'system' AS sys, (x->>'system_id')::int AS system_id, x->>'dag_id' AS dag_id,
			x->>'dag_run_id' AS dag_run_id, jsonb_agg(x ORDER BY x->>'task_id', x->>'target') AS tasks
		FROM jsonb_array_elements(clears) x
		GROUP BY 1, 2, 3, 4 ORDER BY 3, 4
	LOOP
		action := 'clear';
		-- one actor per DAG at a time: recovery takes the same lock
		PERFORM pg_advisory_xact_lock(@extschema@._lock_key('recover_dag'), hashtext(c.system_id || '/' || c.dag_id));
		-- those of them already cleared for this failure (this try) are not cleared again
		SELECT array_agg(DISTINCT x->>'task_id' ORDER BY x->>'task_id') AS ids INTO t
		FROM jsonb_array_elements(c.tasks) x
		WHERE NOT EXISTS (SELECT FROM @extschema@._prior_action((x->>'job_id')::int, x->>'target'));
		IF t.ids IS NULL THEN
			FOR fr IN SELECT x->>'job' AS job, x->>'target' AS target, p.at, p.kind, p.outcome, p.detail
					  FROM jsonb_array_elements(c.tasks) x
					  LEFT JOIN LATERAL @extschema@._prior_action((x->>'job_id')::int, x->>'target') p ON true LOOP
				subject := fr.job; target := fr.target; outcome := 'already';
				-- when and by whom, as for a Glue restart
				detail := format('cleared for this try already: %s at %s by %s: %s', fr.outcome,
								 to_char(fr.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
								 CASE fr.kind WHEN 'recover' THEN 'recovery' ELSE 'kant.rerun' END, fr.detail);
				RETURN NEXT;
			END LOOP;
			CONTINUE;
		END IF;
		st := NULL;
		IF dry_run THEN
			-- Airflow's own dry run: what it would clear, nothing changed
			o := 'dry_run';
			why := format('would POST dags/%s/clearTaskInstances for the failed task instances %s of DAG run %s and their downstream',
						  c.dag_id, array_to_string(t.ids, ', '), c.dag_run_id);
			BEGIN
				SELECT * INTO res FROM @extschema@._airflow_clear(c.sys, c.dag_id, c.dag_run_id, t.ids, true, true);
				st := res.status;
				why := why || CASE WHEN res.status BETWEEN 200 AND 299
								   THEN format('; Airflow''s dry run would clear %s: %s',
											   (res.body::jsonb)->'total_entries',
											   (SELECT string_agg(x->>'task_id' || CASE WHEN (x->>'map_index')::int >= 0 THEN '[' || (x->>'map_index') || ']' ELSE '' END, ', '
														ORDER BY x->>'task_id')
												FROM jsonb_array_elements((res.body::jsonb)->'task_instances') x))
								   ELSE format('; Airflow''s dry run answered HTTP %s %s', res.status, left(res.body, 500)) END;
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;
				END IF;
				why := why || '; Airflow''s dry run failed: ' || SQLERRM;
			END;
		ELSE
			BEGIN
				SELECT * INTO res FROM @extschema@._airflow_clear(c.sys, c.dag_id, c.dag_run_id, t.ids, true, false);
				st := res.status;
				-- as recovery reads them: 404 no such DAG run (never), 409 a task instance is running
				o := CASE WHEN res.status BETWEEN 200 AND 299 THEN 'done'
						  WHEN res.status = 404 THEN 'refused'
						  WHEN res.status = 409 THEN 'already'
						  ELSE 'failed' END;
				why := format('clearTaskInstances of %s in DAG run %s: HTTP %s %s', array_to_string(t.ids, ', '),
							  c.dag_run_id, res.status, left(res.body, 900));
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;
				END IF;
				o := 'failed'; why := SQLSTATE || ': ' || SQLERRM;
			END;
		END IF;
		FOR fr IN SELECT (x->>'job_id')::int AS job_id, x->>'job' AS job, x->>'target' AS target,
					x->>'task_id' AS task_id, (x->>'map_index')::int AS map_index
				  FROM jsonb_array_elements(c.tasks) x
				  WHERE x->>'task_id' = ANY (t.ids)
					AND NOT EXISTS (SELECT FROM @extschema@._prior_action((x->>'job_id')::int, x->>'target')) LOOP
			outcome := o; detail := why;
			-- a task instance Airflow did not clear was no longer failed (cleared
			-- already, by recovery for another map index, or by hand): nothing done
			-- to it (v1 answers task ids, v2 task ids and map indexes)
			IF o = 'done' AND NOT EXISTS (
					SELECT FROM jsonb_array_elements((res.body::jsonb)->'task_instances') y
					WHERE y->>'task_id' = fr.task_id
					  AND (NOT y ? 'map_index' OR (y->>'map_index')::int = fr.map_index)) THEN
				outcome := 'already';
				detail := format('Airflow cleared nothing for %s in DAG run %s: it is no longer failed', fr.target, c.dag_run_id);
			END IF;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, http_status, detail)
			VALUES ('rerun', fr.job_id, d, c.system_id, fr.target, outcome, st, 'clear: ' || detail);
			subject := fr.job; target := fr.target;
			RETURN NEXT;
		END LOOP;
		IF o = 'done' THEN
			acted := acted || c.system_id;
		END IF;
	END LOOP;

	-- the downstream of the gates over these jobs: triggered again only when asked
	FOR g IN
		SELECT x.gate_id, x.name, x.downstream_dag_id, sy.system_id, sy.time_zone, x.lookback_days, x.trigger_from
		FROM @extschema@.gate x JOIN @extschema@.system sy ON sy.system_id = x.downstream_system_id
		WHERE (rerun.gate IS NOT NULL AND x.name = rerun.gate)
		   OR (rerun.gate IS NULL AND EXISTS (SELECT FROM @extschema@.gate_scope s
											  WHERE s.gate_id = x.gate_id AND s.job_id = ANY (scope)))
		ORDER BY x.name
	LOOP
		PERFORM pg_advisory_xact_lock(@extschema@._lock_key('gate_trigger'), g.gate_id);
		SELECT * INTO gr FROM @extschema@._gate_run(g.gate_id, d, g.time_zone);
		action := 'retrigger'; subject := g.name; target := g.downstream_dag_id || '/' || gr.dag_run_id;
		SELECT a.at, a.target, a.outcome INTO prior
		FROM @extschema@._gate_trigger(g.gate_id, d, g.downstream_dag_id || '/' || gr.dag_run_id) a;
		IF NOT FOUND THEN
			outcome := 'nothing';
			detail := CASE WHEN gr.generation = 0
						   THEN format('gate %s has not triggered %s for %s yet: kant.trigger_ready_gates() triggers it when the gate is ready',
									   g.name, g.downstream_dag_id, to_char(d::timestamp, 'YYYY-MM-DD'))
						   ELSE format('gate %s triggers %s again (re-trigger %s) when it is ready', g.name, gr.dag_run_id, gr.generation) END;
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF retrigger AND d < (now() AT TIME ZONE g.time_zone)::date - g.lookback_days THEN
			outcome := 'skipped';
			detail := format('%s is more than the gate''s lookback_days (%s) back: kant.trigger_ready_gates() would not trigger it again (trigger the DAG in Airflow)',
							 to_char(d::timestamp, 'YYYY-MM-DD'), g.lookback_days);
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF NOT retrigger THEN
			outcome := 'nothing';
			detail := CASE WHEN prior.outcome = 'refused'
						   THEN format('Airflow refused %s for %s at %s (another DAG run at its logical date: kant.actions): retrigger => true triggers it at a later logical date when the gate is ready',
									   prior.target, to_char(d::timestamp, 'YYYY-MM-DD'),
									   to_char(prior.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
						   ELSE format('the downstream DAG ran for %s already (%s at %s): not triggered again (retrigger => true triggers it once more when the gate is ready)',
									   to_char(d::timestamp, 'YYYY-MM-DD'), prior.target,
									   to_char(prior.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')) END;
			RETURN NEXT;
			CONTINUE;
		END IF;
		SELECT r.dag_run_id, r.logical_date INTO gr FROM @extschema@._gate_run(g.gate_id, d, g.time_zone) r0,
			LATERAL (SELECT format('%s__rerun%s', regexp_replace(r0.dag_run_id, '__rerun[0-9]+$', ''), r0.generation + 1) AS dag_run_id,
							r0.logical_date) r;
		target := g.downstream_dag_id || '/' || gr.dag_run_id;
		IF dry_run THEN
			outcome := 'dry_run';
			detail := format('would trigger %s again as %s once the gate is ready', g.downstream_dag_id, gr.dag_run_id);
		ELSE
			INSERT INTO @extschema@.gate_rerun (gate_id, business_date, generation, systems)
			SELECT g.gate_id, d, coalesce(max(x.generation), 0) + 1,
				ARRAY(SELECT DISTINCT u FROM unnest(acted) u ORDER BY u)
			FROM @extschema@.gate_rerun x WHERE x.gate_id = g.gate_id AND x.business_date = d;
			outcome := 'done';
			detail := format('%s will be triggered again as %s once the gate is ready%s', g.downstream_dag_id, gr.dag_run_id,
							 CASE WHEN cardinality(acted) > 0 THEN ' and the systems acted on are collected again' ELSE '' END);
		END IF;
		INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome, detail)
		VALUES ('rerun', g.gate_id, d, g.system_id, target, outcome, 'retrigger: ' || detail);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.rerun(text, text, text, date, boolean, boolean) IS
	'Run the failed or missing part of one business date again, for a job (system/job; system/dag_id: every task of an Airflow DAG), a pipeline or a gate''s upstream (name one): a failed Glue run is restarted (GetJobRun, StartJobRun with its id and arguments: kant._glue_restart), a missing Glue run started with the business-date argument (the job''s or system''s bd_argument, in the format of its last runs; already when Glue has a run with that argument kant has not collected yet, kant._glue_find_run; a job without one, or whose slot is still awaited, is skipped with the reason), the failed task instances of each Airflow DAG run cleared in one clearTaskInstances (only_failed, downstream included, the DAG run reset); jobs done or in flight are left alone. dry_run (the default) only says and logs what would be done. Each action once: a failed run restarted or cleared (by kant.rerun or recovery) or a date started is not acted on twice. A gate''s downstream that already ran for the date is triggered again only with retrigger => true, once the gate is ready again, as kant__<gate>__<date>__rerun<n>. Every action in kant.actions (kind rerun). Returns one row per job and gate: action (restart, start, clear, retrigger, none), subject (system/job, or the gate), target, outcome (done, already, failed, refused, dry_run, skipped, nothing) and detail. Errors: 22023 when not exactly one of job, pipeline, gate or no business_date; 42704 for an unknown pipeline or gate';
REVOKE ALL ON FUNCTION @extschema@.rerun(text, text, text, date, boolean, boolean) FROM PUBLIC;
