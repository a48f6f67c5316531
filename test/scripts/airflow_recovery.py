#!/usr/bin/python3
"""Recovery on the Airflow side, against the fake Airflow REST API v1 (Airflow
2.10 / Composer 2) and v2 (Airflow 3), every request body validated against
the version's spec (test/fakes/airflow/*-openapi.yaml) and handled as
Airflow's own code does (test/fakes/fake_airflow.py cites it:
api_connexion task_instance_endpoint.post_clear_task_instances at
002ae49e3a5cdd68e09c9c9731364d6d75c5b4f3, its ClearTaskInstanceFormSchema at
00c4d7589d3c19370699d6bd381a140535842e55; api_fastapi
routes/public/task_instances.py at 377160cfb30f20f2a65abfc46d55caaeee4a51c9
and prevent_running_task from apache/airflow#56351; clear_task_instances in
models/taskinstance.py at 0010bf12 (2.10) and 19f7b14f (3.x)).

kant.recover_failed_runs() clears a failed task instance of a finished DAG run
(POST dags/{dag_id}/clearTaskInstances with dry_run false, reset_dag_runs true,
only_failed, the run, the task and its downstream; v2 prevent_running_task):
once per failure (a second call, and two sessions at once, POST nothing more),
up to max_attempts per business date, not while Airflow retries it itself
(up_for_retry), not while the DAG run runs other tasks (as kant holds it and as
Airflow says), not when the p90 of the rest of the DAG run misses the deadline;
dry run (argument or policy) POSTs nothing; 404 is refused, 409 already; the
failure alert says "kant cleared it (2/2)".  The fake itself is checked too:
422 / 400 for a body the version refuses, a dry run changes nothing, a v1
clear without reset_dag_runs leaves the run failed.  Prints TAP lines."""
import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import at_once, fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402

UTC = dt.timezone.utc
NOW = time.time()
# business dates relative to the clock (the lookback window is): today in UTC
TODAY = dt.datetime.fromtimestamp(NOW, UTC).date()


def iso(ts):
    return None if ts is None else dt.datetime.fromtimestamp(ts, UTC).isoformat()


def run_id(bd):
    return "scheduled__%sT00:00:00+00:00" % bd.isoformat()


def ti(dag, task, bd, state, start_ago=None, minutes=None, try_number=1, max_tries=1, run=None, now=NOW):
    """A v1 TaskInstance (the fake derives the v2 shape): started start_ago
    seconds before now, lasting `minutes` (None: not ended)."""
    start = None if start_ago is None else now - start_ago
    end = None if start is None or minutes is None else start + minutes * 60
    if state == "upstream_failed":
        start, end, try_number = None, NOW - 60, 0
    return {"dag_id": dag, "task_id": task, "dag_run_id": run or run_id(bd),
            "execution_date": "%sT00:00:00+00:00" % bd.isoformat(), "map_index": -1, "max_tries": max_tries,
            "pool": "default_pool", "pool_slots": 1, "queue": "default", "priority_weight": 1,
            "executor_config": "{}", "hostname": "airflow-worker-1", "unixname": "airflow",
            "operator": "PythonOperator", "sla_miss": None, "rendered_fields": {}, "trigger": None,
            "triggerer_job": None, "note": None, "pid": 4242, "state": state, "try_number": try_number,
            "queued_when": iso(start), "start_date": iso(start), "end_date": iso(end),
            "duration": None if end is None or start is None else round(end - start, 6)}


class Data:
    def __init__(self):
        self.task_instances = []


def history(data, dag, tasks, days=10):
    """Successful runs on the days before today: tasks (name, minutes) one after another."""
    for k in range(days, 0, -1):
        bd = TODAY - dt.timedelta(days=k)
        ago = 86400 * k
        for name, minutes in tasks:
            data.task_instances.append(ti(dag, name, bd, "success", start_ago=ago, minutes=minutes))
            ago -= minutes * 60


