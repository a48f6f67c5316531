/*
 * collect_int.h
 *	  The collectors' own declarations, shared by their files:
 *
 *	  collect.c			a collection: the system and its credentials, the
 *						steps (subtransactions), its record in kant.collection,
 *						its lock, pages handed to ingestion, schedules, settings,
 *						the per-system request budget, kant.collect_hot (what
 *						can change soon: its Glue and Airflow reads are in
 *						collect_glue.c and collect_airflow.c)
 *	  collect_reply.c	an endpoint's replies, checked and bounded before
 *						anything is read from them
 *	  collect_glue.c	kant.collect_glue: GetJobs, GetJobRuns, GetTriggers, and
 *						the Data Quality results (ListDataQualityResults,
 *						BatchGetDataQualityResult)
 *	  collect_airflow.c	kant.collect_airflow: the REST API v1 and v2
 *	  actions.c			requests that act on a system: kant._airflow_post,
 *						kant._glue_call
 *	  auth.c			credentials a cloud issues (metadata servers, STS,
 *						Google's token endpoint, Airflow 3's /auth/token):
 *						obtained, cached, refreshed
 */
#ifndef KANT_COLLECT_INT_H
#define KANT_COLLECT_INT_H

#include "kant.h"
#include "http.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Where a system's credentials come from when not static (kant.credential_source). */
typedef struct CredSource
{
	char	   *source;
	char	   *base_source;
	char	   *role_arn;
	char	   *role_session_name;
	char	   *external_id;
	int			duration_seconds;	/* 0: STS's default */
	char	   *token_file;
	char	   *audience;
	char	   *key_file;
	char	   *scopes;
	char	   *sts_endpoint;
	char	   *bound_to;
	char	   *impersonate;
} CredSource;

/* Credentials obtained from a source: a bearer token, or an AWS key pair. */
typedef struct Creds
{
	char	   *principal;		/* AWS access key id; NULL for a bearer token */
	char	   *secret;			/* token, or secret access key */
	char	   *session_token;
	TimestampTz expires;
} Creds;

typedef struct Collector Collector;
typedef void (*CredsFetch) (Collector *g, Creds *out);

struct Collector
{
	const char *kind;			/* glue or airflow */
	char	   *system;
	/* as stored; checked by glue_resolve_access() inside the recorded work */
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
	/* credentials obtained from a source (auth.c) */
	CredSource *cs;				/* NULL: static (kant.credential) */
	const char *auth_source;	/* the cache's name of the source; NULL: nothing to refresh */
	CredsFetch	auth_fetch;
	char	   *auth_used;		/* the token or key id the requests carry now */
	bool		auth_refreshed; /* a 401 refreshed them once in this call */
	bool		auth_fetched;	/* obtained from the source in this call, not the cache */
	TimestampTz auth_expires;
	char	   *auth_version;	/* the settings' row versions: the cache's key */
	MemoryContext auth_cxt;		/* where credentials live: the call's context */
	const char *vendor;			/* for messages about a reply: "Google", "AWS STS" */
	char	   *login;			/* Airflow 3: "user:password" for /auth/token */
	bool		has_cursor;
	char	   *since;			/* updated_at_gte, ISO 8601 UTC */
	int			page_len;
	int			overlap_s;
	/* kant.collection.started_at: no watermark moves past it */
	TimestampTz started;
	/* a hot collection (kant.collect_hot): moves nothing, keeps to a budget */
	bool		hot;
	bool		not_idempotent; /* a request that must not run twice (StartJobRun) */
	bool		busy;			/* hot: another collection of the system holds its lock */
	TimestampTz deadline;		/* hot: no request starts at or after it */
	double		tokens;			/* hot: requests the budget allows this collection */
	int			deferred;		/* hot: requests not made (budget, throttling, deadline) */
	int			throttles;		/* responses that were throttling (429, ThrottlingException) */
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
	/* glue: Data Quality results read (kant.glue_dq_source keeps them) */
	int			dq_results;
	int			dq_rejected;
	/* how it ended */
	char	   *error;
	char	   *sqlstate;
	char	   *hint;			/* the error's own hint, or NULL */
	bool		denied;			/* the error is the endpoint's AccessDeniedException */
	/* a problem that did not end it (kant.collection.hint, and a WARNING) */
	char	   *warning;
};

/* A reply being read: where it came from, and its JSON. */
typedef struct Reply
{
	Collector  *g;
	KantHttpRequest *req;
	Jsonb	   *json;
	JsonbContainer *root;		/* the object at its top */
} Reply;

