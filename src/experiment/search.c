/* The knob search: the bundle with the least energy whose F1 stays within a
 * budget, found with far fewer runs than trying every combination.
 *
 * 1. The baseline and every single-knob variant of the experiment are run
 *    (or taken from the database): each knob i gets its energy ratio
 *    r_i = E_i / E_0 and its F1 drop d_i = 100 (F1_0 - F1_i), in points.
 * 2. Usable knobs save energy (r_i < 1) and stay within the budget alone.
 *    Two knobs combine only when the registry lets them (no declared
 *    conflict) and they do not target the same resource in the same phase
 *    (seq_trim and subsample both cut the data phase's tokens: their savings
 *    overlap, which the cascade model cannot know).
 * 3. The cascade model predicts a bundle: ratio prod(r_i), F1 drop sum(d_i),
 *    refined by what has been measured: the largest measured sub-bundle of
 *    three knobs or more stands for its knobs, and every measured pair adds
 *    its interaction q_ij = r_ij / (r_i r_j) — a second-order model.
 * 4. A beam search (width `beam` per bundle size) proposes the untried bundle
 *    with the lowest predicted ratio whose predicted drop is within the
 *    budget; it is measured with the experiment's repeats. A measured bundle
 *    that the report's cascade test calls synergistic or antagonistic has its
 *    pairs measured next, so the model learns which knobs interact.
 * 5. The search stops when no untried proposal is predicted to beat the best
 *    measured variant within the budget, or when the run budget is spent.
 * Proposed bundles are variants named after their single-knob variants
 * ("V8+V11+V13"), stored like any other: a search stopped midway resumes. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment_internal.h"
#include "greentune/analysis.h"
#include "greentune/knobs.h"

#define MAX_SINGLES 64

typedef struct {
    const gt_sweep_variant *v;
    const gt_knob_def *def;
    cJSON *params;           /* canonical parameters (from the variant's knobs_json) */
    size_t a;                /* index in the analysis, GT_NONE when absent */
    double r, d;             /* energy ratio to the baseline, F1 drop in points */
    int usable;
} single;

typedef struct {
    uint64_t mask;
    double r, d;
} bundle;

typedef struct {
    gt_store *store;
    const gt_experiment *exp;
    const gt_search_options *o;
    gt_sweep_options sweep;  /* o->sweep, idle measured once */
    int64_t id;
    single s[MAX_SINGLES];
    size_t k;
    uint64_t compatible[MAX_SINGLES]; /* bit j of [i]: i and j may be combined */
    bundle *measured;        /* bundles of singles with finished runs */
    size_t n_measured;
    uint64_t *tried;         /* bundles the search ran (done or failed) */
    size_t n_tried;
    gt_sweep_variant *made;  /* variants it proposed */
    size_t n_made;
    gt_analysis a;
    int analysed;
    size_t base;             /* the baseline in the analysis */
    gt_search_result *r;
} search;

void gt_search_options_init(gt_search_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_f1_drop = 1;
    o->beam = 32;
    gt_sweep_options_init(&o->sweep);
}

void gt_search_result_free(gt_search_result *r)
{
    free(r->best_knobs_json);
    memset(r, 0, sizeof *r);
}

static int bits(uint64_t mask)
{
    return __builtin_popcountll(mask);
}

/* --- the knobs and which of them combine --------------------------------------- */

/* Two knobs combine when the registry accepts them in one set and they do not
 * target the same resource in the same phase. */
static int combinable(const single *x, const single *y)
{
    if ((x->def->phases & y->def->phases) && (x->def->resources & y->def->resources))
        return 0;
    gt_knob_set set;
    gt_knob_set_init(&set);
    gt_error ignored = {0};
    int ok = gt_knob_set_add_json(&set, x->def->name, x->params, &ignored) == GT_OK &&
             gt_knob_set_add_json(&set, y->def->name, y->params, &ignored) == GT_OK;
    gt_knob_set_free(&set);
    return ok;
}

