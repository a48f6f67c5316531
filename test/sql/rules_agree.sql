-- The rules of sql/src/rules.sql hold everything together: on generated
-- histories, for every (SLO, business date) the SLO day (kant.slo_eval, in
-- C), the late and failure alerts (kant.check_conditions), the gate
-- (kant.kant_gate_ready) and gate_status say the same thing.
--
-- Thirty days in March 2026 (fixed, in the past on any day this runs), one
-- pipeline of eight jobs on a Glue system, a manual one and an Airflow one,
-- three of them scheduled; each job and day gets one of eleven histories by a
-- hash of its name and date (seven in ten the plain success), so every kind
-- meets every other: success, late success, failure retried (attempt 2),
-- failure alone, failure and an unlinked new run, three runs started
-- together one failed (#0..#2: for a reporting system three runs), no run,
-- skipped, still running, a Glue retry chain (PreviousRunId), and a failed
-- attempt after a success.  The Airflow tasks have Airflow's kinds: a mapped
-- task with a failed map index, one with a map index removed (Airflow
-- ignores it), upstream_failed, and a task cleared after it succeeded,
-- queued again without a start.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SELECT kant.add_system('agree_glue', 'glue', 'UTC') > 0 AS added,
       kant.add_system('agree_manual', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('agree_glue', j, pipeline => 'agree') > 0 AS configured
FROM unnest(ARRAY['g1', 'g2']) AS j;
SELECT kant.configure_job('agree_manual', j, pipeline => 'agree') > 0 AS configured
FROM unnest(ARRAY['m1', 'm2', 'm3', 'm4']) AS j;
SELECT kant.add_system('agree_af', 'airflow', 'UTC') > 0 AS added;
SELECT kant.configure_job('agree_af', j, pipeline => 'agree') > 0 AS configured
FROM unnest(ARRAY['agree_dag.a1', 'agree_dag.a2']) AS j;
-- g1 and m1 are expected at 01:00 each day (30 minutes' grace); the others
-- have no schedule: they are required on a day the pipeline runs
SELECT kant.set_schedule('agree_glue', '0 1 * * *', job => 'g1', grace => '30 minutes',
                         active_from => '2026-03-01', active_until => '2026-03-30') > 0 AS scheduled,
       kant.set_schedule('agree_manual', '0 1 * * *', job => 'm1', grace => '30 minutes',
                         active_from => '2026-03-01', active_until => '2026-03-30') > 0 AS scheduled,
       kant.set_schedule('agree_af', '0 1 * * *', job => 'agree_dag.a1', grace => '30 minutes', slot_date => 'start',
                         active_from => '2026-03-01', active_until => '2026-03-30') > 0 AS scheduled;
SELECT kant.create_slo('agree_slo', '06:00', deadline_offset_days => 0, time_zone => 'UTC',
                       pipeline => 'agree', evaluate_from => '2026-03-01') > 0 AS slo;
SELECT kant.create_gate('agree_gate', pipeline => 'agree', when_stale => 'open') > 0 AS gate;

CREATE TEMP TABLE history AS
SELECT j.sys, j.job, d::date AS day,
	CASE WHEN x.h % 10 < 7 THEN 0 ELSE x.h / 10 % 11 END AS kind
FROM (VALUES ('agree_glue', 'g1'), ('agree_glue', 'g2'), ('agree_manual', 'm1'),
             ('agree_manual', 'm2'), ('agree_manual', 'm3'), ('agree_manual', 'm4'),
             ('agree_af', 'agree_dag.a1'), ('agree_af', 'agree_dag.a2')) AS j(sys, job),
     generate_series('2026-03-01'::date, '2026-03-30', '1 day') AS d,
     LATERAL (SELECT abs(hashtext(j.job || d::date::text)) AS h) x;
-- every history occurs (most job-days go well, so some days are met)
SELECT kind, count(*) > 0 AS occurs FROM history GROUP BY kind ORDER BY kind;

-- the manual jobs' runs, as reports
CREATE TEMP TABLE att (job text, day date, run_id text, attempt int, state text, started time, ended time);
INSERT INTO att
SELECT h.job, h.day, x.run_id, x.attempt, x.state, x.started, x.ended
FROM history h CROSS JOIN LATERAL (VALUES
	(0, 'r', 1, 'success', time '01:00', time '01:30'),
	(1, 'r', 1, 'success', '06:30', '07:00'),
	(2, 'r', 1, 'failed', '01:00', '01:10'), (2, 'r', 2, 'success', '01:20', '01:50'),
	(3, 'r', 1, 'failed', '01:00', '01:10'),
	(4, 'r', 1, 'failed', '01:00', '01:10'), (4, 'rerun', 1, 'success', '02:00', '02:30'),
	(5, 'r#0', 1, 'success', '01:00', '01:20'), (5, 'r#1', 1, 'failed', '01:00', '01:15'),
	(5, 'r#2', 1, 'success', '01:00', '01:25'),
	(7, 'r', 1, 'skipped', '01:00', '01:00'),
	(8, 'r', 1, 'running', '01:00', NULL),
	(9, 'r', 1, 'failed', '01:00', '01:10'), (9, 'r', 2, 'success', '01:15', '01:45'),
	(10, 'r', 1, 'success', '01:00', '01:30'), (10, 'r', 2, 'failed', '08:00', '08:10')
) AS x(kind, run_id, attempt, state, started, ended)
WHERE h.sys = 'agree_manual' AND x.kind = h.kind;
SELECT sum(r.inserted) AS reported FROM att a CROSS JOIN LATERAL kant.report_run(
	'agree_manual', a.job, a.run_id || '-' || a.day, a.state, a.day, a.attempt,
	(a.day + a.started) AT TIME ZONE 'UTC', (a.day + a.ended) AT TIME ZONE 'UTC') r;

-- the Glue jobs' runs, as GetJobRuns pages (retries are new JobRuns with
-- PreviousRunId and the next Attempt; a console re-run is a new JobRun)
CREATE TEMP TABLE gatt (job text, day date, id text, prev text, attempt int, state text, started time, ended time);
INSERT INTO gatt
SELECT h.job, h.day, x.id || '_' || h.job || '_' || to_char(h.day, 'DD'), x.prev || '_' || h.job || '_' || to_char(h.day, 'DD'),
	x.attempt, x.state, x.started, x.ended
FROM history h CROSS JOIN LATERAL (VALUES
	(0, 'jr_a', NULL, 0, 'SUCCEEDED', time '01:00', time '01:30'),
	(1, 'jr_a', NULL, 0, 'SUCCEEDED', '06:30', '07:00'),
	(2, 'jr_a', NULL, 0, 'FAILED', '01:00', '01:10'), (2, 'jr_b', 'jr_a', 1, 'SUCCEEDED', '01:20', '01:50'),
	(3, 'jr_a', NULL, 0, 'FAILED', '01:00', '01:10'),
	(4, 'jr_a', NULL, 0, 'FAILED', '01:00', '01:10'), (4, 'jr_c', NULL, 0, 'SUCCEEDED', '02:00', '02:30'),
	(5, 'jr_a', NULL, 0, 'SUCCEEDED', '01:00', '01:20'), (5, 'jr_c', NULL, 0, 'TIMEOUT', '01:00', '03:00'),
	(7, 'jr_a', NULL, 0, 'STOPPED', '01:00', '01:05'),
	(8, 'jr_a', NULL, 0, 'RUNNING', '01:00', NULL),
	(9, 'jr_a', NULL, 0, 'FAILED', '01:00', '01:10'), (9, 'jr_b', 'jr_a', 1, 'FAILED', '01:15', '01:25'),
	(9, 'jr_d', 'jr_b', 2, 'SUCCEEDED', '01:30', '02:00'),
	(10, 'jr_a', NULL, 0, 'SUCCEEDED', '01:00', '01:30'), (10, 'jr_c', NULL, 0, 'FAILED', '08:00', '08:10')
) AS x(kind, id, prev, attempt, state, started, ended)
WHERE h.sys = 'agree_glue' AND x.kind = h.kind;
SELECT (kant.ingest_glue_job_runs('agree_glue', jsonb_build_object('JobRuns', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	'Id', g.id, 'JobName', g.job, 'PreviousRunId', g.prev, 'Attempt', g.attempt, 'JobRunState', g.state,
	'StartedOn', extract(epoch FROM (g.day + g.started) AT TIME ZONE 'UTC'),
	'CompletedOn', extract(epoch FROM (g.day + g.ended) AT TIME ZONE 'UTC'))))))).inserted AS ingested
