#!/usr/bin/python3
"""Play HEGEL, SOCRATES and Slack for `make demo`: the fake Glue and the fake
Airflow (REST API v1, as Cloud Composer 2) on loopback, serving the simulated
month, each answer 20 ms late like a real endpoint, and a fake Slack incoming
webhook.  Writes "<glue url> <airflow url> <slack webhook url>" to the file
named by the first argument, then serves until killed.  With a second
argument (the month's first business date), the month ends with last night:
its runs are what the APIs would say now (started or not, running or done)."""
import datetime as dt
import signal
import sys

from fake_airflow import FakeAirflow
from fake_glue import FakeGlue
from fake_slack import FakeSlack
from simulate import platform

if len(sys.argv) > 2:
    now = dt.datetime.now(dt.timezone.utc)
    glue = FakeGlue(data=platform(dt.date.fromisoformat(sys.argv[2]), now=now)).start()
    airflow = FakeAirflow(version="v1", data=platform(dt.date.fromisoformat(sys.argv[2]), malformed=False,
                                                       now=now)).start()
else:
    glue = FakeGlue().start()
    airflow = FakeAirflow(version="v1").start()
slack = FakeSlack().start()
glue.latency = airflow.latency = 0.02
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%s %s %s\n" % (glue.url("/"), airflow.url(""), slack.webhook("data-platform")))
import os  # noqa: E402
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.sigwait({signal.SIGTERM, signal.SIGINT})
