# src/build: template builds (engine, registry + logs, uploaded files, cache) between the runtime
# and the daemon.  libarchive reads build-context archives for the /v1 Dockerfile route.
LIBDEPS_test-build := build runtime vm net disk store http basic
LDLIBS_test-build := -ljansson -lsqlite3 -lmnl -lcrypto -lpthread -larchive
