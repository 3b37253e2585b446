/* Both Netdata sides in C11, as the patched daemon and ebpf.plugin use them:
 * the daemon's provider through netipc_nd.h (token from
 * NETDATA_INVOCATION_ID, cgroups.plugin's list handed over), ebpf.plugin's
 * consumer through netipc_ebpf.h with the token it derives from the same
 * inherited variable. Checks: the token, targets and their PIDs read from
 * the published cgroup.procs paths, a removal, an unchanged hand-over, the
 * provider stopping (the consumer keeps its targets). Exit 0 = pass. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebpf_consumer/netipc_ebpf.h"
#include "netdata_glue/netipc_nd.h"

#include "c_check.h"

static void write_procs(const char* path, const char* pids) {
  FILE* f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
  fputs(pids, f);
  fclose(f);
}

int main(void) {
  char dir[] = "/tmp/nipc-glueXXXXXX";
  if (mkdtemp(dir) == NULL) return 2;
  char procs_a[128], procs_b[128];
  snprintf(procs_a, sizeof procs_a, "%s/a.procs", dir);
  snprintf(procs_b, sizeof procs_b, "%s/b.procs", dir);
  write_procs(procs_a, "101\n7\n");
  write_procs(procs_b, "55\n");

  /* The daemon exports its invocation id; ebpf.plugin inherits it. */
  setenv("NETDATA_INVOCATION_ID", "4f1c6e2a9b3d47108e5ac12f73d406bb", 1);
  uint64_t token = 0;
  CHECK(netipc_nd_auth_token(&token) == NETIPC_ND_OK);
  CHECK(token == 0x4135654b0cc3d8f2ull);

  netipc_nd_provider_options po;
  memset(&po, 0, sizeof po);
  po.run_dir = dir;
  po.auth_token = token;
  netipc_nd_provider* provider = NULL;
  int rc = netipc_nd_provider_start(&po, &provider);
  CHECK(rc == NETIPC_ND_OK);
  if (rc != NETIPC_ND_OK) return 1;

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
  CHECK(netipc_nd_provider_publish(provider, list, 2, 1) == NETIPC_ND_OK);
  CHECK(netipc_nd_provider_wait_idle(provider, 10000) == NETIPC_ND_OK);

  /* ebpf.plugin's side: same run dir, default service, derived token. */
  uint64_t plugin_token = 0;
  CHECK(netipc_nd_auth_token(&plugin_token) == NETIPC_ND_OK);
  netipc_ebpf_consumer* consumer = NULL;
  CHECK(netipc_ebpf_create(dir, NULL, plugin_token, NULL, &consumer) == NETIPC_EBPF_OK);
  netipc_ebpf_refresh_result r;
  CHECK(netipc_ebpf_refresh(consumer, 5000, &r) == NETIPC_EBPF_OK);
  CHECK(r.items == 2 && r.targets == 2 && r.layout == 2);

  netipc_ebpf_view* view = netipc_ebpf_view_acquire(consumer);
  CHECK(view != NULL);
  netipc_ebpf_target t;
  CHECK(netipc_ebpf_view_find(view, 0, "cgroup_app_a", (size_t)-1, &t) == NETIPC_EBPF_ENOTFOUND);
  uint32_t h = 0x811C9DC5u; /* the glue computed simple_hash(name) for hash 0 */
  for (const char* s = "cgroup_app_a"; *s != '\0'; ++s) h = (h ^ (uint8_t)*s) * 0x01000193u;
  CHECK(netipc_ebpf_view_find(view, h, "cgroup_app_a", (size_t)-1, &t) == NETIPC_EBPF_OK);
  CHECK(t.pid_count == 2 && t.pids[0] == 7 && t.pids[1] == 101);
  CHECK(t.cgroup_id == 9001);
  CHECK(strcmp(t.path, procs_a) == 0);
  netipc_ebpf_view_release(view);

  /* A removal reaches the table on the next refresh. */
  CHECK(netipc_nd_provider_publish(provider, list, 1, 1) == NETIPC_ND_OK);
  CHECK(netipc_nd_provider_wait_idle(provider, 10000) == NETIPC_ND_OK);
  CHECK(netipc_ebpf_refresh(consumer, 5000, &r) == NETIPC_EBPF_OK);
  CHECK(r.targets == 1 && r.targets_removed == 1);

  /* The same list again: no new generation. */
  netipc_nd_provider_stats before, after;
  CHECK(netipc_nd_provider_get_stats(provider, &before) == NETIPC_ND_OK);
  CHECK(netipc_nd_provider_publish(provider, list, 1, 1) == NETIPC_ND_OK);
  CHECK(netipc_nd_provider_wait_idle(provider, 10000) == NETIPC_ND_OK);
  CHECK(netipc_nd_provider_get_stats(provider, &after) == NETIPC_ND_OK);
  CHECK(after.generation == before.generation && after.unchanged == before.unchanged + 1);

  /* The daemon stops cgroups.plugin: the consumer keeps what it had. */
  netipc_nd_provider_destroy(provider);
  rc = netipc_ebpf_refresh(consumer, 2000, &r);
  CHECK(rc != NETIPC_EBPF_OK);
  CHECK(r.targets == 1);
  netipc_ebpf_destroy(consumer);

  unlink(procs_a);
  unlink(procs_b);
  rmdir(dir);
  if (failures != 0) {
    fprintf(stderr, "glue_c_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("glue_c_test: all checks passed\n");
  return 0;
}
