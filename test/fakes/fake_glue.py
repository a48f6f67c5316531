#!/usr/bin/python3
"""A fake AWS Glue endpoint that speaks Glue's JSON 1.1 protocol and checks what
real Glue checks.

Every request must carry Content-Type application/x-amz-json-1.1, X-Amz-Target
AWSGlue.<Operation>, X-Amz-Date and a SigV4 Authorization header; the signature
is recomputed with Debian's python3-botocore (botocore.auth.SigV4Auth, over the
headers the request says it signed) and a mismatch is answered as Glue does
(InvalidSignatureException).  Request bodies are validated against botocore's
Glue service model (input shape), and so is every reply (output shape) before it
is sent.  The data is the simulated month of HEGEL (test/fakes/simulate.py):
GetJobs, GetJobRuns (newest first, MaxResults per page, NextToken) and
GetTriggers (the nightly SCHEDULED triggers, cron in UTC).

Debian's botocore (1.29) predates some JobRun members real Glue now returns
(JobMode, JobRunQueuingEnabled): the fake drops members the model does not know.

AWS Glue Data Quality results (data.glue_dq_results, test/fakes/simulate.py):
ListDataQualityResults (Filter {DataSource, JobName, JobRunId, StartedAfter,
StartedBefore}, both times exclusive; MaxResults; NextToken; newest first, as
the other listings), BatchGetDataQualityResult (ResultIds, at most the model's
100: Results in the order asked, ResultsNotFound) and GetDataQualityResult
(EntityNotFoundException for an id it does not know), as
https://docs.aws.amazon.com/glue/latest/webapi/API_ListDataQualityResults.html,
API_BatchGetDataQualityResult.html and API_GetDataQualityResult.html describe
them.  Botocore has no paginator for them (paginators-1.json), so NextToken is
followed by hand.  These three are checked against the current Glue model
(botocore commit 0e6e240, 2026-08-07) where the machine has it:
$KANT_AWS_REFERENCE_DIR/glue-2017-03-31-service-2.json, by default in
/work/shared/reference/aws, never copied into kant.  Debian's 1.29 lacks
members a result has (DataQualityRuleResult.EvaluatedMetrics, EvaluatedRule;
DataQualityResult.AggregatedMetrics, ...): without the reference model the
reply is validated with those members removed, and sent whole all the same.

StartJobRun records the request (started) and answers a
new JobRunId, or ConcurrentRunsExceededException while concurrent_running;
with live_runs (seconds) set it also starts the run, as Glue then lists it:
RUNNING without CompletedOn for live_runs seconds, then SUCCEEDED, naming the
run it retries as PreviousRunId (API_JobRun: "the JobRunId specified in the
StartJobRun action").
GetJobRun answers the run of data.glue_runs with that JobName and Id, else
EntityNotFoundException (as Glue does for a run it does not know).

Knobs: throttle_next (answer the next N requests with ThrottlingException),
deny (AccessDeniedException), deny_ops (operation names answered
AccessDeniedException, e.g. the Data Quality ones alone), page_size (clamp MaxResults), validate_replies,
latency (seconds
added to every answer), deleted (job names GetJobs still lists but GetJobRuns
no longer knows: EntityNotFoundException), hide_after (an epoch: GetJobRuns
shows no run started after it, as if it were then), and faults: a list of
(operation, match, kind) consumed in order, where match is None or a function of
the request parameters and kind is one of hang, malformed, truncated, 500, 503,
429 (with Retry-After: 1), acted_500 (the operation done, then a 500: an answer
lost); sticky: the same, never consumed.

Replies kant must refuse (each answers only a fault; every normal reply stays
valid against the model): a dict kind {"reply": obj} (obj as JSON, HTTP
"status" or 200), {"raw": text or bytes} (the body as is, "status",
"content_type"), {"extra": n} (the normal page with n more items than
MaxResults), and the kinds repeat_token (the normal page, its NextToken the one
the request sent, that of the first page for the first) and endless_token (the normal page with
a NextToken even past the end).
"""
import base64
import datetime as dt
import hashlib
import json
import os
import sys
import time
import urllib.parse

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from botocore.model import ServiceModel
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_fake import FakeHTTP, Handler  # noqa: E402
from simulate import platform  # noqa: E402

MODEL = botocore.session.get_session().get_service_model("glue")
VALIDATOR = ParamValidator()

