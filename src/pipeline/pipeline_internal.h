/* The pipeline's pieces: one function per stage, the knob hook runner, model
 * directories, batched inference, checkpoints and the run record. */
#ifndef GREENTUNE_PIPELINE_INTERNAL_H
#define GREENTUNE_PIPELINE_INTERNAL_H

#include "pipeline/stage_hooks.h"

/* The six stages, in order; each reads and fills the context. */
gt_status pl_stage_data(gt_pipeline_ctx *p, gt_error *err);
gt_status pl_stage_tokenize(gt_pipeline_ctx *p, gt_error *err);
gt_status pl_stage_load(gt_pipeline_ctx *p, gt_error *err);
gt_status pl_stage_train(gt_pipeline_ctx *p, gt_error *err);
gt_status pl_stage_save(gt_pipeline_ctx *p, const char *dir, gt_error *err); /* dir NULL: hooks only */
gt_status pl_stage_eval(gt_pipeline_ctx *p, gt_error *err);

/* Runs every knob's hook for a point, in the order of the set. */
gt_status pl_hooks_run(gt_pipeline_ctx *p, gt_hook_point point, gt_error *err);

/* A note for the caller's log; a warning also lands in the record's warnings. */
void pl_log(const gt_pipeline_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pl_warn(gt_pipeline_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* GT_ERR_INTERRUPTED with a message when the caller asked the run to stop. */
gt_status pl_check_stop(const gt_pipeline_ctx *p, const char *stage, gt_error *err);
/* The one message of a run stopped by a signal, wherever it stops. */
gt_status pl_interrupted(const char *stage, gt_error *err);

/* --- models ------------------------------------------------------------------ */

/* The model's configuration before any stage runs: from the pipeline file, or
 * from model.from's config.json; sets p->encode.max_len. */
gt_status pl_model_config_prepare(gt_pipeline_ctx *p, gt_error *err);
/* The tokenizer's ids all fit the model's embedding table. */
gt_status pl_check_vocab(const gt_tokenizer *tok, const gt_nn_config *cfg, const char *what, gt_error *err);
/* DIR/model.safetensors into m (strict: every tensor must be in the file);
 * layer_map (may be NULL): m's layer i from the file's layer layer_map[i]. */
gt_status pl_load_weights(gt_nn_model *m, const char *dir, const int *layer_map, int strict, gt_nn_load_report *report,
                          gt_error *err);

/* --- inference ---------------------------------------------------------------- */

/* Logits (enc->n x num_labels, by document) of every document, batch rows at a
 * time; the model is put in eval mode and left there. */
gt_status pl_infer(gt_nn_model *m, const gt_encoded *enc, const gt_batch_options *bo, float *logits,
                   const gt_progress_sink *progress, const char *label, volatile sig_atomic_t *stop, gt_error *err);
/* The same with the batches shared among data-parallel ranks (dp NULL: all
 * here); every rank ends with every document's logits. */
gt_status pl_infer_sharded(struct pl_dp *dp, gt_nn_model *m, const gt_encoded *enc, const gt_batch_options *bo,
                           float *logits, const gt_progress_sink *progress, const char *label,
                           volatile sig_atomic_t *stop, gt_error *err);
/* argmax of each row of logits (n x k). */
void pl_argmax(const float *logits, size_t n, int k, int *out);
/* Mean cross-entropy of logits against labels, in double. */
double pl_cross_entropy(const float *logits, const int *labels, size_t n, int k);

/* --- the train stage's batches (batch_feed.c) ---------------------------------- */

/* One batch: rows [first, first + rows) of the epoch's sample order. */
typedef struct {
    size_t first, rows;
} pl_batch_slice;

typedef struct {
    double build_s, wait_s;
    size_t batches, prefetched;
} pl_feed_stats;

typedef struct pl_feed pl_feed;

/* The batches of slices[0..n) in order, from b (its current epoch). depth 0:
 * each is built by pl_feed_next; depth > 0: a background thread builds up to
 * depth ahead. slices must outlive the feed. */
gt_status pl_feed_start(pl_feed **out, const gt_batcher *b, const pl_batch_slice *slices, size_t n, int depth,
                        gt_error *err);
/* The next batch; valid until the following call. */
gt_status pl_feed_next(pl_feed *f, gt_batch **batch, gt_error *err);
/* Batches built and not handed out yet (what the prefetch thread has ready). */
size_t pl_feed_ahead(pl_feed *f);
/* Ends the feed (joins its thread) and adds its times and counts to total (may be NULL). */
void pl_feed_stop(pl_feed *f, pl_feed_stats *total);

/* --- checkpoints -------------------------------------------------------------- */

/* --out DIR is usable: absent, an empty directory, or a model directory (which
 * the run's checkpoint will replace); its parent exists and is writable. */
gt_status pl_out_dir_check(const char *out_dir, gt_error *err);
/* A new empty directory for the checkpoint: beside out_dir (so the final
 * rename stays on one file system), or in $TMPDIR when out_dir is NULL. */
gt_status pl_checkpoint_dir_create(const char *out_dir, char **dir, gt_error *err);
/* Moves the finished checkpoint dir to out_dir, replacing an older one whole. */
gt_status pl_checkpoint_commit(const char *dir, const char *out_dir, gt_error *err);
/* Removes a checkpoint directory (its files, then itself); quiet. */
void pl_checkpoint_remove(const char *dir);

/* --- the record --------------------------------------------------------------- */

/* design.md's run JSON from the context and the finished measurement. */
cJSON *pl_record(gt_pipeline_ctx *p, const gt_energy_result *energy);
/* {"energy_j", "duration_s", "components": {"cpu_j", "dram_j", "gpu_j"}}: a stage's window. */
cJSON *pl_window_json(const double joules[GT_COMPONENTS], double energy_j, double duration_s);

#endif
