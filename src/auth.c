/*
 * auth.c
 *	  Credentials as the clouds issue them: obtained from a source, cached
 *	  until shortly before they expire, refreshed once when a server refuses
 *	  them.
 *
 * Sources (kant.credential_source, chosen with kant.set_credential_source):
 *
 *	aws_instance	EC2's instance role through IMDSv2: PUT /latest/api/token,
 *					then GET .../meta-data/iam/security-credentials/<role>
 *					(botocore.utils.InstanceMetadataFetcher)
 *	aws_container	ECS task role / EKS Pod Identity: the server's
 *					AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI, with
 *					AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]
 *					(botocore.credentials.ContainerProvider)
 *	aws_assume_role	STS AssumeRole, SigV4-signed (by libcurl) with the keys of a
 *					base source (botocore AssumeRoleProvider)
 *	aws_web_identity STS AssumeRoleWithWebIdentity with a token file (EKS IRSA)
 *					or a Google ID token from the metadata server: the GCP to
 *					AWS case (botocore AssumeRoleWithWebIdentityProvider)
 *	google_metadata	the GCE/GKE metadata server's access token
 *					(google.auth.compute_engine.Credentials)
 *	google_service_account	an RS256 JWT assertion signed with a service
 *					account's key (OpenSSL's libcrypto), exchanged at the key's
 *					token_uri (RFC 7523; google.oauth2.service_account)
 *
 * and, for a static user and password on Airflow 3, the JWT of /auth/token.
 *
 * The cache is kant.token_cache, an unlogged table only the extension owner
 * reads: pg_cron runs each job in a new backend, so a backend's memory would
 * not outlive a run, and shared memory would need kant preloaded.  Unlogged,
 * a token is never in WAL, on a standby or in a base backup.  A refresh takes
 * the advisory lock KANT_LOCK_TOKEN of the system, then reads the cache
 * again: concurrent requests that find it stale wait for one refresh and use
 * its result once it commits (the holder's transaction end).
 *
 * Nothing here puts a secret in a message, a log line or SQL text: secrets
 * reach SPI as parameters only, and errors name the source, the host and
 * the issuer's error code.
 */
#include "postgres.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "collect_int.h"
#include "locks.h"

char	   *kant_aws_metadata_endpoint = NULL;
char	   *kant_google_metadata_endpoint = NULL;
char	   *kant_google_iam_endpoint = NULL;
int			kant_token_refresh_margin = 300;

#define GOOGLE_SCOPE		"https://www.googleapis.com/auth/cloud-platform"
#define GOOGLE_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define TOKEN_MAX			16384

