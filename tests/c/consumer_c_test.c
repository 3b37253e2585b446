/* The ebpf consumer's C ABI (netipc_ebpf.h), used from C11 as ebpf.plugin
 * would: against a real provider process (snapshot_provider_helper) that
 * serves items whose paths are cgroup.procs files in a directory tree this
 * test writes. Checks: lifecycle without a provider, targets and their PIDs,
 * disabled items, the systemd flag, the three flags, a view staying
 * unchanged across a refresh, removed targets, wrong token, abort, the
 * refresher on a libuv loop, the provider going away, argument errors.
 * Exit status 0 = pass; every failed check prints one line. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ebpf_consumer/netipc_ebpf.h"

#ifdef NETIPC_EBPF_TEST_UV
#include <uv.h>
#endif

#include "c_check.h"

#define CHECK_RC(expr, want)                                                         \
  do {                                                                               \
    int rc_ = (expr);                                                                \
    if (rc_ != (want)) {                                                             \
      fprintf(stderr, "%s:%d: %s returned %s, want %s\n", __FILE__, __LINE__, #expr, \
              netipc_ebpf_strerror(rc_), netipc_ebpf_strerror(want));                \
      ++failures;                                                                    \
    }                                                                                \
  } while (0)

/* Netdata's simple_hash: 32-bit FNV-1a. */
static uint32_t fnv1a(const char* s) {
  uint32_t h = 0x811C9DC5u;
  for (; *s != '\0'; ++s) {
    h ^= (uint8_t)*s;
    h *= 0x01000193u;
  }
  return h;
}

static char run_dir[64];
static char path_buf[256];

static const char* path_of(const char* a, const char* b) {
  snprintf(path_buf, sizeof path_buf, "%s/%s%s", run_dir, a, b);
  return path_buf;
}

static void write_file(const char* path, const char* text) {
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
  CHECK(rename(tmp, path) == 0);
}

static void make_cgroup(const char* name, const char* pids) {
  char dir[256], file[300];
  snprintf(dir, sizeof dir, "%s/tree/%s", run_dir, name);
  mkdir(dir, 0755);
  snprintf(file, sizeof file, "%s/cgroup.procs", dir);
  write_file(file, pids);
}

/* One item line of the helper's items file. */
static void item_line(char* out, size_t size, const char* name, const char* cg, unsigned options,
                      unsigned enabled, unsigned long long id) {
  size_t used = strlen(out);
  snprintf(out + used, size - used, "%s\t%s/tree/%s/cgroup.procs\t%u\t%u\t%llu\n", name, run_dir,
           cg, options, enabled, id);
}

/* ---- the provider process ---- */

static pid_t helper_pid = -1;
static int helper_out = -1;

/* Reads the helper's stdout until a line starts with `prefix` (5 s). */
static int wait_line(const char* prefix) {
  static char buf[4096];
  static size_t len = 0;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    char* nl;
    while ((nl = memchr(buf, '\n', len)) != NULL) {
      size_t line = (size_t)(nl - buf) + 1;
      int match = strncmp(buf, prefix, strlen(prefix)) == 0;
      memmove(buf, buf + line, len - line);
      len -= line;
      if (match) return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited =
        (long)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (waited > 5000 || len == sizeof buf) return 0;
    struct pollfd p = {helper_out, POLLIN, 0};
    if (poll(&p, 1, (int)(5000 - waited)) <= 0) continue;
    ssize_t n = read(helper_out, buf + len, sizeof buf - len);
    if (n <= 0) return 0;
    len += (size_t)n;
  }
}

static int start_helper(const char* items_file) {
  int fds[2];
  if (pipe(fds) != 0) return 0;
  helper_pid = fork();
  if (helper_pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(NETIPC_TEST_HELPER, NETIPC_TEST_HELPER, run_dir, "cgroups-snapshot", "2a", items_file,
          (char*)NULL);
    _exit(127);
  }
  close(fds[1]);
  helper_out = fds[0];
  return helper_pid > 0 && wait_line("PUBLISHED") && wait_line("READY");
}

