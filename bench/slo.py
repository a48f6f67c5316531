#!/usr/bin/python3
"""SLO benchmark, measured side by side in one run.

Two databases hold the same last 30 days of runs: 140 hourly jobs in 7
pipelines (~3,400 attempts a day, 2% retried), one SLO per pipeline (done by
06:00 UTC the next morning), hourly schedules for the last 60 days.  "small"
has only those 30 days (~100,000 runs); "large" has the same plus eight years
before them (~10,000,000 runs).  History is generated with SQL straight into
kant.job_run (ingestion speed is the other benchmark); the new day is ingested
through kant.ingest_reports, so the refresh queue is filled as in production.

  1. the last 30 days of bi_run_timeline and 365 days of bi_slo_daily, all
     rows fetched: large vs small (index-driven: should not grow with history)
  1c. kant.kant_gate_ready() on the same three databases, per call and from 8
     concurrent sessions (pgbench with a custom script)
  2. kant.refresh_slo() after ingesting one new day vs a full recompute
  1b. kant.run_checks() on the same last 3 days with ~10,000, ~100,000 and
     ~10,000,000 runs of history (it looks at the lookback window and what is
     open: should not grow with history)
  3. kant.slo_eval vs the plain-SQL formulation of the same rule (GROUP BY with
     bool_and / max / count FILTER and a window function for the critical job)
     over the same 365 days of input rows, with the results compared

Environment: libpq variables; KANT_BENCH_SLO_RUNS (default 10000000).
"""
import datetime as dt
import json
import os
import statistics
import time

import psycopg2

LARGE_RUNS = int(os.environ.get("KANT_BENCH_SLO_RUNS", "10000000"))
JOBS, PIPELINES, RECENT = 140, 7, 30
PER_DAY = JOBS * 24 * 1.02
TODAY = dt.date.today()
LAST = TODAY - dt.timedelta(days=2)          # the history ends the day before yesterday
NEW = TODAY - dt.timedelta(days=1)           # the new day ingested in step 2


def connect(db):
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SET search_path = public, kant")     # kant.run_state's operators, as a user has them
    # as the README advises for the BI role: row-fetching queries over big
    # estimates otherwise spend seconds compiling JIT code
    cur.execute("SET jit = off")
    return conn, cur


def timed(cur, sql, args=None, fetch=True):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    rows = cur.fetchall() if fetch and cur.description else None
    return time.perf_counter() - t0, rows


def median(cur, sql, n=5):
    times, rows = [], None
    for _ in range(n):
        t, rows = timed(cur, sql)
        times.append(t)
    return statistics.median(times), len(rows)


GENERATE = """
INSERT INTO kant.job_run (job_id, external_id, attempt, business_date, bd_source, state, raw_state,
    started_at, ended_at, first_seen, last_seen, batch_id, superseded_at)
SELECT j.job_id, 'scheduled__' || d || 'T' || h, a.n, d, 'r',
       CASE WHEN a.n = 1 AND a.retried THEN 'failed' ELSE 'succeeded' END::kant.run_state,
       CASE WHEN a.n = 1 AND a.retried THEN 'failed' ELSE 'success' END,
       s.started, s.started + s.took, now(), now(), 0,
       -- the failed first try is superseded when the second starts, as
       -- ingestion keeps it (kant._supersede)
       CASE WHEN a.n = 1 AND a.retried THEN s.started + interval '40 minutes' END
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') g(day)
CROSS JOIN LATERAL (SELECT g.day::date AS d) dd
CROSS JOIN kant.job j
CROSS JOIN generate_series(0, 23) h
CROSS JOIN LATERAL (SELECT (j.job_id * 7919 + (d - date '2000-01-01') * 104729 + h * 31) %% 1000 AS k) r
CROSS JOIN LATERAL (SELECT n, r.k < 20 AS retried FROM generate_series(1, CASE WHEN r.k < 20 THEN 2 ELSE 1 END) n) a
CROSS JOIN LATERAL (
    SELECT (d + h * interval '1 hour' + interval '5 minutes' + (a.n - 1) * interval '40 minutes')::timestamptz AS started,
           interval '1 minute' * (5 + (j.job_id %% 9) * 4 + r.k %% 7
               + CASE WHEN h = 23 AND r.k BETWEEN 500 AND 502 THEN 400 ELSE 0 END) AS took) s
WHERE j.system_id = %(sys)s
"""


