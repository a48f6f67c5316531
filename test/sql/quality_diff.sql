-- Key-level differences (issue 15): kant.diff_keys between a local source and
-- a target in a second database of this cluster (standing in for RDS),
-- reached through a real postgres_fdw server over the unix socket.  Every
-- answer is also checked against the plain FULL JOIN (pg_temp.brute); no date,
-- zone or DateStyle enters the output.
SET client_min_messages = warning;
\set VERBOSITY default
\set SHOW_CONTEXT never
\set regress_db :DBNAME
DROP DATABASE IF EXISTS kant_diff_rds;
CREATE DATABASE kant_diff_rds;

-- the "RDS" side: orders by integer id, users by email, devices by uuid
\c kant_diff_rds
SET client_min_messages = warning;
CREATE TABLE orders (id bigint, business_date date NOT NULL);
-- 2024-01-15: ids 1..5000 but 10, 2001..2020 and 4321; 12 twice, 3333 three
-- times; 6000 and 7000000 the source does not have; one NULL id
INSERT INTO orders SELECT g, '2024-01-15' FROM generate_series(1, 5000) g
  WHERE g <> 10 AND g NOT BETWEEN 2001 AND 2020 AND g <> 4321;
INSERT INTO orders VALUES (12, '2024-01-15'), (3333, '2024-01-15'), (3333, '2024-01-15'),
  (6000, '2024-01-15'), (7000000, '2024-01-15'), (NULL, '2024-01-15');
-- 2024-01-16: 1..100 but 50
INSERT INTO orders SELECT g, '2024-01-16' FROM generate_series(1, 100) g WHERE g <> 50;
CREATE INDEX ON orders (id);
CREATE TABLE users (email varchar(100));
INSERT INTO users SELECT 'user' || g || '@example.com' FROM generate_series(1, 3000) g WHERE g NOT IN (17, 2500);
INSERT INTO users VALUES ('user42@example.com'), ('zed@example.com');
CREATE TABLE devices (device_id uuid);
INSERT INTO devices SELECT md5(g::text)::uuid FROM generate_series(1, 2000) g WHERE g <> 1234;
INSERT INTO devices VALUES (md5('99')::uuid), (md5('99')::uuid);
VACUUM ANALYZE orders, users, devices;

\c :regress_db
SET client_min_messages = warning;
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION postgres_fdw;
-- a loopback server: the socket directory and port of this cluster
DO $$
BEGIN
  EXECUTE format('CREATE SERVER kant_diff_rds FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L, async_capable %L)',
                 btrim(split_part(current_setting('unix_socket_directories'), ',', 1)), current_setting('port'),
                 'kant_diff_rds', 'true');
END $$;
CREATE USER MAPPING FOR CURRENT_USER SERVER kant_diff_rds;
CREATE FOREIGN TABLE kant_diff_tgt (id bigint, business_date date)
  SERVER kant_diff_rds OPTIONS (table_name 'orders');
CREATE FOREIGN TABLE kant_diff_users_tgt (email varchar(100))
  SERVER kant_diff_rds OPTIONS (table_name 'users');
CREATE FOREIGN TABLE kant_diff_devices_tgt (device_id uuid)
  SERVER kant_diff_rds OPTIONS (table_name 'devices');

-- the local source: 2024-01-15 ids 1..5000, 777 and 4321 twice, two NULL ids;
-- 2024-01-16 ids 1..100 (an integer key: integer here, bigint there)
CREATE TABLE kant_diff_src (id integer, business_date date NOT NULL, note text);
INSERT INTO kant_diff_src SELECT g, '2024-01-15', 'n' || g FROM generate_series(1, 5000) g;
INSERT INTO kant_diff_src VALUES (777, '2024-01-15', 'again'), (4321, '2024-01-15', 'again'),
  (NULL, '2024-01-15', 'no id'), (NULL, '2024-01-15', 'no id');
