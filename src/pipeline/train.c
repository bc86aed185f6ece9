/* The train stage: epochs over shuffled batches, AdamW (or the configured
 * optimizer) with a warmup-then-decay learning rate and gradient clipping,
 * validation after every epoch. Machine-state knobs are checked after each
 * epoch, so a power cap someone else lifted mid-run fails the run instead of
 * silently measuring something else.
 *
 * What the training knobs change lives in p->train_settings: an epoch is cut
 * into slices of the epoch's sample order (a batch size that may grow:
 * dynamic_batch), `accumulate` slices per optimizer step (grad_accum),
 * validations every `validate_every` steps as well (early_stop), batches built
 * ahead on a thread (prefetch, batch_feed.c). Everything a knob's evidence
 * needs is counted in p->trained as it happens. */
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
    lr_schedule schedule;
    long step, total, warmup;
    pl_batch_slice *slices;     /* this epoch's batches */
    size_t n_slices;
    double loss_sum;            /* this epoch's micro-batch losses */
    size_t loss_count;
    double compute_s;           /* time in forward/backward/step, all epochs */
    double first_loss, last_loss, last_norm;
    size_t last_batch;          /* the batch size of the last step (for the schedule) */
    pl_feed_stats feed;
    cJSON *epochs, *validations, *schedule_json;
    gt_forecast forecast;       /* the train stage's latest energy forecast (fraction 0: none yet) */
} trainer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The batch size of optimizer step `step`: train.batch, or with dynamic_batch
 * the start size times growth^(step / every), up to the maximum. */
static size_t batch_at(const gt_pipeline_ctx *p, long step)
{
    const gt_train_settings *s = &p->train_settings;
    size_t b = p->train_batch.batch_size;
    if (!s->batch_max)
        return b;
    double size = llround((double)b * pow(s->batch_growth, (double)(step / s->batch_every)));
    return size >= (double)s->batch_max ? s->batch_max : (size_t)size;
}

/* The batches of an epoch that starts at optimizer step step0: micro-batches
 * of the scheduled size, accumulate of them (or the epoch's rest) per step.
 * Returns the epoch's optimizer steps. */
static long epoch_slices(const gt_pipeline_ctx *p, trainer *t, long step0)
{
    size_t n = p->train.enc.n, k = (size_t)p->train_settings.accumulate, micro = 0;
    long step = step0;
    t->n_slices = 0;
    for (size_t first = 0; first < n; micro++) {
        size_t rows = batch_at(p, step);
        if (rows > n - first)
            rows = n - first;
        t->slices[t->n_slices++] = (pl_batch_slice){first, rows};
        first += rows;
        if ((micro + 1) % k == 0 || first == n)
            step++;
    }
    return step - step0;
}

static gt_status plan(gt_pipeline_ctx *p, trainer *t, gt_error *err)
{
    const gt_train_settings *s = &p->train_settings;
    if (s->accumulate < 1)
        return gt_error_set(err, GT_ERR_INTERNAL, "train: %d micro-batches per step", s->accumulate);
    /* A growing batch needs buffers (and length buckets) of the largest size. */
    gt_batch_options bo = p->train_batch;
    if (s->batch_max > bo.batch_size)
        bo.batch_size = s->batch_max;
    gt_status st = lr_schedule_parse(p->spec->schedule, &t->schedule, err);
    if (st == GT_OK)
        st = gt_batcher_create(&t->batcher, &p->train.enc, p->train.labels, &bo, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "train: ");
    if (!(t->slices = malloc(p->train.enc.n * sizeof *t->slices)))
        return gt_error_set(err, GT_ERR_NOMEM, "train: out of memory");
    t->total = 0;
    for (int e = 0; e < s->epochs; e++)
        t->total += epoch_slices(p, t, t->total);
    if (s->max_steps > 0 && s->max_steps < t->total)
        t->total = s->max_steps;
    p->trained.steps_planned = t->total;
    t->warmup = lround(s->warmup * (double)t->total);
    t->epochs = cJSON_CreateArray();
    t->validations = cJSON_CreateArray();
    t->schedule_json = cJSON_CreateArray();
    t->first_loss = NAN;
    if (!t->epochs || !t->validations || !t->schedule_json)
        return gt_error_set(err, GT_ERR_NOMEM, "train: out of memory");
    return pl_dp_train_begin(p->dp, p->model, p->measurement, t->n_slices, p->train_batch.batch_size, err);
}

