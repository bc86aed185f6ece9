/* The train stage's batches, one epoch at a time: built on the train thread
 * when asked for, or — with the prefetch knob — by a background thread that
 * keeps up to `depth` batches ready while the current one trains (the
 * "pin-memory" data loader of the paper's V10).
 *
 * Both ways count the time spent building batches and the time the train
 * thread waited for one; without prefetch the two are the same time, with it
 * the difference is the building that overlapped with training. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline_internal.h"

struct pl_feed {
    const gt_batcher *batcher;
    const pl_batch_slice *slices;
    size_t n;
    int depth;                 /* 0: built on the caller's thread */
    int slots;                 /* depth + 1: the one being trained on, and depth ready */
    gt_batch *ring;
    size_t built;              /* slices built by the producer */
    size_t released;           /* slices the caller is done with: their slots may be refilled */
    size_t taken;              /* slices handed to the caller */
    int stop, failed, thread_started;
    gt_error error;            /* the producer's failure */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready, room;
    double build_s, wait_s;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The producer: builds slice k into slot k % slots once the slice that used
 * the slot before, k - slots, is released. */
static void *produce(void *arg)
{
    pl_feed *f = arg;
    for (size_t k = 0; k < f->n; k++) {
        pthread_mutex_lock(&f->lock);
        while (!f->stop && k >= f->released + (size_t)f->slots)
            pthread_cond_wait(&f->room, &f->lock);
        int stop = f->stop;
        pthread_mutex_unlock(&f->lock);
        if (stop)
            break;
        double t0 = now_s();
        gt_error err = {0};
        gt_status st = gt_batcher_get_rows(f->batcher, f->slices[k].first, f->slices[k].rows,
                                           &f->ring[k % (size_t)f->slots], &err);
        double spent = now_s() - t0;
        pthread_mutex_lock(&f->lock);
        f->build_s += spent;
        if (st != GT_OK) {
            f->failed = 1;
            f->error = err;
        } else {
            f->built = k + 1;
        }
        pthread_cond_signal(&f->ready);
        pthread_mutex_unlock(&f->lock);
        if (st != GT_OK)
            break;
    }
    return NULL;
}

gt_status pl_feed_start(pl_feed **out, const gt_batcher *b, const pl_batch_slice *slices, size_t n, int depth,
                        gt_error *err)
{
    *out = NULL;
    pl_feed *f = calloc(1, sizeof *f);
    if (!f)
        return gt_error_set(err, GT_ERR_NOMEM, "train: out of memory for the batch feed");
    f->batcher = b;
    f->slices = slices;
    f->n = n;
    f->depth = depth > 0 ? depth : 0;
    f->slots = f->depth + 1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->ready, NULL);
    pthread_cond_init(&f->room, NULL);
    gt_status st = (f->ring = calloc((size_t)f->slots, sizeof *f->ring))
                       ? GT_OK
                       : gt_error_set(err, GT_ERR_NOMEM, "train: out of memory for the batch feed");
    for (int i = 0; st == GT_OK && i < f->slots; i++)
        st = gt_batch_init(&f->ring[i], b, err);
    if (st == GT_OK && f->depth > 0) {
        int rc = pthread_create(&f->thread, NULL, produce, f);
        if (rc != 0)
            st = gt_error_set(err, GT_ERR_UNSUPPORTED, "prefetch: cannot start the batch thread: %s — drop the "
                              "prefetch knob", strerror(rc));
        f->thread_started = rc == 0;
    }
    if (st != GT_OK) {
        pl_feed_stop(f, NULL);
        return st;
    }
    *out = f;
    return GT_OK;
}

gt_status pl_feed_next(pl_feed *f, gt_batch **batch, gt_error *err)
{
    size_t k = f->taken;
    if (k >= f->n)
        return gt_error_set(err, GT_ERR_INTERNAL, "train: batch %zu of an epoch of %zu", k, f->n);
    gt_batch *slot = &f->ring[k % (size_t)f->slots];
    double t0 = now_s();
    if (f->depth == 0) {
        gt_status st = gt_batcher_get_rows(f->batcher, f->slices[k].first, f->slices[k].rows, slot, err);
        double spent = now_s() - t0;
        f->build_s += spent;
        f->wait_s += spent;
        if (st != GT_OK)
            return st;
        f->taken = k + 1;
        *batch = slot;
        return GT_OK;
    }
    pthread_mutex_lock(&f->lock);
    /* Asking for batch k releases batch k - 1's slot. */
    f->released = k;
    pthread_cond_signal(&f->room);
    while (f->built <= k && !f->failed)
        pthread_cond_wait(&f->ready, &f->lock);
    gt_status st = GT_OK;
    if (f->built <= k) {
        *err = f->error;
        st = err->status != GT_OK ? err->status : GT_ERR_INTERNAL;
    } else {
        f->taken = k + 1;
        *batch = slot;
    }
    f->wait_s += now_s() - t0;
    pthread_mutex_unlock(&f->lock);
    return st;
}

size_t pl_feed_ahead(pl_feed *f)
{
    if (f->depth == 0)
        return 0;
    pthread_mutex_lock(&f->lock);
    size_t ahead = f->built - f->taken;
    pthread_mutex_unlock(&f->lock);
    return ahead;
}

void pl_feed_stop(pl_feed *f, pl_feed_stats *total)
{
    if (!f)
        return;
    if (f->thread_started) {
        pthread_mutex_lock(&f->lock);
        f->stop = 1;
        pthread_cond_signal(&f->room);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
    }
    if (total) {
        total->build_s += f->build_s;
        total->wait_s += f->wait_s;
        total->batches += f->taken;
        total->prefetched += f->depth > 0 ? f->built : 0;
    }
    for (int i = 0; f->ring && i < f->slots; i++)
        gt_batch_free(&f->ring[i]);
    free(f->ring);
    pthread_cond_destroy(&f->ready);
    pthread_cond_destroy(&f->room);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
