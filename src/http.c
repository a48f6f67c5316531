/*
 * http.c
 *	  kant's HTTP layer on libcurl (see http.h), and two SQL functions that
 *	  expose it for checking endpoints from the server: kant.http_get() and
 *	  kant.http_fetch().
 */
#include "kant.h"
#include "http.h"

#include <math.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

int			kant_http_connect_timeout_ms = 10000;
int			kant_http_timeout_ms = 60000;
int			kant_http_max_kb = 65536;
int			kant_http_max_parallel = 16;
int			kant_http_max_retries = 4;
int			kant_http_retry_base_ms = 500;
bool		kant_http_verify_tls = true;
char	   *kant_allowed_hosts = NULL;
char	   *kant_http_proxy = NULL;

static bool curl_ready = false;

/*
 * The deadline of the tick in progress (kant._http_deadline, set by
 * kant.tick()), 0: none.  It ends with the transaction whatever happens, so
 * a tick that fails leaves no deadline behind for the session.
 */
static TimestampTz tick_deadline = 0;
static bool deadline_callback = false;

/*
 * kant.allowed_hosts, parsed: which hosts kant may connect to.  "*" is any
 * host whose address is public; a name or *.suffix allows that name at any
 * address (the superuser vouches for it); an address or a CIDR allows those
 * addresses.  Loopback, private, link-local (cloud metadata) and other
 * internal addresses are refused unless listed.
 */
typedef enum HostEntryKind
{
	HE_PUBLIC,
	HE_NAME,
	HE_SUFFIX,
	HE_NET
} HostEntryKind;

typedef struct HostEntry
{
	HostEntryKind kind;
	char		name[256];		/* lower case; a suffix keeps its leading dot */
	int			family;			/* HE_NET: AF_INET or AF_INET6 */
	unsigned char addr[16];
	int			bits;
} HostEntry;

typedef struct HostList
{
	int			n;
	bool		any_public;
	bool		any_net;
	HostEntry	e[FLEXIBLE_ARRAY_MEMBER];
} HostList;

static HostList *allowed_hosts = NULL;

/* kant.http_proxy's host (GUC extra), NULL: no proxy */
static char *http_proxy_host = NULL;

/* The setting with host added: a hint must not drop what is listed already. */
static char *
hosts_with(const char *host)
{
	if (kant_allowed_hosts == NULL || kant_allowed_hosts[strspn(kant_allowed_hosts, " \t")] == '\0')
		return pstrdup(host);
	return psprintf("%s, %s", kant_allowed_hosts, host);
}

/* One request's transfer state.  Everything curl sees is malloc'd or curl's. */
typedef struct Transfer
{
	KantHttpRequest *req;
	CURL	   *easy;
	struct curl_slist *hdrs;
	char	   *buf;			/* response body (malloc) */
	size_t		len;
	size_t		cap;
	size_t		max_bytes;
	bool		too_large;
	long		retry_after_s;	/* Retry-After of the last response, -1: none */
	TimestampTz not_before;		/* a retry waits until then */
	bool		active;
	bool		done;
	bool		capped;			/* this attempt's timeout was cut to the deadline */
	bool		name_ok;		/* the host connected to is listed by name: any address */
	const char *proxy;			/* kant.http_proxy for this batch, NULL: none */
	bool		blocked;		/* the socket callback refused an address */
	char		blocked_why[200];
	char		errbuf[CURL_ERROR_SIZE];
} Transfer;

/* ------------------------------------------------------- allowed hosts */

/* An IPv4 or IPv6 literal (brackets allowed); its family and bytes. */
static bool
parse_ip(const char *s, int *family, unsigned char *addr)
{
	char		buf[64];
	size_t		len = strlen(s);

	if (len >= sizeof(buf))
		return false;
	if (len > 2 && s[0] == '[' && s[len - 1] == ']')
	{
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
	}
	else
		strlcpy(buf, s, sizeof(buf));
	if (inet_pton(AF_INET, buf, addr) == 1)
	{
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1)
	{
		*family = AF_INET6;
		return true;
	}
	return false;
}

static bool
prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
	int			full = bits / 8;
	int			rest = bits % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ net[full]) & (0xFF << (8 - rest))) == 0;
}

/* An IPv6 address that carries an IPv4 one (mapped, NAT64): its IPv4 bytes. */
static bool
embedded_v4(const unsigned char *a6, unsigned char *a4)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	static const unsigned char nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};

	if (memcmp(a6, mapped, 12) != 0 && memcmp(a6, nat64, 12) != 0)
		return false;
	memcpy(a4, a6 + 12, 4);
	return true;
}

