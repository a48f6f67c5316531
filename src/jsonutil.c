/*
 * jsonutil.c
 *	  Reading fields of source records without throwing.
 *
 * Source payloads come from other systems and may be wrong in any field.
 * These helpers report a bad field into a RecordError (SQLSTATE, the JSON
 * path of the field, a message and a hint) so that the record can be
 * quarantined while the rest of the batch lands.
 */
#include "postgres.h"

#include <ctype.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonfuncs.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "kant.h"

void
rec_fail(RecordError *err, int sqlstate, const char *field, const char *hint,
		 const char *fmt,...)
{
	va_list		ap;
	StringInfoData buf;

	if (err->failed)
		return;					/* keep the first problem */
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	err->failed = true;
	err->sqlstate = sqlstate;
	err->field = field ? pstrdup(field) : NULL;
	err->message = buf.data;
	err->hint = hint ? pstrdup(hint) : NULL;
}

/* A key is written plainly in a path when it is an identifier, else quoted. */
static bool
plain_key(const char *key)
{
	const char *p;

	if (!isalpha((unsigned char) key[0]) && key[0] != '_')
		return false;
	for (p = key; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_')
			return false;
	return true;
}

/* SQL/JSON path syntax, so that jsonb_path_query(payload, path) finds it. */
char *
json_path_key(const char *base, const char *key)
{
	if (plain_key(key))
		return psprintf("%s.%s", base, key);
	return psprintf("%s.\"%s\"", base, key);
}

char *
json_path_index(const char *base, int index)
{
	return psprintf("%s[%d]", base, index);
}

char *
json_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		case jbvBinary:
			if (JsonContainerIsArray(v->val.binary.data))
				return "array";
			if (JsonContainerIsObject(v->val.binary.data))
				return "object";
			return "scalar";
		default:
			return "unknown";
	}
}

/* A field that is not there: an error only when the record needs it. */
static void
absent(RecordError *err, bool required, const char *path, const char *key)
{
	if (required)
		rec_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, json_path_key(path, key),
				 "The field is required in this kind of record.",
				 "required field \"%s\" is missing", key);
}

/* Look up key in an object container; JSON null counts as absent. */
JsonbValue *
json_get(JsonbContainer *obj, const char *key, JsonbValue *buf)
{
	JsonbValue *v;

	if (obj == NULL || !JsonContainerIsObject(obj))
		return NULL;
	v = getKeyJsonValueFromContainer(obj, key, strlen(key), buf);
	if (v == NULL || v->type == jbvNull)
		return NULL;
	return v;
}

char *
json_get_string(JsonbContainer *obj, const char *key, const char *path,
				bool required, RecordError *err)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);

	if (v == NULL)
	{
		absent(err, required, path, key);
		return NULL;
	}
	if (v->type != jbvString)
	{
		rec_fail(err, ERRCODE_SQL_JSON_SCALAR_REQUIRED, json_path_key(path, key),
				 "Send the value as a JSON string.",
				 "field \"%s\" must be a string, not %s", key, json_type_name(v));
		return NULL;
	}
	if (required && v->val.string.len == 0)
	{
		rec_fail(err, ERRCODE_INVALID_PARAMETER_VALUE, json_path_key(path, key),
				 "The field is required in this kind of record.",
				 "field \"%s\" is empty", key);
		return NULL;
	}
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* An integral JSON number (1, 1.0, 1e0) that fits in int32. */
bool
json_get_int(JsonbContainer *obj, const char *key, const char *path,
			 bool required, int32 *out, RecordError *err)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);
	char	   *s;
	char	   *end;
	long		l;

	if (v == NULL)
	{
		absent(err, required, path, key);
		return false;
	}
	if (v->type != jbvNumeric)
	{
		rec_fail(err, ERRCODE_SQL_JSON_SCALAR_REQUIRED, json_path_key(path, key),
				 "Send the value as a JSON number.",
				 "field \"%s\" must be a number, not %s", key, json_type_name(v));
		return false;
	}
	s = numeric_normalize(v->val.numeric);
	errno = 0;
	l = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || l < PG_INT32_MIN || l > PG_INT32_MAX)
	{
		rec_fail(err, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, json_path_key(path, key),
				 "The field must be a whole number.",
				 "field \"%s\" is not an integer: %s", key, s);
		return false;
	}
	*out = (int32) l;
	return true;
}

