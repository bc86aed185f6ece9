/* The train stage: epochs over shuffled batches, AdamW (or the configured
 * optimizer) with a warmup-then-decay learning rate and gradient clipping,
 * validation after every epoch. Machine-state knobs are checked after each
 * epoch, so a power cap someone else lifted mid-run fails the run instead of
 * silently measuring something else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/data_parallel.h"
#include "nn/optimizer.h"
#include "pipeline/pipeline_internal.h"

typedef struct {
    gt_batcher *batcher;
    gt_batch batch;
    lr_schedule schedule;
    long step, total, warmup;
    size_t micro_per_epoch;
    double loss_sum;            /* this epoch's micro-batch losses */
    size_t loss_count;
    double tokens, padded;      /* real and padded tokens seen, all epochs */
    double compute_s;           /* time in forward/backward/step, all epochs */
    double first_loss, last_loss, last_norm;
    cJSON *epochs;
} trainer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static gt_status plan(gt_pipeline_ctx *p, trainer *t, gt_error *err)
{
    const gt_train_settings *s = &p->train_settings;
    gt_status st = lr_schedule_parse(p->spec->schedule, &t->schedule, err);
    if (st == GT_OK)
        st = gt_batcher_create(&t->batcher, &p->train.enc, p->train.labels, &p->train_batch, err);
    if (st == GT_OK)
        st = gt_batch_init(&t->batch, t->batcher, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "train: ");
    if (s->accumulate < 1)
        return gt_error_set(err, GT_ERR_INTERNAL, "train: %d micro-batches per step", s->accumulate);
    t->micro_per_epoch = gt_batcher_count(t->batcher);
    long steps_per_epoch = (long)((t->micro_per_epoch + (size_t)s->accumulate - 1) / (size_t)s->accumulate);
    t->total = steps_per_epoch * s->epochs;
    if (s->max_steps > 0 && s->max_steps < t->total)
        t->total = s->max_steps;
    t->warmup = lround(s->warmup * (double)t->total);
    t->epochs = cJSON_CreateArray();
    t->first_loss = NAN;
    if (!t->epochs)
        return gt_error_set(err, GT_ERR_NOMEM, "train: out of memory");
    return pl_dp_train_begin(p->dp, p->model, p->measurement, t->micro_per_epoch, p->train_batch.batch_size, err);
}

/* One micro-batch; every accumulate-th (and the epoch's last) ends in an optimizer step. */
static gt_status micro_batch(gt_pipeline_ctx *p, trainer *t, size_t i, int epoch, gt_error *err)
{
    const gt_train_settings *s = &p->train_settings;
    gt_batch *b = &t->batch;
    gt_status st = gt_batcher_get(t->batcher, i, b, err);
    if (st != GT_OK)
        return st;
    int first = i % (size_t)s->accumulate == 0;
    int last = (i + 1) % (size_t)s->accumulate == 0 || i + 1 == t->micro_per_epoch;
    pl_shard shard; /* this data-parallel rank's rows (all of them alone) and their share */
    pl_dp_shard(p->dp, b, &shard);
    double t0 = now_s();
    if (first)
        gt_nn_zero_grad(p->model);
    float loss = 0;
    if (shard.B > 0 && (st = gt_nn_forward(p->model, shard.ids, shard.lengths, shard.labels, shard.B, (int)b->T,
                                           NULL, &loss, err)) != GT_OK)
        return st;
    if ((st = pl_dp_loss(p->dp, loss, shard.share, &loss, err)) != GT_OK)
        return st;
    if (!isfinite(loss))
        return gt_error_set(err, GT_ERR_INVALID,
                            "train: the loss is %g at step %ld of epoch %d — training diverged; lower train.lr "
                            "(now %g) or keep train.clip on", loss, t->step + 1, epoch + 1, s->lr);
    if (shard.B > 0 && (st = gt_nn_backward(p->model, shard.share / (float)s->accumulate, err)) != GT_OK)
        return st;
    if (last) {
        if ((st = pl_dp_allreduce_gradients(p->dp, p->model, err)) != GT_OK)
            return st;
        double lr = lr_at(t->schedule, s->lr, t->step, t->warmup, t->total);
        if ((st = gt_nn_step(p->model, lr, s->clip, &t->last_norm, err)) != GT_OK)
            return st;
        t->step++;
    }
    t->compute_s += now_s() - t0;
    t->tokens += (double)b->real_tokens;
    t->padded += (double)(b->B * b->T);
    t->loss_sum += loss;
    t->loss_count++;
    if (isnan(t->first_loss))
        t->first_loss = loss;
    t->last_loss = loss;
    char rate[16]; /* loss first: a narrow terminal cuts the end of the line */
    gt_progress_report(&p->opt->progress, "train", (uint64_t)t->step, (uint64_t)t->total,
                       "loss %.4f, %s tok/s, epoch %d/%d", t->loss_sum / (double)t->loss_count,
                       gt_progress_si(t->compute_s > 0 ? t->tokens / t->compute_s : 0, rate, sizeof rate), epoch + 1,
                       s->epochs);
    return GT_OK;
}

