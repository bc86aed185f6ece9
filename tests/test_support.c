#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int test_failures = 0;
const char *test_current = "";
static char tmpdir[4096];

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s (%s:%d): ", test_current, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    test_failures++;
}

static void remove_tree(const char *path)
{
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    test_run(argv, NULL, NULL);
}

int test_summary(void)
{
    if (test_failures) {
        fprintf(stderr, "%d check(s) failed%s%s\n", test_failures,
                tmpdir[0] ? "; files kept in " : "", tmpdir);
        return 1;
    }
    if (tmpdir[0])
        remove_tree(tmpdir);
    printf("all checks passed\n");
    return 0;
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/greentune-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

const char *test_path(const char *name)
{
    static char buffers[8][4096];
    static int next;
    char *b = buffers[next++ % 8];
    snprintf(b, sizeof buffers[0], "%s/%s", test_tmpdir(), name);
    return b;
}

void test_write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "test fixture: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

const char *test_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "test: %s is not set; run the tests through ctest\n", name);
        exit(2);
    }
    return v;
}

/* A growing buffer for one captured stream. */
typedef struct {
    char *data;
    size_t len, cap;
    int fd;
} capture;

static void capture_read(capture *c)
{
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 8192;
        char *bigger = realloc(c->data, cap);
        if (!bigger) {
            perror("realloc");
            exit(2);
        }
        c->data = bigger;
        c->cap = cap;
    }
    ssize_t got = read(c->fd, c->data + c->len, c->cap - c->len - 1);
    if (got > 0) {
        c->len += (size_t)got;
    } else if (got == 0 || errno != EINTR) {
        close(c->fd);
        c->fd = -1;
    }
    c->data[c->len] = '\0';
}

int test_run(char *const argv[], char **out, char **err)
{
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    if ((out && pipe(out_pipe) != 0) || (err && pipe(err_pipe) != 0)) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        if (out) {
            dup2(out_pipe[1], 1);
            close(out_pipe[0]);
            close(out_pipe[1]);
        }
        if (err) {
            dup2(err_pipe[1], 2);
            close(err_pipe[0]);
            close(err_pipe[1]);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    /* Both streams are drained together so a child that fills one pipe while we
     * wait on the other cannot deadlock. */
    capture streams[2] = {{NULL, 0, 0, -1}, {NULL, 0, 0, -1}};
    if (out) {
        close(out_pipe[1]);
        streams[0].fd = out_pipe[0];
    }
    if (err) {
        close(err_pipe[1]);
        streams[1].fd = err_pipe[0];
    }
    while (streams[0].fd >= 0 || streams[1].fd >= 0) {
        struct pollfd fds[2];
        int n = 0, which[2];
        for (int i = 0; i < 2; i++)
            if (streams[i].fd >= 0) {
                fds[n].fd = streams[i].fd;
                fds[n].events = POLLIN;
                which[n++] = i;
            }
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            exit(2);
        }
        for (int i = 0; i < n; i++)
            if (fds[i].revents)
                capture_read(&streams[which[i]]);
    }
    if (out)
        *out = streams[0].data ? streams[0].data : strdup("");
    if (err)
        *err = streams[1].data ? streams[1].data : strdup("");
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}
