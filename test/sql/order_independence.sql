-- The same data in any order leaves the same rows: every permutation of the
-- payloads of a scenario is ingested into an empty model and fingerprinted.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = warning;
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0
   AND kant.add_system('socrates', 'airflow', 'Asia/Tokyo') > 0
   AND kant.add_system('lineage', 'openlineage', 'Asia/Tokyo') > 0 AS systems;

-- what a run row says, without kant's own bookkeeping (ids, first/last seen)
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(md5(string_agg(concat_ws('|', c.system, c.job, c.external_id, c.attempt, c.is_current,
         r.business_date, r.bd_source, r.state, r.raw_state, r.started_at, r.ended_at,
         r.source_updated_at, r.error_message, r.previous_external_id, r.details),
         ';' ORDER BY c.job, c.external_id, c.attempt)), 'empty')
  FROM kant.job_run r JOIN kant.runs c USING (run_id) $$;

-- ingest the payloads in every order; how many different end states?
CREATE FUNCTION pg_temp.permutations_agree(fn text, sys text, payloads jsonb[],
    OUT orders integer, OUT end_states integer) LANGUAGE plpgsql AS $$
DECLARE
  perm integer[];
  fps text[] := '{}';
  i integer;
BEGIN
  FOR perm IN
    WITH RECURSIVE p(seq) AS (
      SELECT ARRAY[]::integer[]
      UNION ALL
      SELECT p.seq || g FROM p, generate_series(1, cardinality(payloads)) g
      WHERE NOT g = ANY (p.seq) AND cardinality(p.seq) < cardinality(payloads))
    SELECT seq FROM p WHERE cardinality(seq) = cardinality(payloads)
  LOOP
    TRUNCATE kant.job_run;
    FOREACH i IN ARRAY perm LOOP
      IF fn = 'openlineage' THEN
        PERFORM kant.ingest_openlineage(payloads[i]);
      ELSE
        EXECUTE format('SELECT kant.%I($1, $2)', fn) USING sys, payloads[i];
      END IF;
    END LOOP;
    fps := fps || pg_temp.fingerprint();
  END LOOP;
  orders := cardinality(fps);
  SELECT count(DISTINCT f) INTO end_states FROM unnest(fps) f;
END $$;

CREATE TEMP VIEW r AS
SELECT c.job, c.external_id, c.attempt, c.is_current, c.business_date, r.bd_source, c.state,
       c.started_at, c.ended_at, r.source_updated_at
FROM kant.runs c JOIN kant.job_run r USING (run_id) ORDER BY c.job, c.external_id, c.attempt;

-- A. One Glue run seen four times by the poller: STARTING, RUNNING, FAILED,
--    then SUCCEEDED with a newer LastModifiedOn (marked succeeded by hand).
SELECT * FROM pg_temp.permutations_agree('ingest_glue_job_runs', 'hegel', ARRAY[
  '{"JobRuns": [{"Id": "jr_a", "JobName": "j", "JobRunState": "STARTING", "StartedOn": 1732459800, "LastModifiedOn": 1732459800}]}',
  '{"JobRuns": [{"Id": "jr_a", "JobName": "j", "JobRunState": "RUNNING", "StartedOn": 1732459800, "LastModifiedOn": 1732459900}]}',
  '{"JobRuns": [{"Id": "jr_a", "JobName": "j", "JobRunState": "FAILED", "StartedOn": 1732459800, "CompletedOn": 1732460000, "LastModifiedOn": 1732460000, "ErrorMessage": "boom"}]}',
  '{"JobRuns": [{"Id": "jr_a", "JobName": "j", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "CompletedOn": 1732460000, "LastModifiedOn": 1732470000}]}'
]::jsonb[]);
SELECT job, external_id, state, started_at, ended_at, source_updated_at FROM r;

