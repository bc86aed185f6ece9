/* How a knob changes the pipeline: the run's state that every stage reads,
 * and the points where the stages ask the knob set what to change.
 *
 * A pipeline knob (src/knobs/<phase>.c) sets its gt_knob_hooks.stage to a
 * table of functions, one per hook point it acts at, and records its evidence
 * there too (knob_evidence_*), next to its effect:
 *
 *   static gt_status seq_trim_tokenize(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
 *   {
 *       p->encode.max_len = (size_t)gt_knob_int(use, "max_len");
 *       return GT_OK;
 *   }
 *   static const gt_stage_hooks seq_trim_stage = {.at = {[GT_HOOK_TOKENIZE] = seq_trim_tokenize,
 *                                                        [GT_HOOK_TOKENIZED] = seq_trim_evidence}};
 *   static const struct gt_knob_hooks seq_trim_hooks = {.stage = &seq_trim_stage};
 *   ... .effect = GT_KNOB_PIPELINE, .hooks = &seq_trim_hooks ...
 *
 * At each point the knobs run in the order of the set; a hook that fails
 * stops the run with its message. Machine-state knobs (threads, power caps)
 * need none of this: the run applies them before the data stage, verifies
 * them after every epoch and restores them on every way out. */
#ifndef GREENTUNE_PIPELINE_STAGE_HOOKS_H
#define GREENTUNE_PIPELINE_STAGE_HOOKS_H

#include "greentune/batch.h"
#include "greentune/data.h"
#include "greentune/energy.h"
#include "greentune/knobs.h"
#include "greentune/nn.h"
#include "greentune/pipeline.h"
#include "greentune/tokenizer.h"

typedef enum {
    GT_HOOK_DATA,       /* data: after the split; filter or subsample p->split.train */
    GT_HOOK_TOKENIZE,   /* tokenize: before encoding; p->encode (max_len, fast path), p->train_batch */
    GT_HOOK_TOKENIZED,  /* tokenize: after encoding; p->train/val/test hold the ids */
    GT_HOOK_CONFIGURE,  /* load: before the model is built; p->model_config (layers, activation) */
    GT_HOOK_LOAD,       /* load: the model is built and its weights loaded; p->nn options, adapters */
    GT_HOOK_TRAIN,      /* train: before the first step; p->optimizer, p->train settings */
    GT_HOOK_EPOCH,      /* train: after each epoch's validation; set p->stop_training to end early */
    GT_HOOK_SAVE,       /* save: before the checkpoint is written */
    GT_HOOK_EVAL,       /* eval: before the test split runs; p->nn.infer_precision, p->eval_batch */
    GT_HOOK_FINISH,     /* eval: after the metrics; last evidence */
    GT_HOOK_VALIDATED,  /* train: after every validation (each epoch's end, and every
                           p->train_settings.validate_every steps): p->val_metrics, p->trained;
                           set p->stop_training to stop at once */
    GT_HOOK_COUNT
} gt_hook_point;

/* One part of the split, tokenized: document k is sample set->idx[k]. */
typedef struct {
    const gt_index_set *set;
    gt_encoded enc;
    int *labels;            /* class of each document */
} gt_pipeline_part;

/* Training settings a knob may change (grad_accum, early_stop, dynamic_batch, prefetch). */
typedef struct {
    int epochs;
    double lr, warmup, clip;
    long max_steps;         /* 0: epochs decide */
    int accumulate;         /* micro-batches per optimizer step (1) */
    long validate_every;    /* optimizer steps between validations inside an epoch (0: epoch ends only) */
    size_t batch_max;       /* > 0: the batch grows from p->train_batch.batch_size to batch_max, */
    double batch_growth;    /*   multiplied by batch_growth */
    long batch_every;       /*   every batch_every optimizer steps (dynamic_batch) */
    int prefetch;           /* batches a background thread builds ahead (0: built when needed) */
} gt_train_settings;

/* What the train stage did, counted as it ran: the evidence of the training
 * and system knobs. */
typedef struct {
    long steps, steps_planned;  /* optimizer steps run, and planned before the first */
    long micro_batches;         /* forward + backward passes */
    long validations;           /* validation passes */
    double samples;             /* training rows seen */
    double real_tokens, padded_tokens;
    double matmul_flops[GT_NN_PRECISIONS]; /* of the forward + backward passes, by precision */
    double batch_build_s;       /* time spent building batches (on the train thread or the prefetch thread) */
    double batch_wait_s;        /* time the train thread waited for its next batch */
    size_t batches_prefetched;  /* batches built ahead by the prefetch thread */
} gt_train_counts;

typedef struct gt_pipeline_ctx {
    const gt_pipeline_spec *spec;
    gt_knob_set *knobs;
    const gt_run_options *opt;
    gt_measurement *measurement; /* the stages' measurement (the train stage reports its progress to it) */
    /* data */
    gt_dataset *ds;
    gt_split split;
    /* tokenize */
    gt_tokenizer *tok;
    gt_encode_options encode;
    gt_pipeline_part train, val, test;
    gt_batch_options train_batch, eval_batch;
    /* load */
    gt_nn_config model_config;
    gt_nn_lora lora;        /* adapters the model is built with (lora; rank 0: none) */
    int *layer_map;         /* model.from: layer i comes from the checkpoint's layer_map[i] (malloc'd; NULL: i) */
    gt_nn_model *teacher;   /* distillation's teacher, inference only (freed with the run) */
    gt_nn_model *model;
    gt_nn_options nn;
    gt_nn_optimizer_config optimizer;
    int threads;            /* the engine's threads for this run */
    /* train */
    gt_train_settings train_settings;
    int stop_training;      /* set by an epoch hook: no further epochs */
    int epoch;              /* the epoch that just ended (1-based) at GT_HOOK_EPOCH */
    double val_f1, val_loss;/* its validation figures (NAN without a validation split) */
    gt_metrics val_metrics; /* the last validation's metrics (n = 0 without a validation split) */
    gt_train_counts trained;
    /* save */
    char *checkpoint_dir;   /* where the save stage writes (moved to --out when the run succeeds) */
    /* eval */
    gt_metrics metrics;
    float *test_logits;     /* test.enc.n x num_labels */
    int *test_predictions;
    /* the run record's sections, filled by the stages (hooks may add keys) */
    cJSON *data_json, *tokenize_json, *model_json, *train_json, *eval_json, *warnings;
    /* data-parallel training over MPI ranks (src/mpi/data_parallel.h); NULL: this process alone */
    struct pl_dp *dp;
} gt_pipeline_ctx;

typedef gt_status (*gt_stage_hook)(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err);

typedef struct gt_stage_hooks {
    gt_stage_hook at[GT_HOOK_COUNT];
} gt_stage_hooks;

#endif
