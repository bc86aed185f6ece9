/* The distillation loss (Hinton, Vinyals, Dean 2015): the student's tempered
 * softmax against the teacher's,
 *
 *   loss_b = T^2 KL(pt || ps) = T^2 sum_j pt_j (log pt_j - log ps_j),
 *   ps = softmax(s_b / T), pt = softmax(t_b / T),
 *
 * whose gradient is d loss_b / d s_b = T (ps - pt): the T^2 keeps the
 * gradient's size independent of T, so alpha weighs it against the label
 * cross-entropy as it does at T = 1. Rows are independent; sums in double. */
#include <math.h>

#include "nn/model.h"

/* p = softmax(x / T) of one row of L; returns log of its normaliser (for log p). */
static double tempered_softmax(float *p, const float *x, int L, float T)
{
    double top = x[0] / T;
    for (int j = 1; j < L; j++)
        top = x[j] / T > top ? x[j] / T : top;
    double z = 0.0;
    for (int j = 0; j < L; j++)
        z += exp(x[j] / T - top);
    for (int j = 0; j < L; j++)
        p[j] = (float)(exp(x[j] / T - top) / z);
    return top + log(z);
}

float distill_forward(float *loss, float *ps, float *pt, const float *s, const float *t, int B, int L, float T)
{
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *sr = s + (long)b * L, *tr = t + (long)b * L;
        double ls = tempered_softmax(ps + (long)b * L, sr, L, T);
        double lt = tempered_softmax(pt + (long)b * L, tr, L, T);
        double kl = 0.0;
        for (int j = 0; j < L; j++) {
            double q = pt[(long)b * L + j];
            if (q > 0.0) /* log pt - log ps = (t - s) / T - lt + ls */
                kl += q * ((tr[j] - sr[j]) / T - lt + ls);
        }
        loss[b] = (float)(T * T * kl);
        total += loss[b];
    }
    return B ? (float)(total / B) : 0.0f;
}

void distill_backward(float *ds, const float *ps, const float *pt, int B, int L, float T, float scale)
{
    for (long i = 0; i < (long)B * L; i++)
        ds[i] += scale * T * (ps[i] - pt[i]);
}
