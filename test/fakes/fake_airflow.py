#!/usr/bin/python3
"""A fake Airflow web server speaking the stable REST API: v1 (Airflow 2 / Cloud
Composer 2) or v2 (Airflow 3), with the simulated month of SOCRATES
(test/fakes/simulate.py).  Every reply is validated against the OpenAPI spec
of its version (test/fakes/airflow/v1-openapi.yaml, v2-openapi.yaml)
with Debian's python3-jsonschema before it is sent; OpenAPI's `nullable` is
read as "or null".

  GET /api/<v>/version
  POST /auth/token (v2)                               {"access_token": a JWT} for a user and password
  GET /api/<v>/dags?limit&offset                      DAGCollection / DAGCollectionResponse
  GET /api/<v>/dags/<dag_id>/details                  DAGDetail / DAGDetailsResponse
  GET /api/<v>/dags/~/dagRuns/~/taskInstances?limit&offset&updated_at_gte
                                                      TaskInstanceCollection(Response)
  GET /api/<v>/dags/<dag_id>/dagRuns/<dag_run_id>     DAGRun / DAGRunResponse (404 unknown)
  POST /api/<v>/dags/<dag_id>/dagRuns                 trigger a DAG run (409 for an existing id)
  POST /api/<v>/dags/<dag_id>/clearTaskInstances      clear task instances (see clear_task_instances)

A v1 server has no /api/v2 (404), a v2 server no /api/v1.  Pages are clamped to
max_page (Airflow's maximum_page_limit, 100).  Auth: v1 basic (user, password),
v2 a bearer token: the static one, or a JWT from POST /auth/token (HS512,
audience apache-airflow, jwt_ttl seconds).  Refused as Airflow refuses: v1 401
(api_connexion Unauthenticated); v2 (api_fastapi/core_api/security.py
get_user) 401 "Not authenticated" without a token, 401 "Token Expired" for a
JWT past its exp, 403 "Invalid JWT token" for any other token (a JWT of a
restarted server with a new jwt_secret: apache/airflow#47791).  forbidden
(a set of paths' substrings) answers 403 "Forbidden" to an identity it knows
(the role lacks the permission: api_connexion PermissionDenied,
core_api/security.py _requires_access).  Knobs as the fake Glue: latency,
hide_after (an ISO date: no DAG run of a later logical date exists yet) and
faults, a list of (path substring, kind) consumed in order (hang, malformed,
truncated, 500, 503, 429), and sticky, the same never consumed.  Every request
is recorded in `requests` with its time ("at", time.time()).

Clearing task instances follows Airflow's own code (cited at
clear_task_instances below); `clears` records each request, `downstream`
gives a DAG's edges (default: its tasks in listing order, a chain),
`run_cleared()` lets the scheduler run what a clear reset (succeed or fail),
and `clear_race` makes the task instances a clear selected start running just
before it is applied (another client cleared them first: the 409 of
prevent_running_task).

Replies kant must refuse (each answers only a fault; every normal reply stays
valid against the spec): {"reply": obj} (obj as JSON, HTTP "status" or 200),
{"raw": text or bytes} ("status", "content_type"), and on the normal page
{"total": n} (total_entries n), {"extra": n} (n more items than the limit asked
for), {"empty": true} (no items, total_entries kept).
"""
import base64
import datetime as dt
import hashlib
import json
import os
import sys
import time
import urllib.parse
import uuid

import jsonschema
import jwt
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_fake import FakeHTTP, Handler  # noqa: E402
from simulate import platform  # noqa: E402

SPECS = os.environ.get("KANT_AIRFLOW_SPECS",
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "airflow"))


