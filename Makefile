# c10k-bench: one echo server per I/O model, one load generator, one harness.
#
#   make                 build every server, the load generator and the unit tests
#   make test            set-up + build + the whole test suite (never the benchmark)
#   make check           the fast loop: C unit tests + the harness's pytest tests
#   make bench           set-up + build + the default benchmark profile (never the tests)
#   make regress         compare a quick run with the committed baseline
#   make compare A=<run dir> B=<run dir>   two runs side by side (COMPARE.md, charts)
#   make bench RESUME=<run dir>           continue an interrupted run; STRICT=1: quiet machine
#   make SANITIZER=address|undefined|thread   sanitized build in bin-<sanitizer>/
#   make lint            clang-tidy + cppcheck + pyflakes
#   V=1                  show full commands
#
# The models and their libraries come from the registry, harness/models.py
# (build/models.mk is generated from it); dependencies on headers from -MMD.

CC       ?= gcc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes
ifdef CI
WARN     += -Werror
endif
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  ?=
PYTHON   ?= python3
# Debian's python3, which sees Debian's python3-* packages (pytest).
DEB_PYTHON ?= /usr/bin/python3

# Output folder: bin/ for the normal build, bin-<sanitizer>/ for a sanitized
# one, bin-extra/ for the regression gate's self test (EXTRA_SYSCALL=1: one
# fcntl(F_GETFL) per received message that no SC() marks; tests/kcount.t too).
ifeq ($(SANITIZER),)
  BIN := bin
else ifeq ($(SANITIZER),address)
  BIN := bin-address
  SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZER),undefined)
  BIN := bin-undefined
  SAN_CFLAGS := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZER),thread)
  BIN := bin-thread
  SAN_CFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
  $(error SANITIZER must be address, undefined or thread, not '$(SANITIZER)')
endif
ifdef EXTRA_SYSCALL
  BIN := bin-extra
  EXTRA_CFLAGS += -DEXTRA_SYSCALL
endif
OBJ := build/$(BIN)

ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-4s %s\n' $(1) $(2);
endif

# ---- what gets built -------------------------------------------------------
# ALL_MODELS, THREADED_MODELS, LIBS_<model>, ... from the model registry.
include build/models.mk
# (servers/. too: a source added or removed is checked against the registry)
build/models.mk: harness/models.py servers/.
	@mkdir -p $(@D)
	$(call say,GEN,$@)$(PYTHON) harness/models.py --make >$@.$$$$ && mv $@.$$$$ $@

