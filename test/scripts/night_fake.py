#!/usr/bin/python3
"""The wall-clock night of the fake Glue (test/fakes/night.py), checked by the
real client: Debian's botocore (its Glue model, its SigV4 signer, its parser)
calls GetJobRuns, GetJobRun, GetJobs and GetTriggers on a FakeGlue serving a
Night before, during and after runs' planned windows.  A run does not exist
before its start (GetJobRun: EntityNotFoundException), is STARTING then
RUNNING without CompletedOn until its end, then SUCCEEDED (or FAILED, and
Glue's retry appears at its own start with a new Id, PreviousRunId and
Attempt + 1) with CompletedOn the planned end; every reply is valid against
botocore's Glue model (the fake validates each one before sending it) and
every signature checks.  Also what bench/handoff.py relies on in
night.handoff_night(): triggers whose cron (UTC) fires at each planned start's
minute, earlier nights, and gates whose last successes fall at different
seconds of the minute.  Most checks move the night's clock by hand; one
follows the real clock for a few seconds.  Prints TAP lines."""
import datetime as dt
import os
import re
import sys
import time

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_glue import FakeGlue  # noqa: E402
from night import Night, PlannedRun, handoff_night, trigger_name  # noqa: E402

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
UTC = dt.timezone.utc
# a fixed night: 2026-11-25 17:00 UTC (02:00 JST the next day)
T0 = dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC).timestamp()


def client(glue):
    session = botocore.session.get_session()
    return session.create_client("glue", region_name="ap-northeast-1", endpoint_url=glue.url("/"),
                                 aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET,
                                 config=Config(retries={"max_attempts": 1}))


