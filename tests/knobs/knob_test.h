/* Helpers the knob tests share: a spec list literal and a set built from it. */
#ifndef GREENTUNE_KNOB_TEST_H
#define GREENTUNE_KNOB_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greentune/knobs.h"

#define SPECS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A fresh set from `--knob` specs; the status of the first that fails. */
static inline gt_status knob_test_set(gt_knob_set *set, gt_error *err, const char *const *specs)
{
    gt_knob_set_init(set);
    for (; *specs; specs++) {
        gt_status status = gt_knob_set_add_spec(set, *specs, err);
        if (status != GT_OK)
            return status;
    }
    return GT_OK;
}

/* The same, then its machine knobs applied (ctx may be NULL). */
static inline gt_status knob_test_apply(gt_knob_set *set, gt_error *err, const char *const *specs,
                                        const gt_knob_context *ctx)
{
    gt_status status = knob_test_set(set, err, specs);
    return status == GT_OK ? gt_knobs_apply_machine(set, ctx, err) : status;
}

/* A number in an evidence array (-1 when absent). */
static inline double knob_test_evidence_at(const gt_knob_use *use, const char *key, int index)
{
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(use->evidence, key), index);
    return cJSON_IsNumber(item) ? item->valuedouble : -1;
}

/* A child that applies specs and then waits for a signal; returns its pid once
 * it has applied them (*applied = 1) or failed to (0). */
static inline pid_t knob_test_spawn_applied(const char *const *specs, int *applied)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        gt_knob_set set;
        gt_error err = {0};
        gt_status st = knob_test_apply(&set, &err, specs, NULL);
        if (write(fds[1], st == GT_OK ? "k" : "x", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(fds[1]);
    char c = 0;
    while (read(fds[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(fds[0]);
    *applied = c == 'k';
    return pid;
}

/* waitpid's status, through EINTR. */
static inline int knob_test_wait(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

#endif
