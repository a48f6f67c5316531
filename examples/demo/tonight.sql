-- Execution control, live (run by `make demo` after alerts.sql): the gate that
-- holds SOCRATES until every HEGEL export of the business date is done, the
-- restart of a failed Glue run, and the one trigger of SOCRATES' first DAG --
-- against the fake Glue and the fake Airflow, with real HTTP.
\set ON_ERROR_STOP on
\pset footer off
\pset null ''
SET client_min_messages = warning;
SELECT (now() AT TIME ZONE 'Asia/Tokyo')::date AS bd,
       to_char((now() AT TIME ZONE 'Asia/Tokyo')::date + 1, 'YYYY-MM-DD') AS deadline_day \gset

\echo '== A gate: SOCRATES (its DAG s3_to_gcs) may start once every HEGEL export of the business date succeeded'
SELECT kant.create_gate('socrates_daily', pipeline => 'hegel_nightly',
         downstream_system => 'socrates', downstream_dag => 's3_to_gcs') > 0 AS gate;
SELECT 'hegel/hegel_export_attendance' AS kant_restarts_it_when_it_fails
FROM (SELECT kant.set_recovery('hegel/hegel_export_attendance', max_attempts => 2, min_wait => '0')) AS x;

\echo '== The next business date,' :bd '(deadline' :deadline_day '04:30 JST), played now on the fake Glue --'
\echo '   39 done; hegel_export_attendance failed 20 minutes ago and Glue''s own retry (MaxRetries 1) did not come'
-- the night happens on the fake Glue (a hook of the fake; Glue itself has no such thing),
-- and kant's collector reads it as it reads every night
SELECT kant.http_get(:'glue_url' || '_fake/tonight?bd=' || :'bd' || '&failed=hegel_export_attendance') IS NOT NULL AS night_played;
SELECT runs_new, sqlstate FROM kant.collect_glue('hegel');
SELECT kant.kant_gate_ready('socrates_daily', :'bd') AS gate_ready;
SELECT job, state, detail FROM kant.gate_status('socrates_daily', :'bd') WHERE state <> 'succeeded';
\echo '== The trigger waits: nothing to do (and the gate, created today, does not start the DAG again for days that already ran)'
SELECT * FROM kant.trigger_ready_gates();

\echo '== kant restarts the failed run (StartJobRun on the fake Glue): its p90 still fits before the' :deadline_day '04:30 JST deadline'
SELECT job, failed_run, outcome, detail FROM kant.recover_failed_runs();
\echo '== ... the restarted run succeeds (as the next collection would report it)'
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', jsonb_build_object('JobRuns', jsonb_build_array(jsonb_build_object(
	'Id', 'jr_tonight_hegel_export_attendance_2', 'JobName', 'hegel_export_attendance', 'Attempt', 0,
	'PreviousRunId', 'jr_tonight_hegel_export_attendance', 'JobRunState', 'SUCCEEDED',
	'StartedOn', extract(epoch FROM now() - interval '8 minutes'), 'CompletedOn', extract(epoch FROM now()),
	'Arguments', jsonb_build_object('--business_date', :'bd')))));
SELECT kant.kant_gate_ready('socrates_daily', :'bd') AS gate_ready;

\echo '== The gate is open: kant triggers s3_to_gcs on the fake Airflow, once (called twice)'
SELECT gate, business_date, outcome, http_status FROM kant.trigger_ready_gates();
SELECT gate, business_date, outcome, http_status FROM kant.trigger_ready_gates();

\echo '== SOCRATES runs s3_to_gcs: transfer_attendance fails (Airflow''s retries spent), the tasks after it are upstream_failed'
SELECT kant.http_get(:'airflow_url' || '/_fake/tonight?dag=s3_to_gcs&run=kant__socrates_daily__' || :'bd'
                     || '&failed=transfer_attendance') IS NOT NULL AS dag_ran;
SELECT runs_new, sqlstate FROM kant.collect_airflow('socrates');
\echo '== What an operator''s kant.rerun would do for SOCRATES'' business date (dry run, the default: Airflow''s own dry run says what it would clear)'
SELECT action, subject, outcome, left(detail, 100) AS detail
FROM kant.rerun(pipeline => 'socrates_daily', business_date => :'bd') WHERE action = 'clear';
\echo '== kant clears it on Airflow too (POST clearTaskInstances: only_failed, its downstream, the DAG run queued again), once'
SELECT kant.set_recovery('socrates/s3_to_gcs', max_attempts => 2, min_wait => '0') AS airflow_recovery;
SELECT job, failed_run, outcome, left(detail, 90) AS detail FROM kant.recover_failed_runs();
SELECT count(*) AS cleared_again FROM kant.recover_failed_runs();
\echo '== ... Composer runs the cleared tasks, and they succeed (as the next collection reports it)'
SELECT kant.http_get(:'airflow_url' || '/_fake/run_cleared') IS NOT NULL AS ran;
SELECT runs_changed, sqlstate FROM kant.collect_airflow('socrates');
SELECT state, count(*) AS task_instances FROM kant.current_runs
WHERE system = 'socrates' AND job LIKE 's3_to_gcs.%' AND business_date = :'bd' GROUP BY state;


\echo '== What kant did (kant.actions)'
SELECT kind, coalesce(gate, job) AS what, business_date, target, outcome, left(detail, 70) AS detail
FROM kant.actions ORDER BY action_id;
