/* greentune measure [options] -- CMD [ARGS...]
 *
 * Runs CMD under a measurement (gt_measure_command), then reports: a summary
 * on stderr, and on request JSON (design.md's measure contract), a row of a
 * CodeCarbon-compatible emissions.csv, and a power-trace CSV. Returns CMD's
 * exit status (128+signal when it was killed; 127 when it does not exist). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "greentune/energy.h"
#include "greentune/fileio.h"

#define CSV_MAX_BYTES (64u << 20)

typedef struct {
    gt_measure_options measure;
    const char *json, *csv, *trace, *country, *project;
    double idle_s, carbon_intensity, pue;
    int quiet;
    char *const *argv;
} measure_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: greentune measure [options] -- CMD [ARGS...]\n"
            "\n"
            "Runs CMD (no shell) and measures its energy, power and emissions. CMD may mark\n"
            "tasks: echo \"start train\" >> \"$GREENTUNE_CONTROL\" ... echo \"stop train\" >> ...,\n"
            "and write a JSON object of metrics to \"$GREENTUNE_METRICS\".\n"
            "\n"
            "  --meter M             auto (default), rapl, perf, nvml, estimate, or a list: rapl+nvml\n"
            "  --scope S             what an estimate counts: process (CMD's process tree, default)\n"
            "                        or machine; real counters always see the whole machine\n"
            "  --interval-ms N       sampling period for peak power and the trace (default 100; 0: off)\n"
            "  --idle N              first measure N seconds of idle power, reported as idle_w\n"
            "  --json FILE           write the result as JSON\n"
            "  --csv FILE            append a row to FILE (CodeCarbon emissions.csv columns)\n"
            "  --trace FILE          write the power trace as CSV\n"
            "  --country ISO3        grid carbon intensity of a country (default: world average)\n"
            "  --carbon-intensity G  grid carbon intensity in g CO2e/kWh (overrides the table)\n"
            "  --pue X               data-centre power usage effectiveness (default 1.0)\n"
            "  --cpu-tdp W           estimate: TDP of one CPU package (default: from a table)\n"
            "  --project NAME        project_name column of the CSV (default greentune)\n"
            "  -q, --quiet           no summary on stderr\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit status: CMD's; 128+N when a signal N killed it; 126/127 when it cannot run;\n"
            "1 when measuring failed; 2 for a bad command line. SIGINT/SIGTERM/SIGHUP sent to\n"
            "greentune are forwarded to CMD.\n");
}

/* An existing CSV must have our header, so rows never land under other columns. */
static int check_csv_header(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    gt_error err = {0};
    gt_status s = gt_read_file(path, CSV_MAX_BYTES, &data, &len, &err);
    if (s == GT_ERR_NOT_FOUND)
        return 1;
    if (s != GT_OK) {
        cli_fail(CLI_EXIT_USAGE, "--csv %s", err.message);
        return 0;
    }
    const char *header = gt_energy_csv_header();
    int ok = len == 0 || !strncmp(data, header, strlen(header));
    free(data);
    if (!ok)
        cli_fail(CLI_EXIT_USAGE, "--csv %s: its header is not greentune's emissions.csv header; use a new file", path);
    return ok;
}

