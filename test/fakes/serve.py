#!/usr/bin/python3
"""Play HEGEL, SOCRATES and Slack for `make demo`: the fake Glue and the fake
Airflow (REST API v1, as Cloud Composer 2) on loopback, serving the simulated
month, each answer 20 ms late like a real endpoint, and a fake Slack incoming
webhook; and the clouds' identities: a fake Google (token endpoint, metadata
server) whose access tokens the fake Composer accepts, and a fake AWS (IMDSv2,
STS) whose assumed-role keys the fake Glue accepts.  Writes "<glue url>
<airflow url> <slack webhook url> <aws url> <service-account key file>" to the
file named by the first argument (the key in a new directory, mode 0600), then
serves until killed.  With a second
argument (the month's first business date), the month ends with last night:
its runs are what the APIs would say now (started or not, running or done)."""
import datetime as dt
import signal
import sys

import json
import os
import tempfile

from fake_airflow import FakeAirflow
from fake_cloud import FakeAWS, FakeGoogle
from fake_glue import FakeGlue
from fake_slack import FakeSlack
from simulate import platform

google = FakeGoogle().start()
aws = FakeAWS(region="ap-northeast-1").start()
if len(sys.argv) > 2:
    now = dt.datetime.now(dt.timezone.utc)
    glue = FakeGlue(data=platform(dt.date.fromisoformat(sys.argv[2]), now=now), aws=aws).start()
    airflow = FakeAirflow(version="v1", data=platform(dt.date.fromisoformat(sys.argv[2]), malformed=False,
                                                       now=now), google=google).start()
else:
    glue = FakeGlue(aws=aws).start()
    airflow = FakeAirflow(version="v1", google=google).start()
keydir = tempfile.mkdtemp(prefix="kant-demo-keys-")
os.chmod(keydir, 0o755)
key = os.path.join(keydir, "socrates-sa.json")
with open(key, "w") as f:
    json.dump(google.new_service_account("kant-collector@socrates-prod.iam.gserviceaccount.com"), f, indent=2)
os.chmod(key, 0o600)
slack = FakeSlack().start()
glue.latency = airflow.latency = 0.02
# a run StartJobRun starts (kant's restart tonight) runs 45 s, then succeeds
glue.live_runs = 45
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%s %s %s %s %s\n" % (glue.url("/"), airflow.url(""), slack.webhook("data-platform"), aws.url("/"), key))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.sigwait({signal.SIGTERM, signal.SIGINT})
