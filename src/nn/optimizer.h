/* Optimizers over a param_set, gradient clipping and learning-rate schedules.
 *
 * Updates follow PyTorch exactly (same formulas, same order of operations in
 * fp32), so a run can be checked step by step against torch.optim:
 *   AdamW     torch.optim.AdamW (decoupled weight decay, bias correction, no amsgrad)
 *   SGD       torch.optim.SGD (momentum, dampening, nesterov, L2 weight decay
 *             added to the gradient)
 *   AdamW8bit AdamW with its two moments stored in 8 bits per value, in blocks
 *             of 256 values with one fp32 scale (the block's absmax) each — the
 *             idea of bitsandbytes' blockwise 8-bit optimizers; see adamw8bit.h
 *             for the number format.
 *   Adafactor Shazeer & Stern (2018), as Hugging Face transformers' Adafactor
 *             computes it: second moments of a 2-D tensor factored into a row
 *             and a column vector (d0 + d1 floats instead of d0 d1), update
 *             clipping by its RMS, time-dependent decay 1 - t^decay_rate,
 *             optional first moment, relative step and parameter scale.
 * A gradient threshold (grad_sparsify) leaves entries with |g| below it alone:
 * no parameter update and no moment update for them (Adafactor's factored
 * statistics still see every entry: they are per row and column, not per
 * entry). The entries skipped are counted.
 * Frozen tensors (no gradient) are skipped; tensors flagged PARAM_NO_DECAY get
 * no weight decay. Every step bumps ps->epoch, which tells linear layers to
 * refresh their bf16/int8 copies.
 *
 * Gradient accumulation is the caller's loop: params_zero_grad once per
 * optimizer step, backward k times with the loss scaled by 1/k (or
 * params_scale_grad(ps, 1/k) afterwards), then clip and step. */
#ifndef GREENTUNE_NN_OPTIMIZER_H
#define GREENTUNE_NN_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "nn/adamw8bit.h"
#include "nn/params.h"

typedef enum { OPTIMIZER_ADAMW, OPTIMIZER_ADAMW_8BIT, OPTIMIZER_SGD, OPTIMIZER_ADAFACTOR } optimizer_kind;

typedef struct {
    optimizer_kind kind;
    double beta1, beta2, eps;      /* AdamW; Adafactor: beta1 0 = no first moment, eps = eps1 (added to g^2) */
    double weight_decay;           /* AdamW, Adafactor: decoupled; SGD: added to the gradient */
    double momentum, dampening;    /* SGD */
    int nesterov;                  /* SGD */
    /* Adafactor */
    double eps2;                   /* floor of the parameter scale (1e-3) */
    double clip_threshold;         /* the update's RMS is clipped to it (1.0) */
    double decay_rate;             /* beta2 at step t = 1 - t^decay_rate (-0.8) */
    int relative_step;             /* lr = min(1e-2, 1/sqrt(t)) instead of the given one */
    int scale_parameter;           /* lr *= max(eps2, RMS(p)) */
    int warmup_init;               /* with relative_step: min(1e-6 t, 1/sqrt(t)) */
    double threshold;              /* grad_sparsify: |g| below it is not applied (0: off) */
} optimizer_config;

/* PyTorch's defaults: AdamW betas (0.9, 0.999), eps 1e-8, weight_decay 0.01;
 * SGD momentum 0, dampening 0, weight_decay 0, nesterov off. Adafactor as
 * transformers' Trainer creates it (optim="adafactor"): eps (1e-30, 1e-3),
 * clip_threshold 1, decay_rate -0.8, no first moment, weight_decay 0, and
 * relative_step and scale_parameter off, so the learning rate given to
 * optimizer_step (the pipeline's schedule) drives it. The class's own
 * defaults (relative_step and scale_parameter on) are two flags away. */
optimizer_config optimizer_defaults(optimizer_kind kind);
/* "adamw", "adamw8bit", "sgd", "adafactor". */
const char *optimizer_name(optimizer_kind kind);
gt_status optimizer_parse(const char *name, optimizer_kind *kind, gt_error *err);

typedef struct {
    optimizer_config cfg;
    long step;                     /* steps taken */
    size_t floats;                 /* the gradient block's length */
    float *m, *v;                  /* fp32 moments (AdamW), momentum buffer m (SGD) */
    uint8_t *qm, *qv;              /* 8-bit moments (AdamW8bit) */
    float *m_scale, *r_scale;      /* one per 256-value block */
    float *factors;                /* Adafactor: per tensor, row then column (2-D) or v (1-D) */
    size_t *factor_offset;         /* Adafactor: each tensor's place in factors */
    size_t state_bytes;
    uint64_t skipped, considered;  /* gradient entries skipped by the threshold, of all updated */
} optimizer;

/* Allocates the state for ps's trainable tensors (ps must be finalized). */
gt_status optimizer_init(optimizer *o, const param_set *ps, const optimizer_config *cfg, gt_error *err);
void optimizer_free(optimizer *o);

/* One update of every trainable tensor with learning rate lr. */
void optimizer_step(optimizer *o, param_set *ps, double lr);

/* AdamW's constants for step `step` (1-based) of a tensor that decays or not,
 * as torch computes them (the GPU's optimizer kernels use them too). */
adamw_consts adamw_step_consts(const optimizer_config *c, double lr, long step, int decay);
/* One AdamW update of n values with those constants (p, m, v updated in place);
 * returns the entries left alone because their gradient was under c->threshold. */
long adamw_tensor(float *p, const float *g, float *m, float *v, long n, const adamw_consts *c);

/* Bytes of optimizer state: the evidence of the `optimizer` knob. */
size_t optimizer_state_bytes(const optimizer *o);

/* The L2 norm of all gradients together (summed in double, in a fixed order:
 * the same for any thread count). */
double grad_norm(const param_set *ps);
/* torch.nn.utils.clip_grad_norm_: scales all gradients by
 * min(1, max_norm / (norm + 1e-6)); returns the norm before clipping. */
double clip_grad_norm(param_set *ps, double max_norm);

/* Learning rate at optimizer step `step` (0-based), as Hugging Face
 * transformers' get_constant_schedule_with_warmup /
 * get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup (half a
 * cosine) used with torch's LambdaLR: linear warmup over `warmup` steps from 0,
 * then constant, linear decay to 0 at `total`, or cosine decay to 0 at `total`. */
typedef enum { LR_CONSTANT, LR_LINEAR, LR_COSINE } lr_schedule;
double lr_at(lr_schedule kind, double base_lr, long step, long warmup, long total);
gt_status lr_schedule_parse(const char *name, lr_schedule *kind, gt_error *err);

#endif
