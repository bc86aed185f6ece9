/* A sweep over MPI ranks, rank 0's side: it alone opens the store, and hands
 * the pending runs, in planned order, to the worker ranks.
 *
 * Placement. A node runs at most runs_per_node runs at once (1 by default),
 * so a run's measurement of its node is not disturbed by another run there;
 * before a node's first run, one of its workers measures its idle power
 * (idle_s), with nothing else running on it. The cooldown between runs is
 * per node: a worker cools down before a run when its node ran one before.
 *
 * Failures. A worker that dies (its process gone, seen at once on this
 * node) or falls silent (no message for worker_timeout_s: a dead node, a
 * stopped process) loses its run: rank 0 still holds the run's claim in the
 * store, puts it back to planned and hands it to the next free worker. With
 * mpirun's default, a dead rank ends the whole job instead — then the runs
 * under way stay claimed by rank 0's process, and the same command resumes
 * them (docs/cluster.md: --enable-recovery keeps the job going). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/experiment_internal.h"
#include "experiment/store_internal.h"
#include "mpi/mpi_internal.h"

#define STOP_GRACE_S 30.0 /* a stopping worker stops its run within 10 s (TERM, then KILL) */
#define QUIT_WAIT_S 10.0  /* how long the end of the sweep waits for a worker to hear it */

typedef enum { W_WAITING, W_READY, W_UNUSABLE, W_LOST } worker_state;
typedef enum { JOB_NONE, JOB_RUN, JOB_IDLE } job_kind;
typedef enum { IDLE_NEEDED, IDLE_MEASURING, IDLE_DONE } idle_state;

typedef struct {
    worker_state state;
    store_owner owner;     /* its process, to tell on this node whether it is alive */
    job_kind job;
    gt_run_ref ref;        /* JOB_RUN: the run it has */
    double heard;          /* last message from it */
    char status[128];
} worker;

typedef struct {
    char name[GT_NODE_NAME_MAX];
    int running;           /* runs (or the idle measurement) on the node now */
    idle_state idle;
    int ran;               /* runs started on it */
} node;

typedef struct {
    gt_world *w;
    gt_store *store;
    const gt_experiment *exp;
    int64_t id;
    const gt_mpi_sweep_options *o;
    gt_sweep_summary *s;
    char spec[17];
    worker *workers;       /* by rank; [0] unused */
    node *nodes;           /* by the world's node index */
    gt_run_ref *queue;     /* runs to hand out, next first */
    size_t queued, cap;
    uint64_t finished, total;
    size_t executed;
    double started, began;
    int stopping;
    double stop_at;
} coordinator;

