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

CREATE FUNCTION @extschema@._cron_job(job_name text, schedule text, command text)
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

CREATE FUNCTION @extschema@._cron_unjob(job_name text)
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