void
kant_auth_define_gucs(void)
{
	DefineCustomStringVariable("kant.aws_metadata_endpoint",
							   "Where the EC2 instance metadata service (IMDSv2) answers.",
							   "Credential source aws_instance reads the instance role's keys there; "
							   "kant.allowed_hosts does not judge it (it is link-local) and only a "
							   "superuser may change it, as botocore's AWS_EC2_METADATA_SERVICE_ENDPOINT.",
							   &kant_aws_metadata_endpoint, "http://169.254.169.254",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("kant.google_metadata_endpoint",
							   "Where the GCE/GKE metadata server answers.",
							   "Credential source google_metadata, and aws_web_identity with an audience, "
							   "read tokens there; kant.allowed_hosts does not judge it and only a "
							   "superuser may change it, as google-auth's GCE_METADATA_HOST.",
							   &kant_google_metadata_endpoint, "http://metadata.google.internal",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("kant.google_iam_endpoint",
							   "Where Google's IAM Service Account Credentials API answers.",
							   "A Google credential source with impersonate asks it for the impersonated "
							   "service account's token (generateAccessToken); only a superuser may change it.",
							   &kant_google_iam_endpoint, "https://iamcredentials.googleapis.com",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kant.token_refresh_margin",
							"How long before a cached token expires kant obtains a new one.",
							"At most half the token's lifetime.",
							&kant_token_refresh_margin, 300, 0, 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

/* ------------------------------------------------------------ the source */

/* The source's columns of collect_load_system's row, from first_col on (NULL source: static). */
void
auth_load_source(Collector *g, HeapTuple t, TupleDesc d, int first_col)
{
	char	   *source = collect_spi_text(t, d, first_col);
	CredSource *cs;
	char	   *dur;

	g->auth_cxt = CurrentMemoryContext;
	/*
	 * Which settings a token was obtained with: the row versions (xmin) of
	 * the source and the static credentials.  Any change since, committed
	 * in whatever order, makes a cached token unusable.
	 */
	g->auth_version = collect_spi_text(t, d, first_col + 13);
	if (source == NULL)
		return;
	cs = palloc0(sizeof(CredSource));
	cs->source = source;
	cs->base_source = collect_spi_text(t, d, first_col + 1);
	cs->role_arn = collect_spi_text(t, d, first_col + 2);
	cs->role_session_name = collect_spi_text(t, d, first_col + 3);
	cs->external_id = collect_spi_text(t, d, first_col + 4);
	dur = collect_spi_text(t, d, first_col + 5);
	cs->duration_seconds = dur ? atoi(dur) : 0;
	cs->token_file = collect_spi_text(t, d, first_col + 6);
	cs->audience = collect_spi_text(t, d, first_col + 7);
	cs->key_file = collect_spi_text(t, d, first_col + 8);
	cs->scopes = collect_spi_text(t, d, first_col + 9);
	cs->sts_endpoint = collect_spi_text(t, d, first_col + 10);
	cs->bound_to = collect_spi_text(t, d, first_col + 11);
	cs->impersonate = collect_spi_text(t, d, first_col + 12);
	g->cs = cs;
}

/* ---------------------------------------------------------------- cache */

/*
 * Run a statement whose parameters hold a secret with a generic plan: a
 * custom plan folds the values into constants, which EXPLAIN (auto_explain
 * with log_nested_statements) would write to the server log.
 */
static int
spi_exec_generic(const char *sql, int nargs, Oid *argt, Datum *argv, const char *nulls, long count)
{
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argt, CURSOR_OPT_GENERIC_PLAN);
	int			rc;

	if (p == NULL)
		elog(ERROR, "kant: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	rc = SPI_execute_plan(p, argv, nulls, false, count);
	SPI_freeplan(p);
	return rc;
}

/* The cached credentials of the system from this source, if good for longer than the margin. */
static bool
cache_get(Collector *g, Creds *c)
{
	Oid			argt[5] = {INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
	Datum		argv[5] = {Int32GetDatum(g->system_id), CStringGetTextDatum(g->auth_source),
		CStringGetTextDatum(g->target ? g->target : ""), Int32GetDatum(kant_token_refresh_margin),
	CStringGetTextDatum(g->auth_version ? g->auth_version : "")};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;

	if (SPI_execute_with_args("SELECT principal, secret, session_token, expires_at FROM kant.token_cache"
							  " WHERE system_id = $1 AND source = $2 AND bound_to = $3 AND settings = $5"
							  " AND expires_at > clock_timestamp()"
							  " + least(make_interval(secs => $4), (expires_at - obtained_at) / 2)",
							  5, argt, argv, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the token cache failed");
	if (SPI_processed == 0)
		return false;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	c->principal = collect_spi_text(t, d, 1);
	c->secret = collect_spi_text(t, d, 2);
	c->session_token = collect_spi_text(t, d, 3);
	c->expires = DatumGetTimestampTz(SPI_getbinval(t, d, 4, &isnull));
	return true;
}

static void
cache_put(Collector *g, Creds *c)
{
	Oid			argt[8] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		argv[8];
	char		nulls[8] = "        ";

	argv[0] = Int32GetDatum(g->system_id);
	argv[1] = CStringGetTextDatum(g->auth_source);
	argv[2] = c->principal ? CStringGetTextDatum(c->principal) : (Datum) 0;
	nulls[2] = c->principal ? ' ' : 'n';
	argv[3] = CStringGetTextDatum(c->secret);
	argv[4] = c->session_token ? CStringGetTextDatum(c->session_token) : (Datum) 0;
	nulls[4] = c->session_token ? ' ' : 'n';
	argv[5] = TimestampTzGetDatum(c->expires);
	argv[6] = CStringGetTextDatum(g->target ? g->target : "");
	argv[7] = CStringGetTextDatum(g->auth_version ? g->auth_version : "");
	if (spi_exec_generic("INSERT INTO kant.token_cache AS c (system_id, source, principal, secret,"
						 " session_token, expires_at, obtained_at, bound_to, settings)"
						 " VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), $7, $8)"
						 " ON CONFLICT (system_id) DO UPDATE SET source = excluded.source,"
						 " principal = excluded.principal, secret = excluded.secret,"
						 " session_token = excluded.session_token, expires_at = excluded.expires_at,"
						 " obtained_at = excluded.obtained_at, bound_to = excluded.bound_to,"
						 " settings = excluded.settings",
						 8, argt, argv, nulls, 0) != SPI_OK_INSERT)
		elog(ERROR, "kant: writing the token cache failed");
}

/*
 * The backend's own copies of what it obtained, for when it could not take
 * the token lock (a refresh in a long transaction holds it) and so did not
 * cache them: its later calls in this session use them rather than waiting
 * and fetching again.  Kept in TopMemoryContext, wiped when replaced.
 */
#define LOCAL_TOKENS	16

typedef struct LocalToken
{
	int32		system_id;		/* 0: free */
	char	   *source;
	char	   *version;
	char	   *target;
	Creds		c;
	TimestampTz obtained;
} LocalToken;

static LocalToken local_tokens[LOCAL_TOKENS];

static void
wipe_free(char *s)
{
	if (s)
	{
		explicit_bzero(s, strlen(s));
		pfree(s);
	}
}

static bool
same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool
local_get(Collector *g, Creds *c)
{
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	for (i = 0; i < LOCAL_TOKENS; i++)
	{
		LocalToken *t = &local_tokens[i];
		int64		margin;

		if (t->system_id != g->system_id || !same_str(t->source, g->auth_source) ||
			!same_str(t->version, g->auth_version) || !same_str(t->target, g->target))
			continue;
		margin = Min((int64) kant_token_refresh_margin * USECS_PER_SEC, (t->c.expires - t->obtained) / 2);
		if (t->c.expires - margin <= now)
			return false;
		c->principal = t->c.principal ? pstrdup(t->c.principal) : NULL;
		c->secret = pstrdup(t->c.secret);
		c->session_token = t->c.session_token ? pstrdup(t->c.session_token) : NULL;
		c->expires = t->c.expires;
		return true;
	}
	return false;
}

static void
local_put(Collector *g, Creds *c)
{
	LocalToken *t = NULL;
	int			i;

	/* the system's entry, else a free one, else the oldest */
	for (i = 0; i < LOCAL_TOKENS && t == NULL; i++)
		if (local_tokens[i].system_id == g->system_id)
			t = &local_tokens[i];
	for (i = 0; i < LOCAL_TOKENS && t == NULL; i++)
		if (local_tokens[i].system_id == 0)
			t = &local_tokens[i];
	if (t == NULL)
	{
		t = &local_tokens[0];
		for (i = 1; i < LOCAL_TOKENS; i++)
			if (local_tokens[i].obtained < t->obtained)
				t = &local_tokens[i];
	}
	wipe_free(t->source);
	wipe_free(t->version);
	wipe_free(t->target);
	wipe_free(t->c.principal);
	wipe_free(t->c.secret);
	wipe_free(t->c.session_token);
	t->system_id = g->system_id;
	t->source = MemoryContextStrdup(TopMemoryContext, g->auth_source);
	t->version = MemoryContextStrdup(TopMemoryContext, g->auth_version ? g->auth_version : "");
	t->target = MemoryContextStrdup(TopMemoryContext, g->target ? g->target : "");
	t->c.principal = c->principal ? MemoryContextStrdup(TopMemoryContext, c->principal) : NULL;
	t->c.secret = MemoryContextStrdup(TopMemoryContext, c->secret);
	t->c.session_token = c->session_token ? MemoryContextStrdup(TopMemoryContext, c->session_token) : NULL;
	t->c.expires = c->expires;
	t->obtained = GetCurrentTimestamp();
}

/* Use them: SigV4 keys and session token for AWS, a bearer token for Airflow. */
static void
apply(Collector *g, Creds *c)
{
	MemoryContext old = MemoryContextSwitchTo(g->auth_cxt);

	g->auth_expires = c->expires;
	if (c->principal)
	{
		g->userpwd = psprintf("%s:%s", c->principal, c->secret);
		g->token_header = c->session_token ? psprintf("X-Amz-Security-Token: %s", c->session_token) : NULL;
		g->auth_used = pstrdup(c->principal);
	}
	else
	{
		g->auth_header = psprintf("Authorization: Bearer %s", c->secret);
		g->userpwd = NULL;
		g->auth_used = pstrdup(c->secret);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The system's token lock, waited for at most TOKEN_LOCK_WAIT_MS.  It is a
 * transaction lock (what it guards is a row that others see when the holder
 * commits), so a holder in a long transaction -- a collection -- would
 * otherwise hold every other caller of the system for its whole length.
 */
#define TOKEN_LOCK_WAIT_MS	3000

static bool
token_lock(Collector *g)
{
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), TOKEN_LOCK_WAIT_MS);
	bool		isnull;

	for (;;)
	{
		if (SPI_execute_with_args("SELECT pg_try_advisory_xact_lock(" CppAsString2(KANT_LOCK_TOKEN) ", $1)",
								  1, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: locking the token cache failed");
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			return true;
		if (GetCurrentTimestamp() >= until)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Credentials from the cache, else from the source, once per system at a
 * time (unless the one refreshing is in a long transaction: then after
 * TOKEN_LOCK_WAIT_MS a caller obtains its own and does not cache them).  failed: what a server just refused (NULL: none): a cached value
 * other than it was refreshed meanwhile by someone else and is used.
 */
static void
obtain(Collector *g, const char *failed)
{
	Creds		c;
	const char *saved_vendor = g->vendor;
	const char *saved_op = g->op;
	bool		locked;

	memset(&c, 0, sizeof(c));
	if (failed == NULL && (cache_get(g, &c) || local_get(g, &c)))
	{
		apply(g, &c);
		return;
	}
	locked = token_lock(g);
	if (locked && cache_get(g, &c) &&
		(failed == NULL || strcmp(c.principal ? c.principal : c.secret, failed) != 0))
	{
		apply(g, &c);
		return;
	}
	memset(&c, 0, sizeof(c));
	g->auth_fetch(g, &c);
	g->auth_fetched = true;
	g->vendor = saved_vendor;
	g->op = saved_op;
	/* without the lock another refresh holds an uncommitted row: INSERT would wait for it */
	if (locked)
		cache_put(g, &c);
	else
		local_put(g, &c);
	apply(g, &c);
}

/* ------------------------------------------------------------- helpers */

/*
 * A source's endpoint that kant.allowed_hosts refuses: say which one it is
 * (a key's token_uri, STS, IAM Credentials), not only its host.
 */
static void
check_source_host(Collector *g, const char *url, const char *what)
{
	char		why[200];

	if (!kant_http_host_allowed_url(url, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("kant: %s of system \"%s\" cannot be reached: %s", what, g->system, why),
				 errhint("A superuser decides which hosts kant may reach (kant.allowed_hosts): a credential source's token endpoint, STS or IAM host must be allowed as the system's endpoint is.")));
}

/* One request of a source, sent now; metadata: to a metadata endpoint (see http.h). */
static KantHttpRequest *
send_one(Collector *g, const char *method, const char *url, List *headers, const char *body,
		 bool metadata)
{
	KantHttpRequest *req = palloc0(sizeof(KantHttpRequest));
	KantHttpOptions opt = g->opt;

	req->method = method;
	req->url = url;
	req->headers = headers;
	req->body = body;
	req->body_len = body ? strlen(body) : 0;
	req->metadata = metadata;
	if (metadata)
	{
		/* botocore and google-auth give a metadata server 1-3 s: it is local or absent */
		opt.connect_timeout_ms = Min(opt.connect_timeout_ms, 2000);
		opt.timeout_ms = Min(opt.timeout_ms, 5000);
		opt.max_retries = Min(opt.max_retries, 2);
	}
	kant_http_perform(&req, 1, &opt, NULL, NULL);
	collect_count_attempts(g, req);
	return req;
}

/* A source's endpoint could not be reached, or answered an error kant does not read. */
static void
source_failed(Collector *g, KantHttpRequest *req, const char *what, const char *hint)
{
	if (req->blocked || req->too_large || req->curl_code != 0)
	{
		if (req->blocked || req->too_large)
			kant_http_raise(req, what);
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("kant: %s of system \"%s\": %s is unreachable", what, g->system, req->host),
				 errdetail("%s", req->error),
				 errhint("%s", hint)));
	}
	ereport(ERROR,
			(errcode(req->status == 401 || req->status == 403 ?
					 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("kant: %s of system \"%s\": %s answered HTTP %ld", what, g->system, req->host, req->status),
			 errdetail("The reply (%zu bytes) is not shown: it may hold credentials.", req->response_len),
			 errhint("%s", hint)));
}

/* application/x-www-form-urlencoded value (RFC 3986 unreserved kept). */
static void
append_form(StringInfo b, const char *name, const char *value)
{
	if (b->len > 0)
		appendStringInfoChar(b, '&');
	appendStringInfo(b, "%s=", name);
	collect_percent_encode(b, value);
}

/*
 * An RFC 3339 time an issuer gave ("2026-11-30T08:00:00Z", with a zone: one
 * without would be read in the session's TimeZone); the error names the
 * issuer and the system.
 */
static TimestampTz
issuer_time(Collector *g, const char *s, const char *what)
{
	const char *p;
	size_t		n = s ? strlen(s) : 0;
	volatile bool ok = n >= 20 && n <= 40 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') &&
		(s[n - 1] == 'Z' || s[n - 1] == 'z' || (n >= 6 && (s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':'));
	volatile TimestampTz t = 0;
	MemoryContext cxt = CurrentMemoryContext;

	for (p = s; ok && *p; p++)
		if (!((*p >= '0' && *p <= '9') || strchr("-:TtZz.+", *p)))
			ok = false;
	if (ok)
	{
		PG_TRY();
		{
			t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
														ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
			ok = false;
		}
		PG_END_TRY();
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: %s gave system \"%s\" an expiration time that is not an RFC 3339 time with a zone",
						what, g->system)));
	return t;
}

/* AWS keys as they are: an access key id of word characters, the rest printable without spaces. */
static void
check_aws_keys(Collector *g, Creds *c, const char *what)
{
	const char *p;
	bool		ok = c->principal && strlen(c->principal) >= 16 && strlen(c->principal) <= 128 &&
		c->secret && c->secret[0] && c->session_token && c->session_token[0];

	for (p = c->principal; ok && *p; p++)
		ok = isalnum((unsigned char) *p) || *p == '_';
	for (p = c->secret; ok && *p; p++)
		ok = *p > ' ' && *p < 0x7f;
	for (p = c->session_token; ok && *p; p++)
		ok = *p > ' ' && *p < 0x7f;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: %s gave system \"%s\" keys that are not AWS keys", what, g->system),
				 errdetail("An AccessKeyId is 16 to 128 word characters; SecretAccessKey and the session token are printable, without spaces.")));
}

/* Now plus seconds the issuer said (expires_in). */
static TimestampTz
after_seconds(double s)
{
	if (!(s > 0 && s < 86400.0 * 366))
		s = 300;				/* an issuer that says nothing usable: keep it briefly */
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) (s * 1000));
}

/* The base64url of bytes, unpadded (RFC 7515 section 2). */
static char *
b64url(const unsigned char *src, int len)
{
	char	   *out = palloc(pg_b64_enc_len(len) + 1);
	int			n = pg_b64_encode((const char *) src, len, out, pg_b64_enc_len(len));
	int			i;

	if (n < 0)
		elog(ERROR, "kant: base64 encoding failed");
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

/* -------------------------------------------------------------- Google */

/* Google's OAuth 2.0 error ({"error", "error_description"}, RFC 6749 section 5.2) as an ERROR. */
static void
google_refused(Collector *g, KantHttpRequest *req, const char *what)
{
	JsonbContainer *doc = reply_error_doc(req);
	char	   *error = reply_doc_text(doc, "error");
	char	   *desc = reply_doc_text(doc, "error_description");
	const char *hint;

	if (req->curl_code != 0 || error == NULL)
		source_failed(g, req, what, "Check the key's token_uri and that kant.allowed_hosts lets kant reach it.");
	if (desc && strstr(desc, "timeframe"))
		hint = "Google judges iat and exp by its clock: the server's clock is off (check NTP).";
	else if (strcmp(error, "invalid_grant") == 0)
		hint = "The key was deleted or disabled, or the service account was: create a new key (gcloud iam service-accounts keys create) and put it in the key file.";
	else if (strcmp(error, "invalid_scope") == 0)
		hint = "Give scopes Google knows, e.g. https://www.googleapis.com/auth/cloud-platform.";
	else
		hint = "See Google's OAuth 2.0 error codes (RFC 6749 section 5.2).";
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("kant: %s of system \"%s\": %s refused it: %s", what, g->system, req->host, error),
			 desc ? errdetail("%s", desc) : 0,
			 errhint("%s", hint)));
}

/* A bearer token as RFC 6750 section 2.1 writes it (b64token), non-empty. */
bool
auth_bearer_ok(const char *tok)
{
	return tok[0] != '\0' &&
		strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") == strlen(tok);
}

/* {"access_token", "expires_in"} of Google's token endpoint or the metadata server. */
static void
google_token_reply(Collector *g, KantHttpRequest *req, Creds *out)
{
	Reply		r;
	double		expires_in = 0;

	reply_read(&r, g, req);
	out->secret = reply_get_string(&r, r.root, NULL, "access_token", true, TOKEN_MAX);
	if (!auth_bearer_ok(out->secret))
		reply_unusable(&r, "access_token is not a bearer token (RFC 6750 b64token)");
	reply_get_number(&r, r.root, NULL, "expires_in", &expires_in);
	out->expires = after_seconds(expires_in);
	memset(req->response, 0, req->response_len);
}

static List *
metadata_headers(void)
{
	/* google-auth's _metadata._METADATA_HEADERS: the server refuses requests without it */
	return list_make1(pstrdup("Metadata-Flavor: Google"));
}

static char *
metadata_url(const char *path)
{
	const char *ep = kant_google_metadata_endpoint && *kant_google_metadata_endpoint ?
		kant_google_metadata_endpoint : "http://metadata.google.internal";
	int			len = strlen(ep);

	while (len > 0 && ep[len - 1] == '/')
		len--;
	return psprintf("%.*s/computeMetadata/v1/instance/service-accounts/default/%s", len, ep, path);
}

#define GOOGLE_METADATA_HINT \
	"Is PostgreSQL running on a GCE VM or a GKE pod with a service account attached? kant.google_metadata_endpoint says where the metadata server is."

/* google_metadata: GET .../service-accounts/default/token?scopes=... */
static void
fetch_google_metadata(Collector *g, Creds *out)
{
	StringInfoData q;
	KantHttpRequest *req;
	char	   *scopes = pstrdup(g->cs->scopes ? g->cs->scopes : GOOGLE_SCOPE);
	char	   *p;

	/* the metadata server takes scopes comma-separated (google-auth _metadata.get_service_account_token) */
	for (p = scopes; *p; p++)
		if (*p == ' ')
			*p = ',';
	initStringInfo(&q);
	append_form(&q, "scopes", scopes);
	g->vendor = "the GCE metadata server";
	g->op = "GET token";
	req = send_one(g, "GET", metadata_url(psprintf("token?%s", q.data)), metadata_headers(), NULL, true);
	if (kant_http_failed(req))
		source_failed(g, req, "the GCE metadata server's token", GOOGLE_METADATA_HINT);
	google_token_reply(g, req, out);
}

/*
 * The service-account key file's fields.  Its contents never reach a
 * message: a file that is not such a key is said to be so, nothing more.
 */
typedef struct SaKey
{
	char	   *client_email;
	char	   *private_key;
	char	   *private_key_id;
	char	   *token_uri;
} SaKey;

static char *
key_field(JsonbContainer *root, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = root ? json_get(root, key, &buf) : NULL;

	return v && v->type == jbvString && v->val.string.len > 0 ?
		pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

static void
read_sa_key(Collector *g, SaKey *k)
{
	char	   *text = kant_secret_value(g->cs->key_file, 'f', "service-account key", g->system);
	Jsonb	   *j = NULL;
	JsonbContainer *root = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *type;

	PG_TRY();
	{
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		/* jsonb_in's message quotes the text: it must not reach the log */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		j = NULL;
	}
	PG_END_TRY();
	explicit_bzero(text, strlen(text));
	if (j && JB_ROOT_IS_OBJECT(j))
		root = &j->root;
	type = key_field(root, "type");
	k->client_email = key_field(root, "client_email");
	k->private_key = key_field(root, "private_key");
	k->private_key_id = key_field(root, "private_key_id");
	k->token_uri = key_field(root, "token_uri");
	if (j)
		explicit_bzero(VARDATA(j), VARSIZE(j) - VARHDRSZ);
	if (root == NULL || type == NULL || strcmp(type, "service_account") != 0 ||
		k->client_email == NULL || k->private_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: secret file \"%s\" of system \"%s\" is not a service-account key",
						g->cs->key_file, g->system),
				 errdetail("%s", root == NULL ? "It is not a JSON object." :
						   type == NULL || strcmp(type, "service_account") != 0 ?
						   "Its \"type\" is not \"service_account\"." :
						   "It lacks \"client_email\" or \"private_key\"."),
				 errhint("Put the JSON key Google gives (IAM > Service accounts > Keys > Add key > JSON, or gcloud iam service-accounts keys create) in the file, unchanged.")));
	if (k->token_uri == NULL)
		k->token_uri = pstrdup(GOOGLE_TOKEN_URI);
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;					/* never prompt on the server's terminal */
}

/*
 * RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 section 3.3) over data
 * with the PEM private key, by libcrypto.  Returns the signature's base64url,
 * or NULL with *why; no ereport between the OpenSSL calls, so nothing of
 * theirs is left behind.
 */
static char *
rs256(const char *pem, const char *data, const char **why)
{
	BIO		   *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY   *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	size_t		siglen = 0;
	char	   *out = NULL;

	*why = NULL;
	if (bio == NULL)
		*why = "out of memory";
	else if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)) == NULL)
		*why = "its private_key is not an unencrypted PEM private key";
	else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
		*why = "its private_key is not an RSA key (RS256 needs one)";
	else if ((ctx = EVP_MD_CTX_new()) == NULL ||
			 EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
			 EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) data, strlen(data)) != 1 ||
			 (sig = malloc(siglen)) == NULL ||
			 EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) data, strlen(data)) != 1)
		*why = "signing with its private_key failed";
	ERR_clear_error();
	if (ctx)
		EVP_MD_CTX_free(ctx);
	if (pkey)
		EVP_PKEY_free(pkey);
	if (bio)
		BIO_free(bio);
	if (*why == NULL)
		out = b64url(sig, (int) siglen);
	free(sig);
	return out;
}

