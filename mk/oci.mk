# src/build/dockerfile.c and oci.c: unit tests link only the build library's pure parts' deps.
# test-oci doubles as the integration driver of tests/integration/73-oci.t (`test-oci prepare ...`).
LIBDEPS_test-dockerfile := build basic
LDLIBS_test-dockerfile := -ljansson
LIBDEPS_test-oci := build basic
LDLIBS_test-oci := -ljansson
