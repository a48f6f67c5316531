"""Safe in a shared Postgres: what a role can make kant do, end to end.

- kant installs only into a schema that is its own (not one another role
  created first, not one others may create objects in);
- an operator planted in a schema on a privileged caller's search_path never
  stands in for pg_catalog's in what kant runs (the delivery procedure, which
  cannot pin its search_path, spells its operators out);
- kant.allowed_hosts: loopback, private and link-local (cloud metadata)
  addresses are refused unless a superuser lists them, by literal address,
  by the address a name resolves to, and through IPv4-mapped IPv6;
- secrets by reference: environment variables only with a prefix kant.allowed_env_prefixes
  allows, files only inside kant.secret_directory, both read when used
  (the secret never passes through SQL text), and a failing set_credentials()
  does not write the call, secret and all, into the server log.

The server's environment (test/harness/suites.sh) holds KANT_TEST_AIRFLOW_USER,
KANT_TEST_AIRFLOW_PASSWORD and PGDATA_NOT_A_SECRET_FOR_KANT.
"""
import os
import subprocess
import sys
import tempfile

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from taplib import tap, fresh_db  # noqa: E402
import http_fake  # noqa: E402
from fake_airflow import FakeAirflow  # noqa: E402
from fake_slack import FakeSlack  # noqa: E402
from fake_proxy import RecordingProxy  # noqa: E402


def error_of(cur, sql, args=()):
    """(sqlstate, message) of what sql raises, or (None, None)."""
    try:
        cur.execute(sql, args)
        return None, None
    except psycopg2.Error as e:
        return e.pgcode, str(e).strip()


def server_log():
    """The text of this cluster's server log (pg_virtualenv's cluster 'regress',
    or KANT_SERVER_LOG where the harness starts its own server: sanitize.sh)."""
    if os.environ.get("KANT_SERVER_LOG"):
        try:
            return open(os.environ["KANT_SERVER_LOG"], errors="replace").read()
        except OSError:
            return None
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 7 and f[1] == "regress":
            try:
                return open(f[6], errors="replace").read()
            except OSError:
                return None
    return None


# ---------------------------------------------------------------- the schema
admin, acur = fresh_db("kant_security_schema")
acur.execute("DROP ROLE IF EXISTS kant_test_squatter")
acur.execute("CREATE ROLE kant_test_squatter NOLOGIN")
acur.execute("CREATE SCHEMA kant AUTHORIZATION kant_test_squatter")
code, msg = error_of(acur, "CREATE EXTENSION kant")
tap(code == "42501" and "belongs to role" in msg,
    "CREATE EXTENSION refuses a schema kant another role created first: %s" % (msg or "installed!").splitlines()[0])
acur.execute("DROP SCHEMA kant")
acur.execute("CREATE SCHEMA kant")
acur.execute("GRANT CREATE ON SCHEMA kant TO PUBLIC")
code, msg = error_of(acur, "CREATE EXTENSION kant")
tap(code == "42501" and "may create objects" in msg,
    "CREATE EXTENSION refuses a schema in which others may create objects: %s" % (msg or "installed!").splitlines()[0])
acur.execute("REVOKE CREATE ON SCHEMA kant FROM PUBLIC")
code, msg = error_of(acur, "CREATE EXTENSION kant")
tap(code is None, "a schema kant of the installer's own, nobody else creating in it, is fine")
admin.close()

# ------------------------------------------------------ planted operators
conn, cur = fresh_db("kant_security")
cur.execute("CREATE EXTENSION kant")
slack = FakeSlack().start()
airflow = FakeAirflow(version="v1").start()
cur.execute("""DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kant_test_planter') THEN
    EXECUTE 'DROP OWNED BY kant_test_planter'; DROP ROLE kant_test_planter; END IF; END $$""")
cur.execute("CREATE ROLE kant_test_planter NOLOGIN")
cur.execute("CREATE SCHEMA planted AUTHORIZATION kant_test_planter")
cur.execute("CREATE TABLE planted.calls (op text)")
cur.execute("GRANT INSERT, SELECT ON planted.calls TO PUBLIC")
cur.execute("SET ROLE kant_test_planter")
# an operator for every pair of common types that pg_catalog has no exact one
# for: what an implicit cast would otherwise reach (5 * power(...), random() / 2,
# 'HTTP ' || status, ...), each recording that it ran
types = ["smallint", "integer", "bigint", "numeric", "real", "double precision", "text",
         "timestamptz", "timestamp", "date", "interval", "jsonb", "boolean"]
