#!/usr/bin/python3
"""Hand-off benchmark (issue 16): how long after the last upstream Glue success
does the downstream DAG's dagRuns POST reach Airflow, with kant run by real
pg_cron on the README's setup (its schedules as they are, no tuning), and how
many Glue requests per hour that costs.

A simulated night on the real clock (test/fakes/night.py): the fake Glue
serves 300 jobs whose runs end over 40 minutes (STARTING / RUNNING until their
planned end, then SUCCEEDED; a few first attempts fail and Glue's retry
succeeds), ten earlier nights of each (so kant.job_durations has a history)
and the SCHEDULED triggers (cron in UTC) that start them, so kant expects
every run.  Several gates wait each on a different subset of the jobs; each
gate's last success falls at a different second of its minute, so each gate
is an independent sample of the delay.  Each gate triggers its own DAG on the
fake Airflow (REST API v1, as Cloud Composer 2).

Measured, per gate: the delay from the planned CompletedOn of the gate's
last job (as the fake Glue reports it) to the arrival of its dagRuns POST at
the fake Airflow; the median and the max, target <= 120 s.  The Glue requests
the fake received from the night's start to the last trigger, by operation,
per hour, against two baselines measured in the same run: the hourly sweep
alone (one kant.collect_glue of every job = N requests an hour) and polling
everything every minute (60 N an hour).

It takes over the database pg_cron runs in (cron.database_name): kant is
dropped and created there and kant's pg_cron jobs replaced; make bench runs it
in a throwaway cluster (bench/run.sh).  The schedules are the statements of the
README block after the line <!-- kant-setup-schedules -->, run as written.

Environment: libpq variables (a superuser); KANT_BENCH_NIGHT_MINUTES (default
40), KANT_BENCH_HANDOFF_JOBS (300), KANT_BENCH_HANDOFF_GATES (8),
KANT_BENCH_HANDOFF_WAIT_MINUTES (65: how long after the last gate's last
success to wait for its POST before calling it missed), KANT_BENCH_HANDOFF_LATENCY
(0.05 s added to every answer of both fakes), KANT_BENCH_HANDOFF_SETUP (a file
of SQL to run instead of the README's block: other schedules, for comparison).
"""
import datetime as dt
import os
import re
import statistics
import sys
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "test", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402
from fake_glue import FakeGlue  # noqa: E402
from night import handoff_night  # noqa: E402

MINUTES = float(os.environ.get("KANT_BENCH_NIGHT_MINUTES", "40"))
JOBS = int(os.environ.get("KANT_BENCH_HANDOFF_JOBS", "300"))
GATES = int(os.environ.get("KANT_BENCH_HANDOFF_GATES", "8"))
WAIT = float(os.environ.get("KANT_BENCH_HANDOFF_WAIT_MINUTES", "65")) * 60
LATENCY = float(os.environ.get("KANT_BENCH_HANDOFF_LATENCY", "0.05"))
TARGET = 120.0
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
MARKER = "<!-- kant-setup-schedules -->"
UTC = dt.timezone.utc


class NoRuns:
    """The fake Airflow's data: no DAG has run (the downstream DAGs exist
    only as the targets of kant's POSTs)."""
    task_instances = []


def readme_setup():
    """The README's setup block: the fenced block after MARKER, as written
    (or the file KANT_BENCH_HANDOFF_SETUP names, to compare other schedules)."""
    if os.environ.get("KANT_BENCH_HANDOFF_SETUP"):
        return open(os.environ["KANT_BENCH_HANDOFF_SETUP"]).read()
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(re.escape(MARKER) + r"\s*```\w*\n(.*?)```", text, re.S)
    if not m:
        raise SystemExit("README.md has no block after %s: the setup this benchmark runs" % MARKER)
    return m.group(1)


def zone_for(mid):
    """A zone in which the night is around noon (Etc/GMT-N is N hours east):
    its business date is one local day, whenever the benchmark runs."""
    hours = 12 - dt.datetime.fromtimestamp(mid, UTC).hour
    if hours > 14:
        hours -= 24
    if hours < -12:
        hours += 24
    name = "UTC" if hours == 0 else "Etc/GMT%+d" % -hours
    return name, dt.timedelta(hours=hours)


