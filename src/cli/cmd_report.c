/* greentune report DB [--format md|csv|json|html] [--out FILE] [--experiment NAME]
 * Table I, Fig. 2, bundles and Pareto fronts from a sweep's run store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "greentune/analysis.h"
#include "greentune/report.h"
#include "greentune/store.h"

static const char usage[] =
    "usage: greentune report DB [--format md|csv|json|html] [--out FILE] [--experiment NAME]\n"
    "\n"
    "Analyses the runs a sweep stored in DB (SQLite) and writes the report:\n"
    "Table I (energy per stage, deltas vs. the baseline with 95 % intervals and\n"
    "significance, F1, MCC, times), the bundles under the cascade model, Fig. 2\n"
    "(evaluation energy vs. time quadrants), energy per stage, Pareto fronts and\n"
    "warnings. The HTML page is self-contained (inline SVG, no network).\n"
    "\n"
    "  --format F         md (default), csv, json or html; guessed from --out's extension\n"
    "  --out FILE         write FILE atomically instead of printing to stdout\n"
    "  --experiment NAME  the experiment to report when DB holds several\n";

/* The format an output file's extension implies, or NULL. */
static const char *format_of_path(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot)
        return NULL;
    const char *known[] = {"md", "markdown", "csv", "json", "html", "htm"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(dot + 1, known[i]))
            return known[i];
    return NULL;
}

static int report(const char *db_path, const char *experiment, gt_report_format format, const char *out)
{
    gt_error err = {0};
    gt_store *db = NULL;
    gt_store_options options = {1, 0};
    gt_experiment_data data;
    gt_analysis analysis;
    if (gt_store_open(&db, db_path, &options, &err) != GT_OK)
        return cli_fail_error(&err);
    gt_status st = gt_store_load(db, experiment, &data, &err);
    gt_store_close(db);
    if (st != GT_OK)
        return cli_fail_error(&err);
    st = gt_analyze(&data, &analysis, &err);
    gt_experiment_data_free(&data);
    if (st != GT_OK)
        return cli_fail_error(&err);

    char *text = NULL;
    size_t len = 0;
    if (out)
        st = gt_report_write(&analysis, format, out, &err);
    else
        st = gt_report_render(&analysis, format, &text, &len, &err);
    size_t variants = analysis.n_variants;
    gt_analysis_free(&analysis);
    if (st != GT_OK)
        return cli_fail_error(&err);
    if (out) {
        fprintf(stderr, "greentune: report: wrote %s (%zu variants)\n", out, variants);
        return 0;
    }
    int ok = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0;
    free(text);
    return ok ? 0 : cli_fail(CLI_EXIT_FAILURE, "report: cannot write to stdout");
}

int cmd_report(int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"experiment", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *format_name = NULL, *out = NULL, *experiment = NULL;
    int c;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "f:o:e:h", options, NULL)) != -1) {
        switch (c) {
        case 'f': format_name = optarg; break;
        case 'o': out = optarg; break;
        case 'e': experiment = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error("report");
        }
    }
    if (optind >= argc)
        return cli_fail(CLI_EXIT_USAGE, "report: which database? usage: greentune report DB [--format ...]");
    if (optind + 1 < argc)
        return cli_fail(CLI_EXIT_USAGE, "report: one database at a time ('%s' is extra); see 'greentune report "
                                        "--help'",
                        argv[optind + 1]);
    if (out && !*out)
        return cli_fail(CLI_EXIT_USAGE, "report: --out: empty file name");
    if (!format_name)
        format_name = out && format_of_path(out) ? format_of_path(out) : "md";
    gt_report_format format;
    gt_error err = {0};
    if (gt_report_format_from_name(format_name, &format, &err) != GT_OK)
        return cli_fail(CLI_EXIT_USAGE, "--format: %s", err.message);
    return report(argv[optind], experiment, format, out);
}