/* The baseline and the single-knob variants of the experiment. */
static gt_status find_singles(search *s, gt_error *err)
{
    const gt_sweep_variant *base = gt_experiment_find(s->exp, s->exp->baseline);
    if (!base || base->command || base->n_knobs || base->n_own_sets)
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: search: the baseline '%s' must be the pipeline itself (no knobs, set or command) — "
                            "the savings of the knobs are measured against it",
                            s->exp->path, s->exp->baseline);
    for (size_t i = 0; i < s->exp->n_variants; i++) {
        const gt_sweep_variant *v = &s->exp->variants[i];
        if (v == base || v->command || v->n_knobs != 1 || v->n_own_sets)
            continue;
        if (s->k == MAX_SINGLES)
            return gt_error_set(err, GT_ERR_INVALID, "%s: search: more than %d single-knob variants", s->exp->path,
                                MAX_SINGLES);
        cJSON *knobs = cJSON_Parse(v->knobs_json);
        single *x = &s->s[s->k];
        x->v = v;
        x->def = knobs && knobs->child ? gt_knob_find(knobs->child->string) : NULL;
        x->params = knobs && knobs->child ? cJSON_DetachItemViaPointer(knobs, knobs->child) : NULL;
        cJSON_Delete(knobs);
        if (!x->def || !x->params) {
            cJSON_Delete(x->params);
            return gt_error_set(err, GT_ERR_INTERNAL, "search: variant '%s': unreadable knobs", v->name);
        }
        s->k++;
    }
    if (!s->k)
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: search: no single-knob variants to combine — add variants with one knob each, "
                            "e.g. {name: V8, knobs: {seq_trim: 64}}",
                            s->exp->path);
    for (size_t i = 0; i < s->k; i++)
        for (size_t j = 0; j < s->k; j++)
            if (i != j && combinable(&s->s[i], &s->s[j]))
                s->compatible[i] |= 1ull << j;
    return GT_OK;
}

/* --- what has been measured ---------------------------------------------------- */

static double f1_drop(const gt_variant_summary *v, const gt_variant_summary *base)
{
    if (!v->has_metrics || !base->has_metrics)
        return NAN;
    return 100 * (base->f1.mean - v->f1.mean);
}

/* The single whose knob (name and canonical parameters) this is, or -1. */
static int single_of(const search *s, const gt_knob_ref *knob)
{
    for (size_t i = 0; i < s->k; i++) {
        size_t a = s->s[i].a;
        if (a != GT_NONE && s->a.variants[a].n_knobs == 1 && !strcmp(s->a.variants[a].knobs[0].name, knob->name) &&
            !strcmp(s->a.variants[a].knobs[0].params, knob->params))
            return (int)i;
    }
    return -1;
}

static size_t analysis_index(const gt_analysis *a, const char *name)
{
    for (size_t i = 0; i < a->n_variants; i++)
        if (!strcmp(a->variants[i].name, name))
            return i;
    return GT_NONE;
}

/* Reads the store again and derives the model's inputs from it. */
static gt_status analyse(search *s, gt_error *err)
{
    if (s->analysed)
        gt_analysis_free(&s->a);
    s->analysed = 0;
    gt_experiment_data data;
    gt_status st = gt_store_load(s->store, s->exp->name, &data, err);
    if (st != GT_OK)
        return st;
    st = gt_analyze(&data, &s->a, err);
    gt_experiment_data_free(&data);
    if (st != GT_OK)
        return st;
    s->analysed = 1;
    s->base = analysis_index(&s->a, s->exp->baseline);
    const gt_variant_summary *base = s->base != GT_NONE ? &s->a.variants[s->base] : NULL;
    if (!base || !base->runs || !(base->energy.mean > 0))
        return gt_error_set(err, GT_ERR_INVALID,
                            "search: the baseline '%s' has no finished run (%s) — nothing to compare with",
                            s->exp->baseline,
                            base && base->first_error ? base->first_error : "see greentune report");
    for (size_t i = 0; i < s->k; i++) {
        single *x = &s->s[i];
        x->a = analysis_index(&s->a, x->v->name);
        const gt_variant_summary *v = x->a != GT_NONE ? &s->a.variants[x->a] : NULL;
        x->r = v && v->runs ? v->energy.mean / base->energy.mean : NAN;
        x->d = v && v->runs ? f1_drop(v, base) : NAN;
        x->usable = x->r < 1 && x->d <= s->o->max_f1_drop;
    }
    s->n_measured = 0;
    free(s->measured);
    s->measured = calloc(s->a.n_variants ? s->a.n_variants : 1, sizeof *s->measured);
    if (!s->measured)
        return gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
    for (size_t i = 0; i < s->a.n_variants; i++) {
        const gt_variant_summary *v = &s->a.variants[i];
        uint64_t mask = 0;
        int ok = v->n_knobs >= 2 && v->runs > 0 && !v->external;
        for (size_t j = 0; ok && j < v->n_knobs; j++) {
            int idx = single_of(s, &v->knobs[j]);
            ok = idx >= 0 && s->s[idx].usable;
            if (ok)
                mask |= 1ull << idx;
        }
        if (ok && !isnan(f1_drop(v, base)))
            s->measured[s->n_measured++] = (bundle){mask, v->energy.mean / base->energy.mean, f1_drop(v, base)};
    }
    return GT_OK;
}

