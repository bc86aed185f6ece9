/* The load stage: build the model described by the pipeline file, or a Hugging
 * Face model directory's model with its weights; and, before any stage runs,
 * the model's configuration (the tokenize stage needs its sequence length). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/hf_config.h"
#include "pipeline/pipeline_internal.h"

/* Sequence length of a model directory when the file does not set one: its
 * positions, but no more than BERT's 512 (ModernBERT declares 8192, which
 * would make a CPU fine-tuning run take hours). */
#define DEFAULT_DIR_MAX_LEN 512

static gt_status scratch_config(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    const gt_config *cfg = s->config;
    gt_nn_arch arch;
    gt_status st = gt_nn_arch_parse(s->arch, &arch, err);
    if (st != GT_OK)
        return st;
    gt_nn_config *c = &p->model_config;
    gt_nn_config_default(c, arch);
    c->layers = s->layers;
    c->dim = s->dim;
    c->heads = s->heads;
    c->ffn = s->ffn;
    c->max_len = s->max_len;
    if (s->dropout >= 0)
        c->drop_embedding = c->drop_attn_out = c->drop_ffn = c->drop_classifier = c->drop_attn_probs =
            (float)s->dropout;
    if (s->activation && gt_nn_activation_parse(s->activation, &c->act, err) != GT_OK)
        return gt_config_error(cfg, gt_config_get(cfg, "model.activation"), "model.activation", err, GT_ERR_INVALID,
                               "\"%s\" is not one of: gelu, gelu_tanh, relu", s->activation);
    if (s->pooling)
        c->pooling = strcmp(s->pooling, "mean") ? GT_NN_POOL_CLS : GT_NN_POOL_MEAN;
    if (arch == GT_NN_BERT && c->pooling == GT_NN_POOL_MEAN)
        return gt_config_error(cfg, gt_config_get(cfg, "model.pooling"), "model.pooling", err, GT_ERR_INVALID,
                               "bert pools [CLS] through its pooler; mean pooling is for modernbert");
    p->encode.max_len = (size_t)s->max_len;
    return GT_OK;
}

static gt_status directory_config(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    char **names;
    gt_status st = pl_hf_config_read(s->model_from, &p->model_config, &names, err);
    if (st != GT_OK)
        return st;
    pl_class_names_free(names, p->model_config.num_labels);
    int positions = p->model_config.max_len;
    if (s->max_len > positions)
        return gt_config_error(s->config, gt_config_get(s->config, "model.max_len"), "model.max_len", err,
                               GT_ERR_INVALID, "%d tokens, more than the %d positions of %s/config.json", s->max_len,
                               positions, s->model_from);
    p->encode.max_len = (size_t)(s->max_len ? s->max_len : positions < DEFAULT_DIR_MAX_LEN ? positions
                                                                                          : DEFAULT_DIR_MAX_LEN);
    if (s->dropout >= 0) {
        gt_nn_config *c = &p->model_config;
        c->drop_embedding = c->drop_attn_out = c->drop_ffn = c->drop_classifier = c->drop_attn_probs =
            (float)s->dropout;
    }
    return GT_OK;
}

gt_status pl_model_config_prepare(gt_pipeline_ctx *p, gt_error *err)
{
    return p->spec->model_from ? directory_config(p, err) : scratch_config(p, err);
}

gt_status pl_check_vocab(const gt_tokenizer *tok, const gt_nn_config *cfg, const char *what, gt_error *err)
{
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(tok, &facts);
    if (facts.vocab_size > (size_t)cfg->vocab)
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: the tokenizer has %zu tokens but config.json's vocab_size is %d — the tokenizer "
                            "belongs to another model", what, facts.vocab_size, cfg->vocab);
    return GT_OK;
}

gt_status pl_load_weights(gt_nn_model *m, const char *dir, const int *layer_map, int strict, gt_nn_load_report *report,
                          gt_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return gt_nn_model_load_layers(m, path, layer_map, strict, report, err);
}

