/* Train / validation / test splits: stratified by class and reproducible from a
 * seed, or read from files of sample ids; limit keeps a stratified subset. */
#include "data/data_internal.h"
#include "greentune/data.h"
#include "greentune/fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_FILE_MAX ((size_t)1 << 30)

/* Splits total into parts proportional to shares (which sum to 1) by largest
 * remainders: each part is the floor or the ceiling of its exact share, so it
 * is within one of it, and the parts add up to total. */
static void apportion(size_t total, const double *shares, size_t k, size_t *out, double *remainder)
{
    size_t given = 0;
    for (size_t i = 0; i < k; i++) {
        double exact = (double)total * shares[i];
        out[i] = (size_t)floor(exact + 1e-9);
        if (out[i] > total)
            out[i] = total;
        remainder[i] = exact - (double)out[i];
        given += out[i];
    }
    while (given < total) {
        size_t best = 0;
        for (size_t i = 1; i < k; i++)
            if (remainder[i] > remainder[best] + 1e-12)
                best = i;
        out[best]++;
        remainder[best] = -1.0;
        given++;
    }
    while (given > total) {  /* only through rounding of shares that sum to slightly over 1 */
        for (size_t i = k; i-- > 0;)
            if (out[i] && given > total) {
                out[i]--;
                given--;
            }
    }
}

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void sort_set(gt_index_set *set)
{
    if (set->n > 1)
        qsort(set->idx, set->n, sizeof *set->idx, compare_size);
}

static uint64_t class_seed(uint64_t seed, int c, uint64_t purpose)
{
    return seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(c + 1)) ^ (purpose << 56);
}

/* The members of set, by class: by_class[c] holds counts[c] indices, in order. */
static gt_status group_by_class(const gt_dataset *ds, const gt_index_set *set, size_t ***by_class, size_t **counts,
                                gt_error *err)
{
    size_t nc = (size_t)ds->n_classes;
    *counts = calloc(nc, sizeof **counts);
    *by_class = calloc(nc, sizeof **by_class);
    if (!*counts || !*by_class)
        goto nomem;
    gt_index_set_class_counts(ds, set, *counts);
    for (size_t c = 0; c < nc; c++)
        if ((*counts)[c] && !((*by_class)[c] = malloc((*counts)[c] * sizeof(size_t))))
            goto nomem;
    size_t *fill = calloc(nc, sizeof *fill);
    if (!fill)
        goto nomem;
    for (size_t i = 0; i < set->n; i++) {
        int c = ds->labels[set->idx[i]];
        (*by_class)[c][fill[c]++] = set->idx[i];
    }
    free(fill);
    return GT_OK;
nomem:
    if (*by_class)
        for (size_t c = 0; c < nc; c++)
            free((*by_class)[c]);
    free(*by_class);
    free(*counts);
    *by_class = NULL;
    *counts = NULL;
    return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory splitting", ds->source);
}

static void free_groups(const gt_dataset *ds, size_t **by_class, size_t *counts)
{
    for (int c = 0; by_class && c < ds->n_classes; c++)
        free(by_class[c]);
    free(by_class);
    free(counts);
}

gt_status gt_dataset_stratified_subset(const gt_dataset *ds, const gt_index_set *from, size_t k, uint64_t seed,
                                       gt_index_set *out, gt_error *err)
{
    memset(out, 0, sizeof *out);
    if (k > from->n)
        k = from->n;
    out->idx = malloc((k ? k : 1) * sizeof *out->idx);
    if (!out->idx)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    size_t **by_class, *counts;
    gt_status status = group_by_class(ds, from, &by_class, &counts, err);
    if (status != GT_OK) {
        gt_index_set_free(out);
        return status;
    }
    size_t nc = (size_t)ds->n_classes, present = 0;
    double *shares = malloc(2 * nc * sizeof *shares);
    size_t *quota = malloc(nc * sizeof *quota);
    if (!shares || !quota) {
        free(shares);
        free(quota);
        free_groups(ds, by_class, counts);
        gt_index_set_free(out);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    }
    for (size_t c = 0; c < nc; c++) {
        shares[c] = from->n ? (double)counts[c] / (double)from->n : 0.0;
        present += counts[c] > 0;
    }
    apportion(k, shares, nc, quota, shares + nc);
    /* A rare class must not vanish from a small subset: give it one sample,
     * taken from the class with the largest quota. */
    for (size_t c = 0; c < nc && k >= present; c++) {
        if (counts[c] == 0 || quota[c] > 0)
            continue;
        size_t largest = 0;
        for (size_t j = 1; j < nc; j++)
            if (quota[j] > quota[largest])
                largest = j;
        quota[largest]--;
        quota[c] = 1;
    }
    for (size_t c = 0; c < nc; c++) {
        gt_rng rng;
        gt_rng_seed(&rng, class_seed(seed, (int)c, 1));
        gt_shuffle(by_class[c], counts[c], &rng);
        for (size_t i = 0; i < quota[c] && i < counts[c]; i++)
            out->idx[out->n++] = by_class[c][i];
    }
    sort_set(out);
    free(shares);
    free(quota);
    free_groups(ds, by_class, counts);
    return GT_OK;
}

