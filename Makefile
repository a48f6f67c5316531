# kant: PGXS build. `make demo` and `make test` set everything up on a fresh Debian 12.
EXTENSION = kant
EXTVERSION = 0.6.0
MODULE_big = kant
OBJS = src/kant.o src/run_state.o src/jsonutil.o src/payload_scan.o src/ingest.o src/cron.o \
       src/glue.o src/airflow.o src/openlineage.o src/report.o src/slo.o src/http.o src/collect.o src/alert.o
DATA = $(wildcard sql/kant--*.sql)
PGFILEDESC = "kant - batch job run monitoring"

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=kant
ISOLATION = $(patsubst test/isolation/%.spec,%,$(sort $(wildcard test/isolation/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=kant

SHLIB_LINK += -lcurl -lm
PG_CPPFLAGS += -I$(srcdir)/src
# -Wextra minus unused-parameter: every fmgr function takes fcinfo, not all use it
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

src/*.o: src/kant.h src/http.h src/payload_scan.h

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

.PHONY: deps test demo bench valgrind
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

# The pg_regress suites with every backend under valgrind memcheck (slow: minutes).
valgrind: deps
	$(MAKE) all
	$(INSTALL_IT)
	test/harness/valgrind.sh
