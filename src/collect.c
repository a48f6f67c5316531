/*
 * collect.c
 *	  kant.collect_glue(system) and kant.collect_airflow(system): poll AWS Glue
 *	  and Airflow from inside Postgres.
 *
 * Glue: GetJobs (paged) finds the jobs; GetJobRuns (pages of 200, newest
 * first) is read for every job at once, bounded by the system's max_parallel,
 * back to the job's watermark in kant.collect_state minus an overlap, each
 * page ingested as it arrives; GetTriggers gives the jobs' schedules.
 * Requests are signed with SigV4 by libcurl.  Airflow: see further down.
 *
 * A collection runs in steps, each a subtransaction committed into the call
 * when it succeeds: a failure (an endpoint down, a page that times out,
 * access denied, a reply kant cannot use) rolls back only its own step, keeps
 * what earlier steps read, and is recorded in kant.collection and raised as a
 * WARNING.  Watermarks move only when a job was read back to the old one.
 * Cancel and statement_timeout propagate.
 */
#include "kant.h"
#include "locks.h"
#include "http.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "common/string.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

typedef struct Collector
{
	const char *kind;			/* glue or airflow */
	char	   *system;
	/* as stored; checked by resolve_access() inside the recorded work */
	char	   *region;
	char	   *principal;
	char	   *secret;
	char	   *token;
	char		source;			/* 'l' stored, 'e' environment, 'f' secret file */
	char	   *bound_to;		/* the credentials' kind and host when they were set */
	char	   *target;			/* the system's kind and host now */
	int32		system_id;
	char	   *endpoint;
	char	   *sigv4;
	char	   *userpwd;
	char	   *token_header;	/* NULL without a session token: never an empty one */
	/* airflow */
	const char *api;			/* "v1" (Airflow 2) or "v2" (Airflow 3) */
	char	   *auth_header;	/* Authorization: Bearer ..., or NULL for basic auth */
	bool		has_cursor;
	char	   *since;			/* updated_at_gte, ISO 8601 UTC */
	int			page_len;
	int			overlap_s;
	/* kant.collection.started_at: no watermark moves past it */
	TimestampTz started;
	KantHttpOptions opt;
	const char *op;				/* for the error context */
	/* counts */
	int			requests;
	int			retries;
	int			pages;
	int			jobs;
	int			runs_seen;
	int			runs_new;
	int			runs_changed;
	int			schedules;
	/* how it ended */
	char	   *error;
	char	   *sqlstate;
} Collector;

typedef struct JobPager
{
	char	   *name;
	bool		has_stop;
	double		stop_before;	/* epoch seconds: older pages are known */
	char	   *next_token;
	int			pages;			/* read in this collection */
	bool		any;			/* runs accepted in this collection */
	double		newest;			/* the newest StartedOn of those */
} JobPager;

/* The runs phase, carried across its rounds (each round is its own step). */
typedef struct RunsPhase
{
	List	   *names;
	JobPager   *jobs;
	int		   *todo;			/* jobs with a page to read, in turn */
	int			ntodo;
} RunsPhase;

static void
glue_context(void *arg)
{
	Collector	   *g = arg;

	errcontext("collecting %s system \"%s\"%s%s", g->kind, g->system,
			   g->op ? ", " : "", g->op ? g->op : "");
}

/* A credential's value: stored, or from the environment or a secret file (secrets.c). */
static char *
secret_or_error(Collector *g, const char *stored, const char *what)
{
	return kant_secret_value(stored, g->source, what, g->system);
}

static char *
spi_text(HeapTuple t, TupleDesc d, int col)
{
	char	   *v = SPI_getvalue(t, d, col);

	return v ? pstrdup(v) : NULL;
}

static void
load_system(Collector *g, const char *want_kind)
{
	Oid			argt[1] = {TEXTOID};
	Datum		argv[1] = {CStringGetTextDatum(g->system)};
	HeapTuple	t;
	TupleDesc	d;
	char	   *kind,
			   *region,
			   *principal,
			   *secret,
			   *token;
	char		source;
	bool		isnull;

	if (SPI_execute_with_args(
							  "SELECT s.system_id, s.kind, s.endpoint, s.region, s.max_parallel,"
							  " s.collect_overlap_seconds, c.from_env, c.principal, c.secret, c.session_token,"
							  " s.connect_timeout_ms, s.timeout_ms, c.from_file,"
							  " c.bound_to, kant._credential_target(s.kind, s.endpoint, s.region)"
							  " FROM kant.system s LEFT JOIN kant.credential c USING (system_id)"
							  " WHERE s.name = $1", 1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the system failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("system \"%s\" does not exist", g->system),
				 errhint("Register it with kant.add_system('%s', '%s', ...).", g->system, want_kind)));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->system_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	kind = spi_text(t, d, 2);
	g->endpoint = spi_text(t, d, 3);
	region = spi_text(t, d, 4);
	kant_http_default_options(&g->opt);
	{
		Datum		mp = SPI_getbinval(t, d, 5, &isnull);

		if (!isnull)
			g->opt.max_parallel = DatumGetInt32(mp);
		/* the system's own timeouts, else the settings' */
		mp = SPI_getbinval(t, d, 11, &isnull);
		if (!isnull)
			g->opt.connect_timeout_ms = DatumGetInt32(mp);
		mp = SPI_getbinval(t, d, 12, &isnull);
		if (!isnull)
			g->opt.timeout_ms = DatumGetInt32(mp);
	}
	g->overlap_s = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
	source = DatumGetBool(SPI_getbinval(t, d, 7, &isnull)) ? 'e' :
		DatumGetBool(SPI_getbinval(t, d, 13, &isnull)) ? 'f' : 'l';
	principal = spi_text(t, d, 8);
	secret = spi_text(t, d, 9);
	token = spi_text(t, d, 10);

	if (strcmp(kind, want_kind) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("system \"%s\" is of kind %s, not %s", g->system, kind, want_kind),
				 errhint("Collect it with kant.collect_%s().", kind)));
	g->region = region;
	g->principal = principal;
	g->secret = secret;
	g->token = token;
	g->source = source;
	g->bound_to = spi_text(t, d, 14);
	g->target = spi_text(t, d, 15);
}

/*
 * Credentials go only where they were set for: kind and host (scheme and
 * name, kant._credential_target) when kant.set_credentials() stored them.
 * Whoever may move a system's endpoint or kind afterwards (kant_admin) must
 * not thereby send someone else's secret to a host of their choosing.
 */
static void
check_binding(Collector *g)
{
	if (g->bound_to == NULL || g->target == NULL || strcmp(g->bound_to, g->target) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the credentials of system \"%s\" were set for %s; it now points at %s",
						g->system, g->bound_to ? g->bound_to : "no endpoint",
						g->target ? g->target : "no endpoint"),
				 errdetail("Credentials are bound to the kind and host they were set for, so that moving an endpoint cannot send them elsewhere."),
				 errhint("Set them again for the new endpoint: kant.set_credentials('%s', ...).", g->system)));
}

/* Region and credentials: a problem here is a failed collection, recorded. */
static void
resolve_access(Collector *g)
{
	char	   *principal = g->principal,
			   *secret = g->secret,
			   *token = g->token;

	if (g->region == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("glue system \"%s\" has no region", g->system),
				 errhint("kant.set_endpoint('%s', region => 'ap-northeast-1')", g->system)));
	if (principal == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("glue system \"%s\" has no credentials", g->system),
				 errhint("kant.set_credentials('%s', access_key_id, secret_access_key[, session_token]), or with from_env => true the names of environment variables.",
						 g->system)));
	check_binding(g);
	principal = secret_or_error(g, principal, "access key id");
	secret = secret_or_error(g, secret, "secret access key");
	if (token)
		token = secret_or_error(g, token, "session token");
	if (g->endpoint == NULL)
		g->endpoint = psprintf("https://glue.%s.amazonaws.com/", g->region);
	g->sigv4 = psprintf("aws:amz:%s:glue", g->region);
	g->userpwd = psprintf("%s:%s", principal, secret);
	g->token_header = token && *token ? psprintf("X-Amz-Security-Token: %s", token) : NULL;
}


/* ------------------------------------------------------------ replies */

/*
 * Replies come from endpoints kant does not control (a proxy in front of
 * Airflow, a VPC endpoint, an internal service, a broken release), so each
 * one is checked before anything is read from it: a 2xx status, UTF-8 JSON
 * that PostgreSQL can store, of the shape the API defines (botocore's Glue
 * service model, Airflow's OpenAPI specs).  A reply that is not is an error
 * of its step, SQLSTATE 08P01 (protocol_violation: the peer answered, but
 * not in the protocol; class 08 with the endpoint's other failures, 08001
 * and 08006, and apart from 38000, an error the endpoint reported), so it
 * moves no watermark and no cursor.  Everything a reply drives -- pages,
 * items, offsets -- is bounded by kant.collect_max_pages and
 * kant.collect_max_items (54000 beyond them, as the HTTP layer's size cap),
 * and no reply is parsed by a function that throws on bad input.
 */

/* jsonb keeps at most 256 MB in a container; a parse takes ~10x the text */
#define REPLY_MAX_BYTES		(128 * 1024 * 1024)
/* no API's data nests deeper; both JSON parsers recurse once a level */
#define REPLY_MAX_DEPTH		512
/* values (a page of 1,000 task instances holds ~50,000): bounds the parse tree */
#define REPLY_MAX_VALUES	4000000
/* numbers numeric_in stores and strtod reads without overflow */
#define REPLY_MAX_NUMBER	100
#define REPLY_MAX_EXPONENT	300
/* an error document is small: a bigger body is not read for its fields */
#define ERROR_DOC_MAX		65536
/* characters of an endpoint's text that a message shows */
#define REPLY_TEXT_MAX		300
/* a NextToken is sent back; Glue's are a few hundred bytes */
#define TOKEN_MAX			65536
/*
 * Requests one round sends: the HTTP layer keeps every buffer of a batch
 * until the batch ends, so this bounds the replies held at once.
 */