/* Validation loss and metrics after an epoch; NAN without a validation split. */
static gt_status validate(gt_pipeline_ctx *p, cJSON *epoch_json, gt_error *err)
{
    p->val_loss = p->val_f1 = NAN;
    size_t n = p->val.enc.n;
    if (n == 0)
        return GT_OK;
    int k = p->model_config.num_labels;
    float *logits = malloc(n * (size_t)k * sizeof *logits);
    int *pred = malloc(n * sizeof *pred);
    gt_status st = logits && pred ? pl_infer_sharded(p->dp, p->model, &p->val.enc, &p->eval_batch, logits,
                                                     &p->opt->progress, "validate", p->opt->stop, err)
                                  : gt_error_set(err, GT_ERR_NOMEM, "validate: out of memory");
    gt_metrics m;
    if (st == GT_OK) {
        pl_argmax(logits, n, k, pred);
        st = gt_metrics_compute(p->val.labels, pred, n, k, &m, err);
    }
    if (st == GT_OK) {
        p->val_loss = pl_cross_entropy(logits, p->val.labels, n, k);
        p->val_f1 = m.f1;
        cJSON_AddNumberToObject(epoch_json, "val_loss", p->val_loss);
        cJSON_AddNumberToObject(epoch_json, "val_f1", m.f1);
        cJSON_AddNumberToObject(epoch_json, "val_accuracy", m.accuracy);
    }
    free(logits);
    free(pred);
    gt_nn_model_set_training(p->model, 1);
    return st;
}

static gt_status run_epoch(gt_pipeline_ctx *p, trainer *t, int epoch, gt_error *err)
{
    double t0 = now_s(), tokens0 = t->tokens, compute0 = t->compute_s;
    long step0 = t->step;
    t->loss_sum = 0;
    t->loss_count = 0;
    gt_batcher_epoch(t->batcher, (unsigned)epoch);
    gt_nn_model_set_training(p->model, 1);
    gt_status st = GT_OK;
    for (size_t i = 0; i < t->micro_per_epoch && t->step < t->total && st == GT_OK; i++)
        if ((st = pl_check_stop(p, "train", err)) == GT_OK)
            st = micro_batch(p, t, i, epoch, err);
    if (st != GT_OK)
        return st;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(t->epochs, e);
    double loss = t->loss_count ? t->loss_sum / (double)t->loss_count : NAN;
    cJSON_AddNumberToObject(e, "epoch", epoch + 1);
    cJSON_AddNumberToObject(e, "loss", loss);
    cJSON_AddNumberToObject(e, "steps", (double)(t->step - step0));
    double compute = t->compute_s - compute0;
    cJSON_AddNumberToObject(e, "tokens_per_s", compute > 0 ? (t->tokens - tokens0) / compute : 0);
    double v0 = now_s();
    if ((st = validate(p, e, err)) != GT_OK)
        return st;
    cJSON_AddNumberToObject(e, "val_seconds", now_s() - v0);
    cJSON_AddNumberToObject(e, "seconds", now_s() - t0);
    char validation[96] = "";
    if (p->val.enc.n)
        snprintf(validation, sizeof validation, ", validation loss %.4f, F1 %.4f", p->val_loss, p->val_f1);
    pl_log(p, "train: epoch %d/%d: loss %.4f%s (%.1f s, %.0f tokens/s)", epoch + 1, p->train_settings.epochs, loss,
           validation, now_s() - t0, compute > 0 ? (t->tokens - tokens0) / compute : 0);
    p->epoch = epoch + 1;
    if ((st = pl_hooks_run(p, GT_HOOK_EPOCH, err)) != GT_OK)
        return st;
    return gt_knobs_verify_machine(p->knobs, err);
}

