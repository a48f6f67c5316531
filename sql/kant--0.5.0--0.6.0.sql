/* kant 0.5.0 -> 0.6.0: safe in a shared Postgres (issue 11).  Sections by
 * concern; each replaces what it changes. */

\echo Use "ALTER EXTENSION kant UPDATE TO '0.6.0'" to load this file. \quit

---------------------------------------------------------------------------
-- Ingestion: bad records are quarantined alone
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- Collection
---------------------------------------------------------------------------

-- The acting calls validate their 2xx replies and return only the structured
-- fields of an error reply (cleaned and capped): their bodies reach action_log.
COMMENT ON FUNCTION @extschema@._airflow_post(text, text, text) IS
	'internal: POST a JSON body to an Airflow system''s REST API (its version, credentials, timeouts and retries); the status, the reply (a 2xx must be a JSON object, a DAG run for .../dagRuns, else 08P01; an error status gives only its problem document''s title and detail, cleaned and capped) and the API version';
COMMENT ON FUNCTION @extschema@._glue_call(text, text, text) IS
	'internal: one signed Glue request (its credentials, timeouts, throttling retries); the status, the reply (a 2xx must be a JSON object, with a JobRunId for StartJobRun, else 08P01; an error status gives only Glue''s error type and message, cleaned and capped) and the Glue error type';

---------------------------------------------------------------------------
-- Time zones, dates and styles: nothing depends on the session
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- Security: user code, operators, secrets, hosts
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- Alerting: keys, references, Slack text
---------------------------------------------------------------------------