def setup(db, days):
    subprocess_run(["dropdb", "--if-exists", db])
    subprocess_run(["createdb", db])
    conn, cur = connect(db)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SELECT kant.add_system('bench', 'manual', 'UTC')")
    sys_id = cur.fetchone()[0]
    cur.execute("""SELECT count(kant.configure_job('bench', 'job_' || lpad(i::text, 3, '0'),
                       pipeline => 'pipeline_' || (i %% %d))) FROM generate_series(1, %d) i""" % (PIPELINES, JOBS))
    first = LAST - dt.timedelta(days=days - 1)
    # both judge at least the last 365 days (days without runs have no data)
    since = min(first, LAST - dt.timedelta(days=364))
    for p in range(PIPELINES):
        cur.execute("""SELECT kant.create_slo(%s, '06:00', time_zone => 'UTC', pipeline => %s,
                           evaluate_from => %s)""", ("slo_%d" % p, "pipeline_%d" % p, since))
    t0 = time.perf_counter()
    # a year at a time
    start = first
    while start <= LAST:
        end = min(LAST, start + dt.timedelta(days=364))
        cur.execute(GENERATE, dict(first=start, last=end, sys=sys_id))
        start = end + dt.timedelta(days=1)
    # the generated superseded_at is what ingestion keeps: kant._supersede
    # over every retried run changes nothing
    cur.execute("""SELECT kant._supersede(array_agg(job_id), array_agg(external_id))
                   FROM kant.job_run WHERE attempt > 1""")
    changed = cur.fetchone()[0]
    assert not changed, "bench data disagrees with kant._supersede on %s attempts" % changed
    cur.execute("VACUUM ANALYZE kant.job_run")
    cur.execute("SELECT count(*) FROM kant.job_run")
    runs = cur.fetchone()[0]
    for p in range(PIPELINES):
        cur.execute("""SELECT kant.set_schedule('bench', '5 * * * *', pipeline => %s, grace => '30 minutes',
                           active_from => %s)""", ("pipeline_%d" % p, LAST - dt.timedelta(days=59)))
    gen = time.perf_counter() - t0
    return conn, cur, runs, gen


def subprocess_run(args):
    import subprocess
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL)