/*
 * google_service_account: the JWT assertion of Google's "Using OAuth 2.0
 * for Server to Server Applications" (google.oauth2.service_account's
 * _make_authorization_grant_assertion: iss the client email, scope, aud the
 * token URI, iat now, exp an hour on; kid the key id), exchanged at the
 * key's token_uri with grant_type jwt-bearer (RFC 7523 section 2.1).
 */
static void
fetch_google_service_account(Collector *g, Creds *out)
{
	SaKey		k;
	StringInfoData h,
				c,
				body;
	char	   *signing;
	char	   *sig;
	const char *why;
	int64		now = (int64) time(NULL);
	KantHttpRequest *req;

	memset(&k, 0, sizeof(k));
	read_sa_key(g, &k);
	initStringInfo(&h);
	appendStringInfoString(&h, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (k.private_key_id)
	{
		appendStringInfoString(&h, ",\"kid\":");
		escape_json(&h, k.private_key_id);
	}
	appendStringInfoChar(&h, '}');
	initStringInfo(&c);
	appendStringInfoString(&c, "{\"iss\":");
	escape_json(&c, k.client_email);
	appendStringInfoString(&c, ",\"scope\":");
	escape_json(&c, g->cs->scopes ? g->cs->scopes : GOOGLE_SCOPE);
	appendStringInfoString(&c, ",\"aud\":");
	escape_json(&c, k.token_uri);
	appendStringInfo(&c, ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}", now, now + 3600);
	signing = psprintf("%s.%s", b64url((unsigned char *) h.data, h.len), b64url((unsigned char *) c.data, c.len));
	sig = rs256(k.private_key, signing, &why);
	explicit_bzero(k.private_key, strlen(k.private_key));
	if (sig == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: the service-account key of system \"%s\" (secret file \"%s\") is malformed: %s",
						g->system, g->cs->key_file, why),
				 errhint("Put the JSON key Google gives in the file, unchanged: its private_key is a PEM \"-----BEGIN PRIVATE KEY-----\" block.")));
	check_source_host(g, k.token_uri, psprintf("the token endpoint of service account %s (the key's token_uri)",
											   k.client_email));
	initStringInfo(&body);
	append_form(&body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
	append_form(&body, "assertion", psprintf("%s.%s", signing, sig));
	g->vendor = "Google's token endpoint";
	g->op = "POST token";
	req = send_one(g, "POST", k.token_uri,
				   list_make2(pstrdup("Content-Type: application/x-www-form-urlencoded"),
							  pstrdup("Accept: application/json")),
				   body.data, false);
	explicit_bzero(body.data, body.len);
	if (kant_http_failed(req))
		google_refused(g, req, psprintf("the service account %s", k.client_email));
	google_token_reply(g, req, out);
}

