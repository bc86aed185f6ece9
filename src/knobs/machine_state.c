/* Saving and restoring the machine state that knobs change.
 *
 * Restoring on a signal happens in the signal handler itself, not through a
 * self-pipe: the pipeline is a compute loop with no event loop to read a pipe,
 * and a watcher thread would still have to stop the process afterwards. The
 * handler is kept async-signal-safe instead: every path and original value is
 * rendered into static memory before the first write, so restoring is only
 * open/write/close and unlink, and entries are claimed with lock-free atomic
 * flags so the handler (on whichever thread the signal lands) and a normal
 * restore never write the same file twice. After restoring, the handler calls
 * the handler that was installed before (if any) or re-raises the signal with
 * its default action, so the process still dies of SIGTERM as its parent
 * expects. A kill -9 cannot be caught: the journal, written atomically before
 * each new file is changed, lets the next start put the values back. */
#include "machine_state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greentune/fileio.h"
#include "greentune/knobs.h"
#include "gpu_power.h"
#include "util/sysfs.h"

#define MS_ENTRIES_MAX 1024
#define MS_PATH_MAX 256
#define MS_VALUE_MAX 64
#define JOURNAL_NAME "machine-state.journal"
#define LOCK_NAME "machine-state.lock"
#define JOURNAL_HEADER "greentune machine-state journal v1"
#define JOURNAL_MAX_BYTES (MS_ENTRIES_MAX * (MS_PATH_MAX + MS_VALUE_MAX + 2) + 256)

typedef struct {
    char path[MS_PATH_MAX];
    char value[MS_VALUE_MAX]; /* the original */
} ms_entry;

static ms_entry entries[MS_ENTRIES_MAX];
static atomic_flag claimed[MS_ENTRIES_MAX];
static atomic_int entry_count;
static pid_t owner_pid;
static char journal_path[GT_SYSFS_PATH_MAX];
static int lock_fd = -1;
static int atexit_registered;
static char replay_note[GT_ERROR_MESSAGE_MAX];

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define HANDLED_COUNT (int)(sizeof handled_signals / sizeof handled_signals[0])
static struct sigaction previous_actions[HANDLED_COUNT];
static int installed[HANDLED_COUNT];

/* --- paths and values a knob may write --------------------------------------- */

/* Matches text against a pattern where '#' stands for one or more digits. */
static int pattern_match(const char *pattern, const char *text)
{
    while (*pattern) {
        if (*pattern == '#') {
            if (*text < '0' || *text > '9')
                return 0;
            while (*text >= '0' && *text <= '9')
                text++;
            pattern++;
        } else if (*pattern++ != *text++) {
            return 0;
        }
    }
    return *text == '\0';
}

/* A key that is not a file: an NVIDIA GPU's power limit ("nvml:<uuid>/power_limit_mw"). */
static int is_gpu_key(const char *path, char *uuid, unsigned size)
{
    return gpu_power_key_uuid(path, uuid, size);
}

int ms_path_allowed(const char *path)
{
    char uuid[GPU_UUID_MAX];
    if (is_gpu_key(path, uuid, sizeof uuid))
        return strlen(path) < MS_PATH_MAX;
    static const char *const patterns[] = {
        "class/powercap/intel-rapl:#/constraint_0_power_limit_uw",
        "class/powercap/intel-rapl:#/enabled",
        "devices/system/cpu/cpufreq/policy#/scaling_governor",
        "devices/system/cpu/cpufreq/policy#/scaling_max_freq",
    };
    char prefix[GT_SYSFS_PATH_MAX];
    if (gt_sysfs_path(prefix, sizeof prefix, NULL, "%s", "") != GT_OK)
        return 0;
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || strlen(path) >= MS_PATH_MAX)
        return 0;
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        if (pattern_match(patterns[i], path + n))
            return 1;
    return 0;
}

