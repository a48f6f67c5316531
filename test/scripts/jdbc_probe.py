#!/usr/bin/python3
"""Tableau's driver reads the bi_ views: pgjdbc (Debian's libpostgresql-jdbc-java)
sees only plain column types in every bi_ view, through DatabaseMetaData and
ResultSetMetaData, and every value is the same whether the JVM runs in UTC or in
Asia/Tokyo.  A control view with a timestamptz and an interval column shows the
probe does catch both.  Prints TAP lines."""
import os
import sys
import subprocess

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

DB = "kant_jdbc"
HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "..", "jdbc", "BiProbe.java")
JAR = "/usr/share/java/postgresql.jar"



def sql(statements):
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    for s in statements:
        cur.execute(s)
    conn.close()


def probe(zone):
    out = subprocess.run(["java", "-Duser.timezone=" + zone, "-cp", JAR, PROBE, DB],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("not ok - java probe failed under %s: %s" % (zone, out.stderr[-2000:]))
    return out.stdout.splitlines()


def load():
    """Nine nights of HEGEL (Glue) and SOCRATES (Composer) ending the day before
    yesterday, a failure recovered by a retry, a night on which a scheduled job
    never ran, and the two systems' SLOs."""
    s = [
        "CREATE EXTENSION kant",
        "SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL')",
        "SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES')",
        "SELECT kant.configure_job('hegel', 'export_users', pipeline => 'hegel_nightly')",
        "SELECT kant.configure_job('hegel', 'export_orders', pipeline => 'hegel_nightly')",
        "SELECT kant.configure_job('socrates', 'socrates_daily.load', pipeline => 'socrates_daily')",
        """SELECT kant.set_schedule('hegel', 'cron(0 17 * * ? *)', pipeline => 'hegel_nightly',
              grace => '1 hour', active_from => current_date - 10)""",
    ]
    for d in range(10, 1, -1):
        for job, start, minutes, sysname in (("export_users", "02:00", 40, "hegel"),
                                             ("export_orders", "02:10", 55, "hegel"),
                                             ("socrates_daily.load", "04:30", 50, "socrates")):
            if job == "export_orders" and d == 6:
                continue        # the trigger never fired
            started = "(current_date - %d + time '%s') AT TIME ZONE 'Asia/Tokyo'" % (d, start)
            ended = "%s + interval '%d minutes'" % (started, minutes + (d % 3) * 17)
            attempts = [("failed", 1), ("success", 2)] if (job == "export_users" and d == 4) else [("success", 1)]
            for state, attempt in attempts:
                s.append("""SELECT kant.report_run(system => '%s', job => '%s', run_id => 'run-%d',
                    attempt => %d, state => '%s', business_date => current_date - %d,
                    started_at => %s + interval '%d minutes', ended_at => %s + interval '%d minutes')"""
                         % (sysname, job, d, attempt, state, d, started, (attempt - 1) * 60,
                            ended, (attempt - 1) * 60))
    s += [
        """SELECT kant.create_slo('hegel_nightly', '04:00', deadline_offset_days => 0,
              pipeline => 'hegel_nightly', evaluate_from => current_date - 10)""",
        """SELECT kant.create_slo('socrates_daily', '06:00', deadline_offset_days => 0,
              pipeline => 'socrates_daily', evaluate_from => current_date - 10)""",
        "SELECT kant.refresh_slo()",
        # data quality: RDS against BigQuery, one night 2% short
        "SELECT kant.add_dataset('rds.users', 'Asia/Tokyo'), kant.add_dataset('bq.users', 'Asia/Tokyo')",
        """SELECT kant.report_metric('rds.users', current_date - d, 'row_count', 10000 + d,
              measured_at => (current_date - d + 1)::timestamp AT TIME ZONE 'UTC'),
                 kant.report_metric('bq.users', current_date - d, 'row_count',
                                    CASE WHEN d = 5 THEN 9800 + d ELSE 10000 + d END,
              measured_at => (current_date - d + 1)::timestamp AT TIME ZONE 'UTC')
           FROM generate_series(2, 10) d""",
        "SELECT kant.check_reconciliation('users arrived', 'bq.users', 'rds.users')",
        "SELECT kant.check_threshold('bq users not empty', 'bq.users', 'row_count', '>', 0)",
        "SELECT count(*) FROM kant.evaluate_checks(current_date - 10, current_date - 2)",
    ]
    sql(s)


def main():
    fresh_db(DB)[0].close()
    load()

    utc, tokyo = probe("UTC"), probe("Asia/Tokyo")
    views = [l for l in utc if l.startswith("views ")][0][len("views ["):-1].split(", ")
    expected = {"bi_data_dictionary", "bi_job_duration", "bi_run_timeline", "bi_slo_attainment",
                "bi_slo_daily", "bi_dq_daily", "bi_dq_reconciliation"}
    tap(expected <= set(views), "pgjdbc lists the bi_ views: %s" % ", ".join(views))
    bad = [l for l in utc if l.startswith("BAD")]
    columns = [l for l in utc if l.startswith("column ")]
    tap(not bad and len(columns) > 50,
        "all %d columns are BIGINT, INTEGER, DOUBLE, NUMERIC(p,s), VARCHAR, DATE or TIMESTAMP "
        "in getColumns and ResultSetMetaData" % len(columns), "\n".join(bad))
    rows = {l.split()[1]: int(l.split()[2]) for l in utc if l.startswith("rows ")}
    tap(all(rows.get(v, 0) > 0 for v in expected), "every bi_ view returns rows: %s" % rows)
    conn = psycopg2.connect(dbname=DB)
    cur = conn.cursor()
    cur.execute("SELECT (current_date - 6)::text")
    night = cur.fetchone()[0]
    conn.close()
    missing = [l for l in utc if l.startswith("row bi_run_timeline") and "| missing |" in l
               and "| export_orders | %s |" % night in l]
    tap(len(missing) == 1, "the night the trigger did not fire (%s) is a missing row in "
        "bi_run_timeline" % night, "\n".join(l for l in utc if "| missing |" in l))
    diff = [(a, b) for a, b in zip(utc, tokyo) if a != b]
    tap(utc == tokyo and sum(1 for l in utc if l.startswith("row ")) > 40,
        "every value is the same with -Duser.timezone=UTC and -Duser.timezone=Asia/Tokyo "
        "(%d rows)" % sum(1 for l in utc if l.startswith("row ")),
        "\n".join("UTC:   %s\nTokyo: %s" % d for d in diff[:5]))

    # the Tableau examples users paste run, and the data source names real views
    tableau = os.path.join(HERE, "..", "..", "examples", "tableau")
    conn = psycopg2.connect(dbname=DB)
    cur = conn.cursor()
    for f in sorted(os.listdir(tableau)):
        if f.endswith(".sql"):
            try:
                cur.execute(open(os.path.join(tableau, f)).read())
                got = len(cur.fetchall())
                tap(got > 0, "examples/tableau/%s runs and returns rows (%d)" % (f, got))
            except psycopg2.Error as e:
                conn.rollback()
                tap(False, "examples/tableau/%s runs" % f, str(e))
    import xml.etree.ElementTree as ET
    tables = [r.get("table") for r in ET.parse(os.path.join(tableau, "kant.tds")).iter("relation")
              if r.get("table")]
    cur.execute("SELECT array_agg(relname::text) FROM pg_class WHERE relnamespace = 'kant'::regnamespace")
    known = set(cur.fetchone()[0])
    conn.close()
    tap(tables and all(t.startswith("[kant].[") and t[8:-1] in known for t in tables),
        "examples/tableau/kant.tds names existing views: %s" % tables)

    # control: the probe fails on what the bi_ views must not contain
    sql(["""CREATE VIEW kant.bi_zz_control AS SELECT timestamptz '2026-03-01 00:30+00' AS at,
            interval '5 minutes' AS took"""])
    cu, ct = probe("UTC"), probe("Asia/Tokyo")
    sql(["DROP VIEW kant.bi_zz_control"])
    cbad = [l for l in cu if l.startswith("BAD bi_zz_control")]
    tap(any(".at " in l for l in cbad) and any(".took " in l for l in cbad),
        "control: a timestamptz and an interval column are reported", "\n".join(cbad))
    crow_u = [l for l in cu if l.startswith("row bi_zz_control")]
    crow_t = [l for l in ct if l.startswith("row bi_zz_control")]
    tap(crow_u != crow_t, "control: a timestamptz value changes with the JVM's zone: %s / %s"
        % (crow_u, crow_t))
    tap.plan()


main()
