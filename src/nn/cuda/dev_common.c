/* What both device backends share: the sticky error and the names of the
 * profile's op kinds. */
#include <stdarg.h>
#include <stdio.h>

#include "nn/cuda/dev.h"

const char *dev_prof_name(dev_prof_kind k)
{
    static const char *const names[PROF_KINDS] = {"gemm", "attn_gemm", "attention", "norm", "elementwise",
                                                  "embedding", "loss", "optimizer", "copy"};
    return (unsigned)k < PROF_KINDS ? names[k] : "?";
}

gt_status dev_fail(dev *d, gt_status status, const char *fmt, ...)
{
    if (d->status != GT_OK)
        return d->status;
    d->status = status;
    d->err.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err.message, sizeof d->err.message, fmt, ap);
    va_end(ap);
    return status;
}

gt_status dev_take_error(dev *d, gt_error *err)
{
    gt_status st = d->status;
    if (st != GT_OK && err)
        *err = d->err;
    d->status = GT_OK;
    d->err.message[0] = '\0';
    return st;
}
