// netipc-cli: serve and call NetIPC endpoints from the command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"netipc-cli: serve and call NetIPC v1 endpoints (Unix sockets, shared memory)",
               "netipc-cli"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "netipc-cli " NETIPC_VERSION);
  CLI::App* serve = app.add_subcommand("serve", "Run a server until SIGINT/SIGTERM");
  serve->require_subcommand(1);
  CLI::App* call = app.add_subcommand("call", "Call a server");
  call->require_subcommand(1);
  int rc = 0;
  netipc::cli::add_increment_commands(serve, call, &rc);
  netipc::cli::add_snapshot_commands(&app, serve, &rc);
  netipc::cli::add_cache_command(&app, &rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One clear line; the usage is one --help away.
    std::fprintf(stderr, "netipc-cli: %s (see --help)\n", e.what());
    return 2;
  }
  return rc;
}
