# src/store: SQLite state of wrenn-agent (library only; the daemon links it with -lsqlite3 -lcrypto).
LIBDEPS_test-store := store basic
LDLIBS_test-store := -lsqlite3 -lcrypto
