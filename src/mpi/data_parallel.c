/* Data-parallel training over MPI ranks: sharding, the gradient all-reduce,
 * agreement between ranks, and the job's energy summed over nodes
 * (data_parallel.h says how the pieces fit the pipeline). */
#include "mpi/data_parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi/mpi_internal.h"
#include "pipeline/pipeline_internal.h"

/* Floats per MPI_Allreduce: 4 MiB buckets keep MPI's scratch space bounded
 * whatever the model's size. */
#define DP_BUCKET_FLOATS ((size_t)1 << 20)
#define DP_LOSSES_MAX 1000000

/* The six stages, then the communication inside train. */
#define DP_TASKS 7
#define DP_ALLREDUCE 6
static const char *const task_names[DP_TASKS] = {"data", "tokenize", "load", "train", "save", "eval",
                                                 "train/allreduce"};

/* One rank's measurement, as rank 0 gathers it (the ranks run one binary on
 * one kind of machine, so the struct travels as bytes). */
typedef struct {
    char node[GT_NODE_NAME_MAX];
    char meter[GT_METER_NAME_MAX + 1];
    int rank, estimated, attributed;
    gt_energy_window total, process;
    gt_energy_window tasks[DP_TASKS], process_tasks[DP_TASKS];
    double allreduce_s;
    long allreduce_calls;
    double matmul_flops[GT_NN_PRECISIONS]; /* of its shards' forward and backward passes */
} rank_energy;

struct pl_dp {
    struct gt_world *world;
    int rank, size;
    gt_measurement *measurement;
    size_t batch;             /* rows of a global batch */
    size_t grad_floats;
    long allreduce_calls;
    double allreduce_s;
    float *losses;            /* the global loss of every micro-batch */
    size_t n_losses, cap_losses;
    rank_energy *energy;      /* rank 0, after the gather: one per rank */
};

gt_status pl_dp_open(const gt_pipeline_spec *spec, struct gt_world *world, pl_dp **dp, gt_error *err)
{
    *dp = NULL;
    int size = gt_world_size(world);
    if (spec->data_parallel == 0 && size > 1)
        return gt_error_set(err, GT_ERR_INVALID,
                            "train.data_parallel is false, but this run was started as %d MPI ranks — start it "
                            "as one process, or let the ranks train together (true or auto)", size);
    if (spec->data_parallel == 0 || (spec->data_parallel < 0 && size == 1))
        return GT_OK;
    pl_dp *d = calloc(1, sizeof *d);
    if (!d)
        return gt_error_set(err, GT_ERR_NOMEM, "train: out of memory");
    d->world = world;
    d->rank = gt_world_rank(world);
    d->size = size;
    *dp = d;
    return GT_OK;
}

void pl_dp_free(pl_dp *dp)
{
    if (!dp)
        return;
    free(dp->losses);
    free(dp->energy);
    free(dp);
}

int pl_dp_writer(const pl_dp *dp)
{
    return !dp || dp->rank == 0;
}

int pl_dp_threads(const pl_dp *dp)
{
    int ranks = dp ? gt_world_ranks_on_node(dp->world) : 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (ranks <= 1 || getenv("OMP_NUM_THREADS") || cores <= 0)
        return 0;
    return cores / ranks > 1 ? (int)(cores / ranks) : 1;
}

int pl_dp_size(const pl_dp *dp)
{
    return dp ? dp->size : 1;
}

gt_status pl_dp_agree(pl_dp *dp, const char *stage, gt_status st, gt_error *err)
{
    return dp ? gt_world_agree(dp->world, stage, st, err) : st;
}

void pl_dp_shard(const pl_dp *dp, const gt_batch *b, pl_shard *s)
{
    size_t lo = dp ? b->B * (size_t)dp->rank / (size_t)dp->size : 0;
    size_t hi = dp ? b->B * (size_t)(dp->rank + 1) / (size_t)dp->size : b->B;
    s->ids = b->ids + lo * b->T;
    s->lengths = b->lengths + lo;
    s->labels = b->labels + lo;
    s->B = (int)(hi - lo);
    s->share = b->B ? (float)(hi - lo) / (float)b->B : 0;
}