/* A Google ID token for an audience from the metadata server (format=full: with email claims). */
static char *
google_id_token(Collector *g, const char *audience)
{
	StringInfoData q;
	KantHttpRequest *req;
	char	   *tok;

	initStringInfo(&q);
	append_form(&q, "audience", audience);
	appendStringInfoString(&q, "&format=full");
	g->vendor = "the GCE metadata server";
	g->op = "GET identity";
	req = send_one(g, "GET", metadata_url(psprintf("identity?%s", q.data)), metadata_headers(), NULL, true);
	if (kant_http_failed(req))
		source_failed(g, req, "the GCE metadata server's ID token", GOOGLE_METADATA_HINT);
	tok = pnstrdup(req->response, req->response_len);
	while (*tok && (tok[strlen(tok) - 1] == '\n' || tok[strlen(tok) - 1] == '\r'))
		tok[strlen(tok) - 1] = '\0';
	/* a JWS compact serialization: three base64url parts */
	if (strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(tok) ||
		strchr(tok, '.') == NULL || strlen(tok) > TOKEN_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: the GCE metadata server at %s gave system \"%s\" an ID token that is not a JWT",
						req->host, g->system)));
	return tok;
}

/*
 * Impersonation: the source's token asks IAM Service Account Credentials
 * for another service account's (projects.serviceAccounts.generateAccessToken:
 * POST .../v1/projects/-/serviceAccounts/{email}:generateAccessToken with
 * {"scope": [...], "lifetime": "3600s"}, answered {"accessToken",
 * "expireTime"}; google-auth's impersonated_credentials.Credentials).  The
 * source's identity needs roles/iam.serviceAccountTokenCreator on it.
 */
