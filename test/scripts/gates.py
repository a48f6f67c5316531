#!/usr/bin/python3
"""Gates: kant.kant_gate_ready() is closed while an upstream job is running,
failed or missing, open when all succeeded, closed again on stale data (open
with when_stale = 'open'); kant.gate_status() says why; a condition function
is honoured.  kant.trigger_ready_gates() starts the downstream DAG on a fake
Airflow (v1 and v2, request bodies validated against the OpenAPI spec) once
per gate and business date: a second call, a second session at the same time
and a 409 from Airflow all count as done; 5xx is retried; a hang is logged as
failed and tried again next time; dry_run only logs.  The SQL of
examples/composer/kant_gate.py runs as written with psycopg2's parameter style.
Prints TAP lines."""
import ast
import datetime as dt
import json
import os
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import at_once, fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402

DB = "kant_gates"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def composer_module():
    """The example DAG's module-level constants and its plain functions,
    without importing Airflow (not a Debian package)."""
    tree = ast.parse(open(os.path.join(ROOT, "examples", "composer", "kant_gate.py")).read())
    ns = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)) or \
                (isinstance(node, ast.FunctionDef) and node.name == "collected_business_date"):
            try:
                exec(compile(ast.Module([node], []), "kant_gate.py", "exec"), ns)
            except NameError:
                pass            # needs Airflow itself (the version switch)
    return ns


def render(template, context):
    """A template as Airflow renders it: a sandboxed Jinja environment with
    Airflow's filters (airflow/templates.py: ds is value.strftime("%Y-%m-%d"))."""
    import jinja2.sandbox
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    env.filters["ds"] = lambda v: None if v is None else v.strftime("%Y-%m-%d")
    return env.from_string(template).render(**context)


def airflow_context(due, timetable):
    """What Airflow puts in a scheduled run's context for the run due at
    `due` (a pendulum datetime) under each timetable of "30 3 * * *" in Tokyo:
    CronDataIntervalTimetable (Airflow 2) -- the logical date and
    data_interval_start are the previous tick, data_interval_end the tick;
    CronTriggerTimetable (Airflow 3) -- all three are the tick.  Context
    datetimes are UTC (airflow/utils/context: pendulum in UTC); ds is the
    logical date's date in UTC."""
    import pendulum
    due = due.in_timezone("UTC")
    logical = due.subtract(days=1) if timetable == "CronDataIntervalTimetable" else due
    return {"logical_date": logical, "data_interval_start": logical, "data_interval_end": due,
            "ds": logical.strftime("%Y-%m-%d"), "pendulum": pendulum}


