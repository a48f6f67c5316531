/*
 * secrets.c
 *	  Where collector credentials and webhook URLs come from: stored as
 *	  given, or read when used from an environment variable of the server or
 *	  from a file in kant.secret_directory, so that a secret need never pass
 *	  through SQL text (server log, pg_stat_activity, a client's history).
 *
 * The environment and the files are the server's: a role that may point kant
 * at them must not read arbitrary ones.  Environment variables are limited to
 * the prefixes in kant.allowed_env_prefixes (default KANT_), files to plain
 * names inside kant.secret_directory (default: none); only a superuser sets
 * either.  No message ever contains a secret's value.
 */
#include "kant.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#define SECRET_MAX_BYTES	65536

char	   *kant_allowed_env_prefixes = NULL;
char	   *kant_secret_directory = NULL;

void
kant_secrets_define_gucs(void)
{
	DefineCustomStringVariable("kant.allowed_env_prefixes",
							   "Prefixes of the server's environment variables kant may read secrets from.",
							   "A comma-separated list, e.g. 'KANT_, AWS_'; only a superuser may change it.",
							   &kant_allowed_env_prefixes, "KANT_",
							   PGC_SUSET, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomStringVariable("kant.secret_directory",
							   "Directory of the files kant may read secrets from (empty: none).",
							   "kant.set_credentials(..., from_file => true) and "
							   "kant.set_channel(..., from_file => true) name files in it; only a "
							   "superuser may change it.",
							   &kant_secret_directory, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
}

/* Is an environment variable name one kant may read? */
static bool
env_allowed(const char *name)
{
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;
	bool		ok = false;
	const char *p;

	if (name == NULL || name[0] == '\0')
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9' && p > name) || *p == '_'))
			return false;
	copy = pstrdup(kant_allowed_env_prefixes ? kant_allowed_env_prefixes : "");
	for (tok = strtok_r(copy, ", \t", &save); tok && !ok; tok = strtok_r(NULL, ", \t", &save))
		ok = strncmp(name, tok, strlen(tok)) == 0;
	pfree(copy);
	return ok;
}

/* Is a file name one kant may read in kant.secret_directory? */
static bool
file_name_ok(const char *name)
{
	const char *p;

	if (name == NULL || name[0] == '\0' || name[0] == '.' || strlen(name) > 255)
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* Why a reference may not be read (NULL: it may), with its SQLSTATE and hint. */
static const char *
reference_problem(const char *name, char source, const char *what, int *code, char **hint)
{
	if (source == 'e' && !env_allowed(name))
	{
		*code = ERRCODE_INSUFFICIENT_PRIVILEGE;
		*hint = psprintf("kant reads secrets only from environment variables whose names start "
						 "with one of: %s (kant.allowed_env_prefixes, set by a superuser).",
						 kant_allowed_env_prefixes && *kant_allowed_env_prefixes ?
						 kant_allowed_env_prefixes : "(none)");
		return psprintf("kant may not read environment variable \"%s\" for the %s",
						name ? name : "", what);
	}
	if (source == 'f' && (kant_secret_directory == NULL || kant_secret_directory[0] == '\0'))
	{
		*code = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		*hint = pstrdup("A superuser chooses the directory kant may read secret files from: "
						"ALTER SYSTEM SET kant.secret_directory = '/etc/postgresql/kant'; "
						"SELECT pg_reload_conf();");
		return psprintf("kant.secret_directory is not set: the %s cannot come from a file", what);
	}
	if (source == 'f' && !file_name_ok(name))
	{
		*code = ERRCODE_INVALID_PARAMETER_VALUE;
		*hint = pstrdup("Give the name of a file directly in kant.secret_directory: letters, "
						"digits, _ - . and not starting with a dot.");
		return psprintf("\"%s\" is not a file name kant may read for the %s", name ? name : "", what);
	}
	return NULL;
}

/*
 * Check a secret's reference when it is set: the name is one kant may read
 * (the value is read when used, so a rotated one is picked up).
 */
void
kant_secret_check(const char *name, char source, const char *what)
{
	int			code;
	char	   *hint;
	const char *why = reference_problem(name, source, what, &code, &hint);

	if (why)
		ereport(ERROR, (errcode(code), errmsg("%s", why), errhint("%s", hint)));
}

/* The contents of a secret file, without a final newline; NULL and *why on failure. */
static char *
read_secret_file(const char *name, const char *what, const char *system, char **why)
{
	char	   *path = psprintf("%s/%s", kant_secret_directory, name);
	char	   *buf = palloc(SECRET_MAX_BYTES + 1);
	/* O_NONBLOCK: a FIFO put there would otherwise block open() beyond any cancel */
	int			fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | PG_BINARY, 0);
	ssize_t		len = 0;
	ssize_t		r = 0;

	struct stat st;

	if (fd < 0)
	{
		int			err = errno;

		*why = psprintf("kant: the %s of system \"%s\" is to come from secret file \"%s\" (in %s), which the server (uid %u) cannot read: %s%s",
						what, system, name, kant_secret_directory, (unsigned) geteuid(), strerror(err),
						err == EACCES ? " (give it to the server's user, mode 0600, or to root with the server's group, mode 0640)" : "");
		return NULL;
	}

	/*
	 * PostgreSQL's rule for ssl_key_file (be-secure-common.c,
	 * check_ssl_key_file): owned by the server's user with no group or world
	 * access, or by root with at most group read.  A secret others can read
	 * is no longer one, and kant will not be the one that uses it.
	 */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		*why = psprintf("kant: secret file \"%s\" for the %s of system \"%s\" is not a regular file",
						name, what, system);
		return NULL;
	}
	if (st.st_uid == geteuid() ? (st.st_mode & (S_IRWXG | S_IRWXO)) != 0 :
		st.st_uid == 0 ? (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0 : true)
	{
		close(fd);
		*why = psprintf("kant: secret file \"%s\" for the %s of system \"%s\" is readable by others (mode %04o, owner uid %u): "
						"make it mode 0600 owned by the server's user, or 0640 owned by root, as PostgreSQL asks of ssl_key_file",
						name, what, system, (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid);
		return NULL;
	}
	while (len <= SECRET_MAX_BYTES &&
		   (r = read(fd, buf + len, SECRET_MAX_BYTES + 1 - len)) > 0)
		len += r;
	close(fd);
	if (r < 0)
		*why = psprintf("kant: could not read secret file \"%s\": %s", name, strerror(errno));
	else if (len > SECRET_MAX_BYTES)
		*why = psprintf("kant: secret file \"%s\" is larger than %d bytes", name, SECRET_MAX_BYTES);
	else
	{
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		buf[len] = '\0';
		if (len > 0 && strlen(buf) == (size_t) len && pg_verifymbstr(buf, (int) len, true))
			return buf;
		*why = psprintf("kant: secret file \"%s\" for the %s of system \"%s\" is empty or not text",
						name, what, system);
	}
	return NULL;
}

/*
 * A secret's value when it is used: as stored (source 'l'), from the
 * server's environment ('e') or from a secret file ('f'), whose names are
 * checked again now (the settings may have changed since they were set).
 * Never throws: NULL and *why (with its SQLSTATE in *code) when it cannot.
 */
char *
kant_secret_lookup(const char *stored, char source, const char *what, const char *system,
				   char **why, int *code)
{
	const char *v;
	char	   *hint;

	*why = NULL;
	*code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (stored == NULL || source == 'l')
		return stored ? pstrdup(stored) : NULL;
	if ((*why = (char *) reference_problem(stored, source, what, code, &hint)) != NULL)
		return NULL;
	*code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (source == 'f')
		return read_secret_file(stored, what, system, why);
	v = getenv(stored);
	if (v == NULL || *v == '\0')
	{
		*why = psprintf("kant: the %s of system \"%s\" is to come from environment variable %s, which the server does not have",
						what, system, stored);
		return NULL;
	}
	return pstrdup(v);
}

/* The same, raising the error. */
char *
kant_secret_value(const char *stored, char source, const char *what, const char *system)
{
	char	   *why;
	int			code;
	char	   *v = kant_secret_lookup(stored, source, what, system, &why, &code);

	if (why)
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s", why),
				 errhint("Secrets come from the server's environment (kant.allowed_env_prefixes), "
						 "a file in kant.secret_directory, or kant.set_credentials() / kant.set_channel().")));
	return v;
}

/*
 * kant._secret_check(name, source, what): the check of kant_secret_check for
 * the configuration functions (source 'env' or 'file').
 */
PG_FUNCTION_INFO_V1(kant_secret_check_sql);
Datum
kant_secret_check_sql(PG_FUNCTION_ARGS)
{
	char	   *name = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *source = PG_ARGISNULL(1) ? "env" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *what = PG_ARGISNULL(2) ? "secret" : text_to_cstring(PG_GETARG_TEXT_PP(2));

	kant_secret_check(name, strcmp(source, "file") == 0 ? 'f' : 'e', what);
	PG_RETURN_VOID();
}

/*
 * kant._secret_probe(name, what, system): why the secret file could not be
 * read now (missing, readable by others, empty), or NULL when it can: the
 * configuration functions warn at once rather than at the first collection.
 * The contents are wiped and never returned.
 */
PG_FUNCTION_INFO_V1(kant_secret_probe_sql);
Datum
kant_secret_probe_sql(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *system = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *why;
	int			code;
	char	   *v = kant_secret_lookup(name, 'f', what, system, &why, &code);

	if (v)
	{
		explicit_bzero(v, strlen(v));
		pfree(v);
	}
	if (why)
		PG_RETURN_TEXT_P(cstring_to_text(why));
	PG_RETURN_NULL();
}

/*
 * kant._raise_quietly(sqlstate, message, detail, hint): re-raise an error of a
 * function whose arguments hold a secret without the statement in the server
 * log (errhidestmt): log_min_error_statement would write the call, secret and
 * all, next to the error.
 */
PG_FUNCTION_INFO_V1(kant_raise_quietly);
Datum
kant_raise_quietly(PG_FUNCTION_ARGS)
{
	char	   *state = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *message = PG_ARGISNULL(1) ? "error" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *detail = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *hint = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	int			code = ERRCODE_RAISE_EXCEPTION;

	/* a well-formed SQLSTATE (five digits or upper-case letters), else P0001 */
	if (strlen(state) == 5 && strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5)
		code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s", message),
			 detail ? errdetail("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 errhidestmt(true),
			 errhidecontext(true)));
	PG_RETURN_VOID();
}
