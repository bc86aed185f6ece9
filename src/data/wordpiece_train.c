/* WordPiece training: the vocabulary is learned the way Hugging Face's
 * WordPieceTrainer learns it — BPE merges by pair frequency over the words of
 * the corpus, a word's later pieces spelled with the "##" prefix — and saved
 * as a tokenizer.json for BERT's pipeline (BertNormalizer, BertPreTokenizer,
 * [CLS] $A [SEP], WordPiece decoder).
 *
 * The merge loop keeps, for every adjacent pair of symbols, its count over the
 * corpus and the words it occurs in; a max-heap with lazy deletion yields the
 * most frequent pair (ties broken by the pair's text, so the result does not
 * depend on hash order). Merging a pair only revisits the words that hold it. */
#include "data/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
enum { N_SPECIALS = 5, CLS_ID = 2, SEP_ID = 3 };

void gt_wordpiece_options_init(gt_wordpiece_options *opt)
{
    opt->vocab_size = 8192;
    opt->lowercase = 1;
    opt->min_frequency = 2;
    opt->max_input_chars_per_word = 100;
}

typedef struct {
    uint64_t key;        /* left << 32 | right */
    int64_t count;
    int32_t *words;      /* words it occurs in (may repeat; stale entries are skipped) */
    size_t n_words, cap_words;
} pair_stat;

typedef struct {
    int64_t count;
    uint32_t pair;
} heap_entry;

typedef struct {
    /* symbols */
    char **vocab;
    size_t n_vocab, cap_vocab;
    gt_strmap symbol_ids;
    /* words: distinct words of the corpus as symbol sequences */
    gt_strmap word_ids;
    int64_t *freq;
    int32_t **seq;
    size_t *len;
    size_t n_words, cap_words;
    /* pairs */
    gt_u64map pair_index;
    pair_stat *pairs;
    size_t n_pairs, cap_pairs;
    heap_entry *heap;
    size_t n_heap, cap_heap;
    uint32_t *stamp;      /* per word / per pair: the merge that last visited it */
    uint32_t *pair_stamp;
} trainer;

static int add_symbol(trainer *t, const char *s, size_t len, int32_t *id)
{
    int32_t existing = gt_strmap_get(&t->symbol_ids, s, len);
    if (existing >= 0) {
        *id = existing;
        return 0;
    }
    if (t->n_vocab == t->cap_vocab) {
        size_t cap = t->cap_vocab ? t->cap_vocab * 2 : 1024;
        char **v = realloc(t->vocab, cap * sizeof *v);
        if (!v)
            return -1;
        t->vocab = v;
        t->cap_vocab = cap;
    }
    if (!(t->vocab[t->n_vocab] = strndup(s, len)))
        return -1;
    *id = (int32_t)t->n_vocab;
    if (gt_strmap_put(&t->symbol_ids, s, len, *id) != 0)
        return -1;
    t->n_vocab++;
    return 0;
}

/* Counts the distinct words of the texts after BERT normalization and splitting. */
static gt_status count_words(trainer *t, const char *const *texts, const size_t *lengths, size_t n,
                             const gt_wordpiece_options *opt, gt_error *err)
{
    norm_step step = {NORM_BERT, 1, 1, opt->lowercase, opt->lowercase};
    tok_work w = {0};
    gt_status status = GT_OK;
    for (size_t d = 0; d < n && status == GT_OK; d++) {
        const unsigned char *s = (const unsigned char *)texts[d];
        size_t len = lengths ? lengths[d] : strlen(texts[d]);
        w.raw.n = 0;
        if (gt_cpbuf_reserve(&w.raw, len) != 0)
            goto nomem;
        for (size_t i = 0; i < len;)
            w.raw.v[w.raw.n++] = gt_utf8_next(s, len, &i);
        w.n_spans = 0;
        if (tok_bert_normalize(&step, w.raw.v, w.raw.n, &w.norm, &w.tmp) != 0 ||
            tok_bert_split(w.norm.v, 0, w.norm.n, &w) != 0)
            goto nomem;
        for (size_t k = 0; k < w.n_spans; k++) {
            size_t a = w.spans[2 * k], b = w.spans[2 * k + 1];
            if (b - a > opt->max_input_chars_per_word)
                continue;  /* would be [UNK] whatever the vocabulary */
            w.word.n = 0;
            if (gt_bytes_reserve(&w.word, 4 * (b - a)) != 0)
                goto nomem;
            for (size_t i = a; i < b; i++)
                w.word.n += gt_utf8_put(w.norm.v[i], w.word.v + w.word.n);
            int32_t id = gt_strmap_get(&t->word_ids, w.word.v, w.word.n);
            if (id < 0) {
                if (t->n_words == t->cap_words) {
                    size_t cap = t->cap_words ? t->cap_words * 2 : 4096;
                    int64_t *freq = realloc(t->freq, cap * sizeof *freq);
                    if (!freq)
                        goto nomem;
                    t->freq = freq;
                    t->cap_words = cap;
                }
                id = (int32_t)t->n_words++;
                t->freq[id] = 0;
                if (gt_strmap_put(&t->word_ids, w.word.v, w.word.n, id) != 0)
                    goto nomem;
            }
            t->freq[id]++;
        }
    }
    tok_work_free(&w);
    return status;
nomem:
    tok_work_free(&w);
    return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory counting words");
}

