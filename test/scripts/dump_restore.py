#!/usr/bin/python3
"""pg_dump keeps kant's data: systems, jobs, runs, the ingest log, the quarantine
and the id sequences survive a dump and restore into a new database, and the
restored database goes on ingesting.  Prints TAP lines."""
import subprocess

import psycopg2

SRC, DST = "kant_dump_src", "kant_dump_dst"


def q(db, sql, *args):
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute(sql, args)
    row = cur.fetchone() if cur.description else None
    conn.close()
    return row


def main():
    for db in (SRC, DST):
        subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
        subprocess.run(["createdb", db], check=True)
    q(SRC, "CREATE EXTENSION kant")
    q(SRC, "SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL')")
    q(SRC, """SELECT kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
        {"Id": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800},
        {"Id": "jr_2", "JobName": "export_users", "JobRunState": "WHATEVER", "StartedOn": 1732459800}]}')""")
    before = q(SRC, """SELECT (SELECT count(*) FROM kant.system), (SELECT count(*) FROM kant.job),
        (SELECT count(*) FROM kant.job_run), (SELECT count(*) FROM kant.ingest_batch),
        (SELECT count(*) FROM kant.rejected), (SELECT string_agg(state::text || business_date, ',') FROM kant.job_run)""")
    dump = subprocess.run(["pg_dump", "-d", SRC], check=True, capture_output=True).stdout
    restore = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", DST], input=dump,
                             capture_output=True)
    print("%s 1 - pg_dump | psql restores without error%s" % (
        "ok" if restore.returncode == 0 else "not ok",
        "" if restore.returncode == 0 else ": " + restore.stderr.decode()[:300]))
    after = q(DST, """SELECT (SELECT count(*) FROM kant.system), (SELECT count(*) FROM kant.job),
        (SELECT count(*) FROM kant.job_run), (SELECT count(*) FROM kant.ingest_batch),
        (SELECT count(*) FROM kant.rejected), (SELECT string_agg(state::text || business_date, ',') FROM kant.job_run)""")
    print("%s 2 - systems, jobs, runs, ingest log and quarantine survive (%s)" % (
        "ok" if before == after else "not ok", after))
    try:
        r = q(DST, """SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
            {"Id": "jr_3", "JobName": "export_orders", "JobRunState": "RUNNING", "StartedOn": 1732459800}]}')""")
        ok = r == (1, 1)
    except Exception as e:
        ok, r = False, e
    print("%s 3 - the restored database goes on ingesting (ids continue: %s)" % ("ok" if ok else "not ok", r))
    for db in (SRC, DST):
        subprocess.run(["dropdb", db], check=True)


if __name__ == "__main__":
    main()
