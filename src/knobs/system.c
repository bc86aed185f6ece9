/* System-phase knobs: the machine the pipeline runs on.
 *
 * power_cap, cpu_freq, threads, pin_cores and carbon_aware take effect here,
 * before the pipeline starts (gt_knobs_apply_machine, src/knobs/apply.c), with
 * their evidence next to their effect. The sysfs writes go through
 * machine_state.c, which saves the original values, journals them and restores
 * them on every exit path. prefetch acts on the pipeline (its train stage's
 * batches); fused sets up the engine's fused kernels through stage hooks. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "forecast.h"
#include "gpu_power.h"
#include "knob_internal.h"
#include "pipeline/stage_hooks.h"
#include "machine_state.h"
#include "pipeline/pipeline_internal.h"
#include "util/sysfs.h"

#define TARGETS_MAX 512
#define POWERCAP_DIR "class/powercap"
#define CPUFREQ_DIR "devices/system/cpu/cpufreq"

/* --- one setting written to a file per zone (power_cap) or policy (cpu_freq) --- */

typedef struct {
    char name[32];                /* intel-rapl:0, policy3 */
    char path[GT_SYSFS_PATH_MAX]; /* the file written */
    char original[64];            /* its value before the knob */
    char value[64];               /* what the knob writes */
    char read_back[64];           /* what the file held right after */
    char enabled_path[GT_SYSFS_PATH_MAX]; /* power_cap: the zone's enabled switch, "" if none */
    int enabled;                  /* its value before (1 when there is none) */
    double max;                   /* upper bound in the file's unit, 0 when unknown */
} sysfs_target;

typedef struct {
    int count;
    sysfs_target items[TARGETS_MAX];
} targets;

/* How a setting's values read as evidence and whether a read-back counts as applied. */
typedef struct {
    const char *names_key, *original_key, *read_back_key, *read_back_end_key;
    cJSON *(*render)(const char *raw);
    int (*accepted)(const sysfs_target *t);
} setting_kind;

/* Sorted names "<prefix>N" in a sysfs directory (intel-rapl:0, policy12). */
static gt_status list_numbered(const char *knob, const char *relative_dir, const char *prefix, const char *missing_why,
                               targets *out, gt_error *err)
{
    char dir[GT_SYSFS_PATH_MAX];
    if (gt_sysfs_path(dir, sizeof dir, err, "%s", relative_dir) != GT_OK)
        return gt_error_prefix(err, "%s: ", knob);
    DIR *d = opendir(dir);
    if (!d)
        return gt_error_set(err, errno == ENOENT ? GT_ERR_UNSUPPORTED : GT_ERR_IO, "%s: %s: %s (%s); pick another knob",
                            knob, dir, strerror(errno), missing_why);
    struct dirent *e;
    size_t prefix_len = strlen(prefix);
    out->count = 0;
    while ((e = readdir(d)) && out->count < TARGETS_MAX) {
        const char *tail = e->d_name + prefix_len;
        if (strncmp(e->d_name, prefix, prefix_len) || !*tail || strspn(tail, "0123456789") != strlen(tail) ||
            strlen(e->d_name) >= sizeof out->items[0].name)
            continue;
        /* Insertion by number keeps policy2 before policy10. */
        long number = strtol(tail, NULL, 10);
        int at = out->count;
        while (at > 0 && strtol(out->items[at - 1].name + prefix_len, NULL, 10) > number) {
            out->items[at] = out->items[at - 1];
            at--;
        }
        memset(&out->items[at], 0, sizeof out->items[at]);
        snprintf(out->items[at].name, sizeof out->items[at].name, "%s", e->d_name);
        out->count++;
    }
    closedir(d);
    if (out->count == 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "%s: no %sN entries under %s (%s); pick another knob", knob, prefix,
                            dir, missing_why);
    return GT_OK;
}

static cJSON *names_array(const targets *ts)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < ts->count; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(ts->items[i].name));
    return a;
}

/* Evidence: one rendered value per target, taken from a field of each. */
static cJSON *values_array(const targets *ts, const setting_kind *kind, size_t field_offset)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < ts->count; i++)
        cJSON_AddItemToArray(a, kind->render((const char *)&ts->items[i] + field_offset));
    return a;
}

/* Writes every target (through the journal), reads each back, records evidence. */
static gt_status apply_targets(gt_knob_use *use, targets *ts, const setting_kind *kind, gt_error *err)
{
    const char *knob = use->def->name;
    for (int i = 0; i < ts->count; i++) {
        sysfs_target *t = &ts->items[i];
        gt_status status;
        /* A zone whose limits are off ignores them: switch it on (restored too). */
        if (t->enabled_path[0] && !t->enabled && (status = ms_write(knob, t->enabled_path, "1", err)) != GT_OK)
            return status;
        if ((status = ms_write(knob, t->path, t->value, err)) != GT_OK)
            return status;
        if ((status = gt_sysfs_read_string(t->path, t->read_back, sizeof t->read_back, err)) != GT_OK)
            return gt_error_prefix(err, "%s: reading back: ", knob);
        if (!kind->accepted(t))
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "%s: %s reads back \"%s\" after writing \"%s\" (the kernel or firmware did not apply it)",
                                knob, t->path, t->read_back, t->value);
    }
    knob_evidence_item(use, kind->names_key, names_array(ts));
    knob_evidence_item(use, kind->original_key, values_array(ts, kind, offsetof(sysfs_target, original)));
    knob_evidence_item(use, kind->read_back_key, values_array(ts, kind, offsetof(sysfs_target, read_back)));
    return GT_OK;
}