typedef struct {
    const char *text;
    int64_t count;
} alpha_entry;

static int compare_alpha(const void *a, const void *b)
{
    const alpha_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* The alphabet: each character as a word start ("a") and inside a word ("##a"),
 * most frequent first, as far as the vocabulary size allows. Then every word
 * becomes a sequence of alphabet symbols. */
static gt_status build_alphabet(trainer *t, size_t room, gt_error *err)
{
    gt_strmap counts;
    alpha_entry *entries = NULL;
    size_t n_entries = 0, cap = 0;
    if (gt_strmap_init(&counts, 1024) != 0)
        return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory");
    for (size_t wid = 0; wid < t->n_words; wid++) {
        const char *word = t->word_ids.keys[wid];
        size_t len = t->word_ids.key_lens[wid];
        for (size_t i = 0; i < len;) {
            size_t start = i;
            gt_utf8_next((const unsigned char *)word, len, &i);
            char piece[8] = "##";
            size_t plen = 0;
            if (start > 0)
                plen = 2;
            memcpy(piece + plen, word + start, i - start);
            plen += i - start;
            int32_t e = gt_strmap_get(&counts, piece, plen);
            if (e < 0) {
                if (n_entries == cap) {
                    cap = cap ? cap * 2 : 256;
                    alpha_entry *bigger = realloc(entries, cap * sizeof *bigger);
                    if (!bigger)
                        goto nomem;
                    entries = bigger;
                }
                e = (int32_t)n_entries;
                if (gt_strmap_put(&counts, piece, plen, e) != 0)
                    goto nomem;
                entries[n_entries].count = 0;
                entries[n_entries++].text = NULL;
            }
            entries[e].count += t->freq[wid];
        }
    }
    for (size_t e = 0; e < n_entries; e++)
        entries[e].text = counts.keys[e];  /* entry e was inserted e-th */
    qsort(entries, n_entries, sizeof *entries, compare_alpha);
    for (size_t e = 0; e < n_entries && e < room; e++) {
        int32_t id;
        if (add_symbol(t, entries[e].text, strlen(entries[e].text), &id) != 0)
            goto nomem;
    }
    free(entries);
    gt_strmap_free(&counts);
    return GT_OK;
nomem:
    free(entries);
    gt_strmap_free(&counts);
    return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory building the alphabet");
}

/* Words as symbol sequences; a word with a character left out of the alphabet
 * is dropped (it would be [UNK]). */
static gt_status split_words(trainer *t, gt_error *err)
{
    t->seq = calloc(t->n_words ? t->n_words : 1, sizeof *t->seq);
    t->len = calloc(t->n_words ? t->n_words : 1, sizeof *t->len);
    if (!t->seq || !t->len)
        return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory");
    for (size_t wid = 0; wid < t->n_words; wid++) {
        const char *word = t->word_ids.keys[wid];
        size_t len = t->word_ids.key_lens[wid], n = 0;
        if (!(t->seq[wid] = malloc((len ? len : 1) * sizeof(int32_t))))
            return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory");
        for (size_t i = 0; i < len;) {
            size_t start = i;
            gt_utf8_next((const unsigned char *)word, len, &i);
            char piece[8] = "##";
            size_t plen = start > 0 ? 2 : 0;
            memcpy(piece + plen, word + start, i - start);
            plen += i - start;
            int32_t id = gt_strmap_get(&t->symbol_ids, piece, plen);
            if (id < 0) {
                n = 0;
                t->freq[wid] = 0;
                break;
            }
            t->seq[wid][n++] = id;
        }
        t->len[wid] = n;
    }
    return GT_OK;
}

static int pair_of(trainer *t, int32_t left, int32_t right, uint32_t *index)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint32_t *found = gt_u64map_get(&t->pair_index, key);
    if (found) {
        *index = *found;
        return 0;
    }
    if (t->n_pairs == t->cap_pairs) {
        size_t cap = t->cap_pairs ? t->cap_pairs * 2 : 4096;
        pair_stat *p = realloc(t->pairs, cap * sizeof *p);
        uint32_t *stamps = realloc(t->pair_stamp, cap * sizeof *stamps);
        if (p)
            t->pairs = p;
        if (stamps)
            t->pair_stamp = stamps;
        if (!p || !stamps)
            return -1;
        t->cap_pairs = cap;
    }
    *index = (uint32_t)t->n_pairs;
    memset(&t->pairs[*index], 0, sizeof t->pairs[*index]);
    t->pairs[*index].key = key;
    t->pair_stamp[*index] = 0;
    t->n_pairs++;
    return gt_u64map_put(&t->pair_index, key, *index);
}

