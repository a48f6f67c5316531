# kant: PGXS build. `make demo` and `make test` set everything up on a fresh Debian 12.
EXTENSION = kant
EXTVERSION = 0.6.0
MODULE_big = kant
# The C files by concern (docs/contributing.md lists them); the ingest engine
# and the collectors each have a private header.
INGEST_OBJS = src/ingest.o src/ingest_plan.o src/ingest_registry.o src/ingest_write.o \
       src/ingest_chain.o src/ingest_reject.o
COLLECT_OBJS = src/collect.o src/collect_reply.o src/collect_glue.o src/collect_airflow.o \
       src/actions.o src/auth.o
OBJS = src/kant.o src/run_state.o src/names.o src/jsonutil.o src/payload.o src/payload_scan.o \
       $(INGEST_OBJS) src/cron.o src/cron_parse.o src/glue.o src/airflow.o src/openlineage.o \
       src/report.o src/slo.o src/job_day.o src/http.o $(COLLECT_OBJS) src/delivery.o src/secrets.o src/gate.o \
       src/locks.o src/quality.o
# The install script of this version is built from the SQL source, one file
# per concern, in this order (a file may use what an earlier one created).
# The scripts of released versions and the upgrade scripts are kept as written.
SQL_SRC = $(addprefix sql/src/,base.sql run_state.sql rules.sql registry.sql ingest.sql schedules.sql \
          slo.sql auth.sql collection.sql pg_cron.sql alerting.sql delivery.sql gates.sql \
          action_log.sql recovery.sql bi.sql quality.sql quality_diff.sql collect_glue_dq.sql quality_ingest.sql \
          quality_measure.sql recovery_airflow.sql rerun.sql hot_collection.sql)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
PGFILEDESC = "kant - batch job run monitoring"

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=kant
ISOLATION = $(patsubst test/isolation/%.spec,%,$(sort $(wildcard test/isolation/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=kant

# libcrypto signs service-account JWTs (src/auth.c); libcurl already links it
SHLIB_LINK += -lcurl -lcrypto -lm
PG_CPPFLAGS += -I$(srcdir)/src
# -Wextra minus unused-parameter: every fmgr function takes fcinfo, not all use it
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SRC) Makefile
	{ printf '%s\n' '/* kant $(EXTVERSION): built by make from $(SQL_SRC:sql/src/%=%) in sql/src; edit those. */' \
	  '\echo Use "CREATE EXTENSION kant" to load this file. \quit' \
	  '-- function bodies may name objects a later file creates (CREATE EXTENSION resets this after)' \
	  'SET check_function_bodies = off;' ''; cat $(SQL_SRC); } > $@

$(OBJS): src/kant.h src/http.h src/payload_scan.h src/locks.h
$(INGEST_OBJS): src/ingest_int.h
$(COLLECT_OBJS): src/collect_int.h
src/cron.o src/cron_parse.o: src/cron_parse.h

# installing into the server's directories needs root; as a user, sudo.
# KANT_DESTDIR=/some/dir installs there instead (no root) and the test server
# finds it through Debian's extension_destdir (test/harness/pgopts.sh).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
ifdef KANT_DESTDIR
export KANT_DESTDIR
INSTALL_IT = $(MAKE) install DESTDIR=$(abspath $(KANT_DESTDIR))
else
INSTALL_IT = $(SUDO) $(MAKE) install
endif

.PHONY: deps test demo bench valgrind fuzz sanitize reference
deps:
	test/harness/deps.sh

# Everything a newcomer needs: packages, build, install, throwaway cluster, all suites.
test: deps
	$(MAKE) all
	$(INSTALL_IT)
	test/harness/run-tests.sh

demo: deps
	$(MAKE) all
	$(INSTALL_IT)
	test/harness/demo.sh

bench: deps
	$(MAKE) all
	$(INSTALL_IT)
	bench/run.sh

# docs/reference.md, generated from the catalog of a fresh CREATE EXTENSION kant
# in a throwaway cluster (test/harness/reference.sh; test/scripts/reference.py
# fails when it is out of date).  Run it after changing any SQL object or setting.
reference: deps
	$(MAKE) all
	$(INSTALL_IT)
	test/harness/reference.sh

# The pg_regress suites with every backend under valgrind memcheck (slow: minutes).
valgrind: deps
	$(MAKE) all
	$(INSTALL_IT)
	test/harness/valgrind.sh

# libFuzzer targets test/fuzz/fuzz_*.c under ASan and UBSan, FUZZ_SECONDS each
# (default 60; 0 replays the seed corpus once).  Not part of `make test`.
fuzz:
	test/harness/deps.sh fuzz
	test/harness/fuzz.sh

# kant.so built with ASan and UBSan (in a scratch copy of the tree), installed
# into KANT_DESTDIR (default /tmp/kant-asan, never the server's directories),
# and the whole suite against a server that preloads libasan.
sanitize:
	test/harness/deps.sh fuzz
	test/harness/sanitize.sh
