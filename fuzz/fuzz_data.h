/* Shared by the data set targets (CSV, JSON Lines, JSON array): the first byte
 * of the input picks the reader options (label mapping, id field, tight size
 * limits), the rest is the file. A set that loads must keep the data set's
 * promises (valid UTF-8 texts, labels inside the classes, class counts that add
 * up) and split into parts that partition it. */
#ifndef GREENTUNE_FUZZ_DATA_H
#define GREENTUNE_FUZZ_DATA_H

#include "fuzz.h"
#include "greentune/data.h"

static inline void fuzz_check_dataset(const gt_dataset *ds)
{
    size_t counted = 0;
    for (int c = 0; c < ds->n_classes; c++)
        counted += ds->class_counts[c];
    FUZZ_ASSERT(ds->n > 0 && counted == ds->n);
    for (size_t i = 0; i < ds->n; i++) {
        FUZZ_ASSERT(ds->labels[i] >= 0 && ds->labels[i] < ds->n_classes);
        FUZZ_ASSERT(strlen(ds->texts[i]) <= ds->lengths[i] && ds->ids[i]);
        char *copy = NULL;
        size_t len = 0, replaced = 0;
        gt_error err = {0};
        FUZZ_ASSERT(gt_utf8_sanitize(ds->texts[i], ds->lengths[i], &copy, &len, &replaced, &err) == GT_OK);
        FUZZ_ASSERT(replaced == 0 && len == ds->lengths[i]);
        free(copy);
    }
    double fractions[3] = {0.8, 0.1, 0.1};
    gt_split split;
    gt_error err = {0};
    if (gt_dataset_split(ds, fractions, 7, 0, &split, &err) != GT_OK) {
        fuzz_check_message(err.message);
        return;
    }
    FUZZ_ASSERT(split.train.n + split.val.n + split.test.n == ds->n);
    unsigned char *seen = calloc(ds->n, 1);
    FUZZ_ASSERT(seen);
    const gt_index_set *parts[3] = {&split.train, &split.val, &split.test};
    for (int p = 0; p < 3; p++)
        for (size_t i = 0; i < parts[p]->n; i++) {
            FUZZ_ASSERT(parts[p]->idx[i] < ds->n && !seen[parts[p]->idx[i]]);
            seen[parts[p]->idx[i]] = 1;
        }
    free(seen);
    gt_split_free(&split);
}

static inline void fuzz_dataset(gt_data_format format, const uint8_t *data, size_t size)
{
    static const gt_label_name names[] = {{"ham", 0}, {"spam", 1}, {"other", 2}};
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.format = format;
    opt.path = "fuzz-data";
    unsigned mode = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    if (mode & 1) {
        opt.label_names = names;
        opt.n_label_names = 3;
    }
    if (mode & 2)
        opt.id_field = "id";
    if (mode & 4) {
        opt.max_record_bytes = 64;
        opt.max_field_bytes = 16;
        opt.max_records = 4;
    }
    if (mode & 8)
        opt.n_classes = 3;
    gt_dataset *ds = NULL;
    gt_error err = {0};
    gt_status status = gt_dataset_parse(&ds, &opt, data, size, &err);
    if (status != GT_OK) {
        FUZZ_ASSERT(!ds && err.status == status);
        fuzz_check_message(err.message);
        return;
    }
    fuzz_check_dataset(ds);
    gt_dataset_free(ds);
}

#endif
