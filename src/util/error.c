#include "greentune/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

gt_status gt_error_set(gt_error *err, gt_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

gt_status gt_error_prefix(gt_error *err, const char *fmt, ...)
{
    if (!err)
        return GT_ERR_INTERNAL;
    char prefix[GT_ERROR_MESSAGE_MAX], old[GT_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s%s", prefix, old);
    return err->status;
}

const char *gt_status_name(gt_status status)
{
    switch (status) {
    case GT_OK: return "ok";
    case GT_ERR_INVALID: return "invalid";
    case GT_ERR_PARSE: return "parse";
    case GT_ERR_IO: return "io";
    case GT_ERR_NOT_FOUND: return "not-found";
    case GT_ERR_PERMISSION: return "permission";
    case GT_ERR_UNSUPPORTED: return "unsupported";
    case GT_ERR_NOMEM: return "nomem";
    case GT_ERR_INTERRUPTED: return "interrupted";
    case GT_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}
