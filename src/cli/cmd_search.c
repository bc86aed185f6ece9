/* greentune search EXPERIMENT.yaml --max-f1-drop PCT [--db FILE] [--budget N] [--beam W]
 *                                  [--retry-failed] [--json FILE] [-q]
 *
 * The bundle with the least energy whose F1 stays within the budget, from
 * the experiment's single-knob variants and the cascade model, with far fewer
 * runs than trying every combination (docs/experiments.md, "The search"). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "experiment_cli.h"
#include "greentune/config.h"

static void usage(FILE *out)
{
    fputs("usage: greentune search EXPERIMENT.yaml --max-f1-drop PCT [--db FILE] [--budget N] [--beam W]\n"
          "                        [--retry-failed] [--json FILE] [-q]\n"
          "\n"
          "Finds the combination of knobs that uses the least energy while F1 stays within PCT of\n"
          "the baseline's. It runs (or takes from the database) the baseline and every single-knob\n"
          "variant of EXPERIMENT.yaml, predicts bundles with the cascade model (energy ratio\n"
          "prod(E_i/E_0), F1 drops added; refined by every bundle it measures), combines only knobs\n"
          "the registry allows together that do not target the same resource in the same phase,\n"
          "and measures the most promising bundle with the experiment's repeats until none is\n"
          "predicted to do better. Bundles it proposes are stored as variants named after their\n"
          "single-knob variants (V8+V11); a stopped search resumes like a sweep.\n"
          "\n"
          "  --max-f1-drop PCT  how far F1 may fall, in percentage points of F1 (metrics.f1: the\n"
          "                     positive class's F1, macro F1 with more classes): 1 (or 1%) lets\n"
          "                     0.954 fall to 0.944. Judged on the mean of the repeats.\n"
          "  --db FILE          the database (default: the experiment file's name with .db, beside it)\n"
          "  --budget N         run at most N new runs in all (default: no limit)\n"
          "  --beam W           bundles kept per size while proposing (default 32)\n"
          "  --retry-failed     run failed runs of the baseline and the singles again\n"
          "  --json FILE        write the result as JSON\n"
          "  -q, --quiet        no progress and no per-run lines\n"
          "  -h, --help         this help\n"
          "\n"
          "Exit status: 0 a result (even when nothing beats the baseline), 1 the search failed,\n"
          "2 a bad command line or experiment file, 130 interrupted.\n",
          out);
}

/* "1", "1%", "0.5" -> points; 0 after reporting. */
static int parse_points(const char *text, double *points)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '%')
        buf[n - 1] = '\0';
    return cli_parse_double("--max-f1-drop", buf, 0, 100, points);
}

static cJSON *result_json(const gt_search_result *r, const experiment_session *s, double max_drop)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "experiment", s->exp.name);
    cJSON_AddStringToObject(j, "baseline", s->exp.baseline);
    cJSON_AddNumberToObject(j, "max_f1_drop_points", max_drop);
    cJSON_AddBoolToObject(j, "found", r->found);
    cJSON_AddStringToObject(j, "best", r->best);
    cJSON *knobs = r->best_knobs_json ? cJSON_Parse(r->best_knobs_json) : NULL;
    cJSON_AddItemToObject(j, "knobs", knobs ? knobs : cJSON_CreateObject());
    const struct {
        const char *key;
        double value;
    } numbers[] = {{"saving_pct", r->saving_pct},     {"saving_ci_lo", r->saving_ci_lo},
                   {"saving_ci_hi", r->saving_ci_hi}, {"f1_drop_points", r->f1_drop},
                   {"f1_drop_ci_lo", r->f1_drop_ci_lo}, {"f1_drop_ci_hi", r->f1_drop_ci_hi}};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        cJSON_AddItemToObject(j, numbers[i].key,
                              isnan(numbers[i].value) ? cJSON_CreateNull() : cJSON_CreateNumber(numbers[i].value));
    cJSON_AddNumberToObject(j, "singles", (double)r->singles);
    cJSON_AddNumberToObject(j, "candidates", (double)r->candidates);
    cJSON_AddNumberToObject(j, "bundles_tried", (double)r->bundles_tried);
    cJSON_AddNumberToObject(j, "runs_new", (double)r->runs_new);
    cJSON_AddNumberToObject(j, "runs_used", (double)r->runs_used);
    cJSON_AddNumberToObject(j, "runs_exhaustive", (double)r->runs_exhaustive);
    cJSON_AddBoolToObject(j, "budget_exhausted", r->budget_exhausted);
    cJSON_AddStringToObject(j, "stopped", r->stop_reason);
    cJSON_AddStringToObject(j, "database", s->db_path);
    return j;
}

