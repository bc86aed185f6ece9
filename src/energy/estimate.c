/* The estimate meter: where no energy counter is readable (VMs, containers,
 * CI), energy is derived from CPU time and memory in use, read from /proc
 * (relocatable with GREENTUNE_PROC_ROOT). Every number it gives is labelled
 * estimated. The model (docs/energy-model.md):
 *
 *   cpu_j  = busy CPU seconds x W per logical CPU
 *            W per logical CPU = TDP / threads of the package (table below),
 *            or --cpu-tdp / the logical CPUs per package this machine shows,
 *            or 4 W when the CPU is unknown
 *   dram_j = integral of (GB in use x 0.375 W/GB) dt, trapezoid rule between reads
 *
 * Two scopes:
 *   machine  busy time of all CPUs (/proc/stat: user+nice+system+irq+softirq),
 *            memory in use = MemTotal - MemAvailable
 *   process  the process tree rooted at pid (0: this process): utime+stime+
 *            cutime+cstime of every live process in it, found through
 *            /proc/PID/task/TID/children, and their resident memory; for
 *            pid > 0 (a child of this process) the CPU time of our children
 *            that have exited since the meter opened is added, so the command
 *            still counts after it has been reaped. */
#include "energy/internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DRAM_W_PER_GB 0.375   /* 3 W per 8 GB DDR4 module, a common rule of thumb */
#define UNKNOWN_W_PER_CPU 4.0 /* between server (2-3.5 W) and desktop (5-8 W) parts below */
#define TREE_MAX 4096

/* TDP (base power) and hardware threads per package, from the vendors' spec
 * pages (Intel ARK, AMD product pages). A row matches when its pattern appears
 * in /proc/cpuinfo's "model name" as a whole word; the longest match wins, so
 * the family rows at the end only catch parts not listed (a VM often shows
 * just "AMD EPYC"). */
typedef struct {
    const char *pattern;
    double tdp_w;
    int threads;
    const char *part; /* the part a family row stands for */
} cpu_row;

static const cpu_row cpu_table[] = {
    {"EPYC 7313", 155, 32, NULL},           {"EPYC 7543", 225, 64, NULL},
    {"EPYC 7742", 225, 128, NULL},          {"EPYC 7763", 280, 128, NULL},
    {"EPYC 9554", 360, 128, NULL},          {"EPYC 9654", 360, 192, NULL},
    {"EPYC 9755", 500, 256, NULL},          {"Ryzen 7 5800X", 105, 16, NULL},
    {"Ryzen 9 5950X", 105, 32, NULL},       {"Ryzen 9 7950X", 170, 32, NULL},
    {"Xeon(R) Platinum 8380", 270, 80, NULL}, {"Xeon(R) Platinum 8480+", 350, 112, NULL},
    {"Xeon(R) Platinum 8275CL", 240, 48, NULL}, {"Xeon(R) Platinum 8259CL", 210, 48, NULL},
    {"Xeon(R) Gold 6230", 125, 40, NULL},   {"Xeon(R) Gold 6248", 150, 40, NULL},
    {"Xeon(R) Gold 6338", 205, 64, NULL},   {"Xeon(R) Silver 4210", 85, 20, NULL},
    {"Xeon(R) CPU E5-2680 v4", 120, 28, NULL}, {"Xeon(R) CPU E5-2686 v4", 145, 36, NULL},
    {"Core(TM) i7-8700", 65, 12, NULL},     {"Core(TM) i7-1165G7", 28, 8, NULL},
    {"Core(TM) i7-12700K", 125, 20, NULL},  {"Core(TM) i9-13900K", 125, 32, NULL},
    /* families */
    {"EPYC", 280, 128, "AMD EPYC 7763"},    {"Ryzen", 105, 32, "AMD Ryzen 9 5950X"},
    {"Xeon(R)", 270, 80, "Intel Xeon Platinum 8380"}, {"Core(TM)", 65, 12, "Intel Core i7-8700"},
};

typedef struct {
    backend base;
    char root[256];
    gt_scope scope;
    int pid;
    double w_per_cpu;
    double clk_tck, page_bytes;
    double cpu0_s, cpu_last_s;
    double self_children0_s;
    double mem_last_gb, t_last;
    double dram_j;
    int no_children_files;
    int stack[TREE_MAX]; /* tree walk */
} estimate_meter;

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+';
}

static const cpu_row *lookup_cpu(const char *model)
{
    const cpu_row *best = NULL;
    for (size_t i = 0; i < sizeof cpu_table / sizeof cpu_table[0]; i++) {
        const cpu_row *row = &cpu_table[i];
        size_t n = strlen(row->pattern);
        for (const char *at = strstr(model, row->pattern); at; at = strstr(at + 1, row->pattern)) {
            int starts = at == model || !is_word_char(at[-1]) || !is_word_char(row->pattern[0]);
            if (starts && !is_word_char(at[n]) && (!best || n > strlen(best->pattern)))
                best = row;
        }
    }
    return best;
}

