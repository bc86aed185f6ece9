/* gt_meter: one or two backends behind one lock, chosen from a spec.
 *
 * "auto" takes the best CPU source that works (rapl, then perf, then the
 * estimate) and adds NVML when a GPU answers; every source it skipped leaves a
 * note saying why, so a user on a VM learns why the figure is estimated. An
 * explicit spec ("rapl", "rapl+nvml") fails with the source's own error. */
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
    int have_good;                /* the last reading that succeeded: */
    double good_t, good_j[GT_COMPONENTS];
};

typedef enum { KIND_RAPL, KIND_PERF, KIND_NVML, KIND_ESTIMATE, KIND_COUNT } backend_kind;
static const char *const kind_names[KIND_COUNT] = {"rapl", "perf", "nvml", "estimate"};
static const unsigned kind_components[KIND_COUNT] = {
    COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM), COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM),
    COMPONENT_BIT(GT_GPU), COMPONENT_BIT(GT_CPU) | COMPONENT_BIT(GT_DRAM)};

/* Parses "auto" or a '+' list into kinds[]; returns the count, 0 for auto. */
static gt_status parse_spec(const char *spec, backend_kind kinds[KIND_COUNT], int *count, gt_error *err)
{
    *count = 0;
    if (!spec || !strcmp(spec, "auto"))
        return GT_OK;
    unsigned used = 0;
    const char *p = spec;
    for (;;) {
        size_t n = strcspn(p, "+");
        int found = -1;
        for (int k = 0; k < KIND_COUNT; k++)
            if (strlen(kind_names[k]) == n && !strncmp(p, kind_names[k], n))
                found = k;
        if (found < 0)
            return gt_error_set(err, GT_ERR_INVALID,
                                "meter '%.60s': unknown; use auto, rapl, perf, nvml, estimate or a '+' list "
                                "such as rapl+nvml", spec);
        if (used & kind_components[found])
            return gt_error_set(err, GT_ERR_INVALID,
                                "meter '%.60s': two sources for the same component; keep one of rapl, perf, estimate",
                                spec);
        used |= kind_components[found];
        kinds[(*count)++] = (backend_kind)found;
        if (!p[n])
            return GT_OK;
        p += n + 1;
    }
}

gt_status gt_meter_spec_check(const char *spec, gt_error *err)
{
    backend_kind kinds[KIND_COUNT];
    int count;
    return parse_spec(spec, kinds, &count, err);
}

static gt_status open_kind(backend_kind k, const gt_measure_options *o, backend **b, gt_error *err)
{
    switch (k) {
    case KIND_RAPL: return rapl_open(b, err);
    case KIND_PERF: return perf_open(b, err);
    case KIND_NVML: return nvml_open(energy_now(), b, err);
    case KIND_ESTIMATE: return estimate_open(o, energy_now(), b, err);
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
    for (int c = 0; c < GT_COMPONENTS; c++)
        if (b->components & COMPONENT_BIT(c))
            snprintf(m->sources[c], sizeof m->sources[c], "%s", b->name);
    m->estimated |= b->is_estimate;
}

/* auto: the first CPU source that opens, then NVML if it opens. */
static gt_status open_auto(gt_meter *m, const gt_measure_options *o, gt_error *err)
{
    static const backend_kind cpu_order[] = {KIND_RAPL, KIND_PERF, KIND_ESTIMATE};
    for (size_t i = 0; i < sizeof cpu_order / sizeof cpu_order[0]; i++) {
        backend *b;
        gt_error why = {0};
        if (open_kind(cpu_order[i], o, &b, &why) == GT_OK) {
            add_backend(m, b);
            break;
        }
        if (cpu_order[i] == KIND_ESTIMATE) {
            *err = why;
            return why.status;
        }
        energy_note_add(&m->notes, &m->note_count, "%s", why.message);
    }
    backend *gpu;
    gt_error why = {0};
    if (open_kind(KIND_NVML, o, &gpu, &why) == GT_OK)
        add_backend(m, gpu);
    else
        energy_note_add(&m->notes, &m->note_count, "%s", why.message);
    return GT_OK;
}

gt_status gt_meter_open(const gt_measure_options *o, gt_meter **out, gt_error *err)
{
    *out = NULL;
    backend_kind kinds[KIND_COUNT];
    int count;
    gt_status s = parse_spec(o->meter, kinds, &count, err);
    if (s != GT_OK)
        return s;
    gt_meter *m = calloc(1, sizeof *m);
    if (!m)
        return gt_error_set(err, GT_ERR_NOMEM, "meter: out of memory");
    pthread_mutex_init(&m->lock, NULL);
    if (count == 0) {
        s = open_auto(m, o, err);
    } else {
        for (int i = 0; i < count && s == GT_OK; i++) {
            backend *b;
            if ((s = open_kind(kinds[i], o, &b, err)) == GT_OK)
                add_backend(m, b);
        }
    }
    if (s != GT_OK) {
        gt_meter_close(m);
        return s;
    }
    *out = m;
    return GT_OK;
}

gt_status meter_read_timed(gt_meter *m, double *now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    gt_status s = GT_OK;
    pthread_mutex_lock(&m->lock);
    double now = energy_now();
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = 0;
    for (int i = 0; i < m->count && s == GT_OK; i++) {
        double part[GT_COMPONENTS];
        s = m->backends[i]->read(m->backends[i], now, part, err);
        for (int c = 0; c < GT_COMPONENTS && s == GT_OK; c++)
            if (m->backends[i]->components & COMPONENT_BIT(c))
                joules[c] += part[c];
    }
    if (s == GT_OK) {
        m->have_good = 1;
        m->good_t = now;
        memcpy(m->good_j, joules, sizeof m->good_j);
    }
    pthread_mutex_unlock(&m->lock);
    if (now_s)
        *now_s = now;
    return s;
}

int meter_last_good(gt_meter *m, double *t, double joules[GT_COMPONENTS])
{
    pthread_mutex_lock(&m->lock);
    int have = m->have_good;
    if (have) {
        *t = m->good_t;
        memcpy(joules, m->good_j, sizeof m->good_j);
    }
    pthread_mutex_unlock(&m->lock);
    return have;
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
    pthread_mutex_destroy(&m->lock);
    free(m);
}
