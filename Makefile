# ubpipe — declarative batch-pipeline interpreter
# Settings -----------------------------------------------------------------
PREFIX   ?= /usr/local
CC       ?= cc
PKGS     := yaml-0.1 libpq libcurl openssl lua5.4 libzstd expat jansson libmicrohttpd libgvc libxxhash
VERSION  := 0.1.0
BUILD    ?= build
# reports (report/): CommonMark
PKGS     += libcmark
# DEV=1: strict warnings as errors.  SAN=1: AddressSanitizer + UBSan.
DEV      ?= 0
SAN      ?= 0

WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wno-unused-parameter
OPT      ?= -O2 -g
CFLAGS   += $(OPT) -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(WARN) \
            -DUB_VERSION='"$(VERSION)"' -Iinterp -I$(BUILD) -include interp/base/banned.h \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm -lpthread
ifeq ($(DEV),1)
CFLAGS   += -Werror
endif
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
# FUZZ=1 (with CC=clang): objects instrumented for libFuzzer (see `make fuzz`)
ifeq ($(FUZZ),1)
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

# V=1 shows the full commands
ifeq ($(V),1)
Q :=
SAY := @true
else
Q := @
SAY := @printf '  %-6s %s\n'
endif

# Objects, grouped by layer ------------------------------------------------
# bottom to top: base io aws lake emr lua core report ops web cli (each sees only the layers before it)
LAYERS   := base io aws lake emr lua core report ops web cli
SRCS     := $(foreach l,$(LAYERS),$(sort $(wildcard interp/$(l)/*.c)))
LIBSRCS  := $(filter-out interp/cli/main.c,$(SRCS))
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS  := $(LIBSRCS:%.c=$(BUILD)/%.o)
LUA_STD  := $(sort $(wildcard stdlib/*.lua))
WEB_ASSETS := $(sort $(wildcard interp/web/assets/*))
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
TOOLS    := $(patsubst tools/%.c,$(BUILD)/tools/%,$(wildcard tools/*.c))
FUZZERS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_S   ?= 60
FUZZ_RUNS ?=
FUZZ_JOBS ?= 1

.PHONY: all dev san fuzz fuzz-bins test test-setup unit unit-bins golden e2e bench soak run install clean tools stack-stop browser-deps
all: ubpipe $(TOOLS)

ubpipe $(BUILD)/ubpipe: $(OBJS)
	$(SAY) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

unit-bins: $(UNIT)

$(BUILD)/libubpipe.a: $(LIBOBJS)
	@rm -f $@
	$(SAY) AR $@
	$(Q)ar rcs $@ $(LIBOBJS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# stdlib/*.lua embedded into the binary, as jq does with builtin.jq
$(BUILD)/stdlib_embed.h: $(LUA_STD) tools/embed.sh
	@mkdir -p $(BUILD)
	sh tools/embed.sh $(LUA_STD) > $@.tmp && mv $@.tmp $@
$(BUILD)/interp/lua/luahost.o: $(BUILD)/stdlib_embed.h

# the web pages' CSS and JS, embedded the same way (served at /assets/NAME)
$(BUILD)/web_assets.h: $(WEB_ASSETS) tools/embed_files.sh
	@mkdir -p $(BUILD)
	sh tools/embed_files.sh ub_web_assets $(WEB_ASSETS) > $@.tmp && mv $@.tmp $@
$(BUILD)/interp/web/pages.o: $(BUILD)/web_assets.h

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libubpipe.a
	@mkdir -p $(dir $@)
	$(SAY) TEST $@
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libubpipe.a $(LDLIBS)

$(BUILD)/tools/%: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lm

tools: $(TOOLS)

# the report page's chart library (Debian libjs-chart.js: its UMD build), styles and script, embedded
# the same way (tools/embed_files.sh: a table by file name)
CHARTJS  ?= /usr/share/javascript/chart.js/chart.min.js
$(BUILD)/report_assets.h: $(CHARTJS) interp/report/report.css interp/report/report.js tools/embed_files.sh
	@mkdir -p $(BUILD)
	sh tools/embed_files.sh ub_report_assets $(CHARTJS) interp/report/report.css interp/report/report.js > $@.tmp && mv $@.tmp $@
$(BUILD)/interp/report/report.o: $(BUILD)/report_assets.h

dev:
	$(MAKE) DEV=1 BUILD=build-dev
san:
	$(MAKE) DEV=1 SAN=1 BUILD=build-san OPT='-O1 -g' build-san/ubpipe unit-bins
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBPIPE=build-san/ubpipe sh tests/run.sh build-san unit
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBPIPE=build-san/ubpipe sh tests/run.sh build-san golden
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBPIPE=build-san/ubpipe sh tests/run.sh build-san badinput

# libFuzzer targets tests/fuzz/*.c, linked against everything but cli/main.c
# (build-fuzz, clang).  `make fuzz` runs each for FUZZ_S seconds (and at most
# FUZZ_RUNS executions, FUZZ_JOBS targets at once); `make test`
# runs each over its committed corpus only (tests/fuzz/run.sh).
fuzz:
	$(MAKE) FUZZ=1 CC=clang BUILD=build-fuzz OPT='-O1 -g' fuzz-bins
	FUZZ_RUNS='$(FUZZ_RUNS)' FUZZ_JOBS='$(FUZZ_JOBS)' sh tests/fuzz/run.sh build-fuzz $(FUZZ_S)
fuzz-bins: $(FUZZERS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libubpipe.a
	@mkdir -p $(dir $@)
	$(SAY) FUZZ $@
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itests/fuzz $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libubpipe.a $(LDLIBS)

# Tests ----------------------------------------------------------------------
# `make test` first sets up what the tests need (as `make run` does): the packages of
# scripts/deps.sh's test group (apt-get when root, else the exact command and a stop) and
# `npm ci` of the npm test helpers; then builds (in a fresh make, so pkg-config sees what was
# just installed) and runs every test.
test: test-setup
	$(MAKE) all $(UNIT) browser-deps
	sh tests/run.sh $(BUILD)

test-setup:
	sh scripts/deps.sh install test

# puppeteer-core for the browser tests (tests/browser, pinned in its package-lock.json); without it
# (no network) those checks are skipped and say so
browser-deps:
	@[ -d tests/browser/node_modules/puppeteer-core ] || (cd tests/browser && npm ci --no-audit --no-fund) || \
	  echo "make: tests/browser: npm ci failed; browser checks will be skipped"

unit: $(UNIT)
	sh tests/run.sh $(BUILD) unit

soak: all ; KILL_N=200 sh tests/e2e/test_kill_resume.sh
bench: all $(BUILD)/libubpipe.a
	sh tests/bench/run.sh $(BUILD)

run: 
	sh scripts/run-local.sh

stack-stop:
	sh scripts/stack.sh stop

install: ubpipe
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	           $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 ubpipe $(DESTDIR)$(PREFIX)/bin/ubpipe
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/

clean:
	rm -rf build build-dev build-san build-fuzz ubpipe

-include $(OBJS:.o=.d) $(LIBOBJS:.o=.d)
