/* The eval stage: inference on the test split, then the metrics — binary F1,
 * weighted F1, MCC and the confusion matrix side by side, and a loud warning
 * when the model predicts one class only (weighted F1 alone hid exactly that
 * in the paper's LoRA runs). */
#include <stdlib.h>
#include <time.h>

#include "pipeline/pipeline_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

gt_status pl_stage_eval(gt_pipeline_ctx *p, gt_error *err)
{
    gt_status st = pl_hooks_run(p, GT_HOOK_EVAL, err);
    if (st == GT_OK)
        st = gt_nn_model_set_options(p->model, &p->nn, err);
    if (st != GT_OK)
        return st;
    size_t n = p->test.enc.n;
    int k = p->model_config.num_labels;
    p->test_logits = malloc(n * (size_t)k * sizeof *p->test_logits);
    p->test_predictions = malloc(n * sizeof *p->test_predictions);
    if (!p->test_logits || !p->test_predictions)
        return gt_error_set(err, GT_ERR_NOMEM, "eval: out of memory for %zu samples", n);
    double t0 = now_s();
    st = pl_infer(p->model, &p->test.enc, &p->eval_batch, p->test_logits, &p->opt->progress, "eval", p->opt->stop,
                  err);
    double seconds = now_s() - t0;
    if (st != GT_OK)
        return st;
    pl_argmax(p->test_logits, n, k, p->test_predictions);
    if ((st = gt_metrics_compute(p->test.labels, p->test_predictions, n, k, &p->metrics, err)) != GT_OK)
        return st;
    char warning[600];
    if (*gt_metrics_single_class_warning(&p->metrics, (const char *const *)p->ds->class_names, warning,
                                         sizeof warning))
        pl_warn(p, "%s", warning);

    cJSON *e = p->eval_json;
    cJSON_AddNumberToObject(e, "samples", (double)n);
    cJSON_AddNumberToObject(e, "tokens", (double)p->test.enc.tokens);
    cJSON_AddNumberToObject(e, "batch", (double)p->eval_batch.batch_size);
    cJSON_AddStringToObject(e, "precision", gt_nn_precision_name(p->nn.infer_precision));
    cJSON_AddNumberToObject(e, "loss", pl_cross_entropy(p->test_logits, p->test.labels, n, k));
    cJSON_AddNumberToObject(e, "seconds", seconds);
    cJSON_AddNumberToObject(e, "tokens_per_s", seconds > 0 ? (double)p->test.enc.tokens / seconds : 0);
    cJSON_AddNumberToObject(e, "samples_per_s", seconds > 0 ? (double)n / seconds : 0);
    cJSON_AddNumberToObject(e, "predicted_classes", p->metrics.predicted_classes);
    pl_log(p, "eval: %zu test samples: F1 %.4f, weighted F1 %.4f, accuracy %.4f, MCC %.4f", n, p->metrics.f1,
           p->metrics.f1_weighted, p->metrics.accuracy, p->metrics.mcc);
    return pl_hooks_run(p, GT_HOOK_FINISH, err);
}