static gt_status check_train_has_every_class(const gt_dataset *ds, const gt_split *split, const char *how,
                                             gt_error *err)
{
    size_t *counts = calloc((size_t)ds->n_classes, sizeof *counts);
    if (!counts)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    gt_index_set_class_counts(ds, &split->train, counts);
    for (int c = 0; c < ds->n_classes; c++) {
        if (counts[c] == 0) {
            free(counts);
            return gt_error_set(err, GT_ERR_INVALID, "%s: class %d (\"%s\") has no sample in the training split "
                                "(%s) — use more data (a larger limit) or a larger train fraction",
                                ds->source, c, ds->class_names[c], how);
        }
    }
    free(counts);
    return GT_OK;
}

gt_status gt_dataset_split(const gt_dataset *ds, const double fractions[3], uint64_t seed, size_t limit,
                           gt_split *out, gt_error *err)
{
    memset(out, 0, sizeof *out);
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        if (!(fractions[i] >= 0.0 && fractions[i] <= 1.0))
            return gt_error_set(err, GT_ERR_INVALID, "data.split: fraction %g is not in [0, 1]", fractions[i]);
        sum += fractions[i];
    }
    if (fabs(sum - 1.0) > 1e-6 || fractions[0] <= 0.0)
        return gt_error_set(err, GT_ERR_INVALID, "data.split: [%g, %g, %g] must add up to 1 with a train share above "
                            "0 (e.g. [0.8, 0.1, 0.1])", fractions[0], fractions[1], fractions[2]);
    gt_index_set all = {malloc((ds->n ? ds->n : 1) * sizeof(size_t)), ds->n}, pool;
    if (!all.idx)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (size_t i = 0; i < ds->n; i++)
        all.idx[i] = i;
    gt_status status = GT_OK;
    if (limit > 0 && limit < ds->n) {
        status = gt_dataset_stratified_subset(ds, &all, limit, seed, &pool, err);
        gt_index_set_free(&all);
        if (status != GT_OK)
            return status;
    } else {
        pool = all;
    }
    size_t **by_class = NULL, *counts = NULL;
    status = group_by_class(ds, &pool, &by_class, &counts, err);
    gt_index_set *parts[3] = {&out->train, &out->val, &out->test};
    for (int p = 0; p < 3 && status == GT_OK; p++)
        if (!(parts[p]->idx = malloc((pool.n ? pool.n : 1) * sizeof(size_t))))
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (int c = 0; c < ds->n_classes && status == GT_OK; c++) {
        gt_rng rng;
        gt_rng_seed(&rng, class_seed(seed, c, 2));
        gt_shuffle(by_class[c], counts[c], &rng);
        size_t take[3];
        double scratch[3];
        apportion(counts[c], fractions, 3, take, scratch);
        size_t next = 0;
        for (int p = 0; p < 3; p++)
            for (size_t i = 0; i < take[p]; i++)
                parts[p]->idx[parts[p]->n++] = by_class[c][next++];
    }
    free_groups(ds, by_class, counts);
    gt_index_set_free(&pool);
    if (status == GT_OK) {
        for (int p = 0; p < 3; p++)
            sort_set(parts[p]);
        char how[96];
        snprintf(how, sizeof how, "split [%g, %g, %g]%s", fractions[0], fractions[1], fractions[2],
                 limit ? " after limit" : "");
        status = check_train_has_every_class(ds, out, how, err);
    }
    if (status != GT_OK)
        gt_split_free(out);
    return status;
}

