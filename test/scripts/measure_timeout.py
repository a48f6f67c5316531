#!/usr/bin/python3
"""A measurement's timeout (kant.measure(timeout =>), src/quality.c): the
query is stopped by the statement timer and recorded as a timeout while the
other measurements go on; afterwards the session is its own again (role,
read-only, statement_timeout); a shorter statement_timeout of the caller
still ends the whole call; a cancel from outside (pg_cancel_backend) stays a
cancel and is not recorded as the measurement's.  A server whose timers do
not fire at all (libfaketime intercepts them: KANT_FAKETIME) cannot show a
timeout; the timer-dependent checks are then skipped, said as such.  Prints
TAP lines."""
import os
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

DB = "kant_measure_timeout"

conn, cur = fresh_db(DB)
cur.execute("CREATE EXTENSION kant CASCADE")
cur.execute("SELECT kant.add_dataset('t.users', 'UTC')")
cur.execute("SELECT kant.measure('slow', 't.users', 'SELECT pg_catalog.pg_sleep(30) AS slept, 1 AS row_count', "
            "timeout => '1 second')")
cur.execute("SELECT kant.measure('quick', 't.users', 'SELECT 42 AS row_count')")

# do the server's timers fire at all?
try:
    cur.execute("SET statement_timeout = 200")
    cur.execute("SELECT pg_sleep(2)")
    timers = False
except psycopg2.errors.QueryCanceled:
    timers = True
cur.execute("RESET statement_timeout")


def skip(what):
    tap(True, "%s # SKIP the server's timers do not fire (libfaketime)" % what)


if timers:
    t0 = time.monotonic()
    cur.execute("SELECT measure, status, detail FROM kant.run_measurements(for_date => '2024-01-15') ORDER BY measure")
    got = cur.fetchall()
    took = time.monotonic() - t0
    tap(got == [("quick", "ok", None), ("slow", "timeout", "measurement timed out after 1000 ms")] and took < 10,
        "the slow query is stopped at its timeout (%.1f s) and recorded; the other one lands" % took, got)
    cur.execute("SELECT status, sqlstate FROM kant.dq_measure_run r JOIN kant.dq_measure m USING (measure_id) "
                "WHERE m.name = 'slow'")
    tap(cur.fetchone() == ("timeout", "57014"), "kant.dq_measure_run keeps it with 57014")
else:
    skip("the slow query is stopped at its timeout and recorded; the other one lands")
    skip("kant.dq_measure_run keeps it with 57014")
# a query that catches the cancel and goes on gets the next one, a second later
cur.execute("""CREATE FUNCTION public.stubborn() RETURNS text LANGUAGE plpgsql AS $f$
    BEGIN
        BEGIN PERFORM pg_catalog.pg_sleep(30); EXCEPTION WHEN query_canceled THEN NULL; END;
        PERFORM pg_catalog.pg_sleep(30);
        RETURN 'done';
    END $f$""")
cur.execute("SELECT kant.measure('stubborn', 't.users', 'SELECT public.stubborn() AS x, 1 AS row_count', "
            "timeout => '1 second')")
if timers:
    t0 = time.monotonic()
    cur.execute("SELECT status FROM kant.run_measurements(for_date => '2024-01-18', only_measure => 'stubborn')")
    got = cur.fetchall()
    took = time.monotonic() - t0
    tap(got == [("timeout",)] and took < 10,
        "a query that catches the first cancel is cancelled again (%.1f s) and recorded as a timeout" % took, got)
else:
    skip("a query that catches the first cancel is cancelled again and recorded as a timeout")
cur.execute("SELECT kant.drop_measure('stubborn')")

# one that catches every cancel is a timeout all the same, and so is the caller's own deadline
cur.execute("""CREATE FUNCTION public.spin(secs int) RETURNS int LANGUAGE plpgsql AS $f$
    DECLARE t0 timestamptz := clock_timestamp(); n int := 0;
    BEGIN
        WHILE clock_timestamp() < t0 + make_interval(secs => secs) LOOP
            BEGIN PERFORM pg_catalog.pg_sleep(0.2); EXCEPTION WHEN query_canceled THEN n := n + 1; END;
        END LOOP;
        RETURN n;
    END $f$""")
cur.execute("SELECT kant.measure('spin', 't.users', 'SELECT public.spin(4) AS cancels_caught, 1 AS row_count', "
            "timeout => '1 second')")
if timers:
    cur.execute("SELECT status, detail FROM kant.run_measurements(for_date => '2024-01-20', only_measure => 'spin')")
    got = cur.fetchall()
    tap(got == [("timeout", "measurement timed out after 1000 ms")],
        "a query that catches every cancel is recorded as a timeout, not its result", got)
    cur.execute("SELECT kant.measure('spin', 't.users', 'SELECT public.spin(4) AS cancels_caught, 1 AS row_count', "
                "timeout => '1 minute')")
    cur.execute("SET statement_timeout = 1000")
    try:
        cur.execute("SELECT * FROM kant.run_measurements(for_date => '2024-01-21', only_measure => 'spin')")
        tap(False, "the caller's nearer statement_timeout ends the call, caught cancels or not")
    except psycopg2.errors.QueryCanceled as e:
        tap("statement timeout" in str(e), "the caller's nearer statement_timeout ends the call, caught cancels or not")
    cur.execute("RESET statement_timeout")
