-- Upgrades: a 0.1.0 installation with data updates to the current version,
-- keeps its data, and ends with the same objects as a fresh install.
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant VERSION '0.1.0';
SET TimeZone = 'UTC';
SELECT extversion FROM pg_extension WHERE extname = 'kant';
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo') > 0 AS added;
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
SELECT to_regproc('kant.cron_next') IS NULL AS no_cron_yet;

ALTER EXTENSION kant UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'kant';
SELECT count(*) AS runs_kept FROM kant.job_run;
SELECT kant.cron_next('30 2 * * *', 'Asia/Tokyo', '2024-11-24 00:00+00') AS cron_works;
-- ingestion still works after the update, in the same session, and from now
-- on queues what it changes for the SLO refresh
SELECT received, unchanged FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_1", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}');
SELECT kant.create_slo('hegel_nightly', '04:00', jobs => ARRAY['hegel/export_users'],
                       deadline_offset_days => 0) > 0 AS slo_created;
SELECT received, inserted FROM kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_2", "JobName": "export_users", "JobRunState": "SUCCEEDED", "StartedOn": 1732546200}]}');
SELECT business_date FROM kant.slo_dirty;
SELECT kant.refresh_slo() >= 1 AS refreshed;
SELECT business_date, slo_status FROM kant.slo_day ORDER BY 1 LIMIT 2;

