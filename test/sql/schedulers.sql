-- Right about the real schedulers (issue 13): what done means for a failed
-- run recovered by a run that names no predecessor, for mapped task
-- instances and for Airflow's "removed".  The SLO day, the alerts and the
-- gate give the same answer in each.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

-- 1. A failed Glue run recovered by a new, unlinked run.  Glue's
--    StartJobRun takes JobRunId, "the ID of a previous JobRun to retry", as an
--    option (Glue API reference, StartJobRun); a run started without it has a
--    new Id, Attempt 0 and no PreviousRunId.  Airflow's GlueJobOperator starts
--    every try that way: GlueJobHook.initialize_job calls
--    start_job_run(JobName=..., Arguments=..., **run_kwargs) with no JobRunId
--    (apache-airflow-providers-amazon, hooks/glue.py).  jr_a FAILED
--    02:00-02:10 JST, jr_b SUCCEEDED 03:00-03:30 JST, same job and business
--    date, SLO 06:00 JST: met, everywhere.
SELECT kant.add_system('jp', 'glue', 'Asia/Tokyo') > 0 AS added;
SELECT kant.configure_job('jp', 'nightly_load', pipeline => 'jp') > 0 AS configured;
SELECT kant.create_slo('jp_slo', '06:00', deadline_offset_days => 0, time_zone => 'Asia/Tokyo',
                       pipeline => 'jp', evaluate_from => '2026-03-10') > 0 AS slo;
SELECT kant.create_gate('jp_gate', pipeline => 'jp', when_stale => 'open') > 0 AS gate;
SELECT inserted FROM kant.ingest_glue_job_runs('jp', '{"JobRuns": [
  {"Id": "jr_a", "JobName": "nightly_load", "Attempt": 0, "JobRunState": "FAILED",
   "StartedOn": "2026-03-09T17:00:00Z", "CompletedOn": "2026-03-09T17:10:00Z", "ErrorMessage": "OOM"}]}');
-- between the two: the failure is reported, the gate is closed
SELECT kind, summary FROM kant.check_conditions('2026-03-09 17:30+00') ORDER BY kind;
SELECT done, failed, in_flight FROM kant.job j, kant._job_day(j.job_id, '2026-03-10') WHERE j.name = 'nightly_load';
SELECT kant.kant_gate_ready('jp_gate', '2026-03-10') AS gate_open;
SELECT inserted FROM kant.ingest_glue_job_runs('jp', '{"JobRuns": [
  {"Id": "jr_b", "JobName": "nightly_load", "Attempt": 0, "JobRunState": "SUCCEEDED",
   "StartedOn": "2026-03-09T18:00:00Z", "CompletedOn": "2026-03-09T18:30:00Z"}]}');
-- after: both runs are current (neither names the other), the later one counts
SELECT r.external_id, c.is_current FROM kant.job_run r JOIN kant.runs c USING (run_id) ORDER BY 1;
SELECT done, done_at, failed, runs, counted_runs FROM kant.job j, kant._job_day(j.job_id, '2026-03-10')
WHERE j.name = 'nightly_load';
SELECT kind FROM kant.check_conditions('2026-03-09 22:00+00');
SELECT kant.kant_gate_ready('jp_gate', '2026-03-10') AS gate_open;
SELECT job, state, attempt, ended_at, detail FROM kant.gate_status('jp_gate', '2026-03-10');
SELECT kant.refresh_slo('jp_slo', '2026-03-10', '2026-03-10') AS evaluated;
SELECT business_date, slo_status, sla_status, completed_at, runs, done, failures, retries
FROM kant.slo_day WHERE business_date = '2026-03-10';

-- 2. Mapped task instances.  Airflow runs one task instance per map_index of
--    a mapped task in the same DAG run and fails the DAG run when one fails
--    (airflow/models/dagrun.py, DagRun.update_state: "if all roots finished
--    and at least one failed, the run failed"); kant keeps each as "dag_run_id#map_index".  Map
--    index 0 succeeded, 1 failed, try 1 of 1: a failure alert, the gate
--    closed, the SLO not met.
SELECT kant.add_system('af', 'airflow', 'UTC') > 0 AS added;
SELECT inserted FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "fan", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T01:00:00+00:00",
   "end_date": "2026-03-11T01:05:00+00:00", "state": "failed", "try_number": 1, "map_index": 1, "max_tries": 0},
  {"dag_id": "fan", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T01:01:00+00:00",
   "end_date": "2026-03-11T01:10:00+00:00", "state": "success", "try_number": 1, "map_index": 0, "max_tries": 0}],
  "total_entries": 2}');
