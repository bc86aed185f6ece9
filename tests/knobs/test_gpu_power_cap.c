/* power_cap on NVIDIA GPUs (device=gpu) against the fake NVML library
 * (tests/energy/fake_nvml.c): every GPU's limit is set through NVML, read back,
 * and the original put back after the run, after an error, on SIGTERM, and —
 * after a kill -9 — by the next start, from the journal. Limits out of a
 * board's range, a refused set (not root) and a driver that ignores the set
 * each fail with one line and leave nothing changed.
 *
 * The same machinery on a real GPU is tests/gpu/test_power_cap.c (opt-in: it
 * changes the card's settings). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greentune/knobs.h"
#include "knob_test.h"
#include "test_support.h"

#define KNOB(watts) "power_cap={watts: " #watts ", device: gpu}"

static char state_dir[4096], journal[4096], limits_path[4096];

/* Two GPUs: 700 W of 200..700, and 650 W of 100..700; flag1 marks GPU 1. */
static void make_gpus(const char *flag1)
{
    char *rm[] = {"rm", "-rf", state_dir, NULL};
    test_run(rm, NULL, NULL);
    const char *state = "counter 2\n1000 50000\n2000 60000\n";
    test_write_file(test_path("nvml-state"), state, strlen(state));
    char text[256];
    snprintf(text, sizeof text, "GPU-fake-0 700000 200000 700000\nGPU-fake-1 650000 100000 700000 %s\n", flag1);
    test_write_file(limits_path, text, strlen(text));
}

/* GPU i's limit in mW, as the fake NVML holds it. */
static long limit_of(int gpu)
{
    char *text = test_read_file(limits_path, NULL);
    long mw = -1;
    char uuid[64];
    const char *line = text;
    for (int i = 0; line && i <= gpu; i++) {
        if (i == gpu && sscanf(line, "%63s %ld", uuid, &mw) != 2)
            mw = -1;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(text);
    return mw;
}

static int journal_exists(void)
{
    return access(journal, F_OK) == 0;
}

static void check_untouched(int line)
{
    if (limit_of(0) != 700000 || limit_of(1) != 650000)
        test_fail(__FILE__, line, "limits not at their originals: %ld %ld", limit_of(0), limit_of(1));
    if (journal_exists())
        test_fail(__FILE__, line, "journal %s left behind", journal);
}
#define CHECK_UNTOUCHED() check_untouched(__LINE__)

#define evidence_at knob_test_evidence_at

/* A child with the cap applied, waiting for a signal. */
static pid_t spawn_capped(void)
{
    int applied;
    pid_t pid = knob_test_spawn_applied(SPECS(KNOB(250)), &applied);
    CHECK_MSG(applied, "the child could not apply the cap");
    return pid;
}

/* Before anything loaded the fake library: without a driver, one line. */
static void test_gpu_power_cap_without_a_driver(void)
{
    const char *fake = getenv("GREENTUNE_NVML_LIB");
    char saved[4096];
    snprintf(saved, sizeof saved, "%s", fake);
    setenv("GREENTUNE_NVML_LIB", test_path("no-such-libnvidia-ml.so"), 1);
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(KNOB(300)), NULL), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "power_cap: cannot load ") == err.message);
    CHECK(strstr(err.message, "(no NVIDIA driver?)") && strstr(err.message, "use device=cpu"));
    CHECK(!strchr(err.message, '\n'));
    gt_knob_set_free(&set);
    setenv("GREENTUNE_NVML_LIB", saved, 1);
}

static void test_gpu_power_cap_is_set_read_back_and_restored(void)
{
    make_gpus("");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_MSG(knob_test_apply(&set, &err, SPECS(KNOB(300)), NULL) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(limit_of(0), 300000);
    CHECK_EQ_INT(limit_of(1), 300000);
    CHECK(journal_exists());
    char *text = test_read_file(journal, NULL);
    CHECK(text && strstr(text, "nvml:GPU-fake-0/power_limit_mw\t700000\n") &&
          strstr(text, "nvml:GPU-fake-1/power_limit_mw\t650000\n"));
    free(text);
    gt_knob_use *use = gt_knob_set_find(&set, "power_cap");
    CHECK_NEAR(evidence_at(use, "original_w", 0), 700, 0);
    CHECK_NEAR(evidence_at(use, "original_w", 1), 650, 0);
    CHECK_NEAR(evidence_at(use, "limit_w_read_back", 1), 300, 0);
    CHECK_NEAR(evidence_at(use, "max_w", 1), 700, 0);
    const cJSON *zone = cJSON_GetArrayItem(cJSON_GetObjectItem(use->evidence, "zones"), 1);
    CHECK(cJSON_IsString(zone) && !strcmp(zone->valuestring, "GPU 1 Fake GPU 1 (GPU-fake-1)"));
    CHECK_EQ_INT(gt_knobs_verify_machine(&set, &err), GT_OK);
    CHECK_NEAR(evidence_at(use, "limit_w_read_back_end", 0), 300, 0);
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_UNTOUCHED();
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(use->evidence, "restored")));
    CHECK_EQ_INT(gt_knob_set_check_evidence(&set, &err), GT_OK);
    gt_knob_set_free(&set);
}

