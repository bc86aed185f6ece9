/* Tokenizer throughput: trains WordPiece on a data set's training split, then
 * encodes the split on the plain path (serial, no cache) and the fast path
 * (word cache + OpenMP threads), checks both give the same ids, and prints
 * one JSON line with the timings and tokens/s.
 *
 *   bench_tokenize [--data DIR] [--format F] [--limit N] [--vocab V] [--max-len L]
 *                  [--threads T] [--tokenizer tokenizer.json]
 *
 * Defaults: data/spamassassin, all samples, vocab 8192, max_len 256. Exits 77
 * (skipped) when the data set is not there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "greentune/data.h"
#include "greentune/tokenizer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const gt_error *err)
{
    fprintf(stderr, "bench_tokenize: %s\n", err->message);
    return 1;
}

int main(int argc, char **argv)
{
    const char *data = "data/spamassassin", *format = "spamassassin", *tokenizer_path = NULL;
    size_t limit = 0, vocab = 8192, max_len = 256;
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--format"))
            format = argv[i + 1];
        else if (!strcmp(argv[i], "--limit"))
            limit = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--vocab"))
            vocab = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--max-len"))
            max_len = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokenizer"))
            tokenizer_path = argv[i + 1];
        else {
            fprintf(stderr, "bench_tokenize: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct stat st;
    if (stat(data, &st) != 0) {
        printf("skipped: %s is not there — run `make data` first\n", data);
        return 77;  /* ctest's "skipped" for this program */
    }
    gt_error err = {0};
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.path = data;
    if (gt_data_format_parse(format, &opt.format, &err) != GT_OK)
        return fail(&err);
    double t0 = now();
    gt_dataset *ds;
    if (gt_dataset_load(&ds, &opt, &err) != GT_OK)
        return fail(&err);
    double t_load = now() - t0;
    gt_split split;
    double fractions[3] = {0.8, 0.1, 0.1};
    if (gt_dataset_split(ds, fractions, 1, limit, &split, &err) != GT_OK)
        return fail(&err);
    size_t n = split.train.n;
    const char **texts = malloc(n * sizeof *texts);
    size_t *lengths = malloc(n * sizeof *lengths), bytes = 0;
    for (size_t i = 0; i < n; i++) {
        texts[i] = ds->texts[split.train.idx[i]];
        lengths[i] = ds->lengths[split.train.idx[i]];
        bytes += lengths[i];
    }
    t0 = now();
    gt_tokenizer *tok;
    if (tokenizer_path) {
        if (gt_tokenizer_load(&tok, tokenizer_path, &err) != GT_OK)
            return fail(&err);
    } else {
        gt_wordpiece_options wo;
        gt_wordpiece_options_init(&wo);
        wo.vocab_size = vocab;
        if (gt_tokenizer_train_wordpiece(&tok, texts, lengths, n, &wo, &err) != GT_OK)
            return fail(&err);
    }
    double t_train = now() - t0;
    gt_encode_options eo;
    gt_encode_options_init(&eo);
    eo.max_len = max_len;
    eo.threads = threads;
    gt_encoded plain, fast;
    eo.fast = 0;
    if (gt_tokenizer_encode_batch(tok, texts, lengths, n, &eo, &plain, &err) != GT_OK)
        return fail(&err);
    eo.fast = 1;
    if (gt_tokenizer_encode_batch(tok, texts, lengths, n, &eo, &fast, &err) != GT_OK)
        return fail(&err);
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(tok, &facts);
    int same = plain.tokens == fast.tokens && !memcmp(plain.ids, fast.ids, plain.tokens * sizeof *plain.ids);
    printf("{\"samples\": %zu, \"bytes\": %zu, \"load_s\": %.3f, \"train_s\": %.3f, \"model\": \"%s\", "
           "\"vocab\": %zu, "
           "\"tokens\": %zu, \"tokens_kept\": %zu, \"truncated\": %zu, "
           "\"plain\": {\"seconds\": %.3f, \"tokens_per_s\": %.0f}, "
           "\"fast\": {\"seconds\": %.3f, \"tokens_per_s\": %.0f, \"threads\": %d, \"cache_hit_rate\": %.3f}, "
           "\"speedup\": %.2f, \"identical_ids\": %s}\n",
           n, bytes, t_load, t_train, facts.model, facts.vocab_size, plain.tokens_before_truncation, plain.tokens,
           plain.truncated,
           plain.seconds, plain.tokens_per_s, fast.seconds, fast.tokens_per_s, fast.threads,
           fast.cache_lookups ? (double)fast.cache_hits / (double)fast.cache_lookups : 0.0,
           fast.seconds > 0 ? plain.seconds / fast.seconds : 0.0, same ? "true" : "false");
    gt_encoded_free(&plain);
    gt_encoded_free(&fast);
    gt_tokenizer_free(tok);
    free(texts);
    free(lengths);
    gt_split_free(&split);
    gt_dataset_free(ds);
    return same ? 0 : 1;
}
