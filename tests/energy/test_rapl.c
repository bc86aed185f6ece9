/* The RAPL meter on a fake powercap tree (GREENTUNE_SYSFS_ROOT). Expected
 * joules are worked out by hand from the microjoule counters in each test. */
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "energy/internal.h"
#include "fake_rapl.h"
#include "test_support.h"

/* A fresh tree per test: <tmp>/<name>. */
static const char *tree(const char *name)
{
    const char *root = test_path(name);
    setenv("GREENTUNE_SYSFS_ROOT", root, 1);
    return root;
}

static backend *open_rapl(void)
{
    backend *b = NULL;
    gt_error err = {0};
    gt_status s = rapl_open(&b, &err);
    CHECK_MSG(s == GT_OK, "rapl_open: %s", err.message);
    return b;
}

static void read_joules(backend *b, double j[GT_COMPONENTS])
{
    gt_error err = {0};
    gt_status s = b->read(b, 0, j, &err);
    CHECK_MSG(s == GT_OK, "read: %s", err.message);
}

/* Two sockets, each with core, uncore and dram sub-zones, and a psys zone:
 * CPU = the packages, DRAM = the dram zones; core, uncore and psys are not
 * added (they are parts of, or overlap, the packages). */
static void test_two_sockets_with_dram(void)
{
    const char *root = tree("two-sockets");
    const uint64_t max = 262143328850ull;
    fake_rapl_zone(root, "intel-rapl:0", "package-0", max, 1000000);
    fake_rapl_zone(root, "intel-rapl:0:0", "core", max, 500);
    fake_rapl_zone(root, "intel-rapl:0:1", "uncore", max, 500);
    fake_rapl_zone(root, "intel-rapl:0:2", "dram", max, 7000);
    fake_rapl_zone(root, "intel-rapl:1", "package-1", max, 2000000);
    fake_rapl_zone(root, "intel-rapl:1:0", "dram", max, 9000);
    fake_rapl_zone(root, "intel-rapl:2", "psys", max, 0);
    backend *b = open_rapl();
    if (!b)
        return;
    CHECK(b->components == (COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM)));
    CHECK(strstr(b->description, "2 package zone(s), 2 dram zone(s)") != NULL);
    fake_rapl_set(root, "intel-rapl:0", 1000000 + 12500000);  /* +12.5 J */
    fake_rapl_set(root, "intel-rapl:1", 2000000 + 7500000);   /* +7.5 J */
    fake_rapl_set(root, "intel-rapl:0:0", 500 + 99000000);    /* core: ignored */
    fake_rapl_set(root, "intel-rapl:0:2", 7000 + 1250000);    /* +1.25 J */
    fake_rapl_set(root, "intel-rapl:1:0", 9000 + 750000);     /* +0.75 J */
    fake_rapl_set(root, "intel-rapl:2", 55000000);            /* psys: ignored */
    double j[GT_COMPONENTS];
    read_joules(b, j);
    CHECK_NEAR(j[GT_CPU], 20.0, 1e-9);
    CHECK_NEAR(j[GT_DRAM], 2.0, 1e-9);
    CHECK_NEAR(j[GT_GPU], 0.0, 0);
    b->close(b);
}

/* A counter that wraps between two reads still yields the true energy:
 * from max-1 J to 2 J past zero is 3 J. */
static void test_wraparound(void)
{
    const char *root = tree("wrap");
    const uint64_t max = 50000000; /* 50 J range */
    fake_rapl_zone(root, "intel-rapl:0", "package-0", max, max - 1000000);
    backend *b = open_rapl();
    if (!b)
        return;
    double j[GT_COMPONENTS];
    fake_rapl_set(root, "intel-rapl:0", 2000000);
    read_joules(b, j);
    CHECK_NEAR(j[GT_CPU], 3.0, 1e-9);
    /* and once more around: 2 J -> 1 J is a full lap minus 1 J = 49 J */
    fake_rapl_set(root, "intel-rapl:0", 1000000);
    read_joules(b, j);
    CHECK_NEAR(j[GT_CPU], 3.0 + 49.0, 1e-9);
    b->close(b);
}

/* A reading above the counter's own range is a broken counter, not energy. */
static void test_value_beyond_range_is_an_error(void)
{
    const char *root = tree("beyond");
    fake_rapl_zone(root, "intel-rapl:0", "package-0", 1000, 10);
    backend *b = open_rapl();
    if (!b)
        return;
    fake_rapl_set(root, "intel-rapl:0", 5000);
    double j[GT_COMPONENTS];
    gt_error err = {0};
    CHECK_EQ_INT(b->read(b, 0, j, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "exceeds max_energy_range_uj") != NULL);
    b->close(b);
}

/* Garbage in a counter file: the error names the file and says what it expected. */
static void test_garbage_counter_is_a_clear_error(void)
{
    const char *root = tree("garbage");
    fake_rapl_zone(root, "intel-rapl:0", "package-0", 1000000, 10);
    const char *path = fake_rapl_file(root, "intel-rapl:0", "energy_uj");
    test_write_file(path, "12ab\n", 5);
    backend *b = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(rapl_open(&b, &err), GT_ERR_PARSE);
    CHECK(b == NULL);
    CHECK_MSG(strstr(err.message, path) && strstr(err.message, "'12ab") && strstr(err.message, "decimal"),
              "message: %s", err.message);
    /* and the same when it turns bad after a good start */
    fake_rapl_set(root, "intel-rapl:0", 10);
    b = open_rapl();
    if (!b)
        return;
    test_write_file(path, "", 0);
    double j[GT_COMPONENTS];
    CHECK_EQ_INT(b->read(b, 0, j, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "not a counter value") != NULL);
    /* A NUL hides what follows it, and a file longer than any counter is cut
     * when read: neither is read as the number it starts with. */
    test_write_file(path, "184\0garbage\n", 12);
    CHECK_EQ_INT(b->read(b, 0, j, &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "holds a NUL byte") != NULL, "message: %s", err.message);
    char padded[100];
    memset(padded, ' ', sizeof padded);
    memcpy(padded, "20", 2);
    padded[sizeof padded - 1] = 'x';
    test_write_file(path, padded, sizeof padded);
    CHECK_EQ_INT(b->read(b, 0, j, &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "longer than a counter") != NULL, "message: %s", err.message);
    b->close(b);
}

