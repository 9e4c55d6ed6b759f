# flespi-pipe -- see README.  Plain POSIX-ish make with GNU conveniences.

VERSION    = 0.1.0

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
# Examples to copy: the systemd unit and the cron lines (never into /etc).
EXAMPLEDIR ?= $(PREFIX)/share/flespi-pipe
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

.PHONY: all check test clean install uninstall deps demo asan check-asan \
        valgrind lint bench bench-wan fuzz fuzz-build soak mutate \
        check-rabbitmq bench-mqtt

all: $(PROGS)

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
check: all $(UNITS) $(TOOLS) asan
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
# so it is not part of check.
check-rabbitmq: all
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
RECIPES    = scripts/systemd/flespi-to-wialon@.service \
             scripts/systemd/flespi-to-wialon.conf scripts/flespi-pipe.cron

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man7 $(DESTDIR)$(EXAMPLEDIR)
	for p in $(PROGS); do install -m 755 $$p $(DESTDIR)$(BINDIR)/; done
	for m in $(MANS); do install -m 644 $$m $(DESTDIR)$(MANPREFIX)/man1/; done
	for m in $(MANS7); do install -m 644 $$m $(DESTDIR)$(MANPREFIX)/man7/; done
	for r in $(RECIPES); do \
	    sed 's|/usr/local/bin/|$(BINDIR)/|g' $$r \
	        >$(DESTDIR)$(EXAMPLEDIR)/$${r##*/} && \
	    chmod 644 $(DESTDIR)$(EXAMPLEDIR)/$${r##*/} || exit 1; \
	done

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$${p##*/}; done
	for m in $(MANS); do rm -f $(DESTDIR)$(MANPREFIX)/man1/$${m##*/}; done
	for m in $(MANS7); do rm -f $(DESTDIR)$(MANPREFIX)/man7/$${m##*/}; done
	for r in $(RECIPES); do rm -f $(DESTDIR)$(EXAMPLEDIR)/$${r##*/}; done
	-rmdir $(DESTDIR)$(EXAMPLEDIR) 2>/dev/null

# Debian packages for building, testing and the demo; sudo when not root.
DEBS = build-essential pkg-config libcurl4-openssl-dev libjansson-dev \
       libmosquitto-dev mosquitto mosquitto-clients openssl python3 jq curl \
       mandoc valgrind clang libclang-rt-14-dev procps time \
       zlib1g-dev nginx python3-requests strace systemd libssl-dev \
       ca-certificates rabbitmq-server
# rabbitmq-server starts itself (and epmd) when installed: a policy-rc.d
# that says no (101) while it installs, unless one is there, and the
# service disabled after, so that nothing is left running; the tests
# start a node of their own.
deps:
	@missing=""; for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    prc=/usr/sbin/policy-rc.d; own=; \
	    if [ ! -e $$prc ]; then own=1; \
	        printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$prc >/dev/null && \
	        $$SUDO chmod 755 $$prc; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	    st=$$?; [ -z "$$own" ] || $$SUDO rm -f $$prc; \
	    if [ -d /run/systemd/system ]; then \
	        $$SUDO systemctl disable --now rabbitmq-server epmd.socket \
	            epmd.service >/dev/null 2>&1; fi; \
	    exit $$st; \
	else echo "all build and test packages are installed"; fi

demo: deps all
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
