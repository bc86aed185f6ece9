/* Data-parallel training over the ranks of a gt_world: what the pipeline's
 * stages call (src/pipeline), the MPI behind it in data_parallel.c.
 *
 * Every rank runs the whole pipeline on the same data; in each global batch
 * of train.batch rows a rank computes its own shard of consecutive rows, and
 * the shards' gradients are summed with a bucketed MPI_Allreduce over the
 * engine's contiguous gradient block after backward (the engine has no
 * per-layer hook, so nothing overlaps backward). Each rank scales its loss
 * by its shard's share of the batch, so the sum is exactly the gradient of
 * the global batch's mean loss — the step every rank then takes is the one a
 * single process would take on the whole batch. Validation and the eval
 * stage are sharded by batches, their logits gathered on every rank (every
 * rank then computes the same metrics and makes the same early-stop
 * decision). Only rank 0 writes the checkpoint and the predictions.
 *
 * A NULL pl_dp is one process training alone: every function here is then
 * what the pipeline did before (a shard is the whole batch, nothing is
 * exchanged). A pl_dp of one rank (train.data_parallel: true without mpirun)
 * goes through the same bookkeeping without MPI. */
#ifndef GREENTUNE_MPI_DATA_PARALLEL_H
#define GREENTUNE_MPI_DATA_PARALLEL_H

#include <cjson/cJSON.h>

#include "greentune/batch.h"
#include "greentune/energy.h"
#include "greentune/nn.h"
#include "greentune/pipeline.h"

typedef struct pl_dp pl_dp;

/* Decides from train.data_parallel and the world whether this run trains
 * data-parallel: *dp stays NULL when it does not. train.data_parallel: false
 * under several ranks is an error (each rank would train alone and write
 * the same files). */
gt_status pl_dp_open(const gt_pipeline_spec *spec, struct gt_world *world, pl_dp **dp, gt_error *err);
void pl_dp_free(pl_dp *dp);

/* Writes the checkpoint, the predictions and the record (rank 0, or alone). */
int pl_dp_writer(const pl_dp *dp);
/* Ranks training together (1 for NULL). */
int pl_dp_size(const pl_dp *dp);
/* OpenMP threads per rank when nothing else says: the node's cores shared
 * by its ranks (0: no opinion — alone, or OMP_NUM_THREADS is set). */
int pl_dp_threads(const pl_dp *dp);

/* The stop request agreed by every rank, so all stop at the same batch. */
int pl_dp_stop(pl_dp *dp, int stop_here);
/* The end of a stage on every rank: see gt_world_agree. */
gt_status pl_dp_agree(pl_dp *dp, const char *stage, gt_status st, gt_error *err);

/* --- the train stage --------------------------------------------------------------- */

/* Before the first step: the measurement (for the train/allreduce task),
 * every rank's parameters made rank 0's, and a check that the ranks see the
 * same number of batches and parameters. */
gt_status pl_dp_train_begin(pl_dp *dp, gt_nn_model *m, gt_measurement *measurement, size_t batches, size_t batch,
                            gt_error *err);

/* This rank's rows of a global batch: rows [lo, hi) as pointers into b, and
 * the shard's share of the batch (hi - lo) / B, the factor on its loss. */
typedef struct {
    const int32_t *ids, *lengths, *labels;
    int B;
    float share;
} pl_shard;
void pl_dp_shard(const pl_dp *dp, const gt_batch *b, pl_shard *s);

/* The global batch's mean loss from each rank's shard loss and share
 * (share x loss summed over ranks); kept for the record's per-step losses. */
gt_status pl_dp_loss(pl_dp *dp, float shard_loss, float share, float *loss, gt_error *err);

/* After the last backward of a step: the ranks' gradients summed in place,
 * timed and metered as the task train/allreduce. */
gt_status pl_dp_allreduce_gradients(pl_dp *dp, gt_nn_model *m, gt_error *err);

/* --- inference (validation, eval) ---------------------------------------------------- */

/* Round-robin: batch i of an inference pass is this rank's. */
int pl_dp_takes_batch(const pl_dp *dp, size_t i);
/* Every rank's rows of logits (zero elsewhere) summed: all of them on every rank. */
gt_status pl_dp_gather_logits(pl_dp *dp, float *logits, size_t n, gt_error *err);

/* --- the record ------------------------------------------------------------------------ */

/* Collective, once the stages ran on every rank: rank 0 gathers every rank's
 * measurement (node, meter, stage windows, process share) and the matmul
 * FLOPs its shards took in training (GT_NN_PRECISIONS of them). */
gt_status pl_dp_gather_energy(pl_dp *dp, const gt_energy_result *energy, const double *matmul_flops, gt_error *err);
/* Rank 0's record becomes the job's: stages, other and total summed over
 * nodes (one measurement per node: its lowest rank's, as a node's meters see
 * all of it), meter and estimated over all of them, train.matmul_flops summed
 * over ranks, and "parallel" with every node, every rank, the communication
 * and the per-step losses. */
void pl_dp_record(const pl_dp *dp, cJSON *record);

#endif
