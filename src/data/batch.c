/* Batching: an epoch's order (shuffled from the seed, optionally sorted by
 * length within windows), cut into batches of B rows padded to T columns. */
#include "data/data_internal.h"
#include "greentune/batch.h"

#include <stdlib.h>
#include <string.h>

struct gt_batcher {
    const gt_encoded *enc;
    const int *labels;
    gt_batch_options opt;
    size_t max_len;          /* T of fixed padding */
    size_t *order;           /* the epoch's sample order */
    size_t n_batches;
    uint64_t *sort_keys;     /* scratch for sorting: length << 32 | position */
};

void gt_batch_options_init(gt_batch_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->batch_size = 16;
    opt->bucket_batches = 50;
    opt->shuffle = 1;
}

static size_t sample_length(const gt_batcher *b, size_t k)
{
    return b->enc->offsets[k + 1] - b->enc->offsets[k];
}

gt_status gt_batcher_create(gt_batcher **out, const gt_encoded *enc, const int *labels, const gt_batch_options *opt,
                            gt_error *err)
{
    *out = NULL;
    if (!opt->batch_size)
        return gt_error_set(err, GT_ERR_INVALID, "batch: batch size 0 — use at least 1");
    if (enc->n == 0)
        return gt_error_set(err, GT_ERR_INVALID, "batch: no samples to batch");
    size_t longest = 0;
    for (size_t k = 0; k < enc->n; k++) {
        size_t len = enc->offsets[k + 1] - enc->offsets[k];
        if (len > longest)
            longest = len;
        if (opt->max_len && len > opt->max_len)
            return gt_error_set(err, GT_ERR_INVALID, "batch: sample %zu has %zu tokens, more than max_len %zu — "
                                "tokenize with max_len %zu so it is truncated", k, len, opt->max_len, opt->max_len);
        if (len >= (size_t)1 << 31)
            return gt_error_set(err, GT_ERR_INVALID, "batch: sample %zu has %zu tokens (2^31 at most)", k, len);
    }
    gt_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return gt_error_set(err, GT_ERR_NOMEM, "batch: out of memory");
    b->enc = enc;
    b->labels = labels;
    b->opt = *opt;
    b->max_len = opt->max_len ? opt->max_len : (longest ? longest : 1);
    /* gt_batch_init allocates B x T ids: the product must fit (a config's
     * batch and max_len are the user's numbers). */
    size_t ids;
    if (__builtin_mul_overflow(opt->batch_size, b->max_len, &ids) || ids > ((size_t)1 << 40) / sizeof(int32_t)) {
        gt_batcher_free(b);
        return gt_error_set(err, GT_ERR_INVALID, "batch: %zu x %zu ids per batch is too large — lower the batch size "
                            "or max_len", opt->batch_size, opt->max_len ? opt->max_len : longest);
    }
    b->order = malloc(enc->n * sizeof *b->order);
    b->sort_keys = malloc(enc->n * sizeof *b->sort_keys);
    if (!b->order || !b->sort_keys) {
        gt_batcher_free(b);
        return gt_error_set(err, GT_ERR_NOMEM, "batch: out of memory for %zu samples", enc->n);
    }
    gt_batcher_epoch(b, 0);
    *out = b;
    return GT_OK;
}