ops = ["+", "-", "*", "/", "%", "^", "||", "=", "<>", "<", ">", "<=", ">="]
cur.execute("""
SELECT o, l, r FROM unnest(%s::text[]) o, unnest(%s::text[]) l, unnest(%s::text[]) r
WHERE NOT EXISTS (SELECT FROM pg_operator p WHERE p.oprname = o AND p.oprnamespace = 'pg_catalog'::regnamespace
                  AND p.oprleft = l::regtype AND p.oprright = r::regtype)""", (ops, types, types))
plant = cur.fetchall()
n = 0
for o, l, r in plant:
    n += 1
    fn = "planted.f%d" % n
    cur.execute("""CREATE FUNCTION %s(a %s, b %s) RETURNS %s LANGUAGE plpgsql AS
                   $$ BEGIN INSERT INTO planted.calls VALUES (%s); RETURN NULL; END $$"""
                % (fn, l, r, l, psycopg2.extensions.adapt("%s %s %s" % (l, o, r)).getquoted().decode()))
    cur.execute("CREATE OPERATOR planted.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)" % (o, l, r, fn))
for f, args in (("power", "integer, integer"), ("make_interval", "integer"), ("left", "text, bigint"),
                ("round", "double precision"), ("least", "integer, double precision")):
    cur.execute("""CREATE FUNCTION planted.%s(%s) RETURNS integer LANGUAGE plpgsql AS
                   $$ BEGIN INSERT INTO planted.calls VALUES ('%s'); RETURN NULL; END $$""" % (f, args, f))
cur.execute("RESET ROLE")
cur.execute("SET search_path = planted, public")
cur.execute("SELECT 5 * power(2, 3) / 2, 'HTTP '::text || 429")
cur.execute("SELECT count(*) FROM planted.calls")
control = cur.fetchone()[0]
tap(control > 0 and len(plant) > 200,
    "control: %d planted operators reach a query with search_path = planted (%d calls from 5 * power(2, 3) / 2, 'HTTP ' || 429)"
    % (len(plant), control))
cur.execute("TRUNCATE planted.calls")

# kant at work, called by a superuser whose search_path holds the planted schema
cur.execute("""
SELECT kant.add_system('etl', 'manual', 'Asia/Tokyo');
SELECT kant.configure_job('etl', j, pipeline => 'nightly') FROM unnest(ARRAY['extract', 'load']) j;
SELECT kant.set_dependency('etl/load', ARRAY['etl/extract']);
SELECT kant.set_schedule('etl', '0 1 * * *', job => 'extract', active_from => '2026-03-01');
SELECT kant.create_slo('nightly', '04:00', deadline_offset_days => 0, pipeline => 'nightly', evaluate_from => '2026-03-01');
SELECT kant.report_run('etl', 'extract', 'e1', 'failed', '2026-03-02', 1, '2026-03-02 01:00+09', '2026-03-02 01:10+09',
                       error_message => 'boom');
SELECT kant.set_channel('ops', %s, min_interval => '0');
SELECT kant.add_route('ops');
SELECT kant.create_gate('g', pipeline => 'nightly');
""", (slack.webhook("ops"),))
calls = []
for sql in ["SELECT * FROM kant.run_checks('2026-03-02 04:30+09')",
            "CALL kant.deliver_notifications(5)",
            "SELECT kant.refresh_slo(NULL, '-infinity')",
            "SELECT * FROM kant.check_conditions('2026-03-02 05:00+09')",
            "SELECT * FROM kant.gate_status('g', '2026-03-02')",
            "SELECT kant.kant_gate_ready('g', '2026-03-02')",
            "SELECT * FROM kant.trigger_ready_gates(dry_run => true)",
            "SELECT * FROM kant.recover_failed_runs(dry_run => true)",
            "SELECT * FROM kant.slo_attainment('nightly', 7, '2026-03-05')",
            "SELECT kant.schedule_checks()",
            "SELECT * FROM kant.bi_slo_attainment, kant.bi_job_duration, kant.bi_run_timeline, kant.open_alerts"]:
    code, msg = error_of(cur, sql)
    cur.execute("SELECT count(*) FROM planted.calls")
    calls.append((sql.split("(")[0][:50], code, cur.fetchone()[0]))
