/* The world of ranks. Without mpirun: MPI is started only when a launcher's
 * environment says so (or GREENTUNE_MPI=1), and a NULL world is rank 0 of 1
 * on this machine, so the same binary runs alone without touching MPI. Under
 * mpirun (this program starts itself on three ranks that play two nodes):
 * ranks, nodes numbered in order of their first rank, ranks per node, the
 * agreement that hands every rank the lowest failing rank's error, and
 * messages from the workers to rank 0. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greentune/parallel.h"
#include "mpi/mpi_internal.h"
#include "test_support.h"

static const char *const launch_variables[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                               "MV2_COMM_WORLD_SIZE", "GREENTUNE_MPI", NULL};

static void clear_launch_environment(void)
{
    for (const char *const *v = launch_variables; *v; v++)
        unsetenv(*v);
}

/* Nothing in the environment: not launched, so no MPI at all. */
static void test_alone_is_not_launched(void)
{
    clear_launch_environment();
    CHECK(gt_mpi_launcher() == NULL);
}

/* Each launcher is recognised by the variable it sets in every rank. */
static void test_launchers_are_recognised(void)
{
    static const struct {
        const char *variable, *launcher;
    } cases[] = {{"OMPI_COMM_WORLD_SIZE", "OpenMPI"}, {"PMIX_RANK", "PMIx"}, {"PMI_RANK", "PMI"},
                 {"PMI_SIZE", "PMI"}, {"MV2_COMM_WORLD_SIZE", "MVAPICH"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_launch_environment();
        setenv(cases[i].variable, "2", 1);
        CHECK_EQ_STR(gt_mpi_launcher(), cases[i].launcher);
    }
    clear_launch_environment();
}

/* GREENTUNE_MPI=0 keeps MPI off under any launcher; =1 asks for it alone. */
static void test_greentune_mpi_overrides(void)
{
    clear_launch_environment();
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("GREENTUNE_MPI", "0", 1);
    CHECK(gt_mpi_launcher() == NULL);
    clear_launch_environment();
    setenv("GREENTUNE_MPI", "1", 1);
    CHECK_EQ_STR(gt_mpi_launcher(), "GREENTUNE_MPI");
    clear_launch_environment();
}

/* A NULL world: rank 0 of 1, on this machine's node, one node, never broken;
 * an agreement hands back the rank's own status untouched. */
static void test_null_world_is_one_rank(void)
{
    CHECK_EQ_INT(gt_world_rank(NULL), 0);
    CHECK_EQ_INT(gt_world_size(NULL), 1);
    CHECK_EQ_INT(gt_world_nodes(NULL), 1);
    CHECK_EQ_INT(gt_world_ranks_on_node(NULL), 1);
    CHECK_EQ_INT(gt_world_broken(NULL), 0);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    unsetenv("GREENTUNE_MPI_NODE");
    CHECK_EQ_STR(gt_world_node(NULL), host);
    gt_error err = {0};
    CHECK_EQ_INT(gt_world_agree(NULL, "step", GT_OK, &err), GT_OK);
    gt_error_set(&err, GT_ERR_IO, "data: gone");
    CHECK_EQ_INT(gt_world_agree(NULL, "step", GT_ERR_IO, &err), GT_ERR_IO);
    CHECK_EQ_STR(err.message, "data: gone");
    gt_world_finalize(NULL); /* nothing to end */
}

/* Without MPI in the build, asking for it fails with the way to get it. */
static void test_world_init_without_mpi(void)
{
    if (gt_mpi_built())
        return; /* with MPI, test_data_parallel.py and the sweep tests start it under mpirun */
    gt_world *w = (gt_world *)1;
    gt_error err = {0};
    CHECK_EQ_INT(gt_world_init(&w, &err), GT_ERR_UNSUPPORTED);
    CHECK(w == NULL);
    CHECK(strstr(err.message, "GREENTUNE_MPI=ON") != NULL);
}

/* --- on three ranks under mpirun ------------------------------------------------- */

/* Ranks 0 and 2 play one node, rank 1 another: the nodes are numbered in
 * order of their first rank (n-even 0, n-odd 1), and n-even has two ranks. */
#define RANKS 3
static const char *const played_node[RANKS] = {"n-even", "n-odd", "n-even"};
static const int played_index[RANKS] = {0, 1, 0};
static const int played_neighbours[RANKS] = {2, 1, 2};
static gt_world *world;
static int my_rank;

static void test_ranks_and_nodes(void)
{
    CHECK_EQ_INT(gt_world_rank(world), my_rank);
    CHECK_EQ_INT(gt_world_size(world), RANKS);
    CHECK_EQ_STR(gt_world_node(world), played_node[my_rank]);
    CHECK_EQ_INT(gt_world_nodes(world), 2);
    CHECK_EQ_INT(gt_world_ranks_on_node(world), played_neighbours[my_rank]);
    CHECK_EQ_INT(gt_world_broken(world), 0);
    for (int r = 0; r < RANKS; r++) {
        CHECK_EQ_INT(world_node_of(world, r), played_index[r]);
        CHECK_EQ_STR(world_node_name(world, r), played_node[r]);
    }
}

/* What every rank gets back from an agreement where rank r failed with
 * failures[r] (GT_OK: did not fail). */
static void agree_on(const gt_status failures[RANKS], gt_status want_status, const char *want_message)
{
    gt_error err = {0};
    gt_status mine = failures[my_rank];
    if (mine != GT_OK)
        gt_error_set(&err, mine, "data: gone on rank %d", my_rank);
    gt_status got = gt_world_agree(world, "a step", mine, &err);
    if (mine != GT_OK && !want_message[0]) {
        /* the lowest failing rank keeps its own error */
        CHECK_EQ_INT(got, mine);
        char own[64];
        snprintf(own, sizeof own, "data: gone on rank %d", my_rank);
        CHECK_EQ_STR(err.message, own);
        return;
    }
    CHECK_EQ_INT(got, want_status);
    if (want_status != GT_OK)
        CHECK_EQ_STR(err.message, want_message);
}

static void test_agree_all_ok(void)
{
    const gt_status none[RANKS] = {GT_OK, GT_OK, GT_OK};
    agree_on(none, GT_OK, "");
}

static void test_agree_one_failed(void)
{
    const gt_status failures[RANKS] = {GT_OK, GT_OK, GT_ERR_IO};
    agree_on(failures, GT_ERR_IO, my_rank == 2 ? "" : "rank 2 on n-even: data: gone on rank 2");
}

/* Ranks 1 and 2 fail differently: rank 1's error (status and text) reaches
 * rank 0 and rank 2 too. */
static void test_agree_lowest_failure_wins(void)
{
    const gt_status failures[RANKS] = {GT_OK, GT_ERR_INVALID, GT_ERR_IO};
    agree_on(failures, GT_ERR_INVALID, my_rank == 1 ? "" : "rank 1 on n-odd: data: gone on rank 1");
}

/* Each worker sends rank 0 a message; rank 0 hears each once, from the
 * rank that sent it, with its tag and text. */
static void test_messages_reach_rank_0(void)
{
    enum { TAG = 7 };
    gt_error err = {0};
    if (my_rank != 0) {
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddNumberToObject(msg, "from", my_rank);
        cJSON_AddStringToObject(msg, "node", played_node[my_rank]);
        CHECK_EQ_INT(world_send(world, 0, TAG, msg, &err), GT_OK);
        cJSON_Delete(msg);
    } else {
        int heard[RANKS] = {0}, n = 0;
        for (int polls = 0; n < RANKS - 1 && polls < 30000; polls++) {
            int source = -1, tag = -1;
            cJSON *msg = NULL;
            if (!world_poll(world, &source, &tag, &msg)) {
                usleep(1000);
                continue;
            }
            n++;
            CHECK_EQ_INT(tag, TAG);
            CHECK_MSG(source > 0 && source < RANKS, "a message from rank %d", source);
            const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
            const cJSON *node = cJSON_GetObjectItemCaseSensitive(msg, "node");
            CHECK(cJSON_IsNumber(from) && from->valueint == source);
            if (source > 0 && source < RANKS) {
                heard[source]++;
                CHECK(cJSON_IsString(node) && !strcmp(node->valuestring, played_node[source]));
            }
            cJSON_Delete(msg);
        }
        CHECK_EQ_INT(heard[1], 1);
        CHECK_EQ_INT(heard[2], 1);
    }
    CHECK_EQ_INT(gt_world_agree(world, "messages", GT_OK, &err), GT_OK);
}

/* One of the three ranks: plays its node, starts MPI, checks, and says so. */
static int rank_main(void)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    my_rank = r ? atoi(r) : -1;
    if (my_rank < 0 || my_rank >= RANKS) {
        fprintf(stderr, "test_world --ranks: not started by mpirun -n %d\n", RANKS);
        return 1;
    }
    setenv("GREENTUNE_MPI_NODE", played_node[my_rank], 1);
    CHECK_EQ_STR(gt_mpi_launcher(), "OpenMPI");
    gt_error err = {0};
    if (gt_world_init(&world, &err) != GT_OK) {
        fprintf(stderr, "rank %d: %s\n", my_rank, err.message);
        return 1;
    }
    RUN(test_ranks_and_nodes);
    RUN(test_agree_all_ok);
    RUN(test_agree_one_failed);
    RUN(test_agree_lowest_failure_wins);
    RUN(test_messages_reach_rank_0);
    gt_world_finalize(world);
    int rc = test_summary();
    if (rc == 0)
        printf("rank %d of %d on %s: world checked\n", my_rank, RANKS, played_node[my_rank]);
    return rc;
}

