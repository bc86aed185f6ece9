/* Applying the machine knobs of a set in a fixed order, checking them while the
 * run goes on, and restoring them; the system clock carbon_aware waits on. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "knob_internal.h"
#include "machine_state.h"

/* carbon_aware first, so a long wait does not hold a power cap; threads before
 * pin_cores, which pins one core per thread. */
static const char *const machine_order[] = {"carbon_aware", "threads", "pin_cores", "cpu_freq", "power_cap", NULL};

gt_status gt_knobs_apply_machine(gt_knob_set *set, const gt_knob_context *ctx, gt_error *err)
{
    for (const char *const *name = machine_order; *name; name++) {
        gt_knob_use *use = gt_knob_set_find(set, *name);
        if (!use || !use->def->hooks || !use->def->hooks->apply)
            continue;
        gt_status status = use->def->hooks->apply(use, set, ctx, err);
        const char *note = ms_take_replay_note();
        if (note[0] && ctx && ctx->log)
            ctx->log(ctx->log_ctx, note);
        if (status != GT_OK) {
            gt_knobs_restore_machine(set, NULL); /* the first error is the one to report */
            return status;
        }
    }
    return GT_OK;
}

gt_status gt_knobs_verify_machine(gt_knob_set *set, gt_error *err)
{
    for (size_t i = 0; i < set->count; i++) {
        gt_knob_use *use = &set->items[i];
        if (use->state && use->def->hooks && use->def->hooks->verify) {
            gt_status status = use->def->hooks->verify(use, err);
            if (status != GT_OK)
                return status;
        }
    }
    return GT_OK;
}

gt_status gt_knobs_restore_machine(gt_knob_set *set, gt_error *err)
{
    gt_error first = {0};
    gt_status status = ms_restore(&first);
    for (size_t i = set->count; i-- > 0;) {
        gt_knob_use *use = &set->items[i];
        if (!use->state)
            continue;
        gt_error e = {0};
        if (use->def->hooks && use->def->hooks->restore && use->def->hooks->restore(use, &e) != GT_OK &&
            status == GT_OK) {
            status = e.status;
            first = e;
        }
        free(use->state);
        use->state = NULL;
    }
    if (status != GT_OK && err)
        *err = first;
    return status;
}

/* --- the system clock ---------------------------------------------------------- */

static double system_now(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An absolute deadline on the wall clock, so a suspend or a clock step does not
 * stretch the wait. Signals that have handlers do not cut it short: SIGINT and
 * SIGTERM end the process (after the machine state is restored). */
static int system_sleep(void *ctx, double seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    double whole = floor(seconds);
    deadline.tv_sec += (time_t)whole;
    deadline.tv_nsec += (long)((seconds - whole) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc;
    while ((rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, NULL)) == EINTR)
        ;
    return rc;
}

const gt_clock *gt_clock_system(void)
{
    static const gt_clock clock = {system_now, system_sleep, NULL};
    return &clock;
}
