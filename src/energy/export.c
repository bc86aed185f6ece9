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

static cJSON *forecast_json(const gt_forecast *f, const gt_carbon *carbon)
{
    cJSON *o = cJSON_CreateObject();
    add_number(o, "fraction", f->fraction);
    add_number(o, "at_s", f->at_s);
    add_number(o, "elapsed_s", f->elapsed_s);
    add_number(o, "energy_j", f->energy_j);
    add_number(o, "task_energy_j", f->task_energy_j);
    add_number(o, "task_duration_s", f->task_duration_s);
    add_number(o, "run_energy_j", f->run_energy_j);
    add_number(o, "run_duration_s", f->run_duration_s);
    if (carbon) {
        add_number(o, "task_emissions_g", gt_carbon_grams(carbon, f->task_energy_j));
        add_number(o, "run_emissions_g", gt_carbon_grams(carbon, f->run_energy_j));
    }
    cJSON_AddBoolToObject(o, "estimated", f->estimated);
    if (f->has_error) {
        add_number(o, "energy_error_pct", f->energy_error_pct);
        add_number(o, "duration_error_pct", f->duration_error_pct);
    }
    return o;
}

static cJSON *process_json(const gt_energy_result *r, const gt_energy_window *w, const gt_carbon *carbon, int top)
{
    cJSON *o = window_json(w, carbon);
    cJSON_AddBoolToObject(o, "estimated", r->estimated);
    if (!top)
        return o;
    cJSON_AddNumberToObject(o, "pid", r->process.pid);
    cJSON *method = cJSON_AddObjectToObject(o, "method");
    for (int c = 0; c < GT_COMPONENTS; c++) {
        if (r->process.method[c][0] && r->sources[c][0])
            cJSON_AddStringToObject(method, component_names[c], r->process.method[c]);
        else
            cJSON_AddNullToObject(method, component_names[c]);
    }
    return o;
}

static double above_idle(const gt_energy_result *r, const gt_energy_window *w)
{
    return w->energy_j - r->idle.power_w * w->duration_s;
}

static cJSON *temperatures_json(const gt_temperatures *t)
{
    cJSON *o = cJSON_CreateObject();
    if (t->cpu_sensors)
        add_number(o, "cpu_c", t->cpu_c);
    else
        cJSON_AddNullToObject(o, "cpu_c");
    if (t->gpu_sensors)
        add_number(o, "gpu_c", t->gpu_c);
    else
        cJSON_AddNullToObject(o, "gpu_c");
    return o;
}

static void add_idle_and_thermal(cJSON *o, const gt_energy_result *r)
{
    if (r->idle.measured) {
        add_number(o, "idle_w", r->idle.power_w);
        add_number(o, "idle_s", r->idle.duration_s);
        cJSON_AddStringToObject(o, "idle_meter", r->idle.meter);
        cJSON_AddBoolToObject(o, "idle_estimated", r->idle.estimated);
        add_number(o, "energy_above_idle_j", above_idle(r, &r->total));
        cJSON_AddBoolToObject(o, "idle_subtracted", r->idle.subtract);
    }
    if (r->thermal.checked) {
        cJSON *t = cJSON_AddObjectToObject(o, "thermal");
        add_number(t, "band_c", r->thermal.band_c);
        add_number(t, "waited_s", r->thermal.waited_s);
        cJSON_AddBoolToObject(t, "timed_out", r->thermal.timed_out);
        cJSON_AddItemToObject(t, "idle", temperatures_json(&r->thermal.idle));
        cJSON_AddItemToObject(t, "start", temperatures_json(&r->thermal.start));
        cJSON_AddItemToObject(t, "end", temperatures_json(&r->thermal.end));
    }
}