SELECT j.name, r.external_id, r.business_date, r.state FROM kant.job_run r JOIN kant.job j USING (job_id)
WHERE j.system_id = (SELECT system_id FROM kant.system WHERE name = 'af') ORDER BY 2;
SELECT kant.configure_job('af', j.name, pipeline => 'fan') > 0 AS configured
FROM kant.job j WHERE j.dag_id = 'fan';
SELECT kant.create_slo('fan_slo', '06:00', deadline_offset_days => 1, time_zone => 'UTC',
                       pipeline => 'fan', evaluate_from => '2026-03-10') > 0 AS slo;
SELECT kant.create_gate('fan_gate', pipeline => 'fan', when_stale => 'open') > 0 AS gate;
SELECT done, failed, runs, counted_runs FROM kant.job j, kant._job_day(j.job_id, '2026-03-10') WHERE j.dag_id = 'fan';
SELECT kind, summary FROM kant.check_conditions('2026-03-11 07:00+00') ORDER BY kind;
SELECT kant.kant_gate_ready('fan_gate', '2026-03-10') AS gate_open;
SELECT kant.refresh_slo('fan_slo', '2026-03-10', '2026-03-10') AS evaluated;
SELECT s.name, y.slo_status, y.completed_at FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'fan_slo' AND y.business_date = '2026-03-10';

-- 3. Airflow's "removed": a map index removed when the task re-expands to
--    fewer items.  Airflow leaves removed task instances out when it decides
--    a DAG run's state (airflow/models/dagrun.py, DagRun.update_state:
--    leaf_tis = [ti ... if ti.state != TaskInstanceState.REMOVED]): the run
--    succeeds, and so does the day in kant.
SELECT inserted FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "fan", "task_id": "load", "dag_run_id": "scheduled__2026-03-11T00:00:00+00:00",
   "execution_date": "2026-03-11T00:00:00+00:00", "start_date": "2026-03-12T01:00:00+00:00",
   "end_date": "2026-03-12T01:10:00+00:00", "state": "success", "try_number": 1, "map_index": 0, "max_tries": 0},
  {"dag_id": "fan", "task_id": "load", "dag_run_id": "scheduled__2026-03-11T00:00:00+00:00",
   "execution_date": "2026-03-11T00:00:00+00:00", "start_date": null,
   "end_date": null, "state": "removed", "try_number": 0, "map_index": 1, "max_tries": 0}],
  "total_entries": 2}');
SELECT r.external_id, r.state, r.raw_state FROM kant.job_run r WHERE r.business_date = '2026-03-11' ORDER BY 1;
SELECT done, failed FROM kant.job j, kant._job_day(j.job_id, '2026-03-11') WHERE j.dag_id = 'fan';
SELECT kant.kant_gate_ready('fan_gate', '2026-03-11') AS gate_open;
SELECT kant.refresh_slo('fan_slo', '2026-03-11', '2026-03-11') AS evaluated;
SELECT y.business_date, y.slo_status FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'fan_slo' AND y.business_date BETWEEN '2026-03-10' AND '2026-03-11' ORDER BY 1;

