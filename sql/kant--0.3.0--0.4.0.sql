/* kant 0.3.0 -> 0.4.0: the HTTP layer the collectors use (libcurl, in C) */

\echo Use "ALTER EXTENSION kant UPDATE TO '0.4.0'" to load this file. \quit

CREATE FUNCTION @extschema@.http_get(url text) RETURNS text
	AS 'MODULE_PATHNAME', 'kant_http_get'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.http_get(text) IS
	'GET a URL from the server through kant''s HTTP layer (timeouts, size cap, retries, cancel): to check that an endpoint is reachable from the database; raises on failure';

CREATE FUNCTION @extschema@.http_fetch(urls text[], max_parallel integer DEFAULT NULL,
		OUT url text, OUT status integer, OUT attempts integer, OUT retry_wait_ms integer,
		OUT body text, OUT error text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'kant_http_fetch'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.http_fetch(text[], integer) IS
	'GET many URLs at once (at most max_parallel in flight, default kant.http_max_parallel), each with retries; one row per URL with its status, attempts, time waited between retries, body or error';

-- talking to arbitrary URLs from the server is for administrators only
REVOKE ALL ON FUNCTION @extschema@.http_get(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.http_fetch(text[], integer) FROM PUBLIC;
