/* Data-phase knobs: what the pipeline reads and how it is tokenized and batched.
 *
 * Each knob acts at the pipeline's hook points (src/pipeline/stage_hooks.h) and
 * records its evidence there, from what the run measured: samples removed or
 * kept, tokens per sample, padding, tokens per second of both tokenizer paths.
 * A knob whose parameters make it change nothing (seq_trim longer than every
 * sample) fails the run; one that finds nothing to do in this data (no
 * duplicates, no padding) says so in the run's warnings. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/data_internal.h"
#include "knob_internal.h"
#include "pipeline/pipeline_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- tokenizer_fast ----------------------------------------------------------- */

static gt_status tokenizer_fast_tokenize(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)use;
    (void)err;
    p->encode.fast = 1;
    return GT_OK;
}

/* The first `sample` training documents, encoded by the plain path and by the
 * fast path, one after the other: tokens per second of each on the same
 * texts, and the plain path's ids checked against the ids the run trains on. */
static gt_status tokenizer_fast_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    size_t n = p->train.enc.n < (size_t)gt_knob_int(use, "sample") ? p->train.enc.n
                                                                     : (size_t)gt_knob_int(use, "sample");
    const char **texts = malloc((n ? n : 1) * sizeof *texts);
    size_t *lengths = malloc((n ? n : 1) * sizeof *lengths);
    if (!texts || !lengths) {
        free(texts);
        free(lengths);
        return gt_error_set(err, GT_ERR_NOMEM, "tokenizer_fast: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        texts[i] = p->ds->texts[p->train.set->idx[i]];
        lengths[i] = p->ds->lengths[p->train.set->idx[i]];
    }
    gt_encode_options plain = p->encode, fast = p->encode;
    plain.fast = 0;
    gt_encoded a = {0}, b = {0};
    double t0 = now_s();
    gt_status st = gt_tokenizer_encode_batch(p->tok, texts, lengths, n, &plain, &a, err);
    if (st == GT_OK)
        st = gt_tokenizer_encode_batch(p->tok, texts, lengths, n, &fast, &b, err);
    double spent = now_s() - t0;
    free(texts);
    free(lengths);
    if (st != GT_OK) {
        gt_encoded_free(&a);
        gt_encoded_free(&b);
        return gt_error_prefix(err, "tokenizer_fast: ");
    }
    /* The run's ids (fast path) for these documents are the first of p->train. */
    const gt_encoded *run = &p->train.enc;
    size_t run_ids = run->offsets[n];
    int identical = a.tokens == b.tokens && a.tokens == run_ids && !memcmp(a.ids, b.ids, a.tokens * sizeof *a.ids) &&
                    !memcmp(a.ids, run->ids, a.tokens * sizeof *a.ids) &&
                    !memcmp(a.offsets, run->offsets, (n + 1) * sizeof *a.offsets);
    knob_evidence_number(use, "tokens_per_s_before", a.tokens_per_s);
    knob_evidence_number(use, "tokens_per_s_after", b.tokens_per_s);
    knob_evidence_number(use, "speedup", a.seconds > 0 && b.seconds > 0 ? a.seconds / b.seconds : 0);
    knob_evidence_bool(use, "ids_identical", identical);
    knob_evidence_number(use, "sample_documents", (double)n);
    knob_evidence_number(use, "sample_tokens", (double)a.tokens_before_truncation);
    knob_evidence_number(use, "threads_after", run->threads);
    knob_evidence_number(use, "cache_hit_share", run->cache_lookups ? (double)run->cache_hits /
                                                                          (double)run->cache_lookups : 0);
    knob_evidence_number(use, "measure_seconds", spent);
    double before = a.tokens_per_s, after = b.tokens_per_s;
    gt_encoded_free(&a);
    gt_encoded_free(&b);
    if (!identical)
        return gt_error_set(err, GT_ERR_INTERNAL, "tokenizer_fast: the fast path gave other ids than the plain path "
                            "on the first %zu training documents — a bug; drop the knob and report it", n);
    if (run->threads <= 1 && run->cache_hits == 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "tokenizer_fast: the fast path ran on one thread with no word "
                            "repeated (no cache hit) — it changed nothing here; drop the knob");
    if (after < before)
        pl_warn(p, "tokenizer_fast: the fast path ran at %.0f tokens/s, slower than the plain path's %.0f on the "
                "same %zu documents (a busy machine, or too few documents to split)", after, before, n);
    return GT_OK;
}

