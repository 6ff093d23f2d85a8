# Templates across hosts (daemon/tplmanifest.c): the unit test links only what the manifest code
# needs.
LIBDEPS_test-tplmanifest := daemon basic
LDLIBS_test-tplmanifest := -ljansson -lcrypto
