/* Growable arrays, hash maps and the seeded random generator of src/data. */
#include "data/data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gt_bytes_reserve(gt_bytes *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *v = realloc(b->v, cap);
    if (!v)
        return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

int gt_bytes_append(gt_bytes *b, const void *data, size_t len)
{
    if (gt_bytes_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->v + b->n, data, len);
    b->n += len;
    b->v[b->n] = '\0';
    return 0;
}

void gt_bytes_free(gt_bytes *b)
{
    free(b->v);
    memset(b, 0, sizeof *b);
}

int gt_ivec_append(gt_ivec *v, const int32_t *x, size_t n)
{
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < v->n + n)
            cap *= 2;
        int32_t *p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return -1;
        v->v = p;
        v->cap = cap;
    }
    if (n)
        memcpy(v->v + v->n, x, n * sizeof *x);
    v->n += n;
    return 0;
}

int gt_ivec_push(gt_ivec *v, int32_t x)
{
    return gt_ivec_append(v, &x, 1);
}

void gt_ivec_free(gt_ivec *v)
{
    free(v->v);
    memset(v, 0, sizeof *v);
}

/* 8 bytes at a time, multiply and fold: enough mixing for vocabulary keys and
 * much faster than byte-wise FNV on long words. */
uint64_t gt_hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xFF51AFD7ED558CCDull);
    while (len >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = (h ^ (k * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < len; i++)
        k |= (uint64_t)p[i] << (8 * i);
    h = (h ^ (k * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

static size_t table_size_for(size_t expected)
{
    size_t size = 16;
    while (size < expected * 2)
        size *= 2;
    return size;
}

int gt_strmap_init(gt_strmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t size = table_size_for(expected);
    m->slots = calloc(size, sizeof *m->slots);
    if (!m->slots)
        return -1;
    m->mask = size - 1;
    return 0;
}

static size_t strmap_find(const gt_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & m->mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (s == 0)
            return i;
        size_t e = s - 1;
        if (m->hashes[e] == h && m->key_lens[e] == len && memcmp(m->keys[e], key, len) == 0)
            return i;
        i = (i + 1) & m->mask;
    }
}

int32_t gt_strmap_get(const gt_strmap *m, const char *key, size_t len)
{
    if (!m->slots)
        return -1;
    uint32_t s = m->slots[strmap_find(m, key, len, gt_hash_bytes(key, len))];
    return s ? m->values[s - 1] : -1;
}

static int strmap_grow(gt_strmap *m)
{
    size_t size = (m->mask + 1) * 2;
    uint32_t *slots = calloc(size, sizeof *slots);
    if (!slots)
        return -1;
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    for (size_t e = 0; e < m->n; e++) {
        size_t i = (size_t)m->hashes[e] & m->mask;
        while (m->slots[i])
            i = (i + 1) & m->mask;
        m->slots[i] = (uint32_t)(e + 1);
    }
    return 0;
}

int gt_strmap_put(gt_strmap *m, const char *key, size_t len, int32_t value)
{
    uint64_t h = gt_hash_bytes(key, len);
    size_t i = strmap_find(m, key, len, h);
    if (m->slots[i]) {
        m->values[m->slots[i] - 1] = value;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        char **keys = realloc(m->keys, cap * sizeof *keys);
        if (!keys)
            return -1;
        m->keys = keys;
        size_t *lens = realloc(m->key_lens, cap * sizeof *lens);
        if (!lens)
            return -1;
        m->key_lens = lens;
        uint64_t *hashes = realloc(m->hashes, cap * sizeof *hashes);
        if (!hashes)
            return -1;
        m->hashes = hashes;
        int32_t *values = realloc(m->values, cap * sizeof *values);
        if (!values)
            return -1;
        m->values = values;
        m->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    copy[len] = '\0';
    size_t e = m->n++;
    m->keys[e] = copy;
    m->key_lens[e] = len;
    m->hashes[e] = h;
    m->values[e] = value;
    m->slots[i] = (uint32_t)(e + 1);
    if (m->n * 2 > m->mask + 1)
        return strmap_grow(m);
    return 0;
}

void gt_strmap_free(gt_strmap *m)
{
    for (size_t e = 0; e < m->n; e++)
        free(m->keys[e]);
    free(m->keys);
    free(m->key_lens);
    free(m->hashes);
    free(m->values);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

int gt_u64map_init(gt_u64map *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t size = table_size_for(expected);
    m->keys = malloc(size * sizeof *m->keys);
    m->values = malloc(size * sizeof *m->values);
    m->used = calloc(size, 1);
    if (!m->keys || !m->values || !m->used) {
        gt_u64map_free(m);
        return -1;
    }
    m->mask = size - 1;
    return 0;
}

uint32_t *gt_u64map_get(const gt_u64map *m, uint64_t key)
{
    if (!m->used)
        return NULL;
    size_t i = (size_t)mix64(key) & m->mask;
    while (m->used[i]) {
        if (m->keys[i] == key)
            return &m->values[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

static void u64map_insert(uint64_t *keys, uint32_t *values, uint8_t *used, size_t mask, uint64_t key, uint32_t value)
{
    size_t i = (size_t)mix64(key) & mask;
    while (used[i] && keys[i] != key)
        i = (i + 1) & mask;
    used[i] = 1;
    keys[i] = key;
    values[i] = value;
}

int gt_u64map_put(gt_u64map *m, uint64_t key, uint32_t value)
{
    uint32_t *existing = gt_u64map_get(m, key);
    if (existing) {
        *existing = value;
        return 0;
    }
    if ((m->n + 1) * 2 > m->mask + 1) {
        size_t size = (m->mask + 1) * 2;
        uint64_t *keys = malloc(size * sizeof *keys);
        uint32_t *values = malloc(size * sizeof *values);
        uint8_t *used = calloc(size, 1);
        if (!keys || !values || !used) {
            free(keys);
            free(values);
            free(used);
            return -1;
        }
        for (size_t i = 0; i <= m->mask; i++)
            if (m->used[i])
                u64map_insert(keys, values, used, size - 1, m->keys[i], m->values[i]);
        free(m->keys);
        free(m->values);
        free(m->used);
        m->keys = keys;
        m->values = values;
        m->used = used;
        m->mask = size - 1;
    }
    u64map_insert(m->keys, m->values, m->used, m->mask, key, value);
    m->n++;
    return 0;
}

void gt_u64map_free(gt_u64map *m)
{
    free(m->keys);
    free(m->values);
    free(m->used);
    memset(m, 0, sizeof *m);
}

void gt_rng_seed(gt_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t gt_rng_next(gt_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t gt_rng_below(gt_rng *r, uint64_t bound)
{
    if (bound <= 1)
        return 0;
    /* Rejection sampling: draw again when the value falls in the short last
     * block that would favour small results. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = gt_rng_next(r);
    while (x >= limit);
    return x % bound;
}

void gt_shuffle(size_t *idx, size_t n, gt_rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)gt_rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

const char *gt_quote_for_message(const char *s, size_t len, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n + 8 >= out_size) {  /* room for an escape, "..." and the NUL */
            memcpy(out + n, "...", 4);
            return out;
        }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            n += (size_t)snprintf(out + n, out_size - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
}
