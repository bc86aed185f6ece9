/* Whole-file reads are bounded; atomic writes never leave a torn file. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greentune/fileio.h"
#include "test_support.h"

/* Counts directory entries whose name contains "tmp-" (leftover temp files). */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, "tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_atomic_write_replaces_whole_file(void)
{
    gt_error err = {0};
    const char *path = test_path("result.json");
    CHECK_EQ_INT(gt_write_file_atomic(path, "old contents", 12, &err), GT_OK);
    CHECK_EQ_INT(gt_write_file_atomic(path, "new", 3, &err), GT_OK);
    size_t len = 0;
    char *data = test_read_file(path, &len);
    CHECK_EQ_STR(data, "new");
    CHECK_EQ_INT(len, 3);
    CHECK_EQ_INT(count_temp_files(test_tmpdir()), 0);
    free(data);
}

static void test_aborted_write_keeps_previous_file(void)
{
    gt_error err = {0};
    const char *path = test_path("keep.txt");
    CHECK_EQ_INT(gt_write_file_atomic(path, "previous", 8, &err), GT_OK);
    gt_atomic_file file;
    CHECK_EQ_INT(gt_atomic_file_open(&file, path, &err), GT_OK);
    fputs("half-written", file.stream);
    gt_atomic_file_abort(&file);
    char *data = test_read_file(path, NULL);
    CHECK_EQ_STR(data, "previous");
    CHECK_EQ_INT(count_temp_files(test_tmpdir()), 0);
    free(data);
}

static void test_write_into_missing_directory_fails_clearly(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(gt_write_file_atomic(test_path("no/such/dir/out.json"), "x", 1, &err), GT_ERR_IO);
    CHECK(strstr(err.message, "no/such/dir/out.json") != NULL);
}

static void test_read_respects_size_limit(void)
{
    gt_error err = {0};
    const char *path = test_path("big.txt");
    char block[1000];
    memset(block, 'a', sizeof block);
    test_write_file(path, block, sizeof block);
    char *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(gt_read_file(path, 999, &data, &len, &err), GT_ERR_NOMEM);
    CHECK(data == NULL);
    CHECK(strstr(err.message, "999-byte limit") != NULL);
    CHECK_EQ_INT(gt_read_file(path, 1000, &data, &len, &err), GT_OK);
    CHECK_EQ_INT(len, 1000);
    CHECK_EQ_INT(data[1000], '\0');
    free(data);
}

static void test_read_missing_file_names_it(void)
{
    gt_error err = {0};
    char *data = NULL;
    CHECK_EQ_INT(gt_read_file(test_path("absent.json"), 100, &data, NULL, &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "absent.json") != NULL);
}

static void test_read_directory_is_refused(void)
{
    gt_error err = {0};
    char *data = NULL;
    CHECK_EQ_INT(gt_read_file(test_tmpdir(), 100, &data, NULL, &err), GT_ERR_INVALID);
}

int main(void)
{
    RUN(test_atomic_write_replaces_whole_file);
    RUN(test_aborted_write_keeps_previous_file);
    RUN(test_write_into_missing_directory_fails_clearly);
    RUN(test_read_respects_size_limit);
    RUN(test_read_missing_file_names_it);
    RUN(test_read_directory_is_refused);
    return test_summary();
}
