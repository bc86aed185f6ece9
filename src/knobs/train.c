/* Training-phase knobs: how the model trains (memory, precision, optimizer,
 * batch schedule, when to stop).
 *
 * Each knob acts at the train stage's hook points (src/pipeline/stage_hooks.h):
 * it changes p->optimizer, p->nn or p->train_settings before the first step,
 * and records its evidence after the run from what the train stage counted
 * (p->trained) and the engine measured (gt_nn_model_info). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knob_internal.h"
#include "pipeline/pipeline_internal.h"

/* --- grad_ckpt: the engine recomputes checkpointed layers in backward ------------ */

static gt_status grad_ckpt_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    p->nn.checkpoint_every = (int)gt_knob_int(use, "every");
    if (p->nn.checkpoint_every > p->model_config.layers)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"grad_ckpt\": every %d is more than the model's %d layers; "
                            "give 1 to %d", p->nn.checkpoint_every, p->model_config.layers, p->model_config.layers);
    return GT_OK;
}

/* Peak activation bytes of the largest training step with and without
 * recomputation, both from the step plan the arena is laid out by. */
static gt_status grad_ckpt_finish(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info;
    gt_nn_model_info_get(p->model, &info);
    gt_nn_options plain = gt_nn_model_options(p->model);
    plain.checkpoint_every = 0;
    size_t before;
    gt_status st = gt_nn_plan_bytes(p->model, info.train_B, info.train_T, 1, &plain, &before, NULL, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "knob \"grad_ckpt\": ");
    double flops = 0;   /* every matmul of the run: training, validation, eval */
    for (int i = 0; i < GT_NN_PRECISIONS; i++)
        flops += info.matmul_flops[i];
    knob_evidence_number(use, "peak_activation_bytes_before", (double)before);
    knob_evidence_number(use, "peak_activation_bytes_after", (double)info.train_activation_bytes);
    knob_evidence_number(use, "extra_forward_flops", info.recompute_flops);
    knob_evidence_number(use, "extra_flop_share", flops > 0 ? info.recompute_flops / flops : 0);
    if (!(info.recompute_flops > 0))
        return gt_error_set(err, GT_ERR_INTERNAL, "knob \"grad_ckpt\": no layer was recomputed");
    if (info.train_activation_bytes >= before)
        pl_warn(p, "grad_ckpt: every %ld recomputes one layer only, which saves no memory; give a smaller every",
                gt_knob_int(use, "every"));
    return GT_OK;
}

static gt_status grad_ckpt_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would keep only the input of every layer l with l %% %ld == 0 and recompute its activations "
            "in backward (same gradients, one more forward of those layers)\n", gt_knob_int(use, "every"));
    return GT_OK;
}

static const gt_stage_hooks grad_ckpt_stage = {.at = {[GT_HOOK_LOAD] = grad_ckpt_load,
                                                      [GT_HOOK_FINISH] = grad_ckpt_finish}};
static const struct gt_knob_hooks grad_ckpt_hooks = {.plan = grad_ckpt_plan, .stage = &grad_ckpt_stage};

static const char *const optimizers[] = {"adamw8bit", "sgd", "adafactor", NULL};
static const char *const stop_metrics[] = {"loss", "f1", "mcc", "accuracy", NULL};

/* --- optimizer ------------------------------------------------------------------ */

static gt_status optimizer_train(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    const char *kind = gt_knob_string(use, "kind");
    double weight_decay = p->optimizer.weight_decay;
    if (strcmp(p->spec->optimizer, "adamw") != 0)
        pl_warn(p, "train.optimizer %s is overridden by the optimizer knob (%s)", p->spec->optimizer, kind);
    gt_status st = gt_nn_optimizer_defaults(kind, &p->optimizer, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "knob \"optimizer\": ");
    p->optimizer.weight_decay = weight_decay;
    if (!strcmp(kind, "sgd"))
        p->optimizer.momentum = gt_knob_has(use, "momentum") ? gt_knob_double(use, "momentum") : 0.9;
    if (gt_knob_has(use, "lr"))
        p->train_settings.lr = gt_knob_double(use, "lr");
    return GT_OK;
}

