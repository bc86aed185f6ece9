/* The estimate meter on a fake /proc (GREENTUNE_PROC_ROOT). The expected
 * joules are worked out by hand from the model in docs/energy-model.md:
 * busy CPU seconds x W per logical CPU, plus 0.375 W per GB in use integrated
 * with the trapezoid rule. */
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

static backend *open_estimate(gt_scope scope, int pid, double tdp)
{
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.scope = scope;
    o.pid = pid;
    o.cpu_tdp_w = tdp;
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

/* Machine scope: 2.5 busy seconds (user+system; idle, iowait and steal do not
 * count) at 280/128 W, and memory rising from 8 to 10 GB over 2 s. */
static void test_machine_scope_arithmetic(void)
{
    fresh_proc("machine", "AMD EPYC 7763 64-Core Processor");
    machine(1000, 500, 10000, 8);
    backend *b = open_estimate(GT_SCOPE_MACHINE, 0, 0);
    if (!b)
        return;
    CHECK(b->is_estimate);
    machine(1000 + (long)(2.0 / tick), 500 + (long)(0.5 / tick), 10000 + 5000, 10);
    double j[GT_COMPONENTS];
    read_at(b, 102.0, j);
    CHECK_NEAR(j[GT_CPU], 2.5 * 280.0 / 128.0, 1e-9);       /* 5.46875 J */
    CHECK_NEAR(j[GT_DRAM], 0.375 * (8 + 10) / 2.0 * 2.0, 1e-6); /* 6.75 J */
    CHECK_NEAR(j[GT_GPU], 0, 0);
    /* memory stays at 10 GB for one more second, no more CPU */
    read_at(b, 103.0, j);
    CHECK_NEAR(j[GT_CPU], 2.5 * 280.0 / 128.0, 1e-9);
    CHECK_NEAR(j[GT_DRAM], 6.75 + 0.375 * 10, 1e-6);
    b->close(b);
}

/* Process scope: the tree 4242 -> 4243. The child exits (its time moves into
 * 4242's cutime/cstime), then 4242 exits and is reaped by us (its time moves
 * into our own cutime/cstime): the CPU figure stays put through both. */
static void test_process_tree_survives_exit_and_reaping(void)
{
    fresh_proc("tree", "AMD EPYC 7763 64-Core Processor");
    machine(1, 1, 1, 1);
    process("self", 5, 5, 30, 0, 100, "4242\n");
    process("4242", 100, 20, 0, 0, 1000, "4243 ");
    process("4243", 50, 10, 0, 0, 500, "");
    backend *b = open_estimate(GT_SCOPE_PROCESS, 4242, 0);
    if (!b)
        return;
    const double w = 280.0 / 128.0, gb = page / (1024.0 * 1024 * 1024);
    /* 4243 ran to u60 s20 and was reaped by 4242; 4242 itself went to u300 s40 */
    process("4242", 300, 40, 60, 20, 2000, "");
    remove_path("4243");
    double j[GT_COMPONENTS];
    read_at(b, 101.0, j);
    double cpu = (300 + 40 + 60 + 20 - (100 + 20 + 50 + 10)) * tick; /* 2.4 s */
    CHECK_NEAR(j[GT_CPU], cpu * w, 1e-9);
    double dram = 0.375 * (1500 + 2000) / 2.0 * gb * 1.0;
    CHECK_NEAR(j[GT_DRAM], dram, 1e-12);
    /* 4242 exited and we reaped it: our cutime grows by its 420 ticks */
    remove_path("4242");
    process("self", 5, 5, 30 + 420, 0, 100, "");
    read_at(b, 102.0, j);
    CHECK_NEAR(j[GT_CPU], cpu * w, 1e-9);
    CHECK_NEAR(j[GT_DRAM], dram + 0.375 * (2000 + 0) / 2.0 * gb, 1e-12);
    b->close(b);
}

/* Process scope of this process itself (pid 0): "self" and its descendants,
 * its own CPU time included. */
static void test_self_scope_counts_own_time(void)
{
    fresh_proc("self", "AMD EPYC 7763 64-Core Processor");
    machine(1, 1, 1, 1);
    process("self", 100, 0, 0, 0, 10, "501\n");
    process("501", 10, 0, 0, 0, 10, "");
    backend *b = open_estimate(GT_SCOPE_PROCESS, 0, 0);
    if (!b)
        return;
    process("self", 150, 50, 0, 0, 10, "501\n");
    process("501", 30, 0, 0, 0, 10, "");
    double j[GT_COMPONENTS];
    read_at(b, 100.0, j);
    CHECK_NEAR(j[GT_CPU], (100 + 20) * tick * 280.0 / 128.0, 1e-9);
    b->close(b);
}

static double w_per_cpu(const char *model, double tdp, char *description, size_t size)
{
    fresh_proc("model", model);
    machine(1000, 0, 0, 0);
    backend *b = open_estimate(GT_SCOPE_MACHINE, 0, tdp);
    if (!b)
        return -1;
    snprintf(description, size, "%s", b->description);
    machine(1000 + (long)(1.0 / tick), 0, 0, 0); /* one busy second */
    double j[GT_COMPONENTS];
    read_at(b, 100.0, j);
    b->close(b);
    return j[GT_CPU];
}

/* The CPU table: exact parts, whole-word matching, family fallbacks,
 * --cpu-tdp over the logical CPUs of one package, and unknown CPUs. */
static void test_cpu_power_table(void)
{
    char d[512];
    CHECK_NEAR(w_per_cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 0, d, sizeof d), 150.0 / 40, 1e-9);
    CHECK_NEAR(w_per_cpu("AMD EPYC 7313 16-Core Processor", 0, d, sizeof d), 155.0 / 32, 1e-9);
    /* 7313P is not "EPYC 7313" as a whole word: the EPYC family row (7763) */
    CHECK_NEAR(w_per_cpu("AMD EPYC 7313P 16-Core Processor", 0, d, sizeof d), 280.0 / 128, 1e-9);
    CHECK(strstr(d, "taken as AMD EPYC 7763") != NULL);
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
    o.scope = GT_SCOPE_MACHINE;
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
    RUN(test_machine_scope_arithmetic);
    RUN(test_process_tree_survives_exit_and_reaping);
    RUN(test_self_scope_counts_own_time);
    RUN(test_cpu_power_table);
    RUN(test_unreadable_proc_is_an_error);
    return test_summary();
}
