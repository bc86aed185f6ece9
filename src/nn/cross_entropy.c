/* Softmax cross-entropy over L classes, mean over the batch (as
 * torch.nn.functional.cross_entropy with reduction='mean'). */
#include <math.h>

#include "nn/fastmath.h"
#include "nn/ops.h"

/* losses: (B), probs: (B, L), logits: (B, L), labels: (B) in [0, L).
 * loss_b = logsumexp(logits_b) - logits_b[label], with the row maximum
 * subtracted before exponentiating so no logit can overflow. */
float cross_entropy_forward(float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *z = logits + (long)b * L;
        float *p = probs + (long)b * L;
        float mx = nn_max(z, 0, L);
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < L; j++) {
            p[j] = nn_expf(z[j] - mx);
            sum += p[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < L; j++)
            p[j] *= inv;
        losses[b] = mx + logf(sum) - z[labels[b]];
    }
    double total = 0.0;
    for (int b = 0; b < B; b++)
        total += losses[b];
    return (float)(total / B);
}

/* dlogits: (B, L) = (probs - onehot(labels)) * scale. */
void cross_entropy_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *p = probs + (long)b * L;
        float *d = dlogits + (long)b * L;
#pragma omp simd
        for (int j = 0; j < L; j++)
            d[j] = p[j] * scale;
        d[labels[b]] -= scale;
    }
}
