/* gt_dataset_parse: the single-file formats read from memory give the data set
 * gt_dataset_load gives from the file (the file path is tested against Python's
 * readers elsewhere); directory formats are refused; sizes are bounded the same. */
#include "data_tests.h"

static void check_same(const gt_data_options *opt)
{
    gt_error err = {0};
    gt_dataset *from_file = NULL, *from_memory = NULL;
    CHECK_MSG(gt_dataset_load(&from_file, opt, &err) == GT_OK, "%s: %s", opt->path, err.message);
    size_t len = 0;
    char *text = test_read_file(opt->path, &len);
    CHECK_MSG(gt_dataset_parse(&from_memory, opt, text, len, &err) == GT_OK, "%s: %s", opt->path, err.message);
    if (from_file && from_memory) {
        CHECK_EQ_INT(from_memory->n, from_file->n);
        for (size_t i = 0; i < from_file->n && i < from_memory->n; i++) {
            CHECK_EQ_INT(from_memory->lengths[i], from_file->lengths[i]);
            CHECK(!memcmp(from_memory->texts[i], from_file->texts[i], from_file->lengths[i]));
            CHECK_EQ_INT(from_memory->labels[i], from_file->labels[i]);
            CHECK_EQ_STR(from_memory->ids[i], from_file->ids[i]);
        }
        CHECK_EQ_INT(from_memory->stats.invalid_utf8, from_file->stats.invalid_utf8);
    }
    gt_dataset_free(from_file);
    gt_dataset_free(from_memory);
    free(text);
}

static void test_memory_reads_like_the_file(void)
{
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.format = GT_DATA_CSV;
    opt.path = fixture("data/rfc4180.csv");
    opt.id_field = "id";
    check_same(&opt);
    opt.id_field = NULL;
    opt.path = fixture("data/nonutf8.csv");
    check_same(&opt);
    bigvul_options(&opt);
    check_same(&opt);
    devign_options(&opt);
    check_same(&opt);
    opt.format = GT_DATA_JSON;
    opt.path = fixture("data/devign-mini.json");
    check_same(&opt);
}

static void test_directories_and_limits(void)
{
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.path = "memory";
    gt_dataset *ds = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_dataset_parse(&ds, &opt, "", 0, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "spamassassin is a directory"), "%s", err.message);
    opt.format = GT_DATA_JSON;
    opt.max_file_bytes = 8;
    const char *json = "[{\"text\": \"a\", \"label\": 0}]";
    CHECK_EQ_INT(gt_dataset_parse(&ds, &opt, json, strlen(json), &err), GT_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "memory: larger than the 8-byte file limit"), "%s", err.message);
    opt.format = GT_DATA_CSV;
    CHECK_EQ_INT(gt_dataset_parse(&ds, &opt, "", 0, &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "no header row"), "%s", err.message);
    CHECK(ds == NULL);
}

int main(void)
{
    RUN(test_memory_reads_like_the_file);
    RUN(test_directories_and_limits);
    return test_summary();
}
