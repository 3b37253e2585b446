# Finds the Debian-packaged dependencies and gives each one project-owned
# alias target, so the rest of the build never cares how it was found.
find_package(Threads REQUIRED)

# protobuf-lite: Debian 12 ships no CONFIG package; CMake's module works.
find_package(Protobuf 3.21 QUIET CONFIG)
if(NOT Protobuf_FOUND)
  find_package(Protobuf 3.21 REQUIRED MODULE)
endif()
if(NOT TARGET protobuf::protoc)
  message(FATAL_ERROR "netipc: protoc not found; install protobuf-compiler")
endif()

if(NETIPC_WITH_LIBUV AND NOT TARGET netipc_libuv_dep)
  # libuv: try a CONFIG package (upstream builds), else pkg-config (Debian).
  find_package(libuv QUIET CONFIG)
  add_library(netipc_libuv_dep INTERFACE)
  if(TARGET libuv::uv)
    target_link_libraries(netipc_libuv_dep INTERFACE libuv::uv)
  elseif(TARGET uv)
    target_link_libraries(netipc_libuv_dep INTERFACE uv)
  else()
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
    target_link_libraries(netipc_libuv_dep INTERFACE PkgConfig::LIBUV)
  endif()
endif()
