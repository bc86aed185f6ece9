/* Inside the energy library: the interface every meter backend implements,
 * and small helpers for the files they read.
 *
 * A backend reports cumulative joules per component since it was opened; it
 * hides its own counter widths and wraparound. Reads are serialized by the
 * caller (gt_meter holds a lock), so a backend keeps no locks of its own. */
#ifndef GREENTUNE_ENERGY_INTERNAL_H
#define GREENTUNE_ENERGY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/energy.h"

#define COMPONENT_BIT(c) (1u << (c))

typedef struct backend backend;
struct backend {
    const char *name;      /* "rapl", "perf", "nvml", "estimate" */
    int is_estimate;
    unsigned components;   /* COMPONENT_BIT()s this backend measures */
    char description[384]; /* what it reads, for people */
    int gpu_count;         /* nvml: for exports */
    char gpu_model[128];
    /* now_s: CLOCK_MONOTONIC seconds of this read (backends that integrate
     * power over time need it; tests pass their own clock). */
    gt_status (*read)(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err);
    void (*close)(backend *b);
    /* Optional (GPUs): *joules = the part of what the reads since the last
     * call added that belongs to the processes in pids; method says how it
     * was shared. */
    void (*attribute)(backend *b, const int *pids, int count, double *joules, char *method, size_t size);
};

gt_status rapl_open(backend **out, gt_error *err);
gt_status perf_open(backend **out, gt_error *err);
gt_status nvml_open(double now_s, backend **out, gt_error *err);
gt_status rocm_open(double now_s, backend **out, gt_error *err);
/* The hottest GPU an NVML backend sees; *sensors = 0 when none reports. */
gt_status nvml_temperature(backend *b, double *max_c, int *sensors);
gt_status file_meter_open(const char *path, double now_s, backend **out, gt_error *err);
gt_status estimate_open(const gt_measure_options *o, double now_s, backend **out, gt_error *err);

/* Machine facts for exports, from <proc>/cpuinfo and <proc>/meminfo. */
void estimate_machine_info(char *cpu_model, size_t model_size, int *cpu_count, double *ram_total_gb);

/* --- estimate.c: the CPU power model ------------------------------------------- */
/* P(u) = idle_w + (max_w - idle_w) x u^exponent for the machine's CPUs at load
 * u in [0, 1], plus dram_w_per_gb x GB in use. */
typedef struct {
    double max_w, idle_w, exponent, dram_w_per_gb;
    int cpus;
    char why[320]; /* where the constants come from, for people */
} power_model;

/* The model for the machine /proc describes, from the options, else this CPU's
 * calibration, else the CPU table. */
gt_status power_model_for(const char *proc_root, const gt_measure_options *o, power_model *pm, gt_error *err);
double power_model_cpu_w(const power_model *pm, double load);
/* TDP and threads of a "model name" from the table; 0 when unknown. */
int cpu_table_lookup(const char *model, double *tdp_w, int *threads, const char **represents);

/* --- calibration.c ---------------------------------------------------------------- */
/* This CPU's entry of the calibration file, if there is one. */
int calibration_load(const char *path, const char *cpu_model, gt_calibration *c);

/* --- procfs.c: CPU time and memory ------------------------------------------------ */
#define PROC_TREE_MAX 4096

typedef struct {
    double busy_s;      /* user+nice+system+irq+softirq of every CPU */
    double mem_used_gb; /* MemTotal - MemAvailable */
} proc_machine;

double procfs_clk_tck(void);
gt_status procfs_machine(const char *root, proc_machine *m, gt_error *err);
gt_status procfs_meminfo(const char *root, double *total_gb, double *available_gb, gt_error *err);
/* The first "model name" (or "cpu model"), "siblings" and the CPU count. */
void procfs_cpuinfo(const char *root, char *model, size_t model_size, int *siblings, int *cpus);

typedef struct proc_tree proc_tree;
proc_tree *proc_tree_new(const char *root, int pid); /* pid 0: this process; NULL when out of memory */
/* CPU seconds (reaped children included) and resident GB of the tree now. */
void proc_tree_usage(proc_tree *t, double *cpu_s, double *mem_gb);
const int *proc_tree_pids(const proc_tree *t, int *count); /* live pids of the last walk */
int proc_tree_root_pid(const proc_tree *t);
int proc_tree_lacks_children_files(const proc_tree *t);
void proc_tree_free(proc_tree *t);