/* NULL for a public address, else what kind of internal address it is. */
static const char *
internal_kind(int family, const unsigned char *a)
{
	if (family == AF_INET)
	{
		static const struct
		{
			unsigned char net[4];
			int			bits;
			const char *kind;
		}			v4[] = {
			{{0, 0, 0, 0}, 8, "a \"this network\" address"},
			{{10, 0, 0, 0}, 8, "a private address"},
			{{100, 64, 0, 0}, 10, "a shared (carrier-grade NAT) address"},
			{{127, 0, 0, 0}, 8, "a loopback address"},
			{{169, 254, 0, 0}, 16, "a link-local address (cloud metadata services live there)"},
			{{172, 16, 0, 0}, 12, "a private address"},
			{{192, 0, 0, 0}, 24, "an IETF protocol address"},
			{{192, 0, 2, 0}, 24, "a documentation address"},
			{{192, 168, 0, 0}, 16, "a private address"},
			{{198, 18, 0, 0}, 15, "a benchmarking address"},
			{{198, 51, 100, 0}, 24, "a documentation address"},
			{{203, 0, 113, 0}, 24, "a documentation address"},
			{{224, 0, 0, 0}, 4, "a multicast address"},
			{{240, 0, 0, 0}, 4, "a reserved address"},
		};
		int			i;

		for (i = 0; i < (int) lengthof(v4); i++)
			if (prefix_match(a, v4[i].net, v4[i].bits))
				return v4[i].kind;
		return NULL;
	}
	else
	{
		unsigned char a4[4];
		static const unsigned char zero[16] = {0};
		static const unsigned char ula[1] = {0xFC};
		static const unsigned char ll[2] = {0xFE, 0x80};
		static const unsigned char mc[1] = {0xFF};
		static const unsigned char doc[4] = {0x20, 0x01, 0x0D, 0xB8};
		static const unsigned char discard[8] = {0x01, 0x00, 0, 0, 0, 0, 0, 0};

		if (embedded_v4(a, a4))
			return internal_kind(AF_INET, a4);
		if (prefix_match(a, zero, 127))
			return a[15] == 1 ? "a loopback address" : "the unspecified address";
		if (prefix_match(a, ula, 7))
			return "a private (unique local) address";
		if (prefix_match(a, ll, 10))
			return "a link-local address (cloud metadata services live there)";
		if (prefix_match(a, mc, 8))
			return "a multicast address";
		if (prefix_match(a, doc, 32))
			return "a documentation address";
		if (prefix_match(a, discard, 64))
			return "a discard address";
		return NULL;
	}
}

/*
 * May kant connect to this address?  Listed networks first, then "*" for
 * public addresses.  Plain C: the socket callback uses it.
 */
static bool
address_allowed(const HostList *list, int family, const unsigned char *a,
				char *why, size_t whylen)
{
	unsigned char a4[4];
	char		text[INET6_ADDRSTRLEN];
	const char *kind;
	int			i;

	if (family == AF_INET6 && embedded_v4(a, a4))
		return address_allowed(list, AF_INET, a4, why, whylen);
	for (i = 0; list && i < list->n; i++)
	{
		const HostEntry *e = &list->e[i];

		if (e->kind == HE_NET && e->family == family && prefix_match(a, e->addr, e->bits))
			return true;
	}
	kind = internal_kind(family, a);
	if (kind == NULL && list && list->any_public)
		return true;
	if (inet_ntop(family, a, text, sizeof(text)) == NULL)
		strlcpy(text, "?", sizeof(text));
	snprintf(why, whylen, "kant.allowed_hosts does not allow %s (%s)", text,
			 kind ? kind : "not listed");
	return false;
}

/* Is a host name (not an address) listed by name or suffix? */
static bool
name_listed(const HostList *list, const char *host)
{
	char		lower[256];
	size_t		len = strlen(host);
	int			i;

	if (list == NULL || len == 0 || len >= sizeof(lower))
		return false;
	for (i = 0; i < (int) len; i++)
		lower[i] = pg_ascii_tolower((unsigned char) host[i]);
	lower[len] = '\0';
	if (lower[len - 1] == '.')
		lower[--len] = '\0';	/* a fully qualified name */
	for (i = 0; i < list->n; i++)
	{
		const HostEntry *e = &list->e[i];
		size_t		elen = strlen(e->name);

		if (e->kind == HE_NAME && strcmp(lower, e->name) == 0)
			return true;
		if (e->kind == HE_SUFFIX && len > elen && strcmp(lower + len - elen, e->name) == 0)
			return true;
	}
	return false;
}

/*
 * Before any connection: may this URL host be reached at all?  A literal
 * address is judged now; a name listed by name may go anywhere; any other
 * name is judged by the address it resolves to, at connect time.
 */
bool
kant_http_host_allowed(const char *host, char *why, size_t whylen)
{
	int			family;
	unsigned char a[16];

	if (parse_ip(host, &family, a))
		return address_allowed(allowed_hosts, family, a, why, whylen);
	if (name_listed(allowed_hosts, host))
		return true;
	if (allowed_hosts && (allowed_hosts->any_public || allowed_hosts->any_net))
		return true;			/* decided by its address */
	snprintf(why, whylen, "kant.allowed_hosts does not allow %s", host);
	return false;
}

/*
 * The same for a whole URL, without throwing: false when it is not an http(s)
 * URL or its host may not be reached (what kant_http_perform would refuse).
 */
bool
kant_http_host_allowed_url(const char *url, char *why, size_t whylen)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		ok;

	if (u == NULL)
	{
		snprintf(why, whylen, "out of memory");
		return false;
	}
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		(pg_strcasecmp(scheme, "http") == 0 || pg_strcasecmp(scheme, "https") == 0);
	if (!ok)
		snprintf(why, whylen, "not an http or https URL");
	else
		ok = kant_http_host_allowed(host, why, whylen);
	if (scheme)
		curl_free(scheme);
	if (host)
		curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static bool