static bool
valid_tm(struct pg_tm *tm)
{
	if (tm->tm_mon < 1 || tm->tm_mon > 12 || tm->tm_mday < 1 ||
		tm->tm_mday > day_tab[isleap(tm->tm_year)][tm->tm_mon - 1])
		return false;
	if (tm->tm_hour < 0 || tm->tm_hour > 23 || tm->tm_min < 0 || tm->tm_min > 59 ||
		tm->tm_sec < 0 || tm->tm_sec > 60)
		return false;
	return true;
}

static int
read_digits(const char **p, const char *end, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (*p >= end || !isdigit((unsigned char) **p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

/*
 * ISO 8601 / RFC 3339 as the sources write it:
 *	 2024-11-24T15:00:00+00:00	 (Airflow v1)
 *	 2024-11-24T15:00:00.123456Z (Airflow v2)
 *	 2024-11-24 15:00:00.123000+09:00 (boto3 datetimes through str(), AWS CLI)
 *	 also +0900, +09, z.  A zone is required: a naive time is ambiguous.
 */
bool
parse_iso_timestamp(const char *s, int len, TimestampTz *out, const char **why)
{
	const char *p = s;
	const char *end = s + len;
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz = 0;
	Timestamp	ts;

	memset(&tm, 0, sizeof(tm));
	*why = "expected an ISO 8601 timestamp with a zone, like 2024-11-24T15:00:00Z";
	if ((tm.tm_year = read_digits(&p, end, 4)) < 0 || p >= end || *p++ != '-' ||
		(tm.tm_mon = read_digits(&p, end, 2)) < 0 || p >= end || *p++ != '-' ||
		(tm.tm_mday = read_digits(&p, end, 2)) < 0)
		return false;
	if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
	{
		*why = "a date without a time and zone is not a timestamp";
		return false;
	}
	p++;
	if ((tm.tm_hour = read_digits(&p, end, 2)) < 0 || p >= end || *p++ != ':' ||
		(tm.tm_min = read_digits(&p, end, 2)) < 0)
		return false;
	if (p < end && *p == ':')
	{
		p++;
		if ((tm.tm_sec = read_digits(&p, end, 2)) < 0)
			return false;
		if (p < end && (*p == '.' || *p == ','))
		{
			int			scale = 100000;
			int			digits = 0;

			p++;
			while (p < end && isdigit((unsigned char) *p))
			{
				if (digits < 6)
					fsec += (*p - '0') * scale;
				else if (digits == 6 && *p >= '5')
					fsec += 1;	/* round to the microsecond */
				scale /= 10;
				digits++;
				p++;
			}
			if (digits == 0)
				return false;
		}
	}
	if (p >= end)
	{
		*why = "timestamp has no time zone; kant needs Z or an offset such as +09:00";
		return false;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? -1 : 1;
		int			hh,
					mm = 0;

		p++;
		if ((hh = read_digits(&p, end, 2)) < 0)
			return false;
		if (p < end && *p == ':')
			p++;
		if (p < end && (mm = read_digits(&p, end, 2)) < 0)
			return false;
		if (hh > 15 || mm > 59)
		{
			*why = "time zone offset out of range";
			return false;
		}
		tz = -sign * (hh * SECS_PER_HOUR + mm * SECS_PER_MINUTE);	/* west of UTC */
	}
	else
		return false;
	if (p != end)
		return false;
	if (!valid_tm(&tm))
	{
		*why = "date or time field out of range";
		return false;
	}
	if (tm2timestamp(&tm, fsec, &tz, &ts) != 0 || !IS_VALID_TIMESTAMP(ts))
	{
		*why = "timestamp out of range";
		return false;
	}
	*out = ts;
	return true;
}

/* 2024-11-24, 2024/11/24 or 20241124 (a Glue --business_date argument). */
bool
parse_iso_date(const char *s, int len, DateADT *out)
{
	const char *p = s;
	const char *end;
	struct pg_tm tm;

	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	while (len > 0 && isspace((unsigned char) *p))
		p++, len--;
	end = p + len;
	memset(&tm, 0, sizeof(tm));
	if ((tm.tm_year = read_digits(&p, end, 4)) < 0)
		return false;
	if (p < end && (*p == '-' || *p == '/'))
	{
		char		sep = *p++;

		if ((tm.tm_mon = read_digits(&p, end, 2)) < 0 || p >= end || *p++ != sep ||
			(tm.tm_mday = read_digits(&p, end, 2)) < 0)
			return false;
	}
	else if ((tm.tm_mon = read_digits(&p, end, 2)) < 0 ||
			 (tm.tm_mday = read_digits(&p, end, 2)) < 0)
		return false;
	if (p != end || !valid_tm(&tm))
		return false;
	*out = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * Epoch seconds as AWS JSON protocols send them (1732482000.123), parsed
 * from the decimal digits so that no microsecond is lost to binary floating
 * point.
 */
static bool
epoch_to_timestamp(const char *s, TimestampTz *out, const char **why)
{
	const char *p = s;
	int64		secs = 0;
	int64		usecs = 0;
	int			digits = 0;

	if (*p == '-')
	{
		*why = "negative epoch seconds";
		return false;
	}
	while (isdigit((unsigned char) *p))
	{
		secs = secs * 10 + (*p - '0');
		if (secs > INT64CONST(100000000000))
		{
			*why = "epoch value too large for seconds (milliseconds are not accepted)";
			return false;
		}
		p++;
	}
	if (*p == '.')
	{
		int64		scale = 100000;

		p++;
		while (isdigit((unsigned char) *p))
		{
			if (digits < 6)
				usecs += (*p - '0') * scale;
			else if (digits == 6 && *p >= '5')
				usecs += 1;
			scale /= 10;
			digits++;
			p++;
		}
	}
	if (*p != '\0')
	{
		*why = "not a plain decimal number of seconds";
		return false;
	}
	if (secs >= INT64CONST(253402300800))	/* 10000-01-01 */
	{
		*why = "epoch value too large for seconds (milliseconds are not accepted)";
		return false;
	}
	*out = (secs - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) *
		USECS_PER_SEC + usecs;
	return true;
}

bool
json_value_timestamp(JsonbValue *v, const char *path, TimestampTz *out, RecordError *err)
{
	const char *why = NULL;

	if (v->type == jbvNumeric)
	{
		char	   *s = numeric_normalize(v->val.numeric);

		if (epoch_to_timestamp(s, out, &why))
			return true;
		rec_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, path,
				 "Send epoch seconds (AWS style) or an ISO 8601 string with a zone.",
				 "invalid timestamp %s: %s", s, why);
		return false;
	}
	if (v->type == jbvString)
	{
		if (parse_iso_timestamp(v->val.string.val, v->val.string.len, out, &why))
			return true;
		rec_fail(err, ERRCODE_INVALID_DATETIME_FORMAT, path,
				 "Send epoch seconds (AWS style) or an ISO 8601 string with a zone.",
				 "invalid timestamp \"%.*s\": %s",
				 Min(v->val.string.len, 64), v->val.string.val, why);
		return false;
	}
	rec_fail(err, ERRCODE_SQL_JSON_SCALAR_REQUIRED, path,
			 "Send epoch seconds (AWS style) or an ISO 8601 string with a zone.",
			 "timestamp must be a number or a string, not %s", json_type_name(v));
	return false;
}

bool
json_get_timestamp(JsonbContainer *obj, const char *key, const char *path,
				   bool required, TimestampTz *out, RecordError *err)
{
	JsonbValue	buf;
	JsonbValue *v = json_get(obj, key, &buf);

	if (v == NULL)
	{
		absent(err, required, path, key);
		return false;
	}
	return json_value_timestamp(v, json_path_key(path, key), out, err);
}


void
shape_error(const char *path, int sqlstate, const char *hint, const char *fmt,...)
{
	va_list		ap;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", buf.data),
			 errdetail("At JSON path %s of the payload; nothing was ingested.", path),
			 errhint("%s", hint)));
	pg_unreachable();
}

/* A payload with no records kant can find: not a payload of this kind. */
static void
no_records(const char *list_key, const char *what, const char *hint)
{
	if (list_key)
		shape_error("$", ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, hint,
					"payload has no \"%s\" array and is not a single %s", list_key, what);
	shape_error("$", ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, hint,
				"payload is neither an array of records nor a single %s", what);
}

/*
 * Find the records of a payload.  Accepted shapes, for list_key "JobRuns":
 * {"JobRuns": [...]} as the API returns it, a bare array [...], the
 * single-record form {"JobRun": {...}}, or one record {...} (has id_key).
 * Anything else is not a payload kant understands: an ERROR, not a
 * quarantine, because there is no record to keep.
 */
void
payload_records(Jsonb *payload, const char *list_key, const char *single_key,
				const char *id_key, const char *what, const char *hint,
				PayloadList *out)
{
	JsonbContainer *root = &payload->root;
	JsonbValue	buf;
	JsonbValue *v;

	memset(out, 0, sizeof(*out));
	out->what = what;
	if (JB_ROOT_IS_SCALAR(payload))
		shape_error("$", ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, hint,
					"payload must be a JSON object or array, not a scalar");
	if (JsonContainerIsArray(root))
	{
		out->list = root;
		out->count = JsonContainerSize(root);
		out->base = "$";
		return;
	}
	if (list_key && (v = json_get(root, list_key, &buf)) != NULL)
	{
		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			shape_error(json_path_key("$", list_key), ERRCODE_SQL_JSON_ARRAY_NOT_FOUND, hint,
						"payload field \"%s\" must be an array, not %s", list_key,
						json_type_name(v));
		out->list = v->val.binary.data;
		out->count = JsonContainerSize(out->list);
		out->base = json_path_key("$", list_key);
		return;
	}
	if (single_key && (v = json_get(root, single_key, &buf)) != NULL)
	{
		out->single = *v;
		out->is_single = true;
		out->count = 1;
		out->base = json_path_key("$", single_key);
		return;
	}
	if (id_key && json_get(root, id_key, &buf) != NULL)
	{
		out->single.type = jbvBinary;
		out->single.val.binary.data = root;
		out->single.val.binary.len = VARSIZE_ANY_EXHDR(payload);
		out->is_single = true;
		out->count = 1;
		out->base = "$";
		return;
	}
	no_records(list_key, what, hint);
}

/*
 * Text payloads.  jsonb_in keeps a tree of the whole document in memory,
 * some fifteen times its size: a 100 MB payload needs 1.5 GB before kant
 * sees it.  For text kant lexes the document once to find where each
 * record is, then builds the jsonb of one record at a time.
 */
typedef struct ScanState
{
	JsonLexContext *lex;
	const char *list_key;
	const char *single_key;
	const char *id_key;
	int			depth;
	bool		root_is_array;
	bool		root_is_object;
	int			list_depth;		/* depth of the records, 0 outside the list */
	bool		list_seen;		/* list_key present at the root */
	bool		list_is_array;
	char		list_first;		/* first character of list_key's value */
	bool		id_seen;
	bool		in_single;		/* inside the value of single_key */
	int64		single_start;
	int64		single_end;
	bool		single_null;
	int64		elem_start;
	int			n;
	int			cap;
	int64	   *starts;
	int64	   *ends;
	char	   *base;
} ScanState;

static void
scan_object_start(void *state)
{
	ScanState  *s = state;

	if (s->depth == 0)
		s->root_is_object = true;
	s->depth++;
}

static void
scan_object_end(void *state)
{
	((ScanState *) state)->depth--;
}

static void
scan_array_start(void *state)
{
	ScanState  *s = state;

	if (s->depth == 0)
	{
		s->root_is_array = true;
		s->list_depth = 1;
	}
	s->depth++;
}

static void
scan_array_end(void *state)
{
	ScanState  *s = state;

	s->depth--;
	if (s->list_depth > 0 && s->depth == s->list_depth - 1)
		s->list_depth = 0;
}

static void
scan_field_start(void *state, char *fname, bool isnull)
{
	ScanState  *s = state;

	if (s->depth != 1 || fname == NULL)
		return;
	if (s->list_key && strcmp(fname, s->list_key) == 0 && !isnull)
	{
		s->list_seen = true;
		s->list_first = *s->lex->token_start;
		if (*s->lex->token_start == '[')
		{
			s->list_is_array = true;
			s->list_depth = 2;
		}
	}
	else if (s->single_key && strcmp(fname, s->single_key) == 0 && !isnull)
	{
		s->in_single = true;
		s->single_start = s->lex->token_start - s->base;
	}
	else if (s->id_key && strcmp(fname, s->id_key) == 0)
		s->id_seen = true;
}

static void
scan_field_end(void *state, char *fname, bool isnull)
{
	ScanState  *s = state;

	if (s->depth == 1 && s->in_single)
	{
		s->in_single = false;
		s->single_end = s->lex->prev_token_terminator - s->base;
	}
	/* the parser copies every field name for us; free it or a 100 MB payload leaks 200 MB */
	if (fname)
		pfree(fname);
}

static void
scan_elem_start(void *state, bool isnull)
{
	ScanState  *s = state;

	if (s->list_depth > 0 && s->depth == s->list_depth)
		s->elem_start = s->lex->token_start - s->base;
}

static void
scan_elem_end(void *state, bool isnull)
{
	ScanState  *s = state;

	if (s->list_depth > 0 && s->depth == s->list_depth)
	{
		if (s->n == s->cap)
		{
			s->cap *= 2;
			s->starts = repalloc_huge(s->starts, sizeof(int64) * s->cap);
			s->ends = repalloc_huge(s->ends, sizeof(int64) * s->cap);
		}
		s->starts[s->n] = s->elem_start;
		s->ends[s->n] = s->lex->prev_token_terminator - s->base;
		s->n++;
	}
}

void
payload_records_text(text *payload, const char *list_key, const char *single_key,
					 const char *id_key, const char *what, const char *hint,
					 PayloadList *out)
{
	ScanState	s;
	JsonSemAction sem;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	memset(&sem, 0, sizeof(sem));
	out->what = what;
	s.lex = makeJsonLexContext(payload, true);
	s.base = VARDATA_ANY(payload);
	s.list_key = list_key;
	s.single_key = single_key;
	s.id_key = id_key;
	s.cap = 256;
	s.starts = palloc(sizeof(int64) * s.cap);
	s.ends = palloc(sizeof(int64) * s.cap);
	sem.semstate = &s;
	sem.object_start = scan_object_start;
	sem.object_end = scan_object_end;
	sem.array_start = scan_array_start;
	sem.array_end = scan_array_end;
	sem.object_field_start = scan_field_start;
	sem.object_field_end = scan_field_end;
	sem.array_element_start = scan_elem_start;
	sem.array_element_end = scan_elem_end;
	pg_parse_json_or_ereport(s.lex, &sem);

	out->text = s.base;
	if (!s.root_is_array && !s.root_is_object)
		shape_error("$", ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, hint,
					"payload must be a JSON object or array, not a scalar");
	if (s.root_is_array || (s.list_seen && s.list_is_array))
	{
		out->starts = s.starts;
		out->ends = s.ends;
		out->count = s.n;
		out->base = s.root_is_array ? "$" : json_path_key("$", list_key);
		return;
	}
	if (s.list_seen)
		shape_error(json_path_key("$", list_key), ERRCODE_SQL_JSON_ARRAY_NOT_FOUND, hint,
					"payload field \"%s\" must be an array, not %s", list_key,
					s.list_first == '{' ? "object" : s.list_first == '"' ? "string" :
					(s.list_first == 't' || s.list_first == 'f') ? "boolean" : "number");
	out->starts = s.starts;
	out->ends = s.ends;
	out->count = 1;
	out->is_single = true;
	if (s.single_end > s.single_start)
	{
		out->starts[0] = s.single_start;
		out->ends[0] = s.single_end;
		out->base = json_path_key("$", single_key);
		return;
	}
	if (s.id_seen)
	{
		out->starts[0] = 0;
		out->ends[0] = VARSIZE_ANY_EXHDR(payload);
		out->base = "$";
		return;
	}
	no_records(list_key, what, hint);
}

/* Parse one record of a text payload into jsonb, in the current context. */
static JsonbValue *
text_record(PayloadList *pl, int i)
{
	int64		len = pl->ends[i] - pl->starts[i];
	char	   *buf = palloc(len + 1);
	Jsonb	   *jb;
	JsonbValue *v = palloc(sizeof(JsonbValue));

	memcpy(buf, pl->text + pl->starts[i], len);
	buf[len] = '\0';
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
	pfree(buf);
	if (JB_ROOT_IS_SCALAR(jb))
	{
		JsonbValue *scalar = getIthJsonbValueFromContainer(&jb->root, 0);

		*v = *scalar;
		return v;
	}
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	return v;
}

/* Record i of the payload; err is set when it is not an object. */
JsonbValue *
record_at(PayloadList *pl, int i, char **path, RecordError *err)
{
	JsonbValue *v;

	if (pl->text)
	{
		v = text_record(pl, i);
		*path = pl->is_single ? pstrdup(pl->base) : json_path_index(pl->base, i);
	}
	else if (pl->is_single)
	{
		v = palloc(sizeof(JsonbValue));
		*v = pl->single;
		*path = pstrdup(pl->base);
	}
	else
	{
		v = getIthJsonbValueFromContainer(pl->list, i);
		*path = json_path_index(pl->base, i);
	}
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
	{
		rec_fail(err, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, *path,
				 "Each element must be one record as the API returns it.",
				 "%s record must be a JSON object, not %s", pl->what, json_type_name(v));
		return v;
	}
	return v;
}

/* Build a jsonb object of the keys of src that are present. */
Jsonb *
pick_details(JsonbContainer *src, const char *const *keys, int nkeys,
			 JsonbValue *extra_keys, JsonbValue *extra_values, int nextra)
{
	JsonbParseState *ps = NULL;
	int			i;
	int			n = 0;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < nkeys; i++)
	{
		JsonbValue	buf;
		JsonbValue *v = json_get(src, keys[i], &buf);
		JsonbValue	k;

		if (v == NULL)
			continue;
		k.type = jbvString;
		k.val.string.val = (char *) keys[i];
		k.val.string.len = strlen(keys[i]);
		pushJsonbValue(&ps, WJB_KEY, &k);
		pushJsonbValue(&ps, WJB_VALUE, v);
		n++;
	}
	for (i = 0; i < nextra; i++)
	{
		pushJsonbValue(&ps, WJB_KEY, &extra_keys[i]);
		pushJsonbValue(&ps, WJB_VALUE, &extra_values[i]);
		n++;
	}
	if (n == 0)
		return NULL;
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/* Parse one string field into a state; unknown spellings quarantine the record. */
bool
parse_state_field(JsonbContainer *o, const char *key, const char *path, const char *source,
				  RunRecord *r, RecordError *err)
{
	char	   *s = json_get_string(o, key, path, true, err);

	if (s == NULL)
		return false;
	r->raw_state = s;
	r->state = run_state_from_spelling(s, strlen(s));
	if (r->state == RS_INVALID)
	{
		rec_fail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, json_path_key(path, key),
				 psprintf("kant knows these states: %s. The record is kept so that it "
						  "can be replayed once the state is mapped.",
						  run_state_accepted_list()),
				 "unknown %s state \"%s\"", source, s);
		return false;
	}
	return true;
}

bool
check_id_length(const char *s, const char *field, RecordError *err)
{
	if (s != NULL && strlen(s) > 1000)
	{
		rec_fail(err, ERRCODE_NAME_TOO_LONG, field, NULL,
				 "value is longer than 1000 characters");
		return false;
	}
	return true;
}

/*
 * The payload argument of an ingestion function: jsonb (a typed value) or
 * text (a literal or a driver parameter, which resolves to the text overload):
 * the same records either way.
 */
struct varlena *
payload_arg(FunctionCallInfo fcinfo, int argno, const char *list_key, const char *single_key,
			const char *id_key, const char *what, const char *hint,
			PayloadList *pl, bool *is_jsonb)
{
	if (get_fn_expr_argtype(fcinfo->flinfo, argno) == JSONBOID)
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(argno);

		payload_records(jb, list_key, single_key, id_key, what, hint, pl);
		*is_jsonb = true;
		return (struct varlena *) jb;
	}
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(argno);

		payload_records_text(t, list_key, single_key, id_key, what, hint, pl);
		*is_jsonb = false;
		return (struct varlena *) t;
	}
}