static void note(const coordinator *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const coordinator *c, const char *fmt, ...)
{
    if (!c->o->sweep.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->o->sweep.log(c->o->sweep.log_ctx, line);
}

static void show(const coordinator *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void show(const coordinator *c, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    gt_progress_report(&c->o->sweep.progress, "sweep", c->finished, c->total, "%s", text);
}

static const char *node_of(const coordinator *c, int rank)
{
    return c->nodes[world_node_of(c->w, rank)].name;
}

static int busy_workers(const coordinator *c)
{
    int n = 0;
    for (int r = 1; r < gt_world_size(c->w); r++)
        n += c->workers[r].job != JOB_NONE;
    return n;
}

/* Workers that have or may still get work. */
static int usable_workers(const coordinator *c)
{
    int n = 0;
    for (int r = 1; r < gt_world_size(c->w); r++)
        n += c->workers[r].state == W_READY || c->workers[r].state == W_WAITING;
    return n;
}

/* --- the queue of runs to hand out ------------------------------------------------- */

static gt_status queue_front(coordinator *c, const gt_run_ref *ref, gt_error *err)
{
    if (c->queued == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        gt_run_ref *bigger = realloc(c->queue, cap * sizeof *bigger);
        if (!bigger)
            return gt_error_set(err, GT_ERR_NOMEM, "sweep: out of memory");
        c->queue = bigger;
        c->cap = cap;
    }
    memmove(c->queue + 1, c->queue, c->queued * sizeof *c->queue);
    c->queue[0] = *ref;
    c->queued++;
    return GT_OK;
}

static gt_run_ref queue_pop(coordinator *c)
{
    gt_run_ref ref = c->queue[0];
    memmove(c->queue, c->queue + 1, --c->queued * sizeof *c->queue);
    return ref;
}

/* A run the coordinator claimed goes back to planned and to the front of the
 * queue (it was next in the plan when it was handed out). */
static gt_status hand_back(coordinator *c, const gt_run_ref *ref, gt_error *err)
{
    gt_status st = gt_store_release_run(c->store, ref->id, err);
    return st == GT_OK ? queue_front(c, ref, err) : st;
}

/* The worker's job is over (done, lost, given back): its node has room again. */
static void job_over(coordinator *c, int rank)
{
    worker *wk = &c->workers[rank];
    if (wk->job != JOB_NONE)
        c->nodes[world_node_of(c->w, rank)].running--;
    wk->job = JOB_NONE;
    wk->status[0] = '\0';
}

/* --- messages ------------------------------------------------------------------------ */

static const char *text_of(const cJSON *msg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double number_of(const cJSON *msg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void on_hello(coordinator *c, int rank, const cJSON *msg)
{
    worker *wk = &c->workers[rank];
    node *nd = &c->nodes[world_node_of(c->w, rank)];
    const char *node_name = text_of(msg, "node"), *error = text_of(msg, "error"), *spec = text_of(msg, "spec");
    if (node_name)
        snprintf(nd->name, sizeof nd->name, "%s", node_name);
    if (error || !spec || strcmp(spec, c->spec)) {
        wk->state = W_UNUSABLE;
        note(c, "rank %d on %s takes no runs: %s", rank, nd->name,
             error ? error : "it read another experiment or pipeline file than rank 0 — every node must see the "
                             "same files (a shared file system)");
        return;
    }
    memset(&wk->owner, 0, sizeof wk->owner);
    snprintf(wk->owner.host, sizeof wk->owner.host, "%s", text_of(msg, "host") ? text_of(msg, "host") : "");
    snprintf(wk->owner.boot_id, sizeof wk->owner.boot_id, "%s", text_of(msg, "boot") ? text_of(msg, "boot") : "");
    wk->owner.pid = (long)number_of(msg, "pid");
    wk->owner.start_ticks = (unsigned long long)number_of(msg, "start");
    wk->state = W_READY;
}

static gt_status on_idle(coordinator *c, int rank, const cJSON *msg, gt_error *err)
{
    worker *wk = &c->workers[rank];
    if (wk->job != JOB_IDLE)
        return GT_OK;
    node *nd = &c->nodes[world_node_of(c->w, rank)];
    job_over(c, rank);
    const char *error = text_of(msg, "error");
    if (error)
        return gt_error_set(err, GT_ERR_IO, "node %s (rank %d): %s", nd->name, rank, error);
    gt_idle_measurement idle = {text_of(msg, "meter"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "estimated")),
                                number_of(msg, "duration_s"), number_of(msg, "energy_j")};
    gt_status st = gt_store_add_idle_on(c->store, c->id, &idle, nd->name, err);
    if (st != GT_OK)
        return st;
    nd->idle = IDLE_DONE;
    note(c, "%s: idle power %.2f W over %.1f s (%s%s)", nd->name, number_of(msg, "power_w"), idle.duration_s,
         idle.meter ? idle.meter : "?", idle.estimated ? ", estimated" : "");
    return GT_OK;
}

/* The worker's run ended: store it as the single-process sweep does. */
static gt_status on_done(coordinator *c, int rank, cJSON *msg, gt_error *err)
{
    worker *wk = &c->workers[rank];
    if (wk->job != JOB_RUN || (int64_t)number_of(msg, "run") != wk->ref.id)
        return GT_OK; /* a run it no longer has: it was lost and handed out again */
    gt_run_ref ref = wk->ref;
    const char *node_name = node_of(c, rank);
    job_over(c, rank);
    const char *broken = text_of(msg, "broken");
    if (broken) {
        wk->state = W_UNUSABLE;
        note(c, "rank %d on %s cannot run anything (%s); %s #%d goes to another worker", rank, node_name, broken,
             ref.variant, ref.repeat + 1);
        return hand_back(c, &ref, err);
    }
    gt_run_outcome out;
    memset(&out, 0, sizeof out);
    out.record = cJSON_DetachItemFromObjectCaseSensitive(msg, "record");
    out.interrupted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "interrupted"));
    if (text_of(msg, "error"))
        out.error = strdup(text_of(msg, "error"));
    if (text_of(msg, "tail"))
        out.output_tail = strdup(text_of(msg, "tail"));
    if (out.interrupted && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "leaving")))
        wk->state = W_UNUSABLE; /* stopped by a signal of its own: it takes no more runs */
    if (!out.interrupted)
        c->finished++, c->executed++;
    char label[GT_NAME_MAX + GT_NODE_NAME_MAX + 96], eta[32];
    exp_eta_text(c->started, c->executed, c->finished, c->total, eta, sizeof eta);
    snprintf(label, sizeof label, "[%llu/%llu%s] %s #%d on %s", (unsigned long long)c->finished,
             (unsigned long long)c->total, eta, ref.variant, ref.repeat + 1, node_name);
    int interrupted_before = c->s->interrupted;
    gt_status st = exp_store_outcome(c->store, &ref, &out, label, &c->o->sweep, c->s, err);
    if (st == GT_OK && out.interrupted && !c->stopping) {
        /* Only that worker was stopped: the sweep goes on and the run with it. */
        c->s->interrupted = interrupted_before;
        st = queue_front(c, &ref, err);
    }
    gt_run_outcome_free(&out);
    return st;
}