/* While running: every file must still hold what was read back after writing. */
static gt_status verify_targets(gt_knob_use *use, const setting_kind *kind, gt_error *err)
{
    targets *ts = use->state;
    cJSON *now = cJSON_CreateArray();
    gt_status status = GT_OK;
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        char value[64];
        status = gt_sysfs_read_string(ts->items[i].path, value, sizeof value, err);
        if (status != GT_OK)
            break;
        cJSON_AddItemToArray(now, kind->render(value));
        if (strcmp(value, ts->items[i].read_back))
            status = gt_error_set(err, GT_ERR_INVALID,
                                  "%s: %s changed during the run from \"%s\" to \"%s\"; something else manages it",
                                  use->def->name, ts->items[i].path, ts->items[i].read_back, value);
    }
    knob_evidence_item(use, kind->read_back_end_key, now);
    return status;
}

/* After the machine state was written back: every file holds its original again. */
static gt_status check_restored(gt_knob_use *use, gt_error *err)
{
    targets *ts = use->state;
    gt_status status = GT_OK;
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        char value[64];
        status = gt_sysfs_read_string(ts->items[i].path, value, sizeof value, err);
        if (status == GT_OK && strcmp(value, ts->items[i].original))
            status = gt_error_set(err, GT_ERR_IO, "%s: %s reads \"%s\" after restoring \"%s\"", use->def->name,
                                  ts->items[i].path, value, ts->items[i].original);
    }
    knob_evidence_bool(use, "restored", status == GT_OK);
    return status;
}

/* Prints the plan of a setting for a dry run. */
static void plan_targets(const targets *ts, FILE *out)
{
    for (int i = 0; i < ts->count; i++) {
        const sysfs_target *t = &ts->items[i];
        fprintf(out, "    would write %s to %s (now %s; restored after the run)\n", t->value, t->path, t->original);
        if (t->enabled_path[0] && !t->enabled)
            fprintf(out, "    would write 1 to %s (limits are off in this zone now; restored after the run)\n",
                    t->enabled_path);
    }
}

typedef gt_status (*resolve_fn)(const gt_knob_use *use, targets *ts, gt_error *err);

static gt_status plan_setting(const gt_knob_use *use, resolve_fn resolve, FILE *out, gt_error *err)
{
    targets *ts = malloc(sizeof *ts);
    if (!ts)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", use->def->name);
    gt_status status = resolve(use, ts, err);
    if (status == GT_OK)
        plan_targets(ts, out);
    free(ts);
    return status;
}

/* Resolves the files and checks they are writable (the problem worth reporting
 * first), takes the machine state — which replays a killed run's journal — and
 * resolves again so the originals are the true ones, then writes. */
static gt_status apply_setting(gt_knob_use *use, resolve_fn resolve, const setting_kind *kind, gt_error *err)
{
    targets *ts = malloc(sizeof *ts);
    if (!ts)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", use->def->name);
    use->state = ts;
    gt_status status = resolve(use, ts, err);
    for (int i = 0; i < ts->count && status == GT_OK; i++)
        if ((status = gt_sysfs_check_writable(ts->items[i].path, err)) != GT_OK)
            gt_error_prefix(err, "%s: ", use->def->name);
    if (status == GT_OK)
        status = ms_begin(use->def->name, err);
    if (status == GT_OK)
        status = resolve(use, ts, err);
    if (status == GT_OK)
        status = apply_targets(use, ts, kind, err);
    return status;
}

/* --- power_cap ----------------------------------------------------------------- */

static cJSON *render_watts(const char *microwatts)
{
    return cJSON_CreateNumber(strtod(microwatts, NULL) / 1e6);
}

static int power_accepted(const sysfs_target *t)
{
    double wrote = strtod(t->value, NULL), got = strtod(t->read_back, NULL);
    return fabs(got - wrote) <= wrote / 100; /* firmware rounds to its power unit */
}

static const setting_kind power_kind = {"zones", "original_w", "limit_w_read_back", "limit_w_read_back_end",
                                        render_watts, power_accepted};

/* Finds every package zone and checks the cap against its range, writing nothing. */
static gt_status power_cap_targets(const gt_knob_use *use, targets *ts, gt_error *err)
{
    double watts = gt_knob_double(use, "watts");
    uint64_t microwatts = (uint64_t)llround(watts * 1e6);
    gt_status status = list_numbered("power_cap", POWERCAP_DIR, "intel-rapl:",
                                     "no RAPL power capping here; a VM or container?", ts, err);
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        sysfs_target *t = &ts->items[i];
        char max_path[GT_SYSFS_PATH_MAX], enabled[16];
        uint64_t max_uw = 0;
        if ((status = gt_sysfs_path(t->path, sizeof t->path, err, POWERCAP_DIR "/%s/constraint_0_power_limit_uw", t->name)) ||
            (status = gt_sysfs_path(max_path, sizeof max_path, err, POWERCAP_DIR "/%s/constraint_0_max_power_uw", t->name)) ||
            (status = gt_sysfs_path(t->enabled_path, sizeof t->enabled_path, err, POWERCAP_DIR "/%s/enabled", t->name)))
            break;
        if ((status = gt_sysfs_read_string(t->path, t->original, sizeof t->original, err)) != GT_OK)
            return gt_error_prefix(err, "power_cap: ");
        /* Some firmware has no maximum (or reports 0): then only the floor applies. */
        status = gt_sysfs_read_u64(max_path, &max_uw, err);
        if (status == GT_ERR_NOT_FOUND)
            max_uw = 0;
        else if (status != GT_OK)
            return gt_error_prefix(err, "power_cap: ");
        status = gt_sysfs_read_string(t->enabled_path, enabled, sizeof enabled, err);
        if (status == GT_ERR_NOT_FOUND)
            t->enabled_path[0] = '\0';
        else if (status != GT_OK)
            return gt_error_prefix(err, "power_cap: ");
        status = GT_OK;
        t->enabled = !t->enabled_path[0] || strcmp(enabled, "0") != 0;
        t->max = (double)max_uw / 1e6;
        if (max_uw && microwatts > max_uw)
            return gt_error_set(err, GT_ERR_INVALID, "power_cap: %g W is above %s's maximum of %g W (%s); pick at most that",
                                watts, t->name, t->max, max_path);
        /* A package capped under a tenth of its rating crawls for hours: refuse. */
        if (max_uw && microwatts < max_uw / 10)
            return gt_error_set(err, GT_ERR_INVALID, "power_cap: %g W is below a tenth of %s's maximum of %g W; pick at least %g W",
                                watts, t->name, t->max, ceil(t->max / 10));
        snprintf(t->value, sizeof t->value, "%" PRIu64, microwatts);
    }
    return status;
}

