/*
 * kant: Schedules, calendars and the runs they expect.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

CREATE FUNCTION @extschema@.cron_is_valid(schedule text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'kant_cron_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cron_is_valid(text) IS
	'true when the text is a cron schedule kant can expand: 5-field cron, a preset such as @daily, or AWS cron(...)';

CREATE FUNCTION @extschema@.cron_check(schedule text) RETURNS void
	AS 'MODULE_PATHNAME', 'kant_cron_check'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cron_check(text) IS
	'raises an error naming the position of the problem when the text is not a cron schedule kant can expand';

CREATE FUNCTION @extschema@.cron_occurrences(schedule text, time_zone text,
		since timestamptz, until timestamptz)
	RETURNS SETOF timestamptz
	AS 'MODULE_PATHNAME', 'kant_cron_occurrences'
	LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION @extschema@.cron_occurrences(text, text, timestamptz, timestamptz) IS
	'every run of a cron schedule in [since, until), read in an IANA time zone; DST-correct: a missing local time runs once, shifted by the gap, a repeated one runs once, the first time';

CREATE FUNCTION @extschema@.cron_next(schedule text, time_zone text, after timestamptz)
	RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'kant_cron_next'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cron_next(text, text, timestamptz) IS
	'the first run of a cron schedule after a time, read in an IANA time zone; NULL when it never runs again';

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

---------------------------------------------------------------------------
-- Business-day calendars
---------------------------------------------------------------------------

CREATE TABLE @extschema@.calendar (
	name			text PRIMARY KEY CHECK (name <> '' AND name = btrim(name)),
	weekdays		integer[] NOT NULL DEFAULT '{1,2,3,4,5}'
					CHECK (weekdays <@ '{1,2,3,4,5,6,7}'::integer[] AND cardinality(weekdays) > 0
						   AND array_position(weekdays, NULL) IS NULL),
	description		text
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calendar', '');
COMMENT ON TABLE @extschema@.calendar IS
	'Business-day calendars: the ISO weekdays that are business days, minus the holidays in kant.holiday';
COMMENT ON COLUMN @extschema@.calendar.name IS 'calendar name, e.g. jp';
COMMENT ON COLUMN @extschema@.calendar.weekdays IS 'ISO weekdays that are business days (1 = Monday ... 7 = Sunday)';
COMMENT ON COLUMN @extschema@.calendar.description IS 'free text';

CREATE TABLE @extschema@.holiday (
	calendar		text NOT NULL REFERENCES @extschema@.calendar ON DELETE CASCADE ON UPDATE CASCADE,
	day				date NOT NULL,
	description		text,
	PRIMARY KEY (calendar, day)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.holiday', '');
COMMENT ON TABLE @extschema@.holiday IS
	'Holidays of a calendar: dates that are not business days; fill it with INSERT (expected runs and SLO days follow at once)';
COMMENT ON COLUMN @extschema@.holiday.calendar IS 'the calendar (kant.calendar)';
COMMENT ON COLUMN @extschema@.holiday.day IS 'the date that is not a business day';
COMMENT ON COLUMN @extschema@.holiday.description IS 'e.g. the holiday''s name';

CREATE FUNCTION @extschema@.is_business_day(calendar text, day date) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT $1 IS NULL
		OR (EXISTS (SELECT FROM @extschema@.calendar c
					WHERE c.name = $1 AND extract(isodow FROM $2::timestamp)::integer = ANY (c.weekdays))
			AND NOT EXISTS (SELECT FROM @extschema@.holiday h WHERE h.calendar = $1 AND h.day = $2))
	$$;
COMMENT ON FUNCTION @extschema@.is_business_day(text, date) IS
	'true when the date is a business day of the calendar (a listed weekday and not a holiday); every day is one when the calendar is NULL';

---------------------------------------------------------------------------
-- Schedules and expected runs
---------------------------------------------------------------------------

CREATE TABLE @extschema@.schedule (
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	cron			text NOT NULL,
	time_zone		text NOT NULL CHECK (@extschema@.valid_time_zone(time_zone)),
	grace_seconds	integer NOT NULL DEFAULT 3600 CHECK (grace_seconds >= 0),
	calendar		text REFERENCES @extschema@.calendar ON UPDATE CASCADE,
	slot_date		text NOT NULL CHECK (slot_date IN ('start', 'previous_tick', 'tick')),
	active_from		date NOT NULL,
	active_until	date CHECK (active_until >= active_from),
	expanded_until	timestamptz,
	last_tick		timestamptz,
	source			text NOT NULL DEFAULT 'user',
	updated_at		timestamptz NOT NULL DEFAULT now(),
	dialect			text NOT NULL DEFAULT 'vixie' CHECK (dialect IN ('vixie', 'croniter', 'aws')),
	CONSTRAINT schedule_cron_check CHECK (@extschema@.cron_is_valid(cron, dialect)),
	-- a job may have several (a Glue job started by two scheduled triggers)
	PRIMARY KEY (job_id, cron)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.schedule', '');
COMMENT ON TABLE @extschema@.schedule IS
	'When a job is expected to run: a cron schedule in an IANA zone, a grace period, an optional business-day calendar; expanded into kant.expected_run.  One row per cron: a job a user schedules has one (kant.set_schedule), a Glue job one per activated scheduled trigger that starts it';
COMMENT ON COLUMN @extschema@.schedule.job_id IS 'the job (kant.job)';
COMMENT ON COLUMN @extschema@.schedule.cron IS '5-field cron, a preset such as @daily, or AWS cron(...) as Glue triggers use';
COMMENT ON COLUMN @extschema@.schedule.time_zone IS 'IANA zone the cron expression is read in (Glue triggers: UTC)';
COMMENT ON COLUMN @extschema@.schedule.grace_seconds IS 'how long after its slot a run may start before the slot counts as missing';
COMMENT ON COLUMN @extschema@.schedule.calendar IS 'business-day calendar: slots whose business date is not a business day are not expected';
COMMENT ON COLUMN @extschema@.schedule.slot_date IS 'business date of a slot: start = the job''s start-time rule applied to the slot time; previous_tick = local date of the previous tick (Airflow''s logical date under CronDataIntervalTimetable, Airflow 2''s default); tick = local date of the tick itself (the logical date under CronTriggerTimetable, Airflow 3''s default)';
COMMENT ON COLUMN @extschema@.schedule.active_from IS 'first business date this schedule applies to; earlier expected runs are kept as they were';
COMMENT ON COLUMN @extschema@.schedule.active_until IS 'last business date this schedule applies to (NULL: open-ended), e.g. for a retired job';
COMMENT ON COLUMN @extschema@.schedule.expanded_until IS 'expected runs exist for slots before this time';
COMMENT ON COLUMN @extschema@.schedule.last_tick IS 'the last slot expanded (the previous tick of the next one)';
COMMENT ON COLUMN @extschema@.schedule.source IS 'who set it: user, or a collector that read it (glue_trigger, airflow_dag)';
COMMENT ON COLUMN @extschema@.schedule.updated_at IS 'when it was last set';
COMMENT ON COLUMN @extschema@.schedule.dialect IS 'how cron is read: croniter (an Airflow system''s: Airflow reads DAG schedules with croniter), aws (cron(...), Glue triggers), vixie (any other: standard cron, pg_cron); kant._cron_dialect';

CREATE TABLE @extschema@.expected_run (
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	slot_at			timestamptz NOT NULL,
	business_date	date NOT NULL,
	due_at			timestamptz NOT NULL,
	PRIMARY KEY (job_id, slot_at)
);
CREATE INDEX expected_run_business_date_idx ON @extschema@.expected_run (business_date, job_id);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.expected_run', '');
COMMENT ON TABLE @extschema@.expected_run IS
	'Expected runs: one row per slot of a job''s schedule, with the business date a run in that slot has';
COMMENT ON COLUMN @extschema@.expected_run.job_id IS 'the job (kant.job)';
COMMENT ON COLUMN @extschema@.expected_run.slot_at IS 'when the schedule fires';
COMMENT ON COLUMN @extschema@.expected_run.business_date IS 'business date of the run expected in the slot';
COMMENT ON COLUMN @extschema@.expected_run.due_at IS 'slot plus grace period: without a run by then the slot is missing';

-- Expected runs with their status.  The slots of a job and date are matched to
-- its runs by count (the k-th slot is started when the date has k runs,
-- counted as kant._job_day counts them).
-- Grouped per job and date first: the runs are counted once per group, and a
-- filter on business_date reaches the index of both tables.
CREATE VIEW @extschema@.expected_runs AS
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

CREATE FUNCTION @extschema@.expand_schedules(until timestamptz DEFAULT NULL)
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

-- re-expand the schedules of some jobs from their active_from
CREATE FUNCTION @extschema@._reexpand(jobs integer[])
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	WITH del AS (
		DELETE FROM @extschema@.expected_run e
		USING @extschema@.schedule x
		WHERE x.job_id = e.job_id AND e.job_id = ANY (jobs) AND e.business_date >= x.active_from
		RETURNING e.job_id, e.business_date
	)
	INSERT INTO @extschema@.slo_dirty (job_id, business_date)
	SELECT DISTINCT d.job_id, d.business_date FROM del d
	ON CONFLICT DO NOTHING;
	UPDATE @extschema@.schedule x SET expanded_until = NULL, last_tick = NULL
	WHERE x.job_id = ANY (jobs);
	PERFORM @extschema@.expand_schedules();
END
$$;
COMMENT ON FUNCTION @extschema@._reexpand(integer[]) IS
	'internal: rebuild the expected runs of jobs from their schedules'' active_from';
REVOKE ALL ON FUNCTION @extschema@._reexpand(integer[]) FROM PUBLIC;

---------------------------------------------------------------------------
-- Configuring schedules and calendars
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._resync_calendars()
	RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM @extschema@._reexpand(ARRAY(SELECT x.job_id FROM @extschema@.schedule x
										WHERE x.calendar IS NOT NULL));
	DELETE FROM @extschema@.slo_day y USING @extschema@.slo s
	WHERE y.slo_id = s.slo_id AND s.calendar IS NOT NULL
	  AND NOT @extschema@.is_business_day(s.calendar, y.business_date);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._resync_calendars() IS
	'internal trigger: after a calendar or holiday change, rebuild expected runs of schedules with a calendar and drop SLO days that are no longer business days';
REVOKE ALL ON FUNCTION @extschema@._resync_calendars() FROM PUBLIC;

CREATE FUNCTION @extschema@.set_calendar(name text, weekdays integer[] DEFAULT '{1,2,3,4,5}',
		description text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF name IS NULL OR name = '' OR name <> btrim(name) THEN
		RAISE EXCEPTION 'invalid calendar name "%"', name
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a short name such as jp.';
	END IF;
	IF weekdays IS NULL OR cardinality(weekdays) = 0 OR NOT weekdays <@ '{1,2,3,4,5,6,7}'::integer[]
	   OR array_position(weekdays, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'invalid weekdays % for calendar "%"', weekdays, name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'List ISO weekdays, 1 = Monday ... 7 = Sunday, e.g. ''{1,2,3,4,5}''.';
	END IF;
	INSERT INTO @extschema@.calendar AS c (name, weekdays, description)
	VALUES (set_calendar.name, set_calendar.weekdays, set_calendar.description)
	ON CONFLICT ON CONSTRAINT calendar_pkey DO UPDATE
	SET weekdays = excluded.weekdays, description = coalesce(excluded.description, c.description);
END
$$;
COMMENT ON FUNCTION @extschema@.set_calendar(text, integer[], text) IS
	'Create or change a business-day calendar (ISO weekdays, default Monday to Friday); holidays go in kant.holiday';
REVOKE ALL ON FUNCTION @extschema@.set_calendar(text, integer[], text) FROM PUBLIC;

CREATE FUNCTION @extschema@.set_schedule(system text, schedule text, job text DEFAULT NULL,
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
CREATE FUNCTION @extschema@.set_cron_timetable(system text, timetable text)
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

CREATE FUNCTION @extschema@.unset_schedule(system text, job text DEFAULT NULL, pipeline text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	jobs integer[];
BEGIN
	IF (job IS NULL) = (pipeline IS NULL) THEN
		RAISE EXCEPTION 'name either a job or a pipeline' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	jobs := ARRAY(SELECT j.job_id FROM @extschema@.job j
				  JOIN @extschema@.system s ON s.system_id = j.system_id
				  WHERE s.name = unset_schedule.system
					AND (j.name = unset_schedule.job OR j.pipeline = unset_schedule.pipeline));
	WITH del AS (
		DELETE FROM @extschema@.expected_run e WHERE e.job_id = ANY (jobs)
		RETURNING e.job_id, e.business_date
	)
	INSERT INTO @extschema@.slo_dirty (job_id, business_date)
	SELECT DISTINCT d.job_id, d.business_date FROM del d
	ON CONFLICT DO NOTHING;
	DELETE FROM @extschema@.schedule x WHERE x.job_id = ANY (jobs);
	RETURN cardinality(jobs);
END
$$;
COMMENT ON FUNCTION @extschema@.unset_schedule(text, text, text) IS
	'Remove the schedule of a job or of a pipeline''s jobs, with their expected runs; returns the jobs affected';
REVOKE ALL ON FUNCTION @extschema@.unset_schedule(text, text, text) FROM PUBLIC;

-- the triggers, once the functions they call exist
CREATE TRIGGER resync AFTER UPDATE OR DELETE ON @extschema@.calendar
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._resync_calendars();

CREATE TRIGGER resync AFTER INSERT OR UPDATE OR DELETE ON @extschema@.holiday
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._resync_calendars();
