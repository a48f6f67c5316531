/*
 * collect_airflow.c
 *	  kant.collect_airflow(system): poll Airflow.
 *
 * The DAG runs that changed since the last collection (minus the overlap)
 * and their task instances, through the stable REST API -- v2 (Airflow 3)
 * when the server has it, else v1 (Airflow 2, Composer 2) -- every listing
 * paged until total_entries whatever page size the server clamps to; the DAG
 * runs' task instances are read at once (bounded by max_parallel) and each
 * page ingested as it arrives; then the DAGs' cron schedules.  Basic auth
 * with a user and password, or a bearer token.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "collect_int.h"

/* pages kant asks for: the most the API allows */
#define AF_PAGE				1000

/* The endpoint and credentials: a problem here is a failed collection, recorded. */
void
airflow_resolve(Collector *g)
{
	char	   *principal = g->principal,
			   *secret = g->secret;
	size_t		len;

	if (g->endpoint == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("airflow system \"%s\" has no endpoint", g->system),
				 errhint("kant.set_endpoint('%s', 'https://<your Airflow web server>')", g->system)));
	len = strlen(g->endpoint);
	while (len > 0 && g->endpoint[len - 1] == '/')
		g->endpoint[--len] = '\0';
	if (secret == NULL && g->cs == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("airflow system \"%s\" has no credentials", g->system),
				 errhint("kant.set_credentials('%s', user, password) for basic auth, or kant.set_credentials('%s', NULL, token) for a bearer token.",
						 g->system, g->system)));
	if (auth_from_source(g))
		return;
	collect_check_binding(g);
	if (principal)
		principal = collect_secret(g, principal, "user");
	secret = collect_secret(g, secret, principal ? "password" : "token");
	if (principal)
		g->userpwd = psprintf("%s:%s", principal, secret);
	else
		g->auth_header = psprintf("Authorization: Bearer %s", secret);
}

/*
 * Airflow's errors: problem+json in v1 ({"title", "detail", "status"}),
 * {"detail": text, or a list of validation errors} in v2.  Their text
 * fields, cleaned and capped; nothing else of the body is shown.
 */
void
airflow_error(KantHttpRequest *req, char **title, char **detail)
{
	JsonbContainer *doc = reply_error_doc(req);

	*title = reply_doc_text(doc, "title");
	*detail = reply_doc_text(doc, "detail");
}

/*
 * What to check when Airflow refuses the request: the credentials
 * (airflow_refused_token), or else the identity's role (403).  Airflow 2's
 * API takes a user and password only with the basic_auth backend in [api]
 * auth_backends (its default is the session backend).  Its default roles
 * (the FAB security manager's ROLE_CONFIGS): Viewer reads DAG runs and task
 * instances; User adds USER_PERMISSIONS, among them can_create on DAG Runs
 * (post_dag_run asks it, with can_edit on DAGs) and can_edit on Task
 * Instances (clearTaskInstances).
 */
static char *
af_auth_hint(Collector *g, bool refused_token)
{
	if (g->cs)
		return psprintf("The token came from credential source %s: the identity needs an Airflow role in the environment (Composer registers it with [api] composer_auth_user_registration_role, Op by default), and on a GCE VM the cloud-platform access scope.",
						g->cs->source);
	if (!refused_token)
		return psprintf("Airflow knows the identity of system \"%s\" but its role does not allow this: reading DAG runs and task instances needs the Viewer role, triggering DAG runs and clearing task instances the User role.",
						g->system);
	if (g->auth_source && strcmp(g->auth_source, "airflow_password") == 0)
		return psprintf("Airflow 3 issued a token for the user of system \"%s\" at /auth/token and then refused it: its API servers must sign and check tokens with the same [api_auth] jwt_secret.",
						g->system);
	if (g->userpwd)
		return psprintf("Airflow did not accept the user and password of system \"%s\": check them with kant.set_credentials('%s', user, password). Airflow 2 reads them only when [api] auth_backends includes airflow.api.auth.backend.basic_auth.",
						g->system, g->system);
	return psprintf("Airflow did not accept the token of system \"%s\" (expired or revoked?): set a new one with kant.set_credentials('%s', NULL, token), or a source that renews it with kant.set_credential_source.",
					g->system, g->system);
}

/*
 * Did Airflow refuse the credentials themselves, not the identity's rights?
 * Airflow 2 says 401.  Airflow 3 says 401 without a token or for an expired
 * one, but 403 "Invalid JWT token" for any token it cannot verify, as after
 * a restart with a new [api_auth] jwt_secret (core_api/security.py get_user;
 * its UI sends the user to log in again then: apache/airflow#47791).
 */
