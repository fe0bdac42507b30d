# Gatehouse — top-level build.
#
# Layout convention (so that a new module needs no Makefile edit):
#   common/*.c            -> $(BUILD)/libcommon.a
#   <prog>/main.c         -> the program's entry point
#   <prog>/other *.c      -> $(BUILD)/lib<prog>.a (linked by the program and the tests)
#   tests/unit/test_*.c   -> $(BUILD)/tests/test_* (cmocka), linked with the
#                            libraries of the program it tests (LIBS_FOR_test_*
#                            below), by default every program's, then notify, then common
#   bench/*.c             -> $(BUILD)/bench/* (one program per file)
#   fuzz/fuzz_*.c         -> build-fuzz/fuzz/fuzz_* (libFuzzer, clang; `make fuzz`)
#
# pkg-config is evaluated lazily (recursive '=') so that `make check` on a
# machine without the -dev packages can install them before anything needs them.

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc/gatehouse
CC      ?= cc
PYTHON  ?= /usr/bin/python3
VERSION := 0.1.0

PKGS = glib-2.0 gmime-3.0 sqlite3 libclamav libesmtp-1.0 librrd ncursesw libmagic libarchive zlib \
	libmicrohttpd libcurl json-glib-1.0 libpq
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

ifeq ($(FUZZ),1)
# libFuzzer build (clang only): the libs are instrumented for coverage
# without libFuzzer's main; only the harnesses link -fsanitize=fuzzer.
OPT = -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
SANLD = -fsanitize=address,undefined
else ifeq ($(SAN),1)
OPT = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANLD = -fsanitize=address,undefined
else
OPT = -O2 -g
SANLD =
endif

CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -DGH_VERSION='"$(VERSION)"' \
	-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
	$(OPT) -MMD -MP -Icommon -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(LDLIBS)

PROGS_DIRS := scand notify quarctl report web
# program name for each directory's main.c
prog_scand   := scand
prog_notify  := scand-notify
prog_quarctl := quarctl
prog_report  := scand-report
prog_web     := scand-web

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/schema_sql.o \
	$(BUILD)/obj/gen/schema_pg_sql.o