else:
    skip("a query that catches every cancel is recorded as a timeout, not its result")
    skip("the caller's nearer statement_timeout ends the call, caught cancels or not")
cur.execute("SELECT kant.drop_measure('spin')")

# one statement: a second smuggled in after the subquery is refused
cur.execute("SELECT kant.measure('multi', 't.users', $q$select 1 as row_count) q; select pg_catalog.to_jsonb(q) from (select 7 as row_count$q$)")
cur.execute("SELECT status, detail FROM kant.run_measurements(for_date => '2024-01-22', only_measure => 'multi')")
got = cur.fetchall()
tap(got and got[0][0] == "error" and "one SELECT" in (got[0][1] or ""), "a second statement in a measurement's query is refused", got)
cur.execute("SELECT kant.drop_measure('multi')")

# two runs at once: a measurement another session is running is skipped, not run twice
cur.execute("SELECT kant.measure('busy', 't.users', 'SELECT pg_catalog.pg_sleep(3) AS slept, 1 AS row_count', "
            "timeout => '1 minute')")
first = {}


def run_busy():
    c = psycopg2.connect(dbname=DB)
    c.autocommit = True
    k = c.cursor()
    k.execute("SELECT count(*) FROM kant.run_measurements(for_date => '2024-01-19', only_measure => 'busy')")
    first["n"] = k.fetchone()[0]
    c.close()


th = threading.Thread(target=run_busy)
th.start()
# wait until the first session holds the measurement's lock (slow under valgrind)
cur.execute("SELECT measure_id FROM kant.dq_measure WHERE name = 'busy'")
mid = cur.fetchone()[0]
for _ in range(600):
    cur.execute("""SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                   AND classid::bigint = kant._lock_key('measure') AND objid::bigint = %s AND objsubid = 2""", (mid,))
    if cur.fetchone()[0]:
        break
    time.sleep(0.1)
t0 = time.monotonic()
cur.execute("SELECT count(*) FROM kant.run_measurements(for_date => '2024-01-19', only_measure => 'busy')")
n2 = cur.fetchone()[0]
took = time.monotonic() - t0
th.join()
tap(first.get("n") == 1 and n2 == 0 and took < 2.5,
    "a second run_measurements skips the measurement the first is running (%.2f s)" % took, (first, n2))
cur.execute("SELECT kant.drop_measure('busy')")

cur.execute("SELECT current_user, current_setting('transaction_read_only'), current_setting('statement_timeout'), "
            "current_setting('search_path')")
tap(cur.fetchone() == ("postgres", "off", "0", '"$user", public'),
    "afterwards the session is its own: role, read-write, no statement timeout, its search_path")

# the caller's own, shorter statement_timeout ends the whole call, as a cancel
if timers:
    cur.execute("SET statement_timeout = 300")
    try:
        cur.execute("SELECT * FROM kant.run_measurements(for_date => '2024-01-16', only_measure => 'slow')")
        tap(False, "a shorter statement_timeout of the caller ends the call")
    except psycopg2.errors.QueryCanceled as e:
        tap("statement timeout" in str(e), "a shorter statement_timeout of the caller ends the call (%s)"
            % str(e).splitlines()[0])
    cur.execute("RESET statement_timeout")
    cur.execute("SELECT count(*) FROM kant.dq_measure_run WHERE business_date = '2024-01-16'")
    tap(cur.fetchone() == (0,), "and nothing of it is recorded as the measurement's timeout")
else:
    skip("a shorter statement_timeout of the caller ends the call")
    skip("and nothing of it is recorded as the measurement's timeout")

# a cancel from outside stays a cancel
cur.execute("SELECT kant.measure('slow', 't.users', 'SELECT pg_catalog.pg_sleep(30) AS slept, 1 AS row_count', "
            "timeout => '1 hour')")
pid = conn.get_backend_pid()


def cancel():
    time.sleep(1.5)
    c2 = psycopg2.connect(dbname=DB)
    c2.autocommit = True
    c2.cursor().execute("SELECT pg_cancel_backend(%s)", (pid,))
    c2.close()


th = threading.Thread(target=cancel)
th.start()
t0 = time.monotonic()
try:
    cur.execute("SELECT * FROM kant.run_measurements(for_date => '2024-01-17', only_measure => 'slow')")
    tap(False, "a cancel from outside ends run_measurements")
except psycopg2.errors.QueryCanceled as e:
    tap("user request" in str(e) and time.monotonic() - t0 < 10,
        "a cancel from outside ends run_measurements as a cancel (%s)" % str(e).splitlines()[0])
th.join()
cur.execute("SELECT count(*) FROM kant.dq_measure_run WHERE business_date = '2024-01-17'")
tap(cur.fetchone() == (0,), "and is not recorded as the measurement's")
cur.execute("SELECT current_user, current_setting('transaction_read_only')")
tap(cur.fetchone() == ("postgres", "off"), "the session is its own after the cancel")
conn.close()
tap.plan()
