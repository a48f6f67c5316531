#!/usr/bin/python3
"""Key-level diff benchmark (issue 15), measured side by side in one run.

Two tables of 10,000,000 rows (id bigint, business_date, amount, note): the
source in this database, the target in a second database of the cluster
(standing in for RDS), reached through a postgres_fdw server over the unix
socket; the target lacks 10 of the source's keys and holds 10 others twice.
Both have an index on id; the foreign table is IMPORTed, not ANALYZEd (the
plain join's plan is then its fastest).  Each method runs once, warm:

  - kant.diff_keys(source, target, 'id'), with the server async_capable (both
    sides aggregate at once) and without;
  - the plain FULL JOIN a user would write that also finds duplicates: both
    sides grouped by id with their counts, joined, the counts compared.

CPU: this session's backend and the postgres_fdw backend that serves it on the
remote side (/proc/<pid>/stat; parallel workers, if a plan has them, are not
counted), the load-independent part of the time on a shared machine.
Rows and round trips from the remote side: pg_stat_statements in the target
database (postgres_fdw fetches through a cursor: the rows of its FETCHes, and
how many FETCHes), reset before each method.  Bytes: the result rows as they
cross the socket in the text protocol (a 7-byte DataRow header, 4 bytes of
length and the text of each value): kant.diff_keys counts its own (its
NOTICE), the plain join's are computed on the remote side from the same rows.
Both answers are checked: all 20 keys, with their counts, and nothing else.

Environment: libpq variables; KANT_BENCH_DIFF_ROWS (default 10000000).
"""
import os
import re
import time

import psycopg2