#define ROUND_MAX			256
/* pages kant asks for: the most each API allows (Glue's model: MaxResults) */
#define GLUE_JOBS_PAGE		1000
#define GLUE_RUNS_PAGE		200
#define GLUE_TRIGGERS_PAGE	200
#define AF_PAGE				1000
/* Glue's NameString and IdString: 1..255; Airflow's ID_LEN: 250 */
#define GLUE_NAME_MAX		255
#define AF_ID_MAX			250
/* a StartedOn kant reads as a time at all (epoch seconds, before 2200) */
#define STARTED_ON_MAX		7258118400.0

static int	collect_max_pages = 10000;
static int	collect_max_items = 200000;

void
kant_collect_define_gucs(void)
{
	DefineCustomIntVariable("kant.collect_max_pages",
							"Pages a collection reads of one listing.",
							"A Glue listing (GetJobs, GetTriggers, one job's GetJobRuns) or an "
							"Airflow listing (DAGs, DAG runs, one DAG run's task instances) that "
							"would take more ends the collection with an error: a NextToken that "
							"never ends, or a server that pages one item at a time.",
							&collect_max_pages,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kant.collect_max_items",
							"Items a collection holds of one listing.",
							"Glue jobs, the jobs of Glue triggers, Airflow DAGs, the DAG runs of "
							"one collection and any total_entries: more ends the collection "
							"with an error instead of holding them all in memory.",
							&collect_max_items,
							200000, 1, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/* A reply being read: where it came from, and its JSON. */
typedef struct Reply
{
	Collector  *g;
	KantHttpRequest *req;
	Jsonb	   *json;
	JsonbContainer *root;		/* the object at its top */
} Reply;

static const char *
vendor(Collector *g)
{
	return strcmp(g->kind, "glue") == 0 ? "Glue" : "Airflow";
}

static char *
pg_attribute_printf(1, 0)
vformat(const char *fmt, va_list args_in)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_copy(args, args_in);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}

/* A reply kant cannot use: an error of its step, naming the operation and the field. */
static void
pg_attribute_printf(2, 3) pg_attribute_noreturn()
unusable(Reply *r, const char *fmt,...)
{
	va_list		ap;
	char	   *why;

	va_start(ap, fmt);
	why = vformat(fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("kant: %s %s on %s answered HTTP %ld with a body kant cannot use: %s",
					vendor(r->g), r->g->op, r->req->host, r->req->status, why),
			 errhint("kant moves no watermark on such a reply. Check that the system's endpoint serves the %s API.",
					 vendor(r->g))));
	pg_unreachable();
}

/* A reply that would take kant past one of its caps. */
static void
pg_attribute_printf(3, 4) pg_attribute_noreturn()
over_cap(Reply *r, const char *setting, const char *fmt,...)
{
	va_list		ap;
	char	   *what;

	va_start(ap, fmt);
	what = vformat(fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("kant: %s %s on %s: %s, more than %s (%d) allows",
					vendor(r->g), r->g->op, r->req->host, what, setting,
					strcmp(setting, "kant.collect_max_pages") == 0 ? collect_max_pages : collect_max_items),
			 errhint("A superuser can raise %s if the listing is real; an endpoint that pages forever ends here.",
					 setting)));
	pg_unreachable();
}

/*
 * A JSON number jsonb_in stores (numeric_in overflows past 16,383 digits
 * after the point) and that strtod reads without overflow.
 */
static bool
number_ok(const char *token)
{
	const char *e;
	int			exp = 0;

	if (strlen(token) > REPLY_MAX_NUMBER)
		return false;
	e = strpbrk(token, "eE");
	if (e == NULL)
		return true;
	for (e++; *e == '+' || *e == '-'; e++)
		;
	for (; *e >= '0' && *e <= '9'; e++)
	{
		exp = exp * 10 + (*e - '0');
		if (exp > REPLY_MAX_EXPONENT)
			return false;
	}
	return true;
}

typedef struct NumberCheck
{
	bool		bad;
} NumberCheck;

static void
check_scalar(void *state, char *token, JsonTokenType type)
{
	if (type == JSON_TOKEN_NUMBER && token && !number_ok(token))
		((NumberCheck *) state)->bad = true;
	if (token)
		pfree(token);
}

/*
 * Why a body is not JSON kant can parse, or NULL.  A first pass over the
 * bytes bounds the nesting (pg_parse_json and jsonb_in recurse once a level
 * and check the stack depth by throwing) and the number of values, and sees
 * \u escapes beyond ASCII.
 */
static const char *
body_problem(const char *s, size_t len, bool *high_escapes)
{
	int			depth = 0;
	int64		values = 1;
	bool		in_string = false;
	size_t		i;

	*high_escapes = false;
	if (len == 0)
		return "it is empty";
	if (len > REPLY_MAX_BYTES)
		return psprintf("it is %zu bytes long, more than the %d kant parses", len, REPLY_MAX_BYTES);
	/* JSON between systems is UTF-8 (RFC 8259, section 8.1); this also finds a NUL */
	if (!pg_verify_mbstr(PG_UTF8, s, (int) len, true))
		return "it is not UTF-8 text";
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if ((i & 0xFFFFF) == 0xFFFFF)
			CHECK_FOR_INTERRUPTS();
		if (in_string)
		{
			if (c == '"')
				in_string = false;
			else if (c == '\\' && i + 1 < len)
			{
				if (s[i + 1] == 'u' && i + 5 < len &&
					strncmp(s + i + 2, "00", 2) != 0)
					*high_escapes = true;
				else if (s[i + 1] == 'u' && i + 5 < len && s[i + 4] >= '8')
					*high_escapes = true;
				i++;
			}
			continue;
		}
		switch (c)
		{
			case '"':
				in_string = true;
				break;
			case '[':
			case '{':
				if (++depth > REPLY_MAX_DEPTH)
					return psprintf("it is nested deeper than %d levels", REPLY_MAX_DEPTH);
				values++;
				break;
			case ']':
			case '}':
				depth--;
				break;
			case ',':
				if (++values > REPLY_MAX_VALUES)
					return psprintf("it holds more than %d values", REPLY_MAX_VALUES);
				break;
			default:
				break;
		}
	}
	return NULL;
}

static const char *
json_problem(JsonParseErrorType e, JsonLexContext *lex)
{
	switch (e)
	{
		case JSON_EXPECTED_MORE:
			return "it is not JSON: it ends before the document does";
		case JSON_UNICODE_CODE_POINT_ZERO:
			return "it holds \\u0000, which PostgreSQL text cannot hold";
		case JSON_UNICODE_HIGH_ESCAPE:
			return "it holds a \\u escape the database encoding cannot hold";
		case JSON_UNICODE_ESCAPE_FORMAT:
		case JSON_UNICODE_HIGH_SURROGATE:
		case JSON_UNICODE_LOW_SURROGATE:
			return "it holds an invalid \\u escape";
		default:
			return psprintf("it is not JSON (syntax error at byte %d)",
							lex->token_start ? (int) (lex->token_start - lex->input) : 0);
	}
}

/*
 * A body as jsonb, or NULL with why.  It is validated first, with the same
 * lexer jsonb_in uses and numbers checked as numeric_in reads them, so that
 * jsonb_in does not throw on it.  In a database whose encoding is not UTF-8
 * the body is converted, and PostgreSQL's conversion throws for a character
 * the encoding lacks (an error like any other of the step); quiet (for error
 * documents, read while an error is being raised) refuses such a body
 * instead.
 */
static Jsonb *
parse_body(const char *s, size_t len, bool quiet, const char **why)
{
	bool		high_escapes;
	int			enc = GetDatabaseEncoding();
	char	   *text = (char *) s;
	JsonLexContext *lex;
	JsonSemAction sem;
	NumberCheck check = {false};
	JsonParseErrorType e;

	*why = body_problem(s, len, &high_escapes);
	if (*why)
		return NULL;
	if (enc != PG_UTF8)
	{
		if (quiet && (high_escapes || !pg_is_ascii(s)))
		{
			*why = "it holds characters the database encoding may not hold";
			return NULL;
		}
		if (enc != PG_SQL_ASCII)
		{
			text = pg_any_to_server(s, (int) len, PG_UTF8);
			len = strlen(text);
		}
	}
	lex = makeJsonLexContextCstringLen(text, (int) len, enc, true);
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &check;
	sem.scalar = check_scalar;
	e = pg_parse_json(lex, &sem);
	if (e != JSON_SUCCESS)
	{
		*why = json_problem(e, lex);
		return NULL;
	}
	if (check.bad)
	{
		*why = psprintf("it holds a number longer than %d characters or beyond 1e%d",
						REPLY_MAX_NUMBER, REPLY_MAX_EXPONENT);
		return NULL;
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* A 2xx reply whose body is a JSON object: else an error of the step. */
static void
reply_read(Reply *r, Collector *g, KantHttpRequest *req)
{
	const char *why;

	r->g = g;
	r->req = req;
	if (req->status < 200 || req->status > 299)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("kant: %s %s on %s answered HTTP %ld, which kant does not follow",
						vendor(g), g->op, req->host, req->status),
				 errhint("kant follows no redirects: set the endpoint to the URL the API answers on.")));
	r->json = parse_body(req->response ? req->response : "", req->response_len, false, &why);
	if (r->json == NULL)
		unusable(r, "%s", why);
	if (!JB_ROOT_IS_OBJECT(r->json))
		unusable(r, "it must be a JSON object, not %s",
				 JB_ROOT_IS_SCALAR(r->json) ? "a scalar" : "an array");
	r->root = &r->json->root;
}

/* Where a field is, for messages: "dag_runs" at the top, "dag_runs"[3].dag_id below. */
static char *
field_path(const char *at, const char *key)
{
	return at ? psprintf("%s.%s", at, key) : psprintf("\"%s\"", key);
}

/* A field of an object; JSON null counts as absent. */
static JsonbValue *
field(JsonbContainer *obj, const char *key, JsonbValue *buf)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), buf);

	return v == NULL || v->type == jbvNull ? NULL : v;
}

/* A required field that is absent or null. */
static void
pg_attribute_noreturn()
missing(Reply *r, JsonbContainer *obj, const char *at, const char *key, const char *what)
{
	JsonbValue	buf;

	if (getKeyJsonValueFromContainer(obj, key, strlen(key), &buf) != NULL)
		unusable(r, "%s must be %s, not null", field_path(at, key), what);
	unusable(r, "%s is missing", field_path(at, key));
}

