/*
 * gate.c
 *	  A gate's condition: a user's function f(gate text, business_date date)
 *	  RETURNS boolean that kant.kant_gate_ready() calls.  The gate functions
 *	  run as the extension's owner (SECURITY DEFINER); the condition must not.
 *	  It runs as the role that defined the gate, under
 *	  SECURITY_RESTRICTED_OPERATION (no SET ROLE, no temporary objects), the
 *	  way PostgreSQL runs an index expression as the table's owner, and
 *	  read-only.
 *
 * A gate keeps the function's OID, never a name to resolve later.  Defining
 * it, and every call, require that the role may execute the function and
 * that the function's owner holds every privilege of that role: the owner
 * can change the function's body at any time, so running it as a role with
 * more rights than its owner would hand the owner those rights.
 */
#include "kant.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

/*
 * kant._outer_role(): the role a SECURITY DEFINER function of kant was
 * called by from the outside (the session's role after SET ROLE), which
 * current_user no longer tells inside it.
 */
/* the role kant_as_caller runs an _impl function for, else invalid */
static Oid	kant_caller = InvalidOid;

PG_FUNCTION_INFO_V1(kant_outer_role);
Datum
kant_outer_role(PG_FUNCTION_ARGS)
{
	/*
	 * Within a security-restricted operation (an index expression run for
	 * ANALYZE, a materialized view's query) the code is its owner's while the
	 * outer role is whoever started the command: naming that role would hand
	 * its rights to the owner's code.
	 */
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("kant cannot be configured within a security-restricted operation"),
				 errhint("Call kant's functions from your own session, not from an index expression, "
						 "a materialized view or a maintenance command.")));
	if (OidIsValid(kant_caller))
		PG_RETURN_OID(kant_caller);
	PG_RETURN_OID(GetOuterUserId());
}

/*
 * kant_as_caller: the entry point of the functions whose checks depend on
 * who calls them (naming the server's secrets: set_credentials,
 * set_credential_source, set_channel, measure).  Declared SECURITY INVOKER, so
 * GetUserId() is the role whose code calls -- a function's owner inside
 * its SECURITY DEFINER function, where the outer role would be whoever
 * called that (a superuser lending an admin its rights).  It calls
 * kant._<name>_impl with the same arguments as the extension's owner, with
 * kant._outer_role() answering that role meanwhile; the _impl functions
 * are the owner's alone.
 */
