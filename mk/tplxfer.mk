# Templates across hosts (daemon/tplmanifest.c): the unit test links only what the manifest code
# needs.
LIBDEPS_test-tplmanifest := daemon basic
LDLIBS_test-tplmanifest := -ljansson -lcrypto
# The fetched-template garbage collection's choice (daemon/tplgc-pick.c, pure) and its store
# columns: no runtime.
LIBDEPS_test-tplgc := daemon store basic
LDLIBS_test-tplgc := -lsqlite3 -ljansson -lcrypto -lpthread
