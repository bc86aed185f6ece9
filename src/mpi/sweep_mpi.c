/* gt_sweep_execute_mpi: rank 0 coordinates (sweep_coordinator.c), every
 * other rank works (sweep_worker.c); a world of one rank is a plain sweep. */
#include <stdio.h>
#include <string.h>

#include "mpi/mpi_internal.h"

void gt_mpi_sweep_options_init(gt_mpi_sweep_options *o)
{
    memset(o, 0, sizeof *o);
    gt_sweep_options_init(&o->sweep);
    o->runs_per_node = 1;
    o->worker_timeout_s = 60;
}

void sweep_spec_hash(const gt_experiment *exp, char out[17])
{
    /* FNV-1a, 64 bits: enough to tell two versions of a file apart. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)(exp->spec_text ? exp->spec_text : ""); *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

gt_status gt_sweep_execute_mpi(gt_world *w, gt_store *store, const gt_experiment *exp, int64_t experiment_id,
                               const gt_mpi_sweep_options *o, gt_sweep_summary *s, gt_error *err)
{
    memset(s, 0, sizeof *s);
    if (gt_world_size(w) == 1)
        return gt_sweep_execute(store, exp, experiment_id, exp->variants, exp->n_variants, &o->sweep, s, err);
    if (gt_world_rank(w) != 0)
        return sweep_work(w, exp, o, s, err);
    if (!store)
        return gt_error_set(err, GT_ERR_INVALID, "sweep: rank 0 needs the store");
    return sweep_coordinate(w, store, exp, experiment_id, o, s, err);
}
