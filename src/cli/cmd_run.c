/* greentune run PIPELINE.yaml [--knob SPEC]... [--set KEY=VALUE]... [--out DIR]
 *                             [--json FILE] [--predictions FILE] [--dry-run]
 *
 * One metered fine-tuning run of the built-in pipeline (design.md): the six
 * stages' energy and time, the test metrics, the knobs and their evidence. A
 * summary goes to stderr; the run record to --json. Ctrl-C stops the run at
 * the next batch, restores machine state and leaves no checkpoint behind.
 * Under mpirun or srun the ranks train data-parallel (docs/cluster.md); rank
 * 0 shows the progress, writes the files and says what went wrong. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "greentune/config.h"
#include "greentune/parallel.h"
#include "greentune/pipeline.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fputs("usage: greentune run PIPELINE.yaml [--knob SPEC]... [--set KEY=VALUE]... [--out DIR]\n"
          "                     [--json FILE] [--predictions FILE] [--dry-run] [-q]\n"
          "\n"
          "Fine-tunes a classifier as PIPELINE.yaml describes and measures the energy and time of\n"
          "each stage: data, tokenize, load, train, save, eval (anything between them is 'other').\n"
          "\n"
          "  --knob SPEC         apply a knob (repeatable): NAME, NAME=VALUE or 'NAME={k: v}';\n"
          "                     see 'greentune knobs'\n"
          "  --set KEY=VALUE     override a key of the file (repeatable): --set train.epochs=3\n"
          "  --out DIR           keep the checkpoint: a Hugging Face model directory (config.json,\n"
          "                     model.safetensors, tokenizer.json) for 'greentune predict'\n"
          "  --json FILE         write the run record (stages, total, metrics, knobs, model, ...)\n"
          "  --predictions FILE  write the test split's predictions as JSON Lines\n"
          "  --dry-run           check the file and the knobs, print the plan, run nothing\n"
          "  -q, --quiet         no progress and no summary (errors still print)\n"
          "  -h, --help          this help\n"
          "\n"
          "Under mpirun or srun (N ranks) the ranks train data-parallel: each takes 1/N of every batch\n"
          "and the gradients are summed with MPI_Allreduce; the record's energy is summed over the\n"
          "nodes, with each node, each rank and the communication under \"parallel\" (docs/cluster.md).\n"
          "\n"
          "Exit status: 0 done, 1 the run failed (one line says why), 2 a bad command line,\n"
          "pipeline file or knob (nothing ran), 130 interrupted.\n",
          out);
}

typedef struct {
    const char *pipeline, *out, *json, *predictions;
    const char **sets, **knobs;
    size_t n_sets, n_knobs;
    int dry_run, quiet;
} run_args;

static int parse_args(int argc, char **argv, run_args *a)
{
    enum { OPT_KNOB = 256, OPT_SET, OPT_OUT, OPT_JSON, OPT_PREDICTIONS, OPT_DRY_RUN };
    static const struct option options[] = {
        {"knob", required_argument, 0, OPT_KNOB},   {"set", required_argument, 0, OPT_SET},
        {"out", required_argument, 0, OPT_OUT},     {"json", required_argument, 0, OPT_JSON},
        {"predictions", required_argument, 0, OPT_PREDICTIONS},
        {"dry-run", no_argument, 0, OPT_DRY_RUN},   {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    a->knobs = calloc((size_t)argc, sizeof *a->knobs);
    if (!a->sets || !a->knobs)
        return cli_fail(CLI_EXIT_FAILURE, "run: out of memory");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        switch (c) {
        case OPT_KNOB: a->knobs[a->n_knobs++] = optarg; break;
        case OPT_SET: a->sets[a->n_sets++] = optarg; break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_JSON: a->json = optarg; break;
        case OPT_PREDICTIONS: a->predictions = optarg; break;
        case OPT_DRY_RUN: a->dry_run = 1; break;
        case 'q': a->quiet = 1; break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error("run");
        }
    }
    if (optind != argc - 1)
        return cli_fail(CLI_EXIT_USAGE, "run: %s; usage: greentune run PIPELINE.yaml [options]",
                        optind >= argc ? "no pipeline file given" : "one pipeline file at a time");
    a->pipeline = argv[optind];
    if (!cli_check_output("--json", a->json) || !cli_check_output("--predictions", a->predictions))
        return CLI_EXIT_USAGE;
    return 0;
}

/* Notes from the run, on their own line even while a progress bar is drawn. */
static void log_line(void *ctx, const char *line)
{
    gt_progress_finish(ctx);
    fprintf(stderr, "greentune: %s\n", line);
}

/* The plan; a knob that cannot apply to this pipeline or machine fails the dry
 * run as it would fail the run (err filled). */
