/* The encode pipeline of a tokenizer: added tokens, normalizer, pre-tokenizer,
 * model, truncation, post processor. Batches run on OpenMP threads with a
 * word -> ids cache each (the fast path) or serially without one (the plain
 * path); both produce the same ids, which the tests check. */
#include "data/tokenizer_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_MAX_WORDS ((size_t)1 << 18)
#define CACHE_MAX_IDS ((size_t)1 << 22)

void gt_encode_options_init(gt_encode_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->add_special_tokens = 1;
}

void tok_work_free(tok_work *w)
{
    gt_cpbuf_free(&w->raw);
    gt_cpbuf_free(&w->norm);
    gt_cpbuf_free(&w->tmp);
    gt_cpbuf_free(&w->stage);
    gt_cpbuf_free(&w->piece);
    gt_bytes_free(&w->word);
    gt_bytes_free(&w->chunk);
    free(w->spans);
    free(w->spans2);
    free(w->sym);
    free(w->prev);
    free(w->next);
    free(w->heap);
    gt_strmap_free(&w->cache);
    free(w->cache_start);
    free(w->cache_len);
    gt_ivec_free(&w->cache_ids);
    memset(w, 0, sizeof *w);
}

static void cache_reset(tok_work *w)
{
    gt_strmap_free(&w->cache);
    w->cache_ids.n = 0;
}

static void cache_insert(tok_work *w, const char *word, size_t len, const int32_t *ids, size_t n)
{
    if (w->cache.n >= CACHE_MAX_WORDS || w->cache_ids.n + n > CACHE_MAX_IDS)
        cache_reset(w);  /* bounded memory: start over rather than grow without end */
    if (!w->cache.slots && gt_strmap_init(&w->cache, 4096) != 0)
        return;
    size_t e = w->cache.n;
    if (e == w->cache_cap) {
        size_t cap = w->cache_cap ? w->cache_cap * 2 : 4096;
        size_t *start = realloc(w->cache_start, cap * sizeof *start);
        if (!start)
            return;
        w->cache_start = start;
        size_t *lens = realloc(w->cache_len, cap * sizeof *lens);
        if (!lens)
            return;
        w->cache_len = lens;
        w->cache_cap = cap;
    }
    size_t at = w->cache_ids.n;
    if (gt_ivec_append(&w->cache_ids, ids, n) != 0)
        return;
    if (gt_strmap_put(&w->cache, word, len, (int32_t)e) != 0) {
        w->cache_ids.n = at;
        return;
    }
    w->cache_start[e] = at;
    w->cache_len[e] = n;
}