static int parse_args(int argc, char **argv, measure_args *a)
{
    enum { OPT_METER = 256, OPT_SCOPE, OPT_INTERVAL, OPT_IDLE, OPT_JSON, OPT_CSV, OPT_TRACE, OPT_COUNTRY,
           OPT_INTENSITY, OPT_PUE, OPT_TDP, OPT_PROJECT };
    static const struct option options[] = {
        {"meter", required_argument, 0, OPT_METER},     {"scope", required_argument, 0, OPT_SCOPE},
        {"interval-ms", required_argument, 0, OPT_INTERVAL}, {"idle", required_argument, 0, OPT_IDLE},
        {"json", required_argument, 0, OPT_JSON},       {"csv", required_argument, 0, OPT_CSV},
        {"trace", required_argument, 0, OPT_TRACE},     {"country", required_argument, 0, OPT_COUNTRY},
        {"carbon-intensity", required_argument, 0, OPT_INTENSITY}, {"pue", required_argument, 0, OPT_PUE},
        {"cpu-tdp", required_argument, 0, OPT_TDP},     {"project", required_argument, 0, OPT_PROJECT},
        {"quiet", no_argument, 0, 'q'},                 {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    gt_measure_options_init(&a->measure);
    a->carbon_intensity = -1;
    a->pue = 1.0;
    a->project = "greentune";
    long n;
    int c;
    optind = 1;
    /* '+': options end at the command's name, so its own options stay its own. */
    while ((c = getopt_long(argc, argv, "+qh", options, NULL)) != -1) {
        switch (c) {
        case OPT_METER:
            a->measure.meter = optarg;
            break;
        case OPT_SCOPE:
            if (strcmp(optarg, "process") && strcmp(optarg, "machine"))
                return cli_fail(CLI_EXIT_USAGE, "--scope '%s': use process or machine", optarg);
            a->measure.scope = strcmp(optarg, "machine") ? GT_SCOPE_PROCESS : GT_SCOPE_MACHINE;
            break;
        case OPT_INTERVAL:
            if (!cli_parse_long("--interval-ms", optarg, 0, 60000, &n))
                return CLI_EXIT_USAGE;
            a->measure.interval_ms = (int)n;
            break;
        case OPT_IDLE:
            if (!cli_parse_double("--idle", optarg, 0.01, 3600, &a->idle_s))
                return CLI_EXIT_USAGE;
            break;
        case OPT_JSON: a->json = optarg; break;
        case OPT_CSV: a->csv = optarg; break;
        case OPT_TRACE:
            a->trace = optarg;
            a->measure.keep_trace = 1;
            break;
        case OPT_COUNTRY: a->country = optarg; break;
        case OPT_INTENSITY:
            if (!cli_parse_double("--carbon-intensity", optarg, 0, 5000, &a->carbon_intensity))
                return CLI_EXIT_USAGE;
            break;
        case OPT_PUE:
            if (!cli_parse_double("--pue", optarg, 1, 10, &a->pue))
                return CLI_EXIT_USAGE;
            break;
        case OPT_TDP:
            if (!cli_parse_double("--cpu-tdp", optarg, 0.1, 10000, &a->measure.cpu_tdp_w))
                return CLI_EXIT_USAGE;
            break;
        case OPT_PROJECT: a->project = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error("measure");
        }
    }
    if (optind >= argc)
        return cli_fail(CLI_EXIT_USAGE, "measure: no command given; usage: greentune measure [options] -- CMD [ARGS...]");
    a->argv = argv + optind;
    gt_error err = {0};
    if (gt_meter_spec_check(a->measure.meter, &err) != GT_OK)
        return cli_fail(CLI_EXIT_USAGE, "--%s", err.message);
    if (!cli_check_output("--json", a->json) || !cli_check_output("--csv", a->csv) ||
        !cli_check_output("--trace", a->trace))
        return CLI_EXIT_USAGE;
    if (a->csv && !check_csv_header(a->csv))
        return CLI_EXIT_USAGE;
    return 0;
}

static void print_warning(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "greentune: warning: %s\n", line);
}

/* The command as one line, for the summary and the CSV. */
static char *command_line(char *const *argv)
{
    size_t n = 1;
    for (int i = 0; argv[i]; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; argv[i]; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static cJSON *result_json(const measure_args *a, const gt_command_result *r, const gt_carbon *carbon,
                          const gt_energy_result *idle)
{
    cJSON *o = gt_energy_result_to_json(&r->energy, carbon);
    if (!o)
        return NULL;
    cJSON *command = cJSON_CreateArray();
    for (int i = 0; a->argv[i]; i++)
        cJSON_AddItemToArray(command, cJSON_CreateString(a->argv[i]));
    cJSON_AddItemToObject(o, "command", command);
    cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
    if (r->term_signal)
        cJSON_AddNumberToObject(o, "signal", r->term_signal);
    if (idle) {
        cJSON_AddNumberToObject(o, "idle_w", idle->avg_power_w);
        cJSON_AddNumberToObject(o, "idle_s", idle->total.duration_s);
        cJSON_AddStringToObject(o, "idle_meter", idle->meter);
        if (r->energy.scope == GT_SCOPE_MACHINE)
            cJSON_AddNumberToObject(o, "energy_above_idle_j",
                                    r->energy.total.energy_j - idle->avg_power_w * r->energy.total.duration_s);
    }
    if (r->metrics)
        cJSON_AddItemToObject(o, "metrics", cJSON_Duplicate(r->metrics, 1));
    cJSON *warnings = cJSON_AddArrayToObject(o, "warnings");
    for (int i = 0; i < r->warning_count; i++)
        cJSON_AddItemToArray(warnings, cJSON_CreateString(r->warnings[i]));
    return o;
}

static int write_json(const char *path, const cJSON *o)
{
    char *text = o ? cJSON_Print(o) : NULL;
    gt_error err = {0};
    gt_status s = text ? GT_OK : gt_error_set(&err, GT_ERR_NOMEM, "%s: out of memory", path);
    if (s == GT_OK) {
        size_t len = strlen(text);
        text[len] = '\n'; /* the NUL's byte becomes the file's final newline */
        s = gt_write_file_atomic(path, text, len + 1, &err);
    }
    free(text);
    if (s != GT_OK)
        cli_fail_error(&err);
    return s == GT_OK;
}

/* A random (version 4) UUID, as CodeCarbon's run_id. */
static void uuid4(char out[37])
{
    unsigned char b[16] = {0};
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(rand() >> 7);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int append_csv(const measure_args *a, const gt_command_result *r, const gt_carbon *carbon,
                      const char *command)
{
    char stamp[32], run_id[37];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    uuid4(run_id);
    gt_csv_run run = {stamp, run_id, a->project, command, r->exit_code};
    char *row = gt_energy_csv_row(&r->energy, carbon, &run);
    char *old = NULL;
    size_t old_len = 0;
    gt_error err = {0};
    gt_status s = row ? gt_read_file(a->csv, CSV_MAX_BYTES, &old, &old_len, &err)
                      : gt_error_set(&err, GT_ERR_NOMEM, "%s: out of memory", a->csv);
    if (s == GT_ERR_NOT_FOUND || (s == GT_OK && old_len == 0)) {
        free(old);
        old = strdup(gt_energy_csv_header());
        old_len = old ? strlen(old) : 0;
        s = old ? GT_OK : gt_error_set(&err, GT_ERR_NOMEM, "%s: out of memory", a->csv);
    }
    char *all = NULL;
    if (s == GT_OK) {
        int newline = old_len && old[old_len - 1] != '\n';
        size_t n = old_len + (size_t)newline + strlen(row);
        if (!(all = malloc(n + 1)))
            s = gt_error_set(&err, GT_ERR_NOMEM, "%s: out of memory", a->csv);
        else {
            snprintf(all, n + 1, "%s%s%s", old, newline ? "\n" : "", row);
            s = gt_write_file_atomic(a->csv, all, n, &err);
        }
    }
    free(row);
    free(old);
    free(all);
    if (s != GT_OK)
        cli_fail_error(&err);
    return s == GT_OK;
}

static int write_trace(const char *path, const gt_energy_result *e)
{
    gt_atomic_file file;
    gt_error err = {0};
    gt_status s = gt_atomic_file_open(&file, path, &err);
    if (s == GT_OK && (s = gt_energy_trace_csv(e, file.stream, &err)) != GT_OK)
        gt_atomic_file_abort(&file);
    else if (s == GT_OK)
        s = gt_atomic_file_commit(&file, &err);
    if (s != GT_OK)
        cli_fail_error(&err);
    return s == GT_OK;
}

/* The command for the summary: one line, at most 72 characters. */
static void shorten(char *command)
{
    for (char *p = command; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    if (strlen(command) > 72)
        memcpy(command + 69, "...", 4);
}

static const char *est(const gt_energy_result *e) { return e->estimated ? "  (estimated)" : ""; }

static void summary(const char *command, const gt_command_result *r, const gt_carbon *carbon,
                    const gt_energy_result *idle)
{
    const gt_energy_result *e = &r->energy;
    fprintf(stderr, "greentune: `%s` ", command);
    if (r->term_signal)
        fprintf(stderr, "was killed by signal %d (exit status %d)", r->term_signal, r->exit_code);
    else
        fprintf(stderr, "exited %d", r->exit_code);
    fprintf(stderr, " after %.3f s\n", e->total.duration_s);
    fprintf(stderr, "  energy     %.4g J%s: cpu %.4g J, dram %.4g J, gpu %.4g J\n", e->total.energy_j, est(e),
            e->total.joules[GT_CPU], e->total.joules[GT_DRAM], e->total.joules[GT_GPU]);
    fprintf(stderr, "  power      avg %.4g W, peak %.4g W (%ld sample%s every %d ms)%s\n", e->avg_power_w,
            e->peak_power_w, e->sample_count, e->sample_count == 1 ? "" : "s", e->interval_ms, est(e));
    fprintf(stderr, "  emissions  %.4g g CO2e at %g g/kWh x PUE %g (%s)%s\n",
            gt_carbon_grams(carbon, e->total.energy_j), carbon->g_per_kwh, carbon->pue,
            carbon->country[0] ? carbon->country_name : carbon->source, est(e));
    fprintf(stderr, "  meter      %s\n", e->description);
    for (int i = 0; i < e->task_count; i++)
        fprintf(stderr, "  task       %-16s %.4g J in %.3f s (%d run%s)%s\n", e->tasks[i].name,
                e->tasks[i].window.energy_j, e->tasks[i].window.duration_s, e->tasks[i].runs,
                e->tasks[i].runs == 1 ? "" : "s", est(e));
    if (idle)
        fprintf(stderr, "  idle       %.4g W over %.1f s (%s, whole machine)%s\n", idle->avg_power_w,
                idle->total.duration_s, idle->meter, est(idle));
    for (int i = 0; i < e->note_count; i++)
        fprintf(stderr, "  note       %s\n", e->notes[i]);
}

int cmd_measure(int argc, char **argv)
{
    measure_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    gt_error err = {0};
    gt_carbon carbon;
    if (gt_carbon_resolve(a.country, a.carbon_intensity, a.pue, &carbon, &err) != GT_OK)
        return cli_fail(CLI_EXIT_USAGE, "%s", err.message);

    gt_energy_result idle;
    memset(&idle, 0, sizeof idle);
    if (a.idle_s > 0) {
        if (!a.quiet)
            fprintf(stderr, "greentune: measuring idle power for %g s\n", a.idle_s);
        if (gt_measure_idle(&a.measure, a.idle_s, &idle, &err) != GT_OK)
            return cli_fail_error(&err);
    }

    gt_command_options o = {a.argv, a.measure, print_warning, NULL};
    gt_command_result r;
    gt_status s = gt_measure_command(&o, &r, &err);
    if (s != GT_OK) {
        int code = r.exit_code ? r.exit_code : CLI_EXIT_FAILURE;
        cli_fail(code, "%s", err.message);
        gt_command_result_free(&r);
        gt_energy_result_free(&idle);
        return code;
    }
    char *command = command_line(a.argv);
    const gt_energy_result *idle_p = a.idle_s > 0 ? &idle : NULL;
    int ok = 1;
    if (a.json) {
        cJSON *json = result_json(&a, &r, &carbon, idle_p);
        ok &= write_json(a.json, json);
        cJSON_Delete(json);
    }
    if (a.csv)
        ok &= append_csv(&a, &r, &carbon, command);
    if (a.trace)
        ok &= write_trace(a.trace, &r.energy);
    if (!a.quiet && command) {
        shorten(command);
        summary(command, &r, &carbon, idle_p);
    }
    int code = ok ? r.exit_code : r.exit_code ? r.exit_code : CLI_EXIT_FAILURE;
    free(command);
    gt_command_result_free(&r);
    gt_energy_result_free(&idle);
    return code;
}
