/* greentune/common.h — status codes and error messages shared by every module.
 *
 * Library functions return a gt_status and, on failure, fill a gt_error with one
 * line that names the thing (file, key, knob) first, then the problem, then the
 * fix. Only the command-line tool prints messages and exits.
 *
 *   gt_error err = {0};
 *   if (gt_write_file_atomic(path, data, len, &err) != GT_OK)
 *       fprintf(stderr, "greentune: %s\n", err.message);
 */
#ifndef GREENTUNE_COMMON_H
#define GREENTUNE_COMMON_H

#include <stddef.h>

/* Marks a function of the public API: exported from libgreentune.so. Everything
 * else in the library is hidden (compiled with -fvisibility=hidden). */
#define GT_API __attribute__((visibility("default")))

typedef enum {
    GT_OK = 0,
    GT_ERR_INVALID,      /* bad argument or value from the caller or a file */
    GT_ERR_PARSE,        /* malformed file contents */
    GT_ERR_IO,           /* read/write/open failed */
    GT_ERR_NOT_FOUND,    /* missing file, key, tensor, knob */
    GT_ERR_PERMISSION,   /* the OS refused access */
    GT_ERR_UNSUPPORTED,  /* not possible on this machine or build */
    GT_ERR_NOMEM,        /* allocation failed or a size limit was exceeded */
    GT_ERR_INTERRUPTED,  /* stopped by a signal or the user */
    GT_ERR_INTERNAL      /* a bug: an invariant did not hold */
} gt_status;

#define GT_ERROR_MESSAGE_MAX 512

typedef struct {
    gt_status status;
    char message[GT_ERROR_MESSAGE_MAX];
} gt_error;

/* Fills err (if non-NULL) and returns status, so failures read
 *     return gt_error_set(err, GT_ERR_IO, "%s: %s", path, strerror(errno)); */
GT_API gt_status gt_error_set(gt_error *err, gt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with more context ("model.safetensors: " + msg). */
GT_API gt_status gt_error_prefix(gt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A short name for a status ("io", "parse", ...). */
GT_API const char *gt_status_name(gt_status status);

#endif
