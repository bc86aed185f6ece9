/* Classification metrics from one confusion matrix, as scikit-learn defines
 * them: every figure is derived from the counts, so the JSON's metrics and its
 * confusion matrix can never disagree. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "greentune/pipeline.h"

/* num / den, or 0 when den is 0 (sklearn's zero_division default, minus the warning). */
static double ratio(double num, double den)
{
    return den > 0 ? num / den : 0.0;
}

/* F1 of class c from its counts: 2 tp / (2 tp + fp + fn), which equals
 * 2 p r / (p + r) and is 0 where sklearn sets it to 0. */
static double class_f1(double tp, double fp, double fn)
{
    return ratio(2 * tp, 2 * tp + fp + fn);
}

/* Matthews correlation in its multiclass form (Gorodkin 2004), which reduces to
 * (tp tn - fp fn) / sqrt(...) for two classes. */
static double mcc_of(const gt_metrics *m, const double *true_count, const double *pred_count, double correct)
{
    double s = (double)m->n, tp_sum = 0, tt = 0, pp = 0;
    for (int c = 0; c < m->n_classes; c++) {
        tp_sum += true_count[c] * pred_count[c];
        tt += true_count[c] * true_count[c];
        pp += pred_count[c] * pred_count[c];
    }
    double cov_tp = correct * s - tp_sum, cov_tt = s * s - tt, cov_pp = s * s - pp;
    return cov_tt * cov_pp > 0 ? cov_tp / sqrt(cov_tt * cov_pp) : 0.0;
}

gt_status gt_metrics_compute(const int *labels, const int *predictions, size_t n, int n_classes, gt_metrics *m,
                             gt_error *err)
{
    memset(m, 0, sizeof *m);
    m->single_class = -1;
    if (n_classes < 2 || n_classes > GT_METRICS_MAX_CLASSES)
        return gt_error_set(err, GT_ERR_INVALID, "metrics: %d classes (2 to %d are supported)", n_classes,
                            GT_METRICS_MAX_CLASSES);
    m->n_classes = n_classes;
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= n_classes || predictions[i] < 0 || predictions[i] >= n_classes)
            return gt_error_set(err, GT_ERR_INTERNAL, "metrics: sample %zu: label %d or prediction %d is not a class",
                                i, labels[i], predictions[i]);
        m->confusion[labels[i]][predictions[i]]++;
    }

    double true_count[GT_METRICS_MAX_CLASSES] = {0}, pred_count[GT_METRICS_MAX_CLASSES] = {0}, correct = 0;
    for (int t = 0; t < n_classes; t++)
        for (int p = 0; p < n_classes; p++) {
            true_count[t] += (double)m->confusion[t][p];
            pred_count[p] += (double)m->confusion[t][p];
        }
    double weighted = 0, macro_p = 0, macro_r = 0, macro_f = 0;
    for (int c = 0; c < n_classes; c++) {
        double tp = (double)m->confusion[c][c], fp = pred_count[c] - tp, fn = true_count[c] - tp;
        correct += tp;
        weighted += true_count[c] * class_f1(tp, fp, fn);
        macro_p += ratio(tp, tp + fp);
        macro_r += ratio(tp, tp + fn);
        macro_f += class_f1(tp, fp, fn);
        if (pred_count[c] > 0) {
            m->predicted_classes++;
            m->single_class = c;
        }
    }
    if (m->predicted_classes != 1)
        m->single_class = -1;
    m->accuracy = ratio(correct, (double)n);
    m->f1_weighted = ratio(weighted, (double)n);
    m->mcc = mcc_of(m, true_count, pred_count, correct);
    if (n_classes == 2) {
        double tp = (double)m->confusion[1][1], fp = (double)m->confusion[0][1], fn = (double)m->confusion[1][0];
        m->precision = ratio(tp, tp + fp);
        m->recall = ratio(tp, tp + fn);
        m->f1 = class_f1(tp, fp, fn);
    } else {
        m->precision = macro_p / n_classes;
        m->recall = macro_r / n_classes;
        m->f1 = macro_f / n_classes;
    }
    return GT_OK;
}

cJSON *gt_metrics_to_json(const gt_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *confusion = cJSON_CreateArray();
    if (!o || !confusion) {
        cJSON_Delete(o);
        cJSON_Delete(confusion);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "accuracy", m->accuracy);
    cJSON_AddNumberToObject(o, "precision", m->precision);
    cJSON_AddNumberToObject(o, "recall", m->recall);
    cJSON_AddNumberToObject(o, "f1", m->f1);
    cJSON_AddNumberToObject(o, "f1_weighted", m->f1_weighted);
    cJSON_AddNumberToObject(o, "mcc", m->mcc);
    for (int t = 0; t < m->n_classes; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < m->n_classes; p++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)m->confusion[t][p]));
        cJSON_AddItemToArray(confusion, row);
    }
    cJSON_AddItemToObject(o, "confusion", confusion);
    cJSON_AddNumberToObject(o, "samples", (double)m->n);
    cJSON_AddStringToObject(o, "average", m->n_classes == 2 ? "binary (positive class 1)" : "macro");
    return o;
}

const char *gt_metrics_single_class_warning(const gt_metrics *m, const char *const *class_names, char *buf,
                                            size_t size)
{
    buf[0] = '\0';
    if (m->single_class < 0 || m->n == 0)
        return buf;
    char name[80] = "";
    if (class_names && class_names[m->single_class])
        snprintf(name, sizeof name, " (\"%.60s\")", class_names[m->single_class]);
    snprintf(buf, size,
             "the model predicted class %d%s for all %zu test samples — it learned nothing beyond the majority "
             "class; f1_weighted %.3f and accuracy %.3f hide it, binary F1 is %.3f and MCC %.3f "
             "(train longer, raise lr, or check the labels)",
             m->single_class, name, m->n, m->f1_weighted, m->accuracy, m->f1, m->mcc);
    return buf;
}
