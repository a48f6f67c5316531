#!/usr/bin/python3
"""kant.deliver_notifications() against a fake Slack over real HTTP
(test/fakes/fake_slack.py): messages pass Slack's Block Kit limits and go out
at least once, in order per channel, about one a second per webhook; 429
waits for Retry-After; 500 and a hang are retried with backoff; 404
no_service and 410 fail for good with Slack's answer, visible in
kant.notification_outbox and kant.channels, never retried; a backend killed
between "posted" and "recorded" neither loses nor duplicates beyond the
message in flight, which carries its alert key; the webhook's secret path is
in no error.  Prints TAP lines."""
import os
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_slack import FakeSlack  # noqa: E402

DB = "kant_slack_delivery"


def main():
    slack = FakeSlack().start()
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("SELECT kant.add_system('etl', 'manual', 'UTC')")
    # five jobs that fail now: five alerts
    for i in range(5):
        cur.execute("""SELECT kant.report_run('etl', %s, %s, 'failed', current_date, 1,
                           now() - interval '20 minutes', now() - interval '10 minutes',
                           error_message => 'boom')""", ("job%d" % i, "r%d" % i))

    def channel(name, behave=None, interval="1 second"):
        if behave:
            slack.behave[slack.path(name)] = behave
        cur.execute("SELECT kant.set_channel(%s, %s, min_interval => %s)", (name, slack.webhook(name), interval))
        cur.execute("SELECT kant.add_route(%s)", (name,))

    def outbox(name):
        cur.execute("""SELECT status, attempts, http_status, last_error, alert_key FROM kant.notification
                       WHERE channel = %s ORDER BY notification_id""", (name,))
        return cur.fetchall()

    def deliver(seconds=10):
        cur.execute("CALL kant.deliver_notifications(%s)", (seconds,))

    # 1. the plain case, and the pace
    channel("ops")
    cur.execute("SELECT queued FROM kant.run_checks()")
    queued = cur.fetchone()[0]
    t0 = time.time()
    deliver(10)
    got = slack.messages("ops")
    rows = outbox("ops")
    tap(queued == 5 and len(got) == 5 and all(r[0] == "sent" and r[2] == 200 for r in rows) and not slack.rejected,
        "5 alerts: 5 messages accepted by Slack, all marked sent (%.1f s)" % (time.time() - t0), slack.rejected)
    gaps = [b["time"] - a["time"] for a, b in zip(got, got[1:])]
    tap(gaps and min(gaps) >= 0.95, "at most one message a second per webhook (gaps %s s)"
        % ", ".join("%.2f" % g for g in gaps))
    keys = [m["payload"]["blocks"][-1]["elements"][0]["text"] for m in got]
    tap([r[4] for r in rows] == sorted(r[4] for r in rows) and all("failure/job:" in k for k in keys)
        and [k.split(" · ")[1] for k in keys] == [r[4] for r in rows],
        "in order per channel; each message has text, blocks and its alert key: %s" % got[0]["payload"]["text"])
    heads = slack.requests[-1]["headers"]
    tap(heads.get("Content-Type", "").startswith("application/json"), "posted as application/json")

    # 2. 429 with Retry-After
    cur.execute("TRUNCATE kant.notification, kant.alert_route")
    cur.execute("UPDATE kant.alert SET notified_at = NULL")
    channel("busy", "429", "0")
    cur.execute("SELECT queued FROM kant.run_checks()")
    t0 = time.time()
    deliver(10)
    rows = outbox("busy")
    got = slack.messages("busy")
    tap(len(got) == 5 and all(r[0] == "sent" for r in rows) and rows[0][1] == 2 and time.time() - t0 >= 1.0,
        "429 with Retry-After: 1 is waited for, then sent (first message: %d attempts, %.1f s)"
        % (rows[0][1], time.time() - t0))

    # 3. 404 no_service and 410: failed for good, others unaffected
    cur.execute("TRUNCATE kant.notification, kant.alert_route")
    cur.execute("UPDATE kant.alert SET notified_at = NULL")
    channel("gone", "no_service", "0")
    channel("archived", "channel_is_archived", "0")
    channel("fine", None, "0")
    cur.execute("SELECT queued FROM kant.run_checks()")
    deliver(5)
    gone, archived, fine = outbox("gone"), outbox("archived"), outbox("fine")
    tap(all(r[0] == "failed" and r[1] == 1 and r[2] == 404 and "no_service" in r[3] for r in gone),
        "404 no_service: failed at the first attempt, with Slack's answer: %s" % gone[0][3])
    tap(all(r[0] == "failed" and r[1] == 1 and r[2] == 410 for r in archived) and all(r[0] == "sent" for r in fine),
        "410 channel_is_archived: failed; the other channel's messages all sent")
    cur.execute("SELECT count(*) FROM kant.notification_outbox WHERE status = 'failed'")
    nfail = cur.fetchone()[0]
    cur.execute("SELECT name, failed, pending FROM kant.channels WHERE name IN ('gone', 'archived') ORDER BY 1")
    tap(nfail == 10 and cur.fetchall() == [("archived", 5, 0), ("gone", 5, 0)],
        "kant.notification_outbox and kant.channels show the failures")
    cur.execute("""SELECT name, last_sent_at IS NULL, last_attempt_at IS NOT NULL FROM kant.channels
                   WHERE name IN ('gone', 'archived', 'fine') ORDER BY 1""")
    tap(cur.fetchall() == [("archived", True, True), ("fine", False, True), ("gone", True, True)],
        "kant.channels: last_sent_at only where Slack took a message; last_attempt_at wherever kant tried")
    before = len(slack.requests)
    deliver(1)
    tap(len(slack.requests) == before, "a failed message is never retried")

    # 4. 500: retried with backoff; the channel keeps its order meanwhile
    cur.execute("TRUNCATE kant.notification, kant.alert_route")
    cur.execute("UPDATE kant.alert SET notified_at = NULL")
    slack.fail = 2
    channel("flaky", "500", "0")
    cur.execute("SELECT queued FROM kant.run_checks()")
    deliver(0)
    rows = outbox("flaky")
    tap(rows[0][0] == "pending" and rows[0][1] == 1 and rows[0][2] == 500 and all(r[1] == 0 for r in rows[1:]),
        "500: the message waits for a retry; the channel's later messages wait behind it")
    cur.execute("SELECT next_attempt_at - now() FROM kant.notification WHERE channel = 'flaky' AND attempts > 0")
    wait = cur.fetchone()[0].total_seconds()
    tap(2.0 <= wait <= 6.0, "backoff before the next attempt: %.1f s" % wait)
    cur.execute("UPDATE kant.notification SET next_attempt_at = now() WHERE channel = 'flaky'")
    deliver(0)
    cur.execute("UPDATE kant.notification SET next_attempt_at = now() WHERE channel = 'flaky'")
    deliver(5)
    rows = outbox("flaky")
    tap(all(r[0] == "sent" for r in rows) and rows[0][1] == 3 and len(slack.messages("flaky")) == 5,
        "after two 500s the message and the ones behind it are sent (%d attempts)" % rows[0][1])

    # 5. a hang: the request times out, the message stays pending
    cur.execute("TRUNCATE kant.notification, kant.alert_route")
    cur.execute("UPDATE kant.alert SET notified_at = NULL")
    channel("stuck", "hang", "0")
    cur.execute("SELECT queued FROM kant.run_checks()")
    cur.execute("SET kant.http_timeout = '1s'")
    t0 = time.time()
    deliver(0)
    took = time.time() - t0
    cur.execute("RESET kant.http_timeout")
    rows = outbox("stuck")
    tap(rows[0][0] == "pending" and rows[0][1] == 1 and "timed out" in rows[0][3] and took < 3,
        "a webhook that never answers: timed out after %.1f s, kept pending: %s" % (took, rows[0][3]))
    cur.execute("SELECT string_agg(coalesce(last_error, ''), ' ') FROM kant.notification")
    errs = cur.fetchone()[0]
    tap("secret-token" not in errs and "/services/" not in errs, "no error shows the webhook's secret path")

    # 6. the backend dies between posting and recording
    cur.execute("TRUNCATE kant.notification, kant.alert_route")
    cur.execute("UPDATE kant.alert SET notified_at = NULL")
    slack.delay = 3.0
    channel("crash", "slow", "0")
    cur.execute("SELECT queued FROM kant.run_checks()")
    conn2 = psycopg2.connect(dbname=DB)
    conn2.autocommit = True
    c2 = conn2.cursor()
    c2.execute("SELECT pg_backend_pid()")
    pid = c2.fetchone()[0]
    died = []

    def victim():
        try:
            c2.execute("CALL kant.deliver_notifications(30)")
        except psycopg2.Error as e:
            died.append(e.pgcode or str(e))

    th = threading.Thread(target=victim)
    th.start()
    end = time.time() + 10
    while not slack.messages("crash") and time.time() < end:
        time.sleep(0.05)
    time.sleep(0.3)
    cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    th.join()
    in_flight = len(slack.messages("crash"))
    slack.behave[slack.path("crash")] = "ok"
    deliver(10)
    got = [m["payload"]["blocks"][-1]["elements"][0]["text"].split(" · ")[1] for m in slack.messages("crash")]
    rows = outbox("crash")
    dupes = sorted({k for k in got if got.count(k) > 1})
    tap(died and in_flight == 1 and all(r[0] == "sent" for r in rows) and set(got) == {r[4] for r in rows}
        and len(got) == len(rows) + 1 and len(dupes) == 1,
        "killed mid-delivery: nothing lost; the message in flight came twice with the same key (%s); "
        "%d messages for %d notifications" % (dupes, len(got), len(rows)))

    # 7. a webhook from the environment the server does not have
    cur.execute("TRUNCATE kant.notification, kant.alert_route")
    cur.execute("UPDATE kant.alert SET notified_at = NULL")
    cur.execute("SELECT kant.set_channel('envy', 'KANT_NO_SUCH_WEBHOOK_VAR', from_env => true, min_interval => '0')")
    cur.execute("SELECT kant.add_route('envy')")
    cur.execute("SELECT queued FROM kant.run_checks()")
    deliver(0)
    rows = outbox("envy")
    tap(rows[0][0] == "pending" and "KANT_NO_SUCH_WEBHOOK_VAR" in rows[0][3],
        "a webhook from an environment variable the server lacks: kept, with the reason: %s" % rows[0][3])

    # 8. two deliverers at once: the second one steps aside
    conn3 = psycopg2.connect(dbname=DB)
    conn3.autocommit = True
    c3 = conn3.cursor()
    c3.execute("SELECT pg_advisory_lock(1801547383, 1)")
    del conn.notices[:]
    cur.execute("SET client_min_messages = notice")
    deliver(0)
    tap(any("another kant.deliver_notifications() is running" in n for n in conn.notices),
        "a second deliverer at once returns with a notice")
    conn3.close()
    slack.stop()
    tap.plan()


main()
