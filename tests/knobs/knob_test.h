/* Helpers the knob tests share: a spec list literal and a set built from it. */
#ifndef GREENTUNE_KNOB_TEST_H
#define GREENTUNE_KNOB_TEST_H

#include "greentune/knobs.h"

#define SPECS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A fresh set from `--knob` specs; the status of the first that fails. */
static inline gt_status knob_test_set(gt_knob_set *set, gt_error *err, const char *const *specs)
{
    gt_knob_set_init(set);
    for (; *specs; specs++) {
        gt_status status = gt_knob_set_add_spec(set, *specs, err);
        if (status != GT_OK)
            return status;
    }
    return GT_OK;
}

/* The same, then its machine knobs applied (ctx may be NULL). */
static inline gt_status knob_test_apply(gt_knob_set *set, gt_error *err, const char *const *specs,
                                        const gt_knob_context *ctx)
{
    gt_status status = knob_test_set(set, err, specs);
    return status == GT_OK ? gt_knobs_apply_machine(set, ctx, err) : status;
}

#endif
