/* A sweep over MPI ranks, a worker's side: it says it is ready, then executes
 * what rank 0 hands it — a run, with the sweep's executor (a forked child,
 * as in a single-process sweep), or its node's idle measurement — and sends
 * back the outcome.
 *
 * The job runs on a thread of its own so that this thread, the only one
 * that talks MPI, can say every second that the worker is alive and hear a
 * request to stop. MPI's locks are never held across the fork that starts a
 * run (world_lock's fork guard). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/experiment_internal.h"
#include "experiment/store_internal.h"
#include "mpi/mpi_internal.h"

typedef struct {
    const gt_experiment *exp;
    const gt_run_executor *executor;
    const gt_sweep_variant *v;    /* a run, or NULL: the idle measurement */
    int repeat, cool;
    const gt_temperatures *idle_temperatures;
    int *thermal_ok;
    /* The worker's own stop flag (its signal handler's): a run stopped by a
     * signal that reached the run too must still read as stopped, not failed. */
    volatile sig_atomic_t *stop;
    pthread_mutex_t lock;         /* guards finished, status and note */
    int finished;
    char status[128];
    char note[GT_ERROR_MESSAGE_MAX + 128];
    gt_run_outcome out;
    gt_energy_result idle;
    gt_status st;
    gt_error err;
} job;

static void job_progress(void *ctx, const char *label, uint64_t done, uint64_t total, const char *status)
{
    (void)status;
    job *j = ctx;
    pthread_mutex_lock(&j->lock);
    if (total)
        snprintf(j->status, sizeof j->status, "%s %.0f%%", label, 100.0 * (double)done / (double)total);
    else
        snprintf(j->status, sizeof j->status, "%s", label);
    pthread_mutex_unlock(&j->lock);
}

static void job_note(void *ctx, const char *line)
{
    job *j = ctx;
    pthread_mutex_lock(&j->lock);
    snprintf(j->note, sizeof j->note, "%s", line);
    pthread_mutex_unlock(&j->lock);
}

static void *job_main(void *arg)
{
    job *j = arg;
    if (!j->v) {
        j->st = exp_measure_idle(j->exp, &j->idle, &j->err);
    } else {
        if (j->cool && (j->exp->cooldown_s > 0 || j->exp->thermal_band_c > 0)) {
            job_progress(j, "cooling down", 0, 0, NULL);
            exp_cool_down(j->exp, j->stop, j->idle_temperatures, j->thermal_ok, job_note, j);
        }
        gt_progress_sink sink = {job_progress, j};
        j->st = j->executor->run(j->executor->ctx, j->exp, j->v, j->repeat, &sink, j->stop, &j->out, &j->err);
    }
    pthread_mutex_lock(&j->lock);
    j->finished = 1;
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* --- the worker ------------------------------------------------------------------------- */

typedef struct {
    gt_world *w;
    const gt_experiment *exp;
    const gt_mpi_sweep_options *o;
    gt_sweep_summary *s;
    gt_temperatures idle_temperatures;
    int thermal_ok;
    volatile sig_atomic_t own_stop; /* the stop flag when the caller gave none */
    volatile sig_atomic_t *stop;  /* set by a signal, or by rank 0 stopping the sweep */
    int quit;                     /* rank 0 said the sweep is over */
    int leaving;                  /* this worker was stopped: it takes no more runs */
} worker;

static int signalled(const worker *wk)
{
    return *wk->stop != 0;
}

static void send_quietly(worker *wk, int tag, cJSON *msg)
{
    gt_error ignored = {0};
    if (msg)
        world_send(wk->w, 0, tag, msg, &ignored); /* rank 0 gone: mpirun ends this rank too */
    cJSON_Delete(msg);
}

static void send_note(worker *wk, const char *text)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "text", text);
    send_quietly(wk, SWEEP_NOTE, msg);
}

/* The node and rank the run ran on go into its record's machine facts (a
 * command's record has none yet: its node's, not rank 0's, are stored). */
