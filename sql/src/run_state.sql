/*
 * kant: kant.run_state: the states of a run, Glue's and Airflow's mapped onto one ordered type.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 */

---------------------------------------------------------------------------
-- kant.run_state: one normalised state for every scheduler
---------------------------------------------------------------------------

CREATE TYPE @extschema@.run_state;

CREATE FUNCTION @extschema@.run_state_in(cstring) RETURNS @extschema@.run_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.run_state_in(cstring) IS 'kant.run_state input: any accepted spelling';

CREATE FUNCTION @extschema@.run_state_out(@extschema@.run_state) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.run_state_out(@extschema@.run_state) IS 'kant.run_state output: the canonical name';

CREATE FUNCTION @extschema@.run_state_recv(internal) RETURNS @extschema@.run_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.run_state_recv(internal) IS 'kant.run_state binary input (the name as text)';

CREATE FUNCTION @extschema@.run_state_send(@extschema@.run_state) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.run_state_send(@extschema@.run_state) IS 'kant.run_state binary output (the name as text)';

CREATE TYPE @extschema@.run_state (
	INPUT = @extschema@.run_state_in,
	OUTPUT = @extschema@.run_state_out,
	RECEIVE = @extschema@.run_state_recv,
	SEND = @extschema@.run_state_send,
	INTERNALLENGTH = 1,
	PASSEDBYVALUE,
	ALIGNMENT = char,
	STORAGE = plain
);
COMMENT ON TYPE @extschema@.run_state IS
	'Normalised run state: scheduled, queued, running, deferred, retrying, succeeded, failed, timed_out, cancelled, skipped, upstream_failed. Input accepts every Glue, Airflow, OpenLineage and pg_cron spelling, case-insensitively (see kant.state_mapping()).';

CREATE FUNCTION @extschema@.run_state_eq(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_eq(@extschema@.run_state, @extschema@.run_state) IS 'implementation of = for kant.run_state';

CREATE FUNCTION @extschema@.run_state_ne(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_ne(@extschema@.run_state, @extschema@.run_state) IS 'implementation of <> for kant.run_state';

CREATE FUNCTION @extschema@.run_state_lt(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_lt(@extschema@.run_state, @extschema@.run_state) IS 'implementation of < for kant.run_state';

CREATE FUNCTION @extschema@.run_state_le(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_le(@extschema@.run_state, @extschema@.run_state) IS 'implementation of <= for kant.run_state';

CREATE FUNCTION @extschema@.run_state_gt(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_gt(@extschema@.run_state, @extschema@.run_state) IS 'implementation of > for kant.run_state';

CREATE FUNCTION @extschema@.run_state_ge(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_ge(@extschema@.run_state, @extschema@.run_state) IS 'implementation of >= for kant.run_state';

CREATE FUNCTION @extschema@.run_state_cmp(@extschema@.run_state, @extschema@.run_state) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_cmp(@extschema@.run_state, @extschema@.run_state) IS 'btree support: lifecycle order, then outcomes';

CREATE FUNCTION @extschema@.run_state_hash(@extschema@.run_state) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.run_state_hash(@extschema@.run_state) IS 'hash support for kant.run_state';

CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.run_state, RIGHTARG = @extschema@.run_state,
	FUNCTION = @extschema@.run_state_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);

CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.run_state, RIGHTARG = @extschema@.run_state,
	FUNCTION = @extschema@.run_state_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);

CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.run_state, RIGHTARG = @extschema@.run_state,
	FUNCTION = @extschema@.run_state_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.run_state, RIGHTARG = @extschema@.run_state,
	FUNCTION = @extschema@.run_state_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.run_state, RIGHTARG = @extschema@.run_state,
	FUNCTION = @extschema@.run_state_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.run_state, RIGHTARG = @extschema@.run_state,
	FUNCTION = @extschema@.run_state_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS @extschema@.run_state_ops
	DEFAULT FOR TYPE @extschema@.run_state USING btree AS
	OPERATOR 1 @extschema@.<,
	OPERATOR 2 @extschema@.<=,
	OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=,
	OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.run_state_cmp(@extschema@.run_state, @extschema@.run_state);

CREATE OPERATOR CLASS @extschema@.run_state_hash_ops
	DEFAULT FOR TYPE @extschema@.run_state USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.run_state_hash(@extschema@.run_state);

CREATE CAST (@extschema@.run_state AS text) WITH INOUT AS ASSIGNMENT;

CREATE CAST (text AS @extschema@.run_state) WITH INOUT AS ASSIGNMENT;

CREATE FUNCTION @extschema@.is_terminal(@extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME', 'run_state_is_terminal'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.is_terminal(@extschema@.run_state) IS
	'true for states that end an attempt: succeeded, failed, timed_out, cancelled, skipped, upstream_failed';

CREATE FUNCTION @extschema@.state_mapping(
	OUT source text, OUT spelling text, OUT state @extschema@.run_state, OUT is_terminal boolean)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'run_state_mapping'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.state_mapping() IS
	'Every state spelling kant accepts, the source that uses it, and the state it maps to';
