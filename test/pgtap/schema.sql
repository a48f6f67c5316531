-- pgTAP: the extension's objects, their security and their documentation
BEGIN;
SELECT plan(48);

-- the extension
SELECT has_extension('kant', 'kant is installed');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'kant'), '0.6.0', 'version 0.6.0');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'kant'), false, 'not relocatable');
SELECT is((SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
           WHERE e.extname = 'kant'), 'kant', 'lives in schema kant');

-- the model
SELECT has_table('kant', t, 'table kant.' || t) FROM unnest(ARRAY['system', 'job', 'job_run', 'ingest_batch', 'rejected']) t;
SELECT has_view('kant', v, 'view kant.' || v) FROM unnest(ARRAY['runs', 'current_runs', 'runs_by_business_date']) v;
SELECT has_type('kant', 'run_state', 'type kant.run_state');
SELECT col_is_unique('kant', 'job_run', ARRAY['job_id', 'external_id', 'attempt'], 'one row per run attempt');
SELECT has_index('kant', 'job_run', 'job_run_business_date_idx', ARRAY['business_date', 'job_id'], 'runs by business date');
SELECT has_index('kant', 'job_run', 'job_run_job_started_idx', ARRAY['job_id', 'started_at'], 'runs by job');
SELECT has_index('kant', 'job_run', 'job_run_open_idx', 'unfinished runs by job (partial)');
SELECT fk_ok('kant', 'job_run', 'job_id', 'kant', 'job', 'job_id');
SELECT fk_ok('kant', 'job', 'system_id', 'kant', 'system', 'system_id');
SELECT fk_ok('kant', 'rejected', 'batch_id', 'kant', 'ingest_batch', 'batch_id');

-- user data is dumped by pg_dump (not the token cache: unlogged, expiring, src/auth.c)
SELECT set_eq(
  $$SELECT c.relname::text FROM pg_extension e, unnest(e.extconfig) x(oid) JOIN pg_class c ON c.oid = x.oid
    WHERE e.extname = 'kant' AND c.relkind = 'r'$$,
  $$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind = 'r'
    AND c.relname <> 'token_cache'$$,
  'every table but the token cache is an extension configuration table (kept by pg_dump)');
SELECT set_eq(
  $$SELECT c.relname::text FROM pg_extension e, unnest(e.extconfig) x(oid) JOIN pg_class c ON c.oid = x.oid
    WHERE e.extname = 'kant' AND c.relkind = 'S'$$,
  $$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind = 'S'$$,
  'every identity sequence is dumped too');

-- security: writers need EXECUTE, granted explicitly; nothing for PUBLIC
SELECT is_definer('kant', f, 'kant.' || f || ' is SECURITY DEFINER')
FROM unnest(ARRAY['ingest_glue_job_runs', 'ingest_airflow_task_instances', 'ingest_openlineage',
                  'ingest_reports', 'report_run', 'add_system', 'alter_system', 'drop_system', 'configure_job']) f;
SELECT is_empty(
  $$SELECT p.proname FROM pg_proc p
    WHERE p.pronamespace = 'kant'::regnamespace AND p.prosecdef
      AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
  'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');
SELECT is_empty(
  $$SELECT p.proname FROM pg_proc p
    WHERE p.pronamespace = 'kant'::regnamespace AND p.prosecdef
      AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
  'no SECURITY DEFINER function is executable by PUBLIC');
SELECT is_empty(
  $$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind IN ('r', 'v')
      AND has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE')$$,
  'PUBLIC can neither read nor write kant''s tables and views');

-- documentation: every table, view, column, function and type has a comment
SELECT is_empty(
  $$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind IN ('r', 'v')
      AND obj_description(c.oid, 'pg_class') IS NULL$$, 'every table and view has a COMMENT');
SELECT is_empty(
  $$SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind IN ('r', 'v') AND a.attnum > 0
      AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
      AND NOT (c.relkind = 'r' AND a.attname IN ('system_id', 'job_id', 'batch_id', 'rejected_id'))$$,
  'every view column and every table column (but plain ids) has a COMMENT');
SELECT is_empty(
  $$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'kant'::regnamespace
      AND obj_description(p.oid, 'pg_proc') IS NULL$$, 'every function has a COMMENT');
SELECT is_empty(
  $$SELECT t.typname FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
    WHERE t.typnamespace = 'kant'::regnamespace AND t.typcategory <> 'A'
      AND (t.typtype = 'b' OR (t.typtype = 'c' AND c.relkind = 'c'))
      AND obj_description(t.oid, 'pg_type') IS NULL$$,
  'every type has a COMMENT');

-- the model's rules as constraints
SELECT throws_ok($$INSERT INTO kant.system (name, kind) VALUES ('x', 'cron')$$, '23514', NULL, 'system kind is checked');
SELECT throws_ok($$INSERT INTO kant.system (name, kind, time_zone) VALUES ('x', 'glue', 'Asia/Tokio')$$, '23514', NULL, 'system time zone is checked');

-- SLOs
SELECT has_index('kant', 'expected_run', 'expected_run_business_date_idx', ARRAY['business_date', 'job_id'], 'expected runs by business date');
SELECT has_index('kant', 'slo_day', 'slo_day_business_date_idx', ARRAY['business_date'], 'daily facts by business date');
SELECT is((SELECT a.aggcombinefn::text FROM pg_aggregate a WHERE a.aggfnoid = 'kant.slo_eval'::regproc),
  'kant.slo_eval_combine', 'kant.slo_eval has a combine function');
SELECT is((SELECT p.proparallel::text FROM pg_proc p WHERE p.oid = 'kant.slo_eval'::regproc), 's',
  'kant.slo_eval is PARALLEL SAFE');
SELECT is((SELECT a.aggtranstype::regtype::text FROM pg_aggregate a WHERE a.aggfnoid = 'kant.slo_eval'::regproc),
  'bigint[]', 'kant.slo_eval keeps an ordinary bigint[] state, not internal');
SELECT set_eq($$SELECT DISTINCT view_name FROM kant.bi_data_dictionary$$,
  $$SELECT relname::text FROM pg_class WHERE relnamespace = 'kant'::regnamespace AND relkind = 'v' AND relname LIKE 'bi\_%'$$,
  'kant.bi_data_dictionary lists every bi_ view');
SELECT is_empty($$SELECT view_name || '.' || column_name FROM kant.bi_data_dictionary WHERE column_description IS NULL$$,
  'every bi_ column has a description in the dictionary');
SELECT throws_ok($$INSERT INTO kant.slo (name, deadline_offset_days, deadline_time, time_zone, sla_offset_days, sla_time, evaluate_from)
  VALUES ('x', 0, '00:00', 'UTC', 1, '00:00', '2026-01-01')$$, '23514', NULL, 'a deadline at the start of the business date is refused');

SELECT * FROM finish();
ROLLBACK;
