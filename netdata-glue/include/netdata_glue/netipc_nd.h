/* netipc_nd.h: what the Netdata daemon calls to run the cgroups-snapshot
 * provider, and what both Netdata sides need to agree on a session.
 *
 *  - The auth token, derived exactly as Netdata derives it: XXH3-64 (seed
 *    0) over the 16 raw bytes of the daemon's invocation UUID, which
 *    Netdata exports to every process it spawns as NETDATA_INVOCATION_ID.
 *  - The provider: cgroups.plugin hands over its cgroup list after each
 *    discovery pass; the provider encodes both snapshot layouts once per
 *    generation, off the caller's thread, and serves them on
 *    {run_dir}/{service}.sock from a loop and thread of its own.
 *  - The log: every library message goes to a function the host installs.
 *
 * Rules every function follows: plain C11, no C++ type crosses this
 * boundary, nothing throws. Functions that can fail return an int:
 * NETIPC_ND_OK (0) or a negative netipc_nd_error. Integrator guide:
 * docs/glue.md.
 *
 * Threads:
 *  - netipc_nd_provider_publish(), _wait_idle(), _get_stats(): any thread,
 *    also concurrently (cgroups.plugin's discovery thread publishes).
 *  - netipc_nd_provider_stop(): from a thread that is not the provider's
 *    own (never from the log callback); other calls may race with it and
 *    then get ESTOPPED. It blocks until the endpoint is removed and every
 *    provider thread has exited. Stats stay readable after it.
 *  - netipc_nd_provider_destroy(): once, when no other call on that
 *    provider runs.
 *  - netipc_nd_set_log(): any time; the callback runs on whichever thread
 *    logs (the provider's threads, the caller's) and must be thread-safe.
 */
#ifndef NETIPC_ND_H
#define NETIPC_ND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum netipc_nd_error {
  NETIPC_ND_OK = 0,
  NETIPC_ND_EINVAL = -1,     /* bad argument */
  NETIPC_ND_ENOMEM = -2,     /* an allocation failed */
  NETIPC_ND_EADDRINUSE = -3, /* a live provider already serves this endpoint */
  NETIPC_ND_EUNSAFE = -4,    /* run directory missing, not ours, or group/world writable */
  NETIPC_ND_ENOTFOUND = -5,  /* no usable invocation id in the environment */
  NETIPC_ND_ESTOPPED = -6,   /* the provider is stopping or stopped */
  NETIPC_ND_ETIMEDOUT = -7,  /* wait_idle: hand-overs still pending */
  NETIPC_ND_ESYSTEM = -8     /* an unexpected system call failure */
} netipc_nd_error;

/* A short static name of an error code ("EINVAL", ...); never NULL. */
const char* netipc_nd_strerror(int error);

/* ---- Auth token ---------------------------------------------------------- */

/* Parses an invocation id the way Netdata does: 32 hex digits (either
 * case), optionally with exactly 4 hyphens, each directly before a digit
 * pair; anything after the 16th byte is ignored. On success writes the 16
 * bytes in text order. EINVAL otherwise (uuid is left untouched). */
int netipc_nd_parse_invocation_id(const char* text, uint8_t uuid[16]);

/* XXH3-64 of the 16 raw bytes: Netdata's netipc_auth_token(). */
uint64_t netipc_nd_token_from_uuid(const uint8_t uuid[16]);

/* The token of this process's Netdata invocation: NETDATA_INVOCATION_ID,
 * else systemd's INVOCATION_ID (the daemon's own order). ENOTFOUND when
 * neither parses: the process was not started by Netdata (the daemon
 * itself always exports NETDATA_INVOCATION_ID before main()). */
int netipc_nd_auth_token(uint64_t* token);

/* ---- Provider ------------------------------------------------------------ */

/* One cgroup as cgroups.plugin has it after discovery. Strings are copied
 * by netipc_nd_provider_publish(). */
typedef struct netipc_nd_cgroup {
  const char* name;   /* "systemd_" or "cgroup_" + chart id; not NULL */
  const char* path;   /* its cgroup.procs path; NULL or "" when none was found */
  uint32_t hash;      /* simple_hash(name); 0 -> computed here */
  uint32_t options;   /* CGROUP_OPTIONS_* bits */
  uint32_t enabled;   /* nonzero when collected */
  uint32_t reserved0; /* must be 0 */
  uint64_t cgroup_id; /* inode of the cgroup directory; 0 when unknown */
} netipc_nd_cgroup;

/* How the provider runs its threads: the loop thread serving every
 * session ("netipc-cgroups") and the encoder thread ("netipc-encoder").
 * A host passes its own thread API so they carry its names, signal masks
 * and registrations (Netdata: nd_thread_create / nd_thread_join). */
