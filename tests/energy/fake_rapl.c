#include "fake_rapl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_support.h"

static const char *zone_dir(const char *root, const char *zone)
{
    static char dir[1024];
    char parent[64];
    snprintf(parent, sizeof parent, "%s", zone);
    char *second = strchr(strchr(parent, ':') + 1, ':');
    if (second) { /* a sub-zone lives in its package's directory */
        *second = '\0';
        snprintf(dir, sizeof dir, "%s/class/powercap/%s/%s", root, parent, zone);
    } else {
        snprintf(dir, sizeof dir, "%s/class/powercap/%s", root, zone);
    }
    return dir;
}

const char *fake_rapl_file(const char *root, const char *zone, const char *file)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", zone_dir(root, zone), file);
    return path;
}

static void write_text(const char *path, const char *text)
{
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    test_write_file(tmp, text, strlen(text));
    if (rename(tmp, path) != 0) {
        perror(path);
        exit(2);
    }
}

static void write_u64(const char *path, uint64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)v);
    write_text(path, text);
}

void fake_rapl_zone(const char *root, const char *zone, const char *name, uint64_t max_uj, uint64_t energy_uj)
{
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "%s", zone_dir(root, zone));
    char *argv[] = {"mkdir", "-p", cmd, NULL};
    if (test_run(argv, NULL, NULL) != 0)
        exit(2);
    char text[80];
    snprintf(text, sizeof text, "%s\n", name);
    write_text(fake_rapl_file(root, zone, "name"), text);
    write_u64(fake_rapl_file(root, zone, "max_energy_range_uj"), max_uj);
    write_u64(fake_rapl_file(root, zone, "energy_uj"), energy_uj);
}

void fake_rapl_set(const char *root, const char *zone, uint64_t energy_uj)
{
    write_u64(fake_rapl_file(root, zone, "energy_uj"), energy_uj);
}

gt_measurement *fake_rapl_measurement(const char *root, uint64_t counter_uj, int interval_ms)
{
    fake_rapl_zone(root, "intel-rapl:0", "package-0", 1ull << 40, counter_uj);
    setenv("GREENTUNE_SYSFS_ROOT", root, 1);
    gt_measure_options o;
    gt_measure_options_init(&o);
    o.meter = "rapl";
    o.interval_ms = interval_ms;
    gt_measurement *m = NULL;
    gt_error err = {0};
    CHECK_MSG(gt_measurement_start(&o, &m, &err) == GT_OK, "start: %s", err.message);
    return m;
}

void fake_rapl_task(gt_measurement *m, int begin, const char *name)
{
    gt_error err = {0};
    gt_status s = begin ? gt_measurement_task_start(m, name, &err) : gt_measurement_task_stop(m, name, &err);
    CHECK_MSG(s == GT_OK, "%s %s: %s", begin ? "start" : "stop", name, err.message);
}

const gt_task_result *fake_rapl_find(const gt_energy_result *r, const char *name)
{
    for (int i = 0; i < r->task_count; i++)
        if (!strcmp(r->tasks[i].name, name))
            return &r->tasks[i];
    test_fail(__FILE__, __LINE__, "no task '%s'", name);
    return NULL;
}