static int note_word(pair_stat *p, int32_t word)
{
    if (p->n_words && p->words[p->n_words - 1] == word)
        return 0;
    if (p->n_words == p->cap_words) {
        size_t cap = p->cap_words ? p->cap_words * 2 : 4;
        int32_t *w = realloc(p->words, cap * sizeof *w);
        if (!w)
            return -1;
        p->words = w;
        p->cap_words = cap;
    }
    p->words[p->n_words++] = word;
    return 0;
}

/* Adds (sign = +1) or removes (-1) the pairs of one word to the statistics;
 * when adding, records the word under each pair (only pairs holding `only`,
 * unless only < 0) and collects those pairs in touched. */
static int count_pairs(trainer *t, int32_t wid, int sign, int32_t only, uint32_t stamp, uint32_t **touched,
                       size_t *n_touched, size_t *cap_touched)
{
    const int32_t *s = t->seq[wid];
    for (size_t i = 0; i + 1 < t->len[wid]; i++) {
        if (sign < 0) {
            uint32_t *idx = gt_u64map_get(&t->pair_index, ((uint64_t)(uint32_t)s[i] << 32) | (uint32_t)s[i + 1]);
            if (idx)
                t->pairs[*idx].count -= t->freq[wid];
            continue;
        }
        if (only >= 0 && s[i] != only && s[i + 1] != only) {
            uint32_t *idx = gt_u64map_get(&t->pair_index, ((uint64_t)(uint32_t)s[i] << 32) | (uint32_t)s[i + 1]);
            if (idx)
                t->pairs[*idx].count += t->freq[wid];
            continue;
        }
        uint32_t p;
        if (pair_of(t, s[i], s[i + 1], &p) != 0 || note_word(&t->pairs[p], wid) != 0)
            return -1;
        t->pairs[p].count += t->freq[wid];
        if (touched && t->pair_stamp[p] != stamp) {
            t->pair_stamp[p] = stamp;
            if (*n_touched == *cap_touched) {
                size_t cap = *cap_touched ? *cap_touched * 2 : 256;
                uint32_t *bigger = realloc(*touched, cap * sizeof *bigger);
                if (!bigger)
                    return -1;
                *touched = bigger;
                *cap_touched = cap;
            }
            (*touched)[(*n_touched)++] = p;
        }
    }
    return 0;
}

/* Heap order: higher count first, then the pair's text (left, then right). */
static int heap_before(const trainer *t, heap_entry a, heap_entry b)
{
    if (a.count != b.count)
        return a.count > b.count;
    uint64_t ka = t->pairs[a.pair].key, kb = t->pairs[b.pair].key;
    int c = strcmp(t->vocab[ka >> 32], t->vocab[kb >> 32]);
    if (c == 0)
        c = strcmp(t->vocab[(uint32_t)ka], t->vocab[(uint32_t)kb]);
    return c < 0;
}

