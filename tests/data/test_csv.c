/* CSV data sets (RFC 4180): quoting, line breaks, bounds, and one clear error
 * line, with the line number, for every malformed input. */
#include <cjson/cJSON.h>

#include "data_tests.h"

static gt_dataset *load_csv_text(const char *name, const char *contents, gt_error *err)
{
    return load_text_as(GT_DATA_CSV, name, contents, err);
}

static void test_rfc4180_quoting_and_line_breaks(void)
{
    gt_error err = {0};
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.format = GT_DATA_CSV;
    opt.path = fixture("data/rfc4180.csv");
    opt.id_field = "id";
    gt_dataset *ds = NULL;
    CHECK_EQ_INT(gt_dataset_load(&ds, &opt, &err), GT_OK);
    if (!ds)
        return;
    static const char *texts[] = {"plain text", "comma, inside", "say \"hi\" twice", "two\r\nlines\nand more",
                                  "", "  spaced  ", "last, no newline"};
    static const int labels[] = {0, 1, 0, 1, 0, 1, 1};
    CHECK_EQ_INT(ds->n, 7);
    for (size_t i = 0; i < ds->n && i < 7; i++) {
        CHECK_EQ_STR(ds->texts[i], texts[i]);
        CHECK_EQ_INT(ds->lengths[i], strlen(texts[i]));
        CHECK_EQ_INT(ds->labels[i], labels[i]);
        char id[8];
        snprintf(id, sizeof id, "a%zu", i + 1);
        CHECK_EQ_STR(ds->ids[i], id);  /* the byte order mark is not part of the "id" column's name */
    }
    CHECK_EQ_INT(ds->class_counts[0], 3);
    CHECK_EQ_INT(ds->class_counts[1], 4);
    CHECK_EQ_INT(ds->stats.empty_texts, 1);
    gt_dataset_free(ds);
}

static void test_bigvul_columns_hold_multiline_code(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_bigvul(&err);
    if (!ds)
        return;
    CHECK_EQ_INT(ds->n, 5);
    static const int vul[] = {1, 0, 0, 1, 0};
    for (size_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(ds->labels[i], vul[i]);
        char id[4];
        snprintf(id, sizeof id, "%zu", i);
        CHECK_EQ_STR(ds->ids[i], id);
    }
    CHECK_EQ_STR(ds->texts[0], "int f(char *s) {\n    char b[8];\n    strcpy(b, s);\n    return b[0];\n}");
    CHECK_EQ_STR(ds->texts[2], "void log_msg(const char *m) { printf(\"%s\\n\", m); }");
    gt_dataset_free(ds);
}

/* Python's csv module, an independent RFC 4180 reader, sees the same fields. */
static void test_agrees_with_python_csv_module(void)
{
    static const char *code =
        "import csv, json, sys\n"
        "rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8-sig')))\n"
        "col = rows[0].index(sys.argv[2])\n"
        "print(json.dumps([r[col] for r in rows[1:] if r]))\n";
    struct {
        const char *file, *text_field, *label_field;
    } files[] = {{"data/rfc4180.csv", "text", "label"}, {"data/bigvul-mini.csv", "func_after", "vul"}};
    for (size_t f = 0; f < 2; f++) {
        gt_error err = {0};
        gt_dataset *ds = load_data(GT_DATA_CSV, fixture(files[f].file), files[f].text_field, files[f].label_field,
                                   &err);
        char *out = run_python(code, fixture(files[f].file), files[f].text_field);
        CHECK(ds != NULL && out != NULL);
        cJSON *expected = out ? cJSON_Parse(out) : NULL;
        CHECK(cJSON_IsArray(expected));
        if (ds && expected) {
            CHECK_EQ_INT(cJSON_GetArraySize(expected), ds->n);
            size_t i = 0;
            for (cJSON *e = expected->child; e && i < ds->n; e = e->next, i++)
                CHECK_EQ_STR(ds->texts[i], e->valuestring);
        }
        cJSON_Delete(expected);
        free(out);
        gt_dataset_free(ds);
    }
}

