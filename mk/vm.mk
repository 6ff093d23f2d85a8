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
LIBDEPS_test-launch := vm http basic
LDLIBS_test-launch := -ljansson
# test-ch links the fake Cloud Hypervisor server (libc, pthread, jansson only).
$(BUILD)/tests/test-ch: $(BUILD)/obj/tests/unit/fake-ch.o
LDLIBS_test-ch := $(BUILD)/obj/tests/unit/fake-ch.o -ljansson
