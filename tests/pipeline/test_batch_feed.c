/* The train stage's batch feed (src/pipeline/batch_feed.c): with or without
 * the prefetch thread it hands out exactly the batches gt_batcher_get_rows
 * builds, in order, for slices of any size; with the thread, the next
 * batches are built while the caller works on the current one;
 * a feed stopped early joins its thread; a bad slice fails the caller. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline_internal.h"
#include "test_support.h"

/* n documents; document k has 1 + (k * 7) % max_len ids, id = k * 1000 + position. */
static void make_docs(gt_encoded *enc, int **labels, size_t n, size_t max_len)
{
    memset(enc, 0, sizeof *enc);
    enc->n = n;
    enc->offsets = calloc(n + 1, sizeof *enc->offsets);
    enc->full_lengths = calloc(n, sizeof *enc->full_lengths);
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        enc->offsets[k] = total;
        enc->full_lengths[k] = 1 + (k * 7) % max_len;
        total += enc->full_lengths[k];
    }
    enc->offsets[n] = total;
    enc->ids = malloc(total * sizeof *enc->ids);
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < enc->full_lengths[k]; i++)
            enc->ids[enc->offsets[k] + i] = (int32_t)(k * 1000 + i);
    enc->tokens = total;
    *labels = calloc(n, sizeof **labels);
    for (size_t k = 0; k < n; k++)
        (*labels)[k] = (int)(k % 2);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A batcher over make_docs' documents, with bo's options (batch_size etc.). */
static gt_batcher *fixture(gt_encoded *enc, int **labels, size_t n, size_t max_len, const gt_batch_options *bo)
{
    make_docs(enc, labels, n, max_len);
    gt_error err = {0};
    gt_batcher *b = NULL;
    CHECK_EQ_INT(gt_batcher_create(&b, enc, *labels, bo, &err), GT_OK);
    return b;
}

static void fixture_free(gt_batcher *b, gt_encoded *enc, int *labels)
{
    gt_batcher_free(b);
    gt_encoded_free(enc);
    free(labels);
}

static int same_batch(const gt_batch *a, const gt_batch *b)
{
    return a->B == b->B && a->T == b->T && !memcmp(a->ids, b->ids, a->B * a->T * sizeof *a->ids) &&
           !memcmp(a->lengths, b->lengths, a->B * sizeof *a->lengths) &&
           !memcmp(a->samples, b->samples, a->B * sizeof *a->samples) &&
           !memcmp(a->labels, b->labels, a->B * sizeof *a->labels);
}

/* Slices of sizes 3, 8, 5, 1, 8, ... covering n samples. */
static size_t make_slices(pl_batch_slice *slices, size_t n)
{
    static const size_t sizes[] = {3, 8, 5, 1, 8, 2, 7};
    size_t count = 0;
    for (size_t first = 0, i = 0; first < n; i++) {
        size_t rows = sizes[i % 7] < n - first ? sizes[i % 7] : n - first;
        slices[count++] = (pl_batch_slice){first, rows};
        first += rows;
    }
    return count;
}

/* Every depth hands out the batches the batcher builds for each slice. */
static void test_feed_gives_the_batcher_batches_in_order(void)
{
    gt_batch_options bo;
    gt_batch_options_init(&bo);
    bo.batch_size = 8;
    bo.dynamic_padding = 1;
    bo.sort_by_length = 1;
    bo.bucket_batches = 2;
    bo.seed = 7;
    gt_encoded enc;
    int *labels;
    gt_batcher *b = fixture(&enc, &labels, 61, 40, &bo);
    gt_error err = {0};
    gt_batcher_epoch(b, 3);
    pl_batch_slice slices[64];
    size_t n = make_slices(slices, enc.n);
    gt_batch want;
    CHECK_EQ_INT(gt_batch_init(&want, b, &err), GT_OK);
    static const int depths[] = {0, 1, 3};
    for (int d = 0; d < 3; d++) {
        pl_feed *f;
        CHECK_EQ_INT(pl_feed_start(&f, b, slices, n, depths[d], &err), GT_OK);
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
            gt_batch *got;
            CHECK_EQ_INT(pl_feed_next(f, &got, &err), GT_OK);
            CHECK_EQ_INT(gt_batcher_get_rows(b, slices[i].first, slices[i].rows, &want, &err), GT_OK);
            CHECK_MSG(same_batch(got, &want), "depth %d: batch %zu differs", depths[d], i);
            rows += got->B;
        }
        CHECK_EQ_INT(rows, enc.n);
        pl_feed_stats stats = {0};
        pl_feed_stop(f, &stats);
        CHECK_EQ_INT(stats.batches, n);
        CHECK_EQ_INT(stats.prefetched, depths[d] ? n : 0);
        if (!depths[d])
            CHECK(stats.wait_s == stats.build_s);
    }
    /* gt_batcher_get(i) is the slice [i B, i B + B). */
    gt_batch one;
    CHECK_EQ_INT(gt_batch_init(&one, b, &err), GT_OK);
    CHECK_EQ_INT(gt_batcher_get(b, 2, &one, &err), GT_OK);
    CHECK_EQ_INT(gt_batcher_get_rows(b, 16, 8, &want, &err), GT_OK);
    CHECK(same_batch(&one, &want));
    CHECK_EQ_INT(gt_batcher_get_rows(b, 60, 2, &want, &err), GT_ERR_INVALID);
    CHECK_EQ_INT(gt_batcher_get_rows(b, 0, 9, &want, &err), GT_ERR_INVALID);
    gt_batch_free(&one);
    gt_batch_free(&want);
    fixture_free(b, &enc, labels);
}

