/* The default run executor: every run in a forked child process.
 *
 * Why a child and not a call: a run that crashes (a bug, an out-of-memory
 * kill), aborts under a sanitizer, or wedges a library must cost that run, not
 * the sweep. The child is a fork without exec: the sweep process itself never
 * runs OpenMP or any other thread at the moment of the fork (its idle
 * measurement's sampler thread has ended), so the child starts clean, and the
 * variant's settings, knobs and all, reach it as memory rather than as a
 * command line to re-parse.
 *
 * Parent and child talk over two pipes. The child's stdout and stderr go to
 * the first; the parent keeps its last few KiB (a failed run's "stderr tail").
 * The second carries lines:
 *     P <done> <total> <label>   progress of the run's current stage
 *     R <json>                   the run record (one line: cJSON escapes newlines)
 *     E <status> <message>       why the run failed
 * The child dies with the sweep (PR_SET_PDEATHSIG: SIGTERM, so it still
 * restores machine state on its way out); a stop request or a timeout sends
 * it SIGTERM, then SIGKILL if it has not ended 10 s later. After a child
 * that died of a signal, machine state it left changed is put back from the
 * knob journal. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "experiment_internal.h"
#include "greentune/energy.h"
#include "greentune/knobs.h"
#include "greentune/pipeline.h"

#define OUTPUT_TAIL_MAX 8192
#define CONTROL_MAX (8u << 20) /* a run record is far smaller; the store takes 4 MiB */
#define KILL_GRACE_S 10.0

/* --- the child ------------------------------------------------------------------- */

static volatile sig_atomic_t child_stop;

static void on_child_signal(int sig)
{
    (void)sig;
    child_stop = 1;
}

static void write_all(int fd, const char *p, size_t left)
{
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the sweep is gone (EPIPE): the run's exit is all that is left */
        p += n;
        left -= (size_t)n;
    }
}

/* One control line: kind, a space, text, newline. */
static void control_line(int fd, char kind, const char *text)
{
    char head[2] = {kind, ' '};
    write_all(fd, head, 2);
    write_all(fd, text, strlen(text));
    write_all(fd, "\n", 1);
}

static void child_progress(void *ctx, const char *label, uint64_t done, uint64_t total, const char *status)
{
    (void)status;
    char line[160];
    snprintf(line, sizeof line, "%llu %llu %.60s", (unsigned long long)done, (unsigned long long)total,
             label ? label : "");
    control_line(*(int *)ctx, 'P', line);
}

static void child_log(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "greentune: %s\n", line);
}

static gt_status run_pipeline(const gt_experiment *exp, const gt_sweep_variant *v, int *control, cJSON **record,
                              gt_error *err)
{
    gt_pipeline_spec spec;
    gt_status st = gt_pipeline_spec_load(exp->pipeline, (const char *const *)v->sets, v->n_sets, &spec, err);
    if (st != GT_OK)
        return st;
    gt_knob_set knobs;
    gt_knob_set_init(&knobs);
    st = gt_pipeline_spec_knobs(&spec, NULL, 0, &knobs, err);
    if (st == GT_OK) {
        gt_run_options o;
        gt_run_options_init(&o);
        o.label = v->name;
        o.progress = (gt_progress_sink){child_progress, control};
        o.log = child_log;
        o.stop = &child_stop;
        st = gt_pipeline_run(&spec, &knobs, &o, record, err);
    }
    gt_knob_set_free(&knobs);
    gt_pipeline_spec_free(&spec);
    return st;
}

/* `greentune measure`'s record of the command: energy and tasks (its
 * stages), the metrics it wrote, the command and its exit status. */
static gt_status run_command(const gt_experiment *exp, const gt_sweep_variant *v, cJSON **record, gt_error *err)
{
    gt_command_options co;
    memset(&co, 0, sizeof co);
    co.argv = v->command;
    gt_measure_options_init(&co.measure);
    co.measure.meter = exp->meter;
    co.measure.interval_ms = exp->interval_ms;
    gt_command_result r;
    gt_status st = gt_measure_command(&co, &r, err);
    if (st != GT_OK)
        return st;
    if (r.forwarded_signal || child_stop)
        st = gt_error_set(err, GT_ERR_INTERRUPTED, "%s: stopped by a signal", v->command[0]);
    else if (r.exit_code != 0)
        st = gt_error_set(err, GT_ERR_IO, "%s: exited with status %d%s", v->command[0], r.exit_code,
                          r.term_signal ? " (killed by a signal)" : "");
    if (st == GT_OK && !(*record = gt_energy_result_to_json(&r.energy, NULL)))
        st = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory for the record", v->command[0]);
    if (st == GT_OK) {
        cJSON_AddItemToObject(*record, "command", cJSON_Parse(v->command_json));
        cJSON_AddNumberToObject(*record, "exit_code", r.exit_code);
        if (r.metrics)
            cJSON_AddItemToObject(*record, "metrics", cJSON_Duplicate(r.metrics, 1));
    }
    gt_command_result_free(&r);
    return st;
}

