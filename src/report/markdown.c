/* The report as Markdown: Table I, the bundles under the cascade model, the
 * quadrants of Fig. 2 in words, the Pareto fronts, warnings. */
#include <stdio.h>

#include "report_internal.h"

static void table(rbuf *b, const gt_analysis *a, const report_table *t)
{
    char cell[512];
    rbuf_puts(b, "|");
    for (int c = 0; c < t->columns; c++)
        rbuf_printf(b, " %s |", t->headers[c]);
    rbuf_puts(b, "\n|");
    for (int c = 0; c < t->columns; c++)
        rbuf_puts(b, c < t->text_columns || c == t->columns - 1 ? ":---|" : "---:|");
    rbuf_puts(b, "\n");
    for (size_t i = 0; i < t->rows; i++) {
        rbuf_puts(b, "|");
        for (int c = 0; c < t->columns; c++) {
            t->cell(a, i, c, cell, sizeof cell);
            rbuf_puts(b, " ");
            rbuf_md(b, cell);
            rbuf_puts(b, " |");
        }
        rbuf_puts(b, "\n");
    }
    rbuf_puts(b, "\n");
}

static void name_list(rbuf *b, const gt_analysis *a, const size_t *indices, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        rbuf_puts(b, k ? ", " : "");
        rbuf_md(b, a->variants[indices[k]].name);
    }
    rbuf_puts(b, n ? "\n" : "none\n");
}

static void quadrants(rbuf *b, const gt_analysis *a)
{
    static const char *const titles[] = {"both worse", "mixed", "both better"};
    rbuf_puts(b, "## Fig. 2 in words: evaluation energy vs. evaluation time\n\n");
    for (int q = 1; q >= -1; q--) {
        rbuf_printf(b, "- %s:", titles[q + 1]);
        int any = 0;
        for (size_t i = 0; i < a->n_variants; i++) {
            if (quadrant(a, i) != q)
                continue;
            const gt_variant_summary *v = &a->variants[i];
            rbuf_puts(b, any ? ", " : " ");
            rbuf_md(b, v->name);
            rbuf_printf(b, " (%+.1f %% energy, %+.1f %% time)", v->d_stage_energy[GT_RUN_STAGE_EVAL].pct,
                        v->d_stage_time[GT_RUN_STAGE_EVAL].pct);
            any = 1;
        }
        rbuf_puts(b, any ? "\n" : " none\n");
    }
    rbuf_puts(b, "\n");
}

/* The warnings about variant i (GT_NONE: the experiment), as list items. */
static int warning_items(rbuf *b, const gt_analysis *a, size_t i, int any)
{
    char w[REPORT_WARNINGS_MAX][REPORT_WARNING_MAX];
    size_t n = report_warnings(a, i, w, REPORT_WARNINGS_MAX);
    for (size_t k = 0; k < n; k++) {
        if (!any++)
            rbuf_puts(b, "## Warnings\n\n");
        rbuf_puts(b, "- ");
        if (i != GT_NONE) {
            rbuf_md(b, a->variants[i].name);
            rbuf_puts(b, ": ");
        }
        rbuf_md(b, w[k]);
        rbuf_puts(b, "\n");
    }
    return any;
}

static void warnings(rbuf *b, const gt_analysis *a)
{
    int any = warning_items(b, a, GT_NONE, 0);
    for (size_t i = 0; i < a->n_variants; i++)
        any = warning_items(b, a, i, any);
    if (any)
        rbuf_puts(b, "\n");
}

void report_markdown(rbuf *b, const gt_analysis *a)
{
    rbuf_puts(b, "# greentune report: ");
    rbuf_md(b, a->experiment);
    rbuf_puts(b, "\n\n");
    report_source_sentence(b, a);
    rbuf_puts(b, "\n\n");
    report_table t1 = table1(a), bundles = bundle_table(a);
    table(b, a, &t1);
    report_table1_caption(b, a);
    rbuf_puts(b, "\n\n");
    if (bundles.rows) {
        rbuf_puts(b, "## Bundles: the cascade model\n\n");
        report_cascade_sentence(b);
        rbuf_puts(b, "\n\n");
        table(b, a, &bundles);
    }
    quadrants(b, a);
    rbuf_puts(b, "## Pareto fronts\n\n- energy vs. F1: ");
    name_list(b, a, a->pareto_f1, a->n_pareto_f1);
    rbuf_puts(b, "- energy vs. time: ");
    name_list(b, a, a->pareto_time, a->n_pareto_time);
    if (a->best_bundle != GT_NONE) {
        rbuf_puts(b, "- least-energy bundle: ");
        rbuf_md(b, a->variants[a->best_bundle].name);
        rbuf_puts(b, "\n");
    }
    rbuf_puts(b, "\n");
    warnings(b, a);
}
