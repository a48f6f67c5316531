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

-- 8. Business dates: one range (1900-01-01 to 9999-12-31) for every date,
--    however derived; a record whose date falls outside is quarantined alone
--    (22008, naming the field and the date), the rest of the payload lands.
--    Each source just inside and just outside, at fixed instants.
SELECT kant.add_system('kiri', 'manual', 'Pacific/Kiritimati') > 0 AS added;
SELECT kant.add_system('early', 'manual', 'UTC', bd_day_start => '06:00') > 0 AS added;
SELECT kant.add_system('nyc', 'airflow', 'America/New_York', ol_namespace => 'nyc-composer') > 0 AS added;
SELECT kant.add_system('gutc', 'glue', 'UTC') > 0 AS added;
SELECT kant.configure_job('gutc', 'back_a_year', bd_offset_days => -366) > 0 AS configured;
SELECT kant.configure_job('gutc', 'ahead_a_year', bd_offset_days => 366) > 0 AS configured;
SELECT kant.configure_job('gutc', 'by_arg', bd_argument => '--business_date') > 0 AS configured;
CREATE TEMP VIEW bd_rej AS
SELECT item_index AS i, field, sqlstate, reason
FROM kant.rejected WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch)
ORDER BY item_index;
CREATE TEMP VIEW bd_runs AS
SELECT s.name AS system, r.external_id, r.business_date, r.bd_source
FROM kant.job_run r JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id)
WHERE r.external_id LIKE 'bd\_%' ORDER BY 1, 2;
-- report_run: a given date; the start-time rule in UTC+14 and with a 06:00 day start
SELECT received, inserted, rejected FROM kant.ingest_reports('kiri', '{"runs": [
 {"job": "j", "run_id": "bd_r1", "state": "success", "started_at": "9999-12-31T09:59:59Z"},
 {"job": "j", "run_id": "bd_r2", "state": "success", "started_at": "9999-12-31T12:00:00Z"},
 {"job": "j", "run_id": "bd_r3", "state": "success", "business_date": "1900-01-01"},
 {"job": "j", "run_id": "bd_r4", "state": "success", "business_date": "1899-12-31"},
 {"job": "j", "run_id": "bd_r5", "state": "success", "business_date": "9999-12-31"},
 {"job": "j", "run_id": "bd_r6", "state": "success", "ended_at": "9999-12-31T10:00:00Z"}]}');
SELECT * FROM bd_rej;
SELECT received, inserted, rejected FROM kant.ingest_reports('early', '{"runs": [
 {"job": "j", "run_id": "bd_e1", "state": "success", "started_at": "1900-01-01T06:00:00Z"},
 {"job": "j", "run_id": "bd_e2", "state": "success", "started_at": "1900-01-01T05:59:59Z"}]}');
SELECT * FROM bd_rej;
-- Airflow: logical_date, execution_date (API v1), run_after (v2) in New York (UTC-5 in 1900)
SELECT received, inserted, rejected FROM kant.ingest_airflow_task_instances('nyc', '{"task_instances": [
 {"dag_id": "d", "task_id": "t", "dag_run_id": "bd_a1", "logical_date": "1900-01-01T05:00:00Z", "state": "success", "try_number": 1},
 {"dag_id": "d", "task_id": "t", "dag_run_id": "bd_a2", "logical_date": "1900-01-01T00:00:00Z", "state": "success", "try_number": 1},
 {"dag_id": "d", "task_id": "t", "dag_run_id": "bd_a3", "execution_date": "1900-01-01T04:59:59Z", "state": "success", "try_number": 1},
 {"dag_id": "d", "task_id": "t", "dag_run_id": "bd_a4", "logical_date": null, "run_after": "1900-01-01T04:00:00Z", "state": "queued", "try_number": 0},
 {"dag_id": "d", "task_id": "t", "dag_run_id": "bd_a5", "logical_date": "9999-12-31T23:59:59Z", "state": "success", "try_number": 1}]}');
