/* Pre-tokenizers: split normalized text into words before the model sees it.
 *   BertPreTokenizer  whitespace separates, each punctuation mark is a word
 *   WhitespaceSplit   whitespace separates
 *   ByteLevel         GPT-2's pattern (below), words later spelled in bytes
 * A Sequence applies them in turn, each splitting the previous one's words. */
#include "data/tokenizer_internal.h"

#include <stdlib.h>

uint32_t tok_byte_char(unsigned b)
{
    /* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
     * the 68 others (controls, space, DEL, NBSP, soft hyphen) are moved to
     * U+0100.. in byte order, so every byte is a visible character. */
    if (b <= 32)
        return 256 + b;
    if (b >= 127 && b <= 160)
        return b + 162;
    if (b == 173)
        return 323;
    return b;
}

int tok_char_byte(uint32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp >= 256 && cp <= 288)
        return (int)(cp - 256);
    if (cp >= 289 && cp <= 322)
        return (int)(cp - 162);
    if (cp == 323)
        return 173;
    return -1;
}

static int push_span(size_t **spans, size_t *n, size_t *cap, size_t start, size_t end)
{
    if (2 * (*n + 1) > *cap) {
        size_t bigger = *cap ? *cap * 2 : 256;
        size_t *p = realloc(*spans, bigger * sizeof *p);
        if (!p)
            return -1;
        *spans = p;
        *cap = bigger;
    }
    (*spans)[2 * *n] = start;
    (*spans)[2 * *n + 1] = end;
    (*n)++;
    return 0;
}

#define EMIT(start, end) \
    do { if (push_span(&w->spans, &w->n_spans, &w->cap_spans, (start), (end)) != 0) return -1; } while (0)

int tok_is_bert_punctuation(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
    return gt_unicode_is_punctuation(cp);
}

int tok_bert_split(const uint32_t *cps, size_t start, size_t end, tok_work *w)
{
    size_t word = start;
    for (size_t i = start; i < end; i++) {
        uint32_t cp = cps[i];
        int space = cp == ' ' || (cp > ' ' && gt_unicode_is_whitespace(cp)) || (cp >= 9 && cp <= 13);
        if (space || tok_is_bert_punctuation(cp)) {
            if (word < i)
                EMIT(word, i);
            if (!space)
                EMIT(i, i + 1);
            word = i + 1;
        }
    }
    if (word < end)
        EMIT(word, end);
    return 0;
}

static int whitespace_split(const uint32_t *cps, size_t start, size_t end, tok_work *w)
{
    size_t word = start;
    for (size_t i = start; i < end; i++) {
        if (gt_unicode_is_whitespace(cps[i])) {
            if (word < i)
                EMIT(word, i);
            word = i + 1;
        }
    }
    if (word < end)
        EMIT(word, end);
    return 0;
}

typedef enum { BL_SPACE, BL_LETTER, BL_NUMBER, BL_OTHER } bl_class;

static bl_class byte_level_class(uint32_t cp)
{
    if (gt_unicode_is_whitespace(cp))
        return BL_SPACE;
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return BL_LETTER;
        return cp >= '0' && cp <= '9' ? BL_NUMBER : BL_OTHER;
    }
    gt_uclass c = gt_unicode_class(cp);
    return c == GT_UCLASS_LETTER ? BL_LETTER : c == GT_UCLASS_NUMBER ? BL_NUMBER : BL_OTHER;
}

/* GPT-2's pattern, by hand (first alternative that matches wins, each greedy):
 *   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 * The only backtracking is \s+(?!\S): a run of spaces before a word leaves its
 * last space to the word (" dear" in "there   dear" keeps one space). */
static int byte_level_split(const uint32_t *cps, size_t start, size_t end, tok_work *w)
{
    size_t i = start;
    while (i < end) {
        uint32_t c = cps[i];
        if (c == '\'' && i + 1 < end) {
            uint32_t n1 = cps[i + 1], n2 = i + 2 < end ? cps[i + 2] : 0;
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                EMIT(i, i + 2);
                i += 2;
                continue;
            }
            if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                EMIT(i, i + 3);
                i += 3;
                continue;
            }
        }
        bl_class cls = byte_level_class(c);
        size_t first = i;  /* where the run of one class starts */
        if (c == ' ' && i + 1 < end && byte_level_class(cps[i + 1]) != BL_SPACE) {
            first = i + 1;
            cls = byte_level_class(cps[i + 1]);
        }
        if (cls != BL_SPACE) {
            size_t j = first + 1;
            while (j < end && byte_level_class(cps[j]) == cls)
                j++;
            EMIT(i, j);
            i = j;
            continue;
        }
        size_t j = i + 1;
        while (j < end && byte_level_class(cps[j]) == BL_SPACE)
            j++;
        if (j < end && j - i >= 2)
            j--;  /* leave the last space to the word that follows */
        EMIT(i, j);
        i = j;
    }
    return 0;
}

static int apply_step(const pre_step *step, const uint32_t *cps, size_t start, size_t end, tok_work *w)
{
    switch (step->kind) {
    case PRE_BERT: return tok_bert_split(cps, start, end, w);
    case PRE_WHITESPACE_SPLIT: return whitespace_split(cps, start, end, w);
    case PRE_BYTE_LEVEL:
        if (step->use_regex)
            return byte_level_split(cps, start, end, w);
        if (start < end)
            EMIT(start, end);
        return 0;
    }
    return -1;
}

int tok_pretokenize(const gt_tokenizer *tok, const uint32_t *piece, size_t n, tok_work *w)
{
    w->n_spans = 0;
    if (tok->n_pres == 0) {
        if (n)
            EMIT(0, n);
        return 0;
    }
    if (apply_step(&tok->pres[0], piece, 0, n, w) != 0)
        return -1;
    for (size_t s = 1; s < tok->n_pres; s++) {
        /* Split each word of the previous step: the previous spans move to spans2. */
        size_t *old = w->spans, old_n = w->n_spans, old_cap = w->cap_spans;
        w->spans = w->spans2;
        w->cap_spans = w->cap_spans2;
        w->n_spans = 0;
        w->spans2 = old;
        w->cap_spans2 = old_cap;
        for (size_t k = 0; k < old_n; k++)
            if (apply_step(&tok->pres[s], piece, old[2 * k], old[2 * k + 1], w) != 0)
                return -1;
    }
    return 0;
}
