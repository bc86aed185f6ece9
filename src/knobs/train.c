/* Training-phase knobs: how the model trains (memory, precision, optimizer,
 * batch schedule, when to stop).
 *
 * The definitions and their parameter rules are here; every effect is provided
 * by the pipeline's train stage and the engine and is not built yet: effect =
 * GT_KNOB_PENDING, so a run refuses them loudly until the effect and its
 * evidence land here next to the definition. */
#include <stdio.h>

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

static gt_status dynamic_batch_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    double start = cJSON_GetObjectItemCaseSensitive(params, "start")->valuedouble;
    double max = cJSON_GetObjectItemCaseSensitive(params, "max")->valuedouble;
    if (start >= max)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": start (%g) must be below max (%g), or the batch never grows",
                            def->name, start, max);
    return GT_OK;
}

static const struct gt_knob_hooks dynamic_batch_hooks = {.validate = dynamic_batch_validate};

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
    /* optimizer (V6). Effect provided by the engine (src/nn optimizers). */
    {
        .name = "optimizer",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_MEMORY,
        .stages = GT_STAGE_TRAIN,
        .paper = "V6",
        .summary = "AdamW with 8-bit blockwise state, or a lighter optimizer (SGD with momentum, Adafactor)",
        .params = (const gt_knob_param[]){
            {"kind", GT_PARAM_ENUM, "adamw8bit", 0, 0, optimizers, 1, "the optimizer replacing fp32 AdamW"},
            {"block", GT_PARAM_INT, "256", 32, 65536, NULL, 0, "values per scale in adamw8bit's quantized state"},
            {0}},
        .evidence = (const char *const[]){"optimizer_state_bytes", "optimizer_state_bytes_fp32", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* bf16 (V7; the paper used FP16 on a GPU). Effect provided by the engine. */
    {
        .name = "bf16",
        .phases = GT_PHASE_TRAIN,
        .resources = GT_RESOURCE_PRECISION,
        .stages = GT_STAGE_TRAIN,
        .paper = "V7",
        .summary = "mixed precision: bf16 matmuls, fp32 master weights and loss",
        .params = NULL,
        .evidence = (const char *const[]){"bf16_flop_share", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* grad_accum (V23, V25). Effect provided by the pipeline (train loop). */
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
        .effect = GT_KNOB_PENDING,
    },
    /* early_stop (survey). Effect provided by the pipeline (train loop + validation). */
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
        .effect = GT_KNOB_PENDING,
    },
    /* dynamic_batch (paper §II, after You et al.). Effect provided by the pipeline. */
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
        .effect = GT_KNOB_PENDING,
        .hooks = &dynamic_batch_hooks,
    },
    /* grad_sparsify (paper §II). Effect provided by the engine (optimizer step). */
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
        .effect = GT_KNOB_PENDING,
    },
    {0},
};
