/* greentune measure [options] -- CMD [ARGS...]
 *
 * Runs CMD under a measurement (gt_measure_command), then reports: a summary
 * on stderr, and on request JSON (design.md's measure contract), a row of a
 * CodeCarbon-compatible emissions.csv, and a power-trace CSV. Returns CMD's
 * exit status (128+signal when it was killed; 127 when it does not exist). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "energy_cli.h"
#include "greentune/config.h"
#include "greentune/energy.h"
#include "greentune/fileio.h"

#define CSV_MAX_BYTES (64u << 20)

typedef struct {
    energy_cli energy;
    const char *json, *csv, *trace, *project;
    double idle_s, thermal_band, thermal_timeout;
    int subtract_idle, have_idle_temps, quiet;
    gt_temperatures idle_temps;
    char *const *argv;
} measure_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: greentune measure [options] -- CMD [ARGS...]\n"
            "\n"
            "Runs CMD (no shell) and measures the machine's energy, power and emissions while it\n"
            "runs, and CMD's own share of them. CMD may mark tasks (they may nest) and report\n"
            "progress: echo \"start train\" >> \"$GREENTUNE_CONTROL\", ... \"progress train 0.1\" ...\n"
            "\"stop train\", and write a JSON object of metrics to \"$GREENTUNE_METRICS\".\n"
            "\n");
    energy_cli_help(out, 100);
    fprintf(out,
            "  --scope S             process (default): also report CMD's process tree's share of the\n"
            "                        energy (by CPU time, memory, GPU utilisation); machine: only the machine\n"
            "  --idle N              first measure N seconds of idle power (reported as idle_w, and\n"
            "                        energy_above_idle_j); remembered as the idle reference\n"
            "  --subtract-idle       the summary and the CSV show energy above idle (needs --idle)\n"
            "  --thermal-gate BAND   before CMD, wait until CPU/GPU temperatures are within BAND degrees C\n"
            "                        of idle (--idle-temp, else the last --idle reference)\n"
            "  --thermal-timeout S   give up waiting after S seconds and run anyway (default 600)\n"
            "  --idle-temp C[,G]     the idle CPU (and GPU) temperature for --thermal-gate\n"
            "  --forecast-at F       keep each task's forecast when its progress reaches F (default 0.1)\n"
            "  --json FILE           write the result as JSON\n"
            "  --csv FILE            append a row to FILE (CodeCarbon emissions.csv columns, then ours)\n"
            "  --trace FILE          write the power trace as CSV\n"
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

static int parse_args(int argc, char **argv, measure_args *a, gt_carbon *carbon)
{
    enum { OPT_SCOPE = 256, OPT_IDLE, OPT_JSON, OPT_CSV, OPT_TRACE, OPT_PROJECT, OPT_SUBTRACT, OPT_GATE,
           OPT_GATE_TIMEOUT, OPT_IDLE_TEMP, OPT_FORECAST_AT };
    static const struct option options[] = {
        ENERGY_CLI_OPTIONS,
        {"scope", required_argument, 0, OPT_SCOPE},     {"idle", required_argument, 0, OPT_IDLE},
        {"json", required_argument, 0, OPT_JSON},       {"csv", required_argument, 0, OPT_CSV},
        {"trace", required_argument, 0, OPT_TRACE},     {"project", required_argument, 0, OPT_PROJECT},
        {"subtract-idle", no_argument, 0, OPT_SUBTRACT}, {"thermal-gate", required_argument, 0, OPT_GATE},
        {"thermal-timeout", required_argument, 0, OPT_GATE_TIMEOUT},
        {"idle-temp", required_argument, 0, OPT_IDLE_TEMP}, {"forecast-at", required_argument, 0, OPT_FORECAST_AT},
        {"quiet", no_argument, 0, 'q'},                 {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    energy_cli_init(&a->energy);
    a->project = "greentune";
    a->thermal_timeout = 600;
    int c, rc;
    optind = 1;
    /* '+': options end at the command's name, so its own options stay its own. */
    while ((c = getopt_long(argc, argv, "+qh", options, NULL)) != -1) {
        if ((rc = energy_cli_option(&a->energy, c, optarg)) < 0)
            return CLI_EXIT_USAGE;
        if (rc)
            continue;
        switch (c) {
        case OPT_SCOPE:
            if (strcmp(optarg, "process") && strcmp(optarg, "machine"))
                return cli_fail(CLI_EXIT_USAGE, "--scope '%s': use process or machine", optarg);
            a->energy.measure.scope = strcmp(optarg, "machine") ? GT_SCOPE_PROCESS : GT_SCOPE_MACHINE;
            break;
        case OPT_IDLE:
            if (!cli_parse_double("--idle", optarg, 0.01, 3600, &a->idle_s))
                return CLI_EXIT_USAGE;
            break;
        case OPT_JSON: a->json = optarg; break;
        case OPT_CSV: a->csv = optarg; break;
        case OPT_TRACE:
            a->trace = optarg;
            a->energy.measure.keep_trace = 1;
            break;
        case OPT_PROJECT: a->project = optarg; break;
        case OPT_SUBTRACT: a->subtract_idle = 1; break;
        case OPT_GATE:
            if (!cli_parse_double("--thermal-gate", optarg, 0.1, 100, &a->thermal_band))
                return CLI_EXIT_USAGE;
            break;
        case OPT_GATE_TIMEOUT:
            if (!cli_parse_double("--thermal-timeout", optarg, 0, 86400, &a->thermal_timeout))
                return CLI_EXIT_USAGE;
            break;
        case OPT_IDLE_TEMP:
            if (!parse_idle_temps(optarg, &a->idle_temps))
                return CLI_EXIT_USAGE;
            a->have_idle_temps = 1;
            break;
        case OPT_FORECAST_AT:
            if (!cli_parse_double("--forecast-at", optarg, 0, 1, &a->energy.measure.forecast_at))
                return CLI_EXIT_USAGE;
            break;
        case 'q': a->quiet = 1; break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error("measure");
        }
    }
    if (optind >= argc)
        return cli_fail(CLI_EXIT_USAGE, "measure: no command given; usage: greentune measure [options] -- CMD [ARGS...]");
    a->argv = argv + optind;
    if (a->subtract_idle && a->idle_s <= 0)
        return cli_fail(CLI_EXIT_USAGE, "--subtract-idle: there is no idle power to subtract; add --idle N");
    if (!energy_cli_finish(&a->energy, carbon))
        return CLI_EXIT_USAGE;
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