INSERT INTO kant_diff_src SELECT g, '2024-01-16', 'n' || g FROM generate_series(1, 100) g;
CREATE INDEX ON kant_diff_src (id);
CREATE TABLE kant_diff_users (email text);
INSERT INTO kant_diff_users SELECT 'user' || g || '@example.com' FROM generate_series(1, 3000) g;
CREATE TABLE kant_diff_devices (device_id uuid);
INSERT INTO kant_diff_devices SELECT md5(g::text)::uuid FROM generate_series(1, 2000) g;
ANALYZE kant_diff_src, kant_diff_users, kant_diff_devices;

-- the oracle: every key of both sides, grouped and compared (the FULL JOIN a
-- user would write), with the same four problems
CREATE FUNCTION pg_temp.brute(source regclass, target regclass, key_column name,
    source_filter text DEFAULT NULL, target_filter text DEFAULT NULL)
RETURNS TABLE (key text, source_count bigint, target_count bigint, problem text) LANGUAGE plpgsql AS $f$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH c AS (SELECT k, sum(s)::bigint AS s, sum(t)::bigint AS t
               FROM (SELECT %3$I::text AS k, 1 AS s, 0 AS t FROM %1$s WHERE %4$s
                     UNION ALL SELECT %3$I::text, 0, 1 FROM %2$s WHERE %5$s) x GROUP BY k)
    SELECT c.k, c.s, c.t, p FROM c, LATERAL (VALUES
      (CASE WHEN c.s > 0 AND c.t = 0 THEN 'missing_in_target' END),
      (CASE WHEN c.s = 0 AND c.t > 0 THEN 'missing_in_source' END),
      (CASE WHEN c.s > 1 AND c.s > c.t THEN 'duplicated_in_source' END),
      (CASE WHEN c.t > 1 AND c.t > c.s THEN 'duplicated_in_target' END)) v(p)
    WHERE p IS NOT NULL$q$, source, target, key_column, coalesce(source_filter, 'true'), coalesce(target_filter, 'true'));
END $f$;
-- rows of one answer that the other lacks, both ways (0: the same)
CREATE FUNCTION pg_temp.mismatches(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((%1$s EXCEPT ALL %2$s) UNION ALL (%2$s EXCEPT ALL %1$s)) x', a, b) INTO n;
  RETURN n;
END $f$;

-- 1. Integer keys for one business date: a key missing, a run of 20 missing,
-- keys duplicated on either side, one both missing and duplicated (two rows:
-- 4321 is in the source twice and not in the target), keys only the target
-- has, and the NULL ids as one key; in key order, the NULL key last.  The
-- NOTICE gives both sides' rows and what was fetched.
SET client_min_messages = notice;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id',
  source_filter => 'business_date = ''2024-01-15''', target_filter => 'business_date = ''2024-01-15''');
SET client_min_messages = warning;
SELECT pg_temp.mismatches(
  $$SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''', 'business_date = ''2024-01-15''')$$,
  $$SELECT * FROM pg_temp.brute('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''', 'business_date = ''2024-01-15''')$$) AS vs_full_join;
-- the same answer however finely the passes split: many passes of 2
-- segments down to single keys, 4 down to 10 rows, one pass of 1024 x 1024
SELECT f AS bisection_factor, t AS bisection_threshold, pg_temp.mismatches(
  format($$SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
                                        'business_date = ''2024-01-15''', bisection_factor => %s, bisection_threshold => %s)$$, f, t),
  $$SELECT * FROM pg_temp.brute('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''', 'business_date = ''2024-01-15''')$$) AS vs_full_join
FROM (VALUES (2, 1), (4, 10), (32, 1000), (64, 1000), (1024, 100000)) s(f, t);
SET client_min_messages = notice;
SELECT count(*) AS keys FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
  'business_date = ''2024-01-15''', bisection_factor => 2, bisection_threshold => 1);

-- 2. Another business date: only key 50 differs
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-16''', 'business_date = ''2024-01-16''');
-- without filters both dates count: every key of 2024-01-16 is in the source
-- twice, and so in the target but 50, which the source holds once more
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', max_keys => 4);

