# Unit tests of the foundation link only what they use.
LIBDEPS_test-err := basic
LIBDEPS_test-vmconfig := vm basic
LIBDEPS_test-base64 := basic
LDLIBS_test-base64 := -lcrypto
