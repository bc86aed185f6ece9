/* Classifying texts with a Hugging Face model directory — a checkpoint the
 * pipeline saved, or a downloaded bert / modernbert classifier. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/hf_config.h"
#include "pipeline/pipeline_internal.h"

struct gt_classifier {
    gt_nn_model *model;
    gt_tokenizer *tok;
    char **class_names;
    int num_labels;
    gt_encode_options encode;
    int32_t pad_id;
};

void gt_classifier_free(gt_classifier *c)
{
    if (!c)
        return;
    gt_nn_model_free(c->model);
    gt_tokenizer_free(c->tok);
    pl_class_names_free(c->class_names, c->num_labels);
    free(c);
}

gt_status gt_classifier_open(const char *model_dir, gt_classifier **out, gt_error *err)
{
    *out = NULL;
    gt_classifier *c = calloc(1, sizeof *c);
    if (!c)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", model_dir);
    gt_nn_config cfg;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
    gt_nn_load_report report = {0};
    gt_status st = pl_hf_config_read(model_dir, &cfg, &c->class_names, err);
    if (st == GT_OK) {
        c->num_labels = cfg.num_labels;
        if (cfg.num_labels > GT_METRICS_MAX_CLASSES)
            st = gt_error_set(err, GT_ERR_UNSUPPORTED, "%s/config.json: %d labels (greentune classifies 2 to %d)",
                              model_dir, cfg.num_labels, GT_METRICS_MAX_CLASSES);
    }
    if (st == GT_OK)
        st = gt_tokenizer_load(&c->tok, path, err);
    if (st == GT_OK)
        st = pl_check_vocab(c->tok, &cfg, model_dir, err);
    if (st == GT_OK && (st = gt_nn_model_create(&cfg, 0, &c->model, err)) != GT_OK)
        gt_error_prefix(err, "%s/config.json: ", model_dir);
    if (st == GT_OK)
        st = pl_load_weights(c->model, model_dir, NULL, 1, &report, err);
    if (st != GT_OK) {
        gt_classifier_free(c);
        return st;
    }
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(c->tok, &facts);
    gt_encode_options_init(&c->encode);
    size_t positions = (size_t)cfg.max_len;
    c->encode.max_len = facts.truncation_max_len && facts.truncation_max_len < positions ? facts.truncation_max_len
                                                                                          : positions;
    c->pad_id = facts.pad_id < 0 ? 0 : facts.pad_id;
    gt_nn_model_set_training(c->model, 0);
    *out = c;
    return GT_OK;
}

int gt_classifier_num_labels(const gt_classifier *c)
{
    return c->num_labels;
}

const char *gt_classifier_label_name(const gt_classifier *c, int label)
{
    return label >= 0 && label < c->num_labels ? c->class_names[label] : NULL;
}

const gt_tokenizer *gt_classifier_tokenizer(const gt_classifier *c)
{
    return c->tok;
}

size_t gt_classifier_max_len(const gt_classifier *c)
{
    return c->encode.max_len;
}

void gt_predictions_free(gt_prediction *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].ids);
        p[i].ids = NULL;
    }
}

static void softmax(const float *logits, int k, float *probs)
{
    float top = logits[0];
    for (int c = 1; c < k; c++)
        top = logits[c] > top ? logits[c] : top;
    double z = 0;
    for (int c = 0; c < k; c++)
        z += exp((double)logits[c] - top);
    for (int c = 0; c < k; c++)
        probs[c] = (float)(exp((double)logits[c] - top) / z);
}

gt_status gt_classifier_predict(gt_classifier *c, const char *const *texts, const size_t *lengths, size_t n,
                                size_t batch, gt_prediction *out, gt_error *err)
{
    memset(out, 0, n * sizeof *out);
    if (n == 0)
        return GT_OK;
    int k = c->num_labels;
    gt_encoded enc;
    gt_status st = gt_tokenizer_encode_batch(c->tok, texts, lengths, n, &c->encode, &enc, err);
    if (st != GT_OK)
        return st;
    gt_batch_options bo;
    gt_batch_options_init(&bo);
    bo.batch_size = batch ? batch : 32;
    bo.max_len = c->encode.max_len;
    bo.dynamic_padding = 1;
    bo.pad_id = c->pad_id;
    float *logits = malloc(n * (size_t)k * sizeof *logits);
    st = logits ? pl_infer(c->model, &enc, &bo, logits, NULL, "predict", NULL, err)
                : gt_error_set(err, GT_ERR_NOMEM, "predict: out of memory");
    for (size_t i = 0; st == GT_OK && i < n; i++) {
        gt_prediction *p = &out[i];
        memcpy(p->logits, logits + i * (size_t)k, (size_t)k * sizeof *p->logits);
        softmax(p->logits, k, p->probs);
        pl_argmax(p->logits, 1, k, &p->label);
        p->n_ids = enc.offsets[i + 1] - enc.offsets[i];
        if (!(p->ids = malloc((p->n_ids ? p->n_ids : 1) * sizeof *p->ids)))
            st = gt_error_set(err, GT_ERR_NOMEM, "predict: out of memory");
        else
            memcpy(p->ids, enc.ids + enc.offsets[i], p->n_ids * sizeof *p->ids);
    }
    if (st != GT_OK)
        gt_predictions_free(out, n);
    free(logits);
    gt_encoded_free(&enc);
    return st;
}
