-- Metrics kant measures itself (sql/src/quality_measure.sql, src/quality.c):
-- a query per dataset, parameterised by the business date, run as the role
-- that defined it (restricted, read-only, with a timeout), on a local table
-- or on a source database reached through postgres_fdw -- a second database
-- of this cluster stands in for RDS.  Fixed dates; no output depends on the
-- session's TimeZone or DateStyle.
SET client_min_messages = warning;
CREATE DATABASE kant_measure_rds;
\c kant_measure_rds
CREATE TABLE public.users (id bigint, business_date date, email text, updated_at timestamptz);
INSERT INTO public.users
SELECT i, date '2024-01-15' + (i % 2), CASE WHEN i % 50 = 0 THEN NULL ELSE 'u' || i || '@example.com' END,
	timestamptz '2024-01-15 20:00:00+09' + (i % 2) * interval '1 day'
FROM generate_series(1, 2000) i;
CREATE TABLE public.secret (x int);
\c kant_regress
SET client_min_messages = warning;
CREATE EXTENSION postgres_fdw;
DO $$ BEGIN
	EXECUTE format('CREATE SERVER rds FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
		split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), 'kant_measure_rds');
END $$;
CREATE ROLE measurer;
CREATE ROLE outsider;
-- only a superuser may let a role connect without a password: the test's loopback
CREATE USER MAPPING FOR measurer SERVER rds OPTIONS (user 'postgres', password_required 'false');
CREATE USER MAPPING FOR CURRENT_USER SERVER rds OPTIONS (user 'postgres');
CREATE SCHEMA rds;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, secret) FROM SERVER rds INTO rds;
GRANT USAGE ON SCHEMA rds TO measurer;
GRANT SELECT ON rds.users TO measurer;
GRANT USAGE ON SCHEMA kant TO measurer, outsider;
GRANT EXECUTE ON FUNCTION kant.measure(text, text, text, interval, text, integer) TO measurer, outsider;
CREATE TABLE public.bq_users AS
SELECT * FROM rds.users WHERE id NOT IN (7, 8, 9);
GRANT SELECT ON public.bq_users TO measurer;

-- 1. Defined by a role, run as that role: the measurements land as metrics.
SELECT kant.add_dataset('rdsm.users', 'Asia/Tokyo') > 0 AS rds,
       kant.add_dataset('bqm.users', 'Asia/Tokyo') > 0 AS bq;
SET ROLE measurer;
SELECT kant.measure('rds users', 'rdsm.users', $q$
	SELECT count(*) AS row_count, count(*) - count(DISTINCT id) AS duplicate_keys,
		count(*) - count(email) AS "null_count:email", max(updated_at) AS max_timestamp,
		current_user AS measured_as
	FROM rds.users WHERE business_date = $1 $q$) > 0 AS defined;
SELECT kant.measure('bq users', 'bqm.users', $q$
	SELECT count(*) AS row_count, max(updated_at AT TIME ZONE 'Asia/Tokyo') AS max_timestamp
	FROM public.bq_users WHERE business_date = $1 $q$) > 0 AS defined;
RESET ROLE;
SELECT name, owner FROM kant.dq_measure ORDER BY name;
SELECT measure, dataset, to_char(business_date, 'YYYY-MM-DD') AS business_date, status, metrics, detail
FROM kant.run_measurements(for_date => '2024-01-15') ORDER BY measure;
SELECT d.name, m.metric, m.value, to_char(m.value_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS value_at_utc,
	m.source, m.reported_by, m.note
FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id) WHERE d.name IN ('rdsm.users', 'bqm.users') ORDER BY 1, 2;
-- a reconciliation over both: BigQuery lost a row of the date
SELECT kant.check_reconciliation('users measured arrived', 'bqm.users', 'rdsm.users') > 0 AS check;
SELECT check_name, status, observed, expected, detail
FROM kant.evaluate_checks('2024-01-15', '2024-01-15', now()) WHERE check_name = 'users measured arrived';

-- A key-level diff as a measurement: the keys found are the note, shown in the verdict
GRANT EXECUTE ON FUNCTION kant.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer) TO measurer;
SET ROLE measurer;
SELECT kant.measure('users keys', 'bqm.users', $q$
	SELECT (r->>'differing_keys')::bigint AS differing_keys,
		(SELECT count(*) FROM jsonb_array_elements(r->'keys') k WHERE k->'problems' ? 'missing_in_target') AS missing_keys,
		(SELECT string_agg((k->>'key') || ' ' || (k->'problems'->>0), ', ') FROM jsonb_array_elements(r->'keys') k) AS keys
	FROM kant.diff_keys_report('rds.users', 'public.bq_users', 'id',
		format('business_date = %L', $1), format('business_date = %L', $1), 20) r $q$) > 0 AS defined;
RESET ROLE;
SET client_min_messages = warning;
SELECT measure, status, metrics, detail FROM kant.run_measurements(for_date => '2024-01-15', only_measure => 'users keys');
SELECT kant.check_threshold('users keys match', 'bqm.users', 'differing_keys', '=', 0) > 0 AS check;
SELECT check_name, status, observed, expected, detail
FROM kant.evaluate_checks('2024-01-15', '2024-01-15', now()) WHERE check_name = 'users keys match';

-- 2. The query has the owner's rights only, restricted and read-only.
SET ROLE measurer;
SELECT kant.measure('no right', 'rdsm.users', 'SELECT count(*) AS row_count FROM rds.secret') > 0;
SELECT kant.measure('writes', 'rdsm.users',
	'WITH w AS (INSERT INTO public.bq_users (id) VALUES (1) RETURNING 1) SELECT count(*) AS row_count FROM w') > 0;
