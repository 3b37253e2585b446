# The Debian packages (docs/packages.md), made by `cpack` in a build
# configured with NETIPC_DEB_PACKAGES=ON, CMAKE_INSTALL_PREFIX=/usr and the
# multiarch CMAKE_INSTALL_LIBDIR (scripts/package-test.sh does so):
#   libnetipc0     component runtime: the shared libraries
#   libnetipc-dev  component dev: headers, .so links, CMake package, pkg-config
#   netipc-tools   component tools: netipc-cli, netipc-cgroups-provider, its
#                  systemd unit, man pages
if(NOT TARGET netipc-cli OR NOT TARGET netipc-cgroups-provider)
  message(FATAL_ERROR "netipc: NETIPC_DEB_PACKAGES needs the tools (NETIPC_BUILD_TOOLS, NETIPC_WITH_LIBUV)")
endif()
find_program(NETIPC_HELP2MAN help2man)
find_program(NETIPC_GZIP gzip)
if(NOT NETIPC_HELP2MAN OR NOT NETIPC_GZIP)
  message(FATAL_ERROR "netipc: NETIPC_DEB_PACKAGES needs help2man and gzip (scripts/install-deps.sh)")
endif()

set(deb ${CMAKE_CURRENT_SOURCE_DIR}/deb)
set(out ${CMAKE_CURRENT_BINARY_DIR}/deb)
set(NETIPC_DEB_RUNTIME libnetipc${PROJECT_VERSION_MAJOR})

# Man pages from each tool's --help and --version (help2man), dated by the
# changelog's last entry so that they are reproducible.
execute_process(COMMAND dpkg-parsechangelog -l ${deb}/changelog -S Timestamp
                OUTPUT_VARIABLE man_epoch OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
set(man_pages "")
foreach(tool netipc-cli netipc-cgroups-provider)
  add_custom_command(OUTPUT ${out}/${tool}.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=${man_epoch} sh ${deb}/make-man.sh $<TARGET_FILE:${tool}> ${deb}/${tool}.h2m ${out}/${tool}.1.gz
    DEPENDS ${tool} ${deb}/make-man.sh ${deb}/${tool}.h2m ${deb}/changelog
    COMMENT "help2man ${tool}")
  list(APPEND man_pages ${out}/${tool}.1.gz)
endforeach()
add_custom_target(netipc_man_pages ALL DEPENDS ${man_pages})
# Everything the packages hold that a build makes: `cmake --build --target
# netipc_deb_contents` before cpack needs no test or benchmark built.
add_custom_target(netipc_deb_contents)
add_dependencies(netipc_deb_contents ${NETIPC_SHARED_TWINS} netipc-cli netipc-cgroups-provider
                 netipc_man_pages)
install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT tools)

install(FILES ${deb}/netipc-cgroups-provider.service DESTINATION lib/systemd/system COMPONENT tools)

# copyright and changelog.Debian.gz in every package's doc folder.
file(MAKE_DIRECTORY ${out})
execute_process(COMMAND ${NETIPC_GZIP} -9n -c ${deb}/changelog
                OUTPUT_FILE ${out}/changelog.Debian.gz COMMAND_ERROR_IS_FATAL ANY)
foreach(pair runtime:${NETIPC_DEB_RUNTIME} dev:libnetipc-dev tools:netipc-tools)
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES ${deb}/copyright ${out}/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component})
  string(TOUPPER ${component} C)
  set(CPACK_DEBIAN_${C}_PACKAGE_NAME ${package})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PROJECT_CONFIG_FILE ${deb}/CPackProjectConfig.cmake)
set(CPACK_PACKAGE_NAME netipc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "netipc")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/deb-packages)
set(CPACK_COMPONENTS_ALL runtime dev tools)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "netipc developers <netipc@example.org>")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/netdata/netdata")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# dpkg-shlibdeps fills Depends from the ELF files (libc6, libstdc++6,
# libuv1, libxxhash0; the tools link the libraries statically).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The runtime package's shlibs file (one line per library, for packages
# built against it) and its ldconfig trigger. CPack adds postinst/postrm
# scripts calling ldconfig as well whenever a package holds libraries under
# /usr/lib (lintian's maintscript-calls-ldconfig: the one tag
# packaging/deb/lintian-overrides suppresses besides the archive's
# initial-upload-closes-no-bugs); ldconfig then runs twice, harmlessly.
set(shlibs "")
foreach(lib ${NETIPC_LIBRARIES})
  string(APPEND shlibs "lib${lib} ${PROJECT_VERSION_MAJOR} ${NETIPC_DEB_RUNTIME} (>= ${PROJECT_VERSION})\n")
endforeach()
file(WRITE ${out}/runtime/shlibs "${shlibs}")
file(WRITE ${out}/runtime/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${out}/runtime/shlibs ${out}/runtime/triggers)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "NetIPC v1 for Netdata (shared libraries)
NetIPC v1 is the local IPC protocol of Netdata: Unix SOCK_SEQPACKET and
shared-memory transports, payload codecs, typed clients and servers, a
libuv adapter, the cgroups-snapshot provider and the ebpf consumer.

This package holds the shared libraries.")

set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "${NETIPC_DEB_RUNTIME} (= ${PROJECT_VERSION}-1), libuv1-dev (>= 1.44), pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION "NetIPC v1 for Netdata (development files)
NetIPC v1 is the local IPC protocol of Netdata: Unix SOCK_SEQPACKET and
shared-memory transports, payload codecs, typed clients and servers, a
libuv adapter, the cgroups-snapshot provider and the ebpf consumer.

This package holds the C++17 and C headers, the CMake package
(find_package(netipc)) and the pkg-config files.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION net)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION "NetIPC v1 for Netdata (command-line tools)
NetIPC v1 is the local IPC protocol of Netdata.

netipc-cli serves and calls NetIPC endpoints and shows the cgroups-snapshot
service of a running Netdata; netipc-cgroups-provider serves this machine's
cgroups as a cgroups-snapshot endpoint (with a systemd unit, not enabled
on installation).")
set(CPACK_DEBIAN_TOOLS_PACKAGE_CONTROL_EXTRA ${deb}/tools/prerm ${deb}/tools/postrm)

include(CPack)
