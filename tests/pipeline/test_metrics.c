/* Metrics on cases worked out by hand, and the loud single-class warning. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/pipeline.h"
#include "test_support.h"

/* tn 50, fp 10, fn 5, tp 35 (100 samples): precision 35/45, recall 35/40,
 * F1 70/85, accuracy 85/100, MCC (35*50 - 10*5) / sqrt(45*40*60*55); weighted
 * F1 (60 * 100/115 + 40 * 70/85) / 100. */
static void test_binary_counts_by_hand(void)
{
    int labels[100], preds[100];
    for (int i = 0; i < 100; i++) {
        labels[i] = i >= 60;
        preds[i] = i < 50 ? 0 : i < 60 ? 1 : i < 65 ? 0 : 1;
    }
    gt_metrics m;
    gt_error err = {0};
    CHECK_EQ_INT(gt_metrics_compute(labels, preds, 100, 2, &m, &err), GT_OK);
    CHECK_EQ_INT(m.confusion[0][0], 50);
    CHECK_EQ_INT(m.confusion[0][1], 10);
    CHECK_EQ_INT(m.confusion[1][0], 5);
    CHECK_EQ_INT(m.confusion[1][1], 35);
    CHECK_NEAR(m.precision, 35.0 / 45, 1e-15);
    CHECK_NEAR(m.recall, 35.0 / 40, 1e-15);
    CHECK_NEAR(m.f1, 70.0 / 85, 1e-15);
    CHECK_NEAR(m.accuracy, 0.85, 1e-15);
    CHECK_NEAR(m.mcc, 1700.0 / sqrt(45.0 * 40 * 60 * 55), 1e-15);
    CHECK_NEAR(m.f1_weighted, (60 * 100.0 / 115 + 40 * 70.0 / 85) / 100, 1e-15);
    CHECK_EQ_INT(m.predicted_classes, 2);
    CHECK_EQ_INT(m.single_class, -1);
    char buf[512];
    CHECK_EQ_STR(gt_metrics_single_class_warning(&m, NULL, buf, sizeof buf), "");
}

/* 97 % / 3 %: the majority class everywhere looks fine by weighted F1 (0.955)
 * and accuracy (0.97); binary F1 and MCC are 0, and the warning says so. */
static void test_majority_only_is_flagged(void)
{
    int labels[100], preds[100] = {0};
    for (int i = 0; i < 100; i++)
        labels[i] = i >= 97;
    gt_metrics m;
    gt_error err = {0};
    CHECK_EQ_INT(gt_metrics_compute(labels, preds, 100, 2, &m, &err), GT_OK);
    CHECK_NEAR(m.accuracy, 0.97, 1e-15);
    CHECK_NEAR(m.f1_weighted, 0.97 * (2 * 97.0 / (2 * 97 + 3)), 1e-15);
    CHECK_EQ_INT(m.f1, 0);
    CHECK_EQ_INT(m.mcc, 0);
    CHECK_EQ_INT(m.single_class, 0);
    const char *names[] = {"ham", "spam"};
    char buf[512];
    gt_metrics_single_class_warning(&m, names, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "predicted class 0 (\"ham\") for all 100 test samples") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "binary F1 is 0.000") != NULL, "%s", buf);
}

/* No samples: every figure is 0, nothing divides by zero. */
static void test_empty_is_zero(void)
{
    gt_metrics m;
    gt_error err = {0};
    CHECK_EQ_INT(gt_metrics_compute(NULL, NULL, 0, 2, &m, &err), GT_OK);
    CHECK_EQ_INT(m.n, 0);
    CHECK(m.accuracy == 0 && m.f1 == 0 && m.f1_weighted == 0 && m.mcc == 0);
    CHECK_EQ_INT(m.single_class, -1);
}

/* The JSON carries the confusion matrix as [[tn, fp], [fn, tp]]. */
static void test_json_confusion_layout(void)
{
    int labels[] = {0, 0, 0, 1, 1}, preds[] = {0, 1, 1, 0, 1};
    gt_metrics m;
    gt_error err = {0};
    CHECK_EQ_INT(gt_metrics_compute(labels, preds, 5, 2, &m, &err), GT_OK);
    cJSON *o = gt_metrics_to_json(&m);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "confusion"));
    CHECK_EQ_STR(text, "[[1,2],[1,1]]");
    free(text);
    cJSON_Delete(o);
}

int main(void)
{
    RUN(test_binary_counts_by_hand);
    RUN(test_majority_only_is_flagged);
    RUN(test_empty_is_zero);
    RUN(test_json_confusion_layout);
    return test_summary();
}
