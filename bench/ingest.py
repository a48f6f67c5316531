#!/usr/bin/python3
"""Ingest benchmark: 1,000,000 Glue-shaped job runs, GetJobRuns pages of 200.

Measured side by side, in one run, on the same kant.job_run table and indexes
(truncated before each method, with a checkpoint):

  COPY              the normalised rows, streamed with COPY FROM STDIN: the limit
  hand-written      what a user would write per page: jsonb_array_elements +
                    jsonb_to_record ... INSERT ... ON CONFLICT DO UPDATE ... WHERE newer
                    (keeping each JobRun whole in details, as kant does)
  kant (jsonb)      kant.ingest_glue_job_runs(system, page) per page, page as jsonb
  kant (text)       the same, page as text (the overload drivers resolve to)
  kant re-ingest    every page again, nothing changed
  hand re-ingest    the hand-written upsert again, nothing changed

Pages are staged beforehand in a table (uncompressed), so every method reads
its input the same way; COPY reads a file of the rows kant produces.  Peak
backend private memory (RssAnon, sampled every 10 ms) is reported per method.
Environment: libpq variables; KANT_BENCH_RUNS (default 1000000).
"""
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "fakes"))
from simulate import glue_bench_pages  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "scripts"))
from taplib import rss_anon  # noqa: E402

N = int(os.environ.get("KANT_BENCH_RUNS", "1000000"))
JOBS = 1000
JST = dt.timezone(dt.timedelta(hours=9))

HANDWRITTEN = """
INSERT INTO kant.job_run AS r (job_id, external_id, attempt, business_date, bd_source, state, raw_state,
    started_at, ended_at, source_updated_at, error_message, previous_external_id, details,
    first_seen, last_seen, batch_id)
SELECT j.job_id, x."Id", coalesce(x."Attempt", 0) + 1,
       (to_timestamp(x."StartedOn") AT TIME ZONE 'Asia/Tokyo')::date, 's',
       x."JobRunState"::kant.run_state, x."JobRunState",
       to_timestamp(x."StartedOn"), to_timestamp(x."CompletedOn"), to_timestamp(x."LastModifiedOn"),
       x."ErrorMessage", x."PreviousRunId", e.rec, now(), now(), 0
FROM bench_pages p
CROSS JOIN LATERAL jsonb_array_elements(p.body -> 'JobRuns') AS e(rec)
CROSS JOIN LATERAL jsonb_to_record(e.rec) AS x(
    "Id" text, "Attempt" int, "JobName" text, "JobRunState" text, "StartedOn" float8,
    "CompletedOn" float8, "LastModifiedOn" float8, "ErrorMessage" text, "PreviousRunId" text)
JOIN kant.job j ON j.system_id = %(sys)s AND j.name = x."JobName"
WHERE p.n = %(n)s
ON CONFLICT (job_id, external_id, attempt) DO UPDATE SET
    state = excluded.state, raw_state = excluded.raw_state, ended_at = excluded.ended_at,
    source_updated_at = excluded.source_updated_at, error_message = excluded.error_message,
    details = excluded.details, last_seen = excluded.last_seen
WHERE excluded.source_updated_at > r.source_updated_at
   OR (kant.is_terminal(excluded.state) AND NOT kant.is_terminal(r.state))
"""


class Peak:
    def __init__(self, pid):
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def __enter__(self):
        self.base = rss_anon(self.pid)
        self.t = threading.Thread(target=self.run)
        self.t.start()
        return self

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_anon(self.pid))
            time.sleep(0.01)

    def __exit__(self, *a):
        self.done.set()
        self.t.join()


def ts(epoch):
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()


