# Sanitizer and fuzzer builds (`make test-sanitize`, `make fuzz`). Included at the
# end of CMakeLists.txt: it adds its flags to every target defined above it (in
# this folder and the ones added with add_subdirectory), C++ sources only, so a
# plain build (both options off) is unchanged.
#
#   QMOE_SANITIZE      -fsanitize= names, e.g. "address;undefined". UB is made
#                      fatal (-fno-sanitize-recover=undefined), frames kept
#                      (-fno-omit-frame-pointer), at -O1 -g (after each target's
#                      own -O: quicker to build, and what ASan recommends).
#   QMOE_BUILD_FUZZER  the libFuzzer target qmoe_program_fuzzer (tests/fuzz/); needs
#                      clang. Every other target is then built with
#                      -fsanitize=fuzzer-no-link (coverage for the fuzzer).
set(QMOE_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address;undefined")
option(QMOE_BUILD_FUZZER "Build the libFuzzer target tests/fuzz/program_fuzzer.cpp (clang)" OFF)

if(QMOE_BUILD_FUZZER)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "QMOE_BUILD_FUZZER needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  add_executable(qmoe_program_fuzzer tests/fuzz/program_fuzzer.cpp)
  target_link_libraries(qmoe_program_fuzzer PRIVATE qmoe_core)
  target_compile_options(qmoe_program_fuzzer PRIVATE -Wall -Wextra)
endif()

if(QMOE_SANITIZE OR QMOE_BUILD_FUZZER)
  list(JOIN QMOE_SANITIZE "," _qmoe_sanitizers)
  set(_qmoe_link_flags -g -fno-omit-frame-pointer)
  if(_qmoe_sanitizers)
    list(APPEND _qmoe_link_flags "-fsanitize=${_qmoe_sanitizers}")
  endif()
  if("undefined" IN_LIST QMOE_SANITIZE)
    list(APPEND _qmoe_link_flags -fno-sanitize-recover=undefined)
  endif()
  set(_qmoe_compile_flags -O1 ${_qmoe_link_flags})
  if(QMOE_BUILD_FUZZER)
    list(APPEND _qmoe_compile_flags -fsanitize=fuzzer-no-link)
  endif()

  function(_qmoe_sanitize_directory dir)
    get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    foreach(target IN LISTS targets)
      get_target_property(type ${target} TYPE)
      if(NOT type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$")
        continue()
      endif()
      target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${_qmoe_compile_flags}>")
      if(NOT type MATCHES "^(STATIC|OBJECT)_LIBRARY$")
        target_link_options(${target} PRIVATE "$<$<LINK_LANGUAGE:CXX>:${_qmoe_link_flags}>")
      endif()
    endforeach()
    get_property(subdirectories DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
    foreach(subdirectory IN LISTS subdirectories)
      _qmoe_sanitize_directory("${subdirectory}")
    endforeach()
  endfunction()
  _qmoe_sanitize_directory("${CMAKE_CURRENT_SOURCE_DIR}")
endif()

if(QMOE_BUILD_FUZZER)
  target_compile_options(qmoe_program_fuzzer PRIVATE -fsanitize=fuzzer)
  target_link_options(qmoe_program_fuzzer PRIVATE -fsanitize=fuzzer)
endif()