check_allowed_hosts(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;
	int			n = 0;
	HostList   *list;

	if (*newval == NULL)
		return true;
	copy = pstrdup(*newval);
	for (tok = strtok_r(copy, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save))
		n++;
	list = (HostList *) malloc(offsetof(HostList, e) + sizeof(HostEntry) * Max(n, 1));	/* GUC extra: malloc */
	if (list == NULL)
		return false;
	memset(list, 0, offsetof(HostList, e) + sizeof(HostEntry) * Max(n, 1));
	strlcpy(copy, *newval, strlen(*newval) + 1);
	save = NULL;
	for (tok = strtok_r(copy, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save))
	{
		HostEntry  *e = &list->e[list->n];
		char	   *slash = strchr(tok, '/');
		const char *p;

		if (strcmp(tok, "*") == 0)
		{
			e->kind = HE_PUBLIC;
			list->any_public = true;
		}
		else if (slash != NULL || parse_ip(tok, &e->family, e->addr))
		{
			int			max;
			char	   *end;

			if (slash)
				*slash = '\0';
			if (!parse_ip(tok, &e->family, e->addr))
			{
				GUC_check_errdetail("\"%s\" is not an IP address.", tok);
				goto bad;
			}
			max = e->family == AF_INET ? 32 : 128;
			e->bits = max;
			if (slash)
			{
				long		b = strtol(slash + 1, &end, 10);

				if (*end != '\0' || end == slash + 1 || b < 0 || b > max)
				{
					GUC_check_errdetail("\"%s\" is not a prefix length for %s.", slash + 1, tok);
					goto bad;
				}
				e->bits = (int) b;
			}
			e->kind = HE_NET;
			list->any_net = true;
		}
		else
		{
			bool		suffix = strncmp(tok, "*.", 2) == 0;
			const char *name = suffix ? tok + 1 : tok;

			if (strlen(name) >= sizeof(e->name) || (suffix && strlen(name) < 2))
			{
				GUC_check_errdetail("\"%s\" is not a host name.", tok);
				goto bad;
			}
			for (p = suffix ? name + 1 : name; *p; p++)
				if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
				{
					GUC_check_errdetail("\"%s\" is not a host name.", tok);
					goto bad;
				}
			for (p = name; *p; p++)
				e->name[p - name] = pg_ascii_tolower((unsigned char) *p);
			e->kind = suffix ? HE_SUFFIX : HE_NAME;
		}
		list->n++;
	}
	pfree(copy);
	*extra = list;
	return true;
bad:
	GUC_check_errhint("List host names, *.domain suffixes, addresses or CIDR networks, "
					  "and * for any public address, e.g. '*, 10.0.0.0/8, airflow.internal'.");
	free(list);
	pfree(copy);
	return false;
}

static void
assign_allowed_hosts(const char *newval, void *extra)
{
	allowed_hosts = (HostList *) extra;
}

/*
 * kant.http_proxy: an http:// or https:// proxy URL, host and port only.
 * Credentials are refused: the setting is readable by every role (SHOW), and
 * a proxy that wants them would get every request's anyway.  Returns the
 * proxy's host (malloc'd), or NULL with why filled in.
 */
static char *
parse_proxy(const char *url, char *why, size_t whylen)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	char	   *path = NULL;
	char	   *query = NULL;
	char	   *result = NULL;

	if (u == NULL)
	{
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
		(pg_strcasecmp(scheme, "http") != 0 && pg_strcasecmp(scheme, "https") != 0))
		snprintf(why, whylen, "kant.http_proxy must be an http:// or https:// URL.");
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		snprintf(why, whylen, "kant.http_proxy must not hold credentials (user:password@).");
	else if ((curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) ||
			 curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK)
		snprintf(why, whylen, "kant.http_proxy is a host and a port, without a path.");
	else if ((result = malloc(strlen(host) + 1)) == NULL)	/* GUC extra: malloc */
		snprintf(why, whylen, "out of memory");
	else
		strcpy(result, host);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return result;
}

static bool
check_http_proxy(char **newval, void **extra, GucSource source)
{
	char		why[200];
	char	   *host;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;			/* no proxy: extra stays NULL */
	host = parse_proxy(*newval, why, sizeof(why));
	if (host == NULL)
	{
		GUC_check_errdetail("%s", why);
		GUC_check_errhint("e.g. 'http://proxy.internal:3128'; '' (the default) connects directly.");
		return false;
	}
	*extra = host;
	return true;
}

static void
assign_http_proxy(const char *newval, void *extra)
{
	http_proxy_host = (char *) extra;
}

