/* greentune knobs: the catalog as a table, JSON or Markdown; with --knob, a
 * check of a knob set and a dry run of what it would change. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "greentune/config.h"
#include "greentune/knobs.h"

static void usage(FILE *out)
{
    fputs("usage: greentune knobs [--json | --markdown] [--knob NAME[=VALUE]]...\n"
          "\n"
          "Without options, prints the knob catalog as a table: name, phase, resource,\n"
          "the variant of the paper it reproduces, and parameters with their defaults.\n"
          "\n"
          "  --json             the catalog as JSON (parameters with types, ranges, choices;\n"
          "                     conflicts; evidence keys; whether the effect is built)\n"
          "  --markdown         the catalog as a Markdown table (docs/knobs.md)\n"
          "  --knob SPEC        check a knob (repeatable) and show what the set would change,\n"
          "                     applying nothing (a dry run). SPEC: NAME, NAME=VALUE or\n"
          "                     'NAME={param: value, ...}', e.g. --knob seq_trim=128\n"
          "                     --knob 'prune_layers={n: 2, from: bottom}'\n"
          "  -h, --help         this help\n",
          out);
}

/* "max_len=128", "watts=<required>", "n=<unset>"; '*' marks the parameter a
 * bare value fills (seq_trim=128). */
static const char *param_summary(const gt_knob_def *def, int code, char *buf, size_t size)
{
    size_t used = 0;
    const char *quote = code ? "`" : "";
    buf[0] = '\0';
    for (const gt_knob_param *p = def->params; p && p->name; p++) {
        const char *value = !p->fallback ? "<required>" : !p->fallback[0] ? "<unset>" : p->fallback;
        int n = snprintf(buf + used, size - used, "%s%s%s%s=%s%s", used ? " " : "", quote, p->shorthand ? "*" : "",
                         p->name, value, quote);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return used ? buf : "-";
}

/* Conflicts as declared on either knob: "other", "other (if mine=..)" when it
 * depends on this knob's parameters, "other (with theirs=..)" on the other's. */
static const char *conflict_summary(const gt_knob_def *def, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0, n = gt_knob_count(); i < n; i++) {
        const gt_knob_def *other = gt_knob_at(i);
        for (const gt_knob_conflict *c = other->conflicts; c && c->knob; c++) {
            const char *name, *mine, *theirs;
            if (other == def) {
                name = c->knob, mine = c->when, theirs = c->other_when;
            } else if (!strcmp(c->knob, def->name)) {
                name = other->name, mine = c->other_when, theirs = c->when;
            } else {
                continue;
            }
            int k = mine || theirs ? snprintf(buf + used, size - used, "%s%s (%s %s)", used ? ", " : "", name,
                                              mine ? "if" : "with", mine ? mine : theirs)
                                   : snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
            if (k < 0 || (size_t)k >= size - used)
                return buf;
            used += (size_t)k;
        }
    }
    return used ? buf : "-";
}

static void print_cell(const char *text, int width)
{
    printf("%s%*s", text, width - cli_display_width(text) + 2, "");
}

