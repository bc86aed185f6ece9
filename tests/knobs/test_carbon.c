/* carbon_aware: reads an intensity forecast, picks the lowest-carbon start
 * within the allowed delay, and waits for it — on a fake clock here.
 *
 * The fixture (tests/fixtures/knobs/forecast.csv) holds, from 2024-05-01T00:00Z,
 * one row per hour: 300, 250, 120, 90, 200, 80, 310 g/kWh; the last row holds
 * until 07:00 (as long as the step before it). Expected choices below are read
 * off that table by hand. */
#include <stdlib.h>
#include <string.h>

#include "greentune/knobs.h"
#include "knob_test.h"
#include "knobs/forecast.h"
#include "test_support.h"

/* Unix times from Python: calendar.timegm((2024, 5, 1, 0, 0, 0)) etc. */
#define T0000 1714521600.0
#define T0030 1714523400.0
#define HOUR 3600.0

static char fixtures[4096];

typedef struct {
    double now, slept;
    int sleeps, interrupt;
} fake_clock;

static double fake_now(void *ctx)
{
    return ((fake_clock *)ctx)->now;
}

static int fake_sleep(void *ctx, double seconds)
{
    fake_clock *c = ctx;
    if (c->interrupt)
        return 1;
    c->now += seconds;
    c->slept += seconds;
    c->sleeps++;
    return 0;
}

static forecast load_fixture(void)
{
    forecast f;
    gt_error err = {0};
    char path[8192];
    snprintf(path, sizeof path, "%s/forecast.csv", fixtures);
    if (forecast_load(path, &f, &err) != GT_OK) {
        fprintf(stderr, "fixture: %s\n", err.message);
        exit(2);
    }
    return f;
}

static void test_times_parse_like_python_timegm(void)
{
    double t;
    CHECK(forecast_parse_time("2024-05-01T00:30Z", &t) && t == T0030);
    CHECK(forecast_parse_time("2024-05-01 02:30:00+02:00", &t) && t == T0030);
    CHECK(forecast_parse_time("2024-04-30T19:30-05", &t) && t == T0030);
    CHECK(forecast_parse_time("2024-02-29T12:00:00Z", &t) && t == 1709208000.0);
    CHECK(forecast_parse_time("1999-12-31T23:59:59Z", &t) && t == 946684799.0);
    CHECK(forecast_parse_time("2100-03-01T00:00Z", &t) && t == 4107542400.0);
    CHECK(forecast_parse_time("1969-12-31T00:00Z", &t) && t == -86400.0);
    CHECK(forecast_parse_time("1714523400", &t) && t == T0030);
    /* No zone: refused rather than guessed. Impossible dates too. */
    CHECK(!forecast_parse_time("2024-05-01T00:30", &t));
    CHECK(!forecast_parse_time("2023-02-29T00:00Z", &t));
    CHECK(!forecast_parse_time("2024-13-01T00:00Z", &t));
    CHECK(!forecast_parse_time("yesterday", &t));
    /* Times must stay dates: no year past 9999 (they were formatted through a long). */
    CHECK(forecast_parse_time("253402300799", &t) && t == 253402300799.0);
    CHECK(!forecast_parse_time("253402300800", &t));
    CHECK(!forecast_parse_time("405000000000000000000000000", &t));
    CHECK(!forecast_parse_time("2024-05-01T00:30:00.5e300Z", &t));
    CHECK(forecast_parse_time("2024-05-01T00:30:00.25Z", &t) && t == T0030 + 0.25);
    char text[32];
    forecast_format_time(T0030 + 4.5 * HOUR, text, sizeof text);
    CHECK_EQ_STR(text, "2024-05-01T05:00:00Z");
}

