-- kant.ingest_glue_job_runs: GetJobRuns / GetJobRun bodies as AWS sends them
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = notice;

SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL');

CREATE TEMP VIEW r AS
SELECT j.name AS job, r.external_id, r.attempt, c.is_current, r.business_date AS bd,
       r.bd_source AS src, r.state, r.raw_state, r.started_at, r.ended_at,
       r.source_updated_at AS updated, r.error_message, r.previous_external_id AS prev
FROM kant.job_run r JOIN kant.job j USING (job_id)
JOIN kant.runs c USING (run_id)
ORDER BY j.name, r.external_id, r.attempt;

-- 1. A GetJobRuns page: epoch seconds with fractions, kept to the microsecond;
--    business date by the default rule: local (Asia/Tokyo) date of StartedOn.
\set page '{"JobRuns": [{"Id": "jr_01", "Attempt": 0, "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800.123456, "CompletedOn": 1732460400.5, "LastModifiedOn": 1732460401.25, "ExecutionTime": 600, "WorkerType": "G.1X", "NumberOfWorkers": 10, "Arguments": {"--enable-metrics": "true"}}, {"Id": "jr_02", "Attempt": 0, "JobName": "export_orders", "JobRunState": "RUNNING", "StartedOn": 1732461000, "LastModifiedOn": 1732461060}], "NextToken": "eyJsYXN0In0="}'
SELECT received, inserted, updated, unchanged, rejected
FROM kant.ingest_glue_job_runs('hegel', :'page');
SELECT job, external_id, attempt, bd, src, state, raw_state, started_at, ended_at, updated FROM r;
SELECT details FROM kant.job_run WHERE external_id = 'jr_01';

-- 2. The same page again changes nothing, as text or as jsonb.
SELECT md5(string_agg(t::text, ',' ORDER BY run_id)) AS before FROM kant.job_run t \gset
SELECT received, inserted, updated, unchanged, rejected
FROM kant.ingest_glue_job_runs('hegel', :'page');
SELECT received, inserted, updated, unchanged, rejected
FROM kant.ingest_glue_job_runs('hegel', :'page'::jsonb);
SELECT md5(string_agg(t::text, ',' ORDER BY run_id)) = :'before' AS unchanged FROM kant.job_run t;
-- the ingest log keeps the digest of the payload as received: same text, same digest
SELECT count(*) AS batches, count(DISTINCT payload_sha256) AS digests,
       count(DISTINCT payload_bytes) AS sizes FROM kant.ingest_batch;

-- 2b. A payload that is not JSON at all is an error; nothing is ingested.
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [{"Id": "jr_09", "JobName": "x", ');
\echo :LAST_ERROR_SQLSTATE

-- 3. GetJobRun ({"JobRun": ...}) with the run finished: updated, with the
--    end time; a stale RUNNING arriving later does not undo it.
SELECT received, inserted, updated, unchanged, rejected
FROM kant.ingest_glue_job_runs('hegel', '{"JobRun":
    {"Id": "jr_02", "Attempt": 0, "JobName": "export_orders", "JobRunState": "FAILED",
     "StartedOn": 1732461000, "CompletedOn": 1732464000, "LastModifiedOn": 1732464001,
     "ErrorMessage": "An error occurred while calling o110.pyWriteDynamicFrame."}}');
SELECT received, inserted, updated, unchanged, rejected
FROM kant.ingest_glue_job_runs('hegel', '{"JobRun":
    {"Id": "jr_02", "Attempt": 0, "JobName": "export_orders", "JobRunState": "RUNNING",
     "StartedOn": 1732461000, "LastModifiedOn": 1732462000}}');
SELECT external_id, state, ended_at, updated, error_message FROM r WHERE external_id = 'jr_02';

-- 4. Among terminal versions the newer LastModifiedOn wins, in either order
--    (a failed run marked succeeded after a manual fix, say).
SELECT inserted, updated, unchanged FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_02", "Attempt": 0, "JobName": "export_orders", "JobRunState": "SUCCEEDED",
     "StartedOn": 1732461000, "CompletedOn": 1732464000, "LastModifiedOn": 1732465000}]');
SELECT inserted, updated, unchanged FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_02", "Attempt": 0, "JobName": "export_orders", "JobRunState": "FAILED",
     "StartedOn": 1732461000, "CompletedOn": 1732464000, "LastModifiedOn": 1732464001,
     "ErrorMessage": "An error occurred while calling o110.pyWriteDynamicFrame."}]');
