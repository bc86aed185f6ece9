/* Pareto fronts on hand-made points. */
#include <math.h>

#include "greentune/analysis.h"
#include "test_support.h"

/* Energy (J) and F1 of seven variants:
 *   0: 100 J .90   on the front (best F1, tied with 6)
 *   1:  50 J .89   on the front
 *   2:  60 J .85   dominated by 1 (more energy, lower F1)
 *   3:  30 J .70   on the front (least energy)
 *   4:  30 J .60   dominated by 3 (same energy, lower F1)
 *   5:  no runs    takes no part
 *   6: 100 J .90   the same point as 0: neither dominates, both stay */
static void test_energy_f1_front(void)
{
    double energy[] = {100, 50, 60, 30, 30, NAN, 100};
    double f1[] = {0.90, 0.89, 0.85, 0.70, 0.60, NAN, 0.90};
    size_t front[7];
    size_t n = gt_pareto_front(energy, f1, 7, 1, front);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(front[0], 3);
    CHECK_EQ_INT(front[1], 1);
    CHECK(front[2] == 0 || front[2] == 6);
    CHECK(front[3] == 0 || front[3] == 6);
}

/* Both axes minimized: (energy, time). */
static void test_energy_time_front(void)
{
    double energy[] = {10, 20, 30, 15, 40};
    double time[] = {50, 20, 10, 60, 10};
    size_t front[5];
    size_t n = gt_pareto_front(energy, time, 5, 0, front);
    /* 3 is beaten by 0 (less energy and time); 4 by 2 (same time, less energy). */
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(front[0], 0);
    CHECK_EQ_INT(front[1], 1);
    CHECK_EQ_INT(front[2], 2);
}

static void test_degenerate_inputs(void)
{
    size_t front[2];
    CHECK_EQ_INT(gt_pareto_front(NULL, NULL, 0, 1, front), 0);
    double one_x[] = {5}, one_y[] = {0.5};
    CHECK_EQ_INT(gt_pareto_front(one_x, one_y, 1, 1, front), 1);
    double nan_x[] = {NAN, NAN}, nan_y[] = {1, 2};
    CHECK_EQ_INT(gt_pareto_front(nan_x, nan_y, 2, 1, front), 0);
}

int main(void)
{
    RUN(test_energy_f1_front);
    RUN(test_energy_time_front);
    RUN(test_degenerate_inputs);
    return test_summary();
}
