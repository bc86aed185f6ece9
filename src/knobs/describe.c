/* The dry run: what each knob of a set would change, without changing it. */
#include "knob_internal.h"

static void describe_params(const gt_knob_use *use, FILE *out)
{
    const cJSON *p;
    char text[256];
    int first = 1;
    fputs("    params:", out);
    cJSON_ArrayForEach(p, use->params) {
        fprintf(out, "%s %s=%s", first ? "" : ",", p->string, knob_value_text(p, text, sizeof text));
        first = 0;
    }
    fputs(first ? " (none)\n" : "\n", out);
}

static void describe_effect(const gt_knob_def *def, FILE *out)
{
    switch (def->effect) {
    case GT_KNOB_PENDING:
        fputs("    effect: provided by the pipeline, not built yet (a run refuses this knob)\n", out);
        break;
    case GT_KNOB_PIPELINE:
        fputs("    effect: applied by the pipeline\n", out);
        break;
    case GT_KNOB_MACHINE:
        fputs("    effect: applied before the pipeline starts", out);
        fputs(def->stages ? "; original values restored after the run\n" : "\n", out);
        break;
    }
}

gt_status knob_set_check_pipeline(const gt_knob_set *set, const struct gt_pipeline_spec *pipeline, gt_error *err)
{
    for (size_t i = 0; i < set->count; i++) {
        const gt_knob_use *use = &set->items[i];
        gt_status st = use->def->hooks && use->def->hooks->check ? use->def->hooks->check(use, pipeline, err) : GT_OK;
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

gt_status gt_knob_set_describe(const gt_knob_set *set, const gt_knob_context *ctx, FILE *out, gt_error *err)
{
    gt_status result = GT_OK;
    char phases[64], resources[64], stages[64];
    if (set->count == 0)
        fputs("no knobs: the pipeline runs as configured\n", out);
    for (size_t i = 0; i < set->count; i++) {
        const gt_knob_use *use = &set->items[i];
        const gt_knob_def *def = use->def;
        fprintf(out, "%s [%s, %s]: %s\n", def->name, gt_knob_phase_names(def->phases, phases, sizeof phases),
                gt_knob_resource_names(def->resources, resources, sizeof resources), def->summary);
        describe_params(use, out);
        fprintf(out, "    changes: %s\n", def->stages ? gt_knob_stage_names(def->stages, stages, sizeof stages)
                                                     : "the start time");
        fputs("    records:", out);
        for (const char *const *key = def->evidence; key && *key; key++)
            fprintf(out, "%s %s", key == def->evidence ? "" : ",", *key);
        fputc('\n', out);
        describe_effect(def, out);
        if (def->hooks && (def->hooks->plan || def->hooks->check)) {
            gt_error e = {0};
            gt_status st = def->hooks->check && ctx && ctx->pipeline ? def->hooks->check(use, ctx->pipeline, &e)
                                                                     : GT_OK;
            if (st == GT_OK && def->hooks->plan)
                st = def->hooks->plan(use, set, ctx, out, &e);
            if (st != GT_OK) {
                fprintf(out, "    cannot apply here: %s\n", e.message);
                if (result == GT_OK && err)
                    *err = e;
                if (result == GT_OK)
                    result = e.status;
            }
        }
    }
    return result;
}
