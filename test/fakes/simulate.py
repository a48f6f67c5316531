#!/usr/bin/python3
"""A realistic month of a two-cloud data platform, as the schedulers' APIs report it.

HEGEL (AWS Glue, ap-northeast-1): ~40 nightly export jobs (RDS -> S3) that start
between 01:00 and 03:30 Asia/Tokyo on day D+1 and export the data of day D.
Some jobs pass --business_date, most do not (kant derives it: start date - 1).
Glue retries failed runs itself (MaxRetries): the retry is a new JobRun with
Attempt + 1 and PreviousRunId.  Three export jobs end with an EvaluateDataQuality
step: AWS Glue Data Quality results (glue_dq_results) for their successful runs.

SOCRATES (Cloud Composer 2 = Airflow 2, REST API v1): 4 DAGs, 60 tasks, daily at
04:30 Asia/Tokyo (logical date D 04:30 JST = data of day D), S3 -> GCS -> BigQuery
-> transforms -> reverse ETL, with task retries, upstream failures and late days.

Every payload is shaped exactly like the real API's response body:
  Glue GetJobRuns:   {"JobRuns": [...], "NextToken": "..."}, newest first, <= 200 a page,
                     timestamps as epoch seconds with fractions (JSON 1.1 protocol);
  Airflow v1 list:   {"task_instances": [...], "total_entries": n}, <= 100 a page,
                     ISO 8601 timestamps with +00:00.
The generator is deterministic (seeded) and reusable: the fake Glue and Airflow
servers serve the same data (platform() returns it), the demo ingests it directly.
"""
import argparse
import datetime as dt
import hashlib
import json
import math
import os
import random
import sys

JST = dt.timezone(dt.timedelta(hours=9))
UTC = dt.timezone.utc

GLUE_TABLES = [
    "users", "schools", "classes", "class_members", "enrollments", "attendance",
    "grades", "assignments", "submissions", "teachers", "guardians", "messages",
    "message_reads", "announcements", "calendars", "events", "timetables", "rooms",
    "subjects", "courses", "course_units", "quizzes", "quiz_answers", "surveys",
    "survey_answers", "forms", "form_answers", "files", "file_shares", "devices",
    "login_history", "audit_logs", "notifications", "payments", "invoices",
    "contracts", "organizations", "roles", "permissions", "settings",
]

# DAG -> tasks, in dependency order (each task waits for the previous one)
DAGS = {
    "s3_to_gcs": ["transfer_" + t for t in GLUE_TABLES[:20]],
    "gcs_to_bq": ["load_" + t for t in GLUE_TABLES[:20]],
    "bq_transform": ["dim_users", "dim_schools", "dim_classes", "fct_attendance",
                     "fct_grades", "fct_submissions", "fct_messages", "agg_daily_activity",
                     "agg_school_kpi", "agg_class_kpi", "mart_teacher", "mart_guardian",
                     "mart_admin", "quality_checks", "publish_marts"],
    "reverse_etl": ["sync_school_dashboard", "sync_teacher_dashboard",
                    "sync_guardian_app", "sync_admin_console", "notify_done"],
}
DAG_ORDER = ["s3_to_gcs", "gcs_to_bq", "bq_transform", "reverse_etl"]

# Glue Data Quality: the export jobs whose successful runs end by evaluating a
# DQDL ruleset on the Glue table they wrote (database hegel_rds_export): job ->
# (table, rows on the first day, rows added a day, key column, a nullable
# column).  Metric names are those of the DQDL rule types' "Reported Metrics"
# (https://docs.aws.amazon.com/glue/latest/dg/dqdl-rule-types.html).
GLUE_DQ_DATABASE = "hegel_rds_export"
GLUE_DQ_JOBS = {
    "hegel_export_users": ("users", 120000, 140, "user_id", "email"),
    "hegel_export_attendance": ("attendance", 610000, 900, "attendance_id", "status"),
}
# an EvaluateDataQuality transform inside this job on a frame that is no Glue
# table: its result has no DataSource, only JobName and EvaluationContext
GLUE_DQ_INLINE_JOB = "hegel_export_payments"


def iso(ts):
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def epoch(ts):
    return round(ts.timestamp(), 3)


def glue_id(rng):
    return "jr_" + "".join(rng.choice("0123456789abcdef") for _ in range(64))


