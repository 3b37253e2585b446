// How Netdata's cgroups.plugin turns a cgroup id (its path relative to the
// hierarchy's base, "/" for the root) into chart ids and names, and the
// rename script's fallback name (docs/provider-scanner.md), written from a
// description of Netdata's behaviour.
//
// All functions are pure and allocate only their result.
#pragma once

#include <string>
#include <string_view>

namespace netipc::cgroups_provider {

// Netdata's text sanitizer with the chart-name character map, followed by
// its chart-id fix:
//  - leading blanks and control bytes are skipped;
//  - other control bytes and DEL become spaces; runs of spaces collapse to
//    one; trailing spaces are dropped;
//  - valid UTF-8 sequences are kept as they are; each byte that does not
//    start or continue a valid sequence is written as `\xHH` (two
//    upper-case hex digits);
//  - `" $ % & ' * + = ? @ ^ ` |` become `_`, `,` becomes `.`, `\` becomes
//    `/`; everything else (including `/ . - : ! # ( ) [ ]`) is kept;
//  - then a leading `!` becomes `_`, every space becomes `_`, and a result
//    made only of `_` becomes empty.
// Note: Netdata's exact form for an invalid byte is not reproduced; `\xHH`
// is this project's choice. Real cgroup ids are ASCII.
std::string sanitize_chart_text(std::string_view text);

// Netdata's intermediate id: one leading `/` dropped unless the id is
// exactly "/", then sanitize_chart_text().
std::string cgroup_intermediate_id(std::string_view id);

// A chart id: cgroup_intermediate_id(text) with every `.` turned into `-`.
// Used for ids, service names and renamed names alike.
std::string cgroup_chart_id(std::string_view text);

// The systemd service name of a service cgroup id: its last path component
// without its last extension ("/system.slice/nginx.service" -> "nginx",
// "/system.slice/foo.bar.service" -> "foo.bar"). No extension: unchanged.
std::string systemd_service_name(std::string_view id);

// What Netdata's cgroup-name script answers for a cgroup it does not
// recognise (no docker/podman/k8s/libvirt/proxmox lookup): the intermediate
// id with `/` turned into `_`, cut to 100 bytes (never inside a UTF-8
// sequence), spaces turned into `_`.
std::string script_fallback_name(std::string_view intermediate_id);

}  // namespace netipc::cgroups_provider
