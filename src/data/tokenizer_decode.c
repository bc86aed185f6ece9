/* Ids back to text: the WordPiece decoder (pieces glued to their word, spaces
 * between words, optional clean-up of spaces before punctuation) and the
 * ByteLevel decoder (characters back to bytes). */
#include "data/tokenizer_internal.h"
#include "greentune/data.h"

#include <stdlib.h>
#include <string.h>

static int is_special(const gt_tokenizer *tok, int32_t id)
{
    for (size_t k = 0; k < tok->n_added; k++)
        if (tok->added[k].id == id && tok->added[k].special)
            return 1;
    return 0;
}

/* Hugging Face's clean_up_tokenization: spaces the WordPiece join put before
 * punctuation and English contractions are removed. */
static void cleanup(gt_bytes *text)
{
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (size_t r = 0; r < sizeof from / sizeof from[0]; r++) {
        size_t flen = strlen(from[r]), tlen = strlen(to[r]), w = 0;
        for (size_t i = 0; i < text->n;) {
            if (i + flen <= text->n && memcmp(text->v + i, from[r], flen) == 0) {
                memmove(text->v + w, to[r], tlen);
                w += tlen;
                i += flen;
            } else {
                text->v[w++] = text->v[i++];
            }
        }
        text->n = w;
    }
}

static int append_byte_level(gt_bytes *out, const char *token)
{
    size_t len = strlen(token), mark = out->n;
    for (size_t i = 0; i < len;) {
        int b = tok_char_byte(gt_utf8_next((const unsigned char *)token, len, &i));
        if (b < 0) {  /* not a byte-level token (an added one): keep it as written */
            out->n = mark;
            return gt_bytes_append(out, token, len);
        }
        if (gt_bytes_append(out, &(char){(char)b}, 1) != 0)
            return -1;
    }
    return 0;
}

gt_status gt_tokenizer_decode(const gt_tokenizer *tok, const int32_t *ids, size_t n, int skip_special, char **text,
                              gt_error *err)
{
    *text = NULL;
    if (tok->decoder == DECODER_UNSUPPORTED)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "tokenizer: its decoder is not supported — only WordPiece and "
                            "ByteLevel decoders are");
    gt_bytes out = {0};
    size_t prefix_len = tok->decoder_prefix ? strlen(tok->decoder_prefix) : 0;
    int rc = gt_bytes_reserve(&out, n * 4);
    size_t written = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *token = gt_tokenizer_id_to_token(tok, ids[i]);
        if (!token) {
            gt_bytes_free(&out);
            return gt_error_set(err, GT_ERR_INVALID, "tokenizer: id %d is not in the vocabulary (size %zu)", ids[i],
                                tok->vocab_size);
        }
        if (skip_special && is_special(tok, ids[i]))
            continue;
        if (tok->decoder == DECODER_BYTE_LEVEL) {
            rc = append_byte_level(&out, token);
        } else if (written && prefix_len && !strncmp(token, tok->decoder_prefix, prefix_len)) {
            rc = gt_bytes_append(&out, token + prefix_len, strlen(token) - prefix_len);
        } else {
            if (written)
                rc = gt_bytes_append(&out, " ", 1);
            if (rc == 0)
                rc = gt_bytes_append(&out, token, strlen(token));
        }
        written++;
    }
    if (rc != 0) {
        gt_bytes_free(&out);
        return gt_error_set(err, GT_ERR_NOMEM, "tokenizer: out of memory decoding");
    }
    if (tok->decoder == DECODER_WORDPIECE && tok->decoder_cleanup)
        cleanup(&out);
    /* Byte-level pieces can split a character; the text is repaired as a whole. */
    size_t replaced;
    gt_status status = gt_utf8_sanitize(out.v ? out.v : "", out.n, text, NULL, &replaced, err);
    gt_bytes_free(&out);
    return status;
}