/* --- power_cap on NVIDIA GPUs (device=gpu): NVML's power management limit ------- */

typedef struct {
    int count;
    gpu_power_info gpus[GPU_POWER_MAX];   /* limit_mw: the original */
    unsigned target_mw;
    unsigned read_back_mw[GPU_POWER_MAX];
} gpu_targets;

static int power_cap_on_gpu(const gt_knob_use *use)
{
    const char *device = gt_knob_string(use, "device");
    return device && !strcmp(device, "gpu");
}

/* Every GPU, its limit now, and the cap checked against each board's range. */
static gt_status gpu_cap_targets(const gt_knob_use *use, gpu_targets *ts, gt_error *err)
{
    double watts = gt_knob_double(use, "watts");
    ts->target_mw = (unsigned)llround(watts * 1e3);
    gt_status status = gpu_power_list(ts->gpus, GPU_POWER_MAX, &ts->count, err);
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        const gpu_power_info *g = &ts->gpus[i];
        if (ts->target_mw < g->min_mw || ts->target_mw > g->max_mw)
            status = gt_error_set(err, GT_ERR_INVALID,
                                  "power_cap: %g W is outside GPU %d (%s)'s range of %g to %g W; pick a limit in it",
                                  watts, g->index, g->name, g->min_mw / 1e3, g->max_mw / 1e3);
    }
    return status;
}

static void gpu_key(char *key, size_t size, const gpu_power_info *g)
{
    snprintf(key, size, GPU_POWER_KEY_PREFIX "%s" GPU_POWER_KEY_SUFFIX, g->uuid);
}

static gt_status gpu_cap_plan(const gt_knob_use *use, FILE *out, gt_error *err)
{
    gpu_targets *ts = malloc(sizeof *ts);
    if (!ts)
        return gt_error_set(err, GT_ERR_NOMEM, "power_cap: out of memory");
    gt_status status = gpu_cap_targets(use, ts, err);
    for (int i = 0; i < ts->count && status == GT_OK; i++)
        fprintf(out, "    would set GPU %d (%s, %s) power limit to %g W (now %g W, range %g to %g W; restored after "
                     "the run)\n", ts->gpus[i].index, ts->gpus[i].name, ts->gpus[i].uuid, ts->target_mw / 1e3,
                ts->gpus[i].limit_mw / 1e3, ts->gpus[i].min_mw / 1e3, ts->gpus[i].max_mw / 1e3);
    free(ts);
    return status;
}

static cJSON *watts_array(const unsigned *mw, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(mw[i] / 1e3));
    return a;
}

/* Takes the machine state (which replays a killed run's journal, so the limits
 * read next are the true originals), journals each GPU's limit, sets it, and
 * reads it back. */
static gt_status gpu_cap_apply(gt_knob_use *use, gt_error *err)
{
    gpu_targets *ts = malloc(sizeof *ts);
    if (!ts)
        return gt_error_set(err, GT_ERR_NOMEM, "power_cap: out of memory");
    memset(ts, 0, sizeof *ts);
    use->state = ts;
    gt_status status = gpu_cap_targets(use, ts, err);
    if (status == GT_OK)
        status = ms_begin("power_cap", err);
    if (status == GT_OK)
        status = gpu_cap_targets(use, ts, err);
    cJSON *zones = cJSON_CreateArray();
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        const gpu_power_info *g = &ts->gpus[i];
        char key[GPU_UUID_MAX + 32], original[32], zone[256];
        gpu_key(key, sizeof key, g);
        snprintf(original, sizeof original, "%u", g->limit_mw);
        snprintf(zone, sizeof zone, "GPU %d %s (%s)", g->index, g->name, g->uuid);
        cJSON_AddItemToArray(zones, cJSON_CreateString(zone));
        if ((status = ms_record("power_cap", key, original, err)) != GT_OK ||
            (status = gpu_power_set(g->uuid, ts->target_mw, err)) != GT_OK ||
            (status = gpu_power_get(g->uuid, &ts->read_back_mw[i], err)) != GT_OK)
            break;
        /* the board rounds to its own step */
        if (fabs((double)ts->read_back_mw[i] - ts->target_mw) > ts->target_mw / 100.0)
            status = gt_error_set(err, GT_ERR_UNSUPPORTED,
                                  "power_cap: GPU %d reads back %g W after setting %g W (the driver did not apply it)",
                                  g->index, ts->read_back_mw[i] / 1e3, ts->target_mw / 1e3);
    }
    unsigned original_mw[GPU_POWER_MAX], max_mw[GPU_POWER_MAX];
    for (int i = 0; i < ts->count; i++) {
        original_mw[i] = ts->gpus[i].limit_mw;
        max_mw[i] = ts->gpus[i].max_mw;
    }
    knob_evidence_string(use, "device", "gpu");
    knob_evidence_item(use, "zones", zones);
    knob_evidence_item(use, "original_w", watts_array(original_mw, ts->count));
    knob_evidence_item(use, "max_w", watts_array(max_mw, ts->count));
    knob_evidence_item(use, "limit_w_read_back", watts_array(ts->read_back_mw, ts->count));
    return status;
}

