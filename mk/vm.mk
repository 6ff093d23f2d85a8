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
# test-ch-jail runs the fake as a program through the launcher and the jail; built without
# sanitizers (they need /proc, which the jail does not show) and named so that
# scripts/run-unit.sh (test-*) does not run it.
$(BUILD)/tests/fake-cloud-hypervisor: tests/unit/fake-ch-main.c tests/unit/fake-ch.c tests/unit/fake-ch.h
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(BASE_CFLAGS)) -O1 -g -o $@ tests/unit/fake-ch-main.c \
		tests/unit/fake-ch.c -ljansson
LIBDEPS_test-ch-jail := vm http basic
LDLIBS_test-ch-jail := -ljansson
$(BUILD)/tests/test-ch-jail: $(BUILD)/tests/fake-cloud-hypervisor