-- the same as one jsonb value, to keep (kant.diff_keys reads it)
SELECT jsonb_pretty(kant.diff_keys_report('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-16''',
  'business_date = ''2024-01-16'''));

-- 3. max_keys: the first keys in key order, however the passes split (the
-- passes keep only the max_keys first segments that differ)
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
  'business_date = ''2024-01-15''', max_keys => 3);
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
  'business_date = ''2024-01-15''', max_keys => 3, bisection_factor => 2, bisection_threshold => 1);
SELECT r - 'keys' AS report, jsonb_array_length(r -> 'keys') AS keys
FROM kant.diff_keys_report('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
  'business_date = ''2024-01-15''', max_keys => 3) r;
-- exactly as many keys as differ is not truncated
SELECT count(*) FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-16''',
  'business_date = ''2024-01-16''', max_keys => 1);

-- 4. Empty sides: an empty target (every source key missing, the NULL ids
-- too), and both empty
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
  'business_date = ''2030-01-01''', max_keys => 5);
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2030-01-01''',
  'business_date = ''2030-01-01''');
-- the same table on both sides: nothing
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_src', 'id');

-- 5. Text keys (text here, varchar there) and uuid keys: split by their hash,
-- so in hash order
SELECT * FROM kant.diff_keys('kant_diff_users', 'kant_diff_users_tgt', 'email');
SELECT * FROM kant.diff_keys('kant_diff_devices', 'kant_diff_devices_tgt', 'device_id');
-- a key many times over (5000 more rows of one email, in a local target) is
-- a segment of one position from pass 2 on: fetched then, not split further
CREATE TABLE kant_diff_exploded AS SELECT email FROM kant_diff_users;
INSERT INTO kant_diff_exploded SELECT 'user42@example.com' FROM generate_series(1, 5000);
SELECT * FROM kant.diff_keys('kant_diff_users', 'kant_diff_exploded', 'email');
SET client_min_messages = warning;
SELECT r, f, pg_temp.mismatches(
  format($$SELECT * FROM kant.diff_keys(%L, %L, %L, bisection_factor => %s, bisection_threshold => 5)$$, r, r || '_tgt', c, f),
  format($$SELECT * FROM pg_temp.brute(%L, %L, %L)$$, r, r || '_tgt', c)) AS vs_full_join
FROM (VALUES ('kant_diff_users', 'email'), ('kant_diff_devices', 'device_id')) x(r, c), (VALUES (2), (32)) y(f)
ORDER BY 1, 2;

-- 6. What postgres_fdw runs on the server: count(*) and the sum of a 64-bit
-- hash per segment (pass 1 of the integer diff), the keys of a few hash
-- segments (= ANY of a constant array), both pushed down whole
SET compute_query_id = off;
SELECT 'EXPLAIN (VERBOSE, COSTS OFF) ' || kant._diff_sql(2, 'kant_diff_tgt', 'id', 'integer', 'business_date = ''2024-01-15''', 'segments', 13) \gexec
SELECT 'EXPLAIN (VERBOSE, COSTS OFF) ' || kant._diff_sql(2, 'kant_diff_users_tgt', 'email', 'text', NULL, 'keys', NULL,
  '{54,54,59}', '{-3,7,10}') \gexec
SELECT 'EXPLAIN (VERBOSE, COSTS OFF) ' || kant._diff_sql(2, 'kant_diff_tgt', 'id', 'integer', NULL, 'segments', 4, '{8,8,8,10}', '{1,2,4,30}') \gexec
-- a filter the server cannot run (random() is volatile) is applied here: every
-- row comes over, and kant.diff_keys says so; the answer is the same
SET client_min_messages = notice;
SELECT count(*) AS keys FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'business_date = ''2024-01-15''',
  'business_date = ''2024-01-15'' AND random() >= 0');
SET client_min_messages = warning;
RESET compute_query_id;

