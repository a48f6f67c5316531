"""Cloud Composer / Airflow: start SOCRATES when kant says HEGEL is done.

Put this file in the Composer bucket's dags/ folder.  It needs the
`postgres` provider (Composer images have it) and an Airflow connection
`kant_postgres` to the database where kant runs (see README.md in this
folder).  The DAG runs daily at 03:30 JST; its sensor asks kant every 5
minutes, in reschedule mode (it holds no worker slot while waiting), whether
every HEGEL export of the business date has succeeded, then triggers the first
SOCRATES DAG.  kant can trigger it itself instead (kant.trigger_ready_gates());
use one or the other.

Which business date.  HEGEL's business date is the Tokyo date before its
nightly run (kant.add_system('hegel', ..., bd_offset_days => -1)), so the run
due at 03:30 JST on day D asks about D-1.  `{{ ds }}` is not that: it is the
run's logical date as a date in UTC, and the logical date depends on the
timetable -- the previous tick under Airflow 2's CronDataIntervalTimetable
(D-1 03:30 JST = D-2 18:30 UTC: ds is D-2), the tick itself under Airflow 3's
CronTriggerTimetable (D 03:30 JST = D-1 18:30 UTC: ds is D-1, right only by
luck of the zone).  `data_interval_end` is the time the run is due under both,
so the business date is its Tokyo date minus one day (BUSINESS_DATE).

What the triggered SOCRATES run gets.  The run id kant uses
(kant__<gate>__<business date>), so the run is created once whether this DAG
or kant.trigger_ready_gates() comes first, and a logical date of one second
past midnight UTC of the business date (past the local midnight in zones west
of UTC, so the date is the business date in both; the second keeps it off a
midnight run of the DAG's own schedule, as Airflow 2 allows one run per
logical date).  Downstream, `{{ ds }}` is then the
business date as it is, and so is the logical date's Tokyo date, which is
what kant takes as the business date of SOCRATES' runs when it collects them.

The callbacks report each task's outcome to kant directly (kant.report_run),
with the run id and business date kant's collector gives the same task
instance (the DAG run id; the logical date's date in the system's zone), so a
task reported and later collected is one run, not two.
"""
import pendulum
from airflow import DAG, __version__ as AIRFLOW_VERSION
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.providers.postgres.hooks.postgres import PostgresHook

KANT_CONN = "kant_postgres"
ZONE = "Asia/Tokyo"          # kant's zone for hegel and socrates (kant.system.time_zone)

# HEGEL's business date for this run: the Tokyo date before the run was due.
BUSINESS_DATE = "{{ data_interval_end.in_timezone('Asia/Tokyo').subtract(days=1) | ds }}"

# The SOCRATES run to start: the run id and logical date kant.trigger_ready_gates() uses.
TRIGGER_RUN_ID = "kant__socrates_daily__" + BUSINESS_DATE
TRIGGER_LOGICAL_DATE = BUSINESS_DATE + "T00:00:01+00:00"
# TriggerDagRunOperator takes it as execution_date on Airflow 2, logical_date on 3
LOGICAL_DATE_ARG = "logical_date" if int(AIRFLOW_VERSION.split(".")[0]) >= 3 else "execution_date"

# The sensor's query: true once the gate is open for the business date.
GATE_SQL = "SELECT kant.kant_gate_ready(%(gate)s, %(business_date)s::date)"

# What the callbacks send: one task instance's outcome, as kant.report_run.
REPORT_SQL = """
SELECT inserted, updated, unchanged, rejected
FROM kant.report_run(system => %(system)s, job => %(job)s, run_id => %(run_id)s,
                     state => %(state)s, business_date => %(business_date)s::date,
                     attempt => %(attempt)s, started_at => %(started_at)s,
                     ended_at => %(ended_at)s, error_message => %(error_message)s)
"""


def collected_business_date(logical_date):
    """The business date kant's collector gives a task instance of this DAG:
    its logical date's date in the system's zone."""
    return logical_date.in_timezone(ZONE).strftime("%Y-%m-%d")


def report_to_kant(context):
    """on_success_callback / on_failure_callback: tell kant how the task ended."""
    ti = context["task_instance"]
    PostgresHook(postgres_conn_id=KANT_CONN).run(REPORT_SQL, parameters={
        "system": "socrates",
        "job": "%s.%s" % (ti.dag_id, ti.task_id),
        "run_id": context["run_id"],
        "state": ti.state,
        "business_date": collected_business_date(context["logical_date"]),
        "attempt": ti.try_number,
        "started_at": ti.start_date,
        "ended_at": ti.end_date,
        "error_message": str(context.get("exception")) if context.get("exception") else None,
    })


with DAG(
    dag_id="socrates_gate",
    schedule="30 3 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz=ZONE),
    catchup=False,
    max_active_runs=1,
    default_args={"on_success_callback": report_to_kant, "on_failure_callback": report_to_kant},
) as dag:
    hegel_done = SqlSensor(
        task_id="hegel_done",
        conn_id=KANT_CONN,
        sql=GATE_SQL,
        parameters={"gate": "socrates_daily", "business_date": BUSINESS_DATE},
        mode="reschedule",
        poke_interval=300,
        timeout=8 * 3600,
    )
    start_socrates = TriggerDagRunOperator(
        task_id="start_socrates",
        trigger_dag_id="s3_to_gcs",
        trigger_run_id=TRIGGER_RUN_ID,
        conf={"business_date": BUSINESS_DATE, "gate": "socrates_daily"},
        reset_dag_run=False,
        # kant may have started the run first (same run id): skipped, not failed
        skip_when_already_exists=True,
        **{LOGICAL_DATE_ARG: TRIGGER_LOGICAL_DATE},
    )
    hegel_done >> start_socrates
