# FindCAF: locates the C++ Actor Framework (CAF) as Debian's libcaf-dev ships
# it (headers and shared libraries, no CMake package).
#
# Imported targets (each only when its library is found):
#   CAF::core     libcaf_core
#   CAF::io       libcaf_io      (links CAF::core)
#   CAF::openssl  libcaf_openssl (links CAF::io)
#
# Result variables: CAF_FOUND, CAF_VERSION, CAF_INCLUDE_DIR.
# Components: find_package(CAF 0.17.5 REQUIRED COMPONENTS core io openssl).
# The version comes from CAF_VERSION in caf/config.hpp (1706 = 0.17.6).

find_path(CAF_INCLUDE_DIR NAMES caf/config.hpp)

if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_version_line
       REGEX "^#define CAF_VERSION [0-9]+")
  string(REGEX REPLACE "^#define CAF_VERSION ([0-9]+).*" "\\1"
         _caf_version_number "${_caf_version_line}")
  math(EXPR _caf_major "${_caf_version_number} / 10000")
  math(EXPR _caf_minor "(${_caf_version_number} / 100) % 100")
  math(EXPR _caf_patch "${_caf_version_number} % 100")
  set(CAF_VERSION "${_caf_major}.${_caf_minor}.${_caf_patch}")
endif()

if(NOT CAF_FIND_COMPONENTS)
  set(CAF_FIND_COMPONENTS core)
endif()

foreach(_comp IN LISTS CAF_FIND_COMPONENTS)
  find_library(CAF_${_comp}_LIBRARY NAMES caf_${_comp})
  if(CAF_${_comp}_LIBRARY)
    set(CAF_${_comp}_FOUND TRUE)
  else()
    set(CAF_${_comp}_FOUND FALSE)
  endif()
  mark_as_advanced(CAF_${_comp}_LIBRARY)
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF
  REQUIRED_VARS CAF_INCLUDE_DIR
  VERSION_VAR CAF_VERSION
  HANDLE_COMPONENTS)
mark_as_advanced(CAF_INCLUDE_DIR)

if(CAF_FOUND)
  find_package(Threads REQUIRED)
  set(_caf_deps_core Threads::Threads)
  set(_caf_deps_io CAF::core)
  set(_caf_deps_openssl CAF::io)
  foreach(_comp core io openssl)
    if(CAF_${_comp}_FOUND AND NOT TARGET CAF::${_comp})
      add_library(CAF::${_comp} SHARED IMPORTED)
      # Imported include directories are system headers: CAF's own C++17
      # deprecation warnings stay out of our -Wall -Werror builds.
      set_target_properties(CAF::${_comp} PROPERTIES
        IMPORTED_LOCATION "${CAF_${_comp}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${_caf_deps_${_comp}}")
    endif()
  endforeach()
  if(TARGET CAF::openssl)
    find_package(OpenSSL QUIET)
    if(OpenSSL_FOUND)
      set_property(TARGET CAF::openssl APPEND PROPERTY
        INTERFACE_LINK_LIBRARIES OpenSSL::SSL OpenSSL::Crypto)
    endif()
  endif()
endif()
