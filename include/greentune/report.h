/* greentune/report.h — an analysed experiment as Markdown, CSV, JSON or one
 * self-contained HTML page (Table I, Fig. 2's quadrant plot, energy per stage,
 * Pareto fronts, bundles, warnings; inline CSS and SVG, nothing fetched).
 *
 *   gt_analysis a;                       // from gt_analyze()
 *   gt_report_write(&a, GT_REPORT_HTML, "report.html", &err);
 *
 * The JSON keys follow design.md's report contract. Every energy number is
 * shown with its meter, and estimated numbers say so wherever they appear. */
#ifndef GREENTUNE_REPORT_H
#define GREENTUNE_REPORT_H

#include <stddef.h>

#include "greentune/analysis.h"
#include "greentune/common.h"

typedef enum { GT_REPORT_MARKDOWN, GT_REPORT_CSV, GT_REPORT_JSON, GT_REPORT_HTML } gt_report_format;

/* "md", "csv", "json" or "html" (also "markdown", "htm"). */
GT_API gt_status gt_report_format_from_name(const char *name, gt_report_format *format, gt_error *err);

/* The report as a malloc'd NUL-terminated string. */
GT_API gt_status gt_report_render(const gt_analysis *analysis, gt_report_format format, char **text, size_t *len,
                                  gt_error *err);

/* Renders and writes atomically (a crash leaves the old file or the new one). */
GT_API gt_status gt_report_write(const gt_analysis *analysis, gt_report_format format, const char *path,
                                 gt_error *err);

#endif
