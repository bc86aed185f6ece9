/* The control channel: arbitrary bytes from whoever can write the FIFO, fed
 * to the line reader in chunks whose sizes come from the first input byte (a
 * line may arrive split across reads). Every line handed on is classified; a
 * start or stop carries a valid task name that is really in the line. */
#include "fuzz.h"

#include "energy/internal.h"

typedef struct {
    size_t lines;
} tally;

static void on_line(void *ctx, control_kind kind, const char *name, const char *line, size_t len)
{
    tally *t = ctx;
    t->lines++;
    FUZZ_ASSERT((unsigned)kind < CONTROL_KINDS && kind != CONTROL_EMPTY);
    FUZZ_ASSERT(len <= CONTROL_LINE_MAX && strlen(line) <= len);
    FUZZ_ASSERT(control_kind_text(kind)[0] != '?');
    if (kind == CONTROL_START || kind == CONTROL_STOP) {
        size_t n = strlen(name);
        FUZZ_ASSERT(energy_task_name_valid(name, n));
        const char *verb = line + strspn(line, " \t\r");
        FUZZ_ASSERT(!strncmp(verb, kind == CONTROL_START ? "start" : "stop", kind == CONTROL_START ? 5 : 4));
        FUZZ_ASSERT(strstr(verb, name) != NULL);
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
    control_kind kind = control_parse_line((const char *)data, size, name);
    FUZZ_ASSERT((unsigned)kind < CONTROL_KINDS);
    return 0;
}
