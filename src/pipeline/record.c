/* The run record (design.md's `greentune run` JSON) and its summary for
 * people. The stages and "other" add up to the total by construction: other
 * is what the measurement saw outside the six stage windows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/machine.h"
#include "pipeline/pipeline_internal.h"

static const char *const stage_names[] = {"data", "tokenize", "load", "train", "save", "eval", NULL};
static const char *const component_keys[GT_COMPONENTS] = {"cpu_j", "dram_j", "gpu_j"};

cJSON *pl_window_json(const double joules[GT_COMPONENTS], double energy_j, double duration_s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "energy_j", energy_j);
    cJSON_AddNumberToObject(o, "duration_s", duration_s);
    cJSON *c = cJSON_AddObjectToObject(o, "components");
    for (int i = 0; i < GT_COMPONENTS; i++)
        cJSON_AddNumberToObject(c, component_keys[i], joules[i]);
    return o;
}

static const gt_task_result *find_task(const gt_energy_result *e, const char *name)
{
    for (int i = 0; i < e->task_count; i++)
        if (!strcmp(e->tasks[i].name, name))
            return &e->tasks[i];
    return NULL;
}

static void add_energy(cJSON *o, const gt_energy_result *e)
{
    cJSON *stages = cJSON_AddObjectToObject(o, "stages");
    double joules[GT_COMPONENTS] = {0}, energy = 0, duration = 0;
    for (const char *const *name = stage_names; *name; name++) {
        const gt_task_result *t = find_task(e, *name);
        static const double none[GT_COMPONENTS] = {0};
        const gt_energy_window *w = t ? &t->window : NULL;
        cJSON_AddItemToObject(stages, *name, pl_window_json(w ? w->joules : none, w ? w->energy_j : 0,
                                                         w ? w->duration_s : 0));
        for (int c = 0; w && c < GT_COMPONENTS; c++)
            joules[c] += w->joules[c];
        energy += w ? w->energy_j : 0;
        duration += w ? w->duration_s : 0;
    }
    double other[GT_COMPONENTS];
    for (int c = 0; c < GT_COMPONENTS; c++)
        other[c] = e->total.joules[c] - joules[c];
    cJSON_AddItemToObject(o, "other",
                          pl_window_json(other, e->total.energy_j - energy, e->total.duration_s - duration));
    cJSON_AddItemToObject(o, "total", pl_window_json(e->total.joules, e->total.energy_j, e->total.duration_s));
    cJSON_AddStringToObject(o, "meter", e->meter);
    cJSON_AddBoolToObject(o, "estimated", e->estimated);
    cJSON *detail = gt_energy_result_to_json(e, NULL);
    if (detail)
        cJSON_AddItemToObject(o, "energy", detail);
}

/* Moves a section into the record (the context no longer owns it). */
static void take(cJSON *o, const char *key, cJSON **section)
{
    cJSON_AddItemToObject(o, key, *section);
    *section = NULL;
}

cJSON *pl_record(gt_pipeline_ctx *p, const gt_energy_result *energy)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "pipeline", p->opt->label ? p->opt->label : gt_config_label(p->spec->config));
    add_energy(o, energy);
    cJSON_AddItemToObject(o, "metrics", gt_metrics_to_json(&p->metrics));
    cJSON_AddItemToObject(o, "knobs", gt_knob_set_to_json(p->knobs));
    gt_nn_model_info info;
    gt_nn_model_info_get(p->model, &info);
    cJSON_AddNumberToObject(p->model_json, "params", (double)info.params);
    cJSON_AddNumberToObject(p->model_json, "trainable_params", (double)info.trainable_params);
    cJSON_AddNumberToObject(p->model_json, "weight_bytes", (double)info.weight_bytes);
    cJSON_AddNumberToObject(p->model_json, "optimizer_bytes", (double)info.optimizer_bytes);
    cJSON_AddNumberToObject(p->model_json, "activation_peak_bytes", (double)info.arena_peak);
    take(o, "model", &p->model_json);
    take(o, "data", &p->data_json);
    take(o, "tokenize", &p->tokenize_json);
    take(o, "train", &p->train_json);
    take(o, "eval", &p->eval_json);
    cJSON *machine = pl_machine_json(p->threads);
    gt_nn_device_info device;
    gt_nn_device dv = p->nn.device;
    cJSON_AddStringToObject(machine, "device", gt_nn_device_name(dv));
    if (dv == GT_NN_CUDA && gt_nn_device_check(dv, &device, NULL) == GT_OK)
        cJSON_AddStringToObject(machine, "gpu", device.emulated ? "emulated (GREENTUNE_CUDA_EMULATE)" : device.name);
    cJSON_AddItemToObject(o, "machine", machine);
    if (p->opt->out_dir)
        cJSON_AddStringToObject(o, "checkpoint", p->opt->out_dir);
    else
        cJSON_AddNullToObject(o, "checkpoint");
    take(o, "warnings", &p->warnings);
    return o;
}

