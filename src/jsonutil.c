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

#include "access/xact.h"
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
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "kant.h"
#include "payload_scan.h"

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
clip_text(const char *s, int len, int max)
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
		rec_fail(err, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, json_path_key(path, key),
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
				 "field \"%s\" is not an integer: %s", key, clip_text(s, strlen(s), 64));
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

/*
 * The dates kant accepts from a source: from 1900 to 9999.  Earlier ones
 * are typing errors (year 0024) that would make every history look back
 * two thousand years.
 */
#define KANT_MIN_DATE	(date2j(1900, 1, 1) - POSTGRES_EPOCH_JDATE)
#define KANT_END_DATE	(date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE)

bool
kant_date_in_range(DateADT d)
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
		rec_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, path,
				 "Send epoch seconds (AWS style) or an ISO 8601 string with a zone, "
				 "between 1900 and 9999.",
				 "invalid timestamp %s: %s", clip_text(s, strlen(s), 64),
				 why ? why : "out of the range kant accepts");
		return false;
	}
	if (v->type == jbvString)
	{
		if (parse_iso_timestamp(v->val.string.val, v->val.string.len, out, &why))
		{
			if (timestamp_in_range(*out))
				return true;
			rec_fail(err, ERRCODE_DATETIME_FIELD_OVERFLOW, path,
					 "kant accepts timestamps from 1900 to 9999.",
					 "timestamp \"%s\" is out of the range kant accepts",
					 clip_text(v->val.string.val, v->val.string.len, 64));
			return false;
		}
		rec_fail(err, ERRCODE_INVALID_DATETIME_FORMAT, path,
				 "Send epoch seconds (AWS style) or an ISO 8601 string with a zone.",
				 "invalid timestamp \"%s\": %s",
				 clip_text(v->val.string.val, v->val.string.len, 64), why);
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
 * sees it.  For text kant validates the document with the iterative scanner
 * (payload_scan.c), then builds the jsonb of one record at a time.
 */
void
payload_records_text(text *payload, const char *list_key, const char *single_key,
					 const char *id_key, const char *what, const char *hint,
					 PayloadList *out)
{
	PayloadScan *ps = palloc(sizeof(PayloadScan));

	memset(out, 0, sizeof(*out));
	out->what = what;
	out->scan = ps;
	scan_begin(ps, VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload), GetDatabaseEncoding(),
			   list_key, single_key, id_key);
	switch (ps->root)
	{
		case SCAN_ERROR:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type json"),
					 errdetail("%s At line %d, byte %d of the payload; nothing was ingested.",
							   ps->error_detail, ps->error_line, ps->error_offset + 1),
					 errhint("%s", hint)));
			break;
		case SCAN_SCALAR:
			shape_error("$", ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, hint,
						"payload must be a JSON object or array, not a scalar");
			break;
		case SCAN_LIST_NOT_ARRAY:
			shape_error(json_path_key("$", list_key), ERRCODE_SQL_JSON_ARRAY_NOT_FOUND, hint,
						"payload field \"%s\" must be an array, not %s", list_key,
						scan_token_name(ps->value_type));
			break;
		case SCAN_NONE:
			no_records(list_key, what, hint);
			break;
		case SCAN_LIST:
			out->base = ps->list_at_root ? "$" : json_path_key("$", list_key);
			break;
		case SCAN_SINGLE:
			out->is_single = true;
			out->base = ps->single_at_root ? "$" : json_path_key("$", single_key);
			break;
	}
}

