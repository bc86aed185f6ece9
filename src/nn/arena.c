#include "nn/arena.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long alloc_calls;

size_t nn_align_up(size_t bytes)
{
    if (bytes > SIZE_MAX - (NN_ALIGN - 1))
        return SIZE_MAX - (SIZE_MAX % NN_ALIGN);
    return (bytes + NN_ALIGN - 1) & ~(size_t)(NN_ALIGN - 1);
}

void *nn_alloc(size_t bytes)
{
    if (bytes == 0 || bytes > NN_ALLOC_MAX)
        return NULL;
    size_t rounded = nn_align_up(bytes);
    void *p = aligned_alloc(NN_ALIGN, rounded);
    if (!p)
        return NULL;
    memset(p, 0, rounded);
    atomic_fetch_add(&alloc_calls, 1);
    return p;
}

void nn_free(void *p)
{
    free(p);
}

long nn_alloc_count(void)
{
    return atomic_load(&alloc_calls);
}

gt_status arena_init(nn_arena *a, size_t capacity, gt_error *err)
{
    memset(a, 0, sizeof *a);
    if (capacity == 0)
        return GT_OK;
    a->base = nn_alloc(capacity);
    if (!a->base)
        return gt_error_set(err, GT_ERR_NOMEM,
                            "activation arena: cannot allocate %.1f MiB (reduce batch or seq, or free memory)",
                            capacity / 1048576.0);
    a->capacity = nn_align_up(capacity);
    return GT_OK;
}

gt_status arena_reserve(nn_arena *a, size_t capacity, gt_error *err)
{
    if (capacity <= a->capacity) {
        arena_reset(a);
        return GT_OK;
    }
    size_t peak = a->peak;
    arena_free(a);
    gt_status s = arena_init(a, capacity, err);
    a->peak = peak;
    return s;
}

void arena_free(nn_arena *a)
{
    nn_free(a->base);
    memset(a, 0, sizeof *a);
}

void *arena_alloc(nn_arena *a, size_t bytes)
{
    size_t need = nn_align_up(bytes ? bytes : 1);
    size_t start = a->used;
    a->used = need > SIZE_MAX - start ? SIZE_MAX : start + need;
    if (a->used > a->peak)
        a->peak = a->used;
    if (a->used > a->capacity) {
        a->overflowed = 1;
        return NULL;
    }
    return a->base + start;
}

float *arena_floats(nn_arena *a, size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        return NULL;
    return arena_alloc(a, count * sizeof(float));
}

size_t arena_mark(const nn_arena *a)
{
    return a->used;
}

void arena_release(nn_arena *a, size_t mark)
{
    if (mark <= a->used)
        a->used = mark;
}

void arena_reset(nn_arena *a)
{
    a->used = 0;
    a->overflowed = 0;
}

void arena_reset_peak(nn_arena *a)
{
    a->peak = a->used;
}

int arena_overflowed(const nn_arena *a)
{
    return a->overflowed;
}