static void print_result(const gt_search_result *r, const experiment_session *s, double max_drop)
{
    if (r->found) {
        printf("best: %s %s\n", r->best, r->best_knobs_json ? r->best_knobs_json : "");
        printf("  energy  %.1f %% less than %s", r->saving_pct, s->exp.baseline);
        if (!isnan(r->saving_ci_lo))
            printf(" (95 %% CI %.1f .. %.1f)", r->saving_ci_lo, r->saving_ci_hi);
        printf("\n  F1      %+.2f points", -r->f1_drop);
        if (!isnan(r->f1_drop_ci_lo))
            printf(" (95 %% CI %+.2f .. %+.2f)", -r->f1_drop_ci_hi, -r->f1_drop_ci_lo);
        printf(", budget -%g points\n", max_drop);
    } else {
        printf("best: %s — no variant saves energy within an F1 drop of %g points\n", r->best, max_drop);
    }
    double share = r->runs_exhaustive ? 100.0 * (double)r->runs_used / (double)r->runs_exhaustive : NAN;
    printf("  runs    %zu used (%zu new) vs. %zu for every combination of the %zu single knobs "
           "((2^%zu - 1) x %d repeats): %.1f %%\n",
           r->runs_used, r->runs_new, r->runs_exhaustive, r->singles, r->singles, s->exp.repeats, share);
    printf("  search  %zu of %zu knobs usable, %zu bundles measured; stopped: %s\n", r->candidates, r->singles,
           r->bundles_tried, r->stop_reason);
}

int cmd_search(int argc, char **argv)
{
    static const struct option options[] = {
        {"max-f1-drop", required_argument, 0, 'm'}, {"db", required_argument, 0, 'd'},
        {"budget", required_argument, 0, 'b'},      {"beam", required_argument, 0, 'w'},
        {"retry-failed", no_argument, 0, 'r'},      {"json", required_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = NULL, *json = NULL;
    gt_search_options so;
    gt_search_options_init(&so);
    int have_drop = 0, quiet = 0, c;
    long value;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!parse_points(optarg, &so.max_f1_drop))
                return CLI_EXIT_USAGE;
            have_drop = 1;
            break;
        case 'd': db = optarg; break;
        case 'b':
            if (!cli_parse_long("--budget", optarg, 1, 100000000, &so.budget))
                return CLI_EXIT_USAGE;
            break;
        case 'w':
            if (!cli_parse_long("--beam", optarg, 1, 4096, &value))
                return CLI_EXIT_USAGE;
            so.beam = (int)value;
            break;
        case 'r': so.sweep.retry_failed = 1; break;
        case 'j': json = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("search");
        }
    }
    if (optind != argc - 1)
        return cli_fail(CLI_EXIT_USAGE, "search: %s; usage: greentune search EXPERIMENT.yaml --max-f1-drop PCT",
                        optind >= argc ? "no experiment file given" : "one experiment file at a time");
    if (!have_drop)
        return cli_fail(CLI_EXIT_USAGE, "search: --max-f1-drop PCT is required (percentage points of F1, e.g. 1)");
    if (!cli_check_output("--json", json))
        return CLI_EXIT_USAGE;
    experiment_session s;
    int retry = so.sweep.retry_failed;
    int rc = experiment_session_load(&s, argv[optind], db, quiet);
    if (rc == 0 && !quiet)
        experiment_note_unbuilt_knobs(&s.exp);
    if (rc == 0 && !cli_check_output("--db", s.db_path))
        rc = CLI_EXIT_USAGE;
    gt_error err = {0};
    if (rc == 0 && gt_store_open(&s.db, s.db_path, NULL, &err) != GT_OK)
        rc = cli_fail_error(&err);
    if (rc != 0) {
        experiment_session_close(&s);
        return rc;
    }
    so.sweep = s.sweep;
    so.sweep.retry_failed = retry;
    experiment_signals_install(&s);
    so.sweep.stop = s.sweep.stop;
    gt_search_result r;
    gt_status st = gt_search(s.db, &s.exp, &so, &r, &err);
    experiment_signals_restore();
    gt_progress_finish(s.progress);
    if (st != GT_OK) {
        rc = cli_fail_error(&err);
    } else {
        if (!quiet)
            experiment_print_summary(&s, stdout);
        printf("\n");
        print_result(&r, &s, so.max_f1_drop);
        if (json) {
            cJSON *j = result_json(&r, &s, so.max_f1_drop);
            if (!j || gt_json_write_file(json, j, &err) != GT_OK)
                rc = j ? cli_fail_error(&err) : cli_fail(CLI_EXIT_FAILURE, "search: out of memory");
            cJSON_Delete(j);
        }
        if (r.interrupted && rc == 0)
            rc = cli_fail(130, "search: stopped; run the same command again to continue");
    }
    gt_search_result_free(&r);
    experiment_session_close(&s);
    return rc;
}
