// Catch2 entry point shared by every bitdial test suite.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