void
kant_http_define_gucs(void)
{
	DefineCustomIntVariable("kant.http_connect_timeout",
							"Time limit for connecting to an API endpoint.",
							NULL, &kant_http_connect_timeout_ms, 10000, 1, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("kant.http_timeout",
							"Time limit for one HTTP request, connect to last byte.",
							NULL, &kant_http_timeout_ms, 60000, 1, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("kant.http_max_size",
							"Largest response body kant accepts.",
							NULL, &kant_http_max_kb, 65536, 1, 1048576,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("kant.http_max_parallel",
							"Requests in flight at once, per batch (a system may set fewer).",
							NULL, &kant_http_max_parallel, 16, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kant.http_max_retries",
							"Retries of a throttled, failed (5xx) or unreachable request.",
							NULL, &kant_http_max_retries, 4, 0, 20,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kant.http_retry_base",
							"First retry delay; it doubles with each retry, with random jitter.",
							NULL, &kant_http_retry_base_ms, 500, 1, 60000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("kant.http_verify_tls",
							 "Verify TLS certificates and host names (only a superuser may turn it off).",
							 NULL, &kant_http_verify_tls, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("kant.allowed_hosts",
							   "Hosts kant may connect to (only a superuser may change it).",
							   "A list of host names, *.domain suffixes, addresses and CIDR "
							   "networks; * allows any host with a public address. Loopback, "
							   "private and link-local addresses (cloud metadata) are refused "
							   "unless listed.",
							   &kant_allowed_hosts, "*",
							   PGC_SUSET, GUC_LIST_INPUT,
							   check_allowed_hosts, assign_allowed_hosts, NULL);
	DefineCustomStringVariable("kant.http_proxy",
							   "HTTP proxy for every request kant makes; empty: none (only a superuser may change it).",
							   "An http:// or https:// URL.  The server's proxy environment "
							   "variables (http_proxy, https_proxy, ALL_PROXY, no_proxy) are "
							   "never used.  Target hosts are still judged by kant.allowed_hosts, "
							   "and so is the proxy's host.",
							   &kant_http_proxy, "",
							   PGC_SUSET, 0,
							   check_http_proxy, assign_http_proxy, NULL);
}

void
kant_http_default_options(KantHttpOptions *opt)
{
	opt->connect_timeout_ms = kant_http_connect_timeout_ms;
	opt->timeout_ms = kant_http_timeout_ms;
	opt->max_bytes = (int64) kant_http_max_kb * 1024;
	opt->max_parallel = kant_http_max_parallel;
	opt->max_retries = kant_http_max_retries;
	opt->retry_base_ms = kant_http_retry_base_ms;
	opt->retry_cap_ms = 30000;
	opt->verify_tls = kant_http_verify_tls;
	opt->deadline = tick_deadline;
	opt->on_done = NULL;
	opt->on_done_arg = NULL;
}

/* ------------------------------------------------------------ callbacks */

/* Never throws, never pallocs: a full buffer or no memory ends the transfer. */
static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	Transfer   *t = arg;
	size_t		n = size * nmemb;

	if (t->len + n > t->max_bytes)
	{
		t->too_large = true;
		return 0;
	}
	if (t->len + n + 1 > t->cap)
	{
		size_t		cap = Max(Max(t->cap * 2, t->len + n + 1), 16384);
		char	   *b = realloc(t->buf, cap);

		if (b == NULL)
			return 0;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
	return n;
}

static size_t
header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	Transfer   *t = arg;
	size_t		n = size * nmemb;

	if (n > 5 && strncmp(data, "HTTP/", 5) == 0)
		t->retry_after_s = -1;	/* a new response (after 100 Continue, too) */
	else if (n > 12 && pg_strncasecmp(data, "retry-after:", 12) == 0)
	{
		size_t		i = 12;
		long		v = 0;
		bool		digits = false;

		while (i < n && (data[i] == ' ' || data[i] == '\t'))
			i++;
		while (i < n && data[i] >= '0' && data[i] <= '9' && v < 86400)
		{
			v = v * 10 + (data[i++] - '0');
			digits = true;
		}
		/* seconds only; an HTTP-date falls back to our own backoff */
		if (digits)
			t->retry_after_s = v;
	}
	return n;
}

/* Query cancel, statement_timeout and termination abort the transfer. */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/*
 * Every connection curl opens (to the host, or to kant.http_proxy) passes
 * here: an address kant.allowed_hosts refuses gets no socket.  Behind a
 * proxy this judges the proxy only (the target was judged before: see
 * target_allowed).  Plain C, no throw.
 */
static curl_socket_t
open_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	Transfer   *t = arg;
	unsigned char addr[16];
	int			family = a->family;

	if (!t->name_ok)
	{
		if (family == AF_INET)
			memcpy(addr, &((struct sockaddr_in *) &a->addr)->sin_addr, 4);
		else if (family == AF_INET6)
			memcpy(addr, &((struct sockaddr_in6 *) &a->addr)->sin6_addr, 16);
		else
		{
			snprintf(t->blocked_why, sizeof(t->blocked_why),
					 "kant.allowed_hosts allows IP connections only");
			t->blocked = true;
			return CURL_SOCKET_BAD;
		}
		if (!address_allowed(allowed_hosts, family, addr, t->blocked_why, sizeof(t->blocked_why)))
		{
			if (t->proxy)
			{
				char		why[sizeof(t->blocked_why)];

				strlcpy(why, t->blocked_why, sizeof(why));
				snprintf(t->blocked_why, sizeof(t->blocked_why), "the proxy (kant.http_proxy): %s", why);
			}
			t->blocked = true;
			return CURL_SOCKET_BAD;
		}
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* ------------------------------------------------------------- requests */

static void
check_curl(CURLcode rc, const char *what)
{
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("kant: libcurl could not set %s: %s", what, curl_easy_strerror(rc))));
}

/* The URL's host, for messages; only http or https; a host kant may reach. */
static void
parse_url(KantHttpRequest *req, Transfer *t)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		ok;

	if (u == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = curl_url_set(u, CURLUPART_URL, req->url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	if (ok)
	{
		req->host = pstrdup(host);
		ok = pg_strcasecmp(scheme, "http") == 0 || pg_strcasecmp(scheme, "https") == 0;
		if (!ok)
			req->host = psprintf("%s (%s)", req->host, scheme);
	}
	if (scheme)
		curl_free(scheme);
	if (host)
		curl_free(host);
	curl_url_cleanup(u);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kant: not an http or https URL%s%s",
						req->host ? ": host " : "", req->host ? req->host : ""),
				 errhint("Endpoints are http:// or https:// URLs, e.g. https://glue.ap-northeast-1.amazonaws.com.")));
	if (req->metadata)
		t->name_ok = true;		/* set by a superuser, not a system's owner: see http.h */
	else
	{
		char		why[200];

		if (!kant_http_host_allowed(req->host, why, sizeof(why)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("kant: %s", why),
					 errhint("A superuser decides which hosts kant may reach: "
							 "ALTER SYSTEM SET kant.allowed_hosts = '%s'; SELECT pg_reload_conf();",
							 hosts_with(req->host))));
		t->name_ok = name_listed(allowed_hosts, req->host);
	}
}

static void
start(Transfer *t, CURLM *multi, const KantHttpOptions *opt)
{
	KantHttpRequest *req = t->req;
	CURL	   *e = curl_easy_init();
	ListCell   *lc;

	if (e == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("kant: curl_easy_init failed")));
	t->easy = e;
	t->len = 0;
	t->too_large = false;
	t->retry_after_s = -1;
	t->blocked = false;
	t->errbuf[0] = '\0';
	foreach(lc, req->headers)
	{
		struct curl_slist *h = curl_slist_append(t->hdrs, (char *) lfirst(lc));

		if (h == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		t->hdrs = h;
	}
	check_curl(curl_easy_setopt(e, CURLOPT_URL, req->url), "URL");
	check_curl(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"), "protocols");
	check_curl(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L), "redirects");
	check_curl(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L), "no signals");
	{
		long		connect_ms = opt->connect_timeout_ms;
		long		total_ms = opt->timeout_ms;

		/* no attempt runs past the deadline (the caller checked it is ahead) */
		t->capped = false;
		if (opt->deadline != 0)
		{
			long		left = (long) ((opt->deadline - GetCurrentTimestamp()) / 1000);

			left = Max(left, 1);
			if (left < total_ms)
			{
				total_ms = left;
				t->capped = true;
			}
			connect_ms = Min(connect_ms, left);
		}
		check_curl(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms), "connect timeout");
		check_curl(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms), "timeout");
	}
	check_curl(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, opt->verify_tls ? 1L : 0L), "TLS verification");
	check_curl(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, opt->verify_tls ? 2L : 0L), "TLS host check");
	check_curl(curl_easy_setopt(e, CURLOPT_USERAGENT, "kant (PostgreSQL extension)"), "user agent");
	check_curl(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb), "write callback");
	check_curl(curl_easy_setopt(e, CURLOPT_WRITEDATA, t), "write data");
	check_curl(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb), "header callback");
	check_curl(curl_easy_setopt(e, CURLOPT_HEADERDATA, t), "header data");
	check_curl(curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb), "progress callback");
	check_curl(curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L), "progress");
	check_curl(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf), "error buffer");
	check_curl(curl_easy_setopt(e, CURLOPT_PRIVATE, t), "private");
	check_curl(curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb), "socket callback");
	check_curl(curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t), "socket data");

	/*
	 * Only kant.http_proxy says whether a proxy is used, never the server's
	 * environment (http_proxy, https_proxy, ALL_PROXY, no_proxy, which
	 * libcurl reads by default): a proxy there would get every request,
	 * credentials and all, and kant.allowed_hosts would judge only the
	 * proxy.  CURLOPT_PROXY(3): "Setting the proxy string to "" (an empty
	 * string) explicitly disables the use of a proxy, even if there is an
	 * environment variable set for it."  CURLOPT_NOPROXY(3): "Setting the
	 * noproxy string to "" (an empty string) explicitly enables the proxy for
	 * all host names, even if there is an environment variable set for it."
	 */
	check_curl(curl_easy_setopt(e, CURLOPT_PROXY, t->proxy ? t->proxy : ""), "proxy");
	check_curl(curl_easy_setopt(e, CURLOPT_NOPROXY, ""), "proxy exceptions");
	if (t->proxy)
	{
		check_curl(curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, opt->verify_tls ? 1L : 0L), "proxy TLS verification");
		check_curl(curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, opt->verify_tls ? 2L : 0L), "proxy TLS host check");
	}
	if (t->hdrs)
		check_curl(curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdrs), "headers");
	if (req->userpwd)
	{
		check_curl(curl_easy_setopt(e, CURLOPT_USERPWD, req->userpwd), "credentials");
		if (req->basic_auth)
			check_curl(curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC), "basic auth");
	}
	if (req->aws_sigv4)
		check_curl(curl_easy_setopt(e, CURLOPT_AWS_SIGV4, req->aws_sigv4), "SigV4");
	if (req->method && strcmp(req->method, "PUT") == 0)
		check_curl(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT"), "method");
	if (req->method && (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0))
	{
		/* curl copies the body: no palloc'd memory is left with it */
		check_curl(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
									(curl_off_t) (req->body ? req->body_len : 0)), "body size");
		check_curl(curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : ""), "body");
	}
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
		ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("kant: curl_multi_add_handle failed")));
	t->active = true;
	req->attempts++;
}

