/* What every report format shares: how numbers, deltas and knobs are written,
 * the warnings, the source of the energy numbers, Table I's cells. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

static int decimals_for(double v, int significant)
{
    double a = fabs(v);
    if (a == 0 || !isfinite(a))
        return 0;
    int d = significant - 1 - (int)floor(log10(a));
    return d < 0 ? 0 : d;
}

static int plain_magnitude(double v)
{
    double a = fabs(v);
    return a == 0 || (a >= 1e-3 && a < 1e7);
}

void fmt_value(char *out, size_t size, double v)
{
    if (isnan(v))
        snprintf(out, size, "–");
    else if (!plain_magnitude(v))
        snprintf(out, size, "%.2e", v);
    else
        snprintf(out, size, "%.*f", decimals_for(v, 3), v);
}

void fmt_mean_ci(char *out, size_t size, const gt_summary *s)
{
    if (s->n < 2 || isnan(s->ci_hi)) {
        fmt_value(out, size, s->mean);
        return;
    }
    double half = s->ci_hi - s->mean;
    if (!plain_magnitude(s->mean) || !plain_magnitude(half)) {
        snprintf(out, size, "%.2e ± %.1e", s->mean, half);
        return;
    }
    /* The mean to 3 significant digits, but never fewer decimals than the
     * half-width needs for 2. */
    int d = decimals_for(s->mean, 3), dh = decimals_for(half, 2);
    if (dh > d)
        d = dh;
    snprintf(out, size, "%.*f ± %.*f", d, s->mean, d, half);
}

double no_negative_zero(double v)
{
    return fabs(v) < 0.05 ? 0.0 : v;
}

void fmt_delta(char *out, size_t size, const gt_delta *d)
{
    if (isnan(d->pct)) {
        snprintf(out, size, "–");
        return;
    }
    const char *mark = !d->tested ? "‡" : !d->significant ? "†" : "";
    if (isnan(d->ci_lo))
        snprintf(out, size, "%+.1f%s", no_negative_zero(d->pct), mark);
    else
        snprintf(out, size, "%+.1f [%+.1f, %+.1f]%s", no_negative_zero(d->pct), no_negative_zero(d->ci_lo),
                 no_negative_zero(d->ci_hi), mark);
}

void knob_label(rbuf *b, const gt_knob_ref *k)
{
    rbuf_puts(b, k->name);
    cJSON *params = cJSON_Parse(k->params);
    if (cJSON_IsObject(params)) {
        const cJSON *p;
        int first = 1;
        cJSON_ArrayForEach(p, params) {
            char *value = cJSON_IsString(p) ? NULL : cJSON_PrintUnformatted(p);
            rbuf_printf(b, "%s%s=%s", first ? "(" : ",", p->string, value ? value : p->valuestring);
            cJSON_free(value);
            first = 0;
        }
        if (!first)
            rbuf_puts(b, ")");
    } else if (cJSON_IsTrue(params)) {
        /* "fused: true" in an experiment file: the name says it all. */
    } else if (params) {
        char *value = cJSON_IsString(params) ? NULL : cJSON_PrintUnformatted(params);
        rbuf_printf(b, "=%s", value ? value : params->valuestring);
        cJSON_free(value);
    }
    cJSON_Delete(params);
}

void variant_knobs(rbuf *b, const gt_variant_summary *v)
{
    if (v->external) {
        rbuf_puts(b, "external command");
        return;
    }
    if (v->n_knobs == 0) {
        rbuf_puts(b, "none");
        return;
    }
    for (size_t k = 0; k < v->n_knobs; k++) {
        if (k)
            rbuf_puts(b, " + ");
        knob_label(b, &v->knobs[k]);
    }
}

static size_t add_warning(char out[][REPORT_WARNING_MAX], size_t n, size_t max, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t add_warning(char out[][REPORT_WARNING_MAX], size_t n, size_t max, const char *fmt, ...)
{
    if (n >= max)
        return n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[n], REPORT_WARNING_MAX, fmt, ap);
    va_end(ap);
    return n + 1;
}

