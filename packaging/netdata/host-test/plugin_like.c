/* Linked as ebpf.plugin links netipc: netipc_ebpf_consumer and
 * netipc_glue_token, no provider. Usage: plugin_like RUN_DIR, with the
 * daemon_like provider serving there and NETDATA_INVOCATION_ID inherited as
 * from the daemon. Refreshes once and checks both published cgroups arrive
 * as targets with the PIDs of their cgroup.procs. Exit 0 = every check
 * passed. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ebpf_consumer/netipc_ebpf.h"
#include "netdata_glue/netipc_nd.h"

#include "host_check.h"

#define PROG "plugin_like"

/* Netdata's simple_hash() (FNV-1a, 32 bit): what the glue fills in for a
 * cgroup published with hash 0. */
static uint32_t simple_hash(const char* s) {
  uint32_t h = 0x811C9DC5u;
  for (; *s != '\0'; ++s) h = (h ^ (uint8_t)*s) * 0x01000193u;
  return h;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: plugin_like RUN_DIR\n");
    return 2;
  }
  const char* dir = argv[1];

  uint64_t token = 0;
  HOST_CHECK(PROG, netipc_nd_auth_token(&token) == NETIPC_ND_OK && token == 0x4135654b0cc3d8f2ull,
             "token from the inherited NETDATA_INVOCATION_ID = 0x4135654b0cc3d8f2");

  netipc_ebpf_consumer* wrong = NULL;
  netipc_ebpf_refresh_result r;
  HOST_CHECK(PROG, netipc_ebpf_create(dir, NULL, token ^ 1, NULL, &wrong) == NETIPC_EBPF_OK,
             "consumer with a wrong token created");
  HOST_CHECK(PROG, netipc_ebpf_refresh(wrong, 5000, &r) == NETIPC_EBPF_EAUTH,
             "a wrong token is refused (EAUTH)");
  netipc_ebpf_destroy(wrong);

  netipc_ebpf_consumer* consumer = NULL;
  HOST_CHECK(PROG, netipc_ebpf_create(dir, NULL, token, NULL, &consumer) == NETIPC_EBPF_OK,
             "consumer created");
  const int rc = netipc_ebpf_refresh(consumer, 5000, &r);
  HOST_CHECK(PROG, rc == NETIPC_EBPF_OK, "refresh against the provider succeeds");
  if (rc != NETIPC_EBPF_OK) fprintf(stderr, "plugin_like: refresh: %s\n", netipc_ebpf_strerror(rc));
  HOST_CHECK(PROG, r.items == 2 && r.targets == 2, "snapshot of 2 items, 2 targets");

  netipc_ebpf_view* view = netipc_ebpf_view_acquire(consumer);
  HOST_CHECK(PROG, view != NULL, "view acquired");
  if (view != NULL) {
    netipc_ebpf_target t;
    int found = netipc_ebpf_view_find(view, simple_hash("cgroup_app_a"), "cgroup_app_a", (size_t)-1, &t);
    HOST_CHECK(PROG,
               found == NETIPC_EBPF_OK && t.pid_count == 2 && t.pids[0] == 7 && t.pids[1] == 101 &&
                   t.cgroup_id == 9001 && !t.systemd,
               "target cgroup_app_a: PIDs 7 and 101, cgroup id 9001");
    found = netipc_ebpf_view_find(view, simple_hash("systemd_b"), "systemd_b", (size_t)-1, &t);
    HOST_CHECK(PROG, found == NETIPC_EBPF_OK && t.pid_count == 1 && t.pids[0] == 55 && t.systemd,
               "target systemd_b: PID 55, systemd");
    netipc_ebpf_view_release(view);
  }
  netipc_ebpf_destroy(consumer);
  return host_failures == 0 ? 0 : 1;
}
