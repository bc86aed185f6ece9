/* The knob registry: the per-phase tables seen as one catalog, lookup by name
 * with a suggestion for misspellings, names of phases/resources/stages, and the
 * catalog as JSON. The definitions themselves live in src/knobs/<phase>.c. */
#include <string.h>

#include "knob_internal.h"
#include "util/text.h"

static const gt_knob_def *const phase_tables[] = {
    gt_knobs_data, gt_knobs_model, gt_knobs_train, gt_knobs_system, gt_knobs_infer,
};

size_t gt_knob_count(void)
{
    size_t n = 0;
    for (size_t t = 0; t < sizeof phase_tables / sizeof phase_tables[0]; t++)
        for (const gt_knob_def *d = phase_tables[t]; d->name; d++)
            n++;
    return n;
}

const gt_knob_def *gt_knob_at(size_t index)
{
    for (size_t t = 0; t < sizeof phase_tables / sizeof phase_tables[0]; t++)
        for (const gt_knob_def *d = phase_tables[t]; d->name; d++)
            if (index-- == 0)
                return d;
    return NULL;
}

const gt_knob_def *gt_knob_find(const char *name)
{
    for (size_t i = 0, n = gt_knob_count(); i < n; i++)
        if (!strcmp(gt_knob_at(i)->name, name))
            return gt_knob_at(i);
    return NULL;
}

const gt_knob_param *gt_knob_find_param(const gt_knob_def *def, const char *name)
{
    for (const gt_knob_param *p = def->params; p && p->name; p++)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

/* Close enough to suggest: a third of the name may be wrong (at least 1, at most
 * 3 edits), or one is a prefix of the other ("prune" for "prune_layers"). */
static int close_enough(const char *typed, const char *name, int distance)
{
    size_t lt = strlen(typed);
    int limit = (int)(lt / 3);
    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    if (distance <= limit)
        return 1;
    return lt >= 3 && !strncmp(typed, name, lt);
}

const char *knob_suggest_among(const char *typed, const char *const *names, size_t count)
{
    const char *best = NULL;
    int best_distance = 99;
    for (size_t i = 0; i < count; i++) {
        int distance = text_edit_distance(typed, names[i]);
        if (distance < best_distance && close_enough(typed, names[i], distance)) {
            best = names[i];
            best_distance = distance;
        }
    }
    return best;
}

/* Names the paper and PyTorch use for what a knob does: suggested, never
 * accepted, so an experiment file always says which knob it means. */
static const char *const aliases[][2] = {
    {"fp16", "bf16"},           {"amp", "bf16"},
    {"mixed_precision", "bf16"}, {"torch_compile", "fused"},
    {"compile", "fused"},       {"quantization", "int8"},
    {"quantize", "int8"},       {"qlora", "lora"},
    {"pin_memory", "prefetch"}, {"flash_attention", "attention"},
    {"gradient_checkpointing", "grad_ckpt"}, {"power_limit", "power_cap"},
    {"layer_pruning", "prune_layers"}, {"pruning", "prune_layers"},
    {"gradient_accumulation", "grad_accum"}, {"dvfs", "cpu_freq"},
};

const gt_knob_def *gt_knob_suggest(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(name, aliases[i][0]))
            return gt_knob_find(aliases[i][1]);
    const char *names[GT_KNOB_SET_MAX];
    size_t n = gt_knob_count();
    if (n > GT_KNOB_SET_MAX)
        n = GT_KNOB_SET_MAX;
    for (size_t i = 0; i < n; i++)
        names[i] = gt_knob_at(i)->name;
    const char *best = knob_suggest_among(name, names, n);
    return best ? gt_knob_find(best) : NULL;
}

/* --- names ------------------------------------------------------------------ */

static const char *const phase_names[] = {"data", "model", "train", "system", "infer", NULL};
static const char *const resource_names[] = {"compute", "memory", "precision", "data volume",
                                             "I/O", "hardware", "carbon", NULL};
static const char *const stage_names[] = {"data", "tokenize", "load", "train", "save", "eval", NULL};

static const char *mask_names(unsigned mask, const char *const *names, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i]; i++)
        if (mask & (1u << i)) {
            int n = snprintf(buf + used, size - used, "%s%s", used ? "/" : "", names[i]);
            if (n < 0 || (size_t)n >= size - used)
                break;
            used += (size_t)n;
        }
    return buf;
}

const char *gt_knob_phase_names(unsigned phases, char *buf, size_t size)
{
    return mask_names(phases, phase_names, buf, size);
}

const char *gt_knob_resource_names(unsigned resources, char *buf, size_t size)
{
    return mask_names(resources, resource_names, buf, size);
}

const char *gt_knob_stage_names(unsigned stages, char *buf, size_t size)
{
    return mask_names(stages, stage_names, buf, size);
}

