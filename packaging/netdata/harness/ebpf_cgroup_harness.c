// ebpf-cgroup-harness: runs ebpf.plugin's cgroup integration (the object
// file src/collectors/ebpf.plugin/ebpf_cgroup.c.o of a patched build, linked
// as it is) against a running netdata, without loading eBPF programs, and
// prints the cgroup targets ebpf.plugin would track with their PIDs.
//
// Built by packaging/netdata/e2e.sh with the compile flags of ebpf.plugin.
// This file stands in for the rest of ebpf.plugin: the few globals the
// cgroup code uses, a chart writer it never calls here, and libnetdata's
// required dummies (as every external plugin has them).
//
// Usage: ebpf-cgroup-harness [REFRESHES [INTERVAL_MS]]
// Each refresh prints:
//   refresh N active=A systemd_enabled=S send_cgroup_chart=C targets=T
//   target NAME hash=H systemd=S updated=U pids=P [PID,...]   (one per target)
//   end N
// Exit status 0; 2 on bad arguments.

#include "ebpf.h"
#include "ebpf_cgroup.h"
#include "libnetdata/required_dummies.h"

bool ebpf_plugin_exit = false;
volatile sig_atomic_t ebpf_stop_signal = 0;
netdata_mutex_t mutex_cgroup_targets;

void ebpf_write_chart_cmd(
    char *type, char *id, char *suffix, char *title, char *units, char *family, char *charttype, char *context,
    int order, int update_every, char *module)
{
    (void)type; (void)id; (void)suffix; (void)title; (void)units; (void)family; (void)charttype; (void)context;
    (void)order; (void)update_every; (void)module;
}

static void print_targets(unsigned refresh)
{
    netdata_mutex_lock(&mutex_cgroup_targets);
    size_t count = 0;
    for (ebpf_cgroup_target_t *ect = ebpf_cgroup_pids; ect; ect = ect->next)
        count++;

    printf("refresh %u active=%d systemd_enabled=%d send_cgroup_chart=%d targets=%zu\n", refresh,
           ebpf_cgroup_integration_active(), ebpf_cgroup_systemd_enabled(), send_cgroup_chart, count);

    for (ebpf_cgroup_target_t *ect = ebpf_cgroup_pids; ect; ect = ect->next) {
        size_t pids = 0;
        for (struct pid_on_target2 *pt = ect->pids; pt; pt = pt->next)
            pids++;
        printf("target %s hash=%u systemd=%u updated=%u pids=%zu ", ect->name, ect->hash, ect->systemd, ect->updated, pids);
        const char *sep = "";
        for (struct pid_on_target2 *pt = ect->pids; pt; pt = pt->next) {
            printf("%s%d", sep, pt->pid);
            sep = ",";
        }
        printf("\n");
    }
    printf("end %u\n", refresh);
    fflush(stdout);
    netdata_mutex_unlock(&mutex_cgroup_targets);
}

int main(int argc, char **argv)
{
    long refreshes = 1, interval_ms = 1000;
    if (argc > 1 && (refreshes = strtol(argv[1], NULL, 10)) < 1) {
        fprintf(stderr, "usage: %s [REFRESHES [INTERVAL_MS]]\n", argv[0]);
        return 2;
    }
    if (argc > 2 && (interval_ms = strtol(argv[2], NULL, 10)) < 0) {
        fprintf(stderr, "usage: %s [REFRESHES [INTERVAL_MS]]\n", argv[0]);
        return 2;
    }

    nd_log_initialize_for_external_plugins("ebpf-cgroup-harness");
    netdata_mutex_init(&mutex_cgroup_targets);

    for (long i = 1; i <= refreshes; i++) {
        ebpf_cgroup_update_targets();
        print_targets((unsigned)i);
        if (i < refreshes)
            sleep_usec((usec_t)interval_ms * USEC_PER_MS);
    }
    return 0;
}
