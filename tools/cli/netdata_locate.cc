#include "netdata_locate.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "cli_common.h"
#include "netdata_glue/netipc_nd.h"

namespace netipc::cli {

namespace {

struct Proc {
  std::string comm;
  pid_t ppid = 0;
};

// Reads a whole /proc file. Returns false with errno set on failure.
bool read_file(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

// Every process's name and parent, from /proc/PID/stat ("pid (comm) S ppid").
std::map<pid_t, Proc> list_processes() {
  std::map<pid_t, Proc> procs;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return procs;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    std::string stat;
    if (!read_file("/proc/" + std::string(e->d_name) + "/stat", &stat)) continue;
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    Proc p;
    p.comm = stat.substr(open + 1, close - open - 1);
    if (std::sscanf(stat.c_str() + close + 1, " %*c %d", &p.ppid) != 1) continue;
    procs[static_cast<pid_t>(pid)] = std::move(p);
  }
  ::closedir(d);
  return procs;
}

bool descends_from(const std::map<pid_t, Proc>& procs, pid_t pid, pid_t ancestor) {
  for (int depth = 0; depth < 64 && pid > 1; ++depth) {
    auto it = procs.find(pid);
    if (it == procs.end()) return false;
    pid = it->second.ppid;
    if (pid == ancestor) return true;
  }
  return false;
}

std::optional<std::string> env_value(const std::string& environ, const std::string& name) {
  const std::string key = name + "=";
  size_t pos = 0;
  while (pos < environ.size()) {
    size_t end = environ.find('\0', pos);
    if (end == std::string::npos) end = environ.size();
    if (environ.compare(pos, key.size(), key) == 0) {
      return environ.substr(pos + key.size(), end - pos - key.size());
    }
    pos = end + 1;
  }
  return std::nullopt;
}

bool token_of(const std::string& id, uint64_t* token) {
  uint8_t uuid[16];
  if (netipc_nd_parse_invocation_id(id.c_str(), uuid) != NETIPC_ND_OK) return false;
  *token = netipc_nd_token_from_uuid(uuid);
  return true;
}

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

bool locate_netdata(const std::string& service, const std::string& run_dir, NetdataEndpoint* out,
                    std::string* error) {
  const char* name_env = std::getenv("NETIPC_CLI_NETDATA_NAME");
  const std::string name = name_env != nullptr && *name_env != '\0' ? name_env : "netdata";
  const std::map<pid_t, Proc> procs = list_processes();
  std::vector<pid_t> daemons;
  for (const auto& [pid, p] : procs) {
    if (p.comm != name) continue;
    auto parent = procs.find(p.ppid);
    if (parent != procs.end() && parent->second.comm == name) continue;  // its spawn server
    daemons.push_back(pid);
  }
  if (daemons.empty()) {
    *error = "no running " + name + " daemon (no process named '" + name +
             "'); give --run-dir and --invocation-id for a daemon elsewhere";
    return false;
  }
  if (daemons.size() > 1) {
    std::string list;
    for (pid_t p : daemons) list += (list.empty() ? "" : ", ") + std::to_string(p);
    *error = std::to_string(daemons.size()) + " " + name + " daemons run (pids " + list +
             "); give --run-dir and --invocation-id for the one you mean";
    return false;
  }
  const pid_t pid = daemons.front();
  out->pid = pid;
  const std::string who = name + " (pid " + std::to_string(pid) + ")";

  std::string environ;
  if (!read_file("/proc/" + std::to_string(pid) + "/environ", &environ)) {
    const int err = errno;
    if (err == EACCES || err == EPERM) {
      *error = "cannot read the environment of " + who + ": " + std::strerror(err) +
               "; run as root or as the daemon's user, or give --invocation-id";
    } else {
      *error = "cannot read /proc/" + std::to_string(pid) + "/environ: " + std::strerror(err);
    }
    return false;
  }
  // The environments of the daemon's descendants (its plugins), read where
  // allowed: the daemon exports what it made up to them.
  std::vector<std::pair<pid_t, std::string>> descendants;
  auto load_descendants = [&] {
    if (!descendants.empty()) return;
    for (const auto& [p, info] : procs) {
      (void)info;
      if (!descends_from(procs, p, pid)) continue;
      std::string env;
      if (read_file("/proc/" + std::to_string(p) + "/environ", &env)) {
        descendants.emplace_back(p, std::move(env));
      }
    }
  };

  std::optional<std::string> id;
  for (const char* var : {"NETDATA_INVOCATION_ID", "INVOCATION_ID"}) {
    if ((id = env_value(environ, var))) {
      out->token_from = std::string(var) + " of " + who;
      break;
    }
  }
  if (!id) {
    load_descendants();
    for (const auto& [p, env] : descendants) {
      if ((id = env_value(env, "NETDATA_INVOCATION_ID"))) {
        out->token_from = "NETDATA_INVOCATION_ID of its child pid " + std::to_string(p);
        break;
      }
    }
  }
  if (!id) {
    *error = who +
             " has no invocation id in its environment (neither NETDATA_INVOCATION_ID nor "
             "systemd's INVOCATION_ID) and no plugin of it shows one; give --invocation-id";
    return false;
  }
  if (!token_of(*id, &out->token)) {
    *error = out->token_from + " is not a UUID: '" + *id + "'";
    return false;
  }

  if (!run_dir.empty()) {
    out->run_dir = run_dir;
    out->run_dir_from = "--run-dir";
    return true;
  }
  std::optional<std::string> dir = env_value(environ, "NETDATA_RUN_DIR");
  if (dir) {
    out->run_dir_from = "NETDATA_RUN_DIR of " + who;
  } else {
    load_descendants();
    for (const auto& [p, env] : descendants) {
      if ((dir = env_value(env, "NETDATA_RUN_DIR"))) {
        out->run_dir_from = "NETDATA_RUN_DIR of its child pid " + std::to_string(p);
        break;
      }
    }
  }
  if (dir) {
    out->run_dir = *dir;
    return true;
  }
  for (const char* candidate : {"/run/netdata", "/var/run/netdata"}) {
    if (is_socket(std::string(candidate) + "/" + service + ".sock")) {
      out->run_dir = candidate;
      out->run_dir_from = "the default run directory";
      return true;
    }
  }
  *error = who + " shows no NETDATA_RUN_DIR and neither /run/netdata nor /var/run/netdata holds " +
           service + ".sock; give --run-dir";
  return false;
}

void add_netdata_option(CLI::App* app, bool* netdata) {
  app->add_flag("--netdata", *netdata,
                "Use the running Netdata daemon's endpoint: its run directory, and the token "
                "derived from its invocation id (read from /proc/PID/environ: root or the "
                "daemon's user); --service defaults to cgroups-snapshot");
}

int resolve_endpoint(bool netdata, EndpointOptions* o, NetdataEndpoint* found) {
  if (!netdata) {
    if (o->run_dir.empty() || o->service.empty()) {
      std::fprintf(stderr, "netipc-cli: --run-dir and --service are required without --netdata (see --help)\n");
      return 2;
    }
    return 0;
  }
  if (!o->auth_token_hex.empty() || !o->invocation_id.empty()) {
    std::fprintf(stderr, "netipc-cli: --netdata derives the token; it excludes --auth-token and --invocation-id (see --help)\n");
    return 2;
  }
  if (o->service.empty()) o->service = "cgroups-snapshot";
  std::string error;
  if (!locate_netdata(o->service, o->run_dir, found, &error)) return fail(error);
  o->run_dir = found->run_dir;
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(found->token));
  o->auth_token_hex = hex;
  return 0;
}

}  // namespace netipc::cli