static gt_status handle(coordinator *c, int rank, int tag, cJSON *msg, gt_error *err)
{
    worker *wk = rank > 0 && rank < gt_world_size(c->w) ? &c->workers[rank] : NULL;
    if (!wk || wk->state == W_LOST || !msg)
        return GT_OK; /* a lost worker that came back has nothing left to say */
    wk->heard = exp_now();
    switch (tag) {
    case SWEEP_HELLO:
        if (wk->state == W_WAITING)
            on_hello(c, rank, msg);
        return GT_OK;
    case SWEEP_BEAT:
        if (text_of(msg, "status"))
            snprintf(wk->status, sizeof wk->status, "%s", text_of(msg, "status"));
        if (wk->job == JOB_RUN)
            show(c, "%s #%d on %s: %s (%d running)", wk->ref.variant, wk->ref.repeat + 1, node_of(c, rank),
                 wk->status, busy_workers(c));
        return GT_OK;
    case SWEEP_NOTE:
        if (text_of(msg, "text"))
            note(c, "rank %d on %s: %s", rank, node_of(c, rank), text_of(msg, "text"));
        return GT_OK;
    case SWEEP_IDLE:
        return on_idle(c, rank, msg, err);
    case SWEEP_DONE:
        return on_done(c, rank, msg, err);
    default:
        return GT_OK;
    }
}

/* --- handing out ---------------------------------------------------------------------- */

static gt_status send_to(coordinator *c, int rank, int tag, cJSON *msg, gt_error *err)
{
    gt_status st = msg ? world_send(c->w, rank, tag, msg, err)
                       : gt_error_set(err, GT_ERR_NOMEM, "sweep: out of memory for a message");
    cJSON_Delete(msg);
    return st;
}

static void lose(coordinator *c, int rank, const char *why);

/* The next run for the worker, claimed in the store and sent; 0 when the
 * queue has nothing (left) that this sweep may claim. */
static gt_status give_run(coordinator *c, int rank, int *given, gt_error *err)
{
    *given = 0;
    worker *wk = &c->workers[rank];
    node *nd = &c->nodes[world_node_of(c->w, rank)];
    while (c->queued && !*given) {
        gt_run_ref ref = queue_pop(c);
        int claimed = 0;
        gt_status st = gt_store_claim_run(c->store, ref.id, c->o->sweep.retry_failed, &claimed, err);
        if (st != GT_OK)
            return st;
        if (!claimed)
            continue; /* another sweep of the same database took it */
        cJSON *msg = cJSON_CreateObject();
        cJSON_AddNumberToObject(msg, "run", (double)ref.id);
        cJSON_AddStringToObject(msg, "variant", ref.variant);
        cJSON_AddNumberToObject(msg, "repeat", ref.repeat);
        cJSON_AddBoolToObject(msg, "cool", nd->ran > 0);
        gt_error send_err = {0};
        if (send_to(c, rank, SWEEP_RUN, msg, &send_err) != GT_OK) {
            lose(c, rank, send_err.message);
            return hand_back(c, &ref, err);
        }
        if (!c->executed && !c->finished)
            c->started = exp_now();
        wk->job = JOB_RUN;
        wk->ref = ref;
        wk->heard = exp_now();
        nd->running++;
        nd->ran++;
        *given = 1;
        show(c, "%s #%d on %s: starting", ref.variant, ref.repeat + 1, nd->name);
    }
    return GT_OK;
}