/* --- the summary ------------------------------------------------------------------ */

static double number(const cJSON *o, const char *path)
{
    char key[64];
    const cJSON *node = o;
    for (const char *s = path; node && *s;) {
        size_t n = strcspn(s, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, s);
        node = cJSON_GetObjectItemCaseSensitive(node, key);
        s += n + (s[n] == '.');
    }
    return cJSON_IsNumber(node) ? node->valuedouble : NAN;
}

static void energy_row(FILE *out, const char *name, const cJSON *w, double total_j, const char *source)
{
    double j = number(w, "energy_j");
    fprintf(out, "  %-9s %12.4g J %-10s %9.3f s  %5.1f %%\n", name, j, source, number(w, "duration_s"),
            total_j > 0 ? 100 * j / total_j : 0);
}

void gt_run_summary(const cJSON *record, FILE *out)
{
    const cJSON *meter = cJSON_GetObjectItemCaseSensitive(record, "meter");
    int estimated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "estimated"));
    char source[64];
    snprintf(source, sizeof source, "%s", estimated ? "estimated" : cJSON_IsString(meter) ? meter->valuestring : "?");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(record, "total");
    double total_j = number(total, "energy_j");
    const cJSON *pipeline = cJSON_GetObjectItemCaseSensitive(record, "pipeline");
    fprintf(out, "greentune: run %s: %.4g J (%s, meter %s) in %.1f s\n",
            cJSON_IsString(pipeline) ? pipeline->valuestring : "", total_j, source,
            cJSON_IsString(meter) ? meter->valuestring : "?", number(total, "duration_s"));
    fprintf(out, "  %-9s %14s %-10s %11s  %7s\n", "stage", "energy", "source", "time", "share");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(record, "stages");
    for (const cJSON *s = stages ? stages->child : NULL; s; s = s->next)
        energy_row(out, s->string, s, total_j, source);
    energy_row(out, "other", cJSON_GetObjectItemCaseSensitive(record, "other"), total_j, source);
    energy_row(out, "total", total, total_j, source);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(record, "metrics");
    char *confusion = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(m, "confusion"));
    fprintf(out, "  metrics   F1 %.4f (positive class), weighted F1 %.4f, accuracy %.4f, MCC %.4f, precision %.4f, "
            "recall %.4f\n", number(m, "f1"), number(m, "f1_weighted"), number(m, "accuracy"), number(m, "mcc"),
            number(m, "precision"), number(m, "recall"));
    fprintf(out, "  confusion %s ([[tn, fp], [fn, tp]] for two classes)\n", confusion ? confusion : "?");
    free(confusion);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(record, "model");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(model, "arch");
    fprintf(out, "  model     %s, %.0f layers, %.0f parameters (%.0f trainable); train %.0f tokens at %.0f tokens/s\n",
            cJSON_IsString(arch) ? arch->valuestring : "?", number(model, "layers"), number(model, "params"),
            number(model, "trainable_params"), number(record, "train.tokens"), number(record, "train.tokens_per_s"));
    const cJSON *knobs = cJSON_GetObjectItemCaseSensitive(record, "knobs");
    for (const cJSON *k = knobs ? knobs->child : NULL; k; k = k->next) {
        char *params = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(k, "params"));
        char *evidence = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(k, "evidence"));
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(k, "name");
        fprintf(out, "  knob      %s %s: %s\n", cJSON_IsString(name) ? name->valuestring : "?",
                params ? params : "{}", evidence ? evidence : "{}");
        free(params);
        free(evidence);
    }
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(record, "warnings");
    for (const cJSON *w = warnings ? warnings->child : NULL; w; w = w->next)
        if (cJSON_IsString(w))
            fprintf(out, "  WARNING   %s\n", w->valuestring);
}
