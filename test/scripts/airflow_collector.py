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
import datetime as dt
import os
import sys
from types import SimpleNamespace

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
    # Airflow reads a DAG's cron in the DAG's own time zone (DAG(timezone=...),
    # else [core] default_timezone, UTC: airflow/timetables/_cron.py
    # CronMixin._get_next uses self._timezone), not in kant's system zone; the
    # REST API gives it only in GET /dags/{dag_id}/details.  The DAGs here are
    # UTC (Composer's default) in a Tokyo system.  The timetable shows in the
    # DAG's next run: v1's fake DAGs run on CronDataIntervalTimetable
    # (logical date = the previous tick), v2's on CronTriggerTimetable
    # (logical date = the tick: Airflow 3's default).
    want_slot = "previous_tick" if version == "v1" else "tick"
    tap(s[0] == 60 and s[1] == 60 and s[2] == "30 4 * * *" and s[3] == "UTC" and s[4] == want_slot,
        "%s: each DAG's cron schedule became its tasks' schedule, in the DAG's zone (UTC, not the system's "
        "Asia/Tokyo), its slots dated as its timetable dates them (%s): %s" % (version, want_slot, (s,)))
    dags = sorted({t["dag_id"] for t in af.data.task_instances})
    tap(sorted(af.details_asked) == dags,
        "%s: each scheduled DAG's details were read once for its time zone (%d DAGs)" % (version, len(dags)))
    # a slot at 04:30 UTC (13:30 in Tokyo); its business date is the local
    # date in the system's zone of its logical date: the previous tick
    # (Airflow 2) or the tick itself (Airflow 3)
    cur.execute("""SELECT count(*),
                          count(*) FILTER (WHERE (e.slot_at AT TIME ZONE 'UTC')::time = '04:30'),
                          count(*) FILTER (WHERE e.business_date = ((e.slot_at - CASE WHEN %s = 'tick' THEN interval '0'
                                                                     ELSE interval '1 day' END)
                                                                    AT TIME ZONE 'Asia/Tokyo')::date)
                   FROM kant.expected_run e""", (want_slot,))
    n, utc, dated = cur.fetchone()
    tap(n > 0 and utc == n and dated == n,
        "%s: every expected slot is at 04:30 UTC (13:30 in Tokyo, not 04:30 JST = 19:30 UTC the day before) and "
        "dated by the %s: %d of %d, %d of %d" % (version, want_slot.replace("_", " "), utc, n, dated, n))

    before = len(af.requests)
    del af.details_asked[:]
    r = collect()
    tap(af.details_asked == [], "%s: a collection reads no DAG details when every schedule was checked within a day"
        % version)
    asked = [q["path"] for q in af.requests[before:] if "/dagRuns?" in q["path"]]
    tis = [q["path"] for q in af.requests[before:] if q["path"].endswith("taskInstances") or "taskInstances?" in q["path"]]
    live = [d for d in runs if d["state"] in ("queued", "running")]
    tap(r[7] is None and r[5] == 0 and len(asked) == 2 and any("end_date_gte=" in p for p in asked)
        and any("state=queued&state=running" in p for p in asked) and len(tis) == len(live) >= 1,
        "%s: the next collection lists only the DAG runs ended since or still queued/running, "
        "and reads the task instances of those (%d): %s" % (version, len(tis), (r,)))

    zones_and_timetables(cur, conn, af, collect, version, dags)

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
    cur.execute("SELECT hint FROM kant.collection ORDER BY collection_id DESC LIMIT 1")
    hint = cur.fetchone()[0] or ""
    # Airflow 2: 401; Airflow 3: 403 "Invalid JWT token" for a token it cannot
    # verify (airflow-core api_fastapi/core_api/security.py get_user)
    said = "HTTP 401" if version == "v1" else "HTTP 403: Invalid JWT token"
    tap(r[7] == "28000" and said in r[8] and "wrong-" not in r[8] and "wrong-" not in warn,
        "%s: wrong credentials: SQLSTATE 28000 recorded, no secret in it: %s" % (version, r[8][:80]))
    tap(("basic_auth" in hint and "kant.set_credentials('socrates', user, password)" in hint) if version == "v1"
        else "kant.set_credentials('socrates', NULL, token)" in hint,
        "%s: the hint says what to check: %s" % (version, hint))
    # an identity Airflow knows whose role lacks the permission: 403 Forbidden
    # (api_connexion PermissionDenied; core_api/security.py _requires_access)
    cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')" if version == "v1" else
                "SELECT kant.set_credentials('socrates', NULL, %s)", None if version == "v1" else (af.token,))
    af.forbidden = {"/dagRuns"}
    r = collect()
    af.forbidden = set()
    cur.execute("SELECT hint FROM kant.collection ORDER BY collection_id DESC LIMIT 1")
    hint = cur.fetchone()[0] or ""
    tap(r[7] == "28000" and "HTTP 403: Forbidden" in r[8] and "Viewer role" in hint,
        "%s: a role without the permission: 28000, and the hint names the role: %s / %s" % (version, r[8][:90], hint))
    if version == "v2":
        # Airflow 3 has no basic auth: a user and password are exchanged for a
        # JWT at POST /auth/token (its auth manager's login route), the bearer
        # of every request after it
        cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
        before = len(af.requests)
        issued = af.tokens_issued
        r = collect()
        logins = [q for q in af.requests[before:] if q["path"] == "/auth/token"]
        after = af.requests[before:][af.requests[before:].index(logins[0]) + 1:] if logins else []
        heads = [q["headers"].get("Authorization", "") for q in after]
        tap(r[7] is None and af.tokens_issued == issued + 1 and len(logins) == 1
            and logins[0]["headers"].get("Content-Type") == "application/json"
            and heads and all(h.startswith("Bearer ey") for h in heads),
            "v2: a user and password are exchanged once at POST /auth/token for a JWT, the bearer of the "
            "%d requests after it: %s" % (len(heads), (r,)))
        cur.execute("SELECT kant.set_credentials('socrates', 'kant', 'wrong-password-9')")
        r = collect()
        warn = " ".join(conn.notices)
        tap(r[7] == "28000" and "/auth/token" in r[8] and "wrong-" not in r[8] and "wrong-" not in warn,
            "v2: a user and password Airflow 3 refuses: SQLSTATE 28000, naming /auth/token, no secret in it: %s"
            % r[8][:120])
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
    future_records(conn, cur, version)
    conn.close()


