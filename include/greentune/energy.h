/* greentune/energy.h — the energy of a program, a command, or its stages.
 *
 * A meter reads cumulative joules per component (CPU, DRAM, GPU) from the best
 * source the machine has: RAPL (powercap), the perf "power" PMU, NVML, AMD SMI /
 * ROCm SMI, a host-provided file, or, where no counter exists, a documented
 * estimate (docs/energy-model.md). A measurement
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
 * next to every number you show. The headline figures are the whole
 * machine's; with scope "process" the measured process tree's share is
 * reported beside them (r.process), never instead of them. Tasks may nest
 * (r.tasks[i].parent), report progress (a forecast of their energy, time and
 * emissions), and call a synchronisation hook at each boundary.
 *
 * Environment: GREENTUNE_SYSFS_ROOT (default /sys), GREENTUNE_PROC_ROOT
 * (default /proc), GREENTUNE_NVML_LIB (default libnvidia-ml.so.1),
 * GREENTUNE_AMDSMI_LIB / GREENTUNE_ROCM_SMI_LIB (AMD GPUs), and
 * GREENTUNE_CALIBRATION (the estimate's calibration file) relocate what the
 * meters read, for tests. */
#ifndef GREENTUNE_ENERGY_H
#define GREENTUNE_ENERGY_H

#include <stdio.h>

#include "greentune/common.h"

struct cJSON;

typedef enum { GT_CPU = 0, GT_DRAM = 1, GT_GPU = 2, GT_COMPONENTS = 3 } gt_component;

/* Meters always measure the whole machine. GT_SCOPE_PROCESS adds the share of
 * it that belongs to the process tree rooted at pid (r.process). */
typedef enum { GT_SCOPE_MACHINE = 0, GT_SCOPE_PROCESS = 1 } gt_scope;

#define GT_TASK_NAME_MAX 63
#define GT_METER_NAME_MAX 47

/* A prediction of a task's (and the whole run's) totals from its progress. */
typedef struct {
    char task[GT_TASK_NAME_MAX + 1];
    double fraction;        /* progress of the task's current run when made, (0, 1] */
    double at_s;            /* since the measurement started */
    double elapsed_s;       /* the task so far (all its runs) */
    double energy_j;
    double task_energy_j;   /* predicted totals of the task */
    double task_duration_s;
    double run_energy_j;    /* predicted totals of the measurement: what it has used so far plus the
                               predicted rest of every top-level task with progress */
    double run_duration_s;
    int estimated;
    int has_error;          /* set at finish for a kept forecast of a task that ended: */
    double energy_error_pct;   /* (predicted - measured) / measured x 100 */
    double duration_error_pct;
} gt_forecast;

typedef struct {
    const char *meter;  /* "auto" (or NULL), "rapl", "perf", "nvml", "rocm", "estimate", "file:PATH",
                           or a '+' list: "rapl+nvml" (file:PATH goes last) */
    gt_scope scope;     /* process: also attribute the tree rooted at pid its share */
    int pid;            /* GT_SCOPE_PROCESS: root of the tree; 0 = this process */
    double cpu_tdp_w;   /* estimate: TDP of one CPU package as this machine sees it; 0 = from the table */
    int interval_ms;    /* measurement: sampler period; 0 = no sampler thread */
    int keep_trace;     /* measurement: keep every sample (gt_energy_trace_csv) */
    /* --- since the second step; gt_measure_options_init sets them all --- */
    double idle_w;          /* estimate: the CPUs' power at zero load, whole machine; 0 = calibrated or 10 %
                               of full load */
    const char *calibration; /* estimate: calibration file; NULL = $GREENTUNE_CALIBRATION or
                                ~/.config/greentune/calibration.json; "" = none */
    double forecast_at;     /* keep each task's forecast when its progress first reaches this (0.1) */
    /* Called at every task boundary and progress report before the counters
     * are read (cudaDeviceSynchronize, torch.cuda.synchronize), so queued GPU
     * work lands in the task that queued it. Not called by the sampler. */
    void (*sync)(void *ctx);
    void *sync_ctx;
    /* Called with each new forecast, from the thread that reported progress. */
    void (*on_forecast)(void *ctx, const gt_forecast *f);
    void *forecast_ctx;
    /* Seconds on a monotonic clock; NULL = CLOCK_MONOTONIC (tests inject a fake). */
    double (*clock)(void *ctx);
    void *clock_ctx;
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
    /* --- since the second step --- */
    char parent[GT_TASK_NAME_MAX + 1]; /* the innermost task running when this one first started, as long
                                          as every run stayed inside a run of it; "" = top level */
    gt_energy_window process; /* the measured process tree's share (with r.process.attributed) */
    int running;             /* snapshots: running now; window includes the current run so far */
    double progress;         /* last progress of the current or last run; -1 = never reported */
    int has_forecast;        /* forecast: kept when progress first reached forecast_at */
    gt_forecast forecast;
    int incomplete;          /* the meter failed at one of its boundaries: the energy (and the process
                                share) counts only up to the meter's last good reading (a lower bound) */
} gt_task_result;

