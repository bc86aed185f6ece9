#include "fixture.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"
#include "greentune/store.h"

static char *print_or_null(const cJSON *item)
{
    return item ? cJSON_PrintUnformatted(item) : NULL;
}

static gt_status add_experiment(gt_store *db, const cJSON *fx, int64_t *id, gt_error *err)
{
    const cJSON *variants = cJSON_GetObjectItem(fx, "variants");
    size_t n = (size_t)cJSON_GetArraySize(variants);
    gt_variant_spec *specs = calloc(n ? n : 1, sizeof *specs);
    char **texts = calloc(2 * (n ? n : 1), sizeof *texts);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, variants) {
        texts[2 * i] = print_or_null(cJSON_GetObjectItem(v, "knobs"));
        texts[2 * i + 1] = print_or_null(cJSON_GetObjectItem(v, "command"));
        specs[i] = (gt_variant_spec){cJSON_GetObjectItem(v, "name")->valuestring, texts[2 * i], texts[2 * i + 1]};
        i++;
    }
    gt_experiment_spec spec = {cJSON_GetObjectItem(fx, "name")->valuestring,
                               cJSON_GetObjectItem(fx, "spec")->valuestring,
                               cJSON_GetObjectItem(fx, "baseline")->valuestring, specs, n};
    gt_status st = gt_store_experiment(db, &spec, id, err);
    for (i = 0; i < 2 * n; i++)
        free(texts[i]);
    free(texts);
    free(specs);
    return st;
}

static gt_status add_idle(gt_store *db, int64_t id, const cJSON *fx, gt_error *err)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(fx, "idle")) {
        gt_idle_measurement idle = {cJSON_GetObjectItem(m, "meter")->valuestring,
                                    cJSON_IsTrue(cJSON_GetObjectItem(m, "estimated")),
                                    cJSON_GetObjectItem(m, "duration_s")->valuedouble,
                                    cJSON_GetObjectItem(m, "energy_j")->valuedouble};
        gt_status st = gt_store_add_idle(db, id, &idle, err);
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

/* A run that failed: planned, claimed by this process, then failed. */
static gt_status add_failed(gt_store *db, int64_t id, const char *variant, int repeat, const cJSON *r,
                            gt_error *err)
{
    gt_run_plan plan = {variant, repeat, 1000 + repeat};
    gt_status st = gt_store_plan_runs(db, id, &plan, 1, err);
    gt_run_ref *pending = NULL;
    size_t n = 0;
    if (st == GT_OK)
        st = gt_store_pending_runs(db, id, 0, &pending, &n, err);
    for (size_t i = 0; st == GT_OK && i < n; i++) {
        if (strcmp(pending[i].variant, variant) != 0 || pending[i].repeat != repeat)
            continue;
        int claimed = 0;
        st = gt_store_claim_run(db, pending[i].id, 0, &claimed, err);
        if (st == GT_OK)
            st = gt_store_fail_run(db, pending[i].id, cJSON_GetObjectItem(r, "error")->valuestring,
                                   cJSON_GetObjectItem(r, "stderr")->valuestring, err);
    }
    free(pending);
    return st;
}

static gt_status add_runs(gt_store *db, int64_t id, const cJSON *fx, gt_error *err)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(fx, "runs")) {
        const char *variant = cJSON_GetObjectItem(r, "variant")->valuestring;
        int repeat = cJSON_GetObjectItem(r, "repeat")->valueint;
        gt_status st;
        if (cJSON_GetObjectItem(r, "record")) {
            st = gt_store_add_run_from_json(db, id, variant, repeat, cJSON_GetObjectItem(r, "record"), err);
        } else if (cJSON_GetObjectItem(r, "error")) {
            st = add_failed(db, id, variant, repeat, r, err);
        } else {
            gt_run_plan plan = {variant, repeat, 2000 + repeat};
            st = gt_store_plan_runs(db, id, &plan, 1, err);
        }
        if (st != GT_OK)
            return st;
    }
    return GT_OK;
}

gt_status fixture_build_db(const char *fixture_path, const char *db_path, gt_error *err)
{
    char *text = NULL;
    gt_status st = gt_read_file(fixture_path, 1u << 22, &text, NULL, err);
    if (st != GT_OK)
        return st;
    cJSON *fx = cJSON_Parse(text);
    free(text);
    if (!fx)
        return gt_error_set(err, GT_ERR_PARSE, "%s: not JSON", fixture_path);
    gt_store *db = NULL;
    int64_t id = 0;
    st = gt_store_open(&db, db_path, NULL, err);
    if (st == GT_OK)
        st = add_experiment(db, fx, &id, err);
    if (st == GT_OK)
        st = add_idle(db, id, fx, err);
    if (st == GT_OK)
        st = add_runs(db, id, fx, err);
    gt_store_close(db);
    cJSON_Delete(fx);
    return st;
}
