/* Shared by the MPI files: the world behind gt_world, and messages between
 * ranks as JSON text. Only files compiled with GREENTUNE_HAVE_MPI see mpi.h. */
#ifndef GREENTUNE_MPI_INTERNAL_H
#define GREENTUNE_MPI_INTERNAL_H

#include <cjson/cJSON.h>

#include "greentune/parallel.h"

#if GREENTUNE_HAVE_MPI
#include <mpi.h>

struct gt_world {
    int rank, size;
    char node[GT_NODE_NAME_MAX];
    int nodes;              /* distinct nodes */
    int *rank_node;         /* the node (0 .. nodes-1, in order of first rank) of every rank */
    char *names;            /* every rank's node name, GT_NODE_NAME_MAX bytes each */
    int ranks_on_node;
    /* One communicator per kind of traffic, so a rank that left one kind of
     * exchange early can never have its messages matched against another's:
     * msg carries the sweep's point-to-point messages, step the training
     * step's collectives, stage the agreements at stage boundaries. */
    MPI_Comm msg, step, stage;
    int broken;
    char **held;            /* buffers of abandoned sends, freed after MPI_Finalize */
    int n_held;
};

/* Holds the lock while the calling thread is inside MPI; a fork() from
 * another thread (a sweep worker's run) waits until MPI is left, so the
 * child never starts with MPI's locks taken. */
void world_lock(void);
void world_unlock(void);

/* The text of an MPI error code, for messages. */
const char *world_error_text(int code, char *buf, int size);
#endif

/* Sends msg (JSON text) to dest; fails only when MPI does. */
gt_status world_send(gt_world *w, int dest, int tag, const cJSON *msg, gt_error *err);
/* Sends msg to each of ranks[0..n) and waits until each has received it,
 * reading and dropping what arrives meanwhile (a rank blocked sending this
 * one a long message receives nothing until it is read), for at most
 * timeout_s. Once it returns, what a rank took is not still on its way, so
 * this rank may end without a barrier. Returns how many took it. */
int world_send_all_sync(gt_world *w, const int *ranks, int n, int tag, const cJSON *msg, double timeout_s);
/* A waiting message, without blocking: 1 and *msg (parsed; NULL when the text
 * was not JSON), *source, *tag filled; 0 when none is waiting. */
int world_poll(gt_world *w, int *source, int *tag, cJSON **msg);

/* Launcher variables (OMPI_*, PMIX_*, PMI_*, ...) out of this process's
 * environment, so the commands a worker runs start as programs of their own
 * and not as a second copy of this rank. */
void world_forget_launcher(void);

/* The node of rank r: its index, its name. */
int world_node_of(const gt_world *w, int rank);
const char *world_node_name(const gt_world *w, int rank);

/* --- a sweep over ranks: rank 0 coordinates (sweep_coordinator.c), the others
 * work (sweep_worker.c). Messages, each a JSON object:
 *   HELLO  worker -> 0   {node, host, pid, start, boot, spec} or {error}: ready, or cannot work
 *   IDLE   0 -> worker   {}: measure this node's idle power
 *          worker -> 0   {meter, estimated, duration_s, energy_j, power_w} or {error}
 *   RUN    0 -> worker   {run, variant, repeat, cool}: execute it (after the cooldown when cool)
 *   BEAT   worker -> 0   {run, status}: alive, every second while it works
 *   NOTE   worker -> 0   {text}: a line for the sweep's log
 *   DONE   worker -> 0   {run, record} | {run, error, tail} | {run, interrupted} | {run, broken}
 *   STOP   0 -> worker   {}: stop the run under way (the sweep is stopping)
 *   QUIT   0 -> worker   {}: the sweep is over */
enum { SWEEP_HELLO = 1, SWEEP_IDLE, SWEEP_RUN, SWEEP_BEAT, SWEEP_NOTE, SWEEP_DONE, SWEEP_STOP, SWEEP_QUIT };

/* How often a working worker says it is alive, and how long the loops sleep
 * between polls: MPI's own waits spin on a core, which would disturb the
 * measurement of every run on the node. */
#define SWEEP_BEAT_S 1.0
#define SWEEP_POLL_S 0.01

/* 16 hex digits naming the experiment file and pipeline text: every rank must
 * have read the same ones. */
void sweep_spec_hash(const gt_experiment *exp, char out[17]);

gt_status sweep_coordinate(gt_world *w, gt_store *store, const gt_experiment *exp, int64_t experiment_id,
                           const gt_mpi_sweep_options *o, gt_sweep_summary *s, gt_error *err);
gt_status sweep_work(gt_world *w, const gt_experiment *exp, const gt_mpi_sweep_options *o, gt_sweep_summary *s,
                     gt_error *err);

#endif
