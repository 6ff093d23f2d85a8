# src/cli: the `wrenn` command-line client (libcurl + jansson over the native API; libarchive for
# template build contexts).
PROGRAMS += wrenn:cli
LIBDEPS_wrenn := cli basic
LDLIBS_wrenn := -lcurl -ljansson -larchive -lcrypto
LIBDEPS_test-cli := cli basic
LDLIBS_test-cli := -lcurl -ljansson -larchive -lcrypto
