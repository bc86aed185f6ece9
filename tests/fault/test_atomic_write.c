/* A full disk or a failing device while a file is replaced — results
 * (gt_write_file_atomic, gt_json_write_file) and checkpoints
 * (gt_safetensors_write): whatever call fails, the previous file survives byte
 * for byte, no temporary file is left beside it, and the error is one line
 * naming the file and the cause. */
#include <errno.h>
#include <string.h>

#include "fault.h"
#include "greentune/fileio.h"
#include "greentune/safetensors.h"
#include "test_support.h"

/* Every call of the write path that can fail, with the errno a full disk, a
 * quota or a dying device gives. */
static const struct {
    const char *plan, *cause;
} failures[] = {
    {"fwrite:0:ENOSPC", "No space left on device"},
    {"fflush:0:ENOSPC", "No space left on device"},
    {"fwrite:0:EDQUOT", "Disk quota exceeded"},
    {"fsync:0:EIO", "Input/output error"},
    {"rename:0:EIO", "Input/output error"},
};

static void check_one_line(const char *message)
{
    CHECK_MSG(message[0] && !strpbrk(message, "\r\n"), "not one line: %s", message);
}

static void test_previous_result_survives_every_failure(void)
{
    const char *path = test_path("result.json");
    gt_error err = {0};
    CHECK_EQ_INT(gt_write_file_atomic(path, "{\"old\": 1}\n", 11, &err), GT_OK);
    size_t big = 1 << 20; /* more than stdio buffers, so the data really moves */
    char *data = malloc(big);
    memset(data, 'x', big);
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        char plan[128];
        snprintf(plan, sizeof plan, "%s:result.json", failures[i].plan);
        fault_plan(plan);
        gt_status status = gt_write_file_atomic(path, data, big, &err);
        long failed = fault_failed();
        fault_plan("");
        CHECK_MSG(status == GT_ERR_IO, "%s: status %d", failures[i].plan, status);
        CHECK_MSG(failed >= 1, "%s: the fault never fired", failures[i].plan);
        CHECK_MSG(strstr(err.message, path) && strstr(err.message, failures[i].cause), "%s: %s", failures[i].plan,
                  err.message);
        check_one_line(err.message);
        size_t len = 0;
        char *now = test_read_file(path, &len);
        CHECK_MSG(now && len == 11 && !memcmp(now, "{\"old\": 1}\n", 11), "%s: the previous file changed",
                  failures[i].plan);
        free(now);
        CHECK_EQ_INT(count_entries(test_tmpdir(), "result.json.tmp-"), 0);
    }
    /* With the disk back, the same write goes through. */
    CHECK_EQ_INT(gt_write_file_atomic(path, data, big, &err), GT_OK);
    size_t len = 0;
    char *now = test_read_file(path, &len);
    CHECK(now && len == big && !memcmp(now, data, big));
    free(now);
    free(data);
}

/* No previous file: a failed write creates nothing at all. */
static void test_failed_new_file_leaves_nothing(void)
{
    const char *path = test_path("fresh.json");
    gt_error err = {0};
    fault_plan("fsync:0:ENOSPC:fresh.json");
    CHECK_EQ_INT(gt_write_file_atomic(path, "{}\n", 3, &err), GT_ERR_IO);
    fault_plan("");
    CHECK(test_read_file(path, NULL) == NULL);
    CHECK_EQ_INT(count_entries(test_tmpdir(), "fresh.json"), 0);
}

/* Two small tensors; version v scales the values so the versions differ. */
static gt_status write_checkpoint(const char *path, float v, gt_error *err)
{
    static float w[6], b[3];
    for (int i = 0; i < 6; i++)
        w[i] = v * (float)(i + 1);
    for (int i = 0; i < 3; i++)
        b[i] = -v * (float)i;
    static const uint64_t w_shape[2] = {2, 3}, b_shape[1] = {3};
    gt_tensor_desc tensors[2] = {{"layer.weight", GT_DTYPE_F32, 2, w_shape, w},
                                 {"layer.bias", GT_DTYPE_F32, 1, b_shape, b}};
    gt_metadata_entry meta[1] = {{"step", v == 1 ? "100" : "200"}};
    return gt_safetensors_write(path, tensors, 2, meta, 1, err);
}

/* The file holds version v, checked value by value. */
static int checkpoint_is(const char *path, float v)
{
    gt_safetensors *st = NULL;
    gt_error err = {0};
    if (gt_safetensors_open(path, &st, &err) != GT_OK)
        return 0;
    const gt_tensor_info *w = gt_safetensors_find(st, "layer.weight");
    float values[6];
    int ok = w && gt_tensor_to_f32(values, w, 6, &err) == GT_OK;
    for (int i = 0; ok && i < 6; i++)
        ok = values[i] == v * (float)(i + 1);
    const char *step = gt_safetensors_metadata(st, "step");
    ok = ok && step && !strcmp(step, v == 1 ? "100" : "200");
    gt_safetensors_close(st);
    return ok;
}

/* The k-th write call of a checkpoint fails, for every k the write makes, and
 * each way the end can fail (flush, fsync, rename): the old checkpoint loads
 * unchanged every time; the first k past the last call lets the new one in. */
static void test_previous_checkpoint_survives(void)
{
    const char *path = test_path("model.safetensors");
    gt_error err = {0};
    CHECK_EQ_INT(write_checkpoint(path, 1, &err), GT_OK);
    static const char *const ops[] = {"fwrite", "fflush", "fsync", "rename"};
    int replaced = 0;
    for (size_t op = 0; op < 4; op++) {
        for (int k = 0; k < 8; k++) {
            char plan[128];
            snprintf(plan, sizeof plan, "%s:%d:ENOSPC:model.safetensors", ops[op], k);
            fault_plan(plan);
            gt_status status = write_checkpoint(path, 2, &err);
            long failed = fault_failed();
            fault_plan("");
            if (failed == 0) { /* k is past the last call: the write went through */
                CHECK_EQ_INT(status, GT_OK);
                CHECK(checkpoint_is(path, 2));
                replaced++;
                CHECK_EQ_INT(write_checkpoint(path, 1, &err), GT_OK); /* back to v1 for the next case */
                break;
            }
            CHECK_MSG(status == GT_ERR_IO, "%s: status %d (%s)", plan, status, err.message);
            CHECK_MSG(strstr(err.message, "model.safetensors") && strstr(err.message, "No space left"), "%s: %s",
                      plan, err.message);
            check_one_line(err.message);
            CHECK_MSG(checkpoint_is(path, 1), "%s: the previous checkpoint was damaged", plan);
            CHECK_EQ_INT(count_entries(test_tmpdir(), "model.safetensors.tmp-"), 0);
        }
    }
    CHECK_EQ_INT(replaced, 4); /* every op's loop reached a clean write */
}

int main(void)
{
    RUN(test_previous_result_survives_every_failure);
    RUN(test_failed_new_file_leaves_nothing);
    RUN(test_previous_checkpoint_survives);
    return test_summary();
}
