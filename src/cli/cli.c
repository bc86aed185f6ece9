#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("greentune: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_fail_error(const gt_error *err)
{
    return cli_fail(CLI_EXIT_FAILURE, "%s", err->message[0] ? err->message : "unknown error");
}

int cli_parse_long(const char *option, const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0') {
        cli_fail(CLI_EXIT_USAGE, "%s: '%s' is not an integer", option, text);
        return 0;
    }
    if (v < min || v > max) {
        cli_fail(CLI_EXIT_USAGE, "%s: %ld is out of range [%ld, %ld]", option, v, min, max);
        return 0;
    }
    *value = v;
    return 1;
}

int cli_parse_double(const char *option, const char *text, double min, double max, double *value)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v)) {
        cli_fail(CLI_EXIT_USAGE, "%s: '%s' is not a number", option, text);
        return 0;
    }
    if (v < min || v > max) {
        cli_fail(CLI_EXIT_USAGE, "%s: %g is out of range [%g, %g]", option, v, min, max);
        return 0;
    }
    *value = v;
    return 1;
}

int cli_usage_error(const char *command)
{
    /* getopt_long has already printed its own line ("unrecognized option"). */
    fprintf(stderr, "greentune: see 'greentune %s --help'\n", command);
    return CLI_EXIT_USAGE;
}

int cli_stderr_is_tty(void)
{
    return isatty(STDERR_FILENO);
}

int cli_display_width(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += ((unsigned char)*text & 0xC0) != 0x80;
    return n;
}

/* The directory that will hold path must exist and be writable, checked before
 * a long command runs rather than after. */
int cli_check_output(const char *option, const char *path)
{
    struct stat st;
    if (!path)
        return 1;
    if (!*path || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        cli_fail(CLI_EXIT_USAGE, "%s '%s': is not a file name", option, path);
        return 0;
    }
    char *copy = strdup(path);
    if (!copy)
        return 0;
    const char *dir = dirname(copy);
    int ok = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        cli_fail(CLI_EXIT_USAGE, "%s %s: directory '%s' does not exist; create it first", option, path, dir);
    else if (access(dir, W_OK) != 0)
        cli_fail(CLI_EXIT_USAGE, "%s %s: directory '%s' is not writable; pick another place", option, path, dir);
    else
        ok = 1;
    free(copy);
    return ok;
}

int cli_make_dirs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return cli_fail(CLI_EXIT_FAILURE, "%s: cannot create the directory: %s", path, strerror(errno));
        *p = saved;
        if (!saved)
            return 0;
    }
}
