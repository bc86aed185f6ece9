/* greentune/pipeline.h — the metered fine-tuning pipeline: data -> tokenize ->
 * load -> train -> save -> eval, each stage a task of one energy measurement.
 *
 *   gt_pipeline_spec spec;
 *   if (gt_pipeline_spec_load("pipeline.yaml", sets, n_sets, &spec, &err) != GT_OK) ...
 *   gt_knob_set knobs;
 *   gt_knob_set_init(&knobs);
 *   gt_pipeline_spec_knobs(&spec, knob_specs, n_knobs, &knobs, &err);   // YAML knobs, then --knob
 *   gt_run_options o;
 *   gt_run_options_init(&o);
 *   o.out_dir = "model-out";                          // keep the checkpoint (HF model directory)
 *   cJSON *record;
 *   gt_pipeline_run(&spec, &knobs, &o, &record, &err); // design.md's run JSON
 *   gt_run_summary(record, stderr);
 *   cJSON_Delete(record);  gt_knob_set_free(&knobs);  gt_pipeline_spec_free(&spec);
 *
 * The library prints nothing: progress goes to o.progress, one-line notes to
 * o.log. Machine-state knobs are applied before the data stage and restored on
 * every way out of gt_pipeline_run (and on SIGINT/SIGTERM by the knob code). */
#ifndef GREENTUNE_PIPELINE_H
#define GREENTUNE_PIPELINE_H

#include <cjson/cJSON.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "greentune/common.h"
#include "greentune/config.h"
#include "greentune/data.h"
#include "greentune/knobs.h"
#include "greentune/progress.h"
#include "greentune/tokenizer.h"

/* --- metrics ------------------------------------------------------------------- */

#define GT_METRICS_MAX_CLASSES 16

/* Classification metrics as scikit-learn computes them. With two classes,
 * precision, recall and f1 are those of the positive class 1 (average="binary");
 * with more, their macro averages. f1_weighted is f1_score(average="weighted"),
 * the paper's metric; mcc is matthews_corrcoef (multiclass form). A ratio whose
 * denominator is 0 is 0, as sklearn's zero_division default gives. */
typedef struct {
    int n_classes;
    size_t n;
    long confusion[GT_METRICS_MAX_CLASSES][GT_METRICS_MAX_CLASSES]; /* [true][predicted]: [[tn, fp], [fn, tp]] */
    double accuracy, precision, recall, f1, f1_weighted, mcc;
    int predicted_classes; /* distinct classes the model predicted */
    int single_class;      /* the only class predicted (n > 0), or -1 */
} gt_metrics;

/* labels and predictions: n values in [0, n_classes); 2 <= n_classes <= 16. */
GT_API gt_status gt_metrics_compute(const int *labels, const int *predictions, size_t n, int n_classes,
                                    gt_metrics *m, gt_error *err);
/* {"accuracy", "precision", "recall", "f1", "f1_weighted", "mcc", "confusion",
 * "samples", "average"}; NULL when out of memory. */
GT_API cJSON *gt_metrics_to_json(const gt_metrics *m);
/* The loud line when the model predicted one class only, into buf ("" when
 * it did not); names the class with class_names (may be NULL). */
GT_API const char *gt_metrics_single_class_warning(const gt_metrics *m, const char *const *class_names, char *buf,
                                                   size_t size);

/* --- the pipeline file ------------------------------------------------------------ */

/* Every setting of a pipeline file (design.md), typed and checked; paths are
 * resolved against the file's directory. Strings point into the parsed tree. */
typedef struct gt_pipeline_spec {
    gt_config *config;              /* the file with its --set overrides (for messages) */
    /* data */
    gt_data_options data;           /* format, path, fields, label mapping */
    char *data_path;
    gt_label_name *labels;          /* data.labels: {ham: 0, spam: 1} */
    size_t n_labels;
    double split[3];                /* data.split: train, validation, test shares */
    char *split_files[3];           /* data.split_files: {train, val, test} (instead of split) */
    uint64_t data_seed;
    size_t limit;                   /* 0: every sample */
    /* tokenizer */
    char *tokenizer_path;           /* tokenizer.path: load it; NULL: train WordPiece (or from the model dir) */
    gt_wordpiece_options wordpiece; /* tokenizer.vocab_size, lowercase, min_frequency */
    size_t tokenizer_samples;       /* train the vocabulary on at most this many training texts; 0: all */
    /* model */
    char *model_from;               /* model.from: a Hugging Face model directory to fine-tune */
    const char *arch;               /* bert | modernbert */
    int layers, dim, heads, ffn;
    int max_len;                    /* tokens per sample, special tokens included */
    double dropout;                 /* < 0: the architecture's default */
    const char *activation;         /* NULL: the architecture's default */
    const char *pooling;            /* NULL: the architecture's default (cls); or mean */
    /* train */
    int epochs;
    size_t batch;
    double lr, warmup, weight_decay, clip;
    uint64_t seed;
    const char *optimizer;          /* adamw | adamw8bit | sgd | adafactor */
    const char *schedule;           /* linear (warmup, then decay to 0) | cosine | constant */
    long max_steps;                 /* 0: epochs decide */
    /* eval */
    size_t eval_batch;
    /* system */
    int threads;                    /* 0: OpenMP's default */
    const char *meter;              /* energy.h meter spec */
    int interval_ms;
    const char *device;             /* cpu | cuda: where the model trains and evaluates */
    const cJSON *knobs;             /* the knobs: mapping, or NULL */
    int data_parallel;              /* train.data_parallel: 1 true, 0 false, -1 auto (several MPI ranks) */
} gt_pipeline_spec;

