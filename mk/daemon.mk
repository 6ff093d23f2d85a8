# src/daemon: wrenn-agent (native /v1 API, E2B-compatible API, envd proxy).
PROGRAMS += wrenn-agent:daemon
LIBDEPS_wrenn-agent := daemon build runtime vm net disk store http basic
LDLIBS_wrenn-agent := -ljansson -lsqlite3 -lmnl -lcrypto -lpthread -larchive

# docs/openapi.yaml is served at GET /openapi.yaml: embedded as a byte array so the repo keeps
# exactly one copy.
$(O)/gen/daemon/openapi-data.h: docs/openapi.yaml
	@mkdir -p $(@D)
	{ echo '/* generated from docs/openapi.yaml by mk/daemon.mk */'; \
	  echo 'static const unsigned char openapi_yaml[] = {'; xxd -i < $<; echo '};'; } > $@.tmp
	mv $@.tmp $@
$(BUILD)/obj/src/daemon/openapi.o: $(O)/gen/daemon/openapi-data.h

# Unit tests of the pure parts (routing, host parsing, JSON shapes, auth, paging, config).
LIBDEPS_test-daemon := daemon build runtime vm net disk store http basic
LDLIBS_test-daemon := -ljansson -lsqlite3 -lmnl -lcrypto -lpthread -larchive
LIBDEPS_test-guestint := daemon build runtime vm net disk store http basic
LDLIBS_test-guestint := -ljansson -lsqlite3 -lmnl -lcrypto -lpthread -larchive
# runtime/metrics.c (rings, windows, envd range checks) and daemon/prom.c (the text format).
LIBDEPS_test-metrics := daemon build runtime vm net disk store http basic
LDLIBS_test-metrics := -ljansson -lsqlite3 -lmnl -lcrypto -lpthread -larchive -lm
# The relay both sandbox-traffic proxies share, against a hand-played upstream on loopback.
LIBDEPS_test-proxy-relay := daemon http basic
LDLIBS_test-proxy-relay := -ljansson -lcrypto
# GET /v1/events: the query and the answer's shape both roles share (daemon/events-view.c).
LIBDEPS_test-events := daemon net store http basic
LDLIBS_test-events := -ljansson -lsqlite3 -lmnl -lcrypto