static cJSON *result_json(const measure_args *a, const gt_command_result *r, const gt_carbon *carbon)
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
    if (r->metrics)
        cJSON_AddItemToObject(o, "metrics", cJSON_Duplicate(r->metrics, 1));
    cJSON *warnings = cJSON_AddArrayToObject(o, "warnings");
    for (int i = 0; i < r->warning_count; i++)
        cJSON_AddItemToArray(warnings, cJSON_CreateString(r->warnings[i]));
    return o;
}

static int write_json(const char *path, const cJSON *o)
{
    gt_error err = {0};
    gt_status s = o ? gt_json_write_file(path, o, &err) : gt_error_set(&err, GT_ERR_NOMEM, "%s: out of memory", path);
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

static void print_components(const char *label, const gt_energy_window *w, const gt_energy_result *e)
{
    fprintf(stderr, "  %-10s %.4g J%s: cpu %.4g J, dram %.4g J, gpu %.4g J\n", label, w->energy_j, est(e), w->joules[GT_CPU],
            w->joules[GT_DRAM], w->joules[GT_GPU]);
}

/* How deep a task nests (parents are listed before their children). */
static int depth(const gt_energy_result *e, const gt_task_result *t)
{
    int d = 0;
    for (const char *parent = t->parent; parent[0] && d < 8; d++) {
        const char *next = "";
        for (int i = 0; i < e->task_count; i++)
            if (!strcmp(e->tasks[i].name, parent))
                next = e->tasks[i].parent;
        parent = next;
    }
    return d;
}

static void summary_tasks(const gt_energy_result *e, const gt_carbon *carbon)
{
    for (int i = 0; i < e->task_count; i++) {
        const gt_task_result *t = &e->tasks[i];
        int d = depth(e, t);
        fprintf(stderr, "  task       %*s%-*s %.4g J in %.3f s (%d run%s)", 2 * d, "", 16 - 2 * d, t->name,
                t->window.energy_j, t->window.duration_s, t->runs, t->runs == 1 ? "" : "s");
        if (e->process.attributed)
            fprintf(stderr, ", process %.4g J", t->process.energy_j);
        fprintf(stderr, "%s\n", est(e));
        const gt_forecast *f = &t->forecast;
        if (!t->has_forecast)
            continue;
        fprintf(stderr, "    forecast at %.0f %%: %.4g J, %.4g s, %.3g g CO2e", f->fraction * 100, f->task_energy_j,
                f->task_duration_s, gt_carbon_grams(carbon, f->task_energy_j));
        if (f->has_error)
            fprintf(stderr, " (off by %+.1f %% and %+.1f %% from the measured task)", f->energy_error_pct,
                    f->duration_error_pct);
        fprintf(stderr, "%s\n", est(e));
    }
}

static void summary(const char *command, const gt_command_result *r, const gt_carbon *carbon)
{
    const gt_energy_result *e = &r->energy;
    fprintf(stderr, "greentune: `%s` ", command);
    if (r->term_signal)
        fprintf(stderr, "was killed by signal %d (exit status %d)", r->term_signal, r->exit_code);
    else
        fprintf(stderr, "exited %d", r->exit_code);
    fprintf(stderr, " after %.3f s\n", e->total.duration_s);
    print_components("energy", &e->total, e);
    if (e->process.attributed)
        print_components("process", &e->process.window, e);
    fprintf(stderr, "  power      avg %.4g W, peak %.4g W (%ld sample%s every %d ms)%s\n", e->avg_power_w,
            e->peak_power_w, e->sample_count, e->sample_count == 1 ? "" : "s", e->interval_ms, est(e));
    double headline = e->total.energy_j;
    if (e->idle.measured) {
        double above = e->total.energy_j - e->idle.power_w * e->total.duration_s;
        fprintf(stderr, "  idle       %.4g W over %.1f s (%s, whole machine)%s; above idle %.4g J%s\n",
                e->idle.power_w, e->idle.duration_s, e->idle.meter, e->idle.estimated ? " (estimated)" : "", above,
                e->idle.subtract ? " (the figure below)" : "");
        if (e->idle.subtract)
            headline = above;
    }
    fprintf(stderr, "  emissions  %.4g g CO2e at %g g/kWh x PUE %g (%s)%s\n", gt_carbon_grams(carbon, headline),
            carbon->g_per_kwh, carbon->pue, carbon->country[0] ? carbon->country_name : carbon->source, est(e));
    fprintf(stderr, "  meter      %s\n", e->description);
    if (e->thermal.checked)
        fprintf(stderr, "  thermal    waited %.1f s to be within %g C of idle%s\n", e->thermal.waited_s,
                e->thermal.band_c, e->thermal.timed_out ? " and gave up (timed out)" : "");
    summary_tasks(e, carbon);
    for (int i = 0; i < e->note_count; i++)
        fprintf(stderr, "  note       %s\n", e->notes[i]);
}

/* Forecast lines as progress arrives: the first one, then one per tenth of the task. */
typedef struct {
    const gt_carbon *carbon;
    char names[64][GT_TASK_NAME_MAX + 1];
    int tenths[64];
    int count;
} forecast_printer;

static void print_forecast(void *ctx, const gt_forecast *f)
{
    forecast_printer *p = ctx;
    int i = 0;
    while (i < p->count && strcmp(p->names[i], f->task))
        i++;
    if (i == p->count && p->count < 64) {
        snprintf(p->names[p->count], sizeof p->names[0], "%s", f->task);
        p->tenths[p->count++] = -1;
    }
    int tenth = (int)(f->fraction * 10);
    if (i < 64 && tenth <= p->tenths[i])
        return;
    if (i < 64)
        p->tenths[i] = tenth;
    fprintf(stderr, "greentune: forecast %s at %.0f %%: %.4g J, %.4g s, %.3g g CO2e; whole run %.4g J, %.4g s%s\n",
            f->task, f->fraction * 100, f->task_energy_j, f->task_duration_s,
            gt_carbon_grams(p->carbon, f->task_energy_j), f->run_energy_j, f->run_duration_s,
            f->estimated ? "  (estimated)" : "");
}

/* --idle: measure, remember as the reference for later thermal gates. */
static int measure_idle(measure_args *a, gt_energy_result *idle)
{
    gt_error err = {0};
    if (!a->quiet)
        fprintf(stderr, "greentune: measuring idle power for %g s\n", a->idle_s);
    if (gt_measure_idle(&a->energy.measure, a->idle_s, idle, &err) != GT_OK)
        return cli_fail_error(&err);
    gt_temperatures temps;
    gt_temperatures_read(&temps);
    idle_reference_save(idle->avg_power_w, &temps);
    if (!a->have_idle_temps) {
        a->idle_temps = temps;
        a->have_idle_temps = temps.cpu_sensors || temps.gpu_sensors;
    }
    return 0;
}

static int thermal_gate(measure_args *a, gt_thermal_report *report)
{
    idle_reference ref;
    if (!a->have_idle_temps && idle_reference_load(&ref)) {
        a->idle_temps = ref.temps;
        a->have_idle_temps = 1;
    }
    if (!a->have_idle_temps)
        return cli_fail(CLI_EXIT_USAGE, "--thermal-gate: no idle temperature known; measure one on an idle machine "
                        "(greentune measure --idle 10 -- true) or give --idle-temp C");
    gt_thermal_options o = {a->thermal_band, a->thermal_timeout, 1000, a->idle_temps, NULL, NULL, NULL};
    if (!a->idle_temps.cpu_sensors)
        o.idle.cpu_c = NAN;
    if (!a->idle_temps.gpu_sensors)
        o.idle.gpu_c = NAN;
    gt_error err = {0};
    if (gt_thermal_wait(&o, report, &err) != GT_OK)
        return cli_fail_error(&err);
    if (report->timed_out)
        fprintf(stderr, "greentune: warning: thermal gate: still above idle + %g C after %g s (CPU %.1f C, idle "
                "%.1f C); running anyway\n", a->thermal_band, report->waited_s, report->end.cpu_c, o.idle.cpu_c);
    return 0;
}

int cmd_measure(int argc, char **argv)
{
    measure_args a;
    memset(&a, 0, sizeof a);
    gt_carbon carbon;
    int rc = parse_args(argc, argv, &a, &carbon);
    if (rc)
        return rc < 0 ? 0 : rc;
    gt_energy_result idle;
    memset(&idle, 0, sizeof idle);
    gt_thermal_report thermal;
    memset(&thermal, 0, sizeof thermal);
    if ((a.idle_s > 0 && (rc = measure_idle(&a, &idle))) || (a.thermal_band > 0 && (rc = thermal_gate(&a, &thermal)))) {
        gt_energy_result_free(&idle);
        return rc;
    }
    forecast_printer printer = {&carbon, {{0}}, {0}, 0};
    if (!a.quiet) {
        a.energy.measure.on_forecast = print_forecast;
        a.energy.measure.forecast_ctx = &printer;
    }
    gt_command_options o = {a.argv, a.energy.measure, print_warning, NULL};
    gt_command_result r;
    gt_error err = {0};
    gt_status s = gt_measure_command(&o, &r, &err);
    if (s != GT_OK) {
        int code = r.exit_code ? r.exit_code : CLI_EXIT_FAILURE;
        cli_fail(code, "%s", err.message);
        gt_command_result_free(&r);
        gt_energy_result_free(&idle);
        return code;
    }
    if (a.idle_s > 0)
        gt_energy_result_set_idle(&r.energy, &idle, a.subtract_idle);
    r.energy.thermal = thermal;
    char *command = command_line(a.argv);
    int ok = 1;
    if (a.json) {
        cJSON *json = result_json(&a, &r, &carbon);
        ok &= write_json(a.json, json);
        cJSON_Delete(json);
    }
    if (a.csv)
        ok &= append_csv(&a, &r, &carbon, command);
    if (a.trace)
        ok &= write_trace(a.trace, &r.energy);
    if (!a.quiet && command) {
        shorten(command);
        summary(command, &r, &carbon);
    }
    int code = ok ? r.exit_code : r.exit_code ? r.exit_code : CLI_EXIT_FAILURE;
    free(command);
    gt_command_result_free(&r);
    gt_energy_result_free(&idle);
    return code;
}
