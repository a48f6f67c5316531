/*
 * kant.h
 *	  Shared declarations for the kant extension.
 *
 * kant keeps one normalised model of batch-job runs coming from several
 * schedulers (AWS Glue, Airflow / Cloud Composer, OpenLineage, direct
 * reports).  Source front-ends (glue.c, airflow.c, openlineage.c, report.c)
 * turn one source record into a RunRecord; the ingest engine (ingest*.c,
 * around its own header ingest_int.h) merges RunRecords into kant.job_run.
 * The collectors (collect*.c, around collect_int.h) and the HTTP layer
 * (http.h) have headers of their own.
 *
 * Each declaration stands under the file that defines it.  A function other
 * files call is named for its subsystem and file (run_state_*, name_*,
 * json_*, payload_*, ingest_*; kant_* for kant.c, kant_secret_* for
 * secrets.c; docs/contributing.md has the list).  SQL-callable functions
 * keep their kant_* symbols: older extension scripts name them.
 */
#ifndef KANT_H
#define KANT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "utils/date.h"
#include "utils/jsonb.h"

/* ---------------------------------------------------------------- states */

/*
 * Canonical run states.  The numeric order is the btree order of
 * kant.run_state: lifecycle first (waiting -> running), then outcomes.
 * Values are stored on disk: never renumber, only append.
 */
typedef enum RunState
{
	RS_INVALID = 0,
	RS_SCHEDULED = 1,
	RS_QUEUED = 2,
	RS_RUNNING = 3,
	RS_DEFERRED = 4,
	RS_RETRYING = 5,
	RS_SUCCEEDED = 6,
	RS_FAILED = 7,
	RS_TIMED_OUT = 8,
	RS_CANCELLED = 9,
	RS_SKIPPED = 10,
	RS_UPSTREAM_FAILED = 11
} RunState;

#define RS_MAX RS_UPSTREAM_FAILED

/* run_state.c */
extern RunState run_state_from_spelling(const char *s, int len);
extern const char *run_state_name(RunState st);
extern bool run_state_terminal(RunState st);
extern bool run_state_done(RunState st);
extern char *run_state_accepted_list(void);

/* ------------------------------------------------------ the run record */

/* Where a run's business date came from. */
#define BD_NONE		'\0'
#define BD_ARGUMENT	'a'			/* explicit: a Glue job argument */
#define BD_LOGICAL	'l'			/* explicit: Airflow logical date */
#define BD_NOMINAL	'n'			/* explicit: OpenLineage nominal time */
#define BD_REPORTED	'r'			/* explicit: given to report_run */
#define BD_RULE		's'			/* derived: the job's rule on the start time */
#define BD_INHERITED 'i'		/* derived: taken from the retried run */

#define BD_IS_EXPLICIT(c) ((c) == BD_ARGUMENT || (c) == BD_LOGICAL || \
						   (c) == BD_NOMINAL || (c) == BD_REPORTED)

/* One source record, normalised.  Strings are palloc'd in the record context. */
typedef struct RunRecord
{
	/* identity */
	char	   *job_name;
	char	   *dag_id;			/* Airflow only, else NULL */
	char	   *task_id;		/* Airflow only, else NULL */
	char	   *external_id;
	int32		attempt;

	RunState	state;
	char	   *raw_state;

	bool		has_started;
	bool		has_ended;
	bool		has_updated;
	TimestampTz started_at;
	TimestampTz ended_at;
	TimestampTz updated_at;

	char	   *error_message;
	char	   *previous_external_id;	/* Glue PreviousRunId */

	/*
	 * Business date: either explicit (bd_source explicit, business_date set),
	 * or to be derived from a timestamp by the job's rule (bd_basis).
	 */
	char		bd_source;
	DateADT		business_date;
	bool		has_bd_basis;
	TimestampTz bd_basis;
	const char *bd_field;		/* JSON path of the field the date comes from */
	const char *bd_stored_key;	/* ... or the key of the stored timestamp it does */
	JsonbContainer *arguments;	/* Glue Arguments, for the job's argument rule */

	Jsonb	   *details;		/* source-specific extras, kept verbatim */
	char	   *path;			/* JSON path of the record in its payload */
} RunRecord;