PG_FUNCTION_INFO_V1(kant_as_caller);
Datum
kant_as_caller(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	Form_pg_proc p;
	int			nargs;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *nulls;
	Oid			rettype;
	StringInfoData sql;
	Oid			extowner;
	bool		isnull = true;
	Datum		result = (Datum) 0;
	Oid			save_userid;
	int			save_sec_context;
	Oid			save_caller = kant_caller;
	int			i;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "kant: cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	p = (Form_pg_proc) GETSTRUCT(tup);
	nargs = p->pronargs;
	rettype = p->prorettype;
	argtypes = palloc(sizeof(Oid) * Max(nargs, 1));
	values = palloc(sizeof(Datum) * Max(nargs, 1));
	nulls = palloc(Max(nargs, 1));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT kant.%s(", quote_identifier(psprintf("_%s_impl", NameStr(p->proname))));
	for (i = 0; i < nargs; i++)
	{
		argtypes[i] = p->proargtypes.values[i];
		values[i] = PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
	}
	appendStringInfoChar(&sql, ')');
	ReleaseSysCache(tup);
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("kant cannot be configured within a security-restricted operation"),
				 errhint("Call kant's functions from your own session, not from an index expression, "
						 "a materialized view or a maintenance command.")));

	SPI_connect();
	if (SPI_execute("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'kant'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "kant: extension kant not found");
	extowner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	PG_TRY();
	{
		kant_caller = caller;
		SetUserIdAndSecContext(extowner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_execute_with_args(sql.data, nargs, argtypes, values, nulls, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "kant: %s returned no row", sql.data);
		if (rettype != VOIDOID)
		{
			result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
			{
				int16		typlen;
				bool		typbyval;

				get_typlenbyval(rettype, &typlen, &typbyval);
				result = SPI_datumTransfer(result, typbyval, typlen);
			}
		}
	}
	PG_FINALLY();
	{
		kant_caller = save_caller;
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
	if (rettype == VOIDOID)
		PG_RETURN_VOID();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* Raise unless role may run fn as a gate condition. */
static void
check_condition(Oid fn, Oid role, bool defining)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc p;
	char	   *name;
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the condition function of the gate (OID %u) no longer exists", fn),
				 errhint("Drop the gate and create it again with a condition that exists; "
						 "until then it stays closed.")));
	p = (Form_pg_proc) GETSTRUCT(tup);
	name = format_procedure(fn);
	owner = p->proowner;
	if (p->prorettype != BOOLOID || p->pronargs != 2 ||
		p->proargtypes.values[0] != TEXTOID || p->proargtypes.values[1] != DATEOID ||
		p->prokind != PROKIND_FUNCTION || p->proretset)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("gate condition %s is not a function (text, date) returning boolean", name)));
	if (isAnyTempNamespace(p->pronamespace))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gate condition %s is a temporary function", name),
				 errhint("A gate outlives the session: create the function in a schema of your own.")));
	ReleaseSysCache(tup);
	if (!OidIsValid(role) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that defined the gate's condition no longer exists"),
				 errhint("Drop the gate and create it again.")));
	if (pg_proc_aclcheck(fn, role, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not execute gate condition %s",
						GetUserNameFromId(role, false), name)));
	if (!has_privs_of_role(owner, role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("gate condition %s is owned by \"%s\", who does not hold the privileges of \"%s\"",
						name, GetUserNameFromId(owner, false), GetUserNameFromId(role, false)),
				 errdetail("A condition runs as the role that defines the gate; its owner could "
						   "change it to act with that role's rights."),
				 errhint(defining ? "Use a function you own, or define the gate as its owner." :
						 "Drop the gate and create it again as the function's owner.")));
}

/*
 * kant._check_condition(fn, role): raise unless the gate may use it (for
 * kant.create_gate).
 */
PG_FUNCTION_INFO_V1(kant_check_condition);
Datum
kant_check_condition(PG_FUNCTION_ARGS)
{
	check_condition(PG_GETARG_OID(0), PG_GETARG_OID(1), true);
	PG_RETURN_VOID();
}

/*
 * kant._call_condition(fn, role, gate, business_date): fn(gate, date) run as
 * role, restricted and read-only; its NULL is returned as NULL (the caller
 * says what that means: kant._gate_condition keeps the gate closed).
 */
PG_FUNCTION_INFO_V1(kant_call_condition);
Datum
kant_call_condition(PG_FUNCTION_ARGS)
{
	Oid			fn = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	Oid			role = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(call, 2);
	Datum		result;

	check_condition(fn, role, false);
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*call, &flinfo, 2, InvalidOid, NULL, NULL);
	call->args[0].value = PG_GETARG_DATUM(2);
	call->args[0].isnull = PG_ARGISNULL(2);
	call->args[1].value = PG_GETARG_DATUM(3);
	call->args[1].isnull = PG_ARGISNULL(3);

	/*
	 * The role's rights and nothing more; a search_path of the catalog only,
	 * as for index expressions (the function names what it uses or sets its
	 * own).  Both are undone by the error path's transaction cleanup too.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/*
	 * A condition asks; it does not write.  Whoever asks -- a reader's
	 * sensor too -- must not make the gate's definer write: the call runs
	 * read-only (turning read-only on is allowed anywhere in a transaction;
	 * the nest level puts the old value back).
	 */
	(void) set_config_option("transaction_read_only", "on", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	result = FunctionCallInvoke(call);
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (call->isnull)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(DatumGetBool(result));
}
