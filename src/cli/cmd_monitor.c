/* greentune monitor [--prometheus [ADDR:]PORT] [--interval-ms N] [--control PATH]
 *                   [--pid PID] [--duration S] [energy options]
 *
 * Measures the machine until stopped (SIGINT/SIGTERM, or --duration), and
 * either serves the running totals in the Prometheus text format at
 * http://ADDR:PORT/metrics (127.0.0.1 unless told otherwise: energy readings
 * are a side channel, see README) or prints one line a second. Tasks come
 * from a control FIFO (--control PATH), as with measure. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "energy_cli.h"
#include "http.h"

typedef struct {
    energy_cli energy;
    const char *prometheus, *control;
    double duration_s;
    long pid;
} monitor_args;

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: greentune monitor [--prometheus [ADDR:]PORT] [options]\n"
            "\n"
            "Measures the machine's energy until stopped (Ctrl-C) and serves it as Prometheus\n"
            "metrics (greentune_energy_joules_total{component}, greentune_power_watts{component},\n"
            "per-task counters) at http://ADDR:PORT/metrics, or prints a line a second.\n"
            "\n"
            "  --prometheus [ADDR:]PORT  serve metrics; ADDR defaults to 127.0.0.1 (PORT 0: any free port)\n"
            "  --control PATH        create a FIFO there: lines 'start NAME', 'stop NAME',\n"
            "                        'progress NAME F' mark tasks, as with measure\n"
            "  --pid PID             also report the share of the process tree rooted at PID\n"
            "  --duration S          stop after S seconds\n");
    energy_cli_help(out, 1000);
    fprintf(out, "  -h, --help            this help\n");
}

static int parse_args(int argc, char **argv, monitor_args *a, gt_carbon *carbon)
{
    enum { OPT_PROMETHEUS = 256, OPT_CONTROL, OPT_PID, OPT_DURATION };
    static const struct option options[] = {ENERGY_CLI_OPTIONS,
                                            {"prometheus", required_argument, 0, OPT_PROMETHEUS},
                                            {"control", required_argument, 0, OPT_CONTROL},
                                            {"pid", required_argument, 0, OPT_PID},
                                            {"duration", required_argument, 0, OPT_DURATION},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    energy_cli_init(&a->energy);
    a->energy.measure.interval_ms = 1000;
    a->energy.measure.scope = GT_SCOPE_MACHINE;
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if ((rc = energy_cli_option(&a->energy, c, optarg)) < 0)
            return CLI_EXIT_USAGE;
        if (rc)
            continue;
        switch (c) {
        case OPT_PROMETHEUS: a->prometheus = optarg; break;
        case OPT_CONTROL: a->control = optarg; break;
        case OPT_PID:
            if (!cli_parse_long("--pid", optarg, 1, 1L << 30, &a->pid))
                return CLI_EXIT_USAGE;
            a->energy.measure.scope = GT_SCOPE_PROCESS;
            a->energy.measure.pid = (int)a->pid;
            break;
        case OPT_DURATION:
            if (!cli_parse_double("--duration", optarg, 0.01, 1e9, &a->duration_s))
                return CLI_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error("monitor");
        }
    }
    if (optind < argc)
        return cli_fail(CLI_EXIT_USAGE, "monitor: unexpected argument '%s'; see 'greentune monitor --help'",
                        argv[optind]);
    if (a->energy.measure.interval_ms == 0)
        return cli_fail(CLI_EXIT_USAGE, "--interval-ms 0: the monitor needs its sampler; use 10 to 60000");
    return energy_cli_finish(&a->energy, carbon) ? 0 : CLI_EXIT_USAGE;
}

typedef struct {
    gt_measurement *m;
    const gt_carbon *carbon;
} server;

static http_response handle(void *ctx, const char *path)
{
    server *s = ctx;
    http_response r = {200, NULL, NULL};
    if (!strcmp(path, "/metrics")) {
        gt_energy_result snap;
        gt_error err = {0};
        if (gt_measurement_snapshot(s->m, &snap, &err) != GT_OK) {
            r.status = 500;
            r.body = strdup(err.message);
            return r;
        }
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = gt_energy_prometheus(&snap, s->carbon);
        gt_energy_result_free(&snap);
        if (!r.body)
            r.status = 500;
    } else if (!strcmp(path, "/")) {
        r.body = strdup("greentune monitor: metrics at /metrics\n");
    } else {
        r.status = 404;
        r.body = strdup("not found; metrics are at /metrics\n");
    }
    return r;
}

static void print_line(gt_measurement *m, const gt_carbon *carbon)
{
    gt_energy_result snap;
    gt_error err = {0};
    if (gt_measurement_snapshot(m, &snap, &err) != GT_OK) {
        fprintf(stderr, "greentune: %s\n", err.message);
        return;
    }
    printf("%8.1f s  cpu %7.3g W  dram %7.3g W  gpu %7.3g W  total %9.4g J  %.3g g CO2e%s\n", snap.total.duration_s,
           snap.power_w[GT_CPU], snap.power_w[GT_DRAM], snap.power_w[GT_GPU], snap.total.energy_j,
           gt_carbon_grams(carbon, snap.total.energy_j), snap.estimated ? "  (estimated)" : "");
    fflush(stdout);
    gt_energy_result_free(&snap);
}

static void print_warning(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "greentune: warning: %s\n", line);
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: poll returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cmd_monitor(int argc, char **argv)
{
    monitor_args a;
    memset(&a, 0, sizeof a);
    gt_carbon carbon;
    int rc = parse_args(argc, argv, &a, &carbon);
    if (rc)
        return rc < 0 ? 0 : rc;
    char bound[64] = "";
    int listen_fd = a.prometheus ? http_listen(a.prometheus, bound, sizeof bound) : -1;
    if (a.prometheus && listen_fd < 0)
        return -listen_fd;
    gt_measurement *m = NULL;
    gt_control *control = NULL;
    gt_error err = {0};
    if (gt_measurement_start(&a.energy.measure, &m, &err) != GT_OK ||
        (a.control && gt_control_open(m, a.control, print_warning, NULL, &control, &err) != GT_OK)) {
        gt_measurement_abort(m);
        if (listen_fd >= 0)
            close(listen_fd);
        return cli_fail_error(&err);
    }
    stop_requested = 0;
    install_handlers();
    if (a.prometheus)
        fprintf(stderr, "greentune: monitor serving http://%s/metrics\n", bound);
    server srv = {m, &carbon};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double next_line = 1.0;
    while (!stop_requested) {
        struct pollfd fds[2];
        int n = 0;
        if (listen_fd >= 0)
            fds[n++] = (struct pollfd){listen_fd, POLLIN, 0};
        if (control)
            fds[n++] = (struct pollfd){gt_control_fd(control), POLLIN, 0};
        int ready = poll(fds, (nfds_t)n, 200);
        for (int i = 0; ready > 0 && i < n; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            if (fds[i].fd == listen_fd)
                http_serve_one(listen_fd, handle, &srv);
            else
                gt_control_drain(control);
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double elapsed = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9;
        if (!a.prometheus && elapsed >= next_line) {
            print_line(m, &carbon);
            next_line += 1.0;
        }
        if (a.duration_s > 0 && elapsed >= a.duration_s)
            break;
    }
    gt_control_close(control);
    if (listen_fd >= 0)
        close(listen_fd);
    gt_energy_result r;
    if (gt_measurement_finish(m, &r, &err) != GT_OK)
        return cli_fail_error(&err);
    fprintf(stderr, "greentune: monitored %.1f s: %.4g J (%s)%s\n", r.total.duration_s, r.total.energy_j, r.meter,
            r.estimated ? "  (estimated)" : "");
    gt_energy_result_free(&r);
    return 0;
}
