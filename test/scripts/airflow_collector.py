#!/usr/bin/python3
"""kant.collect_airflow against a fake Airflow over real HTTP whose every reply
validates against the Airflow OpenAPI spec of its version
(test/fakes/fake_airflow.py), for the REST API v1 (Airflow 2 / Composer 2, basic
auth) and v2 (Airflow 3, bearer token): the version is detected, the DAG runs
are listed to total_entries through the server's page-size clamp, their task
instances read at once, the business dates are the logical dates in the
system's zone, a second collection asks only for the DAG runs that ended since
or are still queued or running, the DAGs' cron schedules
become the tasks' schedules, and wrong credentials, 5xx, 429, a malformed page
and a hang are handled as the Glue collector handles them.  Prints TAP lines."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402
import psycopg2  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402

DB = "kant_airflow_collector"


def run(version):
    conn, cur = fresh_db(DB)
    af = FakeAirflow(version=version).start()
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("""SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', display_name => 'SOCRATES',
                       default_pipeline => 'socrates_daily')""")
    cur.execute("SELECT kant.set_endpoint('socrates', %s, max_parallel => 8)", (af.url("/"),))
    if version == "v1":
        cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
    else:
        cur.execute("SELECT kant.set_credentials('socrates', NULL, %s)", (af.token,))
    total = len(af.data.task_instances)

    def collect():
        del conn.notices[:]
        cur.execute("""SELECT requests, retries, pages, jobs, runs_seen, runs_new, schedules, sqlstate, error
                       FROM kant.collect_airflow('socrates')""")
        return cur.fetchone()

    af.max_page = 10        # a DAG run has up to 22 tasks: several pages each
    runs = af.dag_runs()
    r = collect()
    listing = [q["path"] for q in af.requests if "/dagRuns?" in q["path"]]
    pages = sum((n + 9) // 10 for n in
                [sum(1 for t in af.data.task_instances if (t["dag_id"], t["dag_run_id"]) == (d["dag_id"], d["dag_run_id"]))
                 for d in runs])
    tap(r[7] is None and r[4] == total and r[5] == total and r[2] == pages and len(listing) == (len(runs) + 9) // 10,
        "%s: %d DAG runs listed in %d pages, all %d task instances read in %d pages of the server's 10 (asked for 1000): %s"
        % (version, len(runs), len(listing), total, pages, (r,)))
    af.max_page = 100
    v2_probe = [q for q in af.requests if q["path"].startswith("/api/v2/version")]
    tap(bool(v2_probe) and all(q["path"].startswith("/api/%s/" % version) for q in af.requests[len(v2_probe) if version == "v1" else 0:]),
        "%s: the API version is detected (%s)" % (version, "v2 probe 404, then v1" if version == "v1" else "v2"))
    tap(not af.invalid_replies and af.replies,
        "%s: every reply validates against %s-openapi.yaml: %s" % (version, version, af.replies),
        "\n".join(af.invalid_replies[:3]))
    tap(af.max_in_flight >= 4, "%s: the pages after the first are read at once (%d in flight)"
        % (version, af.max_in_flight))
    heads = [q["headers"].get("Authorization", "") for q in af.requests]
    tap(all(h.startswith("Basic " if version == "v1" else "Bearer ") for h in heads),
        "%s: %s auth on every request" % (version, "basic" if version == "v1" else "bearer token"))
    cur.execute("""SELECT min(business_date), max(business_date), count(DISTINCT business_date)
                   FROM kant.job_run""")
    lo, hi, days = cur.fetchone()
    tap(str(lo) == "2026-10-26" and str(hi) == "2026-11-24" and days == 30,
        "%s: business dates are the logical dates in Asia/Tokyo: %s .. %s, %d days" % (version, lo, hi, days))
    cur.execute("""SELECT count(*), count(*) FILTER (WHERE x.source = 'airflow_dag'), min(x.cron), min(x.time_zone),
                          min(x.slot_date) FROM kant.schedule x""")
    s = cur.fetchone()
    tap(s[0] == 60 and s[1] == 60 and s[2] == "30 4 * * *" and s[3] == "Asia/Tokyo" and s[4] == "previous_tick",
        "%s: each DAG's cron schedule became its tasks' schedule: %s" % (version, (s,)))

    before = len(af.requests)
    r = collect()
    asked = [q["path"] for q in af.requests[before:] if "/dagRuns?" in q["path"]]
    tis = [q["path"] for q in af.requests[before:] if q["path"].endswith("taskInstances") or "taskInstances?" in q["path"]]
    live = [d for d in runs if d["state"] in ("queued", "running")]
    tap(r[7] is None and r[5] == 0 and len(asked) == 2 and any("end_date_gte=" in p for p in asked)
        and any("state=queued&state=running" in p for p in asked) and len(tis) == len(live) >= 1,
        "%s: the next collection lists only the DAG runs ended since or still queued/running, "
        "and reads the task instances of those (%d): %s" % (version, len(tis), (r,)))

    # faults
    cur.execute("UPDATE kant.system SET collected_until = NULL")
    af.faults = [("taskInstances", "503"), ("taskInstances", "429"), ("taskInstances", "truncated")]
    r = collect()
    tap(r[7] is None and r[1] >= 3, "%s: a 503, a 429 and a truncated page are retried (%d retries)" % (version, r[1]))
    cur.execute("UPDATE kant.system SET collected_until = NULL")
    af.settle()
    af.faults = [("taskInstances", "malformed")]
    r = collect()
    cur.execute("SELECT collected_until IS NULL FROM kant.system")
    tap(r[7] == "08P01" and "not JSON" in r[8] and cur.fetchone()[0],
        "%s: a malformed page is SQLSTATE 08P01 (protocol violation), recorded; the cursor does not move" % version)
    cur.execute("SET kant.http_timeout = '500ms'")
    cur.execute("SET kant.http_max_retries = 0")
    af.settle()
    af.faults = [("taskInstances", "hang")]
    r = collect()
    cur.execute("RESET kant.http_timeout")
    cur.execute("RESET kant.http_max_retries")
    tap(r[7] == "08006", "%s: a page that never comes: SQLSTATE 08006, recorded: %s" % (version, (r,)))
    if version == "v1":
        cur.execute("SELECT kant.set_credentials('socrates', 'kant', 'wrong-password-9')")
    else:
        cur.execute("SELECT kant.set_credentials('socrates', NULL, 'wrong-token-9')")
    r = collect()
    warn = " ".join(conn.notices)
    tap(r[7] == "28000" and "401" in r[8] and "wrong-" not in r[8] and "wrong-" not in warn,
        "%s: wrong credentials: SQLSTATE 28000 recorded, no secret in it: %s" % (version, r[8][:80]))
    cur.execute("SELECT count(*), count(DISTINCT (job_id, external_id, attempt)) FROM kant.job_run")
    a, b = cur.fetchone()
    tap(a == b == total, "%s: after all that, every task instance once: %d" % (version, a))
    try:
        cur.execute("SELECT * FROM kant.collect_airflow('no_such_composer')")
        tap(False, "%s: an unknown system is an error" % version)
    except psycopg2.Error as e:
        tap(e.pgcode == "42704" and "'no_such_composer', 'airflow'" in (e.diag.message_hint or ""),
            "%s: an unknown system: 42704, and the hint registers an airflow system: %s" % (version, e.diag.message_hint))
        conn.rollback()
    af.stop()
    conn.close()


def main():
    run("v1")
    run("v2")
    tap.plan()


main()