cur.execute("SELECT count(*) FROM planted.calls")
hijacked = cur.fetchone()[0]
cur.execute("SELECT status FROM kant.notification ORDER BY notification_id")
statuses = [r[0] for r in cur.fetchall()]
tap(hijacked == 0 and "sent" in statuses,
    "no planted operator or function ran inside kant (checks, delivery of %s, SLOs, gates, recovery, views)"
    % statuses, calls)
cur.execute("RESET search_path")

# the deliverer: a role with EXECUTE on the procedure and kant._deliver_round,
# as the README grants, delivers without seeing a webhook URL
cur.execute("""DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kant_test_deliverer') THEN DROP ROLE kant_test_deliverer; END IF; END $$""")
cur.execute("CREATE ROLE kant_test_deliverer LOGIN PASSWORD 'deliverer-pw'")
cur.execute("GRANT USAGE ON SCHEMA kant TO kant_test_deliverer")
cur.execute("GRANT EXECUTE ON PROCEDURE kant.deliver_notifications(double precision) TO kant_test_deliverer")
cur.execute("GRANT EXECUTE ON FUNCTION kant._deliver_round(timestamptz, double precision) TO kant_test_deliverer")
cur.execute("SELECT kant.run_checks('2026-03-02 09:00+09')")   # a reminder later: the rest is queued already
cur.execute("UPDATE kant.notification SET status = 'pending', next_attempt_at = now() WHERE notification_id = (SELECT max(notification_id) FROM kant.notification)")
d = psycopg2.connect(dbname="kant_security", user="kant_test_deliverer", password="deliverer-pw")
d.autocommit = True
dc = d.cursor()
code, msg = error_of(dc, "CALL kant.deliver_notifications(5)")
c2, _ = error_of(dc, "SELECT webhook_url FROM kant.channel")
d.close()
cur.execute("SELECT count(*) FROM kant.notification WHERE status = 'pending'")
tap(code is None and c2 == "42501" and cur.fetchone()[0] == 0,
    "a deliverer with the README's grants delivers, and cannot read the webhook URLs (%s)" % (msg or "ok"))

# -------------------------------------------------------------- allowed hosts
fake = http_fake.FakeHTTP().start()
port = fake.port


def reach(url, hosts):
    cur.execute("SELECT set_config('kant.allowed_hosts', %s, false)", (hosts,))
    return error_of(cur, "SELECT kant.http_get(%s)", (url,))


code, msg = reach("http://127.0.0.1:%d/ok" % port, "*")
tap(code == "42501" and "loopback" in msg, "'*' refuses a loopback address: %s" % (msg or "fetched!").splitlines()[0])
code, msg = reach("http://localhost:%d/ok" % port, "*")
tap(code == "42501" and "127.0.0.1" in msg or (code == "42501" and "::1" in msg),
    "'*' refuses a name that resolves to loopback, at connect time: %s" % (msg or "fetched!").splitlines()[0])
