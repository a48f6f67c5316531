/*
 * kant: Recovery: restarting failed Glue runs (and, in recovery_airflow.sql,
 * clearing failed Airflow task instances).
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

---------------------------------------------------------------------------
-- Automatic recovery of failed runs (opt-in, per job, task or DAG)
---------------------------------------------------------------------------

CREATE TABLE @extschema@.recovery_policy (
	job_id			integer PRIMARY KEY REFERENCES @extschema@.job ON DELETE CASCADE,
	max_attempts	integer NOT NULL DEFAULT 2 CHECK (max_attempts BETWEEN 1 AND 10),
	min_wait		interval NOT NULL DEFAULT '5 minutes' CHECK (min_wait >= '0'),
	dry_run			boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.recovery_policy', '');
-- since 0.6.0 a policy may name a whole Airflow DAG instead of a job, and
-- says whether an Airflow clear takes the downstream tasks along: its
-- columns system_id, dag_id and include_downstream, its constraints and the
-- comments are in recovery_airflow.sql (after this file, in a fresh install
-- as in an upgrade)
COMMENT ON COLUMN @extschema@.recovery_policy.max_attempts IS 'restarts per business date at most';
COMMENT ON COLUMN @extschema@.recovery_policy.min_wait IS 'wait this long after a failure (and for Glue''s own retries, as the checks do)';
COMMENT ON COLUMN @extschema@.recovery_policy.dry_run IS 'only log what would be done';
COMMENT ON COLUMN @extschema@.recovery_policy.created_at IS 'when the policy was set';

CREATE FUNCTION @extschema@.set_recovery(job text, max_attempts integer DEFAULT 2,
		min_wait interval DEFAULT '5 minutes', dry_run boolean DEFAULT false,
		include_downstream boolean DEFAULT true)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
BEGIN
	IF max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 10 THEN
		RAISE EXCEPTION 'max_attempts must be between 1 and 10' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The restarts or clears kant makes per job and business date, e.g. 2.';
	END IF;
	IF min_wait IS NULL OR min_wait < '0' THEN
		RAISE EXCEPTION 'min_wait must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'How long kant waits after a failure, e.g. ''5 minutes''.';
	END IF;
	IF include_downstream IS NULL THEN
		RAISE EXCEPTION 'include_downstream must be true or false' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'true (the default) clears the task instances the failure left upstream_failed as well.';
	END IF;
	-- a job (Glue job, Airflow task) of that name first; else an Airflow DAG
	SELECT * INTO t FROM @extschema@._recovery_target(job);
	IF t.job_id IS NOT NULL THEN
		IF NOT EXISTS (SELECT FROM @extschema@.job j JOIN @extschema@.system s USING (system_id)
					   WHERE j.job_id = t.job_id AND (s.kind = 'glue' OR (s.kind = 'airflow' AND j.dag_id IS NOT NULL))) THEN
			RAISE EXCEPTION 'job "%" is not a Glue job or an Airflow task', job
				USING ERRCODE = 'feature_not_supported',
					  HINT = 'kant restarts Glue jobs (StartJobRun) and clears failed Airflow task instances (clearTaskInstances); an OpenLineage or reported job is run by something kant does not reach.';
		END IF;
		INSERT INTO @extschema@.recovery_policy AS p (job_id, max_attempts, min_wait, dry_run, include_downstream)
		VALUES (t.job_id, max_attempts, min_wait, coalesce(dry_run, false), include_downstream)
		ON CONFLICT (job_id) DO UPDATE SET max_attempts = excluded.max_attempts,
			min_wait = excluded.min_wait, dry_run = excluded.dry_run, include_downstream = excluded.include_downstream;
	ELSE
		INSERT INTO @extschema@.recovery_policy AS p (system_id, dag_id, max_attempts, min_wait, dry_run, include_downstream)
		VALUES (t.system_id, t.dag_id, max_attempts, min_wait, coalesce(dry_run, false), include_downstream)
		ON CONFLICT (system_id, dag_id) DO UPDATE SET max_attempts = excluded.max_attempts,
			min_wait = excluded.min_wait, dry_run = excluded.dry_run, include_downstream = excluded.include_downstream;
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean, boolean) IS
	'Let kant recover a Glue job (system/job: StartJobRun of a failed run), an Airflow task (system/dag_id.task_id) or a whole Airflow DAG (system/dag_id: each task without a policy of its own; a task of that name wins) by clearing failed task instances (clearTaskInstances, include_downstream as given): up to max_attempts per job and business date, min_wait after the failure, while the remaining work''s p90 fits before the deadline; dry_run only logs. Errors: 22023 bad arguments, 42704 unknown job, 0A000 a job kant cannot act on';
REVOKE ALL ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.unset_recovery(job text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
BEGIN
	SELECT * INTO t FROM @extschema@._recovery_target(job);
	IF t.job_id IS NULL THEN
		DELETE FROM @extschema@.recovery_policy p WHERE p.system_id = t.system_id AND p.dag_id = t.dag_id;
	ELSE
		DELETE FROM @extschema@.recovery_policy p WHERE p.job_id = t.job_id;
	END IF;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.unset_recovery(text) IS
	'Stop recovering a job, an Airflow task or a whole DAG (its tasks'' own policies stay); false when it had no policy';
REVOKE ALL ON FUNCTION @extschema@.unset_recovery(text) FROM PUBLIC;

CREATE FUNCTION @extschema@._glue_call(system text, operation text, body text)
	RETURNS TABLE (status integer, body text, error_type text)
	SET search_path = pg_catalog, pg_temp
	AS 'MODULE_PATHNAME', 'kant_glue_call'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._glue_call(text, text, text) IS
	'internal: one signed Glue request (its credentials, timeouts, throttling retries); the status, the reply (a 2xx must be a JSON object, with a JobRunId for StartJobRun, else 08P01; an error status gives only Glue''s error type and message, cleaned and capped) and the Glue error type';
REVOKE ALL ON FUNCTION @extschema@._glue_call(text, text, text) FROM PUBLIC;

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
	deadline_zone text;
	p90 double precision;
	body jsonb;
	res record;
	o text;
	why text;
	dry boolean;
	since date;
	retry_wait interval;
BEGIN
	PERFORM @extschema@._act_check(dry_run, 'kant.recover_failed_runs');
	SELECT * INTO st FROM @extschema@._alert_settings();
	-- business dates of every zone in the lookback window; waits as elapsed time
	since := ((now() - @extschema@._elapsed(st.lookback)) AT TIME ZONE 'UTC')::date - 1;
	retry_wait := @extschema@._elapsed(st.retry_wait);
	FOR p IN
		SELECT rp.job_id, rp.max_attempts, rp.min_wait, rp.dry_run, j.name AS job_name, j.max_retries,
			s.name AS sys, s.system_id
		FROM @extschema@.recovery_policy rp
		JOIN @extschema@.job j ON j.job_id = rp.job_id
		JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.kind = 'glue'
		ORDER BY j.name
	LOOP
		-- a job another session is restarting (recovery, kant.rerun) is left
		-- to it: the next tick looks again, none waits (kant.tick's deadline)
		CONTINUE WHEN NOT pg_try_advisory_xact_lock(@extschema@._lock_key('recover'), p.job_id);
		dry := dry_run OR p.dry_run;
		-- the newest run of the newest business date: a later run of an
		-- earlier date (a backfill, the night before running late) does not
		-- hide tonight's failure
		SELECT r.* INTO last FROM @extschema@.job_run r
		WHERE r.job_id = p.job_id AND r.business_date >= since
		ORDER BY r.business_date DESC, r.started_at DESC NULLS FIRST, r.attempt DESC LIMIT 1;
		CONTINUE WHEN last.run_id IS NULL OR last.state::text NOT IN ('failed', 'timed_out');
		-- once per failed run, whether recovery or kant.rerun restarted it
		CONTINUE WHEN EXISTS (SELECT FROM @extschema@._prior_action(p.job_id, last.external_id, dry));
		why := NULL;
		-- Glue retries by itself first
		CONTINUE WHEN p.max_retries IS NOT NULL AND last.attempt - 1 < p.max_retries
			AND last.ended_at > now() - retry_wait;
		CONTINUE WHEN last.ended_at > now() - @extschema@._elapsed(p.min_wait);
		IF EXISTS (SELECT FROM @extschema@.job_run r
				   WHERE r.job_id = p.job_id AND r.business_date >= since
					 AND NOT @extschema@.is_terminal(r.state)) THEN
			why := 'another run of the job is in flight';
		END IF;
		done_n := @extschema@._recoveries(p.job_id, last.business_date, dry);
		IF why IS NULL AND done_n >= p.max_attempts THEN
			why := format('restarted %s of %s times for %s already', done_n, p.max_attempts,
						  to_char(last.business_date::timestamp, 'YYYY-MM-DD'));
		END IF;
		SELECT @extschema@._due(last.business_date, jd.deadline_offset_days, jd.deadline_time, jd.time_zone),
			jd.time_zone
		INTO deadline, deadline_zone FROM @extschema@.job_deadline jd WHERE jd.job_id = p.job_id;
		SELECT d.p90_seconds INTO p90 FROM @extschema@.job_durations(ARRAY[p.job_id]) d;
		IF why IS NULL AND deadline IS NOT NULL
		   AND now() + make_interval(secs => coalesce(p90, 0)) > deadline THEN
			why := format('the deadline cannot be met: a run takes %s (p90) and the deadline is %s %s',
						  @extschema@._human(p90),
						  to_char(deadline AT TIME ZONE deadline_zone, 'YYYY-MM-DD HH24:MI'), deadline_zone);
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
		IF dry THEN
			IF jsonb_typeof(last.details->'Arguments') = 'object' THEN
				body := body || jsonb_build_object('Arguments', last.details->'Arguments');
			END IF;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, 'dry_run',
					format('would ask Glue for the run (GetJobRun) and call StartJobRun %s with its arguments (restart %s of %s)',
						   body, done_n + 1, p.max_attempts));
			job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
			outcome := 'dry_run'; detail := body::text;
			RETURN NEXT;
			CONTINUE;
		END IF;
		BEGIN
			-- GetJobRun, then StartJobRun: the rule is kant._glue_restart (kant.rerun restarts the same way)
			SELECT * INTO res FROM @extschema@._glue_restart(p.sys, p.job_name, last.external_id);
			o := res.outcome;
			why := CASE WHEN o = 'done' THEN format('restart %s of %s: JobRunId %s', done_n + 1, p.max_attempts, res.new_run_id)
						ELSE res.detail END;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome,
				http_status, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, o, res.http_status, why)
			-- a reason to skip (a run of the job going) is logged and said once
			ON CONFLICT DO NOTHING;
			CONTINUE WHEN NOT FOUND;
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
	-- Airflow: clear failed task instances (sql/src/recovery_airflow.sql)
	RETURN QUERY SELECT * FROM @extschema@._recover_airflow(dry_run);
END
$$;
COMMENT ON FUNCTION @extschema@.recover_failed_runs(boolean) IS
	'Recover failed runs of jobs with a recovery policy while the deadline can be met, at most max_attempts per job and business date, never twice for one failure, every action and every reason to skip in kant.action_log (kind recover). Glue: GetJobRun first (only a run Glue reports as FAILED, TIMEOUT or ERROR, else refused), then StartJobRun with its id and Glue''s arguments, never while a run is in flight, while the job''s p90 fits. Airflow: kant._recover_airflow (clearTaskInstances of the failed task instances of a finished DAG run; failed_run is dag_id/dag_run_id try n). dry_run only logs';
REVOKE ALL ON FUNCTION @extschema@.recover_failed_runs(boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.schedule_recovery(schedule text DEFAULT '* * * * *')
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@._cron_job('kant-recover', schedule,
		'SELECT job, business_date, outcome FROM kant.recover_failed_runs()') $$;
COMMENT ON FUNCTION @extschema@.schedule_recovery(text) IS
	'Create or update the pg_cron job kant-recover that runs kant.recover_failed_runs() (default every minute); returns its id';
REVOKE ALL ON FUNCTION @extschema@.schedule_recovery(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_recovery()
	RETURNS boolean
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@._cron_unjob('kant-recover') $$;
COMMENT ON FUNCTION @extschema@.unschedule_recovery() IS 'Remove the pg_cron job kant-recover; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.unschedule_recovery() FROM PUBLIC;
