#!/usr/bin/python3
"""Hot collection (kant.collect_hot), the request budget and kant.tick(),
against the fake Glue (every request SigV4-verified and validated against
botocore's Glue model) and the fake Airflow (every reply validated against
the OpenAPI spec), started in-process, with data placed relative to now:

- an in-flight Glue run that finished is seen in one hot collection, by id
  (GetJobRun), and only the runs in flight and near their end are read --
  no GetJobs, no GetTriggers, no GetJobRuns of every job;
- a failed attempt Glue retries (a new run id naming it as PreviousRunId), or
  kant restarts (kant.recover_failed_runs), is found with GetJobRuns of a few
  runs;
- a run expected now but not seen yet is found by the hot path, and read
  every minute until it is seen; so is the run of a job whose upstream jobs
  just succeeded; the last job a gate waits for is read every minute;
- a trigger that never fired and a run started by hand are the sweep's: the
  hot path reads neither, moves no watermark, and does not count as a
  collection for staleness;
- throttling (ThrottlingException, 429 with Retry-After): the rate halves,
  what is left is deferred and recorded, no wait runs past the deadline, and
  the rate grows back by a step a minute; a spent budget defers too;
- Airflow: the task instances of DAG runs in flight, without the DAG listing;
- kant.tick(): a gate whose last upstream run finishes is triggered in the
  same call; one system's failure stops neither the others nor the gate;
- the README's setup gives the pg_cron jobs it says, and pg_cron runs the tick.

Sources: botocore's Glue model (/work/shared/reference/aws/
glue-2017-03-31-service-2.json, botocore 0e6e240): GetJobRun (line 2512,
GetJobRunRequest {JobName, RunId} 17267, GetJobRunResponse {JobRun} 17288),
GetJobRuns ("returns the job runs ... with the newest jobs returned first",
2528; GetJobRunsRequest MaxResults 17297), JobRun.PreviousRunId ("the
JobRunId specified in the StartJobRun action", 21091).  Airflow:
test/fakes/airflow/v1-openapi.yaml get_dag_runs (4032) with FilterState
(281: "can be repeated ... (OR condition)"), get_task_instances (4247);
v2-openapi.yaml get_dag_runs (6840, state 7043), get_task_instances (7707).
Prints TAP lines."""
import datetime as dt
import json
import os
import sys
import time
from types import SimpleNamespace

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402
from fake_glue import FakeGlue, GlueHandler  # noqa: E402

DB = "kant_hot_collection"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NOW = time.time()
# the time limits stretch under valgrind and the sanitizers (test/harness)
F = float(os.environ.get("KANT_TIME_FACTOR", "1"))


# a 429 whose Retry-After the test chooses (the fake's own says 1 second)
_send = GlueHandler.send


def _send_retry_after(self, code, body, headers=()):
    ra = getattr(self.server.fake, "retry_after", None)
    if code == 429 and ra is not None:
        headers = [("Retry-After", str(ra))]
    return _send(self, code, body, headers)


GlueHandler.send = _send_retry_after


def jrid(tag):
    """A Glue-looking run id."""
    return "jr_" + (tag.encode().hex() * 64)[:64]


def run(job, tag, started_ago, state="SUCCEEDED", minutes=20, prev=None, attempt=0):
    r = {"Id": jrid(tag), "JobName": job, "Attempt": attempt, "JobRunState": state,
         "StartedOn": NOW - started_ago, "LastModifiedOn": NOW - started_ago,
         "Arguments": {"--enable-metrics": "true"}, "GlueVersion": "4.0", "WorkerType": "G.1X",
         "NumberOfWorkers": 2}
    if state not in ("RUNNING", "STARTING", "WAITING", "STOPPING"):
        end = NOW - started_ago + minutes * 60
        r.update(CompletedOn=end, LastModifiedOn=end, ExecutionTime=minutes * 60)
    if prev:
        r["PreviousRunId"] = prev
    return r


def finish(r, state="SUCCEEDED"):
    """A run in the fake's data ends now."""
    r.update(JobRunState=state, CompletedOn=time.time(), LastModifiedOn=time.time(),
             ExecutionTime=int(time.time() - r["StartedOn"]))


def history(job, n=10, minutes=20, days_ago=1):
    """n successful runs of minutes each, one a day from days_ago back: the p10 of the durations is minutes."""
    return [run(job, "%s_h%02d" % (job, i), 86400 * (i + days_ago), minutes=minutes) for i in range(n)]


def glue_ops(glue, since):
    """The operations of the requests the fake Glue got since index since."""
    return [q["target"][len("AWSGlue."):] for q in glue.requests[since:]]


