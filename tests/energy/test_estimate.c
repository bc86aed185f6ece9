/* The estimate meter, the process tree and its share, on a fake /proc
 * (GREENTUNE_PROC_ROOT). The expected joules are worked out by hand from the
 * model in docs/energy-model.md: the CPUs' power idle + (max - idle) x load^3,
 * max = TDP / threads x logical CPUs, idle = 10 % of max, plus 0.375 W per GB
 * in use, both integrated with the trapezoid rule. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "energy/internal.h"
#include "test_support.h"

static const char *proc;
static double tick, page; /* seconds per clock tick, bytes per page */

static void put(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(const char *rel, const char *fmt, ...)
{
    char path[1024], dir[1024], text[2048];
    snprintf(path, sizeof path, "%s/%s", proc, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    char *argv[] = {"mkdir", "-p", dir, NULL};
    test_run(argv, NULL, NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    test_write_file(path, text, strlen(text));
}

static void remove_path(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", proc, rel);
    char *argv[] = {"rm", "-rf", path, NULL};
    test_run(argv, NULL, NULL);
}

/* A fresh fake /proc with a 4-CPU "AMD EPYC 7763" (280 W, 128 threads). */
static void fresh_proc(const char *name, const char *model)
{
    proc = test_path(name);
    setenv("GREENTUNE_PROC_ROOT", proc, 1);
    char cpuinfo[2048] = "";
    for (int i = 0; i < 4; i++)
        snprintf(cpuinfo + strlen(cpuinfo), sizeof cpuinfo - strlen(cpuinfo),
                 "processor\t: %d\nmodel name\t: %s\nsiblings\t: 4\n\n", i, model);
    put("cpuinfo", "%s", cpuinfo);
}

/* /proc/stat in ticks; /proc/meminfo with used GB = total - available. */
static void machine(long user, long system, long idle, double used_gb)
{
    put("stat", "cpu  %ld 0 %ld %ld 7 0 0 999 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n", user, system, idle);
    put("meminfo", "MemTotal:       67108864 kB\nMemFree:         1000 kB\nMemAvailable:   %.0f kB\n",
        67108864.0 - used_gb * 1024 * 1024);
}

/* A process: its stat line (command name with spaces and parentheses, as
 * /proc allows) and its children file. */
static void process(const char *pid, long utime, long stime, long cutime, long cstime, long rss_pages,
                    const char *children)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/stat", pid);
    put(rel, "%s (py (th) on) S 1 1 1 0 -1 4194304 10 0 0 0 %ld %ld %ld %ld 20 0 3 0 12345 999999 %ld 0 0\n",
        strcmp(pid, "self") ? pid : "77", utime, stime, cutime, cstime, rss_pages);
    snprintf(rel, sizeof rel, "%s/task/%s/children", pid, strcmp(pid, "self") ? pid : "77");
    put(rel, "%s", children);
}

static backend *open_estimate(double tdp, double idle_w)
{
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.cpu_tdp_w = tdp;
    o.idle_w = idle_w;
    o.calibration = ""; /* a developer's own calibration must not change the arithmetic */
    backend *b = NULL;
    gt_error err = {0};
    CHECK_MSG(estimate_open(&o, 100.0, &b, &err) == GT_OK, "estimate_open: %s", err.message);
    return b;
}

static void read_at(backend *b, double t, double j[GT_COMPONENTS])
{
    gt_error err = {0};
    CHECK_MSG(b->read(b, t, j, &err) == GT_OK, "read: %s", err.message);
}

/* The CPU curve of docs/energy-model.md, written out independently. */
static double curve_w(double max_w, double idle_w, double load)
{
    return idle_w + (max_w - idle_w) * load * load * load;
}

/* 4 logical CPUs of an EPYC 7763 (280 W / 128 threads): the CPUs draw 10 %
 * of 4 x 2.1875 W idle and the cubic curve above it. 2.5 busy seconds in
 * 2 s is a load of 0.3125; then one idle second costs the idle power. DRAM:
 * 8 GB rising to 10 GB over 2 s at 0.375 W/GB, then 10 GB for 1 s. */
static void test_machine_arithmetic(void)
{
    fresh_proc("machine", "AMD EPYC 7763 64-Core Processor");
    machine(1000, 500, 10000, 8);
    backend *b = open_estimate(0, 0);
    if (!b)
        return;
    CHECK(b->is_estimate);
    const double max_w = 4 * 280.0 / 128, idle_w = 0.1 * max_w;
    machine(1000 + (long)(2.0 / tick), 500 + (long)(0.5 / tick), 10000 + 5000, 10);
    double j[GT_COMPONENTS];
    read_at(b, 102.0, j);
    double cpu = curve_w(max_w, idle_w, 2.5 / (2 * 4)) * 2;
    CHECK_NEAR(j[GT_CPU], cpu, 1e-9); /* 2.2307 J */
    CHECK_NEAR(j[GT_DRAM], 0.375 * (8 + 10) / 2.0 * 2.0, 1e-6);
    CHECK_NEAR(j[GT_GPU], 0, 0);
    read_at(b, 103.0, j); /* no CPU work: idle power only */
    CHECK_NEAR(j[GT_CPU], cpu + idle_w, 1e-9);
    CHECK_NEAR(j[GT_DRAM], 6.75 + 0.375 * 10, 1e-6);
    b->close(b);
}

/* sleep on a whole machine is not ~0 J: the CPUs' idle power counts. And
 * --idle-watts replaces the 10 % floor (but must stay below full load). */
static void test_idle_power_and_override(void)
{
    fresh_proc("idle", "AMD EPYC 7763 64-Core Processor");
    machine(1000, 500, 10000, 0);
    backend *b = open_estimate(0, 0);
    double j[GT_COMPONENTS];
    if (b) {
        read_at(b, 101.0, j);
        CHECK_NEAR(j[GT_CPU], 0.1 * 4 * 280.0 / 128, 1e-9);
        b->close(b);
    }
    b = open_estimate(0, 3.0);
    if (b) {
        read_at(b, 102.0, j);
        CHECK_NEAR(j[GT_CPU], 3.0 * 2, 1e-9);
        CHECK(strstr(b->description, "--idle-watts") != NULL);
        b->close(b);
    }
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.calibration = "";
    o.idle_w = 9; /* full load is 8.75 W */
    gt_error err = {0};
    CHECK_EQ_INT(estimate_open(&o, 0, &b, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "--idle-watts 9: not below") != NULL);
}

/* Reads 10 ms apart see the busy counter move in 10 ms ticks: the load is
 * taken over the last half second, so a steady half-loaded machine costs
 * what the curve says at 0.5, not the mean of the curve at 0 and 1 (the
 * cubic would make that four times too much above idle). */
static void test_load_over_a_trailing_window(void)
{
    fresh_proc("ticks", "AMD EPYC 7763 64-Core Processor");
    setenv("GREENTUNE_PROC_ROOT", proc, 1);
    put("cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC 7763\nsiblings\t: 1\n");
    long busy = 0;
    machine(busy, 0, 0, 0);
    backend *b = open_estimate(0, 0);
    if (!b)
        return;
    double j[GT_COMPONENTS], t = 100.0;
    for (int i = 1; i <= 300; i++) { /* 3 s: a tick every other read */
        t = 100.0 + i * 0.01;
        if (i % 2 == 0)
            busy += 1;
        machine(busy, 0, 0, 0);
        read_at(b, t, j);
    }
    const double max_w = 280.0 / 128, idle_w = 0.1 * max_w;
    /* the first 0.5 s averages over less; from then on the load is 0.5 (+-1 tick) */
    CHECK_CLOSE(j[GT_CPU], curve_w(max_w, idle_w, 0.5) * 3, 0.03, 0);
    b->close(b);
}

/* A calibration of this CPU model replaces the table and the curve, scaled
 * from the CPUs it was measured on to the CPUs this machine has. */
static void test_calibration_is_used_for_its_model(void)
{
    fresh_proc("calibrated", "AMD EPYC 7763 64-Core Processor");
    machine(0, 0, 0, 0);
    const char *file = test_path("calibration.json");
    const char *json = "{\"machines\": [{\"cpu_model\": \"Other CPU\", \"cpus\": 1, \"idle_w\": 1, \"max_w\": 2, "
                       "\"exponent\": 1},\n {\"cpu_model\": \"AMD EPYC 7763 64-Core Processor\", \"cpus\": 8, "
                       "\"meter\": \"rapl\", \"idle_w\": 16, \"max_w\": 48, \"exponent\": 2, \"dram_w_per_gb\": 0.5, "
                       "\"rmse_w\": 0.4}]}";
    test_write_file(file, json, strlen(json));
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.calibration = file;
    power_model pm;
    gt_error err = {0};
    CHECK_EQ_INT(power_model_for(proc, &o, &pm, &err), GT_OK);
    CHECK_NEAR(pm.max_w, 48.0 * 4 / 8, 1e-12);
    CHECK_NEAR(pm.idle_w, 16.0 * 4 / 8, 1e-12);
    CHECK_NEAR(pm.exponent, 2, 0);
    CHECK_NEAR(pm.dram_w_per_gb, 0.5, 0);
    CHECK(strstr(pm.why, "calibrated against rapl") != NULL);
    CHECK_NEAR(power_model_cpu_w(&pm, 0.5), 8 + 16 * 0.25, 1e-12);
    o.cpu_tdp_w = 100; /* an explicit TDP wins over the calibration */
    CHECK_EQ_INT(power_model_for(proc, &o, &pm, &err), GT_OK);
    CHECK_NEAR(pm.max_w, 100, 1e-12);
    o.cpu_tdp_w = 0;
    o.calibration = test_path("missing.json"); /* no file: the table */
    CHECK_EQ_INT(power_model_for(proc, &o, &pm, &err), GT_OK);
    CHECK_NEAR(pm.max_w, 4 * 280.0 / 128, 1e-12);
}

/* The process tree 4242 -> 4243. The child exits (its time moves into
 * 4242's cutime/cstime), then 4242 exits and is reaped by us (its time moves
 * into our own cutime/cstime): the CPU figure stays put through both. */
static void test_process_tree_survives_exit_and_reaping(void)
{
    fresh_proc("tree", "AMD EPYC 7763 64-Core Processor");
    machine(1, 1, 1, 1);
    process("self", 5, 5, 30, 0, 100, "4242\n");
    process("4242", 100, 20, 0, 0, 1000, "4243 ");
    process("4243", 50, 10, 0, 0, 500, "");
    proc_tree *t = proc_tree_new(proc, 4242);
    double cpu0, mem, cpu;
    proc_tree_usage(t, &cpu0, &mem);
    CHECK_NEAR(cpu0, (100 + 20 + 50 + 10) * tick, 1e-12);
    CHECK_NEAR(mem, 1500 * page / (1024.0 * 1024 * 1024), 1e-15);
    int n;
    const int *pids = proc_tree_pids(t, &n);
    CHECK_EQ_INT(n, 2);
    CHECK(n == 2 && ((pids[0] == 4242 && pids[1] == 4243) || (pids[0] == 4243 && pids[1] == 4242)));
    /* 4243 ran to u60 s20 and was reaped by 4242; 4242 itself went to u300 s40 */
    process("4242", 300, 40, 60, 20, 2000, "");
    remove_path("4243");
    proc_tree_usage(t, &cpu, &mem);
    CHECK_NEAR(cpu - cpu0, (300 + 40 + 60 + 20 - 180) * tick, 1e-9);
    /* 4242 exited and we reaped it: our cutime grows by its 420 ticks */
    remove_path("4242");
    process("self", 5, 5, 30 + 420, 0, 100, "");
    proc_tree_usage(t, &cpu, &mem);
    CHECK_NEAR(cpu - cpu0, 240 * tick, 1e-9);
    CHECK_NEAR(mem, 0, 0);
    proc_tree_free(t);
}

/* This process (pid 0) is "self" and its descendants, its own CPU time included. */
static void test_self_tree_counts_own_time(void)
{
    fresh_proc("self", "AMD EPYC 7763 64-Core Processor");
    machine(1, 1, 1, 1);
    process("self", 100, 0, 0, 0, 10, "501\n");
    process("501", 10, 0, 0, 0, 10, "");
    proc_tree *t = proc_tree_new(proc, 0);
    double cpu, mem;
    proc_tree_usage(t, &cpu, &mem);
    CHECK_NEAR(cpu, 110 * tick, 1e-12);
    int n;
    const int *pids = proc_tree_pids(t, &n);
    CHECK(n == 2 && pids[0] == 77); /* self's pid, from its stat line */
    proc_tree_free(t);
}

/* The tree's share of each increment: CPU by its share of the machine's busy
 * time, DRAM by its share of memory in use (averaged over the interval). */
static void test_attribution_shares(void)
{
    fresh_proc("shares", "AMD EPYC 7763 64-Core Processor");
    machine(1000, 0, 0, 4);
    process("self", 1, 1, 0, 0, 0, "900\n");
    process("900", 100, 0, 0, 0, (long)(1.0 * 1024 * 1024 * 1024 / page), "");
    attribution *a = NULL;
    gt_error err = {0};
    CHECK_MSG(attribution_open(proc, 900, 10.0, &a, &err) == GT_OK, "attribution_open: %s", err.message);
    if (!a)
        return;
    CHECK(strstr(attribution_method(a, GT_CPU), "cpu-time share") != NULL);
    /* one second: the machine was busy 2 s (of its 4 CPUs), the tree 0.5 s; its
     * memory went from 1 of 4 GB to 2 of 4 GB */
    machine(1000 + (long)(2.0 / tick), 0, 0, 4);
    process("900", 100 + (long)(0.5 / tick), 0, 0, 0, (long)(2.0 * 1024 * 1024 * 1024 / page), "");
    double delta[GT_COMPONENTS] = {40, 8, 0}, process_j[GT_COMPONENTS] = {0};
    attribution_update(a, 11.0, delta, NULL, 0, process_j);
    CHECK_NEAR(process_j[GT_CPU], 40 * 0.25, 1e-9);
    CHECK_NEAR(process_j[GT_DRAM], 8 * (0.25 + 0.5) / 2, 1e-6);
    CHECK_EQ_INT(attribution_pid(a), 900);
    attribution_close(a);
}

/* W per logical CPU at full load for a "model name" (4 CPUs, siblings 4). */
static double w_per_cpu(const char *model, double tdp, char *why, size_t size)
{
    fresh_proc("model", model);
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.calibration = "";
    o.cpu_tdp_w = tdp;
    power_model pm;
    gt_error err = {0};
    CHECK_MSG(power_model_for(proc, &o, &pm, &err) == GT_OK, "%s", err.message);
    snprintf(why, size, "%s", pm.why);
    CHECK_NEAR(pm.idle_w, 0.1 * pm.max_w, 1e-12);
    CHECK_NEAR(pm.exponent, 3, 0);
    return pm.max_w / pm.cpus;
}

/* The CPU table: exact parts, whole-word matching, family fallbacks,
 * --cpu-tdp over the logical CPUs of one package, and unknown CPUs. */
static void test_cpu_power_table(void)
{
    char d[512];
    CHECK_NEAR(w_per_cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 0, d, sizeof d), 150.0 / 40, 1e-9);
    CHECK_NEAR(w_per_cpu("Intel(R) Xeon(R) Platinum 8480+", 0, d, sizeof d), 350.0 / 112, 1e-9);
    CHECK_NEAR(w_per_cpu("AMD EPYC 7313 16-Core Processor", 0, d, sizeof d), 155.0 / 32, 1e-9);
    CHECK_NEAR(w_per_cpu("AMD Ryzen 7 5800X3D 8-Core Processor", 0, d, sizeof d), 105.0 / 16, 1e-9);
    CHECK_NEAR(w_per_cpu("13th Gen Intel(R) Core(TM) i9-13900K", 0, d, sizeof d), 125.0 / 32, 1e-9);
    /* 7313P is not "EPYC 7313" as a whole word: the EPYC family row (7763) */
    CHECK_NEAR(w_per_cpu("AMD EPYC 7313P 16-Core Processor", 0, d, sizeof d), 280.0 / 128, 1e-9);
    CHECK(strstr(d, "taken as AMD EPYC 7763") != NULL);
    CHECK_NEAR(w_per_cpu("AMD Ryzen Threadripper 2990WX", 0, d, sizeof d), 280.0 / 128, 1e-9);
    CHECK(strstr(d, "Threadripper 3990X") != NULL);
    CHECK_NEAR(w_per_cpu("AMD EPYC", 0, d, sizeof d), 280.0 / 128, 1e-9); /* a VM's masked model */
    CHECK_NEAR(w_per_cpu("AMD EPYC", 100, d, sizeof d), 100.0 / 4, 1e-9); /* --cpu-tdp / siblings */
    CHECK(strstr(d, "--cpu-tdp 100 W / 4 logical CPUs") != NULL);
    CHECK_NEAR(w_per_cpu("Acme RISC-Z 9000", 0, d, sizeof d), 4.0, 1e-9);
    CHECK(strstr(d, "not in the TDP table") != NULL);
}

/* A /proc that cannot be read is an error that names the file. */
static void test_unreadable_proc_is_an_error(void)
{
    proc = test_path("empty-proc");
    setenv("GREENTUNE_PROC_ROOT", proc, 1);
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.calibration = "";
    backend *b = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(estimate_open(&o, 0, &b, &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "empty-proc/stat") != NULL);
    fresh_proc("bad-stat", "x");
    put("stat", "intr 1 2 3\n");
    CHECK_EQ_INT(estimate_open(&o, 0, &b, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "bad-stat/stat") != NULL);
}

int main(void)
{
    tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    page = (double)sysconf(_SC_PAGESIZE);
    RUN(test_machine_arithmetic);
    RUN(test_idle_power_and_override);
    RUN(test_load_over_a_trailing_window);
    RUN(test_calibration_is_used_for_its_model);
    RUN(test_process_tree_survives_exit_and_reaping);
    RUN(test_self_tree_counts_own_time);
    RUN(test_attribution_shares);
    RUN(test_cpu_power_table);
    RUN(test_unreadable_proc_is_an_error);
    return test_summary();
}
