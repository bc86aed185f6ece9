/* Lookups into the generated Unicode tables, and NFD / NFC (UAX #15). */
#include "data/unicode.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Hangul syllables decompose and compose by arithmetic (Unicode 3.12). */
enum {
    HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
    HANGUL_LCOUNT = 19, HANGUL_VCOUNT = 21, HANGUL_TCOUNT = 28,
    HANGUL_NCOUNT = HANGUL_VCOUNT * HANGUL_TCOUNT, HANGUL_SCOUNT = HANGUL_LCOUNT * HANGUL_NCOUNT
};

/* Index of the first of n table entries (each size bytes, sorted by the
 * uint32_t member at offset) whose member is >= key; n when there is none. */
static size_t lower_bound(const void *table, size_t n, size_t size, size_t offset, uint32_t key)
{
    const unsigned char *base = table;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t value;
        memcpy(&value, base + mid * size + offset, sizeof value);
        if (value < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#define LOWER_BOUND(table, count, member, key) \
    lower_bound(table, count, sizeof table[0], offsetof(__typeof__(table[0]), member), key)

/* The Basic Multilingual Plane's classes in a flat table, built once from the
 * ranges: most text never leaves the BMP, and a byte lookup beats a binary
 * search on the hot path of every tokenizer. */
static uint8_t bmp_class[0x10000];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void build_bmp_class(void)
{
    for (size_t i = 0; i < gt_uclass_ranges_count; i++) {
        const gt_uclass_range *r = &gt_uclass_ranges[i];
        if (r->first > 0xFFFF)
            break;
        uint32_t last = r->last > 0xFFFF ? 0xFFFF : r->last;
        memset(bmp_class + r->first, r->cls, last - r->first + 1);
    }
}

gt_uclass gt_unicode_class(uint32_t cp)
{
    if (cp <= 0xFFFF) {
        pthread_once(&bmp_once, build_bmp_class);
        return (gt_uclass)bmp_class[cp];
    }
    size_t lo = LOWER_BOUND(gt_uclass_ranges, gt_uclass_ranges_count, last, cp);
    return lo < gt_uclass_ranges_count ? (gt_uclass)gt_uclass_ranges[lo].cls : GT_UCLASS_OTHER;
}

int gt_unicode_is_letter(uint32_t cp) { return gt_unicode_class(cp) == GT_UCLASS_LETTER; }
int gt_unicode_is_number(uint32_t cp) { return gt_unicode_class(cp) == GT_UCLASS_NUMBER; }
int gt_unicode_is_punctuation(uint32_t cp) { return gt_unicode_class(cp) == GT_UCLASS_PUNCTUATION; }
int gt_unicode_is_other(uint32_t cp) { return gt_unicode_class(cp) == GT_UCLASS_OTHER; }

int gt_unicode_is_whitespace(uint32_t cp)
{
    /* The White_Space property; short and stable, so listed here. */
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int gt_unicode_ccc(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = LOWER_BOUND(gt_uccc_ranges, gt_uccc_ranges_count, last, cp);
    if (lo < gt_uccc_ranges_count && gt_uccc_ranges[lo].first <= cp)
        return gt_uccc_ranges[lo].ccc;
    return 0;
}

size_t gt_unicode_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    size_t lo = LOWER_BOUND(gt_ulowers, gt_ulowers_count, cp, cp);
    if (lo < gt_ulowers_count && gt_ulowers[lo].cp == cp) {
        size_t n = 0;
        while (n < 3 && gt_ulowers[lo].to[n])
            out[n] = gt_ulowers[lo].to[n], n++;
        return n;
    }
    out[0] = cp;
    return 1;
}

int gt_cpbuf_reserve(gt_cpbuf *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra)
        cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v)
        return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

int gt_cpbuf_push(gt_cpbuf *b, uint32_t cp)
{
    if (b->n == b->cap && gt_cpbuf_reserve(b, 1) != 0)
        return -1;
    b->v[b->n++] = cp;
    return 0;
}

void gt_cpbuf_free(gt_cpbuf *b)
{
    free(b->v);
    memset(b, 0, sizeof *b);
}

static const gt_udecomp *find_decomposition(uint32_t cp)
{
    if (cp < 0xC0)
        return NULL;
    size_t lo = LOWER_BOUND(gt_udecomps, gt_udecomps_count, cp, cp);
    return lo < gt_udecomps_count && gt_udecomps[lo].cp == cp ? &gt_udecomps[lo] : NULL;
}

/* Full canonical decomposition of one code point (recursive: a decomposition's
 * first character may itself decompose). */
static int decompose(gt_cpbuf *out, uint32_t cp)
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SCOUNT) {
        uint32_t s = cp - HANGUL_S;
        if (gt_cpbuf_push(out, HANGUL_L + s / HANGUL_NCOUNT) ||
            gt_cpbuf_push(out, HANGUL_V + (s % HANGUL_NCOUNT) / HANGUL_TCOUNT))
            return -1;
        return s % HANGUL_TCOUNT ? gt_cpbuf_push(out, HANGUL_T + s % HANGUL_TCOUNT) : 0;
    }
    const gt_udecomp *d = find_decomposition(cp);
    if (!d)
        return gt_cpbuf_push(out, cp);
    if (decompose(out, d->a) != 0)
        return -1;
    return d->b ? decompose(out, d->b) : 0;
}

