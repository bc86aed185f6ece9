/* Data-phase knobs: what the pipeline reads and how it is tokenized and batched.
 *
 * Every knob here is defined (parameters, conflicts, evidence) but its effect is
 * provided by the pipeline (src/pipeline, the data and tokenize stages) and is
 * not built yet: effect = GT_KNOB_PENDING, so a run refuses them loudly until
 * the effect and its evidence land here next to the definition. */
#include "knob_internal.h"

static const char *const subsample_strategies[] = {"random", "stratified", "length", NULL};

const gt_knob_def gt_knobs_data[] = {
    /* tokenizer_fast (V4). Effect provided by the pipeline (tokenize stage). */
    {
        .name = "tokenizer_fast",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TOKENIZE,
        .paper = "V4",
        .summary = "faster tokenizer path: cached vocabulary lookups, texts tokenized in parallel",
        .params = NULL,
        .evidence = (const char *const[]){"tokens_per_s_before", "tokens_per_s_after", "ids_identical", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* seq_trim (V8). Effect provided by the pipeline (tokenize stage). */
    {
        .name = "seq_trim",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_TOKENIZE | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V8",
        .summary = "truncate every sequence to max_len tokens",
        .params = (const gt_knob_param[]){
            {"max_len", GT_PARAM_INT, "128", 8, 65536, NULL, 1, "tokens kept per sample, special tokens included"},
            {0}},
        .evidence = (const char *const[]){"mean_tokens_before", "mean_tokens_after", "max_tokens_before",
                                          "max_tokens_after", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* dynamic_padding (survey). Effect provided by the pipeline (batching). */
    {
        .name = "dynamic_padding",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_TOKENIZE | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "survey",
        .summary = "pad each batch to its longest sample instead of max_len; optionally bucket samples by length",
        .params = (const gt_knob_param[]){
            {"bucket", GT_PARAM_BOOL, "true", 0, 0, NULL, 0,
             "group samples of similar length into batches (the batch order stays shuffled)"},
            {0}},
        .evidence = (const char *const[]){"padding_share_before", "padding_share_after", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* dedup (survey). Effect provided by the pipeline (data stage). */
    {
        .name = "dedup",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_DATA,
        .paper = "survey",
        .summary = "drop exact or near-duplicate training samples (hash of the normalized text)",
        .params = (const gt_knob_param[]){
            {"normalize", GT_PARAM_BOOL, "true", 0, 0, NULL, 0,
             "hash lowercased text with whitespace and punctuation collapsed (near duplicates); false: exact bytes"},
            {0}},
        .evidence = (const char *const[]){"samples_before", "samples_removed", NULL},
        .effect = GT_KNOB_PENDING,
    },
    /* subsample (survey: dataset reduction up to 40 %). Effect provided by the pipeline (data stage). */
    {
        .name = "subsample",
        .phases = GT_PHASE_DATA,
        .resources = GT_RESOURCE_DATA_VOLUME,
        .stages = GT_STAGE_DATA,
        .paper = "survey (dataset reduction ≤ 40 %)",
        .summary = "train on a sample of the training split: random, stratified by label, or length-aware",
        .params = (const gt_knob_param[]){
            {"fraction", GT_PARAM_FLOAT, "0.6", 0.01, 0.99, NULL, 1, "share of the training samples kept"},
            {"strategy", GT_PARAM_ENUM, "stratified", 0, 0, subsample_strategies, 0,
             "random; stratified keeps the label shares; length keeps the length distribution"},
            {0}},
        .evidence = (const char *const[]){"train_samples_before", "train_samples_after", NULL},
        .effect = GT_KNOB_PENDING,
    },
    {0},
};
