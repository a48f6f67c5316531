#!/usr/bin/python3
"""Collection benchmark: 500 Glue jobs behind the fake Glue (every SigV4
signature verified), every answer 50 ms late, 10 runs a job.

Measured side by side in one run, each on an empty database:
  kant, default concurrency   kant.collect_glue with kant.http_max_parallel as shipped
  kant, one at a time         the same with kant.http_max_parallel = 1
and compared with the limit ceil(requests / concurrency) x latency.
Peak backend private memory (RssAnon) is reported for each.
Environment: libpq variables; KANT_BENCH_COLLECT_JOBS (default 500).
"""
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "fakes"))
sys.path.insert(0, os.path.join(HERE, "..", "test", "scripts"))
sys.path.insert(0, HERE)
from fake_glue import FakeGlue  # noqa: E402
from ingest import Peak  # noqa: E402
from taplib import fresh_db  # noqa: E402

JOBS = int(os.environ.get("KANT_BENCH_COLLECT_JOBS", "500"))
LATENCY = 0.05
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


class Data:
    """JOBS jobs with 10 nightly runs each, as GetJobRuns returns them."""

    def __init__(self):
        self.glue_runs = {}
        for j in range(JOBS):
            name = "bench_export_%03d" % j
            runs = []
            for d in range(10):
                start = 1763500000 + d * 86400 + j * 7
                runs.append({"Id": "jr_%03d_%02d" % (j, d), "Attempt": 0, "JobName": name,
                             "StartedOn": start, "LastModifiedOn": start + 600, "CompletedOn": start + 600,
                             "JobRunState": "SUCCEEDED", "ExecutionTime": 600, "WorkerType": "G.1X",
                             "NumberOfWorkers": 2, "GlueVersion": "4.0",
                             "TriggerName": "bench_nightly_0100"})
            runs.reverse()          # newest first
            self.glue_runs[name] = runs


def cpu_seconds(pid):
    """utime + stime of a process, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    glue = FakeGlue(secret_key=SECRET, data=Data()).start()
    glue.latency = LATENCY
    glue.page_size = 1000          # GetJobs: one page of 1000, as Glue allows
    # the fake checks every signature; validating every reply too (the tests do)
    # would make the fake, not kant, the bottleneck at 16 requests in flight
    glue.validate_replies = False
    print("Collection benchmark: %d Glue jobs, 10 runs each, the fake answers every request %d ms late\n"
          % (JOBS, LATENCY * 1000))
    results = {}
    for label, parallel in (("kant, default concurrency", None), ("kant, one request at a time", 1)):
        conn, cur = fresh_db("kant_bench_collect")
        cur.execute("CREATE EXTENSION kant")
        cur.execute("SELECT kant.add_system('bench', 'glue', 'UTC')")
        cur.execute("SELECT kant.set_endpoint('bench', %s, region => 'ap-northeast-1')", (glue.url("/"),))
        cur.execute("SELECT kant.set_credentials('bench', 'AKIDEXAMPLE', %s)", (SECRET,))
        if parallel:
            cur.execute("SET kant.http_max_parallel = %d" % parallel)
        cur.execute("SHOW kant.http_max_parallel")
        conc = int(cur.fetchone()[0])
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        with Peak(pid) as peak:
            b0, f0 = cpu_seconds(pid), time.process_time()
            t0 = time.perf_counter()
            cur.execute("SELECT requests, pages, runs_seen, sqlstate, error FROM kant.collect_glue('bench')")
            secs = time.perf_counter() - t0
            backend_cpu, fake_cpu = cpu_seconds(pid) - b0, time.process_time() - f0
        requests, pages, runs, sqlstate, error = cur.fetchone()
        if error:
            raise SystemExit("collection failed: %s" % error)
        limit = math.ceil(requests / conc) * LATENCY
        results[label] = secs
        print("  %-30s concurrency %2d: %4d requests, %4d runs in %6.2f s = %6.1f requests/s; "
              "limit %5.2f s, %.2fx the limit; peak memory +%.1f MB"
              % (label, conc, requests, runs, secs, requests / secs, limit, secs / limit,
                 (peak.peak - peak.base) / 1e6))
        print("  %-30s CPU: backend %.2f s (%.2f ms a request), fake Glue %.2f s (%.2f ms a request)"
              % ("", backend_cpu, backend_cpu * 1000 / requests, fake_cpu, fake_cpu * 1000 / requests))
        if parallel is None:
            # the hourly case: the same system again, nothing new since
            t0 = time.perf_counter()
            cur.execute("SELECT requests, runs_new, schedules, error FROM kant.collect_glue('bench')")
            again = time.perf_counter() - t0
            r2, new2, sched2, err2 = cur.fetchone()
            if err2:
                raise SystemExit("collection failed: %s" % err2)
            limit2 = math.ceil(r2 / conc) * LATENCY
            print("  %-30s concurrency %2d: %4d requests, %4d new runs, %d schedules changed in %6.2f s; "
                  "limit %5.2f s, %.2fx the limit"
                  % ("  again, nothing new", conc, r2, new2, sched2, again, limit2, again / limit2))
        conn.close()
    print("\n  default concurrency vs one at a time: %.1fx faster"
          % (results["kant, one request at a time"] / results["kant, default concurrency"]))
    print("  botocore verified %d signatures, %d bad" % (glue.good_signatures, glue.bad_signatures))
    glue.stop()


main()