def zones_and_timetables(cur, conn, af, collect, version, dags):
    """A DAG's time zone in each form the API prints it, and a timetable the
    API does not show."""
    def schedule(dag):
        cur.execute("""SELECT DISTINCT x.time_zone, x.slot_date FROM kant.schedule x
                       JOIN kant.job j ON j.job_id = x.job_id WHERE j.dag_id = %s""", (dag,))
        return cur.fetchall()

    a, b, c, d = dags[:4]
    # pendulum 2 (Airflow 2) prints Timezone('Asia/Tokyo'); pendulum 3 prints
    # a fixed offset as FixedTimezone(19800, name="+05:30")
    # (pendulum/tz/timezone.py __repr__; Airflow's DAGDetailsResponse takes str())
    af.dag_timezone.update({a: "Timezone('Asia/Tokyo')", b: 'FixedTimezone(19800, name="+05:30")',
                            c: "Europe/Berlin", d: "Timezone('Mars/Olympus')"})
    # c runs on the timetable that is not the version's default
    mine = "previous_tick" if version == "v1" else "tick"
    other_slot = "tick" if version == "v1" else "previous_tick"
    af.dag_timetable[c] = "trigger" if version == "v1" else "interval"
    cur.execute("UPDATE kant.schedule SET updated_at = now() - interval '2 days'")
    del af.details_asked[:]
    r = collect()
    got = [schedule(x) for x in (a, b, c, d)]
    warned = [n for n in conn.notices if "cannot read" in n and "Mars/Olympus" in n]
    tap(r[7] is None and sorted(af.details_asked) == dags
        and got[0] == [("Asia/Tokyo", mine)] and got[1] == [("<+0530>-05:30", mine)]
        and got[2] == [("Europe/Berlin", other_slot)] and got[3] == [("UTC", mine)] and warned,
        "%s: a schedule not checked for a day is read again; Timezone('Asia/Tokyo') is Asia/Tokyo, "
        "FixedTimezone(19800) the POSIX zone <+0530>-05:30; a DAG whose next run shows the other timetable "
        "gets it (%s); a zone kant cannot read is warned about and the schedule stays: %s %s"
        % (version, other_slot, got, warned[:1]))
    # read again the next day: no new warning; kant.schedule_unread keeps it
    cur.execute("UPDATE kant.schedule SET updated_at = now() - interval '2 days'")
    r = collect()
    again = [n for n in conn.notices if "Mars/Olympus" in n]
    cur.execute("SELECT count(*) FROM kant.schedule_unread u JOIN kant.job j USING (job_id) "
                "WHERE j.dag_id = %s AND u.schedule LIKE '%%Mars/Olympus%%'", (d,))
    unread = cur.fetchone()[0]
    tap(r[7] is None and len(warned) == 1 and not again and unread >= 1,
        "%s: a DAG zone kant cannot read is one warning for the DAG's tasks, once, and %d rows of "
        "kant.schedule_unread: %s" % (version, unread, warned[:1]))
    # at max_active_runs (or paused) a DAG shows no run-after time
    # (DagModel.calculate_dagrun_date_fields): the timetable cannot be told,
    # and what was read stays, rather than the version's default
    af.dag_timetable[c] = None
    cur.execute("UPDATE kant.schedule SET updated_at = now() - interval '2 days'")
    r = collect()
    tap(r[7] is None and schedule(c) == [("Europe/Berlin", other_slot)],
        "%s: a DAG whose next run shows no timetable for a while keeps the one read before (%s), not the "
        "version's default: %s" % (version, other_slot, schedule(c)))
    # the user says otherwise for the system: where the API cannot tell
    other = "CronDataIntervalTimetable" if version == "v1" else "CronTriggerTimetable"
    cur.execute("SELECT kant.set_cron_timetable('socrates', %s)", (other,))
    cur.execute("UPDATE kant.schedule SET updated_at = now() - interval '2 days'")
    r = collect()
    tap(r[7] is None and schedule(c) == [("Europe/Berlin", mine)] and schedule(a) == [("Asia/Tokyo", mine)],
        "%s: kant.set_cron_timetable('socrates', '%s') dates the slots of a DAG whose timetable the API does not "
        "show by the %s; a DAG whose next run shows its timetable keeps it: %s %s"
        % (version, other, mine.replace("_", " "), schedule(c), schedule(a)))
    cur.execute("SELECT kant.set_cron_timetable('socrates', NULL)")
    try:
        cur.execute("SELECT kant.set_cron_timetable('socrates', 'DeltaTriggerTimetable')")
        tap(False, "%s: an unknown timetable is refused" % version)
    except psycopg2.Error as e:
        tap(e.pgcode == "22023" and "CronTriggerTimetable" in (e.diag.message_hint or ""),
            "%s: an unknown timetable is refused: SQLSTATE %s, hint %s" % (version, e.pgcode, e.diag.message_hint))
    af.dag_timezone.clear()
    af.dag_timetable.clear()
    cur.execute("UPDATE kant.schedule SET updated_at = now() - interval '2 days'")
    collect()