void gt_batcher_free(gt_batcher *b)
{
    if (!b)
        return;
    free(b->order);
    free(b->sort_keys);
    free(b);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts order[from..to) by length; ties keep their order (the key holds the position). */
static void sort_window(gt_batcher *b, size_t from, size_t to)
{
    uint64_t *keys = b->sort_keys;
    for (size_t i = from; i < to; i++)
        keys[i - from] = ((uint64_t)sample_length(b, b->order[i]) << 32) | (uint64_t)(i - from);
    qsort(keys, to - from, sizeof *keys, compare_u64);
    size_t *sorted = malloc((to - from) * sizeof *sorted);
    if (!sorted)
        return;  /* sorting is an optimization; the unsorted order is still a valid epoch */
    for (size_t i = 0; i < to - from; i++)
        sorted[i] = b->order[from + (size_t)(uint32_t)keys[i]];
    memcpy(b->order + from, sorted, (to - from) * sizeof *sorted);
    free(sorted);
}

/* Shuffles whole batches of order (the last, smaller one included) so sorted
 * windows are not seen shortest-first. */
static void shuffle_batches(gt_batcher *b, gt_rng *rng)
{
    size_t B = b->opt.batch_size, n = b->enc->n, full = n / B;
    size_t *perm = malloc((full ? full : 1) * sizeof *perm), *copy = malloc(n * sizeof *copy);
    if (perm && copy) {
        for (size_t i = 0; i < full; i++)
            perm[i] = i;
        gt_shuffle(perm, full, rng);
        memcpy(copy, b->order, n * sizeof *copy);
        for (size_t i = 0; i < full; i++)
            memcpy(b->order + i * B, copy + perm[i] * B, B * sizeof *copy);
    }
    free(perm);
    free(copy);
}

void gt_batcher_epoch(gt_batcher *b, unsigned epoch)
{
    size_t n = b->enc->n, B = b->opt.batch_size;
    for (size_t i = 0; i < n; i++)
        b->order[i] = i;
    gt_rng rng;
    gt_rng_seed(&rng, b->opt.seed ^ (0xD1B54A32D192ED03ull * ((uint64_t)epoch + 1)));
    if (b->opt.shuffle)
        gt_shuffle(b->order, n, &rng);
    if (b->opt.sort_by_length) {
        size_t window = b->opt.bucket_batches ? b->opt.bucket_batches * B : n;
        for (size_t from = 0; from < n; from += window)
            sort_window(b, from, from + window < n ? from + window : n);
        if (b->opt.shuffle)
            shuffle_batches(b, &rng);
    }
    b->n_batches = b->opt.drop_last ? n / B : (n + B - 1) / B;
}

size_t gt_batcher_count(const gt_batcher *b)
{
    return b->n_batches;
}

/* Columns of the rows [first, first + rows) of the epoch's order. */
static size_t slice_cols(const gt_batcher *b, size_t first, size_t rows)
{
    if (!b->opt.dynamic_padding)
        return b->max_len;
    size_t cols = 1;
    for (size_t r = 0; r < rows; r++) {
        size_t len = sample_length(b, b->order[first + r]);
        if (len > cols)
            cols = len;
    }
    return cols;
}

/* Rows and columns of batch i. */
static void batch_shape(const gt_batcher *b, size_t i, size_t *rows, size_t *cols)
{
    size_t B = b->opt.batch_size, first = i * B;
    *rows = first + B <= b->enc->n ? B : b->enc->n - first;
    *cols = slice_cols(b, first, *rows);
}

gt_status gt_batch_init(gt_batch *batch, const gt_batcher *b, gt_error *err)
{
    memset(batch, 0, sizeof *batch);
    size_t B = b->opt.batch_size, T = b->max_len;
    batch->ids = malloc(B * T * sizeof *batch->ids);
    batch->lengths = malloc(B * sizeof *batch->lengths);
    batch->labels = malloc(B * sizeof *batch->labels);
    batch->samples = malloc(B * sizeof *batch->samples);
    if (!batch->ids || !batch->lengths || !batch->labels || !batch->samples) {
        gt_batch_free(batch);
        return gt_error_set(err, GT_ERR_NOMEM, "batch: out of memory for %zu x %zu ids", B, T);
    }
    return GT_OK;
}

void gt_batch_free(gt_batch *batch)
{
    free(batch->ids);
    free(batch->lengths);
    free(batch->labels);
    free(batch->samples);
    memset(batch, 0, sizeof *batch);
}

gt_status gt_batcher_get(const gt_batcher *b, size_t i, gt_batch *batch, gt_error *err)
{
    if (i >= b->n_batches)
        return gt_error_set(err, GT_ERR_INVALID, "batch: batch %zu of an epoch of %zu", i, b->n_batches);
    size_t B = b->opt.batch_size, first = i * B;
    return gt_batcher_get_rows(b, first, first + B <= b->enc->n ? B : b->enc->n - first, batch, err);
}

gt_status gt_batcher_get_rows(const gt_batcher *b, size_t first, size_t rows, gt_batch *batch, gt_error *err)
{
    if (rows == 0 || rows > b->opt.batch_size || first > b->enc->n || rows > b->enc->n - first)
        return gt_error_set(err, GT_ERR_INVALID, "batch: rows %zu..%zu of an epoch of %zu samples (at most %zu a "
                            "batch)", first, first + rows, b->enc->n, b->opt.batch_size);
    size_t cols = slice_cols(b, first, rows);
    batch->B = rows;
    batch->T = cols;
    batch->real_tokens = 0;
    for (size_t r = 0; r < rows; r++) {
        size_t k = b->order[first + r], len = sample_length(b, k);
        int32_t *row = batch->ids + r * cols;
        memcpy(row, b->enc->ids + b->enc->offsets[k], len * sizeof *row);
        for (size_t c = len; c < cols; c++)
            row[c] = b->opt.pad_id;
        batch->lengths[r] = (int32_t)len;
        batch->labels[r] = b->labels ? b->labels[k] : 0;
        batch->samples[r] = k;
        batch->real_tokens += len;
    }
    batch->pad_tokens = rows * cols - batch->real_tokens;
    return GT_OK;
}

void gt_batcher_padding(const gt_batcher *b, gt_padding_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < b->n_batches; i++) {
        size_t rows, cols, first = i * b->opt.batch_size, real = 0;
        batch_shape(b, i, &rows, &cols);
        for (size_t r = 0; r < rows; r++)
            real += sample_length(b, b->order[first + r]);
        stats->real_tokens += real;
        stats->pad_tokens += rows * cols - real;
    }
    stats->batches = b->n_batches;
    size_t all = stats->real_tokens + stats->pad_tokens;
    stats->pad_share = all ? (double)stats->pad_tokens / (double)all : 0.0;
}