static void
fetch_google_impersonated(Collector *g, Creds *out)
{
	Creds		base;
	StringInfoData body;
	char	   *scopes = pstrdup(g->cs->scopes ? g->cs->scopes : GOOGLE_SCOPE);
	char	   *tok;
	char	   *save = NULL;
	bool		first = true;
	const char *ep = kant_google_iam_endpoint && *kant_google_iam_endpoint ?
		kant_google_iam_endpoint : "https://iamcredentials.googleapis.com";
	int			len = strlen(ep);
	KantHttpRequest *req;
	Reply		r;

	memset(&base, 0, sizeof(base));
	if (strcmp(g->cs->source, "google_metadata") == 0)
		fetch_google_metadata(g, &base);
	else
		fetch_google_service_account(g, &base);
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"scope\": [");
	for (tok = strtok_r(scopes, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
	{
		if (!first)
			appendStringInfoString(&body, ", ");
		escape_json(&body, tok);
		first = false;
	}
	appendStringInfoString(&body, "], \"lifetime\": \"3600s\"}");
	while (len > 0 && ep[len - 1] == '/')
		len--;
	g->vendor = "Google IAM Credentials";
	g->op = "POST generateAccessToken";
	check_source_host(g, ep, "Google's IAM Credentials API (kant.google_iam_endpoint)");
	req = send_one(g, "POST",
				   psprintf("%.*s/v1/projects/-/serviceAccounts/%s:generateAccessToken", len, ep,
							g->cs->impersonate),
				   list_make3(psprintf("Authorization: Bearer %s", base.secret),
							  pstrdup("Content-Type: application/json"), pstrdup("Accept: application/json")),
				   body.data, false);
	explicit_bzero(base.secret, strlen(base.secret));
	if (kant_http_failed(req))
	{
		/* Google APIs' errors: {"error": {"code", "message", "status"}} (AIP-193) */
		JsonbContainer *doc = reply_error_doc(req);
		JsonbValue	buf;
		JsonbValue *e = doc ? json_get(doc, "error", &buf) : NULL;
		char	   *status = NULL;
		char	   *message = NULL;

		if (e && e->type == jbvBinary && JsonContainerIsObject(e->val.binary.data))
		{
			status = reply_doc_text(e->val.binary.data, "status");
			message = reply_doc_text(e->val.binary.data, "message");
		}
		if (req->curl_code != 0 || status == NULL)
			source_failed(g, req, psprintf("impersonating %s", g->cs->impersonate),
						  "Check kant.google_iam_endpoint and kant.allowed_hosts.");
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: impersonating %s for system \"%s\" failed with HTTP %ld: %s",
						g->cs->impersonate, g->system, req->status, status),
				 message ? errdetail("%s", message) : 0,
				 errhint("The source's identity needs roles/iam.serviceAccountTokenCreator (iam.serviceAccounts.getAccessToken) on %s, and the IAM Service Account Credentials API enabled in its project.",
						 g->cs->impersonate)));
	}
	reply_read(&r, g, req);
	out->secret = reply_get_string(&r, r.root, NULL, "accessToken", true, TOKEN_MAX);
	if (!auth_bearer_ok(out->secret))
		reply_unusable(&r, "accessToken is not a bearer token (RFC 6750 b64token)");
	out->expires = issuer_time(g, reply_get_string(&r, r.root, NULL, "expireTime", true, 40), g->vendor);
	memset(req->response, 0, req->response_len);
}

/* ----------------------------------------------------------------- AWS */

#define IMDS_HINT \
	"Is PostgreSQL running on EC2 with an instance profile, IMDSv2 reachable (hop limit 2 in a container)? kant.aws_metadata_endpoint says where IMDS is."

/* {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}: IMDS's and the container endpoint's JSON. */
static void
aws_json_keys(Collector *g, KantHttpRequest *req, Creds *out)
{
	Reply		r;
	char	   *code;

	reply_read(&r, g, req);
	code = reply_get_string(&r, r.root, NULL, "Code", false, 100);
	if (code && strcmp(code, "Success") != 0)
		reply_unusable(&r, "Code is \"%s\", not \"Success\"", code);
	out->principal = reply_get_string(&r, r.root, NULL, "AccessKeyId", true, 128);
	out->secret = reply_get_string(&r, r.root, NULL, "SecretAccessKey", true, 1024);
	out->session_token = reply_get_string(&r, r.root, NULL, "Token", true, TOKEN_MAX);
	out->expires = issuer_time(g, reply_get_string(&r, r.root, NULL, "Expiration", true, 40),
							   g->vendor);
	check_aws_keys(g, out, g->vendor);
	memset(req->response, 0, req->response_len);
}

static char *
imds_url(const char *path)
{
	const char *ep = kant_aws_metadata_endpoint && *kant_aws_metadata_endpoint ?
		kant_aws_metadata_endpoint : "http://169.254.169.254";
	int			len = strlen(ep);

	while (len > 0 && ep[len - 1] == '/')
		len--;
	return psprintf("%.*s%s", len, ep, path);
}

