# wrenn — single non-recursive GNU Makefile.
#
#   make               build host and guest binaries (MODE=release)
#   make MODE=debug    -O0 -g
#   make MODE=asan     ASan+UBSan (what the tests use)
#   make unit          unit tests (cmocka) under ASan+UBSan
#   make test          everything CI runs
#   make bench         benchmarks (BENCH lines)
#   make guest         guest kernel + root filesystem images (cached)
#   make lint / format / format-check
#
# Layout rule: every directory src/<lib>/ is compiled into build/<mode>/lib/lib<lib>.a
# except its main.c; a directory with a main.c is also a program (see PROGRAMS).
# Further rules live in mk/*.mk, one fragment per area.

MODE ?= release
# O= puts all output elsewhere (parallel work trees, CI scratch); default build/.
O ?= build
BUILD := $(O)/$(MODE)
CC ?= gcc
ifeq ($(CC),cc)
CC := gcc
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wpointer-arith -Wno-format-nonliteral
BASE_CFLAGS := -std=gnu17 -D_GNU_SOURCE $(WARN) -Isrc -I$(O)/gen -MMD -MP -pthread

ifeq ($(MODE),release)
MODE_CFLAGS := -O2 -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
MODE_LDFLAGS := -pie -Wl,-z,relro,-z,now
else ifeq ($(MODE),debug)
MODE_CFLAGS := -O0 -g3
else ifeq ($(MODE),static)
# Guest binaries (envd, wrenn-init): fully static so they run in any rootfs.
MODE_CFLAGS := -O2 -D_FORTIFY_SOURCE=3 -fstack-protector-strong
MODE_LDFLAGS := -static
else ifeq ($(MODE),asan)
MODE_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
MODE_LDFLAGS := -fsanitize=address,undefined
else
$(error MODE must be release, debug, asan or static)
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(MODE_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(MODE_LDFLAGS) $(LDFLAGS) -pthread

.SECONDEXPANSION:
# Keep objects: they are intermediate to the archives but rebuilding them every time is waste.
.SECONDARY:

# --- libraries: one per src/ directory (minus main.c) -------------------------
LIB_DIRS := $(patsubst src/%/,%,$(sort $(dir $(wildcard src/*/*.c))))
lib_srcs = $(filter-out src/$(1)/main.c,$(wildcard src/$(1)/*.c))
lib_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_srcs,$(1)))
LIBS := $(foreach d,$(LIB_DIRS),$(if $(call lib_srcs,$(d)),$(BUILD)/lib/lib$(d).a))

$(BUILD)/lib/lib%.a: $$(call lib_objs,$$*)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_$(firstword $(subst /, ,$(patsubst src/%,%,$(dir $<))))) -c $< -o $@

# --- programs -----------------------------------------------------------------
# PROGRAMS += name:dir ; LDLIBS_<name> := external libraries. Fragments add to it.
PROGRAMS :=
BINS :=
UNIT_LDLIBS := -lcmocka
include $(sort $(wildcard mk/*.mk))

# LIBDEPS_<program or test-name> := dirs it links (default: every library).
libs_of = $(if $(LIBDEPS_$(1)),$(patsubst %,$(BUILD)/lib/lib%.a,$(LIBDEPS_$(1))),$(LIBS))
prog_name = $(word 1,$(subst :, ,$(1)))
prog_dir = $(word 2,$(subst :, ,$(1)))
define PROGRAM_RULE
BINS += $(BUILD)/bin/$(call prog_name,$(1))
$(BUILD)/bin/$(call prog_name,$(1)): $(BUILD)/obj/src/$(call prog_dir,$(1))/main.o $$(call libs_of,$(call prog_name,$(1)))
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$< -Wl,--start-group $$(call libs_of,$(call prog_name,$(1))) -Wl,--end-group $$(LDLIBS_$(call prog_name,$(1)))
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$(p))))

# --- unit tests: tests/unit/test-*.c, each a cmocka binary ---------------------
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $$(call libs_of,$$*)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< -Wl,--start-group $(call libs_of,$*) -Wl,--end-group $(UNIT_LDLIBS) $(LDLIBS_$*)

.PHONY: all host guest-bins unit-bins unit test integration bench lint format format-check clean deps
.DEFAULT_GOAL := all
# Guest programs are built a second time, static, into build/static/bin.
GUEST_PROGRAMS := envd wrenn-init
all: host guest-bins
host: $(BINS)
GUEST_TARGETS = $(addprefix $(O)/static/bin/,$(filter $(GUEST_PROGRAMS),$(foreach p,$(PROGRAMS),$(call prog_name,$(p)))))
guest-bins:
	$(if $(GUEST_TARGETS),@$(MAKE) --no-print-directory MODE=static $(GUEST_TARGETS))
unit-bins: $(UNIT_BINS)

# Unit tests always run under ASan+UBSan.
unit:
	@$(MAKE) --no-print-directory MODE=asan unit-bins
	@scripts/run-unit.sh $(O)/asan/tests

test:
	@scripts/run-tests.sh

bench:
	@scripts/run-bench.sh $(BENCHES)

FMT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FMT_SRCS)
format-check:
	clang-format --dry-run --Werror $(FMT_SRCS)
lint:
	@scripts/lint.sh

clean:
	rm -rf $(O)/release $(O)/debug $(O)/asan $(O)/static $(O)/gen

deps:
	@scripts/install-deps.sh

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

.PHONY: run
run:
	@scripts/run-agent.sh
