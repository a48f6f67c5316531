#!/usr/bin/python3
"""kant.rerun: "run the failed part of business date D again", from SQL,
against the fake Glue (every request SigV4-verified and validated against
botocore's Glue model) and the fake Airflow (v1 and v2 OpenAPI specs):

- a failed Glue run is restarted as recovery restarts it (GetJobRun, then
  StartJobRun with its JobRunId and Glue's Arguments for it: botocore
  glue-2017-03-31 StartJobRunRequest), a missing one started with the
  business-date argument in the format the job's runs use; a job done, in
  flight, still awaited, or without a business-date argument is left alone,
  with the reason;
- dry run is the default: it says what it would do and calls nothing;
- idempotent: called twice it starts nothing twice, and a run recovery
  restarted is not restarted again;
- a gate's downstream that already ran for the date is not triggered again
  unless asked; asked, it is triggered once more, when the gate is ready
  again, as kant__<gate>__<date>__rerun1 with a logical date one more second
  past midnight and the gate id in microseconds (Airflow 2 and 3 refuse a
  second run with the same logical date: api_connexion
  dag_run_endpoint.post_dag_run, and Airflow 3's DagRun unique constraint,
  answer 409); a second gate on the same DAG is refused once, as Airflow
  refuses it, until re-triggered;
- errors name the argument.
Prints TAP lines."""
import datetime as dt
import json
import os
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import at_once, fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402
from fake_glue import FakeGlue  # noqa: E402