/* Rates over a trailing window: a counter read at short intervals moves in
 * clock ticks (10 ms), so its rate over one short interval is mostly
 * quantisation noise; over at least min_s it is not. */
#define TRAIL_POINTS 256
#define TRAIL_VALUES 2
typedef struct {
    double t[TRAIL_POINTS];
    double v[TRAIL_POINTS][TRAIL_VALUES];
    int head, count;
} trail;
/* Adds the point (t, v) and gives the change since the newest earlier point
 * at least min_s before t (else the oldest; dt = 0 for the first point). */
void trail_push(trail *w, double t, const double v[TRAIL_VALUES], double min_s, double *dt, double dv[TRAIL_VALUES]);
#define LOAD_WINDOW_S 0.5

/* --- attribute.c: a process tree's share of the machine's energy ------------------ */
typedef struct attribution attribution;
gt_status attribution_open(const char *proc_root, int pid, double now_s, attribution **out, gt_error *err);
/* After a read that added delta[] joules: adds the tree's share to process_j[],
 * asking GPU backends (attribute) for theirs. */
void attribution_update(attribution *a, double now_s, const double delta[GT_COMPONENTS], backend *const *backends,
                        int count, double process_j[GT_COMPONENTS]);
const char *attribution_method(const attribution *a, gt_component c);
int attribution_pid(const attribution *a);
void attribution_close(attribution *a);

/* --- forecast.c: extrapolating a task's run from its progress ------------------ */
typedef struct {
    int reports;
    double f0, e0, t0;  /* the first report: extrapolation starts there */
    int predicted;
    double run_energy_j, run_duration_s; /* predicted totals of the run */
} run_progress;

/* Adds a report (fraction done, the run's energy and time so far); returns 1
 * when it makes a prediction (fraction > 0). */
int forecast_update(run_progress *p, double fraction, double energy_j, double time_s);
/* The error of a kept forecast against what the task measured in the end. */
void forecast_score(gt_forecast *f, const gt_energy_window *actual);

/* --- meter.c: the lock-holding read the sampler and task boundaries share --- */
/* Reads every backend under the meter's lock; *now_s is the time of the read. */
gt_status meter_read_timed(gt_meter *m, double *now_s, double joules[GT_COMPONENTS], gt_error *err);
/* The same, with the process tree's cumulative share (zeros when the meter
 * does not attribute). */
gt_status meter_read_all(gt_meter *m, double *now_s, double joules[GT_COMPONENTS], double process_j[GT_COMPONENTS],
                         gt_error *err);
/* The last reading that succeeded (by anyone: a boundary or the sampler), with
 * the process share as of it (process_j may be NULL); 0 when none has. */
int meter_last_good(gt_meter *m, double *t, double joules[GT_COMPONENTS], double process_j[GT_COMPONENTS]);
void meter_gpu_info(const gt_meter *m, int *count, char *model, size_t size);
double meter_now(const gt_meter *m); /* the meter's clock (options.clock or CLOCK_MONOTONIC) */
/* With scope process: the tree's pid and how each component is shared. */
int meter_process(const gt_meter *m, int *pid, char method[GT_COMPONENTS][96]);

/* --- sampler.c: the background thread ------------------------------------------ */
typedef struct sampler sampler;
typedef struct {
    long samples;            /* readings taken by the thread */
    long late;               /* ticks that came more than one interval late */
    double peak_w;           /* highest power between consecutive points */
    double cpu_s;            /* the thread's own CPU time */
    gt_energy_sample *trace; /* owned by the caller after sampler_stop */
    long trace_count;
    int errors;
    gt_error first_error;
} sampler_stats;

/* Mean power per component between the sampler's last two points. */
void sampler_power(sampler *s, double w[GT_COMPONENTS]);
/* Starts reading meter every interval_ms; (t0, j0) is the first point. */
gt_status sampler_start(gt_meter *meter, int interval_ms, int keep_trace, double t0, const double j0[GT_COMPONENTS],
                        sampler **out, gt_error *err);