def composer_sql():
    """The SQL constants of the example DAG, without importing Airflow."""
    tree = ast.parse(open(os.path.join(ROOT, "examples", "composer", "kant_gate.py")).read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out[node.targets[0].id] = node.value.value
    return out


def main():
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    bd = today - dt.timedelta(days=1)
    cur.execute("SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo')")
    for j in ("export_users", "export_grades", "export_files"):
        cur.execute("SELECT kant.configure_job('hegel', %s, pipeline => 'hegel_nightly')", (j,))
    # export_files runs on business days only: not required on a day without its slot
    cur.execute("""SELECT kant.set_schedule('hegel', '0 2 * * *', job => 'export_grades', grace => '30 minutes',
                       active_from => %s)""", (bd - dt.timedelta(days=3),))
    cur.execute("SELECT kant.create_gate('socrates_daily', pipeline => 'hegel_nightly')")

    def ready(day=bd):
        cur.execute("SELECT kant.kant_gate_ready('socrates_daily', %s)", (day,))
        return cur.fetchone()[0]

    def status():
        cur.execute("SELECT job, state FROM kant.gate_status('socrates_daily', %s) ORDER BY 1 NULLS FIRST", (bd,))
        return cur.fetchall()

    def report(job, state, run="r1", attempt=1, start="-3 hours", end=None):
        cur.execute("""SELECT kant.report_run('hegel', %s, %s, %s, %s, %s, now() + %s::interval,
                           now() + %s::interval)""", (job, run, state, bd, attempt, start, end))

    tap(ready() is False and ("export_grades", "missing") in status(),
        "nothing ran: closed; the scheduled export_grades is missing: %s" % status())
    report("export_users", "succeeded", end="-2 hours")
    report("export_grades", "running")
    report("export_files", "succeeded", end="-2 hours")
    tap(ready() is False and ("export_grades", "running") in status(),
        "an upstream job running: closed (%s)" % status())
    report("export_grades", "failed", end="-1 hours")
    tap(ready() is False and ("export_grades", "failed") in status(), "an upstream job failed: closed")
    report("export_grades", "succeeded", attempt=2, start="-50 minutes", end="-10 minutes")
    tap(ready() is True and all(s == "succeeded" for _, s in status()),
        "every upstream job succeeded (after a retry): open: %s" % status())
    # stale: the collector of hegel last succeeded 3 hours ago
    cur.execute("""INSERT INTO kant.collection (system_id, started_at, ended_at)
                   SELECT system_id, now() - interval '3 hours', now() - interval '3 hours' FROM kant.system""")
    cur.execute("""INSERT INTO kant.collection (system_id, started_at, ended_at, error)
                   SELECT system_id, now() - interval '1 hour', now() - interval '1 hour', 'GetJobs: timed out'
                   FROM kant.system""")
    st = status()
    tap(ready() is False and st[0][0] is None and st[0][1] == "stale",
        "collector stale for 3 h (limit 2 h): closed, and gate_status says so: %s" % (st[0],))
    cur.execute("UPDATE kant.gate SET when_stale = 'open'")
    tap(ready() is True, "when_stale = 'open': staleness ignored")
    cur.execute("UPDATE kant.gate SET when_stale = 'closed'")
    cur.execute("""INSERT INTO kant.collection (system_id, started_at, ended_at)
                   SELECT system_id, now() - interval '5 minutes', now() - interval '5 minutes' FROM kant.system""")
    tap(ready() is True, "a fresh collection: open again")
    cur.execute("""CREATE FUNCTION public.rows_ok(gate text, business_date date) RETURNS boolean
                   LANGUAGE sql AS $$ SELECT false $$""")
    # (a superuser's shortcut: kant_admin may not write kant.gate; create_gate(condition =>) checks)
    cur.execute("UPDATE kant.gate SET condition = 'public.rows_ok(text,date)', condition_role = current_user::regrole")
    tap(ready() is False, "a condition function that says false keeps it closed")
    cur.execute("UPDATE kant.gate SET condition = NULL, condition_role = NULL")
    try:
        cur.execute("SELECT kant.kant_gate_ready('nope', %s)", (bd,))
        tap(False, "an unknown gate is an error")
    except psycopg2.Error as e:
        tap(e.pgcode == "42704", "an unknown gate: SQLSTATE 42704: %s" % e.pgerror.splitlines()[0])

    # the Composer example's SQL, as the Postgres hook runs it
    sql = composer_sql()
    cur.execute(sql["GATE_SQL"], {"gate": "socrates_daily", "business_date": bd.isoformat()})
    tap(cur.fetchone()[0] is True, "examples/composer: the SqlSensor's query, psycopg2 parameters: true")
    cur.execute(sql["REPORT_SQL"], {"system": "socrates_cb", "job": "s3_to_gcs.transfer_users",
                                    "run_id": "scheduled__%sT19:30:00+00:00" % bd, "state": "success",
                                    "business_date": bd.isoformat(), "attempt": 1,
                                    "started_at": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5),
                                    "ended_at": dt.datetime.now(dt.timezone.utc), "error_message": None})
    tap(cur.fetchone()[0] == 1, "examples/composer: the callback's kant.report_run, psycopg2 parameters: 1 inserted")

    for version in ("v1", "v2"):
        af = FakeAirflow(version=version).start()
        cur.execute("DELETE FROM kant.action_log")
        cur.execute("SELECT kant.drop_gate('socrates_daily')")
        cur.execute("SELECT kant.drop_system('socrates') FROM kant.system WHERE name = 'socrates'")
        cur.execute("SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo')")
        cur.execute("SELECT kant.set_endpoint('socrates', %s)", (af.url(""),))
        if version == "v1":
            cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
        else:
            cur.execute("SELECT kant.set_credentials('socrates', NULL, %s)", (af.token,))
        if version == "v1":
            # a gate added today does not start the DAG for yesterday, which ran
            # under the old flow (no catch-up: Airflow 3's catchup=False default,
            # apache/airflow#47354)
            cur.execute("""SELECT kant.create_gate('socrates_daily', pipeline => 'hegel_nightly',
                               downstream_system => 'socrates', downstream_dag => 's3_to_gcs')""")
            cur.execute("SELECT trigger_from FROM kant.gate WHERE name = 'socrates_daily'")
            tf = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM kant.trigger_ready_gates(dry_run => true)")
            tap(cur.fetchone()[0] == 0 and tf == bd + dt.timedelta(days=1),
                "a new gate triggers from today (%s) on: yesterday's ready date is not caught up" % tf)
            cur.execute("DELETE FROM kant.action_log")
            cur.execute("SELECT kant.drop_gate('socrates_daily')")
        # catching up yesterday is asked for by name
        cur.execute("""SELECT kant.create_gate('socrates_daily', pipeline => 'hegel_nightly',
                           downstream_system => 'socrates', downstream_dag => 's3_to_gcs', trigger_from => %s)""",
                    (bd,))
        # dry run first
        cur.execute("SELECT gate, business_date, outcome FROM kant.trigger_ready_gates(dry_run => true)")
        dry = cur.fetchall()
        posts = [r for r in af.requests if r.get("method") == "POST"]
        tap(dry == [("socrates_daily", bd, "dry_run")] and not posts,
            "%s: dry_run logs what it would do and posts nothing: %s" % (version, dry))
        cur.execute("DELETE FROM kant.action_log")
        # two sessions at once: one trigger
        af.latency = 0.3
        results = at_once(DB, "SELECT gate, business_date, outcome, http_status FROM kant.trigger_ready_gates()")
        af.latency = 0
        posts = [r for r in af.requests if r.get("method") == "POST"]
        outcomes = sorted(o for r in results for o in r)
        tap(len(posts) == 1 and len(af.triggered) == 1 and len(outcomes) == 1 and outcomes[0][2] == "done",
            "%s: two sessions at once: one POST, one DAG run: %s" % (version, outcomes))
        body = list(af.triggered.values())[0]
        tap(body["dag_run_id"] == "kant__socrates_daily__%s" % bd and body.get("logical_date", "").endswith("Z")
            and not af.invalid_requests,
            "%s: deterministic dag_run_id, logical_date sent, the body valid for the spec: %s" % (version, body))
        # the example DAG, rendered as Airflow renders it for its run due at
        # 03:30 JST the day after the business date, under both timetables:
        # it asks about the same business date and starts the same DAG run
        # (run id, logical date) as kant.trigger_ready_gates()
        import pendulum
        mod = composer_module()
        due = pendulum.datetime(bd.year, bd.month, bd.day, 3, 30, tz="Asia/Tokyo").add(days=1)
        for timetable in ("CronDataIntervalTimetable", "CronTriggerTimetable"):
            ctx = airflow_context(due, timetable)
            asked = render(mod["BUSINESS_DATE"], ctx)
            run_id = render(mod["TRIGGER_RUN_ID"], ctx)
            logical = pendulum.parse(render(mod["TRIGGER_LOGICAL_DATE"], ctx))
            sent = pendulum.parse(body["logical_date"])
            tap(asked == bd.isoformat() and run_id == body["dag_run_id"] and logical == sent
                and logical.in_timezone("UTC").strftime("%Y-%m-%d") == bd.isoformat()
                and logical.in_timezone("Asia/Tokyo").strftime("%Y-%m-%d") == bd.isoformat(),
                "%s: examples/composer under %s ({{ ds }} would be %s): the sensor asks about %s, the trigger "
                "starts %s at %s, as kant does; downstream, {{ ds }} and the Tokyo date of the logical date are "
                "the business date" % (version, timetable, ctx["ds"], asked, run_id, logical))
        # the operator's argument for it: execution_date on Airflow 2, logical_date on 3
        src = open(os.path.join(ROOT, "examples", "composer", "kant_gate.py")).read()
        node = next(n for n in ast.parse(src).body if isinstance(n, ast.Assign)
                    and getattr(n.targets[0], "id", "") == "LOGICAL_DATE_ARG")
        args = []
        for v in ("2.10.5", "3.0.2"):
            ns = {"AIRFLOW_VERSION": v}
            exec(compile(ast.Module([node], []), "kant_gate.py", "exec"), ns)
            args.append(ns["LOGICAL_DATE_ARG"])
        tap(args == ["execution_date", "logical_date"] and "skip_when_already_exists=True" in src,
            "%s: examples/composer passes the logical date as execution_date to Airflow 2's TriggerDagRunOperator "
            "and as logical_date to Airflow 3's, and skips when kant started the run first: %s" % (version, args))
        # the callbacks report the business date kant's collector gives the
        # same task instance: the logical date's date in the system's zone
        for timetable in ("CronDataIntervalTimetable", "CronTriggerTimetable"):
            ld = airflow_context(due, timetable)["logical_date"]
            cur.execute("SELECT (%s::timestamptz AT TIME ZONE time_zone)::date FROM kant.system WHERE name = 'socrates'",
                        (ld.isoformat(),))
            tap(mod["collected_business_date"](ld) == cur.fetchone()[0].isoformat(),
                "%s: examples/composer's callbacks report the business date kant's collector derives (%s)"
                % (version, timetable))
        cur.execute("SELECT count(*) FROM kant.trigger_ready_gates()")
        tap(cur.fetchone()[0] == 0 and len([r for r in af.requests if r.get("method") == "POST"]) == 1,
            "%s: called again: nothing to do" % version)
        # a DAG run that already exists (a restart, the Composer DAG came first):
        # a 409, and Airflow has kant's run (GET dagRun), counts as done; the
        # check reads the DAG run only, so an identity that may trigger and read
        # DAG runs but not task instances gets the same answer
        cur.execute("DELETE FROM kant.action_log")
        af.forbidden = {"/taskInstances"}
        before = len(af.requests)
        cur.execute("SELECT outcome, http_status FROM kant.trigger_ready_gates()")
        af.forbidden = set()
        gets = [q["path"] for q in af.requests[before:] if q.get("method") != "POST" and "/dagRuns/" in q["path"]]
        tap(cur.fetchall() == [("already", 409)] and len(gets) == 1 and "taskInstances" not in gets[0],
            "%s: a 409 for kant's own run (GET dagRun, no task instances read) counts as done: %s" % (version, gets))
        # 503 twice: retried by the HTTP layer
        cur.execute("DELETE FROM kant.action_log")
        af.triggered.clear()
        af.faults = [("dagRuns", "503"), ("dagRuns", "503")]
        cur.execute("SELECT outcome, http_status FROM kant.trigger_ready_gates()")
        tap(cur.fetchall() == [("done", 200)], "%s: 503 twice, retried with backoff: done" % version)
        # a hang: failed, logged; the next call triggers
        cur.execute("DELETE FROM kant.action_log")
        af.triggered.clear()
        af.faults = [("dagRuns", "hang")]
        cur.execute("SET kant.http_timeout = '500ms'")
        cur.execute("SET kant.http_max_retries = 0")
        cur.execute("SELECT outcome FROM kant.trigger_ready_gates()")
        first = cur.fetchall()
        cur.execute("RESET kant.http_timeout")
        cur.execute("RESET kant.http_max_retries")
        af.settle()
        cur.execute("SELECT outcome FROM kant.trigger_ready_gates()")
        second = cur.fetchall()
        cur.execute("SELECT outcome FROM kant.actions ORDER BY action_id")
        log = [r[0] for r in cur.fetchall()]
        tap(first == [("failed",)] and second == [("done",)] and log == ["failed", "done"],
            "%s: a hang is logged as failed and the next call triggers: %s" % (version, log))
        # a DAG run by hand holds the logical date of the gate's run, which
        # Airflow 2 and 3 keep unique (v1 spec DAGRun.logical_date; Airflow 3's
        # DagRun UniqueConstraint, a 409 {"detail": {"reason": "Unique constraint
        # violation", ...}}): Airflow does not have kant's run (GET dagRun 404),
        # so the trigger is refused, once, and said so
        cur.execute("DELETE FROM kant.action_log")
        af.triggered.clear()
        af.posted_runs.clear()
        cur.execute("SELECT r.logical_date FROM kant.gate g "
                    "JOIN kant.system y ON y.system_id = g.downstream_system_id, "
                    "kant._gate_run(g.gate_id, %s, y.time_zone) r WHERE g.name = 'socrates_daily'", (bd,))
        ld = cur.fetchone()[0]
        cur.execute("SELECT status FROM kant._airflow_post('socrates', 'dags/s3_to_gcs/dagRuns', %s)",
                    (json.dumps({"dag_run_id": "manual__by_hand", "logical_date": ld}),))
        cur.execute("SELECT gate, outcome, http_status, detail FROM kant.trigger_ready_gates()")
        t = cur.fetchall()
        cur.execute("SELECT count(*) FROM kant.trigger_ready_gates()")
        again = cur.fetchone()[0]
        tap(len(t) == 1 and t[0][:3] == ("socrates_daily", "refused", 409) and again == 0
            and "another DAG run of s3_to_gcs" in t[0][3]
            and ("Unique constraint violation" in t[0][3] if version == "v2" else "already exists" in t[0][3]),
            "%s: a run by hand at the gate's logical date: Airflow's 409 is refused, once: %s" % (version, t))
        af.stop()
    tap.plan()


main()
