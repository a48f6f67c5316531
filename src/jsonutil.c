/*
 * jsonutil.c
 *	  Reading fields of source records without throwing.
 *
 * Source payloads come from other systems and may be wrong in any field.
 * These helpers report a bad field into a RecordError (SQLSTATE, the JSON
 * path of the field, a message and a hint) so that the record can be
 * quarantined while the rest of the batch lands.  They are kant's one set
 * of JSON helpers: the collectors read their replies with them too
 * (collect_reply.c), raising the error of their step where a record is
 * quarantined.  The records of a payload are found by payload.c, and the
 * rule for names and ids is names.c's.
 */
#include "postgres.h"

#include <ctype.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "kant.h"

void
json_fail(RecordError *err, int sqlstate, const char *field, const char *hint,
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

/*
 * SQL/JSON path syntax, so that jsonb_path_query(payload, path) finds it:
 * a quoted key escapes what a path string literal can not hold as it is.
 */
char *
json_path_key(const char *base, const char *key)
{
	StringInfoData buf;
	const char *p;

	if (plain_key(key))
		return psprintf("%s.%s", base, key);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s.\"", base);
	for (p = key; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfo(&buf, "\\%c", *p);
		else if ((unsigned char) *p < 0x20)
			appendStringInfo(&buf, "\\u%04X", (unsigned char) *p);
		else
			appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

/*
 * At most max bytes of s for a message, cut at a character boundary (a
 * cut inside a character would put invalid text into kant.rejected).
 */
char *
json_clip_text(const char *s, int len, int max)
{
	int			n;

	if (len <= max)
		return pnstrdup(s, len);
	n = pg_mbcliplen(s, len, max);
	return psprintf("%.*s...", n, s);
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
		json_fail(err, ERRCODE_SQL_JSON_MEMBER_NOT_FOUND, json_path_key(path, key),
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
		json_fail(err, ERRCODE_SQL_JSON_SCALAR_REQUIRED, json_path_key(path, key),
				  "Send the value as a JSON string.",
				  "field \"%s\" must be a string, not %s", key, json_type_name(v));
		return NULL;
	}
	if (required && v->val.string.len == 0)
	{
		json_fail(err, ERRCODE_INVALID_PARAMETER_VALUE, json_path_key(path, key),
				  "The field is required in this kind of record.",
				  "field \"%s\" is empty", key);
		return NULL;
	}
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* An integral JSON number (1, 1.0, 1e0) between min and max. */
bool
json_get_int_range(JsonbContainer *obj, const char *key, const char *path,
				   bool required, int32 min, int32 max, int32 *out, RecordError *err)
{
	int32		v;

	if (!json_get_int(obj, key, path, required, &v, err))
		return false;
	if (v < min || v > max)
	{
		json_fail(err, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, json_path_key(path, key),
				  psprintf("kant accepts %d to %d in this field.", min, max),
				  "field \"%s\" is out of range: %d", key, v);
		return false;
	}
	*out = v;
	return true;
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
		json_fail(err, ERRCODE_SQL_JSON_SCALAR_REQUIRED, json_path_key(path, key),
				  "Send the value as a JSON number.",
				  "field \"%s\" must be a number, not %s", key, json_type_name(v));
		return false;
	}
	s = numeric_normalize(v->val.numeric);
	errno = 0;
	l = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || l < PG_INT32_MIN || l > PG_INT32_MAX)
	{
		json_fail(err, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, json_path_key(path, key),
				  "The field must be a whole number.",
				  "field \"%s\" is not an integer: %s", key, json_clip_text(s, strlen(s), 64));
		return false;
	}
	*out = (int32) l;
	return true;
}

/* A JSON number as a double, without throwing (numeric_float8 throws on overflow). */
double
json_number_float8(JsonbValue *v)
{
	char	   *s = numeric_normalize(v->val.numeric);
	double		d = strtod(s, NULL);

	pfree(s);
	return d;
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
static bool
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
json_parse_iso_date(const char *s, int len, DateADT *out)
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

/*
 * The dates kant accepts from a source: from 1900 to 9999.  Earlier ones
 * are typing errors (year 0024) that would make every history look back
 * two thousand years.
 */
#define KANT_MIN_DATE	(date2j(1900, 1, 1) - POSTGRES_EPOCH_JDATE)
#define KANT_END_DATE	(date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE)

bool
json_date_in_range(DateADT d)
{
	return d >= KANT_MIN_DATE && d < KANT_END_DATE;
}

static bool
timestamp_in_range(TimestampTz t)
{
	return t >= (int64) KANT_MIN_DATE * USECS_PER_DAY &&
		t < (int64) KANT_END_DATE * USECS_PER_DAY;
}

bool
json_value_timestamp(JsonbValue *v, const char *path, TimestampTz *out, RecordError *err)
{
	const char *why = NULL;

	if (v->type == jbvNumeric)
	{
		char	   *s = numeric_normalize(v->val.numeric);

		if (epoch_to_timestamp(s, out, &why) && timestamp_in_range(*out))
			return true;
		json_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, path,
				  "Send epoch seconds (AWS style) or an ISO 8601 string with a zone, "
				  "between 1900 and 9999.",
				  "invalid timestamp %s: %s", json_clip_text(s, strlen(s), 64),
				  why ? why : "out of the range kant accepts");
		return false;
	}
	if (v->type == jbvString)
	{
		if (parse_iso_timestamp(v->val.string.val, v->val.string.len, out, &why))
		{
			if (timestamp_in_range(*out))
				return true;
			json_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, path,
					  "kant accepts timestamps from 1900 to 9999.",
					  "timestamp \"%s\" is out of the range kant accepts",
					  json_clip_text(v->val.string.val, v->val.string.len, 64));
			return false;
		}
		json_fail(err, ERRCODE_INVALID_DATETIME_FORMAT, path,
				  "Send epoch seconds (AWS style) or an ISO 8601 string with a zone.",
				  "invalid timestamp \"%s\": %s",
				  json_clip_text(v->val.string.val, v->val.string.len, 64), why);
		return false;
	}
	json_fail(err, ERRCODE_SQL_JSON_SCALAR_REQUIRED, path,
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
/* How deep a jsonb value nests, counted without recursion, up to limit + 1. */
static int
jsonb_depth(JsonbValue *v, int limit)
{
	JsonbIterator *it;
	JsonbValue	tmp;
	JsonbIteratorToken tok;
	int			depth = 0;
	int			max = 0;

	if (v->type != jbvBinary)
		return 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &tmp, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++depth > max)
				max = depth;
			if (max > limit)
				break;
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			depth--;
	}
	return max;
}