DB = "kant_rerun"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def main():
    glue = FakeGlue(secret_key=SECRET).start()
    # Airflow 2 (API v1): one DAG run per logical date
    af = FakeAirflow(version="v1").start()
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("SELECT kant.add_system('hegel', 'glue', 'UTC', default_pipeline => 'nightly', "
                "bd_argument => '--business_date')")
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1')", (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    cur.execute("SELECT kant.add_system('socrates', 'airflow', 'UTC')")
    cur.execute("SELECT kant.set_endpoint('socrates', %s)", (af.url(""),))
    cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
    now = time.time()
    # the business date: yesterday by the clock (the gate triggers dates
    # lookback_days back from today); every run carries it in its arguments
    d = (dt.datetime.fromtimestamp(now, dt.timezone.utc) - dt.timedelta(days=1)).date()
    ds, dc = d.isoformat(), d.strftime("%Y%m%d")
    glue.data.glue_runs.clear()

    def run(job, run_id, state, started_ago, ended_ago=None, arg=ds, prev=None, in_glue=True):
        r = {"Id": run_id, "JobName": job, "JobRunState": state, "Attempt": 0, "StartedOn": now - started_ago,
             "Arguments": {"--business_date": arg, "--full": "true"}}
        if ended_ago is not None:
            r["CompletedOn"] = now - ended_ago
        if prev:
            r["PreviousRunId"] = prev
        if in_glue:
            glue.data.glue_runs.setdefault(job, []).insert(0, dict(r))
        cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [r]}),))

    def rerun(sql, *args):
        cur.execute("SELECT action, subject, target, outcome, detail FROM kant.rerun(%s)" % sql, args)
        return cur.fetchall()

    # the night: export_users failed, export_orders succeeded, load_items in
    # flight, load_events never ran (its slot passed), and its date format is 20241124
    run("export_users", "jr_u1", "FAILED", 3600, 3000)
    run("export_orders", "jr_o1", "SUCCEEDED", 3600, 1800)
    run("load_items", "jr_i1", "RUNNING", 600)
    e0 = {"Id": "jr_e0", "JobName": "load_events", "JobRunState": "SUCCEEDED", "Attempt": 0,
          "StartedOn": now - 86400 * 2, "CompletedOn": now - 86400 * 2 + 60,
          "Arguments": {"--business_date": (d - dt.timedelta(days=1)).strftime("%Y%m%d")}}
    glue.data.glue_runs["load_events"] = [dict(e0)]
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [e0]}),))
    # load_events is expected for d (a slot an hour ago, due 30 min ago)
    cur.execute("""INSERT INTO kant.expected_run (job_id, slot_at, business_date, due_at)
                   SELECT job_id, to_timestamp(%s), %s, to_timestamp(%s) FROM kant.job WHERE name = 'load_events'""",
                (now - 3600, d, now - 1800))

    # errors name the argument
    for sql, args, state, word in [
            ("business_date => %s", (d,), "22023", "job, pipeline or gate"),
            ("job => 'hegel/export_users', pipeline => 'nightly', business_date => %s", (d,), "22023", "one of"),
            ("job => 'hegel/export_users'", (), "22023", "business_date"),
            ("pipeline => 'nope', business_date => %s", (d,), "42704", "pipeline \"nope\""),
            ("gate => 'nope', business_date => %s", (d,), "42704", "gate \"nope\""),
            # NULL is neither a dry run nor a go-ahead
            ("job => 'hegel/export_users', business_date => %s, dry_run => NULL", (d,), "22023", "dry_run"),
            ("job => 'hegel/export_users', business_date => %s, dry_run => false, retrigger => NULL", (d,),
             "22023", "retrigger"),
            # a date that has begun nowhere has no failed part
            ("job => 'hegel/export_users', business_date => %s", (d + dt.timedelta(days=3),), "22023", "not begun"),
            ("job => 'hegel/export_users', business_date => 'infinity'", (), "22023", "infinity")]:
        try:
            rerun(sql, *args)
            tap(False, "kant.rerun(%s) raised nothing" % sql)
        except psycopg2.Error as e:
            conn.rollback() if not conn.autocommit else None
            tap(e.pgcode == state and word in e.pgerror and e.diag.message_hint,
                "kant.rerun(%s): %s %s (hint: %s)" % (sql, e.pgcode, e.diag.message_primary, e.diag.message_hint))

    # kant acts in READ COMMITTED only: under an older snapshot a second caller
    # would not see the first one's restart and would start it again
    # (StartJobRun has no idempotency token: botocore StartJobRunRequest)
    for fn in ("kant.rerun(job => 'hegel/export_users', business_date => '%s', dry_run => false)" % ds,
               "kant.recover_failed_runs()", "kant.trigger_ready_gates()"):
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try:
            cur.execute("SELECT count(*) FROM " + fn)
            tap(False, "%s under REPEATABLE READ raised nothing" % fn)
        except psycopg2.Error as e:
            tap(e.pgcode == "25000" and "READ COMMITTED" in e.pgerror and not glue.started,
                "%s under REPEATABLE READ: %s %s" % (fn, e.pgcode, e.diag.message_primary))
        cur.execute("ROLLBACK")

    # dry run is the default: the plan, logged, nothing called
    plan = rerun("pipeline => 'nightly', business_date => %s", d)
    by = {r[1]: r for r in plan}
    tap(not glue.started and by["hegel/export_users"][0] == "restart" and by["hegel/export_users"][3] == "dry_run"
        and by["hegel/load_events"][0] == "start" and by["hegel/load_events"][3] == "dry_run"
        and '"--business_date": "%s"' % dc in by["hegel/load_events"][4]
        and by["hegel/export_orders"][3] == "nothing" and by["hegel/load_items"][3] == "nothing"
        and "in flight" in by["hegel/load_items"][4],
        "dry run (the default): restart export_users, start load_events with --business_date %s (its runs' "
        "format), leave the done and the in-flight alone; nothing sent to Glue: %s" % (dc, plan))
    cur.execute("SELECT count(*) FROM kant.actions WHERE kind = 'rerun' AND outcome = 'dry_run'")
    tap(cur.fetchone()[0] == 2, "the dry run's two actions are in kant.actions")

    # for real
    done = rerun("pipeline => 'nightly', business_date => %s, dry_run => false", d)
    by = {r[1]: r for r in done}
    started = sorted(glue.started, key=lambda p: p["JobName"])
    tap(by["hegel/export_users"][3] == "done" and by["hegel/load_events"][3] == "done" and len(started) == 2
        and started[0] == {"JobName": "export_users", "JobRunId": "jr_u1",
                           "Arguments": {"--business_date": ds, "--full": "true"}}
        and started[1] == {"JobName": "load_events", "Arguments": {"--business_date": dc}},
        "dry_run => false: StartJobRun for the failed run (its id and Glue's arguments) and for the missing "
        "date (the business-date argument): %s" % (started,))
    tap(glue.bad_signatures == 0 and not glue.invalid_replies, "every request signed and valid for botocore's model")
    again = rerun("pipeline => 'nightly', business_date => %s, dry_run => false", d)
    by = {r[1]: r for r in again}
    tap(len(glue.started) == 2 and by["hegel/export_users"][3] == "already"
        and by["hegel/load_events"][3] == "already" and "kant.rerun" in by["hegel/export_users"][4],
        "called twice: nothing started twice (already, with when and by whom): %s" % (again,))

    # the restarted run is collected and fails again: a new failure, restarted again
    run("export_users", "jr_u2", "FAILED", 900, 600, prev="jr_u1")
    r = rerun("job => 'hegel/export_users', business_date => %s, dry_run => false", d)
    tap(len(r) == 1 and r[0][2] == "jr_u2" and r[0][3] == "done" and len(glue.started) == 3,
        "the restart failed too: a new failure, restarted on request: %s" % (r,))

    # a run recovery restarted already is not restarted by kant.rerun
    run("load_items", "jr_i1", "FAILED", 600, 60)
    cur.execute("""INSERT INTO kant.action_log (kind, job_id, business_date, system_id, target, outcome, detail)
                   SELECT 'recover', job_id, %s, system_id, 'jr_i1', 'done', 'restart 1 of 2: JobRunId jr_x'
                   FROM kant.job WHERE name = 'load_items'""", (d,))
    r = rerun("job => 'hegel/load_items', business_date => %s, dry_run => false", d)
    tap(len(r) == 1 and r[0][3] == "already" and "recovery" in r[0][4] and len(glue.started) == 3,
        "a failed run recovery restarted already: not restarted again: %s" % (r,))

    # a StartJobRun whose answer is lost (Glue started the run, then a 500) is
    # not retried: StartJobRun has no idempotency token (botocore
    # glue-2017-03-31 StartJobRunRequest), so a retry could start the job
    # twice.  The next call finds Glue's new run, which names the failed one as
    # PreviousRunId (API_JobRun), and starts nothing
    run("load_refunds", "jr_f1", "FAILED", 700, 300)
    n0 = len(glue.started)
    glue.live_runs = 3600
    glue.faults.append(("StartJobRun", None, "acted_500"))
    r1 = rerun("job => 'hegel/load_refunds', business_date => %s, dry_run => false", d)
    n1 = len(glue.started)
    r2 = rerun("job => 'hegel/load_refunds', business_date => %s, dry_run => false", d)
    glue.live_runs = None
    tap(len(r1) == 1 and r1[0][3] == "failed" and "InternalServiceException" in r1[0][4] and n1 == n0 + 1
        and len(r2) == 1 and r2[0][3] == "already" and "PreviousRunId" in r2[0][4] and len(glue.started) == n1,
        "StartJobRun's answer lost (a 500 after Glue started it): not retried; the next call finds the retry "
        "in Glue and starts nothing: %s / %s" % (r1, r2))
    # that retry succeeded (in Glue and in kant): the pipeline is whole again
    glue.data.glue_runs["load_refunds"] = [x for x in glue.data.glue_runs["load_refunds"]
                                           if x.get("PreviousRunId") != "jr_f1"]
    run("load_refunds", "jr_f2", "SUCCEEDED", 200, 100, prev="jr_f1")

    # a busy job (a run per file, MaxConcurrentRuns > 1) starts more runs than
    # one page of GetJobRuns holds before the next call: the retry whose answer
    # was lost is further back, and kant reads on (NextToken) to the failed
    # run's start instead of starting the job a second time
    run("load_files", "jr_lf1", "FAILED", 700, 600)
    nf = len(glue.started)
    glue.live_runs = 3600
    glue.faults.append(("StartJobRun", None, "acted_500"))
    r1 = rerun("job => 'hegel/load_files', business_date => %s, dry_run => false", d)
    for i in range(30):
        glue.data.glue_runs["load_files"].insert(0, {
            "Id": "jr_lf_other_%02d" % i, "JobName": "load_files", "JobRunState": "SUCCEEDED", "Attempt": 0,
            "StartedOn": time.time(), "CompletedOn": time.time(), "Arguments": {"--file": "f%02d" % i}})
    page_size, glue.page_size = glue.page_size, 10
    r2 = rerun("job => 'hegel/load_files', business_date => %s, dry_run => false", d)
    glue.page_size = page_size
    glue.live_runs = None
    tap(len(r1) == 1 and r1[0][3] == "failed" and len(r2) == 1 and r2[0][3] == "already"
        and "PreviousRunId" in r2[0][4] and len(glue.started) == nf + 1,
        "30 runs of a busy job since the lost StartJobRun (pages of 10): the retry is found on page 4, "
        "nothing started twice: %s / %s" % (r1, r2))
    glue.data.glue_runs["load_files"] = [x for x in glue.data.glue_runs["load_files"]
                                         if x.get("PreviousRunId") != "jr_lf1"]
    run("load_files", "jr_lf2", "SUCCEEDED", 200, 100, prev="jr_lf1")

    # the same for a start of a missing date: the answer lost, Glue's run with
    # the date's argument is found at the next call, which starts nothing
    cur.execute("SELECT kant.configure_job('hegel', 'load_fx', pipeline => 'fx', bd_argument => '--business_date')")
    glue.data.glue_runs.setdefault("load_fx", [])
    ns = len(glue.started)
    glue.live_runs = 3600
    glue.faults.append(("StartJobRun", None, "acted_500"))
    r1 = rerun("job => 'hegel/load_fx', business_date => %s, dry_run => false", d)
    r2 = rerun("job => 'hegel/load_fx', business_date => %s, dry_run => false", d)
    glue.live_runs = None
    tap(len(r1) == 1 and r1[0][0] == "start" and r1[0][3] == "failed" and len(r2) == 1 and r2[0][3] == "already"
        and "--business_date %s" % ds in r2[0][4] and len(glue.started) == ns + 1
        and glue.started[-1] == {"JobName": "load_fx", "Arguments": {"--business_date": ds}},
        "a start whose answer was lost: the next call finds Glue's run with the date's argument, nothing started "
        "twice: %s / %s" % (r1, r2))
    # a run started by hand that writes the date in the other format (20241124
    # where kant would send 2024-11-24) is found too
    cur.execute("SELECT kant.configure_job('hegel', 'load_fx2', pipeline => 'fx', bd_argument => '--business_date')")
    glue.data.glue_runs["load_fx2"] = [{"Id": "jr_fx2_by_hand", "JobName": "load_fx2", "JobRunState": "RUNNING",
                                        "Attempt": 0, "StartedOn": time.time() - 60,
                                        "Arguments": {"--business_date": dc}}]
    ns = len(glue.started)
    r = rerun("job => 'hegel/load_fx2', business_date => %s, dry_run => false", d)
    tap(len(r) == 1 and r[0][3] == "already" and "jr_fx2_by_hand" in r[0][4] and len(glue.started) == ns,
        "a run by hand with the date in the other format (%s): found, nothing started: %s" % (dc, r))

    # Glue refuses: it does not report the run as failed (someone restarted it by hand)
    run("export_orders", "jr_o2", "FAILED", 500, 100, in_glue=False)
    glue.data.glue_runs["export_orders"].insert(0, {"Id": "jr_o2", "JobName": "export_orders",
                                                    "JobRunState": "SUCCEEDED", "Attempt": 0,
                                                    "StartedOn": now - 500, "CompletedOn": now - 100})
    ns = len(glue.started)
    r = rerun("job => 'hegel/export_orders', business_date => %s, dry_run => false", d)
    tap(len(r) == 1 and r[0][3] == "refused" and "SUCCEEDED" in r[0][4] and len(glue.started) == ns,
        "Glue says the run succeeded: refused, nothing started: %s" % (r,))

    # a job still awaited, a job without a business-date argument
    cur.execute("SELECT kant.add_system('plato', 'glue', 'UTC', default_pipeline => 'other')")
    cur.execute("""INSERT INTO kant.job (system_id, name, pipeline) SELECT system_id, 'copy', 'other'
                   FROM kant.system WHERE name = 'plato'""")
    r = rerun("job => 'plato/copy', business_date => %s", d)
    tap(len(r) == 1 and r[0][3] == "skipped" and "business-date argument" in r[0][4] and "configure_job" in r[0][4],
        "a missing job without a business-date argument: skipped, with how to set one: %s" % (r,))
    cur.execute("""INSERT INTO kant.expected_run (job_id, slot_at, business_date, due_at)
                   SELECT job_id, to_timestamp(%s), %s, to_timestamp(%s) FROM kant.job WHERE name = 'copy'""",
                (now + 600, d, now + 3600))
    r = rerun("pipeline => 'other', business_date => %s", d)
    tap(len(r) == 1 and r[0][3] == "skipped" and "awaited" in r[0][4],
        "a job whose slot is still within its grace: skipped (awaited): %s" % (r,))

    # Glue runs another run of the job (of another date, say): not this
    # failure's restart; asked again once it has ended, restarted
    run("export_orders", "jr_o3", "FAILED", 400, 90, prev="jr_o2")
    glue.concurrent_running = True
    r = rerun("job => 'hegel/export_orders', business_date => %s, dry_run => false", d)
    glue.concurrent_running = False
    r2 = rerun("job => 'hegel/export_orders', business_date => %s, dry_run => false", d)
    tap(r[0][3] == "skipped" and "ConcurrentRunsExceededException" in r[0][4] and r2[0][3] == "done"
        and glue.started[-1]["JobRunId"] == "jr_o3",
        "ConcurrentRunsExceededException: skipped, and restarted when asked again: %s / %s" % (r[0][3:], r2[0][3]))
    n_started = len(glue.started)

    # a tick never waits for what kant.rerun holds: an operator's open transaction
    # (export_users has a recovery policy, so recovery asks for its lock)
    cur.execute("SELECT kant.set_recovery('hegel/export_users', min_wait => '0', dry_run => true)")
    cur2 = psycopg2.connect(dbname=DB)
    c2 = cur2.cursor()
    c2.execute("SELECT count(*) FROM kant.rerun(pipeline => 'nightly', business_date => %s)", (d,))
    c2.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
    held = c2.fetchone()[0]
    t0 = time.time()
    cur.execute("SELECT count(*) FROM kant.tick(deadline => '10 seconds')")
    waited = time.time() - t0
    cur2.rollback()
    cur2.close()
    cur.execute("SELECT kant.unset_recovery('hegel/export_users')")
    tap(held >= 4 and waited < 5,
        "kant.tick leaves the jobs another session holds (%d locks) to the next tick: %.2f s" % (held, waited))

    # two sessions at once on a new failure: one StartJobRun
    run("export_users", "jr_u3", "FAILED", 300, 30, prev="jr_u2")
    glue.latency = 0.3
    out = at_once(DB, "SELECT outcome FROM kant.rerun(job => 'hegel/export_users', business_date => '%s', "
                      "dry_run => false)" % ds)
    glue.latency = 0
    tap(len(glue.started) == n_started + 1 and sorted(o for r in out for o in r) == [("already",), ("done",)],
        "two sessions at once: one StartJobRun: %s" % (out,))

    # ---- the gate's downstream
    for job in ("export_users", "load_events", "load_items", "export_orders"):
        run(job, "jr_ok_" + job, "SUCCEEDED", 200, 100,
            arg=dc if job == "load_events" else ds,
            prev={"export_users": "jr_u3", "load_items": "jr_i1", "export_orders": "jr_o2"}.get(job))
    cur.execute("""SELECT kant.create_gate('to_google', pipeline => 'nightly', downstream_system => 'socrates',
                       downstream_dag => 's3_to_gcs', trigger_from => %s, when_stale => 'open')""", (d,))
    cur.execute("SELECT gate, business_date, outcome FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    first = cur.fetchall()
    tap(first == [("to_google", d, "done")] and ("s3_to_gcs", "kant__to_google__%s" % ds) in af.triggered,
        "the gate triggers the downstream once: %s" % (first,))
    r = rerun("gate => 'to_google', business_date => %s, dry_run => false", d)
    g = [x for x in r if x[0] == "retrigger"]
    tap(len(g) == 1 and g[0][3] == "nothing" and "not triggered again" in g[0][4] and len(af.triggered) == 1,
        "a downstream that ran already is not triggered again unless asked: %s" % (g,))
    r = rerun("gate => 'to_google', business_date => %s, retrigger => true", d)
    g = [x for x in r if x[0] == "retrigger"]
    tap(len(g) == 1 and g[0][3] == "dry_run" and g[0][2].endswith("__rerun1"),
        "retrigger, dry run: it would trigger it again as __rerun1: %s" % (g,))
    r = rerun("gate => 'to_google', business_date => %s, retrigger => true, dry_run => false", d)
    g = [x for x in r if x[0] == "retrigger"]
    tap(len(g) == 1 and g[0][3] == "done", "retrigger asked: %s" % (g,))
    r = rerun("gate => 'to_google', business_date => %s, retrigger => true, dry_run => false", d)
    g = [x for x in r if x[0] == "retrigger"]
    cur.execute("SELECT count(*) FROM kant.gate_rerun")
    tap(len(g) == 1 and g[0][3] == "nothing" and cur.fetchone()[0] == 1,
        "asked twice before it ran: one re-trigger pending, not two: %s" % (g,))
    cur.execute("SELECT gate, business_date, outcome FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    second = cur.fetchall()
    body = af.triggered.get(("s3_to_gcs", "kant__to_google__%s__rerun1" % ds))
    cur.execute("SELECT gate_id FROM kant.gate WHERE name = 'to_google'")
    gid = cur.fetchone()[0]
    tap(second == [("to_google", d, "done")] and body is not None
        and body["logical_date"] == "%sT00:00:02.%06dZ" % (ds, gid) and body["conf"].get("rerun") == 1
        and not af.invalid_requests,
        "the gate ready: triggered again as kant__to_google__%s__rerun1, logical date 00:00:02Z plus the gate id "
        "in microseconds (one run per "
        "logical date in Airflow 2), conf.rerun 1: %s" % (ds, body))
    cur.execute("SELECT count(*) FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    tap(cur.fetchone()[0] == 0 and len(af.triggered) == 2, "and not a third time")
    cur.execute("""SELECT status, body FROM kant._airflow_post('socrates', 'dags/s3_to_gcs/dagRuns',
                       '{"dag_run_id": "same_logical_date", "logical_date": "%sT00:00:02.%06dZ"}')""" % (ds, gid))
    st, b = cur.fetchone()
    tap(st == 409 and "logical date" in b,
        "(the fake, as Airflow 2: a second run with that logical date is a 409: %s)" % b)

    # a second gate on the same DAG: Airflow keeps (dag_id, logical_date)
    # unique (Airflow 2 and 3: airflow-core models/dagrun.py), so a gate whose
    # DAG an older gate triggers too adds its id in microseconds: both run
    cur.execute("""SELECT kant.create_gate('to_google_too', pipeline => 'nightly', downstream_system => 'socrates',
                   downstream_dag => 's3_to_gcs', trigger_from => %s)""", (d,))
    cur.execute("SELECT gate_id FROM kant.gate WHERE name = 'to_google_too'")
    gid2 = cur.fetchone()[0]
    cur.execute("SELECT gate, outcome, http_status FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    t = cur.fetchall()
    body = af.triggered.get(("s3_to_gcs", "kant__to_google_too__%s" % ds))
    tap(t == [("to_google_too", "done", 200)] and body and body["logical_date"] == "%sT00:00:01.%06dZ" % (ds, gid2),
        "a second gate on the same DAG: its run's logical date carries the gate id in microseconds, and Airflow "
        "takes it: %s" % (body,))
    # a DAG run by hand holds the logical date of a gate's run: Airflow answers
    # 409; kant asks whether the run is its own (GET dagRun: 404), logs it
    # refused, once, instead of counting it triggered; a re-trigger moves it
    cur.execute("""SELECT kant.create_gate('to_google_3', pipeline => 'nightly', downstream_system => 'socrates',
                   downstream_dag => 's3_to_gcs', trigger_from => %s)""", (d,))
    cur.execute("SELECT g.gate_id, r.logical_date FROM kant.gate g "
                "JOIN kant.system y ON y.system_id = g.downstream_system_id, "
                "kant._gate_run(g.gate_id, %s, y.time_zone) r WHERE g.name = 'to_google_3'", (d,))
    gid3, ld3 = cur.fetchone()
    cur.execute("SELECT status FROM kant._airflow_post('socrates', 'dags/s3_to_gcs/dagRuns', %s)",
                (json.dumps({"dag_run_id": "manual__by_hand", "logical_date": ld3}),))
    cur.execute("SELECT gate, outcome, http_status, detail FROM kant.trigger_ready_gates() WHERE business_date = %s",
                (d,))
    t = cur.fetchall()
    tap(len(t) == 1 and t[0][:3] == ("to_google_3", "refused", 409)
        and "another DAG run of s3_to_gcs" in t[0][3] and "kant.rerun(gate => 'to_google_3'" in t[0][3],
        "a run by hand at the gate's logical date: Airflow's 409 is refused, not counted triggered: %s" % (t,))
    cur.execute("SELECT count(*) FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    tap(cur.fetchone()[0] == 0, "refused once: not tried again every tick")
    g = [x for x in rerun("gate => 'to_google_3', business_date => %s", d) if x[0] == "retrigger"]
    tap(len(g) == 1 and g[0][3] == "nothing" and "Airflow refused" in g[0][4], "kant.rerun says so: %s" % (g,))
    rerun("gate => 'to_google_3', business_date => %s, retrigger => true, dry_run => false", d)
    cur.execute("SELECT gate, outcome FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    t = cur.fetchall()
    body = af.triggered.get(("s3_to_gcs", "kant__to_google_3__%s__rerun1" % ds))
    tap(t == [("to_google_3", "done")] and body
        and body["logical_date"] == "%sT00:00:02.%06dZ" % (ds, gid3) and gid3 != gid,
        "re-triggered: a later logical date of its own (the gate id in microseconds), which Airflow takes: %s"
        % (body,))
    cur.execute("SELECT kant.drop_gate('to_google_too'), kant.drop_gate('to_google_3')")

    # a re-run that acted waits for the systems it acted on to be collected again
    run("export_users", "jr_u5", "FAILED", 60, 30, prev="jr_ok_export_users")
    r = rerun("gate => 'to_google', business_date => %s, retrigger => true, dry_run => false", d)
    by = {x[0]: x for x in r if x[3] != "nothing"}
    cur.execute("SELECT systems = ARRAY[(SELECT system_id FROM kant.system WHERE name = 'hegel')] "
                "FROM kant.gate_rerun WHERE generation = 2")
    tap(by.get("restart", [None] * 4)[3] == "done" and by.get("retrigger", [None] * 4)[3] == "done"
        and cur.fetchone()[0], "a re-run that restarted a job: re-trigger 2 waits for hegel to be collected: %s" % (r,))
    run("export_users", "jr_u6", "SUCCEEDED", 20, 10, prev="jr_u5")
    nt = len(af.triggered)
    cur.execute("SELECT count(*) FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    tap(cur.fetchone()[0] == 0 and len(af.triggered) == nt,
        "the gate is ready, but hegel was not collected since the re-run: not triggered yet")
    cur.execute("""INSERT INTO kant.collection (system_id, started_at, ended_at)
                   SELECT system_id, clock_timestamp(), clock_timestamp() FROM kant.system WHERE name = 'hegel'""")
    cur.execute("SELECT outcome FROM kant.trigger_ready_gates() WHERE business_date = %s", (d,))
    tap(cur.fetchall() == [("done",)] and ("s3_to_gcs", "kant__to_google__%s__rerun2" % ds) in af.triggered,
        "collected since: triggered as __rerun2")

    cur.execute("SELECT count(*) FROM kant.actions WHERE kind = 'rerun'")
    n = cur.fetchone()[0]
    tap(n >= 10, "every action of kant.rerun is in kant.actions (%d)" % n)
    glue.stop()
    af.stop()
    for version in ("v1", "v2"):
        airflow_side(version)


def airflow_side(version):
    """The failed task instances of a DAG run, cleared in one clearTaskInstances
    (the fake handles it as Airflow 2.10's api_connexion and Airflow 3's
    api_fastapi do: test/fakes/fake_airflow.py cites both)."""
    from airflow_recovery import Data, ti, run_id
    now = time.time()
    d = (dt.datetime.fromtimestamp(now, dt.timezone.utc) - dt.timedelta(days=1)).date()
    run = run_id(d)
    data = Data()
    data.task_instances += [ti("daily_load", "extract", d, "success", 3600, 5),
                            ti("daily_load", "transform", d, "failed", 3000, 2, try_number=2, max_tries=1),
                            ti("daily_load", "load", d, "upstream_failed"),
                            ti("daily_load", "report", d, "failed", 2900, 1)]
    af = FakeAirflow(version=version, data=data).start()
    af.downstream["daily_load"] = {"extract": ["transform"], "transform": ["load"], "load": [], "report": []}
    db = DB + "_" + version
    conn, cur = fresh_db(db)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("SELECT kant.add_system('socrates', 'airflow', 'UTC', default_pipeline => 'gcp')")
    cur.execute("SELECT kant.set_endpoint('socrates', %s)", (af.url(""),))
    if version == "v1":
        cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")
    else:
        cur.execute("SELECT kant.set_credentials('socrates', NULL, %s)", (af.token,))
    tis = af.task_instances()
    cur.execute("SELECT (kant.ingest_airflow_task_instances('socrates', %s::jsonb)).rejected",
                (json.dumps({"task_instances": tis, "total_entries": len(tis)}),))

    def rerun(sql, *args):
        cur.execute("SELECT action, subject, target, outcome, detail FROM kant.rerun(%s)" % sql, args)
        return cur.fetchall()

    plan = rerun("pipeline => 'gcp', business_date => %s", d)
    clears = [r for r in plan if r[0] == "clear"]
    tap(len(clears) == 3 and all(r[3] == "dry_run" for r in clears)
        and {r[2] for r in clears} == {"daily_load/%s try 2" % run, "daily_load/%s try 0" % run,
                                       "daily_load/%s try 1" % run}
        and "would clear 3: load, report, transform" in clears[0][4]
        and all(c["body"]["dry_run"] for c in af.clears) and af.current_tis("daily_load", run)[("transform", -1)]["state"] == "failed",
        "%s: dry run: Airflow's own dry run says what it would clear (nothing changes): %s" % (version, clears[0][4]))
    done = rerun("pipeline => 'gcp', business_date => %s, dry_run => false", d)
    real = [c for c in af.clears if not c["body"]["dry_run"]]
    cur_tis = af.current_tis("daily_load", run)
    want = {"dry_run": False, "only_failed": True, "reset_dag_runs": True, "dag_run_id": run,
            "task_ids": ["load", "report", "transform"], "include_downstream": True}
    if version == "v2":
        want["prevent_running_task"] = True
    tap(len(real) == 1 and real[0]["body"] == want and real[0]["status"] == 200
        and all(cur_tis[(t, -1)]["state"] is None for t in ("transform", "load", "report"))
        and {r[3] for r in done if r[0] == "clear"} == {"done"} and not af.invalid_requests,
        "%s: one clearTaskInstances for the DAG run, dry_run false and reset_dag_runs true sent, the failed task "
        "instances reset: %s" % (version, real[0]["body"] if real else None))
    again = rerun("pipeline => 'gcp', business_date => %s, dry_run => false", d)
    real = [c for c in af.clears if not c["body"]["dry_run"]]
    tap(len(real) == 1 and {r[3] for r in again if r[0] == "clear"} == {"already"}
        and all(" by kant.rerun: " in r[4] for r in again if r[0] == "clear"),
        "%s: called twice: cleared once (already, with when and by whom): %s"
        % (version, [(r[3], r[4][:90]) for r in again if r[0] == "clear"]))
    # a whole DAG by its id, as kant.set_recovery names it
    r = rerun("job => 'socrates/daily_load', business_date => %s", d)
    tap(sorted({x[1] for x in r}) == ["socrates/daily_load.extract", "socrates/daily_load.load",
                                      "socrates/daily_load.report", "socrates/daily_load.transform"]
        and {x[3] for x in r if x[0] == "clear"} == {"already"},
        "%s: job => 'socrates/daily_load' is every task of the DAG: %s" % (version, [(x[1], x[3]) for x in r]))
    # recovery does not clear a try kant.rerun cleared
    cur.execute("SELECT kant.set_recovery('socrates/daily_load', max_attempts => 2, min_wait => '0')")
    cur.execute("SELECT count(*) FROM kant.recover_failed_runs() WHERE outcome IN ('done', 'dry_run')")
    real = [c for c in af.clears if not c["body"]["dry_run"]]
    tap(cur.fetchone()[0] == 0 and len(real) == 1, "%s: recovery does not clear what kant.rerun cleared" % version)
    # Airflow no longer knows the DAG run: 404, refused
    cur.execute("""INSERT INTO kant.job_run (job_id, external_id, attempt, business_date, bd_source, state, raw_state,
                       started_at, ended_at, first_seen, last_seen, batch_id)
                   SELECT job_id, 'manual__gone', 1, %s, 'l', 'failed', 'failed', now() - interval '1 hour',
                       now() - interval '50 minutes', now(), now(), 0
                   FROM kant.job WHERE name = 'daily_load.report'""", (d,))
    r = rerun("job => 'socrates/daily_load.report', business_date => %s, dry_run => false", d)
    tap(any(x[0] == "clear" and x[3] == "refused" and "404" in x[4] for x in r),
        "%s: a DAG run Airflow does not know: 404, refused: %s" % (version, r))
    # a mapped task failing on map indexes 0 and 2: recovery clears the task
    # (every failed index); kant.rerun then finds nothing failed to clear
    mapped = [dict(ti("fan_out", "m", d, st, 1200, 1), map_index=i) for i, st in
              ((0, "failed"), (1, "success"), (2, "failed"))]
    af.data.task_instances.extend(mapped)
    tis = af.task_instances()
    cur.execute("SELECT (kant.ingest_airflow_task_instances('socrates', %s::jsonb)).rejected",
                (json.dumps({"task_instances": tis, "total_entries": len(tis)}),))
    cur.execute("SELECT kant.set_recovery('socrates/fan_out', max_attempts => 2, min_wait => '0')")
    cur.execute("SELECT job, failed_run, outcome FROM kant.recover_failed_runs() WHERE job LIKE 'fan_out%%'")
    rec = cur.fetchall()
    n = len([c for c in af.clears if not c["body"]["dry_run"]])
    r = rerun("job => 'socrates/fan_out.m', business_date => %s, dry_run => false", d)
    tap(any(x[2] == "done" for x in rec) and af.current_tis("fan_out", run)[("m", 2)]["state"] is None
        and all(x[3] == "already" for x in r) and len(r) >= 1,
        "%s: mapped task, indexes 0 and 2 failed, cleared by recovery (%s): kant.rerun clears nothing again: %s"
        % (version, rec, [(x[2], x[3]) for x in r]))
    af.stop()


if __name__ == "__main__":
    main()
    tap.plan()
