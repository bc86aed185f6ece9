/* Model-phase knobs: what the model is (adapters, weight precision, attention
 * kernel, depth, activation) before it trains.
 *
 * The definitions and their parameter rules are here; every effect is provided
 * by the pipeline and the engine (src/nn, src/pipeline's load stage) and is not
 * built yet: effect = GT_KNOB_PENDING, so a run refuses them loudly until the
 * effect and its evidence land here next to the definition. */
#include "knob_internal.h"

static const char *const lora_targets[] = {"q", "k", "v", "o", "ffn", NULL};
static const char *const attention_impls[] = {"naive", "fused", "flash", NULL};
static const char *const prune_sides[] = {"top", "bottom", NULL};
static const char *const activations[] = {"relu", "gelu", "gelu_tanh", NULL};

/* Exactly one of n and fraction: the paper's "prune 4 of 22 layers" becomes a
 * fraction so the same experiment file scales to any model depth. */
static gt_status prune_layers_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    int has_n = cJSON_GetObjectItemCaseSensitive(params, "n") != NULL;
    int has_fraction = cJSON_GetObjectItemCaseSensitive(params, "fraction") != NULL;
    if (has_n == has_fraction)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": give n (layers) or fraction (of the layers), %s",
                            def->name, has_n ? "not both" : "e.g. prune_layers={n: 2, from: top}");
    return GT_OK;
}

static const struct gt_knob_hooks prune_layers_hooks = {.validate = prune_layers_validate};

const gt_knob_def gt_knobs_model[] = {
    /* lora (V2). Effect provided by the pipeline (load: adapters; train: frozen base). */
    {
        .name = "lora",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE | GT_RESOURCE_MEMORY,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_SAVE,
        .paper = "V2",
        .summary = "freeze the base weights and train low-rank adapters on the named projections (+ the head)",
        .params = (const gt_knob_param[]){
            {"rank", GT_PARAM_INT, "8", 1, 1024, NULL, 1, "rank r of each adapter B·A"},
            {"alpha", GT_PARAM_FLOAT, "16", 0.001, 4096, NULL, 0, "scale alpha/r applied to the adapter's output"},
            {"targets", GT_PARAM_LIST, "q,k,v,o,ffn", 0, 0, lora_targets, 0,
             "attention projections q, k, v, o and the FFN's two matrices (ffn) that get adapters"},
            {"head", GT_PARAM_BOOL, "true", 0, 0, NULL, 0, "train the classification head fully"},
            {"dropout", GT_PARAM_FLOAT, "0", 0, 0.9, NULL, 0, "dropout on the adapter input"},
            {0}},
        /* Distillation cuts a fresh student whose every weight must train; lora
         * would freeze them. prune_layers + lora is the combination to use. */
        .conflicts = (const gt_knob_conflict[]){
            {"distill", NULL, NULL,
             "distill trains every weight of a freshly cut student and lora would freeze them; use prune_layers with lora instead"},
            {0}},
        .evidence = (const char *const[]){"trainable_params", "total_params", "trainable_share", "targets_covered", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* int8 (V3). Effect provided by the engine (int8 matmuls) and the pipeline.
     * Alone it quantizes the trained model for evaluation; with lora the frozen
     * base is int8 during training too (QLoRA-style), adapters stay fp32. */
    {
        .name = "int8",
        .phases = GT_PHASE_MODEL | GT_PHASE_INFER,
        .resources = GT_RESOURCE_PRECISION,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V3",
        .summary = "int8 weights with per-channel scales for the matmuls; QLoRA-style with lora (int8 frozen base)",
        .params = NULL,
        .conflicts = (const gt_knob_conflict[]){
            {"infer_engine", NULL, "precision=fp32|bf16",
             "two weight precisions for inference; let infer_engine follow int8 (precision=auto) or drop int8"},
            {0}},
        .evidence = (const char *const[]){"int8_matmuls", "weight_bytes_before", "weight_bytes_after", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* attention (V12). Effect provided by the engine (attention kernels). */
    {
        .name = "attention",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_MEMORY | GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V12",
        .summary = "attention kernel: naive (full score matrix), fused, or flash (blocked, online softmax)",
        .params = (const gt_knob_param[]){
            {"impl", GT_PARAM_ENUM, "flash", 0, 0, attention_impls, 1, "the attention implementation"},
            {"block", GT_PARAM_INT, "64", 8, 4096, NULL, 0, "key/query block size of the flash kernel"},
            {0}},
        /* `fused` replaces attention with its own fused kernel: two attention
         * implementations in one run cannot both hold. */
        .conflicts = (const gt_knob_conflict[]){
            {"fused", NULL, NULL, "both choose the attention kernel (fused brings its own fused attention); keep one"},
            {0}},
        .evidence = (const char *const[]){"peak_attention_bytes", "impl_used", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* prune_layers (V13–V22). Effect provided by the pipeline (load stage). */
    {
        .name = "prune_layers",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_SAVE | GT_STAGE_EVAL,
        .paper = "V13–V22",
        .summary = "drop n encoder layers from the top (next to the head) or the bottom (next to the embeddings)",
        .params = (const gt_knob_param[]){
            {"n", GT_PARAM_INT, GT_PARAM_OPTIONAL, 1, 1024, NULL, 1, "layers to drop (or give fraction)"},
            {"fraction", GT_PARAM_FLOAT, GT_PARAM_OPTIONAL, 0.01, 0.99, NULL, 0,
             "share of the layers to drop, rounded to the nearest layer (or give n)"},
            {"from", GT_PARAM_ENUM, "top", 0, 0, prune_sides, 0,
             "top: the layers nearest the output; bottom: nearest the embeddings"},
            {0}},
        .evidence = (const char *const[]){"layers_before", "layers_after", "removed_layers", NULL},
        .effect = GT_KNOB_PENDING,
        .hooks = &prune_layers_hooks,
    },
    /* distill (survey). Effect provided by the pipeline (load: student; train: teacher logits). */
    {
        .name = "distill",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN,
        .paper = "survey",
        .summary = "train a smaller student on the teacher's logits (and the labels)",
        .params = (const gt_knob_param[]){
            {"teacher", GT_PARAM_STRING, "unpruned", 0, 0, NULL, 1,
             "a model directory, or \"unpruned\": the model before prune_layers / before the student is cut"},
            {"layers", GT_PARAM_INT, "0", 0, 1024, NULL, 0,
             "student layers; 0: what prune_layers leaves, or half the teacher's layers without it"},
            {"temperature", GT_PARAM_FLOAT, "2", 0.5, 20, NULL, 0, "softmax temperature of the distillation loss"},
            {"alpha", GT_PARAM_FLOAT, "0.5", 0, 1, NULL, 0, "weight of the distillation loss against the label loss"},
            {0}},
        /* With prune_layers the student is the pruned model; a layer count here
         * would be a second, contradicting size. */
        .conflicts = (const gt_knob_conflict[]){
            {"prune_layers", "layers!=0", NULL,
             "both size the student; with prune_layers the student is the pruned model, so drop distill's layers"},
            {0}},
        .evidence = (const char *const[]){"student_params", "teacher_params", "teacher", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* activation (paper §II). Effect provided by the engine (activation ops). */
    {
        .name = "activation",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "paper §II",
        .summary = "replace the FFN activation with a cheaper one",
        .params = (const gt_knob_param[]){
            {"fn", GT_PARAM_ENUM, "relu", 0, 0, activations, 1, "the activation used in every FFN"},
            {0}},
        .evidence = (const char *const[]){"activation_used", "activation_before", NULL},
        .effect = GT_KNOB_PENDING,
    },
    {0},
};
