/* Calibrating the estimate against a real counter: load every logical CPU to
 * a series of duty cycles (0 % to 100 %), measure the package power at each
 * (RAPL or the perf power PMU) and the load the machine really had
 * (/proc/stat), and fit the estimate's curve
 *
 *   P(u) = idle_w + (max_w - idle_w) x u^exponent
 *
 * by least squares: for each exponent on a grid (0.50 to 5.00 in steps of
 * 0.01) idle_w and max_w are a linear fit, and the exponent with the smallest
 * squared error wins. The result is stored per CPU model (with the logical
 * CPUs it was measured on, so a VM with fewer vCPUs of the same part scales
 * it), and estimate.c uses it on any machine with that model. */
#include "energy/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALIBRATION_BYTES_MAX (1 << 20)
#define DUTY_PERIOD_S 0.01
#define SETTLE_S 0.2

void gt_calibration_default_path(char *buf, size_t size)
{
    const char *env = getenv("GREENTUNE_CALIBRATION");
    const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (env && *env)
        snprintf(buf, size, "%s", env);
    else if (config && *config)
        snprintf(buf, size, "%s/greentune/calibration.json", config);
    else
        snprintf(buf, size, "%s/.config/greentune/calibration.json", home && *home ? home : ".");
}

/* --- the fit -------------------------------------------------------------------- */

gt_status gt_calibration_fit(gt_calibration *c, gt_error *err)
{
    int n = c->points;
    if (n < 3 || n > GT_CALIBRATION_POINTS_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "calibration: %d points; the fit needs 3 to %d", n,
                            GT_CALIBRATION_POINTS_MAX);
    double lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        lo = fmin(lo, c->load[i]);
        hi = fmax(hi, c->load[i]);
    }
    if (hi - lo < 0.3)
        return gt_error_set(err, GT_ERR_INVALID, "calibration: the sweep reached loads %.2f to %.2f only (was the "
                            "machine busy?); calibrate on an otherwise idle machine", lo, hi);
    double best_sse = INFINITY;
    for (int step = 0; step <= 450; step++) {
        double k = 0.5 + 0.01 * step, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int i = 0; i < n; i++) {
            double x = pow(fmax(c->load[i], 0), k);
            sx += x;
            sy += c->watts[i];
            sxx += x * x;
            sxy += x * c->watts[i];
        }
        double den = n * sxx - sx * sx;
        if (fabs(den) < 1e-12)
            continue;
        double b = (n * sxy - sx * sy) / den, a = (sy - b * sx) / n, sse = 0;
        for (int i = 0; i < n; i++) {
            double e = a + b * pow(fmax(c->load[i], 0), k) - c->watts[i];
            sse += e * e;
        }
        if (sse < best_sse) {
            best_sse = sse;
            c->idle_w = a;
            c->max_w = a + b;
            c->exponent = k;
        }
    }
    if (!isfinite(best_sse) || !(c->max_w > c->idle_w) || c->idle_w < 0)
        return gt_error_set(err, GT_ERR_INVALID, "calibration: power did not rise with load (idle %.3g W, full "
                            "load %.3g W); is the counter the CPUs'?", c->idle_w, c->max_w);
    c->rmse_w = sqrt(best_sse / n);
    c->max_error_pct = 0;
    for (int i = 0; i < n; i++) {
        double model = c->idle_w + (c->max_w - c->idle_w) * pow(fmax(c->load[i], 0), c->exponent);
        if (c->watts[i] > 0)
            c->max_error_pct = fmax(c->max_error_pct, fabs(model - c->watts[i]) / c->watts[i] * 100);
    }
    return GT_OK;
}

/* --- the load sweep -------------------------------------------------------------- */

typedef struct {
    atomic_int stop;
    double duty;
} load_plan;

/* Busy for duty of every period, asleep for the rest. */
static void *load_worker(void *arg)
{
    load_plan *p = arg;
    volatile unsigned long spin = 0;
    while (!atomic_load(&p->stop)) {
        double until = energy_now() + p->duty * DUTY_PERIOD_S;
        while (energy_now() < until)
            spin++;
        if (p->duty < 1)
            energy_sleep((1 - p->duty) * DUTY_PERIOD_S);
    }
    return NULL;
}

