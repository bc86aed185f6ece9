/* UTF-8 decoding with U+FFFD repair (Unicode 15, section 3.9, "U+FFFD
 * Substitution of Maximal Subparts": the practice Python and browsers follow). */
#include "data/data_internal.h"
#include "greentune/data.h"

#include <stdlib.h>
#include <string.h>

size_t gt_utf8_check(const unsigned char *s, size_t len, uint32_t *cp, size_t *valid_len)
{
    unsigned b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        *valid_len = 1;
        return 0;
    }
    /* Table 3-7: the lead byte fixes the length and the range of the second byte. */
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t value;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
        value = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        value = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;  /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        value = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;  /* nothing past U+10FFFF */
    } else {
        *valid_len = 0;
        return 1;  /* 80..C1, F5..FF never start a character */
    }
    for (size_t k = 1; k < need; k++) {
        if (k >= len) {
            *valid_len = 0;
            return k;  /* truncated: the prefix so far is one maximal subpart */
        }
        unsigned b = s[k];
        if (b < lo || b > hi) {
            *valid_len = 0;
            return k;
        }
        lo = 0x80;
        hi = 0xBF;
        value = (value << 6) | (b & 0x3F);
    }
    *cp = value;
    *valid_len = need;
    return 0;
}

uint32_t gt_utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    uint32_t cp = 0xFFFD;
    size_t valid;
    size_t bad = gt_utf8_check(s + *i, len - *i, &cp, &valid);
    if (bad) {
        *i += bad;
        return 0xFFFD;
    }
    *i += valid;
    return cp;
}

size_t gt_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

gt_status gt_utf8_sanitize(const char *in, size_t len, char **out, size_t *out_len, size_t *replaced, gt_error *err)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t bad_count = 0, extra = 0;
    /* First pass: count, so the common all-valid case is a single memcpy. */
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t valid, bad = gt_utf8_check(s + i, len - i, &cp, &valid);
        if (bad) {
            bad_count++;
            extra += 3;  /* U+FFFD is three bytes; the subpart it replaces at least one */
            i += bad;
        } else {
            i += valid;
        }
    }
    char *buf = malloc(len + extra + 1);
    if (!buf)
        return gt_error_set(err, GT_ERR_NOMEM, "out of memory repairing %zu bytes of text", len);
    size_t n = 0;
    if (bad_count == 0) {
        memcpy(buf, in, len);
        n = len;
    } else {
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            size_t valid, bad = gt_utf8_check(s + i, len - i, &cp, &valid);
            if (bad) {
                n += gt_utf8_put(0xFFFD, buf + n);
                i += bad;
            } else {
                memcpy(buf + n, s + i, valid);
                n += valid;
                i += valid;
            }
        }
    }
    buf[n] = '\0';
    *out = buf;
    if (out_len)
        *out_len = n;
    if (replaced)
        *replaced = bad_count;
    return GT_OK;
}
