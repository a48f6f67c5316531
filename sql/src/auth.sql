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
