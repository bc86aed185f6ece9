/* The tokenizers' Unicode layer (src/data/unicode.c) against Python's
 * unicodedata: NFD, NFC, the per-character lowercase, and the categories. */
#include <cjson/cJSON.h>

#include "data/data_internal.h"
#include "data/unicode.h"
#include "data_tests.h"

/* Code points where normalization is interesting: Latin with accents and
 * combining marks of several classes, Greek, Hangul syllables and jamo,
 * compatibility characters, composition exclusions, astral letters. */
static const uint32_t pool[] = {
    'a', 'e', 'o', 'A', 'I', 0xC5, 0xE9, 0x1E0B, 0x1E0D, 0x212B, 0x2126, 0x0300, 0x0301, 0x0302, 0x0308, 0x0323,
    0x0327, 0x031B, 0x0345, 0x05B0, 0x0591, 0x0F73, 0x0958, 0x2ADC, 0x0344, 0x0390, 0x03A3, 0x03C2, 0x0130, 0x01C5,
    0x00DF, 0x1E9E, 0xAC00, 0xAC01, 0xD7A3, 0x1100, 0x1161, 0x11A8, 0x11A7, 0x3099, 0x304B, 0x30AB, 0xFB01, 0x2460,
    0x1D15E, 0x1D160, 0x10400, 0x1F600, 0x0041, 0x030A, 0x0107, 0x0063, 0x0069, 0x0307, 0x00C0, 0x0F71, 0x0F72,
};

static void test_normalization_agrees_with_python(void)
{
    enum { N = 400, MAX = 8 };
    gt_rng rng;
    gt_rng_seed(&rng, 2024);
    uint32_t strings[N][MAX];
    size_t lens[N];
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; i < N; i++) {
        lens[i] = 1 + (size_t)gt_rng_below(&rng, MAX);
        char utf8[MAX * 4 + 1];
        size_t n = 0;
        for (size_t j = 0; j < lens[i]; j++) {
            strings[i][j] = pool[gt_rng_below(&rng, sizeof pool / sizeof pool[0])];
            n += gt_utf8_put(strings[i][j], utf8 + n);
        }
        utf8[n] = '\0';
        cJSON_AddItemToArray(list, cJSON_CreateString(utf8));
    }
    char *json = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    test_write_file(test_path("strings.json"), json, strlen(json));
    free(json);
    char *out = run_python("import json, sys, unicodedata\n"
                           "strings = json.load(open(sys.argv[1], encoding='utf-8'))\n"
                           "print(json.dumps([[unicodedata.normalize(f, s) for f in ('NFD', 'NFC')]\n"
                           "                  + [''.join(c.lower() for c in s)] for s in strings]))\n",
                           test_path("strings.json"), NULL);
    cJSON *expected = out ? cJSON_Parse(out) : NULL;
    CHECK(cJSON_IsArray(expected) && cJSON_GetArraySize(expected) == N);
    int i = 0;
    for (cJSON *row = expected ? expected->child : NULL; row && i < N; row = row->next, i++) {
        gt_cpbuf nfd = {0}, nfc = {0}, low = {0};
        CHECK_EQ_INT(gt_unicode_nfd(&nfd, strings[i], lens[i]), 0);
        CHECK_EQ_INT(gt_unicode_nfc(&nfc, strings[i], lens[i]), 0);
        for (size_t j = 0; j < lens[i]; j++) {
            uint32_t l[3];
            size_t k = gt_unicode_lower(strings[i][j], l);
            for (size_t m = 0; m < k; m++)
                gt_cpbuf_push(&low, l[m]);
        }
        gt_cpbuf *got[3] = {&nfd, &nfc, &low};
        const char *what[3] = {"NFD", "NFC", "lower"};
        cJSON *e = row->child;
        for (int f = 0; f < 3 && e; f++, e = e->next) {
            char utf8[MAX * 4 * 4 + 1];
            size_t n = 0;
            for (size_t j = 0; j < got[f]->n; j++)
                n += gt_utf8_put(got[f]->v[j], utf8 + n);
            utf8[n] = '\0';
            CHECK_MSG(!strcmp(utf8, e->valuestring), "string %d %s differs", i, what[f]);
        }
        gt_cpbuf_free(&nfd);
        gt_cpbuf_free(&nfc);
        gt_cpbuf_free(&low);
    }
    cJSON_Delete(expected);
    free(out);
}

/* The category classes over the whole code space, compared as run lengths
 * with Python's unicodedata.category. */
static void test_classes_agree_with_python_everywhere(void)
{
    char *out = run_python("import unicodedata\n"
                           "def cls(c):\n"
                           "    cat = unicodedata.category(chr(c))\n"
                           "    if cat in ('Cc', 'Cf', 'Co'): return 'C'\n"
                           "    return 'M' if cat == 'Mn' else cat[0] if cat[0] in 'LNP' else 'R'\n"
                           "runs, prev = [], None\n"
                           "for c in range(0x110000):\n"
                           "    k = cls(c)\n"
                           "    if k != prev: runs.append('%x:%s' % (c, k)); prev = k\n"
                           "print(' '.join(runs))\n",
                           NULL, NULL);
    CHECK(out != NULL);
    if (!out)
        return;
    static const char letters[] = {'L', 'N', 'P', 'M', 'C', 'R'};
    size_t runs = 0;
    char prev = 0;
    char *cursor = out;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char k = letters[gt_unicode_class(cp)];
        if (k == prev)
            continue;
        prev = k;
        unsigned start;
        char expected;
        int used = 0;
        if (sscanf(cursor, "%x:%c%n", &start, &expected, &used) != 2) {
            CHECK_MSG(0, "Python has fewer class runs than C at U+%04X", cp);
            break;
        }
        cursor += used;
        CHECK_MSG(start == cp && expected == k, "run at U+%04X (%c) vs Python's U+%04X (%c)", cp, k, start,
                  expected);
        if (start != cp)
            break;
        runs++;
    }
    CHECK(runs > 2000);
    free(out);
}

static void test_white_space_property(void)
{
    static const uint32_t spaces[] = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x200A,
                                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    static const uint32_t not_spaces[] = {0x1C, 0x1F, 0x200B, 0x180E, 0xFEFF, 'a', 0x2060};
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
        CHECK_MSG(gt_unicode_is_whitespace(spaces[i]), "U+%04X", spaces[i]);
    for (size_t i = 0; i < sizeof not_spaces / sizeof not_spaces[0]; i++)
        CHECK_MSG(!gt_unicode_is_whitespace(not_spaces[i]), "U+%04X", not_spaces[i]);
}

int main(void)
{
    RUN(test_normalization_agrees_with_python);
    RUN(test_classes_agree_with_python_everywhere);
    RUN(test_white_space_property);
    return test_summary();
}