/* This program again, on three ranks; each must say it checked its world. */
static void test_three_ranks_under_mpirun(void)
{
    if (!gt_mpi_built())
        return; /* test_world_init_without_mpi covers this build */
    clear_launch_environment();
    unsetenv("GREENTUNE_MPI_NODE");
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    if (n <= 0)
        return;
    self[n] = '\0';
    const char *mpiexec = getenv("GREENTUNE_MPIEXEC");
    char *argv[] = {(char *)(mpiexec && *mpiexec ? mpiexec : "mpirun"), "--oversubscribe", "-n", "3", self,
                    "--ranks", NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run(argv, &out, &err);
    int checked = 0;
    for (const char *p = out; p && (p = strstr(p, ": world checked")); p++)
        checked++;
    CHECK_MSG(rc == 0 && checked == RANKS, "mpirun -n 3: exit %d, %d ranks checked their world:\n%s%s", rc,
              checked, out ? out : "", err ? err : "");
    free(out);
    free(err);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--ranks"))
        return rank_main();
    RUN(test_alone_is_not_launched);
    RUN(test_launchers_are_recognised);
    RUN(test_greentune_mpi_overrides);
    RUN(test_null_world_is_one_rank);
    RUN(test_world_init_without_mpi);
    RUN(test_three_ranks_under_mpirun);
    return test_summary();
}