def copy_row(job_ids, r):
    bd = dt.datetime.fromtimestamp(r["StartedOn"], JST).date().isoformat()
    state = {"SUCCEEDED": "succeeded", "FAILED": "failed"}[r["JobRunState"]]
    cols = [str(job_ids[r["JobName"]]), r["Id"], str(r.get("Attempt", 0) + 1), bd, "s", state,
            r["JobRunState"], ts(r["StartedOn"]), ts(r["CompletedOn"]), ts(r["LastModifiedOn"]),
            "\\N", "\\N", json.dumps(r).replace("\\", "\\\\"), "now", "now", "0"]
    return "\t".join(cols) + "\n"


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION IF NOT EXISTS kant")
    cur.execute("SELECT count(*) FROM kant.system WHERE name = 'bench'")
    if cur.fetchone()[0] == 0:
        cur.execute("SELECT kant.add_system('bench', 'glue', 'Asia/Tokyo')")
    cur.execute("SELECT system_id FROM kant.system WHERE name = 'bench'")
    sys_id = cur.fetchone()[0]
    cur.execute("ALTER TABLE kant.job_run SET (autovacuum_enabled = false)")

    print("generating %d Glue runs in pages of 200 ..." % N, flush=True)
    t0 = time.time()
    cur.execute("DROP TABLE IF EXISTS bench_pages")
    cur.execute("CREATE TABLE bench_pages (n int PRIMARY KEY, body jsonb, body_text text)")
    cur.execute("ALTER TABLE bench_pages ALTER body SET STORAGE EXTERNAL, ALTER body_text SET STORAGE EXTERNAL")
    rows = tempfile.NamedTemporaryFile("w+", suffix=".tsv", delete=False)
    job_ids = {}
    pages = 0
    payload_bytes = 0
    batch = []
    for page in glue_bench_pages(N, page_size=200, jobs=JOBS):
        for r in page["JobRuns"]:
            if r["JobName"] not in job_ids:
                cur.execute("SELECT kant.configure_job('bench', %s)", (r["JobName"],))
                job_ids[r["JobName"]] = cur.fetchone()[0]
            rows.write(copy_row(job_ids, r))
        body = json.dumps(page)
        payload_bytes += len(body)
        batch.append((pages, body, body))
        pages += 1
        if len(batch) == 200:
            cur.executemany("INSERT INTO bench_pages VALUES (%s, %s, %s)", batch)
            batch = []
    if batch:
        cur.executemany("INSERT INTO bench_pages VALUES (%s, %s, %s)", batch)
    rows.flush()
    cur.execute("VACUUM ANALYZE bench_pages")
    print("  %d pages, %.0f MB of JSON, staged in %.0f s\n" % (pages, payload_bytes / 2**20, time.time() - t0),
          flush=True)

    def reset():
        cur.execute("TRUNCATE kant.job_run, kant.rejected, kant.ingest_batch")
        cur.execute("CHECKPOINT")

    def per_page(sql, params):
        for n in range(pages):
            cur.execute(sql, dict(params, n=n))

    results = []

    def run(name, fn, truncate=True):
        if truncate:
            reset()
        with Peak(pid) as pk:
            t = time.time()
            fn()
            secs = time.time() - t
        cur.execute("SELECT count(*) FROM kant.job_run")
        count = cur.fetchone()[0]
        results.append((name, secs, count, pk.peak - pk.base))
        print("  %-28s %8.1f s  %9d rows  peak +%5.0f MB" % (name, secs, count, (pk.peak - pk.base) / 2**20),
              flush=True)

    def copy():
        with open(rows.name) as f:
            cur.copy_expert("COPY kant.job_run (job_id, external_id, attempt, business_date, bd_source, state, "
                            "raw_state, started_at, ended_at, source_updated_at, error_message, "
                            "previous_external_id, details, first_seen, last_seen, batch_id) FROM STDIN", f)

    kant_jsonb = ("SELECT r.received FROM bench_pages p, kant.ingest_glue_job_runs('bench', p.body) r "
                  "WHERE p.n = %(n)s")
    kant_text = ("SELECT r.received FROM bench_pages p, kant.ingest_glue_job_runs('bench', p.body_text) r "
                 "WHERE p.n = %(n)s")
    run("COPY (the limit)", copy)
    run("hand-written upsert", lambda: per_page(HANDWRITTEN, {"sys": sys_id}))
    run("hand-written re-ingest", lambda: per_page(HANDWRITTEN, {"sys": sys_id}), truncate=False)
    run("kant, pages as jsonb", lambda: per_page(kant_jsonb, {}))
    run("kant re-ingest (unchanged)", lambda: per_page(kant_jsonb, {}), truncate=False)
    run("kant, pages as text", lambda: per_page(kant_text, {}))

    cur.execute("SELECT sum(inserted), sum(unchanged), sum(rejected) FROM kant.ingest_batch")
    print("  (last kant run: inserted, unchanged, rejected = %s)\n" % (cur.fetchone(),))
    t = {name: secs for name, secs, _, _ in results}
    copy_s = t["COPY (the limit)"]
    print("Ratios (time / time of COPY):")
    for name, secs, count, peak in results:
        print("  %-28s %5.2fx COPY   %9.0f runs/s" % (name, secs / copy_s, count / secs))
    print()
    print("kant (jsonb) vs COPY:                 %.2fx   (target <= 1.25x)" % (t["kant, pages as jsonb"] / copy_s))
    print("hand-written upsert vs kant (jsonb):  %.2fx   (target >= 1.3x)"
          % (t["hand-written upsert"] / t["kant, pages as jsonb"]))
    print("kant re-ingest vs kant first ingest:  %.2fx   (target < 1x)"
          % (t["kant re-ingest (unchanged)"] / t["kant, pages as jsonb"]))
    os.unlink(rows.name)


if __name__ == "__main__":
    main()
