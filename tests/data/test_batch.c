/* Batching: every sample once per epoch, orders reproducible from (seed,
 * epoch), and real vs padding token counts that match a count by hand. */
#include "data_tests.h"
#include "greentune/batch.h"

/* Ten documents of lengths 1..10 (document k holds k+1 ids, all = 100 + k). */
static void make_documents(gt_encoded *enc, int *labels)
{
    memset(enc, 0, sizeof *enc);
    enc->n = 10;
    enc->offsets = malloc(11 * sizeof *enc->offsets);
    enc->ids = malloc(55 * sizeof *enc->ids);
    enc->full_lengths = malloc(10 * sizeof *enc->full_lengths);
    size_t at = 0;
    for (size_t k = 0; k < 10; k++) {
        enc->offsets[k] = at;
        for (size_t j = 0; j <= k; j++)
            enc->ids[at++] = (int32_t)(100 + k);
        enc->full_lengths[k] = k + 1;
        labels[k] = (int)(k % 2);
    }
    enc->offsets[10] = at;
}

static gt_batcher *make_batcher(const gt_encoded *enc, const int *labels, size_t B, size_t max_len, int dynamic,
                                int sort, int shuffle)
{
    gt_batch_options opt;
    gt_batch_options_init(&opt);
    opt.batch_size = B;
    opt.max_len = max_len;
    opt.dynamic_padding = dynamic;
    opt.sort_by_length = sort;
    opt.bucket_batches = 0;
    opt.shuffle = shuffle;
    opt.seed = 11;
    opt.pad_id = -7;
    gt_error err = {0};
    gt_batcher *b = NULL;
    if (gt_batcher_create(&b, enc, labels, &opt, &err) != GT_OK)
        fprintf(stderr, "%s\n", err.message);
    return b;
}

/* Fixed padding to 12: 10 rows x 12 columns = 120 slots, 55 real ids. */
static void test_fixed_padding_counts(void)
{
    gt_encoded enc;
    int labels[10];
    make_documents(&enc, labels);
    gt_batcher *b = make_batcher(&enc, labels, 4, 12, 0, 0, 1);
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK_EQ_INT(gt_batcher_count(b), 3);  /* 4 + 4 + 2 */
    gt_padding_stats st;
    gt_batcher_padding(b, &st);
    CHECK_EQ_INT(st.real_tokens, 55);
    CHECK_EQ_INT(st.pad_tokens, 120 - 55);
    CHECK_NEAR(st.pad_share, 65.0 / 120.0, 1e-12);
    gt_batch batch;
    gt_error err = {0};
    CHECK_EQ_INT(gt_batch_init(&batch, b, &err), GT_OK);
    size_t real = 0, pad = 0;
    for (size_t i = 0; i < gt_batcher_count(b); i++) {
        CHECK_EQ_INT(gt_batcher_get(b, i, &batch, &err), GT_OK);
        CHECK_EQ_INT(batch.T, 12);
        CHECK_EQ_INT(batch.B, i < 2 ? 4 : 2);
        for (size_t r = 0; r < batch.B; r++) {
            size_t k = batch.samples[r];
            CHECK_EQ_INT(batch.lengths[r], k + 1);
            CHECK_EQ_INT(batch.labels[r], labels[k]);
            for (size_t c = 0; c < batch.T; c++)
                CHECK_EQ_INT(batch.ids[r * batch.T + c], c <= k ? (int32_t)(100 + k) : -7);
        }
        real += batch.real_tokens;
        pad += batch.pad_tokens;
    }
    CHECK_EQ_INT(real, st.real_tokens);
    CHECK_EQ_INT(pad, st.pad_tokens);
    CHECK_EQ_INT(gt_batcher_get(b, 3, &batch, &err), GT_ERR_INVALID);
    gt_batch_free(&batch);
    gt_batcher_free(b);
    gt_encoded_free(&enc);
}

/* Unshuffled and unsorted, batches are documents 0-3, 4-7, 8-9: dynamic padding
 * pads to 4, 8 and 10 -> 16 + 32 + 20 = 68 slots, 13 of them padding. Sorted by
 * length the same batches result here; shuffled and sorted within the epoch,
 * batches hold neighbours in length and padding can only shrink. */
static void test_dynamic_padding_and_bucketing(void)
{
    gt_encoded enc;
    int labels[10];
    make_documents(&enc, labels);
    gt_padding_stats plain, sorted;
    gt_batcher *b = make_batcher(&enc, labels, 4, 0, 1, 0, 0);
    gt_batcher_padding(b, &plain);
    CHECK_EQ_INT(plain.real_tokens, 55);
    CHECK_EQ_INT(plain.pad_tokens, 13);
    gt_batcher_free(b);

    b = make_batcher(&enc, labels, 4, 0, 1, 0, 1);
    gt_padding_stats shuffled;
    gt_batcher_padding(b, &shuffled);
    gt_batcher_free(b);
    b = make_batcher(&enc, labels, 4, 0, 1, 1, 1);
    gt_batcher_padding(b, &sorted);
    CHECK_EQ_INT(sorted.real_tokens, 55);
    CHECK_EQ_INT(sorted.pad_tokens, 13);  /* sorted windows of the whole epoch: {1-4}, {5-8}, {9,10} */
    CHECK(sorted.pad_tokens <= shuffled.pad_tokens);
    gt_batcher_free(b);
    gt_encoded_free(&enc);
}

