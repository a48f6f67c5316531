/* kant 0.5.0 -> 0.6.0: safe in a shared Postgres (issue 11).  Sections by
 * concern; each replaces what it changes. */

\echo Use "ALTER EXTENSION kant UPDATE TO '0.6.0'" to load this file. \quit

---------------------------------------------------------------------------
-- The schema, and who may do what (the checks first)
---------------------------------------------------------------------------

-- kant installs only into a schema that is its own.  A schema someone else
-- created first (and owns), or in which other roles may create objects, would
-- let them drop or shadow what kant's SECURITY DEFINER functions call.
DO $$
DECLARE
	nsp record;
	ext_owner oid;
	stray text;
BEGIN
	SELECT n.oid, n.nspowner, n.nspacl INTO nsp
	FROM pg_catalog.pg_namespace n WHERE n.nspname = '@extschema@';
	SELECT e.extowner INTO ext_owner FROM pg_catalog.pg_extension e WHERE e.extname = 'kant';
	IF nsp.nspowner IS DISTINCT FROM ext_owner THEN
		RAISE EXCEPTION 'schema @extschema@ belongs to role "%", not to the owner of extension kant ("%")',
			pg_catalog.pg_get_userbyid(nsp.nspowner), pg_catalog.pg_get_userbyid(ext_owner)
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'kant installs only into a schema it creates, or one its installer owns: the schema''s owner could drop and replace what kant''s SECURITY DEFINER functions call.',
				  HINT = 'See what is in it, DROP SCHEMA @extschema@, and CREATE EXTENSION kant again.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.aclexplode(nsp.nspacl) a
			   WHERE a.privilege_type = 'CREATE' AND a.grantee OPERATOR(pg_catalog.<>) nsp.nspowner) THEN
		RAISE EXCEPTION 'roles other than its owner may create objects in schema @extschema@'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'An object created there could shadow one of kant''s in a call from its SECURITY DEFINER functions.',
				  HINT = 'REVOKE CREATE ON SCHEMA @extschema@ FROM PUBLIC (and from every other role).';
	END IF;
	SELECT pg_catalog.string_agg(o.what, ', ') INTO stray
	FROM (SELECT pg_catalog.format('%s %s', CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END, c.relname) AS what
		  FROM pg_catalog.pg_class c
		  WHERE c.relnamespace = nsp.oid AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
			AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
							WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
							  AND d.deptype = 'e')
		  UNION ALL
		  SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure)
		  FROM pg_catalog.pg_proc p
		  WHERE p.pronamespace = nsp.oid
			AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
							WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
							  AND d.deptype = 'e')) o;
	IF stray IS NOT NULL THEN
		RAISE WARNING 'schema @extschema@ holds objects that are not part of kant: %', stray
			USING HINT = 'Move them to a schema of their own: kant''s schema is kant''s.';
	END IF;
END
$$;

-- Grants a team gave on what this script re-creates (new signatures, a view
-- made again) are carried over: read here, given again at the end of the
-- script, to the same roles (with their grant option); who could run the
-- schedule_ functions or deliver_notifications may run the helpers they now
-- call with the caller's rights.
DO $$
BEGIN
	PERFORM pg_catalog.set_config('kant_upgrade.grants', coalesce((
		SELECT pg_catalog.json_agg(pg_catalog.json_build_object('obj', x.obj, 'grantee', a.grantee,
					'priv', a.privilege_type, 'grantable', a.is_grantable))::text
		FROM (VALUES
				('set_credentials', (SELECT p.proacl FROM pg_catalog.pg_proc p
									 WHERE p.oid = '@extschema@.set_credentials(text, text, text, text, boolean)'::pg_catalog.regprocedure),
				 (SELECT p.proowner FROM pg_catalog.pg_proc p
				  WHERE p.oid = '@extschema@.set_credentials(text, text, text, text, boolean)'::pg_catalog.regprocedure)),
				('set_channel', (SELECT p.proacl FROM pg_catalog.pg_proc p
								 WHERE p.oid = '@extschema@.set_channel(text, text, boolean, interval)'::pg_catalog.regprocedure),
				 (SELECT p.proowner FROM pg_catalog.pg_proc p
				  WHERE p.oid = '@extschema@.set_channel(text, text, boolean, interval)'::pg_catalog.regprocedure)),
				('create_gate', (SELECT p.proacl FROM pg_catalog.pg_proc p
								 WHERE p.oid = '@extschema@.create_gate(text, text, text[], text, text, interval, text, text, text)'::pg_catalog.regprocedure),
				 (SELECT p.proowner FROM pg_catalog.pg_proc p
				  WHERE p.oid = '@extschema@.create_gate(text, text, text[], text, text, interval, text, text, text)'::pg_catalog.regprocedure)),
				('alter_slo', (SELECT p.proacl FROM pg_catalog.pg_proc p
							   WHERE p.oid = '@extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text)'::pg_catalog.regprocedure),
				 (SELECT p.proowner FROM pg_catalog.pg_proc p
				  WHERE p.oid = '@extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text)'::pg_catalog.regprocedure)),
				('runs_by_business_date', (SELECT c.relacl FROM pg_catalog.pg_class c
										   WHERE c.oid = '@extschema@.runs_by_business_date'::pg_catalog.regclass),
				 (SELECT c.relowner FROM pg_catalog.pg_class c
				  WHERE c.oid = '@extschema@.runs_by_business_date'::pg_catalog.regclass))
			  -- the schedule_ functions now create pg_cron jobs as their caller
			  -- through kant._cron_job and its helpers; deliver_notifications
			  -- now leaves each round to kant._deliver_round
			  UNION ALL
			  SELECT 'cron_helpers', p.proacl, p.proowner FROM pg_catalog.pg_proc p
			  WHERE p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
				AND p.proname OPERATOR(pg_catalog.~) '^(un)?schedule_'
			  UNION ALL
			  SELECT 'deliver_round', p.proacl, p.proowner FROM pg_catalog.pg_proc p
			  WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.deliver_notifications(double precision)'::pg_catalog.regprocedure
			 ) AS x(obj, acl, owner)
		CROSS JOIN LATERAL pg_catalog.aclexplode(x.acl) a
		WHERE a.grantee OPERATOR(pg_catalog.<>) x.owner), '[]'), true);
END
$$;

-- Who-may-do-what helpers (C): the caller of a SECURITY DEFINER function, a
-- user's condition run as its definer, secrets read by reference, URLs checked.
CREATE FUNCTION @extschema@._outer_role() RETURNS oid
	AS 'MODULE_PATHNAME', 'kant_outer_role'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._outer_role() IS
	'internal: the role that called kant from the outside (the session''s role after SET ROLE), which current_user no longer tells inside a SECURITY DEFINER function';
CREATE FUNCTION @extschema@._check_condition(fn regprocedure, role oid) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_check_condition'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@._check_condition(regprocedure, oid) IS
	'internal: raise unless role may use fn as a gate condition: fn(text, date) returns boolean, not temporary, role may execute it, and fn''s owner holds every privilege of role (42501 otherwise)';
CREATE FUNCTION @extschema@._call_condition(fn regprocedure, role oid, gate text, business_date date) RETURNS boolean
	AS 'MODULE_PATHNAME', 'kant_call_condition'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._call_condition(regprocedure, oid, text, date) IS
	'internal: a gate condition fn(gate, business_date) run as role, under SECURITY_RESTRICTED_OPERATION, read-only (transaction_read_only), with search_path pg_catalog, pg_temp; returns what fn returns, NULL included; the checks of kant._check_condition first';
CREATE FUNCTION @extschema@._secret_check(name text, source text, what text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_secret_check_sql'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@._secret_check(text, text, text) IS
	'internal: raise unless kant may read a secret from this environment variable (source env: kant.allowed_env_prefixes) or file (source file: a plain name in kant.secret_directory)';
CREATE FUNCTION @extschema@._raise_quietly(sqlstate text, message text, detail text, hint text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_raise_quietly'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._raise_quietly(text, text, text, text) IS
	'internal: raise an error without the statement in the server log (errhidestmt): for functions whose arguments hold a secret';
CREATE FUNCTION @extschema@._check_url(url text, what text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_check_url'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@._check_url(text, text) IS
	'internal: raise unless url is an http(s) URL whose host kant.allowed_hosts lets kant reach (names are judged again by their address when used); messages name the host only';
REVOKE ALL ON FUNCTION @extschema@._outer_role() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._check_condition(regprocedure, oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._call_condition(regprocedure, oid, text, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._secret_check(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._raise_quietly(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._check_url(text, text) FROM PUBLIC;

/*
 * The one rule for a gate's condition, for kant_gate_ready() and
 * gate_status() alike: it holds only when it returns true; false, NULL or an
 * error keep the gate closed, and why says which (an error is a WARNING for
 * the sensor, not an error: the gate is closed, not broken).  Cancel and
 * shutdown are not answers.
 */
CREATE FUNCTION @extschema@._gate_condition(fn regprocedure, role oid, gate text, business_date date,
		OUT holds boolean, OUT failed boolean, OUT why text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r boolean;
	-- a condition lost by the 0.6.0 migration is OID 0, which regprocedure prints as -
	what text := CASE WHEN fn::oid = 0 THEN 'the gate''s condition' ELSE fn::text END;
BEGIN
	r := @extschema@._call_condition(fn, role, gate, business_date);
	holds := coalesce(r, false);
	failed := false;
	why := format('%s returned %s', what, coalesce(r::text, 'NULL'))
		|| CASE WHEN r IS NULL THEN '; the gate stays closed' ELSE '' END;
EXCEPTION WHEN OTHERS THEN
	IF SQLSTATE IN ('57014', '57P01') THEN
		RAISE;
	END IF;
	holds := false;
	failed := true;
	why := format('%s failed: %s (%s); the gate stays closed', what, SQLERRM, SQLSTATE);
END
$$;
COMMENT ON FUNCTION @extschema@._gate_condition(regprocedure, oid, text, date) IS
	'internal: does a gate''s condition hold (kant._call_condition)? true only when it returns true; false, NULL and errors keep the gate closed; why names the function and what it did';
REVOKE ALL ON FUNCTION @extschema@._gate_condition(regprocedure, oid, text, date) FROM PUBLIC;

-- Small rules every concern below uses, each in one place.

CREATE FUNCTION @extschema@._utc(t timestamptz) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT rtrim(rtrim(to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z' $$;
COMMENT ON FUNCTION @extschema@._utc(timestamptz) IS
	'internal: an instant as ISO 8601 text in UTC (2026-03-05T01:10:00Z, fractions when there are any): how instants are written into jsonb and texts, whatever the session''s TimeZone and DateStyle';

CREATE FUNCTION @extschema@._elapsed(i interval) RETURNS interval
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT make_interval(secs => extract(epoch FROM $1)) $$;
COMMENT ON FUNCTION @extschema@._elapsed(interval) IS
	'internal: an interval as elapsed time (''2 days'' is 48 hours): added to an instant, it gives the same instant in every session''s zone, across DST';

CREATE FUNCTION @extschema@._alert_key(kind text, about text, id integer, business_date date) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT $1 || '/' || $2 || ':' || $3 || coalesce('/' || to_char($4::timestamp, 'YYYY-MM-DD'), '') $$;
COMMENT ON FUNCTION @extschema@._alert_key(text, text, integer, date) IS
	'internal: an alert''s key from ids: kind/job:<job_id>/<business date>, kind/slo:<slo_id>/<business date>, stale/system:<system_id>; unique whatever the names hold';

CREATE FUNCTION @extschema@._slack_escape(t text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT replace(replace(replace($1, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') $$;
COMMENT ON FUNCTION @extschema@._slack_escape(text) IS
	'internal: text for a Slack message: & < > as the entities Slack asks for (https://api.slack.com/reference/surfaces/formatting#escaping), so that a value cannot mention @channel or disguise a link';

CREATE FUNCTION @extschema@._url_part(t text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(string_agg(CASE WHEN c ~ '^[A-Za-z0-9._~-]$' THEN c
		ELSE regexp_replace(upper(encode(convert_to(c, 'UTF8'), 'hex')), '(..)', '%\1', 'g') END,
		'' ORDER BY i), '')
	FROM regexp_split_to_table($1, '') WITH ORDINALITY AS t(c, i)
	$$;
COMMENT ON FUNCTION @extschema@._url_part(text) IS
	'internal: text percent-encoded for one segment of a URL (RFC 3986 unreserved characters kept)';

---------------------------------------------------------------------------
-- Ingestion: bad records are quarantined alone
---------------------------------------------------------------------------

-- A record jsonb cannot hold (\u0000, a lone surrogate, a number numeric
-- refuses) is still kept whole: as text.
ALTER TABLE @extschema@.rejected ADD COLUMN record_text text;
COMMENT ON COLUMN @extschema@.rejected.record IS 'the record as it arrived (NULL when jsonb cannot hold it: see record_text)';
COMMENT ON COLUMN @extschema@.rejected.record_text IS 'the record''s text as it arrived, when jsonb cannot hold it (record is NULL then)';

-- A collector reads back over a window that overlaps the last collection, so
-- the same bad record came back every time and kant.rejected grew a row per
-- collection.  Now the same record (same system, source and content) rejected
-- again for the same reason counts on the row of its first sighting
-- (times_seen, last_seen_at, last_batch_id).  The unique dedup_key makes two
-- collections at once count it twice, never keep it twice.  Rows kept before
-- 0.6.0 have no key: they stay as they are, and a record among them rejected
-- again gets one keyed row more.
ALTER TABLE @extschema@.rejected
	ADD COLUMN record_sha256 bytea,
	ADD COLUMN dedup_key bytea,
	ADD COLUMN times_seen integer NOT NULL DEFAULT 1 CHECK (times_seen > 0),
	ADD COLUMN last_seen_at timestamptz,
	ADD COLUMN last_batch_id bigint REFERENCES @extschema@.ingest_batch ON DELETE SET NULL;
UPDATE @extschema@.rejected
SET record_sha256 = pg_catalog.sha256(pg_catalog.convert_to(coalesce(record::text, record_text), 'UTF8')),
	last_seen_at = rejected_at,
	last_batch_id = batch_id;
ALTER TABLE @extschema@.rejected
	ALTER COLUMN last_seen_at SET DEFAULT pg_catalog.clock_timestamp(),
	ALTER COLUMN last_seen_at SET NOT NULL;
CREATE UNIQUE INDEX ON @extschema@.rejected (dedup_key);
CREATE INDEX ON @extschema@.rejected (last_batch_id);
COMMENT ON TABLE @extschema@.rejected IS
	'Quarantine: every record kant could not ingest, whole, with the reason; nothing is dropped silently.  The same record rejected again for the same reason (a collector reading an overlapping window) is counted on its first row (times_seen), not kept again';
COMMENT ON COLUMN @extschema@.rejected.batch_id IS 'the payload the record first came in (see last_batch_id for the latest)';
COMMENT ON COLUMN @extschema@.rejected.item_index IS 'position of the record in the payload''s list (0-based), at its first sighting';
COMMENT ON COLUMN @extschema@.rejected.item_path IS 'SQL/JSON path of the offending field in the payload, at its first sighting';
COMMENT ON COLUMN @extschema@.rejected.rejected_at IS 'when it was first rejected';
COMMENT ON COLUMN @extschema@.rejected.record_sha256 IS 'SHA-256 of the record as kept: the text of record (jsonb), else record_text';
COMMENT ON COLUMN @extschema@.rejected.dedup_key IS 'SHA-256 of what makes two rejections the same: system, source, record_sha256, SQLSTATE, and the field and reason with the record''s place in its payload left out; unique (NULL for rows kept before 0.6.0)';
COMMENT ON COLUMN @extschema@.rejected.times_seen IS 'how many times the record was rejected for this reason: 1 at its first sighting, one more each time a payload brought it again';
COMMENT ON COLUMN @extschema@.rejected.last_seen_at IS 'when it was last rejected (rejected_at at its first sighting)';
COMMENT ON COLUMN @extschema@.rejected.last_batch_id IS 'the payload that brought it last (batch_id at its first sighting); NULL when that batch was deleted';

-- kant.keep_payloads keeps a text payload as the text it was: jsonb may
-- refuse a part of it that kant quarantined.
ALTER TABLE @extschema@.ingest_batch ADD COLUMN payload_text text;
COMMENT ON COLUMN @extschema@.ingest_batch.payload IS 'the payload, when kant.keep_payloads is on and it was passed as jsonb';
COMMENT ON COLUMN @extschema@.ingest_batch.payload_text IS 'the payload, when kant.keep_payloads is on and it was passed as text (kept as text: jsonb may not hold all of it)';
COMMENT ON COLUMN @extschema@.ingest_batch.received_by IS 'role that sent the payload: the session''s role after SET ROLE, not the functions'' owner (until 0.6.0: the session user)';

-- One job's day of many runs with many attempts (each up to 100000) must not
-- break the view for every reader: attempts is a bigint.
DROP VIEW @extschema@.runs_by_business_date;
CREATE VIEW @extschema@.runs_by_business_date AS
SELECT
	c.business_date,
	c.system,
	c.system_display_name,
	c.job,
	c.pipeline,
	count(*)::integer AS runs,
	sum(c.attempt)::bigint AS attempts,
	count(*) FILTER (WHERE c.state = 'succeeded')::integer AS succeeded,
	count(*) FILTER (WHERE c.state IN ('failed', 'timed_out', 'upstream_failed'))::integer AS failed,
	count(*) FILTER (WHERE c.state IN ('scheduled', 'queued', 'running', 'deferred', 'retrying'))::integer AS in_progress,
	count(*) FILTER (WHERE c.state IN ('cancelled', 'skipped'))::integer AS other,
	min(c.started_at) AS first_started_at,
	max(c.ended_at) AS last_ended_at,
	sum(c.duration_seconds)::numeric(14,3) AS total_duration_seconds,
	max(c.duration_seconds)::numeric(14,3) AS max_duration_seconds,
	round(extract(epoch FROM max(c.ended_at) - min(c.started_at)), 3)::numeric(14,3) AS span_seconds
FROM @extschema@.current_runs c
GROUP BY c.business_date, c.system, c.system_display_name, c.job, c.pipeline;
COMMENT ON VIEW @extschema@.runs_by_business_date IS
	'Per business date and job: the current attempts of its runs, how they ended, and how long they took';
COMMENT ON COLUMN @extschema@.runs_by_business_date.business_date IS 'date of the data';
COMMENT ON COLUMN @extschema@.runs_by_business_date.system IS 'system name';
COMMENT ON COLUMN @extschema@.runs_by_business_date.system_display_name IS 'system display name';
COMMENT ON COLUMN @extschema@.runs_by_business_date.job IS 'job name';
COMMENT ON COLUMN @extschema@.runs_by_business_date.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.runs_by_business_date.runs IS 'runs of the job for the date (mapped Airflow tasks: one per map index)';
COMMENT ON COLUMN @extschema@.runs_by_business_date.attempts IS 'attempts those runs took (sum of current attempt numbers; bigint: many runs of many attempts do not overflow it)';
COMMENT ON COLUMN @extschema@.runs_by_business_date.succeeded IS 'runs whose current attempt succeeded';
COMMENT ON COLUMN @extschema@.runs_by_business_date.failed IS 'runs whose current attempt failed, timed out or had an upstream failure';
COMMENT ON COLUMN @extschema@.runs_by_business_date.in_progress IS 'runs not finished yet';
COMMENT ON COLUMN @extschema@.runs_by_business_date.other IS 'runs cancelled or skipped';
COMMENT ON COLUMN @extschema@.runs_by_business_date.first_started_at IS 'earliest start';
COMMENT ON COLUMN @extschema@.runs_by_business_date.last_ended_at IS 'latest end';
COMMENT ON COLUMN @extschema@.runs_by_business_date.total_duration_seconds IS 'sum of the current attempts'' durations in seconds';
COMMENT ON COLUMN @extschema@.runs_by_business_date.max_duration_seconds IS 'longest current attempt in seconds';
COMMENT ON COLUMN @extschema@.runs_by_business_date.span_seconds IS 'first start to last end in seconds';

---------------------------------------------------------------------------
-- Collection
---------------------------------------------------------------------------

-- The acting calls validate their 2xx replies and return only the structured
-- fields of an error reply (cleaned and capped): their bodies reach action_log.
COMMENT ON FUNCTION @extschema@._airflow_post(text, text, text) IS
	'internal: POST a JSON body to an Airflow system''s REST API (its version, credentials, timeouts and retries); the status, the reply (a 2xx must be a JSON object, a DAG run for .../dagRuns, else 08P01; an error status gives only its problem document''s title and detail, cleaned and capped) and the API version';
COMMENT ON FUNCTION @extschema@._glue_call(text, text, text) IS
	'internal: one signed Glue request (its credentials, timeouts, throttling retries); the status, the reply (a 2xx must be a JSON object, with a JobRunId for StartJobRun, else 08P01; an error status gives only Glue''s error type and message, cleaned and capped) and the Glue error type';

-- A watermark moves only on runs the ingestion accepted, and never past the
-- start of the collection that moves it: a run Glue says starts in 2100 is
-- kept, but later collections page on past it.
COMMENT ON COLUMN @extschema@.collect_state.read_until IS
	'start of the newest run accepted (not quarantined) in a collection that read the job back to its previous watermark, but no later than that collection started; a value later than updated_at is read as updated_at';

---------------------------------------------------------------------------
-- Time zones, dates and styles: nothing depends on the session
---------------------------------------------------------------------------

-- "Today" is a date in a zone: the system's, never the session's (pgjdbc sets
-- the session's TimeZone to the JVM's, so two Tableau users saw two numbers).
CREATE OR REPLACE VIEW @extschema@.bi_job_duration AS
SELECT
	sy.name AS system,
	coalesce(sy.display_name, sy.name) AS system_display_name,
	j.pipeline,
	j.name AS job,
	count(*)::integer AS runs_28d,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds)::numeric, 3)::numeric(14,3) AS p50_seconds,
	round(percentile_cont(0.9) WITHIN GROUP (ORDER BY d.seconds)::numeric, 3)::numeric(14,3) AS p90_seconds,
	round(max(d.seconds)::numeric, 3)::numeric(14,3) AS max_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 0))::numeric, 3)::numeric(14,3) AS p50_week_0_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 1))::numeric, 3)::numeric(14,3) AS p50_week_1_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 2))::numeric, 3)::numeric(14,3) AS p50_week_2_seconds,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds) FILTER (WHERE d.week = 3))::numeric, 3)::numeric(14,3) AS p50_week_3_seconds,
	round((-regr_slope(d.seconds, d.days_ago) * 7)::numeric, 3)::numeric(14,3) AS trend_seconds_per_week
FROM @extschema@.job_run r
JOIN @extschema@.job j ON j.job_id = r.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
CROSS JOIN LATERAL (SELECT (pg_catalog.now() AT TIME ZONE sy.time_zone)::date AS today) t
CROSS JOIN LATERAL (
	SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS seconds,
		   (t.today - r.business_date) AS days_ago,
		   (t.today - r.business_date) / 7 AS week) d
WHERE r.state OPERATOR(@extschema@.=) 'succeeded' AND r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
  AND r.business_date > t.today - 28
GROUP BY sy.name, sy.display_name, j.pipeline, j.name;
COMMENT ON VIEW @extschema@.bi_job_duration IS
	'Per job over the last 28 business dates (counted back from today in the system''s zone): p50/p90/max duration of successful attempts, the weekly median and its trend; which job to parallelise or reschedule first';

CREATE OR REPLACE FUNCTION @extschema@.is_business_day(calendar text, day date) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT $1 IS NULL
		OR (EXISTS (SELECT FROM @extschema@.calendar c
					WHERE c.name = $1 AND extract(isodow FROM $2::timestamp)::integer = ANY (c.weekdays))
			AND NOT EXISTS (SELECT FROM @extschema@.holiday h WHERE h.calendar = $1 AND h.day = $2))
	$$;

-- Texts for people (alerts, Slack, gate_status, recovery) never turn a float8
-- into text: float8's text follows the session's extra_float_digits, and at
-- -15 twelve hours read "1e+01 h 00 min".  kant._human keeps 0.5.0's
-- arithmetic (float8 comparisons and trunc; round(float8) rounds half to even,
-- 2.5 s reads "2 s") and shows each number as numeric, so every text that
-- printed right before prints the same.
CREATE OR REPLACE FUNCTION @extschema@._human(seconds double precision)
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
		WHEN $1 IS NULL THEN NULL
		WHEN abs($1) >= 86400 THEN format('%s d %s h', trunc(abs($1) / 86400)::numeric, trunc(abs($1)::numeric % 86400 / 3600))
		WHEN abs($1) >= 3600 THEN format('%s h %s min', trunc(abs($1) / 3600)::numeric, lpad(trunc(abs($1)::numeric % 3600 / 60)::text, 2, '0'))
		WHEN abs($1) >= 60 THEN format('%s min', trunc(abs($1) / 60)::numeric)
		ELSE format('%s s', round(abs($1))::numeric) END
	$$;
COMMENT ON FUNCTION @extschema@._human(double precision) IS
	'internal: a duration for people (1 h 05 min, 12 min, 40 s), the same text in every session';

-- Every function runs with search_path pg_catalog, pg_temp: no operator or
-- function a caller's search_path offers can stand in for pg_catalog's.  (The
-- one exception, deliver_notifications, is written with OPERATOR(pg_catalog.x).)
ALTER FUNCTION @extschema@.slo_deadline(integer, date) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.schedule_slo_refresh(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.schedule_checks(text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.unschedule_checks() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.schedule_gate_triggers(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.unschedule_gate_triggers() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.schedule_recovery(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.unschedule_recovery() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@._airflow_post(text, text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@._glue_call(text, text, text) SET search_path = pg_catalog, pg_temp;

-- expand_schedules: its 0.6.0 definition is made once, below (Right about the schedulers)

-- silence: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) IS
	'Mute alerts of a system / job / pipeline / kind (NULL: any) for a duration or until a time, with a reason; returns the silence id';
REVOKE ALL ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;

-- refused: Glue does not report the run as failed (GetJobRun), so kant never restarts it
ALTER TABLE @extschema@.action_log DROP CONSTRAINT action_log_outcome_check;
ALTER TABLE @extschema@.action_log ADD CONSTRAINT action_log_outcome_check
	CHECK (outcome IN ('done', 'already', 'failed', 'dry_run', 'skipped', 'refused'));
DROP INDEX @extschema@.action_log_recover_once;
CREATE UNIQUE INDEX action_log_recover_once ON @extschema@.action_log (job_id, target)
	WHERE kind = 'recover' AND outcome IN ('done', 'already', 'dry_run', 'refused');
COMMENT ON COLUMN @extschema@.action_log.outcome IS
	'done, already (409 / a run in flight), failed (tried again by the next call), dry_run, skipped (a reason not to act now, logged once), refused (Glue does not report the run as failed: never restarted)';

-- recover_failed_runs: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.recover_failed_runs(boolean) IS
	'Restart failed Glue runs of jobs with a recovery policy (GetJobRun first: only a run Glue reports as FAILED, TIMEOUT or ERROR, else refused; then StartJobRun with its id and Glue''s arguments for it) while their p90 fits before the deadline, at most max_attempts per business date, never twice for one failed run, never while a run is in flight; every action and every reason to skip in kant.action_log';
REVOKE ALL ON FUNCTION @extschema@.recover_failed_runs(boolean) FROM PUBLIC;

-- trigger_ready_gates: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.trigger_ready_gates(boolean) IS
	'Trigger each ready gate''s downstream DAG once per business date, from the gate''s trigger_from on and lookback_days back from today in the downstream system''s zone (deterministic dag_run_id; 409 counts as done), logging every outcome in kant.action_log; dry_run only logs';
REVOKE ALL ON FUNCTION @extschema@.trigger_ready_gates(boolean) FROM PUBLIC;

---------------------------------------------------------------------------
-- Security: user code, operators, secrets, hosts
---------------------------------------------------------------------------

-- A gate's condition: the function by OID, and the role it runs as.  A
-- condition set before 0.6.0 was a name resolved at each call and run as
-- kant's owner: it is resolved once now and runs as the function's owner
-- (who can change its body anyway); one that no longer resolves keeps the
-- gate closed (OID 0: "no longer exists") until the gate is made again.
ALTER TABLE @extschema@.gate ADD COLUMN condition_role regrole;
UPDATE @extschema@.gate g SET condition_role = p.proowner::regrole
FROM pg_catalog.pg_proc p
WHERE g.condition IS NOT NULL AND p.oid = pg_catalog.to_regprocedure(g.condition || '(text, date)');
ALTER TABLE @extschema@.gate ALTER COLUMN condition TYPE regprocedure
	USING CASE WHEN condition IS NULL THEN NULL
			   ELSE coalesce(pg_catalog.to_regprocedure(condition || '(text, date)'), 0::oid::regprocedure) END;
UPDATE @extschema@.gate g SET condition_role = 0::oid::regrole
WHERE g.condition IS NOT NULL AND g.condition_role IS NULL;
ALTER TABLE @extschema@.gate ADD CONSTRAINT gate_condition_role CHECK ((condition IS NULL) = (condition_role IS NULL));
COMMENT ON COLUMN @extschema@.gate.condition IS 'hook for data-quality checks: a function f(gate text, business_date date) RETURNS boolean that must also be true, kept by OID';
COMMENT ON COLUMN @extschema@.gate.condition_role IS 'the role the condition runs as: the role that created the gate (never kant''s owner)';

-- Secrets by reference: an environment variable of the server, or a file in
-- kant.secret_directory, read when used.
ALTER TABLE @extschema@.credential ADD COLUMN from_file boolean NOT NULL DEFAULT false,
	ADD CONSTRAINT credential_one_source CHECK (NOT (from_env AND from_file));
COMMENT ON COLUMN @extschema@.credential.from_file IS 'true: the other columns name files in kant.secret_directory that hold them';
COMMENT ON TABLE @extschema@.credential IS
	'Collector credentials, readable only by the extension owner (no grants, no view): an AWS access key pair (and session token) or an Airflow user and password; with from_env the names of environment variables of the server that hold them, with from_file the names of files in kant.secret_directory';
ALTER TABLE @extschema@.channel ADD COLUMN from_file boolean NOT NULL DEFAULT false,
	ADD CONSTRAINT channel_one_source CHECK (NOT (from_env AND from_file));
COMMENT ON COLUMN @extschema@.channel.from_file IS 'true: webhook_url names a file in kant.secret_directory holding it';
COMMENT ON COLUMN @extschema@.channel.webhook_url IS 'the incoming webhook URL (a secret), or with from_env / from_file the server environment variable / secret file holding it';

/*
 * Who may point kant at a secret of the server (an environment variable, a
 * secret file): only a role that may change where such secrets may come
 * from -- SET on kant.allowed_env_prefixes or kant.secret_directory, a
 * superuser's unless granted (GRANT SET ON PARAMETER, PostgreSQL 15).
 * Otherwise an admin could give a new system of its own, pointed at its own
 * host, the server's KANT_ variables and have kant send them there.
 */
CREATE FUNCTION @extschema@._check_reference_right(source text)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	param text := CASE source WHEN 'env' THEN 'kant.allowed_env_prefixes' ELSE 'kant.secret_directory' END;
	who oid := @extschema@._outer_role();
BEGIN
	IF NOT has_parameter_privilege(who, param, 'SET') THEN
		RAISE EXCEPTION 'role "%" may not name the server''s % as a secret', pg_get_userbyid(who),
			CASE source WHEN 'env' THEN 'environment variables' ELSE 'secret files' END
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A secret of the server goes wherever the system it is set for points; naming one is the decision of who decides which ones kant may read.',
				  HINT = format('A superuser sets it, or grants the right: GRANT SET ON PARAMETER %s TO %I;', param, pg_get_userbyid(who));
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_reference_right(text) IS
	'internal: raise (42501) unless the calling role may SET kant.allowed_env_prefixes (source env) or kant.secret_directory (source file): only it may name the server''s secrets for a system or channel';
REVOKE ALL ON FUNCTION @extschema@._check_reference_right(text) FROM PUBLIC;

-- set_credentials and set_channel take from_file too (a new signature: grants
-- on the old one must be given again, see the README); their errors never
-- put the call, secret and all, into the server log.
DROP FUNCTION @extschema@.set_credentials(text, text, text, text, boolean);
/*
 * kant.set_credentials runs as its caller, to know who that is (kant_as_caller, src/gate.c):
 * the role whose code calls it, not the outer role a SECURITY DEFINER
 * function of another role would show; kant._set_credentials_impl does the work.
 */
CREATE FUNCTION @extschema@.set_credentials(system text, principal text, secret text,
		session_token text DEFAULT NULL, from_env boolean DEFAULT false, from_file boolean DEFAULT false)
	RETURNS void
	AS 'MODULE_PATHNAME', 'kant_as_caller'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.set_credentials(text, text, text, text, boolean, boolean) IS
	'Set or rotate a system''s collector credentials (stored where only the extension owner reads them), bound to the system''s kind and endpoint host now (set the endpoint first; the collector refuses them once the system points elsewhere); with from_env => true the arguments name environment variables of the server (prefixes in kant.allowed_env_prefixes), with from_file => true files in kant.secret_directory: read when used, never in SQL text, and named only by a role that may SET kant.allowed_env_prefixes / kant.secret_directory (42501). Errors are not logged with the statement.';
REVOKE ALL ON FUNCTION @extschema@.set_credentials(text, text, text, text, boolean, boolean) FROM PUBLIC;
CREATE FUNCTION @extschema@._set_credentials_impl(system text, principal text, secret text,
		session_token text DEFAULT NULL, from_env boolean DEFAULT false, from_file boolean DEFAULT false)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	k text;
	target text;
	src text := CASE WHEN from_file THEN 'file' WHEN from_env THEN 'env' END;
	d text;
	h text;
BEGIN
	SELECT s.system_id, s.kind INTO sid, k FROM @extschema@.system s WHERE s.name = _set_credentials_impl.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF coalesce(secret, '') = '' OR (coalesce(principal, '') = '' AND k <> 'airflow') THEN
		RAISE EXCEPTION 'principal and secret must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'AWS: the access key id and secret access key; Airflow: user and password, or NULL and a bearer token.';
	END IF;
	IF from_env AND from_file THEN
		RAISE EXCEPTION 'a credential comes from the environment or from files, not both'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- bound to the kind and host they are set for (the collector refuses them elsewhere)
	SELECT @extschema@._credential_target(s.kind, s.endpoint, s.region) INTO target
	FROM @extschema@.system s WHERE s.system_id = sid;
	IF target IS NULL THEN
		RAISE EXCEPTION 'system "%" has no endpoint%', system, CASE WHEN k = 'glue' THEN ' or region' ELSE '' END
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Credentials are bound to the host they are set for.',
				  HINT = format('Set it first: kant.set_endpoint(%L, %s).', system,
								CASE WHEN k = 'glue' THEN 'region => ''ap-northeast-1''' ELSE '''https://<your Airflow web server>''' END);
	END IF;
	IF src IS NOT NULL THEN
		PERFORM @extschema@._check_reference_right(src);
		-- named as the collectors call them (collect_glue.c, collect_airflow.c): AWS's access key id and secret, Airflow's user and password
		PERFORM @extschema@._secret_check(NULLIF(principal, ''), src,
			CASE WHEN k = 'glue' THEN 'access key id' ELSE 'user' END)
		WHERE coalesce(principal, '') <> '';
		PERFORM @extschema@._secret_check(secret, src,
			CASE WHEN k = 'glue' THEN 'secret access key' WHEN principal IS NULL OR principal = '' THEN 'token' ELSE 'password' END);
		PERFORM @extschema@._secret_check(session_token, src, 'session token')
		WHERE coalesce(session_token, '') <> '';
		PERFORM @extschema@._warn_session_settings(ARRAY['kant.secret_directory']) WHERE src = 'file';
	END IF;
	INSERT INTO @extschema@.credential AS c (system_id, from_env, from_file, principal, secret, session_token,
		bound_to)
	VALUES (sid, coalesce(from_env, false), coalesce(from_file, false), NULLIF(principal, ''), secret,
		NULLIF(session_token, ''), target)
	ON CONFLICT (system_id) DO UPDATE SET from_env = excluded.from_env, from_file = excluded.from_file,
		principal = excluded.principal, secret = excluded.secret,
		session_token = excluded.session_token, bound_to = excluded.bound_to, updated_at = now();
	-- a token obtained with the old secret (Airflow 3's JWT, an assumed role) goes with it
	PERFORM @extschema@._drop_token(sid);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	PERFORM @extschema@._raise_quietly(SQLSTATE, SQLERRM, NULLIF(d, ''), NULLIF(h, ''));
END
$$;
COMMENT ON FUNCTION @extschema@._set_credentials_impl(text, text, text, text, boolean, boolean) IS
	'internal: kant.set_credentials, run by it as the extension''s owner for the role whose code called it (kant._outer_role() answers that role meanwhile; src/gate.c kant_as_caller)';
REVOKE ALL ON FUNCTION @extschema@._set_credentials_impl(text, text, text, text, boolean, boolean) FROM PUBLIC;

DROP FUNCTION @extschema@.set_channel(text, text, boolean, interval);
/*
 * kant.set_channel runs as its caller, to know who that is (kant_as_caller, src/gate.c):
 * the role whose code calls it, not the outer role a SECURITY DEFINER
 * function of another role would show; kant._set_channel_impl does the work.
 */
CREATE FUNCTION @extschema@.set_channel(name text, webhook_url text, from_env boolean DEFAULT false,
		min_interval interval DEFAULT '1 second', from_file boolean DEFAULT false)
	RETURNS void
	AS 'MODULE_PATHNAME', 'kant_as_caller'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.set_channel(text, text, boolean, interval, boolean) IS
	'Add or rotate a Slack incoming webhook (a secret, kept in kant.channel, readable by the extension owner only), or name a server environment variable (from_env) or a file in kant.secret_directory (from_file) holding it; its host must be one kant.allowed_hosts allows. Errors are not logged with the statement.';
REVOKE ALL ON FUNCTION @extschema@.set_channel(text, text, boolean, interval, boolean) FROM PUBLIC;
CREATE FUNCTION @extschema@._set_channel_impl(name text, webhook_url text, from_env boolean DEFAULT false,
		min_interval interval DEFAULT '1 second', from_file boolean DEFAULT false)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d text;
	h text;
BEGIN
	IF name IS NULL OR name !~ '^[a-z0-9_][a-z0-9_.-]*$' OR length(name) > 100 THEN
		RAISE EXCEPTION 'invalid channel name "%"', name
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use lower-case letters, digits, _ . -, e.g. data-platform-alerts.';
	END IF;
	IF webhook_url IS NULL OR btrim(webhook_url) = '' THEN
		RAISE EXCEPTION 'webhook_url must be given' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'The Slack incoming webhook URL (https://hooks.slack.com/services/...), or with from_env / from_file the name of a server environment variable / secret file.';
	END IF;
	IF from_env AND from_file THEN
		RAISE EXCEPTION 'a webhook comes from the environment or from a file, not both'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF from_env OR from_file THEN
		PERFORM @extschema@._check_reference_right(CASE WHEN from_file THEN 'file' ELSE 'env' END);
		PERFORM @extschema@._secret_check(btrim(webhook_url), CASE WHEN from_file THEN 'file' ELSE 'env' END,
										  'webhook URL of channel ' || name);
	ELSE
		-- never echo the URL: it is a secret (messages name the host only)
		PERFORM @extschema@._check_url(btrim(webhook_url), 'webhook URL of channel ' || name);
	END IF;
	IF min_interval IS NULL OR min_interval < '0' THEN
		RAISE EXCEPTION 'min_interval must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO @extschema@.channel AS c (name, webhook_url, from_env, from_file, min_interval)
	VALUES (_set_channel_impl.name, btrim(webhook_url), coalesce(from_env, false), coalesce(from_file, false), min_interval)
	ON CONFLICT ON CONSTRAINT channel_pkey DO UPDATE SET webhook_url = excluded.webhook_url,
		from_env = excluded.from_env, from_file = excluded.from_file, min_interval = excluded.min_interval;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	PERFORM @extschema@._raise_quietly(SQLSTATE, SQLERRM, NULLIF(d, ''), NULLIF(h, ''));
END
$$;
COMMENT ON FUNCTION @extschema@._set_channel_impl(text, text, boolean, interval, boolean) IS
	'internal: kant.set_channel, run by it as the extension''s owner for the role whose code called it (kant._outer_role() answers that role meanwhile; src/gate.c kant_as_caller)';
REVOKE ALL ON FUNCTION @extschema@._set_channel_impl(text, text, boolean, interval, boolean) FROM PUBLIC;

-- last_sent_at said "posted" but was set by failed attempts too; the spacing
-- of requests (min_interval) counts every attempt, so it has its own column
ALTER TABLE @extschema@.channel ADD COLUMN last_attempt_at timestamptz;
UPDATE @extschema@.channel SET last_attempt_at = last_sent_at;
COMMENT ON COLUMN @extschema@.channel.last_attempt_at IS 'when kant last sent a request to the webhook, answered or not (min_interval spaces these)';
COMMENT ON COLUMN @extschema@.channel.last_sent_at IS 'when a message was last posted (Slack answered 2xx)';

CREATE OR REPLACE VIEW @extschema@.channels AS
SELECT c.name,
	CASE WHEN c.from_env THEN 'env:' || c.webhook_url
		 WHEN c.from_file THEN 'file:' || c.webhook_url
		 ELSE substring(c.webhook_url FROM '^[A-Za-z]+://[^/]+') || '/…' END AS webhook,
	c.min_interval, c.last_sent_at,
	(SELECT count(*) FROM @extschema@.notification n WHERE n.channel = c.name AND n.status = 'pending') AS pending,
	(SELECT count(*) FROM @extschema@.notification n WHERE n.channel = c.name AND n.status = 'failed') AS failed,
	c.last_attempt_at
FROM @extschema@.channel c;
COMMENT ON COLUMN @extschema@.channels.last_sent_at IS 'when a message was last posted (Slack answered 2xx)';
COMMENT ON COLUMN @extschema@.channels.last_attempt_at IS 'when kant last sent a request to the webhook, answered or not';
COMMENT ON COLUMN @extschema@.channels.webhook IS 'the webhook''s scheme and host (the path is a secret), env:VARIABLE or file:NAME';

-- endpoints: http(s), a host kant.allowed_hosts lets kant reach, no credentials
-- in the URL (add_system, alter_system and set_endpoint alike)
CREATE FUNCTION @extschema@._check_endpoint(endpoint text, system text)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM @extschema@._check_url(endpoint, 'endpoint of system ' || system);
	-- credentials belong in kant.credential, not in a URL others may read
	IF endpoint ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@' THEN
		RAISE EXCEPTION 'the endpoint of system % carries credentials', system
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give the URL without user:password@ and set them with kant.set_credentials().';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_endpoint(text, text) IS
	'internal: raise unless an endpoint is an http(s) URL to a host kant.allowed_hosts allows, without user:password@ (22023, 42501)';
REVOKE ALL ON FUNCTION @extschema@._check_endpoint(text, text) FROM PUBLIC;

/*
 * Credentials are bound to the kind and host they were set for: the
 * system's kind, and the scheme, host and port of its endpoint (for Glue
 * without one, AWS's endpoint of its region), not its path.  The collector
 * refuses them when the system no longer matches (collect.c, collect_check_binding).
 */
CREATE FUNCTION @extschema@._credential_target(kind text, endpoint text, region text)
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
		WHEN $2 IS NOT NULL THEN
			(SELECT $1 || ' ' || lower(m[1]) || '://' || lower(m[2]) || ':'
				|| coalesce(NULLIF(m[3], ''), CASE lower(m[1]) WHEN 'https' THEN '443' ELSE '80' END)
			 FROM regexp_match($2, '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#]*@)?(\[[^]/?#]*\]|[^:/?#]*)(?::([0-9]*))?') AS m)
		WHEN $1 = 'glue' AND $3 IS NOT NULL THEN 'glue https://glue.' || lower($3) || '.amazonaws.com:443'
		END
	$$;
COMMENT ON FUNCTION @extschema@._credential_target(text, text, text) IS
	'internal: what a system''s credentials are bound to: its kind, and its endpoint''s scheme, host and port (Glue without an endpoint: https://glue.<region>.amazonaws.com:443); NULL without either';
REVOKE ALL ON FUNCTION @extschema@._credential_target(text, text, text) FROM PUBLIC;

ALTER TABLE @extschema@.credential ADD COLUMN bound_to text;
COMMENT ON COLUMN @extschema@.credential.bound_to IS
	'the kind and host the credentials were set for (kant._credential_target); the collector refuses them for any other';
-- the credentials held now were set for the endpoints held now
UPDATE @extschema@.credential c SET bound_to = @extschema@._credential_target(s.kind, s.endpoint, s.region)
FROM @extschema@.system s WHERE s.system_id = c.system_id;

/* Say so when a change of endpoint, region or kind unbinds a system's credentials. */
CREATE FUNCTION @extschema@._warn_unbound(system_id integer)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT s.name, x.bound_to, x.what, x.fn, @extschema@._credential_target(s.kind, s.endpoint, s.region) AS now_to
		FROM @extschema@.system s
		JOIN (SELECT c.system_id, c.bound_to, 'credentials' AS what, 'set_credentials' AS fn FROM @extschema@.credential c
			  UNION ALL
			  SELECT c.system_id, c.bound_to, 'credentials from source ' || c.source, 'set_credential_source' FROM @extschema@.credential_source c) x
		  ON x.system_id = s.system_id
		WHERE s.system_id = $1
	LOOP
		IF r.bound_to IS DISTINCT FROM r.now_to THEN
			RAISE NOTICE 'the % of system "%" were set for %; it now points at %: they will not be used there',
				r.what, r.name, coalesce(r.bound_to, 'no endpoint'), coalesce(r.now_to, 'no endpoint')
				USING HINT = format('Set them again for the new endpoint: kant.%s(%L, ...).', r.fn, r.name);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._warn_unbound(integer) IS
	'internal: a NOTICE when a system''s credentials no longer match its kind and host';
REVOKE ALL ON FUNCTION @extschema@._warn_unbound(integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.set_endpoint(system text, endpoint text DEFAULT NULL,
		region text DEFAULT NULL, max_parallel integer DEFAULT NULL,
		overlap interval DEFAULT NULL, connect_timeout interval DEFAULT NULL,
		timeout interval DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
BEGIN
	IF endpoint IS NOT NULL THEN
		PERFORM @extschema@._check_endpoint(endpoint, system);
	END IF;
	IF region IS NOT NULL AND region !~ '^[a-z]{2}(-[a-z]+)+-[0-9]+$' THEN
		RAISE EXCEPTION 'invalid AWS region "%"', region
			USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ap-northeast-1';
	END IF;
	IF max_parallel IS NOT NULL AND max_parallel NOT BETWEEN 1 AND 64 THEN
		RAISE EXCEPTION 'max_parallel % is out of range', max_parallel
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use 1 to 64.';
	END IF;
	IF connect_timeout IS NOT NULL AND (connect_timeout <= interval '0' OR connect_timeout > interval '10 minutes')
	   OR timeout IS NOT NULL AND (timeout <= interval '0' OR timeout > interval '1 hour') THEN
		RAISE EXCEPTION 'timeouts must be positive (connect at most 10 minutes, a request at most an hour)'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE @extschema@.system s SET
		connect_timeout_ms = coalesce((extract(epoch FROM connect_timeout) * 1000)::integer, s.connect_timeout_ms),
		timeout_ms = coalesce((extract(epoch FROM timeout) * 1000)::integer, s.timeout_ms),
		endpoint = coalesce(set_endpoint.endpoint, s.endpoint),
		region = coalesce(set_endpoint.region, s.region),
		max_parallel = coalesce(set_endpoint.max_parallel, s.max_parallel),
		collect_overlap_seconds = coalesce(extract(epoch FROM overlap)::integer, s.collect_overlap_seconds)
	WHERE s.name = set_endpoint.system
	RETURNING s.system_id INTO sid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	PERFORM @extschema@._warn_unbound(sid);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.add_system(
	name text,
	kind text,
	time_zone text DEFAULT 'UTC',
	display_name text DEFAULT NULL,
	description text DEFAULT NULL,
	bd_argument text DEFAULT NULL,
	bd_offset_days integer DEFAULT 0,
	bd_day_start time DEFAULT '00:00',
	default_pipeline text DEFAULT NULL,
	ol_namespace text DEFAULT NULL,
	endpoint text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	new_id integer;
BEGIN
	PERFORM @extschema@._check_system_args(kind, time_zone, bd_offset_days);
	IF endpoint IS NOT NULL THEN
		PERFORM @extschema@._check_endpoint(endpoint, name);
	END IF;
	IF name IS NULL OR name = '' OR name <> btrim(name) THEN
		RAISE EXCEPTION 'invalid system name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A system name is not empty and has no surrounding blanks, e.g. hegel.';
	END IF;
	IF EXISTS (SELECT FROM @extschema@.system s WHERE s.name = add_system.name) THEN
		RAISE EXCEPTION 'system "%" already exists', name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Change it with kant.alter_system().';
	END IF;
	INSERT INTO @extschema@.system AS s (name, kind, time_zone, display_name, description,
		bd_argument, bd_offset_days, bd_day_start, default_pipeline, ol_namespace, endpoint)
	VALUES (add_system.name, add_system.kind, add_system.time_zone, add_system.display_name,
		add_system.description, add_system.bd_argument, add_system.bd_offset_days,
		add_system.bd_day_start, add_system.default_pipeline, add_system.ol_namespace,
		add_system.endpoint)
	RETURNING s.system_id INTO new_id;
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION @extschema@.add_system(text, text, text, text, text, text, integer, time, text, text, text) IS
	'Register a system (kind glue, airflow, openlineage or manual) with its time zone and business-date defaults';

CREATE OR REPLACE FUNCTION @extschema@.alter_system(
	name text,
	kind text DEFAULT NULL,
	time_zone text DEFAULT NULL,
	display_name text DEFAULT NULL,
	description text DEFAULT NULL,
	bd_argument text DEFAULT NULL,
	bd_offset_days integer DEFAULT NULL,
	bd_day_start time DEFAULT NULL,
	default_pipeline text DEFAULT NULL,
	ol_namespace text DEFAULT NULL,
	endpoint text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
BEGIN
	PERFORM @extschema@._check_system_args(kind, time_zone, bd_offset_days);
	IF endpoint IS NOT NULL THEN
		PERFORM @extschema@._check_endpoint(endpoint, name);
	END IF;
	UPDATE @extschema@.system s SET
		kind = coalesce(alter_system.kind, s.kind),
		time_zone = coalesce(alter_system.time_zone, s.time_zone),
		display_name = coalesce(alter_system.display_name, s.display_name),
		description = coalesce(alter_system.description, s.description),
		bd_argument = coalesce(alter_system.bd_argument, s.bd_argument),
		bd_offset_days = coalesce(alter_system.bd_offset_days, s.bd_offset_days),
		bd_day_start = coalesce(alter_system.bd_day_start, s.bd_day_start),
		default_pipeline = coalesce(alter_system.default_pipeline, s.default_pipeline),
		ol_namespace = coalesce(alter_system.ol_namespace, s.ol_namespace),
		endpoint = coalesce(alter_system.endpoint, s.endpoint),
		auto_registered = false
	WHERE s.name = alter_system.name
	RETURNING s.system_id INTO sid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'system "%" does not exist', name
			USING ERRCODE = 'undefined_object',
				  HINT = 'Register it with kant.add_system().';
	END IF;
	PERFORM @extschema@._warn_unbound(sid);
END
$$;
COMMENT ON FUNCTION @extschema@.alter_system(text, text, text, text, text, text, integer, time, text, text, text) IS
	'Change a system''s settings; arguments left NULL are unchanged. Business dates already stored are not re-derived.';

/*
 * A gate added to a running platform must not start the downstream DAG for
 * days that already ran under the old flow: it triggers from trigger_from
 * on (by default the day it is created, in the downstream system's zone),
 * at most lookback_days back.  Airflow 3 made catchup=False the default for
 * the same reason (apache/airflow#47354, [scheduler] catchup_by_default: a
 * new DAG with a start date in the past does not run the past).
 */
ALTER TABLE @extschema@.gate ADD COLUMN trigger_from date;
COMMENT ON COLUMN @extschema@.gate.trigger_from IS
	'kant.trigger_ready_gates() triggers business dates from this one on (create_gate''s default: the day the gate was created, in the downstream system''s zone; NULL: no limit but lookback_days, as gates created before 0.6.0)';

DROP FUNCTION @extschema@.create_gate(text, text, text[], text, text, interval, text, text, text);
CREATE FUNCTION @extschema@.create_gate(name text, pipeline text DEFAULT NULL, jobs text[] DEFAULT NULL,
		downstream_system text DEFAULT NULL, downstream_dag text DEFAULT NULL,
		stale_after interval DEFAULT '2 hours', when_stale text DEFAULT 'closed',
		condition text DEFAULT NULL, description text DEFAULT NULL,
		trigger_from date DEFAULT NULL, lookback_days integer DEFAULT 2)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids integer[];
	sid integer;
	gid integer;
	fn regprocedure;
	caller oid := @extschema@._outer_role();
BEGIN
	IF name IS NULL OR btrim(name) = '' THEN
		RAISE EXCEPTION 'a gate needs a name' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF EXISTS (SELECT FROM @extschema@.gate g WHERE g.name = create_gate.name) THEN
		RAISE EXCEPTION 'gate "%" already exists', name
			USING ERRCODE = 'duplicate_object', HINT = 'Drop it first with kant.drop_gate().';
	END IF;
	ids := @extschema@._slo_scope_jobs(pipeline, jobs);
	IF (downstream_system IS NULL) <> (downstream_dag IS NULL) THEN
		RAISE EXCEPTION 'give both downstream_system and downstream_dag, or neither'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'kant.create_gate(''socrates_daily'', pipeline => ''hegel_nightly'', downstream_system => ''socrates'', downstream_dag => ''s3_to_gcs'').';
	END IF;
	-- a DAG id as Airflow allows it (KEY_REGEX ^[\w.-]+$, at most 250 characters:
	-- airflow/utils/helpers.py validate_key): it goes into the trigger's URL
	IF downstream_dag IS NOT NULL AND (downstream_dag !~ '^[\w.-]+$' OR length(downstream_dag) > 250) THEN
		RAISE EXCEPTION 'downstream_dag "%" is not an Airflow DAG id', downstream_dag
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A DAG id is letters, digits, _ . - (at most 250), as Airflow''s own check says.';
	END IF;
	IF downstream_system IS NOT NULL THEN
		SELECT s.system_id INTO sid FROM @extschema@.system s
		WHERE s.name = downstream_system AND s.kind = 'airflow';
		IF sid IS NULL THEN
			RAISE EXCEPTION 'downstream_system "%" is not an Airflow system', downstream_system
				USING ERRCODE = 'invalid_parameter_value', HINT = 'See SELECT name, kind FROM kant.system;';
		END IF;
	END IF;
	IF when_stale IS NULL OR when_stale NOT IN ('closed', 'open') THEN
		RAISE EXCEPTION 'when_stale must be closed or open' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'closed (the default) keeps the gate shut while upstream data is stale.';
	END IF;
	IF stale_after IS NULL OR stale_after <= '0' THEN
		RAISE EXCEPTION 'stale_after must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF lookback_days IS NULL OR lookback_days NOT BETWEEN 0 AND 31 THEN
		RAISE EXCEPTION 'lookback_days must be between 0 and 31, not %', coalesce(lookback_days::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'How many days back kant.trigger_ready_gates() looks for a business date that became ready late (default 2).';
	END IF;
	IF (trigger_from IS NOT NULL OR lookback_days <> 2) AND downstream_dag IS NULL THEN
		RAISE EXCEPTION 'trigger_from and lookback_days are for a gate that triggers a downstream DAG'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give downstream_system and downstream_dag too.';
	END IF;
	IF sid IS NOT NULL THEN
		trigger_from := coalesce(trigger_from,
			(now() AT TIME ZONE (SELECT s.time_zone FROM @extschema@.system s WHERE s.system_id = sid))::date);
	END IF;
	-- the function, by OID, now: never a name resolved later
	IF condition IS NOT NULL THEN
		fn := to_regprocedure(condition || '(text, date)');
		IF fn IS NULL THEN
			RAISE EXCEPTION 'condition "%" is not a function (text, date)', condition
				USING ERRCODE = 'undefined_function', HINT = 'Create f(gate text, business_date date) RETURNS boolean, and name it schema-qualified.';
		END IF;
		-- it will run as the caller: the caller may execute it, and its owner holds the caller's rights
		PERFORM @extschema@._check_condition(fn, caller);
	END IF;
	INSERT INTO @extschema@.gate (name, pipeline, downstream_system_id, downstream_dag_id, stale_after,
		when_stale, condition, condition_role, description, trigger_from, lookback_days)
	VALUES (name, pipeline, sid, downstream_dag, stale_after, when_stale, fn,
		CASE WHEN fn IS NOT NULL THEN caller::regrole END, description, trigger_from, lookback_days)
	RETURNING gate_id INTO gid;
	INSERT INTO @extschema@.gate_job (gate_id, job_id) SELECT DISTINCT gid, x FROM unnest(ids) AS x;
	RETURN gid;
END
$$;
COMMENT ON FUNCTION @extschema@.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer) IS
	'Create a gate: upstream jobs (a pipeline and/or system/job list), the Airflow DAG it starts (optional) from business date trigger_from on (default: today in the downstream system''s zone; no catch-up of days that already ran) and up to lookback_days (0-31, default 2) back, the staleness limit and policy, an optional condition function f(gate text, business_date date) RETURNS boolean, named schema-qualified, kept by OID and run read-only as the role that creates the gate; returns the gate id';
REVOKE ALL ON FUNCTION @extschema@.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer) FROM PUBLIC;

/*
 * Is a job required for a business date?  When it ran or was expected that
 * day, or when no expanded, active schedule covers that day; a scheduled job
 * without a slot that day (a holiday) is not.
 */
CREATE OR REPLACE FUNCTION @extschema@._gate_required(job_id integer, business_date date)
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM @extschema@.job_run r WHERE r.business_date = $2 AND r.job_id = $1)
		OR EXISTS (SELECT FROM @extschema@.expected_run x WHERE x.job_id = $1 AND x.business_date = $2)
		OR NOT EXISTS (SELECT FROM @extschema@.schedule x
					   WHERE x.job_id = $1 AND x.active_from <= $2
						 AND (x.active_until IS NULL OR x.active_until >= $2)
						 AND x.expanded_until >= ($2 + 3)::timestamp AT TIME ZONE 'UTC')
	$$;
COMMENT ON FUNCTION @extschema@._gate_required(integer, date) IS
	'internal: a gate waits for this job on this business date (it ran or was expected, or no schedule covers the day)';

/*
 * Each upstream job's state for a business date (kant._gate_required says
 * which are not_required), each stale upstream system, and the gate's
 * condition (run as the role that defined it).
 */
-- gate_status: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.gate_status(text, date) IS
	'Why a gate is (not) open for a business date: each upstream job''s state (succeeded, running, failed, missing, pending, not_required) with its expected end, each stale upstream system, and the gate''s condition (condition_met, condition_not_met, with why)';
REVOKE ALL ON FUNCTION @extschema@.gate_status(text, date) FROM PUBLIC;

/*
 * The design card's function, for Composer's SqlSensor: true when every
 * required upstream job has succeeded for the business date, no upstream
 * system's collection is stale (unless the gate ignores staleness), and the
 * gate's condition holds (kant._call_condition: as the role that defined it).  Index lookups only: (business_date, job_id) on
 * job_run, (job_id, business_date) on expected_run, (system_id, started_at)
 * on collection.
 */
-- kant_gate_ready: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.kant_gate_ready(text, date) IS
	'May the downstream of a gate start for this business date? Some upstream job is required and every required one succeeded, no upstream collection stale (fail closed unless when_stale = open), the condition holds. What Composer''s SqlSensor polls.';
REVOKE ALL ON FUNCTION @extschema@.kant_gate_ready(text, date) FROM PUBLIC;

/*
 * Delivery, split where privileges change.  The procedure (it COMMITs after
 * each round, so it can be neither SECURITY DEFINER nor SET a search_path)
 * runs as its caller and only loops: every operator in it is spelled
 * OPERATOR(pg_catalog.x) on exact types, so that no operator a caller's
 * search_path offers can stand in.  Each round is kant._deliver_round(), a
 * SECURITY DEFINER function with a fixed search_path that reads the webhook
 * URLs itself (kant._post_channels): the deliverer never sees a secret and can
 * post nowhere but to the stored channels.
 */
DROP FUNCTION @extschema@._post_json(text[], text[]);
CREATE FUNCTION @extschema@._post_channels(channels text[], bodies text[])
	RETURNS TABLE (ord integer, status integer, retry_after_seconds integer, body text, error text)
	AS 'MODULE_PATHNAME', 'kant_post_channels'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@._post_channels(text[], text[]) IS
	'internal: POST each JSON body to its channel''s Slack webhook at once (the URL stored, from the server environment or a secret file; a host kant.allowed_hosts allows), no retries; each outcome, Slack''s answer cut to 300 printable characters';
REVOKE ALL ON FUNCTION @extschema@._post_channels(text[], text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@._deliver_round(started timestamptz, max_seconds double precision)
	RETURNS double precision
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	st record;
	ids bigint[];
	bodies text[];
	chans text[];
	res record;
	next_due timestamptz;
BEGIN
	IF max_seconds IS NULL OR max_seconds < 0 THEN
		RAISE EXCEPTION 'max_seconds must be >= 0' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO st FROM @extschema@._alert_settings();
	SELECT array_agg(h.notification_id ORDER BY h.channel), array_agg(h.payload::text ORDER BY h.channel),
		array_agg(h.channel ORDER BY h.channel)
	INTO ids, bodies, chans
	FROM (SELECT DISTINCT ON (n.channel) n.notification_id, n.channel, n.payload, n.next_attempt_at
		  FROM @extschema@.notification n WHERE n.status = 'pending'
		  ORDER BY n.channel, n.notification_id) h
	JOIN @extschema@.channel c ON c.name = h.channel
	WHERE h.next_attempt_at <= clock_timestamp()
	  AND (c.last_attempt_at IS NULL OR c.last_attempt_at + c.min_interval <= clock_timestamp());
	IF ids IS NULL THEN
		SELECT min(greatest(h.next_attempt_at, c.last_attempt_at + c.min_interval)) INTO next_due
		FROM (SELECT DISTINCT ON (n.channel) n.channel, n.next_attempt_at
			  FROM @extschema@.notification n WHERE n.status = 'pending'
			  ORDER BY n.channel, n.notification_id) h
		JOIN @extschema@.channel c ON c.name = h.channel;
		IF next_due IS NULL OR next_due > started + make_interval(secs => max_seconds) THEN
			RETURN NULL;
		END IF;
		RETURN least(5, greatest(0.01, extract(epoch FROM next_due - clock_timestamp())));
	END IF;
	FOR res IN SELECT * FROM @extschema@._post_channels(chans, bodies) LOOP
		UPDATE @extschema@.notification n SET
			attempts = n.attempts + 1,
			http_status = res.status,
			status = CASE
				WHEN res.status BETWEEN 200 AND 299 THEN 'sent'
				WHEN res.status = 429 OR res.status >= 500 OR res.status IS NULL THEN
					CASE WHEN n.attempts + 1 >= st.max_attempts THEN 'failed' ELSE 'pending' END
				ELSE 'failed' END,
			sent_at = CASE WHEN res.status BETWEEN 200 AND 299 THEN clock_timestamp() END,
			next_attempt_at = CASE
				WHEN res.status = 429 THEN clock_timestamp() + make_interval(secs => coalesce(res.retry_after_seconds, 30))
				WHEN res.status >= 500 OR res.status IS NULL THEN clock_timestamp()
					+ make_interval(secs => least(3600, 5 * power(2, n.attempts) * (0.5 + random() / 2)))
				ELSE n.next_attempt_at END,
			last_error = CASE
				WHEN res.status BETWEEN 200 AND 299 THEN NULL
				WHEN n.attempts + 1 >= st.max_attempts
					 AND (res.status = 429 OR res.status >= 500 OR res.status IS NULL)
					THEN format('gave up after %s attempts: %s', n.attempts + 1,
						coalesce(res.error, 'HTTP ' || res.status || coalesce(': ' || res.body, '')))
				WHEN res.status = 429 THEN format('HTTP 429 (rate limited), Retry-After %s s', res.retry_after_seconds)
				ELSE coalesce(res.error, 'HTTP ' || res.status || coalesce(': ' || res.body, '')) END
		WHERE n.notification_id = ids[res.ord];
		UPDATE @extschema@.channel c SET last_attempt_at = clock_timestamp(),
			last_sent_at = CASE WHEN res.status BETWEEN 200 AND 299 THEN clock_timestamp() ELSE c.last_sent_at END
		WHERE c.name = chans[res.ord];
	END LOOP;
	IF clock_timestamp() - started > make_interval(secs => max_seconds) THEN
		RETURN NULL;
	END IF;
	RETURN 0;
END
$$;
COMMENT ON FUNCTION @extschema@._deliver_round(timestamptz, double precision) IS
	'internal: one round of kant.deliver_notifications(): the oldest due message of every channel posted at once and its outcome recorded; returns the seconds to wait before the next round, or NULL when there is nothing more to do within max_seconds of started';
REVOKE ALL ON FUNCTION @extschema@._deliver_round(timestamptz, double precision) FROM PUBLIC;

-- deliver_notifications: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON PROCEDURE @extschema@.deliver_notifications(double precision) IS
	'Send queued Slack messages (CALL, outside a transaction block): at least once, in order per channel, at most one per channel''s min_interval; 429 waits for Retry-After, 5xx and timeouts back off, other 4xx fail for good with Slack''s answer; returns after max_seconds. Runs as its caller, who needs EXECUTE on kant._deliver_round too; it never sees a webhook URL.';

---------------------------------------------------------------------------
-- Alerting: keys, references, Slack text
---------------------------------------------------------------------------

-- Alert keys from ids (kant._alert_key): kind/system/job/date could be
-- spelled by two jobs (system x job y/z, system x/y job z), and one
-- run_checks() then failed for every alert.  Keys of alerts kept from 0.5.0
-- are rewritten, so that an open alert stays the same alert.
UPDATE @extschema@.alert a SET alert_key = @extschema@._alert_key(a.kind,
	CASE WHEN a.kind = 'stale' THEN 'system' WHEN a.slo_id IS NOT NULL THEN 'slo' ELSE 'job' END,
	CASE WHEN a.kind = 'stale' THEN a.system_id WHEN a.slo_id IS NOT NULL THEN a.slo_id ELSE a.job_id END,
	CASE WHEN a.kind = 'stale' THEN NULL ELSE a.business_date END);
UPDATE @extschema@.notification n SET alert_key = a.alert_key
FROM @extschema@.alert a WHERE a.alert_id = n.alert_id AND n.alert_key IS DISTINCT FROM a.alert_key;
COMMENT ON COLUMN @extschema@.alert.alert_key IS 'stable key from ids: kind/job:<job_id>/<business date>, kind/slo:<slo_id>/<business date>, stale/system:<system_id>';
COMMENT ON TABLE @extschema@.alert IS
	'Alerts with a lifecycle: one row per key (kind, the job, SLO or system by id, business date), opened once, updated while the condition lasts, resolved when it clears';

/*
 * 'system/job' references.  System names may hold a slash (OpenLineage
 * namespaces such as airflow://composer-prod become systems), and job names
 * too: a reference names the job whose system name, a slash and job name
 * spell it exactly.  When two jobs do ('a/b/c': system a, job b/c; or system
 * a/b, job c), the system is written quoted like an identifier: "a/b"/c.
 */
CREATE OR REPLACE FUNCTION @extschema@._job_ref(spec text, what text)
	RETURNS integer
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids integer[];
	m text[];
BEGIN
	IF spec IS NULL OR strpos(spec, '/') = 0 THEN
		RAISE EXCEPTION 'invalid job "%" in %', spec, what
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name a job as system/job, e.g. ''hegel/export_users'' or ''socrates/daily_load.load_users''; quote a system name that holds a slash: ''"airflow://prod"/daily.load''.';
	END IF;
	IF left(spec, 1) = '"' THEN
		m := regexp_match(spec, '^"((?:[^"]|"")+)"/(.+)$');
		IF m IS NULL THEN
			RAISE EXCEPTION 'invalid job "%" in %', spec, what
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'A quoted system name is followed by a slash and the job: ''"airflow://prod"/daily.load''.';
		END IF;
		ids := ARRAY(SELECT j.job_id FROM @extschema@.job j
					 JOIN @extschema@.system s ON s.system_id = j.system_id
					 WHERE s.name = replace(m[1], '""', '"') AND j.name = m[2]);
	ELSE
		-- the system is the text before one of the slashes
		ids := ARRAY(SELECT j.job_id
					 FROM generate_series(1, length(spec)) AS p
					 JOIN @extschema@.system s ON s.name = left(spec, p - 1)
					 JOIN @extschema@.job j ON j.system_id = s.system_id AND j.name = substr(spec, p + 1)
					 WHERE substr(spec, p, 1) = '/'
					 ORDER BY j.job_id);
	END IF;
	IF cardinality(ids) > 1 THEN
		RAISE EXCEPTION 'job "%" in % is ambiguous', spec, what
			USING ERRCODE = 'ambiguous_parameter',
				  DETAIL = (SELECT 'It names ' || string_agg(@extschema@._job_spec(s.name, j.name), ' and ' ORDER BY j.job_id) || '.'
							FROM @extschema@.job j JOIN @extschema@.system s ON s.system_id = j.system_id
							WHERE j.job_id = ANY (ids)),
				  HINT = 'Quote the system name: "system"/job.';
	END IF;
	IF cardinality(ids) = 0 THEN
		RAISE EXCEPTION 'job "%" in % does not exist', spec, what
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with kant.configure_job() or ingest one of its runs first.';
	END IF;
	RETURN ids[1];
END
$$;
COMMENT ON FUNCTION @extschema@._job_ref(text, text) IS
	'internal: the job named system/job (the system quoted, "a/b"/job, when its name holds a slash and the plain form names two jobs)';

CREATE FUNCTION @extschema@._job_spec(system text, job text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN strpos($1, '/') > 0 OR strpos($2, '/') > 0 OR left($1, 1) = '"'
				THEN '"' || replace($1, '"', '""') || '"/' || $2
				ELSE $1 || '/' || $2 END
	$$;
COMMENT ON FUNCTION @extschema@._job_spec(text, text) IS
	'internal: how to name a job so that kant._job_ref finds it and no other: system/job, or "system"/job when a slash could be read two ways';
REVOKE ALL ON FUNCTION @extschema@._job_spec(text, text) FROM PUBLIC;

-- _slo_scope_jobs: its 0.6.0 definition is made once, below (One home for each rule)

/*
 * pg_cron keeps cron.database_name from all but superusers and
 * pg_read_all_settings (GUC_SUPERUSER_ONLY): the name is needed only to say
 * where pg_cron lives when it is not here, and an admin scheduling kant's jobs
 * must not fail on reading it.
 */
CREATE OR REPLACE FUNCTION @extschema@._cron_job(job_name text, schedule text, command text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cron_db text;
	id bigint;
BEGIN
	-- before to_regclass(), which fails on a schema the caller may not use
	IF to_regnamespace('cron') IS NOT NULL AND NOT has_schema_privilege('cron', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" may not use pg_cron', current_user
			USING ERRCODE = 'insufficient_privilege',
				  HINT = format('pg_cron runs a job as the role that scheduled it; a superuser grants it: GRANT USAGE ON SCHEMA cron TO %I;', current_user);
	END IF;
	IF to_regclass('cron.job') IS NULL THEN
		BEGIN
			cron_db := current_setting('cron.database_name', true);
		EXCEPTION WHEN insufficient_privilege THEN
			cron_db := NULL;
		END;
		IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
			RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_db, current_database()
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = format('In database %s run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
									cron_db, job_name, schedule, command, current_database());
		END IF;
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and CREATE EXTENSION pg_cron (or schedule where pg_cron lives).';
	END IF;
	-- pg_cron checks the schedule itself
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING job_name, schedule, command;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._cron_job(text, text, text) IS
	'internal: create or replace a named pg_cron job of the caller (pg_cron runs it as its caller), or explain what to run where pg_cron lives; 55000 without pg_cron here, 42501 without USAGE on schema cron';
REVOKE ALL ON FUNCTION @extschema@._cron_job(text, text, text) FROM PUBLIC;

/*
 * pg_cron job names are of type name (63 bytes) and unique per user: a
 * system's job is kant-collect-<system> when that fits and the name is plain
 * (letters, digits, _ . -), else a plain prefix, ~ and 16 hex digits of the
 * name's MD5 -- never truncated into another system's name.  The command
 * names the system in full: unscheduling finds its jobs by command too, so a
 * job named by 0.5.0 (name cut at 63 bytes) goes as well.
 */
CREATE FUNCTION @extschema@._cron_name(prefix text, object text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN $2 ~ '^[A-Za-z0-9_.-]+$' AND octet_length($1 || $2) <= 63 THEN $1 || $2
				ELSE left($1 || regexp_replace($2, '[^A-Za-z0-9_.-]', '_', 'g'), 63 - 17)
					 || '~' || left(md5($2), 16) END
	$$;
COMMENT ON FUNCTION @extschema@._cron_name(text, text) IS
	'internal: a pg_cron job name (at most 63 bytes) for an object: prefix || name when it fits and is plain, else a plain prefix, ~ and 16 hex digits of md5(name): unique, and the same every time';
REVOKE ALL ON FUNCTION @extschema@._cron_name(text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@._collect_command(system text) RETURNS text
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT format('SELECT sqlstate, error FROM kant.collect_%s(%L)', s.kind, s.name)
	FROM @extschema@.system s WHERE s.name = $1
	$$;
COMMENT ON FUNCTION @extschema@._collect_command(text) IS 'internal: the command of a system''s collection job';
REVOKE ALL ON FUNCTION @extschema@._collect_command(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.schedule_collection(system text, schedule text DEFAULT '0 * * * *')
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k text;
	job_name text := @extschema@._cron_name('kant-collect-', system);
BEGIN
	SELECT s.kind INTO k FROM @extschema@.system s WHERE s.name = schedule_collection.system;
	IF k IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF k NOT IN ('glue', 'airflow') THEN
		RAISE EXCEPTION 'kant does not poll % systems', k
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'OpenLineage and manual systems send their runs (kant.ingest_openlineage, kant.report_run).';
	END IF;
	-- a job of this system under another name (kant 0.5.0's) goes: one job per system
	IF to_regclass('cron.job') IS NOT NULL THEN
		PERFORM cron.unschedule(j.jobid) FROM cron.job j
		WHERE j.username = current_user AND j.command = @extschema@._collect_command(system)
		  AND j.jobname IS DISTINCT FROM job_name::name;
	END IF;
	RETURN @extschema@._cron_job(job_name, schedule, @extschema@._collect_command(system));
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_collection(text, text) IS
	'Create or update the pg_cron job that collects a system (default hourly: the post''s poll that notices a trigger that never fired), named kant-collect-<system> (a hash stands in for what does not fit 63 bytes); returns the cron job id';

CREATE OR REPLACE FUNCTION @extschema@.unschedule_collection(system text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer;
BEGIN
	IF to_regclass('cron.job') IS NULL THEN
		RETURN false;
	END IF;
	SELECT count(cron.unschedule(j.jobid)) INTO n FROM cron.job j
	WHERE j.username = current_user
	  AND (j.jobname = @extschema@._cron_name('kant-collect-', system)::name
		   OR j.command = @extschema@._collect_command(system));
	RETURN n > 0;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_collection(text) IS
	'Remove the pg_cron job that collects a system (found by its name or its command); false when there was none';

-- alter_slo: its 0.6.0 definition is made once, below (Right about the schedulers)

/*
 * What is wrong at as_of, from the data kant holds.  Every query is bounded
 * by business date (the lookback window) or by what is open, so its cost
 * does not grow with history.  Runs are seen as they were at as_of (a run
 * that ended later is running; one that started later does not exist), so
 * a past night can be replayed.
 */
-- check_conditions: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.check_conditions(timestamptz) IS
	'What is wrong at as_of (default now): failures (retry-aware), late SLO days, missing runs, predicted breaches, stuck runs, stale collectors; read-only (kant.run_checks() turns them into alerts)';

-- The Slack message of an alert event: a short plain text (notifications,
-- screen readers) and Block Kit blocks within Slack's limits.
-- _slack_message: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@._slack_message(bigint, text) IS
	'internal: the Slack message (text and Block Kit blocks) of an alert''s opened, reminder or resolved event';

/*
 * Turn the conditions into alerts and queue their messages, in this
 * transaction: an alert opens once per key, is updated while it lasts,
 * reminded every reminder_interval, resolved when its condition clears (one
 * message, if one was sent about it).  Silenced alerts are kept but not sent;
 * a job's alert under a failing upstream is folded into the upstream's.
 */
-- run_checks: its 0.6.0 definition is made once, below (One home for each rule)
COMMENT ON FUNCTION @extschema@.run_checks(timestamptz) IS
	'Run the checks at as_of (default now): open, update, fold, silence and resolve alerts, and queue their Slack messages in kant.notification (sent by kant.deliver_notifications)';
REVOKE ALL ON FUNCTION @extschema@.run_checks(timestamptz) FROM PUBLIC;

COMMENT ON COLUMN @extschema@.alert.folded_into IS 'the upstream alert this one is folded into (sent as part of it), or NULL; kept when it resolves';
COMMENT ON COLUMN @extschema@.bi_alert_daily.folded_or_silenced IS 'of those, folded under an upstream alert or silenced (as last open): never sent on their own';

---------------------------------------------------------------------------
-- One home for each rule (issue 12): sql/src/rules.sql.  The SLO evaluation,
-- the checks, the gates, gate_status, recovery and the BI views now apply
-- the same rules: done (every current attempt done, every expected run
-- ran), current attempt (kept in job_run.superseded_at at ingestion),
-- required (a job no schedule speaks for is awaited when its scope runs that
-- day), deadlines, alert kinds, advisory locks.
---------------------------------------------------------------------------

ALTER TABLE @extschema@.job_run ADD COLUMN superseded_at timestamptz;
COMMENT ON COLUMN @extschema@.job_run.superseded_at IS 'when the first later attempt of the same run, or a retry of it (Glue''s PreviousRunId), started (-infinity when its start is unknown); NULL: the attempt is current (kant._is_current; kept by kant._supersede)';

---------------------------------------------------------------------------
-- Runs: which attempt is current, how many runs a day had
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.is_done(@extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME', 'run_state_is_done'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.is_done(@extschema@.run_state) IS
	'true for the states in which an attempt counts as done (succeeded, skipped): what depends on it may go on';

/*
 * The current attempt.  An attempt is superseded by a later attempt of the
 * same run (Airflow's next try_number, Glue's Attempt) and by a retry that
 * names its run (Glue's PreviousRunId), from when that one started.
 * Ingestion keeps job_run.superseded_at for every attempt it writes (the
 * rule's one home is ingest_supersede_runs() in src/ingest_write.c;
 * kant._supersede() is it for SQL), so a reader asks one column
 * (kant._is_current), at any instant: a past night replays as it was.
 */
CREATE FUNCTION @extschema@._supersede(job_ids integer[], external_ids text[])
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'kant_supersede'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._supersede(integer[], text[]) IS
	'internal, the rule of the current attempt, kept: sets job_run.superseded_at of every attempt of the runs (job_id, external_id) given to when the first later attempt of the same run or retry of it began (kant._began: its start, or when kant first saw it), NULL when none; ingestion calls it for every attempt it writes and the run it retries; returns the attempts changed';
REVOKE ALL ON FUNCTION @extschema@._supersede(integer[], text[]) FROM PUBLIC;

/*
 * The rules below are SQL functions of one SELECT without SET, STRICT or
 * SECURITY DEFINER, so the planner inlines them where they are called (the
 * table functions in FROM, LATERAL): a rule costs nothing over writing it
 * out there.  Inlined, a body is parsed under the caller's search_path, so
 * it names every operator and function it uses in pg_catalog: a schema
 * first on someone's path cannot change an answer.  Those that read tables serve kant's own functions; views use
 * the ones that read none.
 */
CREATE FUNCTION @extschema@._is_current(superseded_at timestamptz, as_of timestamptz DEFAULT 'infinity')
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT $1 IS NULL OR $1 OPERATOR(pg_catalog.>) $2
	$$;
COMMENT ON FUNCTION @extschema@._is_current(timestamptz, timestamptz) IS
	'internal, the rule of the current attempt, asked: an attempt is current at as_of (default: now and ever) unless it was superseded by then (job_run.superseded_at, kept by kant._supersede)';

/*
 * When an attempt began: its start, or, when the scheduler gave none (a
 * cleared Airflow task queued again, a Glue run still STARTING), when kant
 * first saw it.  An attempt counts at as_of from then on: a queued try seen
 * at 09:00 does not exist at 05:30, and supersedes the try before it from
 * 09:00 (src/ingest_write.c keeps superseded_at by the same rule).
 */
CREATE FUNCTION @extschema@._began(started_at timestamptz, first_seen timestamptz)
	RETURNS timestamptz
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT COALESCE($1, $2)
	$$;
COMMENT ON FUNCTION @extschema@._began(timestamptz, timestamptz) IS
	'internal, the rule of when an attempt began: its start, or when kant first saw it when the start is unknown';

/*
 * A run and its parts.  Airflow maps a task into task instances with
 * map_index 0..n of one DAG run; kant keeps each as the run id
 * "dag_run_id#map_index" (src/airflow.c), and the task is done for that run
 * only when every map index is (Airflow's DagRun.update_state looks at every
 * task instance).  So a run of an Airflow task is its run id without a
 * trailing "#<n>", whether the collector read it or an OpenLineage event
 * with the Airflow facets told it (src/openlineage.c keys those the same
 * way); other sources' run ids are runs as they are (Airflow itself refuses
 * "#" in a run id since 2.6.3's allowed_run_id_pattern, OpenLineage's runId
 * is a UUID).
 *
 * A job's runs for a business date are the runs of its current attempts
 * (kant._job_day counts them; the k-th expected slot of the date has started
 * when there are k).  A retry is no run of its own (Airflow's next
 * try_number, Glue's PreviousRunId: the attempt it supersedes is no longer
 * current), a map index is part of its run, and a run first seen at its
 * second try is still one run.  A new run that names no predecessor (a Glue
 * StartJobRun without JobRunId, an Airflow DAG triggered again) is a run of
 * its own.
 */
CREATE FUNCTION @extschema@._run_key(external_id text, system_kind text)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT CASE WHEN $2 OPERATOR(pg_catalog.=) 'airflow' OR $2 OPERATOR(pg_catalog.=) 'openlineage'
				THEN pg_catalog.regexp_replace($1, '#[0-9]+$', '') ELSE $1 END
	$$;
COMMENT ON FUNCTION @extschema@._run_key(text, text) IS
	'internal, the rule of what a run is: for an Airflow or OpenLineage system the run id without the map index kant appends to a mapped task instance ("scheduled__2026-03-01T00:00:00+00:00#3" is map index 3 of run "scheduled__2026-03-01T00:00:00+00:00"; an OpenLineage runId is a UUID, and an event with the Airflow facets is keyed by its DAG run id); for any other the run id as it is (a reported "export#2" is a run of its own)';

---------------------------------------------------------------------------
-- Done: when a job is done for a business date, and since when
---------------------------------------------------------------------------

/*
 * A job is done for a business date at as_of when it ran the k runs its
 * schedule expected that day (at least one) and the
 * runs that count are done: every current attempt of each (each map index of
 * a mapped task) succeeded or was skipped (kant.is_done) and had ended by
 * as_of.  For a job that runs once a day the latest run counts: an earlier
 * one was recovered by it (a failed Glue JobRun re-run from the console, a
 * DAG triggered again).  For a job with several slots every run counts (a
 * later run does not say which slot it stands in for).  done_at is the
 * latest end among the attempts of those runs; in_flight, failed speak of
 * them too, and failed_run_id names the attempt that failed (the latest).
 *
 * Since when it has been done, the first time (was_done, done_since,
 * done_since_runs): the earliest instant by as_of at which it was done, and
 * the runs that counted then.  The SLO asks whether the data was delivered
 * by the deadline, so this is when a day completes: a task cleared and run
 * again after it succeeded, or a Glue job run again for the same date, does
 * not move the completion or undo it (a failed re-run is a failure alert;
 * the gate, which asks about now, closes).
 *
 * The rule is kant._job_day_agg, an aggregate in C over the job's attempts
 * of that date (src/job_day.c: asked for every job and date of years of
 * history, and at every gate poll).  The SLO evaluation asks this of every
 * required job, the checks before a late or failure alert, the gates before
 * they open.
 */
CREATE TYPE @extschema@._job_day_result AS (
	done			boolean,
	done_at			timestamptz,
	in_flight		boolean,
	in_flight_since	timestamptz,
	failed			boolean,
	attempts		integer,
	runs			integer,
	failed_run_id	bigint,
	counted_runs	text[],
	was_done		boolean,
	done_since		timestamptz,
	done_since_runs	text[]
);
COMMENT ON TYPE @extschema@._job_day_result IS
	'internal, what kant._job_day_agg answers for a job and business date (see kant._job_day)';

CREATE FUNCTION @extschema@._job_day_trans(internal, as_of timestamptz, k integer, system_kind text,
		run_id bigint, external_id text, state @extschema@.run_state, started_at timestamptz,
		ended_at timestamptz, first_seen timestamptz, superseded_at timestamptz)
	RETURNS internal
	AS 'MODULE_PATHNAME', 'kant_job_day_trans'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._job_day_trans(internal, timestamptz, integer, text, bigint, text, @extschema@.run_state, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'internal, kant._job_day_agg transition: keeps the attempts';

CREATE FUNCTION @extschema@._job_day_final(internal) RETURNS @extschema@._job_day_result
	AS 'MODULE_PATHNAME', 'kant_job_day_final'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._job_day_final(internal) IS
	'internal, kant._job_day_agg final function: the rule of done at as_of and the first time';

CREATE AGGREGATE @extschema@._job_day_agg(as_of timestamptz, k integer, system_kind text,
		run_id bigint, external_id text, state @extschema@.run_state, started_at timestamptz,
		ended_at timestamptz, first_seen timestamptz, superseded_at timestamptz) (
	SFUNC = @extschema@._job_day_trans,
	STYPE = internal,
	FINALFUNC = @extschema@._job_day_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@._job_day_agg(timestamptz, integer, text, bigint, text, @extschema@.run_state, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'internal, the rule of done (src/job_day.c) over every attempt of one job and business date, as of as_of, for a job expecting k runs that day (at least 1) of a system of that kind (kant._run_key): kant._job_day_result; kant._job_day is how to ask it';

CREATE FUNCTION @extschema@._job_day(job_id integer, business_date date, as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (done boolean, done_at timestamptz, in_flight boolean, in_flight_since timestamptz,
		failed boolean, attempts integer, runs integer, failed_run_id bigint, counted_runs text[],
		runs_expected integer, was_done boolean, done_since timestamptz, done_since_runs text[])
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT (x.r).done, (x.r).done_at, (x.r).in_flight, (x.r).in_flight_since, (x.r).failed,
		(x.r).attempts, (x.r).runs, (x.r).failed_run_id, (x.r).counted_runs, x.k,
		(x.r).was_done, (x.r).done_since, (x.r).done_since_runs
	-- k: the runs the job needs that day (its expected slots, at least one)
	FROM (SELECT kk.k, (SELECT @extschema@._job_day_agg($3, kk.k, kk.kind, a.run_id, a.external_id, a.state,
								   a.started_at, a.ended_at, a.first_seen, a.superseded_at)
						FROM @extschema@.job_run a
						WHERE a.job_id OPERATOR(pg_catalog.=) $1 AND a.business_date OPERATOR(pg_catalog.=) $2) AS r
		  FROM (SELECT GREATEST(1, (SELECT pg_catalog.count(*) FROM @extschema@.expected_run x
									WHERE x.job_id OPERATOR(pg_catalog.=) $1
									  AND x.business_date OPERATOR(pg_catalog.=) $2))::integer AS k,
					   (SELECT sy.kind FROM @extschema@.job j
						JOIN @extschema@.system sy ON sy.system_id OPERATOR(pg_catalog.=) j.system_id
						WHERE j.job_id OPERATOR(pg_catalog.=) $1) AS kind) kk
		  OFFSET 0) x
	$$;
COMMENT ON FUNCTION @extschema@._job_day(integer, date, timestamptz) IS
	'internal, the rule of done (kant._job_day_agg): a job is done for a business date at as_of (default: ever) when it ran the k runs expected that day (at least 1; runs: those of its current attempts, kant._run_key) and the runs that count (one slot a day: the latest run; several: all) are done: every current attempt of each, every map index, succeeded or was skipped (kant.is_done) and ended by as_of; done_at: the latest end among them; in_flight: one of their current attempts not ended (in_flight_since: the earliest start of those); failed: one ended without being done (failed_run_id: the latest such attempt); attempts: current attempts; runs: the runs of the current attempts (kant._run_key); counted_runs: the runs that count (kant._run_key); runs_expected: k; was_done: done at some instant by as_of, first at done_since (NULL when done without end times) with done_since_runs counting';

/*
 * Since when a job has been done for a business date, the first time
 * (kant._job_day's was_done, done_since): only something that comes after a
 * done attempt can undo done, a later attempt superseding it or more runs
 * than the day expects.  Without either, the job was done first when it is
 * done now (done_at), or never.  With one, the first time is the end of a
 * done attempt: those ends are asked one by one, from the start of the k-th
 * run (fewer runs are not done) to the last start (from then on nothing is
 * superseded any more, and done_at at as_of answers).  No row when never
 * done.
 */
CREATE FUNCTION @extschema@._done_since(job_id integer, business_date date, as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (done_since timestamptz, counted_runs text[])
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT jd.done_since, jd.done_since_runs
	FROM @extschema@._job_day($1, $2, $3) jd
	WHERE jd.was_done
	$$;
COMMENT ON FUNCTION @extschema@._done_since(integer, date, timestamptz) IS
	'internal, the rule of completion: the first instant by as_of at which a job was done for a business date (kant._job_day), with the runs that counted then; no row when never (NULL instant when done without end times); a later attempt or run does not move it (the SLO and the late alert use it; the gate asks kant._job_day about now)';

---------------------------------------------------------------------------
-- Required: must a job run for a business date?
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._required(job_id integer, business_date date, as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (required boolean)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT CASE
		WHEN EXISTS (SELECT FROM @extschema@.job_run r
					 WHERE r.business_date OPERATOR(pg_catalog.=) $2 AND r.job_id OPERATOR(pg_catalog.=) $1
					   AND @extschema@._began(r.started_at, r.first_seen) OPERATOR(pg_catalog.<=) $3)
		  OR EXISTS (SELECT FROM @extschema@.expected_run x
					 WHERE x.job_id OPERATOR(pg_catalog.=) $1 AND x.business_date OPERATOR(pg_catalog.=) $2)
			THEN true
		WHEN EXISTS (SELECT FROM @extschema@.schedule x
					 WHERE x.job_id OPERATOR(pg_catalog.=) $1 AND x.active_from OPERATOR(pg_catalog.<=) $2
					   AND (x.active_until IS NULL OR x.active_until OPERATOR(pg_catalog.>=) $2)
					   AND x.expanded_until OPERATOR(pg_catalog.>=)
						   ($2 OPERATOR(pg_catalog.+) 3)::timestamp AT TIME ZONE 'UTC')
			THEN false
		END
	$$;
COMMENT ON FUNCTION @extschema@._required(integer, date, timestamptz) IS
	'internal, the rule of required, for one job: true when it ran (by as_of) or was expected that business date; false when an active, expanded schedule covers the date without a slot (a day it does not run); NULL when no schedule says (kant._required_jobs decides those by their scope)';

/*
 * The jobs of a scope (an SLO's or a gate's) and whether each is required
 * for a business date: what kant._required says, and for a job no schedule
 * speaks for, whether any job of the scope is required that day (a job
 * without a schedule is awaited on a day its pipeline runs, not on a day
 * nothing runs).  Give slo_id or gate_id.
 */
CREATE FUNCTION @extschema@._required_jobs(slo_id integer, gate_id integer, business_date date,
		as_of timestamptz DEFAULT 'infinity')
	RETURNS TABLE (job_id integer, required boolean, by_scope boolean)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT j.job_id, COALESCE(j.required, pg_catalog.bool_or(j.required) OVER (), false), j.required IS NULL
	-- OFFSET 0 keeps kant._required one evaluation per job (pulled up, it
	-- would be evaluated for each of the three uses above)
	FROM (SELECT s.job_id, r.required
		  FROM (SELECT sc.job_id FROM @extschema@.slo_scope sc WHERE sc.slo_id OPERATOR(pg_catalog.=) $1
				UNION ALL
				SELECT gs.job_id FROM @extschema@.gate_scope gs WHERE gs.gate_id OPERATOR(pg_catalog.=) $2) s
		  CROSS JOIN LATERAL @extschema@._required(s.job_id, $3, $4) r
		  OFFSET 0) j
	$$;
COMMENT ON FUNCTION @extschema@._required_jobs(integer, integer, date, timestamptz) IS
	'internal, the rule of required, for a scope: each job of the SLO (or gate) with whether it is required that business date (kant._required; a job no schedule speaks for is required when another job of the scope is: by_scope)';

---------------------------------------------------------------------------
-- Deadlines: the instant of "day d + n at hh:mm" in a zone
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._due(business_date date, offset_days integer, at time, time_zone text)
	RETURNS timestamptz
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT @extschema@.local_instant(($1 OPERATOR(pg_catalog.+) $2) OPERATOR(pg_catalog.+) $3, $4)
	$$;
COMMENT ON FUNCTION @extschema@._due(date, integer, time, text) IS
	'internal, the rule of deadlines: the instant of business date + offset_days at the local time in the zone (an SLO''s deadline and SLA end; DST as kant.local_instant)';

---------------------------------------------------------------------------
-- Alert kinds
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.alert_kinds()
	RETURNS TABLE (kind text, severity text, title text, icon text, resolved_when text, description text)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	VALUES
		('failure', 'critical', 'Job failed', ':x:', 'retried or succeeded',
		 'a job''s last attempt failed or timed out, nothing runs, and no retry is to come'),
		('late', 'critical', 'SLO missed: not done by the deadline', ':alarm_clock:', 'complete',
		 'an SLO''s deadline passed and a required job is not done'),
		('missing', 'critical', 'Expected run did not start', ':ghost:', 'the run started',
		 'an expected run did not start within its grace period'),
		('predicted', 'warning', 'SLO breach predicted', ':crystal_ball:', 'back on track',
		 'at the jobs'' usual durations, an SLO will miss its deadline'),
		('stuck', 'warning', 'Run stuck', ':hourglass_flowing_sand:', 'the run ended',
		 'a run has been going far longer than usual'),
		('stale', 'critical', 'Collector stale', ':satellite_antenna:', 'the collector succeeded again',
		 'a collector has not succeeded for longer than stale_after'),
		('data_quality', 'critical', 'Data check failed', ':mag:', 'the check passed',
		 'a data-quality check failed (or could not be judged) for a business date; a reconciliation names both sides'' numbers; a warning check''s alert is a warning')
	$$;
COMMENT ON FUNCTION @extschema@.alert_kinds() IS
	'The kinds of alert kant raises, each with its severity, the title and icon of its Slack message, what resolves it, and what it means';

CREATE FUNCTION @extschema@._is_alert_kind(text)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM @extschema@.alert_kinds() k WHERE k.kind = $1)
	$$;
COMMENT ON FUNCTION @extschema@._is_alert_kind(text) IS
	'internal: the text is a kind of kant.alert_kinds() (the check of every kind column; NULL for NULL)';

---------------------------------------------------------------------------
-- Advisory locks
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.advisory_locks(OUT purpose text, OUT key1 integer, OUT key2 text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'kant_advisory_locks'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.advisory_locks() IS
	'Every advisory lock kant takes (pg_advisory_xact_lock(key1, key2)): what it serialises, its first key, and what its second key is; see pg_locks where locktype = ''advisory''';

CREATE FUNCTION @extschema@._lock_key(purpose text) RETURNS integer
	AS 'MODULE_PATHNAME', 'kant_lock_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._lock_key(text) IS
	'internal: the first key of the advisory lock for a purpose of kant.advisory_locks()';

-- the attempts superseded so far: those of runs with a later attempt, and
-- of runs a retry names
SELECT @extschema@._supersede(array_agg(k.job_id), array_agg(k.external_id))
FROM (SELECT r.job_id, r.external_id FROM @extschema@.job_run r WHERE r.attempt > 1
	  UNION
	  SELECT r.job_id, r.previous_external_id FROM @extschema@.job_run r
	  WHERE r.previous_external_id IS NOT NULL) k;

-- every kind column checks against kant.alert_kinds()
ALTER TABLE @extschema@.silence DROP CONSTRAINT silence_kind_check,
	ADD CONSTRAINT silence_kind_check CHECK (@extschema@._is_alert_kind(kind));
ALTER TABLE @extschema@.alert DROP CONSTRAINT alert_kind_check,
	ADD CONSTRAINT alert_kind_check CHECK (@extschema@._is_alert_kind(kind));
ALTER TABLE @extschema@.alert_route DROP CONSTRAINT alert_route_kind_check,
	ADD CONSTRAINT alert_route_kind_check CHECK (@extschema@._is_alert_kind(kind));

/*
 * What is wrong at as_of, from the data kant holds.  Every query is bounded
 * by business date (the lookback window) or by what is open, so its cost
 * does not grow with history.  Runs are seen as they were at as_of (a run
 * that ended later is running; one that started later does not exist), so
 * a past night can be replayed.
 */
CREATE OR REPLACE FUNCTION @extschema@.check_conditions(as_of timestamptz DEFAULT now())
	RETURNS SETOF @extschema@.alert_condition
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	st record;
	-- the settings as elapsed time: '2 days' is 48 hours in every session's zone
	lookback interval;
	horizon interval;
	retry_wait interval;
	stale_after interval;
	d0 date;
	d1 date;
BEGIN
	SELECT * INTO st FROM @extschema@._alert_settings();
	lookback := @extschema@._elapsed(st.lookback);
	horizon := @extschema@._elapsed(st.predict_horizon);
	retry_wait := @extschema@._elapsed(st.retry_wait);
	stale_after := @extschema@._elapsed(st.stale_after);
	-- business dates of every zone (UTC-12 to UTC+14) in the window
	d0 := ((as_of - lookback) AT TIME ZONE 'UTC')::date - 1;
	d1 := ((as_of + horizon) AT TIME ZONE 'UTC')::date + 1;
	RETURN QUERY
	WITH seen AS MATERIALIZED (
		SELECT r.run_id, r.job_id, r.business_date, r.external_id, r.attempt, r.previous_external_id,
			r.started_at, r.error_message,
			CASE WHEN r.ended_at > as_of THEN NULL ELSE r.ended_at END AS ended_at,
			CASE WHEN r.ended_at > as_of THEN 'running'::@extschema@.run_state ELSE r.state END AS state
		FROM @extschema@.job_run r
		WHERE r.business_date BETWEEN d0 AND d1 AND @extschema@._began(r.started_at, r.first_seen) <= as_of
	), day AS MATERIALIZED (
		-- each job and date with runs: done, in flight, how many runs
		-- (kant._job_day), and its latest attempt
		SELECT g.job_id, g.business_date, jd.done, jd.in_flight AS active, jd.in_flight_since AS active_since,
			g.last_run, jd.runs AS started_runs, jd.failed_run_id, jd.was_done
		FROM (SELECT r.job_id, r.business_date,
				(array_agg(r.run_id ORDER BY r.started_at DESC NULLS FIRST, r.attempt DESC))[1] AS last_run
			  FROM seen r GROUP BY r.job_id, r.business_date) g
		CROSS JOIN LATERAL @extschema@._job_day(g.job_id, g.business_date, as_of) jd
	), jobs AS (
		SELECT j.job_id, j.name, j.pipeline, j.dag_id, j.max_retries, sy.system_id, sy.name AS system,
			sy.time_zone AS system_zone
		FROM @extschema@.job j JOIN @extschema@.system sy ON sy.system_id = j.system_id
	), deadline AS (
		SELECT dy.job_id, dy.business_date,
			@extschema@._due(dy.business_date, jd.deadline_offset_days, jd.deadline_time, jd.time_zone) AS at
		FROM day dy JOIN @extschema@.job_deadline jd ON jd.job_id = dy.job_id
	),
	-- SLO days in the lookback window and in the prediction horizon
	slo_days AS MATERIALIZED (
		SELECT s.slo_id, s.name, s.pipeline, s.time_zone, g.bd AS business_date,
			@extschema@._due(g.bd, s.deadline_offset_days, s.deadline_time, s.time_zone) AS deadline
		FROM @extschema@.slo s
		CROSS JOIN LATERAL (SELECT d0 + i AS bd FROM generate_series(0, d1 - d0) AS i) g
		WHERE g.bd >= s.evaluate_from
		  AND @extschema@._due(g.bd, s.deadline_offset_days, s.deadline_time, s.time_zone)
			  BETWEEN as_of - lookback AND as_of + horizon
		  AND (s.calendar IS NULL OR @extschema@.is_business_day(s.calendar, g.bd))
	), in_play AS (
		-- the jobs each SLO day requires (kant._required_jobs), done or not
		-- done: done once by as_of (kant._job_day's was_done, as
		-- kant._done_since: a re-run after the job was done is a failure, not
		-- a late day)
		SELECT sd.slo_id, sd.business_date, rq.job_id, coalesce(dy.was_done, false) AS done,
			coalesce(dy.active, false) AS active, dy.active_since, dy.last_run
		FROM slo_days sd
		CROSS JOIN LATERAL @extschema@._required_jobs(sd.slo_id, NULL, sd.business_date, as_of) rq
		LEFT JOIN day dy ON dy.job_id = rq.job_id AND dy.business_date = sd.business_date
		WHERE rq.required
	), durs AS MATERIALIZED (
		-- durations of every job not done, in one call (index scans of a few rows each)
		SELECT d.* FROM @extschema@.job_durations(ARRAY(
			SELECT dy.job_id FROM day dy WHERE NOT dy.done
			UNION SELECT p.job_id FROM in_play p WHERE NOT p.done), as_of, st.history_runs) d
	),
	-- failure: the last attempt failed or timed out, nothing runs, and no retry
	-- is still to come (retries left, within retry_wait, while the deadline holds)
	failure AS (
		SELECT 'failure' AS kind, j.system_id, j.job_id, NULL::integer AS slo_id,
			dy.business_date,
			format('%s/%s %s (attempt %s) for %s%s', j.system, j.name,
				   CASE WHEN l.state::text = 'timed_out' THEN 'timed out' ELSE 'failed' END, l.attempt, to_char(dy.business_date, 'YYYY-MM-DD'),
				   CASE WHEN l.error_message IS NOT NULL THEN ': ' || left(l.error_message, 200) ELSE '' END) AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'run', l.external_id, 'attempt', l.attempt, 'max_retries', j.max_retries, 'state', l.state::text,
				'error', left(l.error_message, 1000), 'ended_at', @extschema@._utc(l.ended_at),
				'deadline', @extschema@._utc(dl.at),
				'time_zone', j.system_zone, 'dag_id', j.dag_id, 'restarts', nullif(rc.n, 0),
				'max_restarts', rp.max_attempts)) AS detail
		FROM day dy
		-- the attempt that failed (kant._job_day: of the runs that count,
		-- every map index of them)
		JOIN seen l ON l.run_id = dy.failed_run_id
		JOIN jobs j ON j.job_id = dy.job_id
		LEFT JOIN deadline dl ON dl.job_id = dy.job_id AND dl.business_date = dy.business_date
		-- its own recovery policy or its DAG's
		LEFT JOIN @extschema@.recovery_scope rp ON rp.job_id = dy.job_id
		LEFT JOIN LATERAL (
			SELECT count(*) FILTER (WHERE a.outcome = 'done') AS n,
				-- Glue: the failed run's id; Airflow: dag_id/dag_run_id try n (kant._recover_airflow)
				bool_or(a.target IN (l.external_id, @extschema@._failure_target(j.dag_id, l.external_id, l.attempt))
						AND a.outcome = 'done') AS this_one
			FROM @extschema@.action_log a
			WHERE a.kind = 'recover' AND a.job_id = dy.job_id AND a.business_date = dy.business_date) rc ON true
		WHERE NOT dy.done AND NOT dy.active AND l.state::text IN ('failed', 'timed_out')
		  -- a retry is to come: Glue's own (MaxRetries), or kant's restart
		  -- (recovery policy), while its p90 still fits before the deadline
		  AND NOT (((j.max_retries IS NOT NULL AND l.attempt - 1 < j.max_retries)
					OR (rp.job_id IS NOT NULL AND coalesce(rc.n, 0) < rp.max_attempts))
				   AND l.ended_at > as_of - retry_wait - @extschema@._elapsed(coalesce(rp.min_wait, '0'))
				   AND (dl.at IS NULL OR as_of + make_interval(secs => coalesce(
						(SELECT d.p90_seconds FROM durs d WHERE d.job_id = dy.job_id), 0)) <= dl.at))
		  -- kant restarted (cleared) this very run: the new one is not collected yet
		  AND NOT coalesce(rc.this_one, false)
	),
	-- missing: an expected run that has not started by the end of its grace period
	slots AS (
		SELECT x.job_id, x.business_date, x.slot_at, x.due_at,
			row_number() OVER (PARTITION BY x.job_id, x.business_date ORDER BY x.slot_at) AS slot_no
		FROM @extschema@.expected_run x
		WHERE x.business_date BETWEEN d0 AND d1
	), dag_started AS (
		-- Airflow starts a DAG's tasks itself: once any task of a DAG run has
		-- started, the others wait for it, they are not missing
		SELECT DISTINCT j.system_id, j.dag_id, dy.business_date
		FROM day dy JOIN jobs j ON j.job_id = dy.job_id
		WHERE j.dag_id IS NOT NULL
	), missing AS (
		-- one alert per Airflow DAG run that did not start (its first task)
		SELECT DISTINCT ON (coalesce(j.dag_id, j.job_id::text), j.system_id, s.business_date)
			'missing' AS kind, j.system_id, j.job_id, NULL::integer AS slo_id, s.business_date,
			CASE WHEN j.dag_id IS NULL
				THEN format('%s/%s has not started for %s: expected at %s (%s), grace ended %s ago', j.system, j.name,
				   to_char(s.business_date, 'YYYY-MM-DD'), to_char(s.slot_at AT TIME ZONE j.system_zone, 'MM-DD HH24:MI'), j.system_zone,
				   @extschema@._human(extract(epoch FROM as_of - s.due_at)))
				ELSE format('%s: DAG %s has not started for %s: expected at %s (%s), grace ended %s ago', j.system, j.dag_id,
				   to_char(s.business_date, 'YYYY-MM-DD'), to_char(s.slot_at AT TIME ZONE j.system_zone, 'MM-DD HH24:MI'), j.system_zone,
				   @extschema@._human(extract(epoch FROM as_of - s.due_at))) END AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'expected_at', @extschema@._utc(s.slot_at), 'due_at', @extschema@._utc(s.due_at),
				'time_zone', j.system_zone, 'dag_id', j.dag_id)) AS detail
		FROM slots s
		JOIN jobs j ON j.job_id = s.job_id
		LEFT JOIN day dy ON dy.job_id = s.job_id AND dy.business_date = s.business_date
		WHERE s.due_at <= as_of AND s.due_at > as_of - lookback
		  AND s.slot_no > coalesce(dy.started_runs, 0)
		  AND NOT EXISTS (SELECT FROM dag_started g WHERE g.system_id = j.system_id AND g.dag_id = j.dag_id
						  AND g.business_date = s.business_date)
		ORDER BY coalesce(j.dag_id, j.job_id::text), j.system_id, s.business_date, s.slot_at, j.job_id
	),
	-- stuck: running for more than stuck_factor times its p95
	stuck AS (
		SELECT 'stuck' AS kind, j.system_id, j.job_id, NULL::integer AS slo_id, dy.business_date,
			format('%s/%s has been running for %s for %s, %s times its p95 of %s', j.system, j.name,
				   @extschema@._human(extract(epoch FROM as_of - dy.active_since)), to_char(dy.business_date, 'YYYY-MM-DD'),
				   round((extract(epoch FROM as_of - dy.active_since) / d.p95_seconds)::numeric, 1),
				   @extschema@._human(d.p95_seconds)) AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', j.system, 'job', j.name, 'pipeline', j.pipeline,
				'running_since', @extschema@._utc(dy.active_since), 'p95_seconds', round(d.p95_seconds::numeric, 1),
				'samples', d.samples, 'time_zone', j.system_zone, 'dag_id', j.dag_id)) AS detail
		FROM day dy
		JOIN jobs j ON j.job_id = dy.job_id
		JOIN durs d ON d.job_id = dy.job_id
		WHERE dy.active AND dy.active_since IS NOT NULL AND d.samples >= 5 AND d.p95_seconds > 0
		  AND extract(epoch FROM as_of - dy.active_since) > st.stuck_factor * d.p95_seconds
	),
	job_alerts AS (
		SELECT * FROM failure UNION ALL SELECT * FROM missing UNION ALL SELECT * FROM stuck
	),
	-- an alert of a job whose upstream (transitively) has an alert the same
	-- business date is folded under the upstream-most one (joins, not
	-- correlated subqueries: a long pipeline has many ancestors)
	alerted AS MATERIALIZED (
		SELECT DISTINCT a.job_id, a.business_date FROM job_alerts a
	), ancestry AS MATERIALIZED (
		WITH RECURSIVE up(job_id, upstream_job_id, depth) AS (
			SELECT d.job_id, d.upstream_job_id, 1 FROM @extschema@.job_dependency d
			WHERE d.job_id IN (SELECT a.job_id FROM alerted a)
			UNION
			SELECT up.job_id, d.upstream_job_id, up.depth + 1
			FROM up JOIN @extschema@.job_dependency d ON d.job_id = up.upstream_job_id
			WHERE up.depth < 1000
		)
		SELECT up.job_id, up.upstream_job_id, max(up.depth) AS depth FROM up GROUP BY 1, 2
	), waiting AS MATERIALIZED (
		-- a job with an upstream not done yet: not started is not missing then
		SELECT DISTINCT a.job_id, a.business_date
		FROM alerted a
		JOIN ancestry an ON an.job_id = a.job_id
		LEFT JOIN day u ON u.job_id = an.upstream_job_id AND u.business_date = a.business_date
		WHERE NOT coalesce(u.done, false)
	), primary_kinds AS MATERIALIZED (
		-- what is wrong in itself: failures, stuck runs, runs missing with
		-- nothing upstream to wait for
		SELECT a.job_id, a.business_date, min(a.kind) AS kind
		FROM job_alerts a
		LEFT JOIN waiting w ON w.job_id = a.job_id AND w.business_date = a.business_date
		WHERE NOT (a.kind = 'missing' AND w.job_id IS NOT NULL)
		GROUP BY a.job_id, a.business_date
	), alerted_up AS MATERIALIZED (
		SELECT a.job_id, a.business_date, an.upstream_job_id, an.depth
		FROM alerted a
		JOIN ancestry an ON an.job_id = a.job_id
		JOIN primary_kinds u ON u.job_id = an.upstream_job_id AND u.business_date = a.business_date
	), roots AS (
		-- the root: a primary alert upstream that has none upstream of its own
		SELECT DISTINCT ON (x.job_id, x.business_date) x.job_id, x.business_date, x.upstream_job_id AS root_job_id
		FROM alerted_up x
		WHERE NOT EXISTS (SELECT FROM alerted_up y
						  WHERE y.job_id = x.upstream_job_id AND y.business_date = x.business_date)
		ORDER BY x.job_id, x.business_date, x.depth DESC, x.upstream_job_id
	), folded AS (
		SELECT a.*,
			@extschema@._alert_key(pk.kind, 'job', r.root_job_id, r.business_date) AS root_key,
			w.job_id IS NOT NULL AS is_waiting
		FROM job_alerts a
		LEFT JOIN roots r ON r.job_id = a.job_id AND r.business_date = a.business_date
		LEFT JOIN primary_kinds pk ON pk.job_id = r.root_job_id AND pk.business_date = r.business_date
		LEFT JOIN jobs rj ON rj.job_id = r.root_job_id
		LEFT JOIN waiting w ON w.job_id = a.job_id AND w.business_date = a.business_date
	),
	late AS (
		SELECT 'late' AS kind, NULL::integer AS system_id, NULL::integer AS job_id,
			sd.slo_id, sd.business_date,
			format('%s for %s is late: %s of %s jobs not done %s the %s deadline (%s): %s',
				   sd.name, to_char(sd.business_date, 'YYYY-MM-DD'), count(*) FILTER (WHERE NOT p.done), count(*),
				   CASE WHEN as_of - sd.deadline < interval '1 minute' THEN 'at'
						ELSE @extschema@._human(extract(epoch FROM as_of - sd.deadline)) || ' after' END,
				   to_char(sd.deadline AT TIME ZONE sd.time_zone, 'HH24:MI'), sd.time_zone,
				   string_agg(j.system || '/' || j.name, ', ' ORDER BY j.system, j.name) FILTER (WHERE NOT p.done)) AS summary,
			jsonb_build_object('slo', sd.name, 'pipeline', sd.pipeline, 'deadline', @extschema@._utc(sd.deadline),
				'time_zone', sd.time_zone, 'late_seconds', round(extract(epoch FROM as_of - sd.deadline)),
				'not_done', jsonb_agg(jsonb_build_object('system', j.system, 'job', j.name,
					'state', CASE WHEN p.active THEN 'running' WHEN p.last_run IS NULL THEN 'not started' ELSE 'failed' END)
					ORDER BY j.system, j.name) FILTER (WHERE NOT p.done),
				'systems', jsonb_agg(DISTINCT j.system)) AS detail
		FROM slo_days sd
		JOIN in_play p ON p.slo_id = sd.slo_id AND p.business_date = sd.business_date
		JOIN jobs j ON j.job_id = p.job_id
		WHERE sd.deadline <= as_of
		GROUP BY sd.slo_id, sd.name, sd.pipeline, sd.time_zone, sd.business_date, sd.deadline
		HAVING bool_or(NOT p.done)
	),
	-- predicted breach: before the deadline, the remaining jobs' p90 durations
	-- along declared dependencies (else from when each is scheduled or now)
	remaining AS MATERIALIZED (
		SELECT p.slo_id, p.business_date, p.job_id, p.active,
			CASE WHEN p.active THEN coalesce(p.active_since, as_of)
				 ELSE greatest(as_of, (SELECT min(x.slot_at) FROM @extschema@.expected_run x
									   WHERE x.job_id = p.job_id AND x.business_date = p.business_date
										 AND x.slot_at > as_of)) END AS base_start,
			coalesce(d.p90_seconds, 0) AS p90
		FROM in_play p
		JOIN slo_days sd ON sd.slo_id = p.slo_id AND sd.business_date = p.business_date AND sd.deadline > as_of
		LEFT JOIN durs d ON d.job_id = p.job_id
		WHERE NOT p.done
	), edges AS MATERIALIZED (
		-- declared dependencies between remaining jobs of the same SLO day
		SELECT r.slo_id, r.business_date, dep.upstream_job_id, r.job_id, r.base_start, r.p90
		FROM remaining r
		JOIN @extschema@.job_dependency dep ON dep.job_id = r.job_id
		JOIN remaining u ON u.slo_id = r.slo_id AND u.business_date = r.business_date
						AND u.job_id = dep.upstream_job_id
		WHERE NOT r.active
	), path AS (
		-- from the jobs nothing remaining holds up (and the running ones),
		-- along the edges: each job ends p90 after the later of its upstream's
		-- end and its own start; the day ends with the latest
		WITH RECURSIVE path(slo_id, business_date, job_id, est_end, depth) AS (
			SELECT r.slo_id, r.business_date, r.job_id,
				CASE WHEN r.active THEN greatest(as_of, r.base_start + make_interval(secs => r.p90))
					 ELSE r.base_start + make_interval(secs => r.p90) END, 0
			FROM remaining r
			WHERE r.active OR NOT EXISTS (SELECT FROM edges e WHERE e.slo_id = r.slo_id
										  AND e.business_date = r.business_date AND e.job_id = r.job_id)
			UNION ALL
			SELECT e.slo_id, e.business_date, e.job_id,
				greatest(p.est_end, e.base_start) + make_interval(secs => e.p90), p.depth + 1
			FROM path p
			JOIN edges e ON e.upstream_job_id = p.job_id AND e.slo_id = p.slo_id
						AND e.business_date = p.business_date
			WHERE p.depth < 1000
		)
		SELECT DISTINCT ON (path.slo_id, path.business_date) path.slo_id, path.business_date,
			path.job_id AS critical_job_id, path.est_end
		FROM path ORDER BY path.slo_id, path.business_date, path.est_end DESC
	), predicted AS (
		SELECT 'predicted' AS kind, NULL::integer AS system_id, NULL::integer AS job_id,
			sd.slo_id, sd.business_date,
			format('%s for %s is predicted to complete at %s, %s after its %s deadline (%s); critical: %s/%s',
				   sd.name, to_char(sd.business_date, 'YYYY-MM-DD'), to_char(pa.est_end AT TIME ZONE sd.time_zone, 'HH24:MI'),
				   @extschema@._human(extract(epoch FROM pa.est_end - sd.deadline)),
				   to_char(sd.deadline AT TIME ZONE sd.time_zone, 'HH24:MI'), sd.time_zone,
				   cj.system, cj.name) AS summary,
			jsonb_build_object('slo', sd.name, 'pipeline', sd.pipeline, 'deadline', @extschema@._utc(sd.deadline),
				'time_zone', sd.time_zone, 'predicted_end', @extschema@._utc(pa.est_end),
				'late_seconds', round(extract(epoch FROM pa.est_end - sd.deadline)),
				'critical', cj.system || '/' || cj.name,
				'remaining', (SELECT jsonb_agg(rj.system || '/' || rj.name ORDER BY rj.system, rj.name)
							  FROM remaining r JOIN jobs rj ON rj.job_id = r.job_id
							  WHERE r.slo_id = sd.slo_id AND r.business_date = sd.business_date),
				'systems', (SELECT jsonb_agg(DISTINCT rj.system) FROM remaining r JOIN jobs rj ON rj.job_id = r.job_id
							WHERE r.slo_id = sd.slo_id AND r.business_date = sd.business_date)) AS detail
		FROM path pa
		JOIN slo_days sd ON sd.slo_id = pa.slo_id AND sd.business_date = pa.business_date
		JOIN jobs cj ON cj.job_id = pa.critical_job_id
		WHERE pa.est_end > sd.deadline AND sd.deadline > as_of
	),
	-- stale collector: no successful sweep within stale_after (a hot collection reads only
	-- what is in flight: it says nothing of a trigger that never fired)
	stale AS (
		SELECT 'stale' AS kind, s.system_id, NULL::integer AS job_id, NULL::integer AS slo_id,
			NULL::date AS business_date,
			CASE WHEN c.last_ok IS NULL THEN format('the %s collector of %s has never succeeded (last error: %s)',
												   s.kind, s.name, coalesce(c.last_error, 'none'))
				 ELSE format('the %s collector of %s last succeeded %s ago%s', s.kind, s.name,
							 @extschema@._human(extract(epoch FROM as_of - c.last_ok)),
							 CASE WHEN c.last_error IS NOT NULL THEN '; last error: ' || left(c.last_error, 300) ELSE '' END) END AS summary,
			jsonb_strip_nulls(jsonb_build_object('system', s.name, 'last_success_at', @extschema@._utc(c.last_ok),
				'last_error', left(c.last_error, 1000))) AS detail
		FROM @extschema@.system s
		CROSS JOIN LATERAL (
			SELECT max(x.ended_at) FILTER (WHERE x.error IS NULL AND x.ended_at <= as_of) AS last_ok,
				(array_agg(x.error ORDER BY x.started_at DESC))[1] AS last_error,
				count(*) AS n
			FROM @extschema@.collection x
			WHERE x.system_id = s.system_id AND x.mode = 'sweep' AND x.started_at <= as_of
			  AND x.started_at > as_of - greatest(lookback, stale_after * 4)) c
		WHERE s.kind IN ('glue', 'airflow') AND c.n > 0
		  AND (c.last_ok IS NULL OR c.last_ok < as_of - stale_after)
	),
	-- data-quality checks whose latest verdict at as_of (kant.dq_result, kept
	-- by kant.evaluate_checks, which kant.run_checks runs first) failed; a
	-- pending one (a measurement not seen yet) does not clear a failure
	dq AS (
		SELECT c.check_id, c.severity, v.business_date,
			format('%s: %s on %s for %s%s%s', c.name, v.status, d.name, to_char(v.business_date, 'YYYY-MM-DD'),
				   CASE WHEN v.expected IS NOT NULL THEN format(': observed %s, expected %s', v.observed, v.expected)
						ELSE '' END,
				   CASE WHEN v.detail IS NULL THEN '' WHEN v.expected IS NULL THEN ': ' || v.detail
						ELSE ' (' || v.detail || ')' END) AS summary,
			jsonb_strip_nulls(jsonb_build_object('check', c.name, 'kind', c.kind, 'dataset', d.name,
				'source_dataset', s.name, 'metric', c.metric, 'status', v.status, 'observed', v.observed,
				'expected', v.expected, 'detail', v.detail, 'pipeline', c.pipeline)) AS detail
		FROM @extschema@.dq_check c
		JOIN @extschema@.dataset d ON d.dataset_id = c.dataset_id
		LEFT JOIN @extschema@.dataset s ON s.dataset_id = c.source_dataset_id
		CROSS JOIN LATERAL (SELECT d0 + i AS bd FROM generate_series(0, d1 - d0) AS i) b
		CROSS JOIN LATERAL (SELECT r.business_date, r.status, r.observed, r.expected, r.detail
							FROM @extschema@.dq_result r
							WHERE r.check_id = c.check_id AND r.business_date = b.bd AND r.evaluated_at <= as_of
							  AND r.status <> 'pending'
							ORDER BY r.evaluated_at DESC LIMIT 1) v
		WHERE c.active AND v.status IN ('fail', 'warn', 'error')
	)
	SELECT @extschema@._alert_key(f.kind, 'job', f.job_id, f.business_date),
		f.kind, k.severity, f.system_id, f.job_id, f.slo_id, f.business_date, f.summary, f.detail, f.root_key
	FROM folded f JOIN jobs j ON j.job_id = f.job_id
	JOIN @extschema@.alert_kinds() k ON k.kind = f.kind
	-- a run not started while an upstream job is still on its way is waiting,
	-- not missing (the SLO's predicted and late alerts speak for the day)
	WHERE NOT (f.kind = 'missing' AND f.root_key IS NULL AND f.is_waiting)
	UNION ALL
	SELECT @extschema@._alert_key(x.kind, 'slo', x.slo_id, x.business_date),
		x.kind, k.severity, x.system_id, x.job_id, x.slo_id, x.business_date, x.summary, x.detail, NULL
	FROM (SELECT * FROM late UNION ALL SELECT * FROM predicted) x
	JOIN @extschema@.slo s ON s.slo_id = x.slo_id
	JOIN @extschema@.alert_kinds() k ON k.kind = x.kind
	UNION ALL
	SELECT @extschema@._alert_key(x.kind, 'system', x.system_id, NULL), x.kind, k.severity, x.system_id, NULL, NULL, NULL, x.summary, x.detail, NULL
	FROM stale x JOIN @extschema@.system sy ON sy.system_id = x.system_id
	JOIN @extschema@.alert_kinds() k ON k.kind = x.kind
	UNION ALL
	-- a check's own severity: a warning check raises a warning
	SELECT @extschema@._alert_key('data_quality', 'check', q.check_id, q.business_date), 'data_quality', q.severity,
		NULL, NULL, NULL, q.business_date, q.summary, q.detail, NULL
	FROM dq q;
END
$$;
COMMENT ON FUNCTION @extschema@.check_conditions(timestamptz) IS
	'What is wrong at as_of (default now): failures (retry-aware), late SLO days, missing runs, predicted breaches, stuck runs, stale collectors, failed data-quality checks (their latest verdict at as_of in kant.dq_result); read-only (kant.run_checks() turns them into alerts)';
REVOKE ALL ON FUNCTION @extschema@.check_conditions(timestamptz) FROM PUBLIC;
/*
 * Turn the conditions into alerts and queue their messages, in this
 * transaction: an alert opens once per key, is updated while it lasts,
 * reminded every reminder_interval, resolved when its condition clears (one
 * message, if one was sent about it).  Silenced alerts are kept but not sent;
 * a job's alert under a failing upstream is folded into the upstream's.
 */
CREATE OR REPLACE FUNCTION @extschema@.run_checks(as_of timestamptz DEFAULT now(),
		OUT opened integer, OUT resolved integer, OUT open_now integer, OUT queued integer)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	st record;
	fs @extschema@.alert_condition[];
	keys text[];
	gone bigint[];
	lookback interval;
	reminder_interval interval;
	d0 date;
BEGIN
	-- one check at a time: two at once would open the same alert twice
	PERFORM pg_advisory_xact_lock(@extschema@._lock_key('checks'), 0);
	SELECT * INTO st FROM @extschema@._alert_settings();
	lookback := @extschema@._elapsed(st.lookback);
	reminder_interval := @extschema@._elapsed(st.reminder_interval);
	d0 := ((as_of - lookback) AT TIME ZONE 'UTC')::date - 1;
	-- the data-quality verdicts of the window, kept before they are read
	IF EXISTS (SELECT FROM @extschema@.dq_check c WHERE c.active) THEN
		PERFORM count(*) FROM @extschema@.evaluate_checks(d0, (as_of AT TIME ZONE 'UTC')::date + 1, as_of);
	END IF;
	fs := ARRAY(SELECT c FROM @extschema@.check_conditions(as_of) c);
	keys := ARRAY(SELECT f.alert_key FROM unnest(fs) f);

	WITH up AS (
		INSERT INTO @extschema@.alert AS a (alert_key, kind, severity, system_id, job_id, slo_id,
			business_date, status, summary, detail, opened_at, last_seen_at)
		SELECT f.alert_key, f.kind, f.severity, f.system_id, f.job_id, f.slo_id, f.business_date,
			'open', f.summary, f.detail, as_of, as_of
		FROM unnest(fs) f
		ON CONFLICT (alert_key) DO UPDATE SET
			summary = excluded.summary, detail = excluded.detail, severity = excluded.severity,
			last_seen_at = as_of, status = 'open',
			opened_at = CASE WHEN a.status = 'resolved' THEN as_of ELSE a.opened_at END,
			notified_at = CASE WHEN a.status = 'resolved' THEN NULL ELSE a.notified_at END,
			resolved_at = NULL, resolution = NULL
		RETURNING a.notified_at IS NULL AND a.opened_at = as_of AS new
	)
	SELECT count(*) FILTER (WHERE up.new) INTO opened FROM up;

	-- folding under the upstream-most alert
	UPDATE @extschema@.alert a SET folded_into = r.alert_id
	FROM unnest(fs) f LEFT JOIN @extschema@.alert r ON r.alert_key = f.root_key
	WHERE a.alert_key = f.alert_key AND a.folded_into IS DISTINCT FROM r.alert_id;

	-- silences in force at as_of
	UPDATE @extschema@.alert a SET silence_id = m.silence_id
	FROM (
		SELECT x.alert_id, (
			SELECT s.silence_id FROM @extschema@.silence s
			WHERE s.starts_at <= as_of AND s.ends_at > as_of
			  AND (s.kind IS NULL OR s.kind = x.kind)
			  AND (s.system IS NULL OR s.system = sy.name OR x.detail->'systems' ? s.system)
			  AND (s.job IS NULL OR s.job = j.name)
			  AND (s.pipeline IS NULL OR s.pipeline = coalesce(j.pipeline, sl.pipeline, x.detail->>'pipeline'))
			ORDER BY s.ends_at DESC LIMIT 1) AS silence_id
		FROM @extschema@.alert x
		LEFT JOIN @extschema@.system sy ON sy.system_id = x.system_id
		LEFT JOIN @extschema@.job j ON j.job_id = x.job_id
		LEFT JOIN @extschema@.slo sl ON sl.slo_id = x.slo_id
		WHERE x.status = 'open') m
	WHERE a.alert_id = m.alert_id AND a.silence_id IS DISTINCT FROM m.silence_id;

	-- what cleared
	WITH r AS (
		UPDATE @extschema@.alert a SET status = 'resolved', resolved_at = as_of,
			resolution = CASE
				WHEN a.business_date < d0
					OR (a.kind = 'late' AND (a.detail->>'deadline')::timestamptz <= as_of - lookback)
					OR (a.kind = 'missing' AND (a.detail->>'due_at')::timestamptz <= as_of - lookback)
					THEN 'no longer checked (older than the lookback)'
				WHEN a.kind = 'predicted' AND @extschema@._alert_key('late', 'slo', a.slo_id, a.business_date) = ANY (keys)
					THEN 'the deadline passed (see the late alert)'
				WHEN a.kind = 'data_quality' AND NOT EXISTS (SELECT FROM @extschema@.dq_check c
						WHERE c.name = a.detail->>'check' AND c.active)
					THEN 'the check was dropped'
				ELSE (SELECT k.resolved_when FROM @extschema@.alert_kinds() k WHERE k.kind = a.kind) END
			-- folded_into stays: that it was sent as part of an upstream alert is
			-- history (bi_alert_daily counts it); a reopened alert is folded anew
		FROM @extschema@.alert o LEFT JOIN @extschema@.slo sl ON sl.slo_id = o.slo_id
		WHERE o.alert_id = a.alert_id AND a.status = 'open'
		  AND NOT EXISTS (SELECT FROM unnest(keys) AS k(key) WHERE k.key = a.alert_key)
		RETURNING a.alert_id
	)
	SELECT count(*), array_agg(r.alert_id) INTO resolved, gone FROM r;

	-- the messages: new (or unmuted, or no longer folded) alerts, reminders, resolutions
	-- (the open alerts by their partial index, and the ones just resolved by
	-- id: never a scan of years of resolved alerts)
	WITH ev AS (
		SELECT a.alert_id, CASE WHEN a.notified_at IS NULL THEN 'opened' ELSE 'reminder' END AS event
		FROM @extschema@.alert a
		WHERE a.status = 'open' AND a.silence_id IS NULL AND a.folded_into IS NULL
		  AND (a.notified_at IS NULL
			   OR (a.severity = 'critical' AND a.notified_at <= as_of - reminder_interval
				   AND a.notifications <= st.max_reminders))
		UNION ALL
		SELECT a.alert_id, 'resolved'
		FROM @extschema@.alert a
		WHERE a.alert_id = ANY (coalesce(gone, '{}')) AND a.silence_id IS NULL
		  AND a.notified_at IS NOT NULL
		  AND a.resolution NOT LIKE 'the deadline passed%' AND a.resolution NOT LIKE 'no longer checked%'
	), marked AS (
		UPDATE @extschema@.alert a SET notified_at = as_of, notifications = a.notifications + 1
		FROM ev WHERE a.alert_id = ev.alert_id
		RETURNING a.alert_id, a.alert_key, a.kind, a.severity, a.system_id, a.job_id, a.slo_id, a.detail, ev.event
	), q AS (
		INSERT INTO @extschema@.notification (channel, alert_id, alert_key, event, payload, checked_at)
		SELECT ch.channel, m.alert_id, m.alert_key, m.event, @extschema@._slack_message(m.alert_id, m.event), as_of
		FROM marked m
		LEFT JOIN @extschema@.system sy ON sy.system_id = m.system_id
		LEFT JOIN @extschema@.job j ON j.job_id = m.job_id
		LEFT JOIN @extschema@.slo sl ON sl.slo_id = m.slo_id
		CROSS JOIN LATERAL (
			SELECT DISTINCT r.channel FROM @extschema@.alert_route r
			WHERE (r.kind IS NULL OR r.kind = m.kind)
			  AND (r.system IS NULL OR r.system = sy.name OR m.detail->'systems' ? r.system)
			  AND (r.pipeline IS NULL OR r.pipeline = coalesce(j.pipeline, sl.pipeline, m.detail->>'pipeline'))
			  AND (r.min_severity = 'warning' OR m.severity = 'critical')) ch
		ORDER BY m.alert_id, ch.channel
		RETURNING 1
	)
	SELECT count(*) INTO queued FROM q;

	SELECT count(*) INTO open_now FROM @extschema@.alert a WHERE a.status = 'open';
END
$$;
COMMENT ON FUNCTION @extschema@.run_checks(timestamptz) IS
	'Run the checks at as_of (default now): open, update, fold, silence and resolve alerts, and queue their Slack messages in kant.notification (sent by kant.deliver_notifications)';
REVOKE ALL ON FUNCTION @extschema@.run_checks(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.run_checks(timestamptz) FROM PUBLIC;
COMMENT ON COLUMN @extschema@.silence.silence_id IS 'the silence';
COMMENT ON COLUMN @extschema@.silence.system IS 'only this system (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.job IS 'only this job (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.pipeline IS 'only this pipeline (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.kind IS 'only this kind (NULL: any)';
COMMENT ON COLUMN @extschema@.silence.starts_at IS 'from';
COMMENT ON COLUMN @extschema@.silence.ends_at IS 'until';
COMMENT ON COLUMN @extschema@.silence.reason IS 'why (required)';
COMMENT ON COLUMN @extschema@.silence.created_by IS 'who';
CREATE OR REPLACE FUNCTION @extschema@.silence(reason text, duration interval DEFAULT NULL,
		system text DEFAULT NULL, job text DEFAULT NULL, pipeline text DEFAULT NULL,
		kind text DEFAULT NULL, until timestamptz DEFAULT NULL, starts_at timestamptz DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
	f timestamptz := coalesce(starts_at, now());
	d interval := @extschema@._elapsed(duration);	-- '1 day' is 24 hours in every session's zone
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'a silence needs a reason' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Say why, e.g. kant.silence(''HEGEL maintenance, ticket OPS-123'', ''4 hours'', system => ''hegel'').';
	END IF;
	IF (duration IS NULL) = (until IS NULL) THEN
		RAISE EXCEPTION 'give a silence either a duration or an end (until)' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'kant.silence(reason, ''2 hours'', ...) or kant.silence(reason, until => ''2026-11-27 09:00+09'', ...).';
	END IF;
	IF coalesce(until, f + d) <= f THEN
		RAISE EXCEPTION 'a silence must end after it starts' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF kind IS NOT NULL AND NOT @extschema@._is_alert_kind(kind) THEN
		RAISE EXCEPTION 'invalid kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('One of %s; NULL for all.', (SELECT string_agg(k.kind, ', ') FROM @extschema@.alert_kinds() k));
	END IF;
	IF system IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.system s WHERE s.name = silence.system) THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.system;';
	END IF;
	INSERT INTO @extschema@.silence (system, job, pipeline, kind, starts_at, ends_at, reason)
	VALUES (system, job, pipeline, kind, f, coalesce(until, f + d), btrim(reason))
	RETURNING silence_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) IS
	'Mute alerts of a system / job / pipeline / kind (NULL: any) for a duration or until a time, with a reason; returns the silence id';
REVOKE ALL ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.silence(text, interval, text, text, text, text, timestamptz, timestamptz) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.add_route(channel text, system text DEFAULT NULL, pipeline text DEFAULT NULL,
		kind text DEFAULT NULL, min_severity text DEFAULT 'warning')
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.channel c WHERE c.name = add_route.channel) THEN
		RAISE EXCEPTION 'channel "%" does not exist', channel
			USING ERRCODE = 'undefined_object', HINT = 'Add it with kant.set_channel(name, webhook_url).';
	END IF;
	IF system IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.system s WHERE s.name = add_route.system) THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.system;';
	END IF;
	IF kind IS NOT NULL AND NOT @extschema@._is_alert_kind(kind) THEN
		RAISE EXCEPTION 'invalid kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('One of %s; NULL for all.', (SELECT string_agg(k.kind, ', ') FROM @extschema@.alert_kinds() k));
	END IF;
	IF min_severity IS NULL OR min_severity NOT IN ('warning', 'critical') THEN
		RAISE EXCEPTION 'invalid min_severity "%"', min_severity
			USING ERRCODE = 'invalid_parameter_value', HINT = 'warning (everything) or critical (failure, late, missing, stale).';
	END IF;
	INSERT INTO @extschema@.alert_route (channel, system, pipeline, kind, min_severity)
	VALUES (channel, system, pipeline, kind, min_severity) RETURNING route_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.add_route(text, text, text, text, text) IS
	'Send the alerts of a system / pipeline / kind (NULL: any) of at least a severity to a channel; returns the route id';
REVOKE ALL ON FUNCTION @extschema@.add_route(text, text, text, text, text) FROM PUBLIC;
-- The Slack message of an alert event: a short plain text (notifications,
-- screen readers) and Block Kit blocks within Slack's limits.
CREATE OR REPLACE FUNCTION @extschema@._slack_message(alert_id bigint, event text)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a record;
	zone text;
	title text;
	icon text;
	kind_title text;
	link text;
	fields jsonb := '[]';
	blocks jsonb;
	blocked text;
	when_text text;
BEGIN
	SELECT x.*, sy.name AS system, coalesce(sy.display_name, sy.name) AS system_display,
		sy.kind AS system_kind, sy.region, sy.endpoint, sy.time_zone AS system_zone,
		j.name AS job, j.dag_id, s.name AS slo
	INTO a
	FROM @extschema@.alert x
	LEFT JOIN @extschema@.system sy ON sy.system_id = x.system_id
	LEFT JOIN @extschema@.job j ON j.job_id = x.job_id
	LEFT JOIN @extschema@.slo s ON s.slo_id = x.slo_id
	WHERE x.alert_id = _slack_message.alert_id;
	zone := coalesce(a.detail->>'time_zone', a.system_zone, 'UTC');
	SELECT k.icon, k.title INTO icon, kind_title FROM @extschema@.alert_kinds() k WHERE k.kind = a.kind;
	icon := CASE WHEN event = 'resolved' THEN ':white_check_mark:' ELSE icon END;
	-- every value from outside (names, error texts, summaries) is escaped the
	-- way Slack asks (&, <, >): a run's error message cannot mention
	-- @channel or disguise a link
	title := CASE event WHEN 'resolved' THEN 'Resolved: ' WHEN 'reminder' THEN 'Still open: ' ELSE '' END
		|| kind_title
		|| coalesce(' — ' || coalesce(a.slo, a.system_display || coalesce(' ' || a.job, ''), a.detail->>'check'), '');
	IF a.slo IS NOT NULL OR a.system_display IS NOT NULL THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*' ||
			CASE WHEN a.slo IS NOT NULL THEN 'SLO' ELSE 'System' END || '*' || chr(10) ||
			@extschema@._slack_escape(coalesce(a.slo, a.system_display)));
	END IF;
	-- a data-quality alert is about a dataset, not a system
	IF a.kind = 'data_quality' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Dataset*' || chr(10) || '`' ||
			left(@extschema@._slack_escape(coalesce(a.detail->>'dataset', '?')) || '`'
			|| coalesce(' vs `' || @extschema@._slack_escape(a.detail->>'source_dataset') || '`', ''), 1900));
		-- Block Kit caps a field's text at 2,000 characters
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Observed*' || chr(10) ||
			left(@extschema@._slack_escape(left(coalesce(a.detail->>'observed', '-'), 200) || ', expected '
				 || left(coalesce(a.detail->>'expected', '-'), 200)), 1900));
	END IF;
	IF a.job IS NOT NULL THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Job*' || chr(10) || '`' || @extschema@._slack_escape(a.job) || '`');
	END IF;
	IF a.business_date IS NOT NULL THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Business date*' || chr(10) || to_char(a.business_date, 'YYYY-MM-DD'));
	END IF;
	IF a.detail ? 'deadline' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Deadline*' || chr(10) ||
			to_char((a.detail->>'deadline')::timestamptz AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI') || ' ' || @extschema@._slack_escape(zone));
	END IF;
	IF a.kind = 'late' AND event <> 'resolved' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Late by*' || chr(10) ||
			@extschema@._human((a.detail->>'late_seconds')::double precision));
	ELSIF a.kind = 'predicted' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Predicted end*' || chr(10) ||
			to_char((a.detail->>'predicted_end')::timestamptz AT TIME ZONE zone, 'HH24:MI') || ' (' ||
			@extschema@._human((a.detail->>'late_seconds')::double precision) || ' late)');
	END IF;
	IF a.detail ? 'attempt' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Attempt*' || chr(10) ||
			@extschema@._slack_escape(a.detail->>'attempt') || coalesce(' of ' || ((a.detail->>'max_retries')::integer + 1), ''));
	END IF;
	IF a.detail ? 'restarts' THEN
		fields := fields || jsonb_build_object('type', 'mrkdwn', 'text', '*Recovery*' || chr(10) ||
			@extschema@._slack_escape(format('kant %s it (%s/%s)',
				CASE a.system_kind WHEN 'airflow' THEN 'cleared' ELSE 'restarted' END,
				a.detail->>'restarts', coalesce(a.detail->>'max_restarts', '?'))));
	END IF;
	SELECT @extschema@._slack_escape(string_agg(coalesce(j.name, d.alert_key), ', ' ORDER BY d.alert_id)) INTO blocked
	FROM @extschema@.alert d LEFT JOIN @extschema@.job j ON j.job_id = d.job_id
	WHERE d.folded_into = a.alert_id AND d.status = 'open';
	link := CASE
		WHEN a.system_kind = 'glue' AND a.job IS NOT NULL AND a.region IS NOT NULL THEN
			format('https://%s.console.aws.amazon.com/gluestudio/home?region=%s#/editor/job/%s/runs',
				   @extschema@._url_part(a.region), @extschema@._url_part(a.region), @extschema@._url_part(a.job))
		-- never a URL with user:password@ (an endpoint stored before 0.6.0 refused them)
		WHEN a.system_kind = 'airflow' AND a.dag_id IS NOT NULL AND a.endpoint ~* '^https?://[^<>|\s@]+$' THEN
			rtrim(a.endpoint, '/') || '/dags/' || @extschema@._url_part(a.dag_id) || '/grid'
		END;
	when_text := CASE event WHEN 'resolved' THEN 'resolved ' || to_char(a.resolved_at AT TIME ZONE zone, 'MM-DD HH24:MI')
		|| coalesce(' (' || a.resolution || ')', '') ELSE 'open since ' || to_char(a.opened_at AT TIME ZONE zone, 'MM-DD HH24:MI') END;
	when_text := @extschema@._slack_escape(when_text);
	blocks := jsonb_build_array(
		jsonb_build_object('type', 'header', 'text', jsonb_build_object('type', 'plain_text',
			'text', left(@extschema@._slack_escape(title), 150), 'emoji', true)),
		jsonb_build_object('type', 'section', 'text', jsonb_build_object('type', 'mrkdwn',
			'text', left(icon || ' ' || CASE WHEN event = 'resolved' THEN coalesce(initcap(a.resolution) || '. ', '') ELSE '' END
				|| @extschema@._slack_escape(a.summary), 3000)),
			'fields', fields));
	IF blocked IS NOT NULL AND event <> 'resolved' THEN
		blocks := blocks || jsonb_build_object('type', 'section', 'text', jsonb_build_object('type', 'mrkdwn',
			'text', left(':no_entry: Blocked by this: ' || blocked, 3000)));
	END IF;
	IF link IS NOT NULL THEN
		blocks := blocks || jsonb_build_object('type', 'section', 'text', jsonb_build_object('type', 'mrkdwn',
			'text', '<' || link || '|Open in ' || CASE a.system_kind WHEN 'glue' THEN 'the AWS Glue console' ELSE 'Airflow' END || '>'));
	END IF;
	blocks := blocks || jsonb_build_object('type', 'context', 'elements', jsonb_build_array(
		jsonb_build_object('type', 'mrkdwn', 'text', left('kant · ' || @extschema@._slack_escape(a.alert_key) || ' · ' || when_text, 3000))));
	RETURN jsonb_build_object(
		'text', left(CASE event WHEN 'resolved' THEN '[resolved] ' WHEN 'reminder' THEN '[still open] ' ELSE '' END
			|| @extschema@._slack_escape(a.summary) || CASE WHEN blocked IS NOT NULL AND event <> 'resolved' THEN ' — blocks ' || blocked ELSE '' END, 3000),
		'blocks', blocks,
		'unfurl_links', false);
END
$$;
COMMENT ON FUNCTION @extschema@._slack_message(bigint, text) IS
	'internal: the Slack message (text and Block Kit blocks) of an alert''s opened, reminder or resolved event';
REVOKE ALL ON FUNCTION @extschema@._slack_message(bigint, text) FROM PUBLIC;
CREATE OR REPLACE PROCEDURE @extschema@.deliver_notifications(max_seconds double precision DEFAULT 50)
	LANGUAGE plpgsql
	AS $$
DECLARE
	started timestamptz := pg_catalog.clock_timestamp();
	wait double precision;
BEGIN
	IF max_seconds IS NULL OR max_seconds OPERATOR(pg_catalog.<) 0::double precision THEN
		RAISE EXCEPTION 'max_seconds must be >= 0' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- one deliverer at a time (a session lock: COMMIT would release a transaction's)
	IF NOT pg_catalog.pg_try_advisory_lock(@extschema@._lock_key('delivery'), 1) THEN
		RAISE NOTICE 'kant: another kant.deliver_notifications() is running';
		RETURN;
	END IF;
	LOOP
		wait := @extschema@._deliver_round(started, max_seconds);
		COMMIT;
		EXIT WHEN wait IS NULL;
		IF wait OPERATOR(pg_catalog.>) 0::double precision THEN
			PERFORM pg_catalog.pg_sleep(wait);
		END IF;
	END LOOP;
	PERFORM pg_catalog.pg_advisory_unlock(@extschema@._lock_key('delivery'), 1);
END
$$;
COMMENT ON PROCEDURE @extschema@.deliver_notifications(double precision) IS
	'Send queued Slack messages (CALL, outside a transaction block): at least once, in order per channel, at most one per channel''s min_interval; 429 waits for Retry-After, 5xx and timeouts back off, other 4xx fail for good with Slack''s answer; returns after max_seconds. Runs as its caller, who needs EXECUTE on kant._deliver_round too; it never sees a webhook URL.';
REVOKE ALL ON PROCEDURE @extschema@.deliver_notifications(double precision) FROM PUBLIC;
/*
 * Each upstream job's state for a business date by the rules kant_gate_ready
 * applies (kant._required_jobs, kant._job_day), each stale upstream system,
 * and the gate's condition (run as the role that defined it).
 */
CREATE OR REPLACE FUNCTION @extschema@.gate_status(gate text, business_date date)
	RETURNS TABLE (system text, job text, state text, attempt integer, started_at timestamptz,
		ended_at timestamptz, expected_end timestamptz, detail text)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g record;
	stale_after interval;
	cond boolean;
	why text;
BEGIN
	SELECT x.* INTO g FROM @extschema@.gate x WHERE x.name = gate_status.gate;
	IF g.gate_id IS NULL THEN
		RAISE EXCEPTION 'gate "%" does not exist', gate
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.gate;';
	END IF;
	stale_after := @extschema@._elapsed(g.stale_after);
	RETURN QUERY
	WITH up AS (
		SELECT j.job_id, j.name, sy.name AS sys, sy.system_id, sy.time_zone AS zone
		FROM @extschema@.gate_scope sc
		JOIN @extschema@.job j ON j.job_id = sc.job_id
		JOIN @extschema@.system sy ON sy.system_id = j.system_id
		WHERE sc.gate_id = g.gate_id
	), req AS (
		SELECT rq.job_id, rq.required, rq.by_scope, jd.done, jd.done_at, jd.in_flight, jd.failed, jd.failed_run_id,
			jd.runs
		FROM @extschema@._required_jobs(NULL, g.gate_id, gate_status.business_date) rq
		CROSS JOIN LATERAL @extschema@._job_day(rq.job_id, gate_status.business_date) jd
	), last AS (
		-- the attempt the state speaks of: a current one still going (running),
		-- else the one that failed (kant._job_day), else the latest current one
		SELECT DISTINCT ON (r.job_id) r.job_id, r.state::text AS state, r.attempt, r.started_at, r.ended_at
		FROM @extschema@.job_run r
		JOIN req q ON q.job_id = r.job_id
		WHERE r.business_date = gate_status.business_date
		ORDER BY r.job_id, @extschema@._is_current(r.superseded_at) DESC, @extschema@.is_terminal(r.state),
			r.run_id IS NOT DISTINCT FROM q.failed_run_id DESC, r.started_at DESC NULLS FIRST, r.attempt DESC
	), slot AS (
		-- the first expected run no run matched (kant._job_day's runs)
		SELECT x.job_id, min(x.slot_at) AS slot_at, min(x.due_at) AS due_at
		FROM (SELECT x.job_id, x.slot_at, x.due_at,
					 row_number() OVER (PARTITION BY x.job_id ORDER BY x.slot_at) AS slot_no
			  FROM @extschema@.expected_run x
			  WHERE x.business_date = gate_status.business_date AND x.job_id IN (SELECT up.job_id FROM up)) x
		JOIN req q ON q.job_id = x.job_id
		WHERE x.slot_no > q.runs
		GROUP BY x.job_id
	), dur AS (
		SELECT d.job_id, d.p90_seconds FROM @extschema@.job_durations(ARRAY(SELECT up.job_id FROM up)) d
	)
	SELECT up.sys, up.name, z.st,
		-- the attempt shown is the one the state speaks of; a run still to
		-- come shows none
		CASE WHEN z.st IN ('succeeded', 'running', 'failed') THEN l.attempt END,
		CASE WHEN z.st IN ('succeeded', 'running', 'failed') THEN l.started_at END,
		CASE WHEN z.st IN ('succeeded', 'running', 'failed') THEN l.ended_at END,
		CASE z.st WHEN 'succeeded' THEN q.done_at
			 WHEN 'running' THEN l.started_at + make_interval(secs => coalesce(d.p90_seconds, 0))
			 WHEN 'pending' THEN CASE WHEN s.slot_at IS NOT NULL
				THEN greatest(s.slot_at, now()) + make_interval(secs => coalesce(d.p90_seconds, 0)) END
			 END,
		CASE WHEN z.st IN ('missing', 'pending') AND s.slot_at IS NOT NULL
				THEN 'expected at ' || to_char(s.slot_at AT TIME ZONE up.zone, 'YYYY-MM-DD HH24:MI') || ' ' || up.zone
					 || CASE WHEN z.st = 'missing' THEN ', not started within its grace period' ELSE '' END
			 WHEN z.st IN ('succeeded', 'running', 'failed') THEN 'kant state ' || l.state
			 END
	FROM up
	JOIN req q ON q.job_id = up.job_id
	LEFT JOIN last l ON l.job_id = up.job_id
	LEFT JOIN slot s ON s.job_id = up.job_id
	LEFT JOIN dur d ON d.job_id = up.job_id
	CROSS JOIN LATERAL (
		SELECT CASE WHEN q.done THEN 'succeeded'
					WHEN q.in_flight THEN 'running'
					WHEN q.failed THEN 'failed'
					WHEN s.due_at <= now() THEN 'missing'
					-- a schedule says it does not run that day (a job no schedule
					-- speaks for waits for its pipeline: pending)
					WHEN NOT q.required AND NOT q.by_scope THEN 'not_required'
					ELSE 'pending' END AS st) z
	UNION ALL
	SELECT sy.name, NULL::text, 'stale', NULL::integer, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
		format('last successful collection %s (limit %s)%s',
			   coalesce(@extschema@._human(extract(epoch FROM now() - c.last_ok)) || ' ago', 'never'),
			   @extschema@._human(extract(epoch FROM stale_after)), CASE WHEN g.when_stale = 'open' THEN '; the gate ignores it (when_stale = open)' ELSE '' END)
	FROM (SELECT DISTINCT up.system_id FROM up) u
	JOIN @extschema@.system sy ON sy.system_id = u.system_id
	CROSS JOIN LATERAL (
		SELECT (SELECT c.ended_at FROM @extschema@.collection c
				WHERE c.system_id = u.system_id AND c.mode = 'sweep' AND c.error IS NULL AND c.ended_at IS NOT NULL
				ORDER BY c.started_at DESC LIMIT 1) AS last_ok,
			   EXISTS (SELECT FROM @extschema@.collection c WHERE c.system_id = u.system_id AND c.mode = 'sweep')
				   AS collected) c
	WHERE c.collected AND (c.last_ok IS NULL OR c.last_ok < now() - stale_after)
	ORDER BY 1, 2 NULLS FIRST;
	-- the data-quality checks the gate requires, as kant_gate_ready() judges them
	RETURN QUERY
	SELECT NULL::text, c.check_name, 'dq_' || c.status, NULL::integer, NULL::timestamptz, NULL::timestamptz,
		NULL::timestamptz, c.dataset || ': ' || c.detail
	FROM @extschema@._gate_checks(g.gate_id, gate_status.business_date) c
	ORDER BY c.check_name;
	-- the condition, as kant_gate_ready() asks it: why it says no, or that it failed
	IF g.condition IS NOT NULL THEN
		SELECT c.holds, c.why INTO cond, why
		FROM @extschema@._gate_condition(g.condition, g.condition_role, gate_status.gate,
										 gate_status.business_date) c;
		system := NULL; job := NULL; state := CASE WHEN cond THEN 'condition_met' ELSE 'condition_not_met' END;
		attempt := NULL; started_at := NULL; ended_at := NULL; expected_end := NULL; detail := why;
		RETURN NEXT;
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.gate_status(text, date) IS
	'Why a gate is (not) open for a business date: each upstream job''s state (succeeded, running, failed, missing, pending, not_required) with its expected end, each stale upstream system, each data-quality check it requires (job: the check''s name; state dq_pass, dq_fail, dq_pending, dq_error; detail: the dataset, observed and expected), and the gate''s condition (condition_met, condition_not_met, with why)';
REVOKE ALL ON FUNCTION @extschema@.gate_status(text, date) FROM PUBLIC;
/*
 * The design card's function, for Composer's SqlSensor: true when some
 * upstream job is required for the business date and every required one is
 * done (kant._required_jobs, kant._job_day: the rules the SLO evaluation and
 * the checks apply), no upstream system's collection is stale (unless the
 * gate ignores staleness), and the gate's condition holds
 * (kant._call_condition: as the role that defined it).  Index lookups only:
 * (business_date, job_id) on job_run, (job_id, business_date) on
 * expected_run, (system_id, started_at) on collection.
 */
CREATE OR REPLACE FUNCTION @extschema@.kant_gate_ready(gate text, business_date date)
	RETURNS boolean
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g record;
	ok boolean;
	failed boolean;
	why text;
BEGIN
	SELECT x.gate_id, @extschema@._elapsed(x.stale_after) AS stale_after, x.when_stale, x.condition,
		x.condition_role INTO g
	FROM @extschema@.gate x WHERE x.name = kant_gate_ready.gate;
	IF g.gate_id IS NULL THEN
		RAISE EXCEPTION 'gate "%" does not exist', gate
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.gate;';
	END IF;
	IF business_date IS NULL THEN
		RAISE EXCEPTION 'business_date must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Composer: SELECT kant.kant_gate_ready(''gate'', ''{{ ds }}'').';
	END IF;
	-- open when some job is required and every required job is done
	SELECT count(*) > 0 AND bool_and(jd.done) INTO ok
	FROM @extschema@._required_jobs(NULL, g.gate_id, kant_gate_ready.business_date) rq
	CROSS JOIN LATERAL @extschema@._job_day(rq.job_id, kant_gate_ready.business_date) jd
	WHERE rq.required;
	IF ok AND g.when_stale = 'closed' THEN
		SELECT NOT EXISTS (
			SELECT FROM (SELECT DISTINCT j.system_id FROM @extschema@.gate_scope sc
						 JOIN @extschema@.job j ON j.job_id = sc.job_id WHERE sc.gate_id = g.gate_id) u
			WHERE EXISTS (SELECT FROM @extschema@.collection c WHERE c.system_id = u.system_id AND c.mode = 'sweep')
			  AND coalesce((SELECT c.ended_at FROM @extschema@.collection c
							WHERE c.system_id = u.system_id AND c.mode = 'sweep' AND c.error IS NULL
							  AND c.ended_at IS NOT NULL
							ORDER BY c.started_at DESC LIMIT 1), '-infinity') < now() - g.stale_after)
		INTO ok;
	END IF;
	-- the critical checks of the gate's datasets pass (kant.set_gate_datasets)
	IF ok THEN
		SELECT NOT EXISTS (SELECT FROM @extschema@._gate_checks(g.gate_id, kant_gate_ready.business_date) c
						   WHERE c.status <> 'pass') INTO ok;
	END IF;
	-- the condition runs as the role that defined the gate, never as kant's owner
	IF ok AND g.condition IS NOT NULL THEN
		SELECT c.holds, c.failed, c.why INTO ok, failed, why
		FROM @extschema@._gate_condition(g.condition, g.condition_role, gate, business_date) c;
		IF failed THEN
			RAISE WARNING 'kant: gate "%": %', gate, why
				USING HINT = format('SELECT * FROM kant.gate_status(%L, %L) says why the gate is closed.',
									gate, to_char(business_date::timestamp, 'YYYY-MM-DD'));
		END IF;
	END IF;
	RETURN ok;
END
$$;
COMMENT ON FUNCTION @extschema@.kant_gate_ready(text, date) IS
	'May the downstream of a gate start for this business date? Some upstream job is required (kant._required_jobs) and every required one is done (kant._job_day: every current attempt succeeded or was skipped, every expected run ran), no upstream collection stale (fail closed unless when_stale = open), every critical data-quality check of its datasets passes (kant.set_gate_datasets; pending holds it closed), the condition holds. What Composer''s SqlSensor polls.';
REVOKE ALL ON FUNCTION @extschema@.kant_gate_ready(text, date) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.trigger_ready_gates(dry_run boolean DEFAULT false)
	RETURNS TABLE (gate text, business_date date, outcome text, http_status integer, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	g record;
	d date;
	run_id text;
	body text;
	res record;
	o text;
	why text;
	gr record;
	dr record;
BEGIN
	PERFORM @extschema@._act_check(dry_run, 'kant.trigger_ready_gates');
	FOR g IN
		SELECT x.gate_id, x.name, x.downstream_dag_id, x.lookback_days, x.trigger_from, sy.name AS sys, sy.time_zone
		FROM @extschema@.gate x JOIN @extschema@.system sy ON sy.system_id = x.downstream_system_id
		ORDER BY x.name
	LOOP
		-- a gate another session is triggering (or kant.rerun re-arming) is
		-- left to it: the next tick looks again, none waits (kant.tick's deadline)
		CONTINUE WHEN NOT pg_try_advisory_xact_lock(@extschema@._lock_key('gate_trigger'), g.gate_id);
		FOR d IN
			SELECT (now() AT TIME ZONE g.time_zone)::date - i
			FROM generate_series(g.lookback_days, 0, -1) AS i
			WHERE (now() AT TIME ZONE g.time_zone)::date - i >= coalesce(g.trigger_from, '-infinity')
		LOOP
			-- the run due: the first, or the latest re-trigger kant.rerun asked
			SELECT * INTO gr FROM @extschema@._gate_run(g.gate_id, d, g.time_zone);
			run_id := gr.dag_run_id;
			-- triggered, or refused for good (below): kant.rerun re-arms it
			CONTINUE WHEN EXISTS (SELECT FROM @extschema@._gate_trigger(g.gate_id, d, g.downstream_dag_id || '/' || run_id));
			-- a re-trigger waits until the systems the re-run acted on were
			-- collected since: until then kant holds the runs from before it
			CONTINUE WHEN gr.generation > 0 AND EXISTS (
				SELECT FROM unnest(gr.systems) u(system_id)
				WHERE NOT EXISTS (SELECT FROM @extschema@.collection c
								  WHERE c.system_id = u.system_id AND c.started_at > gr.requested_at
									AND c.ended_at IS NOT NULL AND c.error IS NULL
									-- a sweep, or a hot collection that read all it meant to
									-- (it reads the runs kant.rerun started)
									AND (c.mode = 'sweep' OR c.deferred = 0 AND c.requests > 0)));
			BEGIN
				CONTINUE WHEN NOT @extschema@.kant_gate_ready(g.name, d);
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;
				END IF;
				-- a gate whose readiness cannot be told (its condition failed) stays
				-- closed; the other gates go on
				RAISE WARNING 'kant: gate "%" for %: %', g.name, to_char(d::timestamp, 'YYYY-MM-DD'), SQLERRM;
				CONTINUE;
			END;
			-- the logical date: kant._gate_run says why
			body := jsonb_build_object('dag_run_id', run_id, 'logical_date', gr.logical_date,
				'conf', jsonb_build_object('business_date', to_char(d::timestamp, 'YYYY-MM-DD'), 'gate', g.name,
										   'triggered_by', 'kant')
						|| CASE WHEN gr.generation > 0 THEN jsonb_build_object('rerun', gr.generation) ELSE '{}' END)::text;
			IF dry_run THEN
				INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome, detail)
				SELECT 'trigger', g.gate_id, d, s.system_id, g.downstream_dag_id || '/' || run_id, 'dry_run',
					'would POST dags/' || g.downstream_dag_id || '/dagRuns ' || body
				FROM @extschema@.system s WHERE s.name = g.sys;
				gate := g.name; business_date := d; outcome := 'dry_run'; http_status := NULL; detail := body;
				RETURN NEXT;
				CONTINUE;
			END IF;
			BEGIN
				SELECT * INTO res FROM @extschema@._airflow_post(g.sys,
					'dags/' || @extschema@._url_part(g.downstream_dag_id) || '/dagRuns', body);
				o := CASE WHEN res.status BETWEEN 200 AND 299 THEN 'done'
						  WHEN res.status = 409 THEN 'already' ELSE 'failed' END;
				why := left(res.body, 1000);
				/*
				 * 409 is a DAG run with this dag_run_id (kant's own: a trigger
				 * whose reply was lost) or with this logical date (DagRun's
				 * unique (dag_id, logical_date), in Airflow 2 and 3: airflow-core
				 * models/dagrun.py): another gate on the same DAG, or a run by
				 * hand.  Only Airflow knows which.
				 */
				IF res.status = 409 THEN
					SELECT * INTO dr FROM @extschema@._airflow_dag_run(g.sys, g.downstream_dag_id, run_id, false);
					IF dr.status = 404 THEN
						o := 'refused';
						why := format('Airflow holds another DAG run of %s at logical date %s (another gate on the DAG, or a run by hand), so %s was not created (HTTP 409: %s). kant.rerun(gate => %L, business_date => %L, retrigger => true, dry_run => false) triggers it at a later logical date',
									  g.downstream_dag_id, gr.logical_date, run_id, left(res.body, 500), g.name,
									  to_char(d::timestamp, 'YYYY-MM-DD'));
					ELSIF dr.status NOT BETWEEN 200 AND 299 THEN
						o := 'failed';
						why := format('HTTP 409 (%s), then GET dagRun %s: HTTP %s: %s', left(res.body, 400), run_id,
									  dr.status, left(dr.detail, 400));
					END IF;
				END IF;
				INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome,
					http_status, detail)
				SELECT 'trigger', g.gate_id, d, s.system_id, g.downstream_dag_id || '/' || run_id, o,
					res.status, why
				FROM @extschema@.system s WHERE s.name = g.sys;
				gate := g.name; business_date := d; outcome := o; http_status := res.status; detail := why;
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;				-- cancel and shutdown are not outcomes
				END IF;
				-- the error's hint says what to fix (Airflow's 401 or 403: af_auth_hint)
				GET STACKED DIAGNOSTICS why = PG_EXCEPTION_HINT;
				why := SQLSTATE || ': ' || SQLERRM || coalesce(' HINT: ' || NULLIF(why, ''), '');
				INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome, detail)
				SELECT 'trigger', g.gate_id, d, s.system_id, g.downstream_dag_id || '/' || run_id, 'failed', why
				FROM @extschema@.system s WHERE s.name = g.sys;
				gate := g.name; business_date := d; outcome := 'failed'; http_status := NULL; detail := why;
			END;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.trigger_ready_gates(boolean) IS
	'Trigger each ready gate''s downstream DAG once per business date, from the gate''s trigger_from on and lookback_days back from today in the downstream system''s zone (deterministic dag_run_id kant__<gate>__<date>; logical_date one second past midnight UTC of the date, or past the zone''s midnight west of UTC, so the downstream {{ ds }} is the business date: kant._gate_run; 409 counts as done when Airflow has kant''s run (GET dagRun), and as refused when it is another run at the same logical date (Airflow keeps (dag_id, logical_date) unique: another gate on the DAG, a run by hand), not tried again until kant.rerun re-arms it), and once more for each re-trigger kant.rerun asked (kant__<gate>__<date>__rerun<n>, n more seconds past), when the gate is ready and the systems the re-run acted on were collected since; logging every outcome in kant.action_log; dry_run only logs';
REVOKE ALL ON FUNCTION @extschema@.trigger_ready_gates(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.trigger_ready_gates(boolean) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.recover_failed_runs(dry_run boolean DEFAULT false)
	RETURNS TABLE (job text, business_date date, failed_run text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	st record;
	p record;
	last record;
	done_n integer;
	deadline timestamptz;
	deadline_zone text;
	p90 double precision;
	body jsonb;
	res record;
	o text;
	why text;
	dry boolean;
	since date;
	retry_wait interval;
BEGIN
	PERFORM @extschema@._act_check(dry_run, 'kant.recover_failed_runs');
	SELECT * INTO st FROM @extschema@._alert_settings();
	-- business dates of every zone in the lookback window; waits as elapsed time
	since := ((now() - @extschema@._elapsed(st.lookback)) AT TIME ZONE 'UTC')::date - 1;
	retry_wait := @extschema@._elapsed(st.retry_wait);
	FOR p IN
		SELECT rp.job_id, rp.max_attempts, rp.min_wait, rp.dry_run, j.name AS job_name, j.max_retries,
			s.name AS sys, s.system_id
		FROM @extschema@.recovery_policy rp
		JOIN @extschema@.job j ON j.job_id = rp.job_id
		JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.kind = 'glue'
		ORDER BY j.name
	LOOP
		-- a job another session is restarting (recovery, kant.rerun) is left
		-- to it: the next tick looks again, none waits (kant.tick's deadline)
		CONTINUE WHEN NOT pg_try_advisory_xact_lock(@extschema@._lock_key('recover'), p.job_id);
		dry := dry_run OR p.dry_run;
		-- the newest run of the newest business date: a later run of an
		-- earlier date (a backfill, the night before running late) does not
		-- hide tonight's failure
		SELECT r.* INTO last FROM @extschema@.job_run r
		WHERE r.job_id = p.job_id AND r.business_date >= since
		ORDER BY r.business_date DESC, r.started_at DESC NULLS FIRST, r.attempt DESC LIMIT 1;
		CONTINUE WHEN last.run_id IS NULL OR last.state::text NOT IN ('failed', 'timed_out');
		-- once per failed run, whether recovery or kant.rerun restarted it
		CONTINUE WHEN EXISTS (SELECT FROM @extschema@._prior_action(p.job_id, last.external_id, dry));
		why := NULL;
		-- Glue retries by itself first
		CONTINUE WHEN p.max_retries IS NOT NULL AND last.attempt - 1 < p.max_retries
			AND last.ended_at > now() - retry_wait;
		CONTINUE WHEN last.ended_at > now() - @extschema@._elapsed(p.min_wait);
		IF EXISTS (SELECT FROM @extschema@.job_run r
				   WHERE r.job_id = p.job_id AND r.business_date >= since
					 AND NOT @extschema@.is_terminal(r.state)) THEN
			why := 'another run of the job is in flight';
		END IF;
		done_n := @extschema@._recoveries(p.job_id, last.business_date, dry);
		IF why IS NULL AND done_n >= p.max_attempts THEN
			why := format('restarted %s of %s times for %s already', done_n, p.max_attempts,
						  to_char(last.business_date::timestamp, 'YYYY-MM-DD'));
		END IF;
		SELECT @extschema@._due(last.business_date, jd.deadline_offset_days, jd.deadline_time, jd.time_zone),
			jd.time_zone
		INTO deadline, deadline_zone FROM @extschema@.job_deadline jd WHERE jd.job_id = p.job_id;
		SELECT d.p90_seconds INTO p90 FROM @extschema@.job_durations(ARRAY[p.job_id]) d;
		IF why IS NULL AND deadline IS NOT NULL
		   AND now() + make_interval(secs => coalesce(p90, 0)) > deadline THEN
			why := format('the deadline cannot be met: a run takes %s (p90) and the deadline is %s %s',
						  @extschema@._human(p90),
						  to_char(deadline AT TIME ZONE deadline_zone, 'YYYY-MM-DD HH24:MI'), deadline_zone);
		END IF;
		IF why IS NOT NULL THEN
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, 'skipped', why)
			ON CONFLICT DO NOTHING;
			IF FOUND THEN
				job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
				outcome := 'skipped'; detail := why;
				RETURN NEXT;
			END IF;
			CONTINUE;
		END IF;
		body := jsonb_build_object('JobName', p.job_name, 'JobRunId', last.external_id);
		IF dry THEN
			IF jsonb_typeof(last.details->'Arguments') = 'object' THEN
				body := body || jsonb_build_object('Arguments', last.details->'Arguments');
			END IF;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, 'dry_run',
					format('would ask Glue for the run (GetJobRun) and call StartJobRun %s with its arguments (restart %s of %s)',
						   body, done_n + 1, p.max_attempts));
			job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
			outcome := 'dry_run'; detail := body::text;
			RETURN NEXT;
			CONTINUE;
		END IF;
		BEGIN
			-- GetJobRun, then StartJobRun: the rule is kant._glue_restart (kant.rerun restarts the same way)
			SELECT * INTO res FROM @extschema@._glue_restart(p.sys, p.job_name, last.external_id);
			o := res.outcome;
			why := CASE WHEN o = 'done' THEN format('restart %s of %s: JobRunId %s', done_n + 1, p.max_attempts, res.new_run_id)
						ELSE res.detail END;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome,
				http_status, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, o, res.http_status, why)
			-- a reason to skip (a run of the job going) is logged and said once
			ON CONFLICT DO NOTHING;
			CONTINUE WHEN NOT FOUND;
		EXCEPTION WHEN OTHERS THEN
			IF SQLSTATE IN ('57014', '57P01') THEN
				RAISE;
			END IF;
			o := 'failed';
			why := SQLSTATE || ': ' || SQLERRM;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
			VALUES ('recover', p.job_id, last.business_date, p.system_id, last.external_id, o, why);
		END;
		job := p.job_name; business_date := last.business_date; failed_run := last.external_id;
		outcome := o; detail := why;
		RETURN NEXT;
	END LOOP;
	-- Airflow: clear failed task instances (sql/src/recovery_airflow.sql)
	RETURN QUERY SELECT * FROM @extschema@._recover_airflow(dry_run);
END
$$;
COMMENT ON FUNCTION @extschema@.recover_failed_runs(boolean) IS
	'Recover failed runs of jobs with a recovery policy while the deadline can be met, at most max_attempts per job and business date, never twice for one failure, every action and every reason to skip in kant.action_log (kind recover). Glue: GetJobRun first (only a run Glue reports as FAILED, TIMEOUT or ERROR, else refused), then StartJobRun with its id and Glue''s arguments, never while a run is in flight, while the job''s p90 fits. Airflow: kant._recover_airflow (clearTaskInstances of the failed task instances of a finished DAG run; failed_run is dag_id/dag_run_id try n). dry_run only logs';
REVOKE ALL ON FUNCTION @extschema@.recover_failed_runs(boolean) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.refresh_slo(slo text DEFAULT NULL, since date DEFAULT NULL,
		until date DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	-- per-day lookups are cheap; the planner's estimate for many days would
	-- otherwise trigger JIT compilation that costs more than the work
	SET jit = off
	AS $$
DECLARE
	sid integer;
	n integer;
BEGIN
	IF refresh_slo.slo IS NOT NULL THEN
		SELECT s.slo_id INTO sid FROM @extschema@.slo s WHERE s.name = refresh_slo.slo;
		IF sid IS NULL THEN
			RAISE EXCEPTION 'SLO "%" does not exist', refresh_slo.slo
				USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.slo;';
		END IF;
	END IF;
	IF until IS NOT NULL AND since IS NULL THEN
		RAISE EXCEPTION 'until needs since'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give the first business date to re-evaluate, e.g. since => ''2026-01-01''.';
	END IF;
	-- one refresh at a time; concurrent ingestion goes on
	PERFORM pg_advisory_xact_lock(@extschema@._lock_key('slo_refresh'), 1);
	PERFORM @extschema@.expand_schedules();

	IF since IS NOT NULL THEN
		-- a full recompute of the range: days that are no longer evaluated go
		DELETE FROM @extschema@.slo_day y USING @extschema@.slo s
		WHERE y.slo_id = s.slo_id AND (sid IS NULL OR s.slo_id = sid)
		  AND y.business_date >= since AND (until IS NULL OR y.business_date <= until)
		  AND (y.business_date < s.evaluate_from
			   OR NOT @extschema@.is_business_day(s.calendar, y.business_date));
	END IF;

	WITH dirty AS (
		-- the queue of changed (job, date) pairs: consumed by the incremental
		-- call, and by a recompute of every SLO for the dates it covers
		DELETE FROM @extschema@.slo_dirty d
		WHERE sid IS NULL
		  AND (since IS NULL OR (d.business_date >= since AND (until IS NULL OR d.business_date <= until)))
		RETURNING d.job_id, d.business_date
	), work AS (
		SELECT sc.slo_id, d.business_date
		FROM dirty d JOIN @extschema@.slo_scope sc ON sc.job_id = d.job_id
		UNION
		-- days whose verdict still depends on the clock
		SELECT y.slo_id, y.business_date FROM @extschema@.slo_day y
		WHERE since IS NULL AND (y.slo_status = 'pending' OR y.sla_status = 'pending')
		UNION
		-- days never evaluated (incremental), or the range asked for
		SELECT s.slo_id, g.d
		FROM @extschema@.slo s
		CROSS JOIN LATERAL (
			SELECT greatest(s.evaluate_from, since) + i AS d
			FROM generate_series(0, coalesce(until, (now() AT TIME ZONE s.time_zone)::date)
									- greatest(s.evaluate_from, since)) AS i) g
		WHERE (sid IS NULL OR s.slo_id = sid)
		  AND (since IS NOT NULL OR NOT EXISTS (
				SELECT FROM @extschema@.slo_day y
				WHERE y.slo_id = s.slo_id AND y.business_date = g.d))
	), todo AS (
		SELECT w.slo_id, w.business_date, dl.deadline, dl.sla_end,
			-- on time and right: the SLO's datasets' critical checks that failed
			-- (kant.set_slo_datasets; none by default), by their latest verdict
			(SELECT count(*)::integer FROM @extschema@.slo_dataset sd
			 JOIN @extschema@.dq_check c ON c.dataset_id = sd.dataset_id AND c.active AND c.severity = 'critical'
			 CROSS JOIN LATERAL (SELECT r.status FROM @extschema@.dq_result r
								 WHERE r.check_id = c.check_id AND r.business_date = w.business_date
								   AND r.status <> 'pending' AND r.evaluated_at <= now()
								 ORDER BY r.evaluated_at DESC LIMIT 1) r
			 WHERE sd.slo_id = w.slo_id AND r.status IN ('fail', 'error')) AS checks_failed
		FROM work w
		JOIN @extschema@.slo s ON s.slo_id = w.slo_id
		CROSS JOIN LATERAL @extschema@.slo_deadline(s.slo_id, w.business_date) dl
		WHERE (sid IS NULL OR w.slo_id = sid)
		  AND w.business_date >= s.evaluate_from
		  AND w.business_date <= (now() AT TIME ZONE s.time_zone)::date
		  AND (since IS NULL OR w.business_date >= since)
		  AND (until IS NULL OR w.business_date <= until)
		  AND @extschema@.is_business_day(s.calendar, w.business_date)
	), upsert AS (
		INSERT INTO @extschema@.slo_day AS y (slo_id, business_date, deadline, sla_end,
			slo_status, sla_status, completed_at, lateness_seconds, runs, done, running,
			failures, retries, missing, awaited, critical_job_id, evaluated_at, checks_failed)
		SELECT t.slo_id, t.business_date, t.deadline, t.sla_end,
			CASE WHEN t.checks_failed > 0 AND (v.r).slo_status = 'met' THEN 'missed' ELSE (v.r).slo_status END,
			CASE WHEN t.checks_failed > 0 AND (v.r).sla_status = 'met' THEN 'missed' ELSE (v.r).sla_status END,
			(v.r).completed_at, (v.r).lateness_seconds,
			(v.r).runs, (v.r).done, (v.r).running, (v.r).failures, (v.r).retries,
			(v.r).missing, (v.r).awaited, (v.r).critical_job_id, now(), t.checks_failed
		FROM todo t
		CROSS JOIN LATERAL (
			SELECT @extschema@.slo_eval(i.job_id, i.state, i.ended_at, i.is_current, i.due_at,
										t.deadline, t.sla_end, now()) AS r
			FROM (SELECT i.job_id, i.state, i.ended_at, i.is_current, i.due_at
				  FROM @extschema@.slo_input i
				  WHERE i.slo_id = t.slo_id AND i.business_date = t.business_date
				  UNION ALL
				  -- a job no schedule speaks for, required because its scope
				  -- ran that day (kant._required_jobs), with no run yet: awaited
				  SELECT rq.job_id, NULL, NULL, true, 'infinity'
				  FROM @extschema@._required_jobs(t.slo_id, NULL, t.business_date) rq
				  WHERE rq.required AND rq.by_scope) i) v
		ON CONFLICT (slo_id, business_date) DO UPDATE SET
			deadline = excluded.deadline, sla_end = excluded.sla_end,
			slo_status = excluded.slo_status, sla_status = excluded.sla_status,
			completed_at = excluded.completed_at, lateness_seconds = excluded.lateness_seconds,
			runs = excluded.runs, done = excluded.done, running = excluded.running,
			failures = excluded.failures, retries = excluded.retries,
			missing = excluded.missing, awaited = excluded.awaited,
			critical_job_id = excluded.critical_job_id, evaluated_at = excluded.evaluated_at,
			checks_failed = excluded.checks_failed
		RETURNING 1
	)
	SELECT count(*) INTO n FROM upsert;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_slo(text, date, date) IS
	'Bring kant.slo_day up to date and return the days evaluated. Without arguments, incremental: only days whose runs or expected runs changed (kant.slo_dirty), days still pending, and days never evaluated. With since (and until, and an SLO name): recompute that range.';
REVOKE ALL ON FUNCTION @extschema@.refresh_slo(text, date, date) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.slo_deadline(slo_id integer, business_date date,
		OUT deadline timestamptz, OUT sla_end timestamptz)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT @extschema@._due($2, s.deadline_offset_days, s.deadline_time, s.time_zone),
		   @extschema@._due($2, s.sla_offset_days, s.sla_time, s.time_zone)
	FROM @extschema@.slo s WHERE s.slo_id = $1
	$$;
COMMENT ON FUNCTION @extschema@.slo_deadline(integer, date) IS
	'the SLO deadline and SLA end of a business date, as instants (DST: kant.local_instant)';
---------------------------------------------------------------------------
-- Views to read it
---------------------------------------------------------------------------
CREATE OR REPLACE VIEW @extschema@.runs AS
SELECT
	r.run_id,
	s.name AS system,
	coalesce(s.display_name, s.name) AS system_display_name,
	s.kind AS system_kind,
	j.name AS job,
	j.pipeline,
	r.external_id,
	r.attempt,
	CASE WHEN @extschema@._is_current(r.superseded_at) THEN 1 ELSE 0 END AS is_current,
	r.business_date,
	r.state::text AS state,
	r.raw_state,
	r.started_at,
	r.ended_at,
	(r.started_at AT TIME ZONE s.time_zone) AS started_at_local,
	(r.ended_at AT TIME ZONE s.time_zone) AS ended_at_local,
	s.time_zone,
	round(extract(epoch FROM r.ended_at - r.started_at), 3)::numeric(14,3) AS duration_seconds,
	r.error_message,
	r.previous_external_id,
	r.first_seen,
	r.last_seen
FROM @extschema@.job_run r
JOIN @extschema@.job j ON j.job_id = r.job_id
JOIN @extschema@.system s ON s.system_id = j.system_id;
COMMENT ON VIEW @extschema@.runs IS 'Every run attempt with its system and job, durations in seconds';
COMMENT ON COLUMN @extschema@.runs.run_id IS 'kant''s id of the attempt';
COMMENT ON COLUMN @extschema@.runs.system IS 'system name';
COMMENT ON COLUMN @extschema@.runs.system_display_name IS 'system display name (e.g. HEGEL), else its name';
COMMENT ON COLUMN @extschema@.runs.system_kind IS 'glue, airflow, openlineage or manual';
COMMENT ON COLUMN @extschema@.runs.job IS 'Glue JobName or Airflow dag_id.task_id';
COMMENT ON COLUMN @extschema@.runs.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.runs.external_id IS 'the source''s run id';
COMMENT ON COLUMN @extschema@.runs.attempt IS 'attempt number from 1';
COMMENT ON COLUMN @extschema@.runs.is_current IS '1 when no later attempt of the same run exists (a later try_number, or a Glue run retrying this one), else 0';
COMMENT ON COLUMN @extschema@.runs.business_date IS 'date of the data the run produces';
COMMENT ON COLUMN @extschema@.runs.state IS 'normalised state';
COMMENT ON COLUMN @extschema@.runs.raw_state IS 'state as the source spelled it';
COMMENT ON COLUMN @extschema@.runs.started_at IS 'start (timestamptz)';
COMMENT ON COLUMN @extschema@.runs.ended_at IS 'end (timestamptz)';
COMMENT ON COLUMN @extschema@.runs.started_at_local IS 'start as local wall-clock time in the system''s time zone (column time_zone)';
COMMENT ON COLUMN @extschema@.runs.ended_at_local IS 'end as local wall-clock time in the system''s time zone (column time_zone)';
COMMENT ON COLUMN @extschema@.runs.time_zone IS 'the system''s IANA time zone';
COMMENT ON COLUMN @extschema@.runs.duration_seconds IS 'ended_at - started_at in seconds; NULL until the attempt ended';
COMMENT ON COLUMN @extschema@.runs.error_message IS 'error reported by the source';
COMMENT ON COLUMN @extschema@.runs.previous_external_id IS 'Glue: the run this one retries';
COMMENT ON COLUMN @extschema@.runs.first_seen IS 'when kant first received the attempt';
COMMENT ON COLUMN @extschema@.runs.last_seen IS 'when kant last received it';
-- What kant.slo_eval reads for an SLO and a business date: every attempt of
-- the jobs in scope, current when it counted when the job was first done
-- (kant._done_since; never done: now) -- a current attempt of a run that
-- counts (kant._job_day) --, and every expected run no run has matched.
CREATE OR REPLACE VIEW @extschema@.slo_input AS
SELECT sc.slo_id, g.business_date, g.job_id, r.run_id, r.state, r.started_at, r.ended_at, r.is_current,
	NULL::timestamptz AS due_at
FROM @extschema@.slo_scope sc
JOIN (SELECT DISTINCT x.job_id, x.business_date FROM @extschema@.job_run x) g ON g.job_id = sc.job_id
JOIN @extschema@.job j ON j.job_id = g.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
-- when the job was first done and the runs that counted then; never done:
-- now and the runs that count now
CROSS JOIN LATERAL (
	SELECT CASE WHEN jd.was_done THEN COALESCE(jd.done_since, 'infinity') ELSE 'infinity' END AS at,
		CASE WHEN jd.was_done THEN jd.done_since_runs ELSE jd.counted_runs END AS counted_runs
	FROM @extschema@._job_day(g.job_id, g.business_date) jd
	OFFSET 0) t
-- the attempts, after the rules were asked once per job and date (OFFSET 0
-- keeps this a scan of its own, so the rules are not asked again per attempt)
CROSS JOIN LATERAL (
	SELECT r.run_id, r.state, r.started_at, r.ended_at,
		@extschema@._began(r.started_at, r.first_seen) <= t.at AND @extschema@._is_current(r.superseded_at, t.at)
			AND @extschema@._run_key(r.external_id, sy.kind) = ANY (t.counted_runs) AS is_current
	FROM @extschema@.job_run r
	WHERE r.job_id = g.job_id AND r.business_date = g.business_date
	OFFSET 0) r
UNION ALL
SELECT sc.slo_id, e.business_date, e.job_id, NULL, NULL, NULL, NULL, true, e.due_at
FROM @extschema@.slo_scope sc
JOIN @extschema@.expected_runs e ON e.job_id = sc.job_id
WHERE e.status <> 'started';
COMMENT ON VIEW @extschema@.slo_input IS
	'Rows kant.slo_eval reads per SLO and business date: each attempt of a job in scope (is_current when it counted when the job was first done: kant._done_since, kant._job_day), and each expected run without a run (state NULL, due_at set)';
COMMENT ON COLUMN @extschema@.slo_input.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_input.business_date IS 'business date';
COMMENT ON COLUMN @extschema@.slo_input.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.slo_input.run_id IS 'the attempt (NULL for an expected run)';
COMMENT ON COLUMN @extschema@.slo_input.state IS 'the attempt''s state (NULL for an expected run)';
COMMENT ON COLUMN @extschema@.slo_input.started_at IS 'start of the attempt';
COMMENT ON COLUMN @extschema@.slo_input.ended_at IS 'end of the attempt';
COMMENT ON COLUMN @extschema@.slo_input.is_current IS 'the attempt counted when the job was first done (kant._done_since; never done: now): it had started, no later attempt or retry superseded it, and its run counted (kant._job_day: the latest run of a job that runs once a day, every run of one with several slots)';
COMMENT ON COLUMN @extschema@.slo_input.due_at IS 'for an expected run without a run: when it becomes missing';
/*
 * kant: Views for BI (Tableau reads these).
 *
 * Plain types only, naive timestamps with the zone in the column name (_utc)
 * or in a column beside it (_local), flags as 0/1, and nothing that depends
 * on the session's TimeZone, DateStyle or IntervalStyle.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */
CREATE OR REPLACE VIEW @extschema@.bi_run_timeline AS
SELECT
	r.run_id,
	sy.name AS system,
	coalesce(sy.display_name, sy.name) AS system_display_name,
	sy.time_zone AS system_time_zone,
	j.pipeline,
	j.name AS job,
	r.business_date,
	r.external_id,
	r.attempt,
	CASE WHEN @extschema@._is_current(r.superseded_at) THEN 1 ELSE 0 END AS is_current,
	r.state::text AS state,
	NULL::timestamp AS scheduled_at_utc,
	NULL::timestamp AS scheduled_at_local,
	r.started_at AT TIME ZONE 'UTC' AS started_at_utc,
	r.ended_at AT TIME ZONE 'UTC' AS ended_at_utc,
	r.started_at AT TIME ZONE sy.time_zone AS started_at_local,
	r.ended_at AT TIME ZONE sy.time_zone AS ended_at_local,
	round(extract(epoch FROM r.ended_at - r.started_at), 3)::numeric(14,3) AS duration_seconds,
	jd.slo,
	x.expected_end AT TIME ZONE 'UTC' AS expected_end_utc,
	x.expected_end AT TIME ZONE sy.time_zone AS expected_end_local,
	round(extract(epoch FROM x.late), 3)::numeric(14,3) AS seconds_late,
	CASE WHEN x.late > interval '0' THEN 1 ELSE 0 END AS is_late,
	r.error_message
FROM @extschema@.job_run r
JOIN @extschema@.job j ON j.job_id = r.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
LEFT JOIN @extschema@.job_deadline jd ON jd.job_id = r.job_id
CROSS JOIN LATERAL (
	SELECT e.expected_end,
		   CASE WHEN r.ended_at IS NOT NULL THEN r.ended_at - e.expected_end
				WHEN NOT @extschema@.is_terminal(r.state) AND pg_catalog.now() > e.expected_end
				THEN pg_catalog.now() - e.expected_end END AS late
	FROM (SELECT @extschema@._due(r.business_date, jd.deadline_offset_days, jd.deadline_time,
								  jd.time_zone) AS expected_end) e) x
UNION ALL
SELECT
	NULL::bigint,
	sy.name,
	coalesce(sy.display_name, sy.name),
	sy.time_zone,
	j.pipeline,
	j.name,
	e.business_date,
	NULL::text,
	0,
	1,
	'missing',
	e.slot_at AT TIME ZONE 'UTC',
	e.slot_at AT TIME ZONE sy.time_zone,
	NULL::timestamp,
	NULL::timestamp,
	NULL::timestamp,
	NULL::timestamp,
	NULL::numeric(14,3),
	jd.slo,
	x.expected_end AT TIME ZONE 'UTC',
	x.expected_end AT TIME ZONE sy.time_zone,
	NULL::numeric(14,3),
	CASE WHEN pg_catalog.now() > x.expected_end THEN 1 ELSE 0 END,
	'no run started within the grace period of the slot'
FROM @extschema@.expected_runs e
JOIN @extschema@.job j ON j.job_id = e.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
LEFT JOIN @extschema@.job_deadline jd ON jd.job_id = e.job_id
CROSS JOIN LATERAL (
	SELECT @extschema@._due(e.business_date, jd.deadline_offset_days, jd.deadline_time,
							jd.time_zone) AS expected_end) x
WHERE e.status = 'missing';
COMMENT ON VIEW @extschema@.bi_run_timeline IS
	'One row per run attempt, and one per missing expected run (state missing): when it ran in UTC and in the system''s zone, how long, and how late against the deadline of its SLO';
COMMENT ON COLUMN @extschema@.bi_run_timeline.run_id IS 'kant''s id of the attempt; NULL for a missing run';
COMMENT ON COLUMN @extschema@.bi_run_timeline.system IS 'system name';
COMMENT ON COLUMN @extschema@.bi_run_timeline.system_display_name IS 'system display name (e.g. HEGEL)';
COMMENT ON COLUMN @extschema@.bi_run_timeline.system_time_zone IS 'IANA zone of the _local columns';
COMMENT ON COLUMN @extschema@.bi_run_timeline.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.bi_run_timeline.job IS 'job name (Glue JobName, Airflow dag_id.task_id)';
COMMENT ON COLUMN @extschema@.bi_run_timeline.business_date IS 'date of the data';
COMMENT ON COLUMN @extschema@.bi_run_timeline.external_id IS 'the source''s run id';
COMMENT ON COLUMN @extschema@.bi_run_timeline.attempt IS 'attempt number from 1; 0 for a missing run';
COMMENT ON COLUMN @extschema@.bi_run_timeline.is_current IS '1 for the latest attempt of a run (and for a missing run), else 0';
COMMENT ON COLUMN @extschema@.bi_run_timeline.state IS 'normalised state, or missing';
COMMENT ON COLUMN @extschema@.bi_run_timeline.scheduled_at_utc IS 'missing runs: when the schedule fired, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.scheduled_at_local IS 'missing runs: when the schedule fired, in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.started_at_utc IS 'start, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.ended_at_utc IS 'end, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.started_at_local IS 'start, wall-clock time in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.ended_at_local IS 'end, wall-clock time in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.duration_seconds IS 'end minus start in seconds';
COMMENT ON COLUMN @extschema@.bi_run_timeline.slo IS 'the SLO whose deadline is the expected end (earliest deadline among the SLOs covering the job)';
COMMENT ON COLUMN @extschema@.bi_run_timeline.expected_end_utc IS 'the SLO deadline for the business date, UTC';
COMMENT ON COLUMN @extschema@.bi_run_timeline.expected_end_local IS 'the SLO deadline for the business date, in system_time_zone';
COMMENT ON COLUMN @extschema@.bi_run_timeline.seconds_late IS 'end minus expected end in seconds (negative: early); an unfinished run past the expected end: now minus expected end; NULL for a missing run';
COMMENT ON COLUMN @extschema@.bi_run_timeline.is_late IS '1 when seconds_late > 0, or a missing run past its expected end; else 0';
COMMENT ON COLUMN @extschema@.bi_run_timeline.error_message IS 'error reported by the source';
-- Expected runs with their status.  The slots of a job and date are matched to
-- its runs by count (the k-th slot is started when the date has k runs,
-- counted as kant._job_day counts them).
-- Grouped per job and date first: the runs are counted once per group, and a
-- filter on business_date reaches the index of both tables.
CREATE OR REPLACE VIEW @extschema@.expected_runs AS
SELECT
	g.job_id,
	sy.name AS system,
	j.name AS job,
	j.pipeline,
	g.business_date,
	u.slot_no::integer AS slot_no,
	u.slot_at,
	u.due_at,
	CASE WHEN m.runs >= u.slot_no THEN 'started'
		 WHEN u.due_at <= pg_catalog.now() THEN 'missing'
		 ELSE 'awaited' END AS status
FROM (SELECT x.job_id, x.business_date,
			 array_agg(x.slot_at ORDER BY x.slot_at) AS slots,
			 array_agg(x.due_at ORDER BY x.slot_at) AS dues
	  FROM @extschema@.expected_run x
	  GROUP BY x.job_id, x.business_date) g
JOIN @extschema@.job j ON j.job_id = g.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
-- the runs of the current attempts, as kant._job_day counts them (a view
-- calls no rule that reads a table: inlined, it would read as the caller,
-- who may only read the views)
CROSS JOIN LATERAL (
	SELECT count(DISTINCT @extschema@._run_key(r.external_id, sy.kind)) AS runs
	FROM @extschema@.job_run r
	WHERE r.job_id = g.job_id AND r.business_date = g.business_date
	  AND @extschema@._is_current(r.superseded_at)) m
CROSS JOIN LATERAL unnest(g.slots, g.dues) WITH ORDINALITY AS u(slot_at, due_at, slot_no);
COMMENT ON VIEW @extschema@.expected_runs IS
	'Every expected run and whether a run started for it (started), not yet and within grace (awaited), or not after its grace period (missing)';
COMMENT ON COLUMN @extschema@.expected_runs.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.expected_runs.system IS 'system name';
COMMENT ON COLUMN @extschema@.expected_runs.job IS 'job name';
COMMENT ON COLUMN @extschema@.expected_runs.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.expected_runs.business_date IS 'business date of the expected run';
COMMENT ON COLUMN @extschema@.expected_runs.slot_no IS 'number of the slot among the job''s slots of the date, from 1';
COMMENT ON COLUMN @extschema@.expected_runs.slot_at IS 'when the schedule fires';
COMMENT ON COLUMN @extschema@.expected_runs.due_at IS 'slot plus grace period';
COMMENT ON COLUMN @extschema@.expected_runs.status IS 'started, awaited or missing';
CREATE OR REPLACE FUNCTION @extschema@._slo_scope_jobs(pipeline text, jobs text[])
	RETURNS integer[]
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	spec text;
	ids integer[] := '{}';
BEGIN
	FOREACH spec IN ARRAY coalesce(jobs, '{}') LOOP
		ids := ids || @extschema@._job_ref(spec, 'jobs');
	END LOOP;
	IF cardinality(ids) = 0 AND (pipeline IS NULL OR NOT EXISTS (
			SELECT FROM @extschema@.job j WHERE j.pipeline = _slo_scope_jobs.pipeline)) THEN
		RAISE EXCEPTION 'no job in scope'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = CASE WHEN pipeline IS NULL THEN 'Neither a pipeline nor jobs were given.'
							ELSE format('Pipeline "%s" has no jobs.', pipeline) END,
				  HINT = 'Name a pipeline that has jobs (kant.configure_job(system, job, pipeline => ...)) or list jobs as ARRAY[''system/job''].';
	END IF;
	RETURN ids;
END
$$;
COMMENT ON FUNCTION @extschema@._slo_scope_jobs(text, text[]) IS
	'internal: resolve and check an SLO''s scope';
REVOKE ALL ON FUNCTION @extschema@._slo_scope_jobs(text, text[]) FROM PUBLIC;

DROP FUNCTION @extschema@._gate_required(integer, date);

-- The grants read at the start of this script, given again on what it made
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM pg_catalog.json_to_recordset(pg_catalog.current_setting('kant_upgrade.grants')::pg_catalog.json)
			 AS x(obj text, grantee oid, priv text, grantable boolean)
	LOOP
		CONTINUE WHEN g.obj IN ('cron_helpers', 'deliver_round') AND g.priv OPERATOR(pg_catalog.<>) 'EXECUTE';
		-- alter_slo is made below (issue 13) and given its grants there
		CONTINUE WHEN g.obj OPERATOR(pg_catalog.=) 'alter_slo';
		EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g.priv,
			CASE g.obj
				WHEN 'cron_helpers' THEN 'FUNCTION @extschema@._cron_job(text, text, text), @extschema@._cron_unjob(text), '
					'@extschema@._cron_name(text, text), @extschema@._collect_command(text)'
				WHEN 'deliver_round' THEN 'FUNCTION @extschema@._deliver_round(timestamptz, double precision)'
				WHEN 'set_credentials' THEN 'FUNCTION @extschema@.set_credentials(text, text, text, text, boolean, boolean)'
				WHEN 'set_channel' THEN 'FUNCTION @extschema@.set_channel(text, text, boolean, interval, boolean)'
				WHEN 'create_gate' THEN 'FUNCTION @extschema@.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer)'
				ELSE 'TABLE @extschema@.runs_by_business_date' END,
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;

---------------------------------------------------------------------------
-- Right about the schedulers (issue 13)
---------------------------------------------------------------------------

-- Airflow's "removed" task instances are ignored when Airflow decides a DAG
-- run's state (DagRun.update_state): kant maps them to skipped now, not
-- cancelled
UPDATE @extschema@.job_run r SET state = 'skipped'
FROM @extschema@.job j JOIN @extschema@.system sy ON sy.system_id = j.system_id
WHERE r.job_id = j.job_id AND sy.kind = 'airflow' AND r.raw_state = 'removed' AND r.state = 'cancelled';

-- the rules changed what done means (the latest runs count, map indexes are
-- parts of their run): every SLO day is evaluated again at the next
-- kant.refresh_slo()
INSERT INTO @extschema@.slo_dirty (job_id, business_date)
SELECT DISTINCT r.job_id, r.business_date FROM @extschema@.job_run r
ON CONFLICT DO NOTHING;

-- An SLA end never given follows the deadline (alter_slo used to keep the
-- end computed from the old deadline).  Existing SLOs whose SLA end is the
-- end of the deadline's local day are taken as defaults.
ALTER TABLE @extschema@.slo ADD COLUMN sla_default boolean NOT NULL DEFAULT false;
UPDATE @extschema@.slo SET sla_default = true
WHERE sla_offset_days = deadline_offset_days + 1 AND sla_time = '00:00';
COMMENT ON COLUMN @extschema@.slo.sla_default IS 'true when no SLA end was given: it is the end of the local day that holds the deadline, and follows the deadline when kant.alter_slo moves it';

CREATE OR REPLACE FUNCTION @extschema@.create_slo(name text, deadline time,
		deadline_offset_days integer DEFAULT 1, time_zone text DEFAULT NULL,
		pipeline text DEFAULT NULL, jobs text[] DEFAULT NULL,
		sla_end time DEFAULT NULL, sla_offset_days integer DEFAULT NULL,
		objective numeric DEFAULT 0.95, window_days integer DEFAULT 28,
		calendar text DEFAULT NULL, evaluate_from date DEFAULT NULL, description text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	ids integer[];
	zone text := time_zone;
	zones text[];
	sid integer;
	s_off integer := sla_offset_days;
	s_end time := sla_end;
BEGIN
	IF name IS NULL OR name = '' OR name <> btrim(name) THEN
		RAISE EXCEPTION 'invalid SLO name "%"', name
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a short name such as hegel_nightly.';
	END IF;
	IF EXISTS (SELECT FROM @extschema@.slo s WHERE s.name = create_slo.name) THEN
		RAISE EXCEPTION 'SLO "%" already exists', name
			USING ERRCODE = 'duplicate_object', HINT = 'Change it with kant.alter_slo().';
	END IF;
	ids := @extschema@._slo_scope_jobs(pipeline, jobs);
	IF zone IS NULL THEN
		-- the zone of the systems in scope, when they share one
		zones := ARRAY(SELECT DISTINCT sy.time_zone FROM @extschema@.job j
					   JOIN @extschema@.system sy ON sy.system_id = j.system_id
					   WHERE j.job_id = ANY (ids) OR j.pipeline = create_slo.pipeline);
		IF cardinality(zones) <> 1 THEN
			RAISE EXCEPTION 'time_zone is required: the jobs in scope are in % time zones', cardinality(zones)
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Give the deadline''s zone, e.g. time_zone => ''Asia/Tokyo''.';
		END IF;
		zone := zones[1];
	END IF;
	-- by default the SLA window ends with the local day that holds the deadline
	IF s_end IS NULL AND s_off IS NULL THEN
		s_off := deadline_offset_days + 1;
		s_end := '00:00';
	END IF;
	s_off := coalesce(s_off, deadline_offset_days);
	s_end := coalesce(s_end, '00:00');
	PERFORM @extschema@._check_slo(deadline_offset_days, deadline, zone, s_off, s_end,
								   objective, window_days, calendar);
	INSERT INTO @extschema@.slo AS s (name, pipeline, deadline_offset_days, deadline_time, time_zone,
		sla_offset_days, sla_time, sla_default, objective, window_days, calendar, evaluate_from, description)
	VALUES (create_slo.name, create_slo.pipeline, create_slo.deadline_offset_days, deadline, zone,
		s_off, s_end, create_slo.sla_end IS NULL AND create_slo.sla_offset_days IS NULL,
		objective, window_days, calendar,
		coalesce(evaluate_from,
			(SELECT min(r.business_date) FROM @extschema@.job_run r
			 WHERE r.job_id = ANY (ids)
				OR r.job_id IN (SELECT j.job_id FROM @extschema@.job j WHERE j.pipeline = create_slo.pipeline)),
			(now() AT TIME ZONE zone)::date),
		description)
	RETURNING s.slo_id INTO sid;
	INSERT INTO @extschema@.slo_job (slo_id, job_id) SELECT DISTINCT sid, j FROM unnest(ids) AS j;
	PERFORM @extschema@.refresh_slo(name, '-infinity');
	RETURN sid;
END
$$;
COMMENT ON FUNCTION @extschema@.create_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text) IS
	'Define an SLO: scope (a pipeline and/or jobs as ''system/job''), deadline (business date + offset days at a local time in an IANA zone), SLA end (default: end of the deadline''s local day), objective, window, calendar; evaluates its history at once';
REVOKE ALL ON FUNCTION @extschema@.create_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text) FROM PUBLIC;
-- sla_default => true: back to the default SLA end (an end 0.5.0's alter_slo
-- moved with an old deadline can be repaired)
DROP FUNCTION @extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text);
CREATE OR REPLACE FUNCTION @extschema@.alter_slo(name text, deadline time DEFAULT NULL,
		deadline_offset_days integer DEFAULT NULL, time_zone text DEFAULT NULL,
		pipeline text DEFAULT NULL, jobs text[] DEFAULT NULL,
		sla_end time DEFAULT NULL, sla_offset_days integer DEFAULT NULL,
		objective numeric DEFAULT NULL, window_days integer DEFAULT NULL,
		calendar text DEFAULT NULL, evaluate_from date DEFAULT NULL, description text DEFAULT NULL,
		new_name text DEFAULT NULL, sla_default boolean DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s @extschema@.slo;
	ids integer[];
BEGIN
	IF alter_slo.sla_default AND (sla_end IS NOT NULL OR alter_slo.sla_offset_days IS NOT NULL) THEN
		RAISE EXCEPTION 'sla_default => true and an SLA end given'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give the SLA end (sla_end, sla_offset_days), or sla_default => true for the end of the deadline''s local day.';
	END IF;
	SELECT * INTO s FROM @extschema@.slo x WHERE x.name = alter_slo.name FOR UPDATE;
	IF s.slo_id IS NULL THEN
		RAISE EXCEPTION 'SLO "%" does not exist', name
			USING ERRCODE = 'undefined_object', HINT = 'Create it with kant.create_slo().';
	END IF;
	IF new_name IS NOT NULL AND new_name <> name
	   AND EXISTS (SELECT FROM @extschema@.slo x WHERE x.name = new_name) THEN
		RAISE EXCEPTION 'SLO "%" already exists', new_name USING ERRCODE = 'duplicate_object';
	END IF;
	s.name := coalesce(new_name, s.name);
	s.deadline_time := coalesce(deadline, s.deadline_time);
	s.deadline_offset_days := coalesce(alter_slo.deadline_offset_days, s.deadline_offset_days);
	s.time_zone := coalesce(alter_slo.time_zone, s.time_zone);
	IF sla_end IS NOT NULL OR alter_slo.sla_offset_days IS NOT NULL THEN
		s.sla_time := coalesce(sla_end, s.sla_time);
		s.sla_offset_days := coalesce(alter_slo.sla_offset_days, s.sla_offset_days);
		s.sla_default := false;
	ELSIF alter_slo.sla_default IS NOT NULL THEN
		-- back to the default (or keep the end as it is, no longer following)
		s.sla_default := alter_slo.sla_default;
	END IF;
	IF s.sla_default THEN
		-- a default stays a default: the end of the deadline's local day
		s.sla_offset_days := s.deadline_offset_days + 1;
		s.sla_time := '00:00';
	END IF;
	s.objective := coalesce(alter_slo.objective, s.objective);
	s.window_days := coalesce(alter_slo.window_days, s.window_days);
	s.calendar := CASE WHEN alter_slo.calendar = '' THEN NULL ELSE coalesce(alter_slo.calendar, s.calendar) END;
	s.evaluate_from := coalesce(alter_slo.evaluate_from, s.evaluate_from);
	s.description := coalesce(alter_slo.description, s.description);
	IF pipeline IS NOT NULL OR jobs IS NOT NULL THEN
		s.pipeline := CASE WHEN pipeline = '' THEN NULL ELSE coalesce(pipeline, s.pipeline) END;
		ids := @extschema@._slo_scope_jobs(s.pipeline,
			coalesce(jobs, ARRAY(SELECT @extschema@._job_spec(sy.name, j.name) FROM @extschema@.slo_job sj
								 JOIN @extschema@.job j ON j.job_id = sj.job_id
								 JOIN @extschema@.system sy ON sy.system_id = j.system_id
								 WHERE sj.slo_id = s.slo_id)));
		DELETE FROM @extschema@.slo_job sj WHERE sj.slo_id = s.slo_id;
		INSERT INTO @extschema@.slo_job (slo_id, job_id) SELECT DISTINCT s.slo_id, j FROM unnest(ids) AS j;
	END IF;
	PERFORM @extschema@._check_slo(s.deadline_offset_days, s.deadline_time, s.time_zone,
		s.sla_offset_days, s.sla_time, s.objective, s.window_days, s.calendar);
	UPDATE @extschema@.slo x SET
		name = s.name, pipeline = s.pipeline, deadline_offset_days = s.deadline_offset_days,
		deadline_time = s.deadline_time, time_zone = s.time_zone,
		sla_offset_days = s.sla_offset_days, sla_time = s.sla_time, sla_default = s.sla_default,
		objective = s.objective,
		window_days = s.window_days, calendar = s.calendar, evaluate_from = s.evaluate_from,
		description = s.description
	WHERE x.slo_id = s.slo_id;
	PERFORM @extschema@.refresh_slo(s.name, '-infinity');
END
$$;
COMMENT ON FUNCTION @extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text, boolean) IS
	'Change an SLO; arguments left NULL are unchanged (pipeline => '''' removes the pipeline from the scope, jobs replaces the listed jobs; an SLA end never given follows the deadline: the end of its local day; sla_default => true makes it that default again, false keeps the end where it is); its history is re-evaluated';
REVOKE ALL ON FUNCTION @extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text, boolean) FROM PUBLIC;
-- the grants given on the old alter_slo (read at the start of this script)
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM pg_catalog.json_to_recordset(pg_catalog.current_setting('kant_upgrade.grants')::pg_catalog.json)
			 AS x(obj text, grantee oid, priv text, grantable boolean)
			 WHERE x.obj OPERATOR(pg_catalog.=) 'alter_slo'
	LOOP
		EXECUTE pg_catalog.format('GRANT %s ON FUNCTION @extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text, boolean) TO %s%s',
			g.priv,
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;

-- expected runs far enough ahead for any business-date offset
CREATE OR REPLACE FUNCTION @extschema@.expand_schedules(until timestamptz DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sc record;
	horizon timestamptz;
	since timestamptz;
	added bigint := 0;
	k bigint;
	last_t timestamptz;
BEGIN
	FOR sc IN
		SELECT x.*, sy.time_zone AS sys_tz,
			   coalesce(j.bd_offset_days, sy.bd_offset_days) AS off,
			   coalesce(j.bd_day_start, sy.bd_day_start) AS day_start
		FROM @extschema@.schedule x
		JOIN @extschema@.job j ON j.job_id = x.job_id
		JOIN @extschema@.system sy ON sy.system_id = j.system_id
		-- by default five days ahead, and as many more as a negative business-
		-- date offset puts a date's runs after it, re-expanded once a day:
		-- every business date up to today (in any zone) is expanded three days
		-- past its end, what kant._required asks before it says a schedule
		-- does not run that day
		WHERE x.expanded_until IS NULL
		   OR x.expanded_until < (CASE WHEN until IS NULL
			   THEN now() + interval '96 hours'
					+ greatest(0, -coalesce(j.bd_offset_days, sy.bd_offset_days)) * interval '1 day'
			   ELSE until END)
		ORDER BY x.job_id, x.cron
		FOR UPDATE OF x
	LOOP
		horizon := coalesce(until, now() + interval '120 hours' + greatest(0, -sc.off) * interval '1 day');
		since := coalesce(sc.expanded_until,
			((sc.active_from - abs(sc.off) - 2) + time '00:00') AT TIME ZONE sc.time_zone);
		WITH ticks AS (
			SELECT t, lag(t) OVER (ORDER BY t) AS prev
			FROM @extschema@.cron_occurrences(sc.cron, sc.time_zone,
				CASE WHEN sc.slot_date = 'previous_tick' AND sc.last_tick IS NULL
					 THEN since - interval '768 hours' ELSE since END, horizon, sc.dialect) AS t
		), slots AS (
			SELECT t AS slot_at,
				   CASE WHEN sc.slot_date = 'previous_tick'
						THEN (coalesce(prev, sc.last_tick) AT TIME ZONE sc.sys_tz)::date
						WHEN sc.slot_date = 'tick' THEN (t AT TIME ZONE sc.sys_tz)::date
						ELSE ((t AT TIME ZONE sc.sys_tz) - sc.day_start)::date + sc.off END AS bd
			FROM ticks WHERE t >= since
		), ins AS (
			INSERT INTO @extschema@.expected_run (job_id, slot_at, business_date, due_at)
			SELECT sc.job_id, s.slot_at, s.bd, s.slot_at + make_interval(secs => sc.grace_seconds)
			FROM slots s
			WHERE s.bd IS NOT NULL AND s.bd >= sc.active_from
			  AND (sc.active_until IS NULL OR s.bd <= sc.active_until)
			  AND @extschema@.is_business_day(sc.calendar, s.bd)
			ON CONFLICT DO NOTHING
			RETURNING job_id, business_date
		), dirty AS (
			INSERT INTO @extschema@.slo_dirty (job_id, business_date)
			SELECT DISTINCT i.job_id, i.business_date FROM ins i
			ON CONFLICT DO NOTHING
		)
		SELECT (SELECT count(*) FROM ins), (SELECT max(t) FROM ticks) INTO k, last_t;
		added := added + k;
		UPDATE @extschema@.schedule x
		SET expanded_until = horizon, last_tick = coalesce(last_t, x.last_tick)
		WHERE x.job_id = sc.job_id AND x.cron = sc.cron;
	END LOOP;
	RETURN added;
END
$$;
COMMENT ON FUNCTION @extschema@.expand_schedules(timestamptz) IS
	'Expand every schedule into kant.expected_run up to a time (default: five days ahead, plus the days a negative business-date offset puts runs after their date; done at most daily per schedule); returns the slots added. kant.refresh_slo() calls it.';
REVOKE ALL ON FUNCTION @extschema@.expand_schedules(timestamptz) FROM PUBLIC;

-- Each schedule is read in its scheduler's dialect: Airflow's with
-- croniter's rules, Glue's as AWS cron, the others as standard cron
/*
 * The same, in a dialect: vixie (standard cron as Vixie cron and pg_cron
 * read it, or AWS cron(...) by its form), croniter (Airflow: croniter's day
 * rule, where a stepped day field still combines with the other by OR, L,
 * L5, 5#2 and @quarterly) or aws (Glue, EventBridge).  A schedule records its
 * dialect (kant.schedule.dialect, kant._cron_dialect).
 */
CREATE FUNCTION @extschema@.cron_is_valid(schedule text, dialect text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'kant_cron_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cron_is_valid(text, text) IS
	'true when the text is a cron schedule kant can expand in the dialect (vixie, croniter, aws); an unknown dialect is an error (22023)';

CREATE FUNCTION @extschema@.cron_check(schedule text, dialect text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_cron_check'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cron_check(text, text) IS
	'raises an error naming the position of the problem when the text is not a cron schedule of the dialect (vixie, croniter, aws)';

CREATE FUNCTION @extschema@.cron_occurrences(schedule text, time_zone text,
		since timestamptz, until timestamptz, dialect text)
	RETURNS SETOF timestamptz
	AS 'MODULE_PATHNAME', 'kant_cron_occurrences'
	LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION @extschema@.cron_occurrences(text, text, timestamptz, timestamptz, text) IS
	'every run of a cron schedule of the dialect (vixie, croniter, aws) in [since, until), read in an IANA time zone, DST as the four-argument form';

CREATE FUNCTION @extschema@.cron_next(schedule text, time_zone text, after timestamptz, dialect text)
	RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'kant_cron_next'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cron_next(text, text, timestamptz, text) IS
	'the first run of a cron schedule of the dialect (vixie, croniter, aws) after a time, read in an IANA time zone; NULL when it never runs again';

CREATE FUNCTION @extschema@._cron_dialect(schedule text, system_kind text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE WHEN $2 = 'airflow' AND NOT @extschema@.cron_is_valid($1, 'aws') THEN 'croniter'
				WHEN @extschema@.cron_is_valid($1, 'aws') THEN 'aws'
				ELSE 'vixie' END
	$$;
COMMENT ON FUNCTION @extschema@._cron_dialect(text, text) IS
	'internal: the dialect a schedule is read in, from where it came from: an Airflow system''s is croniter''s, AWS cron(...) is AWS''s, any other standard cron';

ALTER TABLE @extschema@.schedule DROP CONSTRAINT schedule_cron_check;
ALTER TABLE @extschema@.schedule
	ADD COLUMN dialect text NOT NULL DEFAULT 'vixie' CHECK (dialect IN ('vixie', 'croniter', 'aws'));
UPDATE @extschema@.schedule x SET dialect = @extschema@._cron_dialect(x.cron, sy.kind)
FROM @extschema@.job j JOIN @extschema@.system sy ON sy.system_id = j.system_id
WHERE j.job_id = x.job_id
  AND @extschema@.cron_is_valid(x.cron, @extschema@._cron_dialect(x.cron, sy.kind));
ALTER TABLE @extschema@.schedule
	ADD CONSTRAINT schedule_cron_check CHECK (@extschema@.cron_is_valid(cron, dialect));
COMMENT ON COLUMN @extschema@.schedule.dialect IS 'how cron is read: croniter (an Airflow system''s: Airflow reads DAG schedules with croniter), aws (cron(...), Glue triggers), vixie (any other: standard cron, pg_cron); kant._cron_dialect';

CREATE OR REPLACE FUNCTION @extschema@.set_schedule(system text, schedule text, job text DEFAULT NULL,
		pipeline text DEFAULT NULL, time_zone text DEFAULT NULL, grace interval DEFAULT '1 hour',
		calendar text DEFAULT NULL, slot_date text DEFAULT NULL, active_from date DEFAULT NULL,
		active_until date DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sy record;
	zone text;
	d text;
	jobs integer[];
BEGIN
	SELECT s.* INTO sy FROM @extschema@.system s WHERE s.name = set_schedule.system;
	IF sy.system_id IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', set_schedule.system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF (job IS NULL) = (pipeline IS NULL) THEN
		RAISE EXCEPTION 'name either a job or a pipeline'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'kant.set_schedule(''hegel'', ''cron(0 17 * * ? *)'', job => ''export_users'') or pipeline => ''nightly''.';
	END IF;
	IF schedule IS NULL THEN
		RAISE EXCEPTION 'schedule must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'To remove a schedule call kant.unset_schedule().';
	END IF;
	-- read as the scheduler that runs the job reads it
	d := @extschema@._cron_dialect(schedule, sy.kind);
	PERFORM @extschema@.cron_check(schedule, d);
	-- Glue trigger schedules are in UTC; others read in the system's zone
	zone := coalesce(time_zone, CASE WHEN btrim(schedule) ILIKE 'cron(%' THEN 'UTC' ELSE sy.time_zone END);
	PERFORM @extschema@._check_zone(zone);
	IF grace IS NULL OR grace < interval '0' THEN
		RAISE EXCEPTION 'grace must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF calendar IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.calendar c WHERE c.name = set_schedule.calendar) THEN
		RAISE EXCEPTION 'calendar "%" does not exist', calendar
			USING ERRCODE = 'undefined_object', HINT = 'Create it with kant.set_calendar().';
	END IF;
	IF slot_date IS NOT NULL AND slot_date NOT IN ('start', 'previous_tick', 'tick') THEN
		RAISE EXCEPTION 'invalid slot_date "%"', slot_date
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use start, previous_tick (Airflow''s CronDataIntervalTimetable) or tick (CronTriggerTimetable).';
	END IF;
	IF job IS NOT NULL THEN
		jobs := ARRAY(SELECT j.job_id FROM @extschema@.job j
					  WHERE j.system_id = sy.system_id AND j.name = set_schedule.job);
		IF cardinality(jobs) = 0 THEN
			RAISE EXCEPTION 'job "%" of system "%" does not exist', job, set_schedule.system
				USING ERRCODE = 'undefined_object',
					  HINT = 'Create it with kant.configure_job() or ingest one of its runs first.';
		END IF;
	ELSE
		jobs := ARRAY(SELECT j.job_id FROM @extschema@.job j
					  WHERE j.system_id = sy.system_id AND j.pipeline = set_schedule.pipeline);
		IF cardinality(jobs) = 0 THEN
			RAISE EXCEPTION 'pipeline "%" of system "%" has no jobs', pipeline, set_schedule.system
				USING ERRCODE = 'undefined_object',
					  HINT = 'Put jobs in it with kant.configure_job(system, job, pipeline => ...).';
		END IF;
	END IF;
	IF active_until < coalesce(active_from, (now() AT TIME ZONE sy.time_zone)::date) THEN
		RAISE EXCEPTION 'active_until % is before active_from', active_until
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- the job's schedule is this one from now on
	DELETE FROM @extschema@.schedule x WHERE x.job_id = ANY (jobs) AND x.cron <> btrim(schedule);
	INSERT INTO @extschema@.schedule AS x (job_id, cron, dialect, time_zone, grace_seconds, calendar,
		slot_date, active_from, active_until)
	SELECT j, btrim(schedule), d, zone, extract(epoch FROM grace)::integer, set_schedule.calendar,
		coalesce(slot_date, CASE WHEN sy.kind <> 'airflow' THEN 'start'
							WHEN sy.cron_timetable = 'CronTriggerTimetable' THEN 'tick'
							ELSE 'previous_tick' END),
		coalesce(active_from, (now() AT TIME ZONE sy.time_zone)::date), active_until
	FROM unnest(jobs) AS j
	ON CONFLICT (job_id, cron) DO UPDATE SET
		dialect = excluded.dialect, time_zone = excluded.time_zone,
		grace_seconds = excluded.grace_seconds, calendar = excluded.calendar,
		slot_date = excluded.slot_date, active_from = excluded.active_from,
		active_until = excluded.active_until, source = 'user', updated_at = now();
	PERFORM @extschema@._reexpand(jobs);
	RETURN cardinality(jobs);
END
$$;
COMMENT ON FUNCTION @extschema@.set_schedule(text, text, text, text, text, interval, text, text, date, date) IS
	'Declare when a job (or every job of a pipeline) is expected to run: cron (5-field, preset or AWS cron(...)), zone (default UTC for cron(...), else the system''s), grace period, calendar, from (and until) which business date; returns the jobs scheduled';
REVOKE ALL ON FUNCTION @extschema@.set_schedule(text, text, text, text, text, interval, text, text, date, date) FROM PUBLIC;

/*
 * Which timetable an Airflow system's cron DAGs follow where its API does not
 * show it.  A DAG's next run shows it (its logical date is the tick itself
 * under CronTriggerTimetable, the previous tick under
 * CronDataIntervalTimetable); a paused DAG, or one whose last run is past its
 * end_date, has none.  Then kant follows the version's default (Airflow 3:
 * CronTriggerTimetable, [scheduler] create_cron_data_intervals = False;
 * Airflow 2: CronDataIntervalTimetable), unless this says otherwise.
 */
CREATE OR REPLACE FUNCTION @extschema@.set_cron_timetable(system text, timetable text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF timetable IS NOT NULL AND timetable NOT IN ('CronTriggerTimetable', 'CronDataIntervalTimetable') THEN
		RAISE EXCEPTION 'invalid timetable "%"', timetable
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use CronTriggerTimetable, CronDataIntervalTimetable, or NULL for the Airflow version''s default.';
	END IF;
	UPDATE @extschema@.system s SET cron_timetable = set_cron_timetable.timetable
	WHERE s.name = set_cron_timetable.system AND s.kind = 'airflow';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'Airflow system "%" does not exist', system
			USING ERRCODE = 'undefined_object',
				  HINT = 'See SELECT name FROM kant.system WHERE kind = ''airflow'';';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.set_cron_timetable(text, text) IS
	'The timetable of an Airflow system''s cron DAGs where the REST API does not show it (a DAG paused, past its end_date or at max_active_runs shows no run-after time): CronTriggerTimetable (a slot''s business date is the date of the tick: Airflow 3''s default), CronDataIntervalTimetable (of the previous tick: Airflow 2''s), NULL (the version''s default); the next collection applies it to the schedules it sets';
REVOKE ALL ON FUNCTION @extschema@.set_cron_timetable(text, text) FROM PUBLIC;

-- Airflow schedules read by croniter's rules from now on: their expected
-- runs again
SELECT @extschema@._reexpand(array_agg(x.job_id)) FROM @extschema@.schedule x WHERE x.dialect = 'croniter'
HAVING count(*) > 0;

-- What a collector found that is no cron schedule, recorded once
CREATE TABLE @extschema@.schedule_unread (
	job_id			integer PRIMARY KEY REFERENCES @extschema@.job ON DELETE CASCADE,
	schedule		text NOT NULL,
	not_cron		boolean NOT NULL,
	seen_at			timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.schedule_unread', '');
COMMENT ON TABLE @extschema@.schedule_unread IS
	'Schedules a collector found that kant does not expand: a DAG on @once, @continuous, assets or datasets, or a timedelta (not_cron: no slots expected, no warning), or one kant cannot read (warned about once, when it appears or changes)';
COMMENT ON COLUMN @extschema@.schedule_unread.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.schedule_unread.schedule IS 'the schedule as the scheduler gave it (Airflow 3''s timetable_summary)';
COMMENT ON COLUMN @extschema@.schedule_unread.not_cron IS 'true when it is a schedule without cron slots (kant._not_cron), false when kant cannot read it';
COMMENT ON COLUMN @extschema@.schedule_unread.seen_at IS 'when it was first seen as it is';

CREATE FUNCTION @extschema@._not_cron(schedule text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT lower(btrim($1)) IN ('@once', '@continuous', 'none', 'null', '')
		OR btrim($1) ~* '^(asset|dataset)$'
		OR btrim($1) ~ '^([0-9]+ days?, )?[0-9]+:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$'
	$$;
COMMENT ON FUNCTION @extschema@._not_cron(text) IS
	'internal: true for the timetable summary of an Airflow DAG without cron slots (airflow/timetables: NullTimetable "None", OnceTimetable "@once", ContinuousTimetable "@continuous", the asset or dataset trigger "Asset" / "Dataset", DeltaDataIntervalTimetable''s timedelta as Python prints it, "1 day, 0:00:00"); anything else that is no cron kant reports once as unreadable';

-- A DAG's cron runs in the DAG's time zone, read from its details; its
-- slots are dated as its timetable dates them (the logical date is the
-- previous tick under CronDataIntervalTimetable, the tick under
-- CronTriggerTimetable, Airflow 3's default)
ALTER TABLE @extschema@.system ADD COLUMN cron_timetable text
	CHECK (cron_timetable IN ('CronTriggerTimetable', 'CronDataIntervalTimetable'));
COMMENT ON COLUMN @extschema@.system.cron_timetable IS 'airflow: the timetable of its cron DAGs where the API does not show it (a DAG without a next run): CronTriggerTimetable (the logical date is the tick: Airflow 3''s default) or CronDataIntervalTimetable (the previous tick: Airflow 2''s); NULL: the version''s default (kant.set_cron_timetable)';
ALTER TABLE @extschema@.schedule DROP CONSTRAINT schedule_slot_date_check,
	ADD CONSTRAINT schedule_slot_date_check CHECK (slot_date IN ('start', 'previous_tick', 'tick'));
COMMENT ON COLUMN @extschema@.schedule.slot_date IS 'business date of a slot: start = the job''s start-time rule applied to the slot time; previous_tick = local date of the previous tick (Airflow''s logical date under CronDataIntervalTimetable, Airflow 2''s default); tick = local date of the tick itself (the logical date under CronTriggerTimetable, Airflow 3''s default)';
-- a job may have several schedules: a Glue job started by two scheduled
-- triggers has both
ALTER TABLE @extschema@.schedule DROP CONSTRAINT schedule_pkey,
	ADD PRIMARY KEY (job_id, cron);
COMMENT ON TABLE @extschema@.schedule IS
	'When a job is expected to run: a cron schedule in an IANA zone, a grace period, an optional business-day calendar; expanded into kant.expected_run.  One row per cron: a job a user schedules has one (kant.set_schedule), a Glue job one per activated scheduled trigger that starts it';
-- an Airflow DAG's schedule is read again, with its zone and timetable, at
-- the next collection
UPDATE @extschema@.schedule x SET updated_at = '-infinity' WHERE x.source = 'airflow_dag';

/*
 * A DAG's time zone as Airflow's REST API gives it (DAGDetail.timezone: str()
 * of the DAG's pendulum zone).  Airflow 2 with pendulum 2 prints
 * "Timezone('Asia/Tokyo')", pendulum 3 (Airflow 2.8+, 3) the name itself;
 * a fixed offset prints as 'FixedTimezone(32400, name="+09:00")' (pendulum 3)
 * or "Timezone('+09:00')" (pendulum 2).  Whole-hour offsets become the
 * Etc/GMT zone of that offset (POSIX sign: Etc/GMT-9 is nine hours east),
 * others a POSIX zone ("<+0530>-05:30").
 */
CREATE OR REPLACE FUNCTION @extschema@._airflow_zone(timezone text) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT CASE
		WHEN o.secs IS NOT NULL THEN
			CASE WHEN o.secs = 0 THEN 'UTC'
				 WHEN o.secs % 3600 = 0 AND o.secs BETWEEN -12 * 3600 AND 14 * 3600
				 THEN 'Etc/GMT' || CASE WHEN o.secs > 0 THEN '-' ELSE '+' END || (abs(o.secs) / 3600)::text
				 -- a half hour and the like: a POSIX zone, "<+0530>-05:30"
				 WHEN o.secs % 60 = 0 AND o.secs BETWEEN -12 * 3600 AND 14 * 3600
				 THEN format('<%s%s>%s%s', CASE WHEN o.secs > 0 THEN '+' ELSE '-' END,
							 to_char(abs(o.secs) / 3600, 'FM00') || to_char(abs(o.secs) / 60 % 60, 'FM00'),
							 CASE WHEN o.secs > 0 THEN '-' ELSE '+' END,
							 to_char(abs(o.secs) / 3600, 'FM00') || ':' || to_char(abs(o.secs) / 60 % 60, 'FM00')) END
		WHEN @extschema@.valid_time_zone(z.name) THEN z.name END
	FROM (SELECT coalesce(substring(btrim($1) FROM '^Timezone\(''([^'']+)''\)$'), btrim($1)) AS name) z
	CROSS JOIN LATERAL (
		SELECT CASE
			WHEN btrim($1) ~ '^FixedTimezone\(-?[0-9]+[,)]'
			THEN substring(btrim($1) FROM '^FixedTimezone\((-?[0-9]+)')::integer
			WHEN z.name ~ '^[+-][0-9]{2}:[0-9]{2}$'
			THEN (CASE WHEN left(z.name, 1) = '-' THEN -1 ELSE 1 END)
				 * (substr(z.name, 2, 2)::integer * 3600 + substr(z.name, 5, 2)::integer * 60) END AS secs) o
	$$;
COMMENT ON FUNCTION @extschema@._airflow_zone(text) IS
	'internal: the zone of an Airflow DAG''s time zone as its REST API gives it ("Asia/Tokyo", "Timezone(''Asia/Tokyo'')", ''FixedTimezone(32400, name="+09:00")'', "+09:00": whole-hour offsets as Etc/GMT-9, others as a POSIX zone, "<+0530>-05:30"); NULL when kant cannot read it';

DROP FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text);
CREATE OR REPLACE FUNCTION @extschema@._collector_schedules(system text, jobs text[], schedules text[],
		time_zones text[], source text, slot_dates text[] DEFAULT NULL, default_slot_date text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sy record;
	bad record;
	changed integer[];
BEGIN
	SELECT s.* INTO sy FROM @extschema@.system s WHERE s.name = _collector_schedules.system;
	-- schedules that are no cron: recorded once (kant.schedule_unread); only
	-- one kant cannot read, new or changed, is a warning.  A DAG on @once,
	-- @continuous, assets/datasets or a timedelta expects no slots.
	FOR bad IN
		WITH unread AS (
			SELECT DISTINCT ON (j.job_id) j.job_id, j.name AS job, btrim(u.cron) AS cron
			FROM unnest(jobs, schedules) AS u(job, cron)
			JOIN @extschema@.job j ON j.system_id = sy.system_id AND j.name = u.job
			WHERE NOT @extschema@.cron_is_valid(u.cron, @extschema@._cron_dialect(u.cron, sy.kind))
			ORDER BY j.job_id, u.cron
		)
		INSERT INTO @extschema@.schedule_unread AS x (job_id, schedule, not_cron)
		SELECT r.job_id, r.cron, @extschema@._not_cron(r.cron) FROM unread r
		ON CONFLICT (job_id) DO UPDATE SET schedule = excluded.schedule, not_cron = excluded.not_cron,
			seen_at = now()
		WHERE x.schedule IS DISTINCT FROM excluded.schedule
		RETURNING x.job_id, x.schedule, x.not_cron
	LOOP
		-- a schedule a collector set before goes with what it was read from:
		-- no slots from now on (those before stay, as they were expected)
		WITH del AS (
			DELETE FROM @extschema@.expected_run e USING @extschema@.schedule x
			WHERE x.job_id = bad.job_id AND x.source <> 'user' AND e.job_id = x.job_id AND e.slot_at > now()
			RETURNING e.job_id, e.business_date
		)
		INSERT INTO @extschema@.slo_dirty (job_id, business_date)
		SELECT DISTINCT d.job_id, d.business_date FROM del d
		ON CONFLICT DO NOTHING;
		DELETE FROM @extschema@.schedule x WHERE x.job_id = bad.job_id AND x.source <> 'user';
		IF NOT bad.not_cron THEN
			RAISE WARNING 'kant: % of system % has a schedule kant cannot read: %',
				(SELECT j.name FROM @extschema@.job j WHERE j.job_id = bad.job_id), system, bad.schedule
				USING HINT = 'kant.schedule_unread keeps it; set the job''s schedule with kant.set_schedule() if it runs on one.';
		END IF;
	END LOOP;
	-- a job whose schedule is cron again, in a zone kant reads (a DAG's zone
	-- not read this time says nothing)
	DELETE FROM @extschema@.schedule_unread x
	USING unnest(jobs, schedules, time_zones) AS u(job, cron, zone), @extschema@.job j
	WHERE j.system_id = sy.system_id AND j.name = u.job AND x.job_id = j.job_id
	  AND @extschema@.cron_is_valid(u.cron, @extschema@._cron_dialect(u.cron, sy.kind))
	  AND (_collector_schedules.source <> 'airflow_dag' OR @extschema@._airflow_zone(u.zone) IS NOT NULL);
	-- a DAG's zone as Airflow gives it (kant._airflow_zone); NULL: not read
	-- this time, the stored schedule keeps its zone.  One kant cannot read is
	-- recorded in kant.schedule_unread and warned about once, when it appears
	-- or changes, one warning for the tasks of a zone.
	FOR bad IN
		WITH z AS (
			SELECT DISTINCT j.job_id, j.name AS job, btrim(u.cron) AS cron, u.zone
			FROM unnest(jobs, schedules, time_zones) AS u(job, cron, zone)
			JOIN @extschema@.job j ON j.system_id = sy.system_id AND j.name = u.job
			WHERE _collector_schedules.source = 'airflow_dag' AND u.zone IS NOT NULL
			  AND @extschema@._airflow_zone(u.zone) IS NULL
		), rec AS (
			INSERT INTO @extschema@.schedule_unread AS x (job_id, schedule, not_cron)
			SELECT z.job_id, format('%s in time zone %s', z.cron, z.zone), false FROM z
			ON CONFLICT (job_id) DO UPDATE SET schedule = excluded.schedule, not_cron = false, seen_at = now()
			WHERE x.schedule IS DISTINCT FROM excluded.schedule
			RETURNING x.job_id
		)
		SELECT z.zone, pg_catalog.count(*) AS n, pg_catalog.min(z.job) AS job
		FROM z JOIN rec ON rec.job_id = z.job_id GROUP BY z.zone
	LOOP
		RAISE WARNING 'kant: % of system % run% in a time zone kant cannot read: %',
			CASE WHEN bad.n = 1 THEN bad.job ELSE format('%s and %s more tasks', bad.job, bad.n - 1) END,
			system, CASE WHEN bad.n = 1 THEN 's' ELSE '' END, bad.zone
			USING HINT = 'kant.schedule_unread keeps it; their schedules stay as they were; set one with kant.set_schedule(time_zone => ...) if it runs on one.';
	END LOOP;
	WITH given AS (
		SELECT j.job_id, btrim(u.cron) AS cron, @extschema@._cron_dialect(btrim(u.cron), sy.kind) AS dialect,
			-- an Airflow DAG's zone: as read now, else as stored (not read
			-- this time, or read but unreadable: warned above)
			CASE WHEN _collector_schedules.source = 'airflow_dag'
				 THEN coalesce(@extschema@._airflow_zone(u.zone), was.time_zone)
				 ELSE u.zone END AS zone,
			u.zone IS NOT NULL AS zone_read,
			-- the timetable: what the DAG's next run shows, else the system's
			-- setting, else what it was (a DAG at max_active_runs has no
			-- run-after time for a while: DagModel.calculate_dagrun_date_fields),
			-- else the version's default
			coalesce(u.slot,
				CASE sy.cron_timetable WHEN 'CronTriggerTimetable' THEN 'tick'
									   WHEN 'CronDataIntervalTimetable' THEN 'previous_tick' END,
				was.slot_date,
				default_slot_date,
				CASE WHEN sy.kind = 'airflow' THEN 'previous_tick' ELSE 'start' END) AS slot_date
		FROM unnest(jobs, schedules, time_zones,
					coalesce(slot_dates, array_fill(NULL::text, ARRAY[cardinality(jobs)]))) AS u(job, cron, zone, slot)
		JOIN @extschema@.job j ON j.system_id = sy.system_id AND j.name = u.job
		-- what this collector set before for the job
		LEFT JOIN LATERAL (
			SELECT c.time_zone, c.slot_date FROM @extschema@.schedule c
			WHERE c.job_id = j.job_id AND c.source = _collector_schedules.source
			ORDER BY c.updated_at DESC LIMIT 1) was ON true
	), found AS (
		-- every cron of a job (a Glue job started by two scheduled triggers
		-- has both), unless a user set the job's schedule
		SELECT DISTINCT ON (f.job_id, f.cron) f.*
		FROM given f
		WHERE @extschema@.cron_is_valid(f.cron, f.dialect) AND @extschema@.valid_time_zone(f.zone)
		  AND NOT EXISTS (SELECT FROM @extschema@.schedule u WHERE u.job_id = f.job_id AND u.source = 'user')
		ORDER BY f.job_id, f.cron
	), checked AS (
		-- a zone read again and found the same: checked now (kant reads a
		-- DAG's details when its schedule was not checked for a day)
		UPDATE @extschema@.schedule x SET updated_at = now()
		FROM found f
		WHERE x.job_id = f.job_id AND x.cron = f.cron AND f.zone_read AND x.source <> 'user'
		  AND (x.dialect, x.time_zone, x.slot_date) IS NOT DISTINCT FROM (f.dialect, f.zone, f.slot_date)
	), gone AS (
		-- what this collector set before and found no more: a trigger
		-- deactivated or deleted, a DAG's cron changed or gone
		DELETE FROM @extschema@.schedule x
		USING @extschema@.job j
		WHERE j.job_id = x.job_id AND j.system_id = sy.system_id AND x.source = _collector_schedules.source
		  AND NOT EXISTS (SELECT FROM found f WHERE f.job_id = x.job_id AND f.cron = x.cron)
		RETURNING x.job_id
	), up AS (
		INSERT INTO @extschema@.schedule AS x (job_id, cron, dialect, time_zone, grace_seconds, slot_date,
			active_from, source)
		SELECT f.job_id, f.cron, f.dialect, f.zone, 3600, f.slot_date,
			(now() AT TIME ZONE sy.time_zone)::date, _collector_schedules.source
		FROM found f
		LEFT JOIN @extschema@.schedule cur ON cur.job_id = f.job_id AND cur.cron = f.cron
		WHERE cur.job_id IS NULL
		   OR (cur.dialect, cur.time_zone, cur.slot_date, cur.source)
			  IS DISTINCT FROM (f.dialect, f.zone, f.slot_date, _collector_schedules.source)
		ON CONFLICT (job_id, cron) DO UPDATE SET
			dialect = excluded.dialect, time_zone = excluded.time_zone,
			slot_date = excluded.slot_date, active_from = excluded.active_from, source = excluded.source,
			updated_at = now()
		RETURNING x.job_id
	), lost AS (
		-- the expected runs still to come of a job that lost a schedule
		DELETE FROM @extschema@.expected_run e
		WHERE e.job_id IN (SELECT g.job_id FROM gone g) AND e.slot_at > now()
		RETURNING e.job_id, e.business_date
	), dirty AS (
		INSERT INTO @extschema@.slo_dirty (job_id, business_date)
		SELECT DISTINCT l.job_id, l.business_date FROM lost l
		ON CONFLICT DO NOTHING
	)
	SELECT array_agg(DISTINCT c.job_id) INTO changed
	FROM (SELECT up.job_id FROM up UNION ALL SELECT gone.job_id FROM gone) c;
	IF changed IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM @extschema@._reexpand(changed);
	RETURN cardinality(changed);
END
$$;
COMMENT ON FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text, text[], text) IS
	'internal: set the schedules a collector found (Glue triggers, DAG schedules) in one batch, unless a user set one: jobs, their crons, their zones (an Airflow DAG''s as its API gives it, NULL: keep the stored one), who found them, the slot dates the timetables showed (tick, previous_tick; NULL: the system''s kant.system.cron_timetable, else default_slot_date); returns the jobs whose schedule changed';
REVOKE ALL ON FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text, text[], text) FROM PUBLIC;

-- A zone a user gives is no offset PostgreSQL reads west of UTC ("+05:30",
-- "GMT+8"); zones stored before stay as they are, and are reported
/*
 * A zone a user gives: known to the server, and not an offset PostgreSQL
 * reads POSIX-style: "+05:30", "GMT+8", "UTC-3" are hours WEST of UTC, the
 * opposite of ISO 8601 and of what Airflow's "+05:30" means (IANA's
 * Etc/GMT+8 and EST5EDT are zone files, and fine).  Zones stored before stay
 * readable as they are (valid_time_zone, the tables' checks).
 */
CREATE FUNCTION @extschema@._is_offset_zone(zone text) RETURNS boolean
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT $1 ~ '^[A-Za-z]{0,6}[+-]?[0-9]'
		AND NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names n WHERE n.name = $1)
	$$;
COMMENT ON FUNCTION @extschema@._is_offset_zone(text) IS
	'internal: true for a zone name PostgreSQL reads as an offset west of UTC ("+05:30", "GMT+8", "UTC-3"; not IANA''s Etc/GMT+8 or EST5EDT, which are zone files)';
REVOKE ALL ON FUNCTION @extschema@._is_offset_zone(text) FROM PUBLIC;

/*
 * A zone a user gives: known to the server, and not an offset PostgreSQL
 * reads POSIX-style: "+05:30", "GMT+8", "UTC-3" are hours WEST of UTC, the
 * opposite of ISO 8601 and of what Airflow's "+05:30" means (IANA's
 * Etc/GMT+8 and EST5EDT are zone files, and fine).  Zones stored before stay
 * readable as they are (valid_time_zone, the tables' checks).
 */
CREATE OR REPLACE FUNCTION @extschema@._check_zone(zone text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF zone IS NULL OR NOT @extschema@.valid_time_zone(zone) THEN
		RAISE EXCEPTION 'unknown time zone "%"', zone
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an IANA name such as Asia/Tokyo (see pg_timezone_names).';
	END IF;
	IF @extschema@._is_offset_zone(zone) THEN
		RAISE EXCEPTION 'time zone "%" is an offset PostgreSQL reads as hours west of UTC', zone
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Write an IANA name (Asia/Kolkata), or a POSIX zone that says its sign: <+0530>-05:30 is five and a half hours east.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_zone(text) IS
	'internal: error 22023 unless a zone a user gives is known and no offset PostgreSQL would read west of UTC ("+05:30", "GMT+8"); Asia/Kolkata or <+0530>-05:30 instead';
REVOKE ALL ON FUNCTION @extschema@._check_zone(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@._check_system_args(kind text, time_zone text, bd_offset_days integer)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IS NOT NULL AND kind NOT IN ('glue', 'airflow', 'openlineage', 'manual') THEN
		RAISE EXCEPTION 'invalid system kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use glue, airflow, openlineage or manual.';
	END IF;
	IF time_zone IS NOT NULL THEN
		PERFORM @extschema@._check_zone(time_zone);
	END IF;
	IF bd_offset_days IS NOT NULL AND bd_offset_days NOT BETWEEN -366 AND 366 THEN
		RAISE EXCEPTION 'bd_offset_days % is out of range', bd_offset_days
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a number of days between -366 and 366.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_system_args(text, text, integer) IS
	'internal: validation shared by add_system and alter_system';
REVOKE ALL ON FUNCTION @extschema@._check_system_args(text, text, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@._check_slo(deadline_offset_days integer, deadline time, time_zone text,
		sla_offset_days integer, sla_end time, objective numeric, window_days integer, calendar text)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM @extschema@._check_zone(time_zone);
	IF deadline IS NULL OR deadline_offset_days IS NULL OR deadline_offset_days < 0
	   OR (deadline_offset_days = 0 AND deadline = '00:00') THEN
		RAISE EXCEPTION 'deadline (business date + % days, %) is not after the start of the business date',
			deadline_offset_days, deadline
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A deadline is a day offset of 0 or more and a local time after it begins, e.g. deadline => ''06:00'', deadline_offset_days => 1 for 06:00 the next morning.';
	END IF;
	IF deadline_offset_days > 366 THEN
		RAISE EXCEPTION 'deadline_offset_days % is out of range', deadline_offset_days
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use at most 366 days.';
	END IF;
	IF (sla_offset_days, sla_end) < (deadline_offset_days, deadline) THEN
		RAISE EXCEPTION 'SLA end (business date + % days, %) is before the deadline (business date + % days, %)',
			sla_offset_days, sla_end, deadline_offset_days, deadline
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The SLA window ends at or after the deadline; by default at the end of the deadline''s local day.';
	END IF;
	IF objective IS NULL OR objective <= 0 OR objective > 1 THEN
		RAISE EXCEPTION 'objective % is out of range', objective
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a share of days, e.g. 0.95 for 95%.';
	END IF;
	IF window_days IS NULL OR window_days NOT BETWEEN 1 AND 3660 THEN
		RAISE EXCEPTION 'window_days % is out of range', window_days
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use 1 to 3660 days, e.g. 28.';
	END IF;
	IF calendar IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.calendar c WHERE c.name = _check_slo.calendar) THEN
		RAISE EXCEPTION 'calendar "%" does not exist', calendar
			USING ERRCODE = 'undefined_object', HINT = 'Create it with kant.set_calendar().';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_slo(integer, time, text, integer, time, numeric, integer, text) IS
	'internal: validation shared by create_slo and alter_slo';
REVOKE ALL ON FUNCTION @extschema@._check_slo(integer, time, text, integer, time, numeric, integer, text) FROM PUBLIC;

DO $$
DECLARE
	z record;
BEGIN
	FOR z IN
		SELECT u.what, u.zone FROM (
			SELECT 'system ' || s.name AS what, s.time_zone AS zone FROM @extschema@.system s
			UNION ALL SELECT 'SLO ' || s.name, s.time_zone FROM @extschema@.slo s
			UNION ALL SELECT 'the schedule of job ' || j.name, x.time_zone
			FROM @extschema@.schedule x JOIN @extschema@.job j ON j.job_id OPERATOR(pg_catalog.=) x.job_id) u
		WHERE @extschema@._is_offset_zone(u.zone)
	LOOP
		RAISE WARNING 'kant: % is in time zone "%", which PostgreSQL reads as hours west of UTC', z.what, z.zone
			USING HINT = 'If it means east, give it an IANA name (kant.alter_system(time_zone => ...), kant.alter_slo, kant.set_schedule).';
	END LOOP;
END
$$;

---------------------------------------------------------------------------
-- issue 16: a collection is a sweep or hot (kant.collect_hot); the views and functions
-- below read it, and issue 14 adds hint after these columns, as a fresh install has them
---------------------------------------------------------------------------

ALTER TABLE @extschema@.collection
	ADD COLUMN mode text NOT NULL DEFAULT 'sweep' CHECK (mode IN ('sweep', 'hot')),
	ADD COLUMN deferred integer NOT NULL DEFAULT 0,
	ADD COLUMN throttled integer NOT NULL DEFAULT 0;
-- the staleness of gates and alerts reads the last sweeps among a minute's hot collections
CREATE INDEX collection_sweep_idx ON @extschema@.collection (system_id, started_at) WHERE mode = 'sweep';
COMMENT ON COLUMN @extschema@.collection.mode IS
	'sweep (kant.collect_glue, kant.collect_airflow: everything; the only kind that moves watermarks and cursors, and the only kind the staleness of gates, alerts and kant.collector_health counts) or hot (kant.collect_hot: what can change soon; moves nothing)';
COMMENT ON COLUMN @extschema@.collection.deferred IS
	'hot: reads it did not make, left to the next tick (the sweep reads everything anyway): the request budget was spent (kant.collect_budget), the system throttled, the tick''s deadline came, or a sweep held the system';
COMMENT ON COLUMN @extschema@.collection.throttled IS
	'replies that were throttling (HTTP 429; Glue''s HTTP 400 ThrottlingException or TooManyRequestsException), retried or not; one halves the system''s request rate';

-- Credentials as the clouds issue them (issue 14)
-- credential sources and the token cache (set_credentials, which drops a cached token, is above);
-- a collection keeps its error's hint

ALTER TABLE @extschema@.collection ADD COLUMN hint text;
COMMENT ON COLUMN @extschema@.collection.hint IS 'what the error suggests doing (its HINT); for a collection without error, a problem that did not end it (Glue Data Quality results it was denied), or NULL';

CREATE OR REPLACE VIEW @extschema@.collector_health AS
SELECT
	s.name AS system,
	s.kind,
	l.started_at AS last_started_at,
	l.ended_at AS last_ended_at,
	l.error AS last_error,
	ok.ended_at AS last_success_at,
	round(extract(epoch FROM pg_catalog.now() - ok.ended_at))::bigint AS seconds_since_success,
	ok.runs_seen AS last_success_runs_seen,
	l.hint AS last_error_hint,
	h.started_at AS last_hot_at,
	h.error AS last_hot_error,
	h.deferred AS last_hot_deferred,
	h.hint AS last_hot_error_hint
FROM @extschema@.system s
LEFT JOIN LATERAL (SELECT c.* FROM @extschema@.collection c WHERE c.system_id = s.system_id AND c.mode = 'sweep'
				   ORDER BY c.started_at DESC LIMIT 1) l ON true
LEFT JOIN LATERAL (SELECT c.* FROM @extschema@.collection c WHERE c.system_id = s.system_id AND c.mode = 'sweep'
					 AND c.error IS NULL AND c.ended_at IS NOT NULL
				   ORDER BY c.started_at DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (SELECT c.* FROM @extschema@.collection c WHERE c.system_id = s.system_id AND c.mode = 'hot'
				   ORDER BY c.started_at DESC LIMIT 1) h ON true
WHERE s.kind IN ('glue', 'airflow');
COMMENT ON VIEW @extschema@.collector_health IS 'Per collected system: its last sweep, its last successful one and how long ago that was (the input of a stale-collector alert: a hot collection reads only what is in flight, so it does not count), and its last hot collection';
COMMENT ON COLUMN @extschema@.collector_health.system IS 'system name';
COMMENT ON COLUMN @extschema@.collector_health.kind IS 'glue or airflow';
COMMENT ON COLUMN @extschema@.collector_health.last_started_at IS 'start of the last sweep';
COMMENT ON COLUMN @extschema@.collector_health.last_ended_at IS 'end of the last sweep';
COMMENT ON COLUMN @extschema@.collector_health.last_error IS 'error of the last sweep, or NULL';
COMMENT ON COLUMN @extschema@.collector_health.last_success_at IS 'end of the last sweep without error';
COMMENT ON COLUMN @extschema@.collector_health.seconds_since_success IS 'seconds since then';
COMMENT ON COLUMN @extschema@.collector_health.last_success_runs_seen IS 'runs it read';
COMMENT ON COLUMN @extschema@.collector_health.last_hot_at IS 'start of the last hot collection (kant.collect_hot), or NULL';
COMMENT ON COLUMN @extschema@.collector_health.last_hot_error IS 'its error, or NULL';
COMMENT ON COLUMN @extschema@.collector_health.last_hot_deferred IS 'the reads it left to the next tick (budget, throttling, deadline)';
COMMENT ON COLUMN @extschema@.collector_health.last_hot_error_hint IS 'what the last hot collection''s error suggests doing (kant.collection.hint), or NULL: a hot collection runs every minute, the sweep hourly, so a new problem shows here first';
COMMENT ON COLUMN @extschema@.collector_health.last_error_hint IS 'what the last collection''s error suggests doing, or the problem that did not end it (kant.collection.hint), or NULL';

/*
 * Credential sources: how a system's collector gets credentials that the
 * cloud issues and rotates, instead of a static secret (kant.credential).
 * A system without a row here uses kant.credential as it is ('static').
 * Obtaining, caching and refreshing is src/auth.c.
 */
CREATE TABLE @extschema@.credential_source (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	source			text NOT NULL,
	base_source		text,
	role_arn		text,
	role_session_name text,
	external_id		text,
	duration_seconds integer,
	web_identity_token_file text,
	audience		text,
	key_file		text,
	scopes			text,
	sts_endpoint	text,
	bound_to		text NOT NULL,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	impersonate		text,
	CONSTRAINT credential_source_known CHECK (source IN ('aws_instance', 'aws_container', 'aws_assume_role',
		'aws_web_identity', 'google_metadata', 'google_service_account')),
	CONSTRAINT credential_source_base CHECK ((source = 'aws_assume_role') = (base_source IS NOT NULL)
		AND base_source IN ('static', 'aws_instance', 'aws_container'))
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.credential_source', '');
COMMENT ON TABLE @extschema@.credential_source IS
	'How a system''s collector obtains credentials the cloud issues and rotates (kant.set_credential_source); no secret is stored here, only where to get one. A system without a row uses kant.credential (static secrets). Readable by the extension owner; kant.credential_sources shows it';
COMMENT ON COLUMN @extschema@.credential_source.source IS
	'aws_instance (EC2 instance role through IMDSv2), aws_container (ECS task role / EKS Pod Identity: AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI of the server), aws_assume_role (STS AssumeRole signed with base_source''s keys), aws_web_identity (STS AssumeRoleWithWebIdentity with a token file or a Google ID token), google_metadata (the GCE/GKE metadata server''s access token of the attached service account), google_service_account (an RS256 JWT signed with a service-account key, exchanged at its token_uri)';
COMMENT ON COLUMN @extschema@.credential_source.base_source IS 'aws_assume_role: where the keys that sign AssumeRole come from: static (kant.set_credentials), aws_instance or aws_container';
COMMENT ON COLUMN @extschema@.credential_source.role_arn IS 'aws_assume_role, aws_web_identity: the IAM role (arn:aws:iam::<account>:role/<name>)';
COMMENT ON COLUMN @extschema@.credential_source.role_session_name IS 'STS RoleSessionName (CloudTrail shows it); default kant-<system>';
COMMENT ON COLUMN @extschema@.credential_source.external_id IS 'aws_assume_role: the ExternalId the role''s trust policy asks for, or NULL';
COMMENT ON COLUMN @extschema@.credential_source.duration_seconds IS 'STS DurationSeconds, 900..43200 (the role''s maximum session duration caps it); NULL: 3600';
COMMENT ON COLUMN @extschema@.credential_source.web_identity_token_file IS 'aws_web_identity: a file in kant.secret_directory holding the OIDC token (EKS IRSA''s projected token), read at each exchange; NULL: a Google ID token for audience from the metadata server';
COMMENT ON COLUMN @extschema@.credential_source.audience IS 'aws_web_identity without a token file: the audience of the Google ID token (its aud claim, which a role''s trust policy tests as accounts.google.com:oaud; accounts.google.com:aud is the service account''s unique ID)';
COMMENT ON COLUMN @extschema@.credential_source.key_file IS 'google_service_account: a file in kant.secret_directory holding the service-account key JSON (type, client_email, private_key, private_key_id, token_uri)';
COMMENT ON COLUMN @extschema@.credential_source.scopes IS 'google_*: OAuth 2.0 scopes, space-separated; default https://www.googleapis.com/auth/cloud-platform (what Composer asks for)';
COMMENT ON COLUMN @extschema@.credential_source.sts_endpoint IS 'aws_*: the STS endpoint; NULL: https://sts.<the system''s region>.amazonaws.com';
COMMENT ON COLUMN @extschema@.credential_source.impersonate IS 'google_*: a service account (email) whose token kant asks for with the source''s token (IAM Credentials generateAccessToken; the source''s identity needs roles/iam.serviceAccountTokenCreator on it), or NULL';
COMMENT ON COLUMN @extschema@.credential_source.bound_to IS 'the kind and host the source was set for (kant._credential_target); the collector refuses it for any other';
COMMENT ON COLUMN @extschema@.credential_source.updated_at IS 'when it was set';

/*
 * Tokens and temporary keys obtained from a source, kept until shortly
 * before they expire so that pg_cron's next run (a new backend) reuses them.
 * Unlogged: never written to WAL (nor to a standby or a base backup), and
 * empty after a crash, which only costs one refresh.
 */
CREATE UNLOGGED TABLE @extschema@.token_cache (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	source			text NOT NULL,
	principal		text,
	secret			text NOT NULL,
	session_token	text,
	expires_at		timestamptz NOT NULL,
	obtained_at		timestamptz NOT NULL,
	bound_to		text NOT NULL,
	settings		text
);
COMMENT ON TABLE @extschema@.token_cache IS
	'Credentials obtained from a system''s source (src/auth.c): an access token, a JWT or an AWS temporary key pair, and when it expires; refreshed kant.token_refresh_margin before. Unlogged (never in WAL, standbys or base backups), readable only by the extension owner, not dumped';
COMMENT ON COLUMN @extschema@.token_cache.source IS 'the source that issued it (a change of source ignores it)';
COMMENT ON COLUMN @extschema@.token_cache.principal IS 'AWS: the temporary access key id; NULL for a bearer token';
COMMENT ON COLUMN @extschema@.token_cache.secret IS 'the bearer token, or the AWS temporary secret access key';
COMMENT ON COLUMN @extschema@.token_cache.session_token IS 'AWS: the session token (X-Amz-Security-Token)';
COMMENT ON COLUMN @extschema@.token_cache.expires_at IS 'when the issuer says it expires';
COMMENT ON COLUMN @extschema@.token_cache.obtained_at IS 'when kant obtained it';
COMMENT ON COLUMN @extschema@.token_cache.bound_to IS 'the kind and host it was obtained for';
COMMENT ON COLUMN @extschema@.token_cache.settings IS 'the row versions (xmin) of the source and the static credentials it was obtained with: any change since makes it unusable, so a refresh that ran across a change cannot keep the old role in use';

CREATE FUNCTION @extschema@._secret_probe(name text, what text, system text) RETURNS text
	AS 'MODULE_PATHNAME', 'kant_secret_probe_sql'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._secret_probe(text, text, text) IS
	'internal: why a secret file in kant.secret_directory cannot be read now (missing, readable by others, empty), or NULL; never its contents';
REVOKE ALL ON FUNCTION @extschema@._secret_probe(text, text, text) FROM PUBLIC;

/*
 * Drop a system's cached token -- unless a refresh holds its row: waiting
 * would wait for that refresh's whole transaction, and the token is of no use
 * anyway once the settings it was obtained with changed (token_cache.settings).
 */
CREATE FUNCTION @extschema@._drop_token(system_id integer)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	DELETE FROM @extschema@.token_cache c
	WHERE c.system_id IN (SELECT t.system_id FROM @extschema@.token_cache t
						  WHERE t.system_id = $1 FOR UPDATE SKIP LOCKED)
	$$;
COMMENT ON FUNCTION @extschema@._drop_token(integer) IS
	'internal: delete a system''s cached token unless a refresh holds it (it is unusable once its settings changed)';
REVOKE ALL ON FUNCTION @extschema@._drop_token(integer) FROM PUBLIC;

/*
 * A setting the collector needs, SET for this session only: pg_cron runs the
 * collection in a new session, which will not have it.
 */
CREATE FUNCTION @extschema@._warn_session_settings(names text[])
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n text;
BEGIN
	/*
	 * Not when a new session gets the same value: reset_val (the
	 * configuration file, ALTER SYSTEM, as this session started or was last
	 * reloaded) or ALTER DATABASE / ROLE ... SET made since.
	 */
	FOR n IN SELECT s.name FROM pg_settings s
			 WHERE s.name = ANY (names) AND s.source = 'session' AND s.setting IS DISTINCT FROM s.reset_val
			   AND NOT EXISTS (SELECT FROM pg_db_role_setting d, unnest(d.setconfig) c
							   WHERE c = s.name || '=' || s.setting
								 -- this database or all; all roles, the caller (kant's functions
								 -- that warn run as the extension's owner) or the owner
								 AND d.setdatabase IN (0, (SELECT b.oid FROM pg_database b WHERE b.datname = current_database()))
								 AND d.setrole IN (0, (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user),
												   (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user))) LOOP
		RAISE WARNING '% is set for this session only', n
			USING DETAIL = 'pg_cron runs each collection in a new session, which will not have it.',
				  HINT = format('A superuser sets it for all: ALTER SYSTEM SET %s = %L; SELECT pg_reload_conf();',
								n, current_setting(n));
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._warn_session_settings(text[]) IS
	'internal: a WARNING for each of these settings that is SET for the session only, to a value a new session would not start with (neither pg_settings.reset_val nor an ALTER DATABASE or ALTER ROLE setting for this database and role): pg_cron''s runs will not have it';
REVOKE ALL ON FUNCTION @extschema@._warn_session_settings(text[]) FROM PUBLIC;

/*
 * kant.set_credential_source runs as its caller, to know who that is (kant_as_caller, src/gate.c):
 * the role whose code calls it, not the outer role a SECURITY DEFINER
 * function of another role would show; kant._set_credential_source_impl does the work.
 */
CREATE FUNCTION @extschema@.set_credential_source(system text, source text,
		role_arn text DEFAULT NULL, base_source text DEFAULT NULL, role_session_name text DEFAULT NULL,
		external_id text DEFAULT NULL, duration_seconds integer DEFAULT NULL,
		web_identity_token_file text DEFAULT NULL, audience text DEFAULT NULL,
		key_file text DEFAULT NULL, scopes text DEFAULT NULL, sts_endpoint text DEFAULT NULL,
		impersonate text DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'kant_as_caller'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.set_credential_source(text, text, text, text, text, text, integer, text, text, text, text, text, text) IS
	'Choose how a system''s collector obtains credentials the cloud issues: source static (kant.set_credentials, the default), aws_instance (EC2 instance role, IMDSv2), aws_container (ECS/EKS container credentials), aws_assume_role (role_arn, base_source static/aws_instance/aws_container, external_id), aws_web_identity (role_arn, web_identity_token_file or audience of a Google ID token), google_metadata (GCE/GKE metadata server), google_service_account (key_file in kant.secret_directory); google_* with impersonate: that service account''s token (IAM Credentials generateAccessToken). Bound to the system''s kind and host now; drops a cached token. The server''s own identity and its files are named only by a role that may SET kant.allowed_env_prefixes / kant.secret_directory (42501). Errors 22023 name the option. Follows botocore''s credential providers and google-auth''s compute_engine and service_account credentials';
REVOKE ALL ON FUNCTION @extschema@.set_credential_source(text, text, text, text, text, text, integer, text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@._set_credential_source_impl(system text, source text,
		role_arn text DEFAULT NULL, base_source text DEFAULT NULL, role_session_name text DEFAULT NULL,
		external_id text DEFAULT NULL, duration_seconds integer DEFAULT NULL,
		web_identity_token_file text DEFAULT NULL, audience text DEFAULT NULL,
		key_file text DEFAULT NULL, scopes text DEFAULT NULL, sts_endpoint text DEFAULT NULL,
		impersonate text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	k text;
	target text;
	src text := lower(btrim(coalesce(_set_credential_source_impl.source, '')));
	base text := lower(btrim(_set_credential_source_impl.base_source));
	aws boolean;
	problem text;
BEGIN
	SELECT s.system_id, s.kind, @extschema@._credential_target(s.kind, s.endpoint, s.region)
	INTO sid, k, target
	FROM @extschema@.system s WHERE s.name = _set_credential_source_impl.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF src = 'static' THEN
		DELETE FROM @extschema@.credential_source c WHERE c.system_id = sid;
		PERFORM @extschema@._drop_token(sid);
		RETURN;
	END IF;
	aws := src LIKE 'aws\_%';
	IF src NOT IN ('aws_instance', 'aws_container', 'aws_assume_role', 'aws_web_identity',
				   'google_metadata', 'google_service_account') THEN
		RAISE EXCEPTION 'unknown credential source "%"', _set_credential_source_impl.source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'One of static, aws_instance, aws_container, aws_assume_role, aws_web_identity, google_metadata, google_service_account.';
	END IF;
	IF aws <> (k = 'glue') THEN
		RAISE EXCEPTION 'credential source % is not for a % system', src, k
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = CASE WHEN k = 'glue' THEN 'Glue signs with AWS keys: aws_instance, aws_container, aws_assume_role or aws_web_identity.'
						 ELSE 'Airflow takes a bearer token: google_metadata or google_service_account (Cloud Composer), or kant.set_credentials for a user and password.' END;
	END IF;
	IF target IS NULL THEN
		RAISE EXCEPTION 'system "%" has no endpoint%', system, CASE WHEN k = 'glue' THEN ' or region' ELSE '' END
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Credentials are bound to the host they are set for.',
				  HINT = format('Set it first: kant.set_endpoint(%L, ...).', system);
	END IF;
	IF (src IN ('aws_assume_role', 'aws_web_identity')) <> (role_arn IS NOT NULL)
	   OR role_arn !~ '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$' OR length(role_arn) > 2048 THEN
		RAISE EXCEPTION '%', CASE WHEN role_arn IS NULL THEN format('source %s needs a role_arn', src)
							 WHEN src IN ('aws_assume_role', 'aws_web_identity') THEN format('role_arn %L is not an IAM role ARN', role_arn)
							 ELSE format('source %s takes no role_arn', src) END
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'arn:aws:iam::123456789012:role/kant-glue-reader, for aws_assume_role and aws_web_identity only.';
	END IF;
	IF (src = 'aws_assume_role') <> (base IS NOT NULL) OR base NOT IN ('static', 'aws_instance', 'aws_container') THEN
		RAISE EXCEPTION 'base_source % does not fit source %', coalesce(base, 'NULL'), src
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'aws_assume_role signs AssumeRole with keys from base_source => ''static'' (kant.set_credentials), ''aws_instance'' or ''aws_container''; other sources take none.';
	END IF;
	IF base = 'static' AND NOT EXISTS (SELECT FROM @extschema@.credential c WHERE c.system_id = sid) THEN
		RAISE EXCEPTION 'system "%" has no static keys to assume the role with', system
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = format('Set them first: kant.set_credentials(%L, access_key_id, secret_access_key).', system);
	END IF;
	IF duration_seconds NOT BETWEEN 900 AND 43200 OR (duration_seconds IS NOT NULL AND src NOT IN ('aws_assume_role', 'aws_web_identity')) THEN
		RAISE EXCEPTION 'duration_seconds % is not a session duration STS takes here', duration_seconds
			USING ERRCODE = 'invalid_parameter_value', HINT = 'STS DurationSeconds: 900 to 43200, for aws_assume_role and aws_web_identity.';
	END IF;
	IF role_session_name !~ '^[\w+=,.@-]{2,64}$' OR external_id !~ '^[\w+=,.@:/-]{2,}$' OR length(external_id) > 1224 THEN
		RAISE EXCEPTION 'role_session_name or external_id has characters STS refuses'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'RoleSessionName: 2-64 of [A-Za-z0-9_+=,.@-]; ExternalId: 2-1224 of [A-Za-z0-9_+=,.@:/-] (STS AssumeRole).';
	END IF;
	IF (external_id IS NOT NULL AND src <> 'aws_assume_role')
	   OR ((web_identity_token_file IS NOT NULL OR audience IS NOT NULL) AND src <> 'aws_web_identity')
	   OR (src = 'aws_web_identity' AND (web_identity_token_file IS NULL) = (audience IS NULL))
	   OR ((key_file IS NOT NULL) <> (src = 'google_service_account'))
	   OR ((scopes IS NOT NULL OR impersonate IS NOT NULL) AND src NOT LIKE 'google\_%')
	   OR (sts_endpoint IS NOT NULL AND NOT aws) THEN
		RAISE EXCEPTION 'the options given do not fit source %', src
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'aws_assume_role: role_arn, base_source[, external_id]; aws_web_identity: role_arn and either web_identity_token_file or audience (a Google ID token); google_service_account: key_file; google_*: [scopes, impersonate]; aws_*: [sts_endpoint, role_session_name, duration_seconds].';
	END IF;
	IF sts_endpoint IS NOT NULL THEN
		PERFORM @extschema@._check_endpoint(sts_endpoint, system);
		-- a signed AssumeRole (or an ID token) is a credential for minutes wherever it goes
		IF NOT has_parameter_privilege(@extschema@._outer_role(), 'kant.allowed_env_prefixes', 'SET') THEN
			RAISE EXCEPTION 'role "%" may not choose where STS requests go', pg_get_userbyid(@extschema@._outer_role())
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'kant signs AssumeRole with the base keys, and sends a web identity token; either is good for minutes to whoever receives it.',
					  HINT = 'Leave sts_endpoint NULL (STS of the system''s region), or have a superuser set it (or GRANT SET ON PARAMETER kant.allowed_env_prefixes).';
		END IF;
	END IF;
	IF impersonate !~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$' OR length(impersonate) > 254 THEN
		RAISE EXCEPTION 'impersonate %L is not a service account''s email', impersonate
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'e.g. composer-reader@my-project.iam.gserviceaccount.com';
	END IF;
	-- the server's own identity, or files of the server: its secrets, named only by who decides which ones kant reads
	IF src IN ('aws_instance', 'aws_container', 'google_metadata') OR base IN ('aws_instance', 'aws_container')
	   OR (src = 'aws_web_identity' AND audience IS NOT NULL) THEN
		PERFORM @extschema@._check_reference_right('env');
	END IF;
	IF key_file IS NOT NULL OR web_identity_token_file IS NOT NULL THEN
		PERFORM @extschema@._check_reference_right('file');
		PERFORM @extschema@._secret_check(coalesce(key_file, web_identity_token_file), 'file',
			CASE WHEN key_file IS NOT NULL THEN 'service-account key' ELSE 'web identity token' END);
		-- read now, so that a wrong name or mode shows here, not at the first collection
		problem := @extschema@._secret_probe(coalesce(key_file, web_identity_token_file),
			CASE WHEN key_file IS NOT NULL THEN 'service-account key' ELSE 'web identity token' END, system);
		IF problem IS NOT NULL THEN
			RAISE WARNING '%', problem
				USING HINT = 'The source is set; the collector reads the file when it needs a token.';
		END IF;
	END IF;
	PERFORM @extschema@._warn_session_settings(
		CASE WHEN key_file IS NOT NULL OR web_identity_token_file IS NOT NULL THEN ARRAY['kant.secret_directory'] ELSE '{}'::text[] END
		|| CASE WHEN src = 'aws_instance' OR base = 'aws_instance' THEN ARRAY['kant.aws_metadata_endpoint'] ELSE '{}'::text[] END
		|| CASE WHEN src = 'google_metadata' OR audience IS NOT NULL THEN ARRAY['kant.google_metadata_endpoint'] ELSE '{}'::text[] END
		|| CASE WHEN impersonate IS NOT NULL THEN ARRAY['kant.google_iam_endpoint'] ELSE '{}'::text[] END);
	INSERT INTO @extschema@.credential_source AS c (system_id, source, base_source, role_arn, role_session_name,
		external_id, duration_seconds, web_identity_token_file, audience, key_file, scopes, sts_endpoint, bound_to,
		impersonate)
	VALUES (sid, src, base, role_arn, role_session_name, external_id, duration_seconds, web_identity_token_file,
		audience, key_file, NULLIF(btrim(scopes), ''), NULLIF(btrim(sts_endpoint), ''), target, impersonate)
	ON CONFLICT (system_id) DO UPDATE SET source = excluded.source, base_source = excluded.base_source,
		role_arn = excluded.role_arn, role_session_name = excluded.role_session_name,
		external_id = excluded.external_id, duration_seconds = excluded.duration_seconds,
		web_identity_token_file = excluded.web_identity_token_file, audience = excluded.audience,
		key_file = excluded.key_file, scopes = excluded.scopes, sts_endpoint = excluded.sts_endpoint,
		bound_to = excluded.bound_to, impersonate = excluded.impersonate, updated_at = now();
	PERFORM @extschema@._drop_token(sid);
END
$$;
COMMENT ON FUNCTION @extschema@._set_credential_source_impl(text, text, text, text, text, text, integer, text, text, text, text, text, text) IS
	'internal: kant.set_credential_source, run by it as the extension''s owner for the role whose code called it (kant._outer_role() answers that role meanwhile; src/gate.c kant_as_caller)';
REVOKE ALL ON FUNCTION @extschema@._set_credential_source_impl(text, text, text, text, text, text, integer, text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.obtain_credentials(system text, refresh boolean DEFAULT false)
	RETURNS TABLE (source text, from_cache boolean, expires_at timestamptz)
	AS 'MODULE_PATHNAME', 'kant_obtain_credentials'
	LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.obtain_credentials(text, boolean) IS
	'Check a system''s credentials without a collection: obtains them as its collector would now (from kant.token_cache, or from the source; refresh => true from the source, e.g. after rotating a key, unless another session refreshed them meanwhile) and returns the source, whether they came from the cache, and when they expire; never a secret. Static credentials: source static, the rest NULL. Errors (28000, 08001, 08P01, naming the source) are raised, not recorded';
REVOKE ALL ON FUNCTION @extschema@.obtain_credentials(text, boolean) FROM PUBLIC;

CREATE VIEW @extschema@.credential_sources AS
SELECT s.name AS system, s.kind,
	coalesce(cs.source, CASE WHEN c.system_id IS NOT NULL THEN 'static' END) AS source,
	CASE WHEN c.from_env THEN 'env' WHEN c.from_file THEN 'file' WHEN c.system_id IS NOT NULL THEN 'stored' END AS static_secret,
	cs.base_source, cs.role_arn, cs.role_session_name, cs.duration_seconds, cs.audience,
	cs.web_identity_token_file, cs.key_file, cs.scopes, cs.sts_endpoint, cs.impersonate,
	coalesce(cs.bound_to, c.bound_to) AS bound_to,
	coalesce(cs.bound_to, c.bound_to) IS NOT DISTINCT FROM @extschema@._credential_target(s.kind, s.endpoint, s.region)
		AND coalesce(cs.bound_to, c.bound_to) IS NOT NULL AS usable,
	t.obtained_at AS token_obtained_at, t.expires_at AS token_expires_at,
	coalesce(cs.updated_at, c.updated_at) AS updated_at
FROM @extschema@.system s
LEFT JOIN @extschema@.credential_source cs ON cs.system_id = s.system_id
LEFT JOIN @extschema@.credential c ON c.system_id = s.system_id
LEFT JOIN @extschema@.token_cache t ON t.system_id = s.system_id
	AND t.source = coalesce(cs.source, 'static') AND t.bound_to = coalesce(cs.bound_to, c.bound_to);
-- a view's functions run with its reader's rights: the reader of kant.credential_sources
-- calls this pure function of its arguments (it reads nothing)
GRANT EXECUTE ON FUNCTION @extschema@._credential_target(text, text, text) TO PUBLIC;
COMMENT ON VIEW @extschema@.credential_sources IS
	'Each system''s credential source without a secret: the source (static, aws_instance, aws_container, aws_assume_role, aws_web_identity, google_metadata, google_service_account; NULL: none set), where static secrets come from (stored, env, file), the role, audience and file names, whether it is bound to the system''s host now, and the cached token''s times (never the token)';
COMMENT ON COLUMN @extschema@.credential_sources.system IS 'the system (kant.system.name)';
COMMENT ON COLUMN @extschema@.credential_sources.kind IS 'glue or airflow';
COMMENT ON COLUMN @extschema@.credential_sources.base_source IS 'aws_assume_role: where the signing keys come from (static, aws_instance, aws_container)';
COMMENT ON COLUMN @extschema@.credential_sources.role_arn IS 'the IAM role assumed (aws_assume_role, aws_web_identity)';
COMMENT ON COLUMN @extschema@.credential_sources.role_session_name IS 'STS RoleSessionName; NULL: kant-<system>';
COMMENT ON COLUMN @extschema@.credential_sources.duration_seconds IS 'STS DurationSeconds; NULL: 3600';
COMMENT ON COLUMN @extschema@.credential_sources.audience IS 'aws_web_identity: the Google ID token''s audience';
COMMENT ON COLUMN @extschema@.credential_sources.web_identity_token_file IS 'aws_web_identity: the token file''s name in kant.secret_directory';
COMMENT ON COLUMN @extschema@.credential_sources.key_file IS 'google_service_account: the key file''s name in kant.secret_directory';
COMMENT ON COLUMN @extschema@.credential_sources.scopes IS 'google_*: OAuth 2.0 scopes; NULL: cloud-platform';
COMMENT ON COLUMN @extschema@.credential_sources.sts_endpoint IS 'aws_*: the STS endpoint; NULL: the region''s';
COMMENT ON COLUMN @extschema@.credential_sources.impersonate IS 'google_*: the service account impersonated, or NULL';
COMMENT ON COLUMN @extschema@.credential_sources.bound_to IS 'the kind and host the credentials were set for';
COMMENT ON COLUMN @extschema@.credential_sources.updated_at IS 'when the source (or the static credentials) were set';
COMMENT ON COLUMN @extschema@.credential_sources.source IS 'how credentials are obtained (kant.set_credential_source); static: kant.set_credentials';
COMMENT ON COLUMN @extschema@.credential_sources.static_secret IS 'where the static secret comes from: stored, env (server environment) or file (kant.secret_directory); NULL: none';
COMMENT ON COLUMN @extschema@.credential_sources.usable IS 'false: the system points at another kind or host than the credentials were set for (the collector refuses them)';
COMMENT ON COLUMN @extschema@.credential_sources.token_obtained_at IS 'when kant last obtained a token or temporary keys from the source (kant.token_cache)';
COMMENT ON COLUMN @extschema@.credential_sources.token_expires_at IS 'when they expire; kant refreshes kant.token_refresh_margin before';

-- Data quality (issue 15)
-- datasets, metrics per business date, checks and their results (sql/src/quality.sql)

CREATE TABLE @extschema@.dataset (
	dataset_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name			text NOT NULL UNIQUE,
	time_zone		text NOT NULL DEFAULT 'UTC',
	description		text,
	auto_registered	boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT dataset_name_ok CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$-]{0,199}$')
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dataset', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.dataset', 'dataset_id')::pg_catalog.regclass, '');
COMMENT ON TABLE @extschema@.dataset IS
	'A table or file set whose quality kant judges per business date (e.g. rds.users, s3.users, bq.users), registered by kant.add_dataset or on its first metric';
COMMENT ON COLUMN @extschema@.dataset.dataset_id IS 'kant''s id of the dataset';
COMMENT ON COLUMN @extschema@.dataset.name IS 'its name: letters, digits and _ . : / @ $ -, as the pipeline calls it (source.schema.table)';
COMMENT ON COLUMN @extschema@.dataset.time_zone IS 'IANA zone of its business dates: a business date ends at midnight there (freshness checks)';
COMMENT ON COLUMN @extschema@.dataset.description IS 'what it is';
COMMENT ON COLUMN @extschema@.dataset.auto_registered IS 'true: registered by its first metric, not by kant.add_dataset';
COMMENT ON COLUMN @extschema@.dataset.created_at IS 'when it was registered';

CREATE TABLE @extschema@.dataset_alias (
	alias			text PRIMARY KEY,
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	CONSTRAINT dataset_alias_ok CHECK (alias <> '' AND length(alias) <= 1000)
);
CREATE INDEX ON @extschema@.dataset_alias (dataset_id);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dataset_alias', '');
COMMENT ON TABLE @extschema@.dataset_alias IS
	'Other names of a dataset: what a tool calls it (a Glue table db.table, an OpenLineage namespace/name, a dbt relation), so that its results land on the dataset (kant.add_dataset(aliases =>))';
COMMENT ON COLUMN @extschema@.dataset_alias.alias IS 'the name a tool gives the dataset, exactly';
COMMENT ON COLUMN @extschema@.dataset_alias.dataset_id IS 'the dataset it names';

CREATE TABLE @extschema@.dq_metric (
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	business_date	date NOT NULL,
	metric			text NOT NULL,
	value			numeric,
	value_at		timestamptz,
	measured_at		timestamptz NOT NULL,
	source			text NOT NULL,
	reported_by		text NOT NULL,
	batch_id		bigint REFERENCES @extschema@.ingest_batch ON DELETE SET NULL,
	note			text,
	PRIMARY KEY (dataset_id, business_date, metric),
	CONSTRAINT dq_metric_one_value CHECK (num_nonnulls(value, value_at) = 1)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dq_metric', '');
COMMENT ON TABLE @extschema@.dq_metric IS
	'The current measurement of each metric of a dataset and business date: a measurement taken later supersedes it, one taken earlier (or the same again) changes nothing';
COMMENT ON COLUMN @extschema@.dq_metric.dataset_id IS 'the dataset measured';
COMMENT ON COLUMN @extschema@.dq_metric.business_date IS 'the business date the data is of';
COMMENT ON COLUMN @extschema@.dq_metric.metric IS 'row_count, distinct_keys, duplicate_keys, null_count:<column>, bytes, max_timestamp, or any name ([a-z][a-z0-9_]*, optionally :<column>)';
COMMENT ON COLUMN @extschema@.dq_metric.value IS 'the number measured (NULL for a time metric)';
COMMENT ON COLUMN @extschema@.dq_metric.value_at IS 'the time measured, for a time metric such as max_timestamp (NULL for a number)';
COMMENT ON COLUMN @extschema@.dq_metric.measured_at IS 'when it was measured: the newest measurement of a metric and date is kept';
COMMENT ON COLUMN @extschema@.dq_metric.source IS 'where it came from: push (kant.report_metric(s)), or a tool''s results';
COMMENT ON COLUMN @extschema@.dq_metric.reported_by IS 'the role that reported it';
COMMENT ON COLUMN @extschema@.dq_metric.batch_id IS 'the payload it came in (kant.report_metrics), or NULL';
COMMENT ON COLUMN @extschema@.dq_metric.note IS 'what came with it, shown in a verdict''s detail: the other columns of a measurement kant took (e.g. the keys a diff found), or NULL';

CREATE TABLE @extschema@.dq_check (
	check_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name			text NOT NULL UNIQUE,
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	kind			text NOT NULL,
	metric			text NOT NULL,
	op				text,
	threshold		numeric,
	per_row			boolean NOT NULL DEFAULT false,
	within			interval,
	source_dataset_id integer REFERENCES @extschema@.dataset ON DELETE CASCADE,
	tolerance		numeric NOT NULL DEFAULT 0,
	tolerance_ratio	numeric NOT NULL DEFAULT 0,
	history_weeks	integer,
	max_score		numeric,
	severity		text NOT NULL DEFAULT 'critical',
	pipeline		text,
	tool			text,
	assertion		text,
	judged_from		date,
	active			boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	created_by		text NOT NULL,
	CONSTRAINT dq_check_kind CHECK (kind IN ('threshold', 'freshness', 'reconciliation', 'volume', 'assertion')),
	CONSTRAINT dq_check_severity CHECK (severity IN ('warning', 'critical')),
	CONSTRAINT dq_check_op CHECK (op IN ('<', '<=', '=', '>=', '>', '<>')),
	CONSTRAINT dq_check_shape CHECK (CASE kind
		WHEN 'threshold' THEN op IS NOT NULL AND threshold IS NOT NULL
		WHEN 'freshness' THEN within IS NOT NULL
		WHEN 'reconciliation' THEN source_dataset_id IS NOT NULL AND source_dataset_id <> dataset_id
		WHEN 'volume' THEN history_weeks BETWEEN 2 AND 104 AND max_score > 0
		WHEN 'assertion' THEN tool IS NOT NULL AND assertion IS NOT NULL END),
	CONSTRAINT dq_check_tolerance CHECK (tolerance >= 0 AND tolerance_ratio >= 0)
);
CREATE INDEX ON @extschema@.dq_check (dataset_id);
CREATE INDEX ON @extschema@.dq_check (source_dataset_id);
CREATE UNIQUE INDEX dq_check_assertion_key ON @extschema@.dq_check (dataset_id, tool, assertion) WHERE kind = 'assertion';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dq_check', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.dq_check', 'check_id')::pg_catalog.regclass, '');
COMMENT ON TABLE @extschema@.dq_check IS
	'Data-quality checks, judged per business date by kant.evaluate_checks (rules: kant._dq_judge); created by kant.check_threshold, check_freshness, check_reconciliation, check_volume, check_assertion (or on a tool''s first result of a test)';
COMMENT ON COLUMN @extschema@.dq_check.check_id IS 'kant''s id of the check';
COMMENT ON COLUMN @extschema@.dq_check.name IS 'the check''s name';
COMMENT ON COLUMN @extschema@.dq_check.dataset_id IS 'the dataset judged (for a reconciliation: the target)';
COMMENT ON COLUMN @extschema@.dq_check.kind IS 'threshold, freshness, reconciliation, volume or assertion (a test another tool ran)';
COMMENT ON COLUMN @extschema@.dq_check.metric IS 'the metric judged (freshness: a time metric, max_timestamp by default; assertion: the tool)';
COMMENT ON COLUMN @extschema@.dq_check.op IS 'threshold: the comparison the metric must satisfy: < <= = >= > <>';
COMMENT ON COLUMN @extschema@.dq_check.threshold IS 'threshold: the value compared with (a ratio when per_row)';
COMMENT ON COLUMN @extschema@.dq_check.per_row IS 'threshold: judge metric / row_count (a share of rows, e.g. nulls), not the metric';
COMMENT ON COLUMN @extschema@.dq_check.within IS 'freshness: the newest row must be at most this long before the business date''s end (midnight after it in the dataset''s zone)';
COMMENT ON COLUMN @extschema@.dq_check.source_dataset_id IS 'reconciliation: the dataset the target must match';
COMMENT ON COLUMN @extschema@.dq_check.tolerance IS 'reconciliation: the absolute difference allowed';
COMMENT ON COLUMN @extschema@.dq_check.tolerance_ratio IS 'reconciliation: the difference allowed as a share of the source''s value (0.001 = 0.1%); the larger of the two tolerances applies';
COMMENT ON COLUMN @extschema@.dq_check.history_weeks IS 'volume: how many of the same weekday before the date make its history (2..104)';
COMMENT ON COLUMN @extschema@.dq_check.max_score IS 'volume: the largest modified z-score (Iglewicz and Hoaglin: 0.6745 (x - median) / MAD) still normal; 3.5 is theirs';
COMMENT ON COLUMN @extschema@.dq_check.severity IS 'critical (a failure fails the check) or warning (a failure warns)';
COMMENT ON COLUMN @extschema@.dq_check.pipeline IS 'the pipeline whose delivery the check is part of, or NULL';
COMMENT ON COLUMN @extschema@.dq_check.tool IS 'assertion: the tool that runs the test: dbt, great_expectations, glue_data_quality, openlineage';
COMMENT ON COLUMN @extschema@.dq_check.assertion IS 'assertion: the tool''s name of the test (kant.dq_assertion.assertion)';
COMMENT ON COLUMN @extschema@.dq_check.judged_from IS 'assertion: the first business date the tool reported the test for; earlier dates are not judged, and none while it has never reported it (a test it does not run holds no gate)';
COMMENT ON COLUMN @extschema@.dq_check.active IS 'false: not evaluated';
COMMENT ON COLUMN @extschema@.dq_check.created_at IS 'when it was created';
COMMENT ON COLUMN @extschema@.dq_check.created_by IS 'the role that created it';

CREATE TABLE @extschema@.dq_assertion (
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	business_date	date NOT NULL,
	tool			text NOT NULL,
	assertion		text NOT NULL,
	outcome			text NOT NULL,
	observed		numeric,
	expected		text,
	detail			text,
	measured_at		timestamptz NOT NULL,
	source_ref		text,
	reported_by		text NOT NULL,
	batch_id		bigint REFERENCES @extschema@.ingest_batch ON DELETE SET NULL,
	PRIMARY KEY (dataset_id, business_date, tool, assertion),
	CONSTRAINT dq_assertion_outcome CHECK (outcome IN ('pass', 'warn', 'fail', 'error', 'skipped'))
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dq_assertion', '');
COMMENT ON TABLE @extschema@.dq_assertion IS
	'The current outcome of each test another tool ran on a dataset for a business date (a dbt test, a Great Expectations expectation, a Glue Data Quality rule, an OpenLineage assertion): a later run supersedes it, as with metrics; judged by the dataset''s assertion check';
COMMENT ON COLUMN @extschema@.dq_assertion.dataset_id IS 'the dataset tested';
COMMENT ON COLUMN @extschema@.dq_assertion.business_date IS 'the business date the data is of';
COMMENT ON COLUMN @extschema@.dq_assertion.tool IS 'dbt, great_expectations, glue_data_quality or openlineage';
COMMENT ON COLUMN @extschema@.dq_assertion.assertion IS 'the tool''s name of the test: dbt''s unique_id, the expectation type and column, the Glue rule''s name, the OpenLineage assertion and column';
COMMENT ON COLUMN @extschema@.dq_assertion.outcome IS 'what the tool said: pass, warn, fail, error (it could not run the test) or skipped (dbt: an upstream node failed)';
COMMENT ON COLUMN @extschema@.dq_assertion.observed IS 'the number the tool gives: failing rows (dbt failures, GX unexpected_count), an observed value, or NULL';
COMMENT ON COLUMN @extschema@.dq_assertion.expected IS 'what the tool expected, as text, or NULL';
COMMENT ON COLUMN @extschema@.dq_assertion.detail IS 'the tool''s message, or NULL';
COMMENT ON COLUMN @extschema@.dq_assertion.measured_at IS 'when the tool ran the test: the newest result is kept';
COMMENT ON COLUMN @extschema@.dq_assertion.source_ref IS 'the tool''s id of the run: dbt invocation_id, GX run or validation id, Glue ResultId, OpenLineage runId';
COMMENT ON COLUMN @extschema@.dq_assertion.reported_by IS 'the role that ingested it';
COMMENT ON COLUMN @extschema@.dq_assertion.batch_id IS 'the payload it came in (kant.ingest_batch)';

CREATE TABLE @extschema@.dq_result (
	check_id		integer NOT NULL REFERENCES @extschema@.dq_check ON DELETE CASCADE,
	business_date	date NOT NULL,
	evaluated_at	timestamptz NOT NULL,
	status			text NOT NULL,
	observed		numeric,
	expected		text,
	detail			text,
	PRIMARY KEY (check_id, business_date, evaluated_at),
	CONSTRAINT dq_result_status CHECK (status IN ('pass', 'warn', 'fail', 'error', 'pending'))
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dq_result', '');
COMMENT ON TABLE @extschema@.dq_result IS
	'Each check''s verdict per business date, kept as history: a row each time the verdict (status, observed, expected) changes; kant.dq_status shows the latest';
COMMENT ON COLUMN @extschema@.dq_result.check_id IS 'the check';
COMMENT ON COLUMN @extschema@.dq_result.business_date IS 'the business date judged';
COMMENT ON COLUMN @extschema@.dq_result.evaluated_at IS 'the as_of of the evaluation that reached it';
COMMENT ON COLUMN @extschema@.dq_result.status IS 'pass; warn (a warning check failed); fail (a critical check failed); error (it cannot be judged: e.g. a share of zero rows); pending (a metric it needs is not there yet)';
COMMENT ON COLUMN @extschema@.dq_result.observed IS 'the value judged: the metric, its share of rows, the target''s value, the seconds the newest row is behind the date''s end, or today''s volume';
COMMENT ON COLUMN @extschema@.dq_result.expected IS 'what it had to be, as text (e.g. "> 0", "10000 ± 10", "<= 7200 s", "median 1000 (MAD 12, 8 weeks)")';
COMMENT ON COLUMN @extschema@.dq_result.detail IS 'the verdict in words: both sides'' numbers for a reconciliation, the score for a volume anomaly';

CREATE FUNCTION @extschema@._dq_metric_ok(metric text) RETURNS boolean
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT $1 ~ '^[a-z][a-z0-9_]{0,62}(:[A-Za-z0-9_.$-]{1,128})?$' $$;
COMMENT ON FUNCTION @extschema@._dq_metric_ok(text) IS
	'internal: whether a metric name is one kant takes: a lower-case name, optionally :<column>';
REVOKE ALL ON FUNCTION @extschema@._dq_metric_ok(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.add_dataset(name text, time_zone text DEFAULT 'UTC', description text DEFAULT NULL,
		aliases text[] DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
	taken text;
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$-]{0,199}$' THEN
		RAISE EXCEPTION 'dataset name % is not one kant takes', coalesce(quote_literal(name), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Letters, digits and _ . : / @ $ -, at most 200, e.g. rds.users or bq.analytics.users.';
	END IF;
	PERFORM @extschema@._check_zone(time_zone);
	INSERT INTO @extschema@.dataset AS d (name, time_zone, description)
	VALUES (add_dataset.name, add_dataset.time_zone, add_dataset.description)
	ON CONFLICT ON CONSTRAINT dataset_name_key DO UPDATE
		SET time_zone = excluded.time_zone, description = coalesce(excluded.description, d.description),
			auto_registered = false
	RETURNING d.dataset_id INTO id;
	IF aliases IS NOT NULL THEN
		SELECT a INTO taken FROM unnest(aliases) a
		WHERE a IS NULL OR a = '' OR length(a) > 1000
		   OR EXISTS (SELECT FROM @extschema@.dataset_alias x WHERE x.alias = a AND x.dataset_id <> id)
		   OR EXISTS (SELECT FROM @extschema@.dataset x WHERE x.name = a AND x.dataset_id <> id)
		LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'alias % cannot name dataset %', coalesce(quote_literal(taken), 'NULL'), name
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'An alias is a tool''s non-empty name (at most 1000 bytes) of this dataset, not the name or an alias of another one.';
		END IF;
		DELETE FROM @extschema@.dataset_alias x WHERE x.dataset_id = id;
		INSERT INTO @extschema@.dataset_alias (alias, dataset_id)
		SELECT DISTINCT a, id FROM unnest(aliases) a WHERE a <> add_dataset.name;
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.add_dataset(text, text, text, text[]) IS
	'Register a dataset (or change its zone and description): its name (rds.users), the IANA zone its business dates end in (22023 for an unknown one or an offset), a description, and the names tools give it (aliases: a Glue table rds_export.users, an OpenLineage postgres://host:5432/db.public.users, a dbt relation; replacing the list; NULL keeps it); returns its id. A metric reported for an unknown dataset registers it in UTC';
REVOKE ALL ON FUNCTION @extschema@.add_dataset(text, text, text, text[]) FROM PUBLIC;

/*
 * Store one measurement; 'inserted', 'updated' or 'unchanged'.  The newest
 * measured_at wins, so measurements arriving in any order leave the same
 * row; at the same measured_at the larger value wins (a deterministic tie).
 */
CREATE FUNCTION @extschema@._dq_store(dataset_id integer, business_date date, metric text, value numeric,
		value_at timestamptz, measured_at timestamptz, source text, reported_by text, batch_id bigint,
		note text DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	outcome text;
BEGIN
	INSERT INTO @extschema@.dq_metric AS m (dataset_id, business_date, metric, value, value_at, measured_at,
		source, reported_by, batch_id, note)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
	ON CONFLICT ON CONSTRAINT dq_metric_pkey DO UPDATE
		SET value = excluded.value, value_at = excluded.value_at, measured_at = excluded.measured_at,
			source = excluded.source, reported_by = excluded.reported_by, batch_id = excluded.batch_id,
			note = excluded.note
		WHERE (excluded.measured_at, coalesce(excluded.value, 0), coalesce(excluded.value_at, '-infinity'),
			   coalesce(excluded.value::text, ''))
			  > (m.measured_at, coalesce(m.value, 0), coalesce(m.value_at, '-infinity'), coalesce(m.value::text, ''))
	RETURNING CASE WHEN xmax = 0 THEN 'inserted' ELSE 'updated' END INTO outcome;
	RETURN coalesce(outcome, 'unchanged');
END
$$;
COMMENT ON FUNCTION @extschema@._dq_store(integer, date, text, numeric, timestamptz, timestamptz, text, text, bigint, text) IS
	'internal: store one metric measurement (the newest measured_at wins; ties by value); inserted, updated or unchanged';
REVOKE ALL ON FUNCTION @extschema@._dq_store(integer, date, text, numeric, timestamptz, timestamptz, text, text, bigint, text) FROM PUBLIC;

CREATE FUNCTION @extschema@._dq_dataset(name text) RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
BEGIN
	SELECT d.dataset_id INTO id FROM @extschema@.dataset d WHERE d.name = $1;
	IF id IS NULL THEN
		INSERT INTO @extschema@.dataset AS d (name, auto_registered) VALUES ($1, true)
		ON CONFLICT ON CONSTRAINT dataset_name_key DO UPDATE SET name = excluded.name
		RETURNING d.dataset_id INTO id;
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_dataset(text) IS
	'internal: a dataset''s id by name, registering it (UTC) on first sight';
REVOKE ALL ON FUNCTION @extschema@._dq_dataset(text) FROM PUBLIC;

/*
 * What a measurement may be, in one place for kant.report_metric and
 * kant.report_metrics: the first problem (its field, SQLSTATE, message and
 * hint), or NULLs.
 */
CREATE FUNCTION @extschema@._dq_problem(dataset text, business_date date, metric text, value numeric,
		value_at timestamptz, measured_at timestamptz,
		OUT field text, OUT code text, OUT problem text, OUT hint text)
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF dataset IS NULL OR dataset !~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$-]{0,199}$' THEN
		field := 'dataset'; problem := format('dataset %s is not a dataset name', coalesce(quote_literal(dataset), 'NULL'));
		hint := 'Letters, digits and _ . : / @ $ -, at most 200, e.g. rds.users.';
	ELSIF business_date IS NULL OR business_date NOT BETWEEN date '1970-01-01' AND date '2999-12-31' THEN
		field := 'business_date';
		problem := format('business_date %s is not a business date', coalesce(to_char(business_date, 'YYYY-MM-DD'), 'NULL'));
		hint := 'The date the data is of, 1970-01-01 to 2999-12-31.';
	ELSIF NOT coalesce(@extschema@._dq_metric_ok(metric), false) THEN
		field := 'metric'; problem := format('metric %s is not a metric name', coalesce(quote_literal(metric), 'NULL'));
		hint := 'row_count, distinct_keys, duplicate_keys, null_count:<column>, bytes, max_timestamp, or [a-z][a-z0-9_]* with an optional :<column>.';
	ELSIF num_nonnulls(value, value_at) <> 1 THEN
		field := 'value'; problem := format('metric %s needs exactly one of value and value_at', metric);
		hint := 'A number in value (row_count => 10000), or a time in value_at (max_timestamp).';
	ELSIF value IS NOT NULL AND (value = 'NaN'::numeric OR abs(value) >= 1e30 OR (value <> 0 AND abs(value) < 1e-12)) THEN
		field := 'value'; code := '22003';
		problem := format('value %s of metric %s is not a measurement', left(value::text, 60), metric);
		hint := 'A finite number, 0 or between 1e-12 and 1e30 in size.';
	ELSIF metric = 'max_timestamp' AND value_at IS NULL THEN
		-- the metrics kant names have a type: the checks read them so
		field := 'value_at'; problem := 'max_timestamp is a time: the newest row''s, in value_at';
		hint := 'value_at => ''2024-11-20T23:30:00+09:00''.';
	ELSIF metric ~ '^(row_count|distinct_keys|duplicate_keys|bytes|file_count|null_count:.+)$'
		  AND (value IS NULL OR value < 0 OR value <> trunc(value)) THEN
		field := 'value';
		problem := format('%s is a count: a whole number >= 0, not %s', metric, coalesce(left(value::text, 60), 'a time'));
		hint := 'row_count, distinct_keys, duplicate_keys, bytes, file_count and null_count:<column> count; give them in value.';
	ELSIF NOT isfinite(coalesce(value_at, '2000-01-01Z')) OR NOT isfinite(coalesce(measured_at, '2000-01-01Z'))
		  OR value_at NOT BETWEEN '1900-01-01Z' AND '3000-01-01Z' OR measured_at NOT BETWEEN '1970-01-01Z' AND '3000-01-01Z' THEN
		field := CASE WHEN value_at IS NOT NULL AND NOT (isfinite(value_at) AND value_at BETWEEN '1900-01-01Z' AND '3000-01-01Z')
					  THEN 'value_at' ELSE 'measured_at' END;
		problem := format('value_at %s / measured_at %s is not a time kant takes',
						  coalesce(value_at::text, '<NULL>'), coalesce(measured_at::text, '<NULL>'));
		hint := 'value_at: 1900 to 3000; measured_at: 1970 to now (default now).';
	ELSIF measured_at > statement_timestamp() + interval '5 minutes' THEN
		-- a measurement from the future would win over every correction
		field := 'measured_at';
		problem := 'measured_at is more than 5 minutes ahead of the server''s clock';
		hint := 'Leave it out (now), or check the reporting machine''s clock.';
	END IF;
	IF problem IS NOT NULL THEN
		code := coalesce(code, '22023');
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_problem(text, date, text, numeric, timestamptz, timestamptz) IS
	'internal: the first thing wrong with a measurement (its field, SQLSTATE, message and hint), or NULLs: the rules of kant.report_metric and kant.report_metrics';
REVOKE ALL ON FUNCTION @extschema@._dq_problem(text, date, text, numeric, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.report_metric(dataset text, business_date date, metric text,
		value numeric DEFAULT NULL, measured_at timestamptz DEFAULT NULL, value_at timestamptz DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p record;
BEGIN
	p := @extschema@._dq_problem(dataset, business_date, metric, value, value_at, measured_at);
	IF p.problem IS NOT NULL THEN
		RAISE EXCEPTION '%', p.problem USING ERRCODE = p.code, HINT = p.hint;
	END IF;
	RETURN @extschema@._dq_store(@extschema@._dq_dataset(dataset), business_date, metric, value, value_at,
		coalesce(measured_at, clock_timestamp()), 'push', pg_get_userbyid(@extschema@._outer_role()), NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.report_metric(text, date, text, numeric, timestamptz, timestamptz) IS
	'Report one measurement of a dataset for a business date: a number (value) or a time (value_at, e.g. max_timestamp), measured at measured_at (default now). Returns inserted, updated (a newer measurement) or unchanged (the same again, or an older one). Registers an unknown dataset (UTC). Errors 22023 / 22003 name the field';
REVOKE ALL ON FUNCTION @extschema@.report_metric(text, date, text, numeric, timestamptz, timestamptz) FROM PUBLIC;

/*
 * Quarantine a record of a payload (kant.rejected), counted again when it
 * comes again: a metric (source metrics) or a tool's result.
 */
CREATE FUNCTION @extschema@._dq_reject(batch_id bigint, item_index integer, field text, sqlstate text,
		reason text, hint text, record jsonb, source text DEFAULT 'metrics', system_id integer DEFAULT NULL,
		item_path text DEFAULT NULL)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.rejected AS r (batch_id, system_id, source, item_index, item_path, field, sqlstate,
		reason, hint, record, record_sha256, dedup_key, last_batch_id)
	SELECT $1, $9, $8, $2, coalesce($10, format('$[%s]', $2) || CASE WHEN $3 <> '' THEN '.' || $3 ELSE '' END),
		$3, $4, $5, $6, $7, h,
		sha256(convert_to(concat_ws(E'\n', coalesce($9, 0)::text, $8, $4, $3, $5), 'UTF8') || h), $1
	FROM (SELECT sha256(convert_to($7::text, 'UTF8')) AS h) x
	ON CONFLICT (dedup_key) DO UPDATE SET times_seen = r.times_seen + 1, last_seen_at = clock_timestamp(),
		last_batch_id = excluded.last_batch_id
	$$;
COMMENT ON FUNCTION @extschema@._dq_reject(bigint, integer, text, text, text, text, jsonb, text, integer, text) IS
	'internal: keep a record a data-quality ingestion refused in kant.rejected (source metrics, dbt, great_expectations, glue_data_quality or openlineage), or count it again';
REVOKE ALL ON FUNCTION @extschema@._dq_reject(bigint, integer, text, text, text, text, jsonb, text, integer, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.report_metrics(payload jsonb,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer, OUT rejected integer,
		OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	items jsonb := CASE jsonb_typeof(payload) WHEN 'array' THEN payload
						WHEN 'object' THEN payload -> 'metrics' END;
	item jsonb;
	i integer := 0;
	who text := pg_get_userbyid(@extschema@._outer_role());
	f text;
	v numeric;
	at timestamptz;
	m timestamptz;
	bd date;
	outcome text;
	problem text;
	field text;
	code text;
BEGIN
	IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'a metrics payload is an array of measurements, or an object with one in "metrics"'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = '[{"dataset": "rds.users", "business_date": "2024-11-20", "metric": "row_count", "value": 10000}]';
	END IF;
	received := jsonb_array_length(items);
	inserted := 0; updated := 0; unchanged := 0; rejected := 0;
	INSERT INTO @extschema@.ingest_batch (source, received_at, received_by, received, payload_bytes, payload_sha256)
	VALUES ('metrics', clock_timestamp(), who, received, octet_length(payload::text),
		sha256(convert_to(payload::text, 'UTF8')))
	RETURNING ingest_batch.batch_id INTO report_metrics.batch_id;
	-- stored in one order (dataset, date, metric), whatever the payload's: two
	-- payloads with the same measurements in opposite orders wait, never deadlock
	FOR item, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(items) WITH ORDINALITY x(e, o)
				   ORDER BY e ->> 'dataset', e ->> 'business_date', e ->> 'metric', o LOOP
		problem := NULL; field := NULL; code := '22023';
		v := NULL; at := NULL; m := NULL; bd := NULL;
		BEGIN
			-- the JSON's shape here; what a measurement may be: kant._dq_problem
			IF jsonb_typeof(item) IS DISTINCT FROM 'object' THEN
				field := ''; problem := 'a measurement is an object';
			ELSIF jsonb_typeof(item -> 'dataset') IS DISTINCT FROM 'string' THEN
				field := 'dataset'; problem := 'dataset is missing or not a string';
			ELSIF jsonb_typeof(item -> 'metric') IS DISTINCT FROM 'string' THEN
				field := 'metric'; problem := 'metric is missing or not a string';
			ELSIF jsonb_typeof(item -> 'business_date') IS DISTINCT FROM 'string'
				  OR item ->> 'business_date' !~ '^\d{4}-\d{2}-\d{2}$' THEN
				field := 'business_date'; problem := 'business_date is missing or not YYYY-MM-DD';
			ELSIF coalesce(jsonb_typeof(item -> 'value'), 'null') NOT IN ('null', 'number') THEN
				field := 'value'; problem := 'value is not a number';
			ELSIF coalesce(jsonb_typeof(item -> 'value_at'), 'null') <> 'null'
				  AND (jsonb_typeof(item -> 'value_at') <> 'string' OR item ->> 'value_at' !~ '(Z|z|[+-]\d\d(:?\d\d)?)$') THEN
				field := 'value_at'; problem := 'value_at is not an ISO 8601 time with a zone';
			ELSIF coalesce(jsonb_typeof(item -> 'measured_at'), 'null') <> 'null'
				  AND (jsonb_typeof(item -> 'measured_at') <> 'string' OR item ->> 'measured_at' !~ '(Z|z|[+-]\d\d(:?\d\d)?)$') THEN
				field := 'measured_at'; problem := 'measured_at is not an ISO 8601 time with a zone';
			ELSE
				field := 'business_date';
				bd := (item ->> 'business_date')::date;
				field := 'value';
				v := (item ->> 'value')::numeric;
				field := 'value_at';
				at := (item ->> 'value_at')::timestamptz;
				field := 'measured_at';
				m := (item ->> 'measured_at')::timestamptz;
				SELECT x.field, x.code, x.problem INTO field, code, problem
				FROM @extschema@._dq_problem(item ->> 'dataset', bd, item ->> 'metric', v, at, m) x;
				code := coalesce(code, '22023');
			END IF;
		EXCEPTION WHEN data_exception THEN
			problem := format('%s is not valid: %s', field, SQLERRM);
			code := SQLSTATE;
		END;
		IF problem IS NOT NULL THEN
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, field, code, problem,
				'A measurement: {"dataset", "business_date": "YYYY-MM-DD", "metric", "value": number | "value_at": time, "measured_at": time}.',
				item);
			IF rejected <= coalesce(current_setting('kant.max_warnings', true)::integer, 10) THEN
				RAISE WARNING 'kant: rejected metrics record at $[%]%: %', i,
					CASE WHEN field <> '' THEN '.' || field ELSE '' END, problem
					USING DETAIL = format('The record is kept in kant.rejected (batch %s); the other records of the payload are stored.', batch_id);
			END IF;
		ELSE
			outcome := @extschema@._dq_store(@extschema@._dq_dataset(item ->> 'dataset'), bd, item ->> 'metric',
				v, at, coalesce(m, clock_timestamp()), 'push', who, batch_id);
			CASE outcome WHEN 'inserted' THEN inserted := inserted + 1;
						 WHEN 'updated' THEN updated := updated + 1;
						 ELSE unchanged := unchanged + 1; END CASE;
		END IF;
	END LOOP;
	IF rejected > coalesce(current_setting('kant.max_warnings', true)::integer, 10) THEN
		RAISE WARNING 'kant: % metrics records of the payload rejected (% shown)', rejected,
			coalesce(current_setting('kant.max_warnings', true)::integer, 10)
			USING DETAIL = format('All are kept in kant.rejected (batch %s).', batch_id);
	END IF;
	UPDATE @extschema@.ingest_batch b SET finished_at = clock_timestamp(), inserted = report_metrics.inserted,
		updated = report_metrics.updated, unchanged = report_metrics.unchanged, rejected = report_metrics.rejected
	WHERE b.batch_id = report_metrics.batch_id;
END
$$;
COMMENT ON FUNCTION @extschema@.report_metrics(jsonb) IS
	'Report many measurements at once: an array (or {"metrics": [...]}) of {"dataset", "business_date", "metric", "value" | "value_at", "measured_at"}. Each valid one is stored as kant.report_metric would; each invalid one is kept in kant.rejected (source metrics) with the field and reason, and a WARNING; returns the counts and the batch (kant.ingest_batch). A payload that is not such a list is 22023';
REVOKE ALL ON FUNCTION @extschema@.report_metrics(jsonb) FROM PUBLIC;

/* Create or replace a check by name (the creators below validate what is their own). */
CREATE FUNCTION @extschema@._dq_save_check(name text, dataset text, kind text, metric text, op text,
		threshold numeric, per_row boolean, within interval, source_dataset text, tolerance numeric,
		tolerance_ratio numeric, history_weeks integer, max_score numeric, severity text, pipeline text,
		tool text DEFAULT NULL, assertion text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	did integer;
	sid integer;
	id integer;
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$ -]{0,199}$' THEN
		RAISE EXCEPTION 'check name % is not one kant takes', coalesce(quote_literal(name), 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Letters, digits, spaces and _ . : / @ $ -, at most 200.';
	END IF;
	SELECT d.dataset_id INTO did FROM @extschema@.dataset d WHERE d.name = _dq_save_check.dataset;
	IF did IS NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object', HINT = format('Register it first: kant.add_dataset(%L, time_zone => ...).', dataset);
	END IF;
	IF source_dataset IS NOT NULL THEN
		SELECT d.dataset_id INTO sid FROM @extschema@.dataset d WHERE d.name = source_dataset;
		IF sid IS NULL THEN
			RAISE EXCEPTION 'dataset "%" does not exist', source_dataset
				USING ERRCODE = 'undefined_object', HINT = format('Register it first: kant.add_dataset(%L).', source_dataset);
		END IF;
		IF sid = did THEN
			RAISE EXCEPTION 'a dataset is not reconciled with itself'
				USING ERRCODE = 'invalid_parameter_value', HINT = 'source_dataset is the other side: rds.users for bq.users.';
		END IF;
	END IF;
	IF NOT coalesce(@extschema@._dq_metric_ok(metric), false) THEN
		RAISE EXCEPTION 'metric % is not a metric name', coalesce(quote_literal(metric), 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'row_count, duplicate_keys, null_count:<column>, max_timestamp, ...';
	END IF;
	IF severity IS NULL OR severity NOT IN ('warning', 'critical') THEN
		RAISE EXCEPTION 'severity % is neither warning nor critical', coalesce(quote_literal(severity), 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'critical: a failure fails the check; warning: it warns.';
	END IF;
	-- a check moved to another dataset: the SLOs judged on the one it leaves are judged again too
	PERFORM @extschema@._dq_slo_dirty(c.dataset_id) FROM @extschema@.dq_check c
	WHERE c.name = _dq_save_check.name AND c.dataset_id <> did;
	INSERT INTO @extschema@.dq_check AS c (name, dataset_id, kind, metric, op, threshold, per_row, within,
		source_dataset_id, tolerance, tolerance_ratio, history_weeks, max_score, severity, pipeline, tool,
		assertion, created_by)
	VALUES (name, did, kind, metric, op, threshold, coalesce(per_row, false), within, sid,
		coalesce(tolerance, 0), coalesce(tolerance_ratio, 0), history_weeks, max_score, severity, pipeline,
		tool, assertion, pg_get_userbyid(@extschema@._outer_role()))
	ON CONFLICT ON CONSTRAINT dq_check_name_key DO UPDATE SET dataset_id = excluded.dataset_id,
		kind = excluded.kind, metric = excluded.metric, op = excluded.op, threshold = excluded.threshold,
		per_row = excluded.per_row, within = excluded.within, source_dataset_id = excluded.source_dataset_id,
		tolerance = excluded.tolerance, tolerance_ratio = excluded.tolerance_ratio,
		history_weeks = excluded.history_weeks, max_score = excluded.max_score, severity = excluded.severity,
		pipeline = excluded.pipeline, tool = excluded.tool, assertion = excluded.assertion, active = true
	RETURNING c.check_id INTO id;
	-- a check changed: SLOs judged on the dataset are judged again
	PERFORM @extschema@._dq_slo_dirty(did);
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_save_check(text, text, text, text, text, numeric, boolean, interval, text, numeric, numeric, integer, numeric, text, text, text, text) IS
	'internal: create or replace a data-quality check by name, validating the dataset(s), metric and severity (42704, 22023)';
REVOKE ALL ON FUNCTION @extschema@._dq_save_check(text, text, text, text, text, numeric, boolean, interval, text, numeric, numeric, integer, numeric, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.check_threshold(name text, dataset text, metric text, op text, threshold numeric,
		per_row boolean DEFAULT false, severity text DEFAULT 'critical', pipeline text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF op IS NULL OR op NOT IN ('<', '<=', '=', '>=', '>', '<>') OR threshold IS NULL THEN
		RAISE EXCEPTION 'a threshold check needs op (< <= = >= > <>) and a threshold'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'e.g. kant.check_threshold(''users not empty'', ''bq.users'', ''row_count'', ''>'', 0).';
	END IF;
	RETURN @extschema@._dq_save_check(name, dataset, 'threshold', metric, op, threshold, per_row, NULL, NULL,
		NULL, NULL, NULL, NULL, severity, pipeline);
END
$$;
COMMENT ON FUNCTION @extschema@.check_threshold(text, text, text, text, numeric, boolean, text, text) IS
	'Create or replace a threshold check: the dataset''s metric (or with per_row its share of row_count, e.g. null_count:email <= 0.001 for 0.1%) must satisfy op threshold on each business date; returns its id. Like dbt''s and Soda''s row-count, not-null and unique tests';
REVOKE ALL ON FUNCTION @extschema@.check_threshold(text, text, text, text, numeric, boolean, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.check_freshness(name text, dataset text, within interval,
		metric text DEFAULT 'max_timestamp', severity text DEFAULT 'critical', pipeline text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF within IS NULL OR within < interval '0' OR within > interval '400 days' THEN
		RAISE EXCEPTION 'within % is not a freshness window', coalesce(within::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ''2 hours'': the newest row at most 2 hours before the business date ends.';
	END IF;
	RETURN @extschema@._dq_save_check(name, dataset, 'freshness', metric, NULL, NULL, false, within, NULL,
		NULL, NULL, NULL, NULL, severity, pipeline);
END
$$;
COMMENT ON FUNCTION @extschema@.check_freshness(text, text, interval, text, text, text) IS
	'Create or replace a freshness check: the newest row of each business date (the time metric, max_timestamp by default) must be at most within before the date ends (midnight after it in the dataset''s zone); returns its id';
REVOKE ALL ON FUNCTION @extschema@.check_freshness(text, text, interval, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.check_reconciliation(name text, dataset text, source_dataset text,
		metric text DEFAULT 'row_count', tolerance numeric DEFAULT 0, tolerance_ratio numeric DEFAULT 0,
		severity text DEFAULT 'critical', pipeline text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF tolerance < 0 OR tolerance_ratio < 0 OR tolerance_ratio > 1 THEN
		RAISE EXCEPTION 'tolerance % / tolerance_ratio % is out of range', tolerance, tolerance_ratio
			USING ERRCODE = 'invalid_parameter_value', HINT = 'tolerance: a difference >= 0; tolerance_ratio: a share of the source''s value, 0 to 1 (0.001 = 0.1%).';
	END IF;
	IF source_dataset IS NULL THEN
		RAISE EXCEPTION 'a reconciliation needs its source_dataset'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. kant.check_reconciliation(''users arrived'', ''bq.users'', ''rds.users'').';
	END IF;
	RETURN @extschema@._dq_save_check(name, dataset, 'reconciliation', metric, NULL, NULL, false, NULL,
		source_dataset, tolerance, tolerance_ratio, NULL, NULL, severity, pipeline);
END
$$;
COMMENT ON FUNCTION @extschema@.check_reconciliation(text, text, text, text, numeric, numeric, text, text) IS
	'Create or replace a reconciliation: for each business date the dataset''s metric (the target, e.g. bq.users row_count) must equal the source_dataset''s (rds.users) within the larger of tolerance and tolerance_ratio times the source''s value; returns its id. Like Soda''s reconciliation checks, across two clouds by business date';
REVOKE ALL ON FUNCTION @extschema@.check_reconciliation(text, text, text, text, numeric, numeric, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.check_volume(name text, dataset text, metric text DEFAULT 'row_count',
		history_weeks integer DEFAULT 8, max_score numeric DEFAULT 3.5, severity text DEFAULT 'warning',
		pipeline text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF history_weeks IS NULL OR history_weeks NOT BETWEEN 2 AND 104 OR max_score IS NULL OR max_score <= 0 THEN
		RAISE EXCEPTION 'history_weeks % / max_score % is out of range', history_weeks, max_score
			USING ERRCODE = 'invalid_parameter_value', HINT = 'history_weeks: 2 to 104 same weekdays; max_score: > 0 (3.5 is Iglewicz and Hoaglin''s).';
	END IF;
	RETURN @extschema@._dq_save_check(name, dataset, 'volume', metric, NULL, NULL, false, NULL, NULL,
		NULL, NULL, history_weeks, max_score, severity, pipeline);
END
$$;
COMMENT ON FUNCTION @extschema@.check_volume(text, text, text, integer, numeric, text, text) IS
	'Create or replace a volume-anomaly check: each business date''s metric against the same weekday of the history_weeks before it, by the modified z-score 0.6745 (x - median) / MAD (Iglewicz and Hoaglin; robust to outlying days), failing beyond max_score; the MAD is at least 1% of the median, and fewer than 4 days of history are not judged; returns its id';
REVOKE ALL ON FUNCTION @extschema@.check_volume(text, text, text, integer, numeric, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.check_assertion(name text, dataset text, tool text, assertion text,
		severity text DEFAULT 'critical', pipeline text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	did integer;
BEGIN
	IF tool IS NULL OR tool NOT IN ('dbt', 'great_expectations', 'glue_data_quality', 'openlineage') OR assertion IS NULL THEN
		RAISE EXCEPTION 'an assertion check needs the tool (dbt, great_expectations, glue_data_quality, openlineage) and its name of the test'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'e.g. kant.check_assertion(''orders ids unique'', ''analytics.orders'', ''dbt'', ''test.shop.unique_orders_order_id.fed79b3a6e'').';
	END IF;
	-- one check per test: a check made on the tool's first result is renamed, not doubled
	SELECT d.dataset_id INTO did FROM @extschema@.dataset d WHERE d.name = check_assertion.dataset;
	UPDATE @extschema@.dq_check c SET name = check_assertion.name
	WHERE c.kind = 'assertion' AND c.dataset_id = did AND c.tool = check_assertion.tool
	  AND c.assertion = check_assertion.assertion AND c.name <> check_assertion.name
	  AND NOT EXISTS (SELECT FROM @extschema@.dq_check x WHERE x.name = check_assertion.name);
	RETURN @extschema@._dq_save_check(name, dataset, 'assertion', tool, NULL, NULL, false, NULL, NULL,
		NULL, NULL, NULL, NULL, severity, pipeline, tool, assertion);
END
$$;
COMMENT ON FUNCTION @extschema@.check_assertion(text, text, text, text, text, text) IS
	'Create or replace the check that judges a test another tool runs on a dataset (tool: dbt, great_expectations, glue_data_quality or openlineage; assertion: its name of the test, as in kant.dq_assertion), with a name, severity and pipeline of your choosing; returns its id. A tool''s first result of a test makes such a check itself (severity from the tool, critical by default); this renames it or changes its severity';
REVOKE ALL ON FUNCTION @extschema@.check_assertion(text, text, text, text, text, text) FROM PUBLIC;

/*
 * Store one outcome of a tool's test, as _dq_store stores a metric (the
 * newest measured_at wins), and make the test's check on first sight.
 */
CREATE FUNCTION @extschema@._dq_assert(dataset_id integer, business_date date, tool text, assertion text,
		outcome text, severity text, observed numeric, expected text, detail text, measured_at timestamptz,
		source_ref text, reported_by text, batch_id bigint)
	RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	result text;
	check_name text;
BEGIN
	-- a name fits an index key: a very long one is cut and made unique by its hash
	IF length(assertion) > 1000 THEN
		assertion := left(assertion, 960) || '#' || md5(assertion);
	END IF;
	INSERT INTO @extschema@.dq_assertion AS a (dataset_id, business_date, tool, assertion, outcome, observed,
		expected, detail, measured_at, source_ref, reported_by, batch_id)
	VALUES ($1, $2, $3, $4, $5, $7, left($8, 2000), left($9, 2000), $10, left($11, 200), $12, $13)
	ON CONFLICT ON CONSTRAINT dq_assertion_pkey DO UPDATE
		SET outcome = excluded.outcome, observed = excluded.observed, expected = excluded.expected,
			detail = excluded.detail, measured_at = excluded.measured_at, source_ref = excluded.source_ref,
			reported_by = excluded.reported_by, batch_id = excluded.batch_id
		-- at the same measured_at the worse outcome wins: a pass never hides a fail
		WHERE (excluded.measured_at, array_position(ARRAY['pass', 'skipped', 'warn', 'error', 'fail'], excluded.outcome),
			   coalesce(excluded.observed, 0))
			  > (a.measured_at, array_position(ARRAY['pass', 'skipped', 'warn', 'error', 'fail'], a.outcome),
			   coalesce(a.observed, 0))
	RETURNING CASE WHEN xmax = 0 THEN 'inserted' ELSE 'updated' END INTO result;
	UPDATE @extschema@.dq_check c SET judged_from = least(c.judged_from, $2)
	WHERE c.kind = 'assertion' AND c.dataset_id = $1 AND c.tool = $3 AND c.assertion = $4
	  AND c.judged_from IS DISTINCT FROM least(c.judged_from, $2);
	IF NOT FOUND AND NOT EXISTS (SELECT FROM @extschema@.dq_check c WHERE c.kind = 'assertion' AND c.dataset_id = $1
				   AND c.tool = $3 AND c.assertion = $4) THEN
		-- <dataset>/<tool>:<test>, in the characters a check name takes, unique
		SELECT left(regexp_replace(format('%s/%s:%s', d.name, $3, $4), '[^A-Za-z0-9_.:/@$ -]', '_', 'g'), 180)
		INTO check_name FROM @extschema@.dataset d WHERE d.dataset_id = $1;
		IF EXISTS (SELECT FROM @extschema@.dq_check c WHERE c.name = check_name) THEN
			check_name := left(check_name, 170) || '#' || left(md5(format('%s/%s/%s', $1, $3, $4)), 8);
		END IF;
		INSERT INTO @extschema@.dq_check (name, dataset_id, kind, metric, severity, tool, assertion, judged_from,
			created_by)
		VALUES (check_name, $1, 'assertion', $3, coalesce($6, 'critical'), $3, $4, $2, $12)
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN coalesce(result, 'unchanged');
END
$$;
COMMENT ON FUNCTION @extschema@._dq_assert(integer, date, text, text, text, text, numeric, text, text, timestamptz, text, text, bigint) IS
	'internal: store one outcome of a tool''s test (the newest measured_at wins) and make the test''s assertion check on first sight; inserted, updated or unchanged';
REVOKE ALL ON FUNCTION @extschema@._dq_assert(integer, date, text, text, text, text, numeric, text, text, timestamptz, text, text, bigint) FROM PUBLIC;

/* Mark the days of the SLOs judged on a dataset for kant.refresh_slo (a check of it changed). */
CREATE FUNCTION @extschema@._dq_slo_dirty(dataset_id integer) RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.slo_dirty (job_id, business_date)
	SELECT DISTINCT sc.job_id, y.business_date
	FROM @extschema@.slo_dataset sd
	JOIN @extschema@.slo_day y ON y.slo_id = sd.slo_id
	JOIN @extschema@.slo_scope sc ON sc.slo_id = sd.slo_id
	WHERE sd.dataset_id = $1
	ON CONFLICT DO NOTHING
	$$;
COMMENT ON FUNCTION @extschema@._dq_slo_dirty(integer) IS
	'internal: mark every day of the SLOs judged on a dataset (kant.set_slo_datasets) for the next kant.refresh_slo';
REVOKE ALL ON FUNCTION @extschema@._dq_slo_dirty(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.drop_check(name text) RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH d AS (DELETE FROM @extschema@.dq_check c WHERE c.name = $1 RETURNING c.dataset_id),
	s AS (SELECT @extschema@._dq_slo_dirty(d.dataset_id) FROM d)
	SELECT EXISTS (SELECT FROM d) AND (SELECT count(*) FROM s) >= 0
	$$;
COMMENT ON FUNCTION @extschema@.drop_check(text) IS
	'Drop a data-quality check and its results; false when there is none of that name';
REVOKE ALL ON FUNCTION @extschema@.drop_check(text) FROM PUBLIC;

CREATE FUNCTION @extschema@._dq_median(numeric[]) RETURNS numeric
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT avg(x) FROM (SELECT x FROM unnest($1) x WHERE x IS NOT NULL ORDER BY x
						OFFSET (cardinality($1) - 1) / 2 LIMIT 2 - cardinality($1) % 2) s
	$$;
COMMENT ON FUNCTION @extschema@._dq_median(numeric[]) IS 'internal: the median of the numbers (NULL for none)';
REVOKE ALL ON FUNCTION @extschema@._dq_median(numeric[]) FROM PUBLIC;

/*
 * The rules of judgement, in one place: a check's verdict for a business
 * date from the measurements it needs.  m / m_at: the metric (a number or a
 * time), rows: the row_count (per_row), src: the source's metric
 * (reconciliation), hist: the same weekday's values before (volume),
 * date_end: when the business date ends in the dataset's zone; outcome,
 * a_observed, a_expected, a_detail: what a tool said of its test (assertion).
 */
CREATE FUNCTION @extschema@._dq_judge(kind text, severity text, op text, threshold numeric, per_row boolean,
		within interval, tolerance numeric, tolerance_ratio numeric, max_score numeric, history_weeks integer,
		m numeric, m_at timestamptz, rows numeric, src numeric, hist numeric[], date_end timestamptz,
		target_name text, source_name text,
		outcome text DEFAULT NULL, a_observed numeric DEFAULT NULL, a_expected text DEFAULT NULL,
		a_detail text DEFAULT NULL,
		OUT status text, OUT observed numeric, OUT expected text, OUT detail text)
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	failed text := CASE severity WHEN 'warning' THEN 'warn' ELSE 'fail' END;
	ok boolean;
	allowed numeric;
	med numeric;
	mad numeric;
	scale numeric;
	score numeric;
BEGIN
	IF kind = 'threshold' THEN
		IF m IS NULL OR (per_row AND rows IS NULL) THEN
			status := 'pending'; detail := CASE WHEN m IS NULL THEN 'the metric is not measured yet' ELSE 'row_count is not measured yet' END;
			RETURN;
		END IF;
		IF per_row AND rows = 0 THEN
			IF m <> 0 THEN
				status := 'error'; detail := format('a share of zero rows: the metric is %s but row_count is 0', m);
				RETURN;
			END IF;
			observed := 0;
		ELSE
			observed := CASE WHEN per_row THEN trim_scale(round(m / rows, 12)) ELSE m END;
		END IF;
		ok := CASE op WHEN '<' THEN observed < threshold WHEN '<=' THEN observed <= threshold
					  WHEN '=' THEN observed = threshold WHEN '>=' THEN observed >= threshold
					  WHEN '>' THEN observed > threshold ELSE observed <> threshold END;
		expected := op || ' ' || threshold;
		detail := CASE WHEN per_row THEN format('%s of %s rows (%s)', m, rows, observed) ELSE NULL END;
	ELSIF kind = 'freshness' THEN
		IF m_at IS NULL THEN
			status := 'pending'; detail := 'the newest row''s time is not measured yet';
			RETURN;
		END IF;
		IF NOT isfinite(m_at) THEN
			status := 'error'; detail := 'the newest row''s time is not a finite time';
			RETURN;
		END IF;
		observed := trim_scale(round(extract(epoch FROM date_end - m_at), 3));
		ok := observed <= extract(epoch FROM within);
		expected := format('<= %s s', trim_scale(extract(epoch FROM within)));
		detail := format('newest row %s, %s s before the date ends (%s)',
			to_char(m_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), observed,
			to_char(date_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
	ELSIF kind = 'reconciliation' THEN
		IF m IS NULL OR src IS NULL THEN
			status := 'pending';
			detail := format('%s is not measured yet', CASE WHEN m IS NULL THEN target_name ELSE source_name END);
			RETURN;
		END IF;
		allowed := greatest(tolerance, tolerance_ratio * abs(src));
		observed := m;
		ok := abs(m - src) <= allowed;
		expected := CASE WHEN allowed = 0 THEN src::text ELSE format('%s ± %s', src, trim_scale(allowed)) END;
		detail := format('%s %s, %s %s: %s%s', target_name, m, source_name, src,
			CASE WHEN m >= src THEN '+' ELSE '' END || (m - src),
			CASE WHEN src <> 0 THEN format(' (%s%%)', round(100 * (m - src) / src, 2)) ELSE '' END);
	ELSIF kind = 'volume' THEN
		IF m IS NULL THEN
			status := 'pending'; detail := 'the metric is not measured yet';
			RETURN;
		END IF;
		observed := m;
		IF coalesce(cardinality(hist), 0) < 4 THEN
			status := 'pass';
			detail := format('not judged: %s of the %s same weekdays before have a value (4 needed)',
				coalesce(cardinality(hist), 0), history_weeks);
			RETURN;
		END IF;
		med := @extschema@._dq_median(hist);
		mad := @extschema@._dq_median(ARRAY(SELECT abs(h - med) FROM unnest(hist) h));
		scale := greatest(mad, abs(med) * 0.01);
		score := CASE WHEN scale = 0 THEN CASE WHEN m = med THEN 0 ELSE 1e9 END
					  ELSE round(0.6745 * (m - med) / scale, 3) END;
		ok := abs(score) <= max_score;
		expected := format('median %s (MAD %s, %s days)', trim_scale(round(med, 3)), trim_scale(round(mad, 3)),
			cardinality(hist));
		detail := format('modified z-score %s (limit %s)', score, max_score);
	ELSIF kind = 'assertion' THEN
		-- the tool judged; its warn stays a warning, its fail takes the check's severity
		observed := a_observed; expected := a_expected; detail := a_detail;
		status := CASE outcome WHEN 'pass' THEN 'pass' WHEN 'warn' THEN 'warn' WHEN 'fail' THEN failed
							   WHEN 'error' THEN 'error' ELSE 'pending' END;
		IF outcome IS NULL THEN
			detail := 'the tool has not reported this test for the date yet';
		ELSIF outcome = 'skipped' THEN
			detail := concat_ws(': ', 'skipped by the tool', a_detail);
		END IF;
		RETURN;
	ELSE
		status := 'error'; detail := format('unknown kind %s', kind);
		RETURN;
	END IF;
	status := CASE WHEN ok THEN 'pass' ELSE failed END;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_judge(text, text, text, numeric, boolean, interval, numeric, numeric, numeric, integer, numeric, timestamptz, numeric, numeric, numeric[], timestamptz, text, text, text, numeric, text, text) IS
	'internal: every rule of data-quality judgement: a check''s status, observed value, expectation and detail for a business date from the measurements it needs (pending when one is missing)';
REVOKE ALL ON FUNCTION @extschema@._dq_judge(text, text, text, numeric, boolean, interval, numeric, numeric, numeric, integer, numeric, timestamptz, numeric, numeric, numeric[], timestamptz, text, text, text, numeric, text, text) FROM PUBLIC;

/*
 * Every active check's verdict for each business date from first_d to last_d,
 * from the measurements held at as_of (one measured later is not there yet;
 * only_checks: just those), read-only: what kant.evaluate_checks keeps and a
 * gate asks.  Each measurement is an index lookup (dq_metric's key).
 */
CREATE FUNCTION @extschema@._dq_verdicts(first_d date, last_d date, as_of timestamptz,
		only_checks integer[] DEFAULT NULL)
	RETURNS TABLE (check_id integer, check_name text, dataset text, severity text, business_date date,
		status text, observed numeric, expected text, detail text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	-- the estimated rows of the date series make the pass look costly: JIT
	-- compilation took 1.5 s of a 10 ms evaluation
	SET jit = off
	AS $$
	SELECT c.check_id, c.name, d.name, c.severity, b.bd, j.status, j.observed, j.expected,
		nullif(concat_ws('; ', j.detail, CASE WHEN c.kind <> 'assertion' THEN m.note END), '')
	FROM @extschema@.dq_check c
	JOIN @extschema@.dataset d ON d.dataset_id = c.dataset_id
	LEFT JOIN @extschema@.dataset s ON s.dataset_id = c.source_dataset_id
	-- dates by number: a date series through timestamptz would skip a day
	-- whose midnight the session's zone does not have
	CROSS JOIN LATERAL (SELECT $1 + i AS bd FROM generate_series(0, $2 - $1) AS i) b
	-- each a key lookup, whatever the history holds: LIMIT 1 keeps the planner
	-- from hashing all of dq_metric when many checks and dates are asked
	LEFT JOIN LATERAL (SELECT m.value, m.value_at, m.note FROM @extschema@.dq_metric m
					   WHERE m.dataset_id = c.dataset_id AND m.business_date = b.bd AND m.metric = c.metric
						 AND m.measured_at <= $3 LIMIT 1) m ON true
	LEFT JOIN LATERAL (SELECT r.value FROM @extschema@.dq_metric r
					   WHERE c.per_row AND r.dataset_id = c.dataset_id AND r.business_date = b.bd
						 AND r.metric = 'row_count' AND r.measured_at <= $3 LIMIT 1) r ON true
	LEFT JOIN LATERAL (SELECT sm.value FROM @extschema@.dq_metric sm
					   WHERE sm.dataset_id = c.source_dataset_id AND sm.business_date = b.bd
						 AND sm.metric = c.metric AND sm.measured_at <= $3 LIMIT 1) sm ON true
	LEFT JOIN LATERAL (SELECT a.outcome, a.observed, a.expected, a.detail FROM @extschema@.dq_assertion a
					   WHERE c.kind = 'assertion' AND a.dataset_id = c.dataset_id AND a.business_date = b.bd
						 AND a.tool = c.tool AND a.assertion = c.assertion AND a.measured_at <= $3 LIMIT 1) a ON true
	CROSS JOIN LATERAL @extschema@._dq_judge(c.kind, c.severity, c.op, c.threshold, c.per_row, c.within,
		c.tolerance, c.tolerance_ratio, c.max_score, c.history_weeks, m.value, m.value_at, r.value, sm.value,
		CASE WHEN c.kind = 'volume' THEN ARRAY(
			SELECT hv FROM generate_series(1, c.history_weeks) k,
				LATERAL (SELECT h.value FROM @extschema@.dq_metric h
						 WHERE h.dataset_id = c.dataset_id AND h.business_date = b.bd - 7 * k
						   AND h.metric = c.metric AND h.measured_at <= $3 LIMIT 1) x(hv)
			WHERE hv IS NOT NULL) END,
		-- the date ends at the midnight after it; a repeated midnight at its first occurrence
		@extschema@.local_instant((b.bd + 1)::timestamp, d.time_zone), d.name, s.name,
		a.outcome, a.observed, a.expected, a.detail) j
	WHERE c.active AND ($4 IS NULL OR c.check_id = ANY ($4))
	  -- a tool's test is judged from the first date it reported it
	  AND (c.kind <> 'assertion' OR b.bd >= c.judged_from)
	$$;
COMMENT ON FUNCTION @extschema@._dq_verdicts(date, date, timestamptz, integer[]) IS
	'internal: every active data-quality check''s verdict (kant._dq_judge) for each business date in the range, from the measurements taken by as_of, without keeping it; only_checks restricts to those check ids';
REVOKE ALL ON FUNCTION @extschema@._dq_verdicts(date, date, timestamptz, integer[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.evaluate_checks(from_date date DEFAULT NULL, to_date date DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (check_name text, dataset text, business_date date, status text, observed numeric,
		expected text, detail text, changed boolean)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	last_d date := coalesce(to_date, (as_of AT TIME ZONE 'UTC')::date);
	first_d date := coalesce(from_date, coalesce(to_date, (as_of AT TIME ZONE 'UTC')::date) - 6);
BEGIN
	IF as_of > statement_timestamp() + interval '5 minutes' THEN
		-- a verdict kept in the future would stay the latest until then
		RAISE EXCEPTION 'as_of is in the future'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Evaluate as of now (the default) or an instant past.';
	END IF;
	IF as_of IS NULL OR NOT isfinite(as_of) OR first_d > last_d OR last_d - first_d > 3660 THEN
		RAISE EXCEPTION 'dates % to % (as of %) are not a range to evaluate', first_d, last_d, as_of
			USING ERRCODE = 'invalid_parameter_value', HINT = 'from_date <= to_date, at most ten years apart.';
	END IF;
	RETURN QUERY
	WITH latest AS (
		SELECT v.*, p.status AS was_status, p.observed AS was_observed, p.expected AS was_expected,
			q.last_at, n.newer
		FROM @extschema@._dq_verdicts(first_d, last_d, as_of) v
		-- the verdict before as_of: an evaluation of the past compares with the past
		LEFT JOIN LATERAL (SELECT x.status, x.observed, x.expected FROM @extschema@.dq_result x
						   WHERE x.check_id = v.check_id AND x.business_date = v.business_date
							 AND x.evaluated_at <= as_of
						   ORDER BY x.evaluated_at DESC LIMIT 1) p ON true
		LEFT JOIN LATERAL (SELECT x.evaluated_at AS last_at FROM @extschema@.dq_result x
						   WHERE x.check_id = v.check_id AND x.business_date = v.business_date
						   ORDER BY x.evaluated_at DESC LIMIT 1) q ON true
		-- a measurement of the date taken after as_of: what was known at as_of
		-- may have been superseded, so a replay cannot tell it (asked only of
		-- a replay: when a later verdict is kept)
		CROSS JOIN LATERAL (SELECT q.last_at > as_of AND EXISTS (
			SELECT FROM @extschema@.dq_check c
			JOIN @extschema@.dq_metric m ON m.dataset_id IN (c.dataset_id, c.source_dataset_id)
										 AND m.business_date = v.business_date AND m.measured_at > as_of
			WHERE c.check_id = v.check_id) OR EXISTS (
			SELECT FROM @extschema@.dq_check c
			JOIN @extschema@.dq_assertion a ON a.dataset_id = c.dataset_id AND a.business_date = v.business_date
											AND a.tool = c.tool AND a.assertion = c.assertion AND a.measured_at > as_of
			WHERE c.check_id = v.check_id AND c.kind = 'assertion') AS newer) n
	), ins AS (
		INSERT INTO @extschema@.dq_result AS t (check_id, business_date, evaluated_at, status, observed, expected, detail)
		SELECT l.check_id, l.business_date, as_of, l.status, l.observed, l.expected, l.detail
		FROM latest l
		WHERE (l.status, l.observed, l.expected) IS DISTINCT FROM (l.was_status, l.was_observed, l.was_expected)
		  -- history is only added to, and only with what is known: a replay at
		  -- or before the last kept verdict keeps nothing when a measurement of
		  -- the date was taken after as_of (the one it replaced is gone)
		  AND (l.last_at IS NULL OR l.last_at < as_of OR NOT l.newer)
		ON CONFLICT ON CONSTRAINT dq_result_pkey DO UPDATE
			SET status = excluded.status, observed = excluded.observed, expected = excluded.expected,
				detail = excluded.detail
		RETURNING t.check_id, t.business_date
	), slo_days AS (
		-- an SLO judged "on time and right" is judged again for a changed verdict
		INSERT INTO @extschema@.slo_dirty (job_id, business_date)
		SELECT DISTINCT sc.job_id, i.business_date
		FROM ins i
		JOIN @extschema@.dq_check c ON c.check_id = i.check_id
		JOIN @extschema@.slo_dataset sd ON sd.dataset_id = c.dataset_id
		JOIN @extschema@.slo_scope sc ON sc.slo_id = sd.slo_id
		ON CONFLICT DO NOTHING
	)
	SELECT l.check_name, l.dataset, l.business_date, l.status, l.observed, l.expected, l.detail,
		EXISTS (SELECT FROM ins i WHERE i.check_id = l.check_id AND i.business_date = l.business_date)
	FROM latest l
	ORDER BY l.check_name, l.business_date;
END
$$;
COMMENT ON FUNCTION @extschema@.evaluate_checks(date, date, timestamptz) IS
	'Judge every active data-quality check for each business date from from_date to to_date (default: the 7 days to as_of''s UTC date) by kant._dq_judge, in one pass, from the measurements taken by as_of (not in the future: 22023; a past instant replays what was known then, as far as the kept measurements tell: a later measurement of the same metric and date supersedes the earlier); a verdict that differs from the one before as_of is kept in kant.dq_result at as_of, unless a verdict at or after as_of is kept and a measurement of the date was taken after as_of (what it replaced is gone: such a replay does not rewrite history). Returns every verdict, and whether it was kept';
REVOKE ALL ON FUNCTION @extschema@.evaluate_checks(date, date, timestamptz) FROM PUBLIC;

CREATE VIEW @extschema@.dq_status AS
SELECT DISTINCT ON (r.check_id, r.business_date)
	c.name AS check_name, c.kind, c.severity, d.name AS dataset, s.name AS source_dataset, c.metric,
	r.business_date, r.status, r.observed, r.expected, r.detail, r.evaluated_at
FROM @extschema@.dq_result r
JOIN @extschema@.dq_check c ON c.check_id = r.check_id
JOIN @extschema@.dataset d ON d.dataset_id = c.dataset_id
LEFT JOIN @extschema@.dataset s ON s.dataset_id = c.source_dataset_id
ORDER BY r.check_id, r.business_date, r.evaluated_at DESC;
COMMENT ON VIEW @extschema@.dq_status IS 'Each data-quality check''s latest verdict per business date (kant.dq_result''s newest row)';
COMMENT ON COLUMN @extschema@.dq_status.check_name IS 'the check';
COMMENT ON COLUMN @extschema@.dq_status.kind IS 'threshold, freshness, reconciliation, volume or assertion';
COMMENT ON COLUMN @extschema@.dq_status.severity IS 'critical or warning';
COMMENT ON COLUMN @extschema@.dq_status.dataset IS 'the dataset judged (a reconciliation''s target)';
COMMENT ON COLUMN @extschema@.dq_status.source_dataset IS 'a reconciliation''s source, else NULL';
COMMENT ON COLUMN @extschema@.dq_status.metric IS 'the metric judged';
COMMENT ON COLUMN @extschema@.dq_status.business_date IS 'the business date';
COMMENT ON COLUMN @extschema@.dq_status.status IS 'pass, warn, fail, error or pending';
COMMENT ON COLUMN @extschema@.dq_status.observed IS 'the value judged';
COMMENT ON COLUMN @extschema@.dq_status.expected IS 'what it had to be';
COMMENT ON COLUMN @extschema@.dq_status.detail IS 'the verdict in words';
COMMENT ON COLUMN @extschema@.dq_status.evaluated_at IS 'the as_of of the evaluation that reached it';

/*
 * For Tableau, with the rules of the bi_ views (sql/src/bi.sql): plain types,
 * naive UTC timestamps named _utc, flags as 0/1, nothing that depends on the
 * session's settings.
 */
CREATE VIEW @extschema@.bi_dq_daily AS
SELECT s.check_name, s.dataset, s.kind, s.severity, s.metric, s.business_date, s.status,
	(s.status = 'pass')::integer AS passed,
	(s.status IN ('fail', 'warn', 'error'))::integer AS failed,
	s.observed::double precision AS observed,
	coalesce(s.expected, '') AS expected,
	coalesce(s.detail, '') AS detail,
	(s.evaluated_at AT TIME ZONE 'UTC') AS evaluated_at_utc
FROM @extschema@.dq_status s;
COMMENT ON VIEW @extschema@.bi_dq_daily IS
	'Data-quality verdicts per check and business date (for Tableau): the latest of each, with the value observed and the one expected';
COMMENT ON COLUMN @extschema@.bi_dq_daily.check_name IS 'the check';
COMMENT ON COLUMN @extschema@.bi_dq_daily.dataset IS 'the dataset judged (a reconciliation''s target)';
COMMENT ON COLUMN @extschema@.bi_dq_daily.kind IS 'threshold, freshness, reconciliation, volume or assertion';
COMMENT ON COLUMN @extschema@.bi_dq_daily.severity IS 'critical or warning';
COMMENT ON COLUMN @extschema@.bi_dq_daily.metric IS 'the metric judged';
COMMENT ON COLUMN @extschema@.bi_dq_daily.business_date IS 'the business date';
COMMENT ON COLUMN @extschema@.bi_dq_daily.status IS 'pass, warn, fail, error or pending';
COMMENT ON COLUMN @extschema@.bi_dq_daily.passed IS '1 if it passed, else 0';
COMMENT ON COLUMN @extschema@.bi_dq_daily.failed IS '1 if it failed, warned or could not be judged (error), else 0 (pending is neither)';
COMMENT ON COLUMN @extschema@.bi_dq_daily.observed IS 'the value judged (freshness: seconds the newest row is before the date''s end)';
COMMENT ON COLUMN @extschema@.bi_dq_daily.expected IS 'what it had to be, as text; empty when not judged';
COMMENT ON COLUMN @extschema@.bi_dq_daily.detail IS 'the verdict in words, or empty';
COMMENT ON COLUMN @extschema@.bi_dq_daily.evaluated_at_utc IS 'when the verdict was reached (UTC, the evaluation''s as_of)';

CREATE VIEW @extschema@.bi_dq_reconciliation AS
SELECT c.name AS check_name, d.name AS target_dataset, s.name AS source_dataset, c.metric, x.business_date,
	t.value::double precision AS target_value,
	o.value::double precision AS source_value,
	(t.value - o.value)::double precision AS difference,
	CASE WHEN o.value <> 0 THEN round(100 * (t.value - o.value) / o.value, 4)::double precision END AS difference_pct,
	coalesce(st.status, 'pending') AS status
FROM @extschema@.dq_check c
JOIN @extschema@.dataset d ON d.dataset_id = c.dataset_id
JOIN @extschema@.dataset s ON s.dataset_id = c.source_dataset_id
CROSS JOIN LATERAL (
	SELECT m.business_date FROM @extschema@.dq_metric m
	WHERE m.dataset_id IN (c.dataset_id, c.source_dataset_id) AND m.metric = c.metric
	GROUP BY m.business_date) x
LEFT JOIN @extschema@.dq_metric t
  ON t.dataset_id = c.dataset_id AND t.business_date = x.business_date AND t.metric = c.metric
LEFT JOIN @extschema@.dq_metric o
  ON o.dataset_id = c.source_dataset_id AND o.business_date = x.business_date AND o.metric = c.metric
LEFT JOIN LATERAL (SELECT r.status FROM @extschema@.dq_result r
				   WHERE r.check_id = c.check_id AND r.business_date = x.business_date
				   ORDER BY r.evaluated_at DESC LIMIT 1) st ON true
WHERE c.kind = 'reconciliation';
COMMENT ON VIEW @extschema@.bi_dq_reconciliation IS
	'Source against target per reconciliation check and business date (for Tableau): both sides'' values as measured now, their difference, and the latest verdict';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.check_name IS 'the reconciliation check';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.target_dataset IS 'the dataset that must match (e.g. bq.users)';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.source_dataset IS 'the dataset it must match (e.g. rds.users)';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.metric IS 'the metric compared';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.business_date IS 'a business date either side has a value for';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.target_value IS 'the target''s value, NULL when not measured';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.source_value IS 'the source''s value, NULL when not measured';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.difference IS 'target minus source';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.difference_pct IS 'the difference in percent of the source, NULL when the source is 0 or missing';
COMMENT ON COLUMN @extschema@.bi_dq_reconciliation.status IS 'the latest verdict (kant.dq_status), pending when none yet';

/*
 * Gates and data quality: a gate may require the checks of its upstream
 * datasets to pass for the business date before its downstream starts
 * ("delivered, and right").  Every active critical check judging one of the
 * gate's datasets must pass; a warning check never holds a gate.  The
 * verdict is the one the measurements held now give (kant._dq_verdicts), so
 * a gate does not wait for the next kant.evaluate_checks.
 */
CREATE TABLE @extschema@.gate_dataset (
	gate_id			integer NOT NULL REFERENCES @extschema@.gate ON DELETE CASCADE,
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	PRIMARY KEY (gate_id, dataset_id)
);
CREATE INDEX ON @extschema@.gate_dataset (dataset_id);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gate_dataset', '');
COMMENT ON TABLE @extschema@.gate_dataset IS
	'Datasets whose critical data-quality checks must pass for a gate to open (kant.set_gate_datasets)';
COMMENT ON COLUMN @extschema@.gate_dataset.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.gate_dataset.dataset_id IS 'a dataset whose critical checks must pass';

CREATE FUNCTION @extschema@.set_gate_datasets(gate text, datasets text[])
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	gid integer;
	unknown text;
	n integer;
BEGIN
	SELECT g.gate_id INTO gid FROM @extschema@.gate g WHERE g.name = set_gate_datasets.gate;
	IF gid IS NULL THEN
		RAISE EXCEPTION 'gate "%" does not exist', gate
			USING ERRCODE = 'undefined_object', HINT = 'Create it with kant.create_gate().';
	END IF;
	SELECT x INTO unknown FROM unnest(coalesce(datasets, '{}')) x
	WHERE NOT EXISTS (SELECT FROM @extschema@.dataset d WHERE d.name = x) LIMIT 1;
	IF unknown IS NOT NULL OR array_position(datasets, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', coalesce(unknown, 'NULL')
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_dataset().';
	END IF;
	DELETE FROM @extschema@.gate_dataset gd WHERE gd.gate_id = gid;
	INSERT INTO @extschema@.gate_dataset (gate_id, dataset_id)
	SELECT DISTINCT gid, d.dataset_id FROM @extschema@.dataset d WHERE d.name = ANY (datasets);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.set_gate_datasets(text, text[]) IS
	'Set the datasets whose critical data-quality checks must pass, for each business date, before a gate opens (replacing the list; an empty one removes the requirement); returns how many. kant.gate_status lists each such check''s verdict (dq_pass, dq_fail, dq_pending, dq_error)';
REVOKE ALL ON FUNCTION @extschema@.set_gate_datasets(text, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@._gate_checks(gate_id integer, business_date date)
	RETURNS TABLE (check_name text, dataset text, status text, detail text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT v.check_name, v.dataset, v.status,
		concat_ws('; ', CASE WHEN v.expected IS NOT NULL THEN 'observed ' || coalesce(v.observed::text, '-') || ', expected ' || v.expected END,
				  v.detail)
	FROM @extschema@._dq_verdicts($2, $2, now(), ARRAY(
		SELECT c.check_id FROM @extschema@.dq_check c
		JOIN @extschema@.gate_dataset gd ON gd.dataset_id = c.dataset_id
		WHERE gd.gate_id = $1 AND c.severity = 'critical' AND c.active)) v
	$$;
COMMENT ON FUNCTION @extschema@._gate_checks(integer, date) IS
	'internal: the verdicts, for a business date, of the critical data-quality checks a gate requires (kant.gate_dataset), from the measurements held now';
REVOKE ALL ON FUNCTION @extschema@._gate_checks(integer, date) FROM PUBLIC;

/*
 * SLOs and data quality, "delivered on time and right" (off by default): an
 * SLO given datasets counts a day met only if no critical check of them
 * failed for the date (kant.refresh_slo; slo_day.checks_failed).
 */
CREATE TABLE @extschema@.slo_dataset (
	slo_id			integer NOT NULL REFERENCES @extschema@.slo ON DELETE CASCADE,
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	PRIMARY KEY (slo_id, dataset_id)
);
CREATE INDEX ON @extschema@.slo_dataset (dataset_id);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.slo_dataset', '');
COMMENT ON TABLE @extschema@.slo_dataset IS
	'Datasets whose critical data-quality checks must not fail for an SLO''s day to be met (kant.set_slo_datasets: "on time and right")';
COMMENT ON COLUMN @extschema@.slo_dataset.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_dataset.dataset_id IS 'a dataset whose critical checks must not fail';

CREATE FUNCTION @extschema@.set_slo_datasets(slo text, datasets text[])
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	unknown text;
	n integer;
BEGIN
	SELECT s.slo_id INTO sid FROM @extschema@.slo s WHERE s.name = set_slo_datasets.slo;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'SLO "%" does not exist', slo
			USING ERRCODE = 'undefined_object', HINT = 'Create it with kant.create_slo().';
	END IF;
	SELECT x INTO unknown FROM unnest(coalesce(datasets, '{}')) x
	WHERE NOT EXISTS (SELECT FROM @extschema@.dataset d WHERE d.name = x) LIMIT 1;
	IF unknown IS NOT NULL OR array_position(datasets, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', coalesce(unknown, 'NULL')
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_dataset().';
	END IF;
	DELETE FROM @extschema@.slo_dataset sd WHERE sd.slo_id = sid;
	INSERT INTO @extschema@.slo_dataset (slo_id, dataset_id)
	SELECT DISTINCT sid, d.dataset_id FROM @extschema@.dataset d WHERE d.name = ANY (datasets);
	GET DIAGNOSTICS n = ROW_COUNT;
	-- every day is judged again with the new rule at the next refresh
	INSERT INTO @extschema@.slo_dirty (job_id, business_date)
	SELECT DISTINCT sc.job_id, y.business_date
	FROM @extschema@.slo_day y JOIN @extschema@.slo_scope sc ON sc.slo_id = y.slo_id
	WHERE y.slo_id = sid
	ON CONFLICT DO NOTHING;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.set_slo_datasets(text, text[]) IS
	'Judge an SLO "on time and right": a day is met only if, besides every job done by the deadline, no active critical data-quality check of these datasets has fail or error as its latest verdict for the date (kant.slo_day.checks_failed). Replaces the list; an empty one switches it off (the default). Returns how many datasets; 42704 for an unknown SLO or dataset';
REVOKE ALL ON FUNCTION @extschema@.set_slo_datasets(text, text[]) FROM PUBLIC;

-- failed checks are alerts of kind data_quality (kant.alert_kinds, check_conditions, run_checks: above)
COMMENT ON COLUMN @extschema@.alert.kind IS 'failure, late, missing, predicted, stuck, stale or data_quality (kant.alert_kinds())';
COMMENT ON COLUMN @extschema@.alert.alert_key IS 'stable key from ids: kind/job:<job_id>/<business date>, kind/slo:<slo_id>/<business date>, stale/system:<system_id>, data_quality/check:<check_id>/<business date>';
COMMENT ON COLUMN @extschema@.bi_alert_daily.kind IS 'failure, late, missing, predicted, stuck, stale or data_quality';
COMMENT ON FUNCTION @extschema@._alert_key(text, text, integer, date) IS
	'internal: an alert''s key from ids: kind/job:<job_id>/<business date>, kind/slo:<slo_id>/<business date>, stale/system:<system_id>, data_quality/check:<check_id>/<business date>; unique whatever the names hold';

-- sql/src/quality_diff.sql

/*
 * kant: Key-level differences between a source and a target that SQL can
 * reach (issue 15): the keys missing or duplicated on either side, found
 * without shipping every row.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * The technique of data-diff (datafold/data-diff: hashdiff_tables.py and
 * table_segment.py, carried on as erezsh/reladiff): split the key space into
 * segments, summarise each segment on both sides by count(*) and the sum of a
 * hash of its keys (an order-independent checksum: the same multiset of keys
 * gives the same sums, in any order), split again only the segments that
 * differ, and fetch the keys of a segment only once it is small.  What kant
 * does differently:
 *  - one query a pass reads every segment of both sides (GROUP BY the segment
 *    number), where data-diff runs one query per segment; the two sides are
 *    one UNION ALL, so a foreign server with async_capable aggregates at the
 *    same time as the local side;
 *  - keys are compared as multisets (key, number of rows), not as sets: a
 *    duplicated key changes a segment's count and sum, and is reported;
 *  - the segments are a power-of-two grid over a 64-bit position: segment b
 *    at shift s holds the rows whose position p has p >> s = b.  Integer keys
 *    are their own position (a segment is a key range an index serves); text
 *    and uuid keys are positioned by their hash (hashtextextended,
 *    uuid_hash_extended), not by ordered quantiles: two servers may order
 *    text differently (a collation of RDS against one here), so one key range
 *    could hold different keys on each side, and postgres_fdw ships no
 *    comparison under an explicit COLLATE "C"; a hash of the bytes is the same
 *    on both (in the same encoding, with deterministic collations) and
 *    spreads any key distribution (common prefixes, skew) evenly,
 *    where quantiles need a sort of the key column.  The cost: no index serves
 *    a hash range, so each pass reads the whole table on both sides.
 * kant.diff_keys_report returns the keys found and what it cost as one jsonb
 * value (to keep in a check's result); kant.diff_keys shows it as rows and a
 * NOTICE.
 * Every query is built from built-in immutable functions and operators
 * (count, sum, >>, hashint8extended, hashtextextended, uuid_hash_extended,
 * = ANY of a constant array), which postgres_fdw pushes down.
 */

/*
 * What a key column is, for kant.diff_keys: 'integer' (smallint, integer,
 * bigint), 'text' (text, varchar) or 'uuid', domains over them included.
 */
CREATE FUNCTION @extschema@._diff_key_kind(rel regclass, key_column name, arg text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	relkind "char";
	typ oid;
	base oid;
BEGIN
	SELECT c.relkind INTO relkind FROM pg_class c WHERE c.oid = rel;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		RAISE EXCEPTION 'kant.diff_keys: % % is not a table, view or foreign table', arg, rel
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Name a table, a view, a materialized view or a foreign table (postgres_fdw).';
	END IF;
	SELECT a.atttypid INTO typ FROM pg_attribute a
	WHERE a.attrelid = rel AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF typ IS NULL THEN
		RAISE EXCEPTION 'kant.diff_keys: column % of % % does not exist', quote_ident(key_column), arg, rel
			USING ERRCODE = 'undefined_column',
				  HINT = 'key_column names the key column of both source and target (the same name on both).';
	END IF;
	base := typ;
	WHILE (SELECT t.typtype = 'd' FROM pg_type t WHERE t.oid = base) LOOP
		SELECT t.typbasetype INTO base FROM pg_type t WHERE t.oid = base;
	END LOOP;
	RETURN CASE base
		WHEN 'int2'::regtype THEN 'integer' WHEN 'int4'::regtype THEN 'integer' WHEN 'int8'::regtype THEN 'integer'
		WHEN 'text'::regtype THEN 'text' WHEN 'varchar'::regtype THEN 'text'
		WHEN 'uuid'::regtype THEN 'uuid'
		ELSE @extschema@._diff_unsupported(rel, key_column, arg, typ::regtype) END;
END
$$;
COMMENT ON FUNCTION @extschema@._diff_key_kind(regclass, name, text) IS
	'internal: the kind of key kant.diff_keys compares in column key_column of rel (arg: source or target, for the errors): integer (smallint, integer, bigint), text (text, varchar) or uuid, domains over them too; 42809 for a relation without rows, 42703 for no such column, 0A000 for another type';
GRANT EXECUTE ON FUNCTION @extschema@._diff_key_kind(regclass, name, text) TO PUBLIC;

CREATE FUNCTION @extschema@._diff_unsupported(rel regclass, key_column name, arg text, typ regtype) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'kant.diff_keys: key column % of % % is of type %, which kant.diff_keys does not compare',
		quote_ident(key_column), arg, rel, typ
		USING ERRCODE = 'feature_not_supported',
			  HINT = 'Key types: smallint, integer, bigint (split by value), text, varchar, uuid (split by hash).';
END
$$;
COMMENT ON FUNCTION @extschema@._diff_unsupported(regclass, name, text, regtype) IS
	'internal: raise 0A000 for a key column of a type kant.diff_keys does not compare';
GRANT EXECUTE ON FUNCTION @extschema@._diff_unsupported(regclass, name, text, regtype) TO PUBLIC;

/*
 * A filter is one SQL expression, put in parentheses after WHERE: refuse
 * what could end the parentheses or the statement early (a semicolon, a
 * comment, a parenthesis closed that it did not open, a string or quoted
 * identifier left open).  Strings ('', E'\''), quoted identifiers and dollar
 * quotes are skipped.  Whether the expression is right (its columns, a
 * boolean) is left to PostgreSQL: kant.diff_keys runs it once with LIMIT 0.
 */
CREATE FUNCTION @extschema@._diff_filter(filter text, arg text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	i integer := 1;
	n integer := length(filter);
	ch text;
	depth integer := 0;
	backslash boolean;
	tag text;
	j integer;
	problem text;
BEGIN
	IF filter IS NULL THEN
		RETURN NULL;
	END IF;
	IF btrim(filter, E' \t\r\n') = '' THEN
		problem := 'is empty';
	END IF;
	WHILE problem IS NULL AND i <= n LOOP
		ch := substr(filter, i, 1);
		IF ch = '''' THEN
			-- a string: '' stands for a quote; in an E'' string, \ escapes too
			backslash := i > 1 AND upper(substr(filter, i - 1, 1)) = 'E'
						 AND (i = 2 OR substr(filter, i - 2, 1) !~ '[A-Za-z0-9_$]');
			i := i + 1;
			LOOP
				IF i > n THEN
					problem := 'leaves a string open';
					EXIT;
				END IF;
				ch := substr(filter, i, 1);
				IF backslash AND ch = '\' THEN
					i := i + 2;
				ELSIF ch = '''' AND substr(filter, i + 1, 1) = '''' THEN
					i := i + 2;
				ELSIF ch = '''' THEN
					EXIT;
				ELSE
					i := i + 1;
				END IF;
			END LOOP;
		ELSIF ch = '"' THEN
			j := strpos(substr(filter, i + 1), '"');
			IF j = 0 THEN
				problem := 'leaves a quoted identifier open';
			END IF;
			i := i + j;
		ELSIF ch = '$' AND (i = 1 OR substr(filter, i - 1, 1) !~ '[A-Za-z0-9_$]')
			  AND substr(filter, i) ~ '^\$([A-Za-z_][A-Za-z0-9_]*)?\$' THEN
			tag := substring(substr(filter, i) FROM '^(\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)');
			j := strpos(substr(filter, i + length(tag)), tag);
			IF j = 0 THEN
				problem := 'leaves a dollar-quoted string open';
			END IF;
			i := i + 2 * length(tag) + j - 2;
		ELSIF ch = ';' THEN
			problem := 'holds a semicolon';
		ELSIF substr(filter, i, 2) IN ('--', '/*') THEN
			problem := 'holds a comment';
		ELSIF ch = '(' THEN
			depth := depth + 1;
		ELSIF ch = ')' THEN
			depth := depth - 1;
			IF depth < 0 THEN
				problem := 'closes a parenthesis it did not open';
			END IF;
		END IF;
		i := i + 1;
	END LOOP;
	IF problem IS NULL AND depth > 0 THEN
		problem := 'leaves a parenthesis open';
	END IF;
	IF problem IS NOT NULL THEN
		RAISE EXCEPTION 'kant.diff_keys: % is not one SQL expression: it %', arg, problem
			USING ERRCODE = 'syntax_error',
				  DETAIL = format('%s: %s', arg, filter),
				  HINT = 'A boolean expression over the table''s columns, as after WHERE, e.g. business_date = ''2024-01-15''.';
	END IF;
	RETURN filter;
END
$$;
COMMENT ON FUNCTION @extschema@._diff_filter(text, text) IS
	'internal: the filter of kant.diff_keys when it is one SQL expression (arg names the argument): 42601 for one that is empty, holds a semicolon or a comment, closes a parenthesis it did not open or leaves a parenthesis, string or quoted identifier open';
GRANT EXECUTE ON FUNCTION @extschema@._diff_filter(text, text) TO PUBLIC;

/*
 * One side's query of kant.diff_keys, to be put in a UNION ALL with the
 * other side's (side 1 the source, 2 the target):
 *   range:    side, min(key)::bigint, max(key)::bigint (integer keys);
 *   segments: side, segment (position >> shift), count(*), sum(hash) per segment,
 *             and within segments whether all its rows have one position;
 *   keys:     side, key, count(*), position per key.
 * within_shift/within restrict it to those segments (shift, segment); NULL
 * reads the whole table.  Integer keys read up to 64 key ranges a shift (an
 * index serves them; adjacent segments are one range), others the segment
 * numbers: (position >> shift) = ANY (constant array), hashed by the server.
 */
CREATE FUNCTION @extschema@._diff_sql(side integer, rel regclass, key_column name, kind text, filter text,
		what text, shift integer DEFAULT NULL, within_shift integer[] DEFAULT NULL, within bigint[] DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k text := quote_ident(key_column);
	pos text;
	hash text;
	conds text[] := '{}';
	segs text;
BEGIN
	pos := CASE kind WHEN 'integer' THEN format('%s::bigint', k)
					 WHEN 'text' THEN format('hashtextextended(%s, 0)', k)
					 WHEN 'uuid' THEN format('uuid_hash_extended(%s, 0)', k) END;
	hash := CASE kind WHEN 'integer' THEN format('hashint8extended(%s::bigint, 0)', k) ELSE pos END;
	IF pos IS NULL OR what NOT IN ('range', 'segments', 'keys') OR side NOT IN (1, 2) THEN
		RAISE EXCEPTION 'kant._diff_sql: no query for side %, kind %, %', side, kind, what
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF filter IS NOT NULL THEN
		conds := conds || format('(%s)', filter);
	END IF;
	IF within IS NOT NULL THEN
		SELECT '(' || string_agg(s.cond, ' OR ' ORDER BY s.sh) || ')' INTO segs
		FROM (SELECT i.sh,
					 CASE WHEN kind = 'integer' AND count(*) <= 64
						  THEN string_agg(format('(%1$s >= %2$s AND %1$s <= %3$s)', k,
									 (i.b0 * 2::numeric ^ i.sh)::numeric(20), ((i.b1::numeric + 1) * 2::numeric ^ i.sh - 1)::numeric(20)),
								  ' OR ' ORDER BY i.b0)
						  ELSE format('(%s >> %s) = ANY (''{%s}''::bigint[])', pos, i.sh, string_agg(i.bs, ',' ORDER BY i.b0))
					 END AS cond
			  FROM (SELECT x.sh, min(x.b) AS b0, max(x.b) AS b1, string_agg(x.b::text, ',' ORDER BY x.b) AS bs
					FROM (SELECT w.sh, w.b, w.b::numeric - row_number() OVER (PARTITION BY w.sh ORDER BY w.b) AS run
						  FROM (SELECT DISTINCT u.sh, u.b FROM unnest(within_shift, within) AS u(sh, b)) w) x
					GROUP BY x.sh, x.run) i
			  GROUP BY i.sh) s;
		conds := conds || coalesce(segs, 'false');
	END IF;
	RETURN format('SELECT %s AS side, %s FROM %s%s%s', side,
		CASE what WHEN 'range' THEN format('min(%1$s)::bigint AS lo, max(%1$s)::bigint AS hi', k)
				  WHEN 'segments' THEN format('%s >> %s AS b, count(*) AS n, sum(%s) AS c, %s AS one', pos, shift, hash,
											  CASE WHEN within IS NULL THEN 'NULL::boolean' ELSE format('min(%1$s) = max(%1$s)', pos) END)
				  ELSE format('%s AS key, count(*) AS n, %s AS pos',
							  CASE kind WHEN 'integer' THEN pos WHEN 'text' THEN k || '::text' ELSE k END, pos) END,
		rel,
		CASE WHEN cardinality(conds) > 0 THEN ' WHERE ' || array_to_string(conds, ' AND ') ELSE '' END,
		CASE WHEN what = 'range' THEN '' ELSE ' GROUP BY 2' END);
END
$$;
COMMENT ON FUNCTION @extschema@._diff_sql(integer, regclass, name, text, text, text, integer, integer[], bigint[]) IS
	'internal: one side''s query of kant.diff_keys (side 1 source, 2 target): what = range (min and max key), segments (count and sum of the 64-bit key hash per segment position >> shift; within segments, whether min(position) = max(position)) or keys (each key with its count and position), within the segments (within_shift, within) or the whole table; built from built-in immutable functions that postgres_fdw pushes down';
GRANT EXECUTE ON FUNCTION @extschema@._diff_sql(integer, regclass, name, text, text, text, integer, integer[], bigint[]) TO PUBLIC;

/*
 * The relations whose rows a query fetches from a foreign server rather than
 * having them aggregated there (a Foreign Scan that is not "Aggregate on"),
 * from its plan; NULL when there is none.  VOLATILE: EXPLAIN may not run in
 * kant.diff_keys, which is STABLE.
 */
CREATE FUNCTION @extschema@._diff_fetched(query text) RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan jsonb;
BEGIN
	EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || query INTO plan;
	RETURN (SELECT string_agg(DISTINCT format('%s.%s', n ->> 'Schema', n ->> 'Relation Name'), ', ')
			FROM jsonb_path_query(plan, 'strict $.**? (@."Node Type" == "Foreign Scan")') AS n
			WHERE coalesce(n ->> 'Relations', '') NOT LIKE 'Aggregate on %');
END
$$;
COMMENT ON FUNCTION @extschema@._diff_fetched(text) IS
	'internal: the foreign tables whose rows the query fetches instead of having them aggregated by their server (from EXPLAIN (VERBOSE, FORMAT JSON)), as schema.table, comma-separated; NULL for none';
GRANT EXECUTE ON FUNCTION @extschema@._diff_fetched(text) TO PUBLIC;

/*
 * Both sides of one step of kant.diff_keys in one statement: the two queries
 * of kant._diff_sql in a UNION ALL (a foreign side with async_capable runs
 * while the local side does), folded into one row of arrays, with how many
 * rows each side returned and what they weigh in postgres_fdw's text
 * protocol (a 7-byte DataRow header, and 4 bytes of length and the text of
 * each value).
 */
CREATE FUNCTION @extschema@._diff_both(what text, source_query text, target_query text) RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT format('SELECT %1$s, count(*) FILTER (WHERE u.side = 1) AS rs, count(*) FILTER (WHERE u.side = 2) AS rt,'
				  ' coalesce(sum(%2$s) FILTER (WHERE u.side = 1), 0)::bigint AS bs, coalesce(sum(%2$s) FILTER (WHERE u.side = 2), 0)::bigint AS bt'
				  ' FROM (%3$s UNION ALL %4$s) u',
				  CASE what
					  WHEN 'range' THEN 'NULL::integer[] AS side, ARRAY[min(u.lo), max(u.hi)] AS b, NULL::bigint[] AS n,'
										' NULL::numeric[] AS c, NULL::boolean[] AS one, NULL::text[] AS k'
					  WHEN 'segments' THEN 'array_agg(u.side) AS side, array_agg(u.b) AS b, array_agg(u.n) AS n,'
										   ' array_agg(u.c) AS c, array_agg(u.one) AS one, NULL::text[] AS k'
					  WHEN 'keys' THEN 'array_agg(u.side) AS side, array_agg(u.pos) AS b, array_agg(u.n) AS n,'
									   ' NULL::numeric[] AS c, NULL::boolean[] AS one, array_agg(u.key::text) AS k' END,
				  '7 + octet_length(u.side::text) + ' || CASE what
					  WHEN 'range' THEN '12 + coalesce(octet_length(u.lo::text), 0) + coalesce(octet_length(u.hi::text), 0)'
					  WHEN 'segments' THEN '20 + coalesce(octet_length(u.b::text), 0) + octet_length(u.n::text) + coalesce(octet_length(u.c::text), 0)'
										   ' + coalesce(octet_length(u.one::text), 0)'
					  WHEN 'keys' THEN '16 + coalesce(octet_length(u.key::text), 0) + octet_length(u.n::text) + coalesce(octet_length(u.pos::text), 0)' END,
				  source_query, target_query)
	$$;
COMMENT ON FUNCTION @extschema@._diff_both(text, text, text) IS
	'internal: the statement of one step of kant.diff_keys over both sides (what: range, segments or keys; the queries of kant._diff_sql for source and target in a UNION ALL), one row: side, b (the segment numbers, the positions, or the range), n, c, one (segments of one position), k (the keys as text), and the rows (rs, rt) and bytes (bs, bt) each side returned';
GRANT EXECUTE ON FUNCTION @extschema@._diff_both(text, text, text) TO PUBLIC;

/*
 * Run a statement of kant._diff_both without JIT: after the first pass the
 * steps read little, but postgres_fdw's estimate of a foreign scan (without
 * use_remote_estimate) is the whole table's, enough to JIT-compile each for
 * a few hundred milliseconds.  The first pass runs with the caller's setting.
 */
CREATE FUNCTION @extschema@._diff_run(query text, OUT side integer[], OUT b bigint[], OUT n bigint[], OUT c numeric[],
		OUT one boolean[], OUT k text[], OUT rs bigint, OUT rt bigint, OUT bs bigint, OUT bt bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
BEGIN
	EXECUTE query INTO side, b, n, c, one, k, rs, rt, bs, bt;
END
$$;
COMMENT ON FUNCTION @extschema@._diff_run(text) IS
	'internal: run a statement of kant._diff_both with jit off (the steps after kant.diff_keys''s first pass read little, and compiling would cost more than it saves)';
GRANT EXECUTE ON FUNCTION @extschema@._diff_run(text) TO PUBLIC;

/*
 * The keys whose number of rows differs between source and target, found by
 * bisection (see the top of this file):
 *  1. integer keys: the smallest and largest key of both sides (one query);
 *  2. pass 1 splits the key space into bisection_factor^2 segments (4096: the
 *     whole table is read anyway, and a finer first split makes every later
 *     pass read less); each later pass splits each segment that differs into
 *     bisection_factor (64: data-diff splits into 32 with one query a segment;
 *     here a pass is one query, and a wider split only returns more sums); a
 *     segment with at most bisection_threshold rows on either side, or whose
 *     rows share one position on each side (a key many times over: after pass
 *     1 each segment also says min(position) = max(position)), is not split
 *     but compared key by key;
 *  3. one query fetches the keys of those segments with their counts.
 * Each step is one statement over both sides.  Every differing segment holds
 * at least one differing key, so a pass keeps only the max_keys first
 * segments (in position order) and the first max_keys keys are still found.
 * Everything runs in the caller's snapshot (STABLE), postgres_fdw's remote
 * side in its repeatable-read transaction.
 */
CREATE FUNCTION @extschema@.diff_keys_report(source regclass, target regclass, key_column name,
		source_filter text DEFAULT NULL, target_filter text DEFAULT NULL, max_keys integer DEFAULT 100,
		bisection_factor integer DEFAULT 64, bisection_threshold integer DEFAULT 1000)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind text;
	sf text;
	tf text;
	step integer;
	shift integer;
	key_lo bigint;
	key_hi bigint;
	parent_shifts integer[];
	parents bigint[];
	split bigint[];
	leaf_s integer[] := '{}';
	leaf_b bigint[] := '{}';
	q text;
	fetched text;
	got record;
	rows_s numeric;
	rows_t numeric;
	null_s bigint;
	null_t bigint;
	k_side integer[] := '{}';
	k_key text[] := '{}';
	k_n bigint[] := '{}';
	k_pos bigint[] := '{}';
	d_key text[];
	d_s bigint[];
	d_t bigint[];
	n_found bigint;
	truncated boolean := false;
	queries integer := 0;
	passes integer := 0;
	fetched_s bigint := 0;
	fetched_t bigint := 0;
	bytes_s bigint := 0;
	bytes_t bigint := 0;
BEGIN
	IF source IS NULL OR target IS NULL OR key_column IS NULL THEN
		RAISE EXCEPTION 'kant.diff_keys: % is NULL',
			CASE WHEN source IS NULL THEN 'source' WHEN target IS NULL THEN 'target' ELSE 'key_column' END
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Name the source and target tables (regclass) and their key column.';
	END IF;
	IF max_keys IS NULL OR max_keys < 1 THEN
		RAISE EXCEPTION 'kant.diff_keys: max_keys must be at least 1, not %', coalesce(max_keys::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The number of keys to report (100 by default).';
	END IF;
	IF bisection_factor IS NULL OR bisection_factor NOT IN (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) THEN
		RAISE EXCEPTION 'kant.diff_keys: bisection_factor must be a power of two from 2 to 1024, not %',
			coalesce(bisection_factor::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Into how many segments a pass splits a segment that differs (64 by default; the first pass makes bisection_factor^2).';
	END IF;
	IF bisection_threshold IS NULL OR bisection_threshold < 1 THEN
		RAISE EXCEPTION 'kant.diff_keys: bisection_threshold must be at least 1, not %', coalesce(bisection_threshold::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Up to how many rows a segment is compared key by key rather than split (1000 by default).';
	END IF;
	kind := @extschema@._diff_key_kind(source, key_column, 'source');
	IF @extschema@._diff_key_kind(target, key_column, 'target') <> kind THEN
		RAISE EXCEPTION 'kant.diff_keys: key column % is of type % in source % but % in target %', quote_ident(key_column),
			(SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key_column), source,
			(SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = target AND a.attname = key_column), target
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'Both keys integers (smallint, integer, bigint), both text (text, varchar) or both uuid.';
	END IF;
	sf := @extschema@._diff_filter(source_filter, 'source_filter');
	tf := @extschema@._diff_filter(target_filter, 'target_filter');
	-- a filter PostgreSQL cannot apply to its table fails here, named
	FOR got IN SELECT * FROM (VALUES ('source_filter', source, sf), ('target_filter', target, tf)) AS f(arg, rel, filter)
			   WHERE f.filter IS NOT NULL LOOP
		BEGIN
			EXECUTE format('SELECT 1 FROM %s WHERE (%s) LIMIT 0', got.rel, got.filter);
		EXCEPTION WHEN OTHERS THEN
			RAISE EXCEPTION 'kant.diff_keys: % does not apply to %: %', got.arg, got.rel, SQLERRM
				USING ERRCODE = SQLSTATE,
					  DETAIL = format('%s: %s', got.arg, got.filter),
					  HINT = 'A boolean expression over the table''s columns, as after WHERE, e.g. business_date = ''2024-01-15''; functions outside pg_catalog are named with their schema.';
		END;
	END LOOP;

	step := round(log(2, bisection_factor))::integer;
	IF kind = 'integer' THEN
		SELECT * INTO got FROM @extschema@._diff_run(@extschema@._diff_both('range',
			@extschema@._diff_sql(1, source, key_column, kind, sf, 'range'),
			@extschema@._diff_sql(2, target, key_column, kind, tf, 'range')));
		queries := queries + 1;
		fetched_s := fetched_s + got.rs;
		fetched_t := fetched_t + got.rt;
		bytes_s := bytes_s + got.bs;
		bytes_t := bytes_t + got.bt;
		key_lo := coalesce(got.b[1], 0);
		key_hi := coalesce(got.b[2], 0);
		-- the first shift that puts the key range into at most bisection_factor^2 segments
		shift := 0;
		WHILE shift < 63 AND (key_hi >> shift)::numeric - (key_lo >> shift) + 1 > bisection_factor::numeric ^ 2 LOOP
			shift := shift + 1;
		END LOOP;
	ELSE
		shift := 64 - 2 * step;
	END IF;

	LOOP
		passes := passes + 1;
		q := @extschema@._diff_both('segments',
			@extschema@._diff_sql(1, source, key_column, kind, sf, 'segments', shift, parent_shifts, parents),
			@extschema@._diff_sql(2, target, key_column, kind, tf, 'segments', shift, parent_shifts, parents));
		IF passes = 1 THEN
			-- say so when a foreign server cannot aggregate: every row would come over
			fetched := @extschema@._diff_fetched(q);
			IF fetched IS NOT NULL THEN
				RAISE WARNING 'kant.diff_keys: the server of % does not aggregate it: every row is fetched', fetched
					USING HINT = 'postgres_fdw pushes down built-in immutable functions and operators only: a filter with current_date, now() or a function of an extension the server''s extensions option does not list is evaluated here. Pass such values as constants.';
			END IF;
			EXECUTE q INTO got;
		ELSE
			SELECT * INTO got FROM @extschema@._diff_run(q);
		END IF;
		queries := queries + 1;
		fetched_s := fetched_s + got.rs;
		fetched_t := fetched_t + got.rt;
		bytes_s := bytes_s + got.bs;
		bytes_t := bytes_t + got.bt;
		IF passes = 1 THEN
			-- the first pass reads whole tables: their rows, and those with a NULL key (segment NULL)
			SELECT coalesce(sum(u.n) FILTER (WHERE u.side = 1), 0), coalesce(sum(u.n) FILTER (WHERE u.side = 2), 0),
				   coalesce(sum(u.n) FILTER (WHERE u.side = 1 AND u.b IS NULL), 0),
				   coalesce(sum(u.n) FILTER (WHERE u.side = 2 AND u.b IS NULL), 0)
			INTO rows_s, rows_t, null_s, null_t
			FROM unnest(got.side, got.b, got.n) AS u(side, b, n);
		END IF;
		-- the segments that differ: small ones (or of one position a side) are compared key by key, others split
		SELECT coalesce(array_agg(d.b ORDER BY d.b) FILTER (WHERE NOT d.leaf), '{}'),
			   leaf_s || coalesce(array_agg(shift) FILTER (WHERE d.leaf), '{}'),
			   leaf_b || coalesce(array_agg(d.b ORDER BY d.b) FILTER (WHERE d.leaf), '{}')
		INTO split, leaf_s, leaf_b
		FROM (SELECT e.b, greatest(e.ns, e.nt) <= bisection_threshold OR shift = 0 OR coalesce(e.single, false) AS leaf
			  FROM (SELECT u.b, coalesce(sum(u.n) FILTER (WHERE u.side = 1), 0) AS ns, coalesce(sum(u.n) FILTER (WHERE u.side = 2), 0) AS nt,
						   sum(u.c) FILTER (WHERE u.side = 1) AS cs, sum(u.c) FILTER (WHERE u.side = 2) AS ct,
						   bool_and(u.one) AS single
					FROM unnest(got.side, got.b, got.n, got.c, got.one) AS u(side, b, n, c, one)
					WHERE u.b IS NOT NULL
					GROUP BY u.b) e
			  WHERE e.ns <> e.nt OR e.cs IS DISTINCT FROM e.ct) d;
		-- keep the first max_keys segments in position order (each holds a differing key)
		IF cardinality(leaf_b) + cardinality(split) > max_keys THEN
			truncated := true;
			SELECT coalesce(array_agg(s.sh ORDER BY s.first) FILTER (WHERE s.leaf), '{}'),
				   coalesce(array_agg(s.b ORDER BY s.first) FILTER (WHERE s.leaf), '{}'),
				   coalesce(array_agg(s.b ORDER BY s.first) FILTER (WHERE NOT s.leaf), '{}')
			INTO leaf_s, leaf_b, split
			FROM (SELECT x.sh, x.b, x.leaf, x.b * 2::numeric ^ x.sh AS first
				  FROM (SELECT l.sh, l.b, true AS leaf FROM unnest(leaf_s, leaf_b) AS l(sh, b)
						UNION ALL
						SELECT shift, p.b, false FROM unnest(split) AS p(b)) x
				  ORDER BY first
				  LIMIT max_keys) s;
		END IF;
		EXIT WHEN cardinality(split) = 0;
		parent_shifts := array_fill(shift, ARRAY[cardinality(split)]);
		parents := split;
		shift := greatest(shift - step, 0);
	END LOOP;

	IF cardinality(leaf_b) > 0 THEN
		SELECT * INTO got FROM @extschema@._diff_run(@extschema@._diff_both('keys',
			@extschema@._diff_sql(1, source, key_column, kind, sf, 'keys', NULL, leaf_s, leaf_b),
			@extschema@._diff_sql(2, target, key_column, kind, tf, 'keys', NULL, leaf_s, leaf_b)));
		queries := queries + 1;
		fetched_s := fetched_s + got.rs;
		fetched_t := fetched_t + got.rt;
		bytes_s := bytes_s + got.bs;
		bytes_t := bytes_t + got.bt;
		k_side := got.side;
		k_key := got.k;
		k_n := got.n;
		k_pos := got.b;
	END IF;

	-- the keys whose counts differ, in position order (a NULL key last), the first max_keys
	SELECT count(*), coalesce(array_agg(x.k ORDER BY x.rn) FILTER (WHERE x.rn <= max_keys), '{}'),
		   coalesce(array_agg(x.ns ORDER BY x.rn) FILTER (WHERE x.rn <= max_keys), '{}'),
		   coalesce(array_agg(x.nt ORDER BY x.rn) FILTER (WHERE x.rn <= max_keys), '{}')
	INTO n_found, d_key, d_s, d_t
	FROM (SELECT y.k, y.ns, y.nt, row_number() OVER (ORDER BY y.pos NULLS LAST, y.k COLLATE "C") AS rn
		  FROM (SELECT u.k, coalesce(sum(u.n) FILTER (WHERE u.side = 1), 0)::bigint AS ns,
					   coalesce(sum(u.n) FILTER (WHERE u.side = 2), 0)::bigint AS nt, min(u.pos) AS pos
				FROM unnest(k_side, k_key, k_n, k_pos) AS u(side, k, n, pos)
				GROUP BY u.k
				UNION ALL
				SELECT NULL, null_s, null_t, NULL WHERE null_s <> null_t) y
		  WHERE y.ns <> y.nt) x;
	truncated := truncated OR n_found > max_keys;

	RETURN jsonb_build_object('source', source::text, 'target', target::text, 'key_column', key_column,
		'source_rows', rows_s, 'target_rows', rows_t,
		'differing_keys', CASE WHEN NOT truncated THEN n_found END, 'truncated', truncated,
		'keys', (SELECT coalesce(jsonb_agg(jsonb_build_object('key', d.k, 'source_count', d.ns, 'target_count', d.nt,
					'problems', (SELECT jsonb_agg(p.problem ORDER BY p.i)
								 FROM (VALUES (1, 'missing_in_target', d.ns > 0 AND d.nt = 0),
											  (2, 'missing_in_source', d.ns = 0 AND d.nt > 0),
											  (3, 'duplicated_in_source', d.ns > 1 AND d.ns > d.nt),
											  (4, 'duplicated_in_target', d.nt > 1 AND d.nt > d.ns)) AS p(i, problem, applies)
								 WHERE p.applies)) ORDER BY d.rn), '[]')
				 FROM unnest(d_key, d_s, d_t) WITH ORDINALITY AS d(k, ns, nt, rn)),
		'queries', queries, 'passes', passes,
		'fetched', jsonb_build_object('source', jsonb_build_object('rows', fetched_s, 'bytes', bytes_s),
									  'target', jsonb_build_object('rows', fetched_t, 'bytes', bytes_t)));
END
$$;
COMMENT ON FUNCTION @extschema@.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer) IS
	'kant.diff_keys as one jsonb value, to keep (e.g. in a check''s result): source, target, key_column; source_rows and target_rows (after the filters); differing_keys (NULL when truncated: more than max_keys keys differ); truncated; keys, the first max_keys in kant.diff_keys''s order, each {key (text, or null for the rows with a NULL key), source_count, target_count, problems: [missing_in_target | missing_in_source | duplicated_in_source | duplicated_in_target, ...]}; queries and passes; fetched: {source, target: {rows, bytes}}, the rows the queries returned from each side and their size in the text protocol. Arguments, rights and errors as kant.diff_keys';
REVOKE ALL ON FUNCTION @extschema@.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer) FROM PUBLIC;

/*
 * kant.diff_keys_report as rows, with a NOTICE of what it cost.
 */
CREATE FUNCTION @extschema@.diff_keys(source regclass, target regclass, key_column name,
		source_filter text DEFAULT NULL, target_filter text DEFAULT NULL, max_keys integer DEFAULT 100,
		bisection_factor integer DEFAULT 64, bisection_threshold integer DEFAULT 1000)
	RETURNS TABLE (key text, source_count bigint, target_count bigint, problem text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r jsonb;
BEGIN
	r := @extschema@.diff_keys_report(source, target, key_column, source_filter, target_filter, max_keys,
									  bisection_factor, bisection_threshold);
	RAISE NOTICE 'kant.diff_keys: keys that differ between % and %: %', r ->> 'source', r ->> 'target',
		CASE WHEN (r ->> 'truncated')::boolean THEN format('more than %s (the first %s are shown)', max_keys, max_keys)
			 ELSE r ->> 'differing_keys' END
		USING DETAIL = format('rows: source %s, target %s; queries: %s, passes: %s; rows fetched: source %s (%s bytes), target %s (%s bytes)',
							  r ->> 'source_rows', r ->> 'target_rows', r ->> 'queries', r ->> 'passes',
							  r #>> '{fetched,source,rows}', r #>> '{fetched,source,bytes}',
							  r #>> '{fetched,target,rows}', r #>> '{fetched,target,bytes}');
	RETURN QUERY
	SELECT k.e ->> 'key', (k.e ->> 'source_count')::bigint, (k.e ->> 'target_count')::bigint, p.problem
	FROM jsonb_array_elements(r -> 'keys') WITH ORDINALITY AS k(e, i)
	CROSS JOIN LATERAL jsonb_array_elements_text(k.e -> 'problems') WITH ORDINALITY AS p(problem, j)
	ORDER BY k.i, p.j;
END
$$;
COMMENT ON FUNCTION @extschema@.diff_keys(regclass, regclass, name, text, text, integer, integer, integer) IS
	'The keys whose number of rows differs between source and target (tables, views or postgres_fdw foreign tables with a key column of the same name: smallint/integer/bigint, text/varchar or uuid), each side filtered by an SQL boolean expression over its columns (source_filter, target_filter; NULL: every row). A row per key and problem: missing_in_target (source_count > 0, target_count 0), missing_in_source, duplicated_in_source (source_count > 1 and above target_count), duplicated_in_target; a key twice in the source and not in the target is missing_in_target and duplicated_in_source (two rows). Rows with a NULL key are one key, NULL, when the sides hold different numbers of them; a key duplicated alike on both sides is no difference. At most max_keys keys: the first in key order (integer keys) or hash order (text, uuid), NULL last. Found as data-diff finds them (datafold/data-diff): count and sum of a 64-bit key hash per segment of the key space, one query a pass over both sides, aggregated by the foreign server (postgres_fdw pushes the queries down); the first pass makes bisection_factor^2 segments, later passes split a segment that differs into bisection_factor (a power of two, 64 by default) until it holds at most bisection_threshold rows (1000), whose keys are fetched. A NOTICE gives both sides'' rows, the queries and passes, and the rows and bytes (text protocol) the queries returned from each side (kant.diff_keys_report: all of it as one jsonb value); a WARNING says when a foreign server cannot aggregate (every row is fetched). Runs as its caller (SECURITY INVOKER; search_path pg_catalog, pg_temp: name other functions in a filter with their schema), in the caller''s snapshot. Errors: 22004 a NULL argument; 22023 max_keys < 1 or a bad bisection setting; 42809 not a table; 42703 no such key column; 0A000 a key type not compared; 42804 different key types; 42601 a filter that is not one expression, or PostgreSQL''s error for one that does not apply to its table, naming the argument';
REVOKE ALL ON FUNCTION @extschema@.diff_keys(regclass, regclass, name, text, text, integer, integer, integer) FROM PUBLIC;

-- sql/src/collect_glue_dq.sql

/*
 * kant: AWS Glue Data Quality results, read by the Glue collector.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * kant.collect_glue(system), when the system's Data Quality collection is on,
 * lists the results started since the watermark below (ListDataQualityResults,
 * paged by NextToken), fetches them a hundred at a time
 * (BatchGetDataQualityResult) and hands each reply to
 * kant.ingest_glue_data_quality (src/collect_glue.c).
 */

CREATE TABLE @extschema@.glue_dq_source (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	enabled			boolean NOT NULL DEFAULT true,
	read_until		timestamptz,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	last_read_at	timestamptz,
	last_results	integer,
	last_rejected	integer
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.glue_dq_source', '');
COMMENT ON TABLE @extschema@.glue_dq_source IS
	'Glue systems whose AWS Glue Data Quality results kant.collect_glue reads after the job runs (kant.set_glue_data_quality), and how far it has read them';
COMMENT ON COLUMN @extschema@.glue_dq_source.enabled IS 'false: the collector reads no results (the watermark is kept for when it is on again)';
COMMENT ON COLUMN @extschema@.glue_dq_source.read_until IS
	'watermark: StartedOn of the newest result ingested (not quarantined) by a collection that fetched every result it listed, but no later than that collection started; the next lists the results started after it minus the system''s overlap. NULL: every result Glue lists, as the first collection of job runs reads every run';
COMMENT ON COLUMN @extschema@.glue_dq_source.updated_at IS 'when the switch or the watermark last changed';
COMMENT ON COLUMN @extschema@.glue_dq_source.last_read_at IS 'when a collection last fetched every result it listed, or NULL';
COMMENT ON COLUMN @extschema@.glue_dq_source.last_results IS 'results that collection fetched and handed to kant.ingest_glue_data_quality';
COMMENT ON COLUMN @extschema@.glue_dq_source.last_rejected IS 'of those, results it kept in kant.rejected (e.g. of a job run kant does not hold)';

CREATE FUNCTION @extschema@.set_glue_data_quality(system text, enabled boolean DEFAULT true)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	k text;
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'enabled must be true or false, not NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT s.system_id, s.kind INTO sid, k FROM @extschema@.system s WHERE s.name = set_glue_data_quality.system;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF k <> 'glue' THEN
		RAISE EXCEPTION 'system "%" is of kind %, not glue', system, k
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Data Quality results are read from AWS Glue (ListDataQualityResults).';
	END IF;
	INSERT INTO @extschema@.glue_dq_source AS d (system_id, enabled)
	VALUES (sid, set_glue_data_quality.enabled)
	ON CONFLICT (system_id) DO UPDATE SET enabled = excluded.enabled, updated_at = now()
		WHERE d.enabled IS DISTINCT FROM excluded.enabled;
END
$$;
COMMENT ON FUNCTION @extschema@.set_glue_data_quality(text, boolean) IS
	'Switch on (or off) reading a glue system''s AWS Glue Data Quality results in kant.collect_glue: after the job runs, the results started since the last ones read (ListDataQualityResults, BatchGetDataQualityResult; the credentials need glue:ListDataQualityResults and glue:BatchGetDataQualityResult) go to kant.ingest_glue_data_quality. Switched off and on again, it goes on from where it stopped';
REVOKE ALL ON FUNCTION @extschema@.set_glue_data_quality(text, boolean) FROM PUBLIC;

-- sql/src/quality_ingest.sql

/*
 * kant: Data quality from the tools teams already run: dbt's
 * run_results.json, Great Expectations validation results, AWS Glue Data
 * Quality results and OpenLineage's data-quality facets, read as their
 * projects write them.
 *
 * Part of the install script sql/kant--0.6.0.sql (built from sql/src in the
 * order of SQL_SRC); change a definition here AND in the upgrade script of
 * the version being made.
 *
 * Each tool's test becomes an assertion (kant.dq_assertion: its outcome per
 * dataset and business date, judged by an assertion check), each number it
 * measured a metric (kant.dq_metric, as kant.report_metric stores it).  A
 * record of the wrong shape is kept in kant.rejected with its reason while
 * the others of the payload land.  No tool writes a business date: it comes
 * from the caller, a dbt var, a GX batch identifier, or the job run kant
 * already holds (Glue JobRunId, OpenLineage runId).
 */

/*
 * A tool's name of a dataset: an alias (kant.dataset_alias), a dataset of
 * that name, or a new dataset (UTC) when the name is one kant takes; NULL
 * otherwise.
 */
CREATE FUNCTION @extschema@._dq_resolve(name text) RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
BEGIN
	SELECT a.dataset_id INTO id FROM @extschema@.dataset_alias a WHERE a.alias = $1;
	IF id IS NULL AND $1 ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$-]{0,199}$' THEN
		id := @extschema@._dq_dataset($1);
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_resolve(text) IS
	'internal: the dataset a tool''s name means: an alias, a dataset of that name, or a new one (UTC) if the name is one kant takes; NULL otherwise';
REVOKE ALL ON FUNCTION @extschema@._dq_resolve(text) FROM PUBLIC;

/* A metric name from a tool's: lower-case, the column in the characters a metric takes. */
CREATE FUNCTION @extschema@._dq_metric_name(name text, col text DEFAULT NULL) RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT left(lower(regexp_replace(regexp_replace($1, '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^A-Za-z0-9_]', '_', 'g')), 63)
		|| CASE WHEN $2 IS NOT NULL AND $2 <> '' THEN ':' || left(regexp_replace($2, '[^A-Za-z0-9_.$-]', '_', 'g'), 128) ELSE '' END
	$$;
COMMENT ON FUNCTION @extschema@._dq_metric_name(text, text) IS
	'internal: a kant metric name from a tool''s (RowCount -> row_count; a column after :, characters a metric name does not take as _)';
REVOKE ALL ON FUNCTION @extschema@._dq_metric_name(text, text) FROM PUBLIC;

/* The business date of a job run kant holds, by its system, job and the tool's run id. */
CREATE FUNCTION @extschema@._dq_run_date(system_id integer, job_name text, run_ref text) RETURNS date
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT r.business_date FROM @extschema@.job j
	JOIN @extschema@.job_run r ON r.job_id = j.job_id
	WHERE j.system_id = $1 AND j.name = $2
	  AND (r.external_id = $3 OR r.details ->> 'ol_run_id' = $3)
	ORDER BY r.attempt DESC LIMIT 1
	$$;
COMMENT ON FUNCTION @extschema@._dq_run_date(integer, text, text) IS
	'internal: the business date of the run a tool''s result belongs to (Glue JobRunId, OpenLineage runId), or NULL when kant does not hold it';
REVOKE ALL ON FUNCTION @extschema@._dq_run_date(integer, text, text) FROM PUBLIC;

/* An ingest_batch row for a tool's payload. */
CREATE FUNCTION @extschema@._dq_batch(source text, system_id integer, payload jsonb, received integer)
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.ingest_batch (source, system_id, received_at, received_by, received, payload_bytes,
		payload_sha256)
	VALUES ($1, $2, clock_timestamp(), pg_get_userbyid(@extschema@._outer_role()), $4,
		octet_length($3::text), sha256(convert_to($3::text, 'UTF8')))
	RETURNING batch_id
	$$;
COMMENT ON FUNCTION @extschema@._dq_batch(text, integer, jsonb, integer) IS
	'internal: record a tool''s payload in kant.ingest_batch; its id';
REVOKE ALL ON FUNCTION @extschema@._dq_batch(text, integer, jsonb, integer) FROM PUBLIC;

/*
 * Close a tool's batch: the counts, and one WARNING for what was kept in
 * kant.rejected (each record's reason is there).
 */
CREATE FUNCTION @extschema@._dq_batch_done(batch_id bigint, source text, inserted integer, updated integer,
		unchanged integer, rejected integer)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first record;
BEGIN
	UPDATE @extschema@.ingest_batch b SET finished_at = clock_timestamp(), inserted = $3, updated = $4,
		unchanged = $5, rejected = $6
	WHERE b.batch_id = $1;
	IF rejected > 0 THEN
		SELECT r.item_path, r.reason INTO first FROM @extschema@.rejected r
		WHERE r.last_batch_id = $1 ORDER BY r.item_index LIMIT 1;
		RAISE WARNING 'kant: % % record(s) rejected; the first, at %: %', rejected, source,
			coalesce(first.item_path, '?'), coalesce(first.reason, '?')
			USING DETAIL = format('Each is kept in kant.rejected with its reason (batch %s); the other records of the payload are stored.', $1);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_batch_done(bigint, text, integer, integer, integer, integer) IS
	'internal: finish a tool''s batch (counts in kant.ingest_batch) and warn once about its rejected records';
REVOKE ALL ON FUNCTION @extschema@._dq_batch_done(bigint, text, integer, integer, integer, integer) FROM PUBLIC;

/* A time a tool wrote: ISO 8601, GX's 20200430T191246.763896Z, or epoch seconds (AWS JSON). */
CREATE FUNCTION @extschema@._dq_time(v jsonb) RETURNS timestamptz
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF jsonb_typeof(v) = 'number' THEN
		RETURN to_timestamp((v #>> '{}')::double precision);
	ELSIF jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\d{8}T\d{6}(\.\d+)?Z$' THEN
		RETURN make_timestamptz(substr(v #>> '{}', 1, 4)::integer, substr(v #>> '{}', 5, 2)::integer,
			substr(v #>> '{}', 7, 2)::integer, substr(v #>> '{}', 10, 2)::integer, substr(v #>> '{}', 12, 2)::integer,
			substring(v #>> '{}' FROM '^\d{8}T\d{4}(\d\d(?:\.\d+)?)Z$')::double precision, 'UTC');
	ELSIF jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|z|[+-]\d\d(:?\d\d)?)$' THEN
		RETURN (v #>> '{}')::timestamptz;
	END IF;
	RETURN NULL;
EXCEPTION WHEN data_exception THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_time(jsonb) IS
	'internal: a time as a tool wrote it (ISO 8601 with a zone, GX''s YYYYMMDDTHHMMSS.ffffffZ, AWS epoch seconds), or NULL';
REVOKE ALL ON FUNCTION @extschema@._dq_time(jsonb) FROM PUBLIC;

/*
 * dbt: run_results.json (schemas v1 to v6, dbt 0.19 to 1.11), with the
 * manifest.json of the same invocation, which names the model a test is
 * on.  Following dbt-core's test runner (core/dbt/task/test.py): status
 * pass / fail / warn / error / skipped; failures counts failing rows for
 * fail and warn and is 0 for pass; message is the error or "Got N
 * results, configured to fail if != 0".
 */
CREATE FUNCTION @extschema@.ingest_dbt_run_results(run_results jsonb, manifest jsonb DEFAULT NULL,
		business_date date DEFAULT NULL, date_var text DEFAULT NULL,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer,
		OUT rejected integer, OUT ignored integer, OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	who text := pg_get_userbyid(@extschema@._outer_role());
	ver text := run_results #>> '{metadata,dbt_schema_version}';
	results jsonb := run_results -> 'results';
	vars jsonb := run_results #> '{args,vars}';
	bd date := business_date;
	res jsonb;
	i integer;
	uid text;
	node jsonb;
	model text;
	rel jsonb;
	did integer;
	outcome text;
	problem text;
	field text;
	at timestamptz;
	r text;
BEGIN
	inserted := 0; updated := 0; unchanged := 0; rejected := 0; ignored := 0;
	IF jsonb_typeof(run_results) IS DISTINCT FROM 'object' OR jsonb_typeof(results) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'run_results is not a dbt run_results.json: an object with "metadata" and a "results" array'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass target/run_results.json of a dbt test or dbt build, with its target/manifest.json.';
	END IF;
	received := jsonb_array_length(results);
	IF bd IS NULL AND date_var IS NOT NULL THEN
		-- dbt writes args.vars as an object (1.x) or the --vars YAML as text (older)
		bd := CASE WHEN jsonb_typeof(vars) = 'object' AND vars ->> date_var ~ '^\d{4}-\d\d-\d\d$' THEN (vars ->> date_var)::date
				   -- YAML or JSON text: {ds: 2024-01-15}, {"ds": "2024-01-15"}
				   WHEN jsonb_typeof(vars) = 'string' THEN (substring(vars #>> '{}' FROM '(?:^|[{,\s])[''"]?' || regexp_replace(date_var, '\W', '', 'g')
														|| '[''"]?\s*:\s*[''"]?(\d{4}-\d\d-\d\d)'))::date END;
	END IF;
	IF bd IS NULL OR bd NOT BETWEEN date '1970-01-01' AND date '2999-12-31' THEN
		RAISE EXCEPTION 'no business date for these dbt results%', CASE WHEN date_var IS NOT NULL
			THEN format(': args.vars has no %s in YYYY-MM-DD', date_var) ELSE '' END
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'dbt writes none: pass business_date, or date_var naming the --vars key the run was given (e.g. date_var => ''ds'').';
	END IF;
	batch_id := @extschema@._dq_batch('dbt', NULL, run_results, received);
	IF ver IS NULL OR substring(ver FROM '/dbt/run-results/v(\d+)\.json$')::integer NOT BETWEEN 1 AND 6 THEN
		-- a shape kant was not written for: kept whole, nothing guessed from it
		PERFORM @extschema@._dq_reject(batch_id, 0, 'metadata.dbt_schema_version', '22023',
			format('dbt_schema_version %s is not one kant reads (run-results v1 to v6)', coalesce(ver, 'missing')),
			'kant reads the run_results of dbt 0.19 to 1.11 (https://schemas.getdbt.com/dbt/run-results/v1.json to v6.json).',
			run_results, 'dbt', NULL, '$.metadata.dbt_schema_version');
		rejected := received;
		PERFORM @extschema@._dq_batch_done(batch_id, 'dbt', 0, 0, 0, received);
		RETURN;
	END IF;
	FOR res, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(results) WITH ORDINALITY x(e, o)
				  ORDER BY e ->> 'unique_id', o LOOP
		problem := NULL; field := ''; uid := NULL; did := NULL;
		BEGIN
		IF jsonb_typeof(res) IS DISTINCT FROM 'object' THEN
			problem := 'a result is an object';
		ELSIF jsonb_typeof(res -> 'unique_id') IS DISTINCT FROM 'string' THEN
			field := 'unique_id'; problem := 'unique_id is missing or not a string';
		ELSIF res ->> 'unique_id' !~ '^(test|unit_test)\.' THEN
			ignored := ignored + 1;		-- a model, seed or snapshot: not a test
			CONTINUE;
		ELSIF jsonb_typeof(res -> 'status') IS DISTINCT FROM 'string' THEN
			field := 'status'; problem := 'status is missing or not a string';
		ELSIF coalesce(jsonb_typeof(res -> 'failures'), 'null') NOT IN ('null', 'number')
			  OR (jsonb_typeof(res -> 'failures') = 'number' AND (res ->> 'failures')::numeric <> trunc((res ->> 'failures')::numeric)) THEN
			field := 'failures'; problem := format('failures %s is not a count of failing rows', left(res ->> 'failures', 60));
		ELSE
			uid := res ->> 'unique_id';
			outcome := CASE res ->> 'status' WHEN 'pass' THEN 'pass' WHEN 'fail' THEN 'fail' WHEN 'warn' THEN 'warn'
						   WHEN 'error' THEN 'error' WHEN 'runtime error' THEN 'error' WHEN 'skipped' THEN 'skipped' END;
			node := coalesce(manifest #> ARRAY['nodes', uid], manifest #> ARRAY['unit_tests', uid]);
			IF outcome IS NULL THEN
				field := 'status'; problem := format('status %s is not a test''s (pass, fail, warn, error, skipped)', res ->> 'status');
			ELSIF manifest IS NULL THEN
				field := 'unique_id'; problem := 'run_results does not say which model a test is on';
			ELSIF node IS NULL THEN
				field := 'unique_id'; problem := format('test %s is not in the manifest', uid);
			ELSE
				-- the model the test is declared on (dbt >= 1.5), else its last
				-- model/source/seed parent, as OpenLineage's dbt processor takes it
				model := coalesce(node ->> 'attached_node',
					(SELECT n FROM jsonb_array_elements_text(node #> '{depends_on,nodes}') WITH ORDINALITY x(n, o)
					 WHERE n ~ '^(model|source|seed|snapshot)\.' ORDER BY o DESC LIMIT 1));
				-- (depends_on.nodes of another type than a list raises: the handler below keeps the result)
				rel := coalesce(manifest #> ARRAY['nodes', model], manifest #> ARRAY['sources', model]);
				SELECT a.dataset_id INTO did FROM @extschema@.dataset_alias a WHERE a.alias = model;
				IF did IS NULL AND rel IS NOT NULL THEN
					did := @extschema@._dq_resolve(concat_ws('.', rel ->> 'database', rel ->> 'schema',
						coalesce(rel ->> 'identifier', rel ->> 'alias', rel ->> 'name')));
				END IF;
				IF did IS NULL THEN
					field := 'unique_id';
					problem := format('the model of test %s (%s) names no dataset', uid, coalesce(model, 'none in the manifest'));
				END IF;
			END IF;
		END IF;
		IF problem IS NOT NULL THEN
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, field, '22023', problem,
				'A dbt result: {"unique_id": "test.…", "status": pass|fail|warn|error|skipped, "failures": n}, its test in manifest.nodes; a model named by kant.add_dataset(aliases => ARRAY[''model.pkg.name''] or its database.schema.alias).',
				res, 'dbt', NULL, format('$.results[%s]', i) || CASE WHEN field <> '' THEN '.' || field ELSE '' END);
			CONTINUE;
		END IF;
		at := least(clock_timestamp(), coalesce((SELECT @extschema@._dq_time(t -> 'completed_at') FROM jsonb_array_elements(
							CASE jsonb_typeof(res -> 'timing') WHEN 'array' THEN res -> 'timing' ELSE '[]' END) t
						WHERE t ->> 'name' = 'execute' LIMIT 1),
					   @extschema@._dq_time(run_results #> '{metadata,generated_at}'), clock_timestamp()));
		r := @extschema@._dq_assert(did, bd, 'dbt', uid, outcome,
			CASE WHEN upper(node #>> '{config,severity}') = 'WARN' THEN 'warning' ELSE 'critical' END,
			(res ->> 'failures')::numeric,
			CASE WHEN node #>> '{config,error_if}' IS NOT NULL
				 THEN format('fail if failures %s, warn if %s', node #>> '{config,error_if}', coalesce(node #>> '{config,warn_if}', '-')) END,
			concat_ws(': ', coalesce(node #>> '{test_metadata,name}', 'singular test') ||
						  coalesce(' on ' || (node ->> 'column_name'), ''), res ->> 'message'),
			at, run_results #>> '{metadata,invocation_id}', who, batch_id);
		CASE r WHEN 'inserted' THEN inserted := inserted + 1; WHEN 'updated' THEN updated := updated + 1;
			   ELSE unchanged := unchanged + 1; END CASE;
		EXCEPTION WHEN data_exception OR invalid_parameter_value OR program_limit_exceeded THEN
			-- a manifest or result of another shape than the checks above catch
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, '', SQLSTATE, SQLERRM,
				'A dbt result and its manifest node as dbt writes them (schemas.getdbt.com).',
				res, 'dbt', NULL, format('$.results[%s]', i));
		END;
	END LOOP;
	PERFORM @extschema@._dq_batch_done(batch_id, 'dbt', inserted, updated, unchanged, rejected);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_dbt_run_results(jsonb, jsonb, date, text) IS
	'Ingest dbt''s target/run_results.json (schemas v1 to v6: dbt 0.19 to 1.11) for a business date (business_date, or date_var: the --vars key holding it), with the manifest.json of the same invocation: each test''s status (pass, fail, warn, error, skipped) and failures become an assertion of the model it tests (the dataset aliased to the model''s unique_id, else named database.schema.alias), judged by an assertion check made on first sight (severity from the test''s config). Models are ignored; a result of another shape is kept in kant.rejected (source dbt). Returns the counts and the batch. 22023 when the business date is missing or the payload is not run_results';
REVOKE ALL ON FUNCTION @extschema@.ingest_dbt_run_results(jsonb, jsonb, date, text) FROM PUBLIC;

/*
 * Great Expectations: an ExpectationSuiteValidationResult (0.x: meta's
 * expectation_suite_name, expectation_config.expectation_type; 1.x:
 * suite_name, expectation_config.type), a list of them, or a checkpoint
 * result whose run_results hold them (0.x: under validation_result).
 */
CREATE FUNCTION @extschema@.ingest_great_expectations(result jsonb, business_date date DEFAULT NULL,
		dataset text DEFAULT NULL, date_key text DEFAULT NULL,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer,
		OUT rejected integer, OUT ignored integer, OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	repeated text[];
	who text := pg_get_userbyid(@extschema@._outer_role());
	suites jsonb;
	suite jsonb;
	s integer;
	meta jsonb;
	evr jsonb;
	i integer;
	did integer;
	bd date;
	dname text;
	kind text;
	col text;
	name text;
	outcome text;
	observed numeric;
	at timestamptz;
	ref text;
	r text;
	problem text;
	rows_metric numeric;
	ok_counts boolean;
	suite_name text;
BEGIN
	inserted := 0; updated := 0; unchanged := 0; rejected := 0; ignored := 0; received := 0;
	suites := CASE WHEN jsonb_typeof(result) = 'array' THEN result
				   WHEN jsonb_typeof(result -> 'run_results') = 'object' THEN
						(SELECT coalesce(jsonb_agg(coalesce(v -> 'validation_result', v) ORDER BY k), '[]')
						 FROM jsonb_each(result -> 'run_results') x(k, v))
				   WHEN jsonb_typeof(result -> 'results') = 'array' THEN jsonb_build_array(result) END;
	IF suites IS NULL THEN
		RAISE EXCEPTION 'result is not a Great Expectations validation result'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass an ExpectationSuiteValidationResult ({"success", "results": [...], "meta"}), a list of them, or a checkpoint result (run_results).';
	END IF;
	batch_id := @extschema@._dq_batch('great_expectations', NULL, result, 0);
	-- suites in one order too (by name), so two payloads never deadlock
	FOR suite, s IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(suites) WITH ORDINALITY x(e, o)
					ORDER BY coalesce(e ->> 'suite_name', e #>> '{meta,expectation_suite_name}'), o LOOP
		meta := CASE jsonb_typeof(suite -> 'meta') WHEN 'object' THEN suite -> 'meta' ELSE '{}' END;
		problem := NULL; did := NULL; bd := NULL;
		dname := coalesce(dataset, meta #>> '{active_batch_definition,data_asset_name}',
			CASE WHEN meta #>> '{batch_spec,table_name}' IS NOT NULL
				 THEN concat_ws('.', meta #>> '{batch_spec,schema_name}', meta #>> '{batch_spec,table_name}') END,
			meta #>> '{batch_kwargs,table}', meta #>> '{batch_kwargs,data_asset_name}', meta ->> 'data_asset_name');
		BEGIN
			bd := coalesce(business_date, CASE WHEN date_key IS NOT NULL THEN
				substring(coalesce(meta #>> ARRAY['active_batch_definition', 'batch_identifiers', date_key],
								   meta #>> ARRAY['batch_parameters', date_key], meta #>> ARRAY['batch_kwargs', date_key])
						  FROM '^(\d{4}-\d\d-\d\d)')::date END);
		EXCEPTION WHEN data_exception THEN
			bd := NULL;		-- 2026-02-30: said below as no business date
		END;
		IF jsonb_typeof(suite -> 'results') IS DISTINCT FROM 'array' THEN
			problem := 'a validation result has a "results" array';
		ELSIF dname IS NULL THEN
			problem := 'the validation result names no data asset';
		ELSIF bd IS NULL OR bd NOT BETWEEN date '1970-01-01' AND date '2999-12-31' THEN
			problem := CASE WHEN date_key IS NULL THEN 'no business date: pass business_date or date_key'
							ELSE format('the batch has no %s in YYYY-MM-DD', date_key) END;
		ELSE
			did := @extschema@._dq_resolve(dname);
			IF did IS NULL THEN
				problem := format('data asset %s names no dataset', dname);
			END IF;
		END IF;
		IF problem IS NOT NULL THEN
			received := received + 1; rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, s, '', '22023', problem,
				'Give dataset => (or an alias of the data asset: kant.add_dataset(aliases =>)) and business_date => or date_key => (a batch identifier).',
				suite, 'great_expectations', NULL, format('$[%s]', s));
			CONTINUE;
		END IF;
		-- 0.x may write run_id as its time, 20200322T170247.671855Z
		at := least(clock_timestamp(), coalesce(@extschema@._dq_time(meta -> 'validation_time'),
			@extschema@._dq_time(meta #> '{run_id,run_time}'), @extschema@._dq_time(meta -> 'run_id'), clock_timestamp()));
		suite_name := coalesce(suite ->> 'suite_name', meta ->> 'expectation_suite_name');
		ref := coalesce(meta ->> 'validation_id', meta #>> '{run_id,run_name}',
						CASE jsonb_typeof(meta -> 'run_id') WHEN 'string' THEN meta ->> 'run_id' END);
		rows_metric := NULL;
		-- type:column that the suite holds more than once, counted once per suite
		repeated := ARRAY(
			SELECT t || coalesce(':' || c, '') FROM jsonb_array_elements(suite -> 'results') y,
				LATERAL (SELECT coalesce(y #>> '{expectation_config,type}', y #>> '{expectation_config,expectation_type}') AS t,
								CASE jsonb_typeof(y #> '{expectation_config,kwargs}') WHEN 'object'
									 THEN y #>> '{expectation_config,kwargs,column}' END AS c) z
			WHERE t IS NOT NULL GROUP BY t, c HAVING count(*) > 1);
		-- stored in one order (type, column), whatever the payload's: two payloads
		-- with the same expectations in opposite orders wait, never deadlock
		FOR evr, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(suite -> 'results') WITH ORDINALITY x(e, o)
					  ORDER BY coalesce(e #>> '{expectation_config,type}', e #>> '{expectation_config,expectation_type}'),
							   e #>> '{expectation_config,kwargs,column}', o LOOP
			received := received + 1;
			BEGIN
			kind := coalesce(evr #>> '{expectation_config,type}', evr #>> '{expectation_config,expectation_type}');
			IF jsonb_typeof(evr) IS DISTINCT FROM 'object' OR kind IS NULL
			   OR jsonb_typeof(evr -> 'success') IS DISTINCT FROM 'boolean' THEN
				rejected := rejected + 1;
				PERFORM @extschema@._dq_reject(batch_id, i, 'expectation_config', '22023',
					'an expectation result has success (true or false) and expectation_config with its type',
					'GX writes {"success", "expectation_config": {"type" (1.x) or "expectation_type" (0.x), "kwargs"}, "result", "exception_info"}.',
					evr, 'great_expectations', NULL, format('$[%s].results[%s]', s, i));
				CONTINUE;
			END IF;
			col := CASE jsonb_typeof(evr #> '{expectation_config,kwargs}') WHEN 'object'
						THEN evr #>> '{expectation_config,kwargs,column}' END;
			-- two suites may test the same column: the suite is part of the name
			name := coalesce(suite_name || '/', '') || kind || coalesce(':' || col, '');
			-- the same expectation twice with other kwargs: each named by its kwargs,
			-- whatever the order they come in
			IF kind || coalesce(':' || col, '') = ANY (repeated) THEN
				name := name || '#' || left(md5(coalesce(evr #>> '{expectation_config,kwargs}', '')), 8);
			END IF;
			outcome := CASE WHEN evr #> '{exception_info,raised_exception}' = 'true' THEN 'error'
							WHEN (evr ->> 'success')::boolean THEN 'pass' ELSE 'fail' END;
			observed := CASE WHEN jsonb_typeof(evr #> '{result,unexpected_count}') = 'number' THEN (evr #>> '{result,unexpected_count}')::numeric
							 WHEN jsonb_typeof(evr #> '{result,observed_value}') = 'number' THEN (evr #>> '{result,observed_value}')::numeric END;
			r := @extschema@._dq_assert(did, bd, 'great_expectations', name, outcome,
				CASE lower(evr #>> '{expectation_config,severity}') WHEN 'warning' THEN 'warning' WHEN 'info' THEN 'warning' ELSE 'critical' END,
				CASE WHEN abs(observed) < 1e30 THEN observed END,
				left((CASE jsonb_typeof(evr #> '{expectation_config,kwargs}') WHEN 'object'
						  THEN (evr #> '{expectation_config,kwargs}') - 'column' - 'batch_id' - 'result_format'
						  ELSE evr #> '{expectation_config,kwargs}' END)::text, 2000),
				CASE WHEN outcome = 'error' THEN evr #>> '{exception_info,exception_message}'
					 WHEN evr #> '{result,unexpected_percent}' IS NOT NULL
					 THEN format('%s%% unexpected', evr #>> '{result,unexpected_percent}') END,
				at, ref, who, batch_id);
			CASE r WHEN 'inserted' THEN inserted := inserted + 1; WHEN 'updated' THEN updated := updated + 1;
				   ELSE unchanged := unchanged + 1; END CASE;
			-- the numbers GX measured, as metrics: rows, nulls
			ok_counts := outcome <> 'error';
			IF ok_counts AND kind IN ('expect_table_row_count_to_be_between', 'expect_table_row_count_to_equal')
			   AND jsonb_typeof(evr #> '{result,observed_value}') = 'number' THEN
				rows_metric := (evr #>> '{result,observed_value}')::numeric;
			ELSIF ok_counts AND kind = 'expect_table_row_count_to_equal_other_table'
				  AND jsonb_typeof(evr #> '{result,observed_value,self}') = 'number' THEN
				rows_metric := (evr #>> '{result,observed_value,self}')::numeric;
			ELSIF ok_counts AND rows_metric IS NULL AND jsonb_typeof(evr #> '{result,element_count}') = 'number' THEN
				rows_metric := (evr #>> '{result,element_count}')::numeric;
			END IF;
			IF ok_counts AND kind = 'expect_column_values_to_not_be_null' AND col IS NOT NULL
			   AND jsonb_typeof(evr #> '{result,unexpected_count}') = 'number'
			   AND (@extschema@._dq_problem('x', bd, @extschema@._dq_metric_name('null_count', col),
											(evr #>> '{result,unexpected_count}')::numeric, NULL, at)).problem IS NULL THEN
				PERFORM @extschema@._dq_store(did, bd, @extschema@._dq_metric_name('null_count', col),
					(evr #>> '{result,unexpected_count}')::numeric, NULL, at, 'great_expectations', who, batch_id);
			END IF;
			EXCEPTION WHEN data_exception OR invalid_parameter_value OR program_limit_exceeded THEN
				-- a record of another shape than the checks above catch: kept, the others go on
				rejected := rejected + 1;
				PERFORM @extschema@._dq_reject(batch_id, i, 'results', SQLSTATE, SQLERRM,
					'GX writes {"success", "expectation_config": {"type", "kwargs": {...}}, "result": {...}, "exception_info": {"raised_exception": bool}}.',
					evr, 'great_expectations', NULL, format('$[%s].results[%s]', s, i));
			END;
		END LOOP;
		IF (@extschema@._dq_problem('x', bd, 'row_count', rows_metric, NULL, at)).problem IS NULL THEN
			PERFORM @extschema@._dq_store(did, bd, 'row_count', rows_metric, NULL, at, 'great_expectations', who, batch_id);
		END IF;
	END LOOP;
	UPDATE @extschema@.ingest_batch b SET received = ingest_great_expectations.received
	WHERE b.batch_id = ingest_great_expectations.batch_id;
	PERFORM @extschema@._dq_batch_done(batch_id, 'great_expectations', inserted, updated, unchanged, rejected);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_great_expectations(jsonb, date, text, text) IS
	'Ingest Great Expectations validation results (0.x or 1.x: a suite validation result, a list, or a checkpoint result) for a business date (business_date, or date_key: the batch identifier or parameter holding it) and a dataset (dataset, else the data asset''s name or an alias of it): each expectation''s success becomes an assertion (<suite>/<expectation type>:<column>; an exception is error), judged by an assertion check made on first sight; row counts (table row-count expectations, element_count) and not-null unexpected counts become the metrics row_count and null_count:<column>. A result of another shape is kept in kant.rejected (source great_expectations). Returns the counts and the batch; 22023 when the payload is not a validation result';
REVOKE ALL ON FUNCTION @extschema@.ingest_great_expectations(jsonb, date, text, text) FROM PUBLIC;

/*
 * AWS Glue Data Quality: GetDataQualityResult's reply, BatchGetDataQualityResult's
 * ({"Results", "ResultsNotFound"}) or a list of results, as botocore's Glue
 * model (2017-03-31) shapes them: RuleResults with Result PASS / FAIL /
 * ERROR and EvaluatedMetrics named as DQDL reports them (Dataset.*.RowCount,
 * Column.<column>.Completeness, ...); times are epoch seconds.
 */
CREATE FUNCTION @extschema@.ingest_glue_data_quality(system text, payload jsonb,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer,
		OUT rejected integer, OUT ignored integer, OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	who text := pg_get_userbyid(@extschema@._outer_role());
	sid integer;
	results jsonb;
	res jsonb;
	i integer;
	rule jsonb;
	did integer;
	bd date;
	dname text;
	problem text;
	field text;
	at timestamptz;
	m record;
	metric text;
	rows_v numeric;
	r text;
	name text;
BEGIN
	SELECT s.system_id INTO sid FROM @extschema@.system s WHERE s.name = ingest_glue_data_quality.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'The Glue system whose job runs the results belong to (kant.add_system).';
	END IF;
	results := CASE WHEN jsonb_typeof(payload) = 'array' THEN payload
					WHEN jsonb_typeof(payload -> 'Results') = 'array' THEN payload -> 'Results'
					WHEN jsonb_typeof(payload) = 'object' AND payload ? 'ResultId' THEN jsonb_build_array(payload) END;
	IF results IS NULL THEN
		RAISE EXCEPTION 'payload is not a Glue Data Quality result'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the reply of GetDataQualityResult, of BatchGetDataQualityResult ({"Results": [...]}) or a list of results.';
	END IF;
	inserted := 0; updated := 0; unchanged := 0; rejected := 0; ignored := 0;
	received := jsonb_array_length(results);
	batch_id := @extschema@._dq_batch('glue_data_quality', sid, payload, received);
	FOR res, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(results) WITH ORDINALITY x(e, o)
				  ORDER BY e ->> 'ResultId', o LOOP
		problem := NULL; field := ''; did := NULL; bd := NULL; dname := NULL;
		IF jsonb_typeof(res) IS DISTINCT FROM 'object' THEN
			problem := 'a result is an object';
		ELSIF jsonb_typeof(res -> 'ResultId') IS DISTINCT FROM 'string' THEN
			field := 'ResultId'; problem := 'ResultId is missing or not a string';
		ELSIF jsonb_typeof(res -> 'RuleResults') IS DISTINCT FROM 'array' THEN
			field := 'RuleResults'; problem := 'RuleResults is missing or not a list';
		ELSIF EXISTS (SELECT FROM jsonb_array_elements(res -> 'RuleResults') x
					  WHERE jsonb_typeof(x) <> 'object' OR jsonb_typeof(x -> 'Name') IS DISTINCT FROM 'string'
						 OR coalesce(x ->> 'Result', '') NOT IN ('PASS', 'FAIL', 'ERROR')
						 OR coalesce(jsonb_typeof(x -> 'EvaluatedMetrics'), 'object') <> 'object'
						 -- a metric is a NullableDouble: a number, null, or NaN / Infinity as AWS JSON writes them
						 OR EXISTS (SELECT FROM jsonb_each(CASE jsonb_typeof(x -> 'EvaluatedMetrics') WHEN 'object'
														   THEN x -> 'EvaluatedMetrics' ELSE '{}' END) v
									WHERE jsonb_typeof(v.value) NOT IN ('number', 'null')
									  AND v.value #>> '{}' NOT IN ('NaN', 'Infinity', '-Infinity'))) THEN
			field := 'RuleResults'; problem := 'a rule result needs Name, Result (PASS, FAIL or ERROR) and EvaluatedMetrics of numbers';
		ELSE
			dname := CASE WHEN res #>> '{DataSource,GlueTable,TableName}' IS NOT NULL
							THEN concat_ws('.', res #>> '{DataSource,GlueTable,DatabaseName}', res #>> '{DataSource,GlueTable,TableName}')
						  WHEN res #>> '{DataSource,DataQualityGlueTable,TableName}' IS NOT NULL
							THEN concat_ws('.', res #>> '{DataSource,DataQualityGlueTable,DatabaseName}', res #>> '{DataSource,DataQualityGlueTable,TableName}')
						  WHEN res ->> 'JobName' IS NOT NULL
							THEN concat_ws('/', res ->> 'JobName', res ->> 'EvaluationContext') END;
			did := @extschema@._dq_resolve(dname);
			bd := @extschema@._dq_run_date(sid, res ->> 'JobName', res ->> 'JobRunId');
			IF did IS NULL THEN
				field := 'DataSource';
				problem := format('the result''s table %s names no dataset', coalesce(dname, '(none: no DataSource and no JobName)'));
			ELSIF bd IS NULL THEN
				field := 'JobRunId';
				problem := format('job run %s of %s is not one kant holds, so the business date is not known',
					coalesce(res ->> 'JobRunId', '(none)'), coalesce(res ->> 'JobName', '(no job)'));
			END IF;
		END IF;
		IF problem IS NOT NULL THEN
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, field, '22023', problem,
				CASE field WHEN 'JobRunId' THEN 'Collect the job''s runs first; a ruleset run outside a job has no business date kant can tell.'
						   WHEN 'DataSource' THEN 'Name the dataset with kant.add_dataset(..., aliases => ARRAY[''<database>.<table>'']).'
						   ELSE 'A Glue DataQualityResult: ResultId, RuleResults [{Name, Result, EvaluatedMetrics}], JobName, JobRunId.' END,
				res, 'glue_data_quality', sid, format('$[%s]', i) || CASE WHEN field <> '' THEN '.' || field ELSE '' END);
			CONTINUE;
		END IF;
		at := least(clock_timestamp(), coalesce(@extschema@._dq_time(res -> 'CompletedOn'), @extschema@._dq_time(res -> 'StartedOn'),
					clock_timestamp()));
		rows_v := NULL;
		FOR rule IN SELECT x FROM jsonb_array_elements(res -> 'RuleResults') x ORDER BY x ->> 'Name' LOOP
			name := concat_ws('/', res ->> 'RulesetName', rule ->> 'Name');
			r := @extschema@._dq_assert(did, bd, 'glue_data_quality', name,
				lower(rule ->> 'Result'), 'critical',
				CASE WHEN (SELECT count(*) FROM jsonb_object_keys(coalesce(rule -> 'EvaluatedMetrics', '{}'))) = 1
					 THEN (SELECT v::text::numeric FROM jsonb_each(rule -> 'EvaluatedMetrics') x(k, v)
						   WHERE jsonb_typeof(v) = 'number' AND abs(v::text::numeric) < 1e30) END,
				coalesce(rule ->> 'EvaluatedRule', rule ->> 'Description'),
				concat_ws(': ', rule ->> 'Description', rule ->> 'EvaluationMessage'),
				at, res ->> 'ResultId', who, batch_id);
			CASE r WHEN 'inserted' THEN inserted := inserted + 1; WHEN 'updated' THEN updated := updated + 1;
				   ELSE unchanged := unchanged + 1; END CASE;
		END LOOP;
		-- the numbers Glue measured: Dataset.*.RowCount -> row_count,
		-- Column.<c>.<Type> -> <type>:<c>; nulls from Completeness and RowCount
		FOR m IN SELECT DISTINCT ON (k) k, v::text::numeric AS v
				 FROM jsonb_array_elements(res -> 'RuleResults') x, jsonb_each(coalesce(x -> 'EvaluatedMetrics', '{}')) e(k, v)
				 WHERE jsonb_typeof(v) = 'number'
				 ORDER BY k LOOP
			metric := CASE WHEN m.k ~ '^Dataset\.\*\.' THEN @extschema@._dq_metric_name(substring(m.k FROM '^Dataset\.\*\.(.+)$'))
						   -- Column.<c>.<Type>, where a type may be two words (ColumnValues.Compliance)
						   -- and a column may hold dots
						   WHEN m.k ~ '^(Column|Multicolumn)\..+\.[A-Za-z]+$'
							 THEN @extschema@._dq_metric_name(
								replace(substring(m.k FROM '^(?:Column|Multicolumn)\..+?\.([A-Za-z]+\.Compliance|[A-Za-z]+)$'), '.', '_'),
								substring(m.k FROM '^(?:Column|Multicolumn)\.(.+?)\.(?:[A-Za-z]+\.Compliance|[A-Za-z]+)$')) END;
			IF metric IS NOT NULL AND @extschema@._dq_metric_ok(metric) AND abs(m.v) < 1e30
			   AND (@extschema@._dq_problem('x', bd, metric, m.v, NULL, at)).problem IS NULL THEN
				PERFORM @extschema@._dq_store(did, bd, metric, m.v, NULL, at, 'glue_data_quality', who, batch_id);
				IF metric = 'row_count' THEN rows_v := m.v; END IF;
			END IF;
		END LOOP;
		IF rows_v IS NOT NULL THEN
			FOR m IN SELECT substring(k FROM '^Column\.(.+)\.Completeness$') AS c, v::text::numeric AS v
					 FROM jsonb_array_elements(res -> 'RuleResults') x, jsonb_each(coalesce(x -> 'EvaluatedMetrics', '{}')) e(k, v)
					 WHERE k ~ '^Column\..+\.Completeness$' AND jsonb_typeof(v) = 'number'
					   AND v::text::numeric BETWEEN 0 AND 1 LOOP
				PERFORM @extschema@._dq_store(did, bd, @extschema@._dq_metric_name('null_count', m.c),
					round((1 - m.v) * rows_v), NULL, at, 'glue_data_quality', who, batch_id);
			END LOOP;
		END IF;
	END LOOP;
	PERFORM @extschema@._dq_batch_done(batch_id, 'glue_data_quality', inserted, updated, unchanged, rejected);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_glue_data_quality(text, jsonb) IS
	'Ingest AWS Glue Data Quality results of a Glue system (the reply of GetDataQualityResult or BatchGetDataQualityResult, or a list of results; the Glue collector calls it): each rule''s Result (PASS, FAIL, ERROR) becomes an assertion (<ruleset>/<rule>) on the dataset of the result''s table (an alias <database>.<table>, else that name; without a DataSource <job>/<evaluation context>), for the business date of the job run (JobRunId) kant holds; EvaluatedMetrics become metrics (Dataset.*.RowCount -> row_count, Column.<c>.Completeness -> completeness:<c>, and null_count:<c> from both). A result of another shape, or of a run kant does not hold, is kept in kant.rejected (source glue_data_quality). Returns the counts and the batch; 42704 for an unknown system, 22023 when the payload holds no results';
REVOKE ALL ON FUNCTION @extschema@.ingest_glue_data_quality(text, jsonb) FROM PUBLIC;

/*
 * OpenLineage: the data-quality facets of RunEvents kant ingests
 * (kant.ingest_openlineage calls this after storing the runs), per the
 * spec's facets: dataQualityMetrics (1-0-3; inputFacets, or facets for the
 * dataset-facet variant), dataQualityAssertions (1-1-0; both places: dbt's
 * integration writes both) and outputStatistics (1-0-2, outputFacets).  The
 * business date is that of the event's run in kant.
 */
CREATE FUNCTION @extschema@._dq_openlineage(payload jsonb, batch_id bigint)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	who text := pg_get_userbyid(@extschema@._outer_role());
	ev jsonb;
	i integer;
	ds jsonb;
	side text;
	f jsonb;
	fpath text;
	sid integer;
	bd date;
	did integer;
	dname text;
	at timestamptz;
	problem text;
	kept integer := 0;
	rejected integer := 0;
	c record;
	a jsonb;
	name text;
BEGIN
	FOR ev, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(CASE jsonb_typeof(payload) WHEN 'array' THEN payload
																		  ELSE jsonb_build_array(payload) END)
				 WITH ORDINALITY x(e, o) LOOP
		CONTINUE WHEN jsonb_typeof(ev) <> 'object';
		-- only events that carry one of the facets
		CONTINUE WHEN NOT jsonb_path_exists(ev, '$.inputs[*] ? (exists(@.inputFacets.dataQualityMetrics) || exists(@.facets.dataQualityMetrics) || exists(@.inputFacets.dataQualityAssertions) || exists(@.facets.dataQualityAssertions))')
				  AND NOT jsonb_path_exists(ev, '$.outputs[*] ? (exists(@.outputFacets.outputStatistics))');
		SELECT s.system_id INTO sid FROM @extschema@.system s
		WHERE s.ol_namespace = ev #>> '{job,namespace}' OR (s.ol_namespace IS NULL AND s.name = ev #>> '{job,namespace}')
		ORDER BY s.ol_namespace IS NULL LIMIT 1;
		bd := @extschema@._dq_run_date(sid, ev #>> '{job,name}', ev #>> '{run,runId}');
		at := least(clock_timestamp(), coalesce(@extschema@._dq_time(ev -> 'eventTime'), clock_timestamp()));
		FOR ds, side, fpath IN
			SELECT d, 'inputs', format('$[%s].inputs[%s]', i, o - 1) FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'inputs') WHEN 'array' THEN ev -> 'inputs' ELSE '[]' END) WITH ORDINALITY x(d, o)
			UNION ALL
			SELECT d, 'outputs', format('$[%s].outputs[%s]', i, o - 1) FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'outputs') WHEN 'array' THEN ev -> 'outputs' ELSE '[]' END) WITH ORDINALITY x(d, o) LOOP
			CONTINUE WHEN side = 'inputs' AND coalesce(ds #> '{inputFacets,dataQualityMetrics}', ds #> '{facets,dataQualityMetrics}',
													   ds #> '{inputFacets,dataQualityAssertions}', ds #> '{facets,dataQualityAssertions}') IS NULL;
			CONTINUE WHEN side = 'outputs' AND ds #> '{outputFacets,outputStatistics}' IS NULL;
			problem := NULL;
			dname := concat_ws('/', ds ->> 'namespace', ds ->> 'name');
			-- namespace/name names the dataset exactly; the bare name is the fallback
			did := CASE WHEN ds ->> 'name' IS NOT NULL THEN coalesce(
				(SELECT x.dataset_id FROM @extschema@.dataset_alias x WHERE x.alias = dname),
				(SELECT x.dataset_id FROM @extschema@.dataset_alias x WHERE x.alias = ds ->> 'name'),
				@extschema@._dq_resolve(dname)) END;
			IF did IS NULL THEN
				problem := format('dataset %s names no kant dataset', coalesce(dname, '(no name)'));
			ELSIF bd IS NULL THEN
				problem := format('the run %s of job %s is not one kant holds, so the business date is not known',
					coalesce(ev #>> '{run,runId}', '?'), coalesce(ev #>> '{job,name}', '?'));
			END IF;
			BEGIN
				IF problem IS NULL AND side = 'outputs' THEN
					f := ds #> '{outputFacets,outputStatistics}';
					FOR c IN SELECT k, m FROM (VALUES ('rowCount', 'row_count'), ('size', 'bytes'), ('fileCount', 'file_count')) v(k, m)
							 WHERE f ? k LOOP
						IF jsonb_typeof(f -> c.k) <> 'number'
						   OR (@extschema@._dq_problem('x', bd, c.m, (f ->> c.k)::numeric, NULL, at)).problem IS NOT NULL THEN
							problem := format('outputStatistics.%s is not a count', c.k);
							EXIT;
						END IF;
						PERFORM @extschema@._dq_store(did, bd, c.m, (f ->> c.k)::numeric, NULL, at, 'openlineage', who, batch_id);
						kept := kept + 1;
					END LOOP;
				ELSIF problem IS NULL THEN
					f := coalesce(ds #> '{inputFacets,dataQualityMetrics}', ds #> '{facets,dataQualityMetrics}');
					IF f IS NOT NULL AND (jsonb_typeof(f) <> 'object' OR coalesce(jsonb_typeof(f -> 'columnMetrics'), 'object') <> 'object') THEN
						problem := 'dataQualityMetrics is an object with columnMetrics an object';
					ELSIF f IS NOT NULL THEN
						FOR c IN SELECT k, m FROM (VALUES ('rowCount', 'row_count'), ('bytes', 'bytes'), ('fileCount', 'file_count')) v(k, m)
								 WHERE f ? k LOOP
							IF jsonb_typeof(f -> c.k) <> 'number'
							   OR (@extschema@._dq_problem('x', bd, c.m, (f ->> c.k)::numeric, NULL, at)).problem IS NOT NULL THEN
								problem := format('dataQualityMetrics.%s is not a count', c.k);
								EXIT;
							END IF;
							PERFORM @extschema@._dq_store(did, bd, c.m, (f ->> c.k)::numeric, NULL, at, 'openlineage', who, batch_id);
							kept := kept + 1;
						END LOOP;
						IF problem IS NULL AND f ? 'lastUpdated' THEN
							IF @extschema@._dq_time(f -> 'lastUpdated') IS NULL THEN
								problem := 'dataQualityMetrics.lastUpdated is not a date-time';
							ELSE
								PERFORM @extschema@._dq_store(did, bd, 'max_timestamp', NULL, @extschema@._dq_time(f -> 'lastUpdated'),
									at, 'openlineage', who, batch_id);
								kept := kept + 1;
							END IF;
						END IF;
						-- per column: nullCount, distinctCount, sum, count, min, max
						FOR c IN SELECT col, k, v FROM jsonb_each(coalesce(f -> 'columnMetrics', '{}')) x(col, cm),
									 jsonb_each(CASE jsonb_typeof(cm) WHEN 'object' THEN cm ELSE '{}' END) y(k, v)
								 WHERE k IN ('nullCount', 'distinctCount', 'sum', 'count', 'min', 'max') LOOP
							EXIT WHEN problem IS NOT NULL;
							IF jsonb_typeof(c.v) <> 'number' THEN
								problem := format('dataQualityMetrics.columnMetrics.%s.%s is not a number', c.col, c.k);
							ELSIF (@extschema@._dq_problem('x', bd, @extschema@._dq_metric_name(c.k, c.col),
															(c.v #>> '{}')::numeric, NULL, at)).problem IS NOT NULL THEN
								-- a statistic kant cannot hold (1e-15, a negative count): left out,
								-- the dataset's other metrics and assertions still land
								RAISE NOTICE 'kant: dataQualityMetrics.columnMetrics.%.% = % left out: it is not a value kant takes for %',
									c.col, c.k, c.v, @extschema@._dq_metric_name(c.k, c.col);
							ELSE
								PERFORM @extschema@._dq_store(did, bd, @extschema@._dq_metric_name(c.k, c.col),
									(c.v #>> '{}')::numeric, NULL, at, 'openlineage', who, batch_id);
								kept := kept + 1;
							END IF;
						END LOOP;
					END IF;
					f := coalesce(ds #> '{inputFacets,dataQualityAssertions}', ds #> '{facets,dataQualityAssertions}');
					IF problem IS NULL AND f IS NOT NULL THEN
						IF jsonb_typeof(f -> 'assertions') IS DISTINCT FROM 'array'
						   OR EXISTS (SELECT FROM jsonb_array_elements(f -> 'assertions') x
									  WHERE jsonb_typeof(x -> 'assertion') IS DISTINCT FROM 'string'
										 OR jsonb_typeof(x -> 'success') IS DISTINCT FROM 'boolean') THEN
							problem := 'dataQualityAssertions.assertions is a list of {assertion, success}';
						ELSE
							-- one outcome per name, in one order: a repeated name (older producers
							-- send no name) keeps its worst outcome, so a pass never hides a fail
							FOR a IN SELECT DISTINCT ON (nm) x || jsonb_build_object('_name', nm)
									 FROM jsonb_array_elements(f -> 'assertions') x,
										  LATERAL (SELECT left(coalesce(x ->> 'name', (x ->> 'assertion') || coalesce(':' || (x ->> 'column'), '')), 1000) AS nm) n
									 ORDER BY nm, (x ->> 'success')::boolean, x ->> 'severity' = 'warn' LOOP
								name := a ->> '_name';
								PERFORM @extschema@._dq_assert(did, bd, 'openlineage', name,
									-- success means no issue found, whatever the severity (the spec)
									CASE WHEN (a ->> 'success')::boolean THEN 'pass'
										 WHEN a ->> 'severity' = 'warn' THEN 'warn' ELSE 'fail' END,
									CASE WHEN a ->> 'severity' = 'warn' THEN 'warning' ELSE 'critical' END,
									CASE WHEN a ->> 'actual' ~ '^-?\d{1,29}(\.\d+)?$' THEN (a ->> 'actual')::numeric END,
									a ->> 'expected', concat_ws(': ', a ->> 'description', CASE WHEN a ->> 'actual' !~ '^-?\d{1,29}(\.\d+)?$' THEN a ->> 'actual' END),
									at, ev #>> '{run,runId}', who, batch_id);
								kept := kept + 1;
							END LOOP;
						END IF;
					END IF;
				END IF;
				IF problem IS NOT NULL THEN
					RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = problem;
				END IF;
			EXCEPTION WHEN OTHERS THEN
				-- the dataset's facets are kept whole; what it stored is undone
				rejected := rejected + 1;
				PERFORM @extschema@._dq_reject(batch_id, i, side, SQLSTATE, SQLERRM,
					'Facets as the OpenLineage spec has them (DataQualityMetricsInputDatasetFacet 1-0-3, DataQualityAssertionsDatasetFacet 1-1-0, OutputStatisticsOutputDatasetFacet 1-0-2), on a dataset kant can name (kant.add_dataset(aliases =>)) of a run it holds.',
					ds, 'openlineage', sid, fpath);
			END;
		END LOOP;
	END LOOP;
	IF rejected > 0 THEN
		RAISE WARNING 'kant: the data-quality facets of % OpenLineage dataset(s) rejected', rejected
			USING DETAIL = format('Each is kept in kant.rejected (source openlineage, batch %s) with its reason; the runs are stored.', batch_id);
	END IF;
	RETURN kept;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_openlineage(jsonb, bigint) IS
	'internal: the data-quality facets of OpenLineage RunEvents as metrics and assertions of their datasets (kant.ingest_openlineage calls it once the runs are stored); a dataset''s facets of another shape, or of a run kant does not hold, are kept in kant.rejected; returns how many values were kept';
REVOKE ALL ON FUNCTION @extschema@._dq_openlineage(jsonb, bigint) FROM PUBLIC;

-- sql/src/quality_measure.sql

/*
 * kant: Metrics kant measures itself: a query per dataset, parameterised by
 * the business date ($1), on local tables or a source database reached
 * through postgres_fdw, run by pg_cron or right after the dataset's
 * producing job succeeds.
 *
 * Part of the install script sql/kant--0.6.0.sql (built from sql/src in the
 * order of SQL_SRC); change a definition here AND in the upgrade script of
 * the version being made.
 *
 * Privileges: the query runs as the role that defined the measurement
 * (kant.dq_measure.owner), never as the extension's owner, restricted
 * (SECURITY_RESTRICTED_OPERATION: no SET ROLE, no temporary objects) and
 * read-only, with search_path pg_catalog, pg_temp: name tables with their
 * schema.  A foreign table is read through that role's user mapping.  See
 * src/quality.c.
 */

CREATE TABLE @extschema@.dq_measure (
	measure_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name			text NOT NULL UNIQUE,
	dataset_id		integer NOT NULL REFERENCES @extschema@.dataset ON DELETE CASCADE,
	query			text NOT NULL,
	owner			regrole NOT NULL,
	timeout			interval NOT NULL DEFAULT '5 minutes',
	after_job_id	integer REFERENCES @extschema@.job ON DELETE SET NULL,
	lookback_days	integer NOT NULL DEFAULT 3,
	active			boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT dq_measure_timeout CHECK (timeout BETWEEN interval '1 second' AND interval '6 hours'),
	CONSTRAINT dq_measure_lookback CHECK (lookback_days BETWEEN 0 AND 366)
);
CREATE INDEX ON @extschema@.dq_measure (dataset_id);
CREATE INDEX ON @extschema@.dq_measure (after_job_id);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dq_measure', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.dq_measure', 'measure_id')::pg_catalog.regclass, '');
COMMENT ON TABLE @extschema@.dq_measure IS
	'Measurements kant takes itself (kant.measure): a query returning one row whose columns are metrics of the dataset for the business date $1, run as its owner by kant.run_measurements';
COMMENT ON COLUMN @extschema@.dq_measure.measure_id IS 'kant''s id of the measurement';
COMMENT ON COLUMN @extschema@.dq_measure.name IS 'its name';
COMMENT ON COLUMN @extschema@.dq_measure.dataset_id IS 'the dataset whose metrics it measures';
COMMENT ON COLUMN @extschema@.dq_measure.query IS 'one SELECT returning one row; $1 is the business date (date); each column named as a metric (row_count, duplicate_keys, "null_count:email") is one: a number, or a time (timestamptz, or timestamp read in the dataset''s zone); other columns are kept as the measurement''s note';
COMMENT ON COLUMN @extschema@.dq_measure.owner IS 'the role that defined it: the query runs with its rights (and its user mappings), restricted and read-only';
COMMENT ON COLUMN @extschema@.dq_measure.timeout IS 'how long the query may run (1 second to 6 hours); longer is a timeout, recorded';
COMMENT ON COLUMN @extschema@.dq_measure.after_job_id IS 'the job producing the dataset: measure each business date once its current run succeeded (again after a newer success), else NULL';
COMMENT ON COLUMN @extschema@.dq_measure.lookback_days IS 'how many business dates back kant.run_measurements looks for ones to measure';
COMMENT ON COLUMN @extschema@.dq_measure.active IS 'false: not run';
COMMENT ON COLUMN @extschema@.dq_measure.created_at IS 'when it was defined';

CREATE TABLE @extschema@.dq_measure_run (
	measure_id		integer NOT NULL REFERENCES @extschema@.dq_measure ON DELETE CASCADE,
	business_date	date NOT NULL,
	ran_at			timestamptz NOT NULL,
	status			text NOT NULL,
	metrics			integer NOT NULL DEFAULT 0,
	duration_ms		numeric,
	sqlstate		text,
	error			text,
	note			jsonb,
	PRIMARY KEY (measure_id, business_date),
	CONSTRAINT dq_measure_run_status CHECK (status IN ('ok', 'no_row', 'error', 'timeout'))
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.dq_measure_run', '');
COMMENT ON TABLE @extschema@.dq_measure_run IS 'The last run of each measurement per business date';
COMMENT ON COLUMN @extschema@.dq_measure_run.measure_id IS 'the measurement';
COMMENT ON COLUMN @extschema@.dq_measure_run.business_date IS 'the business date measured';
COMMENT ON COLUMN @extschema@.dq_measure_run.ran_at IS 'when it ran (the as_of of kant.run_measurements when that was earlier: a replay)';
COMMENT ON COLUMN @extschema@.dq_measure_run.status IS 'ok; no_row (the query returned none: nothing stored); error; timeout';
COMMENT ON COLUMN @extschema@.dq_measure_run.metrics IS 'how many metrics it stored';
COMMENT ON COLUMN @extschema@.dq_measure_run.duration_ms IS 'how long the query ran, in milliseconds';
COMMENT ON COLUMN @extschema@.dq_measure_run.sqlstate IS 'the error''s SQLSTATE, or NULL';
COMMENT ON COLUMN @extschema@.dq_measure_run.error IS 'the error''s message, or NULL';
COMMENT ON COLUMN @extschema@.dq_measure_run.note IS 'the columns that are not metrics (e.g. the keys a diff found), as JSON, or NULL';

CREATE FUNCTION @extschema@._measure_as(role oid, query text, business_date date, timeout_ms integer)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'kant_measure_as'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._measure_as(oid, text, date, integer) IS
	'internal: the one row a measurement''s query returns for a business date, as jsonb (NULL for none), run as role, restricted and read-only, within timeout_ms; 21000 for more than one row, 57014 "measurement timed out" (src/quality.c)';
REVOKE ALL ON FUNCTION @extschema@._measure_as(oid, text, date, integer) FROM PUBLIC;

/*
 * kant.measure runs as its caller, to know who that is (kant_as_caller,
 * src/gate.c, as kant.set_credentials); kant._measure_impl stores the
 * definition as the extension's owner, owned by that role.
 */
CREATE FUNCTION @extschema@.measure(name text, dataset text, query text,
		timeout interval DEFAULT '5 minutes', after_job text DEFAULT NULL, lookback_days integer DEFAULT 3)
	RETURNS integer
	AS 'MODULE_PATHNAME', 'kant_as_caller'
	LANGUAGE C VOLATILE
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.measure(text, text, text, interval, text, integer) IS
	'Define (or replace) a measurement kant takes itself: query is one SELECT returning one row for the business date $1 (date), each column named as a metric of the dataset (row_count, duplicate_keys, "null_count:email", max_timestamp) stored as kant.report_metric would, other columns kept as its note; it runs as the role whose code calls this (current_user: its rights, its user mappings for postgres_fdw), restricted and read-only, search_path pg_catalog, pg_temp, for at most timeout; after_job (<system>/<job>): measure each business date once that job''s run succeeded (within lookback_days). Returns its id; 42704 / 22023 name the argument; 42501 within a security-restricted operation';
REVOKE ALL ON FUNCTION @extschema@.measure(text, text, text, interval, text, integer) FROM PUBLIC;

CREATE FUNCTION @extschema@._measure_impl(name text, dataset text, query text,
		timeout interval, after_job text, lookback_days integer)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	did integer;
	jid integer;
	id integer;
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$ -]{0,199}$' THEN
		RAISE EXCEPTION 'measurement name % is not one kant takes', coalesce(quote_literal(name), 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Letters, digits, spaces and _ . : / @ $ -, at most 200.';
	END IF;
	SELECT d.dataset_id INTO did FROM @extschema@.dataset d WHERE d.name = _measure_impl.dataset;
	IF did IS NULL THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset
			USING ERRCODE = 'undefined_object', HINT = format('Register it first: kant.add_dataset(%L, time_zone => ...).', dataset);
	END IF;
	IF query IS NULL OR btrim(query) = '' THEN
		RAISE EXCEPTION 'a measurement needs its query'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'e.g. SELECT count(*) AS row_count FROM public.users WHERE business_date = $1';
	END IF;
	IF timeout IS NULL OR timeout NOT BETWEEN interval '1 second' AND interval '6 hours' THEN
		RAISE EXCEPTION 'timeout % is out of range', coalesce(timeout::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = '1 second to 6 hours.';
	END IF;
	IF lookback_days IS NULL OR lookback_days NOT BETWEEN 0 AND 366 THEN
		RAISE EXCEPTION 'lookback_days % is out of range', coalesce(lookback_days::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = '0 to 366 business dates.';
	END IF;
	IF after_job IS NOT NULL THEN
		SELECT j.job_id INTO jid FROM @extschema@.job j JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.name || '/' || j.name = after_job;
		IF jid IS NULL THEN
			RAISE EXCEPTION 'job "%" does not exist', after_job
				USING ERRCODE = 'undefined_object', HINT = 'Name it <system>/<job>: kant.runs shows both as system and job.';
		END IF;
	END IF;
	INSERT INTO @extschema@.dq_measure AS m (name, dataset_id, query, owner, timeout, after_job_id, lookback_days)
	VALUES (_measure_impl.name, did, _measure_impl.query, @extschema@._outer_role()::regrole, _measure_impl.timeout, jid,
		_measure_impl.lookback_days)
	ON CONFLICT ON CONSTRAINT dq_measure_name_key DO UPDATE
		SET dataset_id = excluded.dataset_id, query = excluded.query, owner = excluded.owner,
			timeout = excluded.timeout, after_job_id = excluded.after_job_id,
			lookback_days = excluded.lookback_days, active = true
	RETURNING m.measure_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._measure_impl(text, text, text, interval, text, integer) IS
	'internal: kant.measure, run by it as the extension''s owner for the role whose code called it (kant._outer_role() answers that role meanwhile; src/gate.c kant_as_caller): validate and store a measurement owned by that role';
REVOKE ALL ON FUNCTION @extschema@._measure_impl(text, text, text, interval, text, integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.drop_measure(name text) RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH d AS (DELETE FROM @extschema@.dq_measure m WHERE m.name = $1 RETURNING 1)
	SELECT EXISTS (SELECT FROM d)
	$$;
COMMENT ON FUNCTION @extschema@.drop_measure(text) IS
	'Drop a measurement (its metrics stay); false when there is none of that name';
REVOKE ALL ON FUNCTION @extschema@.drop_measure(text) FROM PUBLIC;

/*
 * Store what one run of a measurement returned: the metric columns through
 * kant._dq_store, the rest as its note; how many metrics.
 */
CREATE FUNCTION @extschema@._measure_store(dataset_id integer, business_date date, got jsonb,
		measured_at timestamptz, who text, OUT metrics integer, OUT note jsonb)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	zone text;
	k text;
	v jsonb;
	n numeric;
	t timestamptz;
	p record;
	keep jsonb := '{}';
	refused jsonb := '{}';
BEGIN
	metrics := 0;
	SELECT d.time_zone INTO zone FROM @extschema@.dataset d WHERE d.dataset_id = $1;
	FOR k, v IN SELECT * FROM jsonb_each(got) LOOP
		n := NULL; t := NULL;
		CONTINUE WHEN jsonb_typeof(v) = 'null';
		IF @extschema@._dq_metric_ok(k) AND jsonb_typeof(v) = 'number' THEN
			n := (v #>> '{}')::numeric;
		ELSIF @extschema@._dq_metric_ok(k) AND jsonb_typeof(v) = 'string'
			  AND v #>> '{}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?$' THEN
			-- a timestamptz comes with its offset; a timestamp is wall time in the dataset's zone
			t := CASE WHEN v #>> '{}' ~ '[+-]\d\d(:\d\d)?$' THEN (v #>> '{}')::timestamptz
					  ELSE @extschema@.local_instant((v #>> '{}')::timestamp, zone) END;
		ELSE
			-- not a metric: the note (a diff's keys)
			keep := keep || jsonb_build_object(k, v);
			CONTINUE;
		END IF;
		-- a metric as kant.report_metric takes it, else said in the note
		p := @extschema@._dq_problem('x', $2, k, n, t, $4);
		IF p.problem IS NOT NULL THEN
			refused := refused || jsonb_build_object(k, p.problem);
		END IF;
	END LOOP;
	note := CASE WHEN keep <> '{}' OR refused <> '{}' THEN
				keep || CASE WHEN refused <> '{}' THEN jsonb_build_object('refused', refused) ELSE '{}' END END;
	FOR k, v IN SELECT * FROM jsonb_each(got) LOOP
		CONTINUE WHEN jsonb_typeof(v) = 'null' OR k = 'refused' AND refused <> '{}' OR keep ? k OR refused ? k;
		IF jsonb_typeof(v) = 'number' THEN
			PERFORM @extschema@._dq_store($1, $2, k, (v #>> '{}')::numeric, NULL, $4, 'kant', $5, NULL, left(note::text, 1000));
		ELSE
			PERFORM @extschema@._dq_store($1, $2, k, NULL,
				CASE WHEN v #>> '{}' ~ '[+-]\d\d(:\d\d)?$' THEN (v #>> '{}')::timestamptz
					 ELSE @extschema@.local_instant((v #>> '{}')::timestamp, zone) END,
				$4, 'kant', $5, NULL, left(note::text, 1000));
		END IF;
		metrics := metrics + 1;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._measure_store(integer, date, jsonb, timestamptz, text) IS
	'internal: store a measurement''s row: columns named as metrics holding a number or a time become metrics (source kant) when kant.report_metric would take them; the others, and why one was refused, are its note';
REVOKE ALL ON FUNCTION @extschema@._measure_store(integer, date, jsonb, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.run_measurements(for_date date DEFAULT NULL, as_of timestamptz DEFAULT now(),
		only_measure text DEFAULT NULL)
	RETURNS TABLE (measure text, dataset text, business_date date, status text, metrics integer, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	todo record;
	got jsonb;
	started timestamptz;
	at timestamptz;
	st text;
	n integer;
	note jsonb;
	code text;
	msg text;
BEGIN
	IF as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION 'as_of % is not a time', as_of USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR todo IN
		SELECT m.measure_id, m.name, m.query, m.owner, m.timeout, m.dataset_id, d.name AS dname, w.bd
		FROM @extschema@.dq_measure m
		JOIN @extschema@.dataset d ON d.dataset_id = m.dataset_id
		CROSS JOIN LATERAL (
			-- a date asked for
			SELECT run_measurements.for_date AS bd WHERE run_measurements.for_date IS NOT NULL
			UNION
			-- after its job: each date whose current run succeeded since it was last measured
			SELECT r.business_date FROM @extschema@.job_run r
			WHERE run_measurements.for_date IS NULL AND m.after_job_id IS NOT NULL
			  AND r.job_id = m.after_job_id AND @extschema@._is_current(r.superseded_at, as_of)
			  AND @extschema@.is_done(r.state) AND r.ended_at <= as_of
			  AND r.business_date >= (as_of AT TIME ZONE d.time_zone)::date - m.lookback_days
			  AND NOT EXISTS (SELECT FROM @extschema@.dq_measure_run x
							  WHERE x.measure_id = m.measure_id AND x.business_date = r.business_date
								AND x.ran_at >= r.ended_at AND x.status IN ('ok', 'no_row'))
			UNION
			-- on a schedule: the last business date that has ended in the dataset's zone, once
			SELECT (as_of AT TIME ZONE d.time_zone)::date - 1
			WHERE run_measurements.for_date IS NULL AND m.after_job_id IS NULL
			  AND NOT EXISTS (SELECT FROM @extschema@.dq_measure_run x
							  WHERE x.measure_id = m.measure_id
								AND x.business_date = (as_of AT TIME ZONE d.time_zone)::date - 1
								AND x.status IN ('ok', 'no_row'))) w
		WHERE m.active AND (only_measure IS NULL OR m.name = only_measure)
		ORDER BY m.name, w.bd
	LOOP
		-- one run of a measurement at a time: another session's run of it is skipped
		CONTINUE WHEN NOT pg_try_advisory_xact_lock(@extschema@._lock_key('measure'), todo.measure_id);
		started := clock_timestamp();
		-- when it counts as measured: now, or as_of when that is earlier (a replay)
		at := least(started, as_of);
		n := 0; note := NULL; code := NULL; msg := NULL;
		BEGIN
			got := @extschema@._measure_as(todo.owner::oid, todo.query, todo.bd,
				(extract(epoch FROM todo.timeout) * 1000)::integer);
			IF got IS NULL THEN
				st := 'no_row';
			ELSE
				SELECT s.metrics, s.note INTO n, note
				FROM @extschema@._measure_store(todo.dataset_id, todo.bd, got, at, todo.owner::text) s;
				st := 'ok';
			END IF;
		EXCEPTION
			WHEN query_canceled THEN
				IF SQLERRM NOT LIKE 'measurement timed out%' THEN
					RAISE;		-- a cancel from outside stays a cancel
				END IF;
				st := 'timeout'; code := SQLSTATE; msg := SQLERRM;
			WHEN OTHERS THEN
				st := 'error'; code := SQLSTATE; msg := SQLERRM;
		END;
		INSERT INTO @extschema@.dq_measure_run AS x (measure_id, business_date, ran_at, status, metrics, duration_ms,
			sqlstate, error, note)
		VALUES (todo.measure_id, todo.bd, at, st, n,
			round(extract(epoch FROM clock_timestamp() - started) * 1000, 1), code, left(msg, 2000), note)
		ON CONFLICT ON CONSTRAINT dq_measure_run_pkey DO UPDATE
			SET ran_at = excluded.ran_at, status = excluded.status, metrics = excluded.metrics,
				duration_ms = excluded.duration_ms, sqlstate = excluded.sqlstate, error = excluded.error,
				note = excluded.note;
		IF st IN ('error', 'timeout') THEN
			RAISE WARNING 'kant: measurement "%" of % for % failed: %', todo.name, todo.dname,
				to_char(todo.bd, 'YYYY-MM-DD'), msg
				USING DETAIL = format('SQLSTATE %s; kept in kant.dq_measure_run.', code);
		END IF;
		measure := todo.name; dataset := todo.dname; business_date := todo.bd; status := st; metrics := n;
		detail := coalesce(msg, left(note::text, 2000));
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.run_measurements(date, timestamptz, text) IS
	'Run the measurements that are due (or, given for_date, all of them (or only_measure) for that business date): one whose after_job''s current run succeeded for a date since it was last measured (within lookback_days), and one without a job for the last business date ended in its dataset''s zone, once. Each query runs as its owner (kant._measure_as), within its timeout; an error or timeout is kept in kant.dq_measure_run with a WARNING and the others go on. Returns what each did';
REVOKE ALL ON FUNCTION @extschema@.run_measurements(date, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.schedule_measurements(schedule text DEFAULT '*/10 * * * *')
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@._cron_job('kant-measure', schedule,
		'SELECT measure, business_date, status FROM kant.run_measurements()') $$;
COMMENT ON FUNCTION @extschema@.schedule_measurements(text) IS
	'Create or update the pg_cron job kant-measure that runs kant.run_measurements() (default every 10 minutes: soon after a producing job succeeds); returns its id';
REVOKE ALL ON FUNCTION @extschema@.schedule_measurements(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_measurements()
	RETURNS boolean
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@._cron_unjob('kant-measure') $$;
COMMENT ON FUNCTION @extschema@.unschedule_measurements() IS 'Remove the pg_cron job kant-measure; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.unschedule_measurements() FROM PUBLIC;

-- sql/src/recovery_airflow.sql

/*
 * kant: Recovery on the Airflow side: clearing failed task instances.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * A failed Airflow task instance is recovered by clearing it:
 * POST dags/{dag_id}/clearTaskInstances (REST API v1: Airflow 2 / Cloud
 * Composer 2, v2: Airflow 3; test/fakes/airflow/v1-openapi.yaml
 * ClearTaskInstances, v2-openapi.yaml ClearTaskInstancesBody).  What the
 * servers do with it (apache/airflow, as cited in test/fakes/fake_airflow.py):
 * the selection is dag.clear(dry_run=True, ...) -- with only_failed the task
 * instances in State.failed_states (failed, upstream_failed); a clear sets
 * them to state None and, with reset_dag_runs, a finished DAG run to queued
 * (v1 defaults reset_dag_runs to false: the run would stay failed and the
 * cleared tasks never run; both versions default dry_run to true).
 */

---------------------------------------------------------------------------
-- What a policy names, and the policy each job has
---------------------------------------------------------------------------

-- kant.recovery_policy (recovery.sql) may name a whole Airflow DAG: every
-- task of it without a policy of its own; and says whether a clear takes
-- the downstream task instances along
ALTER TABLE @extschema@.recovery_policy DROP CONSTRAINT recovery_policy_pkey,
	ALTER COLUMN job_id DROP NOT NULL,
	ADD COLUMN system_id integer REFERENCES @extschema@.system ON DELETE CASCADE,
	ADD COLUMN dag_id text,
	ADD COLUMN include_downstream boolean NOT NULL DEFAULT true,
	ADD CONSTRAINT recovery_policy_job_key UNIQUE (job_id),
	ADD CONSTRAINT recovery_policy_dag_key UNIQUE (system_id, dag_id),
	ADD CONSTRAINT recovery_policy_target_check CHECK ((job_id IS NOT NULL AND system_id IS NULL AND dag_id IS NULL)
		OR (job_id IS NULL AND system_id IS NOT NULL AND dag_id IS NOT NULL));
COMMENT ON TABLE @extschema@.recovery_policy IS
	'What kant recovers on its own, one row per Glue job, Airflow task or Airflow DAG (kant.set_recovery): a failed Glue run is restarted (StartJobRun with its id and arguments), a failed Airflow task instance cleared (clearTaskInstances of its DAG run); at most max_attempts times per job and business date, min_wait after the failure, only while the remaining work''s p90 still fits before the SLO deadline (kant.recovery_scope: the policy each job has)';
COMMENT ON COLUMN @extschema@.recovery_policy.job_id IS 'the Glue job or Airflow task; NULL for a whole DAG';
COMMENT ON COLUMN @extschema@.recovery_policy.max_attempts IS 'restarts (Glue) or clears (Airflow) per job and business date at most';
COMMENT ON COLUMN @extschema@.recovery_policy.system_id IS 'a whole DAG: its Airflow system (job_id is NULL)';
COMMENT ON COLUMN @extschema@.recovery_policy.dag_id IS 'a whole DAG: its dag_id; its tasks without a policy of their own follow this one';
COMMENT ON COLUMN @extschema@.recovery_policy.include_downstream IS
	'Airflow: clear with include_downstream, so the tasks the failure left upstream_failed run again too (without it they stay upstream_failed and the DAG run fails again); ignored for Glue';

CREATE FUNCTION @extschema@._recovery_target(spec text, OUT job_id integer, OUT system_id integer, OUT dag_id text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m text[];
	found_n integer;
BEGIN
	BEGIN
		job_id := @extschema@._job_ref(spec, 'job');
		RETURN;
	EXCEPTION WHEN undefined_object THEN
		NULL;
	END;
	-- an Airflow DAG kant has seen a task of: system/dag_id, the system quoted
	-- ("a/b"/dag) when its name holds a slash
	IF left(spec, 1) = '"' THEN
		m := regexp_match(spec, '^"((?:[^"]|"")+)"/(.+)$');
		SELECT count(*), min(s.system_id), min(m[2]) INTO found_n, system_id, dag_id
		FROM @extschema@.system s
		WHERE m IS NOT NULL AND s.name = replace(m[1], '""', '"') AND s.kind = 'airflow'
		  AND EXISTS (SELECT FROM @extschema@.job j WHERE j.system_id = s.system_id AND j.dag_id = m[2]);
	ELSE
		SELECT count(*), min(s.system_id), min(substr(spec, p + 1)) INTO found_n, system_id, dag_id
		FROM generate_series(1, length(spec)) AS p
		JOIN @extschema@.system s ON s.name = left(spec, p - 1) AND s.kind = 'airflow'
		WHERE substr(spec, p, 1) = '/'
		  AND EXISTS (SELECT FROM @extschema@.job j WHERE j.system_id = s.system_id AND j.dag_id = substr(spec, p + 1));
	END IF;
	IF found_n > 1 THEN
		RAISE EXCEPTION 'DAG "%" is ambiguous', spec
			USING ERRCODE = 'ambiguous_parameter', HINT = 'Quote the system name: "system"/dag_id.';
	END IF;
	IF found_n = 0 THEN
		RAISE EXCEPTION 'job or DAG "%" does not exist', spec
			USING ERRCODE = 'undefined_object',
				  HINT = 'Name a Glue job as system/job, an Airflow task as system/dag_id.task_id, a whole DAG as system/dag_id; kant knows them once it has ingested a run (or kant.configure_job).';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._recovery_target(text) IS
	'internal: what a recovery policy names: a job (system/job, kant._job_ref) first, else an Airflow DAG of which kant knows a task (system/dag_id); 42704 when neither, 42725 when ambiguous';
REVOKE ALL ON FUNCTION @extschema@._recovery_target(text) FROM PUBLIC;

CREATE VIEW @extschema@.recovery_scope AS
SELECT DISTINCT ON (j.job_id) j.job_id, s.name AS system, j.name AS job, s.kind AS system_kind, j.dag_id,
	p.max_attempts, p.min_wait, p.dry_run, p.include_downstream, p.job_id IS NULL AS from_dag
FROM @extschema@.recovery_policy p
JOIN @extschema@.job j ON j.job_id = p.job_id
	OR (p.job_id IS NULL AND j.system_id = p.system_id AND j.dag_id = p.dag_id)
JOIN @extschema@.system s ON s.system_id = j.system_id
WHERE s.kind IN ('glue', 'airflow')
ORDER BY j.job_id, p.job_id NULLS LAST;
COMMENT ON VIEW @extschema@.recovery_scope IS
	'Every job kant recovers and the policy it has: its own (kant.set_recovery on the job or task), else its DAG''s (a policy on a whole Airflow DAG)';
COMMENT ON COLUMN @extschema@.recovery_scope.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.recovery_scope.system IS 'its system';
COMMENT ON COLUMN @extschema@.recovery_scope.job IS 'its name (dag_id.task_id for Airflow)';
COMMENT ON COLUMN @extschema@.recovery_scope.system_kind IS 'glue (restarted) or airflow (cleared)';
COMMENT ON COLUMN @extschema@.recovery_scope.dag_id IS 'Airflow: its DAG';
COMMENT ON COLUMN @extschema@.recovery_scope.max_attempts IS 'restarts or clears per business date at most';
COMMENT ON COLUMN @extschema@.recovery_scope.min_wait IS 'wait after a failure';
COMMENT ON COLUMN @extschema@.recovery_scope.dry_run IS 'only log';
COMMENT ON COLUMN @extschema@.recovery_scope.include_downstream IS 'Airflow: clear what the failure left upstream_failed too';
COMMENT ON COLUMN @extschema@.recovery_scope.from_dag IS 'true: the policy of its whole DAG';

---------------------------------------------------------------------------
-- Talking to Airflow
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._airflow_clear_body(api text, dag_run_id text, task_ids text[],
		include_downstream boolean, dry_run boolean)
	RETURNS jsonb
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT jsonb_build_object('dry_run', dry_run, 'only_failed', true, 'reset_dag_runs', true,
			'dag_run_id', dag_run_id, 'include_downstream', include_downstream)
		|| CASE WHEN EXISTS (SELECT FROM unnest(task_ids) AS t WHERE t IS NOT NULL)
				THEN jsonb_build_object('task_ids', (SELECT jsonb_agg(DISTINCT t ORDER BY t)
													 FROM unnest(task_ids) AS t WHERE t IS NOT NULL))
				ELSE '{}' END
		|| CASE WHEN api = 'v2' THEN jsonb_build_object('prevent_running_task', true) ELSE '{}' END
	$$;
COMMENT ON FUNCTION @extschema@._airflow_clear_body(text, text, text[], boolean, boolean) IS
	'internal: the one body of POST dags/{dag_id}/clearTaskInstances kant sends, valid in the v1 (ClearTaskInstances) and v2 (ClearTaskInstancesBody, no other field allowed) specs: dry_run and reset_dag_runs always explicit (the servers default dry_run to true, and v1 reset_dag_runs to false: a failed run would stay failed), only_failed, the DAG run, task_ids (sorted, once each; left out when none: every failed task instance of the run), include_downstream; api v2 adds prevent_running_task (a 409 rather than restarting a running task instance; v1''s form refuses unknown fields)';
REVOKE ALL ON FUNCTION @extschema@._airflow_clear_body(text, text, text[], boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._airflow_clear(system text, dag_id text, dag_run_id text, task_ids text[],
		include_downstream boolean, dry_run boolean)
	RETURNS TABLE (status integer, body text, api text)
	SET search_path = pg_catalog, pg_temp
	AS 'MODULE_PATHNAME', 'kant_airflow_clear'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._airflow_clear(text, text, text, text[], boolean, boolean) IS
	'internal: clear failed task instances of one DAG run: POST dags/{dag_id}/clearTaskInstances with kant._airflow_clear_body for the API version the server speaks (detected as the collector does; its credentials, timeouts and retries). task_ids NULL or empty: every failed task instance of the run; with include_downstream also the failed and upstream_failed ones downstream of them; dry_run: Airflow only answers what it would clear. Returns the status, the API version and the body: for 2xx the reply checked against the spec (v1 TaskInstanceReferenceCollection, v2 TaskInstanceCollectionResponse; every item of this DAG and run, else 08P01) as {"task_instances": [{"task_id", "map_index" (v2 only)}], "total_entries"}; else the error''s text (404: no such DAG or DAG run; 409, v2: a task instance it would clear is running; 400/422: the body was refused). A transport failure is an error';
REVOKE ALL ON FUNCTION @extschema@._airflow_clear(text, text, text, text[], boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._airflow_dag_run(system text, dag_id text, dag_run_id text,
		task_instances boolean DEFAULT true)
	RETURNS TABLE (status integer, detail text, run_state text, task_instances jsonb, api text)
	SET search_path = pg_catalog, pg_temp
	AS 'MODULE_PATHNAME', 'kant_airflow_dag_run'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._airflow_dag_run(text, text, text, boolean) IS
	'internal: a DAG run as Airflow has it now: GET dags/{dag_id}/dagRuns/{dag_run_id} (its state: queued, running, success, failed) and, unless task_instances is false (then NULL), every page of its taskInstances (the current try of each: a JSON array of {task_id, map_index, state (null: none yet), try_number, max_tries}); status is the DAG run GET''s, and on an error status detail is its text (404: Airflow knows no such DAG run) and the rest NULL. A transport failure, an error listing the task instances or a reply not of the spec''s shape is an error';
REVOKE ALL ON FUNCTION @extschema@._airflow_dag_run(text, text, text, boolean) FROM PUBLIC;

---------------------------------------------------------------------------
-- What a clear would run again, and how long that takes
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._airflow_failures(system_id integer, dag_id text, since date)
	RETURNS TABLE (job_id integer, job_name text, task_id text, map_index integer, dag_run_id text,
		external_id text, attempt integer, business_date date, ended_at timestamptz, max_attempts integer,
		min_wait interval, dry_run boolean, include_downstream boolean)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT j.job_id, j.name, j.task_id,
		CASE WHEN l.details->>'map_index' ~ '^[0-9]{1,9}$' THEN (l.details->>'map_index')::integer ELSE -1 END,
		coalesce(l.details->>'dag_run_id', l.external_id), l.external_id, l.attempt, l.business_date, l.ended_at,
		rs.max_attempts, rs.min_wait, rs.dry_run, rs.include_downstream
	FROM @extschema@.recovery_scope rs
	JOIN @extschema@.job j ON j.job_id = rs.job_id
	CROSS JOIN LATERAL (
		SELECT r.details, r.external_id, r.attempt, r.business_date, r.ended_at, r.state
		FROM @extschema@.job_run r
		WHERE r.job_id = j.job_id AND r.business_date >= $3
		-- the newest of the newest business date, as for Glue (recovery.sql)
		ORDER BY r.business_date DESC, r.started_at DESC NULLS FIRST, r.attempt DESC
		LIMIT 1) l
	WHERE j.system_id = $1 AND j.dag_id = $2 AND l.state::text IN ('failed', 'timed_out')
	$$;
COMMENT ON FUNCTION @extschema@._airflow_failures(integer, text, date) IS
	'internal: the tasks of an Airflow DAG with a recovery policy whose newest task instance of the newest business date (since on) failed: Airflow gave up on it (its own retries are up_for_retry, not failed), with the try (attempt), its DAG run and the policy';
REVOKE ALL ON FUNCTION @extschema@._airflow_failures(integer, text, date) FROM PUBLIC;

CREATE FUNCTION @extschema@._remaining_p90(job_id integer, rest integer[], as_of timestamptz DEFAULT now())
	RETURNS double precision
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH h AS (
		SELECT r.started_at, coalesce(r.details->>'dag_run_id', r.external_id) AS run
		FROM @extschema@.job_run r
		WHERE r.job_id = $1 AND r.state::text = 'succeeded' AND r.started_at <= $3 AND r.ended_at <= $3
		ORDER BY r.started_at DESC
		LIMIT (SELECT s.history_runs FROM @extschema@._alert_settings() s)
	)
	SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM e.end_at - h.started_at)::double precision)
	FROM h
	CROSS JOIN LATERAL (
		-- the run's task instances of those tasks (mapped ones are run#index)
		SELECT max(r.ended_at) AS end_at
		FROM @extschema@.job_run r
		WHERE r.job_id = ANY ($1 || $2) AND r.state::text = 'succeeded' AND r.ended_at <= $3
		  AND (r.external_id = h.run OR (r.external_id > h.run || '#' AND r.external_id < h.run || '$'))) e
	WHERE e.end_at IS NOT NULL
	$$;
COMMENT ON FUNCTION @extschema@._remaining_p90(integer, integer[], timestamptz) IS
	'internal: how long the rest of an Airflow DAG run takes from a task on: the p90 (seconds) over the task''s last successful runs before as_of (kant.alert_settings.history_runs of them) of the time from its start to the end of the last of it and the rest tasks in the same DAG run; NULL without history';
REVOKE ALL ON FUNCTION @extschema@._remaining_p90(integer, integer[], timestamptz) FROM PUBLIC;

---------------------------------------------------------------------------
-- Recovering: kant.recover_failed_runs() calls this after the Glue jobs
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._recover_airflow(dry_run boolean)
	RETURNS TABLE (job text, business_date date, failed_run text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	st record;
	since date;
	d record;
	g record;
	c record;
	dr record;
	res record;
	tgt text;
	why text;
	done_n integer;
	deadline timestamptz;
	deadline_zone text;
	p90 double precision;
	rest integer[];
	ti jsonb;
	cleared jsonb;
	body jsonb;
	sent text[];
	n integer;
	i integer;
	-- the failed task instances of one DAG run kant is about to clear
	jobs integer[];
	names text[];
	tasks text[];
	targets text[];
	bds date[];
	tries integer[];
	maps integer[];
	nums integer[];
	maxes integer[];
	outs text[];
	whys text[];
	codes integer[];
BEGIN
	SELECT * INTO st FROM @extschema@._alert_settings();
	-- business dates of every zone in the lookback window; waits as elapsed time
	since := ((now() - @extschema@._elapsed(st.lookback)) AT TIME ZONE 'UTC')::date - 1;
	FOR d IN
		SELECT DISTINCT s.system_id, s.name AS sys, j.dag_id
		FROM @extschema@.recovery_scope rs
		JOIN @extschema@.job j ON j.job_id = rs.job_id
		JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.kind = 'airflow' AND j.dag_id IS NOT NULL
		  AND EXISTS (SELECT FROM @extschema@.job_run r WHERE r.job_id = j.job_id AND r.business_date >= since
					  AND r.state::text IN ('failed', 'timed_out'))
		ORDER BY s.name, j.dag_id
	LOOP
		-- one caller at a time per DAG: a second waits, then finds the failure handled
		-- a DAG another session is clearing (recovery, kant.rerun) is left to
		-- it: the next tick looks again, none waits (kant.tick's deadline)
		CONTINUE WHEN NOT pg_try_advisory_xact_lock(@extschema@._lock_key('recover_dag'), hashtext(d.system_id || '/' || d.dag_id));
		-- one clear per DAG run (and per include_downstream and dry run of the policies in it)
		FOR g IN
			SELECT DISTINCT x.dag_run_id, x.include_downstream, (_recover_airflow.dry_run OR x.dry_run) AS dry
			FROM @extschema@._airflow_failures(d.system_id, d.dag_id, since) x
			ORDER BY 1, 2, 3
		LOOP
			jobs := '{}'; names := '{}'; tasks := '{}'; targets := '{}'; bds := '{}'; tries := '{}';
			maps := '{}'; nums := '{}'; maxes := '{}';
			FOR c IN
				SELECT x.* FROM @extschema@._airflow_failures(d.system_id, d.dag_id, since) x
				WHERE x.dag_run_id = g.dag_run_id AND x.include_downstream = g.include_downstream
				  AND (_recover_airflow.dry_run OR x.dry_run) = g.dry
				ORDER BY x.job_name
			LOOP
				-- a failure is a try: a new failure after a clear is a new try
				tgt := @extschema@._failure_target(d.dag_id, c.external_id, c.attempt);
				-- once per try, whether recovery or kant.rerun cleared it
				CONTINUE WHEN EXISTS (SELECT FROM @extschema@._prior_action(c.job_id, tgt, g.dry));
				CONTINUE WHEN c.ended_at > now() - @extschema@._elapsed(c.min_wait);
				why := NULL;
				done_n := @extschema@._recoveries(c.job_id, c.business_date, g.dry);
				IF done_n >= c.max_attempts THEN
					why := format('cleared %s of %s times for %s already', done_n, c.max_attempts,
								  to_char(c.business_date::timestamp, 'YYYY-MM-DD'));
				END IF;
				-- what the clear runs again: the task and, downstream, what its
				-- failure left upstream_failed in the run (as kant holds it)
				rest := CASE WHEN c.include_downstream THEN ARRAY(
					SELECT DISTINCT r.job_id FROM @extschema@.job_run r
					JOIN @extschema@.job j ON j.job_id = r.job_id
					WHERE j.system_id = d.system_id AND j.dag_id = d.dag_id AND r.business_date = c.business_date
					  AND coalesce(r.details->>'dag_run_id', r.external_id) = g.dag_run_id
					  AND r.state::text = 'upstream_failed' AND r.superseded_at IS NULL AND r.job_id <> c.job_id)
					ELSE '{}' END;
				IF why IS NULL THEN
					deadline := NULL;
					SELECT x.at, x.time_zone INTO deadline, deadline_zone
					FROM (SELECT @extschema@._due(c.business_date, jd.deadline_offset_days, jd.deadline_time, jd.time_zone) AS at,
							  jd.time_zone
						  FROM @extschema@.job_deadline jd WHERE jd.job_id = ANY (c.job_id || rest)) x
					ORDER BY x.at LIMIT 1;
					p90 := coalesce(@extschema@._remaining_p90(c.job_id, rest),
									(SELECT jd.p90_seconds FROM @extschema@.job_durations(ARRAY[c.job_id]) jd), 0);
					IF deadline IS NOT NULL AND now() + make_interval(secs => p90) > deadline THEN
						why := format('the deadline cannot be met: the DAG run from %s on takes %s (p90) and the deadline is %s %s',
									  c.task_id, @extschema@._human(p90),
									  to_char(deadline AT TIME ZONE deadline_zone, 'YYYY-MM-DD HH24:MI'), deadline_zone);
					END IF;
				END IF;
				-- not while the DAG run is still running other tasks, as kant holds it
				IF why IS NULL AND EXISTS (
					SELECT FROM @extschema@.job_run r JOIN @extschema@.job j ON j.job_id = r.job_id
					WHERE j.system_id = d.system_id AND j.dag_id = d.dag_id AND r.business_date = c.business_date
					  AND coalesce(r.details->>'dag_run_id', r.external_id) = g.dag_run_id
					  AND NOT @extschema@.is_terminal(r.state) AND r.superseded_at IS NULL) THEN
					why := 'the DAG run is still running other tasks: kant clears once it has finished';
				END IF;
				IF why IS NOT NULL THEN
					INSERT INTO @extschema@.action_log AS a (kind, job_id, business_date, system_id, target, outcome, detail)
					VALUES ('recover', c.job_id, c.business_date, d.system_id, tgt, 'skipped', why)
					ON CONFLICT DO NOTHING;
					IF FOUND THEN
						job := c.job_name; business_date := c.business_date; failed_run := tgt;
						outcome := 'skipped'; detail := why;
						RETURN NEXT;
					END IF;
					CONTINUE;
				END IF;
				jobs := jobs || c.job_id; names := names || c.job_name; tasks := tasks || c.task_id;
				targets := targets || tgt; bds := bds || c.business_date; tries := tries || c.attempt;
				maps := maps || c.map_index; nums := nums || (done_n + 1); maxes := maxes || c.max_attempts;
			END LOOP;
			n := cardinality(jobs);
			CONTINUE WHEN n = 0;
			body := @extschema@._airflow_clear_body(NULL, g.dag_run_id, tasks, g.include_downstream, false);
			IF g.dry THEN
				FOR i IN 1 .. n LOOP
					INSERT INTO @extschema@.action_log AS a (kind, job_id, business_date, system_id, target, outcome, detail)
					VALUES ('recover', jobs[i], bds[i], d.system_id, targets[i], 'dry_run',
							format('would ask Airflow for DAG run %s and, when it has finished and %s failed in try %s, POST dags/%s/clearTaskInstances %s (API v2 adds "prevent_running_task": true) (clear %s of %s)',
								   g.dag_run_id, tasks[i], tries[i], d.dag_id, body, nums[i], maxes[i]))
					ON CONFLICT DO NOTHING;
					IF FOUND THEN
						job := names[i]; business_date := bds[i]; failed_run := targets[i];
						outcome := 'dry_run'; detail := body::text;
						RETURN NEXT;
					END IF;
				END LOOP;
				CONTINUE;
			END IF;
			outs := array_fill(NULL::text, ARRAY[n]);
			whys := array_fill(NULL::text, ARRAY[n]);
			codes := array_fill(NULL::integer, ARRAY[n]);
			BEGIN
				/*
				 * The run as Airflow has it, not as it was ingested: a writer
				 * reports runs, it never chooses what kant clears with the
				 * system's credentials.  kant clears a finished DAG run whose
				 * task instance failed in the try kant holds.
				 */
				SELECT * INTO dr FROM @extschema@._airflow_dag_run(d.sys, d.dag_id, g.dag_run_id);
				IF dr.status = 404 THEN
					FOR i IN 1 .. n LOOP
						outs[i] := 'refused'; codes[i] := dr.status;
						whys[i] := format('Airflow does not know DAG run %s of %s (HTTP 404: %s): kant clears only task instances Airflow reports as failed',
										  g.dag_run_id, d.dag_id, left(dr.detail, 500));
					END LOOP;
				ELSIF dr.status NOT BETWEEN 200 AND 299 THEN
					FOR i IN 1 .. n LOOP
						outs[i] := 'failed'; codes[i] := dr.status;
						whys[i] := format('GET dagRun: HTTP %s: %s', dr.status, left(dr.detail, 1000));
					END LOOP;
				ELSIF dr.run_state IS DISTINCT FROM 'failed' AND dr.run_state IS DISTINCT FROM 'success' THEN
					FOR i IN 1 .. n LOOP
						outs[i] := 'skipped'; codes[i] := dr.status;
						whys[i] := format('Airflow says the DAG run is %s: kant clears once it has finished',
										  coalesce(dr.run_state, 'in no state'));
					END LOOP;
				ELSE
					sent := '{}';
					FOR i IN 1 .. n LOOP
						-- its current try (a server that lists earlier tries too: the last)
						SELECT t INTO ti FROM jsonb_array_elements(dr.task_instances) AS t
						WHERE t->>'task_id' = tasks[i] AND (t->>'map_index')::integer = maps[i]
						ORDER BY (t->>'try_number')::integer DESC LIMIT 1;
						codes[i] := dr.status;
						IF ti IS NULL THEN
							outs[i] := 'refused';
							whys[i] := format('Airflow has no task instance %s in DAG run %s: kant clears only task instances Airflow reports as failed',
											  tasks[i], g.dag_run_id);
						ELSIF ti->>'state' = 'failed' AND (ti->>'try_number')::integer = tries[i] THEN
							sent := sent || tasks[i];
						ELSIF ti->>'state' IN ('success', 'skipped', 'removed') THEN
							outs[i] := 'refused';
							whys[i] := format('Airflow says %s is %s (try %s): nothing to clear', tasks[i], ti->>'state',
											  ti->>'try_number');
						ELSE
							-- up_for_retry (Airflow's own retry), a later try, or already cleared
							outs[i] := 'skipped';
							whys[i] := format('Airflow says %s is %s in try %s: kant waits', tasks[i],
											  coalesce(ti->>'state', 'none'), ti->>'try_number');
						END IF;
					END LOOP;
					IF cardinality(sent) > 0 THEN
						SELECT * INTO res FROM @extschema@._airflow_clear(d.sys, d.dag_id, g.dag_run_id, sent,
																		 g.include_downstream, false);
						cleared := CASE WHEN res.status BETWEEN 200 AND 299 THEN res.body::jsonb END;
						FOR i IN 1 .. n LOOP
							CONTINUE WHEN outs[i] IS NOT NULL;
							codes[i] := res.status;
							IF cleared IS NOT NULL AND EXISTS (
								SELECT FROM jsonb_array_elements(cleared->'task_instances') AS t
								WHERE t->>'task_id' = tasks[i]) THEN
								outs[i] := 'done';
								whys[i] := format('clear %s of %s (try %s failed): Airflow cleared %s task instances of DAG run %s (API %s): %s',
												  nums[i], maxes[i], tries[i], cleared->>'total_entries', g.dag_run_id, res.api,
												  left((SELECT string_agg(DISTINCT t->>'task_id', ', ')
														FROM jsonb_array_elements(cleared->'task_instances') AS t), 600));
							ELSIF cleared IS NOT NULL THEN
								outs[i] := 'refused';
								whys[i] := format('Airflow did not clear %s (its answer left it out: it is not failed any more)', tasks[i]);
							ELSIF res.status = 404 THEN
								outs[i] := 'refused';
								whys[i] := format('Airflow does not know DAG %s or its run %s (HTTP 404: %s)', d.dag_id,
												  g.dag_run_id, left(res.body, 500));
							ELSIF res.status = 409 THEN
								outs[i] := 'already';
								whys[i] := format('a task instance the clear would reset is running already (HTTP 409: %s)',
												  left(res.body, 500));
							ELSE
								outs[i] := 'failed';
								whys[i] := format('clearTaskInstances: HTTP %s: %s', res.status, left(res.body, 1000));
							END IF;
						END LOOP;
					END IF;
				END IF;
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;				-- cancel and shutdown are not outcomes
				END IF;
				FOR i IN 1 .. n LOOP
					outs[i] := 'failed'; codes[i] := NULL; whys[i] := SQLSTATE || ': ' || SQLERRM;
				END LOOP;
			END;
			FOR i IN 1 .. n LOOP
				INSERT INTO @extschema@.action_log AS a (kind, job_id, business_date, system_id, target, outcome,
					http_status, detail)
				VALUES ('recover', jobs[i], bds[i], d.system_id, targets[i], outs[i], codes[i], whys[i])
				ON CONFLICT DO NOTHING;
				IF FOUND THEN
					job := names[i]; business_date := bds[i]; failed_run := targets[i];
					outcome := outs[i]; detail := whys[i];
					RETURN NEXT;
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._recover_airflow(boolean) IS
	'internal: the Airflow part of kant.recover_failed_runs(): for each task with a policy (kant.recovery_scope) whose newest task instance failed (Airflow gave up: its own retries are up_for_retry, which kant waits for), min_wait after it, fewer than max_attempts clears that business date, the p90 of the rest of the DAG run (kant._remaining_p90) before the earliest SLO deadline of what the clear runs again, and no task of the DAG run in flight as kant holds it: asks Airflow (kant._airflow_dag_run) and clears (kant._airflow_clear, one POST per DAG run) only a finished DAG run whose task instance failed in the same try, once per try (target dag_id/dag_run_id try n), under a lock per DAG; 404 refused, 409 already, every outcome and reason to skip in kant.action_log';
REVOKE ALL ON FUNCTION @extschema@._recover_airflow(boolean) FROM PUBLIC;

-- sql/src/rerun.sql

/*
 * kant: Re-runs on request: "run the failed part of business date D again".
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

---------------------------------------------------------------------------
-- Restarting one failed Glue run: the one place recovery and kant.rerun
-- both start a Glue job again
---------------------------------------------------------------------------

/*
 * A run of a Glue job that Glue has and kant may not have collected yet: one
 * that names a run as PreviousRunId (its retry), or one started with an
 * argument's value (a business date).  StartJobRun has no idempotency token
 * (botocore glue-2017-03-31 StartJobRunRequest), so kant looks before it
 * starts one.  GetJobRuns lists a job's runs newest first: once a page
 * reaches back past since (epoch seconds) every later run was seen.  A busy
 * job can start more than a page of runs since; at most 10 pages of 100.
 */
CREATE FUNCTION @extschema@._glue_find_run(system text, job text, since double precision,
		previous_run text DEFAULT NULL, arg_name text DEFAULT NULL, arg_values text[] DEFAULT NULL)
	RETURNS TABLE (status integer, detail text, match jsonb)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res record;
	runs jsonb;
	next_token text;
	pages integer := 0;
BEGIN
	LOOP
		SELECT * INTO res FROM @extschema@._glue_call(system, 'GetJobRuns',
			(jsonb_build_object('JobName', job, 'MaxResults', 100)
			 || CASE WHEN next_token IS NOT NULL THEN jsonb_build_object('NextToken', next_token) ELSE '{}' END)::text);
		status := res.status;
		IF res.status <> 200 THEN
			detail := 'GetJobRuns: ' || coalesce(left(res.body, 1000), 'HTTP ' || res.status);
			match := NULL;
			RETURN NEXT;
			RETURN;
		END IF;
		runs := CASE WHEN jsonb_typeof((res.body::jsonb)->'JobRuns') = 'array' THEN (res.body::jsonb)->'JobRuns' ELSE '[]' END;
		SELECT r INTO match FROM jsonb_array_elements(runs) r
		WHERE (previous_run IS NOT NULL AND r->>'PreviousRunId' = previous_run)
		   OR (arg_name IS NOT NULL AND jsonb_typeof(r->'Arguments') = 'object' AND r->'Arguments'->>arg_name = ANY (arg_values))
		LIMIT 1;
		pages := pages + 1;
		next_token := CASE WHEN jsonb_typeof((res.body::jsonb)->'NextToken') = 'string' THEN (res.body::jsonb)->>'NextToken' END;
		EXIT WHEN match IS NOT NULL OR next_token IS NULL OR pages >= 10
			OR EXISTS (SELECT FROM jsonb_array_elements(runs) r
					   WHERE r->>'Id' = previous_run
						  OR since IS NOT NULL AND jsonb_typeof(r->'StartedOn') = 'number'
							 AND (r->>'StartedOn')::double precision < since);
	END LOOP;
	detail := NULL;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@._glue_find_run(text, text, double precision, text, text, text[]) IS
	'internal: look in Glue (GetJobRuns, newest first, pages of 100, at most 10, back to since in epoch seconds or to previous_run) for a run of the job that names previous_run as PreviousRunId, or whose Arguments give arg_name one of arg_values (a date in either of its formats); status 200 and the run that matches (NULL: none), or the error status and its text; kant._glue_restart and kant.rerun''s start of a missing date look before StartJobRun, which has no idempotency token';
REVOKE ALL ON FUNCTION @extschema@._glue_find_run(text, text, double precision, text, text, text[]) FROM PUBLIC;

-- One StartJobRun and what came of it: done (its JobRunId), skipped
-- (ConcurrentRunsExceededException: the job's MaxConcurrentRuns are going) or
-- failed (Glue's error); never repeated after a timeout or a 5xx (glue_retry)
CREATE FUNCTION @extschema@._glue_start(system text, body jsonb)
	RETURNS TABLE (outcome text, http_status integer, detail text, new_run_id text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res record;
BEGIN
	SELECT * INTO res FROM @extschema@._glue_call(system, 'StartJobRun', body::text);
	http_status := res.status;
	outcome := CASE WHEN res.status = 200 THEN 'done'
					WHEN res.error_type = 'ConcurrentRunsExceededException' THEN 'skipped'
					ELSE 'failed' END;
	new_run_id := CASE WHEN outcome = 'done' THEN (res.body::jsonb)->>'JobRunId' END;
	detail := CASE outcome WHEN 'done' THEN 'StartJobRun: JobRunId ' || new_run_id
				   WHEN 'skipped' THEN 'a run of the job is going (ConcurrentRunsExceededException)'
				   ELSE left(res.body, 1000) END;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@._glue_start(text, jsonb) IS
	'internal: one StartJobRun (body: JobName, and JobRunId for a restart, Arguments) through kant._glue_call; outcome done (new_run_id: its JobRunId), skipped (ConcurrentRunsExceededException) or failed (Glue''s error, in detail), with the HTTP status. kant._glue_restart and kant.rerun''s start of a missing date call it, after kant._glue_find_run';
REVOKE ALL ON FUNCTION @extschema@._glue_start(text, jsonb) FROM PUBLIC;

/*
 * The run as Glue has it (GetJobRun), not as it was ingested: a writer
 * reports runs, it never chooses what kant starts with the system's
 * credentials.  A run Glue does not know, or does not call failed, is refused
 * for good; the restart takes Glue's own arguments for the run
 * (StartJobRun's JobRunId names the run to retry, and Glue sets the new
 * run's PreviousRunId to it: botocore glue-2017-03-31 StartJobRunRequest).
 */
CREATE FUNCTION @extschema@._glue_restart(system text, job text, failed_run text)
	RETURNS TABLE (outcome text, http_status integer, detail text, new_run_id text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	res record;
	glue_run jsonb;
	retry jsonb;
	body jsonb := jsonb_build_object('JobName', job, 'JobRunId', failed_run);
BEGIN
	SELECT * INTO res FROM @extschema@._glue_call(system, 'GetJobRun',
		jsonb_build_object('JobName', job, 'RunId', failed_run)::text);
	glue_run := CASE WHEN res.status = 200 THEN (res.body::jsonb)->'JobRun' END;
	http_status := res.status;
	IF res.error_type = 'EntityNotFoundException' THEN
		outcome := 'refused';
		detail := format('Glue does not know run %s of job %s (GetJobRun: EntityNotFoundException): kant restarts only runs Glue reports as failed',
						 failed_run, job);
	ELSIF jsonb_typeof(glue_run) IS DISTINCT FROM 'object' THEN
		outcome := 'failed';
		detail := 'GetJobRun: ' || coalesce(left(res.body, 1000), 'HTTP ' || res.status);
	ELSIF glue_run->>'JobName' IS DISTINCT FROM job OR glue_run->>'Id' IS DISTINCT FROM failed_run
		  OR coalesce(glue_run->>'JobRunState', '') NOT IN ('FAILED', 'TIMEOUT', 'ERROR') THEN
		outcome := 'refused';
		detail := format('Glue says run %s of job %s is %s: nothing to restart', failed_run, job,
						 coalesce(glue_run->>'JobRunState', 'in no state'));
	ELSE
		/*
		 * A run that retries this one already (Glue's own retry, a StartJobRun
		 * whose answer was lost: a timeout or a 5xx is not retried, Glue may
		 * have started it; one by hand) names it as PreviousRunId: the failed
		 * run is not restarted twice.  A retry starts after the failed run.
		 */
		SELECT * INTO res FROM @extschema@._glue_find_run(system, job,
			CASE WHEN jsonb_typeof(glue_run->'StartedOn') = 'number' THEN (glue_run->>'StartedOn')::double precision END,
			previous_run => failed_run);
		IF res.status <> 200 THEN
			outcome := 'failed'; http_status := res.status; detail := res.detail;
			RETURN NEXT;
			RETURN;
		END IF;
		retry := res.match;
		IF retry IS NOT NULL THEN
			outcome := 'already'; http_status := 200; new_run_id := retry->>'Id';
			detail := format('Glue has run %s (%s) that retries %s already (its PreviousRunId): not started twice',
							 retry->>'Id', coalesce(retry->>'JobRunState', 'in no state'), failed_run);
			RETURN NEXT;
			RETURN;
		END IF;
		IF jsonb_typeof(glue_run->'Arguments') = 'object' THEN
			body := body || jsonb_build_object('Arguments', glue_run->'Arguments');
		END IF;
		-- a run of the job going is maybe of another date: not this failure's
		-- restart, so tried again later
		SELECT s.outcome, s.http_status, s.new_run_id,
			s.detail || CASE WHEN s.outcome = 'skipped' THEN ': tried again once it has ended' ELSE '' END
		INTO outcome, http_status, new_run_id, detail
		FROM @extschema@._glue_start(system, body) s;
	END IF;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@._glue_restart(text, text, text) IS
	'internal, the rule of restarting a failed Glue run (kant.recover_failed_runs and kant.rerun): GetJobRun first (refused when Glue does not know the run or does not report it FAILED, TIMEOUT or ERROR), GetJobRuns (already when one of the job''s runs since it, newest first, up to 10 pages of 100, names it as PreviousRunId: a retry exists, for instance from a StartJobRun whose answer was lost, which is never retried after a timeout or a 5xx), then StartJobRun with the run''s id and Glue''s arguments for it; outcome done (new_run_id: the JobRunId), skipped (ConcurrentRunsExceededException: a run of the job is going; tried again later), failed (the error) or refused, with the HTTP status and a detail';
REVOKE ALL ON FUNCTION @extschema@._glue_restart(text, text, text) FROM PUBLIC;

---------------------------------------------------------------------------
-- Gates re-armed for a business date: the downstream runs again
---------------------------------------------------------------------------

CREATE TABLE @extschema@.gate_rerun (
	gate_id			integer NOT NULL REFERENCES @extschema@.gate ON DELETE CASCADE,
	business_date	date NOT NULL,
	generation		integer NOT NULL CHECK (generation >= 1),
	requested_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	requested_by	name NOT NULL DEFAULT session_user,
	-- systems kant.rerun acted on: each must have been collected since
	systems			integer[] NOT NULL DEFAULT '{}',
	PRIMARY KEY (gate_id, business_date, generation)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gate_rerun', '');
COMMENT ON TABLE @extschema@.gate_rerun IS
	'A gate''s downstream DAG asked to run again for a business date (kant.rerun(..., retrigger => true)): kant.trigger_ready_gates() triggers it once more, as dag_run_id kant__<gate>__<date>__rerun<generation>, when the gate is ready and every system the re-run acted on has been collected since';
COMMENT ON COLUMN @extschema@.gate_rerun.gate_id IS 'the gate';
COMMENT ON COLUMN @extschema@.gate_rerun.business_date IS 'the business date';
COMMENT ON COLUMN @extschema@.gate_rerun.generation IS 'the n-th re-trigger asked for that date (1, 2, ...); the first trigger is generation 0 and has no row';
COMMENT ON COLUMN @extschema@.gate_rerun.requested_at IS 'when kant.rerun asked for it';
COMMENT ON COLUMN @extschema@.gate_rerun.requested_by IS 'the session user who asked';
COMMENT ON COLUMN @extschema@.gate_rerun.systems IS 'the systems (kant.system ids) the re-run started or cleared runs on: the downstream waits until a collection of each, started after requested_at, succeeded (until then kant''s data still shows the runs from before the re-run)';

/*
 * Which run of a gate's downstream DAG is due for a business date: the
 * first (generation 0) or the latest re-trigger asked; its deterministic
 * dag_run_id; and its logical date.  The logical date is midnight UTC of the
 * business date, or the zone's midnight where that is later (west of UTC), so
 * that the downstream DAG's {{ ds }} (the logical date's UTC date) and the
 * logical date's date in the downstream system's zone (the business date kant
 * gives its runs) are both the business date; 1 + generation seconds past it
 * (and the gate id in microseconds, for a re-trigger or a second gate on the
 * DAG),
 * as Airflow allows one run per logical date (test/fakes/airflow/
 * v1-openapi.yaml, DAGRun.logical_date: "This together with DAG_ID are a
 * unique key"; a POST whose logical date another run has is a 409:
 * api_connexion dag_run_endpoint.post_dag_run) and the DAG's own schedule may
 * have one at midnight.
 */
CREATE FUNCTION @extschema@._gate_run(gate_id integer, business_date date, time_zone text)
	RETURNS TABLE (generation integer, dag_run_id text, logical_date text, requested_at timestamptz,
		systems integer[])
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT gen, format('kant__%s__%s', g.name, to_char($2::timestamp, 'YYYY-MM-DD'))
			|| CASE WHEN gen > 0 THEN '__rerun' || gen ELSE '' END,
		-- a re-trigger, and a gate whose DAG an older gate triggers too, add the
		-- gate's id in microseconds: two gates' runs of one DAG never share the
		-- logical date Airflow keeps unique
		to_char(greatest($2::timestamp AT TIME ZONE 'UTC', $2::timestamp AT TIME ZONE $3)
				AT TIME ZONE 'UTC' + make_interval(secs => 1 + gen)
				+ CASE WHEN u.own THEN interval '1 microsecond' * g.gate_id ELSE interval '0' END,
				CASE WHEN u.own THEN 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS"Z"' END),
		r.requested_at, coalesce(r.systems, '{}')
	FROM @extschema@.gate g
	LEFT JOIN LATERAL (SELECT x.generation, x.requested_at, x.systems FROM @extschema@.gate_rerun x
					   WHERE x.gate_id = g.gate_id AND x.business_date = $2
					   ORDER BY x.generation DESC LIMIT 1) r ON true
	CROSS JOIN LATERAL (SELECT coalesce(r.generation, 0) AS gen) k
	CROSS JOIN LATERAL (SELECT k.gen > 0 OR EXISTS (
							SELECT FROM @extschema@.gate o
							WHERE o.downstream_system_id = g.downstream_system_id
							  AND o.downstream_dag_id = g.downstream_dag_id AND o.gate_id < g.gate_id) AS own) u
	WHERE g.gate_id = $1
	$$;
COMMENT ON FUNCTION @extschema@._gate_run(integer, date, text) IS
	'internal, the rule of a gate''s downstream run for a business date: the generation due (0, or the latest re-trigger kant.rerun asked), its dag_run_id (kant__<gate>__<date>, then __rerun<n>), its logical_date (ISO 8601 UTC: midnight UTC of the date, or the zone''s midnight west of UTC, plus 1 + generation seconds, and for a re-trigger or a gate whose DAG an older gate triggers too the gate id in microseconds, so that no two gates'' runs of a DAG share one) and, for a re-trigger, when it was asked and the systems to collect first';
REVOKE ALL ON FUNCTION @extschema@._gate_run(integer, date, text) FROM PUBLIC;

-- a gate's trigger for a date is settled once done, found done, or refused
-- (another run holds its logical date: kant.rerun re-arms it)
CREATE FUNCTION @extschema@._gate_trigger(gate_id integer, business_date date, target text DEFAULT NULL)
	RETURNS SETOF @extschema@.action_log
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT a.* FROM @extschema@.action_log a
	WHERE a.gate_id = $1 AND a.business_date = $2 AND a.kind = 'trigger'
	  AND a.outcome IN ('done', 'already', 'refused') AND ($3 IS NULL OR a.target = $3)
	ORDER BY a.at DESC, a.action_id DESC LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@._gate_trigger(integer, date, text) IS
	'internal, the rule of a settled gate trigger: the newest kant.action_log entry (kind trigger, outcome done, already or refused) of the gate and business date, for one target (DAG/dag_run_id) or any; none while the gate is still to trigger. kant.trigger_ready_gates, kant.rerun and the hot collection ask it';
REVOKE ALL ON FUNCTION @extschema@._gate_trigger(integer, date, text) FROM PUBLIC;

---------------------------------------------------------------------------
-- kant.rerun
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rerun(job text DEFAULT NULL, pipeline text DEFAULT NULL, gate text DEFAULT NULL,
		business_date date DEFAULT NULL, dry_run boolean DEFAULT true, retrigger boolean DEFAULT false)
	RETURNS TABLE (action text, subject text, target text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d date := rerun.business_date;
	scope int[];
	j record;
	jd record;
	fr record;
	prior record;
	res record;
	g record;
	gr record;
	arg text;
	fmt text;
	acted int[] := '{}';
	clears jsonb := '[]';
	c record;
	t record;
	o text;
	why text;
	missing boolean;
	st integer;
BEGIN
	IF num_nonnulls(rerun.job, rerun.pipeline, rerun.gate) <> 1 THEN
		RAISE EXCEPTION 'name one of job, pipeline or gate'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'e.g. kant.rerun(gate => ''to_google'', business_date => ''2026-11-29''); kant.rerun(job => ''hegel/export_orders'', ...); kant.rerun(pipeline => ''hegel_nightly'', ...).';
	END IF;
	IF d IS NULL THEN
		RAISE EXCEPTION 'business_date is required'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'kant.rerun re-runs one business date: business_date => ''2026-11-29''.';
	END IF;
	-- a date that has begun nowhere yet has no failed part (the earliest zone is UTC+14)
	IF NOT isfinite(d) THEN
		RAISE EXCEPTION 'business_date must be a date, not %', d
			USING ERRCODE = 'invalid_parameter_value', HINT = 'kant.rerun re-runs one business date: business_date => ''2026-11-29''.';
	END IF;
	IF d > (now() AT TIME ZONE 'UTC')::date + 1 THEN
		RAISE EXCEPTION 'business_date % has not begun yet', d
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'kant.rerun re-runs the failed or missing part of a business date that has begun; a run for a later date is its schedule''s to start.';
	END IF;
	PERFORM @extschema@._act_check(dry_run, 'kant.rerun');
	IF retrigger IS NULL THEN
		RAISE EXCEPTION 'kant.rerun: retrigger must be true or false, not NULL'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'retrigger => true triggers a gate''s downstream again when it ran for the date already.';
	END IF;
	IF rerun.job IS NOT NULL THEN
		-- a job (system/job, system/dag_id.task_id), or a whole Airflow DAG
		-- (system/dag_id), named as kant.set_recovery names them
		SELECT CASE WHEN rt.job_id IS NOT NULL THEN ARRAY[rt.job_id]
					ELSE ARRAY(SELECT x.job_id FROM @extschema@.job x
							   WHERE x.system_id = rt.system_id AND x.dag_id = rt.dag_id ORDER BY x.job_id) END
		INTO scope FROM @extschema@._recovery_target(rerun.job) rt;
	ELSIF rerun.pipeline IS NOT NULL THEN
		scope := ARRAY(SELECT x.job_id FROM @extschema@.job x WHERE x.pipeline = rerun.pipeline);
		IF cardinality(scope) = 0 THEN
			RAISE EXCEPTION 'pipeline "%" has no jobs', rerun.pipeline
				USING ERRCODE = 'undefined_object', HINT = 'kant.job holds each job with its pipeline (kant.configure_job sets it).';
		END IF;
	ELSE
		IF NOT EXISTS (SELECT FROM @extschema@.gate x WHERE x.name = rerun.gate) THEN
			RAISE EXCEPTION 'gate "%" does not exist', rerun.gate
				USING ERRCODE = 'undefined_object', HINT = 'kant.gate holds them.';
		END IF;
		scope := ARRAY(SELECT s.job_id FROM @extschema@.gate_scope s JOIN @extschema@.gate x USING (gate_id)
					   WHERE x.name = rerun.gate);
	END IF;

	FOR j IN
		SELECT x.job_id, x.name, x.dag_id, x.task_id, s.system_id, s.name AS sys, s.kind,
			coalesce(x.bd_argument, s.bd_argument) AS bd_argument,
			(SELECT r.required FROM @extschema@._required(x.job_id, d) r) AS required,
			EXISTS (SELECT FROM @extschema@.expected_run e WHERE e.job_id = x.job_id AND e.business_date = d) AS expected,
			EXISTS (SELECT FROM @extschema@.expected_run e WHERE e.job_id = x.job_id AND e.business_date = d
					AND e.due_at > now()) AS awaited
		FROM @extschema@.job x JOIN @extschema@.system s ON s.system_id = x.system_id
		WHERE x.job_id = ANY (scope)
		ORDER BY x.name, x.job_id
	LOOP
		-- one actor per job at a time: recovery takes the same lock
		PERFORM pg_advisory_xact_lock(@extschema@._lock_key('recover'), j.job_id);
		SELECT * INTO jd FROM @extschema@._job_day(j.job_id, d);
		subject := j.sys || '/' || j.name;
		IF jd.done THEN
			action := 'none'; target := NULL; outcome := 'nothing';
			detail := 'done for ' || to_char(d::timestamp, 'YYYY-MM-DD');
			RETURN NEXT;
			CONTINUE;
		ELSIF jd.in_flight THEN
			action := 'none'; target := NULL; outcome := 'nothing';
			detail := 'a run is in flight since ' || coalesce(to_char(jd.in_flight_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), 'an unknown time');
			RETURN NEXT;
			CONTINUE;
		END IF;
		missing := NOT jd.failed AND coalesce(jd.runs, 0) = 0;
		IF NOT jd.failed AND NOT missing THEN
			action := 'none'; target := NULL; outcome := 'nothing';
			detail := 'neither failed nor missing';
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF j.kind NOT IN ('glue', 'airflow') THEN
			action := 'none'; target := NULL; outcome := 'skipped';
			detail := format('kant starts runs only on Glue and clears task instances only on Airflow: %s is a %s system',
							 j.sys, j.kind);
			RETURN NEXT;
			CONTINUE;
		END IF;

		IF jd.failed AND j.kind = 'airflow' THEN
			-- cleared together, one request per DAG run, below
			FOR fr IN
				SELECT r.external_id, r.attempt, @extschema@._run_key(r.external_id, 'airflow') AS dag_run_id
				FROM @extschema@.job_run r
				WHERE r.job_id = j.job_id AND r.business_date = d AND @extschema@._is_current(r.superseded_at)
				  AND NOT @extschema@.is_done(r.state) AND @extschema@.is_terminal(r.state)
				ORDER BY r.external_id
			LOOP
				clears := clears || jsonb_build_object('job_id', j.job_id, 'job', subject, 'system', j.sys,
					'system_id', j.system_id, 'dag_id', j.dag_id, 'task_id', j.task_id,
					'dag_run_id', fr.dag_run_id,
					'map_index', coalesce(substring(fr.external_id FROM '#([0-9]+)$')::int, -1),
					-- a failure is a try, named as recovery names it (kant._recover_airflow)
					'target', @extschema@._failure_target(j.dag_id, fr.external_id, fr.attempt));
			END LOOP;
			CONTINUE;
		ELSIF jd.failed THEN
			SELECT r.external_id INTO fr FROM @extschema@.job_run r WHERE r.run_id = jd.failed_run_id;
			action := 'restart'; target := fr.external_id;
		ELSIF j.kind = 'airflow' THEN
			action := 'none'; target := NULL; outcome := 'skipped';
			detail := format('no task instance for %s: the DAG run is Airflow''s to create (trigger DAG %s in Airflow); kant clears failed task instances',
							 to_char(d::timestamp, 'YYYY-MM-DD'), j.dag_id);
			RETURN NEXT;
			CONTINUE;
		ELSE
			action := 'start'; target := 'business_date=' || to_char(d::timestamp, 'YYYY-MM-DD');
			why := CASE
				WHEN j.awaited THEN 'its expected run for the date has not passed its grace period yet (kant.expected_runs: awaited)'
				WHEN rerun.job IS NULL AND NOT j.expected AND j.required IS DISTINCT FROM true
					THEN 'not expected that business date (no slot of its schedule; name the job to start it anyway)'
				WHEN j.bd_argument IS NULL
					THEN 'kant cannot tell Glue the business date: the job has no business-date argument'
				END;
			IF why IS NOT NULL THEN
				outcome := 'skipped'; detail := why;
				IF j.bd_argument IS NULL AND NOT j.awaited THEN
					detail := why || ' (set one with kant.configure_job(system, job, bd_argument => ''--business_date''))';
				END IF;
				RETURN NEXT;
				CONTINUE;
			END IF;
		END IF;

		-- once: a restart of this failed run (by kant.rerun or by recovery), a start for this date
		SELECT a.at, a.kind, a.outcome, a.detail INTO prior FROM @extschema@._prior_action(j.job_id, rerun.target) a;
		IF FOUND THEN
			outcome := 'already';
			detail := format('%s at %s by %s: %s', prior.outcome,
							 to_char(prior.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
							 CASE prior.kind WHEN 'recover' THEN 'recovery' ELSE 'kant.rerun' END, prior.detail);
			RETURN NEXT;
			CONTINUE;
		END IF;

		st := NULL;
		IF action = 'restart' THEN
			IF dry_run THEN
				outcome := 'dry_run';
				detail := format('would ask Glue for run %s (GetJobRun) and call StartJobRun {"JobName": %s, "JobRunId": %s} with its arguments',
								 target, to_jsonb(j.name), to_jsonb(target));
			ELSE
				BEGIN
					SELECT * INTO res FROM @extschema@._glue_restart(j.sys, j.name, target);
					outcome := res.outcome; detail := res.detail; st := res.http_status;
				EXCEPTION WHEN OTHERS THEN
					IF SQLSTATE IN ('57014', '57P01') THEN
						RAISE;
					END IF;
					outcome := 'failed'; detail := SQLSTATE || ': ' || SQLERRM;
				END;
			END IF;
		ELSE
			-- the format of the date in the job's last runs (2024-11-24 or 20241124)
			SELECT CASE WHEN r.details->'Arguments'->>j.bd_argument ~ '^[0-9]{8}$' THEN 'YYYYMMDD' ELSE 'YYYY-MM-DD' END
			INTO fmt FROM @extschema@.job_run r
			WHERE r.job_id = j.job_id AND r.details->'Arguments' ? j.bd_argument
			ORDER BY r.started_at DESC NULLS LAST LIMIT 1;
			arg := to_char(d::timestamp, coalesce(fmt, 'YYYY-MM-DD'));
			IF dry_run THEN
				outcome := 'dry_run';
				detail := 'would call StartJobRun ' || jsonb_build_object('JobName', j.name,
					'Arguments', jsonb_build_object(j.bd_argument, arg))::text;
			ELSE
				BEGIN
					/*
					 * A run with the date's argument that kant has not collected
					 * yet (a StartJobRun whose answer was lost, one by hand) is
					 * not started again: Glue is asked for the runs started since
					 * two days before the date.
					 */
					SELECT * INTO res FROM @extschema@._glue_find_run(j.sys, j.name,
						extract(epoch FROM d::timestamp AT TIME ZONE 'UTC' - interval '2 days')::double precision,
						arg_name => j.bd_argument,
						-- a run by hand may write the date in the other format
						arg_values => ARRAY[to_char(d::timestamp, 'YYYY-MM-DD'), to_char(d::timestamp, 'YYYYMMDD')]);
					IF res.status <> 200 THEN
						st := res.status; outcome := 'failed'; detail := res.detail;
					ELSIF res.match IS NOT NULL THEN
						st := res.status; outcome := 'already';
						detail := format('Glue has run %s (%s) with %s %s, which kant has not collected yet: not started twice',
										 res.match->>'Id', coalesce(res.match->>'JobRunState', 'in no state'), j.bd_argument,
										 res.match->'Arguments'->>j.bd_argument);
					ELSE
						SELECT s.outcome, s.http_status,
							s.detail || CASE WHEN s.outcome = 'skipped' THEN ': call again once it has ended' ELSE '' END
						INTO outcome, st, detail
						FROM @extschema@._glue_start(j.sys, jsonb_build_object('JobName', j.name,
							'Arguments', jsonb_build_object(j.bd_argument, arg))) s;
					END IF;
				EXCEPTION WHEN OTHERS THEN
					IF SQLSTATE IN ('57014', '57P01') THEN
						RAISE;
					END IF;
					outcome := 'failed'; detail := SQLSTATE || ': ' || SQLERRM;
				END;
			END IF;
		END IF;
		INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, http_status, detail)
		VALUES ('rerun', j.job_id, d, j.system_id, target, outcome, st, action || ': ' || detail);
		IF outcome = 'done' THEN
			acted := acted || j.system_id;
		END IF;
		RETURN NEXT;
	END LOOP;

	-- Airflow: the failed task instances of each DAG run, in one clearTaskInstances
	FOR c IN
		SELECT x->>'system' AS sys, (x->>'system_id')::int AS system_id, x->>'dag_id' AS dag_id,
			x->>'dag_run_id' AS dag_run_id, jsonb_agg(x ORDER BY x->>'task_id', x->>'target') AS tasks
		FROM jsonb_array_elements(clears) x
		GROUP BY 1, 2, 3, 4 ORDER BY 3, 4
	LOOP
		action := 'clear';
		-- one actor per DAG at a time: recovery takes the same lock
		PERFORM pg_advisory_xact_lock(@extschema@._lock_key('recover_dag'), hashtext(c.system_id || '/' || c.dag_id));
		-- those of them already cleared for this failure (this try) are not cleared again
		SELECT array_agg(DISTINCT x->>'task_id' ORDER BY x->>'task_id') AS ids INTO t
		FROM jsonb_array_elements(c.tasks) x
		WHERE NOT EXISTS (SELECT FROM @extschema@._prior_action((x->>'job_id')::int, x->>'target'));
		IF t.ids IS NULL THEN
			FOR fr IN SELECT x->>'job' AS job, x->>'target' AS target, p.at, p.kind, p.outcome, p.detail
					  FROM jsonb_array_elements(c.tasks) x
					  LEFT JOIN LATERAL @extschema@._prior_action((x->>'job_id')::int, x->>'target') p ON true LOOP
				subject := fr.job; target := fr.target; outcome := 'already';
				-- when and by whom, as for a Glue restart
				detail := format('cleared for this try already: %s at %s by %s: %s', fr.outcome,
								 to_char(fr.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
								 CASE fr.kind WHEN 'recover' THEN 'recovery' ELSE 'kant.rerun' END, fr.detail);
				RETURN NEXT;
			END LOOP;
			CONTINUE;
		END IF;
		st := NULL;
		IF dry_run THEN
			-- Airflow's own dry run: what it would clear, nothing changed
			o := 'dry_run';
			why := format('would POST dags/%s/clearTaskInstances for the failed task instances %s of DAG run %s and their downstream',
						  c.dag_id, array_to_string(t.ids, ', '), c.dag_run_id);
			BEGIN
				SELECT * INTO res FROM @extschema@._airflow_clear(c.sys, c.dag_id, c.dag_run_id, t.ids, true, true);
				st := res.status;
				why := why || CASE WHEN res.status BETWEEN 200 AND 299
								   THEN format('; Airflow''s dry run would clear %s: %s',
											   (res.body::jsonb)->'total_entries',
											   (SELECT string_agg(x->>'task_id' || CASE WHEN (x->>'map_index')::int >= 0 THEN '[' || (x->>'map_index') || ']' ELSE '' END, ', '
														ORDER BY x->>'task_id')
												FROM jsonb_array_elements((res.body::jsonb)->'task_instances') x))
								   ELSE format('; Airflow''s dry run answered HTTP %s %s', res.status, left(res.body, 500)) END;
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;
				END IF;
				why := why || '; Airflow''s dry run failed: ' || SQLERRM;
			END;
		ELSE
			BEGIN
				SELECT * INTO res FROM @extschema@._airflow_clear(c.sys, c.dag_id, c.dag_run_id, t.ids, true, false);
				st := res.status;
				-- as recovery reads them: 404 no such DAG run (never), 409 a task instance is running
				o := CASE WHEN res.status BETWEEN 200 AND 299 THEN 'done'
						  WHEN res.status = 404 THEN 'refused'
						  WHEN res.status = 409 THEN 'already'
						  ELSE 'failed' END;
				why := format('clearTaskInstances of %s in DAG run %s: HTTP %s %s', array_to_string(t.ids, ', '),
							  c.dag_run_id, res.status, left(res.body, 900));
			EXCEPTION WHEN OTHERS THEN
				IF SQLSTATE IN ('57014', '57P01') THEN
					RAISE;
				END IF;
				o := 'failed'; why := SQLSTATE || ': ' || SQLERRM;
			END;
		END IF;
		FOR fr IN SELECT (x->>'job_id')::int AS job_id, x->>'job' AS job, x->>'target' AS target,
					x->>'task_id' AS task_id, (x->>'map_index')::int AS map_index
				  FROM jsonb_array_elements(c.tasks) x
				  WHERE x->>'task_id' = ANY (t.ids)
					AND NOT EXISTS (SELECT FROM @extschema@._prior_action((x->>'job_id')::int, x->>'target')) LOOP
			outcome := o; detail := why;
			-- a task instance Airflow did not clear was no longer failed (cleared
			-- already, by recovery for another map index, or by hand): nothing done
			-- to it (v1 answers task ids, v2 task ids and map indexes)
			IF o = 'done' AND NOT EXISTS (
					SELECT FROM jsonb_array_elements((res.body::jsonb)->'task_instances') y
					WHERE y->>'task_id' = fr.task_id
					  AND (NOT y ? 'map_index' OR (y->>'map_index')::int = fr.map_index)) THEN
				outcome := 'already';
				detail := format('Airflow cleared nothing for %s in DAG run %s: it is no longer failed', fr.target, c.dag_run_id);
			END IF;
			INSERT INTO @extschema@.action_log (kind, job_id, business_date, system_id, target, outcome, http_status, detail)
			VALUES ('rerun', fr.job_id, d, c.system_id, fr.target, outcome, st, 'clear: ' || detail);
			subject := fr.job; target := fr.target;
			RETURN NEXT;
		END LOOP;
		IF o = 'done' THEN
			acted := acted || c.system_id;
		END IF;
	END LOOP;

	-- the downstream of the gates over these jobs: triggered again only when asked
	FOR g IN
		SELECT x.gate_id, x.name, x.downstream_dag_id, sy.system_id, sy.time_zone, x.lookback_days, x.trigger_from
		FROM @extschema@.gate x JOIN @extschema@.system sy ON sy.system_id = x.downstream_system_id
		WHERE (rerun.gate IS NOT NULL AND x.name = rerun.gate)
		   OR (rerun.gate IS NULL AND EXISTS (SELECT FROM @extschema@.gate_scope s
											  WHERE s.gate_id = x.gate_id AND s.job_id = ANY (scope)))
		ORDER BY x.name
	LOOP
		PERFORM pg_advisory_xact_lock(@extschema@._lock_key('gate_trigger'), g.gate_id);
		SELECT * INTO gr FROM @extschema@._gate_run(g.gate_id, d, g.time_zone);
		action := 'retrigger'; subject := g.name; target := g.downstream_dag_id || '/' || gr.dag_run_id;
		SELECT a.at, a.target, a.outcome INTO prior
		FROM @extschema@._gate_trigger(g.gate_id, d, g.downstream_dag_id || '/' || gr.dag_run_id) a;
		IF NOT FOUND THEN
			outcome := 'nothing';
			detail := CASE WHEN gr.generation = 0
						   THEN format('gate %s has not triggered %s for %s yet: kant.trigger_ready_gates() triggers it when the gate is ready',
									   g.name, g.downstream_dag_id, to_char(d::timestamp, 'YYYY-MM-DD'))
						   ELSE format('gate %s triggers %s again (re-trigger %s) when it is ready', g.name, gr.dag_run_id, gr.generation) END;
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF retrigger AND d < (now() AT TIME ZONE g.time_zone)::date - g.lookback_days THEN
			outcome := 'skipped';
			detail := format('%s is more than the gate''s lookback_days (%s) back: kant.trigger_ready_gates() would not trigger it again (trigger the DAG in Airflow)',
							 to_char(d::timestamp, 'YYYY-MM-DD'), g.lookback_days);
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF NOT retrigger THEN
			outcome := 'nothing';
			detail := CASE WHEN prior.outcome = 'refused'
						   THEN format('Airflow refused %s for %s at %s (another DAG run at its logical date: kant.actions): retrigger => true triggers it at a later logical date when the gate is ready',
									   prior.target, to_char(d::timestamp, 'YYYY-MM-DD'),
									   to_char(prior.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
						   ELSE format('the downstream DAG ran for %s already (%s at %s): not triggered again (retrigger => true triggers it once more when the gate is ready)',
									   to_char(d::timestamp, 'YYYY-MM-DD'), prior.target,
									   to_char(prior.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')) END;
			RETURN NEXT;
			CONTINUE;
		END IF;
		SELECT r.dag_run_id, r.logical_date INTO gr FROM @extschema@._gate_run(g.gate_id, d, g.time_zone) r0,
			LATERAL (SELECT format('%s__rerun%s', regexp_replace(r0.dag_run_id, '__rerun[0-9]+$', ''), r0.generation + 1) AS dag_run_id,
							r0.logical_date) r;
		target := g.downstream_dag_id || '/' || gr.dag_run_id;
		IF dry_run THEN
			outcome := 'dry_run';
			detail := format('would trigger %s again as %s once the gate is ready', g.downstream_dag_id, gr.dag_run_id);
		ELSE
			INSERT INTO @extschema@.gate_rerun (gate_id, business_date, generation, systems)
			SELECT g.gate_id, d, coalesce(max(x.generation), 0) + 1,
				ARRAY(SELECT DISTINCT u FROM unnest(acted) u ORDER BY u)
			FROM @extschema@.gate_rerun x WHERE x.gate_id = g.gate_id AND x.business_date = d;
			outcome := 'done';
			detail := format('%s will be triggered again as %s once the gate is ready%s', g.downstream_dag_id, gr.dag_run_id,
							 CASE WHEN cardinality(acted) > 0 THEN ' and the systems acted on are collected again' ELSE '' END);
		END IF;
		INSERT INTO @extschema@.action_log (kind, gate_id, business_date, system_id, target, outcome, detail)
		VALUES ('rerun', g.gate_id, d, g.system_id, target, outcome, 'retrigger: ' || detail);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.rerun(text, text, text, date, boolean, boolean) IS
	'Run the failed or missing part of one business date again, for a job (system/job; system/dag_id: every task of an Airflow DAG), a pipeline or a gate''s upstream (name one): a failed Glue run is restarted (GetJobRun, StartJobRun with its id and arguments: kant._glue_restart), a missing Glue run started with the business-date argument (the job''s or system''s bd_argument, in the format of its last runs; already when Glue has a run with that argument kant has not collected yet, kant._glue_find_run; a job without one, or whose slot is still awaited, is skipped with the reason), the failed task instances of each Airflow DAG run cleared in one clearTaskInstances (only_failed, downstream included, the DAG run reset); jobs done or in flight are left alone. dry_run (the default) only says and logs what would be done. Each action once: a failed run restarted or cleared (by kant.rerun or recovery) or a date started is not acted on twice. A gate''s downstream that already ran for the date is triggered again only with retrigger => true, once the gate is ready again, as kant__<gate>__<date>__rerun<n>. Every action in kant.actions (kind rerun). Returns one row per job and gate: action (restart, start, clear, retrigger, none), subject (system/job, or the gate), target, outcome (done, already, failed, refused, dry_run, skipped, nothing) and detail. Errors: 22023 when not exactly one of job, pipeline, gate or no business_date; 42704 for an unknown pipeline or gate';
REVOKE ALL ON FUNCTION @extschema@.rerun(text, text, text, date, boolean, boolean) FROM PUBLIC;

-- sql/src/hot_collection.sql

/*
 * kant: Hot collection, the request budget and the tick (issue 16).
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * The hourly sweep (kant.collect_glue, kant.collect_airflow) reads
 * everything; a gate learns from it that its last upstream job finished up
 * to an hour late.  kant.collect_hot reads, every minute, only what can
 * change soon: the runs kant holds as in flight (Glue GetJobRun by id, once
 * the run may be near its end), failed Glue attempts whose retry is coming,
 * jobs due to start now, and Airflow's DAG runs in flight.  kant.tick() runs
 * it for every system with hot collection on, then the gates, then recovery,
 * in one transaction: the gate sees what the collection just ingested.  A
 * per-system request budget (AIMD: Glue publishes no rate per API and its
 * limit is shared by the account and Region) keeps the hot reads within
 * what the system allows.
 */

---------------------------------------------------------------------------
-- The request budget of a system, and whether it is collected hot
---------------------------------------------------------------------------

CREATE TABLE @extschema@.collect_budget (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	hot				boolean NOT NULL DEFAULT false,
	per_minute		integer NOT NULL DEFAULT 300 CHECK (per_minute BETWEEN 1 AND 100000),
	increase		integer CHECK (increase BETWEEN 1 AND 100000),
	rate			double precision NOT NULL DEFAULT 300 CHECK (rate >= 1),
	tokens			double precision NOT NULL DEFAULT 300 CHECK (tokens >= 0),
	refilled_at		timestamptz NOT NULL DEFAULT now(),
	throttled_at	timestamptz,
	halvings		bigint NOT NULL DEFAULT 0,
	updated_at		timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.collect_budget', '');
COMMENT ON TABLE @extschema@.collect_budget IS
	'Per collected system: whether kant.tick() collects it hot (kant.set_hot_collection; kant.schedule_collection turns it on), and its request budget (kant.set_collect_budget): a token bucket holding at most a minute of requests, refilled at rate a minute; rate halves on the first throttled reply of a collection and grows back by increase a minute up to per_minute (AIMD). A hot collection makes no request past it; a sweep spends it but is not held to it. No row: hot off, the defaults';
COMMENT ON COLUMN @extschema@.collect_budget.hot IS 'kant.tick() runs kant.collect_hot for the system';
COMMENT ON COLUMN @extschema@.collect_budget.per_minute IS 'requests a minute at most (default 300: 5 a second)';
COMMENT ON COLUMN @extschema@.collect_budget.increase IS 'requests a minute the rate grows back by each minute without throttling; NULL: a tenth of per_minute';
COMMENT ON COLUMN @extschema@.collect_budget.rate IS 'the rate now, requests a minute (1 to per_minute)';
COMMENT ON COLUMN @extschema@.collect_budget.tokens IS 'requests the bucket holds now (at most rate)';
COMMENT ON COLUMN @extschema@.collect_budget.refilled_at IS 'when the bucket was last refilled';
COMMENT ON COLUMN @extschema@.collect_budget.throttled_at IS 'when a collection last met throttling (and halved the rate)';
COMMENT ON COLUMN @extschema@.collect_budget.halvings IS 'how often the rate was halved';
COMMENT ON COLUMN @extschema@.collect_budget.updated_at IS 'when the settings were last changed';

/*
 * The budget of a system as a collection begins (used 0) and ends (what it
 * sent, whether a reply was throttled): refill the bucket for the time since
 * the last refill, at the rate, which first grows by increase a minute
 * unless a throttled reply came since; take what was used (never below
 * zero: a sweep may spend more than there is, and owes nothing); on
 * throttling, halve the rate (at least 1) and keep at most that much.
 * Returns the tokens left.  AIMD as TCP's congestion control (RFC 5681) and
 * the AWS SDKs' adaptive retry mode do it: the limit is unknown and shared.
 */
CREATE FUNCTION @extschema@._collect_budget(system_id integer, used integer, throttled boolean)
	RETURNS double precision
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	b record;
	t timestamptz := clock_timestamp();
	minutes double precision;
	r double precision;
	k double precision;
BEGIN
	INSERT INTO @extschema@.collect_budget AS x (system_id) VALUES ($1) ON CONFLICT DO NOTHING;
	SELECT x.* INTO b FROM @extschema@.collect_budget x WHERE x.system_id = $1 FOR UPDATE;
	minutes := greatest(extract(epoch FROM t - b.refilled_at)::double precision / 60, 0);
	r := b.rate;
	IF b.throttled_at IS NULL OR b.throttled_at < b.refilled_at THEN
		r := least(b.per_minute, r + coalesce(b.increase, greatest(1, b.per_minute / 10)) * minutes);
	END IF;
	k := greatest(least(r, b.tokens + r * minutes) - coalesce(used, 0), 0);
	IF throttled THEN
		r := greatest(1, r / 2);
		k := least(k, r);
	END IF;
	UPDATE @extschema@.collect_budget x SET rate = r, tokens = k, refilled_at = t,
		throttled_at = CASE WHEN throttled THEN t ELSE x.throttled_at END,
		halvings = x.halvings + CASE WHEN throttled THEN 1 ELSE 0 END
	WHERE x.system_id = $1;
	RETURN k;
END
$$;
COMMENT ON FUNCTION @extschema@._collect_budget(integer, integer, boolean) IS
	'internal: a system''s request budget as a collection begins (used 0) and ends: refill the bucket (the rate first grows by increase a minute unless throttled since), take what was used (never below 0), halve the rate when a reply was throttled; returns the requests the bucket holds';
REVOKE ALL ON FUNCTION @extschema@._collect_budget(integer, integer, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._collected_system(system text)
	RETURNS integer
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	k text;
BEGIN
	SELECT s.system_id, s.kind INTO sid, k FROM @extschema@.system s WHERE s.name = _collected_system.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name, kind FROM kant.system;';
	END IF;
	IF k NOT IN ('glue', 'airflow') THEN
		RAISE EXCEPTION 'kant does not poll % systems', k
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'OpenLineage and manual systems send their runs (kant.ingest_openlineage, kant.report_run).';
	END IF;
	RETURN sid;
END
$$;
COMMENT ON FUNCTION @extschema@._collected_system(text) IS
	'internal: the id of a system kant polls (glue or airflow); 42704 when there is none of that name, 0A000 for another kind';
REVOKE ALL ON FUNCTION @extschema@._collected_system(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.set_collect_budget(system text, per_minute integer DEFAULT 300,
		increase integer DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer := @extschema@._collected_system(system);
BEGIN
	IF per_minute IS NULL OR per_minute NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'per_minute must be between 1 and 100000, not %', coalesce(per_minute::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The requests a minute kant may make to the system at most (default 300); throttling halves the rate, which grows back by increase a minute.';
	END IF;
	IF increase IS NOT NULL AND increase NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'increase must be between 1 and 100000, not %', increase
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Requests a minute the rate grows back by each minute without throttling; NULL: a tenth of per_minute.';
	END IF;
	INSERT INTO @extschema@.collect_budget AS b (system_id, per_minute, increase, rate, tokens)
	VALUES (sid, per_minute, increase, per_minute, per_minute)
	ON CONFLICT (system_id) DO UPDATE SET per_minute = excluded.per_minute, increase = excluded.increase,
		rate = least(b.rate, excluded.per_minute), tokens = least(b.tokens, excluded.per_minute),
		updated_at = now();
END
$$;
COMMENT ON FUNCTION @extschema@.set_collect_budget(text, integer, integer) IS
	'Set a collected system''s request budget: per_minute requests a minute at most (1-100000, default 300), increase the requests a minute the rate grows back by each minute after throttling halved it (NULL: a tenth of per_minute). A lower per_minute applies at once, a higher one is grown to. Hot collections keep to it; a sweep spends it (kant.collect_budget)';
REVOKE ALL ON FUNCTION @extschema@.set_collect_budget(text, integer, integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.set_hot_collection(system text, enabled boolean DEFAULT true)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer := @extschema@._collected_system(system);
	was boolean;
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'enabled must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'true: kant.tick() collects the system hot; false: only its sweep does.';
	END IF;
	SELECT b.hot INTO was FROM @extschema@.collect_budget b WHERE b.system_id = sid;
	INSERT INTO @extschema@.collect_budget AS b (system_id, hot) VALUES (sid, enabled)
	ON CONFLICT (system_id) DO UPDATE SET hot = excluded.hot, updated_at = now()
	WHERE b.hot IS DISTINCT FROM excluded.hot;
	RETURN coalesce(was, false) IS DISTINCT FROM enabled;
END
$$;
COMMENT ON FUNCTION @extschema@.set_hot_collection(text, boolean) IS
	'Turn hot collection of a Glue or Airflow system on (kant.tick() runs kant.collect_hot for it every minute) or off; kant.schedule_collection turns it on, kant.unschedule_collection off; returns whether the setting changed';
REVOKE ALL ON FUNCTION @extschema@.set_hot_collection(text, boolean) FROM PUBLIC;

---------------------------------------------------------------------------
-- What a hot collection reads
---------------------------------------------------------------------------

CREATE TABLE @extschema@.hot_read (
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	target			text COLLATE "C" NOT NULL,
	read_at			timestamptz NOT NULL,
	misses			integer NOT NULL DEFAULT 0 CHECK (misses >= 0),
	PRIMARY KEY (job_id, target)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.hot_read', '');
COMMENT ON TABLE @extschema@.hot_read IS
	'When a hot collection last read a Glue run in flight by its id (GetJobRun): a run not yet near its end is read again 10 minutes later; forgotten once the run ends';
COMMENT ON COLUMN @extschema@.hot_read.target IS 'the run''s id (kant.job_run.external_id)';
COMMENT ON COLUMN @extschema@.hot_read.read_at IS 'when it was last read (the start of the reading transaction)';
COMMENT ON COLUMN @extschema@.hot_read.misses IS 'reads in a row Glue answered EntityNotFoundException (a run another source reported): such a run is read every 10 minutes only';

/*
 * What a hot collection of a system reads now, in the order to read it: the
 * reads for a gate not yet triggered or an SLO still open (its SLA end not
 * passed) for the run's business date first, then by kind -- (1) runs in
 * flight, (2) attempts to come, (3) runs due to start -- then oldest first.
 *
 * Glue:
 *   GetJobRun <job> <run>: a current attempt kant holds as not finished
 *     (started within 8 days, as the sweep reads back), every minute once it may be
 *     near its end (now >= start + the p10 of the job's durations - 1
 *     minute; p10 over the successful runs kant.job_durations reads: the
 *     alert settings' history_runs), else every 10 minutes; every minute
 *     without a history, and every minute when its job is the last one a
 *     gate not yet triggered waits for that business date (a run that ends
 *     before its p10 may be the one that opens the gate); every 10 minutes
 *     once Glue said it does not know it.
 *   GetJobRuns <job>: (2) a failed or timed-out current attempt whose next
 *     one kant has not seen (no run names it as PreviousRunId): Glue retries
 *     it (attempts left under the job's MaxRetries, ended within the alert
 *     settings' retry_wait) or kant restarted it (kant.action_log recover or
 *     rerun, done, within retry_wait); a run kant.rerun started for a date
 *     without one, not seen yet (within retry_wait); (3) an expected run whose slot has come and
 *     whose grace has not passed, not started yet (as kant.expected_runs
 *     counts the runs of the date), or a job whose upstream jobs
 *     (kant.set_dependency) all succeeded for a business date, the last
 *     within the hour, without a run for that date.  One GetJobRuns a job.
 * Airflow:
 *   taskInstances <dag_id> <dag_run_id>: a DAG run with a task instance kant
 *     holds as not finished (first seen within 8 days).
 */
CREATE FUNCTION @extschema@._hot_targets(system_id integer, as_of timestamptz DEFAULT now())
	RETURNS TABLE (op text, job text, run text, business_date date, on_path boolean, why text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH sy AS (
		SELECT s.system_id, s.kind FROM @extschema@.system s WHERE s.system_id = $1
	), st AS (
		SELECT a.retry_wait, a.history_runs FROM @extschema@._alert_settings() a
	), flight AS (
		SELECT r.job_id, j.name AS job, j.dag_id, r.external_id, r.details, r.business_date, r.started_at,
			r.first_seen, sy.kind
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.job_run r ON r.job_id = j.job_id AND NOT @extschema@.is_terminal(r.state)
		WHERE coalesce(r.started_at, r.first_seen) >= $2 - interval '8 days'
		  -- an attempt a later one superseded (an Airflow try never run) is no longer in flight
		  AND @extschema@._is_current(r.superseded_at)
	), p10 AS (
		SELECT f.job_id, percentile_cont(0.1) WITHIN GROUP (ORDER BY x.d) AS p10
		FROM (SELECT DISTINCT fl.job_id FROM flight fl WHERE fl.kind = 'glue') f
		CROSS JOIN LATERAL (
			SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS d
			FROM @extschema@.job_run r
			WHERE r.job_id = f.job_id AND r.started_at <= $2 AND r.ended_at <= $2 AND r.state::text = 'succeeded'
			ORDER BY r.started_at DESC
			LIMIT (SELECT st.history_runs FROM st)) x
		GROUP BY f.job_id
	), gate_days AS (
		-- the gates not yet triggered for the date of a Glue run in flight
		SELECT DISTINCT gs.gate_id, f.business_date
		FROM flight f JOIN @extschema@.gate_scope gs ON gs.job_id = f.job_id
		WHERE f.kind = 'glue'
		  AND NOT EXISTS (SELECT FROM @extschema@._gate_trigger(gs.gate_id, f.business_date))
	), last_up AS (
		-- the one required job such a gate still waits for (kant._required_jobs, kant._job_day,
		-- as kant_gate_ready asks them): its end opens the gate
		SELECT w.waits_for[1] AS job_id, w.business_date
		FROM (SELECT gd.business_date,
					 array_agg(rq.job_id) FILTER (WHERE rq.required AND NOT jd.done) AS waits_for
			  FROM gate_days gd
			  CROSS JOIN LATERAL @extschema@._required_jobs(NULL, gd.gate_id, gd.business_date) rq
			  CROSS JOIN LATERAL @extschema@._job_day(rq.job_id, gd.business_date) jd
			  GROUP BY gd.gate_id, gd.business_date) w
		WHERE cardinality(w.waits_for) = 1
	), every AS (
		-- (1) Glue runs in flight, read by id
		SELECT 'GetJobRun'::text AS op, f.job, f.external_id AS run, f.business_date, f.job_id, 1 AS kind_order,
			coalesce(f.started_at, f.first_seen) AS at, 'in flight'::text AS why
		FROM flight f
		LEFT JOIN p10 p ON p.job_id = f.job_id
		LEFT JOIN @extschema@.hot_read h ON h.job_id = f.job_id AND h.target = f.external_id
		WHERE f.kind = 'glue'
		  AND CASE WHEN h.misses > 0 THEN h.read_at <= $2 - interval '10 minutes'
				   -- the last job a gate waits for, however early in its run
				   WHEN EXISTS (SELECT FROM last_up l WHERE l.job_id = f.job_id AND l.business_date = f.business_date)
					   THEN true
				   WHEN p.p10 IS NULL OR f.started_at IS NULL THEN true
				   WHEN $2 >= f.started_at + make_interval(secs => p.p10) - interval '1 minute' THEN true
				   ELSE coalesce(h.read_at, f.first_seen) <= $2 - interval '10 minutes' END
		UNION ALL
		-- (2) failed Glue attempts whose retry (Glue's, or kant's restart) is to come
		SELECT 'GetJobRuns', j.name, NULL, r.business_date, j.job_id, 2, r.ended_at, 'the retry of ' || r.external_id
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.job_run r ON r.job_id = j.job_id
		WHERE sy.kind = 'glue' AND r.started_at >= $2 - interval '8 days'
		  AND r.state::text IN ('failed', 'timed_out') AND @extschema@._is_current(r.superseded_at)
		  AND ((j.max_retries IS NOT NULL AND r.attempt - 1 < j.max_retries
				AND r.ended_at > $2 - (SELECT st.retry_wait FROM st))
			   OR EXISTS (SELECT FROM @extschema@.action_log a
						  WHERE a.kind IN ('recover', 'rerun') AND a.job_id = j.job_id AND a.target = r.external_id
							AND a.outcome = 'done' AND a.at > $2 - (SELECT st.retry_wait FROM st)))
		  AND NOT EXISTS (SELECT FROM @extschema@.job_run n
						  WHERE n.job_id = r.job_id AND n.previous_external_id = r.external_id)
		UNION ALL
		-- (2) and a run kant.rerun started for a business date that had none
		SELECT 'GetJobRuns', j.name, NULL, a.business_date, j.job_id, 2, a.at,
			'the run kant.rerun started for ' || to_char(a.business_date::timestamp, 'YYYY-MM-DD')
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.action_log a ON a.job_id = j.job_id AND a.kind = 'rerun' AND a.outcome = 'done'
			AND a.target = 'business_date=' || to_char(a.business_date::timestamp, 'YYYY-MM-DD')
		WHERE sy.kind = 'glue' AND a.at > $2 - (SELECT st.retry_wait FROM st)
		  AND NOT EXISTS (SELECT FROM @extschema@.job_run n
						  WHERE n.job_id = j.job_id AND n.business_date = a.business_date)
		UNION ALL
		-- (3) Glue runs due: a slot come, not started, within its grace
		SELECT 'GetJobRuns', j.name, NULL, x.business_date, j.job_id, 3, x.slot_at,
			'expected at ' || @extschema@._utc(x.slot_at)
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
		JOIN @extschema@.expected_run x ON x.job_id = j.job_id
		-- (a grace of more than 8 days is not looked at: the index reads a week of slots)
		WHERE sy.kind = 'glue' AND x.slot_at <= $2 AND x.slot_at > $2 - interval '8 days' AND x.due_at > $2
		  AND (SELECT count(*) FROM @extschema@.expected_run y
			   WHERE y.job_id = x.job_id AND y.business_date = x.business_date AND y.slot_at <= x.slot_at)
			  > (SELECT count(DISTINCT r.external_id) FROM @extschema@.job_run r
				 WHERE r.job_id = x.job_id AND r.business_date = x.business_date
				   AND @extschema@._is_current(r.superseded_at))
		UNION ALL
		-- (3) Glue runs due: every upstream job succeeded, the last within the hour
		SELECT 'GetJobRuns', j.name, NULL, u.business_date, j.job_id, 3, u.ended_at, 'its upstream jobs are done'
		FROM sy
		JOIN @extschema@.job j ON j.system_id = sy.system_id
			AND j.job_id IN (SELECT d.job_id FROM @extschema@.job_dependency d)
		CROSS JOIN LATERAL (
			SELECT r.business_date, max(r.ended_at) AS ended_at
			FROM @extschema@.job_dependency d
			CROSS JOIN LATERAL (
				SELECT r.business_date, r.ended_at FROM @extschema@.job_run r
				WHERE r.job_id = d.upstream_job_id AND r.started_at > $2 - interval '8 days'
				  AND r.state::text = 'succeeded' AND r.ended_at > $2 - interval '1 hour' AND r.ended_at <= $2) r
			WHERE d.job_id = j.job_id
			GROUP BY r.business_date) u
		WHERE sy.kind = 'glue'
		  AND NOT EXISTS (SELECT FROM @extschema@.job_run r WHERE r.job_id = j.job_id AND r.business_date = u.business_date)
		  AND NOT EXISTS (SELECT FROM @extschema@.job_dependency d
						  CROSS JOIN LATERAL @extschema@._job_day(d.upstream_job_id, u.business_date) jd
						  WHERE d.job_id = j.job_id AND NOT jd.done)
		UNION ALL
		-- Airflow DAG runs in flight, read by their task instances
		SELECT 'taskInstances', f.dag_id, coalesce(f.details->>'dag_run_id', f.external_id), f.business_date,
			f.job_id, 1, coalesce(f.started_at, f.first_seen), 'in flight'
		FROM flight f
		WHERE f.kind = 'airflow' AND f.dag_id IS NOT NULL
	), judged AS (
		SELECT e.*,
			-- a gate not yet triggered for the date, or an SLO whose SLA end has not passed
			EXISTS (SELECT FROM @extschema@.gate_scope gs
					WHERE gs.job_id = e.job_id
					  AND NOT EXISTS (SELECT FROM @extschema@._gate_trigger(gs.gate_id, e.business_date)))
			OR EXISTS (SELECT FROM @extschema@.slo_scope sc JOIN @extschema@.slo s ON s.slo_id = sc.slo_id
					   WHERE sc.job_id = e.job_id
						 AND @extschema@._due(e.business_date, s.sla_offset_days, s.sla_time, s.time_zone) > $2)
				AS on_path
		FROM every e
	)
	SELECT t.op, t.job, t.run, t.business_date, t.on_path, t.why
	FROM (SELECT DISTINCT ON (jd.op, jd.job, coalesce(jd.run, '')) jd.*
		  FROM judged jd
		  ORDER BY jd.op, jd.job, coalesce(jd.run, ''), jd.on_path DESC, jd.kind_order, jd.at) t
	ORDER BY t.on_path DESC, t.kind_order, t.at, t.job, t.run
	$$;
COMMENT ON FUNCTION @extschema@._hot_targets(integer, timestamptz) IS
	'internal: what a hot collection of a system reads at as_of, in order (for a gate not yet triggered or an SLO still open first; then runs in flight, attempts to come, runs due; oldest first): Glue GetJobRun of a run in flight (every minute from its start + the p10 of its durations - 1 minute, or while its job is the last one a gate waits for, else every 10 minutes), GetJobRuns of a job whose failed attempt Glue or kant is retrying or whose run is due (a slot come within its grace, or its upstream jobs done within the hour); Airflow taskInstances of a DAG run in flight';
REVOKE ALL ON FUNCTION @extschema@._hot_targets(integer, timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.collect_hot(system text)
	RETURNS @extschema@.collection
	AS 'MODULE_PATHNAME', 'kant_collect_hot'
	LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.collect_hot(text) IS
	'Read what can change soon on a Glue or Airflow system and ingest it as the sweep does (kant._hot_targets: Glue runs in flight by id, GetJobRun, once near their end; GetJobRuns of a few runs for a retry to come or a run due; Airflow''s DAG runs in flight, kant''s and those listed queued or running, and their task instances; no job, DAG or trigger listing), within the system''s request budget (kant.collect_budget), stopping at the first throttled reply and at the deadline (the tick''s, else 45 seconds); what it did not read is counted as deferred. Moves no watermark, cursor or schedule; a sweep of the system in progress makes it read nothing. Returns the collection record (mode hot)';
REVOKE ALL ON FUNCTION @extschema@.collect_hot(text) FROM PUBLIC;

---------------------------------------------------------------------------
-- The tick: a minute's work in one transaction
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._http_deadline(deadline timestamptz)
	RETURNS void
	AS 'MODULE_PATHNAME', 'kant_http_set_deadline'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._http_deadline(timestamptz) IS
	'internal: until the transaction ends (or the next call), no request kant makes starts, waits for a retry (Retry-After included) or runs at or past the deadline: it ends with its last outcome, or as a timeout; NULL: none';
REVOKE ALL ON FUNCTION @extschema@._http_deadline(timestamptz) FROM PUBLIC;

/*
 * pg_cron 1.4 has no schedule under a minute, queues a job still running at
 * its next minute (every minute missed adds a run), and runs at most five
 * jobs at once with background workers: a minute's work is one job, and
 * ends well inside the minute.  The collections take up to two thirds of
 * the deadline, the gates and recovery the rest; every request keeps to it
 * (kant._http_deadline).  The gates run in the same transaction as the
 * collections, so they see what was just ingested (as separate jobs started
 * the same second, the gate could run before the collection commits, and
 * the hand-off would take a minute more).
 */
CREATE FUNCTION @extschema@.tick(deadline interval DEFAULT '45 seconds')
	RETURNS TABLE (step text, target text, outcome text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	sy record;
	c @extschema@.collection;
	targets text[];
	outcomes text[];
	details text[];
	i integer;
BEGIN
	IF deadline IS NULL OR deadline < interval '1 second' OR deadline > interval '10 minutes' THEN
		RAISE EXCEPTION 'deadline must be between 1 second and 10 minutes, not %', coalesce(deadline::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'pg_cron starts kant.tick() every minute: the default, 45 seconds, ends each tick before the next.';
	END IF;
	-- the collections: every system collected hot, each on its own
	PERFORM @extschema@._http_deadline(t0 + deadline * 2 / 3);
	FOR sy IN
		SELECT s.name FROM @extschema@.collect_budget b JOIN @extschema@.system s ON s.system_id = b.system_id
		WHERE b.hot AND s.kind IN ('glue', 'airflow')
		ORDER BY s.name
	LOOP
		step := 'collect';
		target := sy.name;
		BEGIN
			SELECT * INTO c FROM @extschema@.collect_hot(sy.name);
			outcome := CASE WHEN c.error IS NOT NULL THEN 'failed' WHEN c.deferred > 0 THEN 'deferred' ELSE 'done' END;
			detail := format('%s request%s, %s runs read, %s new, %s changed, %s deferred, %s throttled%s',
							 c.requests, CASE WHEN c.requests = 1 THEN '' ELSE 's' END,
							 c.runs_seen, c.runs_new, c.runs_changed, c.deferred, c.throttled,
							 coalesce(' [' || c.sqlstate || '] ' || c.error, ''));
		EXCEPTION WHEN OTHERS THEN
			IF SQLSTATE IN ('57014', '57P01') THEN
				RAISE;				-- cancel and shutdown are not outcomes
			END IF;
			outcome := 'failed';
			detail := SQLSTATE || ': ' || SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
	PERFORM @extschema@._http_deadline(t0 + deadline);
	-- the gates, seeing what the collections ingested
	BEGIN
		SELECT array_agg(g.gate ORDER BY g.gate, g.business_date), array_agg(g.outcome ORDER BY g.gate, g.business_date),
			array_agg(format('%s: %s%s', to_char(g.business_date::timestamp, 'YYYY-MM-DD'),
							 coalesce('HTTP ' || g.http_status || ' ', ''), coalesce(left(g.detail, 200), ''))
					  ORDER BY g.gate, g.business_date)
		INTO targets, outcomes, details
		FROM @extschema@.trigger_ready_gates() g;
	EXCEPTION WHEN OTHERS THEN
		IF SQLSTATE IN ('57014', '57P01') THEN
			RAISE;
		END IF;
		targets := ARRAY[NULL];
		outcomes := ARRAY['failed'];
		details := ARRAY[SQLSTATE || ': ' || SQLERRM];
	END;
	FOR i IN 1 .. coalesce(cardinality(targets), 0) LOOP
		step := 'gate'; target := targets[i]; outcome := outcomes[i]; detail := details[i];
		RETURN NEXT;
	END LOOP;
	-- then recovery
	BEGIN
		SELECT array_agg(r.job ORDER BY r.job, r.failed_run), array_agg(r.outcome ORDER BY r.job, r.failed_run),
			array_agg(format('%s %s: %s', to_char(r.business_date::timestamp, 'YYYY-MM-DD'), r.failed_run,
							 coalesce(left(r.detail, 200), '')) ORDER BY r.job, r.failed_run)
		INTO targets, outcomes, details
		FROM @extschema@.recover_failed_runs() r;
	EXCEPTION WHEN OTHERS THEN
		IF SQLSTATE IN ('57014', '57P01') THEN
			RAISE;
		END IF;
		targets := ARRAY[NULL];
		outcomes := ARRAY['failed'];
		details := ARRAY[SQLSTATE || ': ' || SQLERRM];
	END;
	FOR i IN 1 .. coalesce(cardinality(targets), 0) LOOP
		step := 'recover'; target := targets[i]; outcome := outcomes[i]; detail := details[i];
		RETURN NEXT;
	END LOOP;
	PERFORM @extschema@._http_deadline(NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.tick(interval) IS
	'A minute''s work, in one transaction and within deadline (1 second to 10 minutes, default 45 seconds): kant.collect_hot for every system with hot collection on (kant.set_hot_collection; up to two thirds of the deadline), then kant.trigger_ready_gates() (seeing what was just ingested), then kant.recover_failed_runs(); no request runs past the deadline. One system''s failure stops neither the others nor the gates. Returns a row per step done: collect (system, done / deferred / failed, the counts), gate (gate, the trigger''s outcome, the date), recover (job, the outcome, the date and run). The pg_cron job kant-gates runs it (kant.schedule_gate_triggers)';
REVOKE ALL ON FUNCTION @extschema@.tick(interval) FROM PUBLIC;

-- an SLO may be judged "on time and right" (kant.set_slo_datasets above; refresh_slo is redefined further up)
ALTER TABLE @extschema@.slo_day ADD COLUMN checks_failed integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN @extschema@.slo_day.checks_failed IS 'critical data-quality checks of the SLO''s datasets (kant.set_slo_datasets) whose latest verdict for the date is fail or error: such a day is not met ("on time and right"); 0 when the SLO has no datasets';

CREATE OR REPLACE VIEW @extschema@.bi_slo_daily AS
SELECT
	s.name AS slo,
	s.pipeline,
	ss.systems,
	y.business_date,
	s.time_zone AS slo_time_zone,
	y.deadline AT TIME ZONE 'UTC' AS deadline_utc,
	y.deadline AT TIME ZONE s.time_zone AS deadline_local,
	y.sla_end AT TIME ZONE 'UTC' AS sla_end_utc,
	y.sla_end AT TIME ZONE s.time_zone AS sla_end_local,
	y.completed_at AT TIME ZONE 'UTC' AS completed_at_utc,
	y.completed_at AT TIME ZONE s.time_zone AS completed_at_local,
	y.slo_status,
	y.sla_status,
	CASE WHEN y.slo_status = 'met' THEN 1 ELSE 0 END AS slo_met,
	CASE WHEN y.sla_status = 'met' THEN 1 ELSE 0 END AS sla_met,
	CASE WHEN y.slo_status IN ('met', 'missed') AND y.sla_status IN ('met', 'missed') THEN 1 ELSE 0 END AS is_final,
	round(y.lateness_seconds::numeric, 3)::numeric(14,3) AS lateness_seconds,
	y.runs,
	y.done,
	y.running,
	y.failures,
	y.retries,
	y.missing,
	j.name AS critical_job,
	cs.name AS critical_job_system,
	y.evaluated_at AT TIME ZONE 'UTC' AS evaluated_at_utc,
	y.checks_failed
FROM @extschema@.slo_day y
JOIN @extschema@.slo s ON s.slo_id = y.slo_id
LEFT JOIN @extschema@.slo_systems ss ON ss.slo_id = y.slo_id
LEFT JOIN @extschema@.job j ON j.job_id = y.critical_job_id
LEFT JOIN @extschema@.system cs ON cs.system_id = j.system_id;
COMMENT ON VIEW @extschema@.bi_slo_daily IS 'One row per SLO and business date: deadline, completion, SLO and SLA verdicts, lateness, failures, missing runs, critical job';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo IS 'SLO name';
COMMENT ON COLUMN @extschema@.bi_slo_daily.pipeline IS 'the SLO''s pipeline';
COMMENT ON COLUMN @extschema@.bi_slo_daily.systems IS 'systems of the jobs in scope (display names)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.business_date IS 'the business date judged';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo_time_zone IS 'IANA zone of the _local columns (the SLO''s)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.deadline_utc IS 'SLO deadline, UTC';
COMMENT ON COLUMN @extschema@.bi_slo_daily.deadline_local IS 'SLO deadline, wall-clock time in slo_time_zone';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_end_utc IS 'end of the SLA window, UTC';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_end_local IS 'end of the SLA window, in slo_time_zone';
COMMENT ON COLUMN @extschema@.bi_slo_daily.completed_at_utc IS 'when the last required job reached its final success, UTC; NULL until complete';
COMMENT ON COLUMN @extschema@.bi_slo_daily.completed_at_local IS 'the same in slo_time_zone';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo_status IS 'met, missed, pending or no_data';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_status IS 'met, missed, pending or no_data';
COMMENT ON COLUMN @extschema@.bi_slo_daily.slo_met IS '1 when the SLO was met, else 0';
COMMENT ON COLUMN @extschema@.bi_slo_daily.sla_met IS '1 when the SLA was met, else 0';
COMMENT ON COLUMN @extschema@.bi_slo_daily.is_final IS '1 when neither verdict can change any more by the clock (late data can still change it)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.lateness_seconds IS 'completion minus deadline in seconds (negative: early); incomplete past the deadline: how late at evaluation';
COMMENT ON COLUMN @extschema@.bi_slo_daily.runs IS 'current attempts of required runs';
COMMENT ON COLUMN @extschema@.bi_slo_daily.done IS 'of those, succeeded or skipped';
COMMENT ON COLUMN @extschema@.bi_slo_daily.running IS 'of those, not finished';
COMMENT ON COLUMN @extschema@.bi_slo_daily.failures IS 'attempts that failed (recovered or not)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.retries IS 'attempts superseded by a retry';
COMMENT ON COLUMN @extschema@.bi_slo_daily.missing IS 'expected runs that never started';
COMMENT ON COLUMN @extschema@.bi_slo_daily.critical_job IS 'complete day: the job that finished last; incomplete day: a job not done yet (running, failed or missing)';
COMMENT ON COLUMN @extschema@.bi_slo_daily.critical_job_system IS 'its system';
COMMENT ON COLUMN @extschema@.bi_slo_daily.evaluated_at_utc IS 'when the verdict was computed, UTC';
COMMENT ON COLUMN @extschema@.bi_slo_daily.checks_failed IS 'critical data-quality checks of the SLO''s datasets that failed for the date (kant.set_slo_datasets: such a day is missed, on time or not); 0 without datasets';

-- the Glue collector reads Data Quality results (sql/src/collect_glue_dq.sql, above)
COMMENT ON FUNCTION @extschema@.collect_glue(text) IS
	'Read a glue system''s jobs, their runs since the last collection (GetJobs, GetJobRuns, paged, SigV4-signed) and their scheduled triggers, and ingest them; with kant.set_glue_data_quality on, then the Data Quality results started since the last ones read (ListDataQualityResults, BatchGetDataQualityResult) into kant.ingest_glue_data_quality. Returns the collection record. A failure keeps what was read before it, is recorded and raised as a WARNING; access denied to the Data Quality actions is the record''s hint and a WARNING, not a failure.';

-- Hand-off, recovery on both sides, re-runs (issue 16)
-- (new objects: sql/src/rerun.sql and the files after it, above)

ALTER TABLE @extschema@.action_log DROP CONSTRAINT action_log_kind_check;
ALTER TABLE @extschema@.action_log ADD CONSTRAINT action_log_kind_check
	CHECK (kind IN ('trigger', 'recover', 'rerun'));
DROP INDEX @extschema@.action_log_trigger_once;
DROP INDEX @extschema@.action_log_recover_once;
CREATE UNIQUE INDEX action_log_trigger_once ON @extschema@.action_log (gate_id, business_date, target)
	WHERE kind = 'trigger' AND outcome IN ('done', 'already');
CREATE UNIQUE INDEX action_log_rerun_once ON @extschema@.action_log (job_id, target)
	WHERE kind = 'rerun' AND job_id IS NOT NULL AND outcome IN ('done', 'already', 'refused');
CREATE UNIQUE INDEX action_log_recover_once ON @extschema@.action_log (job_id, target)
	WHERE kind = 'recover' AND outcome IN ('done', 'already', 'refused');
CREATE UNIQUE INDEX action_log_recover_dry_once ON @extschema@.action_log (job_id, target)
	WHERE kind = 'recover' AND outcome = 'dry_run';
COMMENT ON COLUMN @extschema@.action_log.kind IS 'trigger (a gate''s downstream DAG), recover (StartJobRun of a failed Glue run, clearTaskInstances of a failed Airflow task instance) or rerun (what kant.rerun did: a restart, a start for a missing date, a clear of failed task instances, a re-trigger asked)';
COMMENT ON COLUMN @extschema@.action_log.target IS 'what was acted on: DAG/dag_run_id (trigger, a re-trigger), the failed JobRun id (recover and rerun, Glue), dag_id/dag_run_id[#map_index] try n (recover and rerun, Airflow: a failure is a try), business_date=<date> (rerun, a missing Glue run started)';
COMMENT ON COLUMN @extschema@.actions.kind IS 'trigger, recover or rerun';
COMMENT ON COLUMN @extschema@.actions.target IS 'DAG/dag_run_id (trigger), the failed JobRun id, dag_id/dag_run_id try n (recover, rerun), or business_date=<date> (rerun start)';
COMMENT ON FUNCTION @extschema@.alter_system(text, text, text, text, text, text, integer, time, text, text, text) IS
	'Change a system''s settings; arguments left NULL are unchanged. Business dates already stored are not re-derived, and default_pipeline is given to jobs registered from now on (kant.configure_job(job, pipeline => ...) moves a job already registered).';

CREATE OR REPLACE FUNCTION @extschema@._cron_job(job_name text, schedule text, command text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cron_db text;
	id bigint;
	others text[];
BEGIN
	-- before to_regclass(), which fails on a schema the caller may not use
	IF to_regnamespace('cron') IS NOT NULL AND NOT has_schema_privilege('cron', 'USAGE') THEN
		RAISE EXCEPTION 'role "%" may not use pg_cron', current_user
			USING ERRCODE = 'insufficient_privilege',
				  HINT = format('pg_cron runs a job as the role that scheduled it; a superuser grants it: GRANT USAGE ON SCHEMA cron TO %I;', current_user);
	END IF;
	IF NOT @extschema@._pg_cron_here() THEN
		BEGIN
			cron_db := current_setting('cron.database_name', true);
		EXCEPTION WHEN insufficient_privilege THEN
			cron_db := NULL;
		END;
		IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
			RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_db, current_database()
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = format('In database %s run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
									cron_db, job_name, schedule, command, current_database());
		END IF;
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and CREATE EXTENSION pg_cron (or schedule where pg_cron lives).';
	END IF;
	-- pg_cron checks the schedule itself
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING job_name, schedule, command;
	/*
	 * job names are unique per role: another role's job of this name runs
	 * too.  Only a role that may ask (EXECUTE on kant._cron_others: the
	 * README's grants; the 0.6.0 update gives it to who could run
	 * kant._cron_job) is told: the check must not keep a job from being
	 * scheduled.
	 */
	IF has_function_privilege('@extschema@._cron_others(text, text)', 'EXECUTE') THEN
		others := @extschema@._cron_others(job_name, current_user::text);
	END IF;
	IF cardinality(others) > 0 THEN
		RAISE WARNING 'pg_cron also runs a job "%" of role %: both run', job_name, array_to_string(others, ', ')
			USING DETAIL = 'pg_cron job names are unique per role; kant''s jobs are meant to run once.',
				  HINT = format('Remove the other one as that role (SET ROLE %I; then the kant.unschedule_... function that matches, or SELECT cron.unschedule(%L);), or as a superuser with cron.unschedule(jobid).',
								others[1], job_name);
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._cron_job(text, text, text) IS
	'internal: create or replace a named pg_cron job of the caller (pg_cron runs it as its caller), or explain what to run where pg_cron lives; 55000 without pg_cron here, 42501 without USAGE on schema cron; a WARNING when another role has a job of that name (kant._cron_others, asked only when the caller may run it)';
REVOKE ALL ON FUNCTION @extschema@._cron_job(text, text, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@._cron_unjob(job_name text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT @extschema@._pg_cron_here()
	   OR NOT EXISTS (SELECT FROM cron.job WHERE jobname = job_name AND username = current_user) THEN
		RETURN false;
	END IF;
	PERFORM cron.unschedule(job_name);
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@._cron_unjob(text) IS 'internal: remove a named pg_cron job of the current user; false when there was none';
REVOKE ALL ON FUNCTION @extschema@._cron_unjob(text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.unschedule_slo_refresh()
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT @extschema@._pg_cron_here() THEN
		RETURN false;
	END IF;
	IF NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'kant-refresh-slo' AND username = current_user) THEN
		RETURN false;
	END IF;
	PERFORM cron.unschedule('kant-refresh-slo');
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_slo_refresh() IS
	'Remove the pg_cron job kant-refresh-slo; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.unschedule_slo_refresh() FROM PUBLIC;

-- new helpers in earlier files (sql/src/action_log.sql: acting once; pg_cron.sql: jobs of other roles)
/*
 * What every function that acts on Glue or Airflow checks first.  A NULL
 * dry_run is neither a dry run nor a go-ahead.  Acting once relies on the
 * lock per job, DAG or gate and on reading the log after it: under REPEATABLE
 * READ or SERIALIZABLE the snapshot is older than the lock, so a second caller
 * would not see what the first did and would act again (StartJobRun has no
 * idempotency token: botocore glue-2017-03-31 StartJobRunRequest).
 */
CREATE FUNCTION @extschema@._act_check(dry_run boolean, what text)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF dry_run IS NULL THEN
		RAISE EXCEPTION '%: dry_run must be true or false, not NULL', what
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'dry_run => true only says what would be done; dry_run => false does it.';
	END IF;
	IF NOT dry_run AND current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION '%: kant acts on Glue and Airflow only in READ COMMITTED transactions, not %', what,
			upper(current_setting('transaction_isolation'))
			USING ERRCODE = 'invalid_transaction_state',
				  HINT = 'A snapshot older than kant''s lock would not see what another caller just did, and kant would act twice. Use SET TRANSACTION ISOLATION LEVEL READ COMMITTED (or the database''s default_transaction_isolation).';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._act_check(boolean, text) IS
	'internal: what a function that acts on Glue or Airflow (kant.rerun, kant.recover_failed_runs, kant.trigger_ready_gates; what is the function''s name) checks first: dry_run is not NULL (22023), and acting (not a dry run) happens in a READ COMMITTED transaction (25000: under a snapshot older than the lock a second caller would act again)';
REVOKE ALL ON FUNCTION @extschema@._act_check(boolean, text) FROM PUBLIC;
-- what kant calls one failure of an Airflow task: a try of a task instance
CREATE FUNCTION @extschema@._failure_target(dag_id text, external_id text, attempt integer)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT pg_catalog.format('%s/%s try %s', $1, $2, $3) $$;
COMMENT ON FUNCTION @extschema@._failure_target(text, text, integer) IS
	'internal, the rule of naming an Airflow failure in kant.action_log.target: dag_id/dag_run_id[#map_index] try n (a new failure after a clear is a new try); recovery, kant.rerun and the failure check use it';
REVOKE ALL ON FUNCTION @extschema@._failure_target(text, text, integer) FROM PUBLIC;
/*
 * When a failure counts as acted on: a restart or clear of it (recovery or
 * kant.rerun) that was done, found done already or refused.  A failed
 * request is tried again at the next tick; a dry run's entry holds back only
 * dry runs (logged once), never the real action.  Recovery, kant.rerun and
 * the clear of a DAG run's failed tasks all ask this, so a failure is acted
 * on once whoever acts first.
 */
CREATE FUNCTION @extschema@._prior_action(job_id integer, target text, dry_run boolean DEFAULT false)
	RETURNS SETOF @extschema@.action_log
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT a.* FROM @extschema@.action_log a
	WHERE a.job_id = $1 AND a.target = $2 AND a.kind IN ('recover', 'rerun')
	  AND (a.outcome IN ('done', 'already', 'refused')
		   OR $3 AND a.kind = 'recover' AND a.outcome = 'dry_run')
	ORDER BY a.at DESC, a.action_id DESC LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@._prior_action(integer, text, boolean) IS
	'internal, the rule of acting once on a failure: the newest kant.action_log entry (kind recover or rerun, outcome done, already or refused; with dry_run also a dry run of recovery) for the job and target (a Glue JobRun id, kant._failure_target of an Airflow try, business_date=<date>), none when nothing holds the action back; recovery and kant.rerun ask it';
REVOKE ALL ON FUNCTION @extschema@._prior_action(integer, text, boolean) FROM PUBLIC;
-- how many times recovery acted for a job and business date (max_attempts)
CREATE FUNCTION @extschema@._recoveries(job_id integer, business_date date, dry_run boolean DEFAULT false)
	RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT count(*) FROM @extschema@.action_log a
	WHERE a.kind = 'recover' AND a.job_id = $1 AND a.business_date = $2
	  AND (a.outcome IN ('done', 'already') OR $3 AND a.outcome = 'dry_run')
$$;
COMMENT ON FUNCTION @extschema@._recoveries(integer, date, boolean) IS
	'internal, the rule of recovery''s max_attempts: how many restarts (Glue) or clears (Airflow) recovery did or found done for the job and business date (kant.action_log kind recover, outcome done, or already: a retry Glue had, as from a StartJobRun whose answer was lost, a clear another client made; with dry_run also its dry runs); kant.rerun does not count';
REVOKE ALL ON FUNCTION @extschema@._recoveries(integer, date, boolean) FROM PUBLIC;
/*
 * kant: pg_cron: kant's jobs, created and removed by functions (never by the install script).
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

/*
 * pg_cron keeps cron.database_name from all but superusers and
 * pg_read_all_settings (GUC_SUPERUSER_ONLY): the name is needed only to say
 * where pg_cron lives when it is not here, and an admin scheduling kant's jobs
 * must not fail on reading it.
 */
/*
 * Is schema cron pg_cron's?  A database pg_cron is not installed in may have
 * a schema "cron" of anyone's (with a CREATE on the database): kant calls
 * cron.schedule and reads cron.job only where they are pg_cron's, or a caller
 * (a superuser scheduling kant's jobs; kant._cron_others, which runs as one)
 * would run that schema's code.
 */
CREATE FUNCTION @extschema@._pg_cron_here()
	RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
				   WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
					 AND d.objid = pg_catalog.to_regclass('cron.job')
					 AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
					 AND e.extname = 'pg_cron')
$$;
COMMENT ON FUNCTION @extschema@._pg_cron_here() IS
	'internal: whether cron.job here is pg_cron''s (a member of the pg_cron extension), not a table or view of a schema "cron" someone else made; kant schedules, unschedules and reads pg_cron jobs only then';
/*
 * pg_cron shows a role only its own jobs (row security on cron.job): the
 * roles other than the caller that have a job of this name, read as the
 * extension's owner; names only.  kant's jobs are meant to run once: a second
 * role scheduling them (the README's setup run as postgres, then as the
 * platform's role) doubles every sweep and tick.
 */
CREATE FUNCTION @extschema@._cron_others(job_name text, me text)
	RETURNS text[]
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r text[];
BEGIN
	/*
	 * pg_cron's own table only: this runs as a superuser, and a schema
	 * "cron" in a database pg_cron is not installed in may be anyone's (a
	 * view there would run its functions as the superuser)
	 */
	IF NOT @extschema@._pg_cron_here() THEN
		RETURN '{}';
	END IF;
	-- kant's own job names only: this function reads as a superuser what
	-- pg_cron hides from its caller, and must not tell who has any other job
	IF job_name IS NULL OR job_name NOT LIKE 'kant-%' THEN
		RETURN '{}';
	END IF;
	EXECUTE 'SELECT coalesce(array_agg(DISTINCT username::text ORDER BY username::text), ''{}'') FROM cron.job
			 WHERE jobname = $1 AND username <> $2'
		INTO r USING job_name, me;
	RETURN r;
END
$$;
COMMENT ON FUNCTION @extschema@._cron_others(text, text) IS
	'internal: the roles other than me (the caller: pg_cron jobs are its current_user''s) that have a pg_cron job of this name (read as the extension''s owner: pg_cron shows each role its own jobs); names only, and only for kant''s job names (kant-...) and pg_cron''s own cron.job (an extension member): empty for any other name, or a cron.job pg_cron did not make';
REVOKE ALL ON FUNCTION @extschema@._cron_others(text, text) FROM PUBLIC;

-- who could run kant._cron_job under 0.5.0 (the README grants) may run
-- kant._cron_others: without it every schedule_ function failed after the update (42501)
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN
		SELECT DISTINCT a.grantee, a.is_grantable
		FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
		WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@._cron_job(text, text, text)'::pg_catalog.regprocedure
		  AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE' AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@._cron_others(text, text) TO %s%s',
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;

---------------------------------------------------------------------------
-- issue 16: recovery on the Airflow side (sql/src/recovery_airflow.sql, above:
-- the policy table's new columns, kant.recovery_scope, the clear).
-- kant.set_recovery takes an Airflow task or a whole DAG and include_downstream
-- (a new signature: the grants on the old one are carried over);
-- kant.unset_recovery a DAG; what action_log and actions say
---------------------------------------------------------------------------

DO $$
BEGIN
	PERFORM pg_catalog.set_config('kant_upgrade.set_recovery_grants', coalesce((
		SELECT pg_catalog.json_agg(pg_catalog.json_build_object('grantee', a.grantee, 'grantable', a.is_grantable))::text
		FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
		WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.set_recovery(text, integer, interval, boolean)'::pg_catalog.regprocedure
		  AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE' AND a.grantee OPERATOR(pg_catalog.<>) p.proowner), '[]'), true);
END
$$;
DROP FUNCTION @extschema@.set_recovery(text, integer, interval, boolean);
CREATE FUNCTION @extschema@.set_recovery(job text, max_attempts integer DEFAULT 2,
		min_wait interval DEFAULT '5 minutes', dry_run boolean DEFAULT false,
		include_downstream boolean DEFAULT true)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
BEGIN
	IF max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 10 THEN
		RAISE EXCEPTION 'max_attempts must be between 1 and 10' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The restarts or clears kant makes per job and business date, e.g. 2.';
	END IF;
	IF min_wait IS NULL OR min_wait < '0' THEN
		RAISE EXCEPTION 'min_wait must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'How long kant waits after a failure, e.g. ''5 minutes''.';
	END IF;
	IF include_downstream IS NULL THEN
		RAISE EXCEPTION 'include_downstream must be true or false' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'true (the default) clears the task instances the failure left upstream_failed as well.';
	END IF;
	-- a job (Glue job, Airflow task) of that name first; else an Airflow DAG
	SELECT * INTO t FROM @extschema@._recovery_target(job);
	IF t.job_id IS NOT NULL THEN
		IF NOT EXISTS (SELECT FROM @extschema@.job j JOIN @extschema@.system s USING (system_id)
					   WHERE j.job_id = t.job_id AND (s.kind = 'glue' OR (s.kind = 'airflow' AND j.dag_id IS NOT NULL))) THEN
			RAISE EXCEPTION 'job "%" is not a Glue job or an Airflow task', job
				USING ERRCODE = 'feature_not_supported',
					  HINT = 'kant restarts Glue jobs (StartJobRun) and clears failed Airflow task instances (clearTaskInstances); an OpenLineage or reported job is run by something kant does not reach.';
		END IF;
		INSERT INTO @extschema@.recovery_policy AS p (job_id, max_attempts, min_wait, dry_run, include_downstream)
		VALUES (t.job_id, max_attempts, min_wait, coalesce(dry_run, false), include_downstream)
		ON CONFLICT (job_id) DO UPDATE SET max_attempts = excluded.max_attempts,
			min_wait = excluded.min_wait, dry_run = excluded.dry_run, include_downstream = excluded.include_downstream;
	ELSE
		INSERT INTO @extschema@.recovery_policy AS p (system_id, dag_id, max_attempts, min_wait, dry_run, include_downstream)
		VALUES (t.system_id, t.dag_id, max_attempts, min_wait, coalesce(dry_run, false), include_downstream)
		ON CONFLICT (system_id, dag_id) DO UPDATE SET max_attempts = excluded.max_attempts,
			min_wait = excluded.min_wait, dry_run = excluded.dry_run, include_downstream = excluded.include_downstream;
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean, boolean) IS
	'Let kant recover a Glue job (system/job: StartJobRun of a failed run), an Airflow task (system/dag_id.task_id) or a whole Airflow DAG (system/dag_id: each task without a policy of its own; a task of that name wins) by clearing failed task instances (clearTaskInstances, include_downstream as given): up to max_attempts per job and business date, min_wait after the failure, while the remaining work''s p90 fits before the deadline; dry_run only logs. Errors: 22023 bad arguments, 42704 unknown job, 0A000 a job kant cannot act on';
REVOKE ALL ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean, boolean) FROM PUBLIC;
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM pg_catalog.json_to_recordset(pg_catalog.current_setting('kant_upgrade.set_recovery_grants')::pg_catalog.json)
			 AS x(grantee oid, grantable boolean)
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.set_recovery(text, integer, interval, boolean, boolean) TO %s%s',
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.unset_recovery(job text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	t record;
BEGIN
	SELECT * INTO t FROM @extschema@._recovery_target(job);
	IF t.job_id IS NULL THEN
		DELETE FROM @extschema@.recovery_policy p WHERE p.system_id = t.system_id AND p.dag_id = t.dag_id;
	ELSE
		DELETE FROM @extschema@.recovery_policy p WHERE p.job_id = t.job_id;
	END IF;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.unset_recovery(text) IS
	'Stop recovering a job, an Airflow task or a whole DAG (its tasks'' own policies stay); false when it had no policy';
REVOKE ALL ON FUNCTION @extschema@.unset_recovery(text) FROM PUBLIC;

COMMENT ON TABLE @extschema@.action_log IS
	'What kant did to the outside and why: each trigger of a downstream DAG, each restart of a failed Glue run and each clear of a failed Airflow task instance (done, already, failed, dry run, skipped with the reason, refused); at most one successful trigger per gate and business date, at most one restart or clear per failure (a Glue run, an Airflow task instance''s try)';
COMMENT ON COLUMN @extschema@.action_log.kind IS 'trigger (a gate''s downstream DAG), recover (StartJobRun of a failed Glue run, clearTaskInstances of a failed Airflow task instance) or rerun (what kant.rerun did: a restart, a start for a missing date, a clear of failed task instances, a re-trigger asked)';
COMMENT ON COLUMN @extschema@.action_log.job_id IS 'the job restarted or the Airflow task cleared (recover, rerun)';
COMMENT ON COLUMN @extschema@.action_log.target IS 'what was acted on: DAG/dag_run_id (trigger, a re-trigger), the failed JobRun id (recover and rerun, Glue), dag_id/dag_run_id[#map_index] try n (recover and rerun, Airflow: a failure is a try), business_date=<date> (rerun, a missing Glue run started)';
COMMENT ON COLUMN @extschema@.action_log.outcome IS
	'done, already (409 / a run in flight), failed (tried again by the next call), dry_run, skipped (a reason not to act now, logged once), refused (Glue or Airflow does not report the run as failed, or does not know it (404): never acted on)';
COMMENT ON VIEW @extschema@.actions IS 'Everything kant did to the outside (triggers, Glue restarts, Airflow clears) and what it decided not to do, with the outcome';
COMMENT ON COLUMN @extschema@.actions.job IS 'the job restarted or the Airflow task cleared';
COMMENT ON COLUMN @extschema@.actions.target IS 'DAG/dag_run_id (trigger), the failed JobRun id, dag_id/dag_run_id try n (recover, rerun), or business_date=<date> (rerun start)';
COMMENT ON COLUMN @extschema@.actions.outcome IS 'done, already, failed, dry_run, skipped, refused or nothing';

-- issue 16: the sweep and hot collection, kant.tick() (h1)
-- schedule_collection turns hot collection on (kant.set_hot_collection), unschedule_collection
-- off; kant-gates runs kant.tick()

COMMENT ON COLUMN @extschema@.collection.jobs IS 'jobs found (a sweep); the reads it chose (hot: runs, jobs, DAG runs)';

CREATE OR REPLACE FUNCTION @extschema@.schedule_collection(system text, schedule text DEFAULT '0 * * * *')
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k text;
	id bigint;
	job_name text := @extschema@._cron_name('kant-collect-', system);
BEGIN
	SELECT s.kind INTO k FROM @extschema@.system s WHERE s.name = schedule_collection.system;
	IF k IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF k NOT IN ('glue', 'airflow') THEN
		RAISE EXCEPTION 'kant does not poll % systems', k
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'OpenLineage and manual systems send their runs (kant.ingest_openlineage, kant.report_run).';
	END IF;
	-- a job of this system under another name (kant 0.5.0's) goes: one job per system
	IF @extschema@._pg_cron_here() THEN
		PERFORM cron.unschedule(j.jobid) FROM cron.job j
		WHERE j.username = current_user AND j.command = @extschema@._collect_command(system)
		  AND j.jobname IS DISTINCT FROM job_name::name;
	END IF;
	id := @extschema@._cron_job(job_name, schedule, @extschema@._collect_command(system));
	-- and between sweeps, what can change soon, every minute (kant.tick())
	BEGIN
		PERFORM @extschema@.set_hot_collection(system, true);
	EXCEPTION WHEN insufficient_privilege THEN
		RAISE WARNING 'kant: the sweep of % is scheduled, but hot collection could not be turned on: %', system, SQLERRM
			USING HINT = format('A superuser grants it: GRANT EXECUTE ON FUNCTION kant.set_hot_collection(text, boolean) TO %I; then call kant.schedule_collection(%L) again.',
								current_user, system);
	END;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.schedule_collection(text, text) IS
	'Create or update the pg_cron job that sweeps a system (default hourly: the post''s poll that notices a trigger that never fired, the only collection that moves watermarks), named kant-collect-<system> (a hash stands in for what does not fit 63 bytes), and turn its hot collection on (kant.set_hot_collection: kant.tick() reads what can change soon every minute); returns the cron job id';
REVOKE ALL ON FUNCTION @extschema@.schedule_collection(text, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.unschedule_collection(system text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer := 0;
	hot_off boolean := false;
BEGIN
	IF @extschema@._pg_cron_here() THEN
		SELECT count(cron.unschedule(j.jobid)) INTO n FROM cron.job j
		WHERE j.username = current_user
		  AND (j.jobname = @extschema@._cron_name('kant-collect-', system)::name
			   OR j.command = @extschema@._collect_command(system));
	END IF;
	-- no hot collection of a system without its sweep
	IF EXISTS (SELECT FROM @extschema@.system s WHERE s.name = unschedule_collection.system
				 AND s.kind IN ('glue', 'airflow')) THEN
		BEGIN
			hot_off := @extschema@.set_hot_collection(system, false);
		EXCEPTION WHEN insufficient_privilege THEN
			RAISE WARNING 'kant: hot collection of % could not be turned off: %', system, SQLERRM
				USING HINT = format('A superuser grants it: GRANT EXECUTE ON FUNCTION kant.set_hot_collection(text, boolean) TO %I;', current_user);
		END;
	END IF;
	RETURN n > 0 OR hot_off;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule_collection(text) IS
	'Remove the pg_cron job that sweeps a system (found by its name or its command) and turn its hot collection off; false when there was neither';
REVOKE ALL ON FUNCTION @extschema@.unschedule_collection(text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.schedule_gate_triggers(schedule text DEFAULT '* * * * *')
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$ SELECT @extschema@._cron_job('kant-gates', schedule,
		'SELECT step, target, outcome FROM kant.tick()') $$;
COMMENT ON FUNCTION @extschema@.schedule_gate_triggers(text) IS
	'Create or update the pg_cron job kant-gates that runs kant.tick() (default every minute): the hot collections, then kant.trigger_ready_gates(), then kant.recover_failed_runs(), in one transaction; returns its id';
REVOKE ALL ON FUNCTION @extschema@.schedule_gate_triggers(text) FROM PUBLIC;

-- who could schedule the sweeps and the gates may call what those now do: the
-- collection functions turn hot collection on and off (kant.set_hot_collection), and
-- the job kant-gates runs kant.tick() as whoever scheduled it
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN
		SELECT DISTINCT x.fn, a.grantee, a.is_grantable
		FROM (VALUES ('@extschema@.set_hot_collection(text, boolean)', '@extschema@.schedule_collection(text, text)'::pg_catalog.regprocedure),
					 ('@extschema@.tick(interval)', '@extschema@.schedule_gate_triggers(text)'::pg_catalog.regprocedure)) AS x(fn, src)
		JOIN pg_catalog.pg_proc p ON p.oid = x.src
		CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
		WHERE a.privilege_type = 'EXECUTE' AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', g.fn,
			CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
			CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;
