/* The experiment file: design.md's YAML, read into a gt_experiment and checked
 * completely before any run starts — a typo in the twentieth variant must not
 * surface an hour into a sweep. Every variant is loaded exactly as its runs
 * will load it (the pipeline file, the overrides, the knobs), so what passes
 * here fails later only for reasons of the run itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment_internal.h"
#include "greentune/fileio.h"
#include "greentune/knobs.h"
#include "greentune/pipeline.h"

static const char *const top_keys[] = {"name", "description", "pipeline", "repeats", "order", "seed",
                                       "cooldown_s", "idle_s", "timeout_s", "thermal_band_c", "baseline",
                                       "set", "variants", NULL};
static const char *const variant_keys[] = {"name", "description", "knobs", "set", "command", NULL};

/* "file:line:column" of a node (the file's name when it has no position). */
static void node_where(const gt_config *cfg, const cJSON *node, char *buf, size_t size)
{
    gt_error e = {0};
    gt_config_error(cfg, node, NULL, &e, GT_ERR_INVALID, "%s", "");
    size_t n = strlen(e.message);
    if (n >= 2 && !strcmp(e.message + n - 2, ": "))
        e.message[n - 2] = '\0';
    snprintf(buf, size, "%s", e.message);
}

static gt_status out_of_memory(gt_error *err)
{
    return gt_error_set(err, GT_ERR_NOMEM, "experiment: out of memory");
}

static gt_status push_string(char ***list, size_t *n, char *s, gt_error *err)
{
    char **bigger = s ? realloc(*list, (*n + 2) * sizeof *bigger) : NULL;
    if (!bigger) {
        free(s);
        return out_of_memory(err);
    }
    bigger[(*n)++] = s;
    bigger[*n] = NULL;
    *list = bigger;
    return GT_OK;
}

/* "key=value" with the value as YAML flow text (JSON is YAML), for gt_config_set. */
static gt_status push_assignment(char ***list, size_t *n, const char *key, const cJSON *value, gt_error *err)
{
    char *text = cJSON_PrintUnformatted(value);
    if (!text)
        return out_of_memory(err);
    size_t len = strlen(key) + strlen(text) + 2;
    char *assignment = malloc(len);
    if (assignment)
        snprintf(assignment, len, "%s=%s", key, text);
    cJSON_free(text);
    return push_string(list, n, assignment, err);
}