static void stop_helper(void) {
  if (helper_pid <= 0) return;
  kill(helper_pid, SIGTERM);
  int status = 0;
  waitpid(helper_pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  helper_pid = -1;
  close(helper_out);
  helper_out = -1;
}

/* ---- checks ---- */

static int find_target(const netipc_ebpf_view* v, const char* name, netipc_ebpf_target* t) {
  return netipc_ebpf_view_find(v, fnv1a(name), name, (size_t)-1, t);
}

static void check_arguments(void) {
  netipc_ebpf_consumer* c = NULL;
  CHECK_RC(netipc_ebpf_create(NULL, NULL, 0, NULL, &c), NETIPC_EBPF_EINVAL);
  CHECK_RC(netipc_ebpf_create("relative/dir", NULL, 0, NULL, &c), NETIPC_EBPF_EINVAL);
  CHECK(c == NULL);
  CHECK_RC(netipc_ebpf_create(run_dir, "bad/name", 0, NULL, &c), NETIPC_EBPF_EINVAL);
  netipc_ebpf_options o;
  memset(&o, 0, sizeof o);
  o.reserved0 = 1;
  CHECK_RC(netipc_ebpf_create(run_dir, NULL, 0, &o, &c), NETIPC_EBPF_EINVAL);
  CHECK_RC(netipc_ebpf_refresh(NULL, 0, NULL), NETIPC_EBPF_EINVAL);
  CHECK_RC(netipc_ebpf_get_flags(NULL, NULL), NETIPC_EBPF_EINVAL);
  CHECK(netipc_ebpf_view_acquire(NULL) == NULL);
  netipc_ebpf_view_release(NULL);
  netipc_ebpf_destroy(NULL);
  CHECK(strcmp(netipc_ebpf_strerror(NETIPC_EBPF_EMALFORMED), "EMALFORMED") == 0);
  CHECK(strcmp(netipc_ebpf_strerror(12345), "UNKNOWN") == 0);
}

#ifdef NETIPC_EBPF_TEST_UV
struct loop_state {
  int results;
  int last_error;
  uint32_t last_targets;
  int detached;
};

static void on_refresh(void* user, const netipc_ebpf_refresh_result* r) {
  struct loop_state* s = user;
  ++s->results;
  s->last_error = r->error;
  s->last_targets = r->targets;
}

static void on_detached(void* user) {
  ((struct loop_state*)user)->detached = 1;
}

static void check_loop(netipc_ebpf_consumer* c) {
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  struct loop_state s = {0, 0, 0, 0};
  CHECK_RC(netipc_ebpf_attach(c, &loop, 20, on_refresh, &s), NETIPC_EBPF_OK);
  CHECK_RC(netipc_ebpf_refresh(c, 0, NULL), NETIPC_EBPF_EINVAL); /* attached */
  for (int i = 0; i < 2000 && s.results < 3; ++i)
    uv_run(&loop, UV_RUN_ONCE);
  CHECK(s.results >= 3);
  CHECK_RC(s.last_error, NETIPC_EBPF_OK);
  CHECK(s.last_targets == 2);
  CHECK_RC(netipc_ebpf_detach(c, on_detached, &s), NETIPC_EBPF_OK);
  const int results = s.results;
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(s.detached);
  CHECK(s.results == results);
  CHECK(uv_loop_close(&loop) == 0);
}
#endif

int main(void) {
  if (access(NETIPC_TEST_HELPER, X_OK) != 0) {
    fprintf(stderr, "consumer_c_test: the provider helper %s is missing (build the whole tree)\n",
            NETIPC_TEST_HELPER);
    return 1;
  }
  snprintf(run_dir, sizeof run_dir, "/tmp/nipc-c-XXXXXX");
  if (mkdtemp(run_dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  mkdir(path_of("tree", ""), 0755);
  check_arguments();

  /* Two cgroups with this process and its parent in them, one disabled. */
  char pids[64];
  snprintf(pids, sizeof pids, "%d\n", (int)getpid());
  make_cgroup("web", pids);
  snprintf(pids, sizeof pids, "%d\n%d\n", (int)getppid(), (int)getpid());
  make_cgroup("db", pids);
  make_cgroup("off", "1\n");
  char items[2048] = "";
  item_line(items, sizeof items, "cgroup_web", "web", 0, 1, 11);
  item_line(items, sizeof items, "systemd_db.service", "db", 0x2, 1, 12);
  item_line(items, sizeof items, "cgroup_off", "off", 0, 0, 13);
  char items_file[128];
  snprintf(items_file, sizeof items_file, "%s/items.tsv", run_dir);
  write_file(items_file, items);

  netipc_ebpf_options opt;
  memset(&opt, 0, sizeof opt);
  opt.call_timeout_ms = 3000;
  netipc_ebpf_consumer* c = NULL;
  CHECK_RC(netipc_ebpf_create(run_dir, NULL, 0x2a, &opt, &c), NETIPC_EBPF_OK);
  if (c == NULL) return 1;

  /* No provider yet: the refresh fails, nothing breaks, status says so. */
  netipc_ebpf_refresh_result r;
  netipc_ebpf_status st;
  netipc_ebpf_flags fl;
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_ENOTFOUND);
  CHECK(r.error == NETIPC_EBPF_ENOTFOUND && r.table_updated == 0);
  CHECK_RC(netipc_ebpf_get_status(c, &st), NETIPC_EBPF_OK);
  CHECK(strcmp(st.connection_state, "NOT_FOUND") == 0);
  CHECK(st.populated == 0 && st.refresh_failures == 1 && st.last_success_ms == 0);
  CHECK_RC(netipc_ebpf_get_flags(c, &fl), NETIPC_EBPF_OK);
  CHECK(fl.integration_active == 0 && fl.pass == 0);

  /* The provider appears. */
  CHECK(start_helper(items_file));
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_OK);
  CHECK(r.table_updated == 1 && r.items == 3 && r.targets == 2 && r.send_cgroup_charts == 1);
  CHECK(r.layout == 2 && r.generation >= 1);
  CHECK_RC(netipc_ebpf_get_status(c, &st), NETIPC_EBPF_OK);
  CHECK(strcmp(st.connection_state, "READY") == 0);
  CHECK(st.populated == 1 && st.items == 3 && st.refresh_successes == 1);
  CHECK(st.connect_count == 1 && st.last_success_ms > 0);
  CHECK_RC(netipc_ebpf_get_flags(c, &fl), NETIPC_EBPF_OK);
  CHECK(fl.integration_active == 1 && fl.systemd_enabled == 1 && fl.send_cgroup_charts == 1);

  netipc_ebpf_view* v1 = netipc_ebpf_view_acquire(c);
  CHECK(v1 != NULL);
  netipc_ebpf_view_info info;
  CHECK_RC(netipc_ebpf_view_get_info(v1, &info), NETIPC_EBPF_OK);
  CHECK(info.target_count == 2 && info.integration_active == 1 && info.pass == 1);
  size_t pid_total = 0;
  for (size_t i = 0; i < info.target_count; ++i) {
    netipc_ebpf_target t;
    CHECK_RC(netipc_ebpf_view_target(v1, i, &t), NETIPC_EBPF_OK);
    CHECK(t.name[t.name_len] == '\0' && t.hash == fnv1a(t.name));
    pid_total += t.pid_count;
    for (size_t k = 1; k < t.pid_count; ++k)
      CHECK(t.pids[k - 1] < t.pids[k]);
  }
  CHECK(pid_total == 3);
  netipc_ebpf_target t;
  CHECK_RC(netipc_ebpf_view_target(v1, 2, &t), NETIPC_EBPF_EINVAL);
  CHECK_RC(find_target(v1, "cgroup_web", &t), NETIPC_EBPF_OK);
  CHECK(t.systemd == 0 && t.pid_count == 1 && t.cgroup_id == 11);
  char web_procs[300];
  snprintf(web_procs, sizeof web_procs, "%s/tree/web/cgroup.procs", run_dir);
  CHECK(strcmp(t.path, web_procs) == 0);
  const netipc_ebpf_target web1 = t; /* its pointers must outlive the next refresh */
  CHECK(netipc_ebpf_target_has_pid(&t, getpid()) == 1);
  CHECK(netipc_ebpf_target_has_pid(&t, getppid()) == 0);
  CHECK_RC(find_target(v1, "systemd_db.service", &t), NETIPC_EBPF_OK);
  CHECK(t.systemd == 1 && t.options == 0x2 && t.pid_count == 2);
  CHECK(netipc_ebpf_target_has_pid(&t, getppid()) == 1);
  CHECK_RC(find_target(v1, "cgroup_off", &t), NETIPC_EBPF_ENOTFOUND);

  /* The provider's set changes: db leaves, cache arrives; web gains a PID.
   * v1 still shows the old picture; a new view shows the new one. */
  snprintf(pids, sizeof pids, "%d\n%d\n", (int)getpid(), (int)getppid());
  make_cgroup("web", pids);
  make_cgroup("cache", "");
  items[0] = '\0';
  item_line(items, sizeof items, "cgroup_web", "web", 0, 1, 11);
  item_line(items, sizeof items, "cgroup_cache", "cache", 0, 1, 14);
  write_file(items_file, items);
  kill(helper_pid, SIGHUP);
  CHECK(wait_line("PUBLISHED"));
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_OK);
  CHECK(r.targets == 2 && r.targets_added == 1 && r.targets_removed == 1);
  CHECK(r.send_cgroup_charts == 1);
  CHECK_RC(find_target(v1, "systemd_db.service", &t), NETIPC_EBPF_OK);
  CHECK_RC(find_target(v1, "cgroup_web", &t), NETIPC_EBPF_OK);
  CHECK(t.pid_count == 1);
  /* The target was replaced (it gained a PID); v1 still holds the old one,
   * and the pointers taken from it earlier still read the same bytes. */
  CHECK(t.name == web1.name && t.path == web1.path && t.pids == web1.pids);
  CHECK(strcmp(web1.name, "cgroup_web") == 0 && web1.name_len == 10);
  CHECK(web1.pid_count == 1 && web1.pids[0] == getpid());
  CHECK(strcmp(web1.path, web_procs) == 0);
  netipc_ebpf_view* v2 = netipc_ebpf_view_acquire(c);
  CHECK_RC(netipc_ebpf_view_get_info(v2, &info), NETIPC_EBPF_OK);
  CHECK(info.pass == 2 && info.target_count == 2 && info.removed_count == 1);
  CHECK_RC(netipc_ebpf_view_removed(v2, 0, &t), NETIPC_EBPF_OK);
  CHECK(strcmp(t.name, "systemd_db.service") == 0);
  CHECK_RC(find_target(v2, "cgroup_web", &t), NETIPC_EBPF_OK);
  CHECK(t.pid_count == 2 && netipc_ebpf_target_has_pid(&t, getppid()) == 1);
  CHECK_RC(find_target(v2, "cgroup_cache", &t), NETIPC_EBPF_OK);
  CHECK(t.pid_count == 0);
  netipc_ebpf_view_release(v1);

  /* Abort: sticky until cleared. */
  netipc_ebpf_abort(c);
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_EABORTED);
  netipc_ebpf_clear_abort(c);
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_OK);

  /* A malformed answer: EMALFORMED, the table stays (rebuilt from the cached
   * snapshot), the session is dropped: the next refresh connects anew. */
  CHECK_RC(netipc_ebpf_get_status(c, &st), NETIPC_EBPF_OK);
  const uint64_t connects = st.connect_count, reconnects = st.reconnect_count;
  kill(helper_pid, SIGUSR1);
  CHECK(wait_line("MODE 1"));
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_EMALFORMED);
  CHECK(r.malformed == 1 && r.table_updated == 1 && r.targets == 2);
  CHECK_RC(netipc_ebpf_get_status(c, &st), NETIPC_EBPF_OK);
  CHECK(st.malformed_responses == 1 && st.last_error == NETIPC_EBPF_EMALFORMED);
  CHECK(strcmp(st.connection_state, "DISCONNECTED") == 0);

  /* A provider slower than the call timeout: ETIMEDOUT (on a new session). */
  kill(helper_pid, SIGUSR2);
  CHECK(wait_line("MODE 2"));
  CHECK_RC(netipc_ebpf_refresh(c, 200, &r), NETIPC_EBPF_ETIMEDOUT);
  CHECK_RC(netipc_ebpf_get_status(c, &st), NETIPC_EBPF_OK);
  CHECK(strcmp(st.connection_state, "BROKEN") == 0 && st.connect_count == connects + 1);
  kill(helper_pid, SIGHUP);
  CHECK(wait_line("MODE 0"));
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_OK);
  CHECK_RC(netipc_ebpf_get_status(c, &st), NETIPC_EBPF_OK);
  CHECK(st.reconnect_count == reconnects + 1 && st.consecutive_failures == 0);

  /* A snapshot over the configured memory cap: ELIMIT, nothing cached. */
  netipc_ebpf_consumer* small = NULL;
  netipc_ebpf_options tiny;
  memset(&tiny, 0, sizeof tiny);
  tiny.max_snapshot_bytes = 64;
  CHECK_RC(netipc_ebpf_create(run_dir, NULL, 0x2a, &tiny, &small), NETIPC_EBPF_OK);
  CHECK_RC(netipc_ebpf_refresh(small, 0, &r), NETIPC_EBPF_ELIMIT);
  CHECK(r.table_updated == 0);
  CHECK_RC(netipc_ebpf_get_status(small, &st), NETIPC_EBPF_OK);
  CHECK(st.populated == 0 && strcmp(st.connection_state, "READY") == 0);
  netipc_ebpf_destroy(small);

  /* A wrong token is refused (and sticky). */
  netipc_ebpf_consumer* bad = NULL;
  CHECK_RC(netipc_ebpf_create(run_dir, "cgroups-snapshot", 0x2b, NULL, &bad), NETIPC_EBPF_OK);
  CHECK_RC(netipc_ebpf_refresh(bad, 0, NULL), NETIPC_EBPF_EAUTH);
  CHECK_RC(netipc_ebpf_refresh(bad, 0, NULL), NETIPC_EBPF_EAUTH);
  CHECK_RC(netipc_ebpf_reset_connection(bad), NETIPC_EBPF_OK);
  netipc_ebpf_destroy(bad);

