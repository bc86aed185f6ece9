/* The real SpamAssassin corpus, when `make data` has fetched it: the counts the
 * package documents, a stratified split, and — on real mail — the fast
 * tokenizer path giving the plain path's ids. Without data/spamassassin the
 * test reports itself skipped (exit 77), never passed. */
#include <sys/stat.h>

#include "data_tests.h"
#include "greentune/tokenizer.h"

#define SKIPPED 77

int main(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/spamassassin", test_env("GREENTUNE_SOURCE_DIR"));
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("skipped: %s is not there — run `make data` to test the real corpus\n", path);
        return SKIPPED;
    }
    gt_error err = {0};
    gt_dataset *ds = load_data(GT_DATA_SPAMASSASSIN, path, NULL, NULL, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (!ds)
        return test_summary();
    /* The package's README: 2500 + 1400 + 250 ham, 500 + 1396 spam. */
    CHECK_EQ_INT(ds->n, 6046);
    CHECK_EQ_INT(ds->class_counts[0], 4150);
    CHECK_EQ_INT(ds->class_counts[1], 1896);
    CHECK_EQ_INT(ds->stats.invalid_utf8, 0);  /* JSON text is UTF-8 already */
    size_t per_group[5] = {0};
    static const char *groups[] = {"easy-ham-1/", "easy-ham-2/", "hard-ham-1/", "spam-1/", "spam-2/"};
    for (size_t i = 0; i < ds->n; i++)
        for (int g = 0; g < 5; g++)
            per_group[g] += strncmp(ds->ids[i], groups[g], strlen(groups[g])) == 0;
    CHECK_EQ_INT(per_group[0], 2500);
    CHECK_EQ_INT(per_group[1], 1400);
    CHECK_EQ_INT(per_group[2], 250);
    CHECK_EQ_INT(per_group[3], 500);
    CHECK_EQ_INT(per_group[4], 1396);

    /* [0.8, 0.1, 0.1] by largest remainders: ham 3320 / 415 / 415, spam 1517 / 190 / 189. */
    gt_split split;
    double fractions[3] = {0.8, 0.1, 0.1};
    CHECK_EQ_INT(gt_dataset_split(ds, fractions, 1, 0, &split, &err), GT_OK);
    CHECK_EQ_INT(split.train.n, 3320 + 1517);
    CHECK_EQ_INT(split.val.n, 415 + 190);
    CHECK_EQ_INT(split.test.n, 415 + 189);

    /* A tokenizer trained on 600 training mails; plain and fast paths on all 4837. */
    size_t n = split.train.n;
    const char **texts = malloc(n * sizeof *texts);
    size_t *lengths = malloc(n * sizeof *lengths);
    for (size_t i = 0; i < n; i++) {
        texts[i] = ds->texts[split.train.idx[i]];
        lengths[i] = ds->lengths[split.train.idx[i]];
    }
    gt_wordpiece_options wo;
    gt_wordpiece_options_init(&wo);
    wo.vocab_size = 2000;
    gt_tokenizer *tok = NULL;
    CHECK_EQ_INT(gt_tokenizer_train_wordpiece(&tok, texts, lengths, 600, &wo, &err), GT_OK);
    if (tok) {
        gt_encode_options eo;
        gt_encode_options_init(&eo);
        eo.max_len = 512;
        gt_encoded plain, fast;
        eo.fast = 0;
        CHECK_EQ_INT(gt_tokenizer_encode_batch(tok, texts, lengths, n, &eo, &plain, &err), GT_OK);
        eo.fast = 1;
        CHECK_EQ_INT(gt_tokenizer_encode_batch(tok, texts, lengths, n, &eo, &fast, &err), GT_OK);
        CHECK_EQ_INT(fast.tokens, plain.tokens);
        CHECK(fast.tokens == plain.tokens && memcmp(fast.ids, plain.ids, plain.tokens * sizeof *plain.ids) == 0);
        CHECK(memcmp(fast.full_lengths, plain.full_lengths, n * sizeof *plain.full_lengths) == 0);
        CHECK(fast.cache_hits > fast.cache_lookups / 2);  /* mail repeats itself: the cache is used */
        printf("plain %.0f tokens/s, fast %.0f tokens/s (%d threads, %.0f%% cache hits), %zu tokens\n",
               plain.tokens_per_s, fast.tokens_per_s, fast.threads,
               100.0 * (double)fast.cache_hits / (double)(fast.cache_lookups ? fast.cache_lookups : 1),
               plain.tokens_before_truncation);
        gt_encoded_free(&plain);
        gt_encoded_free(&fast);
        gt_tokenizer_free(tok);
    }
    free(texts);
    free(lengths);
    gt_split_free(&split);
    gt_dataset_free(ds);
    return test_summary();
}
