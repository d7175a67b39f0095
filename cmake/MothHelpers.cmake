# Shared build settings and the helpers every CMakeLists.txt uses.

find_program(MOTH_CCACHE ccache)
if(MOTH_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MOTH_CCACHE})
endif()

# moth_warnings: an interface target carrying the warning flags (and -Werror in CI).
add_library(moth_warnings INTERFACE)
target_compile_options(moth_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough
  $<$<BOOL:${MOTH_WERROR}>:-Werror>
  # GCC 12 at -O2 reports false "may be used uninitialized" inside boost::variant2 (the client's Result<T>) and a
  # false "mismatched new/delete" on Asio's coroutine frames; both stay warnings, never errors, so the release
  # build is not hostage to them.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=maybe-uninitialized>
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=mismatched-new-delete>)

# moth_sanitizers: ASan + UBSan for the dev preset; fuzzer builds add their own.
add_library(moth_sanitizers INTERFACE)
if(MOTH_SANITIZE OR MOTH_FUZZ)
  target_compile_options(moth_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(moth_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
if(MOTH_FUZZ)
  # Instrument every module for coverage feedback; the fuzz targets link the libFuzzer main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# moth_add_module(<name> SOURCES ... [DEPS ...])
# Creates the static library moth_<name> (alias moth::<name>); its headers are reached as
# "<name>/<file>.hpp" from src/, and public headers from include/.
function(moth_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(moth_${name} STATIC ${ARG_SOURCES})
  add_library(moth::${name} ALIAS moth_${name})
  target_include_directories(moth_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(moth_${name} PUBLIC ${ARG_DEPS} moth_sanitizers PRIVATE moth_warnings)
endfunction()

# moth_add_test(<name> LABELS <label>... SOURCES ... [DEPS ...])
# One GoogleTest executable registered with CTest, test by test, carrying the given labels.
function(moth_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main moth_warnings moth_sanitizers)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/test)
  gtest_discover_tests(${name}
    PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
  # Labels are set by a script CTest includes after the discovered tests: gtest_discover_tests (CMake 3.25)
  # splits a list-valued property, so a second label would be lost.
  set(labels_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake)
  file(WRITE ${labels_file}
    "if(DEFINED ${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${labels_file})
endfunction()

include(MothSketch)
