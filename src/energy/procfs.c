/* CPU time and memory from /proc (relocatable with GREENTUNE_PROC_ROOT), for
 * the estimate meter, for attributing a share of the machine's energy to a
 * process tree, and for calibration.
 *
 *   machine  busy CPU seconds of all CPUs (/proc/stat: user+nice+system+irq+
 *            softirq; steal is another guest's time, guest is already in
 *            user), memory in use = MemTotal - MemAvailable
 *   tree     the process tree rooted at a pid (0: this process): utime+stime+
 *            cutime+cstime of every live process in it, found through
 *            /proc/PID/task/TID/children, and their resident memory; for a pid
 *            that is our child, the CPU time of our children that have exited
 *            since the walk began is added, so the command still counts after
 *            it has been reaped. */
#include "energy/internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct proc_tree {
    char root[256];
    int pid; /* 0: "self" */
    double clk_tck, page_bytes;
    double self_children0_s;
    int no_children_files;
    int stack[PROC_TREE_MAX];
    int pids[PROC_TREE_MAX]; /* live processes found by the last walk */
    int pid_count;
};

double procfs_clk_tck(void) { return (double)sysconf(_SC_CLK_TCK); }

void procfs_cpuinfo(const char *root, char *model, size_t model_size, int *siblings, int *cpus)
{
    char path[320], line[512];
    snprintf(path, sizeof path, "%s/cpuinfo", root);
    model[0] = '\0';
    *siblings = 0;
    *cpus = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        value[strcspn(value, "\n")] = '\0';
        if (!strncmp(line, "processor", 9))
            (*cpus)++;
        else if (!model[0] && (!strncmp(line, "model name", 10) || !strncmp(line, "cpu model", 9)))
            snprintf(model, model_size, "%s", value);
        else if (!*siblings && !strncmp(line, "siblings", 8))
            *siblings = atoi(value);
    }
    fclose(f);
}

gt_status procfs_meminfo(const char *root, double *total_gb, double *available_gb, gt_error *err)
{
    char path[320], text[8192];
    snprintf(path, sizeof path, "%s/meminfo", root);
    gt_status s = energy_read_text(path, text, sizeof text, err);
    if (s != GT_OK)
        return s;
    const char *t = strstr(text, "MemTotal:"), *a = strstr(text, "MemAvailable:");
    if (!t || !a)
        return gt_error_set(err, GT_ERR_PARSE, "%s: no MemTotal/MemAvailable lines", path);
    *total_gb = strtod(t + 9, NULL) / (1024.0 * 1024.0);
    *available_gb = strtod(a + 13, NULL) / (1024.0 * 1024.0);
    return GT_OK;
}

gt_status procfs_machine(const char *root, proc_machine *m, gt_error *err)
{
    char path[320], text[1024];
    snprintf(path, sizeof path, "%s/stat", root);
    gt_status s = energy_read_text(path, text, sizeof text, err);
    if (s != GT_OK)
        return s;
    unsigned long long user, nice, system, idle, iowait, irq, softirq;
    if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
               &softirq) != 7)
        return gt_error_set(err, GT_ERR_PARSE, "%s: first line is not 'cpu user nice system idle iowait irq "
                            "softirq ...'", path);
    m->busy_s = (double)(user + nice + system + irq + softirq) / procfs_clk_tck();
    double total, available;
    if ((s = procfs_meminfo(root, &total, &available, err)) != GT_OK)
        return s;
    m->mem_used_gb = total > available ? total - available : 0;
    return GT_OK;
}

/* One process: its pid, utime+stime and cutime+cstime in seconds, resident
 * bytes. Returns 0 when the process is gone or its stat line is malformed. */
static int process_stat(const proc_tree *t, const char *pid, int *id, double *own_s, double *children_s,
                        double *rss)
{
    char path[320], text[1024];
    snprintf(path, sizeof path, "%s/%s/stat", t->root, pid);
    if (energy_read_text(path, text, sizeof text, NULL) != GT_OK)
        return 0;
    /* The command name (field 2) may hold spaces and parentheses: fields
     * resume after the last ')'. */
    char *p = strrchr(text, ')');
    if (!p)
        return 0;
    unsigned long long utime, stime, cutime, cstime, rss_pages;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu %*d %*d %*d %*d %*u "
                      "%*u %llu",
               &utime, &stime, &cutime, &cstime, &rss_pages) != 5)
        return 0;
    *id = atoi(text);
    *own_s = (double)(utime + stime) / t->clk_tck;
    *children_s = (double)(cutime + cstime) / t->clk_tck;
    *rss = (double)rss_pages * t->page_bytes;
    return 1;
}

