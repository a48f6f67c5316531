-- Names are data: system and job names may hold slashes (OpenLineage
-- namespaces become systems) and other characters; alerts key on ids,
-- 'system/job' references resolve exactly or say they are ambiguous, and
-- pg_cron job names stay unique within 63 bytes.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;

-- two jobs that spell the same 'system/job/date': system x, job y/z and system x/y, job z
SELECT kant.add_system('x', 'manual', 'UTC') > 0 AS x, kant.add_system('x/y', 'manual', 'UTC') > 0 AS xy;
SELECT kant.configure_job('x', 'y/z') > 0 AS x_yz, kant.configure_job('x/y', 'z') > 0 AS xy_z;
SELECT (kant.report_run('x', 'y/z', 'r1', 'failed', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 01:05+00')).inserted,
       (kant.report_run('x/y', 'z', 'r1', 'failed', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 01:05+00')).inserted;
-- both failed: one alert each (kant 0.5.0 keyed both failure/x/y/z/2026-03-01, and every check failed with 21000)
SELECT opened, open_now FROM kant.run_checks('2026-03-01 02:00+00');
SELECT a.alert_key = kant._alert_key('failure', 'job', a.job_id, a.business_date) AS keyed_on_ids, s.name AS system, j.name AS job, a.summary
FROM kant.alert a JOIN kant.job j USING (job_id) JOIN kant.system s ON s.system_id = j.system_id ORDER BY s.name;
SELECT opened, open_now FROM kant.run_checks('2026-03-01 02:10+00');

-- references: the plain form names both jobs; the quoted system names one
SELECT kant.set_dependency('x/y/z', ARRAY[]::text[]);
SELECT kant.set_dependency('"x"/y/z', ARRAY['"x/y"/z']);
SELECT kant._job_spec(s.name, j.name) AS job, kant._job_spec(us.name, u.name) AS waits_for
FROM kant.job_dependency d
JOIN kant.job j ON j.job_id = d.job_id JOIN kant.system s ON s.system_id = j.system_id
JOIN kant.job u ON u.job_id = d.upstream_job_id JOIN kant.system us ON us.system_id = u.system_id;
SELECT kant.set_dependency('"x/y/z', ARRAY[]::text[]);
SELECT kant.set_dependency('"x/y"/nope', ARRAY[]::text[]);

-- an OpenLineage namespace as a system, referred to as system/job
SELECT kant.add_system('airflow://composer-prod', 'openlineage', 'UTC') > 0 AS ol;
SELECT kant.configure_job('airflow://composer-prod', 'daily.load') > 0 AS configured;
SELECT kant.create_slo('ol_done', '06:00', jobs => ARRAY['airflow://composer-prod/daily.load'],
                       evaluate_from => '2026-03-01') > 0 AS slo;
SELECT kant.create_gate('ol_gate', jobs => ARRAY['airflow://composer-prod/daily.load']) > 0 AS gate;
SELECT kant.set_recovery('airflow://composer-prod/daily.load');
-- alter_slo rebuilds its scope from the jobs it has: the names survive the round trip
SELECT kant.configure_job('x/y', 'z', pipeline => 'p') > 0 AS in_pipeline;
SELECT kant.alter_slo('ol_done', pipeline => 'p');
SELECT s.name, j.name FROM kant.slo_scope sc JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id)
ORDER BY 1, 2;

-- pg_cron job names: at most 63 bytes, plain when they fit, else a hash: never one name for two systems
SELECT n AS cron_job_name, octet_length(n) AS bytes
FROM (VALUES (kant._cron_name('kant-collect-', 'hegel')),
             (kant._cron_name('kant-collect-', repeat('a', 50) || '-one')),
             (kant._cron_name('kant-collect-', repeat('a', 50) || '-two')),
             (kant._cron_name('kant-collect-', 'airflow://composer-prod')),
             (kant._cron_name('kant-collect-', 'ソクラテス'))) AS v(n);
SELECT kant._cron_name('kant-collect-', 'x') <> kant._cron_name('kant-collect-', 'x~') AS hashed_never_plain;

-- names that go into URLs: a DAG id is what Airflow allows (it is a path segment of the trigger),
-- and an endpoint carries no credentials
SELECT kant.add_system('comp', 'airflow', 'UTC') > 0 AS comp;
SELECT kant.create_gate('bad_dag', jobs => ARRAY['"x"/y/z'], downstream_system => 'comp', downstream_dag => '../../users');
SELECT kant.create_gate('bad_dag', jobs => ARRAY['"x/y"/z'], downstream_system => 'comp', downstream_dag => 'gcs_to_bq.v2-daily') > 0 AS dag_id_ok;
SELECT kant.set_endpoint('comp', 'https://kant:s3cret@composer.example.com/airflow');
