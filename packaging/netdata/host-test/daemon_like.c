/* Linked as the Netdata daemon links netipc: netipc_glue only.
 * Usage: daemon_like RUN_DIR, with NETDATA_INVOCATION_ID set (the test uses
 * 4f1c6e2a9b3d47108e5ac12f73d406bb). Derives the auth token, starts the
 * cgroups-snapshot provider in RUN_DIR, publishes two cgroups (their
 * cgroup.procs files written in RUN_DIR), prints READY and serves until
 * SIGTERM or SIGINT, then stops the provider. Exit 0 = every check passed. */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netdata_glue/netipc_nd.h"

#include "host_check.h"

#define PROG "daemon_like"

static int write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  if (f == NULL) return -1;
  fputs(text, f);
  return fclose(f);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: daemon_like RUN_DIR\n");
    return 2;
  }
  const char* dir = argv[1];
  /* Blocked before the provider's threads exist, so they inherit the mask
   * and the stop signal is taken by sigwait() below. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0) return 2;

  /* Known answers pinned in tests/unit/netdata-glue/auth_token_test.cc. */
  const uint8_t seq[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  HOST_CHECK(PROG, netipc_nd_token_from_uuid(seq) == 0x8355e3a6f61770dbull,
             "netipc_nd_token_from_uuid(00..0f) = 0x8355e3a6f61770db");
  uint8_t uuid[16];
  HOST_CHECK(PROG, netipc_nd_parse_invocation_id(getenv("NETDATA_INVOCATION_ID"), uuid) == NETIPC_ND_OK,
             "NETDATA_INVOCATION_ID parses");
  const uint64_t token = netipc_nd_token_from_uuid(uuid);
  HOST_CHECK(PROG, token == 0x4135654b0cc3d8f2ull,
             "token of 4f1c6e2a-9b3d-4710-8e5a-c12f73d406bb = 0x4135654b0cc3d8f2");
  uint64_t env_token = 0;
  HOST_CHECK(PROG, netipc_nd_auth_token(&env_token) == NETIPC_ND_OK && env_token == token,
             "netipc_nd_auth_token() gives the same token");

  char procs_a[4096], procs_b[4096];
  snprintf(procs_a, sizeof procs_a, "%s/a.procs", dir);
  snprintf(procs_b, sizeof procs_b, "%s/b.procs", dir);
  if (write_file(procs_a, "101\n7\n") != 0 || write_file(procs_b, "55\n") != 0) {
    fprintf(stderr, "daemon_like: cannot write the cgroup.procs files in %s\n", dir);
    return 2;
  }

  netipc_nd_provider_options po;
  memset(&po, 0, sizeof po);
  po.run_dir = dir;
  po.auth_token = token;
  netipc_nd_provider* provider = NULL;
  const int rc = netipc_nd_provider_start(&po, &provider);
  HOST_CHECK(PROG, rc == NETIPC_ND_OK, "provider started in the run directory");
  if (rc != NETIPC_ND_OK) {
    fprintf(stderr, "daemon_like: netipc_nd_provider_start: %s\n", netipc_nd_strerror(rc));
    return 1;
  }

  netipc_nd_cgroup list[2];
  memset(list, 0, sizeof list);
  list[0].name = "cgroup_app_a";
  list[0].path = procs_a;
  list[0].enabled = 1;
  list[0].cgroup_id = 9001;
  list[1].name = "systemd_b";
  list[1].path = procs_b;
  list[1].options = 0x2 | 0x4;
  list[1].enabled = 1;
  HOST_CHECK(PROG, netipc_nd_provider_publish(provider, list, 2, 1) == NETIPC_ND_OK, "two cgroups published");
  HOST_CHECK(PROG, netipc_nd_provider_wait_idle(provider, 10000) == NETIPC_ND_OK, "hand-over processed");
  netipc_nd_provider_stats stats;
  HOST_CHECK(PROG, netipc_nd_provider_get_stats(provider, &stats) == NETIPC_ND_OK && stats.items == 2,
             "provider serves a snapshot of 2 items");

  printf("READY\n");
  fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);

  netipc_nd_provider_stop(provider, 1000);
  HOST_CHECK(PROG, netipc_nd_provider_get_stats(provider, &stats) == NETIPC_ND_OK && stats.sessions_accepted >= 1,
             "the plugin's session was accepted");
  netipc_nd_provider_destroy(provider);
  char sock[4096];
  snprintf(sock, sizeof sock, "%s/cgroups-snapshot.sock", dir);
  HOST_CHECK(PROG, access(sock, F_OK) != 0, "provider stopped, socket removed");
  unlink(procs_a);
  unlink(procs_b);
  return host_failures == 0 ? 0 : 1;
}
