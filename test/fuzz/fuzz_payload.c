/*
 * fuzz_payload.c
 *	  libFuzzer target: the text payload scanner (src/payload_scan.c) that
 *	  kant.ingest_*(text) calls run before a record becomes jsonb.
 *
 * PENDING: src/payload_scan.c arrives with the ingest-safety branch.  Until
 * the lead merges it, test/harness/fuzz.sh skips this target (its source is
 * missing) and says so; this file follows payload_scan.h as that branch has
 * it, and is finished against the merged file.
 *
 * Input: the first byte picks the source's keys (digit % 4: '0' Glue,
 * '1' Airflow, '2' OpenLineage, '3' direct reports) and the database
 * encoding ('0'-'3' UTF8, '4'-'7' SQL_ASCII); the rest is the payload,
 * passed with its length and no NUL after it (ASan sees any read past it).
 * What must hold:
 *	 - the scanner refuses exactly what PostgreSQL's JSON parser refuses
 *	   (json_in's validation), every prefix of a document included, with a
 *	   message and an offset inside the text;
 *	 - the records it streams are, in order and without overlap, the
 *	   elements of the list it found (or the one record), each one a JSON
 *	   value by PG's parser, whose first token is the type it reports;
 *	 - rewinding streams the same records again;
 *	 - scan_end() frees what scan_begin() took (LeakSanitizer).
 *
 * Built and run by `make fuzz` (test/harness/fuzz.sh):
 * fuzz-sources: src/payload_scan.c
 * fuzz-max-len: 16384
 */
#include "postgres_fe.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "payload_scan.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* PG's parser recurses: past this many brackets it is not asked */
#define REFERENCE_MAX_NESTING 1000

static const struct
{
	const char *list_key;
	const char *single_key;
	const char *id_key;
}			sources[4] = {
	{"JobRuns", "JobRun", "Id"},	/* glue.c */
	{"task_instances", NULL, "task_id"},	/* airflow.c */
	{NULL, NULL, "eventTime"},	/* openlineage.c */
	{"runs", NULL, "job"}		/* report.c */
};

static void
fail(const char *text, int len, const char *what)
{
	fprintf(stderr, "fuzz_payload: invariant broken: %s\ninput (%d bytes): %.*s\n",
			what, len, len > 400 ? 400 : len, text);
	abort();
}

/* Elements at depth 1 of the value parsed (an array: its elements). */
typedef struct Count
{
	int			depth;
	int			elements;
} Count;

static void
count_open(void *state)
{
	((Count *) state)->depth++;
}

static void
count_close(void *state)
{
	((Count *) state)->depth--;
}

static void
count_element(void *state, bool isnull)
{
	Count	   *c = state;

	if (c->depth == 1)
		c->elements++;
}

/* PG's verdict on text[0..len): json_in's validation, no de-escaping. */
static bool
pg_valid(const char *text, int len, int encoding, int *elements)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) text, len, encoding, false);
	JsonSemAction sem = {0};
	Count		c = {0};
	JsonParseErrorType r;

	sem.semstate = &c;
	sem.object_start = count_open;
	sem.object_end = count_close;
	sem.array_start = count_open;
	sem.array_end = count_close;
	sem.array_element_start = count_element;
	r = pg_parse_json(lex, &sem);
	pfree(lex);
	if (elements)
		*elements = c.elements;
	return r == JSON_SUCCESS;
}

static JsonTokenType
first_token(const char *text, int len, int encoding)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) text, len, encoding, false);
	JsonTokenType t;

	if (json_lex(lex) != JSON_SUCCESS)
		t = JSON_TOKEN_INVALID;
	else
		t = lex->token_type;
	pfree(lex);
	return t;
}

static int
nesting(const char *text, int len)
{
	int			n = 0,
				i;

	for (i = 0; i < len; i++)
		n += (text[i] == '[' || text[i] == '{');
	return n;
}