SELECT * FROM bd_rej;
-- OpenLineage: the nominalTime facet, else eventTime by the rule, in New York
SELECT received, inserted, rejected FROM kant.ingest_openlineage('[
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "bd_o1", "facets": {"nominalTime": {"nominalStartTime": "1900-01-01T05:00:00Z"}}}, "job": {"namespace": "nyc-composer", "name": "d.t"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "bd_o2", "facets": {"nominalTime": {"nominalStartTime": "1900-01-01T00:00:00Z"}}}, "job": {"namespace": "nyc-composer", "name": "d.t"}},
 {"eventType": "START", "eventTime": "1900-01-01T04:59:59Z", "run": {"runId": "bd_o3"}, "job": {"namespace": "nyc-composer", "name": "d.t"}},
 {"eventType": "START", "eventTime": "1900-01-01T05:00:00Z", "run": {"runId": "bd_o4"}, "job": {"namespace": "nyc-composer", "name": "d.t"}}]');
SELECT * FROM bd_rej;
-- Glue: bd_offset_days -366 and +366 on StartedOn, and the job's argument
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('gutc', '{"JobRuns": [
 {"Id": "bd_g1", "JobName": "back_a_year", "JobRunState": "SUCCEEDED", "StartedOn": "1901-01-02T00:00:00Z"},
 {"Id": "bd_g2", "JobName": "back_a_year", "JobRunState": "SUCCEEDED", "StartedOn": "1901-01-01T23:59:59Z"},
 {"Id": "bd_g3", "JobName": "ahead_a_year", "JobRunState": "SUCCEEDED", "StartedOn": "9998-12-30T23:59:59Z"},
 {"Id": "bd_g4", "JobName": "ahead_a_year", "JobRunState": "SUCCEEDED", "StartedOn": "9998-12-31T00:00:00Z"},
 {"Id": "bd_g5", "JobName": "by_arg", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "Arguments": {"--business_date": "1900-01-01"}},
 {"Id": "bd_g6", "JobName": "by_arg", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "Arguments": {"--business_date": "18991231"}},
 {"Id": "bd_g7", "JobName": "by_arg", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "Arguments": {"--business_date": "9999/12/31"}}]}');
SELECT * FROM bd_rej;
SELECT * FROM bd_runs;
-- the job's rule changed since a run was stored: a new version without a
-- start time would move the stored run out of the range; it is quarantined
-- and the stored row stays as it was
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('gutc', '{"JobRuns": [
 {"Id": "bd_g8", "JobName": "rule_moves", "JobRunState": "RUNNING", "StartedOn": "9999-12-31T00:00:00Z"}]}');
SELECT kant.configure_job('gutc', 'rule_moves', bd_offset_days => 1) > 0 AS configured;
SELECT received, inserted, updated, rejected FROM kant.ingest_glue_job_runs('gutc', '{"JobRuns": [
 {"Id": "bd_g8", "JobName": "rule_moves", "JobRunState": "SUCCEEDED", "LastModifiedOn": "9999-12-30T00:00:00Z"}]}');
SELECT * FROM bd_rej;
SELECT r.*, j.state FROM bd_runs r JOIN kant.job_run j USING (external_id) WHERE external_id = 'bd_g8';
-- no business date outside the range was stored
SELECT count(*) AS out_of_range FROM kant.job_run
WHERE business_date NOT BETWEEN '1900-01-01' AND '9999-12-31';

-- 9. Glue retry chains: a retry (PreviousRunId) takes the business date of the
--    run it retries, back to the first run of its chain, whatever the arrival
--    order; kant walks a chain run by run.  A PreviousRunId loop, or a chain
--    more than 1000 retries long, warns and loses no record.
SET client_min_messages = warning;
SET statement_timeout = '60s';	-- the recursive CTE this replaced never ended here
SELECT kant.add_system('chains', 'glue', 'UTC') > 0 AS added;
-- runs <job>_<k> for k in [first, last], each retrying <job>_<k-1>, started
-- 10 minutes apart from 2024-11-24 23:50 UTC, the last retries first (or the
-- first run first); with attempts > 1 each run comes as that many attempts,
-- a minute apart
CREATE FUNCTION pg_temp.chain(job text, first int, last int, attempts int DEFAULT 1,
                              first_first boolean DEFAULT false) RETURNS text
LANGUAGE sql AS $$
SELECT jsonb_build_object('JobRuns', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	'Id', job || '_' || k, 'Attempt', a, 'JobName', job,
	'PreviousRunId', CASE WHEN k > 0 THEN job || '_' || (k - 1) END,
	'JobRunState', 'FAILED', 'StartedOn', 1732492200 + k * 600 + a * 60))
	ORDER BY CASE WHEN first_first THEN k ELSE -k END, a DESC))::text
