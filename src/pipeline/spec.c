/* The pipeline file: design.md's YAML, read into a gt_pipeline_spec. Every key
 * is checked (an unknown one names the closest known key), every value typed
 * and ranged, every path resolved against the file's directory — all before
 * any stage runs, so a typo never costs a training run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/energy.h"
#include "greentune/pipeline.h"

static const char *const top_keys[] = {"name", "description", "data", "tokenizer", "model", "train", "eval",
                                       "system", "knobs", NULL};
static const char *const data_keys[] = {"format", "path", "text_field", "label_field", "id_field", "labels",
                                        "limit", "split", "split_files", "seed", NULL};
static const char *const split_file_keys[] = {"train", "val", "test", NULL};
static const char *const tokenizer_keys[] = {"kind", "path", "vocab_size", "lowercase", "min_frequency",
                                             "train_samples", NULL};
static const char *const model_keys[] = {"arch", "layers", "dim", "heads", "ffn", "max_len", "from", "dropout",
                                         "activation", "pooling", NULL};
/* Keys that describe a model built from scratch: a model directory's
 * config.json decides them instead. */
static const char *const scratch_model_keys[] = {"arch", "layers", "dim", "heads", "ffn", "activation", "pooling",
                                                 NULL};
static const char *const train_keys[] = {"epochs", "batch", "lr", "warmup", "weight_decay", "seed", "optimizer",
                                         "schedule", "clip", "max_steps", "data_parallel", NULL};
static const char *const eval_keys[] = {"batch", NULL};
static const char *const system_keys[] = {"threads", "meter", "interval_ms", "device", NULL};

static const struct {
    const char *path;
    const char *const *keys;
} sections[] = {
    {"", top_keys},           {"data", data_keys},   {"data.split_files", split_file_keys},
    {"tokenizer", tokenizer_keys}, {"model", model_keys}, {"train", train_keys},
    {"eval", eval_keys},      {"system", system_keys},
};

void gt_pipeline_spec_free(gt_pipeline_spec *spec)
{
    gt_config_free(spec->config);
    free(spec->data_path);
    free(spec->labels);
    for (int i = 0; i < 3; i++)
        free(spec->split_files[i]);
    free(spec->tokenizer_path);
    free(spec->model_from);
    memset(spec, 0, sizeof *spec);
}

/* A string that must be one of choices (NULL-terminated). */
static gt_status choice(const gt_config *cfg, const char *path, const char *def, const char *const *choices,
                        const char **out, gt_error *err)
{
    gt_status st = gt_config_string(cfg, path, def, out, err);
    if (st != GT_OK)
        return st;
    for (const char *const *c = choices; *c; c++)
        if (!strcmp(*out, *c))
            return GT_OK;
    char list[160] = "";
    size_t used = 0;
    for (const char *const *c = choices; *c && used < sizeof list; c++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", c == choices ? "" : ", ", *c);
    return gt_config_error(cfg, gt_config_get(cfg, path), path, err, GT_ERR_INVALID, "\"%s\" is not one of: %s",
                           *out, list);
}

static gt_status int_in(const gt_config *cfg, const char *path, long long def, long long min, long long max, int *out,
                        gt_error *err)
{
    long long v;
    gt_status st = gt_config_int(cfg, path, def, min, max, &v, err);
    *out = (int)v;
    return st;
}

static gt_status size_in(const gt_config *cfg, const char *path, long long def, long long min, long long max,
                         size_t *out, gt_error *err)
{
    long long v;
    gt_status st = gt_config_int(cfg, path, def, min, max, &v, err);
    *out = (size_t)v;
    return st;
}

static gt_status seed_at(const gt_config *cfg, const char *path, uint64_t *out, gt_error *err)
{
    long long v;
    gt_status st = gt_config_int(cfg, path, 1, 0, 9007199254740991LL, &v, err);
    *out = (uint64_t)v;
    return st;
}

/* data.split: three shares that add up to 1. */
static gt_status read_split(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    const cJSON *split = gt_config_get(cfg, "data.split");
    spec->split[0] = 0.8, spec->split[1] = 0.1, spec->split[2] = 0.1;
    if (!split || cJSON_IsNull(split))
        return GT_OK;
    if (!cJSON_IsArray(split) || cJSON_GetArraySize(split) != 3)
        return gt_config_error(cfg, split, "data.split", err, GT_ERR_INVALID,
                               "expected three shares [train, validation, test], e.g. [0.8, 0.1, 0.1]");
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "data.split.%d", i);
        gt_status st = gt_config_number(cfg, key, 0, 0, 1, &spec->split[i], err);
        if (st != GT_OK)
            return st;
        sum += spec->split[i];
    }
    if (fabs(sum - 1) > 1e-6)
        return gt_config_error(cfg, split, "data.split", err, GT_ERR_INVALID, "the shares add up to %g, not 1", sum);
    if (spec->split[0] <= 0 || spec->split[2] <= 0)
        return gt_config_error(cfg, split, "data.split", err, GT_ERR_INVALID,
                               "the training and test shares must be above 0");
    return GT_OK;
}