def http(af, method, path, body=None):
    """A request to the fake as a client would send it: (status, JSON reply)."""
    req = urllib.request.Request(af.url("/api/%s/%s" % (af.version, path)), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if af.version == "v1":
        import base64
        req.add_header("Authorization", "Basic " + base64.b64encode(b"kant:s3cret-pw").decode())
    else:
        req.add_header("Authorization", "Bearer " + af.token)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def fake_checks(version):
    """The fake's clearTaskInstances as Airflow's code has it."""
    data = Data()
    bd = TODAY
    data.task_instances += [ti("etl", "a", bd, "success", 900, 5), ti("etl", "b", bd, "failed", 600, 2),
                            ti("etl", "c", bd, "upstream_failed")]
    data.task_instances += [ti("etl2", "a", bd, "running", 300)]
    af = FakeAirflow(version=version, data=data).start()
    run = run_id(bd)
    st, r = http(af, "POST", "dags/etl/clearTaskInstances", {"dag_run_id": run, "dry_run": True, "include_subdags": False})
    if version == "v2":
        tap(st == 422 and r["detail"][0]["type"] == "extra_forbidden",
            "fake %s: a field ClearTaskInstancesBody does not have is FastAPI's 422: %s" % (version, r))
    else:
        st2, r2 = http(af, "POST", "dags/etl/clearTaskInstances", {"dag_run_id": run, "prevent_running_task": True})
        tap(st == 200 and st2 == 400 and "Unknown field" in r2["detail"],
            "fake %s: include_subdags is v1's; prevent_running_task is unknown to v1's form: 400 (%s)" % (version, r2))
    st, r = http(af, "POST", "dags/etl/clearTaskInstances", {"dag_run_id": run, "task_ids": ["b"], "include_downstream": True})
    tis = af.current_tis("etl", run)
    tap(st == 200 and sorted(t["task_id"] for t in r["task_instances"]) == ["b", "c"]
        and tis[("b", -1)]["state"] == "failed" and not af.run_state,
        "fake %s: dry_run defaults to true: the selection (b and its upstream_failed c), nothing changed" % version)
    st, r = http(af, "POST", "dags/nope/clearTaskInstances", {"dag_run_id": run, "dry_run": False})
    st2, r2 = http(af, "POST", "dags/etl/clearTaskInstances", {"dag_run_id": "manual__nope", "dry_run": False})
    tap(st == 404 and st2 == 404 and "not found" in json.dumps(r2),
        "fake %s: unknown DAG or DAG run: 404 (%s / %s)" % (version, r, r2))
    if version == "v2":
        st, r = http(af, "POST", "dags/etl2/clearTaskInstances",
                     {"dag_run_id": run, "dry_run": False, "only_failed": False, "prevent_running_task": True})
        tap(st == 409 and af.current_tis("etl2", run)[("a", -1)]["state"] == "running",
            "fake v2: prevent_running_task and a running task instance selected: 409, nothing changed (%s)" % r)
    # v1's server default reset_dag_runs false: the failed run stays failed, nothing runs
    body = {"dag_run_id": run, "dry_run": False, "task_ids": ["b"], "include_downstream": True}
    if version == "v2":
        body["reset_dag_runs"] = False
    st, r = http(af, "POST", "dags/etl/clearTaskInstances", body)
    tis = af.current_tis("etl", run)
    ran = af.run_cleared()
    st3, dag_run = http(af, "GET", "dags/etl/dagRuns/%s" % run)
    tap(st == 200 and tis[("b", -1)]["state"] is None and ran == [] and dag_run["state"] == "failed"
        and tis[("b", -1)]["try_number"] == (1 if version == "v1" else 2),
        "fake %s: cleared without reset_dag_runs: b has no state (try %s), the DAG run stays failed, nothing runs"
        % (version, tis[("b", -1)]["try_number"]))
    tap(not af.invalid_replies, "fake %s: its replies are valid for the spec: %s" % (version, af.invalid_replies[:2]))
    af.stop()


def main(version):
    db = "kant_af_recovery_" + version
    data = Data()
    # daily_load: extract -> transform -> load, and extract -> audit
    dl_edges = {"extract": ["transform", "audit"], "transform": ["load"], "load": [], "audit": []}
    history(data, "daily_load", [("extract", 5), ("audit", 3), ("transform", 10), ("load", 20)])
    run = run_id(TODAY)
    # today: transform failed its last try (Airflow retried it once itself), load never ran
    data.task_instances += [
        ti("daily_load", "extract", TODAY, "success", 3600, 5, max_tries=1),
        ti("daily_load", "audit", TODAY, "success", 3300, 3, max_tries=1),
        ti("daily_load", "transform", TODAY, "up_for_retry", 3300, 2, try_number=1, max_tries=1),
        ti("daily_load", "transform", TODAY, "failed", 2400, 2, try_number=2, max_tries=1),
        ti("daily_load", "load", TODAY, "upstream_failed"),
    ]
    af = FakeAirflow(version=version, data=data).start()
    af.downstream["daily_load"] = dl_edges
    conn, cur = fresh_db(db)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("SELECT kant.add_system('socrates', 'airflow', 'UTC', default_pipeline => 'gcp')")
    cur.execute("SELECT kant.set_endpoint('socrates', %s)", (af.url(""),))
    if version == "v1":
        cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
    else:
        cur.execute("SELECT kant.set_credentials('socrates', NULL, %s)", (af.token,))

    def collect():
        """kant ingests what the API lists now (the collector's task-instance pages)."""
        tis = af.task_instances()
        cur.execute("SELECT (kant.ingest_airflow_task_instances('socrates', %s::jsonb)).rejected",
                    (json.dumps({"task_instances": tis, "total_entries": len(tis)}),))
        return cur.fetchone()[0]

    def recover(dry=False):
        cur.execute("SELECT job, failed_run, outcome, detail FROM kant.recover_failed_runs(dry_run => %s)", (dry,))
        return cur.fetchall()

    def clears():
        return [c for c in af.clears if c["status"] is not None]

    tap(collect() == 0, "%s: the task instances are ingested" % version)
    cur.execute("SELECT kant.set_recovery('socrates/daily_load.transform', max_attempts => 2, min_wait => '0')")
    cur.execute("""SELECT kant.create_slo('gcp_done', '23:59', pipeline => 'gcp', time_zone => 'UTC',
                       deadline_offset_days => 3)""")

    # dry run: by argument, then by policy; nothing reaches Airflow
    r = recover(dry=True)
    tap(len(r) == 1 and r[0][2] == "dry_run" and r[0][1] == "daily_load/%s try 2" % run and not af.clears
        and json.loads(r[0][3]) == {"dry_run": False, "only_failed": True, "reset_dag_runs": True, "dag_run_id": run,
                                    "task_ids": ["transform"], "include_downstream": True},
        "%s: dry run (argument): logs the body it would POST, POSTs nothing: %s" % (version, r))
    cur.execute("DELETE FROM kant.action_log")
    cur.execute("SELECT kant.set_recovery('socrates/daily_load.transform', max_attempts => 2, min_wait => '0', dry_run => true)")
    r = recover()
    tap(len(r) == 1 and r[0][2] == "dry_run" and not af.clears and not [q for q in af.requests if q.get("method") == "POST"],
        "%s: dry run (policy): logged, nothing POSTed: %s" % (version, r[0][2] if r else r))
    cur.execute("SELECT kant.set_recovery('socrates/daily_load.transform', max_attempts => 2, min_wait => '0')")

    # cleared once (the dry runs logged above hold back nothing)
    r = recover()
    c = clears()
    want = {"dry_run": False, "only_failed": True, "reset_dag_runs": True, "dag_run_id": run,
            "task_ids": ["transform"], "include_downstream": True}
    if version == "v2":
        want["prevent_running_task"] = True
    tap(len(r) == 1 and r[0][2] == "done" and "clear 1 of 2" in r[0][3] and len(c) == 1 and c[0]["status"] == 200
        and c[0]["body"] == want and c[0]["dag_id"] == "daily_load",
        "%s: the failed task instance is cleared: POST clearTaskInstances %s: %s" % (version, c[0]["body"] if c else None, r))
    tis = af.current_tis("daily_load", run)
    st, dag_run = http(af, "GET", "dags/daily_load/dagRuns/%s" % run)
    tap(tis[("transform", -1)]["state"] is None and tis[("load", -1)]["state"] is None
        and sorted(x for x, _ in c[0]["selected"]) == ["load", "transform"] and dag_run["state"] == "queued",
        "%s: at Airflow: transform and its upstream_failed load have no state, the DAG run is queued again" % version)
    tap(tis[("transform", -1)]["try_number"] == (2 if version == "v1" else 3),
        "%s: the try as Airflow counts it: %s" % (version, "2.10 keeps try_number (the scheduler adds one)"
                                                    if version == "v1" else "3.x starts the next try at the clear"))
    tap(recover() == [] and len(clears()) == 1, "%s: called again: nothing (one clear per failure)" % version)
    collect()
    tap(recover() == [] and len(clears()) == 1, "%s: after the next collection: still nothing" % version)
    tap(not af.invalid_requests and not af.invalid_replies,
        "%s: the clear body and every reply are valid for the spec: %s %s" % (version, af.invalid_requests, af.invalid_replies))

    # while kant's clear is under way, no failure alert; the clear fails too:
    # cleared again (2/2); then no more, and the alert says so
    cur.execute("SELECT count(*) FROM kant.check_conditions() WHERE kind = 'failure'")
    tap(cur.fetchone()[0] == 0, "%s: while kant's clear is under way, no failure alert" % version)
    ran = af.run_cleared({"transform": "failed"})
    collect()
    tap(("daily_load", "transform", "failed") in ran and ("daily_load", "load", "upstream_failed") in ran,
        "%s: Airflow runs what was cleared: transform fails again, load upstream_failed: %s" % (version, ran))
    r = recover()
    tap(len(r) == 1 and r[0][2] == "done" and "clear 2 of 2" in r[0][3] and len(clears()) == 2,
        "%s: a new failure after a clear is a new try: cleared again: %s" % (version, r))
    af.run_cleared({"transform": "failed"})
    collect()
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "cleared 2 of 2 times" in r[0][3] and len(clears()) == 2,
        "%s: after max_attempts: skipped with the reason, no POST: %s" % (version, r))
    tap(recover() == [], "%s: the reason is logged once" % version)
    cur.execute("SELECT * FROM kant.run_checks()")
    cur.execute("""SELECT a.summary, kant._slack_message(a.alert_id, 'opened')::text FROM kant.alert a
                   JOIN kant.job j ON j.job_id = a.job_id WHERE a.kind = 'failure' AND j.name = 'daily_load.transform'""")
    row = cur.fetchone()
    tap(row is not None and "kant cleared it (2/2)" in row[1],
        "%s: the failure alert says kant cleared it (2/2): %s" % (version, row[0] if row else None))

    # daily_export, a whole DAG under one policy: fetch -> write, fetch -> notify
    de_edges = {"fetch": ["write", "notify"], "write": [], "notify": []}
    af.downstream["daily_export"] = de_edges
    xrun = run_id(TODAY)
    with af.lock:
        data.task_instances += [
            ti("daily_export", "fetch", TODAY, "success", 1800, 5),
            ti("daily_export", "write", TODAY, "up_for_retry", 1500, 2, try_number=1),
            ti("daily_export", "notify", TODAY, "running", 1400),
        ]
    collect()
    cur.execute("SELECT kant.set_recovery('socrates/daily_export', max_attempts => 3, min_wait => '0')")
    cur.execute("SELECT job, from_dag FROM kant.recovery_scope WHERE job LIKE 'daily_export.%' ORDER BY 1")
    tap(cur.fetchall() == [("daily_export.fetch", True), ("daily_export.notify", True), ("daily_export.write", True)],
        "%s: a policy on a whole DAG covers each of its tasks (kant.recovery_scope)" % version)
    n = len(af.clears)
    tap(recover() == [] and len(af.clears) == n, "%s: up_for_retry: Airflow retries it itself, kant waits" % version)
    with af.lock:
        data.task_instances.append(ti("daily_export", "write", TODAY, "failed", 900, 2, try_number=2))
    collect()
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "still running other tasks" in r[0][3] and len(af.clears) == n,
        "%s: write failed while notify still runs (as kant holds it): not cleared: %s" % (version, r))
    # notify ended, but Airflow already has a new task instance queued in the run kant has not collected
    with af.lock:
        for t in data.task_instances:
            if t["dag_id"] == "daily_export" and t["task_id"] == "notify":
                t.update(state="success", end_date=iso(NOW - 120), duration=1280.0)
    collect()
    with af.lock:
        data.task_instances.append(ti("daily_export", "archive", TODAY, "queued"))
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "Airflow says the DAG run is running" in r[0][3] and len(af.clears) == n,
        "%s: kant holds the run finished, Airflow says it is running: not cleared: %s" % (version, r))
    with af.lock:
        data.task_instances.remove(next(t for t in data.task_instances if t["task_id"] == "archive"))
    if version == "v2":
        # another client clears it first: the task instances kant selects run (409)
        af.clear_race = True
        r = recover()
        tap(len(r) == 1 and r[0][2] == "already" and "409" in r[0][3] and af.clears[-1]["status"] == 409,
            "v2: a task instance the clear selects is running (prevent_running_task): 409, logged as already: %s" % (r,))
    else:
        # the DAG went away between kant's look at the run and the clear
        af.faults.append(("clearTaskInstances", {"status": 404, "reply": {
            "title": "Not Found", "status": 404, "type": "about:blank", "detail": "Dag id daily_export not found"}}))
        r = recover()
        tap(len(r) == 1 and r[0][2] == "refused" and "404" in r[0][3],
            "v1: clearTaskInstances answers 404: refused, with Airflow's detail: %s" % (r,))
    tap(recover() == [], "%s: that failure is not cleared again" % version)

    # a DAG run kant holds and Airflow does not know (a writer made it up): refused, no POST
    ghost = ti("daily_export", "publish", TODAY - dt.timedelta(days=1), "failed", 120, 1,
               run="manual__made_up_by_a_writer")
    n = len(af.clears)
    cur.execute("SELECT (kant.ingest_airflow_task_instances('socrates', %s::jsonb)).inserted",
                (json.dumps({"task_instances": [ghost], "total_entries": 1}),))
    r = recover()
    tap(len(r) == 1 and r[0][2] == "refused" and "404" in r[0][3] and "does not know DAG run" in r[0][3]
        and len(af.clears) == n and recover() == [],
        "%s: a DAG run Airflow does not know (404): refused for good, nothing POSTed: %s" % (version, r))
    cur.execute("SELECT count(*) FROM kant.actions WHERE kind = 'recover' AND http_status = 404")
    tap(cur.fetchone()[0] >= 1, "%s: the 404 answer is in kant.actions with its status" % version)

    # the deadline: the rest of the DAG run (transform 10 min, then load 20 min)
    # is what must fit, not the failed task alone
    # (a manual run of the DAG, the newest of its tasks)
    drun = "manual__deadline"
    now = time.time()
    with af.lock:
        data.task_instances += [
            ti("daily_load", "extract", TODAY, "success", 50, 0.25, run=drun, now=now),
            ti("daily_load", "audit", TODAY, "success", 30, 0.25, run=drun, now=now),
            ti("daily_load", "transform", TODAY, "failed", 30, 0.25, run=drun, now=now),
            ti("daily_load", "load", TODAY, "upstream_failed", run=drun),
        ]
    collect()
    cur.execute("SELECT kant.set_recovery('socrates/daily_load.transform', max_attempts => 5, min_wait => '0')")

    def deadline_in(minutes):
        cur.execute("""UPDATE kant.slo SET deadline_offset_days = ((now() + %s * interval '1 minute') AT TIME ZONE 'UTC')::date - %s::date,
                           deadline_time = ((now() + %s * interval '1 minute') AT TIME ZONE 'UTC')::time,
                           sla_offset_days = 10""", (minutes, TODAY, minutes))

    deadline_in(25)
    n = len(af.clears)
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "deadline cannot be met" in r[0][3] and "30 min" in r[0][3]
        and len(af.clears) == n,
        "%s: transform alone (10 min) would fit in 25 min, the rest of the run (30 min, p90) does not: skipped: %s"
        % (version, r))
    deadline_in(45)
    # two sessions at once: one clear
    af.latency = 0.3
    out = at_once(db, "SELECT outcome FROM kant.recover_failed_runs()")
    af.latency = 0
    tap(sorted(sum(out, [])) == [("done",)] and len(af.clears) == n + 1 and af.clears[-1]["body"]["dag_run_id"] == drun,
        "%s: with 45 min left it is cleared; two sessions at once made one POST: %s" % (version, out))
    cur.execute("""SELECT count(*) FROM kant.action_log WHERE kind = 'recover' AND outcome = 'done'
                   AND target = %s""", ("daily_load/%s try 1" % drun,))
    tap(cur.fetchone()[0] == 1, "%s: one done entry for that failure" % version)

    # the internal clear the re-runs use: Airflow's dry run answers what it would clear
    with af.lock:
        data.task_instances += [ti("daily_load", "extract", TODAY, "failed", 600, 1, run="manual__rerun"),
                                ti("daily_load", "transform", TODAY, "upstream_failed", run="manual__rerun"),
                                ti("daily_load", "audit", TODAY, "upstream_failed", run="manual__rerun"),
                                ti("daily_load", "load", TODAY, "upstream_failed", run="manual__rerun")]
    cur.execute("SELECT status, body, api FROM kant._airflow_clear('socrates', 'daily_load', 'manual__rerun', NULL, true, true)")
    st, body, api = cur.fetchone()
    got = json.loads(body)
    tap(st == 200 and api == version and got["total_entries"] == 4
        and sorted(t["task_id"] for t in got["task_instances"]) == ["audit", "extract", "load", "transform"]
        and af.current_tis("daily_load", "manual__rerun")[("extract", -1)]["state"] == "failed"
        and af.clears[-1]["body"]["dry_run"] is True and "task_ids" not in af.clears[-1]["body"],
        "%s: kant._airflow_clear(.., NULL task_ids, dry_run): every failed task instance of the run, nothing changed: %s"
        % (version, body))
    cur.execute("SELECT status, body FROM kant._airflow_clear('socrates', 'daily_load', 'manual__nope', ARRAY['x'], false, false)")
    st, body = cur.fetchone()
    tap(st == 404 and "not found" in body, "%s: kant._airflow_clear of an unknown run: 404 and Airflow's text: %s" % (version, body))
    cur.execute("""SELECT status, run_state, (SELECT count(DISTINCT t->>'task_id') FROM jsonb_array_elements(task_instances) t),
                          (SELECT t->>'state' FROM jsonb_array_elements(task_instances) t WHERE t->>'task_id' = 'transform'
                           ORDER BY (t->>'try_number')::int DESC LIMIT 1)
                   FROM kant._airflow_dag_run('socrates', 'daily_load', %s)""", (run,))
    row = cur.fetchone()
    tap(row == (200, "failed", 4, "failed"),
        "%s: kant._airflow_dag_run reads the run (failed) and its task instances: %s" % (version, row))
    tap(not af.invalid_requests and not af.invalid_replies,
        "%s: every request and reply valid for the spec: %s %s" % (version, af.invalid_requests, af.invalid_replies))
    # a body the server refuses (kant never sends one): the error's text, as kant shows it
    cur.execute("SELECT status, body FROM kant._airflow_post('socrates', 'dags/daily_load/clearTaskInstances', '{\"bogus\": 1}')")
    st, body = cur.fetchone()
    tap((st, body) == ((422, "HTTP 422: bogus: Extra inputs are not permitted") if version == "v2" else
                       (400, "Bad Request: {'bogus': ['Unknown field.']}")),
        "%s: a body Airflow refuses: %s %s" % (version, st, body))
    posts = [q for q in af.requests if q.get("method") == "POST"]
    tap(posts and all(isinstance(q.get("at"), float) for q in af.requests),
        "%s: the fake records every request with its time (%d POSTs)" % (version, len(posts)))
    af.stop()
    conn.close()


if __name__ == "__main__":
    for v in ("v1", "v2"):
        fake_checks(v)
        main(v)
    tap.plan()
