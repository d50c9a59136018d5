# Cross-compiles bitdial's tests, examples and benchmarks for aarch64 Linux with Debian's
# g++-12-aarch64-linux-gnu; the binaries run under user-mode emulation (qemu-user):
#
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#   cmake --build build-arm -j2 --target test_kernels
#   qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max build-arm/tests/test_kernels
#
# ctest runs them through CMAKE_CROSSCOMPILING_EMULATOR; the environment variable QEMU_CPU picks
# the CPU model (max: dotprod + i8mm; cortex-a53: plain Armv8.0 NEON).
# The header-only dependencies (Catch2, Eigen, xsimd, nlohmann-json) are the host's packages:
# their CMake configs are found on the host, and /usr/include is searched AFTER the target's own
# system headers (-idirafter), so only directories the aarch64 sysroot lacks come from it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(BITDIAL_AARCH64_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${BITDIAL_AARCH64_TRIPLE}-gcc-12)
set(CMAKE_CXX_COMPILER ${BITDIAL_AARCH64_TRIPLE}-g++-12)
set(CMAKE_CXX_FLAGS_INIT "-idirafter /usr/include")

set(CMAKE_FIND_ROOT_PATH /usr/${BITDIAL_AARCH64_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# Debian installs xsimd's config under the host's multiarch directory (/usr/lib/<host triple>/cmake).
if(NOT xsimd_DIR)
  file(GLOB BITDIAL_HOST_XSIMD_DIR LIST_DIRECTORIES true /usr/lib/*-linux-gnu/cmake/xsimd)
  list(FILTER BITDIAL_HOST_XSIMD_DIR EXCLUDE REGEX "${BITDIAL_AARCH64_TRIPLE}")
  if(BITDIAL_HOST_XSIMD_DIR)
    list(GET BITDIAL_HOST_XSIMD_DIR 0 BITDIAL_HOST_XSIMD_DIR)
    set(xsimd_DIR ${BITDIAL_HOST_XSIMD_DIR} CACHE PATH "xsimd's CMake config (host package, header-only)")
  endif()
endif()

# ctest (add_test) runs the binaries through qemu; -L points it at the target's loader and libraries.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${BITDIAL_AARCH64_TRIPLE})
