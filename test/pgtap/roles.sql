-- pgTAP: the reader / writer / admin grants the README shows are enough, and no more;
-- every documented role against every secret
BEGIN;
SELECT plan(74);

-- exactly the README's grants
-- BI tools read the views
CREATE ROLE kant_reader NOLOGIN;
GRANT USAGE ON SCHEMA kant TO kant_reader;
GRANT SELECT ON kant.runs, kant.current_runs, kant.runs_by_business_date,
    kant.bi_run_timeline, kant.bi_slo_daily, kant.bi_slo_attainment, kant.bi_job_duration,
    kant.bi_data_dictionary, kant.bi_alert_daily, kant.open_alerts, kant.dq_status,
    kant.bi_dq_daily, kant.bi_dq_reconciliation TO kant_reader;
GRANT EXECUTE ON FUNCTION kant.slo_attainment(text, integer, date),
    kant.kant_gate_ready(text, date), kant.gate_status(text, date) TO kant_reader;
-- BI queries fetch many rows cheaply: JIT compilation would cost more than it saves
ALTER ROLE kant_reader SET jit = off;

-- collectors and Composer callbacks write through the functions only
CREATE ROLE kant_writer NOLOGIN;
GRANT USAGE ON SCHEMA kant TO kant_writer;
GRANT EXECUTE ON FUNCTION
    kant.ingest_glue_job_runs(text, jsonb), kant.ingest_glue_job_runs(text, text),
    kant.ingest_airflow_task_instances(text, jsonb), kant.ingest_airflow_task_instances(text, text),
    kant.ingest_openlineage(jsonb), kant.ingest_openlineage(text),
    kant.ingest_reports(text, jsonb), kant.ingest_reports(text, text),
    kant.report_run(text, text, text, text, date, integer, timestamptz, timestamptz, text, timestamptz, jsonb),
    kant.report_metric(text, date, text, numeric, timestamptz, timestamptz), kant.report_metrics(jsonb),
    kant.ingest_dbt_run_results(jsonb, jsonb, date, text), kant.ingest_great_expectations(jsonb, date, text, text),
    kant.ingest_glue_data_quality(text, jsonb)
  TO kant_writer;

-- the platform team configures through the functions and reads everything but the secrets
CREATE ROLE kant_admin NOLOGIN IN ROLE kant_reader, kant_writer;
GRANT EXECUTE ON FUNCTION
    kant.add_system(text, text, text, text, text, text, integer, time, text, text, text),
    kant.alter_system(text, text, text, text, text, text, integer, time, text, text, text),
    kant.drop_system(text),
    kant.configure_job(text, text, text, text, integer, time, text),
    kant.set_calendar(text, integer[], text),
    kant.set_schedule(text, text, text, text, text, interval, text, text, date, date),
    kant.unset_schedule(text, text, text),
    kant.create_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text),
    kant.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text, boolean),
    kant.drop_slo(text),
    kant.refresh_slo(text, date, date),
    kant.expand_schedules(timestamptz),
    kant.schedule_slo_refresh(text),
    kant.unschedule_slo_refresh(),
    kant.set_endpoint(text, text, text, integer, interval, interval, interval),
    kant.set_credentials(text, text, text, text, boolean, boolean),
    kant.set_credential_source(text, text, text, text, text, text, integer, text, text, text, text, text, text),
    kant.obtain_credentials(text, boolean),
    kant.collect_glue(text),
    kant.collect_airflow(text),
    kant.collect_hot(text),
    kant.set_hot_collection(text, boolean),
    kant.set_collect_budget(text, integer, integer),
    kant.schedule_collection(text, text),
    kant.unschedule_collection(text),
    kant.set_dependency(text, text[]),
    kant.set_job_retries(text, integer),
    kant.set_alerting(interval, interval, interval, double precision, interval, interval, integer, integer, integer),
    kant.set_channel(text, text, boolean, interval, boolean),
    kant.drop_channel(text),
    kant.add_route(text, text, text, text, text),
    kant.drop_route(integer),
    kant.silence(text, interval, text, text, text, text, timestamptz, timestamptz),
    kant.unsilence(integer),
    kant.check_conditions(timestamptz),
    kant.run_checks(timestamptz),
    kant.schedule_checks(text, text),
    kant.unschedule_checks(),
    kant._deliver_round(timestamptz, double precision),
    kant.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer),
    kant.drop_gate(text),
    kant.trigger_ready_gates(boolean),
    kant.schedule_gate_triggers(text),
    kant.unschedule_gate_triggers(),
    kant.tick(interval),
    kant.set_recovery(text, integer, interval, boolean, boolean),
    kant.unset_recovery(text),
    kant.recover_failed_runs(boolean),
    kant.schedule_recovery(text),
    kant.unschedule_recovery(),
    kant.add_dataset(text, text, text, text[]),
    kant.check_threshold(text, text, text, text, numeric, boolean, text, text),
    kant.check_freshness(text, text, interval, text, text, text),
    kant.check_reconciliation(text, text, text, text, numeric, numeric, text, text),
    kant.check_volume(text, text, text, integer, numeric, text, text),
    kant.check_assertion(text, text, text, text, text, text),
    kant.measure(text, text, text, interval, text, integer), kant.drop_measure(text),
    kant.run_measurements(date, timestamptz, text),
    kant.schedule_measurements(text), kant.unschedule_measurements(),
    kant.set_glue_data_quality(text, boolean), kant.set_slo_datasets(text, text[]),
    kant.set_cron_timetable(text, text),
    kant.diff_keys(regclass, regclass, name, text, text, integer, integer, integer),
    kant.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer),
    kant.drop_check(text), kant.evaluate_checks(date, date, timestamptz),
    kant.set_gate_datasets(text, text[])
  TO kant_admin;
