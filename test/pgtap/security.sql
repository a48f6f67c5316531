-- pgTAP: user code never runs with the extension owner's rights; every
-- function is immune to what a caller's search_path offers
BEGIN;
SELECT plan(28);

-- every function of kant pins its search_path; the exceptions are the
-- delivery procedure (it commits, so it cannot SET: it spells its operators
-- OPERATOR(pg_catalog.x), test/scripts/security.py plants operators for it)
-- and the rules of sql/src/rules.sql that the planner inlines where they are
-- called (a SET would stop that): they run with the caller's rights, never
-- as kant's owner, and are parsed in the caller's context (a SECURITY
-- DEFINER caller's pinned path), naming kant's objects schema-qualified
CREATE TEMP TABLE inlined_rules (f regprocedure);
INSERT INTO inlined_rules VALUES ('kant._is_current(timestamptz, timestamptz)'),
  ('kant._run_key(text, text)'), ('kant._began(timestamptz, timestamptz)'), ('kant._done_since(integer, date, timestamptz)'),
  ('kant._job_day(integer, date, timestamptz)'), ('kant._required(integer, date, timestamptz)'),
  ('kant._required_jobs(integer, integer, date, timestamptz)'), ('kant._due(date, integer, time, text)'),
  ('kant.alert_kinds()');
SELECT is_empty($$
  SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.pronamespace = 'kant'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
    AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
    AND p.oid <> 'kant.deliver_notifications(double precision)'::regprocedure
    AND p.oid NOT IN (SELECT f FROM inlined_rules)$$,
  'every SQL and PL/pgSQL function of kant runs with search_path = pg_catalog, pg_temp');
SELECT is_empty($$
  SELECT p.oid::regprocedure FROM pg_proc p JOIN inlined_rules r ON r.f = p.oid
  WHERE p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'sql')
     OR p.prosecdef OR p.provolatile = 'v' OR p.proisstrict OR p.proconfig IS NOT NULL$$,
  'the inlined rules are SQL, not SECURITY DEFINER, not volatile, not strict, without SET: inlinable and running with the caller''s rights');
-- and they are inlined: a plan that uses them calls none of them
CREATE FUNCTION pg_temp.kant_test_plan(q text) RETURNS json LANGUAGE plpgsql AS $f$
DECLARE r json; BEGIN EXECUTE 'EXPLAIN (FORMAT JSON, VERBOSE) ' || q INTO r; RETURN r; END $f$;
SELECT is_empty($$
  SELECT 1 FROM (SELECT jsonb_path_query(x::jsonb, 'strict $.**."Function Name"') AS fn
                 FROM (SELECT pg_temp.kant_test_plan($q$SELECT * FROM kant.runs, kant._job_day(1, '2026-03-01'),
                   kant._required_jobs(1, NULL, '2026-03-01') WHERE kant._due('2026-03-01', 0, '06:00', 'UTC') > now()$q$) AS x) y) z
  WHERE fn::text ~ '^"_'$$,
  'the rules are inlined into the queries that use them (no Function Scan of them in the plan)');
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
GRANT EXECUTE ON FUNCTION kant.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer),
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
	LANGUAGE plpgsql AS $$ BEGIN SET LOCAL ROLE kant_test_mallory; RETURN true; END $$;
CREATE FUNCTION pg_temp.here(gate text, business_date date) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE TABLE kant_test_m.asked (gate text, business_date date);
CREATE FUNCTION kant_test_m.writes(gate text, business_date date) RETURNS boolean
	LANGUAGE sql AS $$ INSERT INTO kant_test_m.asked VALUES ($1, $2); SELECT true $$;
CREATE FUNCTION kant_test_m.nothing(gate text, business_date date) RETURNS boolean
	LANGUAGE sql AS $$ SELECT NULL::boolean $$;
SELECT kant.create_gate('writes', pipeline => 'p', condition => 'kant_test_m.writes') > 0 AS created;
SELECT kant.create_gate('nothing', pipeline => 'p', condition => 'kant_test_m.nothing') > 0 AS created;
SELECT lives_ok($$SELECT kant.create_gate('promote', pipeline => 'p', condition => 'kant_test_m.promote')$$,
  'a role defines a gate with a condition function of its own');
SELECT lives_ok($$SELECT kant.create_gate('who', pipeline => 'p', condition => 'kant_test_m.who')$$,
  'and another one');
SELECT lives_ok($$SELECT kant.create_gate('scratch', pipeline => 'p', condition => 'kant_test_m.scratch')$$,
  'and one that sets a role');
SELECT throws_ok($$SELECT kant.create_gate('temp', pipeline => 'p', condition => 'pg_temp.here')$$, '22023', NULL,
  'a temporary function cannot be a condition');
RESET ROLE;

-- asked by the superuser (the sensor's role does not matter): it runs as its definer
-- a condition that fails keeps the gate closed: false, with a WARNING (hidden here), and
-- gate_status says why -- the two agree (kant._gate_condition is the one rule)
SET LOCAL client_min_messages = error;
SELECT is(kant.kant_gate_ready('promote', '2026-03-01'), false,
  'the condition runs as its definer, who may not make itself superuser: the gate stays closed');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'kant_test_mallory'), false,
  'and the definer did not become superuser');
SELECT is(kant.kant_gate_ready('who', '2026-03-01'), true, 'current_user inside the condition is its definer');
SELECT is(kant.kant_gate_ready('scratch', '2026-03-01'), false,
  'the condition runs restricted (no temporary objects, no SET ROLE): closed');
