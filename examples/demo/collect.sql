-- Point kant at the two systems and let pg_cron collect them (run by `make demo`
-- with psql variables glue_url and airflow_url: the fakes playing HEGEL and
-- SOCRATES; aws_url: the fake AWS (IMDSv2, STS); key_dir and key_file: the
-- Composer service account's key).  No static secret: HEGEL is read with a
-- role assumed from the instance's role, SOCRATES with the service account.
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kant;
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL',
    description => 'AWS Glue: RDS exports to S3 (ap-northeast-1)',
    bd_argument => '--business_date', bd_offset_days => -1, default_pipeline => 'hegel_nightly') > 0 AS hegel,
       kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES',
    description => 'Cloud Composer 2: S3 -> GCS -> BigQuery', default_pipeline => 'socrates_daily') > 0 AS socrates;
-- where the (fake) metadata service and the key files are: a superuser's settings
LOAD 'kant';
ALTER SYSTEM SET kant.aws_metadata_endpoint = :'aws_url';
ALTER SYSTEM SET kant.secret_directory = :'key_dir';
SELECT pg_reload_conf() AS reloaded;
SET kant.secret_directory = :'key_dir';
SELECT kant.set_endpoint('hegel', :'glue_url', region => 'ap-northeast-1', max_parallel => 8),
       kant.set_credential_source('hegel', 'aws_assume_role',
           role_arn => 'arn:aws:iam::123456789012:role/kant-glue-reader', base_source => 'aws_instance',
           sts_endpoint => :'aws_url'),
       kant.set_endpoint('socrates', :'airflow_url', max_parallel => 8),
       kant.set_credential_source('socrates', 'google_service_account', key_file => :'key_file');
\echo '== Credential sources (kant.credential_sources): no static secret'
SELECT system, source, base_source, role_arn, key_file, usable FROM kant.credential_sources ORDER BY system;
\echo '== pg_cron jobs that collect every minute'
SELECT kant.schedule_collection('hegel', '* * * * *') > 0 AS hegel,
       kant.schedule_collection('socrates', '* * * * *') > 0 AS socrates;
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'kant-%' ORDER BY 1;
