# Shared twins of the static libraries, for the Debian packages.
#
# Every library is compiled once, position-independent (netipc_target_defaults),
# into the static library the tests, tools and benchmarks link. Each twin is
# linked from those same objects, so the packages cost a few link steps and
# ship exactly the code the test suite ran. A twin:
#  - is named like its static library (libnetipc.so.0 next to libnetipc.a in
#    another folder) and exported under the same target name (netipc::netipc);
#  - has SONAME lib<name>.so.<major> and a version script (netipc.map) that
#    exports the namespace netipc and the C ABI (netipc_*) and nothing else;
#  - links the twins of the netipc libraries its static library links, and
#    the same system libraries; -Wl,--no-undefined proves the list complete.
# Sets NETIPC_SHARED_TWINS to the twins' target names.
set(NETIPC_SHARED_TWINS "")
set(map ${CMAKE_CURRENT_SOURCE_DIR}/netipc.map)

# An entry of a static library's link list, as its twin links it: netipc
# libraries become their twins; $<LINK_ONLY:x> (a static library's private
# dependency) becomes x.
function(netipc_twin_dep item out)
  if(item MATCHES "^\\$<LINK_ONLY:(.*)>$")
    set(item "${CMAKE_MATCH_1}")
  endif()
  if(TARGET ${item}_shared)
    set(item ${item}_shared)
  endif()
  set(${out} ${item} PARENT_SCOPE)
endfunction()

foreach(lib ${NETIPC_LIBRARIES})
  get_target_property(type ${lib} TYPE)
  if(NOT type STREQUAL "STATIC_LIBRARY")
    message(FATAL_ERROR "netipc: NETIPC_DEB_PACKAGES makes shared twins of static libraries; "
                        "${lib} is ${type} (leave BUILD_SHARED_LIBS off)")
  endif()
  set(twin ${lib}_shared)
  add_library(${twin} SHARED $<TARGET_OBJECTS:${lib}>)
  set_target_properties(${twin} PROPERTIES
    OUTPUT_NAME ${lib} EXPORT_NAME ${lib}
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
    LINK_DEPENDS ${map})
  target_link_options(${twin} PRIVATE -Wl,--version-script=${map} -Wl,--no-undefined -Wl,-z,relro,-z,now)
  # Usage requirements as the static library has them (include folders,
  # C++17).
  foreach(prop INTERFACE_INCLUDE_DIRECTORIES INTERFACE_COMPILE_FEATURES)
    get_target_property(v ${lib} ${prop})
    if(v)
      set_property(TARGET ${twin} PROPERTY ${prop} "${v}")
    endif()
  endforeach()
  # Public dependencies stay public; private ones are linked privately.
  get_target_property(public ${lib} INTERFACE_LINK_LIBRARIES)
  get_target_property(all ${lib} LINK_LIBRARIES)
  set(public_deps "")
  set(private_deps "")
  if(public)
    foreach(item ${public})
      if(NOT item MATCHES "^\\$<LINK_ONLY:")
        netipc_twin_dep(${item} dep)
        list(APPEND public_deps ${dep})
      endif()
    endforeach()
  endif()
  if(all)
    foreach(item ${all})
      netipc_twin_dep(${item} dep)
      if(NOT dep IN_LIST public_deps)
        list(APPEND private_deps ${dep})
      endif()
    endforeach()
  endif()
  target_link_libraries(${twin} PUBLIC ${public_deps} PRIVATE ${private_deps})
  list(APPEND NETIPC_SHARED_TWINS ${twin})
endforeach()