/* One level: CPU watts, machine load, DRAM watts per GB in use. */
static gt_status measure_level(gt_meter *m, double seconds, int cpus, double *watts, double *load, double *dram_w_gb,
                               gt_error *err)
{
    const char *proc = energy_proc_root();
    double t0, t1, j0[GT_COMPONENTS], j1[GT_COMPONENTS];
    proc_machine a, b;
    gt_status s = meter_read_timed(m, &t0, j0, err);
    if (s == GT_OK)
        s = procfs_machine(proc, &a, err);
    if (s == GT_OK)
        energy_sleep(seconds);
    if (s == GT_OK)
        s = meter_read_timed(m, &t1, j1, err);
    if (s == GT_OK)
        s = procfs_machine(proc, &b, err);
    if (s != GT_OK)
        return s;
    double dt = t1 - t0;
    *watts = (j1[GT_CPU] - j0[GT_CPU]) / dt;
    *load = fmin(1, fmax(0, (b.busy_s - a.busy_s) / (dt * cpus)));
    double gb = 0.5 * (a.mem_used_gb + b.mem_used_gb);
    *dram_w_gb = gb > 0 ? (j1[GT_DRAM] - j0[GT_DRAM]) / dt / gb : 0;
    return GT_OK;
}

static gt_status sweep(const gt_calibrate_options *o, gt_meter *m, gt_calibration *c, gt_error *err)
{
    int levels = o->levels > 0 ? o->levels : 6;
    double seconds = o->seconds > 0 ? o->seconds : 2;
    if (levels < 3 || levels > GT_CALIBRATION_POINTS_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "calibrate: %d load levels; use 3 to %d", levels,
                            GT_CALIBRATION_POINTS_MAX);
    pthread_t *threads = calloc((size_t)c->cpus, sizeof *threads);
    if (!threads)
        return gt_error_set(err, GT_ERR_NOMEM, "calibrate: out of memory");
    gt_status s = GT_OK;
    double dram_sum = 0;
    for (int i = 0; i < levels && s == GT_OK; i++) {
        load_plan plan = {0, (double)i / (levels - 1)};
        int started = 0;
        while (plan.duty > 0 && started < c->cpus && pthread_create(&threads[started], NULL, load_worker, &plan) == 0)
            started++;
        energy_sleep(SETTLE_S);
        double dram = 0;
        s = measure_level(m, seconds, c->cpus, &c->watts[i], &c->load[i], &dram, err);
        atomic_store(&plan.stop, 1);
        for (int k = 0; k < started; k++)
            pthread_join(threads[k], NULL);
        if (s == GT_OK) {
            c->points = i + 1;
            dram_sum += dram;
            if (o->on_point)
                o->on_point(o->ctx, c->load[i], c->watts[i]);
        }
    }
    free(threads);
    if (s == GT_OK && gt_meter_source(m, GT_DRAM)[0])
        c->dram_w_per_gb = dram_sum / levels;
    return s;
}

gt_status gt_calibrate(const gt_calibrate_options *o, gt_calibration *c, gt_error *err)
{
    memset(c, 0, sizeof *c);
    gt_measure_options mo;
    gt_measure_options_init(&mo);
    mo.meter = o->meter ? o->meter : "auto";
    mo.scope = GT_SCOPE_MACHINE;
    mo.interval_ms = 0;
    gt_meter *m;
    gt_status s = gt_meter_open(&mo, &m, err);
    if (s != GT_OK)
        return s;
    const char *cpu = gt_meter_source(m, GT_CPU);
    if (!strcmp(cpu, "estimate") || !cpu[0]) {
        char why[GT_ERROR_MESSAGE_MAX] = "";
        for (int i = 0; i < gt_meter_note_count(m) && i < 2; i++)
            snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s", i ? "; " : "", gt_meter_note(m, i));
        gt_meter_close(m);
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "calibrate: no CPU energy counter on this machine (%s); "
                            "calibration needs RAPL or the perf power PMU", why[0] ? why : "none found");
    }
    int siblings;
    procfs_cpuinfo(energy_proc_root(), c->cpu_model, sizeof c->cpu_model, &siblings, &c->cpus);
    if (c->cpus < 1)
        c->cpus = 1;
    snprintf(c->meter, sizeof c->meter, "%s", cpu);
    s = sweep(o, m, c, err);
    gt_meter_close(m);
    return s == GT_OK ? gt_calibration_fit(c, err) : s;
}

