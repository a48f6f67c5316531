/*
 * ingest_reject.c
 *	  Quarantine: a record kant cannot take is kept in kant.rejected with why
 *	  (SQLSTATE, the JSON path of the field, a message and a hint), and the
 *	  rest of the batch lands.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ingest_int.h"
#include "locks.h"

static void
sha256_of(const void *data, size_t len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "kant: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

static bytea *
digest_bytea(const uint8 *digest)
{
	bytea	   *b = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(b, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(b), digest, PG_SHA256_DIGEST_LENGTH);
	return b;
}

/*
 * s with the record's own path (its place in the payload: $.JobRuns[7]) put
 * as "@": the same record at another place of another page is the same
 * rejection.
 */
static void
append_relative(StringInfo buf, const char *s, const char *rec_path)
{
	size_t		n = rec_path ? strlen(rec_path) : 0;
	const char *hit;

	appendStringInfo(buf, "%zu:", strlen(s));
	while (n > 1 && (hit = strstr(s, rec_path)) != NULL)
	{
		appendBinaryStringInfo(buf, s, hit - s);
		appendStringInfoChar(buf, '@');
		s = hit + n;
	}
	appendStringInfoString(buf, s);
	appendStringInfoChar(buf, '\n');
}

/*
 * Quarantine a record in kant.rejected.  From 0.6.0 a rejection has a key
 * (system, source, the record's SHA-256, SQLSTATE, field and reason relative
 * to the record): the same record rejected again for the same reason, as a
 * collector reading an overlapping window brings it, counts on the row of
 * its first sighting instead of making another.
 */
void
ingest_store_reject(IngestState *st, RecordError *err, JsonbValue *raw, const char *raw_text,
					int raw_len, int index, const char *rec_path, SystemInfo *sys)
{
	Datum		args[14];
	char		nulls[14] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n', 'n', 'n', ' '};
	char	   *path = err->field ? err->field : "$";
	const char *sqlstate = unpack_sql_state(err->sqlstate);
	bool		dedup = (ingest_plans.columns & HAS_DEDUP_KEY) != 0;
	int64		first_batch = 0;
	int64		rejected_id = 0;
	int32		times_seen = 1;

	ingest_log_batch(st);
	st->rejected++;
	args[0] = Int64GetDatum(st->batch_id);
	if (sys)
		args[1] = Int32GetDatum(sys->system_id);
	else
		nulls[1] = 'n';
	args[2] = CStringGetTextDatum(st->source_name);
	args[3] = Int32GetDatum(index);
	args[4] = CStringGetTextDatum(path);
	args[5] = CStringGetTextDatum(sqlstate);
	args[6] = CStringGetTextDatum(err->message);
	if (err->hint)
		args[7] = CStringGetTextDatum(err->hint);
	else
		nulls[7] = 'n';
	args[8] = CStringGetTextDatum(path);
	if (raw)
		args[9] = JsonbPGetDatum(JsonbValueToJsonb(raw));
	else
		nulls[9] = 'n';
	if (raw == NULL && raw_text != NULL)
	{
		args[10] = PointerGetDatum(cstring_to_text_with_len(raw_text, raw_len));
		nulls[10] = ' ';
	}
	if (dedup)
	{
		uint8		record_hash[PG_SHA256_DIGEST_LENGTH];
		uint8		key[PG_SHA256_DIGEST_LENGTH];
		StringInfoData k;

		/* the record as kept: the text of its jsonb (as record::text), else its text */
		memset(record_hash, 0, sizeof(record_hash));
		if (raw)
		{
			Jsonb	   *jb = DatumGetJsonbP(args[9]);
			char	   *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

			sha256_of(text, strlen(text), record_hash);
		}
		else if (raw_text != NULL)
			sha256_of(raw_text, raw_len, record_hash);
		if (raw || raw_text != NULL)
		{
			args[11] = PointerGetDatum(digest_bytea(record_hash));
			nulls[11] = ' ';
		}

		initStringInfo(&k);
		appendStringInfo(&k, "%d\n%s\n%s\n", sys ? sys->system_id : 0, st->source_name,
						 sqlstate);
		append_relative(&k, path, rec_path);
		append_relative(&k, err->message, rec_path);
		appendBinaryStringInfo(&k, (char *) record_hash, sizeof(record_hash));
		sha256_of(k.data, k.len, key);
		args[12] = PointerGetDatum(digest_bytea(key));
		nulls[12] = ' ';
		args[13] = TimestampTzGetDatum(GetCurrentTimestamp());

		/*
		 * Rejections without a system are keyed across every system's lock:
		 * they take one lock of their own, so that two payloads bringing the
		 * same two in opposite orders wait instead of deadlocking.
		 */
		if (sys == NULL)
		{
			LOCKTAG		tag;

			SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, KANT_LOCK_INGEST, 0, 2);
			(void) LockAcquire(&tag, ExclusiveLock, false, false);
		}
		ingest_spi_exec(ingest_plans.reject, args, nulls, SPI_OK_INSERT_RETURNING);
		if (SPI_processed == 1)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			rejected_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			first_batch = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
			times_seen = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	else
		ingest_spi_exec(ingest_plans.reject, args, nulls, SPI_OK_INSERT);

	if (st->rejected <= kant_max_warnings)
	{
		if (times_seen > 1)
			ereport(WARNING,
					(errcode(err->sqlstate),
					 errmsg("kant: rejected %s record at %s: %s", st->source_name, path,
							err->message),
					 errdetail("kant.rejected holds it already (rejected_id %lld, first in "
							   "batch %lld) and counts it again: seen %d times; the other "
							   "records of the payload are ingested.",
							   (long long) rejected_id, (long long) first_batch, times_seen),
					 err->hint ? errhint("%s", err->hint) : 0));
		else
			ereport(WARNING,
					(errcode(err->sqlstate),
					 errmsg("kant: rejected %s record at %s: %s", st->source_name, path,
							err->message),
					 errdetail("The record is kept in kant.rejected (batch %lld); the other "
							   "records of the payload are ingested.",
							   (long long) st->batch_id),
					 err->hint ? errhint("%s", err->hint) : 0));
	}
}

