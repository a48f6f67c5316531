-- pgTAP: user code never runs with the extension owner's rights; every
-- function is immune to what a caller's search_path offers
BEGIN;
SELECT plan(16);

-- every function of kant pins its search_path; the one exception is the
-- delivery procedure (it commits, so it cannot SET): it spells its operators
-- OPERATOR(pg_catalog.x) (test/scripts/security.py plants operators for it)
SELECT is_empty($$
  SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.pronamespace = 'kant'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
    AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
    AND p.oid <> 'kant.deliver_notifications(double precision)'::regprocedure$$,
  'every SQL and PL/pgSQL function of kant runs with search_path = pg_catalog, pg_temp');
SELECT is_empty($$
  SELECT p.oid::regprocedure FROM pg_proc p
  WHERE p.pronamespace = 'kant'::regnamespace AND p.prolang = 13 AND p.probin IS NOT NULL
    AND p.proname IN ('_airflow_post', '_glue_call', '_post_channels', 'collect_glue', 'collect_airflow')
    AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
  'every C function that runs SQL pins its search_path too');

-- a gate's condition runs as the role that defined the gate
CREATE ROLE kant_test_mallory NOLOGIN;
CREATE SCHEMA kant_test_m AUTHORIZATION kant_test_mallory;
GRANT USAGE ON SCHEMA kant TO kant_test_mallory;
GRANT EXECUTE ON FUNCTION kant.create_gate(text, text, text[], text, text, interval, text, text, text),
  kant.kant_gate_ready(text, date), kant.gate_status(text, date) TO kant_test_mallory;
SELECT kant.add_system('etl', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('etl', 'extract', pipeline => 'p') > 0 AS configured;
SELECT (kant.report_run('etl', 'extract', 'r1', 'succeeded', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 02:00+00')).inserted;

SET LOCAL ROLE kant_test_mallory;
CREATE FUNCTION kant_test_m.promote(gate text, business_date date) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN ALTER ROLE kant_test_mallory SUPERUSER; RETURN true; END $$;
CREATE FUNCTION kant_test_m.who(gate text, business_date date) RETURNS boolean
	LANGUAGE sql AS $$ SELECT current_user = 'kant_test_mallory' $$;
CREATE FUNCTION kant_test_m.scratch(gate text, business_date date) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN CREATE TEMP TABLE x (i int); RETURN true; END $$;
CREATE FUNCTION pg_temp.here(gate text, business_date date) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
SELECT lives_ok($$SELECT kant.create_gate('promote', pipeline => 'p', condition => 'kant_test_m.promote')$$,
  'a role defines a gate with a condition function of its own');
SELECT lives_ok($$SELECT kant.create_gate('who', pipeline => 'p', condition => 'kant_test_m.who')$$,
  'and another one');
SELECT lives_ok($$SELECT kant.create_gate('scratch', pipeline => 'p', condition => 'kant_test_m.scratch')$$,
  'and one that creates a temporary table');
SELECT throws_ok($$SELECT kant.create_gate('temp', pipeline => 'p', condition => 'pg_temp.here')$$, '22023', NULL,
  'a temporary function cannot be a condition');
RESET ROLE;

-- asked by the superuser (the sensor's role does not matter): it runs as its definer
SELECT throws_ok($$SELECT kant.kant_gate_ready('promote', '2026-03-01')$$, '42501', NULL,
  'the condition runs as its definer, who may not make itself superuser');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'kant_test_mallory'), false,
  'and the definer did not become superuser');
SELECT is(kant.kant_gate_ready('who', '2026-03-01'), true, 'current_user inside the condition is its definer');
SELECT throws_ok($$SELECT kant.kant_gate_ready('scratch', '2026-03-01')$$, '42501', NULL,
  'the condition runs restricted (no temporary objects, no SET ROLE)');
SELECT matches((SELECT detail FROM kant.gate_status('promote', '2026-03-01') WHERE state = 'condition_not_met'),
  '^kant_test_m\.promote\(text,date\) failed: must be superuser', 'gate_status says why the condition failed');

-- a function whose owner lacks the definer's rights is refused: its owner could change it
SELECT throws_ok($$SELECT kant.create_gate('lent', pipeline => 'p', condition => 'kant_test_m.who')$$, '42501', NULL,
  'a superuser cannot adopt another role''s function as a condition (it would run as the superuser)');
-- a condition kept by OID: renamed it still works, dropped the gate fails closed
ALTER FUNCTION kant_test_m.who(text, date) RENAME TO who2;
SELECT is(kant.kant_gate_ready('who', '2026-03-01'), true, 'the condition is kept by OID, not by name');
DROP FUNCTION kant_test_m.who2(text, date);
SELECT throws_ok($$SELECT kant.kant_gate_ready('who', '2026-03-01')$$, '42883', NULL,
  'a dropped condition keeps the gate closed, with an error');
-- a role that lost EXECUTE on its condition: closed
REVOKE EXECUTE ON FUNCTION kant_test_m.scratch(text, date) FROM PUBLIC, kant_test_mallory;
SELECT throws_ok($$SELECT kant.kant_gate_ready('scratch', '2026-03-01')$$, '42501', NULL,
  'a definer that may no longer execute its condition keeps the gate closed');
SELECT is((SELECT count(*)::integer FROM kant.gate WHERE condition IS NOT NULL AND condition_role IS NULL), 0,
  'every condition has the role it runs as');

SELECT * FROM finish();
ROLLBACK;
