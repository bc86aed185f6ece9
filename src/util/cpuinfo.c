#include "util/cpuinfo.h"

#include <stdio.h>
#include <string.h>

/* x86 says "model name"; s390 and some MIPS "cpu model"; many ARM kernels only
 * "Hardware". */
static int is_model_line(const char *line)
{
    return !strncmp(line, "model name", 10) || !strncmp(line, "cpu model", 9) || !strncmp(line, "Hardware", 8);
}

void cpuinfo_model(char *out, size_t size, const char *fallback)
{
    snprintf(out, size, "%s", fallback);
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *value = strchr(line, ':');
        if (!is_model_line(line) || !value)
            continue;
        value += strspn(value + 1, " \t") + 1;
        size_t n = strcspn(value, "\r\n");
        while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
            n--;
        if (!n)
            continue;
        snprintf(out, size, "%.*s", (int)n, value);
        for (char *c = out; *c; c++)
            if (*c == '\t')
                *c = ' ';
        break;
    }
    fclose(f);
}