bool
airflow_refused_token(KantHttpRequest *req)
{
	char	   *title;
	char	   *detail;

	if (req->curl_code != 0)
		return false;
	if (req->status == 401)
		return true;
	if (req->status != 403)
		return false;
	airflow_error(req, &title, &detail);
	return title == NULL && detail != NULL && strcmp(detail, "Invalid JWT token") == 0;
}

static void
af_raise(Collector *g, KantHttpRequest *req)
{
	char	   *title;
	char	   *detail;
	int			code = req->status == 401 || req->status == 403 ?
		ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;

	char	   *hint = NULL;

	if (req->curl_code != 0 || req->too_large)
		kant_http_raise(req, g->op);
	if (code == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION)
		hint = af_auth_hint(g, airflow_refused_token(req));
	airflow_error(req, &title, &detail);
	if (title == NULL && detail == NULL)
		ereport(ERROR,
				(errcode(code),
				 errmsg("kant: Airflow %s on %s failed with HTTP %ld%s", g->op, req->host, req->status,
						reply_attempts_note(req)),
				 errdetail("The reply (%zu bytes) is not an Airflow error document; kant does not show it.",
						   req->response_len),
				 hint ? errhint("%s", hint) : 0));
	ereport(ERROR,
			(errcode(code),
			 errmsg("kant: Airflow %s on %s failed with HTTP %ld: %s", g->op, req->host, req->status,
					title ? title : detail),
			 title && detail ? errdetail("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

void
airflow_requests(Collector *g, const char *op, char **urls, int n, KantHttpRequest **reqs)
{
	List	   *headers = list_make1(pstrdup("Accept: application/json"));
	int			i;

	if (g->auth_header)
		headers = lappend(headers, g->auth_header);
	g->op = op;
	for (i = 0; i < n; i++)
	{
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "GET";
		reqs[i]->url = urls[i];
		reqs[i]->headers = headers;
		reqs[i]->userpwd = g->userpwd;
		reqs[i]->basic_auth = true;
	}
}

static void
af_get(Collector *g, const char *op, char **urls, int n, KantHttpRequest **reqs, bool allow_404)
{
	int			i;

	airflow_requests(g, op, urls, n, reqs);
	kant_http_perform(reqs, n, &g->opt, auth_retry, g);
	for (i = 0; i < n; i++)
	{
		collect_count_attempts(g, reqs[i]);
		if (kant_http_failed(reqs[i]) && !(allow_404 && reqs[i]->status == 404))
			af_raise(g, reqs[i]);
	}
}

/*
 * Airflow 3 (REST API v2) has no basic auth: a user and password are
 * exchanged for a JWT at POST /auth/token, the auth manager's login route
 * (airflow-core api_fastapi/auth/managers/simple/routes/login.py: a JSON
 * body with username and password, 201 {"access_token": ...}, 401 on bad
 * credentials), and the JWT is the bearer token of every request after it.
 * The token lives [api_auth] jwt_expiration_time (a day by default, its
 * "exp" claim): kant caches it (auth.c) and asks again before it expires or
 * when Airflow answers 401.
 */
static void
airflow_token(Collector *g, Creds *out)
{
	char	   *colon = strchr(g->login, ':');
	StringInfoData body;
	char	   *url = psprintf("%s/auth/token", g->endpoint);
	KantHttpRequest *req = palloc0(sizeof(KantHttpRequest));
	Reply		r;
	char	   *token;

	/* a basic-auth user id holds no ':' (RFC 7617), so the first one splits */
	*colon = '\0';
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"username\": ");
	escape_json(&body, g->login);
	appendStringInfoString(&body, ", \"password\": ");
	escape_json(&body, colon + 1);
	appendStringInfoChar(&body, '}');
	*colon = ':';
	g->op = "POST /auth/token";
	req->method = "POST";
	req->url = url;
	req->body = body.data;
	req->body_len = body.len;
	req->headers = list_make2(pstrdup("Accept: application/json"), pstrdup("Content-Type: application/json"));
	kant_http_perform(&req, 1, &g->opt, NULL, NULL);
	collect_count_attempts(g, req);
	/* the password is in no error: only the problem document's fields are shown */
	memset(body.data, 0, body.len);
	if (req->curl_code == 0 && (req->status == 401 || req->status == 403))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("kant: Airflow POST /auth/token on %s refused the user and password of system \"%s\" (HTTP %ld)",
						req->host, g->system, req->status),
				 errhint("Airflow 3 exchanges them for a token at /auth/token: check them with kant.set_credentials('%s', user, password), or set a token: kant.set_credentials('%s', NULL, token).",
						 g->system, g->system)));
	if (kant_http_failed(req))
		af_raise(g, req);
	reply_read(&r, g, req);
	token = reply_get_string(&r, r.root, NULL, "access_token", true, 16384);
	if (!auth_bearer_ok(token))
		reply_unusable(&r, "access_token is not a bearer token (RFC 6750 b64token)");
	out->secret = token;
	out->expires = auth_jwt_expiry(token);
	memset(req->response, 0, req->response_len);
}

/* Which API the server speaks (its VersionInfo names a version), and from when to read. */
void
airflow_detect(Collector *g, void *arg)
{
	char	   *url;
	KantHttpRequest *req;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};
	bool		isnull;
	Datum		v;
	Reply		r;

	airflow_resolve(g);
	g->api = NULL;
	url = psprintf("%s/api/v2/version", g->endpoint);
	airflow_requests(g, "GET /api/v2/version", &url, 1, &req);
	kant_http_perform(&req, 1, &g->opt, auth_retry, g);
	collect_count_attempts(g, req);
	if (req->curl_code == 0 && req->status != 404 && g->userpwd != NULL)
	{
		/* Airflow 3 with a user and password (a 401 to basic auth, or a version open to all) */
		g->login = g->userpwd;
		auth_airflow_jwt(g, airflow_token);
		af_get(g, "GET /api/v2/version", &url, 1, &req, false);
		g->api = "v2";
	}
	else if (req->curl_code == 0 && req->status == 404)
		;
	else if (kant_http_failed(req))
		af_raise(g, req);
	else
		g->api = "v2";
	if (g->api == NULL || strcmp(g->api, "v2") != 0)
	{
		url = psprintf("%s/api/v1/version", g->endpoint);
		af_get(g, "GET /api/v1/version", &url, 1, &req, false);
		g->api = "v1";
	}
	reply_read(&r, g, req);
	reply_get_string(&r, r.root, NULL, "version", true, 100);
	if (SPI_execute_with_args("SELECT to_char((s.collected_until - make_interval(secs => s.collect_overlap_seconds))"
							  " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
							  " FROM kant.system s WHERE s.system_id = $1",
							  1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the cursor failed");
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	g->has_cursor = !isnull;
	g->since = isnull ? NULL : TextDatumGetCString(v);
}

/* A path segment, percent-encoded: run ids hold ':' and '+'. */
static char *
path_segment(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	collect_percent_encode(&b, s);
	return b.data;
}

static int
cmp_str(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/* A page of task instances still to read: a DAG run's path and an offset. */
typedef struct AfPage
{
	char	   *run;			/* dags/<dag_id>/dagRuns/<dag_run_id>, encoded */
	int64		offset;
	int			pages;			/* read so far */
} AfPage;

typedef struct AfRuns
{
	List	   *todo;			/* of AfPage *: the next round */
	int			dag_runs;
	int			round;			/* DAG runs in the next round; 0: ROUND_MAX */
} AfRuns;

static char *
dag_runs_url(Collector *g, const char *filter, int64 offset)
{
	return psprintf("%s/api/%s/dags/~/dagRuns?limit=%d&offset=" INT64_FORMAT "%s",
					g->endpoint, g->api, AF_PAGE, offset, filter);
}

/*
 * The DAG runs of a listing's page as task-instance paths, kept in keep:
 * each an object with a string dag_id and dag_run_id (v1's spec lets
 * dag_run_id be null: such a run has no task instances to ask for).
 */
static void
dag_run_paths(Reply *r, JsonbContainer *runs, List **paths, MemoryContext keep)
{
	int			n = JsonContainerSize(runs);
	int			i;

	for (i = 0; i < n; i++)
	{
		char	   *at;
		JsonbContainer *o = reply_item_object(r, runs, "\"dag_runs\"", i, &at);
		char	   *dag = reply_get_string(r, o, at, "dag_id", true, AF_ID_MAX);
		char	   *run = reply_get_string(r, o, at, "dag_run_id", strcmp(r->g->api, "v2") == 0, AF_ID_MAX);
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (*dag == '\0' || (run && *run == '\0'))
			reply_unusable(r, "%s has an empty dag_id or dag_run_id", at);
		if (run == NULL)
			continue;
		if (list_length(*paths) >= kant_collect_max_items)
			reply_over_cap(r, "kant.collect_max_items", "the DAG runs to read number more than %d",
						   list_length(*paths));
		dag = path_segment(dag);
		run = path_segment(run);
		old = MemoryContextSwitchTo(keep);
		*paths = lappend(*paths, psprintf("dags/%s/dagRuns/%s", dag, run));
		MemoryContextSwitchTo(old);
	}
}

/* The pages of the DAG run listings after their first. */
typedef struct AfListing
{
	Collector  *g;
	List	  **paths;
	MemoryContext keep;
} AfListing;

static void
dag_runs_page_done(KantHttpRequest *req, void *arg)
{
	AfListing  *ls = arg;
	int64		offset = *(int64 *) req->user;
	Reply		r;
	JsonbContainer *runs;
	int64		total;

	collect_count_attempts(ls->g, req);
	if (kant_http_failed(req))
		af_raise(ls->g, req);
	reply_read(&r, ls->g, req);
	runs = reply_get_array(&r, r.root, NULL, "dag_runs", true, AF_PAGE);
	total = reply_get_count(&r, "total_entries");
	if (JsonContainerSize(runs) == 0 && offset < total)
		reply_unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no DAG runs",
					   total, offset);
	dag_run_paths(&r, runs, ls->paths, ls->keep);
	reply_release(req);
}

/*
 * Which DAG runs to read.  The first time, all of them; after that, the ones
 * that ended since the cursor (minus the overlap) and the ones queued or
 * running now -- a DAG run whose task is cleared goes back to queued, so that
 * is seen too.  These filters exist since Airflow 2.0 (updated_at_gte only
 * since 2.6).  Each listing is paged to total_entries through the server's
 * clamp, the pages after the first ROUND_MAX at a time, each read as it
 * arrives.
 */
static void
step_af_runs(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	MemoryContext keep = CurrentMemoryContext;
	const char *filters[2];
	int			nf,
				f,
				i,
				nrest = 0;
	char	   *urls[2];
	KantHttpRequest *reqs[2];
	List	   *paths = NIL;
	char	  **rest_urls = NULL;
	int64	   *rest_offsets = NULL;
	AfListing	ls;
	ListCell   *lc;

	if (g->since)
	{
		filters[0] = psprintf("&end_date_gte=%s", g->since);
		filters[1] = "&state=queued&state=running";
		nf = 2;
	}
	else
	{
		filters[0] = "";
		nf = 1;
	}
	for (f = 0; f < nf; f++)
		urls[f] = dag_runs_url(g, filters[f], 0);
	af_get(g, "GET dagRuns", urls, nf, reqs, false);
	for (f = 0; f < nf; f++)
	{
		Reply		r;
		JsonbContainer *runs;
		int64		total,
					len,
					off,
					pages;

		reply_read(&r, g, reqs[f]);
		runs = reply_get_array(&r, r.root, NULL, "dag_runs", true, AF_PAGE);
		total = reply_get_count(&r, "total_entries");
		len = JsonContainerSize(runs);
		dag_run_paths(&r, runs, &paths, keep);
		if (total <= len)
			continue;
		if (len == 0)
			reply_unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the first page holds no DAG runs", total);
		pages = (total + len - 1) / len;
		if (pages > kant_collect_max_pages)
			reply_over_cap(&r, "kant.collect_max_pages",
						   "listing " INT64_FORMAT " DAG runs " INT64_FORMAT " at a time takes " INT64_FORMAT " pages",
						   total, len, pages);
		rest_urls = rest_urls ? repalloc(rest_urls, sizeof(char *) * (nrest + pages)) :
			palloc(sizeof(char *) * pages);
		rest_offsets = rest_offsets ? repalloc(rest_offsets, sizeof(int64) * (nrest + pages)) :
			palloc(sizeof(int64) * pages);
		for (off = len; off < total; off += len)
		{
			CHECK_FOR_INTERRUPTS();
			rest_offsets[nrest] = off;
			rest_urls[nrest++] = dag_runs_url(g, filters[f], off);
		}
		reply_release(reqs[f]);
	}
	ls.g = g;
	ls.paths = &paths;
	ls.keep = keep;
	for (i = 0; i < nrest; i += ROUND_MAX)
	{
		MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
													ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(round);
		int			n = Min(nrest - i, ROUND_MAX);
		KantHttpRequest **more = palloc(sizeof(KantHttpRequest *) * n);
		KantHttpOptions opt = g->opt;
		int			k;

		airflow_requests(g, "GET dagRuns", rest_urls + i, n, more);
		for (k = 0; k < n; k++)
			more[k]->user = &rest_offsets[i + k];
		opt.on_done = dag_runs_page_done;
		opt.on_done_arg = &ls;
		kant_http_perform(more, n, &opt, auth_retry, g);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(round);
	}
	/* a run both ended since and running again (cleared) is read once */
	list_sort(paths, cmp_str);
	ar->todo = NIL;
	foreach(lc, paths)
	{
		AfPage	   *p;

		CHECK_FOR_INTERRUPTS();
		if (foreach_current_index(lc) > 0 &&
			strcmp(lfirst(lc), list_nth(paths, foreach_current_index(lc) - 1)) == 0)
			continue;
		p = palloc0(sizeof(AfPage));
		p->run = lfirst(lc);
		ar->todo = lappend(ar->todo, p);
	}
	ar->dag_runs = list_length(ar->todo);
}

typedef struct AfRound
{
	Collector  *g;
	List	   *next;
	MemoryContext keep;
} AfRound;

/*
 * A page of a DAG run's task instances arrived: "task_instances" (at most
 * the 1,000 asked for) and total_entries; ingest it now.
 */
static void
ti_page_done(KantHttpRequest *req, void *arg)
{
	AfRound    *rd = arg;
	Collector  *g = rd->g;
	AfPage	   *p = req->user;
	Reply		r;
	JsonbContainer *tis;
	int64		total,
				len;

	collect_count_attempts(g, req);
	if (kant_http_failed(req))
	{
		if (req->curl_code == 0 && !req->too_large && req->status == 404)
			return;				/* the DAG run was deleted since it was listed */
		if (collect_deferred(g, req))
			return;				/* hot: throttled, or the deadline; the next tick reads it */
		af_raise(g, req);
	}
	reply_read(&r, g, req);
	tis = reply_get_array(&r, r.root, NULL, "task_instances", true, AF_PAGE);
	total = reply_get_count(&r, "total_entries");
	len = JsonContainerSize(tis);
	p->pages++;
	if (p->offset + len < total)
	{
		if (len == 0)
			reply_unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no task instances",
						   total, p->offset);
		if (p->pages >= kant_collect_max_pages)
			reply_over_cap(&r, "kant.collect_max_pages", "the task instances of one DAG run go on past %d pages",
						   p->pages);
	}
	(void) collect_ingest_page(g, r.json, 0);
	if (p->offset + len < total)
	{
		MemoryContext old = MemoryContextSwitchTo(rd->keep);

		p->offset += len;
		rd->next = lappend(rd->next, p);
		MemoryContextSwitchTo(old);
	}
	reply_release(req);
}

/*
 * One round: the next page of task instances of the first ROUND_MAX DAG runs
 * still being read, all at once (bounded by max_parallel), each ingested as
 * it arrives; those with another page go to the back of the line.
 */
static void
step_af_tis(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext round = AllocSetContextCreate(keep, "kant collection round",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(round);
	int			n = Min(list_length(ar->todo), ar->round > 0 ? Min(ar->round, ROUND_MAX) : ROUND_MAX);
	char	  **urls = palloc(sizeof(char *) * n);
	KantHttpRequest **reqs = palloc(sizeof(KantHttpRequest *) * n);
	KantHttpOptions opt = g->opt;
	AfRound		rd;
	List	   *rest = NIL;
	ListCell   *lc;

	foreach(lc, ar->todo)
	{
		AfPage	   *p = lfirst(lc);
		int			i = foreach_current_index(lc);

		CHECK_FOR_INTERRUPTS();
		if (i >= n)
		{
			MemoryContextSwitchTo(keep);
			rest = lappend(rest, p);
			MemoryContextSwitchTo(round);
			continue;
		}
		urls[i] = psprintf("%s/api/%s/%s/taskInstances?limit=%d&offset=" INT64_FORMAT,
						   g->endpoint, g->api, p->run, AF_PAGE, p->offset);
	}
	rd.g = g;
	rd.next = NIL;
	rd.keep = keep;
	opt.on_done = ti_page_done;
	opt.on_done_arg = &rd;
	airflow_requests(g, "GET taskInstances", urls, n, reqs);
	foreach(lc, ar->todo)
	{
		if (foreach_current_index(lc) >= n)
			break;
		reqs[foreach_current_index(lc)]->user = lfirst(lc);
	}
	kant_http_perform(reqs, n, &opt, auth_retry, g);
	MemoryContextSwitchTo(keep);
	list_free(ar->todo);
	ar->todo = list_concat(rest, rd.next);
	list_free(rd.next);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(round);
}

/*
 * What a DAG's next run says of its timetable: "tick" when its logical date
 * is the time the run is due (Airflow 3's default CronTriggerTimetable: the
 * logical date is the tick itself), "previous_tick" when it is earlier
 * (CronDataIntervalTimetable, Airflow 2's default: the logical date starts
 * the interval that ends at the tick), NULL when the DAG has no next run
 * (paused, ended) or the fields are absent.  v1 names them next_dagrun and
 * next_dagrun_create_after, v2 next_dagrun_logical_date and
 * next_dagrun_run_after.
 */
static char *
dag_slot_date(Collector *g, JsonbContainer *d)
{
	bool		v2 = strcmp(g->api, "v2") == 0;
	RecordError err;
	TimestampTz logical,
				run_after;

	memset(&err, 0, sizeof(err));
	if (!json_get_timestamp(d, v2 ? "next_dagrun_logical_date" : "next_dagrun", "", false, &logical, &err) ||
		!json_get_timestamp(d, v2 ? "next_dagrun_run_after" : "next_dagrun_create_after", "", false,
							&run_after, &err))
		return NULL;
	if (logical == run_after)
		return "tick";
	return logical < run_after ? "previous_tick" : NULL;
}

/*
 * The time zones of the DAGs whose schedule is new, changed, or not checked
 * for a day (kant.schedule.updated_at): a DAG's cron runs in its own zone
 * (DAGDetail.timezone, only in GET /dags/{dag_id}/details), not in kant's
 * system zone.  zones[i] is the zone as Airflow gives it, NULL when not read
 * (the stored schedule keeps its zone).  A DAG gone meanwhile (404) is left.
 */
static void
dag_zones(Collector *g, List *dag_ids, List *dag_crons, char **zones)
{
	Oid			qt[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		qv[3] = {Int32GetDatum(g->system_id), collect_text_array(dag_ids), collect_text_array(dag_crons)};
	List	   *want = NIL;
	uint64		k;
	int			i,
				done = 0;

	if (SPI_execute_with_args("SELECT u.ord::integer FROM unnest($2, $3) WITH ORDINALITY AS u(dag_id, cron, ord)"
							  " WHERE kant.cron_is_valid(btrim(u.cron), 'croniter') AND EXISTS ("
							  "  SELECT FROM kant.job j LEFT JOIN kant.schedule x ON x.job_id = j.job_id"
							  "  WHERE j.system_id = $1 AND j.dag_id = u.dag_id"
							  "    AND (x.job_id IS NULL OR (x.source <> 'user'"
							  "      AND (x.cron IS DISTINCT FROM btrim(u.cron) OR x.updated_at < now() - interval '1 day'))))"
							  " ORDER BY u.ord",
							  3, qt, qv, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the DAGs' schedules failed");
	for (k = 0; k < SPI_processed; k++)
	{
		bool		isnull;

		want = lappend_int(want, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	/* a few at a time, in parallel, as the task instance pages */
	while (done < list_length(want))
	{
		int			n = Min(list_length(want) - done, 8);
		char	   *urls[8];
		KantHttpRequest *reqs[8];

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < n; i++)
			urls[i] = psprintf("%s/api/%s/dags/%s/details", g->endpoint, g->api,
							   path_segment(list_nth(dag_ids, list_nth_int(want, done + i) - 1)));
		af_get(g, "GET dag details", urls, n, reqs, true);
		for (i = 0; i < n; i++)
		{
			Reply		r;
			char	   *tz;

			if (reqs[i]->status == 404)
				continue;
			reply_read(&r, g, reqs[i]);
			tz = reply_get_string(&r, r.root, NULL, "timezone", false, 200);
			/* no zone given: Airflow's default, UTC */
			zones[list_nth_int(want, done + i) - 1] = tz ? tz : "UTC";
		}
		done += n;
	}
}

/*
 * The DAGs' cron schedules become their tasks' schedules, in each DAG's time
 * zone and read by its timetable; then the cursor moves.  Each DAG an object
 * with a string dag_id; v2's timetable_summary a string or null, v1's
 * schedule_interval an object or null.
 */
static void
step_af_dags(Collector *g, void *arg)
{
	int64		offset = 0,
				total;
	int			pages = 0;
	Oid			qt[2] = {INT4OID, TEXTARRAYOID};
	List	   *dag_ids = NIL,
			   *dag_crons = NIL,
			   *dag_slots = NIL,
			   *jobs = NIL,
			   *crons = NIL,
			   *zones = NIL,
			   *slots = NIL;
	char	  **dag_zone;
	uint64		k;
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext page = AllocSetContextCreate(keep, "kant dags page", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		char	   *url;
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *dags;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(page);
		url = psprintf("%s/api/%s/dags?limit=%d&offset=" INT64_FORMAT, g->endpoint, g->api, AF_PAGE, offset);
		af_get(g, "GET dags", &url, 1, &req, false);
		pages++;
		reply_read(&r, g, req);
		dags = reply_get_array(&r, r.root, NULL, "dags", true, AF_PAGE);
		total = reply_get_count(&r, "total_entries");
		n = JsonContainerSize(dags);
		for (i = 0; i < n; i++)
		{
			char	   *at;
			JsonbContainer *d = reply_item_object(&r, dags, "\"dags\"", i, &at);
			char	   *dag_id = reply_get_string(&r, d, at, "dag_id", true, AF_ID_MAX);
			char	   *cron = NULL;
			char	   *slot;
			JsonbContainer *si;

			CHECK_FOR_INTERRUPTS();
			g->jobs++;
			if (strcmp(g->api, "v2") == 0)
				cron = reply_get_string(&r, d, at, "timetable_summary", false, 1024);
			else if ((si = reply_get_object(&r, d, at, "schedule_interval")) != NULL)
			{
				char	   *si_at = psprintf("%s.schedule_interval", at);
				char	   *type = reply_get_string(&r, si, si_at, "__type", false, 64);

				if (type && strcmp(type, "CronExpression") == 0)
					cron = reply_get_string(&r, si, si_at, "value", false, 1024);
			}
			if (cron == NULL)
				continue;
			slot = dag_slot_date(g, d);
			if (list_length(dag_ids) >= kant_collect_max_items)
				reply_over_cap(&r, "kant.collect_max_items", "the DAGs number more than %d", list_length(dag_ids));
			MemoryContextSwitchTo(keep);
			dag_ids = lappend(dag_ids, pstrdup(dag_id));
			dag_crons = lappend(dag_crons, pstrdup(cron));
			dag_slots = lappend(dag_slots, slot);
			MemoryContextSwitchTo(page);
		}
		offset += n;
		if (offset >= total)
			break;
		if (n == 0)
			reply_unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no DAGs",
						   total, offset);
		collect_another_page(&r, pages, "GET dags");
		MemoryContextReset(page);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(page);
	if (dag_ids != NIL)
	{
		Datum		qv[2];

		dag_zone = palloc0(sizeof(char *) * list_length(dag_ids));
		dag_zones(g, dag_ids, dag_crons, dag_zone);
		qv[0] = Int32GetDatum(g->system_id);
		qv[1] = collect_text_array(dag_ids);
		/* the tasks kant knows of each DAG (it sees the ones just ingested) */
		if (SPI_execute_with_args("SELECT j.name, u.ord::integer FROM unnest($2) WITH ORDINALITY AS u(dag_id, ord)"
								  " JOIN kant.job j ON j.system_id = $1 AND j.dag_id = u.dag_id",
								  2, qt, qv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the DAGs' tasks failed");
		for (k = 0; k < SPI_processed; k++)
		{
			HeapTuple	t = SPI_tuptable->vals[k];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			int			ord = DatumGetInt32(SPI_getbinval(t, td, 2, &isnull));

			jobs = lappend(jobs, SPI_getvalue(t, td, 1));
			zones = lappend(zones, dag_zone[ord - 1]);
			crons = lappend(crons, list_nth(dag_crons, ord - 1));
			slots = lappend(slots, list_nth(dag_slots, ord - 1));
		}
		/* a timetable the API does not show: the version's default */
		collect_set_schedules(g, jobs, crons, zones, "airflow_dag", slots,
							  strcmp(g->api, "v2") == 0 ? "tick" : "previous_tick");
	}
	g->op = NULL;
	{
		Oid			ut[1] = {INT4OID};
		Datum		uv[1] = {Int32GetDatum(g->system_id)};

		/* everything updated before this transaction began has been read */
		if (SPI_execute_with_args("UPDATE kant.system SET collected_until = now() WHERE system_id = $1",
								  1, ut, uv, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "kant: moving the cursor failed");
	}
}

PG_FUNCTION_INFO_V1(kant_collect_airflow);
Datum
kant_collect_airflow(PG_FUNCTION_ARGS)
{
	Collector		g;
	Call		c;

	AfRuns		ar;

	collect_begin(&g, &c, "airflow", PG_GETARG_TEXT_PP(0), false);
	memset(&ar, 0, sizeof(ar));
	if (collect_run_step(&g, airflow_detect, NULL) &&
		collect_run_step(&g, step_af_runs, &ar))
	{
		while (ar.todo != NIL && collect_run_step(&g, step_af_tis, &ar))
			;
		if (g.error == NULL)
			collect_run_step(&g, step_af_dags, NULL);
	}
	PG_RETURN_DATUM(collect_end(&g, &c));
}


/* ------------------------------------------------------------ hot */

/*
 * kant.collect_hot on an Airflow system (collect.c): the task instances of
 * the DAG runs in flight, and nothing else -- no DAG listing, no cursor (the
 * sweep keeps both).  In flight: the DAG runs of the task instances kant
 * holds as not finished (kant._hot_targets, in its order: those a gate or an
 * SLO waits for first), and those Airflow lists as queued or running now
 * (GET dags/~/dagRuns?state=queued&state=running: the state filter of
 * get_dag_runs, "can be repeated to retrieve multiple matching values (OR
 * condition)", v1-openapi.yaml FilterState, v2-openapi.yaml get_dag_runs
 * parameter state), which finds the runs started since.  Each DAG run's
 * task instances (GET dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances,
 * get_task_instances in both specs) are read in rounds within the budget,
 * and ingested as the sweep ingests them.
 */

/* One GET of a hot collection: false when it was deferred (throttled, the deadline). */
static bool
af_hot_get(Collector *g, const char *op, char *url, KantHttpRequest **req)
{
	airflow_requests(g, op, &url, 1, req);
	kant_http_perform(req, 1, &g->opt, auth_retry, g);
	collect_count_attempts(g, *req);
	if (!kant_http_failed(*req))
		return true;
	if (collect_deferred(g, *req))
		return false;
	af_raise(g, *req);
	return false;				/* not reached */
}

static void
step_af_hot_runs(Collector *g, void *arg)
{
	AfRuns	   *ar = arg;
	MemoryContext keep = CurrentMemoryContext;
	Oid			argt[1] = {INT4OID};
	Datum		argv[1] = {Int32GetDatum(g->system_id)};
	List	   *mine = NIL,
			   *listed = NIL;
	int64		offset = 0;
	int			pages = 0;
	uint64		k;
	ListCell   *lc;

	/* the DAG runs kant holds as in flight, in the order to read them */
	if (SPI_execute_with_args("SELECT job, run FROM kant._hot_targets($1)",
							  1, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kant: reading the hot targets failed");
	for (k = 0; k < SPI_processed; k++)
	{
		HeapTuple	t = SPI_tuptable->vals[k];
		TupleDesc	d = SPI_tuptable->tupdesc;

		mine = lappend(mine, psprintf("dags/%s/dagRuns/%s", path_segment(SPI_getvalue(t, d, 1)),
									  path_segment(SPI_getvalue(t, d, 2))));
	}
	/* and those Airflow says are queued or running, within the budget */
	while (collect_allowance(g, 1) > 0)
	{
		KantHttpRequest *req;
		Reply		r;
		JsonbContainer *runs;
		int64		total;
		int			len;

		CHECK_FOR_INTERRUPTS();
		if (!af_hot_get(g, "GET dagRuns", dag_runs_url(g, "&state=queued&state=running", offset), &req))
			break;
		pages++;
		reply_read(&r, g, req);
		runs = reply_get_array(&r, r.root, NULL, "dag_runs", true, AF_PAGE);
		total = reply_get_count(&r, "total_entries");
		len = JsonContainerSize(runs);
		dag_run_paths(&r, runs, &listed, keep);
		reply_release(req);
		offset += len;
		if (offset >= total)
			break;
		if (len == 0)
			reply_unusable(&r, "\"total_entries\" is " INT64_FORMAT " but the page at offset " INT64_FORMAT " holds no DAG runs",
						   total, offset);
		collect_another_page(&r, pages, "GET dagRuns");
	}
	/* kant's first, then the others Airflow listed; each once */
	list_sort(listed, cmp_str);
	ar->todo = NIL;
	foreach(lc, mine)
	{
		AfPage	   *p = palloc0(sizeof(AfPage));

		p->run = lfirst(lc);
		ar->todo = lappend(ar->todo, p);
	}
	foreach(lc, listed)
	{
		ListCell   *m;
		bool		seen = false;
		AfPage	   *p;

		CHECK_FOR_INTERRUPTS();
		if (foreach_current_index(lc) > 0 &&
			strcmp(lfirst(lc), list_nth(listed, foreach_current_index(lc) - 1)) == 0)
			continue;
		foreach(m, mine)
		{
			if (strcmp(lfirst(m), lfirst(lc)) == 0)
			{
				seen = true;
				break;
			}
		}
		if (seen)
			continue;
		p = palloc0(sizeof(AfPage));
		p->run = lfirst(lc);
		ar->todo = lappend(ar->todo, p);
	}
	ar->dag_runs = list_length(ar->todo);
}

void
airflow_hot(Collector *g)
{
	AfRuns		ar;

	memset(&ar, 0, sizeof(ar));
	if (collect_allowance(g, 1) == 0)
	{
		/* no budget left this minute: everything waits for the next tick */
		Oid			argt[1] = {INT4OID};
		Datum		argv[1] = {Int32GetDatum(g->system_id)};
		bool		isnull;

		if (SPI_execute_with_args("SELECT count(*)::integer FROM kant._hot_targets($1)",
								  1, argt, argv, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "kant: reading the hot targets failed");
		g->deferred += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		return;
	}
	if (!collect_run_step(g, airflow_detect, NULL) || !collect_run_step(g, step_af_hot_runs, &ar))
		return;
	g->jobs = ar.dag_runs;
	while (ar.todo != NIL)
	{
		ar.round = collect_allowance(g, list_length(ar.todo));
		if (ar.round == 0 || !collect_run_step(g, step_af_tis, &ar))
			break;
	}
	g->deferred += list_length(ar.todo);
	g->op = NULL;
}
