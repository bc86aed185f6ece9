/* Results as JSON (design.md's measure contract), as a CodeCarbon-compatible
 * emissions.csv row, and as a power-trace CSV. Every form carries the meter
 * and the estimated flag. */
#include "energy/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

static const char *const component_keys[GT_COMPONENTS] = {"cpu_j", "dram_j", "gpu_j"};
static const char *const component_names[GT_COMPONENTS] = {"cpu", "dram", "gpu"};

/* Six significant digits: what any meter here can honestly claim, and it
 * keeps 0.1 + 0.2 from printing as 0.30000000000000004. */
static double round6(double v)
{
    char text[32];
    snprintf(text, sizeof text, "%.6g", v);
    return strtod(text, NULL);
}

static void add_number(cJSON *o, const char *key, double v)
{
    cJSON_AddNumberToObject(o, key, isfinite(v) ? round6(v) : 0);
}

/* energy_j, duration_s, components (and emissions_g when carbon is known). */
static cJSON *window_json(const gt_energy_window *w, const gt_carbon *carbon)
{
    cJSON *o = cJSON_CreateObject();
    add_number(o, "energy_j", w->energy_j);
    add_number(o, "duration_s", w->duration_s);
    cJSON *parts = cJSON_AddObjectToObject(o, "components");
    for (int c = 0; c < GT_COMPONENTS; c++)
        add_number(parts, component_keys[c], w->joules[c]);
    if (carbon)
        add_number(o, "emissions_g", gt_carbon_grams(carbon, w->energy_j));
    return o;
}

/* Moves every field of from into to (the window's keys at the top level). */
static void merge(cJSON *to, cJSON *from)
{
    while (from->child) {
        cJSON *item = cJSON_DetachItemViaPointer(from, from->child);
        cJSON_AddItemToObject(to, item->string, item);
    }
    cJSON_Delete(from);
}

cJSON *gt_energy_result_to_json(const gt_energy_result *r, const gt_carbon *carbon)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "meter", r->meter);
    cJSON_AddBoolToObject(o, "estimated", r->estimated);
    cJSON_AddStringToObject(o, "scope", r->scope == GT_SCOPE_MACHINE ? "machine" : "process");
    merge(o, window_json(&r->total, carbon));
    if (r->incomplete) /* the meter failed before the end: energy_j is a lower bound */
        cJSON_AddBoolToObject(o, "incomplete", 1);
    cJSON *sources = cJSON_AddObjectToObject(o, "sources");
    for (int c = 0; c < GT_COMPONENTS; c++) {
        if (r->sources[c][0])
            cJSON_AddStringToObject(sources, component_names[c], r->sources[c]);
        else
            cJSON_AddNullToObject(sources, component_names[c]);
    }
    add_number(o, "avg_power_w", r->avg_power_w);
    add_number(o, "peak_power_w", r->peak_power_w);
    cJSON_AddNumberToObject(o, "interval_ms", r->interval_ms);
    cJSON_AddNumberToObject(o, "samples", (double)r->sample_count);
    add_number(o, "sampler_cpu_s", r->sampler_cpu_s);
    if (carbon) {
        add_number(o, "carbon_intensity_g_per_kwh", carbon->g_per_kwh);
        add_number(o, "pue", carbon->pue);
        cJSON_AddStringToObject(o, "carbon_source", carbon->source);
        if (carbon->country[0])
            cJSON_AddStringToObject(o, "country", carbon->country);
    }
    cJSON *tasks = cJSON_AddObjectToObject(o, "tasks");
    for (int i = 0; i < r->task_count; i++) {
        cJSON *t = window_json(&r->tasks[i].window, carbon);
        cJSON_AddNumberToObject(t, "runs", r->tasks[i].runs);
        cJSON_AddBoolToObject(t, "estimated", r->estimated);
        if (r->tasks[i].open_at_finish)
            cJSON_AddBoolToObject(t, "open_at_finish", 1);
        if (r->tasks[i].incomplete)
            cJSON_AddBoolToObject(t, "incomplete", 1);
        cJSON_AddItemToObject(tasks, r->tasks[i].name, t);
    }
    cJSON_AddStringToObject(o, "meter_description", r->description);
    cJSON *notes = cJSON_AddArrayToObject(o, "notes");
    for (int i = 0; i < r->note_count; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(r->notes[i]));
    return o;
}

/* --- CSV ----------------------------------------------------------------------- */

/* CodeCarbon 3.x's emissions.csv columns, in its order, then greentune's own. */
static const char csv_header[] =
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,"
    "region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,"
    "gpu_model,longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
    "ram_utilization_percent,ram_used_gb,on_cloud,pue,wue,"
    "meter,estimated,carbon_intensity_g_per_kwh,exit_code,command\n";

const char *gt_energy_csv_header(void) { return csv_header; }

