/* The ranks of an MPI job and where they run.
 *
 * MPI is started only when asked (gt_world_init), and the command-line tool
 * asks only when the launcher's environment says this process is one rank
 * of several: the binary that runs alone never touches MPI. A build without
 * MPI has every function here, answering as a world of one rank. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mpi/mpi_internal.h"

/* Variables a launcher sets in each rank's environment. */
static const struct {
    const char *variable, *launcher;
} launch_variables[] = {
    {"OMPI_COMM_WORLD_SIZE", "OpenMPI"},
    {"PMIX_RANK", "PMIx"},
    {"PMI_RANK", "PMI"},
    {"PMI_SIZE", "PMI"},
    {"MV2_COMM_WORLD_SIZE", "MVAPICH"},
};

const char *gt_mpi_launcher(void)
{
    const char *forced = getenv("GREENTUNE_MPI");
    if (forced && !strcmp(forced, "0"))
        return NULL;
    if (forced && !strcmp(forced, "1"))
        return "GREENTUNE_MPI";
    for (size_t i = 0; i < sizeof launch_variables / sizeof launch_variables[0]; i++)
        if (getenv(launch_variables[i].variable))
            return launch_variables[i].launcher;
    return NULL;
}

void world_forget_launcher(void)
{
    static const char *const prefixes[] = {"OMPI_", "PMIX_", "PMI_", "MV2_", "OPAL_", "ORTE_", NULL};
    extern char **environ;
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e && !again; e++)
            for (const char *const *p = prefixes; *p; p++)
                if (!strncmp(*e, *p, strlen(*p))) {
                    char name[256];
                    size_t n = strcspn(*e, "=");
                    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), *e);
                    unsetenv(name); /* environ changed under us: start over */
                    again = 1;
                    break;
                }
    }
}

/* GREENTUNE_MPI_NODE (a cluster whose host names repeat, or a test that
 * plays several nodes on one machine), else MPI's name for the processor
 * once MPI runs, else the host name. */
static void node_name(char *out, size_t size, int mpi_running)
{
    const char *forced = getenv("GREENTUNE_MPI_NODE");
    if (forced && *forced) {
        snprintf(out, size, "%s", forced);
        return;
    }
#if GREENTUNE_HAVE_MPI
    char name[MPI_MAX_PROCESSOR_NAME + 1] = "";
    int len = 0;
    if (mpi_running && MPI_Get_processor_name(name, &len) == MPI_SUCCESS && len > 0) {
        snprintf(out, size, "%.*s", len, name);
        return;
    }
#else
    (void)mpi_running;
#endif
    if (gethostname(out, size - 1) != 0)
        snprintf(out, size, "unknown");
    out[size - 1] = '\0';
}

#if GREENTUNE_HAVE_MPI

int gt_mpi_built(void)
{
    return 1;
}

static pthread_mutex_t mpi_lock = PTHREAD_MUTEX_INITIALIZER;

void world_lock(void)
{
    pthread_mutex_lock(&mpi_lock);
}

void world_unlock(void)
{
    pthread_mutex_unlock(&mpi_lock);
}

/* The files MPI opened when it started (its runtime's sockets, shared memory,
 * event descriptors), by inode: a forked child closes them. Kept open in a
 * run that outlives a killed worker by a moment, they made the runtime wait
 * forever at MPI_Finalize for the dead rank. */
#define MPI_FILES_MAX 256
typedef struct {
    int fd;
    dev_t dev;
    ino_t ino;
} open_file;
static open_file mpi_files[MPI_FILES_MAX];
static int n_mpi_files;
static int mpi_files_closed; /* in a forked child (and its children): done */

/* Open descriptors of this process into fds (up to max), sorted. */
static int open_fds(int *fds, int max)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (e->d_name[0] != '.')
            fds[n++] = atoi(e->d_name);
    closedir(d);
    return n;
}