static gt_status optimizer_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(params, "kind");
    if (cJSON_GetObjectItemCaseSensitive(params, "momentum") && strcmp(kind->valuestring, "sgd") != 0)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": momentum is sgd's parameter, not %s's; drop it or "
                            "use kind=sgd", def->name, kind->valuestring);
    return GT_OK;
}

/* State bytes the optimizer holds, against fp32 AdamW's two moments per
 * trained value (the gradient block it would mirror). */
static gt_status optimizer_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    gt_nn_model_info info;
    gt_nn_model_info_get(p->model, &info);
    knob_evidence_string(use, "optimizer_used", p->optimizer.name);
    knob_evidence_number(use, "optimizer_state_bytes", (double)info.optimizer_bytes);
    knob_evidence_number(use, "optimizer_state_bytes_fp32", 2.0 * (double)info.grad_bytes);
    knob_evidence_number(use, "state_share", info.grad_bytes ? (double)info.optimizer_bytes /
                                                                   (2.0 * (double)info.grad_bytes) : 0);
    knob_evidence_number(use, "lr", p->train_settings.lr);
    return GT_OK;
}

static const gt_stage_hooks optimizer_stage = {.at = {[GT_HOOK_TRAIN] = optimizer_train,
                                                      [GT_HOOK_FINISH] = optimizer_evidence}};

static gt_status optimizer_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                                gt_error *err)
{
    (void)set;
    (void)err;
    static const char *const what[][2] = {
        {"adamw8bit", "AdamW with both moments in 8 bits per value (blocks of 256, one fp32 scale each): about a "
                      "quarter of AdamW's state"},
        {"sgd", "SGD with momentum: one fp32 buffer per trained value, half of AdamW's state"},
        {"adafactor", "Adafactor (as transformers' Trainer sets it up): per-row and per-column second moments of "
                      "each matrix, no first moment"},
    };
    const char *kind = gt_knob_string(use, "kind");
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++)
        if (!strcmp(what[i][0], kind))
            fprintf(out, "    would: train with %s\n", what[i][1]);
    if (gt_knob_has(use, "lr"))
        fprintf(out, "    would: use learning rate %g instead of train.lr%s\n", gt_knob_double(use, "lr"),
                ctx && ctx->pipeline ? "" : "");
    return GT_OK;
}

static const struct gt_knob_hooks optimizer_hooks = {.validate = optimizer_validate, .plan = optimizer_plan,
                                                     .stage = &optimizer_stage};

/* --- bf16 ----------------------------------------------------------------------------- */

static gt_status bf16_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)use;
    gt_nn_precision_info info;
    if (gt_nn_check_precision(GT_NN_BF16, &info, err) != GT_OK)
        return gt_error_prefix(err, "knob \"bf16\": ");
    knob_evidence_string(use, "isa", info.isa);
    p->nn.train_precision = GT_NN_BF16;
    return GT_OK;
}

/* The share of the training passes' matmul work the engine ran in bf16. */
static gt_status bf16_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    const double *flops = p->trained.matmul_flops;
    double all = 0;
    for (int k = 0; k < GT_NN_PRECISIONS; k++)
        all += flops[k];
    knob_evidence_number(use, "bf16_flop_share", all > 0 ? flops[GT_NN_BF16] / all : 0);
    knob_evidence_number(use, "train_flops_bf16", flops[GT_NN_BF16]);
    knob_evidence_number(use, "train_flops_fp32", flops[GT_NN_FP32]);
    if (!(flops[GT_NN_BF16] > 0))
        return gt_error_set(err, GT_ERR_INTERNAL, "knob \"bf16\": no training matmul ran in bf16 (%.3g FLOPs in "
                            "all) — the precision did not take effect", all);
    return GT_OK;
}

