/* config.json with the class names of the data set: a saved checkpoint says
 * "spam", not "LABEL_1", in Hugging Face and in `greentune predict`. */
#include "pipeline/hf_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/hf.h"

void pl_class_names_free(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

gt_status pl_hf_config_read(const char *dir, gt_nn_config *cfg, char ***class_names, gt_error *err)
{
    *class_names = NULL;
    gt_config *json;
    gt_status st = gt_hf_load_config(dir, &json, err);
    if (st != GT_OK)
        return st;
    if ((st = gt_nn_config_from_hf(json, cfg, err)) == GT_OK) {
        *class_names = calloc((size_t)cfg->num_labels, sizeof **class_names);
        if (!*class_names)
            st = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", gt_config_label(json));
        for (int i = 0; st == GT_OK && i < cfg->num_labels; i++) {
            char key[32];
            snprintf(key, sizeof key, "id2label.%d", i);
            const cJSON *name = gt_config_get(json, key);
            if (cJSON_IsString(name) && !((*class_names)[i] = strdup(name->valuestring)))
                st = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", gt_config_label(json));
        }
        if (st != GT_OK) {
            pl_class_names_free(*class_names, cfg->num_labels);
            *class_names = NULL;
        }
    }
    gt_config_free(json);
    return st;
}

gt_status pl_hf_config_write(const gt_nn_config *cfg, const char *const *class_names, int n, const char *path,
                             gt_error *err)
{
    gt_status st = gt_nn_config_write_hf(cfg, path, err);
    if (st != GT_OK || !class_names)
        return st;
    cJSON *root;
    if ((st = gt_json_load(path, &root, err)) != GT_OK)
        return st;
    cJSON *id2label = cJSON_CreateObject(), *label2id = cJSON_CreateObject();
    for (int i = 0; i < n && id2label && label2id; i++) {
        char id[16], fallback[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(fallback, sizeof fallback, "LABEL_%d", i);
        const char *name = class_names[i] ? class_names[i] : fallback;
        cJSON_AddStringToObject(id2label, id, name);
        cJSON_AddNumberToObject(label2id, name, i);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(root, "id2label");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "label2id");
    cJSON_AddItemToObject(root, "id2label", id2label);
    cJSON_AddItemToObject(root, "label2id", label2id);
    st = gt_json_write_file(path, root, err);
    cJSON_Delete(root);
    return st;
}