/* The variant with the least energy whose F1 drop is within the budget (the
 * baseline when none is). */
static size_t best_measured(const search *s)
{
    size_t best = s->base;
    const gt_variant_summary *base = &s->a.variants[s->base];
    for (size_t i = 0; i < s->a.n_variants; i++) {
        const gt_variant_summary *v = &s->a.variants[i];
        if (v->runs && !v->external && f1_drop(v, base) <= s->o->max_f1_drop &&
            v->energy.mean < s->a.variants[best].energy.mean)
            best = i;
    }
    return best;
}

/* --- the model and the proposals --------------------------------------------------- */

/* Predicted ratio and drop of a bundle, by the cascade model with what has
 * been measured: the largest measured sub-bundle of three knobs or more (its
 * own ratio and drop), the single knobs outside it, and the interaction of
 * every measured pair not inside it (q_ij = r_ij / (r_i r_j); drops likewise
 * d_ij - d_i - d_j). */
static bundle predict(const search *s, uint64_t mask)
{
    bundle b = {mask, 1, 0};
    const bundle *anchor = NULL;
    for (size_t i = 0; i < s->n_measured; i++) {
        const bundle *m = &s->measured[i];
        if (bits(m->mask) >= 3 && !(m->mask & ~mask) && (!anchor || bits(m->mask) > bits(anchor->mask)))
            anchor = m;
    }
    uint64_t inside = anchor ? anchor->mask : 0;
    if (anchor)
        b.r = anchor->r, b.d = anchor->d;
    for (size_t i = 0; i < s->k; i++)
        if ((mask & ~inside) >> i & 1) {
            b.r *= s->s[i].r;
            b.d += s->s[i].d;
        }
    for (size_t i = 0; i < s->n_measured; i++) {
        const bundle *m = &s->measured[i];
        if (bits(m->mask) != 2 || (m->mask & ~mask) || !(m->mask & ~inside))
            continue;
        int x = __builtin_ctzll(m->mask), y = 63 - __builtin_clzll(m->mask);
        b.r *= m->r / (s->s[x].r * s->s[y].r);
        b.d += m->d - s->s[x].d - s->s[y].d;
    }
    return b;
}

static int known(const search *s, uint64_t mask)
{
    for (size_t i = 0; i < s->n_measured; i++)
        if (s->measured[i].mask == mask)
            return 1;
    for (size_t i = 0; i < s->n_tried; i++)
        if (s->tried[i] == mask)
            return 1;
    return 0;
}

static int by_ratio(const void *x, const void *y)
{
    const bundle *a = x, *b = y;
    return a->r < b->r ? -1 : a->r > b->r ? 1 : a->mask < b->mask ? -1 : a->mask > b->mask;
}

/* The untried bundle (two knobs or more) with the lowest predicted ratio
 * within the F1 budget; 0 when there is none. */
