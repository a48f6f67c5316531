-- Hostile payloads: no input crashes the server, a bad record is quarantined
-- alone, text and jsonb forms ingest the same records (issue 11).  The
-- scripts suite (test/scripts/ingest_safety.py) does the same at scale.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
SET client_min_messages = error;
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0 AS added;
SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', ol_namespace => 'composer-prod') > 0 AS added;
SELECT kant.add_system('manual1', 'manual', 'UTC') > 0 AS added;
SELECT pg_postmaster_start_time() AS started \gset

-- 1. Cut-off payloads (a driver passes a string parameter: the text overload)
--    are clean errors; these three killed the backend with SIGSEGV.
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns":');
SELECT * FROM kant.ingest_airflow_task_instances('socrates', '{"task_instances":');
SELECT * FROM kant.ingest_reports('manual1', '{"runs":');
SELECT * FROM kant.ingest_openlineage('[{"eventType": "START"');
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [1,]}');
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [] } x');
SELECT * FROM kant.ingest_glue_job_runs('hegel', '');
SELECT * FROM kant.ingest_glue_job_runs('hegel', '"JobRuns"');

-- 2. Every prefix of a valid payload of each source is an error with an
--    SQLSTATE, and the whole payload ingests.
CREATE FUNCTION pg_temp.prefixes(fn text, sys text, payload text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n int;
	bad int := 0;
	codes text[] := '{}';
	call text := CASE WHEN sys IS NULL THEN format('SELECT * FROM %s($1)', fn)
				 ELSE format('SELECT * FROM %s(%L, $1)', fn, sys) END;
BEGIN
	FOR n IN 0 .. length(payload) - 1 LOOP
		BEGIN
			EXECUTE call USING left(payload, n);
			bad := bad + 1;
		EXCEPTION WHEN OTHERS THEN
			IF NOT SQLSTATE = ANY (codes) THEN
				codes := codes || SQLSTATE;
			END IF;
		END;
	END LOOP;
	EXECUTE call USING payload;
	RETURN format('%s prefixes, %s accepted, SQLSTATEs %s', length(payload), bad,
				  (SELECT array_agg(c ORDER BY c) FROM unnest(codes) c));
END $$;
SELECT pg_temp.prefixes('kant.ingest_glue_job_runs', 'hegel',
	'{"JobRuns": [{"Id": "jr_p1", "Attempt": 0, "JobName": "p", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800.5, "Arguments": {"--x": "y"}}], "NextToken": null}');
SELECT pg_temp.prefixes('kant.ingest_airflow_task_instances', 'socrates',
	'{"task_instances": [{"dag_id": "d", "task_id": "t", "dag_run_id": "manual__1", "logical_date": "2024-11-24T00:00:00Z", "state": null, "try_number": 0, "map_index": -1}], "total_entries": 1}');
SELECT pg_temp.prefixes('kant.ingest_openlineage', NULL,
	'[{"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "r1"}, "job": {"namespace": "composer-prod", "name": "d.t"}}]');
SELECT pg_temp.prefixes('kant.ingest_reports', 'manual1',
	'{"runs": [{"job": "j", "run_id": "r1", "state": "success", "attempt": 1, "business_date": "2024-11-24"}]}');
SELECT pg_postmaster_start_time() = :'started' AS no_restart;

-- 3. One payload, each record bad in one way; the good ones land.
CREATE TEMP VIEW rej AS
SELECT item_index AS i, field, sqlstate, reason, record IS NULL AS no_jsonb,
       length(record_text) > 0 AS has_text
FROM kant.rejected WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch)
ORDER BY item_index;
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
 {"Id": "jr_g1", "JobName": "good", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
 {"Id": "jr_b1", "JobName": "good", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "Attempt": 2147483647},
 {"Id": "jr_b2", "JobName": "good", "JobRunState": "FAILED", "StartedOn": 1732459800, "ErrorMessage": "nul \u0000 here"},
 {"Id": "jr_b3", "JobName": "good", "JobRunState": "FAILED", "StartedOn": 1732459800, "x": {"y": ["\udc00\ud800"]}},
 {"Id": "jr_b4", "JobName": "good", "JobRunState": "FAILED", "StartedOn": 1732459800, "n": 1e1000000},
 {"Id": "jr_b5", "JobName": "good", "JobRunState": "FAILED", "StartedOn": 1732459800, "PreviousRunId": "' || repeat('p', 3000) || '"},
 {"Id": "jr_b6", "JobName": "tab\t", "JobRunState": "FAILED", "StartedOn": 1732459800},
 {"Id": "jr_b7", "JobName": "good", "JobRunState": "FAILED", "StartedOn": 1732459800, "deep": ' || repeat('[', 100000) || repeat(']', 100000) || '},
 {"Id": "jr_g2", "JobName": "good", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "deep": ' || repeat('[', 600) || repeat(']', 600) || ', "n": 1e-900}
]}');
SELECT * FROM rej;
SELECT external_id, attempt, state FROM kant.job_run WHERE external_id LIKE 'jr_g%' ORDER BY 1;