/* While the caller works on a batch, the thread fills every free slot: the
 * next `depth` batches are ready before the caller asks (waited for up to 10 s
 * each, a loaded machine's worst scheduling delay, then the test fails). */
static void test_prefetch_builds_ahead_while_the_caller_works(void)
{
    gt_batch_options bo;
    gt_batch_options_init(&bo);
    bo.batch_size = 16;
    gt_encoded enc;
    int *labels;
    gt_batcher *b = fixture(&enc, &labels, 64, 300, &bo);
    gt_error err = {0};
    pl_batch_slice slices[16];
    size_t n = 0;
    for (int epoch = 0; epoch < 4; epoch++)
        for (size_t first = 0; first < enc.n; first += 16)
            slices[n++] = (pl_batch_slice){first, 16};
    const size_t depth = 3;
    pl_feed *f;
    CHECK_EQ_INT(pl_feed_start(&f, b, slices, n, (int)depth, &err), GT_OK);
    int ready_every_time = 1;
    for (size_t i = 0; i < n; i++) {
        gt_batch *got;
        CHECK_EQ_INT(pl_feed_next(f, &got, &err), GT_OK);
        size_t want = n - 1 - i < depth ? n - 1 - i : depth;
        for (int waited = 0; pl_feed_ahead(f) < want && waited < 10000; waited++)
            sleep_ms(1);
        ready_every_time &= pl_feed_ahead(f) == want;
    }
    CHECK_MSG(ready_every_time, "the thread did not keep %zu batches ready while the caller worked", depth);
    pl_feed_stats stats = {0};
    pl_feed_stop(f, &stats);
    CHECK_EQ_INT(stats.prefetched, n);
    CHECK(stats.build_s > 0);
    fixture_free(b, &enc, labels);
}

/* A feed stopped after two batches joins its thread; a slice past the data
 * fails the caller with the batcher's message, at any depth. */
static void test_stop_early_and_bad_slices(void)
{
    gt_batch_options bo;
    gt_batch_options_init(&bo);
    bo.batch_size = 4;
    gt_encoded enc;
    int *labels;
    gt_batcher *b = fixture(&enc, &labels, 20, 10, &bo);
    gt_error err = {0};
    pl_batch_slice slices[] = {{0, 4}, {4, 4}, {8, 4}, {12, 4}, {16, 4}, {18, 4}};
    for (int depth = 0; depth <= 4; depth += 4) {
        pl_feed *f;
        gt_batch *got;
        CHECK_EQ_INT(pl_feed_start(&f, b, slices, 6, depth, &err), GT_OK);
        CHECK_EQ_INT(pl_feed_next(f, &got, &err), GT_OK);
        CHECK_EQ_INT(pl_feed_next(f, &got, &err), GT_OK);
        pl_feed_stop(f, NULL);
        CHECK_EQ_INT(pl_feed_start(&f, b, slices, 6, depth, &err), GT_OK);
        gt_status st = GT_OK;
        int taken = 0;
        while (st == GT_OK && taken < 6)
            if ((st = pl_feed_next(f, &got, &err)) == GT_OK)
                taken++;
        CHECK_EQ_INT(taken, 5);
        CHECK_EQ_INT(st, GT_ERR_INVALID);
        CHECK(strstr(err.message, "rows 18..22 of an epoch of 20 samples") != NULL);
        pl_feed_stop(f, NULL);
    }
    fixture_free(b, &enc, labels);
}

int main(void)
{
    RUN(test_feed_gives_the_batcher_batches_in_order);
    RUN(test_prefetch_builds_ahead_while_the_caller_works);
    RUN(test_stop_early_and_bad_slices);
    return test_summary();
}
