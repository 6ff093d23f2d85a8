# Unit tests of the foundation link only what they use.
LIBDEPS_test-err := basic
LIBDEPS_test-vmconfig := vm basic