typedef struct netipc_nd_thread_ops {
  /* Runs body(arg) on a new thread named `name` (<= 15 chars). Returns a
   * handle for join(), or NULL when no thread could be started. */
  void* (*start)(void* user, const char* name, void (*body)(void* arg), void* arg);
  /* Waits for the thread of `handle` to end and releases the handle. */
  void (*join)(void* user, void* handle);
  void* user;
} netipc_nd_thread_ops;

/* Zero means the default of every field. */
typedef struct netipc_nd_provider_options {
  const char* run_dir;   /* required: Netdata's run directory (os_run_dir()) */
  const char* service;   /* NULL or "" -> "cgroups-snapshot" */
  uint64_t auth_token;   /* netipc_nd_auth_token() */
  int allow_shm;         /* nonzero: also offer shared memory (default: socket only) */
  uint32_t max_sessions; /* 0 -> 1024 */
  int no_heap_trim;      /* nonzero: no malloc_trim(0) after each new generation */
  int reserved0;         /* must be 0 */
  /* NULL -> pthreads named with pthread_setname_np. Copied by start(). */
  const netipc_nd_thread_ops* threads;
  /* Peers are refused at accept unless their uid is this process's
   * effective uid, root, or one of these allowed_uid_count uids (copied by
   * start(); NULL with a zero count: only the first two). */
  const uint32_t* allowed_uids;
  uint32_t allowed_uid_count;
  /* Permissions of the socket: 0 -> 0600 (this user only); 0660 lets the
   * socket's group connect as well (their uid must still be allowed). Any
   * other value is EINVAL. */
  uint32_t socket_mode;
} netipc_nd_provider_options;

typedef struct netipc_nd_provider netipc_nd_provider;

/* Starts serving (an empty snapshot until the first publish). Errors:
 * EINVAL (options; thread ops without start or join), EUNSAFE, EADDRINUSE,
 * ENOMEM, ESYSTEM (also: the host's start() returned NULL). */
int netipc_nd_provider_start(const netipc_nd_provider_options* options, netipc_nd_provider** out);

/* Hands over the complete current list (copied; returns at once). The
 * provider's thread compares it with what it serves and, if it differs,
 * encodes both layouts and swaps them in; an equal list changes nothing.
 * Latest wins: a list not yet encoded when a newer one arrives is dropped.
 * systemd_enabled: Netdata's cgroup_enable_systemd_services. Errors:
 * EINVAL (NULL name, count with NULL items, nonzero reserved0), ENOMEM,
 * ESTOPPED. */
int netipc_nd_provider_publish(netipc_nd_provider* provider, const netipc_nd_cgroup* items,
                               size_t count, int systemd_enabled);

/* Waits until every list handed over before this call has been processed.
 * ETIMEDOUT when timeout_ms passes first. */
int netipc_nd_provider_wait_idle(netipc_nd_provider* provider, int timeout_ms);

typedef struct netipc_nd_provider_stats {
  uint64_t generation;        /* of the snapshot being served */
  uint64_t items;             /* in it */
  uint64_t layout1_bytes;     /* NetIPC v1 binary layout */
  uint64_t layout2_bytes;     /* protobuf layout */
  uint64_t generations;       /* new generations since start */
  uint64_t unchanged;         /* lists equal to the one served */
  uint64_t superseded;        /* lists replaced before they were encoded */
  uint64_t failures;          /* lists that could not be encoded */
  uint64_t requests_rejected; /* malformed or unsupported requests */
  uint64_t sessions_accepted; /* client sessions since start */
  double last_encode_ms;      /* both layouts, latest generation */
} netipc_nd_provider_stats;

int netipc_nd_provider_get_stats(const netipc_nd_provider* provider,
                                 netipc_nd_provider_stats* stats);

/* Stops accepting (the socket is removed at once), lets responses in
 * flight finish for up to deadline_ms (<= 0 -> 1000), closes every session
 * and joins the provider's threads. Later calls do nothing; NULL ignored. */
void netipc_nd_provider_stop(netipc_nd_provider* provider, int deadline_ms);
/* Stops (if running) and frees. NULL ignored. */
void netipc_nd_provider_destroy(netipc_nd_provider* provider);

/* ---- Log ----------------------------------------------------------------- */

typedef enum netipc_nd_log_level {
  NETIPC_ND_LOG_DEBUG = 0,
  NETIPC_ND_LOG_INFO = 1,
  NETIPC_ND_LOG_WARNING = 2,
  NETIPC_ND_LOG_ERROR = 3
} netipc_nd_log_level;

typedef void (*netipc_nd_log_fn)(void* user, int level, const char* message);

/* Routes every library message at or above min_level to fn (NULL: back to
 * one line on stderr). Messages caused by peers are already rate limited. */
void netipc_nd_set_log(netipc_nd_log_fn fn, void* user, int min_level);

#ifdef __cplusplus
}
#endif

#endif /* NETIPC_ND_H */