/* Root reads any file; take away CAP_DAC_OVERRIDE/READ_SEARCH so that a mode
 * 000 file is unreadable even then. Returns the old capabilities to restore. */
static int drop_read_override(struct __user_cap_data_struct old[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    if (syscall(SYS_capget, &h, old) != 0)
        return 0;
    struct __user_cap_data_struct d[2] = {old[0], old[1]};
    d[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    return syscall(SYS_capset, &h, d) == 0;
}

static void restore_capabilities(struct __user_cap_data_struct old[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    syscall(SYS_capset, &h, old);
}

/* An unreadable energy_uj (root-only since Linux 5.10): the error names the
 * file, says permission, and says how to grant access. */
static void test_unreadable_counter_explains_the_fix(void)
{
    const char *root = tree("unreadable");
    fake_rapl_zone(root, "intel-rapl:0", "package-0", 1000000, 10);
    const char *path = fake_rapl_file(root, "intel-rapl:0", "energy_uj");
    CHECK(chmod(path, 0) == 0);
    struct __user_cap_data_struct old[2];
    int dropped = geteuid() != 0 || drop_read_override(old);
    CHECK_MSG(dropped, "could not drop CAP_DAC_OVERRIDE to test an unreadable file");
    backend *b = NULL;
    gt_error err = {0};
    gt_status s = rapl_open(&b, &err);
    if (geteuid() == 0 && dropped)
        restore_capabilities(old);
    CHECK_EQ_INT(s, GT_ERR_PERMISSION);
    CHECK_MSG(strstr(err.message, path) && strstr(err.message, "permission denied") && strstr(err.message, "chmod"),
              "message: %s", err.message);
}

/* No powercap directory at all (this CI machine, VMs): unsupported, and says so. */
static void test_missing_powercap_is_unsupported(void)
{
    tree("no-such-tree");
    backend *b = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(rapl_open(&b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "class/powercap is not present") != NULL);
}

/* A tree with only psys (some laptops) has no package to measure. */
static void test_psys_only_has_no_package(void)
{
    const char *root = tree("psys-only");
    fake_rapl_zone(root, "intel-rapl:0", "psys", 1000000, 10);
    backend *b = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(rapl_open(&b, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no package zone") != NULL);
}

/* --meter auto skips an unreadable RAPL, falls back, and keeps the reason. */
static void test_auto_falls_back_with_a_note(void)
{
    const char *root = tree("auto-fallback");
    fake_rapl_zone(root, "intel-rapl:0", "package-0", 1000000, 10);
    test_write_file(fake_rapl_file(root, "intel-rapl:0", "energy_uj"), "garbage\n", 8);
    setenv("GREENTUNE_NVML_LIB", test_path("no-such-libnvidia-ml.so"), 1);
    gt_measure_options o;
    gt_measure_options_init(&o);
    gt_meter *m = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_meter_open(&o, &m, &err), GT_OK);
    if (!m)
        return;
    CHECK_EQ_STR(gt_meter_name(m), "estimate");
    CHECK(gt_meter_is_estimate(m));
    int found = 0;
    for (int i = 0; i < gt_meter_note_count(m); i++)
        found |= strstr(gt_meter_note(m, i), "not a counter value") != NULL;
    CHECK_MSG(found, "no note says why rapl was skipped");
    gt_meter_close(m);
    /* an explicit --meter rapl fails instead, with the same reason */
    o.meter = "rapl";
    CHECK_EQ_INT(gt_meter_open(&o, &m, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "not a counter value") != NULL);
}

static void test_meter_specs(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(gt_meter_spec_check("auto", &err), GT_OK);
    CHECK_EQ_INT(gt_meter_spec_check("rapl+nvml", &err), GT_OK);
    CHECK_EQ_INT(gt_meter_spec_check("estimate", &err), GT_OK);
    CHECK_EQ_INT(gt_meter_spec_check("rapl+perf", &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "same component") != NULL);
    CHECK_EQ_INT(gt_meter_spec_check("wattmeter", &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "unknown") != NULL);
    CHECK_EQ_INT(gt_meter_spec_check("rapl+", &err), GT_ERR_INVALID);
    CHECK_EQ_INT(gt_meter_spec_check("", &err), GT_ERR_INVALID);
}

int main(void)
{
    RUN(test_two_sockets_with_dram);
    RUN(test_wraparound);
    RUN(test_value_beyond_range_is_an_error);
    RUN(test_garbage_counter_is_a_clear_error);
    RUN(test_unreadable_counter_explains_the_fix);
    RUN(test_missing_powercap_is_unsupported);
    RUN(test_psys_only_has_no_package);
    RUN(test_auto_falls_back_with_a_note);
    RUN(test_meter_specs);
    return test_summary();
}
