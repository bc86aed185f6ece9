/* The BPE model: a word starts as one symbol per byte (byte-level) or per
 * character, and the adjacent pair with the lowest merge rank is merged until
 * no pair has a merge. A min-heap of candidate merges keyed by (rank,
 * position) makes that O(n log n) in the word's length; entries made stale by
 * an earlier merge are skipped when popped. */
#include "data/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static int ensure_capacity(tok_work *w, size_t n)
{
    if (n > w->cap_sym) {
        size_t cap = w->cap_sym ? w->cap_sym : 64;
        while (cap < n)
            cap *= 2;
        int32_t *sym = realloc(w->sym, cap * sizeof *sym);
        if (!sym)
            return -1;
        w->sym = sym;
        int32_t *prev = realloc(w->prev, cap * sizeof *prev);
        if (!prev)
            return -1;
        w->prev = prev;
        int32_t *next = realloc(w->next, cap * sizeof *next);
        if (!next)
            return -1;
        w->next = next;
        w->cap_sym = cap;
    }
    /* Each merge pushes at most two candidates; n-1 to start with. */
    if (3 * n > w->cap_heap) {
        size_t cap = 3 * n;
        uint64_t *heap = realloc(w->heap, cap * sizeof *heap);
        if (!heap)
            return -1;
        w->heap = heap;
        w->cap_heap = cap;
    }
    return 0;
}

/* Heap entries pack (rank << 32 | position): ordering by the integer orders by
 * rank, then leftmost position, as Hugging Face's BPE does. */
static void heap_push(uint64_t *heap, size_t *n, uint64_t x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent] <= x)
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = x;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n)
{
    uint64_t top = heap[0], last = heap[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n)
            break;
        if (child + 1 < *n && heap[child + 1] < heap[child])
            child++;
        if (last <= heap[child])
            break;
        heap[i] = heap[child];
        i = child;
    }
    if (*n)
        heap[i] = last;
    return top;
}

static const uint32_t *merge_of(const gt_tokenizer *tok, int32_t left, int32_t right)
{
    return gt_u64map_get(&tok->merges, ((uint64_t)(uint32_t)left << 32) | (uint32_t)right);
}

static void push_candidate(const gt_tokenizer *tok, tok_work *w, size_t *heap_n, int32_t pos)
{
    int32_t next = w->next[pos];
    if (next < 0)
        return;
    const uint32_t *m = merge_of(tok, w->sym[pos], w->sym[next]);
    if (m)
        heap_push(w->heap, heap_n, ((uint64_t)tok->merge_rank[*m] << 32) | (uint32_t)pos);
}

/* The initial symbols of a word: one per byte (byte-level) or per character. */
static int initial_symbols(const gt_tokenizer *tok, const char *word, size_t len, tok_work *w, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < len;) {
        int32_t id;
        if (tok->byte_level) {
            id = tok->byte_ids[(unsigned char)word[i]];
            i++;
        } else {
            size_t start = i;
            gt_utf8_next((const unsigned char *)word, len, &i);
            id = gt_strmap_get(&tok->token_ids, word + start, i - start);
        }
        if (id < 0) {
            /* Not in the vocabulary: [UNK] if the model has one (fused with a
             * preceding [UNK] when fuse_unk), else dropped, as Hugging Face does. */
            if (tok->unk_id < 0 || (tok->fuse_unk && *n > 0 && w->sym[*n - 1] == tok->unk_id))
                continue;
            id = tok->unk_id;
        }
        w->sym[(*n)++] = id;
    }
    return 0;
}

/* The word spelled in the byte-level alphabet, for a whole-word vocabulary lookup. */
static int byte_level_spelling(const char *word, size_t len, gt_bytes *out)
{
    out->n = 0;
    if (gt_bytes_reserve(out, 2 * len) != 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        out->n += gt_utf8_put(tok_byte_char((unsigned char)word[i]), out->v + out->n);
    return 0;
}

int tok_bpe_word(const gt_tokenizer *tok, const char *word, size_t len, tok_work *w, gt_ivec *out)
{
    if (tok->ignore_merges) {
        gt_bytes spelled = {0};
        const char *key = word;
        size_t key_len = len;
        if (tok->byte_level) {
            if (byte_level_spelling(word, len, &spelled) != 0)
                return -1;
            key = spelled.v;
            key_len = spelled.n;
        }
        int32_t id = gt_strmap_get(&tok->token_ids, key, key_len);
        gt_bytes_free(&spelled);
        if (id >= 0)
            return gt_ivec_push(out, id);
    }
    if (ensure_capacity(w, len + 1) != 0)
        return -1;
    size_t n;
    if (initial_symbols(tok, word, len, w, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_candidate(tok, w, &heap_n, (int32_t)i);
    while (heap_n > 0) {
        uint64_t top = heap_pop(w->heap, &heap_n);
        int32_t pos = (int32_t)(uint32_t)top, next = w->next[pos];
        uint32_t rank = (uint32_t)(top >> 32);
        /* Stale: the symbol was merged away, or its neighbour changed. */
        if (w->sym[pos] < 0 || next < 0)
            continue;
        const uint32_t *m = merge_of(tok, w->sym[pos], w->sym[next]);
        if (!m || tok->merge_rank[*m] != rank)
            continue;
        w->sym[pos] = tok->merge_result[*m];
        w->sym[next] = -1;
        w->next[pos] = w->next[next];
        if (w->next[pos] >= 0)
            w->prev[w->next[pos]] = pos;
        if (w->prev[pos] >= 0)
            push_candidate(tok, w, &heap_n, w->prev[pos]);
        push_candidate(tok, w, &heap_n, pos);
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = w->next[i])
        if (gt_ivec_push(out, w->sym[i]) != 0)
            return -1;
    return 0;
}
