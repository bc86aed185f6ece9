/* Batched inference over encoded documents: validation, the eval stage and
 * `greentune predict` all classify through here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"

gt_status pl_infer(gt_nn_model *m, const gt_encoded *enc, const gt_batch_options *bo, float *logits,
                   const gt_progress_sink *progress, const char *label, volatile sig_atomic_t *stop, gt_error *err)
{
    if (enc->n == 0)
        return GT_OK;
    int k = gt_nn_model_config(m)->num_labels;
    gt_batch_options o = *bo;
    o.shuffle = 0;
    o.drop_last = 0;
    /* The batcher carries labels; inference has none to give it. */
    int *no_labels = calloc(enc->n, sizeof *no_labels);
    float *out = malloc(o.batch_size * (size_t)k * sizeof *out);
    gt_batcher *b = NULL;
    gt_batch batch = {0};
    gt_status st = no_labels && out ? gt_batcher_create(&b, enc, no_labels, &o, err)
                                    : gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", label);
    if (st == GT_OK)
        st = gt_batch_init(&batch, b, err);
    gt_nn_model_set_training(m, 0);
    size_t n = st == GT_OK ? gt_batcher_count(b) : 0;
    for (size_t i = 0; i < n && st == GT_OK; i++) {
        if (stop && *stop) {
            st = pl_interrupted(label, err);
            break;
        }
        if ((st = gt_batcher_get(b, i, &batch, err)) != GT_OK ||
            (st = gt_nn_infer(m, batch.ids, batch.lengths, (int)batch.B, (int)batch.T, out, err)) != GT_OK)
            break;
        for (size_t r = 0; r < batch.B; r++)
            memcpy(logits + batch.samples[r] * (size_t)k, out + r * (size_t)k, (size_t)k * sizeof *out);
        gt_progress_report(progress, label, i + 1, n, NULL);
    }
    gt_batch_free(&batch);
    gt_batcher_free(b);
    free(out);
    free(no_labels);
    return st;
}

void pl_argmax(const float *logits, size_t n, int k, int *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * (size_t)k;
        int best = 0;
        for (int c = 1; c < k; c++)
            if (row[c] > row[best])
                best = c;
        out[i] = best;
    }
}

double pl_cross_entropy(const float *logits, const int *labels, size_t n, int k)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * (size_t)k;
        double top = row[0], z = 0;
        for (int c = 1; c < k; c++)
            top = row[c] > top ? row[c] : top;
        for (int c = 0; c < k; c++)
            z += exp(row[c] - top);
        sum += top + log(z) - row[labels[i]];
    }
    return n ? sum / (double)n : 0.0;
}