/* One micro-batch: forward, and backward with its share of the step's rows.
 * A data-parallel rank computes its shard of the batch's rows only, its loss
 * weighted by the shard's share, so the ranks' gradients sum to the batch's;
 * the loss kept is the batch's (every rank's summed). */
static gt_status micro_batch(gt_pipeline_ctx *p, trainer *t, const gt_batch *b, float grad_scale, int epoch,
                             gt_error *err)
{
    const gt_train_settings *s = &p->train_settings;
    pl_shard shard; /* this rank's rows (all of them alone) and their share */
    pl_dp_shard(p->dp, b, &shard);
    float loss = 0;
    gt_status st;
    if (shard.B > 0 && (st = gt_nn_forward(p->model, shard.ids, shard.lengths, shard.labels, shard.B, (int)b->T,
                                           NULL, &loss, err)) != GT_OK)
        return st;
    if ((st = pl_dp_loss(p->dp, loss, shard.share, &loss, err)) != GT_OK)
        return st;
    if (!isfinite(loss))
        return gt_error_set(err, GT_ERR_INVALID,
                            "train: the loss is %g at step %ld of epoch %d — training diverged; lower train.lr "
                            "(now %g) or keep train.clip on", loss, t->step + 1, epoch + 1, s->lr);
    if (shard.B > 0 && (st = gt_nn_backward(p->model, shard.share * grad_scale, err)) != GT_OK)
        return st;
    p->trained.micro_batches++;
    p->trained.samples += (double)b->B;
    p->trained.real_tokens += (double)b->real_tokens;
    p->trained.padded_tokens += (double)(b->B * b->T);
    t->loss_sum += loss;
    t->loss_count++;
    if (isnan(t->first_loss))
        t->first_loss = loss;
    t->last_loss = loss;
    return GT_OK;
}

/* Notes the batch size a step ran with when it changed; an epoch's last,
 * smaller batch is its remainder, not a change of schedule. */
static void note_batch_size(gt_pipeline_ctx *p, trainer *t, size_t rows, int tail)
{
    if (rows == t->last_batch || (tail && rows < batch_at(p, t->step)))
        return;
    cJSON *entry = cJSON_CreateArray();
    cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)t->step));
    cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)rows));
    cJSON_AddItemToArray(t->schedule_json, entry);
    t->last_batch = rows;
}

/* The train stage's progress for the energy forecast (tasks.train.forecast):
 * the first step is the warm-up (0: shapes planned, memory laid out), then the
 * share of the planned steps. A forecast is a by-product: its failure never
 * stops training. */
static void report_to_measurement(gt_pipeline_ctx *p, trainer *t)
{
    if (!p->measurement || t->total <= 0)
        return;
    double fraction = t->step <= 1 ? 0.0 : (double)t->step / (double)t->total;
    gt_error ignored = {0};
    gt_forecast f;
    if (gt_measurement_progress(p->measurement, "train", fraction > 1.0 ? 1.0 : fraction, &f, &ignored) == GT_OK &&
        fraction > 0)
        t->forecast = f;
}

/* ", train ~ 812 J estimated" once a forecast exists: what the stage will cost. */
static const char *forecast_text(const trainer *t, char *buf, size_t size)
{
    char joules[16];
    buf[0] = '\0';
    if (t->forecast.fraction > 0)
        snprintf(buf, size, ", train ~ %s J%s", gt_progress_si(t->forecast.task_energy_j, joules, sizeof joules),
                 t->forecast.estimated ? " estimated" : "");
    return buf;
}

/* One optimizer step over the micro-batches [from, to) of the epoch. Each
 * micro-batch's loss is weighted by its share of the step's rows, so k
 * micro-batches give the gradient of one batch of all their rows. */
