"""Cloud Composer / Airflow 2: start SOCRATES when kant says HEGEL is done.

Put this file in the Composer bucket's dags/ folder.  It needs the
`postgres` provider (Composer images have it) and an Airflow connection
`kant_postgres` to the database where kant runs (see README.md in this
folder).  The DAG runs daily at 03:30 JST; its sensor asks kant every 5
minutes, in reschedule mode (it holds no worker slot while waiting), whether
every HEGEL export of the business date has succeeded, then triggers the first
SOCRATES DAG.  kant can trigger it itself instead (kant.trigger_ready_gates());
use one or the other.

The callbacks report each task's outcome to kant directly
(kant.report_run), so kant knows a task ended without waiting for its next
collection.
"""
import pendulum
from airflow import DAG
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.providers.postgres.hooks.postgres import PostgresHook

KANT_CONN = "kant_postgres"

# The sensor's query: true once the gate is open for the run's business date
# ({{ ds }}: the logical date, which is SOCRATES' business date).
GATE_SQL = "SELECT kant.kant_gate_ready(%(gate)s, %(business_date)s::date)"

# What the callbacks send: one task instance's outcome, as kant.report_run.
REPORT_SQL = """
SELECT inserted, updated, unchanged, rejected
FROM kant.report_run(system => %(system)s, job => %(job)s, run_id => %(run_id)s,
                     state => %(state)s, business_date => %(business_date)s::date,
                     attempt => %(attempt)s, started_at => %(started_at)s,
                     ended_at => %(ended_at)s, error_message => %(error_message)s)
"""


def report_to_kant(context):
    """on_success_callback / on_failure_callback: tell kant how the task ended."""
    ti = context["task_instance"]
    PostgresHook(postgres_conn_id=KANT_CONN).run(REPORT_SQL, parameters={
        "system": "socrates",
        "job": "%s.%s" % (ti.dag_id, ti.task_id),
        "run_id": context["run_id"],
        "state": ti.state,
        "business_date": context["ds"],
        "attempt": ti.try_number,
        "started_at": ti.start_date,
        "ended_at": ti.end_date,
        "error_message": str(context.get("exception")) if context.get("exception") else None,
    })


with DAG(
    dag_id="socrates_gate",
    schedule="30 3 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Tokyo"),
    catchup=False,
    max_active_runs=1,
    default_args={"on_success_callback": report_to_kant, "on_failure_callback": report_to_kant},
) as dag:
    hegel_done = SqlSensor(
        task_id="hegel_done",
        conn_id=KANT_CONN,
        sql=GATE_SQL,
        parameters={"gate": "socrates_daily", "business_date": "{{ ds }}"},
        mode="reschedule",
        poke_interval=300,
        timeout=8 * 3600,
    )
    start_socrates = TriggerDagRunOperator(
        task_id="start_socrates",
        trigger_dag_id="s3_to_gcs",
        trigger_run_id="kant__socrates_daily__{{ ds }}",   # the run id kant.trigger_ready_gates() uses
        logical_date="{{ logical_date }}",
        conf={"business_date": "{{ ds }}", "gate": "socrates_daily"},
        reset_dag_run=False,
    )
    hegel_done >> start_socrates