/* The first "model name" (or "Processor"/"cpu model" on other architectures),
 * the logical CPUs per package ("siblings") and the number of CPUs. */
static void read_cpuinfo(const char *root, char *model, size_t model_size, int *siblings, int *cpus)
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

/* MemTotal and MemAvailable in GB (2^30 bytes). */
static gt_status read_meminfo(const char *root, double *total_gb, double *available_gb, gt_error *err)
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

/* Busy CPU seconds of the whole machine from the first line of /proc/stat. */
static gt_status machine_cpu_s(const estimate_meter *e, double *cpu_s, gt_error *err)
{
    char path[320], text[1024];
    snprintf(path, sizeof path, "%s/stat", e->root);
    gt_status s = energy_read_text(path, text, sizeof text, err);
    if (s != GT_OK)
        return s;
    unsigned long long user, nice, system, idle, iowait, irq, softirq;
    if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
               &softirq) != 7)
        return gt_error_set(err, GT_ERR_PARSE, "%s: first line is not 'cpu user nice system idle iowait irq "
                            "softirq ...'", path);
    /* steal is another guest's time; guest time is already inside user/nice. */
    *cpu_s = (double)(user + nice + system + irq + softirq) / e->clk_tck;
    return GT_OK;
}

/* One process: utime+stime and cutime+cstime in seconds, resident bytes.
 * Returns 0 when the process is gone or its stat line is malformed. */
static int process_stat(const estimate_meter *e, const char *pid, double *own_s, double *children_s, double *rss)
{
    char path[320], text[1024];
    snprintf(path, sizeof path, "%s/%s/stat", e->root, pid);
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
    *own_s = (double)(utime + stime) / e->clk_tck;
    *children_s = (double)(cutime + cstime) / e->clk_tck;
    *rss = (double)rss_pages * e->page_bytes;
    return 1;
}

/* Appends the children of pid (from every thread's children file) to stack.
 * Returns -1 when the kernel has no children files. */
static int push_children(const estimate_meter *e, const char *pid, int *stack, int *n)
{
    char path[320];
    snprintf(path, sizeof path, "%s/%s/task", e->root, pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int missing = 0;
    struct dirent *t;
    while ((t = readdir(d))) {
        if (t->d_name[0] < '0' || t->d_name[0] > '9')
            continue;
        char file[400], text[4096];
        snprintf(file, sizeof file, "%s/%s/children", path, t->d_name);
        gt_status s = energy_read_text(file, text, sizeof text, NULL);
        if (s == GT_ERR_NOT_FOUND) {
            missing = 1;
            continue;
        }
        for (char *q = text, *end; *q; q = end) {
            long child = strtol(q, &end, 10);
            if (end == q)
                break;
            if (child > 0 && *n < TREE_MAX)
                stack[(*n)++] = (int)child;
        }
    }
    closedir(d);
    return missing ? -1 : 0;
}

/* CPU seconds and resident GB of the tree rooted at e->pid (0: "self"). */
static void tree_usage(estimate_meter *e, double *cpu_s, double *mem_gb)
{
    int *stack = e->stack, n = 0, visited = 0;
    double cpu = 0, rss = 0;
    char pid[24];
    snprintf(pid, sizeof pid, e->pid ? "%d" : "self", e->pid);
    for (;;) {
        double own, children, bytes;
        if (process_stat(e, pid, &own, &children, &bytes)) {
            cpu += own + children;
            rss += bytes;
            if (push_children(e, pid, stack, &n) < 0)
                e->no_children_files = 1;
        }
        if (n == 0 || ++visited >= TREE_MAX)
            break;
        snprintf(pid, sizeof pid, "%d", stack[--n]);
    }
    *cpu_s = cpu;
    *mem_gb = rss / (1024.0 * 1024.0 * 1024.0);
}

static double self_children_s(const estimate_meter *e)
{
    double own = 0, children = 0, rss;
    process_stat(e, "self", &own, &children, &rss);
    return children;
}

static gt_status usage_now(estimate_meter *e, double *cpu_s, double *mem_gb, gt_error *err)
{
    if (e->scope == GT_SCOPE_MACHINE) {
        double total, available;
        gt_status s = machine_cpu_s(e, cpu_s, err);
        if (s == GT_OK)
            s = read_meminfo(e->root, &total, &available, err);
        *mem_gb = s == GT_OK && total > available ? total - available : 0;
        return s;
    }
    tree_usage(e, cpu_s, mem_gb);
    if (e->pid)
        *cpu_s += self_children_s(e) - e->self_children0_s;
    return GT_OK;
}

static gt_status estimate_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    estimate_meter *e = (estimate_meter *)b;
    double cpu_s, mem_gb;
    gt_status s = usage_now(e, &cpu_s, &mem_gb, err);
    if (s != GT_OK)
        return s;
    if (cpu_s > e->cpu_last_s) /* a process caught between exit and reaping drops out for a moment */
        e->cpu_last_s = cpu_s;
    if (now_s > e->t_last) {
        e->dram_j += DRAM_W_PER_GB * 0.5 * (mem_gb + e->mem_last_gb) * (now_s - e->t_last);
        e->t_last = now_s;
    }
    e->mem_last_gb = mem_gb;
    joules[GT_CPU] = (e->cpu_last_s - e->cpu0_s) * e->w_per_cpu;
    joules[GT_DRAM] = e->dram_j;
    joules[GT_GPU] = 0;
    return GT_OK;
}