/*
 * Behind kant.http_proxy: may the proxy be asked for this host?  The socket
 * goes to the proxy, so open_cb never sees the target's address; the target
 * is judged here, before any request, by the addresses the name resolves to
 * for kant, every one of them (the proxy may pick any).  A name that does not
 * resolve here is refused: kant cannot tell where the proxy would go.  A
 * literal address was judged by parse_url, a name listed by name needs no
 * address.  Plain C: it fills why and returns.
 */
static bool
target_allowed(const char *host, char *why, size_t whylen)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	int			rc;
	bool		ok = true;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
	{
		snprintf(why, whylen, "kant.allowed_hosts cannot judge %s behind kant.http_proxy: "
				 "it does not resolve here (%s)", host, gai_strerror(rc));
		return false;
	}
	for (ai = res; ai && ok; ai = ai->ai_next)
	{
		if (ai->ai_family == AF_INET)
			ok = address_allowed(allowed_hosts, AF_INET,
								 (unsigned char *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr,
								 why, whylen);
		else if (ai->ai_family == AF_INET6)
			ok = address_allowed(allowed_hosts, AF_INET6,
								 (unsigned char *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr,
								 why, whylen);
	}
	freeaddrinfo(res);
	return ok;
}

/* A request refused before any connection: its outcome, as a blocked one's. */
static void
refuse(Transfer *t, const KantHttpOptions *opt)
{
	KantHttpRequest *req = t->req;

	req->curl_code = CURLE_COULDNT_CONNECT;
	req->status = 0;
	req->too_large = false;
	req->retry_after_s = -1;
	req->blocked = true;
	strlcpy(req->error, t->blocked_why, sizeof(req->error));
	req->response = palloc0(1);
	req->response_len = 0;
	t->done = true;
	if (opt->on_done)
		opt->on_done(req, opt->on_done_arg);
}

/* Free what one attempt holds; safe to call twice. */
static void
release(Transfer *t, CURLM *multi)
{
	if (t->easy)
	{
		if (multi && t->active)
			curl_multi_remove_handle(multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	t->active = false;
	if (t->hdrs)
	{
		curl_slist_free_all(t->hdrs);
		t->hdrs = NULL;
	}
}

bool
kant_http_default_retry(KantHttpRequest *req)
{
	switch (req->curl_code)
	{
		case CURLE_OK:
			return req->status == 429 || req->status == 500 || req->status == 502 ||
				req->status == 503 || req->status == 504;
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_COULDNT_RESOLVE_HOST:
			return true;
		default:
			return false;
	}
}

/* Did the request fail before it could reach the server (nothing sent)? */
bool
kant_http_unsent(KantHttpRequest *req)
{
	return req->curl_code == CURLE_COULDNT_CONNECT || req->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
		req->curl_code == CURLE_COULDNT_RESOLVE_PROXY;
}

/* The attempt ended: keep its outcome, and schedule a retry or finish. */
static void
finish(Transfer *t, CURLcode code, CURLM *multi, const KantHttpOptions *opt,
	   KantHttpRetryCheck retry_check, void *retry_arg, MemoryContext cxt)
{
	KantHttpRequest *req = t->req;
	long		status = 0;
	bool		retry;

	if (code == CURLE_ABORTED_BY_CALLBACK)
		CHECK_FOR_INTERRUPTS();		/* the real SQLSTATE: cancel, timeout, terminate */
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	release(t, multi);

	req->curl_code = code;
	req->status = code == CURLE_OK ? status : 0;
	req->too_large = t->too_large;
	req->retry_after_s = code == CURLE_OK ? t->retry_after_s : -1;
	req->blocked = code != CURLE_OK && t->blocked;
	strlcpy(req->error, req->blocked ? t->blocked_why :
			t->errbuf[0] ? t->errbuf : curl_easy_strerror(code), sizeof(req->error));
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		req->response = palloc(t->len + 1);
		if (t->len > 0)
			memcpy(req->response, t->buf, t->len);
		req->response[t->len] = '\0';
		req->response_len = t->len;
		MemoryContextSwitchTo(old);
	}

	retry = !t->too_large && !req->blocked && req->attempts <= opt->max_retries &&
		(retry_check ? retry_check(req, retry_arg) : kant_http_default_retry(req));
	/* an attempt the deadline cut short is not tried again */
	if (code == CURLE_OPERATION_TIMEDOUT && t->capped)
	{
		req->deadline_cut = true;
		retry = false;
	}
	if (retry)
	{
		/* exponential backoff with jitter; a Retry-After the server sent wins */
		double		delay = Min((double) opt->retry_cap_ms,
								(double) opt->retry_base_ms * pow(2.0, req->attempts - 1));

		delay = delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2;
		if (t->retry_after_s >= 0)
			delay = Max(delay, Min(t->retry_after_s, 300) * 1000.0);
		t->not_before = GetCurrentTimestamp() + (TimestampTz) (delay * 1000);
		/* a wait that would end at or past the deadline is not waited */
		if (opt->deadline != 0 && t->not_before >= opt->deadline)
		{
			req->deadline_cut = true;
			retry = false;
		}
		else
			req->retries_waited_ms += (int) delay;
	}
	if (!retry)
	{
		t->done = true;
		/* the reply is in req->response now: a long batch holds no other copy */
		free(t->buf);
		t->buf = NULL;
		t->cap = 0;
		/* let the caller use it while the other transfers go on */
		if (opt->on_done)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			opt->on_done(req, opt->on_done_arg);
			MemoryContextSwitchTo(old);
		}
		return;
	}
}

/*
 * The deadline came before the request's next attempt started: it ends with
 * the outcome of its last attempt, or, never sent, as a timeout.
 */
static void
cut_by_deadline(Transfer *t, const KantHttpOptions *opt, MemoryContext cxt)
{
	KantHttpRequest *req = t->req;

	req->deadline_cut = true;
	if (req->attempts == 0)
	{
		req->curl_code = CURLE_OPERATION_TIMEDOUT;
		req->status = 0;
		req->too_large = false;
		req->retry_after_s = -1;
		strlcpy(req->error, "the deadline passed before the request was sent", sizeof(req->error));
		req->response = MemoryContextAllocZero(cxt, 1);
		req->response_len = 0;
	}
	t->done = true;
	free(t->buf);
	t->buf = NULL;
	t->cap = 0;
	if (opt->on_done)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		opt->on_done(req, opt->on_done_arg);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Run a batch: at most max_parallel transfers at once, retries as they come
 * due.  Returns when every request has its final outcome; throws only for
 * cancel/timeout/termination or on setup failure, always after freeing
 * every curl object.
 */
void
kant_http_perform(KantHttpRequest **reqs, int n, const KantHttpOptions *opt,
				  KantHttpRetryCheck retry_check, void *retry_arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	Transfer   *ts = palloc0(sizeof(Transfer) * Max(n, 1));
	CURLM	   *volatile multi = NULL;
	char	   *proxy = NULL;
	bool		proxy_listed = false;
	const char *judged = NULL;	/* the last target judged behind the proxy */
	bool		judged_ok = false;
	char		judged_why[sizeof(ts[0].blocked_why)];
	int			left = n;
	int			i;

	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("kant: curl_global_init failed")));
		curl_ready = true;
	}
	/* the proxy of this batch, judged like any host, before any request */
	if (http_proxy_host != NULL && kant_http_proxy != NULL && kant_http_proxy[0] != '\0')
	{
		char		why[200];

		proxy = pstrdup(kant_http_proxy);
		if (!kant_http_host_allowed(http_proxy_host, why, sizeof(why)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("kant: the proxy (kant.http_proxy): %s", why),
					 errhint("A superuser decides which hosts kant may reach: "
							 "ALTER SYSTEM SET kant.allowed_hosts = '%s'; SELECT pg_reload_conf();",
							 hosts_with(http_proxy_host))));
		proxy_listed = name_listed(allowed_hosts, http_proxy_host);
	}
	for (i = 0; i < n; i++)
	{
		parse_url(reqs[i], &ts[i]);
		reqs[i]->attempts = 0;
		reqs[i]->retries_waited_ms = 0;
		reqs[i]->deadline_cut = false;
		ts[i].req = reqs[i];
		ts[i].max_bytes = (size_t) opt->max_bytes;
	}
	if (proxy)
	{
		for (i = 0; i < n; i++)
		{
			int			family;
			unsigned char a[16];
			const char *host = reqs[i]->host;

			if (reqs[i]->metadata)
				continue;		/* directly: a proxy cannot reach a link-local address */
			ts[i].proxy = proxy;
			if (!ts[i].name_ok && !parse_ip(host, &family, a))
			{
				/* a batch mostly goes to one host: resolve it once */
				if (judged == NULL || pg_strcasecmp(judged, host) != 0)
				{
					judged_ok = target_allowed(host, judged_why, sizeof(judged_why));
					judged = host;
				}
				if (!judged_ok)
					strlcpy(ts[i].blocked_why, judged_why, sizeof(ts[i].blocked_why));
				ts[i].blocked = !judged_ok;
			}
			/* what connects is the proxy: open_cb judges its address */
			ts[i].name_ok = proxy_listed;
		}
		for (i = 0; i < n; i++)
			if (ts[i].blocked)
			{
				refuse(&ts[i], opt);
				left--;
			}
	}

	PG_TRY();
	{
		multi = curl_multi_init();
		if (multi == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("kant: curl_multi_init failed")));
		while (left > 0)
		{
			TimestampTz now = GetCurrentTimestamp();
			TimestampTz next = 0;
			int			active = 0,
						running,
						queued,
						wait_ms = 100;
			bool		finished;
			CURLMsg    *msg;

			CHECK_FOR_INTERRUPTS();
			for (i = 0; i < n; i++)
				active += ts[i].active;
			for (i = 0; i < n && active < opt->max_parallel; i++)
			{
				if (ts[i].done || ts[i].active)
					continue;
				if (ts[i].not_before > now)
				{
					if (next == 0 || ts[i].not_before < next)
						next = ts[i].not_before;
					continue;
				}
				if (opt->deadline != 0 && now >= opt->deadline)
				{
					cut_by_deadline(&ts[i], opt, cxt);
					left--;
					continue;
				}
				start(&ts[i], multi, opt);
				active++;
			}
			if (left == 0)
				break;
			if (curl_multi_perform(multi, &running) != CURLM_OK)
				ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("kant: curl_multi_perform failed")));
			finished = false;
			while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
			{
				Transfer   *t = NULL;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
				finish(t, msg->data.result, multi, opt, retry_check, retry_arg, cxt);
				finished = true;
				if (t->done)
					left--;
			}
			if (left == 0)
				break;
			/* a slot came free: start the next transfer now, not after a poll */
			if (finished)
				continue;
			if (active == 0 && next > now)
				wait_ms = (int) Min(100, (next - now) / 1000 + 1);
			else
			{
				/* curl may want to be called back before any socket is ready */
				long		curl_ms = -1;

				curl_multi_timeout(multi, &curl_ms);
				if (curl_ms >= 0 && curl_ms < wait_ms)
					wait_ms = (int) curl_ms;
			}
			curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
		}
	}
	PG_FINALLY();
	{
		for (i = 0; i < n; i++)
		{
			release(&ts[i], multi);
			free(ts[i].buf);
			ts[i].buf = NULL;
		}
		if (multi)
			curl_multi_cleanup(multi);
	}
	PG_END_TRY();
	pfree(ts);
}

