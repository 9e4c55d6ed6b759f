# flespi-pipe -- see README.  Plain POSIX-ish make with GNU conveniences.

VERSION    = 0.1.0

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
# Examples to copy: the systemd unit and the cron lines (never into /etc).
EXAMPLEDIR ?= $(PREFIX)/share/flespi-pipe
# Where bash-completion loads a command's completion from, by its name.
COMPDIR   ?= $(PREFIX)/share/bash-completion/completions
PKG_CONFIG ?= pkg-config
O         ?= build

CFLAGS    ?= -O2 -g
PKGS       = libcurl jansson libmosquitto zlib libssl libcrypto
WARN       = -Wall -Wextra -Wshadow -Wformat=2 -Wpointer-arith \
             -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual \
             -Wvla -Wno-missing-field-initializers
FP_CPPFLAGS = -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
             -DVERSION=\"$(VERSION)\"
FP_CFLAGS  = -std=c11 $(WARN) $(shell $(PKG_CONFIG) --cflags $(PKGS))
FP_LDLIBS  = -Wl,--as-needed $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm -pthread

SANFLAGS   = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined

# Every src/flespi-*.c is a command; every other src/*.c a shared module.
MAINS      = $(wildcard src/flespi-*.c)
MODULES    = $(filter-out $(MAINS), $(wildcard src/*.c))
PROGS      = $(MAINS:src/%.c=$(O)/%)
MODOBJS    = $(MODULES:src/%.c=$(O)/%.o)
UNITS      = $(patsubst tests/unit/%.c,$(O)/%,$(wildcard tests/unit/test_*.c))
TOOLS      = $(patsubst tests/tools/%.c,$(O)/%,$(wildcard tests/tools/*.c))
MANS       = $(wildcard man/*.1)
MANS7      = $(wildcard man/*.7)

.PHONY: all check check-run test clean install uninstall deps demo-deps demo asan check-asan \
        valgrind lint bench bench-wan fuzz fuzz-build soak mutate \
        check-rabbitmq bench-mqtt

all: $(PROGS) $(O)/completion.bash

# Bash completion, made from the programs' own option tables.
$(O)/completion.bash: $(PROGS) scripts/mkcompletion
	scripts/mkcompletion $(PROGS) >$@.tmp && mv $@.tmp $@

# Keep objects make considers intermediate (no "rm" after the test summary).
.SECONDARY:

$(O)/.dir:
	@mkdir -p $(O) && touch $@

$(O)/%.o: src/%.c $(O)/.dir
	$(CC) $(FP_CPPFLAGS) $(FP_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(O)/libfp.a: $(MODOBJS)
	rm -f $@ && $(AR) rcs $@ $(MODOBJS)

$(O)/flespi-%: $(O)/flespi-%.o $(O)/libfp.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/libfp.a $(FP_LDLIBS) $(LDLIBS)

$(O)/test_%: tests/unit/test_%.c tests/unit/unit.h tests/jscanref.h $(O)/libfp.a
	$(CC) $(FP_CPPFLAGS) -Itests/unit $(FP_CFLAGS) $(CPPFLAGS) $(CFLAGS) \
	    $(LDFLAGS) -o $@ $< $(O)/libfp.a $(FP_LDLIBS) $(LDLIBS)

$(O)/%: tests/tools/%.c tests/tools/listen.h $(O)/libfp.a
	$(CC) $(FP_CPPFLAGS) $(FP_CFLAGS) $(CPPFLAGS) $(CFLAGS) \
	    $(LDFLAGS) -o $@ $< $(O)/libfp.a $(FP_LDLIBS) $(LDLIBS)

-include $(wildcard $(O)/*.d)

# The test suite, as CI runs it: unit tests and numbered shell cases against
# local peers; then the whole suite again built with AddressSanitizer and
# UBSan; then the unit tests under valgrind.  One closing line counts all.
# Nothing may be skipped (FP_NO_SKIP=1): a missing clang fails the fuzz case.
# The test toolchain comes first (deps: only what is missing).
check: deps
	$(MAKE) check-run
check-run: all $(UNITS) $(TOOLS) asan
	FP_BIN=$(O) FP_ASAN_BIN=build-asan FP_VALGRIND=1 FP_NO_SKIP=1 tests/run

# The plain suite only (quicker while developing).
test: all $(UNITS) $(TOOLS)
	FP_BIN=$(O) tests/run

ASAN_MAKE = $(MAKE) O=build-asan CFLAGS="$(SANFLAGS)" \
            LDFLAGS="-fsanitize=address,undefined"
asan:
	$(ASAN_MAKE) all $(UNITS:$(O)/%=build-asan/%) $(TOOLS:$(O)/%=build-asan/%)
check-asan: asan
	FP_BIN=build-asan tests/run

# flespi-to-mqtt against RabbitMQ's MQTT plugin, a node of its own on
# 127.0.0.1 (tests/rabbitmq): it takes tens of seconds to start, twice,
# so it is not part of check; nor is its broker part of `make deps`
# (Erlang and RabbitMQ: installed here, started by nothing but the test).
check-rabbitmq: all
	scripts/install-debs rabbitmq-server
	FP_BIN=$(O) tests/rabbitmq/t-rabbitmq.sh

# Unit tests under valgrind; any error fails.
valgrind: $(UNITS)
	FP_BIN=$(O) FP_VALGRIND=1 tests/run test_

# libFuzzer targets tests/fuzz/fuzz_*.c, built with clang into build-fuzz
# and run FUZZ_TIME seconds each on their corpus (crashes are kept there
# as regression inputs).
FUZZ_TIME ?= 60
FUZZERS    = $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZFLAGS  = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
fuzz-build:
	$(MAKE) O=build-fuzz CC=clang \
	    CFLAGS="$(FUZZFLAGS) -fsanitize=fuzzer-no-link" build-fuzz/libfp.a
	$(MAKE) $(FUZZERS)
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/jscanref.h build-fuzz/libfp.a
	clang $(FP_CPPFLAGS) $(FP_CFLAGS) $(FUZZFLAGS) -fsanitize=fuzzer \
	    -o $@ $< build-fuzz/libfp.a $(FP_LDLIBS)
fuzz: fuzz-build
	FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run

# Mutation testing: each tests/mutants/*.mut (a one-line bug and the
# cases that must catch it) applied to a scratch copy of the tree, built
# plain, its cases run; prints the kill rate and every survivor.
# MUTANTS=PATTERN runs only matching ones.
mutate:
	tests/mutants/run $(MUTANTS)

lint:
	mandoc -Tlint -Wwarning $(MANS) $(MANS7)

clean:
	rm -rf build build-asan build-fuzz tests/tmp

# The recipes name the tools by their path: /usr/local/bin becomes $(BINDIR).
# The cron file is installed as flespi-pipe: Debian's cron ignores files in
# /etc/cron.d whose names hold a dot, so it is copied there as it is.
RECIPES    = scripts/systemd/flespi-to-wialon@.service \
             scripts/systemd/flespi-to-wialon.conf scripts/cron/flespi-pipe

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man7 $(DESTDIR)$(EXAMPLEDIR) \
	    $(DESTDIR)$(COMPDIR)
	for p in $(PROGS); do install -m 755 $$p $(DESTDIR)$(BINDIR)/; done
	for m in $(MANS); do install -m 644 $$m $(DESTDIR)$(MANPREFIX)/man1/; done
	for m in $(MANS7); do install -m 644 $$m $(DESTDIR)$(MANPREFIX)/man7/; done
	for p in $(PROGS); do install -m 644 $(O)/completion.bash \
	    $(DESTDIR)$(COMPDIR)/$${p##*/}; done
	for r in $(RECIPES); do \
	    sed 's|/usr/local/bin/|$(BINDIR)/|g' $$r \
	        >$(DESTDIR)$(EXAMPLEDIR)/$${r##*/} && \
	    chmod 644 $(DESTDIR)$(EXAMPLEDIR)/$${r##*/} || exit 1; \
	done

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$${p##*/}; done
	for m in $(MANS); do rm -f $(DESTDIR)$(MANPREFIX)/man1/$${m##*/}; done
	for m in $(MANS7); do rm -f $(DESTDIR)$(MANPREFIX)/man7/$${m##*/}; done
	for p in $(PROGS); do rm -f $(DESTDIR)$(COMPDIR)/$${p##*/}; done
	for r in $(RECIPES); do rm -f $(DESTDIR)$(EXAMPLEDIR)/$${r##*/}; done
	-rmdir $(DESTDIR)$(EXAMPLEDIR) 2>/dev/null

# Debian packages, one list per purpose, installed by scripts/install-debs
# (only what is missing; sudo when not root; no service is started or
# enabled by the install: nginx, mosquitto and node_exporter are started by
# the tests themselves, on loopback ports).
# What `make demo` needs: the build, and what scripts/demo runs.
DEMO_DEBS = build-essential pkg-config libcurl4-openssl-dev libjansson-dev \
            libmosquitto-dev libssl-dev zlib1g-dev ca-certificates \
            mosquitto mosquitto-clients openssl python3 jq
# What the test suite needs on top (`make deps`, then `make check`; .ci/run).
TEST_DEBS = curl mandoc valgrind clang libclang-rt-14-dev procps time \
            nginx python3-requests strace systemd iproute2 \
            prometheus-node-exporter apache2
demo-deps:
	scripts/install-debs $(DEMO_DEBS)
deps:
	scripts/install-debs $(DEMO_DEBS) $(TEST_DEBS)
	@# aedes, the tests' second MQTT broker: its npm packages as locked
	@# in tests/aedes (Node.js and npm from Debian when there is no npm).
	@command -v npm >/dev/null 2>&1 || scripts/install-debs nodejs npm
	@tests/aedes/install

demo: demo-deps all
	scripts/demo

bench: all $(TOOLS)
	scripts/bench-recv
	scripts/bench-wialon
	scripts/bench-aws
	scripts/bench-mqtt
	scripts/bench-recv-mqtt
	scripts/bench-http

bench-mqtt: all $(TOOLS)
	scripts/bench-mqtt

# Over round trips of 0, 10, 50 and 100 ms (tests/tools/delayproxy); a few
# minutes; not part of check.
bench-wan: all $(TOOLS)
	scripts/bench-wan

# Minutes-long fault soak of whole pipelines; not part of check.
soak: all $(TOOLS)
	scripts/soak
