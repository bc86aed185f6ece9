/* The execution order of a sweep. Randomized order runs the repeats in
 * rounds (a randomized complete block design): every variant once per round,
 * in a freshly shuffled order, so slow drift — a warming room, a throttling
 * CPU, a neighbour's load — spreads over all variants instead of biasing the
 * ones that happen to run late. The order is a pure function of the seed, and
 * the store keeps it besides, so a resumed sweep continues the same order. */
#include "experiment_internal.h"

/* splitmix64: a small generator whose output is the same on every platform. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform index below n (n <= 2^32: the modulo's bias is below 2^-32). */
static size_t below(uint64_t *state, size_t n)
{
    return (size_t)(next_random(state) % n);
}

void gt_experiment_plan(const gt_experiment *exp, gt_run_plan *plan)
{
    size_t n = exp->n_variants, k = 0;
    if (!exp->randomized) {
        for (size_t v = 0; v < n; v++)
            for (int r = 0; r < exp->repeats; r++, k++)
                plan[k] = (gt_run_plan){exp->variants[v].name, r, (int)k};
        return;
    }
    for (int r = 0; r < exp->repeats; r++) {
        uint64_t state = exp->seed ^ (0xd1b54a32d192ed03ull * (uint64_t)(r + 1));
        gt_run_plan *round = plan + (size_t)r * n;
        for (size_t v = 0; v < n; v++)
            round[v] = (gt_run_plan){exp->variants[v].name, r, 0};
        for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
            size_t j = below(&state, i);
            gt_run_plan t = round[i - 1];
            round[i - 1] = round[j];
            round[j] = t;
        }
        for (size_t v = 0; v < n; v++)
            round[v].order = (int)k++;
    }
}
