# runtime: sandbox lifecycle library (src/runtime) and its driver wrenn-rtctl (src/rtctl).
PROGRAMS += wrenn-rtctl:rtctl
LIBDEPS_wrenn-rtctl := runtime vm net disk store http basic
LDLIBS_wrenn-rtctl := -ljansson -lsqlite3 -lmnl -lcrypto
LIBDEPS_test-runtime := runtime vm net disk store http basic
LDLIBS_test-runtime := -ljansson -lsqlite3 -lmnl
