# Slipway build. `make deps` installs Debian packages, `make` builds
# build/slipway, `make test` runs every test (unit, unit under ASan+UBSan,
# fuzz corpus replay, e2e scenarios). SANITIZE=address,undefined builds the
# whole tree with sanitizers into build/san.

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
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 $(WARN) -Isrc $(PKG_CFLAGS) \
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

.PHONY: all deps unit unit-san fuzz fuzz-replay e2e test bench clean examples
all: $(B)/slipway examples

deps:
	bash scripts/install-deps.sh

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

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
	SLIPWAY_BIN=$(abspath $(B)/slipway) /usr/bin/python3 -m pytest -q tests/e2e

test: all
	$(MAKE) unit
	$(MAKE) unit-san
	$(MAKE) fuzz-replay
	$(MAKE) e2e

bench: $(B)/slipway
	SLIPWAY_BIN=$(abspath $(B)/slipway) bash bench/pipeline/run.sh

clean:
	rm -rf build
	$(MAKE) -C examples/hello clean

-include $(shell find build -name '*.d' 2>/dev/null)
