# src/net: netns, rtnetlink (libmnl), TAP, slots, egress (nft -f -).
# wrenn-netctl: a line-driven test driver for the integration tests.
PROGRAMS += wrenn-netctl:netctl
LIBDEPS_wrenn-netctl := net basic
LDLIBS_wrenn-netctl := -lmnl

LIBDEPS_test-net := net basic
LDLIBS_test-net := -lmnl
