/* greentune/parallel.h — scale-out over MPI: sweeps whose runs spread over
 * ranks and nodes, and data-parallel training (docs/cluster.md).
 *
 * The same binary runs alone and under mpirun or srun. Nothing here touches
 * MPI unless the launcher's environment says this process is one rank of
 * several (or GREENTUNE_MPI=1 asks for it):
 *
 *   gt_world *w = NULL;
 *   if (gt_mpi_launcher() && gt_world_init(&w, &err) != GT_OK) ...   // MPI_Init_thread
 *   if (gt_world_size(w) > 1) ...      // a NULL world is rank 0 of 1
 *   ...
 *   gt_world_finalize(w);              // MPI_Finalize
 *
 * Ranks on the same node (GREENTUNE_MPI_NODE, else MPI_Get_processor_name)
 * share that node's meters: energy is summed over nodes, one measurement per
 * node, never over ranks (that would count a node once per rank on it). */
#ifndef GREENTUNE_PARALLEL_H
#define GREENTUNE_PARALLEL_H

#include "greentune/common.h"
#include "greentune/experiment.h"
#include "greentune/store.h"

#define GT_NODE_NAME_MAX 256

typedef struct gt_world gt_world;

/* 1 when this greentune was built with MPI (-DGREENTUNE_MPI=ON). */
GT_API int gt_mpi_built(void);

/* What started this process as one of several ranks, from its environment:
 * "OpenMPI" (OMPI_COMM_WORLD_SIZE), "PMIx" (PMIX_RANK, srun --mpi=pmix),
 * "PMI" (PMI_RANK: srun --mpi=pmi2, MPICH), "MVAPICH"; NULL when nothing
 * did. GREENTUNE_MPI=0 says NULL whatever the environment; GREENTUNE_MPI=1
 * says "GREENTUNE_MPI" (a singleton MPI start). */
GT_API const char *gt_mpi_launcher(void);

/* Starts MPI (MPI_Init_thread, funneled: only the calling thread talks MPI)
 * and learns the ranks' nodes. Fails (GT_ERR_UNSUPPORTED) in a build without
 * MPI, naming the flag that adds it. */
GT_API gt_status gt_world_init(gt_world **world, gt_error *err);
/* MPI_Finalize; NULL is fine. */
GT_API void gt_world_finalize(gt_world *world);
/* Before gt_world_init, in a job whose ranks make sure themselves that their
 * last messages arrived (a sweep: gt_sweep_execute_mpi): MPI_Finalize then
 * does not wait for every other rank. OpenMPI 4's waits forever, now and
 * then, for a rank that was lost (killed under mpirun --enable-recovery). */
GT_API void gt_world_finalize_alone(void);
/* Ends every rank of the job (MPI_Abort): the way out once a rank is stuck
 * in a collective that another rank left (gt_world_broken). */
GT_API void gt_world_abort(gt_world *world, int code);

/* NULL counts as rank 0 of 1 on this machine. */
GT_API int gt_world_rank(const gt_world *world);
GT_API int gt_world_size(const gt_world *world);
GT_API const char *gt_world_node(const gt_world *world);   /* this rank's node */
GT_API int gt_world_nodes(const gt_world *world);         /* distinct nodes */
GT_API int gt_world_ranks_on_node(const gt_world *world); /* ranks sharing this rank's node */
/* A rank gave up waiting for others (they are stuck in a collective it left):
 * only gt_world_abort ends the job now. */
GT_API int gt_world_broken(const gt_world *world);

/* Every rank passes the status of the same step (what names it, for
 * messages); each gets GT_OK only when all had it. Otherwise a rank that did
 * not fail gets the lowest failing rank's error ("rank 1 on node7: ...") and
 * that rank keeps its own. A rank waits at most GREENTUNE_MPI_WAIT_S (600 s)
 * for the others: past that one of them is stuck in an exchange this rank
 * left, the world is broken, and only gt_world_abort ends the job. Rank 0 of
 * a NULL world (or of one rank) gets st back. */
GT_API gt_status gt_world_agree(gt_world *world, const char *what, gt_status st, gt_error *err);

/* --- a sweep over ranks ---------------------------------------------------------- */

typedef struct {
    gt_sweep_options sweep;   /* as for gt_sweep_execute; progress, log and stop act on rank 0, the
                                 executor and stop on the workers */
    int runs_per_node;        /* runs at once on one node (1: a run's node measures that run alone) */
    double worker_timeout_s;  /* a worker with a run that says nothing this long is lost and its run
                                 handed out again (60); on the coordinator's node a dead worker is
                                 noticed at once */
} gt_mpi_sweep_options;

GT_API void gt_mpi_sweep_options_init(gt_mpi_sweep_options *o);

/* A sweep of exp over the world's ranks. Rank 0 owns the store (pass it
 * there; NULL elsewhere) and hands out the pending runs in planned order;
 * every other rank is a worker that executes the runs it is given, each in
 * a forked child as gt_sweep_execute does, and sends back its record (with
 * machine.node). A worker that dies or falls silent costs only its run, which
 * goes to another worker (runs do not count an attempt against it twice:
 * the store's attempts say it was redone). When idle_s > 0 each node
 * measures its idle power before its first run. summary is rank 0's;
 * workers count the runs they carried out. A world of one rank runs
 * gt_sweep_execute. */
GT_API gt_status gt_sweep_execute_mpi(gt_world *world, gt_store *store, const gt_experiment *exp,
                                      int64_t experiment_id, const gt_mpi_sweep_options *o,
                                      gt_sweep_summary *summary, gt_error *err);

/* A worker rank that cannot take part (its experiment file did not load:
 * why) says so to rank 0, which gives it no runs, and waits for the end. */
GT_API gt_status gt_sweep_worker_refuse(gt_world *world, const char *why);
/* Rank 0 that cannot start the sweep (a bad file, a database error) tells
 * the workers it is over, so every rank ends (and finalizes) cleanly. */
GT_API void gt_sweep_coordinator_refuse(gt_world *world);

#endif