-- 4. OpenLineage: a namespace with a trailing blank would have registered a
--    system that violates kant.system's CHECK and failed the payload.
SELECT received, inserted, rejected FROM kant.ingest_openlineage('[
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "ol1"}, "job": {"namespace": "composer-prod ", "name": "d.t"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "ol2"}, "job": {"namespace": "composer-prod", "name": "d.t"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "ol3", "facets": {"airflow": {"taskInstance": {"try_number": -1}}}}, "job": {"namespace": "composer-prod", "name": "d.t"}}]');
SELECT * FROM rej;
SELECT count(*) AS bad_systems FROM kant.system WHERE name <> btrim(name);

-- 5. Duplicate root keys: the last one counts, de-escaped, as in the jsonb form.
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel',
  '{"JobRuns": [{"Id": "jr_d1", "JobName": "d", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}],
    "Job\u0052uns": [{"Id": "jr_d2", "JobName": "d", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel',
  '{"JobRuns": [{"Id": "jr_d1", "JobName": "d", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}],
    "Job\u0052uns": [{"Id": "jr_d2", "JobName": "d", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}'::jsonb);
SELECT external_id FROM kant.job_run WHERE external_id LIKE 'jr_d%';
SELECT * FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [], "JobRuns": null, "JobRun": 7}');

-- 6. Text and jsonb forms of the same payloads: the same records and rejections.
CREATE TEMP TABLE corpus (n serial, fn text, sys text, payload text);
INSERT INTO corpus (fn, sys, payload) VALUES
 ('kant.ingest_glue_job_runs', 'hegel', '[{"Id": "jr_e1", "JobName": "e", "JobRunState": "RUNNING", "StartedOn": 1732459800, "Attempt": 100000},
   {"Id": "jr_e2", "JobName": "e\u0007", "JobRunState": "RUNNING"}, "x", null, {"Id": "jr_e3", "JobName": "caf\u00e9 \ud83d\ude00", "JobRunState": "RUNNING", "StartedOn": 1732459800, "big": 1e400}]'),
 ('kant.ingest_airflow_task_instances', 'socrates', '{"task_instances": [{"dag_id": "d", "task_id": "t", "dag_run_id": "m", "run_after": "2024-11-24T00:00:00Z", "state": "queued", "try_number": 100001},
   {"dag_id": "d", "task_id": "t", "dag_run_id": "m", "run_after": "2024-11-24T00:00:00Z", "state": "queued", "map_index": 2}]}'),
 ('kant.ingest_reports', 'manual1', '{"runs": [{"job": "j", "run_id": "r9", "state": "success", "business_date": "10000-01-01"}, {"job": "j", "run_id": "r9", "state": "success", "started_at": "1899-12-31T23:00:00Z"}, {"job": "j", "run_id": "r10", "state": "failed", "started_at": "2024-11-24T00:00:00+09"}]}');
-- each payload as text in a subtransaction rolled back, then as jsonb on the same state
CREATE FUNCTION pg_temp.outcome(fn text, sys text, payload text, cast_to text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE format('SELECT row(received, inserted, updated, unchanged, rejected)::text FROM %s(%L, $1::%s)',
				   fn, sys, cast_to) USING payload INTO r;
	RETURN r || ' ' || (SELECT coalesce(string_agg(concat_ws('|', item_index, field, sqlstate, reason, record),
					', ' ORDER BY item_index), '')
				 FROM kant.rejected WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch))
		|| ' ' || (SELECT string_agg(concat_ws('|', j.system_id, j.name, external_id, attempt, state, business_date,
					bd_source, raw_state, started_at, ended_at, source_updated_at, error_message,
					previous_external_id, details), ', ' ORDER BY j.name, external_id, attempt)
				   FROM kant.job_run r JOIN kant.job j USING (job_id));
END $$;
CREATE FUNCTION pg_temp.both_forms() RETURNS TABLE (n int, same boolean, text_form text)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
	t text;
BEGIN
	FOR c IN SELECT * FROM corpus ORDER BY 1 LOOP
		BEGIN
			t := pg_temp.outcome(c.fn, c.sys, c.payload, 'text');
			RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN
			NULL;
		END;
		n := c.n;
		same := t = pg_temp.outcome(c.fn, c.sys, c.payload, 'jsonb');
		text_form := split_part(t, ' ', 1);
		RETURN NEXT;
	END LOOP;
END $$;
SELECT * FROM pg_temp.both_forms();
SELECT b.source, r.item_index AS i, r.field, r.sqlstate, r.reason
FROM kant.rejected r JOIN kant.ingest_batch b USING (batch_id)
WHERE batch_id > (SELECT max(batch_id) - 6 FROM kant.ingest_batch)
ORDER BY batch_id, item_index;

-- 7. kant.keep_payloads keeps a text payload as text, \u0000 and all.
SET kant.keep_payloads = on;
SELECT received, rejected FROM kant.ingest_reports('manual1', '{"runs": [{"job": "j", "run_id": "k1", "state": "success", "error_message": "\u0000"}]}');
SELECT payload IS NULL AS no_jsonb, payload_text FROM kant.ingest_batch ORDER BY batch_id DESC LIMIT 1;
RESET kant.keep_payloads;

-- 8. The server never restarted.
SELECT pg_postmaster_start_time() = :'started' AS no_restart;