/* The measured process tree's share of the machine's energy. */
typedef struct {
    int attributed;                 /* 0 with scope machine */
    int pid;                        /* root of the tree */
    gt_energy_window window;        /* its share of r.total */
    char method[GT_COMPONENTS][96]; /* how each component was shared; "" = not attributed */
} gt_process_share;

/* Idle power measured before (or between) runs; see gt_energy_result_set_idle. */
typedef struct {
    int measured;
    double power_w;                   /* mean, all components */
    double component_w[GT_COMPONENTS];
    double duration_s;
    char meter[GT_METER_NAME_MAX + 1];
    int estimated;
    int subtract;                     /* summaries and the CSV show energy above idle */
} gt_idle_baseline;

/* Temperatures in degrees Celsius: the hottest CPU and GPU sensor (NAN: none). */
typedef struct {
    double cpu_c, gpu_c;
    int cpu_sensors, gpu_sensors;
} gt_temperatures;

/* What a thermal gate (gt_thermal_wait) did before the run. */
typedef struct {
    int checked;
    double band_c;
    gt_temperatures idle, start, end;
    double waited_s;
    int timed_out;
} gt_thermal_report;

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
    /* the machine, for exports */
    char cpu_model[128];
    int cpu_count;
    double ram_total_gb;
    int gpu_count;
    char gpu_model[128];
    /* --- since the second step --- */
    gt_process_share process;
    gt_idle_baseline idle;
    gt_thermal_report thermal;
    double power_w[GT_COMPONENTS]; /* snapshots: mean power over the last sampling interval */
    int incomplete; /* the meter failed at the end, or for a snapshot now (a counter file vanished, NVML
                       lost): total.energy_j and the process share stop at its last good reading (a
                       lower bound); the duration is the real one. Tasks say the same for themselves. */
} gt_energy_result;

GT_API void gt_energy_result_free(gt_energy_result *r);

/* --- measurements and tasks -------------------------------------------------- */
typedef struct gt_measurement gt_measurement;

GT_API gt_status gt_measurement_start(const gt_measure_options *o, gt_measurement **m, gt_error *err);
/* Tasks are named windows (names: 1..63 of [A-Za-z0-9_.:/+-]); a task may run
 * many times, tasks may nest (a task started while others run is a child of
 * the innermost) and overlap. Counters are read exactly at each boundary, so
 * task energies do not depend on the sampling rate. */
GT_API gt_status gt_measurement_task_start(gt_measurement *m, const char *name, gt_error *err);
GT_API gt_status gt_measurement_task_stop(gt_measurement *m, const char *name, gt_error *err);
/* The hook options.sync names, set (or cleared) after the start. */
GT_API void gt_measurement_set_sync(gt_measurement *m, void (*sync)(void *ctx), void *ctx);
/* Progress of a running task's current run: fraction of its work done, in
 * [0, 1] (0 marks the end of a warm-up: the forecast extrapolates from the
 * first report on). From fraction > 0 on, f (may be NULL) gets the forecast. */
GT_API gt_status gt_measurement_progress(gt_measurement *m, const char *task, double fraction, gt_forecast *f,
                                         gt_error *err);
/* One control-channel line: "start NAME", "stop NAME", "progress NAME F". */
GT_API gt_status gt_measurement_control(gt_measurement *m, const char *line, gt_error *err);
/* The result so far, without ending anything (running tasks included up to
 * now, with running = 1); free it with gt_energy_result_free. */
GT_API gt_status gt_measurement_snapshot(gt_measurement *m, gt_energy_result *r, gt_error *err);
/* Ends the measurement and frees m, whether or not it succeeds. */
GT_API gt_status gt_measurement_finish(gt_measurement *m, gt_energy_result *r, gt_error *err);
GT_API void gt_measurement_abort(gt_measurement *m);