/*
 * Build a jsonb object of the keys of src that are present.  Copying a
 * container rebuilds it recursively: one nested deeper than
 * MAX_DETAIL_DEPTH quarantines the record rather than exhaust the stack.
 */
#define MAX_DETAIL_DEPTH 100

Jsonb *
json_pick_details(JsonbContainer *src, const char *const *keys, int nkeys,
				  JsonbValue *extra_keys, JsonbValue *extra_values, int nextra,
				  const char *path, RecordError *err)
{
	JsonbParseState *ps = NULL;
	int			i;
	int			n = 0;

	for (i = 0; i < nkeys; i++)
	{
		JsonbValue	buf;
		JsonbValue *v = json_get(src, keys[i], &buf);

		if (v != NULL && jsonb_depth(v, MAX_DETAIL_DEPTH) > MAX_DETAIL_DEPTH)
		{
			json_fail(err, ERRCODE_INVALID_PARAMETER_VALUE, json_path_key(path, keys[i]),
					  psprintf("kant keeps this field in details and copies at most %d "
							  "levels of nesting.", MAX_DETAIL_DEPTH),
					  "field \"%s\" is nested more than %d levels deep", keys[i],
					  MAX_DETAIL_DEPTH);
			return NULL;
		}
	}
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
json_get_state(JsonbContainer *o, const char *key, const char *path, const char *source,
			   RunRecord *r, RecordError *err)
{
	char	   *s = json_get_string(o, key, path, true, err);

	if (s == NULL)
		return false;
	r->raw_state = s;
	r->state = run_state_from_spelling(s, strlen(s));
	if (r->state == RS_INVALID)
	{
		json_fail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, json_path_key(path, key),
				  psprintf("kant knows these states: %s. The record is kept so that it "
						  "can be replayed once the state is mapped.",
						  run_state_accepted_list()),
				  "unknown %s state \"%s\"", source, json_clip_text(s, strlen(s), 64));
		return false;
	}
	return true;
}

char *
json_get_name(JsonbContainer *obj, const char *key, const char *path, bool required,
			  NameKind kind, RecordError *err)
{
	char	   *s;

	if (err->failed)
		return NULL;
	s = json_get_string(obj, key, path, required, err);
	if (s == NULL)
		return NULL;
	if (!required && s[0] == '\0')
		return s;
	if (!name_check(s, kind, json_path_key(path, key), key, err))
		return NULL;
	return s;
}

