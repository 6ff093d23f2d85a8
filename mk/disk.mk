# src/disk: copy-on-write root disks (reflink, qcow2 overlay, dm-snapshot).
# wrenn-diskctl: command-line driver for the integration tests.
PROGRAMS += wrenn-diskctl:diskctl
LIBDEPS_wrenn-diskctl := disk basic

LIBDEPS_test-disk := disk basic

# volumes (src/runtime/volumes.c, src/disk/ext2vol.c): content access with libext2fs
LIBDEPS_test-volumes := runtime vm net disk store http init basic
$(BUILD)/tests/test-volumes: $(BUILD)/obj/tests/unit/fake-ch.o
LDLIBS_test-volumes := $(BUILD)/obj/tests/unit/fake-ch.o -ljansson -lsqlite3 -lmnl -lcrypto \
	-lpthread -lext2fs -lcom_err
