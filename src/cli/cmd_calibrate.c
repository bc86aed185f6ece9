/* greentune calibrate [--meter M] [--seconds S] [--levels N] [--out FILE]
 *
 * Fits the estimate's CPU power curve to this machine's real counter (RAPL or
 * the perf power PMU) over a load sweep, prints the fit and its error, and
 * stores it for the estimate to use on machines with the same CPU model. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "greentune/energy.h"
#include "greentune/fileio.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: greentune calibrate [--meter M] [--seconds S] [--levels N] [--out FILE]\n"
            "\n"
            "Loads every logical CPU from 0 %% to 100 %% in N steps, measures the CPUs' power with\n"
            "a real counter at each, and fits the estimate's curve P(u) = idle + (max - idle) x u^k.\n"
            "The fit is stored per CPU model; the estimate (--meter estimate, or auto where no\n"
            "counter exists) then uses it on any machine with this CPU. Run it on an idle machine.\n"
            "\n"
            "  --meter M      the counter: auto (default), rapl or perf\n"
            "  --seconds S    seconds per load level (default 2)\n"
            "  --levels N     load levels from 0 to 100 %% (default 6)\n"
            "  --out FILE     calibration file (default $GREENTUNE_CALIBRATION or\n"
            "                 ~/.config/greentune/calibration.json)\n"
            "  -h, --help     this help\n");
}

static void print_point(void *ctx, double load, double watts)
{
    const gt_calibrate_options *o = ctx;
    static int first = 1;
    if (first) /* only once a counter was found: a machine without one gets a single line */
        fprintf(stderr, "greentune: calibrating the estimate: %d load levels of %g s each\n", o->levels, o->seconds);
    first = 0;
    fprintf(stderr, "greentune: load %5.1f %%: CPUs %.4g W\n", load * 100, watts);
}

/* Adds this CPU's entry to the calibration file, atomically. */
static int store(const char *path, const gt_calibration *c)
{
    char *old = NULL, *text = NULL, *dir = strdup(path);
    size_t len = 0;
    gt_error err = {0};
    gt_status s = gt_read_file(path, 1 << 20, &old, &len, &err);
    if (s == GT_ERR_NOT_FOUND)
        s = GT_OK;
    if (s == GT_OK && !(text = gt_calibration_update_json(old, c, &err)))
        s = err.status;
    int ok = s == GT_OK && dir && cli_make_dirs(dirname(dir)) == 0; /* cli_make_dirs says why itself */
    if (ok && gt_write_file_atomic(path, text, strlen(text), &err) != GT_OK)
        ok = 0;
    if (!ok && err.message[0])
        cli_fail_error(&err);
    free(dir);
    free(old);
    free(text);
    return ok;
}

int cmd_calibrate(int argc, char **argv)
{
    static const struct option options[] = {{"meter", required_argument, 0, 'm'},
                                            {"seconds", required_argument, 0, 's'},
                                            {"levels", required_argument, 0, 'l'},
                                            {"out", required_argument, 0, 'o'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    gt_calibrate_options o = {"auto", 2, 6, print_point, NULL};
    char path[1024];
    gt_calibration_default_path(path, sizeof path);
    long n;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'm': o.meter = optarg; break;
        case 's':
            if (!cli_parse_double("--seconds", optarg, 0.1, 600, &o.seconds))
                return CLI_EXIT_USAGE;
            break;
        case 'l':
            if (!cli_parse_long("--levels", optarg, 3, GT_CALIBRATION_POINTS_MAX, &n))
                return CLI_EXIT_USAGE;
            o.levels = (int)n;
            break;
        case 'o': snprintf(path, sizeof path, "%s", optarg); break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("calibrate");
        }
    }
    if (optind < argc)
        return cli_fail(CLI_EXIT_USAGE, "calibrate: unexpected argument '%s'; see 'greentune calibrate --help'",
                        argv[optind]);
    gt_error err = {0};
    if (gt_meter_spec_check(o.meter, &err) != GT_OK)
        return cli_fail(CLI_EXIT_USAGE, "--%s", err.message);
    o.ctx = &o;
    gt_calibration cal;
    if (gt_calibrate(&o, &cal, &err) != GT_OK)
        return cli_fail_error(&err);
    printf("cpu        %s (%d logical CPUs), measured with %s\n", cal.cpu_model, cal.cpus, cal.meter);
    printf("fit        P(u) = %.4g W + (%.4g W - %.4g W) x u^%.2f\n", cal.idle_w, cal.max_w, cal.idle_w,
           cal.exponent);
    printf("fit error  %.3g W rms, at most %.2g %% of a point (%d points)\n", cal.rmse_w, cal.max_error_pct,
           cal.points);
    if (cal.dram_w_per_gb > 0)
        printf("dram       %.4g W per GB in use\n", cal.dram_w_per_gb);
    if (!store(path, &cal))
        return CLI_EXIT_FAILURE;
    printf("stored in  %s (the estimate uses it for '%s')\n", path, cal.cpu_model);
    return 0;
}