/* An array field: absent is NULL unless required; more items than asked for is an error. */
static JsonbContainer *
get_array(Reply *r, JsonbContainer *obj, const char *at, const char *key, bool required, int max_items)
{
	JsonbValue	buf;
	JsonbValue *v = field(obj, key, &buf);

	if (v == NULL)
	{
		if (required)
			missing(r, obj, at, key, "an array");
		return NULL;
	}
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		unusable(r, "%s must be an array, not %s", field_path(at, key), json_type_name(v));
	if (max_items > 0 && (int) JsonContainerSize(v->val.binary.data) > max_items)
		unusable(r, "%s holds %d items, more than the %d kant asked for",
				 field_path(at, key), (int) JsonContainerSize(v->val.binary.data), max_items);
	return v->val.binary.data;
}

/* Item i of an array, which must be an object; its path in *path. */
static JsonbContainer *
item_object(Reply *r, JsonbContainer *arr, const char *at, int i, char **path)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);
	JsonbContainer *c;

	*path = psprintf("%s[%d]", at, i);
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		unusable(r, "%s must be an object, not %s", *path, json_type_name(v));
	c = v->val.binary.data;
	pfree(v);
	return c;
}

/* An object field: absent (or null) is NULL, anything but an object an error. */
static JsonbContainer *
get_object(Reply *r, JsonbContainer *obj, const char *at, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = field(obj, key, &buf);

	if (v == NULL)
		return NULL;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		unusable(r, "%s must be an object, not %s", field_path(at, key), json_type_name(v));
	return v->val.binary.data;
}

/* A string field of at most max_chars characters; absent is NULL unless required. */
static char *
get_string(Reply *r, JsonbContainer *obj, const char *at, const char *key, bool required,
		   int max_chars)
{
	JsonbValue	buf;
	JsonbValue *v = field(obj, key, &buf);

	if (v == NULL)
	{
		if (required)
			missing(r, obj, at, key, "a string");
		return NULL;
	}
	if (v->type != jbvString)
		unusable(r, "%s must be a string, not %s", field_path(at, key), json_type_name(v));
	if (v->val.string.len > max_chars &&
		pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > max_chars)
		unusable(r, "%s is longer than %d characters", field_path(at, key), max_chars);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A JSON number as a double, without throwing (numeric_float8 throws on overflow). */
static double
number_value(JsonbValue *v)
{
	char	   *s = numeric_normalize(v->val.numeric);
	double		d = strtod(s, NULL);

	pfree(s);
	return d;
}

/* A number field: absent is false, anything but a number an error. */
static bool
get_number(Reply *r, JsonbContainer *obj, const char *at, const char *key, double *out)
{
	JsonbValue	buf;
	JsonbValue *v = field(obj, key, &buf);

	if (v == NULL)
		return false;
	if (v->type != jbvNumeric)
		unusable(r, "%s must be a number, not %s", field_path(at, key), json_type_name(v));
	*out = number_value(v);
	return true;
}

/* Airflow's total_entries: an integer >= 0 (the spec's CollectionInfo), within the cap. */
static int64
get_count(Reply *r, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = field(r->root, key, &buf);
	char	   *s;
	int64		n = 0;
	char	   *p;

	if (v == NULL)
		missing(r, r->root, NULL, key, "an integer");
	if (v->type != jbvNumeric)
		unusable(r, "%s must be an integer, not %s", field_path(NULL, key), json_type_name(v));
	s = numeric_normalize(v->val.numeric);
	for (p = s; *p; p++)
	{
		if (*p < '0' || *p > '9')
			unusable(r, "%s must be an integer of at least 0, not %s", field_path(NULL, key),
					 strlen(s) > 40 ? "a number of more than 40 characters" : s);
		if (n <= collect_max_items)
			n = n * 10 + (*p - '0');
	}
	if (n > collect_max_items)
		over_cap(r, "kant.collect_max_items", "%s is %s", field_path(NULL, key),
				 strlen(s) > 40 ? "a number of more than 40 digits" : s);
	pfree(s);
	return n;
}

/*
 * Text of an endpoint for a message (an error document's fields): at most
 * REPLY_TEXT_MAX characters, control characters -- and, in UTF-8, C1
 * controls, bidirectional overrides and line separators, which can disguise
 * text -- each run of them a single space.  The input is valid in the
 * server encoding (it came out of a jsonb).
 */
static char *
clean_text(const char *s, int len)
{
	StringInfoData b;
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	bool		space = false;
	int			chars = 0;
	int			i = 0;

	initStringInfo(&b);
	while (i < len && chars < REPLY_TEXT_MAX)
	{
		const unsigned char *c = (const unsigned char *) s + i;
		int			n = pg_encoding_mblen(GetDatabaseEncoding(), s + i);
		bool		drop;

		if (n < 1 || i + n > len)
			break;
		drop = (n == 1 && (c[0] < 0x20 || c[0] == 0x7f)) ||
			(utf8 && n == 2 && c[0] == 0xc2 && c[1] < 0xa0) ||
			(utf8 && n == 3 && c[0] == 0xe2 &&
			 ((c[1] == 0x80 && (c[2] == 0x8e || c[2] == 0x8f || (c[2] >= 0xa8 && c[2] <= 0xae))) ||
			  (c[1] == 0x81 && c[2] >= 0xa6 && c[2] <= 0xa9)));
		if (drop || (n == 1 && c[0] == ' '))
		{
			space = b.len > 0;
			i += n;
			continue;
		}
		if (space)
		{
			appendStringInfoChar(&b, ' ');
			chars++;
			space = false;
		}
		appendBinaryStringInfo(&b, s + i, n);
		chars++;
		i += n;
	}
	if (i < len)
		appendStringInfoString(&b, "...");
	return b.data;
}

/* An error reply's document, when it is a small JSON object; else NULL.  Never throws. */
static JsonbContainer *
error_doc(KantHttpRequest *req)
{
	const char *why;
	Jsonb	   *j;

	if (req->response == NULL || req->response_len == 0 || req->response_len > ERROR_DOC_MAX)
		return NULL;
	j = parse_body(req->response, req->response_len, true, &why);
	if (j == NULL || !JB_ROOT_IS_OBJECT(j))
		return NULL;
	return &j->root;
}

/* A string field of an error document, cleaned for a message; else NULL. */
static char *
doc_text(JsonbContainer *doc, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = doc ? field(doc, key, &buf) : NULL;
	char	   *t;

	if (v == NULL || v->type != jbvString)
		return NULL;
	t = clean_text(v->val.string.val, v->val.string.len);
	return *t ? t : NULL;
}

static char *
attempts_note(KantHttpRequest *req)
{
	return req->attempts > 1 ? psprintf(" (after %d attempts)", req->attempts) : "";
}

/* -------------------------------------------------------------- glue */

/*
 * Glue's error type as botocore reads it (BaseJSONParser._do_error_parse:
 * "ns#Type:extra" is Type) and its message, when the body is a Glue error
 * document {"__type", "message"}; else NULL.  The type must be a name.
 */
static char *
glue_error(KantHttpRequest *req, char **message)
{
	JsonbContainer *doc = error_doc(req);
	JsonbValue	buf;
	JsonbValue *v = doc ? field(doc, "__type", &buf) : NULL;
	const char *t;
	int			len,
				i;

	if (message)
		*message = NULL;
	if (v == NULL || v->type != jbvString)
		return NULL;
	t = v->val.string.val;
	len = v->val.string.len;
	for (i = 0; i < len && t[i] != ':'; i++)
		;
	len = i;
	for (i = len - 1; i >= 0; i--)
		if (t[i] == '#')
		{
			t += i + 1;
			len -= i + 1;
			break;
		}
	if (len < 1 || len > 128)
		return NULL;
	for (i = 0; i < len; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
			  (t[i] >= '0' && t[i] <= '9') || t[i] == '_' || t[i] == '.'))
			return NULL;
	if (message)
	{
		*message = doc_text(doc, "message");
		if (*message == NULL)
			*message = doc_text(doc, "Message");
	}
	return pnstrdup(t, len);
}

static bool
glue_error_is(KantHttpRequest *req, const char *type)
{
	char	   *t;

	if (req->status != 400)
		return false;
	t = glue_error(req, NULL);
	return t != NULL && strcmp(t, type) == 0;
}

/* Glue answers throttling with HTTP 400 and an exception type: retry those. */
static bool
glue_retry(KantHttpRequest *req, void *arg)
{
	char	   *t;

	if (kant_http_default_retry(req))
		return true;
	if (req->status != 400)
		return false;
	t = glue_error(req, NULL);
	return t != NULL &&
		(strcmp(t, "ThrottlingException") == 0 ||
		 strcmp(t, "TooManyRequestsException") == 0 ||
		 strcmp(t, "ConcurrentModificationException") == 0);
}

/*
 * A Glue error: its type and message, cleaned and capped.  Anything else
 * the endpoint sent (an HTML page of a proxy, an internal service's error)
 * is not shown: kant.collection and alerts are read by less privileged
 * roles.
 */
static void
glue_raise(Collector *g, KantHttpRequest *req)
{
	char	   *message;
	char	   *type;
	int			code;

	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g->op);
	type = glue_error(req, &message);
	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("kant: Glue %s on %s failed with HTTP %ld%s", g->op, req->host, req->status,
						attempts_note(req)),
				 errdetail("The reply (%zu bytes) is not a Glue error document; kant does not show it.",
						   req->response_len)));
	code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
	if (strcmp(type, "AccessDeniedException") == 0 ||
		strcmp(type, "UnrecognizedClientException") == 0 ||
		strcmp(type, "InvalidSignatureException") == 0 ||
		strcmp(type, "ExpiredTokenException") == 0)
		code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	ereport(ERROR,
			(errcode(code),
			 errmsg("kant: Glue %s on %s failed with HTTP %ld: %s", g->op, req->host, req->status, type),
			 message ? errdetail("%s", message) : 0,
			 code == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION ?
			 errhint("Check the system's credentials (kant.set_credentials) and that they may call glue:GetJobs, glue:GetJobRuns and glue:GetTriggers.") : 0));
}

/* A job deleted since GetJobs: GetJobRuns answers EntityNotFoundException. */
static bool
not_found(KantHttpRequest *req)
{
	return glue_error_is(req, "EntityNotFoundException");
}

