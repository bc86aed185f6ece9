/* config.json of a Hugging Face model directory, read and written with the
 * data set's class names in id2label / label2id. */
#ifndef GREENTUNE_PIPELINE_HF_CONFIG_H
#define GREENTUNE_PIPELINE_HF_CONFIG_H

#include "greentune/nn.h"

/* DIR/config.json into cfg; *class_names gets id2label's names (num_labels
 * entries, NULL where absent; free with pl_class_names_free). */
gt_status pl_hf_config_read(const char *dir, gt_nn_config *cfg, char ***class_names, gt_error *err);
void pl_class_names_free(char **names, int n);

/* Writes path (atomically) for cfg, with id2label / label2id from
 * class_names (n entries) instead of LABEL_i. */
gt_status pl_hf_config_write(const gt_nn_config *cfg, const char *const *class_names, int n, const char *path,
                             gt_error *err);

#endif
