# Guest side: wrenn-init (static, see GUEST_PROGRAMS), guest kernel and root filesystem images.
PROGRAMS += wrenn-init:init
LIBDEPS_wrenn-init := init basic
LIBDEPS_test-init := init basic