/* Loads path, applies the --set assignments ("train.lr=1e-3") in order, and
 * checks every key and value: an unknown key names the closest known one. */
GT_API gt_status gt_pipeline_spec_load(const char *path, const char *const *sets, size_t n_sets,
                                       gt_pipeline_spec *spec, gt_error *err);
GT_API void gt_pipeline_spec_free(gt_pipeline_spec *spec);
/* Adds the file's knobs: mapping, then each --knob spec, to set. */
GT_API gt_status gt_pipeline_spec_knobs(const gt_pipeline_spec *spec, const char *const *knob_specs, size_t n,
                                        gt_knob_set *set, gt_error *err);

/* --- a run ------------------------------------------------------------------------- */

typedef struct {
    const char *out_dir;            /* keep the checkpoint here (a HF model directory); NULL: a temporary one */
    const char *predictions_path;   /* JSON Lines of the test predictions (id, label, predicted, probs); may be NULL */
    const char *label;              /* names the run in messages (the pipeline file) */
    gt_progress_sink progress;
    void (*log)(void *ctx, const char *line); /* one-line notes and warnings (may be NULL) */
    void *log_ctx;
    volatile sig_atomic_t *stop;    /* set non-zero (a signal handler): the run stops at the next batch */
    struct gt_world *world;         /* MPI ranks to train data-parallel over (greentune/parallel.h); NULL:
                                       this process alone */
} gt_run_options;

GT_API void gt_run_options_init(gt_run_options *o);

/* Runs the six stages under one measurement and returns design.md's run record
 * (stages, total, other, meter, estimated, metrics, knobs, model, data,
 * tokenize, train, eval, warnings, machine). On failure nothing is left in
 * out_dir, machine state is restored, and err names the stage and problem. */
GT_API gt_status gt_pipeline_run(const gt_pipeline_spec *spec, gt_knob_set *knobs, const gt_run_options *o,
                                 cJSON **record, gt_error *err);

/* The record for people: stage table (every energy figure with its meter or
 * "estimated"), metrics, knobs, warnings. */
GT_API void gt_run_summary(const cJSON *record, FILE *out);

/* --- classifying with a model directory ---------------------------------------------- */

typedef struct gt_classifier gt_classifier;

/* Opens a Hugging Face model directory (config.json, model.safetensors,
 * tokenizer.json) of a bert or modernbert sequence classifier. Every tensor the
 * model needs must be there with its config's shape (strict). */
GT_API gt_status gt_classifier_open(const char *model_dir, gt_classifier **out, gt_error *err);
GT_API void gt_classifier_free(gt_classifier *c);
GT_API int gt_classifier_num_labels(const gt_classifier *c);
/* id2label's name of a class, or NULL. */
GT_API const char *gt_classifier_label_name(const gt_classifier *c, int label);
GT_API const gt_tokenizer *gt_classifier_tokenizer(const gt_classifier *c);
/* Tokens per text the classifier keeps (tokenizer truncation, else the model's positions). */
GT_API size_t gt_classifier_max_len(const gt_classifier *c);

typedef struct {
    int label;                           /* argmax of the logits */
    float logits[GT_METRICS_MAX_CLASSES];
    float probs[GT_METRICS_MAX_CLASSES]; /* softmax of the logits */
    int32_t *ids;                        /* the token ids the model saw (malloc'd) */
    size_t n_ids;
} gt_prediction;

/* Classifies n texts (batch rows at a time); out has n entries; free with
 * gt_predictions_free. */
GT_API gt_status gt_classifier_predict(gt_classifier *c, const char *const *texts, const size_t *lengths, size_t n,
                                       size_t batch, gt_prediction *out, gt_error *err);
GT_API void gt_predictions_free(gt_prediction *p, size_t n);

#endif
