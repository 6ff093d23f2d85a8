# src/build/dockerfile.c and oci.c: unit tests link only the build library's pure parts' deps.
# test-oci doubles as the integration driver of tests/integration/73-oci.t (`test-oci prepare ...`).
LIBDEPS_test-dockerfile := build basic
LDLIBS_test-dockerfile := -ljansson
LIBDEPS_test-oci := build basic
LDLIBS_test-oci := -ljansson -lcrypto
# Fuzz target of the Dockerfile parser (only its object: the rest of src/build is not needed).
FUZZ_TARGETS += fuzz-dockerfile
FUZZ_DEPS_fuzz-dockerfile := $(BUILD)/obj/src/build/dockerfile.o $(BUILD)/lib/libbasic.a
