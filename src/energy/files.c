/* Helpers shared by the meters: relocatable roots, bounded file reads with
 * errors that say what to do, and note lists. */
#include "energy/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/sysfs.h"

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *energy_sysfs_root(void) { return gt_sysfs_root(); }
const char *energy_proc_root(void) { return env_or("GREENTUNE_PROC_ROOT", "/proc"); }

double energy_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void energy_sleep(double seconds)
{
    struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

/* energy_read_text, also saying how many bytes were read (*len). */
static gt_status read_bytes(const char *path, char *buf, size_t size, size_t *len, gt_error *err)
{
    buf[0] = '\0';
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        gt_status s = e == ENOENT || e == ENOTDIR ? GT_ERR_NOT_FOUND
                      : e == EACCES || e == EPERM ? GT_ERR_PERMISSION : GT_ERR_IO;
        return gt_error_set(err, s, "%s: %s", path, strerror(e));
    }
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t got = read(fd, buf + n, size - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            buf[0] = '\0';
            return gt_error_set(err, e == EACCES || e == EPERM ? GT_ERR_PERMISSION : GT_ERR_IO, "%s: %s", path,
                                strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return GT_OK;
}

gt_status energy_read_text(const char *path, char *buf, size_t size, gt_error *err)
{
    size_t len;
    return read_bytes(path, buf, size, &len, err);
}

gt_status energy_parse_u64(const char *path, const char *text, uint64_t *value, gt_error *err)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *digits = p;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return gt_error_set(err, GT_ERR_PARSE, "%s: counter value overflows 64 bits", path);
        v = v * 10 + d;
        p++;
    }
    int any = p > digits;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (!any || *p) {
        char shown[40];
        size_t i = 0;
        for (const char *q = text; *q && i + 1 < sizeof shown; q++)
            shown[i++] = (*q >= 32 && *q < 127) ? *q : '?';
        while (i > 0 && text[i - 1] == '\n') /* the file's own newline is not garbage */
            i--;
        shown[i] = '\0';
        return gt_error_set(err, GT_ERR_PARSE, "%s: '%s' is not a counter value (expected a decimal integer)",
                            path, shown);
    }
    *value = v;
    return GT_OK;
}

gt_status energy_read_u64(const char *path, uint64_t *value, gt_error *err)
{
    char buf[64];
    size_t len;
    gt_status s = read_bytes(path, buf, sizeof buf, &len, err);
    if (s != GT_OK)
        return s;
    /* A counter is at most 20 digits and a newline: a full buffer means the
     * file holds more than a counter, and a NUL would hide what follows it
     * ("184\0garbage" read as 184; found by fuzz_sysfs_value). */
    if (len == sizeof buf - 1 || memchr(buf, '\0', len))
        return gt_error_set(err, GT_ERR_PARSE, "%s: not a counter value (%s)", path,
                            len == sizeof buf - 1 ? "longer than a counter" : "holds a NUL byte");
    return energy_parse_u64(path, buf, value, err);
}

void power_integral_start(power_integral *p, double now_s, double w)
{
    p->last_w = w;
    p->last_t = now_s;
    p->joules = 0;
}

void power_integral_add(power_integral *p, double now_s, double w)
{
    if (now_s > p->last_t)
        p->joules += 0.5 * (w + p->last_w) * (now_s - p->last_t);
    p->last_w = w;
    p->last_t = now_s;
}

void energy_note_add(char ***notes, int *count, const char *fmt, ...)
{
    if (*count >= ENERGY_NOTES_MAX)
        return;
    char line[GT_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char **bigger = realloc(*notes, (size_t)(*count + 1) * sizeof *bigger);
    if (!bigger)
        return;
    *notes = bigger;
    if ((bigger[*count] = strdup(line)))
        (*count)++;
}

void energy_notes_free(char **notes, int count)
{
    for (int i = 0; i < count; i++)
        free(notes[i]);
    free(notes);
}