static int heap_push(trainer *t, uint32_t pair)
{
    if (t->n_heap == t->cap_heap) {
        size_t cap = t->cap_heap ? t->cap_heap * 2 : 4096;
        heap_entry *h = realloc(t->heap, cap * sizeof *h);
        if (!h)
            return -1;
        t->heap = h;
        t->cap_heap = cap;
    }
    heap_entry e = {t->pairs[pair].count, pair};
    size_t i = t->n_heap++;
    while (i > 0 && heap_before(t, e, t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static heap_entry heap_pop(trainer *t)
{
    heap_entry top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->n_heap)
            break;
        if (c + 1 < t->n_heap && heap_before(t, t->heap[c + 1], t->heap[c]))
            c++;
        if (!heap_before(t, t->heap[c], last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->n_heap)
        t->heap[i] = last;
    return top;
}

/* Replaces each (left, right) in the word by merged, left to right. */
static void apply_merge(trainer *t, int32_t wid, int32_t left, int32_t right, int32_t merged)
{
    int32_t *s = t->seq[wid];
    size_t out = 0;
    for (size_t i = 0; i < t->len[wid]; i++) {
        if (i + 1 < t->len[wid] && s[i] == left && s[i + 1] == right) {
            s[out++] = merged;
            i++;
        } else {
            s[out++] = s[i];
        }
    }
    t->len[wid] = out;
}

static gt_status merge_loop(trainer *t, const gt_wordpiece_options *opt, gt_error *err)
{
    uint32_t *touched = NULL;
    size_t n_touched = 0, cap_touched = 0;
    if (!(t->stamp = calloc(t->n_words ? t->n_words : 1, sizeof *t->stamp)) ||
        gt_u64map_init(&t->pair_index, 1 << 16) != 0)
        return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory");
    for (size_t wid = 0; wid < t->n_words; wid++)
        if (t->freq[wid] && count_pairs(t, (int32_t)wid, +1, -1, 0, NULL, NULL, NULL) != 0)
            goto nomem;
    for (uint32_t p = 0; p < t->n_pairs; p++)
        if (heap_push(t, p) != 0)
            goto nomem;
    for (uint32_t merge = 1; t->n_vocab < opt->vocab_size && t->n_heap > 0;) {
        heap_entry top = heap_pop(t);
        pair_stat *best = &t->pairs[top.pair];
        if (top.count != best->count) {  /* stale: requeue with its current count */
            if (best->count >= (int64_t)opt->min_frequency && heap_push(t, top.pair) != 0)
                goto nomem;
            continue;
        }
        if (best->count < (int64_t)opt->min_frequency)
            break;
        int32_t left = (int32_t)(best->key >> 32), right = (int32_t)(uint32_t)best->key, merged;
        const char *a = t->vocab[left], *b = t->vocab[right];
        if (!strncmp(b, "##", 2))
            b += 2;
        size_t alen = strlen(a), blen = strlen(b);
        char *joined = malloc(alen + blen + 1);
        if (!joined)
            goto nomem;
        memcpy(joined, a, alen);
        memcpy(joined + alen, b, blen + 1);
        int rc = add_symbol(t, joined, alen + blen, &merged);
        free(joined);
        if (rc != 0)
            goto nomem;
        merge++;
        n_touched = 0;
        /* Copy the word list: counting pairs below may grow (and move) it. */
        size_t n_words = best->n_words;
        int32_t *words = malloc((n_words ? n_words : 1) * sizeof *words);
        if (!words)
            goto nomem;
        memcpy(words, best->words, n_words * sizeof *words);
        for (size_t k = 0; k < n_words; k++) {
            int32_t wid = words[k];
            if (t->stamp[wid] == merge)
                continue;
            t->stamp[wid] = merge;
            count_pairs(t, wid, -1, -1, merge, NULL, NULL, NULL);
            apply_merge(t, wid, left, right, merged);
            if (count_pairs(t, wid, +1, merged, merge, &touched, &n_touched, &cap_touched) != 0) {
                free(words);
                goto nomem;
            }
        }
        free(words);
        for (size_t k = 0; k < n_touched; k++)
            if (t->pairs[touched[k]].count >= (int64_t)opt->min_frequency && heap_push(t, touched[k]) != 0)
                goto nomem;
    }
    free(touched);
    return GT_OK;
nomem:
    free(touched);
    return gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory merging");
}

static cJSON *special_token_json(int id, const char *content)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}

static cJSON *template_piece(const char *kind, const char *id, int type_id)
{
    cJSON *piece = cJSON_CreateObject(), *inner = cJSON_AddObjectToObject(piece, kind);
    cJSON_AddStringToObject(inner, "id", id);
    cJSON_AddNumberToObject(inner, "type_id", type_id);
    return piece;
}

/* The tokenizer.json of Hugging Face's BERT tokenizers, with this vocabulary. */
static char *tokenizer_json(const trainer *t, const gt_wordpiece_options *opt)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < N_SPECIALS; i++)
        cJSON_AddItemToArray(added, special_token_json(i, specials[i]));
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "BertNormalizer");
    cJSON_AddBoolToObject(norm, "clean_text", 1);
    cJSON_AddBoolToObject(norm, "handle_chinese_chars", 1);
    cJSON_AddNullToObject(norm, "strip_accents");  /* null: follow lowercase */
    cJSON_AddBoolToObject(norm, "lowercase", opt->lowercase);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "pre_tokenizer"), "type", "BertPreTokenizer");
    cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(post, "type", "TemplateProcessing");
    cJSON *single = cJSON_AddArrayToObject(post, "single");
    cJSON_AddItemToArray(single, template_piece("SpecialToken", "[CLS]", 0));
    cJSON_AddItemToArray(single, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(single, template_piece("SpecialToken", "[SEP]", 0));
    cJSON *pair = cJSON_AddArrayToObject(post, "pair");
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "[CLS]", 0));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "[SEP]", 0));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "B", 1));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "[SEP]", 1));
    cJSON *special_tokens = cJSON_AddObjectToObject(post, "special_tokens");
    for (int id = CLS_ID; id <= SEP_ID; id++) {
        cJSON *entry = cJSON_AddObjectToObject(special_tokens, specials[id]);
        cJSON_AddStringToObject(entry, "id", specials[id]);
        int ids[1] = {id};
        cJSON_AddItemToObject(entry, "ids", cJSON_CreateIntArray(ids, 1));
        const char *tokens[1] = {specials[id]};
        cJSON_AddItemToObject(entry, "tokens", cJSON_CreateStringArray(tokens, 1));
    }
    cJSON *decoder = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(decoder, "type", "WordPiece");
    cJSON_AddStringToObject(decoder, "prefix", "##");
    cJSON_AddBoolToObject(decoder, "cleanup", 1);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "WordPiece");
    cJSON_AddStringToObject(model, "unk_token", "[UNK]");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
    cJSON_AddNumberToObject(model, "max_input_chars_per_word", (double)opt->max_input_chars_per_word);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (size_t id = 0; id < t->n_vocab; id++)
        cJSON_AddNumberToObject(vocab, t->vocab[id], (double)id);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static void trainer_free(trainer *t)
{
    for (size_t i = 0; i < t->n_vocab; i++)
        free(t->vocab[i]);
    free(t->vocab);
    gt_strmap_free(&t->symbol_ids);
    gt_strmap_free(&t->word_ids);
    for (size_t w = 0; t->seq && w < t->n_words; w++)
        free(t->seq[w]);
    free(t->seq);
    free(t->len);
    free(t->freq);
    gt_u64map_free(&t->pair_index);
    for (size_t p = 0; p < t->n_pairs; p++)
        free(t->pairs[p].words);
    free(t->pairs);
    free(t->pair_stamp);
    free(t->heap);
    free(t->stamp);
}