SELECT matches((SELECT detail FROM kant.gate_status('scratch', '2026-03-01') WHERE state = 'condition_not_met'),
  '^kant_test_m\.scratch\(text,date\) failed: .*\(42501\); the gate stays closed$', 'gate_status says why the condition failed');
SELECT matches((SELECT detail FROM kant.gate_status('promote', '2026-03-01') WHERE state = 'condition_not_met'),
  '^kant_test_m\.promote\(text,date\) failed: cannot execute ALTER ROLE in a read-only transaction \(25006\)',
  'a condition runs read-only: it cannot even try to write');
SELECT is(kant.kant_gate_ready('writes', '2026-03-01'), false,
  'a condition that writes (asked by anyone, a reader''s sensor too) is refused: closed');
SELECT is((SELECT count(*)::integer FROM kant_test_m.asked), 0, 'and wrote nothing');
SELECT matches((SELECT detail FROM kant.gate_status('writes', '2026-03-01') WHERE state = 'condition_not_met'),
  'failed: cannot execute INSERT in a read-only transaction \(25006\)', 'gate_status names the write');
SELECT is((SELECT detail FROM kant.gate_status('nothing', '2026-03-01') WHERE state = 'condition_not_met'),
  'kant_test_m.nothing(text,date) returned NULL; the gate stays closed', 'a NULL answer is closed, and said so');
SELECT is(kant.kant_gate_ready('nothing', '2026-03-01'), false, 'kant_gate_ready agrees: NULL is closed');
SELECT is(current_setting('transaction_read_only'), 'off', 'the caller''s transaction is read-write again');

-- a function whose owner lacks the definer's rights is refused: its owner could change it
SELECT throws_ok($$SELECT kant.create_gate('lent', pipeline => 'p', condition => 'kant_test_m.who')$$, '42501', NULL,
  'a superuser cannot adopt another role''s function as a condition (it would run as the superuser)');
-- a condition kept by OID: renamed it still works, dropped the gate fails closed
ALTER FUNCTION kant_test_m.who(text, date) RENAME TO who2;
SELECT is(kant.kant_gate_ready('who', '2026-03-01'), true, 'the condition is kept by OID, not by name');
DROP FUNCTION kant_test_m.who2(text, date);
SELECT is(kant.kant_gate_ready('who', '2026-03-01'), false, 'a dropped condition keeps the gate closed');
SELECT matches((SELECT detail FROM kant.gate_status('who', '2026-03-01') WHERE state = 'condition_not_met'),
  'no longer exists \(42883\)', 'gate_status says the condition is gone');
-- a role that lost EXECUTE on its condition: closed
REVOKE EXECUTE ON FUNCTION kant_test_m.scratch(text, date) FROM PUBLIC, kant_test_mallory;
SELECT matches((SELECT detail FROM kant.gate_status('scratch', '2026-03-01') WHERE state = 'condition_not_met'),
  'may not execute gate condition', 'a definer that may no longer execute its condition keeps the gate closed');
SELECT is((SELECT count(*)::integer FROM kant.gate WHERE condition IS NOT NULL AND condition_role IS NULL), 0,
  'every condition has the role it runs as');

-- the inlined rules are parsed under the caller's search_path: a schema first
-- on it, with operators and aggregates of its own, changes no answer
SELECT (kant.report_run('etl', 'extract', 'r9', 'failed', '2026-03-02', 1, '2026-03-02 01:00+00', '2026-03-02 01:10+00')).inserted,
       (kant.report_run('etl', 'extract', 'r9', 'succeeded', '2026-03-02', 2, '2026-03-02 01:20+00', '2026-03-02 01:30+00')).inserted;
CREATE TEMP TABLE kant_test_before AS
SELECT r.external_id, r.attempt, r.is_current, jd.done, jd.failed, rq.required
FROM kant.runs r JOIN kant.job j ON j.name = r.job
CROSS JOIN LATERAL kant._job_day(j.job_id, r.business_date, '2026-03-02 01:15+00') jd
CROSS JOIN LATERAL kant._required(j.job_id, r.business_date) rq;
CREATE SCHEMA kant_test_evil;
CREATE FUNCTION kant_test_evil.yes(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION kant_test_evil.yes(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION kant_test_evil.yes(date, date) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR kant_test_evil.> (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = kant_test_evil.yes);
CREATE OPERATOR kant_test_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = kant_test_evil.yes);
CREATE OPERATOR kant_test_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = kant_test_evil.yes);
CREATE OPERATOR kant_test_evil.= (LEFTARG = date, RIGHTARG = date, FUNCTION = kant_test_evil.yes);
CREATE FUNCTION kant_test_evil.count_s(bigint, anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE AGGREGATE kant_test_evil.count(*) (SFUNC = int8inc, STYPE = bigint, INITCOND = '100');
SET LOCAL search_path = kant_test_evil, pg_catalog, public;
SELECT results_eq(
  $$SELECT r.external_id, r.attempt, r.is_current, jd.done, jd.failed, rq.required
    FROM kant.runs r JOIN kant.job j ON j.name = r.job
    CROSS JOIN LATERAL kant._job_day(j.job_id, r.business_date, '2026-03-02 01:15+00') jd
    CROSS JOIN LATERAL kant._required(j.job_id, r.business_date) rq ORDER BY 1, 2$$,
  $$SELECT * FROM kant_test_before ORDER BY 1, 2$$,
  'a schema first on the search_path, with its own >, <=, = and count(*), changes no rule''s answer');
RESET search_path;
SELECT is((SELECT count(*)::integer FROM kant_test_before WHERE is_current = 0), 1,
  'and the comparison saw a superseded attempt (r9 attempt 1)');

SELECT * FROM finish();
ROLLBACK;
