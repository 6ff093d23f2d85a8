# src/vm: VMM interface + backends (QEMU/QMP, Cloud Hypervisor/REST), launcher,
# KVM detection. src/vmctl: the test driver program over it.
PROGRAMS += wrenn-vmctl:vmctl
LIBDEPS_wrenn-vmctl := vm http basic
LDLIBS_wrenn-vmctl := -ljansson

LIBDEPS_test-vmm := vm http basic
LDLIBS_test-vmm := -ljansson
LIBDEPS_test-qmp := vm http basic
LDLIBS_test-qmp := -ljansson
LIBDEPS_test-ch := vm http basic
LDLIBS_test-ch := -ljansson
LIBDEPS_test-launch := vm http basic
LDLIBS_test-launch := -ljansson