/* A request reached its outcome: count its attempts in the collection's record. */
static void
count_attempts(Collector *g, KantHttpRequest *req)
{
	g->requests += req->attempts;
	g->retries += req->attempts - 1;
}

/* A page is ingested: its reply need not wait for the end of the round. */
static void
release_reply(KantHttpRequest *req)
{
	pfree(req->response);
	req->response = NULL;
	req->response_len = 0;
}

/* Signed POST requests of one operation, not yet sent. */
static void
glue_requests(Collector *g, const char *op, char **bodies, int n, KantHttpRequest **reqs)
{
	List	   *headers = list_make2(psprintf("Content-Type: application/x-amz-json-1.1"),
									 psprintf("X-Amz-Target: AWSGlue.%s", op));
	int			i;

	if (g->token_header)
		headers = lappend(headers, g->token_header);
	g->op = op;
	for (i = 0; i < n; i++)
	{
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "POST";
		reqs[i]->url = g->endpoint;
		reqs[i]->body = bodies[i];
		reqs[i]->body_len = strlen(bodies[i]);
		reqs[i]->headers = headers;
		reqs[i]->aws_sigv4 = g->sigv4;
		reqs[i]->userpwd = g->userpwd;
	}
}

/* Run one batch of requests of one operation; every reply is a 200 or an error. */
static void
glue_batch(Collector *g, const char *op, char **bodies, int n, KantHttpRequest **reqs)
{
	int			i;

	glue_requests(g, op, bodies, n, reqs);
	kant_http_perform(reqs, n, &g->opt, glue_retry, g);
	for (i = 0; i < n; i++)
	{
		count_attempts(g, reqs[i]);
		if (kant_http_failed(reqs[i]))
			glue_raise(g, reqs[i]);
	}
}

