/*
 * collect_reply.c
 *	  An endpoint's replies, as the collectors read them.
 *
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
 *
 * Fields are read with jsonutil.c's helpers, as a source record's are; what
 * a reply adds is the error of the step (reply_unusable) where a record is
 * quarantined, and messages that name the field as the API documents it.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "common/string.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "collect_int.h"

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

static const char *
vendor(Collector *g)
{
	if (g->vendor)
		return g->vendor;		/* a credential source's endpoint (auth.c) */
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
void
pg_attribute_printf(2, 3) pg_attribute_noreturn()
reply_unusable(Reply *r, const char *fmt,...)
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
void
pg_attribute_printf(3, 4) pg_attribute_noreturn()
reply_over_cap(Reply *r, const char *setting, const char *fmt,...)
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
					strcmp(setting, "kant.collect_max_pages") == 0 ? kant_collect_max_pages : kant_collect_max_items),
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
void
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
		reply_unusable(r, "%s", why);
	if (!JB_ROOT_IS_OBJECT(r->json))
		reply_unusable(r, "it must be a JSON object, not %s",
					   JB_ROOT_IS_SCALAR(r->json) ? "a scalar" : "an array");
	r->root = &r->json->root;
}

/* Where a field is, for messages: "dag_runs" at the top, "dag_runs"[3].dag_id below. */
static char *
field_path(const char *at, const char *key)
{
	return at ? psprintf("%s.%s", at, key) : psprintf("\"%s\"", key);
}

/* A required field that is absent or null. */
static void
pg_attribute_noreturn()
missing(Reply *r, JsonbContainer *obj, const char *at, const char *key, const char *what)
{
	JsonbValue	buf;

	if (getKeyJsonValueFromContainer(obj, key, strlen(key), &buf) != NULL)
		reply_unusable(r, "%s must be %s, not null", field_path(at, key), what);
	reply_unusable(r, "%s is missing", field_path(at, key));
}

/* An array field: absent is NULL unless required; more items than asked for is an error. */
JsonbContainer *
reply_get_array(Reply *r, JsonbContainer *obj, const char *at, const char *key, bool required, int max_items)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);

	if (v == NULL)
	{
		if (required)
			missing(r, obj, at, key, "an array");
		return NULL;
	}
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		reply_unusable(r, "%s must be an array, not %s", field_path(at, key), json_type_name(v));
	if (max_items > 0 && (int) JsonContainerSize(v->val.binary.data) > max_items)
		reply_unusable(r, "%s holds %d items, more than the %d kant asked for",
					   field_path(at, key), (int) JsonContainerSize(v->val.binary.data), max_items);
	return v->val.binary.data;
}

/* Item i of an array, which must be an object; its path in *path. */
JsonbContainer *
reply_item_object(Reply *r, JsonbContainer *arr, const char *at, int i, char **path)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);
	JsonbContainer *c;

	*path = psprintf("%s[%d]", at, i);
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		reply_unusable(r, "%s must be an object, not %s", *path, json_type_name(v));
	c = v->val.binary.data;
	pfree(v);
	return c;
}

/* An object field: absent (or null) is NULL, anything but an object an error. */
JsonbContainer *
reply_get_object(Reply *r, JsonbContainer *obj, const char *at, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);

	if (v == NULL)
		return NULL;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		reply_unusable(r, "%s must be an object, not %s", field_path(at, key), json_type_name(v));
	return v->val.binary.data;
}

/* A string field of at most max_chars characters; absent is NULL unless required. */
char *
reply_get_string(Reply *r, JsonbContainer *obj, const char *at, const char *key, bool required,
				 int max_chars)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);

	if (v == NULL)
	{
		if (required)
			missing(r, obj, at, key, "a string");
		return NULL;
	}
	if (v->type != jbvString)
		reply_unusable(r, "%s must be a string, not %s", field_path(at, key), json_type_name(v));
	if (v->val.string.len > max_chars &&
		pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > max_chars)
		reply_unusable(r, "%s is longer than %d characters", field_path(at, key), max_chars);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A number field: absent is false, anything but a number an error. */
bool
reply_get_number(Reply *r, JsonbContainer *obj, const char *at, const char *key, double *out)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);

	if (v == NULL)
		return false;
	if (v->type != jbvNumeric)
		reply_unusable(r, "%s must be a number, not %s", field_path(at, key), json_type_name(v));
	*out = json_number_float8(v);
	return true;
}

/* Airflow's total_entries: an integer >= 0 (the spec's CollectionInfo), within the cap. */
int64
reply_get_count(Reply *r, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(r->root, key, &buf);
	char	   *s;
	int64		n = 0;
	char	   *p;

	if (v == NULL)
		missing(r, r->root, NULL, key, "an integer");
	if (v->type != jbvNumeric)
		reply_unusable(r, "%s must be an integer, not %s", field_path(NULL, key), json_type_name(v));
	s = numeric_normalize(v->val.numeric);
	for (p = s; *p; p++)
	{
		if (*p < '0' || *p > '9')
			reply_unusable(r, "%s must be an integer of at least 0, not %s", field_path(NULL, key),
						   strlen(s) > 40 ? "a number of more than 40 characters" : s);
		if (n <= kant_collect_max_items)
			n = n * 10 + (*p - '0');
	}
	if (n > kant_collect_max_items)
		reply_over_cap(r, "kant.collect_max_items", "%s is %s", field_path(NULL, key),
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
JsonbContainer *
reply_error_doc(KantHttpRequest *req)
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
char *
reply_doc_text(JsonbContainer *doc, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = doc ? json_get(doc, key, &buf) : NULL;
	char	   *t;

	if (v == NULL || v->type != jbvString)
		return NULL;
	t = clean_text(v->val.string.val, v->val.string.len);
	return *t ? t : NULL;
}

char *
reply_attempts_note(KantHttpRequest *req)
{
	return req->attempts > 1 ? psprintf(" (after %d attempts)", req->attempts) : "";
}

/* A page is ingested: its reply need not wait for the end of the round. */
void
reply_release(KantHttpRequest *req)
{
	pfree(req->response);
	req->response = NULL;
	req->response_len = 0;
}

