#include "util/sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *gt_sysfs_root(void)
{
    const char *root = getenv("GREENTUNE_SYSFS_ROOT");
    return root && root[0] ? root : "/sys";
}

gt_status gt_sysfs_path(char *buf, size_t size, gt_error *err, const char *fmt, ...)
{
    const char *root = gt_sysfs_root();
    size_t root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/')
        root_len--;
    int n = snprintf(buf, size, "%.*s/", (int)root_len, root);
    if (n < 0 || (size_t)n >= size)
        return gt_error_set(err, GT_ERR_INVALID, "GREENTUNE_SYSFS_ROOT: path is too long");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= size - (size_t)n)
        return gt_error_set(err, GT_ERR_INVALID, "%s: sysfs path is too long", buf);
    return GT_OK;
}

/* The errno of a failed open or read/write, as a status and one line with a fix. */
static gt_status sysfs_errno(const char *path, int error, int writing, gt_error *err)
{
    switch (error) {
    case ENOENT:
    case ENOTDIR:
        return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: does not exist", path);
    case EACCES:
    case EPERM:
    case EROFS:
        if (writing)
            return gt_error_set(err, GT_ERR_PERMISSION, "%s is not writable: %s (run as root, or pick another knob)",
                                path, strerror(error));
        return gt_error_set(err, GT_ERR_PERMISSION, "%s is not readable: %s (run as root)", path, strerror(error));
    case EISDIR:
        return gt_error_set(err, GT_ERR_INVALID, "%s: is a directory, expected a sysfs file", path);
    default:
        return gt_error_set(err, GT_ERR_IO, "%s: %s", path, strerror(error));
    }
}

gt_status gt_sysfs_read_string(const char *path, char *buf, size_t size, gt_error *err)
{
    if (size == 0)
        return gt_error_set(err, GT_ERR_INTERNAL, "%s: no room to read into", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sysfs_errno(path, errno, 0, err);
    size_t n = 0;
    ssize_t got;
    while (n < size - 1 && (got = read(fd, buf + n, size - 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int error = errno;
            close(fd);
            return sysfs_errno(path, error, 0, err);
        }
        n += (size_t)got;
    }
    char extra;
    int longer = n == size - 1 && read(fd, &extra, 1) > 0;
    close(fd);
    if (longer)
        return gt_error_set(err, GT_ERR_PARSE, "%s: longer than %zu bytes, not a sysfs attribute", path, size - 1);
    /* A NUL would end the string early: "184\0junk" must not read as 184. */
    if (memchr(buf, '\0', n))
        return gt_error_set(err, GT_ERR_PARSE, "%s: holds a NUL byte, not a sysfs attribute", path);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    return GT_OK;
}

gt_status gt_sysfs_read_u64(const char *path, uint64_t *value, gt_error *err)
{
    char text[64];
    gt_status status = gt_sysfs_read_string(path, text, sizeof text, err);
    if (status != GT_OK)
        return status;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    /* A digit first: strtoull would also skip blanks and negate a '-' after
     * them, reading " -5" as 18446744073709551611 (found by fuzz_sysfs_value). */
    if (text[0] < '0' || text[0] > '9' || *end || errno)
        return gt_error_set(err, GT_ERR_PARSE, "%s: expected a number, found \"%s\"", path, text);
    *value = v;
    return GT_OK;
}

gt_status gt_sysfs_check_writable(const char *path, gt_error *err)
{
    return access(path, W_OK) == 0 ? GT_OK : sysfs_errno(path, errno, 1, err);
}

gt_status gt_sysfs_write_string(const char *path, const char *value, gt_error *err)
{
    /* O_TRUNC matters only on a fake tree of regular files; sysfs ignores it. */
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return sysfs_errno(path, errno, 1, err);
    size_t len = strlen(value);
    ssize_t wrote;
    do
        wrote = write(fd, value, len);
    while (wrote < 0 && errno == EINTR);
    int error = errno;
    if (close(fd) != 0 && wrote >= 0) {
        wrote = -1;
        error = errno;
    }
    if (wrote < 0 && error == EINVAL)
        return gt_error_set(err, GT_ERR_INVALID, "%s: the kernel refused \"%s\" (invalid value)", path, value);
    if (wrote < 0)
        return sysfs_errno(path, error, 1, err);
    if ((size_t)wrote != len)
        return gt_error_set(err, GT_ERR_IO, "%s: short write of \"%s\"", path, value);
    return GT_OK;
}

gt_status gt_sysfs_write_u64(const char *path, uint64_t value, gt_error *err)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, value);
    return gt_sysfs_write_string(path, text, err);
}
