# Slipway build. `make deps` installs Debian packages, `make` builds
# build/slipway, `make test` runs every test (unit, unit under ASan+UBSan,
# fuzz corpus replay, e2e scenarios). SANITIZE=address,undefined builds the
# whole tree with sanitizers into build/san. `make install` installs the
# binary, the manual pages (`make man`, made from --help by help2man), the
# systemd units and the docs under PREFIX (default /usr/local), honouring
# DESTDIR; `make uninstall` removes them (docs/deploying.md).

PKGS := yaml-0.1 jansson libsodium sqlite3 libarchive lua5.4 libgit2 libcurl libmicrohttpd gnutls libpq expat
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

CC ?= cc
OPT ?= -O2 -g
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0-dev)
# Error messages are truncated on purpose (bounded struct sw_err), so
# -Wformat-truncation is off; sw_snprintf() reports truncation where it matters.
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2 -Wvla -Wno-format-truncation
# Files made from others at build time (shared by every build directory).
GEN := build/gen
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 $(WARN) -Isrc $(PKG_CFLAGS) -I$(GEN) \
	-include src/base/banned.h -DSW_VERSION='"$(VERSION)"' -MMD -MP

ifdef SANITIZE
B ?= build/san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1 -g
else
B ?= build
SAN_FLAGS :=
endif

CFLAGS_ALL := $(BASE_CFLAGS) $(OPT) $(SAN_FLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SAN_FLAGS) $(LDFLAGS)

LIB_SRC := $(filter-out src/main.c,$(shell find src -name '*.c' | LC_ALL=C sort))
LIB_OBJ := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all deps unit unit-san fuzz fuzz-replay e2e test bench clean examples man install uninstall
all: $(B)/slipway examples

deps:
	bash scripts/install-deps.sh

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# The agent's systemd unit inside the binary, for `host bootstrap` (src/remote/bootstrap.c): one C
# string per line of the unit `make install` installs.
$(GEN)/agent_unit.inc: contrib/systemd/slipway-agent.service.in
	@mkdir -p $(GEN)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< >$@.tmp && mv $@.tmp $@

$(B)/libslipway.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/slipway: $(B)/obj/main.o $(B)/libslipway.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

$(B)/tests/%: tests/unit/%.c $(B)/libslipway.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(B)/libslipway.a $(PKG_LIBS) $(CMOCKA_LIBS) $(LDFLAGS_ALL) -lm

examples:
	$(MAKE) -C examples/hello

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; ./$$t || fail=1; \
	done; exit $$fail

unit-san:
	$(MAKE) SANITIZE=address,undefined unit

# libFuzzer targets: clang, ASan+UBSan, the library compiled again with them.
FUZZ_B ?= build/fuzz
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -O1 -g -Wno-unknown-warning-option -Wno-format-nonliteral
FUZZ_OBJ := $(patsubst src/%.c,$(FUZZ_B)/obj/%.o,$(LIB_SRC))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(FUZZ_B)/%,$(FUZZ_SRC))

$(FUZZ_B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(BASE_CFLAGS) $(FUZZ_FLAGS) -c $< -o $@

$(FUZZ_B)/%: tests/fuzz/%.c $(FUZZ_OBJ)
	clang $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -lm

fuzz: $(FUZZ_BIN)

$(B)/obj/remote/bootstrap.o $(FUZZ_B)/obj/remote/bootstrap.o: $(GEN)/agent_unit.inc

# Replays each committed corpus once (no new fuzzing), then fuzzes each
# target for FUZZ_SECONDS (default 0: replay only).
FUZZ_SECONDS ?= 0
fuzz-replay: $(FUZZ_BIN)
	@fail=0; for f in $(FUZZ_BIN); do \
		n=$$(basename $$f); c=tests/fuzz/corpus/$${n#fuzz_}; \
		echo "== $$n ($$(ls $$c | wc -l) corpus files)"; \
		$$f -runs=0 $$c >$(FUZZ_B)/$$n.log 2>&1 || { tail -30 $(FUZZ_B)/$$n.log; fail=1; }; \
		if [ "$(FUZZ_SECONDS)" != 0 ]; then \
			mkdir -p $(FUZZ_B)/corpus-$$n; \
			$$f -max_total_time=$(FUZZ_SECONDS) $(FUZZ_B)/corpus-$$n $$c >>$(FUZZ_B)/$$n.log 2>&1 || { tail -30 $(FUZZ_B)/$$n.log; fail=1; }; \
		fi; \
	done; exit $$fail

e2e: $(B)/slipway examples
	SLIPWAY_BIN=$(abspath $(B)/slipway) /usr/bin/python3 -m pytest -q --durations=15 tests/e2e

test: all
	$(MAKE) unit
	$(MAKE) unit-san
	$(MAKE) fuzz-replay
	$(MAKE) e2e

# Manual pages: slipway(1) and slipway-CMD(1) for each command, from --help.
man: $(B)/man/slipway.1

$(B)/man/slipway.1: $(B)/slipway scripts/gen-man.sh
	bash scripts/gen-man.sh $(B)/slipway $(B)/man

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/slipway
# systemd reads units from /usr/local/lib/systemd/system and /lib/systemd/system too.
UNITDIR ?= $(PREFIX)/lib/systemd/system
UNITS := slipway-server.service slipway-agent.service

# The units name the installed binary and docs: @BINDIR@ and @DOCDIR@ are filled in here.
install: $(B)/slipway $(B)/man/slipway.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(B)/slipway $(DESTDIR)$(BINDIR)/slipway
	install -m 0644 $(B)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	for u in $(UNITS); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' contrib/systemd/$$u.in >$(B)/$$u && \
		install -m 0644 $(B)/$$u $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 contrib/systemd/agent.env contrib/systemd/server.env $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/slipway $(DESTDIR)$(MANDIR)/man1/slipway.1 $(DESTDIR)$(MANDIR)/man1/slipway-*.1
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(wildcard docs/*.md))) \
		$(DESTDIR)$(DOCDIR)/examples/agent.env $(DESTDIR)$(DOCDIR)/examples/server.env
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

bench: $(B)/slipway
	SLIPWAY_BIN=$(abspath $(B)/slipway) bash bench/pipeline/run.sh

clean:
	rm -rf build
	$(MAKE) -C examples/hello clean

-include $(shell find build -name '*.d' 2>/dev/null)