static gt_status keep_loss(pl_dp *dp, float loss, gt_error *err)
{
    if (dp->n_losses == DP_LOSSES_MAX)
        return GT_OK; /* the record keeps the first million */
    if (dp->n_losses == dp->cap_losses) {
        size_t cap = dp->cap_losses ? dp->cap_losses * 2 : 256;
        float *bigger = realloc(dp->losses, cap * sizeof *bigger);
        if (!bigger)
            return gt_error_set(err, GT_ERR_NOMEM, "train: out of memory");
        dp->losses = bigger;
        dp->cap_losses = cap;
    }
    dp->losses[dp->n_losses++] = loss;
    return GT_OK;
}

int pl_dp_takes_batch(const pl_dp *dp, size_t i)
{
    return !dp || i % (size_t)dp->size == (size_t)dp->rank;
}

/* --- with MPI: the exchanges --------------------------------------------------------- */

#if GREENTUNE_HAVE_MPI

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static gt_status mpi_failed(const char *what, int rc, gt_error *err)
{
    char text[256];
    return gt_error_set(err, GT_ERR_IO, "%s: MPI failed: %s", what, world_error_text(rc, text, sizeof text));
}

int pl_dp_stop(pl_dp *dp, int stop_here)
{
    int any = stop_here;
    if (dp && dp->size > 1)
        MPI_Allreduce(&stop_here, &any, 1, MPI_INT, MPI_MAX, dp->world->step);
    return any;
}

gt_status pl_dp_train_begin(pl_dp *dp, gt_nn_model *m, gt_measurement *measurement, size_t batches, size_t batch,
                            gt_error *err)
{
    if (!dp)
        return GT_OK;
    dp->measurement = measurement;
    dp->batch = batch;
    size_t n_params;
    float *params = gt_nn_param_block(m, &n_params);
    gt_nn_grad_block(m, &dp->grad_floats);
    if (dp->size == 1)
        return GT_OK;
    /* Every rank is here (inside the train stage): a plain exchange tells each
     * whether the ranks see the same batches and model. */
    long mine[3] = {(long)batches, (long)n_params, (long)dp->grad_floats}, first[3];
    memcpy(first, mine, sizeof first);
    int rc = MPI_Bcast(first, 3, MPI_LONG, 0, dp->world->step);
    int differs = memcmp(mine, first, sizeof mine) != 0, any = differs;
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(&differs, &any, 1, MPI_INT, MPI_MAX, dp->world->step);
    if (rc != MPI_SUCCESS)
        return mpi_failed("train", rc, err);
    if (any)
        return gt_error_set(err, GT_ERR_INVALID,
                            "train: rank %d has %ld batches and %ld parameters, rank 0 %ld and %ld%s — every rank "
                            "must read the same data and model (the same files, on a shared file system)",
                            dp->rank, mine[0], mine[1], first[0], first[1], differs ? "" : " (another rank differs)");
    /* Rank 0's weights on every rank: the same seed gives the same ones,
     * but one binary on two kinds of CPU may round differently. */
    for (size_t off = 0; off < n_params && rc == MPI_SUCCESS; off += DP_BUCKET_FLOATS) {
        size_t n = n_params - off < DP_BUCKET_FLOATS ? n_params - off : DP_BUCKET_FLOATS;
        rc = MPI_Bcast(params + off, (int)n, MPI_FLOAT, 0, dp->world->step);
    }
    gt_nn_params_changed(m);
    return rc == MPI_SUCCESS ? GT_OK : mpi_failed("train", rc, err);
}

gt_status pl_dp_loss(pl_dp *dp, float shard_loss, float share, float *loss, gt_error *err)
{
    *loss = shard_loss;
    if (!dp)
        return GT_OK;
    double mine = share > 0 ? (double)share * shard_loss : 0, sum = mine;
    if (dp->size > 1) {
        int rc = MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, dp->world->step);
        if (rc != MPI_SUCCESS)
            return mpi_failed("train", rc, err);
    }
    *loss = (float)sum;
    return keep_loss(dp, *loss, err);
}

gt_status pl_dp_allreduce_gradients(pl_dp *dp, gt_nn_model *m, gt_error *err)
{
    if (!dp || dp->size == 1)
        return GT_OK;
    size_t n;
    float *grad = gt_nn_grad_block(m, &n);
    gt_status st = dp->measurement ? gt_measurement_task_start(dp->measurement, task_names[DP_ALLREDUCE], err) : GT_OK;
    if (st != GT_OK)
        return st;
    double t0 = now_s();
    int rc = MPI_SUCCESS;
    for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += DP_BUCKET_FLOATS) {
        size_t count = n - off < DP_BUCKET_FLOATS ? n - off : DP_BUCKET_FLOATS;
        rc = MPI_Allreduce(MPI_IN_PLACE, grad + off, (int)count, MPI_FLOAT, MPI_SUM, dp->world->step);
    }
    dp->allreduce_s += now_s() - t0;
    dp->allreduce_calls++;
    if (dp->measurement)
        st = gt_measurement_task_stop(dp->measurement, task_names[DP_ALLREDUCE], err);
    return rc != MPI_SUCCESS ? mpi_failed("train", rc, err) : st;
}

