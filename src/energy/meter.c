/* gt_meter: a few backends behind one lock, chosen from a spec.
 *
 * "auto" takes the best CPU source that works (rapl, then perf, then the
 * estimate) and adds NVML and ROCm when a GPU answers; every source it skipped
 * leaves a note saying why, so a user on a VM learns why the figure is
 * estimated. An explicit spec ("rapl", "rapl+nvml", "file:/run/vm-joules")
 * fails with the source's own error. With scope process, every read also
 * shares its increment with the measured process tree (attribute.c). */
#include "energy/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define METER_BACKENDS_MAX 4

struct gt_meter {
    backend *backends[METER_BACKENDS_MAX];
    int count;
    pthread_mutex_t lock;
    char name[GT_METER_NAME_MAX + 1];
    char sources[GT_COMPONENTS][16];
    char description[512];
    char **notes;
    int note_count;
    int estimated;
    double (*clock)(void *ctx);
    void *clock_ctx;
    attribution *attr;               /* scope process */
    /* The last read that succeeded (have_good: there was one): its time, its
     * joules (also the base of the next increment's shares) and the tree's
     * cumulative share as of it. A failed read leaves them as they were. */
    int have_good;
    double good_t;
    double last_j[GT_COMPONENTS];
    double process_j[GT_COMPONENTS];
};

typedef enum { KIND_RAPL, KIND_PERF, KIND_NVML, KIND_ROCM, KIND_ESTIMATE, KIND_FILE, KIND_COUNT } backend_kind;
static const char *const kind_names[KIND_COUNT] = {"rapl", "perf", "nvml", "rocm", "estimate", "file"};
#define CPU_AND_DRAM (COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM))
/* What each kind claims: two CPU sources would count the same joules twice,
 * while GPU sources see different devices and add up. */
static const unsigned kind_exclusive[KIND_COUNT] = {CPU_AND_DRAM, CPU_AND_DRAM, 0, 0, CPU_AND_DRAM, CPU_AND_DRAM};

/* Parses "auto" or a '+' list into kinds[]; returns the count, 0 for auto.
 * "file:PATH" takes the rest of the spec as its path (which may hold '+'). */
static gt_status parse_spec(const char *spec, backend_kind kinds[KIND_COUNT], int *count, const char **file_path,
                            gt_error *err)
{
    *count = 0;
    *file_path = NULL;
    if (!spec || !strcmp(spec, "auto"))
        return GT_OK;
    unsigned used = 0, seen = 0;
    const char *p = spec;
    for (;;) {
        int is_file = !strncmp(p, "file:", 5);
        size_t n = is_file ? 4 : strcspn(p, "+");
        int found = -1;
        for (int k = 0; k < KIND_COUNT; k++)
            if (strlen(kind_names[k]) == n && !strncmp(p, kind_names[k], n))
                found = k;
        if (found < 0 || (found == KIND_FILE && !is_file))
            return gt_error_set(err, GT_ERR_INVALID,
                                "meter '%.60s': unknown; use auto, rapl, perf, nvml, rocm, estimate, file:PATH or a "
                                "'+' list such as rapl+nvml", spec);
        if ((used & kind_exclusive[found]) || (seen & (1u << found)))
            return gt_error_set(err, GT_ERR_INVALID,
                                "meter '%.60s': two sources for the same component; keep one of rapl, perf, "
                                "estimate, file", spec);
        used |= kind_exclusive[found];
        seen |= 1u << found;
        kinds[(*count)++] = (backend_kind)found;
        if (is_file) {
            *file_path = p + 5;
            if (!**file_path)
                return gt_error_set(err, GT_ERR_INVALID, "meter '%.60s': file: needs a path (file:/run/vm-energy)",
                                    spec);
            return GT_OK;
        }
        if (!p[n])
            return GT_OK;
        p += n + 1;
    }
}

