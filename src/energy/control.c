/* The control-channel protocol: a child marks tasks with lines
 *
 *   start NAME
 *   stop NAME
 *   progress NAME FRACTION      (0.25 or 25%: a quarter of the task's work done)
 *
 * written to the FIFO named by $GREENTUNE_CONTROL. Anyone who can write the
 * FIFO can send anything, so the parser takes arbitrary bytes: a line is at
 * most CONTROL_LINE_MAX bytes, and everything else is classified, never
 * trusted. gt_control is the FIFO itself, feeding a measurement; malformed
 * lines are warned about once per kind and counted, never fatal. */
#include "energy/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '/' || c == '+' || c == '-';
}

int energy_task_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > GT_TASK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)name[i]))
            return 0;
    return 1;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* "0.25" or "25%" -> 0.25; -1 when it is neither, or outside [0, 1]. */
static double parse_fraction(const char *text, size_t len)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    int percent = buf[len - 1] == '%';
    if (percent)
        buf[len - 1] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (end == buf || *end || !isfinite(v))
        return -1;
    if (percent)
        v /= 100;
    return v >= 0 && v <= 1 ? v : -1;
}

control_kind control_parse_line(const char *line, size_t len, char name[GT_TASK_NAME_MAX + 1], double *value)
{
    name[0] = '\0';
    *value = 0;
    while (len && blank(line[len - 1]))
        len--;
    while (len && blank(*line)) {
        line++;
        len--;
    }
    if (len == 0)
        return CONTROL_EMPTY;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 32 && c != '\t') || c >= 127)
            return CONTROL_BINARY;
    }
    size_t verb = 0;
    while (verb < len && !blank(line[verb]))
        verb++;
    control_kind kind;
    if (verb == 5 && !strncmp(line, "start", 5))
        kind = CONTROL_START;
    else if (verb == 4 && !strncmp(line, "stop", 4))
        kind = CONTROL_STOP;
    else if (verb == 8 && !strncmp(line, "progress", 8))
        kind = CONTROL_PROGRESS;
    else
        return CONTROL_BAD_VERB;
    const char *arg = line + verb;
    size_t arg_len = len - verb;
    while (arg_len && blank(*arg)) {
        arg++;
        arg_len--;
    }
    size_t name_len = arg_len;
    if (kind == CONTROL_PROGRESS) { /* NAME FRACTION: the last word is the fraction */
        size_t word = arg_len;
        while (word && !blank(arg[word - 1]))
            word--;
        name_len = word;
        while (name_len && blank(arg[name_len - 1]))
            name_len--;
        if (!arg_len)
            return CONTROL_BAD_NAME;
        if (!name_len || (*value = parse_fraction(arg + word, arg_len - word)) < 0) {
            *value = 0; /* one word ("progress train") is a missing fraction */
            return !name_len || energy_task_name_valid(arg, name_len) ? CONTROL_BAD_VALUE : CONTROL_BAD_NAME;
        }
    }
    if (!energy_task_name_valid(arg, name_len))
        return CONTROL_BAD_NAME;
    memcpy(name, arg, name_len);
    name[name_len] = '\0';
    return kind;
}

const char *control_kind_text(control_kind k)
{
    switch (k) {
    case CONTROL_START: return "start";
    case CONTROL_STOP: return "stop";
    case CONTROL_PROGRESS: return "progress";
    case CONTROL_EMPTY: return "empty line";
    case CONTROL_BAD_VERB: return "unknown command (expected 'start NAME', 'stop NAME' or 'progress NAME FRACTION')";
    case CONTROL_BAD_VALUE: return "bad progress (expected 'progress NAME FRACTION', a fraction from 0 to 1 or 0% to 100%)";
    case CONTROL_BAD_NAME: return "bad task name (1 to 63 of A-Z a-z 0-9 _ . : / + -)";
    case CONTROL_BINARY: return "non-text bytes";
    case CONTROL_TOO_LONG: return "line longer than 256 bytes";
    case CONTROL_KINDS: break;
    }
    return "?";
}

static void emit(control_reader *r, control_handler handler, void *ctx)
{
    char name[GT_TASK_NAME_MAX + 1] = "";
    double value = 0;
    r->line[r->len] = '\0';
    control_kind kind = r->too_long ? CONTROL_TOO_LONG : control_parse_line(r->line, r->len, name, &value);
    if (kind != CONTROL_EMPTY)
        handler(ctx, kind, name, value, r->line, r->len);
    r->len = 0;
    r->too_long = 0;
}

void control_feed(control_reader *r, const char *data, size_t n, control_handler handler, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            emit(r, handler, ctx);
        } else if (r->len < CONTROL_LINE_MAX) {
            r->line[r->len++] = data[i];
        } else {
            r->too_long = 1; /* keep the first bytes for the warning, drop the rest */
        }
    }
}