/* IMDSv2 (AWS "Use the Instance Metadata Service to access instance metadata"). */
static void
fetch_aws_instance(Collector *g, Creds *out)
{
	KantHttpRequest *req;
	char	   *token;
	char	   *role;
	List	   *h;

	g->vendor = "EC2 instance metadata (IMDSv2)";
	g->op = "PUT /latest/api/token";
	req = send_one(g, "PUT", imds_url("/latest/api/token"),
				   list_make1(pstrdup("X-aws-ec2-metadata-token-ttl-seconds: 21600")), "", true);
	if (kant_http_failed(req))
		source_failed(g, req, "the EC2 instance role", IMDS_HINT);
	token = pnstrdup(req->response, req->response_len);
	if (token[0] == '\0' || strpbrk(token, "\r\n") || strlen(token) > 4096)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: the EC2 instance metadata service at %s gave system \"%s\" no session token",
						req->host, g->system)));
	h = list_make1(psprintf("X-aws-ec2-metadata-token: %s", token));
	g->op = "GET iam/security-credentials/";
	req = send_one(g, "GET", imds_url("/latest/meta-data/iam/security-credentials/"), h, NULL, true);
	if (req->curl_code == 0 && req->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: the EC2 instance of system \"%s\" has no IAM role", g->system),
				 errhint("Attach an instance profile whose role may call glue:GetJobs, glue:GetJobRuns and glue:GetTriggers.")));
	if (kant_http_failed(req))
		source_failed(g, req, "the EC2 instance role", IMDS_HINT);
	role = pnstrdup(req->response, req->response_len);
	/* one role per instance profile: the first line (botocore _get_iam_role) */
	role[strcspn(role, "\r\n")] = '\0';
	if (role[0] == '\0' || strspn(role, ".") == strlen(role) ||
		strspn(role, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") != strlen(role))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: the EC2 instance metadata service at %s named no IAM role for system \"%s\"",
						req->host, g->system)));
	g->op = "GET iam/security-credentials/<role>";
	req = send_one(g, "GET", imds_url(psprintf("/latest/meta-data/iam/security-credentials/%s", role)), h, NULL, true);
	if (kant_http_failed(req))
		source_failed(g, req, "the EC2 instance role", IMDS_HINT);
	aws_json_keys(g, req, out);
}

/*
 * May the container credentials come from this URL?  botocore's
 * ContainerMetadataFetcher._validate_allowed_url: https anywhere, http only
 * to loopback or the ECS (169.254.170.2) and EKS (169.254.170.23,
 * fd00:ec2::23) agents.
 */
static bool
container_url_ok(const char *url)
{
	static const char *const allowed[] = {"localhost", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", "[::1]"};
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	bool		ok = false;
	size_t		i;
	int			a,
				b,
				c,
				d;
	char		rest;

	/* the host curl will connect to, read by curl (user@host must not hide it) */
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER)
	{
		if (pg_strcasecmp(scheme, "https") == 0)
			ok = true;
		else if (pg_strcasecmp(scheme, "http") == 0)
		{
			/* loopback as botocore reads it: four dotted numbers 127.x.y.z */
			ok = sscanf(host, "%d.%d.%d.%d%c", &a, &b, &c, &d, &rest) == 4 && a == 127 &&
				b >= 0 && b <= 255 && c >= 0 && c <= 255 && d >= 0 && d <= 255;
			for (i = 0; !ok && i < lengthof(allowed); i++)
				ok = pg_strcasecmp(host, allowed[i]) == 0;
		}
	}
	if (user)
		curl_free(user);
	if (host)
		curl_free(host);
	if (scheme)
		curl_free(scheme);
	if (u)
		curl_url_cleanup(u);
	return ok;
}

/* ECS/EKS container credentials (AWS SDKs' "Container credential provider"). */
static void
fetch_aws_container(Collector *g, Creds *out)
{
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *token_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char	   *url;
	List	   *h = NIL;
	KantHttpRequest *req;

	g->vendor = "the container credentials endpoint";
	if (rel && *rel)
		url = psprintf("http://169.254.170.2%s", rel);	/* the relative URI wins (botocore) */
	else if (full && *full)
		url = pstrdup(full);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: system \"%s\" is to use container credentials, but the server has neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI",
						g->system),
				 errhint("ECS sets them in a task with a task role, EKS Pod Identity in a pod with an association; they must be in the environment PostgreSQL starts with.")));
	if (!container_url_ok(url))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("kant: AWS_CONTAINER_CREDENTIALS_FULL_URI of the server is not a URL container credentials may come from"),
				 errhint("As botocore: https, or http to loopback, 169.254.170.2 (ECS) or 169.254.170.23 (EKS).")));
	if (token_file && *token_file)
	{
		/* EKS Pod Identity's token file, rotated by the kubelet: read at each exchange */
		int			fd = OpenTransientFile(token_file, O_RDONLY | O_NONBLOCK | PG_BINARY);
		char		buf[TOKEN_MAX];
		ssize_t		n = 0;
		struct stat st;

		if (fd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("kant: could not read the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names for system \"%s\": %m",
							g->system)));
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (n = read(fd, buf, sizeof(buf) - 1)) < 0)
		{
			CloseTransientFile(fd);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("kant: the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names for system \"%s\" is not a readable regular file",
							g->system)));
		}
		CloseTransientFile(fd);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		h = list_make1(psprintf("Authorization: %s", buf));
		explicit_bzero(buf, sizeof(buf));
	}
	else if (token && *token)
	{
		if (strpbrk(token, "\r\n"))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kant: AWS_CONTAINER_AUTHORIZATION_TOKEN of the server holds a line break")));
		h = list_make1(psprintf("Authorization: %s", token));
	}
	h = lappend(h, pstrdup("Accept: application/json"));
	g->op = "GET credentials";
	req = send_one(g, "GET", url, h, NULL, true);
	if (kant_http_failed(req))
		source_failed(g, req, "the container credentials",
					  "Is PostgreSQL running in an ECS task with a task role, or an EKS pod with Pod Identity? The endpoint is the server's AWS_CONTAINER_CREDENTIALS_*_URI.");
	aws_json_keys(g, req, out);
}

/*
 * An STS reply's fields, where botocore's QueryParser finds them: the
 * result's Credentials (<Action>Response/<Action>Result/Credentials), or an
 * ErrorResponse's Error Code and Message; their string values (entities
 * resolved), NULL where absent.  *parsed: XML with one such place at most.
 * The document holds keys: a generic plan keeps it out of EXPLAIN output,
 * and libxml's errors (which quote it) are replaced.
 */
