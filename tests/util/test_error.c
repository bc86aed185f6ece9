/* Error messages: one line whatever they quote, prefixes keep it so. */
#include <string.h>

#include "greentune/common.h"
#include "test_support.h"

/* A file's contents quoted in a message (a CSV field, a token, a --set value)
 * may hold line breaks; the message shows them escaped and stays one line. */
static void test_quoted_line_breaks_stay_on_one_line(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(gt_error_set(&err, GT_ERR_PARSE, "data.csv: line %d: label \"%s\" is not 0 or 1", 3, "a\nb\r\tc\x7f"),
                 GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "data.csv: line 3: label \"a\\nb\\x0d\\tc\\x7f\" is not 0 or 1");
    CHECK_EQ_INT(err.status, GT_ERR_PARSE);
}

static void test_prefix_keeps_one_line(void)
{
    gt_error err = {0};
    gt_error_set(&err, GT_ERR_IO, "write failed");
    CHECK_EQ_INT(gt_error_prefix(&err, "%s: ", "run\n1"), GT_ERR_IO);
    CHECK_EQ_STR(err.message, "run\\n1: write failed");
}

/* UTF-8 text (em dashes, names) is not touched. */
static void test_utf8_passes_through(void)
{
    gt_error err = {0};
    gt_error_set(&err, GT_ERR_INVALID, "%s", "café — 東京");
    CHECK_EQ_STR(err.message, "café — 東京");
}

/* A message longer than the buffer is cut, never overrun, and ends in a NUL. */
static void test_long_messages_are_cut(void)
{
    char text[2 * GT_ERROR_MESSAGE_MAX];
    memset(text, '\n', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    gt_error err = {0};
    gt_error_set(&err, GT_ERR_INVALID, "%s", text);
    CHECK(strlen(err.message) < GT_ERROR_MESSAGE_MAX);
    CHECK(strchr(err.message, '\n') == NULL);
}

int main(void)
{
    RUN(test_quoted_line_breaks_stay_on_one_line);
    RUN(test_prefix_keeps_one_line);
    RUN(test_utf8_passes_through);
    RUN(test_long_messages_are_cut);
    return test_summary();
}