gt_status gt_meter_spec_check(const char *spec, gt_error *err)
{
    backend_kind kinds[KIND_COUNT];
    int count;
    const char *path;
    return parse_spec(spec, kinds, &count, &path, err);
}

double meter_now(const gt_meter *m) { return m->clock ? m->clock(m->clock_ctx) : energy_now(); }

static gt_status open_kind(gt_meter *m, backend_kind k, const gt_measure_options *o, const char *path, backend **b,
                           gt_error *err)
{
    switch (k) {
    case KIND_RAPL: return rapl_open(b, err);
    case KIND_PERF: return perf_open(b, err);
    case KIND_NVML: return nvml_open(meter_now(m), b, err);
    case KIND_ROCM: return rocm_open(meter_now(m), b, err);
    case KIND_ESTIMATE: return estimate_open(o, meter_now(m), b, err);
    case KIND_FILE: return file_meter_open(path, meter_now(m), b, err);
    case KIND_COUNT: break;
    }
    return gt_error_set(err, GT_ERR_INTERNAL, "meter: unknown backend kind %d", (int)k);
}

static void add_backend(gt_meter *m, backend *b)
{
    m->backends[m->count++] = b;
    size_t len = strlen(m->name);
    snprintf(m->name + len, sizeof m->name - len, "%s%s", len ? "+" : "", b->name);
    len = strlen(m->description);
    snprintf(m->description + len, sizeof m->description - len, "%s%s", len ? "; " : "", b->description);
    for (int c = 0; c < GT_COMPONENTS; c++) {
        size_t used = strlen(m->sources[c]);
        if (b->components & COMPONENT_BIT(c))
            snprintf(m->sources[c] + used, sizeof m->sources[c] - used, "%s%s", used ? "+" : "", b->name);
    }
    m->estimated |= b->is_estimate;
}

/* auto: the first CPU source that opens, then every GPU source that opens. */
static gt_status open_auto(gt_meter *m, const gt_measure_options *o, gt_error *err)
{
    static const backend_kind cpu_order[] = {KIND_RAPL, KIND_PERF, KIND_ESTIMATE};
    static const backend_kind gpu_kinds[] = {KIND_NVML, KIND_ROCM};
    for (size_t i = 0; i < sizeof cpu_order / sizeof cpu_order[0]; i++) {
        backend *b;
        gt_error why = {0};
        if (open_kind(m, cpu_order[i], o, NULL, &b, &why) == GT_OK) {
            add_backend(m, b);
            break;
        }
        if (cpu_order[i] == KIND_ESTIMATE) {
            *err = why;
            return why.status;
        }
        energy_note_add(&m->notes, &m->note_count, "%s", why.message);
    }
    for (size_t i = 0; i < sizeof gpu_kinds / sizeof gpu_kinds[0]; i++) {
        backend *gpu;
        gt_error why = {0};
        if (open_kind(m, gpu_kinds[i], o, NULL, &gpu, &why) == GT_OK)
            add_backend(m, gpu);
        else
            energy_note_add(&m->notes, &m->note_count, "%s", why.message);
    }
    return GT_OK;
}

gt_status gt_meter_open(const gt_measure_options *o, gt_meter **out, gt_error *err)
{
    *out = NULL;
    backend_kind kinds[KIND_COUNT];
    int count;
    const char *path;
    gt_status s = parse_spec(o->meter, kinds, &count, &path, err);
    if (s != GT_OK)
        return s;
    gt_meter *m = calloc(1, sizeof *m);
    if (!m)
        return gt_error_set(err, GT_ERR_NOMEM, "meter: out of memory");
    pthread_mutex_init(&m->lock, NULL);
    m->clock = o->clock;
    m->clock_ctx = o->clock_ctx;
    if (count == 0) {
        s = open_auto(m, o, err);
    } else {
        for (int i = 0; i < count && s == GT_OK; i++) {
            backend *b;
            if ((s = open_kind(m, kinds[i], o, path, &b, err)) == GT_OK)
                add_backend(m, b);
        }
    }
    if (s == GT_OK && o->scope == GT_SCOPE_PROCESS)
        s = attribution_open(energy_proc_root(), o->pid, meter_now(m), &m->attr, err);
    if (s != GT_OK) {
        gt_meter_close(m);
        return s;
    }
    *out = m;
    return GT_OK;
}

