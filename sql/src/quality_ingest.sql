/*
 * kant: Data quality from the tools teams already run: dbt's
 * run_results.json, Great Expectations validation results, AWS Glue Data
 * Quality results and OpenLineage's data-quality facets, read as their
 * projects write them.
 *
 * Part of the install script sql/kant--0.6.0.sql (built from sql/src in the
 * order of SQL_SRC); change a definition here AND in the upgrade script of
 * the version being made.
 *
 * Each tool's test becomes an assertion (kant.dq_assertion: its outcome per
 * dataset and business date, judged by an assertion check), each number it
 * measured a metric (kant.dq_metric, as kant.report_metric stores it).  A
 * record of the wrong shape is kept in kant.rejected with its reason while
 * the others of the payload land.  No tool writes a business date: it comes
 * from the caller, a dbt var, a GX batch identifier, or the job run kant
 * already holds (Glue JobRunId, OpenLineage runId).
 */

/*
 * A tool's name of a dataset: an alias (kant.dataset_alias), a dataset of
 * that name, or a new dataset (UTC) when the name is one kant takes; NULL
 * otherwise.
 */
CREATE FUNCTION @extschema@._dq_resolve(name text) RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id integer;
BEGIN
	SELECT a.dataset_id INTO id FROM @extschema@.dataset_alias a WHERE a.alias = $1;
	IF id IS NULL AND $1 ~ '^[A-Za-z0-9_][A-Za-z0-9_.:/@$-]{0,199}$' THEN
		id := @extschema@._dq_dataset($1);
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_resolve(text) IS
	'internal: the dataset a tool''s name means: an alias, a dataset of that name, or a new one (UTC) if the name is one kant takes; NULL otherwise';
REVOKE ALL ON FUNCTION @extschema@._dq_resolve(text) FROM PUBLIC;

