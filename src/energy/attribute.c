/* A process tree's share of what the meter measures for the whole machine,
 * reported beside the machine's figure (never instead of it):
 *
 *   cpu   share of the CPU energy = the tree's CPU seconds / the machine's busy
 *         CPU seconds, over a trailing window (as Scaphandre and PowerJoular
 *         share package power); the tree thus carries its part of the idle
 *         power too, in proportion to the work it did
 *   dram  share of the DRAM energy = the tree's resident memory / the
 *         machine's memory in use (trapezoid between reads)
 *   gpu   asked of each GPU backend (NVML: the tree's share of SM utilisation
 *         in the per-process samples)
 *
 * Each read's increment is shared with the shares of that moment, so a tree
 * that starts or stops working mid-way gets the energy of its own moments. */
#include "energy/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct attribution {
    char root[256];
    proc_tree *tree;
    trail cpu; /* (machine busy s, tree CPU s) */
    double mem_share;
    char method[GT_COMPONENTS][96];
};

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

/* The tree's memory share now, and pushes the CPU point; 0 when /proc fails. */
static int sample(attribution *a, double now_s, double *cpu_share, double *mem_share)
{
    proc_machine m;
    if (procfs_machine(a->root, &m, NULL) != GT_OK)
        return 0;
    double tree_cpu, tree_gb;
    proc_tree_usage(a->tree, &tree_cpu, &tree_gb);
    double v[TRAIL_VALUES] = {m.busy_s, tree_cpu}, dt, dv[TRAIL_VALUES];
    trail_push(&a->cpu, now_s, v, LOAD_WINDOW_S, &dt, dv);
    /* Both counters tick at 10 ms: the tree may show a tick the machine has not yet. */
    *cpu_share = dv[0] > 0 ? clamp01(dv[1] / dv[0]) : dv[1] > 0 ? 1 : 0;
    *mem_share = m.mem_used_gb > 0 ? clamp01(tree_gb / m.mem_used_gb) : 0;
    return 1;
}

gt_status attribution_open(const char *proc_root, int pid, double now_s, attribution **out, gt_error *err)
{
    *out = NULL;
    attribution *a = calloc(1, sizeof *a);
    if (!a || !(a->tree = proc_tree_new(proc_root, pid))) {
        free(a);
        return gt_error_set(err, GT_ERR_NOMEM, "attribution: out of memory");
    }
    snprintf(a->root, sizeof a->root, "%s", proc_root);
    gt_status s = GT_OK;
    double cpu;
    if (!sample(a, now_s, &cpu, &a->mem_share)) {
        proc_machine m;
        if ((s = procfs_machine(proc_root, &m, err)) == GT_OK) /* it failed a moment ago: say why */
            s = gt_error_set(err, GT_ERR_IO, "attribution: %s/stat cannot be read", proc_root);
    }
    int count;
    proc_tree_pids(a->tree, &count);
    if (s == GT_OK && count == 0 && pid <= 0)
        s = gt_error_set(err, GT_ERR_NOT_FOUND, "attribution: %s/self/stat is not readable (is /proc mounted?)",
                         proc_root);
    if (s != GT_OK) {
        attribution_close(a);
        return s;
    }
    snprintf(a->method[GT_CPU], sizeof a->method[GT_CPU], "cpu-time share (tree CPU s / machine busy CPU s)");
    snprintf(a->method[GT_DRAM], sizeof a->method[GT_DRAM], "memory share (tree resident GB / machine GB in use)");
    if (proc_tree_lacks_children_files(a->tree))
        snprintf(a->method[GT_CPU], sizeof a->method[GT_CPU],
                 "cpu-time share; no /proc/PID/task/TID/children: children not yet exited are missed");
    *out = a;
    return GT_OK;
}

void attribution_update(attribution *a, double now_s, const double delta[GT_COMPONENTS], backend *const *backends,
                        int count, double process_j[GT_COMPONENTS])
{
    double cpu_share, mem_share;
    if (sample(a, now_s, &cpu_share, &mem_share)) {
        process_j[GT_CPU] += cpu_share * delta[GT_CPU];
        process_j[GT_DRAM] += 0.5 * (mem_share + a->mem_share) * delta[GT_DRAM];
        a->mem_share = mem_share;
    }
    int n;
    const int *pids = proc_tree_pids(a->tree, &n);
    for (int i = 0; i < count; i++) {
        if (!(backends[i]->components & COMPONENT_BIT(GT_GPU)))
            continue;
        if (!backends[i]->attribute) {
            snprintf(a->method[GT_GPU], sizeof a->method[GT_GPU], "not attributed: %s has no per-process figures",
                     backends[i]->name);
            continue;
        }
        double j = 0;
        backends[i]->attribute(backends[i], pids, n, &j, a->method[GT_GPU], sizeof a->method[GT_GPU]);
        process_j[GT_GPU] += j;
    }
}

const char *attribution_method(const attribution *a, gt_component c) { return a->method[c]; }
int attribution_pid(const attribution *a) { return proc_tree_root_pid(a->tree); }

void attribution_close(attribution *a)
{
    if (!a)
        return;
    proc_tree_free(a->tree);
    free(a);
}
