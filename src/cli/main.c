/* greentune — energy as a first-class objective of AI pipelines.
 * The entry point: dispatches to one cmd_<name>() per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"measure", cmd_measure, "energy, power and emissions of any command"},
    {"bench",   cmd_bench,   "time training steps or inference of a model on random data: tokens/s, GFLOP/s, MFU"},
    {"monitor", cmd_monitor, "the machine's energy and power as Prometheus metrics, or a line a second"},
    {"calibrate", cmd_calibrate, "fit the energy estimate to this machine's real counter"},
    {"inspect", cmd_inspect, "tensors, config and tokenizer facts of a model file or directory"},
    {"knobs", cmd_knobs, "the knob catalog; check a set of knobs and show what it would change"},
    {"sweep",   cmd_sweep,   "variants x repeats of an experiment file into SQLite; resumes after any stop"},
    {"search",  cmd_search,  "the bundle of knobs with the least energy within an F1 budget, in few runs"},
    {"report",  cmd_report,  "Table I, Fig. 2, bundles and Pareto fronts from a sweep's database"},
    {"run",     cmd_run,     "one metered fine-tuning run: data, tokenize, load, train, save, eval"},
    {"predict", cmd_predict, "classify texts with a saved or Hugging Face model directory"},
};

static void print_help(FILE *out)
{
    fprintf(out, "usage: greentune <command> [options]   (greentune <command> --help for details)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(name, "--version")) {
        printf("greentune 0.1.0\n");
        return 0;
    }
    cli_recover_machine_state();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    return cli_fail(CLI_EXIT_USAGE, "'%s' is not a command; see 'greentune --help'", name);
}
