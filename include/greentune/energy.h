/* greentune/energy.h — the energy of a program, a command, or its stages.
 *
 * A meter reads cumulative joules per component (CPU, DRAM, GPU) from the best
 * source the machine has: RAPL (powercap), the perf "power" PMU, NVML, or, where
 * no counter exists, a documented estimate (docs/energy-model.md). A measurement
 * runs one meter over a window, samples it in a background thread (power trace,
 * counter wraparound), and splits the window into named tasks:
 *
 *   gt_measure_options o;
 *   gt_measure_options_init(&o);                 // meter "auto", 100 ms sampling
 *   gt_measurement *m;
 *   if (gt_measurement_start(&o, &m, &err) != GT_OK) ...
 *   gt_measurement_task_start(m, "train", &err); ... gt_measurement_task_stop(m, "train", &err);
 *   gt_energy_result r;
 *   gt_measurement_finish(m, &r, &err);          // frees m
 *   cJSON *json = gt_energy_result_to_json(&r, &carbon);
 *   gt_energy_result_free(&r);
 *
 * Every result names its meter and says whether it is estimated; keep both
 * next to every number you show. Environment: GREENTUNE_SYSFS_ROOT (default
 * /sys), GREENTUNE_PROC_ROOT (default /proc), GREENTUNE_NVML_LIB (default
 * libnvidia-ml.so.1) relocate what the meters read, for tests. */
#ifndef GREENTUNE_ENERGY_H
#define GREENTUNE_ENERGY_H

#include <stdio.h>

#include "greentune/common.h"

struct cJSON;

typedef enum { GT_CPU = 0, GT_DRAM = 1, GT_GPU = 2, GT_COMPONENTS = 3 } gt_component;

/* Whose energy an estimate attributes. Real counters always see the machine. */
typedef enum { GT_SCOPE_MACHINE = 0, GT_SCOPE_PROCESS = 1 } gt_scope;

typedef struct {
    const char *meter;  /* "auto" (or NULL), "rapl", "perf", "nvml", "estimate", or a '+' list: "rapl+nvml" */
    gt_scope scope;     /* estimate: the machine, or the process tree rooted at pid */
    int pid;            /* GT_SCOPE_PROCESS: root of the tree; 0 = this process */
    double cpu_tdp_w;   /* estimate: TDP of one CPU package as this machine sees it; 0 = from the table */
    int interval_ms;    /* measurement: sampler period; 0 = no sampler thread */
    int keep_trace;     /* measurement: keep every sample (gt_energy_trace_csv) */
} gt_measure_options;

/* Defaults: meter "auto", scope process (this process), sampling every 100 ms. */
GT_API void gt_measure_options_init(gt_measure_options *o);

/* --- meters: cumulative joules since open ---------------------------------- */
typedef struct gt_meter gt_meter;

/* Checks a meter spec ("auto", "rapl+nvml", ...) without opening anything. */
GT_API gt_status gt_meter_spec_check(const char *spec, gt_error *err);
GT_API gt_status gt_meter_open(const gt_measure_options *o, gt_meter **meter, gt_error *err);
GT_API gt_status gt_meter_read(gt_meter *meter, double joules[GT_COMPONENTS], gt_error *err);
GT_API const char *gt_meter_name(const gt_meter *meter);        /* "rapl", "estimate+nvml" */
GT_API int gt_meter_is_estimate(const gt_meter *meter);         /* any component estimated */
GT_API const char *gt_meter_source(const gt_meter *meter, gt_component c); /* "" = not measured */
GT_API const char *gt_meter_describe(const gt_meter *meter);    /* one line for people */
GT_API int gt_meter_note_count(const gt_meter *meter);          /* why better meters were skipped */
GT_API const char *gt_meter_note(const gt_meter *meter, int i);
GT_API void gt_meter_close(gt_meter *meter);

/* --- results ---------------------------------------------------------------- */
#define GT_TASK_NAME_MAX 63
#define GT_METER_NAME_MAX 47

typedef struct {
    double joules[GT_COMPONENTS];
    double energy_j; /* sum of joules */
    double duration_s;
} gt_energy_window;

typedef struct {
    char name[GT_TASK_NAME_MAX + 1];
    gt_energy_window window; /* summed over every run of the task */
    int runs;                /* completed start/stop pairs */
    int open_at_finish;      /* still running at finish; closed there */
    int incomplete;          /* the meter failed at one of its boundaries: the energy counts
                                only up to the meter's last good reading (a lower bound) */
} gt_task_result;

typedef struct {
    double t_s;                    /* since the start */
    double joules[GT_COMPONENTS];  /* cumulative since the start */
} gt_energy_sample;

typedef struct {
    char meter[GT_METER_NAME_MAX + 1];
    int estimated;
    gt_scope scope;
    char sources[GT_COMPONENTS][16]; /* meter of each component; "" = not measured */
    char description[512];
    gt_energy_window total;
    double avg_power_w;  /* energy / duration */
    double peak_power_w; /* highest power between two samples; 0 without samples */
    int interval_ms;
    long sample_count;
    double sampler_cpu_s; /* CPU time the sampler thread itself used */
    gt_task_result *tasks; /* in order of first start */
    int task_count;
    gt_energy_sample *trace; /* with keep_trace */
    long trace_count;
    char **notes; /* warnings: skipped meters, late samples, tasks closed at finish */
    int note_count;
    int incomplete; /* the meter failed before the end (a counter file vanished, NVML lost):
                       total.energy_j stops at its last good reading (a lower bound);
                       the duration is the real one. Tasks say the same for themselves. */
    /* the machine, for exports */
    char cpu_model[128];
    int cpu_count;
    double ram_total_gb;
    int gpu_count;
    char gpu_model[128];
} gt_energy_result;

