/* The calibration fit and its file: points on a known curve come back as
 * that curve; too narrow a sweep, too few points or power that falls with
 * load are refused; the file keeps one entry per CPU model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "energy/internal.h"
#include "test_support.h"

static void curve(gt_calibration *c, double idle, double max, double k, int n, double lo, double hi)
{
    memset(c, 0, sizeof *c);
    c->points = n;
    for (int i = 0; i < n; i++) {
        c->load[i] = lo + (hi - lo) * i / (n - 1);
        c->watts[i] = idle + (max - idle) * pow(c->load[i], k);
    }
}

static void test_fit_recovers_a_known_curve(void)
{
    const double ks[] = {1.0, 2.5, 3.0};
    for (int i = 0; i < 3; i++) {
        gt_calibration c;
        curve(&c, 10, 60, ks[i], 6, 0, 1);
        gt_error err = {0};
        CHECK_MSG(gt_calibration_fit(&c, &err) == GT_OK, "%s", err.message);
        CHECK_NEAR(c.exponent, ks[i], 1e-9);
        CHECK_NEAR(c.idle_w, 10, 1e-6);
        CHECK_NEAR(c.max_w, 60, 1e-6);
        CHECK_NEAR(c.rmse_w, 0, 1e-6);
    }
}

/* Noise of +-0.5 W: the fit error reports it (rms 0.5 W here). */
static void test_fit_reports_its_error(void)
{
    gt_calibration c;
    curve(&c, 20, 100, 2, 8, 0.05, 0.95);
    for (int i = 0; i < c.points; i++)
        c.watts[i] += i % 2 ? 0.5 : -0.5;
    gt_error err = {0};
    CHECK_EQ_INT(gt_calibration_fit(&c, &err), GT_OK);
    CHECK(c.rmse_w > 0.3 && c.rmse_w <= 0.5 + 1e-9);
    CHECK(c.max_error_pct > 0 && c.max_error_pct < 5);
    CHECK_NEAR(c.exponent, 2, 0.3);
}

static void test_fit_refuses_bad_sweeps(void)
{
    gt_calibration c;
    gt_error err = {0};
    curve(&c, 10, 60, 2, 6, 0.5, 0.7); /* a busy machine: loads 0.5 to 0.7 */
    CHECK_EQ_INT(gt_calibration_fit(&c, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "reached loads 0.50 to 0.70 only") != NULL);
    curve(&c, 10, 60, 2, 2, 0, 1);
    CHECK_EQ_INT(gt_calibration_fit(&c, &err), GT_ERR_INVALID);
    curve(&c, 60, 10, 1, 5, 0, 1); /* power falling with load */
    CHECK_EQ_INT(gt_calibration_fit(&c, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "did not rise with load") != NULL);
}

/* One entry per CPU model: a second model is added, the same model replaced;
 * the estimate's loader reads back what was written. */
static void test_file_keeps_one_entry_per_model(void)
{
    gt_calibration a, b;
    curve(&a, 10, 60, 2, 5, 0, 1);
    gt_error err = {0};
    CHECK_EQ_INT(gt_calibration_fit(&a, &err), GT_OK);
    snprintf(a.cpu_model, sizeof a.cpu_model, "CPU A");
    snprintf(a.meter, sizeof a.meter, "rapl");
    a.cpus = 4;
    a.dram_w_per_gb = 0.25;
    b = a;
    snprintf(b.cpu_model, sizeof b.cpu_model, "CPU B");
    char *one = gt_calibration_update_json(NULL, &a, &err);
    char *two = one ? gt_calibration_update_json(one, &b, &err) : NULL;
    a.idle_w = 12;
    char *three = two ? gt_calibration_update_json(two, &a, &err) : NULL;
    CHECK(three != NULL);
    if (three) {
        const char *path = test_path("calibration.json");
        test_write_file(path, three, strlen(three));
        gt_calibration got;
        CHECK(calibration_load(path, "CPU A", &got));
        CHECK_NEAR(got.idle_w, 12, 1e-9);
        CHECK_NEAR(got.max_w, 60, 1e-6);
        CHECK_NEAR(got.exponent, 2, 1e-9);
        CHECK_NEAR(got.dram_w_per_gb, 0.25, 0);
        CHECK_EQ_INT(got.cpus, 4);
        CHECK_EQ_STR(got.meter, "rapl");
        CHECK(calibration_load(path, "CPU B", &got));
        CHECK(!calibration_load(path, "CPU C", &got));
        const char *first = strstr(three, "CPU A");
        CHECK(first && !strstr(first + 1, "CPU A")); /* replaced, not added twice */
    }
    CHECK(gt_calibration_update_json("[1, 2]", &a, &err) == NULL);
    CHECK(strstr(err.message, "not a JSON object") != NULL);
    free(one);
    free(two);
    free(three);
}

int main(void)
{
    RUN(test_fit_recovers_a_known_curve);
    RUN(test_fit_reports_its_error);
    RUN(test_fit_refuses_bad_sweeps);
    RUN(test_file_keeps_one_entry_per_model);
    return test_summary();
}