static int encode_word(const gt_tokenizer *tok, const uint32_t *cps, size_t n, tok_work *w, gt_ivec *out)
{
    gt_bytes *word = &w->word;
    word->n = 0;
    if (gt_bytes_reserve(word, 4 * n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        word->n += gt_utf8_put(cps[i], word->v + word->n);
    int cached = w->use_cache && !tok->chunkable;  /* chunkable tokenizers cache whole chunks instead */
    if (cached) {
        w->lookups++;
        int32_t e = gt_strmap_get(&w->cache, word->v, word->n);
        if (e >= 0) {
            w->hits++;
            return gt_ivec_append(out, w->cache_ids.v + w->cache_start[e], w->cache_len[e]);
        }
    }
    size_t mark = out->n;
    int rc = tok->model == TOK_WORDPIECE ? tok_wordpiece_word(tok, word->v, word->n, out)
                                         : tok_bpe_word(tok, word->v, word->n, w, out);
    if (rc == 0 && cached)
        cache_insert(w, word->v, word->n, out->v + mark, out->n - mark);
    return rc;
}

/* A piece of normalized text between added tokens: pre-tokenize, then the model. */
static int encode_piece(const gt_tokenizer *tok, const uint32_t *cps, size_t n, tok_work *w, gt_ivec *out)
{
    if (n == 0)
        return 0;
    const pre_step *first = tok->n_pres ? &tok->pres[0] : NULL;
    if (first && first->kind == PRE_BYTE_LEVEL && first->add_prefix_space && cps[0] != ' ') {
        w->piece.n = 0;
        if (gt_cpbuf_reserve(&w->piece, n + 1) != 0)
            return -1;
        w->piece.v[0] = ' ';
        memcpy(w->piece.v + 1, cps, n * sizeof *cps);
        w->piece.n = n + 1;
        cps = w->piece.v;
        n = w->piece.n;
    }
    if (tok_pretokenize(tok, cps, n, w) != 0)
        return -1;
    for (size_t k = 0; k < w->n_spans; k++)
        if (encode_word(tok, cps + w->spans[2 * k], w->spans[2 * k + 1] - w->spans[2 * k], w, out) != 0)
            return -1;
    return 0;
}

/* A segment of raw text between non-normalized added tokens: normalize, cut
 * out normalized added tokens, then pre-tokenize and apply the model. */
static int encode_raw(const gt_tokenizer *tok, const uint32_t *cps, size_t n, tok_work *w, gt_ivec *out)
{
    if (n == 0)
        return 0;
    if (tok_normalize(tok, cps, n, &w->norm, &w->tmp, &w->stage) != 0)
        return -1;
    const uint32_t *norm = w->norm.v;
    size_t norm_n = w->norm.n, pos = 0, start, end;
    const added_token *t;
    while (tok->n_added_normalized && tok_find_added(tok, norm, norm_n, pos, 1, &t, &start, &end)) {
        if (encode_piece(tok, norm + pos, start - pos, w, out) != 0 || gt_ivec_push(out, t->id) != 0)
            return -1;
        pos = end;
    }
    return encode_piece(tok, norm + pos, norm_n - pos, w, out);
}

static int is_chunk_separator(uint32_t cp)
{
    return cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r';
}

/* The fast path of chunkable tokenizers: each piece of raw text between
 * separators is looked up whole in the cache, skipping normalization,
 * pre-tokenization and the model for every piece seen before. */
static int encode_chunks(const gt_tokenizer *tok, const uint32_t *cps, size_t n, tok_work *w, gt_ivec *out)
{
    for (size_t i = 0; i < n;) {
        while (i < n && is_chunk_separator(cps[i]))
            i++;
        size_t start = i;
        while (i < n && !is_chunk_separator(cps[i]))
            i++;
        if (start == i)
            break;
        gt_bytes *key = &w->chunk;
        key->n = 0;
        if (gt_bytes_reserve(key, 4 * (i - start)) != 0)
            return -1;
        for (size_t j = start; j < i; j++)
            key->n += gt_utf8_put(cps[j], key->v + key->n);
        w->lookups++;
        int32_t e = gt_strmap_get(&w->cache, key->v, key->n);
        if (e >= 0) {
            w->hits++;
            if (gt_ivec_append(out, w->cache_ids.v + w->cache_start[e], w->cache_len[e]) != 0)
                return -1;
            continue;
        }
        size_t mark = out->n;
        if (encode_raw(tok, cps + start, i - start, w, out) != 0)
            return -1;
        cache_insert(w, key->v, key->n, out->v + mark, out->n - mark);
    }
    return 0;
}

static int encode_segment(const gt_tokenizer *tok, const uint32_t *cps, size_t n, tok_work *w, gt_ivec *out)
{
    if (w->use_cache && tok->chunkable)
        return encode_chunks(tok, cps, n, w, out);
    return encode_raw(tok, cps, n, w, out);
}

int tok_encode_text(const gt_tokenizer *tok, const char *text, size_t len, tok_work *w, gt_ivec *out)
{
    gt_cpbuf *raw = &w->raw;
    raw->n = 0;
    if (gt_cpbuf_reserve(raw, len) != 0)
        return -1;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;)
        raw->v[raw->n++] = s[i] < 0x80 ? s[i++] : gt_utf8_next(s, len, &i);
    size_t pos = 0, start, end, raw_only = tok->n_added - tok->n_added_normalized;
    const added_token *t;
    while (raw_only && tok_find_added(tok, raw->v, raw->n, pos, 0, &t, &start, &end)) {
        if (encode_segment(tok, raw->v + pos, start - pos, w, out) != 0 || gt_ivec_push(out, t->id) != 0)
            return -1;
        pos = end;
    }
    return encode_segment(tok, raw->v + pos, raw->n - pos, w, out);
}

static size_t template_ids(const gt_tokenizer *tok, const gt_encode_options *opt)
{
    return opt->add_special_tokens ? tok->n_prefix_ids + tok->n_suffix_ids : 0;
}

static gt_status check_options(const gt_tokenizer *tok, const gt_encode_options *opt, gt_error *err)
{
    size_t special = template_ids(tok, opt);
    if (opt->max_len && opt->max_len <= special)
        return gt_error_set(err, GT_ERR_INVALID, "tokenizer: max_len %zu leaves no room for text next to the %zu "
                            "special tokens — use a larger max_len", opt->max_len, special);
    return GT_OK;
}

/* One document, template and truncation included, appended to out. */
static int encode_document(const gt_tokenizer *tok, const char *text, size_t len, const gt_encode_options *opt,
                           tok_work *w, gt_ivec *out, size_t *full_length)
{
    if (opt->add_special_tokens && gt_ivec_append(out, tok->prefix_ids, tok->n_prefix_ids) != 0)
        return -1;
    size_t content_start = out->n;
    if (tok_encode_text(tok, text, len, w, out) != 0)
        return -1;
    size_t content = out->n - content_start, special = template_ids(tok, opt);
    *full_length = content + special;
    if (opt->max_len && content + special > opt->max_len)
        out->n = content_start + (opt->max_len - special);
    if (opt->add_special_tokens && gt_ivec_append(out, tok->suffix_ids, tok->n_suffix_ids) != 0)
        return -1;
    return 0;
}

gt_status gt_tokenizer_encode(const gt_tokenizer *tok, const char *text, size_t len, const gt_encode_options *opt,
                              int32_t **ids, size_t *n, gt_error *err)
{
    gt_encode_options defaults;
    if (!opt) {
        gt_encode_options_init(&defaults);
        opt = &defaults;
    }
    *ids = NULL;
    *n = 0;
    gt_status status = check_options(tok, opt, err);
    if (status != GT_OK)
        return status;
    tok_work w = {0};
    gt_ivec out = {0};
    size_t full;
    if (encode_document(tok, text, len, opt, &w, &out, &full) != 0) {
        tok_work_free(&w);
        gt_ivec_free(&out);
        return gt_error_set(err, GT_ERR_NOMEM, "tokenizer: out of memory encoding %zu bytes", len);
    }
    tok_work_free(&w);
    if (!out.v && !(out.v = malloc(sizeof *out.v)))
        return gt_error_set(err, GT_ERR_NOMEM, "tokenizer: out of memory");
    *ids = out.v;
    *n = out.n;
    return GT_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gt_encoded_free(gt_encoded *enc)
{
    free(enc->ids);
    free(enc->offsets);
    free(enc->full_lengths);
    memset(enc, 0, sizeof *enc);
}

/* Where each document's ids went: which thread's buffer, and where in it. */
typedef struct {
    int thread;
    size_t start, len;
} doc_place;

static gt_status gather(gt_encoded *out, const doc_place *place, const gt_ivec *locals, size_t n, gt_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        out->offsets[i] = total;
        total += place[i].len;
    }
    out->offsets[n] = total;
    out->ids = malloc((total ? total : 1) * sizeof *out->ids);
    if (!out->ids)
        return gt_error_set(err, GT_ERR_NOMEM, "tokenizer: out of memory for %zu ids", total);
    for (size_t i = 0; i < n; i++)
        memcpy(out->ids + out->offsets[i], locals[place[i].thread].v + place[i].start, place[i].len * sizeof(int32_t));
    out->tokens = total;
    return GT_OK;
}

gt_status gt_tokenizer_encode_batch(const gt_tokenizer *tok, const char *const *texts, const size_t *lengths,
                                    size_t n, const gt_encode_options *opt, gt_encoded *out, gt_error *err)
{
    gt_encode_options defaults;
    if (!opt) {
        gt_encode_options_init(&defaults);
        opt = &defaults;
    }
    memset(out, 0, sizeof *out);
    gt_status status = check_options(tok, opt, err);
    if (status != GT_OK)
        return status;
    int threads = 1;
    if (opt->fast) {
        threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
        if ((size_t)threads > n)
            threads = n ? (int)n : 1;
    }
    out->n = n;
    out->threads = threads;
    out->offsets = malloc((n + 1) * sizeof *out->offsets);
    out->full_lengths = malloc((n ? n : 1) * sizeof *out->full_lengths);
    doc_place *place = malloc((n ? n : 1) * sizeof *place);
    gt_ivec *locals = calloc((size_t)threads, sizeof *locals);
    if (!out->offsets || !out->full_lengths || !place || !locals) {
        free(place);
        free(locals);
        gt_encoded_free(out);
        return gt_error_set(err, GT_ERR_NOMEM, "tokenizer: out of memory for %zu documents", n);
    }
    double t0 = now_seconds();
    int failed = 0;
    size_t hits = 0, lookups = 0;
#pragma omp parallel num_threads(threads) if (threads > 1) reduction(+ : hits, lookups)
    {
        int me = omp_get_thread_num();
        tok_work w = {0};
        w.use_cache = opt->fast;
#pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            int fail;
#pragma omp atomic read
            fail = failed;
            if (fail)
                continue;
            size_t len = lengths ? lengths[i] : strlen(texts[i]);
            place[i].thread = me;
            place[i].start = locals[me].n;
            if (encode_document(tok, texts[i], len, opt, &w, &locals[me], &out->full_lengths[i]) != 0) {
#pragma omp atomic write
                failed = 1;
            }
            place[i].len = locals[me].n - place[i].start;
        }
        hits += w.hits;
        lookups += w.lookups;
        tok_work_free(&w);
    }
    if (failed)
        status = gt_error_set(err, GT_ERR_NOMEM, "tokenizer: out of memory encoding %zu documents", n);
    else
        status = gather(out, place, locals, n, err);
    for (int t = 0; t < threads; t++)
        gt_ivec_free(&locals[t]);
    free(locals);
    free(place);
    if (status != GT_OK) {
        gt_encoded_free(out);
        return status;
    }
    out->seconds = now_seconds() - t0;
    out->cache_hits = hits;
    out->cache_lookups = lookups;
    for (size_t i = 0; i < n; i++) {
        out->tokens_before_truncation += out->full_lengths[i];
        out->truncated += out->full_lengths[i] > out->offsets[i + 1] - out->offsets[i];
        if (out->full_lengths[i] > out->max_full_length)
            out->max_full_length = out->full_lengths[i];
    }
    out->tokens_per_s = out->seconds > 0 ? (double)out->tokens_before_truncation / out->seconds : 0.0;
    return GT_OK;
}