PLAIN = """
WITH x AS (
    SELECT i.*,
           first_value(i.job_id) OVER (PARTITION BY i.slo_id, i.business_date
               ORDER BY (i.is_current AND i.state IN ('succeeded', 'skipped')) DESC,
                        i.ended_at DESC NULLS LAST, i.job_id) AS last_job,
           first_value(i.job_id) OVER (PARTITION BY i.slo_id, i.business_date
               ORDER BY (i.state IS NULL OR (i.is_current AND i.state NOT IN ('succeeded', 'skipped'))) DESC,
                        i.job_id) AS first_open
    FROM bench_input i
), g AS (
    SELECT slo_id, business_date, min(deadline) AS deadline, min(sla_end) AS sla_end,
           count(*) FILTER (WHERE state IS NOT NULL AND is_current) AS runs,
           count(*) FILTER (WHERE is_current AND state IN ('succeeded', 'skipped')) AS done,
           count(*) FILTER (WHERE is_current AND NOT kant.is_terminal(state)) AS running,
           count(*) FILTER (WHERE state IN ('failed', 'timed_out', 'upstream_failed')) AS failures,
           count(*) FILTER (WHERE state IS NOT NULL AND NOT is_current) AS retries,
           count(*) FILTER (WHERE state IS NULL AND due_at <= %(now)s) AS missing,
           count(*) FILTER (WHERE state IS NULL AND due_at > %(now)s) AS awaited,
           bool_and(state IS NOT NULL AND (NOT is_current OR state IN ('succeeded', 'skipped')))
               AND bool_or(state IS NOT NULL AND is_current) AS complete,
           max(ended_at) FILTER (WHERE is_current AND state IN ('succeeded', 'skipped')) AS completed_at,
           min(last_job) AS last_job, min(first_open) AS first_open
    FROM x GROUP BY slo_id, business_date
)
SELECT slo_id, business_date,
       CASE WHEN complete THEN CASE WHEN completed_at <= deadline THEN 'met' ELSE 'missed' END
            WHEN %(now)s < deadline THEN 'pending' ELSE 'missed' END AS slo_status,
       CASE WHEN complete THEN CASE WHEN completed_at <= sla_end THEN 'met' ELSE 'missed' END
            WHEN %(now)s < sla_end THEN 'pending' ELSE 'missed' END AS sla_status,
       CASE WHEN complete THEN completed_at END AS completed_at,
       CASE WHEN complete THEN extract(epoch FROM completed_at - deadline)::float8
            WHEN %(now)s >= deadline THEN extract(epoch FROM least(%(now)s, sla_end) - deadline)::float8 END,
       runs::int, done::int, running::int, failures::int, retries::int, missing::int, awaited::int,
       CASE WHEN complete THEN last_job ELSE first_open END AS critical_job_id
FROM g
"""

# kant_gate_ready's rule written by hand for the bench's gate (pipeline_0,
# every job scheduled): 2,000 calls in one statement, as for kant
HAND_GATE = """
SELECT count(*) FILTER (WHERE (
    SELECT count(*) > 0 AND bool_and(d.done)
    FROM (SELECT j.job_id,
                 bool_and(r.state IN ('succeeded', 'skipped')) FILTER (WHERE r.superseded_at IS NULL)
                 AND count(*) FILTER (WHERE r.attempt = 1 AND r.previous_external_id IS NULL)
                     >= (SELECT count(*) FROM kant.expected_run x
                         WHERE x.job_id = j.job_id AND x.business_date = %s::date - (i %% 2)) AS done
          FROM kant.job j JOIN kant.job_run r ON r.job_id = j.job_id AND r.business_date = %s::date - (i %% 2)
          WHERE j.pipeline = 'pipeline_0'
          GROUP BY j.job_id) d))
FROM generate_series(1, 2000) i
"""

KANT = """
SELECT slo_id, business_date, (v).* FROM (
    SELECT slo_id, business_date,
           kant.slo_eval(job_id, state, ended_at, is_current, due_at, deadline, sla_end, %(now)s) AS v
    FROM bench_input GROUP BY slo_id, business_date) s
"""