static gt_status train_step(gt_pipeline_ctx *p, trainer *t, pl_feed *feed, size_t from, size_t to, int epoch,
                                gt_error *err)
{
    const gt_train_settings *s = &p->train_settings;
    size_t rows = 0;
    for (size_t i = from; i < to; i++)
        rows += t->slices[i].rows;
    gt_nn_model_info before, after;
    gt_nn_model_info_get(p->model, &before);
    double t0 = now_s();
    gt_nn_zero_grad(p->model);
    gt_status st = GT_OK;
    for (size_t i = from; i < to && st == GT_OK; i++) {
        gt_batch *b;
        double wait0 = now_s();
        if ((st = pl_check_stop(p, "train", err)) != GT_OK || (st = pl_feed_next(feed, &b, err)) != GT_OK)
            break;
        t0 += now_s() - wait0; /* waiting for a batch is not compute */
        if (i == from)
            note_batch_size(p, t, b->B, to == t->n_slices);
        st = micro_batch(p, t, b, (float)((double)b->B / (double)rows), epoch, err);
    }
    if (st == GT_OK)
        st = pl_dp_allreduce_gradients(p->dp, p->model, err); /* the ranks' shards summed: the step's gradient */
    if (st != GT_OK)
        return st;
    double lr = lr_at(t->schedule, s->lr, t->step, t->warmup, t->total);
    if ((st = gt_nn_step(p->model, lr, s->clip, &t->last_norm, err)) != GT_OK)
        return st;
    t->step++;
    p->trained.steps = t->step;
    t->compute_s += now_s() - t0;
    gt_nn_model_info_get(p->model, &after);
    for (int k = 0; k < GT_NN_PRECISIONS; k++)
        p->trained.matmul_flops[k] += after.matmul_flops[k] - before.matmul_flops[k];
    report_to_measurement(p, t);
    char rate[16], forecast[48]; /* loss first: a narrow terminal cuts the end of the line */
    gt_progress_report(&p->opt->progress, "train", (uint64_t)t->step, (uint64_t)t->total,
                       "loss %.4f, %s tok/s, epoch %d/%d%s", t->loss_sum / (double)t->loss_count,
                       gt_progress_si(t->compute_s > 0 ? p->trained.real_tokens / t->compute_s : 0, rate,
                                      sizeof rate), epoch + 1, s->epochs, forecast_text(t, forecast, sizeof forecast));
    return GT_OK;
}

/* Validation loss and metrics; NAN (and p->val_metrics.n = 0) without a
 * validation split. Then the knobs that watch validations (early_stop). */
static gt_status validate(gt_pipeline_ctx *p, cJSON *json, gt_error *err)
{
    p->val_loss = p->val_f1 = NAN;
    memset(&p->val_metrics, 0, sizeof p->val_metrics);
    size_t n = p->val.enc.n;
    if (n == 0)
        return pl_hooks_run(p, GT_HOOK_VALIDATED, err);
    int k = p->model_config.num_labels;
    float *logits = malloc(n * (size_t)k * sizeof *logits);
    int *pred = malloc(n * sizeof *pred);
    gt_status st = logits && pred ? pl_infer_sharded(p->dp, p->model, &p->val.enc, &p->eval_batch, logits,
                                                     &p->opt->progress, "validate", p->opt->stop, err)
                                  : gt_error_set(err, GT_ERR_NOMEM, "validate: out of memory");
    if (st == GT_OK) {
        pl_argmax(logits, n, k, pred);
        st = gt_metrics_compute(p->val.labels, pred, n, k, &p->val_metrics, err);
    }
    if (st == GT_OK) {
        p->val_loss = pl_cross_entropy(logits, p->val.labels, n, k);
        p->val_f1 = p->val_metrics.f1;
        cJSON_AddNumberToObject(json, "val_loss", p->val_loss);
        cJSON_AddNumberToObject(json, "val_f1", p->val_f1);
        cJSON_AddNumberToObject(json, "val_accuracy", p->val_metrics.accuracy);
        p->trained.validations++;
    }
    free(logits);
    free(pred);
    gt_nn_model_set_training(p->model, 1);
    return st == GT_OK ? pl_hooks_run(p, GT_HOOK_VALIDATED, err) : st;
}

/* A validation inside the epoch, every validate_every steps (not at the
 * epoch's last step: the epoch's own validation follows it). */
static gt_status validate_within(gt_pipeline_ctx *p, trainer *t, gt_error *err)
{
    cJSON *v = cJSON_CreateObject();
    cJSON_AddItemToArray(t->validations, v);
    cJSON_AddNumberToObject(v, "step", (double)t->step);
    return validate(p, v, err);
}