static gt_status assign(coordinator *c, int *acted, gt_error *err)
{
    int measure_idle = c->o->sweep.measure_idle && c->exp->idle_s > 0;
    int per_node = c->o->runs_per_node > 0 ? c->o->runs_per_node : 1;
    for (int r = 1; r < gt_world_size(c->w) && c->queued; r++) {
        worker *wk = &c->workers[r];
        node *nd = &c->nodes[world_node_of(c->w, r)];
        if (wk->state != W_READY || wk->job != JOB_NONE || nd->running >= per_node)
            continue;
        if (measure_idle && nd->idle != IDLE_DONE) {
            if (nd->idle == IDLE_MEASURING || nd->running > 0)
                continue;
            gt_error send_err = {0};
            if (send_to(c, r, SWEEP_IDLE, cJSON_CreateObject(), &send_err) != GT_OK) {
                lose(c, r, send_err.message);
                continue;
            }
            wk->job = JOB_IDLE;
            wk->heard = exp_now();
            nd->idle = IDLE_MEASURING;
            nd->running++;
            show(c, "%s: measuring idle power for %g s", nd->name, c->exp->idle_s);
            *acted = 1;
            continue;
        }
        int given = 0;
        gt_status st = give_run(c, r, &given, err);
        if (st != GT_OK)
            return st;
        *acted |= given;
    }
    return GT_OK;
}

/* --- lost workers ------------------------------------------------------------------------ */

static void lose(coordinator *c, int rank, const char *why)
{
    worker *wk = &c->workers[rank];
    node *nd = &c->nodes[world_node_of(c->w, rank)];
    gt_error err = {0};
    if (wk->job == JOB_RUN) {
        note(c, "rank %d on %s is lost (%s); %s #%d goes to another worker", rank, nd->name, why, wk->ref.variant,
             wk->ref.repeat + 1);
        if (hand_back(c, &wk->ref, &err) != GT_OK)
            note(c, "%s", err.message);
    } else {
        note(c, "rank %d on %s is lost (%s)", rank, nd->name, why);
    }
    if (wk->job == JOB_IDLE)
        nd->idle = IDLE_NEEDED;
    job_over(c, rank);
    wk->state = W_LOST;
}

static void check_lost(coordinator *c)
{
    double now = exp_now(), timeout = c->o->worker_timeout_s > 0 ? c->o->worker_timeout_s : 60;
    char why[96];
    for (int r = 1; r < gt_world_size(c->w); r++) {
        worker *wk = &c->workers[r];
        if (wk->state == W_WAITING && now - c->began > timeout) {
            snprintf(why, sizeof why, "no word from it in %g s since the sweep started", timeout);
            lose(c, r, why);
        } else if (wk->state == W_READY && wk->job != JOB_NONE) {
            if (!store_owner_alive(&wk->owner)) {
                lose(c, r, "its process is gone");
            } else if (now - wk->heard > timeout) {
                snprintf(why, sizeof why, "silent for %.0f s", now - wk->heard);
                lose(c, r, why);
            }
        }
    }
}

/* --- the loop ------------------------------------------------------------------------------ */

static void stop_workers(coordinator *c)
{
    c->stopping = 1;
    c->stop_at = exp_now();
    c->s->interrupted = 1;
    for (int r = 1; r < gt_world_size(c->w); r++)
        if (c->workers[r].job != JOB_NONE) {
            gt_error ignored = {0};
            send_to(c, r, SWEEP_STOP, cJSON_CreateObject(), &ignored);
        }
}

static gt_status coordinate_loop(coordinator *c, gt_error *err)
{
    for (;;) {
        int acted = 0, source, tag;
        cJSON *msg;
        while (world_poll(c->w, &source, &tag, &msg)) {
            gt_status st = handle(c, source, tag, msg, err);
            cJSON_Delete(msg);
            if (st != GT_OK)
                return st;
            acted = 1;
        }
        check_lost(c);
        if (!c->stopping && c->o->sweep.stop && *c->o->sweep.stop)
            stop_workers(c);
        if (!c->stopping) {
            gt_status st = assign(c, &acted, err);
            if (st != GT_OK)
                return st;
        }
        int busy = busy_workers(c);
        if (!busy && (c->stopping || !c->queued))
            return GT_OK;
        if (c->stopping && exp_now() - c->stop_at > STOP_GRACE_S)
            return GT_OK;
        if (!busy && !usable_workers(c))
            return gt_error_set(err, GT_ERR_IO,
                                "sweep: no worker rank is left to run the %zu runs not done (messages above say "
                                "why) — run the same command again to continue",
                                c->queued);
        if (!acted)
            exp_sleep(SWEEP_POLL_S, NULL);
    }
}

/* Every worker in ranks[0..n) hears the sweep is over, and has heard it when
 * this returns (or is not listening): the ranks end without waiting for
 * each other (gt_world_finalize_alone). */