/* Canonical ordering: within each run of non-starters, a stable sort by
 * combining class. Runs are short, so insertion sort. */
static void canonical_order(uint32_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int ccc = gt_unicode_ccc(v[i]);
        if (ccc == 0)
            continue;
        uint32_t cp = v[i];
        size_t j = i;
        while (j > 0) {
            int prev = gt_unicode_ccc(v[j - 1]);
            if (prev == 0 || prev <= ccc)
                break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = cp;
    }
}

int gt_unicode_nfd(gt_cpbuf *out, const uint32_t *in, size_t n)
{
    size_t start = out->n;
    for (size_t i = 0; i < n; i++)
        if (decompose(out, in[i]) != 0)
            return -1;
    /* an empty text leaves out->v NULL, and NULL + 0 is undefined in C (found
     * by fuzz_tokenizer_json under UBSan) */
    if (out->n > start)
        canonical_order(out->v + start, out->n - start);
    return 0;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_VCOUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_TCOUNT)
        return a + (b - HANGUL_T);
    /* Sorted by (a, b): the few entries of a are scanned for b. */
    for (size_t i = LOWER_BOUND(gt_ucomps, gt_ucomps_count, a, a); i < gt_ucomps_count && gt_ucomps[i].a == a; i++)
        if (gt_ucomps[i].b == b)
            return gt_ucomps[i].cp;
    return 0;
}

int gt_unicode_nfc(gt_cpbuf *out, const uint32_t *in, size_t n)
{
    size_t start = out->n;
    if (gt_unicode_nfd(out, in, n) != 0)
        return -1;
    uint32_t *v = out->v + start;
    size_t len = out->n - start;
    if (len == 0)
        return 0;
    /* The canonical composition algorithm: a character combines with the last
     * starter unless a character of the same or higher class sits between. */
    size_t starter = 0, kept = 1;
    int last_class = gt_unicode_ccc(v[0]) ? 256 : 0;
    for (size_t i = 1; i < len; i++) {
        uint32_t cp = v[i];
        int cls = gt_unicode_ccc(cp);
        uint32_t composite = compose_pair(v[starter], cp);
        if (composite && (last_class < cls || last_class == 0)) {
            v[starter] = composite;
            continue;
        }
        if (cls == 0)
            starter = kept;
        last_class = cls;
        v[kept++] = cp;
    }
    out->n = start + kept;
    return 0;
}