static const gt_stage_hooks tokenizer_fast_stage = {.at = {[GT_HOOK_TOKENIZE] = tokenizer_fast_tokenize,
                                                           [GT_HOOK_TOKENIZED] = tokenizer_fast_evidence}};

static gt_status tokenizer_fast_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                     FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: encode every split on the fast path (a word cache per thread, documents on all "
            "threads), then encode the first %ld training documents both ways to compare tokens/s and ids\n",
            gt_knob_int(use, "sample"));
    return GT_OK;
}

static const struct gt_knob_hooks tokenizer_fast_hooks = {.plan = tokenizer_fast_plan,
                                                          .stage = &tokenizer_fast_stage};

/* --- seq_trim ------------------------------------------------------------------ */

static gt_status seq_trim_tokenize(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    size_t max_len = (size_t)gt_knob_int(use, "max_len"), before = p->encode.max_len;
    if (before && max_len >= before)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"seq_trim\": max_len %zu is not below the %zu tokens per "
                            "sample the pipeline keeps already — nothing to trim; pick a smaller max_len",
                            max_len, before);
    knob_evidence_number(use, "max_len_before", (double)before);
    p->encode.max_len = max_len;
    return GT_OK;
}

/* Tokens per training sample with the pipeline's own limit (before) and the
 * knob's (after), from the encoded documents' full lengths. */
static gt_status seq_trim_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    const gt_encoded *enc = &p->train.enc;
    size_t limit = (size_t)knob_evidence_get(use, "max_len_before", 0), max_before = 0, trimmed = 0;
    double sum_before = 0;
    for (size_t i = 0; i < enc->n; i++) {
        size_t len = enc->full_lengths[i] < limit || !limit ? enc->full_lengths[i] : limit;
        sum_before += (double)len;
        max_before = len > max_before ? len : max_before;
        trimmed += len > enc->offsets[i + 1] - enc->offsets[i];
    }
    gt_length_stats after;
    gt_encoded_lengths(enc, &after);
    knob_evidence_number(use, "mean_tokens_before", enc->n ? sum_before / (double)enc->n : 0);
    knob_evidence_number(use, "mean_tokens_after", after.mean_after);
    knob_evidence_number(use, "max_tokens_before", (double)max_before);
    knob_evidence_number(use, "max_tokens_after", (double)after.max_after);
    knob_evidence_number(use, "samples_trimmed", (double)trimmed);
    if (trimmed == 0)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"seq_trim\": no training sample is longer than max_len %ld "
                            "(the longest has %zu tokens) — nothing was trimmed; pick max_len below %zu",
                            gt_knob_int(use, "max_len"), max_before, max_before);
    return GT_OK;
}

static const gt_stage_hooks seq_trim_stage = {.at = {[GT_HOOK_TOKENIZE] = seq_trim_tokenize,
                                                     [GT_HOOK_TOKENIZED] = seq_trim_evidence}};

/* A pipeline that builds its model knows its sequence length up front; one
 * that loads a model directory is checked at the tokenize stage. */
static gt_status seq_trim_check(const gt_knob_use *use, const gt_pipeline_spec *s, gt_error *err)
{
    long max_len = gt_knob_int(use, "max_len");
    if (!s->model_from && max_len >= s->max_len)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"seq_trim\": max_len %ld is not below model.max_len %d — "
                            "nothing to trim; pick a smaller max_len", max_len, s->max_len);
    return GT_OK;
}