define libsrc
$(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
endef
LIBS_A := $(foreach d,$(PROGS_DIRS),$(BUILD)/lib$(d).a) $(BUILD)/libcommon.a
PROGRAMS := $(foreach d,$(PROGS_DIRS),$(if $(wildcard $(d)/main.c),$(BUILD)/bin/$(prog_$(d))))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
# `make fuzz` fuzzes to depth: each harness 10 million executions or 2 hours,
# whichever comes first, then merges what it found into fuzz/corpus/.
FUZZ_SECONDS ?= 7200
FUZZ_RUNS ?= 10000000

# Who may call whom: scand, quarctl, report -> notify -> common; common knows
# no program and no program another's folder (issue 15). Each program links
# its own ordered list, with no --start-group: ld searches an archive once,
# where it stands, so a call against these directions (common calling
# notify_*, notify calling scand) is an undefined reference, not a silent
# link. A new program directory adds its LIBS_<dir> here.
LIBS_common  := $(BUILD)/libcommon.a
LIBS_notify  := $(BUILD)/libnotify.a $(LIBS_common)
LIBS_scand   := $(BUILD)/libscand.a $(LIBS_notify)
LIBS_quarctl := $(BUILD)/libquarctl.a $(LIBS_notify)
LIBS_report  := $(BUILD)/libreport.a $(LIBS_notify)
LIBS_web     := $(BUILD)/libweb.a $(LIBS_notify)
# Tests, bench programs and fuzz harnesses link the list of the program they
# exercise (LIBS_FOR_<name>); one not named here gets every program's
# library, then notify, then common (a new test needs no Makefile edit).
LIBS_DEFAULT := $(BUILD)/libscand.a $(BUILD)/libquarctl.a $(BUILD)/libreport.a $(LIBS_notify)
libs_for = $(or $(LIBS_FOR_$(1)),$(LIBS_DEFAULT))
$(foreach t,banned clamav groupcommit metrics pipeline policy privs spamd spool verdict,\
	$(eval LIBS_FOR_test_$(t) = $$(LIBS_scand)))
LIBS_FOR_test_notify_tmpl = $(LIBS_notify)
LIBS_FOR_test_digest = $(LIBS_notify)
LIBS_FOR_test_qc_msg = $(LIBS_quarctl)
LIBS_FOR_test_report = $(LIBS_report)
$(foreach t,conf linktok lists log mailfmt mailid promtext quar rspamd smtpc spam store,$(eval LIBS_FOR_test_$(t) = $$(LIBS_common)))
LIBS_FOR_bench_verdict = $(LIBS_scand)
LIBS_FOR_bench_digest = $(LIBS_notify)
LIBS_FOR_bench_lists = $(LIBS_common)
LIBS_FOR_rawscan = $(LIBS_scand)
$(foreach b,bench_store loadgen mkcorpus qc_fill report_gen webload,$(eval LIBS_FOR_$(b) = $$(LIBS_common)))
LIBS_FOR_fuzz_mime = $(LIBS_scand)
LIBS_FOR_fuzz_policy = $(LIBS_scand)
LIBS_FOR_fuzz_smtp = $(LIBS_scand)
LIBS_FOR_fuzz_tmpl = $(LIBS_notify)
LIBS_FOR_fuzz_conf = $(LIBS_common)
LIBS_FOR_fuzz_rspamd = $(LIBS_common)

# The layer check: each library linked whole (every object, used or not)
# with only the libraries below it. A program pulls in only the objects it
# needs, and a back-edge to an object that is already in does link; this
# check does not let any object of lib<dir>.a call above its own layer.
LAYERS := $(foreach d,common $(PROGS_DIRS),$(BUILD)/layers/$(d).ok)

.PHONY: all asan deps run check test clean install format demo fuzz fuzz-build fuzzers
all: $(PROGRAMS) $(UNIT_BIN) $(BENCH_BIN) $(LAYERS)

asan:
	$(MAKE) BUILD=build-asan SAN=1 all

# The fuzz harnesses and the libs they test, built by clang into build-fuzz/.
fuzz-build:
	$(MAKE) BUILD=build-fuzz FUZZ=1 CC=clang fuzzers

fuzzers: $(FUZZ_BIN)

# Each harness for FUZZ_RUNS executions or FUZZ_SECONDS (new inputs go to
# build-fuzz/corpus/, crashes to build-fuzz/crash/), then the inputs that add
# coverage are merged (-merge=1) into fuzz/corpus/NAME for make check's short
# runs to start from. A quick look: make fuzz FUZZ_SECONDS=60 FUZZ_RUNS=-1.
fuzz: fuzz-build
	scripts/fuzz-run -t $(FUZZ_SECONDS) -r $(FUZZ_RUNS) -m build-fuzz

deps:
	@scripts/deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# One set of migrations per store backend, the same version numbers in both
# (a number in one directory and not in the other is a build error).
SCHEMA_SQLITE := $(sort $(wildcard schema/sqlite/*.sql))
SCHEMA_PG := $(sort $(wildcard schema/postgresql/*.sql))
$(BUILD)/gen/schema_sql.c: $(SCHEMA_SQLITE) scripts/embed-schema
	@mkdir -p $(dir $@)
	scripts/embed-schema schema $(SCHEMA_SQLITE) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema_pg_sql.c: $(SCHEMA_PG) $(SCHEMA_SQLITE) scripts/embed-schema
	@mkdir -p $(dir $@)
	@test "$(foreach f,$(SCHEMA_SQLITE),$(shell echo $(notdir $(f)) | cut -c1-3))" = \
		"$(foreach f,$(SCHEMA_PG),$(shell echo $(notdir $(f)) | cut -c1-3))" || \
		{ echo "schema/sqlite and schema/postgresql: not the same migration numbers" >&2; exit 1; }
	scripts/embed-schema schema_pg $(SCHEMA_PG) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/gen/layer_main.c:
	@mkdir -p $(dir $@)
	printf 'int main(void)\n{\n\treturn 0;\n}\n' > $@

$(BUILD)/obj/gen/layer_main.o: $(BUILD)/gen/layer_main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/layers/%.ok: $(BUILD)/obj/gen/layer_main.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) -o $(BUILD)/layers/$* $< -Wl,--whole-archive $(BUILD)/lib$*.a -Wl,--no-whole-archive \
		$(wordlist 2,99,$(LIBS_$*)) $(LDLIBS_$*) $(LDLIBS_ALL)
	@rm -f $(BUILD)/layers/$*; touch $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

define prog_rules
$(BUILD)/lib$(1).a: $$(patsubst %.c,$(BUILD)/obj/%.o,$$(call libsrc,$(1)))
	@rm -f $$@; mkdir -p $$(dir $$@)
	ar rcs $$@ $$^
$(BUILD)/bin/$(prog_$(1)): $(BUILD)/obj/$(1)/main.o $(LIBS_A)
	@mkdir -p $$(dir $$@)
	$(CC) $(SANLD) -o $$@ $(BUILD)/obj/$(1)/main.o $$(LIBS_$(1)) $$(LDLIBS_$(1)) $$(LDLIBS_ALL)
endef
$(foreach d,$(PROGS_DIRS),$(eval $(call prog_rules,$(d))))

# A test that plays an attacker between two system calls links with
# --wrap (its own UNIT_LDFLAGS); its __wrap_* functions call __real_*.
$(BUILD)/tests/test_privs: UNIT_LDFLAGS = -Wl,--wrap=lstat -Wl,--wrap=fstat
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) $(UNIT_LDFLAGS) -o $@ $< $(call libs_for,$*) $(LDLIBS_ALL) $(shell pkg-config --libs cmocka 2>/dev/null)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) -o $@ $< $(call libs_for,$*) $(LDLIBS_ALL)

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(call libs_for,$*) $(LDLIBS_ALL)

# The two README commands. run: scand on contrib/scand.conf.run (paths
# under ./var/), with a local sink on the forward port when nothing listens
# there, and the GATEHOUSE_CONF lines to copy (scripts/run).
# make run RUN_CONF=contrib/scand.conf.run-rspamd: the same with [spam] backend = rspamd
RUN_CONF ?= contrib/scand.conf.run
run: deps
	$(MAKE) all
	$(PYTHON) scripts/run -b $(BUILD) -c $(RUN_CONF)

# Test tools: tests/tools/NAME.c -> $(BUILD)/tests/tools/NAME, on common/
# only, built by `all`; never named test_* (tests/run runs those).
TOOLS_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
all: $(TOOLS_BIN)
$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) -o $@ $< $(BUILD)/libcommon.a $(LDLIBS_ALL)

check: deps
	$(MAKE) all
	$(MAKE) asan
	$(MAKE) fuzz-build
	tests/run

test:
	tests/run

# A private Postfix + spamd + scand on loopback high ports, four sample
# messages, then quarctl on the result; q stops everything (scripts/demo).
demo: all
	GH_BUILD=$(abspath $(BUILD)) $(PYTHON) scripts/demo

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Staged installs: make install DESTDIR=/tmp/stage [PREFIX=/usr/local].
CRONDIR ?= /etc/cron.d
SHAREDIR = $(PREFIX)/share/gatehouse
UNITDIR ?= $(PREFIX)/lib/systemd/system
PF_SNIPPETS = $(filter-out contrib/postfix/setup,$(wildcard contrib/postfix/*))
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(SYSCONFDIR) \
		$(DESTDIR)$(SHAREDIR)/schema/sqlite $(DESTDIR)$(SHAREDIR)/schema/postgresql \
		$(DESTDIR)$(SHAREDIR)/templates \
		$(DESTDIR)$(SHAREDIR)/signatures $(DESTDIR)$(SHAREDIR)/contrib/postfix \
		$(DESTDIR)$(SHAREDIR)/contrib/prometheus \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 contrib/scand.conf.example $(DESTDIR)$(SYSCONFDIR)/scand.conf.example
	install -m 0644 schema/sqlite/*.sql $(DESTDIR)$(SHAREDIR)/schema/sqlite/
	install -m 0644 schema/postgresql/*.sql $(DESTDIR)$(SHAREDIR)/schema/postgresql/
	if [ -d templates ]; then cp -R templates/. $(DESTDIR)$(SHAREDIR)/templates/; fi
	if ls signatures/* >/dev/null 2>&1; then install -m 0644 signatures/* $(DESTDIR)$(SHAREDIR)/signatures/; fi
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' contrib/systemd/scand.service.in \
		> $(DESTDIR)$(UNITDIR)/scand.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/scand.service
	install -m 0755 contrib/chroot-setup $(DESTDIR)$(SHAREDIR)/contrib/
	install -m 0755 contrib/postfix/setup $(DESTDIR)$(SHAREDIR)/contrib/postfix/
	install -m 0644 contrib/prometheus/*.yml $(DESTDIR)$(SHAREDIR)/contrib/prometheus/
	$(if $(PF_SNIPPETS),install -m 0644 $(PF_SNIPPETS) $(DESTDIR)$(SHAREDIR)/contrib/postfix/)
	if [ -f contrib/cron.d/gatehouse ]; then install -d $(DESTDIR)$(CRONDIR) && \
		install -m 0644 contrib/cron.d/gatehouse $(DESTDIR)$(CRONDIR)/gatehouse; fi

clean:
	rm -rf build build-asan build-fuzz build-syncnormal

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