def hms(epoch):
    return dt.datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def main():
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("SHOW cron.database_name")
    except psycopg2.Error:
        raise SystemExit("pg_cron is not loaded (shared_preload_libraries = 'pg_cron')")
    cron_db = cur.fetchone()[0]
    cur.execute("SELECT current_setting('cron.use_background_workers'), current_setting('cron.max_running_jobs')")
    bgw, max_jobs = cur.fetchone()
    conn.close()
    conn = psycopg2.connect(dbname=cron_db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    cur.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'kant-%'")
    cur.execute("DROP EXTENSION IF EXISTS kant CASCADE")
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
    cron_version = cur.fetchone()[0]
    setup = readme_setup()

    # the night starts at the first minute at least 75 s away (the setup's time)
    t0 = (int(time.time() + 75) // 60 + 1) * 60
    span = MINUTES * 60
    zone, offset = zone_for(t0 + span / 2)
    bd = (dt.datetime.fromtimestamp(t0, UTC) + offset).date()
    night, gates = handoff_night(t0, jobs=JOBS, minutes=MINUTES, gates=GATES)
    glue = FakeGlue(secret_key=SECRET, data=night).start()
    airflow = FakeAirflow(version="v1", data=NoRuns()).start()
    glue.latency = airflow.latency = LATENCY
    # the fake checks every signature; replies are checked against botocore's
    # model by test/scripts/night_fake.py (here it would add ~5 ms a reply)
    glue.validate_replies = False
    first_start = min(r.start for r in night.runs() if r.start > t0 - 3600)
    last_end = max(r.end for r in night.runs())
    print("Hand-off benchmark: %d Glue jobs ending over %g minutes (%s-%s UTC, business date %s in %s), "
          "%d gates, pg_cron %s (%s, cron.max_running_jobs %s), every answer %d ms late"
          % (JOBS, MINUTES, hms(first_start), hms(last_end), bd, zone, GATES, cron_version,
             "background workers" if bgw == "on" else "libpq connections", max_jobs, LATENCY * 1000))

    cur.execute("SELECT kant.add_system('hegel', 'glue', %s)", (zone,))
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1')", (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    cur.execute("SELECT kant.add_system('socrates', 'airflow', %s)", (zone,))
    cur.execute("SELECT kant.set_endpoint('socrates', %s)", (airflow.url(""),))
    cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
    # the history (earlier nights) and the triggers
    cur.execute("SELECT requests, runs_new, schedules, error FROM kant.collect_glue('hegel')")
    req0, new0, sched0, err = cur.fetchone()
    if err:
        raise SystemExit("the first collection failed: %s" % err)
    # one sweep of every job, as the hourly collection makes it: the baselines
    n0 = len(glue.requests)
    cur.execute("SELECT requests, error FROM kant.collect_glue('hegel')")
    sweep_kant, err = cur.fetchone()
    if err:
        raise SystemExit("the sweep failed: %s" % err)
    sweep_ops = {}
    for q in glue.requests[n0:]:
        sweep_ops[q["target"][8:]] = sweep_ops.get(q["target"][8:], 0) + 1
    sweep = sum(sweep_ops.values())
    cur.execute("SELECT error FROM kant.collect_airflow('socrates')")
    if cur.fetchone()[0]:
        raise SystemExit("the Airflow collection failed")
    for g in gates:
        cur.execute("SELECT kant.create_gate(%s, jobs => %s, downstream_system => 'socrates', downstream_dag => %s)",
                    (g["name"], ["hegel/" + j for j in g["jobs"]], g["dag"]))
    # every job of tonight is expected (the triggers), no gate is open yet
    cur.execute("SELECT count(DISTINCT job_id) FROM kant.expected_run WHERE business_date = %s", (bd,))
    expected = cur.fetchone()[0]
    cur.execute("SELECT count(*) FILTER (WHERE kant.kant_gate_ready(name, %s)) FROM kant.gate", (bd,))
    open_early = cur.fetchone()[0]
    cur.execute("SELECT count(*), sum(samples) FROM kant.job_durations(ARRAY(SELECT job_id FROM kant.job))")
    with_history, samples = cur.fetchone()
    if expected != JOBS or open_early:
        raise SystemExit("setup: %d of %d jobs expected on %s, %d gates open before the night"
                         % (expected, JOBS, bd, open_early))
    print("  setup: %d runs of earlier nights, %d schedules (Glue triggers), %d jobs expected tonight, "
          "durations of %d jobs from %d runs" % (new0, sched0, expected, with_history, samples))
    cur.execute(setup)
    cur.execute("SELECT jobid, jobname, schedule FROM cron.job WHERE jobname LIKE 'kant-%' ORDER BY jobname")
    cron_jobs = cur.fetchall()
    print("  the README's setup made the pg_cron jobs %s" % ", ".join("%s (%s)" % j[1:] for j in cron_jobs))
    start = time.time()
    if start > first_start:
        raise SystemExit("the setup took until %s, after the night's first start %s" % (hms(start), hms(first_start)))
    # the night's requests: from its start (t0; the first trigger fires a minute later) to the last trigger
    window0 = max(t0, start)

    # the night: wait for every gate's POST
    posted = {}
    deadline = max(g["last_end"] for g in gates) + WAIT
    next_note = time.time() + 300
    while time.time() < deadline and len(posted) < len(gates):
        time.sleep(1)
        with airflow.lock:
            posts = [q for q in airflow.requests if q.get("method") == "POST"]
        for g in gates:
            if g["name"] in posted:
                continue
            path = "/api/v1/dags/%s/dagRuns" % g["dag"]
            hit = [q["at"] for q in posts if q["path"] == path]
            if hit:
                posted[g["name"]] = min(hit)
        if time.time() > next_note:
            next_note += 300
            print("  ... %s UTC: %d of %d runs ended, %d of %d gates triggered"
                  % (hms(time.time()), sum(1 for r in night.runs() if r.end <= time.time()),
                     len(night.runs()), len(posted), len(gates)), flush=True)
    window1 = max(posted.values()) if len(posted) == len(gates) else time.time()

    print("\n  %-16s %-40s %12s %14s %9s" % ("gate", "last upstream success (its job)", "POST arrived",
                                            "delay", "jobs"))
    delays = []
    for g in gates:
        t = posted.get(g["name"])
        d = t - g["last_end"] if t else None
        if d is not None:
            delays.append(d)
        print("  %-16s %s (:%05.2f) %-20s %12s %14s %9d"
              % (g["name"], hms(g["last_end"]), g["last_end"] % 60, g["last_job"],
                 hms(t) if t else "-", ("%.1f s" % d) if d is not None else "not in %d min" % (WAIT / 60),
                 len(g["jobs"])))
    early = [d for d in delays if d < 0]
    missed = len(gates) - len(delays)
    if delays and not missed:
        med, mx = statistics.median(delays), max(delays)
        verdict = "meets" if mx <= TARGET and not early else "misses"
        print("\n  delay over %d gates: median %.1f s, max %.1f s (target <= %d s: %s)"
              % (len(delays), med, mx, TARGET, verdict))
    else:
        print("\n  delay: %d of %d gates not triggered within %d minutes of their last success%s"
              % (missed, len(gates), WAIT / 60,
                 "; the others: median %.1f s, max %.1f s" % (statistics.median(delays), max(delays)) if delays else ""))
    if early:
        print("  ERROR: %d gates triggered before their last upstream success" % len(early))

    # Glue requests in the night: from the end of the setup to the last trigger
    hours = (window1 - window0) / 3600
    with glue.lock:
        night_reqs = [q for q in glue.requests if window0 <= q["at"] <= window1]
    ops = {}
    for q in night_reqs:
        ops[q["target"][8:]] = ops.get(q["target"][8:], 0) + 1
    total = len(night_reqs)
    print("\n  Glue requests from %s to %s UTC (%.1f min), by operation (the fake's log):"
          % (hms(window0), hms(window1), hours * 60))
    for op in sorted(set(ops) | set(sweep_ops)):
        print("    %-14s %6d   %8.0f an hour   (one sweep: %d)" % (op, ops.get(op, 0), ops.get(op, 0) / hours,
                                                                  sweep_ops.get(op, 0)))
    rate = total / hours
    print("    %-14s %6d   %8.0f an hour" % ("all", total, rate))
    print("\n  %-46s %14s %16s" % ("Glue requests an hour", "", "measured / it"))
    print("  %-46s %14.0f %15.2fx" % ("kant with the README's setup (measured)", rate, 1.0))
    print("  %-46s %14d %15.2fx" % ("hourly sweep only (one sweep)", sweep, rate / sweep))
    print("  %-46s %14d %15.2fx" % ("poll everything every minute (60 sweeps)", 60 * sweep, rate / (60 * sweep)))
    print("  (one sweep: %d requests in the fake's log, %d in kant.collection)" % (sweep, sweep_kant))

    # what pg_cron ran meanwhile
    cur.execute("""
        SELECT j.jobname, count(d.runid), count(d.runid) FILTER (WHERE d.status <> 'succeeded'),
               max(extract(epoch FROM d.end_time - d.start_time)), avg(extract(epoch FROM d.end_time - d.start_time))
        FROM unnest(%s::bigint[], %s::text[]) AS j(jobid, jobname)
        LEFT JOIN cron.job_run_details d
          ON d.jobid = j.jobid AND d.start_time BETWEEN to_timestamp(%s) AND to_timestamp(%s)
        GROUP BY 1 ORDER BY 1""", ([j[0] for j in cron_jobs], [j[1] for j in cron_jobs], window0, window1))
    rows = cur.fetchall()
    print("\n  pg_cron runs in that time (cron.job_run_details):")
    for name, n, bad, mx, avg in rows:
        print("    %-28s %4d runs, %d not succeeded, %6.2f s max, %6.2f s mean" % (name, n, bad, mx or 0, avg or 0))
    cur.execute("""
        SELECT count(*), coalesce(sum(requests), 0), count(*) FILTER (WHERE error IS NOT NULL)
        FROM kant.collection c JOIN kant.system s USING (system_id)
        WHERE s.name = 'hegel' AND c.started_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)""", (window0, window1))
    n, reqs, errs = cur.fetchone()
    print("  kant.collection of hegel in that time: %d collections, %d requests, %d with an error" % (n, reqs, errs))
    print("  botocore verified %d signatures, %d bad" % (glue.good_signatures, glue.bad_signatures))
    glue.stop()
    airflow.stop()
    conn.close()
    if early:
        sys.exit(1)


def unschedule():
    """Remove kant's pg_cron jobs (also when the benchmark is interrupted)."""
    try:
        conn = psycopg2.connect(dbname="postgres")
        cur = conn.cursor()
        cur.execute("SHOW cron.database_name")
        db = cur.fetchone()[0]
        conn.close()
        conn = psycopg2.connect(dbname=db)
        conn.autocommit = True
        conn.cursor().execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'kant-%'")
        conn.close()
    except psycopg2.Error:
        pass


try:
    main()
finally:
    unschedule()
