/* The control-channel protocol takes any bytes a writer sends: it finds the
 * good lines and classifies every bad one, and never overruns its buffer. */
#include <stdlib.h>
#include <string.h>

#include "energy/internal.h"
#include "test_support.h"

static double value;

static control_kind parse(const char *line, char name[GT_TASK_NAME_MAX + 1])
{
    return control_parse_line(line, strlen(line), name, &value);
}

static void test_good_lines(void)
{
    char name[GT_TASK_NAME_MAX + 1];
    CHECK_EQ_INT(parse("start train", name), CONTROL_START);
    CHECK_EQ_STR(name, "train");
    CHECK_EQ_INT(parse("stop train", name), CONTROL_STOP);
    CHECK_EQ_STR(name, "train");
    CHECK_EQ_INT(parse("  start\tepoch-1:step/2+x.y_z \r", name), CONTROL_START); /* blanks, CRLF */
    CHECK_EQ_STR(name, "epoch-1:step/2+x.y_z");
    CHECK_EQ_INT(parse("", name), CONTROL_EMPTY);
    CHECK_EQ_INT(parse(" \t\r", name), CONTROL_EMPTY);
}

static void test_hostile_lines(void)
{
    char name[GT_TASK_NAME_MAX + 1];
    CHECK_EQ_INT(parse("frobnicate train", name), CONTROL_BAD_VERB);
    CHECK_EQ_INT(parse("START train", name), CONTROL_BAD_VERB);
    CHECK_EQ_INT(parse("starttrain", name), CONTROL_BAD_VERB);
    CHECK_EQ_INT(parse("start", name), CONTROL_BAD_NAME);
    CHECK_EQ_INT(parse("stop   ", name), CONTROL_BAD_NAME);
    CHECK_EQ_INT(parse("start two words", name), CONTROL_BAD_NAME);
    CHECK_EQ_INT(parse("start $(rm -rf /)", name), CONTROL_BAD_NAME);
    CHECK_EQ_INT(parse("start caf\xc3\xa9", name), CONTROL_BINARY);
    CHECK_EQ_INT(control_parse_line("start a\0b", 9, name, &value), CONTROL_BINARY);
    char long_name[100];
    memset(long_name, 'n', sizeof long_name);
    memcpy(long_name, "start ", 6);
    long_name[6 + 64] = '\0'; /* a 64-character name: one too many */
    CHECK_EQ_INT(parse(long_name, name), CONTROL_BAD_NAME);
    long_name[6 + 63] = '\0';
    CHECK_EQ_INT(parse(long_name, name), CONTROL_START);
    CHECK_EQ_INT(strlen(name), 63);
}

/* progress NAME FRACTION: a fraction in [0, 1] or a percentage; the name is
 * everything before the last word, so a bad fraction is not a bad name. */
static void test_progress_lines(void)
{
    char name[GT_TASK_NAME_MAX + 1];
    CHECK_EQ_INT(parse("progress train 0.25", name), CONTROL_PROGRESS);
    CHECK_EQ_STR(name, "train");
    CHECK_NEAR(value, 0.25, 0);
    CHECK_EQ_INT(parse("  progress\tepoch-1  12.5% ", name), CONTROL_PROGRESS);
    CHECK_EQ_STR(name, "epoch-1");
    CHECK_NEAR(value, 0.125, 1e-15);
    CHECK_EQ_INT(parse("progress train 0", name), CONTROL_PROGRESS);
    CHECK_NEAR(value, 0, 0);
    CHECK_EQ_INT(parse("progress train 1", name), CONTROL_PROGRESS);
    CHECK_NEAR(value, 1, 0);
    CHECK_EQ_INT(parse("progress train 1.5", name), CONTROL_BAD_VALUE);
    CHECK_EQ_INT(parse("progress train -0.1", name), CONTROL_BAD_VALUE);
    CHECK_EQ_INT(parse("progress train 101%", name), CONTROL_BAD_VALUE);
    CHECK_EQ_INT(parse("progress train half", name), CONTROL_BAD_VALUE);
    CHECK_EQ_INT(parse("progress train nan", name), CONTROL_BAD_VALUE);
    CHECK_EQ_INT(parse("progress train", name), CONTROL_BAD_VALUE); /* "train" read as the fraction */
    CHECK_EQ_INT(parse("progress 0.5", name), CONTROL_BAD_VALUE);
    CHECK_EQ_INT(parse("progress two words 0.5", name), CONTROL_BAD_NAME);
    CHECK_EQ_INT(parse("progress", name), CONTROL_BAD_NAME);
}

typedef struct {
    int count;
    control_kind kinds[16];
    char names[16][GT_TASK_NAME_MAX + 1];
    size_t longest;
} seen;

static void collect(void *ctx, control_kind kind, const char *name, double v, const char *line, size_t len)
{
    (void)v;
    seen *s = ctx;
    (void)line;
    if (s->count < 16) {
        s->kinds[s->count] = kind;
        snprintf(s->names[s->count], sizeof s->names[0], "%s", name);
        s->count++;
    }
    if (len > s->longest)
        s->longest = len;
}

/* Lines split across reads, a 100 kB line, and a last line without its
 * newline: the reader yields each line once and never holds more than 256 bytes. */
static void test_reader_splits_and_bounds_lines(void)
{
    control_reader r = {0};
    seen s = {0};
    control_feed(&r, "sta", 3, collect, &s);
    control_feed(&r, "rt tr", 5, collect, &s);
    control_feed(&r, "ain\n\nstop train\n", 16, collect, &s);
    size_t huge = 100000;
    char *big = malloc(huge);
    memset(big, 'x', huge);
    control_feed(&r, big, huge, collect, &s);
    control_feed(&r, "\nstart eval", 11, collect, &s);
    free(big);
    CHECK_EQ_INT(s.count, 3);
    control_flush(&r, collect, &s);
    CHECK_EQ_INT(s.count, 4);
    CHECK_EQ_INT(s.kinds[0], CONTROL_START);
    CHECK_EQ_STR(s.names[0], "train");
    CHECK_EQ_INT(s.kinds[1], CONTROL_STOP);
    CHECK_EQ_INT(s.kinds[2], CONTROL_TOO_LONG);
    CHECK_EQ_INT(s.kinds[3], CONTROL_START);
    CHECK_EQ_STR(s.names[3], "eval");
    CHECK(s.longest <= CONTROL_LINE_MAX);
}

int main(void)
{
    RUN(test_good_lines);
    RUN(test_hostile_lines);
    RUN(test_progress_lines);
    RUN(test_reader_splits_and_bounds_lines);
    return test_summary();
}
