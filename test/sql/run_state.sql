-- kant.run_state: every source spelling, case-insensitive, one canonical set
-- (operators live in schema kant, like the type)
SET search_path = kant, public;

-- canonical names round-trip
SELECT s::kant.run_state AS state, kant.is_terminal(s::kant.run_state) AS terminal
FROM unnest(ARRAY['scheduled','queued','running','deferred','retrying','succeeded',
                  'failed','timed_out','cancelled','skipped','upstream_failed']) s;

-- every accepted spelling, by source (this table is the README's mapping table)
SELECT source, spelling, state, is_terminal FROM kant.state_mapping() ORDER BY source, state, spelling;

-- case and surrounding blanks do not matter
SELECT 'Succeeded'::kant.run_state, 'up_FOR_retry'::kant.run_state, ' COMPLETE '::kant.run_state,
       'timeout'::kant.run_state, 'Canceled'::kant.run_state;

-- every spelling parses to the state state_mapping() says, in any case
SELECT count(*) AS spellings,
       count(*) FILTER (WHERE upper(spelling)::kant.run_state = state
                          AND lower(spelling)::kant.run_state = state) AS consistent
FROM kant.state_mapping();

-- unknown spellings are errors that name the value and list the accepted ones
\set VERBOSITY default
SELECT 'DONE'::kant.run_state;
\echo :LAST_ERROR_SQLSTATE
SELECT ''::kant.run_state;
SELECT 'success!'::kant.run_state;

-- order: lifecycle first, then outcomes; btree and hash opclasses
SELECT array_agg(s ORDER BY s) FROM (SELECT DISTINCT state AS s FROM kant.state_mapping()) x;
SELECT 'queued'::kant.run_state < 'running', 'failed'::kant.run_state = 'FAIL',
       'ERROR'::kant.run_state <> 'failed', 'succeeded'::kant.run_state >= 'success';

CREATE TEMP TABLE st (s kant.run_state);
INSERT INTO st SELECT state FROM kant.state_mapping(), generate_series(1, 20);
CREATE INDEX ON st (s);
ANALYZE st;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM st WHERE s = 'failed';
SELECT count(*) FROM st WHERE s = 'failed';
RESET enable_seqscan;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT s, count(*) FROM st GROUP BY s;
SELECT s, count(*) FROM st GROUP BY s ORDER BY s;
RESET enable_sort;

-- casts to and from text; binary I/O sends the name
SELECT 'up_for_retry'::text::kant.run_state::text;
SELECT kant.run_state_send('TIMEOUT');

-- one byte on disk
SELECT typlen, typbyval, typalign FROM pg_type WHERE oid = 'kant.run_state'::regtype;