-- 7. Filters are one expression: strings, quoted identifiers and dollar
-- quotes may hold anything; nothing may end the expression early
SELECT kant._diff_filter($q$note <> 'a;b)' AND note <> E'it\'s -- (' AND "no(te" IS NULL AND note <> $x$;/*$x$$q$, 'source_filter') AS accepted;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id',
  $q$business_date = '2024-01-16' AND note <> 'a;b)' AND note <> E'it\'s -- (' AND note <> $x$;/*$x$$q$, 'business_date = ''2024-01-16''');
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'true; DROP TABLE kant_diff_src');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'true) OR (true');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', NULL, 'true -- all');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', '(id > 1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'note = ''open');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', '  ');
\echo :LAST_ERROR_SQLSTATE
-- PostgreSQL's own errors, with the argument named: no such column (here, and
-- on the server only), not a boolean
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'nope = 1');
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE kant_diff_tgt ADD COLUMN ghost integer;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', NULL, 'ghost = 1');
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE kant_diff_tgt DROP COLUMN ghost;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id', 'id + 1');
\echo :LAST_ERROR_SQLSTATE

-- 8. Bad arguments: SQLSTATE, the argument named, a hint
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'order_id');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'business_date');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_users', 'kant_diff_tgt', 'email');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE kant_diff_users ADD COLUMN note integer;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_users', 'note');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_users', 'kant_diff_users_tgt', 'email', max_keys => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_users', 'kant_diff_users_tgt', 'email', bisection_factor => 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_users', 'kant_diff_users_tgt', 'email', bisection_threshold => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.diff_keys('kant_diff_users', NULL, 'email');
\echo :LAST_ERROR_SQLSTATE
CREATE SEQUENCE kant_diff_seq;
SELECT * FROM kant.diff_keys('kant_diff_seq', 'kant_diff_tgt', 'last_value');
\echo :LAST_ERROR_SQLSTATE
-- a domain over a key type is that type
CREATE DOMAIN kant_diff_order_id AS integer CHECK (VALUE > 0);
CREATE TABLE kant_diff_src2 (id kant_diff_order_id);
INSERT INTO kant_diff_src2 SELECT g FROM generate_series(45, 55) g;
SELECT * FROM kant.diff_keys('kant_diff_src2', 'kant_diff_tgt', 'id', NULL, 'business_date = ''2024-01-16'' AND id BETWEEN 45 AND 55');

-- 9. Rights: not PUBLIC's; the caller's own (SECURITY INVOKER): a role
-- granted the function still needs SELECT on both sides
SELECT has_function_privilege('public', 'kant.diff_keys(regclass, regclass, name, text, text, integer, integer, integer)', 'EXECUTE') AS public_may,
       has_function_privilege('public', 'kant.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer)', 'EXECUTE') AS public_may_report,
       (SELECT prosecdef FROM pg_proc WHERE oid = 'kant.diff_keys(regclass, regclass, name, text, text, integer, integer, integer)'::regprocedure) AS definer;
CREATE ROLE kant_diff_reader NOLOGIN;
GRANT USAGE ON SCHEMA kant TO kant_diff_reader;
GRANT EXECUTE ON FUNCTION kant.diff_keys(regclass, regclass, name, text, text, integer, integer, integer),
  kant.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer) TO kant_diff_reader;
SET ROLE kant_diff_reader;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON kant_diff_src TO kant_diff_reader;
SET ROLE kant_diff_reader;
SELECT * FROM kant.diff_keys('kant_diff_src', 'kant_diff_tgt', 'id');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- clean up: the regress database is shared by the suites
DROP OWNED BY kant_diff_reader;
DROP ROLE kant_diff_reader;
DROP TABLE kant_diff_src, kant_diff_src2, kant_diff_exploded, kant_diff_users, kant_diff_devices;
DROP DOMAIN kant_diff_order_id;
DROP SEQUENCE kant_diff_seq;
SELECT postgres_fdw_disconnect_all() AS disconnected;
DROP SERVER kant_diff_rds CASCADE;
DROP EXTENSION postgres_fdw;
DROP DATABASE kant_diff_rds;
