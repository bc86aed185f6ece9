/* measure_overhead: what measuring costs. Runs a child that keeps one CPU busy
 * for a few seconds under gt_measure_command, at 10 Hz and 100 Hz sampling,
 * and reports the sampler thread's CPU time (and all of greentune's) relative
 * to the child's CPU time. The goal is < 1 % at 10 Hz.
 *
 *   build/measure_overhead [SECONDS]     (default 3 per configuration)
 *
 * Meters: the estimate (process scope: a walk of the child's /proc tree per
 * sample; machine scope: /proc/stat + /proc/meminfo), and rapl on a fake
 * powercap tree with two packages and two dram zones (the same file reads as
 * real sysfs, though the kernel's own cost of producing a counter is not in it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "greentune/energy.h"

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

/* The measured workload: spin for the given seconds. */
static int burn(double s)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < s);
    return x == 1; /* 0: x sums 0..99999 at least once, so it is never 1; reading it keeps clang quiet */
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* <root>/class/powercap with package-0/1 and a dram zone in each. */
static void fake_powercap(const char *root)
{
    static const char *const zones[][2] = {{"intel-rapl:0", "package-0"}, {"intel-rapl:0/intel-rapl:0:0", "dram"},
                                           {"intel-rapl:1", "package-1"}, {"intel-rapl:1/intel-rapl:1:0", "dram"}};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/class", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/class/powercap", root);
    mkdir(dir, 0755);
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        snprintf(dir, sizeof dir, "%s/class/powercap/%s", root, zones[i][0]);
        mkdir(dir, 0755);
        write_file(dir, "name", zones[i][1]);
        write_file(dir, "max_energy_range_uj", "262143328850\n");
        write_file(dir, "energy_uj", "123456789\n");
    }
}

static int run(const char *self, const char *meter, gt_scope scope, int hz, const char *burn_s)
{
    char *argv[] = {(char *)self, "--burn", (char *)burn_s, NULL};
    gt_command_options o = {argv, {0}, NULL, NULL};
    gt_measure_options_init(&o.measure);
    o.measure.meter = meter;
    o.measure.scope = scope;
    o.measure.interval_ms = 1000 / hz;
    struct rusage self0, self1, kids0, kids1;
    getrusage(RUSAGE_SELF, &self0);
    getrusage(RUSAGE_CHILDREN, &kids0);
    gt_command_result r;
    gt_error err = {0};
    if (gt_measure_command(&o, &r, &err) != GT_OK) {
        fprintf(stderr, "measure_overhead: %s\n", err.message);
        return 1;
    }
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids1);
    double child = seconds(kids1.ru_utime) + seconds(kids1.ru_stime) - seconds(kids0.ru_utime) -
                   seconds(kids0.ru_stime);
    double ours = seconds(self1.ru_utime) + seconds(self1.ru_stime) - seconds(self0.ru_utime) -
                  seconds(self0.ru_stime);
    const gt_energy_result *e = &r.energy;
    printf("%-9s %-8s %4d Hz %7ld %9.1f %10.3f %9.3f %9.3f\n", meter, scope == GT_SCOPE_MACHINE ? "machine" : "process",
           hz, e->sample_count, e->sample_count ? e->sampler_cpu_s / (double)e->sample_count * 1e6 : 0,
           100.0 * e->sampler_cpu_s / child, 100.0 * ours / child, child);
    gt_command_result_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--burn"))
        return burn(atof(argv[2]));
    const char *burn_s = argc > 1 ? argv[1] : "3";
    if (!(atof(burn_s) > 0)) {
        fprintf(stderr, "usage: measure_overhead [SECONDS]\n");
        return 2;
    }
    char root[] = "/tmp/greentune-bench-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load[3] = {0};
    getloadavg(load, 3);
    printf("sampler cost while a child keeps one CPU busy for %s s (%ld CPUs, load %.2f)\n", burn_s, cpus, load[0]);
    printf("%-9s %-8s %7s %7s %9s %10s %9s %9s\n", "meter", "scope", "rate", "samples", "us/sample", "sampler %",
           "all %", "child s");
    int failed = 0;
    const char *sysfs = getenv("GREENTUNE_SYSFS_ROOT");
    const int rates[] = {10, 100};
    for (int i = 0; i < 2; i++) {
        setenv("GREENTUNE_SYSFS_ROOT", "/nonexistent", 1);
        failed |= run(argv[0], "estimate", GT_SCOPE_PROCESS, rates[i], burn_s);
        failed |= run(argv[0], "estimate", GT_SCOPE_MACHINE, rates[i], burn_s);
        fake_powercap(root);
        setenv("GREENTUNE_SYSFS_ROOT", root, 1);
        failed |= run(argv[0], "rapl", GT_SCOPE_MACHINE, rates[i], burn_s);
    }
    if (sysfs)
        setenv("GREENTUNE_SYSFS_ROOT", sysfs, 1);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        failed = 1;
    printf("sampler %% = sampler thread CPU / child CPU; all %% = all of greentune's CPU / child CPU\n");
    return failed;
}
