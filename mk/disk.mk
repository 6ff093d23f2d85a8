# src/disk: copy-on-write root disks (reflink, qcow2 overlay, dm-snapshot).
# wrenn-diskctl: command-line driver for the integration tests.
PROGRAMS += wrenn-diskctl:diskctl
LIBDEPS_wrenn-diskctl := disk basic

LIBDEPS_test-disk := disk basic
