#!/usr/bin/python3
"""A wall-clock night for the fake Glue (fake_glue.FakeGlue): planned runs,
each with a planned start and end (epoch seconds of the real clock, since
pg_cron runs on the real clock), that GetJobRuns and GetJobRun answer as Glue
would at the instant of the request:

  before its start       the run does not exist (not listed; GetJobRun:
                         EntityNotFoundException, as for an unknown id);
  from its start         STARTING, then RUNNING (after starting_seconds), no
                         CompletedOn, no ExecutionTime (Glue fills them in at
                         the end: API_JobRun, "CompletedOn - The date and time
                         that this job run completed"), LastModifiedOn the
                         last change of state;
  from its end           SUCCEEDED or FAILED (with ErrorMessage), CompletedOn
                         the planned end, ExecutionTime the seconds it ran.

A failed attempt that Glue retries by itself (the job's MaxRetries) is
followed by a new run: a new Id, PreviousRunId the failed one, Attempt + 1,
no TriggerName (test/fakes/simulate.py writes retries the same way), planned
like any other run.  GetJobRuns lists a job's runs newest first
(StartedOn descending), as simulate.py and Glue do.

It plugs into FakeGlue without changing it: Night is the fake's data
(FakeGlue(data=night)).  FakeGlue reads data.glue_runs.get(job) (GetJobRuns,
GetJobRun) and sorted(data.glue_runs) (GetJobs) at call time; night.glue_runs
is a read-only Mapping computed at each call from the clock.  FakeGlue builds
GetTriggers in __init__ from the runs' TriggerName, by its convention that
"<prefix>_HHMM" is a trigger starting at HH:MM Asia/Tokyo
(cron(MM HH-9 * * ? *), UTC): trigger_name() names a planned UTC start that
way, and the runs of earlier nights carry it, so the fake's triggers exist
from the start and match the planned starts.  Every planned start of a first
attempt is its trigger's tick plus a few seconds (a scheduled trigger starts
its jobs just after the minute).

handoff_night() plans the night of bench/handoff.py: n jobs whose runs end
over `minutes` minutes from t0, with earlier nights of every job (all
succeeded, their durations near tonight's) so kant.job_durations has a
history, a few failed attempts retried by Glue, and gates: each a subset of
the jobs whose last success (the planned end of its last job) falls at a
different second of the minute, so that each gate is an independent sample
of the hand-off delay.
"""
import collections.abc
import datetime as dt
import hashlib
import random
import time

UTC = dt.timezone.utc
JST = dt.timezone(dt.timedelta(hours=9))


def trigger_name(tick, prefix="handoff_nightly"):
    """The name fake_glue.FakeGlue reads a schedule from: <prefix>_HHMM with
    HH:MM the tick in Asia/Tokyo (FakeGlue answers GetTriggers with
    cron(MM HH-9 * * ? *), in UTC as Glue's schedules are)."""
    t = dt.datetime.fromtimestamp(tick, UTC).astimezone(JST)
    return "%s_%02d%02d" % (prefix, t.hour, t.minute)


def run_id(job, key):
    return "jr_" + hashlib.sha256(("%s/%s" % (job, key)).encode()).hexdigest()


class PlannedRun:
    """One attempt as planned: Glue shows it by the clock (as_of)."""

    __slots__ = ("job", "id", "attempt", "start", "end", "failed", "previous", "trigger", "workers",
                 "arguments", "starting_seconds")

    def __init__(self, job, id, start, end, attempt=0, failed=False, previous=None, trigger=None,
                 workers=2, arguments=None, starting_seconds=8.0):
        if end <= start:
            raise ValueError("run %s of %s ends before it starts" % (id, job))
        self.job, self.id, self.start, self.end = job, id, float(start), float(end)
        self.attempt, self.failed, self.previous, self.trigger = attempt, failed, previous, trigger
        self.workers, self.arguments = workers, dict(arguments or {})
        self.starting_seconds = starting_seconds

    def as_of(self, now):
        """The JobRun Glue would return at now, or None before the start."""
        if now < self.start:
            return None
        run = {"Id": self.id, "Attempt": self.attempt, "JobName": self.job, "StartedOn": round(self.start, 3),
               "Arguments": dict(self.arguments), "PredecessorRuns": [], "Timeout": 2880,
               "WorkerType": "G.1X", "NumberOfWorkers": self.workers, "MaxCapacity": float(self.workers),
               "AllocatedCapacity": self.workers, "GlueVersion": "4.0", "ExecutionClass": "STANDARD",
               "LogGroupName": "/aws-glue/jobs"}
        if self.trigger:
            run["TriggerName"] = self.trigger
        if self.previous:
            run["PreviousRunId"] = self.previous
        if now < self.end:
            running = now >= self.start + self.starting_seconds
            run["JobRunState"] = "RUNNING" if running else "STARTING"
            run["LastModifiedOn"] = round(self.start + (self.starting_seconds if running else 0), 3)
            return run
        secs = self.end - self.start
        run.update({"JobRunState": "FAILED" if self.failed else "SUCCEEDED",
                    "CompletedOn": round(self.end, 3), "LastModifiedOn": round(self.end + 0.4, 3),
                    "ExecutionTime": int(secs), "DPUSeconds": round(secs * self.workers, 1)})
        if self.failed:
            run["ErrorMessage"] = "An error occurred while calling o97.getDynamicFrame. Communications link failure"
        return run


