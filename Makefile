# runbook - declarative runbook execution engine
#
# Knobs (set on the command line or in config.mk):
#   CC=clang            compiler (gcc and clang are both kept warning-clean)
#   V=1                 show full compile lines
#   WERROR=             drop -Werror (for packagers)
#   SANITIZE=address,undefined   build with sanitizers (see `make asan`)
#   PREFIX=/usr/local DESTDIR=   install locations
#   PKG_CONFIG=pkg-config
#
# Targets: all (build/runbook), test, unit, cli-test, asan, fuzz, fuzz-smoke,
# fault, fault-smoke, demo, deps, bench, install, uninstall, clean,
# style-check (tests/check-style.py), layers-check, lint-man.

-include config.mk

PKG_CONFIG ?= pkg-config
DEPS = yaml-0.1 libpcre2-8 libcurl libssh2 sqlite3 libmicrohttpd jansson libcrypto

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/runbook

BUILD ?= build
WERROR ?= -Werror

WARNINGS = -Wall -Wextra $(WERROR) -Wstrict-prototypes -Wmissing-prototypes \
	-Wold-style-definition -Wwrite-strings -Wpointer-arith -Wvla \
	-fno-common -Wshadow -Wformat=2 -Wimplicit-fallthrough -Wformat-security \
	-Wno-format-nonliteral

OPT ?= -O2 -g
CFLAGS ?= $(OPT)
# Asked once per make run (:=), not once per compiled file.
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEPS_LIBS := $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) -Iinclude -Isrc \
	-DRB_DATADIR='"$(DATADIR)"' $(DEPS_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS)
LDLIBS += $(DEPS_LIBS) -lm

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q =
else
Q = @
endif