gt_status pl_dp_gather_logits(pl_dp *dp, float *logits, size_t n, gt_error *err)
{
    if (!dp || dp->size == 1)
        return GT_OK;
    int rc = MPI_SUCCESS;
    for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += DP_BUCKET_FLOATS) {
        size_t count = n - off < DP_BUCKET_FLOATS ? n - off : DP_BUCKET_FLOATS;
        rc = MPI_Allreduce(MPI_IN_PLACE, logits + off, (int)count, MPI_FLOAT, MPI_SUM, dp->world->step);
    }
    return rc == MPI_SUCCESS ? GT_OK : mpi_failed("inference", rc, err);
}

static int gather_bytes(pl_dp *dp, const void *mine, void *all, int size)
{
    if (dp->size == 1) {
        memcpy(all, mine, (size_t)size);
        return MPI_SUCCESS;
    }
    return MPI_Gather(mine, size, MPI_BYTE, all, size, MPI_BYTE, 0, dp->world->stage);
}

#else /* a build without MPI: data parallelism over one rank */

int pl_dp_stop(pl_dp *dp, int stop_here)
{
    (void)dp;
    return stop_here;
}

gt_status pl_dp_train_begin(pl_dp *dp, gt_nn_model *m, gt_measurement *measurement, size_t batches, size_t batch,
                            gt_error *err)
{
    (void)batches;
    (void)err;
    if (dp) {
        dp->measurement = measurement;
        dp->batch = batch;
        gt_nn_grad_block(m, &dp->grad_floats);
    }
    return GT_OK;
}

gt_status pl_dp_loss(pl_dp *dp, float shard_loss, float share, float *loss, gt_error *err)
{
    *loss = dp ? share * shard_loss : shard_loss;
    return dp ? keep_loss(dp, *loss, err) : GT_OK;
}

gt_status pl_dp_allreduce_gradients(pl_dp *dp, gt_nn_model *m, gt_error *err)
{
    (void)dp;
    (void)m;
    (void)err;
    return GT_OK;
}

gt_status pl_dp_gather_logits(pl_dp *dp, float *logits, size_t n, gt_error *err)
{
    (void)dp;
    (void)logits;
    (void)n;
    (void)err;
    return GT_OK;
}

static int gather_bytes(pl_dp *dp, const void *mine, void *all, int size)
{
    (void)dp;
    memcpy(all, mine, (size_t)size);
    return 0;
}

#endif

/* --- the job's energy ------------------------------------------------------------------ */

static const gt_task_result *find_task(const gt_energy_result *e, const char *name)
{
    for (int i = 0; i < e->task_count; i++)
        if (!strcmp(e->tasks[i].name, name))
            return &e->tasks[i];
    return NULL;
}

gt_status pl_dp_gather_energy(pl_dp *dp, const gt_energy_result *energy, const double *matmul_flops, gt_error *err)
{
    if (!dp)
        return GT_OK;
    rank_energy mine;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.node, sizeof mine.node, "%s", gt_world_node(dp->world));
    snprintf(mine.meter, sizeof mine.meter, "%s", energy->meter);
    mine.rank = dp->rank;
    mine.estimated = energy->estimated;
    mine.attributed = energy->process.attributed;
    mine.total = energy->total;
    mine.process = energy->process.window;
    for (int i = 0; i < DP_TASKS; i++) {
        const gt_task_result *t = find_task(energy, task_names[i]);
        if (t) {
            mine.tasks[i] = t->window;
            mine.process_tasks[i] = t->process;
        }
    }
    mine.allreduce_s = dp->allreduce_s;
    mine.allreduce_calls = dp->allreduce_calls;
    memcpy(mine.matmul_flops, matmul_flops, sizeof mine.matmul_flops);
    if (dp->rank == 0 && !(dp->energy = calloc((size_t)dp->size, sizeof *dp->energy)))
        return gt_error_set(err, GT_ERR_NOMEM, "run: out of memory");
    if (gather_bytes(dp, &mine, dp->energy, (int)sizeof mine) != 0)
        return gt_error_set(err, GT_ERR_IO, "run: the ranks' energy measurements could not be gathered (MPI failed)");
    return GT_OK;
}