SELECT external_id, state, updated, error_message FROM r WHERE external_id = 'jr_02';

-- 5. A retry (Attempt 1, PreviousRunId) starts after local midnight but keeps
--    the business date of the run it retries; the first attempt is superseded.
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_10", "Attempt": 0, "JobName": "export_items", "JobRunState": "FAILED",
     "StartedOn": 1732459800, "CompletedOn": 1732460000, "LastModifiedOn": 1732460000},
    {"Id": "jr_11", "Attempt": 1, "PreviousRunId": "jr_10", "JobName": "export_items",
     "JobRunState": "SUCCEEDED", "StartedOn": 1732461000, "CompletedOn": 1732462200,
     "LastModifiedOn": 1732462200}]');
-- the same chain arriving retry-first, in separate payloads, for another job
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_22", "Attempt": 2, "PreviousRunId": "jr_21", "JobName": "export_stock",
     "JobRunState": "SUCCEEDED", "StartedOn": 1732464600, "LastModifiedOn": 1732465000}]');
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_21", "Attempt": 1, "PreviousRunId": "jr_20", "JobName": "export_stock",
     "JobRunState": "FAILED", "StartedOn": 1732461000, "LastModifiedOn": 1732461500}]');
SELECT job, external_id, bd, src FROM r WHERE job = 'export_stock';
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_20", "Attempt": 0, "JobName": "export_stock",
     "JobRunState": "FAILED", "StartedOn": 1732459800, "LastModifiedOn": 1732460000}]');
SELECT job, external_id, attempt, is_current, bd, src, state, prev FROM r
WHERE job IN ('export_items', 'export_stock');

-- 6. Business date from a job argument when the job (or its system) names one;
--    the start-time rule otherwise.
SELECT kant.configure_job('hegel', 'export_sales', bd_argument => '--business_date') > 0 AS configured;
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_30", "JobName": "export_sales", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800,
     "Arguments": {"--business_date": "2024-11-20"}},
    {"Id": "jr_31", "JobName": "export_sales", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800,
     "Arguments": {"--business_date": "20241121"}},
    {"Id": "jr_32", "JobName": "export_sales", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800,
     "Arguments": {"--other": "x"}},
    {"Id": "jr_33", "JobName": "export_sales", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800,
     "Arguments": {"--business_date": "yesterday"}}]');
SELECT external_id, bd, src FROM r WHERE job = 'export_sales';
SELECT item_index, item_path, sqlstate, reason FROM kant.rejected ORDER BY rejected_id;

-- 7. The start-time rule: offset in days and a day boundary, in the system's zone.
SELECT kant.configure_job('hegel', 'nightly_snapshot', bd_offset_days => -1) > 0 AS configured;
SELECT kant.configure_job('hegel', 'late_batch', bd_day_start => '06:00') > 0 AS configured;
SELECT inserted FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_40", "JobName": "nightly_snapshot", "JobRunState": "SUCCEEDED", "StartedOn": 1732461000},
    {"Id": "jr_41", "JobName": "late_batch", "JobRunState": "SUCCEEDED", "StartedOn": 1732478400},
    {"Id": "jr_42", "JobName": "late_batch", "JobRunState": "SUCCEEDED", "StartedOn": 1732482600}]');
SELECT external_id, started_at AT TIME ZONE 'Asia/Tokyo' AS started_local, bd FROM r
WHERE job IN ('nightly_snapshot', 'late_batch');

-- 8. Timestamps as boto3 and the AWS CLI print them are the same instants.
SELECT inserted, rejected FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_50", "JobName": "iso_forms", "JobRunState": "SUCCEEDED",
     "StartedOn": "2024-11-24 14:50:00.123456+00:00", "CompletedOn": "2024-11-25T00:00:00.5+09:00",
     "LastModifiedOn": "2024-11-24T15:00:01Z"},
    {"Id": "jr_51", "JobName": "iso_forms", "JobRunState": "SUCCEEDED",
     "StartedOn": "2024-11-24T09:50:00.1234565-0500", "CompletedOn": "2024-11-24T15:00:00.500000z"}]');
SELECT external_id, started_at, ended_at, updated FROM r WHERE job = 'iso_forms';