/* Appends the children of pid (from every thread's children file) to stack.
 * Returns -1 when the kernel has no children files. */
static int push_children(const proc_tree *t, const char *pid, int *stack, int *n)
{
    char path[320];
    snprintf(path, sizeof path, "%s/%s/task", t->root, pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int missing = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char file[400], text[4096];
        snprintf(file, sizeof file, "%s/%s/children", path, e->d_name);
        gt_status s = energy_read_text(file, text, sizeof text, NULL);
        if (s == GT_ERR_NOT_FOUND) {
            missing = 1;
            continue;
        }
        for (char *q = text, *end; *q; q = end) {
            long child = strtol(q, &end, 10);
            if (end == q)
                break;
            if (child > 0 && *n < PROC_TREE_MAX)
                stack[(*n)++] = (int)child;
        }
    }
    closedir(d);
    return missing ? -1 : 0;
}

static double self_children_s(const proc_tree *t)
{
    int id;
    double own = 0, children = 0, rss;
    process_stat(t, "self", &id, &own, &children, &rss);
    return children;
}

proc_tree *proc_tree_new(const char *root, int pid)
{
    proc_tree *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->root, sizeof t->root, "%s", root);
    t->pid = pid > 0 && pid != (int)getpid() ? pid : 0;
    t->clk_tck = procfs_clk_tck();
    t->page_bytes = (double)sysconf(_SC_PAGESIZE);
    if (t->pid)
        t->self_children0_s = self_children_s(t);
    return t;
}

void proc_tree_usage(proc_tree *t, double *cpu_s, double *mem_gb)
{
    int n = 0, visited = 0;
    double cpu = 0, rss = 0;
    char pid[24];
    snprintf(pid, sizeof pid, t->pid ? "%d" : "self", t->pid);
    t->pid_count = 0;
    for (;;) {
        int id;
        double own, children, bytes;
        if (process_stat(t, pid, &id, &own, &children, &bytes)) {
            cpu += own + children;
            rss += bytes;
            t->pids[t->pid_count++] = id;
            if (push_children(t, pid, t->stack, &n) < 0)
                t->no_children_files = 1;
        }
        if (n == 0 || ++visited >= PROC_TREE_MAX)
            break;
        snprintf(pid, sizeof pid, "%d", t->stack[--n]);
    }
    if (t->pid)
        cpu += self_children_s(t) - t->self_children0_s;
    *cpu_s = cpu;
    *mem_gb = rss / (1024.0 * 1024.0 * 1024.0);
}

const int *proc_tree_pids(const proc_tree *t, int *count)
{
    *count = t->pid_count;
    return t->pids;
}

int proc_tree_root_pid(const proc_tree *t) { return t->pid ? t->pid : (int)getpid(); }
int proc_tree_lacks_children_files(const proc_tree *t) { return t->no_children_files; }
void proc_tree_free(proc_tree *t) { free(t); }

void trail_push(trail *w, double t, const double v[TRAIL_VALUES], double min_s, double *dt, double dv[TRAIL_VALUES])
{
    /* The newest stored point at least min_s older than t, else the oldest. */
    int pick = -1;
    for (int k = 0; k < w->count; k++) {
        int i = (w->head - 1 - k + TRAIL_POINTS) % TRAIL_POINTS;
        pick = i;
        if (t - w->t[i] >= min_s)
            break;
    }
    *dt = 0;
    for (int c = 0; c < TRAIL_VALUES; c++)
        dv[c] = 0;
    if (pick >= 0) {
        *dt = t - w->t[pick];
        for (int c = 0; c < TRAIL_VALUES; c++)
            dv[c] = v[c] - w->v[pick][c];
    }
    w->t[w->head] = t;
    memcpy(w->v[w->head], v, sizeof w->v[0]);
    w->head = (w->head + 1) % TRAIL_POINTS;
    if (w->count < TRAIL_POINTS)
        w->count++;
}
