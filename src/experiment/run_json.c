/* Reading a run's JSON record (design.md's `greentune run` contract, or a
 * `greentune measure` record) into the form the store writes. Every number is
 * checked: a finite value in range, or a clear line naming the key. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* Reads obj[key] as a number in [lo, hi] into *out. Absent: NAN, and an error
 * only when required. */
static gt_status read_number(const cJSON *obj, const char *key, int required, double lo, double hi,
                             const char *where, double *out, gt_error *err)
{
    *out = NAN;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item || cJSON_IsNull(item)) {
        if (required)
            return gt_error_set(err, GT_ERR_INVALID, "run JSON: %s%s: missing", where, key);
        return GT_OK;
    }
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble < lo || item->valuedouble > hi)
        return gt_error_set(err, GT_ERR_INVALID, "run JSON: %s%s: expected a number in [%g, %g]", where, key, lo,
                            hi);
    *out = item->valuedouble;
    return GT_OK;
}

/* energy_j and duration_s (both required, >= 0) of a stage or the total. */
static gt_status read_energy_time(const cJSON *obj, const char *where, double *energy_j, double *duration_s,
                                  gt_error *err)
{
    gt_status st = read_number(obj, "energy_j", 1, 0, STORE_MAX_ENERGY_J, where, energy_j, err);
    if (st == GT_OK)
        st = read_number(obj, "duration_s", 1, 0, STORE_MAX_DURATION_S, where, duration_s, err);
    return st;
}

/* Optional {"cpu_j", "dram_j", "gpu_j"}. */
static gt_status read_components(const cJSON *obj, const char *where, double *cpu, double *dram, double *gpu,
                                 gt_error *err)
{
    *cpu = *dram = *gpu = NAN;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "components");
    if (!c)
        return GT_OK;
    char inner[96];
    snprintf(inner, sizeof inner, "%scomponents.", where);
    gt_status st = read_number(c, "cpu_j", 0, 0, STORE_MAX_ENERGY_J, inner, cpu, err);
    if (st == GT_OK)
        st = read_number(c, "dram_j", 0, 0, STORE_MAX_ENERGY_J, inner, dram, err);
    if (st == GT_OK)
        st = read_number(c, "gpu_j", 0, 0, STORE_MAX_ENERGY_J, inner, gpu, err);
    return st;
}