/* A `set:` mapping: dotted keys ("data.limit") to values, each one --set. */
static gt_status read_sets(const gt_config *cfg, const cJSON *set, const char *path, char ***list, size_t *n,
                           gt_error *err)
{
    if (!set || cJSON_IsNull(set))
        return GT_OK;
    if (!cJSON_IsObject(set))
        return gt_config_error(cfg, set, path, err, GT_ERR_INVALID,
                               "expected a mapping of pipeline keys to values, e.g. {data.limit: 2000}");
    const cJSON *item;
    cJSON_ArrayForEach(item, set) {
        if (!*item->string || strchr(item->string, '='))
            return gt_config_error(cfg, item, path, err, GT_ERR_INVALID,
                                   "\"%s\" is not a pipeline key (write keys as data.limit)", item->string);
        gt_status st = push_assignment(list, n, item->string, item, err);
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

static void variant_free(gt_sweep_variant *v)
{
    cJSON_Delete(v->knobs);
    free(v->knobs_json);
    for (size_t i = 0; i < v->n_sets; i++)
        free(v->sets[i]);
    free(v->sets);
    for (char **a = v->command; a && *a; a++)
        free(*a);
    free(v->command);
    free(v->command_json);
    memset(v, 0, sizeof *v);
}

void gt_sweep_variant_free(gt_sweep_variant *v)
{
    variant_free(v);
}

void gt_experiment_free(gt_experiment *exp)
{
    for (size_t i = 0; i < exp->n_variants; i++)
        variant_free(&exp->variants[i]);
    free(exp->variants);
    free(exp->path);
    free(exp->spec_text);
    free(exp->pipeline);
    gt_config_free(exp->config);
    memset(exp, 0, sizeof *exp);
}

const gt_sweep_variant *gt_experiment_find(const gt_experiment *exp, const char *name)
{
    for (size_t i = 0; i < exp->n_variants; i++)
        if (!strcmp(exp->variants[i].name, name))
            return &exp->variants[i];
    return NULL;
}

/* The variant's knobs in canonical form — {"seq_trim": {"max_len": 64}} —
 * from a knob set holding exactly them, so equal knobs written differently
 * (seq_trim: 64) compare equal in the store and the analysis. */
static gt_status canonical_knobs(gt_sweep_variant *v, const gt_knob_set *set, gt_error *err)
{
    v->n_knobs = set->count;
    if (!set->count)
        return GT_OK;
    cJSON *object = cJSON_CreateObject();
    for (size_t i = 0; object && i < set->count; i++)
        if (!cJSON_AddItemToObject(object, set->items[i].def->name, cJSON_Duplicate(set->items[i].params, 1)))
            cJSON_Delete(object), object = NULL;
    v->knobs_json = object ? cJSON_PrintUnformatted(object) : NULL;
    cJSON_Delete(object);
    return v->knobs_json ? GT_OK : out_of_memory(err);
}

/* Each knob of the mapping through the registry (name, parameters, ranges,
 * conflicts with the knobs before it); a bad one is named at its line. */
static gt_status check_knobs(const gt_config *cfg, const cJSON *knobs, const char *path, gt_sweep_variant *v,
                             gt_error *err)
{
    if (!knobs || cJSON_IsNull(knobs))
        return GT_OK;
    if (!cJSON_IsObject(knobs))
        return gt_config_error(cfg, knobs, path, err, GT_ERR_INVALID,
                               "expected a mapping of knob names to settings, e.g. {seq_trim: 128}");
    gt_knob_set set;
    gt_knob_set_init(&set);
    gt_status st = GT_OK;
    const cJSON *k;
    cJSON_ArrayForEach(k, knobs) {
        gt_error inner = {0};
        if (gt_knob_set_add_json(&set, k->string, k, &inner) != GT_OK) {
            char key[256];
            snprintf(key, sizeof key, "%s.%.100s", path, k->string);
            st = gt_config_error(cfg, k, key, err, inner.status, "%s", inner.message);
            break;
        }
    }
    if (st == GT_OK)
        st = canonical_knobs(v, &set, err);
    gt_knob_set_free(&set);
    if (st == GT_OK && !(v->knobs = cJSON_Duplicate(knobs, 1)))
        st = out_of_memory(err);
    return st;
}

/* Every knob becomes knobs.NAME=VALUE after the other overrides, so a
 * variant's knob replaces the pipeline file's knob of the same name. */
static gt_status knob_assignments(gt_sweep_variant *v, gt_error *err)
{
    const cJSON *k;
    cJSON_ArrayForEach(k, v->knobs) {
        if (strchr(k->string, '.') || strchr(k->string, '='))
            return gt_error_set(err, GT_ERR_INVALID, "%s: knob \"%s\": not a knob name", v->where, k->string);
        char key[128];
        snprintf(key, sizeof key, "knobs.%.100s", k->string);
        gt_status st = push_assignment(&v->sets, &v->n_sets, key, k, err);
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

/* Loads the pipeline as the variant's runs will: file, overrides, knobs. */
gt_status exp_variant_check_pipeline(const gt_experiment *exp, const gt_sweep_variant *v, gt_error *err)
{
    gt_pipeline_spec spec;
    gt_knob_set knobs;
    gt_knob_set_init(&knobs);
    gt_status st = gt_pipeline_spec_load(exp->pipeline, (const char *const *)v->sets, v->n_sets, &spec, err);
    if (st == GT_OK) {
        st = gt_pipeline_spec_knobs(&spec, NULL, 0, &knobs, err);
        gt_pipeline_spec_free(&spec);
    }
    gt_knob_set_free(&knobs);
    if (st != GT_OK)
        gt_error_prefix(err, "%s: variant '%s': ", v->where, v->name);
    return st;
}

static gt_status read_command(const gt_config *cfg, const cJSON *command, const char *path, gt_sweep_variant *v,
                              gt_error *err)
{
    int n = cJSON_GetArraySize(command);
    if (!cJSON_IsArray(command) || n < 1 || n > 4096)
        return gt_config_error(cfg, command, path, err, GT_ERR_INVALID,
                               "expected the command as a list of strings, e.g. [python3, train.py] "
                               "(it runs without a shell)");
    const cJSON *arg;
    size_t count = 0;
    cJSON_ArrayForEach(arg, command) {
        if (!cJSON_IsString(arg) || (count == 0 && !*arg->valuestring))
            return gt_config_error(cfg, arg, path, err, GT_ERR_INVALID,
                                   "every word of the command must be a string (quote numbers: \"3\")");
        gt_status st = push_string(&v->command, &count, strdup(arg->valuestring), err);
        if (st != GT_OK)
            return st;
    }
    v->command_json = cJSON_PrintUnformatted(command);
    return v->command_json ? GT_OK : out_of_memory(err);
}

static gt_status read_variant(gt_experiment *exp, const cJSON *node, size_t index, gt_sweep_variant *v,
                              gt_error *err)
{
    const gt_config *cfg = exp->config;
    char path[64], key[96];
    snprintf(path, sizeof path, "variants.%zu", index);
    node_where(cfg, node, v->where, sizeof v->where);
    if (!cJSON_IsObject(node))
        return gt_config_error(cfg, node, path, err, GT_ERR_INVALID,
                               "expected a variant mapping, e.g. {name: V8, knobs: {seq_trim: 64}}");
    gt_status st = gt_config_check_keys(cfg, path, variant_keys, err);
    const char *name = NULL;
    snprintf(key, sizeof key, "%s.name", path);
    if (st == GT_OK)
        st = gt_config_string(cfg, key, NULL, &name, err);
    if (st == GT_OK && (!name || !*name || strlen(name) >= GT_NAME_MAX))
        return gt_config_error(cfg, node, key, err, GT_ERR_INVALID, "every variant needs a name of 1 to %d bytes",
                               GT_NAME_MAX - 1);
    if (st != GT_OK)
        return st;
    snprintf(v->name, sizeof v->name, "%s", name);
    for (size_t i = 0; i < index; i++)
        if (!strcmp(exp->variants[i].name, name))
            return gt_config_error(cfg, cJSON_GetObjectItemCaseSensitive(node, "name"), key, err, GT_ERR_INVALID,
                                   "variant '%s' is defined twice (first at %s); names must be unique", name,
                                   exp->variants[i].where);

    const cJSON *command = cJSON_GetObjectItemCaseSensitive(node, "command");
    const cJSON *knobs = cJSON_GetObjectItemCaseSensitive(node, "knobs");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(node, "set");
    if (command && !cJSON_IsNull(command)) {
        if ((knobs && !cJSON_IsNull(knobs)) || (set && !cJSON_IsNull(set)))
            return gt_config_error(cfg, command, path, err, GT_ERR_INVALID,
                                   "an external command takes no knobs or set (they change the built-in "
                                   "pipeline) — remove them, or the command");
        snprintf(key, sizeof key, "%s.command", path);
        return read_command(cfg, command, key, v, err);
    }
    if (!exp->pipeline)
        return gt_config_error(cfg, node, path, err, GT_ERR_INVALID,
                               "variant '%s' runs the pipeline, but the file names no `pipeline:`", name);
    const cJSON *common = gt_config_get(cfg, "set");
    snprintf(key, sizeof key, "%s.set", path);
    st = read_sets(cfg, common, "set", &v->sets, &v->n_sets, err);
    size_t before = v->n_sets;
    if (st == GT_OK)
        st = read_sets(cfg, set, key, &v->sets, &v->n_sets, err);
    v->n_own_sets = v->n_sets - before;
    snprintf(key, sizeof key, "%s.knobs", path);
    if (st == GT_OK)
        st = check_knobs(cfg, knobs, key, v, err);
    if (st == GT_OK && v->knobs)
        st = knob_assignments(v, err);
    if (st == GT_OK)
        st = exp_variant_check_pipeline(exp, v, err);
    return st;
}

gt_status gt_experiment_make_variant(const gt_experiment *exp, const char *name, const cJSON *knobs,
                                     gt_sweep_variant *v, gt_error *err)
{
    memset(v, 0, sizeof *v);
    if (!name || !*name || strlen(name) >= GT_NAME_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "variant name '%.40s': empty or longer than %d bytes",
                            name ? name : "", GT_NAME_MAX - 1);
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->where, sizeof v->where, "%s (proposed)", exp->path);
    gt_knob_set set;
    gt_knob_set_init(&set);
    gt_status st = knobs ? gt_knob_set_add_object(&set, knobs, err) : GT_OK;
    if (st == GT_OK)
        st = canonical_knobs(v, &set, err);
    gt_knob_set_free(&set);
    if (st == GT_OK)
        st = read_sets(exp->config, gt_config_get(exp->config, "set"), "set", &v->sets, &v->n_sets, err);
    if (st == GT_OK && knobs && !(v->knobs = cJSON_Duplicate(knobs, 1)))
        st = out_of_memory(err);
    if (st == GT_OK && v->knobs)
        st = knob_assignments(v, err);
    if (st == GT_OK)
        st = exp_variant_check_pipeline(exp, v, err);
    if (st != GT_OK)
        variant_free(v);
    return st;
}

static gt_status read_variants(gt_experiment *exp, gt_error *err)
{
    const cJSON *list = gt_config_get(exp->config, "variants");
    int n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n == 0)
        return gt_config_error(exp->config, list, "variants", err, GT_ERR_INVALID,
                               "expected a list of variants, e.g. [{name: V0}, {name: V8, knobs: {seq_trim: 64}}]");
    if (n > GT_EXPERIMENT_MAX_VARIANTS)
        return gt_config_error(exp->config, list, "variants", err, GT_ERR_INVALID, "%d variants; at most %d", n,
                               GT_EXPERIMENT_MAX_VARIANTS);
    exp->variants = calloc((size_t)n, sizeof *exp->variants);
    if (!exp->variants)
        return out_of_memory(err);
    const cJSON *node;
    cJSON_ArrayForEach(node, list) {
        gt_status st = read_variant(exp, node, exp->n_variants, &exp->variants[exp->n_variants], err);
        exp->n_variants++;
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

static gt_status read_pipeline(gt_experiment *exp, gt_error *err)
{
    gt_status st = gt_config_path(exp->config, "pipeline", NULL, &exp->pipeline, err);
    if (st != GT_OK || !exp->pipeline)
        return st;
    const cJSON *node = gt_config_get(exp->config, "pipeline");
    if (access(exp->pipeline, R_OK) != 0)
        return gt_config_error(exp->config, node, "pipeline", err, GT_ERR_NOT_FOUND,
                               "%s: %s — the path is relative to the experiment file", exp->pipeline,
                               strerror(errno));
    /* The base pipeline with the common overrides: where the idle measurement
     * and external commands take their meter from. */
    char **sets = NULL;
    size_t n_sets = 0;
    gt_pipeline_spec spec;
    st = read_sets(exp->config, gt_config_get(exp->config, "set"), "set", &sets, &n_sets, err);
    if (st == GT_OK && (st = gt_pipeline_spec_load(exp->pipeline, (const char *const *)sets, n_sets, &spec, err)) ==
                           GT_OK) {
        snprintf(exp->meter, sizeof exp->meter, "%s", spec.meter);
        exp->interval_ms = spec.interval_ms;
        gt_pipeline_spec_free(&spec);
    } else if (st != GT_OK) {
        /* The pipeline file names its own lines; an override is the experiment's. */
        char where[160];
        node_where(exp->config, n_sets ? gt_config_get(exp->config, "set") : node, where, sizeof where);
        gt_error_prefix(err, "%s: %s: ", where, n_sets ? "set" : "pipeline");
    }
    for (size_t i = 0; i < n_sets; i++)
        free(sets[i]);
    free(sets);
    return st;
}

static gt_status read_settings(gt_experiment *exp, gt_error *err)
{
    const gt_config *cfg = exp->config;
    long long repeats = 0, seed = 0; /* read below even when a setting failed */
    const char *order;
    gt_status st = gt_config_int(cfg, "repeats", 1, 1, GT_EXPERIMENT_MAX_REPEATS, &repeats, err);
    if (st == GT_OK)
        st = gt_config_string(cfg, "order", "randomized", &order, err);
    if (st == GT_OK && strcmp(order, "randomized") && strcmp(order, "sequential"))
        return gt_config_error(cfg, gt_config_get(cfg, "order"), "order", err, GT_ERR_INVALID,
                               "\"%s\" is not one of: randomized, sequential", order);
    if (st == GT_OK)
        st = gt_config_int(cfg, "seed", 1, 0, 9007199254740991LL, &seed, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "cooldown_s", 0, 0, 86400, &exp->cooldown_s, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "idle_s", 0, 0, 3600, &exp->idle_s, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "timeout_s", 0, 0, 30 * 86400, &exp->timeout_s, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "thermal_band_c", 0, 0, 50, &exp->thermal_band_c, err);
    exp->repeats = (int)repeats;
    exp->randomized = st == GT_OK && !strcmp(order, "randomized");
    exp->seed = (uint64_t)seed;
    const cJSON *set = gt_config_get(cfg, "set");
    if (st == GT_OK && set && !cJSON_IsNull(set) && !cJSON_IsObject(set))
        return gt_config_error(cfg, set, "set", err, GT_ERR_INVALID,
                               "expected a mapping of pipeline keys to values, e.g. {data.limit: 2000}");
    return st;
}

/* The experiment's name: name:, else the file's name without its extension. */
static gt_status read_name(gt_experiment *exp, gt_error *err)
{
    const char *name;
    gt_status st = gt_config_string(exp->config, "name", NULL, &name, err);
    if (st != GT_OK)
        return st;
    if (name && (!*name || strlen(name) >= GT_NAME_MAX))
        return gt_config_error(exp->config, gt_config_get(exp->config, "name"), "name", err, GT_ERR_INVALID,
                               "1 to %d bytes", GT_NAME_MAX - 1);
    if (name) {
        snprintf(exp->name, sizeof exp->name, "%s", name);
        return GT_OK;
    }
    const char *base = strrchr(exp->path, '/') ? strrchr(exp->path, '/') + 1 : exp->path;
    snprintf(exp->name, sizeof exp->name, "%s", base);
    char *dot = strrchr(exp->name, '.');
    if (dot && dot != exp->name)
        *dot = '\0';
    return GT_OK;
}

static gt_status read_baseline(gt_experiment *exp, gt_error *err)
{
    const char *baseline;
    gt_status st = gt_config_string(exp->config, "baseline", NULL, &baseline, err);
    if (st != GT_OK)
        return st;
    snprintf(exp->baseline, sizeof exp->baseline, "%s", baseline ? baseline : exp->variants[0].name);
    if (gt_experiment_find(exp, exp->baseline))
        return GT_OK;
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < exp->n_variants && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", exp->variants[i].name);
    return gt_config_error(exp->config, gt_config_get(exp->config, "baseline"), "baseline", err, GT_ERR_INVALID,
                           "'%s' is not a variant of this file (variants: %s)", baseline, names);
}

/* The experiment file's text and the pipeline file's: a run measured under
 * one must not be mixed with runs under an edited one. */
static gt_status read_spec_text(gt_experiment *exp, gt_error *err)
{
    char *text = NULL, *pipeline = NULL;
    size_t len = 0, plen = 0;
    gt_status st = gt_read_file(exp->path, GT_CONFIG_MAX_YAML_BYTES, &text, &len, err);
    if (st == GT_OK && exp->pipeline)
        st = gt_read_file(exp->pipeline, GT_CONFIG_MAX_YAML_BYTES, &pipeline, &plen, err);
    if (st == GT_OK) {
        static const char separator[] = "\n# --- pipeline file ---\n";
        exp->spec_text = malloc(len + plen + sizeof separator);
        if (!exp->spec_text)
            st = out_of_memory(err);
        else
            snprintf(exp->spec_text, len + plen + sizeof separator, "%s%s%s", text, pipeline ? separator : "",
                     pipeline ? pipeline : "");
    }
    free(text);
    free(pipeline);
    return st;
}

gt_status gt_experiment_load(const char *path, gt_experiment *exp, gt_error *err)
{
    memset(exp, 0, sizeof *exp);
    snprintf(exp->meter, sizeof exp->meter, "auto");
    exp->interval_ms = 100;
    if (!(exp->path = strdup(path)))
        return out_of_memory(err);
    gt_status st = gt_config_load(path, &exp->config, err);
    if (st == GT_OK)
        st = gt_config_check_keys(exp->config, "", top_keys, err);
    if (st == GT_OK)
        st = read_name(exp, err);
    if (st == GT_OK)
        st = read_settings(exp, err);
    if (st == GT_OK)
        st = read_pipeline(exp, err);
    if (st == GT_OK)
        st = read_variants(exp, err);
    if (st == GT_OK)
        st = read_baseline(exp, err);
    if (st == GT_OK)
        st = read_spec_text(exp, err);
    if (st != GT_OK)
        gt_experiment_free(exp);
    return st;
}
