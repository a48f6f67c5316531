/*
 * locks.h
 *	  kant's advisory locks: every one it takes, in one list.
 *
 * Each is pg_advisory_xact_lock(key1, key2) (int4 pair), key1 from here.
 * The SQL side takes its keys through kant._lock_key(purpose), and
 * kant.advisory_locks() shows the list (src/locks.c): a lock seen in
 * pg_locks (classid = key1, objid = key2) is named there.  Keys are
 * "kant" (0x6B616E74) plus a small number, in decimal because SQL reads them.
 */
#ifndef KANT_LOCKS_H
#define KANT_LOCKS_H

#define KANT_LOCK_INGEST		1801547380	/* key2: system_id; 0 rejections of no system */
#define KANT_LOCK_SLO_REFRESH	1801547381	/* key2: 1 */
#define KANT_LOCK_COLLECT		1801547382	/* key2: system_id */
#define KANT_LOCK_CHECKS		1801547383	/* key2: 0 checks, 1 delivery */
#define KANT_LOCK_GATE			1801547384	/* key2: gate_id */
#define KANT_LOCK_RECOVER		1801547385	/* key2: job_id */
#define KANT_LOCK_TOKEN			1801547386	/* key2: system_id */
#define KANT_LOCK_MEASURE		1801547387	/* key2: measure_id */
#define KANT_LOCK_RECOVER_DAG	1801547390	/* key2: hashtext(system_id/dag_id) */

#endif							/* KANT_LOCKS_H */