/* While running: each limit still what was read back after setting it. */
static gt_status gpu_cap_verify(gt_knob_use *use, gt_error *err)
{
    gpu_targets *ts = use->state;
    unsigned now[GPU_POWER_MAX] = {0};
    gt_status status = GT_OK;
    for (int i = 0; i < ts->count && status == GT_OK; i++)
        if ((status = gpu_power_get(ts->gpus[i].uuid, &now[i], err)) == GT_OK && now[i] != ts->read_back_mw[i])
            status = gt_error_set(err, GT_ERR_INVALID,
                                  "power_cap: GPU %d's power limit changed during the run from %g W to %g W; something "
                                  "else manages it", ts->gpus[i].index, ts->read_back_mw[i] / 1e3, now[i] / 1e3);
    knob_evidence_item(use, "limit_w_read_back_end", watts_array(now, ts->count));
    return status;
}

/* After the machine state was written back: each GPU at its original limit. */
static gt_status gpu_cap_check_restored(gt_knob_use *use, gt_error *err)
{
    gpu_targets *ts = use->state;
    gt_status status = GT_OK;
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        unsigned mw = 0;
        if ((status = gpu_power_get(ts->gpus[i].uuid, &mw, err)) == GT_OK && mw != ts->gpus[i].limit_mw)
            status = gt_error_set(err, GT_ERR_IO, "power_cap: GPU %d reads %g W after restoring %g W",
                                  ts->gpus[i].index, mw / 1e3, ts->gpus[i].limit_mw / 1e3);
    }
    knob_evidence_bool(use, "restored", status == GT_OK);
    return status;
}

static gt_status power_cap_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                                gt_error *err)
{
    if (power_cap_on_gpu(use))
        return gpu_cap_plan(use, out, err);
    return plan_setting(use, power_cap_targets, out, err);
}

static gt_status power_cap_apply(gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, gt_error *err)
{
    if (power_cap_on_gpu(use))
        return gpu_cap_apply(use, err);
    gt_status status = apply_setting(use, power_cap_targets, &power_kind, err);
    if (status == GT_OK) {
        const targets *ts = use->state;
        cJSON *max = cJSON_CreateArray();
        for (int i = 0; i < ts->count; i++)
            cJSON_AddItemToArray(max, ts->items[i].max > 0 ? cJSON_CreateNumber(ts->items[i].max) : cJSON_CreateNull());
        knob_evidence_item(use, "max_w", max);
    }
    return status;
}

static gt_status power_cap_verify(gt_knob_use *use, gt_error *err)
{
    return power_cap_on_gpu(use) ? gpu_cap_verify(use, err) : verify_targets(use, &power_kind, err);
}

static gt_status power_cap_restore(gt_knob_use *use, gt_error *err)
{
    return power_cap_on_gpu(use) ? gpu_cap_check_restored(use, err) : check_restored(use, err);
}

/* --- cpu_freq ------------------------------------------------------------------ */

static cJSON *render_string(const char *raw)
{
    return cJSON_CreateString(raw);
}

static cJSON *render_number(const char *raw)
{
    return cJSON_CreateNumber(strtod(raw, NULL));
}

static int governor_accepted(const sysfs_target *t)
{
    return !strcmp(t->read_back, t->value);
}

/* The kernel may settle on a supported frequency at or below the one asked for. */
static int max_freq_accepted(const sysfs_target *t)
{
    double got = strtod(t->read_back, NULL);
    return got > 0 && got <= strtod(t->value, NULL);
}

static const setting_kind governor_kind = {"policies", "original", "value_read_back", "value_read_back_end",
                                           render_string, governor_accepted};
static const setting_kind max_freq_kind = {"policies", "original", "value_read_back", "value_read_back_end",
                                           render_number, max_freq_accepted};

static gt_status cpu_freq_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    const cJSON *governor = cJSON_GetObjectItemCaseSensitive(params, "governor");
    int has_khz = cJSON_GetObjectItemCaseSensitive(params, "max_khz") != NULL;
    if (!!governor == has_khz)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": give a governor or max_khz, %s", def->name,
                            has_khz ? "not both" : "e.g. cpu_freq=powersave or cpu_freq=2000000");
    if (governor && (strlen(governor->valuestring) > 15 ||
                     strspn(governor->valuestring, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(governor->valuestring)))
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": \"%s\" is not a cpufreq governor name", def->name,
                            governor->valuestring);
    return GT_OK;
}

/* Is word one of the space-separated words of list? */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return 1;
    return 0;
}

static gt_status policy_file(const sysfs_target *t, const char *file, char *path, size_t size, gt_error *err)
{
    return gt_sysfs_path(path, size, err, CPUFREQ_DIR "/%s/%s", t->name, file);
}

static const setting_kind *cpu_freq_kind(const gt_knob_use *use)
{
    return gt_knob_string(use, "governor") ? &governor_kind : &max_freq_kind;
}