static void add_placement(const worker *wk, cJSON *record)
{
    cJSON *machine = cJSON_GetObjectItemCaseSensitive(record, "machine");
    if (!cJSON_IsObject(machine)) {
        gt_machine m;
        gt_machine_read(&m);
        cJSON_DeleteItemFromObjectCaseSensitive(record, "machine");
        machine = cJSON_AddObjectToObject(record, "machine");
        cJSON_AddStringToObject(machine, "hostname", m.hostname);
        cJSON_AddStringToObject(machine, "cpu_model", m.cpu_model);
        cJSON_AddNumberToObject(machine, "cores", m.cores);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(machine, "node");
    cJSON_DeleteItemFromObjectCaseSensitive(machine, "rank");
    cJSON_AddStringToObject(machine, "node", gt_world_node(wk->w));
    cJSON_AddNumberToObject(machine, "rank", gt_world_rank(wk->w));
}

static cJSON *idle_result(const job *j)
{
    cJSON *msg = cJSON_CreateObject();
    if (j->st != GT_OK) {
        cJSON_AddStringToObject(msg, "error", j->err.message);
        return msg;
    }
    cJSON_AddStringToObject(msg, "meter", j->idle.meter);
    cJSON_AddBoolToObject(msg, "estimated", j->idle.estimated);
    cJSON_AddNumberToObject(msg, "duration_s", j->idle.total.duration_s);
    cJSON_AddNumberToObject(msg, "energy_j", j->idle.total.energy_j);
    cJSON_AddNumberToObject(msg, "power_w", j->idle.avg_power_w);
    return msg;
}

static cJSON *run_result(worker *wk, job *j, int64_t run)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddNumberToObject(msg, "run", (double)run);
    if (j->st != GT_OK) {
        cJSON_AddStringToObject(msg, "broken", j->err.message);
    } else if (j->out.interrupted) {
        cJSON_AddBoolToObject(msg, "interrupted", 1);
        cJSON_AddBoolToObject(msg, "leaving", wk->leaving);
    } else if (j->out.record) {
        add_placement(wk, j->out.record);
        cJSON_AddItemToObject(msg, "record", j->out.record);
        j->out.record = NULL;
        wk->s->done++;
    } else {
        cJSON_AddStringToObject(msg, "error", j->out.error ? j->out.error : "failed without a message");
        if (j->out.output_tail)
            cJSON_AddStringToObject(msg, "tail", j->out.output_tail);
        wk->s->failed++;
    }
    return msg;
}

/* Messages while a job runs: a stop (the sweep is stopping) or the end. */
static void listen(worker *wk)
{
    int source, tag;
    cJSON *msg;
    while (world_poll(wk->w, &source, &tag, &msg)) {
        if (tag == SWEEP_STOP || tag == SWEEP_QUIT)
            *wk->stop = 1;
        if (tag == SWEEP_QUIT)
            wk->quit = 1;
        cJSON_Delete(msg);
    }
}

/* Runs the job on its thread; meanwhile says every second that this worker
 * is alive (with the run's stage), passes its notes on and listens. */
static void supervise(worker *wk, job *j, int64_t run)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, job_main, j) != 0) {
        j->st = gt_error_set(&j->err, GT_ERR_NOMEM, "cannot start a thread for the run");
        return;
    }
    double beat = 0;
    for (int finished = 0; !finished;) {
        char status[sizeof j->status], text[sizeof j->note];
        pthread_mutex_lock(&j->lock);
        finished = j->finished;
        memcpy(status, j->status, sizeof status);
        memcpy(text, j->note, sizeof text);
        j->note[0] = '\0';
        pthread_mutex_unlock(&j->lock);
        if (text[0])
            send_note(wk, text);
        listen(wk);
        if (signalled(wk))
            wk->leaving = 1;
        if (!finished && exp_now() - beat >= SWEEP_BEAT_S) {
            cJSON *msg = cJSON_CreateObject();
            cJSON_AddNumberToObject(msg, "run", (double)run);
            cJSON_AddStringToObject(msg, "status", status[0] ? status : "starting");
            send_quietly(wk, SWEEP_BEAT, msg);
            beat = exp_now();
        }
        if (!finished)
            exp_sleep(SWEEP_POLL_S, NULL);
    }
    pthread_join(thread, NULL);
}