/* Joins the thread, then takes the final reading (t, j, and the process
 * share p, which may be NULL) itself so that it is the last point of the
 * trace, and hands over the figures (also on error). */
gt_status sampler_stop(sampler *s, double *t, double j[GT_COMPONENTS], double p[GT_COMPONENTS], sampler_stats *stats,
                       gt_error *err);

/* --- files.c ---------------------------------------------------------------- */
const char *energy_sysfs_root(void); /* $GREENTUNE_SYSFS_ROOT or /sys */
const char *energy_proc_root(void);  /* $GREENTUNE_PROC_ROOT or /proc */
double energy_now(void);             /* CLOCK_MONOTONIC, seconds */
void energy_sleep(double seconds);   /* the whole time, through signals */

/* Reads a small text file whole (at most size-1 bytes) with a NUL. An error
 * names the file and says why (not found, permission, I/O). */
gt_status energy_read_text(const char *path, char *buf, size_t size, gt_error *err);
/* A decimal unsigned counter, surrounded by optional whitespace, nothing else. */
gt_status energy_parse_u64(const char *path, const char *text, uint64_t *value, gt_error *err);
gt_status energy_read_u64(const char *path, uint64_t *value, gt_error *err);

/* Power samples integrated with the trapezoid rule (GPUs without an energy
 * counter, host meters that give watts): start, then add a sample per read. */
typedef struct {
    double last_w, last_t, joules;
} power_integral;
void power_integral_start(power_integral *p, double now_s, double w);
void power_integral_add(power_integral *p, double now_s, double w);

/* A bounded list of one-line notes (warnings) owned by a meter or result. */
#define ENERGY_NOTES_MAX 32
void energy_note_add(char ***notes, int *count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void energy_notes_free(char **notes, int count);

/* --- carbon.c: the grid-intensity table ------------------------------------------ */
typedef struct {
    char iso3[4];
    char name[64];
    double g_per_kwh;
    int year;
    char source[16];
} energy_grid_row;

/* Finds iso3 in table (the text of grid_intensity.csv; rows are
 * "iso3,country,g_co2e_per_kwh,year,source"); 1 when found. */
int energy_grid_find(const char *table, const char *iso3, energy_grid_row *row);

/* --- control.c: the `start NAME` / `stop NAME` / `progress NAME F` protocol ------ */
#define CONTROL_LINE_MAX 256

typedef enum {
    CONTROL_START,
    CONTROL_STOP,
    CONTROL_PROGRESS,
    CONTROL_EMPTY,    /* blank line: ignored silently */
    CONTROL_BAD_VERB, /* not start/stop/progress */
    CONTROL_BAD_VALUE, /* progress without a fraction in [0, 1] (or 0 % to 100 %) */
    CONTROL_BAD_NAME, /* missing, too long or with characters outside the set */
    CONTROL_BINARY,   /* bytes that are not printable ASCII */
    CONTROL_TOO_LONG, /* more than CONTROL_LINE_MAX bytes before the newline */
    CONTROL_KINDS
} control_kind;

/* Parses one line (without its newline); on START/STOP/PROGRESS copies the
 * name, and the fraction of PROGRESS into *value. */
control_kind control_parse_line(const char *line, size_t len, char name[GT_TASK_NAME_MAX + 1], double *value);
const char *control_kind_text(control_kind k);
/* Task names: 1..GT_TASK_NAME_MAX of [A-Za-z0-9_.:/+-]. */
int energy_task_name_valid(const char *name, size_t len);

/* Splits a byte stream into lines of at most CONTROL_LINE_MAX bytes and hands
 * each non-empty one to handler (line: its first bytes, NUL-terminated). */
typedef void (*control_handler)(void *ctx, control_kind kind, const char *name, double value, const char *line,
                                size_t len);
typedef struct {
    char line[CONTROL_LINE_MAX + 1];
    size_t len;
    int too_long;
} control_reader;
void control_feed(control_reader *r, const char *data, size_t n, control_handler handler, void *ctx);
void control_flush(control_reader *r, control_handler handler, void *ctx); /* a last line without newline */

#endif