static void print_table(void)
{
    enum { COLUMNS = 4 };
    const char *header[COLUMNS] = {"KNOB", "PHASE", "RESOURCE", "PAPER"};
    char cells[COLUMNS][64], params[512];
    int width[COLUMNS];
    for (int c = 0; c < COLUMNS; c++)
        width[c] = cli_display_width(header[c]);
    /* Two passes: measure every cell, then print padded to the widest. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            for (int c = 0; c < COLUMNS; c++)
                print_cell(header[c], width[c]);
            puts("PARAMETERS (* = NAME=VALUE fills it)");
        }
        for (size_t i = 0, n = gt_knob_count(); i < n; i++) {
            const gt_knob_def *def = gt_knob_at(i);
            snprintf(cells[0], sizeof cells[0], "%s", def->name);
            gt_knob_phase_names(def->phases, cells[1], sizeof cells[1]);
            gt_knob_resource_names(def->resources, cells[2], sizeof cells[2]);
            snprintf(cells[3], sizeof cells[3], "%s", def->paper);
            for (int c = 0; c < COLUMNS; c++) {
                if (pass)
                    print_cell(cells[c], width[c]);
                else if (cli_display_width(cells[c]) > width[c])
                    width[c] = cli_display_width(cells[c]);
            }
            if (pass)
                puts(param_summary(def, 0, params, sizeof params));
        }
    }
}

/* A Markdown table cell: '|' would end it. */
static void md_cell(const char *text)
{
    fputs(" ", stdout);
    for (; *text; text++) {
        if (*text == '|')
            putchar('\\');
        putchar(*text);
    }
    fputs(" |", stdout);
}

static void print_markdown(void)
{
    char phases[64], resources[64], stages[128], params[512], conflicts[512], evidence[512], name[64];
    puts("| knob | phase | resource | paper | what it does | parameters (`*` = `knob=value` fills it) | stages | "
         "conflicts with | evidence | effect |");
    puts("|---|---|---|---|---|---|---|---|---|---|");
    for (size_t i = 0, n = gt_knob_count(); i < n; i++) {
        const gt_knob_def *def = gt_knob_at(i);
        size_t used = 0;
        evidence[0] = '\0';
        for (const char *const *key = def->evidence; key && *key && used < sizeof evidence; key++)
            used += (size_t)snprintf(evidence + used, sizeof evidence - used, "%s%s", used ? ", " : "", *key);
        snprintf(name, sizeof name, "`%s`", def->name);
        fputs("|", stdout);
        md_cell(name);
        md_cell(gt_knob_phase_names(def->phases, phases, sizeof phases));
        md_cell(gt_knob_resource_names(def->resources, resources, sizeof resources));
        md_cell(def->paper);
        md_cell(def->summary);
        md_cell(param_summary(def, 1, params, sizeof params));
        md_cell(def->stages ? gt_knob_stage_names(def->stages, stages, sizeof stages) : "start time");
        md_cell(conflict_summary(def, conflicts, sizeof conflicts));
        md_cell(evidence);
        md_cell(gt_knob_effect_name(def->effect));
        putchar('\n');
    }
}

static void log_line(void *ctx, const char *line)
{
    fprintf(stderr, "greentune: %s\n", line);
}

int cmd_knobs(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"markdown", no_argument, NULL, 'm'},
        {"knob", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, markdown = 0, c;
    gt_knob_set set;
    gt_knob_set_init(&set);
    gt_error err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'm': markdown = 1; break;
        case 'k':
            if (gt_knob_set_add_spec(&set, optarg, &err) != GT_OK) {
                gt_knob_set_free(&set);
                return cli_fail(CLI_EXIT_USAGE, "%s", err.message);
            }
            break;
        case 'h':
            usage(stdout);
            gt_knob_set_free(&set);
            return 0;
        default:
            gt_knob_set_free(&set);
            return cli_usage_error("knobs");
        }
    }
    if (optind < argc) {
        gt_knob_set_free(&set);
        return cli_fail(CLI_EXIT_USAGE, "knobs: unexpected argument '%s'; see 'greentune knobs --help'", argv[optind]);
    }
    if (json + markdown > 1 || ((json || markdown) && set.count)) {
        gt_knob_set_free(&set);
        return cli_fail(CLI_EXIT_USAGE, "knobs: give one of --json, --markdown or --knob");
    }
    if (set.count) {
        gt_knob_context ctx = {.log = log_line};
        int rc = gt_knob_set_describe(&set, &ctx, stdout, &err) == GT_OK ? 0 : cli_fail_error(&err);
        gt_knob_set_free(&set);
        return rc;
    }
    if (json) {
        cJSON *catalog = gt_knob_catalog_json();
        char *text = gt_json_print(catalog);
        if (text)
            fputs(text, stdout); /* it ends with its newline */
        free(text);
        cJSON_Delete(catalog);
        return text ? 0 : cli_fail(CLI_EXIT_FAILURE, "knobs: out of memory");
    }
    if (markdown)
        print_markdown();
    else
        print_table();
    return 0;
}
