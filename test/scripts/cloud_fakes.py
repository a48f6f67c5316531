#!/usr/bin/python3
"""The credential fakes (test/fakes/fake_cloud.py) proved with the real clients,
no kant and no Postgres involved: Debian's python3-google-auth (1.5.1) and
python3-botocore (1.29) talk to FakeGoogle and FakeAWS, and what the fakes
issue is what the clients read; what the fakes refuse becomes the clients' own
errors (RefreshError with invalid_grant, botocore ClientError with STS's and
Glue's codes).  Run with /usr/bin/python3 (Debian's packages)."""
import base64
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
sys.path.insert(0, HERE)
from taplib import tap  # noqa: E402
from fake_cloud import FakeGoogle, FakeAWS, CLOUD_PLATFORM  # noqa: E402

gfake = FakeGoogle().start()
# google-auth 1.5.1 reads these at import of google/auth/compute_engine/_metadata.py
# (_METADATA_ROOT, _METADATA_IP_ROOT; get()'s default root is bound then too)
os.environ["GCE_METADATA_ROOT"] = "127.0.0.1:%d" % gfake.port
os.environ["GCE_METADATA_IP"] = "127.0.0.1:%d" % gfake.port

import jwt  # noqa: E402
import requests  # noqa: E402
import google.auth.exceptions  # noqa: E402
import google.auth.jwt  # noqa: E402
import google.auth.transport.requests  # noqa: E402
from google.auth import compute_engine  # noqa: E402
from google.auth.compute_engine import _metadata  # noqa: E402
from google.oauth2 import service_account  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
import botocore.session  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import ContainerProvider, InstanceMetadataProvider  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.utils import ContainerMetadataFetcher, InstanceMetadataFetcher  # noqa: E402
from fake_glue import FakeGlue  # noqa: E402
from fake_airflow import FakeAirflow  # noqa: E402

req = google.auth.transport.requests.Request()


def refresh_error(creds):
    try:
        creds.refresh(req)
        return None
    except google.auth.exceptions.RefreshError as e:
        return str(e)


