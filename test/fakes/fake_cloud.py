#!/usr/bin/python3
"""Fakes of the places clouds hand out credentials (issue 14), each proved
against the real clients by test/scripts/cloud_fakes.py.

FakeGoogle: the GCE/GKE metadata server and Google's OAuth 2.0 token endpoint
(+ tokeninfo) on one port.
  POST /token                  RFC 7523 JWT-bearer grant with a service-account key's RS256 assertion
  GET  /tokeninfo?access_token=X   (also /oauth2/v3/tokeninfo)
  GET  /                       the metadata server's root (google-auth 1.5.1's ping, _metadata.ping)
  GET  /computeMetadata/v1/... Metadata-Flavor: Google required; service-accounts/<default|email>/
                               [?recursive=true], .../email, .../scopes, .../token[?scopes=a,b],
                               .../identity?audience=X[&format=full], project/project-id,
                               project/numeric-project-id

FakeAWS: IMDSv2, the ECS/EKS container credentials endpoint and STS (Query API,
2011-06-15) on one port.
  PUT  /latest/api/token       X-aws-ec2-metadata-token-ttl-seconds 1..21600
  GET  /latest/meta-data/...   X-aws-ec2-metadata-token required (HttpTokens=required)
  GET  <container path>        /v2/credentials/<id> (container_relative_uri) or any path add_container_path() made
  POST /                       STS: AssumeRole (SigV4, service sts), AssumeRoleWithWebIdentity (unsigned)

Sources each wire format follows are cited where it is produced.  Choices of
the fakes that no public source fixes are marked "(fake's choice)".
"""
import base64
import datetime as dt
import json
import os
import re
import secrets
import string
import sys
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_fake import FakeHTTP, Handler  # noqa: E402

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"   # RFC 7523 section 2.1
# Google's token endpoint's answer to an assertion with bad iat/exp (as the brief
# gives it; older servers ended "...use a clock with skew to account for clock
# differences between systems.", e.g. github.com/fastlane/fastlane/issues/14972)
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
               "Check your iat and exp values in the JWT claim.")
BAD_SIGNATURE = "Invalid JWT Signature."


def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pkcs8_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def numeric_id(n=21):
    return str(secrets.randbelow(9) + 1) + "".join(secrets.choice(string.digits) for _ in range(n - 1))