/* Malformed CSV: each case names the file, the line and what is wrong. */
static void test_malformed_csv_names_the_line(void)
{
    static const struct {
        const char *name, *contents, *where, *what;
    } cases[] = {
        {"open.csv", "text,label\n\"fine\",0\n\"never closed,1\nmore,0\n", "open.csv: line 3:", "never closed"},
        {"after.csv", "text,label\r\n\"a\",0\r\n\"b\"c,1\r\n", "after.csv: line 3:", "after the closing quote"},
        {"bare.csv", "text,label\n5\" screen,0\n", "bare.csv: line 2:", "unquoted field"},
        /* The bad record starts on line 5: the quoted field before it spans lines 2-4. */
        {"lines.csv", "text,label\n\"a\nb\nc\",0\nx,0,extra\n", "lines.csv: line 5:", "3 fields, the header 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gt_error err = {0};
        CHECK(load_csv_text(cases[i].name, cases[i].contents, &err) == NULL);
        CHECK_EQ_INT(err.status, GT_ERR_PARSE);
        CHECK_MSG(strstr(err.message, cases[i].where) && strstr(err.message, cases[i].what), "%s", err.message);
    }
}

static void test_missing_column_lists_the_columns(void)
{
    gt_error err = {0};
    CHECK(load_data(GT_DATA_CSV, fixture("data/bigvul-mini.csv"), "func", "vul", &err) == NULL);
    CHECK_EQ_INT(err.status, GT_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "no column \"func\"") && strstr(err.message, "\"func_before\"") &&
                  strstr(err.message, "text_field"), "%s", err.message);
}

static void test_bad_label_names_file_line_and_value(void)
{
    gt_error err = {0};
    CHECK(load_csv_text("labels.csv", "text,label\na,0\nb,maybe\n", &err) == NULL);
    CHECK_EQ_INT(err.status, GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "labels.csv: line 3:") && strstr(err.message, "\"maybe\"") &&
                  strstr(err.message, "mapping"), "%s", err.message);
    CHECK(load_csv_text("two.csv", "text,label\na,0\nb,2\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "line 3") && strstr(err.message, "\"2\""), "%s", err.message);
    CHECK(load_csv_text("lead.csv", "text,label\na,0\nb,01\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "\"01\""), "%s", err.message);
}

static void test_label_mapping_turns_names_into_classes(void)
{
    gt_error err = {0};
    const char *path = test_path("named.csv");
    const char *csv = "text,label\nwin money,spam\nlunch?,ham\n";
    test_write_file(path, csv, strlen(csv));
    gt_label_name names[] = {{"ham", 0}, {"spam", 1}};
    gt_dataset *ds = load_with_names(GT_DATA_CSV, path, names, 2, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (ds) {
        CHECK_EQ_INT(ds->labels[0], 1);
        CHECK_EQ_INT(ds->labels[1], 0);
        CHECK_EQ_STR(ds->class_names[1], "spam");
        gt_dataset_free(ds);
    }
    csv = "text,label\nwin money,spam\nlunch?,eggs\n";
    test_write_file(path, csv, strlen(csv));
    CHECK(load_with_names(GT_DATA_CSV, path, names, 2, &err) == NULL);
    CHECK_EQ_INT(err.status, GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "line 3") && strstr(err.message, "\"eggs\"") && strstr(err.message, "ham, spam"),
              "%s", err.message);
}

/* Each maximal ill-formed subsequence becomes one U+FFFD: the count matches
 * Python's errors="replace", an independent decoder. */
