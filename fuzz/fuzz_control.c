/* The control channel: arbitrary bytes from whoever can write the FIFO, fed
 * to the line reader in chunks whose sizes come from the first input byte (a
 * line may arrive split across reads). Every line handed on is classified; a
 * start, stop or progress carries a valid task name that is really in the
 * line, and a progress a fraction in [0, 1]. */
#include "fuzz.h"

#include "energy/internal.h"

typedef struct {
    size_t lines;
} tally;

static const char *const verbs[] = {[CONTROL_START] = "start", [CONTROL_STOP] = "stop", [CONTROL_PROGRESS] = "progress"};

static void on_line(void *ctx, control_kind kind, const char *name, double value, const char *line, size_t len)
{
    tally *t = ctx;
    t->lines++;
    FUZZ_ASSERT((unsigned)kind < CONTROL_KINDS && kind != CONTROL_EMPTY);
    FUZZ_ASSERT(len <= CONTROL_LINE_MAX && strlen(line) <= len);
    FUZZ_ASSERT(control_kind_text(kind)[0] != '?');
    if (kind == CONTROL_START || kind == CONTROL_STOP || kind == CONTROL_PROGRESS) {
        size_t n = strlen(name);
        FUZZ_ASSERT(energy_task_name_valid(name, n));
        const char *verb = line + strspn(line, " \t\r");
        FUZZ_ASSERT(!strncmp(verb, verbs[kind], strlen(verbs[kind])));
        FUZZ_ASSERT(strstr(verb, name) != NULL);
        FUZZ_ASSERT(kind == CONTROL_PROGRESS ? value >= 0 && value <= 1 : value == 0);
    } else {
        FUZZ_ASSERT(name[0] == '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    control_reader reader = {0};
    tally t = {0};
    for (size_t at = 0; at < size; at += chunk)
        control_feed(&reader, (const char *)data + at, size - at < chunk ? size - at : chunk, on_line, &t);
    control_flush(&reader, on_line, &t);
    size_t newlines = 0;
    for (size_t i = 0; i < size; i++)
        newlines += data[i] == '\n';
    FUZZ_ASSERT(t.lines <= newlines + 1);

    char name[GT_TASK_NAME_MAX + 1];
    double value;
    control_kind kind = control_parse_line((const char *)data, size, name, &value);
    FUZZ_ASSERT((unsigned)kind < CONTROL_KINDS);
    return 0;
}
