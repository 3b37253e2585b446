/* netipc_ebpf.h: the C ABI of the ebpf.plugin cgroups consumer.
 *
 * Replaces ebpf.plugin's legacy shared-memory reader: a cache of the
 * provider's cgroups (service "cgroups-snapshot" in Netdata's run directory)
 * and the cgroup target table built from it, with the PIDs of every target
 * read from its cgroup.procs. Integrator guide: docs/consumer.md.
 *
 * Rules every function follows:
 *  - Plain C11; no C++ type crosses this boundary; nothing throws.
 *  - Functions that can fail return an int: NETIPC_EBPF_OK (0) or a
 *    negative netipc_ebpf_error. NULL pointer arguments are
 *    NETIPC_EBPF_EINVAL (or ignored where documented).
 *  - The consumer never gives up: a missing, late, restarting or
 *    misbehaving provider only makes refreshes fail; the previous targets
 *    stay, and every later refresh tries again.
 *
 * Threads and lifetimes:
 *  - netipc_ebpf_refresh(), netipc_ebpf_reset_connection(): one thread at a
 *    time (calls are serialised), never while attached to a loop.
 *  - netipc_ebpf_attach(), netipc_ebpf_detach() and the callbacks: on the
 *    loop's thread.
 *  - netipc_ebpf_abort(): any thread, also from a signal handler. It makes
 *    a blocking refresh in progress return NETIPC_EBPF_EABORTED at once, and
 *    every later blocking refresh too, until netipc_ebpf_clear_abort().
 *  - Views, flags and status: any thread, at any time, concurrently with
 *    refreshes. A view is immutable: iterate it as long as you like; it
 *    stays valid (and unchanged) until netipc_ebpf_view_release(), even
 *    across later refreshes and after netipc_ebpf_destroy().
 *  - netipc_ebpf_destroy(): when no other call on the consumer runs. If it
 *    is attached, call it on the loop's thread (the refresher is cancelled
 *    silently; run the loop once more before uv_loop_close()), or detach
 *    first and destroy after the detach callback.
 */
#ifndef NETIPC_EBPF_H
#define NETIPC_EBPF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s; /* libuv's uv_loop_t; uv.h is not needed by this header */

typedef enum netipc_ebpf_error {
  NETIPC_EBPF_OK = 0,
  NETIPC_EBPF_EINVAL = -1,        /* bad argument, or wrong mode (attached / not) */
  NETIPC_EBPF_ENOMEM = -2,        /* an allocation failed */
  NETIPC_EBPF_ENOTFOUND = -3,     /* no provider listens (yet) */
  NETIPC_EBPF_ETIMEDOUT = -4,     /* the provider did not answer in time */
  NETIPC_EBPF_EABORTED = -5,      /* netipc_ebpf_abort() */
  NETIPC_EBPF_EAUTH = -6,         /* the provider rejected the token (sticky) */
  NETIPC_EBPF_EINCOMPATIBLE = -7, /* no common protocol profile (sticky) */
  NETIPC_EBPF_EMALFORMED = -8,    /* the provider sent bytes that do not decode (session dropped) */
  NETIPC_EBPF_EPEER = -9,         /* the session failed (peer gone, protocol, server error) */
  NETIPC_EBPF_ELIMIT = -10,       /* the snapshot exceeds a size limit */
  NETIPC_EBPF_EUNSUPPORTED = -11, /* built without libuv (netipc_ebpf_attach) */
  NETIPC_EBPF_ESYSTEM = -12       /* an unexpected system call failure */
} netipc_ebpf_error;

/* A short static name of an error code ("ENOTFOUND", ...); never NULL. */
const char* netipc_ebpf_strerror(int error);

typedef struct netipc_ebpf_consumer netipc_ebpf_consumer;
typedef struct netipc_ebpf_view netipc_ebpf_view;

