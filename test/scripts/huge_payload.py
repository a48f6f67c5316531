#!/usr/bin/python3
"""A 100 MB Glue payload is ingested without a memory blow-up.

The backend's private memory (RssAnon, sampled every 5 ms) is measured while
  - PostgreSQL merely parses the payload as jsonb (jsonb_in keeps a tree of the
    whole document: about 15x its size) - for comparison;
  - kant ingests it as jsonb: kant adds little on top of that parse;
  - kant ingests it as text (what a driver parameter resolves to): kant lexes
    the document and builds one record's jsonb at a time.
Prints TAP lines."""
import json
import os
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
from simulate import glue_bench_pages  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import rss_anon  # noqa: E402

MB = 1024 * 1024


def peak_during(conn, pid, sql, args):
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon(pid))
            time.sleep(0.005)
    t = threading.Thread(target=sample)
    t.start()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
    finally:
        done.set()
        t.join()
    return peak[0], row


def measure(sql, args=()):
    """Peak private memory of a fresh backend running sql (a backend keeps what
    malloc once had, so every measurement gets its own connection)."""
    conn = psycopg2.connect("")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET client_min_messages = warning")
        cur.execute("SELECT count(*) FROM kant.system WHERE name = 'huge'")
        if cur.fetchone()[0]:
            cur.execute("SELECT kant.drop_system('huge')")
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    idle = rss_anon(pid)
    peak, row = peak_during(conn, pid, sql, args)
    conn.close()
    return peak - idle, row


def main():
    target = int(os.environ.get("KANT_HUGE_MB", "100")) * MB
    runs = []
    size = 2
    for page in glue_bench_pages(400000, page_size=400000, jobs=50):
        for r in page["JobRuns"]:
            runs.append(r)
            size += len(json.dumps(r)) + 1
            if size >= target:
                break
        if size >= target:
            break
    payload = json.dumps({"JobRuns": runs})
    p = len(payload)
    n = len(runs)
    print("# payload: %.1f MB, %d runs" % (p / MB, n))

    conn = psycopg2.connect("")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS kant")
        cur.execute("DROP TABLE IF EXISTS kant_huge_landing")
        cur.execute("CREATE TABLE kant_huge_landing (body text)")
        cur.execute("INSERT INTO kant_huge_landing VALUES (%s)", (payload,))
    ingest = "SELECT r.received, r.inserted, r.rejected FROM kant.ingest_glue_job_runs('huge', %s) r"
    literal, _ = measure("SELECT length(%s)", (payload,))
    parse_jsonb, _ = measure("SELECT pg_column_size(%s::jsonb)", (payload,))
    read_table, _ = measure("SELECT length(body) FROM kant_huge_landing")
    as_jsonb, row_j = measure(ingest.replace("%s", "%s::jsonb"), (payload,))
    as_text, row_t = measure(ingest, (payload,))
    staged, row_s = measure("SELECT r.received, r.inserted, r.rejected FROM kant_huge_landing, "
                            "kant.ingest_glue_job_runs('huge', body) r")
    print("# backend private memory above idle (MB), %.0f MB payload:" % (p / MB))
    print("#   PostgreSQL alone: the SQL literal %.0f, parsed as jsonb %.0f, read from a table %.0f"
          % (literal / MB, parse_jsonb / MB, read_table / MB))
    print("#   kant: payload as jsonb %.0f, as a text literal %.0f, as text from a table %.0f"
          % (as_jsonb / MB, as_text / MB, staged / MB))
    ok = row_j == (n, n, 0) and row_t == (n, n, 0) and row_s == (n, n, 0)
    print("%s 1 - all %d runs of the 100 MB payload ingested, as jsonb, as text and from a table"
          % ("ok" if ok else "not ok", n))
    extra = as_jsonb - parse_jsonb
    print("%s 2 - payload as jsonb: kant adds %.0f MB to PostgreSQL's own jsonb parse (< 1x payload)"
          % ("ok" if extra < p else "not ok", extra / MB))
    extra = as_text - literal
    print("%s 3 - payload as a text literal: kant adds %.0f MB to receiving it (< 1x payload)"
          % ("ok" if extra < p else "not ok", extra / MB))
    ratio = staged / p
    print("%s 4 - payload as text from a table: peak %.2fx the payload (< 1.5x; jsonb parsing alone is %.1fx)"
          % ("ok" if ratio < 1.5 else "not ok", ratio, parse_jsonb / p))
    with conn.cursor() as cur:
        cur.execute("DROP TABLE kant_huge_landing")
        cur.execute("SELECT kant.drop_system('huge')")


if __name__ == "__main__":
    main()
