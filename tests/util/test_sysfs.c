/* sysfs helpers: paths under $GREENTUNE_SYSFS_ROOT, bounded reads, writes that
 * never create files, and errors that say what is wrong. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_support.h"
#include "util/sysfs.h"

static void test_paths_follow_the_root_variable(void)
{
    char path[512];
    unsetenv("GREENTUNE_SYSFS_ROOT");
    CHECK_EQ_INT(gt_sysfs_path(path, sizeof path, NULL, "class/powercap/%s", "intel-rapl:0"), GT_OK);
    CHECK_EQ_STR(path, "/sys/class/powercap/intel-rapl:0");
    setenv("GREENTUNE_SYSFS_ROOT", "/tmp/fake//", 1);
    CHECK_EQ_INT(gt_sysfs_path(path, sizeof path, NULL, "%s", "devices"), GT_OK);
    CHECK_EQ_STR(path, "/tmp/fake/devices");
    gt_error err = {0};
    char tiny[8];
    CHECK_EQ_INT(gt_sysfs_path(tiny, sizeof tiny, &err, "%s", "devices/system"), GT_ERR_INVALID);
}

static void test_reads_trim_and_parse(void)
{
    gt_error err = {0};
    char text[64];
    uint64_t v = 0;
    test_write_file(test_path("limit"), "125000000\n", 10);
    CHECK_EQ_INT(gt_sysfs_read_u64(test_path("limit"), &v, &err), GT_OK);
    CHECK_EQ_INT(v, 125000000);
    test_write_file(test_path("governors"), "performance powersave \n", 23);
    CHECK_EQ_INT(gt_sysfs_read_string(test_path("governors"), text, sizeof text, &err), GT_OK);
    CHECK_EQ_STR(text, "performance powersave");
}

static void test_read_errors_say_what_is_wrong(void)
{
    gt_error err = {0};
    uint64_t v;
    char text[8];
    CHECK_EQ_INT(gt_sysfs_read_u64(test_path("missing"), &v, &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "missing: does not exist") != NULL);
    test_write_file(test_path("garbage"), "12ab\n", 5);
    CHECK_EQ_INT(gt_sysfs_read_u64(test_path("garbage"), &v, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "garbage: expected a number, found \"12ab\"") != NULL);
    test_write_file(test_path("negative"), "-1\n", 3);
    CHECK_EQ_INT(gt_sysfs_read_u64(test_path("negative"), &v, &err), GT_ERR_PARSE);
    /* strtoull skips the blank and wraps the negative: 2^64 - 5, not an error. */
    test_write_file(test_path("blank-negative"), " -5\n", 4);
    CHECK_EQ_INT(gt_sysfs_read_u64(test_path("blank-negative"), &v, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "expected a number, found \" -5\"") != NULL);
    test_write_file(test_path("nul"), "184\0junk\n", 9);
    CHECK_EQ_INT(gt_sysfs_read_u64(test_path("nul"), &v, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "holds a NUL byte") != NULL);
    test_write_file(test_path("long"), "0123456789abcdef", 16);
    CHECK_EQ_INT(gt_sysfs_read_string(test_path("long"), text, sizeof text, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "longer than 7 bytes") != NULL);
    mkdir(test_path("dir"), 0755);
    CHECK_EQ_INT(gt_sysfs_read_string(test_path("dir"), text, sizeof text, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "dir: is a directory, expected a sysfs file") != NULL);
}

static void test_writes_replace_and_never_create(void)
{
    gt_error err = {0};
    test_write_file(test_path("max_freq"), "3500000\n", 8);
    CHECK_EQ_INT(gt_sysfs_write_u64(test_path("max_freq"), 2000000, &err), GT_OK);
    char *data = test_read_file(test_path("max_freq"), NULL);
    CHECK_EQ_STR(data, "2000000");
    free(data);
    CHECK_EQ_INT(gt_sysfs_write_string(test_path("nothing_here"), "1", &err), GT_ERR_NOT_FOUND);
    CHECK(test_read_file(test_path("nothing_here"), NULL) == NULL);
    mkdir(test_path("dir"), 0755);
    CHECK_EQ_INT(gt_sysfs_write_string(test_path("dir"), "1", &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "is a directory") != NULL);
}

int main(void)
{
    RUN(test_paths_follow_the_root_variable);
    RUN(test_reads_trim_and_parse);
    RUN(test_read_errors_say_what_is_wrong);
    RUN(test_writes_replace_and_never_create);
    return test_summary();
}
