/*
 * http.h
 *	  kant's HTTP layer on libcurl: what collectors (and later the notifier)
 *	  use to talk to the outside.
 *
 * A batch of requests runs at once through libcurl's multi interface,
 * bounded by max_parallel, each with connect and total timeouts, a response
 * size cap, http/https only and TLS verification on, through kant.http_proxy
 * or directly (never a proxy of the server's environment).  Throttling, 5xx and
 * transport failures are retried with exponential backoff and full jitter
 * (Retry-After honoured).  Query cancel, statement_timeout and termination
 * stop the batch within about 100 ms; every handle, header list and buffer is
 * freed on every path.  Buffers handed to curl are malloc'd, never palloc'd,
 * and no callback throws.
 */
#ifndef KANT_HTTP_H
#define KANT_HTTP_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct KantHttpRequest KantHttpRequest;

typedef struct KantHttpOptions
{
	int			connect_timeout_ms;
	int			timeout_ms;
	int64		max_bytes;
	int			max_parallel;
	int			max_retries;
	int			retry_base_ms;
	int			retry_cap_ms;
	bool		verify_tls;
	/*
	 * No attempt starts, and no retry is scheduled, at or after this instant,
	 * and no attempt runs past it (its timeouts are cut to it); 0: none.
	 * kant_http_default_options() sets the deadline of the tick in progress
	 * (kant._http_deadline), so every request a tick makes keeps to it.
	 */
	TimestampTz deadline;
	/* called as each request reaches its final outcome, inside the batch (may throw) */
	void		(*on_done) (KantHttpRequest *req, void *arg);
	void	   *on_done_arg;
} KantHttpOptions;

/*
 * Decide whether a finished attempt is retried: return true to retry.  The
 * default (NULL) retries transport failures, 429 and 500/502/503/504.
 */
typedef bool (*KantHttpRetryCheck) (KantHttpRequest *req, void *arg);

struct KantHttpRequest
{
	/* in */
	const char *method;			/* GET, POST, PUT */
	const char *url;
	const char *body;			/* POST body, or NULL */
	size_t		body_len;
	List	   *headers;		/* of char * "Name: value" */
	const char *aws_sigv4;		/* "aws:amz:<region>:<service>", or NULL */
	const char *userpwd;		/* "user:password" for SigV4 keys or basic auth */
	bool		basic_auth;		/* userpwd is basic auth, not SigV4 keys */
	/*
	 * A cloud metadata endpoint (auth.c): its address comes from a superuser's
	 * setting or the server's environment, never from a system's owner, so
	 * kant.allowed_hosts (which refuses link-local addresses) does not judge
	 * it and no proxy is used.
	 */
	bool		metadata;
	bool		auth_retried;	/* retried once with refreshed credentials (auth.c) */

	/* out */
	long		status;			/* HTTP status of the last attempt; 0: none */
	char	   *response;		/* body of the last attempt (palloc'd, NUL-terminated) */
	size_t		response_len;
	int			attempts;
	int			retries_waited_ms;
	int			curl_code;		/* CURLcode of the last attempt */
	bool		too_large;		/* the last response passed max_bytes */
	long		retry_after_s;	/* Retry-After (seconds) of the last response; -1: none */
	char		error[256];		/* curl's message for a transport failure */
	bool		blocked;		/* kant.allowed_hosts refused the address (error says why) */
	/*
	 * The deadline ended it: not sent, a retry not made, or an attempt cut
	 * short by it; the last attempt's outcome (if any) is kept.
	 */
	bool		deadline_cut;
	char	   *host;			/* for messages: the URL's host, nothing else */

	void	   *user;			/* the caller's, untouched */
};

extern void kant_http_define_gucs(void);
extern void kant_http_default_options(KantHttpOptions *opt);
extern void kant_http_perform(KantHttpRequest **reqs, int n, const KantHttpOptions *opt,
							  KantHttpRetryCheck retry_check, void *retry_arg);
extern bool kant_http_failed(KantHttpRequest *req);
extern void kant_http_raise(KantHttpRequest *req, const char *what) pg_attribute_noreturn();
extern bool kant_http_default_retry(KantHttpRequest *req);
extern bool kant_http_unsent(KantHttpRequest *req);
extern bool kant_http_host_allowed(const char *host, char *why, size_t whylen);
extern bool kant_http_host_allowed_url(const char *url, char *why, size_t whylen);
extern TimestampTz kant_http_deadline(void);

/* GUCs */
extern int	kant_http_connect_timeout_ms;
extern int	kant_http_timeout_ms;
extern int	kant_http_max_kb;
extern int	kant_http_max_parallel;
extern int	kant_http_max_retries;
extern int	kant_http_retry_base_ms;
extern bool kant_http_verify_tls;
extern char *kant_allowed_hosts;
extern char *kant_http_proxy;

#endif							/* KANT_HTTP_H */
