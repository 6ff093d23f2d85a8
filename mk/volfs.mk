# wrenn-volfs: volume content operations (src/disk/ext2vol.c, libext2fs) in a confined process of
# their own, run by wrenn-agent for /volumecontent (src/disk/ext2vol-run.c).
PROGRAMS += wrenn-volfs:volfs
LIBDEPS_wrenn-volfs := disk basic
LDLIBS_wrenn-volfs := -ljansson -lext2fs -lcom_err
