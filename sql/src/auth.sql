/*
 * kant: Credentials: secrets held or named, bound to where they were set for.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

CREATE TABLE @extschema@.credential (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	from_env		boolean NOT NULL DEFAULT false,
	principal		text,
	secret			text NOT NULL,
	session_token	text,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- secrets by reference: a file in kant.secret_directory, read when used
	from_file		boolean NOT NULL DEFAULT false,
	-- the kind and scheme://host:port they were set for (kant._credential_target)
	bound_to		text,
	CONSTRAINT credential_one_source CHECK (NOT (from_env AND from_file))
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.credential', '');
COMMENT ON TABLE @extschema@.credential IS
	'Collector credentials, readable only by the extension owner (no grants, no view): an AWS access key pair (and session token) or an Airflow user and password; with from_env the names of environment variables of the server that hold them, with from_file the names of files in kant.secret_directory';
COMMENT ON COLUMN @extschema@.credential.system_id IS 'the system';
COMMENT ON COLUMN @extschema@.credential.from_env IS 'true: the other columns name environment variables of the server process';
COMMENT ON COLUMN @extschema@.credential.principal IS 'AWS access key id, or Airflow user name; NULL for an Airflow bearer token';
COMMENT ON COLUMN @extschema@.credential.secret IS 'AWS secret access key, Airflow password, or Airflow bearer token';
COMMENT ON COLUMN @extschema@.credential.session_token IS 'AWS session token (temporary credentials), or NULL';
COMMENT ON COLUMN @extschema@.credential.updated_at IS 'when it was set';
COMMENT ON COLUMN @extschema@.credential.from_file IS 'true: the other columns name files in kant.secret_directory that hold them';
COMMENT ON COLUMN @extschema@.credential.bound_to IS
	'the kind and host the credentials were set for (kant._credential_target); the collector refuses them for any other';

CREATE FUNCTION @extschema@._secret_check(name text, source text, what text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_secret_check_sql'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@._secret_check(text, text, text) IS
	'internal: raise unless kant may read a secret from this environment variable (source env: kant.allowed_env_prefixes) or file (source file: a plain name in kant.secret_directory)';
REVOKE ALL ON FUNCTION @extschema@._secret_check(text, text, text) FROM PUBLIC;

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

CREATE FUNCTION @extschema@.set_credentials(system text, principal text, secret text,
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
	SELECT s.system_id, s.kind INTO sid, k FROM @extschema@.system s WHERE s.name = set_credentials.system;
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
	END IF;
	INSERT INTO @extschema@.credential AS c (system_id, from_env, from_file, principal, secret, session_token,
		bound_to)
	VALUES (sid, coalesce(from_env, false), coalesce(from_file, false), NULLIF(principal, ''), secret,
		NULLIF(session_token, ''), target)
	ON CONFLICT (system_id) DO UPDATE SET from_env = excluded.from_env, from_file = excluded.from_file,
		principal = excluded.principal, secret = excluded.secret,
		session_token = excluded.session_token, bound_to = excluded.bound_to, updated_at = now();
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	PERFORM @extschema@._raise_quietly(SQLSTATE, SQLERRM, NULLIF(d, ''), NULLIF(h, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.set_credentials(text, text, text, text, boolean, boolean) IS
	'Set or rotate a system''s collector credentials (stored where only the extension owner reads them), bound to the system''s kind and endpoint host now (set the endpoint first; the collector refuses them once the system points elsewhere); with from_env => true the arguments name environment variables of the server (prefixes in kant.allowed_env_prefixes), with from_file => true files in kant.secret_directory: read when used, never in SQL text, and named only by a role that may SET kant.allowed_env_prefixes / kant.secret_directory (42501). Errors are not logged with the statement.';
REVOKE ALL ON FUNCTION @extschema@.set_credentials(text, text, text, text, boolean, boolean) FROM PUBLIC;

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

/* Say so when a change of endpoint, region or kind unbinds a system's credentials. */
CREATE FUNCTION @extschema@._warn_unbound(system_id integer)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r record;
BEGIN
	SELECT s.name, c.bound_to, @extschema@._credential_target(s.kind, s.endpoint, s.region) AS now_to INTO r
	FROM @extschema@.system s JOIN @extschema@.credential c ON c.system_id = s.system_id
	WHERE s.system_id = $1;
	IF FOUND AND r.bound_to IS DISTINCT FROM r.now_to THEN
		RAISE NOTICE 'the credentials of system "%" were set for %; it now points at %: they will not be used there',
			r.name, coalesce(r.bound_to, 'no endpoint'), coalesce(r.now_to, 'no endpoint')
			USING HINT = format('Set them again for the new endpoint: kant.set_credentials(%L, ...).', r.name);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._warn_unbound(integer) IS
	'internal: a NOTICE when a system''s credentials no longer match its kind and host';
REVOKE ALL ON FUNCTION @extschema@._warn_unbound(integer) FROM PUBLIC;
