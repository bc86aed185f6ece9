/* power_cap and cpu_freq on a fake sysfs tree: the value is written to every
 * package/policy, read back while running, and the original is restored after
 * the run, after an error, on SIGTERM/SIGINT/SIGHUP, at exit, and — after a
 * kill -9 — by the next greentune start, from the journal. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greentune/knobs.h"
#include "knob_test.h"
#include "test_support.h"

static char sys_root[4096], state_dir[4096], journal[4096];

#define PKG0 "class/powercap/intel-rapl:0/"
#define PKG1 "class/powercap/intel-rapl:1/"
#define DRAM "class/powercap/intel-rapl:0:0/"
#define POL0 "devices/system/cpu/cpufreq/policy0/"
#define POL1 "devices/system/cpu/cpufreq/policy1/"

static void make_parents(char *path)
{
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
}

static void put(const char *relative, const char *value)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", sys_root, relative);
    make_parents(path);
    test_write_file(path, value, strlen(value));
}

/* A file's contents, trailing newline removed, in a rotating static buffer. */
static const char *get(const char *relative)
{
    static char buffers[4][256];
    static int next;
    char path[8192], *b = buffers[next++ % 4];
    snprintf(path, sizeof path, "%s/%s", sys_root, relative);
    char *data = test_read_file(path, NULL);
    snprintf(b, sizeof buffers[0], "%s", data ? data : "(missing)");
    b[strcspn(b, "\n")] = '\0';
    free(data);
    return b;
}

/* Two packages capped at 125 W out of 150 W (plus a DRAM subzone no knob may
 * touch), two cpufreq policies running "performance" at up to 3.5 GHz. */
static void make_tree(void)
{
    char *rm[] = {"rm", "-rf", sys_root, state_dir, NULL};
    test_run(rm, NULL, NULL);
    const char *packages[] = {PKG0, PKG1};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "%sconstraint_0_power_limit_uw", packages[i]);
        put(rel, "125000000\n");
        snprintf(rel, sizeof rel, "%sconstraint_0_max_power_uw", packages[i]);
        put(rel, "150000000\n");
        snprintf(rel, sizeof rel, "%senabled", packages[i]);
        put(rel, "1\n");
    }
    put(DRAM "constraint_0_power_limit_uw", "20000000\n");
    const char *policies[] = {POL0, POL1};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "%sscaling_governor", policies[i]);
        put(rel, "performance\n");
        snprintf(rel, sizeof rel, "%sscaling_available_governors", policies[i]);
        put(rel, "performance powersave\n");
        snprintf(rel, sizeof rel, "%sscaling_max_freq", policies[i]);
        put(rel, "3500000\n");
        snprintf(rel, sizeof rel, "%scpuinfo_min_freq", policies[i]);
        put(rel, "800000\n");
        snprintf(rel, sizeof rel, "%scpuinfo_max_freq", policies[i]);
        put(rel, "3500000\n");
    }
}

static int journal_exists(void)
{
    return access(journal, F_OK) == 0;
}

static void check_tree_untouched(int line)
{
    if (strcmp(get(PKG0 "constraint_0_power_limit_uw"), "125000000") ||
        strcmp(get(PKG1 "constraint_0_power_limit_uw"), "125000000") || strcmp(get(POL0 "scaling_governor"), "performance") ||
        strcmp(get(POL1 "scaling_governor"), "performance") || strcmp(get(POL0 "scaling_max_freq"), "3500000") ||
        strcmp(get(PKG0 "enabled"), "1"))
        test_fail(__FILE__, line, "tree not at its original values: %s %s %s %s %s", get(PKG0 "constraint_0_power_limit_uw"),
                  get(PKG1 "constraint_0_power_limit_uw"), get(POL0 "scaling_governor"), get(POL1 "scaling_governor"),
                  get(POL0 "scaling_max_freq"));
    if (journal_exists())
        test_fail(__FILE__, line, "journal %s left behind", journal);
}
#define CHECK_UNTOUCHED() check_tree_untouched(__LINE__)

static double evidence_at(const gt_knob_use *use, const char *key, int index)
{
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(use->evidence, key), index);
    return cJSON_IsNumber(item) ? item->valuedouble : -1;
}

