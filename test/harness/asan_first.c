/*
 * asan_first.c
 *	  Preloaded after libasan into the server of `make sanitize`.
 *
 * An uninstrumented postgres starts ASan lazily, at its first intercepted
 * call.  libgpg-error's constructor runs before libasan's own and calls
 * bindtextdomain(), whose malloc() becomes that first call while glibc
 * holds gettext's lock; ASan's start-up then calls dlerror(), which takes
 * the same lock, and the lock is left corrupt: postgres hangs in its own
 * bindtextdomain() later.  Starting ASan here, before the lock is taken,
 * avoids it.
 *
 * gcc's UBSan runtime starts at its first report and reads UBSAN_OPTIONS
 * from /proc/self/environ, which postgres has overwritten with its process
 * title by then: the options are kept here, at load time, and handed over
 * through __ubsan_default_options(), which the runtime asks for.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

char	   *bindtextdomain(const char *domainname, const char *dirname);
const char *__ubsan_default_options(void);

static char ubsan_options[1024];

__attribute__((constructor))
static void
keep_options(void)
{
	const char *o = getenv("UBSAN_OPTIONS");

	if (o)
		strncpy(ubsan_options, o, sizeof(ubsan_options) - 1);
}

const char *
__ubsan_default_options(void)
{
	return ubsan_options;
}

char *
bindtextdomain(const char *domainname, const char *dirname)
{
	static char *(*real) (const char *, const char *);

	if (real == NULL)
	{
		void	   *volatile p = malloc(1);	/* ASan starts here, outside the lock */

		free(p);
		real = (char *(*) (const char *, const char *)) dlsym(RTLD_NEXT, "bindtextdomain");
	}
	return real(domainname, dirname);
}
