/* Facts about this machine and process, from /proc: what a stored run records
 * about where it ran, and how a later sweep tells that the process which
 * claimed a run is gone. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "store_internal.h"
#include "util/cpuinfo.h"

static void trim_newline(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

void gt_machine_read(gt_machine *machine)
{
    memset(machine, 0, sizeof *machine);
    if (gethostname(machine->hostname, sizeof machine->hostname - 1) != 0)
        snprintf(machine->hostname, sizeof machine->hostname, "unknown");
    cpuinfo_model(machine->cpu_model, sizeof machine->cpu_model, "unknown");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    machine->cores = cores > 0 ? (int)cores : 0;
}

static void read_boot_id(char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (fgets(out, (int)size, f))
        trim_newline(out);
    fclose(f);
}

/* The state (field 3) and start time (field 22, clock ticks since boot) of
 * /proc/<pid>/stat; 0 when unreadable. The command name (field 2) may hold
 * spaces and parentheses: parse after the last ')'. */
static int read_proc_stat(long pid, char *state, unsigned long long *start_ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    int field = 2, found = 0;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 3) {
            *state = tok[0];
        } else if (field == 22) {
            found = sscanf(tok, "%llu", start_ticks) == 1;
            break;
        }
    }
    return found;
}

void store_owner_self(store_owner *owner)
{
    memset(owner, 0, sizeof *owner);
    if (gethostname(owner->host, sizeof owner->host - 1) != 0)
        snprintf(owner->host, sizeof owner->host, "unknown");
    owner->pid = (long)getpid();
    char state;
    if (!read_proc_stat(owner->pid, &state, &owner->start_ticks))
        owner->start_ticks = 0;
    read_boot_id(owner->boot_id, sizeof owner->boot_id);
}

int store_owner_alive(const store_owner *owner)
{
    store_owner self;
    store_owner_self(&self);
    if (strcmp(owner->host, self.host) != 0)
        return 1;
    if (owner->boot_id[0] && self.boot_id[0] && strcmp(owner->boot_id, self.boot_id) != 0)
        return 0;
    if (owner->pid <= 0)
        return 0;
    if (kill((pid_t)owner->pid, 0) != 0 && errno == ESRCH)
        return 0;
    char state = '?';
    unsigned long long ticks = 0;
    if (!read_proc_stat(owner->pid, &state, &ticks))
        return 1;   /* exists (kill said so) but /proc is hidden: assume alive */
    /* A zombie has finished; a different start time means the pid was reused. */
    if (state == 'Z' || state == 'X')
        return 0;
    return !(owner->start_ticks && ticks != owner->start_ticks);
}