static void test_power_cap_is_written_read_back_and_restored(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=100"), NULL), GT_OK);
    CHECK_EQ_STR(get(PKG0 "constraint_0_power_limit_uw"), "100000000");
    CHECK_EQ_STR(get(PKG1 "constraint_0_power_limit_uw"), "100000000");
    CHECK_EQ_STR(get(DRAM "constraint_0_power_limit_uw"), "20000000"); /* subzones are not packages */
    CHECK(journal_exists());
    gt_knob_use *use = gt_knob_set_find(&set, "power_cap");
    CHECK_NEAR(evidence_at(use, "limit_w_read_back", 0), 100, 0);
    CHECK_NEAR(evidence_at(use, "limit_w_read_back", 1), 100, 0);
    CHECK_NEAR(evidence_at(use, "original_w", 1), 125, 0);
    CHECK_NEAR(evidence_at(use, "max_w", 0), 150, 0);
    CHECK_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(use->evidence, "zones"), 1)->valuestring, "intel-rapl:1");
    /* Read back while running. */
    CHECK_EQ_INT(gt_knobs_verify_machine(&set, &err), GT_OK);
    CHECK_NEAR(evidence_at(use, "limit_w_read_back_end", 0), 100, 0);
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_UNTOUCHED();
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(use->evidence, "restored")));
    CHECK_EQ_INT(gt_knob_set_check_evidence(&set, &err), GT_OK);
    /* Restoring twice is harmless. */
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    gt_knob_set_free(&set);
}

static void test_power_cap_outside_the_packages_range_is_refused(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=400"), NULL), GT_ERR_INVALID);
    CHECK(strstr(err.message, "power_cap: 400 W is above intel-rapl:0's maximum of 150 W") != NULL);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=10"), NULL), GT_ERR_INVALID);
    CHECK(strstr(err.message, "power_cap: 10 W is below a tenth of intel-rapl:0's maximum of 150 W; pick at least 15 W"));
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

/* Limits that are switched off would be ignored: the knob switches them on and back off. */
static void test_power_cap_enables_a_disabled_zone_and_restores_it(void)
{
    make_tree();
    put(PKG1 "enabled", "0\n");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=90"), NULL), GT_OK);
    CHECK_EQ_STR(get(PKG1 "enabled"), "1");
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_EQ_STR(get(PKG1 "enabled"), "0");
    CHECK_EQ_STR(get(PKG1 "constraint_0_power_limit_uw"), "125000000");
    gt_knob_set_free(&set);
}

static void test_change_by_someone_else_during_the_run_is_caught(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=100"), NULL), GT_OK);
    put(PKG1 "constraint_0_power_limit_uw", "140000000\n");
    CHECK_EQ_INT(gt_knobs_verify_machine(&set, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "intel-rapl:1/constraint_0_power_limit_uw changed during the run from \"100000000\" to "
                              "\"140000000\"; something else manages it"));
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

static void test_cpu_freq_governor_and_max_freq(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=powersave"), NULL), GT_OK);
    CHECK_EQ_STR(get(POL0 "scaling_governor"), "powersave");
    CHECK_EQ_STR(get(POL1 "scaling_governor"), "powersave");
    gt_knob_use *use = gt_knob_set_find(&set, "cpu_freq");
    CHECK_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(use->evidence, "value_read_back"), 1)->valuestring, "powersave");
    CHECK_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(use->evidence, "original"), 0)->valuestring, "performance");
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);

    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=2000000"), NULL), GT_OK);
    CHECK_EQ_STR(get(POL1 "scaling_max_freq"), "2000000");
    CHECK_EQ_STR(get(POL1 "scaling_governor"), "performance");
    use = gt_knob_set_find(&set, "cpu_freq");
    CHECK_NEAR(evidence_at(use, "value_read_back", 0), 2000000, 0);
    CHECK_NEAR(evidence_at(use, "original", 0), 3500000, 0);
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_UNTOUCHED();
    CHECK_EQ_INT(gt_knob_set_check_evidence(&set, &err), GT_OK);
    gt_knob_set_free(&set);
}

static void test_cpu_freq_values_the_machine_lacks_are_refused(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=ondemand"), NULL), GT_ERR_UNSUPPORTED);
    CHECK_EQ_STR(err.message, "cpu_freq: governor \"ondemand\" is not available on policy0 (available: performance powersave)");
    gt_knob_set_free(&set);
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=5000000"), NULL), GT_ERR_INVALID);
    CHECK(strstr(err.message, "cpu_freq: 5000000 kHz is outside policy0's range 800000..3500000 kHz"));
    gt_knob_set_free(&set);
    CHECK_UNTOUCHED();
}