/* Zero (or a NULL options pointer) means the default of every field. */
typedef struct netipc_ebpf_options {
  int call_timeout_ms;         /* 0 -> 5000: bounds each snapshot call attempt */
  int connect_timeout_ms;      /* 0 -> 5000: bounds the handshake */
  int allow_shm;               /* nonzero: blocking refreshes may use shared memory */
  uint16_t layout;             /* 0 = automatic (2, falls back to 1); 1 or 2 */
  uint16_t reserved0;          /* must be 0 */
  uint64_t max_snapshot_bytes; /* 0 = no cap on one snapshot's memory */
  int no_heap_trim;            /* nonzero: no malloc_trim(0) after each refresh */
} netipc_ebpf_options;

/* Creates a consumer of {run_dir}/{service}.sock (service NULL or "" ->
 * "cgroups-snapshot"). No I/O: the first refresh connects. auth_token is
 * the provider's token (Netdata derives it from NETDATA_INVOCATION_ID).
 * Errors: EINVAL (bad run_dir/service/options), ENOMEM. */
int netipc_ebpf_create(const char* run_dir, const char* service, uint64_t auth_token,
                       const netipc_ebpf_options* options, netipc_ebpf_consumer** out);
/* NULL is ignored. Views acquired earlier stay valid. */
void netipc_ebpf_destroy(netipc_ebpf_consumer* consumer);

/* What one refresh did. */
typedef struct netipc_ebpf_refresh_result {
  int error;              /* NETIPC_EBPF_OK or the refresh's error */
  int malformed;          /* the response was malformed; its session was dropped */
  int table_updated;      /* the target table was rebuilt (also after a failure,
                             from the previous snapshot) */
  int send_cgroup_charts; /* the set of targets changed in this rebuild */
  uint16_t layout;        /* snapshot layout used */
  uint64_t generation;    /* of the cached snapshot after this refresh */
  uint32_t items;         /* items in it */
  uint32_t targets;       /* targets after the rebuild */
  uint32_t targets_added, targets_removed;
  uint64_t pids;    /* PIDs of all targets after the rebuild */
  int64_t call_us;  /* request -> response (including a connect) */
  int64_t build_us; /* decode + index build + publish */
  int64_t apply_us; /* target table rebuild (cgroup.procs reads) */
} netipc_ebpf_refresh_result;

/* One blocking refresh and table rebuild. timeout_ms <= 0: the configured
 * call timeout. result may be NULL. Returns the refresh's error; EINVAL
 * while attached. */
int netipc_ebpf_refresh(netipc_ebpf_consumer* consumer, int timeout_ms,
                        netipc_ebpf_refresh_result* result);

typedef void (*netipc_ebpf_refresh_cb)(void* user, const netipc_ebpf_refresh_result* result);
typedef void (*netipc_ebpf_done_cb)(void* user);

/* Refreshes on `loop` every interval_ms (0 -> 30000), the first right away;
 * never blocks the loop (the snapshot build and the table rebuild run on
 * libuv's threadpool). `cb` (may be NULL) runs on the loop after every
 * attempt, once the table reflects it. Unix sockets only.
 * Errors: EINVAL (NULL loop, already attached), EUNSUPPORTED, ESYSTEM. */
int netipc_ebpf_attach(netipc_ebpf_consumer* consumer, struct uv_loop_s* loop, uint32_t interval_ms,
                       netipc_ebpf_refresh_cb cb, void* user);
/* Stops refreshing on the loop: an exchange in flight is abandoned, a
 * rebuild in flight finishes; then `done` (may be NULL) runs on the loop,
 * after which no callback runs and the loop can be closed. EINVAL if not
 * attached. */
int netipc_ebpf_detach(netipc_ebpf_consumer* consumer, netipc_ebpf_done_cb done, void* user);

void netipc_ebpf_abort(netipc_ebpf_consumer* consumer);
void netipc_ebpf_clear_abort(netipc_ebpf_consumer* consumer);
/* Leaves the sticky EAUTH / EINCOMPATIBLE states: the next refresh
 * connects again. EINVAL while attached. */
int netipc_ebpf_reset_connection(netipc_ebpf_consumer* consumer);