-- 4. Several slots a day: every run counts.  A job at 01:00 and 13:00 UTC
--    whose 01:00 run failed, with the 13:00 run and an extra run from the
--    console both successful: the failed slot stays failed (a later run does
--    not say which slot it stands in for), the gate stays closed.
SELECT kant.add_system('twice', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('twice', 'sync', pipeline => 'twice') > 0 AS configured;
SELECT kant.set_schedule('twice', '0 1,13 * * *', job => 'sync', grace => '30 minutes',
                         active_from => '2026-03-10', active_until => '2026-03-12') > 0 AS scheduled;
SELECT kant.expand_schedules('2026-03-14 00:00+00') >= 0 AS expanded;
SELECT count(*) AS slots FROM kant.expected_run x JOIN kant.job j USING (job_id)
WHERE j.name = 'sync' AND x.business_date = '2026-03-11';
SELECT kant.create_gate('twice_gate', pipeline => 'twice', when_stale => 'open') > 0 AS gate;
SELECT sum((kant.report_run('twice', 'sync', r, s, '2026-03-11', 1, b, e)).inserted) AS reported
FROM (VALUES ('r01', 'failed', timestamptz '2026-03-11 01:00+00', timestamptz '2026-03-11 01:10+00'),
             ('r13', 'succeeded', '2026-03-11 13:00+00', '2026-03-11 13:10+00'),
             ('extra', 'succeeded', '2026-03-11 14:00+00', '2026-03-11 14:10+00')) AS x(r, s, b, e);
SELECT done, failed, runs, counted_runs FROM kant.job j, kant._job_day(j.job_id, '2026-03-11') WHERE j.name = 'sync';
SELECT kind, summary FROM kant.check_conditions('2026-03-11 15:00+00') WHERE summary LIKE 'twice/%';
SELECT kant.kant_gate_ready('twice_gate', '2026-03-11') AS gate_open;

-- 5. Another attempt after a success.  Clearing a task instance in Airflow
--    (clear_task_instances, airflow/models/taskinstance.py) makes the
--    scheduler run it again as the next try_number.  Try 1 succeeded at
--    05:00, the SLO is 06:00, the task was cleared and try 2 ran at 10:00:
--    the data was delivered by the deadline, so the SLO is met with the 05:00
--    completion whatever try 2 does.  The gate answers about now: closed
--    while try 2 runs and after it failed (with a failure alert), open again
--    when it succeeds.
SELECT inserted FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "again", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T04:30:00+00:00",
   "end_date": "2026-03-11T05:00:00+00:00", "state": "success", "try_number": 1, "map_index": -1, "max_tries": 0}],
  "total_entries": 1}');
SELECT kant.configure_job('af', 'again.load', pipeline => 'again') > 0 AS configured;
SELECT kant.create_slo('again_slo', '06:00', deadline_offset_days => 1, time_zone => 'UTC',
                       pipeline => 'again', evaluate_from => '2026-03-10') > 0 AS slo;
SELECT kant.create_gate('again_gate', pipeline => 'again', when_stale => 'open') > 0 AS gate;
-- try 2 running
SELECT inserted, updated FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "again", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T10:00:00+00:00",
   "end_date": null, "state": "running", "try_number": 2, "map_index": -1, "max_tries": 1}],
  "total_entries": 1}');
SELECT kant.kant_gate_ready('again_gate', '2026-03-10') AS gate_open;
SELECT done_since FROM kant.job j, kant._done_since(j.job_id, '2026-03-10') WHERE j.dag_id = 'again';
-- try 2 failed
SELECT inserted, updated FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "again", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T10:00:00+00:00",
   "end_date": "2026-03-11T10:30:00+00:00", "state": "failed", "try_number": 2, "map_index": -1, "max_tries": 1}],
  "total_entries": 1}');
SELECT kant.kant_gate_ready('again_gate', '2026-03-10') AS gate_open;
SELECT kind, summary FROM kant.check_conditions('2026-03-11 11:00+00') WHERE summary LIKE '%again%' ORDER BY kind;
SELECT kant.refresh_slo('again_slo', '2026-03-10', '2026-03-10') AS evaluated;
SELECT y.slo_status, y.sla_status, y.completed_at, y.runs, y.done, y.failures, y.retries
FROM kant.slo_day y JOIN kant.slo s USING (slo_id) WHERE s.name = 'again_slo' AND y.business_date = '2026-03-10';
-- try 3 succeeded: the gate opens again; the completion stays at 05:00
SELECT inserted FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "again", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T11:00:00+00:00",
   "end_date": "2026-03-11T11:20:00+00:00", "state": "success", "try_number": 3, "map_index": -1, "max_tries": 2}],
  "total_entries": 1}');
