-- Point kant at the two systems and let pg_cron collect them (run by `make demo`
-- with psql variables glue_url and airflow_url: the fakes playing HEGEL and SOCRATES).
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kant;
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL',
    description => 'AWS Glue: RDS exports to S3 (ap-northeast-1)',
    bd_argument => '--business_date', bd_offset_days => -1, default_pipeline => 'hegel_nightly') > 0 AS hegel,
       kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES',
    description => 'Cloud Composer 2: S3 -> GCS -> BigQuery', default_pipeline => 'socrates_daily') > 0 AS socrates;
SELECT kant.set_endpoint('hegel', :'glue_url', region => 'ap-northeast-1', max_parallel => 8),
       kant.set_credentials('hegel', 'AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'),
       kant.set_endpoint('socrates', :'airflow_url', max_parallel => 8),
       kant.set_credentials('socrates', 'kant', 's3cret-pw');
\echo '== pg_cron jobs that collect every minute'
SELECT kant.schedule_collection('hegel', '* * * * *') > 0 AS hegel,
       kant.schedule_collection('socrates', '* * * * *') > 0 AS socrates;
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'kant-%' ORDER BY 1;