def nullable(node):
    """OpenAPI 3.0 `nullable: true` as JSON Schema: the schema, or null."""
    if isinstance(node, dict):
        out = {k: nullable(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable"):
            out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [nullable(x) for x in node]
    return node


class Spec:
    def __init__(self, version):
        path = os.path.join(SPECS, "%s-openapi.yaml" % version)
        self.components = nullable(yaml.safe_load(open(path))["components"])

    def errors(self, schema_name, instance):
        schema = {"$ref": "#/components/schemas/%s" % schema_name, "components": self.components}
        v = jsonschema.Draft202012Validator(schema)
        return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
                for e in v.iter_errors(instance)][:5]


def iso(s):
    return dt.datetime.fromisoformat(s)


class AirflowHandler(Handler):
    def reply(self, code, obj):
        self.send(code, json.dumps(obj), [("Content-Type", "application/json")])

    def token_login(self, a, raw):
        """POST /auth/token (Airflow 3's auth manager login route,
        api_fastapi/auth/managers/simple/routes/login.py): a JSON or form body
        with username and password; 201 {"access_token": a JWT}, 401 on bad
        credentials."""
        ctype = self.headers.get("Content-Type", "")
        try:
            if ctype.startswith("application/json"):
                body = json.loads(raw)
            elif ctype.startswith("application/x-www-form-urlencoded"):
                body = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            else:
                return self.reply(415, {"detail": "Unsupported Media Type"})
        except ValueError:
            return self.reply(400, {"detail": "Bad Request"})
        if not isinstance(body, dict) or body.get("username") != a.user or body.get("password") != a.password:
            return self.reply(401, {"detail": "Invalid credentials"})
        with a.lock:
            a.tokens_issued += 1
        token = jwt.encode({"sub": a.user, "iat": int(time.time()), "exp": int(time.time()) + a.jwt_ttl,
                            "aud": "apache-airflow"}, a.jwt_secret, algorithm="HS512")
        self.send(201, json.dumps({"access_token": token}), [("Content-Type", "application/json")])

    def do_POST(self):
        """POST dags/{dag_id}/dagRuns: trigger a DAG run (the body validated
        against the version's request schema; an existing dag_run_id is 409)."""
        a = self.server.fake
        self.mutation = None
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        path = urllib.parse.urlsplit(self.path).path
        with a.lock:
            a.requests.append({"path": self.path, "headers": dict(self.headers), "method": "POST", "body": raw,
                               "at": time.time()})
        prefix = "/api/%s/" % a.version
        if path == "/auth/token" and a.version == "v2":
            return self.token_login(a, raw)
        parts = [urllib.parse.unquote(x) for x in path[len(prefix):].split("/")] if path.startswith(prefix) else []
        if len(parts) != 3 or parts[0] != "dags" or parts[2] not in ("dagRuns", "clearTaskInstances"):
            return self.reply(404, {"detail": "Not Found"})
        if not a.authorized(self.headers.get("Authorization", "")):
            return self.reply(*a.refusal(self.headers.get("Authorization", "")))
        if a.is_forbidden(self.path):
            return self.reply(*a.forbidden_reply())
        fault = a.take_fault(self.path)
        if fault in ("500", "503"):
            return self.reply(int(fault), {"title": "Server error", "status": int(fault), "type": "about:blank"})
        if fault == "hang":
            a.stopping.wait(120)
            return
        if isinstance(fault, dict) and "reply" in fault:
            return self.send(fault.get("status", 200), json.dumps(fault["reply"]),
                             [("Content-Type", "application/json")])
        if isinstance(fault, dict) and "raw" in fault:
            return self.send(fault.get("status", 200), fault["raw"],
                             [("Content-Type", fault.get("content_type", "text/html"))])
        try:
            body = json.loads(raw)
        except ValueError:
            return self.reply(400, {"title": "Bad Request", "status": 400, "type": "about:blank",
                                    "detail": "Request body must be JSON"})
        if parts[2] == "clearTaskInstances":
            return a.clear_task_instances(self, parts[1], body)
        errs = a.spec.errors("DAGRun" if a.version == "v1" else "TriggerDAGRunPostBody", body)
        if errs:
            with a.lock:
                a.invalid_requests.append(errs)
            return self.reply(400, {"title": "Bad Request", "status": 400, "type": "about:blank", "detail": str(errs)})
        dag = parts[1]
        run_id = body.get("dag_run_id")
        with a.lock:
            if (dag, run_id) in a.triggered:
                return self.reply(409, {"title": "Conflict", "status": 409, "type": "about:blank",
                                        "detail": "DAGRun with DAG ID: '%s' and DAGRun ID: '%s' already exists" % (dag, run_id)})
            # (dag_id, logical_date) is a unique key too.  Airflow 2: the v1
            # spec, DAGRun.logical_date: "This together with DAG_ID are a unique
            # key"; api_connexion dag_run_endpoint.post_dag_run answers 409.
            # Airflow 3: DagRun's UniqueConstraint("dag_id", "logical_date")
            # (airflow-core models/dagrun.py); the IntegrityError is a 409 from
            # api_fastapi/common/exceptions.py _UniqueConstraintErrorHandler
            # (statement and orig_error "hidden" unless [api] expose_stacktrace)
            if body.get("logical_date") is not None and any(
                    k[0] == dag and b.get("logical_date") == body["logical_date"] for k, b in a.triggered.items()):
                if a.version == "v2":
                    return self.reply(409, {"detail": {
                        "reason": "Unique constraint violation", "statement": "hidden", "orig_error": "hidden",
                        "message": "Serious error when handling your request. Check logs for more details - you "
                                   "will find it in api server when you look for ID %s" % uuid.uuid4()}})
                return self.reply(409, {"title": "Conflict", "status": 409, "type": "about:blank",
                                        "detail": "DAGRun with DAG ID: '%s' and DAGRun logical date: '%s' already exists"
                                                  % (dag, body["logical_date"])})
            a.triggered[(dag, run_id)] = body
        logical = body.get("logical_date")
        run = {"dag_id": dag, "dag_run_id": run_id, "logical_date": logical, "start_date": None, "end_date": None,
               "state": "queued", "data_interval_start": logical, "data_interval_end": logical,
               "last_scheduling_decision": None, "run_type": "manual", "conf": body.get("conf", {}), "note": None}
        if a.version == "v1":
            run.update({"execution_date": logical, "external_trigger": True})
        else:
            run.update({"dag_display_name": dag, "run_after": logical, "queued_at": logical,
                        "triggered_by": "rest_api", "triggering_user_name": a.user, "bundle_version": None,
                        "partition_key": None, "duration": None, "dag_versions": []})
        # the run exists from now on, queued, with no task instance yet
        with a.lock:
            a.posted_runs[(dag, run_id)] = dict(run)
        return a.answer(self, "DAGRun" if a.version == "v1" else "DAGRunResponse", run)

    def do_GET(self):
        a = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        q["state[]"] = urllib.parse.parse_qs(url.query).get("state", [])
        self.mutation = None
        with a.lock:
            a.requests.append({"path": self.path, "headers": dict(self.headers), "at": time.time()})
            a.in_flight += 1
            a.max_in_flight = max(a.max_in_flight, a.in_flight)
        try:
            self.route(a, url.path, q, self.path)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with a.lock:
                a.in_flight -= 1

    def hook(self, a, path, q):
        """Hooks of the fake, not of Airflow (for `make demo`):
        /_fake/tonight?dag=&run=&failed=  the DAG run kant triggered (dag, run)
            runs its tasks (those of the DAG in the simulation, a chain): the
            ones before `failed` succeed, `failed` fails with no retry left,
            the ones after it are upstream_failed (trigger rule all_success);
        /_fake/run_cleared  the scheduler runs what a clear reset (run_cleared)."""
        if path == "/_fake/run_cleared":
            return self.reply(200, {"ran": [list(x) for x in a.run_cleared()]})
        if path != "/_fake/tonight":
            return self.reply(404, {"detail": "no such hook"})
        dag, run, failed = q.get("dag"), q.get("run"), q.get("failed")
        with a.lock:
            body = a.triggered.get((dag, run))
            tasks = a.dag_tasks(dag)
            template = next((t for t in a.data.task_instances if t["dag_id"] == dag), None)
        if body is None or failed not in tasks or template is None:
            return self.reply(404, {"detail": "kant has not triggered %s/%s, or it has no task %s" % (dag, run, failed)})
        logical = iso(body["logical_date"].replace("Z", "+00:00")).isoformat()
        now = time.time()
        tis, state, start = [], "success", now - 60 * len(tasks)
        for task in tasks:
            if task == failed:
                state = "failed"
            t = dict(template, task_id=task, dag_run_id=run, execution_date=logical, try_number=1, max_tries=0,
                     state=state, map_index=-1)
            if state == "upstream_failed":
                t.update(start_date=None, queued_when=None, duration=None, try_number=0,
                         end_date=dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat())
            else:
                b = dt.datetime.fromtimestamp(start, dt.timezone.utc)
                t.update(start_date=b.isoformat(), queued_when=b.isoformat(), duration=50.0,
                         end_date=(b + dt.timedelta(seconds=50)).isoformat())
            tis.append(t)
            start += 60
            if state == "failed":
                state = "upstream_failed"
        with a.lock:
            a.data.task_instances.extend(tis)
        return self.reply(200, {"task_instances": len(tis)})

    def route(self, a, path, q, full):
        if path.startswith("/_fake/"):
            return self.hook(a, path, q)
        prefix = "/api/%s/" % a.version
        if not path.startswith(prefix):
            return self.reply(404, {"detail": "Not Found"} if a.version == "v2" else
                              {"title": "Not Found", "status": 404, "type": "about:blank",
                               "detail": "The requested URL was not found on the server."})
        if not a.authorized(self.headers.get("Authorization", "")):
            return self.reply(*a.refusal(self.headers.get("Authorization", "")))
        if a.is_forbidden(path):
            return self.reply(*a.forbidden_reply())
        if a.latency:
            time.sleep(a.latency)
        fault = a.take_fault(full)     # matched against the path and the query
        if fault == "hang":
            a.stopping.wait(120)
            return
        if fault in ("500", "503"):
            return self.reply(int(fault), {"title": "Server error", "status": int(fault), "type": "about:blank"})
        if fault == "429":
            return self.send(429, "Too Many Requests", [("Retry-After", "1")])
        if fault == "malformed":
            return self.send(200, '{"task_instances": [{"dag_id": ', [("Content-Type", "application/json")])
        if isinstance(fault, dict) and "reply" in fault:
            return self.send(fault.get("status", 200), json.dumps(fault["reply"]),
                             [("Content-Type", "application/json")])
        if isinstance(fault, dict) and "raw" in fault:
            return self.send(fault.get("status", 200), fault["raw"],
                             [("Content-Type", fault.get("content_type", "text/html"))])
        self.mutation = fault if isinstance(fault, dict) else None
        self.limit = int(q.get("limit", "100"))
        if fault == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b'{"task_instances": [')
            self.wfile.flush()
            self.close_connection = True
            return
        rest = path[len(prefix):]
        limit = min(int(q.get("limit", "100")), a.max_page)
        offset = int(q.get("offset", "0"))
        if rest == "version":
            return a.answer(self, "VersionInfo", {"version": "2.10.5" if a.version == "v1" else "3.0.2",
                                                  "git_version": None})
        if rest == "dags":
            dags = a.dags()
            page = dags[offset:offset + limit]
            name = "DAGCollection" if a.version == "v1" else "DAGCollectionResponse"
            return a.answer(self, name, {"dags": page, "total_entries": len(dags)})
        if rest == "dags/~/dagRuns":
            runs = a.dag_runs()
            if "end_date_gte" in q:
                since = iso(q["end_date_gte"].replace("Z", "+00:00"))
                runs = [r for r in runs if r["end_date"] and iso(r["end_date"]) >= since]
            if q["state[]"]:
                runs = [r for r in runs if r["state"] in q["state[]"]]
            page = runs[offset:offset + limit]
            name = "DAGRunCollection" if a.version == "v1" else "DAGRunCollectionResponse"
            return a.answer(self, name, {"dag_runs": page, "total_entries": len(runs)})
        parts = [urllib.parse.unquote(x) for x in rest.split("/")]
        if len(parts) == 3 and parts[0] == "dags" and parts[2] == "details":
            with a.lock:
                a.details_asked.append(parts[1])
            det = a.details(parts[1])
            if det is None:
                return self.reply(404, {"detail": "Dag with id %s was not found" % parts[1]})
            return a.answer(self, "DAGDetail" if a.version == "v1" else "DAGDetailsResponse", det)
        if len(parts) == 4 and parts[0] == "dags" and parts[2] == "dagRuns":
            run = next((r for r in a.dag_runs() if (r["dag_id"], r["dag_run_id"]) == (parts[1], parts[3])),
                       a.posted_runs.get((parts[1], parts[3])))
            if run is None:
                # v1 dag_run_endpoint.get_dag_run, v2 routes/public/dag_run.py get_dag_run
                return self.reply(404, {"detail": "The DagRun with dag_id: `%s` and run_id: `%s` was not found"
                                        % (parts[1], parts[3])} if a.version == "v2" else
                                  {"title": "DAGRun not found", "status": 404, "type": "about:blank",
                                   "detail": "DAGRun with DAG ID: '%s' and DagRun ID: '%s' not found"
                                   % (parts[1], parts[3])})
            return a.answer(self, "DAGRun" if a.version == "v1" else "DAGRunResponse", run)
        if len(parts) == 5 and parts[0] == "dags" and parts[2] == "dagRuns" and parts[4] == "taskInstances":
            key = (parts[1], parts[3])
            if key not in {(r["dag_id"], r["dag_run_id"]) for r in a.dag_runs()} and key not in a.posted_runs:
                return self.reply(404, {"detail": "DAG Run not found"} if a.version == "v2" else
                                  {"title": "DAGRun not found", "status": 404, "type": "about:blank",
                                   "detail": "DAGRun with DAG ID: '%s' and DagRun ID: '%s' not found" % key})
            tis = [t for t in a.task_instances() if (t["dag_id"], t["dag_run_id"]) == key]
            page = tis[offset:offset + limit]
            name = "TaskInstanceCollection" if a.version == "v1" else "TaskInstanceCollectionResponse"
            return a.answer(self, name, {"task_instances": page, "total_entries": len(tis)})
        if rest == "dags/~/dagRuns/~/taskInstances":
            tis = a.task_instances()
            if "updated_at_gte" in q:
                since = iso(q["updated_at_gte"].replace("Z", "+00:00"))
                tis = [t for t in tis if a.updated_at(t) >= since]
            page = tis[offset:offset + limit]
            name = "TaskInstanceCollection" if a.version == "v1" else "TaskInstanceCollectionResponse"
            return a.answer(self, name, {"task_instances": page, "total_entries": len(tis)})
        return self.reply(404, {"detail": "Not Found"})