/* The flags ebpf.plugin publishes to its collectors (release/acquire). */
typedef struct netipc_ebpf_flags {
  int integration_active; /* the last rebuild saw a non-empty snapshot */
  int systemd_enabled;    /* the provider's systemd_enabled */
  int send_cgroup_charts; /* the last rebuild changed the set of targets */
  uint64_t pass;          /* rebuild number the flags belong to (0 = none yet) */
} netipc_ebpf_flags;
int netipc_ebpf_get_flags(const netipc_ebpf_consumer* consumer, netipc_ebpf_flags* out);

typedef struct netipc_ebpf_status {
  const char* connection_state; /* "READY", "NOT_FOUND", ... (static string) */
  int populated;                /* a snapshot is cached */
  int last_error;               /* of the most recent failed refresh (kept after success) */
  uint16_t layout;
  uint32_t items;
  uint64_t generation;
  uint64_t refresh_successes;
  uint64_t refresh_failures;
  uint64_t consecutive_failures;
  int64_t last_success_ms; /* CLOCK_MONOTONIC ms of the last success; 0 = never */
  uint64_t connect_count;  /* sessions opened by the active client */
  uint64_t reconnect_count;
  uint64_t malformed_responses;
} netipc_ebpf_status;
int netipc_ebpf_get_status(const netipc_ebpf_consumer* consumer, netipc_ebpf_status* out);

/* ---- the target table ---------------------------------------------------- */

typedef struct netipc_ebpf_target {
  const char* name; /* NUL-terminated; "cgroup_..." or "systemd_..." */
  size_t name_len;
  const char* path;    /* its cgroup.procs, NUL-terminated */
  uint32_t hash;       /* Netdata's simple_hash(name) */
  uint32_t options;    /* CGROUP_OPTIONS_* bits */
  int systemd;         /* options & 0x2 */
  uint64_t cgroup_id;  /* cgroup directory inode; 0 if the provider did not send it */
  uint64_t id;         /* stable while the target stays in the table */
  uint64_t added_pass; /* rebuild in which it appeared */
  const pid_t* pids;   /* sorted ascending, unique */
  size_t pid_count;
} netipc_ebpf_target;

typedef struct netipc_ebpf_view_info {
  uint64_t pass;       /* rebuild number (0 = nothing built yet) */
  uint64_t generation; /* of the snapshot it was built from */
  int integration_active;
  int systemd_enabled;
  int send_cgroup_charts;
  size_t target_count;
  size_t removed_count; /* targets that left in this rebuild */
} netipc_ebpf_view_info;

/* Pins the current table view (one immutable picture). NULL on ENOMEM or
 * a NULL consumer. Release it with netipc_ebpf_view_release(). */
netipc_ebpf_view* netipc_ebpf_view_acquire(const netipc_ebpf_consumer* consumer);
void netipc_ebpf_view_release(netipc_ebpf_view* view); /* NULL is ignored */
int netipc_ebpf_view_get_info(const netipc_ebpf_view* view, netipc_ebpf_view_info* out);
/* Target i (< target_count). Pointers in *out stay valid until the view is
 * released. EINVAL when out of range. */
int netipc_ebpf_view_target(const netipc_ebpf_view* view, size_t i, netipc_ebpf_target* out);
/* A target that left in this rebuild (i < removed_count), e.g. to obsolete
 * its charts. */
int netipc_ebpf_view_removed(const netipc_ebpf_view* view, size_t i, netipc_ebpf_target* out);
/* The target (hash, name) in O(1). ENOTFOUND if absent. name_len may be
 * (size_t)-1 for a NUL-terminated name. */
int netipc_ebpf_view_find(const netipc_ebpf_view* view, uint32_t hash, const char* name,
                          size_t name_len, netipc_ebpf_target* out);
/* 1 if pid is in the target's PID set (binary search), else 0. */
int netipc_ebpf_target_has_pid(const netipc_ebpf_target* target, pid_t pid);

/* Routes the library's log lines (default: stderr) to `sink`; NULL restores
 * stderr. level: 0 debug, 1 info, 2 warning, 3 error. Process-wide. */
typedef void (*netipc_ebpf_log_cb)(int level, const char* message, void* user);
void netipc_ebpf_set_log_sink(netipc_ebpf_log_cb sink, void* user);

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_EBPF_H */
