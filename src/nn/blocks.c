/* The parameter and gradient blocks, for data-parallel training (src/mpi):
 * one contiguous block each is what makes a bucketed all-reduce a handful of
 * calls instead of one per tensor. */
#include "nn/model.h"

float *gt_nn_param_block(gt_nn_model *m, size_t *n)
{
    *n = m->params.data_floats;
    return m->params.data;
}

float *gt_nn_grad_block(gt_nn_model *m, size_t *n)
{
    *n = m->params.grad ? m->params.grad_floats : 0;
    return m->params.grad;
}

void gt_nn_params_changed(gt_nn_model *m)
{
    params_touch(&m->params);
}