static void estimate_close(backend *b) { free(b); }

/* W per busy logical CPU and the sentence that says where it came from. */
static double cpu_power(const char *root, double cpu_tdp_w, char *why, size_t why_size)
{
    char model[256];
    int siblings, cpus;
    read_cpuinfo(root, model, sizeof model, &siblings, &cpus);
    if (cpu_tdp_w > 0) {
        int threads = siblings > 0 ? siblings : cpus > 0 ? cpus : 1;
        snprintf(why, why_size, "--cpu-tdp %g W / %d logical CPUs per package", cpu_tdp_w, threads);
        return cpu_tdp_w / threads;
    }
    const cpu_row *row = lookup_cpu(model);
    if (!row) {
        snprintf(why, why_size, "CPU '%s' is not in the TDP table: assumed; pass --cpu-tdp W", model);
        return UNKNOWN_W_PER_CPU;
    }
    snprintf(why, why_size, "'%s' taken as %s: %g W / %d threads", model, row->part ? row->part : row->pattern,
             row->tdp_w, row->threads);
    return row->tdp_w / row->threads;
}

gt_status estimate_open(const gt_measure_options *o, double now_s, backend **out, gt_error *err)
{
    *out = NULL;
    estimate_meter *e = calloc(1, sizeof *e);
    if (!e)
        return gt_error_set(err, GT_ERR_NOMEM, "estimate: out of memory");
    e->base.name = "estimate";
    e->base.is_estimate = 1;
    e->base.components = COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM);
    e->base.read = estimate_read;
    e->base.close = estimate_close;
    snprintf(e->root, sizeof e->root, "%s", energy_proc_root());
    e->scope = o->scope;
    e->pid = o->scope == GT_SCOPE_PROCESS && o->pid > 0 && o->pid != (int)getpid() ? o->pid : 0;
    e->clk_tck = (double)sysconf(_SC_CLK_TCK);
    e->page_bytes = (double)sysconf(_SC_PAGESIZE);
    char why[320];
    e->w_per_cpu = cpu_power(e->root, o->cpu_tdp_w, why, sizeof why);
    if (e->pid)
        e->self_children0_s = self_children_s(e);
    gt_status s = usage_now(e, &e->cpu0_s, &e->mem_last_gb, err);
    if (s == GT_OK && e->scope == GT_SCOPE_PROCESS && !e->pid && e->cpu0_s == 0 && e->mem_last_gb == 0)
        s = gt_error_set(err, GT_ERR_NOT_FOUND, "estimate: %s/self/stat is not readable (is /proc mounted?)",
                         e->root);
    if (s != GT_OK) {
        free(e);
        return s;
    }
    e->cpu_last_s = e->cpu0_s;
    e->t_last = now_s;
    char scope[64];
    if (e->scope == GT_SCOPE_MACHINE)
        snprintf(scope, sizeof scope, "the whole machine");
    else if (e->pid)
        snprintf(scope, sizeof scope, "process tree of pid %d", e->pid);
    else
        snprintf(scope, sizeof scope, "this process and its children");
    snprintf(e->base.description, sizeof e->base.description,
             "estimate for %s: %.3g W per busy logical CPU (%s) + %.3g W per GB of memory in use", scope,
             e->w_per_cpu, why, DRAM_W_PER_GB);
    if (e->no_children_files) /* an old or unusual kernel: no CONFIG_PROC_CHILDREN */
        snprintf(e->base.description + strlen(e->base.description),
                 sizeof e->base.description - strlen(e->base.description),
                 "; no /proc/PID/task/TID/children: children not yet exited are missed");
    *out = &e->base;
    return GT_OK;
}

void estimate_machine_info(char *cpu_model, size_t model_size, int *cpu_count, double *ram_total_gb)
{
    const char *root = energy_proc_root();
    int siblings;
    read_cpuinfo(root, cpu_model, model_size, &siblings, cpu_count);
    double available;
    if (read_meminfo(root, ram_total_gb, &available, NULL) != GT_OK)
        *ram_total_gb = 0;
}
