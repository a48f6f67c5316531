/*
 * names.c
 *	  The rule for names and ids kant stores, in one place: what a system or
 *	  job name and a run's id may be, and the message that says so.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "kant.h"

/*
 * Names and ids as kant stores them.  kant.system.name and kant.job.name
 * are keys people type and read: not empty, at most 1000 bytes (the CHECKs
 * count characters; bytes also bound the btree entries), no white space at
 * either end, no control characters.  Inside a job name a TAB is accepted:
 * Glue's job name pattern allows it.  Ids (a run's external id, Glue's
 * PreviousRunId) sit in btree indexes too: not empty, at most 1000 bytes,
 * no control characters.
 */
const char *
name_problem(const char *s, int len, NameKind kind, int *sqlstate)
{
	const unsigned char *p = (const unsigned char *) s;
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	int			i;

	*sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
	if (len == 0)
		return "is empty";
	if (len > KANT_MAX_NAME_BYTES)
	{
		*sqlstate = ERRCODE_STRING_DATA_RIGHT_TRUNCATION;
		return psprintf("is %d bytes long; kant accepts at most %d", len, KANT_MAX_NAME_BYTES);
	}
	for (i = 0; i < len; i++)
	{
		bool		c1 = utf8 && p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 &&
			p[i + 1] <= 0x9F;

		if (p[i] < 0x20 || p[i] == 0x7F || c1)
		{
			if (p[i] == '\t' && kind == NAME_JOB && i > 0 && i < len - 1)
				continue;
			*sqlstate = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
			return psprintf("has the control character U+%04X at byte %d",
							c1 ? p[i + 1] : p[i], i + 1);
		}
	}
	if (kind != NAME_ID && (p[0] == ' ' || p[len - 1] == ' '))
		return "begins or ends with white space";
	return NULL;
}

const char *
name_rule_hint(NameKind kind)
{
	switch (kind)
	{
		case NAME_SYSTEM:
			return "A system name (or the OpenLineage job namespace naming one) is 1 to 1000 "
				"bytes with no control characters and no white space at either end.";
		case NAME_JOB:
			return "A job name is 1 to 1000 bytes with no control characters other than TAB "
				"and no white space at either end.";
		case NAME_ID:
			return "An id is 1 to 1000 bytes with no control characters.";
	}
	return NULL;
}

bool
name_check(const char *s, NameKind kind, const char *field, const char *key,
		   RecordError *err)
{
	int			sqlstate;
	const char *why;

	if (s == NULL)
		return true;
	why = name_problem(s, strlen(s), kind, &sqlstate);
	if (why == NULL)
		return true;
	json_fail(err, sqlstate, field, name_rule_hint(kind), "field \"%s\" %s", key, why);
	return false;
}

/* The system argument of an ingestion function: the same rule, as an ERROR. */
void
name_check_system_argument(const char *name)
{
	int			sqlstate;
	const char *why = name_problem(name, strlen(name), NAME_SYSTEM, &sqlstate);

	if (why != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("system name %s", why),
				 errhint("%s", name_rule_hint(NAME_SYSTEM))));
}