void control_flush(control_reader *r, control_handler handler, void *ctx)
{
    if (r->len || r->too_long)
        emit(r, handler, ctx);
}

/* --- gt_control: the FIFO ------------------------------------------------------- */
#define WARNING_TASK CONTROL_KINDS /* start twice, stop without start, progress of a stopped task */
#define WARNING_KINDS (CONTROL_KINDS + 1)

struct gt_control {
    gt_measurement *m;
    char path[512];
    int fd_read, fd_keep; /* our own writer keeps the FIFO from reporting EOF */
    control_reader reader;
    void (*on_warning)(void *ctx, const char *line);
    void *ctx;
    long seen[WARNING_KINDS];
    long ignored;
};

static void warn(gt_control *c, int kind, const char *line)
{
    c->ignored++;
    if (c->seen[kind]++ == 0 && c->on_warning)
        c->on_warning(c->ctx, line);
}

static void apply_line(void *ctx, control_kind kind, const char *name, double value, const char *line, size_t len)
{
    gt_control *c = ctx;
    gt_error err = {0};
    gt_status s = GT_OK;
    if (kind == CONTROL_START)
        s = gt_measurement_task_start(c->m, name, &err);
    else if (kind == CONTROL_STOP)
        s = gt_measurement_task_stop(c->m, name, &err);
    else if (kind == CONTROL_PROGRESS)
        s = gt_measurement_progress(c->m, name, value, NULL, &err);
    if (kind == CONTROL_START || kind == CONTROL_STOP || kind == CONTROL_PROGRESS) {
        if (s != GT_OK) {
            char text[GT_ERROR_MESSAGE_MAX + 32];
            snprintf(text, sizeof text, "control: %s (line ignored)", err.message);
            warn(c, WARNING_TASK, text);
        }
        return;
    }
    char shown[64];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < sizeof shown; i++)
        shown[n++] = line[i] >= 32 && line[i] < 127 ? line[i] : '?';
    if (len > n)
        memcpy(shown + n, "...", 3), n += 3;
    shown[n] = '\0';
    char text[200];
    snprintf(text, sizeof text, "control: %s: '%s' (line ignored)", control_kind_text(kind), shown);
    warn(c, (int)kind, text);
}

gt_status gt_control_open(gt_measurement *m, const char *path, void (*on_warning)(void *ctx, const char *line),
                          void *ctx, gt_control **out, gt_error *err)
{
    *out = NULL;
    gt_control *c = calloc(1, sizeof *c);
    if (!c)
        return gt_error_set(err, GT_ERR_NOMEM, "control: out of memory");
    c->m = m;
    c->on_warning = on_warning;
    c->ctx = ctx;
    c->fd_read = c->fd_keep = -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    if (mkfifo(path, 0600) != 0) {
        gt_status s = gt_error_set(err, errno == EEXIST ? GT_ERR_INVALID : GT_ERR_IO, "%s: cannot create the "
                                   "control FIFO: %s%s", path, strerror(errno),
                                   errno == EEXIST ? " (remove it or pick another path)" : "");
        free(c);
        return s;
    }
    c->fd_read = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    c->fd_keep = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (c->fd_read < 0 || c->fd_keep < 0) {
        gt_status s = gt_error_set(err, GT_ERR_IO, "%s: open: %s", path, strerror(errno));
        gt_control_close(c);
        return s;
    }
    *out = c;
    return GT_OK;
}

int gt_control_fd(const gt_control *c) { return c->fd_read; }

void gt_control_drain(gt_control *c)
{
    char buf[4096];
    for (;;) {
        ssize_t got = read(c->fd_read, buf, sizeof buf);
        if (got > 0)
            control_feed(&c->reader, buf, (size_t)got, apply_line, c);
        else if (got < 0 && errno == EINTR)
            continue;
        else
            return; /* EAGAIN: nothing more for now */
    }
}

void gt_control_close(gt_control *c)
{
    if (!c)
        return;
    if (c->fd_read >= 0) {
        gt_control_drain(c); /* lines written just before the end */
        control_flush(&c->reader, apply_line, c);
    }
    int kinds = 0;
    for (int k = 0; k < WARNING_KINDS; k++)
        kinds += c->seen[k] > 0;
    if (c->ignored > kinds && c->on_warning) {
        char line[128];
        snprintf(line, sizeof line, "control: %ld line(s) ignored in all (each kind of problem is reported once)",
                 c->ignored);
        c->on_warning(c->ctx, line);
    }
    if (c->fd_read >= 0)
        close(c->fd_read);
    if (c->fd_keep >= 0)
        close(c->fd_keep);
    unlink(c->path);
    free(c);
}
