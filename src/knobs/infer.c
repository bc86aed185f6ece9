/* Inference-phase knobs: how the eval stage runs the trained model.
 *
 * The definition is here; the effect is provided by the pipeline's eval stage
 * and the engine and is not built yet: effect = GT_KNOB_PENDING, so a run
 * refuses it loudly until the effect and its evidence land here. */
#include "knob_internal.h"

static const char *const infer_precisions[] = {"auto", "fp32", "bf16", "int8", NULL};

const gt_knob_def gt_knobs_infer[] = {
    /* infer_engine (V9). Effect provided by the pipeline (eval stage). */
    {
        .name = "infer_engine",
        .phases = GT_PHASE_INFER,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_EVAL,
        .paper = "V9",
        .summary = "inference path: no autograd buffers, fused ops, batches bucketed by length, prepacked weights",
        .params = (const gt_knob_param[]){
            {"precision", GT_PARAM_ENUM, "auto", 0, 0, infer_precisions, 1,
             "prepacked weight precision; auto: int8 with the int8 knob, else bf16 where the CPU has it, else fp32"},
            {"bucket", GT_PARAM_BOOL, "true", 0, 0, NULL, 0, "batch texts of similar length together"},
            {0}},
        .evidence = (const char *const[]){"eval_tokens_per_s", "padding_share", NULL},
        .effect = GT_KNOB_PENDING,
    },
    {0},
};