GT_API void gt_energy_result_free(gt_energy_result *r);

/* --- measurements and tasks -------------------------------------------------- */
typedef struct gt_measurement gt_measurement;

GT_API gt_status gt_measurement_start(const gt_measure_options *o, gt_measurement **m, gt_error *err);
/* Tasks are named windows (names: 1..63 of [A-Za-z0-9_.:/+-]); a task may run
 * many times, and different tasks may overlap. Counters are read exactly at
 * each boundary, so task energies do not depend on the sampling rate. */
GT_API gt_status gt_measurement_task_start(gt_measurement *m, const char *name, gt_error *err);
GT_API gt_status gt_measurement_task_stop(gt_measurement *m, const char *name, gt_error *err);
/* Ends the measurement and frees m, whether or not it succeeds. */
GT_API gt_status gt_measurement_finish(gt_measurement *m, gt_energy_result *r, gt_error *err);
GT_API void gt_measurement_abort(gt_measurement *m);

/* Measures for `seconds` with nothing to attribute to: machine scope whatever
 * o->scope says. r->avg_power_w is the idle power. */
GT_API gt_status gt_measure_idle(const gt_measure_options *o, double seconds, gt_energy_result *r, gt_error *err);

/* --- a command, measured ---------------------------------------------------------- */
/* Runs argv (execvp: never a shell) under a measurement. The command gets
 *   GREENTUNE_CONTROL  a FIFO: lines "start NAME" / "stop NAME" mark tasks
 *   GREENTUNE_METRICS  a file it may fill with a JSON object (-> metrics)
 * While it runs, SIGINT/SIGTERM/SIGHUP sent to this process are forwarded to it
 * (a terminal's Ctrl-C already reaches both), so install no handlers of your own
 * for those meanwhile; one command at a time per process. */
typedef struct {
    char *const *argv;
    gt_measure_options measure; /* with scope process, pid is set to the command's */
    /* Called as each control-channel warning occurs (may be NULL). */
    void (*on_warning)(void *ctx, const char *line);
    void *ctx;
} gt_command_options;

typedef struct {
    int exit_code;          /* the command's, or 128+signal when killed */
    int term_signal;        /* the signal that killed it, or 0 */
    int forwarded_signal;   /* the last signal we forwarded to it, or 0 */
    struct cJSON *metrics;  /* the object from GREENTUNE_METRICS, or NULL */
    char **warnings;        /* malformed control lines etc., each kind once */
    int warning_count;
    gt_energy_result energy;
} gt_command_result;

/* GT_OK once the command has run, whatever its exit code. When it cannot be
 * started, r->exit_code is 127 (not found) or 126 (not executable) and err
 * says why. */
GT_API gt_status gt_measure_command(const gt_command_options *o, gt_command_result *r, gt_error *err);
GT_API void gt_command_result_free(gt_command_result *r);

/* --- carbon -------------------------------------------------------------------- */
typedef struct {
    double g_per_kwh;  /* grid carbon intensity, g CO2e per kWh */
    double pue;        /* data-centre power usage effectiveness, >= 1 */
    char country[4];   /* ISO 3166-1 alpha-3, "" when not a national figure */
    char country_name[64];
    char source[160];
    int year;          /* of the intensity figure; 0 when given by the user */
} gt_carbon;

/* country (ISO3, any case) or NULL for the world average; g_per_kwh >= 0
 * overrides the table. */
GT_API gt_status gt_carbon_resolve(const char *country, double g_per_kwh, double pue, gt_carbon *c, gt_error *err);
GT_API double gt_carbon_grams(const gt_carbon *c, double joules);

/* --- exports ------------------------------------------------------------------ */
/* The `greentune measure --json` object without the command-specific keys:
 * meter, estimated, scope, duration_s, energy_j, components, sources,
 * avg_power_w, peak_power_w, emissions_g, carbon_intensity_g_per_kwh, pue,
 * tasks, notes. carbon may be NULL. NULL when out of memory. */
GT_API struct cJSON *gt_energy_result_to_json(const gt_energy_result *r, const gt_carbon *carbon);

/* CodeCarbon-compatible emissions.csv: its column names and order, then ours. */
typedef struct {
    const char *timestamp;    /* ISO 8601 */
    const char *run_id;
    const char *project_name;
    const char *command;      /* greentune column; may be NULL */
    int exit_code;
} gt_csv_run;

GT_API const char *gt_energy_csv_header(void); /* ends with '\n' */
GT_API char *gt_energy_csv_row(const gt_energy_result *r, const gt_carbon *c, const gt_csv_run *run); /* malloc'd */
/* The power trace: t_s,cpu_j,dram_j,gpu_j,power_w,meter,estimated. */
GT_API gt_status gt_energy_trace_csv(const gt_energy_result *r, FILE *out, gt_error *err);

#endif
