# PGXS build of the extension: pg_plivo.so from extension/ and dispatcher/, the control
# file and install scripts from sql/, and `make installcheck` (pg_regress + isolation).
# The version in development is the control file's default_version. A released
# version's install script is committed in sql/ and listed in sql/released.sha256, never
# edited again; the one in development is put together from sql/src/*.sql (one file per
# part of the schema, by sql/assemble.sh). Upgrade scripts (pg_plivo--A--B.sql) are kept
# in sql/ as they are.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" sql/pg_plivo.control)
RELEASED_SQL := $(shell awk '{print $$2}' sql/released.sha256)

MODULE_big = pg_plivo
OBJS = $(patsubst %.cpp,%.o,$(sort $(wildcard extension/*.cpp dispatcher/*.cpp)))
PGFILEDESC = "pg_plivo - send MMS and SMS through Plivo from PostgreSQL"

# The control file lives in sql/, so it is installed as DATA rather than through EXTENSION.
MODULEDIR = extension
PLIVO_INSTALL_SQL = sql/pg_plivo--$(EXTVERSION).sql
ifeq ($(filter $(PLIVO_INSTALL_SQL),$(RELEASED_SQL)),)
DATA_built = $(PLIVO_INSTALL_SQL)
EXTRA_CLEAN = $(PLIVO_INSTALL_SQL)
endif
DATA = sql/pg_plivo.control $(filter-out $(DATA_built),$(wildcard sql/pg_plivo--*.sql))

# tests/regress/sql/setup.sql creates the Supabase roles and the extension itself
# (the grants depend on the roles existing first), so no --load-extension here.
REGRESS_OPTS = --inputdir=tests/regress --outputdir=tests/regress
REGRESS = $(shell sed -n 's/^test: *//p' tests/regress/schedule)
ISOLATION_OPTS = --inputdir=tests/isolation --outputdir=tests/isolation \
	--load-extension=pg_plivo
ISOLATION = $(shell sed -n 's/^test: *//p' tests/isolation/schedule)

PG_CONFIG ?= pg_config

PG_CPPFLAGS = -Idispatcher
PG_CXXFLAGS = -std=c++17 -Wno-register -Wall -Wextra -Wno-unused-parameter \
	-Wno-missing-field-initializers
SHLIB_LINK = -lstdc++ -lphonenumber -lcurl -lcrypto

# Servers built --with-llvm make PGXS emit JIT bitcode for every object; it cannot do
# that for C++ with our flags and nothing here benefits from inlining into JIT code.
# (`override` before the include wins over Makefile.global's with_llvm = yes.)
override with_llvm = no

# Rebuild objects when a header they include changes (.deps/*.Po; file names are unique
# across extension/ and dispatcher/). Without it a changed class layout links stale
# objects against new ones. (`override`, as above: Makefile.global sets it empty.)
override autodepend = yes

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every regress/isolation test file must be in its schedule, and every entry must exist;
# released scripts are unchanged and sql/src has not changed under a released version.
.PHONY: check-schedules check-releases
check-schedules:
	@tests/check_schedules.sh
check-releases:
	@tests/check_releases.sh

installcheck: check-schedules check-releases

ifneq ($(DATA_built),)
$(PLIVO_INSTALL_SQL): $(sort $(wildcard sql/src/*.sql)) sql/assemble.sh Makefile
	sql/assemble.sh $(EXTVERSION) > $@
endif