bool
kant_http_failed(KantHttpRequest *req)
{
	return req->too_large || req->curl_code != CURLE_OK || req->status >= 400 || req->status == 0;
}

/* Report a failed request: the host, never the URL's credentials or query. */
void
kant_http_raise(KantHttpRequest *req, const char *what)
{
	char	   *tries = req->attempts > 1 ?
		psprintf(" (after %d attempts)", req->attempts) : "";

	if (req->blocked)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("kant: %s: %s: %s", what, req->host, req->error),
				 errhint("A superuser decides which hosts kant may reach (kant.allowed_hosts).")));
	if (req->deadline_cut && (req->curl_code != CURLE_OK || req->status == 0))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("kant: %s: %s: the tick's deadline passed%s", what, req->host, tries),
				 errdetail("%s", req->error),
				 errhint("kant.tick() keeps every request inside its deadline; the next tick tries again.")));
	if (req->too_large)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("kant: %s: the response from %s is larger than kant.http_max_size (%d kB)",
						what, req->host, kant_http_max_kb),
				 errhint("Raise kant.http_max_size, or ask for smaller pages.")));
	if (req->curl_code == CURLE_OPERATION_TIMEDOUT)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("kant: %s: %s timed out%s", what, req->host, tries),
				 errdetail("%s", req->error),
				 errhint("See kant.http_connect_timeout and kant.http_timeout.")));
	if (req->curl_code != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("kant: %s: could not reach %s%s", what, req->host, tries),
				 errdetail("%s", req->error)));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("kant: %s: %s answered HTTP %ld%s", what, req->host, req->status, tries),
			 req->response_len > 0 ?
			 errdetail("%.*s", (int) Min(req->response_len, 500), req->response) : 0));
}