/* data.labels: {name: class, ...} for string labels and directory names. */
static gt_status read_labels(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    const cJSON *labels = gt_config_get(cfg, "data.labels");
    if (!labels || cJSON_IsNull(labels))
        return GT_OK;
    int n = cJSON_GetArraySize(labels);
    if (!cJSON_IsObject(labels) || n == 0)
        return gt_config_error(cfg, labels, "data.labels", err, GT_ERR_INVALID,
                               "expected a mapping of label names to classes, e.g. {ham: 0, spam: 1}");
    if (n > GT_METRICS_MAX_CLASSES * 64)
        return gt_config_error(cfg, labels, "data.labels", err, GT_ERR_INVALID, "%d names is too many", n);
    spec->labels = calloc((size_t)n, sizeof *spec->labels);
    if (!spec->labels)
        return gt_error_set(err, GT_ERR_NOMEM, "data.labels: out of memory");
    for (const cJSON *c = labels->child; c; c = c->next) {
        char key[320];
        snprintf(key, sizeof key, "data.labels.%s", c->string);
        if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) || c->valuedouble < 0 ||
            c->valuedouble >= GT_METRICS_MAX_CLASSES)
            return gt_config_error(cfg, c, key, err, GT_ERR_INVALID, "expected a class number from 0 to %d",
                                   GT_METRICS_MAX_CLASSES - 1);
        spec->labels[spec->n_labels++] = (gt_label_name){c->string, (int)c->valuedouble};
    }
    spec->data.label_names = spec->labels;
    spec->data.n_label_names = spec->n_labels;
    return GT_OK;
}

static gt_status read_data(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    gt_data_options_init(&spec->data);
    const char *format;
    gt_status st = choice(cfg, "data.format", "spamassassin",
                          (const char *const[]){"spamassassin", "csv", "jsonl", "json", "textdir", "dir", NULL},
                          &format, err);
    if (st == GT_OK)
        st = gt_data_format_parse(format, &spec->data.format, err);
    if (st == GT_OK)
        st = gt_config_path(cfg, "data.path", NULL, &spec->data_path, err);
    if (st == GT_OK && !spec->data_path)
        return gt_config_error(cfg, NULL, "data.path", err, GT_ERR_INVALID,
                               "missing — the data set to read (e.g. ../data/spamassassin after `make data`)");
    spec->data.path = spec->data_path;
    if (st == GT_OK)
        st = gt_config_string(cfg, "data.text_field", spec->data.text_field, &spec->data.text_field, err);
    if (st == GT_OK)
        st = gt_config_string(cfg, "data.label_field", spec->data.label_field, &spec->data.label_field, err);
    if (st == GT_OK)
        st = gt_config_string(cfg, "data.id_field", NULL, &spec->data.id_field, err);
    if (st == GT_OK)
        st = read_labels(spec, err);
    if (st == GT_OK)
        st = size_in(cfg, "data.limit", 0, 0, 1000000000LL, &spec->limit, err);
    if (st == GT_OK)
        st = read_split(spec, err);
    if (st == GT_OK)
        st = seed_at(cfg, "data.seed", &spec->data_seed, err);
    static const char *const parts[3] = {"data.split_files.train", "data.split_files.val", "data.split_files.test"};
    for (int i = 0; i < 3 && st == GT_OK; i++)
        st = gt_config_path(cfg, parts[i], NULL, &spec->split_files[i], err);
    const cJSON *files = gt_config_get(cfg, "data.split_files");
    if (st == GT_OK && files && (!spec->split_files[0] || !spec->split_files[2]))
        return gt_config_error(cfg, files, "data.split_files", err, GT_ERR_INVALID,
                               "needs train and test files of sample ids (val is optional)");
    if (st == GT_OK && files && (gt_config_get(cfg, "data.split") || spec->limit))
        return gt_config_error(cfg, files, "data.split_files", err, GT_ERR_INVALID,
                               "the files decide the split: remove data.split and data.limit");
    return st;
}

