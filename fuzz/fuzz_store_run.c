/* Run records as `gt_store_add_run_from_json` ingests them (a `greentune run`
 * or `measure` JSON object) into an in-memory run store. A record that is
 * accepted must read back as stored: finite, non-negative energies and times
 * for the total and every stage, metrics in their ranges, its meter named. */
#include "fuzz.h"

#include <math.h>

#include "greentune/config.h"
#include "greentune/store.h"

static gt_store *store;
static int64_t experiment;
static int runs;

static void open_store(void)
{
    gt_error err = {0};
    FUZZ_ASSERT(gt_store_open(&store, ":memory:", NULL, &err) == GT_OK);
    gt_variant_spec variant = {"V0", NULL, NULL};
    gt_experiment_spec spec = {"fuzz", "name: fuzz", "V0", &variant, 1};
    FUZZ_ASSERT(gt_store_experiment(store, &spec, &experiment, &err) == GT_OK);
    runs = 0;
}

static int finite_or_absent(double v)
{
    return isnan(v) || (isfinite(v) && v >= 0);
}

static void check_stored(void)
{
    gt_experiment_data data;
    gt_error err = {0};
    FUZZ_ASSERT(gt_store_load(store, "fuzz", &data, &err) == GT_OK);
    FUZZ_ASSERT(data.n_runs == (size_t)runs);
    const gt_run_record *r = &data.runs[data.n_runs - 1];
    FUZZ_ASSERT(r->status == GT_RUN_DONE && r->meter[0]);
    FUZZ_ASSERT(isfinite(r->total.energy_j) && r->total.energy_j >= 0);
    FUZZ_ASSERT(isfinite(r->total.duration_s) && r->total.duration_s >= 0);
    for (int s = 0; s < GT_RUN_STAGE_COUNT; s++)
        FUZZ_ASSERT(finite_or_absent(r->stages[s].energy_j) && finite_or_absent(r->stages[s].duration_s));
    FUZZ_ASSERT(finite_or_absent(r->cpu_j) && finite_or_absent(r->dram_j) && finite_or_absent(r->gpu_j));
    FUZZ_ASSERT(isnan(r->f1) || (r->f1 >= 0 && r->f1 <= 1));
    FUZZ_ASSERT(isnan(r->mcc) || (r->mcc >= -1 && r->mcc <= 1));
    FUZZ_ASSERT(r->n_classes >= 0 && r->n_classes <= GT_MAX_CLASSES);
    gt_experiment_data_free(&data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *run = NULL;
    gt_error err = {0};
    if (gt_json_parse((const char *)data, size, "run.json", &run, &err) != GT_OK)
        return 0;
    if (!store || runs == 64) { /* a fresh store now and then keeps the read-back cheap */
        gt_store_close(store);
        open_store();
    }
    gt_status status = gt_store_add_run_from_json(store, experiment, "V0", runs, run, &err);
    if (status == GT_OK) {
        runs++;
        check_stored();
    } else {
        FUZZ_ASSERT(err.status == status);
        fuzz_check_message(err.message);
    }
    cJSON_Delete(run);
    return 0;
}