static gt_status read_stages(store_run_input *in, const cJSON *stages, const char *key, gt_error *err)
{
    if (!cJSON_IsObject(stages))
        return gt_error_set(err, GT_ERR_INVALID, "run JSON: \"%s\": expected an object of stages", key);
    const cJSON *stage;
    cJSON_ArrayForEach(stage, stages) {
        if (in->n_stages == STORE_MAX_STAGES)
            return gt_error_set(err, GT_ERR_INVALID, "run JSON: \"%s\": more than %d stages", key,
                                STORE_MAX_STAGES);
        if (!stage->string || !*stage->string || strlen(stage->string) >= sizeof in->stages[0].name)
            return gt_error_set(err, GT_ERR_INVALID, "run JSON: \"%s\": a stage name is empty or too long", key);
        store_stage_input *s = &in->stages[in->n_stages++];
        snprintf(s->name, sizeof s->name, "%s", stage->string);
        char where[96];
        snprintf(where, sizeof where, "%s.%s.", key, s->name);
        if (!cJSON_IsObject(stage))
            return gt_error_set(err, GT_ERR_INVALID, "run JSON: %s: expected an object", where);
        gt_status st = read_energy_time(stage, where, &s->energy_j, &s->duration_s, err);
        if (st == GT_OK)
            st = read_components(stage, where, &s->cpu_j, &s->dram_j, &s->gpu_j, err);
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

/* The total: "total" (run), top-level energy_j/duration_s (measure), or the
 * sum of the stages. */
static gt_status read_total(store_run_input *in, const cJSON *run, gt_error *err)
{
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(run, "total");
    if (total) {
        if (!cJSON_IsObject(total))
            return gt_error_set(err, GT_ERR_INVALID, "run JSON: \"total\": expected an object");
        gt_status st = read_energy_time(total, "total.", &in->energy_j, &in->duration_s, err);
        if (st == GT_OK)
            st = read_components(total, "total.", &in->cpu_j, &in->dram_j, &in->gpu_j, err);
        if (st != GT_OK || !isnan(in->cpu_j) || !isnan(in->dram_j) || !isnan(in->gpu_j))
            return st;
        return read_components(run, "", &in->cpu_j, &in->dram_j, &in->gpu_j, err);
    }
    if (cJSON_GetObjectItemCaseSensitive(run, "energy_j")) {
        gt_status st = read_energy_time(run, "", &in->energy_j, &in->duration_s, err);
        return st == GT_OK ? read_components(run, "", &in->cpu_j, &in->dram_j, &in->gpu_j, err) : st;
    }
    if (in->n_stages == 0)
        return gt_error_set(err, GT_ERR_INVALID, "run JSON: no \"total\" and no stages — nothing to store");
    in->energy_j = in->duration_s = 0;
    for (size_t i = 0; i < in->n_stages; i++) {
        in->energy_j += in->stages[i].energy_j;
        in->duration_s += in->stages[i].duration_s;
    }
    in->cpu_j = in->dram_j = in->gpu_j = NAN;
    return GT_OK;
}

/* A square matrix of counts, at most GT_MAX_CLASSES wide. */
static int valid_confusion(const cJSON *m)
{
    int n = cJSON_GetArraySize(m);
    if (!cJSON_IsArray(m) || n < 1 || n > GT_MAX_CLASSES)
        return 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, m) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != n)
            return 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row) {
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
                v->valuedouble != floor(v->valuedouble))
                return 0;
        }
    }
    return 1;
}

int store_parse_confusion(const char *json, long matrix[GT_MAX_CLASSES][GT_MAX_CLASSES])
{
    if (!json)
        return 0;
    cJSON *m = cJSON_Parse(json);
    int n = m && valid_confusion(m) ? cJSON_GetArraySize(m) : 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            matrix[i][j] = (long)cJSON_GetArrayItem(cJSON_GetArrayItem(m, i), j)->valuedouble;
    cJSON_Delete(m);
    return n;
}

static gt_status read_metrics(store_run_input *in, const cJSON *run, gt_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(run, "metrics");
    if (!m || cJSON_IsNull(m))
        return GT_OK;
    if (!cJSON_IsObject(m))
        return gt_error_set(err, GT_ERR_INVALID, "run JSON: \"metrics\": expected an object");
    in->has_metrics = 1;
    struct {
        const char *key;
        double lo, *out;
    } fields[] = {
        {"accuracy", 0, &in->accuracy}, {"precision", 0, &in->precision}, {"recall", 0, &in->recall},
        {"f1", 0, &in->f1},             {"f1_weighted", 0, &in->f1_weighted}, {"mcc", -1, &in->mcc},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        gt_status st = read_number(m, fields[i].key, 0, fields[i].lo, 1, "metrics.", fields[i].out, err);
        if (st != GT_OK)
            return st;
    }
    const cJSON *confusion = cJSON_GetObjectItemCaseSensitive(m, "confusion");
    if (confusion) {
        if (!valid_confusion(confusion))
            return gt_error_set(err, GT_ERR_INVALID,
                                "run JSON: metrics.confusion: expected a square matrix of counts, at most %d x %d",
                                GT_MAX_CLASSES, GT_MAX_CLASSES);
        in->confusion_json = cJSON_PrintUnformatted(confusion);
    }
    return GT_OK;
}