static gt_status cpu_freq_targets(const gt_knob_use *use, targets *ts, gt_error *err)
{
    const char *governor = gt_knob_string(use, "governor");
    long khz = gt_knob_int(use, "max_khz");
    gt_status status = list_numbered("cpu_freq", CPUFREQ_DIR, "policy", "no cpufreq here; a VM or container?", ts, err);
    for (int i = 0; i < ts->count && status == GT_OK; i++) {
        sysfs_target *t = &ts->items[i];
        char path[GT_SYSFS_PATH_MAX], text[GT_SYSFS_VALUE_MAX];
        uint64_t lo, hi;
        if ((status = policy_file(t, governor ? "scaling_governor" : "scaling_max_freq", t->path, sizeof t->path, err)))
            break;
        if ((status = gt_sysfs_read_string(t->path, t->original, sizeof t->original, err)) != GT_OK)
            return gt_error_prefix(err, "cpu_freq: ");
        if (governor) {
            if ((status = policy_file(t, "scaling_available_governors", path, sizeof path, err)) ||
                (status = gt_sysfs_read_string(path, text, sizeof text, err)))
                return gt_error_prefix(err, "cpu_freq: ");
            if (!has_word(text, governor))
                return gt_error_set(err, GT_ERR_UNSUPPORTED, "cpu_freq: governor \"%s\" is not available on %s (available: %s)",
                                    governor, t->name, text);
            snprintf(t->value, sizeof t->value, "%s", governor);
            continue;
        }
        if ((status = policy_file(t, "cpuinfo_min_freq", path, sizeof path, err)) ||
            (status = gt_sysfs_read_u64(path, &lo, err)) ||
            (status = policy_file(t, "cpuinfo_max_freq", path, sizeof path, err)) ||
            (status = gt_sysfs_read_u64(path, &hi, err)))
            return gt_error_prefix(err, "cpu_freq: ");
        if ((uint64_t)khz < lo || (uint64_t)khz > hi)
            return gt_error_set(err, GT_ERR_INVALID,
                                "cpu_freq: %ld kHz is outside %s's range %" PRIu64 "..%" PRIu64 " kHz (cpuinfo_min_freq..cpuinfo_max_freq)",
                                khz, t->name, lo, hi);
        t->max = (double)hi;
        snprintf(t->value, sizeof t->value, "%ld", khz);
    }
    return status;
}

static gt_status cpu_freq_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                               gt_error *err)
{
    return plan_setting(use, cpu_freq_targets, out, err);
}

static gt_status cpu_freq_apply(gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, gt_error *err)
{
    gt_status status = apply_setting(use, cpu_freq_targets, cpu_freq_kind(use), err);
    if (status == GT_OK)
        knob_evidence_string(use, "setting", gt_knob_string(use, "governor") ? "scaling_governor" : "scaling_max_freq");
    return status;
}

static gt_status cpu_freq_verify(gt_knob_use *use, gt_error *err)
{
    return verify_targets(use, cpu_freq_kind(use), err);
}

/* --- threads ------------------------------------------------------------------- */

/* The team size a parallel region actually gets: measured, not the setting. */
static int measured_team_size(void)
{
    int n = 0;
#pragma omp parallel
    {
#pragma omp single
        n = omp_get_num_threads();
    }
    return n;
}

static gt_status threads_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                              gt_error *err)
{
    fprintf(out, "    would set OpenMP threads to %ld (now %d; %ld online cores)\n", gt_knob_int(use, "n"),
            omp_get_max_threads(), sysconf(_SC_NPROCESSORS_ONLN));
    return GT_OK;
}

static gt_status threads_apply(gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, gt_error *err)
{
    int *before = malloc(sizeof *before);
    if (!before)
        return gt_error_set(err, GT_ERR_NOMEM, "threads: out of memory");
    int n = (int)gt_knob_int(use, "n");
    *before = omp_get_max_threads();
    use->state = before;
    omp_set_num_threads(n);
    int used = measured_team_size();
    knob_evidence_number(use, "threads_before", *before);
    knob_evidence_number(use, "threads_used", used);
    if (used != n)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "threads: asked for %d OpenMP threads but a parallel region ran %d (OMP_THREAD_LIMIT or OMP_DYNAMIC set?)",
                            n, used);
    return GT_OK;
}

static gt_status threads_restore(gt_knob_use *use, gt_error *err)
{
    int *before = use->state;
    omp_set_num_threads(*before);
    knob_evidence_bool(use, "restored", omp_get_max_threads() == *before);
    return GT_OK;
}

/* --- pin_cores ----------------------------------------------------------------- */

/* "0-3,6" into a set; 0 when malformed or beyond CPU_SETSIZE. */
static int parse_cpulist(const char *text, cpu_set_t *set)
{
    CPU_ZERO(set);
    const char *s = text;
    while (*s) {
        char *end;
        long lo = strtol(s, &end, 10), hi = lo;
        if (end == s || lo < 0)
            return 0;
        s = end;
        if (*s == '-') {
            hi = strtol(s + 1, &end, 10);
            if (end == s + 1 || hi < lo)
                return 0;
            s = end;
        }
        if (hi >= CPU_SETSIZE)
            return 0;
        for (long c = lo; c <= hi; c++)
            CPU_SET((int)c, set);
        if (*s == ',' && s[1])
            s++;
        else if (*s)
            return 0;
    }
    return CPU_COUNT(set) > 0;
}

static const char *format_cpulist(const cpu_set_t *set, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, set))
            continue;
        int last = c;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
            last++;
        int n = last > c ? snprintf(buf + used, size - used, "%s%d-%d", used ? "," : "", c, last)
                         : snprintf(buf + used, size - used, "%s%d", used ? "," : "", c);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
        c = last;
    }
    return buf;
}

static gt_status pin_cores_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    const char *cores = cJSON_GetObjectItemCaseSensitive(params, "cores")->valuestring;
    cpu_set_t set;
    if (strcmp(cores, "compact") && !parse_cpulist(cores, &set))
        return gt_error_set(err, GT_ERR_INVALID,
                            "knob \"%s\": cores \"%s\" is not \"compact\" or a core list like 0-3,6 (cores below %d)",
                            def->name, cores, CPU_SETSIZE);
    return GT_OK;
}

/* The cores to pin to: a list, or the first n the process may use, with n from
 * the threads knob when present (one core per thread). */
