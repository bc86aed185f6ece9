/* Forecasts of a task's energy and time from its progress (Carbontracker's
 * idea: measure the first epochs, predict the whole training).
 *
 * A run's prediction extrapolates linearly in the fraction of work done:
 * from the run's start at the first report (E / f), and from then on from the
 * first report (the slope between it and the latest), so that what happens
 * before the first report — loading, compiling, warm-up; report 0 at its end
 * — is counted as measured but not extrapolated. */
#include "energy/internal.h"

#include <string.h>

int forecast_update(run_progress *p, double fraction, double energy_j, double time_s)
{
    int first = p->reports++ == 0;
    if (first) {
        p->f0 = fraction;
        p->e0 = energy_j;
        p->t0 = time_s;
    }
    if (!first && fraction > p->f0) {
        double left = (1 - fraction) / (fraction - p->f0);
        p->run_energy_j = energy_j + left * (energy_j - p->e0);
        p->run_duration_s = time_s + left * (time_s - p->t0);
    } else if (fraction > 0) {
        p->run_energy_j = energy_j / fraction;
        p->run_duration_s = time_s / fraction;
    } else {
        return 0;
    }
    p->predicted = 1;
    return 1;
}

void forecast_score(gt_forecast *f, const gt_energy_window *actual)
{
    f->has_error = 1;
    f->energy_error_pct = actual->energy_j > 0 ? (f->task_energy_j - actual->energy_j) / actual->energy_j * 100 : 0;
    f->duration_error_pct =
        actual->duration_s > 0 ? (f->task_duration_s - actual->duration_s) / actual->duration_s * 100 : 0;
}