code, msg = reach("http://[::ffff:127.0.0.1]:%d/ok" % port, "*")
tap(code == "42501", "'*' refuses loopback written as IPv4-mapped IPv6: %s" % (msg or "fetched!").splitlines()[0])
code, msg = reach("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "*, 127.0.0.1")
tap(code == "42501" and "link-local" in msg,
    "the cloud metadata address is refused before any connection: %s" % (msg or "fetched!").splitlines()[0])
code, msg = reach("http://[fd00:ec2::254]/latest/meta-data/", "*")
tap(code == "42501", "and its IPv6 form (fd00:ec2::254): %s" % (msg or "fetched!").splitlines()[0])
code, msg = reach("http://127.0.0.1:%d/ok" % port, "*, 127.0.0.0/8")
tap(code is None, "a listed network is allowed (127.0.0.0/8)")
code, msg = reach("http://localhost:%d/ok" % port, "localhost")
tap(code is None, "a listed name is allowed at any address (localhost)")
code, msg = reach("http://127.0.0.1:%d/ok" % port, "")
tap(code == "42501", "an empty list allows nothing")
# a role without the right SETs kant.allowed_hosts before the library is loaded in its
# session (a placeholder PostgreSQL cannot check yet): loading kant drops it
# (define_custom_variable re-checks the role that set it), the default rules
cur.execute("GRANT EXECUTE ON FUNCTION kant._check_url(text, text) TO kant_test_deliverer")
d = psycopg2.connect(dbname="kant_security", user="kant_test_deliverer", password="deliverer-pw")
d.autocommit = True
dc = d.cursor()
dc.execute("SET kant.allowed_hosts = '*, 10.0.0.0/8'")
code, msg = error_of(dc, "SELECT kant._check_url('http://10.1.2.3/x', 'endpoint')")
warned = any('permission denied to set parameter "kant.allowed_hosts"' in n for n in d.notices)
d.close()
tap(code == "42501" and warned,
    "a setting a role SET before kant was loaded in its session is dropped when it loads: %s" % (msg or "allowed!").splitlines()[0])
code, msg = error_of(cur, "SET kant.allowed_hosts = '*, 10.0.0.0/33'")
tap(code == "22023", "a bad entry is refused when set: %s" % (msg or "").splitlines()[0])
cur.execute("SET kant.allowed_hosts = '*'")
code, msg = error_of(cur, "SELECT kant.set_endpoint('etl', 'http://169.254.169.254/')")
tap(code == "42501", "set_endpoint refuses a metadata address at once: %s" % (msg or "").splitlines()[0])
code, msg = error_of(cur, "SELECT kant.add_system('x', 'airflow', endpoint => 'http://10.1.2.3/airflow')")
tap(code == "42501", "add_system refuses a private address at once")
cur.execute("SET kant.allowed_hosts = '*, 10.20.0.0/16, airflow.internal'")
code, msg = error_of(cur, "SELECT kant.add_system('x', 'airflow', endpoint => 'http://192.168.1.10/airflow')")
tap(code == "42501" and "kant.allowed_hosts = '*, 10.20.0.0/16, airflow.internal, 192.168.1.10'" in (msg or ""),
    "the refusal's hint keeps what is listed and adds the host: %s" % (msg or "").splitlines()[-1])
cur.execute("SET kant.allowed_hosts = '*'")
code, msg = error_of(cur, "SELECT kant.set_channel('leak', 'http://127.0.0.1:%d/services/x')" % port)
tap(code == "42501" and "/services/x" not in msg,
    "set_channel refuses a loopback webhook, without echoing the URL: %s" % (msg or "").splitlines()[0])

# a collector pointed at loopback by name: the collection fails, recorded, no request made
cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1'")
cur.execute("SELECT kant.add_system('comp', 'airflow', 'UTC')")
cur.execute("SELECT kant.set_endpoint('comp', %s)", (airflow.url("").replace("127.0.0.1", "localhost"),))
cur.execute("SELECT kant.set_credentials('comp', 'KANT_TEST_AIRFLOW_USER', 'KANT_TEST_AIRFLOW_PASSWORD', from_env => true)")
cur.execute("SET kant.allowed_hosts = '*'")
cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('comp')")
r = cur.fetchone()
tap(r[0] == "42501" and "allowed_hosts" in (r[1] or ""),
    "a collection whose endpoint resolves to loopback fails, recorded: [%s] %s" % (r[0], (r[1] or "")[:100]))

# --------------------------------------------------------------- secrets
# credentials are bound to the kind and host:port they were set for: the endpoint moved
# (here from localhost to 127.0.0.1), they are not sent; set again, they are
cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1'")
del conn.notices[:]
cur.execute("SET client_min_messages = notice")
cur.execute("SELECT kant.set_endpoint('comp', %s)", (airflow.url(""),))
cur.execute("SET client_min_messages = warning")
told = " ".join(conn.notices)
before = len(airflow.requests)
cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('comp')")
r = cur.fetchone()
tap(r[0] == "28000" and "were set for airflow http://localhost:" in (r[1] or "") and len(airflow.requests) == before
    and "will not be used there" in told,
    "credentials set for another host are not sent when the endpoint moves (NOTICE at the move, 28000 at use): %s"
    % (r[1] or "")[:120])
cur.execute("SELECT kant.set_credentials('comp', 'KANT_TEST_AIRFLOW_USER', 'KANT_TEST_AIRFLOW_PASSWORD', from_env => true)")
cur.execute("SELECT sqlstate, error, runs_seen FROM kant.collect_airflow('comp')")
r = cur.fetchone()
tap(r[0] is None, "credentials from the server's environment (KANT_TEST_AIRFLOW_*) are read when used: %s" % (r,))
# an admin who may move endpoints and change kinds gets no secret out: a listener of its own
# (another port: the binding is host and port) and a Glue system made an Airflow one
thief = http_fake.FakeHTTP().start()
cur.execute("SELECT kant.set_endpoint('comp', %s)", (thief.url(""),))
cur.execute("SELECT sqlstate FROM kant.collect_airflow('comp')")
stolen = [h for (_, _, h) in thief.requests if "Authorization" in h]
tap(cur.fetchone()[0] == "28000" and not stolen, "an endpoint moved to another port gets no credentials")
cur.execute("SELECT kant.add_system('hegel_x', 'glue', 'UTC')")
cur.execute("SELECT kant.set_endpoint('hegel_x', %s, region => 'ap-northeast-1')", (thief.url(""),))
cur.execute("SELECT kant.set_credentials('hegel_x', 'AKIAHEGELEXAMPLE', 'HEGEL-AWS-SECRET-KEY')")
cur.execute("SELECT kant.alter_system('hegel_x', kind => 'airflow')")
cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('hegel_x')")
r = cur.fetchone()
stolen = [h for (_, _, h) in thief.requests if "Authorization" in h]
tap(r[0] == "28000" and "were set for glue" in (r[1] or "") and not stolen,
    "a Glue system turned into an Airflow one does not send its AWS keys as basic auth: %s" % (r[1] or "")[:100])
cur.execute("SELECT kant.set_endpoint('comp', %s)", (airflow.url(""),))
code, msg = error_of(cur, "SELECT kant.add_system('af2', 'airflow', 'UTC', endpoint => 'https://kant:hunter2@composer.example.com/airflow')")
tap(code == "22023" and "hunter2" not in (msg or ""), "add_system refuses an endpoint with user:password@, as set_endpoint does")
code, msg = error_of(cur, "SELECT kant.alter_system('comp', endpoint => 'https://kant:hunter2@composer.example.com/airflow')")
tap(code == "22023", "and so does alter_system")
thief.stop()
code, msg = error_of(cur, "SELECT kant.set_credentials('comp', 'KANT_TEST_AIRFLOW_USER', 'PGDATA_NOT_A_SECRET_FOR_KANT', from_env => true)")
tap(code == "42501" and "server-internal-value" not in msg,
    "a variable without an allowed prefix is refused: %s" % (msg or "accepted!").splitlines()[0])
cur.execute("SET kant.allowed_env_prefixes = 'KANT_, PGDATA_'")
cur.execute("SELECT kant.set_credentials('comp', 'KANT_TEST_AIRFLOW_USER', 'PGDATA_NOT_A_SECRET_FOR_KANT', from_env => true)")
cur.execute("RESET kant.allowed_env_prefixes")
cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('comp')")
r = cur.fetchone()
tap(r[0] == "42501" and "server-internal-value" not in (r[1] or ""),
    "a variable stored while allowed is checked again when used (the setting changed): [%s] %s" % (r[0], (r[1] or "")[:90]))

secrets = tempfile.mkdtemp(prefix="kant-secrets-")
os.chmod(secrets, 0o755)
with open(os.path.join(secrets, "airflow_password"), "w") as f:
    f.write("s3cret-pw\n")
with open(os.path.join(secrets, "airflow_user"), "w") as f:
    f.write("kant")
# the server's user owns them, mode 0600 (PostgreSQL's rule for ssl_key_file)
cur.execute("SELECT pg_backend_pid()")
server_uid = os.stat("/proc/%d" % cur.fetchone()[0]).st_uid
for name in ("airflow_password", "airflow_user"):
    if os.geteuid() == 0:
        os.chown(os.path.join(secrets, name), server_uid, -1)
    os.chmod(os.path.join(secrets, name), 0o644)
code, msg = error_of(cur, "SELECT kant.set_credentials('comp', 'airflow_user', 'airflow_password', from_file => true)")
tap(code == "55000", "secret files need kant.secret_directory: %s" % (msg or "").splitlines()[0])
cur.execute("SET kant.secret_directory = %s", (secrets,))
cur.execute("SELECT kant.set_credentials('comp', 'airflow_user', 'airflow_password', from_file => true)")
cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('comp')")
r = cur.fetchone()
tap(r[0] == "28000" and "readable by others (mode 0644" in (r[1] or "") and "s3cret" not in (r[1] or ""),
    "a secret file others can read is refused when used: %s" % (r[1] or "")[:150])
for name in ("airflow_password", "airflow_user"):
    os.chmod(os.path.join(secrets, name), 0o600)
cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('comp')")
r = cur.fetchone()
tap(r[0] is None, "credentials from files in kant.secret_directory (0600) are read when used (never in SQL text)")
for bad in ("../airflow_password", "/etc/passwd", ".hidden", "a/b"):
    code, msg = error_of(cur, "SELECT kant.set_credentials('comp', 'airflow_user', %s, from_file => true)", (bad,))
    tap(code == "22023", "a file name outside the directory is refused: %s" % bad)
with open(os.path.join(secrets, "airflow_password"), "w") as f:
    f.write("rotated-wrong\n")
cur.execute("SELECT sqlstate FROM kant.collect_airflow('comp')")
tap(cur.fetchone()[0] == "28000", "a rotated file is read at the next use (here: a wrong password, 28000)")

# a failing call does not log its secret (log_min_error_statement = error, the default)
secret = "wJalrXUtnFEMI-K7MDENG-do-not-log-me"
code, msg = error_of(cur, "SELECT kant.set_credentials('no_such_system', 'AKIAEXAMPLE', %s)", (secret,))
log = server_log()
tap(code == "42704" and log is not None and secret not in log and "no_such_system" in log,
    "a failing set_credentials() is logged without the statement, so without the secret"
    if log is not None else "server log not found")
code, msg = error_of(cur, "SELECT kant.set_channel('Bad Name!', %s)", ("https://hooks.slack.com/services/T/B/" + secret,))
log = server_log()
tap(code is not None and log is not None and secret not in log,
    "a failing set_channel() does not log its webhook either (%s)" % code)

# ---------------------------------------------------------------- proxies
# The server's environment names a proxy (http_proxy, https_proxy, ALL_PROXY:
# 127.0.0.1:KANT_TEST_ENV_PROXY_PORT, no_proxy=localhost; test/harness/pgopts.sh),
# which libcurl would use by default for every request, and kant.allowed_hosts
# would judge only the proxy.  kant.http_proxy alone decides; here the
# environment's proxy is a recording one, so what reaches it is seen.
env_port = int(os.environ.get("KANT_TEST_ENV_PROXY_PORT", "23391"))
try:
    envproxy = http_fake.on_fixed_port(lambda p: RecordingProxy(("127.0.0.1", p)).start(), env_port)
except OSError as e:
    envproxy = None
    tap(False, "the recording proxy of the server's environment listens on 127.0.0.1:%d: %s" % (env_port, e))


def get(url):
    """(sqlstate, message or body) of kant.http_get(url)."""
    code, msg = error_of(cur, "SELECT kant.http_get(%s)", (url,))
    return (code, msg) if code else (None, cur.fetchone()[0])


if envproxy:
    cur.execute("RESET kant.http_proxy")
    cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1'")
    before = len(fake.requests)
    code, body = get(fake.url("/ok"))
    tap(code is None and body == "hello" and len(fake.requests) == before + 1 and not envproxy.requests,
        "with http_proxy/ALL_PROXY in the server's environment and kant.http_proxy empty, kant connects directly",
        envproxy.requests)
    cur.execute("SELECT kant.add_system('px', 'airflow', 'UTC')")
    cur.execute("SELECT kant.set_endpoint('px', %s)", (airflow.url(""),))
    cur.execute("SELECT kant.set_credentials('px', 'KANT_TEST_AIRFLOW_USER', 'KANT_TEST_AIRFLOW_PASSWORD', from_env => true)")
    before = len(airflow.requests)
    cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('px')")
    r = cur.fetchone()
    tap(r[0] is None and len(airflow.requests) > before and not envproxy.requests,
        "so does a collection, credentials and all: %d requests reached Airflow, none the environment's proxy (%s)"
        % (len(airflow.requests) - before, r[1]))

    # kant.http_proxy set (here to the same recording proxy): every request goes
    # through it, also to localhost, which the environment's no_proxy lists
    cur.execute("SET kant.http_proxy = %s", (envproxy.url,))
    before = len(fake.requests)
    code, body = get(fake.url("/ok"))
    seen = [(m, t) for (m, t, _) in envproxy.requests]
    tap(code is None and body == "hello" and seen == [("GET", fake.url("/ok"))] and len(fake.requests) == before + 1,
        "with kant.http_proxy set, the request goes through that proxy: %s" % seen)
    cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1, localhost'")
    del envproxy.requests[:]
    localhost_ok = "http://localhost:%d/ok" % fake.port
    code, body = get(localhost_ok)
    seen = [t for (_, t, _) in envproxy.requests]
    tap(code is None and body == "hello" and seen == [localhost_ok],
        "also for a host the environment's no_proxy lists (CURLOPT_NOPROXY ''): %s" % seen)
    cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1'")
    del envproxy.requests[:]
    cur.execute("SELECT sqlstate, error FROM kant.collect_airflow('px')")
    r = cur.fetchone()
    seen = [t for (_, t, _) in envproxy.requests]
    tap(r[0] is None and seen and all(t.startswith(airflow.url("/api/")) for t in seen),
        "a collection goes through kant.http_proxy too (%d requests): %s" % (len(seen), r[1]))
    envproxy.stop()
    cur.execute("RESET kant.http_proxy")

# behind a proxy the socket goes to the proxy: the target is judged by what its
# name resolves to here, before any request, and the proxy by its own address
side = RecordingProxy(("127.0.0.2", 0)).start()
cur.execute("SET kant.http_proxy = %s", (side.url,))
cur.execute("SET kant.allowed_hosts = '*, 127.0.0.2'")
before = len(fake.requests)
code, msg = get("http://localhost:%d/ok" % fake.port)
tap(code == "42501" and "loopback" in msg and not side.requests and len(fake.requests) == before,
    "behind kant.http_proxy, a target whose name resolves to a refused address is refused, the proxy asked nothing: %s"
    % msg.splitlines()[0], side.requests)
code, msg = get("http://no-such-host.invalid/ok")
tap(code == "42501" and "does not resolve" in msg and not side.requests,
    "a name that does not resolve for kant is refused, not left to the proxy to resolve: %s" % msg.splitlines()[0])
code, msg = get(fake.url("/ok"))
tap(code == "42501" and not side.requests, "and a refused literal address as before: %s" % msg.splitlines()[0])
cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1, 127.0.0.2'")
cur.execute("SELECT status, error FROM kant.http_fetch(%s, 2) ORDER BY url DESC",
            ([fake.url("/ok"), "http://no-such-host.invalid/ok"],))
rows = cur.fetchall()
tap(len(rows) == 2 and rows[0][0] is None and "does not resolve" in (rows[0][1] or "") and rows[1][0] == 200
    and [t for (_, t, _) in side.requests] == [fake.url("/ok")],
    "a refused target fails alone in a batch, the others go through the proxy: %s" % rows)
del side.requests[:]
cur.execute("SET kant.allowed_hosts = '*, 127.0.0.1'")
code, msg = get(fake.url("/ok"))
tap(code == "42501" and "kant.http_proxy" in msg and not side.requests,
    "the proxy itself must be allowed: %s" % (msg or "fetched!").splitlines()[0])
side.stop()
cur.execute("RESET kant.http_proxy")
for bad in ("ftp://127.0.0.2:21", "http://kant:hunter2@127.0.0.2:3128", "http://127.0.0.2:3128/some/path",
            "127.0.0.2:3128"):
    code, msg = error_of(cur, "SET kant.http_proxy = %s", (bad,))
    tap(code == "22023", "kant.http_proxy refuses %s: %s" % (bad, (msg or "accepted!").splitlines()[-1]))
cur.execute("GRANT EXECUTE ON FUNCTION kant.http_get(text) TO kant_test_deliverer")
d = psycopg2.connect(dbname="kant_security", user="kant_test_deliverer", password="deliverer-pw")
d.autocommit = True
dc = d.cursor()
dc.execute("SET kant.http_proxy = 'http://127.0.0.2:3128'")   # before kant is loaded: a placeholder
code, msg = error_of(dc, "SELECT kant.http_get(%s)", (fake.url("/ok"),))
dropped = [n for n in d.notices if 'permission denied to set parameter "kant.http_proxy"' in n]
c2, _ = error_of(dc, "SET kant.http_proxy = 'http://127.0.0.2:3128'")
d.close()
tap(dropped and c2 == "42501", "only a superuser sets kant.http_proxy, before kant is loaded too (%s)" % code)
cur.execute("REVOKE EXECUTE ON FUNCTION kant.http_get(text) FROM kant_test_deliverer")

slack.stop()
airflow.stop()
fake.stop()
conn.close()
tap.plan()