static void record(gt_pipeline_ctx *p, trainer *t, double seconds)
{
    const gt_train_settings *s = &p->train_settings;
    cJSON *j = p->train_json;
    cJSON_AddItemToObject(j, "epochs", t->epochs);
    t->epochs = NULL;
    cJSON_AddNumberToObject(j, "epochs_planned", s->epochs);
    cJSON_AddNumberToObject(j, "steps", (double)t->step);
    cJSON_AddNumberToObject(j, "steps_planned", (double)t->total);
    cJSON_AddNumberToObject(j, "micro_batches_per_step", s->accumulate);
    cJSON_AddNumberToObject(j, "batch", (double)p->train_batch.batch_size);
    cJSON_AddNumberToObject(j, "warmup_steps", (double)t->warmup);
    cJSON_AddNumberToObject(j, "lr", s->lr);
    cJSON_AddStringToObject(j, "schedule", p->spec->schedule);
    cJSON_AddStringToObject(j, "optimizer", p->optimizer.name);
    cJSON_AddNumberToObject(j, "weight_decay", p->optimizer.weight_decay);
    cJSON_AddNumberToObject(j, "clip", s->clip);
    cJSON_AddNumberToObject(j, "seed", (double)p->spec->seed);
    cJSON_AddNumberToObject(j, "first_loss", t->first_loss);
    cJSON_AddNumberToObject(j, "last_loss", t->last_loss);
    cJSON_AddNumberToObject(j, "last_grad_norm", t->last_norm);
    cJSON_AddNumberToObject(j, "tokens", t->tokens);
    cJSON_AddNumberToObject(j, "padded_tokens", t->padded);
    cJSON_AddNumberToObject(j, "pad_share", t->padded > 0 ? 1 - t->tokens / t->padded : 0);
    cJSON_AddNumberToObject(j, "compute_seconds", t->compute_s);
    cJSON_AddNumberToObject(j, "tokens_per_s", t->compute_s > 0 ? t->tokens / t->compute_s : 0);
    cJSON_AddNumberToObject(j, "seconds", seconds);
}

gt_status pl_stage_train(gt_pipeline_ctx *p, gt_error *err)
{
    double t0 = now_s();
    trainer t;
    memset(&t, 0, sizeof t);
    gt_status st = gt_nn_optimizer_defaults(p->spec->optimizer, &p->optimizer, err);
    p->optimizer.weight_decay = p->spec->weight_decay;
    if (st == GT_OK)
        st = pl_hooks_run(p, GT_HOOK_TRAIN, err);
    if (st == GT_OK)
        st = gt_nn_model_set_optimizer(p->model, &p->optimizer, err);
    if (st == GT_OK)
        st = plan(p, &t, err);
    for (int e = 0; st == GT_OK && e < p->train_settings.epochs && t.step < t.total && !p->stop_training; e++)
        st = run_epoch(p, &t, e, err);
    if (st == GT_OK)
        record(p, &t, now_s() - t0);
    cJSON_Delete(t.epochs);
    gt_batch_free(&t.batch);
    gt_batcher_free(t.batcher);
    return st;
}