class Platform:
    def __init__(self, start, days, seed=7, now=None):
        self.start = start
        self.days = days
        self.now = now           # the instant the APIs are read at (None: after the month)
        self.rng = random.Random(seed)
        self.glue_runs = {}      # job -> [JobRun dict]
        self.task_instances = []  # Airflow TaskInstance dicts
        self.never_started = None
        self.malformed = 0
        self.glue_dq_results = []  # GetDataQualityResult bodies, newest first

    # ------------------------------------------------------------ HEGEL
    def simulate_glue(self):
        rng = self.rng
        jobs = []
        for i, table in enumerate(GLUE_TABLES):
            jobs.append({
                "name": "hegel_export_" + table,
                "start": dt.time(1 + (i * 5) // 60 % 3, (i * 5) % 60),
                "minutes": rng.lognormvariate(math.log(4 + (i % 7) * 4), 0.25),
                "fail_p": 0.015 + (0.05 if table in ("attendance", "audit_logs", "login_history") else 0),
                "max_retries": 1 if i % 3 else 2,
                "bd_arg": i % 4 == 0,
                "workers": 2 + (i % 5) * 2,
            })
        # one job's trigger does not fire one night: no run at all
        self.never_started = ("hegel_export_grades", self.start + dt.timedelta(days=self.days - 4))
        for job in jobs:
            runs = []
            for d in range(self.days):
                bd = self.start + dt.timedelta(days=d)
                if (job["name"], bd) == self.never_started:
                    continue
                day = bd + dt.timedelta(days=1)
                t0 = dt.datetime.combine(day, job["start"], JST) + dt.timedelta(seconds=rng.uniform(0, 40))
                # growth: exports get slower over the month; some nights much slower
                slow = 1 + d / (self.days * 3)
                if rng.random() < 0.04:
                    slow *= rng.uniform(2.5, 4)
                prev = None
                for attempt in range(job["max_retries"] + 1):
                    minutes = job["minutes"] * slow * rng.uniform(0.85, 1.2)
                    failed = rng.random() < job["fail_p"] and not (attempt > 0 and rng.random() < 0.7)
                    if failed:
                        minutes *= rng.uniform(0.1, 0.6)
                    t1 = t0 + dt.timedelta(minutes=minutes)
                    run = {
                        "Id": glue_id(rng),
                        "Attempt": attempt,
                        "JobName": job["name"],
                        "JobMode": "SCRIPT",
                        "JobRunQueuingEnabled": False,
                        "StartedOn": epoch(t0),
                        "LastModifiedOn": epoch(t1 + dt.timedelta(seconds=rng.uniform(0.2, 2))),
                        "CompletedOn": epoch(t1),
                        "JobRunState": "FAILED" if failed else "SUCCEEDED",
                        "Arguments": {"--job-bookmark-option": "job-bookmark-disable",
                                      "--enable-metrics": "true",
                                      "--TempDir": "s3://hegel-glue-temp/" + job["name"] + "/"},
                        "PredecessorRuns": [],
                        "AllocatedCapacity": job["workers"],
                        "ExecutionTime": int(minutes * 60),
                        "Timeout": 2880,
                        "MaxCapacity": float(job["workers"]),
                        "WorkerType": "G.1X",
                        "NumberOfWorkers": job["workers"],
                        "LogGroupName": "/aws-glue/jobs",
                        "GlueVersion": "4.0",
                        "ExecutionClass": "STANDARD",
                        "DPUSeconds": round(minutes * 60 * job["workers"], 1),
                        "TriggerName": "hegel_nightly_" + job["start"].strftime("%H%M"),
                    }
                    if job["bd_arg"]:
                        run["Arguments"]["--business_date"] = bd.isoformat()
                    if prev:
                        run["PreviousRunId"] = prev["Id"]
                        del run["TriggerName"]
                    if failed:
                        run["ErrorMessage"] = rng.choice([
                            "An error occurred while calling o118.pyWriteDynamicFrame. Connection reset by peer",
                            "Command failed with exit code 1",
                            "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available",
                            "An error occurred while calling o97.getDynamicFrame. Communications link failure",
                        ])
                    runs.append(run)
                    prev = run
                    if not failed:
                        break
                    t0 = t1 + dt.timedelta(seconds=rng.uniform(30, 90))
            runs.sort(key=lambda r: r["StartedOn"], reverse=True)   # GetJobRuns: newest first
            self.glue_runs[job["name"]] = runs
        if self.now is None:
            # a run the poller caught while still running on the last night
            last = self.glue_runs["hegel_export_audit_logs"][0]
            last["JobRunState"] = "RUNNING"
            for k in ("CompletedOn", "ExecutionTime", "DPUSeconds"):
                last.pop(k, None)
            return
        # read at `now`: runs not started yet do not exist, runs not ended yet run
        now = self.now.timestamp()
        for job, runs in self.glue_runs.items():
            kept = []
            for run in runs:
                if run["StartedOn"] > now:
                    continue
                if run.get("CompletedOn", 0) > now:
                    run["JobRunState"] = "RUNNING"
                    run["LastModifiedOn"] = run["StartedOn"]
                    for k in ("CompletedOn", "ExecutionTime", "DPUSeconds", "ErrorMessage"):
                        run.pop(k, None)
                kept.append(run)
            self.glue_runs[job] = kept

    # ------------------------------------------------- HEGEL data quality
    def simulate_glue_dq(self, seed):
        """Data Quality results (botocore Glue model, shape DataQualityResult)
        of the successful runs of GLUE_DQ_JOBS, one per run, evaluated in the
        last minutes of the run; and one of GLUE_DQ_INLINE_JOB's newest
        successful run without a DataSource.  An RNG of its own: the runs and
        task instances stay what they were without it.  Nights to catch: one
        with 0.6% of the users' emails missing (FAIL), one with duplicated user
        ids (FAIL), and one where attendance's status column is gone (ERROR)."""
        rng = random.Random(seed * 7919 + 15)
        out = []

        def rule(name, text, passed, metrics, message=None, result=None):
            r = {"Name": name, "Description": text, "EvaluatedRule": text,
                 "Result": result or ("PASS" if passed else "FAIL"), "EvaluatedMetrics": metrics}
            if message:
                r["EvaluationMessage"] = message
            return r

        def result(job, run, rules, **kw):
            started = run["CompletedOn"] - rng.uniform(60, 120)
            res = {"ResultId": "dqresult-" + hashlib.sha1((job + "/" + run["Id"]).encode()).hexdigest(),
                   "Score": round(sum(r["Result"] == "PASS" for r in rules) / len(rules), 4),
                   "StartedOn": round(started, 3), "CompletedOn": round(run["CompletedOn"] - rng.uniform(1, 10), 3),
                   "JobName": job, "JobRunId": run["Id"], "RuleResults": rules}
            res.update(kw)
            out.append(res)

        for job, (table, rows0, grow, key, col) in GLUE_DQ_JOBS.items():
            for run in reversed(self.glue_runs.get(job, [])):
                if run["JobRunState"] != "SUCCEEDED":
                    continue
                bd = (dt.datetime.fromtimestamp(run["StartedOn"], JST) - dt.timedelta(days=1)).date()
                d = (bd - self.start).days
                rows = int(rows0 + grow * d + rng.uniform(-0.01, 0.01) * rows0)
                complete = 1.0 if col == "status" else round(1 - rng.uniform(0, 0.002), 6)
                unique = 1.0
                if table == "users" and d == self.days - 9:
                    complete = 0.9940
                if table == "users" and d == self.days - 6:
                    unique = round(1 - 42 / rows, 6)
                rules = [
                    rule("Rule_1", "RowCount > %d" % (rows0 // 2), rows > rows0 // 2, {"Dataset.*.RowCount": float(rows)}),
                    rule("Rule_2", 'IsUnique "%s"' % key, unique == 1.0, {"Column.%s.Uniqueness" % key: unique},
                         None if unique == 1.0 else "Value: %s does not meet the constraint requirement!" % unique),
                ]
                if col == "status":
                    gone = d == self.days - 3
                    rules.append(rule("Rule_3", 'ColumnValues "status" in ["present", "absent", "late"]', False,
                                      {} if gone else {"Column.status.ColumnValues.Compliance": 1.0},
                                      "Column status does not exist" if gone else None,
                                      "ERROR" if gone else "PASS"))
                else:
                    rules.append(rule("Rule_3", 'Completeness "%s" > 0.995' % col, complete > 0.995,
                                      {"Column.%s.Completeness" % col: complete},
                                      None if complete > 0.995 else "Value: %s does not meet the constraint requirement!" % complete))
                source = {"DatabaseName": GLUE_DQ_DATABASE, "TableName": table}
                if table == "attendance":
                    source["AdditionalOptions"] = {"pushDownPredicate": "dt='%s'" % bd.isoformat()}
                result(job, run, rules, DataSource={"GlueTable": source}, RulesetName=table + "_ruleset",
                       EvaluationContext="EvaluateDataQuality_node1730000000000")
        inline = next((r for r in self.glue_runs.get(GLUE_DQ_INLINE_JOB, []) if r["JobRunState"] == "SUCCEEDED"), None)
        if inline:
            rows = 50000 + rng.randint(0, 500)
            result(GLUE_DQ_INLINE_JOB, inline, [
                rule("Rule_1", "RowCount > 0", True, {"Dataset.*.RowCount": float(rows)}),
                rule("Rule_2", 'IsComplete "payment_id"', True, {"Column.payment_id.Completeness": 1.0}),
            ], EvaluationContext="EvaluateDataQuality_node1730000000042")
        out.sort(key=lambda r: r["StartedOn"], reverse=True)    # ListDataQualityResults: newest first
        self.glue_dq_results = out

    # --------------------------------------------------------- SOCRATES
    def simulate_airflow(self):
        rng = self.rng
        durations = {}
        for dag in DAG_ORDER:
            for t in DAGS[dag]:
                durations[(dag, t)] = rng.lognormvariate(math.log(1.5 + rng.random() * 6), 0.3)
        for d in range(self.days):
            bd = self.start + dt.timedelta(days=d)
            logical = dt.datetime.combine(bd, dt.time(4, 30), JST)
            clock = logical + dt.timedelta(days=1, seconds=rng.uniform(5, 30))
            late_day = rng.random() < 0.1
            dag_failed = False
            for dag in DAG_ORDER:
                run_id = "scheduled__" + logical.astimezone(UTC).isoformat()
                for task in DAGS[dag]:
                    base = {
                        "dag_id": dag, "task_id": task, "dag_run_id": run_id,
                        "execution_date": logical.astimezone(UTC).isoformat(),
                        "map_index": -1, "max_tries": 2, "pool": "default_pool", "pool_slots": 1,
                        "queue": "default", "priority_weight": 1, "executor_config": "{}",
                        "hostname": "airflow-worker-%s" % rng.choice(["6f8d9-x2kqp", "6f8d9-m4tzn", "6f8d9-r7wbc"]),
                        "unixname": "airflow",
                        "operator": {"s3_to_gcs": "S3ToGCSOperator", "gcs_to_bq": "GCSToBigQueryOperator",
                                     "bq_transform": "BigQueryInsertJobOperator",
                                     "reverse_etl": "PythonOperator"}[dag],
                        "sla_miss": None, "rendered_fields": {}, "trigger": None, "triggerer_job": None,
                        "note": None, "pid": rng.randint(1000, 90000),
                    }
                    if dag_failed:
                        self.task_instances.append(dict(base, state="upstream_failed", try_number=0,
                                                        start_date=None, end_date=iso(clock), duration=None,
                                                        queued_when=None))
                        continue
                    for try_number in (1, 2, 3):
                        minutes = durations[(dag, task)] * (rng.uniform(2, 3.5) if late_day else rng.uniform(0.9, 1.15))
                        failed = rng.random() < (0.012 if try_number == 1 else 0.3)
                        if failed:
                            minutes *= rng.uniform(0.1, 0.5)
                        start = clock + dt.timedelta(seconds=rng.uniform(2, 8))
                        end = start + dt.timedelta(minutes=minutes)
                        state = ("up_for_retry" if try_number < 3 else "failed") if failed else "success"
                        self.task_instances.append(dict(
                            base, state=state, try_number=try_number,
                            queued_when=iso(clock), start_date=iso(start), end_date=iso(end),
                            duration=round((end - start).total_seconds(), 6)))
                        clock = end
                        if not failed:
                            break
                        clock += dt.timedelta(minutes=5)    # retry_delay
                    else:
                        dag_failed = True
        if self.now is None:
            # the last day: the poller sees the reverse ETL still running
            for ti in reversed(self.task_instances):
                if ti["dag_id"] == "reverse_etl" and ti["state"] == "success":
                    ti.update(state="running", end_date=None, duration=None)
                    break
            return
        # read at `now`: a try not started yet is scheduled, one not ended runs;
        # a later try of the same task does not exist yet
        now = iso(self.now)
        kept = []
        for ti in self.task_instances:
            if ti["start_date"] and ti["start_date"] > now:
                if ti["try_number"] > 1:
                    continue
                ti.update(state="scheduled", start_date=None, end_date=None, duration=None, queued_when=None)
            elif ti["state"] == "upstream_failed" and ti["end_date"] > now:
                ti.update(state="scheduled", end_date=None)
            elif ti["end_date"] and ti["end_date"] > now:
                ti.update(state="running", end_date=None, duration=None)
            kept.append(ti)
        self.task_instances = kept

    # ------------------------------------------------------------- payloads
    def glue_pages(self, page_size=200):
        """(system, GetJobRuns body) per page, as the poller would read them."""
        for job, runs in sorted(self.glue_runs.items()):
            for i in range(0, len(runs), page_size):
                page = {"JobRuns": runs[i:i + page_size]}
                if i + page_size < len(runs):
                    page["NextToken"] = hashlib.sha1(("%s/%d" % (job, i)).encode()).hexdigest()
                yield page

    def airflow_pages(self, page_size=100):
        tis = self.task_instances
        for i in range(0, len(tis), page_size):
            yield {"task_instances": tis[i:i + page_size], "total_entries": len(tis)}

    def inject_malformed(self):
        """Real feeds are not clean: one record with a state kant does not know,
        one truncated record.  kant must keep both in quarantine."""
        runs = self.glue_runs["hegel_export_devices"]
        runs[12] = dict(runs[12], JobRunState="PENDING_EXECUTION")
        ti = self.task_instances[17]
        self.task_instances[17] = {k: ti[k] for k in ("dag_id", "task_id", "state")}
        self.malformed = 2


def platform(start=dt.date(2026, 10, 26), days=30, seed=7, malformed=True, now=None):
    """The month from start (fixed for the tests), read at now (None: after it)."""
    p = Platform(start, days, seed, now)
    p.simulate_glue()
    p.simulate_airflow()
    p.simulate_glue_dq(seed)
    if malformed:
        p.inject_malformed()
    return p


def glue_bench_pages(n_runs, page_size=200, jobs=1000, seed=11):
    """n_runs Glue-shaped runs for benchmarks, as GetJobRuns pages of page_size."""
    rng = random.Random(seed)
    base = dt.datetime(2024, 1, 1, 1, 0, tzinfo=JST)
    per_job = max(1, n_runs // jobs)
    made = 0
    for j in range(jobs):
        name = "bench_job_%04d" % j
        runs = []
        for k in range(per_job if j < jobs - 1 else n_runs - made):
            t0 = base + dt.timedelta(days=k, minutes=j % 180, seconds=rng.random())
            minutes = 5 + (j % 30)
            runs.append({
                "Id": glue_id(rng), "Attempt": 0, "JobName": name, "JobMode": "SCRIPT",
                "StartedOn": epoch(t0), "CompletedOn": epoch(t0 + dt.timedelta(minutes=minutes)),
                "LastModifiedOn": epoch(t0 + dt.timedelta(minutes=minutes, seconds=1)),
                "JobRunState": "SUCCEEDED" if k % 50 else "FAILED",
                "Arguments": {"--enable-metrics": "true"},
                "ExecutionTime": minutes * 60, "WorkerType": "G.1X", "NumberOfWorkers": 10,
                "GlueVersion": "4.0", "ExecutionClass": "STANDARD", "MaxCapacity": 10.0,
                "Timeout": 2880, "LogGroupName": "/aws-glue/jobs",
            })
        made += len(runs)
        runs.reverse()
        for i in range(0, len(runs), page_size):
            yield {"JobRuns": runs[i:i + page_size]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", default="2026-10-26")
    ap.add_argument("--now", default=None, help="read the APIs at this ISO 8601 instant (default: after the month)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--out", required=True, help="directory for glue-*.json and airflow-*.json")
    a = ap.parse_args()
    p = platform(dt.date.fromisoformat(a.start), a.days,
                 now=dt.datetime.fromisoformat(a.now) if a.now else None)
    os.makedirs(a.out, exist_ok=True)
    for i, page in enumerate(p.glue_pages()):
        with open(os.path.join(a.out, "glue-%03d.json" % i), "w") as f:
            json.dump(page, f)
    for i, page in enumerate(p.airflow_pages()):
        with open(os.path.join(a.out, "airflow-%03d.json" % i), "w") as f:
            json.dump(page, f)
    print("wrote %d Glue runs and %d task instances to %s" % (
        sum(len(r) for r in p.glue_runs.values()), len(p.task_instances), a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
