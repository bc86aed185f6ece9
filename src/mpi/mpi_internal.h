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
    int ranks_on_node;
    /* One communicator per kind of traffic, so a rank that left one kind of
     * exchange early can never have its messages matched against another's:
     * msg carries the sweep's point-to-point messages, step the training
     * step's collectives, stage the agreements at stage boundaries. */
    MPI_Comm msg, step, stage;
    int broken;
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
/* A waiting message, without blocking: 1 and *msg (parsed; NULL when the text
 * was not JSON), *source, *tag filled; 0 when none is waiting. */
int world_poll(gt_world *w, int *source, int *tag, cJSON **msg);

/* Launcher variables (OMPI_*, PMIX_*, PMI_*, ...) out of this process's
 * environment, so the commands a worker runs start as programs of their own
 * and not as a second copy of this rank. */
void world_forget_launcher(void);

/* The node of rank r. */
int world_node_of(const gt_world *w, int rank);

#endif
