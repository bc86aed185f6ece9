/* Internal helpers shared by the data readers, the tokenizers and batching:
 * UTF-8, hash maps, a seeded random generator, growable arrays. */
#ifndef GREENTUNE_DATA_INTERNAL_H
#define GREENTUNE_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

/* --- UTF-8 ------------------------------------------------------------------ */

/* Decodes the code point at s[*i] (len bytes in all) and advances *i. An invalid
 * or truncated sequence yields U+FFFD and advances past its maximal subpart,
 * exactly as gt_utf8_sanitize would replace it. */
uint32_t gt_utf8_next(const unsigned char *s, size_t len, size_t *i);
/* Length of the maximal subpart of an ill-formed sequence at s (0 when the
 * sequence there is well formed); *cp receives the code point when valid. */
size_t gt_utf8_check(const unsigned char *s, size_t len, uint32_t *cp, size_t *valid_len);
/* Writes cp as UTF-8 into out (4 bytes of room); returns the byte count. */
size_t gt_utf8_put(uint32_t cp, char *out);

/* --- byte buffers -------------------------------------------------------------- */

typedef struct {
    char *v;
    size_t n, cap;
} gt_bytes;

int gt_bytes_reserve(gt_bytes *b, size_t extra);                  /* 0 ok, -1 no memory */
int gt_bytes_append(gt_bytes *b, const void *data, size_t len);
void gt_bytes_free(gt_bytes *b);

typedef struct {
    int32_t *v;
    size_t n, cap;
} gt_ivec;

int gt_ivec_push(gt_ivec *v, int32_t x);
int gt_ivec_append(gt_ivec *v, const int32_t *x, size_t n);
void gt_ivec_free(gt_ivec *v);

/* --- hash maps ------------------------------------------------------------------ */

uint64_t gt_hash_bytes(const void *data, size_t len);

/* Byte string -> int32, open addressing; keys are copied into the map. */
typedef struct {
    uint32_t *slots;       /* 0 = empty, else entry index + 1 */
    size_t mask;
    char **keys;
    size_t *key_lens;
    uint64_t *hashes;
    int32_t *values;
    size_t n, cap;
} gt_strmap;

int gt_strmap_init(gt_strmap *m, size_t expected);
/* The value for key, or -1 when absent. */
int32_t gt_strmap_get(const gt_strmap *m, const char *key, size_t len);
/* Inserts or replaces; 0 ok, -1 no memory. */
int gt_strmap_put(gt_strmap *m, const char *key, size_t len, int32_t value);
void gt_strmap_free(gt_strmap *m);

/* uint64 -> uint32, open addressing (pairs of token ids, merges). */
typedef struct {
    uint64_t *keys;
    uint32_t *values;
    uint8_t *used;
    size_t mask, n;
} gt_u64map;

int gt_u64map_init(gt_u64map *m, size_t expected);
/* Pointer to the value for key, or NULL. */
uint32_t *gt_u64map_get(const gt_u64map *m, uint64_t key);
int gt_u64map_put(gt_u64map *m, uint64_t key, uint32_t value);
void gt_u64map_free(gt_u64map *m);

/* --- random -------------------------------------------------------------------- */

/* splitmix64: small, fast, and the same sequence on every platform, so a seed
 * names the same split and the same batch order everywhere. */
typedef struct {
    uint64_t state;
} gt_rng;

void gt_rng_seed(gt_rng *r, uint64_t seed);
uint64_t gt_rng_next(gt_rng *r);
/* Uniform in [0, bound) without modulo bias. */
uint64_t gt_rng_below(gt_rng *r, uint64_t bound);
/* Fisher-Yates shuffle of idx[0..n). */
void gt_shuffle(size_t *idx, size_t n, gt_rng *r);

/* --- small things ---------------------------------------------------------------- */

/* Shortens s for an error message: at most max bytes, non-printables escaped. */
const char *gt_quote_for_message(const char *s, size_t len, char *out, size_t out_size);

#endif