def ts(value):
    """A timestamp botocore parsed (datetime) as epoch seconds."""
    return value.timestamp()


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def by_hand(tap):
    now = [T0]
    night = Night(clock=lambda: now[0])
    tick = T0 + 60
    trig = trigger_name(tick, "night_test")
    # job a: an earlier night, then tonight's run from tick + 5 s to tick + 10 min
    night.add(PlannedRun("night_a", "jr_a_yesterday", tick + 4 - 86400, tick + 500 - 86400, trigger=trig))
    a = night.add(PlannedRun("night_a", "jr_a_tonight", tick + 5, tick + 600, trigger=trig,
                             arguments={"--business_date": "2026-11-25"}))
    # job b: its first attempt fails, Glue's retry starts 45 s later and succeeds
    night.add(PlannedRun("night_b", "jr_b_yesterday", tick + 3 - 86400, tick + 300 - 86400, trigger=trig))
    b0 = night.add(PlannedRun("night_b", "jr_b_tonight_0", tick + 6, tick + 200, failed=True, trigger=trig))
    b1 = night.add(PlannedRun("night_b", "jr_b_tonight_1", tick + 245, tick + 700, attempt=1, previous=b0.id))
    night.add_job("night_c")        # Glue lists it; it never ran
    glue = FakeGlue(secret_key=SECRET, data=night).start()
    c = client(glue)

    def runs(job):
        return c.get_job_runs(JobName=job)["JobRuns"]

    def run(job, rid):
        return c.get_job_run(JobName=job, RunId=rid)["JobRun"]

    # before the start
    listed = runs("night_a")
    tap([r["Id"] for r in listed] == ["jr_a_yesterday"] and listed[0]["JobRunState"] == "SUCCEEDED",
        "before its start a run is not listed; the earlier night is, SUCCEEDED", listed)
    code = error_code(lambda: run("night_a", a.id))
    tap(code == "EntityNotFoundException", "GetJobRun of a run before its start: EntityNotFoundException (%s)" % code)

    # just after the start: STARTING, then RUNNING, no CompletedOn
    now[0] = a.start + 1
    r = run("night_a", a.id)
    tap(r["JobRunState"] == "STARTING" and "CompletedOn" not in r and "ExecutionTime" not in r
        and abs(ts(r["StartedOn"]) - a.start) < 0.002 and r["TriggerName"] == trig
        and r["Arguments"] == {"--business_date": "2026-11-25"},
        "a second after its start: STARTING, its planned StartedOn, trigger and arguments, no CompletedOn",
        {k: r.get(k) for k in ("JobRunState", "StartedOn", "CompletedOn", "TriggerName")})
    now[0] = a.start + 120
    listed = runs("night_a")
    tap([x["Id"] for x in listed] == [a.id, "jr_a_yesterday"] and listed[0]["JobRunState"] == "RUNNING"
        and "CompletedOn" not in listed[0] and ts(listed[0]["LastModifiedOn"]) <= now[0],
        "two minutes in: RUNNING without CompletedOn, listed newest first",
        [(x["Id"], x["JobRunState"]) for x in listed])

    # b's first attempt failed; its retry is not there yet, then is
    now[0] = b0.end + 10
    listed = runs("night_b")
    tap([x["Id"] for x in listed] == [b0.id, "jr_b_yesterday"] and listed[0]["JobRunState"] == "FAILED"
        and abs(ts(listed[0]["CompletedOn"]) - b0.end) < 0.002 and listed[0].get("ErrorMessage"),
        "a failed attempt: FAILED at its planned end with an ErrorMessage; Glue's retry not started yet",
        [(x["Id"], x["JobRunState"]) for x in listed])
    now[0] = b1.start + 30
    listed = runs("night_b")
    retry = listed[0]
    tap([x["Id"] for x in listed] == [b1.id, b0.id, "jr_b_yesterday"] and retry["Attempt"] == 1
        and retry["PreviousRunId"] == b0.id and "TriggerName" not in retry and retry["JobRunState"] == "RUNNING",
        "Glue's retry from its start: a new Id, Attempt 1, PreviousRunId the failed run, no trigger, RUNNING",
        {k: retry.get(k) for k in ("Id", "Attempt", "PreviousRunId", "JobRunState")})

    # after the end: SUCCEEDED with CompletedOn the planned end
    now[0] = a.end + 0.5
    r = run("night_a", a.id)
    tap(r["JobRunState"] == "SUCCEEDED" and abs(ts(r["CompletedOn"]) - a.end) < 0.002
        and r["ExecutionTime"] == int(a.end - a.start) and ts(r["LastModifiedOn"]) >= ts(r["CompletedOn"]),
        "half a second after its end: SUCCEEDED, CompletedOn the planned end, ExecutionTime its seconds",
        {k: r.get(k) for k in ("JobRunState", "CompletedOn", "ExecutionTime")})
    now[0] = b1.end + 1
    tap([x["JobRunState"] for x in runs("night_b")] == ["SUCCEEDED", "FAILED", "SUCCEEDED"],
        "after the retry's end: the retry SUCCEEDED, the failed attempt stays FAILED")

    # paged as Glue pages (botocore's paginator follows NextToken)
    pages = list(c.get_paginator("get_job_runs").paginate(JobName="night_b", PaginationConfig={"PageSize": 1}))
    tap([p["JobRuns"][0]["Id"] for p in pages] == [b1.id, b0.id, "jr_b_yesterday"],
        "GetJobRuns one run a page: %d pages, newest first" % len(pages))
    jobs = [j["Name"] for p in c.get_paginator("get_jobs").paginate() for j in p["Jobs"]]
    tap(jobs == ["night_a", "night_b", "night_c"] and runs("night_c") == [],
        "GetJobs lists every job of the plan, one that never ran too (its GetJobRuns is empty)", jobs)
    trigs = [t for p in c.get_paginator("get_triggers").paginate() for t in p["Triggers"]]
    when = dt.datetime.fromtimestamp(tick, UTC)
    tap(len(trigs) == 1 and trigs[0]["Schedule"] == "cron(%d %d * * ? *)" % (when.minute, when.hour)
        and sorted(x["JobName"] for x in trigs[0]["Actions"]) == ["night_a", "night_b"],
        "GetTriggers: the trigger of the planned starts, its cron in UTC at their minute (%s)"
        % [t.get("Schedule") for t in trigs])
    code = error_code(lambda: run("night_a", "jr_nobody"))
    tap(code == "EntityNotFoundException", "GetJobRun of an id the night does not plan: EntityNotFoundException")
    tap(not glue.invalid_replies, "every reply valid against botocore's Glue model", glue.invalid_replies[:3])
    tap(glue.good_signatures > 10 and glue.bad_signatures == 0,
        "botocore's signatures verified: %d good, %d bad" % (glue.good_signatures, glue.bad_signatures))
    tap(all("at" in q and T0 - 1e9 < q["at"] for q in glue.requests),
        "every request the fake received is recorded with the time it arrived (%d)" % len(glue.requests))
    glue.stop()