gt_status meter_read_all(gt_meter *m, double *now_s, double joules[GT_COMPONENTS], double process_j[GT_COMPONENTS],
                         gt_error *err)
{
    gt_status s = GT_OK;
    pthread_mutex_lock(&m->lock);
    double now = meter_now(m);
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = 0;
    for (int i = 0; i < m->count && s == GT_OK; i++) {
        double part[GT_COMPONENTS];
        s = m->backends[i]->read(m->backends[i], now, part, err);
        for (int c = 0; c < GT_COMPONENTS && s == GT_OK; c++)
            if (m->backends[i]->components & COMPONENT_BIT(c))
                joules[c] += part[c];
    }
    if (s == GT_OK && m->attr) {
        double delta[GT_COMPONENTS];
        for (int c = 0; c < GT_COMPONENTS; c++)
            delta[c] = joules[c] - m->last_j[c];
        attribution_update(m->attr, now, delta, m->backends, m->count, m->process_j);
    }
    if (s == GT_OK) {
        m->have_good = 1;
        m->good_t = now;
        memcpy(m->last_j, joules, sizeof m->last_j);
    }
    if (process_j)
        memcpy(process_j, m->process_j, sizeof m->process_j);
    pthread_mutex_unlock(&m->lock);
    if (now_s)
        *now_s = now;
    return s;
}

gt_status meter_read_timed(gt_meter *m, double *now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    return meter_read_all(m, now_s, joules, NULL, err);
}

int meter_last_good(gt_meter *m, double *t, double joules[GT_COMPONENTS], double process_j[GT_COMPONENTS])
{
    pthread_mutex_lock(&m->lock);
    int have = m->have_good;
    if (have) {
        *t = m->good_t;
        memcpy(joules, m->last_j, sizeof m->last_j);
        if (process_j)
            memcpy(process_j, m->process_j, sizeof m->process_j);
    }
    pthread_mutex_unlock(&m->lock);
    return have;
}

int meter_process(const gt_meter *m, int *pid, char method[GT_COMPONENTS][96])
{
    if (!m->attr)
        return 0;
    *pid = attribution_pid(m->attr);
    for (int c = 0; c < GT_COMPONENTS; c++)
        snprintf(method[c], 96, "%s", attribution_method(m->attr, (gt_component)c));
    return 1;
}

gt_status gt_meter_read(gt_meter *m, double joules[GT_COMPONENTS], gt_error *err)
{
    return meter_read_timed(m, NULL, joules, err);
}

const char *gt_meter_name(const gt_meter *m) { return m->name; }
int gt_meter_is_estimate(const gt_meter *m) { return m->estimated; }
const char *gt_meter_describe(const gt_meter *m) { return m->description; }
int gt_meter_note_count(const gt_meter *m) { return m->note_count; }

const char *gt_meter_source(const gt_meter *m, gt_component c)
{
    return c >= 0 && c < GT_COMPONENTS ? m->sources[c] : "";
}

const char *gt_meter_note(const gt_meter *m, int i)
{
    return i >= 0 && i < m->note_count ? m->notes[i] : NULL;
}

void meter_gpu_info(const gt_meter *m, int *count, char *model, size_t size)
{
    *count = 0;
    model[0] = '\0';
    for (int i = 0; i < m->count; i++)
        if (m->backends[i]->gpu_count) {
            *count = m->backends[i]->gpu_count;
            snprintf(model, size, "%s", m->backends[i]->gpu_model);
        }
}

void gt_meter_close(gt_meter *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->count; i++)
        m->backends[i]->close(m->backends[i]);
    energy_notes_free(m->notes, m->note_count);
    attribution_close(m->attr);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
