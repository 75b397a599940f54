# Cross-compiles for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu and
# runs the target's programs (ctest, gtest discovery) under QEMU user-mode
# emulation: `make test-aarch64` (apt: g++-aarch64-linux-gnu qemu-user).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(QMOE_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${QMOE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${QMOE_CROSS_TRIPLE}-g++)

# The target's libraries and headers (libc, libstdc++) live here.
set(CMAKE_FIND_ROOT_PATH /usr/${QMOE_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# add_test and gtest_discover_tests prefix every target program with this:
# qemu-aarch64 -L /usr/aarch64-linux-gnu, through a script that also lets the
# program re-execute itself (GoogleTest's death tests; see the script).
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/qemu-aarch64-run.sh)

