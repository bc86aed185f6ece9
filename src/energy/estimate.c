/* The estimate meter: where no energy counter is readable (VMs, containers,
 * CI), the whole machine's energy is derived from its CPU load and memory in
 * use, read from /proc (relocatable with GREENTUNE_PROC_ROOT). Every number it
 * gives is labelled estimated. The model (docs/energy-model.md):
 *
 *   cpu_w  = idle_w + (max_w - idle_w) x u^exponent
 *            u       = busy CPU seconds / (seconds x logical CPUs), over a
 *                      trailing window of at least LOAD_WINDOW_S
 *            max_w   = W per logical CPU x logical CPUs, W per logical CPU =
 *                      TDP / threads of the package (cpu_tdp.csv), or
 *                      --cpu-tdp / the logical CPUs per package this machine
 *                      shows, or 4 W when the CPU is unknown
 *            idle_w  = 10 % of max_w, or --idle-watts
 *            exponent 3
 *            (CodeCarbon's TDP x (0.1 + 0.9 x u^3)); a calibration of this CPU
 *            model against a real counter replaces idle_w, max_w, exponent
 *   dram_w = 0.375 W x GB in use (MemTotal - MemAvailable), or the calibrated
 *            W per GB; both integrated over time with the trapezoid rule
 *
 * The process tree's share is not the estimate's business: attribute.c
 * shares whatever the meter measures, estimate or counter alike. */
#include "energy/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_tdp_csv.h"

#define DRAM_W_PER_GB 0.375   /* 3 W per 8 GB DDR4 module, a common rule of thumb */
#define UNKNOWN_W_PER_CPU 4.0 /* between server (2-3.5 W) and desktop (5-8 W) parts in the table */
#define IDLE_SHARE 0.1        /* CodeCarbon's floor: 10 % of TDP at zero load */
#define LOAD_EXPONENT 3.0
#define CPU_ROWS_MAX 512

typedef struct {
    char pattern[48];
    double tdp_w;
    int threads;
    char represents[48]; /* family rows: the part they stand for */
} cpu_row;

static cpu_row cpu_rows[CPU_ROWS_MAX];
static int cpu_row_count;
static pthread_once_t cpu_rows_once = PTHREAD_ONCE_INIT;

/* Rows "pattern,tdp_w,threads,represents" of the compiled-in CSV. */
static void load_cpu_rows(void)
{
    int header_seen = 0;
    for (const char *line = cpu_tdp_csv; *line && cpu_row_count < CPU_ROWS_MAX;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[160];
        if (len < sizeof buf && line[0] != '#' && len > 0) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            cpu_row *r = &cpu_rows[cpu_row_count];
            memset(r, 0, sizeof *r);
            if (!header_seen)
                header_seen = 1; /* the column names */
            else if (sscanf(buf, "%47[^,],%lf,%d,%47[^\n]", r->pattern, &r->tdp_w, &r->threads, r->represents) >= 3 &&
                     r->tdp_w > 0 && r->threads > 0)
                cpu_row_count++;
        }
        line += len + (end != NULL);
    }
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+';
}

int cpu_table_lookup(const char *model, double *tdp_w, int *threads, const char **represents)
{
    pthread_once(&cpu_rows_once, load_cpu_rows);
    const cpu_row *best = NULL;
    for (int i = 0; i < cpu_row_count; i++) {
        const cpu_row *row = &cpu_rows[i];
        size_t n = strlen(row->pattern);
        for (const char *at = strstr(model, row->pattern); at; at = strstr(at + 1, row->pattern)) {
            int starts = at == model || !is_word_char(at[-1]) || !is_word_char(row->pattern[0]);
            if (starts && !is_word_char(at[n]) && (!best || n > strlen(best->pattern)))
                best = row;
        }
    }
    if (!best)
        return 0;
    *tdp_w = best->tdp_w;
    *threads = best->threads;
    *represents = best->represents[0] ? best->represents : best->pattern;
    return 1;
}

/* W per busy logical CPU at full load and the sentence that says why. */
static double cpu_w_per_thread(const char *model, int siblings, int cpus, double cpu_tdp_w, char *why, size_t size)
{
    if (cpu_tdp_w > 0) {
        int threads = siblings > 0 ? siblings : cpus > 0 ? cpus : 1;
        snprintf(why, size, "--cpu-tdp %g W / %d logical CPUs per package", cpu_tdp_w, threads);
        return cpu_tdp_w / threads;
    }
    double tdp;
    int threads;
    const char *part;
    if (!cpu_table_lookup(model, &tdp, &threads, &part)) {
        snprintf(why, size, "CPU '%s' is not in the TDP table: %g W per logical CPU assumed; pass --cpu-tdp W",
                 model, UNKNOWN_W_PER_CPU);
        return UNKNOWN_W_PER_CPU;
    }
    snprintf(why, size, "'%s' taken as %s: %g W / %d threads", model, part, tdp, threads);
    return tdp / threads;
}

