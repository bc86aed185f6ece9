/* The control-channel protocol: a child marks tasks with lines
 *
 *   start NAME
 *   stop NAME
 *
 * written to the FIFO named by $GREENTUNE_CONTROL. Anyone who can write the
 * FIFO can send anything, so the parser takes arbitrary bytes: a line is at
 * most CONTROL_LINE_MAX bytes, and everything else is classified, never trusted. */
#include "energy/internal.h"

#include <string.h>

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '/' || c == '+' || c == '-';
}

int energy_task_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > GT_TASK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)name[i]))
            return 0;
    return 1;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

control_kind control_parse_line(const char *line, size_t len, char name[GT_TASK_NAME_MAX + 1])
{
    name[0] = '\0';
    while (len && blank(line[len - 1]))
        len--;
    while (len && blank(*line)) {
        line++;
        len--;
    }
    if (len == 0)
        return CONTROL_EMPTY;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 32 && c != '\t') || c >= 127)
            return CONTROL_BINARY;
    }
    size_t verb = 0;
    while (verb < len && !blank(line[verb]))
        verb++;
    control_kind kind;
    if (verb == 5 && !strncmp(line, "start", 5))
        kind = CONTROL_START;
    else if (verb == 4 && !strncmp(line, "stop", 4))
        kind = CONTROL_STOP;
    else
        return CONTROL_BAD_VERB;
    const char *arg = line + verb;
    size_t arg_len = len - verb;
    while (arg_len && blank(*arg)) {
        arg++;
        arg_len--;
    }
    if (!energy_task_name_valid(arg, arg_len))
        return CONTROL_BAD_NAME;
    memcpy(name, arg, arg_len);
    name[arg_len] = '\0';
    return kind;
}

const char *control_kind_text(control_kind k)
{
    switch (k) {
    case CONTROL_START: return "start";
    case CONTROL_STOP: return "stop";
    case CONTROL_EMPTY: return "empty line";
    case CONTROL_BAD_VERB: return "unknown command (expected 'start NAME' or 'stop NAME')";
    case CONTROL_BAD_NAME: return "bad task name (1 to 63 of A-Z a-z 0-9 _ . : / + -)";
    case CONTROL_BINARY: return "non-text bytes";
    case CONTROL_TOO_LONG: return "line longer than 256 bytes";
    case CONTROL_KINDS: break;
    }
    return "?";
}

static void emit(control_reader *r, control_handler handler, void *ctx)
{
    char name[GT_TASK_NAME_MAX + 1] = "";
    r->line[r->len] = '\0';
    control_kind kind = r->too_long ? CONTROL_TOO_LONG : control_parse_line(r->line, r->len, name);
    if (kind != CONTROL_EMPTY)
        handler(ctx, kind, name, r->line, r->len);
    r->len = 0;
    r->too_long = 0;
}

void control_feed(control_reader *r, const char *data, size_t n, control_handler handler, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            emit(r, handler, ctx);
        } else if (r->len < CONTROL_LINE_MAX) {
            r->line[r->len++] = data[i];
        } else {
            r->too_long = 1; /* keep the first bytes for the warning, drop the rest */
        }
    }
}

void control_flush(control_reader *r, control_handler handler, void *ctx)
{
    if (r->len || r->too_long)
        emit(r, handler, ctx);
}