static gt_status read_tokenizer(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    gt_wordpiece_options_init(&spec->wordpiece);
    const char *kind;
    long long vocab;
    gt_status st = choice(cfg, "tokenizer.kind", "wordpiece", (const char *const[]){"wordpiece", NULL}, &kind, err);
    if (st == GT_OK)
        st = gt_config_path(cfg, "tokenizer.path", NULL, &spec->tokenizer_path, err);
    if (st == GT_OK)
        st = gt_config_int(cfg, "tokenizer.vocab_size", 8192, 16, 1000000, &vocab, err);
    spec->wordpiece.vocab_size = (size_t)vocab;
    if (st == GT_OK)
        st = gt_config_bool(cfg, "tokenizer.lowercase", 1, &spec->wordpiece.lowercase, err);
    if (st == GT_OK)
        st = size_in(cfg, "tokenizer.min_frequency", 2, 1, 1000000000LL, &spec->wordpiece.min_frequency, err);
    if (st == GT_OK)
        st = size_in(cfg, "tokenizer.train_samples", 0, 0, 1000000000LL, &spec->tokenizer_samples, err);
    if (st == GT_OK && spec->tokenizer_path) {
        /* A loaded tokenizer is used as it is: training settings beside it would be ignored silently. */
        static const char *const training[] = {"tokenizer.kind", "tokenizer.vocab_size", "tokenizer.lowercase",
                                               "tokenizer.min_frequency", "tokenizer.train_samples", NULL};
        for (const char *const *k = training; *k; k++)
            if (gt_config_get(cfg, *k))
                return gt_config_error(cfg, gt_config_get(cfg, *k), *k, err, GT_ERR_INVALID,
                                       "is for training a tokenizer; tokenizer.path loads one — remove one of them");
    }
    return st;
}

static gt_status read_model(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    gt_status st = gt_config_path(cfg, "model.from", NULL, &spec->model_from, err);
    if (st == GT_OK && spec->model_from) {
        for (const char *const *k = scratch_model_keys; *k; k++) {
            char key[64];
            snprintf(key, sizeof key, "model.%s", *k);
            if (gt_config_get(cfg, key))
                return gt_config_error(cfg, gt_config_get(cfg, key), key, err, GT_ERR_INVALID,
                                       "the model directory's config.json decides it with model.from — remove it");
        }
        if (gt_config_get(cfg, "tokenizer.vocab_size") || gt_config_get(cfg, "tokenizer.kind"))
            return gt_config_error(cfg, gt_config_get(cfg, "tokenizer"), "tokenizer", err, GT_ERR_INVALID,
                                   "a model from a directory uses that directory's tokenizer.json (or tokenizer.path), "
                                   "not a newly trained one");
    }
    if (st == GT_OK)
        st = choice(cfg, "model.arch", "bert", (const char *const[]){"bert", "modernbert", NULL}, &spec->arch, err);
    if (st == GT_OK)
        st = int_in(cfg, "model.layers", 4, 1, 128, &spec->layers, err);
    if (st == GT_OK)
        st = int_in(cfg, "model.dim", 256, 8, 16384, &spec->dim, err);
    if (st == GT_OK)
        st = int_in(cfg, "model.heads", 4, 1, 256, &spec->heads, err);
    if (st == GT_OK)
        st = int_in(cfg, "model.ffn", 4LL * spec->dim, 1, 65536, &spec->ffn, err);
    if (st == GT_OK)
        st = int_in(cfg, "model.max_len", spec->model_from ? 0 : 256, 0, 65536, &spec->max_len, err);
    if (st == GT_OK && !spec->model_from && spec->max_len < 8)
        return gt_config_error(cfg, gt_config_get(cfg, "model.max_len"), "model.max_len", err, GT_ERR_INVALID,
                               "%d tokens is too few (8 or more: [CLS] and [SEP] take two)", spec->max_len);
    if (st == GT_OK && spec->dim % spec->heads)
        return gt_config_error(cfg, gt_config_get(cfg, "model.heads"), "model.heads", err, GT_ERR_INVALID,
                               "%d heads do not divide dim %d", spec->heads, spec->dim);
    if (st == GT_OK)
        st = gt_config_number(cfg, "model.dropout", -1, 0, 0.9, &spec->dropout, err);
    if (st == GT_OK)
        st = gt_config_string(cfg, "model.activation", NULL, &spec->activation, err);
    if (st == GT_OK)
        st = gt_config_string(cfg, "model.pooling", NULL, &spec->pooling, err);
    if (st == GT_OK && spec->pooling && strcmp(spec->pooling, "cls") && strcmp(spec->pooling, "mean"))
        return gt_config_error(cfg, gt_config_get(cfg, "model.pooling"), "model.pooling", err, GT_ERR_INVALID,
                               "\"%s\" is not one of: cls, mean", spec->pooling);
    return st;
}

