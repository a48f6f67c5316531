/*
 * kant: the rules everything else depends on, each written once.
 *
 * When an attempt is current, when a job is done for a business date (and
 * when it got done), whether a job is required for a business date, the
 * instant of a deadline, the kinds of alert, the advisory locks.  The SLO
 * evaluation, the checks, the gates, gate_status, recovery and the BI views
 * use these functions (the SQL ones are inlined where they are called, so a
 * rule costs nothing over writing it out); kant.slo_eval, an aggregate in C
 * for speed, applies the same rules to its rows and
 * test/sql/rules_agree.sql holds them together on generated histories.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

---------------------------------------------------------------------------
-- Runs: which attempt is current, how many runs a day had
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.is_done(@extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME', 'run_state_is_done'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_done(@extschema@.run_state) IS
	'true for the states in which an attempt counts as done (succeeded, skipped): what depends on it may go on';

/*
 * The current attempt.  An attempt is superseded by a later attempt of the
 * same run (Airflow's next try_number, Glue's Attempt) and by a retry that
 * names its run (Glue's PreviousRunId), from when that one started.
 * Ingestion keeps job_run.superseded_at for every attempt it writes (the
 * rule's one home is ingest_supersede_runs() in src/ingest_write.c;
 * kant._supersede() is it for SQL), so a reader asks one column
 * (kant._is_current), at any instant: a past night replays as it was.
 */
CREATE FUNCTION @extschema@._supersede(job_ids integer[], external_ids text[])
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'kant_supersede'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._supersede(integer[], text[]) IS
	'internal, the rule of the current attempt, kept: sets job_run.superseded_at of every attempt of the runs (job_id, external_id) given to when the first later attempt of the same run or retry of it began (kant._began: its start, or when kant first saw it), NULL when none; ingestion calls it for every attempt it writes and the run it retries; returns the attempts changed';
REVOKE ALL ON FUNCTION @extschema@._supersede(integer[], text[]) FROM PUBLIC;

/*
 * The rules below are SQL functions of one SELECT without SET, STRICT or
 * SECURITY DEFINER, so the planner inlines them where they are called (the
 * table functions in FROM, LATERAL): a rule costs nothing over writing it
 * out there.  Inlined, a body is parsed under the caller's search_path, so
 * it names every operator and function it uses in pg_catalog: a schema
 * first on someone's path cannot change an answer.  Those that read tables serve kant's own functions; views use
 * the ones that read none.
 */
CREATE FUNCTION @extschema@._is_current(superseded_at timestamptz, as_of timestamptz DEFAULT 'infinity')
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT $1 IS NULL OR $1 OPERATOR(pg_catalog.>) $2
	$$;
COMMENT ON FUNCTION @extschema@._is_current(timestamptz, timestamptz) IS
	'internal, the rule of the current attempt, asked: an attempt is current at as_of (default: now and ever) unless it was superseded by then (job_run.superseded_at, kept by kant._supersede)';

/*
 * When an attempt began: its start, or, when the scheduler gave none (a
 * cleared Airflow task queued again, a Glue run still STARTING), when kant
 * first saw it.  An attempt counts at as_of from then on: a queued try seen
 * at 09:00 does not exist at 05:30, and supersedes the try before it from
 * 09:00 (src/ingest_write.c keeps superseded_at by the same rule).
 */
CREATE FUNCTION @extschema@._began(started_at timestamptz, first_seen timestamptz)
	RETURNS timestamptz
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT COALESCE($1, $2)
	$$;
COMMENT ON FUNCTION @extschema@._began(timestamptz, timestamptz) IS
	'internal, the rule of when an attempt began: its start, or when kant first saw it when the start is unknown';

/*
 * A run and its parts.  Airflow maps a task into task instances with
 * map_index 0..n of one DAG run; kant keeps each as the run id
 * "dag_run_id#map_index" (src/airflow.c), and the task is done for that run
 * only when every map index is (Airflow's DagRun.update_state looks at every
 * task instance).  So a run of an Airflow task is its run id without a
 * trailing "#<n>", whether the collector read it or an OpenLineage event
 * with the Airflow facets told it (src/openlineage.c keys those the same
 * way); other sources' run ids are runs as they are (Airflow itself refuses
 * "#" in a run id since 2.6.3's allowed_run_id_pattern, OpenLineage's runId
 * is a UUID).
 *
 * A job's runs for a business date are the runs of its current attempts
 * (kant._job_day counts them; the k-th expected slot of the date has started
 * when there are k).  A retry is no run of its own (Airflow's next
 * try_number, Glue's PreviousRunId: the attempt it supersedes is no longer
 * current), a map index is part of its run, and a run first seen at its
 * second try is still one run.  A new run that names no predecessor (a Glue
 * StartJobRun without JobRunId, an Airflow DAG triggered again) is a run of
 * its own.
 */