static gt_status seq_trim_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                               gt_error *err)
{
    (void)set;
    (void)err;
    const gt_pipeline_spec *s = ctx ? ctx->pipeline : NULL;
    long max_len = gt_knob_int(use, "max_len");
    if (s && !s->model_from)
        fprintf(out, "    would: keep %ld of the %d tokens per sample (model.max_len), every split\n", max_len,
                s->max_len);
    else
        fprintf(out, "    would: keep at most %ld tokens per sample, every split\n", max_len);
    return GT_OK;
}

static const struct gt_knob_hooks seq_trim_hooks = {.plan = seq_trim_plan, .stage = &seq_trim_stage,
                                                    .check = seq_trim_check};

/* --- dynamic_padding ------------------------------------------------------------ */

static gt_status dynamic_padding_tokenize(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    int bucket = gt_knob_bool(use, "bucket");
    p->train_batch.dynamic_padding = p->eval_batch.dynamic_padding = 1;
    p->train_batch.sort_by_length = p->eval_batch.sort_by_length = bucket;
    return GT_OK;
}

/* Before: the padding share of the training batches with every row padded to
 * max_len (what the pipeline does without the knob), from the encoded lengths. */
static gt_status dynamic_padding_before(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const gt_encoded *enc = &p->train.enc;
    size_t longest = 0;
    for (size_t i = 0; i < enc->n; i++)
        longest = enc->offsets[i + 1] - enc->offsets[i] > longest ? enc->offsets[i + 1] - enc->offsets[i] : longest;
    double T = (double)(p->encode.max_len ? p->encode.max_len : longest);
    double all = T * (double)enc->n;
    knob_evidence_number(use, "padding_share_before", all > 0 ? 1.0 - (double)enc->tokens / all : 0);
    return GT_OK;
}

/* After: the padding share of the batches the train stage actually ran. */
static gt_status dynamic_padding_after(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const gt_train_counts *c = &p->trained;
    double after = c->padded_tokens > 0 ? 1.0 - c->real_tokens / c->padded_tokens : 0;
    double before = knob_evidence_get(use, "padding_share_before", 0);
    knob_evidence_number(use, "padding_share_after", after);
    knob_evidence_number(use, "padded_tokens_trained", c->padded_tokens);
    knob_evidence_number(use, "real_tokens_trained", c->real_tokens);
    if (before <= 0)
        pl_warn(p, "dynamic_padding: every training sample fills max_len (%zu tokens): there was no padding to "
                "remove; the knob changed nothing", p->encode.max_len);
    return GT_OK;
}

static const gt_stage_hooks dynamic_padding_stage = {.at = {[GT_HOOK_TOKENIZE] = dynamic_padding_tokenize,
                                                            [GT_HOOK_TOKENIZED] = dynamic_padding_before,
                                                            [GT_HOOK_FINISH] = dynamic_padding_after}};

static gt_status dynamic_padding_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                      FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: pad each training and evaluation batch to its longest sample instead of max_len%s\n",
            gt_knob_bool(use, "bucket") ? ", samples grouped by length within windows of 50 batches (the batch "
                                          "order stays shuffled)" : "");
    return GT_OK;
}

static const struct gt_knob_hooks dynamic_padding_hooks = {.plan = dynamic_padding_plan,
                                                           .stage = &dynamic_padding_stage};

/* --- dedup ------------------------------------------------------------------------ */

/* The text dedup compares: with normalize, ASCII letters lowercased and every
 * run of ASCII spaces, punctuation and control characters one space, trimmed
 * (other characters kept); without, the bytes as read. */
static size_t dedup_normalize(const char *text, size_t len, int normalize, char *out)
{
    if (!normalize) {
        memcpy(out, text, len);
        return len;
    }
    size_t n = 0;
    int gap = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80 && !isalnum(c)) {
            gap = n > 0;
            continue;
        }
        if (gap)
            out[n++] = ' ';
        gap = 0;
        out[n++] = c < 0x80 ? (char)tolower(c) : (char)c;
    }
    return n;
}