/* Should this error of jsonb_in quarantine the record, or end the call? */
static bool
record_error(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION || category == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/*
 * jsonb_in on a record the scanner found risky (numbers numeric_in may
 * refuse, deep nesting, a huge record, escapes to convert): in a
 * subtransaction, as PL/pgSQL runs a block with an EXCEPTION clause, so that
 * its error quarantines the record and leaves nothing half done.  Errors
 * that are not about the data (cancel, out of memory) still end the call.
 */
static Jsonb *
jsonb_in_guarded(char *buf, const char *path, RecordError *err)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *volatile jb = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!record_error(ed->sqlerrcode))
			ReThrowError(ed);
		rec_fail(err, ed->sqlerrcode, path,
				 "jsonb cannot hold the record as it is; kant.rejected.record_text keeps "
				 "its text.",
				 "record cannot be stored as jsonb: %s%s%s", ed->message,
				 ed->detail ? " " : "", ed->detail ? ed->detail : "");
		FreeErrorData(ed);
		jb = NULL;
	}
	PG_END_TRY();
	return jb;
}

/* A jsonb document as the JsonbValue of its root (a scalar unwrapped). */
static JsonbValue *
jsonb_root_value(Jsonb *jb)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

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

/*
 * The next record of a text payload as jsonb, in the current context; NULL
 * (err set) when jsonb cannot hold it: its text is the record then.
 */
static JsonbValue *
text_record(PayloadList *pl, ScanRecord *sr, PayloadRecord *rec, RecordError *err)
{
	const char *text = pl->scan->text;
	int			len = sr->end - sr->start;
	char	   *buf;
	Jsonb	   *jb;
	bool		risky;

	if (sr->problem != SCAN_OK)
	{
		char	   *field = scan_value_path(text, sr->start, sr->end, sr->problem_offset,
											rec->path);

		if (sr->problem == SCAN_CODE_POINT_ZERO)
			rec_fail(err, ERRCODE_UNTRANSLATABLE_CHARACTER, field,
					 "jsonb and text cannot hold \\u0000; kant.rejected.record_text keeps "
					 "the record's text.",
					 "unsupported Unicode escape sequence: %s",
					 scan_problem_text(sr->problem));
		else
			rec_fail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, field,
					 "A \\u escape of a UTF-16 surrogate must be a high one followed by "
					 "a low one; kant.rejected.record_text keeps the record's text.",
					 "invalid Unicode escape in a JSON string: %s",
					 scan_problem_text(sr->problem));
		return NULL;
	}
	risky = (sr->flags & (SCAN_REC_DEEP | SCAN_REC_BIG_NUMBER | SCAN_REC_LARGE)) != 0 ||
		((sr->flags & SCAN_REC_NONASCII_ESCAPE) && GetDatabaseEncoding() != PG_UTF8);
	buf = palloc(len + 1);
	memcpy(buf, text + sr->start, len);
	buf[len] = '\0';
	if (risky)
		jb = jsonb_in_guarded(buf, rec->path, err);
	else
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
	pfree(buf);
	return jb ? jsonb_root_value(jb) : NULL;
}

/*
 * The next record of the payload, in the current memory context; false
 * after the last.  err is set when the record is not an object or (text)
 * cannot be jsonb; rec->value is NULL in the second case.
 */
bool
payload_next(PayloadList *pl, PayloadRecord *rec, RecordError *err)
{
	JsonbValue *v;

	memset(rec, 0, sizeof(*rec));
	if (pl->scan)
	{
		ScanRecord	sr;

		if (!scan_next_record(pl->scan, &sr))
		{
			if (pl->scan->root == SCAN_ERROR)
				elog(ERROR, "kant: payload changed while it was read: %s",
					 pl->scan->error_detail);
			return false;
		}
		rec->index = sr.index;
		rec->path = pl->is_single ? pstrdup(pl->base) : json_path_index(pl->base, sr.index);
		rec->text = pl->scan->text + sr.start;
		rec->len = sr.end - sr.start;
		v = text_record(pl, &sr, rec, err);
		if (v == NULL)
			return true;
	}
	else
	{
		if (pl->next >= pl->count)
			return false;
		rec->index = pl->next++;
		if (pl->is_single)
		{
			v = palloc(sizeof(JsonbValue));
			*v = pl->single;
			rec->path = pstrdup(pl->base);
		}
		else
		{
			v = getIthJsonbValueFromContainer(pl->list, rec->index);
			rec->path = json_path_index(pl->base, rec->index);
		}
	}
	rec->value = v;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		rec_fail(err, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, rec->path,
				 "Each element must be one record as the API returns it.",
				 "%s record must be a JSON object, not %s", pl->what, json_type_name(v));
	return true;
}