static void test_gpu_power_cap_outside_a_boards_range_is_refused(void)
{
    make_gpus("");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(KNOB(150)), NULL), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "power_cap: 150 W is outside GPU 0 (Fake GPU 0)'s range of 200 to 700 W; pick a limit in it");
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

/* GPU 0 was capped before GPU 1 refused: GPU 0 goes back too. */
static void test_gpu_power_cap_refused_set_restores_the_others(void)
{
    make_gpus("deny");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(KNOB(300)), NULL), GT_ERR_PERMISSION);
    CHECK(strstr(err.message, "power_cap: GPU GPU-fake-1: setting its power limit needs root") == err.message);
    CHECK(strstr(err.message, "run as root or pick another knob") != NULL);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

static void test_gpu_power_cap_the_driver_ignores_is_an_error(void)
{
    make_gpus("stuck");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(KNOB(300)), NULL), GT_ERR_UNSUPPORTED);
    CHECK_EQ_STR(err.message, "power_cap: GPU 1 reads back 650 W after setting 300 W (the driver did not apply it)");
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

static void test_gpu_power_cap_changed_by_someone_else_is_caught(void)
{
    make_gpus("");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS(KNOB(300)), NULL), GT_OK);
    const char *other = "GPU-fake-0 300000 200000 700000\nGPU-fake-1 450000 100000 700000\n";
    test_write_file(limits_path, other, strlen(other));
    CHECK_EQ_INT(gt_knobs_verify_machine(&set, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "power_cap: GPU 1's power limit changed during the run from 300 W to 450 W; something "
                              "else manages it");
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

static void test_gpu_power_cap_dry_run_changes_nothing(void)
{
    make_gpus("");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS(KNOB(300))), GT_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ_INT(gt_knob_set_describe(&set, NULL, out, &err), GT_OK);
    fclose(out);
    CHECK_MSG(text && strstr(text, "would set GPU 1 (Fake GPU 1, GPU-fake-1) power limit to 300 W (now 650 W, range 100 "
                                   "to 700 W; restored after the run)"), "plan: %s", text);
    free(text);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

static void test_gpu_power_cap_sigterm_restores(void)
{
    make_gpus("");
    pid_t pid = spawn_capped();
    CHECK_EQ_INT(limit_of(0), 250000);
    CHECK(journal_exists());
    kill(pid, SIGTERM);
    int status = knob_test_wait(pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
    CHECK_UNTOUCHED();
}

static void test_gpu_power_cap_kill_9_is_repaired_by_the_next_start(void)
{
    make_gpus("");
    pid_t pid = spawn_capped();
    kill(pid, SIGKILL);
    knob_test_wait(pid);
    CHECK_EQ_INT(limit_of(1), 250000);
    CHECK(journal_exists());
    int restored = 0;
    char summary[512];
    gt_error err = {0};
    CHECK_MSG(gt_machine_state_recover(&restored, summary, sizeof summary, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(restored, 2);
    CHECK(strstr(summary, "nvml:GPU-fake-1/power_limit_mw=650000") != NULL);
    CHECK_UNTOUCHED();
}

int main(void)
{
    snprintf(state_dir, sizeof state_dir, "%s", test_path("state"));
    snprintf(journal, sizeof journal, "%s/machine-state.journal", state_dir);
    snprintf(limits_path, sizeof limits_path, "%s", test_path("nvml-limits"));
    setenv("GREENTUNE_STATE_DIR", state_dir, 1);
    setenv("GREENTUNE_NVML_LIB", test_env("FAKE_NVML_LIB"), 1);
    setenv("FAKE_NVML_STATE", test_path("nvml-state"), 1);
    setenv("FAKE_NVML_LIMITS", limits_path, 1);
    RUN(test_gpu_power_cap_without_a_driver);
    RUN(test_gpu_power_cap_is_set_read_back_and_restored);
    RUN(test_gpu_power_cap_outside_a_boards_range_is_refused);
    RUN(test_gpu_power_cap_refused_set_restores_the_others);
    RUN(test_gpu_power_cap_the_driver_ignores_is_an_error);
    RUN(test_gpu_power_cap_changed_by_someone_else_is_caught);
    RUN(test_gpu_power_cap_dry_run_changes_nothing);
    RUN(test_gpu_power_cap_sigterm_restores);
    RUN(test_gpu_power_cap_kill_9_is_repaired_by_the_next_start);
    return test_summary();
}