static int propose(const search *s, bundle *out, gt_error *err)
{
    size_t width = s->o->beam > 0 ? (size_t)s->o->beam : 32;
    bundle *beam = calloc(width * s->k, sizeof *beam), *next = calloc(width * s->k, sizeof *next);
    if (!beam || !next) {
        free(beam);
        free(next);
        gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
        return -1;
    }
    size_t n_beam = 0, found = 0;
    for (size_t i = 0; i < s->k; i++)
        if (s->s[i].usable)
            beam[n_beam++] = predict(s, 1ull << i);
    for (size_t size = 2; size <= s->k && n_beam; size++) {
        size_t n_next = 0;
        for (size_t b = 0; b < n_beam; b++)
            for (size_t j = 0; j < s->k; j++) {
                uint64_t mask = beam[b].mask | 1ull << j;
                if (!s->s[j].usable || mask == beam[b].mask || (s->compatible[j] & beam[b].mask) != beam[b].mask)
                    continue;
                int seen = 0;
                for (size_t q = 0; q < n_next && !seen; q++)
                    seen = next[q].mask == mask;
                bundle p = predict(s, mask);
                if (!seen && p.d <= s->o->max_f1_drop)
                    next[n_next++] = p;
            }
        qsort(next, n_next, sizeof *next, by_ratio);
        if (n_next > width)
            n_next = width;
        for (size_t q = 0; q < n_next; q++)
            if (!known(s, next[q].mask) && (!found || next[q].r < out->r))
                *out = next[q], found = 1;
        bundle *t = beam;
        beam = next;
        next = t;
        n_beam = n_next;
    }
    free(beam);
    free(next);
    return found ? 1 : 0;
}

/* --- running ------------------------------------------------------------------------- */

static gt_status execute(search *s, const gt_sweep_variant *variants, size_t n, gt_error *err)
{
    gt_sweep_summary summary;
    gt_status st = gt_sweep_execute(s->store, s->exp, s->id, variants, n, &s->sweep, &summary, err);
    s->sweep.measure_idle = 0; /* once, before the first runs */
    s->r->runs_new += summary.done + summary.failed;
    if (summary.interrupted)
        s->r->interrupted = 1;
    return st;
}

/* Plans the repeats of a proposed bundle, after everything planned before. */
static gt_status plan_bundle(search *s, const gt_sweep_variant *v, gt_error *err)
{
    gt_run_plan *p = calloc((size_t)s->exp->repeats, sizeof *p);
    if (!p)
        return gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
    int first = (int)((s->exp->n_variants + s->n_tried) * (size_t)s->exp->repeats);
    for (int r = 0; r < s->exp->repeats; r++)
        p[r] = (gt_run_plan){v->name, r, first + r};
    gt_status st = gt_store_plan_runs(s->store, s->id, p, (size_t)s->exp->repeats, err);
    free(p);
    return st;
}

/* The baseline and the singles: their runs in the experiment's own order. */
static gt_status run_singles(search *s, gt_error *err)
{
    size_t n = s->exp->n_variants * (size_t)s->exp->repeats, k = 0;
    gt_run_plan *full = calloc(n, sizeof *full);
    gt_sweep_variant *subset = calloc(s->k + 1, sizeof *subset);
    if (!full || !subset) {
        free(full);
        free(subset);
        return gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
    }
    subset[0] = *gt_experiment_find(s->exp, s->exp->baseline);
    for (size_t i = 0; i < s->k; i++)
        subset[i + 1] = *s->s[i].v;
    gt_experiment_plan(s->exp, full);
    for (size_t i = 0; i < n; i++) {
        int keep = !strcmp(full[i].variant, s->exp->baseline);
        for (size_t j = 0; j < s->k && !keep; j++)
            keep = !strcmp(full[i].variant, s->s[j].v->name);
        if (keep)
            full[k++] = full[i];
    }
    gt_status st = gt_store_plan_runs(s->store, s->id, full, k, err);
    size_t pending = 0;
    if (st == GT_OK && s->o->budget > 0) {
        gt_run_ref *refs = NULL;
        size_t n_refs = 0;
        st = gt_store_pending_runs(s->store, s->id, s->sweep.retry_failed, &refs, &n_refs, err);
        for (size_t i = 0; i < n_refs; i++)
            for (size_t j = 0; j < s->k + 1; j++)
                pending += !strcmp(refs[i].variant, subset[j].name);
        free(refs);
        if (st == GT_OK && pending > (size_t)s->o->budget)
            st = gt_error_set(err, GT_ERR_INVALID,
                              "search: --budget %ld does not cover the baseline and single-knob runs still to do "
                              "(%zu) — raise it",
                              s->o->budget, pending);
    }
    if (st == GT_OK)
        st = execute(s, subset, s->k + 1, err);
    free(full);
    free(subset);
    return st;
}