def post_token(assertion, grant=None):
    r = requests.post(gfake.url("/token"), data={"grant_type": grant or "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                   "assertion": assertion})
    return r.status_code, r.json()


# --- FakeGoogle: service-account key -> JWT -> /token --------------------------
key = gfake.new_service_account()
tap(key["type"] == "service_account" and len(key["private_key_id"]) == 40
    and int(key["private_key_id"], 16) >= 0 and key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    and key["token_uri"] == gfake.url("/token") and key["client_id"].isdigit()
    and set(key) >= {"project_id", "client_email", "auth_uri", "auth_provider_x509_cert_url", "client_x509_cert_url"},
    "service-account key file has Google's fields (PKCS#8 key, 40-hex private_key_id)", json.dumps(
        {k: v for k, v in key.items() if k != "private_key"}))
sa = service_account.Credentials.from_service_account_info(key, scopes=[CLOUD_PLATFORM])
err = refresh_error(sa)
tap(err is None and sa.token.startswith("ya29."), "google-auth service_account.Credentials.refresh gets a token", err)
last = gfake.token_requests[-1]
tap(last["outcome"] == "ok" and last["header"]["alg"] == "RS256" and last["header"]["kid"] == key["private_key_id"]
    and last["claims"]["iss"] == key["client_email"] and last["claims"]["aud"] == key["token_uri"]
    and last["claims"]["scope"] == CLOUD_PLATFORM and last["claims"]["exp"] - last["claims"]["iat"] == 3600,
    "the fake verified the JWT google-auth signed (RS256, kid, iss, aud, scope, 1 h)", last)
tap(gfake.valid_access_token(sa.token) == (key["client_email"], CLOUD_PLATFORM),
    "valid_access_token: the token's identity and scope")
tap(sa.expiry is not None and 3500 < (sa.expiry - __import__("datetime").datetime.utcnow()).total_seconds() <= 3599,
    "google-auth read expires_in (token_ttl 3599)", sa.expiry)
r = requests.get(gfake.url("/tokeninfo"), params={"access_token": sa.token})
info = r.json()
tap(r.status_code == 200 and info["email"] == key["client_email"] and info["scope"] == CLOUD_PLATFORM
    and info["azp"] == key["client_id"] and int(info["expires_in"]) <= 3599 and info["exp"].isdigit(),
    "tokeninfo describes the token", info)
r = requests.get(gfake.url("/tokeninfo"), params={"access_token": "ya29.not-one-of-ours"})
tap(r.status_code == 400 and r.json() == {"error_description": "Invalid Value"}, "tokeninfo: unknown token is 400 Invalid Value")

# revoked key
gfake.revoke(key["private_key_id"])
err = refresh_error(service_account.Credentials.from_service_account_info(key, scopes=[CLOUD_PLATFORM]))
tap(err is not None and "invalid_grant" in err and "Invalid JWT Signature." in err,
    "revoked key: RefreshError invalid_grant Invalid JWT Signature.", err)

key2 = gfake.new_service_account()
# clock skew: the server's clock behind (iat in its future) and ahead (exp in its past)
for offset, what in ((-600, "behind"), (7200, "ahead")):
    gfake.clock_offset = offset
    err = refresh_error(service_account.Credentials.from_service_account_info(key2, scopes=[CLOUD_PLATFORM]))
    tap(err is not None and err.startswith("('invalid_grant: Invalid JWT: Token must be a short-lived token (60 minutes)"),
        "server clock %s by %d s: RefreshError invalid_grant short-lived" % (what, abs(offset)), err)
gfake.clock_offset = 0
err = refresh_error(service_account.Credentials.from_service_account_info(key2, scopes=[CLOUD_PLATFORM]))
tap(err is None, "clock right again: the same key works", err)
err = refresh_error(service_account.Credentials.from_service_account_info(key2))
tap(err is not None and "invalid_scope" in err, "no scope: RefreshError invalid_scope", err)

# hand-made assertions
pk = serialization.load_pem_private_key(key2["private_key"].encode(), None)
now = int(time.time())
base = {"iss": key2["client_email"], "aud": key2["token_uri"], "scope": CLOUD_PLATFORM, "iat": now, "exp": now + 3600}
kid = {"kid": key2["private_key_id"]}
st, body = post_token(jwt.encode(dict(base, exp=now + 7200), pk, algorithm="RS256", headers=kid))
tap(st == 400 and body["error"] == "invalid_grant" and "short-lived" in body["error_description"], "lifetime 2 h: short-lived", body)
st, body = post_token(jwt.encode(dict(base, aud="https://oauth2.googleapis.com/token"), pk, algorithm="RS256", headers=kid))
tap(st == 400 and body["error"] == "invalid_grant", "aud not the token_uri: invalid_grant", body)
other = serialization.load_pem_private_key(gfake.new_service_account()["private_key"].encode(), None)
st, body = post_token(jwt.encode(base, other, algorithm="RS256", headers=kid))
tap(st == 400 and body == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    "signed with another key under this kid: Invalid JWT Signature.", body)
st, body = post_token(jwt.encode(base, "secret", algorithm="HS256", headers=kid))
tap(st == 400 and body["error_description"] == "Invalid JWT Signature.", "HS256: Invalid JWT Signature.", body)
st, body = post_token(jwt.encode(dict(base, iss="someone-else@demo-project.iam.gserviceaccount.com"), pk,
                                 algorithm="RS256", headers=kid))
tap(st == 400 and body["error"] == "invalid_grant", "iss not the key's account: invalid_grant", body)
st, body = post_token("x", grant="password")
tap(st == 400 and body["error"] == "unsupported_grant_type", "grant_type password: unsupported_grant_type", body)
st, body = post_token(jwt.encode(base, pk, algorithm="RS256", headers=kid))
tap(st == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599, "hand-made good assertion: 200", body)

# --- FakeGoogle: metadata server ------------------------------------------------
tap(_metadata.ping(req), "google-auth _metadata.ping finds the fake metadata server")
gce = compute_engine.Credentials()
err = refresh_error(gce)
tap(err is None and gce.service_account_email == gfake.metadata_email and CLOUD_PLATFORM in gce._scopes
    and gfake.valid_access_token(gce.token) == (gfake.metadata_email, " ".join(gfake.metadata_scopes)),
    "google-auth compute_engine.Credentials refreshes from the metadata server", err)
paths = [m["path"] for m in gfake.metadata_requests]
tap("/computeMetadata/v1/instance/service-accounts/default/?recursive=true" in paths
    and any(p.startswith("/computeMetadata/v1/instance/service-accounts/%s/token" % gfake.metadata_email) for p in paths)
    and all(m["headers"].get("metadata-flavor") == "Google" for m in gfake.metadata_requests),
    "google-auth's requests: recursive service-account info, then the token, with Metadata-Flavor", paths)
r = requests.get(gfake.url("/computeMetadata/v1/instance/service-accounts/default/token"))
tap(r.status_code == 403 and r.headers.get("Metadata-Flavor") == "Google", "no Metadata-Flavor header: 403")
r = requests.get(gfake.url("/computeMetadata/v1/instance/service-accounts/default/token"),
                 headers={"Metadata-Flavor": "Google", "X-Forwarded-For": "10.0.0.1"})
tap(r.status_code == 403, "X-Forwarded-For: 403")
r = requests.get(gfake.url("/computeMetadata/v1/instance/service-accounts/default/token"),
                 params={"scopes": "https://www.googleapis.com/auth/bigquery,%s" % CLOUD_PLATFORM},
                 headers={"Metadata-Flavor": "Google"})
tap(r.status_code == 200 and gfake.valid_access_token(r.json()["access_token"])[1]
    == "https://www.googleapis.com/auth/bigquery " + CLOUD_PLATFORM, "token?scopes=a,b: the token has those scopes", r.text)
aud = "https://kant.example/aws"
idt = _metadata.get(req, "instance/service-accounts/default/identity?audience=%s&format=full" % aud)
try:
    claims = google.auth.jwt.decode(idt, certs=gfake.id_token_public_key_pem(), audience=aud)
    ok = (claims["iss"] == "https://accounts.google.com" and claims["email"] == gfake.metadata_email
          and claims["sub"].isdigit() and claims["azp"] == claims["sub"] and claims["exp"] - claims["iat"] == 3600
          and claims["email_verified"] is True and claims["google"]["compute_engine"]["project_id"] == gfake.project_id
          and jwt.get_unverified_header(idt)["kid"] == gfake.id_token_key_id)
except Exception as e:  # noqa: BLE001
    ok, claims = False, e
tap(ok, "identity?audience&format=full: an RS256 ID token google.auth.jwt.decode verifies", claims)
try:
    _metadata.get(req, "instance/service-accounts/default/identity")
    ok = False
except google.auth.exceptions.TransportError as e:
    ok = "Status: 400" in str(e)
tap(ok, "identity without audience: 400")

# expire_all_tokens
gfake.expire_all_tokens()
tap(gfake.valid_access_token(gce.token) is None and gfake.valid_access_token(sa.token) is None
    and requests.get(gfake.url("/tokeninfo"), params={"access_token": gce.token}).status_code == 400,
    "expire_all_tokens: no token issued so far is valid")
gce2 = compute_engine.Credentials()
gce2.refresh(req)
tap(gfake.valid_access_token(gce2.token) is not None, "a token issued after expire_all_tokens is valid")

# --- FakeAirflow(google=) -------------------------------------------------------
af = FakeAirflow(google=gfake).start()
r = requests.get(af.url("/api/v1/dags"), params={"limit": 1}, headers={"Authorization": "Bearer " + gce2.token})
tap(r.status_code == 200, "FakeAirflow(google=): the metadata server's token is accepted (v1)", r.text[:200])
bq = requests.get(gfake.url("/computeMetadata/v1/instance/service-accounts/default/token"),
                  params={"scopes": "https://www.googleapis.com/auth/bigquery"},
                  headers={"Metadata-Flavor": "Google"}).json()["access_token"]
tap(not af.authorized("Bearer " + bq), "a token without cloud-platform scope is refused")
tap(af.authorized(af_basic := "Basic " + base64.b64encode(b"kant:s3cret-pw").decode()),
    "basic auth still accepted (v1)")
gfake.expire_all_tokens()
r = requests.get(af.url("/api/v1/dags"), headers={"Authorization": "Bearer " + gce2.token})
tap(r.status_code == 401, "an expired Google token: 401")
af2 = FakeAirflow(version="v2", google=gfake)
gce3 = compute_engine.Credentials()
gce3.refresh(req)
tap(af2.authorized("Bearer " + gce3.token) and af2.authorized("Bearer " + af2.token), "v2 too; static token unchanged")
af0 = FakeAirflow()
tap(not af0.authorized("Bearer " + gce3.token) and af0.authorized(af_basic), "FakeAirflow() default: unchanged")
af.stop()

# --- FakeAWS: IMDSv2 -----------------------------------------------------------
aws = FakeAWS().start()
fetcher = InstanceMetadataFetcher(base_url=aws.url("/"), timeout=2, num_attempts=1)
creds = fetcher.retrieve_iam_role_credentials()
imds = [c for c in aws.issued if c["source"] == "imds"]
tap(len(imds) == 1 and creds.get("role_name") == aws.instance_role and creds.get("access_key") == imds[0]["AccessKeyId"]
    and creds.get("secret_key") == imds[0]["SecretAccessKey"] and creds.get("token") == imds[0]["Token"],
    "botocore InstanceMetadataFetcher reads the key pair IMDS issued", creds)
puts = [r for r in aws.requests if r["method"] == "PUT"]
tap(puts and puts[0]["path"] == "/latest/api/token"
    and puts[0]["headers"].get("x-aws-ec2-metadata-token-ttl-seconds") == "21600",
    "botocore used IMDSv2 (PUT /latest/api/token, ttl 21600)")
tap(creds["expiry_time"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(imds[0]["Expiration"])),
    "Expiration as YYYY-MM-DDTHH:MM:SSZ", creds["expiry_time"])
prov = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
tap(prov is not None and prov.get_frozen_credentials().access_key == imds[0]["AccessKeyId"],
    "InstanceMetadataProvider: the same key pair until rotation")
r = requests.get(aws.url("/latest/meta-data/iam/security-credentials/"))
tap(r.status_code == 401, "IMDSv1 (no token): 401")
r = requests.get(aws.url("/latest/meta-data/iam/security-credentials/"), headers={"X-aws-ec2-metadata-token": "forged"})
tap(r.status_code == 401, "unknown IMDS token: 401")
st = [requests.put(aws.url("/latest/api/token"), headers=h).status_code for h in (
    {"X-aws-ec2-metadata-token-ttl-seconds": "0"}, {"X-aws-ec2-metadata-token-ttl-seconds": "21601"}, {},
    {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"})]
tap(st == [400, 400, 400, 403], "token PUT: ttl 0/21601/missing 400, X-Forwarded-For 403", st)

# --- FakeAWS: container credentials ----------------------------------------------
aws.container_token = "Bearer-less opaque pod identity token"
path = aws.add_container_path("/v1/credentials")
c = ContainerProvider(environ={"AWS_CONTAINER_CREDENTIALS_FULL_URI": aws.url(path),
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN": aws.container_token}).load()
cont = [x for x in aws.issued if x["source"] == "container"]
fc = c.get_frozen_credentials() if c else None
tap(fc and len(cont) == 1 and fc.access_key == cont[0]["AccessKeyId"] and fc.secret_key == cont[0]["SecretAccessKey"]
    and fc.token == cont[0]["Token"], "botocore ContainerProvider (FULL_URI + AUTHORIZATION_TOKEN) reads the key pair")
tap([r for r in aws.requests if r["path"] == path][-1]["headers"].get("Authorization") == aws.container_token,
    "botocore sent Authorization: <token> exactly")
try:
    ContainerProvider(environ={"AWS_CONTAINER_CREDENTIALS_FULL_URI": aws.url(path),
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong"}).load()
    ok = False
except Exception as e:  # noqa: BLE001  (botocore's CredentialRetrievalError)
    ok = type(e).__name__ == "CredentialRetrievalError"
st = [requests.get(aws.url(path), headers=h).status_code for h in ({}, {"Authorization": "wrong"})]
tap(ok and st == [401, 403], "wrong token: botocore CredentialRetrievalError; the fake 401 missing / 403 wrong", st)
cmf = ContainerMetadataFetcher()
cmf.IP_ADDRESS = "127.0.0.1:%d" % aws.port       # botocore hard-codes 169.254.170.2 for RELATIVE_URI
aws.container_token = None
rel = cmf.retrieve_uri(aws.container_relative_uri)
tap(set(rel) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
    and rel["RoleArn"] == aws.container_paths[aws.container_relative_uri],
    "ContainerMetadataFetcher.retrieve_uri(RELATIVE_URI): ECS's JSON", rel.keys())

# --- FakeAWS: STS ---------------------------------------------------------------
session = botocore.session.get_session()
no_retry = Config(retries={"max_attempts": 1})


def sts_client(akid, secret, token=None, **kw):
    return session.create_client("sts", region_name=aws.region, endpoint_url=aws.url("/"), aws_access_key_id=akid,
                                 aws_secret_access_key=secret, aws_session_token=token, config=kw.get("config", no_retry))


def code_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return None, None
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


akid, secret = "AKIDEXAMPLE", aws.base_keys["AKIDEXAMPLE"][0]
sts = sts_client(akid, secret)
role = aws.role_arn("kant-glue-reader")
out = sts.assume_role(RoleArn=role, RoleSessionName="kant-collector")
last = aws.issued[-1]
tap(out["Credentials"]["AccessKeyId"] == last["AccessKeyId"] and out["Credentials"]["SecretAccessKey"] == last["SecretAccessKey"]
    and out["Credentials"]["SessionToken"] == last["Token"]
    and int(out["Credentials"]["Expiration"].timestamp()) == last["Expiration"]
    and out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/kant-glue-reader/kant-collector"
    and out["AssumedRoleUser"]["AssumedRoleId"].endswith(":kant-collector"),
    "botocore sts.assume_role parses the fake's XML into Credentials", out.get("AssumedRoleUser"))
tap(last["Expiration"] - last["Issued"] == 3600, "credential_ttl 3600 when DurationSeconds is not given")
tap(code_of(sts.assume_role, RoleArn=aws.role_arn("nope"), RoleSessionName="kant") == ("AccessDenied", 403),
    "role not in roles: AccessDenied 403")
aws.roles[aws.role_arn("x-account")] = {"external_id": "kant-1234"}
tap(code_of(sts.assume_role, RoleArn=aws.role_arn("x-account"), RoleSessionName="kant") == ("AccessDenied", 403)
    and code_of(sts.assume_role, RoleArn=aws.role_arn("x-account"), RoleSessionName="kant", ExternalId="kant-1234")
    == (None, None), "ExternalId: required when the role has one")
tap(code_of(sts.assume_role, RoleArn=role, RoleSessionName="kant", DurationSeconds=7200) == ("ValidationError", 400),
    "DurationSeconds above the role's MaxSessionDuration: ValidationError")
aws.roles[role]["max_session"] = 43200
out = sts.assume_role(RoleArn=role, RoleSessionName="kant", DurationSeconds=7200)
tap(aws.issued[-1]["Expiration"] - aws.issued[-1]["Issued"] == 7200, "DurationSeconds honoured")
tap(code_of(sts_client(akid, "wrong-secret").assume_role, RoleArn=role, RoleSessionName="kk") == ("SignatureDoesNotMatch", 403),
    "wrong secret: SignatureDoesNotMatch 403")
tap(code_of(sts_client("AKIAUNKNOWN000000000", secret).assume_role, RoleArn=role, RoleSessionName="kk")
    == ("InvalidClientTokenId", 403), "unknown key: InvalidClientTokenId 403")
r = requests.post(aws.url("/"), data={"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role, "RoleSessionName": "kk"})
tap(r.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in r.text
    and r.text.startswith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'),
    "unsigned AssumeRole: MissingAuthenticationToken, STS's ErrorResponse", r.text)
# role chaining from the IMDS key pair
imds_sts = sts_client(creds["access_key"], creds["secret_key"], creds["token"])
out = imds_sts.assume_role(RoleArn=role, RoleSessionName="chained")
tap(aws.issued[-1]["Caller"].endswith(":assumed-role/kant-collector-role/" + aws.instance_id),
    "AssumeRole with the IMDS key pair and its session token (role chaining)")
tap(code_of(imds_sts.assume_role, RoleArn=role, RoleSessionName="kk", DurationSeconds=7200) == ("ValidationError", 400),
    "role chaining over 1 h: ValidationError")
tap(code_of(sts_client(creds["access_key"], creds["secret_key"], "forged").assume_role, RoleArn=role,
            RoleSessionName="kk") == ("InvalidClientTokenId", 403), "IMDS key with another session token: InvalidClientTokenId")
aws.clock_offset = 3600
tap(code_of(sts.assume_role, RoleArn=role, RoleSessionName="kk")[0] == "SignatureDoesNotMatch",
    "signature older than 15 min by the server clock: SignatureDoesNotMatch")
aws.clock_offset = 0

# web identity
anon = sts_client(None, None, config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
aws.web_identity_tokens.add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImVrcyJ9.opaque.eks-token")
out = anon.assume_role_with_web_identity(RoleArn=role, RoleSessionName="kant-eks",
                                         WebIdentityToken="eyJhbGciOiJSUzI1NiIsImtpZCI6ImVrcyJ9.opaque.eks-token")
tap(out["Credentials"]["AccessKeyId"] == aws.issued[-1]["AccessKeyId"]
    and out["SubjectFromWebIdentityToken"] == aws.web_identity_subject and out["Audience"] == "sts.amazonaws.com"
    and out["Provider"] == aws.web_identity_provider and out["AssumedRoleUser"]["Arn"].endswith("/kant-eks"),
    "botocore assume_role_with_web_identity (unsigned, opaque EKS token) parses the fake's XML", out)
tap(code_of(anon.assume_role_with_web_identity, RoleArn=role, RoleSessionName="kk", WebIdentityToken="not-a-token")
    == ("InvalidIdentityToken", 400), "unknown web identity token: InvalidIdentityToken 400")
aws.trust_google(gfake, aud)
out = anon.assume_role_with_web_identity(RoleArn=role, RoleSessionName="kant-gcp", WebIdentityToken=idt)
tap(out["SubjectFromWebIdentityToken"] == claims["sub"] and out["Audience"] == aud and out["Provider"] == "accounts.google.com",
    "a FakeGoogle ID token (metadata identity) is accepted by AssumeRoleWithWebIdentity", out)
wrong_aud = _metadata.get(req, "instance/service-accounts/default/identity?audience=https://elsewhere.example")
tap(code_of(anon.assume_role_with_web_identity, RoleArn=role, RoleSessionName="kk", WebIdentityToken=wrong_aud)
    == ("InvalidIdentityToken", 400), "ID token for another audience: InvalidIdentityToken")
gfake.clock_offset = -7200
old = _metadata.get(req, "instance/service-accounts/default/identity?audience=" + aud)
gfake.clock_offset = 0
tap(code_of(anon.assume_role_with_web_identity, RoleArn=role, RoleSessionName="kk", WebIdentityToken=old)
    == ("ExpiredTokenException", 400), "expired ID token: ExpiredTokenException")
forged = jwt.encode({"iss": "https://accounts.google.com", "aud": aud, "sub": "1", "exp": int(time.time()) + 600},
                    pk, algorithm="RS256", headers={"kid": gfake.id_token_key_id})
tap(code_of(anon.assume_role_with_web_identity, RoleArn=role, RoleSessionName="kk", WebIdentityToken=forged)
    == ("InvalidIdentityToken", 400), "ID token not signed by Google's key: InvalidIdentityToken")

# --- FakeGlue(aws=) -------------------------------------------------------------
glue_fake = FakeGlue(aws=aws).start()
assumed = sts.assume_role(RoleArn=role, RoleSessionName="kant-glue")["Credentials"]


def glue_client(akid, secret, token=None):
    return session.create_client("glue", region_name=glue_fake.region, endpoint_url=glue_fake.url("/"),
                                 aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
                                 config=no_retry)


glue = glue_client(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
jobs = glue.get_jobs(MaxResults=5)
tap(len(jobs["Jobs"]) == 5 and glue_fake.good_signatures == 1, "Glue get_jobs with the assumed-role key pair")
ok = len(glue_client(creds["access_key"], creds["secret_key"], creds["token"]).get_jobs(MaxResults=1)["Jobs"]) == 1
tap(ok, "Glue with the IMDS key pair")
tap(code_of(glue_client(assumed["AccessKeyId"], assumed["SecretAccessKey"], "forged").get_jobs)
    == ("UnrecognizedClientException", 400), "another session token: UnrecognizedClientException 400")
tap(code_of(glue_client(assumed["AccessKeyId"], assumed["SecretAccessKey"]).get_jobs)
    == ("UnrecognizedClientException", 400), "no session token: UnrecognizedClientException 400")
tap(code_of(glue_client("ASIAUNKNOWN000000000", "x", "y").get_jobs) == ("UnrecognizedClientException", 400),
    "unknown key: UnrecognizedClientException 400")
tap(code_of(glue_client(assumed["AccessKeyId"], "wrong", assumed["SessionToken"]).get_jobs)
    == ("InvalidSignatureException", 403), "wrong secret: InvalidSignatureException 403 (as before)")
tap(code_of(glue_client("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").get_jobs) == (None, None),
    "FakeGlue's own key still works")
aws.expire_all()
tap(code_of(glue.get_jobs) == ("ExpiredTokenException", 400), "after expire_all: ExpiredTokenException 400")
tap(code_of(imds_sts.assume_role, RoleArn=role, RoleSessionName="kk") == ("ExpiredToken", 400),
    "STS with an expired IMDS key pair: ExpiredToken 400")
fresh = InstanceMetadataFetcher(base_url=aws.url("/"), timeout=2, num_attempts=1).retrieve_iam_role_credentials()
tap(fresh["access_key"] != creds["access_key"]
    and len(glue_client(fresh["access_key"], fresh["secret_key"], fresh["token"]).get_jobs(MaxResults=1)["Jobs"]) == 1,
    "IMDS hands out a new key pair after expiry, and Glue takes it")
tap(glue_fake.rejected_tokens == 4 and glue_fake.bad_signatures == 1, "rejected_tokens / bad_signatures counted",
    (glue_fake.rejected_tokens, glue_fake.bad_signatures))
plain = FakeGlue().start()
tap(code_of(session.create_client("glue", region_name=plain.region, endpoint_url=plain.url("/"),
                                  aws_access_key_id=fresh["access_key"], aws_secret_access_key=fresh["secret_key"],
                                  aws_session_token=fresh["token"], config=no_retry).get_jobs)
    == ("InvalidSignatureException", 403), "FakeGlue() without aws: unchanged (InvalidSignatureException)")
secret_, reason = aws.key_valid(fresh["access_key"], fresh["token"])
tap(secret_ == fresh["secret_key"] and reason is None and aws.key_valid(assumed["AccessKeyId"], assumed["SessionToken"])[1]
    == "expired" and aws.key_valid("nope", None) == (None, "unknown"), "key_valid")

for s in (plain, glue_fake, aws, gfake):
    s.stop()
tap.plan()
