/* threads and pin_cores change this process: the OpenMP team size and the CPU
 * affinity of every thread. The evidence is what the kernel and the OpenMP
 * runtime report afterwards, and both are restored. */
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/knobs.h"
#include "knob_test.h"
#include "test_support.h"

/* Counted here, independently of the knob: the team a parallel region gets. */
static int team_size(void)
{
    int n = 0;
#pragma omp parallel
    {
#pragma omp atomic
        n++;
    }
    return n;
}

static double evidence_number(const gt_knob_use *use, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(use->evidence, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *evidence_string(const gt_knob_use *use, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(use->evidence, key);
    return cJSON_IsString(v) ? v->valuestring : "(none)";
}

/* Lowest core this process may run on, and how many it may use. */
static int first_allowed_core(int *count)
{
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    *count = CPU_COUNT(&set);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            return c;
    return -1;
}

static void test_threads_sets_the_team_size_and_restores_it(void)
{
    int before = omp_get_max_threads();
    gt_knob_set set;
    gt_error err = {0};
    /* 3 is not this machine's default on 2 cores, nor on most machines. */
    int want = before == 3 ? 5 : 3;
    char spec[32];
    snprintf(spec, sizeof spec, "threads=%d", want);
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(spec), NULL), GT_OK);
    CHECK_EQ_INT(team_size(), want);
    const gt_knob_use *use = gt_knob_set_find(&set, "threads");
    CHECK_EQ_INT(evidence_number(use, "threads_used"), want);
    CHECK_EQ_INT(evidence_number(use, "threads_before"), before);
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_EQ_INT(omp_get_max_threads(), before);
    CHECK_EQ_INT(team_size(), before);
    CHECK_EQ_INT(gt_knob_set_check_evidence(&set, &err), GT_OK);
    gt_knob_set_free(&set);
}

static void *affinity_of_new_thread(void *arg)
{
    sched_getaffinity(0, sizeof(cpu_set_t), arg);
    return NULL;
}

/* Pinned to one core: this thread, the OpenMP workers and threads started later. */
static void test_pin_cores_pins_every_thread_and_restores(void)
{
    int allowed;
    int core = first_allowed_core(&allowed);
    cpu_set_t before, now, later;
    sched_getaffinity(0, sizeof before, &before);
    char spec[32], expect[16];
    snprintf(spec, sizeof spec, "pin_cores=%d", core);
    snprintf(expect, sizeof expect, "%d", core);
    gt_knob_set set;
    gt_error err = {0};
    team_size(); /* the OpenMP workers exist before pinning */
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(spec), NULL), GT_OK);
    sched_getaffinity(0, sizeof now, &now);
    CHECK_EQ_INT(CPU_COUNT(&now), 1);
    CHECK(CPU_ISSET(core, &now));
    /* Every OpenMP worker of the existing team runs on that core too. */
    int on_core = 0, workers = 0;
#pragma omp parallel reduction(+ : on_core, workers)
    {
        cpu_set_t mine;
        sched_getaffinity(0, sizeof mine, &mine);
        on_core += CPU_COUNT(&mine) == 1 && CPU_ISSET(core, &mine);
        workers++;
    }
    CHECK_EQ_INT(on_core, workers);
    pthread_t thread;
    pthread_create(&thread, NULL, affinity_of_new_thread, &later);
    pthread_join(thread, NULL);
    CHECK(CPU_EQUAL(&later, &now));
    const gt_knob_use *use = gt_knob_set_find(&set, "pin_cores");
    CHECK_EQ_STR(evidence_string(use, "affinity_mask"), expect);
    CHECK_EQ_INT(evidence_number(use, "cores"), 1);
    CHECK(evidence_number(use, "threads_pinned") >= 1);
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    sched_getaffinity(0, sizeof now, &now);
    CHECK(CPU_EQUAL(&now, &before));
    gt_knob_set_free(&set);
}

/* compact: one core per thread of the threads knob, the lowest the process may use. */
static void test_compact_takes_one_core_per_thread(void)
{
    int allowed;
    int core = first_allowed_core(&allowed);
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("pin_cores", "threads=1"), NULL), GT_OK);
    char expect[16];
    snprintf(expect, sizeof expect, "%d", core);
    CHECK_EQ_STR(evidence_string(gt_knob_set_find(&set, "pin_cores"), "affinity_mask"), expect);
    CHECK_EQ_INT(evidence_number(gt_knob_set_find(&set, "threads"), "threads_used"), 1);
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    gt_knob_set_free(&set);

    /* More threads than cores: compact cannot give each its own. */
    char spec[32];
    snprintf(spec, sizeof spec, "threads=%d", allowed + 1);
    int threads_before = omp_get_max_threads();
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(spec, "pin_cores=compact"), NULL), GT_ERR_UNSUPPORTED);
    char fragment[64];
    snprintf(fragment, sizeof fragment, "pin_cores: compact needs %d cores, this process may use %d", allowed + 1, allowed);
    CHECK_MSG(strstr(err.message, fragment) == err.message, "%s", err.message);
    /* The failure restored the threads knob that had applied. */
    CHECK_EQ_INT(omp_get_max_threads(), threads_before);
    gt_knob_set_free(&set);
}

static void test_core_outside_the_allowed_set_is_refused(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("pin_cores=1023"), NULL), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "pin_cores: core 1023 is not available to this process (allowed: ") == err.message);
    gt_knob_set_free(&set);
}

int main(void)
{
    RUN(test_threads_sets_the_team_size_and_restores_it);
    RUN(test_pin_cores_pins_every_thread_and_restores);
    RUN(test_compact_takes_one_core_per_thread);
    RUN(test_core_outside_the_allowed_set_is_refused);
    return test_summary();
}
