/* Progress lines: rate and ETA are right, plain output is rate-limited, the
 * terminal line is redrawn in place and fits the width, library reports reach
 * the renderer only through a sink. The clock is a fake one we move by hand. */
#include <stdlib.h>
#include <string.h>

#include "greentune/progress.h"
#include "test_support.h"

static double fake_now;

static double fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

typedef struct {
    char *text;
    size_t len;
    FILE *out;
    gt_progress *p;
} capture;

static void start(capture *c, int tty, int width)
{
    fake_now = 100;
    c->text = NULL;
    c->out = open_memstream(&c->text, &c->len);
    gt_progress_options o = {.out = c->out, .tty = tty, .interval_s = 10, .width = width, .unit = "step",
                             .clock = fake_clock};
    c->p = gt_progress_new(&o);
}

/* Frees the renderer and returns everything it wrote (caller frees). */
static char *stop(capture *c)
{
    gt_progress_free(c->p);
    fclose(c->out);
    return c->text;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_plain_lines_are_rate_limited_with_rate_and_eta(void)
{
    capture c;
    start(&c, 0, 0);
    /* 400 steps at 10 steps/s, reported every 0.5 s: 40 s of work. */
    for (int step = 0; step <= 400; step += 5) {
        fake_now = 100 + step / 10.0;
        gt_progress_update(c.p, "train", (uint64_t)step, 400, "loss 0.41");
    }
    char *out = stop(&c);
    /* The first line, one every 10 s (at 10, 20, 30 s) and the final one. */
    CHECK_EQ_INT(count(out, "\n"), 5);
    CHECK(strstr(out, "train: 0/400 (0%) | loss 0.41\n") != NULL);
    /* After 10 s: 100 steps done, 10 steps/s, 300 to go = 30 s. */
    CHECK_MSG(strstr(out, "train: 100/400 (25%), 10.0 step/s, ETA 0:30 | loss 0.41\n") != NULL, "%s", out);
    CHECK_MSG(strstr(out, "train: 400/400 (100%), 10.0 step/s, done in 0:40 | loss 0.41\n") != NULL, "%s", out);
    CHECK(strchr(out, '\r') == NULL && strchr(out, '\033') == NULL);
    free(out);
}

static void test_terminal_line_is_redrawn_in_place(void)
{
    capture c;
    start(&c, 1, 120);
    /* Reports every 1/16 s (16 steps/s): redraws are at least 0.1 s apart, so
     * every second report is drawn. */
    for (int i = 0; i <= 100; i++) {
        fake_now = 100 + i * 0.0625;
        gt_progress_update(c.p, "eval", (uint64_t)i, 100, NULL);
    }
    char *out = stop(&c);
    CHECK_EQ_INT(count(out, "\r"), 51);
    CHECK_EQ_INT(count(out, "\n"), 1); /* only the final line ends */
    CHECK_EQ_INT(count(out, "\033[K"), 51);
    /* Half way: 10 of 20 bar cells, 50 steps in 3.125 s, 50 more take 3.1 s. */
    CHECK_MSG(strstr(out, "\reval [##########..........] 50/100  50% 16.0 step/s ETA 0:03\033[K") != NULL, "%s",
              out);
    CHECK(strstr(out, "\reval [####################] 100/100 100% 16.0 step/s done in 0:06\033[K\n") != NULL);
    free(out);
}

static void test_terminal_line_fits_the_width(void)
{
    capture c;
    start(&c, 1, 40);
    gt_progress_update(c.p, "train", 1, 1000, "a very long status text that would wrap the terminal line");
    char *out = stop(&c);
    /* Between "\r" and the clear-to-end sequence: at most width - 1 characters. */
    char *line = strchr(out, '\r'), *end = strstr(out, "\033[K");
    CHECK(line && end && end - line - 1 <= 39 && end - line - 1 >= 30);
    free(out);
}

static void test_unknown_total_and_new_phases(void)
{
    capture c;
    start(&c, 0, 0);
    gt_progress_update(c.p, "data", 0, 0, NULL);
    fake_now = 104;
    gt_progress_update(c.p, "data", 2000, 0, NULL);
    fake_now = 105;
    gt_progress_update(c.p, "tokenize", 0, 10, NULL);
    fake_now = 106;
    gt_progress_update(c.p, "tokenize", 10, 10, "12.3k tok/s");
    gt_progress_update(c.p, "tokenize", 10, 10, "12.3k tok/s"); /* repeated final report: ignored */
    char *out = stop(&c);
    /* The data phase's last state is printed when the next phase starts. */
    CHECK_MSG(strstr(out, "data: 0\ndata: 2000, 500 step/s\ntokenize: 0/10 (0%)\n"
                          "tokenize: 10/10 (100%), 10.0 step/s, done in 0:01 | 12.3k tok/s\n") != NULL,
              "%s", out);
    CHECK_EQ_INT(count(out, "\n"), 4);
    free(out);
}

static void test_status_cannot_move_the_cursor(void)
{
    capture c;
    start(&c, 0, 0);
    gt_progress_update(c.p, "x", 1, 2, "evil\r\033[2Jstatus\n");
    char *out = stop(&c);
    CHECK(strstr(out, "evil??[2Jstatus?") != NULL);
    CHECK(strchr(out, '\r') == NULL);
    free(out);
}

static void test_library_reports_through_a_sink(void)
{
    gt_progress_report(NULL, "train", 1, 2, "ignored %d", 1); /* no sink: nothing happens */
    gt_progress_sink empty = {0};
    gt_progress_report(&empty, "train", 1, 2, NULL);
    capture c;
    start(&c, 0, 0);
    gt_progress_sink sink = gt_progress_sink_of(c.p);
    gt_progress_report(&sink, "sweep", 3, 12, "run %d of %d: V%d", 3, 12, 8);
    char *out = stop(&c);
    CHECK_EQ_STR(out, "sweep: 3/12 (25%) | run 3 of 12: V8\n");
    free(out);
}

static void test_si_numbers(void)
{
    char b[32];
    CHECK_EQ_STR(gt_progress_si(950, b, sizeof b), "950");
    CHECK_EQ_STR(gt_progress_si(9.5, b, sizeof b), "9.5");
    CHECK_EQ_STR(gt_progress_si(9100, b, sizeof b), "9.1k");
    CHECK_EQ_STR(gt_progress_si(12345678, b, sizeof b), "12.3M");
    CHECK_EQ_STR(gt_progress_si(999.99, b, sizeof b), "1.0k");
    CHECK_EQ_STR(gt_progress_si(-2500, b, sizeof b), "-2.5k");
}

int main(void)
{
    RUN(test_plain_lines_are_rate_limited_with_rate_and_eta);
    RUN(test_terminal_line_is_redrawn_in_place);
    RUN(test_terminal_line_fits_the_width);
    RUN(test_unknown_total_and_new_phases);
    RUN(test_status_cannot_move_the_cursor);
    RUN(test_library_reports_through_a_sink);
    RUN(test_si_numbers);
    return test_summary();
}
