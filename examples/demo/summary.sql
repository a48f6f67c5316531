-- What kant shows after collecting the simulated month (run by `make demo`).
\pset footer off
\pset null ''

\echo '== Runs per business date and state (current attempt of each run), last 10 days; waiting: scheduled, queued or deferred'
SELECT business_date,
       system_display_name AS system,
       count(*) AS runs,
       count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE state IN ('failed', 'timed_out')) AS failed,
       count(*) FILTER (WHERE state = 'upstream_failed') AS upstream_failed,
       count(*) FILTER (WHERE state IN ('running', 'retrying')) AS running,
       count(*) FILTER (WHERE state IN ('scheduled', 'queued', 'deferred')) AS waiting,
       count(*) FILTER (WHERE state IN ('cancelled', 'skipped')) AS cancelled_skipped,
       sum(attempt - 1) FILTER (WHERE attempt > 1) AS retries,
       to_char(max(ended_at_local), 'MM-DD HH24:MI') AS last_end_jst
FROM kant.current_runs
WHERE business_date > (SELECT max(business_date) FROM kant.job_run) - 10
GROUP BY 1, 2 ORDER BY 1 DESC, 2;

\echo '== Slowest jobs over the month (succeeded attempts, seconds)'
SELECT system_display_name AS system, job,
       count(*) AS runs,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds)) AS p50_s,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY duration_seconds)) AS p90_s,
       round(max(duration_seconds)) AS max_s,
       to_char(max(ended_at_local::time), 'HH24:MI') AS latest_end_jst
FROM kant.runs WHERE state = 'succeeded'
GROUP BY 1, 2 ORDER BY p90_s DESC LIMIT 8;

\echo '== Failures: the 15 latest failed attempts (all of them counted below), and whether a retry recovered it'
\echo '   (error: Glue''s ErrorMessage; Airflow''s task instance API has no error text, its failures show none)'
SELECT r.business_date, r.system_display_name AS system, r.job, r.attempt,
       to_char(r.ended_at_local, 'MM-DD HH24:MI') AS failed_at_jst,
       coalesce(c.state, 'no retry') AS final_state,
       left(r.error_message, 60) AS error
FROM kant.runs r
LEFT JOIN LATERAL (
    SELECT c.state FROM kant.current_runs c
    WHERE c.system = r.system AND c.job = r.job AND c.business_date = r.business_date
    ORDER BY c.attempt DESC LIMIT 1) c ON true
WHERE r.state IN ('failed', 'timed_out') OR r.raw_state = 'up_for_retry'
ORDER BY r.business_date DESC, r.system, r.job, r.attempt LIMIT 15;
SELECT count(*) FILTER (WHERE state IN ('failed', 'timed_out') OR raw_state = 'up_for_retry') AS failed_attempts,
       count(*) FILTER (WHERE is_current = 1 AND state IN ('failed', 'timed_out')) AS unrecovered_runs
FROM kant.runs;

\echo '== Nightly jobs with a business date on which they never ran (the trigger did not fire)'
WITH dates AS (SELECT DISTINCT business_date FROM kant.runs WHERE system = 'hegel'),
     jobs AS (SELECT DISTINCT job FROM kant.runs WHERE system = 'hegel')
SELECT j.job, d.business_date
FROM jobs j CROSS JOIN dates d
WHERE NOT EXISTS (SELECT FROM kant.runs r WHERE r.system = 'hegel' AND r.job = j.job
                  AND r.business_date = d.business_date)
ORDER BY 2, 1;

\echo '== Quarantine: records kant kept but could not ingest'
SELECT source, item_path, sqlstate, reason, sum(times_seen) AS times
FROM kant.rejected GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;

\echo '== Ingest log'
SELECT source, count(*) AS payloads, sum(received) AS records, sum(inserted) AS inserted,
       sum(updated) AS updated, sum(unchanged) AS unchanged, sum(rejected) AS rejected,
       pg_size_pretty(sum(payload_bytes)) AS bytes
FROM kant.ingest_batch GROUP BY 1 ORDER BY 1;