/* The variant for a bundle: one the experiment file defines with exactly
 * these knobs, else a new one named after its singles. */
static gt_status bundle_variant(search *s, uint64_t mask, const gt_sweep_variant **out, gt_error *err)
{
    for (size_t i = 0; i < s->a.n_variants; i++) {
        const gt_variant_summary *v = &s->a.variants[i];
        uint64_t m = 0;
        int ok = v->n_knobs >= 2 && !v->external && (size_t)bits(mask) == v->n_knobs;
        for (size_t j = 0; ok && j < v->n_knobs; j++) {
            int idx = single_of(s, &v->knobs[j]);
            ok = idx >= 0;
            m |= idx >= 0 ? 1ull << idx : 0;
        }
        const gt_sweep_variant *mine = ok && m == mask ? gt_experiment_find(s->exp, v->name) : NULL;
        for (size_t j = 0; !mine && ok && m == mask && j < s->n_made; j++)
            if (!strcmp(s->made[j].name, v->name))
                mine = &s->made[j];
        if (mine) {
            *out = mine;
            return GT_OK;
        }
    }
    char name[GT_NAME_MAX * 2] = "";
    size_t used = 0;
    cJSON *knobs = cJSON_CreateObject();
    for (size_t i = 0; knobs && i < s->k; i++)
        if (mask >> i & 1) {
            used += (size_t)snprintf(name + used, sizeof name - used, "%s%s", used ? "+" : "", s->s[i].v->name);
            if (used >= sizeof name)
                used = sizeof name - 1;
            cJSON_AddItemToObject(knobs, s->s[i].def->name, cJSON_Duplicate(s->s[i].params, 1));
        }
    /* Too long, or the name of a variant with other knobs: named by its mask. */
    if (used >= GT_NAME_MAX || gt_experiment_find(s->exp, name))
        snprintf(name, sizeof name, "search-%016llx", (unsigned long long)mask);
    gt_sweep_variant *bigger = realloc(s->made, (s->n_made + 1) * sizeof *bigger);
    if (!knobs || !bigger) {
        cJSON_Delete(knobs);
        if (bigger)
            s->made = bigger;
        return gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
    }
    s->made = bigger;
    gt_status st = gt_experiment_make_variant(s->exp, name, knobs, &s->made[s->n_made], err);
    cJSON_Delete(knobs);
    if (st != GT_OK)
        return st;
    const gt_sweep_variant *v = &s->made[s->n_made++];
    gt_variant_spec spec = {v->name, v->knobs_json, NULL};
    gt_experiment_spec e = {s->exp->name, s->exp->spec_text, s->exp->baseline, &spec, 1};
    int64_t id;
    st = gt_store_experiment(s->store, &e, &id, err);
    *out = v;
    return st;
}

static gt_status try_bundle(search *s, uint64_t mask, gt_error *err)
{
    const gt_sweep_variant *v;
    gt_status st = bundle_variant(s, mask, &v, err);
    uint64_t *bigger = st == GT_OK ? realloc(s->tried, (s->n_tried + 1) * sizeof *bigger) : NULL;
    if (st == GT_OK && !bigger)
        st = gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
    if (st != GT_OK)
        return st;
    s->tried = bigger;
    s->tried[s->n_tried++] = mask;
    s->r->bundles_tried++;
    st = plan_bundle(s, v, err);
    if (st == GT_OK)
        st = execute(s, v, 1, err);
    return st;
}