static const gt_stage_hooks bf16_stage = {.at = {[GT_HOOK_LOAD] = bf16_load, [GT_HOOK_FINISH] = bf16_evidence}};

static gt_status bf16_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                           gt_error *err)
{
    (void)use;
    (void)set;
    (void)ctx;
    gt_nn_precision_info info;
    gt_status st = gt_nn_check_precision(GT_NN_BF16, &info, err);
    if (st != GT_OK)
        return st;
    fprintf(out, "    would: run the training matmuls in bf16 (%s), master weights, loss and optimizer in fp32\n",
            info.isa);
    return GT_OK;
}

static const struct gt_knob_hooks bf16_hooks = {.plan = bf16_plan, .stage = &bf16_stage};

/* --- grad_accum -------------------------------------------------------------------- */

static gt_status grad_accum_train(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    p->train_settings.accumulate = (int)gt_knob_int(use, "steps");
    return GT_OK;
}

static gt_status grad_accum_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const gt_train_counts *c = &p->trained;
    knob_evidence_number(use, "optimizer_steps", (double)c->steps);
    knob_evidence_number(use, "micro_batches", (double)c->micro_batches);
    knob_evidence_number(use, "samples_per_step", c->steps ? c->samples / (double)c->steps : 0);
    if (c->steps && c->micro_batches <= c->steps)
        pl_warn(p, "grad_accum: each of the %ld optimizer steps ran one micro-batch (an epoch is one batch): "
                "nothing was accumulated", c->steps);
    return GT_OK;
}

static const gt_stage_hooks grad_accum_stage = {.at = {[GT_HOOK_TRAIN] = grad_accum_train,
                                                       [GT_HOOK_FINISH] = grad_accum_evidence}};

static gt_status grad_accum_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                 FILE *out, gt_error *err)
{
    (void)set;
    (void)err;
    long k = gt_knob_int(use, "steps");
    if (ctx && ctx->pipeline)
        fprintf(out, "    would: one optimizer step per %ld micro-batches of %zu: an effective batch of %zu, %ld "
                "times fewer optimizer steps\n", k, ctx->pipeline->batch, (size_t)k * ctx->pipeline->batch, k);
    else
        fprintf(out, "    would: one optimizer step per %ld micro-batches (train.batch each)\n", k);
    return GT_OK;
}

static const struct gt_knob_hooks grad_accum_hooks = {.plan = grad_accum_plan, .stage = &grad_accum_stage};

/* --- early_stop -------------------------------------------------------------------- */

static gt_status early_stop_train(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    if (p->val.enc.n == 0)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"early_stop\": the validation split is empty, so there is "
                            "nothing to watch — give data.split a validation share (e.g. [0.8, 0.1, 0.1])");
    p->train_settings.validate_every = gt_knob_int(use, "every");
    knob_evidence_number(use, "validations_without_improvement", 0);
    return GT_OK;
}

/* After every validation: the watched metric improved by more than min_delta
 * (loss down, the others up), or one more validation without improvement;
 * patience of those stop the training. */
static gt_status early_stop_validated(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const char *metric = gt_knob_string(use, "metric");
    const gt_metrics *m = &p->val_metrics;
    double value = !strcmp(metric, "loss") ? p->val_loss
                   : !strcmp(metric, "f1") ? m->f1
                   : !strcmp(metric, "mcc") ? m->mcc
                                             : m->accuracy;
    int lower_is_better = !strcmp(metric, "loss");
    double best = knob_evidence_get(use, "best_metric", NAN);
    double delta = gt_knob_double(use, "min_delta");
    int improved = isnan(best) || (lower_is_better ? value < best - delta : value > best + delta);
    double bad = improved ? 0 : knob_evidence_get(use, "validations_without_improvement", 0) + 1;
    if (improved) {
        knob_evidence_number(use, "best_metric", value);
        knob_evidence_number(use, "best_step", (double)p->trained.steps);
    }
    knob_evidence_number(use, "validations_without_improvement", bad);
    if (bad >= (double)gt_knob_int(use, "patience") && !p->stop_training) {
        p->stop_training = 1;
        knob_evidence_number(use, "stopped_at_step", (double)p->trained.steps);
        pl_log(p, "early_stop: validation %s did not improve by more than %g in %.0f validations: training stops "
               "at step %ld of %ld", metric, delta, bad, p->trained.steps, p->trained.steps_planned);
    }
    return GT_OK;
}