/* Never returns. */
static void child_main(const gt_experiment *exp, const gt_sweep_variant *v, int control, int output, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* the sweep died before the line above */
        _exit(125);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    dup2(output, STDOUT_FILENO);
    dup2(output, STDERR_FILENO);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_child_signal; /* no SA_RESTART: a blocking call returns to check */
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    gt_error err = {0};
    cJSON *record = NULL;
    gt_status st = v->command ? run_command(exp, v, &record, &err) : run_pipeline(exp, v, &control, &record, &err);
    char *text = st == GT_OK ? cJSON_PrintUnformatted(record) : NULL;
    if (st == GT_OK && !text)
        st = gt_error_set(&err, GT_ERR_NOMEM, "run: out of memory for the record");
    if (st == GT_OK) {
        control_line(control, 'R', text);
    } else {
        char line[GT_ERROR_MESSAGE_MAX + 32];
        snprintf(line, sizeof line, "%s %s", gt_status_name(st), err.message);
        control_line(control, 'E', line);
    }
    fflush(stdout);
    fflush(stderr);
    /* _exit: the parent's atexit handlers and stdio buffers are not ours. */
    _exit(st == GT_OK ? 0 : 1);
}

/* --- the parent ------------------------------------------------------------------ */

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
    int closed;
} stream;

typedef struct {
    const gt_progress_sink *progress;
    char *record_line, *error_line;
} control_state;

/* Reads what is there; 1 when something was read. A stream beyond limit
 * (a control stream gone wrong) starts over rather than growing. */
static int pump(stream *s, size_t limit)
{
    if (s->closed)
        return 0;
    char chunk[65536];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            s->closed = 1;
        return 0;
    }
    if (s->len + (size_t)n > limit)
        s->len = 0;
    size_t need = s->len + (size_t)n + 1;
    if (need > s->cap) {
        size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
        char *bigger = realloc(s->buf, cap);
        if (!bigger)
            return 1; /* dropped: out of memory is not worth failing the sweep for */
        s->buf = bigger;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, chunk, (size_t)n);
    s->len += (size_t)n;
    s->buf[s->len] = '\0';
    return 1;
}

/* The output keeps its last OUTPUT_TAIL_MAX bytes only. */
static void trim_output(stream *s)
{
    if (s->len <= OUTPUT_TAIL_MAX)
        return;
    memmove(s->buf, s->buf + s->len - OUTPUT_TAIL_MAX, OUTPUT_TAIL_MAX);
    s->len = OUTPUT_TAIL_MAX;
    s->buf[s->len] = '\0';
}

static void handle_line(control_state *c, char *line)
{
    if (line[0] == 'P' && line[1] == ' ') {
        unsigned long long done, total;
        int used = 0;
        if (sscanf(line + 2, "%llu %llu %n", &done, &total, &used) == 2 && used > 0)
            gt_progress_report(c->progress, line + 2 + used, done, total, NULL);
    } else if ((line[0] == 'R' || line[0] == 'E') && line[1] == ' ') {
        char **slot = line[0] == 'R' ? &c->record_line : &c->error_line;
        free(*slot);
        *slot = strdup(line + 2);
    }
}

/* Complete lines out of the control stream. */
static void drain_lines(stream *s, control_state *c)
{
    char *start = s->buf, *nl;
    while (start && (nl = memchr(start, '\n', s->len - (size_t)(start - s->buf)))) {
        *nl = '\0';
        handle_line(c, start);
        start = nl + 1;
    }
    if (start && start != s->buf) {
        s->len -= (size_t)(start - s->buf);
        memmove(s->buf, start, s->len);
        s->buf[s->len] = '\0';
    }
}

static void read_streams(stream *control, stream *output, control_state *c)
{
    while (pump(control, CONTROL_MAX))
        drain_lines(control, c);
    while (pump(output, OUTPUT_TAIL_MAX))
        trim_output(output);
}

/* Waits for the child while reading both pipes; stops it (TERM, then KILL)
 * on a stop request or a timeout. Returns its wait status. */
