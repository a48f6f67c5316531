/* kant 0.2.0 -> 0.3.0: schedules and expected runs, SLOs and SLAs, the C
 * evaluation aggregate, daily facts kept current incrementally, attainment,
 * and the views Tableau reads */

\echo Use "ALTER EXTENSION kant UPDATE TO '0.3.0'" to load this file. \quit

CREATE FUNCTION @extschema@.local_instant(local timestamp, time_zone text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'kant_local_instant'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.local_instant(timestamp, text) IS
	'the instant a local wall-clock time stands for in an IANA zone, by the schedules'' DST rule: a time that does not exist is shifted by the gap, a repeated time is its first occurrence';

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
COMMENT ON TABLE @extschema@.holiday IS
	'Holidays of a calendar: dates that are not business days; fill it with INSERT (expected runs and SLO days follow at once)';
COMMENT ON COLUMN @extschema@.holiday.calendar IS 'the calendar (kant.calendar)';
COMMENT ON COLUMN @extschema@.holiday.day IS 'the date that is not a business day';
COMMENT ON COLUMN @extschema@.holiday.description IS 'e.g. the holiday''s name';

CREATE FUNCTION @extschema@.is_business_day(calendar text, day date) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT $1 IS NULL
		OR (EXISTS (SELECT FROM @extschema@.calendar c
					WHERE c.name = $1 AND pg_catalog.date_part('isodow', $2)::integer = ANY (c.weekdays))
			AND NOT EXISTS (SELECT FROM @extschema@.holiday h WHERE h.calendar = $1 AND h.day = $2))
	$$;
COMMENT ON FUNCTION @extschema@.is_business_day(text, date) IS
	'true when the date is a business day of the calendar (a listed weekday and not a holiday); every day is one when the calendar is NULL';

---------------------------------------------------------------------------
-- Schedules and expected runs
---------------------------------------------------------------------------

CREATE TABLE @extschema@.schedule (
	job_id			integer PRIMARY KEY REFERENCES @extschema@.job ON DELETE CASCADE,
	cron			text NOT NULL CHECK (@extschema@.cron_is_valid(cron)),
	time_zone		text NOT NULL CHECK (@extschema@.valid_time_zone(time_zone)),
	grace_seconds	integer NOT NULL DEFAULT 3600 CHECK (grace_seconds >= 0),
	calendar		text REFERENCES @extschema@.calendar ON UPDATE CASCADE,
	slot_date		text NOT NULL CHECK (slot_date IN ('start', 'previous_tick')),
	active_from		date NOT NULL,
	active_until	date CHECK (active_until >= active_from),
	expanded_until	timestamptz,
	last_tick		timestamptz,
	source			text NOT NULL DEFAULT 'user',
	updated_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.schedule IS
	'When a job is expected to run: a cron schedule in an IANA zone, a grace period, an optional business-day calendar; expanded into kant.expected_run';
COMMENT ON COLUMN @extschema@.schedule.job_id IS 'the job (kant.job)';
COMMENT ON COLUMN @extschema@.schedule.cron IS '5-field cron, a preset such as @daily, or AWS cron(...) as Glue triggers use';
COMMENT ON COLUMN @extschema@.schedule.time_zone IS 'IANA zone the cron expression is read in (Glue triggers: UTC)';
COMMENT ON COLUMN @extschema@.schedule.grace_seconds IS 'how long after its slot a run may start before the slot counts as missing';
COMMENT ON COLUMN @extschema@.schedule.calendar IS 'business-day calendar: slots whose business date is not a business day are not expected';
COMMENT ON COLUMN @extschema@.schedule.slot_date IS 'business date of a slot: start = the job''s start-time rule applied to the slot time; previous_tick = local date of the previous tick (Airflow''s logical date)';
COMMENT ON COLUMN @extschema@.schedule.active_from IS 'first business date this schedule applies to; earlier expected runs are kept as they were';
COMMENT ON COLUMN @extschema@.schedule.active_until IS 'last business date this schedule applies to (NULL: open-ended), e.g. for a retired job';
COMMENT ON COLUMN @extschema@.schedule.expanded_until IS 'expected runs exist for slots before this time';
COMMENT ON COLUMN @extschema@.schedule.last_tick IS 'the last slot expanded (the previous tick of the next one)';
COMMENT ON COLUMN @extschema@.schedule.source IS 'who set it: user, or a collector that read it (glue_trigger, airflow_dag)';
COMMENT ON COLUMN @extschema@.schedule.updated_at IS 'when it was last set';

CREATE TABLE @extschema@.expected_run (
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	slot_at			timestamptz NOT NULL,
	business_date	date NOT NULL,
	due_at			timestamptz NOT NULL,
	PRIMARY KEY (job_id, slot_at)
);
CREATE INDEX expected_run_business_date_idx ON @extschema@.expected_run (business_date, job_id);
COMMENT ON TABLE @extschema@.expected_run IS
	'Expected runs: one row per slot of a job''s schedule, with the business date a run in that slot has';
COMMENT ON COLUMN @extschema@.expected_run.job_id IS 'the job (kant.job)';
COMMENT ON COLUMN @extschema@.expected_run.slot_at IS 'when the schedule fires';
COMMENT ON COLUMN @extschema@.expected_run.business_date IS 'business date of the run expected in the slot';
COMMENT ON COLUMN @extschema@.expected_run.due_at IS 'slot plus grace period: without a run by then the slot is missing';

---------------------------------------------------------------------------
-- SLOs
---------------------------------------------------------------------------

CREATE TABLE @extschema@.slo (
	slo_id			integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name			text NOT NULL UNIQUE CHECK (name <> '' AND name = btrim(name) AND length(name) <= 200),
	pipeline		text,
	deadline_offset_days integer NOT NULL CHECK (deadline_offset_days BETWEEN 0 AND 366),
	deadline_time	time NOT NULL,
	time_zone		text NOT NULL CHECK (@extschema@.valid_time_zone(time_zone)),
	sla_offset_days	integer NOT NULL CHECK (sla_offset_days BETWEEN 0 AND 367),
	sla_time		time NOT NULL,
	objective		numeric(6,5) NOT NULL DEFAULT 0.95 CHECK (objective > 0 AND objective <= 1),
	window_days		integer NOT NULL DEFAULT 28 CHECK (window_days BETWEEN 1 AND 3660),
	calendar		text REFERENCES @extschema@.calendar ON UPDATE CASCADE,
	evaluate_from	date NOT NULL,
	description		text,
	created_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (deadline_offset_days > 0 OR deadline_time > '00:00'),
	CHECK ((sla_offset_days, sla_time) >= (deadline_offset_days, deadline_time))
);
COMMENT ON TABLE @extschema@.slo IS
	'Service level objectives: every job in scope has succeeded for business date d by the deadline (SLO), and by the SLA end (SLA, default the end of the local day that holds the deadline)';
COMMENT ON COLUMN @extschema@.slo.slo_id IS 'kant''s id of the SLO';
COMMENT ON COLUMN @extschema@.slo.name IS 'SLO name, e.g. hegel_nightly';
COMMENT ON COLUMN @extschema@.slo.pipeline IS 'scope: the jobs of this pipeline (any system); jobs may also be listed in kant.slo_job';
COMMENT ON COLUMN @extschema@.slo.deadline_offset_days IS 'deadline = business date + this many days, at deadline_time local';
COMMENT ON COLUMN @extschema@.slo.deadline_time IS 'local time of the deadline, in time_zone';
COMMENT ON COLUMN @extschema@.slo.time_zone IS 'IANA zone of the deadline and SLA end';
COMMENT ON COLUMN @extschema@.slo.sla_offset_days IS 'SLA end = business date + this many days, at sla_time local';
COMMENT ON COLUMN @extschema@.slo.sla_time IS 'local time of the SLA end';
COMMENT ON COLUMN @extschema@.slo.objective IS 'share of days that should meet the SLO, e.g. 0.95';
COMMENT ON COLUMN @extschema@.slo.window_days IS 'rolling window the objective is judged over, in days';
COMMENT ON COLUMN @extschema@.slo.calendar IS 'business-day calendar: other days are not evaluated';
COMMENT ON COLUMN @extschema@.slo.evaluate_from IS 'first business date evaluated';
COMMENT ON COLUMN @extschema@.slo.description IS 'free text';
COMMENT ON COLUMN @extschema@.slo.created_at IS 'when the SLO was created';

CREATE TABLE @extschema@.slo_job (
	slo_id			integer NOT NULL REFERENCES @extschema@.slo ON DELETE CASCADE,
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	PRIMARY KEY (slo_id, job_id)
);
CREATE INDEX slo_job_job_idx ON @extschema@.slo_job (job_id);
COMMENT ON TABLE @extschema@.slo_job IS 'Jobs an SLO covers besides its pipeline''s (a set of jobs across systems)';
COMMENT ON COLUMN @extschema@.slo_job.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_job.job_id IS 'a job it covers';

CREATE TABLE @extschema@.slo_day (
	slo_id			integer NOT NULL REFERENCES @extschema@.slo ON DELETE CASCADE,
	business_date	date NOT NULL,
	deadline		timestamptz NOT NULL,
	sla_end			timestamptz NOT NULL,
	slo_status		text NOT NULL CHECK (slo_status IN ('met', 'missed', 'pending', 'no_data')),
	sla_status		text NOT NULL CHECK (sla_status IN ('met', 'missed', 'pending', 'no_data')),
	completed_at	timestamptz,
	lateness_seconds double precision,
	runs			integer NOT NULL,
	done			integer NOT NULL,
	running			integer NOT NULL,
	failures		integer NOT NULL,
	retries			integer NOT NULL,
	missing			integer NOT NULL,
	awaited			integer NOT NULL,
	critical_job_id	integer,
	evaluated_at	timestamptz NOT NULL,
	PRIMARY KEY (slo_id, business_date)
);
CREATE INDEX slo_day_business_date_idx ON @extschema@.slo_day (business_date);
CREATE INDEX slo_day_open_idx ON @extschema@.slo_day (slo_id)
	WHERE slo_status = 'pending' OR sla_status = 'pending';
COMMENT ON TABLE @extschema@.slo_day IS
	'Daily facts: the verdict of kant.slo_eval for every SLO and business date, kept current by kant.refresh_slo()';
COMMENT ON COLUMN @extschema@.slo_day.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_day.business_date IS 'the business date judged';
COMMENT ON COLUMN @extschema@.slo_day.deadline IS 'the SLO deadline of the date';
COMMENT ON COLUMN @extschema@.slo_day.sla_end IS 'the SLA end of the date';
COMMENT ON COLUMN @extschema@.slo_day.slo_status IS 'met, missed, pending (deadline not reached, not all done) or no_data';
COMMENT ON COLUMN @extschema@.slo_day.sla_status IS 'the same against the SLA end';
COMMENT ON COLUMN @extschema@.slo_day.completed_at IS 'when the last required job reached its final success; NULL until all are done';
COMMENT ON COLUMN @extschema@.slo_day.lateness_seconds IS 'completion minus deadline in seconds (negative: early); incomplete past the deadline: how late at evaluation, at most up to the SLA end';
COMMENT ON COLUMN @extschema@.slo_day.runs IS 'current attempts of required runs';
COMMENT ON COLUMN @extschema@.slo_day.done IS 'of those, succeeded or skipped';
COMMENT ON COLUMN @extschema@.slo_day.running IS 'of those, not finished';
COMMENT ON COLUMN @extschema@.slo_day.failures IS 'attempts that failed, timed out or had an upstream failure (recovered or not)';
COMMENT ON COLUMN @extschema@.slo_day.retries IS 'attempts superseded by a later attempt';
COMMENT ON COLUMN @extschema@.slo_day.missing IS 'expected runs that did not start within their grace period';
COMMENT ON COLUMN @extschema@.slo_day.awaited IS 'expected runs not started, still within their grace period';
COMMENT ON COLUMN @extschema@.slo_day.critical_job_id IS 'complete day: the job that finished last; incomplete day: a job not done (running, failed or missing; the smallest id)';
COMMENT ON COLUMN @extschema@.slo_day.evaluated_at IS 'when the verdict was computed';

CREATE TABLE @extschema@.slo_dirty (
	job_id			integer NOT NULL,
	business_date	date NOT NULL,
	PRIMARY KEY (job_id, business_date)
);
COMMENT ON TABLE @extschema@.slo_dirty IS
	'Queue of (job, business date) pairs whose runs or expected runs changed since the last kant.refresh_slo(); ingestion fills it in the same transaction';
COMMENT ON COLUMN @extschema@.slo_dirty.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.slo_dirty.business_date IS 'the business date to re-evaluate';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.calendar', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.holiday', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.schedule', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.expected_run', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.slo', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.slo_job', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.slo_day', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.slo_dirty', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.slo', 'slo_id')::pg_catalog.regclass, '');

-- the jobs an SLO covers: its pipeline's, and those listed
CREATE VIEW @extschema@.slo_scope AS
SELECT s.slo_id, j.job_id
FROM @extschema@.slo s JOIN @extschema@.job j ON j.pipeline = s.pipeline
UNION ALL
SELECT sj.slo_id, sj.job_id
FROM @extschema@.slo_job sj
JOIN @extschema@.slo s ON s.slo_id = sj.slo_id
JOIN @extschema@.job j ON j.job_id = sj.job_id
WHERE s.pipeline IS NULL OR j.pipeline IS DISTINCT FROM s.pipeline;
COMMENT ON VIEW @extschema@.slo_scope IS 'The jobs each SLO covers: the jobs of its pipeline and the jobs listed for it';
COMMENT ON COLUMN @extschema@.slo_scope.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_scope.job_id IS 'a job it covers';

CREATE FUNCTION @extschema@.slo_deadline(slo_id integer, business_date date,
		OUT deadline timestamptz, OUT sla_end timestamptz)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	AS $$
	SELECT @extschema@.local_instant(($2 + s.deadline_offset_days) + s.deadline_time, s.time_zone),
		   @extschema@.local_instant(($2 + s.sla_offset_days) + s.sla_time, s.time_zone)
	FROM @extschema@.slo s WHERE s.slo_id = $1
	$$;
COMMENT ON FUNCTION @extschema@.slo_deadline(integer, date) IS
	'the SLO deadline and SLA end of a business date, as instants (DST: kant.local_instant)';

-- Expected runs with their status.  The slots of a job and date are matched to
-- its runs by count (the k-th slot is started when the date has k runs; a run
-- is counted by its first attempt, so retries are not runs of their own).
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
CROSS JOIN LATERAL (
	SELECT greatest(count(*) FILTER (WHERE r.attempt = 1 AND r.previous_external_id IS NULL),
					CASE WHEN count(*) > 0 THEN 1 ELSE 0 END)::integer AS runs
	FROM @extschema@.job_run r
	WHERE r.job_id = g.job_id AND r.business_date = g.business_date) m
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

-- What kant.slo_eval reads for an SLO and a business date: every attempt of
-- the jobs in scope, and every expected run no run has matched.
CREATE VIEW @extschema@.slo_input AS
SELECT sc.slo_id, r.business_date, r.job_id, r.run_id, r.state, r.started_at, r.ended_at,
	(NOT EXISTS (SELECT FROM @extschema@.job_run n
				 WHERE n.job_id = r.job_id AND n.external_id = r.external_id
				   AND n.attempt > r.attempt)
	 AND NOT EXISTS (SELECT FROM @extschema@.job_run n
					 WHERE n.job_id = r.job_id AND n.previous_external_id = r.external_id
					   AND n.previous_external_id IS NOT NULL)) AS is_current,
	NULL::timestamptz AS due_at
FROM @extschema@.slo_scope sc
JOIN @extschema@.job_run r ON r.job_id = sc.job_id
UNION ALL
SELECT sc.slo_id, e.business_date, e.job_id, NULL, NULL, NULL, NULL, true, e.due_at
FROM @extschema@.slo_scope sc
JOIN @extschema@.expected_runs e ON e.job_id = sc.job_id
WHERE e.status <> 'started';
COMMENT ON VIEW @extschema@.slo_input IS
	'Rows kant.slo_eval reads per SLO and business date: each attempt of a job in scope (is_current when no later attempt or retry supersedes it), and each expected run without a run (state NULL, due_at set)';
COMMENT ON COLUMN @extschema@.slo_input.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_input.business_date IS 'business date';
COMMENT ON COLUMN @extschema@.slo_input.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.slo_input.run_id IS 'the attempt (NULL for an expected run)';
COMMENT ON COLUMN @extschema@.slo_input.state IS 'the attempt''s state (NULL for an expected run)';
COMMENT ON COLUMN @extschema@.slo_input.started_at IS 'start of the attempt';
COMMENT ON COLUMN @extschema@.slo_input.ended_at IS 'end of the attempt';
COMMENT ON COLUMN @extschema@.slo_input.is_current IS 'false when a later attempt or a retry supersedes the attempt';
COMMENT ON COLUMN @extschema@.slo_input.due_at IS 'for an expected run without a run: when it becomes missing';

---------------------------------------------------------------------------
-- The evaluation aggregate
---------------------------------------------------------------------------

CREATE TYPE @extschema@.slo_result AS (
	slo_status		text,
	sla_status		text,
	completed_at	timestamptz,
	lateness_seconds double precision,
	runs			integer,
	done			integer,
	running			integer,
	failures		integer,
	retries			integer,
	missing			integer,
	awaited			integer,
	critical_job_id	integer
);
COMMENT ON TYPE @extschema@.slo_result IS
	'The verdict of kant.slo_eval for one SLO and business date (see kant.slo_day for the meaning of each field)';

CREATE FUNCTION @extschema@.slo_eval_trans(bigint[], job_id integer, state @extschema@.run_state,
		ended_at timestamptz, is_current boolean, due_at timestamptz,
		deadline timestamptz, sla_end timestamptz, as_of timestamptz)
	RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'kant_slo_eval_trans'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.slo_eval_combine(bigint[], bigint[]) RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'kant_slo_eval_combine'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.slo_eval_final(bigint[]) RETURNS @extschema@.slo_result
	AS 'MODULE_PATHNAME', 'kant_slo_eval_final'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.slo_eval_trans(bigint[], integer, @extschema@.run_state, timestamptz, boolean, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'kant.slo_eval transition: counts and the latest successful end, in a bigint[] state';
COMMENT ON FUNCTION @extschema@.slo_eval_combine(bigint[], bigint[]) IS
	'kant.slo_eval combine function (parallel aggregation)';
COMMENT ON FUNCTION @extschema@.slo_eval_final(bigint[]) IS
	'kant.slo_eval final function: the verdict';

CREATE AGGREGATE @extschema@.slo_eval(job_id integer, state @extschema@.run_state,
		ended_at timestamptz, is_current boolean, due_at timestamptz,
		deadline timestamptz, sla_end timestamptz, as_of timestamptz) (
	SFUNC = @extschema@.slo_eval_trans,
	STYPE = bigint[],
	COMBINEFUNC = @extschema@.slo_eval_combine,
	FINALFUNC = @extschema@.slo_eval_final,
	FINALFUNC_MODIFY = READ_ONLY,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.slo_eval(integer, @extschema@.run_state, timestamptz, boolean, timestamptz, timestamptz, timestamptz, timestamptz) IS
	'SLO and SLA verdict of one business date over the attempts (and unmatched expected runs, state NULL) of the jobs an SLO covers: met, missed, pending or no_data; completion, lateness, failures, retries, missing, critical job';

---------------------------------------------------------------------------
-- Keeping expected runs and daily facts current
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.expand_schedules(until timestamptz DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sc record;
	horizon timestamptz := coalesce(until, now() + interval '2 days');
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
		WHERE x.expanded_until IS NULL
		   OR x.expanded_until < (CASE WHEN until IS NULL THEN now() + interval '1 day' ELSE until END)
		ORDER BY x.job_id
		FOR UPDATE OF x
	LOOP
		since := coalesce(sc.expanded_until,
			((sc.active_from - abs(sc.off) - 2) + time '00:00') AT TIME ZONE sc.time_zone);
		WITH ticks AS (
			SELECT t, lag(t) OVER (ORDER BY t) AS prev
			FROM @extschema@.cron_occurrences(sc.cron, sc.time_zone,
				CASE WHEN sc.slot_date = 'previous_tick' AND sc.last_tick IS NULL
					 THEN since - interval '32 days' ELSE since END, horizon) AS t
		), slots AS (
			SELECT t AS slot_at,
				   CASE WHEN sc.slot_date = 'previous_tick'
						THEN (coalesce(prev, sc.last_tick) AT TIME ZONE sc.sys_tz)::date
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
		WHERE x.job_id = sc.job_id;
	END LOOP;
	RETURN added;
END
$$;
COMMENT ON FUNCTION @extschema@.expand_schedules(timestamptz) IS
	'Expand every schedule into kant.expected_run up to a time (default: two days ahead, done at most daily per schedule); returns the slots added. kant.refresh_slo() calls it.';

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

CREATE FUNCTION @extschema@.refresh_slo(slo text DEFAULT NULL, since date DEFAULT NULL,
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
	PERFORM pg_advisory_xact_lock(1801547381, 1);  -- ingestion locks (1801547380, system_id)
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
		SELECT w.slo_id, w.business_date, dl.deadline, dl.sla_end
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
			failures, retries, missing, awaited, critical_job_id, evaluated_at)
		SELECT t.slo_id, t.business_date, t.deadline, t.sla_end,
			(v.r).slo_status, (v.r).sla_status, (v.r).completed_at, (v.r).lateness_seconds,
			(v.r).runs, (v.r).done, (v.r).running, (v.r).failures, (v.r).retries,
			(v.r).missing, (v.r).awaited, (v.r).critical_job_id, now()
		FROM todo t
		CROSS JOIN LATERAL (
			SELECT @extschema@.slo_eval(i.job_id, i.state, i.ended_at, i.is_current, i.due_at,
										t.deadline, t.sla_end, now()) AS r
			FROM @extschema@.slo_input i
			WHERE i.slo_id = t.slo_id AND i.business_date = t.business_date) v
		ON CONFLICT (slo_id, business_date) DO UPDATE SET
			deadline = excluded.deadline, sla_end = excluded.sla_end,
			slo_status = excluded.slo_status, sla_status = excluded.sla_status,
			completed_at = excluded.completed_at, lateness_seconds = excluded.lateness_seconds,
			runs = excluded.runs, done = excluded.done, running = excluded.running,
			failures = excluded.failures, retries = excluded.retries,
			missing = excluded.missing, awaited = excluded.awaited,
			critical_job_id = excluded.critical_job_id, evaluated_at = excluded.evaluated_at
		RETURNING 1
	)
	SELECT count(*) INTO n FROM upsert;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_slo(text, date, date) IS
	'Bring kant.slo_day up to date and return the days evaluated. Without arguments, incremental: only days whose runs or expected runs changed (kant.slo_dirty), days still pending, and days never evaluated. With since (and until, and an SLO name): recompute that range.';

---------------------------------------------------------------------------
-- Configuration
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
CREATE TRIGGER resync AFTER INSERT OR UPDATE OR DELETE ON @extschema@.holiday
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._resync_calendars();
CREATE TRIGGER resync AFTER UPDATE OR DELETE ON @extschema@.calendar
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._resync_calendars();

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
	PERFORM @extschema@.cron_check(schedule);
	-- Glue trigger schedules are in UTC; others read in the system's zone
	zone := coalesce(time_zone, CASE WHEN btrim(schedule) ILIKE 'cron(%' THEN 'UTC' ELSE sy.time_zone END);
	IF NOT @extschema@.valid_time_zone(zone) THEN
		RAISE EXCEPTION 'unknown time zone "%"', zone
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an IANA name such as Asia/Tokyo (see pg_timezone_names).';
	END IF;
	IF grace IS NULL OR grace < interval '0' THEN
		RAISE EXCEPTION 'grace must be a non-negative interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF calendar IS NOT NULL AND NOT EXISTS (SELECT FROM @extschema@.calendar c WHERE c.name = set_schedule.calendar) THEN
		RAISE EXCEPTION 'calendar "%" does not exist', calendar
			USING ERRCODE = 'undefined_object', HINT = 'Create it with kant.set_calendar().';
	END IF;
	IF slot_date IS NOT NULL AND slot_date NOT IN ('start', 'previous_tick') THEN
		RAISE EXCEPTION 'invalid slot_date "%"', slot_date
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Use start or previous_tick.';
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
	INSERT INTO @extschema@.schedule AS x (job_id, cron, time_zone, grace_seconds, calendar,
		slot_date, active_from, active_until)
	SELECT j, btrim(schedule), zone, extract(epoch FROM grace)::integer, set_schedule.calendar,
		coalesce(slot_date, CASE WHEN sy.kind = 'airflow' THEN 'previous_tick' ELSE 'start' END),
		coalesce(active_from, (now() AT TIME ZONE sy.time_zone)::date), active_until
	FROM unnest(jobs) AS j
	ON CONFLICT (job_id) DO UPDATE SET
		cron = excluded.cron, time_zone = excluded.time_zone,
		grace_seconds = excluded.grace_seconds, calendar = excluded.calendar,
		slot_date = excluded.slot_date, active_from = excluded.active_from,
		active_until = excluded.active_until, source = 'user', updated_at = now();
	PERFORM @extschema@._reexpand(jobs);
	RETURN cardinality(jobs);
END
$$;
COMMENT ON FUNCTION @extschema@.set_schedule(text, text, text, text, text, interval, text, text, date, date) IS
	'Declare when a job (or every job of a pipeline) is expected to run: cron (5-field, preset or AWS cron(...)), zone (default UTC for cron(...), else the system''s), grace period, calendar, from (and until) which business date; returns the jobs scheduled';

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

CREATE FUNCTION @extschema@._slo_scope_jobs(pipeline text, jobs text[])
	RETURNS integer[]
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	spec text;
	jid integer;
	ids integer[] := '{}';
BEGIN
	FOREACH spec IN ARRAY coalesce(jobs, '{}') LOOP
		IF spec IS NULL OR strpos(spec, '/') = 0 THEN
			RAISE EXCEPTION 'invalid job "%" in jobs', spec
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Name each job as system/job, e.g. ARRAY[''hegel/export_users'', ''socrates/daily.load''].';
		END IF;
		SELECT j.job_id INTO jid FROM @extschema@.job j
		JOIN @extschema@.system s ON s.system_id = j.system_id
		WHERE s.name = split_part(spec, '/', 1) AND j.name = substr(spec, strpos(spec, '/') + 1);
		IF jid IS NULL THEN
			RAISE EXCEPTION 'job "%" does not exist', spec
				USING ERRCODE = 'undefined_object',
					  HINT = 'Create it with kant.configure_job() or ingest one of its runs first.';
		END IF;
		ids := ids || jid;
	END LOOP;
	IF cardinality(ids) = 0 AND (pipeline IS NULL OR NOT EXISTS (
			SELECT FROM @extschema@.job j WHERE j.pipeline = _slo_scope_jobs.pipeline)) THEN
		RAISE EXCEPTION 'the SLO covers no job'
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

CREATE FUNCTION @extschema@._check_slo(deadline_offset_days integer, deadline time, time_zone text,
		sla_offset_days integer, sla_end time, objective numeric, window_days integer, calendar text)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF time_zone IS NULL OR NOT @extschema@.valid_time_zone(time_zone) THEN
		RAISE EXCEPTION 'unknown time zone "%"', time_zone
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an IANA name such as Asia/Tokyo (see pg_timezone_names).';
	END IF;
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

CREATE FUNCTION @extschema@.create_slo(name text, deadline time,
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
		sla_offset_days, sla_time, objective, window_days, calendar, evaluate_from, description)
	VALUES (create_slo.name, create_slo.pipeline, create_slo.deadline_offset_days, deadline, zone,
		s_off, s_end, objective, window_days, calendar,
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

CREATE FUNCTION @extschema@.alter_slo(name text, deadline time DEFAULT NULL,
		deadline_offset_days integer DEFAULT NULL, time_zone text DEFAULT NULL,
		pipeline text DEFAULT NULL, jobs text[] DEFAULT NULL,
		sla_end time DEFAULT NULL, sla_offset_days integer DEFAULT NULL,
		objective numeric DEFAULT NULL, window_days integer DEFAULT NULL,
		calendar text DEFAULT NULL, evaluate_from date DEFAULT NULL, description text DEFAULT NULL,
		new_name text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s @extschema@.slo;
	ids integer[];
BEGIN
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
	s.sla_time := coalesce(sla_end, s.sla_time);
	s.sla_offset_days := coalesce(alter_slo.sla_offset_days, s.sla_offset_days);
	s.objective := coalesce(alter_slo.objective, s.objective);
	s.window_days := coalesce(alter_slo.window_days, s.window_days);
	s.calendar := CASE WHEN alter_slo.calendar = '' THEN NULL ELSE coalesce(alter_slo.calendar, s.calendar) END;
	s.evaluate_from := coalesce(alter_slo.evaluate_from, s.evaluate_from);
	s.description := coalesce(alter_slo.description, s.description);
	IF pipeline IS NOT NULL OR jobs IS NOT NULL THEN
		s.pipeline := CASE WHEN pipeline = '' THEN NULL ELSE coalesce(pipeline, s.pipeline) END;
		ids := @extschema@._slo_scope_jobs(s.pipeline,
			coalesce(jobs, ARRAY(SELECT sy.name || '/' || j.name FROM @extschema@.slo_job sj
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
		sla_offset_days = s.sla_offset_days, sla_time = s.sla_time, objective = s.objective,
		window_days = s.window_days, calendar = s.calendar, evaluate_from = s.evaluate_from,
		description = s.description
	WHERE x.slo_id = s.slo_id;
	PERFORM @extschema@.refresh_slo(s.name, '-infinity');
END
$$;
COMMENT ON FUNCTION @extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text) IS
	'Change an SLO; arguments left NULL are unchanged (pipeline => '''' removes the pipeline from the scope, jobs replaces the listed jobs); its history is re-evaluated';

CREATE FUNCTION @extschema@.drop_slo(name text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM @extschema@.slo s WHERE s.name = drop_slo.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'SLO "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_slo(text) IS 'Remove an SLO and its daily facts';

-- pg_cron lives in one database: the helpers schedule there, or say what to run
CREATE FUNCTION @extschema@._cron_job(job_name text, schedule text, command text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	cron_db text := current_setting('cron.database_name', true);
	id bigint;
BEGIN
	IF to_regclass('cron.job') IS NULL THEN
		IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
			RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_db, current_database()
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = format('In database %s run: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
									cron_db, job_name, schedule, command, current_database());
		END IF;
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and CREATE EXTENSION pg_cron.';
	END IF;
	-- pg_cron checks the schedule itself
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING job_name, schedule, command;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._cron_job(text, text, text) IS
	'internal: create or replace a named pg_cron job, or explain what to run where pg_cron lives';

CREATE FUNCTION @extschema@.schedule_slo_refresh(schedule text DEFAULT '*/5 * * * *')
	RETURNS bigint
	LANGUAGE sql VOLATILE
	AS $$ SELECT @extschema@._cron_job('kant-refresh-slo', schedule, 'SELECT kant.refresh_slo()') $$;
COMMENT ON FUNCTION @extschema@.schedule_slo_refresh(text) IS
	'Create or update the pg_cron job kant-refresh-slo that runs kant.refresh_slo() (default every 5 minutes); returns the cron job id';

CREATE FUNCTION @extschema@.unschedule_slo_refresh()
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF to_regclass('cron.job') IS NULL THEN
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

REVOKE ALL ON FUNCTION @extschema@.expand_schedules(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._reexpand(integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.refresh_slo(text, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._resync_calendars() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_calendar(text, integer[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_schedule(text, text, text, text, text, interval, text, text, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unset_schedule(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._slo_scope_jobs(text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._check_slo(integer, time, text, integer, time, numeric, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.create_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drop_slo(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.schedule_slo_refresh(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unschedule_slo_refresh() FROM PUBLIC;

---------------------------------------------------------------------------
-- Attainment
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.slo_attainment(slo text, window_days integer DEFAULT NULL,
		as_of date DEFAULT NULL,
		OUT since date, OUT until date,
		OUT slo_days_evaluated integer, OUT slo_days_met integer, OUT slo_days_missed integer,
		OUT sla_days_evaluated integer, OUT sla_days_met integer, OUT sla_days_missed integer,
		OUT pending_days integer, OUT no_data_days integer,
		OUT slo_attainment double precision, OUT sla_attainment double precision,
		OUT objective numeric, OUT error_budget_days integer,
		OUT slo_budget_remaining_days integer, OUT sla_budget_remaining_days integer,
		OUT streak_days integer)
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s @extschema@.slo;
BEGIN
	SELECT * INTO s FROM @extschema@.slo x WHERE x.name = slo_attainment.slo;
	IF s.slo_id IS NULL THEN
		RAISE EXCEPTION 'SLO "%" does not exist', slo
			USING ERRCODE = 'undefined_object', HINT = 'See SELECT name FROM kant.slo;';
	END IF;
	IF window_days IS NOT NULL AND window_days < 1 THEN
		RAISE EXCEPTION 'window_days must be positive' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	until := coalesce(as_of, (now() AT TIME ZONE s.time_zone)::date);
	since := until - coalesce(window_days, s.window_days) + 1;
	SELECT a.slo_eval, a.slo_met, a.slo_eval - a.slo_met,
		   a.sla_eval, a.sla_met, a.sla_eval - a.sla_met, a.pending, a.no_data,
		   a.slo_met::double precision / NULLIF(a.slo_eval, 0),
		   a.sla_met::double precision / NULLIF(a.sla_eval, 0),
		   s.objective, floor((1 - s.objective) * a.slo_eval)::integer
	INTO slo_days_evaluated, slo_days_met, slo_days_missed, sla_days_evaluated, sla_days_met,
		 sla_days_missed, pending_days, no_data_days, slo_attainment, sla_attainment,
		 objective, error_budget_days
	FROM (SELECT count(*) FILTER (WHERE y.slo_status IN ('met', 'missed'))::integer AS slo_eval,
				 count(*) FILTER (WHERE y.slo_status = 'met')::integer AS slo_met,
				 count(*) FILTER (WHERE y.sla_status IN ('met', 'missed'))::integer AS sla_eval,
				 count(*) FILTER (WHERE y.sla_status = 'met')::integer AS sla_met,
				 count(*) FILTER (WHERE y.slo_status = 'pending' OR y.sla_status = 'pending')::integer AS pending,
				 count(*) FILTER (WHERE y.slo_status = 'no_data')::integer AS no_data
		  FROM @extschema@.slo_day y
		  WHERE y.slo_id = s.slo_id AND y.business_date BETWEEN since AND until) a;
	-- the budget is floor((1 - objective) x days evaluated), per verdict
	slo_budget_remaining_days := error_budget_days - slo_days_missed;
	sla_budget_remaining_days := floor((1 - s.objective) * sla_days_evaluated)::integer - sla_days_missed;
	-- met days since the last missed one
	SELECT count(*)::integer INTO streak_days FROM @extschema@.slo_day y
	WHERE y.slo_id = s.slo_id AND y.business_date <= until AND y.slo_status = 'met'
	  AND y.business_date > coalesce((SELECT max(z.business_date) FROM @extschema@.slo_day z
									  WHERE z.slo_id = s.slo_id AND z.business_date <= until
										AND z.slo_status = 'missed'), '-infinity');
	RETURN;
END
$$;
COMMENT ON FUNCTION @extschema@.slo_attainment(text, integer, date) IS
	'Attainment of an SLO over its rolling window (or window_days) ending at as_of (default: today in the SLO''s zone): days evaluated (met or missed), met, missed, for SLO and SLA; error budget = floor((1 - objective) x days evaluated) and what is left; met days since the last missed one';
REVOKE ALL ON FUNCTION @extschema@.slo_attainment(text, integer, date) FROM PUBLIC;

---------------------------------------------------------------------------
-- Views for Tableau: plain types only, naive timestamps with the zone in the
-- column name (_utc) or in a column beside it (_local), flags as 0/1
---------------------------------------------------------------------------

-- per job, the SLO with the earliest deadline that covers it
CREATE VIEW @extschema@.job_deadline AS
SELECT DISTINCT ON (sc.job_id) sc.job_id, s.slo_id, s.name AS slo,
	s.deadline_offset_days, s.deadline_time, s.time_zone
FROM @extschema@.slo_scope sc
JOIN @extschema@.slo s ON s.slo_id = sc.slo_id
ORDER BY sc.job_id, s.deadline_offset_days, s.deadline_time, s.slo_id;
COMMENT ON VIEW @extschema@.job_deadline IS 'For each job, the SLO with the earliest deadline that covers it: its run''s expected end';
COMMENT ON COLUMN @extschema@.job_deadline.job_id IS 'the job';
COMMENT ON COLUMN @extschema@.job_deadline.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.job_deadline.slo IS 'its name';
COMMENT ON COLUMN @extschema@.job_deadline.deadline_offset_days IS 'deadline day offset';
COMMENT ON COLUMN @extschema@.job_deadline.deadline_time IS 'deadline local time';
COMMENT ON COLUMN @extschema@.job_deadline.time_zone IS 'deadline zone';

CREATE VIEW @extschema@.bi_run_timeline AS
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
	CASE WHEN NOT EXISTS (
			SELECT FROM @extschema@.job_run n
			WHERE n.job_id = r.job_id AND n.external_id = r.external_id AND n.attempt > r.attempt)
		 AND NOT EXISTS (
			SELECT FROM @extschema@.job_run n
			WHERE n.job_id = r.job_id AND n.previous_external_id = r.external_id
			  AND n.previous_external_id IS NOT NULL)
		THEN 1 ELSE 0 END AS is_current,
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
	FROM (SELECT @extschema@.local_instant((r.business_date + jd.deadline_offset_days) + jd.deadline_time,
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
	SELECT @extschema@.local_instant((e.business_date + jd.deadline_offset_days) + jd.deadline_time,
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

CREATE VIEW @extschema@.slo_systems AS
SELECT sc.slo_id,
	string_agg(DISTINCT coalesce(sy.display_name, sy.name), ', ') AS systems
FROM @extschema@.slo_scope sc
JOIN @extschema@.job j ON j.job_id = sc.job_id
JOIN @extschema@.system sy ON sy.system_id = j.system_id
GROUP BY sc.slo_id;
COMMENT ON VIEW @extschema@.slo_systems IS 'The systems (display names) of the jobs each SLO covers';
COMMENT ON COLUMN @extschema@.slo_systems.slo_id IS 'the SLO';
COMMENT ON COLUMN @extschema@.slo_systems.systems IS 'comma-separated system display names';

CREATE VIEW @extschema@.bi_slo_daily AS
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
	y.evaluated_at AT TIME ZONE 'UTC' AS evaluated_at_utc
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

CREATE VIEW @extschema@.bi_slo_attainment AS
WITH periods AS (
	SELECT s.slo_id, p.period, p.since, p.until
	FROM @extschema@.slo s
	CROSS JOIN LATERAL (SELECT (pg_catalog.now() AT TIME ZONE s.time_zone)::date AS today) t
	CROSS JOIN LATERAL (VALUES
		('last_7_days', t.today - 6, t.today),
		('last_28_days', t.today - 27, t.today),
		('last_90_days', t.today - 89, t.today),
		('window', t.today - s.window_days + 1, t.today)) AS p(period, since, until)
	UNION ALL
	SELECT DISTINCT y.slo_id, 'month',
		date_trunc('month', y.business_date::timestamp)::date,
		(date_trunc('month', y.business_date::timestamp) + interval '1 month - 1 day')::date
	FROM @extschema@.slo_day y
), counts AS (
	SELECT p.slo_id, p.period, p.since, p.until,
		count(y.*) FILTER (WHERE y.slo_status IN ('met', 'missed'))::integer AS slo_eval,
		count(y.*) FILTER (WHERE y.slo_status = 'met')::integer AS slo_met,
		count(y.*) FILTER (WHERE y.sla_status IN ('met', 'missed'))::integer AS sla_eval,
		count(y.*) FILTER (WHERE y.sla_status = 'met')::integer AS sla_met,
		count(y.*) FILTER (WHERE y.slo_status = 'pending' OR y.sla_status = 'pending')::integer AS pending,
		count(y.*) FILTER (WHERE y.slo_status = 'no_data')::integer AS no_data
	FROM periods p
	LEFT JOIN @extschema@.slo_day y
		ON y.slo_id = p.slo_id AND y.business_date BETWEEN p.since AND p.until
	GROUP BY p.slo_id, p.period, p.since, p.until
)
SELECT
	s.name AS slo,
	ss.systems,
	c.period,
	c.since AS period_start,
	c.until AS period_end,
	c.slo_eval AS slo_days_evaluated,
	c.slo_met AS slo_days_met,
	c.slo_eval - c.slo_met AS slo_days_missed,
	round(100.0 * c.slo_met / NULLIF(c.slo_eval, 0), 2)::numeric(5,2) AS slo_met_pct,
	c.sla_eval AS sla_days_evaluated,
	c.sla_met AS sla_days_met,
	c.sla_eval - c.sla_met AS sla_days_missed,
	round(100.0 * c.sla_met / NULLIF(c.sla_eval, 0), 2)::numeric(5,2) AS sla_met_pct,
	round(100 * s.objective, 2)::numeric(5,2) AS objective_pct,
	floor((1 - s.objective) * c.slo_eval)::integer AS error_budget_days,
	c.slo_eval - c.slo_met AS slo_budget_used_days,
	floor((1 - s.objective) * c.slo_eval)::integer - (c.slo_eval - c.slo_met) AS slo_budget_remaining_days,
	c.sla_eval - c.sla_met AS sla_budget_used_days,
	floor((1 - s.objective) * c.sla_eval)::integer - (c.sla_eval - c.sla_met) AS sla_budget_remaining_days,
	c.pending AS pending_days,
	c.no_data AS no_data_days,
	(SELECT count(*)::integer FROM @extschema@.slo_day y
	 WHERE y.slo_id = c.slo_id AND y.business_date <= c.until AND y.slo_status = 'met'
	   AND y.business_date > coalesce((SELECT max(z.business_date) FROM @extschema@.slo_day z
									   WHERE z.slo_id = c.slo_id AND z.business_date <= c.until
										 AND z.slo_status = 'missed'), '-infinity')) AS streak_days
FROM counts c
JOIN @extschema@.slo s ON s.slo_id = c.slo_id
LEFT JOIN @extschema@.slo_systems ss ON ss.slo_id = c.slo_id;
COMMENT ON VIEW @extschema@.bi_slo_attainment IS
	'Per SLO: attainment of SLO and SLA over the last 7, 28 and 90 days, its own window, and each calendar month; error budget in days and what is left of it';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo IS 'SLO name';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.systems IS 'systems of the jobs in scope (e.g. HEGEL)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.period IS 'last_7_days, last_28_days, last_90_days, window (the SLO''s own) or month';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.period_start IS 'first business date of the period';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.period_end IS 'last business date of the period (today in the SLO''s zone for rolling periods)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_days_evaluated IS 'days with a final SLO verdict (met or missed)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_days_met IS 'days the SLO was met';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_days_missed IS 'days the SLO was missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_met_pct IS '100 x met / evaluated';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_days_evaluated IS 'days with a final SLA verdict';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_days_met IS 'days the SLA was met (recovered the same day)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_days_missed IS 'days the SLA was missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_met_pct IS '100 x SLA met / evaluated';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.objective_pct IS 'the objective in percent';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.error_budget_days IS 'floor((1 - objective) x days evaluated)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_budget_used_days IS 'SLO days missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.slo_budget_remaining_days IS 'error budget minus SLO days missed (negative: overspent)';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_budget_used_days IS 'SLA days missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.sla_budget_remaining_days IS 'error budget minus SLA days missed';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.pending_days IS 'days whose verdict is not final yet';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.no_data_days IS 'days with no run and no expected run';
COMMENT ON COLUMN @extschema@.bi_slo_attainment.streak_days IS 'SLO met days since the last missed day, up to period_end';

CREATE VIEW @extschema@.bi_job_duration AS
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
CROSS JOIN LATERAL (
	SELECT extract(epoch FROM r.ended_at - r.started_at)::double precision AS seconds,
		   (current_date - r.business_date) AS days_ago,
		   (current_date - r.business_date) / 7 AS week) d
WHERE r.state = 'succeeded' AND r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
  AND r.business_date > current_date - 28
GROUP BY sy.name, sy.display_name, j.pipeline, j.name;
COMMENT ON VIEW @extschema@.bi_job_duration IS
	'Per job over the last 28 business dates: p50/p90/max duration of successful attempts, the weekly median and its trend; which job to parallelise or reschedule first';
COMMENT ON COLUMN @extschema@.bi_job_duration.system IS 'system name';
COMMENT ON COLUMN @extschema@.bi_job_duration.system_display_name IS 'system display name';
COMMENT ON COLUMN @extschema@.bi_job_duration.pipeline IS 'the job''s pipeline';
COMMENT ON COLUMN @extschema@.bi_job_duration.job IS 'job name';
COMMENT ON COLUMN @extschema@.bi_job_duration.runs_28d IS 'successful attempts in the last 28 business dates';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_seconds IS 'median duration in seconds';
COMMENT ON COLUMN @extschema@.bi_job_duration.p90_seconds IS '90th percentile duration in seconds';
COMMENT ON COLUMN @extschema@.bi_job_duration.max_seconds IS 'longest duration in seconds';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_0_seconds IS 'median duration over the last 7 business dates';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_1_seconds IS 'median duration 8 to 14 days ago';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_2_seconds IS 'median duration 15 to 21 days ago';
COMMENT ON COLUMN @extschema@.bi_job_duration.p50_week_3_seconds IS 'median duration 22 to 28 days ago';
COMMENT ON COLUMN @extschema@.bi_job_duration.trend_seconds_per_week IS 'least-squares change of duration per week (positive: getting slower)';

CREATE VIEW @extschema@.bi_data_dictionary AS
SELECT
	c.relname::text AS view_name,
	pg_catalog.obj_description(c.oid, 'pg_class') AS view_description,
	a.attnum::integer AS column_position,
	a.attname::text AS column_name,
	pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
	pg_catalog.col_description(c.oid, a.attnum) AS column_description
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = '@extschema@'::regnamespace AND c.relkind = 'v'
  AND c.relname LIKE 'bi\_%';
COMMENT ON VIEW @extschema@.bi_data_dictionary IS
	'Every column of kant''s BI views with its type and description (for clients such as psqlODBC that do not show comments)';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.view_name IS 'the view';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.view_description IS 'what the view holds';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.column_position IS 'position of the column, from 1';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.column_name IS 'the column';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.data_type IS 'its SQL type';
COMMENT ON COLUMN @extschema@.bi_data_dictionary.column_description IS 'what it means';