static void test_invalid_utf8_is_replaced_and_counted(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_data(GT_DATA_CSV, fixture("data/nonutf8.csv"), NULL, NULL, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (!ds)
        return;
    char *out = run_python("import csv, sys\n"
                           "f = open(sys.argv[1], newline='', encoding='utf-8', errors='replace')\n"
                           "texts = [r[0] for r in list(csv.reader(f))[1:]]\n"
                           "print(sum(t.count('\\ufffd') for t in texts), sum('\\ufffd' in t for t in texts))\n",
                           fixture("data/nonutf8.csv"), NULL);
    size_t replaced = 0, texts = 0;
    CHECK(out && sscanf(out, "%zu %zu", &replaced, &texts) == 2);
    CHECK_EQ_INT(replaced, 8);  /* 1 + 3 + 3 + 1, counted by hand in make_data_fixtures.py's comment */
    CHECK_EQ_INT(ds->stats.invalid_utf8, replaced);
    CHECK_EQ_INT(ds->stats.texts_with_invalid_utf8, texts);
    CHECK_EQ_STR(ds->texts[0], "ok \xc3\xa9 valid");
    CHECK_EQ_STR(ds->texts[1], "bad \xef\xbf\xbd byte");
    CHECK_EQ_STR(ds->texts[4], "latin-1 caf\xef\xbf\xbd");
    free(out);
    gt_dataset_free(ds);
}

static void test_sizes_are_bounded(void)
{
    gt_error err = {0};
    gt_data_options opt;
    bigvul_options(&opt);
    opt.max_field_bytes = 40;
    gt_dataset *ds = NULL;
    CHECK_EQ_INT(gt_dataset_load(&ds, &opt, &err), GT_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "line 2") && strstr(err.message, "40-byte field limit"), "%s", err.message);

    const char *path = test_path("runaway.csv");
    const char *csv = "text,label\n\"an open quote swallows the rest of the file,0\nand,1\nmore,0\n";
    test_write_file(path, csv, strlen(csv));
    opt.path = path;
    opt.text_field = "text";
    opt.label_field = "label";
    opt.id_field = NULL;
    opt.max_field_bytes = 0;
    opt.max_record_bytes = 32;
    CHECK_EQ_INT(gt_dataset_load(&ds, &opt, &err), GT_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "starting at line 2") && strstr(err.message, "record limit"), "%s", err.message);

    opt.max_record_bytes = 0;
    opt.max_file_bytes = 16;
    CHECK_EQ_INT(gt_dataset_load(&ds, &opt, &err), GT_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "16-byte file limit"), "%s", err.message);
}

/* Only EF BB BF is a byte order mark: a header starting with U+FF34 (EF BC B4) keeps it. */
static void test_other_leading_bytes_are_not_a_byte_order_mark(void)
{
    gt_error err = {0};
    CHECK(load_csv_text("wide.csv", "\xef\xbc\xb4" "ext,label\na,0\nb,1\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "no column \"text\"") && strstr(err.message, "\"\xef\xbc\xb4" "ext\""), "%s",
              err.message);
}

static void test_blank_lines_and_lone_cr(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_csv_text("blank.csv", "text,label\n\na,0\n\n\nb,1\n\n", &err);
    CHECK_MSG(ds && ds->n == 2, "%s", err.message);
    gt_dataset_free(ds);
    ds = load_csv_text("cr.csv", "text,label\ra,0\rb,1", &err);
    CHECK_MSG(ds && ds->n == 2 && !strcmp(ds->texts[1], "b"), "%s", err.message);
    gt_dataset_free(ds);
}

static void test_empty_and_one_class_sets_are_refused(void)
{
    gt_error err = {0};
    CHECK(load_csv_text("nothing.csv", "", &err) == NULL);
    CHECK_MSG(strstr(err.message, "nothing.csv") && strstr(err.message, "no header"), "%s", err.message);
    CHECK(load_csv_text("header.csv", "text,label\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "header.csv") && strstr(err.message, "empty"), "%s", err.message);
    CHECK(load_csv_text("ham.csv", "text,label\na,0\nb,0\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "ham.csv") && strstr(err.message, "class 1") &&
                  strstr(err.message, "no samples"), "%s", err.message);
    CHECK(load_data(GT_DATA_CSV, test_path("missing.csv"), NULL, NULL, &err) == NULL);
    CHECK_EQ_INT(err.status, GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "missing.csv") != NULL);
}

int main(void)
{
    RUN(test_rfc4180_quoting_and_line_breaks);
    RUN(test_bigvul_columns_hold_multiline_code);
    RUN(test_agrees_with_python_csv_module);
    RUN(test_malformed_csv_names_the_line);
    RUN(test_missing_column_lists_the_columns);
    RUN(test_bad_label_names_file_line_and_value);
    RUN(test_label_mapping_turns_names_into_classes);
    RUN(test_invalid_utf8_is_replaced_and_counted);
    RUN(test_sizes_are_bounded);
    RUN(test_other_leading_bytes_are_not_a_byte_order_mark);
    RUN(test_blank_lines_and_lone_cr);
    RUN(test_empty_and_one_class_sets_are_refused);
    return test_summary();
}
