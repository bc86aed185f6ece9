/* Data sets stored as directories: SpamAssassin as `make data` unpacks it, and
 * one sub-directory of text files per class. */
#include <sys/stat.h>

#include "data_tests.h"

static void test_spamassassin_groups_and_labels(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_data(GT_DATA_SPAMASSASSIN, fixture("data/spamassassin"), NULL, NULL, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (!ds)
        return;
    /* Group order easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2; .txt copies ignored. */
    static const char *ids[] = {"easy-ham-1/00001", "easy-ham-1/00002", "hard-ham-1/00001", "spam-1/00001",
                                "spam-2/00001"};
    static const int labels[] = {0, 0, 0, 1, 1};
    CHECK_EQ_INT(ds->n, 5);
    for (size_t i = 0; i < ds->n && i < 5; i++) {
        CHECK_EQ_STR(ds->ids[i], ids[i]);
        CHECK_EQ_INT(ds->labels[i], labels[i]);
    }
    CHECK_EQ_STR(ds->class_names[0], "ham");
    CHECK_EQ_STR(ds->class_names[1], "spam");
    CHECK_EQ_STR(ds->texts[3], "From: win@prize.example\nSubject: WINNER!!!\n\nClaim your $1,000,000 prize now.");
    CHECK_EQ_INT(ds->class_counts[1], 2);
    gt_dataset_free(ds);
}

static void test_spamassassin_missing_says_make_data(void)
{
    gt_error err = {0};
    CHECK(load_data(GT_DATA_SPAMASSASSIN, test_path("no-data"), NULL, NULL, &err) == NULL);
    CHECK_EQ_INT(err.status, GT_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "no-data") && strstr(err.message, "make data"), "%s", err.message);
    mkdir(test_path("empty-corpus"), 0755);
    CHECK(load_data(GT_DATA_SPAMASSASSIN, test_path("empty-corpus"), NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "make data"), "%s", err.message);
}

static void test_spamassassin_damaged_file_is_named(void)
{
    gt_error err = {0};
    mkdir(test_path("damaged"), 0755);
    mkdir(test_path("damaged/spam-1"), 0755);
    test_write_file(test_path("damaged/spam-1/00001.x.json"), "{\"id\": \"00001\", \"group\": \"spam", 30);
    CHECK(load_data(GT_DATA_SPAMASSASSIN, test_path("damaged"), NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "spam-1/00001.x.json") && strstr(err.message, "make data"), "%s", err.message);
    const char *wrong = "{\"id\": \"00001\", \"group\": \"easy-ham-1\", \"text\": \"hi\"}";
    test_write_file(test_path("damaged/spam-1/00001.x.json"), wrong, strlen(wrong));
    CHECK(load_data(GT_DATA_SPAMASSASSIN, test_path("damaged"), NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "\"group\" is not \"spam-1\""), "%s", err.message);
}

static void test_text_directories_name_the_classes(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_data(GT_DATA_TEXTDIR, fixture("data/textdir"), NULL, NULL, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (!ds)
        return;
    CHECK_EQ_INT(ds->n, 3);  /* the hidden file is not a sample */
    CHECK_EQ_STR(ds->class_names[0], "ham");
    CHECK_EQ_STR(ds->class_names[1], "spam");
    CHECK_EQ_STR(ds->ids[2], "spam/001.txt");
    CHECK_EQ_INT(ds->labels[2], 1);
    /* 0xFF and 0xFE are two ill-formed subsequences. */
    CHECK_EQ_STR(ds->texts[2], "WIN \xef\xbf\xbd\xef\xbf\xbd money now!!!\n");
    CHECK_EQ_INT(ds->stats.invalid_utf8, 2);
    CHECK_EQ_INT(ds->stats.texts_with_invalid_utf8, 1);
    gt_dataset_free(ds);

    gt_label_name reversed[] = {{"spam", 0}, {"ham", 1}};
    ds = load_with_names(GT_DATA_TEXTDIR, fixture("data/textdir"), reversed, 2, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (ds) {
        CHECK_EQ_INT(ds->labels[0], 1);
        CHECK_EQ_INT(ds->labels[2], 0);
        CHECK_EQ_STR(ds->class_names[0], "spam");
        gt_dataset_free(ds);
    }
}

static void test_directories_named_like_labels_keep_their_label(void)
{
    gt_error err = {0};
    mkdir(test_path("numbered"), 0755);
    mkdir(test_path("numbered/1"), 0755);
    mkdir(test_path("numbered/0"), 0755);
    test_write_file(test_path("numbered/1/a.txt"), "vulnerable", 10);
    test_write_file(test_path("numbered/0/b.txt"), "safe", 4);
    gt_dataset *ds = load_data(GT_DATA_TEXTDIR, test_path("numbered"), NULL, NULL, &err);
    CHECK_MSG(ds != NULL, "%s", err.message);
    if (ds) {
        CHECK_EQ_STR(ds->texts[0], "safe");
        CHECK_EQ_INT(ds->labels[0], 0);
        CHECK_EQ_INT(ds->labels[1], 1);
        gt_dataset_free(ds);
    }
}

static void test_directory_without_classes_is_refused(void)
{
    gt_error err = {0};
    mkdir(test_path("flat"), 0755);
    test_write_file(test_path("flat/a.txt"), "text", 4);
    CHECK(load_data(GT_DATA_TEXTDIR, test_path("flat"), NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "flat") && strstr(err.message, "no class directories"), "%s", err.message);
    mkdir(test_path("lonely"), 0755);
    mkdir(test_path("lonely/ham"), 0755);
    test_write_file(test_path("lonely/ham/a.txt"), "text", 4);
    CHECK(load_data(GT_DATA_TEXTDIR, test_path("lonely"), NULL, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "lonely") && strstr(err.message, "only one class (\"ham\")"), "%s", err.message);
}

static void test_format_names(void)
{
    gt_error err = {0};
    gt_data_format f;
    CHECK_EQ_INT(gt_data_format_parse("jsonl", &f, &err), GT_OK);
    CHECK_EQ_INT(f, GT_DATA_JSONL);
    CHECK_EQ_STR(gt_data_format_name(GT_DATA_TEXTDIR), "textdir");
    CHECK_EQ_INT(gt_data_format_parse("parquet", &f, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "\"parquet\"") && strstr(err.message, "csv"), "%s", err.message);
    gt_data_options opt;
    gt_data_options_init(&opt);
    gt_dataset *ds;
    CHECK_EQ_INT(gt_dataset_load(&ds, &opt, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "no path"), "%s", err.message);
}

int main(void)
{
    RUN(test_spamassassin_groups_and_labels);
    RUN(test_spamassassin_missing_says_make_data);
    RUN(test_spamassassin_damaged_file_is_named);
    RUN(test_text_directories_name_the_classes);
    RUN(test_directories_named_like_labels_keep_their_label);
    RUN(test_directory_without_classes_is_refused);
    RUN(test_format_names);
    return test_summary();
}