static gt_status pin_cores_target(const gt_knob_use *use, const gt_knob_set *set, const cpu_set_t *allowed,
                                  cpu_set_t *target, gt_error *err)
{
    const char *cores = gt_knob_string(use, "cores");
    char list[256];
    if (!strcmp(cores, "compact")) {
        const gt_knob_use *threads = gt_knob_set_find(set, "threads");
        int n = threads ? (int)gt_knob_int(threads, "n") : omp_get_max_threads();
        if (n > CPU_COUNT(allowed))
            return gt_error_set(err, GT_ERR_UNSUPPORTED, "pin_cores: compact needs %d cores, this process may use %d (%s)",
                                n, CPU_COUNT(allowed), format_cpulist(allowed, list, sizeof list));
        CPU_ZERO(target);
        for (int c = 0, taken = 0; c < CPU_SETSIZE && taken < n; c++)
            if (CPU_ISSET(c, allowed)) {
                CPU_SET(c, target);
                taken++;
            }
        return GT_OK;
    }
    parse_cpulist(cores, target);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, target) && !CPU_ISSET(c, allowed))
            return gt_error_set(err, GT_ERR_UNSUPPORTED, "pin_cores: core %d is not available to this process (allowed: %s)",
                                c, format_cpulist(allowed, list, sizeof list));
    return GT_OK;
}

/* Sets the affinity of every thread of the process (threads started later
 * inherit it), or only checks it when mask is NULL: returns the number of
 * threads whose mask equals `expect`. */
static gt_status each_thread_affinity(const cpu_set_t *mask, const cpu_set_t *expect, int *matching, gt_error *err)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "pin_cores: /proc/self/task: %s", strerror(errno));
    struct dirent *e;
    gt_status status = GT_OK;
    *matching = 0;
    while ((e = readdir(d)) && status == GT_OK) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
        cpu_set_t got;
        if (mask && sched_setaffinity(tid, sizeof *mask, mask) != 0 && errno != ESRCH)
            status = gt_error_set(err, GT_ERR_PERMISSION, "pin_cores: sched_setaffinity(thread %ld): %s", (long)tid,
                                  strerror(errno));
        else if (sched_getaffinity(tid, sizeof got, &got) == 0 && CPU_EQUAL(&got, expect))
            (*matching)++;
    }
    closedir(d);
    return status;
}

static gt_status pin_cores_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                                gt_error *err)
{
    cpu_set_t allowed, target;
    char a[256], b[256];
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "pin_cores: sched_getaffinity: %s", strerror(errno));
    gt_status status = pin_cores_target(use, set, &allowed, &target, err);
    if (status == GT_OK)
        fprintf(out, "    would pin every thread to cores %s (now %s)\n", format_cpulist(&target, a, sizeof a),
                format_cpulist(&allowed, b, sizeof b));
    return status;
}

static gt_status pin_cores_apply(gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, gt_error *err)
{
    cpu_set_t *before = malloc(sizeof *before), target, now;
    char text[256];
    int matching, threads;
    if (!before)
        return gt_error_set(err, GT_ERR_NOMEM, "pin_cores: out of memory");
    if (sched_getaffinity(0, sizeof *before, before) != 0) {
        free(before);
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "pin_cores: sched_getaffinity: %s", strerror(errno));
    }
    use->state = before;
    gt_status status = pin_cores_target(use, set, before, &target, err);
    if (status == GT_OK)
        status = each_thread_affinity(&target, &target, &threads, err);
    if (status != GT_OK)
        return status;
    /* Read back from the kernel, for this thread and all the others. */
    each_thread_affinity(NULL, &target, &matching, err);
    sched_getaffinity(0, sizeof now, &now);
    knob_evidence_string(use, "mask_before", format_cpulist(before, text, sizeof text));
    knob_evidence_string(use, "affinity_mask", format_cpulist(&now, text, sizeof text));
    knob_evidence_number(use, "cores", CPU_COUNT(&now));
    knob_evidence_number(use, "threads_pinned", matching);
    if (!CPU_EQUAL(&now, &target) || matching != threads)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "pin_cores: the affinity mask reads back as %s on %d of %d threads",
                            text, matching, threads);
    return GT_OK;
}

static gt_status pin_cores_restore(gt_knob_use *use, gt_error *err)
{
    int matching;
    gt_status status = each_thread_affinity(use->state, use->state, &matching, err);
    knob_evidence_bool(use, "restored", status == GT_OK);
    return status;
}

/* --- carbon_aware ---------------------------------------------------------------- */

static gt_status carbon_choice(const gt_knob_use *use, const gt_knob_context *ctx, double now, forecast_choice *choice,
                               char *path, size_t size, gt_error *err)
{
    const char *file = gt_knob_string(use, "forecast");
    const char *base = ctx && ctx->base_dir ? ctx->base_dir : NULL;
    if (file[0] == '/' || !base)
        snprintf(path, size, "%s", file);
    else
        snprintf(path, size, "%s/%s", base, file);
    forecast f;
    gt_status status = forecast_load(path, &f, err);
    if (status == GT_OK) {
        status = forecast_choose(&f, now, gt_knob_double(use, "window"), gt_knob_double(use, "duration"), choice, err);
        if (status != GT_OK)
            gt_error_prefix(err, "%s: ", path);
        forecast_free(&f);
    }
    return status == GT_OK ? GT_OK : gt_error_prefix(err, "carbon_aware: ");
}

static void format_wait(double seconds, char *buf, size_t size)
{
    long s = lround(seconds);
    snprintf(buf, size, "%ldh %02ldm %02lds", s / 3600, s / 60 % 60, s % 60);
}

static const gt_clock *context_clock(const gt_knob_context *ctx)
{
    return ctx && ctx->clock ? ctx->clock : gt_clock_system();
}

static gt_status carbon_aware_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                                   gt_error *err)
{
    const gt_clock *clock = context_clock(ctx);
    double now = clock->now(clock->ctx);
    forecast_choice c;
    char path[GT_SYSFS_PATH_MAX], when[32], wait[32];
    gt_status status = carbon_choice(use, ctx, now, &c, path, sizeof path, err);
    if (status != GT_OK)
        return status;
    forecast_format_time(c.start, when, sizeof when);
    format_wait(c.start - now, wait, sizeof wait);
    fprintf(out, "    would wait %s, until %s: %g g/kWh instead of %g g/kWh now (%s)\n", wait, when, c.intensity,
            c.intensity_now, path);
    return GT_OK;
}