/*
 * Requests one round sends: the HTTP layer keeps every buffer of a batch
 * until the batch ends, so this bounds the replies held at once.
 */
#define ROUND_MAX			256
/* Glue's NameString and IdString: 1..255; Airflow's ID_LEN: 250 */
#define GLUE_NAME_MAX		255
#define AF_ID_MAX			250

extern int	kant_collect_max_pages;
extern int	kant_collect_max_items;

/* A step of a collection: it runs in a subtransaction of its own (collect_run_step). */
typedef void (*StepFn) (Collector *g, void *arg);

typedef struct Call
{
	ErrorContextCallback ctx;
	MemoryContext fcxt;
	int64		collection_id;
} Call;

/* ------------------------------------------------------------ collect.c */

extern void collect_context(void *arg);
extern char *collect_secret(Collector *g, const char *stored, const char *what);
extern void collect_percent_encode(StringInfo b, const char *s);
extern char *collect_spi_text(HeapTuple t, TupleDesc d, int col);
extern void collect_load_system(Collector *g, const char *want_kind);
extern void collect_check_binding(Collector *g);
extern void collect_count_attempts(Collector *g, KantHttpRequest *req);
extern void collect_another_page(Reply *r, int pages, const char *listing);
extern Datum collect_text_array(List *strings);
extern bool *collect_ingest_page(Collector *g, Jsonb *page, int n);
extern bool *collect_quarantined(int64 batch_id, int n);
extern void collect_set_schedules(Collector *g, List *jobs, List *crons, List *zones,
								  const char *source, List *slot_dates,
								  const char *default_slot_date);
extern bool collect_run_step(Collector *g, StepFn fn, void *arg);
extern void collect_begin(Collector *g, Call *c, const char *kind, text *system, bool hot);
extern bool collect_is_throttle(Collector *g, KantHttpRequest *req);
extern int	collect_allowance(Collector *g, int want);
extern bool collect_deferred(Collector *g, KantHttpRequest *req);
extern Datum collect_end(Collector *g, Call *c);

/* ------------------------------------------------------ collect_reply.c */

extern void reply_read(Reply *r, Collector *g, KantHttpRequest *req);
extern void reply_unusable(Reply *r, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern void reply_over_cap(Reply *r, const char *setting, const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();
extern JsonbContainer *reply_get_array(Reply *r, JsonbContainer *obj, const char *at,
									   const char *key, bool required, int max_items);
extern JsonbContainer *reply_item_object(Reply *r, JsonbContainer *arr, const char *at, int i,
										 char **path);
extern JsonbContainer *reply_get_object(Reply *r, JsonbContainer *obj, const char *at,
										const char *key);
extern char *reply_get_string(Reply *r, JsonbContainer *obj, const char *at, const char *key,
							  bool required, int max_chars);
extern bool reply_get_number(Reply *r, JsonbContainer *obj, const char *at, const char *key,
							 double *out);
extern int64 reply_get_count(Reply *r, const char *key);
extern JsonbContainer *reply_error_doc(KantHttpRequest *req);
extern char *reply_doc_text(JsonbContainer *doc, const char *key);
extern char *reply_attempts_note(KantHttpRequest *req);
extern void reply_release(KantHttpRequest *req);

/* --------------------------------------------------------------- auth.c */

extern void auth_load_source(Collector *g, HeapTuple t, TupleDesc d, int first_col);
extern bool auth_from_source(Collector *g);
extern void auth_airflow_jwt(Collector *g, CredsFetch fetch);
extern TimestampTz auth_jwt_expiry(const char *jwt);
extern bool auth_bearer_ok(const char *tok);
extern bool auth_retry(KantHttpRequest *req, void *arg);

/* ------------------------------------------------------- collect_glue.c */

extern void glue_resolve_access(Collector *g);
extern char *glue_error(KantHttpRequest *req, char **message);
extern bool glue_retry(KantHttpRequest *req, void *arg);
extern void glue_requests(Collector *g, const char *op, char **bodies, int n,
						  KantHttpRequest **reqs);
extern void glue_hot(Collector *g);

/* ---------------------------------------------------- collect_airflow.c */

extern void airflow_resolve(Collector *g);
extern void airflow_detect(Collector *g, void *arg);
extern void airflow_error(KantHttpRequest *req, char **title, char **detail);
extern bool airflow_refused_token(KantHttpRequest *req);
extern void airflow_requests(Collector *g, const char *op, char **urls, int n,
							 KantHttpRequest **reqs);
extern void airflow_hot(Collector *g);

#endif							/* KANT_COLLECT_INT_H */