def future_records(conn, cur, version):
    """The Glue collector's watermark once went to 2100 on one record
    (glue_collector.py).  Airflow's cursor (kant.system.collected_until) is
    the database's now() of a collection that read everything, never a time a
    reply names: a DAG run the server says ended in 2100, and a task instance
    kant quarantines, must not cost a later collection its runs.  Here the
    next DAG run, ended after the first collection, has 250 task instances on
    two pages of the server's 200; all 250 must be held.  Times between
    collections follow kant.collection.started_at (the cursor is the server's
    clock by design); the overlap is 0, so the cursor alone decides."""
    far = "2100-01-01T00:00:00+00:00"
    dag = "plato_load"

    def ti(run_id, logical, task, start, end, try_number=1):
        return {"dag_id": dag, "task_id": task, "dag_run_id": run_id, "execution_date": logical,
                "map_index": -1, "max_tries": 2, "pool": "default_pool", "pool_slots": 1,
                "queue": "default", "priority_weight": 1, "executor_config": "{}",
                "hostname": "airflow-worker-1", "unixname": "airflow", "operator": "PythonOperator",
                "sla_miss": None, "rendered_fields": {}, "trigger": None, "triggerer_job": None,
                "note": None, "pid": 4242, "state": "success", "try_number": try_number,
                "queued_when": start, "start_date": start, "end_date": end, "duration": 1.0}

    future_run = "scheduled__" + far
    data = SimpleNamespace(task_instances=[
        ti(future_run, far, "load", far, "2100-01-01T00:10:00+00:00"),
        # quarantined: a try_number past kant's limit (100000), valid in the spec
        ti(future_run, far, "check", far, "2100-01-02T00:00:00+00:00", try_number=100001)])
    af = FakeAirflow(version=version, data=data).start()
    af.max_page = 200
    cur.execute("SELECT kant.add_system('plato', 'airflow', 'UTC')")
    cur.execute("SELECT kant.set_endpoint('plato', %s, overlap => '0 seconds')", (af.url("/"),))
    if version == "v1":
        cur.execute("SELECT kant.set_credentials('plato', 'kant', 's3cret-pw')")
    else:
        cur.execute("SELECT kant.set_credentials('plato', NULL, %s)", (af.token,))

    def collect():
        cur.execute("SELECT collection_id, started_at, sqlstate, error FROM kant.collect_airflow('plato')")
        return cur.fetchone()

    cid, started1, state, error = collect()
    cur.execute("""SELECT s.collected_until <= k.started_at, count(r.*) FROM kant.system s
                     JOIN kant.collection k ON k.collection_id = %s
                     LEFT JOIN kant.rejected r ON r.system_id = s.system_id
                    WHERE s.name = 'plato' GROUP BY s.collected_until, k.started_at""", (cid,))
    row = cur.fetchone()
    cur.execute("SELECT count(*) FROM kant.job_run r JOIN kant.job j USING (job_id) WHERE j.name = 'plato_load.load'")
    tap(state is None and row == (True, 1) and cur.fetchone()[0] == 1,
        "%s: a DAG run ending in 2100 is ingested and a quarantined task instance kept aside; the cursor "
        "stays at the collection's start (%s)" % (version, (state, error, row)))

    t = started1.timestamp()
    at = lambda s: dt.datetime.fromtimestamp(t + s, dt.timezone.utc).isoformat()
    new_run = "scheduled__2026-01-02T00:00:00+00:00"
    data.task_instances += [ti(new_run, "2026-01-02T00:00:00+00:00", "part_%03d" % i, at(1), at(2))
                            for i in range(250)]
    before = len(af.requests)
    cid, started2, state, error = collect()
    pages = [q["path"] for q in af.requests[before:] if "taskInstances" in q["path"] and "2026-01-02" in q["path"]]
    cur.execute("""SELECT count(*) FROM kant.job_run r JOIN kant.job j USING (job_id)
                    WHERE r.external_id = %s AND j.name LIKE 'plato_load.part_%%'""", (new_run,))
    held = cur.fetchone()[0]
    tap(state is None and len(pages) == 2 and held == 250 and not af.invalid_replies,
        "%s: the next DAG run's 250 task instances, on two pages, are all held: %d pages, %d held (%s)"
        % (version, len(pages), held, error), "\n".join(af.invalid_replies[:3]))
    af.stop()


def main():
    run("v1")
    run("v2")
    tap.plan()


main()
