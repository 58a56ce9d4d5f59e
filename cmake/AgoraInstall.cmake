# Install rules, the CMake package (find_package(Agora)) and the Debian
# package (cpack -G DEB: agora-dev). Included from the top-level
# CMakeLists.txt when AGORA_INSTALL is on; see docs/packaging.md.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(AGORA_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/Agora")

install(TARGETS agora_blackboard agora_llm agora_actors agora_agents agora_all
  EXPORT AgoraTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

foreach(layer blackboard actors libagents)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}/include/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
    FILES_MATCHING PATTERN "*.hpp")
endforeach()

install(EXPORT AgoraTargets
  NAMESPACE agora::
  FILE AgoraTargets.cmake
  DESTINATION ${AGORA_CMAKE_DIR} COMPONENT dev)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/AgoraConfig.cmake.in
  ${PROJECT_BINARY_DIR}/AgoraConfig.cmake
  INSTALL_DESTINATION ${AGORA_CMAKE_DIR})
# 0.x: only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/AgoraConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/AgoraConfig.cmake
  ${PROJECT_BINARY_DIR}/AgoraConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
  DESTINATION ${AGORA_CMAKE_DIR} COMPONENT dev)

# The Debian package: `cpack -G DEB` in the build directory writes
# agora-dev_<version>_<arch>.deb; `apt install ./agora-dev_*.deb` pulls
# in what Agora's headers and libraries need.
set(CPACK_PACKAGE_NAME "agora-dev")
set(CPACK_PACKAGE_VENDOR "Agora")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Agora: C++17 multi-agent framework on CAF with a versioned blackboard (development files)")
set(CPACK_PACKAGE_CONTACT "Agora developers <agora@localhost>")
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libcaf-dev (>= 0.17.5), nlohmann-json3-dev (>= 3.10), libcurl4-openssl-dev | libcurl-dev, libsqlite3-dev, libspdlog-dev, libssl-dev, cmake (>= 3.16), g++ (>= 4:10) | clang")
if(BUILD_SHARED_LIBS)
  # The libraries' own runtime dependencies, read off them.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
include(CPack)