static gt_status read_train(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    gt_status st = int_in(cfg, "train.epochs", 1, 0, 100000, &spec->epochs, err);
    if (st == GT_OK)
        st = size_in(cfg, "train.batch", 16, 1, 65536, &spec->batch, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "train.lr", 5e-4, 0, 10, &spec->lr, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "train.warmup", 0.1, 0, 1, &spec->warmup, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "train.weight_decay", 0.01, 0, 10, &spec->weight_decay, err);
    if (st == GT_OK)
        st = seed_at(cfg, "train.seed", &spec->seed, err);
    if (st == GT_OK)
        st = choice(cfg, "train.optimizer", "adamw",
                    (const char *const[]){"adamw", "adamw8bit", "sgd", "adafactor", NULL}, &spec->optimizer, err);
    if (st == GT_OK)
        st = choice(cfg, "train.schedule", "linear", (const char *const[]){"linear", "cosine", "constant", NULL},
                    &spec->schedule, err);
    if (st == GT_OK)
        st = gt_config_number(cfg, "train.clip", 1.0, 0, 1e6, &spec->clip, err);
    long long steps = 0;
    if (st == GT_OK)
        st = gt_config_int(cfg, "train.max_steps", 0, 0, 1000000000LL, &steps, err);
    spec->max_steps = (long)steps;
    /* auto: data-parallel when started as several MPI ranks (docs/cluster.md). */
    const cJSON *dp = gt_config_get(cfg, "train.data_parallel");
    spec->data_parallel = cJSON_IsBool(dp) ? cJSON_IsTrue(dp) : -1;
    if (st == GT_OK && dp && !cJSON_IsBool(dp) && !(cJSON_IsString(dp) && !strcmp(dp->valuestring, "auto")))
        return gt_config_error(cfg, dp, "train.data_parallel", err, GT_ERR_INVALID,
                               "expected true, false or auto (data-parallel when started by mpirun or srun)");
    return st;
}

static gt_status read_system(gt_pipeline_spec *spec, gt_error *err)
{
    const gt_config *cfg = spec->config;
    gt_status st = size_in(cfg, "eval.batch", 64, 1, 65536, &spec->eval_batch, err);
    if (st == GT_OK)
        st = int_in(cfg, "system.threads", 0, 0, 1024, &spec->threads, err);
    if (st == GT_OK)
        st = gt_config_string(cfg, "system.meter", "auto", &spec->meter, err);
    gt_error meter = {0};
    if (st == GT_OK && gt_meter_spec_check(spec->meter, &meter) != GT_OK)
        return gt_config_error(cfg, gt_config_get(cfg, "system.meter"), "system.meter", err, GT_ERR_INVALID, "%s",
                               meter.message);
    if (st == GT_OK)
        st = int_in(cfg, "system.interval_ms", 100, 0, 60000, &spec->interval_ms, err);
    if (st == GT_OK)
        st = choice(cfg, "system.device", "cpu", (const char *const[]){"cpu", "cuda", NULL}, &spec->device, err);
    if (st == GT_OK) {
        spec->knobs = gt_config_get(cfg, "knobs");
        if (cJSON_IsNull(spec->knobs))
            spec->knobs = NULL;
        if (spec->knobs && !cJSON_IsObject(spec->knobs))
            return gt_config_error(cfg, spec->knobs, "knobs", err, GT_ERR_INVALID,
                                   "expected a mapping of knob names to settings, e.g. {seq_trim: 128}");
    }
    return st;
}

gt_status gt_pipeline_spec_load(const char *path, const char *const *sets, size_t n_sets, gt_pipeline_spec *spec,
                                gt_error *err)
{
    memset(spec, 0, sizeof *spec);
    gt_status st = gt_config_load(path, &spec->config, err);
    for (size_t i = 0; i < n_sets && st == GT_OK; i++)
        st = gt_config_set(spec->config, sets[i], err);
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && st == GT_OK; i++)
        st = gt_config_check_keys(spec->config, sections[i].path, sections[i].keys, err);
    if (st == GT_OK)
        st = read_data(spec, err);
    if (st == GT_OK)
        st = read_tokenizer(spec, err);
    if (st == GT_OK)
        st = read_model(spec, err);
    if (st == GT_OK)
        st = read_train(spec, err);
    if (st == GT_OK)
        st = read_system(spec, err);
    if (st != GT_OK)
        gt_pipeline_spec_free(spec);
    return st;
}

gt_status gt_pipeline_spec_knobs(const gt_pipeline_spec *spec, const char *const *knob_specs, size_t n,
                                 gt_knob_set *set, gt_error *err)
{
    /* Member by member, so a bad knob in the file is named with its line. */
    for (const cJSON *k = spec->knobs ? spec->knobs->child : NULL; k; k = k->next) {
        gt_error inner = {0};
        if (gt_knob_set_add_json(set, k->string, k, &inner) != GT_OK) {
            char key[128];
            snprintf(key, sizeof key, "knobs.%.100s", k->string);
            return gt_config_error(spec->config, k, key, err, inner.status, "%s", inner.message);
        }
    }
    gt_status st = GT_OK;
    for (size_t i = 0; i < n && st == GT_OK; i++)
        st = gt_knob_set_add_spec(set, knob_specs[i], err);
    return st;
}