-- 9. Bad records are quarantined with the field's path and the reason; the
--    good record of the same payload lands.
TRUNCATE kant.rejected;
SELECT received, inserted, updated, unchanged, rejected FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
    {"JobName": "no_id", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
    {"Id": "jr_61", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
    {"Id": "jr_62", "JobName": "bad", "StartedOn": 1732459800},
    {"Id": "jr_63", "JobName": "bad", "JobRunState": "DONE", "StartedOn": 1732459800},
    {"Id": "jr_64", "JobName": "bad", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800123},
    {"Id": "jr_65", "JobName": "bad", "JobRunState": "SUCCEEDED", "StartedOn": "2024-11-24 14:50:00"},
    {"Id": "jr_66", "JobName": "bad", "JobRunState": "SUCCEEDED", "StartedOn": true},
    {"Id": "jr_67", "JobName": "bad", "JobRunState": "SUCCEEDED", "Attempt": -1, "StartedOn": 1732459800},
    {"Id": "jr_68", "JobName": "bad", "JobRunState": "SUCCEEDED", "Attempt": 1.5, "StartedOn": 1732459800},
    {"Id": "jr_69", "JobName": "bad", "JobRunState": "SUCCEEDED", "Arguments": ["--x"], "StartedOn": 1732459800},
    {"Id": 70, "JobName": "bad", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
    {"Id": "jr_71", "JobName": "bad", "JobRunState": "SUCCEEDED"},
    "jr_72",
    {"Id": "jr_73", "JobName": "good", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
SELECT item_index, item_path, sqlstate, reason, hint IS NOT NULL AS has_hint,
       record IS NOT NULL AS kept FROM kant.rejected ORDER BY item_index;
SELECT external_id, state FROM r WHERE job IN ('good', 'bad');
SELECT b.received, b.inserted, b.rejected, count(x.*) AS quarantined
FROM kant.ingest_batch b JOIN kant.rejected x USING (batch_id) GROUP BY b.batch_id;

-- 10. Payloads that are not Glue responses are errors: nothing is ingested.
\set VERBOSITY default
SELECT * FROM kant.ingest_glue_job_runs('hegel', '"SUCCEEDED"');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": {"Id": "jr_1"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"Jobs": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_glue_job_runs(NULL, '{"JobRuns": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_glue_job_runs('hegel', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.ingest_glue_job_runs('', '{"JobRuns": []}');
\echo :LAST_ERROR_SQLSTATE

-- 11. A Glue payload for an Airflow system is refused.
SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo') > 0 AS added;
SELECT * FROM kant.ingest_glue_job_runs('socrates', '{"JobRuns": []}');
\echo :LAST_ERROR_SQLSTATE

-- 12. A system seen for the first time is registered (time zone from
--     kant.default_time_zone) and so are its jobs.
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel_eu', '{"JobRuns": [
    {"Id": "jr_80", "JobName": "export_eu", "JobRunState": "STARTING", "StartedOn": 1732459800}]}');
SELECT s.name, s.kind, s.time_zone, s.auto_registered, j.name AS job, j.auto_registered AS job_auto
FROM kant.system s JOIN kant.job j USING (system_id) WHERE s.name = 'hegel_eu';

-- 13. Empty page: a batch is still logged.
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": []}');

-- 14. The ingest log: sizes and digests; the payload itself only when asked.
SELECT source, received, payload_bytes > 0 AS sized, length(payload_sha256) AS sha_len,
       payload IS NULL AS no_payload, received_by = session_user AS by_me
FROM kant.ingest_batch ORDER BY batch_id LIMIT 3;
SET kant.keep_payloads = on;
SELECT received FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
    {"Id": "jr_01", "Attempt": 0, "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
-- a text payload is kept as its text; a jsonb one as jsonb
SELECT payload IS NULL AS no_jsonb, payload_text::jsonb->'JobRuns'->0->>'Id' AS kept
FROM kant.ingest_batch ORDER BY batch_id DESC LIMIT 1;
SELECT received FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
    {"Id": "jr_01", "Attempt": 0, "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}'::jsonb);
SELECT payload->'JobRuns'->0->>'Id' AS kept, payload_text IS NULL AS no_text
FROM kant.ingest_batch ORDER BY batch_id DESC LIMIT 1;
RESET kant.keep_payloads;

-- 15. last_seen is refreshed on an unchanged re-ingest once kant.touch_interval passed.
SELECT last_seen AS seen_before FROM kant.job_run WHERE external_id = 'jr_73' \gset
SET kant.touch_interval = 0;
SELECT unchanged FROM kant.ingest_glue_job_runs('hegel', '[
    {"Id": "jr_73", "JobName": "good", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]');
SELECT last_seen > :'seen_before' AS touched, first_seen = :'seen_before' AS first_kept
FROM kant.job_run WHERE external_id = 'jr_73';
RESET kant.touch_interval;