/* CodeCarbon lists cpu, gpu, ram (ours: cpu, dram, gpu). */
static const gt_component codecarbon_order[3] = {GT_CPU, GT_GPU, GT_DRAM};

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} text;

static void append(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 2 > t->cap) {
        size_t cap = (t->len + n + 2) * 2;
        char *bigger = realloc(t->data, cap);
        if (!bigger) {
            t->failed = 1;
            return;
        }
        t->data = bigger;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* One field and its comma; quoted (RFC 4180) when it holds , " or a newline. */
static void field(text *t, const char *s)
{
    if (t->len)
        append(t, ",", 1);
    if (!strpbrk(s, ",\"\r\n")) {
        append(t, s, strlen(s));
        return;
    }
    append(t, "\"", 1);
    for (const char *p = s; *p; p++)
        append(t, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    append(t, "\"", 1);
}

static void fieldf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fieldf(text *t, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    field(t, buf);
}

char *gt_energy_csv_row(const gt_energy_result *r, const gt_carbon *c, const gt_csv_run *run)
{
    text t = {0};
    const double kwh = 1.0 / 3.6e6, d = r->total.duration_s;
    double grams = gt_carbon_grams(c, r->total.energy_j);
    struct utsname u;
    char os[200] = "";
    if (uname(&u) == 0)
        snprintf(os, sizeof os, "%s-%s-%s", u.sysname, u.release, u.machine);
    field(&t, run->timestamp ? run->timestamp : "");
    field(&t, run->project_name ? run->project_name : "greentune");
    field(&t, run->run_id ? run->run_id : "");
    field(&t, "");                                 /* experiment_id */
    fieldf(&t, "%.6f", d);
    fieldf(&t, "%.9g", grams / 1000);              /* kg */
    fieldf(&t, "%.9g", d > 0 ? grams / 1000 / d : 0);
    for (int k = 0; k < 3; k++) /* cpu_power, gpu_power, ram_power (mean W) */
        fieldf(&t, "%.6g", d > 0 ? r->total.joules[codecarbon_order[k]] / d : 0);
    for (int k = 0; k < 3; k++) /* cpu_energy, gpu_energy, ram_energy (kWh) */
        fieldf(&t, "%.9g", r->total.joules[codecarbon_order[k]] * kwh);
    fieldf(&t, "%.9g", r->total.energy_j * kwh);
    field(&t, "");                                 /* water_consumed */
    field(&t, c->country_name);
    field(&t, c->country);
    for (int k = 0; k < 3; k++)                    /* region, cloud_provider, cloud_region */
        field(&t, "");
    field(&t, os);
    field(&t, "");                                 /* python_version */
    field(&t, "");                                 /* codecarbon_version */
    fieldf(&t, "%d", r->cpu_count);
    field(&t, r->cpu_model);
    fieldf(&t, "%d", r->gpu_count);
    field(&t, r->gpu_model);
    field(&t, "");                                 /* longitude */
    field(&t, "");                                 /* latitude */
    fieldf(&t, "%.3f", r->ram_total_gb);
    field(&t, r->scope == GT_SCOPE_MACHINE ? "machine" : "process");
    for (int k = 0; k < 4; k++)                    /* utilisation percents, ram_used_gb */
        field(&t, "");
    field(&t, "");                                 /* on_cloud: unknown */
    fieldf(&t, "%g", c->pue);
    field(&t, "");                                 /* wue */
    field(&t, r->meter);
    field(&t, r->estimated ? "true" : "false");
    fieldf(&t, "%g", c->g_per_kwh);
    fieldf(&t, "%d", run->exit_code);
    field(&t, run->command ? run->command : "");
    append(&t, "\n", 1);
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    return t.data;
}

gt_status gt_energy_trace_csv(const gt_energy_result *r, FILE *out, gt_error *err)
{
    fprintf(out, "t_s,cpu_j,dram_j,gpu_j,power_w,meter,estimated\n");
    for (long i = 0; i < r->trace_count; i++) {
        const gt_energy_sample *s = &r->trace[i];
        double e = s->joules[GT_CPU] + s->joules[GT_DRAM] + s->joules[GT_GPU];
        double power = 0;
        if (i > 0) {
            const gt_energy_sample *p = &r->trace[i - 1];
            double dt = s->t_s - p->t_s;
            power = dt > 0 ? (e - p->joules[GT_CPU] - p->joules[GT_DRAM] - p->joules[GT_GPU]) / dt : 0;
        }
        fprintf(out, "%.6f,%.6g,%.6g,%.6g,%.6g,%s,%s\n", s->t_s, s->joules[GT_CPU], s->joules[GT_DRAM],
                s->joules[GT_GPU], power, r->meter, r->estimated ? "true" : "false");
    }
    if (ferror(out))
        return gt_error_set(err, GT_ERR_IO, "trace: write failed");
    return GT_OK;
}