typedef struct {
    const gt_dataset *ds;
    int normalize;
    gt_u64map seen;      /* hash of the text -> position in the training set + 1 */
    char *a, *b;         /* normalized texts being compared */
    size_t exact;        /* duplicates with the same bytes */
    int failed;
} dedup_state;

static int dedup_keep(size_t index, void *ctx)
{
    dedup_state *d = ctx;
    const char *text = d->ds->texts[index];
    size_t len = d->ds->lengths[index];
    size_t n = dedup_normalize(text, len, d->normalize, d->a);
    uint64_t h = gt_hash_bytes(d->a, n);
    uint32_t *first = gt_u64map_get(&d->seen, h);
    if (!first) {
        if (gt_u64map_put(&d->seen, h, (uint32_t)index) != 0)
            d->failed = 1;
        return 1;
    }
    /* Equal hashes: compare the texts, so a hash collision never drops a sample. */
    const char *other = d->ds->texts[*first];
    size_t other_len = d->ds->lengths[*first];
    size_t m = dedup_normalize(other, other_len, d->normalize, d->b);
    if (m != n || memcmp(d->a, d->b, n))
        return 1;
    d->exact += other_len == len && !memcmp(other, text, len);
    return 0;
}

static gt_status dedup_data(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_index_set *train = &p->split.train;
    dedup_state d = {.ds = p->ds, .normalize = gt_knob_bool(use, "normalize")};
    size_t longest = 1;
    for (size_t i = 0; i < train->n; i++)
        longest = p->ds->lengths[train->idx[i]] > longest ? p->ds->lengths[train->idx[i]] : longest;
    size_t before = train->n, removed = 0;
    d.a = malloc(longest);
    d.b = malloc(longest);
    if (d.a && d.b && gt_u64map_init(&d.seen, train->n) == 0)
        removed = gt_index_set_filter(train, dedup_keep, &d);
    else
        d.failed = 1;
    free(d.a);
    free(d.b);
    gt_u64map_free(&d.seen);
    if (d.failed)
        return gt_error_set(err, GT_ERR_NOMEM, "dedup: out of memory for %zu training texts", before);
    knob_evidence_number(use, "samples_before", (double)before);
    knob_evidence_number(use, "samples_removed", (double)removed);
    knob_evidence_number(use, "samples_after", (double)train->n);
    knob_evidence_number(use, "exact_duplicates", (double)d.exact);
    if (removed == 0)
        pl_warn(p, "dedup: no duplicate among the %zu training samples; the knob changed nothing", before);
    return GT_OK;
}

static const gt_stage_hooks dedup_stage = {.at = {[GT_HOOK_DATA] = dedup_data}};

static gt_status dedup_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                            gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: drop every training sample whose %s equals an earlier one's (validation and test "
            "untouched)\n", gt_knob_bool(use, "normalize") ? "normalized text (lowercased, punctuation and spaces "
                                                            "collapsed)" : "text");
    return GT_OK;
}

static const struct gt_knob_hooks dedup_hooks = {.plan = dedup_plan, .stage = &dedup_stage};

