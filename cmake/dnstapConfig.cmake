# dnstapConfig.cmake - dnstap.h for CMake projects.
#
#   find_package(dnstap 0.1 CONFIG REQUIRED)                     # after `make install`
#   find_package(dnstap 0.1 CONFIG REQUIRED COMPONENTS mbedtls)  # and the tls:// transport
#   add_subdirectory(path/to/dnstap/cmake dnstap)                # or on the source tree
#   target_link_libraries(app PRIVATE dnstap::dnstap)            # or dnstap::dnstap_mbedtls
#
# dnstap::dnstap          INTERFACE: the directory of dnstap.h, and nanopb's
#                         runtime (nanopb's own CMake package, else libprotobuf-nanopb)
# dnstap::dnstap_mbedtls  dnstap::dnstap plus DNSTAP_WITH_MBEDTLS and Mbed TLS
#                         (its CMake package MbedTLS, else mbedtls mbedx509 mbedcrypto);
#                         defined when Mbed TLS is found; COMPONENTS mbedtls requires it
# Still define DNSTAP_IMPLEMENTATION in exactly one of your .c files.
# This one file serves both layouts: the source tree (dnstap.h one folder up;
# CMakeLists.txt here sets _dnstap_scope to GLOBAL so that the targets are
# seen outside this folder) and an installed prefix (PREFIX/share/cmake/dnstap
# -> PREFIX/include).
if(TARGET dnstap::dnstap)
  set(dnstap_FOUND TRUE)
  if(TARGET dnstap::dnstap_mbedtls)
    set(dnstap_mbedtls_FOUND TRUE)
  endif()
  return()
endif()

if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/../dnstap.h")
  get_filename_component(_dnstap_include "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
else()
  get_filename_component(_dnstap_include "${CMAKE_CURRENT_LIST_DIR}/../../../include" ABSOLUTE)
endif()
if(NOT EXISTS "${_dnstap_include}/dnstap.h")
  set(dnstap_FOUND FALSE)
  set(dnstap_NOT_FOUND_MESSAGE "dnstap.h is not in ${_dnstap_include}")
  return()
endif()

add_library(dnstap::dnstap INTERFACE IMPORTED ${_dnstap_scope})
set_target_properties(dnstap::dnstap PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_dnstap_include}")

# nanopb's runtime: firmware builds that compile nanopb's pb_*.c themselves
# need neither, and are told so.
find_package(nanopb CONFIG QUIET)
# A dependency's imported targets are made global along with ours.
macro(_dnstap_link target)
  foreach(_dnstap_dep ${ARGN})
    if(_dnstap_scope AND TARGET ${_dnstap_dep})
      get_target_property(_dnstap_global ${_dnstap_dep} IMPORTED_GLOBAL)
      if(NOT _dnstap_global)
        set_target_properties(${_dnstap_dep} PROPERTIES IMPORTED_GLOBAL TRUE)
      endif()
    endif()
    set_property(TARGET ${target} APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${_dnstap_dep})
  endforeach()
endmacro()
if(TARGET nanopb::protobuf-nanopb-static)
  _dnstap_link(dnstap::dnstap nanopb::protobuf-nanopb-static)
elseif(TARGET nanopb::protobuf-nanopb)
  _dnstap_link(dnstap::dnstap nanopb::protobuf-nanopb)
else()
  find_library(DNSTAP_NANOPB_LIBRARY protobuf-nanopb)
  if(DNSTAP_NANOPB_LIBRARY)
    _dnstap_link(dnstap::dnstap "${DNSTAP_NANOPB_LIBRARY}")
  else()
    message(STATUS "dnstap: nanopb's runtime not found; link nanopb's pb_common.c pb_encode.c pb_decode.c yourself")
  endif()
endif()

find_package(MbedTLS CONFIG QUIET)
if(TARGET MbedTLS::mbedtls)
  set(_dnstap_mbedtls MbedTLS::mbedtls MbedTLS::mbedx509 MbedTLS::mbedcrypto)
else()
  find_library(DNSTAP_MBEDTLS_LIBRARY mbedtls)
  find_library(DNSTAP_MBEDX509_LIBRARY mbedx509)
  find_library(DNSTAP_MBEDCRYPTO_LIBRARY mbedcrypto)
  if(DNSTAP_MBEDTLS_LIBRARY AND DNSTAP_MBEDX509_LIBRARY AND DNSTAP_MBEDCRYPTO_LIBRARY)
    set(_dnstap_mbedtls "${DNSTAP_MBEDTLS_LIBRARY}" "${DNSTAP_MBEDX509_LIBRARY}" "${DNSTAP_MBEDCRYPTO_LIBRARY}")
  endif()
endif()
if(_dnstap_mbedtls)
  add_library(dnstap::dnstap_mbedtls INTERFACE IMPORTED ${_dnstap_scope})
  set_target_properties(dnstap::dnstap_mbedtls PROPERTIES
    INTERFACE_COMPILE_DEFINITIONS DNSTAP_WITH_MBEDTLS INTERFACE_LINK_LIBRARIES dnstap::dnstap)
  _dnstap_link(dnstap::dnstap_mbedtls ${_dnstap_mbedtls})
  set(dnstap_mbedtls_FOUND TRUE)
else()
  set(dnstap_mbedtls_FOUND FALSE)
endif()

set(dnstap_FOUND TRUE)
foreach(_dnstap_comp IN LISTS dnstap_FIND_COMPONENTS)
  if(NOT dnstap_${_dnstap_comp}_FOUND AND dnstap_FIND_REQUIRED_${_dnstap_comp})
    set(dnstap_FOUND FALSE)
    set(dnstap_NOT_FOUND_MESSAGE "component ${_dnstap_comp} not found (mbedtls: install libmbedtls-dev)")
  endif()
endforeach()
unset(_dnstap_comp)
unset(_dnstap_scope)
unset(_dnstap_dep)
unset(_dnstap_global)
unset(_dnstap_include)
unset(_dnstap_mbedtls)
