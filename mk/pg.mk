# src/pg: the control plane's state in PostgreSQL through libpq (Debian's libpq-dev), and the
# multi-host pieces of wrenn-agent (--role control|host, docs/ARCHITECTURE.md "Multiple hosts").
CFLAGS_pg := -I/usr/include/postgresql
LIBDEPS_wrenn-agent += pg
LDLIBS_wrenn-agent += -lpq
# Request signing (basic/hmac.c) and the scheduler's choice (daemon/control-sched.c).
LIBDEPS_test-control := daemon basic
LDLIBS_test-control := -ljansson -lcrypto
