/* libgt_fault.so: an LD_PRELOAD shim that makes writes fail on demand, to test
 * what greentune leaves behind when a disk fills up or a device errs.
 *
 * It wraps the calls file writers end in: write, pwrite, pwrite64, writev,
 * fwrite and fflush (stdio's own writes happen inside libc, out of an
 * interposer's reach, so the stdio entry points are wrapped instead), fsync,
 * fdatasync and rename. A fault plan says which of them fail, after how many
 * calls that match, with which errno, and for which files:
 *
 *   GT_FAULT="ops:after:errno[:path]"       e.g.  "fsync:0:EIO"
 *                                                  "fwrite,fflush:2:ENOSPC:/run.db"
 *
 * ops is a comma list of the names above ("all" for every one); the first
 * `after` matching calls succeed and every later one fails (a full disk stays
 * full); errno is a name (ENOSPC, EIO, EDQUOT, EROFS, EXDEV, EFBIG) or a
 * number; path, when given, limits the plan to files whose path contains it
 * (the target of an fd is read from /proc/self/fd). The plan is read from the
 * environment at load, and a test program changes it at run time through
 * gt_fault_set (found with dlsym), so one process can prepare files, fail,
 * and check what survived. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_WRITE, OP_PWRITE, OP_PWRITE64, OP_WRITEV, OP_FWRITE, OP_FFLUSH, OP_FSYNC, OP_FDATASYNC, OP_RENAME, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"write",  "pwrite", "pwrite64", "writev", "fwrite",
                                               "fflush", "fsync",  "fdatasync", "rename"};

static struct {
    pthread_mutex_t lock;
    unsigned ops;    /* bit per OP_ */
    long after;      /* matching calls that still succeed */
    int error;
    char path[256];  /* substring; "" = every file */
    long failed;     /* calls failed so far */
} plan = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, "", 0};

static int errno_from_name(const char *s)
{
    static const struct {
        const char *name;
        int value;
    } names[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EXDEV", EXDEV},
                 {"EFBIG", EFBIG}, {"EACCES", EACCES}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name))
            return names[i].value;
    return atoi(s);
}

/* Sets the plan ("" or NULL clears it); returns 0, or -1 for a malformed one. */
int gt_fault_set(const char *spec)
{
    unsigned ops = 0;
    long after = 0;
    int error = 0;
    char path[256] = "", copy[512];
    if (spec && *spec) {
        snprintf(copy, sizeof copy, "%s", spec);
        char *save = NULL, *fields[4] = {0};
        int n = 0;
        for (char *f = strtok_r(copy, ":", &save); f && n < 4; f = strtok_r(NULL, ":", &save))
            fields[n++] = f;
        if (n < 3)
            return -1;
        char *list_save = NULL;
        for (char *name = strtok_r(fields[0], ",", &list_save); name; name = strtok_r(NULL, ",", &list_save)) {
            int known = 0;
            for (int i = 0; i < OP_COUNT; i++)
                if (!strcmp(name, op_names[i]) || !strcmp(name, "all"))
                    ops |= 1u << i, known = 1;
            if (!known)
                return -1;
        }
        after = atol(fields[1]);
        error = errno_from_name(fields[2]);
        if (fields[3])
            snprintf(path, sizeof path, "%s", fields[3]);
        if (error <= 0 || after < 0)
            return -1;
    }
    pthread_mutex_lock(&plan.lock);
    plan.ops = ops;
    plan.after = after;
    plan.error = error;
    snprintf(plan.path, sizeof plan.path, "%s", path);
    plan.failed = 0;
    pthread_mutex_unlock(&plan.lock);
    return 0;
}

/* How many calls the current plan has failed. */
long gt_fault_failed(void)
{
    pthread_mutex_lock(&plan.lock);
    long n = plan.failed;
    pthread_mutex_unlock(&plan.lock);
    return n;
}

__attribute__((constructor)) static void load_plan(void)
{
    const char *spec = getenv("GT_FAULT");
    if (spec && gt_fault_set(spec) != 0)
        fprintf(stderr, "gt_fault: GT_FAULT=\"%s\" is not ops:after:errno[:path]\n", spec);
}

static int fd_matches(int fd, const char *needle)
{
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strstr(target, needle) != NULL;
}

/* Whether this call fails: it is in the plan, its file matches, and the
 * allowance of successful calls is used up. fd < 0: match path instead. */
static int should_fail(int op, int fd, const char *path)
{
    pthread_mutex_lock(&plan.lock);
    int fail = 0;
    if (plan.ops & (1u << op)) {
        int matches = !plan.path[0] || (fd >= 0 ? fd_matches(fd, plan.path) : path && strstr(path, plan.path));
        if (matches) {
            if (plan.after > 0)
                plan.after--;
            else
                fail = 1, plan.failed++;
        }
    }
    int error = plan.error;
    pthread_mutex_unlock(&plan.lock);
    if (fail)
        errno = error;
    return fail;
}

#define REAL(name) ((__typeof__(&name))real_symbol(#name))

static void *real_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        fprintf(stderr, "gt_fault: no next definition of %s\n", name);
        abort();
    }
    return p;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    return should_fail(OP_WRITE, fd, NULL) ? -1 : REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset)
{
    return should_fail(OP_PWRITE, fd, NULL) ? -1 : REAL(pwrite)(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset)
{
    return should_fail(OP_PWRITE64, fd, NULL) ? -1 : REAL(pwrite64)(fd, buf, n, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
    return should_fail(OP_WRITEV, fd, NULL) ? -1 : REAL(writev)(fd, iov, count);
}

/* A failed fwrite writes nothing (the stream's error flag cannot be set from
 * outside libc; callers check the count, as they must). */
size_t fwrite(const void *buf, size_t size, size_t n, FILE *stream)
{
    return should_fail(OP_FWRITE, fileno(stream), NULL) ? 0 : REAL(fwrite)(buf, size, n, stream);
}

int fflush(FILE *stream)
{
    if (stream && should_fail(OP_FFLUSH, fileno(stream), NULL))
        return EOF;
    return REAL(fflush)(stream);
}

int fsync(int fd)
{
    return should_fail(OP_FSYNC, fd, NULL) ? -1 : REAL(fsync)(fd);
}

int fdatasync(int fd)
{
    return should_fail(OP_FDATASYNC, fd, NULL) ? -1 : REAL(fdatasync)(fd);
}

int rename(const char *from, const char *to)
{
    return should_fail(OP_RENAME, -1, to) ? -1 : REAL(rename)(from, to);
}
