#!/usr/bin/python3
"""Credentials as the clouds issue them (kant.set_credential_source, src/auth.c),
against fakes that speak the real protocols and are themselves checked by the
real clients (test/scripts/cloud_fakes.py: google-auth, botocore):

- Cloud Composer with a service-account key: kant signs an RS256 JWT
  assertion (libcrypto) that the fake token endpoint verifies with python3-jwt
  (iss, scope, aud, iat/exp, kid), and sends the access token to the fake
  Composer Airflow, which accepts it as Composer does (a Google identity's
  OAuth 2.0 token); the GCE metadata server's token likewise;
- AWS Glue with an EC2 instance role (IMDSv2), ECS/EKS container credentials,
  STS AssumeRole signed with static keys, and AssumeRoleWithWebIdentity with a
  Google ID token from the metadata server (the GCP-to-AWS case); botocore's
  own providers, pointed at the same fakes, read the keys kant uses;
- Airflow 3's JWT from /auth/token, cached;
- tokens cached across sessions (pg_cron runs each job in a new backend),
  refreshed once when a server refuses them mid-collection, once for many
  concurrent callers; failures (revoked key, clock skew, malformed key,
  unreachable metadata server, role not allowed) recorded with SQLSTATE and
  hint; no secret in any log line with log_statement = 'all'.  Prints TAP."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import at_once, fresh_db, tap  # noqa: E402
import psycopg2  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402
from fake_cloud import CloudHandler, FakeAWS, FakeGoogle  # noqa: E402
from fake_glue import FakeGlue  # noqa: E402
from http_fake import FakeHTTP, Handler, Server, on_fixed_port  # noqa: E402


class XmlReply(Handler):
    """An STS that answers one set body (odd but well-formed replies)."""
    body = ""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send(200, XmlReply.body, [("Content-Type", "text/xml")])


def sts_xml(akid, secret, token):
    """An AssumeRole reply as STS sends it (AWS STS API reference, AssumeRole)."""
    return ('<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            '<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
            '<SessionToken>%s</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>'
            '</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>'
            '</AssumeRoleResponse>' % (akid, secret, token))

DB = "kant_credentials"
conn, cur = fresh_db(DB)
cur.execute("CREATE EXTENSION kant")
cur.execute("SET kant.http_retry_base = '20ms'")
# every statement logged, as an auditor would: no secret may be in one
cur.execute("ALTER DATABASE %s SET log_statement = 'all'" % DB)
cur.execute("SET log_statement = 'all'")


def one(sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()


def error_of(sql, args=None):
    try:
        cur.execute(sql, args)
        return None, None
    except psycopg2.Error as e:
        return e.pgcode, "%s\nHINT: %s" % (e.pgerror, e.diag.message_hint)


def db_setting(name, value):
    """For every new session of the test database (at_once opens its own)."""
    cur.execute("ALTER DATABASE %s SET %s = '%s'" % (DB, name, value.replace("'", "''")))
    cur.execute("SET %s = '%s'" % (name, value.replace("'", "''")))


# every secret any fake hands out, looked for in the server log at the end
secrets_seen = set()

# ------------------------------------------------------------ Composer: Google
google = FakeGoogle().start()
af = FakeAirflow(version="v1", google=google).start()
key = google.new_service_account("kant-collector@demo-project.iam.gserviceaccount.com")
secrets_seen.add(key["private_key"].splitlines()[1])

keydir = tempfile.mkdtemp(prefix="kant-keys-")
os.chmod(keydir, 0o755)
cur.execute("SELECT pg_backend_pid()")
server_uid = os.stat("/proc/%d" % cur.fetchone()[0]).st_uid


def key_file(name, text):
    path = os.path.join(keydir, name)
    with open(path, "w") as f:
        f.write(text)
    if os.geteuid() == 0:
        os.chown(path, server_uid, -1)
    os.chmod(path, 0o600)


key_file("composer-sa.json", json.dumps(key, indent=2))
db_setting("kant.secret_directory", keydir)
db_setting("kant.google_metadata_endpoint", google.url(""))
cur.execute("SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', default_pipeline => 'socrates_daily')")
cur.execute("SELECT kant.set_endpoint('socrates', %s)", (af.url("/"),))
cur.execute("SELECT kant.set_credential_source('socrates', 'google_service_account', key_file => 'composer-sa.json')")


def collect(system="socrates", kind="airflow"):
    cur.execute("SELECT requests, runs_seen, sqlstate, error FROM kant.collect_%s(%%s)" % kind, (system,))
    return cur.fetchone()


r = collect()
first_seen = r[1]
grants = [t for t in google.token_requests if t.get("outcome") == "ok"]
claims = grants[-1]["claims"] if grants else {}
header = grants[-1]["header"] if grants else {}
tap(r[2] is None and r[1] > 0 and len(grants) == 1,
    "Composer with a service-account key: kant's RS256 assertion is accepted and the collection reads %s task instances"
    % r[1], r)
tap(claims.get("iss") == key["client_email"] and claims.get("aud") == key["token_uri"]
    and claims.get("scope") == "https://www.googleapis.com/auth/cloud-platform"
    and claims.get("exp", 0) - claims.get("iat", 0) == 3600 and header.get("kid") == key["private_key_id"]
    and header.get("alg") == "RS256",
    "the assertion's claims are Google's (iss the client email, aud the token_uri, scope, an hour, kid)",
    (header, claims))
bearer = [q for q in af.requests if q.get("headers", {}).get("Authorization", "").startswith("Bearer ya29.")] \
    if af.requests and isinstance(af.requests[0], dict) else []
tap(len(bearer) == len(af.requests) and len(bearer) > 0,
    "every request to Composer carries the Google access token (%d)" % len(bearer))
for t in list(google.tokens):
    secrets_seen.add(t)

r = one("SELECT source, static_secret, key_file, usable, token_expires_at - token_obtained_at"
        " FROM kant.credential_sources WHERE system = 'socrates'")
tap(r[0] == "google_service_account" and r[1] is None and r[2] == "composer-sa.json" and r[3]
    and 3590 <= r[4].total_seconds() <= 3600,
    "kant.credential_sources shows the source and the token's lifetime, not the token: %s" % (r,))

# checking the setup without a collection
r1 = one("SELECT source, from_cache, expires_at > now() FROM kant.obtain_credentials('socrates')")
n_before = len(google.token_requests)
r2 = one("SELECT source, from_cache, expires_at > now() FROM kant.obtain_credentials('socrates', refresh => true)")
tap(r1 == ("google_service_account", True, True) and r2 == ("google_service_account", False, True)
    and len(google.token_requests) == n_before + 1,
    "kant.obtain_credentials: from the cache, or (refresh => true) from the source: %s, %s" % (r1, r2))

# the cache outlives the session: pg_cron's next run is a new backend
n_ok = len([t for t in google.token_requests if t.get("outcome") == "ok"])
c2 = psycopg2.connect(dbname=DB)
c2.autocommit = True
k2 = c2.cursor()
k2.execute("SELECT sqlstate FROM kant.collect_airflow('socrates')")
tap(k2.fetchone()[0] is None and len([t for t in google.token_requests if t.get("outcome") == "ok"]) == n_ok,
    "a new session reuses the cached token: no second assertion")
c2.close()

# the token expires before kant expected (revoked, or a clock kant cannot see): one refresh, one retry
google.expire_all_tokens()
n_before = len(google.token_requests)
r = collect()
tap(r[2] is None and len(google.token_requests) == n_before + 1,
    "a 401 with the cached token refreshes it once and the collection succeeds", r)

# ... and mid-collection: the token stops working after a few pages
orig_authorized = af.authorized
seen = [0]


def expiring_authorized(header):
    with af.lock:
        seen[0] += 1
        now_expire = seen[0] == 6
    if now_expire:
        google.expire_all_tokens()
    return orig_authorized(header)


af.authorized = expiring_authorized
cur.execute("UPDATE kant.system SET collected_until = NULL WHERE name = 'socrates'")
n_before = len(google.token_requests)
r_full = collect()
af.authorized = orig_authorized
tap(r_full[2] is None and len(google.token_requests) == n_before + 1 and seen[0] > 6 and r_full[1] == first_seen,
    "the token expires after the 6th of %d requests: the requests refused are retried after one refresh, nothing lost (%s)"
    % (seen[0], r_full), r_full)

# many callers at once with no usable token: one refresh
google.expire_all_tokens()
cur.execute("DELETE FROM kant.token_cache")
n_before = len(google.token_requests)
out = at_once(DB, "SELECT status FROM kant._airflow_post('socrates', 'dags/socrates_daily/dagRuns',"
                  " '{\"logical_date\": null}')", sessions=4)
tap(len(google.token_requests) == n_before + 1 and all(o and o[0][0] not in (401, 403) for o in out),
    "four concurrent requests with no token: one assertion, each request authorized (HTTP %s: one run, then 409 for the same logical date)"
    % [o[0][0] if o else None for o in out])

# a revoked key: 28000, the issuer's error code, a hint; recorded in kant.collection
google.revoke(key["private_key_id"])
cur.execute("DELETE FROM kant.token_cache")
r = collect()
tap(r[2] == "28000" and "invalid_grant" in (r[3] or ""),
    "a revoked key: 28000, invalid_grant: %s" % (r[3] or "")[:160])
r = one("SELECT sqlstate, error FROM kant.collection WHERE system_id = 1 ORDER BY collection_id DESC LIMIT 1")
tap(r[0] == "28000", "the failure is recorded in kant.collection")

# clock skew: Google judges iat/exp by its clock
key2 = google.new_service_account("kant-collector@demo-project.iam.gserviceaccount.com")
key_file("composer-sa.json", json.dumps(key2))
google.clock_offset = -7200      # kant's clock two hours ahead of Google's
r = collect()
tap(r[2] == "28000" and "iat and exp" in (r[3] or ""),
    "clock skew: Google's 'reasonable timeframe' error: %s" % (r[3] or "")[:160])
h = one("SELECT c.hint, h.last_error_hint FROM kant.collection c, kant.collector_health h"
        " WHERE h.system = 'socrates' ORDER BY c.collection_id DESC LIMIT 1")
tap(h[0] and "clock" in h[0] and h[0] == h[1],
    "the hint is kept with the failure (kant.collection.hint, collector_health.last_error_hint): %s" % (h[0],))
code, msg = error_of("SELECT kant._airflow_post('socrates', 'dags/x/dagRuns', '{}')")
tap(code == "28000" and "clock" in msg, "and an action raises it with the same hint (%s)" % code, msg)
google.clock_offset = 0

# malformed keys: named, never quoted
for name, text, want in (
        ("not json", "private_key=-----BEGIN PRIVATE KEY-----MIIsecretmaterial", "not a service-account key"),
        ("no private_key", json.dumps({"type": "service_account", "client_email": "x@y"}), "not a service-account key"),
        ("a user credential", json.dumps({"type": "authorized_user", "client_id": "c", "refresh_token": "MIIsecretmaterial"}),
         "not a service-account key"),
        ("a broken PEM", json.dumps(dict(key2, private_key="-----BEGIN PRIVATE KEY-----\nMIIsecretmaterial\n-----END PRIVATE KEY-----\n")),
         "malformed")):
    key_file("composer-sa.json", text)
    r = collect()
    tap(r[2] == "28000" and want in (r[3] or "") and "MIIsecretmaterial" not in (r[3] or ""),
        "a key file that is %s: 28000, said without its contents: %s" % (name, (r[3] or "")[:120]))
key_file("composer-sa.json", json.dumps(key2))
r = collect()
tap(r[2] is None, "a good key in the same file is read at the next collection", r)
secrets_seen.add(key2["private_key"].splitlines()[1])

# the GCE / GKE metadata server's token for the attached service account
cur.execute("SELECT kant.set_credential_source('socrates', 'google_metadata')")
n_meta = len(google.metadata_requests)
r = collect()
meta = google.metadata_requests[n_meta:]
tap(r[2] is None and any("/service-accounts/default/token" in m["path"] for m in meta)
    and all(m["headers"].get("Metadata-Flavor") == "Google" for m in meta),
    "google_metadata: the metadata server's token (Metadata-Flavor: Google) reaches Composer", r)
for t in list(google.tokens):
    secrets_seen.add(t)
# a token Composer keeps refusing (here: not the scope it wants): one refresh, then the error says what to check
af.google_scope = "https://www.googleapis.com/auth/some-other-api"
fetches = lambda: len([m for m in google.metadata_requests if "/default/token" in m["path"]])  # noqa: E731
n_before = fetches()
r = collect()
af.google_scope = "https://www.googleapis.com/auth/cloud-platform"
h = one("SELECT hint FROM kant.collection ORDER BY collection_id DESC LIMIT 1")[0] or ""
tap(r[2] == "28000" and fetches() == n_before + 1 and "credential source" in h and "access scope" in h,
    "a token Airflow refuses after its refresh: 28000, one refresh, and a hint about the identity's role and scope", (r, h))

# impersonation: the key's service account asks IAM Credentials for another one's token
db_setting("kant.google_iam_endpoint", google.url(""))
target = "composer-reader@demo-project.iam.gserviceaccount.com"
cur.execute("SELECT kant.set_credential_source('socrates', 'google_service_account', key_file => 'composer-sa.json',"
            " impersonate => %s)", (target,))
r = collect()
tap(r[2] == "28000" and "PERMISSION_DENIED" in (r[3] or "") and google.impersonations[-1]["caller"] == key2["client_email"],
    "impersonating without roles/iam.serviceAccountTokenCreator: 28000 PERMISSION_DENIED: %s" % (r[3] or "")[:120])
google.token_creators[target] = {key2["client_email"]}
n_req = len(af.requests)
r = collect()
used = {google.valid_access_token(q["headers"]["Authorization"][7:]) for q in af.requests[n_req:]
        if q["headers"].get("Authorization", "").startswith("Bearer ")}
tap(r[2] is None and google.impersonations[-1]["outcome"] == "ok" and {u[0] for u in used if u} == {target},
    "with the role, Composer is read with the impersonated account's token (generateAccessToken)", (r, used))
for t in list(google.tokens):
    secrets_seen.add(t)
cur.execute("SELECT kant.set_credential_source('socrates', 'google_metadata')")

db_setting("kant.google_metadata_endpoint", "http://127.0.0.1:9")
cur.execute("DELETE FROM kant.token_cache")
r = collect()
tap(r[2] == "08001" and "metadata" in (r[3] or ""),
    "an unreachable metadata server: 08001: %s" % (r[3] or "")[:140])
db_setting("kant.google_metadata_endpoint", google.url(""))

# ------------------------------------------------------------------ AWS Glue
aws = FakeAWS(region="ap-northeast-1").start()
glue = FakeGlue(aws=aws).start()
db_setting("kant.aws_metadata_endpoint", aws.url(""))
cur.execute("SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', default_pipeline => 'hegel_nightly')")
cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1')", (glue.url("/"),))


def kant_keys(system):
    return one("SELECT t.principal, t.session_token FROM kant.token_cache t JOIN kant.system s USING (system_id)"
               " WHERE s.name = %s", (system,))


# EC2 instance role through IMDSv2
# kant.aws_metadata_endpoint is set for the database (and this session): a new
# session, as pg_cron's, has it, so it is no "session only" warning; set for
# the session alone, it is
del conn.notices[:]
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_instance')")
told = "".join(conn.notices)
cur.execute("SET kant.aws_metadata_endpoint = 'http://127.0.0.1:9'")
del conn.notices[:]
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_instance')")
told2 = "".join(conn.notices)
cur.execute("SET kant.aws_metadata_endpoint = %s", (aws.url(""),))
cur.execute("SET kant.aws_metadata_endpoint = 'http://127.0.0.1:9'")
cur.execute("ALTER ROLE ALL SET kant.aws_metadata_endpoint = 'http://127.0.0.1:9'")
del conn.notices[:]
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_instance')")
told3 = "".join(conn.notices)
cur.execute("ALTER ROLE ALL RESET kant.aws_metadata_endpoint")
cur.execute("SET kant.aws_metadata_endpoint = %s", (aws.url(""),))
tap("session only" not in told3, "nor one ALTER ROLE ALL gives every new session: %r" % told3[:160])
tap("session only" not in told and "kant.aws_metadata_endpoint is set for this session only" in told2
    and "ALTER SYSTEM SET kant.aws_metadata_endpoint" in told2,
    "a setting the database has too is no 'session only' warning; one set for the session alone is: %r" % told2[:160])
r = collect("hegel", "glue")
keys = kant_keys("hegel")
from botocore.utils import InstanceMetadataFetcher  # noqa: E402
boto = InstanceMetadataFetcher(base_url=aws.url(""), timeout=2, num_attempts=1).retrieve_iam_role_credentials()
tap(r[2] is None and r[1] > 0 and keys and boto.get("access_key") == keys[0] and boto.get("token") == keys[1],
    "aws_instance: IMDSv2's role keys sign Glue, the same keys botocore's InstanceMetadataFetcher reads", (r, keys))
for c in aws.issued:
    secrets_seen.update([c["SecretAccessKey"], c["Token"]])

# the keys expire before kant expected: Glue says ExpiredTokenException, one refresh
aws.expire_all()
aws._current.clear()
n_issued = len(aws.issued)
r = collect("hegel", "glue")
tap(r[2] is None and len(aws.issued) == n_issued + 1 and glue.rejected_tokens >= 1,
    "Glue's ExpiredTokenException mid-collection: one refresh from IMDS, the collection succeeds", r)

# ... and after a few pages of a collection
orig_check = glue.check_signature
gseen = [0]


def expiring_check(handler, body):
    with glue.lock:
        gseen[0] += 1
        now_expire = gseen[0] == 4
    if now_expire:
        aws.expire_all()
    return orig_check(handler, body)


glue.check_signature = expiring_check
cur.execute("DELETE FROM kant.collect_state")
n_issued = len(aws.issued)
rejected = glue.rejected_tokens
r = collect("hegel", "glue")
glue.check_signature = orig_check
tap(r[2] is None and len(aws.issued) == n_issued + 1 and glue.rejected_tokens > rejected and gseen[0] > 4,
    "the keys expire after the 4th of %d Glue requests: those refused are retried after one refresh (%s)"
    % (gseen[0], r), r)

# ECS / EKS container credentials, from the server's environment
port = int(os.environ.get("KANT_TEST_CONTAINER_PORT", "23392"))
try:
    container = on_fixed_port(lambda p: Server(("127.0.0.1", p), CloudHandler), port)
except OSError as e:
    # the port the server's AWS_CONTAINER_CREDENTIALS_FULL_URI names (pgopts.sh) is taken
    tap(False, "container credentials: cannot serve port %d (KANT_TEST_CONTAINER_PORT): %s" % (port, e))
    container = None
if container:
    container.fake = aws
    threading.Thread(target=container.serve_forever, daemon=True).start()
aws.container_token = os.environ.get("KANT_TEST_CONTAINER_TOKEN", "kant-test-pod-identity-token")
aws.add_container_path("/v2/credentials/kant-test", aws.role_arn("kant-collector-task"))
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_container')")
r = collect("hegel", "glue")
keys = kant_keys("hegel")
from botocore.credentials import ContainerProvider  # noqa: E402
bc = ContainerProvider(environ={
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:%d/v2/credentials/kant-test" % port,
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": aws.container_token}).load()
bc = bc.get_frozen_credentials() if bc else None
tap(r[2] is None and keys and bc and bc.access_key == keys[0] and bc.token == keys[1],
    "aws_container: the container endpoint's keys (with its Authorization token), as botocore's ContainerProvider reads them",
    (r, keys))
for c in aws.issued:
    secrets_seen.update([c["SecretAccessKey"], c["Token"]])

# STS AssumeRole signed with static keys
cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY')")
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_assume_role', role_arn => %s, base_source => 'static',"
            " sts_endpoint => %s)", (aws.role_arn("kant-glue-reader"), aws.url("/")))
r = collect("hegel", "glue")
calls = [c for c in aws.sts_calls if c["action"] == "AssumeRole"]
tap(r[2] is None and r[1] > 0 and calls and calls[-1]["outcome"] == "ok"
    and calls[-1]["params"].get("RoleSessionName") == "kant-hegel",
    "aws_assume_role: AssumeRole signed with the static keys (SigV4 checked by botocore), its keys read Glue", r)
for c in aws.issued:
    secrets_seen.update([c["SecretAccessKey"], c["Token"]])
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_assume_role', role_arn => %s, base_source => 'static',"
            " sts_endpoint => %s)", (aws.role_arn("not-allowed"), aws.url("/")))
r = collect("hegel", "glue")
tap(r[2] == "28000" and "AccessDenied" in (r[3] or ""),
    "a role the identity may not assume: 28000 AccessDenied: %s" % (r[3] or "")[:150])

# AssumeRoleWithWebIdentity with a Google ID token: a Postgres on GCP reading Glue
aws.trust_google(google, "kant-aws-federation")
aws.roles[aws.role_arn("kant-from-gcp")] = {"external_id": None}
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_web_identity', role_arn => %s,"
            " audience => 'kant-aws-federation', sts_endpoint => %s)", (aws.role_arn("kant-from-gcp"), aws.url("/")))
r = collect("hegel", "glue")
calls = [c for c in aws.sts_calls if c["action"] == "AssumeRoleWithWebIdentity"]
tap(r[2] is None and r[1] > 0 and calls and calls[-1]["outcome"] == "ok",
    "aws_web_identity: a Google ID token for the audience, exchanged at STS, reads Glue", r)
# EKS IRSA: the projected token, a file the kubelet rotates, read at each exchange
aws.web_identity_tokens.add("eks-projected-token-1")
key_file("eks-token", "eks-projected-token-1\n")
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_web_identity', role_arn => %s,"
            " web_identity_token_file => 'eks-token', sts_endpoint => %s)", (aws.role_arn("kant-glue-reader"), aws.url("/")))
r = collect("hegel", "glue")
calls = [c for c in aws.sts_calls if c["action"] == "AssumeRoleWithWebIdentity"]
tap(r[2] is None and calls[-1]["outcome"] == "ok" and calls[-1]["params"].get("WebIdentityToken") == "eks-projected-token-1",
    "aws_web_identity with a token file (EKS IRSA): the file's token, exchanged at STS", r)
key_file("eks-token", "eks-projected-token-2-not-trusted\n")
cur.execute("DELETE FROM kant.token_cache")
r = collect("hegel", "glue")
tap(r[2] == "28000" and "InvalidIdentityToken" in (r[3] or ""),
    "a rotated token the provider does not accept is read at the next exchange: %s" % (r[3] or "")[:100])

# SigV4 carries the signer's time: STS refuses a clock an hour off, and the hint says so
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_assume_role', role_arn => %s, base_source => 'static',"
            " sts_endpoint => %s)", (aws.role_arn("kant-glue-reader"), aws.url("/")))
aws.clock_offset = 3600
r = collect("hegel", "glue")
aws.clock_offset = 0
tap(r[2] == "28000" and "SignatureDoesNotMatch" in (r[3] or ""),
    "clock skew at STS: 28000 SignatureDoesNotMatch: %s" % (r[3] or "")[:130])
code, msg = error_of("SELECT * FROM kant._glue_call('hegel', 'GetJobs', '{}')")
tap(code is None, "... and with the clock right again, an action (kant._glue_call) assumes the role", msg)

cur.execute("SELECT kant.set_credential_source('hegel', 'aws_web_identity', role_arn => %s,"
            " audience => 'someone-else', sts_endpoint => %s)", (aws.role_arn("kant-from-gcp"), aws.url("/")))
r = collect("hegel", "glue")
tap(r[2] == "28000" and "InvalidIdentityToken" in (r[3] or ""),
    "an ID token for another audience: 28000: %s" % (r[3] or "")[:150])

# a source set again while a refresh was under way (the refresh commits after
# the change): the token it cached carries the old settings' time and is not used
cur.execute("SELECT kant.set_credential_source('hegel', 'aws_assume_role', role_arn => %s, base_source => 'static',"
            " sts_endpoint => %s)", (aws.role_arn("kant-glue-reader"), aws.url("/")))
collect("hegel", "glue")
n_sts = len(aws.sts_calls)
cur.execute("UPDATE kant.credential_source SET updated_at = updated_at + interval '1 second'"
            " WHERE system_id = (SELECT system_id FROM kant.system WHERE name = 'hegel')")
r = collect("hegel", "glue")
tap(r[2] is None and len(aws.sts_calls) == n_sts + 1,
    "a token cached from settings older than the source's are not used: a new AssumeRole", r)

# ... whatever order the changes commit in: a source set in a transaction that
# began before the last set_credentials, while a refresh ran in between
cur.execute("DELETE FROM kant.token_cache")
other = psycopg2.connect(dbname=DB)
ocur = other.cursor()
ocur.execute("SELECT now()")                        # its transaction begins
cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY')")
aws.roles[aws.role_arn("kant-role-b")] = {"external_id": None}
ocur.execute("SELECT kant.set_credential_source('hegel', 'aws_assume_role', role_arn => %s, base_source => 'static',"
             " sts_endpoint => %s)", (aws.role_arn("kant-role-b"), aws.url("/")))
collect("hegel", "glue")                            # refreshes with the role still committed
other.commit()
other.close()
collect("hegel", "glue")
roles = [c["params"].get("RoleArn") for c in aws.sts_calls[-2:]]
tap(roles == [aws.role_arn("kant-glue-reader"), aws.role_arn("kant-role-b")],
    "a source committed after a refresh that used the old one, in a transaction begun earlier: the new role is assumed",
    roles)

# auto_explain logging nested statements with their plans must not show a key
cur.execute("LOAD 'auto_explain'")
cur.execute("SET auto_explain.log_min_duration = 0")
cur.execute("SET auto_explain.log_nested_statements = on")
cur.execute("SET auto_explain.log_verbose = on")
cur.execute("DELETE FROM kant.token_cache")
r = collect("hegel", "glue")
cur.execute("SET auto_explain.log_min_duration = -1")
for c in aws.issued:
    secrets_seen.update([c["SecretAccessKey"], c["Token"]])
tap(r[2] is None, "a collection with auto_explain logging every nested plan (the log is checked at the end)", r)

# a refresh in a long transaction holds the token lock until it ends: another
# caller waits a few seconds at most, then obtains its own
slow = psycopg2.connect(dbname=DB)
scur = slow.cursor()
cur.execute("DELETE FROM kant.token_cache")
scur.execute("SELECT sqlstate FROM kant.collect_glue('hegel')")     # refreshed, not committed
t0 = time.time()
code, msg = error_of("SELECT status FROM kant._glue_call('hegel', 'GetJobs', '{}')")
waited = time.time() - t0
t0 = time.time()
code2, msg2 = error_of("SELECT count(*) FROM generate_series(1, 3) i, LATERAL kant._glue_call('hegel', 'GetJobs', '{}')")
waited2 = time.time() - t0
slow.commit()
slow.close()
tap(code is None and 2.5 <= waited < 15,
    "a caller that finds the token lock held by a long transaction goes on after ~3 s (%.1f s)" % waited, msg)
tap(code2 is None and waited2 < 2.5,
    "... and keeps what it obtained for its next calls: three more calls took %.1f s" % waited2, msg2)

# STS's XML read as botocore reads it: the values' text, entities resolved, one Credentials
odd = FakeHTTP(XmlReply).start()
for body, want, what in (
        (sts_xml("ASIAODDKEY0000000001", "abc&amp;def+/=", "IQoJ&lt;tok&gt;"), ("abc&def+/=", "IQoJ<tok>"),
         "entities in the reply are resolved (&amp; is &)"),
        (sts_xml("ASIAODDKEY0000000001", "LEAKMARK0123456789<?xmlfoo x?>", "IQoJtok"),
         ("LEAKMARK0123456789", "IQoJtok"),
         "a processing instruction libxml warns about, quoting the key: the warning is not sent"),
        (sts_xml("ASIAODDKEY0000000001", "s", "t") .replace("</AssumeRoleResult>",
         "<Credentials><AccessKeyId>ASIASECOND0000000001</AccessKeyId></Credentials></AssumeRoleResult>"), None,
         "two Credentials: refused")):
    XmlReply.body = body
    cur.execute("SELECT kant.set_credential_source('hegel', 'aws_assume_role', role_arn => %s, base_source => 'static',"
                " sts_endpoint => %s)", (aws.role_arn("kant-glue-reader"), odd.url("/")))
    try:
        cur.execute("SELECT 1 FROM kant.obtain_credentials('hegel')")
        got = one("SELECT secret, session_token FROM kant.token_cache t JOIN kant.system s USING (system_id)"
                  " WHERE s.name = 'hegel'")
        tap(want is not None and got == want, "STS: %s (%s)" % (what, got))
    except psycopg2.Error as e:
        tap(want is None and e.pgcode == "08P01", "STS: %s: %s" % (what, e.pgerror.splitlines()[0]))
odd.stop()
secrets_seen.add("LEAKMARK0123456789")

# a FIFO named as the key file: set_credential_source does not block on it
fifo = os.path.join(keydir, "fifo-key")
os.mkfifo(fifo, 0o600)
if os.geteuid() == 0:
    os.chown(fifo, server_uid, -1)


def unblock():
    time.sleep(10)
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


threading.Thread(target=unblock, daemon=True).start()
t0 = time.time()
cur.execute("SET client_min_messages = warning")
del conn.notices[:]
code, msg = error_of("SELECT kant.set_credential_source('socrates', 'google_service_account', key_file => 'fifo-key')")
took = time.time() - t0
told = "".join(conn.notices)
tap(code is None and took < 5 and "not a regular file" in told,
    "a FIFO named as the key file: a warning at once (%.1f s), no backend stuck in open()" % took, told)

# ------------------------------------------------------------- Airflow 3's JWT
af3 = FakeAirflow(version="v2").start()
cur.execute("SELECT kant.add_system('plato', 'airflow', 'UTC')")
cur.execute("SELECT kant.set_endpoint('plato', %s)", (af3.url("/"),))
cur.execute("SELECT kant.set_credentials('plato', 'kant', 's3cret-pw')")
r1 = collect("plato")
r2 = collect("plato")
tap(r1[2] is None and r2[2] is None and af3.tokens_issued == 1,
    "Airflow 3: the /auth/token JWT is cached until it expires (%d issued for two collections)" % af3.tokens_issued)
# Airflow 3 signs its JWTs with [api_auth] jwt_secret, random per start when
# unset: after a restart every token it issued is refused, with 403 "Invalid
# JWT token", not 401 (airflow-core api_fastapi/core_api/security.py get_user:
# InvalidTokenError is 403, only ExpiredSignatureError 401; its UI logs in
# again on it, apache/airflow#47791)
af3.jwt_secret = "restarted-" + af3.jwt_secret
del af3.refusals[:]
r3 = collect("plato")
tap(r3[2] is None and af3.tokens_issued == 2 and (403, "Invalid JWT token") in af3.refusals,
    "Airflow 3 restarted with a new jwt_secret: its 403 'Invalid JWT token' brings one new /auth/token "
    "exchange (%d issued; refused: %s)" % (af3.tokens_issued, af3.refusals), r3)
# a JWT past its exp is 401 "Token Expired": kant asks again as well (a JWT
# the cache still holds as valid: the server's clock runs ahead of kant's)
af3.jwt_ttl = 2
cur.execute("DELETE FROM kant.token_cache")
collect("plato")
cur.execute("UPDATE kant.token_cache t SET obtained_at = now(), expires_at = now() + interval '1 hour'"
            " FROM kant.system s WHERE s.system_id = t.system_id AND s.name = 'plato'")
time.sleep(2.5)
af3.jwt_ttl = 86400
del af3.refusals[:]
issued = af3.tokens_issued
r4 = collect("plato")
tap(r4[2] is None and af3.tokens_issued == issued + 1 and (401, "Token Expired") in af3.refusals,
    "a JWT past its exp: Airflow 3's 401 'Token Expired' brings one new exchange (refused: %s)" % af3.refusals, r4)
# API servers with different jwt_secrets: /auth/token issues a token the API
# refuses (403 Invalid JWT token); one new exchange, then the error, whose
# hint names jwt_secret (not the password, which Airflow took)
af3.jwt_verify_secret = "another-api-server-" + af3.jwt_secret
issued = af3.tokens_issued
r5 = collect("plato")
hint = (one("SELECT hint FROM kant.collection c JOIN kant.system s USING (system_id) WHERE s.name = 'plato'"
            " ORDER BY c.collection_id DESC LIMIT 1") or [""])[0] or ""
af3.jwt_verify_secret = None
tap(r5[2] == "28000" and af3.tokens_issued == issued + 1 and "jwt_secret" in hint,
    "Airflow 3 refusing the tokens it issues (API servers with different jwt_secret): one new exchange, then "
    "28000 with a hint naming jwt_secret: %s" % hint, r5)
af3.jwt_ttl = 1
cur.execute("DELETE FROM kant.token_cache")
collect("plato")
t = one("SELECT expires_at - obtained_at FROM kant.token_cache t JOIN kant.system s USING (system_id)"
        " WHERE s.name = 'plato'")
tap(t and t[0].total_seconds() <= 2,
    "the JWT's exp claim says when it expires (jwt_expiration_time = 1 s: cached for %s)" % (t,))

# ------------------------------------------------------------ who sees what
cur.execute("DROP ROLE IF EXISTS kant_cred_reader")
cur.execute("CREATE ROLE kant_cred_reader")
cur.execute("GRANT USAGE ON SCHEMA kant TO kant_cred_reader")
cur.execute("SET ROLE kant_cred_reader")
codes = [error_of("SELECT * FROM kant.%s" % t)[0] for t in ("token_cache", "credential_source")]
code, _ = error_of("SELECT kant.set_credential_source('hegel', 'aws_instance')")
cur.execute("RESET ROLE")
tap(codes == ["42501", "42501"] and code == "42501",
    "another role reads neither the token cache nor the sources, nor sets one (%s, %s)" % (codes, code))
cur.execute("SELECT relpersistence FROM pg_class WHERE oid = 'kant.token_cache'::regclass")
tap(cur.fetchone()[0] == "u", "the token cache is unlogged: never in WAL, standbys or base backups")

# naming the server's own identity takes the right to name its secrets
cur.execute("DROP ROLE IF EXISTS kant_cred_admin")
cur.execute("CREATE ROLE kant_cred_admin")
cur.execute("GRANT USAGE ON SCHEMA kant TO kant_cred_admin")
cur.execute("GRANT EXECUTE ON FUNCTION kant.set_credential_source(text, text, text, text, text, text, integer,"
            " text, text, text, text, text, text) TO kant_cred_admin")
cur.execute("SET ROLE kant_cred_admin")
code, msg = error_of("SELECT kant.set_credential_source('hegel', 'aws_instance')")
cur.execute("RESET ROLE")
tap(code == "42501", "a role that may not name the server's secrets may not hand a system its instance role: %s"
    % (msg or "").splitlines()[0])

# bad options: 22023 naming what is wrong
for args, want in (("'hegel', 'aws_assume_role'", "needs a role_arn"),
                   ("'hegel', 'aws_assume_role', role_arn => 'arn:aws:iam::1:role/x', base_source => 'static'",
                    "not an IAM role ARN"),
                   ("'hegel', 'google_metadata'", "not for a glue system"),
                   ("'hegel', 'aws_instance', duration_seconds => 60", "duration_seconds"),
                   ("'hegel', 'kerberos'", "unknown credential source")):
    code, msg = error_of("SELECT kant.set_credential_source(%s)" % args)
    tap(code == "22023" and want in (msg or ""), "set_credential_source(%s): 22023 %s" % (args, want), msg)

# a moved endpoint does not take the source's credentials along
cur.execute("SELECT kant.set_credential_source('socrates', 'google_metadata')")
cur.execute("SET client_min_messages = notice")
del conn.notices[:]
cur.execute("SELECT kant.set_endpoint('socrates', 'https://elsewhere.example.com/')")
told = "".join(conn.notices)
cur.execute("SET client_min_messages = warning")
r = collect()
tap(r[2] == "28000" and "was set for" in (r[3] or "") and "credentials from source google_metadata" in told,
    "an endpoint moved after the source was set: a NOTICE says so, and the collection refuses (%s)" % (r[3] or "")[:120],
    told)

# ------------------------------------------------------------ nothing in the log
out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
logfile = os.environ.get("KANT_SERVER_LOG")
for line in out.splitlines():
    f = line.split()
    if not logfile and len(f) >= 7 and f[1] == "regress":
        logfile = f[6]
if logfile and os.path.exists(logfile):
    text = open(logfile, errors="replace").read()
    leaked = [x[:12] + "..." for x in secrets_seen if x and x in text]
    tap(not leaked and "set_credential_source" in text,
        "with log_statement = 'all', no token, key or session token in the server log (%d secrets looked for)"
        % len(secrets_seen), leaked)
else:
    # pg_virtualenv's cluster, or KANT_SERVER_LOG (valgrind.sh, sanitize.sh): a run without one proves nothing
    tap(False, "the server log was not found: set KANT_SERVER_LOG")
tap.plan()
