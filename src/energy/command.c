/* Measuring a command: fork, start the measurement, let the child exec, then
 * wait for it while reading its control channel.
 *
 * The child waits on a pipe until the measurement has started (so the
 * process-scope estimate knows its pid), and reports a failed exec through a
 * close-on-exec pipe: EOF means the exec worked. SIGCHLD wakes the wait through
 * a self-pipe; SIGINT/SIGTERM/SIGHUP sent to us by a process are forwarded.
 * Signals from the terminal (si_code SI_KERNEL) are not: the child is in the
 * same foreground process group and has received them already. */
#include "energy/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define METRICS_MAX_BYTES (1 << 20)

extern char **environ;

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define FORWARDED_COUNT ((int)(sizeof forwarded_signals / sizeof forwarded_signals[0]))

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t last_forwarded;
static int chld_pipe[2] = {-1, -1};

static void forward_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    int saved = errno;
    if (child_pid > 0 && (!info || info->si_code != SI_KERNEL)) {
        kill((pid_t)child_pid, sig);
        last_forwarded = sig;
    }
    errno = saved;
}

static void note_child(int sig)
{
    (void)sig;
    int saved = errno;
    char byte = 0;
    if (write(chld_pipe[1], &byte, 1) < 0) { /* full: a wake-up is already pending */
    }
    errno = saved;
}

typedef struct {
    char dir[256], fifo[300], metrics[300];
    char **envp;
    struct sigaction old_actions[FORWARDED_COUNT], old_chld;
    int handlers_installed;
} run_state;

typedef struct {
    const gt_command_options *o;
    gt_command_result *r;
} warnings;

static void report_warning(void *ctx, const char *line)
{
    warnings *w = ctx;
    energy_note_add(&w->r->warnings, &w->r->warning_count, "%s", line);
    if (w->o->on_warning)
        w->o->on_warning(w->o->ctx, line);
}

/* environ without our two variables, plus ours. */
static char **child_environment(const run_state *st)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 3, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "GREENTUNE_CONTROL=", 18) && strncmp(environ[i], "GREENTUNE_METRICS=", 18))
            envp[k++] = environ[i];
    envp[k] = malloc(strlen(st->fifo) + 19);
    envp[k + 1] = malloc(strlen(st->metrics) + 19);
    if (!envp[k] || !envp[k + 1]) {
        free(envp[k]);
        free(envp[k + 1]);
        free(envp);
        return NULL;
    }
    sprintf(envp[k], "GREENTUNE_CONTROL=%s", st->fifo);
    sprintf(envp[k + 1], "GREENTUNE_METRICS=%s", st->metrics);
    return envp;
}

static void cleanup(run_state *st)
{
    if (st->handlers_installed) {
        for (int i = 0; i < FORWARDED_COUNT; i++)
            sigaction(forwarded_signals[i], &st->old_actions[i], NULL);
        sigaction(SIGCHLD, &st->old_chld, NULL);
        st->handlers_installed = 0;
    }
    child_pid = 0;
    for (int i = 0; i < 2; i++)
        if (chld_pipe[i] >= 0) {
            close(chld_pipe[i]);
            chld_pipe[i] = -1;
        }
    if (st->envp) {
        size_t n = 0;
        while (st->envp[n])
            n++;
        free(st->envp[n - 1]);
        free(st->envp[n - 2]);
        free(st->envp);
    }
    if (st->dir[0]) {
        unlink(st->fifo); /* gt_control_close removes it too, when it was made */
        unlink(st->metrics);
        rmdir(st->dir);
    }
}

/* The FIFO's and metrics' paths, the child's environment and our handlers. */
static gt_status prepare(run_state *st, gt_error *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(st->dir, sizeof st->dir, "%s/greentune-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(st->dir)) {
        gt_status s = gt_error_set(err, GT_ERR_IO, "%s: cannot create the control directory: %s (set TMPDIR)",
                                   st->dir, strerror(errno));
        st->dir[0] = '\0';
        return s;
    }
    snprintf(st->fifo, sizeof st->fifo, "%s/control", st->dir);
    snprintf(st->metrics, sizeof st->metrics, "%s/metrics.json", st->dir);
    if (!(st->envp = child_environment(st)))
        return gt_error_set(err, GT_ERR_NOMEM, "command: out of memory");
    if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return gt_error_set(err, GT_ERR_IO, "command: pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sa.sa_sigaction = forward_signal;
    for (int i = 0; i < FORWARDED_COUNT; i++)
        sigaction(forwarded_signals[i], &sa, &st->old_actions[i]);
    struct sigaction chld;
    memset(&chld, 0, sizeof chld);
    sigemptyset(&chld.sa_mask);
    chld.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    chld.sa_handler = note_child;
    sigaction(SIGCHLD, &chld, &st->old_chld);
    st->handlers_installed = 1;
    last_forwarded = 0;
    return GT_OK;
}

/* In the child: wait for the go byte, exec, or report errno and exit 127.
 * The child's copy of the go pipe's write end is closed first, so that the
 * parent closing its own (when it cannot measure) reads as EOF here. */
static void child_main(char *const *argv, char **envp, const int go[2], int report)
{
    close(go[1]);
    char byte;
    ssize_t got;
    while ((got = read(go[0], &byte, 1)) < 0 && errno == EINTR)
        ;
    if (got == 1) {
        execvpe(argv[0], argv, envp);
        int e = errno;
        if (write(report, &e, sizeof e) < 0) { /* the parent is gone; nothing to tell */
        }
    }
    _exit(127);
}

/* Whether a file called name exists in a PATH directory (or at name itself
 * when it has a slash). execvp reports EACCES when some PATH directory cannot
 * be searched even if the command is nowhere: that is "not found" too. */
static int command_exists(const char *name)
{
    struct stat st;
    if (strchr(name, '/'))
        return stat(name, &st) == 0;
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char file[4096];
        if (n + strlen(name) + 2 < sizeof file) {
            snprintf(file, sizeof file, "%.*s/%s", (int)n, n ? p : ".", name);
            if (stat(file, &st) == 0 && !S_ISDIR(st.st_mode))
                return 1;
        }
        p += n + (p[n] == ':');
    }
    return 0;
}

