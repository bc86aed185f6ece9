/* power_cap device=gpu on the real GPUs: each limit lowered by about a tenth
 * through NVML, read back, verified, restored after the run and on SIGTERM
 * (the same checks as tests/knobs/test_gpu_power_cap.c on the fake library).
 *
 * It changes the card's settings, so it runs only when asked:
 * GREENTUNE_GPU_POWER_CAP_TEST=1 (as root, on a machine you may reconfigure;
 * the lent device machines forbid it). Otherwise, and without a driver or
 * power management, it reports itself skipped (77) with the reason. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greentune/knobs.h"
#include "knob_test.h"
#include "knobs/gpu_power.h"
#include "test_support.h"

#define SKIPPED 77

static gpu_power_info before[GPU_POWER_MAX];
static int gpus;
static char spec[128];

static void check_at_originals(int line)
{
    for (int i = 0; i < gpus; i++) {
        unsigned mw = 0;
        gt_error err = {0};
        if (gpu_power_get(before[i].uuid, &mw, &err) != GT_OK || mw != before[i].limit_mw)
            test_fail(__FILE__, line, "GPU %d: limit %u mW, originally %u mW (%s)", i, mw, before[i].limit_mw,
                      err.message);
    }
}

static void test_gpu_power_cap_round_trip(void)
{
    gt_knob_set set;
    gt_error err = {0};
    gt_knob_set_init(&set);
    CHECK_EQ_INT(gt_knob_set_add_spec(&set, spec, &err), GT_OK);
    CHECK_MSG(gt_knobs_apply_machine(&set, NULL, &err) == GT_OK, "apply: %s", err.message);
    gt_knob_use *use = gt_knob_set_find(&set, "power_cap");
    char *text = cJSON_PrintUnformatted(use->evidence);
    printf("evidence: %s\n", text);
    free(text);
    CHECK_MSG(gt_knobs_verify_machine(&set, &err) == GT_OK, "verify: %s", err.message);
    CHECK_MSG(gt_knobs_restore_machine(&set, &err) == GT_OK, "restore: %s", err.message);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(use->evidence, "restored")));
    check_at_originals(__LINE__);
    gt_knob_set_free(&set);
}

static void test_gpu_power_cap_sigterm_restores(void)
{
    int applied;
    pid_t pid = knob_test_spawn_applied((const char *const[]){spec, NULL}, &applied);
    CHECK(applied);
    kill(pid, SIGTERM);
    int status = knob_test_wait(pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
    check_at_originals(__LINE__);
}

int main(void)
{
    const char *allow = getenv("GREENTUNE_GPU_POWER_CAP_TEST");
    if (!allow || strcmp(allow, "1")) {
        printf("skipped: this test changes the GPU's power limit; run it only where that is allowed, as root, with "
               "GREENTUNE_GPU_POWER_CAP_TEST=1\n");
        return SKIPPED;
    }
    gt_error err = {0};
    if (gpu_power_list(before, GPU_POWER_MAX, &gpus, &err) != GT_OK) {
        printf("skipped: %s\n", err.message);
        return SKIPPED;
    }
    /* a tenth below the lowest limit, inside every board's range */
    unsigned target = before[0].limit_mw;
    for (int i = 0; i < gpus; i++) {
        unsigned t = before[i].limit_mw / 10 * 9;
        target = t < target ? t : target;
        printf("GPU %d %s: limit %.0f W (range %.0f to %.0f W)\n", i, before[i].name, before[i].limit_mw / 1e3,
               before[i].min_mw / 1e3, before[i].max_mw / 1e3);
    }
    for (int i = 0; i < gpus; i++)
        target = target < before[i].min_mw ? before[i].min_mw : target;
    snprintf(spec, sizeof spec, "power_cap={watts: %u, device: gpu}", target / 1000);
    setenv("GREENTUNE_STATE_DIR", test_path("state"), 1);
    RUN(test_gpu_power_cap_round_trip);
    RUN(test_gpu_power_cap_sigterm_restores);
    return test_summary();
}