SELECT kant.kant_gate_ready('again_gate', '2026-03-10') AS gate_open;
SELECT kant.refresh_slo('again_slo', '2026-03-10', '2026-03-10') AS evaluated;
SELECT y.slo_status, y.completed_at FROM kant.slo_day y JOIN kant.slo s USING (slo_id)
WHERE s.name = 'again_slo' AND y.business_date = '2026-03-10';

-- 6. A map index is Airflow's: kant appends "#<map_index>" to an Airflow run
--    id only (Airflow refuses "#" in run ids of its own since 2.6.3,
--    [scheduler] allowed_run_id_pattern).  A reporting system's "export#1"
--    and "export#2" are two runs: the later one recovers the failed one.
--    Two runs that started together are both counted: neither recovers the
--    other.
SELECT kant.add_system('rep', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('rep', j) > 0 AS configured FROM unnest(ARRAY['export', 'twin']) AS j;
SELECT sum((kant.report_run('rep', j, r, s, '2026-03-12', 1, b, e)).inserted) AS reported
FROM (VALUES ('export', 'export#1', 'failed', timestamptz '2026-03-12 01:00+00', timestamptz '2026-03-12 01:10+00'),
             ('export', 'export#2', 'succeeded', '2026-03-12 02:00+00', '2026-03-12 02:10+00'),
             ('twin', 'a', 'failed', '2026-03-12 01:00+00', '2026-03-12 01:10+00'),
             ('twin', 'b', 'succeeded', '2026-03-12 01:00+00', '2026-03-12 01:20+00')) AS x(j, r, s, b, e);
SELECT j.name, jd.done, jd.failed, jd.runs, jd.counted_runs
FROM kant.job j, kant._job_day(j.job_id, '2026-03-12') jd
WHERE j.system_id = (SELECT system_id FROM kant.system WHERE name = 'rep') ORDER BY 1;

-- 7. An SLA end never given stays the end of the deadline's local day when
--    the deadline moves (issue 13, section 3): 06:00 the next morning becomes
--    23:00 the same day, so the SLA end moves from the end of the next day
--    to the end of the same day; and back, which used to be refused.
SELECT kant.create_slo('sla_default', '06:00', deadline_offset_days => 1, time_zone => 'UTC',
                       pipeline => 'jp', evaluate_from => '2026-03-10') > 0 AS slo;
SELECT deadline_offset_days, deadline_time, sla_offset_days, sla_time, sla_default FROM kant.slo WHERE name = 'sla_default';
SELECT kant.alter_slo('sla_default', '23:00', deadline_offset_days => 0);
SELECT deadline_offset_days, deadline_time, sla_offset_days, sla_time, sla_default FROM kant.slo WHERE name = 'sla_default';
SELECT kant.alter_slo('sla_default', '06:00', deadline_offset_days => 1);
SELECT deadline_offset_days, deadline_time, sla_offset_days, sla_time, sla_default FROM kant.slo WHERE name = 'sla_default';
-- one given is kept as given
SELECT kant.alter_slo('sla_default', sla_end => '12:00', sla_offset_days => 1);
SELECT kant.alter_slo('sla_default', '07:00');
SELECT deadline_offset_days, deadline_time, sla_offset_days, sla_time, sla_default FROM kant.slo WHERE name = 'sla_default';
-- and made a default again (an end 0.5.0's alter_slo left a day late, say)
SELECT kant.alter_slo('sla_default', sla_default => true);
SELECT deadline_offset_days, deadline_time, sla_offset_days, sla_time, sla_default FROM kant.slo WHERE name = 'sla_default';
SELECT kant.alter_slo('sla_default', sla_end => '12:00', sla_default => true);

-- 8. Expected runs far enough ahead for any business-date offset (issue 13,
--    section 2): a job whose business date is two days before its run
--    (bd_offset_days => -2) runs today for the date of two days ago, and in
--    two days for today's: today's run is expected already (not no_data),
--    and kant._required says so for every date up to today.  Relative to
--    the clock on purpose: the default horizon is "from now".
SELECT kant.add_system('settle', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('settle', 'settle', bd_offset_days => -2) > 0 AS configured;
SELECT kant.set_schedule('settle', '0 23 * * *', job => 'settle',
                         active_from => (now() AT TIME ZONE 'UTC')::date - 10) > 0 AS scheduled;
SELECT count(*) = 11 AS every_date_to_today_expected
FROM kant.expected_run x JOIN kant.job j USING (job_id)
WHERE j.name = 'settle' AND x.business_date BETWEEN (now() AT TIME ZONE 'UTC')::date - 10
                                                AND (now() AT TIME ZONE 'UTC')::date;
SELECT bool_and(r.required) AS required_every_date
FROM kant.job j, generate_series(0, 10) AS i,
     LATERAL kant._required(j.job_id, (now() AT TIME ZONE 'UTC')::date - i) r
WHERE j.name = 'settle';
SELECT x.expanded_until >= now() + interval '6 days' AS far_enough FROM kant.schedule x JOIN kant.job j USING (job_id)
WHERE j.name = 'settle';

-- 9. Each schedule in its scheduler's dialect (issue 13, section 2).
--    Airflow reads a DAG's cron with croniter (airflow/timetables/_cron.py),
--    whose day rule differs from Vixie cron's: when neither day field is *,
--    a day matches either, even when one begins with * (croniter.py
--    _calc_next; Vixie cron and pg_cron let a leading * make both apply).
--    "0 0 */2 * 1" runs on 1, 3, 5, 7, 8 and 9 January 2024 in Airflow, on
--    the 1st only in standard cron.  test/scripts/croniter_oracle.py holds
--    kant's croniter dialect to croniter itself on hundreds of expressions.
SELECT count(*) AS airflow_runs FROM kant.cron_occurrences('0 0 */2 * 1', 'UTC', '2024-01-01', '2024-01-11', 'croniter');
SELECT count(*) AS vixie_runs FROM kant.cron_occurrences('0 0 */2 * 1', 'UTC', '2024-01-01', '2024-01-11', 'vixie');
SELECT kant.cron_next('1 1 */32,1-7 * 2', 'UTC', '2024-07-12', 'croniter') AS airflow_next,
       kant.cron_next('1 1 */32,1-7 * 2', 'UTC', '2024-07-12', 'vixie') AS vixie_next;
-- Airflow's presets add @quarterly (airflow/utils/dates.py cron_presets);
-- croniter's L (last day), L5 (last Friday) and 5#2 (second Friday)
SELECT kant.cron_next('@quarterly', 'UTC', '2024-02-10', 'croniter') AS quarterly,
       kant.cron_next('0 0 L * *', 'UTC', '2024-02-01', 'croniter') AS last_day,
       kant.cron_next('0 0 * * L5', 'UTC', '2024-01-01', 'croniter') AS last_friday,
       kant.cron_next('0 0 * * 5#2', 'UTC', '2024-01-01', 'croniter') AS second_friday;
SELECT kant.cron_check('@quarterly', 'vixie');
SELECT kant.cron_check('0 0 * * 5L', 'croniter');
SELECT kant.cron_check('0 0 * * 1,5#2', 'croniter');
SELECT kant.cron_check('cron(0 1 * * ? *)', 'croniter');
SELECT kant.cron_is_valid('0 0 * * *', 'cronie');
-- a schedule records its dialect from where it came from: an Airflow
-- system's is croniter's, a Glue trigger's AWS cron, any other standard cron
SELECT kant.configure_job('af', 'odd_days.load') > 0 AS configured;
SELECT kant.set_schedule('af', '0 0 */2 * 1', job => 'odd_days.load', slot_date => 'start',
                         active_from => '2024-01-01', active_until => '2024-01-10') > 0 AS scheduled;
SELECT kant.configure_job('rep', 'odd_days') > 0 AS configured;
SELECT kant.set_schedule('rep', '0 0 */2 * 1', job => 'odd_days',
                         active_from => '2024-01-01', active_until => '2024-01-10') > 0 AS scheduled;
SELECT kant.set_schedule('jp', 'cron(0 17 * * ? *)', job => 'nightly_load',
                         active_from => '2024-01-01', active_until => '2024-01-10') > 0 AS scheduled;
SELECT sy.name AS system, j.name AS job, x.cron, x.dialect,
       (SELECT count(*) FROM kant.expected_run e WHERE e.job_id = x.job_id) AS expected
FROM kant.schedule x JOIN kant.job j USING (job_id) JOIN kant.system sy USING (system_id)
WHERE j.name IN ('odd_days.load', 'odd_days', 'nightly_load') ORDER BY 1;
SELECT kant.set_schedule('rep', '@quarterly', job => 'odd_days');
SELECT kant.set_schedule('af', '@quarterly', job => 'odd_days.load') > 0 AS scheduled;

-- 10. DAGs without cron slots are recorded once, not warned about at every
--     collection (issue 13, section 2).  Airflow 3 gives a DAG's timetable
--     as timetable_summary: "@once" (OnceTimetable), "None" (NullTimetable),
--     "Asset" (asset-triggered), "1 day, 0:00:00" (a timedelta); something
--     else kant cannot read is warned about once, when it appears or changes.
SELECT kant.configure_job('af', j) > 0 AS configured
FROM unnest(ARRAY['once.t', 'manual.t', 'assets.t', 'delta.t', 'odd.t']) AS j;
SELECT kant._collector_schedules('af', ARRAY['once.t', 'manual.t', 'assets.t', 'delta.t', 'odd.t'],
    ARRAY['@once', 'None', 'Asset', '1 day, 0:00:00', 'every other Tuesday'],
    ARRAY['UTC', 'UTC', 'UTC', 'UTC', 'UTC'], 'airflow_dag') AS changed;
SELECT kant._collector_schedules('af', ARRAY['once.t', 'manual.t', 'assets.t', 'delta.t', 'odd.t'],
    ARRAY['@once', 'None', 'Asset', '1 day, 0:00:00', 'every other Tuesday'],
    ARRAY['UTC', 'UTC', 'UTC', 'UTC', 'UTC'], 'airflow_dag') AS changed_again_silently;
SELECT j.name, u.schedule, u.not_cron FROM kant.schedule_unread u JOIN kant.job j USING (job_id) ORDER BY 1;
-- a schedule that becomes cron leaves the list
SELECT kant._collector_schedules('af', ARRAY['odd.t'], ARRAY['0 6 * * 2'], ARRAY['UTC'], 'airflow_dag') AS changed;
SELECT count(*) AS unread FROM kant.schedule_unread u JOIN kant.job j USING (job_id) WHERE j.name = 'odd.t';

-- 11. A cleared task queued again has no start yet (Airflow's REST API gives
--     start_date null for a queued try): it counts from when kant first saw
--     it (kant._began), so it neither undoes a completion before that nor
--     hides that the day is being re-run now.
SELECT inserted FROM kant.ingest_airflow_task_instances('af', '{"task_instances": [
  {"dag_id": "cleared", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": "2026-03-11T04:30:00+00:00",
   "end_date": "2026-03-11T05:00:00+00:00", "state": "success", "try_number": 1, "map_index": -1, "max_tries": 0},
  {"dag_id": "cleared", "task_id": "load", "dag_run_id": "scheduled__2026-03-10T00:00:00+00:00",
   "execution_date": "2026-03-10T00:00:00+00:00", "start_date": null,
   "end_date": null, "state": "queued", "try_number": 2, "map_index": -1, "max_tries": 1}],
  "total_entries": 2}');
SELECT r.attempt, r.state, r.superseded_at = r2.first_seen AS superseded_when_try_2_was_seen
FROM kant.job_run r JOIN kant.job j USING (job_id)
LEFT JOIN kant.job_run r2 ON r2.job_id = r.job_id AND r2.external_id = r.external_id AND r2.attempt = 2
WHERE j.dag_id = 'cleared' ORDER BY 1;
SELECT ds.done_since FROM kant.job j, kant._done_since(j.job_id, '2026-03-10') ds WHERE j.dag_id = 'cleared';
SELECT jd.done, jd.in_flight FROM kant.job j, kant._job_day(j.job_id, '2026-03-10') jd WHERE j.dag_id = 'cleared';

-- 12. croniter reads a day-of-week range that ends on Sunday (sat-sun, 5-0)
--     as wrapping around the week, as every croniter version does; standard
--     cron refuses it
SELECT kant.cron_next('0 0 * * sat-sun', 'UTC', '2024-01-01', 'croniter') AS weekend,
       kant.cron_next('0 0 * * 5-0', 'UTC', '2024-01-01', 'croniter') AS friday_to_sunday,
       kant.cron_is_valid('0 0 * * 5-0', 'vixie') AS standard_cron_takes_it;
-- croniter keeps its nth-weekday rule in both halves of its union, so with
-- # or L in day-of-week the day of the month adds nothing (croniter.py
-- _calc_next); what croniter does not read is refused, so that the
-- collector reports it instead of expecting runs that never come
SELECT kant.cron_next('0 0 1-7 * 1#1', 'UTC', '2024-01-02', 'croniter') AS first_monday;
SELECT kant.cron_check('0 0 * * L', 'croniter');
SELECT kant.cron_is_valid('@QUARTERLY', 'croniter') AS airflow_presets_are_case_sensitive;
-- 13. A DAG whose cron becomes @once loses the schedule the collector had
--     set (section 10's odd.t): no slots from now on, those before stay
SELECT kant._collector_schedules('af', ARRAY['odd.t'], ARRAY['@once'], ARRAY['UTC'], 'airflow_dag') AS changed;
SELECT count(*) AS schedules FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE j.name = 'odd.t';
SELECT count(*) AS future_slots FROM kant.expected_run x JOIN kant.job j USING (job_id)
WHERE j.name = 'odd.t' AND x.slot_at > now();

-- 14. A DAG's cron runs in the DAG's time zone (issue 13, section 2).
--     Airflow evaluates a cron in the DAG's timezone, UTC unless the DAG or
--     [core] default_timezone sets one (airflow/timetables/_cron.py,
--     CronMixin); the business date is the local date, in the system's
--     zone, of the run's logical date.  A Tokyo system with a UTC DAG at
--     "0 6 * * *" (Composer's default zone): slots at 06:00 UTC = 15:00 JST.
--     Under CronTriggerTimetable (Airflow 3's default) the logical date is
--     the tick itself; under CronDataIntervalTimetable (Airflow 2's) the
--     previous tick.
SELECT kant.add_system('tok', 'airflow', 'Asia/Tokyo') > 0 AS added;
SELECT kant.configure_job('tok', 'export.load') > 0 AND kant.configure_job('tok', 'legacy.load') > 0 AS configured;
SELECT kant.set_schedule('tok', '0 6 * * *', job => 'export.load', time_zone => 'UTC', slot_date => 'tick',
                         active_from => '2026-03-10', active_until => '2026-03-11') > 0 AS scheduled;
SELECT kant.set_schedule('tok', '0 6 * * *', job => 'legacy.load', time_zone => 'UTC', slot_date => 'previous_tick',
                         active_from => '2026-03-10', active_until => '2026-03-11') > 0 AS scheduled;
SELECT kant.expand_schedules('2026-03-14 00:00+00') >= 0 AS expanded;
SELECT j.name, x.slot_at AT TIME ZONE 'UTC' AS slot_utc, x.slot_at AT TIME ZONE 'Asia/Tokyo' AS slot_tokyo,
       x.business_date
FROM kant.expected_run x JOIN kant.job j USING (job_id)
WHERE j.name IN ('export.load', 'legacy.load') ORDER BY 1, 2;
-- what a collector found: the zone as Airflow's API prints it
-- (kant._airflow_zone), the timetable as the DAG's next run shows it, else
-- the system's kant.set_cron_timetable, else the version's default
SELECT z, kant._airflow_zone(z) FROM unnest(ARRAY['UTC', 'Timezone(''Asia/Tokyo'')',
    'FixedTimezone(32400, name="+09:00")', 'FixedTimezone(-18000)', '+05:30', 'Mars/Olympus']) AS z;
SELECT kant.configure_job('tok', 'found.load') > 0 AS configured;
SELECT kant._collector_schedules('tok', ARRAY['found.load'], ARRAY['0 6 * * *'], ARRAY['Timezone(''UTC'')'],
                                 'airflow_dag', ARRAY[NULL], 'tick') AS changed;
SELECT x.time_zone, x.slot_date FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE j.name = 'found.load';
SELECT kant.set_cron_timetable('tok', 'CronDataIntervalTimetable');
SELECT kant._collector_schedules('tok', ARRAY['found.load'], ARRAY['0 6 * * *'], ARRAY[NULL],
                                 'airflow_dag', ARRAY[NULL], 'tick') AS changed;
SELECT x.time_zone, x.slot_date FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE j.name = 'found.load';
SELECT kant._collector_schedules('tok', ARRAY['found.load'], ARRAY['0 6 * * *'], ARRAY[NULL],
                                 'airflow_dag', ARRAY['tick'], 'tick') AS changed;
SELECT x.time_zone, x.slot_date FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE j.name = 'found.load';
SELECT kant.set_cron_timetable('tok', 'CronTimetable');
SELECT kant.set_cron_timetable('nope', NULL);

-- 15. DST as Airflow runs a DAG's cron (airflow/timetables/_cron.py
--     CronMixin._get_next): a repeated local time is its second instance
--     (make_aware with fold=1), a missing one moves forward by the gap; the
--     real-time rule holds only when croniter expands the hour field to "*"
--     (all 24 hours: 0-23 too), not for */2.  Standard cron (vixie) for
--     contrast.  test/scripts/croniter_oracle.py checks 130 schedules around
--     every DST change of 2024 in five zones against that algorithm.
SELECT d AS dialect, string_agg(to_char(t AT TIME ZONE 'UTC', 'HH24:MI'), ' ' ORDER BY t) AS utc_runs
FROM unnest(ARRAY['croniter', 'vixie']) AS d,
     kant.cron_occurrences('30 1 * * *', 'America/New_York', '2024-11-03 00:00+00', '2024-11-04 00:00+00', d) AS t
GROUP BY d ORDER BY d;
SELECT d AS dialect, string_agg(to_char(t AT TIME ZONE 'UTC', 'HH24:MI'), ' ' ORDER BY t) AS utc_runs
FROM unnest(ARRAY['croniter', 'vixie']) AS d,
     kant.cron_occurrences('30 */2 * * *', 'America/New_York', '2024-03-10 04:00+00', '2024-03-10 10:00+00', d) AS t
GROUP BY d ORDER BY d;
SELECT d AS dialect, string_agg(to_char(t AT TIME ZONE 'UTC', 'HH24:MI'), ' ' ORDER BY t) AS utc_runs
FROM unnest(ARRAY['croniter', 'vixie']) AS d,
     kant.cron_occurrences('30 0-23 * * *', 'America/New_York', '2024-11-03 04:00+00', '2024-11-03 08:00+00', d) AS t
GROUP BY d ORDER BY d;
-- an offset is no zone to give: PostgreSQL would read "+05:30" and "GMT+8"
-- west of UTC, the opposite of what a DAG's "+05:30" means; the POSIX form
-- says it plainly, and IANA's Etc/GMT+8 and EST5EDT are zones
SELECT kant.cron_next('30 4 * * *', '<+0530>-05:30', '2026-03-10 00:00+00', 'croniter') AS at_0430_india;
SELECT kant.set_schedule('tok', '0 6 * * *', job => 'export.load', time_zone => '+05:30');
SELECT kant.set_schedule('tok', '0 6 * * *', job => 'export.load', time_zone => 'GMT+8');
SELECT kant.add_system('utc_minus', 'manual', 'UTC-3');
SELECT kant.add_system('five_thirty', 'manual', '<+0530>-05:30') > 0 AS added,
       kant.add_system('us_east_legacy', 'manual', 'EST5EDT') > 0 AS added,
       kant.add_system('gmt_plus_8', 'manual', 'Etc/GMT+8') > 0 AS added;
-- croniter reads 15-L in day-of-month as the 15th to the last day (croniter.py:
-- a range's high "l" is 31): 15 days in February 2024; standard cron has no L
SELECT (SELECT count(*) FROM kant.cron_occurrences('0 0 15-L * *', 'UTC', '2024-02-01', '2024-03-01', 'croniter')) AS feb_runs,
       kant.cron_is_valid('0 0 15-L * *', 'vixie') AS standard_cron_takes_it;
