/* kant 0.1.0 -> 0.2.0: cron schedules, parsed and expanded in C (DST-correct) */

\echo Use "ALTER EXTENSION kant UPDATE TO '0.2.0'" to load this file. \quit

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