/* --- the answer ---------------------------------------------------------------------- */

static void fill_result(search *s, size_t best)
{
    gt_search_result *r = s->r;
    const gt_variant_summary *v = &s->a.variants[best], *base = &s->a.variants[s->base];
    snprintf(r->best, sizeof r->best, "%s", v->name);
    r->found = best != s->base && v->energy.mean < base->energy.mean;
    r->saving_pct = -v->d_energy.pct;
    r->saving_ci_lo = -v->d_energy.ci_hi;
    r->saving_ci_hi = -v->d_energy.ci_lo;
    if (best == s->base)
        r->saving_pct = 0, r->saving_ci_lo = r->saving_ci_hi = NAN;
    r->f1_drop = f1_drop(v, base);
    r->f1_drop_ci_lo = r->f1_drop_ci_hi = NAN;
    double vb = base->f1.std * base->f1.std / (double)base->f1.n, vv = v->f1.std * v->f1.std / (double)v->f1.n;
    if (best != s->base && base->f1.n >= 2 && v->f1.n >= 2 && vb + vv > 0) {
        double df = (vb + vv) * (vb + vv) / (vb * vb / (double)(base->f1.n - 1) + vv * vv / (double)(v->f1.n - 1));
        double half = 100 * gt_t_quantile(0.975, df) * sqrt(vb + vv);
        r->f1_drop_ci_lo = r->f1_drop - half;
        r->f1_drop_ci_hi = r->f1_drop + half;
    } else if (best != s->base && base->f1.n >= 2 && v->f1.n >= 2) {
        r->f1_drop_ci_lo = r->f1_drop_ci_hi = r->f1_drop; /* identical repeats: exact */
    }
    free(r->best_knobs_json);
    r->best_knobs_json = NULL;
    const gt_sweep_variant *sv = gt_experiment_find(s->exp, v->name);
    for (size_t j = 0; !sv && j < s->n_made; j++)
        if (!strcmp(s->made[j].name, v->name))
            sv = &s->made[j];
    if (sv && sv->knobs_json)
        r->best_knobs_json = strdup(sv->knobs_json);
    /* The runs the decisions rest on: baseline, singles, bundles of singles. */
    r->runs_used = base->runs + base->failed;
    for (size_t i = 0; i < s->k; i++)
        if (s->s[i].a != GT_NONE)
            r->runs_used += s->a.variants[s->s[i].a].runs + s->a.variants[s->s[i].a].failed;
    for (size_t i = 0; i < s->a.n_variants; i++) {
        const gt_variant_summary *b = &s->a.variants[i];
        int of_singles = b->n_knobs >= 2 && !b->external;
        for (size_t j = 0; of_singles && j < b->n_knobs; j++)
            of_singles = single_of(s, &b->knobs[j]) >= 0;
        if (of_singles)
            r->runs_used += b->runs + b->failed;
    }
    r->singles = s->k;
    r->candidates = 0;
    for (size_t i = 0; i < s->k; i++)
        r->candidates += (size_t)s->s[i].usable;
    r->runs_exhaustive = (size_t)((s->k >= 63 ? ~0ull : (1ull << s->k) - 1) * (uint64_t)s->exp->repeats);
}

static void stop_because(search *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stop_because(search *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->r->stop_reason, sizeof s->r->stop_reason, fmt, ap);
    va_end(ap);
}

static int over_budget(search *s)
{
    if (s->o->budget > 0 && s->r->runs_new + (size_t)s->exp->repeats > (size_t)s->o->budget) {
        s->r->budget_exhausted = 1;
        stop_because(s, "the budget of %ld runs is spent", s->o->budget);
        return 1;
    }
    return 0;
}

/* The cascade model's verdict on a measured bundle (analysis.h): anything
 * but additive means some of its knobs interact. */
