/* RAPL through the powercap sysfs interface (intel-rapl, also used by AMD).
 *
 *   <sysfs>/class/powercap/intel-rapl:N/        a package (name "package-N"),
 *       energy_uj, max_energy_range_uj            or "psys" (whole platform)
 *       intel-rapl:N:M/                           sub-zones: "core", "uncore", "dram"
 *
 * CPU energy is the sum of the packages (core and uncore are parts of them,
 * never added again); DRAM is the sum of the dram zones. psys overlaps both and
 * is left out. Counters are microjoules and wrap at max_energy_range_uj, so
 * every read accumulates the difference from the previous read; a read at least
 * once per wrap period (the sampler's job) keeps the total exact. */
#include "energy/internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAPL_ZONES_MAX 64

typedef struct {
    char path[512];         /* .../energy_uj */
    gt_component component;
    uint64_t max_range_uj;
    uint64_t last_uj;
    double total_j;
} rapl_zone;

typedef struct {
    backend base;
    rapl_zone zones[RAPL_ZONES_MAX];
    int zone_count;
} rapl_meter;

/* Joules between two readings of a counter that wraps at max_range. */
static double counter_delta_j(uint64_t last, uint64_t now, uint64_t max_range)
{
    uint64_t d = now >= last ? now - last : (max_range - last) + now;
    return (double)d * 1e-6;
}

static gt_status explain_unreadable(gt_status s, const char *path, gt_error *err)
{
    if (s == GT_ERR_PERMISSION)
        return gt_error_set(err, s,
                            "%s: permission denied: RAPL counters are readable by root only (Linux >= 5.10); "
                            "run as root or grant read access (README, 'Reading RAPL without root': "
                            "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
                            "/sys/class/powercap/intel-rapl:*/intel-rapl:*/energy_uj)",
                            path);
    return s;
}

/* Adds the zone in dir (a powercap zone directory) if it is a package or dram. */
static gt_status add_zone(rapl_meter *r, const char *dir, gt_error *err)
{
    char path[512], name[64];
    snprintf(path, sizeof path, "%s/name", dir);
    gt_status s = energy_read_text(path, name, sizeof name, err);
    if (s != GT_OK)
        return s;
    name[strcspn(name, "\r\n")] = '\0';
    gt_component c;
    if (!strncmp(name, "package", 7))
        c = GT_CPU;
    else if (!strcmp(name, "dram"))
        c = GT_DRAM;
    else
        return GT_OK; /* core, uncore (inside a package), psys (overlaps everything) */
    if (r->zone_count == RAPL_ZONES_MAX)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "%s: more than %d RAPL zones", dir, RAPL_ZONES_MAX);
    rapl_zone *z = &r->zones[r->zone_count];
    memset(z, 0, sizeof *z);
    z->component = c;
    snprintf(path, sizeof path, "%s/max_energy_range_uj", dir);
    if ((s = energy_read_u64(path, &z->max_range_uj, err)) != GT_OK)
        return explain_unreadable(s, path, err);
    if (z->max_range_uj == 0)
        return gt_error_set(err, GT_ERR_PARSE, "%s: a range of 0 cannot be a counter range", path);
    snprintf(z->path, sizeof z->path, "%s/energy_uj", dir);
    if ((s = energy_read_u64(z->path, &z->last_uj, err)) != GT_OK)
        return explain_unreadable(s, z->path, err);
    r->zone_count++;
    return GT_OK;
}

/* Top-level zones are "intel-rapl:N"; sub-zones "intel-rapl:N:M" live inside. */
static int is_zone_name(const char *name, int depth)
{
    const char *p = name;
    if (strncmp(p, "intel-rapl:", 11))
        return 0;
    p += 11;
    for (int level = 0; level < depth; level++) {
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        if (level + 1 < depth && *p++ != ':')
            return 0;
    }
    return *p == '\0';
}

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

/* Lists the entries of dir that are zones at depth, sorted, into names[]. */
static int list_zones(const char *dir, int depth, char names[][64], int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (is_zone_name(e->d_name, depth) && strlen(e->d_name) < 64)
            snprintf(names[n++], 64, "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, 64, compare_names);
    return n;
}

static gt_status rapl_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    (void)now_s;
    rapl_meter *r = (rapl_meter *)b;
    for (int i = 0; i < r->zone_count; i++) {
        rapl_zone *z = &r->zones[i];
        uint64_t now;
        gt_status s = energy_read_u64(z->path, &now, err);
        if (s != GT_OK)
            return explain_unreadable(s, z->path, err);
        if (now > z->max_range_uj)
            return gt_error_set(err, GT_ERR_PARSE, "%s: %llu exceeds max_energy_range_uj %llu", z->path,
                                (unsigned long long)now, (unsigned long long)z->max_range_uj);
        z->total_j += counter_delta_j(z->last_uj, now, z->max_range_uj);
        z->last_uj = now;
    }
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = 0;
    for (int i = 0; i < r->zone_count; i++)
        joules[r->zones[i].component] += r->zones[i].total_j;
    return GT_OK;
}

static void rapl_close(backend *b) { free(b); }

gt_status rapl_open(backend **out, gt_error *err)
{
    *out = NULL;
    char base[400];
    snprintf(base, sizeof base, "%s/class/powercap", energy_sysfs_root());
    char top[RAPL_ZONES_MAX][64];
    int n = list_zones(base, 1, top, RAPL_ZONES_MAX);
    if (n < 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "rapl: %s is not present (no RAPL driver; a VM or container?)",
                            base);
    rapl_meter *r = calloc(1, sizeof *r);
    if (!r)
        return gt_error_set(err, GT_ERR_NOMEM, "rapl: out of memory");
    r->base.name = "rapl";
    r->base.read = rapl_read;
    r->base.close = rapl_close;
    int packages = 0, drams = 0;
    gt_status s = GT_OK;
    for (int i = 0; i < n && s == GT_OK; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", base, top[i]);
        s = add_zone(r, dir, err);
        char sub[RAPL_ZONES_MAX][64];
        int m = s == GT_OK ? list_zones(dir, 2, sub, RAPL_ZONES_MAX) : 0;
        for (int j = 0; j < m && s == GT_OK; j++) {
            char subdir[600];
            snprintf(subdir, sizeof subdir, "%s/%s", dir, sub[j]);
            s = add_zone(r, subdir, err);
        }
    }
    for (int i = 0; i < r->zone_count; i++) {
        packages += r->zones[i].component == GT_CPU;
        drams += r->zones[i].component == GT_DRAM;
    }
    if (s == GT_OK && packages == 0)
        s = gt_error_set(err, GT_ERR_UNSUPPORTED, "rapl: %s has no package zone", base);
    if (s != GT_OK) {
        free(r);
        return s;
    }
    r->base.components = COMPONENT_BIT(GT_CPU) | (drams ? COMPONENT_BIT(GT_DRAM) : 0);
    snprintf(r->base.description, sizeof r->base.description, "rapl: %d package zone(s), %d dram zone(s) under %s",
             packages, drams, base);
    *out = &r->base;
    return GT_OK;
}
