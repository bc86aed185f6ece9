/* Token embeddings and learned absolute positions (BERT). */
#include <omp.h>
#include <string.h>

#include "nn/ops.h"

/* out: (N, C), ids: (N), table: (V, C). */
void embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        memcpy(out + (long)n * C, table + (long)ids[n] * C, sizeof(float) * C);
}

/* dtable: (V, C) accumulated, dout: (N, C), ids: (N).
 * A token may repeat, so rows of dtable are shared between n; splitting the
 * work by columns instead of rows gives each thread its own slice of every row
 * and keeps the sum over n in order 0..N-1 whatever the thread count. */
void embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C)
{
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int c0 = (int)((long)C * t / nt), c1 = (int)((long)C * (t + 1) / nt);
        for (int n = 0; n < N; n++) {
            float *row = dtable + (long)ids[n] * C;
            const float *g = dout + (long)n * C;
#pragma omp simd
            for (int c = c0; c < c1; c++)
                row[c] += g[c];
        }
    }
}

/* out: (B, T, C) += positions: (>= T, C) broadcast over b. */
void position_embedding_forward(float *out, const float *positions, int B, int T, int C)
{
#pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        float *o = out + (long)bt * C;
        const float *p = positions + (long)(bt % T) * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            o[c] += p[c];
    }
}

/* dpositions: (>= T, C) accumulated with the sum over b, in order b = 0..B-1. */
void position_embedding_backward(float *dpositions, const float *dout, int B, int T, int C)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *dp = dpositions + (long)t * C;
        for (int b = 0; b < B; b++) {
            const float *g = dout + ((long)b * T + t) * C;
#pragma omp simd
            for (int c = 0; c < C; c++)
                dp[c] += g[c];
        }
    }
}
