#include "greentune/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Copies text into message with control characters written out (\n, \t,
 * \x0d): a message quotes file contents and user input (a CSV field, a token,
 * a --set value), and whatever they hold, an error stays one line. */
static void set_one_line(char message[GT_ERROR_MESSAGE_MAX], const char *text)
{
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && used + 5 < GT_ERROR_MESSAGE_MAX; p++) {
        if (*p == '\n' || *p == '\t')
            used += (size_t)snprintf(message + used, GT_ERROR_MESSAGE_MAX - used, "\\%c", *p == '\n' ? 'n' : 't');
        else if (*p < 0x20 || *p == 0x7f)
            used += (size_t)snprintf(message + used, GT_ERROR_MESSAGE_MAX - used, "\\x%02x", *p);
        else
            message[used++] = (char)*p;
    }
    message[used] = '\0';
}

gt_status gt_error_set(gt_error *err, gt_status status, const char *fmt, ...)
{
    if (err) {
        char text[GT_ERROR_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        set_one_line(err->message, text);
        err->status = status;
    }
    return status;
}

gt_status gt_error_prefix(gt_error *err, const char *fmt, ...)
{
    if (!err)
        return GT_ERR_INTERNAL;
    char prefix[GT_ERROR_MESSAGE_MAX], text[GT_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(text, sizeof text, "%s%s", prefix, err->message);
    set_one_line(err->message, text);
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