static void do_job(worker *wk, const gt_sweep_variant *v, int64_t run, int repeat, int cool)
{
    job j;
    memset(&j, 0, sizeof j);
    pthread_mutex_init(&j.lock, NULL);
    j.exp = wk->exp;
    j.executor = wk->o->sweep.executor ? wk->o->sweep.executor : gt_run_executor_fork();
    j.v = v;
    j.repeat = repeat;
    j.cool = cool;
    j.idle_temperatures = &wk->idle_temperatures;
    j.thermal_ok = &wk->thermal_ok;
    j.stop = wk->stop;
    if (signalled(wk))
        wk->leaving = 1;
    if (v && *j.stop)
        j.out.interrupted = 1; /* stopped before it started */
    else
        supervise(wk, &j, run);
    if (!wk->quit)
        send_quietly(wk, v ? SWEEP_DONE : SWEEP_IDLE, v ? run_result(wk, &j, run) : idle_result(&j));
    gt_run_outcome_free(&j.out);
    if (!v && j.st == GT_OK)
        gt_energy_result_free(&j.idle);
    pthread_mutex_destroy(&j.lock);
}

static void on_run(worker *wk, const cJSON *msg)
{
    const cJSON *variant = cJSON_GetObjectItemCaseSensitive(msg, "variant");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(msg, "run");
    const cJSON *repeat = cJSON_GetObjectItemCaseSensitive(msg, "repeat");
    const gt_sweep_variant *v = cJSON_IsString(variant) ? gt_experiment_find(wk->exp, variant->valuestring) : NULL;
    if (!cJSON_IsNumber(run))
        return;
    if (!v || !cJSON_IsNumber(repeat)) {
        cJSON *reply = cJSON_CreateObject();
        cJSON_AddNumberToObject(reply, "run", run->valuedouble);
        cJSON_AddStringToObject(reply, "broken", "a run of a variant this worker's experiment file does not have");
        send_quietly(wk, SWEEP_DONE, reply);
        return;
    }
    do_job(wk, v, (int64_t)run->valuedouble, repeat->valueint,
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "cool")));
}

static void hello(worker *wk)
{
    store_owner self;
    store_owner_self(&self);
    char spec[17];
    sweep_spec_hash(wk->exp, spec);
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "node", gt_world_node(wk->w));
    cJSON_AddStringToObject(msg, "host", self.host);
    cJSON_AddNumberToObject(msg, "pid", (double)self.pid);
    cJSON_AddNumberToObject(msg, "start", (double)self.start_ticks);
    cJSON_AddStringToObject(msg, "boot", self.boot_id);
    cJSON_AddStringToObject(msg, "spec", spec);
    send_quietly(wk, SWEEP_HELLO, msg);
}

gt_status sweep_work(gt_world *w, const gt_experiment *exp, const gt_mpi_sweep_options *o, gt_sweep_summary *s,
                     gt_error *err)
{
    (void)err;
    memset(s, 0, sizeof *s);
    worker wk = {.w = w, .exp = exp, .o = o, .s = s, .thermal_ok = exp->thermal_band_c > 0};
    wk.stop = o->sweep.stop ? o->sweep.stop : &wk.own_stop;
    /* The runs' commands are programs of their own, not more of this rank. */
    world_forget_launcher();
    if (wk.thermal_ok)
        gt_temperatures_read(&wk.idle_temperatures);
    hello(&wk);
    while (!wk.quit) {
        int source, tag;
        cJSON *msg;
        if (!world_poll(w, &source, &tag, &msg)) {
            exp_sleep(SWEEP_POLL_S, NULL);
            continue;
        }
        if (tag == SWEEP_QUIT)
            wk.quit = 1;
        else if (tag == SWEEP_RUN && msg)
            on_run(&wk, msg);
        else if (tag == SWEEP_IDLE)
            do_job(&wk, NULL, 0, 0, 0);
        cJSON_Delete(msg);
    }
    if (signalled(&wk))
        s->interrupted = 1;
    return GT_OK;
}

/* A worker that cannot take part (its experiment file did not load) still
 * says so, and waits for the end like the others. */
gt_status gt_sweep_worker_refuse(gt_world *w, const char *why)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "node", gt_world_node(w));
    cJSON_AddStringToObject(msg, "error", why);
    gt_error err = {0};
    gt_status st = world_send(w, 0, SWEEP_HELLO, msg, &err);
    cJSON_Delete(msg);
    for (int quit = 0; st == GT_OK && !quit;) {
        int source, tag;
        cJSON *reply;
        if (world_poll(w, &source, &tag, &reply)) {
            quit = tag == SWEEP_QUIT;
            cJSON_Delete(reply);
        } else {
            exp_sleep(SWEEP_POLL_S, NULL);
        }
    }
    return st;
}
