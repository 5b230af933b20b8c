# Ember -- cert-manager external issuer. `make help` lists the targets.

BUILD     ?= build
SANITIZER ?=
WERROR    ?=
CC        ?= gcc
V         ?=
# E2E=0: `make test` leaves out the end-to-end suite (test/e2e).
E2E       ?= 1

# Debian 12 packages the build, the tests and `make run` need (installed by `make deps`).
DEB_PKGS := gcc make pkg-config libc6-dev libssl-dev openssl libmicrohttpd-dev libgnutls28-dev \
            libcjson-dev libcurl4-openssl-dev curl libyaml-dev libcmocka-dev python3 ca-certificates procps
# Only for `make fuzz` (libFuzzer) and `make bench` (the cfssl peer).
FUZZ_PKGS  := clang libclang-rt-14-dev
BENCH_PKGS := golang-cfssl
# Only for `make lint` (shellcheck: every shell script; gcc's -fanalyzer needs nothing more) and
# `make valgrind`.
LINT_PKGS  := clang-format cppcheck shellcheck valgrind
# Only for `make fresh-check` (a Debian minbase root with a network namespace of its own).
FRESH_PKGS := debootstrap slirp4netns iproute2 util-linux curl git

comma := ,
ifneq ($(SANITIZER),)
  OUT := $(BUILD)/san-$(subst $(comma),-,$(SANITIZER))
  SAN_FLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
  # The sanitizers intercept memcpy, read... themselves; glibc's __*_chk wrappers would hide
  # those calls from them (ASan's own docs: do not combine with _FORTIFY_SOURCE).
  FORTIFY := -U_FORTIFY_SOURCE
else
  OUT := $(BUILD)
  SAN_FLAGS :=
  # Bounds checks on libc calls with sizes known at run time too (level 3: gcc 12+; needs -O1+).
  FORTIFY := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif
LIBS_PC  := libmicrohttpd gnutls libcjson openssl libcurl yaml-0.1
# Recursive (=) so pkg-config runs only once `deps` has installed the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(LIBS_PC) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(LIBS_PC) 2>/dev/null)

CFLAGS_WARN := -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wshadow -Wformat=2 \
               -Wstrict-prototypes -Wmissing-prototypes -Wvla -fno-common
CFLAGS_BASE := $(CFLAGS_WARN) $(FORTIFY) $(if $(WERROR),-Werror) $(SAN_FLAGS)
CFLAGS  = $(CFLAGS_BASE) $(PKG_CFLAGS) -MMD -MP
LDFLAGS_ALL = $(SAN_FLAGS) -pthread
LDLIBS  = $(PKG_LIBS) -lm

SRCS     := $(wildcard issuer/*.c issuer/*/*.c)
LIB_SRCS := $(filter-out issuer/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:issuer/%.c=$(OUT)/obj/%.o)
LIB      := $(OUT)/libember.a
BIN      := $(OUT)/ember-issuer

UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(OUT)/unit/%)
FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:test/fuzz/%.c=$(OUT)/fuzz/%)
FUZZ_LIBFUZZER := $(FUZZ_SRCS:test/fuzz/%.c=$(BUILD)/libfuzzer/%)

Q := $(if $(V),,@)

.PHONY: all run test unit unit-bins integration e2e tsan fuzz bench lint analyze valgrind image chart clean help \
        deps deps-fuzz deps-bench deps-lint deps-fresh fresh-check

## all: build the ember-issuer binary (build/ember-issuer)
all: $(BIN)

## deps: install the Debian packages the build and the tests need (as root; only the missing ones)
deps:
	$(Q)missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing -- run 'make deps' as root" >&2; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps-fuzz:
	$(Q)$(MAKE) --no-print-directory deps DEB_PKGS="$(FUZZ_PKGS)"
deps-bench:
	$(Q)$(MAKE) --no-print-directory deps DEB_PKGS="$(BENCH_PKGS)"
deps-lint:
	$(Q)$(MAKE) --no-print-directory deps DEB_PKGS="$(LINT_PKGS)"
deps-fresh:
	$(Q)$(MAKE) --no-print-directory deps DEB_PKGS="$(FRESH_PKGS)"

# DEPS= skips the package check (the Dockerfile's build stage installs what it needs itself).
DEPS ?= deps

$(OUT)/obj/%.o: issuer/%.c | $(DEPS)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC  $<")
	$(Q)$(CC) $(CFLAGS) -Iissuer -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(OUT)/obj/main.o $(LIB)
	$(if $(Q),@echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS)

