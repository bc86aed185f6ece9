/* A directory with one sub-directory per class and one text per file:
 * PATH/<class>/<file>. Classes are named after the directories: with a label
 * mapping each directory name must be in it; else names that are labels
 * ("0", "1", "true", "false") stand for themselves; else the directories in
 * sorted order are classes 0, 1, ... (so ham/ and spam/ give ham = 0, spam = 1). */
#include "data/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"

/* The class of each directory under the rules above. */
static gt_status classify_directories(gt_dataset_builder *b, char **dirs, size_t n, int *labels, gt_error *err)
{
    gt_error ignored;
    int all_labels = 1;
    for (size_t i = 0; i < n; i++)
        if (gt_label_parse(b, dirs[i], strlen(dirs[i]), b->opt.path, &labels[i], &ignored) != GT_OK)
            all_labels = 0;
    if (all_labels)
        return GT_OK;
    if (b->opt.n_label_names) {  /* a mapping is given: every directory must be in it */
        char where[4096];
        for (size_t i = 0; i < n; i++) {
            snprintf(where, sizeof where, "%s/%s", b->opt.path, dirs[i]);
            gt_status status = gt_label_parse(b, dirs[i], strlen(dirs[i]), where, &labels[i], err);
            if (status != GT_OK)
                return status;
        }
        return GT_OK;
    }
    if (n > GT_DATA_MAX_CLASSES)
        return gt_error_set(err, GT_ERR_INVALID, "%s: %zu class directories — at most %d are supported", b->opt.path,
                            n, GT_DATA_MAX_CLASSES);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int)i;
    return gt_builder_set_classes(b, dirs, (int)n, err);
}

gt_status gt_read_textdir(gt_dataset_builder *b, gt_error *err)
{
    const char *root = b->opt.path;
    char **dirs;
    size_t n_dirs;
    gt_status status = gt_list_directory(root, 1, &dirs, &n_dirs, err);
    if (status != GT_OK)
        return status;
    if (n_dirs == 0) {
        gt_free_names(dirs, n_dirs);
        return gt_error_set(err, GT_ERR_INVALID, "%s: no class directories — put each class's files in its own "
                            "sub-directory (PATH/ham/*.txt, PATH/spam/*.txt)", root);
    }
    int *labels = calloc(n_dirs, sizeof *labels);
    if (!labels)
        status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", root);
    else
        status = classify_directories(b, dirs, n_dirs, labels, err);
    for (size_t d = 0; d < n_dirs && status == GT_OK; d++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, dirs[d]);
        char **files;
        size_t n_files;
        status = gt_list_directory(dir, 0, &files, &n_files, err);
        for (size_t i = 0; i < n_files && status == GT_OK; i++) {
            char path[8192], id[8192];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            int id_len = snprintf(id, sizeof id, "%s/%s", dirs[d], files[i]);
            char *text;
            size_t len;
            status = gt_read_file(path, b->opt.max_field_bytes, &text, &len, err);
            if (status != GT_OK)
                break;
            status = gt_builder_add(b, text, len, labels[d], id, (size_t)id_len, path, err);
            free(text);
        }
        gt_free_names(files, n_files);
    }
    free(labels);
    gt_free_names(dirs, n_dirs);
    return status;
}