static void record_model(gt_pipeline_ctx *p, const gt_nn_load_report *report)
{
    const gt_nn_config *c = &p->model_config;
    cJSON *m = p->model_json;
    cJSON_AddStringToObject(m, "arch", gt_nn_arch_name(c->arch));
    cJSON_AddNumberToObject(m, "layers", c->layers);
    cJSON_AddNumberToObject(m, "dim", c->dim);
    cJSON_AddNumberToObject(m, "heads", c->heads);
    cJSON_AddNumberToObject(m, "ffn", c->ffn);
    cJSON_AddNumberToObject(m, "vocab", c->vocab);
    cJSON_AddNumberToObject(m, "positions", c->max_len);
    cJSON_AddNumberToObject(m, "seq_len", (double)p->encode.max_len);
    cJSON_AddNumberToObject(m, "num_labels", c->num_labels);
    cJSON_AddStringToObject(m, "activation", gt_nn_activation_name(c->act));
    if (p->spec->model_from) {
        cJSON_AddStringToObject(m, "from", p->spec->model_from);
        cJSON_AddNumberToObject(m, "tensors_loaded", report->loaded);
        cJSON_AddNumberToObject(m, "tensors_initialized", report->missing);
        cJSON_AddNumberToObject(m, "tensors_unused", report->unused);
    }
}

gt_status pl_stage_load(gt_pipeline_ctx *p, gt_error *err)
{
    const gt_pipeline_spec *s = p->spec;
    gt_nn_config *c = &p->model_config;
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(p->tok, &facts);
    gt_status st;
    if (!s->model_from) {
        c->vocab = (int)facts.vocab_size;
        c->pad_id = facts.pad_id >= 0 ? facts.pad_id : 0;
        c->num_labels = p->ds->n_classes;
    } else if (c->num_labels != p->ds->n_classes) {
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s/config.json: %d labels, but the data set has %d classes — set num_labels (or "
                            "id2label) in config.json to %d", s->model_from, c->num_labels, p->ds->n_classes,
                            p->ds->n_classes);
    } else if ((st = pl_check_vocab(p->tok, c, s->model_from, err)) != GT_OK) {
        return st;
    }
    if ((st = pl_hooks_run(p, GT_HOOK_CONFIGURE, err)) != GT_OK)
        return st;
    if ((st = gt_nn_config_check(c, err)) != GT_OK ||
        (st = gt_nn_model_create_lora(c, &p->lora, s->seed, &p->model, err)) != GT_OK)
        return gt_error_prefix(err, "model: ");
    gt_nn_load_report report = {0};
    if (s->model_from && (st = pl_load_weights(p->model, s->model_from, p->layer_map, 0, &report, err)) != GT_OK)
        return st;
    if (report.missing)
        pl_warn(p, "%s/model.safetensors: %d tensor%s not in the file start from fresh weights (first: %s) — "
                "expected for an encoder without a classification head", s->model_from, report.missing,
                report.missing == 1 ? "" : "s", report.first_missing);
    p->nn = gt_nn_model_options(p->model);
    p->nn.device = s->device && !strcmp(s->device, "cuda") ? GT_NN_CUDA : GT_NN_CPU;
    if ((st = pl_hooks_run(p, GT_HOOK_LOAD, err)) != GT_OK ||
        (st = gt_nn_model_set_options(p->model, &p->nn, err)) != GT_OK)
        return st;
    record_model(p, &report);
    pl_log(p, "load: %s, %d layers, dim %d, %d heads, ffn %d, vocab %d, %zu tokens per sample%s%s",
           gt_nn_arch_name(c->arch), c->layers, c->dim, c->heads, c->ffn, c->vocab, p->encode.max_len,
           s->model_from ? " from " : " from scratch", s->model_from ? s->model_from : "");
    return GT_OK;
}