/* --- subsample ------------------------------------------------------------------- */

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The pairs (length << 32 | position) sort by length, ties by position. */
static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* k of the n samples of set: random (a shuffle's first k), or length-aware
 * (sorted by text length, cut into k equal bins, one sample drawn from each,
 * so the kept lengths follow the original distribution). */
static gt_status subsample_pick(const gt_dataset *ds, const gt_index_set *set, size_t k, int by_length, uint64_t seed,
                                gt_index_set *out, gt_error *err)
{
    size_t n = set->n;
    size_t *pick = malloc((n ? n : 1) * sizeof *pick);
    uint64_t *keys = by_length ? malloc((n ? n : 1) * sizeof *keys) : NULL;
    if (!pick || (by_length && !keys)) {
        free(pick);
        free(keys);
        return gt_error_set(err, GT_ERR_NOMEM, "subsample: out of memory");
    }
    gt_rng rng;
    gt_rng_seed(&rng, seed);
    if (!by_length) {
        memcpy(pick, set->idx, n * sizeof *pick);
        gt_shuffle(pick, n, &rng);
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t len = ds->lengths[set->idx[i]];
            keys[i] = ((uint64_t)(len < UINT32_MAX ? len : UINT32_MAX) << 32) | (uint64_t)i;
        }
        qsort(keys, n, sizeof *keys, compare_u64);
        for (size_t j = 0; j < k; j++) {
            size_t lo = n * j / k, hi = n * (j + 1) / k;
            pick[j] = set->idx[(uint32_t)keys[lo + gt_rng_below(&rng, hi - lo)]];
        }
    }
    free(keys);
    qsort(pick, k, sizeof *pick, compare_size); /* index sets are ascending */
    out->idx = pick;
    out->n = k;
    return GT_OK;
}

static double mean_length(const gt_dataset *ds, const gt_index_set *set)
{
    double sum = 0;
    for (size_t i = 0; i < set->n; i++)
        sum += (double)ds->lengths[set->idx[i]];
    return set->n ? sum / (double)set->n : 0;
}

static cJSON *class_counts(const gt_dataset *ds, const gt_index_set *set, size_t *counts)
{
    gt_index_set_class_counts(ds, set, counts);
    cJSON *o = cJSON_CreateObject();
    for (int c = 0; c < ds->n_classes; c++)
        cJSON_AddNumberToObject(o, ds->class_names[c], (double)counts[c]);
    return o;
}

static gt_status subsample_data(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    const gt_dataset *ds = p->ds;
    gt_index_set *train = &p->split.train, kept = {0};
    const char *strategy = gt_knob_string(use, "strategy");
    size_t before = train->n, k = (size_t)llround(gt_knob_double(use, "fraction") * (double)before);
    if (k < 1)
        k = 1;
    /* Its own stream: the same seed must not pick the samples the split or the batches picked. */
    uint64_t seed = p->spec->data_seed ^ 0x5ab5a3b1e0c0ffeeull;
    gt_status st = !strcmp(strategy, "stratified") ? gt_dataset_stratified_subset(ds, train, k, seed, &kept, err)
                                                   : subsample_pick(ds, train, k, !strcmp(strategy, "length"), seed,
                                                                    &kept, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "subsample: ");
    size_t *counts = calloc(2 * (size_t)ds->n_classes, sizeof *counts);
    if (!counts) {
        gt_index_set_free(&kept);
        return gt_error_set(err, GT_ERR_NOMEM, "subsample: out of memory");
    }
    knob_evidence_number(use, "train_samples_before", (double)before);
    knob_evidence_number(use, "train_samples_after", (double)kept.n);
    knob_evidence_item(use, "classes_before", class_counts(ds, train, counts));
    knob_evidence_item(use, "classes_after", class_counts(ds, &kept, counts + ds->n_classes));
    knob_evidence_number(use, "mean_length_before", mean_length(ds, train));
    knob_evidence_number(use, "mean_length_after", mean_length(ds, &kept));
    gt_index_set_free(train);
    *train = kept;
    for (int c = 0; c < ds->n_classes; c++)
        if (counts[c] && !counts[ds->n_classes + c]) {
            st = gt_error_set(err, GT_ERR_INVALID, "knob \"subsample\": no training sample of class \"%s\" is left "
                              "(%zu before, fraction %g, strategy %s) — raise fraction or use strategy=stratified",
                              ds->class_names[c], counts[c], gt_knob_double(use, "fraction"), strategy);
            break;
        }
    free(counts);
    return st;
}

static const gt_stage_hooks subsample_stage = {.at = {[GT_HOOK_DATA] = subsample_data}};