# the Data Quality operations, checked against the current model when present
DQ_OPS = ("ListDataQualityResults", "BatchGetDataQualityResult", "GetDataQualityResult")
REFERENCE_MODEL = os.path.join(os.environ.get("KANT_AWS_REFERENCE_DIR", "/work/shared/reference/aws"),
                               "glue-2017-03-31-service-2.json")
if os.path.exists(REFERENCE_MODEL):
    with open(REFERENCE_MODEL) as f:
        DQ_MODEL = ServiceModel(json.load(f), "glue")
    DQ_MODEL_IS_REFERENCE = True
else:
    DQ_MODEL = MODEL
    DQ_MODEL_IS_REFERENCE = False


class SignedOnly(SigV4Auth):
    """SigV4 over exactly the headers the request lists in SignedHeaders."""

    def __init__(self, credentials, region, signed):
        super().__init__(credentials, "glue", region)
        self.signed = signed

    def headers_to_sign(self, request):
        out = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self.signed:
                out[name.lower()] = value
        return out


def strip_unknown(value, shape):
    """Keep only the members botocore's model knows (recursively)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: strip_unknown(v, shape.members[k]) for k, v in value.items() if k in shape.members}
    if shape.type_name == "list" and isinstance(value, list):
        return [strip_unknown(v, shape.member) for v in value]
    return value


def token(offset):
    return base64.b64encode(json.dumps({"o": offset}).encode()).decode()


def offset(tok):
    return json.loads(base64.b64decode(tok))["o"] if tok else 0


class GlueHandler(Handler):
    def do_GET(self):
        """A hook of the fake, not of Glue (which has no GET): /_fake/tonight?bd=
        &failed=JOB makes every job run tonight for business date bd (its
        --business_date argument), started 50 minutes ago and done 20 minutes
        ago, JOB failed; GetJobRuns and GetJobRun report them from then on."""
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/_fake/tonight":
            return self.error(400, "UnknownOperationException", "Glue is POST only")
        q = dict(urllib.parse.parse_qsl(url.query))
        g = self.server.fake
        now = time.time()
        with g.lock:
            for job, runs in g.data.glue_runs.items():
                failed = job == q.get("failed")
                run = {"Id": "jr_tonight_" + job, "JobName": job, "Attempt": 0,
                       "JobRunState": "FAILED" if failed else "SUCCEEDED",
                       "StartedOn": now - 50 * 60, "LastModifiedOn": now - 20 * 60, "CompletedOn": now - 20 * 60,
                       "ExecutionTime": 30 * 60, "Arguments": {"--business_date": q["bd"]},
                       "GlueVersion": "4.0", "WorkerType": "G.1X", "NumberOfWorkers": 2}
                if failed:
                    run["ErrorMessage"] = "ConnectTimeoutError: RDS did not answer"
                runs.insert(0, run)
        self.reply(200, {"tonight": len(g.data.glue_runs)})

    def reply(self, code, obj):
        self.send(code, json.dumps(obj), [("Content-Type", "application/x-amz-json-1.1"),
                                          ("x-amzn-RequestId", hashlib.md5(os.urandom(8)).hexdigest())])

    def error(self, code, etype, message):
        self.reply(code, {"__type": etype, "message": message})

    def do_POST(self):
        g = self.server.fake
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        with g.lock:
            g.requests.append({"target": target, "headers": dict(self.headers), "body": body, "at": time.time()})
        if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
            return self.error(400, "SerializationException", "bad Content-Type")
        if not target.startswith("AWSGlue."):
            return self.error(400, "UnknownOperationException", "bad X-Amz-Target")
        if "X-Amz-Security-Token" in self.headers and not self.headers["X-Amz-Security-Token"]:
            return self.error(400, "IncompleteSignatureException", "empty X-Amz-Security-Token")
        problem = g.check_signature(self, body)
        if isinstance(problem, tuple):
            # a temporary key pair the FakeAWS (aws=) expired or never issued
            with g.lock:
                g.rejected_tokens += 1
            return self.error(*problem)
        if problem:
            with g.lock:
                g.bad_signatures += 1
            return self.error(403, "InvalidSignatureException", problem)
        with g.lock:
            g.good_signatures += 1
            if g.throttle_next > 0:
                g.throttle_next -= 1
                return self.error(400, "ThrottlingException", "Rate exceeded")
        if g.deny or target[8:] in g.deny_ops:
            return self.error(400, "AccessDeniedException",
                              "User is not authorized to perform: glue:" + target[8:])
        op = target[len("AWSGlue."):]
        params = json.loads(body or b"{}")
        if g.latency:
            time.sleep(g.latency)
        fault = g.take_fault(op, params)
        if fault == "hang":
            g.stopping.wait(120)
            return
        if fault in ("500", "503"):
            return self.error(int(fault), "InternalServiceException", "injected " + fault)
        if fault == "acted_500":
            # Glue did it, and the answer was lost: a 500 after acting
            g.answer(op, params)
            return self.error(500, "InternalServiceException", "injected 500 after acting")
        if fault == "429":
            return self.send(429, "Too Many Requests", [("Retry-After", "1")])
        if fault == "malformed":
            return self.send(200, '{"JobRuns": [{"Id": "jr_x", "JobName": ', [("Content-Type", "application/x-amz-json-1.1")])
        if isinstance(fault, dict) and "reply" in fault:
            return self.send(fault.get("status", 200), json.dumps(fault["reply"]),
                             [("Content-Type", "application/x-amz-json-1.1")])
        if isinstance(fault, dict) and "raw" in fault:
            return self.send(fault.get("status", 200), fault["raw"],
                             [("Content-Type", fault.get("content_type", "text/html"))])
        if fault == "truncated":
            # promise more than is sent, then hang up
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b'{"JobRuns": [')
            self.wfile.flush()
            self.close_connection = True
            return
        if op == "StartJobRun" and g.concurrent_running:
            # the job already has MaxConcurrentRuns runs in flight
            return self.error(400, "ConcurrentRunsExceededException",
                              "Concurrent runs exceeded for %s" % params.get("JobName"))
        if op == "GetJobRuns" and params.get("JobName") in g.deleted:
            return self.error(400, "EntityNotFoundException", "Job %s not found" % params["JobName"])
        try:
            op_model = (DQ_MODEL if op in DQ_OPS else MODEL).operation_model(op)
        except Exception:
            return self.error(400, "UnknownOperationException", op)
        report = VALIDATOR.validate(params, op_model.input_shape)
        if report.has_errors():
            return self.error(400, "ValidationException", report.generate_report())
        out = g.answer(op, params)
        if out is None:
            return self.error(400, "EntityNotFoundException", "not found")
        checked = strip_unknown(out, op_model.output_shape)
        if op not in DQ_OPS:
            out = checked
        if fault is not None:
            # a reply kant must refuse: not validated, not counted
            return self.reply(200, g.mutate(out, fault, params))
        if g.validate_replies:
            report = VALIDATOR.validate(checked, op_model.output_shape)
            if report.has_errors():
                with g.lock:
                    g.invalid_replies.append(report.generate_report())
        with g.lock:
            g.replies[op] = g.replies.get(op, 0) + 1
        self.reply(200, out)


class FakeGlue(FakeHTTP):
    def __init__(self, access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                 region="ap-northeast-1", data=None, aws=None):
        super().__init__(GlueHandler)
        # aws: a fake_cloud.FakeAWS whose issued key pairs (IMDS, container,
        # STS) are accepted too, with their session tokens
        self.aws = aws
        self.rejected_tokens = 0
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.data = data or platform()
        self.throttle_next = 0
        self.deny = False
        self.deny_ops = set()
        self.page_size = 200
        self.good_signatures = self.bad_signatures = 0
        self.latency = 0
        self.validate_replies = True     # off only in benchmarks: it costs the fake ~5 ms a reply
        self.deleted = set()
        self.concurrent_running = False  # StartJobRun answers ConcurrentRunsExceededException
        self.started = []                # StartJobRun requests accepted
        self.live_runs = None            # seconds: StartJobRun's runs run that long, then succeed
        self.faults = []
        self.sticky = []
        self.hide_after = None
        self.invalid_replies = []
        self.replies = {}
        starts = {}
        for job, runs in self.data.glue_runs.items():
            for r in runs:
                if r.get("TriggerName"):
                    starts[job] = r["TriggerName"]
        self.triggers = {}
        for job, name in sorted(starts.items()):
            self.triggers.setdefault(name, []).append(job)
        # more triggers, as GetTriggers gives them (Trigger objects: Name,
        # Type, State, Schedule, Actions), after the nightly ones
        self.extra_triggers = []

    def take_fault(self, op, params):
        with self.lock:
            for i, (fop, match, kind) in enumerate(self.faults):
                if fop == op and (match is None or match(params)):
                    del self.faults[i]
                    return kind
            for fop, match, kind in self.sticky:
                if fop == op and (match is None or match(params)):
                    return kind
        return None

    @staticmethod
    def mutate(out, fault, params):
        """A normal page made into one kant must refuse."""
        key = next((k for k in ("Jobs", "JobRuns", "Triggers", "Results") if k in out), None)
        if isinstance(fault, dict) and "mutate" in fault:
            out = fault["mutate"](out)
        elif fault == "repeat_token":
            out["NextToken"] = params.get("NextToken") or token(0)
        elif fault == "endless_token":
            out["NextToken"] = token(offset(params.get("NextToken")) + params.get("MaxResults", 100))
        elif isinstance(fault, dict) and "extra" in fault and key:
            n = params.get("MaxResults", 100) + fault["extra"]
            items = out[key] or [{"Name": "x"}]
            out[key] = (items * (n // len(items) + 1))[:n]
        return out

    def check_signature(self, handler, body):
        auth = handler.headers.get("Authorization", "")
        date = handler.headers.get("X-Amz-Date", "")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or not date:
            return "missing Authorization or X-Amz-Date"
        fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        scope = fields.get("Credential", "").split("/")
        token = handler.headers.get("X-Amz-Security-Token")
        access_key, secret_key = self.access_key, self.secret_key
        if self.aws is not None and len(scope) == 5 and scope[0] != self.access_key:
            # a key pair of the FakeAWS: its secret, and its session token must
            # be the one sent.  Glue's JSON-protocol answers (botocore's glue
            # model has no shapes for them; the codes are the common ones of
            # AWS's JSON services): 400 ExpiredTokenException /
            # UnrecognizedClientException, checked before the signature
            secret_key, reason = self.aws.key_valid(scope[0], token)
            if reason == "expired":
                return (400, "ExpiredTokenException", "The security token included in the request is expired")
            if reason:
                return (400, "UnrecognizedClientException", "The security token included in the request is invalid.")
            access_key = scope[0]
        if len(scope) != 5 or scope[0] != access_key:
            return "The security token included in the request is invalid."
        if scope[2] != self.region or scope[3] != "glue" or scope[1] != date[:8]:
            return "Credential should be scoped to a valid region and service glue"
        signed = fields.get("SignedHeaders", "").split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "host and x-amz-date must be signed"
        for h in ("content-type", "x-amz-target"):
            if h not in signed:
                return "%s is not signed" % h
        if token is not None and "x-amz-security-token" not in signed:
            return "x-amz-security-token is not signed"
        req = AWSRequest(method="POST", url="http://%s%s" % (handler.headers["Host"], handler.path),
                         data=body, headers=dict(handler.headers))
        req.context["timestamp"] = date
        signer = SignedOnly(Credentials(access_key, secret_key, token), self.region, signed)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if expected != fields.get("Signature"):
            return ("The request signature we calculated does not match the signature you provided. "
                    "Check your AWS Secret Access Key and signing method.")
        return None

    def dq_results(self):
        """The Data Quality results that exist (none started after hide_after), newest first."""
        res = getattr(self.data, "glue_dq_results", [])
        if self.hide_after is not None:
            res = [r for r in res if r["StartedOn"] <= self.hide_after]
        return res

    @staticmethod
    def dq_matches(r, f):
        """Whether result r passes a ListDataQualityResults Filter (DataQualityResultFilterCriteria)."""
        for k in ("JobName", "JobRunId"):
            if k in f and r.get(k) != f[k]:
                return False
        if "DataSource" in f:
            for kind, want in f["DataSource"].items():
                have = (r.get("DataSource") or {}).get(kind)
                if have is None or any(have.get(k) != want[k] for k in ("DatabaseName", "TableName", "CatalogId")
                                       if k in want):
                    return False
        # JSON 1.1 timestamps are epoch seconds; botocore also accepts ISO 8601 text
        if "StartedAfter" in f and not r["StartedOn"] > parse_timestamp(f["StartedAfter"]).timestamp():
            return False
        if "StartedBefore" in f and not r["StartedOn"] < parse_timestamp(f["StartedBefore"]).timestamp():
            return False
        return True

    @staticmethod
    def live(r):
        """A run StartJobRun started (live_runs), as Glue shows it now:
        RUNNING without CompletedOn until its end, then SUCCEEDED."""
        if "_live_end" not in r:
            return r
        v = {k: x for k, x in r.items() if k != "_live_end"}
        if time.time() < r["_live_end"]:
            v["JobRunState"] = "RUNNING"
        else:
            v.update(JobRunState="SUCCEEDED", CompletedOn=r["_live_end"],
                     ExecutionTime=int(r["_live_end"] - r["StartedOn"]))
        return v

    def answer(self, op, p):
        size = min(p.get("MaxResults", 100), self.page_size)
        start = offset(p.get("NextToken"))
        if op == "ListDataQualityResults":
            every = [r for r in self.dq_results() if self.dq_matches(r, p.get("Filter") or {})]
            page = every[start:start + size]
            out = {"Results": [{k: r[k] for k in ("ResultId", "DataSource", "JobName", "JobRunId", "StartedOn")
                                if k in r} for r in page]}
            if start + len(page) < len(every):
                out["NextToken"] = token(start + len(page))
            return out
        if op in ("BatchGetDataQualityResult", "GetDataQualityResult"):
            known = {r["ResultId"]: r for r in self.dq_results()}
            if op == "GetDataQualityResult":
                return known.get(p["ResultId"])
            out = {"Results": [known[i] for i in p["ResultIds"] if i in known]}
            missing = [i for i in p["ResultIds"] if i not in known]
            if missing:
                # BatchGetDataQualityResultResponse: ResultsNotFound has at least one id (the model's min 1)
                out["ResultsNotFound"] = missing
            return out
        if op == "GetJobs":
            names = sorted(self.data.glue_runs)
            page = names[start:start + size]
            jobs = [{"Name": n, "Role": "arn:aws:iam::123456789012:role/hegel-glue",
                     "CreatedOn": dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc).timestamp(),
                     "Command": {"Name": "glueetl", "ScriptLocation": "s3://hegel-glue/scripts/%s.py" % n,
                                 "PythonVersion": "3"},
                     "MaxRetries": 1, "GlueVersion": "4.0", "WorkerType": "G.1X", "NumberOfWorkers": 2,
                     "Timeout": 2880} for n in page]
            out = {"Jobs": jobs}
            if start + len(page) < len(names):
                out["NextToken"] = token(start + len(page))
            return out
        if op == "GetJobRuns":
            runs = self.data.glue_runs.get(p["JobName"])
            if runs is None:
                return None
            runs = [self.live(r) for r in runs]
            if self.hide_after is not None:
                runs = [r for r in runs if r["StartedOn"] <= self.hide_after]
            page = runs[start:start + size]
            out = {"JobRuns": page}
            if start + len(page) < len(runs):
                out["NextToken"] = token(start + len(page))
            return out
        if op == "GetJobRun":
            # the run as Glue has it (its Arguments included); EntityNotFoundException if unknown
            for r in self.data.glue_runs.get(p["JobName"]) or []:
                if r["Id"] == p["RunId"]:
                    return {"JobRun": self.live(r)}
            return None
        if op == "StartJobRun":
            with self.lock:
                self.started.append(p)
                n = len(self.started)
            new_id = "jr_restart_%04d_%s" % (n, hashlib.md5(json.dumps(p, sort_keys=True).encode()).hexdigest()[:40])
            if self.live_runs is not None and isinstance(self.data.glue_runs, dict):
                # the run StartJobRun started, as Glue then shows it: RUNNING for
                # live_runs seconds, then SUCCEEDED (a restart names the failed
                # run: PreviousRunId, API_StartJobRun JobRunId)
                now = time.time()
                r = {"Id": new_id, "JobName": p["JobName"], "Attempt": 0, "StartedOn": now,
                     "Arguments": p.get("Arguments") or {}, "_live_end": now + self.live_runs}
                if p.get("JobRunId"):
                    r["PreviousRunId"] = p["JobRunId"]
                    for old_run in self.data.glue_runs.get(p["JobName"]) or []:
                        if old_run["Id"] == p["JobRunId"] and old_run.get("Arguments") and not p.get("Arguments"):
                            r["Arguments"] = old_run["Arguments"]
                with self.lock:
                    self.data.glue_runs.setdefault(p["JobName"], []).insert(0, r)
            return {"JobRunId": new_id}
        if op == "GetTriggers":
            every = [{
                "Name": n, "Id": n, "Type": "SCHEDULED", "State": "ACTIVATED",
                # hegel_nightly_HHMM is the JST start; Glue trigger schedules are in UTC
                "Schedule": "cron(%d %d * * ? *)" % (int(n[-2:]), (int(n[-4:-2]) - 9) % 24),
                "Actions": [{"JobName": j} for j in self.triggers[n]]} for n in sorted(self.triggers)]
            every += self.extra_triggers
            page = every[start:start + min(size, 10)]
            out = {"Triggers": page}
            if start + len(page) < len(every):
                out["NextToken"] = token(start + len(page))
            return out
        return None