static gt_status early_stop_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    knob_evidence_number(use, "steps_run", (double)p->trained.steps);
    knob_evidence_number(use, "steps_planned", (double)p->trained.steps_planned);
    knob_evidence_number(use, "validations", (double)p->trained.validations);
    knob_evidence_bool(use, "stopped", p->trained.steps < p->trained.steps_planned);
    if (p->trained.steps >= p->trained.steps_planned)
        pl_log(p, "early_stop: the validation %s kept improving; all %ld planned steps ran",
               gt_knob_string(use, "metric"), p->trained.steps_planned);
    return GT_OK;
}

static const gt_stage_hooks early_stop_stage = {.at = {[GT_HOOK_TRAIN] = early_stop_train,
                                                       [GT_HOOK_VALIDATED] = early_stop_validated,
                                                       [GT_HOOK_FINISH] = early_stop_evidence}};

static gt_status early_stop_check(const gt_knob_use *use, const gt_pipeline_spec *s, gt_error *err)
{
    (void)use;
    if (!s->split_files[0] && s->split[1] <= 0)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"early_stop\": data.split has no validation share, so "
                            "there is nothing to watch — give it one (e.g. [0.8, 0.1, 0.1])");
    return GT_OK;
}

static gt_status early_stop_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                 FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: validate every %ld optimizer steps and at each epoch's end; stop after %ld validations "
            "whose %s did not improve by more than %g\n", gt_knob_int(use, "every"), gt_knob_int(use, "patience"),
            gt_knob_string(use, "metric"), gt_knob_double(use, "min_delta"));
    return GT_OK;
}

static const struct gt_knob_hooks early_stop_hooks = {.plan = early_stop_plan, .stage = &early_stop_stage,
                                                      .check = early_stop_check};

/* --- dynamic_batch ------------------------------------------------------------------ */

static gt_status dynamic_batch_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    double start = cJSON_GetObjectItemCaseSensitive(params, "start")->valuedouble;
    double max = cJSON_GetObjectItemCaseSensitive(params, "max")->valuedouble;
    if (start >= max)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": start (%g) must be below max (%g), or the batch never grows",
                            def->name, start, max);
    return GT_OK;
}

/* The batch starts at `start`; the train stage grows it (src/pipeline/train.c,
 * batch_at). Without a first growth within the run the knob would only set a
 * batch size: refused before training. */
static gt_status dynamic_batch_train(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    size_t start = (size_t)gt_knob_int(use, "start"), n = p->train.enc.n;
    long every = gt_knob_int(use, "every");
    long steps = (long)((n + start - 1) / start) * p->train_settings.epochs;
    if (p->train_settings.max_steps > 0 && p->train_settings.max_steps < steps)
        steps = p->train_settings.max_steps;
    if (steps <= every)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"dynamic_batch\": training takes %ld steps at batch %zu, "
                            "the first growth comes after %ld — lower every or train longer", steps, start, every);
    p->train_batch.batch_size = start;
    p->train_settings.batch_max = (size_t)gt_knob_int(use, "max");
    p->train_settings.batch_growth = gt_knob_double(use, "growth");
    p->train_settings.batch_every = every;
    return GT_OK;
}

/* The schedule the train stage ran: [[first step, batch size], ...]. */
static gt_status dynamic_batch_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(p->train_json, "batch_schedule");
    knob_evidence_item(use, "batch_schedule", schedule ? cJSON_Duplicate(schedule, 1) : cJSON_CreateArray());
    knob_evidence_number(use, "batch_sizes_used", cJSON_GetArraySize(schedule));
    knob_evidence_number(use, "optimizer_steps", (double)p->trained.steps);
    knob_evidence_number(use, "mean_batch", p->trained.steps ? p->trained.samples / (double)p->trained.steps : 0);
    return GT_OK;
}

