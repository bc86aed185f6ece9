/* Parameters: every tensor of a model in one contiguous fp32 block, their
 * gradients in another, and an index of named tensors (llm.c style).
 *
 * Names are Hugging Face names ("bert.encoder.layer.0.attention.self.query.weight")
 * so checkpoints export to safetensors as they are. A model declares its
 * tensors with params_add, then params_finalize allocates both blocks (zeroed);
 * shapes and names are fixed from then on.
 *
 * Layout: each tensor starts at a multiple of PARAM_ALIGN floats in the data
 * block. Only trainable tensors have gradients; each starts at a multiple of
 * PARAM_GRAD_ALIGN floats in the gradient block, so the blockwise 8-bit
 * optimizer's blocks (256 values) never straddle two tensors. Optimizer state
 * uses the gradient block's offsets. */
#ifndef GREENTUNE_NN_PARAMS_H
#define GREENTUNE_NN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

#define PARAM_NAME_MAX 128
#define PARAM_MAX_DIMS 4
#define PARAM_ALIGN 16          /* floats: 64 bytes */
#define PARAM_GRAD_ALIGN 256    /* floats: one 8-bit optimizer block */
#define PARAM_NO_GRAD ((size_t)-1)

/* Flags for params_add. */
#define PARAM_FROZEN   1        /* not trained: no gradient, no optimizer state */
#define PARAM_NO_DECAY 2        /* excluded from weight decay (biases, LayerNorm) */

typedef struct {
    char name[PARAM_NAME_MAX];
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];
    size_t numel;
    size_t offset;              /* floats from param_set.data */
    size_t grad_offset;         /* floats from param_set.grad; PARAM_NO_GRAD when frozen */
    int trainable;
    int decay;
} param_tensor;

typedef struct {
    param_tensor *tensors;
    int count, capacity;
    float *data;                /* data_floats, zeroed by params_finalize */
    float *grad;                /* grad_floats (NULL when nothing is trainable) */
    size_t data_floats, grad_floats;
    uint64_t epoch;             /* bumped whenever data changes (optimizer step, load) */
    uint64_t frozen_epoch;      /* bumped when frozen tensors may change (load, params_touch), not by steps:
                                   their packed and int8 copies outlive optimizer steps */
    int finalized;
} param_set;

void params_init(param_set *ps);
void params_free(param_set *ps);

/* Declares a tensor; *index (may be NULL) gets its index. Fails on a duplicate
 * or over-long name, a bad shape, or after params_finalize. */
gt_status params_add(param_set *ps, const char *name, int ndim, const int64_t *shape, int flags, int *index,
                     gt_error *err);
/* Before params_finalize only: freezing is decided when the model is built. */
gt_status params_set_trainable(param_set *ps, int index, int trainable, gt_error *err);
gt_status params_finalize(param_set *ps, gt_error *err);

/* Index of the tensor with this name, or -1. */
int params_find(const param_set *ps, const char *name);
float *params_data(const param_set *ps, int index);
/* NULL for a frozen tensor. */
float *params_grad(const param_set *ps, int index);

/* Number of parameters (elements), all or trainable only. */
size_t params_count(const param_set *ps, int trainable_only);

/* Gradient accumulation: zero once per optimizer step, and scale (for example
 * by 1/k after k micro-batches when the loss was not already scaled). */
void params_zero_grad(param_set *ps);
void params_scale_grad(param_set *ps, float scale);
/* Marks the data as changed (after loading or editing weights by hand), so
 * derived copies (bf16, int8, packed) are remade. */
void params_touch(param_set *ps);

#endif
