# envd: guest agent (also built static into $(O)/static/bin/envd by `make`).
PROGRAMS += envd:envd
LIBDEPS_envd := envd http basic
# static-friendly libraries only (jansson, libcrypto for SHA-256 and base64, zlib)
LDLIBS_envd := -ljansson -lcrypto -lz
LIBDEPS_test-envd := envd http basic
LDLIBS_test-envd := -ljansson -lcrypto -lz