static cJSON *task_json(const gt_energy_result *r, const gt_task_result *k, const gt_carbon *carbon)
{
    cJSON *t = window_json(&k->window, carbon);
    cJSON_AddNumberToObject(t, "runs", k->runs);
    cJSON_AddBoolToObject(t, "estimated", r->estimated);
    if (k->parent[0])
        cJSON_AddStringToObject(t, "parent", k->parent);
    if (k->open_at_finish)
        cJSON_AddBoolToObject(t, "open_at_finish", 1);
    if (k->running)
        cJSON_AddBoolToObject(t, "running", 1);
    if (k->incomplete) /* the meter failed at one of its boundaries: energy_j is a lower bound */
        cJSON_AddBoolToObject(t, "incomplete", 1);
    if (r->idle.measured)
        add_number(t, "energy_above_idle_j", above_idle(r, &k->window));
    if (r->process.attributed)
        cJSON_AddItemToObject(t, "process", process_json(r, &k->process, carbon, 0));
    if (k->progress >= 0)
        add_number(t, "progress", k->progress);
    if (k->has_forecast)
        cJSON_AddItemToObject(t, "forecast", forecast_json(&k->forecast, carbon));
    return t;
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
    if (r->process.attributed)
        cJSON_AddItemToObject(o, "process", process_json(r, &r->process.window, carbon, 1));
    add_idle_and_thermal(o, r);
    cJSON *tasks = cJSON_AddObjectToObject(o, "tasks");
    for (int i = 0; i < r->task_count; i++)
        cJSON_AddItemToObject(tasks, r->tasks[i].name, task_json(r, &r->tasks[i], carbon));
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
    "meter,estimated,carbon_intensity_g_per_kwh,exit_code,command,idle_w,idle_subtracted,process_energy\n";

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

/* The total, less idle power over its duration when the user asked for that. */
static gt_energy_window headline(const gt_energy_result *r)
{
    gt_energy_window w = r->total;
    if (r->idle.measured && r->idle.subtract) {
        for (int c = 0; c < GT_COMPONENTS; c++)
            w.joules[c] -= r->idle.component_w[c] * w.duration_s;
        w.energy_j = above_idle(r, &r->total);
    }
    return w;
}

char *gt_energy_csv_row(const gt_energy_result *r, const gt_carbon *c, const gt_csv_run *run)
{
    text t = {0};
    const gt_energy_window total = headline(r);
    const double kwh = 1.0 / 3.6e6, d = total.duration_s;
    double grams = gt_carbon_grams(c, total.energy_j);
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
        fieldf(&t, "%.6g", d > 0 ? total.joules[codecarbon_order[k]] / d : 0);
    for (int k = 0; k < 3; k++) /* cpu_energy, gpu_energy, ram_energy (kWh) */
        fieldf(&t, "%.9g", total.joules[codecarbon_order[k]] * kwh);
    fieldf(&t, "%.9g", total.energy_j * kwh);
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
    field(&t, "machine"); /* tracking_mode: the figures are the machine's (the process share is in the JSON) */
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
    if (r->idle.measured)
        fieldf(&t, "%.6g", r->idle.power_w);
    else
        field(&t, "");
    field(&t, r->idle.measured && r->idle.subtract ? "true" : "false");
    if (r->process.attributed) /* kWh, as CodeCarbon's energy columns */
        fieldf(&t, "%.9g", r->process.window.energy_j * kwh);
    else
        field(&t, "");
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

/* --- Prometheus --------------------------------------------------------------- */

static void appendf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(text *t, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        append(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(text *t, const char *name, const char *value, int first)
{
    appendf(t, "%s%s=\"", first ? "" : ",", name);
    for (const char *p = value; *p; p++)
        if (*p == '\\' || *p == '"')
            appendf(t, "\\%c", *p);
        else if (*p == '\n')
            append(t, "\\n", 2);
        else
            append(t, p, 1);
    append(t, "\"", 1);
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    appendf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(text *t, double v) { appendf(t, "} %.9g\n", isfinite(v) ? v : 0); }

/* Samples "name{component="..",source="..",estimated=".."} v" per measured component. */
static void per_component(text *t, const gt_energy_result *r, const char *name, const double v[GT_COMPONENTS])
{
    for (int c = 0; c < GT_COMPONENTS; c++) {
        if (!r->sources[c][0])
            continue;
        appendf(t, "%s{", name);
        label(t, "component", component_names[c], 1);
        label(t, "source", r->sources[c], 0);
        label(t, "estimated", r->estimated ? "true" : "false", 0);
        value(t, v[c]);
    }
}

/* One sample per task: name{task="..",parent=".."} v. */
static void per_task(text *t, const gt_energy_result *r, const char *name, double (*get)(const gt_task_result *))
{
    for (int i = 0; i < r->task_count; i++) {
        appendf(t, "%s{", name);
        label(t, "task", r->tasks[i].name, 1);
        label(t, "parent", r->tasks[i].parent, 0);
        value(t, get(&r->tasks[i]));
    }
}

static double task_seconds(const gt_task_result *k) { return k->window.duration_s; }
static double task_runs(const gt_task_result *k) { return k->runs; }
static double task_running(const gt_task_result *k) { return k->running; }

char *gt_energy_prometheus(const gt_energy_result *r, const gt_carbon *carbon)
{
    text t = {0};
    const char *est = r->estimated ? "true" : "false";
    family(&t, "greentune_info", "gauge", "The meter and whether its figures are estimated.");
    appendf(&t, "greentune_info{");
    label(&t, "meter", r->meter, 1);
    label(&t, "estimated", est, 0);
    value(&t, 1);
    family(&t, "greentune_elapsed_seconds", "gauge", "Time since the measurement started.");
    appendf(&t, "greentune_elapsed_seconds %.9g\n", r->total.duration_s);
    family(&t, "greentune_energy_joules_total", "counter", "Energy of the whole machine since the start, by component.");
    per_component(&t, r, "greentune_energy_joules_total", r->total.joules);
    family(&t, "greentune_power_watts", "gauge", "Mean power over the last sampling interval, by component.");
    per_component(&t, r, "greentune_power_watts", r->power_w);
    if (carbon) {
        family(&t, "greentune_emissions_grams_total", "counter", "Emissions: energy x grid carbon intensity x PUE.");
        appendf(&t, "greentune_emissions_grams_total{");
        label(&t, "estimated", est, 1);
        value(&t, gt_carbon_grams(carbon, r->total.energy_j));
    }
    if (r->idle.measured) {
        family(&t, "greentune_idle_power_watts", "gauge", "Idle power measured before the start.");
        appendf(&t, "greentune_idle_power_watts %.9g\n", r->idle.power_w);
    }
    if (r->process.attributed) {
        family(&t, "greentune_process_energy_joules_total", "counter",
               "The measured process tree's share of the energy, by component.");
        per_component(&t, r, "greentune_process_energy_joules_total", r->process.window.joules);
    }
    if (r->task_count) {
        family(&t, "greentune_task_energy_joules_total", "counter", "Energy of each task, all its runs so far.");
        for (int i = 0; i < r->task_count; i++)
            for (int c = 0; c < GT_COMPONENTS; c++) {
                if (!r->sources[c][0])
                    continue;
                appendf(&t, "greentune_task_energy_joules_total{");
                label(&t, "task", r->tasks[i].name, 1);
                label(&t, "parent", r->tasks[i].parent, 0);
                label(&t, "component", component_names[c], 0);
                label(&t, "estimated", est, 0);
                value(&t, r->tasks[i].window.joules[c]);
            }
        family(&t, "greentune_task_duration_seconds_total", "counter", "Time in each task, all its runs so far.");
        per_task(&t, r, "greentune_task_duration_seconds_total", task_seconds);
        family(&t, "greentune_task_runs_total", "counter", "Completed runs of each task.");
        per_task(&t, r, "greentune_task_runs_total", task_runs);
        family(&t, "greentune_task_running", "gauge", "1 while the task runs.");
        per_task(&t, r, "greentune_task_running", task_running);
    }
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    return t.data ? t.data : strdup("");
}