-- B. A Glue retry chain across local midnight, arriving in every order:
--    all attempts carry the first attempt's business date; only the last is current.
SELECT * FROM pg_temp.permutations_agree('ingest_glue_job_runs', 'hegel', ARRAY[
  '{"JobRuns": [{"Id": "jr_1", "Attempt": 0, "JobName": "k", "JobRunState": "FAILED", "StartedOn": 1732459800, "LastModifiedOn": 1732460000}]}',
  '{"JobRuns": [{"Id": "jr_2", "Attempt": 1, "PreviousRunId": "jr_1", "JobName": "k", "JobRunState": "FAILED", "StartedOn": 1732461000, "LastModifiedOn": 1732461100}]}',
  '{"JobRuns": [{"Id": "jr_3", "Attempt": 2, "PreviousRunId": "jr_2", "JobName": "k", "JobRunState": "SUCCEEDED", "StartedOn": 1732464600, "LastModifiedOn": 1732465000}]}'
]::jsonb[]);
SELECT job, external_id, attempt, is_current, business_date, bd_source, state FROM r;

-- C. OpenLineage START, RUNNING and COMPLETE of one run.
SELECT * FROM pg_temp.permutations_agree('openlineage', NULL, ARRAY[
  '{"eventType": "START", "eventTime": "2024-11-24T21:00:00Z", "run": {"runId": "r-1"}, "job": {"namespace": "lineage", "name": "dag.t"}}',
  '{"eventType": "RUNNING", "eventTime": "2024-11-24T21:05:00Z", "run": {"runId": "r-1"}, "job": {"namespace": "lineage", "name": "dag.t"}}',
  '{"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "r-1"}, "job": {"namespace": "lineage", "name": "dag.t"}}'
]::jsonb[]);
SELECT job, external_id, state, business_date, bd_source, started_at, ended_at FROM r;

-- D. Airflow: try 1 running, try 1 up_for_retry, try 2 running, try 2 success.
SELECT * FROM pg_temp.permutations_agree('ingest_airflow_task_instances', 'socrates', ARRAY[
  '{"task_instances": [{"dag_id": "d", "task_id": "t", "dag_run_id": "s1", "execution_date": "2024-11-23T15:00:00+00:00", "state": "running", "try_number": 1, "start_date": "2024-11-24T00:00:00+00:00"}]}',
  '{"task_instances": [{"dag_id": "d", "task_id": "t", "dag_run_id": "s1", "execution_date": "2024-11-23T15:00:00+00:00", "state": "up_for_retry", "try_number": 1, "start_date": "2024-11-24T00:00:00+00:00", "end_date": "2024-11-24T00:01:00+00:00"}]}',
  '{"task_instances": [{"dag_id": "d", "task_id": "t", "dag_run_id": "s1", "execution_date": "2024-11-23T15:00:00+00:00", "state": "running", "try_number": 2, "start_date": "2024-11-24T00:06:00+00:00"}]}',
  '{"task_instances": [{"dag_id": "d", "task_id": "t", "dag_run_id": "s1", "execution_date": "2024-11-23T15:00:00+00:00", "state": "success", "try_number": 2, "start_date": "2024-11-24T00:06:00+00:00", "end_date": "2024-11-24T00:09:00+00:00"}]}'
]::jsonb[]);
SELECT job, external_id, attempt, is_current, business_date, state, started_at, ended_at FROM r;

-- E. Versions of one run inside a single payload, in both orders.
TRUNCATE kant.job_run;
SELECT kant.ingest_glue_job_runs('hegel', '[
  {"Id": "jr_x", "JobName": "m", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "CompletedOn": 1732460000, "LastModifiedOn": 1732460000},
  {"Id": "jr_x", "JobName": "m", "JobRunState": "RUNNING", "StartedOn": 1732459800, "LastModifiedOn": 1732459900}]') IS NOT NULL AS ok;
SELECT pg_temp.fingerprint() AS forward \gset
TRUNCATE kant.job_run;
SELECT received, inserted, unchanged FROM kant.ingest_glue_job_runs('hegel', '[
  {"Id": "jr_x", "JobName": "m", "JobRunState": "RUNNING", "StartedOn": 1732459800, "LastModifiedOn": 1732459900},
  {"Id": "jr_x", "JobName": "m", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "CompletedOn": 1732460000, "LastModifiedOn": 1732460000}]');
SELECT pg_temp.fingerprint() = :'forward' AS same, (SELECT state FROM r) AS state;