/* Values sysfs holds for these files: numbers and governor names. */
static int value_allowed(const char *value)
{
    size_t n = strlen(value);
    if (n == 0 || n >= MS_VALUE_MAX)
        return 0;
    for (const char *c = value; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-'))
            return 0;
    return 1;
}

/* --- restoring: async-signal-safe ------------------------------------------- */

/* open/write/close only: callable from the signal handler. */
static int write_raw(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(value);
    ssize_t wrote = write(fd, value, len);
    return close(fd) == 0 && wrote == (ssize_t)len ? 0 : -1;
}

/* A non-negative decimal number, parsed without the C library (signal handler). */
static int parse_mw(const char *value, unsigned *mw)
{
    unsigned long v = 0;
    if (!*value)
        return -1;
    for (const char *c = value; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000000ul)
            return -1;
        v = v * 10 + (unsigned long)(*c - '0');
    }
    *mw = (unsigned)v;
    return 0;
}

/* One saved value back in place: a file, or a GPU's power limit through NVML
 * (loaded by the knob that changed it). Signal-handler safe. */
static int restore_raw(const char *path, const char *value)
{
    char uuid[GPU_UUID_MAX];
    unsigned mw;
    if (is_gpu_key(path, uuid, sizeof uuid))
        return parse_mw(value, &mw) == 0 ? gpu_power_restore_raw(uuid, mw) : -1;
    return write_raw(path, value);
}

/* Writes back every entry nobody has claimed yet, newest first. Returns the
 * number that could not be written; *all_mine says whether this caller claimed
 * every entry (only then may it remove the journal). */
static int restore_entries(int *all_mine)
{
    int failed = 0, mine = 1;
    for (int i = atomic_load(&entry_count) - 1; i >= 0; i--) {
        if (atomic_flag_test_and_set(&claimed[i])) {
            mine = 0;
            continue;
        }
        if (restore_raw(entries[i].path, entries[i].value) != 0)
            failed++;
    }
    *all_mine = mine;
    return failed;
}

static void on_signal(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    if (getpid() == owner_pid && atomic_load(&entry_count) > 0) {
        int all_mine;
        if (restore_entries(&all_mine) == 0 && all_mine)
            unlink(journal_path);
    }
    for (int i = 0; i < HANDLED_COUNT; i++) {
        if (handled_signals[i] != sig)
            continue;
        const struct sigaction *old = &previous_actions[i];
        if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
            old->sa_sigaction(sig, info, context);
        } else if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
            old->sa_handler(sig);
        } else {
            /* Pending until this handler returns, then the default action. */
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            sigaction(sig, &dfl, NULL);
            raise(sig);
        }
    }
    errno = saved_errno;
}

static void install_handlers(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < HANDLED_COUNT; i++)
        sigaddset(&action.sa_mask, handled_signals[i]);
    for (int i = 0; i < HANDLED_COUNT; i++) {
        struct sigaction old;
        sigaction(handled_signals[i], NULL, &old);
        /* An ignored signal (SIGHUP under nohup) stays ignored: it will not end the run. */
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN)
            continue;
        previous_actions[i] = old;
        sigaction(handled_signals[i], &action, NULL);
        installed[i] = 1;
    }
}

static void remove_handlers(void)
{
    for (int i = 0; i < HANDLED_COUNT; i++)
        if (installed[i]) {
            sigaction(handled_signals[i], &previous_actions[i], NULL);
            installed[i] = 0;
        }
}

static void restore_at_exit(void)
{
    if (getpid() == owner_pid && atomic_load(&entry_count) > 0)
        ms_restore(NULL);
}

/* --- the state directory, its lock and journal -------------------------------- */