class CloudHandler(Handler):
    """Handler.send always says text/plain; these replies need their own
    Content-Type (google-auth's _metadata.get compares it to application/json
    exactly)."""

    def reply(self, code, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def record(self, method, body=b""):
        f = self.server.fake
        with f.lock:
            f.requests.append({"time": time.time(), "method": method, "path": self.path,
                               "headers": dict(self.headers), "body": body})

    def wrap(self, method):
        f = self.server.fake
        body = self.body() if method in ("POST", "PUT") else b""
        self.record(method, body)
        with f.lock:
            f.in_flight += 1
            f.max_in_flight = max(f.max_in_flight, f.in_flight)
        try:
            f.route(self, method, body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with f.lock:
                f.in_flight -= 1

    def do_GET(self):
        self.wrap("GET")

    def do_POST(self):
        self.wrap("POST")

    def do_PUT(self):
        self.wrap("PUT")


# ---------------------------------------------------------------------------
# Google
# ---------------------------------------------------------------------------

class FakeGoogle(FakeHTTP):
    """Google's metadata server + OAuth 2.0 token endpoint.

    Wire formats:
    - service-account key file: Google's "Create and delete service account
      keys" (https://cloud.google.com/iam/docs/keys-create-delete), the JSON
      google-auth reads in google/auth/_service_account_info.py
      (from_dict: client_email, token_uri, private_key, private_key_id).
    - POST /token: RFC 7523 section 2.1 and Google's "Using OAuth 2.0 for Server
      to Server Applications" (https://developers.google.com/identity/protocols/oauth2/service-account,
      "Making the access token request": grant_type, assertion; the JWT claim set
      iss, scope, aud, exp, iat; "exp ... maximum of 1 hour after the issued
      time"; header {"alg":"RS256","typ":"JWT","kid":private_key_id}); the
      request and the error handling google-auth does in google/oauth2/_client.py
      (_token_endpoint_request, _handle_error_response: JSON error + error_description).
    - metadata server: "About VM metadata" / "Access VM metadata"
      (https://cloud.google.com/compute/docs/metadata/overview, .../querying-metadata:
      Metadata-Flavor: Google required and echoed, X-Forwarded-For refused,
      ?recursive=true) and google-auth google/auth/compute_engine/_metadata.py
      (ping, get, get_service_account_info, get_service_account_token);
      identity tokens: "Verifying the identity of instances"
      (https://cloud.google.com/compute/docs/instances/verifying-instance-identity:
      audience required, format=full adds google.compute_engine).
    - tokeninfo: https://developers.google.com/identity/sign-in/web/backend-auth and
      the v3 tokeninfo endpoint (string values; 400 {"error_description": "Invalid Value"}).
    """

    def __init__(self, project_id="demo-project", metadata_email="kant-collector@demo-project.iam.gserviceaccount.com",
                 token_ttl=3599):
        super().__init__(CloudHandler)
        self.project_id = project_id
        self.project_number = numeric_id(12)
        self.token_ttl = token_ttl          # expires_in of every access token
        self.clock_offset = 0.0             # the server's clock: time.time() + clock_offset
        self.leeway = 60                    # how far in the future iat may be (fake's choice)
        self.keys = {}                      # private_key_id -> {"email", "public_key", "client_id", "revoked"}
        self.accounts = {}                  # email -> unique id (numeric string)
        self.tokens = {}                    # access token -> {"email", "scope", "exp", "source"}
        self.token_requests = []            # POST /token: {"header", "claims", "outcome", "time"}
        self.metadata_requests = []         # /computeMetadata/...: {"path", "headers", "status"}
        self.metadata_email = metadata_email
        self.metadata_scopes = [CLOUD_PLATFORM, "https://www.googleapis.com/auth/userinfo.email"]
        self.instance = {"instance_id": numeric_id(19), "instance_name": "composer-worker-0",
                         "zone": "asia-northeast1-a"}
        self.id_key = new_rsa_key()
        self.id_token_key_id = secrets.token_hex(20)
        self.id_tokens = []                 # every ID token issued (claims)
        self.token_creators = {}            # target email -> emails with roles/iam.serviceAccountTokenCreator on it
        self.impersonations = []            # generateAccessToken: {"target", "caller", "outcome"}

    def now(self):
        return time.time() + self.clock_offset

    def token_uri(self):
        return self.url("/token")

    def unique_id(self, email):
        with self.lock:
            return self.accounts.setdefault(email, numeric_id(21))

    # --- service-account keys ---------------------------------------------
    def new_service_account(self, email="kant-collector@demo-project.iam.gserviceaccount.com"):
        """A key file as the IAM console / `gcloud iam service-accounts keys
        create` writes it (field order and values as Google's)."""
        key = new_rsa_key()
        kid = secrets.token_hex(20)
        client_id = self.unique_id(email)
        with self.lock:
            self.keys[kid] = {"email": email, "public_key": key.public_key(), "client_id": client_id,
                              "revoked": False}
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": kid,
            "private_key": pkcs8_pem(key),
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                    + urllib.parse.quote(email),
            "universe_domain": "googleapis.com",
        }

    def revoke(self, private_key_id):
        with self.lock:
            self.keys[private_key_id]["revoked"] = True

    # --- access tokens ------------------------------------------------------
    def issue_access_token(self, email, scope, source):
        tok = "ya29." + secrets.token_urlsafe(96)
        with self.lock:
            self.tokens[tok] = {"email": email, "scope": scope, "exp": self.now() + self.token_ttl,
                                "source": source}
        return {"access_token": tok, "expires_in": self.token_ttl, "token_type": "Bearer"}

    def valid_access_token(self, token):
        """(email, scope) of an access token this fake issued that has not
        expired by the server's clock, else None."""
        with self.lock:
            t = self.tokens.get(token)
        if t is None or t["exp"] <= self.now():
            return None
        return t["email"], t["scope"]

    def expire_all_tokens(self):
        with self.lock:
            past = self.now() - 1
            for t in self.tokens.values():
                t["exp"] = min(t["exp"], past)

    # --- ID tokens ----------------------------------------------------------
    def id_token_public_key_pem(self):
        return public_pem(self.id_key)

    def issue_id_token(self, email, audience, full=False):
        """A Google-signed OIDC ID token (claims as in "Verifying the identity
        of instances": iss, aud, azp, sub, email, email_verified, iat, exp;
        format=full adds google.compute_engine)."""
        iat = int(self.now())
        uid = self.unique_id(email)
        claims = {"aud": audience, "azp": uid, "email": email, "email_verified": True,
                  "exp": iat + 3600, "iat": iat, "iss": "https://accounts.google.com", "sub": uid}
        if full:
            claims["google"] = {"compute_engine": {"instance_creation_timestamp": iat - 86400,
                                                   "instance_id": self.instance["instance_id"],
                                                   "instance_name": self.instance["instance_name"],
                                                   "project_id": self.project_id,
                                                   "project_number": int(self.project_number),
                                                   "zone": self.instance["zone"]}}
        with self.lock:
            self.id_tokens.append(claims)
        return jwt.encode(claims, self.id_key, algorithm="RS256", headers={"kid": self.id_token_key_id})

    # --- routing ------------------------------------------------------------
    def route(self, h, method, body):
        url = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/token" and method == "POST":
            return self.token_endpoint(h, body)
        if url.path in ("/tokeninfo", "/oauth2/v3/tokeninfo"):
            if method == "POST":
                q.update(urllib.parse.parse_qsl(body.decode()))
            return self.tokeninfo(h, q)
        if url.path == "/" or url.path.startswith("/computeMetadata"):
            return self.metadata(h, method, url.path, q)
        m = re.match(r"^/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken$", url.path)
        if m and method == "POST":
            return self.generate_access_token(h, urllib.parse.unquote(m.group(1)), body)
        h.reply(404, "Not Found", "text/html")

    def generate_access_token(self, h, target, body):
        """IAM Service Account Credentials API, projects.serviceAccounts.
        generateAccessToken (https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken;
        google-auth's impersonated_credentials._make_iam_token_request, newer
        than Debian's 1.5.1): Authorization: Bearer <the caller's token>, JSON
        {"scope": [...] (required), "lifetime": "3600s" (at most 3600s by
        default), "delegates": [...]}; 200 {"accessToken", "expireTime"
        (RFC 3339, UTC)}; errors in Google's API error format (AIP-193)
        {"error": {"code", "message", "status"}}: 401 UNAUTHENTICATED, 403
        PERMISSION_DENIED without roles/iam.serviceAccountTokenCreator on the
        target (self.token_creators {target: {caller emails}}), 400
        INVALID_ARGUMENT."""
        def fail(code, status, message):
            rec["outcome"] = status
            h.reply(code, {"error": {"code": code, "message": message, "status": status}})

        rec = {"target": target, "caller": None, "outcome": None}
        with self.lock:
            self.impersonations.append(rec)
        auth = h.headers.get("Authorization", "")
        who = self.valid_access_token(auth[7:]) if auth.startswith("Bearer ") else None
        if who is None:
            return fail(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                        "access token, login cookie or other valid authentication credential.")
        rec["caller"] = who[0]
        try:
            req = json.loads(body.decode("utf-8"))
        except ValueError:
            return fail(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        scope = req.get("scope") if isinstance(req, dict) else None
        lifetime = req.get("lifetime", "3600s") if isinstance(req, dict) else None
        if not isinstance(scope, list) or not scope or not all(isinstance(x, str) for x in scope):
            return fail(400, "INVALID_ARGUMENT", "Scope required.")
        if not isinstance(lifetime, str) or not re.match(r"^[0-9]+(\.[0-9]+)?s$", lifetime) \
                or not 0 < float(lifetime[:-1]) <= 3600:
            return fail(400, "INVALID_ARGUMENT", "The lifetime must be between 1s and 3600s.")
        if who[0] not in self.token_creators.get(target, set()):
            return fail(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on "
                        "resource (or it may not exist).")
        tok = "ya29." + secrets.token_urlsafe(96)
        exp = self.now() + float(lifetime[:-1])
        with self.lock:
            self.tokens[tok] = {"email": target, "scope": " ".join(scope), "exp": exp, "source": "impersonated"}
        rec["outcome"] = "ok"
        h.reply(200, {"accessToken": tok, "expireTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))})

    def token_endpoint(self, h, body):
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        rec = {"time": time.time(), "header": None, "claims": None, "outcome": None, "form": form}

        def fail(error, description, code=400):
            rec["outcome"] = error + ": " + description
            with self.lock:
                self.token_requests.append(rec)
            h.reply(code, {"error": error, "error_description": description})

        if form.get("grant_type") != JWT_BEARER:
            return fail("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        assertion = form.get("assertion")
        if not assertion:
            return fail("invalid_request", "Missing required parameter: assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            rec["header"] = header
            rec["claims"] = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return fail("invalid_grant", BAD_SIGNATURE)
        with self.lock:
            key = self.keys.get(header.get("kid"))
        if header.get("alg") != "RS256" or key is None or key["revoked"]:
            return fail("invalid_grant", BAD_SIGNATURE)
        try:
            claims = jwt.decode(assertion, key["public_key"], algorithms=["RS256"],
                                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                         "verify_aud": False})
        except jwt.PyJWTError:
            return fail("invalid_grant", BAD_SIGNATURE)
        if claims.get("iss") != key["email"]:
            # the key (kid) is not one of iss's keys (fake's choice of message)
            return fail("invalid_grant", BAD_SIGNATURE)
        if claims.get("aud") != self.token_uri():
            # (fake's choice of message; Google's own wording not confirmed)
            return fail("invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.now()
        if (not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or exp - iat > 3600
                or exp <= iat or iat > now + self.leeway or exp < now):
            return fail("invalid_grant", SHORT_LIVED)
        if "target_audience" in claims:
            # google-auth's service_account.IDTokenCredentials: an ID token, not an access token
            rec["outcome"] = "ok"
            with self.lock:
                self.token_requests.append(rec)
            return h.reply(200, {"id_token": self.issue_id_token(key["email"], claims["target_audience"])})
        scope = claims.get("scope") or ""
        if not scope.strip():
            # the text seen in github.com/googleapis/google-auth-library-python/issues/217
            return fail("invalid_scope", "Empty or missing scope not allowed.")
        rec["outcome"] = "ok"
        with self.lock:
            self.token_requests.append(rec)
        h.reply(200, self.issue_access_token(key["email"], " ".join(scope.split()), "jwt-bearer"))

    def tokeninfo(self, h, q):
        tok = q.get("access_token", "")
        with self.lock:
            t = self.tokens.get(tok)
        if t is None or t["exp"] <= self.now():
            return h.reply(400, {"error_description": "Invalid Value"})
        uid = self.unique_id(t["email"])
        h.reply(200, {"azp": uid, "aud": uid, "scope": t["scope"], "exp": str(int(t["exp"])),
                      "expires_in": str(max(0, int(t["exp"] - self.now()))), "email": t["email"],
                      "email_verified": "true", "access_type": "online"})

    def metadata(self, h, method, path, q):
        def answer(code, body, ctype="application/text"):
            with self.lock:
                self.metadata_requests.append({"path": h.path, "headers": dict(h.headers), "status": code})
            # the real server answers text as application/text, JSON as application/json
            h.reply(code, body, ctype, [("Metadata-Flavor", "Google"), ("Server", "Metadata Server for VM")])

        if h.headers.get("X-Forwarded-For") is not None:
            return answer(403, "Request denied: X-Forwarded-For header present.\n", "text/html; charset=UTF-8")
        if method != "GET":
            return answer(405, "Method not allowed\n", "text/html; charset=UTF-8")
        if path == "/":
            return answer(200, "computeMetadata/\n")      # what _metadata.ping fetches (checks the header only)
        if h.headers.get("Metadata-Flavor") != "Google":
            return answer(403, "Missing required header \"Metadata-Flavor\": \"Google\"\n", "text/html; charset=UTF-8")
        rest = path[len("/computeMetadata/v1"):] if path.startswith("/computeMetadata/v1") else None
        if rest is None:
            return answer(404, "Not Found\n", "text/html; charset=UTF-8")
        if rest in ("", "/"):
            return answer(200, "instance/\nproject/\n")
        if rest == "/project/project-id":
            return answer(200, self.project_id)
        if rest == "/project/numeric-project-id":
            return answer(200, self.project_number)
        if rest in ("/instance/service-accounts", "/instance/service-accounts/"):
            return answer(200, "default/\n%s/\n" % self.metadata_email)
        m = re.fullmatch(r"/instance/service-accounts/([^/]+)(/.*)?", rest)
        if not m or m.group(1) not in ("default", self.metadata_email):
            return answer(404, "Not Found\n", "text/html; charset=UTF-8")
        sub = (m.group(2) or "/").rstrip("/") or "/"
        if sub == "/":
            if q.get("recursive") == "true":
                return answer(200, json.dumps({"aliases": ["default"], "email": self.metadata_email,
                                               "scopes": self.metadata_scopes}), "application/json")
            return answer(200, "aliases\nemail\nidentity\nscopes\ntoken\n")
        if sub == "/email":
            return answer(200, self.metadata_email)
        if sub == "/aliases":
            return answer(200, "default\n")
        if sub == "/scopes":
            return answer(200, "".join(s + "\n" for s in self.metadata_scopes))
        if sub == "/token":
            scopes = q.get("scopes")
            scope = " ".join(s for s in scopes.split(",") if s) if scopes else " ".join(self.metadata_scopes)
            return answer(200, json.dumps(self.issue_access_token(self.metadata_email, scope, "metadata")),
                          "application/json")
        if sub == "/identity":
            if not q.get("audience"):
                return answer(400, "non-empty audience parameter required\n", "text/html; charset=UTF-8")
            return answer(200, self.issue_id_token(self.metadata_email, q["audience"], q.get("format") == "full"))
        return answer(404, "Not Found\n", "text/html; charset=UTF-8")


# ---------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
ISO = "%Y-%m-%dT%H:%M:%SZ"


def iso(epoch):
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime(ISO)


def rand_upper(n):
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(n))


class _SignedOnly(SigV4Auth):
    """SigV4 over exactly the headers the request lists in SignedHeaders (as
    fake_glue.SignedOnly, any service)."""

    def __init__(self, credentials, service, region, signed):
        super().__init__(credentials, service, region)
        self.signed = signed

    def headers_to_sign(self, request):
        out = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self.signed:
                out[name.lower()] = value
        return out


class STSError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeAWS(FakeHTTP):
    """IMDSv2 + container credentials + STS.

    Wire formats:
    - IMDSv2: AWS "Use the Instance Metadata Service to access instance
      metadata" / "Use IMDSv2" (PUT /latest/api/token with
      X-aws-ec2-metadata-token-ttl-seconds 1..21600, 400 otherwise; GETs carry
      X-aws-ec2-metadata-token, 401 if missing (HttpTokens=required) or invalid;
      a PUT carrying X-Forwarded-For is refused), "Retrieve security credentials
      from instance metadata" (the JSON: Code, LastUpdated, Type AWS-HMAC,
      AccessKeyId, SecretAccessKey, Token, Expiration; new credentials at least
      five minutes before the old expire), as botocore/utils.py
      IMDSFetcher._fetch_metadata_token and InstanceMetadataFetcher
      (_get_iam_role, _get_credentials) read it.  IMDS answers text/plain.
    - container credentials: AWS SDK reference "Container credential provider"
      and the ECS "Task IAM role" doc (JSON AccessKeyId, SecretAccessKey, Token,
      Expiration, RoleArn), botocore/utils.py ContainerMetadataFetcher
      (retrieve_full_uri, retrieve_uri, Authorization header from
      AWS_CONTAINER_AUTHORIZATION_TOKEN, set by botocore/credentials.py
      ContainerProvider._build_headers).
    - STS: botocore/data/sts/2011-06-15/service-2.json (protocol query,
      resultWrapper AssumeRoleResult / AssumeRoleWithWebIdentityResult, error
      shapes ExpiredTokenException / InvalidIdentityToken / IDPRejectedClaim,
      roleDurationSecondsType 900..43200, roleSessionNameType [\\w+=,.@-]{2,64}),
      the STS API reference pages AssumeRole and AssumeRoleWithWebIdentity
      (XML samples, Expiration as 2019-11-09T13:34:41Z) and "Common Errors"
      (ErrorResponse/Error/Type,Code,Message + RequestId; InvalidClientTokenId 403,
      SignatureDoesNotMatch 403, MissingAuthenticationToken 403, ExpiredToken 400,
      ValidationError 400, AccessDenied 403), parsed by botocore/parsers.py
      QueryParser.
    """

    def __init__(self, region="ap-northeast-1", account="123456789012", access_key="AKIDEXAMPLE",
                 secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", credential_ttl=3600):
        super().__init__(CloudHandler)
        self.region, self.account = region, account
        self.credential_ttl = credential_ttl
        self.clock_offset = 0.0
        self.rotate_before = 300            # IMDS/container hand out new keys this long before expiry
        # every key pair the fake knows: access key id -> (secret, session token or None)
        self.base_keys = {access_key: (secret_key, None)}
        self.principals = {access_key: "arn:aws:iam::%s:user/kant" % account}
        self.issued = []                    # temporary key pairs: source, AccessKeyId, SecretAccessKey, Token, Expiration (epoch), ...
        self.instance_role = "kant-collector-role"
        self.instance_id = "i-0" + secrets.token_hex(8)
        self.imds_tokens = {}               # IMDSv2 session token -> expiry epoch
        self.container_token = None         # when set: Authorization must equal it
        self.container_relative_uri = "/v2/credentials/" + str(uuid.uuid4())
        self.container_paths = {self.container_relative_uri: self.role_arn("kant-collector-task")}
        self.roles = {self.role_arn("kant-glue-reader"): {"external_id": None}}
        self.web_identity_tokens = set()    # opaque tokens AssumeRoleWithWebIdentity accepts (an EKS token file)
        self.web_identity_subject = "system:serviceaccount:kant:kant-collector"
        self.web_identity_provider = ("arn:aws:iam::%s:oidc-provider/oidc.eks.%s.amazonaws.com/id/"
                                      "EXAMPLED539D4633E53DE1B71EXAMPLE" % (account, region))
        self.web_identity_audience = "sts.amazonaws.com"
        self.trusted_google = []            # (FakeGoogle, audience)
        self.sts_calls = []                 # {"action", "params", "outcome"}
        self._current = {}                  # (source, key) -> issued dict still handed out

    def role_arn(self, name):
        return "arn:aws:iam::%s:role/%s" % (self.account, name)

    def now(self):
        return time.time() + self.clock_offset

    # --- key pairs ----------------------------------------------------------
    def add_key(self, access_key=None, secret=None, arn=None):
        """A long-term key pair (an IAM user's) the fake accepts; (id, secret)."""
        access_key = access_key or "AKIA" + rand_upper(16)
        secret = secret or base64.b64encode(os.urandom(30)).decode()
        with self.lock:
            self.base_keys[access_key] = (secret, None)
            self.principals[access_key] = arn or "arn:aws:iam::%s:user/kant" % self.account
        return access_key, secret

    def issue(self, source, principal, duration=None, **extra):
        now = self.now()
        cred = {"source": source, "AccessKeyId": "ASIA" + rand_upper(16),
                "SecretAccessKey": base64.b64encode(os.urandom(30)).decode(),
                # STS session tokens are base64 (IQoJb3JpZ2luX2Vj... in AWS's samples) with + / =
                "Token": "IQoJb3JpZ2luX2VjE" + base64.b64encode(os.urandom(330)).decode(),
                "Expiration": int(now + (duration or self.credential_ttl)), "Issued": int(now),
                "Principal": principal}
        cred.update(extra)
        with self.lock:
            self.issued.append(cred)
            self.base_keys[cred["AccessKeyId"]] = (cred["SecretAccessKey"], cred["Token"])
            self.principals[cred["AccessKeyId"]] = principal
        return cred

    def current(self, source, key, principal, **extra):
        """The key pair IMDS / the container endpoint hands out now: the same
        until rotate_before seconds before it expires."""
        with self.lock:
            c = self._current.get((source, key))
        if c is None or c["Expiration"] - self.now() < self.rotate_before:
            c = self.issue(source, principal, **extra)
            with self.lock:
                self._current[(source, key)] = c
        return c

    def expire_all(self):
        """Every temporary key pair issued so far expires now."""
        with self.lock:
            past = int(self.now()) - 1
            for c in self.issued:
                c["Expiration"] = min(c["Expiration"], past)

    def key_valid(self, access_key_id, token):
        """(secret, reason) for a request signed with access_key_id carrying
        session token `token` (None if it carried none): reason None when the
        key is good, "unknown" (no such key, or the token is not its token) or
        "expired"."""
        with self.lock:
            entry = self.base_keys.get(access_key_id)
            cred = next((c for c in self.issued if c["AccessKeyId"] == access_key_id), None)
        if entry is None:
            return None, "unknown"
        secret, want = entry
        if want != token:
            return None, "unknown"
        if cred is not None and cred["Expiration"] <= self.now():
            return secret, "expired"
        return secret, None

    def trust_google(self, google, audience):
        """AssumeRoleWithWebIdentity accepts ID tokens of this FakeGoogle for
        this audience (an IAM OIDC provider for accounts.google.com)."""
        self.trusted_google.append((google, audience))

    def add_container_path(self, path=None, role_arn=None):
        path = path or "/v2/credentials/" + str(uuid.uuid4())
        self.container_paths[path] = role_arn or self.role_arn("kant-collector-task")
        return path

    # --- routing ------------------------------------------------------------
    def route(self, h, method, body):
        url = urllib.parse.urlsplit(h.path)
        if url.path == "/latest/api/token" or url.path.startswith("/latest/"):
            return self.imds(h, method, url.path)
        if method == "GET" and url.path in self.container_paths:
            return self.container(h, url.path)
        if method == "POST" and url.path == "/":
            return self.sts(h, body)
        if method == "GET":
            # what the ECS agent says for a credentials id it does not know (fake's wording)
            return h.reply(400, {"code": "InvalidIdInRequest", "message": "CredentialsV2Request: Credentials not found"})
        h.reply(404, "Not Found", "text/plain")

    def imds(self, h, method, path):
        text = "text/plain"
        if method == "PUT":
            if path != "/latest/api/token":
                return h.reply(405, "", text)
            if h.headers.get("X-Forwarded-For") is not None:
                return h.reply(403, "", text)
            ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return h.reply(400, "", text)
            tok = base64.b64encode(os.urandom(42)).decode()
            with self.lock:
                self.imds_tokens[tok] = self.now() + int(ttl)
            return h.reply(200, tok, text, [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])
        if method != "GET":
            return h.reply(405, "", text)
        tok = h.headers.get("X-aws-ec2-metadata-token")
        with self.lock:
            exp = self.imds_tokens.get(tok)
        if exp is None or exp <= self.now():
            return h.reply(401, "", text)       # HttpTokens=required: no IMDSv1
        prefix = "/latest/meta-data/iam/security-credentials/"
        if path == prefix:
            return h.reply(200, self.instance_role, text)
        if path.startswith(prefix) and path[len(prefix):] == self.instance_role:
            c = self.current("imds", self.instance_role,
                             "arn:aws:sts::%s:assumed-role/%s/%s" % (self.account, self.instance_role, self.instance_id))
            return h.reply(200, json.dumps({"Code": "Success", "LastUpdated": iso(c["Issued"]), "Type": "AWS-HMAC",
                                            "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                                            "Token": c["Token"], "Expiration": iso(c["Expiration"])}, indent=2), text)
        if path == "/latest/meta-data/iam/info":
            return h.reply(200, json.dumps({"Code": "Success", "LastUpdated": iso(self.now()),
                                            "InstanceProfileArn": "arn:aws:iam::%s:instance-profile/%s"
                                                                  % (self.account, self.instance_role),
                                            "InstanceProfileId": "AIPA" + "EXAMPLE0000000000"}, indent=2), text)
        if path == "/latest/meta-data/instance-id":
            return h.reply(200, self.instance_id, text)
        if path == "/latest/meta-data/placement/region":
            return h.reply(200, self.region, text)
        if path == "/latest/meta-data/placement/availability-zone":
            return h.reply(200, self.region + "a", text)
        return h.reply(404, "Not Found", text)

    def container(self, h, path):
        if self.container_token is not None:
            got = h.headers.get("Authorization")
            if got is None:
                return h.reply(401, {"Message": "Authorization header is missing"})
            if got != self.container_token:
                return h.reply(403, {"Message": "Authorization token is invalid"})
        arn = self.container_paths[path]
        c = self.current("container", path, "arn:aws:sts::%s:assumed-role/%s/%s"
                         % (self.account, arn.rsplit("/", 1)[1], secrets.token_hex(16)), RoleArn=arn)
        h.reply(200, {"AccessKeyId": c["AccessKeyId"], "Expiration": iso(c["Expiration"]), "RoleArn": arn,
                      "SecretAccessKey": c["SecretAccessKey"], "Token": c["Token"]})

    # --- STS ----------------------------------------------------------------
    def sts(self, h, body):
        params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.get("Action", "")
        rec = {"action": action, "params": params, "outcome": None, "time": time.time()}
        with self.lock:
            self.sts_calls.append(rec)
        rid = str(uuid.uuid4())
        try:
            if params.get("Version") != "2011-06-15" or action not in ("AssumeRole", "AssumeRoleWithWebIdentity"):
                raise STSError(400, "InvalidAction",
                               "Could not find operation %s for version %s" % (action, params.get("Version", "NO_VERSION_SPECIFIED")))
            if action == "AssumeRole":
                xml = self.assume_role(h, body, params)
            else:
                xml = self.assume_role_with_web_identity(params)
        except STSError as e:
            rec["outcome"] = e.code
            return h.reply(e.status, '<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>Sender</Type>\n'
                           '    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n'
                           '  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
                           % (STS_NS, escape(e.code), escape(e.message), rid), "text/xml",
                           [("x-amzn-RequestId", rid)])
        rec["outcome"] = "ok"
        h.reply(200, '<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n  <ResponseMetadata>\n'
                '    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n'
                % (action, STS_NS, action, xml, action, rid, action), "text/xml", [("x-amzn-RequestId", rid)])

    @staticmethod
    def validate(params, required):
        errs = []
        for name in required:
            if name not in params:
                errs.append("Value null at '%s' failed to satisfy constraint: Member must not be null"
                            % (name[0].lower() + name[1:]))
        name = params.get("RoleSessionName")
        if name is not None and not re.fullmatch(r"[\w+=,.@-]{2,64}", name):
            errs.append("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy "
                        "regular expression pattern: [\\w+=,.@-]*" % name)
        d = params.get("DurationSeconds")
        if d is not None:
            if not d.isdigit():
                errs.append("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be an integer" % d)
            elif int(d) < 900:
                errs.append("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value "
                            "greater than or equal to 900" % d)
            elif int(d) > 43200:
                errs.append("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value "
                            "less than or equal to 43200" % d)
        if errs:
            raise STSError(400, "ValidationError", "%d validation error%s detected: %s"
                           % (len(errs), "" if len(errs) == 1 else "s", "; ".join(errs)))

    def check_signature(self, h, body):
        """SigV4 for service sts and self.region, verified as FakeGlue does
        (botocore.auth.SigV4Auth over the headers the request signed), against
        every key pair in base_keys; STS's error codes ("Common Errors")."""
        auth = h.headers.get("Authorization", "")
        date = h.headers.get("X-Amz-Date", "")
        if not auth:
            raise STSError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or not date:
            raise STSError(400, "IncompleteSignature", "Authorization header requires a Credential, Signature, "
                           "SignedHeaders and X-Amz-Date")
        try:
            fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        except ValueError:
            raise STSError(400, "IncompleteSignature", "Authorization header is malformed")
        scope = fields.get("Credential", "").split("/")
        token = h.headers.get("X-Amz-Security-Token")
        if len(scope) != 5:
            raise STSError(400, "IncompleteSignature", "Credential is malformed")
        secret, reason = self.key_valid(scope[0], token)
        if reason == "unknown":
            raise STSError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        if reason == "expired":
            raise STSError(400, "ExpiredToken", "The security token included in the request is expired")
        if scope[2] != self.region or scope[3] != "sts" or scope[4] != "aws4_request" or scope[1] != date[:8]:
            raise STSError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to a valid region. ")
        try:
            when = dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
        except ValueError:
            raise STSError(400, "IncompleteSignature", "Date must be in ISO-8601 'basic format'.")
        now = self.now()
        if abs(when - now) > 15 * 60:
            raise STSError(403, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than %s (%s - 15 min.)"
                           % (date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - 900)),
                              time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))))
        signed = fields.get("SignedHeaders", "").split(";")
        if "host" not in signed or "x-amz-date" not in signed or (token is not None and "x-amz-security-token" not in signed):
            raise STSError(403, "SignatureDoesNotMatch", "host, x-amz-date and x-amz-security-token must be signed")
        req = AWSRequest(method="POST", url="http://%s%s" % (h.headers["Host"], h.path), data=body,
                         headers=dict(h.headers))
        req.context["timestamp"] = date
        signer = _SignedOnly(Credentials(scope[0], secret, token), "sts", self.region, signed)
        expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
        if expected != fields.get("Signature"):
            raise STSError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method. Consult the service "
                           "documentation for details.")
        return scope[0], token

    def credentials_xml(self, c, role_arn, session):
        role_name = role_arn.rsplit("/", 1)[1]
        role_id = "AROA" + rand_upper(17)
        return ("    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n"
                "      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n    </Credentials>\n"
                "    <AssumedRoleUser>\n      <AssumedRoleId>%s:%s</AssumedRoleId>\n"
                "      <Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>\n    </AssumedRoleUser>\n"
                % (c["AccessKeyId"], escape(c["SecretAccessKey"]), escape(c["Token"]), iso(c["Expiration"]),
                   role_id, escape(session), self.account, escape(role_name), escape(session)))

    def duration(self, params, base_token, role):
        d = int(params.get("DurationSeconds", 0)) or self.credential_ttl
        if base_token is not None and d > 3600:
            # a role session assuming a role: "role chaining" (IAM User Guide, "Roles terms and concepts")
            raise STSError(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit "
                           "for roles assumed by role chaining.")
        if d > role.get("max_session", 3600):
            raise STSError(400, "ValidationError",
                           "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        return d

    def assume_role(self, h, body, params):
        akid, token = self.check_signature(h, body)
        self.validate(params, ("RoleArn", "RoleSessionName"))
        arn = params["RoleArn"]
        role = self.roles.get(arn)
        caller = self.principals.get(akid, "arn:aws:iam::%s:user/unknown" % self.account)
        if role is None or (role.get("external_id") is not None and params.get("ExternalId") != role["external_id"]):
            raise STSError(403, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on "
                           "resource: %s" % (caller, arn))
        d = self.duration(params, token, role)
        session = params["RoleSessionName"]
        c = self.issue("sts:AssumeRole", "arn:aws:sts::%s:assumed-role/%s/%s" % (self.account, arn.rsplit("/", 1)[1], session),
                       duration=d, RoleArn=arn, Caller=caller)
        return self.credentials_xml(c, arn, session)

    def verify_web_identity(self, tok):
        """(subject, audience, provider) of a web identity token, or STSError
        (InvalidIdentityToken / ExpiredTokenException, the model's error shapes)."""
        if tok in self.web_identity_tokens:
            return self.web_identity_subject, self.web_identity_audience, self.web_identity_provider
        try:
            header = jwt.get_unverified_header(tok)
        except jwt.PyJWTError:
            raise STSError(400, "InvalidIdentityToken", "The ID Token provided is not a valid JWT. "
                           "(You may see this error if you sent an Access Token)")
        for google, audience in self.trusted_google:
            if header.get("kid") != google.id_token_key_id:
                continue
            try:
                claims = jwt.decode(tok, google.id_token_public_key_pem(), algorithms=["RS256"],
                                    options={"verify_exp": False, "verify_aud": False, "verify_iat": False})
            except jwt.PyJWTError:
                raise STSError(400, "InvalidIdentityToken", "Signature verification failed")
            if claims.get("iss") not in ("https://accounts.google.com", "accounts.google.com"):
                raise STSError(400, "InvalidIdentityToken", "Token issuer is not trusted")
            if claims.get("aud") != audience:
                raise STSError(400, "InvalidIdentityToken", "Incorrect token audience")
            now = self.now()
            if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
                raise STSError(400, "ExpiredTokenException", "Token expired: current date/time %d must be before "
                               "the expiration date/time %s" % (now, claims.get("exp")))
            return claims.get("sub"), audience, "accounts.google.com"
        raise STSError(400, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for the token")

    def assume_role_with_web_identity(self, params):
        # unsigned: service-2.json's operation needs no credentials (botocore's
        # AssumeRoleWithWebIdentityCredentialFetcher calls it with UNSIGNED)
        self.validate(params, ("RoleArn", "RoleSessionName", "WebIdentityToken"))
        subject, audience, provider = self.verify_web_identity(params["WebIdentityToken"])
        arn = params["RoleArn"]
        role = self.roles.get(arn)
        if role is None:
            raise STSError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        d = self.duration(params, None, role)
        session = params["RoleSessionName"]
        c = self.issue("sts:AssumeRoleWithWebIdentity",
                       "arn:aws:sts::%s:assumed-role/%s/%s" % (self.account, arn.rsplit("/", 1)[1], session),
                       duration=d, RoleArn=arn, Subject=subject)
        return ("    <SubjectFromWebIdentityToken>%s</SubjectFromWebIdentityToken>\n    <Audience>%s</Audience>\n"
                % (escape(subject), escape(audience)) + self.credentials_xml(c, arn, session)
                + "    <Provider>%s</Provider>\n" % escape(provider))
