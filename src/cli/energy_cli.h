/* Options every energy subcommand shares (measure, monitor): the meter, the
 * estimate's model, the carbon intensity; and the idle reference that
 * `measure --idle` keeps for later thermal gates.
 *
 *   static const struct option options[] = {ENERGY_CLI_OPTIONS, {"json", ...}, {0, 0, 0, 0}};
 *   ...
 *   default: if ((rc = energy_cli_option(&e, c, optarg)) < 0) return CLI_EXIT_USAGE; if (rc) break; ... */
#ifndef GREENTUNE_ENERGY_CLI_H
#define GREENTUNE_ENERGY_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "greentune/energy.h"

enum {
    ENERGY_OPT_METER = 1000,
    ENERGY_OPT_INTERVAL,
    ENERGY_OPT_TDP,
    ENERGY_OPT_IDLE_WATTS,
    ENERGY_OPT_CALIBRATION,
    ENERGY_OPT_COUNTRY,
    ENERGY_OPT_INTENSITY,
    ENERGY_OPT_PUE,
};

#define ENERGY_CLI_OPTIONS                                                                                      \
    {"meter", required_argument, 0, ENERGY_OPT_METER}, {"interval-ms", required_argument, 0, ENERGY_OPT_INTERVAL}, \
        {"cpu-tdp", required_argument, 0, ENERGY_OPT_TDP},                                                      \
        {"idle-watts", required_argument, 0, ENERGY_OPT_IDLE_WATTS},                                            \
        {"calibration", required_argument, 0, ENERGY_OPT_CALIBRATION},                                          \
        {"country", required_argument, 0, ENERGY_OPT_COUNTRY},                                                  \
        {"carbon-intensity", required_argument, 0, ENERGY_OPT_INTENSITY}, {"pue", required_argument, 0, ENERGY_OPT_PUE}

typedef struct {
    gt_measure_options measure;
    const char *country;
    double carbon_intensity, pue;
} energy_cli;

void energy_cli_init(energy_cli *e);
/* 1: handled, 0: not one of ours, -1: a bad value (already reported). */
int energy_cli_option(energy_cli *e, int option, const char *arg);
/* Checks the meter spec and resolves the carbon intensity; 0 after reporting. */
int energy_cli_finish(energy_cli *e, gt_carbon *carbon);
/* The help lines of the shared options. */
void energy_cli_help(FILE *out, int default_interval_ms);

/* The idle reference `measure --idle` stores in the state directory. */
typedef struct {
    double power_w;
    gt_temperatures temps;
} idle_reference;
void idle_reference_save(double power_w, const gt_temperatures *temps);
int idle_reference_load(idle_reference *ref);
/* "45" or "45,60" (CPU, GPU degrees Celsius); 0 after reporting. */
int parse_idle_temps(const char *text, gt_temperatures *t);

#endif