size_t report_warnings(const gt_analysis *a, size_t i, char out[][REPORT_WARNING_MAX], size_t max)
{
    size_t n = 0;
    if (i == GT_NONE) {
        if (a->baseline == GT_NONE || a->variants[a->baseline].runs == 0)
            n = add_warning(out, n, max, "the baseline %s has no finished runs: no deltas can be computed",
                            a->baseline == GT_NONE ? "(none)" : a->variants[a->baseline].name);
        if (a->hosts > 1)
            n = add_warning(out, n, max, "runs come from %zu machines: their energy numbers are not comparable",
                            a->hosts);
        if (!strcmp(a->meter, "mixed"))
            n = add_warning(out, n, max, "runs used different meters: compare only runs of one meter");
        return n;
    }
    const gt_variant_summary *v = &a->variants[i];
    if (v->runs == 0)
        n = add_warning(out, n, max, "no finished runs");
    if (v->failed)
        n = add_warning(out, n, max, "%zu failed run%s: %.160s", v->failed, v->failed > 1 ? "s" : "",
                        v->first_error ? v->first_error : "no message");
    if (v->pending)
        n = add_warning(out, n, max, "%zu run%s not done yet", v->pending, v->pending > 1 ? "s" : "");
    if (v->runs == 1)
        n = add_warning(out, n, max, "a single run: no confidence interval, its deltas are not tested");
    if (v->single_class_runs)
        n = add_warning(out, n, max,
                        "the model predicted a single class in %zu of %zu runs: F1 and weighted F1 mislead, "
                        "see MCC and the confusion matrix",
                        v->single_class_runs, v->runs);
    return n;
}

void report_notes(const gt_analysis *a, size_t i, char *out, size_t size)
{
    const gt_variant_summary *v = &a->variants[i];
    char parts[5][32];
    int n = 0;
    if (v->runs == 0)
        snprintf(parts[n++], sizeof parts[0], "no runs");
    if (v->failed)
        snprintf(parts[n++], sizeof parts[0], "%zu failed", v->failed);
    if (v->pending)
        snprintf(parts[n++], sizeof parts[0], "%zu pending", v->pending);
    if (v->runs == 1)
        snprintf(parts[n++], sizeof parts[0], "n=1: no CI");
    if (v->single_class_runs)
        snprintf(parts[n++], sizeof parts[0], "single class");
    out[0] = '\0';
    size_t used = 0;
    for (int k = 0; k < n; k++) {
        int w = snprintf(out + used, size - used, "%s%s", k ? "; " : "", parts[k]);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

void report_source_sentence(rbuf *b, const gt_analysis *a)
{
    if (!strcmp(a->meter, "none"))
        rbuf_puts(b, "No finished runs: no energy numbers.");
    else if (!strcmp(a->meter, "mixed"))
        rbuf_printf(b, "Energy source: several meters%s.", a->estimated ? "; some numbers are ESTIMATED, not measured"
                                                                        : ", all measured");
    else if (a->estimated)
        rbuf_printf(b, "Energy source: meter \"%s\" — ESTIMATED (no hardware energy counter), not measured.",
                    a->meter);
    else
        rbuf_printf(b, "Energy source: meter \"%s\" — measured by hardware energy counters.", a->meter);
    if (!isnan(a->idle_power_w))
        rbuf_printf(b, " Idle power %.2f W (%s, %s), not subtracted.", a->idle_power_w, a->idle_meter,
                    a->idle_estimated ? "estimated" : "measured");
}

void report_table1_caption(rbuf *b, const gt_analysis *a)
{
    rbuf_printf(b, "Table I — experiment \"%s\". Energy in joules per stage, mean ± half-width of the 95 %% "
                   "Student-t confidence interval over the finished runs (n). Δ columns are relative to the "
                   "baseline ",
                a->experiment);
    rbuf_puts(b, a->baseline == GT_NONE ? "(none)" : a->variants[a->baseline].name);
    rbuf_puts(b, " in percent, with the 95 % Fieller interval in brackets; † not significant (Welch's t-test, "
                 "p ≥ 0.05), ‡ not tested (fewer than 2 runs). Δ F1 is relative, as in the paper; F1w is the "
                 "weighted F1. ");
    report_source_sentence(b, a);
}

void report_cascade_sentence(rbuf *b)
{
    rbuf_puts(b, "Expected saving 1 − Π(1 − sᵢ) from the single-knob savings sᵢ (the knobs acting "
                 "independently). Synergistic: the bundle saves significantly more (the 95 % interval of the "
                 "interaction ratio lies below 1); antagonistic: significantly less; additive: the interval "
                 "holds the prediction.");
}

int quadrant(const gt_analysis *a, size_t i)
{
    const gt_variant_summary *v = &a->variants[i];
    double x = v->d_stage_energy[GT_RUN_STAGE_EVAL].pct, y = v->d_stage_time[GT_RUN_STAGE_EVAL].pct;
    if (i == a->baseline || v->runs == 0 || isnan(x) || isnan(y))
        return 2;
    if (x < 0 && y < 0)
        return 1;
    if (x > 0 && y > 0)
        return -1;
    return 0;
}
