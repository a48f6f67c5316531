/*
 * payload_scan.c
 *	  Iterative scanner of text payloads (see payload_scan.h).
 *
 * Phase 1 (scan_begin) lexes the whole document once with PG's lexer and a
 * small state machine instead of the recursive-descent parser: any syntax
 * error, anywhere, is found before a record is read, and nesting depth
 * costs one bit per level of heap, never C stack.  It also finds the root
 * shape the way the jsonb form sees it: in a root object the last
 * occurrence of a key wins, keys are compared after de-escaping, and a JSON
 * null value counts as absent.
 *
 * Phase 2 (scan_next_record) streams the records of the list one at a time,
 * keeping no per-record state, and checks in each what jsonb_in would refuse
 * although the json lexer accepts it: \u0000, lone or reversed surrogates,
 * and (flags) numbers, depths and sizes that may exceed jsonb's limits.
 *
 * Frontend builds (-DFRONTEND) link this file with libpgcommon: keep it
 * free of backend-only calls, or behind #ifndef FRONTEND.
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#include "miscadmin.h"
#endif

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "payload_scan.h"

/* What the next token must be. */
typedef enum ScanState
{
	ST_VALUE,					/* any value */
	ST_ARRAY_FIRST,				/* after '[': a value or ']' */
	ST_ARRAY_NEXT,				/* after an element: ',' or ']' */
	ST_OBJECT_FIRST,			/* after '{': a key or '}' */
	ST_OBJECT_KEY,				/* after ',' in an object: a key */
	ST_COLON,					/* after a key */
	ST_OBJECT_NEXT,				/* after a field's value: ',' or '}' */
	ST_END						/* after the root value: nothing */
} ScanState;

/* The root object's keys kant looks for, in that order of precedence. */
enum
{
	KEY_LIST,
	KEY_SINGLE,
	KEY_ID,
	KEY_COUNT,
	KEY_OTHER = KEY_COUNT
};

/* The last occurrence of one root key. */
typedef struct KeySeen
{
	bool		seen;
	JsonTokenType type;
	int			start;
	int			end;
} KeySeen;

/* One bit per open container: set for an object, clear for an array. */
typedef struct DepthStack
{
	uint64	   *bits;
	int			words;
	int			depth;
} DepthStack;

static void
depth_push(DepthStack *ds, bool is_object)
{
	int			w = ds->depth / 64;
	uint64		bit = UINT64CONST(1) << (ds->depth % 64);

	if (w >= ds->words)
	{
		int			n = ds->words * 2;

		ds->bits = repalloc(ds->bits, sizeof(uint64) * n);
		memset(ds->bits + ds->words, 0, sizeof(uint64) * (n - ds->words));
		ds->words = n;
	}
	if (is_object)
		ds->bits[w] |= bit;
	else
		ds->bits[w] &= ~bit;
	ds->depth++;
}

static inline bool
depth_top_is_object(DepthStack *ds)
{
	int			d = ds->depth - 1;

	return (ds->bits[d / 64] >> (d % 64)) & 1;
}

static inline bool
is_scalar_token(JsonTokenType t)
{
	return t == JSON_TOKEN_STRING || t == JSON_TOKEN_NUMBER || t == JSON_TOKEN_TRUE ||
		t == JSON_TOKEN_FALSE || t == JSON_TOKEN_NULL;
}

static int
hex4(const char *s)
{
	int			ch = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
			ch = ch * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			ch = ch * 16 + (c - 'a') + 10;
		else
			ch = ch * 16 + (c - 'A') + 10;
	}
	return ch;
}

/*
 * Is the string token s (quotes included, already lexed) equal to key once
 * de-escaped?  kant's keys are ASCII: any other code point is a mismatch.
 */
static bool
key_equals(const char *s, int len, const char *key)
{
	const char *p = s + 1;
	const char *end = s + len - 1;
	const char *k = key;

	if (memchr(p, '\\', end - p) == NULL)
		return (size_t) (end - p) == strlen(key) && memcmp(p, key, end - p) == 0;
	while (p < end)
	{
		int			ch = (unsigned char) *p++;

		if (ch == '\\')
		{
			ch = *p++;
			switch (ch)
			{
				case 'b':
					ch = '\b';
					break;
				case 'f':
					ch = '\f';
					break;
				case 'n':
					ch = '\n';
					break;
				case 'r':
					ch = '\r';
					break;
				case 't':
					ch = '\t';
					break;
				case 'u':
					ch = hex4(p);
					p += 4;
					if (ch == 0 || ch > 0x7F)
						return false;
					break;
				default:
					break;		/* \" \\ \/ */
			}
		}
		if (*k == '\0' || *k != ch)
			return false;
		k++;
	}
	return *k == '\0';
}

