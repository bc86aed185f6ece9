/* The edit distance behind "did you mean" suggestions, against values worked
 * out by hand (the optimal string alignment recurrence). */
#include <string.h>

#include "test_support.h"
#include "util/text.h"

static void test_textbook_distances(void)
{
    CHECK_EQ_INT(text_edit_distance("", ""), 0);
    CHECK_EQ_INT(text_edit_distance("", "abc"), 3);
    CHECK_EQ_INT(text_edit_distance("kitten", "sitting"), 3); /* k->s, e->i, +g */
    CHECK_EQ_INT(text_edit_distance("flaw", "lawn"), 2);      /* -f, +n */
    CHECK_EQ_INT(text_edit_distance("epochs", "epochs"), 0);
}

/* An adjacent swap is one edit; OSA does not edit a substring twice, so
 * "ca" -> "abc" is 3 (true Damerau-Levenshtein would say 2). */
static void test_swaps(void)
{
    CHECK_EQ_INT(text_edit_distance("lroa", "lora"), 1);
    CHECK_EQ_INT(text_edit_distance("ab", "ba"), 1);
    CHECK_EQ_INT(text_edit_distance("ca", "abc"), 3);
}

static void test_long_names_are_far(void)
{
    char a[80], b[80];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    CHECK_EQ_INT(text_edit_distance(a, b), TEXT_FAR);
    a[63] = '\0';
    b[63] = '\0';
    CHECK_EQ_INT(text_edit_distance(a, b), 0);
}

int main(void)
{
    RUN(test_textbook_distances);
    RUN(test_swaps);
    RUN(test_long_names_are_far);
    return test_summary();
}