/* ------------------------------------------------------------- deadline */

static void
deadline_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			tick_deadline = 0;
			break;
		default:
			break;
	}
}

/* The deadline of the tick in progress, 0: none. */
TimestampTz
kant_http_deadline(void)
{
	return tick_deadline;
}

/*
 * kant._http_deadline(deadline): from now until the transaction ends (or
 * the next call), no request kant makes starts, waits for a retry or runs
 * at or past the deadline; NULL: none.  kant.tick() keeps a minute's work
 * inside the minute with it (pg_cron 1.4 queues a job still running at its
 * next minute).
 */
PG_FUNCTION_INFO_V1(kant_http_set_deadline);
Datum
kant_http_set_deadline(PG_FUNCTION_ARGS)
{
	if (!deadline_callback)
	{
		RegisterXactCallback(deadline_xact_callback, NULL);
		deadline_callback = true;
	}
	tick_deadline = PG_ARGISNULL(0) ? 0 : PG_GETARG_TIMESTAMPTZ(0);
	/* 0 means none: a deadline at the epoch is past anyway */
	if (!PG_ARGISNULL(0) && tick_deadline == 0)
		tick_deadline = 1;
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------ SQL */

/*
 * kant._check_url(url, what): raise unless url is an http(s) URL whose host
 * kant.allowed_hosts lets kant reach (a name is judged by its address when
 * used).  Messages name the host only: a webhook URL is a secret.
 */
PG_FUNCTION_INFO_V1(kant_check_url);
Datum
kant_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *h = NULL;
	bool		ok;
	char		why[200];

	if (u == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		(pg_strcasecmp(scheme, "http") == 0 || pg_strcasecmp(scheme, "https") == 0);
	if (ok)
		h = pstrdup(host);
	if (scheme)
		curl_free(scheme);
	if (host)
		curl_free(host);
	curl_url_cleanup(u);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the %s is not an http or https URL", what),
				 errhint("e.g. https://glue.ap-northeast-1.amazonaws.com, https://composer.example.com/airflow or https://hooks.slack.com/services/...")));
	if (!kant_http_host_allowed(h, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("kant: the %s: %s", what, why),
				 errhint("A superuser decides which hosts kant may reach: "
						 "ALTER SYSTEM SET kant.allowed_hosts = '%s'; SELECT pg_reload_conf();",
						 hosts_with(h))));
	PG_RETURN_VOID();
}