static void remember_mpi_files(const int *before, int n_before)
{
    int after[MPI_FILES_MAX * 2];
    int n_after = open_fds(after, MPI_FILES_MAX * 2);
    for (int i = 0; i < n_after && n_mpi_files < MPI_FILES_MAX; i++) {
        int old = 0;
        for (int k = 0; k < n_before && !old; k++)
            old = before[k] == after[i];
        struct stat st;
        if (!old && after[i] > 2 && fstat(after[i], &st) == 0) {
            mpi_files[n_mpi_files++] = (open_file){after[i], st.st_dev, st.st_ino};
            fcntl(after[i], F_SETFD, fcntl(after[i], F_GETFD) | FD_CLOEXEC);
        }
    }
}

/* In the child: only fstat and close, both safe after a fork from threads. */
static void child_after_fork(void)
{
    world_unlock();
    if (mpi_files_closed)
        return;
    mpi_files_closed = 1;
    for (int i = 0; i < n_mpi_files; i++) {
        struct stat st;
        if (fstat(mpi_files[i].fd, &st) == 0 && st.st_dev == mpi_files[i].dev && st.st_ino == mpi_files[i].ino)
            close(mpi_files[i].fd);
    }
}

/* The child of a fork is the forking thread alone: it owns the lock it took in
 * prepare, and unlocks it so its own forks (a measured command) work. */
static void register_fork_guard(void)
{
    pthread_atfork(world_lock, world_unlock, child_after_fork);
}

const char *world_error_text(int code, char *buf, int size)
{
    int len = 0;
    char text[MPI_MAX_ERROR_STRING];
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        len = snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(buf, (size_t)size, "%.*s", len, text);
    return buf;
}

/* Every rank's node name; nodes are numbered in order of their first rank. */
static gt_status learn_nodes(gt_world *w, gt_error *err)
{
    char *names = calloc((size_t)w->size, GT_NODE_NAME_MAX);
    w->rank_node = calloc((size_t)w->size, sizeof *w->rank_node);
    if (!names || !w->rank_node) {
        free(names);
        return gt_error_set(err, GT_ERR_NOMEM, "MPI: out of memory for %d ranks", w->size);
    }
    int rc = MPI_Allgather(w->node, GT_NODE_NAME_MAX, MPI_CHAR, names, GT_NODE_NAME_MAX, MPI_CHAR, w->stage);
    if (rc != MPI_SUCCESS) {
        free(names);
        char text[256];
        return gt_error_set(err, GT_ERR_IO, "MPI: cannot learn the ranks' nodes: %s",
                            world_error_text(rc, text, sizeof text));
    }
    w->nodes = 0;
    for (int r = 0; r < w->size; r++) {
        int same = -1;
        for (int q = 0; q < r && same < 0; q++)
            if (!strncmp(names + (size_t)q * GT_NODE_NAME_MAX, names + (size_t)r * GT_NODE_NAME_MAX,
                         GT_NODE_NAME_MAX))
                same = w->rank_node[q];
        w->rank_node[r] = same >= 0 ? same : w->nodes++;
    }
    w->ranks_on_node = 0;
    for (int r = 0; r < w->size; r++)
        w->ranks_on_node += w->rank_node[r] == w->rank_node[w->rank];
    w->names = names;
    return GT_OK;
}