# Every .c under src/ except main.c is part of the library that tests link.
LIB_SRCS := $(sort $(filter-out src/main.c,$(wildcard src/*/*.c)))
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
ENGINE_OBJS := $(filter-out $(BUILD)/obj/cli/%,$(LIB_OBJS))
MAIN_OBJ := $(BUILD)/obj/main.o

UNIT_SRCS := $(sort $(wildcard tests/unit/*/*.c))
UNIT_OBJS := $(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,$(UNIT_SRCS)) \
	$(BUILD)/obj/tests/unit/harness.o

FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

.SECONDARY:

.PHONY: all test unit cli-test asan fuzz fuzz-smoke fault fault-smoke \
	fault-build demo deps check-deps bench \
	install uninstall clean style-check layers-check lint-man

all: check-deps $(BUILD)/runbook

check-deps:
	@$(PKG_CONFIG) --exists $(DEPS) 2>/dev/null || { \
	  echo "runbook: missing build dependencies: run 'make deps'" >&2; \
	  $(PKG_CONFIG) --print-errors --exists $(DEPS) 2>&1 | sed 's/^/  /' >&2; exit 1; }

deps:
	@sh tests/install-deps.sh

$(BUILD)/runbook: $(MAIN_OBJ) $(LIB_OBJS)
	@mkdir -p $(@D)
	@if [ "$(V)" != 1 ]; then echo "  LD      $@"; fi
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	@if [ "$(V)" != 1 ]; then echo "  CC      $<"; fi
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@if [ "$(V)" != 1 ]; then echo "  CC      $<"; fi
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

# The unit-test registry: every `test_<area>_<file>__<case>(void)` definition.
$(BUILD)/unit-list.h: $(UNIT_SRCS)
	@mkdir -p $(@D)
	@grep -ho '^test_[A-Za-z0-9_]*__[A-Za-z0-9_]*(void)' $(UNIT_SRCS) /dev/null | \
	    sed 's/(void)//; s/.*/T(&)/' > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/tests/unit/harness.o: tests/unit/harness.c $(BUILD)/unit-list.h
	@mkdir -p $(@D)
	@if [ "$(V)" != 1 ]; then echo "  CC      $<"; fi
	$(Q)$(CC) $(ALL_CFLAGS) -I$(BUILD) -Itests/unit -c -o $@ $<

$(BUILD)/unit-tests: $(UNIT_OBJS) $(ENGINE_OBJS)
	@mkdir -p $(@D)
	@if [ "$(V)" != 1 ]; then echo "  LD      $@"; fi
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# `make test`: install what is missing, build, run every layer of tests.
test:
	@sh tests/install-deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/runbook $(BUILD)/unit-tests
	@sh tests/run-all.sh $(BUILD)

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

cli-test: $(BUILD)/runbook
	@sh tests/cli/run.sh $(BUILD)

# `make asan`: unit and CLI tests (sshd, serve, PostgreSQL included) with
# every binary under ASan+UBSan+LeakSanitizer; any report fails the run
# (tests/run-all.sh collects them from build-asan/sanitizer-logs). The fuzz
# and fault layers are sanitizer builds already and run in `make test`.
asan:
	@SANITIZE_EXPECTED=1 SKIP_FUZZ=1 SKIP_FAULT=1 $(MAKE) \
	    --no-print-directory BUILD=build-asan CC=clang \
	    SANITIZE=address,undefined OPT="-O1 -g" test

# libFuzzer targets: clang only, with ASan+UBSan, linked against the engine.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(DEPS_CFLAGS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(patsubst src/%.c,$(BUILD)/fuzzobj/%.o,$(filter-out src/cli/%,$(LIB_SRCS)))
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzzobj/%.o: src/%.c
	@mkdir -p $(@D)
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -DRB_FUZZING \
	    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	    $(DEPS_CFLAGS) -c -o $@ $<

fuzz-build: $(FUZZERS)

FUZZ_SECONDS ?= 300
fuzz-smoke: FUZZ_SECONDS = 5
fuzz-smoke fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

# Fault injection (tests/fault/run.sh): the binary built with
# -DRB_FAULT_INJECT under ASan+UBSan, so that every injected allocation,
# SQLite write or fsync failure is also checked for leaks and corruption.
# `fault` sweeps every N; `fault-smoke` (part of `make test`) a stride.
FAULT_BUILD ?= $(BUILD)-fault
fault-build:
	@$(MAKE) --no-print-directory BUILD=$(FAULT_BUILD) CC=clang \
	    SANITIZE=address,undefined CFLAGS="-O1 -g -DRB_FAULT_INJECT" \
	    $(FAULT_BUILD)/runbook

fault: fault-build
	@sh tests/fault/run.sh $(FAULT_BUILD)

fault-smoke: fault-build
	@sh tests/fault/run.sh --smoke $(FAULT_BUILD)

demo:
	@sh tests/install-deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/runbook
	@sh examples/demo/demo.sh $(BUILD)/runbook

bench: $(BUILD)/runbook
	@sh tests/bench/run-all $(BUILD)/runbook

# --- store: journal benchmark (tests/bench/journal_bench.c) -----------------
# `make journal-bench` builds $(BUILD)/journal-bench from the store and util
# objects only and prints the cost of a step boundary in each journal mode;
# JOURNAL_BENCH_ARGS='-n 1000 -r 5 -d DIR' to tune (DIR: the disk to measure).
JOURNAL_BENCH_OBJS = $(BUILD)/obj/tests/bench/journal_bench.o \
	$(filter $(BUILD)/obj/store/% $(BUILD)/obj/util/%,$(LIB_OBJS))

$(BUILD)/journal-bench: $(JOURNAL_BENCH_OBJS)
	@mkdir -p $(@D)
	@if [ "$(V)" != 1 ]; then echo "  LD      $@"; fi
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: journal-bench
journal-bench: $(BUILD)/journal-bench
	$(BUILD)/journal-bench $(JOURNAL_BENCH_ARGS)

-include $(BUILD)/obj/tests/bench/journal_bench.d
# --- end store: journal benchmark -------------------------------------------

install: $(BUILD)/runbook
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(DATADIR)/schemas $(DESTDIR)$(DATADIR)/runbooks \
	    $(DESTDIR)$(DATADIR)/playbooks
	install -m 0755 $(BUILD)/runbook $(DESTDIR)$(BINDIR)/runbook
	install -m 0644 src/runbook.1 $(DESTDIR)$(MANDIR)/man1/runbook.1
	install -m 0644 schemas/*.json $(DESTDIR)$(DATADIR)/schemas/
	for f in runbooks/*.yaml; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(DATADIR)/runbooks/; done; true
	for f in playbooks/*.yaml; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(DATADIR)/playbooks/; done; true

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/runbook $(DESTDIR)$(MANDIR)/man1/runbook.1
	rm -rf $(DESTDIR)$(DATADIR)

# The house style (KNF, 80 columns, function and file sizes, include
# order, banned functions) as tests/check-style.py checks it; `make test`
# runs it too. .clang-format is only a helper for editors.
style-check:
	@python3 tests/check-style.py

layers-check: $(BUILD)/runbook
	@sh tests/check-layers.sh $(BUILD)/obj

lint-man:
	mandoc -Tlint -W warning src/runbook.1

clean:
	rm -rf $(BUILD) $(BUILD)-fuzz $(BUILD)-fault build-asan build-asan-fuzz build-asan-fault

-include $(patsubst %.o,%.d,$(LIB_OBJS) $(MAIN_OBJ) $(UNIT_OBJS))