static gt_status read_id_file(const gt_dataset *ds, const gt_strmap *ids, const char *path, int part,
                              unsigned char *assigned, const char *const paths[3], gt_error *err)
{
    static const char *const part_names[] = {"", "train", "validation", "test"};
    char *text;
    size_t len;
    gt_status status = gt_read_file(path, SPLIT_FILE_MAX, &text, &len, err);
    if (status != GT_OK)
        return status;
    size_t line_no = 0;
    for (char *line = text; line && status == GT_OK;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        line_no++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++, n--;
        if (n && line[0] != '#') {
            int32_t idx = gt_strmap_get(ids, line, n);
            char shown[96];
            if (idx < 0)
                status = gt_error_set(err, GT_ERR_NOT_FOUND, "%s: line %zu: id \"%s\" is not in the data set %s",
                                      path, line_no, gt_quote_for_message(line, n, shown, sizeof shown), ds->source);
            else if (assigned[idx])
                status = gt_error_set(err, GT_ERR_INVALID, "%s: line %zu: id \"%s\" is already in the %s split (%s) "
                                      "— each sample belongs to one split",
                                      path, line_no, gt_quote_for_message(line, n, shown, sizeof shown),
                                      part_names[assigned[idx]], paths[assigned[idx] - 1]);
            else
                assigned[idx] = (unsigned char)part;
        }
        line = end ? end + 1 : NULL;
    }
    free(text);
    return status;
}

gt_status gt_dataset_split_files(const gt_dataset *ds, const char *const paths[3], gt_split *out, gt_error *err)
{
    memset(out, 0, sizeof *out);
    if (!paths[0] || !paths[2])
        return gt_error_set(err, GT_ERR_INVALID, "data.split_files: a train and a test file are needed");
    gt_strmap ids;
    if (gt_strmap_init(&ids, ds->n) != 0)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    gt_status status = GT_OK;
    for (size_t i = 0; i < ds->n && status == GT_OK; i++) {
        if (gt_strmap_get(&ids, ds->ids[i], strlen(ds->ids[i])) >= 0)
            status = gt_error_set(err, GT_ERR_INVALID, "%s: sample id \"%s\" appears twice — split files need unique "
                                  "ids (set id_field)", ds->source, ds->ids[i]);
        else if (gt_strmap_put(&ids, ds->ids[i], strlen(ds->ids[i]), (int32_t)i) != 0)
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    }
    unsigned char *assigned = calloc(ds->n ? ds->n : 1, 1);
    if (!assigned && status == GT_OK)
        status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (int p = 0; p < 3 && status == GT_OK; p++)
        if (paths[p])
            status = read_id_file(ds, &ids, paths[p], p + 1, assigned, paths, err);
    gt_index_set *parts[3] = {&out->train, &out->val, &out->test};
    for (int p = 0; p < 3 && status == GT_OK; p++)
        if (!(parts[p]->idx = malloc((ds->n ? ds->n : 1) * sizeof(size_t))))
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (size_t i = 0; i < ds->n && status == GT_OK; i++)
        if (assigned[i])
            parts[assigned[i] - 1]->idx[parts[assigned[i] - 1]->n++] = i;
    if (status == GT_OK && out->train.n == 0)
        status = gt_error_set(err, GT_ERR_INVALID, "%s: lists no sample — the training split is empty", paths[0]);
    if (status == GT_OK)
        status = check_train_has_every_class(ds, out, paths[0], err);
    free(assigned);
    gt_strmap_free(&ids);
    if (status != GT_OK)
        gt_split_free(out);
    return status;
}

size_t gt_index_set_filter(gt_index_set *set, int (*keep)(size_t index, void *ctx), void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < set->n; i++)
        if (keep(set->idx[i], ctx))
            set->idx[kept++] = set->idx[i];
    size_t dropped = set->n - kept;
    set->n = kept;
    return dropped;
}

void gt_index_set_class_counts(const gt_dataset *ds, const gt_index_set *set, size_t *counts)
{
    memset(counts, 0, (size_t)ds->n_classes * sizeof *counts);
    for (size_t i = 0; i < set->n; i++)
        counts[ds->labels[set->idx[i]]]++;
}

void gt_index_set_free(gt_index_set *set)
{
    free(set->idx);
    set->idx = NULL;
    set->n = 0;
}

void gt_split_free(gt_split *split)
{
    gt_index_set_free(&split->train);
    gt_index_set_free(&split->val);
    gt_index_set_free(&split->test);
}