gt_status gt_world_init(gt_world **world, gt_error *err)
{
    *world = NULL;
    int initialized = 0, provided = 0;
    MPI_Initialized(&initialized);
    int before[MPI_FILES_MAX * 2];
    int n_before = open_fds(before, MPI_FILES_MAX * 2);
    if (!initialized && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return gt_error_set(err, GT_ERR_IO, "MPI: MPI_Init_thread failed — was greentune started by mpirun or "
                                            "srun with a working MPI? (GREENTUNE_MPI=0 runs it alone)");
    if (!initialized)
        remember_mpi_files(before, n_before);
    gt_world *w = calloc(1, sizeof *w);
    if (!w)
        return gt_error_set(err, GT_ERR_NOMEM, "MPI: out of memory");
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    MPI_Comm_dup(MPI_COMM_WORLD, &w->msg);
    MPI_Comm_dup(MPI_COMM_WORLD, &w->step);
    MPI_Comm_dup(MPI_COMM_WORLD, &w->stage);
    /* A failed send to a lost rank is an error to handle, not the job's end. */
    MPI_Comm_set_errhandler(w->msg, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(w->step, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(w->stage, MPI_ERRORS_RETURN);
    node_name(w->node, sizeof w->node, 1);
    gt_status st = learn_nodes(w, err);
    if (st != GT_OK) {
        gt_world_finalize(w);
        return st;
    }
    register_fork_guard();
    *world = w;
    return GT_OK;
}

void gt_world_finalize(gt_world *w)
{
    if (!w)
        return;
    MPI_Comm_free(&w->msg);
    MPI_Comm_free(&w->step);
    MPI_Comm_free(&w->stage);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
    for (int i = 0; i < w->n_held; i++)
        free(w->held[i]);
    free(w->held);
    free(w->rank_node);
    free(w->names);
    free(w);
}

void gt_world_finalize_alone(void)
{
    setenv("OMPI_MCA_async_mpi_finalize", "1", 0); /* a user's own setting wins */
}

void gt_world_abort(gt_world *w, int code)
{
    (void)w;
    MPI_Abort(MPI_COMM_WORLD, code);
}

int gt_world_rank(const gt_world *w)
{
    return w ? w->rank : 0;
}

int gt_world_size(const gt_world *w)
{
    return w ? w->size : 1;
}

const char *gt_world_node(const gt_world *w)
{
    static char here[GT_NODE_NAME_MAX];
    if (w)
        return w->node;
    if (!here[0])
        node_name(here, sizeof here, 0);
    return here;
}

int gt_world_nodes(const gt_world *w)
{
    return w ? w->nodes : 1;
}

int gt_world_ranks_on_node(const gt_world *w)
{
    return w ? w->ranks_on_node : 1;
}

int gt_world_broken(const gt_world *w)
{
    return w ? w->broken : 0;
}

int world_node_of(const gt_world *w, int rank)
{
    return w && rank >= 0 && rank < w->size ? w->rank_node[rank] : 0;
}

const char *world_node_name(const gt_world *w, int rank)
{
    return w && rank >= 0 && rank < w->size ? w->names + (size_t)rank * GT_NODE_NAME_MAX : gt_world_node(w);
}

/* How long a rank waits for the others to reach an agreement. */
static double agree_timeout_s(void)
{
    const char *text = getenv("GREENTUNE_MPI_WAIT_S");
    double s = text ? atof(text) : 0;
    return s > 0 ? s : 600;
}

static double world_clock(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* Keeps a send buffer until MPI is done with it: after MPI_Finalize. */
static void hold_until_finalize(gt_world *w, char *buffer)
{
    char **more = realloc(w->held, (size_t)(w->n_held + 1) * sizeof *more);
    if (!more)
        return; /* leaked rather than freed under MPI */
    w->held = more;
    w->held[w->n_held++] = buffer;
}

/* The request done, polling gently (MPI's own wait spins on a core, which the
 * node's meter would book to the run); 0 when the deadline passed first. */
static int wait_gently(MPI_Request *req, double timeout_s)
{
    struct timespec pause = {0, 1000000};
    for (double start = world_clock();;) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return 1;
        if (world_clock() - start > timeout_s)
            return 0;
        nanosleep(&pause, NULL);
    }
}

gt_status gt_world_agree(gt_world *w, const char *what, gt_status st, gt_error *err)
{
    if (!w || w->size == 1)
        return st;
    if (w->broken)
        return st != GT_OK ? st : gt_error_set(err, GT_ERR_INTERNAL, "%s: the ranks lost step", what);
    /* The lowest failing rank wins: the largest of size - rank. */
    int mine = st != GT_OK ? w->size - w->rank : 0, worst = 0;
    MPI_Request req;
    double timeout = agree_timeout_s();
    if (MPI_Iallreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, w->stage, &req) != MPI_SUCCESS || !wait_gently(&req, timeout)) {
        /* The others are stuck in an exchange this rank left (its failure
         * says why), or gone. */
        w->broken = 1;
        if (st != GT_OK)
            return gt_error_prefix(err, "rank %d on %s (the other ranks did not answer for %.0f s; ending the job): ",
                                   w->rank, w->node, timeout);
        return gt_error_set(err, GT_ERR_INTERNAL,
                            "%s: rank %d on %s waited %.0f s for the other ranks — one of them is stuck or gone "
                            "(its own message says why); ending the job (GREENTUNE_MPI_WAIT_S sets the wait)",
                            what, w->rank, w->node, timeout);
    }
    if (!worst)
        return st;
    int root = w->size - worst;
    struct {
        int status;
        char message[GT_ERROR_MESSAGE_MAX];
    } failure = {0, ""};
    if (w->rank == root) {
        failure.status = (int)st;
        snprintf(failure.message, sizeof failure.message, "%s", err->message);
    }
    MPI_Bcast(&failure, (int)sizeof failure, MPI_BYTE, root, w->stage);
    if (w->rank == root)
        return st;
    return gt_error_set(err, (gt_status)failure.status, "rank %d on %s: %s", root, world_node_name(w, root),
                        failure.message);
}

gt_status world_send(gt_world *w, int dest, int tag, const cJSON *msg, gt_error *err)
{
    char *text = cJSON_PrintUnformatted(msg);
    if (!text)
        return gt_error_set(err, GT_ERR_NOMEM, "MPI: out of memory for a message to rank %d", dest);
    size_t len = strlen(text);
    if (len >= (size_t)1 << 30) {
        free(text);
        return gt_error_set(err, GT_ERR_NOMEM, "MPI: a message of %zu bytes to rank %d is too long", len, dest);
    }
    world_lock();
    int rc = MPI_Send(text, (int)len + 1, MPI_CHAR, dest, tag, w->msg);
    world_unlock();
    free(text);
    if (rc != MPI_SUCCESS) {
        char why[256];
        return gt_error_set(err, GT_ERR_IO, "MPI: cannot send to rank %d: %s", dest,
                            world_error_text(rc, why, sizeof why));
    }
    return GT_OK;
}

int world_send_all_sync(gt_world *w, const int *ranks, int n, int tag, const cJSON *msg, double timeout_s)
{
    char *text = cJSON_PrintUnformatted(msg);
    MPI_Request *reqs = calloc((size_t)(n > 0 ? n : 1), sizeof *reqs);
    if (!text || !reqs) {
        free(text);
        free(reqs);
        return 0;
    }
    int len = (int)strlen(text) + 1, pending = 0, took = 0;
    world_lock();
    for (int i = 0; i < n; i++) {
        if (MPI_Issend(text, len, MPI_CHAR, ranks[i], tag, w->msg, &reqs[i]) == MPI_SUCCESS)
            pending++;
        else
            reqs[i] = MPI_REQUEST_NULL;
    }
    world_unlock();
    struct timespec pause = {0, 1000000};
    for (double start = world_clock(); pending > 0 && world_clock() - start < timeout_s;) {
        int source, got_tag;
        cJSON *dropped;
        while (world_poll(w, &source, &got_tag, &dropped))
            cJSON_Delete(dropped);
        world_lock();
        for (int i = 0; i < n; i++) {
            int done = 0;
            if (reqs[i] != MPI_REQUEST_NULL && MPI_Test(&reqs[i], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done)
                took++, pending--;
        }
        world_unlock();
        if (pending > 0)
            nanosleep(&pause, NULL);
    }
    world_lock();
    for (int i = 0; i < n; i++)
        if (reqs[i] != MPI_REQUEST_NULL)
            MPI_Request_free(&reqs[i]); /* to a rank that never listened: MPI drops it when it can */
    world_unlock();
    free(reqs);
    if (pending > 0)
        hold_until_finalize(w, text); /* an abandoned send may read it until then */
    else
        free(text);
    return took;
}

int world_poll(gt_world *w, int *source, int *tag, cJSON **msg)
{
    *msg = NULL;
    int waiting = 0, count = 0;
    MPI_Status status;
    world_lock();
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, w->msg, &waiting, &status) != MPI_SUCCESS || !waiting) {
        world_unlock();
        return 0;
    }
    MPI_Get_count(&status, MPI_CHAR, &count);
    char *text = malloc(count > 0 ? (size_t)count + 1 : 1);
    /* Received even without memory for it, so it does not block the queue. */
    char one;
    int rc = MPI_Recv(text ? text : &one, text ? count : 0, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, w->msg,
                      MPI_STATUS_IGNORE);
    world_unlock();
    *source = status.MPI_SOURCE;
    *tag = status.MPI_TAG;
    if (text && rc == MPI_SUCCESS) {
        text[count > 0 ? count : 0] = '\0';
        *msg = cJSON_Parse(text);
    }
    free(text);
    return 1;
}

#else /* built without MPI: a world of one rank */

int gt_mpi_built(void)
{
    return 0;
}

gt_status gt_world_init(gt_world **world, gt_error *err)
{
    *world = NULL;
    return gt_error_set(err, GT_ERR_UNSUPPORTED,
                        "MPI: this greentune was built without MPI — install libopenmpi-dev (make deps) and build "
                        "with -DGREENTUNE_MPI=ON, or run it without mpirun (GREENTUNE_MPI=0)");
}

void gt_world_finalize(gt_world *w)
{
    (void)w;
}

void gt_world_abort(gt_world *w, int code)
{
    (void)w;
    (void)code;
}

int gt_world_rank(const gt_world *w)
{
    (void)w;
    return 0;
}

int gt_world_size(const gt_world *w)
{
    (void)w;
    return 1;
}

const char *gt_world_node(const gt_world *w)
{
    (void)w;
    static char here[GT_NODE_NAME_MAX];
    if (!here[0])
        node_name(here, sizeof here, 0);
    return here;
}

int gt_world_nodes(const gt_world *w)
{
    (void)w;
    return 1;
}

int gt_world_ranks_on_node(const gt_world *w)
{
    (void)w;
    return 1;
}

int gt_world_broken(const gt_world *w)
{
    (void)w;
    return 0;
}

int world_node_of(const gt_world *w, int rank)
{
    (void)w;
    (void)rank;
    return 0;
}

const char *world_node_name(const gt_world *w, int rank)
{
    (void)rank;
    return gt_world_node(w);
}

gt_status gt_world_agree(gt_world *w, const char *what, gt_status st, gt_error *err)
{
    (void)w;
    (void)what;
    (void)err;
    return st;
}

gt_status world_send(gt_world *w, int dest, int tag, const cJSON *msg, gt_error *err)
{
    (void)w;
    (void)tag;
    (void)msg;
    return gt_error_set(err, GT_ERR_UNSUPPORTED, "MPI: no rank %d in a build without MPI", dest);
}

void gt_world_finalize_alone(void)
{
}

int world_send_all_sync(gt_world *w, const int *ranks, int n, int tag, const cJSON *msg, double timeout_s)
{
    (void)w;
    (void)ranks;
    (void)n;
    (void)tag;
    (void)msg;
    (void)timeout_s;
    return 0;
}

int world_poll(gt_world *w, int *source, int *tag, cJSON **msg)
{
    (void)w;
    *source = *tag = 0;
    *msg = NULL;
    return 0;
}

#endif