void gt_encoded_lengths(const gt_encoded *enc, gt_length_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < enc->n; i++) {
        size_t after = enc->offsets[i + 1] - enc->offsets[i];
        if (enc->full_lengths[i] > stats->max_before)
            stats->max_before = enc->full_lengths[i];
        if (after > stats->max_after)
            stats->max_after = after;
    }
    if (enc->n) {
        stats->mean_before = (double)enc->tokens_before_truncation / (double)enc->n;
        stats->mean_after = (double)enc->tokens / (double)enc->n;
    }
}

void gt_tokenizer_describe(const gt_tokenizer *tok, gt_tokenizer_facts *facts)
{
    memset(facts, 0, sizeof *facts);
    facts->model = tok->model == TOK_WORDPIECE ? "WordPiece" : "BPE";
    facts->vocab_size = tok->vocab_size;
    facts->pad_id = tok->pad_id;
    facts->unk_id = tok->unk_id;
    facts->cls_id = tok->cls_id;
    facts->sep_id = tok->sep_id;
    facts->mask_id = tok->mask_id;
    facts->n_added_ids = tok->n_prefix_ids + tok->n_suffix_ids;
    facts->n_added_tokens = tok->n_added;
    facts->byte_level = tok->byte_level;
    facts->truncation_max_len = tok->truncation_max_len;
}

int32_t gt_tokenizer_token_to_id(const gt_tokenizer *tok, const char *token)
{
    for (size_t k = 0; k < tok->n_added; k++)
        if (!strcmp(tok->added[k].content, token))
            return tok->added[k].id;
    return gt_strmap_get(&tok->token_ids, token, strlen(token));
}

const char *gt_tokenizer_id_to_token(const gt_tokenizer *tok, int32_t id)
{
    return id >= 0 && (size_t)id < tok->vocab_size ? tok->vocab[id] : NULL;
}