static void test_lowest_start_within_the_window(void)
{
    forecast f = load_fixture();
    forecast_choice c;
    gt_error err = {0};
    CHECK_EQ_INT(f.count, 7);
    CHECK_NEAR(f.end, T0000 + 7 * HOUR, 0);
    /* From 00:30 with 12 h allowed: 80 g/kWh at 05:00. */
    CHECK_EQ_INT(forecast_choose(&f, T0030, 12 * HOUR, 0, &c, &err), GT_OK);
    CHECK_NEAR(c.start, T0000 + 5 * HOUR, 0);
    CHECK_NEAR(c.intensity, 80, 0);
    CHECK_NEAR(c.intensity_now, 300, 0);
    /* The bound holds: within 3 h (until 03:30) the best is 90 at 03:00 ... */
    CHECK_EQ_INT(forecast_choose(&f, T0030, 3 * HOUR, 0, &c, &err), GT_OK);
    CHECK_NEAR(c.start, T0000 + 3 * HOUR, 0);
    CHECK_NEAR(c.intensity, 90, 0);
    /* ... within 2 h (until 02:30) it is 120 at 02:00 ... */
    CHECK_EQ_INT(forecast_choose(&f, T0030, 2 * HOUR, 0, &c, &err), GT_OK);
    CHECK_NEAR(c.start, T0000 + 2 * HOUR, 0);
    /* ... and with no delay allowed the job starts now. */
    CHECK_EQ_INT(forecast_choose(&f, T0030, 0, 0, &c, &err), GT_OK);
    CHECK_NEAR(c.start, T0030, 0);
    CHECK_NEAR(c.intensity, 300, 0);
    forecast_free(&f);
}

/* A 2-hour job: the mean over [t, t+2h] is lowest starting at 02:00
 * ((120 + 90) / 2 = 105), not at the single cheapest hour (05:00 gives
 * (80 + 310) / 2 = 195). Starting at 00:30 it would be (0.5*300 + 250 +
 * 0.5*120) / 2 = 230. */
static void test_job_duration_averages_over_the_run(void)
{
    forecast f = load_fixture();
    forecast_choice c;
    gt_error err = {0};
    CHECK_EQ_INT(forecast_choose(&f, T0030, 12 * HOUR, 2 * HOUR, &c, &err), GT_OK);
    CHECK_NEAR(c.start, T0000 + 2 * HOUR, 1e-6);
    CHECK_NEAR(c.intensity, 105, 1e-9);
    CHECK_NEAR(c.intensity_now, 230, 1e-9);
    /* Between rows: [01:30, 03:30] = (0.5*250 + 120 + 0.5*90) / 2 = 145. */
    CHECK_NEAR(forecast_mean(&f, T0000 + 1.5 * HOUR, 2 * HOUR), 145, 1e-9);
    forecast_free(&f);
}

