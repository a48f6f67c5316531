/*
 * kant: Key-level differences between a source and a target that SQL can
 * reach (issue 15): the keys missing or duplicated on either side, found
 * without shipping every row.
 *
 * Part of the install script sql/kant--0.6.0.sql (the Makefile builds it from
 * the files of sql/src in the order of SQL_SRC).  Change a definition here AND in the
 * upgrade script of the version being made; test/sql/upgrade.sql proves the
 * two paths give the same objects.
 *
 * The technique of data-diff (datafold/data-diff: hashdiff_tables.py and
 * table_segment.py, carried on as erezsh/reladiff): split the key space into
 * segments, summarise each segment on both sides by count(*) and the sum of a
 * hash of its keys (an order-independent checksum: the same multiset of keys
 * gives the same sums, in any order), split again only the segments that
 * differ, and fetch the keys of a segment only once it is small.  What kant
 * does differently:
 *  - one query a pass reads every segment of both sides (GROUP BY the segment
 *    number), where data-diff runs one query per segment; the two sides are
 *    one UNION ALL, so a foreign server with async_capable aggregates at the
 *    same time as the local side;
 *  - keys are compared as multisets (key, number of rows), not as sets: a
 *    duplicated key changes a segment's count and sum, and is reported;
 *  - the segments are a power-of-two grid over a 64-bit position: segment b
 *    at shift s holds the rows whose position p has p >> s = b.  Integer keys
 *    are their own position (a segment is a key range an index serves); text
 *    and uuid keys are positioned by their hash (hashtextextended,
 *    uuid_hash_extended), not by ordered quantiles: two servers may order
 *    text differently (a collation of RDS against one here), so one key range
 *    could hold different keys on each side, and postgres_fdw ships no
 *    comparison under an explicit COLLATE "C"; a hash of the bytes is the same
 *    on both (in the same encoding, with deterministic collations) and
 *    spreads any key distribution (common prefixes, skew) evenly,
 *    where quantiles need a sort of the key column.  The cost: no index serves
 *    a hash range, so each pass reads the whole table on both sides.
 * kant.diff_keys_report returns the keys found and what it cost as one jsonb
 * value (to keep in a check's result); kant.diff_keys shows it as rows and a
 * NOTICE.
 * Every query is built from built-in immutable functions and operators
 * (count, sum, >>, hashint8extended, hashtextextended, uuid_hash_extended,
 * = ANY of a constant array), which postgres_fdw pushes down.
 */

/*
 * What a key column is, for kant.diff_keys: 'integer' (smallint, integer,
 * bigint), 'text' (text, varchar) or 'uuid', domains over them included.
 */
