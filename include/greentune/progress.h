/* greentune/progress.h — progress of long work (training, sweeps, benchmarks).
 *
 * Library code never prints: it reports through a gt_progress_sink that its
 * caller hands it (a NULL or empty sink is fine and costs nothing):
 *
 *   gt_progress_report(sink, "train", step, steps, "loss %.2f, %s tok/s", loss, rate);
 *
 * The command-line tool owns a gt_progress renderer and passes its sink down.
 * On a terminal the renderer redraws one line in place (label, bar, done/total,
 * percentage, rate, ETA, status), at most ten times a second; otherwise (a log
 * file, CI) it prints plain lines, the first and the last of each phase and at
 * most one every interval_s seconds in between. A new label starts a new phase.
 * Not thread-safe: report from one thread. */
#ifndef GREENTUNE_PROGRESS_H
#define GREENTUNE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "greentune/common.h"

/* done of total (total 0 when unknown); status may be NULL. */
typedef void (*gt_progress_fn)(void *ctx, const char *label, uint64_t done, uint64_t total, const char *status);

typedef struct {
    gt_progress_fn report;
    void *ctx;
} gt_progress_sink;

/* Reports to sink when it has a callback; status is a printf format (or NULL). */
GT_API void gt_progress_report(const gt_progress_sink *sink, const char *label, uint64_t done, uint64_t total,
                               const char *status_fmt, ...) __attribute__((format(printf, 5, 6)));

/* "950", "9.1k", "12.3M", "4.0G": short numbers for status texts. */
GT_API const char *gt_progress_si(double value, char *buf, size_t cap);

typedef struct {
    FILE *out;          /* where to draw; NULL means stderr */
    int tty;            /* 1 redraw in place, 0 plain lines, -1 decide by isatty(out) */
    double interval_s;  /* plain lines: at most one per interval (0 means 10 s) */
    int width;          /* terminal columns; 0 asks the terminal (80 if it cannot say) */
    const char *unit;   /* what done counts, for the rate ("step/s"); NULL means "it" */
    /* The clock, in seconds (tests inject one); NULL means CLOCK_MONOTONIC. */
    double (*clock)(void *ctx);
    void *clock_ctx;
} gt_progress_options;

typedef struct gt_progress gt_progress;

/* NULL options mean all defaults. Returns NULL when out of memory. */
GT_API gt_progress *gt_progress_new(const gt_progress_options *options);
/* The sink that feeds this renderer. */
GT_API gt_progress_sink gt_progress_sink_of(gt_progress *progress);
/* What the sink calls; may be called directly too. */
GT_API void gt_progress_update(gt_progress *progress, const char *label, uint64_t done, uint64_t total,
                               const char *status);
/* Ends the current phase: draws its last state and ends the terminal line. */
GT_API void gt_progress_finish(gt_progress *progress);
/* Finishes and frees; NULL is fine. */
GT_API void gt_progress_free(gt_progress *progress);

#endif