static void add_window(gt_energy_window *sum, const gt_energy_window *w)
{
    for (int c = 0; c < GT_COMPONENTS; c++)
        sum->joules[c] += w->joules[c];
    sum->energy_j += w->energy_j;
    if (w->duration_s > sum->duration_s)
        sum->duration_s = w->duration_s; /* the nodes ran side by side */
}

static void replace(cJSON *record, const char *key, cJSON *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(record, key);
    cJSON_AddItemToObject(record, key, value);
}

/* "rapl" when every node says so, else each meter once: "rapl,estimate". */
static void meters_of(const rank_energy *leaders[], int n, char *out, size_t size)
{
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = !strcmp(leaders[k]->meter, leaders[i]->meter);
        if (!seen)
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? "," : "", leaders[i]->meter);
    }
}

static cJSON *node_json(const pl_dp *dp, const rank_energy *leader, double *process_j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "node", leader->node);
    cJSON_AddNumberToObject(o, "measured_by_rank", leader->rank);
    cJSON_AddStringToObject(o, "meter", leader->meter);
    cJSON_AddBoolToObject(o, "estimated", leader->estimated);
    cJSON_AddItemToObject(o, "total",
                          pl_window_json(leader->total.joules, leader->total.energy_j, leader->total.duration_s));
    cJSON *stages = cJSON_AddObjectToObject(o, "stages");
    for (int i = 0; i < DP_TASKS; i++)
        cJSON_AddItemToObject(stages, task_names[i],
                              pl_window_json(leader->tasks[i].joules, leader->tasks[i].energy_j,
                                             leader->tasks[i].duration_s));
    cJSON *ranks = cJSON_AddArrayToObject(o, "ranks");
    *process_j = 0;
    for (int r = 0; r < dp->size; r++)
        if (!strcmp(dp->energy[r].node, leader->node)) {
            cJSON_AddItemToArray(ranks, cJSON_CreateNumber(r));
            *process_j += dp->energy[r].process.energy_j;
        }
    /* What the job's own processes used of the node, beside the node's total. */
    cJSON_AddNumberToObject(o, "process_energy_j", *process_j);
    return o;
}

static cJSON *rank_json(const rank_energy *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", e->rank);
    cJSON_AddStringToObject(o, "node", e->node);
    cJSON_AddBoolToObject(o, "process_attributed", e->attributed);
    cJSON_AddNumberToObject(o, "process_energy_j", e->process.energy_j);
    cJSON_AddNumberToObject(o, "allreduce_s", e->allreduce_s);
    cJSON_AddNumberToObject(o, "allreduce_calls", (double)e->allreduce_calls);
    return o;
}

static cJSON *parallel_json(const pl_dp *dp, const rank_energy *leaders[], int nodes, const gt_energy_window *comm)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", "data_parallel");
    cJSON_AddNumberToObject(o, "ranks", dp->size);
    cJSON_AddNumberToObject(o, "nodes", nodes);
    cJSON_AddNumberToObject(o, "global_batch", (double)dp->batch);
    cJSON *shards = cJSON_AddArrayToObject(o, "shard_rows");
    for (int r = 0; r < dp->size; r++)
        cJSON_AddItemToArray(shards, cJSON_CreateNumber((double)(dp->batch * (size_t)(r + 1) / (size_t)dp->size -
                                                                 dp->batch * (size_t)r / (size_t)dp->size)));
    cJSON *a = cJSON_AddObjectToObject(o, "allreduce");
    cJSON_AddStringToObject(a, "how", "bucketed MPI_Allreduce (sum) of the gradient block after backward; no "
                                      "overlap with backward (the engine has no per-layer hook)");
    cJSON_AddNumberToObject(a, "gradient_floats", (double)dp->grad_floats);
    cJSON_AddNumberToObject(a, "bucket_floats", (double)DP_BUCKET_FLOATS);
    cJSON_AddNumberToObject(a, "buckets", (double)((dp->grad_floats + DP_BUCKET_FLOATS - 1) / DP_BUCKET_FLOATS));
    cJSON_AddNumberToObject(a, "calls", (double)dp->allreduce_calls);
    cJSON_AddNumberToObject(a, "bytes_per_call", (double)(dp->grad_floats * sizeof(float)));
    /* The task train/allreduce of every node, summed like the stages. */
    cJSON *c = pl_window_json(comm->joules, comm->energy_j, comm->duration_s);
    cJSON_AddStringToObject(c, "task", task_names[DP_ALLREDUCE]);
    cJSON_AddItemToObject(o, "communication", c);
    cJSON *per_node = cJSON_AddArrayToObject(o, "per_node");
    double process_j = 0;
    for (int i = 0; i < nodes; i++) {
        double node_process_j;
        cJSON_AddItemToArray(per_node, node_json(dp, leaders[i], &node_process_j));
        process_j += node_process_j;
    }
    cJSON_AddNumberToObject(o, "process_energy_j", process_j);
    cJSON *per_rank = cJSON_AddArrayToObject(o, "per_rank");
    for (int r = 0; r < dp->size; r++)
        cJSON_AddItemToArray(per_rank, rank_json(&dp->energy[r]));
    cJSON_AddStringToObject(o, "energy_rule",
                            "a node's meters see the whole node: each node is measured once (by its lowest rank) "
                            "and stages, other and total are sums over nodes (durations: the longest node's); "
                            "the top-level \"energy\" detail is rank 0's own measurement");
    cJSON *losses = cJSON_AddArrayToObject(o, "losses");
    for (size_t i = 0; i < dp->n_losses; i++)
        cJSON_AddItemToArray(losses, cJSON_CreateNumber(dp->losses[i]));
    return o;
}

