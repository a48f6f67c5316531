"""Every C entry point of kant survives whatever it is called with.

Each C function of schema kant (read from the catalog, so a new one is
covered without editing this file) is called, as a superuser, with NULLs in
every position and with extreme values of each argument's type: empty and
very long texts, control characters, int32 limits, +-infinity and the ends of
the timestamp and date ranges, malformed aggregate states, arrays with NULLs,
other dimensions and thousands of elements, OIDs of nothing.  Errors are
fine; a crash is not: after every call the same connection must still work
and the postmaster must not have restarted.  kant.run_state's binary input
gets arbitrary bytes through COPY ... (FORMAT binary) the same way.
"""
import io
import struct
import time

import psycopg2

from taplib import tap, fresh_db

conn, cur = fresh_db("kant_c_entry_points")
cur.execute("CREATE EXTENSION kant")
cur.execute("SET client_min_messages = error")
cur.execute("SET kant.http_timeout = '2s'")
cur.execute("SET kant.http_max_retries = 0")
cur.execute("SELECT kant.add_system('s', 'glue', 'UTC')")
cur.execute("SELECT pg_postmaster_start_time()")
started = cur.fetchone()[0]

VALUES = {
    "text": ["NULL", "''", "'s'", "repeat('y', 100000)", "E'\\x01\\x7f'", "'UTC'", "'http://127.0.0.1:9/x'",
             "'cron(0 17 * * ? *)'", "'* * * * *'", "'{\"JobRuns\":'", "'{\"task_instances\":'",
             "'{\"runs\":'", "'[{'"],
    "jsonb": ["NULL", "'null'", "'[]'", "'{}'", "'\"x\"'", "'{\"JobRuns\": null}'",
              "'{\"JobRuns\": [null, 1, \"x\", [], {}]}'", "'[{\"job\": {\"namespace\": \" \"}}]'"],
    "integer": ["NULL", "0", "-1", "2147483647", "-2147483648"],
    "timestamp with time zone": ["NULL", "'-infinity'", "'infinity'", "'4713-01-01 00:00+00 BC'",
                                 "'294276-12-31 23:59:59+00'", "'2026-03-08 02:30-05'"],
    "timestamp without time zone": ["NULL", "'-infinity'", "'infinity'", "'4713-01-01 00:00 BC'",
                                    "'294276-12-31 23:59:59'", "'2026-03-08 02:30'"],
    "date": ["NULL", "'-infinity'", "'infinity'", "'4713-01-01 BC'", "'5874897-12-31'"],
    "boolean": ["NULL", "true", "false"],
    "kant.run_state": ["NULL", "'running'", "'succeeded'", "'failed'"],
    "bigint[]": ["NULL", "'{}'", "'{NULL}'", "array_fill(0::bigint, ARRAY[15])",
                 "array_fill(9223372036854775807::bigint, ARRAY[15])",
                 "array_fill((-9223372036854775807 - 1)::bigint, ARRAY[15])", "array_fill(0::bigint, ARRAY[3, 5])",
                 "array_fill(1::bigint, ARRAY[15], ARRAY[0])", "array_fill(0::bigint, ARRAY[16])"],
    "integer[]": ["NULL", "'{}'", "'{NULL}'", "array_fill(0, ARRAY[15])", "array_fill(2147483647, ARRAY[15])",
                  "array_fill((-2147483647 - 1), ARRAY[15])", "array_fill(0, ARRAY[3, 5])",
                  "array_fill(1, ARRAY[15], ARRAY[0])", "array_fill(0, ARRAY[3000])"],
    "text[]": ["NULL", "'{}'", "'{NULL}'", "'{\"\"}'", "array_fill('x'::text, ARRAY[3000])",
               "array_fill('s'::text, ARRAY[2, 2])"],
    "regprocedure": ["NULL", "'pg_catalog.now()'::regprocedure", "0::oid::regprocedure",
                     "'kant.valid_time_zone(text)'::regprocedure"],
    "oid": ["NULL", "0", "10", "4294967295"],
    "interval": ["NULL", "'0'", "'1 second'", "'-1 day'", "'6 hours'", "'178000000 years'"],
}

cur.execute("""
SELECT p.oid::regprocedure::text, p.proname, p.prokind,
       ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) t)
FROM pg_proc p WHERE p.pronamespace = 'kant'::regnamespace AND p.prolang = 13
  AND NOT ('internal'::regtype = ANY (p.proargtypes::oid[]) OR 'cstring'::regtype = ANY (p.proargtypes::oid[]))
ORDER BY 1""")
functions = cur.fetchall()


def reconnect():
    """After a crash: wait for the server to come back, a new session."""
    for _ in range(60):
        try:
            c = psycopg2.connect(dbname="kant_c_entry_points")
            c.autocommit = True
            k = c.cursor()
            k.execute("SET client_min_messages = error")
            return c, k
        except psycopg2.Error:
            time.sleep(1)
    raise SystemExit("the server did not come back")


calls = errors = 0
dead = []
untested = []
for sig, name, kind, types in functions:
    if any(t not in VALUES for t in types):
        untested.append(sig)
        continue
    n = max([len(VALUES[t]) for t in types] + [1])
    rows = [["NULL"] * len(types)]
    for i in range(n):
        rows.append([VALUES[t][(i + k) % len(VALUES[t])] for k, t in enumerate(types)])
    for args in rows:
        sql = "SELECT * FROM kant.%s(%s)" % (name, ", ".join(
            "%s::%s" % (a, t) for a, t in zip(args, types)))
        calls += 1
        try:
            cur.execute(sql)
            cur.fetchall()
        except psycopg2.Error as e:
            if e.pgcode is None or conn.closed:   # no SQLSTATE: the session is gone
                dead.append("%s: %s" % (sql[:150], str(e).strip()))
                conn, cur = reconnect()
                break
            errors += 1
    try:
        cur.execute("SELECT 1")
    except psycopg2.Error as e:
        dead.append("%s: the session is gone after its calls: %s" % (sig, e))
        conn, cur = reconnect()

tap(not dead, "%d calls of %d C functions with NULLs and extreme values: no session lost (%d clean errors)"
    % (calls, len(functions) - len(untested), errors), "\n".join(dead))
tap(not untested, "every C function of kant was called (types without sample values: %s)"
    % (", ".join(untested) or "none"))

# kant.run_state through its input and binary input: any text, any bytes
bad = []
for s in ["", " ", "x" * 100000, "RUNNING", "Succeeded", "up_for_retry", "\x01", "ä"]:
    try:
        cur.execute("SELECT %s::kant.run_state", (s,))
    except psycopg2.Error as e:
        if e.pgcode is None:
            bad.append(repr(s[:20]) + str(e))
            conn, cur = reconnect()
cur.execute("CREATE TEMP TABLE states (s kant.run_state)")
for payload in [b"", b"x", b"running", b"\xff" * 300, b"\x00" * 4, b"a" * 70000]:
    copy = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
    copy += struct.pack("!hi", 1, len(payload)) + payload + struct.pack("!h", -1)
    try:
        cur.copy_expert("COPY states FROM STDIN (FORMAT binary)", io.BytesIO(copy))
    except psycopg2.Error as e:
        if e.pgcode is None:
            bad.append(repr(payload[:10]) + str(e))
            conn, cur = reconnect()
            cur.execute("CREATE TEMP TABLE states (s kant.run_state)")
tap(not bad, "kant.run_state's text and binary input take any text and any bytes without a crash", "\n".join(bad))

cur.execute("SELECT pg_postmaster_start_time()")
tap(cur.fetchone()[0] == started, "the postmaster never restarted")
tap.plan()