gt_status gt_machine_state_dir(char *buf, size_t size, gt_error *err)
{
    const char *dir = getenv("GREENTUNE_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (dir && dir[0])
        n = snprintf(buf, size, "%s", dir);
    else if (geteuid() == 0)
        n = snprintf(buf, size, "/var/lib/greentune");
    else if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/greentune", xdg);
    else if (home && home[0])
        n = snprintf(buf, size, "%s/.local/state/greentune", home);
    else
        return gt_error_set(err, GT_ERR_INVALID, "machine state: no state directory (set GREENTUNE_STATE_DIR or HOME)");
    if (n < 0 || (size_t)n >= size)
        return gt_error_set(err, GT_ERR_INVALID, "GREENTUNE_STATE_DIR: path is too long");
    return GT_OK;
}

/* mkdir -p with mode 0700 for what it creates. */
static gt_status make_dirs(const char *dir, gt_error *err)
{
    char path[GT_SYSFS_PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return gt_error_set(err, errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO,
                                "%s: cannot create the greentune state directory: %s (set GREENTUNE_STATE_DIR)", path,
                                strerror(errno));
        *p = saved;
        if (!saved)
            return GT_OK;
    }
}

static gt_status state_file(char *buf, size_t size, const char *name, gt_error *err)
{
    char dir[GT_SYSFS_PATH_MAX];
    gt_status status = gt_machine_state_dir(dir, sizeof dir, err);
    if (status != GT_OK)
        return status;
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
        return gt_error_set(err, GT_ERR_INVALID, "GREENTUNE_STATE_DIR: path is too long");
    return GT_OK;
}

/* Takes the state directory's lock without waiting: -1 and err when another
 * greentune holds it (busy = 1) or it cannot be opened. */
static int take_lock(int *busy, gt_error *err)
{
    char dir[GT_SYSFS_PATH_MAX], path[GT_SYSFS_PATH_MAX];
    *busy = 0;
    if (gt_machine_state_dir(dir, sizeof dir, err) != GT_OK || make_dirs(dir, err) != GT_OK ||
        state_file(path, sizeof path, LOCK_NAME, err) != GT_OK)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        gt_error_set(err, GT_ERR_IO, "%s: %s (set GREENTUNE_STATE_DIR to a writable directory)", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        *busy = errno == EWOULDBLOCK;
        gt_error_set(err, GT_ERR_UNSUPPORTED,
                     "machine state: another greentune is changing machine state (lock %s); wait for it to finish", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* The journal as text: a header, the owner's pid, then "path<TAB>original". */
static gt_status write_journal(gt_error *err)
{
    size_t cap = 128 + (size_t)atomic_load(&entry_count) * (MS_PATH_MAX + MS_VALUE_MAX + 2);
    char *text = malloc(cap);
    if (!text)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", journal_path);
    size_t used = (size_t)snprintf(text, cap, "%s\npid %ld\n", JOURNAL_HEADER, (long)getpid());
    for (int i = 0; i < atomic_load(&entry_count); i++)
        used += (size_t)snprintf(text + used, cap - used, "%s\t%s\n", entries[i].path, entries[i].value);
    gt_status status = gt_write_file_atomic(journal_path, text, used, err);
    free(text);
    return status;
}

typedef struct {
    long pid;
    int count;
    ms_entry *items; /* malloc'd */
} journal;

/* Parses and validates a whole journal before anything is written, so a torn or
 * tampered file never writes outside the knob-owned files. */
static gt_status read_journal(const char *path, journal *j, gt_error *err)
{
    memset(j, 0, sizeof *j);
    struct stat st;
    if (stat(path, &st) != 0)
        return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
    if (st.st_uid != geteuid())
        return gt_error_set(err, GT_ERR_PERMISSION, "%s: owned by uid %ld, not by this user; remove it if it is stale",
                            path, (long)st.st_uid);
    char *text;
    gt_status status = gt_read_file(path, JOURNAL_MAX_BYTES, &text, NULL, err);
    if (status != GT_OK)
        return status;
    j->items = calloc(MS_ENTRIES_MAX, sizeof *j->items);
    if (!j->items) {
        free(text);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    }
    int line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *tab = strchr(line, '\t');
        if (line_no == 1 && !strcmp(line, JOURNAL_HEADER))
            continue;
        if (line_no == 2 && sscanf(line, "pid %ld", &j->pid) == 1)
            continue;
        if (line_no > 2 && tab && j->count < MS_ENTRIES_MAX) {
            *tab = '\0';
            if (ms_path_allowed(line) && value_allowed(tab + 1)) {
                snprintf(j->items[j->count].path, MS_PATH_MAX, "%s", line);
                snprintf(j->items[j->count].value, MS_VALUE_MAX, "%s", tab + 1);
                j->count++;
                continue;
            }
        }
        status = gt_error_set(err, GT_ERR_PARSE,
                              "%s:%d: not a journal line greentune wrote, or a file outside %s a knob may not write; "
                              "check it and remove the journal",
                              path, line_no, gt_sysfs_root());
        break;
    }
    if (status == GT_OK && line_no < 2)
        status = gt_error_set(err, GT_ERR_PARSE, "%s: truncated journal; check it and remove it", path);
    free(text);
    if (status != GT_OK) {
        free(j->items);
        j->items = NULL;
    }
    return status;
}

/* Replays the journal at `path` (the caller holds the lock). */
static gt_status replay_journal(const char *path, int *restored, char *summary, size_t size, gt_error *err)
{
    journal j;
    *restored = 0;
    if (summary && size)
        summary[0] = '\0';
    gt_status status = read_journal(path, &j, err);
    if (status != GT_OK)
        return status;
    size_t used = 0;
    if (summary)
        used = (size_t)snprintf(summary, size, "restored %d value%s that greentune (pid %ld) left changed when it was killed:",
                                j.count, j.count == 1 ? "" : "s", j.pid);
    for (int i = j.count - 1; i >= 0 && status == GT_OK; i--) {
        char uuid[GPU_UUID_MAX];
        unsigned mw;
        if (is_gpu_key(j.items[i].path, uuid, sizeof uuid))
            status = parse_mw(j.items[i].value, &mw) == 0 ? gpu_power_restore(uuid, mw, err)
                                                          : gt_error_set(err, GT_ERR_PARSE, "bad power limit \"%s\"",
                                                                         j.items[i].value);
        else
            status = gt_sysfs_write_string(j.items[i].path, j.items[i].value, err);
        if (status != GT_OK) {
            gt_error_prefix(err, "machine state: replaying %s: ", path);
            break;
        }
        (*restored)++;
        if (summary && used < size)
            used += (size_t)snprintf(summary + used, size - used, " %s=%s", j.items[i].path, j.items[i].value);
    }
    free(j.items);
    if (status == GT_OK && unlink(path) != 0)
        status = gt_error_set(err, GT_ERR_IO, "%s: cannot remove the replayed journal: %s", path, strerror(errno));
    return status;
}

gt_status gt_machine_state_recover(int *restored, char *summary, size_t size, gt_error *err)
{
    char path[GT_SYSFS_PATH_MAX];
    *restored = 0;
    if (summary && size)
        summary[0] = '\0';
    if (state_file(path, sizeof path, JOURNAL_NAME, NULL) != GT_OK || access(path, F_OK) != 0)
        return GT_OK; /* nothing left behind */
    int busy;
    int fd = take_lock(&busy, err);
    if (fd < 0)
        return busy ? GT_OK : (err ? err->status : GT_ERR_IO); /* busy: the journal's owner is alive */
    gt_status status = replay_journal(path, restored, summary, size, err);
    close(fd);
    return status;
}

/* --- writing ----------------------------------------------------------------- */

gt_status ms_begin(const char *knob, gt_error *err)
{
    int busy;
    if (lock_fd >= 0)
        return GT_OK;
    int fd = take_lock(&busy, err);
    if (fd < 0)
        return gt_error_prefix(err, "%s: ", knob);
    gt_status status = state_file(journal_path, sizeof journal_path, JOURNAL_NAME, err);
    /* A journal under a free lock was left by a killed run: its values are the
     * true originals, so they go back before anything is saved again. */
    int restored = 0;
    if (status == GT_OK && access(journal_path, F_OK) == 0)
        status = replay_journal(journal_path, &restored, replay_note, sizeof replay_note, err);
    if (status != GT_OK) {
        close(fd);
        return gt_error_prefix(err, "%s: ", knob);
    }
    lock_fd = fd;
    owner_pid = getpid();
    install_handlers();
    if (!atexit_registered && atexit(restore_at_exit) == 0)
        atexit_registered = 1;
    return GT_OK;
}

const char *ms_take_replay_note(void)
{
    static char note[GT_ERROR_MESSAGE_MAX];
    memcpy(note, replay_note, sizeof note);
    replay_note[0] = '\0';
    return note;
}

static int find_entry(const char *path)
{
    for (int i = 0; i < atomic_load(&entry_count); i++)
        if (!strcmp(entries[i].path, path))
            return i;
    return -1;
}

gt_status ms_record(const char *knob, const char *path, const char *original, gt_error *err)
{
    if (!ms_path_allowed(path))
        return gt_error_set(err, GT_ERR_INTERNAL, "%s: %s is not a setting this knob may change", knob, path);
    if (!value_allowed(original))
        return gt_error_set(err, GT_ERR_PARSE, "%s: %s holds \"%.40s\", not a value greentune can restore", knob, path,
                            original);
    gt_status status = ms_begin(knob, err);
    if (status != GT_OK || find_entry(path) >= 0)
        return status;
    int n = atomic_load(&entry_count);
    if (n >= MS_ENTRIES_MAX)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: more than %d settings to change", knob, MS_ENTRIES_MAX);
    snprintf(entries[n].path, MS_PATH_MAX, "%s", path);
    snprintf(entries[n].value, MS_VALUE_MAX, "%s", original);
    atomic_flag_clear(&claimed[n]);
    atomic_store(&entry_count, n + 1);
    /* The journal names the setting before it changes: a kill -9 at any later
     * point leaves enough behind to put the original back. */
    if ((status = write_journal(err)) != GT_OK) {
        atomic_store(&entry_count, n);
        return gt_error_prefix(err, "%s: cannot write the journal: ", knob);
    }
    return GT_OK;
}

gt_status ms_write(const char *knob, const char *path, const char *value, gt_error *err)
{
    if (!ms_path_allowed(path))
        return gt_error_set(err, GT_ERR_INTERNAL, "%s: %s is not a file this knob may write", knob, path);
    if (!value_allowed(value))
        return gt_error_set(err, GT_ERR_INVALID, "%s: \"%s\" is not a value for %s", knob, value, path);
    /* An unwritable file is the problem to report, not the state directory. */
    gt_status status = gt_sysfs_check_writable(path, err);
    if (status != GT_OK)
        return gt_error_prefix(err, "%s: ", knob);
    if ((status = ms_begin(knob, err)) != GT_OK)
        return status;
    if (find_entry(path) < 0) {
        char original[GT_SYSFS_VALUE_MAX];
        if ((status = gt_sysfs_read_string(path, original, sizeof original, err)) != GT_OK)
            return gt_error_prefix(err, "%s: ", knob);
        if ((status = ms_record(knob, path, original, err)) != GT_OK)
            return status;
    }
    if ((status = gt_sysfs_write_string(path, value, err)) != GT_OK)
        return gt_error_prefix(err, "%s: ", knob);
    return GT_OK;
}

gt_status ms_restore(gt_error *err)
{
    if (lock_fd < 0)
        return GT_OK;
    /* This thread must not run the handler while it restores; a signal landing on
     * another thread restores only what this loop has not claimed yet. */
    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; i < HANDLED_COUNT; i++)
        sigaddset(&block, handled_signals[i]);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int all_mine, failed = restore_entries(&all_mine);
    gt_status status = GT_OK;
    if (failed)
        status = gt_error_set(err, GT_ERR_IO,
                              "machine state: %d value%s could not be written back; the next greentune start retries "
                              "from %s (run it as root)",
                              failed, failed == 1 ? "" : "s", journal_path);
    else if (all_mine)
        unlink(journal_path);
    atomic_store(&entry_count, 0);
    remove_handlers();
    close(lock_fd);
    lock_fd = -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return status;
}