static void test_forecast_must_cover_now(void)
{
    forecast f = load_fixture();
    forecast_choice c;
    gt_error err = {0};
    CHECK_EQ_INT(forecast_choose(&f, T0000 - 60, HOUR, 0, &c, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "forecast starts at 2024-05-01T00:00:00Z, after now (2024-04-30T23:59:00Z); use one that covers now");
    CHECK_EQ_INT(forecast_choose(&f, T0000 + 7 * HOUR, HOUR, 0, &c, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "forecast ends at 2024-05-01T07:00:00Z, before now") == err.message);
    forecast_free(&f);
}

static void check_bad_csv(int line, const char *text, const char *expect)
{
    forecast f;
    gt_error err = {0};
    if (forecast_parse(text, "grid.csv", &f, &err) == GT_OK) {
        test_fail(__FILE__, line, "expected failure for %s", text);
        forecast_free(&f);
        return;
    }
    if (!strstr(err.message, expect) || strchr(err.message, '\n'))
        test_fail(__FILE__, line, "message \"%s\" lacks \"%s\"", err.message, expect);
}

static void test_bad_csv_gives_file_line_and_problem(void)
{
    check_bad_csv(__LINE__, "time,g\n2024-05-01T00:00Z,300\n2024-05-01T01:00Z,abc\n",
                  "grid.csv:3: \"abc\" is not a carbon intensity in g/kWh");
    check_bad_csv(__LINE__, "2024-05-01T00:00Z,300\n2024-05-01T01:00,250\n",
                  "grid.csv:2: \"2024-05-01T01:00\" is not a time (expected ISO 8601 with a zone");
    check_bad_csv(__LINE__, "2024-05-01T01:00Z,300\n2024-05-01T00:00Z,250\n",
                  "grid.csv:2: \"2024-05-01T00:00Z\" is not after the previous row's time");
    check_bad_csv(__LINE__, "2024-05-01T00:00Z,300\n", "grid.csv: needs at least two rows");
    check_bad_csv(__LINE__, "2024-05-01T00:00Z\n", "grid.csv:1: \"2024-05-01T00:00Z\" has one column");
    check_bad_csv(__LINE__, "2024-05-01T00:00Z,-5\n2024-05-01T01:00Z,1\n", "grid.csv:1: \"-5\" is not a carbon intensity");
    /* A bad first row is not mistaken for a header: it has a number. */
    check_bad_csv(__LINE__, "2024-99-01T00:00Z,300\n2024-05-01T01:00Z,250\n2024-05-01T02:00Z,1\n",
                  "grid.csv:1: \"2024-99-01T00:00Z\" is not a time");
}

static void test_unix_seconds_and_extra_columns(void)
{
    forecast f;
    gt_error err = {0};
    CHECK_EQ_INT(forecast_parse("from,forecast,index\r\n1714521600,100,high\r\n1714523400, 50 ,low\r\n", "u.csv", &f, &err),
                 GT_OK);
    CHECK_EQ_INT(f.count, 2);
    CHECK_NEAR(f.intensity[1], 50, 0);
    CHECK_NEAR(f.end, T0030 + 1800, 0);
    forecast_free(&f);
}

static gt_status apply_carbon(gt_knob_set *set, const char *spec, fake_clock *clock, gt_error *err)
{
    gt_clock c = {fake_now, fake_sleep, clock};
    gt_knob_context ctx = {.clock = &c, .base_dir = fixtures};
    return knob_test_apply(set, err, (const char *const[]){spec, NULL}, &ctx);
}

static void test_knob_waits_on_the_clock_and_records_evidence(void)
{
    fake_clock clock = {T0030, 0, 0, 0};
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(apply_carbon(&set, "carbon_aware={forecast: forecast.csv, window: 4h}", &clock, &err), GT_OK);
    /* Within 4 h of 00:30 (until 04:30): 90 g/kWh at 03:00, a 2.5 h wait. */
    CHECK_EQ_INT(clock.sleeps, 1);
    CHECK_NEAR(clock.slept, 2.5 * HOUR, 1e-6);
    const gt_knob_use *use = gt_knob_set_find(&set, "carbon_aware");
    CHECK_EQ_STR(cJSON_GetObjectItem(use->evidence, "chosen_start")->valuestring, "2024-05-01T03:00:00Z");
    CHECK_NEAR(cJSON_GetObjectItem(use->evidence, "intensity_chosen_g_per_kwh")->valuedouble, 90, 0);
    CHECK_NEAR(cJSON_GetObjectItem(use->evidence, "intensity_now_g_per_kwh")->valuedouble, 300, 0);
    CHECK_NEAR(cJSON_GetObjectItem(use->evidence, "wait_s")->valuedouble, 2.5 * HOUR, 1e-6);
    CHECK_EQ_INT(gt_knob_set_check_evidence(&set, &err), GT_OK);
    gt_knob_set_free(&set);

    /* Already in the best window: no sleep at all. */
    clock = (fake_clock){T0000 + 5 * HOUR + 60, 0, 0, 0};
    CHECK_EQ_INT(apply_carbon(&set, "carbon_aware=forecast.csv", &clock, &err), GT_OK);
    CHECK_EQ_INT(clock.sleeps, 0);
    CHECK_NEAR(cJSON_GetObjectItem(gt_knob_set_find(&set, "carbon_aware")->evidence, "wait_s")->valuedouble, 0, 0);
    gt_knob_set_free(&set);
}

static void test_knob_failures_are_one_line(void)
{
    fake_clock clock = {T0030, 0, 0, 1};
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(apply_carbon(&set, "carbon_aware=forecast.csv", &clock, &err), GT_ERR_INTERRUPTED);
    CHECK_EQ_STR(err.message, "carbon_aware: interrupted while waiting for 2024-05-01T05:00:00Z");
    gt_knob_set_free(&set);
    clock.interrupt = 0;
    CHECK_EQ_INT(apply_carbon(&set, "carbon_aware=missing.csv", &clock, &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "carbon_aware: ") == err.message && strstr(err.message, "missing.csv: No such file"));
    gt_knob_set_free(&set);
    clock.now = T0000 + 8 * HOUR;
    CHECK_EQ_INT(apply_carbon(&set, "carbon_aware=forecast.csv", &clock, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "carbon_aware: ") == err.message && strstr(err.message, "forecast.csv: forecast ends at"));
    gt_knob_set_free(&set);
}

int main(void)
{
    snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/knobs", test_env("GREENTUNE_SOURCE_DIR"));
    RUN(test_times_parse_like_python_timegm);
    RUN(test_lowest_start_within_the_window);
    RUN(test_job_duration_averages_over_the_run);
    RUN(test_forecast_must_cover_now);
    RUN(test_bad_csv_gives_file_line_and_problem);
    RUN(test_unix_seconds_and_extra_columns);
    RUN(test_knob_waits_on_the_clock_and_records_evidence);
    RUN(test_knob_failures_are_one_line);
    return test_summary();
}