ROWS = int(os.environ.get("KANT_BENCH_DIFF_ROWS", "10000000"))
LOCAL, REMOTE = "kant_bench_diff", "kant_bench_diff_rds"
STEP = ROWS // 10
MISSING = [i * STEP + 7 for i in range(10)]          # in the source, not in the target
DUPLICATED = [i * STEP + STEP // 2 + 3 for i in range(10)]   # twice in the target
EXPECTED = {(str(k), 1, 0, "missing_in_target") for k in MISSING} | \
           {(str(k), 1, 2, "duplicated_in_target") for k in DUPLICATED}

TABLE = """CREATE TABLE orders (id bigint NOT NULL, business_date date NOT NULL,
                                amount numeric(12, 2) NOT NULL, note text NOT NULL)"""
ROWS_SQL = """SELECT g, date '2024-01-15', (g %% 100000) / 100.0, 'order ' || g
              FROM generate_series(1, %s) g"""

PLAIN_JOIN = """
SELECT coalesce(s.id, t.id) AS id, coalesce(s.n, 0) AS source_count, coalesce(t.n, 0) AS target_count
FROM (SELECT id, count(*) AS n FROM orders GROUP BY id) s
FULL JOIN (SELECT id, count(*) AS n FROM rds.orders GROUP BY id) t ON t.id = s.id
WHERE s.n IS DISTINCT FROM t.n"""


def connect(db):
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    return conn, cur


def setup():
    _, cur = connect("postgres")
    for db in (LOCAL, REMOTE):
        cur.execute("DROP DATABASE IF EXISTS %s" % db)
        cur.execute("CREATE DATABASE %s" % db)
    # the target: every key but MISSING, DUPLICATED twice
    _, rcur = connect(REMOTE)
    rcur.execute(TABLE)
    rcur.execute("INSERT INTO orders " + ROWS_SQL.replace("FROM generate_series(1, %s) g",
                 "FROM generate_series(1, %s) g WHERE g <> ALL (%s)"), (ROWS, MISSING))
    rcur.execute("INSERT INTO orders " + ROWS_SQL.replace("FROM generate_series(1, %s) g",
                 "FROM unnest(%s::bigint[]) g"), (DUPLICATED,))
    rcur.execute("CREATE INDEX ON orders (id)")
    rcur.execute("VACUUM ANALYZE orders")
    # the source, and the target through postgres_fdw
    conn, cur = connect(LOCAL)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("CREATE EXTENSION postgres_fdw")
    cur.execute("CREATE EXTENSION pg_stat_statements")
    cur.execute(TABLE)
    cur.execute("INSERT INTO orders " + ROWS_SQL, (ROWS,))
    cur.execute("ALTER TABLE orders ADD PRIMARY KEY (id)")
    cur.execute("VACUUM ANALYZE orders")
    cur.execute("SELECT btrim(split_part(current_setting('unix_socket_directories'), ',', 1)), current_setting('port')")
    host, port = cur.fetchone()
    cur.execute("CREATE SERVER rds FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %s, port %s, dbname %s)",
                (host, port, REMOTE))
    cur.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER rds")
    cur.execute("CREATE SCHEMA rds")
    cur.execute("IMPORT FOREIGN SCHEMA public LIMIT TO (orders) FROM SERVER rds INTO rds")
    return conn, cur


def remote_traffic(cur):
    """Rows the target database sent and the FETCHes that carried them, since the reset."""
    cur.execute("""SELECT coalesce(sum(s.rows), 0), coalesce(sum(s.calls) FILTER (WHERE s.query ~* '^FETCH'), 0)
                   FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s""", (REMOTE,))
    return cur.fetchone()


def cpu(pid):
    """CPU seconds a backend has used (user + system, /proc/<pid>/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu(cur, since):
    """CPU seconds of this backend since `since`, and of the postgres_fdw
    backend serving it (connected for this method: reset() disconnects)."""
    cur.execute("SELECT pg_backend_pid()")
    local = cpu(cur.fetchone()[0]) - since
    cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'postgres_fdw'", (REMOTE,))
    return local + sum(cpu(pid) for (pid,) in cur.fetchall())


def reset(cur):
    cur.execute("SELECT postgres_fdw_disconnect_all()")
    cur.execute("SELECT pg_stat_statements_reset()")


def run_diff(conn, cur, label):
    reset(cur)
    del conn.notices[:]
    cur.execute("SET client_min_messages = notice")
    cur.execute("SELECT pg_backend_pid()")
    c0 = cpu(cur.fetchone()[0])
    t0 = time.perf_counter()
    cur.execute("SELECT * FROM kant.diff_keys('orders', 'rds.orders', 'id')")
    rows = cur.fetchall()
    t = time.perf_counter() - t0
    used = backend_cpu(cur, c0)
    cur.execute("SET client_min_messages = warning")
    rrows, fetches = remote_traffic(cur)
    notice = "".join(conn.notices)
    m = re.search(r"rows fetched: source (\d+) \((\d+) bytes\), target (\d+) \((\d+) bytes\)", notice)
    q = re.search(r"queries: (\d+), passes: (\d+)", notice)
    got = {(k, s, n, p) for k, s, n, p in rows}
    return dict(label=label, time=t, cpu=used, rows=int(rrows), fetches=int(fetches), bytes=int(m.group(4)),
                own_rows=int(m.group(3)), found=len(got & EXPECTED), extra=len(got - EXPECTED),
                detail="queries %s, passes %s" % (q.group(1), q.group(2)))


def run_join(cur):
    reset(cur)
    cur.execute("SELECT pg_backend_pid()")
    c0 = cpu(cur.fetchone()[0])
    t0 = time.perf_counter()
    cur.execute(PLAIN_JOIN)
    rows = cur.fetchall()
    t = time.perf_counter() - t0
    used = backend_cpu(cur, c0)
    rrows, fetches = remote_traffic(cur)
    got = set()
    for k, s, n in rows:
        problem = "missing_in_target" if n == 0 else "duplicated_in_target" if n > s else "other"
        got.add((str(k), s, n, problem))
    # the same rows' size in the text protocol, computed where they are
    _, rcur = connect(REMOTE)
    rcur.execute("""SELECT sum(7 + 4 + length(id::text) + 4 + length(n::text))
                    FROM (SELECT id, count(*) AS n FROM orders GROUP BY id) x""")
    size = int(rcur.fetchone()[0])
    return dict(label="plain FULL JOIN over the foreign table", time=t, cpu=used, rows=int(rrows), fetches=int(fetches),
                bytes=size, own_rows=None, found=len(got & EXPECTED), extra=len(got - EXPECTED),
                detail="both sides grouped by id")


def main():
    print("Key-diff benchmark: %s rows in the source (local) and in the target (another database, through"
          " postgres_fdw); the target lacks 10 keys and holds 10 twice\n" % format(ROWS, ","))
    t0 = time.perf_counter()
    conn, cur = setup()
    print("  setup: %.0f s" % (time.perf_counter() - t0))
    cur.execute("EXPLAIN (VERBOSE, COSTS OFF) " + PLAIN_JOIN)
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert re.search(r"Remote SQL: SELECT id, count\(\*\) FROM public.orders GROUP BY 1", plan), plan
    results = []
    cur.execute("ALTER SERVER rds OPTIONS (ADD async_capable 'true')")
    results.append(run_diff(conn, cur, "kant.diff_keys, async_capable server"))
    cur.execute("ALTER SERVER rds OPTIONS (DROP async_capable)")
    results.append(run_diff(conn, cur, "kant.diff_keys, server not async"))
    results.append(run_join(cur))
    print("\n  %-40s %9s %9s %12s %9s %14s  %s"
          % ("method", "time", "CPU", "remote rows", "FETCHes", "bytes moved", "keys found"))
    for r in results:
        print("  %-40s %7.2f s %7.2f s %12s %9s %14s  %d of 20%s   (%s)"
              % (r["label"], r["time"], r["cpu"], format(r["rows"], ","), format(r["fetches"], ","), format(r["bytes"], ","),
                 r["found"], ", %d wrong" % r["extra"] if r["extra"] else "", r["detail"]))
    best, join = results[0], results[-1]
    print("\n  kant.diff_keys vs the plain join: %.1fx faster (target >= 10x), %.0fx fewer rows and %.0fx fewer bytes"
          " from the remote side; all 20 keys found by both: %s"
          % (join["time"] / best["time"], join["rows"] / max(best["rows"], 1), join["bytes"] / max(best["bytes"], 1),
             "yes" if all(r["found"] == 20 and r["extra"] == 0 for r in results) else "NO"))
    print("  (CPU: this backend and the postgres_fdw backend on the remote side, /proc; remote rows and FETCHes:"
          " pg_stat_statements of the target database; bytes: the result rows in the text protocol;"
          " kant.diff_keys counted %s rows itself)" % format(best["own_rows"], ","))
    conn.close()
    _, cur = connect("postgres")
    for db in (LOCAL, REMOTE):
        cur.execute("DROP DATABASE %s WITH (FORCE)" % db)


main()