gt_status gt_tokenizer_train_wordpiece(gt_tokenizer **out, const char *const *texts, const size_t *lengths, size_t n,
                                       const gt_wordpiece_options *opt_in, gt_error *err)
{
    *out = NULL;
    gt_wordpiece_options opt;
    gt_wordpiece_options_init(&opt);
    if (opt_in)
        opt = *opt_in;
    if (opt.vocab_size < N_SPECIALS + 1 || opt.vocab_size > ((size_t)1 << 24))
        return gt_error_set(err, GT_ERR_INVALID, "tokenizer.vocab_size %zu: must be between %d and 16M",
                            opt.vocab_size, N_SPECIALS + 1);
    if (opt.max_input_chars_per_word == 0)
        opt.max_input_chars_per_word = 100;
    if (n == 0)
        return gt_error_set(err, GT_ERR_INVALID, "WordPiece training: no texts to learn from");
    trainer t;
    memset(&t, 0, sizeof t);
    gt_status status = GT_OK;
    if (gt_strmap_init(&t.symbol_ids, opt.vocab_size) != 0 || gt_strmap_init(&t.word_ids, 1 << 16) != 0)
        status = gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory");
    for (int i = 0; i < N_SPECIALS && status == GT_OK; i++) {
        int32_t id;
        if (add_symbol(&t, specials[i], strlen(specials[i]), &id) != 0)
            status = gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory");
    }
    if (status == GT_OK)
        status = count_words(&t, texts, lengths, n, &opt, err);
    if (status == GT_OK && t.n_words == 0)
        status = gt_error_set(err, GT_ERR_INVALID, "WordPiece training: the %zu texts hold no words", n);
    if (status == GT_OK)
        status = build_alphabet(&t, opt.vocab_size - N_SPECIALS, err);
    if (status == GT_OK)
        status = split_words(&t, err);
    if (status == GT_OK)
        status = merge_loop(&t, &opt, err);
    if (status == GT_OK) {
        char *json = tokenizer_json(&t, &opt);
        if (!json)
            status = gt_error_set(err, GT_ERR_NOMEM, "WordPiece training: out of memory writing tokenizer.json");
        else
            status = gt_tokenizer_from_json(out, json, strlen(json), "trained WordPiece tokenizer", err);
        free(json);
    }
    trainer_free(&t);
    return status;
}
