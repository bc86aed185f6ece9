/* UTF-8 repair: each maximal ill-formed subsequence becomes one U+FFFD, as the
 * Unicode Standard recommends and Python's decoder does. */
#include "data/data_internal.h"
#include "data_tests.h"

#define FFFD "\xef\xbf\xbd"

/* The Unicode Standard's own example (chapter 3, "U+FFFD Substitution of
 * Maximal Subparts", Table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64. */
static void test_unicode_standard_example(void)
{
    gt_error err = {0};
    const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    char *out;
    size_t len, replaced;
    CHECK_EQ_INT(gt_utf8_sanitize(in, sizeof in - 1, &out, &len, &replaced, &err), GT_OK);
    CHECK_EQ_STR(out, "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
    CHECK_EQ_INT(replaced, 6);
    CHECK_EQ_INT(len, strlen(out));
    free(out);
}

static void test_valid_text_is_unchanged(void)
{
    gt_error err = {0};
    const char in[] = "ascii, caf\xc3\xa9, \xe4\xb8\xad, \xf0\x9f\x98\x80 and NUL \0 inside";
    char *out;
    size_t len, replaced;
    CHECK_EQ_INT(gt_utf8_sanitize(in, sizeof in - 1, &out, &len, &replaced, &err), GT_OK);
    CHECK_EQ_INT(replaced, 0);
    CHECK_EQ_INT(len, sizeof in - 1);
    CHECK(memcmp(out, in, len) == 0);
    free(out);
}

/* Random byte strings, biased toward bytes that start or continue sequences,
 * repaired here and by Python's bytes.decode(errors="replace"). */
static void test_random_bytes_agree_with_python(void)
{
    enum { N = 300, MAX_LEN = 24 };
    static const unsigned char alphabet[] = {0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                             0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5,
                                             0xFF, 0x00, 0x7F};
    gt_rng rng;
    gt_rng_seed(&rng, 42);
    char *hex = malloc(N * (2 * MAX_LEN + 1) + 1);
    unsigned char samples[N][MAX_LEN];
    size_t lens[N], used = 0;
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)gt_rng_below(&rng, MAX_LEN + 1);
        for (size_t j = 0; j < lens[i]; j++) {
            samples[i][j] = alphabet[gt_rng_below(&rng, sizeof alphabet)];
            used += (size_t)sprintf(hex + used, "%02x", samples[i][j]);
        }
        hex[used++] = '\n';
    }
    hex[used] = '\0';
    test_write_file(test_path("bytes.hex"), hex, used);
    char *out = run_python("import sys\n"
                           "for line in open(sys.argv[1]).read().split('\\n')[:-1]:\n"
                           "    s = bytes.fromhex(line).decode('utf-8', errors='replace')\n"
                           "    print(s.encode('utf-8').hex(), s.count('\\ufffd'))\n",
                           test_path("bytes.hex"), NULL);
    CHECK(out != NULL);
    char *line = out;
    for (int i = 0; i < N && line; i++) {
        gt_error err = {0};
        char *fixed;
        size_t len, replaced;
        CHECK_EQ_INT(gt_utf8_sanitize((const char *)samples[i], lens[i], &fixed, &len, &replaced, &err), GT_OK);
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        char expected_hex[8 * MAX_LEN + 1] = "";
        size_t expected_count = 0;
        if (line[0] == ' ')  /* an empty string prints only its count */
            sscanf(line, " %zu", &expected_count);
        else
            sscanf(line, "%192s %zu", expected_hex, &expected_count);
        char got_hex[8 * MAX_LEN + 1] = "";
        for (size_t j = 0; j < len; j++)
            sprintf(got_hex + 2 * j, "%02x", (unsigned char)fixed[j]);
        if (len == 0)
            CHECK_EQ_INT(lens[i], 0);
        else
            CHECK_EQ_STR(got_hex, expected_hex);
        CHECK_EQ_INT(replaced, expected_count);
        free(fixed);
        line = end ? end + 1 : NULL;
    }
    free(out);
    free(hex);
}

int main(void)
{
    RUN(test_unicode_standard_example);
    RUN(test_valid_text_is_unchanged);
    RUN(test_random_bytes_agree_with_python);
    return test_summary();
}