/* kant.http_get(url): the body of a GET, or an error. */
PG_FUNCTION_INFO_V1(kant_http_get);
Datum
kant_http_get(PG_FUNCTION_ARGS)
{
	KantHttpRequest req;
	KantHttpRequest *r = &req;
	KantHttpOptions opt;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	kant_http_default_options(&opt);
	kant_http_perform(&r, 1, &opt, NULL, NULL);
	if (kant_http_failed(&req))
		kant_http_raise(&req, "GET");
	PG_RETURN_TEXT_P(cstring_to_text_with_len(req.response, req.response_len));
}

/*
 * kant.http_fetch(urls, max_parallel): GET many URLs at once; one row each
 * with its outcome (errors as text, not thrown).
 */
PG_FUNCTION_INFO_V1(kant_http_fetch);
Datum
kant_http_fetch(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KantHttpOptions opt;
	Datum	   *urls;
	bool	   *nulls;
	int			n,
				i;
	KantHttpRequest **reqs;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("urls must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	kant_http_default_options(&opt);
	if (!PG_ARGISNULL(1))
	{
		if (PG_GETARG_INT32(1) < 1 || PG_GETARG_INT32(1) > 64)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_parallel must be between 1 and 64")));
		opt.max_parallel = PG_GETARG_INT32(1);
	}
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &urls, &nulls, &n);
	reqs = palloc(sizeof(KantHttpRequest *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("urls must not contain NULL")));
		reqs[i] = palloc0(sizeof(KantHttpRequest));
		reqs[i]->method = "GET";
		reqs[i]->url = TextDatumGetCString(urls[i]);
	}
	kant_http_perform(reqs, n, &opt, NULL, NULL);

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		KantHttpRequest *r = reqs[i];
		Datum		v[6];
		bool		isnull[6] = {false, false, false, false, false, false};
		char	   *error = NULL;

		if (r->too_large)
			error = psprintf("response larger than kant.http_max_size (%d kB)", kant_http_max_kb);
		else if (r->curl_code != CURLE_OK)
			error = psprintf("%s", r->error);
		v[0] = urls[i];
		v[1] = Int32GetDatum((int32) r->status);
		isnull[1] = r->status == 0;
		v[2] = Int32GetDatum(r->attempts);
		v[3] = Int32GetDatum(r->retries_waited_ms);
		v[4] = PointerGetDatum(cstring_to_text_with_len(r->response, r->response_len));
		isnull[4] = error != NULL;
		v[5] = error ? CStringGetTextDatum(error) : (Datum) 0;
		isnull[5] = error == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, isnull);
	}
	return (Datum) 0;
}