/* A metric name from a tool's: lower-case, the column in the characters a metric takes. */
CREATE FUNCTION @extschema@._dq_metric_name(name text, col text DEFAULT NULL) RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT left(lower(regexp_replace(regexp_replace($1, '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^A-Za-z0-9_]', '_', 'g')), 63)
		|| CASE WHEN $2 IS NOT NULL AND $2 <> '' THEN ':' || left(regexp_replace($2, '[^A-Za-z0-9_.$-]', '_', 'g'), 128) ELSE '' END
	$$;
COMMENT ON FUNCTION @extschema@._dq_metric_name(text, text) IS
	'internal: a kant metric name from a tool''s (RowCount -> row_count; a column after :, characters a metric name does not take as _)';
REVOKE ALL ON FUNCTION @extschema@._dq_metric_name(text, text) FROM PUBLIC;

/* The business date of a job run kant holds, by its system, job and the tool's run id. */
CREATE FUNCTION @extschema@._dq_run_date(system_id integer, job_name text, run_ref text) RETURNS date
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT r.business_date FROM @extschema@.job j
	JOIN @extschema@.job_run r ON r.job_id = j.job_id
	WHERE j.system_id = $1 AND j.name = $2
	  AND (r.external_id = $3 OR r.details ->> 'ol_run_id' = $3)
	ORDER BY r.attempt DESC LIMIT 1
	$$;
COMMENT ON FUNCTION @extschema@._dq_run_date(integer, text, text) IS
	'internal: the business date of the run a tool''s result belongs to (Glue JobRunId, OpenLineage runId), or NULL when kant does not hold it';
REVOKE ALL ON FUNCTION @extschema@._dq_run_date(integer, text, text) FROM PUBLIC;

/* An ingest_batch row for a tool's payload. */
CREATE FUNCTION @extschema@._dq_batch(source text, system_id integer, payload jsonb, received integer)
	RETURNS bigint
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
	INSERT INTO @extschema@.ingest_batch (source, system_id, received_at, received_by, received, payload_bytes,
		payload_sha256)
	VALUES ($1, $2, clock_timestamp(), pg_get_userbyid(@extschema@._outer_role()), $4,
		octet_length($3::text), sha256(convert_to($3::text, 'UTF8')))
	RETURNING batch_id
	$$;
COMMENT ON FUNCTION @extschema@._dq_batch(text, integer, jsonb, integer) IS
	'internal: record a tool''s payload in kant.ingest_batch; its id';
REVOKE ALL ON FUNCTION @extschema@._dq_batch(text, integer, jsonb, integer) FROM PUBLIC;

/*
 * Close a tool's batch: the counts, and one WARNING for what was kept in
 * kant.rejected (each record's reason is there).
 */
CREATE FUNCTION @extschema@._dq_batch_done(batch_id bigint, source text, inserted integer, updated integer,
		unchanged integer, rejected integer)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first record;
BEGIN
	UPDATE @extschema@.ingest_batch b SET finished_at = clock_timestamp(), inserted = $3, updated = $4,
		unchanged = $5, rejected = $6
	WHERE b.batch_id = $1;
	IF rejected > 0 THEN
		SELECT r.item_path, r.reason INTO first FROM @extschema@.rejected r
		WHERE r.last_batch_id = $1 ORDER BY r.item_index LIMIT 1;
		RAISE WARNING 'kant: % % record(s) rejected; the first, at %: %', rejected, source,
			coalesce(first.item_path, '?'), coalesce(first.reason, '?')
			USING DETAIL = format('Each is kept in kant.rejected with its reason (batch %s); the other records of the payload are stored.', $1);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_batch_done(bigint, text, integer, integer, integer, integer) IS
	'internal: finish a tool''s batch (counts in kant.ingest_batch) and warn once about its rejected records';
REVOKE ALL ON FUNCTION @extschema@._dq_batch_done(bigint, text, integer, integer, integer, integer) FROM PUBLIC;

/* A time a tool wrote: ISO 8601, GX's 20200430T191246.763896Z, or epoch seconds (AWS JSON). */
CREATE FUNCTION @extschema@._dq_time(v jsonb) RETURNS timestamptz
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF jsonb_typeof(v) = 'number' THEN
		RETURN to_timestamp((v #>> '{}')::double precision);
	ELSIF jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\d{8}T\d{6}(\.\d+)?Z$' THEN
		RETURN make_timestamptz(substr(v #>> '{}', 1, 4)::integer, substr(v #>> '{}', 5, 2)::integer,
			substr(v #>> '{}', 7, 2)::integer, substr(v #>> '{}', 10, 2)::integer, substr(v #>> '{}', 12, 2)::integer,
			substring(v #>> '{}' FROM '^\d{8}T\d{4}(\d\d(?:\.\d+)?)Z$')::double precision, 'UTC');
	ELSIF jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|z|[+-]\d\d(:?\d\d)?)$' THEN
		RETURN (v #>> '{}')::timestamptz;
	END IF;
	RETURN NULL;
EXCEPTION WHEN data_exception THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_time(jsonb) IS
	'internal: a time as a tool wrote it (ISO 8601 with a zone, GX''s YYYYMMDDTHHMMSS.ffffffZ, AWS epoch seconds), or NULL';
REVOKE ALL ON FUNCTION @extschema@._dq_time(jsonb) FROM PUBLIC;

/*
 * dbt: run_results.json (schemas v1 to v6, dbt 0.19 to 1.11), with the
 * manifest.json of the same invocation, which names the model a test is
 * on.  Following dbt-core's test runner (core/dbt/task/test.py): status
 * pass / fail / warn / error / skipped; failures counts failing rows for
 * fail and warn and is 0 for pass; message is the error or "Got N
 * results, configured to fail if != 0".
 */
CREATE FUNCTION @extschema@.ingest_dbt_run_results(run_results jsonb, manifest jsonb DEFAULT NULL,
		business_date date DEFAULT NULL, date_var text DEFAULT NULL,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer,
		OUT rejected integer, OUT ignored integer, OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	who text := pg_get_userbyid(@extschema@._outer_role());
	ver text := run_results #>> '{metadata,dbt_schema_version}';
	results jsonb := run_results -> 'results';
	vars jsonb := run_results #> '{args,vars}';
	bd date := business_date;
	res jsonb;
	i integer;
	uid text;
	node jsonb;
	model text;
	rel jsonb;
	did integer;
	outcome text;
	problem text;
	field text;
	at timestamptz;
	r text;
BEGIN
	inserted := 0; updated := 0; unchanged := 0; rejected := 0; ignored := 0;
	IF jsonb_typeof(run_results) IS DISTINCT FROM 'object' OR jsonb_typeof(results) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'run_results is not a dbt run_results.json: an object with "metadata" and a "results" array'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass target/run_results.json of a dbt test or dbt build, with its target/manifest.json.';
	END IF;
	received := jsonb_array_length(results);
	IF bd IS NULL AND date_var IS NOT NULL THEN
		-- dbt writes args.vars as an object (1.x) or the --vars YAML as text (older)
		bd := CASE WHEN jsonb_typeof(vars) = 'object' AND vars ->> date_var ~ '^\d{4}-\d\d-\d\d$' THEN (vars ->> date_var)::date
				   -- YAML or JSON text: {ds: 2024-01-15}, {"ds": "2024-01-15"}
				   WHEN jsonb_typeof(vars) = 'string' THEN (substring(vars #>> '{}' FROM '(?:^|[{,\s])[''"]?' || regexp_replace(date_var, '\W', '', 'g')
														|| '[''"]?\s*:\s*[''"]?(\d{4}-\d\d-\d\d)'))::date END;
	END IF;
	IF bd IS NULL OR bd NOT BETWEEN date '1970-01-01' AND date '2999-12-31' THEN
		RAISE EXCEPTION 'no business date for these dbt results%', CASE WHEN date_var IS NOT NULL
			THEN format(': args.vars has no %s in YYYY-MM-DD', date_var) ELSE '' END
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'dbt writes none: pass business_date, or date_var naming the --vars key the run was given (e.g. date_var => ''ds'').';
	END IF;
	batch_id := @extschema@._dq_batch('dbt', NULL, run_results, received);
	IF ver IS NULL OR substring(ver FROM '/dbt/run-results/v(\d+)\.json$')::integer NOT BETWEEN 1 AND 6 THEN
		-- a shape kant was not written for: kept whole, nothing guessed from it
		PERFORM @extschema@._dq_reject(batch_id, 0, 'metadata.dbt_schema_version', '22023',
			format('dbt_schema_version %s is not one kant reads (run-results v1 to v6)', coalesce(ver, 'missing')),
			'kant reads the run_results of dbt 0.19 to 1.11 (https://schemas.getdbt.com/dbt/run-results/v1.json to v6.json).',
			run_results, 'dbt', NULL, '$.metadata.dbt_schema_version');
		rejected := received;
		PERFORM @extschema@._dq_batch_done(batch_id, 'dbt', 0, 0, 0, received);
		RETURN;
	END IF;
	FOR res, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(results) WITH ORDINALITY x(e, o)
				  ORDER BY e ->> 'unique_id', o LOOP
		problem := NULL; field := ''; uid := NULL; did := NULL;
		BEGIN
		IF jsonb_typeof(res) IS DISTINCT FROM 'object' THEN
			problem := 'a result is an object';
		ELSIF jsonb_typeof(res -> 'unique_id') IS DISTINCT FROM 'string' THEN
			field := 'unique_id'; problem := 'unique_id is missing or not a string';
		ELSIF res ->> 'unique_id' !~ '^(test|unit_test)\.' THEN
			ignored := ignored + 1;		-- a model, seed or snapshot: not a test
			CONTINUE;
		ELSIF jsonb_typeof(res -> 'status') IS DISTINCT FROM 'string' THEN
			field := 'status'; problem := 'status is missing or not a string';
		ELSIF coalesce(jsonb_typeof(res -> 'failures'), 'null') NOT IN ('null', 'number')
			  OR (jsonb_typeof(res -> 'failures') = 'number' AND (res ->> 'failures')::numeric <> trunc((res ->> 'failures')::numeric)) THEN
			field := 'failures'; problem := format('failures %s is not a count of failing rows', left(res ->> 'failures', 60));
		ELSE
			uid := res ->> 'unique_id';
			outcome := CASE res ->> 'status' WHEN 'pass' THEN 'pass' WHEN 'fail' THEN 'fail' WHEN 'warn' THEN 'warn'
						   WHEN 'error' THEN 'error' WHEN 'runtime error' THEN 'error' WHEN 'skipped' THEN 'skipped' END;
			node := coalesce(manifest #> ARRAY['nodes', uid], manifest #> ARRAY['unit_tests', uid]);
			IF outcome IS NULL THEN
				field := 'status'; problem := format('status %s is not a test''s (pass, fail, warn, error, skipped)', res ->> 'status');
			ELSIF manifest IS NULL THEN
				field := 'unique_id'; problem := 'run_results does not say which model a test is on';
			ELSIF node IS NULL THEN
				field := 'unique_id'; problem := format('test %s is not in the manifest', uid);
			ELSE
				-- the model the test is declared on (dbt >= 1.5), else its last
				-- model/source/seed parent, as OpenLineage's dbt processor takes it
				model := coalesce(node ->> 'attached_node',
					(SELECT n FROM jsonb_array_elements_text(node #> '{depends_on,nodes}') WITH ORDINALITY x(n, o)
					 WHERE n ~ '^(model|source|seed|snapshot)\.' ORDER BY o DESC LIMIT 1));
				-- (depends_on.nodes of another type than a list raises: the handler below keeps the result)
				rel := coalesce(manifest #> ARRAY['nodes', model], manifest #> ARRAY['sources', model]);
				SELECT a.dataset_id INTO did FROM @extschema@.dataset_alias a WHERE a.alias = model;
				IF did IS NULL AND rel IS NOT NULL THEN
					did := @extschema@._dq_resolve(concat_ws('.', rel ->> 'database', rel ->> 'schema',
						coalesce(rel ->> 'identifier', rel ->> 'alias', rel ->> 'name')));
				END IF;
				IF did IS NULL THEN
					field := 'unique_id';
					problem := format('the model of test %s (%s) names no dataset', uid, coalesce(model, 'none in the manifest'));
				END IF;
			END IF;
		END IF;
		IF problem IS NOT NULL THEN
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, field, '22023', problem,
				'A dbt result: {"unique_id": "test.…", "status": pass|fail|warn|error|skipped, "failures": n}, its test in manifest.nodes; a model named by kant.add_dataset(aliases => ARRAY[''model.pkg.name''] or its database.schema.alias).',
				res, 'dbt', NULL, format('$.results[%s]', i) || CASE WHEN field <> '' THEN '.' || field ELSE '' END);
			CONTINUE;
		END IF;
		at := least(clock_timestamp(), coalesce((SELECT @extschema@._dq_time(t -> 'completed_at') FROM jsonb_array_elements(
							CASE jsonb_typeof(res -> 'timing') WHEN 'array' THEN res -> 'timing' ELSE '[]' END) t
						WHERE t ->> 'name' = 'execute' LIMIT 1),
					   @extschema@._dq_time(run_results #> '{metadata,generated_at}'), clock_timestamp()));
		r := @extschema@._dq_assert(did, bd, 'dbt', uid, outcome,
			CASE WHEN upper(node #>> '{config,severity}') = 'WARN' THEN 'warning' ELSE 'critical' END,
			(res ->> 'failures')::numeric,
			CASE WHEN node #>> '{config,error_if}' IS NOT NULL
				 THEN format('fail if failures %s, warn if %s', node #>> '{config,error_if}', coalesce(node #>> '{config,warn_if}', '-')) END,
			concat_ws(': ', coalesce(node #>> '{test_metadata,name}', 'singular test') ||
						  coalesce(' on ' || (node ->> 'column_name'), ''), res ->> 'message'),
			at, run_results #>> '{metadata,invocation_id}', who, batch_id);
		CASE r WHEN 'inserted' THEN inserted := inserted + 1; WHEN 'updated' THEN updated := updated + 1;
			   ELSE unchanged := unchanged + 1; END CASE;
		EXCEPTION WHEN data_exception OR invalid_parameter_value OR program_limit_exceeded THEN
			-- a manifest or result of another shape than the checks above catch
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, '', SQLSTATE, SQLERRM,
				'A dbt result and its manifest node as dbt writes them (schemas.getdbt.com).',
				res, 'dbt', NULL, format('$.results[%s]', i));
		END;
	END LOOP;
	PERFORM @extschema@._dq_batch_done(batch_id, 'dbt', inserted, updated, unchanged, rejected);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_dbt_run_results(jsonb, jsonb, date, text) IS
	'Ingest dbt''s target/run_results.json (schemas v1 to v6: dbt 0.19 to 1.11) for a business date (business_date, or date_var: the --vars key holding it), with the manifest.json of the same invocation: each test''s status (pass, fail, warn, error, skipped) and failures become an assertion of the model it tests (the dataset aliased to the model''s unique_id, else named database.schema.alias), judged by an assertion check made on first sight (severity from the test''s config). Models are ignored; a result of another shape is kept in kant.rejected (source dbt). Returns the counts and the batch. 22023 when the business date is missing or the payload is not run_results';
REVOKE ALL ON FUNCTION @extschema@.ingest_dbt_run_results(jsonb, jsonb, date, text) FROM PUBLIC;

/*
 * Great Expectations: an ExpectationSuiteValidationResult (0.x: meta's
 * expectation_suite_name, expectation_config.expectation_type; 1.x:
 * suite_name, expectation_config.type), a list of them, or a checkpoint
 * result whose run_results hold them (0.x: under validation_result).
 */
CREATE FUNCTION @extschema@.ingest_great_expectations(result jsonb, business_date date DEFAULT NULL,
		dataset text DEFAULT NULL, date_key text DEFAULT NULL,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer,
		OUT rejected integer, OUT ignored integer, OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	repeated text[];
	who text := pg_get_userbyid(@extschema@._outer_role());
	suites jsonb;
	suite jsonb;
	s integer;
	meta jsonb;
	evr jsonb;
	i integer;
	did integer;
	bd date;
	dname text;
	kind text;
	col text;
	name text;
	outcome text;
	observed numeric;
	at timestamptz;
	ref text;
	r text;
	problem text;
	rows_metric numeric;
	ok_counts boolean;
	suite_name text;
BEGIN
	inserted := 0; updated := 0; unchanged := 0; rejected := 0; ignored := 0; received := 0;
	suites := CASE WHEN jsonb_typeof(result) = 'array' THEN result
				   WHEN jsonb_typeof(result -> 'run_results') = 'object' THEN
						(SELECT coalesce(jsonb_agg(coalesce(v -> 'validation_result', v) ORDER BY k), '[]')
						 FROM jsonb_each(result -> 'run_results') x(k, v))
				   WHEN jsonb_typeof(result -> 'results') = 'array' THEN jsonb_build_array(result) END;
	IF suites IS NULL THEN
		RAISE EXCEPTION 'result is not a Great Expectations validation result'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass an ExpectationSuiteValidationResult ({"success", "results": [...], "meta"}), a list of them, or a checkpoint result (run_results).';
	END IF;
	batch_id := @extschema@._dq_batch('great_expectations', NULL, result, 0);
	-- suites in one order too (by name), so two payloads never deadlock
	FOR suite, s IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(suites) WITH ORDINALITY x(e, o)
					ORDER BY coalesce(e ->> 'suite_name', e #>> '{meta,expectation_suite_name}'), o LOOP
		meta := CASE jsonb_typeof(suite -> 'meta') WHEN 'object' THEN suite -> 'meta' ELSE '{}' END;
		problem := NULL; did := NULL; bd := NULL;
		dname := coalesce(dataset, meta #>> '{active_batch_definition,data_asset_name}',
			CASE WHEN meta #>> '{batch_spec,table_name}' IS NOT NULL
				 THEN concat_ws('.', meta #>> '{batch_spec,schema_name}', meta #>> '{batch_spec,table_name}') END,
			meta #>> '{batch_kwargs,table}', meta #>> '{batch_kwargs,data_asset_name}', meta ->> 'data_asset_name');
		BEGIN
			bd := coalesce(business_date, CASE WHEN date_key IS NOT NULL THEN
				substring(coalesce(meta #>> ARRAY['active_batch_definition', 'batch_identifiers', date_key],
								   meta #>> ARRAY['batch_parameters', date_key], meta #>> ARRAY['batch_kwargs', date_key])
						  FROM '^(\d{4}-\d\d-\d\d)')::date END);
		EXCEPTION WHEN data_exception THEN
			bd := NULL;		-- 2026-02-30: said below as no business date
		END;
		IF jsonb_typeof(suite -> 'results') IS DISTINCT FROM 'array' THEN
			problem := 'a validation result has a "results" array';
		ELSIF dname IS NULL THEN
			problem := 'the validation result names no data asset';
		ELSIF bd IS NULL OR bd NOT BETWEEN date '1970-01-01' AND date '2999-12-31' THEN
			problem := CASE WHEN date_key IS NULL THEN 'no business date: pass business_date or date_key'
							ELSE format('the batch has no %s in YYYY-MM-DD', date_key) END;
		ELSE
			did := @extschema@._dq_resolve(dname);
			IF did IS NULL THEN
				problem := format('data asset %s names no dataset', dname);
			END IF;
		END IF;
		IF problem IS NOT NULL THEN
			received := received + 1; rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, s, '', '22023', problem,
				'Give dataset => (or an alias of the data asset: kant.add_dataset(aliases =>)) and business_date => or date_key => (a batch identifier).',
				suite, 'great_expectations', NULL, format('$[%s]', s));
			CONTINUE;
		END IF;
		-- 0.x may write run_id as its time, 20200322T170247.671855Z
		at := least(clock_timestamp(), coalesce(@extschema@._dq_time(meta -> 'validation_time'),
			@extschema@._dq_time(meta #> '{run_id,run_time}'), @extschema@._dq_time(meta -> 'run_id'), clock_timestamp()));
		suite_name := coalesce(suite ->> 'suite_name', meta ->> 'expectation_suite_name');
		ref := coalesce(meta ->> 'validation_id', meta #>> '{run_id,run_name}',
						CASE jsonb_typeof(meta -> 'run_id') WHEN 'string' THEN meta ->> 'run_id' END);
		rows_metric := NULL;
		-- type:column that the suite holds more than once, counted once per suite
		repeated := ARRAY(
			SELECT t || coalesce(':' || c, '') FROM jsonb_array_elements(suite -> 'results') y,
				LATERAL (SELECT coalesce(y #>> '{expectation_config,type}', y #>> '{expectation_config,expectation_type}') AS t,
								CASE jsonb_typeof(y #> '{expectation_config,kwargs}') WHEN 'object'
									 THEN y #>> '{expectation_config,kwargs,column}' END AS c) z
			WHERE t IS NOT NULL GROUP BY t, c HAVING count(*) > 1);
		-- stored in one order (type, column), whatever the payload's: two payloads
		-- with the same expectations in opposite orders wait, never deadlock
		FOR evr, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(suite -> 'results') WITH ORDINALITY x(e, o)
					  ORDER BY coalesce(e #>> '{expectation_config,type}', e #>> '{expectation_config,expectation_type}'),
							   e #>> '{expectation_config,kwargs,column}', o LOOP
			received := received + 1;
			BEGIN
			kind := coalesce(evr #>> '{expectation_config,type}', evr #>> '{expectation_config,expectation_type}');
			IF jsonb_typeof(evr) IS DISTINCT FROM 'object' OR kind IS NULL
			   OR jsonb_typeof(evr -> 'success') IS DISTINCT FROM 'boolean' THEN
				rejected := rejected + 1;
				PERFORM @extschema@._dq_reject(batch_id, i, 'expectation_config', '22023',
					'an expectation result has success (true or false) and expectation_config with its type',
					'GX writes {"success", "expectation_config": {"type" (1.x) or "expectation_type" (0.x), "kwargs"}, "result", "exception_info"}.',
					evr, 'great_expectations', NULL, format('$[%s].results[%s]', s, i));
				CONTINUE;
			END IF;
			col := CASE jsonb_typeof(evr #> '{expectation_config,kwargs}') WHEN 'object'
						THEN evr #>> '{expectation_config,kwargs,column}' END;
			-- two suites may test the same column: the suite is part of the name
			name := coalesce(suite_name || '/', '') || kind || coalesce(':' || col, '');
			-- the same expectation twice with other kwargs: each named by its kwargs,
			-- whatever the order they come in
			IF kind || coalesce(':' || col, '') = ANY (repeated) THEN
				name := name || '#' || left(md5(coalesce(evr #>> '{expectation_config,kwargs}', '')), 8);
			END IF;
			outcome := CASE WHEN evr #> '{exception_info,raised_exception}' = 'true' THEN 'error'
							WHEN (evr ->> 'success')::boolean THEN 'pass' ELSE 'fail' END;
			observed := CASE WHEN jsonb_typeof(evr #> '{result,unexpected_count}') = 'number' THEN (evr #>> '{result,unexpected_count}')::numeric
							 WHEN jsonb_typeof(evr #> '{result,observed_value}') = 'number' THEN (evr #>> '{result,observed_value}')::numeric END;
			r := @extschema@._dq_assert(did, bd, 'great_expectations', name, outcome,
				CASE lower(evr #>> '{expectation_config,severity}') WHEN 'warning' THEN 'warning' WHEN 'info' THEN 'warning' ELSE 'critical' END,
				CASE WHEN abs(observed) < 1e30 THEN observed END,
				left((CASE jsonb_typeof(evr #> '{expectation_config,kwargs}') WHEN 'object'
						  THEN (evr #> '{expectation_config,kwargs}') - 'column' - 'batch_id' - 'result_format'
						  ELSE evr #> '{expectation_config,kwargs}' END)::text, 2000),
				CASE WHEN outcome = 'error' THEN evr #>> '{exception_info,exception_message}'
					 WHEN evr #> '{result,unexpected_percent}' IS NOT NULL
					 THEN format('%s%% unexpected', evr #>> '{result,unexpected_percent}') END,
				at, ref, who, batch_id);
			CASE r WHEN 'inserted' THEN inserted := inserted + 1; WHEN 'updated' THEN updated := updated + 1;
				   ELSE unchanged := unchanged + 1; END CASE;
			-- the numbers GX measured, as metrics: rows, nulls
			ok_counts := outcome <> 'error';
			IF ok_counts AND kind IN ('expect_table_row_count_to_be_between', 'expect_table_row_count_to_equal')
			   AND jsonb_typeof(evr #> '{result,observed_value}') = 'number' THEN
				rows_metric := (evr #>> '{result,observed_value}')::numeric;
			ELSIF ok_counts AND kind = 'expect_table_row_count_to_equal_other_table'
				  AND jsonb_typeof(evr #> '{result,observed_value,self}') = 'number' THEN
				rows_metric := (evr #>> '{result,observed_value,self}')::numeric;
			ELSIF ok_counts AND rows_metric IS NULL AND jsonb_typeof(evr #> '{result,element_count}') = 'number' THEN
				rows_metric := (evr #>> '{result,element_count}')::numeric;
			END IF;
			IF ok_counts AND kind = 'expect_column_values_to_not_be_null' AND col IS NOT NULL
			   AND jsonb_typeof(evr #> '{result,unexpected_count}') = 'number'
			   AND (@extschema@._dq_problem('x', bd, @extschema@._dq_metric_name('null_count', col),
											(evr #>> '{result,unexpected_count}')::numeric, NULL, at)).problem IS NULL THEN
				PERFORM @extschema@._dq_store(did, bd, @extschema@._dq_metric_name('null_count', col),
					(evr #>> '{result,unexpected_count}')::numeric, NULL, at, 'great_expectations', who, batch_id);
			END IF;
			EXCEPTION WHEN data_exception OR invalid_parameter_value OR program_limit_exceeded THEN
				-- a record of another shape than the checks above catch: kept, the others go on
				rejected := rejected + 1;
				PERFORM @extschema@._dq_reject(batch_id, i, 'results', SQLSTATE, SQLERRM,
					'GX writes {"success", "expectation_config": {"type", "kwargs": {...}}, "result": {...}, "exception_info": {"raised_exception": bool}}.',
					evr, 'great_expectations', NULL, format('$[%s].results[%s]', s, i));
			END;
		END LOOP;
		IF (@extschema@._dq_problem('x', bd, 'row_count', rows_metric, NULL, at)).problem IS NULL THEN
			PERFORM @extschema@._dq_store(did, bd, 'row_count', rows_metric, NULL, at, 'great_expectations', who, batch_id);
		END IF;
	END LOOP;
	UPDATE @extschema@.ingest_batch b SET received = ingest_great_expectations.received
	WHERE b.batch_id = ingest_great_expectations.batch_id;
	PERFORM @extschema@._dq_batch_done(batch_id, 'great_expectations', inserted, updated, unchanged, rejected);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_great_expectations(jsonb, date, text, text) IS
	'Ingest Great Expectations validation results (0.x or 1.x: a suite validation result, a list, or a checkpoint result) for a business date (business_date, or date_key: the batch identifier or parameter holding it) and a dataset (dataset, else the data asset''s name or an alias of it): each expectation''s success becomes an assertion (<suite>/<expectation type>:<column>; an exception is error), judged by an assertion check made on first sight; row counts (table row-count expectations, element_count) and not-null unexpected counts become the metrics row_count and null_count:<column>. A result of another shape is kept in kant.rejected (source great_expectations). Returns the counts and the batch; 22023 when the payload is not a validation result';
REVOKE ALL ON FUNCTION @extschema@.ingest_great_expectations(jsonb, date, text, text) FROM PUBLIC;

/*
 * AWS Glue Data Quality: GetDataQualityResult's reply, BatchGetDataQualityResult's
 * ({"Results", "ResultsNotFound"}) or a list of results, as botocore's Glue
 * model (2017-03-31) shapes them: RuleResults with Result PASS / FAIL /
 * ERROR and EvaluatedMetrics named as DQDL reports them (Dataset.*.RowCount,
 * Column.<column>.Completeness, ...); times are epoch seconds.
 */
CREATE FUNCTION @extschema@.ingest_glue_data_quality(system text, payload jsonb,
		OUT received integer, OUT inserted integer, OUT updated integer, OUT unchanged integer,
		OUT rejected integer, OUT ignored integer, OUT batch_id bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	who text := pg_get_userbyid(@extschema@._outer_role());
	sid integer;
	results jsonb;
	res jsonb;
	i integer;
	rule jsonb;
	did integer;
	bd date;
	dname text;
	problem text;
	field text;
	at timestamptz;
	m record;
	metric text;
	rows_v numeric;
	r text;
	name text;
BEGIN
	SELECT s.system_id INTO sid FROM @extschema@.system s WHERE s.name = ingest_glue_data_quality.system;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'system "%" does not exist', system
			USING ERRCODE = 'undefined_object', HINT = 'The Glue system whose job runs the results belong to (kant.add_system).';
	END IF;
	results := CASE WHEN jsonb_typeof(payload) = 'array' THEN payload
					WHEN jsonb_typeof(payload -> 'Results') = 'array' THEN payload -> 'Results'
					WHEN jsonb_typeof(payload) = 'object' AND payload ? 'ResultId' THEN jsonb_build_array(payload) END;
	IF results IS NULL THEN
		RAISE EXCEPTION 'payload is not a Glue Data Quality result'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the reply of GetDataQualityResult, of BatchGetDataQualityResult ({"Results": [...]}) or a list of results.';
	END IF;
	inserted := 0; updated := 0; unchanged := 0; rejected := 0; ignored := 0;
	received := jsonb_array_length(results);
	batch_id := @extschema@._dq_batch('glue_data_quality', sid, payload, received);
	FOR res, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(results) WITH ORDINALITY x(e, o)
				  ORDER BY e ->> 'ResultId', o LOOP
		problem := NULL; field := ''; did := NULL; bd := NULL; dname := NULL;
		IF jsonb_typeof(res) IS DISTINCT FROM 'object' THEN
			problem := 'a result is an object';
		ELSIF jsonb_typeof(res -> 'ResultId') IS DISTINCT FROM 'string' THEN
			field := 'ResultId'; problem := 'ResultId is missing or not a string';
		ELSIF jsonb_typeof(res -> 'RuleResults') IS DISTINCT FROM 'array' THEN
			field := 'RuleResults'; problem := 'RuleResults is missing or not a list';
		ELSIF EXISTS (SELECT FROM jsonb_array_elements(res -> 'RuleResults') x
					  WHERE jsonb_typeof(x) <> 'object' OR jsonb_typeof(x -> 'Name') IS DISTINCT FROM 'string'
						 OR coalesce(x ->> 'Result', '') NOT IN ('PASS', 'FAIL', 'ERROR')
						 OR coalesce(jsonb_typeof(x -> 'EvaluatedMetrics'), 'object') <> 'object'
						 -- a metric is a NullableDouble: a number, null, or NaN / Infinity as AWS JSON writes them
						 OR EXISTS (SELECT FROM jsonb_each(CASE jsonb_typeof(x -> 'EvaluatedMetrics') WHEN 'object'
														   THEN x -> 'EvaluatedMetrics' ELSE '{}' END) v
									WHERE jsonb_typeof(v.value) NOT IN ('number', 'null')
									  AND v.value #>> '{}' NOT IN ('NaN', 'Infinity', '-Infinity'))) THEN
			field := 'RuleResults'; problem := 'a rule result needs Name, Result (PASS, FAIL or ERROR) and EvaluatedMetrics of numbers';
		ELSE
			dname := CASE WHEN res #>> '{DataSource,GlueTable,TableName}' IS NOT NULL
							THEN concat_ws('.', res #>> '{DataSource,GlueTable,DatabaseName}', res #>> '{DataSource,GlueTable,TableName}')
						  WHEN res #>> '{DataSource,DataQualityGlueTable,TableName}' IS NOT NULL
							THEN concat_ws('.', res #>> '{DataSource,DataQualityGlueTable,DatabaseName}', res #>> '{DataSource,DataQualityGlueTable,TableName}')
						  WHEN res ->> 'JobName' IS NOT NULL
							THEN concat_ws('/', res ->> 'JobName', res ->> 'EvaluationContext') END;
			did := @extschema@._dq_resolve(dname);
			bd := @extschema@._dq_run_date(sid, res ->> 'JobName', res ->> 'JobRunId');
			IF did IS NULL THEN
				field := 'DataSource';
				problem := format('the result''s table %s names no dataset', coalesce(dname, '(none: no DataSource and no JobName)'));
			ELSIF bd IS NULL THEN
				field := 'JobRunId';
				problem := format('job run %s of %s is not one kant holds, so the business date is not known',
					coalesce(res ->> 'JobRunId', '(none)'), coalesce(res ->> 'JobName', '(no job)'));
			END IF;
		END IF;
		IF problem IS NOT NULL THEN
			rejected := rejected + 1;
			PERFORM @extschema@._dq_reject(batch_id, i, field, '22023', problem,
				CASE field WHEN 'JobRunId' THEN 'Collect the job''s runs first; a ruleset run outside a job has no business date kant can tell.'
						   WHEN 'DataSource' THEN 'Name the dataset with kant.add_dataset(..., aliases => ARRAY[''<database>.<table>'']).'
						   ELSE 'A Glue DataQualityResult: ResultId, RuleResults [{Name, Result, EvaluatedMetrics}], JobName, JobRunId.' END,
				res, 'glue_data_quality', sid, format('$[%s]', i) || CASE WHEN field <> '' THEN '.' || field ELSE '' END);
			CONTINUE;
		END IF;
		at := least(clock_timestamp(), coalesce(@extschema@._dq_time(res -> 'CompletedOn'), @extschema@._dq_time(res -> 'StartedOn'),
					clock_timestamp()));
		rows_v := NULL;
		FOR rule IN SELECT x FROM jsonb_array_elements(res -> 'RuleResults') x ORDER BY x ->> 'Name' LOOP
			name := concat_ws('/', res ->> 'RulesetName', rule ->> 'Name');
			r := @extschema@._dq_assert(did, bd, 'glue_data_quality', name,
				lower(rule ->> 'Result'), 'critical',
				CASE WHEN (SELECT count(*) FROM jsonb_object_keys(coalesce(rule -> 'EvaluatedMetrics', '{}'))) = 1
					 THEN (SELECT v::text::numeric FROM jsonb_each(rule -> 'EvaluatedMetrics') x(k, v)
						   WHERE jsonb_typeof(v) = 'number' AND abs(v::text::numeric) < 1e30) END,
				coalesce(rule ->> 'EvaluatedRule', rule ->> 'Description'),
				concat_ws(': ', rule ->> 'Description', rule ->> 'EvaluationMessage'),
				at, res ->> 'ResultId', who, batch_id);
			CASE r WHEN 'inserted' THEN inserted := inserted + 1; WHEN 'updated' THEN updated := updated + 1;
				   ELSE unchanged := unchanged + 1; END CASE;
		END LOOP;
		-- the numbers Glue measured: Dataset.*.RowCount -> row_count,
		-- Column.<c>.<Type> -> <type>:<c>; nulls from Completeness and RowCount
		FOR m IN SELECT DISTINCT ON (k) k, v::text::numeric AS v
				 FROM jsonb_array_elements(res -> 'RuleResults') x, jsonb_each(coalesce(x -> 'EvaluatedMetrics', '{}')) e(k, v)
				 WHERE jsonb_typeof(v) = 'number'
				 ORDER BY k LOOP
			metric := CASE WHEN m.k ~ '^Dataset\.\*\.' THEN @extschema@._dq_metric_name(substring(m.k FROM '^Dataset\.\*\.(.+)$'))
						   -- Column.<c>.<Type>, where a type may be two words (ColumnValues.Compliance)
						   -- and a column may hold dots
						   WHEN m.k ~ '^(Column|Multicolumn)\..+\.[A-Za-z]+$'
							 THEN @extschema@._dq_metric_name(
								replace(substring(m.k FROM '^(?:Column|Multicolumn)\..+?\.([A-Za-z]+\.Compliance|[A-Za-z]+)$'), '.', '_'),
								substring(m.k FROM '^(?:Column|Multicolumn)\.(.+?)\.(?:[A-Za-z]+\.Compliance|[A-Za-z]+)$')) END;
			IF metric IS NOT NULL AND @extschema@._dq_metric_ok(metric) AND abs(m.v) < 1e30
			   AND (@extschema@._dq_problem('x', bd, metric, m.v, NULL, at)).problem IS NULL THEN
				PERFORM @extschema@._dq_store(did, bd, metric, m.v, NULL, at, 'glue_data_quality', who, batch_id);
				IF metric = 'row_count' THEN rows_v := m.v; END IF;
			END IF;
		END LOOP;
		IF rows_v IS NOT NULL THEN
			FOR m IN SELECT substring(k FROM '^Column\.(.+)\.Completeness$') AS c, v::text::numeric AS v
					 FROM jsonb_array_elements(res -> 'RuleResults') x, jsonb_each(coalesce(x -> 'EvaluatedMetrics', '{}')) e(k, v)
					 WHERE k ~ '^Column\..+\.Completeness$' AND jsonb_typeof(v) = 'number'
					   AND v::text::numeric BETWEEN 0 AND 1 LOOP
				PERFORM @extschema@._dq_store(did, bd, @extschema@._dq_metric_name('null_count', m.c),
					round((1 - m.v) * rows_v), NULL, at, 'glue_data_quality', who, batch_id);
			END LOOP;
		END IF;
	END LOOP;
	PERFORM @extschema@._dq_batch_done(batch_id, 'glue_data_quality', inserted, updated, unchanged, rejected);
END
$$;
COMMENT ON FUNCTION @extschema@.ingest_glue_data_quality(text, jsonb) IS
	'Ingest AWS Glue Data Quality results of a Glue system (the reply of GetDataQualityResult or BatchGetDataQualityResult, or a list of results; the Glue collector calls it): each rule''s Result (PASS, FAIL, ERROR) becomes an assertion (<ruleset>/<rule>) on the dataset of the result''s table (an alias <database>.<table>, else that name; without a DataSource <job>/<evaluation context>), for the business date of the job run (JobRunId) kant holds; EvaluatedMetrics become metrics (Dataset.*.RowCount -> row_count, Column.<c>.Completeness -> completeness:<c>, and null_count:<c> from both). A result of another shape, or of a run kant does not hold, is kept in kant.rejected (source glue_data_quality). Returns the counts and the batch; 42704 for an unknown system, 22023 when the payload holds no results';
REVOKE ALL ON FUNCTION @extschema@.ingest_glue_data_quality(text, jsonb) FROM PUBLIC;

/*
 * OpenLineage: the data-quality facets of RunEvents kant ingests
 * (kant.ingest_openlineage calls this after storing the runs), per the
 * spec's facets: dataQualityMetrics (1-0-3; inputFacets, or facets for the
 * dataset-facet variant), dataQualityAssertions (1-1-0; both places: dbt's
 * integration writes both) and outputStatistics (1-0-2, outputFacets).  The
 * business date is that of the event's run in kant.
 */
CREATE FUNCTION @extschema@._dq_openlineage(payload jsonb, batch_id bigint)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	who text := pg_get_userbyid(@extschema@._outer_role());
	ev jsonb;
	i integer;
	ds jsonb;
	side text;
	f jsonb;
	fpath text;
	sid integer;
	bd date;
	did integer;
	dname text;
	at timestamptz;
	problem text;
	kept integer := 0;
	rejected integer := 0;
	c record;
	a jsonb;
	name text;
BEGIN
	FOR ev, i IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(CASE jsonb_typeof(payload) WHEN 'array' THEN payload
																		  ELSE jsonb_build_array(payload) END)
				 WITH ORDINALITY x(e, o) LOOP
		CONTINUE WHEN jsonb_typeof(ev) <> 'object';
		-- only events that carry one of the facets
		CONTINUE WHEN NOT jsonb_path_exists(ev, '$.inputs[*] ? (exists(@.inputFacets.dataQualityMetrics) || exists(@.facets.dataQualityMetrics) || exists(@.inputFacets.dataQualityAssertions) || exists(@.facets.dataQualityAssertions))')
				  AND NOT jsonb_path_exists(ev, '$.outputs[*] ? (exists(@.outputFacets.outputStatistics))');
		SELECT s.system_id INTO sid FROM @extschema@.system s
		WHERE s.ol_namespace = ev #>> '{job,namespace}' OR (s.ol_namespace IS NULL AND s.name = ev #>> '{job,namespace}')
		ORDER BY s.ol_namespace IS NULL LIMIT 1;
		bd := @extschema@._dq_run_date(sid, ev #>> '{job,name}', ev #>> '{run,runId}');
		at := least(clock_timestamp(), coalesce(@extschema@._dq_time(ev -> 'eventTime'), clock_timestamp()));
		FOR ds, side, fpath IN
			SELECT d, 'inputs', format('$[%s].inputs[%s]', i, o - 1) FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'inputs') WHEN 'array' THEN ev -> 'inputs' ELSE '[]' END) WITH ORDINALITY x(d, o)
			UNION ALL
			SELECT d, 'outputs', format('$[%s].outputs[%s]', i, o - 1) FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'outputs') WHEN 'array' THEN ev -> 'outputs' ELSE '[]' END) WITH ORDINALITY x(d, o) LOOP
			CONTINUE WHEN side = 'inputs' AND coalesce(ds #> '{inputFacets,dataQualityMetrics}', ds #> '{facets,dataQualityMetrics}',
													   ds #> '{inputFacets,dataQualityAssertions}', ds #> '{facets,dataQualityAssertions}') IS NULL;
			CONTINUE WHEN side = 'outputs' AND ds #> '{outputFacets,outputStatistics}' IS NULL;
			problem := NULL;
			dname := concat_ws('/', ds ->> 'namespace', ds ->> 'name');
			-- namespace/name names the dataset exactly; the bare name is the fallback
			did := CASE WHEN ds ->> 'name' IS NOT NULL THEN coalesce(
				(SELECT x.dataset_id FROM @extschema@.dataset_alias x WHERE x.alias = dname),
				(SELECT x.dataset_id FROM @extschema@.dataset_alias x WHERE x.alias = ds ->> 'name'),
				@extschema@._dq_resolve(dname)) END;
			IF did IS NULL THEN
				problem := format('dataset %s names no kant dataset', coalesce(dname, '(no name)'));
			ELSIF bd IS NULL THEN
				problem := format('the run %s of job %s is not one kant holds, so the business date is not known',
					coalesce(ev #>> '{run,runId}', '?'), coalesce(ev #>> '{job,name}', '?'));
			END IF;
			BEGIN
				IF problem IS NULL AND side = 'outputs' THEN
					f := ds #> '{outputFacets,outputStatistics}';
					FOR c IN SELECT k, m FROM (VALUES ('rowCount', 'row_count'), ('size', 'bytes'), ('fileCount', 'file_count')) v(k, m)
							 WHERE f ? k LOOP
						IF jsonb_typeof(f -> c.k) <> 'number'
						   OR (@extschema@._dq_problem('x', bd, c.m, (f ->> c.k)::numeric, NULL, at)).problem IS NOT NULL THEN
							problem := format('outputStatistics.%s is not a count', c.k);
							EXIT;
						END IF;
						PERFORM @extschema@._dq_store(did, bd, c.m, (f ->> c.k)::numeric, NULL, at, 'openlineage', who, batch_id);
						kept := kept + 1;
					END LOOP;
				ELSIF problem IS NULL THEN
					f := coalesce(ds #> '{inputFacets,dataQualityMetrics}', ds #> '{facets,dataQualityMetrics}');
					IF f IS NOT NULL AND (jsonb_typeof(f) <> 'object' OR coalesce(jsonb_typeof(f -> 'columnMetrics'), 'object') <> 'object') THEN
						problem := 'dataQualityMetrics is an object with columnMetrics an object';
					ELSIF f IS NOT NULL THEN
						FOR c IN SELECT k, m FROM (VALUES ('rowCount', 'row_count'), ('bytes', 'bytes'), ('fileCount', 'file_count')) v(k, m)
								 WHERE f ? k LOOP
							IF jsonb_typeof(f -> c.k) <> 'number'
							   OR (@extschema@._dq_problem('x', bd, c.m, (f ->> c.k)::numeric, NULL, at)).problem IS NOT NULL THEN
								problem := format('dataQualityMetrics.%s is not a count', c.k);
								EXIT;
							END IF;
							PERFORM @extschema@._dq_store(did, bd, c.m, (f ->> c.k)::numeric, NULL, at, 'openlineage', who, batch_id);
							kept := kept + 1;
						END LOOP;
						IF problem IS NULL AND f ? 'lastUpdated' THEN
							IF @extschema@._dq_time(f -> 'lastUpdated') IS NULL THEN
								problem := 'dataQualityMetrics.lastUpdated is not a date-time';
							ELSE
								PERFORM @extschema@._dq_store(did, bd, 'max_timestamp', NULL, @extschema@._dq_time(f -> 'lastUpdated'),
									at, 'openlineage', who, batch_id);
								kept := kept + 1;
							END IF;
						END IF;
						-- per column: nullCount, distinctCount, sum, count, min, max
						FOR c IN SELECT col, k, v FROM jsonb_each(coalesce(f -> 'columnMetrics', '{}')) x(col, cm),
									 jsonb_each(CASE jsonb_typeof(cm) WHEN 'object' THEN cm ELSE '{}' END) y(k, v)
								 WHERE k IN ('nullCount', 'distinctCount', 'sum', 'count', 'min', 'max') LOOP
							EXIT WHEN problem IS NOT NULL;
							IF jsonb_typeof(c.v) <> 'number' THEN
								problem := format('dataQualityMetrics.columnMetrics.%s.%s is not a number', c.col, c.k);
							ELSIF (@extschema@._dq_problem('x', bd, @extschema@._dq_metric_name(c.k, c.col),
															(c.v #>> '{}')::numeric, NULL, at)).problem IS NOT NULL THEN
								-- a statistic kant cannot hold (1e-15, a negative count): left out,
								-- the dataset's other metrics and assertions still land
								RAISE NOTICE 'kant: dataQualityMetrics.columnMetrics.%.% = % left out: it is not a value kant takes for %',
									c.col, c.k, c.v, @extschema@._dq_metric_name(c.k, c.col);
							ELSE
								PERFORM @extschema@._dq_store(did, bd, @extschema@._dq_metric_name(c.k, c.col),
									(c.v #>> '{}')::numeric, NULL, at, 'openlineage', who, batch_id);
								kept := kept + 1;
							END IF;
						END LOOP;
					END IF;
					f := coalesce(ds #> '{inputFacets,dataQualityAssertions}', ds #> '{facets,dataQualityAssertions}');
					IF problem IS NULL AND f IS NOT NULL THEN
						IF jsonb_typeof(f -> 'assertions') IS DISTINCT FROM 'array'
						   OR EXISTS (SELECT FROM jsonb_array_elements(f -> 'assertions') x
									  WHERE jsonb_typeof(x -> 'assertion') IS DISTINCT FROM 'string'
										 OR jsonb_typeof(x -> 'success') IS DISTINCT FROM 'boolean') THEN
							problem := 'dataQualityAssertions.assertions is a list of {assertion, success}';
						ELSE
							-- one outcome per name, in one order: a repeated name (older producers
							-- send no name) keeps its worst outcome, so a pass never hides a fail
							FOR a IN SELECT DISTINCT ON (nm) x || jsonb_build_object('_name', nm)
									 FROM jsonb_array_elements(f -> 'assertions') x,
										  LATERAL (SELECT left(coalesce(x ->> 'name', (x ->> 'assertion') || coalesce(':' || (x ->> 'column'), '')), 1000) AS nm) n
									 ORDER BY nm, (x ->> 'success')::boolean, x ->> 'severity' = 'warn' LOOP
								name := a ->> '_name';
								PERFORM @extschema@._dq_assert(did, bd, 'openlineage', name,
									-- success means no issue found, whatever the severity (the spec)
									CASE WHEN (a ->> 'success')::boolean THEN 'pass'
										 WHEN a ->> 'severity' = 'warn' THEN 'warn' ELSE 'fail' END,
									CASE WHEN a ->> 'severity' = 'warn' THEN 'warning' ELSE 'critical' END,
									CASE WHEN a ->> 'actual' ~ '^-?\d{1,29}(\.\d+)?$' THEN (a ->> 'actual')::numeric END,
									a ->> 'expected', concat_ws(': ', a ->> 'description', CASE WHEN a ->> 'actual' !~ '^-?\d{1,29}(\.\d+)?$' THEN a ->> 'actual' END),
									at, ev #>> '{run,runId}', who, batch_id);
								kept := kept + 1;
							END LOOP;
						END IF;
					END IF;
				END IF;
				IF problem IS NOT NULL THEN
					RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = problem;
				END IF;
			EXCEPTION WHEN OTHERS THEN
				-- the dataset's facets are kept whole; what it stored is undone
				rejected := rejected + 1;
				PERFORM @extschema@._dq_reject(batch_id, i, side, SQLSTATE, SQLERRM,
					'Facets as the OpenLineage spec has them (DataQualityMetricsInputDatasetFacet 1-0-3, DataQualityAssertionsDatasetFacet 1-1-0, OutputStatisticsOutputDatasetFacet 1-0-2), on a dataset kant can name (kant.add_dataset(aliases =>)) of a run it holds.',
					ds, 'openlineage', sid, fpath);
			END;
		END LOOP;
	END LOOP;
	IF rejected > 0 THEN
		RAISE WARNING 'kant: the data-quality facets of % OpenLineage dataset(s) rejected', rejected
			USING DETAIL = format('Each is kept in kant.rejected (source openlineage, batch %s) with its reason; the runs are stored.', batch_id);
	END IF;
	RETURN kept;
END
$$;
COMMENT ON FUNCTION @extschema@._dq_openlineage(jsonb, bigint) IS
	'internal: the data-quality facets of OpenLineage RunEvents as metrics and assertions of their datasets (kant.ingest_openlineage calls it once the runs are stored); a dataset''s facets of another shape, or of a run kant does not hold, are kept in kant.rejected; returns how many values were kept';
REVOKE ALL ON FUNCTION @extschema@._dq_openlineage(jsonb, bigint) FROM PUBLIC;