static gt_status carbon_aware_apply(gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, gt_error *err)
{
    const gt_clock *clock = context_clock(ctx);
    double now = clock->now(clock->ctx);
    forecast_choice c;
    char path[GT_SYSFS_PATH_MAX], when[32], wait[32], line[256];
    gt_status status = carbon_choice(use, ctx, now, &c, path, sizeof path, err);
    if (status != GT_OK)
        return status;
    forecast_format_time(c.start, when, sizeof when);
    format_wait(c.start - now, wait, sizeof wait);
    if (ctx && ctx->log) {
        snprintf(line, sizeof line, "carbon_aware: waiting %s until %s (%g g/kWh instead of %g now)", wait, when,
                 c.intensity, c.intensity_now);
        ctx->log(ctx->log_ctx, line);
    }
    if (c.start > now && clock->sleep(clock->ctx, c.start - now) != 0)
        return gt_error_set(err, GT_ERR_INTERRUPTED, "carbon_aware: interrupted while waiting for %s", when);
    double started = clock->now(clock->ctx);
    knob_evidence_string(use, "chosen_start", when);
    knob_evidence_number(use, "chosen_start_unix", c.start);
    knob_evidence_number(use, "intensity_chosen_g_per_kwh", c.intensity);
    knob_evidence_number(use, "intensity_now_g_per_kwh", c.intensity_now);
    knob_evidence_number(use, "wait_s", started - now);
    knob_evidence_string(use, "forecast", path);
    return GT_OK;
}

/* --- prefetch: a pipeline knob (the train stage's batch feed) ----------------------- */

static gt_status prefetch_train(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    p->train_settings.prefetch = (int)gt_knob_int(use, "depth");
    return GT_OK;
}

/* Overlap: the time the prefetch thread spent building batches that the train
 * thread did not spend waiting for them. */
static gt_status prefetch_evidence(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    const gt_train_counts *c = &p->trained;
    double overlap = c->batch_build_s - c->batch_wait_s;
    knob_evidence_number(use, "overlap_s", overlap > 0 ? overlap : 0);
    knob_evidence_number(use, "batches_prefetched", (double)c->batches_prefetched);
    knob_evidence_number(use, "build_s", c->batch_build_s);
    knob_evidence_number(use, "wait_s", c->batch_wait_s);
    if (c->micro_batches > 0 && c->batches_prefetched == 0)
        return gt_error_set(err, GT_ERR_INTERNAL, "knob \"prefetch\": no batch was built ahead of the train "
                            "thread — the prefetch did not take effect");
    return GT_OK;
}

static const gt_stage_hooks prefetch_stage = {.at = {[GT_HOOK_TRAIN] = prefetch_train,
                                                     [GT_HOOK_FINISH] = prefetch_evidence}};

static gt_status prefetch_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                               gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would: build up to %ld training batches ahead on a background thread while the current one "
            "trains\n", gt_knob_int(use, "depth"));
    return GT_OK;
}

/* --- definitions ------------------------------------------------------------------ */

static const char *const power_devices[] = {"cpu", "gpu", NULL};

static const struct gt_knob_hooks power_cap_hooks = {
    .plan = power_cap_plan, .apply = power_cap_apply, .verify = power_cap_verify, .restore = power_cap_restore};
static const struct gt_knob_hooks cpu_freq_hooks = {.validate = cpu_freq_validate, .plan = cpu_freq_plan,
                                                    .apply = cpu_freq_apply, .verify = cpu_freq_verify,
                                                    .restore = check_restored};
static const struct gt_knob_hooks threads_hooks = {.plan = threads_plan, .apply = threads_apply, .restore = threads_restore};
static const struct gt_knob_hooks pin_cores_hooks = {.validate = pin_cores_validate, .plan = pin_cores_plan,
                                                     .apply = pin_cores_apply, .restore = pin_cores_restore};
static const struct gt_knob_hooks carbon_aware_hooks = {.plan = carbon_aware_plan, .apply = carbon_aware_apply};
static const struct gt_knob_hooks prefetch_hooks = {.plan = prefetch_plan, .stage = &prefetch_stage};

/* --- fused: the engine's fused kernels ------------------------------------------ */

/* Training: blocked attention with the softmax inside, residual + dropout +
 * LayerNorm in one pass, the activation's slope kept from the forward;
 * inference: bias + activation and residual adds as matmul epilogues,
 * prepacked weights. */
static gt_status fused_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)use;
    (void)err;
    p->nn.fused = 1;
    p->nn.attention = GT_NN_ATTN_FUSED;
    return GT_OK;
}

static gt_status fused_finish(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info;
    gt_nn_model_info_get(p->model, &info);
    const cJSON *seconds = cJSON_GetObjectItemCaseSensitive(p->train_json, "compute_seconds");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(p->train_json, "steps");
    double n = cJSON_IsNumber(steps) ? steps->valuedouble : 0;
    knob_evidence_number(use, "fused_ops", (double)info.fused_ops);
    knob_evidence_number(use, "step_ms", n > 0 && cJSON_IsNumber(seconds) ? 1e3 * seconds->valuedouble / n : 0);
    if (!info.fused_ops)
        return gt_error_set(err, GT_ERR_INTERNAL, "knob \"fused\": no op ran fused");
    return GT_OK;
}

static gt_status fused_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                            gt_error *err)
{
    (void)use;
    (void)set;
    (void)ctx;
    (void)err;
    fputs("    would run the fused attention (softmax inside the blocks), residual + LayerNorm in one pass and the\n"
          "    activation's slope kept in training; bias + activation and residual adds in the matmuls in inference\n",
          out);
    return GT_OK;
}