static gt_status run_epoch(gt_pipeline_ctx *p, trainer *t, int epoch, gt_error *err)
{
    const gt_train_settings *s = &p->train_settings;
    double t0 = now_s(), tokens0 = p->trained.real_tokens, compute0 = t->compute_s;
    long step0 = t->step;
    t->loss_sum = 0;
    t->loss_count = 0;
    gt_batcher_epoch(t->batcher, (unsigned)epoch);
    epoch_slices(p, t, t->step);
    gt_nn_model_set_training(p->model, 1);
    pl_feed *feed;
    gt_status st = pl_feed_start(&feed, t->batcher, t->slices, t->n_slices, s->prefetch, err);
    size_t k = (size_t)s->accumulate;
    for (size_t from = 0; st == GT_OK && from < t->n_slices && t->step < t->total && !p->stop_training;) {
        size_t to = from + k < t->n_slices ? from + k : t->n_slices;
        st = train_step(p, t, feed, from, to, epoch, err);
        from = to;
        if (st == GT_OK && s->validate_every > 0 && t->step % s->validate_every == 0 && from < t->n_slices &&
            t->step < t->total)
            st = validate_within(p, t, err);
    }
    pl_feed_stop(feed, &t->feed);
    if (st != GT_OK)
        return st;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(t->epochs, e);
    double loss = t->loss_count ? t->loss_sum / (double)t->loss_count : NAN;
    cJSON_AddNumberToObject(e, "epoch", epoch + 1);
    cJSON_AddNumberToObject(e, "loss", loss);
    cJSON_AddNumberToObject(e, "steps", (double)(t->step - step0));
    double compute = t->compute_s - compute0, tokens = p->trained.real_tokens - tokens0;
    cJSON_AddNumberToObject(e, "tokens_per_s", compute > 0 ? tokens / compute : 0);
    double v0 = now_s();
    if ((st = validate(p, e, err)) != GT_OK)
        return st;
    cJSON_AddNumberToObject(e, "val_seconds", now_s() - v0);
    cJSON_AddNumberToObject(e, "seconds", now_s() - t0);
    char validation[96] = "";
    if (p->val.enc.n)
        snprintf(validation, sizeof validation, ", validation loss %.4f, F1 %.4f", p->val_loss, p->val_f1);
    pl_log(p, "train: epoch %d/%d: loss %.4f%s (%.1f s, %.0f tokens/s)", epoch + 1, s->epochs, loss, validation,
           now_s() - t0, compute > 0 ? tokens / compute : 0);
    p->epoch = epoch + 1;
    if ((st = pl_hooks_run(p, GT_HOOK_EPOCH, err)) != GT_OK)
        return st;
    return gt_knobs_verify_machine(p->knobs, err);
}

/* Moves a JSON array into the train section (the trainer no longer owns it). */
static void take_array(cJSON *j, const char *key, cJSON **array)
{
    cJSON_AddItemToObject(j, key, *array);
    *array = NULL;
}

static void record(gt_pipeline_ctx *p, trainer *t, double seconds)
{
    const gt_train_settings *s = &p->train_settings;
    const gt_train_counts *c = &p->trained;
    cJSON *j = p->train_json;
    take_array(j, "epochs", &t->epochs);
    if (cJSON_GetArraySize(t->validations))
        take_array(j, "validations", &t->validations);
    cJSON_AddNumberToObject(j, "epochs_planned", s->epochs);
    cJSON_AddNumberToObject(j, "steps", (double)t->step);
    cJSON_AddNumberToObject(j, "steps_planned", (double)t->total);
    cJSON_AddNumberToObject(j, "micro_batches", (double)c->micro_batches);
    cJSON_AddNumberToObject(j, "micro_batches_per_step", s->accumulate);
    cJSON_AddNumberToObject(j, "batch", (double)p->train_batch.batch_size);
    take_array(j, "batch_schedule", &t->schedule_json);
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
    cJSON_AddNumberToObject(j, "tokens", c->real_tokens);
    cJSON_AddNumberToObject(j, "padded_tokens", c->padded_tokens);
    cJSON_AddNumberToObject(j, "pad_share", c->padded_tokens > 0 ? 1 - c->real_tokens / c->padded_tokens : 0);
    cJSON *flops = cJSON_AddObjectToObject(j, "matmul_flops");
    for (int k = 0; k < GT_NN_PRECISIONS; k++)
        cJSON_AddNumberToObject(flops, gt_nn_precision_name((gt_nn_precision)k), c->matmul_flops[k]);
    cJSON_AddNumberToObject(j, "batch_build_seconds", c->batch_build_s);
    cJSON_AddNumberToObject(j, "batch_wait_seconds", c->batch_wait_s);
    cJSON_AddNumberToObject(j, "compute_seconds", t->compute_s);
    cJSON_AddNumberToObject(j, "tokens_per_s", t->compute_s > 0 ? c->real_tokens / t->compute_s : 0);
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
    p->trained.batch_build_s = t.feed.build_s;
    p->trained.batch_wait_s = t.feed.wait_s;
    p->trained.batches_prefetched = t.feed.prefetched;
    if (st == GT_OK)
        record(p, &t, now_s() - t0);
    cJSON_Delete(t.epochs);
    cJSON_Delete(t.validations);
    cJSON_Delete(t.schedule_json);
    free(t.slices);
    gt_batcher_free(t.batcher);
    return st;
}