static gt_status exec_failed(const char *command, int e, gt_command_result *r, gt_error *err)
{
    if (e == ENOENT || (e == EACCES && !command_exists(command))) {
        r->exit_code = 127;
        return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: command not found%s", command,
                            strchr(command, '/') ? "" : " (not in PATH)");
    }
    r->exit_code = 126;
    return gt_error_set(err, e == EACCES ? GT_ERR_PERMISSION : GT_ERR_INVALID, "%s: cannot run it: %s", command,
                        strerror(e));
}

/* Reads the metrics file the child may have written. */
static void read_metrics(const run_state *st, warnings *c)
{
    char *text = malloc(METRICS_MAX_BYTES + 1);
    int fd = text ? open(st->metrics, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        free(text);
        return; /* no metrics: fine */
    }
    size_t n = 0;
    ssize_t got;
    while (n <= METRICS_MAX_BYTES && (got = read(fd, text + n, METRICS_MAX_BYTES + 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    cJSON *json = n <= METRICS_MAX_BYTES ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    if (cJSON_IsObject(json)) {
        c->r->metrics = json;
        return;
    }
    cJSON_Delete(json);
    if (n > 0) {
        char line[128];
        snprintf(line, sizeof line, "GREENTUNE_METRICS: %s; ignored",
                 n > METRICS_MAX_BYTES ? "larger than 1 MiB" : "not a JSON object");
        report_warning(c, line);
    }
}

/* Waits for the child while feeding its control lines to the measurement.
 * Returns the errno of a failed waitpid (ECHILD: someone else reaped it), or 0. */
static int wait_for_child(pid_t pid, gt_control *control, int *status)
{
    for (;;) {
        struct pollfd fds[2] = {{gt_control_fd(control), POLLIN, 0}, {chld_pipe[0], POLLIN, 0}};
        int ready = poll(fds, 2, 1000); /* the timeout only guards against a lost wake-up */
        if (ready > 0 && (fds[0].revents & POLLIN))
            gt_control_drain(control);
        if (ready > 0 && (fds[1].revents & POLLIN)) {
            char buf[64];
            while (read(chld_pipe[0], buf, sizeof buf) > 0)
                ;
        }
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid)
            return 0;
        if (done < 0 && errno != EINTR)
            return errno;
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

gt_status gt_measure_command(const gt_command_options *o, gt_command_result *r, gt_error *err)
{
    memset(r, 0, sizeof *r);
    if (!o->argv || !o->argv[0] || !o->argv[0][0])
        return gt_error_set(err, GT_ERR_INVALID, "command: no command to run");
    run_state st;
    memset(&st, 0, sizeof st);
    int go[2] = {-1, -1}, report[2] = {-1, -1};
    gt_status s = prepare(&st, err);
    if (s == GT_OK && (pipe2(go, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0))
        s = gt_error_set(err, GT_ERR_IO, "command: pipe: %s", strerror(errno));
    pid_t pid = -1;
    if (s == GT_OK && (pid = fork()) < 0)
        s = gt_error_set(err, GT_ERR_IO, "command: fork: %s", strerror(errno));
    if (pid == 0)
        child_main(o->argv, st.envp, go, report[1]);
    close_fd(&go[0]); /* the child's ends */
    close_fd(&report[1]);

    gt_measurement *m = NULL;
    gt_control *control = NULL;
    warnings w = {o, r};
    if (s == GT_OK) {
        child_pid = pid;
        gt_measure_options mo = o->measure;
        mo.pid = pid;
        s = gt_measurement_start(&mo, &m, err);
    }
    if (s == GT_OK)
        s = gt_control_open(m, st.fifo, report_warning, &w, &control, err);
    int e = 0;
    if (s == GT_OK) {
        char byte = 1;
        if (write(go[1], &byte, 1) != 1)
            s = gt_error_set(err, GT_ERR_IO, "command: cannot start the child: %s", strerror(errno));
        ssize_t got;
        while (s == GT_OK && (got = read(report[0], &e, sizeof e)) < 0 && errno == EINTR)
            ;
        if (s == GT_OK && e)
            s = exec_failed(o->argv[0], e, r, err);
    }
    close_fd(&go[1]); /* a child still waiting reads EOF and exits 127 */
    close_fd(&report[0]);

    int status = 0, lost;
    if (s == GT_OK && (lost = wait_for_child(pid, control, &status)))
        s = gt_error_set(err, GT_ERR_INTERNAL, "command: waiting for pid %d: %s (was it reaped elsewhere?)",
                         (int)pid, strerror(lost));
    else if (s != GT_OK && pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    r->forwarded_signal = last_forwarded;
    gt_control_close(control); /* the last lines count, before the finish */
    if (s == GT_OK) {
        r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        s = gt_measurement_finish(m, &r->energy, err);
        m = NULL;
        read_metrics(&st, &w);
    }
    gt_measurement_abort(m);
    cleanup(&st);
    if (s != GT_OK && r->exit_code == 0)
        r->exit_code = 1;
    return s;
}

void gt_command_result_free(gt_command_result *r)
{
    if (!r)
        return;
    cJSON_Delete(r->metrics);
    energy_notes_free(r->warnings, r->warning_count);
    gt_energy_result_free(&r->energy);
    memset(r, 0, sizeof *r);
}