static const gt_stage_hooks fused_stage = {.at = {[GT_HOOK_LOAD] = fused_load, [GT_HOOK_FINISH] = fused_finish}};
static const struct gt_knob_hooks fused_hooks = {.plan = fused_plan, .stage = &fused_stage};

const gt_knob_def gt_knobs_system[] = {
    /* power_cap (V5): RAPL package limits through powercap. */
    {
        .name = "power_cap",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_HARDWARE,
        .stages = GT_STAGE_ALL,
        .paper = "V5",
        .summary = "cap every CPU package's long-term power (RAPL constraint_0), or every NVIDIA GPU's power limit "
                   "(NVML); restored after the run",
        .params = (const gt_knob_param[]){
            {"watts", GT_PARAM_FLOAT, NULL, 5, 5000, NULL, 1, "limit per package (or GPU), in watts"},
            {"device", GT_PARAM_ENUM, "cpu", 0, 0, power_devices, 0,
             "cpu (RAPL package limits) or gpu (NVML power limits; needs root)"},
            {0}},
        .evidence = (const char *const[]){"zones", "original_w", "limit_w_read_back", "restored", NULL},
        .effect = GT_KNOB_MACHINE,
        .hooks = &power_cap_hooks,
    },
    /* prefetch (V10, the paper's "pin-memory" data loader): training batches
     * built on a background thread (src/pipeline/batch_feed.c). */
    {
        .name = "prefetch",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_IO,
        .stages = GT_STAGE_TRAIN,
        .paper = "V10",
        .summary = "a background thread prepares the next batches while the current one trains",
        .params = (const gt_knob_param[]){
            {"depth", GT_PARAM_INT, "2", 1, 16, NULL, 1, "batches prepared ahead"},
            {0}},
        .evidence = (const char *const[]){"overlap_s", "batches_prefetched", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &prefetch_hooks,
    },
    /* fused (V11, the "torch.compile" analogue): the engine's fused kernels (hooks above). */
    {
        .name = "fused",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V11",
        .summary = "fused kernels: attention+softmax, bias+GELU, layernorm+residual, prepacked weights",
        .params = NULL,
        .evidence = (const char *const[]){"fused_ops", "step_ms", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &fused_hooks,
    },
    /* threads (survey, hardware-aware): OpenMP team size of this process. */
    {
        .name = "threads",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_HARDWARE,
        .stages = GT_STAGE_ALL,
        .paper = "survey (hardware-aware)",
        .summary = "number of OpenMP threads the pipeline and oneDNN use",
        .params = (const gt_knob_param[]){
            {"n", GT_PARAM_INT, NULL, 1, 4096, NULL, 1, "threads"},
            {0}},
        .evidence = (const char *const[]){"threads_used", "threads_before", NULL},
        .effect = GT_KNOB_MACHINE,
        .hooks = &threads_hooks,
    },
    /* pin_cores (survey, hardware-aware): CPU affinity of every thread of this process. */
    {
        .name = "pin_cores",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_HARDWARE,
        .stages = GT_STAGE_ALL,
        .paper = "survey (hardware-aware)",
        .summary = "pin the process's threads to a set of cores",
        .params = (const gt_knob_param[]){
            {"cores", GT_PARAM_STRING, "compact", 0, 0, NULL, 1,
             "a core list like 0-3,6, or compact: the first cores available, one per thread"},
            {0}},
        .evidence = (const char *const[]){"affinity_mask", "mask_before", "cores", NULL},
        .effect = GT_KNOB_MACHINE,
        .hooks = &pin_cores_hooks,
    },
    /* cpu_freq (survey, DVFS): cpufreq governor or frequency ceiling of every policy. */
    {
        .name = "cpu_freq",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_HARDWARE,
        .stages = GT_STAGE_ALL,
        .paper = "survey (DVFS ≤ 20 %)",
        .summary = "set every cpufreq policy's governor or scaling_max_freq; restored after the run",
        .params = (const gt_knob_param[]){
            {"max_khz", GT_PARAM_INT, GT_PARAM_OPTIONAL, 1000, 1e8, NULL, 1,
             "frequency ceiling in kHz (or give governor)"},
            {"governor", GT_PARAM_STRING, GT_PARAM_OPTIONAL, 0, 0, NULL, 1,
             "a governor from scaling_available_governors (or give max_khz)"},
            {0}},
        .evidence = (const char *const[]){"policies", "original", "value_read_back", "restored", NULL},
        .effect = GT_KNOB_MACHINE,
        .hooks = &cpu_freq_hooks,
    },
    /* carbon_aware (survey, paper §II): start in the lowest-carbon window of a forecast. */
    {
        .name = "carbon_aware",
        .phases = GT_PHASE_SYSTEM,
        .resources = GT_RESOURCE_CARBON,
        .stages = 0,
        .paper = "survey, paper §II",
        .summary = "delay the start, within a bound, to the lowest-carbon window of an intensity forecast",
        .params = (const gt_knob_param[]){
            {"forecast", GT_PARAM_STRING, NULL, 0, 0, NULL, 1, "CSV of time,g_per_kwh rows (ISO 8601 or Unix seconds)"},
            {"window", GT_PARAM_DURATION, "12h", 0, 7 * 86400, NULL, 0, "longest delay of the start"},
            {"duration", GT_PARAM_DURATION, "0", 0, 7 * 86400, NULL, 0,
             "expected length of the job: the start minimizing its mean intensity is chosen; 0: the intensity at the start"},
            {0}},
        .evidence = (const char *const[]){"chosen_start", "intensity_chosen_g_per_kwh", "intensity_now_g_per_kwh",
                                          "wait_s", NULL},
        .effect = GT_KNOB_MACHINE,
        .hooks = &carbon_aware_hooks,
    },
    {0},
};