/* A knob that fails after another one applied leaves nothing changed. */
static void test_failure_midway_restores_what_was_applied(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=powersave", "power_cap=400"), NULL), GT_ERR_INVALID);
    CHECK(strstr(err.message, "power_cap: 400 W is above") != NULL);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

static void test_missing_trees_fail_with_one_line(void)
{
    make_tree();
    char *rm[] = {"rm", "-rf", (char *)test_path("sys/class"), NULL};
    test_run(rm, NULL, NULL);
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=100"), NULL), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "power_cap: ") == err.message);
    CHECK(strstr(err.message, "class/powercap: No such file or directory (no RAPL power capping here") != NULL);
    CHECK(strstr(err.message, "pick another knob") != NULL);
    gt_knob_set_free(&set);
    char *rm2[] = {"rm", "-rf", (char *)test_path("sys/devices"), NULL};
    test_run(rm2, NULL, NULL);
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=powersave"), NULL), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "cpu_freq: ") == err.message && strstr(err.message, "no cpufreq here") != NULL);
    gt_knob_set_free(&set);
    /* the GPU path without a driver (ctest points GREENTUNE_NVML_LIB nowhere) */
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap={watts: 100, device: gpu}"), NULL), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "power_cap: cannot load ") == err.message && strstr(err.message, "use device=cpu"));
    gt_knob_set_free(&set);
}

/* A directory where the limit file should be: not a sysfs file. */
static void test_wrong_file_type_is_reported(void)
{
    make_tree();
    char path[8192];
    snprintf(path, sizeof path, "%s/" PKG1 "constraint_0_power_limit_uw", sys_root);
    unlink(path);
    mkdir(path, 0755);
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=100"), NULL), GT_ERR_INVALID);
    CHECK(strstr(err.message, "intel-rapl:1/constraint_0_power_limit_uw: is a directory, expected a sysfs file") != NULL);
    CHECK_EQ_STR(get(PKG0 "constraint_0_power_limit_uw"), "125000000");
    CHECK(!journal_exists());
    gt_knob_set_free(&set);
}

/* --- child processes ------------------------------------------------------------ */

/* Forks a child that applies specs and writes "ok" or its error line to a pipe;
 * then it exits normally (exit_after) or waits for a signal. */
static pid_t spawn_applier(const char *const *specs, int exit_after, uid_t as_user, char *reply, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (as_user && (setgid(as_user) != 0 || setuid(as_user) != 0))
            _exit(3);
        gt_knob_set set;
        gt_error err = {0};
        char line[1024];
        gt_status status = knob_test_apply(&set, &err, specs, NULL);
        snprintf(line, sizeof line, "%s\n", status == GT_OK ? "ok" : err.message);
        if (write(fds[1], line, strlen(line)) < 0)
            _exit(4);
        gt_knob_set_free(&set);
        if (exit_after)
            exit(0); /* no restore call: the atexit hook must do it */
        for (;;)
            pause();
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(fds[0], reply + n, size - 1 - n)) > 0 && !memchr(reply + n, '\n', (size_t)got))
        n += (size_t)got;
    if (got > 0)
        n += (size_t)got;
    reply[n] = '\0';
    reply[strcspn(reply, "\n")] = '\0';
    close(fds[0]);
    return pid;
}

static int wait_status(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

static void test_signals_restore_then_end_the_process(void)
{
    const int signals[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        make_tree();
        char reply[1024];
        pid_t pid = spawn_applier(SPECS("power_cap=100", "cpu_freq=powersave"), 0, 0, reply, sizeof reply);
        CHECK_EQ_STR(reply, "ok");
        CHECK_EQ_STR(get(PKG0 "constraint_0_power_limit_uw"), "100000000");
        CHECK_EQ_STR(get(POL1 "scaling_governor"), "powersave");
        CHECK(journal_exists());
        kill(pid, signals[i]);
        int status = wait_status(pid);
        /* The process still dies of the signal, as its parent expects. */
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == signals[i], "signal %d: status %#x", signals[i], status);
        CHECK_UNTOUCHED();
    }
}

