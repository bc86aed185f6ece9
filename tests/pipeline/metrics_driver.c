/* Reads cases from stdin — "n_classes n" then n labels, then n predictions —
 * and prints gt_metrics_to_json of each as one JSON line (or {"error": ...}):
 * test_metrics_sklearn.py compares them with scikit-learn. */
#include <stdio.h>
#include <stdlib.h>

#include "greentune/pipeline.h"

int main(void)
{
    int n_classes;
    size_t n;
    while (scanf("%d %zu", &n_classes, &n) == 2) {
        int *labels = malloc((n ? n : 1) * sizeof *labels), *preds = malloc((n ? n : 1) * sizeof *preds);
        for (size_t i = 0; i < n; i++)
            if (scanf("%d", &labels[i]) != 1)
                return 2;
        for (size_t i = 0; i < n; i++)
            if (scanf("%d", &preds[i]) != 1)
                return 2;
        gt_metrics m;
        gt_error err = {0};
        if (gt_metrics_compute(labels, preds, n, n_classes, &m, &err) != GT_OK) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "error", err.message);
            char *text = cJSON_PrintUnformatted(e);
            puts(text);
            free(text);
            cJSON_Delete(e);
        } else {
            cJSON *o = gt_metrics_to_json(&m);
            cJSON_AddNumberToObject(o, "single_class", m.single_class);
            char *text = cJSON_PrintUnformatted(o);
            puts(text);
            free(text);
            cJSON_Delete(o);
        }
        free(labels);
        free(preds);
    }
    return 0;
}