static char *
json_body(const char *key, const char *value, const char *token, int max_results)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "{\"MaxResults\": %d", max_results);
	if (key)
	{
		appendStringInfo(&b, ", \"%s\": ", key);
		escape_json(&b, value);
	}
	if (token)
	{
		appendStringInfoString(&b, ", \"NextToken\": ");
		escape_json(&b, token);
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

/*
 * A page's NextToken: a string when present, NULL at the end (an empty one
 * too: there is nothing to send back).  One that repeats the token kant
 * sent would page forever (botocore's paginator refuses it too: "The same
 * next token was received twice").
 */
static char *
next_token(Reply *r, const char *sent)
{
	char	   *t = get_string(r, r->root, NULL, "NextToken", false, TOKEN_MAX);

	if (t == NULL || *t == '\0')
		return NULL;
	if (sent && strcmp(t, sent) == 0)
		unusable(r, "\"NextToken\" repeats the token kant sent, so the listing would never end");
	return t;
}

/* Another page of a NextToken listing: within kant.collect_max_pages. */
static void
another_page(Reply *r, int pages, const char *listing)
{
	if (pages >= collect_max_pages)
		over_cap(r, "kant.collect_max_pages", "%s goes on past %d pages", listing, pages);
}

/* A text[] of C strings. */
static Datum
text_array(List *strings)
{
	int			n = list_length(strings);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	ListCell   *lc;

	foreach(lc, strings)
		d[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The jobs (GetJobs, pages of 1,000, each read in a context of its own):
 * each an object with a Name (NameString, 1..255 characters); MaxRetries a
 * number when present.
 */
static void
discover_jobs(Collector *g, List **names)
{
	char	   *token = NULL;
	Oid			argt[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	List	   *retries = NIL;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant GetJobs page", ALLOCSET_DEFAULT_SIZES);
	int			pages = 0;

	for (;;)
	{
		char	   *body;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *jobs;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		body = json_body(NULL, NULL, token, GLUE_JOBS_PAGE);
		glue_batch(g, "GetJobs", &body, 1, &req);
		pages++;
		reply_read(&r, g, req);
		jobs = get_array(&r, r.root, NULL, "Jobs", true, GLUE_JOBS_PAGE);
		n = JsonContainerSize(jobs);
		if (list_length(*names) + n > collect_max_items)
			over_cap(&r, "kant.collect_max_items", "GetJobs lists more than %d jobs",
					 list_length(*names));
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *job = item_object(&r, jobs, "\"Jobs\"", i, &at);
			char	   *name = get_string(&r, job, at, "Name", true, GLUE_NAME_MAX);
			double		mr;
			bool		found = get_number(&r, job, at, "MaxRetries", &mr);

			CHECK_FOR_INTERRUPTS();
			if (*name == '\0')
				unusable(&r, "%s.Name is empty", at);
			MemoryContextSwitchTo(keep);
			*names = lappend(*names, pstrdup(name));
			/* as text, so that an absent one is NULL */
			retries = lappend(retries, found && mr >= 0 && mr <= 100 ? psprintf("%d", (int) mr) : NULL);
			MemoryContextSwitchTo(page);
		}
		{
			char	   *next = next_token(&r, token);

			if (next == NULL)
				break;
			another_page(&r, pages, "GetJobs");
			if (token)
				pfree(token);
			token = MemoryContextStrdup(keep, next);
		}
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	g->jobs = list_length(*names);
	if (*names != NIL)
	{
		Datum		argv[3] = {Int32GetDatum(g->system_id), text_array(*names), (Datum) 0};
		int			n = list_length(retries);
		Datum	   *d = palloc(sizeof(Datum) * n);
		bool	   *isnull = palloc(sizeof(bool) * n);
		int			dims[1] = {n};
		int			lbs[1] = {1};
		ListCell   *lc;

		foreach(lc, retries)
		{
			int			i = foreach_current_index(lc);

			isnull[i] = lfirst(lc) == NULL;
			d[i] = isnull[i] ? (Datum) 0 : CStringGetTextDatum(lfirst(lc));
		}
		argv[2] = PointerGetDatum(construct_md_array(d, isnull, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		/* register the jobs, then keep each one's MaxRetries (the checks wait for a retry) */
		if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE kant._collector_job($1, u.name))"
								  " FROM unnest($2) AS u(name)", 2, argt, argv,
								  NULL, false, 0) != SPI_OK_SELECT ||
			SPI_execute_with_args("UPDATE kant.job j SET max_retries = u.mr::integer"
								  " FROM unnest($2, $3) AS u(name, mr)"
								  " WHERE j.system_id = $1 AND j.name = u.name"
								  " AND j.max_retries IS DISTINCT FROM u.mr::integer",
								  3, argt, argv, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "kant: registering the jobs failed");
	}
}

/*
 * Where each job's reading may stop: back to what an earlier collection read
 * completely (kant.collect_state), minus the overlap.  Not the newest run
 * kant holds: a collection cut short may have stored a job's newest page and
 * not the older ones.  One query for all the jobs.
 */
static void
job_watermarks(Collector *g, RunsPhase *ph, int n)
{
	Oid			argt[3] = {INT4OID, TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		argv[3] = {Int32GetDatum(g->system_id), text_array(ph->names),
	TimestampTzGetDatum(g->started)};
	uint64		k;

	if (n == 0)
		return;

	/*
	 * A watermark past when it was written (a kant before 0.6.0 moved it to
	 * any StartedOn, 2100 too) would stop the reading early: no collection
	 * read runs that had not started yet, so it is taken as that time.
	 */
	if (SPI_execute_with_args("SELECT u.ord::integer,"
							  " extract(epoch FROM least(c.read_until, c.updated_at, $3))::float8"
							  " FROM unnest($2) WITH ORDINALITY AS u(name, ord)"
							  " JOIN kant.job j ON j.system_id = $1 AND j.name = u.name"
							  " JOIN kant.collect_state c ON c.job_id = j.job_id"
							  " WHERE c.read_until IS NOT NULL",
							  3, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the watermarks failed");
	for (k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));
		JobPager   *p = &ph->jobs[ord - 1];

		p->has_stop = true;
		p->stop_before = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, &isnull))
			- g->overlap_s;
	}
}

/*
 * A job read back to its watermark (or to its first run): move the watermark
 * to the newest StartedOn the ingestion accepted, but never past the start of
 * this collection.  A run Glue says starts in 2100 is kept as Glue says, yet
 * a watermark there would make every later collection stop after its first
 * page: runs started after this collection cannot have been read by it.
 *
 * No clock-skew allowance is added to the cap.  StartedOn is Glue's clock,
 * the cap the database server's: if Glue's runs ahead, capping at our start
 * only re-reads a little more (the overlap re-reads a day anyway), while an
 * allowance of an hour would let one far-future run mark as read the runs
 * that start in the hour after this collection, lost to the next one
 * whenever a system's overlap is shorter than the allowance.
 */
static void
job_read(Collector *g, JobPager *p)
{
	Oid			argt[4] = {INT4OID, TEXTOID, FLOAT8OID, TIMESTAMPTZOID};
	Datum		argv[4] = {Int32GetDatum(g->system_id), CStringGetTextDatum(p->name),
	Float8GetDatum(p->newest), TimestampTzGetDatum(g->started)};

	if (!p->any)
		return;
	/* the old one taken as job_watermarks() took it: no later than it was written */
	if (SPI_execute_with_args("INSERT INTO kant.collect_state AS c (job_id, read_until)"
							  " SELECT j.job_id, least(to_timestamp($3), $4) FROM kant.job j"
							  " WHERE j.system_id = $1 AND j.name = $2"
							  " ON CONFLICT (job_id) DO UPDATE SET read_until = least(greatest("
							  "least(c.read_until, c.updated_at), excluded.read_until), $4),"
							  " updated_at = now()",
							  4, argt, argv, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "kant: moving a watermark failed");
}

/*
 * A page goes through the system's ingestion function, like any payload: as
 * the jsonb the collector parsed already (the reply is parsed once).  Returns
 * which of its n records the ingestion quarantined (kant.rejected's
 * item_index), or NULL when it quarantined none: those move no watermark.
 */
static bool *
ingest_page(Collector *g, Jsonb *page, int n)
{
	Oid			argt[2] = {TEXTOID, JSONBOID};
	Datum		argv[2] = {CStringGetTextDatum(g->system), JsonbPGetDatum(page)};
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;
	int64		batch_id;
	int32		rejected;
	bool	   *quarantined;
	uint64		k;
	const char *sql = strcmp(g->kind, "glue") == 0 ?
		"SELECT received, inserted, updated, rejected, batch_id FROM kant.ingest_glue_job_runs($1, $2)" :
		"SELECT received, inserted, updated, rejected, batch_id FROM kant.ingest_airflow_task_instances($1, $2)";

	if (SPI_execute_with_args(sql, 2, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: ingesting a page failed");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	g->runs_seen += DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	g->runs_new += DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
	g->runs_changed += DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	rejected = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
	batch_id = DatumGetInt64(SPI_getbinval(t, d, 5, &isnull));
	g->pages++;
	if (rejected == 0 || n == 0)
		return NULL;
	{
		Oid			bt[1] = {INT8OID};
		Datum		bv[1] = {Int64GetDatum(batch_id)};

		/* not read-only: it must see what the ingestion just wrote */
		if (SPI_execute_with_args("SELECT item_index FROM kant.rejected WHERE batch_id = $1",
								  1, bt, bv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the quarantined records failed");
	}
	quarantined = palloc0(sizeof(bool) * n);
	for (k = 0; k < SPI_processed; k++)
	{
		int32		i = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));

		if (!isnull && i >= 0 && i < n)
			quarantined[i] = true;
	}
	return quarantined;
}

static void
runs_begin(Collector *g, RunsPhase *ph)
{
	int			n = list_length(ph->names);
	ListCell   *lc;

	ph->jobs = palloc0(sizeof(JobPager) * Max(n, 1));
	ph->todo = palloc(sizeof(int) * Max(n, 1));
	ph->ntodo = 0;
	foreach(lc, ph->names)
	{
		int			i = foreach_current_index(lc);

		ph->jobs[i].name = lfirst(lc);
		ph->todo[ph->ntodo++] = i;
	}
	job_watermarks(g, ph, n);
}

typedef struct Round
{
	Collector	   *g;
	RunsPhase  *ph;
	int		   *next;			/* jobs with another page to read */
	int			nnext;
	MemoryContext keep;
} Round;

/*
 * A page arrived: ingest it now, while the other requests are in flight.
 * The page must have "JobRuns" (an array of at most the 200 asked for) and
 * may have a NextToken; its records go to the ingestion, which quarantines
 * a bad one alone.  Only the records it accepted count for where to stop and
 * where the watermark goes: a quarantined record's StartedOn is no more to be
 * believed than the rest of it.  A StartedOn that is not a plausible epoch
 * moves no watermark.
 */
static void
page_done(KantHttpRequest *req, void *arg)
{
	Round	   *rd = arg;
	Collector  *g = rd->g;
	int			job = (int) (intptr_t) req->user;
	JobPager   *p = &rd->ph->jobs[job];
	Reply		r;
	JsonbContainer *runs;
	char	   *token;
	double		oldest = 0;
	bool		any = false;
	bool	   *quarantined;
	int			i,
				n;

	count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (req->curl_code == 0 && !req->too_large && not_found(req))
			return;				/* deleted since GetJobs: nothing to read */
		glue_raise(g, req);
	}
	reply_read(&r, g, req);
	runs = get_array(&r, r.root, NULL, "JobRuns", true, GLUE_RUNS_PAGE);
	token = next_token(&r, p->next_token);
	p->pages++;
	if (token)
		another_page(&r, p->pages, psprintf("GetJobRuns of job \"%s\"", p->name));
	n = JsonContainerSize(runs);
	quarantined = ingest_page(g, r.json, n);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v;
		JsonbValue	buf;
		JsonbValue *s;
		double		t;

		CHECK_FOR_INTERRUPTS();
		if (quarantined && quarantined[i])
			continue;
		v = getIthJsonbValueFromContainer(runs, i);
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data) ||
			(s = field(v->val.binary.data, "StartedOn", &buf)) == NULL ||
			s->type != jbvNumeric)
			continue;
		t = number_value(s);
		pfree(v);
		if (!(t > 0 && t < STARTED_ON_MAX))
			continue;
		if (!any || t < oldest)
			oldest = t;
		if (!p->any || t > p->newest)
			p->newest = t;
		any = p->any = true;
	}
	if (p->next_token)
		pfree(p->next_token);
	p->next_token = token ? MemoryContextStrdup(rd->keep, token) : NULL;
	/* newest first: once a page reaches back past the watermark, stop */
	if (p->next_token && !(p->has_stop && any && oldest < p->stop_before))
		rd->next[rd->nnext++] = job;
	else
		job_read(g, p);
	release_reply(req);
}

/*
 * One round: the next page of the first ROUND_MAX jobs still being read, all
 * at once; those with another page go to the back of the line.
 */
static void
runs_round(Collector *g, void *arg)
{
	RunsPhase  *ph = arg;
	MemoryContext keep = CurrentMemoryContext;
	/* the pages of a round (replies, parsed JSON) go when the round ends */
	MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			n = Min(ph->ntodo, ROUND_MAX);
	char	  **bodies = palloc(sizeof(char *) * n);
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * n);
	KantHttpOptions opt = g->opt;
	Round		rd;
	int			i;

	for (i = 0; i < n; i++)
		bodies[i] = json_body("JobName", ph->jobs[ph->todo[i]].name,
							  ph->jobs[ph->todo[i]].next_token, GLUE_RUNS_PAGE);
	glue_requests(g, "GetJobRuns", bodies, n, reqs);
	for (i = 0; i < n; i++)
		reqs[i]->user = (void *) (intptr_t) ph->todo[i];
	rd.g = g;
	rd.ph = ph;
	rd.next = palloc(sizeof(int) * n);
	rd.nnext = 0;
	rd.keep = keep;
	opt.on_done = page_done;
	opt.on_done_arg = &rd;
	kant_http_perform(reqs, n, &opt, glue_retry, g);
	memmove(ph->todo, ph->todo + n, sizeof(int) * (ph->ntodo - n));
	memcpy(ph->todo + ph->ntodo - n, rd.next, sizeof(int) * rd.nnext);
	ph->ntodo = ph->ntodo - n + rd.nnext;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/*
 * The schedules a collector found, set in one statement (registering the jobs
 * they name first): a few statements however many jobs there are.
 */
static void
set_schedules(Collector *g, List *jobs, List *crons, List *zones, const char *source)
{
	Oid			argt[5] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID};
	Datum		argv[5];
	bool		isnull;

	if (jobs == NIL)
		return;
	argv[0] = CStringGetTextDatum(g->system);
	argv[1] = text_array(jobs);
	argv[2] = text_array(crons);
	argv[3] = text_array(zones);
	argv[4] = CStringGetTextDatum(source);
	if (SPI_execute_with_args("SELECT count(*) FILTER (WHERE kant._collector_job(s.system_id, u.job))"
							  " FROM kant.system s, unnest($2) AS u(job) WHERE s.name = $1",
							  2, argt, argv, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_execute_with_args("SELECT kant._collector_schedules($1, $2, $3, $4, $5)",
							  5, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: setting schedules failed");
	g->schedules += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The SCHEDULED triggers' cron schedules become their jobs' schedules
 * (GetTriggers, pages of 200): each trigger an object, Type, State and
 * Schedule strings when present, Actions an array of objects whose JobName
 * is a string when present (an action may start a crawler instead).
 */
static void
read_triggers(Collector *g)
{
	char	   *token = NULL;
	List	   *jobs = NIL,
			   *crons = NIL,
			   *zones = NIL;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant GetTriggers page", ALLOCSET_DEFAULT_SIZES);
	int			pages = 0;

	for (;;)
	{
		char	   *body;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *triggers;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		body = json_body(NULL, NULL, token, GLUE_TRIGGERS_PAGE);
		glue_batch(g, "GetTriggers", &body, 1, &req);
		pages++;
		reply_read(&r, g, req);
		triggers = get_array(&r, r.root, NULL, "Triggers", true, GLUE_TRIGGERS_PAGE);
		n = JsonContainerSize(triggers);
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *t = item_object(&r, triggers, "\"Triggers\"", i, &at);
			char	   *type = get_string(&r, t, at, "Type", false, 64);
			char	   *state = get_string(&r, t, at, "State", false, 64);
			char	   *schedule = get_string(&r, t, at, "Schedule", false, 1024);
			char	   *actions_at = psprintf("%s.Actions", at);
			JsonbContainer *actions = get_array(&r, t, at, "Actions", false, 0);
			int			j,
						m;

			CHECK_FOR_INTERRUPTS();
			if (type == NULL || strcmp(type, "SCHEDULED") != 0 || schedule == NULL ||
				(state && (strcmp(state, "DEACTIVATED") == 0 || strcmp(state, "DELETING") == 0)) ||
				actions == NULL)
				continue;
			m = JsonContainerSize(actions);
			for (j = 0; j < m; j++)
			{
				char	   *aat;
				JsonbContainer *a = item_object(&r, actions, actions_at, j, &aat);
				char	   *job = get_string(&r, a, aat, "JobName", false, GLUE_NAME_MAX);

				CHECK_FOR_INTERRUPTS();
				if (job == NULL)
					continue;
				if (list_length(jobs) >= collect_max_items)
					over_cap(&r, "kant.collect_max_items", "GetTriggers starts more than %d jobs",
							 list_length(jobs));
				MemoryContextSwitchTo(keep);
				jobs = lappend(jobs, pstrdup(job));
				crons = lappend(crons, pstrdup(schedule));
				zones = lappend(zones, "UTC");	/* Glue triggers run in UTC */
				MemoryContextSwitchTo(page);
			}
		}
		{
			char	   *next = next_token(&r, token);

			if (next == NULL)
				break;
			another_page(&r, pages, "GetTriggers");
			if (token)
				pfree(token);
			token = MemoryContextStrdup(keep, next);
		}
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	set_schedules(g, jobs, crons, zones, "glue_trigger");
}

/* ---------------------------------------------------------------- steps */

typedef void (*StepFn) (Collector *g, void *arg);

/*
 * Run one step in a subtransaction.  On error: roll it back, keep the error
 * in g, return false.  Cancel, statement_timeout and termination propagate.
 */
static bool
run_step(Collector *g, StepFn fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
		fn(g, arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		/* the user asked to stop: do not swallow that */
		if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED || ed->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		g->error = ed->detail ? psprintf("%s: %s", ed->message, ed->detail) : pstrdup(ed->message);
		g->sqlstate = pstrdup(unpack_sql_state(ed->sqlerrcode));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return g->error == NULL;
}

static void
step_jobs(Collector *g, void *arg)
{
	resolve_access(g);
	discover_jobs(g, (List **) arg);
}

static void
step_runs_begin(Collector *g, void *arg)
{
	runs_begin(g, (RunsPhase *) arg);
}

static void
step_triggers(Collector *g, void *arg)
{
	read_triggers(g);
	g->op = NULL;
}

/* ------------------------------------------------------------ the call */

typedef struct Call
{
	ErrorContextCallback ctx;
	MemoryContext fcxt;
	int64		collection_id;
} Call;

static void
collect_begin(Collector *g, Call *c, const char *kind, text *system)
{
	bool		isnull;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1];

	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->system = text_to_cstring(system);
	c->fcxt = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	c->ctx.callback = glue_context;
	c->ctx.arg = g;
	c->ctx.previous = error_context_stack;
	error_context_stack = &c->ctx;

	load_system(g, kind);
	argv[0] = Int32GetDatum(g->system_id);
	/* one collection of a system at a time: a second one waits its turn */
	if (SPI_execute_with_args("SELECT pg_advisory_xact_lock(" CppAsString2(KANT_LOCK_COLLECT) ", $1)",
							  1, argt, argv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: locking the system failed");
	if (SPI_execute_with_args("INSERT INTO kant.collection (system_id, started_at)"
							  " VALUES ($1, clock_timestamp()) RETURNING collection_id, started_at",
							  1, argt, argv, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "kant: recording the collection failed");
	c->collection_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	g->started = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
}

static Datum
collect_end(Collector *g, Call *c)
{
	char	   *error = g->error;
	char	   *sqlstate = g->sqlstate;
	Datum		result;

	error_context_stack = c->ctx.previous;
	{
		Oid			argt[11] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID,
		INT4OID, INT4OID, INT4OID, TEXTOID, TEXTOID};
		Datum		argv[11] = {Int64GetDatum(c->collection_id), Int32GetDatum(g->requests),
			Int32GetDatum(g->retries), Int32GetDatum(g->pages), Int32GetDatum(g->jobs),
			Int32GetDatum(g->runs_seen), Int32GetDatum(g->runs_new), Int32GetDatum(g->runs_changed),
			Int32GetDatum(g->schedules),
			sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0,
		error ? CStringGetTextDatum(error) : (Datum) 0};
		char		nulls[11];

		memset(nulls, ' ', sizeof(nulls));
		nulls[9] = sqlstate ? ' ' : 'n';
		nulls[10] = error ? ' ' : 'n';
		if (SPI_execute_with_args("UPDATE kant.collection SET ended_at = clock_timestamp(),"
								  " requests = $2, retries = $3, pages = $4, jobs = $5, runs_seen = $6,"
								  " runs_new = $7, runs_changed = $8, schedules = $9, sqlstate = $10, error = $11"
								  " WHERE collection_id = $1 RETURNING *",
								  11, argt, argv, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "kant: recording the collection failed");
		result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	}
	/* SPI_finish frees what the steps allocated: keep the message */
	if (error)
	{
		error = MemoryContextStrdup(c->fcxt, error);
		sqlstate = MemoryContextStrdup(c->fcxt, sqlstate);
	}
	SPI_finish();
	if (error)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("kant: collection %lld of %s system \"%s\" failed [%s]: %s",
						(long long) c->collection_id, g->kind, g->system, sqlstate, error),
				 errhint("What was read before the failure is kept; the next collection reads the rest. See SELECT * FROM kant.collector_health;")));
	return result;
}

PG_FUNCTION_INFO_V1(kant_collect_glue);
Datum
kant_collect_glue(PG_FUNCTION_ARGS)
{
	Collector		g;
	Call		c;
	RunsPhase	ph;

	collect_begin(&g, &c, "glue", PG_GETARG_TEXT_PP(0));

	/*
	 * Each step commits into the function's transaction when it succeeds, so
	 * what was read before a failure stays; a step that fails is rolled back
	 * whole and ends the collection.
	 */
	memset(&ph, 0, sizeof(ph));
	if (run_step(&g, step_jobs, &ph.names))
	{
		if (run_step(&g, step_runs_begin, &ph))
			while (ph.ntodo > 0 && run_step(&g, runs_round, &ph))
				;
		g.op = NULL;
		if (g.error == NULL)
			run_step(&g, step_triggers, NULL);
	}
	PG_RETURN_DATUM(collect_end(&g, &c));
}

/* ------------------------------------------------------------ airflow */

/*
 * kant.collect_airflow(system): the DAG runs that changed since the last
 * collection (minus the overlap) and their task instances, through the stable
 * REST API -- v2 (Airflow 3) when the server has it, else v1 (Airflow 2,
 * Composer 2) -- every listing paged until total_entries whatever page size
 * the server clamps to; the DAG runs' task instances are read at once
 * (bounded by max_parallel) and each page ingested as it arrives; then the
 * DAGs' cron schedules.  Basic auth with a user and password, or a bearer
 * token.
 */

static void
resolve_airflow(Collector *g)
{
	char	   *principal = g->principal,
			   *secret = g->secret;
	size_t		len;

	if (g->endpoint == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("airflow system \"%s\" has no endpoint", g->system),
				 errhint("kant.set_endpoint('%s', 'https://<your Airflow web server>')", g->system)));
	if (secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("airflow system \"%s\" has no credentials", g->system),
				 errhint("kant.set_credentials('%s', user, password) for basic auth, or kant.set_credentials('%s', NULL, token) for a bearer token.",
						 g->system, g->system)));
	check_binding(g);
	if (principal)
		principal = secret_or_error(g, principal, "user");
	secret = secret_or_error(g, secret, principal ? "password" : "token");
	len = strlen(g->endpoint);
	while (len > 0 && g->endpoint[len - 1] == '/')
		g->endpoint[--len] = '\0';
	if (principal)
		g->userpwd = psprintf("%s:%s", principal, secret);
	else
		g->auth_header = psprintf("Authorization: Bearer %s", secret);
}

/*
 * Airflow's errors: problem+json in v1 ({"title", "detail", "status"}),
 * {"detail": text, or a list of validation errors} in v2.  Their text
 * fields, cleaned and capped; nothing else of the body is shown.
 */
static void
af_error(KantHttpRequest *req, char **title, char **detail)
{
	JsonbContainer *doc = error_doc(req);

	*title = doc_text(doc, "title");
	*detail = doc_text(doc, "detail");
}

static void
af_raise(Collector *g, KantHttpRequest *req)
{
	char	   *title;
	char	   *detail;
	int			code = req->status == 401 || req->status == 403 ?
		ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;

	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g->op);
	af_error(req, &title, &detail);
	if (title == NULL && detail == NULL)
		ereport(ERROR,
				(errcode(code),
				 errmsg("kant: Airflow %s on %s failed with HTTP %ld%s", g->op, req->host, req->status,
						attempts_note(req)),
				 errdetail("The reply (%zu bytes) is not an Airflow error document; kant does not show it.",
						   req->response_len)));
	ereport(ERROR,
			(errcode(code),
			 errmsg("kant: Airflow %s on %s failed with HTTP %ld: %s", g->op, req->host, req->status,
					title ? title : detail),
			 title && detail ? errdetail("%s", detail) : 0));
}

static void
af_start(Collector *g, const char *op, char **urls, int n, KantHttpRequest **reqs)
{
	List	   *headers = list_make1(pstrdup("Accept: application/json"));
	int			i;

	if (g->auth_header)
		headers = lappend(headers, g->auth_header);
	g->op = op;
	for (i = 0; i < n; i++)
	{
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "GET";
		reqs[i]->url = urls[i];
		reqs[i]->headers = headers;
		reqs[i]->userpwd = g->userpwd;
		reqs[i]->basic_auth = true;
	}
}

static void
af_get(Collector *g, const char *op, char **urls, int n, KantHttpRequest **reqs, bool allow_404)
{
	int			i;

	af_start(g, op, urls, n, reqs);
	kant_http_perform(reqs, n, &g->opt, NULL, NULL);
	for (i = 0; i < n; i++)
	{
		count_attempts(g, reqs[i]);
		if (kant_http_failed(reqs[i]) && !(allow_404 && reqs[i]->status == 404))
			af_raise(g, reqs[i]);
	}
}

/* Which API the server speaks (its VersionInfo names a version), and from when to read. */
static void
step_af_detect(Collector *g, void *arg)
{
	char	   *url;
	KantHttpRequest *req;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};
	bool		isnull;
	Datum		v;
	Reply		r;

	resolve_airflow(g);
	url = psprintf("%s/api/v2/version", g->endpoint);
	af_get(g, "GET /api/v2/version", &url, 1, &req, true);
	if (req->status != 404)
		g->api = "v2";
	else
	{
		url = psprintf("%s/api/v1/version", g->endpoint);
		af_get(g, "GET /api/v1/version", &url, 1, &req, false);
		g->api = "v1";
	}
	reply_read(&r, g, req);
	get_string(&r, r.root, NULL, "version", true, 100);
	if (SPI_execute_with_args("SELECT to_char((s.collected_until - make_interval(secs => s.collect_overlap_seconds))"
							  " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
							  " FROM kant.system s WHERE s.system_id = $1",
							  1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the cursor failed");
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	g->has_cursor = !isnull;
	g->since = isnull ? NULL : TextDatumGetCString(v);
}

/* A path segment, percent-encoded: run ids hold ':' and '+'. */
static char *
path_segment(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(&b, c);
		else
			appendStringInfo(&b, "%%%02X", c);
	}
	return b.data;
}

static int
cmp_str(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/* A page of task instances still to read: a DAG run's path and an offset. */
typedef struct AfPage
{
	char	   *run;			/* dags/<dag_id>/dagRuns/<dag_run_id>, encoded */
	int64		offset;
	int			pages;			/* read so far */
} AfPage;

typedef struct AfRuns
{
	List	   *todo;			/* of AfPage *: the next round */
	int			dag_runs;
} AfRuns;

static char *
dag_runs_url(Collector *g, const char *filter, int64 offset)
{
	return psprintf("%s/api/%s/dags/~/dagRuns?limit=%d&offset=" INT64_FORMAT "%s",
					g->endpoint, g->api, AF_PAGE, offset, filter);
}

/*
 * The DAG runs of a listing's page as task-instance paths, kept in keep:
 * each an object with a string dag_id and dag_run_id (v1's spec lets
 * dag_run_id be null: such a run has no task instances to ask for).
 */
static void
dag_run_paths(Reply *r, JsonbContainer *runs, List **paths, MemoryContext keep)
{
	int			n = JsonContainerSize(runs);
	int			i;

	for (i = 0; i < n; i++)
	{
		char	   *at;
		JsonbContainer *o = item_object(r, runs, "\"dag_runs\"", i, &at);
		char	   *dag = get_string(r, o, at, "dag_id", true, AF_ID_MAX);
		char	   *run = get_string(r, o, at, "dag_run_id", strcmp(r->g->api, "v2") == 0, AF_ID_MAX);
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (*dag == '\0' || (run && *run == '\0'))
			unusable(r, "%s has an empty dag_id or dag_run_id", at);
		if (run == NULL)
			continue;
		if (list_length(*paths) >= collect_max_items)
			over_cap(r, "kant.collect_max_items", "the DAG runs to read number more than %d",
					 list_length(*paths));
		dag = path_segment(dag);
		run = path_segment(run);
		old = MemoryContextSwitchTo(keep);
		*paths = lappend(*paths, psprintf("dags/%s/dagRuns/%s", dag, run));
		MemoryContextSwitchTo(old);
	}
}

/* The pages of the DAG run listings after their first. */
typedef struct AfListing
{
	Collector  *g;
	List	  **paths;
	MemoryContext keep;
} AfListing;

static void
dag_runs_page_done(KantHttpRequest *req, void *arg)
{
	AfListing  *ls = arg;
	int64		offset = *(int64 *) req->user;
	Reply		r;
	JsonbContainer *runs;
	int64		total;

	count_attempts(ls->g, req);
	if (kant_http_failed(req))
		af_raise(ls->g, req);
	reply_read(&r, ls->g, req);
	runs = get_array(&r, r.root, NULL, "dag_runs", true, AF_PAGE);
	total = get_count(&r, "total_entries");
	if (JsonContainerSize(runs) == 0 && offset < total)
		unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no DAG runs",
				 total, offset);
	dag_run_paths(&r, runs, ls->paths, ls->keep);
	release_reply(req);
}

/*
 * Which DAG runs to read.  The first time, all of them; after that, the ones
 * that ended since the cursor (minus the overlap) and the ones queued or
 * running now -- a DAG run whose task is cleared goes back to queued, so that
 * is seen too.  These filters exist since Airflow 2.0 (updated_at_gte only
 * since 2.6).  Each listing is paged to total_entries through the server's
 * clamp, the pages after the first ROUND_MAX at a time, each read as it
 * arrives.
 */
static void
step_af_runs(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	MemoryContext keep = CurrentMemoryContext;
	const char *filters[2];
	int			nf,
				f,
				i,
				nrest = 0;
	char	   *urls[2];
	KantHttpRequest *reqs[2];
	List	   *paths = NIL;
	char	  **rest_urls = NULL;
	int64	   *rest_offsets = NULL;
	AfListing	ls;
	ListCell   *lc;

	if (g->since)
	{
		filters[0] = psprintf("&end_date_gte=%s", g->since);
		filters[1] = "&state=queued&state=running";
		nf = 2;
	}
	else
	{
		filters[0] = "";
		nf = 1;
	}
	for (f = 0; f < nf; f++)
		urls[f] = dag_runs_url(g, filters[f], 0);
	af_get(g, "GET dagRuns", urls, nf, reqs, false);
	for (f = 0; f < nf; f++)
	{
		Reply		r;
		JsonbContainer *runs;
		int64		total,
					len,
					off,
					pages;

		reply_read(&r, g, reqs[f]);
		runs = get_array(&r, r.root, NULL, "dag_runs", true, AF_PAGE);
		total = get_count(&r, "total_entries");
		len = JsonContainerSize(runs);
		dag_run_paths(&r, runs, &paths, keep);
		if (total <= len)
			continue;
		if (len == 0)
			unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the first page holds no DAG runs", total);
		pages = (total + len - 1) / len;
		if (pages > collect_max_pages)
			over_cap(&r, "kant.collect_max_pages",
					 "listing " INT64_FORMAT " DAG runs " INT64_FORMAT " at a time takes " INT64_FORMAT " pages",
					 total, len, pages);
		rest_urls = rest_urls ? repalloc(rest_urls, sizeof(char *) * (nrest + pages)) :
			palloc(sizeof(char *) * pages);
		rest_offsets = rest_offsets ? repalloc(rest_offsets, sizeof(int64) * (nrest + pages)) :
			palloc(sizeof(int64) * pages);
		for (off = len; off < total; off += len)
		{
			CHECK_FOR_INTERRUPTS();
			rest_offsets[nrest] = off;
			rest_urls[nrest++] = dag_runs_url(g, filters[f], off);
		}
		release_reply(reqs[f]);
	}
	ls.g = g;
	ls.paths = &paths;
	ls.keep = keep;
	for (i = 0; i < nrest; i += ROUND_MAX)
	{
		MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
													ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(round);
		int			n = Min(nrest - i, ROUND_MAX);
		KantHttpRequest **more = palloc(sizeof(KantHttpRequest *) * n);
		KantHttpOptions opt = g->opt;
		int			k;

		af_start(g, "GET dagRuns", rest_urls + i, n, more);
		for (k = 0; k < n; k++)
			more[k]->user = &rest_offsets[i + k];
		opt.on_done = dag_runs_page_done;
		opt.on_done_arg = &ls;
		kant_http_perform(more, n, &opt, NULL, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(round);
	}
	/* a run both ended since and running again (cleared) is read once */
	list_sort(paths, cmp_str);
	ar->todo = NIL;
	foreach(lc, paths)
	{
		AfPage	   *p;

		CHECK_FOR_INTERRUPTS();
		if (foreach_current_index(lc) > 0 &&
			strcmp(lfirst(lc), list_nth(paths, foreach_current_index(lc) - 1)) == 0)
			continue;
		p = palloc0(sizeof(AfPage));
		p->run = lfirst(lc);
		ar->todo = lappend(ar->todo, p);
	}
	ar->dag_runs = list_length(ar->todo);
}

typedef struct AfRound
{
	Collector  *g;
	List	   *next;
	MemoryContext keep;
} AfRound;

/*
 * A page of a DAG run's task instances arrived: "task_instances" (at most
 * the 1,000 asked for) and total_entries; ingest it now.
 */
static void
ti_page_done(KantHttpRequest *req, void *arg)
{
	AfRound    *rd = arg;
	Collector  *g = rd->g;
	AfPage	   *p = req->user;
	Reply		r;
	JsonbContainer *tis;
	int64		total,
				len;

	count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (req->curl_code == 0 && !req->too_large && req->status == 404)
			return;				/* the DAG run was deleted since it was listed */
		af_raise(g, req);
	}
	reply_read(&r, g, req);
	tis = get_array(&r, r.root, NULL, "task_instances", true, AF_PAGE);
	total = get_count(&r, "total_entries");
	len = JsonContainerSize(tis);
	p->pages++;
	if (p->offset + len < total)
	{
		if (len == 0)
			unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no task instances",
					 total, p->offset);
		if (p->pages >= collect_max_pages)
			over_cap(&r, "kant.collect_max_pages", "the task instances of one DAG run go on past %d pages",
					 p->pages);
	}
	(void) ingest_page(g, r.json, 0);
	if (p->offset + len < total)
	{
		MemoryContext old = MemoryContextSwitchTo(rd->keep);

		p->offset += len;
		rd->next = lappend(rd->next, p);
		MemoryContextSwitchTo(old);
	}
	release_reply(req);
}

/*
 * One round: the next page of task instances of the first ROUND_MAX DAG runs
 * still being read, all at once (bounded by max_parallel), each ingested as
 * it arrives; those with another page go to the back of the line.
 */
static void
step_af_tis(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			n = Min(list_length(ar->todo), ROUND_MAX);
	char	  **urls = palloc(sizeof(char *) * n);
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * n);
	KantHttpOptions opt = g->opt;
	AfRound		rd;
	List	   *rest = NIL;
	ListCell   *lc;

	foreach(lc, ar->todo)
	{
		AfPage	   *p = lfirst(lc);
		int			i = foreach_current_index(lc);

		CHECK_FOR_INTERRUPTS();
		if (i >= n)
		{
			MemoryContextSwitchTo(keep);
			rest = lappend(rest, p);
			MemoryContextSwitchTo(round);
			continue;
		}
		urls[i] = psprintf("%s/api/%s/%s/taskInstances?limit=%d&offset=" INT64_FORMAT,
						   g->endpoint, g->api, p->run, AF_PAGE, p->offset);
	}
	rd.g = g;
	rd.next = NIL;
	rd.keep = keep;
	opt.on_done = ti_page_done;
	opt.on_done_arg = &rd;
	af_start(g, "GET taskInstances", urls, n, reqs);
	foreach(lc, ar->todo)
	{
		if (foreach_current_index(lc) >= n)
			break;
		reqs[foreach_current_index(lc)]->user = lfirst(lc);
	}
	kant_http_perform(reqs, n, &opt, NULL, NULL);
	MemoryContextSwitchTo(keep);
	list_free(ar->todo);
	ar->todo = list_concat(rest, rd.next);
	list_free(rd.next);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/*
 * The DAGs' cron schedules become their tasks' schedules; then the cursor
 * moves.  Each DAG an object with a string dag_id; v2's timetable_summary a
 * string or null, v1's schedule_interval an object or null.
 */
static void
step_af_dags(Collector *g, void *arg)
{
	int64		offset = 0,
				total;
	int			pages = 0;
	Oid			qt[2] = {INT4OID, TEXTARRAYOID};
	List	   *dag_ids = NIL,
			   *dag_crons = NIL,
			   *jobs = NIL,
			   *crons = NIL,
			   *zones = NIL;
	uint64		k;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant dags page", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		char	   *url;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *dags;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		url = psprintf("%s/api/%s/dags?limit=%d&offset=" INT64_FORMAT, g->endpoint, g->api, AF_PAGE, offset);
		af_get(g, "GET dags", &url, 1, &req, false);
		pages++;
		reply_read(&r, g, req);
		dags = get_array(&r, r.root, NULL, "dags", true, AF_PAGE);
		total = get_count(&r, "total_entries");
		n = JsonContainerSize(dags);
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *d = item_object(&r, dags, "\"dags\"", i, &at);
			char	   *dag_id = get_string(&r, d, at, "dag_id", true, AF_ID_MAX);
			char	   *cron = NULL;
			JsonbContainer *si;

			CHECK_FOR_INTERRUPTS();
			g->jobs++;
			if (strcmp(g->api, "v2") == 0)
				cron = get_string(&r, d, at, "timetable_summary", false, 1024);
			else if ((si = get_object(&r, d, at, "schedule_interval")) != NULL)
			{
				char	   *si_at = psprintf("%s.schedule_interval", at);
				char	   *type = get_string(&r, si, si_at, "__type", false, 64);

				if (type && strcmp(type, "CronExpression") == 0)
					cron = get_string(&r, si, si_at, "value", false, 1024);
			}
			if (cron == NULL)
				continue;
			if (list_length(dag_ids) >= collect_max_items)
				over_cap(&r, "kant.collect_max_items", "the DAGs number more than %d", list_length(dag_ids));
			MemoryContextSwitchTo(keep);
			dag_ids = lappend(dag_ids, pstrdup(dag_id));
			dag_crons = lappend(dag_crons, pstrdup(cron));
			MemoryContextSwitchTo(page);
		}
		offset += n;
		if (offset >= total)
			break;
		if (n == 0)
			unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no DAGs",
					 total, offset);
		another_page(&r, pages, "GET dags");
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	if (dag_ids != NIL)
	{
		Datum		qv[2] = {Int32GetDatum(g->system_id), text_array(dag_ids)};

		/* the tasks kant knows of each DAG (it sees the ones just ingested) */
		if (SPI_execute_with_args("SELECT j.name, s.time_zone, u.ord::integer FROM unnest($2) WITH ORDINALITY AS u(dag_id, ord)"
								  " JOIN kant.job j ON j.system_id = $1 AND j.dag_id = u.dag_id"
								  " JOIN kant.system s ON s.system_id = j.system_id",
								  2, qt, qv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the DAGs' tasks failed");
		for (k = 0; k < SPI_processed; k++)
		{
			HeapTuple	t = SPI_tuptable->vals[k];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			int			ord = DatumGetInt32(SPI_getbinval(t, td, 3, &isnull));

			jobs = lappend(jobs, SPI_getvalue(t, td, 1));
			zones = lappend(zones, SPI_getvalue(t, td, 2));
			crons = lappend(crons, list_nth(dag_crons, ord - 1));
		}
		set_schedules(g, jobs, crons, zones, "airflow_dag");
	}
	g->op = NULL;
	{
		Oid			ut[1] = {INT4OID};
		Datum		uv[1] = {Int32GetDatum(g->system_id)};

		/* everything updated before this transaction began has been read */
		if (SPI_execute_with_args("UPDATE kant.system SET collected_until = now() WHERE system_id = $1",
								  1, ut, uv, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "kant: moving the cursor failed");
	}
}

PG_FUNCTION_INFO_V1(kant_collect_airflow);
Datum
kant_collect_airflow(PG_FUNCTION_ARGS)
{
	Collector		g;
	Call		c;

	AfRuns		ar;

	collect_begin(&g, &c, "airflow", PG_GETARG_TEXT_PP(0));
	memset(&ar, 0, sizeof(ar));
	if (run_step(&g, step_af_detect, NULL) &&
		run_step(&g, step_af_runs, &ar))
	{
		while (ar.todo != NIL && run_step(&g, step_af_tis, &ar))
			;
		if (g.error == NULL)
			run_step(&g, step_af_dags, NULL);
	}
	PG_RETURN_DATUM(collect_end(&g, &c));
}

/* ------------------------------------------------------------ actions */

/*
 * One request that acts on a system (not a collection): the system and its
 * credentials as the collectors read them, the same error context.
 */
static void
action_begin(Collector *g, ErrorContextCallback *ctx, const char *kind, text *system)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->system = text_to_cstring(system);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "kant: SPI_connect failed");
	ctx->callback = glue_context;
	ctx->arg = g;
	ctx->previous = error_context_stack;
	error_context_stack = ctx;
	load_system(g, kind);
}


/*
 * Its one result row: status, body (at most 4,000 bytes, whole characters),
 * and a third text or NULL.
 */
static Datum
action_end(FunctionCallInfo fcinfo, ErrorContextCallback *ctx, MemoryContext fcxt,
		   KantHttpRequest *req, const char *body, const char *third)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		v[3];
	bool		isnull[3] = {false, false, third == NULL};
	int			len = strlen(body);

	error_context_stack = ctx->previous;
	/* the row outlives SPI */
	MemoryContextSwitchTo(fcxt);
	v[0] = Int32GetDatum((int32) req->status);
	v[1] = PointerGetDatum(cstring_to_text_with_len(body, pg_mbcliplen(body, len, Min(len, 4000))));
	v[2] = third ? CStringGetTextDatum(third) : (Datum) 0;
	InitMaterializedSRF(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	SPI_finish();
	return (Datum) 0;
}

/* A 2xx reply of an action, as the JSON text of the object it must be. */
static char *
action_reply(Reply *r)
{
	return JsonbToCString(NULL, r->root, VARSIZE(r->json));
}

/*
 * kant._airflow_post(system, path, body): POST a JSON body to the Airflow
 * REST API of a system (path after /api/<version>/, the version detected as
 * the collector does), with its credentials, the HTTP layer's timeouts and
 * retries (429, 5xx, transport).  Returns the final status, the body and the
 * API version; a transport failure is an error, and so is a 2xx reply that
 * is not a JSON object (a DAG run, for .../dagRuns).  The body of an error
 * status is only its problem document's title and detail, cleaned and
 * capped.  For triggering DAG runs (kant.trigger_ready_gates).
 */
PG_FUNCTION_INFO_V1(kant_airflow_post);
Datum
kant_airflow_post(PG_FUNCTION_ARGS)
{
	Collector	g;
	ErrorContextCallback ctx;
	MemoryContext fcxt = CurrentMemoryContext;
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *body = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *url;
	char	   *answer;
	KantHttpRequest *req;

	action_begin(&g, &ctx, "airflow", PG_GETARG_TEXT_PP(0));
	step_af_detect(&g, NULL);
	url = psprintf("%s/api/%s/%s", g.endpoint, g.api, path);
	af_start(&g, psprintf("POST %s", path), &url, 1, &req);
	req->method = "POST";
	req->body = body;
	req->body_len = strlen(body);
	req->headers = lappend(req->headers, pstrdup("Content-Type: application/json"));
	kant_http_perform(&req, 1, &g.opt, NULL, NULL);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g.op);
	if (req->status < 400)
	{
		Reply		r;
		size_t		len = strlen(path);

		reply_read(&r, &g, req);
		/* a DAGRun: its dag_id, and its dag_run_id (v1 lets it be null) */
		if (len >= 8 && strcmp(path + len - 8, "/dagRuns") == 0)
		{
			get_string(&r, r.root, NULL, "dag_id", true, AF_ID_MAX);
			get_string(&r, r.root, NULL, "dag_run_id", strcmp(g.api, "v2") == 0, AF_ID_MAX);
		}
		answer = action_reply(&r);
	}
	else
	{
		char	   *title;
		char	   *detail;

		af_error(req, &title, &detail);
		if (title && detail)
			answer = psprintf("%s: %s", title, detail);
		else if (title || detail)
			answer = title ? title : detail;
		else
			answer = psprintf("HTTP %ld: the reply (%zu bytes) is not an Airflow error document; kant does not show it",
							  req->status, req->response_len);
	}
	return action_end(fcinfo, &ctx, fcxt, req, answer, g.api);
}

