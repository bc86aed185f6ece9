/* Residual connections: y = a + b and the gradient fan-out. */
#include "nn/ops.h"

/* y, a, b: (n); y may equal a or b. */
void residual_forward(float *y, const float *a, const float *b, long n)
{
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* da, db: (n) accumulated (either may be NULL), dy: (n). */
void residual_backward(float *da, float *db, const float *dy, long n)
{
    if (da) {
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < n; i++)
            da[i] += dy[i];
    }
    if (db) {
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < n; i++)
            db[i] += dy[i];
    }
}