CREATE FUNCTION @extschema@._diff_key_kind(rel regclass, key_column name, arg text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	relkind "char";
	typ oid;
	base oid;
BEGIN
	SELECT c.relkind INTO relkind FROM pg_class c WHERE c.oid = rel;
	IF relkind IS NULL OR relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		RAISE EXCEPTION 'kant.diff_keys: % % is not a table, view or foreign table', arg, rel
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Name a table, a view, a materialized view or a foreign table (postgres_fdw).';
	END IF;
	SELECT a.atttypid INTO typ FROM pg_attribute a
	WHERE a.attrelid = rel AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF typ IS NULL THEN
		RAISE EXCEPTION 'kant.diff_keys: column % of % % does not exist', quote_ident(key_column), arg, rel
			USING ERRCODE = 'undefined_column',
				  HINT = 'key_column names the key column of both source and target (the same name on both).';
	END IF;
	base := typ;
	WHILE (SELECT t.typtype = 'd' FROM pg_type t WHERE t.oid = base) LOOP
		SELECT t.typbasetype INTO base FROM pg_type t WHERE t.oid = base;
	END LOOP;
	RETURN CASE base
		WHEN 'int2'::regtype THEN 'integer' WHEN 'int4'::regtype THEN 'integer' WHEN 'int8'::regtype THEN 'integer'
		WHEN 'text'::regtype THEN 'text' WHEN 'varchar'::regtype THEN 'text'
		WHEN 'uuid'::regtype THEN 'uuid'
		ELSE @extschema@._diff_unsupported(rel, key_column, arg, typ::regtype) END;
END
$$;
COMMENT ON FUNCTION @extschema@._diff_key_kind(regclass, name, text) IS
	'internal: the kind of key kant.diff_keys compares in column key_column of rel (arg: source or target, for the errors): integer (smallint, integer, bigint), text (text, varchar) or uuid, domains over them too; 42809 for a relation without rows, 42703 for no such column, 0A000 for another type';
GRANT EXECUTE ON FUNCTION @extschema@._diff_key_kind(regclass, name, text) TO PUBLIC;

CREATE FUNCTION @extschema@._diff_unsupported(rel regclass, key_column name, arg text, typ regtype) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION 'kant.diff_keys: key column % of % % is of type %, which kant.diff_keys does not compare',
		quote_ident(key_column), arg, rel, typ
		USING ERRCODE = 'feature_not_supported',
			  HINT = 'Key types: smallint, integer, bigint (split by value), text, varchar, uuid (split by hash).';
END
$$;
COMMENT ON FUNCTION @extschema@._diff_unsupported(regclass, name, text, regtype) IS
	'internal: raise 0A000 for a key column of a type kant.diff_keys does not compare';
GRANT EXECUTE ON FUNCTION @extschema@._diff_unsupported(regclass, name, text, regtype) TO PUBLIC;

/*
 * A filter is one SQL expression, put in parentheses after WHERE: refuse
 * what could end the parentheses or the statement early (a semicolon, a
 * comment, a parenthesis closed that it did not open, a string or quoted
 * identifier left open).  Strings ('', E'\''), quoted identifiers and dollar
 * quotes are skipped.  Whether the expression is right (its columns, a
 * boolean) is left to PostgreSQL: kant.diff_keys runs it once with LIMIT 0.
 */
CREATE FUNCTION @extschema@._diff_filter(filter text, arg text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	i integer := 1;
	n integer := length(filter);
	ch text;
	depth integer := 0;
	backslash boolean;
	tag text;
	j integer;
	problem text;
BEGIN
	IF filter IS NULL THEN
		RETURN NULL;
	END IF;
	IF btrim(filter, E' \t\r\n') = '' THEN
		problem := 'is empty';
	END IF;
	WHILE problem IS NULL AND i <= n LOOP
		ch := substr(filter, i, 1);
		IF ch = '''' THEN
			-- a string: '' stands for a quote; in an E'' string, \ escapes too
			backslash := i > 1 AND upper(substr(filter, i - 1, 1)) = 'E'
						 AND (i = 2 OR substr(filter, i - 2, 1) !~ '[A-Za-z0-9_$]');
			i := i + 1;
			LOOP
				IF i > n THEN
					problem := 'leaves a string open';
					EXIT;
				END IF;
				ch := substr(filter, i, 1);
				IF backslash AND ch = '\' THEN
					i := i + 2;
				ELSIF ch = '''' AND substr(filter, i + 1, 1) = '''' THEN
					i := i + 2;
				ELSIF ch = '''' THEN
					EXIT;
				ELSE
					i := i + 1;
				END IF;
			END LOOP;
		ELSIF ch = '"' THEN
			j := strpos(substr(filter, i + 1), '"');
			IF j = 0 THEN
				problem := 'leaves a quoted identifier open';
			END IF;
			i := i + j;
		ELSIF ch = '$' AND (i = 1 OR substr(filter, i - 1, 1) !~ '[A-Za-z0-9_$]')
			  AND substr(filter, i) ~ '^\$([A-Za-z_][A-Za-z0-9_]*)?\$' THEN
			tag := substring(substr(filter, i) FROM '^(\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)');
			j := strpos(substr(filter, i + length(tag)), tag);
			IF j = 0 THEN
				problem := 'leaves a dollar-quoted string open';
			END IF;
			i := i + 2 * length(tag) + j - 2;
		ELSIF ch = ';' THEN
			problem := 'holds a semicolon';
		ELSIF substr(filter, i, 2) IN ('--', '/*') THEN
			problem := 'holds a comment';
		ELSIF ch = '(' THEN
			depth := depth + 1;
		ELSIF ch = ')' THEN
			depth := depth - 1;
			IF depth < 0 THEN
				problem := 'closes a parenthesis it did not open';
			END IF;
		END IF;
		i := i + 1;
	END LOOP;
	IF problem IS NULL AND depth > 0 THEN
		problem := 'leaves a parenthesis open';
	END IF;
	IF problem IS NOT NULL THEN
		RAISE EXCEPTION 'kant.diff_keys: % is not one SQL expression: it %', arg, problem
			USING ERRCODE = 'syntax_error',
				  DETAIL = format('%s: %s', arg, filter),
				  HINT = 'A boolean expression over the table''s columns, as after WHERE, e.g. business_date = ''2024-01-15''.';
	END IF;
	RETURN filter;
END
$$;
COMMENT ON FUNCTION @extschema@._diff_filter(text, text) IS
	'internal: the filter of kant.diff_keys when it is one SQL expression (arg names the argument): 42601 for one that is empty, holds a semicolon or a comment, closes a parenthesis it did not open or leaves a parenthesis, string or quoted identifier open';
GRANT EXECUTE ON FUNCTION @extschema@._diff_filter(text, text) TO PUBLIC;

/*
 * One side's query of kant.diff_keys, to be put in a UNION ALL with the
 * other side's (side 1 the source, 2 the target):
 *   range:    side, min(key)::bigint, max(key)::bigint (integer keys);
 *   segments: side, segment (position >> shift), count(*), sum(hash) per segment,
 *             and within segments whether all its rows have one position;
 *   keys:     side, key, count(*), position per key.
 * within_shift/within restrict it to those segments (shift, segment); NULL
 * reads the whole table.  Integer keys read up to 64 key ranges a shift (an
 * index serves them; adjacent segments are one range), others the segment
 * numbers: (position >> shift) = ANY (constant array), hashed by the server.
 */
CREATE FUNCTION @extschema@._diff_sql(side integer, rel regclass, key_column name, kind text, filter text,
		what text, shift integer DEFAULT NULL, within_shift integer[] DEFAULT NULL, within bigint[] DEFAULT NULL)
	RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	k text := quote_ident(key_column);
	pos text;
	hash text;
	conds text[] := '{}';
	segs text;
BEGIN
	pos := CASE kind WHEN 'integer' THEN format('%s::bigint', k)
					 WHEN 'text' THEN format('hashtextextended(%s, 0)', k)
					 WHEN 'uuid' THEN format('uuid_hash_extended(%s, 0)', k) END;
	hash := CASE kind WHEN 'integer' THEN format('hashint8extended(%s::bigint, 0)', k) ELSE pos END;
	IF pos IS NULL OR what NOT IN ('range', 'segments', 'keys') OR side NOT IN (1, 2) THEN
		RAISE EXCEPTION 'kant._diff_sql: no query for side %, kind %, %', side, kind, what
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF filter IS NOT NULL THEN
		conds := conds || format('(%s)', filter);
	END IF;
	IF within IS NOT NULL THEN
		SELECT '(' || string_agg(s.cond, ' OR ' ORDER BY s.sh) || ')' INTO segs
		FROM (SELECT i.sh,
					 CASE WHEN kind = 'integer' AND count(*) <= 64
						  THEN string_agg(format('(%1$s >= %2$s AND %1$s <= %3$s)', k,
									 (i.b0 * 2::numeric ^ i.sh)::numeric(20), ((i.b1::numeric + 1) * 2::numeric ^ i.sh - 1)::numeric(20)),
								  ' OR ' ORDER BY i.b0)
						  ELSE format('(%s >> %s) = ANY (''{%s}''::bigint[])', pos, i.sh, string_agg(i.bs, ',' ORDER BY i.b0))
					 END AS cond
			  FROM (SELECT x.sh, min(x.b) AS b0, max(x.b) AS b1, string_agg(x.b::text, ',' ORDER BY x.b) AS bs
					FROM (SELECT w.sh, w.b, w.b::numeric - row_number() OVER (PARTITION BY w.sh ORDER BY w.b) AS run
						  FROM (SELECT DISTINCT u.sh, u.b FROM unnest(within_shift, within) AS u(sh, b)) w) x
					GROUP BY x.sh, x.run) i
			  GROUP BY i.sh) s;
		conds := conds || coalesce(segs, 'false');
	END IF;
	RETURN format('SELECT %s AS side, %s FROM %s%s%s', side,
		CASE what WHEN 'range' THEN format('min(%1$s)::bigint AS lo, max(%1$s)::bigint AS hi', k)
				  WHEN 'segments' THEN format('%s >> %s AS b, count(*) AS n, sum(%s) AS c, %s AS one', pos, shift, hash,
											  CASE WHEN within IS NULL THEN 'NULL::boolean' ELSE format('min(%1$s) = max(%1$s)', pos) END)
				  ELSE format('%s AS key, count(*) AS n, %s AS pos',
							  CASE kind WHEN 'integer' THEN pos WHEN 'text' THEN k || '::text' ELSE k END, pos) END,
		rel,
		CASE WHEN cardinality(conds) > 0 THEN ' WHERE ' || array_to_string(conds, ' AND ') ELSE '' END,
		CASE WHEN what = 'range' THEN '' ELSE ' GROUP BY 2' END);
END
$$;
COMMENT ON FUNCTION @extschema@._diff_sql(integer, regclass, name, text, text, text, integer, integer[], bigint[]) IS
	'internal: one side''s query of kant.diff_keys (side 1 source, 2 target): what = range (min and max key), segments (count and sum of the 64-bit key hash per segment position >> shift; within segments, whether min(position) = max(position)) or keys (each key with its count and position), within the segments (within_shift, within) or the whole table; built from built-in immutable functions that postgres_fdw pushes down';
GRANT EXECUTE ON FUNCTION @extschema@._diff_sql(integer, regclass, name, text, text, text, integer, integer[], bigint[]) TO PUBLIC;

/*
 * The relations whose rows a query fetches from a foreign server rather than
 * having them aggregated there (a Foreign Scan that is not "Aggregate on"),
 * from its plan; NULL when there is none.  VOLATILE: EXPLAIN may not run in
 * kant.diff_keys, which is STABLE.
 */
CREATE FUNCTION @extschema@._diff_fetched(query text) RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	plan jsonb;
BEGIN
	EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || query INTO plan;
	RETURN (SELECT string_agg(DISTINCT format('%s.%s', n ->> 'Schema', n ->> 'Relation Name'), ', ')
			FROM jsonb_path_query(plan, 'strict $.**? (@."Node Type" == "Foreign Scan")') AS n
			WHERE coalesce(n ->> 'Relations', '') NOT LIKE 'Aggregate on %');
END
$$;
COMMENT ON FUNCTION @extschema@._diff_fetched(text) IS
	'internal: the foreign tables whose rows the query fetches instead of having them aggregated by their server (from EXPLAIN (VERBOSE, FORMAT JSON)), as schema.table, comma-separated; NULL for none';
GRANT EXECUTE ON FUNCTION @extschema@._diff_fetched(text) TO PUBLIC;

/*
 * Both sides of one step of kant.diff_keys in one statement: the two queries
 * of kant._diff_sql in a UNION ALL (a foreign side with async_capable runs
 * while the local side does), folded into one row of arrays, with how many
 * rows each side returned and what they weigh in postgres_fdw's text
 * protocol (a 7-byte DataRow header, and 4 bytes of length and the text of
 * each value).
 */
CREATE FUNCTION @extschema@._diff_both(what text, source_query text, target_query text) RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT format('SELECT %1$s, count(*) FILTER (WHERE u.side = 1) AS rs, count(*) FILTER (WHERE u.side = 2) AS rt,'
				  ' coalesce(sum(%2$s) FILTER (WHERE u.side = 1), 0)::bigint AS bs, coalesce(sum(%2$s) FILTER (WHERE u.side = 2), 0)::bigint AS bt'
				  ' FROM (%3$s UNION ALL %4$s) u',
				  CASE what
					  WHEN 'range' THEN 'NULL::integer[] AS side, ARRAY[min(u.lo), max(u.hi)] AS b, NULL::bigint[] AS n,'
										' NULL::numeric[] AS c, NULL::boolean[] AS one, NULL::text[] AS k'
					  WHEN 'segments' THEN 'array_agg(u.side) AS side, array_agg(u.b) AS b, array_agg(u.n) AS n,'
										   ' array_agg(u.c) AS c, array_agg(u.one) AS one, NULL::text[] AS k'
					  WHEN 'keys' THEN 'array_agg(u.side) AS side, array_agg(u.pos) AS b, array_agg(u.n) AS n,'
									   ' NULL::numeric[] AS c, NULL::boolean[] AS one, array_agg(u.key::text) AS k' END,
				  '7 + octet_length(u.side::text) + ' || CASE what
					  WHEN 'range' THEN '12 + coalesce(octet_length(u.lo::text), 0) + coalesce(octet_length(u.hi::text), 0)'
					  WHEN 'segments' THEN '20 + coalesce(octet_length(u.b::text), 0) + octet_length(u.n::text) + coalesce(octet_length(u.c::text), 0)'
										   ' + coalesce(octet_length(u.one::text), 0)'
					  WHEN 'keys' THEN '16 + coalesce(octet_length(u.key::text), 0) + octet_length(u.n::text) + coalesce(octet_length(u.pos::text), 0)' END,
				  source_query, target_query)
	$$;
COMMENT ON FUNCTION @extschema@._diff_both(text, text, text) IS
	'internal: the statement of one step of kant.diff_keys over both sides (what: range, segments or keys; the queries of kant._diff_sql for source and target in a UNION ALL), one row: side, b (the segment numbers, the positions, or the range), n, c, one (segments of one position), k (the keys as text), and the rows (rs, rt) and bytes (bs, bt) each side returned';
GRANT EXECUTE ON FUNCTION @extschema@._diff_both(text, text, text) TO PUBLIC;

/*
 * Run a statement of kant._diff_both without JIT: after the first pass the
 * steps read little, but postgres_fdw's estimate of a foreign scan (without
 * use_remote_estimate) is the whole table's, enough to JIT-compile each for
 * a few hundred milliseconds.  The first pass runs with the caller's setting.
 */
CREATE FUNCTION @extschema@._diff_run(query text, OUT side integer[], OUT b bigint[], OUT n bigint[], OUT c numeric[],
		OUT one boolean[], OUT k text[], OUT rs bigint, OUT rt bigint, OUT bs bigint, OUT bt bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
BEGIN
	EXECUTE query INTO side, b, n, c, one, k, rs, rt, bs, bt;
END
$$;
COMMENT ON FUNCTION @extschema@._diff_run(text) IS
	'internal: run a statement of kant._diff_both with jit off (the steps after kant.diff_keys''s first pass read little, and compiling would cost more than it saves)';
GRANT EXECUTE ON FUNCTION @extschema@._diff_run(text) TO PUBLIC;

/*
 * The keys whose number of rows differs between source and target, found by
 * bisection (see the top of this file):
 *  1. integer keys: the smallest and largest key of both sides (one query);
 *  2. pass 1 splits the key space into bisection_factor^2 segments (4096: the
 *     whole table is read anyway, and a finer first split makes every later
 *     pass read less); each later pass splits each segment that differs into
 *     bisection_factor (64: data-diff splits into 32 with one query a segment;
 *     here a pass is one query, and a wider split only returns more sums); a
 *     segment with at most bisection_threshold rows on either side, or whose
 *     rows share one position on each side (a key many times over: after pass
 *     1 each segment also says min(position) = max(position)), is not split
 *     but compared key by key;
 *  3. one query fetches the keys of those segments with their counts.
 * Each step is one statement over both sides.  Every differing segment holds
 * at least one differing key, so a pass keeps only the max_keys first
 * segments (in position order) and the first max_keys keys are still found.
 * Everything runs in the caller's snapshot (STABLE), postgres_fdw's remote
 * side in its repeatable-read transaction.
 */
CREATE FUNCTION @extschema@.diff_keys_report(source regclass, target regclass, key_column name,
		source_filter text DEFAULT NULL, target_filter text DEFAULT NULL, max_keys integer DEFAULT 100,
		bisection_factor integer DEFAULT 64, bisection_threshold integer DEFAULT 1000)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	kind text;
	sf text;
	tf text;
	step integer;
	shift integer;
	key_lo bigint;
	key_hi bigint;
	parent_shifts integer[];
	parents bigint[];
	split bigint[];
	leaf_s integer[] := '{}';
	leaf_b bigint[] := '{}';
	q text;
	fetched text;
	got record;
	rows_s numeric;
	rows_t numeric;
	null_s bigint;
	null_t bigint;
	k_side integer[] := '{}';
	k_key text[] := '{}';
	k_n bigint[] := '{}';
	k_pos bigint[] := '{}';
	d_key text[];
	d_s bigint[];
	d_t bigint[];
	n_found bigint;
	truncated boolean := false;
	queries integer := 0;
	passes integer := 0;
	fetched_s bigint := 0;
	fetched_t bigint := 0;
	bytes_s bigint := 0;
	bytes_t bigint := 0;
BEGIN
	IF source IS NULL OR target IS NULL OR key_column IS NULL THEN
		RAISE EXCEPTION 'kant.diff_keys: % is NULL',
			CASE WHEN source IS NULL THEN 'source' WHEN target IS NULL THEN 'target' ELSE 'key_column' END
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Name the source and target tables (regclass) and their key column.';
	END IF;
	IF max_keys IS NULL OR max_keys < 1 THEN
		RAISE EXCEPTION 'kant.diff_keys: max_keys must be at least 1, not %', coalesce(max_keys::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The number of keys to report (100 by default).';
	END IF;
	IF bisection_factor IS NULL OR bisection_factor NOT IN (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) THEN
		RAISE EXCEPTION 'kant.diff_keys: bisection_factor must be a power of two from 2 to 1024, not %',
			coalesce(bisection_factor::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Into how many segments a pass splits a segment that differs (64 by default; the first pass makes bisection_factor^2).';
	END IF;
	IF bisection_threshold IS NULL OR bisection_threshold < 1 THEN
		RAISE EXCEPTION 'kant.diff_keys: bisection_threshold must be at least 1, not %', coalesce(bisection_threshold::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Up to how many rows a segment is compared key by key rather than split (1000 by default).';
	END IF;
	kind := @extschema@._diff_key_kind(source, key_column, 'source');
	IF @extschema@._diff_key_kind(target, key_column, 'target') <> kind THEN
		RAISE EXCEPTION 'kant.diff_keys: key column % is of type % in source % but % in target %', quote_ident(key_column),
			(SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = source AND a.attname = key_column), source,
			(SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = target AND a.attname = key_column), target
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'Both keys integers (smallint, integer, bigint), both text (text, varchar) or both uuid.';
	END IF;
	sf := @extschema@._diff_filter(source_filter, 'source_filter');
	tf := @extschema@._diff_filter(target_filter, 'target_filter');
	-- a filter PostgreSQL cannot apply to its table fails here, named
	FOR got IN SELECT * FROM (VALUES ('source_filter', source, sf), ('target_filter', target, tf)) AS f(arg, rel, filter)
			   WHERE f.filter IS NOT NULL LOOP
		BEGIN
			EXECUTE format('SELECT 1 FROM %s WHERE (%s) LIMIT 0', got.rel, got.filter);
		EXCEPTION WHEN OTHERS THEN
			RAISE EXCEPTION 'kant.diff_keys: % does not apply to %: %', got.arg, got.rel, SQLERRM
				USING ERRCODE = SQLSTATE,
					  DETAIL = format('%s: %s', got.arg, got.filter),
					  HINT = 'A boolean expression over the table''s columns, as after WHERE, e.g. business_date = ''2024-01-15''; functions outside pg_catalog are named with their schema.';
		END;
	END LOOP;

	step := round(log(2, bisection_factor))::integer;
	IF kind = 'integer' THEN
		SELECT * INTO got FROM @extschema@._diff_run(@extschema@._diff_both('range',
			@extschema@._diff_sql(1, source, key_column, kind, sf, 'range'),
			@extschema@._diff_sql(2, target, key_column, kind, tf, 'range')));
		queries := queries + 1;
		fetched_s := fetched_s + got.rs;
		fetched_t := fetched_t + got.rt;
		bytes_s := bytes_s + got.bs;
		bytes_t := bytes_t + got.bt;
		key_lo := coalesce(got.b[1], 0);
		key_hi := coalesce(got.b[2], 0);
		-- the first shift that puts the key range into at most bisection_factor^2 segments
		shift := 0;
		WHILE shift < 63 AND (key_hi >> shift)::numeric - (key_lo >> shift) + 1 > bisection_factor::numeric ^ 2 LOOP
			shift := shift + 1;
		END LOOP;
	ELSE
		shift := 64 - 2 * step;
	END IF;

	LOOP
		passes := passes + 1;
		q := @extschema@._diff_both('segments',
			@extschema@._diff_sql(1, source, key_column, kind, sf, 'segments', shift, parent_shifts, parents),
			@extschema@._diff_sql(2, target, key_column, kind, tf, 'segments', shift, parent_shifts, parents));
		IF passes = 1 THEN
			-- say so when a foreign server cannot aggregate: every row would come over
			fetched := @extschema@._diff_fetched(q);
			IF fetched IS NOT NULL THEN
				RAISE WARNING 'kant.diff_keys: the server of % does not aggregate it: every row is fetched', fetched
					USING HINT = 'postgres_fdw pushes down built-in immutable functions and operators only: a filter with current_date, now() or a function of an extension the server''s extensions option does not list is evaluated here. Pass such values as constants.';
			END IF;
			EXECUTE q INTO got;
		ELSE
			SELECT * INTO got FROM @extschema@._diff_run(q);
		END IF;
		queries := queries + 1;
		fetched_s := fetched_s + got.rs;
		fetched_t := fetched_t + got.rt;
		bytes_s := bytes_s + got.bs;
		bytes_t := bytes_t + got.bt;
		IF passes = 1 THEN
			-- the first pass reads whole tables: their rows, and those with a NULL key (segment NULL)
			SELECT coalesce(sum(u.n) FILTER (WHERE u.side = 1), 0), coalesce(sum(u.n) FILTER (WHERE u.side = 2), 0),
				   coalesce(sum(u.n) FILTER (WHERE u.side = 1 AND u.b IS NULL), 0),
				   coalesce(sum(u.n) FILTER (WHERE u.side = 2 AND u.b IS NULL), 0)
			INTO rows_s, rows_t, null_s, null_t
			FROM unnest(got.side, got.b, got.n) AS u(side, b, n);
		END IF;
		-- the segments that differ: small ones (or of one position a side) are compared key by key, others split
		SELECT coalesce(array_agg(d.b ORDER BY d.b) FILTER (WHERE NOT d.leaf), '{}'),
			   leaf_s || coalesce(array_agg(shift) FILTER (WHERE d.leaf), '{}'),
			   leaf_b || coalesce(array_agg(d.b ORDER BY d.b) FILTER (WHERE d.leaf), '{}')
		INTO split, leaf_s, leaf_b
		FROM (SELECT e.b, greatest(e.ns, e.nt) <= bisection_threshold OR shift = 0 OR coalesce(e.single, false) AS leaf
			  FROM (SELECT u.b, coalesce(sum(u.n) FILTER (WHERE u.side = 1), 0) AS ns, coalesce(sum(u.n) FILTER (WHERE u.side = 2), 0) AS nt,
						   sum(u.c) FILTER (WHERE u.side = 1) AS cs, sum(u.c) FILTER (WHERE u.side = 2) AS ct,
						   bool_and(u.one) AS single
					FROM unnest(got.side, got.b, got.n, got.c, got.one) AS u(side, b, n, c, one)
					WHERE u.b IS NOT NULL
					GROUP BY u.b) e
			  WHERE e.ns <> e.nt OR e.cs IS DISTINCT FROM e.ct) d;
		-- keep the first max_keys segments in position order (each holds a differing key)
		IF cardinality(leaf_b) + cardinality(split) > max_keys THEN
			truncated := true;
			SELECT coalesce(array_agg(s.sh ORDER BY s.first) FILTER (WHERE s.leaf), '{}'),
				   coalesce(array_agg(s.b ORDER BY s.first) FILTER (WHERE s.leaf), '{}'),
				   coalesce(array_agg(s.b ORDER BY s.first) FILTER (WHERE NOT s.leaf), '{}')
			INTO leaf_s, leaf_b, split
			FROM (SELECT x.sh, x.b, x.leaf, x.b * 2::numeric ^ x.sh AS first
				  FROM (SELECT l.sh, l.b, true AS leaf FROM unnest(leaf_s, leaf_b) AS l(sh, b)
						UNION ALL
						SELECT shift, p.b, false FROM unnest(split) AS p(b)) x
				  ORDER BY first
				  LIMIT max_keys) s;
		END IF;
		EXIT WHEN cardinality(split) = 0;
		parent_shifts := array_fill(shift, ARRAY[cardinality(split)]);
		parents := split;
		shift := greatest(shift - step, 0);
	END LOOP;

	IF cardinality(leaf_b) > 0 THEN
		SELECT * INTO got FROM @extschema@._diff_run(@extschema@._diff_both('keys',
			@extschema@._diff_sql(1, source, key_column, kind, sf, 'keys', NULL, leaf_s, leaf_b),
			@extschema@._diff_sql(2, target, key_column, kind, tf, 'keys', NULL, leaf_s, leaf_b)));
		queries := queries + 1;
		fetched_s := fetched_s + got.rs;
		fetched_t := fetched_t + got.rt;
		bytes_s := bytes_s + got.bs;
		bytes_t := bytes_t + got.bt;
		k_side := got.side;
		k_key := got.k;
		k_n := got.n;
		k_pos := got.b;
	END IF;

	-- the keys whose counts differ, in position order (a NULL key last), the first max_keys
	SELECT count(*), coalesce(array_agg(x.k ORDER BY x.rn) FILTER (WHERE x.rn <= max_keys), '{}'),
		   coalesce(array_agg(x.ns ORDER BY x.rn) FILTER (WHERE x.rn <= max_keys), '{}'),
		   coalesce(array_agg(x.nt ORDER BY x.rn) FILTER (WHERE x.rn <= max_keys), '{}')
	INTO n_found, d_key, d_s, d_t
	FROM (SELECT y.k, y.ns, y.nt, row_number() OVER (ORDER BY y.pos NULLS LAST, y.k COLLATE "C") AS rn
		  FROM (SELECT u.k, coalesce(sum(u.n) FILTER (WHERE u.side = 1), 0)::bigint AS ns,
					   coalesce(sum(u.n) FILTER (WHERE u.side = 2), 0)::bigint AS nt, min(u.pos) AS pos
				FROM unnest(k_side, k_key, k_n, k_pos) AS u(side, k, n, pos)
				GROUP BY u.k
				UNION ALL
				SELECT NULL, null_s, null_t, NULL WHERE null_s <> null_t) y
		  WHERE y.ns <> y.nt) x;
	truncated := truncated OR n_found > max_keys;

	RETURN jsonb_build_object('source', source::text, 'target', target::text, 'key_column', key_column,
		'source_rows', rows_s, 'target_rows', rows_t,
		'differing_keys', CASE WHEN NOT truncated THEN n_found END, 'truncated', truncated,
		'keys', (SELECT coalesce(jsonb_agg(jsonb_build_object('key', d.k, 'source_count', d.ns, 'target_count', d.nt,
					'problems', (SELECT jsonb_agg(p.problem ORDER BY p.i)
								 FROM (VALUES (1, 'missing_in_target', d.ns > 0 AND d.nt = 0),
											  (2, 'missing_in_source', d.ns = 0 AND d.nt > 0),
											  (3, 'duplicated_in_source', d.ns > 1 AND d.ns > d.nt),
											  (4, 'duplicated_in_target', d.nt > 1 AND d.nt > d.ns)) AS p(i, problem, applies)
								 WHERE p.applies)) ORDER BY d.rn), '[]')
				 FROM unnest(d_key, d_s, d_t) WITH ORDINALITY AS d(k, ns, nt, rn)),
		'queries', queries, 'passes', passes,
		'fetched', jsonb_build_object('source', jsonb_build_object('rows', fetched_s, 'bytes', bytes_s),
									  'target', jsonb_build_object('rows', fetched_t, 'bytes', bytes_t)));
END
$$;
COMMENT ON FUNCTION @extschema@.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer) IS
	'kant.diff_keys as one jsonb value, to keep (e.g. in a check''s result): source, target, key_column; source_rows and target_rows (after the filters); differing_keys (NULL when truncated: more than max_keys keys differ); truncated; keys, the first max_keys in kant.diff_keys''s order, each {key (text, or null for the rows with a NULL key), source_count, target_count, problems: [missing_in_target | missing_in_source | duplicated_in_source | duplicated_in_target, ...]}; queries and passes; fetched: {source, target: {rows, bytes}}, the rows the queries returned from each side and their size in the text protocol. Arguments, rights and errors as kant.diff_keys';
REVOKE ALL ON FUNCTION @extschema@.diff_keys_report(regclass, regclass, name, text, text, integer, integer, integer) FROM PUBLIC;

/*
 * kant.diff_keys_report as rows, with a NOTICE of what it cost.
 */
CREATE FUNCTION @extschema@.diff_keys(source regclass, target regclass, key_column name,
		source_filter text DEFAULT NULL, target_filter text DEFAULT NULL, max_keys integer DEFAULT 100,
		bisection_factor integer DEFAULT 64, bisection_threshold integer DEFAULT 1000)
	RETURNS TABLE (key text, source_count bigint, target_count bigint, problem text)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r jsonb;
BEGIN
	r := @extschema@.diff_keys_report(source, target, key_column, source_filter, target_filter, max_keys,
									  bisection_factor, bisection_threshold);
	RAISE NOTICE 'kant.diff_keys: keys that differ between % and %: %', r ->> 'source', r ->> 'target',
		CASE WHEN (r ->> 'truncated')::boolean THEN format('more than %s (the first %s are shown)', max_keys, max_keys)
			 ELSE r ->> 'differing_keys' END
		USING DETAIL = format('rows: source %s, target %s; queries: %s, passes: %s; rows fetched: source %s (%s bytes), target %s (%s bytes)',
							  r ->> 'source_rows', r ->> 'target_rows', r ->> 'queries', r ->> 'passes',
							  r #>> '{fetched,source,rows}', r #>> '{fetched,source,bytes}',
							  r #>> '{fetched,target,rows}', r #>> '{fetched,target,bytes}');
	RETURN QUERY
	SELECT k.e ->> 'key', (k.e ->> 'source_count')::bigint, (k.e ->> 'target_count')::bigint, p.problem
	FROM jsonb_array_elements(r -> 'keys') WITH ORDINALITY AS k(e, i)
	CROSS JOIN LATERAL jsonb_array_elements_text(k.e -> 'problems') WITH ORDINALITY AS p(problem, j)
	ORDER BY k.i, p.j;
END
$$;
COMMENT ON FUNCTION @extschema@.diff_keys(regclass, regclass, name, text, text, integer, integer, integer) IS
	'The keys whose number of rows differs between source and target (tables, views or postgres_fdw foreign tables with a key column of the same name: smallint/integer/bigint, text/varchar or uuid), each side filtered by an SQL boolean expression over its columns (source_filter, target_filter; NULL: every row). A row per key and problem: missing_in_target (source_count > 0, target_count 0), missing_in_source, duplicated_in_source (source_count > 1 and above target_count), duplicated_in_target; a key twice in the source and not in the target is missing_in_target and duplicated_in_source (two rows). Rows with a NULL key are one key, NULL, when the sides hold different numbers of them; a key duplicated alike on both sides is no difference. At most max_keys keys: the first in key order (integer keys) or hash order (text, uuid), NULL last. Found as data-diff finds them (datafold/data-diff): count and sum of a 64-bit key hash per segment of the key space, one query a pass over both sides, aggregated by the foreign server (postgres_fdw pushes the queries down); the first pass makes bisection_factor^2 segments, later passes split a segment that differs into bisection_factor (a power of two, 64 by default) until it holds at most bisection_threshold rows (1000), whose keys are fetched. A NOTICE gives both sides'' rows, the queries and passes, and the rows and bytes (text protocol) the queries returned from each side (kant.diff_keys_report: all of it as one jsonb value); a WARNING says when a foreign server cannot aggregate (every row is fetched). Runs as its caller (SECURITY INVOKER; search_path pg_catalog, pg_temp: name other functions in a filter with their schema), in the caller''s snapshot. Errors: 22004 a NULL argument; 22023 max_keys < 1 or a bad bisection setting; 42809 not a table; 42703 no such key column; 0A000 a key type not compared; 42804 different key types; 42601 a filter that is not one expression, or PostgreSQL''s error for one that does not apply to its table, naming the argument';
REVOKE ALL ON FUNCTION @extschema@.diff_keys(regclass, regclass, name, text, text, integer, integer, integer) FROM PUBLIC;