/* Measures for `seconds` with nothing to attribute to: machine scope whatever
 * o->scope says. r->avg_power_w is the idle power. */
GT_API gt_status gt_measure_idle(const gt_measure_options *o, double seconds, gt_energy_result *r, gt_error *err);
/* Records idle (a gt_measure_idle result) in r: the JSON then has idle_w and
 * energy_above_idle_j, for the total and every task; subtract makes the
 * summary and the CSV use energy above idle. */
GT_API void gt_energy_result_set_idle(gt_energy_result *r, const gt_energy_result *idle, int subtract);

/* --- a control channel: a FIFO whose lines drive a measurement -------------- */
typedef struct gt_control gt_control;

/* Creates the FIFO at path (mode 0600; it must not exist). Malformed lines
 * are reported through on_warning, the first of each kind once. */
GT_API gt_status gt_control_open(gt_measurement *m, const char *path, void (*on_warning)(void *ctx, const char *line),
                                 void *ctx, gt_control **c, gt_error *err);
GT_API int gt_control_fd(const gt_control *c); /* poll for POLLIN, then drain */
GT_API void gt_control_drain(gt_control *c);
/* Applies a last unterminated line, reports the count of ignored lines,
 * removes the FIFO. */
GT_API void gt_control_close(gt_control *c);

/* --- thermal gate ----------------------------------------------------------------- */
/* CPU sensors: hwmon coretemp, k10temp, zenpower, cpu_thermal under the sysfs
 * root; GPU: hwmon amdgpu and NVML. */
GT_API void gt_temperatures_read(gt_temperatures *t);

typedef struct {
    double band_c;        /* wait until every group is at most idle + band */
    double timeout_s;     /* then go on anyway, with timed_out set */
    int poll_ms;          /* default 1000 */
    gt_temperatures idle; /* the reference; a NAN group is not waited for */
    double (*clock)(void *ctx); /* NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
    void (*sleep)(void *ctx, double seconds); /* NULL = nanosleep */
} gt_thermal_options;

/* Fails (GT_ERR_UNSUPPORTED) only when no sensor of a reference group exists. */
GT_API gt_status gt_thermal_wait(const gt_thermal_options *o, gt_thermal_report *r, gt_error *err);

/* --- calibration of the estimate ----------------------------------------------- */
/* The estimate's CPU curve P(u) = idle + (max - idle) x u^exponent, u the
 * machine's CPU load in [0, 1], fitted to a real counter over a load sweep. */
#define GT_CALIBRATION_POINTS_MAX 32
typedef struct {
    char cpu_model[128];
    int cpus;                 /* logical CPUs the sweep loaded */
    char meter[GT_METER_NAME_MAX + 1];
    double idle_w, max_w, exponent;
    double dram_w_per_gb;     /* 0 when the counter has no DRAM zone */
    double rmse_w, max_error_pct;
    int points;
    double load[GT_CALIBRATION_POINTS_MAX], watts[GT_CALIBRATION_POINTS_MAX];
} gt_calibration;

typedef struct {
    const char *meter;        /* must give CPU from a real counter: "auto" (NULL), "rapl", "perf" */
    double seconds;           /* per load level (default 2) */
    int levels;               /* load levels from 0 to 1 (default 6) */
    void (*on_point)(void *ctx, double load, double watts); /* progress; may be NULL */
    void *ctx;
} gt_calibrate_options;

GT_API gt_status gt_calibrate(const gt_calibrate_options *o, gt_calibration *c, gt_error *err);
/* Least-squares fit of the curve to points (c->load, c->watts, c->points). */
GT_API gt_status gt_calibration_fit(gt_calibration *c, gt_error *err);
/* The calibration file's new text: existing (NULL or "" for a new file) with
 * this CPU model's entry added or replaced. malloc'd; write it atomically to
 * gt_calibration_default_path's file for the estimate to use it. */
GT_API char *gt_calibration_update_json(const char *existing, const gt_calibration *c, gt_error *err);
/* The default file: $GREENTUNE_CALIBRATION, else ~/.config/greentune/calibration.json. */
GT_API void gt_calibration_default_path(char *buf, size_t size);

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

/* The Prometheus text exposition format (version 0.0.4) of a snapshot:
 * greentune_energy_joules_total{component}, greentune_power_watts{component},
 * per-task counters, the process share. malloc'd; NULL when out of memory. */
GT_API char *gt_energy_prometheus(const gt_energy_result *r, const gt_carbon *carbon);

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