/* Each rank computed its shards only: the job's training FLOPs are the sum. */
static void sum_flops(const pl_dp *dp, cJSON *record)
{
    cJSON *flops = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(record, "train"), "matmul_flops");
    if (!cJSON_IsObject(flops))
        return;
    for (int k = 0; k < GT_NN_PRECISIONS; k++) {
        double sum = 0;
        for (int r = 0; r < dp->size; r++)
            sum += dp->energy[r].matmul_flops[k];
        replace(flops, gt_nn_precision_name((gt_nn_precision)k), cJSON_CreateNumber(sum));
    }
}

void pl_dp_record(const pl_dp *dp, cJSON *record)
{
    if (!dp || dp->rank != 0 || !dp->energy || !record)
        return;
    const rank_energy **leaders = calloc((size_t)dp->size, sizeof *leaders);
    if (!leaders)
        return;
    int nodes = 0;
    for (int r = 0; r < dp->size; r++) {
        int seen = 0;
        for (int i = 0; i < nodes && !seen; i++)
            seen = !strcmp(leaders[i]->node, dp->energy[r].node);
        if (!seen)
            leaders[nodes++] = &dp->energy[r];
    }
    gt_energy_window total, stages[DP_TASKS], in_stages;
    memset(&total, 0, sizeof total);
    memset(stages, 0, sizeof stages);
    memset(&in_stages, 0, sizeof in_stages);
    int estimated = 0;
    for (int i = 0; i < nodes; i++) {
        add_window(&total, &leaders[i]->total);
        for (int k = 0; k < DP_TASKS; k++)
            add_window(&stages[k], &leaders[i]->tasks[k]);
        estimated |= leaders[i]->estimated;
    }
    cJSON *stage_json = cJSON_CreateObject();
    for (int k = 0; k < DP_ALLREDUCE; k++) {
        cJSON_AddItemToObject(stage_json, task_names[k],
                              pl_window_json(stages[k].joules, stages[k].energy_j, stages[k].duration_s));
        for (int c = 0; c < GT_COMPONENTS; c++)
            in_stages.joules[c] += stages[k].joules[c];
        in_stages.energy_j += stages[k].energy_j;
        in_stages.duration_s += stages[k].duration_s;
    }
    double other[GT_COMPONENTS];
    for (int c = 0; c < GT_COMPONENTS; c++)
        other[c] = total.joules[c] - in_stages.joules[c];
    char meter[256];
    meters_of(leaders, nodes, meter, sizeof meter);
    replace(record, "stages", stage_json);
    replace(record, "other", pl_window_json(other, total.energy_j - in_stages.energy_j,
                                            total.duration_s - in_stages.duration_s));
    replace(record, "total", pl_window_json(total.joules, total.energy_j, total.duration_s));
    replace(record, "meter", cJSON_CreateString(meter));
    replace(record, "estimated", cJSON_CreateBool(estimated));
    replace(record, "parallel", parallel_json(dp, leaders, nodes, &stages[DP_ALLREDUCE]));
    sum_flops(dp, record);
    free(leaders);
}
