/*
 * payload_scan.h
 *	  Iterative scanner of text payloads: validate the whole document, find
 *	  its records, stream them one at a time.
 *
 * The same file compiles in the backend and as frontend code (-DFRONTEND,
 * linked with libpgcommon and libpgport): it uses PG's JSON lexer and the
 * palloc family only, never recursion, never an ereport.
 *
 * Use:
 *	 PayloadScan ps;
 *	 ScanRecord rec;
 *
 *	 scan_begin(&ps, text, len, encoding, "JobRuns", "JobRun", "Id");
 *	 if (ps.root == SCAN_ERROR) ... ps.error, ps.error_detail, ps.error_line
 *	 if (ps.root == SCAN_LIST || ps.root == SCAN_SINGLE)
 *		 while (scan_next_record(&ps, &rec))
 *			 ... text + rec.start .. text + rec.end, rec.flags, rec.problem
 *	 scan_rewind(&ps);			(to read the records again)
 *	 scan_end(&ps);
 */
#ifndef PAYLOAD_SCAN_H
#define PAYLOAD_SCAN_H

#include "common/jsonapi.h"

/* What phase 1 found at the root of the document. */
typedef enum ScanRoot
{
	SCAN_ERROR,					/* not JSON: error, error_detail, error_line/offset */
	SCAN_SCALAR,				/* a bare scalar: no records */
	SCAN_LIST,					/* records: the elements of an array */
	SCAN_LIST_NOT_ARRAY,		/* list_key's value is not an array (value_type) */
	SCAN_SINGLE,				/* one record: single_key's value, or the root object */
	SCAN_NONE					/* an object with none of the three keys */
} ScanRoot;

/* Why a record can not become jsonb as it is (jsonb_in would refuse it). */
typedef enum ScanProblem
{
	SCAN_OK = 0,
	SCAN_CODE_POINT_ZERO,		/* \u0000: jsonb_in says 22P05 */
	SCAN_HIGH_SURROGATE,		/* high surrogate after a high one: 22P02 */
	SCAN_LOW_SURROGATE			/* lone or reversed surrogate: 22P02 */
} ScanProblem;

/* Flags of a record that jsonb_in may still refuse: parse it guarded. */
#define SCAN_REC_DEEP			0x01	/* nested deeper than SCAN_DEEP_LEVELS */
#define SCAN_REC_BIG_NUMBER		0x02	/* a number numeric_in may refuse */
#define SCAN_REC_LARGE			0x04	/* longer than SCAN_LARGE_BYTES */
#define SCAN_REC_NONASCII_ESCAPE 0x08	/* \u escape above 007F (non-UTF8 databases) */

#define SCAN_DEEP_LEVELS		512
#define SCAN_LARGE_BYTES		(32 * 1024 * 1024)
#define SCAN_NUMBER_CHARS		256 /* longer numbers are risky */
#define SCAN_NUMBER_EXPONENT	300 /* and so are larger exponents */

typedef struct ScanRecord
{
	int			index;			/* 0-based position in the list */
	int			start;			/* offset of the record's first byte */
	int			end;			/* offset just past its last byte */
	JsonTokenType type;			/* its first token: OBJECT_START, STRING, ... */
	int			depth;			/* deepest nesting inside it (a scalar: 0) */
	int			flags;			/* SCAN_REC_* */
	ScanProblem problem;		/* the first bad escape, if any */
	int			problem_offset; /* where that string token begins */
} ScanRecord;

typedef struct PayloadScan
{
	/* input */
	const char *text;
	int			len;
	int			encoding;

	/* phase 1 */
	ScanRoot	root;
	JsonParseErrorType error;	/* SCAN_ERROR: the lexer's or parser's code */
	char	   *error_detail;	/* SCAN_ERROR: PG's wording of it */
	int			error_line;		/* SCAN_ERROR: 1-based line */
	int			error_offset;	/* SCAN_ERROR: byte offset of the bad token */
	bool		list_at_root;	/* SCAN_LIST: the root array, not list_key's value */
	bool		single_at_root; /* SCAN_SINGLE: the root object (it has id_key) */
	JsonTokenType value_type;	/* SCAN_LIST_NOT_ARRAY: first token of the value */
	int			value_start;	/* SCAN_LIST / SCAN_SINGLE: the list or record */
	int			value_end;

	/* phase 2: the lexer lives here, so that no record's memory holds it */
	JsonLexContext lex;
	bool		lex_open;
	int			next_index;
	bool		done;
} PayloadScan;

extern void scan_begin(PayloadScan *ps, const char *text, int len, int encoding,
					   const char *list_key, const char *single_key, const char *id_key);
extern bool scan_next_record(PayloadScan *ps, ScanRecord *rec);
extern void scan_rewind(PayloadScan *ps);
extern void scan_end(PayloadScan *ps);

/* SQL/JSON path of the value whose token begins at offset, below base. */
extern char *scan_value_path(const char *text, int start, int end, int offset,
							 const char *base);
extern const char *scan_problem_text(ScanProblem problem);
extern const char *scan_token_name(JsonTokenType type);

#endif							/* PAYLOAD_SCAN_H */