const char *gt_knob_param_type_name(gt_param_type type)
{
    switch (type) {
    case GT_PARAM_INT: return "int";
    case GT_PARAM_FLOAT: return "float";
    case GT_PARAM_BOOL: return "bool";
    case GT_PARAM_STRING: return "string";
    case GT_PARAM_ENUM: return "enum";
    case GT_PARAM_LIST: return "list";
    case GT_PARAM_DURATION: return "duration";
    }
    return "?";
}

const char *gt_knob_effect_name(gt_knob_effect effect)
{
    switch (effect) {
    case GT_KNOB_PENDING: return "pending";
    case GT_KNOB_PIPELINE: return "pipeline";
    case GT_KNOB_MACHINE: return "machine";
    }
    return "?";
}

/* --- the catalog as JSON ---------------------------------------------------- */

static cJSON *mask_array(unsigned mask, const char *const *names)
{
    cJSON *array = cJSON_CreateArray();
    for (int i = 0; names[i]; i++)
        if (mask & (1u << i))
            cJSON_AddItemToArray(array, cJSON_CreateString(names[i]));
    return array;
}

static cJSON *string_array(const char *const *strings)
{
    cJSON *array = cJSON_CreateArray();
    for (; strings && *strings; strings++)
        cJSON_AddItemToArray(array, cJSON_CreateString(*strings));
    return array;
}

static cJSON *param_json(const gt_knob_def *def, const gt_knob_param *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "type", gt_knob_param_type_name(p->type));
    cJSON_AddBoolToObject(o, "required", p->fallback == NULL);
    if (p->fallback && p->fallback[0]) {
        cJSON *text = knob_plain_scalar(p->fallback, strlen(p->fallback));
        cJSON *value = knob_param_value(def, p, text, NULL);
        cJSON_Delete(text);
        cJSON_AddItemToObject(o, "default", value ? value : cJSON_CreateNull());
    } else {
        cJSON_AddNullToObject(o, "default");
    }
    if (p->type == GT_PARAM_INT || p->type == GT_PARAM_FLOAT || p->type == GT_PARAM_DURATION) {
        cJSON_AddNumberToObject(o, "min", p->min);
        cJSON_AddNumberToObject(o, "max", p->max);
    }
    if (p->choices)
        cJSON_AddItemToObject(o, "choices", string_array(p->choices));
    cJSON_AddBoolToObject(o, "shorthand", p->shorthand);
    cJSON_AddStringToObject(o, "help", p->help ? p->help : "");
    return o;
}

static void add_conflict(cJSON *array, const char *knob, const char *when, const char *other_when,
                         const char *why)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "knob", knob);
    if (when)
        cJSON_AddStringToObject(c, "when", when);
    if (other_when)
        cJSON_AddStringToObject(c, "other_when", other_when);
    cJSON_AddStringToObject(c, "why", why);
    cJSON_AddItemToArray(array, c);
}

/* A conflict is declared once, on either knob; the catalog shows it on both. */
static cJSON *conflicts_json(const gt_knob_def *def)
{
    cJSON *array = cJSON_CreateArray();
    for (const gt_knob_conflict *c = def->conflicts; c && c->knob; c++)
        add_conflict(array, c->knob, c->when, c->other_when, c->why);
    for (size_t i = 0, n = gt_knob_count(); i < n; i++) {
        const gt_knob_def *other = gt_knob_at(i);
        for (const gt_knob_conflict *c = other->conflicts; c && c->knob; c++)
            if (!strcmp(c->knob, def->name))
                add_conflict(array, other->name, c->other_when, c->when, c->why);
    }
    return array;
}

cJSON *gt_knob_catalog_json(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *knobs = cJSON_AddArrayToObject(root, "knobs");
    for (size_t i = 0, n = gt_knob_count(); i < n; i++) {
        const gt_knob_def *def = gt_knob_at(i);
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "name", def->name);
        cJSON_AddItemToObject(k, "phase", mask_array(def->phases, phase_names));
        cJSON_AddItemToObject(k, "resource", mask_array(def->resources, resource_names));
        cJSON_AddItemToObject(k, "stages", mask_array(def->stages, stage_names));
        cJSON_AddStringToObject(k, "paper", def->paper);
        cJSON_AddStringToObject(k, "summary", def->summary);
        cJSON *params = cJSON_AddArrayToObject(k, "params");
        for (const gt_knob_param *p = def->params; p && p->name; p++)
            cJSON_AddItemToArray(params, param_json(def, p));
        cJSON_AddItemToObject(k, "conflicts", conflicts_json(def));
        cJSON_AddItemToObject(k, "evidence", string_array(def->evidence));
        cJSON_AddStringToObject(k, "effect", gt_knob_effect_name(def->effect));
        cJSON_AddItemToArray(knobs, k);
    }
    return root;
}