CREATE FUNCTION @extschema@._run_key(external_id text, system_kind text)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT CASE WHEN $2 OPERATOR(pg_catalog.=) 'airflow' OR $2 OPERATOR(pg_catalog.=) 'openlineage'
				THEN pg_catalog.regexp_replace($1, '#[0-9]+$', '') ELSE $1 END
	$$;
COMMENT ON FUNCTION @extschema@._run_key(text, text) IS
	'internal, the rule of what a run is: for an Airflow or OpenLineage system the run id without the map index kant appends to a mapped task instance ("scheduled__2026-03-01T00:00:00+00:00#3" is map index 3 of run "scheduled__2026-03-01T00:00:00+00:00"; an OpenLineage runId is a UUID, and an event with the Airflow facets is keyed by its DAG run id); for any other the run id as it is (a reported "export#2" is a run of its own)';

---------------------------------------------------------------------------
-- Done: when a job is done for a business date, and since when
---------------------------------------------------------------------------

/*
 * A job is done for a business date at as_of when it ran the k runs its
 * schedule expected that day (at least one) and the
 * runs that count are done: every current attempt of each (each map index of
 * a mapped task) succeeded or was skipped (kant.is_done) and had ended by
 * as_of.  For a job that runs once a day the latest run counts: an earlier
 * one was recovered by it (a failed Glue JobRun re-run from the console, a
 * DAG triggered again).  For a job with several slots every run counts (a
 * later run does not say which slot it stands in for).  done_at is the
 * latest end among the attempts of those runs; in_flight, failed speak of
 * them too, and failed_run_id names the attempt that failed (the latest).
 *
 * Since when it has been done, the first time (was_done, done_since,
 * done_since_runs): the earliest instant by as_of at which it was done, and
 * the runs that counted then.  The SLO asks whether the data was delivered
 * by the deadline, so this is when a day completes: a task cleared and run
 * again after it succeeded, or a Glue job run again for the same date, does
 * not move the completion or undo it (a failed re-run is a failure alert;
 * the gate, which asks about now, closes).
 *
 * The rule is kant._job_day_agg, an aggregate in C over the job's attempts
 * of that date (src/job_day.c: asked for every job and date of years of
 * history, and at every gate poll).  The SLO evaluation asks this of every
 * required job, the checks before a late or failure alert, the gates before
 * they open.
 */
CREATE TYPE @extschema@._job_day_result AS (
	done			boolean,
	done_at			timestamptz,
	in_flight		boolean,
	in_flight_since	timestamptz,
	failed			boolean,
	attempts		integer,
	runs			integer,
	failed_run_id	bigint,
	counted_runs	text[],
	was_done		boolean,
	done_since		timestamptz,
	done_since_runs	text[]
);
COMMENT ON TYPE @extschema@._job_day_result IS
	'internal, what kant._job_day_agg answers for a job and business date (see kant._job_day)';