class FakeAirflow(FakeHTTP):
    def __init__(self, version="v1", user="kant", password="s3cret-pw", token="eyJhbGciOiJIUzI1NiJ9.kant.sig",
                 data=None, google=None):
        super().__init__(AirflowHandler)
        # google: a fake_cloud.FakeGoogle whose access tokens are accepted too
        # (Cloud Composer's web server takes a Google identity's OAuth 2.0
        # access token as Authorization: Bearer, Composer docs "Access the
        # Airflow REST API"), if their scope holds google_scope
        self.google = google
        self.google_scope = "https://www.googleapis.com/auth/cloud-platform"
        self.version, self.user, self.password, self.token = version, user, password, token
        self.spec = Spec(version)
        self.data = data or platform(malformed=False)
        self.max_page = 100
        self.latency = 0
        self.faults = []
        self.forbidden = set()
        self.refusals = []
        self.sticky = []
        self.hide_after = None
        self.invalid_replies = []
        self.invalid_requests = []
        self.triggered = {}
        self.posted_runs = {}
        self.replies = {}
        # per DAG: its time zone as the API prints it (DAGDetail.timezone is
        # str() of the DAG's pendulum zone: "Timezone('UTC')" under pendulum
        # 2, Airflow 2; the name under pendulum 3, Airflow 3), its cron, and
        # its timetable as its next run shows it: "interval"
        # (CronDataIntervalTimetable: logical date = the previous tick, the
        # run due at the tick), "trigger" (CronTriggerTimetable: logical date
        # = the tick) or None (no next run: paused, or past its end_date)
        self.jwt_secret = "fake-airflow-jwt-secret-" + hashlib.md5(token.encode()).hexdigest()
        self.jwt_ttl = 86400         # [api_auth] jwt_expiration_time
        # another API server's jwt_secret: tokens /auth/token issues are refused
        self.jwt_verify_secret = None
        self.tokens_issued = 0
        self.dag_timezone = {}
        self.dag_cron = {}
        self.dag_timetable = {}
        self.details_asked = []
        # clearing task instances (clear_task_instances)
        self.clears = []            # each POST clearTaskInstances: at, dag_id, body, status, selected
        self.downstream = {}        # dag_id -> {task_id: [downstream task ids]}; default a chain
        self.run_state = {}         # (dag_id, dag_run_id) -> state set by a clear (queued, or kept)
        self.clear_race = False
        self.task_retries = {}      # (dag_id, task_id) -> retries, as first seen

    def authorized(self, header):
        if self.google is not None and header.startswith("Bearer "):
            who = self.google.valid_access_token(header[7:])
            if who and (not self.google_scope or self.google_scope in who[1].split()):
                return True
        if self.version == "v1":
            return header == "Basic " + base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
        if header == "Bearer " + self.token:
            return True
        # a JWT this server issued at /auth/token, not expired (Airflow 3's
        # JWTValidator: signature, exp, audience)
        if header.startswith("Bearer "):
            try:
                jwt.decode(header[7:], self.jwt_verify_secret or self.jwt_secret, algorithms=["HS512"],
                           audience="apache-airflow")
                return True
            except jwt.PyJWTError:
                return False
        return False

    def refusal(self, header):
        """(status, body) of a request authorized() refused, as the version
        refuses it; recorded in `refusals`."""
        if self.version == "v1" or self.google is not None:
            r = 401, {"title": "Unauthorized", "status": 401, "type": "about:blank",
                      "detail": "No credentials found or credentials are invalid."}
        elif not header.startswith("Bearer "):
            r = 401, {"detail": "Not authenticated"}
        else:
            r = 403, {"detail": "Invalid JWT token"}
            try:
                jwt.decode(header[7:], self.jwt_verify_secret or self.jwt_secret, algorithms=["HS512"],
                           audience="apache-airflow")
            except jwt.ExpiredSignatureError:
                r = 401, {"detail": "Token Expired"}
            except jwt.PyJWTError:
                pass
        with self.lock:
            self.refusals.append((r[0], r[1]["detail"]))
        return r

    def is_forbidden(self, path):
        return any(f in path for f in self.forbidden)

    def forbidden_reply(self):
        if self.version == "v2":
            return 403, {"detail": "Forbidden"}
        return 403, {"title": "Forbidden", "status": 403, "type": "about:blank", "detail": None}

    def take_fault(self, path):
        with self.lock:
            for i, (fpath, kind) in enumerate(self.faults):
                if fpath in path:
                    del self.faults[i]
                    return kind
            for fpath, kind in self.sticky:
                if fpath in path:
                    return kind
        return None

    def answer(self, handler, schema, obj):
        m = getattr(handler, "mutation", None)
        if m:
            # a reply kant must refuse: not validated, not counted
            key = next((k for k in ("dag_runs", "task_instances", "dags") if k in obj), None)
            if "total" in m:
                obj["total_entries"] = m["total"]
            if "extra" in m and key:
                items = obj[key] or [{"dag_id": "x", "dag_run_id": "y"}]
                obj[key] = (items * ((handler.limit + m["extra"]) // len(items) + 1))[:handler.limit + m["extra"]]
            if m.get("empty") and key:
                obj[key] = []
            return handler.reply(200, obj)
        errs = self.spec.errors(schema, obj)
        with self.lock:
            if errs:
                self.invalid_replies.append("%s: %s" % (schema, errs))
            self.replies[schema] = self.replies.get(schema, 0) + 1
        handler.reply(200, obj)

    @staticmethod
    def updated_at(t):
        return iso(t.get("end_date") or t.get("start_date") or t.get("queued_when")
                   or "2000-01-01T00:00:00+00:00")

    def next_run(self, d):
        """The next run's (logical date, due, interval start, interval end)
        for "30 4 * * *" as of 2026-11-26 (the data's month is before it)."""
        tick, prev = "2026-11-26T04:30:00+00:00", "2026-11-25T04:30:00+00:00"
        kind = self.dag_timetable.get(d, "interval" if self.version == "v1" else "trigger")
        if kind == "interval":
            return prev, tick, prev, tick
        if kind == "trigger":
            return tick, tick, tick, tick
        return None, None, None, None

    def dags(self):
        ids = sorted({t["dag_id"] for t in self.data.task_instances})
        out = []
        for d in ids:
            logical, due, start, end = self.next_run(d)
            cron = self.dag_cron.get(d, "30 4 * * *")
            if self.version == "v1":
                out.append({"dag_id": d, "dag_display_name": d, "root_dag_id": None, "is_paused": False,
                            "is_active": True, "is_subdag": False, "last_parsed_time": "2026-11-25T00:00:00+00:00",
                            "last_pickled": None, "last_expired": None, "scheduler_lock": None, "pickle_id": None,
                            "default_view": "grid", "fileloc": "/home/airflow/gcs/dags/%s.py" % d,
                            "file_token": hashlib.md5(d.encode()).hexdigest(), "owners": ["data-platform"],
                            "description": None, "schedule_interval": {"__type": "CronExpression", "value": cron},
                            "timetable_description": "At 04:30", "tags": [{"name": "socrates"}],
                            "max_active_tasks": 16, "max_active_runs": 1, "max_consecutive_failed_dag_runs": 0,
                            "has_task_concurrency_limits": False, "has_import_errors": False,
                            "next_dagrun": logical, "next_dagrun_data_interval_start": start,
                            "next_dagrun_data_interval_end": end, "next_dagrun_create_after": due})
            else:
                out.append({"dag_id": d, "dag_display_name": d, "is_paused": False, "is_stale": False,
                            "last_parsed_time": "2026-11-25T00:00:00Z", "last_expired": None,
                            "bundle_name": "dags-folder", "bundle_version": None, "relative_fileloc": "%s.py" % d,
                            "fileloc": "/opt/airflow/dags/%s.py" % d, "description": None,
                            "timetable_summary": cron, "timetable_description": "At 04:30",
                            "timetable_partitioned": False,
                            "tags": [{"name": "socrates", "dag_id": d, "dag_display_name": d}], "max_active_tasks": 16,
                            "max_active_runs": 1,
                            "max_consecutive_failed_dag_runs": 0, "has_task_concurrency_limits": False,
                            "has_import_errors": False, "next_dagrun_logical_date": logical,
                            "next_dagrun_data_interval_start": start, "next_dagrun_data_interval_end": end,
                            "next_dagrun_run_after": due, "owners": ["data-platform"],
                            "file_token": hashlib.md5(d.encode()).hexdigest()})
        return out

    def details(self, d):
        """GET dags/{dag_id}/details: the DAG, its time zone and the rest of
        DAGDetail (v1) / DAGDetailsResponse (v2)."""
        base = next((x for x in self.dags() if x["dag_id"] == d), None)
        if base is None:
            return None
        tz = self.dag_timezone.get(d, "Timezone('UTC')" if self.version == "v1" else "UTC")
        common = {"catchup": False, "start_date": "2026-01-01T00:00:00+00:00", "end_date": None,
                  "is_paused_upon_creation": None, "params": {}, "doc_md": None, "timezone": tz,
                  "template_search_path": None, "render_template_as_native_obj": False,
                  "last_parsed": "2026-11-25T00:00:00+00:00", "concurrency": 16}
        if self.version == "v1":
            return dict(base, orientation="LR", dag_run_timeout=None, default_view="grid", **common)
        return dict(base, dag_run_timeout=None, asset_expression=None, default_args=None, owner_links=None,
                    is_favorite=False, latest_dag_version=None, **common)

    def dag_runs(self):
        """The DAG runs the task instances belong to, in the version's shape."""
        runs = {}
        for t in self.visible():
            runs.setdefault((t["dag_id"], t["dag_run_id"]), []).append(t)
        out = []
        for (dag, run), tis in sorted(runs.items()):
            last = {}
            for t in tis:       # the simulation lists every try; a task's state is its last try's
                if t["task_id"] not in last or t["try_number"] > last[t["task_id"]]["try_number"]:
                    last[t["task_id"]] = t
            states = {t["state"] for t in last.values()}
            if states & {"running", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "deferred",
                         "restarting", None}:
                state, end = "running", None
            else:
                state = "failed" if states & {"failed", "upstream_failed"} else "success"
                end = max(t["end_date"] for t in tis if t.get("end_date"))
            if (dag, run) in self.run_state:
                # what a clear made of it: queued (reset_dag_runs), or the
                # finished state it kept (its cleared tasks never run)
                state = self.run_state[(dag, run)]
                if state == "queued":
                    end = None
            start = min((t["start_date"] for t in tis if t.get("start_date")), default=None)
            logical = tis[0]["execution_date"]
            interval_end = (iso(logical) + dt.timedelta(days=1)).isoformat()
            r = {"dag_id": dag, "dag_run_id": run, "logical_date": logical, "start_date": start,
                 "end_date": end, "state": state, "data_interval_start": logical,
                 "data_interval_end": interval_end, "last_scheduling_decision": end or start or logical,
                 "run_type": "scheduled", "conf": {}, "note": None}
            if self.version == "v1":
                r.update({"execution_date": logical, "external_trigger": False})
            else:
                r.update({"dag_display_name": dag, "run_after": interval_end, "queued_at": start or logical,
                          "triggered_by": "timetable", "triggering_user_name": None,
                          "bundle_version": None, "partition_key": None,
                          "duration": (iso(end) - iso(start)).total_seconds() if end and start else None,
                          "dag_versions": [{"id": hashlib.md5(dag.encode()).hexdigest()[:8] + "-0000-4000-8000-000000000000",
                                            "version_number": 1, "dag_id": dag, "bundle_name": "dags-folder",
                                            "bundle_version": None, "created_at": "2026-10-01T00:00:00Z",
                                            "dag_display_name": dag, "bundle_url": None}]})
            out.append(r)
        return out

    def visible(self):
        if self.hide_after is None:
            return self.data.task_instances
        return [t for t in self.data.task_instances if t["execution_date"][:10] <= self.hide_after]

    def task_instances(self):
        if self.version == "v1":
            return self.visible()
        out = []
        for t in self.visible():
            v = {k: t[k] for k in t if k not in ("execution_date", "sla_miss")}
            logical = t["execution_date"]
            v.update({
                "id": hashlib.md5(("%s/%s/%s" % (t["dag_id"], t["dag_run_id"], t["task_id"])).encode()).hexdigest(),
                "logical_date": logical,
                "run_after": (iso(logical) + dt.timedelta(days=1)).isoformat(),
                "task_display_name": t["task_id"], "dag_display_name": t["dag_id"],
                "scheduled_when": t.get("queued_when"), "executor": None, "dag_version": None,
                "rendered_map_index": None})
            out.append(v)
        return out

    # ------------------------------------------------- clearing task instances
    #
    # POST dags/{dag_id}/clearTaskInstances, as Airflow implements it:
    #   v1 (Airflow 2.10): airflow/api_connexion/endpoints/task_instance_endpoint.py
    #      post_clear_task_instances, apache/airflow commit 002ae49e3a5cdd68e09c9c9731364d6d75c5b4f3;
    #      the body through ClearTaskInstanceFormSchema (marshmallow: unknown
    #      fields and its own checks are a ValidationError, a 400 BadRequest),
    #      airflow/api_connexion/schemas/task_instance_schema.py at
    #      00c4d7589d3c19370699d6bd381a140535842e55 (defaults: dry_run true,
    #      only_failed true, reset_dag_runs FALSE); the reply a
    #      TaskInstanceReferenceCollection.
    #   v2 (Airflow 3): airflow-core/src/airflow/api_fastapi/core_api/routes/public/task_instances.py
    #      post_clear_task_instances at 377160cfb30f20f2a65abfc46d55caaeee4a51c9
    #      (ClearTaskInstancesBody: additionalProperties false, a pydantic
    #      error is FastAPI's 422; defaults dry_run true, reset_dag_runs true);
    #      prevent_running_task and its 409 (AirflowClearRunningTaskException
    #      when a selected task instance is running) from apache/airflow#56351;
    #      the reply a TaskInstanceCollectionResponse.
    #   Both: unknown DAG or DAG run 404; the selection is dag.clear(dry_run=True,
    #   ...): the run's task instances of task_ids (plus their downstream with
    #   include_downstream), with only_failed those in State.failed_states
    #   (failed, upstream_failed); a dry run returns it and changes nothing.
    #   clear_task_instances (2.10: airflow/models/taskinstance.py at
    #   0010bf126909a7385b731de80668b91af7cc74e5; 3.x:
    #   airflow-core/src/airflow/models/taskinstance.py at
    #   19f7b14fd4a9b83d2c09c4072c0c62818a84d55f): a running task instance
    #   becomes restarting; any other gets state None and, in 2.10, max_tries =
    #   try_number + retries - 1 with try_number kept (the scheduler adds one
    #   when it schedules it), in 3.x prepare_db_for_next_try (try_number + 1)
    #   then max_tries = try_number + retries.  A finished DAG run (success,
    #   failed) goes to queued only with reset_dag_runs; else it keeps its state
    #   and the cleared task instances are never scheduled.

    def current_tis(self, dag, run):
        """The task instances of a DAG run as the TaskInstance table holds
        them: per (task_id, map_index) the last try (the simulation lists
        every try)."""
        cur = {}
        for t in self.data.task_instances:
            if (t["dag_id"], t["dag_run_id"]) != (dag, run):
                continue
            k = (t["task_id"], t.get("map_index", -1))
            if k not in cur or t["try_number"] >= cur[k]["try_number"]:
                cur[k] = t
        return cur

    def dag_tasks(self, dag):
        seen = []
        for t in self.data.task_instances:
            if t["dag_id"] == dag and t["task_id"] not in seen:
                seen.append(t["task_id"])
        return seen

    def edges(self, dag):
        """task -> its direct downstream tasks (default: a chain in listing order)."""
        if dag in self.downstream:
            return self.downstream[dag]
        tasks = self.dag_tasks(dag)
        return {t: tasks[i + 1:i + 2] for i, t in enumerate(tasks)}

    def relatives(self, dag, tasks):
        """tasks and everything downstream of them (DAG.partial_subset with include_downstream)."""
        out, todo, e = set(tasks), list(tasks), self.edges(dag)
        while todo:
            for d in e.get(todo.pop(), []):
                if d not in out:
                    out.add(d)
                    todo.append(d)
        return out

    def retries(self, t):
        """The task's `retries`: the max_tries its first try was created with
        (TaskInstance.__init__ sets max_tries = task.retries)."""
        key = (t["dag_id"], t["task_id"])
        if key not in self.task_retries:
            first = min((x for x in self.data.task_instances if (x["dag_id"], x["task_id"]) == key),
                        key=lambda x: x["try_number"])
            self.task_retries[key] = first.get("max_tries", 0)
        return self.task_retries[key]

    def clear_error(self, handler, code, detail):
        if self.version == "v2":
            return handler.reply(code, {"detail": detail})
        titles = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}
        return handler.reply(code, {"title": titles.get(code, "Error"), "status": code, "type": "about:blank",
                                    "detail": detail})

    def clear_task_instances(self, handler, dag, body):
        rec = {"at": time.time(), "dag_id": dag, "body": body, "status": None, "selected": []}
        with self.lock:
            self.clears.append(rec)

        def done(code, *args):
            rec["status"] = code
            return self.clear_error(handler, code, *args) if code >= 300 else None

        if self.version == "v2":
            errs = []
            if not isinstance(body, dict):
                errs.append({"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary"})
            else:
                for k in body:
                    if k not in self.spec.components["schemas"]["ClearTaskInstancesBody"]["properties"]:
                        errs.append({"type": "extra_forbidden", "loc": ["body", k],
                                     "msg": "Extra inputs are not permitted", "input": body[k]})
                for e in self.spec.errors("ClearTaskInstancesBody", body):
                    if "Additional properties" not in e:
                        errs.append({"type": "value_error", "loc": ["body"], "msg": e})
            if errs:
                with self.lock:
                    self.invalid_requests.append(errs)
                rec["status"] = 422
                return handler.reply(422, {"detail": errs})     # FastAPI's RequestValidationError
        else:
            msgs = {}
            if not isinstance(body, dict):
                msgs["_schema"] = ["Invalid input type."]
            else:
                for k in body:
                    if k not in self.spec.components["schemas"]["ClearTaskInstances"]["properties"]:
                        msgs[k] = ["Unknown field."]        # marshmallow 3: unknown = RAISE
                for e in self.spec.errors("ClearTaskInstances", body):
                    msgs.setdefault("_schema", []).append(e)
                if not msgs:
                    if body.get("only_failed", True) and body.get("only_running", False):
                        msgs["_schema"] = ["only_failed and only_running both are set to True"]
                    elif body.get("dag_run_id") and (body.get("start_date") or body.get("end_date")):
                        msgs["_schema"] = ["Exactly one of dag_run_id or start_date must be provided"]
            if msgs:
                with self.lock:
                    self.invalid_requests.append(msgs)
                return done(400, str(msgs))
        v2 = self.version == "v2"
        dry_run = body.get("dry_run", True)
        reset = body.get("reset_dag_runs", v2)
        only_failed = body.get("only_failed", True)
        only_running = body.get("only_running", False)
        run = body.get("dag_run_id")
        with self.lock:
            if not any(t["dag_id"] == dag for t in self.data.task_instances):
                return done(404, ("DAG %s not found" if v2 else "Dag id %s not found") % dag)
            runs = {r["dag_run_id"]: r for r in self.dag_runs() if r["dag_id"] == dag}
            if run is not None and run not in runs:
                return done(404, "Dag Run id %s not found in dag %s" % (run, dag))
            if run is None:
                # a limit of this fake, not of Airflow (which clears by logical dates then)
                return done(400, "fake_airflow clears by dag_run_id only")
            ids = body.get("task_ids")
            tasks = None
            if ids is not None:
                tasks = {x if isinstance(x, str) else x[0] for x in ids}
                if body.get("include_downstream"):
                    tasks = self.relatives(dag, tasks)
            selected = []
            for (task, mi), t in sorted(self.current_tis(dag, run).items()):
                if tasks is not None and task not in tasks:
                    continue
                if only_failed and t["state"] not in ("failed", "upstream_failed"):
                    continue
                if only_running and t["state"] != "running":
                    continue
                selected.append(t)
            if not dry_run:
                if self.clear_race:
                    self.clear_race = False
                    for t in selected:
                        t["state"] = "running"
                if v2 and body.get("prevent_running_task") and any(t["state"] == "running" for t in selected):
                    rec["selected"] = [(t["task_id"], t.get("map_index", -1)) for t in selected]
                    return done(409, "AirflowClearRunningTaskException: Disable 'prevent_running_task' to proceed, "
                                "or wait until the task is not running, queued, or scheduled state.")
                for i, t in enumerate(selected):
                    retries = self.retries(t)
                    if t["state"] == "running":
                        t["state"] = "restarting"
                    elif v2:
                        # prepare_db_for_next_try: the next try, the old one kept as history
                        n = dict(t, try_number=t["try_number"] + 1, state=None, start_date=None, end_date=None,
                                 duration=None, queued_when=None, hostname="", pid=None)
                        n["max_tries"] = n["try_number"] + retries
                        self.data.task_instances.append(n)
                        selected[i] = n
                    else:
                        t.update(state=None, max_tries=t["try_number"] + retries - 1)
                before = runs[run]["state"]
                if before in ("success", "failed"):
                    self.run_state[(dag, run)] = "queued" if reset else before
            rec["selected"] = [(t["task_id"], t.get("map_index", -1)) for t in selected]
        rec["status"] = 200
        if v2:
            tis = {(t["task_id"], t.get("map_index", -1), t["try_number"]): t for t in self.task_instances()
                   if (t["dag_id"], t["dag_run_id"]) == (dag, run)}
            items = [tis[(t["task_id"], t.get("map_index", -1), t["try_number"])] for t in selected]
            return self.answer(handler, "TaskInstanceCollectionResponse",
                               {"task_instances": items, "total_entries": len(items)})
        return self.answer(handler, "TaskInstanceReferenceCollection", {"task_instances": [
            {"task_id": t["task_id"], "dag_id": dag, "dag_run_id": run, "execution_date": t["execution_date"]}
            for t in selected]})

    def run_cleared(self, states=None, default="success", now=None):
        """The scheduler runs what a clear reset, in DAG runs it schedules
        (queued or running): each task instance in state None runs one try
        that ends in states.get(task_id, default) at `now` (time.time()), or
        upstream_failed when a task upstream of it failed.  Returns the
        (dag_id, task_id, state) of what ran."""
        states = states or {}
        now = time.time() if now is None else now
        end = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        out = []
        with self.lock:
            keys = sorted({(t["dag_id"], t["dag_run_id"]) for t in self.data.task_instances})
            runs = {(r["dag_id"], r["dag_run_id"]): r["state"] for r in self.dag_runs()}
            for dag, run in keys:
                if runs.get((dag, run)) not in ("queued", "running"):
                    continue
                cur = self.current_tis(dag, run)
                ups = {}
                for u, ds in self.edges(dag).items():
                    for d in ds:
                        ups.setdefault(d, []).append(u)
                for task in self.dag_tasks(dag):
                    for (tk, mi), t in sorted(cur.items()):
                        if tk != task or t["state"] is not None:
                            continue
                        if any(cur[k]["state"] in ("failed", "upstream_failed") for k in cur if k[0] in ups.get(task, [])):
                            t.update(state="upstream_failed", end_date=end.isoformat(), start_date=None, duration=None)
                        else:
                            if self.version == "v1":
                                t["try_number"] += 1    # 2.10: the scheduler counts the try
                            state = states.get(task, default)
                            start = end - dt.timedelta(seconds=60)
                            t.update(state=state, start_date=start.isoformat(), end_date=end.isoformat(),
                                     duration=60.0, queued_when=start.isoformat())
                        out.append((dag, task, t["state"]))
                self.run_state.pop((dag, run), None)
        return out