class NightRuns(collections.abc.Mapping):
    """job -> its JobRuns as of the night's clock, newest first (what
    FakeGlue reads as data.glue_runs).  Every job of the plan is a key, also
    before its first run (GetJobs lists a job that has not run)."""

    def __init__(self, night):
        self.night = night

    def __getitem__(self, job):
        planned = self.night.plan[job]
        now = self.night.clock()
        runs = [r for r in (p.as_of(now) for p in planned) if r is not None]
        runs.sort(key=lambda r: r["StartedOn"], reverse=True)
        return runs

    def __iter__(self):
        return iter(self.night.plan)

    def __len__(self):
        return len(self.night.plan)


class Night:
    """The data of a FakeGlue: planned runs read by the clock (time.time by
    default; a test may set clock to a function of its own)."""

    def __init__(self, runs=(), clock=time.time):
        self.plan = {}
        self.clock = clock
        self.glue_runs = NightRuns(self)
        self.glue_dq_results = []
        for r in runs:
            self.add(r)

    def add(self, run):
        self.plan.setdefault(run.job, []).append(run)
        return run

    def add_job(self, job):
        """A job that Glue lists but has not run."""
        self.plan.setdefault(job, [])

    def runs(self, job=None):
        return [r for j, rs in self.plan.items() if job in (None, j) for r in rs]

    def last_success(self, jobs):
        """The planned end of the last successful attempt among jobs (what a
        gate on them waits for)."""
        return max(max(r.end for r in self.plan[j] if not r.failed) for j in jobs)


def handoff_night(t0, jobs=300, minutes=40, gates=8, history=10, failures=6, gate_jobs=30,
                  prefix="handoff_export", seed=16):
    """The planned night of bench/handoff.py, from t0 (epoch; a minute
    boundary): jobs runs ending over minutes minutes (the first after a tenth
    of it), earlier nights of every job (history of them, the same trigger
    ticks a day apart, all succeeded, durations within 15% of tonight's),
    failures first attempts that fail and are retried by Glue, and gates: a
    list of dicts {name, dag, jobs, last_job, last_end}.  Gate k's last job
    ends at second (k + 0.5) * 60 / gates of its minute, its minutes spread
    over the second half of the night; its other jobs end before.  A night
    is 5 minutes at least."""
    rng = random.Random(seed)
    night = Night()
    span = minutes * 60.0
    names = ["%s_%03d" % (prefix, i) for i in range(jobs)]
    # when each job's successful run ends tonight (seconds after t0)
    # (at least 150 s: a run starts a minute after t0 at the earliest and runs a minute or more)
    if minutes < 5:
        raise ValueError("a night of %s minutes is too short (5 at least)" % minutes)
    ends = {n: rng.uniform(max(150.0, 0.1 * span), span) for n in names}
    # the gates' last jobs: minute m_k of the second half, second (k + .5) * 60 / gates
    gate_defs = []
    last_jobs = rng.sample(names, gates)
    for k, job in enumerate(last_jobs):
        minute = max(3, int((0.5 + 0.5 * (k + 1) / (gates + 1)) * minutes))
        ends[job] = minute * 60 + (k + 0.5) * 60.0 / gates
    failing = set(rng.sample([n for n in names if n not in last_jobs], failures)) if failures else set()
    for i, n in enumerate(names):
        end = ends[n]
        # tonight's duration: 1.5 minutes to 60% of the night, never before t0 + 1 minute
        dur = rng.uniform(90, max(120, min(0.6 * span, end - 60)))
        tick = max(60, int((end - dur) // 60) * 60)     # the trigger fires on a minute, from t0 + 1 min
        jitter = rng.uniform(2, 20)                    # Glue starts the run a few seconds after the tick
        trig = trigger_name(t0 + tick)
        workers = 2 + (i % 5) * 2
        tonight = end - tick - jitter
        for d in range(history, 0, -1):
            s = t0 + tick - d * 86400 + rng.uniform(2, 20)
            night.add(PlannedRun(n, run_id(n, "d-%d" % d), s, s + tonight * rng.uniform(0.85, 1.15),
                                 trigger=trig, workers=workers))
        s = t0 + tick + jitter
        if n in failing:
            # the first attempt fails a third of the way; Glue's retry starts 30-60 s later
            fail_at = s + tonight * rng.uniform(0.2, 0.4)
            first = night.add(PlannedRun(n, run_id(n, "tonight-0"), s, fail_at, failed=True, trigger=trig,
                                         workers=workers))
            s2 = fail_at + rng.uniform(30, 60)
            night.add(PlannedRun(n, run_id(n, "tonight-1"), s2, max(t0 + end, s2 + 60), attempt=1,
                                 previous=first.id, workers=workers))
        else:
            night.add(PlannedRun(n, run_id(n, "tonight-0"), s, t0 + end, trigger=trig, workers=workers))
    for k, job in enumerate(last_jobs):
        last = night.last_success([job])
        # the gate's other jobs: ones that end before its last one
        before = [n for n in names if n not in last_jobs and night.last_success([n]) < last - 5]
        members = sorted(rng.sample(before, min(gate_jobs - 1, len(before)))) + [job]
        gate_defs.append({"name": "handoff_gate_%d" % k, "dag": "handoff_downstream_%d" % k,
                          "jobs": members, "last_job": job, "last_end": night.last_success(members)})
    return night, gate_defs