static int supervise(pid_t pid, stream *control, stream *output, control_state *c, double timeout_s,
                     volatile sig_atomic_t *stop, int *timed_out, int *stopped)
{
    double start = exp_now(), term_at = 0;
    int status = 0, killed = 0;
    for (;;) {
        struct pollfd fds[2] = {{control->closed ? -1 : control->fd, POLLIN, 0},
                                {output->closed ? -1 : output->fd, POLLIN, 0}};
        poll(fds, 2, 100);
        read_streams(control, output, c);
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        double now = exp_now();
        if (!term_at && stop && *stop)
            *stopped = 1;
        if (!term_at && timeout_s > 0 && now - start > timeout_s)
            *timed_out = 1;
        if (!term_at && (*stopped || *timed_out)) {
            kill(pid, SIGTERM);
            term_at = now;
        } else if (term_at && !killed && now - term_at > KILL_GRACE_S) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    /* What the child wrote before it ended is in the pipes; a grandchild that
     * outlives it may hold them open, so read what is there, not until EOF. */
    read_streams(control, output, c);
    if (stop && *stop)
        *stopped = 1;
    return status;
}

static void describe_death(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "the run process died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "the run process exited with status %d without a result", WEXITSTATUS(status));
}

/* Machine state a killed child could not put back (power cap, frequency). */
static void recover_machine_state(gt_run_outcome *out)
{
    int restored = 0;
    char summary[GT_ERROR_MESSAGE_MAX];
    gt_error err = {0};
    if (gt_machine_state_recover(&restored, summary, sizeof summary, &err) == GT_OK && restored > 0 && out->error) {
        size_t n = strlen(out->error) + strlen(summary) + 4;
        char *both = malloc(n);
        if (both) {
            snprintf(both, n, "%s; %s", out->error, summary);
            free(out->error);
            out->error = both;
        }
    }
}

static void interpret(const control_state *c, int status, int timed_out, int stopped, double timeout_s,
                      gt_run_outcome *out)
{
    char why[GT_ERROR_MESSAGE_MAX + 64];
    cJSON *record = c->record_line && !timed_out ? cJSON_Parse(c->record_line) : NULL;
    if (record && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        out->record = record;
        return;
    }
    cJSON_Delete(record);
    if (timed_out) {
        snprintf(why, sizeof why, "stopped after the experiment's timeout_s of %g s", timeout_s);
    } else if (c->error_line) {
        const char *space = strchr(c->error_line, ' ');
        if (space && !strncmp(c->error_line, gt_status_name(GT_ERR_INTERRUPTED), (size_t)(space - c->error_line)) &&
            stopped) {
            out->interrupted = 1;
            return;
        }
        snprintf(why, sizeof why, "%s", space ? space + 1 : c->error_line);
    } else if (stopped) {
        out->interrupted = 1;
        return;
    } else {
        describe_death(status, why, sizeof why);
    }
    out->error = strdup(why);
    if (WIFSIGNALED(status))
        recover_machine_state(out);
}

static gt_status fork_run(void *ctx, const gt_experiment *exp, const gt_sweep_variant *v, int repeat,
                          const gt_progress_sink *progress, volatile sig_atomic_t *stop, gt_run_outcome *out,
                          gt_error *err)
{
    (void)ctx;
    (void)repeat;
    memset(out, 0, sizeof *out);
    int control_pipe[2], output_pipe[2];
    if (pipe2(control_pipe, O_CLOEXEC) != 0)
        return gt_error_set(err, GT_ERR_IO, "sweep: cannot create a pipe: %s", strerror(errno));
    if (pipe2(output_pipe, O_CLOEXEC) != 0) {
        close(control_pipe[0]);
        close(control_pipe[1]);
        return gt_error_set(err, GT_ERR_IO, "sweep: cannot create a pipe: %s", strerror(errno));
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(control_pipe[0]);
        close(output_pipe[0]);
        child_main(exp, v, control_pipe[1], output_pipe[1], parent);
    }
    close(control_pipe[1]);
    close(output_pipe[1]);
    if (pid < 0) {
        close(control_pipe[0]);
        close(output_pipe[0]);
        return gt_error_set(err, GT_ERR_IO, "sweep: cannot start a run process: %s", strerror(errno));
    }
    fcntl(control_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(output_pipe[0], F_SETFL, O_NONBLOCK);
    stream control = {control_pipe[0], NULL, 0, 0, 0}, output = {output_pipe[0], NULL, 0, 0, 0};
    control_state c = {progress, NULL, NULL};
    int timed_out = 0, stopped = 0;
    int status = supervise(pid, &control, &output, &c, exp->timeout_s, stop, &timed_out, &stopped);
    close(control_pipe[0]);
    close(output_pipe[0]);
    interpret(&c, status, timed_out, stopped, exp->timeout_s, out);
    if (output.len)
        out->output_tail = output.buf, output.buf = NULL;
    free(output.buf);
    free(control.buf);
    free(c.record_line);
    free(c.error_line);
    return GT_OK;
}

const gt_run_executor *gt_run_executor_fork(void)
{
    static const gt_run_executor executor = {fork_run, NULL};
    return &executor;
}

void gt_run_outcome_free(gt_run_outcome *out)
{
    cJSON_Delete(out->record);
    free(out->error);
    free(out->output_tail);
    memset(out, 0, sizeof *out);
}
