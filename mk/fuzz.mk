# tests/fuzz: fuzz targets (LLVMFuzzerTestOneInput) for the HTTP request path,
# Connect framing + JSON decoding, multipart and vm_config validation.
#
#   make fuzz-replay            replay every seed corpus under ASan+UBSan with
#                               gcc (tests/fuzz/replay-main.c as main); what CI runs
#   make fuzz FUZZ_SECONDS=60   real fuzzing with clang + libFuzzer (needs clang-14
#                               and libclang-rt-14-dev), each target in turn, on a
#                               scratch copy of its corpus; crashes land in
#                               $(O)/fuzzer/crashes/
FUZZ_TARGETS := fuzz-http fuzz-connect fuzz-multipart fuzz-vmconfig fuzz-ext2vol
FUZZ_SECONDS ?= 60
FUZZ_CLANG ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null))

FUZZ_OBJ := $(BUILD)/obj/tests/fuzz
FUZZ_LIBS := -ljansson -lcrypto -lz
FUZZ_DEPS_fuzz-http := $(FUZZ_OBJ)/serve.o $(BUILD)/lib/libenvd.a $(BUILD)/lib/libhttp.a $(BUILD)/lib/libbasic.a
FUZZ_DEPS_fuzz-connect := $(FUZZ_OBJ)/serve.o $(BUILD)/lib/libhttp.a $(BUILD)/lib/libbasic.a
FUZZ_DEPS_fuzz-multipart := $(BUILD)/lib/libenvd.a $(BUILD)/lib/libbasic.a
# Only the one object: the rest of src/vm is not needed (nor always buildable).
FUZZ_DEPS_fuzz-vmconfig := $(BUILD)/obj/src/vm/vmconfig.o $(BUILD)/lib/libbasic.a
# volume content access on damaged images (libext2fs; mkfs.ext4 and debugfs make the base image)
FUZZ_DEPS_fuzz-ext2vol := $(BUILD)/obj/src/disk/ext2vol.o $(BUILD)/lib/libbasic.a
FUZZ_LIBS_fuzz-ext2vol := -lext2fs -lcom_err

# serve.c drives the server internals (http/msg.h includes llhttp.h).
$(FUZZ_OBJ)/serve.o: MODE_CFLAGS += -I$(LLHTTP_INC)

# FUZZ_ENGINE=libfuzzer links libFuzzer's main instead of the replay driver.
ifeq ($(FUZZ_ENGINE),libfuzzer)
FUZZ_MAIN :=
FUZZ_LINK := -fsanitize=fuzzer
else
FUZZ_MAIN := $(FUZZ_OBJ)/replay-main.o
FUZZ_LINK :=
endif

$(BUILD)/fuzz/fuzz-%: $(FUZZ_OBJ)/fuzz-%.o $(FUZZ_MAIN) $$(FUZZ_DEPS_fuzz-$$*)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) $(FUZZ_LINK) -o $@ $(filter %.o,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(FUZZ_LIBS) $(FUZZ_LIBS_fuzz-$*)

.PHONY: fuzz-bins fuzz-replay fuzz
# second expansion: other fragments (mk/oci.mk) add targets after this one is read
fuzz-bins: $$(addprefix $(BUILD)/fuzz/,$$(FUZZ_TARGETS))

fuzz-replay:
	@$(MAKE) --no-print-directory MODE=asan fuzz-bins
	@set -e; for t in $(FUZZ_TARGETS); do \
		$(O)/asan/fuzz/$$t tests/fuzz/corpus/$$t; \
	done

fuzz:
	@test -n "$(FUZZ_CLANG)" || { echo "fuzz: clang not found (Debian: clang-14 libclang-rt-14-dev)"; exit 1; }
	@$(MAKE) --no-print-directory O=$(O)/fuzzer MODE=asan CC=$(FUZZ_CLANG) \
		CFLAGS=-fsanitize=fuzzer-no-link FUZZ_ENGINE=libfuzzer fuzz-bins
	@failed=; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(O)/fuzzer/corpus/$$t $(O)/fuzzer/crashes; \
		cp -n tests/fuzz/corpus/$$t/* $(O)/fuzzer/corpus/$$t/ 2>/dev/null || true; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(O)/fuzzer/asan/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
			-artifact_prefix=$(O)/fuzzer/crashes/$$t- -print_final_stats=1 \
			$(O)/fuzzer/corpus/$$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (inputs in $(O)/fuzzer/crashes/)"; exit 1; fi; \
	echo "fuzz: no crash in $(FUZZ_TARGETS)"
