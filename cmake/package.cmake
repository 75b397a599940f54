# The installed CMake package (`cmake --install`): find_package(qmoe) gives
#   qmoe::ops  the operator library; linking it registers torch.ops.qmoe.* (the
#              registration is kept by a referenced symbol, see qmoe/ops.h)
#   qmoe::nn   the C++ modules of qmoe/nn.h (QuantumGate, LinearGate, MLPGate,
#              TopKRouter, MoE), linked against qmoe::ops
# Headers go to include/qmoe/, the libraries to lib/, the exported targets with
# qmoeConfig.cmake (find_dependency(Torch)) and its version file to lib/cmake/qmoe/.
# Included from CMakeLists.txt after the ops section; does nothing without qmoe_ops.
option(QMOE_BUILD_NN "Build the C++ modules library qmoe_nn (csrc/api/qmoe/nn)" ON)

if(TARGET qmoe_ops)
  include(GNUInstallDirs)
  include(CMakePackageConfigHelpers)

  # One version for the Python package and the C++ package: pyproject.toml's.
  file(STRINGS "${PROJECT_SOURCE_DIR}/pyproject.toml" _qmoe_version_line
       REGEX "^version = \"[0-9]+\\.[0-9]+\\.[0-9]+\"")
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" QMOE_PACKAGE_VERSION "${_qmoe_version_line}")

  # The symbol every includer of qmoe/ops.h references (keeps the library linked).
  target_sources(qmoe_ops PRIVATE "${PROJECT_SOURCE_DIR}/csrc/ops/library_anchor.cpp")
  # Build tree: the sources; installed: include/. Callers of qmoe/ops.h need torch.
  set_property(TARGET qmoe_ops PROPERTY INTERFACE_INCLUDE_DIRECTORIES
               "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/csrc/api>"
               "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  target_link_libraries(qmoe_ops INTERFACE torch)
  set_target_properties(qmoe_ops PROPERTIES EXPORT_NAME ops)
  set(_qmoe_installed_targets qmoe_ops)

  if(QMOE_BUILD_NN)
    # One source per module; compiled as one translation unit (torch's headers
    # cost about a minute per unit), each source still stands on its own.
    add_library(qmoe_nn SHARED
      csrc/api/qmoe/nn/circuit_program.cpp
      csrc/api/qmoe/nn/gate_support.cpp
      csrc/api/qmoe/nn/quantum_gate.cpp
      csrc/api/qmoe/nn/linear_gate.cpp
      csrc/api/qmoe/nn/mlp_gate.cpp
      csrc/api/qmoe/nn/experts.cpp
      csrc/api/qmoe/nn/top_k_router.cpp
      csrc/api/qmoe/nn/moe.cpp
      csrc/api/qmoe/nn/weights_file.cpp)
    target_link_libraries(qmoe_nn PUBLIC qmoe_ops torch)
    # the opcode list of the core (header only), for the programs of QuantumGate
    target_include_directories(qmoe_nn PRIVATE "${QMOE_INCLUDE_DIR}")
    target_compile_options(qmoe_nn PRIVATE -Wall -Wextra -Wno-unused-parameter -O2)
    set_target_properties(qmoe_nn PROPERTIES EXPORT_NAME nn UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
    list(APPEND _qmoe_installed_targets qmoe_nn)
  endif()

  # Installed libraries find each other next to themselves, and torch's where it was
  # at build time (a program linking qmoe::ops puts its own torch first anyway).
  # (TORCH_INSTALL_PREFIX: set by TorchConfig.cmake)
  set_target_properties(${_qmoe_installed_targets} PROPERTIES
    INSTALL_RPATH "$ORIGIN;${TORCH_INSTALL_PREFIX}/lib")
  install(TARGETS ${_qmoe_installed_targets} EXPORT qmoeTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY csrc/api/qmoe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
  set(_qmoe_config_dir "${CMAKE_INSTALL_LIBDIR}/cmake/qmoe")
  install(EXPORT qmoeTargets NAMESPACE qmoe:: DESTINATION "${_qmoe_config_dir}")
  configure_package_config_file(cmake/qmoeConfig.cmake.in
    "${CMAKE_CURRENT_BINARY_DIR}/qmoeConfig.cmake" INSTALL_DESTINATION "${_qmoe_config_dir}")
  # 0.x: a minor version may change the API.
  write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/qmoeConfigVersion.cmake"
    VERSION ${QMOE_PACKAGE_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/qmoeConfig.cmake"
                "${CMAKE_CURRENT_BINARY_DIR}/qmoeConfigVersion.cmake"
          DESTINATION "${_qmoe_config_dir}")
endif()
