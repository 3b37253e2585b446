# Helpers shared by every component's CMakeLists.

# Project warnings, applied to our own targets only (never to the host's).
function(netipc_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                             -Wno-missing-field-initializers)
  endif()
endfunction()

# netipc_library(name DIR <dir> [STATIC] SOURCES ... [PUBLIC_LIBS ...]
# [PRIVATE_LIBS ...]) : a library with public headers in <dir>/include.
# Static when STATIC is given or the project is embedded
# (NETIPC_LIBRARY_TYPE); otherwise BUILD_SHARED_LIBS decides.
function(netipc_library name)
  cmake_parse_arguments(ARG "STATIC" "DIR" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(STATUS "netipc: ${name} has no sources yet; not built")
    return()
  endif()
  set(type ${NETIPC_LIBRARY_TYPE})
  if(ARG_STATIC)
    set(type STATIC)
  endif()
  add_library(${name} ${type} ${ARG_SOURCES})
  add_library(netipc::${name} ALIAS ${name})
  netipc_target_defaults(${name})
  target_include_directories(${name}
    PUBLIC $<BUILD_INTERFACE:${ARG_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${ARG_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
endfunction()
