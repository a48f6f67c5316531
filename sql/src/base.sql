/*
 * kant: The schema kant lives in, and helpers every concern uses.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

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

CREATE FUNCTION @extschema@.valid_time_zone(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'kant_valid_time_zone'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.valid_time_zone(text) IS
	'true when the server knows the time zone name (IANA names such as Asia/Tokyo)';

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

CREATE FUNCTION @extschema@._check_zone(zone text) RETURNS void
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

CREATE FUNCTION @extschema@.local_instant(local timestamp, time_zone text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'kant_local_instant'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.local_instant(timestamp, text) IS
	'the instant a local wall-clock time stands for in an IANA zone, by the schedules'' DST rule: a time that does not exist is shifted by the gap, a repeated time is its first occurrence';

CREATE FUNCTION @extschema@.http_get(url text) RETURNS text
	AS 'MODULE_PATHNAME', 'kant_http_get'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.http_get(text) IS
	'GET a URL from the server through kant''s HTTP layer (timeouts, size cap, retries, cancel): to check that an endpoint is reachable from the database; raises on failure';
REVOKE ALL ON FUNCTION @extschema@.http_get(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.http_fetch(urls text[], max_parallel integer DEFAULT NULL,
		OUT url text, OUT status integer, OUT attempts integer, OUT retry_wait_ms integer,
		OUT body text, OUT error text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'kant_http_fetch'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.http_fetch(text[], integer) IS
	'GET many URLs at once (at most max_parallel in flight, default kant.http_max_parallel), each with retries; one row per URL with its status, attempts, time waited between retries, body or error';
REVOKE ALL ON FUNCTION @extschema@.http_fetch(text[], integer) FROM PUBLIC;

---------------------------------------------------------------------------
-- Durations of jobs (for predictions, stuck runs and recovery)
---------------------------------------------------------------------------

-- Duration statistics of jobs from their recent successful runs (index
-- job_run (job_id, started_at): a few rows per job, whatever the history).
CREATE FUNCTION @extschema@.job_durations(job_ids integer[], as_of timestamptz DEFAULT now(),
		runs integer DEFAULT NULL)
	RETURNS TABLE (job_id integer, samples integer, p50_seconds double precision,
		p90_seconds double precision, p95_seconds double precision)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT j.job_id, count(*)::integer,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY x.d),
		percentile_cont(0.9) WITHIN GROUP (ORDER BY x.d),
		percentile_cont(0.95) WITHIN GROUP (ORDER BY x.d)
	FROM unnest(job_ids) AS j(job_id)
	CROSS JOIN LATERAL (
		SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS d
		FROM @extschema@.job_run r
		WHERE r.job_id = j.job_id AND r.started_at <= as_of AND r.ended_at <= as_of
		  AND r.state::text = 'succeeded'
		ORDER BY r.started_at DESC
		LIMIT coalesce(runs, (SELECT s.history_runs FROM @extschema@._alert_settings() s))) x
	GROUP BY j.job_id
	$$;
COMMENT ON FUNCTION @extschema@.job_durations(integer[], timestamptz, integer) IS
	'Median, p90 and p95 duration (seconds) of jobs over their last successful runs before as_of (default: kant.alert_settings.history_runs of them)';

-- "how late": 1 h 05 min, 12 min, 40 s.  Texts for people (alerts, Slack,
-- gate_status, recovery) never turn a float8 into text: float8's text follows
-- the session's extra_float_digits (at -15 twelve hours read "1e+01 h 00
-- min").  The arithmetic is float8's (round(float8) rounds half to even: 2.5 s
-- reads "2 s"); each number is shown as numeric.
CREATE FUNCTION @extschema@._human(seconds double precision)
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

-- Who-may-do-what helpers (C): the caller of a SECURITY DEFINER function, a
-- user's condition run as its definer, secrets read by reference, URLs checked.
CREATE FUNCTION @extschema@._outer_role() RETURNS oid
	AS 'MODULE_PATHNAME', 'kant_outer_role'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@._outer_role() IS
	'internal: the role that called kant from the outside (the session''s role after SET ROLE), which current_user no longer tells inside a SECURITY DEFINER function';
REVOKE ALL ON FUNCTION @extschema@._outer_role() FROM PUBLIC;

CREATE FUNCTION @extschema@._raise_quietly(sqlstate text, message text, detail text, hint text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_raise_quietly'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._raise_quietly(text, text, text, text) IS
	'internal: raise an error without the statement in the server log (errhidestmt): for functions whose arguments hold a secret';
REVOKE ALL ON FUNCTION @extschema@._raise_quietly(text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@._check_url(url text, what text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_check_url'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@._check_url(text, text) IS
	'internal: raise unless url is an http(s) URL whose host kant.allowed_hosts lets kant reach (names are judged again by their address when used); messages name the host only';
REVOKE ALL ON FUNCTION @extschema@._check_url(text, text) FROM PUBLIC;

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
