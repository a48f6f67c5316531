#!/usr/bin/python3
"""How kant.run_checks() grows with the number of jobs: 100, 1,000 and 10,000
jobs (in pipelines of 20, one SLO each, a daily schedule, dependencies along
each pipeline), 14 days of history and a night in progress (the checks run as of
03:00 UTC yesterday, whenever the bench runs): some jobs done, some running,
one pipeline in 10 failing.  Each size is its own database; the
time is the median of 5 checks after a first one (steady state: the alerts
are open).  Environment: libpq variables; KANT_BENCH_CHECK_JOBS (default
"100,1000,10000"); KANT_BENCH_CHECK_VERSION (an older kant version to
measure instead, e.g. 0.5.0)."""
import datetime as dt
import os
import statistics
import subprocess
import time

import psycopg2

SIZES = [int(x) for x in os.environ.get("KANT_BENCH_CHECK_JOBS", "100,1000,10000").split(",")]
# the checks look at yesterday 03:00 UTC (as_of), whatever the hour the
# bench runs: the same night in progress, the same alerts, every run
TODAY = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
NOW = dt.datetime.combine(TODAY, dt.time(3, 0), tzinfo=dt.timezone.utc)

GENERATE = """
INSERT INTO kant.job_run (job_id, external_id, attempt, business_date, bd_source, state, raw_state,
    started_at, ended_at, first_seen, last_seen, batch_id)
SELECT j.job_id, j.name || '-' || d, 1, d, 'r', st::kant.run_state, st, s, e, now(), now(), 0
FROM kant.job j
CROSS JOIN generate_series(%(today)s::date - 14, %(today)s::date, interval '1 day') g(day)
CROSS JOIN LATERAL (SELECT g.day::date AS d, (j.job_id - 1) %% 20 AS pos, j.job_id / 20 AS pipe) x
CROSS JOIN LATERAL (SELECT (d + interval '1 hour' + pos * interval '10 minutes')::timestamptz AS s) t
CROSS JOIN LATERAL (SELECT CASE
        WHEN s > %(now)s THEN NULL                              -- not started yet tonight
        WHEN s + interval '9 minutes' > %(now)s THEN 'running'
        WHEN d = %(today)s AND pipe %% 10 = 0 AND pos = 5 THEN 'failed'
        ELSE 'succeeded' END AS st) u
CROSS JOIN LATERAL (SELECT CASE WHEN u.st IN ('succeeded', 'failed') THEN s + interval '9 minutes' END AS e) v
WHERE u.st IS NOT NULL AND NOT (d = %(today)s AND pipe %% 10 = 0 AND pos > 5)
"""


def main():
    print("Checks benchmark: kant.run_checks() with 100 to 10,000 jobs (pipelines of 20), 14 days of history,"
          " tonight in progress\n")
    base = None
    for n in SIZES:
        db = "kant_bench_checks_%d" % n
        subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
        subprocess.run(["createdb", db], check=True)
        conn = psycopg2.connect(dbname=db)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        # KANT_BENCH_CHECK_VERSION=0.5.0 measures an older release the same way
        if os.environ.get("KANT_BENCH_CHECK_VERSION"):
            cur.execute("CREATE EXTENSION kant VERSION %s", (os.environ["KANT_BENCH_CHECK_VERSION"],))
        else:
            cur.execute("CREATE EXTENSION kant")
        cur.execute("SELECT kant.add_system('bench', 'manual', 'UTC')")
        cur.execute("""SELECT count(kant.configure_job('bench', 'job_' || i, pipeline => 'p' || (i / 20)))
                       FROM generate_series(1, %s) i""", (n,))
        cur.execute("""INSERT INTO kant.job_dependency (job_id, upstream_job_id)
                       SELECT j.job_id, u.job_id FROM kant.job j JOIN kant.job u
                       ON u.job_id = j.job_id - 1 AND u.pipeline = j.pipeline""")
        cur.execute("""SELECT count(kant.create_slo('slo_' || p, '06:00', deadline_offset_days => 0, time_zone => 'UTC',
                           pipeline => p, evaluate_from => %s))
                       FROM (SELECT DISTINCT pipeline AS p FROM kant.job) x""", (TODAY - dt.timedelta(days=14),))
        cur.execute("""SELECT count(kant.set_schedule('bench', '0 1 * * *', pipeline => p, grace => '8 hours',
                           active_from => %s))
                       FROM (SELECT DISTINCT pipeline AS p FROM kant.job) x""", (TODAY - dt.timedelta(days=14),))
        cur.execute(GENERATE, dict(today=TODAY, now=NOW))
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT count(*) FROM kant.job_run")
        runs = cur.fetchone()[0]
        cur.execute("SELECT * FROM kant.run_checks(%s)", (NOW,))
        first = cur.fetchone()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            cur.execute("SELECT * FROM kant.run_checks(%s)", (NOW,))
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        base = base or (n, t)
        print("  %6d jobs, %7d runs: %3d alerts open; kant.run_checks() %7.3f s (%.2f ms per job)   vs %d jobs: %.1fx time for %.0fx jobs"
              % (n, runs, first[2], t, t * 1000 / n, base[0], t / base[1], n / base[0]))
        conn.close()


main()
