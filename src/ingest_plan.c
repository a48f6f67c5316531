/*
 * ingest_plan.c
 *	  The statements the ingest engine runs through SPI, in one place.
 *
 * Plans are prepared once per backend and kept.  They name kant's relations
 * by schema-qualified name, so a re-created extension is picked up by plan
 * revalidation; the extension OID check below also drops them in that case.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"

#include "ingest_int.h"

IngestPlans ingest_plans = {.columns = -1};
static Oid	plans_ext_oid = InvalidOid;

/*
 * custom: plan at every execution.  A generic plan made while job_run is
 * small would keep a sequential scan of it while one call grows it by
 * millions of rows; statements that look rows up in job_run by key are
 * either direct index scans (ingest_probe_stored, ingest_supersede_runs) or custom plans.
 */
SPIPlanPtr
ingest_prepare(const char *sql, int nargs, Oid *types, bool custom)
{
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types,
									   custom ? CURSOR_OPT_CUSTOM_PLAN : 0);

	if (p == NULL)
		elog(ERROR, "kant: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "kant: SPI_keepplan failed");
	return p;
}

#define prepare_plan(sql, n, t) ingest_prepare(sql, n, t, false)

static void
free_plans(void)
{
	SPIPlanPtr *all[] = {&ingest_plans.insert, &ingest_plans.update, &ingest_plans.touch,
		&ingest_plans.reject, &ingest_plans.batch_insert, &ingest_plans.batch_finish, &ingest_plans.system_get,
		&ingest_plans.system_get_ol, &ingest_plans.system_register, &ingest_plans.job_get,
		&ingest_plans.job_register, &ingest_plans.chain_set, &ingest_plans.dirty, &ingest_plans.supersede};
	int			i;

	for (i = 0; i < (int) lengthof(all); i++)
	{
		if (*all[i])
			SPI_freeplan(*all[i]);
		*all[i] = NULL;
	}
}

/*
 * The columns 0.6.0 added, looked up at every call: the module serves older
 * installations too, and ALTER EXTENSION UPDATE adds them under a live
 * backend.
 */
static int
kant_columns(void)
{
	Oid			ns = get_namespace_oid("kant", false);
	Oid			rejected = get_relname_relid("rejected", ns);
	Oid			batch = get_relname_relid("ingest_batch", ns);
	int			cols = 0;

	if (OidIsValid(rejected) && get_attnum(rejected, "record_text") != InvalidAttrNumber)
		cols |= HAS_RECORD_TEXT;
	if (OidIsValid(rejected) && get_attnum(rejected, "dedup_key") != InvalidAttrNumber)
		cols |= HAS_DEDUP_KEY;
	if (OidIsValid(batch) && get_attnum(batch, "payload_text") != InvalidAttrNumber)
		cols |= HAS_PAYLOAD_TEXT;
	return cols;
}

