-- What the collectors did (run by `make demo` once pg_cron has run them).
\pset footer off
\pset null ''
\echo '== pg_cron ran the collectors'
SELECT j.jobname, d.status, to_char(d.start_time, 'HH24:MI:SS') AS started,
       round(extract(epoch FROM d.end_time - d.start_time), 2) AS seconds, d.return_message
FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname LIKE 'kant-collect-%' ORDER BY d.start_time LIMIT 4;
\echo '== Collections (kant.collection)'
SELECT s.name AS system, c.requests, c.retries, c.pages, c.jobs, c.runs_seen, c.runs_new,
       c.schedules, round(extract(epoch FROM c.ended_at - c.started_at), 2) AS seconds, c.error
FROM kant.collection c JOIN kant.system s USING (system_id) ORDER BY c.started_at LIMIT 6;
\echo '== Collector health (the input of a stale-collector alert)'
SELECT system, kind, to_char(last_success_at, 'HH24:MI:SS') AS last_success,
       seconds_since_success, last_success_runs_seen, last_error
FROM kant.collector_health ORDER BY system;
\echo '== Credentials obtained from the sources (kept in kant.token_cache, never shown)'
SELECT system, source, to_char(token_obtained_at, 'HH24:MI:SS') AS obtained,
       round(extract(epoch FROM token_expires_at - token_obtained_at) / 60) AS minutes_valid
FROM kant.credential_sources ORDER BY system;
