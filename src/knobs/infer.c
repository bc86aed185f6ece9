/* Inference-phase knobs: how the eval stage runs the trained model.
 *
 * infer_engine turns the eval stage into the fastest path the engine has:
 * gt_nn_infer already keeps no autograd buffers and runs on prepacked
 * weights; the knob adds bf16 or int8 weights, fused epilogues (bias +
 * activation and residual adds inside the matmuls) and batches of similar
 * length padded to their longest text. Evidence: the eval stage's measured
 * tokens/s, and the padding share of its batches against the plain path's. */
#include <stdio.h>
#include <string.h>

#include "knob_internal.h"
#include "pipeline/pipeline_internal.h"

static const char *const infer_precisions[] = {"auto", "fp32", "bf16", "int8", NULL};

/* auto: int8 with the int8 knob, else bf16 where the CPU runs it natively, else fp32. */
static gt_status engine_precision(const gt_knob_use *use, const gt_knob_set *set, gt_nn_precision *p, gt_error *err)
{
    const char *name = gt_knob_string(use, "precision");
    gt_status st = GT_OK;
    if (strcmp(name, "auto"))
        st = gt_nn_precision_parse(name, p, err);
    else if (gt_knob_set_find(set, "int8"))
        *p = GT_NN_INT8;
    else
        *p = gt_nn_check_precision(GT_NN_BF16, NULL, NULL) == GT_OK ? GT_NN_BF16 : GT_NN_FP32;
    if (st == GT_OK)
        st = gt_nn_check_precision(*p, NULL, err);
    return st == GT_OK ? GT_OK : gt_error_prefix(err, "knob \"infer_engine\": ");
}

/* Checked before training, so a CPU without the precision fails the run early. */
static gt_status infer_engine_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_precision prec;
    gt_status st = engine_precision(use, p->knobs, &prec, err);
    if (st == GT_OK)
        knob_evidence_string(use, "precision", gt_nn_precision_name(prec));
    return st;
}

static double padding_share(const gt_pipeline_ctx *p, const gt_batch_options *bo)
{
    gt_batcher *b;
    gt_padding_stats stats = {0};
    gt_batch_options o = *bo;
    o.shuffle = 0;
    if (gt_batcher_create(&b, &p->test.enc, p->test.labels, &o, NULL) != GT_OK)
        return -1;
    gt_batcher_padding(b, &stats);
    gt_batcher_free(b);
    return stats.pad_share;
}

static gt_status infer_engine_eval(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_status st = engine_precision(use, p->knobs, &p->nn.infer_precision, err);
    if (st != GT_OK)
        return st;
    p->nn.fused = 1;
    double plain = padding_share(p, &p->eval_batch);
    p->eval_batch.dynamic_padding = 1;
    if (gt_knob_bool(use, "bucket")) {
        p->eval_batch.sort_by_length = 1;
        p->eval_batch.bucket_batches = 0;   /* the whole test split: order does not matter to inference */
    }
    double share = padding_share(p, &p->eval_batch);
    if (plain < 0 || share < 0)
        return gt_error_set(err, GT_ERR_NOMEM, "knob \"infer_engine\": cannot batch the test split");
    knob_evidence_number(use, "padding_share_plain", plain);
    knob_evidence_number(use, "padding_share", share);
    return GT_OK;
}

static gt_status infer_engine_finish(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(p->eval_json, "tokens_per_s");
    knob_evidence_number(use, "eval_tokens_per_s", cJSON_IsNumber(rate) ? rate->valuedouble : 0);
    knob_evidence_bool(use, "fused", gt_nn_model_options(p->model).fused);
    knob_evidence_string(use, "precision", gt_nn_precision_name(gt_nn_model_options(p->model).infer_precision));
    return GT_OK;
}

static gt_status infer_engine_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                   FILE *out, gt_error *err)
{
    (void)ctx;
    gt_nn_precision prec;
    if (engine_precision(use, set, &prec, err) != GT_OK)
        return err ? err->status : GT_ERR_UNSUPPORTED;
    fprintf(out, "    would evaluate with %s prepacked weights, fused epilogues%s\n", gt_nn_precision_name(prec),
            gt_knob_bool(use, "bucket") ? ", and batches sorted by length, each padded to its longest text"
                                        : ", each batch padded to its longest text");
    return GT_OK;
}

static const gt_stage_hooks infer_engine_stage = {.at = {[GT_HOOK_LOAD] = infer_engine_load,
                                                         [GT_HOOK_EVAL] = infer_engine_eval,
                                                         [GT_HOOK_FINISH] = infer_engine_finish}};
static const struct gt_knob_hooks infer_engine_hooks = {.plan = infer_engine_plan, .stage = &infer_engine_stage};

const gt_knob_def gt_knobs_infer[] = {
    /* infer_engine (V9): the eval stage's settings. */
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
        .evidence = (const char *const[]){"eval_tokens_per_s", "padding_share", "padding_share_plain", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &infer_engine_hooks,
    },
    {0},
};
