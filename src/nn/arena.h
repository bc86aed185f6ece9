/* Engine memory: counted allocations and the activation arena.
 *
 * Every allocation the engine makes goes through nn_alloc, which counts calls,
 * so a test can prove the training loop allocates nothing once set up: the
 * parameter and gradient blocks, optimizer state, matmul primitives and scratch
 * are made in the first step; activations come from an arena sized once per
 * (batch, seq) shape, bump-allocated and reset every step. */
#ifndef GREENTUNE_NN_ARENA_H
#define GREENTUNE_NN_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

/* Alignment of every engine buffer: a cache line and an AVX-512 register. */
#define NN_ALIGN 64

/* Requests above this are refused without asking the system: no machine this
 * runs on has the memory, and sanitizers abort on such sizes instead of failing. */
#define NN_ALLOC_MAX ((size_t)1 << 39)

/* Zeroed, NN_ALIGN-aligned memory, or NULL (also for bytes == 0 or > NN_ALLOC_MAX). */
void *nn_alloc(size_t bytes);
void nn_free(void *p);
/* Number of successful nn_alloc calls since the program started. */
long nn_alloc_count(void);

/* Round up to a multiple of NN_ALIGN (saturates instead of wrapping). */
size_t nn_align_up(size_t bytes);

/* A bump allocator over one block. used/peak are in bytes, including the
 * alignment padding; peak is the high-water mark since init (or since
 * arena_reset_peak), the evidence that recomputing activations saves memory.
 * An allocation that does not fit returns NULL but is still counted in used
 * and peak, so after a failed step peak is the capacity the step needs. */
typedef struct {
    uint8_t *base;
    size_t capacity;
    size_t used;
    size_t peak;
    int overflowed;     /* an allocation since the last reset did not fit */
} nn_arena;

/* Allocates the block (zeroed). capacity 0 is allowed (an empty arena). */
gt_status arena_init(nn_arena *a, size_t capacity, gt_error *err);
/* Grows the block to at least capacity when a larger (batch, seq) shape comes;
 * contents are not kept and the arena is reset. No-op when already big enough. */
gt_status arena_reserve(nn_arena *a, size_t capacity, gt_error *err);
void arena_free(nn_arena *a);

/* NN_ALIGN-aligned bytes from the arena, or NULL when they do not fit. */
void *arena_alloc(nn_arena *a, size_t bytes);
float *arena_floats(nn_arena *a, size_t count);

/* Scoped temporaries: release everything allocated since the mark. */
size_t arena_mark(const nn_arena *a);
void arena_release(nn_arena *a, size_t mark);
/* Start of a step: everything is free again (peak is kept). */
void arena_reset(nn_arena *a);
void arena_reset_peak(nn_arena *a);
/* 1 when some allocation since the last reset did not fit. */
int arena_overflowed(const nn_arena *a);

#endif