gt_status power_model_for(const char *proc_root, const gt_measure_options *o, power_model *pm, gt_error *err)
{
    memset(pm, 0, sizeof *pm);
    char model[256];
    int siblings, cpus;
    procfs_cpuinfo(proc_root, model, sizeof model, &siblings, &cpus);
    pm->cpus = cpus > 0 ? cpus : 1;
    pm->exponent = LOAD_EXPONENT;
    pm->dram_w_per_gb = DRAM_W_PER_GB;
    char path[512];
    gt_calibration cal;
    if (o->calibration && o->calibration[0])
        snprintf(path, sizeof path, "%s", o->calibration);
    else if (!o->calibration)
        gt_calibration_default_path(path, sizeof path);
    else
        path[0] = '\0';
    char why[320];
    int calibrated = o->cpu_tdp_w <= 0 && path[0] && calibration_load(path, model, &cal);
    if (calibrated) {
        double scale = (double)pm->cpus / cal.cpus; /* the same CPU model, maybe another vCPU count */
        pm->max_w = cal.max_w * scale;
        pm->idle_w = cal.idle_w * scale;
        pm->exponent = cal.exponent;
        if (cal.dram_w_per_gb > 0)
            pm->dram_w_per_gb = cal.dram_w_per_gb;
        snprintf(why, sizeof why, "calibrated against %s on %d CPUs (%s), fit error %.2g W", cal.meter, cal.cpus,
                 path, cal.rmse_w);
    } else {
        pm->max_w = cpu_w_per_thread(model, siblings, cpus, o->cpu_tdp_w, why, sizeof why) * pm->cpus;
        pm->idle_w = IDLE_SHARE * pm->max_w;
    }
    if (o->idle_w > 0) {
        if (o->idle_w >= pm->max_w)
            return gt_error_set(err, GT_ERR_INVALID,
                                "--idle-watts %g: not below the CPUs' full-load power %.3g W (%s); lower it or raise "
                                "--cpu-tdp", o->idle_w, pm->max_w, why);
        pm->idle_w = o->idle_w;
    }
    snprintf(pm->why, sizeof pm->why, "%s%s", why, o->idle_w > 0 ? "; idle from --idle-watts" : "");
    return GT_OK;
}

double power_model_cpu_w(const power_model *pm, double load)
{
    double u = load < 0 ? 0 : load > 1 ? 1 : load;
    return pm->idle_w + (pm->max_w - pm->idle_w) * pow(u, pm->exponent);
}

typedef struct {
    backend base;
    char root[256];
    power_model model;
    trail busy;
    double t_last, mem_last_gb;
    double cpu_j, dram_j;
} estimate_meter;

static gt_status estimate_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    estimate_meter *e = (estimate_meter *)b;
    proc_machine m;
    gt_status s = procfs_machine(e->root, &m, err);
    if (s != GT_OK)
        return s;
    if (now_s > e->t_last) {
        double v[TRAIL_VALUES] = {m.busy_s, 0}, dt, dv[TRAIL_VALUES];
        trail_push(&e->busy, now_s, v, LOAD_WINDOW_S, &dt, dv);
        double load = dt > 0 ? dv[0] / (dt * e->model.cpus) : 0;
        e->cpu_j += power_model_cpu_w(&e->model, load) * (now_s - e->t_last);
        e->dram_j += e->model.dram_w_per_gb * 0.5 * (m.mem_used_gb + e->mem_last_gb) * (now_s - e->t_last);
        e->t_last = now_s;
    }
    e->mem_last_gb = m.mem_used_gb;
    joules[GT_CPU] = e->cpu_j;
    joules[GT_DRAM] = e->dram_j;
    joules[GT_GPU] = 0;
    return GT_OK;
}

static void estimate_close(backend *b) { free(b); }

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
    proc_machine m;
    gt_status s = power_model_for(e->root, o, &e->model, err);
    if (s == GT_OK)
        s = procfs_machine(e->root, &m, err);
    if (s != GT_OK) {
        free(e);
        return s;
    }
    double v[TRAIL_VALUES] = {m.busy_s, 0}, dt, dv[TRAIL_VALUES];
    trail_push(&e->busy, now_s, v, LOAD_WINDOW_S, &dt, dv);
    e->t_last = now_s;
    e->mem_last_gb = m.mem_used_gb;
    const power_model *pm = &e->model;
    snprintf(e->base.description, sizeof e->base.description,
             "estimate for the whole machine: CPUs %.3g W idle to %.3g W at full load (x load^%.3g; %s) + %.3g W per "
             "GB of memory in use",
             pm->idle_w, pm->max_w, pm->exponent, pm->why, pm->dram_w_per_gb);
    *out = &e->base;
    return GT_OK;
}

void estimate_machine_info(char *cpu_model, size_t model_size, int *cpu_count, double *ram_total_gb)
{
    const char *root = energy_proc_root();
    int siblings;
    procfs_cpuinfo(root, cpu_model, model_size, &siblings, cpu_count);
    double available;
    if (procfs_meminfo(root, ram_total_gb, &available, NULL) != GT_OK)
        *ram_total_gb = 0;
}
