-- kant 0.4.0 -> 0.5.0: collectors set schedules in one batch; the Airflow
-- collector reads DAG runs and their task instances; alerting (checks, alert
-- lifecycle, silences, Slack outbox).
\echo Use "ALTER EXTENSION kant UPDATE TO '0.5.0'" to load this file. \quit

-- Schedules found by a collector, in one statement: a schedule a user set
-- wins, an unchanged one is left alone, and the expected runs of the jobs
-- whose schedule changed are rebuilt once for all of them.
DROP FUNCTION @extschema@._collector_schedule(text, text, text, text, text);
CREATE FUNCTION @extschema@._collector_schedules(system text, jobs text[], schedules text[],
		time_zones text[], source text)
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
	FOR bad IN
		SELECT DISTINCT u.job, u.cron FROM unnest(jobs, schedules) AS u(job, cron)
		WHERE NOT @extschema@.cron_is_valid(u.cron)
	LOOP
		RAISE WARNING 'kant: % of system % has a schedule kant cannot read: %', bad.job, system, bad.cron;
	END LOOP;
	WITH found AS (
		SELECT DISTINCT ON (j.job_id) j.job_id, btrim(u.cron) AS cron, u.zone
		FROM unnest(jobs, schedules, time_zones) AS u(job, cron, zone)
		JOIN @extschema@.job j ON j.system_id = sy.system_id AND j.name = u.job
		WHERE @extschema@.cron_is_valid(u.cron) AND @extschema@.valid_time_zone(u.zone)
		ORDER BY j.job_id, u.cron
	), up AS (
		INSERT INTO @extschema@.schedule AS x (job_id, cron, time_zone, grace_seconds, slot_date,
			active_from, source)
		SELECT f.job_id, f.cron, f.zone, 3600,
			CASE WHEN sy.kind = 'airflow' THEN 'previous_tick' ELSE 'start' END,
			(now() AT TIME ZONE sy.time_zone)::date, _collector_schedules.source
		FROM found f
		LEFT JOIN @extschema@.schedule cur ON cur.job_id = f.job_id
		WHERE cur.job_id IS NULL
		   OR (cur.source <> 'user' AND (cur.cron, cur.time_zone) IS DISTINCT FROM (f.cron, f.zone))
		ON CONFLICT (job_id) DO UPDATE SET
			cron = excluded.cron, time_zone = excluded.time_zone,
			active_from = excluded.active_from, source = excluded.source, updated_at = now()
		RETURNING x.job_id
	)
	SELECT array_agg(up.job_id) INTO changed FROM up;
	IF changed IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM @extschema@._reexpand(changed);
	RETURN cardinality(changed);
END
$$;
COMMENT ON FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text) IS
	'internal: set the schedules a collector found (Glue triggers, DAG schedules) in one batch, unless a user set one; returns the jobs whose schedule changed';
REVOKE ALL ON FUNCTION @extschema@._collector_schedules(text, text[], text[], text[], text) FROM PUBLIC;