FROM generate_series(first, last) k, generate_series(0, attempts - 1) a $$;
CREATE TEMP VIEW chain AS
SELECT j.name AS job, count(*) AS attempts, count(DISTINCT r.external_id) AS runs,
       min(r.business_date) AS first_bd, max(r.business_date) AS last_bd,
       string_agg(DISTINCT r.bd_source::text, '') AS sources,
       string_agg(c.external_id || '#' || c.attempt, ',') FILTER (WHERE c.is_current = 1) AS current
FROM kant.job_run r JOIN kant.job j USING (job_id) JOIN kant.runs c USING (run_id)
WHERE j.system_id = (SELECT system_id FROM kant.system WHERE name = 'chains')
GROUP BY 1 ORDER BY 1;
-- 200 retries, retries first: deep_1 names a run not stored, it is the first
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('deep', 1, 200));
SELECT * FROM chain;
-- deep_0 arrives (on the day before): the whole chain moves to its date
SELECT received, inserted, updated, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('deep', 0, 0));
SELECT * FROM chain;
SELECT r.external_id, r.business_date, r.bd_source FROM kant.job_run r
WHERE r.external_id IN ('deep_0', 'deep_1', 'deep_200') ORDER BY length(r.external_id), 1;
-- the whole chain again changes nothing
SELECT received, inserted, updated, unchanged FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('deep', 0, 200));
-- 200 retries of three attempts each, in one payload: the current attempt is
-- the last attempt of the last run
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('triple', 0, 199, 3));
SELECT * FROM chain WHERE job = 'triple';
-- a PreviousRunId loop (a -> c -> b -> a) closed by the last run to arrive,
-- a retry of a run in it, a run retrying itself: warned, nothing lost, each
-- has the date of its own start, as if the loop had come in one payload
CREATE TEMP VIEW loop AS
SELECT external_id, previous_external_id AS prev, business_date, bd_source FROM kant.job_run
WHERE external_id LIKE 'loop\_%' ORDER BY 1;
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', '{"JobRuns": [
 {"Id": "loop_b", "JobName": "loop", "PreviousRunId": "loop_a", "JobRunState": "FAILED", "StartedOn": "2024-11-25T10:00:00Z"},
 {"Id": "loop_c", "JobName": "loop", "PreviousRunId": "loop_b", "JobRunState": "FAILED", "StartedOn": "2024-11-26T10:00:00Z"},
 {"Id": "loop_d", "JobName": "loop", "PreviousRunId": "loop_b", "JobRunState": "SUCCEEDED", "StartedOn": "2024-11-27T10:00:00Z"},
 {"Id": "loop_e", "JobName": "loop", "PreviousRunId": "loop_e", "JobRunState": "FAILED", "StartedOn": "2024-11-28T10:00:00Z"}]}');
SELECT * FROM loop;
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', '{"JobRuns": [
 {"Id": "loop_a", "JobName": "loop", "PreviousRunId": "loop_c", "JobRunState": "FAILED", "StartedOn": "2024-11-24T10:00:00Z"}]}');
SELECT * FROM loop;
-- 1001 retries, in three flushes of 500 records, the last retries first: the
-- first 1000 take long_0's date, the last the date of its own start
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('long', 0, 1001));
SELECT * FROM chain WHERE job = 'long';
SELECT external_id, business_date, bd_source FROM kant.job_run
WHERE external_id IN ('long_0', 'long_1000', 'long_1001') ORDER BY length(external_id), 1;
-- the same chain arriving first run first ends the same
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('long2', 0, 1001, first_first => true));
SELECT count(*) AS runs, count(*) FILTER (WHERE (a.business_date, a.bd_source) IS DISTINCT FROM (b.business_date, b.bd_source)) AS differ
FROM kant.job_run a JOIN kant.job_run b ON b.external_id = 'long2_' || substr(a.external_id, 6)
WHERE a.external_id LIKE 'long\_%';
-- the first run arriving last, 1001 retries above the last one: that one
-- moves to the date of its own start
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('edge', 1, 1001));
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('chains', pg_temp.chain('edge', 0, 0));
SELECT external_id, business_date, bd_source FROM kant.job_run
WHERE external_id IN ('edge_0', 'edge_1', 'edge_1000', 'edge_1001') ORDER BY length(external_id), 1;
RESET statement_timeout;
SET client_min_messages = error;