static gt_status subsample_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                                gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    static const char *const how[][2] = {{"random", "drawn at random"},
                                         {"stratified", "drawn per class, keeping the class shares"},
                                         {"length", "one from each of as many equal bins of the samples sorted by "
                                                    "length (the length distribution is kept)"}};
    const char *strategy = gt_knob_string(use, "strategy"), *text = strategy;
    for (size_t i = 0; i < sizeof how / sizeof how[0]; i++)
        if (!strcmp(how[i][0], strategy))
            text = how[i][1];
    fprintf(out, "    would: train on %.0f %% of the training split, %s; validation and test untouched\n",
            100 * gt_knob_double(use, "fraction"), text);
    return GT_OK;
}

static const struct gt_knob_hooks subsample_hooks = {.plan = subsample_plan, .stage = &subsample_stage};

/* --- the table ------------------------------------------------------------------- */

static const char *const subsample_strategies[] = {"random", "stratified", "length", NULL};

const gt_knob_def gt_knobs_data[] = {
    /* tokenizer_fast (V4; the paper's tokenizer knob changed nothing: this one is
     * measured both ways on the same documents). */
    {
        .name = "tokenizer_fast",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TOKENIZE,
        .paper = "V4",
        .summary = "faster tokenizer path: cached vocabulary lookups, texts tokenized in parallel",
        .params = (const gt_knob_param[]){
            {"sample", GT_PARAM_INT, "64", 1, 100000, NULL, 1,
             "training documents encoded both ways to measure tokens/s and compare ids"},
            {0}},
        .evidence = (const char *const[]){"tokens_per_s_before", "tokens_per_s_after", "ids_identical", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &tokenizer_fast_hooks,
    },
    /* seq_trim (V8). */
    {
        .name = "seq_trim",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_TOKENIZE | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V8",
        .summary = "truncate every sequence to max_len tokens",
        .params = (const gt_knob_param[]){
            {"max_len", GT_PARAM_INT, "128", 8, 65536, NULL, 1, "tokens kept per sample, special tokens included"},
            {0}},
        .evidence = (const char *const[]){"mean_tokens_before", "mean_tokens_after", "max_tokens_before",
                                          "max_tokens_after", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &seq_trim_hooks,
    },
    /* dynamic_padding (survey). */
    {
        .name = "dynamic_padding",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_TOKENIZE | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "survey",
        .summary = "pad each batch to its longest sample instead of max_len; optionally bucket samples by length",
        .params = (const gt_knob_param[]){
            {"bucket", GT_PARAM_BOOL, "true", 0, 0, NULL, 0,
             "group samples of similar length into batches (the batch order stays shuffled)"},
            {0}},
        .evidence = (const char *const[]){"padding_share_before", "padding_share_after", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &dynamic_padding_hooks,
    },
    /* dedup (survey). */
    {
        .name = "dedup",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_DATA,
        .paper = "survey",
        .summary = "drop exact or near-duplicate training samples (hash of the normalized text)",
        .params = (const gt_knob_param[]){
            {"normalize", GT_PARAM_BOOL, "true", 0, 0, NULL, 0,
             "hash lowercased text with whitespace and punctuation collapsed (near duplicates); false: exact bytes"},
            {0}},
        .evidence = (const char *const[]){"samples_before", "samples_removed", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &dedup_hooks,
    },
    /* subsample (survey: dataset reduction up to 40 %). */
    {
        .name = "subsample",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_DATA,
        .paper = "survey (dataset reduction ≤ 40 %)",
        .summary = "train on a sample of the training split: random, stratified by label, or length-aware",
        .params = (const gt_knob_param[]){
            {"fraction", GT_PARAM_FLOAT, "0.6", 0.01, 0.99, NULL, 1, "share of the training samples kept"},
            {"strategy", GT_PARAM_ENUM, "stratified", 0, 0, subsample_strategies, 0,
             "random; stratified keeps the label shares; length keeps the length distribution"},
            {0}},
        .evidence = (const char *const[]){"train_samples_before", "train_samples_after", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &subsample_hooks,
    },
    {0},
};