CREATE FUNCTION @extschema@._job_day_trans(internal, as_of timestamptz, k integer, system_kind text,
		run_id bigint, external_id text, state @extschema@.run_state, started_at timestamptz,
		ended_at timestamptz, first_seen timestamptz, superseded_at timestamptz)
	RETURNS internal
	AS 'MODULE_PATHNAME', 'kant_job_day_trans'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._job_day_trans(internal, timestamptz, integer, text, bigint, text, @extschema@.run_state, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'internal, kant._job_day_agg transition: keeps the attempts';

CREATE FUNCTION @extschema@._job_day_final(internal) RETURNS @extschema@._job_day_result
	AS 'MODULE_PATHNAME', 'kant_job_day_final'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._job_day_final(internal) IS
	'internal, kant._job_day_agg final function: the rule of done at as_of and the first time';

CREATE AGGREGATE @extschema@._job_day_agg(as_of timestamptz, k integer, system_kind text,
		run_id bigint, external_id text, state @extschema@.run_state, started_at timestamptz,
		ended_at timestamptz, first_seen timestamptz, superseded_at timestamptz) (
	SFUNC = @extschema@._job_day_trans,
	STYPE = internal,
	FINALFUNC = @extschema@._job_day_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@._job_day_agg(timestamptz, integer, text, bigint, text, @extschema@.run_state, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'internal, the rule of done (src/job_day.c) over every attempt of one job and business date, as of as_of, for a job expecting k runs that day (at least 1) of a system of that kind (kant._run_key): kant._job_day_result; kant._job_day is how to ask it';

CREATE FUNCTION @extschema@._job_day(job_id integer, business_date date, as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (done boolean, done_at timestamptz, in_flight boolean, in_flight_since timestamptz,
		failed boolean, attempts integer, runs integer, failed_run_id bigint, counted_runs text[],
		runs_expected integer, was_done boolean, done_since timestamptz, done_since_runs text[])
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT (x.r).done, (x.r).done_at, (x.r).in_flight, (x.r).in_flight_since, (x.r).failed,
		(x.r).attempts, (x.r).runs, (x.r).failed_run_id, (x.r).counted_runs, x.k,
		(x.r).was_done, (x.r).done_since, (x.r).done_since_runs
	-- k: the runs the job needs that day (its expected slots, at least one)
	FROM (SELECT kk.k, (SELECT @extschema@._job_day_agg($3, kk.k, kk.kind, a.run_id, a.external_id, a.state,
								   a.started_at, a.ended_at, a.first_seen, a.superseded_at)
						FROM @extschema@.job_run a
						WHERE a.job_id OPERATOR(pg_catalog.=) $1 AND a.business_date OPERATOR(pg_catalog.=) $2) AS r
		  FROM (SELECT GREATEST(1, (SELECT pg_catalog.count(*) FROM @extschema@.expected_run x
									WHERE x.job_id OPERATOR(pg_catalog.=) $1
									  AND x.business_date OPERATOR(pg_catalog.=) $2))::integer AS k,
					   (SELECT sy.kind FROM @extschema@.job j
						JOIN @extschema@.system sy ON sy.system_id OPERATOR(pg_catalog.=) j.system_id
						WHERE j.job_id OPERATOR(pg_catalog.=) $1) AS kind) kk
		  OFFSET 0) x
	$$;
COMMENT ON FUNCTION @extschema@._job_day(integer, date, timestamptz) IS
	'internal, the rule of done (kant._job_day_agg): a job is done for a business date at as_of (default: ever) when it ran the k runs expected that day (at least 1; runs: those of its current attempts, kant._run_key) and the runs that count (one slot a day: the latest run; several: all) are done: every current attempt of each, every map index, succeeded or was skipped (kant.is_done) and ended by as_of; done_at: the latest end among them; in_flight: one of their current attempts not ended (in_flight_since: the earliest start of those); failed: one ended without being done (failed_run_id: the latest such attempt); attempts: current attempts; runs: the runs of the current attempts (kant._run_key); counted_runs: the runs that count (kant._run_key); runs_expected: k; was_done: done at some instant by as_of, first at done_since (NULL when done without end times) with done_since_runs counting';

/*
 * Since when a job has been done for a business date, the first time
 * (kant._job_day's was_done, done_since): only something that comes after a
 * done attempt can undo done, a later attempt superseding it or more runs
 * than the day expects.  Without either, the job was done first when it is
 * done now (done_at), or never.  With one, the first time is the end of a
 * done attempt: those ends are asked one by one, from the start of the k-th
 * run (fewer runs are not done) to the last start (from then on nothing is
 * superseded any more, and done_at at as_of answers).  No row when never
 * done.
 */
CREATE FUNCTION @extschema@._done_since(job_id integer, business_date date, as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (done_since timestamptz, counted_runs text[])
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT jd.done_since, jd.done_since_runs
	FROM @extschema@._job_day($1, $2, $3) jd
	WHERE jd.was_done
	$$;
COMMENT ON FUNCTION @extschema@._done_since(integer, date, timestamptz) IS
	'internal, the rule of completion: the first instant by as_of at which a job was done for a business date (kant._job_day), with the runs that counted then; no row when never (NULL instant when done without end times); a later attempt or run does not move it (the SLO and the late alert use it; the gate asks kant._job_day about now)';

---------------------------------------------------------------------------
-- Required: must a job run for a business date?
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._required(job_id integer, business_date date, as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (required boolean)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT CASE
		WHEN EXISTS (SELECT FROM @extschema@.job_run r
					 WHERE r.business_date OPERATOR(pg_catalog.=) $2 AND r.job_id OPERATOR(pg_catalog.=) $1
					   AND @extschema@._began(r.started_at, r.first_seen) OPERATOR(pg_catalog.<=) $3)
		  OR EXISTS (SELECT FROM @extschema@.expected_run x
					 WHERE x.job_id OPERATOR(pg_catalog.=) $1 AND x.business_date OPERATOR(pg_catalog.=) $2)
			THEN true
		WHEN EXISTS (SELECT FROM @extschema@.schedule x
					 WHERE x.job_id OPERATOR(pg_catalog.=) $1 AND x.active_from OPERATOR(pg_catalog.<=) $2
					   AND (x.active_until IS NULL OR x.active_until OPERATOR(pg_catalog.>=) $2)
					   AND x.expanded_until OPERATOR(pg_catalog.>=)
						   ($2 OPERATOR(pg_catalog.+) 3)::timestamp AT TIME ZONE 'UTC')
			THEN false
		END
	$$;
COMMENT ON FUNCTION @extschema@._required(integer, date, timestamptz) IS
	'internal, the rule of required, for one job: true when it ran (by as_of) or was expected that business date; false when an active, expanded schedule covers the date without a slot (a day it does not run); NULL when no schedule says (kant._required_jobs decides those by their scope)';

/*
 * The jobs of a scope (an SLO's or a gate's) and whether each is required
 * for a business date: what kant._required says, and for a job no schedule
 * speaks for, whether any job of the scope is required that day (a job
 * without a schedule is awaited on a day its pipeline runs, not on a day
 * nothing runs).  Give slo_id or gate_id.
 */
CREATE FUNCTION @extschema@._required_jobs(slo_id integer, gate_id integer, business_date date,
		as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (job_id integer, required boolean, by_scope boolean)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT j.job_id, COALESCE(j.required, pg_catalog.bool_or(j.required) OVER (), false), j.required IS NULL
	-- OFFSET 0 keeps kant._required one evaluation per job (pulled up, it
	-- would be evaluated for each of the three uses above)
	FROM (SELECT s.job_id, r.required
		  FROM (SELECT sc.job_id FROM @extschema@.slo_scope sc WHERE sc.slo_id OPERATOR(pg_catalog.=) $1
				UNION ALL
				SELECT gs.job_id FROM @extschema@.gate_scope gs WHERE gs.gate_id OPERATOR(pg_catalog.=) $2) s
		  CROSS JOIN LATERAL @extschema@._required(s.job_id, $3, $4) r
		  OFFSET 0) j
	$$;
COMMENT ON FUNCTION @extschema@._required_jobs(integer, integer, date, timestamptz) IS
	'internal, the rule of required, for a scope: each job of the SLO (or gate) with whether it is required that business date (kant._required; a job no schedule speaks for is required when another job of the scope is: by_scope)';

---------------------------------------------------------------------------
-- Deadlines: the instant of "day d + n at hh:mm" in a zone
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._due(business_date date, offset_days integer, at time, time_zone text)
	RETURNS timestamptz
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT @extschema@.local_instant(($1 OPERATOR(pg_catalog.+) $2) OPERATOR(pg_catalog.+) $3, $4)
	$$;
COMMENT ON FUNCTION @extschema@._due(date, integer, time, text) IS
	'internal, the rule of deadlines: the instant of business date + offset_days at the local time in the zone (an SLO''s deadline and SLA end; DST as kant.local_instant)';

---------------------------------------------------------------------------
-- Alert kinds
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.alert_kinds()
	RETURNS TABLE (kind text, severity text, title text, icon text, resolved_when text, description text)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	VALUES
		('failure', 'critical', 'Job failed', ':x:', 'retried or succeeded',
		 'a job''s last attempt failed or timed out, nothing runs, and no retry is to come'),
		('late', 'critical', 'SLO missed: not done by the deadline', ':alarm_clock:', 'complete',
		 'an SLO''s deadline passed and a required job is not done'),
		('missing', 'critical', 'Expected run did not start', ':ghost:', 'the run started',
		 'an expected run did not start within its grace period'),
		('predicted', 'warning', 'SLO breach predicted', ':crystal_ball:', 'back on track',
		 'at the jobs'' usual durations, an SLO will miss its deadline'),
		('stuck', 'warning', 'Run stuck', ':hourglass_flowing_sand:', 'the run ended',
		 'a run has been going far longer than usual'),
		('stale', 'critical', 'Collector stale', ':satellite_antenna:', 'the collector succeeded again',
		 'a collector has not succeeded for longer than stale_after'),
		('data_quality', 'critical', 'Data check failed', ':mag:', 'the check passed',
		 'a data-quality check failed (or could not be judged) for a business date; a reconciliation names both sides'' numbers; a warning check''s alert is a warning')
	$$;
COMMENT ON FUNCTION @extschema@.alert_kinds() IS
	'The kinds of alert kant raises, each with its severity, the title and icon of its Slack message, what resolves it, and what it means';

CREATE FUNCTION @extschema@._is_alert_kind(text)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM @extschema@.alert_kinds() k WHERE k.kind = $1)
	$$;
COMMENT ON FUNCTION @extschema@._is_alert_kind(text) IS
	'internal: the text is a kind of kant.alert_kinds() (the check of every kind column; NULL for NULL)';

---------------------------------------------------------------------------
-- Advisory locks
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.advisory_locks(OUT purpose text, OUT key1 integer, OUT key2 text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'kant_advisory_locks'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.advisory_locks() IS
	'Every advisory lock kant takes (pg_advisory_xact_lock(key1, key2)): what it serialises, its first key, and what its second key is; see pg_locks where locktype = ''advisory''';

CREATE FUNCTION @extschema@._lock_key(purpose text) RETURNS integer
	AS 'MODULE_PATHNAME', 'kant_lock_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._lock_key(text) IS
	'internal: the first key of the advisory lock for a purpose of kant.advisory_locks()';
