/* The data stage: read the data set, split it (stratified by seed, or from
 * files of ids), let the data knobs act on the training part. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

static cJSON *class_counts_json(const gt_dataset *ds, const gt_index_set *set)
{
    cJSON *o = cJSON_CreateObject();
    size_t *counts = calloc((size_t)ds->n_classes, sizeof *counts);
    if (!o || !counts) {
        free(counts);
        return o;
    }
    if (set)
        gt_index_set_class_counts(ds, set, counts);
    for (int c = 0; c < ds->n_classes; c++)
        cJSON_AddNumberToObject(o, ds->class_names[c], (double)(set ? counts[c] : ds->class_counts[c]));
    free(counts);
    return o;
}

static cJSON *split_json(const gt_pipeline_ctx *p)
{
    const gt_index_set *parts[3] = {&p->split.train, &p->split.val, &p->split.test};
    static const char *const names[3] = {"train", "val", "test"};
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < 3; i++) {
        cJSON *part = cJSON_AddObjectToObject(o, names[i]);
        cJSON_AddNumberToObject(part, "samples", (double)parts[i]->n);
        cJSON_AddItemToObject(part, "classes", class_counts_json(p->ds, parts[i]));
    }
    return o;
}

static gt_status split(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    if (s->split_files[0])
        return gt_dataset_split_files(p->ds, (const char *const *)s->split_files, &p->split, err);
    return gt_dataset_split(p->ds, s->split, s->data_seed, s->limit, &p->split, err);
}

gt_status pl_stage_data(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    gt_status st = gt_dataset_load(&p->ds, &s->data, err);
    if (st != GT_OK)
        return st;
    gt_dataset *ds = p->ds;
    if (ds->n_classes > GT_METRICS_MAX_CLASSES)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "%s: %d classes — the pipeline trains classifiers of 2 to %d",
                            ds->source, ds->n_classes, GT_METRICS_MAX_CLASSES);
    if ((st = split(p, err)) != GT_OK)
        return st;
    if (p->split.test.n == 0)
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: the test split is empty (%zu samples after the limit) — raise data.limit or the test "
                            "share of data.split", ds->source, p->split.train.n + p->split.val.n);
    size_t train_before = p->split.train.n;
    if ((st = pl_hooks_run(p, GT_HOOK_DATA, err)) != GT_OK)
        return st;
    if (p->split.train.n == 0)
        return gt_error_set(err, GT_ERR_INVALID, "data: no training samples left (%zu before the data knobs)",
                            train_before);

    cJSON *d = p->data_json;
    cJSON_AddStringToObject(d, "format", gt_data_format_name(ds->format));
    cJSON_AddStringToObject(d, "path", ds->source);
    cJSON_AddNumberToObject(d, "samples", (double)ds->n);
    cJSON_AddItemToObject(d, "classes", class_counts_json(ds, NULL));
    cJSON_AddNumberToObject(d, "limit", (double)s->limit);
    cJSON_AddNumberToObject(d, "seed", (double)s->data_seed);
    cJSON_AddItemToObject(d, "split", split_json(p));
    cJSON_AddNumberToObject(d, "text_bytes", (double)ds->stats.text_bytes);
    cJSON_AddNumberToObject(d, "invalid_utf8", (double)ds->stats.invalid_utf8);
    cJSON_AddNumberToObject(d, "texts_with_invalid_utf8", (double)ds->stats.texts_with_invalid_utf8);
    cJSON_AddNumberToObject(d, "empty_texts", (double)ds->stats.empty_texts);
    if (ds->stats.invalid_utf8)
        pl_warn(p, "%s: %zu invalid UTF-8 sequence%s in %zu text%s replaced with U+FFFD", ds->source,
                ds->stats.invalid_utf8, ds->stats.invalid_utf8 == 1 ? "" : "s", ds->stats.texts_with_invalid_utf8,
                ds->stats.texts_with_invalid_utf8 == 1 ? "" : "s");
    if (ds->stats.empty_texts)
        pl_warn(p, "%s: %zu empty text%s (they are classified from [CLS] [SEP] alone)", ds->source,
                ds->stats.empty_texts, ds->stats.empty_texts == 1 ? "" : "s");
    pl_log(p, "data: %zu samples in %d classes from %s; train %zu, validation %zu, test %zu", ds->n, ds->n_classes,
           ds->source, p->split.train.n, p->split.val.n, p->split.test.n);
    return GT_OK;
}
