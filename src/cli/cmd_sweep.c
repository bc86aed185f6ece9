/* greentune sweep EXPERIMENT.yaml [--db FILE] [--retry-failed] [--dry-run] [-q]
 *
 * Runs every variant x repeat of an experiment file into an SQLite database,
 * resumably: the same command after Ctrl-C, a crash or kill -9 continues with
 * the runs not yet done. Each run executes in a child process; a run that
 * fails is recorded and the sweep goes on. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "experiment_cli.h"

static void usage(FILE *out)
{
    fputs("usage: greentune sweep EXPERIMENT.yaml [--db FILE] [--retry-failed] [--dry-run] [-q]\n"
          "\n"
          "Runs each variant of EXPERIMENT.yaml `repeats` times (randomized, interleaved order unless\n"
          "`order: sequential`), measuring every stage's energy, and stores each run in an SQLite\n"
          "database as it finishes. Running the same command again resumes: runs already done are\n"
          "kept, an interrupted one is redone, none is counted twice. Each run executes in its own\n"
          "process, so a run that fails or crashes is recorded (error and output tail) and the sweep\n"
          "goes on. Ctrl-C stops the run under way and puts it back in the plan.\n"
          "\n"
          "  --db FILE        the database (default: the experiment file's name with .db, beside it)\n"
          "  --retry-failed   run the failed runs again as well\n"
          "  --dry-run        check the file and print the plan; run nothing, write nothing\n"
          "  -q, --quiet      no progress and no per-run lines (errors still print)\n"
          "  -h, --help       this help\n"
          "\n"
          "Then: greentune report DB --out report.html. Experiment files: docs/experiments.md.\n"
          "Exit status: 0 every run done, 1 some run failed (or the database failed), 2 a bad\n"
          "command line or experiment file (nothing ran), 130 interrupted.\n",
          out);
}

static void print_plan(const experiment_session *s)
{
    const gt_experiment *e = &s->exp;
    size_t n = e->n_variants * (size_t)e->repeats;
    printf("experiment %s: %zu variants x %d repeats = %zu runs, %s order (seed %llu), database %s\n", e->name,
           e->n_variants, e->repeats, n, e->randomized ? "randomized" : "sequential", (unsigned long long)e->seed,
           s->db_path);
    if (e->pipeline)
        printf("  pipeline   %s\n", e->pipeline);
    printf("  baseline   %s\n  meter      %s\n", e->baseline, e->meter);
    if (e->idle_s > 0 || e->cooldown_s > 0 || e->timeout_s > 0)
        printf("  idle %g s before the sweep, cooldown %g s between runs, timeout %g s per run\n", e->idle_s,
               e->cooldown_s, e->timeout_s);
    for (size_t i = 0; i < e->n_variants; i++) {
        const gt_sweep_variant *v = &e->variants[i];
        printf("  %-20s %s\n", v->name,
               v->command_json ? v->command_json : v->knobs_json ? v->knobs_json : "(no knobs)");
    }
    gt_run_plan *plan = calloc(n, sizeof *plan);
    if (!plan)
        return;
    gt_experiment_plan(e, plan);
    printf("  order     ");
    for (size_t i = 0; i < n && i < 40; i++)
        printf(" %s#%d", plan[i].variant, plan[i].repeat + 1);
    printf("%s\n", n > 40 ? " ..." : "");
    free(plan);
}

int cmd_sweep(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, 0, 'd'},    {"retry-failed", no_argument, 0, 'r'},
        {"dry-run", no_argument, 0, 'n'},     {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *db = NULL;
    int retry_failed = 0, dry_run = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'r': retry_failed = 1; break;
        case 'n': dry_run = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("sweep");
        }
    }
    if (optind != argc - 1)
        return cli_fail(CLI_EXIT_USAGE, "sweep: %s; usage: greentune sweep EXPERIMENT.yaml [--db FILE]",
                        optind >= argc ? "no experiment file given" : "one experiment file at a time");
    experiment_session s;
    int rc = experiment_session_load(&s, argv[optind], db, quiet);
    if (rc == 0 && dry_run) {
        print_plan(&s);
        experiment_session_close(&s);
        return 0;
    }
    if (rc == 0 && !quiet)
        experiment_note_unbuilt_knobs(&s.exp);
    if (rc == 0)
        rc = experiment_session_open_db(&s);
    if (rc != 0) {
        experiment_session_close(&s);
        return rc;
    }
    s.sweep.retry_failed = retry_failed;
    experiment_signals_install(&s);
    gt_sweep_summary summary;
    gt_error err = {0};
    gt_status st = gt_sweep_execute(s.db, &s.exp, s.experiment_id, s.exp.variants, s.exp.n_variants, &s.sweep,
                                    &summary, &err);
    experiment_signals_restore();
    gt_progress_finish(s.progress);
    if (st != GT_OK) {
        rc = cli_fail_error(&err);
    } else if (summary.interrupted) {
        rc = cli_fail(130, "sweep: stopped; %zu of %zu runs done — run the same command again to continue",
                      summary.planned - summary.remaining, summary.planned);
    } else {
        if (!quiet)
            experiment_print_summary(&s, stdout);
        if (summary.remaining)
            rc = cli_fail(CLI_EXIT_FAILURE,
                          "sweep: %zu of %zu runs failed (errors above and in `greentune report`) — fix the "
                          "cause and rerun with --retry-failed",
                          summary.remaining, summary.planned);
        else if (!quiet)
            fprintf(stderr, "greentune: sweep: all %zu runs done (%zu now, %zu before)\n", summary.planned,
                    summary.done, summary.done_before);
    }
    experiment_session_close(&s);
    return rc;
}