static int tell_quit(gt_world *w, const int *ranks, int n)
{
    cJSON *quit = cJSON_CreateObject();
    int told = quit ? world_send_all_sync(w, ranks, n, SWEEP_QUIT, quit, QUIT_WAIT_S) : 0;
    cJSON_Delete(quit);
    return told;
}

/* After the loop: runs still out go back to planned, every worker that may
 * still listen is told the sweep is over. */
static void wind_up(coordinator *c)
{
    int *ranks = calloc((size_t)gt_world_size(c->w), sizeof *ranks), n = 0;
    for (int r = 1; r < gt_world_size(c->w); r++) {
        worker *wk = &c->workers[r];
        if (wk->job == JOB_RUN) {
            gt_error ignored = {0};
            gt_store_release_run(c->store, wk->ref.id, &ignored);
        }
        job_over(c, r);
        if (wk->state != W_LOST) {
            if (ranks)
                ranks[n++] = r;
        } else if (store_owner_alive(&wk->owner)) {
            /* silent, maybe stopped: told, not waited for */
            gt_error ignored = {0};
            send_to(c, r, SWEEP_QUIT, cJSON_CreateObject(), &ignored);
        }
    }
    int told = tell_quit(c->w, ranks, n);
    if (told < n)
        note(c, "%d worker rank%s did not hear that the sweep is over within %g s", n - told, n - told == 1 ? "" : "s",
             QUIT_WAIT_S);
    free(ranks);
}

static gt_status load_plan(coordinator *c, gt_error *err)
{
    size_t counts[4];
    gt_run_ref *pending = NULL;
    size_t n = 0;
    gt_status st = gt_store_run_counts(c->store, c->id, NULL, counts, err);
    if (st == GT_OK)
        st = gt_store_pending_runs(c->store, c->id, c->o->sweep.retry_failed, &pending, &n, err);
    if (st != GT_OK)
        return st;
    c->s->planned = counts[GT_RUN_PLANNED] + counts[GT_RUN_RUNNING] + counts[GT_RUN_DONE] + counts[GT_RUN_FAILED];
    c->s->done_before = counts[GT_RUN_DONE];
    c->queue = pending;
    c->queued = c->cap = n;
    c->total = c->s->planned;
    c->finished = c->s->planned - n;
    return GT_OK;
}

gt_status sweep_coordinate(gt_world *w, gt_store *store, const gt_experiment *exp, int64_t experiment_id,
                           const gt_mpi_sweep_options *o, gt_sweep_summary *s, gt_error *err)
{
    coordinator c = {.w = w, .store = store, .exp = exp, .id = experiment_id, .o = o, .s = s};
    sweep_spec_hash(exp, c.spec);
    c.workers = calloc((size_t)gt_world_size(w), sizeof *c.workers);
    c.nodes = calloc((size_t)gt_world_nodes(w), sizeof *c.nodes);
    gt_status st = c.workers && c.nodes ? load_plan(&c, err) : gt_error_set(err, GT_ERR_NOMEM, "sweep: out of memory");
    /* Names until the workers say theirs; node 0 is rank 0's own. */
    for (int i = 0; st == GT_OK && i < gt_world_nodes(w); i++)
        snprintf(c.nodes[i].name, sizeof c.nodes[i].name, "%s", i ? "a node" : gt_world_node(w));
    c.started = c.began = exp_now();
    if (st == GT_OK) {
        int per_node = o->runs_per_node > 0 ? o->runs_per_node : 1;
        note(&c, "%zu runs to do on %d worker ranks, %d nodes, at most %d run%s per node at once", c.queued,
             gt_world_size(w) - 1, gt_world_nodes(w), per_node, per_node == 1 ? "" : "s");
        st = coordinate_loop(&c, err);
    }
    if (c.workers)
        wind_up(&c);
    if (o->sweep.stop && *o->sweep.stop)
        s->interrupted = 1;
    size_t after[4];
    gt_error count_err = {0};
    if (gt_store_run_counts(store, experiment_id, NULL, after, &count_err) == GT_OK)
        s->remaining = s->planned - after[GT_RUN_DONE];
    free(c.queue);
    free(c.workers);
    free(c.nodes);
    return st;
}

void gt_sweep_coordinator_refuse(gt_world *w)
{
    int n = gt_world_size(w) - 1;
    int *ranks = calloc((size_t)(n > 0 ? n : 1), sizeof *ranks);
    for (int r = 1; ranks && r <= n; r++)
        ranks[r - 1] = r;
    if (ranks)
        tell_quit(w, ranks, n);
    free(ranks);
}
