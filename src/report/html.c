/* The report as one self-contained HTML page: inline CSS and SVG, no script,
 * nothing fetched; it opens the same offline, in any browser, years later. */
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

static const char style[] =
    "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#1b1b1b;"
    "max-width:1400px}"
    "h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}"
    ".source{font-size:14px;padding:8px 12px;border-left:4px solid #2e9e44;background:#f4faf5}"
    ".source.estimated{border-color:#e6a100;background:#fff8e5}"
    "table{border-collapse:collapse;font-size:12px;margin:8px 0}"
    "th,td{border:1px solid #d0d0d0;padding:2px 5px}th{background:#f2f2f2;position:sticky;top:0}"
    "td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
    "tr.baseline td{background:#fff3f3}caption,figcaption,.caption{caption-side:bottom;font-size:12px;"
    "color:#444;text-align:left;padding-top:6px;max-width:1100px}"
    "figure{margin:12px 0}svg{max-width:100%;height:auto}.row{display:flex;flex-wrap:wrap;gap:16px}"
    "ul.warnings li{margin:2px 0}span.ci{font-size:10px;color:#555}td:last-child{min-width:120px}";

/* A cell's text. What follows a value — an interval "[lo, hi]" or "± half" —
 * goes on its own line, smaller, so that the wide Table I fits a page. */
static void cell_html(rbuf *b, const char *cell)
{
    const char *rest = strstr(cell, " [");
    if (!rest)
        rest = strstr(cell, " ± ");
    if (!rest) {
        rbuf_html(b, cell);
        return;
    }
    char value[128];
    snprintf(value, sizeof value, "%.*s", (int)(rest - cell), cell);
    rbuf_html(b, value);
    rbuf_puts(b, "<br><span class=\"ci\">");
    rbuf_html(b, rest + 1);
    rbuf_puts(b, "</span>");
}

static void table(rbuf *b, const gt_analysis *a, const report_table *t, const char *id, const char *caption)
{
    char cell[512];
    rbuf_printf(b, "<table id=\"%s\">\n", id);
    if (caption) {
        rbuf_puts(b, "<caption>");
        rbuf_html(b, caption);
        rbuf_puts(b, "</caption>\n");
    }
    rbuf_puts(b, "<thead><tr>");
    for (int c = 0; c < t->columns; c++) {
        rbuf_puts(b, "<th>");
        rbuf_html(b, t->headers[c]);
        rbuf_puts(b, "</th>");
    }
    rbuf_puts(b, "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < t->rows; i++) {
        int baseline = t->rows == a->n_variants && i == a->baseline && !strcmp(id, "table1");
        rbuf_puts(b, baseline ? "<tr class=\"baseline\">" : "<tr>");
        for (int c = 0; c < t->columns; c++) {
            t->cell(a, i, c, cell, sizeof cell);
            int text = c < t->text_columns || c == t->columns - 1;
            rbuf_puts(b, text ? "<td>" : "<td class=\"num\">");
            cell_html(b, cell);
            rbuf_puts(b, "</td>");
        }
        rbuf_puts(b, "</tr>\n");
    }
    rbuf_puts(b, "</tbody>\n</table>\n");
}

static void figure(rbuf *b, const char *id, const char *caption)
{
    rbuf_printf(b, "<figcaption id=\"%s-caption\">", id);
    rbuf_html(b, caption);
    rbuf_puts(b, "</figcaption></figure>\n");
}

static void warnings(rbuf *b, const gt_analysis *a)
{
    char w[REPORT_WARNINGS_MAX][REPORT_WARNING_MAX];
    rbuf_puts(b, "<h2>Warnings</h2>\n<ul class=\"warnings\">\n");
    size_t total = 0;
    for (size_t i = 0; i <= a->n_variants; i++) {
        size_t which = i == 0 ? GT_NONE : i - 1;
        size_t n = report_warnings(a, which, w, REPORT_WARNINGS_MAX);
        for (size_t k = 0; k < n; k++, total++) {
            rbuf_puts(b, "<li>");
            if (which != GT_NONE) {
                rbuf_puts(b, "<b>");
                rbuf_html(b, a->variants[which].name);
                rbuf_puts(b, "</b>: ");
            }
            rbuf_html(b, w[k]);
            rbuf_puts(b, "</li>\n");
        }
    }
    if (!total)
        rbuf_puts(b, "<li>none</li>\n");
    rbuf_puts(b, "</ul>\n");
}

void report_html(rbuf *b, const gt_analysis *a)
{
    rbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>greentune report: ");
    rbuf_html(b, a->experiment);
    rbuf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>greentune report: ", style);
    rbuf_html(b, a->experiment);
    rbuf_printf(b, "</h1>\n<p class=\"source%s\" id=\"source\">", a->estimated ? " estimated" : "");
    rbuf source = {0};
    report_source_sentence(&source, a);
    rbuf_html(b, source.data ? source.data : "");
    rbuf_free(&source);
    rbuf_puts(b, "</p>\n");

    rbuf caption = {0};
    report_table1_caption(&caption, a);
    report_table t1 = table1(a);
    rbuf_puts(b, "<h2>Table I: energy per stage and variant</h2>\n");
    table(b, a, &t1, "table1", caption.data ? caption.data : "");
    rbuf_free(&caption);

    rbuf_puts(b, "<h2>Fig. 2: evaluation energy vs. evaluation time</h2>\n<figure id=\"fig2\">\n");
    figure_quadrant(b, a);
    figure(b, "fig2",
           "Change of evaluation energy (x) and evaluation time (y) against the baseline, in percent, with 95 % "
           "intervals as whiskers. Bottom left (green): both better; top right (red): both worse; gray: mixed. "
           "Red star: the baseline; yellow star: the bundle with the least total energy.");

    rbuf_puts(b, "<h2>Energy per stage</h2>\n<figure id=\"stages\">\n");
    figure_stages(b, a);
    figure(b, "stages", "Mean energy of each stage, stacked per variant; the whisker is the 95 % interval "
                        "of the total.");

    rbuf_puts(b, "<h2>Pareto fronts</h2>\n<figure id=\"pareto\"><div class=\"row\">\n");
    figure_pareto(b, a, 0);
    figure_pareto(b, a, 1);
    rbuf_puts(b, "</div>\n");
    figure(b, "pareto", "Blue: variants no other variant beats on both axes (means); left: energy vs. binary "
                        "F1, right: energy vs. total time.");

    report_table bundles = bundle_table(a);
    if (bundles.rows) {
        rbuf_puts(b, "<h2>Bundles: the cascade model</h2>\n<p class=\"caption\">");
        rbuf sentence = {0};
        report_cascade_sentence(&sentence);
        rbuf_html(b, sentence.data ? sentence.data : "");
        rbuf_free(&sentence);
        rbuf_puts(b, "</p>\n");
        table(b, a, &bundles, "bundles", NULL);
    }
    warnings(b, a);
    rbuf_puts(b, "<p class=\"caption\">Written by greentune report.</p>\n</body>\n</html>\n");
}