static void
sts_fields(Collector *g, KantHttpRequest *req, char **vals, bool *parsed)
{
	Oid			argt[1] = {TEXTOID};
	Datum		argv[1] = {PointerGetDatum(cstring_to_text_with_len(req->response, req->response_len))};
	MemoryContext cxt = CurrentMemoryContext;
	int			i;
	volatile bool ok = true;
	int			nest;

	for (i = 0; i < 6; i++)
		vals[i] = NULL;

	/*
	 * libxml's warnings (a processing instruction named xml..., a relative
	 * namespace URI) go out as WARNINGs quoting the line, keys and all
	 * (xml.c's xml_errorHandler): none is sent, to the client or the log,
	 * while the reply is parsed.  The settings are restored after.
	 */
	nest = NewGUCNestLevel();
	(void) set_config_option("client_min_messages", "error", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("log_min_messages", "error", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	PG_TRY();
	{
		if (spi_exec_generic("SELECT c.akid, c.secret, c.token, c.exp, e.code, e.message"
							 " FROM (SELECT xmlparse(document $1) AS x) d"
							 " LEFT JOIN LATERAL XMLTABLE('/*[local-name()=''AssumeRoleResponse'' or"
							 " local-name()=''AssumeRoleWithWebIdentityResponse'']/*[local-name()=''AssumeRoleResult'' or"
							 " local-name()=''AssumeRoleWithWebIdentityResult'']/*[local-name()=''Credentials'']'"
							 " PASSING d.x COLUMNS akid text PATH '*[local-name()=''AccessKeyId'']',"
							 " secret text PATH '*[local-name()=''SecretAccessKey'']',"
							 " token text PATH '*[local-name()=''SessionToken'']',"
							 " exp text PATH '*[local-name()=''Expiration'']') c ON true"
							 " LEFT JOIN LATERAL XMLTABLE('/*[local-name()=''ErrorResponse'']/*[local-name()=''Error'']'"
							 " PASSING d.x COLUMNS code text PATH '*[local-name()=''Code'']',"
							 " message text PATH '*[local-name()=''Message'']') e ON true",
							 1, argt, argv, NULL, 0) == SPI_OK_SELECT && SPI_processed == 1)
		{
			MemoryContextSwitchTo(cxt);
			for (i = 0; i < 6; i++)
				vals[i] = collect_spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
		}
		else
			ok = false;			/* several Credentials or Errors */
	}
	PG_CATCH();
	{
		/* libxml's message quotes the document, which may hold keys */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	*parsed = ok;
}

/* STS: AssumeRole signed with the base keys, or AssumeRoleWithWebIdentity unsigned. */
static void
sts_call(Collector *g, Creds *base, const char *web_token, Creds *out)
{
	StringInfoData body;
	char	   *region = g->region ? g->region : "us-east-1";
	char	   *url = g->cs->sts_endpoint ? g->cs->sts_endpoint :
		psprintf("https://sts.%s.amazonaws.com/", region);
	const char *action = web_token ? "AssumeRoleWithWebIdentity" : "AssumeRole";
	char	   *session = g->cs->role_session_name;
	KantHttpRequest *req = palloc0(sizeof(KantHttpRequest));
	char	   *v[6];
	bool		parsed;

	if (session == NULL)
	{
		char	   *p;

		/* RoleSessionName: 2-64 of [\w+=,.@-] */
		session = psprintf("kant-%.59s", g->system);
		for (p = session; *p; p++)
			if (!(isalnum((unsigned char) *p) || strchr("_+=,.@-", *p)))
				*p = '-';
	}
	initStringInfo(&body);
	append_form(&body, "Action", action);
	append_form(&body, "Version", "2011-06-15");
	append_form(&body, "RoleArn", g->cs->role_arn);
	append_form(&body, "RoleSessionName", session);
	if (g->cs->duration_seconds > 0)
		appendStringInfo(&body, "&DurationSeconds=%d", g->cs->duration_seconds);
	if (g->cs->external_id && !web_token)
		append_form(&body, "ExternalId", g->cs->external_id);
	if (web_token)
		append_form(&body, "WebIdentityToken", web_token);
	req->method = "POST";
	req->url = url;
	req->body = body.data;
	req->body_len = body.len;
	req->headers = list_make1(pstrdup("Content-Type: application/x-www-form-urlencoded; charset=utf-8"));
	if (!web_token)
	{
		req->aws_sigv4 = psprintf("aws:amz:%s:sts", region);
		req->userpwd = psprintf("%s:%s", base->principal, base->secret);
		if (base->session_token)
			req->headers = lappend(req->headers, psprintf("X-Amz-Security-Token: %s", base->session_token));
	}
	g->vendor = "AWS STS";
	g->op = action;
	check_source_host(g, url, psprintf("STS at %s", g->cs->sts_endpoint ? "sts_endpoint" : "the system's region"));
	kant_http_perform(&req, 1, &g->opt, NULL, NULL);
	collect_count_attempts(g, req);
	explicit_bzero(body.data, body.len);
	if (req->blocked || req->too_large || req->curl_code != 0)
		source_failed(g, req, psprintf("STS %s", action),
					  "Check the STS endpoint (sts_endpoint, or the system's region) and kant.allowed_hosts.");
	sts_fields(g, req, v, &parsed);
	memset(req->response, 0, req->response_len);
	if (kant_http_failed(req))
	{
		const char *code = v[4];
		const char *hint;

		if (code == NULL)
			source_failed(g, req, psprintf("STS %s", action), "The reply is not an STS error document.");
		if (strcmp(code, "AccessDenied") == 0)
			hint = web_token ?
				"The role's trust policy must let this identity assume it (sts:AssumeRoleWithWebIdentity, with the token's issuer and audience)." :
				"The base identity needs sts:AssumeRole on the role, and the role's trust policy must name it (and the ExternalId, if it asks for one).";
		else if (strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "InvalidClientTokenId") == 0)
			hint = "The base keys are wrong or deleted; or the server's clock is off (SigV4 allows 5 minutes: check NTP).";
		else if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "ExpiredTokenException") == 0)
			hint = web_token ? "The web identity token has expired: the file is not being rotated, or the server's clock is off." :
				"The base keys' session has expired.";
		else if (strcmp(code, "InvalidIdentityToken") == 0 || strcmp(code, "IDPRejectedClaim") == 0)
			hint = "The role's identity provider does not accept the token: check the provider (accounts.google.com for a Google ID token) and the audience.";
		else
			hint = "See the STS API reference for this error.";
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: STS %s for role %s of system \"%s\" failed with HTTP %ld: %s",
						action, g->cs->role_arn, g->system, req->status, code),
				 v[5] ? errdetail("%s", v[5]) : 0,
				 errhint("%s", hint)));
	}
	if (!parsed || v[0] == NULL || v[1] == NULL || v[2] == NULL || v[3] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: STS %s on %s gave system \"%s\" %s", action, req->host, g->system,
						parsed ? "no Credentials (AccessKeyId, SecretAccessKey, SessionToken, Expiration)" :
						"a reply kant cannot read (not XML, or more than one Credentials)")));
	out->principal = v[0];
	out->secret = v[1];
	out->session_token = v[2];
	check_aws_keys(g, out, "STS");
	out->expires = issuer_time(g, v[3], "STS");
}

/* The keys that sign AssumeRole: static (kant.credential), the instance's or the container's. */
static void
base_keys(Collector *g, Creds *base)
{
	memset(base, 0, sizeof(*base));
	if (strcmp(g->cs->base_source, "aws_instance") == 0)
		fetch_aws_instance(g, base);
	else if (strcmp(g->cs->base_source, "aws_container") == 0)
		fetch_aws_container(g, base);
	else
	{
		if (g->principal == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("glue system \"%s\" has no static keys to assume role %s with", g->system, g->cs->role_arn),
					 errhint("kant.set_credentials('%s', access_key_id, secret_access_key)", g->system)));
		collect_check_binding(g);
		base->principal = collect_secret(g, g->principal, "access key id");
		base->secret = collect_secret(g, g->secret, "secret access key");
		base->session_token = g->token ? collect_secret(g, g->token, "session token") : NULL;
	}
}

static void
fetch_aws_assume_role(Collector *g, Creds *out)
{
	Creds		base;

	base_keys(g, &base);
	sts_call(g, &base, NULL, out);
}

static void
fetch_aws_web_identity(Collector *g, Creds *out)
{
	char	   *tok;

	if (g->cs->token_file)
		tok = kant_secret_value(g->cs->token_file, 'f', "web identity token", g->system);
	else
		tok = google_id_token(g, g->cs->audience);
	sts_call(g, NULL, tok, out);
	explicit_bzero(tok, strlen(tok));
}

/* ------------------------------------------------------------ entry points */

/*
 * The system's credentials from its source (g->cs), cached: sets g->userpwd
 * and g->token_header (Glue) or g->auth_header (Airflow).  False for a
 * system with static credentials (the caller reads kant.credential).
 */
