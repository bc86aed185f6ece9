#include "nn/params.h"

#include <string.h>

#include "nn/arena.h"

void params_init(param_set *ps)
{
    memset(ps, 0, sizeof *ps);
    ps->epoch = 1;
    ps->frozen_epoch = 1;
}

void params_free(param_set *ps)
{
    nn_free(ps->tensors);
    nn_free(ps->data);
    nn_free(ps->grad);
    memset(ps, 0, sizeof *ps);
}

/* Sizes must stay far from overflow: 2^40 floats (4 TiB) is beyond any model here. */
#define PARAM_MAX_FLOATS ((size_t)1 << 40)

gt_status params_add(param_set *ps, const char *name, int ndim, const int64_t *shape, int flags, int *index,
                     gt_error *err)
{
    if (ps->finalized)
        return gt_error_set(err, GT_ERR_INVALID, "parameter %s: added after params_finalize (declare every tensor first)",
                            name ? name : "(null)");
    if (!name || !*name || strlen(name) >= PARAM_NAME_MAX)
        return gt_error_set(err, GT_ERR_INVALID, "parameter name '%.40s': empty or longer than %d characters",
                            name ? name : "", PARAM_NAME_MAX - 1);
    if (params_find(ps, name) >= 0)
        return gt_error_set(err, GT_ERR_INVALID, "parameter %s: declared twice", name);
    if (ndim < 1 || ndim > PARAM_MAX_DIMS || !shape)
        return gt_error_set(err, GT_ERR_INVALID, "parameter %s: %d dimensions (use 1 to %d)", name, ndim,
                            PARAM_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || (uint64_t)shape[i] > PARAM_MAX_FLOATS / numel)
            return gt_error_set(err, GT_ERR_INVALID, "parameter %s: dimension %d is %lld (must be positive and the "
                                "tensor below 2^40 values)", name, i, (long long)shape[i]);
        numel *= (size_t)shape[i];
    }
    if (ps->count == ps->capacity) {
        int capacity = ps->capacity ? ps->capacity * 2 : 64;
        param_tensor *bigger = nn_alloc((size_t)capacity * sizeof *bigger);
        if (!bigger)
            return gt_error_set(err, GT_ERR_NOMEM, "parameter %s: out of memory for the index", name);
        if (ps->count)
            memcpy(bigger, ps->tensors, (size_t)ps->count * sizeof *bigger);
        nn_free(ps->tensors);
        ps->tensors = bigger;
        ps->capacity = capacity;
    }
    param_tensor *t = &ps->tensors[ps->count];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->trainable = !(flags & PARAM_FROZEN);
    t->decay = !(flags & PARAM_NO_DECAY);
    t->grad_offset = PARAM_NO_GRAD;
    if (index)
        *index = ps->count;
    ps->count++;
    return GT_OK;
}

gt_status params_set_trainable(param_set *ps, int index, int trainable, gt_error *err)
{
    if (index < 0 || index >= ps->count)
        return gt_error_set(err, GT_ERR_INVALID, "parameter index %d: out of range (0..%d)", index, ps->count - 1);
    if (ps->finalized)
        return gt_error_set(err, GT_ERR_INVALID,
                            "parameter %s: trainable changed after params_finalize (freeze while building the model)",
                            ps->tensors[index].name);
    ps->tensors[index].trainable = trainable != 0;
    return GT_OK;
}

static size_t round_up(size_t n, size_t multiple)
{
    return (n + multiple - 1) / multiple * multiple;
}

gt_status params_finalize(param_set *ps, gt_error *err)
{
    if (ps->finalized)
        return gt_error_set(err, GT_ERR_INVALID, "parameters: finalized twice");
    size_t data = 0, grad = 0;
    for (int i = 0; i < ps->count; i++) {
        param_tensor *t = &ps->tensors[i];
        t->offset = data;
        data = round_up(data + t->numel, PARAM_ALIGN);
        t->grad_offset = PARAM_NO_GRAD;
        if (t->trainable) {
            t->grad_offset = grad;
            grad = round_up(grad + t->numel, PARAM_GRAD_ALIGN);
        }
    }
    if (data > PARAM_MAX_FLOATS)
        return gt_error_set(err, GT_ERR_NOMEM, "parameters: %zu values are too many", data);
    ps->data = nn_alloc(data * sizeof(float));
    ps->grad = grad ? nn_alloc(grad * sizeof(float)) : NULL;
    if ((data && !ps->data) || (grad && !ps->grad)) {
        nn_free(ps->data);
        nn_free(ps->grad);
        ps->data = ps->grad = NULL;
        return gt_error_set(err, GT_ERR_NOMEM, "parameters: cannot allocate %.1f MiB for weights and gradients "
                            "(use a smaller model or free memory)", (data + grad) * 4.0 / 1048576.0);
    }
    ps->data_floats = data;
    ps->grad_floats = grad;
    ps->finalized = 1;
    return GT_OK;
}

int params_find(const param_set *ps, const char *name)
{
    for (int i = 0; i < ps->count; i++)
        if (!strcmp(ps->tensors[i].name, name))
            return i;
    return -1;
}

float *params_data(const param_set *ps, int index)
{
    if (!ps->data || index < 0 || index >= ps->count)
        return NULL;
    return ps->data + ps->tensors[index].offset;
}

float *params_grad(const param_set *ps, int index)
{
    if (!ps->grad || index < 0 || index >= ps->count || ps->tensors[index].grad_offset == PARAM_NO_GRAD)
        return NULL;
    return ps->grad + ps->tensors[index].grad_offset;
}

size_t params_count(const param_set *ps, int trainable_only)
{
    size_t n = 0;
    for (int i = 0; i < ps->count; i++)
        if (!trainable_only || ps->tensors[i].trainable)
            n += ps->tensors[i].numel;
    return n;
}

void params_zero_grad(param_set *ps)
{
    if (ps->grad)
        memset(ps->grad, 0, ps->grad_floats * sizeof(float));
}

void params_scale_grad(param_set *ps, float scale)
{
    long n = (long)ps->grad_floats;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++)
        ps->grad[i] *= scale;
}

void params_touch(param_set *ps)
{
    ps->epoch++;
    ps->frozen_epoch++;
}