static int interacts(const search *s, uint64_t mask)
{
    for (size_t i = 0; i < s->a.n_bundles; i++) {
        const gt_variant_summary *v = &s->a.variants[s->a.bundles[i].variant];
        uint64_t m = 0;
        for (size_t j = 0; j < v->n_knobs; j++) {
            int idx = single_of(s, &v->knobs[j]);
            m |= idx >= 0 ? 1ull << idx : 0;
        }
        gt_interaction how = s->a.bundles[i].cascade.interaction;
        if (m == mask && v->n_knobs == (size_t)bits(mask))
            return how == GT_INTERACTION_SYNERGISTIC || how == GT_INTERACTION_ANTAGONISTIC;
    }
    return 0;
}

/* A bundle of three knobs or more that did not do what its singles
 * predicted: its pairs are measured, so the model learns which knobs
 * interact (a second-order model, as a factorial design would fit). */
static gt_status screen_pairs(search *s, uint64_t mask, gt_error *err)
{
    gt_status st = GT_OK;
    for (size_t i = 0; st == GT_OK && i < s->k; i++)
        for (size_t j = i + 1; st == GT_OK && j < s->k; j++) {
            uint64_t pair = 1ull << i | 1ull << j;
            if ((pair & mask) != pair || known(s, pair))
                continue;
            if (over_budget(s) || s->r->interrupted)
                return GT_OK;
            st = try_bundle(s, pair, err);
        }
    return st;
}

static gt_status search_loop(search *s, gt_error *err)
{
    gt_status st;
    uint64_t last = 0;
    while ((st = analyse(s, err)) == GT_OK) {
        size_t best = best_measured(s);
        fill_result(s, best);
        if (s->r->interrupted || (s->sweep.stop && *s->sweep.stop)) {
            s->r->interrupted = 1;
            stop_because(s, "interrupted");
            break;
        }
        if (last && bits(last) >= 3 && interacts(s, last)) {
            uint64_t screened = last;
            last = 0;
            if ((st = screen_pairs(s, screened, err)) != GT_OK || s->r->budget_exhausted)
                break;
            continue;
        }
        bundle p;
        int found = propose(s, &p, err);
        if (found < 0)
            return err->status;
        double best_ratio = s->a.variants[best].energy.mean / s->a.variants[s->base].energy.mean;
        if (!found && !s->r->candidates) {
            stop_because(s, "none of the %zu single knobs saved energy within the F1 budget (or their runs failed)",
                         s->k);
            break;
        }
        if (!found) {
            stop_because(s, "no untried bundle of combinable knobs is predicted within the F1 budget");
            break;
        }
        if (!(p.r < best_ratio)) {
            stop_because(s, "no untried bundle is predicted to use less energy than %s", s->a.variants[best].name);
            break;
        }
        if (over_budget(s))
            break;
        if ((st = try_bundle(s, p.mask, err)) != GT_OK)
            return st;
        last = p.mask;
    }
    return st;
}

gt_status gt_search(gt_store *store, const gt_experiment *exp, const gt_search_options *o, gt_search_result *r,
                    gt_error *err)
{
    memset(r, 0, sizeof *r);
    if (!(o->max_f1_drop >= 0) || o->budget < 0)
        return gt_error_set(err, GT_ERR_INVALID, "search: the F1 budget must be >= 0 points and the run budget >= 0");
    search *s = calloc(1, sizeof *s);
    if (!s)
        return gt_error_set(err, GT_ERR_NOMEM, "search: out of memory");
    s->store = store;
    s->exp = exp;
    s->o = o;
    s->sweep = o->sweep;
    s->r = r;
    gt_status st = find_singles(s, err);
    if (st == GT_OK)
        st = exp_store_experiment(store, exp, &s->id, err);
    if (st == GT_OK)
        st = run_singles(s, err);
    if (st == GT_OK)
        st = search_loop(s, err);
    for (size_t i = 0; i < s->k; i++)
        cJSON_Delete(s->s[i].params);
    for (size_t i = 0; i < s->n_made; i++)
        gt_sweep_variant_free(&s->made[i]);
    free(s->made);
    free(s->measured);
    free(s->tried);
    if (s->analysed)
        gt_analysis_free(&s->a);
    free(s);
    return st;
}