-- A fresh install (sql/kant--0.6.0.sql, built from sql/src) and this
-- database, updated step by step from 0.1.0, must be the same extension: every
-- property of every object kant owns and of their parts, compared as text
-- (pg_get_functiondef, pg_get_viewdef, columns in order with types, defaults,
-- collations and identity, constraints, indexes, triggers, comments, rights).
-- Everything an installation of kant consists of, as text: one row per
-- property of every object the extension owns and of their parts.
CREATE FUNCTION pg_temp.kant_catalog(OUT kind text, OUT ident text, OUT prop text, OUT val text)
RETURNS SETOF record LANGUAGE sql AS $f$
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'kant'),
mem AS (SELECT d.classid, d.objid FROM pg_depend d, ext
        WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rel AS (SELECT c.* FROM pg_class c JOIN mem ON mem.classid = 'pg_class'::regclass AND mem.objid = c.oid),
fn AS (SELECT p.* FROM pg_proc p JOIN mem ON mem.classid = 'pg_proc'::regclass AND mem.objid = p.oid)
-- functions, procedures, aggregates: the whole definition, rights, comment
SELECT 'function', p.oid::regprocedure::text, 'definition',
       CASE WHEN p.prokind = 'a' THEN (SELECT format('%s %s %s %s %s', a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggtranstype::regtype, a.agginitval)
                                       FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
            ELSE pg_get_functiondef(p.oid) END FROM fn p
UNION ALL SELECT 'function', p.oid::regprocedure::text, 'acl', p.proacl::text FROM fn p
UNION ALL SELECT 'function', p.oid::regprocedure::text, 'owner-is-extension-owner',
       (p.proowner = (SELECT extowner FROM pg_extension WHERE extname = 'kant'))::text FROM fn p
UNION ALL SELECT 'function', p.oid::regprocedure::text, 'comment', obj_description(p.oid, 'pg_proc') FROM fn p
-- tables, views, sequences
UNION ALL SELECT c.relkind::text, c.oid::regclass::text, 'acl', c.relacl::text FROM rel c
UNION ALL SELECT c.relkind::text, c.oid::regclass::text, 'options', c.reloptions::text FROM rel c
UNION ALL SELECT c.relkind::text, c.oid::regclass::text, 'persistence', c.relpersistence::text FROM rel c
UNION ALL SELECT c.relkind::text, c.oid::regclass::text, 'comment', obj_description(c.oid, 'pg_class') FROM rel c
UNION ALL SELECT 'v', c.oid::regclass::text, 'definition', pg_get_viewdef(c.oid) FROM rel c WHERE c.relkind = 'v'
UNION ALL SELECT 'S', c.oid::regclass::text, 'sequence', format('%s %s %s %s %s %s', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcycle)
       FROM rel c JOIN pg_sequence s ON s.seqrelid = c.oid
-- columns, in order (a column's position counts, not its attnum: upgrades may leave holes)
UNION ALL SELECT 'column', c.oid::regclass::text || '.' || a.attname, 'definition',
       format('#%s %s %s notnull=%s identity=%s generated=%s default=%s',
              rank() OVER (PARTITION BY c.oid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attcollation <> 0 THEN (SELECT collname FROM pg_collation WHERE oid = a.attcollation) END,
              a.attnotnull, a.attidentity, a.attgenerated, pg_get_expr(ad.adbin, ad.adrelid))
       FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL SELECT 'column', c.oid::regclass::text || '.' || a.attname, 'comment', col_description(c.oid, a.attnum)
       FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'column', c.oid::regclass::text || '.' || a.attname, 'acl', a.attacl::text
       FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'column', c.oid::regclass::text || '.' || a.attname, 'statistics', a.attstattarget::text
       FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
-- constraints, indexes, triggers, rules
UNION ALL SELECT 'constraint', co.conrelid::regclass::text || '.' || co.conname, 'definition',
       pg_get_constraintdef(co.oid) || ' deferrable=' || co.condeferrable || ' valid=' || co.convalidated
       FROM pg_constraint co JOIN rel c ON c.oid = co.conrelid
UNION ALL SELECT 'constraint', co.conrelid::regclass::text || '.' || co.conname, 'comment', obj_description(co.oid, 'pg_constraint')
       FROM pg_constraint co JOIN rel c ON c.oid = co.conrelid
UNION ALL SELECT 'index', i.indexrelid::regclass::text, 'definition', pg_get_indexdef(i.indexrelid)
       FROM pg_index i JOIN rel c ON c.oid = i.indrelid
UNION ALL SELECT 'index', i.indexrelid::regclass::text, 'comment', obj_description(i.indexrelid, 'pg_class')
       FROM pg_index i JOIN rel c ON c.oid = i.indrelid
UNION ALL SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, 'definition', pg_get_triggerdef(t.oid)
       FROM pg_trigger t JOIN rel c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL SELECT 'rule', r.ev_class::regclass::text || '.' || r.rulename, 'definition', pg_get_ruledef(r.oid)
       FROM pg_rewrite r JOIN rel c ON c.oid = r.ev_class WHERE r.rulename <> '_RETURN'
-- types (composite ones by their attributes, above), operators, opclasses, casts
UNION ALL SELECT 'type', t.oid::regtype::text, 'definition',
       format('%s %s %s %s %s %s %s %s', t.typtype, t.typlen, t.typbyval, t.typalign, t.typinput, t.typoutput, t.typreceive, t.typsend)
       FROM pg_type t JOIN mem ON mem.classid = 'pg_type'::regclass AND mem.objid = t.oid
UNION ALL SELECT 'type', t.oid::regtype::text, 'comment', obj_description(t.oid, 'pg_type')
       FROM pg_type t JOIN mem ON mem.classid = 'pg_type'::regclass AND mem.objid = t.oid
UNION ALL SELECT 'type-attribute', t.oid::regtype::text || '.' || a.attname, 'definition',
       format('#%s %s', a.attnum, format_type(a.atttypid, a.atttypmod))
       FROM pg_type t JOIN mem ON mem.classid = 'pg_type'::regclass AND mem.objid = t.oid
       JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'operator', o.oid::regoperator::text, 'definition',
       format('%s %s %s %s %s %s %s', o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin, o.oprcanmerge, o.oprcanhash)
       FROM pg_operator o JOIN mem ON mem.classid = 'pg_operator'::regclass AND mem.objid = o.oid
UNION ALL SELECT 'operator class', oc.opcname || ' ' || am.amname, 'definition',
       format('%s default=%s members=%s support=%s', oc.opcintype::regtype, oc.opcdefault,
              (SELECT string_agg(ao.amopstrategy || ':' || ao.amopopr::regoperator, ' ' ORDER BY ao.amopstrategy) FROM pg_amop ao WHERE ao.amopfamily = oc.opcfamily),
              (SELECT string_agg(ap.amprocnum || ':' || ap.amproc::regprocedure, ' ' ORDER BY ap.amprocnum) FROM pg_amproc ap WHERE ap.amprocfamily = oc.opcfamily))
       FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod JOIN mem ON mem.classid = 'pg_opclass'::regclass AND mem.objid = oc.oid
UNION ALL SELECT 'cast', format('%s -> %s', ca.castsource::regtype, ca.casttarget::regtype), 'definition',
       format('%s %s %s', ca.castfunc::regprocedure, ca.castcontext, ca.castmethod)
       FROM pg_cast ca JOIN mem ON mem.classid = 'pg_cast'::regclass AND mem.objid = ca.oid
-- the rest by description: every member is listed (an object of a kind not described above still counts)
UNION ALL SELECT 'member', pg_describe_object(mem.classid, mem.objid, 0), 'exists', 'yes' FROM mem
-- what pg_dump keeps of the tables' rows
UNION ALL SELECT 'config', x.t::regclass::text, 'condition', x.c
       FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(t, c) WHERE e.extname = 'kant'
$f$;
CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.kant_catalog();
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SELECT extversion FROM pg_extension WHERE extname = 'kant';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.kant_catalog();
-- what was compared: the kinds of object, and that none is missing
SELECT kind, count(DISTINCT ident) > 0 AS compared FROM fresh GROUP BY kind ORDER BY kind;
SELECT (SELECT count(*) FROM fresh) > 3000 AS thousands_of_properties,
       (SELECT count(*) FROM fresh) = (SELECT count(*) FROM updated) AS as_many;
SELECT 'only after update' AS side, * FROM (SELECT * FROM updated EXCEPT SELECT * FROM fresh) x
UNION ALL
SELECT 'only in a fresh install', * FROM (SELECT * FROM fresh EXCEPT SELECT * FROM updated) x
ORDER BY kind, ident, prop, side;
SELECT version FROM pg_available_extension_versions WHERE name = 'kant' ORDER BY version;

-- 0.5.0 -> 0.6.0 keeps what a team set up: a gate's condition (a name
-- resolved at each call, run as kant's owner) becomes the function's OID, run
-- as its owner; one that no longer resolves keeps the gate closed; open
-- alerts keep their identity under keys made of ids
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant VERSION '0.5.0';
CREATE FUNCTION public.upg_dq_ok(gate text, business_date date) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
SELECT kant.add_system('etl', 'manual', 'UTC') > 0 AS added;
SELECT kant.configure_job('etl', 'extract', pipeline => 'p') > 0 AS configured;
SELECT kant.create_gate('with_dq', pipeline => 'p', condition => 'public.upg_dq_ok') > 0 AS gate,
       kant.create_gate('with_lost', pipeline => 'p', condition => 'public.upg_dq_ok') > 0 AS gate2;
UPDATE kant.gate SET condition = 'public.no_longer_there' WHERE name = 'with_lost';
SELECT (kant.report_run('etl', 'extract', 'r1', 'failed', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 01:05+00')).inserted;
SELECT open_now FROM kant.run_checks('2026-03-01 02:00+00');
SELECT alert_key FROM kant.alert;
SELECT (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected,
       (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected;
-- attempts superseded before 0.6.0: a retried attempt and a Glue retry chain
-- (the C module of 0.6.0 ingests into a 0.5.0 table too: no superseded_at yet)
SELECT kant.add_system('glue5', 'glue', 'UTC') > 0 AS added;
SELECT (kant.ingest_glue_job_runs('glue5', '{"JobRuns": [
  {"Id": "jr_a", "JobName": "exp", "JobRunState": "FAILED", "StartedOn": 1772326800, "CompletedOn": 1772327100},
  {"Id": "jr_b", "JobName": "exp", "PreviousRunId": "jr_a", "Attempt": 1, "JobRunState": "SUCCEEDED",
   "StartedOn": 1772327400, "CompletedOn": 1772328000}]}')).inserted;
SELECT (kant.report_run('etl', 'extract', 'r3', 'failed', '2026-03-02', 1, '2026-03-02 01:00+00', '2026-03-02 01:05+00')).inserted,
       (kant.report_run('etl', 'extract', 'r3', 'succeeded', '2026-03-02', 2, '2026-03-02 02:00+00', '2026-03-02 02:10+00')).inserted;
-- grants a team gave on what 0.6.0 re-creates (new signatures, a view made
-- again) are carried over to the new objects
CREATE ROLE kant_upg_admin NOLOGIN;
CREATE ROLE kant_upg_reader NOLOGIN;
GRANT EXECUTE ON FUNCTION kant.set_credentials(text, text, text, text, boolean) TO kant_upg_admin WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION kant.create_gate(text, text, text[], text, text, interval, text, text, text) TO kant_upg_admin;
GRANT SELECT ON kant.runs_by_business_date TO kant_upg_reader;
GRANT EXECUTE ON FUNCTION kant.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text) TO kant_upg_admin;
GRANT EXECUTE ON FUNCTION kant.schedule_checks(text, text) TO kant_upg_admin;
GRANT EXECUTE ON PROCEDURE kant.deliver_notifications(double precision) TO kant_upg_admin;
ALTER EXTENSION kant UPDATE TO '0.6.0';
SELECT has_function_privilege('kant_upg_admin', 'kant.set_credentials(text, text, text, text, boolean, boolean)',
                              'EXECUTE WITH GRANT OPTION') AS admin_credentials,
       has_function_privilege('kant_upg_admin', 'kant.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer)',
                              'EXECUTE') AS admin_gate,
       has_table_privilege('kant_upg_reader', 'kant.runs_by_business_date', 'SELECT') AS reader_view,
       has_function_privilege('kant_upg_admin', 'kant.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text, boolean)',
                              'EXECUTE') AS admin_alter_slo,
       has_function_privilege('kant_upg_reader', 'kant.set_channel(text, text, boolean, interval, boolean)',
                              'EXECUTE') AS reader_channel_not_granted;
-- and who could schedule or deliver may run the helpers those now call
SELECT has_function_privilege('kant_upg_admin', 'kant._cron_job(text, text, text)', 'EXECUTE') AS cron_job,
       has_function_privilege('kant_upg_admin', 'kant._collect_command(text)', 'EXECUTE') AS collect_command,
       has_function_privilege('kant_upg_admin', 'kant._deliver_round(timestamptz, double precision)', 'EXECUTE') AS deliver_round,
       has_function_privilege('kant_upg_admin', 'kant._cron_others(text, text)', 'EXECUTE') AS cron_others,
       has_function_privilege('kant_upg_reader', 'kant._cron_job(text, text, text)', 'EXECUTE') AS reader_cron_job,
       has_function_privilege('kant_upg_reader', 'kant._cron_others(text, text)', 'EXECUTE') AS reader_cron_others;
REVOKE ALL ON FUNCTION kant.set_credentials(text, text, text, text, boolean, boolean) FROM kant_upg_admin CASCADE;
REVOKE ALL ON FUNCTION kant.create_gate(text, text, text[], text, text, interval, text, text, text, date, integer) FROM kant_upg_admin;
REVOKE ALL ON kant.runs_by_business_date FROM kant_upg_reader;
REVOKE ALL ON FUNCTION kant.alter_slo(text, time, integer, text, text, text[], time, integer, numeric, integer, text, date, text, text, boolean) FROM kant_upg_admin;
REVOKE ALL ON FUNCTION kant.schedule_checks(text, text), kant._cron_job(text, text, text), kant._cron_unjob(text),
  kant._cron_name(text, text), kant._collect_command(text), kant._deliver_round(timestamptz, double precision),
  kant._cron_others(text, text)
  FROM kant_upg_admin;
REVOKE ALL ON PROCEDURE kant.deliver_notifications(double precision) FROM kant_upg_admin;
DROP ROLE kant_upg_admin;
DROP ROLE kant_upg_reader;
SELECT j.name, r.external_id, r.attempt, r.superseded_at FROM kant.job_run r JOIN kant.job j USING (job_id)
ORDER BY 1, 2, 3;
SELECT job, external_id, attempt, is_current FROM kant.runs ORDER BY 1, 2, 3;
SELECT name, condition, condition_role FROM kant.gate ORDER BY name;
-- a record quarantined twice under 0.5.0 keeps its two rows (no key); rejected
-- again it gets one keyed row, which counts it from then on
SELECT times_seen, last_batch_id = batch_id AS last_is_first, last_seen_at = rejected_at AS seen_when_rejected,
       record_sha256 = sha256(convert_to(record::text, 'UTF8')) AS hashed, dedup_key IS NULL AS no_key
FROM kant.rejected ORDER BY rejected_id;
SELECT (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected,
       (kant.ingest_reports('etl', '{"runs": [{"job": "extract", "run_id": "r2", "state": "sideways"}]}')).rejected;
SELECT times_seen, dedup_key IS NULL AS no_key, record_sha256 = sha256(convert_to(record::text, 'UTF8')) AS hashed
FROM kant.rejected ORDER BY rejected_id;
SELECT (kant.report_run('etl', 'extract', 'r1', 'succeeded', '2026-03-01', 1, '2026-03-01 01:00+00', '2026-03-01 01:06+00')).inserted IS NOT NULL AS reported;
SELECT kant.kant_gate_ready('with_dq', '2026-03-01') AS ready;
SELECT kant.kant_gate_ready('with_lost', '2026-03-01') AS ready;
SELECT alert_key = kant._alert_key('failure', 'job', job_id, business_date) AS rekeyed, status FROM kant.alert;
SELECT opened, resolved FROM kant.run_checks('2026-03-01 02:10+00');
DROP FUNCTION public.upg_dq_ok(text, date);