/* Read the records again from the first. */
void
payload_rewind(PayloadList *pl)
{
	if (pl->scan)
		scan_rewind(pl->scan);
	pl->next = 0;
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
pick_details(JsonbContainer *src, const char *const *keys, int nkeys,
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
			rec_fail(err, ERRCODE_INVALID_PARAMETER_VALUE, json_path_key(path, keys[i]),
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
				 "unknown %s state \"%s\"", source, clip_text(s, strlen(s), 64));
		return false;
	}
	return true;
}

/*
 * Names and ids as kant stores them.  kant.system.name and kant.job.name
 * are keys people type and read: not empty, at most 1000 bytes (the CHECKs
 * count characters; bytes also bound the btree entries), no white space at
 * either end, no control characters.  Inside a job name a TAB is accepted:
 * Glue's job name pattern allows it.  Ids (a run's external id, Glue's
 * PreviousRunId) sit in btree indexes too: not empty, at most 1000 bytes,
 * no control characters.
 */
const char *
name_problem(const char *s, int len, NameKind kind, int *sqlstate)
{
	const unsigned char *p = (const unsigned char *) s;
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	int			i;

	*sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
	if (len == 0)
		return "is empty";
	if (len > KANT_MAX_NAME_BYTES)
	{
		*sqlstate = ERRCODE_STRING_DATA_RIGHT_TRUNCATION;
		return psprintf("is %d bytes long; kant accepts at most %d", len, KANT_MAX_NAME_BYTES);
	}
	for (i = 0; i < len; i++)
	{
		bool		c1 = utf8 && p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 &&
			p[i + 1] <= 0x9F;

		if (p[i] < 0x20 || p[i] == 0x7F || c1)
		{
			if (p[i] == '\t' && kind == NAME_JOB && i > 0 && i < len - 1)
				continue;
			*sqlstate = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
			return psprintf("has the control character U+%04X at byte %d",
							c1 ? p[i + 1] : p[i], i + 1);
		}
	}
	if (kind != NAME_ID && (p[0] == ' ' || p[len - 1] == ' '))
		return "begins or ends with white space";
	return NULL;
}

const char *
name_rule_hint(NameKind kind)
{
	switch (kind)
	{
		case NAME_SYSTEM:
			return "A system name (or the OpenLineage job namespace naming one) is 1 to 1000 "
				"bytes with no control characters and no white space at either end.";
		case NAME_JOB:
			return "A job name is 1 to 1000 bytes with no control characters other than TAB "
				"and no white space at either end.";
		case NAME_ID:
			return "An id is 1 to 1000 bytes with no control characters.";
	}
	return NULL;
}

bool
check_name_value(const char *s, NameKind kind, const char *field, const char *key,
				 RecordError *err)
{
	int			sqlstate;
	const char *why;

	if (s == NULL)
		return true;
	why = name_problem(s, strlen(s), kind, &sqlstate);
	if (why == NULL)
		return true;
	rec_fail(err, sqlstate, field, name_rule_hint(kind), "field \"%s\" %s", key, why);
	return false;
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
	if (!check_name_value(s, kind, json_path_key(path, key), key, err))
		return NULL;
	return s;
}

/* The system argument of an ingestion function: the same rule, as an ERROR. */
void
check_system_argument(const char *name)
{
	int			sqlstate;
	const char *why = name_problem(name, strlen(name), NAME_SYSTEM, &sqlstate);

	if (why != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("system name %s", why),
				 errhint("%s", name_rule_hint(NAME_SYSTEM))));
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
