/* Progress rendering: one line redrawn in place on a terminal, plain lines at a
 * bounded rate elsewhere. Library code reaches it only through a sink. */
#include "greentune/progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TTY_REDRAW_S 0.1
#define BAR_WIDTH 20

struct gt_progress {
    gt_progress_options opt;
    char label[64];
    char status[200];
    uint64_t done, total, start_done;
    double start, last_draw, updated_at;
    int active;    /* a phase is under way */
    int finished;  /* its final line is out; the same report again is ignored */
    int dirty;     /* the state changed since it was last drawn */
    int line_open; /* terminal: a line is drawn without its newline */
};

void gt_progress_report(const gt_progress_sink *sink, const char *label, uint64_t done, uint64_t total,
                        const char *status_fmt, ...)
{
    if (!sink || !sink->report)
        return;
    char status[256];
    if (status_fmt) {
        va_list ap;
        va_start(ap, status_fmt);
        vsnprintf(status, sizeof status, status_fmt, ap);
        va_end(ap);
    }
    sink->report(sink->ctx, label, done, total, status_fmt ? status : NULL);
}

const char *gt_progress_si(double value, char *buf, size_t cap)
{
    static const char suffix[] = {'\0', 'k', 'M', 'G', 'T', 'P'};
    int i = 0;
    double v = value < 0 ? -value : value;
    while (v >= 999.95 && i < 5)
        v /= 1000, i++;
    if (value < 0)
        v = -v;
    if (i == 0)
        snprintf(buf, cap, v == (double)(long long)v ? "%.0f" : "%.1f", v);
    else
        snprintf(buf, cap, "%.1f%c", v, suffix[i]);
    return buf;
}