static void test_normal_exit_without_restore_still_restores(void)
{
    make_tree();
    char reply[1024];
    pid_t pid = spawn_applier(SPECS("power_cap=100", "cpu_freq=2000000"), 1, 0, reply, sizeof reply);
    CHECK_EQ_STR(reply, "ok");
    int status = wait_status(pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_UNTOUCHED();
}

/* Only one greentune changes machine state at a time; the journal of a live
 * one is not replayed under it. */
static void test_a_second_greentune_waits_for_the_first(void)
{
    make_tree();
    char reply[1024];
    pid_t pid = spawn_applier(SPECS("power_cap=100"), 0, 0, reply, sizeof reply);
    CHECK_EQ_STR(reply, "ok");
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("cpu_freq=powersave"), NULL), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "cpu_freq: machine state: another greentune is changing machine state") != NULL);
    gt_knob_set_free(&set);
    int restored = -1;
    char summary[512];
    CHECK_EQ_INT(gt_machine_state_recover(&restored, summary, sizeof summary, &err), GT_OK);
    CHECK_EQ_INT(restored, 0);
    CHECK_EQ_STR(get(PKG0 "constraint_0_power_limit_uw"), "100000000");
    kill(pid, SIGTERM);
    wait_status(pid);
    CHECK_UNTOUCHED();
}