static gt_status print_plan(const gt_pipeline_spec *s, const gt_knob_set *knobs, gt_error *err)
{
    printf("pipeline %s (dry run: nothing runs, nothing changes)\n", gt_config_label(s->config));
    printf("  data       %s %s, limit %zu, split %g/%g/%g, seed %llu\n", gt_data_format_name(s->data.format),
           s->data_path, s->limit, s->split[0], s->split[1], s->split[2], (unsigned long long)s->data_seed);
    if (s->tokenizer_path || s->model_from)
        printf("  tokenizer  %s%s\n", s->tokenizer_path ? s->tokenizer_path : s->model_from,
               s->tokenizer_path ? "" : "/tokenizer.json");
    else
        printf("  tokenizer  WordPiece trained on the training split, %zu tokens%s\n", s->wordpiece.vocab_size,
               s->wordpiece.lowercase ? ", lowercased" : "");
    if (s->model_from)
        printf("  model      %s (config.json + model.safetensors), max_len %d\n", s->model_from, s->max_len);
    else
        printf("  model      %s from scratch: %d layers, dim %d, %d heads, ffn %d, max_len %d\n", s->arch, s->layers,
               s->dim, s->heads, s->ffn, s->max_len);
    printf("  train      %d epoch%s, batch %zu, lr %g (%s, warmup %g), weight decay %g, clip %g, %s, seed %llu\n",
           s->epochs, s->epochs == 1 ? "" : "s", s->batch, s->lr, s->schedule, s->warmup, s->weight_decay, s->clip,
           s->optimizer, (unsigned long long)s->seed);
    printf("  eval       batch %zu\n", s->eval_batch);
    printf("  system     threads %d%s, meter %s\n", s->threads, s->threads ? "" : " (OpenMP's default)", s->meter);
    gt_knob_context ctx = {.pipeline = s};
    return knobs->count ? gt_knob_set_describe(knobs, &ctx, stdout, err) : GT_OK;
}

/* The exit code of a failed run; rank 0 says why (another rank's failure
 * reaches it through gt_world_agree), other ranks only when the job is
 * broken and about to end, since then rank 0 may not get to say it. */
static int run_failed(gt_world *w, int code, const gt_error *err)
{
    if (gt_world_rank(w) == 0 || gt_world_broken(w))
        cli_fail(code, "%s", err->message);
    if (gt_world_broken(w))
        gt_world_abort(w, code);
    return code;
}

static gt_status train(const run_args *a, gt_world *w, const gt_pipeline_spec *spec, gt_knob_set *knobs,
                       cJSON **record, gt_error *err)
{
    int lead = gt_world_rank(w) == 0;
    gt_progress_options po = {.tty = -1, .unit = "step"};
    gt_progress *progress = a->quiet || !lead ? NULL : gt_progress_new(&po);
    gt_run_options o;
    gt_run_options_init(&o);
    o.out_dir = a->out;
    o.predictions_path = a->predictions;
    o.label = a->pipeline;
    o.world = w;
    if (progress) {
        o.progress = gt_progress_sink_of(progress);
        o.log = log_line;
        o.log_ctx = progress;
    }
    o.stop = &stop_requested;
    struct sigaction action = {.sa_handler = on_stop}, old_int, old_term;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    gt_status st = gt_pipeline_run(spec, knobs, &o, record, err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    gt_progress_free(progress);
    if (st == GT_OK && lead && a->json && gt_json_write_file(a->json, *record, err) != GT_OK)
        st = err->status;
    return gt_world_agree(w, "run", st, err);
}

static int run(const run_args *a, gt_world *w)
{
    gt_error err = {0};
    gt_pipeline_spec spec;
    memset(&spec, 0, sizeof spec);
    gt_knob_set knobs;
    gt_knob_set_init(&knobs);
    gt_status st = gt_pipeline_spec_load(a->pipeline, a->sets, a->n_sets, &spec, &err);
    if (st == GT_OK && (st = gt_pipeline_spec_knobs(&spec, a->knobs, a->n_knobs, &knobs, &err)) == GT_OK)
        st = gt_knob_set_check_available(&knobs, &err);
    int rc = 0;
    if ((st = gt_world_agree(w, a->pipeline, st, &err)) != GT_OK) {
        rc = run_failed(w, CLI_EXIT_USAGE, &err); /* a bad file or knob: nothing ran */
    } else if (a->dry_run) {
        if (gt_world_rank(w) == 0 && print_plan(&spec, &knobs, &err) != GT_OK) {
            fflush(stdout);
            rc = cli_fail(CLI_EXIT_FAILURE, "%s", err.message);
        }
    } else {
        cJSON *record = NULL;
        if ((st = train(a, w, &spec, &knobs, &record, &err)) != GT_OK)
            rc = run_failed(w, st == GT_ERR_INTERRUPTED ? 130 : CLI_EXIT_FAILURE, &err);
        else if (!a->quiet && gt_world_rank(w) == 0)
            gt_run_summary(record, stderr);
        cJSON_Delete(record);
    }
    gt_knob_set_free(&knobs);
    gt_pipeline_spec_free(&spec);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    run_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    gt_world *w = NULL;
    gt_error err = {0};
    if (rc == 0 && gt_mpi_launcher() && gt_world_init(&w, &err) != GT_OK)
        rc = cli_fail_error(&err);
    else if (rc == 0)
        rc = run(&a, w);
    gt_world_finalize(w);
    free(a.sets);
    free(a.knobs);
    return rc < 0 ? 0 : rc;
}
