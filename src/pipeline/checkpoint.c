/* The save stage and checkpoint directories.
 *
 * A checkpoint is a Hugging Face model directory: config.json (with the data
 * set's class names), model.safetensors (F32, HF names) and tokenizer.json
 * (with the run's truncation, so `greentune predict` and Hugging Face cut
 * texts where training did). It is written into a fresh directory beside the
 * target and moved into place in one rename when the whole run has succeeded,
 * so --out never holds a half-written or a failed run's model: it holds the
 * previous checkpoint or the new one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greentune/config.h"
#include "pipeline/hf_config.h"
#include "pipeline/pipeline_internal.h"

static const char *const checkpoint_files[] = {"config.json", "model.safetensors", "tokenizer.json", NULL};

static int is_checkpoint_file(const char *name)
{
    for (const char *const *f = checkpoint_files; *f; f++)
        if (!strcmp(name, *f))
            return 1;
    return 0;
}

/* The parent directory of path, in buf. */
static const char *parent_of(const char *path, char *buf, size_t size)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(buf, size, "%s", dirname(copy));
    return buf;
}

gt_status pl_out_dir_check(const char *out_dir, gt_error *err)
{
    if (!out_dir)
        return GT_OK;
    struct stat st;
    if (!*out_dir)
        return gt_error_set(err, GT_ERR_INVALID, "--out: empty directory name");
    if (stat(out_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return gt_error_set(err, GT_ERR_INVALID, "--out %s: exists and is not a directory; pick another name",
                                out_dir);
        DIR *d = opendir(out_dir);
        if (!d)
            return gt_error_set(err, GT_ERR_PERMISSION, "--out %s: %s", out_dir, strerror(errno));
        struct dirent *e;
        const char *stranger = NULL;
        while (!stranger && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !is_checkpoint_file(e->d_name))
                stranger = e->d_name;
        gt_status s = stranger ? gt_error_set(err, GT_ERR_INVALID,
                                              "--out %s: holds \"%s\", so it is not a model directory greentune may "
                                              "replace; pick a new directory or empty it", out_dir, stranger)
                               : GT_OK;
        closedir(d);
        return s;
    } else if (errno != ENOENT) {
        return gt_error_set(err, GT_ERR_IO, "--out %s: %s", out_dir, strerror(errno));
    }
    char parent[4096];
    parent_of(out_dir, parent, sizeof parent);
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return gt_error_set(err, GT_ERR_NOT_FOUND, "--out %s: directory '%s' does not exist; create it first",
                            out_dir, parent);
    if (access(parent, W_OK) != 0)
        return gt_error_set(err, GT_ERR_PERMISSION, "--out %s: directory '%s' is not writable; pick another place",
                            out_dir, parent);
    return GT_OK;
}

gt_status pl_checkpoint_dir_create(const char *out_dir, char **dir, gt_error *err)
{
    char path[4096];
    if (out_dir) {
        char copy[4096], parent[4096];
        snprintf(copy, sizeof copy, "%s", out_dir);
        snprintf(path, sizeof path, "%s/.%s.tmp-XXXXXX", parent_of(out_dir, parent, sizeof parent), basename(copy));
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/greentune-checkpoint-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    }
    if (!mkdtemp(path))
        return gt_error_set(err, GT_ERR_IO, "save: cannot create a directory like %s: %s", path, strerror(errno));
    *dir = strdup(path);
    if (!*dir) {
        rmdir(path);
        return gt_error_set(err, GT_ERR_NOMEM, "save: out of memory");
    }
    return GT_OK;
}

void pl_checkpoint_remove(const char *dir)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    rmdir(dir);
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

gt_status pl_checkpoint_commit(const char *dir, const char *out_dir, gt_error *err)
{
    char parent[4096];
    parent_of(out_dir, parent, sizeof parent);
    /* Absent or empty: one rename. Holding an older checkpoint: swap the two
     * atomically, then remove the old one (now at dir). */
    if (rename(dir, out_dir) != 0) {
        if (errno != ENOTEMPTY && errno != EEXIST)
            return gt_error_set(err, GT_ERR_IO, "--out %s: cannot move the checkpoint there: %s", out_dir,
                                strerror(errno));
        if (renameat2(AT_FDCWD, dir, AT_FDCWD, out_dir, RENAME_EXCHANGE) != 0)
            return gt_error_set(err, GT_ERR_IO, "--out %s: cannot replace the older checkpoint there: %s — "
                                "remove it, or pick another --out", out_dir, strerror(errno));
        pl_checkpoint_remove(dir);
    }
    sync_dir(parent);
    return GT_OK;
}

/* The run's truncation in tokenizer.json, in Hugging Face's form. */
static gt_status set_truncation(const char *path, size_t max_len, gt_error *err)
{
    cJSON *root;
    gt_status st = gt_json_load(path, &root, err);
    if (st != GT_OK)
        return st;
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "direction", "Right");
    cJSON_AddNumberToObject(t, "max_length", (double)max_len);
    cJSON_AddStringToObject(t, "strategy", "LongestFirst");
    cJSON_AddNumberToObject(t, "stride", 0);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "truncation");
    cJSON_AddItemToObject(root, "truncation", t);
    st = gt_json_write_file(path, root, err);
    cJSON_Delete(root);
    return st;
}

static double file_bytes(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (double)st.st_size : 0;
}

gt_status pl_stage_save(gt_pipeline_ctx *p, const char *dir, gt_error *err)
{
    gt_status st = pl_hooks_run(p, GT_HOOK_SAVE, err);
    if (st != GT_OK)
        return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    st = pl_hf_config_write(gt_nn_model_config(p->model), (const char *const *)p->ds->class_names,
                            p->ds->n_classes, path, err);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st == GT_OK)
        st = gt_nn_model_save(p->model, path, err);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (st == GT_OK)
        st = gt_tokenizer_save(p->tok, path, err);
    if (st == GT_OK)
        st = set_truncation(path, p->encode.max_len, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "save: ");
    double bytes = 0;
    for (const char *const *f = checkpoint_files; *f; f++)
        bytes += file_bytes(dir, *f);
    cJSON_AddNumberToObject(p->model_json, "checkpoint_bytes", bytes);
    return GT_OK;
}
