-- kant writes new runs the way COPY does (multi-insert, then index entries and
-- foreign-key checks per row); a job_run with triggers of its own takes the
-- plain INSERT path, so those triggers fire.  Either way indexes and keys hold.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0 AS added;

CREATE TEMP TABLE page AS
SELECT jsonb_build_object('JobRuns', jsonb_agg(jsonb_build_object(
         'Id', 'jr_' || g, 'JobName', 'job_' || (g % 7), 'StartedOn', 1732459800 + g * 60,
         'JobRunState', CASE WHEN g % 5 = 0 THEN 'RUNNING' ELSE 'SUCCEEDED' END))) AS body
FROM generate_series(1, 1200) g;

-- 1. the direct path: 1200 runs, three buffers
SELECT received, inserted FROM page, kant.ingest_glue_job_runs('hegel', body);

-- every index finds what a sequential scan finds
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS open_by_index FROM kant.job_run WHERE NOT kant.is_terminal(state);
SELECT count(*) AS by_key FROM kant.job_run j
WHERE (job_id, external_id, attempt) IN (SELECT job_id, external_id, attempt FROM kant.job_run);
SELECT count(*) AS by_date FROM kant.job_run WHERE business_date >= '2024-11-24';
SELECT count(*) AS by_job FROM kant.job_run WHERE job_id > 0 AND started_at IS NOT NULL;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*) AS open_by_scan FROM kant.job_run WHERE NOT kant.is_terminal(state);
-- run ids come from the identity sequence, without gaps here
SELECT min(run_id), max(run_id), count(DISTINCT run_id) FROM kant.job_run;
-- the foreign key is there and holds
SELECT count(*) AS orphans FROM kant.job_run r WHERE NOT EXISTS (SELECT FROM kant.job j WHERE j.job_id = r.job_id);
DELETE FROM kant.job WHERE name = 'job_3';
SELECT count(*) AS runs_of_deleted_job FROM kant.job_run r
WHERE NOT EXISTS (SELECT FROM kant.job j WHERE j.job_id = r.job_id);

-- 2. a trigger of the user's own on job_run: the plain INSERT path, the trigger fires
CREATE TABLE public.run_feed (external_id text, state text);
CREATE FUNCTION public.feed_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.run_feed VALUES (NEW.external_id, NEW.state::text);
  RETURN NEW;
END $$;
CREATE TRIGGER feed AFTER INSERT ON kant.job_run FOR EACH ROW EXECUTE FUNCTION public.feed_runs();
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_t1", "JobName": "job_t", "JobRunState": "FAILED", "StartedOn": 1732459800},
  {"Id": "jr_t2", "JobName": "job_t", "JobRunState": "SUCCEEDED", "StartedOn": 1732459900}]}');
SELECT * FROM public.run_feed ORDER BY 1;
DROP TRIGGER feed ON kant.job_run;
DROP FUNCTION public.feed_runs();
DROP TABLE public.run_feed;
