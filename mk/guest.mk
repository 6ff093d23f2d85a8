# Guest side: wrenn-init (static, see GUEST_PROGRAMS), guest kernel and root filesystem images.
PROGRAMS += wrenn-init:init
LIBDEPS_wrenn-init := init basic
LIBDEPS_test-init := init basic

# make guest          kernel + minimal + debian images in $(O)/guest (cached in $(WRENN_CACHE))
# make guest-minimal  kernel + minimal image only (what the boot tests need)
# make guest-smoke    boot the minimal image under QEMU in a private netns and ping it
GUEST_DIR := $(O)/guest
GUEST_INIT := $(O)/static/bin/wrenn-init
GUEST_ENVD := $(O)/static/bin/envd

.PHONY: guest guest-kernel guest-minimal guest-debian guest-static-bins guest-smoke
guest: guest-kernel guest-minimal guest-debian

guest-kernel:
	@guest/kernel/build.sh $(GUEST_DIR)

# Builds both static guest programs; envd must exist afterwards (its own area builds it).
guest-static-bins:
	@$(MAKE) --no-print-directory MODE=static guest-bins
	@test -x $(GUEST_INIT) || { echo "guest: $(GUEST_INIT) missing after the static build" >&2; exit 1; }
	@test -x $(GUEST_ENVD) || { echo "guest: $(GUEST_ENVD) missing: the images need the real envd (src/envd, built with MODE=static); it is not built yet" >&2; exit 1; }

guest-minimal: guest-kernel guest-static-bins
	@guest/rootfs/minimal.sh --init $(GUEST_INIT) --envd $(GUEST_ENVD) --out $(GUEST_DIR)/minimal.ext4

guest-debian: guest-static-bins
	@guest/rootfs/debian.sh --init $(GUEST_INIT) --envd $(GUEST_ENVD) --out $(GUEST_DIR)/debian.ext4

guest-smoke: guest-minimal
	@WRENN_GUEST=$(GUEST_DIR) prove -v tests/integration/10-guest-boot.t
