/* The engine's seam to the GPU (src/nn/cuda): what model.c and model_io.c
 * call when a model's options say device cuda. Everything else about the GPU
 * lives behind these functions.
 *
 * A model on the GPU keeps its weights, gradients, optimizer state and
 * activations in device memory; the host param_set stays the model's identity
 * (names, shapes, load, save) and is brought up to date on demand
 * (gpu_sync_host). Parameters the host changes (a load, params_touch) are
 * copied to the device before its next step. Every call returns with the
 * device idle: an energy task boundary right after it measures finished work. */
#ifndef GREENTUNE_NN_CUDA_GPU_H
#define GREENTUNE_NN_CUDA_GPU_H

#include <stdint.h>

#include "greentune/nn.h"

struct gt_nn_model;

/* The options' precisions and attention on the model's device (cuda). */
gt_status gpu_check_options(const struct gt_nn_model *m, const gt_nn_options *o, gt_error *err);
/* Moves the model to the GPU (weights, gradients, optimizer state), or home. */
gt_status gpu_attach(struct gt_nn_model *m, gt_error *err);
gt_status gpu_detach(struct gt_nn_model *m, gt_error *err);
/* Frees the GPU side without copying anything home (gt_nn_model_free). */
void gpu_free(struct gt_nn_model *m);

gt_status gpu_forward(struct gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels, int B,
                      int T, float *logits, float *loss, gt_error *err);
gt_status gpu_backward(struct gt_nn_model *m, float grad_scale, gt_error *err);
void gpu_zero_grad(struct gt_nn_model *m);
/* The optimizer step; the caller has checked lr and set up m->optim. */
gt_status gpu_step(struct gt_nn_model *m, double lr, double max_norm, double *norm, gt_error *err);
gt_status gpu_infer(struct gt_nn_model *m, const int32_t *ids, const int32_t *valid, int B, int T, float *logits,
                    gt_error *err);

/* Copies the device's weights (and gradients and optimizer state) into the
 * host param_set and optimizer when they are newer there. */
gt_status gpu_sync_host(struct gt_nn_model *m, gt_error *err);
/* Fills the device's memory and work figures into info. */
void gpu_info(const struct gt_nn_model *m, gt_nn_model_info *info);

#endif
