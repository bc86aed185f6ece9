/* The WordPiece model: greedy longest match from the left. A word's first
 * piece is a vocabulary token, the following ones continuation tokens
 * ("##ing"); a word that cannot be covered, or longer than
 * max_input_chars_per_word characters, is one [UNK]. */
#include "data/tokenizer_internal.h"

static size_t count_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

int tok_wordpiece_word(const gt_tokenizer *tok, const char *word, size_t len, gt_ivec *out)
{
    if (count_chars(word, len) > tok->max_chars_per_word)
        return gt_ivec_push(out, tok->unk_id);
    size_t mark = out->n, start = 0;
    while (start < len) {
        /* No token is longer than max_token_bytes, so the search from the
         * longest candidate down is bounded: linear in the word's length. */
        size_t end = len - start > tok->max_token_bytes ? start + tok->max_token_bytes : len;
        int32_t id = -1;
        for (; end > start; end--) {
            if (end < len && ((unsigned char)word[end] & 0xC0) == 0x80)
                continue;  /* not a character boundary */
            id = start == 0 ? gt_strmap_get(&tok->token_ids, word, end)
                            : gt_strmap_get(&tok->piece_ids, word + start, end - start);
            if (id >= 0)
                break;
        }
        if (id < 0) {
            out->n = mark;
            return gt_ivec_push(out, tok->unk_id);
        }
        if (gt_ivec_push(out, id) != 0)
            return -1;
        start = end;
    }
    return 0;
}