/* Runs the CLI (any command starts with the recovery) and returns its stderr. */
static char *run_cli(void)
{
    char *argv[] = {(char *)test_env("GREENTUNE_BIN"), "knobs", "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = test_run(argv, &out, &err);
    CHECK_EQ_INT(rc, 0);
    free(out);
    return err;
}

static void test_kill_9_is_repaired_by_the_next_start(void)
{
    make_tree();
    char reply[1024];
    pid_t pid = spawn_applier(SPECS("cpu_freq=powersave", "power_cap=100"), 0, 0, reply, sizeof reply);
    CHECK_EQ_STR(reply, "ok");
    kill(pid, SIGKILL);
    wait_status(pid);
    /* Nothing could run in the child: the state stays changed, the journal says how to undo it. */
    CHECK_EQ_STR(get(PKG1 "constraint_0_power_limit_uw"), "100000000");
    CHECK_EQ_STR(get(POL0 "scaling_governor"), "powersave");
    CHECK(journal_exists());
    char *err = run_cli();
    char expect[128];
    snprintf(expect, sizeof expect, "greentune: restored 4 values that greentune (pid %ld) left changed when it was killed:",
             (long)pid);
    CHECK_MSG(strstr(err, expect) == err, "stderr: %s", err);
    CHECK(strstr(err, "intel-rapl:0/constraint_0_power_limit_uw=125000000") != NULL);
    CHECK_EQ_INT(strchr(err, '\n') - err + 1, (long)strlen(err)); /* one line */
    free(err);
    CHECK_UNTOUCHED();
    /* The next start has nothing left to say. */
    err = run_cli();
    CHECK_EQ_STR(err, "");
    free(err);
}

/* A run that starts over a killed run's journal saves the true originals. */
static void test_kill_9_then_a_new_run_keeps_the_true_originals(void)
{
    make_tree();
    put(PKG1 "enabled", "0\n");
    char reply[1024];
    pid_t pid = spawn_applier(SPECS("power_cap=100"), 0, 0, reply, sizeof reply);
    CHECK_EQ_STR(reply, "ok");
    kill(pid, SIGKILL);
    wait_status(pid);
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=110"), NULL), GT_OK);
    CHECK_NEAR(evidence_at(gt_knob_set_find(&set, "power_cap"), "original_w", 0), 125, 0);
    /* The killed run had switched the zone's limits on; this run must too. */
    CHECK_EQ_STR(get(PKG1 "enabled"), "1");
    CHECK_EQ_INT(gt_knobs_restore_machine(&set, &err), GT_OK);
    CHECK_EQ_STR(get(PKG1 "enabled"), "0");
    put(PKG1 "enabled", "1\n");
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

/* A journal naming a file no knob owns is refused as a whole, and kept. */
static void test_tampered_journal_writes_nothing(void)
{
    make_tree();
    mkdir(state_dir, 0700);
    put("class/other/victim", "precious\n");
    char text[8192];
    snprintf(text, sizeof text,
             "greentune machine-state journal v1\npid 1\n%s/" PKG0 "constraint_0_power_limit_uw\t90000000\n"
             "%s/class/other/victim\t0\n",
             sys_root, sys_root);
    test_write_file(journal, text, strlen(text));
    int restored = -1;
    char summary[512];
    gt_error err = {0};
    CHECK_EQ_INT(gt_machine_state_recover(&restored, summary, sizeof summary, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "machine-state.journal:4: not a journal line greentune wrote, or a file outside") != NULL);
    CHECK_EQ_INT(restored, 0);
    CHECK_EQ_STR(get("class/other/victim"), "precious");
    CHECK_EQ_STR(get(PKG0 "constraint_0_power_limit_uw"), "125000000");
    CHECK(journal_exists());
    unlink(journal);
}

/* As an unprivileged user the sysfs file cannot be written: say so, and how to fix it. */
static void test_permission_denied_says_run_as_root(void)
{
    if (geteuid() != 0) {
        /* Not root: the fake files can be made read-only directly. */
        make_tree();
        char path[8192];
        snprintf(path, sizeof path, "%s/" PKG0 "constraint_0_power_limit_uw", sys_root);
        chmod(path, 0444);
        gt_knob_set set;
        gt_error err = {0};
        CHECK_EQ_INT(knob_test_apply(&set, &err, SPECS("power_cap=100"), NULL), GT_ERR_PERMISSION);
        CHECK(strstr(err.message, "is not writable: Permission denied (run as root, or pick another knob)") != NULL);
        gt_knob_set_free(&set);
        return;
    }
    /* Root writes anything: drop to nobody in a child, like a user without sudo. */
    make_tree();
    chmod(test_tmpdir(), 0755);
    char reply[1024];
    pid_t pid = spawn_applier(SPECS("power_cap=100"), 1, 65534, reply, sizeof reply);
    wait_status(pid);
    CHECK_MSG(strstr(reply, "power_cap: ") == reply, "reply: %s", reply);
    CHECK_MSG(strstr(reply, "intel-rapl:0/constraint_0_power_limit_uw is not writable: Permission denied "
                            "(run as root, or pick another knob)") != NULL,
              "reply: %s", reply);
    CHECK_UNTOUCHED();
    chmod(test_tmpdir(), 0700);
}

static void test_dry_run_shows_files_and_changes_nothing(void)
{
    make_tree();
    gt_knob_set set;
    gt_error err = {0};
    gt_knob_set_init(&set);
    CHECK_EQ_INT(gt_knob_set_add_spec(&set, "power_cap=100", &err), GT_OK);
    CHECK_EQ_INT(gt_knob_set_add_spec(&set, "cpu_freq=powersave", &err), GT_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ_INT(gt_knob_set_describe(&set, NULL, out, &err), GT_OK);
    fclose(out);
    char expect[8192];
    snprintf(expect, sizeof expect, "would write 100000000 to %s/" PKG1 "constraint_0_power_limit_uw (now 125000000; "
             "restored after the run)", sys_root);
    CHECK_MSG(strstr(text, expect) != NULL, "%s", text);
    snprintf(expect, sizeof expect, "would write powersave to %s/" POL0 "scaling_governor (now performance", sys_root);
    CHECK_MSG(strstr(text, expect) != NULL, "%s", text);
    free(text);
    CHECK_UNTOUCHED();
    gt_knob_set_free(&set);
}

int main(void)
{
    snprintf(sys_root, sizeof sys_root, "%s", test_path("sys"));
    snprintf(state_dir, sizeof state_dir, "%s", test_path("state"));
    snprintf(journal, sizeof journal, "%s/machine-state.journal", state_dir);
    setenv("GREENTUNE_SYSFS_ROOT", sys_root, 1);
    setenv("GREENTUNE_STATE_DIR", state_dir, 1);
    RUN(test_power_cap_is_written_read_back_and_restored);
    RUN(test_power_cap_outside_the_packages_range_is_refused);
    RUN(test_power_cap_enables_a_disabled_zone_and_restores_it);
    RUN(test_change_by_someone_else_during_the_run_is_caught);
    RUN(test_cpu_freq_governor_and_max_freq);
    RUN(test_cpu_freq_values_the_machine_lacks_are_refused);
    RUN(test_failure_midway_restores_what_was_applied);
    RUN(test_missing_trees_fail_with_one_line);
    RUN(test_wrong_file_type_is_reported);
    RUN(test_signals_restore_then_end_the_process);
    RUN(test_normal_exit_without_restore_still_restores);
    RUN(test_a_second_greentune_waits_for_the_first);
    RUN(test_kill_9_is_repaired_by_the_next_start);
    RUN(test_kill_9_then_a_new_run_keeps_the_true_originals);
    RUN(test_tampered_journal_writes_nothing);
    RUN(test_permission_denied_says_run_as_root);
    RUN(test_dry_run_shows_files_and_changes_nothing);
    return test_summary();
}