static double monotonic_seconds(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

gt_progress *gt_progress_new(const gt_progress_options *options)
{
    gt_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (options)
        p->opt = *options;
    else
        p->opt.tty = -1;
    if (!p->opt.out)
        p->opt.out = stderr;
    if (p->opt.tty < 0)
        p->opt.tty = isatty(fileno(p->opt.out));
    if (p->opt.interval_s <= 0)
        p->opt.interval_s = 10;
    if (!p->opt.unit)
        p->opt.unit = "it";
    if (!p->opt.clock)
        p->opt.clock = monotonic_seconds;
    if (p->opt.tty && p->opt.width <= 0) {
        struct winsize ws;
        p->opt.width = ioctl(fileno(p->opt.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    }
    return p;
}

static void progress_sink_report(void *ctx, const char *label, uint64_t done, uint64_t total, const char *status)
{
    gt_progress_update(ctx, label, done, total, status);
}

gt_progress_sink gt_progress_sink_of(gt_progress *progress)
{
    return (gt_progress_sink){progress_sink_report, progress};
}

/* "0:31", "1:02:03"; "--:--" when unknown or absurd. */
static void format_duration(double seconds, char *buf, size_t cap)
{
    if (!(seconds >= 0 && seconds < 360000)) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

static void format_rate(double rate, char *buf, size_t cap)
{
    if (rate >= 1000)
        gt_progress_si(rate, buf, cap);
    else
        snprintf(buf, cap, rate < 9.995 ? "%.2f" : rate < 99.95 ? "%.1f" : "%.0f", rate);
}

/* The line for the current state. Terminal lines carry a bar; a final line
 * gives the time taken instead of the ETA. */
static void compose(const gt_progress *p, double now, int final, char *line, size_t cap)
{
    size_t k = 0;
#define PUT(...) (k += k < cap ? (size_t)snprintf(line + k, cap - k, __VA_ARGS__) : 0)
    PUT("%s%s", p->label, p->opt.tty ? " " : ": ");
    double fraction = p->total ? (double)p->done / (double)p->total : 0;
    if (fraction > 1)
        fraction = 1;
    if (p->opt.tty && p->total) {
        int filled = (int)(fraction * BAR_WIDTH);
        PUT("[");
        for (int i = 0; i < BAR_WIDTH; i++)
            PUT("%c", i < filled ? '#' : '.');
        PUT("] ");
    }
    if (p->total)
        PUT(p->opt.tty ? "%llu/%llu %3.0f%%" : "%llu/%llu (%.0f%%)", (unsigned long long)p->done,
            (unsigned long long)p->total, 100 * fraction);
    else
        PUT("%llu", (unsigned long long)p->done);
    const char *sep = p->opt.tty ? " " : ", ";
    double elapsed = now - p->start;
    char a[32];
    if (elapsed > 0 && p->done > p->start_done) {
        double rate = (double)(p->done - p->start_done) / elapsed;
        format_rate(rate, a, sizeof a);
        PUT("%s%s %s/s", sep, a, p->opt.unit);
        if (!final && p->total && p->done < p->total) {
            format_duration((double)(p->total - p->done) / rate, a, sizeof a);
            PUT("%sETA %s", sep, a);
        }
    }
    if (final) {
        format_duration(elapsed, a, sizeof a);
        PUT("%sdone in %s", sep, a);
    }
    if (p->status[0])
        PUT(" | %s", p->status);
#undef PUT
}

/* Cuts line to fit width-1 columns without splitting a UTF-8 sequence. */
static void fit_width(char *line, int width)
{
    size_t max = width > 1 ? (size_t)width - 1 : 1, n = strlen(line);
    if (n <= max)
        return;
    while (max > 0 && ((unsigned char)line[max] & 0xC0) == 0x80)
        max--;
    line[max] = '\0';
}

static void draw(gt_progress *p, double now, int final)
{
    char line[512];
    compose(p, now, final, line, sizeof line);
    if (p->opt.tty) {
        fit_width(line, p->opt.width);
        fprintf(p->opt.out, "\r%s\033[K", line);
        p->line_open = 1;
        if (final) {
            fputc('\n', p->opt.out);
            p->line_open = 0;
        }
    } else {
        fprintf(p->opt.out, "%s\n", line);
    }
    fflush(p->opt.out);
    p->last_draw = now;
    p->dirty = 0;
}

void gt_progress_finish(gt_progress *p)
{
    if (!p)
        return;
    /* The last state is shown as of when it was reported, not as of now. */
    if (p->active && p->dirty)
        draw(p, p->updated_at, 0);
    if (p->line_open) {
        fputc('\n', p->opt.out);
        fflush(p->opt.out);
        p->line_open = 0;
    }
    p->active = 0;
}

/* Copies status with control characters shown as '?' (a status must not move the cursor). */
static void set_status(gt_progress *p, const char *status)
{
    size_t n = 0;
    for (; status && status[n] && n + 1 < sizeof p->status; n++)
        p->status[n] = (unsigned char)status[n] < 0x20 || status[n] == 0x7F ? '?' : status[n];
    p->status[n] = '\0';
}

void gt_progress_update(gt_progress *p, const char *label, uint64_t done, uint64_t total, const char *status)
{
    if (!p)
        return;
    if (!label)
        label = "";
    double now = p->opt.clock(p->opt.clock_ctx);
    int same_label = !strncmp(label, p->label, sizeof p->label - 1);
    if (p->finished && same_label && done == p->done && total == p->total)
        return;
    int new_phase = !p->active || !same_label || done < p->done;
    if (new_phase) {
        gt_progress_finish(p);
        snprintf(p->label, sizeof p->label, "%s", label);
        p->start = now;
        p->start_done = done;
        p->active = 1;
        p->finished = 0;
    }
    p->done = done;
    p->total = total;
    p->updated_at = now;
    set_status(p, status);
    p->dirty = 1;
    int final = total && done >= total;
    double interval = p->opt.tty ? TTY_REDRAW_S : p->opt.interval_s;
    if (new_phase || final || now - p->last_draw >= interval)
        draw(p, now, final);
    if (final) {
        p->active = 0;
        p->finished = 1;
    }
}

void gt_progress_free(gt_progress *p)
{
    if (!p)
        return;
    gt_progress_finish(p);
    free(p);
}