/*
 * kant._glue_call(system, operation, body): one signed Glue JSON 1.1 request
 * (for StartJobRun), with the HTTP layer's timeouts and Glue's retry policy
 * (throttling, 5xx).  Returns the final status, the body, and Glue's error
 * type without its namespace (e.g. ConcurrentRunsExceededException) when the
 * answer is an error; a transport failure is an error, and so is a 2xx reply
 * that is not a JSON object (with a JobRunId, for StartJobRun).  The body of
 * an error status is only its type and message, cleaned and capped.
 */
PG_FUNCTION_INFO_V1(kant_glue_call);
Datum
kant_glue_call(PG_FUNCTION_ARGS)
{
	Collector	g;
	ErrorContextCallback ctx;
	MemoryContext fcxt = CurrentMemoryContext;
	char	   *op = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *body = text_to_cstring(PG_GETARG_TEXT_PP(2));
	KantHttpRequest *req;
	char	   *etype = NULL;
	char	   *answer;

	action_begin(&g, &ctx, "glue", PG_GETARG_TEXT_PP(0));
	resolve_access(&g);
	glue_requests(&g, op, &body, 1, &req);
	kant_http_perform(&req, 1, &g.opt, glue_retry, &g);
	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, op);
	if (req->status < 400)
	{
		Reply		r;

		reply_read(&r, &g, req);
		if (strcmp(op, "StartJobRun") == 0 &&
			*get_string(&r, r.root, NULL, "JobRunId", true, GLUE_NAME_MAX) == '\0')
			unusable(&r, "\"JobRunId\" is empty");
		answer = action_reply(&r);
	}
	else
	{
		char	   *message;

		etype = glue_error(req, &message);
		if (etype && message)
			answer = psprintf("%s: %s", etype, message);
		else if (etype)
			answer = etype;
		else
			answer = psprintf("HTTP %ld: the reply (%zu bytes) is not a Glue error document; kant does not show it",
							  req->status, req->response_len);
	}
	return action_end(fcinfo, &ctx, fcxt, req, answer, etype);
}
