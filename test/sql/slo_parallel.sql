-- kant.slo_eval runs in parallel: partial states from the workers are combined
-- (Partial Aggregate under Gather), with the same verdicts as a serial plan.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

-- 220,000 attempts over 100 business dates: every tenth run failed and was
-- retried; the last ten dates have runs still going; every fifth date one run
-- ends after the deadline; every seventh date an expected run is missing
CREATE TABLE big AS
SELECT d AS bd, (i % 200) + 1 AS job,
       CASE WHEN i % 97 = 0 AND d > 90 THEN 'running'
            WHEN a = 1 AND i % 10 = 0 THEN 'failed' ELSE 'succeeded' END::kant.run_state AS state,
       CASE WHEN i % 97 = 0 AND d > 90 THEN NULL
            ELSE timestamptz '2026-01-01 18:00+00' + (d - 1) * interval '1 day'
                 + (i % 600) * interval '1 minute' + a * interval '20 minutes'
                 + CASE WHEN d % 5 = 0 AND i = 1001 THEN interval '13 hours' ELSE interval '0' END
       END AS ended_at,
       (a = 2 OR i % 10 <> 0) AS is_current,
       NULL::timestamptz AS due_at
FROM generate_series(1, 100) d, generate_series(1, 2000) i,
     LATERAL (SELECT generate_series(1, CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END) AS a) x
UNION ALL
SELECT d, 999, NULL, NULL, true, timestamptz '2026-01-01 20:00+00' + (d - 1) * interval '1 day'
FROM generate_series(7, 100, 7) d;
ANALYZE big;
SELECT count(*) AS rows FROM big;

CREATE TEMP VIEW verdicts AS
SELECT bd, (v).* FROM (
  SELECT bd, kant.slo_eval(job, state, ended_at, is_current, due_at,
           timestamptz '2026-01-02 06:00+00' + (bd - 1) * interval '1 day',
           timestamptz '2026-01-03 00:00+00' + (bd - 1) * interval '1 day',
           '2026-06-01 00:00+00') AS v
  FROM big GROUP BY bd) s;

SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS SELECT * FROM verdicts;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT * FROM verdicts;
EXPLAIN (COSTS OFF)
SELECT kant.slo_eval(job, state, ended_at, is_current, due_at,
         '2026-01-02 06:00+00', '2026-01-03 00:00+00', '2026-06-01 00:00+00')
FROM big WHERE bd = 1;
CREATE TEMP TABLE parallel AS SELECT * FROM verdicts;

SELECT count(*) AS dates,
       count(*) FILTER (WHERE slo_status = 'met') AS met,
       count(*) FILTER (WHERE slo_status = 'missed') AS missed,
       sum(failures) AS failures, sum(retries) AS retries, sum(missing) AS missing
FROM parallel;
SELECT slo_status, sla_status, count(*), min(bd), max(bd), sum(missing) AS missing
FROM parallel GROUP BY 1, 2 ORDER BY 1, 2;
-- the same verdicts either way
(SELECT * FROM serial EXCEPT SELECT * FROM parallel)
UNION ALL
(SELECT * FROM parallel EXCEPT SELECT * FROM serial);
DROP TABLE big CASCADE;