def main():
    jobs = {}
    for k in range(1, 11):
        jobs["flight_%02d" % k] = history("flight_%02d" % k)
    # two runs in flight: one 30 minutes in (past the p10 of 20 minutes), one just started
    near = run("flight_01", "flight_01_now", 30 * 60, "RUNNING")
    fresh = run("flight_02", "flight_02_now", 2 * 60, "RUNNING")
    jobs["flight_01"].insert(0, near)
    jobs["flight_02"].insert(0, fresh)
    jobs["retry_job"] = history("retry_job")
    # no run on the business dates of the slots these are expected in (today and yesterday, UTC)
    jobs["due_job"] = history("due_job", days_ago=3)
    jobs["manual_job"] = history("manual_job")
    jobs["never_job"] = history("never_job", days_ago=3)
    jobs["gate_job"] = history("gate_job", days_ago=3)
    jobs["up_job"] = history("up_job", days_ago=3)
    jobs["dep_job"] = history("dep_job", days_ago=3)
    jobs["quick_job"] = history("quick_job", days_ago=3)
    jobs["restart_job"] = history("restart_job", days_ago=3)
    glue = FakeGlue(secret_key=SECRET, data=SimpleNamespace(glue_runs=jobs)).start()
    airflow = FakeAirflow(version="v1", data=SimpleNamespace(task_instances=[])).start()
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("SELECT kant.add_system('hegel', 'glue', 'UTC', bd_argument => '--business_date')")
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1', max_parallel => 2)",
                (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    cur.execute("SELECT kant.add_system('socrates', 'airflow', 'UTC')")
    cur.execute("SELECT kant.set_endpoint('socrates', %s)", (airflow.url(""),))
    cur.execute("SELECT kant.set_credentials('socrates', 'kant', 's3cret-pw')")

    def sweep(system="hegel"):
        cur.execute("SELECT requests, error FROM kant.collect_%s(%%s)" % ("glue" if system == "hegel" else "airflow"),
                    (system,))
        return cur.fetchone()

    def hot(system="hegel"):
        cur.execute("""SELECT requests, runs_seen, runs_new, runs_changed, deferred, throttled, jobs, mode,
                              sqlstate, error FROM kant.collect_hot(%s)""", (system,))
        return cur.fetchone()

    def state_of(r):
        cur.execute("SELECT state::text FROM kant.job_run WHERE external_id = %s", (r["Id"],))
        row = cur.fetchone()
        return row and row[0]

    def watermarks():
        cur.execute("SELECT j.name, c.read_until, c.updated_at FROM kant.collect_state c JOIN kant.job j USING (job_id) ORDER BY 1")
        return cur.fetchall()

    # ------------------------------------------------------------ the sweep
    s = sweep()
    cur.execute("SELECT mode, jobs FROM kant.collection ORDER BY collection_id DESC LIMIT 1")
    tap(s[1] is None and cur.fetchone() == ("sweep", len(jobs)),
        "a sweep reads every job and is recorded as mode sweep: %s" % (s,))
    tap(state_of(near) == "running" and state_of(fresh) == "running", "kant holds two Glue runs in flight")
    marks = watermarks()

    # ------------------------------------------------ (a) in flight, by id
    finish(near)
    finish(fresh)
    before = len(glue.requests)
    h = hot()
    ops = glue_ops(glue, before)
    bodies = [json.loads(q["body"]) for q in glue.requests[before:]]
    tap(h[8] is None and h[7] == "hot" and ops == ["GetJobRun"] and h[0] == 1
        and bodies[0] == {"JobName": "flight_01", "RunId": near["Id"]},
        "an in-flight run past start + p10 - 1 minute is read by id, and nothing else: one GetJobRun, "
        "no GetJobs, GetTriggers or GetJobRuns of the %d jobs: %s %s" % (len(jobs), ops, (h,)))
    tap(state_of(near) == "succeeded" and h[3] == 1,
        "the run that finished is seen finishing within one hot collection: %s" % state_of(near))
    tap(state_of(fresh) == "running",
        "a run 2 minutes into a 20-minute job is not read yet (every 10 minutes until near its end)")
    tap(watermarks() == marks, "the hot collection moved no watermark (kant.collect_state)")
    # ten minutes later (as kant sees it) the young run is read, too
    cur.execute("UPDATE kant.job_run SET first_seen = first_seen - interval '11 minutes' WHERE external_id = %s",
                (fresh["Id"],))
    before = len(glue.requests)
    h = hot()
    tap(glue_ops(glue, before) == ["GetJobRun"] and state_of(fresh) == "succeeded",
        "a run not yet near its end is read once its last reading is 10 minutes old: %s" % glue_ops(glue, before))
    tap(glue.bad_signatures == 0 and not glue.invalid_replies,
        "every hot request is SigV4-signed and valid for botocore's Glue model")

    # -------------------------------------------- (b) a retry Glue makes
    failed = run("retry_job", "retry_job_f", 10 * 60, "FAILED", minutes=9)
    glue.data.glue_runs["retry_job"].insert(0, failed)
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [failed]}),))
    cur.execute("SELECT max_retries FROM kant.job WHERE name = 'retry_job'")
    tap(cur.fetchone() == (1,), "retry_job may be retried by Glue once (MaxRetries from GetJobs)")
    before = len(glue.requests)
    h = hot()
    tap(glue_ops(glue, before) == ["GetJobRuns"] and json.loads(glue.requests[before]["body"]) ==
        {"MaxResults": 5, "JobName": "retry_job"},
        "a failed attempt with retries left: its newest runs are read (GetJobRuns, MaxResults 5): %s"
        % glue.requests[before]["body"])
    retry = run("retry_job", "retry_job_r", 30, "RUNNING", prev=failed["Id"], attempt=1)
    glue.data.glue_runs["retry_job"].insert(0, retry)
    before = len(glue.requests)
    h = hot()
    cur.execute("SELECT attempt, previous_external_id, state::text FROM kant.job_run WHERE external_id = %s",
                (retry["Id"],))
    got = cur.fetchone()
    tap(glue_ops(glue, before) == ["GetJobRuns"] and got == (2, failed["Id"], "running"),
        "the retry, a new run id naming the failed one as PreviousRunId, is found: %s" % (got,))
    before = len(glue.requests)
    h = hot()
    tap(glue_ops(glue, before) == [],
        "once found, the retry's job is not read again, nor the retry 30 seconds into a 20-minute job: %s"
        % glue_ops(glue, before))
    # 20 minutes later (kant's clock for the run moved back) it is read by id and seen finishing
    finish(retry)
    cur.execute("UPDATE kant.job_run SET started_at = started_at - interval '20 minutes' WHERE external_id = %s",
                (retry["Id"],))
    before = len(glue.requests)
    h = hot()
    tap(glue_ops(glue, before) == ["GetJobRun"] and state_of(retry) == "succeeded",
        "near its end the retry is read by id and seen finishing: %s" % glue_ops(glue, before))

    # ------------------------------------- (b) a restart kant makes
    cur.execute("SELECT kant.set_job_retries('hegel/restart_job', 0)")
    cur.execute("SELECT kant.set_recovery('hegel/restart_job', min_wait => '0')")
    broke = run("restart_job", "restart_job_f", 10 * 60, "FAILED", minutes=9)
    glue.data.glue_runs["restart_job"].insert(0, broke)
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [broke]}),))
    before = len(glue.requests)
    hot()
    no_retry = glue_ops(glue, before)
    cur.execute("SELECT outcome FROM kant.recover_failed_runs()")
    restarted = cur.fetchall()
    before = len(glue.requests)
    hot()
    asked = [(q["target"][8:], json.loads(q["body"]).get("JobName")) for q in glue.requests[before:]]
    tap(no_retry == [] and restarted == [("done",)] and asked == [("GetJobRuns", "restart_job")],
        "a failed run without Glue retries is not read; once kant restarted it (StartJobRun), the job's newest "
        "runs are read for the new attempt: %s %s %s" % (no_retry, restarted, asked))
    cur.execute("SELECT detail FROM kant.action_log WHERE kind = 'recover' AND outcome = 'done'")
    new_id = cur.fetchone()[0].split("JobRunId ")[1]
    again = dict(run("restart_job", "restart_job_r", 20, "RUNNING", prev=broke["Id"]), Id=new_id)
    glue.data.glue_runs["restart_job"].insert(0, again)
    hot()
    before = len(glue.requests)
    hot()
    cur.execute("SELECT previous_external_id FROM kant.job_run WHERE external_id = %s", (new_id,))
    tap(cur.fetchone() == (broke["Id"],) and glue_ops(glue, before) == [],
        "the restart (PreviousRunId the failed run) is found, and the job is not read again: %s"
        % glue_ops(glue, before))

    # ------------------------------------------- (c) a run expected now
    slot = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=3)
    cur.execute("""SELECT kant.set_schedule('hegel', %s, job => 'due_job', time_zone => 'UTC',
                       grace => '30 minutes', active_from => current_date - 2)""",
                ("%d %d * * *" % (slot.minute, slot.hour),))
    cur.execute("SELECT kant.expand_schedules()")
    cur.execute("SELECT status FROM kant.expected_runs WHERE job = 'due_job' AND slot_at <= now() ORDER BY slot_at DESC LIMIT 1")
    tap(cur.fetchone() == ("awaited",), "due_job is expected 3 minutes ago and awaited")
    before = len(glue.requests)
    h = hot()
    tap(glue_ops(glue, before) == ["GetJobRuns"] and h[4] == 0,
        "a run expected now and not seen: its newest runs are read: %s" % glue_ops(glue, before))
    before = len(glue.requests)
    hot()
    tap(glue_ops(glue, before) == ["GetJobRuns"], "and read again the next minute, until it is seen")
    started = run("due_job", "due_job_now", 60, "RUNNING")
    started["Arguments"]["--business_date"] = slot.date().isoformat()
    glue.data.glue_runs["due_job"].insert(0, started)
    h = hot()
    cur.execute("SELECT status FROM kant.expected_runs WHERE job = 'due_job' AND slot_at <= now() ORDER BY slot_at DESC LIMIT 1")
    slot_status = cur.fetchone()
    tap(state_of(started) == "running" and slot_status == ("started",),
        "the run that started is found by the hot path; the slot is started: %s %s %s"
        % (state_of(started), slot_status, (h,)))
    before = len(glue.requests)
    hot()
    tap(glue_ops(glue, before) == [], "then neither it (1 minute into a 20-minute job) nor its job is read: %s"
        % glue_ops(glue, before))

    # a job whose upstream job just succeeded (kant.set_dependency), without a run yet for that date
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    cur.execute("SELECT kant.set_dependency('hegel/dep_job', ARRAY['hegel/up_job'])")
    up = run("up_job", "up_job_now", 10 * 60, "SUCCEEDED", minutes=5)
    up["Arguments"]["--business_date"] = today
    glue.data.glue_runs["up_job"].insert(0, up)
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [up]}),))
    before = len(glue.requests)
    hot()
    asked = [(q["target"][8:], json.loads(q["body"]).get("JobName")) for q in glue.requests[before:]]
    tap(asked == [("GetJobRuns", "dep_job")],
        "a job whose upstream jobs all succeeded within the hour, without a run for that date: its newest "
        "runs are read: %s" % asked)
    dep = run("dep_job", "dep_job_now", 30, "RUNNING")
    dep["Arguments"]["--business_date"] = today
    glue.data.glue_runs["dep_job"].insert(0, dep)
    hot()
    before = len(glue.requests)
    hot()
    tap(state_of(dep) == "running" and glue_ops(glue, before) == [],
        "its run is found, and then its job is not read again: %s" % glue_ops(glue, before))

    # the last job a gate waits for is read every minute, however early in its run
    quick = run("quick_job", "quick_job_now", 2 * 60, "RUNNING")
    quick["Arguments"]["--business_date"] = today
    glue.data.glue_runs["quick_job"].insert(0, quick)
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [quick]}),))
    before = len(glue.requests)
    hot()
    alone = glue_ops(glue, before)
    cur.execute("""SELECT kant.create_gate('last_one', jobs => ARRAY['hegel/up_job', 'hegel/quick_job'],
                       when_stale => 'open')""")
    finish(quick)
    before = len(glue.requests)
    hot()
    tap(alone == [] and glue_ops(glue, before) == ["GetJobRun"] and state_of(quick) == "succeeded",
        "a run 2 minutes into a 20-minute job is read every minute once it is the last one a gate waits for "
        "(up_job is done), and seen finishing early: %s, then %s" % (alone, glue_ops(glue, before)))
    cur.execute("SELECT kant.drop_gate('last_one')")

    # ------------------------- the sweep's: a trigger that never fired, a run by hand
    hour_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    glue.extra_triggers = [{"Name": "never_fires", "Type": "SCHEDULED", "State": "ACTIVATED",
                            "Schedule": "cron(%d %d * * ? *)" % (hour_ago.minute, hour_ago.hour),
                            "Actions": [{"JobName": "never_job"}]}]
    by_hand = run("manual_job", "manual_job_now", 5 * 60, "SUCCEEDED", minutes=4)
    glue.data.glue_runs["manual_job"].insert(0, by_hand)
    marks = watermarks()
    cur.execute("SELECT last_success_at FROM kant.collector_health WHERE system = 'hegel'")
    last_ok = cur.fetchone()[0]
    before = len(glue.requests)
    for _ in range(2):
        hot()
    asked = [json.loads(q["body"]).get("JobName") for q in glue.requests[before:]]
    cur.execute("SELECT count(*) FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE j.name = 'never_job'")
    never = cur.fetchone()
    tap("never_job" not in asked and "manual_job" not in asked and state_of(by_hand) is None
        and never == (0,) and "GetTriggers" not in glue_ops(glue, before),
        "the hot path reads no trigger and no job it has no reason to: the run started by hand and the "
        "trigger that never fired are unknown to kant after it: %s %s %s" % (glue_ops(glue, before), asked, never))
    cur.execute("SELECT last_success_at FROM kant.collector_health WHERE system = 'hegel'")
    now_ok = cur.fetchone()[0]
    tap(watermarks() == marks and now_ok == last_ok,
        "hot collections move no watermark and are not the system's last successful collection")
    s = sweep()
    cur.execute("UPDATE kant.schedule x SET active_from = current_date - 2 FROM kant.job j "
                "WHERE j.job_id = x.job_id AND j.name = 'never_job'")
    cur.execute("SELECT kant._reexpand(array_agg(job_id)) FROM kant.job WHERE name = 'never_job'")
    cur.execute("""SELECT status FROM kant.expected_runs WHERE job = 'never_job' AND slot_at <= now()
                   ORDER BY slot_at DESC LIMIT 1""")
    missing = cur.fetchone()
    cur.execute("SELECT count(*) FROM kant.check_conditions() WHERE kind = 'missing'")
    alerts = cur.fetchone()[0]
    tap(s[1] is None and state_of(by_hand) == "succeeded" and missing == ("missing",) and alerts >= 1,
        "the sweep catches both: the run by hand is read, the trigger's slot two hours ago is missing "
        "(and a missing alert): %s %s" % (missing, alerts))
    # staleness counts sweeps only: a fresh hot collection does not hide a sweep 3 hours old
    cur.execute("UPDATE kant.collection SET started_at = started_at - interval '3 hours', "
                "ended_at = ended_at - interval '3 hours' WHERE mode = 'sweep'")
    hot()
    cur.execute("SELECT seconds_since_success >= 3 * 3600, last_hot_at > now() - interval '1 minute' "
                "FROM kant.collector_health WHERE system = 'hegel'")
    health = cur.fetchone()
    cur.execute("SELECT count(*) FROM kant.check_conditions() WHERE kind = 'stale' AND summary LIKE '%hegel%'")
    tap(health == (True, True) and cur.fetchone()[0] == 1,
        "a sweep 3 hours old makes the collector stale however fresh the hot collections are: %s" % (health,))
    sweep()

    # --------------------------------------------------------- throttling
    # ten runs in flight, all past their p10
    inflight = []
    for k in range(1, 11):
        r = run("flight_%02d" % k, "flight_%02d_t" % k, 40 * 60, "RUNNING")
        glue.data.glue_runs["flight_%02d" % k].insert(0, r)
        inflight.append(r)
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": inflight}),))
    cur.execute("SELECT kant.set_collect_budget('hegel', per_minute => 20)")
    glue.throttle_next = 1
    before = len(glue.requests)
    h = hot()
    cur.execute("SELECT rate, halvings FROM kant.collect_budget b JOIN kant.system s USING (system_id) WHERE s.name = 'hegel'")
    rate, halvings = cur.fetchone()
    tap(h[8] is None and h[5] == 1 and h[0] == 3 and h[4] == 8 and rate == 10 and halvings == 1,
        "a ThrottlingException (retried): the rate halves (20 to 10 a minute), no new round starts, the 8 reads "
        "left are deferred and recorded: %s, rate %s" % ((h,), rate))
    h = hot()
    tap(h[8] is None and h[4] == 0 and h[5] == 0 and h[0] == 10,
        "the next tick reads all ten (the two read already are still in flight), within the halved rate: %s"
        % (h,))
    cur.execute("SELECT rate FROM kant.collect_budget b JOIN kant.system s USING (system_id) WHERE s.name = 'hegel'")
    flat = cur.fetchone()[0]
    # three minutes pass without throttling: the rate grows back by a step (a tenth of 20) a minute
    cur.execute("""UPDATE kant.collect_budget b SET refilled_at = refilled_at - interval '3 minutes',
                       throttled_at = throttled_at - interval '3 minutes'
                   FROM kant.system s WHERE s.system_id = b.system_id AND s.name = 'hegel'""")
    cur.execute("SELECT requests FROM kant.collect_hot('hegel')")
    cur.execute("SELECT rate FROM kant.collect_budget b JOIN kant.system s USING (system_id) WHERE s.name = 'hegel'")
    grown = cur.fetchone()[0]
    tap(9.99 < flat < 10.1 and 15.99 < grown < 16.1,
        "without throttling the rate grows back additively: %s, 3 minutes later %s a minute" % (flat, grown))
    # a spent budget: 3 requests a minute, ten reads wanted
    cur.execute("SELECT kant.set_collect_budget('hegel', per_minute => 3)")
    h = hot()
    tap(h[0] == 3 and h[4] == 7 and h[5] == 0,
        "a budget of 3 a minute: 3 reads, 7 deferred and recorded: %s" % (h,))
    # 429 with Retry-After: 300 -- never waited inside a tick
    cur.execute("SELECT kant.set_collect_budget('hegel', per_minute => 300)")
    cur.execute("UPDATE kant.collect_budget SET tokens = 300, rate = 300")
    glue.retry_after = 300
    glue.sticky = [("GetJobRun", None, "429")]
    t0 = time.time()
    h = hot()
    took = time.time() - t0
    cur.execute("SELECT rate FROM kant.collect_budget b JOIN kant.system s USING (system_id) WHERE s.name = 'hegel'")
    rate = cur.fetchone()[0]
    tap(h[8] is None and took < 5 * F and h[5] == 2 and h[4] == 10 and rate == 150,
        "429 with Retry-After: 300: not waited (%.1f s), the first round's two throttled, all ten deferred, "
        "the rate halved: %s, rate %s" % (took, (h,), rate))
    t0 = time.time()
    cur.execute("SELECT kant.set_hot_collection('hegel')")
    cur.execute("SELECT step, target, outcome, detail FROM kant.tick(deadline => '3 seconds')")
    rows = cur.fetchall()
    took = time.time() - t0
    tap(took < 3 + 0.5 * F and ("collect", "hegel", "deferred") in [r[:3] for r in rows],
        "kant.tick(deadline => 3 s) ends within it (%.1f s) with the reads deferred: %s" % (took, rows))
    # a Glue that does not answer: the requests are cut at the deadline, not at the 60 s timeout
    glue.sticky = [("GetJobRun", None, "hang")]
    cur.execute("UPDATE kant.collect_budget SET tokens = 300, rate = 300")
    t0 = time.time()
    cur.execute("SELECT step, target, outcome, detail FROM kant.tick(deadline => '3 seconds')")
    rows = cur.fetchall()
    took = time.time() - t0
    tap(1.5 < took < 3 + 0.5 * F and ("collect", "hegel", "deferred") in [r[:3] for r in rows]
        and "10 deferred" in rows[0][3],
        "a Glue that hangs: the tick's requests end at its deadline (%.1f s of 3), deferred: %s" % (took, rows))
    glue.sticky = []
    glue.retry_after = None
    # a sweep in progress holds the system: the hot collection does not wait for it
    other = psycopg2.connect(dbname=DB)
    ocur = other.cursor()
    ocur.execute("SELECT pg_advisory_xact_lock(kant._lock_key('collect'), system_id) FROM kant.system WHERE name = 'hegel'")
    t0 = time.time()
    before = len(glue.requests)
    h = hot()
    took = time.time() - t0
    cur.execute("SELECT hint FROM kant.collection ORDER BY collection_id DESC LIMIT 1")
    hint = cur.fetchone()[0]
    other.rollback()
    other.close()
    tap(took < 2 * F and h[0] == 0 and h[4] == 10 and glue_ops(glue, before) == [] and "sweep" in hint,
        "while a sweep holds the system a hot collection reads nothing and waits for nothing, and says so: %s %s"
        % ((h,), hint))
    cur.execute("SELECT kant.set_hot_collection('hegel', false)")
    for r in inflight:
        finish(r)
    hot()
    hot()
    cur.execute("SELECT count(*) FROM kant.job_run WHERE NOT kant.is_terminal(state) AND job_id IN "
                "(SELECT job_id FROM kant.job WHERE name LIKE 'flight%')")
    tap(cur.fetchone() == (0,), "after the throttling the runs are read and seen finished")

    # ------------------------------------------------------------ Airflow
    def ti(dag, run_id, task, state, start_ago=None, end_ago=None):
        t = {"dag_id": dag, "task_id": task, "dag_run_id": run_id, "execution_date": logical, "map_index": -1,
             "max_tries": 1, "pool": "default_pool", "pool_slots": 1, "queue": "default", "priority_weight": 1,
             "executor_config": "{}", "hostname": "worker-1", "unixname": "airflow", "operator": "BashOperator",
             "sla_miss": None, "rendered_fields": {}, "trigger": None, "triggerer_job": None, "note": None,
             "pid": 1, "state": state, "try_number": 1 if state else 0, "queued_when": None,
             "start_date": iso(start_ago), "end_date": iso(end_ago),
             "duration": (start_ago - end_ago) if start_ago is not None and end_ago is not None else None}
        return t

    def iso(ago):
        if ago is None:
            return None
        return dt.datetime.fromtimestamp(NOW - ago, dt.timezone.utc).isoformat()

    day = dt.datetime.fromtimestamp(NOW - 3600, dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    logical = day.isoformat()
    running = "scheduled__" + logical
    airflow.data.task_instances = [
        ti("load", running, "extract", "success", 1800, 1500),
        ti("load", running, "transform", "running", 1500),
        ti("load", running, "publish", None),
        ti("report", running, "render", "success", 3000, 2900)]
    s = sweep("socrates")
    cur.execute("SELECT count(*) FILTER (WHERE NOT kant.is_terminal(state)), count(*) FROM kant.job_run r "
                "JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id) WHERE s.name = 'socrates'")
    tap(s[1] is None and cur.fetchone() == (2, 4), "the Airflow sweep: 4 task instances, 2 not finished")
    # the DAG run ends; another starts
    airflow.data.task_instances[1].update(state="success", end_date=iso(60), duration=1440)
    airflow.data.task_instances[2].update(state="success", start_date=iso(50), end_date=iso(10), duration=40,
                                          try_number=1)
    other = "manual__" + logical
    airflow.data.task_instances.append(ti("report", other, "render", "running", 30))
    before = len(airflow.requests)
    h = hot("socrates")
    paths = [q["path"].split("?")[0] for q in airflow.requests[before:]]
    listing = [q["path"] for q in airflow.requests[before:] if "dagRuns?" in q["path"]]
    cur.execute("SELECT j.name, r.external_id, r.state::text FROM kant.job_run r JOIN kant.job j USING (job_id) "
                "JOIN kant.system s USING (system_id) WHERE s.name = 'socrates' AND kant._is_current(r.superseded_at) "
                "AND NOT kant.is_terminal(r.state)")
    states = cur.fetchall()
    tap(h[8] is None and "/api/v1/dags" not in paths and not any(p.endswith("/details") for p in paths)
        and sorted(p for p in paths if p.endswith("/taskInstances")) ==
        ["/api/v1/dags/load/dagRuns/%s/taskInstances" % running.replace(":", "%3A").replace("+", "%2B"),
         "/api/v1/dags/report/dagRuns/%s/taskInstances" % other.replace(":", "%3A").replace("+", "%2B")]
        and len(listing) == 1 and "state=queued&state=running" in listing[0]
        and states == [("report.render", other, "running")],
        "Airflow hot: the task instances of the DAG run kant holds in flight and of the one Airflow lists "
        "running, no DAG listing: %s; %s" % (paths, states))
    tap(not airflow.invalid_replies, "every Airflow reply valid against the v1 spec")
    cur.execute("SELECT collected_until FROM kant.system WHERE name = 'socrates'")
    cursor = cur.fetchone()
    hot("socrates")
    cur.execute("SELECT collected_until FROM kant.system WHERE name = 'socrates'")
    tap(cur.fetchone() == cursor, "the Airflow hot collection moves no cursor")

    # ---------------------------------------------------------- the tick
    gate_run = run("gate_job", "gate_job_now", 25 * 60, "RUNNING")
    glue.data.glue_runs["gate_job"].insert(0, gate_run)
    cur.execute("SELECT kant.ingest_glue_job_runs('hegel', %s::jsonb)", (json.dumps({"JobRuns": [gate_run]}),))
    cur.execute("SELECT business_date FROM kant.job_run WHERE external_id = %s", (gate_run["Id"],))
    bd = cur.fetchone()[0]
    cur.execute("""SELECT kant.create_gate('hand_off', jobs => ARRAY['hegel/gate_job'], downstream_system => 'socrates',
                       downstream_dag => 'downstream', when_stale => 'open', trigger_from => %s)""",
                (bd,))
    cur.execute("SELECT kant.add_system('broken', 'glue', 'UTC')")
    cur.execute("SELECT kant.set_hot_collection(s) FROM unnest(ARRAY['hegel', 'socrates', 'broken']) s")
    cur.execute("SELECT step, target, outcome FROM kant.tick()")
    first = cur.fetchall()
    tap(("gate", "hand_off", "done") not in first and not airflow.triggered,
        "a tick while the upstream run is in flight: the gate stays closed: %s" % first)
    finish(gate_run)
    cur.execute("SELECT step, target, outcome, detail FROM kant.tick()")
    rows = cur.fetchall()
    key = ("downstream", "kant__hand_off__%s" % bd.isoformat())
    tap([r[:3] for r in rows][:3] == [("collect", "broken", "failed"), ("collect", "hegel", "done"),
                                      ("collect", "socrates", "done")]
        and ("gate", "hand_off", "done") in [r[:3] for r in rows] and key in airflow.triggered,
        "the upstream run finishes: one tick reads it and triggers the gate's DAG in the same call, though "
        "another system's collection failed: %s" % [r[:3] for r in rows])
    cur.execute("SELECT state::text FROM kant.job_run WHERE external_id = %s", (gate_run["Id"],))
    tap(cur.fetchone() == ("succeeded",) and rows[0][3].startswith("0 requests"),
        "the broken system's failure is its own row: %s" % rows[0][3])
    try:
        cur.execute("SELECT * FROM kant.tick(deadline => '0 seconds')")
        tap(False, "a deadline under a second is refused")
    except psycopg2.Error as e:
        tap(e.pgcode == "22023", "a deadline under a second is refused: %s" % e.pgerror.splitlines()[0])
    try:
        cur.execute("SELECT kant.set_collect_budget('hegel', per_minute => 0)")
        tap(False, "a budget of 0 is refused")
    except psycopg2.Error as e:
        tap(e.pgcode == "22023" and e.diag.message_hint is not None,
            "a budget of 0 is refused, with a hint: %s" % e.pgerror.splitlines()[0])
    try:
        cur.execute("SELECT kant.set_hot_collection('nope')")
        tap(False, "an unknown system is refused")
    except psycopg2.Error as e:
        tap(e.pgcode == "42704", "hot collection of an unknown system is refused: %s" % e.pgerror.splitlines()[0])
    conn.close()
    readme_setup()
    glue.stop()
    airflow.stop()
    tap.plan()


def readme_setup():
    """The README's setup block, in the database pg_cron runs in: the jobs it
    says, the hot collection on, and pg_cron runs kant-gates (kant.tick())."""
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = next(b for lang, b in re.findall(r"```(\w*)\n(.*?)```", readme, re.S)
                 if "kant.schedule_gate_triggers()" in b and "kant.schedule_collection(" in b)
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    cur.execute("DROP EXTENSION IF EXISTS kant CASCADE")
    cur.execute("CREATE EXTENSION kant")
    try:
        cur.execute("SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo')")
        cur.execute("SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo')")
        for stmt in [s.split("--")[0].strip() for s in block.splitlines()]:
            if stmt.startswith("SELECT kant."):
                cur.execute(stmt)
        cur.execute("SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'kant-%' ORDER BY 1")
        jobs = {j: (s, c) for j, s, c in cur.fetchall()}
        every_minute = sorted(j for j, (s, _) in jobs.items() if s == "* * * * *")
        tap(jobs.get("kant-gates") == ("* * * * *", "SELECT step, target, outcome FROM kant.tick()")
            and jobs.get("kant-collect-hegel", ("",))[0] == "0 * * * *"
            and every_minute == ["kant-deliver", "kant-gates"],
            "the README's setup: kant-gates runs kant.tick() every minute, the sweep hourly, two every-minute "
            "jobs in all: %s" % jobs)
        cur.execute("SELECT s.name FROM kant.collect_budget b JOIN kant.system s USING (system_id) WHERE b.hot ORDER BY 1")
        tap(cur.fetchall() == [("hegel",), ("socrates",)], "and turns hot collection on for the systems it sweeps")
        # pg_cron runs it: a run of kant-gates at the next minute, succeeded
        cur.execute("SELECT jobid FROM cron.job WHERE jobname = 'kant-gates'")
        jobid = cur.fetchone()[0]
        got = None
        for _ in range(int(75 * F)):
            cur.execute("SELECT status, return_message FROM cron.job_run_details WHERE jobid = %s "
                        "AND status IN ('succeeded', 'failed') ORDER BY runid DESC LIMIT 1", (jobid,))
            got = cur.fetchone()
            if got:
                break
            time.sleep(1)
        cur.execute("SELECT count(*) FROM kant.collection WHERE mode = 'hot'")
        tap(got is not None and got[0] == "succeeded" and cur.fetchone()[0] >= 2,
            "pg_cron ran kant-gates: %s, and it collected both systems hot" % (got,))
        cur.execute("SELECT kant.unschedule_gate_triggers(), kant.unschedule_gate_triggers(), "
                    "kant.unschedule_collection('hegel'), kant.unschedule_collection('hegel')")
        tap(cur.fetchone() == (True, False, True, False), "unscheduling is idempotent")
    finally:
        cur.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'kant-%'")
        cur.execute("DROP EXTENSION kant CASCADE")
        conn.close()


main()
