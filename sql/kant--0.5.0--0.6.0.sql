/* kant 0.5.0 -> 0.6.0: safe in a shared Postgres (issue 11).  Sections by
 * concern; each replaces what it changes. */

\echo Use "ALTER EXTENSION kant UPDATE TO '0.6.0'" to load this file. \quit

---------------------------------------------------------------------------
-- Ingestion: bad records are quarantined alone
---------------------------------------------------------------------------

-- A record jsonb cannot hold (\u0000, a lone surrogate, a number numeric
-- refuses) is still kept whole: as text.
ALTER TABLE @extschema@.rejected ADD COLUMN record_text text;
COMMENT ON COLUMN @extschema@.rejected.record IS 'the record as it arrived (NULL when jsonb cannot hold it: see record_text)';
COMMENT ON COLUMN @extschema@.rejected.record_text IS 'the record''s text as it arrived, when jsonb cannot hold it (record is NULL then)';

-- kant.keep_payloads keeps a text payload as the text it was: jsonb may
-- refuse a part of it that kant quarantined.
ALTER TABLE @extschema@.ingest_batch ADD COLUMN payload_text text;
COMMENT ON COLUMN @extschema@.ingest_batch.payload IS 'the payload, when kant.keep_payloads is on and it was passed as jsonb';
COMMENT ON COLUMN @extschema@.ingest_batch.payload_text IS 'the payload, when kant.keep_payloads is on and it was passed as text (kept as text: jsonb may not hold all of it)';

---------------------------------------------------------------------------
-- Collection
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- Time zones, dates and styles: nothing depends on the session
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- Security: user code, operators, secrets, hosts
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- Alerting: keys, references, Slack text
---------------------------------------------------------------------------
