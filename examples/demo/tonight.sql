-- Execution control, live (run by `make demo` after alerts.sql): the gate that
-- holds SOCRATES until every HEGEL export of the business date is done, the
-- restart of a failed Glue run, the one trigger of SOCRATES' first DAG and the
-- clear of its failed task -- done by pg_cron running kant.tick() every minute
-- (the README's setup), against the fake Glue and the fake Airflow, with real
-- HTTP; and the hand-off time.
\set ON_ERROR_STOP on
\pset footer off
\pset null ''
SET client_min_messages = warning;
SELECT (now() AT TIME ZONE 'Asia/Tokyo')::date AS bd,
       to_char((now() AT TIME ZONE 'Asia/Tokyo')::date + 1, 'YYYY-MM-DD') AS deadline_day \gset
SELECT set_config('demo.bd', :'bd', false) IS NOT NULL AS ok \gset

\echo '== A gate: SOCRATES (its DAG s3_to_gcs) may start once every HEGEL export of the business date succeeded'
SELECT kant.create_gate('socrates_daily', pipeline => 'hegel_nightly',
         downstream_system => 'socrates', downstream_dag => 's3_to_gcs') > 0 AS gate;
\echo '== Recovery on both sides: kant restarts hegel_export_attendance (Glue) and clears s3_to_gcs'' tasks (Airflow) when they fail'
SELECT 'hegel/hegel_export_attendance' AS glue_job, 'socrates/s3_to_gcs' AS airflow_dag
FROM (SELECT kant.set_recovery('hegel/hegel_export_attendance', max_attempts => 2, min_wait => '0'),
             kant.set_recovery('socrates/s3_to_gcs', max_attempts => 2, min_wait => '0')) AS x;

\echo '== The next business date,' :bd '(deadline' :deadline_day '04:30 JST), played now on the fake Glue --'
\echo '   39 done; hegel_export_attendance failed 20 minutes ago and Glue''s own retry (MaxRetries 1) did not come'
-- the night happens on the fake Glue (a hook of the fake; Glue itself has no such thing),
-- and kant's collector reads it as it reads every night
SELECT kant.http_get(:'glue_url' || '_fake/tonight?bd=' || :'bd' || '&failed=hegel_export_attendance') IS NOT NULL AS night_played;
SELECT runs_new, sqlstate FROM kant.collect_glue('hegel');
SELECT kant.kant_gate_ready('socrates_daily', :'bd') AS gate_ready;
SELECT job, state, detail FROM kant.gate_status('socrates_daily', :'bd') WHERE state <> 'succeeded';
\echo '== What kant would do now (dry runs): restart the failed run; trigger nothing yet'
SELECT job, failed_run, outcome FROM kant.recover_failed_runs(dry_run => true);
SELECT * FROM kant.trigger_ready_gates(dry_run => true);

\echo '== From here kant works alone: pg_cron runs kant.tick() every minute (kant-gates, the README''s setup) --'
\echo '   hot collection of what can change now, the gates, recovery. On the fake Glue a run StartJobRun starts'
\echo '   succeeds 45 s later. Waiting for kant to restart the run, see it succeed and trigger s3_to_gcs ...'
SELECT kant.schedule_gate_triggers() > 0 AS kant_gates_scheduled;
DO $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		EXIT WHEN EXISTS (SELECT FROM kant.actions a
						  WHERE a.gate = 'socrates_daily' AND a.kind = 'trigger' AND a.outcome IN ('done', 'already')
							AND a.business_date = current_setting('demo.bd')::date);
		IF clock_timestamp() > t0 + interval '6 minutes' THEN
			RAISE EXCEPTION 'kant did not trigger s3_to_gcs within 6 minutes (see kant.actions, cron.job_run_details)';
		END IF;
		PERFORM pg_sleep(1);
	END LOOP;
END
$$;
\echo '== The hand-off: from the last HEGEL success (as Glue reports it: CompletedOn) to the dagRuns POST'
SELECT to_char(u.done_at AT TIME ZONE 'Asia/Tokyo', 'HH24:MI:SS') AS last_upstream_success_jst, u.job AS its_job,
       to_char(t.at AT TIME ZONE 'Asia/Tokyo', 'HH24:MI:SS') AS s3_to_gcs_triggered_jst,
       round(extract(epoch FROM t.at - u.done_at))::int AS hand_off_seconds
FROM (SELECT r.job, r.ended_at AS done_at FROM kant.current_runs r
      WHERE r.system = 'hegel' AND r.pipeline = 'hegel_nightly' AND r.business_date = :'bd'
      ORDER BY r.ended_at DESC LIMIT 1) u,
     (SELECT a.at FROM kant.actions a WHERE a.gate = 'socrates_daily' AND a.kind = 'trigger'
        AND a.outcome = 'done' AND a.business_date = :'bd') t;

\echo '== SOCRATES runs s3_to_gcs: transfer_attendance fails (Airflow''s retries spent), the tasks after it are upstream_failed'
SELECT kant.http_get(:'airflow_url' || '/_fake/tonight?dag=s3_to_gcs&run=kant__socrates_daily__' || :'bd'
                     || '&failed=transfer_attendance') IS NOT NULL AS dag_ran;
SELECT runs_new, sqlstate FROM kant.collect_airflow('socrates');
\echo '== What an operator''s kant.rerun would do for SOCRATES'' business date (dry run, the default: Airflow''s own dry run says what it would clear)'
SELECT action, outcome, count(*) AS failed_task_instances,
       substring(min(detail) FROM 'Airflow''s dry run .*$') AS airflow_says
FROM kant.rerun(pipeline => 'socrates_daily', business_date => :'bd') WHERE action = 'clear'
GROUP BY action, outcome;
\echo '== Waiting for kant''s tick to clear it on Airflow (POST clearTaskInstances: only_failed, its downstream, the DAG run queued again) ...'
DO $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		EXIT WHEN EXISTS (SELECT FROM kant.actions a
						  WHERE a.kind = 'recover' AND a.job LIKE 's3_to_gcs.%' AND a.outcome = 'done'
							AND a.business_date = current_setting('demo.bd')::date);
		IF clock_timestamp() > t0 + interval '3 minutes' THEN
			RAISE EXCEPTION 'kant did not clear s3_to_gcs within 3 minutes (see kant.actions, cron.job_run_details)';
		END IF;
		PERFORM pg_sleep(1);
	END LOOP;
END
$$;
\echo '== ... Composer runs the cleared tasks, and they succeed (as the next collection reports it)'
SELECT kant.http_get(:'airflow_url' || '/_fake/run_cleared') IS NOT NULL AS ran;
SELECT sqlstate FROM kant.collect_airflow('socrates');
SELECT state, count(*) AS task_instances FROM kant.current_runs
WHERE system = 'socrates' AND job LIKE 's3_to_gcs.%' AND business_date = :'bd' GROUP BY state;

\echo '== What kant did (kant.actions): all of it by pg_cron''s kant.tick(), none of it twice'
SELECT to_char(at AT TIME ZONE 'Asia/Tokyo', 'HH24:MI:SS') AS at_jst, kind, coalesce(gate, job) AS what, target,
       outcome, left(detail, 60) AS detail
FROM kant.actions WHERE kind <> 'rerun' ORDER BY action_id;
SELECT kant.unschedule_gate_triggers() AS kant_gates_unscheduled;
