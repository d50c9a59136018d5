# Compile-fail tests (fmt style): every case in this folder is a small translation unit that must NOT
# compile, for the reason its first line names (`// expect-error: <regex>` matched against the
# compiler's diagnostics); control.cpp, which uses the valid counterparts, must compile. A case that
# compiles, or fails for another reason, fails the test: a removed static_assert or a check that no
# longer fires at compile time shows here.
#
# cmake -DCXX=<compiler> -DINCLUDE_DIR=<include/> -DCASE_DIR=<this folder> [-DCASES=a.cpp;b.cpp] -P run.cmake
if(NOT CASES)
  file(GLOB CASES RELATIVE ${CASE_DIR} ${CASE_DIR}/*.cpp)
endif()
list(SORT CASES)
set(failed "")
set(n 0)
foreach(case IN LISTS CASES)
  math(EXPR n "${n} + 1")
  file(STRINGS ${CASE_DIR}/${case} expect REGEX "^// expect-error: " LIMIT_COUNT 1)
  string(REGEX REPLACE "^// expect-error: " "" expect "${expect}")
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -Wall -Wextra -I${INCLUDE_DIR} ${CASE_DIR}/${case}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(APPEND err "${out}")
  if(expect STREQUAL "")
    if(rc EQUAL 0)
      message(STATUS "ok   ${case}: compiles (control)")
    else()
      message(STATUS "FAIL ${case}: the control does not compile:\n${err}")
      list(APPEND failed ${case})
    endif()
  elseif(rc EQUAL 0)
    message(STATUS "FAIL ${case}: compiled, expected an error matching '${expect}'")
    list(APPEND failed ${case})
  elseif(NOT err MATCHES "${expect}")
    message(STATUS "FAIL ${case}: failed, but not for the expected reason '${expect}':\n${err}")
    list(APPEND failed ${case})
  else()
    message(STATUS "ok   ${case}: rejected ('${expect}')")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "compile-fail: ${n} cases, failed: ${failed}")
endif()
message(STATUS "compile-fail: ${n} cases, all as expected")