def real_clock(tap):
    """The same on the real clock: a run planned 2 s from now for 2 s."""
    start = time.time() + 2
    night = Night([PlannedRun("night_live", "jr_live", start, start + 2, starting_seconds=0.5)])
    glue = FakeGlue(secret_key=SECRET, data=night).start()
    c = client(glue)
    seen = []
    for at in (start - 1.5, start + 0.8, start + 2.8):
        time.sleep(max(0, at - time.time()))
        listed = c.get_job_runs(JobName="night_live")["JobRuns"]
        seen.append(listed[0]["JobRunState"] if listed else None)
        last = listed[0] if listed else None
    tap(seen == [None, "RUNNING", "SUCCEEDED"] and abs(ts(last["CompletedOn"]) - (start + 2)) < 0.002,
        "on the real clock: not listed, RUNNING, SUCCEEDED at its planned end: %s" % seen)
    tap(not glue.invalid_replies and glue.bad_signatures == 0, "and every reply valid", glue.invalid_replies[:3])
    glue.stop()


def handoff_plan(tap):
    """What the hand-off benchmark relies on, on a small plan."""
    night, gates = handoff_night(T0, jobs=40, minutes=10, gates=4, history=10, failures=3, gate_jobs=8)
    now = [T0]
    night.clock = lambda: now[0]
    glue = FakeGlue(secret_key=SECRET, data=night).start()
    c = client(glue)
    trigs = [t for p in c.get_paginator("get_triggers").paginate() for t in p["Triggers"]]
    fires = {}
    for t in trigs:
        m = re.fullmatch(r"cron\((\d+) (\d+) \* \* \? \*\)", t["Schedule"])
        for act in t["Actions"]:
            fires.setdefault(act["JobName"], []).append((int(m.group(2)), int(m.group(1))) if m else None)
    bad = []
    for r in night.runs():
        if r.start >= T0 and r.attempt == 0:
            tick = int(r.start // 60) * 60
            when = dt.datetime.fromtimestamp(tick, UTC)
            if fires.get(r.job) != [(when.hour, when.minute)] or not 2 <= r.start - tick <= 20:
                bad.append((r.job, fires.get(r.job), when.strftime("%H:%M"), r.start - tick))
    tap(len(fires) == 40 and not bad,
        "every job has one trigger, its UTC cron at the minute of tonight's planned start (2-20 s after it)", bad[:3])
    hist = [r for r in night.runs() if r.start < T0]
    tap(len(hist) == 400 and all(not r.failed and r.end < T0 for r in hist),
        "ten earlier nights of every job, all succeeded and over before the night")
    listed = c.get_job_runs(JobName=gates[0]["last_job"])["JobRuns"]
    tap(len(listed) == 10 and all(x["JobRunState"] == "SUCCEEDED" for x in listed),
        "at the night's start GetJobRuns lists only the earlier nights")
    seconds = sorted(round(g["last_end"] % 60, 2) for g in gates)
    tap(len(set(seconds)) == 4 and all(night.last_success([j]) < g["last_end"] for g in gates for j in g["jobs"]
                                        if j != g["last_job"]),
        "each gate's last success at a different second of its minute %s, its other jobs before" % seconds)
    tap(len(night.runs()) == 40 * 11 + 3 and sum(r.failed for r in night.runs()) == 3
        and all(night.last_success([r.job]) > r.end for r in night.runs() if r.failed),
        "three first attempts fail tonight; each job succeeds after")
    now[0] = max(r.end for r in night.runs()) + 1
    ended = [c.get_job_runs(JobName=j)["JobRuns"][0] for j in sorted(night.plan)]
    tap(all(x["JobRunState"] == "SUCCEEDED" for x in ended) and not glue.invalid_replies,
        "after the night every job's newest run SUCCEEDED, every reply valid")
    glue.stop()


def main():
    by_hand(tap)
    real_clock(tap)
    handoff_plan(tap)
    tap.plan()


main()