static void test_epochs_cover_every_sample_once_and_reproduce(void)
{
    gt_encoded enc;
    int labels[10];
    make_documents(&enc, labels);
    gt_batcher *a = make_batcher(&enc, labels, 3, 0, 1, 1, 1), *b = make_batcher(&enc, labels, 3, 0, 1, 1, 1);
    gt_batch ba, bb;
    gt_error err = {0};
    gt_batch_init(&ba, a, &err);
    gt_batch_init(&bb, b, &err);
    size_t order[3][10];
    for (unsigned epoch = 0; epoch < 3; epoch++) {
        gt_batcher_epoch(a, epoch);
        gt_batcher_epoch(b, epoch);
        int seen[10] = {0};
        size_t at = 0;
        for (size_t i = 0; i < gt_batcher_count(a); i++) {
            gt_batcher_get(a, i, &ba, &err);
            gt_batcher_get(b, i, &bb, &err);
            CHECK(ba.B == bb.B && memcmp(ba.samples, bb.samples, ba.B * sizeof *ba.samples) == 0);
            for (size_t r = 0; r < ba.B; r++) {
                seen[ba.samples[r]]++;
                order[epoch][at++] = ba.samples[r];
            }
        }
        CHECK_EQ_INT(at, 10);
        for (int k = 0; k < 10; k++)
            CHECK_EQ_INT(seen[k], 1);
    }
    CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0 || memcmp(order[1], order[2], sizeof order[0]) != 0);
    gt_batch_free(&ba);
    gt_batch_free(&bb);
    gt_batcher_free(a);
    gt_batcher_free(b);
    gt_encoded_free(&enc);
}

static void test_drop_last_and_bad_input(void)
{
    gt_encoded enc;
    int labels[10];
    make_documents(&enc, labels);
    gt_batch_options opt;
    gt_batch_options_init(&opt);
    opt.batch_size = 4;
    opt.drop_last = 1;
    gt_error err = {0};
    gt_batcher *b = NULL;
    CHECK_EQ_INT(gt_batcher_create(&b, &enc, labels, &opt, &err), GT_OK);
    CHECK_EQ_INT(gt_batcher_count(b), 2);
    gt_batcher_free(b);
    opt.max_len = 5;  /* documents 5..9 are longer */
    CHECK_EQ_INT(gt_batcher_create(&b, &enc, labels, &opt, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "sample 5 has 6 tokens") && strstr(err.message, "max_len 5"), "%s", err.message);
    opt.max_len = 0;
    opt.batch_size = 0;
    CHECK_EQ_INT(gt_batcher_create(&b, &enc, labels, &opt, &err), GT_ERR_INVALID);
    /* B x T ids must fit in memory's arithmetic: a batch of 2^62 rows is refused, not wrapped. */
    opt.batch_size = (size_t)1 << 62; /* times the longest sample (10 tokens) */
    opt.max_len = 0;
    CHECK_EQ_INT(gt_batcher_create(&b, &enc, labels, &opt, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "ids per batch is too large"), "%s", err.message);
    gt_encoded_free(&enc);
}

/* Tokenizer output feeds the batcher directly; truncation keeps [SEP] last. */
static void test_batches_from_a_tokenizer(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = fixture_tokenizer("wordpiece-tiny.json");
    if (!tok)
        return;
    static const char *texts[] = {"hello", "hello world, the tokens of the stage", "free money"};
    gt_encode_options eo;
    gt_encode_options_init(&eo);
    eo.max_len = 6;
    gt_encoded enc;
    CHECK_EQ_INT(gt_tokenizer_encode_batch(tok, texts, NULL, 3, &eo, &enc, &err), GT_OK);
    CHECK_EQ_INT(enc.truncated, 1);
    CHECK(enc.full_lengths[1] > 6);
    gt_length_stats lengths;
    gt_encoded_lengths(&enc, &lengths);
    CHECK_EQ_INT(lengths.max_after, 6);
    CHECK_EQ_INT(lengths.max_before, enc.full_lengths[1]);
    /* "hello" and "free money" are 3 and 4 ids with [CLS] and [SEP]: nothing cut from them. */
    CHECK_NEAR(lengths.mean_after, (3.0 + 6.0 + 4.0) / 3.0, 1e-12);
    CHECK_NEAR(lengths.mean_before, (3.0 + (double)enc.full_lengths[1] + 4.0) / 3.0, 1e-12);
    int labels[3] = {0, 1, 0};
    gt_batch_options bo;
    gt_batch_options_init(&bo);
    bo.batch_size = 3;
    bo.max_len = 6;
    bo.shuffle = 0;
    gt_tokenizer_facts f;
    gt_tokenizer_describe(tok, &f);
    bo.pad_id = f.pad_id;
    gt_batcher *b = NULL;
    gt_batch batch;
    CHECK_EQ_INT(gt_batcher_create(&b, &enc, labels, &bo, &err), GT_OK);
    CHECK_EQ_INT(gt_batch_init(&batch, b, &err), GT_OK);
    CHECK_EQ_INT(gt_batcher_get(b, 0, &batch, &err), GT_OK);
    CHECK_EQ_INT(batch.T, 6);
    CHECK_EQ_INT(batch.lengths[0], 3);  /* [CLS] hello [SEP] */
    CHECK_EQ_INT(batch.ids[0 * 6 + 2], f.sep_id);
    CHECK_EQ_INT(batch.ids[0 * 6 + 3], f.pad_id);
    CHECK_EQ_INT(batch.ids[1 * 6 + 5], f.sep_id);
    CHECK_EQ_INT(batch.real_tokens + batch.pad_tokens, 18);
    gt_batch_free(&batch);
    gt_batcher_free(b);
    gt_encoded_free(&enc);
    gt_tokenizer_free(tok);
}

int main(void)
{
    RUN(test_fixed_padding_counts);
    RUN(test_dynamic_padding_and_bucketing);
    RUN(test_epochs_cover_every_sample_once_and_reproduce);
    RUN(test_drop_last_and_bad_input);
    RUN(test_batches_from_a_tokenizer);
    return test_summary();
}