#ifdef NETIPC_EBPF_TEST_UV
  check_loop(c);
#else
  CHECK_RC(netipc_ebpf_attach(c, (struct uv_loop_s*)&r, 20, NULL, NULL), NETIPC_EBPF_EUNSUPPORTED);
#endif

  /* The provider goes away: refreshes fail, the table stays. */
  stop_helper();
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_EPEER);
  CHECK(r.table_updated == 1 && r.targets == 2);
  CHECK_RC(netipc_ebpf_refresh(c, 0, &r), NETIPC_EBPF_ENOTFOUND);
  CHECK_RC(netipc_ebpf_get_flags(c, &fl), NETIPC_EBPF_OK);
  CHECK(fl.integration_active == 1);

  netipc_ebpf_destroy(c);
  /* A view outlives its consumer, and so do its targets' bytes. */
  CHECK_RC(find_target(v2, "cgroup_web", &t), NETIPC_EBPF_OK);
  CHECK(strcmp(t.name, "cgroup_web") == 0 && t.name[t.name_len] == '\0');
  CHECK(t.pid_count == 2 && t.pids[0] < t.pids[1]);
  CHECK(netipc_ebpf_target_has_pid(&t, getpid()) == 1);
  CHECK(strcmp(t.path, web_procs) == 0);
  netipc_ebpf_view_release(v2);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", run_dir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", run_dir);
  if (failures == 0) printf("consumer_c_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