bool
auth_from_source(Collector *g)
{
	CredSource *cs = g->cs;

	if (cs == NULL)
		return false;
	if (cs->bound_to == NULL || g->target == NULL || strcmp(cs->bound_to, g->target) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credential source of system \"%s\" was set for %s; it now points at %s",
						g->system, cs->bound_to ? cs->bound_to : "no endpoint",
						g->target ? g->target : "no endpoint"),
				 errhint("Set it again for the new endpoint: kant.set_credential_source('%s', '%s', ...).",
						 g->system, cs->source)));
	if (strcmp(cs->source, "aws_instance") == 0)
		g->auth_fetch = fetch_aws_instance;
	else if (strcmp(cs->source, "aws_container") == 0)
		g->auth_fetch = fetch_aws_container;
	else if (strcmp(cs->source, "aws_assume_role") == 0)
		g->auth_fetch = fetch_aws_assume_role;
	else if (strcmp(cs->source, "aws_web_identity") == 0)
		g->auth_fetch = fetch_aws_web_identity;
	else if (strcmp(cs->source, "google_metadata") == 0)
		g->auth_fetch = fetch_google_metadata;
	else if (strcmp(cs->source, "google_service_account") == 0)
		g->auth_fetch = fetch_google_service_account;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kant: unknown credential source \"%s\" of system \"%s\"", cs->source, g->system)));
	if (cs->impersonate && strncmp(cs->source, "google_", 7) == 0)
		g->auth_fetch = fetch_google_impersonated;
	g->auth_source = cs->source;
	obtain(g, NULL);
	return true;
}

/* Airflow 3's JWT for a user and password (fetch: the /auth/token exchange), cached. */
void
auth_airflow_jwt(Collector *g, CredsFetch fetch)
{
	g->auth_source = "airflow_password";
	g->auth_fetch = fetch;
	obtain(g, NULL);
}

/* Did the server refuse the credentials themselves (not the caller's rights)? */
static bool
refused_credentials(Collector *g, KantHttpRequest *req)
{
	if (req->curl_code != 0)
		return false;
	if (strcmp(g->kind, "airflow") == 0)
		return airflow_refused_token(req);
	if (req->status != 400 && req->status != 403)
		return false;
	{
		char	   *message;
		char	   *type = glue_error(req, &message);

		return type && (strcmp(type, "ExpiredTokenException") == 0 ||
						strcmp(type, "UnrecognizedClientException") == 0);
	}
}

/* Put the refreshed credentials in a request made with the old ones. */
static void
reauthorize(Collector *g, KantHttpRequest *req, const char *old_auth, const char *old_token)
{
	ListCell   *lc;

	foreach(lc, req->headers)
	{
		char	   *h = lfirst(lc);

		if (old_auth && strcmp(h, old_auth) == 0 && g->auth_header)
			lfirst(lc) = g->auth_header;
		else if (old_token && strcmp(h, old_token) == 0 && g->token_header)
			lfirst(lc) = g->token_header;
	}
	if (req->userpwd && !req->basic_auth)
		req->userpwd = g->userpwd;
}

/*
 * The collectors' retry check: a request whose credentials the server
 * refused (airflow_refused_token; Glue's ExpiredTokenException or
 * UnrecognizedClientException) when they came from a source is retried once,
 * after one refresh for the whole call; anything else as before.
 */
bool
auth_retry(KantHttpRequest *req, void *arg)
{
	Collector  *g = arg;

	if (g->auth_source != NULL && refused_credentials(g, req))
	{
		char	   *old_auth = g->auth_header;
		char	   *old_token = g->token_header;

		if (req->auth_retried)
			return false;
		if (!g->auth_refreshed)
		{
			const char *op = g->op;
			const char *vendor = g->vendor;

			g->auth_refreshed = true;
			obtain(g, g->auth_used);
			g->op = op;
			g->vendor = vendor;
		}
		req->auth_retried = true;
		reauthorize(g, req, old_auth, old_token);
		return true;
	}
	/* a throttled reply to be retried: the budget halves its rate (collect.c) */
	if (collect_is_throttle(g, req))
		g->throttles++;
	if (strcmp(g->kind, "glue") == 0)
		return glue_retry(req, g);
	return kant_http_default_retry(req);
}

/*
 * When a JWT expires by its "exp" claim (RFC 7519 section 4.1.4), read
 * without verifying: it only decides when to ask again.  Without one, in
 * ten minutes.
 */
TimestampTz
auth_jwt_expiry(const char *jwt)
{
	const char *p = strchr(jwt, '.');
	const char *end = p ? strchr(p + 1, '.') : NULL;
	StringInfoData b;
	char	   *dec;
	int			n;
	Jsonb	   *j = NULL;
	JsonbValue	buf;
	JsonbValue *v;
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz fallback = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 600 * 1000);

	if (p == NULL || end == NULL || end - p - 1 > 8192)
		return fallback;
	initStringInfo(&b);
	appendBinaryStringInfo(&b, p + 1, end - p - 1);
	for (n = 0; n < b.len; n++)
		b.data[n] = b.data[n] == '-' ? '+' : b.data[n] == '_' ? '/' : b.data[n];
	while (b.len % 4)
		appendStringInfoChar(&b, '=');
	dec = palloc(pg_b64_dec_len(b.len) + 1);
	n = pg_b64_decode(b.data, b.len, dec, pg_b64_dec_len(b.len));
	if (n < 0)
		return fallback;
	dec[n] = '\0';
	PG_TRY();
	{
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(dec)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		j = NULL;
	}
	PG_END_TRY();
	if (j == NULL || !JB_ROOT_IS_OBJECT(j) || (v = json_get(&j->root, "exp", &buf)) == NULL ||
		v->type != jbvNumeric)
		return fallback;
	{
		double		exp = json_number_float8(v);

		if (!(exp > 0 && exp < 1e11))
			return fallback;
		return (TimestampTz) ((exp - ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) * USECS_PER_SEC);
	}
}

/*
 * kant.obtain_credentials(system, refresh): the system's credentials as its
 * collector would use them now -- from the cache, or from the source (always
 * with refresh) -- so that a setup can be checked without a collection.
 * Returns the source, whether they came from the cache and when they
 * expire; never a secret.  Errors are raised, not recorded.
 */
PG_FUNCTION_INFO_V1(kant_obtain_credentials);
Datum
kant_obtain_credentials(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext fcxt = CurrentMemoryContext;
	Collector	g;
	ErrorContextCallback ctx;
	Datum		v[3];
	bool		isnull[3] = {false, false, false};
	char	   *kind;
	bool		isnull_kind;
	Oid			argt[1] = {TEXTOID};
	Datum		argv[1];

	memset(&g, 0, sizeof(g));
	g.system = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	argv[0] = CStringGetTextDatum(g.system);
	if (SPI_execute_with_args("SELECT kind FROM kant.system WHERE name = $1", 1, argt, argv, NULL, true, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "kant: reading the system failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("system \"%s\" does not exist", g.system)));
	kind = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull_kind));
	g.kind = strcmp(kind, "glue") == 0 ? "glue" : "airflow";
	ctx.callback = collect_context;
	ctx.arg = &g;
	ctx.previous = error_context_stack;
	error_context_stack = &ctx;
	collect_load_system(&g, g.kind);
	if (strcmp(g.kind, "glue") == 0)
		glue_resolve_access(&g);
	else
		airflow_resolve(&g);
	if (g.auth_source && !PG_ARGISNULL(1) && PG_GETARG_BOOL(1) && !g.auth_fetched)
		obtain(&g, g.auth_used);
	error_context_stack = ctx.previous;
	MemoryContextSwitchTo(fcxt);
	v[0] = CStringGetTextDatum(g.cs ? g.cs->source : "static");
	v[1] = BoolGetDatum(g.auth_source != NULL && !g.auth_fetched);
	v[2] = TimestampTzGetDatum(g.auth_expires);
	isnull[1] = g.auth_source == NULL;
	isnull[2] = g.auth_source == NULL;
	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	SPI_finish();
	return (Datum) 0;
}
