/*
 * kant: AWS Glue Data Quality results, read by the Glue collector.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * kant.collect_glue(system), when the system's Data Quality collection is on,
 * lists the results started since the watermark below (ListDataQualityResults,
 * paged by NextToken), fetches them a hundred at a time
 * (BatchGetDataQualityResult) and hands each reply to
 * kant.ingest_glue_data_quality (src/collect_glue.c).
 */

CREATE TABLE @extschema@.glue_dq_source (
	system_id		integer PRIMARY KEY REFERENCES @extschema@.system ON DELETE CASCADE,
	enabled			boolean NOT NULL DEFAULT true,
	read_until		timestamptz,
	updated_at		timestamptz NOT NULL DEFAULT now(),
	last_read_at	timestamptz,
	last_results	integer,
	last_rejected	integer
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.glue_dq_source', '');
COMMENT ON TABLE @extschema@.glue_dq_source IS
	'Glue systems whose AWS Glue Data Quality results kant.collect_glue reads after the job runs (kant.set_glue_data_quality), and how far it has read them';
COMMENT ON COLUMN @extschema@.glue_dq_source.enabled IS 'false: the collector reads no results (the watermark is kept for when it is on again)';
COMMENT ON COLUMN @extschema@.glue_dq_source.read_until IS
	'watermark: StartedOn of the newest result ingested (not quarantined) by a collection that fetched every result it listed, but no later than that collection started; the next lists the results started after it minus the system''s overlap. NULL: every result Glue lists, as the first collection of job runs reads every run';
COMMENT ON COLUMN @extschema@.glue_dq_source.updated_at IS 'when the switch or the watermark last changed';
COMMENT ON COLUMN @extschema@.glue_dq_source.last_read_at IS 'when a collection last fetched every result it listed, or NULL';
COMMENT ON COLUMN @extschema@.glue_dq_source.last_results IS 'results that collection fetched and handed to kant.ingest_glue_data_quality';
COMMENT ON COLUMN @extschema@.glue_dq_source.last_rejected IS 'of those, results it kept in kant.rejected (e.g. of a job run kant does not hold)';

CREATE FUNCTION @extschema@.set_glue_data_quality(system text, enabled boolean DEFAULT true)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sid integer;
	k text;
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'enabled must be true or false, not NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT s.system_id, s.kind INTO sid, k FROM @extschema@.system s WHERE s.name = set_glue_data_quality.system;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'Register it with kant.add_system().';
	END IF;
	IF k <> 'glue' THEN
		RAISE EXCEPTION 'system "%" is of kind %, not glue', system, k
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Data Quality results are read from AWS Glue (ListDataQualityResults).';
	END IF;
	INSERT INTO @extschema@.glue_dq_source AS d (system_id, enabled)
	VALUES (sid, set_glue_data_quality.enabled)
	ON CONFLICT (system_id) DO UPDATE SET enabled = excluded.enabled, updated_at = now()
		WHERE d.enabled IS DISTINCT FROM excluded.enabled;
END
$$;
COMMENT ON FUNCTION @extschema@.set_glue_data_quality(text, boolean) IS
	'Switch on (or off) reading a glue system''s AWS Glue Data Quality results in kant.collect_glue: after the job runs, the results started since the last ones read (ListDataQualityResults, BatchGetDataQualityResult; the credentials need glue:ListDataQualityResults and glue:BatchGetDataQualityResult) go to kant.ingest_glue_data_quality. Switched off and on again, it goes on from where it stopped';
REVOKE ALL ON FUNCTION @extschema@.set_glue_data_quality(text, boolean) FROM PUBLIC;