static const gt_stage_hooks dynamic_batch_stage = {.at = {[GT_HOOK_TRAIN] = dynamic_batch_train,
                                                          [GT_HOOK_FINISH] = dynamic_batch_evidence}};

static gt_status dynamic_batch_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                    FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: start with batches of %ld and multiply the size by %g every %ld optimizer steps, up to "
            "%ld (train.batch is not used)\n", gt_knob_int(use, "start"), gt_knob_double(use, "growth"),
            gt_knob_int(use, "every"), gt_knob_int(use, "max"));
    return GT_OK;
}

static const struct gt_knob_hooks dynamic_batch_hooks = {.validate = dynamic_batch_validate,
                                                         .plan = dynamic_batch_plan,
                                                         .stage = &dynamic_batch_stage};

/* --- grad_sparsify ------------------------------------------------------------------- */

static gt_status grad_sparsify_train(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    p->optimizer.grad_threshold = gt_knob_double(use, "threshold");
    return GT_OK;
}

/* The share of gradient entries the optimizer left alone, as it counted them. */
static gt_status grad_sparsify_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info;
    gt_nn_model_info_get(p->model, &info);
    double updated = (double)info.grad_entries_updated, skipped = (double)info.grad_entries_skipped;
    knob_evidence_number(use, "skipped_share", updated > 0 ? skipped / updated : 0);
    knob_evidence_number(use, "entries_skipped", skipped);
    knob_evidence_number(use, "entries_seen", updated);
    if (updated > 0 && skipped == 0)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"grad_sparsify\": no gradient entry fell below %g in %ld "
                            "steps — the knob changed nothing; raise threshold", gt_knob_double(use, "threshold"),
                            p->trained.steps);
    return GT_OK;
}

static const gt_stage_hooks grad_sparsify_stage = {.at = {[GT_HOOK_TRAIN] = grad_sparsify_train,
                                                          [GT_HOOK_FINISH] = grad_sparsify_evidence}};

static gt_status grad_sparsify_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                    FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: leave every gradient entry with |g| < %g unapplied at each optimizer step (its weight "
            "and optimizer state keep their values)\n", gt_knob_double(use, "threshold"));
    return GT_OK;
}

static const struct gt_knob_hooks grad_sparsify_hooks = {.plan = grad_sparsify_plan, .stage = &grad_sparsify_stage};

