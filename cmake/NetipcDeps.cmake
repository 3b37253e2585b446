# Finds the Debian-packaged dependencies and gives each one project-owned
# alias target, so the rest of the build never cares how it was found.
find_package(Threads REQUIRED)

# protobuf-lite and protoc, for netipc_proto only (NETIPC_BUILD_PROTO); an
# embedded build (Netdata) never looks for them. Debian 12 ships no CONFIG
# package; CMake's module works.
if(NETIPC_BUILD_PROTO)
  find_package(Protobuf 3.21 QUIET CONFIG)
  if(NOT Protobuf_FOUND)
    find_package(Protobuf 3.21 REQUIRED MODULE)
  endif()
  if(NOT TARGET protobuf::protoc)
    message(FATAL_ERROR "netipc: protoc not found; install protobuf-compiler")
  endif()
endif()

# libuv. A host project may provide it: define an INTERFACE target named
# netipc_libuv_dep (include directories, link flags) before
# add_subdirectory(netipc) and it is used as is, with nothing looked up here.
# Netdata does so from its own pkg_check_modules(LIBUV libuv) results, so
# both link the same libuv.
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