#ifdef FRONTEND
/* PG's json_errdetail() is backend-only in 15: the same words, untranslated. */
static char *
fe_errdetail(JsonParseErrorType error, JsonLexContext *lex)
{
	int			toklen = lex->token_start ? lex->token_terminator - lex->token_start : 0;
	const char *tok = lex->token_start;

	switch (error)
	{
		case JSON_SUCCESS:
			break;
		case JSON_ESCAPING_INVALID:
			return psprintf("Escape sequence \"\\%.*s\" is invalid.", toklen, tok);
		case JSON_ESCAPING_REQUIRED:
			return psprintf("Character with value 0x%02x must be escaped.",
							(unsigned char) *(lex->token_terminator));
		case JSON_EXPECTED_END:
			return psprintf("Expected end of input, but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_ARRAY_FIRST:
			return psprintf("Expected array element or \"]\", but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_ARRAY_NEXT:
			return psprintf("Expected \",\" or \"]\", but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_COLON:
			return psprintf("Expected \":\", but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_JSON:
			return psprintf("Expected JSON value, but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_MORE:
			return pstrdup("The input string ended unexpectedly.");
		case JSON_EXPECTED_OBJECT_FIRST:
			return psprintf("Expected string or \"}\", but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_OBJECT_NEXT:
			return psprintf("Expected \",\" or \"}\", but found \"%.*s\".", toklen, tok);
		case JSON_EXPECTED_STRING:
			return psprintf("Expected string, but found \"%.*s\".", toklen, tok);
		case JSON_INVALID_TOKEN:
			return psprintf("Token \"%.*s\" is invalid.", toklen, tok);
		case JSON_UNICODE_CODE_POINT_ZERO:
			return pstrdup("\\u0000 cannot be converted to text.");
		case JSON_UNICODE_ESCAPE_FORMAT:
			return pstrdup("\"\\u\" must be followed by four hexadecimal digits.");
		case JSON_UNICODE_HIGH_ESCAPE:
			return pstrdup("Unicode escape values cannot be used for code point values "
						   "above 007F when the encoding is not UTF8.");
		case JSON_UNICODE_HIGH_SURROGATE:
			return pstrdup("Unicode high surrogate must not follow a high surrogate.");
		case JSON_UNICODE_LOW_SURROGATE:
			return pstrdup("Unicode low surrogate must follow a high surrogate.");
	}
	return psprintf("JSON error %d.", (int) error);
}
#endif

static void
scan_fail(PayloadScan *ps, JsonLexContext *lex, JsonParseErrorType error)
{
	const char *at = lex->token_start ? lex->token_start : lex->token_terminator;

	ps->root = SCAN_ERROR;
	ps->error = error;
	ps->error_line = lex->line_number;
	ps->error_offset = at - ps->text;
#ifdef FRONTEND
	ps->error_detail = fe_errdetail(error, lex);
#else
	ps->error_detail = json_errdetail(error, lex);
#endif
}

/*
 * The error pg_parse_json reports for an unexpected token in this state
 * (END anywhere but at the end: the input ended early).
 */
static JsonParseErrorType
unexpected(ScanState st, JsonTokenType tok)
{
	if (tok == JSON_TOKEN_END)
		return JSON_EXPECTED_MORE;
	switch (st)
	{
		case ST_VALUE:
		case ST_ARRAY_FIRST:
			return JSON_EXPECTED_JSON;
		case ST_ARRAY_NEXT:
			return JSON_EXPECTED_ARRAY_NEXT;
		case ST_OBJECT_FIRST:
			return JSON_EXPECTED_OBJECT_FIRST;
		case ST_OBJECT_KEY:
			return JSON_EXPECTED_STRING;
		case ST_COLON:
			return JSON_EXPECTED_COLON;
		case ST_OBJECT_NEXT:
			return JSON_EXPECTED_OBJECT_NEXT;
		case ST_END:
			return JSON_EXPECTED_END;
	}
	return JSON_EXPECTED_JSON;
}

void
scan_begin(PayloadScan *ps, const char *text, int len, int encoding,
		   const char *list_key, const char *single_key, const char *id_key)
{
	const char *keys[KEY_COUNT] = {list_key, single_key, id_key};
	KeySeen		seen[KEY_COUNT];
	JsonLexContext *lex;
	DepthStack	ds;
	ScanState	st = ST_VALUE;
	int			pending = KEY_OTHER;	/* the root key whose value comes next */
	int			capture = KEY_OTHER;	/* the root key whose container is open */
	JsonTokenType root_type = JSON_TOKEN_INVALID;
	int			root_start = 0;
	int			root_end = 0;
	uint32		ntokens = 0;

	memset(ps, 0, sizeof(*ps));
	memset(seen, 0, sizeof(seen));
	ps->text = text;
	ps->len = len;
	ps->encoding = encoding;
	ds.words = 4;
	ds.bits = palloc0(sizeof(uint64) * ds.words);
	ds.depth = 0;
	lex = makeJsonLexContextCstringLen((char *) text, len, encoding, false);

	for (;;)
	{
		JsonParseErrorType r = json_lex(lex);
		JsonTokenType tok;
		bool		value_done = false;

		if (r != JSON_SUCCESS)
		{
			scan_fail(ps, lex, r);
			goto out;
		}
#ifndef FRONTEND
		if ((++ntokens & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
#else
		++ntokens;
#endif
		tok = lex->token_type;

		switch (st)
		{
			case ST_ARRAY_FIRST:
				if (tok == JSON_TOKEN_ARRAY_END)
				{
					ds.depth--;
					value_done = true;
					break;
				}
				/* FALLTHROUGH */
			case ST_VALUE:
				if (tok != JSON_TOKEN_OBJECT_START && tok != JSON_TOKEN_ARRAY_START &&
					!is_scalar_token(tok))
				{
					scan_fail(ps, lex, unexpected(st, tok));
					goto out;
				}
				if (ds.depth == 0)
				{
					root_type = tok;
					root_start = lex->token_start - text;
				}
				else if (ds.depth == 1 && pending != KEY_OTHER)
				{
					seen[pending].seen = true;
					seen[pending].type = tok;
					seen[pending].start = lex->token_start - text;
					seen[pending].end = lex->token_terminator - text;
					if (tok == JSON_TOKEN_OBJECT_START || tok == JSON_TOKEN_ARRAY_START)
						capture = pending;
					pending = KEY_OTHER;
				}
				if (tok == JSON_TOKEN_OBJECT_START)
				{
					depth_push(&ds, true);
					st = ST_OBJECT_FIRST;
				}
				else if (tok == JSON_TOKEN_ARRAY_START)
				{
					depth_push(&ds, false);
					st = ST_ARRAY_FIRST;
				}
				else
					value_done = true;
				break;
			case ST_ARRAY_NEXT:
				if (tok == JSON_TOKEN_COMMA)
					st = ST_VALUE;
				else if (tok == JSON_TOKEN_ARRAY_END)
				{
					ds.depth--;
					value_done = true;
				}
				else
				{
					scan_fail(ps, lex, unexpected(st, tok));
					goto out;
				}
				break;
			case ST_OBJECT_FIRST:
			case ST_OBJECT_KEY:
				if (tok == JSON_TOKEN_STRING)
				{
					pending = KEY_OTHER;
					if (ds.depth == 1)
					{
						int			k;

						for (k = 0; k < KEY_COUNT; k++)
							if (keys[k] != NULL &&
								key_equals(lex->token_start,
										   lex->token_terminator - lex->token_start, keys[k]))
							{
								pending = k;
								break;
							}
					}
					st = ST_COLON;
				}
				else if (tok == JSON_TOKEN_OBJECT_END && st == ST_OBJECT_FIRST)
				{
					ds.depth--;
					value_done = true;
				}
				else
				{
					scan_fail(ps, lex, unexpected(st, tok));
					goto out;
				}
				break;
			case ST_COLON:
				if (tok != JSON_TOKEN_COLON)
				{
					scan_fail(ps, lex, unexpected(st, tok));
					goto out;
				}
				st = ST_VALUE;
				break;
			case ST_OBJECT_NEXT:
				if (tok == JSON_TOKEN_COMMA)
					st = ST_OBJECT_KEY;
				else if (tok == JSON_TOKEN_OBJECT_END)
				{
					ds.depth--;
					value_done = true;
				}
				else
				{
					scan_fail(ps, lex, unexpected(st, tok));
					goto out;
				}
				break;
			case ST_END:
				if (tok != JSON_TOKEN_END)
				{
					scan_fail(ps, lex, unexpected(st, tok));
					goto out;
				}
				goto done;
		}

		if (value_done)
		{
			/* a value ended: its container's next state */
			if (ds.depth == 1 && capture != KEY_OTHER)
			{
				seen[capture].end = lex->token_terminator - text;
				capture = KEY_OTHER;
			}
			if (ds.depth == 0)
			{
				root_end = lex->token_terminator - text;
				st = ST_END;
			}
			else
				st = depth_top_is_object(&ds) ? ST_OBJECT_NEXT : ST_ARRAY_NEXT;
		}
	}

done:
	if (root_type == JSON_TOKEN_ARRAY_START)
	{
		ps->root = SCAN_LIST;
		ps->list_at_root = true;
		ps->value_start = root_start;
		ps->value_end = root_end;
	}
	else if (root_type != JSON_TOKEN_OBJECT_START)
		ps->root = SCAN_SCALAR;
	else if (list_key && seen[KEY_LIST].seen && seen[KEY_LIST].type != JSON_TOKEN_NULL)
	{
		ps->value_type = seen[KEY_LIST].type;
		ps->value_start = seen[KEY_LIST].start;
		ps->value_end = seen[KEY_LIST].end;
		ps->root = (seen[KEY_LIST].type == JSON_TOKEN_ARRAY_START) ?
			SCAN_LIST : SCAN_LIST_NOT_ARRAY;
	}
	else if (single_key && seen[KEY_SINGLE].seen && seen[KEY_SINGLE].type != JSON_TOKEN_NULL)
	{
		ps->root = SCAN_SINGLE;
		ps->value_type = seen[KEY_SINGLE].type;
		ps->value_start = seen[KEY_SINGLE].start;
		ps->value_end = seen[KEY_SINGLE].end;
	}
	else if (id_key && seen[KEY_ID].seen && seen[KEY_ID].type != JSON_TOKEN_NULL)
	{
		ps->root = SCAN_SINGLE;
		ps->single_at_root = true;
		ps->value_type = root_type;
		ps->value_start = root_start;
		ps->value_end = root_end;
	}
	else
		ps->root = SCAN_NONE;

out:
	pfree(ds.bits);
	if (lex->strval)
		pfree(lex->strval);
	pfree(lex);
	ps->done = (ps->root != SCAN_LIST && ps->root != SCAN_SINGLE);
}

/* What jsonb_in refuses in a string token that the json lexer accepted. */
static void
check_string(ScanRecord *rec, const char *s, int len, int offset)
{
	const char *p = s + 1;
	const char *end = s + len - 1;
	int			hi = -1;
	ScanProblem problem = SCAN_OK;

	if (memchr(p, '\\', end - p) == NULL)
		return;
	/* the order of PG's json_lex_string, so that the first problem is the same */
	while (p < end && problem == SCAN_OK)
	{
		if (*p != '\\')
		{
			if (hi != -1)
				problem = SCAN_LOW_SURROGATE;
			p++;
			continue;
		}
		p++;
		if (*p == 'u')
		{
			int			ch = hex4(p + 1);

			p += 5;
			if (ch >= 0xD800 && ch <= 0xDBFF)
			{
				if (hi != -1)
					problem = SCAN_HIGH_SURROGATE;
				hi = ch;
				continue;
			}
			else if (ch >= 0xDC00 && ch <= 0xDFFF)
			{
				if (hi == -1)
				{
					problem = SCAN_LOW_SURROGATE;
					continue;
				}
				ch = 0x10000 + ((hi & 0x3FF) << 10) + (ch & 0x3FF);
				hi = -1;
			}
			if (hi != -1)
				problem = SCAN_LOW_SURROGATE;
			else if (ch == 0)
				problem = SCAN_CODE_POINT_ZERO;
			else if (ch > 0x7F)
				rec->flags |= SCAN_REC_NONASCII_ESCAPE;
		}
		else
		{
			if (hi != -1)
				problem = SCAN_LOW_SURROGATE;
			p++;
		}
	}
	if (problem == SCAN_OK && hi != -1)
		problem = SCAN_LOW_SURROGATE;
	if (problem != SCAN_OK)
	{
		rec->problem = problem;
		rec->problem_offset = offset;
	}
}

/* A number numeric_in may refuse: very long, or a large exponent. */
static bool
risky_number(const char *s, int len)
{
	int			i;

	if (len > SCAN_NUMBER_CHARS)
		return true;
	for (i = 0; i < len; i++)
		if (s[i] == 'e' || s[i] == 'E')
		{
			int			e = 0;

			for (i++; i < len; i++)
				if (s[i] >= '0' && s[i] <= '9')
				{
					e = e * 10 + (s[i] - '0');
					if (e > SCAN_NUMBER_EXPONENT)
						return true;
				}
			return false;
		}
	return false;
}

/* The lexer failed on text phase 1 accepted: the caller broke the contract. */
static bool
scan_broken(PayloadScan *ps, JsonLexContext *lex, JsonParseErrorType r)
{
	scan_fail(ps, lex, r);
	ps->done = true;
	return false;
}

/*
 * What makeJsonLexContextCstringLen does, into storage the caller owns:
 * scan_next_record allocates nothing, so a caller may free each record's
 * memory between calls.
 */
static void
lex_init(JsonLexContext *lex, const char *json, int len, int encoding)
{
	memset(lex, 0, sizeof(*lex));
	lex->input = lex->token_terminator = lex->line_start = (char *) json;
	lex->line_number = 1;
	lex->input_length = len;
	lex->input_encoding = encoding;
	lex->strval = NULL;
}

bool
scan_next_record(PayloadScan *ps, ScanRecord *rec)
{
	JsonLexContext *lex = &ps->lex;
	const char *text = ps->text;
	JsonParseErrorType r;
	JsonTokenType tok;
	int			depth = 0;
	uint32		ntokens = 0;

	if (ps->done)
		return false;
	if (!ps->lex_open)
	{
		lex_init(lex, text + ps->value_start, ps->value_end - ps->value_start, ps->encoding);
		ps->lex_open = true;
		if (ps->root == SCAN_LIST && (r = json_lex(lex)) != JSON_SUCCESS)	/* '[' */
			return scan_broken(ps, lex, r);
	}
	if ((r = json_lex(lex)) != JSON_SUCCESS)
		return scan_broken(ps, lex, r);
	if (ps->root == SCAN_LIST)
	{
		if (ps->next_index > 0 && lex->token_type == JSON_TOKEN_COMMA &&
			(r = json_lex(lex)) != JSON_SUCCESS)
			return scan_broken(ps, lex, r);
		if (lex->token_type == JSON_TOKEN_ARRAY_END || lex->token_type == JSON_TOKEN_END)
		{
			ps->done = true;
			return false;
		}
	}
	else
		ps->done = true;		/* SCAN_SINGLE: one record */

	memset(rec, 0, sizeof(*rec));
	rec->index = ps->next_index++;
	rec->start = lex->token_start - text;
	rec->type = lex->token_type;
	for (;;)
	{
		tok = lex->token_type;
		switch (tok)
		{
			case JSON_TOKEN_STRING:
				if (rec->problem == SCAN_OK)
					check_string(rec, lex->token_start,
								 lex->token_terminator - lex->token_start,
								 lex->token_start - text);
				break;
			case JSON_TOKEN_NUMBER:
				if (risky_number(lex->token_start, lex->token_terminator - lex->token_start))
					rec->flags |= SCAN_REC_BIG_NUMBER;
				break;
			case JSON_TOKEN_OBJECT_START:
			case JSON_TOKEN_ARRAY_START:
				if (++depth > rec->depth)
					rec->depth = depth;
				break;
			case JSON_TOKEN_OBJECT_END:
			case JSON_TOKEN_ARRAY_END:
				depth--;
				break;
			default:
				break;
		}
		if (depth <= 0)
			break;
#ifndef FRONTEND
		if ((++ntokens & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
#else
		++ntokens;
#endif
		if ((r = json_lex(lex)) != JSON_SUCCESS)
			return scan_broken(ps, lex, r);
		if (lex->token_type == JSON_TOKEN_END)
			return scan_broken(ps, lex, JSON_EXPECTED_MORE);
	}
	rec->end = lex->token_terminator - text;
	if (rec->depth > SCAN_DEEP_LEVELS)
		rec->flags |= SCAN_REC_DEEP;
	if (rec->end - rec->start > SCAN_LARGE_BYTES)
		rec->flags |= SCAN_REC_LARGE;
	return true;
}

void
scan_rewind(PayloadScan *ps)
{
	ps->lex_open = false;
	ps->next_index = 0;
	ps->done = (ps->root != SCAN_LIST && ps->root != SCAN_SINGLE);
}

void
scan_end(PayloadScan *ps)
{
	ps->lex_open = false;
	ps->done = true;
}

/* One open container on the way to a value, for scan_value_path. */
typedef struct PathLevel
{
	bool		is_object;
	bool		expect_key;
	int			index;			/* arrays: the current element */
	int			key_start;		/* objects: the current key token */
	int			key_len;
} PathLevel;

static void
append_key(StringInfo buf, const char *tok, int len)
{
	const char *p = tok + 1;
	int			n = len - 2;
	bool		plain = n > 0 && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
								  *p == '_');
	int			i;

	for (i = 0; plain && i < n; i++)
		plain = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
			(p[i] >= '0' && p[i] <= '9') || p[i] == '_';
	/* JSON's escapes are valid in an SQL/JSON path string as they are */
	if (plain)
		appendStringInfo(buf, ".%.*s", n, p);
	else
		appendStringInfo(buf, ".\"%.*s\"", n, p);
}

char *
scan_value_path(const char *text, int start, int end, int offset, const char *base)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) text + start, end - start,
													   PG_UTF8, false);
	PathLevel  *lv = palloc(sizeof(PathLevel) * 16);
	int			cap = 16;
	int			depth = 0;
	StringInfoData buf;
	bool		found = false;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, base);
	while (json_lex(lex) == JSON_SUCCESS && lex->token_type != JSON_TOKEN_END)
	{
		int			at = lex->token_start - text;

		switch (lex->token_type)
		{
			case JSON_TOKEN_OBJECT_START:
			case JSON_TOKEN_ARRAY_START:
				if (depth == cap)
				{
					cap *= 2;
					lv = repalloc(lv, sizeof(PathLevel) * cap);
				}
				lv[depth].is_object = (lex->token_type == JSON_TOKEN_OBJECT_START);
				lv[depth].expect_key = true;
				lv[depth].index = 0;
				lv[depth].key_start = 0;
				lv[depth].key_len = 0;
				depth++;
				break;
			case JSON_TOKEN_OBJECT_END:
			case JSON_TOKEN_ARRAY_END:
				depth--;
				break;
			case JSON_TOKEN_COMMA:
				if (depth > 0)
				{
					lv[depth - 1].expect_key = true;
					lv[depth - 1].index++;
				}
				break;
			case JSON_TOKEN_STRING:
				if (depth > 0 && lv[depth - 1].is_object && lv[depth - 1].expect_key)
				{
					lv[depth - 1].expect_key = false;
					lv[depth - 1].key_start = at;
					lv[depth - 1].key_len = lex->token_terminator - lex->token_start;
				}
				if (at == offset)
					found = true;
				break;
			default:
				if (at == offset)
					found = true;
				break;
		}
		if (found || at > offset || depth < 0)
			break;
	}
	/* a bad key names the same path as its value */
	if (found)
	{
		for (i = 0; i < depth; i++)
		{
			if (lv[i].is_object)
			{
				if (lv[i].key_len > 0)
					append_key(&buf, text + lv[i].key_start, lv[i].key_len);
			}
			else
				appendStringInfo(&buf, "[%d]", lv[i].index);
		}
	}
	pfree(lv);
	pfree(lex);
	return buf.data;
}

const char *
scan_problem_text(ScanProblem problem)
{
	switch (problem)
	{
		case SCAN_OK:
			return "";
		case SCAN_CODE_POINT_ZERO:
			return "\\u0000 cannot be converted to text";
		case SCAN_HIGH_SURROGATE:
			return "Unicode high surrogate must not follow a high surrogate";
		case SCAN_LOW_SURROGATE:
			return "Unicode low surrogate must follow a high surrogate";
	}
	return "";
}

const char *
scan_token_name(JsonTokenType type)
{
	switch (type)
	{
		case JSON_TOKEN_OBJECT_START:
			return "object";
		case JSON_TOKEN_ARRAY_START:
			return "array";
		case JSON_TOKEN_STRING:
			return "string";
		case JSON_TOKEN_NUMBER:
			return "number";
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			return "boolean";
		case JSON_TOKEN_NULL:
			return "null";
		default:
			return "unknown";
	}
}