const gt_knob_def gt_knobs_train[] = {
    /* grad_ckpt (V1): the engine recomputes layers in backward (hooks above). */
    {
        .name = "grad_ckpt",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_MEMORY,
        .stages = GT_STAGE_TRAIN,
        .paper = "V1",
        .summary = "recompute activations in the backward pass instead of storing them",
        .params = (const gt_knob_param[]){
            {"every", GT_PARAM_INT, "1", 1, 64, NULL, 1, "checkpoint one layer in every k (1: every layer)"},
            {0}},
        .evidence = (const char *const[]){"peak_activation_bytes_before", "peak_activation_bytes_after",
                                          "extra_forward_flops", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &grad_ckpt_hooks,
    },
    /* optimizer (V6): src/nn/optimizer.c holds the three. */
    {
        .name = "optimizer",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_MEMORY,
        .stages = GT_STAGE_TRAIN,
        .paper = "V6",
        .summary = "AdamW with 8-bit blockwise state, or a lighter optimizer (SGD with momentum, Adafactor)",
        .params = (const gt_knob_param[]){
            {"kind", GT_PARAM_ENUM, "adamw8bit", 0, 0, optimizers, 1, "the optimizer replacing fp32 AdamW"},
            {"momentum", GT_PARAM_FLOAT, GT_PARAM_OPTIONAL, 0, 0.999, NULL, 0,
             "sgd's momentum (default 0.9; 0: plain SGD, no state)"},
            {"lr", GT_PARAM_FLOAT, GT_PARAM_OPTIONAL, 1e-7, 10, NULL, 0,
             "learning rate for this optimizer (default: train.lr, chosen for AdamW)"},
            {0}},
        .evidence = (const char *const[]){"optimizer_state_bytes", "optimizer_state_bytes_fp32", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &optimizer_hooks,
    },
    /* bf16 (V7; the paper used FP16 on a GPU, bf16 is what CPUs multiply natively). */
    {
        .name = "bf16",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_PRECISION,
        .stages = GT_STAGE_TRAIN,
        .paper = "V7",
        .summary = "mixed precision: bf16 matmuls, fp32 master weights and loss",
        .params = NULL,
        .evidence = (const char *const[]){"bf16_flop_share", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &bf16_hooks,
    },
    /* grad_accum (V23, V25): micro-batches of train.batch, as transformers' gradient_accumulation_steps. */
    {
        .name = "grad_accum",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_MEMORY,
        .stages = GT_STAGE_TRAIN,
        .paper = "V23, V25",
        .summary = "accumulate gradients over k micro-batches per optimizer step",
        .params = (const gt_knob_param[]){
            {"steps", GT_PARAM_INT, "4", 2, 1024, NULL, 1, "micro-batches per optimizer step"},
            {0}},
        .evidence = (const char *const[]){"optimizer_steps", "micro_batches", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &grad_accum_hooks,
    },
    /* early_stop (survey). */
    {
        .name = "early_stop",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TRAIN,
        .paper = "survey",
        .summary = "stop training when the validation metric stops improving",
        .params = (const gt_knob_param[]){
            {"patience", GT_PARAM_INT, "3", 1, 1000, NULL, 1, "validations without improvement before stopping"},
            {"metric", GT_PARAM_ENUM, "loss", 0, 0, stop_metrics, 0, "validation metric watched"},
            {"min_delta", GT_PARAM_FLOAT, "0", 0, 1, NULL, 0, "smallest change that counts as an improvement"},
            {"every", GT_PARAM_INT, "50", 1, 1e9, NULL, 0, "optimizer steps between validations"},
            {0}},
        .evidence = (const char *const[]){"steps_run", "steps_planned", "best_metric", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &early_stop_hooks,
    },
    /* dynamic_batch (paper §II, after You et al.). */
    {
        .name = "dynamic_batch",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TRAIN,
        .paper = "paper §II (You et al.)",
        .summary = "grow the batch size as training proceeds",
        .params = (const gt_knob_param[]){
            {"start", GT_PARAM_INT, "8", 1, 65536, NULL, 0, "batch size of the first steps"},
            {"max", GT_PARAM_INT, "128", 2, 65536, NULL, 0, "largest batch size"},
            {"growth", GT_PARAM_FLOAT, "2", 1.1, 16, NULL, 0, "factor applied at each growth"},
            {"every", GT_PARAM_INT, "50", 1, 1e9, NULL, 0, "optimizer steps between growths"},
            {0}},
        /* Both would own the effective batch size. */
        .conflicts = (const gt_knob_conflict[]){
            {"grad_accum", NULL, NULL, "both set the effective batch size and dynamic_batch grows it on its own; keep one"},
            {0}},
        .evidence = (const char *const[]){"batch_schedule", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &dynamic_batch_hooks,
    },
    /* grad_sparsify (paper §II): the threshold is applied in the optimizer step. */
    {
        .name = "grad_sparsify",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TRAIN,
        .paper = "paper §II",
        .summary = "skip the update of gradient entries whose magnitude is under a threshold",
        .params = (const gt_knob_param[]){
            {"threshold", GT_PARAM_FLOAT, "1e-4", 1e-12, 1, NULL, 1, "entries with |gradient| below it are skipped"},
            {0}},
        .evidence = (const char *const[]){"skipped_share", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &grad_sparsify_hooks,
    },
    {0},
};
