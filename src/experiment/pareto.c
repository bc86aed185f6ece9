/* Pareto fronts: the variants no other variant beats on both axes. */
#include <math.h>
#include <stdlib.h>

#include "greentune/analysis.h"

/* b dominates a: at least as good on both axes and better on one. */
static int dominates(double xb, double yb, double xa, double ya, int y_up)
{
    int y_no_worse = y_up ? yb >= ya : yb <= ya;
    int y_better = y_up ? yb > ya : yb < ya;
    return xb <= xa && y_no_worse && (xb < xa || y_better);
}

size_t gt_pareto_front(const double *x, const double *y, size_t n, int y_up, size_t *front)
{
    /* Quadratic, on purpose: experiments have tens of variants, and the plain
     * definition is the one to trust. */
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i]))
            continue;
        int dominated = 0;
        for (size_t j = 0; j < n && !dominated; j++)
            dominated = j != i && !isnan(x[j]) && !isnan(y[j]) && dominates(x[j], y[j], x[i], y[i], y_up);
        if (!dominated) {
            /* Insertion by ascending x keeps the front in plotting order. */
            size_t k = count++;
            while (k > 0 && x[front[k - 1]] > x[i]) {
                front[k] = front[k - 1];
                k--;
            }
            front[k] = i;
        }
    }
    return count;
}