#define KANT_MAX_ATTEMPT	100000	/* attempts count from 1; sums stay in int4 */

/*
 * Reading one source record.  Every accessor takes the record container,
 * the key, and a RecordError to fill in instead of throwing: a bad field
 * quarantines the record, it never aborts the batch.
 */
typedef struct RecordError
{
	bool		failed;
	int			sqlstate;		/* ERRCODE_* */
	char	   *field;			/* JSON path of the offending field */
	char	   *message;
	char	   *hint;
} RecordError;

/* ------------------------------------------------------------ kant.c */

extern char *kant_default_time_zone;
extern pg_tz *kant_zone(const char *name);
extern Timestamp kant_local_time(TimestampTz t, pg_tz *tz);
extern int64 kant_floor_days(Timestamp t);
extern bool kant_keep_payloads;
extern int	kant_touch_interval_s;
extern int	kant_max_warnings;

/* ------------------------------------------------------------ secrets.c */

extern char *kant_allowed_env_prefixes;
extern char *kant_secret_directory;
extern void kant_secrets_define_gucs(void);
extern void kant_auth_define_gucs(void);
extern void kant_secret_check(const char *name, char source, const char *what);
extern char *kant_secret_value(const char *stored, char source, const char *what,
							   const char *system);
extern char *kant_secret_lookup(const char *stored, char source, const char *what,
								const char *system, char **why, int *code);

/* ------------------------------------------------------------ collect.c */

extern void kant_collect_define_gucs(void);

/* ------------------------------------------------------------ names.c */

/* What a name or id is, for the rules it follows (name_problem). */
typedef enum NameKind
{
	NAME_SYSTEM,				/* kant.system.name, an OpenLineage namespace */
	NAME_JOB,					/* kant.job.name, Airflow dag_id / task_id */
	NAME_ID						/* a run's external id, Glue PreviousRunId */
} NameKind;

#define KANT_MAX_NAME_BYTES 1000

extern const char *name_problem(const char *s, int len, NameKind kind, int *sqlstate);
extern const char *name_rule_hint(NameKind kind);
extern bool name_check(const char *s, NameKind kind, const char *field, const char *key,
					   RecordError *err);
extern void name_check_system_argument(const char *name);

/* ------------------------------------------------------------ jsonutil.c */

extern void json_fail(RecordError *err, int sqlstate, const char *field,
					  const char *hint, const char *fmt,...) pg_attribute_printf(5, 6);
extern char *json_path_key(const char *base, const char *key);
extern char *json_path_index(const char *base, int index);
extern char *json_type_name(JsonbValue *v);
extern char *json_clip_text(const char *s, int len, int max);

extern JsonbValue *json_get(JsonbContainer *obj, const char *key, JsonbValue *buf);
extern char *json_get_string(JsonbContainer *obj, const char *key, const char *path,
							 bool required, RecordError *err);
extern bool json_get_int(JsonbContainer *obj, const char *key, const char *path,
						 bool required, int32 *out, RecordError *err);
extern bool json_get_int_range(JsonbContainer *obj, const char *key, const char *path,
							   bool required, int32 min, int32 max, int32 *out,
							   RecordError *err);
extern double json_number_float8(JsonbValue *v);
extern bool json_get_timestamp(JsonbContainer *obj, const char *key, const char *path,
							   bool required, TimestampTz *out, RecordError *err);
extern bool json_value_timestamp(JsonbValue *v, const char *path, TimestampTz *out,
								 RecordError *err);
