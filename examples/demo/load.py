#!/usr/bin/python3
"""Ingest a simulated month of HEGEL (Glue) and SOCRATES (Composer) through kant's
real ingestion functions, page by page as the APIs return them, then once more
to show that re-ingesting changes nothing.  Connection: libpq environment."""
import json
import os
import sys
import time

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "fakes"))
from simulate import platform  # noqa: E402

SETUP = """
CREATE EXTENSION IF NOT EXISTS kant;
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL',
    description => 'AWS Glue: RDS exports to S3 (ap-northeast-1)',
    bd_argument => '--business_date', bd_offset_days => -1, default_pipeline => 'hegel_nightly');
SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES',
    description => 'Cloud Composer 2: S3 -> GCS -> BigQuery', default_pipeline => 'socrates_daily');
"""


def ingest(cur, fn, system, pages):
    totals = dict(payloads=0, received=0, inserted=0, updated=0, unchanged=0, rejected=0)
    for page in pages:
        cur.execute("SELECT received, inserted, updated, unchanged, rejected FROM kant.%s(%%s, %%s::jsonb)" % fn,
                    (system, json.dumps(page)))
        r = cur.fetchone()
        totals["payloads"] += 1
        for k, v in zip(("received", "inserted", "updated", "unchanged", "rejected"), r):
            totals[k] += v
    return totals


def show(label, system, t, secs):
    print("  %-9s %-8s %4d payloads %6d records: %6d inserted %5d updated %6d unchanged %3d rejected  (%.2f s)"
          % (label, system, t["payloads"], t["received"], t["inserted"], t["updated"], t["unchanged"],
             t["rejected"], secs))


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'kant'")
    if cur.fetchone()[0] == 0:
        cur.execute(SETUP)
    p = platform()
    print("Simulated %d business dates from %s: %d Glue job runs (40 jobs), %d Airflow task instances (60 tasks)."
          % (p.days, p.start, sum(len(r) for r in p.glue_runs.values()), len(p.task_instances)))
    print("%s never started on %s; %d malformed records are in the feed.\n"
          % (p.never_started[0], p.never_started[1], p.malformed))
    for label in ("ingest", "re-ingest"):
        t0 = time.time()
        t = ingest(cur, "ingest_glue_job_runs", "hegel", p.glue_pages())
        show(label, "HEGEL", t, time.time() - t0)
        t0 = time.time()
        t = ingest(cur, "ingest_airflow_task_instances", "socrates", p.airflow_pages())
        show(label, "SOCRATES", t, time.time() - t0)
    seen = set()
    print()
    for n in conn.notices:
        line = n.strip().splitlines()[0]
        if line not in seen:
            seen.add(line)
            print("  server said: " + line)


if __name__ == "__main__":
    main()
