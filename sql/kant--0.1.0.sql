/* kant 0.1.0: the run model and lossless ingestion */

\echo Use "CREATE EXTENSION kant" to load this file. \quit

---------------------------------------------------------------------------
-- kant.run_state: one normalised state for every scheduler
---------------------------------------------------------------------------

CREATE TYPE @extschema@.run_state;

CREATE FUNCTION @extschema@.run_state_in(cstring) RETURNS @extschema@.run_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.run_state_out(@extschema@.run_state) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.run_state_recv(internal) RETURNS @extschema@.run_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.run_state_send(@extschema@.run_state) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

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
CREATE FUNCTION @extschema@.run_state_ne(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.run_state_lt(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.run_state_le(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.run_state_gt(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.run_state_ge(@extschema@.run_state, @extschema@.run_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.run_state_cmp(@extschema@.run_state, @extschema@.run_state) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION @extschema@.run_state_hash(@extschema@.run_state) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION @extschema@.run_state_in(cstring) IS 'kant.run_state input: any accepted spelling';
COMMENT ON FUNCTION @extschema@.run_state_out(@extschema@.run_state) IS 'kant.run_state output: the canonical name';
COMMENT ON FUNCTION @extschema@.run_state_recv(internal) IS 'kant.run_state binary input (the name as text)';
COMMENT ON FUNCTION @extschema@.run_state_send(@extschema@.run_state) IS 'kant.run_state binary output (the name as text)';
COMMENT ON FUNCTION @extschema@.run_state_eq(@extschema@.run_state, @extschema@.run_state) IS 'implementation of = for kant.run_state';
COMMENT ON FUNCTION @extschema@.run_state_ne(@extschema@.run_state, @extschema@.run_state) IS 'implementation of <> for kant.run_state';
COMMENT ON FUNCTION @extschema@.run_state_lt(@extschema@.run_state, @extschema@.run_state) IS 'implementation of < for kant.run_state';
COMMENT ON FUNCTION @extschema@.run_state_le(@extschema@.run_state, @extschema@.run_state) IS 'implementation of <= for kant.run_state';
COMMENT ON FUNCTION @extschema@.run_state_gt(@extschema@.run_state, @extschema@.run_state) IS 'implementation of > for kant.run_state';
COMMENT ON FUNCTION @extschema@.run_state_ge(@extschema@.run_state, @extschema@.run_state) IS 'implementation of >= for kant.run_state';
COMMENT ON FUNCTION @extschema@.run_state_cmp(@extschema@.run_state, @extschema@.run_state) IS 'btree support: lifecycle order, then outcomes';
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

CREATE FUNCTION @extschema@.valid_time_zone(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'kant_valid_time_zone'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.valid_time_zone(text) IS
	'true when the server knows the time zone name (IANA names such as Asia/Tokyo)';

---------------------------------------------------------------------------
-- The model
---------------------------------------------------------------------------

CREATE TABLE @extschema@.system (
	system_id		integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name			text NOT NULL UNIQUE
					CHECK (name <> '' AND length(name) <= 1000 AND name = btrim(name)),
	kind			text NOT NULL CHECK (kind IN ('glue', 'airflow', 'openlineage', 'manual')),
	time_zone		text NOT NULL DEFAULT 'UTC' CHECK (@extschema@.valid_time_zone(time_zone)),
	display_name	text,
	description		text,
	bd_argument		text,
	bd_offset_days	integer NOT NULL DEFAULT 0 CHECK (bd_offset_days BETWEEN -366 AND 366),
	bd_day_start	time NOT NULL DEFAULT '00:00',
	default_pipeline text,
	ol_namespace	text UNIQUE,
	endpoint		text,
	credential_ref	text,
	auto_registered	boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.system IS
	'A scheduler installation kant watches: a Glue account and region, an Airflow / Composer environment, an OpenLineage namespace, or a manual reporter';
COMMENT ON COLUMN @extschema@.system.name IS 'kant''s name for the system, e.g. hegel; what ingestion functions take';
COMMENT ON COLUMN @extschema@.system.kind IS 'glue, airflow, openlineage or manual';
COMMENT ON COLUMN @extschema@.system.time_zone IS 'IANA time zone in which business dates and local times of this system are read';
COMMENT ON COLUMN @extschema@.system.display_name IS 'name shown in views, e.g. HEGEL';
COMMENT ON COLUMN @extschema@.system.description IS 'free text';
COMMENT ON COLUMN @extschema@.system.bd_argument IS 'Glue job argument carrying the business date (e.g. --business_date), default for the system''s jobs';
COMMENT ON COLUMN @extschema@.system.bd_offset_days IS 'business date = local date of the start time, minus bd_day_start, plus this many days (default for jobs)';
COMMENT ON COLUMN @extschema@.system.bd_day_start IS 'local time at which a business day begins for the start-time rule (default for jobs)';
COMMENT ON COLUMN @extschema@.system.default_pipeline IS 'pipeline given to jobs registered automatically';
COMMENT ON COLUMN @extschema@.system.ol_namespace IS 'OpenLineage job namespace whose events belong to this system (default: the system name)';
COMMENT ON COLUMN @extschema@.system.endpoint IS 'API endpoint the collectors call (Glue region endpoint, Airflow base URL)';
COMMENT ON COLUMN @extschema@.system.credential_ref IS 'reference to the credential the collectors use; never the secret itself';
COMMENT ON COLUMN @extschema@.system.auto_registered IS 'true when kant created the system on first sight in a payload';
COMMENT ON COLUMN @extschema@.system.created_at IS 'when the system was registered';

CREATE TABLE @extschema@.job (
	job_id			integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	system_id		integer NOT NULL REFERENCES @extschema@.system ON DELETE CASCADE,
	name			text COLLATE "C" NOT NULL CHECK (name <> '' AND length(name) <= 1000),
	dag_id			text,
	task_id			text,
	pipeline		text,
	bd_argument		text,
	bd_offset_days	integer CHECK (bd_offset_days BETWEEN -366 AND 366),
	bd_day_start	time,
	description		text,
	auto_registered	boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (system_id, name)
);
CREATE INDEX ON @extschema@.job (pipeline) WHERE pipeline IS NOT NULL;
COMMENT ON TABLE @extschema@.job IS
	'One unit that runs: a Glue job, or an Airflow task (dag_id.task_id); registered on first sight';
COMMENT ON COLUMN @extschema@.job.name IS 'Glue JobName, or dag_id.task_id for Airflow';
COMMENT ON COLUMN @extschema@.job.dag_id IS 'Airflow DAG id (Airflow jobs only)';
COMMENT ON COLUMN @extschema@.job.task_id IS 'Airflow task id (Airflow jobs only)';
COMMENT ON COLUMN @extschema@.job.pipeline IS 'named group of jobs that SLOs and gates speak of';
COMMENT ON COLUMN @extschema@.job.bd_argument IS 'Glue job argument carrying the business date; NULL: the system''s';
COMMENT ON COLUMN @extschema@.job.bd_offset_days IS 'start-time rule offset in days; NULL: the system''s';
COMMENT ON COLUMN @extschema@.job.bd_day_start IS 'start-time rule day boundary (local time); NULL: the system''s';
COMMENT ON COLUMN @extschema@.job.description IS 'free text';
COMMENT ON COLUMN @extschema@.job.auto_registered IS 'true when kant created the job on first sight in a payload';
COMMENT ON COLUMN @extschema@.job.created_at IS 'when the job was registered';

CREATE TABLE @extschema@.ingest_batch (
	batch_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	source			text NOT NULL,
	system_id		integer REFERENCES @extschema@.system ON DELETE SET NULL,
	received_at		timestamptz NOT NULL,
	finished_at		timestamptz,
	received_by		text NOT NULL,
	received		integer NOT NULL DEFAULT 0,
	inserted		integer NOT NULL DEFAULT 0,
	updated			integer NOT NULL DEFAULT 0,
	unchanged		integer NOT NULL DEFAULT 0,
	rejected		integer NOT NULL DEFAULT 0,
	payload_bytes	bigint,
	payload_sha256	bytea,
	payload			jsonb
);
CREATE INDEX ON @extschema@.ingest_batch (system_id, received_at);
COMMENT ON TABLE @extschema@.ingest_batch IS
	'Every payload ingested: when, from which source and system, by whom, what became of its records, and its SHA-256 (the payload itself when kant.keep_payloads is on)';
COMMENT ON COLUMN @extschema@.ingest_batch.source IS 'which ingestion function: glue, airflow, openlineage or report';
COMMENT ON COLUMN @extschema@.ingest_batch.system_id IS 'the system of the payload; NULL for an OpenLineage payload spanning systems';
COMMENT ON COLUMN @extschema@.ingest_batch.received_at IS 'when ingestion of the payload began';
COMMENT ON COLUMN @extschema@.ingest_batch.finished_at IS 'when ingestion of the payload ended';
COMMENT ON COLUMN @extschema@.ingest_batch.received_by IS 'session user that sent the payload';
COMMENT ON COLUMN @extschema@.ingest_batch.received IS 'records in the payload';
COMMENT ON COLUMN @extschema@.ingest_batch.inserted IS 'run attempts seen for the first time';
COMMENT ON COLUMN @extschema@.ingest_batch.updated IS 'run attempts that changed';
COMMENT ON COLUMN @extschema@.ingest_batch.unchanged IS 'records that changed nothing (already known, older, or folded into another record of the payload)';
COMMENT ON COLUMN @extschema@.ingest_batch.rejected IS 'records quarantined in kant.rejected';
COMMENT ON COLUMN @extschema@.ingest_batch.payload_bytes IS 'size of the payload as received (jsonb or text)';
COMMENT ON COLUMN @extschema@.ingest_batch.payload_sha256 IS 'SHA-256 of the payload as received (the text, or the jsonb binary form)';
COMMENT ON COLUMN @extschema@.ingest_batch.payload IS 'the payload, when kant.keep_payloads is on';

CREATE TABLE @extschema@.rejected (
	rejected_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	batch_id		bigint NOT NULL REFERENCES @extschema@.ingest_batch ON DELETE CASCADE,
	system_id		integer REFERENCES @extschema@.system ON DELETE SET NULL,
	source			text NOT NULL,
	item_index		integer NOT NULL,
	item_path		text NOT NULL,
	field			text NOT NULL,
	sqlstate		text NOT NULL,
	reason			text NOT NULL,
	hint			text,
	record			jsonb,
	rejected_at		timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON @extschema@.rejected (batch_id);
CREATE INDEX ON @extschema@.rejected (rejected_at);
COMMENT ON TABLE @extschema@.rejected IS
	'Quarantine: every record kant could not ingest, whole, with the reason; nothing is dropped silently';
COMMENT ON COLUMN @extschema@.rejected.batch_id IS 'the payload the record came in';
COMMENT ON COLUMN @extschema@.rejected.system_id IS 'the system of the payload, when known';
COMMENT ON COLUMN @extschema@.rejected.source IS 'which ingestion function: glue, airflow, openlineage or report';
COMMENT ON COLUMN @extschema@.rejected.item_index IS 'position of the record in the payload''s list (0-based)';
COMMENT ON COLUMN @extschema@.rejected.item_path IS 'SQL/JSON path of the offending field in the payload';
COMMENT ON COLUMN @extschema@.rejected.field IS 'the offending field (same as item_path; kept for readability)';
COMMENT ON COLUMN @extschema@.rejected.sqlstate IS 'SQLSTATE of the problem, as a WARNING reported it';
COMMENT ON COLUMN @extschema@.rejected.reason IS 'what is wrong with the record';
COMMENT ON COLUMN @extschema@.rejected.hint IS 'what to do about it';
COMMENT ON COLUMN @extschema@.rejected.record IS 'the record as it arrived';
COMMENT ON COLUMN @extschema@.rejected.rejected_at IS 'when it was rejected';

CREATE TABLE @extschema@.job_run (
	run_id			bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	job_id			integer NOT NULL REFERENCES @extschema@.job ON DELETE CASCADE,
	external_id		text COLLATE "C" NOT NULL,
	attempt			integer NOT NULL CHECK (attempt >= 0),
	business_date	date NOT NULL,
	bd_source		"char" NOT NULL CHECK (bd_source IN ('a', 'l', 'n', 'r', 's', 'i')),
	state			@extschema@.run_state NOT NULL,
	raw_state		text NOT NULL,
	started_at		timestamptz,
	ended_at		timestamptz,
	source_updated_at timestamptz,
	error_message	text,
	previous_external_id text COLLATE "C",
	details			jsonb,
	first_seen		timestamptz NOT NULL,
	last_seen		timestamptz NOT NULL,
	batch_id		bigint NOT NULL,
	CONSTRAINT job_run_key UNIQUE (job_id, external_id, attempt)
);
CREATE INDEX job_run_business_date_idx ON @extschema@.job_run (business_date, job_id);
CREATE INDEX job_run_job_started_idx ON @extschema@.job_run (job_id, started_at);
CREATE INDEX job_run_open_idx ON @extschema@.job_run (job_id)
	WHERE NOT @extschema@.is_terminal(state);
CREATE INDEX job_run_previous_idx ON @extschema@.job_run (job_id, previous_external_id)
	WHERE previous_external_id IS NOT NULL;
COMMENT ON TABLE @extschema@.job_run IS
	'One row per run attempt of a job, from any source; merged monotonically (a terminal state is never replaced by a non-terminal one; among versions the newest wins)';
COMMENT ON COLUMN @extschema@.job_run.run_id IS 'kant''s id of the attempt';
COMMENT ON COLUMN @extschema@.job_run.job_id IS 'the job (kant.job)';
COMMENT ON COLUMN @extschema@.job_run.external_id IS 'the source''s id: Glue JobRun Id; Airflow dag_run_id (#map_index for mapped tasks); OpenLineage runId; reported run_id';
COMMENT ON COLUMN @extschema@.job_run.attempt IS 'attempt number from 1: Glue Attempt + 1, Airflow try_number';
COMMENT ON COLUMN @extschema@.job_run.business_date IS 'date of the data the run produces';
COMMENT ON COLUMN @extschema@.job_run.bd_source IS 'where business_date came from: a a job argument, l Airflow logical date, n OpenLineage nominal time, r reported, s the job''s start-time rule, i inherited from the retried run';
COMMENT ON COLUMN @extschema@.job_run.state IS 'normalised state';
COMMENT ON COLUMN @extschema@.job_run.raw_state IS 'state as the source spelled it';
COMMENT ON COLUMN @extschema@.job_run.started_at IS 'when the attempt started';
COMMENT ON COLUMN @extschema@.job_run.ended_at IS 'when the attempt ended';
COMMENT ON COLUMN @extschema@.job_run.source_updated_at IS 'the source''s last modification time (Glue LastModifiedOn, OpenLineage eventTime)';
COMMENT ON COLUMN @extschema@.job_run.error_message IS 'error reported by the source';
COMMENT ON COLUMN @extschema@.job_run.previous_external_id IS 'Glue PreviousRunId: the run this one retries';
COMMENT ON COLUMN @extschema@.job_run.details IS 'the source''s record, verbatim: Glue the whole JobRun; Airflow map_index, max_tries, operator, hostname, pool, queue, dag_run_id; OpenLineage the producer; reports the details given';
COMMENT ON COLUMN @extschema@.job_run.first_seen IS 'when kant first received the attempt';
COMMENT ON COLUMN @extschema@.job_run.last_seen IS 'when kant last received it (refreshed at most every kant.touch_interval while unchanged)';
COMMENT ON COLUMN @extschema@.job_run.batch_id IS 'the payload that last changed the row (kant.ingest_batch)';

-- user data survives pg_dump
SELECT pg_catalog.pg_extension_config_dump('@extschema@.system', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ingest_batch', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rejected', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_run', '');
-- and so do the identity sequences' positions
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.system', 'system_id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.job', 'job_id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.ingest_batch', 'batch_id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.rejected', 'rejected_id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('@extschema@.job_run', 'run_id')::pg_catalog.regclass, '');

---------------------------------------------------------------------------
-- Ingestion
---------------------------------------------------------------------------

CREATE TYPE @extschema@.ingest_result AS (
	batch_id	bigint,
	received	integer,
	inserted	integer,
	updated		integer,
	unchanged	integer,
	rejected	integer
);
COMMENT ON TYPE @extschema@.ingest_result IS
	'What became of one ingested payload (received = inserted + updated + unchanged + rejected)';

CREATE FUNCTION @extschema@.ingest_glue_job_runs(system text, payload jsonb)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_glue_job_runs'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_glue_job_runs(text, jsonb) IS
	'Ingest an AWS Glue GetJobRuns / GetJobRun response body for a glue system';

CREATE FUNCTION @extschema@.ingest_airflow_task_instances(system text, payload jsonb)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_airflow_task_instances'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_airflow_task_instances(text, jsonb) IS
	'Ingest an Airflow REST API (v1 or v2) task instance list for an airflow system';

CREATE FUNCTION @extschema@.ingest_openlineage(payload jsonb)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_openlineage'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_openlineage(jsonb) IS
	'Ingest one OpenLineage RunEvent or an array of them; the job namespace selects the system';

CREATE FUNCTION @extschema@.ingest_reports(system text, payload jsonb)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_reports'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_reports(text, jsonb) IS
	'Ingest runs reported directly: one object {job, run_id, state, ...} or an array of them';


-- The same functions for payloads as text: what a driver parameter or a literal
-- resolves to.  jsonb_in holds a tree of the whole document (about 15x its size);
-- these find the records with the JSON lexer and build one record's jsonb at a time.
CREATE FUNCTION @extschema@.ingest_glue_job_runs(system text, payload text)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_glue_job_runs'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_glue_job_runs(text, text) IS
	'Ingest an AWS Glue GetJobRuns / GetJobRun response body given as text (parsed one record at a time: for huge payloads)';
CREATE FUNCTION @extschema@.ingest_airflow_task_instances(system text, payload text)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_airflow_task_instances'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_airflow_task_instances(text, text) IS
	'Ingest an Airflow REST API task instance list given as text (parsed one record at a time)';
CREATE FUNCTION @extschema@.ingest_openlineage(payload text)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_openlineage'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_openlineage(text) IS
	'Ingest OpenLineage RunEvents given as text (parsed one event at a time)';
CREATE FUNCTION @extschema@.ingest_reports(system text, payload text)
	RETURNS @extschema@.ingest_result
	AS 'MODULE_PATHNAME', 'kant_ingest_reports'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.ingest_reports(text, text) IS
	'Ingest directly reported runs given as text';

CREATE FUNCTION @extschema@.report_run(
	system text,
	job text,
	run_id text,
	state text,
	business_date date DEFAULT NULL,
	attempt integer DEFAULT 1,
	started_at timestamptz DEFAULT NULL,
	ended_at timestamptz DEFAULT NULL,
	error_message text DEFAULT NULL,
	updated_at timestamptz DEFAULT NULL,
	details jsonb DEFAULT NULL)
	RETURNS @extschema@.ingest_result
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT * FROM @extschema@.ingest_reports(system, pg_catalog.jsonb_strip_nulls(
		pg_catalog.jsonb_build_object(
			'job', job, 'run_id', run_id, 'state', state,
			'business_date', business_date, 'attempt', attempt,
			'started_at', started_at, 'ended_at', ended_at,
			'error_message', error_message, 'updated_at', updated_at,
			'details', details)))
	$$;
COMMENT ON FUNCTION @extschema@.report_run(text, text, text, text, date, integer, timestamptz, timestamptz, text, timestamptz, jsonb) IS
	'Report one run attempt directly (Composer callbacks, scripts); named arguments, same rules as every ingestion';

REVOKE ALL ON FUNCTION @extschema@.ingest_glue_job_runs(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_airflow_task_instances(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_openlineage(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_reports(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_glue_job_runs(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_airflow_task_instances(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_openlineage(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ingest_reports(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.report_run(text, text, text, text, date, integer, timestamptz, timestamptz, text, timestamptz, jsonb) FROM PUBLIC;

---------------------------------------------------------------------------
-- Configuration
---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.add_system(
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

CREATE FUNCTION @extschema@._check_system_args(kind text, time_zone text, bd_offset_days integer)
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
	IF time_zone IS NOT NULL AND NOT @extschema@.valid_time_zone(time_zone) THEN
		RAISE EXCEPTION 'unknown time zone "%"', time_zone
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use an IANA name such as Asia/Tokyo (see pg_timezone_names).';
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

CREATE FUNCTION @extschema@.alter_system(
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
BEGIN
	PERFORM @extschema@._check_system_args(kind, time_zone, bd_offset_days);
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
	WHERE s.name = alter_system.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'system "%" does not exist', name
			USING ERRCODE = 'undefined_object',
				  HINT = 'Register it with kant.add_system().';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.alter_system(text, text, text, text, text, text, integer, time, text, text, text) IS
	'Change a system''s settings; arguments left NULL are unchanged. Business dates already stored are not re-derived.';

CREATE FUNCTION @extschema@.drop_system(name text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	runs bigint;
BEGIN
	SELECT count(*) INTO runs FROM @extschema@.job_run r
		JOIN @extschema@.job j USING (job_id)
		JOIN @extschema@.system s USING (system_id)
		WHERE s.name = drop_system.name;
	DELETE FROM @extschema@.system s WHERE s.name = drop_system.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'system "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN runs;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_system(text) IS
	'Remove a system with its jobs and runs (the ingest log is kept); returns the number of runs removed';

CREATE FUNCTION @extschema@.configure_job(
	system text,
	job text,
	pipeline text DEFAULT NULL,
	bd_argument text DEFAULT NULL,
	bd_offset_days integer DEFAULT NULL,
	bd_day_start time DEFAULT NULL,
	description text DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	jid integer;
BEGIN
	SELECT s.system_id INTO sid FROM @extschema@.system s WHERE s.name = configure_job.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object',
				  HINT = 'Register it with kant.add_system().';
	END IF;
	IF job IS NULL OR job = '' THEN
		RAISE EXCEPTION 'job name must not be empty' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@._check_system_args(NULL, NULL, bd_offset_days);
	INSERT INTO @extschema@.job AS j (system_id, name, pipeline, bd_argument, bd_offset_days,
		bd_day_start, description)
	VALUES (sid, configure_job.job, configure_job.pipeline, configure_job.bd_argument,
		configure_job.bd_offset_days, configure_job.bd_day_start, configure_job.description)
	ON CONFLICT (system_id, name) DO UPDATE SET
		pipeline = coalesce(excluded.pipeline, j.pipeline),
		bd_argument = coalesce(excluded.bd_argument, j.bd_argument),
		bd_offset_days = coalesce(excluded.bd_offset_days, j.bd_offset_days),
		bd_day_start = coalesce(excluded.bd_day_start, j.bd_day_start),
		description = coalesce(excluded.description, j.description),
		auto_registered = false
	RETURNING j.job_id INTO jid;
	RETURN jid;
END
$$;
COMMENT ON FUNCTION @extschema@.configure_job(text, text, text, text, integer, time, text) IS
	'Create or change a job: its pipeline and business-date rule (argument, offset, day start); arguments left NULL are unchanged';

REVOKE ALL ON FUNCTION @extschema@.add_system(text, text, text, text, text, text, integer, time, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.alter_system(text, text, text, text, text, text, integer, time, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drop_system(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.configure_job(text, text, text, text, integer, time, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@._check_system_args(text, text, integer) FROM PUBLIC;

---------------------------------------------------------------------------
-- Views to read it
---------------------------------------------------------------------------

CREATE VIEW @extschema@.runs AS
SELECT
	r.run_id,
	s.name AS system,
	coalesce(s.display_name, s.name) AS system_display_name,
	s.kind AS system_kind,
	j.name AS job,
	j.pipeline,
	r.external_id,
	r.attempt,
	CASE WHEN NOT EXISTS (
			SELECT FROM @extschema@.job_run n
			WHERE n.job_id = r.job_id AND n.external_id = r.external_id
			  AND n.attempt > r.attempt)
		 AND NOT EXISTS (
			SELECT FROM @extschema@.job_run n
			WHERE n.job_id = r.job_id AND n.previous_external_id = r.external_id
			  AND n.previous_external_id IS NOT NULL)
		THEN 1 ELSE 0 END AS is_current,
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

CREATE VIEW @extschema@.current_runs AS
SELECT * FROM @extschema@.runs WHERE is_current = 1;
COMMENT ON VIEW @extschema@.current_runs IS 'The latest attempt of every run: what each run''s state is now';
-- same columns, same comments as kant.runs
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT a.attname, pg_catalog.col_description(a.attrelid, a.attnum) AS d
			 FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid = '@extschema@.runs'::pg_catalog.regclass AND a.attnum > 0
	LOOP
		EXECUTE pg_catalog.format('COMMENT ON COLUMN @extschema@.current_runs.%I IS %L', c.attname, c.d);
	END LOOP;
END
$$;

CREATE VIEW @extschema@.runs_by_business_date AS
SELECT
	c.business_date,
	c.system,
	c.system_display_name,
	c.job,
	c.pipeline,
	count(*)::integer AS runs,
	sum(c.attempt)::integer AS attempts,
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
COMMENT ON COLUMN @extschema@.runs_by_business_date.attempts IS 'attempts those runs took (sum of current attempt numbers)';
COMMENT ON COLUMN @extschema@.runs_by_business_date.succeeded IS 'runs whose current attempt succeeded';
COMMENT ON COLUMN @extschema@.runs_by_business_date.failed IS 'runs whose current attempt failed, timed out or had an upstream failure';
COMMENT ON COLUMN @extschema@.runs_by_business_date.in_progress IS 'runs not finished yet';
COMMENT ON COLUMN @extschema@.runs_by_business_date.other IS 'runs cancelled or skipped';
COMMENT ON COLUMN @extschema@.runs_by_business_date.first_started_at IS 'earliest start';
COMMENT ON COLUMN @extschema@.runs_by_business_date.last_ended_at IS 'latest end';
COMMENT ON COLUMN @extschema@.runs_by_business_date.total_duration_seconds IS 'sum of the current attempts'' durations in seconds';
COMMENT ON COLUMN @extschema@.runs_by_business_date.max_duration_seconds IS 'longest current attempt in seconds';
COMMENT ON COLUMN @extschema@.runs_by_business_date.span_seconds IS 'first start to last end in seconds';
