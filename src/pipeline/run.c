/* One metered run: machine knobs applied, the six stages as tasks of one
 * measurement, the checkpoint moved into place, machine knobs restored — on
 * the way out of every path, success or not. */
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"
#include "knobs/knob_internal.h"
#include "mpi/data_parallel.h"
#include "pipeline/pipeline_internal.h"

void gt_run_options_init(gt_run_options *o)
{
    memset(o, 0, sizeof *o);
}

void pl_log(const gt_pipeline_ctx *p, const char *fmt, ...)
{
    if (!p->opt->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->opt->log(p->opt->log_ctx, line);
}

void pl_warn(gt_pipeline_ctx *p, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cJSON_AddItemToArray(p->warnings, cJSON_CreateString(line));
    pl_log(p, "warning: %s", line);
}

gt_status pl_interrupted(const char *stage, gt_error *err)
{
    return gt_error_set(err, GT_ERR_INTERRUPTED, "%s: interrupted — the run stopped, nothing was saved", stage);
}

/* Data-parallel ranks agree, so that all of them stop at the same batch. */
gt_status pl_check_stop(const gt_pipeline_ctx *p, const char *stage, gt_error *err)
{
    return pl_dp_stop(p->dp, p->opt->stop && *p->opt->stop) ? pl_interrupted(stage, err) : GT_OK;
}

gt_status pl_hooks_run(gt_pipeline_ctx *p, gt_hook_point point, gt_error *err)
{
    for (size_t i = 0; i < p->knobs->count; i++) {
        gt_knob_use *use = &p->knobs->items[i];
        const struct gt_knob_hooks *h = use->def->hooks;
        gt_stage_hook fn = h && h->stage ? h->stage->at[point] : NULL;
        gt_status st = fn ? fn(use, p, err) : GT_OK;
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

static void part_free(gt_pipeline_part *part)
{
    gt_encoded_free(&part->enc);
    free(part->labels);
}

static void ctx_free(gt_pipeline_ctx *p)
{
    part_free(&p->train);
    part_free(&p->val);
    part_free(&p->test);
    gt_nn_model_free(p->model);
    gt_nn_model_free(p->teacher);
    free(p->layer_map);
    gt_tokenizer_free(p->tok);
    gt_split_free(&p->split);
    gt_dataset_free(p->ds);
    free(p->test_logits);
    free(p->test_predictions);
    free(p->checkpoint_dir);
    pl_dp_free(p->dp);
    cJSON *sections[] = {p->data_json, p->tokenize_json, p->model_json, p->train_json, p->eval_json, p->warnings};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        cJSON_Delete(sections[i]);
}

static gt_status ctx_init(gt_pipeline_ctx *p, const gt_pipeline_spec *s, gt_knob_set *knobs, const gt_run_options *o,
                          gt_error *err)
{
    memset(p, 0, sizeof *p);
    p->spec = s;
    p->knobs = knobs;
    p->opt = o;
    p->val_f1 = p->val_loss = NAN;
    p->data_json = cJSON_CreateObject();
    p->tokenize_json = cJSON_CreateObject();
    p->model_json = cJSON_CreateObject();
    p->train_json = cJSON_CreateObject();
    p->eval_json = cJSON_CreateObject();
    p->warnings = cJSON_CreateArray();
    if (!p->data_json || !p->tokenize_json || !p->model_json || !p->train_json || !p->eval_json || !p->warnings)
        return gt_error_set(err, GT_ERR_NOMEM, "run: out of memory");
    gt_encode_options_init(&p->encode);
    gt_batch_options_init(&p->train_batch);
    p->train_batch.batch_size = s->batch;
    p->train_batch.seed = s->seed;
    p->train_batch.shuffle = 1;
    gt_batch_options_init(&p->eval_batch);
    p->eval_batch.batch_size = s->eval_batch;
    p->eval_batch.shuffle = 0;
    p->train_settings = (gt_train_settings){
        .epochs = s->epochs, .lr = s->lr, .warmup = s->warmup, .clip = s->clip, .max_steps = s->max_steps,
        .accumulate = 1};
    return GT_OK;
}

/* The engine's threads: the threads knob's count (already set for OpenMP by
 * the knob), else system.threads, else the cores of the node shared among
 * its data-parallel ranks, else OpenMP's default. */
static gt_status set_threads(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_knob_use *knob = gt_knob_set_find(p->knobs, "threads");
    int n = knob ? (int)gt_knob_int(knob, "n") : p->spec->threads ? p->spec->threads : pl_dp_threads(p->dp);
    if (knob && p->spec->threads && p->spec->threads != n)
        pl_warn(p, "system.threads %d is overridden by the threads knob (%d)", p->spec->threads, n);
    gt_status st = n > 0 ? gt_nn_set_threads(n, err) : GT_OK;
    p->threads = p->encode.threads = gt_nn_threads();
    return st;
}

/* system.device cuda: a machine without a usable GPU is told before any stage
 * runs, with the reason, rather than after the data is read and tokenized. */
static gt_status check_device(const gt_pipeline_spec *s, gt_error *err)
{
    gt_error why = {0};
    if (!s->device || strcmp(s->device, "cuda") || gt_nn_device_check(GT_NN_CUDA, NULL, &why) == GT_OK)
        return GT_OK;
    return gt_config_error(s->config, gt_config_get(s->config, "system.device"), "system.device", err, why.status, "%s",
                           why.message);
}

typedef gt_status (*stage_fn)(gt_pipeline_ctx *p, gt_error *err);

/* Data-parallel ranks other than rank 0 have no checkpoint directory: they
 * run the save hooks and write nothing. */
static gt_status save_stage(gt_pipeline_ctx *p, gt_error *err)
{
    return pl_stage_save(p, p->checkpoint_dir, err);
}

static const struct {
    const char *name;
    stage_fn run;
} stages[] = {
    {"data", pl_stage_data},   {"tokenize", pl_stage_tokenize}, {"load", pl_stage_load},
    {"train", pl_stage_train}, {"save", save_stage},            {"eval", pl_stage_eval},
};

/* The stages under one measurement; *energy is filled when they all ran.
 * Data-parallel ranks agree after every stage (pl_dp_agree): a stage that
 * failed on one rank ends the run on all of them, with its message. */
static gt_status measured_stages(gt_pipeline_ctx *p, gt_energy_result *energy, gt_error *err)
{
    gt_measure_options mo;
    gt_measure_options_init(&mo);
    mo.meter = p->spec->meter;
    mo.interval_ms = p->spec->interval_ms;
    gt_measurement *m = NULL;
    gt_status st = pl_dp_agree(p->dp, "measure", gt_measurement_start(&mo, &m, err), err);
    if (st != GT_OK) {
        if (m)
            gt_measurement_abort(m);
        return st;
    }
    p->measurement = m;
    for (size_t i = 0; i < sizeof stages / sizeof stages[0] && st == GT_OK; i++) {
        if ((st = pl_check_stop(p, stages[i].name, err)) == GT_OK &&
            (st = gt_measurement_task_start(m, stages[i].name, err)) == GT_OK) {
            st = stages[i].run(p, err);
            gt_error stop_err = {0};
            gt_status stopped = gt_measurement_task_stop(m, stages[i].name, &stop_err);
            if (st == GT_OK && stopped != GT_OK) {
                *err = stop_err;
                st = stopped;
            }
        }
        st = pl_dp_agree(p->dp, stages[i].name, st, err);
    }
    p->measurement = NULL;
    if (st != GT_OK) {
        gt_measurement_abort(m);
        return st;
    }
    st = pl_dp_agree(p->dp, "measure", gt_measurement_finish(m, energy, err), err);
    return st == GT_OK ? pl_dp_gather_energy(p->dp, energy, p->trained.matmul_flops, err) : st;
}

static gt_status write_predictions(const gt_pipeline_ctx *p, const char *path, gt_error *err)
{
    gt_atomic_file f;
    gt_status st = gt_atomic_file_open(&f, path, err);
    if (st != GT_OK)
        return st;
    int k = p->model_config.num_labels;
    for (size_t i = 0; i < p->test.enc.n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", p->ds->ids[p->test.set->idx[i]]);
        cJSON_AddNumberToObject(o, "label", p->test.labels[i]);
        cJSON_AddNumberToObject(o, "predicted", p->test_predictions[i]);
        cJSON *logits = cJSON_AddArrayToObject(o, "logits");
        for (int c = 0; c < k; c++)
            cJSON_AddItemToArray(logits, cJSON_CreateNumber(p->test_logits[i * (size_t)k + c]));
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line || fprintf(f.stream, "%s\n", line) < 0) {
            free(line);
            gt_atomic_file_abort(&f);
            return gt_error_set(err, GT_ERR_IO, "%s: cannot write the predictions", path);
        }
        free(line);
    }
    return gt_atomic_file_commit(&f, err);
}

/* Everything after the stages: machine state back, evidence, checkpoint in
 * place (or removed), predictions, the record. Runs on every path. */
static gt_status finish(gt_pipeline_ctx *p, gt_status st, gt_energy_result *energy, cJSON **record, gt_error *err)
{
    gt_error restore_err = {0};
    gt_status restored = gt_knobs_restore_machine(p->knobs, &restore_err);
    if (st == GT_OK && restored != GT_OK) {
        *err = restore_err;
        st = restored;
    }
    if (st == GT_OK)
        st = gt_knob_set_check_evidence(p->knobs, err);
    if (st == GT_OK && p->opt->out_dir && (st = pl_checkpoint_commit(p->checkpoint_dir, p->opt->out_dir, err)) ==
                                              GT_OK) {
        free(p->checkpoint_dir);
        p->checkpoint_dir = NULL;
    }
    pl_checkpoint_remove(p->checkpoint_dir);
    if (st == GT_OK && p->opt->predictions_path)
        st = write_predictions(p, p->opt->predictions_path, err);
    if (st == GT_OK && !(*record = pl_record(p, energy)))
        st = gt_error_set(err, GT_ERR_NOMEM, "run: out of memory for the record");
    if (st == GT_OK)
        pl_dp_record(p->dp, *record);
    return st;
}

gt_status gt_pipeline_run(const gt_pipeline_spec *spec, gt_knob_set *knobs, const gt_run_options *o, cJSON **record,
                          gt_error *err)
{
    *record = NULL;
    gt_run_options opt;
    if (o)
        opt = *o;
    else
        gt_run_options_init(&opt);
    pl_dp *dp = NULL;
    gt_status st = pl_dp_open(spec, opt.world, &dp, err);
    if (st != GT_OK)
        return st;
    if (!pl_dp_writer(dp)) /* one checkpoint and one set of predictions: rank 0's */
        opt.out_dir = opt.predictions_path = NULL;
    gt_pipeline_ctx p;
    st = ctx_init(&p, spec, knobs, &opt, err);
    p.dp = dp;
    if (st == GT_OK)
        st = check_device(spec, err);
    if (st == GT_OK)
        st = gt_knob_set_check_available(knobs, err);
    if (st == GT_OK)
        st = knob_set_check_pipeline(knobs, spec, err);
    if (st == GT_OK)
        st = pl_out_dir_check(p.opt->out_dir, err);
    if (st == GT_OK)
        st = pl_model_config_prepare(&p, err);
    if ((st = pl_dp_agree(p.dp, "run", st, err)) != GT_OK) { /* every rank ready, or none runs */
        ctx_free(&p);
        return st;
    }
    /* Relative knob files (a carbon forecast) are read from the pipeline file's directory. */
    char base[4096];
    snprintf(base, sizeof base, "%s", gt_config_label(spec->config));
    gt_knob_context kctx = {.base_dir = dirname(base), .log = p.opt->log, .log_ctx = p.opt->log_ctx};
    int threads_before = gt_nn_threads();
    if ((st = gt_knobs_apply_machine(knobs, &kctx, err)) != GT_OK) { /* restores what it applied */
        ctx_free(&p);
        return st;
    }
    gt_energy_result energy;
    memset(&energy, 0, sizeof energy);
    st = set_threads(&p, err);
    if (st == GT_OK && pl_dp_writer(p.dp))
        st = pl_checkpoint_dir_create(p.opt->out_dir, &p.checkpoint_dir, err);
    if ((st = pl_dp_agree(p.dp, "run", st, err)) == GT_OK)
        st = measured_stages(&p, &energy, err);
    st = finish(&p, st, &energy, record, err);
    gt_nn_set_threads(threads_before, NULL); /* system.threads, too, ends with the run */
    gt_energy_result_free(&energy);
    ctx_free(&p);
    return st;
}