SELECT kant.measure('becomes', 'rdsm.users', $q$SELECT pg_catalog.set_config('role', 'postgres', false) AS r, 1 AS row_count$q$) > 0;
SELECT kant.measure('two rows', 'rdsm.users', 'SELECT 1 AS row_count FROM pg_catalog.generate_series(1, 2)') > 0;
SELECT kant.measure('none', 'rdsm.users', 'SELECT 1 AS row_count WHERE false') > 0;
-- (a measurement's timeout, and a cancel from outside: test/scripts/measure_timeout.py)
RESET ROLE;
CREATE SEQUENCE public.s;
GRANT USAGE ON SEQUENCE public.s TO measurer;
SET ROLE measurer;
SELECT kant.measure('advances', 'rdsm.users', 'SELECT pg_catalog.nextval(''public.s'') AS row_count') > 0;
SELECT kant.measure('unqualified', 'rdsm.users', 'SELECT count(*) AS row_count FROM bq_users') > 0;
-- a metric kant names keeps its type: a negative count is refused, said in the note
SELECT kant.measure('negative', 'rdsm.users', 'SELECT -1 AS distinct_keys, 10 AS other_number') > 0;
RESET ROLE;
SELECT measure, status, metrics, detail
FROM kant.run_measurements(for_date => '2024-01-15') WHERE measure NOT LIKE '% users' ORDER BY measure;
SELECT m.name, r.status, r.sqlstate, r.error FROM kant.dq_measure_run r JOIN kant.dq_measure m USING (measure_id)
WHERE r.status <> 'ok' ORDER BY 1;
SELECT count(*) AS bq_rows_unchanged FROM public.bq_users WHERE id = 1;
-- nothing of the failed ones was stored: the metrics are the good measurements'
SELECT count(*) FROM kant.dq_metric WHERE source = 'kant' AND reported_by <> 'measurer';

-- 3. Errors name the argument.
\set VERBOSITY terse
SET ROLE outsider;
SELECT kant.measure('x', 'no.such', 'SELECT 1 AS row_count');
SELECT kant.measure('x', 'rdsm.users', '  ');
SELECT kant.measure('x', 'rdsm.users', 'SELECT 1 AS row_count', timeout => '0 s');
SELECT kant.measure('x', 'rdsm.users', 'SELECT 1 AS row_count', after_job => 'etl/nope');
SELECT kant.measure('bad name;', 'rdsm.users', 'SELECT 1 AS row_count');
RESET ROLE;
\set VERBOSITY default

-- 4. After the producing job: a date is measured once its run succeeded, again
-- after a newer success, not before; the role that defined it is dropped: an error.
SELECT kant.add_system('etl', 'manual', 'Asia/Tokyo') > 0 AS etl;
SELECT kant.drop_measure(name) FROM kant.dq_measure ORDER BY name;
SELECT (kant.report_run('etl', 'export_users', 'x-16', 'running', '2024-01-16', 1,
	'2024-01-17T01:00:00Z', NULL)).inserted;
SET ROLE measurer;
SELECT kant.measure('rds users', 'rdsm.users', $q$
	SELECT count(*) AS row_count FROM rds.users WHERE business_date = $1 $q$,
	after_job => 'etl/export_users', lookback_days => 3) > 0 AS defined;
RESET ROLE;
SELECT count(*) AS measured_while_running
FROM kant.run_measurements(as_of => '2024-01-17T03:00:00Z');
SELECT (kant.report_run('etl', 'export_users', 'x-16', 'succeeded', '2024-01-16', 1,
	'2024-01-17T01:00:00Z', '2024-01-17T02:00:00Z')).updated;
SELECT measure, to_char(business_date, 'YYYY-MM-DD') AS business_date, status, metrics
FROM kant.run_measurements(as_of => '2024-01-17T03:00:00Z');
SELECT count(*) AS measured_again FROM kant.run_measurements(as_of => '2024-01-17T04:00:00Z');
-- a rerun of the job (a second attempt) succeeds later: measured again
SELECT (kant.report_run('etl', 'export_users', 'x-16', 'succeeded', '2024-01-16', 2,
	'2024-01-17T05:00:00Z', '2024-01-17T06:00:00Z')).inserted;
SELECT measure, to_char(business_date, 'YYYY-MM-DD') AS business_date, status
FROM kant.run_measurements(as_of => '2024-01-17T07:00:00Z');
SELECT value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
WHERE d.name = 'rdsm.users' AND m.business_date = '2024-01-16' AND m.metric = 'row_count';
DROP OWNED BY measurer;
DROP ROLE measurer;
SELECT measure, status, detail FROM kant.run_measurements(for_date => '2024-01-16');

-- (pg_cron's kant-measure job: test/scripts/cron_jobs.py)

DROP USER MAPPING FOR CURRENT_USER SERVER rds;
DROP SCHEMA rds CASCADE;
DROP TABLE public.bq_users;
DROP SEQUENCE public.s;
DROP SERVER rds CASCADE;
DROP EXTENSION postgres_fdw;
REVOKE ALL ON SCHEMA kant FROM outsider;
REVOKE ALL ON FUNCTION kant.measure(text, text, text, interval, text, integer) FROM outsider;
DROP ROLE outsider;
SELECT kant.drop_measure('rds users'), kant.drop_check('users measured arrived'), kant.drop_check('users keys match');
\c postgres
DROP DATABASE kant_measure_rds;
\c kant_regress