$(OUT)/unit/%: test/unit/%.c $(LIB) | deps
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC  $<")
	$(Q)$(CC) $(CFLAGS) -Iissuer $(LDFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(OUT)/fuzz/%: test/fuzz/%.c test/fuzz/replay.c $(LIB) | deps
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Iissuer $(LDFLAGS_ALL) -o $@ $< test/fuzz/replay.c $(LIB) $(LDLIBS)

## run: build, then start Ember standalone on 127.0.0.1:8080 with a development CA and examples/standalone
run: $(BIN)
	$(Q)mkdir -p $(BUILD)/run
	$(Q)[ -s $(BUILD)/run/dev-ca.yaml ] || $(BIN) dev-ca --output $(BUILD)/run/dev-ca.yaml
	$(BIN) --manifests examples/standalone --manifests $(BUILD)/run/dev-ca.yaml \
	  --api-bind-address 127.0.0.1:8080 --health-probe-bind-address 127.0.0.1:8081 \
	  --metrics-bind-address 127.0.0.1:8082 --api-issuer ClusterIssuer/dev-ca --log-format text

## test: the whole suite: unit tests, fuzz corpus replay, integration tests through the binary, the end-to-end suite (E2E=0: without it)
test: $(BIN) $(UNIT_BINS) $(FUZZ_REPLAY)
	$(Q)OUT=$(OUT) SANITIZER=$(SANITIZER) E2E=$(E2E) bash test/run.sh

## unit: only the cmocka unit tests
unit: $(UNIT_BINS)
	$(Q)OUT=$(OUT) ONLY=unit bash test/run.sh
unit-bins: $(UNIT_BINS)

## tsan: the unit tests and the integration tests that drive Ember's threads, built with ThreadSanitizer (test/tsan.sh says which; suppressions: test/tsan.supp)
tsan:
	$(Q)$(MAKE) --no-print-directory SANITIZER=thread all unit-bins
	$(Q)OUT=$(BUILD)/san-thread bash test/tsan.sh

## integration: only the integration tests (real binary on loopback)
integration: $(BIN)
	$(Q)OUT=$(OUT) SANITIZER=$(SANITIZER) ONLY=integration bash test/run.sh

## e2e: Ember's real binary against etcd, kube-apiserver, cert-manager, helm and SPIRE built from Go modules (test/e2e; Go 1.26 at /usr/local/go; E2E=0 leaves it out of `make test`)
e2e: $(BIN)
	$(Q)OUT=$(OUT) ONLY=e2e bash test/run.sh

## fuzz: explore with libFuzzer (clang) for FUZZ_SECONDS (default 60) per target
FUZZ_SECONDS ?= 60
fuzz: deps-fuzz
	$(Q)$(MAKE) --no-print-directory $(FUZZ_LIBFUZZER)
	$(Q)for f in $(FUZZ_LIBFUZZER); do n=$$(basename $$f); mkdir -p $(BUILD)/corpus/$$n; \
	  echo "== $$n"; $$f -max_total_time=$(FUZZ_SECONDS) -max_len=70000 $(BUILD)/corpus/$$n test/fuzz/corpus/$$n || exit 1; done

$(BUILD)/libfuzzer/%: test/fuzz/%.c $(LIB_SRCS) | deps
	@mkdir -p $(dir $@)
	$(Q)clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -Iissuer \
	  -o $@ $< $(LIB_SRCS) $(PKG_LIBS) -lm -pthread

## bench: speed against raw OpenSSL and cfssl, printed as ratios (test/bench)
bench: $(BIN) deps-bench
	$(Q)OUT=$(OUT) bash test/bench/run.sh

## lint: clang-format, cppcheck, banned functions, header comments, layers, function length, file prefixes, shellcheck, then `make analyze`
lint: deps-lint
	$(Q)rc=0; bash test/lint.sh || rc=1; $(MAKE) --no-print-directory analyze || rc=1; exit $$rc

# gcc's static analyzer over issuer/**/*.c, as the default build compiles them; any finding fails.
# True findings are fixed. A false positive is silenced at its spot with
#   #pragma GCC diagnostic ignored "-Wanalyzer-..."   /* and the reason */
# or, for a whole file, ANALYZE_FLAGS_<file> := -Wno-analyzer-... with the reason above it.
# (none today)
ANALYZE_OBJS := $(SRCS:issuer/%.c=$(BUILD)/analyze/%.o)

## analyze: gcc -fanalyzer over every issuer/ source file, zero findings (part of `make lint`)
analyze: $(ANALYZE_OBJS)
	$(Q)echo "analyze: gcc -fanalyzer: no findings in $(words $(SRCS)) files of issuer/"

$(BUILD)/analyze/%.o: issuer/%.c | $(DEPS)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  ANALYZE  $<")
	$(Q)$(CC) $(CFLAGS_WARN) -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -Werror -fanalyzer \
	  $(ANALYZE_FLAGS_$(notdir $*)) $(PKG_CFLAGS) -Iissuer -MMD -MP -c -o $@ $<

## fresh-check: run README.md's first shell block, as written, in a new Debian 12 minbase root (debootstrap; as root; not part of `make test`; test/fresh-check.sh)
fresh-check: deps-fresh
	$(Q)bash test/fresh-check.sh

## valgrind: the unit tests under valgrind memcheck
valgrind: deps-lint $(UNIT_BINS)
	$(Q)for t in $(UNIT_BINS); do valgrind -q --error-exitcode=1 --leak-check=full $$t >/dev/null || { echo "valgrind: $$t failed"; exit 1; }; done; echo "valgrind: all unit tests clean"

## chart: copy the CRDs of api/ into charts/ember-issuer/files/crds/ (test_chart.sh checks they match)
chart:
	$(Q)rm -f charts/ember-issuer/files/crds/*.yaml
	$(Q)cp api/ember.issuer.dev_*.yaml charts/ember-issuer/files/crds/

## image: build the container image (needs a Docker engine)
image:
	docker build -t ember-issuer:dev .

## clean: remove build/
clean:
	rm -rf $(BUILD)

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