/* Stream every record; check each; their count. */
static int
stream(PayloadScan *ps, const char *text, int len, int encoding, ScanRecord *out, int cap)
{
	ScanRecord	rec;
	int			n = 0;
	int			prev_end = ps->value_start;

	while (scan_next_record(ps, &rec))
	{
		if (rec.index != n)
			fail(text, len, "records out of order");
		if (rec.start < prev_end || rec.end <= rec.start || rec.end > ps->value_end ||
			rec.end > len)
			fail(text, len, "a record outside its list, or overlapping the one before");
		if (!pg_valid(text + rec.start, rec.end - rec.start, encoding, NULL))
			fail(text, len, "a record that is not a JSON value");
		if (first_token(text + rec.start, rec.end - rec.start, encoding) != rec.type)
			fail(text, len, "a record's type is not its first token");
		if ((rec.flags & ~(SCAN_REC_DEEP | SCAN_REC_BIG_NUMBER | SCAN_REC_LARGE |
						   SCAN_REC_NONASCII_ESCAPE)) != 0)
			fail(text, len, "unknown record flags");
		if (rec.problem != SCAN_OK &&
			(rec.problem_offset < rec.start || rec.problem_offset >= rec.end))
			fail(text, len, "a record's problem lies outside it");
		if (n < cap)
			out[n] = rec;
		prev_end = rec.end;
		if (++n > len)
			fail(text, len, "more records than bytes");
	}
	return n;
}

static void
check(const char *text, int len, const char *keys_list, const char *keys_single,
	  const char *keys_id, int encoding)
{
	PayloadScan ps;
	ScanRecord	first[64],
				again[64];
	int			n,
				n2,
				i;
	bool		ask_pg = nesting(text, len) <= REFERENCE_MAX_NESTING;

	scan_begin(&ps, text, len, encoding, keys_list, keys_single, keys_id);
	if (ps.root < SCAN_ERROR || ps.root > SCAN_NONE)
		fail(text, len, "root kind out of range");
	if (ask_pg && (ps.root == SCAN_ERROR) == pg_valid(text, len, encoding, NULL))
		fail(text, len, ps.root == SCAN_ERROR ? "refused a document PG's parser accepts" :
			 "accepted a document PG's parser refuses");
	if (ps.root == SCAN_ERROR)
	{
		if (ps.error_detail == NULL || ps.error_detail[0] == '\0')
			fail(text, len, "an error without a message");
		if (ps.error_offset < 0 || ps.error_offset > len || ps.error_line < 1)
			fail(text, len, "an error position outside the text");
	}
	if (ps.root == SCAN_LIST || ps.root == SCAN_SINGLE)
	{
		if (ps.value_start < 0 || ps.value_end > len || ps.value_start >= ps.value_end)
			fail(text, len, "the list lies outside the text");
		n = stream(&ps, text, len, encoding, first, lengthof(first));
		if (ps.root == SCAN_SINGLE && n != 1)
			fail(text, len, "a single record streamed as none or several");
		if (ps.root == SCAN_LIST && ask_pg)
		{
			int			elements;

			if (!pg_valid(text + ps.value_start, ps.value_end - ps.value_start, encoding,
						  &elements) ||
				first_token(text + ps.value_start, ps.value_end - ps.value_start,
							encoding) != JSON_TOKEN_ARRAY_START)
				fail(text, len, "the list is not a JSON array");
			if (elements != n)
				fail(text, len, "records streamed are not the list's elements");
		}
		scan_rewind(&ps);
		n2 = stream(&ps, text, len, encoding, again, lengthof(again));
		if (n2 != n)
			fail(text, len, "rewinding streams another number of records");
		for (i = 0; i < n && i < (int) lengthof(first); i++)
			if (first[i].start != again[i].start || first[i].end != again[i].end ||
				first[i].flags != again[i].flags || first[i].problem != again[i].problem)
				fail(text, len, "rewinding streams other records");
	}
	scan_end(&ps);
	/* the message is the caller's, to report after scan_end() */
	if (ps.root == SCAN_ERROR)
		pfree(ps.error_detail);
}

/* Scan a copy of exactly len bytes: a read past the payload is an ASan report. */
static void
check_copy(const uint8_t *payload, int len, int sel, int encoding)
{
	char	   *text = malloc(len > 0 ? len : 1);

	memcpy(text, payload, len);
	check(text, len, sources[sel].list_key, sources[sel].single_key, sources[sel].id_key,
		  encoding);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			sel,
				encoding,
				len;

	if (size < 1 || size > 1024 * 1024)
		return 0;
	sel = data[0] % 4;
	encoding = ((data[0] / 4) % 2) ? PG_SQL_ASCII : PG_UTF8;
	len = (int) size - 1;
	check_copy(data + 1, len, sel, encoding);
	/* cut-off documents (issue 11: '{"JobRuns":' crashed the server) */
	if (len > 1)
	{
		check_copy(data + 1, len - 1, sel, encoding);
		check_copy(data + 1, len / 2, sel, encoding);
	}
	return 0;
}