void
ingest_prepare_plans(void)
{
	Oid			ext = get_extension_oid("kant", false);
	int			cols = kant_columns();

	if (ext == plans_ext_oid && cols == ingest_plans.columns && ingest_plans.insert != NULL)
		return;
	free_plans();

	{
		Oid			t[] = {T_INT4A, T_TEXTA, T_INT4A, T_DATEA, T_CHARA, T_TEXTA, T_TEXTA,
		T_TSTZA, T_TSTZA, T_TSTZA, T_TEXTA, T_TEXTA, T_JSONBA, TIMESTAMPTZOID, INT8OID};

		ingest_plans.insert = prepare_plan(
			"INSERT INTO kant.job_run (job_id, external_id, attempt, business_date,"
			" bd_source, state, raw_state, started_at, ended_at, source_updated_at,"
			" error_message, previous_external_id, details, first_seen, last_seen, batch_id)"
			" SELECT u.j, u.e, u.a, u.bd, u.bs, u.s::kant.run_state, u.rs, u.sa, u.ea, u.ua,"
			" u.em, u.pe, u.d, $14, $14, $15"
			" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
			" AS u(j, e, a, bd, bs, s, rs, sa, ea, ua, em, pe, d)", 15, t);
	}
	{
		Oid			t[] = {T_INT8A, T_DATEA, T_CHARA, T_TEXTA, T_TEXTA, T_TSTZA, T_TSTZA,
		T_TSTZA, T_TEXTA, T_TEXTA, T_JSONBA, TIMESTAMPTZOID, INT8OID};

		ingest_plans.update = ingest_prepare(
			"UPDATE kant.job_run r SET business_date = u.bd, bd_source = u.bs,"
			" state = u.s::kant.run_state, raw_state = u.rs, started_at = u.sa,"
			" ended_at = u.ea, source_updated_at = u.ua, error_message = u.em,"
			" previous_external_id = u.pe, details = u.d, last_seen = $12, batch_id = $13"
			" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
			" AS u(id, bd, bs, s, rs, sa, ea, ua, em, pe, d)"
			" WHERE r.run_id = u.id", 13, t, true);
	}
	{
		Oid			t[] = {T_INT8A, TIMESTAMPTZOID};

		ingest_plans.touch = ingest_prepare(
			"UPDATE kant.job_run SET last_seen = $2 WHERE run_id = ANY ($1)", 2, t, true);
	}
	{
		Oid			t[] = {INT8OID, INT4OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, JSONBOID, TEXTOID, BYTEAOID, BYTEAOID, TIMESTAMPTZOID};

		/*
		 * $11: the text of a record jsonb cannot hold; $12, $13: its hash and
		 * the key of the rejection: the same one again counts on its row;
		 * $14: when, once for rejected_at and last_seen_at (0.6.0)
		 */
		if (cols & HAS_DEDUP_KEY)
			ingest_plans.reject = prepare_plan(
				"INSERT INTO kant.rejected AS x (batch_id, system_id, source, item_index,"
				" item_path, sqlstate, reason, hint, field, record, record_text,"
				" record_sha256, dedup_key, last_batch_id, rejected_at, last_seen_at)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $1, $14, $14)"
				" ON CONFLICT (dedup_key) DO UPDATE SET times_seen = x.times_seen + 1,"
				" last_seen_at = excluded.last_seen_at, last_batch_id = excluded.last_batch_id"
				" RETURNING x.rejected_id, x.batch_id, x.times_seen", 14, t);
		else
			ingest_plans.reject = prepare_plan((cols & HAS_RECORD_TEXT) ?
				"INSERT INTO kant.rejected (batch_id, system_id, source, item_index, item_path,"
				" sqlstate, reason, hint, field, record, record_text)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)" :
				"INSERT INTO kant.rejected (batch_id, system_id, source, item_index, item_path,"
				" sqlstate, reason, hint, field, record)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				(cols & HAS_RECORD_TEXT) ? 11 : 10, t);
	}
	{
		Oid			t[] = {TEXTOID, INT4OID, TIMESTAMPTZOID, INT8OID, BYTEAOID, JSONBOID,
		TEXTOID};

		/* $7: a text payload kept as text; the sender is the role after SET ROLE (0.6.0) */
		ingest_plans.batch_insert = prepare_plan((cols & HAS_PAYLOAD_TEXT) ?
			"INSERT INTO kant.ingest_batch (source, system_id, received_at, received_by,"
			" payload_bytes, payload_sha256, payload, payload_text)"
			" VALUES ($1, $2, $3, pg_catalog.pg_get_userbyid(kant._outer_role()), $4, $5, $6, $7) RETURNING batch_id" :
			"INSERT INTO kant.ingest_batch (source, system_id, received_at, received_by,"
			" payload_bytes, payload_sha256, payload)"
			" VALUES ($1, $2, $3, session_user, $4, $5, $6) RETURNING batch_id",
			(cols & HAS_PAYLOAD_TEXT) ? 7 : 6, t);
	}
	{
		Oid			t[] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID};

		ingest_plans.batch_finish = prepare_plan(
			"UPDATE kant.ingest_batch SET finished_at = clock_timestamp(), received = $2,"
			" inserted = $3, updated = $4, unchanged = $5, rejected = $6"
			" WHERE batch_id = $1", 6, t);
	}
	{
		Oid			t[] = {TEXTOID};

		ingest_plans.system_get = prepare_plan(
			"SELECT system_id, kind, time_zone, bd_argument, bd_offset_days, bd_day_start"
			" FROM kant.system WHERE name = $1", 1, t);
		ingest_plans.system_get_ol = prepare_plan(
			"SELECT system_id, kind, time_zone, bd_argument, bd_offset_days, bd_day_start, name"
			" FROM kant.system WHERE ol_namespace = $1"
			" OR (name = $1 AND NOT EXISTS (SELECT FROM kant.system WHERE ol_namespace = $1))",
			1, t);
	}
	{
		Oid			t[] = {TEXTOID, TEXTOID, TEXTOID};

		ingest_plans.system_register = prepare_plan(
			"INSERT INTO kant.system (name, kind, time_zone, auto_registered)"
			" VALUES ($1, $2, $3, true) ON CONFLICT (name) DO NOTHING", 3, t);
	}
	{
		Oid			t[] = {INT4OID, TEXTOID};

		ingest_plans.job_get = prepare_plan(
			"SELECT job_id, bd_argument, bd_offset_days, bd_day_start"
			" FROM kant.job WHERE system_id = $1 AND name = $2", 2, t);
	}
	{
		Oid			t[] = {INT4OID, TEXTOID, TEXTOID, TEXTOID};

		ingest_plans.job_register = prepare_plan(
			"INSERT INTO kant.job (system_id, name, dag_id, task_id, pipeline, auto_registered)"
			" SELECT $1, $2, $3, $4, s.default_pipeline, true FROM kant.system s"
			" WHERE s.system_id = $1 ON CONFLICT (system_id, name) DO NOTHING", 4, t);
	}
	{
		Oid			t[] = {T_INT8A, T_DATEA, T_CHARA};

		/*
		 * retries that take the date of the run they retry, or of their own
		 * start when their chain loops or is too long (ingest_fix_retry_chains)
		 */
		ingest_plans.chain_set = ingest_prepare(
			"UPDATE kant.job_run r SET business_date = u.bd, bd_source = u.bs"
			" FROM unnest($1, $2, $3) AS u(id, bd, bs) WHERE r.run_id = u.id", 3, t, true);
	}
	plans_ext_oid = ext;
	ingest_plans.columns = cols;
}

/*
 * Execute a kept plan.  SPI leaves CurrentMemoryContext at its procedure
 * context, which lives until SPI_finish; switch back so that per-flush
 * allocations stay in the flush context and a huge payload does not pile up.
 */
void
ingest_spi_exec(SPIPlanPtr plan, Datum *values, const char *nulls, int expect)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	MemoryContextSwitchTo(cxt);
	if (rc != expect)
		elog(ERROR, "kant: SPI_execute_plan returned %s", SPI_result_code_string(rc));
}