FROM gatt g;
-- the Airflow tasks' task instances, as the REST API (v2) lists them: a
-- mapped task's map indexes are parts of one DAG run (kant keys them
-- "run#map_index"); "removed" is a map index Airflow dropped and ignores
-- (DagRun.update_state); a task cleared after it succeeded is queued again
-- as try 2 with no start yet
CREATE TEMP TABLE aatt (job text, day date, map_index int, try int, state text, started time, ended time);
INSERT INTO aatt
SELECT h.job, h.day, x.map_index, x.try, x.state, x.started, x.ended
FROM history h CROSS JOIN LATERAL (VALUES
	(0, -1, 1, 'success', time '01:00', time '01:30'),
	(1, -1, 1, 'success', '06:30', '07:00'),
	(2, -1, 1, 'failed', '01:00', '01:10'), (2, -1, 2, 'success', '01:20', '01:50'),
	(3, -1, 1, 'failed', '01:00', '01:10'),
	(4, 0, 1, 'success', '01:00', '01:20'), (4, 1, 1, 'failed', '01:00', '01:15'),
	(5, 0, 1, 'success', '01:00', '01:20'), (5, 1, 1, 'removed', NULL, NULL),
	(7, -1, 1, 'skipped', '01:00', '01:00'),
	(8, -1, 1, 'running', '01:00', NULL),
	(9, -1, 1, 'upstream_failed', NULL, '01:05'),
	(10, -1, 1, 'success', '01:00', '01:30'), (10, -1, 2, 'queued', NULL, NULL)
) AS x(kind, map_index, try, state, started, ended)
WHERE h.sys = 'agree_af' AND x.kind = h.kind;
SELECT (kant.ingest_airflow_task_instances('agree_af', jsonb_build_object('task_instances', jsonb_agg(jsonb_build_object(
	'dag_id', 'agree_dag', 'task_id', split_part(a.job, '.', 2),
	'dag_run_id', 'scheduled__' || to_char(a.day, 'YYYY-MM-DD') || 'T00:00:00+00:00',
	'logical_date', to_char(a.day, 'YYYY-MM-DD') || 'T00:00:00+00:00',
	'map_index', a.map_index, 'try_number', a.try, 'state', a.state,
	'start_date', to_char((a.day + a.started) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	'end_date', to_char((a.day + a.ended) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
	'total_entries', count(*)))).inserted AS ingested
FROM aatt a;

-- what each Airflow kind is, as Airflow's DagRun.update_state sees the task:
-- done when every map index succeeded or was skipped or removed; a failed
-- map index or an upstream failure is not; a task cleared after it
-- succeeded was done once and is not done now
SELECT h.kind, count(*) AS days, bool_and(jd.done) AS done, bool_and(jd.was_done) AS was_done,
       bool_or(jd.failed) AS failed, max(jd.runs) AS runs
FROM history h JOIN kant.job j ON j.name = h.job
CROSS JOIN LATERAL kant._job_day(j.job_id, h.day) jd
WHERE h.sys = 'agree_af' GROUP BY h.kind ORDER BY h.kind;

-- the current attempts: superseded ones are those with a later attempt or a retry
SELECT count(*) FILTER (WHERE r.superseded_at IS NOT NULL) AS superseded,
       count(*) FILTER (WHERE r.superseded_at IS NULL) AS current
FROM kant.job_run r;

SELECT kant.refresh_slo() > 0 AS evaluated;

-- every day's verdicts, side by side: the SLO day, the gate and
-- gate_status (now: every run is in the past), the late alert at the
-- deadline and a month later (the lookback reaching back over March)
SELECT kant.set_alerting(lookback => '60 days');
CREATE TEMP TABLE verdict AS
SELECT y.business_date AS day, y.slo_status, y.completed_at,
	kant.kant_gate_ready('agree_gate', y.business_date) AS gate_open,
	(SELECT bool_and(g.state IN ('succeeded', 'not_required')) AND bool_or(g.state = 'succeeded')
	 FROM kant.gate_status('agree_gate', y.business_date) g) AS gate_status_open,
	EXISTS (SELECT FROM kant.check_conditions(y.deadline) c
			WHERE c.kind = 'late' AND c.business_date = y.business_date) AS late_at_deadline,
	EXISTS (SELECT FROM kant.check_conditions('2026-04-30 00:00+00') c
			WHERE c.kind = 'late' AND c.business_date = y.business_date) AS late_later,
	EXISTS (SELECT FROM kant.job_run r JOIN kant.job j USING (job_id)
			WHERE j.pipeline = 'agree' AND r.business_date = y.business_date
			  AND r.started_at > y.deadline) AS ran_after_deadline,
	EXISTS (SELECT FROM kant.job_run r JOIN kant.job j USING (job_id)
			WHERE j.pipeline = 'agree' AND r.business_date = y.business_date
			  AND kant._began(r.started_at, r.first_seen) > y.completed_at) AS ran_after_completion,
	y.deadline
FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'agree_slo' AND y.business_date BETWEEN '2026-03-01' AND '2026-03-30';

-- what was compared: days met and missed, gates open and closed, late alerts
SELECT count(*) AS days, count(*) FILTER (WHERE slo_status = 'met') AS met,
       count(*) FILTER (WHERE slo_status = 'missed') AS missed,
       count(*) FILTER (WHERE completed_at IS NULL) AS never_complete,
       count(*) FILTER (WHERE gate_open) AS gate_open, count(*) FILTER (WHERE late_at_deadline) AS late,
       count(*) FILTER (WHERE ran_after_deadline) AS ran_after_deadline
FROM verdict;

-- the SLO day is complete exactly when the gate opens, and gate_status says
-- so; but the SLO asks whether the day was ever complete (kant._done_since),
-- the gate whether it is now: a day a job ran again after completing, and
-- the new attempt failed, is met with the gate closed
SELECT day, slo_status, completed_at, gate_open, gate_status_open FROM verdict
WHERE ((completed_at IS NOT NULL) IS DISTINCT FROM gate_open
	   AND NOT (completed_at IS NOT NULL AND ran_after_completion))
   OR gate_open IS DISTINCT FROM gate_status_open
ORDER BY day;
SELECT day, slo_status, completed_at, gate_open FROM verdict
WHERE completed_at IS NOT NULL AND ran_after_completion ORDER BY day;
-- a month later, a late alert is open exactly for the days never complete
SELECT day, slo_status, completed_at, late_later FROM verdict
WHERE (completed_at IS NULL) IS DISTINCT FROM late_later ORDER BY day;
-- at the deadline, a late alert is open exactly for the days the SLO misses,
-- where nothing ran after the deadline; what did run after it is listed (none
-- now: a late run completes the day after the deadline, missed either way,
-- and an attempt after a success no longer undoes the completion)
SELECT day, slo_status, completed_at, late_at_deadline FROM verdict
WHERE (slo_status = 'missed') IS DISTINCT FROM late_at_deadline AND NOT ran_after_deadline ORDER BY day;
SELECT day, slo_status, completed_at, late_at_deadline FROM verdict
WHERE (slo_status = 'missed') IS DISTINCT FROM late_at_deadline AND ran_after_deadline ORDER BY day;
-- a failure alert at the deadline is about a job that is not done then
SELECT c.business_date, j.name FROM verdict v
CROSS JOIN LATERAL kant.check_conditions(v.deadline) c
JOIN kant.job j ON j.job_id = c.job_id
CROSS JOIN LATERAL kant._job_day(c.job_id, c.business_date, v.deadline) jd
WHERE c.kind = 'failure' AND c.business_date = v.day AND jd.done
ORDER BY 1, 2;
-- and some failures were alerted
SELECT count(*) > 0 AS failures_alerted FROM verdict v
CROSS JOIN LATERAL kant.check_conditions(v.deadline) c
WHERE c.kind = 'failure' AND c.business_date = v.day;
-- the jobs the SLO day counts (runs and unmatched slots) are the ones the
-- gate requires: done jobs agree job by job
SELECT v.day, j.name, g.state, jd.done FROM verdict v
CROSS JOIN LATERAL kant.gate_status('agree_gate', v.day) g
JOIN kant.job j ON j.name = g.job
CROSS JOIN LATERAL kant._job_day(j.job_id, v.day) jd
WHERE g.job IS NOT NULL AND (g.state = 'succeeded') IS DISTINCT FROM jd.done
ORDER BY 1, 2;

-- the current attempt does not depend on the order runs arrive in: a later
-- attempt before the first, and a Glue retry before the run it retries
SELECT (kant.report_run('agree_manual', 'm2', 'late_first', 'success', '2026-04-01', 2,
        '2026-04-01 02:00+00', '2026-04-01 02:10+00')).inserted,
       (kant.report_run('agree_manual', 'm2', 'late_first', 'failed', '2026-04-01', 1,
        '2026-04-01 01:00+00', '2026-04-01 01:10+00')).inserted;
SELECT (kant.ingest_glue_job_runs('agree_glue', '{"JobRuns": [
  {"Id": "jr_retry", "JobName": "g2", "PreviousRunId": "jr_first", "Attempt": 1, "JobRunState": "SUCCEEDED",
   "StartedOn": "2026-04-01T01:20:00Z", "CompletedOn": "2026-04-01T01:40:00Z"}]}')).inserted;
SELECT (kant.ingest_glue_job_runs('agree_glue', '{"JobRuns": [
  {"Id": "jr_first", "JobName": "g2", "JobRunState": "FAILED",
   "StartedOn": "2026-04-01T01:00:00Z", "CompletedOn": "2026-04-01T01:10:00Z"}]}')).inserted;
SELECT job, external_id, attempt, is_current FROM kant.runs
WHERE business_date = '2026-04-01' ORDER BY job, external_id, attempt;
SELECT j.name, r.external_id, r.attempt, r.superseded_at FROM kant.job_run r JOIN kant.job j USING (job_id)
WHERE r.business_date = '2026-04-01' ORDER BY 1, 2, 3;
-- a run as seen between the two: at 01:12 jr_first was current, at 01:30 no longer
SELECT jd.done, jd.failed, jd.in_flight FROM kant.job j
CROSS JOIN LATERAL kant._job_day(j.job_id, '2026-04-01', '2026-04-01 01:12+00') jd WHERE j.name = 'g2';
SELECT jd.done, jd.failed, jd.in_flight FROM kant.job j
CROSS JOIN LATERAL kant._job_day(j.job_id, '2026-04-01', '2026-04-01 01:30+00') jd WHERE j.name = 'g2';
SELECT jd.done, jd.done_at FROM kant.job j
CROSS JOIN LATERAL kant._job_day(j.job_id, '2026-04-01') jd WHERE j.name = 'g2';

-- gate_status shows the attempt its state speaks of: a failed run recovered by
-- a later run that names no predecessor (a Glue StartJobRun without JobRunId:
-- new Id, Attempt 0, no PreviousRunId) is succeeded, with the re-run's times
SELECT (kant.report_run('agree_manual', 'm3', 'first', 'failed', '2026-04-02', 1,
        '2026-04-02 01:00+00', '2026-04-02 01:10+00')).inserted,
       (kant.report_run('agree_manual', 'm3', 'rerun', 'succeeded', '2026-04-02', 1,
        '2026-04-02 02:00+00', '2026-04-02 02:30+00')).inserted;
SELECT job, state, attempt, started_at, ended_at, expected_end, detail
FROM kant.gate_status('agree_gate', '2026-04-02') WHERE job = 'm3';
