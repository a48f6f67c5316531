/*
 * quality.c
 *	  Measurements kant takes itself: a user's query, parameterised by the
 *	  business date, run as the role that defined it.
 *
 * kant.run_measurements() is SECURITY DEFINER (it stores metrics); the query
 * must not run with the extension owner's rights.  It runs as the role that
 * defined the measurement (kant.dq_measure.owner), under
 * SECURITY_RESTRICTED_OPERATION and read-only, with a search_path of the
 * catalog only -- as PostgreSQL runs an index expression as the table's
 * owner and kant runs a gate's condition (gate.c).  A foreign table is read
 * through the owner's user mapping.  Its timeout is the statement-timeout
 * timer, set for the query alone: the query's cancel is reported as the
 * measurement's own error, a cancel from outside stays a cancel.
 */
#include "kant.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

/*
 * kant._measure_as(role, query, business_date, timeout_ms): the one row the
 * query returns, as jsonb (NULL for no row); 21000 for more than one row,
 * 57014 with "measurement timed out" when the timeout ends it.
 */
PG_FUNCTION_INFO_V1(kant_measure_as);
Datum
kant_measure_as(PG_FUNCTION_ARGS)
{
	Oid			role = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	char	   *query;
	Datum		bd = PG_GETARG_DATUM(2);
	int			timeout_ms = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	Oid			argtypes[1] = {DATEOID};
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	volatile TimestampTz outer_fin = 0;
	volatile TimestampTz fin = 0;
	volatile bool ours = false;
	volatile bool timed_out = false;
	volatile Datum result = (Datum) 0;
	bool		isnull = true;
	int			rc;
	char	   *sql;
	MemoryContext callcxt;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a measurement needs its query and business date")));
	if (!OidIsValid(role) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that defined the measurement no longer exists"),
				 errhint("Define it again with kant.measure() as the role whose rights it should use.")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	/* one row as an object of its columns; the query is a subquery, so one statement */
	sql = psprintf("SELECT pg_catalog.to_jsonb(q) FROM (%s\n) q", query);

	callcxt = CurrentMemoryContext;
	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* a measurement reads; it never writes, whatever its query says */
	(void) set_config_option("transaction_read_only", "on", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/*
	 * The timer of the statement around us, if any, keeps its deadline when
	 * it is the nearer one; otherwise ours takes its place until we are done.
	 */
	if (timeout_ms > 0)
	{
		fin = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
		if (get_timeout_active(STATEMENT_TIMEOUT))
			outer_fin = get_timeout_finish_time(STATEMENT_TIMEOUT);
		/*
		 * Again every second: a query that catches one cancel gets the next.
		 * When the caller's deadline is the nearer one, it is the one repeated.
		 */
		enable_timeout_every(STATEMENT_TIMEOUT, (outer_fin != 0 && outer_fin < fin) ? outer_fin : fin, 1000);
		ours = true;
	}
	PG_TRY();
	{
		/* one statement: a prepared plan refuses a second */
		SPIPlanPtr	plan = SPI_prepare(sql, 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "kant: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (list_length(SPI_plan_get_plan_sources(plan)) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("a measurement's query must be one SELECT")));
		rc = SPI_execute_plan(plan, &bd, NULL, true, 2);
		/*
		 * The timer may have fired where no cancel is taken (postgres_fdw's
		 * connect): the pending cancel is ours, not the caller's
		 */
		/*
		 * Past its deadline it is a timeout, whatever it returned: the timer
		 * may have fired where no cancel is taken (postgres_fdw's connect), or
		 * the query caught every cancel
		 */
		if (ours && outer_fin != 0 && outer_fin < fin && GetCurrentTimestamp() >= outer_fin)
		{
			QueryCancelPending = false;
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling statement due to statement timeout")));
		}
		if (ours && GetCurrentTimestamp() >= fin)
		{
			QueryCancelPending = false;
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("measurement timed out after %d ms", timeout_ms),
					 errhint("Give it a longer timeout (kant.measure(timeout =>)), or make the query cheaper; "
							 "a foreign server's connect_timeout bounds its connection.")));
		}
		if (rc != SPI_OK_SELECT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a measurement's query must be one SELECT")));
		if (SPI_processed > 1)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("a measurement's query returned more than one row"),
					 errhint("Return one row: its columns are the metrics (row_count, duplicate_keys, ...).")));
		if (SPI_processed == 1)
		{
			result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
				result = SPI_datumTransfer(result, false, -1);
		}
	}
	PG_CATCH();
	{
		MemoryContext ecxt = MemoryContextSwitchTo(callcxt);
		ErrorData  *edata = CopyErrorData();

		MemoryContextSwitchTo(ecxt);
		FlushErrorState();
		if (ours)
		{
			/* ours fired if the cancel came once its deadline had passed */
			timed_out = edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
				GetCurrentTimestamp() >= fin;
			disable_timeout(STATEMENT_TIMEOUT, false);
			if (outer_fin != 0)
				enable_timeout_at(STATEMENT_TIMEOUT, outer_fin);
		}
		if (timed_out)
		{
			if (strncmp(edata->message, "measurement timed out", 21) != 0)
				edata->message = psprintf("measurement timed out after %d ms", timeout_ms);
			edata->hint = pstrdup("Give it a longer timeout (kant.measure(timeout =>)), or make the query cheaper; "
								  "a foreign server's connect_timeout bounds its connection.");
		}
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (ours)
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		if (outer_fin != 0)
			enable_timeout_at(STATEMENT_TIMEOUT, outer_fin);
	}
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

