/* The sampler: a thread that reads the meter every interval. It gives the
 * power trace (peak power, an optional CSV) and, by reading often, lets the
 * backends see every counter wraparound. Task energies never depend on it:
 * task boundaries read the counters themselves. */
#include "energy/internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRACE_MAX 1000000L /* ~28 h at 10 Hz, 32 MB */

struct sampler {
    gt_meter *meter;
    double interval_s;
    int keep_trace;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    int have_last;
    double last_t, last_j[GT_COMPONENTS]; /* previous point, for power */
    double power_w[GT_COMPONENTS];        /* between the last two points (under lock) */
    sampler_stats stats;
    long trace_cap;
};

static void record(sampler *s, double t, const double j[GT_COMPONENTS])
{
    if (s->have_last && t > s->last_t) {
        double w = 0, parts[GT_COMPONENTS];
        for (int c = 0; c < GT_COMPONENTS; c++)
            w += parts[c] = (j[c] - s->last_j[c]) / (t - s->last_t);
        if (w > s->stats.peak_w)
            s->stats.peak_w = w;
        pthread_mutex_lock(&s->lock);
        memcpy(s->power_w, parts, sizeof s->power_w);
        pthread_mutex_unlock(&s->lock);
    }
    s->have_last = 1;
    s->last_t = t;
    memcpy(s->last_j, j, sizeof s->last_j);
    if (!s->keep_trace || s->stats.trace_count >= TRACE_MAX)
        return;
    if (s->stats.trace_count == s->trace_cap) {
        long cap = s->trace_cap ? s->trace_cap * 2 : 1024;
        gt_energy_sample *bigger = realloc(s->stats.trace, (size_t)cap * sizeof *bigger);
        if (!bigger)
            return;
        s->stats.trace = bigger;
        s->trace_cap = cap;
    }
    gt_energy_sample *p = &s->stats.trace[s->stats.trace_count++];
    p->t_s = t;
    memcpy(p->joules, j, sizeof p->joules);
}

void sampler_power(sampler *s, double w[GT_COMPONENTS])
{
    pthread_mutex_lock(&s->lock);
    memcpy(w, s->power_w, sizeof s->power_w);
    pthread_mutex_unlock(&s->lock);
}

static struct timespec to_timespec(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *sampler_main(void *arg)
{
    sampler *s = arg;
    sigset_t all; /* signals belong to the main thread (the command runner forwards them) */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    double next = energy_now() + s->interval_s;
    for (;;) {
        struct timespec deadline = to_timespec(next);
        pthread_mutex_lock(&s->lock);
        int rc = 0;
        while (!s->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&s->wake, &s->lock, &deadline);
        int stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        double t, j[GT_COMPONENTS];
        gt_error err = {0};
        if (meter_read_timed(s->meter, &t, j, &err) == GT_OK) {
            s->stats.samples++;
            record(s, t, j);
        } else if (s->stats.errors++ == 0) {
            s->stats.first_error = err;
        }
        next += s->interval_s;
        if (next < t) { /* the machine stalled us: skip the missed ticks, say so */
            s->stats.late++;
            next = t + s->interval_s;
        }
    }
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    s->stats.cpu_s = (double)cpu.tv_sec + (double)cpu.tv_nsec * 1e-9;
    return NULL;
}

gt_status sampler_start(gt_meter *meter, int interval_ms, int keep_trace, double t0, const double j0[GT_COMPONENTS],
                        sampler **out, gt_error *err)
{
    *out = NULL;
    sampler *s = calloc(1, sizeof *s);
    if (!s)
        return gt_error_set(err, GT_ERR_NOMEM, "sampler: out of memory");
    s->meter = meter;
    s->interval_s = interval_ms * 1e-3;
    s->keep_trace = keep_trace;
    pthread_mutex_init(&s->lock, NULL);
    record(s, t0, j0);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&s->thread, NULL, sampler_main, s);
    if (rc != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s->stats.trace);
        free(s);
        return gt_error_set(err, GT_ERR_IO, "sampler: cannot start a thread: %s", strerror(rc));
    }
    *out = s;
    return GT_OK;
}

gt_status sampler_stop(sampler *s, double *t, double j[GT_COMPONENTS], double p[GT_COMPONENTS], sampler_stats *stats,
                       gt_error *err)
{
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    gt_status status = meter_read_all(s->meter, t, j, p, err);
    if (status == GT_OK)
        record(s, *t, j);
    *stats = s->stats;
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return status;
}