extern bool json_parse_iso_date(const char *s, int len, DateADT *out);
extern bool json_date_in_range(DateADT d);
extern Jsonb *json_pick_details(JsonbContainer *src, const char *const *keys, int nkeys,
								JsonbValue *extra_keys, JsonbValue *extra_values, int nextra,
								const char *path, RecordError *err);
extern bool json_get_state(JsonbContainer *o, const char *key, const char *path,
						   const char *source, RunRecord *r, RecordError *err);
extern char *json_get_name(JsonbContainer *obj, const char *key, const char *path,
						   bool required, NameKind kind, RecordError *err);

/* ------------------------------------------------------------ payload.c */

/*
 * The records of a payload: a list under list_key, a bare array, or one
 * record.  Read them in order with payload_next(); payload_rewind() starts
 * over.  A text payload is streamed: nothing grows with the record count.
 */
typedef struct PayloadList
{
	JsonbContainer *list;		/* jsonb payload: the array of records */
	JsonbValue	single;
	bool		is_single;
	int			count;			/* jsonb payload: how many */
	int			next;			/* jsonb payload: the next record's index */
	struct PayloadScan *scan;	/* text payload: its scanner */
	const char *base;
	const char *what;			/* "JobRun", "task instance", ... for messages */
} PayloadList;

/* One record of a payload, as payload_next() returns it. */
typedef struct PayloadRecord
{
	int			index;			/* position in the list */
	char	   *path;			/* its SQL/JSON path in the payload */
	JsonbValue *value;			/* NULL: jsonb cannot hold it (err says why) */
	const char *text;			/* text payload: the record's text */
	int			len;
} PayloadRecord;

extern bool payload_next(PayloadList *pl, PayloadRecord *rec, RecordError *err);
extern void payload_rewind(PayloadList *pl);
extern struct varlena *payload_arg(FunctionCallInfo fcinfo, int argno, const char *list_key,
								   const char *single_key, const char *id_key,
								   const char *what, const char *hint,
								   PayloadList *pl, bool *is_jsonb);

/* ------------------------------------------------------------ ingest.c */

typedef struct IngestState IngestState;

typedef enum IngestSource
{
	SRC_GLUE,
	SRC_AIRFLOW,
	SRC_OPENLINEAGE,
	SRC_REPORT
} IngestSource;

extern IngestState *ingest_begin(IngestSource source, const char *system_name,
								 struct varlena *payload, bool payload_is_jsonb);
extern void ingest_add(IngestState *st, RunRecord *rec, JsonbValue *raw, int index);
extern void ingest_reject(IngestState *st, RecordError *err, JsonbValue *raw,
						  const char *raw_text, int raw_len, int index, const char *path);
extern void ingest_skip(IngestState *st);
extern Datum ingest_finish(IngestState *st, FunctionCallInfo fcinfo);
extern MemoryContext ingest_record_context(IngestState *st);

/* What a source front-end tells the common driver (ingest_payload). */
typedef enum RecordOutcome
{
	RECORD_OK,					/* a run record: merge it */
	RECORD_SKIP,				/* no run state in it (OpenLineage OTHER) */
	RECORD_REJECT				/* quarantine it: err says why */
} RecordOutcome;

typedef struct IngestSpec
{
	IngestSource source;
	const char *usage;			/* a call to show when an argument is null */
	const char *list_key;		/* payload_arg() arguments */
	const char *single_key;
	const char *id_key;
	const char *what;
	const char *hint;
	RecordOutcome (*parse) (IngestState *st, JsonbValue *rec, char *path,
							RunRecord *r, RecordError *err);
	void		(*prepare) (IngestState *st, PayloadList *pl);	/* optional */
} IngestSpec;

extern Datum ingest_payload(FunctionCallInfo fcinfo, const IngestSpec *spec);

/* ---------------------------------------------------- ingest_registry.c */

extern bool ingest_set_system(IngestState *st, const char *system_name, const char *field,
							  RecordError *err);
extern void ingest_lock_systems(IngestState *st, List *system_names);

#endif							/* KANT_H */
