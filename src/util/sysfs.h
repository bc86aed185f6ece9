/* sysfs access under $GREENTUNE_SYSFS_ROOT (default /sys), so tests run the RAPL,
 * power-cap and cpufreq code on a fake tree. Reads and writes are small and
 * bounded, and failures say what to do: a missing file, permission denied
 * ("run as root"), or contents that are not what the kernel writes. */
#ifndef GREENTUNE_SYSFS_H
#define GREENTUNE_SYSFS_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

#define GT_SYSFS_PATH_MAX 512
#define GT_SYSFS_VALUE_MAX 4096 /* a sysfs attribute is at most a page */

/* $GREENTUNE_SYSFS_ROOT, or "/sys" when unset or empty. */
const char *gt_sysfs_root(void);

/* root + "/" + the formatted relative path; GT_ERR_INVALID when it does not fit. */
gt_status gt_sysfs_path(char *buf, size_t size, gt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads an attribute, trailing newline and spaces removed. */
gt_status gt_sysfs_read_string(const char *path, char *buf, size_t size, gt_error *err);
/* Reads an attribute holding one unsigned decimal number. */
gt_status gt_sysfs_read_u64(const char *path, uint64_t *value, gt_error *err);

/* Fails, as a write would, when this process may not write the attribute. */
gt_status gt_sysfs_check_writable(const char *path, gt_error *err);

/* Replaces an existing attribute's value (never creates a file). */
gt_status gt_sysfs_write_string(const char *path, const char *value, gt_error *err);
gt_status gt_sysfs_write_u64(const char *path, uint64_t value, gt_error *err);

#endif
