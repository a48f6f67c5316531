/*
 * payload.c
 *	  The records of a payload, in order: from a jsonb payload, or from a
 *	  text payload one record at a time (payload_scan.c), so that nothing
 *	  grows with the record count.
 *
 * A payload kant cannot find records in is an ERROR (nothing is ingested);
 * a record that is not an object, or that jsonb cannot hold, is handed on
 * with a RecordError, to be quarantined.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "kant.h"
#include "payload_scan.h"

static void shape_error(const char *path, int sqlstate, const char *hint,
						const char *fmt,...) pg_attribute_printf(4, 5) pg_attribute_noreturn();

/* A payload of a shape kant does not take: an ERROR at its JSON path, nothing ingested. */
static void
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
static void
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
static void
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
		json_fail(err, ed->sqlerrcode, path,
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
			json_fail(err, ERRCODE_UNTRANSLATABLE_CHARACTER, field,
					  "jsonb and text cannot hold \\u0000; kant.rejected.record_text keeps "
					  "the record's text.",
					  "unsupported Unicode escape sequence: %s",
					  scan_problem_text(sr->problem));
		else
			json_fail(err, ERRCODE_INVALID_TEXT_REPRESENTATION, field,
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
		json_fail(err, ERRCODE_SQL_JSON_OBJECT_NOT_FOUND, rec->path,
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