-- the schedule_ functions run as their caller, so the pg_cron jobs are the admin's
-- (pg_cron runs a job as the role that scheduled it); their helpers:
GRANT EXECUTE ON FUNCTION kant._cron_job(text, text, text), kant._cron_unjob(text),
    kant._cron_name(text, text), kant._collect_command(text), kant._cron_others(text, text) TO kant_admin;
-- and, as a superuser in the database pg_cron lives in (cron.database_name):
--   GRANT USAGE ON SCHEMA cron TO kant_admin;
-- delivery runs as its caller (a procedure that commits cannot be SECURITY DEFINER);
-- each round is kant._deliver_round(), which reads the webhooks itself
GRANT EXECUTE ON PROCEDURE kant.deliver_notifications(double precision) TO kant_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA kant TO kant_admin;
REVOKE SELECT ON kant.credential, kant.token_cache, kant.channel FROM kant_admin;   -- the secrets
GRANT INSERT, DELETE ON kant.holiday TO kant_admin;

-- the superuser lets kant read secret files from one directory
SET LOCAL kant.secret_directory = '/etc/kant-secrets';
-- admin configures
SET LOCAL ROLE kant_admin;
SELECT lives_ok($$SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo')$$, 'admin adds a system');
SELECT lives_ok($$SELECT kant.configure_job('hegel', 'export_users', pipeline => 'nightly')$$, 'admin configures a job');
SELECT lives_ok($$SELECT count(*) FROM kant.rejected$$, 'admin reads the quarantine');
SELECT lives_ok($$SELECT kant.set_calendar('jp')$$, 'admin creates a calendar');
SELECT lives_ok($$INSERT INTO kant.holiday VALUES ('jp', '2024-11-23', 'Labour Thanksgiving Day')$$, 'admin adds a holiday');
SELECT lives_ok($$SELECT kant.set_schedule('hegel', 'cron(0 17 * * ? *)', job => 'export_users', calendar => 'jp', active_from => '2024-11-20')$$,
  'admin sets a schedule');
SELECT lives_ok($$SELECT kant.create_slo('hegel_nightly', '04:00', pipeline => 'nightly')$$, 'admin creates an SLO');
SELECT lives_ok($$SELECT kant.set_channel('ops', 'https://hooks.slack.com/services/T/B/secret')$$, 'admin adds a Slack channel');
SELECT lives_ok($$SELECT kant.set_endpoint('hegel', region => 'ap-northeast-1')$$, 'admin sets the region');
SELECT lives_ok($$SELECT kant.set_credentials('hegel', 'AKIAEXAMPLE', 'the-secret-key')$$, 'admin sets credentials');
SELECT lives_ok($$SELECT kant.set_credential_source('hegel', 'aws_assume_role',
  role_arn => 'arn:aws:iam::123456789012:role/kant-glue-reader', base_source => 'static')$$,
  'admin has the static keys assume a role (no secret of the server involved)');
SELECT is((SELECT source || ' ' || usable FROM kant.credential_sources WHERE system = 'hegel'), 'aws_assume_role true',
  'admin sees the source in kant.credential_sources');
SELECT lives_ok($$SELECT kant.add_route('ops')$$, 'admin routes alerts');
SELECT lives_ok($$SELECT kant.add_dataset('rds.users', 'Asia/Tokyo')$$, 'admin registers a dataset');
SELECT lives_ok($$SELECT kant.check_threshold('rds users not empty', 'rds.users', 'row_count', '>', 0)$$,
  'admin defines a data-quality check');
SELECT lives_ok($$SELECT count(*) FROM kant.evaluate_checks('2024-11-20', '2024-11-20', '2024-11-21T00:00:00Z')$$,
  'admin evaluates the checks');
SELECT lives_ok($$SELECT kant.silence('maintenance', '1 hour', system => 'hegel')$$, 'admin silences');
SELECT lives_ok($$SELECT * FROM kant.run_checks()$$, 'admin runs the checks');
SELECT lives_ok($$SELECT kant.create_gate('socrates_daily', pipeline => 'nightly')$$, 'admin creates a gate');
SELECT is((SELECT webhook FROM kant.channels WHERE name = 'ops'), 'https://hooks.slack.com/…',
  'admin sees a channel''s host, not its URL');
-- ... and reaches no secret, and changes nothing but through the functions
SELECT throws_ok($$SELECT secret FROM kant.credential$$, '42501', NULL, 'admin cannot read credentials');
SELECT throws_ok($$SELECT system_id FROM kant.credential$$, '42501', NULL, 'admin cannot read any column of kant.credential');
SELECT throws_ok($$SELECT webhook_url FROM kant.channel$$, '42501', NULL, 'admin cannot read webhook URLs');
SELECT throws_ok($$SELECT secret FROM kant.token_cache$$, '42501', NULL, 'admin cannot read cached tokens');
-- the server's own identity is a secret of the server: naming it is the superuser's
SELECT throws_ok($$SELECT kant.set_credential_source('hegel', 'aws_instance')$$, '42501', NULL,
  'admin cannot hand a system the server''s instance role');
SELECT throws_ok($$SELECT kant.set_credential_source('hegel', 'aws_assume_role',
  role_arn => 'arn:aws:iam::123456789012:role/x', base_source => 'aws_container')$$, '42501', NULL,
  'admin cannot have the server''s container role assume another');
SELECT throws_ok($$SELECT kant.set_credential_source('hegel', 'aws_assume_role',
  role_arn => 'arn:aws:iam::123456789012:role/x', base_source => 'static', sts_endpoint => 'https://sts.example.com')$$,
  '42501', NULL, 'admin cannot send a signed AssumeRole to a host of its choosing');
SELECT throws_ok($$SET kant.aws_metadata_endpoint = 'http://10.0.0.1'$$, '42501', NULL,
  'admin cannot move the metadata endpoint');
SELECT throws_ok($$UPDATE kant.gate SET condition = 'pg_catalog.textregexeq(text,text)'::regprocedure$$, '42501', NULL,
  'admin cannot change a gate''s condition behind kant''s checks');
SELECT throws_ok($$UPDATE kant.system SET endpoint = 'http://169.254.169.254/'$$, '42501', NULL,
  'admin cannot set an endpoint behind kant''s checks');
SELECT throws_ok($$UPDATE kant.channel SET webhook_url = 'http://127.0.0.1/'$$, '42501', NULL, 'admin cannot rewrite a webhook');
SELECT throws_ok($$SELECT * FROM kant._post_channels(ARRAY['ops'], ARRAY['{}'])$$, '42501', NULL,
  'admin cannot post to a channel directly');
SELECT throws_ok($$SELECT kant.http_get('http://169.254.169.254/latest/meta-data/')$$, '42501', NULL,
  'admin cannot make the server fetch a URL');
SELECT throws_ok($$SELECT * FROM kant._airflow_post('hegel', 'x', '{}')$$, '42501', NULL, 'admin cannot post to Airflow directly');
SELECT throws_ok($$SELECT * FROM kant._glue_call('hegel', 'StartJobRun', '{}')$$, '42501', NULL, 'admin cannot call Glue directly');
SELECT throws_ok($$SELECT kant.set_credentials('hegel', 'PGUSER', 'PGDATA', from_env => true)$$, '42501', NULL,
  'admin cannot send the server''s PGDATA as a password');
-- naming the server's secrets is the superuser's: an admin's own system, pointed at its own
-- host, must not be given KANT_ variables or secret files someone else put there
SELECT throws_ok($$SELECT kant.set_credentials('hegel', 'KANT_HEGEL_KEY_ID', 'KANT_HEGEL_SECRET', from_env => true)$$,
  '42501', NULL, 'admin cannot name even an allowed KANT_ environment variable');
SELECT throws_ok($$SELECT kant.set_credentials('hegel', 'hegel_key_id', 'hegel_secret', from_file => true)$$, '42501', NULL,
  'admin cannot name a secret file');
SELECT throws_ok($$SELECT kant.set_channel('ops', 'KANT_SLACK_WEBHOOK', from_env => true)$$, '42501', NULL,
  'admin cannot make a channel of an environment variable');
SELECT throws_ok($$SET kant.allowed_hosts = '*, 169.254.0.0/16'$$, '42501', NULL, 'admin cannot widen kant.allowed_hosts');
SELECT throws_ok($$SET kant.allowed_env_prefixes = ''$$, '42501', NULL, 'admin cannot widen kant.allowed_env_prefixes');
SELECT throws_ok($$SET kant.secret_directory = '/'$$, '42501', NULL, 'admin cannot set kant.secret_directory');
RESET ROLE;

-- writer ingests, through the functions only (logged in as the writer)
SET LOCAL SESSION AUTHORIZATION kant_writer;
SELECT lives_ok($$SELECT kant.ingest_glue_job_runs('hegel', '{"JobRuns": [{"Id": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}')$$,
  'writer ingests a Glue page (text)');
SELECT lives_ok($$SELECT kant.ingest_glue_job_runs('hegel', '{"JobRuns": [{"Id": "jr_3", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}'::jsonb)$$,
  'writer ingests a Glue page (jsonb)');
SELECT lives_ok($$SELECT kant.report_run(system => 'hegel', job => 'export_users', run_id => 'jr_2', state => 'running', started_at => now())$$,
  'writer reports a run');
SELECT is(kant.report_metric('bq.users', '2024-11-20', 'row_count', 10, measured_at => '2024-11-21T00:00:00Z'),
  'inserted', 'writer reports a metric (registering the dataset)');
SELECT throws_ok($$SELECT kant.check_threshold('x', 'bq.users', 'row_count', '>', 0)$$, '42501', NULL,
  'writer cannot define checks');
SELECT throws_ok($$SELECT count(*) FROM kant.job_run$$, '42501', NULL, 'writer cannot read tables');
SELECT throws_ok($$DELETE FROM kant.job_run$$, '42501', NULL, 'writer cannot write tables directly');
SELECT throws_ok($$SELECT kant.add_system('x', 'glue')$$, '42501', NULL, 'writer cannot configure');
SELECT throws_ok($$SELECT secret FROM kant.credential$$, '42501', NULL, 'writer cannot read credentials');
SELECT throws_ok($$SELECT webhook_url FROM kant.channel$$, '42501', NULL, 'writer cannot read webhook URLs');
RESET SESSION AUTHORIZATION;
-- a collector that logs in as someone else and SET ROLEs to the writer is logged as the writer
SET LOCAL ROLE kant_writer;
SELECT lives_ok($$SELECT kant.ingest_glue_job_runs('hegel', '{"JobRuns": [{"Id": "jr_4", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}')$$,
  'writer ingests after SET ROLE');
RESET ROLE;
SELECT is((SELECT received_by FROM kant.ingest_batch ORDER BY batch_id DESC LIMIT 1), 'kant_writer',
  'ingest log names the role after SET ROLE, not the session user');

-- reader reads the views, nothing else
SET LOCAL ROLE kant_reader;
SELECT is((SELECT count(*) FROM kant.runs)::integer, 4, 'reader reads kant.runs');
SELECT throws_ok($$SELECT payload FROM kant.ingest_batch$$, '42501', NULL, 'reader cannot read raw payloads');
SELECT throws_ok($$SELECT kant.ingest_openlineage('[]')$$, '42501', NULL, 'reader cannot ingest');
SELECT lives_ok($$SELECT * FROM kant.bi_run_timeline, kant.bi_slo_daily, kant.bi_slo_attainment, kant.bi_job_duration, kant.bi_data_dictionary LIMIT 1$$,
  'reader reads the bi_ views');
SELECT lives_ok($$SELECT * FROM kant.slo_attainment('hegel_nightly')$$, 'reader reads attainment');
SELECT lives_ok($$SELECT * FROM kant.bi_alert_daily, kant.open_alerts LIMIT 1$$, 'reader reads the alerts');
SELECT throws_ok($$SELECT webhook_url FROM kant.channel$$, '42501', NULL, 'reader cannot read webhook URLs');
SELECT throws_ok($$SELECT secret FROM kant.credential$$, '42501', NULL, 'reader cannot read credentials');
SELECT throws_ok($$SELECT * FROM kant.channels$$, '42501', NULL, 'reader cannot list channels');
SELECT throws_ok($$SELECT * FROM kant.run_checks()$$, '42501', NULL, 'reader cannot run the checks');
SELECT lives_ok($$SELECT kant.kant_gate_ready('socrates_daily', '2024-11-24')$$, 'reader asks a gate (Composer''s sensor)');
SELECT lives_ok($$SELECT count(*) FROM kant.dq_status$$, 'reader reads the data-quality verdicts');
SELECT throws_ok($$SELECT * FROM kant.trigger_ready_gates()$$, '42501', NULL, 'reader cannot trigger');
SELECT throws_ok($$SELECT kant.create_slo('x', '04:00', pipeline => 'nightly')$$, '42501', NULL, 'reader cannot define SLOs');
RESET ROLE;

-- every secret, against every documented role: no column of kant.credential,
-- no webhook URL, and no function that reads them or posts is within reach
SELECT is_empty($$
  SELECT r.rolname, t.t FROM pg_roles r, unnest(ARRAY['kant.credential', 'kant.token_cache', 'kant.channel']) t(t)
  WHERE r.rolname IN ('kant_reader', 'kant_writer', 'kant_admin')
    AND (has_table_privilege(r.rolname, t.t, 'SELECT, UPDATE, INSERT, DELETE')
         OR has_any_column_privilege(r.rolname, t.t, 'SELECT, UPDATE, INSERT'))$$,
  'no documented role reads or writes a table holding secrets');
SELECT is_empty($$
  SELECT r.rolname, p.oid::regprocedure FROM pg_roles r, pg_proc p
  WHERE r.rolname IN ('kant_reader', 'kant_writer', 'kant_admin')
    AND p.pronamespace = 'kant'::regnamespace
    AND p.proname IN ('_post_channels', '_post_json', '_call_condition', '_check_condition', '_secret_check',
                      '_raise_quietly', '_airflow_post', '_airflow_clear', '_airflow_dag_run', '_glue_call',
                      'http_get', 'http_fetch')
    AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')$$,
  'no documented role may call what reads secrets, posts, fetches URLs or runs user code as another role');
SELECT is_empty($$
  SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
  WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind = 'v'
    AND a.attname IN ('secret', 'session_token', 'principal', 'webhook_url')$$,
  'no view shows a secret column');
SELECT is_empty($$
  SELECT r.rolname, c.relname FROM pg_roles r, pg_class c
  WHERE r.rolname IN ('kant_reader', 'kant_writer', 'kant_admin')
    AND c.relnamespace = 'kant'::regnamespace AND c.relkind = 'r' AND c.relname <> 'holiday'
    AND has_table_privilege(r.rolname, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')$$,
  'no documented role writes kant''s tables directly (holidays aside): configuration goes through the checks');
SELECT is((SELECT count(*)::integer FROM kant.credential WHERE secret = 'the-secret-key'), 1,
  'the credential the admin set is there (for the owner only)');

-- the batch is recorded as the writer's, not as the functions' owner
SELECT is((SELECT received_by FROM kant.ingest_batch ORDER BY batch_id LIMIT 1), 'kant_writer',
  'ingest log names the session user that sent the payload');

SELECT * FROM finish();
ROLLBACK;