-- 10. A collector reads back over a window that overlaps the last one: a bad
--     record it brings again, for the same reason, is counted on the row of
--     its first sighting (times_seen, last_seen_at, last_batch_id), wherever
--     it stands in the payload and whichever form the payload has; another
--     record, or the same record of another system, is a row of its own.
SELECT kant.add_system('twice', 'glue', 'UTC') > 0 AS added;
SELECT kant.add_system('twice_too', 'glue', 'UTC') > 0 AS added;
CREATE TEMP TABLE b0 AS SELECT max(batch_id) AS b FROM kant.ingest_batch;
CREATE TEMP VIEW seen AS
SELECT s.name AS system, r.source, r.item_path, r.reason, r.times_seen,
       r.batch_id - (SELECT b FROM b0) AS first_batch, r.last_batch_id - (SELECT b FROM b0) AS last_batch,
       r.last_seen_at > r.rejected_at AS seen_later
FROM kant.rejected r LEFT JOIN kant.system s USING (system_id)
WHERE r.last_batch_id > (SELECT b FROM b0) ORDER BY r.rejected_id;
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('twice', '{"JobRuns": [
 {"Id": "tw_1", "JobName": "t", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
 {"Id": "tw_2", "JobName": "t", "JobRunState": "PENDING_EXECUTION", "StartedOn": 1732459800}]}');
SELECT * FROM seen;
-- the same payload again: the batch counts the rejection, kant.rejected keeps one row
SET client_min_messages = warning;
SELECT received, unchanged, rejected FROM kant.ingest_glue_job_runs('twice', '{"JobRuns": [
 {"Id": "tw_1", "JobName": "t", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
 {"Id": "tw_2", "JobName": "t", "JobRunState": "PENDING_EXECUTION", "StartedOn": 1732459800}]}');
SET client_min_messages = error;
SELECT * FROM seen;
-- first on a later page (another place, keys in another order, as jsonb)
SELECT received, inserted, rejected FROM kant.ingest_glue_job_runs('twice', '{"JobRuns": [
 {"StartedOn": 1732459800, "JobRunState": "PENDING_EXECUTION", "JobName": "t", "Id": "tw_2"},
 {"Id": "tw_3", "JobName": "t", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}'::jsonb);
-- a record that differs in one field, and the same record of another system: new rows
SELECT received, rejected FROM kant.ingest_glue_job_runs('twice', '{"JobRuns": [
 {"Id": "tw_2", "JobName": "t", "JobRunState": "PENDING_EXECUTION", "StartedOn": 1732459801}]}');
SELECT received, rejected FROM kant.ingest_glue_job_runs('twice_too', '{"JobRuns": [
 {"Id": "tw_2", "JobName": "t", "JobRunState": "PENDING_EXECUTION", "StartedOn": 1732459800}]}');
-- a record jsonb cannot hold, kept as text, twice
SELECT received, rejected FROM kant.ingest_glue_job_runs('twice', '{"JobRuns": [
 {"Id": "tw_4", "JobName": "t", "JobRunState": "FAILED", "StartedOn": 1732459800, "ErrorMessage": "nul \u0000"}]}');
SELECT received, rejected FROM kant.ingest_glue_job_runs('twice', '{"JobRuns": [
 {"Id": "tw_0", "JobName": "t", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
 {"Id": "tw_4", "JobName": "t", "JobRunState": "FAILED", "StartedOn": 1732459800, "ErrorMessage": "nul \u0000"}]}');
-- an OpenLineage event of a namespace kant cannot register (no system), first
-- seen in section 4 as $[0], now as $[1]
SELECT received, rejected FROM kant.ingest_openlineage('[
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "ol9"}, "job": {"namespace": "composer-prod", "name": "d.t"}},
 {"eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00Z", "run": {"runId": "ol1"}, "job": {"namespace": "composer-prod ", "name": "d.t"}}]');
SELECT * FROM seen;
-- the batches count every rejection; the rows count every sighting
SELECT sum(rejected) AS rejections FROM kant.ingest_batch WHERE batch_id > (SELECT b FROM b0);
SELECT sum(times_seen) - count(*) AS counted_again FROM kant.rejected WHERE last_batch_id > (SELECT b FROM b0);

-- 11. The server never restarted.
SELECT pg_postmaster_start_time() = :'started' AS no_restart;
