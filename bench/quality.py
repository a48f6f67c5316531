#!/usr/bin/python3
"""Data-quality checks for 1,000 datasets evaluated in one pass
(kant.evaluate_checks over the 7 days up to as_of), with a short and a long
history: about 10,000 stored results (a week; 9 weeks of metrics, what a
volume check reads) against about 1,000,000 (500 days of verdicts, with the
metrics they were judged on).  The pass should
not grow with the history: every measurement and earlier verdict is a key
lookup.  Each history is its own database; the time is the median of 5
passes after a first one (steady state: nothing changes, nothing is written).
Beside it, the same verdicts written the way a user would by hand (one SQL
statement per check with its own lookups) for the threshold checks, as a
floor to compare with.  Environment: libpq variables; KANT_BENCH_DQ_DATASETS
(default 1000)."""
import os
import statistics
import subprocess
import time

import psycopg2

DATASETS = int(os.environ.get("KANT_BENCH_DQ_DATASETS", "1000"))
AS_OF = "2026-06-30T03:00:00Z"      # a fixed night: the same data whatever day the bench runs
LAST = "2026-06-29"


def setup(cur, metric_days, history_days):
    cur.execute("CREATE EXTENSION kant")
    # half the datasets are sources (rds.*), half targets (bq.*): each target has a
    # threshold, a reconciliation with its source and a volume check; each source a threshold
    cur.execute("""SELECT count(kant.add_dataset(s || '.t' || i, 'Asia/Tokyo'))
                   FROM generate_series(1, %s) i, (VALUES ('rds'), ('bq')) v(s)""", (DATASETS // 2,))
    cur.execute("""SELECT count(kant.check_threshold(d.name || ' not empty', d.name, 'row_count', '>', 0))
                   FROM kant.dataset d""")
    cur.execute("""SELECT count(kant.check_reconciliation(d.name || ' arrived', d.name,
                           'rds' || substr(d.name, 3), tolerance_ratio => 0.001))
                   FROM kant.dataset d WHERE d.name LIKE 'bq.%'""")
    cur.execute("""SELECT count(kant.check_volume(d.name || ' volume', d.name))
                   FROM kant.dataset d WHERE d.name LIKE 'bq.%'""")
    # the metrics of every day of the history, measured the morning after
    cur.execute("""INSERT INTO kant.dq_metric (dataset_id, business_date, metric, value, measured_at, source, reported_by)
                   SELECT d.dataset_id, day, 'row_count',
                          10000 + (d.dataset_id * 7 + (%s::date - day)) %% 100
                                - CASE WHEN d.name LIKE 'bq.%%' AND (%s::date - day) %% 97 = 0 THEN 300 ELSE 0 END,
                          day + interval '1 day 1 hour', 'push', 'bench'
                   FROM kant.dataset d, generate_series(%s::date - %s, %s::date, interval '1 day') g(t),
                        LATERAL (SELECT t::date AS day) x""", (LAST, LAST, LAST, metric_days - 1, LAST))
    # the verdicts of the days before the evaluated week, as earlier passes kept them
    cur.execute("""INSERT INTO kant.dq_result (check_id, business_date, evaluated_at, status, observed, expected)
                   SELECT c.check_id, g.t::date, g.t + interval '1 day 2 hours', 'pass', 10000, '> 0'
                   FROM kant.dq_check c,
                        generate_series(%s::date - %s, %s::date - 7, interval '1 day') g(t)""",
                (LAST, history_days - 1, LAST))
    cur.execute("VACUUM ANALYZE")


HAND = """
SELECT c.name, b.d, CASE WHEN m.value > c.threshold THEN 'pass' ELSE 'fail' END
FROM kant.dq_check c
CROSS JOIN generate_series(%s::date - 6, %s::date, interval '1 day') b0
CROSS JOIN LATERAL (SELECT b0::date AS d) b
JOIN kant.dq_metric m ON m.dataset_id = c.dataset_id AND m.business_date = b.d AND m.metric = c.metric
WHERE c.kind = 'threshold'
"""


def main():
    print("Data-quality benchmark: kant.evaluate_checks() over 7 days for %d datasets (%s), history of 9 weeks vs 16 months\n"
          % (DATASETS, "thresholds, reconciliations, volume anomalies"))
    rows = []
    # the short history still has the 8 weeks a volume check reads, so both judge the same
    for label, mdays, days in (("short", 63, 7), ("long", 500, 500)):
        db = "kant_bench_dq_%s" % label
        subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
        subprocess.run(["createdb", db], check=True)
        conn = psycopg2.connect(dbname=db)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        setup(cur, mdays, days)
        cur.execute("SELECT count(*) FROM kant.dq_check")
        checks = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM kant.dq_metric")
        metrics = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM kant.evaluate_checks(%s::date - 6, %s::date, %s)", (LAST, LAST, AS_OF))
        verdicts = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM kant.dq_result")
        results = cur.fetchone()[0]
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            cur.execute("SELECT count(*) FROM kant.evaluate_checks(%s::date - 6, %s::date, %s)", (LAST, LAST, AS_OF))
            cur.fetchone()
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        hand = []
        for _ in range(5):
            t0 = time.perf_counter()
            cur.execute(HAND, (LAST, LAST))
            cur.fetchall()
            hand.append(time.perf_counter() - t0)
        h = statistics.median(hand)
        rows.append((label, mdays, checks, metrics, results, verdicts, t, h))
        conn.close()
        subprocess.run(["dropdb", db], check=True)
    for label, days, checks, metrics, results, verdicts, t, h in rows:
        print("  %-5s history (%3d days): %5d checks, %8d metrics, %8d stored results -> %6d verdicts per pass:"
              " %6.3f s (%.1f us per verdict); hand-written threshold-only join %.3f s"
              % (label, days, checks, metrics, results, verdicts, t, t * 1e6 / verdicts, h))
    s, l = rows[0], rows[1]
    print("\n  long / short history: %.0fx the stored results, %.2fx the time per pass" % (l[4] / s[4], l[6] / s[6]))


main()