def main():
    print("SLO benchmark: %d hourly jobs in %d pipelines, one SLO each; history ends %s\n"
          % (JOBS, PIPELINES, LAST))
    small_days = RECENT
    large_days = max(RECENT, int(round(LARGE_RUNS / PER_DAY)))
    dbs = {}
    for name, days in (("small", small_days), ("large", large_days)):
        conn, cur, runs, gen = setup("kant_bench_slo_" + name, days)
        t_full, _ = timed(cur, "SELECT kant.refresh_slo(NULL, '-infinity')")
        cur.execute("SELECT count(*) FROM kant.slo_day")
        slo_days = cur.fetchone()[0]
        dbs[name] = dict(conn=conn, cur=cur, runs=runs, days=days, full=t_full, slo_days=slo_days)
        print("  %-5s %9d runs over %5d days (generated in %.0f s); full SLO evaluation: %d SLO-days in %.2f s"
              % (name, runs, days, gen, slo_days, t_full))

    print("\n1. Reading the views: the same recent data, history 100x larger (median of 5, all rows fetched)")
    queries = [
        ("bi_run_timeline, last 30 days",
         "SELECT * FROM kant.bi_run_timeline WHERE business_date > current_date - 31"),
        ("bi_slo_daily, last 365 days",
         "SELECT * FROM kant.bi_slo_daily WHERE business_date > current_date - 366"),
    ]
    results = {}
    for label, q in queries:
        s_t, s_n = median(dbs["small"]["cur"], q)
        l_t, l_n = median(dbs["large"]["cur"], q)
        results[label] = (s_t, l_t)
        print("  %-32s %8.3f s (%6d rows, %8d runs)   %8.3f s (%6d rows, %8d runs)   large/small %.2fx"
              % (label, s_t, s_n, dbs["small"]["runs"], l_t, l_n, dbs["large"]["runs"], l_t / s_t))

    print("\n1b. kant.run_checks(): the same last 3 days, history up to 1000x larger (after a first check, median of 5)")
    conn_t, cur_t, runs_t, _ = setup("kant_bench_slo_tiny", 3)
    dbs["tiny"] = dict(conn=conn_t, cur=cur_t, runs=runs_t)
    checks = {}
    for name in ("tiny", "small", "large"):
        c = dbs[name]["cur"]
        c.execute("SELECT * FROM kant.run_checks()")        # opens what is wrong now
        checks[name] = median(c, "SELECT * FROM kant.run_checks()")[0]
        c.execute("SELECT count(*) FROM kant.alert WHERE status = 'open'")
        dbs[name]["open"] = c.fetchone()[0]
    for name in ("tiny", "small", "large"):
        print("  kant.run_checks() with %8d runs: %7.3f s per check (%d alerts open)   vs %d runs: %.2fx"
              % (dbs[name]["runs"], checks[name], dbs[name]["open"], dbs["tiny"]["runs"],
                 checks[name] / checks["tiny"]))

    print("\n1c. kant.kant_gate_ready(): a gate on one pipeline (20 jobs), the same 3 days, history 10k / 100k / 10M runs")
    gate_times = {}
    for name in ("tiny", "small", "large"):
        c = dbs[name]["cur"]
        c.execute("SELECT kant.create_gate('bench_gate', pipeline => 'pipeline_0')")
        c.execute("SELECT kant.kant_gate_ready('bench_gate', %s)", (LAST,))
        is_open = c.fetchone()[0]
        # 2,000 calls in one statement (no round trips): the function's own cost
        t = median(c, "SELECT count(*) FILTER (WHERE kant.kant_gate_ready('bench_gate', %s::date - (i %% 2)))"
                      " FROM generate_series(1, 2000) i" % ("'%s'" % LAST), n=5)[0]
        gate_times[name] = t / 2000
        # the same rule written by hand, as one plain query a sensor could
        # poll: every scheduled job of the pipeline done (its current
        # attempts succeeded, as many runs as slots), no function calls
        t = median(c, HAND_GATE % (("'%s'" % LAST,) * 2), n=5)[0]
        dbs[name]["hand"] = t / 2000
    for name in ("tiny", "small", "large"):
        print("  kant_gate_ready() with %8d runs: %7.1f us a call   vs %d runs: %.2fx;"
              "   the rule by hand in plain SQL: %7.1f us (kant/hand %.2fx)"
              % (dbs[name]["runs"], gate_times[name] * 1e6, dbs["tiny"]["runs"], gate_times[name] / gate_times["tiny"],
                 dbs[name]["hand"] * 1e6, gate_times[name] / dbs[name]["hand"]))
    print("  (the gate is %s for %s)" % ("open" if is_open else "closed", LAST))
    # 8 sessions at once, as sensors poll: pgbench with a custom script
    import shutil
    import subprocess
    import tempfile
    pgbench = shutil.which("pgbench") or os.path.join(
        subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip(), "pgbench")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("SELECT kant.kant_gate_ready('bench_gate', '%s');\n" % LAST)
        script = f.name
    for name in ("tiny", "large"):
        out = subprocess.run([pgbench, "-n", "-c", "8", "-j", "2", "-T", "10", "-f", script,
                              "kant_bench_slo_" + name], capture_output=True, text=True).stdout
        tps = [l for l in out.splitlines() if l.startswith("tps")]
        lat = [l for l in out.splitlines() if l.startswith("latency average")]
        print("  pgbench, 8 sessions, 10 s, %8d runs: %s; %s" % (dbs[name]["runs"],
              tps[0].split("(")[0].strip() if tps else out.strip()[-200:], lat[0] if lat else ""))
    os.unlink(script)
    conn_t.close()

    print("\n2. One new day: incremental refresh vs full recompute (large)")
    cur = dbs["large"]["cur"]
    cur.execute("""SELECT json_agg(json_build_object('job', j.name, 'run_id', 'scheduled__' || %s || 'T' || h,
                       'state', 'success', 'business_date', %s::date,
                       'started_at', (%s::date + h * interval '1 hour' + interval '5 minutes')::timestamptz,
                       'ended_at', (%s::date + h * interval '1 hour' + interval '25 minutes')::timestamptz))
                   FROM kant.job j CROSS JOIN generate_series(0, 23) h""", (NEW, NEW, NEW, NEW))
    day = cur.fetchone()[0]
    t_ing, _ = timed(cur, "SELECT * FROM kant.ingest_reports('bench', %s::jsonb)", (json.dumps(day),))
    cur.execute("SELECT count(*) FROM kant.slo_dirty")
    dirty = cur.fetchone()[0]
    t_inc, n_inc = timed(cur, "SELECT kant.refresh_slo()")
    full = dbs["large"]["full"]
    print("  ingest %d runs of %s: %.2f s; queued %d (job, date) pairs" % (len(day), NEW, t_ing, dirty))
    print("  incremental kant.refresh_slo(): %d SLO-days in %.3f s;  full recompute: %d SLO-days in %.2f s;"
          "  incremental/full %.4fx" % (n_inc[0][0], t_inc, dbs["large"]["slo_days"], full, t_inc / full))

    print("\n3. kant.slo_eval vs plain SQL, same input rows (large, last 365 days, serial, median of 3)")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("""CREATE TEMP TABLE bench_input AS
        SELECT i.slo_id, i.business_date, i.job_id, i.state, i.ended_at, i.is_current, i.due_at,
               d.deadline, d.sla_end
        FROM kant.slo_day y
        CROSS JOIN LATERAL kant.slo_deadline(y.slo_id, y.business_date) d
        JOIN kant.slo_input i ON i.slo_id = y.slo_id AND i.business_date = y.business_date
        WHERE y.business_date > current_date - 366""")
    cur.execute("ANALYZE bench_input")
    cur.execute("SELECT count(*), count(DISTINCT (slo_id, business_date)) FROM bench_input")
    rows, groups = cur.fetchone()
    now = dt.datetime.now(dt.timezone.utc)
    t_k = statistics.median(timed(cur, KANT, dict(now=now))[0] for _ in range(3))
    t_p = statistics.median(timed(cur, PLAIN, dict(now=now))[0] for _ in range(3))
    cur.execute("CREATE TEMP TABLE a AS " + KANT, dict(now=now))
    cur.execute("CREATE TEMP TABLE b AS " + PLAIN, dict(now=now))
    cur.execute("SELECT (SELECT count(*) FROM (TABLE a EXCEPT TABLE b) x) + (SELECT count(*) FROM (TABLE b EXCEPT TABLE a) y)")
    differ = cur.fetchone()[0]
    cur.execute("SET max_parallel_workers_per_gather = 2")
    t_kp = statistics.median(timed(cur, KANT, dict(now=now))[0] for _ in range(3))
    print("  %d rows, %d SLO-days" % (rows, groups))
    print("  kant.slo_eval        %.3f s" % t_k)
    print("  plain SQL            %.3f s   plain/kant %.2fx" % (t_p, t_p / t_k))
    print("  kant.slo_eval, 2 parallel workers %.3f s" % t_kp)
    print("  verdicts that differ between the two: %d" % differ)


main()
