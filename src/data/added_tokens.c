/* Added tokens ([CLS], [MASK], <|endoftext|>, ...) are found in the text before
 * the model sees it, leftmost first and longest first at a position, as Hugging
 * Face's AddedVocabulary does: tokens with normalized=false in the raw text,
 * those with normalized=true in the normalized text. lstrip / rstrip make a
 * token swallow the whitespace on its left / right; single_word tokens match
 * only between non-word characters. */
#include "data/tokenizer_internal.h"

#include <string.h>

static int is_word_char(uint32_t cp)
{
    if (cp == '_')
        return 1;
    gt_uclass c = gt_unicode_class(cp);
    return c == GT_UCLASS_LETTER || c == GT_UCLASS_NUMBER || c == GT_UCLASS_MARK_NONSPACING;
}

int tok_find_added(const gt_tokenizer *tok, const uint32_t *cps, size_t n, size_t from, int want_normalized,
                   const added_token **token, size_t *start, size_t *end)
{
    for (size_t i = from; i < n; i++) {
        uint32_t bucket = cps[i] % 1024;
        if (!(tok->added_first[bucket / 8] & (1u << (bucket % 8))))
            continue;
        const added_token *best = NULL;
        for (size_t k = 0; k < tok->n_added; k++) {
            const added_token *t = &tok->added[k];
            if (t->normalized != want_normalized || t->pattern_len == 0 || t->pattern[0] != cps[i] ||
                t->pattern_len > n - i || (best && t->pattern_len <= best->pattern_len))
                continue;
            if (memcmp(t->pattern, cps + i, t->pattern_len * sizeof *cps) == 0)
                best = t;
        }
        if (!best)
            continue;
        size_t s = i, e = i + best->pattern_len;
        if (best->single_word && ((s > 0 && is_word_char(cps[s - 1])) || (e < n && is_word_char(cps[e])))) {
            i = e - 1;  /* the search resumes after the rejected match, as Aho-Corasick's does */
            continue;
        }
        if (best->lstrip)
            while (s > from && gt_unicode_is_whitespace(cps[s - 1]))
                s--;
        if (best->rstrip)
            while (e < n && gt_unicode_is_whitespace(cps[e]))
                e++;
        *token = best;
        *start = s;
        *end = e;
        return 1;
    }
    return 0;
}
