/* greentune/batch.h — (B, T) batches of token ids for training and evaluation.
 *
 *   gt_batch_options bo;  gt_batch_options_init(&bo);
 *   bo.batch_size = 16;  bo.max_len = 256;  bo.dynamic_padding = 1;  bo.pad_id = facts.pad_id;
 *   gt_batcher *b;  gt_batch batch;
 *   gt_batcher_create(&b, &encoded, labels, &bo, &err);
 *   gt_batch_init(&batch, b, &err);
 *   for (unsigned epoch = 0; epoch < epochs; epoch++) {
 *       gt_batcher_epoch(b, epoch);                      // order of this epoch, from the seed
 *       for (size_t i = 0; i < gt_batcher_count(b); i++) {
 *           gt_batcher_get(b, i, &batch);               // batch.ids is batch.B x batch.T
 *           ...
 *       }
 *   }
 *   gt_batch_free(&batch);  gt_batcher_free(b);
 *
 * Padding is fixed (T = max_len) or dynamic (T = the batch's longest sample);
 * sorting by length within windows (bucketing) shrinks it further. Real and
 * padding token counts are reported: the evidence of dynamic_padding and
 * seq_trim. */
#ifndef GREENTUNE_BATCH_H
#define GREENTUNE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"
#include "greentune/tokenizer.h"

typedef struct {
    size_t batch_size;       /* rows per batch, B (16) */
    size_t max_len;          /* T of fixed padding; 0 = the longest sample. Longer samples are an error */
    int dynamic_padding;     /* T = the longest sample of each batch (0) */
    int sort_by_length;      /* group samples of similar length (0) */
    size_t bucket_batches;   /* with sort_by_length: sort within windows of this many batches; 0 = whole epoch (50) */
    int shuffle;             /* a new order every epoch, from seed and epoch (1) */
    uint64_t seed;
    int drop_last;           /* drop a last, smaller batch (0) */
    int32_t pad_id;          /* the id written into padding (0) */
} gt_batch_options;

typedef struct {
    size_t B, T;             /* rows (the last batch may have fewer) and columns */
    int32_t *ids;            /* B x T, row-major, padded with pad_id */
    int32_t *lengths;        /* B: real tokens of each row */
    int32_t *labels;         /* B */
    size_t *samples;         /* B: which encoded document each row is */
    size_t real_tokens, pad_tokens;
} gt_batch;

typedef struct {
    size_t batches, real_tokens, pad_tokens;
    double pad_share;        /* pad_tokens / (real_tokens + pad_tokens) */
} gt_padding_stats;

typedef struct gt_batcher gt_batcher;

GT_API void gt_batch_options_init(gt_batch_options *opt);
/* Batches over the documents of enc; labels[k] is document k's class. enc and
 * labels must outlive the batcher. The order is epoch 0's. */
GT_API gt_status gt_batcher_create(gt_batcher **out, const gt_encoded *enc, const int *labels,
                                   const gt_batch_options *opt, gt_error *err);
GT_API void gt_batcher_free(gt_batcher *b);
/* Fixes the order of an epoch: the same (seed, epoch) gives the same batches. */
GT_API void gt_batcher_epoch(gt_batcher *b, unsigned epoch);
GT_API size_t gt_batcher_count(const gt_batcher *b);
/* Fills batch i of the current epoch (batch from gt_batch_init). */
GT_API gt_status gt_batcher_get(const gt_batcher *b, size_t i, gt_batch *batch, gt_error *err);
/* Fills batch with the rows [first, first + rows) of the current epoch's order,
 * 0 < rows <= batch_size: batches of any size over the same order (a batch
 * size that grows during training). gt_batcher_get(b, i) is rows
 * [i B, i B + B). */
GT_API gt_status gt_batcher_get_rows(const gt_batcher *b, size_t first, size_t rows, gt_batch *batch,
                                     gt_error *err);
/* Real and padding tokens over the current epoch's batches, without building them. */
GT_API void gt_batcher_padding(const gt_batcher *b, gt_padding_stats *stats);

GT_API gt_status gt_batch_init(gt_batch *batch, const gt_batcher *b, gt_error *err);
GT_API void gt_batch_free(gt_batch *batch);

#endif
