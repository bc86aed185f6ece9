/* JSON Lines and JSON array data sets (Devign's func / target): fields by
 * name, labels as numbers, booleans or mapped names, errors with line numbers. */
#include "data_tests.h"

static gt_dataset *load_jsonl_text(const char *name, const char *contents, gt_error *err)
{
    return load_text_as(GT_DATA_JSONL, name, contents, err);
}

static void test_devign_jsonl_fields_and_ids(void)
{
    gt_error err = {0};
    gt_data_options opt;
    devign_options(&opt);
    opt.id_field = "commit_id";
    gt_dataset *ds = load_options(&opt, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (!ds)
        return;
    CHECK_EQ_INT(ds->n, 4);  /* the blank line is not a record */
    static const int target[] = {1, 0, 0, 1};
    static const char *ids[] = {"973b1a6", "1a2b3c4", "5d6e7f8", "9a8b7c6"};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(ds->labels[i], target[i]);
        CHECK_EQ_STR(ds->ids[i], ids[i]);
    }
    CHECK_EQ_STR(ds->texts[1], "void cpu_reset(CPUState *s) { s->pc = 0; }");
    CHECK_EQ_STR(ds->texts[2], "int \"quoted\" = '\\t'; // unicode \xc3\xa9 \xe4\xb8\xad");
    gt_dataset_free(ds);
}

static void test_json_array_reads_the_same_records(void)
{
    gt_error err = {0};
    gt_dataset *lines = load_data(GT_DATA_JSONL, fixture("data/devign-mini.jsonl"), "func", "target", &err);
    gt_dataset *array = load_data(GT_DATA_JSON, fixture("data/devign-mini.json"), "func", "target", &err);
    CHECK_MSG(lines && array, "%s", err.message);
    if (lines && array) {
        CHECK_EQ_INT(array->n, lines->n);
        for (size_t i = 0; i < lines->n && i < array->n; i++) {
            CHECK_EQ_STR(array->texts[i], lines->texts[i]);
            CHECK_EQ_INT(array->labels[i], lines->labels[i]);
        }
    }
    gt_dataset_free(lines);
    gt_dataset_free(array);
}

static void test_booleans_and_integral_numbers_are_labels(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_data(GT_DATA_JSONL, fixture("data/labels-bools.jsonl"), NULL, NULL, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (ds) {
        CHECK_EQ_INT(ds->labels[0], 1);
        CHECK_EQ_INT(ds->labels[1], 0);
        CHECK_EQ_INT(ds->labels[2], 1);
        gt_dataset_free(ds);
    }
    CHECK(load_jsonl_text("half.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 0.5}\n",
                          &err) == NULL);
    CHECK_MSG(strstr(err.message, "line 2") && strstr(err.message, "\"0.5\""), "%s", err.message);
}

static void test_string_labels_need_a_mapping(void)
{
    gt_error err = {0};
    CHECK(load_data(GT_DATA_JSONL, fixture("data/labels-strings.jsonl"), NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "labels-strings.jsonl: line 1") && strstr(err.message, "\"spam\"") &&
                  strstr(err.message, "label mapping"), "%s", err.message);
    gt_label_name names[] = {{"ham", 0}, {"spam", 1}};
    gt_dataset *ds = load_with_names(GT_DATA_JSONL, fixture("data/labels-strings.jsonl"), names, 2, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (ds) {
        CHECK_EQ_INT(ds->labels[0], 1);
        CHECK_EQ_INT(ds->labels[1], 0);
        CHECK_EQ_INT(ds->labels[2], 1);
        CHECK_EQ_STR(ds->class_names[0], "ham");
        gt_dataset_free(ds);
    }
}

static void test_malformed_records_name_their_line(void)
{
    gt_error err = {0};
    CHECK(load_jsonl_text("broken.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": }\n",
                          &err) == NULL);
    CHECK_EQ_INT(err.status, GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "broken.jsonl: line 2") && strstr(err.message, "invalid JSON"), "%s",
              err.message);
    CHECK(load_data(GT_DATA_JSONL, fixture("data/devign-mini.jsonl"), "code", "target", &err) == NULL);
    CHECK_MSG(strstr(err.message, "line 1") && strstr(err.message, "no \"code\" field"), "%s", err.message);
    CHECK(load_jsonl_text("number.jsonl", "{\"text\": 5, \"label\": 0}\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "\"text\" is not a string"), "%s", err.message);
    CHECK(load_jsonl_text("null.jsonl", "{\"text\": \"a\", \"label\": null}\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "line 1") && strstr(err.message, "is null"), "%s", err.message);
    CHECK(load_jsonl_text("array.jsonl", "[1, 2]\n", &err) == NULL);
    CHECK_MSG(strstr(err.message, "expected a JSON object"), "%s", err.message);

    const char *path = test_path("object.json");
    const char *json = "{\"text\": \"a\"}";
    test_write_file(path, json, strlen(json));
    CHECK(load_data(GT_DATA_JSON, path, NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "not an array") && strstr(err.message, "jsonl"), "%s", err.message);
    json = "[\n{\"text\": \"a\", \"label\": 0},\n{\"text\": \n";
    test_write_file(path, json, strlen(json));
    CHECK(load_data(GT_DATA_JSON, path, NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "object.json: line 3") && strstr(err.message, "invalid JSON"), "%s", err.message);
    json = "[{\"text\": \"a\", \"label\": 0}, {\"text\": \"b\", \"label\": 7}]";
    test_write_file(path, json, strlen(json));
    CHECK(load_data(GT_DATA_JSON, path, NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "record 1") && strstr(err.message, "\"7\""), "%s", err.message);
}

static void test_long_lines_are_bounded(void)
{
    gt_error err = {0};
    gt_data_options opt;
    devign_options(&opt);
    opt.max_record_bytes = 100;
    gt_dataset *ds = NULL;
    CHECK_EQ_INT(gt_dataset_load(&ds, &opt, &err), GT_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "line 1") && strstr(err.message, "100-byte record limit"), "%s", err.message);
}

int main(void)
{
    RUN(test_devign_jsonl_fields_and_ids);
    RUN(test_json_array_reads_the_same_records);
    RUN(test_booleans_and_integral_numbers_are_labels);
    RUN(test_string_labels_need_a_mapping);
    RUN(test_malformed_records_name_their_line);
    RUN(test_long_lines_are_bounded);
    return test_summary();
}
