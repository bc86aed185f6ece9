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
};

gt_status rapl_open(backend **out, gt_error *err);
gt_status perf_open(backend **out, gt_error *err);
gt_status nvml_open(double now_s, backend **out, gt_error *err);
gt_status estimate_open(const gt_measure_options *o, double now_s, backend **out, gt_error *err);

/* Machine facts for exports, from <proc>/cpuinfo and <proc>/meminfo. */
void estimate_machine_info(char *cpu_model, size_t model_size, int *cpu_count, double *ram_total_gb);

/* --- meter.c: the lock-holding read the sampler and task boundaries share --- */
/* Reads every backend under the meter's lock; *now_s is the time of the read. */
gt_status meter_read_timed(gt_meter *m, double *now_s, double joules[GT_COMPONENTS], gt_error *err);
/* The last reading that succeeded (by anyone: a boundary or the sampler); 0
 * when none has. */
int meter_last_good(gt_meter *m, double *t, double joules[GT_COMPONENTS]);
void meter_gpu_info(const gt_meter *m, int *count, char *model, size_t size);

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

/* Starts reading meter every interval_ms; (t0, j0) is the first point. */
gt_status sampler_start(gt_meter *meter, int interval_ms, int keep_trace, double t0, const double j0[GT_COMPONENTS],
                        sampler **out, gt_error *err);
/* Joins the thread, then takes the final reading (t, j) itself so that it is
 * the last point of the trace, and hands over the figures (also on error). */
gt_status sampler_stop(sampler *s, double *t, double j[GT_COMPONENTS], sampler_stats *stats, gt_error *err);

/* --- files.c ---------------------------------------------------------------- */
const char *energy_sysfs_root(void); /* $GREENTUNE_SYSFS_ROOT or /sys */
const char *energy_proc_root(void);  /* $GREENTUNE_PROC_ROOT or /proc */
double energy_now(void);             /* CLOCK_MONOTONIC, seconds */

/* Reads a small text file whole (at most size-1 bytes) with a NUL. An error
 * names the file and says why (not found, permission, I/O). */
gt_status energy_read_text(const char *path, char *buf, size_t size, gt_error *err);
/* A decimal unsigned counter, surrounded by optional whitespace, nothing else. */
gt_status energy_parse_u64(const char *path, const char *text, uint64_t *value, gt_error *err);
gt_status energy_read_u64(const char *path, uint64_t *value, gt_error *err);

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

/* --- control.c: the `start NAME` / `stop NAME` line protocol -------------------- */
#define CONTROL_LINE_MAX 256

typedef enum {
    CONTROL_START,
    CONTROL_STOP,
    CONTROL_EMPTY,    /* blank line: ignored silently */
    CONTROL_BAD_VERB, /* not start/stop */
    CONTROL_BAD_NAME, /* missing, too long or with characters outside the set */
    CONTROL_BINARY,   /* bytes that are not printable ASCII */
    CONTROL_TOO_LONG, /* more than CONTROL_LINE_MAX bytes before the newline */
    CONTROL_KINDS
} control_kind;

/* Parses one line (without its newline); on START/STOP copies the name. */
control_kind control_parse_line(const char *line, size_t len, char name[GT_TASK_NAME_MAX + 1]);
const char *control_kind_text(control_kind k);
/* Task names: 1..GT_TASK_NAME_MAX of [A-Za-z0-9_.:/+-]. */
int energy_task_name_valid(const char *name, size_t len);

/* Splits a byte stream into lines of at most CONTROL_LINE_MAX bytes and hands
 * each non-empty one to handler (line: its first bytes, NUL-terminated). */
typedef void (*control_handler)(void *ctx, control_kind kind, const char *name, const char *line, size_t len);
typedef struct {
    char line[CONTROL_LINE_MAX + 1];
    size_t len;
    int too_long;
} control_reader;
void control_feed(control_reader *r, const char *data, size_t n, control_handler handler, void *ctx);
void control_flush(control_reader *r, control_handler handler, void *ctx); /* a last line without newline */

#endif