static void read_machine(store_run_input *in, const cJSON *run)
{
    gt_machine_read(&in->machine);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(run, "machine");
    if (!cJSON_IsObject(m))
        return;
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(m, "hostname");
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(m, "cpu_model");
    const cJSON *cores = cJSON_GetObjectItemCaseSensitive(m, "cores");
    if (cJSON_IsString(host))
        snprintf(in->machine.hostname, sizeof in->machine.hostname, "%s", host->valuestring);
    if (cJSON_IsString(cpu))
        snprintf(in->machine.cpu_model, sizeof in->machine.cpu_model, "%s", cpu->valuestring);
    if (cJSON_IsNumber(cores) && cores->valuedouble >= 0 && cores->valuedouble < 1e6)
        in->machine.cores = (int)cores->valuedouble;
}

/* The source of every energy number: "meter" and "estimated" are required. */
static gt_status read_meter(store_run_input *in, const cJSON *run, gt_error *err)
{
    const cJSON *meter = cJSON_GetObjectItemCaseSensitive(run, "meter");
    const cJSON *estimated = cJSON_GetObjectItemCaseSensitive(run, "estimated");
    if (!cJSON_IsString(meter) || !*meter->valuestring || strlen(meter->valuestring) >= sizeof in->meter)
        return gt_error_set(err, GT_ERR_INVALID,
                            "run JSON: \"meter\": missing or not a short string — every energy number needs "
                            "its source");
    if (!cJSON_IsBool(estimated))
        return gt_error_set(err, GT_ERR_INVALID,
                            "run JSON: \"estimated\": missing or not true/false — every energy number must say "
                            "whether it is estimated");
    snprintf(in->meter, sizeof in->meter, "%s", meter->valuestring);
    in->estimated = cJSON_IsTrue(estimated);
    return GT_OK;
}

static gt_status print_optional(const cJSON *run, const char *key, int want_array, char **out, gt_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(run, key);
    if (!item || cJSON_IsNull(item))
        return GT_OK;
    if (want_array ? !cJSON_IsArray(item) : !cJSON_IsObject(item))
        return gt_error_set(err, GT_ERR_INVALID, "run JSON: \"%s\": expected %s", key,
                            want_array ? "an array" : "an object");
    *out = cJSON_PrintUnformatted(item);
    return *out ? GT_OK : gt_error_set(err, GT_ERR_NOMEM, "run JSON: \"%s\": out of memory", key);
}

gt_status store_run_input_parse(store_run_input *in, const cJSON *run, gt_error *err)
{
    memset(in, 0, sizeof *in);
    in->accuracy = in->precision = in->recall = in->f1 = in->f1_weighted = in->mcc = NAN;
    if (!cJSON_IsObject(run))
        return gt_error_set(err, GT_ERR_INVALID, "run JSON: expected an object");
    gt_status st = read_meter(in, run, err);
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(run, "stages");
    const char *stages_key = "stages";
    if (!stages) {
        stages = cJSON_GetObjectItemCaseSensitive(run, "tasks");
        stages_key = "tasks";
    }
    if (st == GT_OK && stages)
        st = read_stages(in, stages, stages_key, err);
    if (st == GT_OK)
        st = read_total(in, run, err);
    if (st == GT_OK)
        st = read_metrics(in, run, err);
    if (st == GT_OK)
        st = print_optional(run, "knobs", 1, &in->knobs_json, err);
    if (st == GT_OK)
        st = print_optional(run, "model", 0, &in->model_json, err);
    if (st == GT_OK) {
        read_machine(in, run);
        in->result_json = cJSON_PrintUnformatted(run);
        if (!in->result_json)
            st = gt_error_set(err, GT_ERR_NOMEM, "run JSON: out of memory");
        else if (strlen(in->result_json) > STORE_MAX_JSON)
            st = gt_error_set(err, GT_ERR_NOMEM, "run JSON: larger than the %u-byte limit of a stored run",
                              STORE_MAX_JSON);
    }
    if (st != GT_OK)
        store_run_input_free(in);
    return st;
}

void store_run_input_free(store_run_input *in)
{
    free(in->confusion_json);
    free(in->knobs_json);
    free(in->model_json);
    free(in->result_json);
    in->confusion_json = in->knobs_json = in->model_json = in->result_json = NULL;
}
