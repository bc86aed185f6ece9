/* Normalizers: BertNormalizer (clean text, space out CJK ideographs, strip
 * accents, lowercase — in that order, as Hugging Face applies them), NFC, NFD,
 * Lowercase and StripAccents. Each maps a code point buffer to another. */
#include "data/tokenizer_internal.h"

#include <string.h>

/* The CJK Unified Ideographs blocks BERT spaces out (not all of CJK: Hangul,
 * Hiragana and Katakana are written with spaces and left alone). */
static int is_cjk_ideograph(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static void swap_buffers(gt_cpbuf *a, gt_cpbuf *b)
{
    gt_cpbuf t = *a;
    *a = *b;
    *b = t;
}

static int lowercase(const uint32_t *in, size_t n, gt_cpbuf *out)
{
    if (gt_cpbuf_reserve(out, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t low[3];
        size_t k = gt_unicode_lower(in[i], low);
        for (size_t j = 0; j < k; j++)
            if (gt_cpbuf_push(out, low[j]) != 0)
                return -1;
    }
    return 0;
}

static int drop_nonspacing_marks(const uint32_t *in, size_t n, gt_cpbuf *out)
{
    if (gt_cpbuf_reserve(out, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (in[i] < 0x300 || gt_unicode_class(in[i]) != GT_UCLASS_MARK_NONSPACING)
            out->v[out->n++] = in[i];
    return 0;
}

int tok_bert_normalize(const norm_step *step, const uint32_t *in, size_t n, gt_cpbuf *out, gt_cpbuf *tmp)
{
    /* Clean text and CJK spacing in one pass into out. */
    out->n = 0;
    if (gt_cpbuf_reserve(out, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = in[i];
        if (step->clean_text) {
            /* Controls go first, so whitespace that is also a control (VT, FF,
             * NEL) is dropped rather than spaced; tab, LF and CR are spaced.
             * "Control" is Cc, Cf and Co, as in Hugging Face: unassigned code
             * points stay (and become [UNK]). */
            if (cp == 0 || cp == 0xFFFD || (cp != '\t' && cp != '\n' && cp != '\r' && gt_unicode_is_other(cp)))
                continue;
            if (gt_unicode_is_whitespace(cp)) {
                if (gt_cpbuf_push(out, ' ') != 0)
                    return -1;
                continue;
            }
        }
        if (step->chinese_chars && cp >= 0x3400 && is_cjk_ideograph(cp)) {
            if (gt_cpbuf_push(out, ' ') || gt_cpbuf_push(out, cp) || gt_cpbuf_push(out, ' '))
                return -1;
            continue;
        }
        if (gt_cpbuf_push(out, cp) != 0)
            return -1;
    }
    if (step->strip_accents) {
        tmp->n = 0;
        if (gt_unicode_nfd(tmp, out->v, out->n) != 0)
            return -1;
        out->n = 0;
        if (drop_nonspacing_marks(tmp->v, tmp->n, out) != 0)
            return -1;
    }
    if (step->lowercase) {
        tmp->n = 0;
        if (lowercase(out->v, out->n, tmp) != 0)
            return -1;
        swap_buffers(out, tmp);
    }
    return 0;
}

static int run_step(const norm_step *step, const uint32_t *in, size_t n, gt_cpbuf *out, gt_cpbuf *tmp)
{
    out->n = 0;
    switch (step->kind) {
    case NORM_BERT: return tok_bert_normalize(step, in, n, out, tmp);
    case NORM_NFC: return gt_unicode_nfc(out, in, n);
    case NORM_NFD: return gt_unicode_nfd(out, in, n);
    case NORM_LOWERCASE: return lowercase(in, n, out);
    case NORM_STRIP_ACCENTS: return drop_nonspacing_marks(in, n, out);
    }
    return -1;
}

/* Text that is all ASCII is unchanged by NFC / NFD and by stripping accents:
 * skipping those steps for it is the common case made cheap, not a different
 * result. */
static int all_ascii(const uint32_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (in[i] >= 0x80)
            return 0;
    return 1;
}

int tok_normalize(const gt_tokenizer *tok, const uint32_t *in, size_t n, gt_cpbuf *out, gt_cpbuf *tmp,
                  gt_cpbuf *stage)
{
    out->n = 0;
    if (tok->n_norms == 0) {
        if (gt_cpbuf_reserve(out, n) != 0)
            return -1;
        if (n)
            memcpy(out->v, in, n * sizeof *in);
        out->n = n;
        return 0;
    }
    int ascii = all_ascii(in, n);
    const uint32_t *src = in;
    size_t src_n = n;
    for (size_t s = 0; s < tok->n_norms; s++) {
        const norm_step *step = &tok->norms[s];
        if (ascii && (step->kind == NORM_NFC || step->kind == NORM_NFD || step->kind == NORM_STRIP_ACCENTS) &&
            s + 1 < tok->n_norms)
            continue;
        if (run_step(step, src, src_n, out, tmp) != 0)
            return -1;
        if (s + 1 < tok->n_norms) {
            /* The next step reads this one's output: move it aside. */
            swap_buffers(out, stage);
            src = stage->v;
            src_n = stage->n;
        }
    }
    return 0;
}