/* --- the file -------------------------------------------------------------------- */

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int calibration_load(const char *path, const char *cpu_model, gt_calibration *c)
{
    char *text = malloc(CALIBRATION_BYTES_MAX);
    if (!text || energy_read_text(path, text, CALIBRATION_BYTES_MAX, NULL) != GT_OK) {
        free(text);
        return 0;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    int found = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(root, "machines"))
    {
        const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "cpu_model"));
        if (!model || strcmp(model, cpu_model))
            continue;
        memset(c, 0, sizeof *c);
        snprintf(c->cpu_model, sizeof c->cpu_model, "%s", model);
        const char *meter = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "meter"));
        snprintf(c->meter, sizeof c->meter, "%s", meter ? meter : "?");
        double cpus = number(entry, "cpus");
        c->idle_w = number(entry, "idle_w");
        c->max_w = number(entry, "max_w");
        c->exponent = number(entry, "exponent");
        c->dram_w_per_gb = number(entry, "dram_w_per_gb");
        c->rmse_w = number(entry, "rmse_w");
        if (!isfinite(c->dram_w_per_gb) || c->dram_w_per_gb < 0)
            c->dram_w_per_gb = 0;
        c->cpus = cpus >= 1 && cpus <= 1e6 ? (int)cpus : 0;
        found = c->cpus && c->idle_w >= 0 && c->max_w > c->idle_w && c->exponent > 0 && c->exponent <= 10;
        break;
    }
    cJSON_Delete(root);
    return found;
}

static cJSON *entry_json(const gt_calibration *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cpu_model", c->cpu_model);
    cJSON_AddNumberToObject(o, "cpus", c->cpus);
    cJSON_AddStringToObject(o, "meter", c->meter);
    cJSON_AddNumberToObject(o, "idle_w", c->idle_w);
    cJSON_AddNumberToObject(o, "max_w", c->max_w);
    cJSON_AddNumberToObject(o, "exponent", c->exponent);
    cJSON_AddNumberToObject(o, "dram_w_per_gb", c->dram_w_per_gb);
    cJSON_AddNumberToObject(o, "rmse_w", c->rmse_w);
    cJSON_AddNumberToObject(o, "max_error_pct", c->max_error_pct);
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cJSON_AddStringToObject(o, "date", date);
    cJSON *points = cJSON_AddArrayToObject(o, "points");
    for (int i = 0; i < c->points; i++) {
        double pair[2] = {c->load[i], c->watts[i]};
        cJSON_AddItemToArray(points, cJSON_CreateDoubleArray(pair, 2));
    }
    return o;
}

char *gt_calibration_update_json(const char *existing, const gt_calibration *c, gt_error *err)
{
    cJSON *root = existing && *existing ? cJSON_Parse(existing) : cJSON_CreateObject();
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        gt_error_set(err, GT_ERR_PARSE, "calibration file: not a JSON object; move it away and calibrate again");
        return NULL;
    }
    cJSON *machines = cJSON_GetObjectItemCaseSensitive(root, "machines");
    if (!cJSON_IsArray(machines)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "machines");
        machines = cJSON_AddArrayToObject(root, "machines");
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "greentune_calibration"))
        cJSON_AddNumberToObject(root, "greentune_calibration", 1);
    int i = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, machines)
    {
        const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "cpu_model"));
        if (model && !strcmp(model, c->cpu_model))
            break;
        i++;
    }
    if (entry)
        cJSON_ReplaceItemInArray(machines, i, entry_json(c));
    else
        cJSON_AddItemToArray(machines, entry_json(c));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        gt_error_set(err, GT_ERR_NOMEM, "calibration: out of memory");
    return text;
}
