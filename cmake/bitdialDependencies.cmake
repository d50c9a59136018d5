# Finds bitdial's header-only dependencies. Shared by the build and the installed package config.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.4 NO_MODULE)
# Debian 12's xsimd 8.1 package config links a target named `xtl` that it never defines;
# an empty imported target satisfies it (xsimd itself does not need xtl).
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
find_dependency(xsimd 8.1)
find_dependency(Threads)
# Optional: nlohmann-json, for bitdial::io (the safetensors reader). Absent, bitdial::io is not defined.
find_package(nlohmann_json 3 QUIET)
