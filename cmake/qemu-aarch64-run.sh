#!/bin/sh
# The CMAKE_CROSSCOMPILING_EMULATOR of cmake/toolchain-aarch64.cmake:
#   qemu-aarch64-run.sh PROGRAM [ARGS...]
# runs an aarch64 PROGRAM under QEMU user-mode emulation. The program sees this
# script as its argv[0], so that a program which re-executes itself -- as
# GoogleTest's "threadsafe" death tests do, execv(argv[0], ...) -- runs this
# script again, on the host, instead of handing an aarch64 file to the kernel
# (which, without binfmt_misc, fails with "Exec format error").
set -e
if [ -z "$QMOE_QEMU_PROGRAM" ]; then
  QMOE_QEMU_PROGRAM=$(readlink -f "$1")
  export QMOE_QEMU_PROGRAM
  shift
fi
exec qemu-aarch64 -L "${QMOE_QEMU_SYSROOT:-/usr/aarch64-linux-gnu}" -0 "$0" "$QMOE_QEMU_PROGRAM" "$@"