SERVERS     := $(ALL_MODELS:%=$(BIN)/echo_%)
CLIENT_SRCS := $(filter-out clients/loadgen.c,$(wildcard clients/*.c))
CLIENT_OBJS := $(CLIENT_SRCS:clients/%.c=$(OBJ)/clients/%.o)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BIN)/tests/%.t,$(wildcard tests/unit/*.c))
TOOLS       := $(patsubst tests/tools/%.c,$(BIN)/tools/%,$(wildcard tests/tools/*.c))

LIBS_loadgen    := -pthread -lm

.PHONY: all servers loadgen unit-tests tools test check test-sanitize bench compare regress \
        baseline lint deps deps-refs clean help
.DEFAULT_GOAL := all
# Keep the objects: they are intermediates of the pattern rules, not throw-aways.
.PRECIOUS: $(OBJ)/%.o

all: servers loadgen unit-tests tools
servers: $(SERVERS)
loadgen: $(BIN)/loadgen
unit-tests: $(UNIT_TESTS)
tools: $(TOOLS)

# -MMD -MP: each object's header dependencies, written by the compiler (.d).
# An object without its .d (built before, or the .d lost) is rebuilt once:
# the .d files are named targets with no rule, so a missing one counts as new.
DEPS := $(patsubst %.c,$(OBJ)/%.d,$(wildcard servers/*.c clients/*.c tests/unit/*.c tests/tools/*.c))
$(OBJ)/%.o: %.c $(OBJ)/%.d | $(OBJ)/servers $(OBJ)/clients $(OBJ)/tests/unit $(OBJ)/tests/tools
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -MMD -MP -Iservers -Iclients -c -o $@ $<
$(DEPS):
-include $(wildcard $(DEPS))

# One pattern rule per kind (liburing's examples: `%: %.c $(helpers)`).
$(BIN)/echo_%: $(OBJ)/servers/%.o $(OBJ)/servers/common.o | $(BIN)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_$*)

$(BIN)/loadgen: $(OBJ)/clients/loadgen.o $(CLIENT_OBJS) | $(BIN)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_loadgen)

$(BIN)/tests/%.t: $(OBJ)/tests/unit/%.o $(CLIENT_OBJS) $(OBJ)/servers/common.o | $(BIN)/tests
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -pthread -lm

$(BIN)/tools/%: $(OBJ)/tests/tools/%.o $(OBJ)/servers/common.o | $(BIN)/tools
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -pthread -lm

$(BIN) $(BIN)/tests $(BIN)/tools $(OBJ)/servers $(OBJ)/clients $(OBJ)/tests/unit $(OBJ)/tests/tools:
	@mkdir -p $@

# Optional parts that bring their own rules (they use BIN, OBJ, ALL_CFLAGS, Q, say).
-include dispatch/rules.mk

# ---- set-up ------------------------------------------------------------------
# Checks the Debian packages and, as root, installs what is missing.
deps:
	@sh harness/deps.sh

# The reference rows' runtimes (Java, Go, Erlang, Node.js), only when asked:
# `make deps-refs` (every row) or `make deps-refs MODELS=go,erlang`.
deps-refs:
	@sh harness/deps-refs.sh $(MODELS)

# ---- tests ---------------------------------------------------------------------
# Unit tests (C, TAP) and integration tests (tests/*.t, TAP) under prove.
# TEST_JOBS runs that many test files at once; every test picks its own port.
# The conformance battery (tests/conformance.py) runs once per model on the
# normal build, once under ASan+UBSan, and under TSan for the threaded models;
# make writes a one-line TAP wrapper per run so prove can run them in parallel.
# The ASan+UBSan builds of loadgen and the unit tests run too: the unit tests
# from bin-address/tests/, tests/loadgen.t against bin-address/ (C10K_BIN).
TEST_JOBS ?= 2
# The reference rows (refservers/) too, each skipped naming its Debian package
# when its runtime is missing (make deps-refs installs them).
CONF_TESTS := $(ALL_MODELS:%=build/t/conf-%.t) $(ALL_MODELS:%=build/t/conf-asan-%.t) \
              $(THREADED_MODELS:%=build/t/conf-tsan-%.t) $(REF_MODELS:%=build/t/conf-ref-%.t)
ASAN_TESTS := $(UNIT_TESTS:$(BIN)/%=bin-address/%) build/t/loadgen-asan.t
build/t/conf-ref-%.t: | build/t
	@printf '#!/bin/sh\nexec python3 tests/conformance.py --model %s --bin refservers\n' $* >$@; chmod +x $@
build/t/conf-asan-%.t: | build/t
	@printf '#!/bin/sh\nexec python3 tests/conformance.py --model %s --bin bin-address\n' $* >$@; chmod +x $@
build/t/conf-tsan-%.t: | build/t
	@printf '#!/bin/sh\nexec python3 tests/conformance.py --model %s --bin bin-thread\n' $* >$@; chmod +x $@
build/t/conf-%.t: | build/t
	@printf '#!/bin/sh\nexec python3 tests/conformance.py --model %s --bin bin\n' $* >$@; chmod +x $@
build/t/loadgen-asan.t: | build/t
	@printf '#!/bin/sh\nC10K_BIN=bin-address exec python3 tests/loadgen.t\n' >$@; chmod +x $@
build/t:
	@mkdir -p $@

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SANITIZER=address all
	@$(MAKE) --no-print-directory SANITIZER=thread $(THREADED_MODELS:%=bin-thread/echo_%)
	@$(MAKE) --no-print-directory EXTRA_SYSCALL=1 servers
	@$(MAKE) --no-print-directory $(CONF_TESTS) build/t/loadgen-asan.t
	prove --exec '' --timer -j$(TEST_JOBS) $(UNIT_TESTS) $(ASAN_TESTS) $(wildcard tests/*.t) $(CONF_TESTS)

# The fast loop (harness/README.md): only what the unit tests need is built
# (no servers, no sanitizer builds, no dependency check), then the C unit
# tests and tests/pytest.t (one TAP line per pytest test) under prove.
check:
	@$(MAKE) --no-print-directory unit-tests
	prove --exec '' --timer -j$(TEST_JOBS) $(UNIT_TESTS) tests/pytest.t

# ---- benchmark -------------------------------------------------------------
PROFILE ?= default
# Where and how (docs/multi-host.md): SERVER_CPUS=S, NET=loopback|veth,
# SERVER_HOST=user@host CLIENT_HOSTS=user@h1,user@h2 (SSH_CONFIG, REMOTE_DIR);
# OUT=DIR puts the run in DIR instead of results/. DECLARE_CPUS=N plans and
# reports as on an N-CPU machine, run pinned to the real CPUs (docs/machines.md).
BENCH_WHERE = $(if $(SERVER_CPUS),--server-cpus $(SERVER_CPUS)) $(if $(NET),--net $(NET)) \
  $(if $(DECLARE_CPUS),--declare-cpus $(DECLARE_CPUS)) \
  $(if $(SERVER_HOST),--server-host $(SERVER_HOST)) $(if $(CLIENT_HOSTS),--client-hosts $(CLIENT_HOSTS)) \
  $(if $(SSH_CONFIG),--ssh-config $(SSH_CONFIG)) $(if $(REMOTE_DIR),--remote-dir $(REMOTE_DIR)) \
  $(if $(OUT),--out $(OUT)) \
  $(if $(PROFILE_POINTS),--profile-points $(PROFILE_POINTS)) \
  $(if $(REPEATS),--repeats $(REPEATS) --max-repeats $(REPEATS)) \
  $(if $(DURATION),--duration $(DURATION))
# PROFILE_POINTS=none|SWEEP:CONNS,... : which points get a CPU profile (default active:1000,idle:max)
# REPEATS=N : exactly N runs a point (the profile's count and its extra runs set aside)
# DURATION=S : each run's measured window, in seconds (the profile's otherwise)
bench: deps
	@$(MAKE) --no-print-directory all
	$(if $(STRICT),STRICT=$(STRICT) )python3 harness/bench.py $(if $(RESUME),--resume $(RESUME),--profile $(PROFILE) $(if $(MODELS),--models $(MODELS)) $(if $(CONNS),--conns $(CONNS)) $(if $(SWEEPS),--sweeps $(SWEEPS)) $(BENCH_WHERE))

# Two runs side by side (harness/compare.py): overlay charts, B/A ratios with
# their intervals, COMPARE.md; in results/compare-<A>-vs-<B>/. Debian's
# python3: the intervals need python3-scipy (harness/estimate.py).
compare:
	@test -n "$(A)" -a -n "$(B)" || { echo "make compare: give two run folders: A=<dir> B=<dir>" >&2; exit 2; }
	$(DEB_PYTHON) harness/compare.py $(A) $(B)

regress: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory EXTRA_SYSCALL=1 servers
	python3 harness/regress.py $(if $(MODELS),--models $(MODELS))

baseline: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory EXTRA_SYSCALL=1 servers
	python3 harness/regress.py --accept

# ---- lint ----------------------------------------------------------------------
LINT_SRCS := $(wildcard servers/*.c clients/*.c tests/unit/*.c tests/tools/*.c dispatch/*.c)
PY_TESTS  := $(shell grep -l '^\#!.*python' tests/*.t)
lint: deps
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --std=c11 -D_GNU_SOURCE --inline-suppr --suppress=missingIncludeSystem \
	  -Iservers -Iclients $(LINT_SRCS)
	clang-tidy --quiet --warnings-as-errors='*' $(LINT_SRCS) -- -std=gnu11 -D_GNU_SOURCE -Iservers -Iclients
	pyflakes3 harness tests $(PY_TESTS)

clean:
	rm -rf bin bin-* build

help:
	@sed -n '1,/^$$/p' Makefile
