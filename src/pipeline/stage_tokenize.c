/* The tokenize stage: train a WordPiece vocabulary on the training split (or
 * load a tokenizer.json), then encode the three parts of the split. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Texts and lengths of a set's samples, in the set's order. */
static gt_status gather(const gt_dataset *ds, const gt_index_set *set, const char ***texts, size_t **lengths,
                        gt_error *err)
{
    *texts = malloc((set->n ? set->n : 1) * sizeof **texts);
    *lengths = malloc((set->n ? set->n : 1) * sizeof **lengths);
    if (!*texts || !*lengths)
        return gt_error_set(err, GT_ERR_NOMEM, "tokenize: out of memory for %zu texts", set->n);
    for (size_t i = 0; i < set->n; i++) {
        (*texts)[i] = ds->texts[set->idx[i]];
        (*lengths)[i] = ds->lengths[set->idx[i]];
    }
    return GT_OK;
}

/* WordPiece from the training texts: all of them, or a stratified sample of
 * tokenizer.train_samples (the vocabulary converges long before a big corpus
 * ends). */
static gt_status train_wordpiece(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    gt_index_set sample = {0};
    const gt_index_set *from = &p->split.train;
    gt_status st = GT_OK;
    if (s->tokenizer_samples && s->tokenizer_samples < from->n) {
        st = gt_dataset_stratified_subset(p->ds, from, s->tokenizer_samples, s->data_seed, &sample, err);
        from = &sample;
    }
    const char **texts = NULL;
    size_t *lengths = NULL;
    if (st == GT_OK)
        st = gather(p->ds, from, &texts, &lengths, err);
    double t0 = now_s();
    if (st == GT_OK)
        st = gt_tokenizer_train_wordpiece(&p->tok, texts, lengths, from->n, &s->wordpiece, err);
    if (st == GT_OK) {
        cJSON_AddStringToObject(p->tokenize_json, "tokenizer", "wordpiece (trained on the training split)");
        cJSON_AddNumberToObject(p->tokenize_json, "trained_on", (double)from->n);
        cJSON_AddNumberToObject(p->tokenize_json, "train_seconds", now_s() - t0);
    }
    free(texts);
    free(lengths);
    gt_index_set_free(&sample);
    return st;
}

static gt_status load_tokenizer(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    char path[4096];
    if (s->tokenizer_path)
        snprintf(path, sizeof path, "%s", s->tokenizer_path);
    else
        snprintf(path, sizeof path, "%s/tokenizer.json", s->model_from);
    gt_status st = gt_tokenizer_load(&p->tok, path, err);
    if (st == GT_OK)
        cJSON_AddStringToObject(p->tokenize_json, "tokenizer", path);
    return st;
}

static gt_status encode_part(gt_pipeline_ctx *p, gt_pipeline_part *part, const gt_index_set *set, gt_error *err)
{
    part->set = set;
    const char **texts = NULL;
    size_t *lengths = NULL;
    gt_status st = gather(p->ds, set, &texts, &lengths, err);
    if (st == GT_OK)
        st = gt_tokenizer_encode_batch(p->tok, texts, lengths, set->n, &p->encode, &part->enc, err);
    if (st == GT_OK && !(part->labels = malloc((set->n ? set->n : 1) * sizeof *part->labels)))
        st = gt_error_set(err, GT_ERR_NOMEM, "tokenize: out of memory");
    for (size_t i = 0; st == GT_OK && i < set->n; i++)
        part->labels[i] = p->ds->labels[set->idx[i]];
    free(texts);
    free(lengths);
    return st;
}

static void record_encoding(gt_pipeline_ctx *p)
{
    gt_pipeline_part *parts[3] = {&p->train, &p->val, &p->test};
    size_t tokens = 0, before = 0, truncated = 0, docs = 0;
    double seconds = 0;
    for (int i = 0; i < 3; i++) {
        tokens += parts[i]->enc.tokens;
        before += parts[i]->enc.tokens_before_truncation;
        truncated += parts[i]->enc.truncated;
        docs += parts[i]->enc.n;
        seconds += parts[i]->enc.seconds;
    }
    gt_length_stats train_lengths;
    gt_encoded_lengths(&p->train.enc, &train_lengths);
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(p->tok, &facts);
    cJSON *t = p->tokenize_json;
    cJSON_AddStringToObject(t, "model", facts.model);
    cJSON_AddNumberToObject(t, "vocab_size", (double)facts.vocab_size);
    cJSON_AddNumberToObject(t, "max_len", (double)p->encode.max_len);
    cJSON_AddNumberToObject(t, "documents", (double)docs);
    cJSON_AddNumberToObject(t, "tokens", (double)tokens);
    cJSON_AddNumberToObject(t, "tokens_before_truncation", (double)before);
    cJSON_AddNumberToObject(t, "truncated", (double)truncated);
    cJSON_AddNumberToObject(t, "mean_tokens_train", train_lengths.mean_after);
    cJSON_AddNumberToObject(t, "mean_tokens_train_before_truncation", train_lengths.mean_before);
    cJSON_AddNumberToObject(t, "encode_seconds", seconds);
    cJSON_AddNumberToObject(t, "tokens_per_s", seconds > 0 ? (double)before / seconds : 0);
    cJSON_AddBoolToObject(t, "fast", p->encode.fast);
    pl_log(p, "tokenize: %s vocabulary of %zu; %zu documents, %zu tokens kept of %zu (%zu truncated to %zu)",
           facts.model, facts.vocab_size, docs, tokens, before, truncated, p->encode.max_len);
}

gt_status pl_stage_tokenize(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    gt_status st = s->tokenizer_path || s->model_from ? load_tokenizer(p, err) : train_wordpiece(p, err);
    if (st != GT_OK)
        return st;
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(p->tok, &facts);
    if (facts.pad_id < 0)
        pl_warn(p, "tokenizer: no padding token; padding uses id 0 (masked out, so harmless)");
    int32_t pad = facts.pad_id < 0 ? 0 : facts.pad_id;
    p->train_batch.pad_id = p->eval_batch.pad_id = pad;
    if ((st = pl_hooks_run(p, GT_HOOK_TOKENIZE, err)) != GT_OK)
        return st;
    p->train_batch.max_len = p->eval_batch.max_len = p->encode.max_len;
    if ((st = encode_part(p, &p->train, &p->split.train, err)) != GT_OK ||
        (st = encode_part(p, &p->val, &p->split.val, err)) != GT_OK ||
        (st = encode_part(p, &p->test, &p->split.test, err)) != GT_OK)
        return gt_error_prefix(err, "tokenize: ");
    record_encoding(p);
    return pl_hooks_run(p, GT_HOOK_TOKENIZED, err);
}
