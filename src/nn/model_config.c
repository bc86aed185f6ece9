/* Model configuration: defaults, checks, and Hugging Face config.json in both
 * directions (BertConfig and ModernBertConfig keys, with their defaults). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/nn.h"

/* ---- names ------------------------------------------------------------------------ */

const char *gt_nn_arch_name(gt_nn_arch a)
{
    return a == GT_NN_MODERNBERT ? "modernbert" : a == GT_NN_BERT ? "bert" : "?";
}

gt_status gt_nn_arch_parse(const char *name, gt_nn_arch *a, gt_error *err)
{
    if (name && !strcmp(name, "bert"))
        *a = GT_NN_BERT;
    else if (name && !strcmp(name, "modernbert"))
        *a = GT_NN_MODERNBERT;
    else
        return gt_error_set(err, GT_ERR_INVALID, "arch \"%s\": unknown (use bert or modernbert)", name ? name : "");
    return GT_OK;
}

/* HF's name for writing config.json. */
const char *gt_nn_activation_name(gt_nn_activation a)
{
    return a == GT_NN_RELU ? "relu" : a == GT_NN_GELU_TANH ? "gelu_pytorch_tanh" : "gelu";
}

gt_status gt_nn_activation_parse(const char *name, gt_nn_activation *a, gt_error *err)
{
    static const struct {
        const char *name;
        gt_nn_activation act;
    } names[] = {{"gelu", GT_NN_GELU}, {"gelu_new", GT_NN_GELU_TANH}, {"gelu_pytorch_tanh", GT_NN_GELU_TANH},
                 {"gelu_tanh", GT_NN_GELU_TANH}, {"relu", GT_NN_RELU}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *a = names[i].act;
            return GT_OK;
        }
    return gt_error_set(err, GT_ERR_UNSUPPORTED,
                        "activation \"%s\": not supported (use gelu, gelu_new, gelu_pytorch_tanh or relu)",
                        name ? name : "");
}

const char *gt_nn_attention_name(gt_nn_attention a)
{
    return a == GT_NN_ATTN_FUSED ? "fused" : "standard";
}

/* ---- defaults and checks ---------------------------------------------------------- */

void gt_nn_config_default(gt_nn_config *c, gt_nn_arch arch)
{
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->num_labels = 2;
    c->init_range = 0.02f;
    c->act = c->head_act = GT_NN_GELU;
    c->pooling = GT_NN_POOL_CLS;
    c->type_vocab = 2;
    c->global_every = 1;
    if (arch == GT_NN_BERT) {          /* BertConfig() = bert-base-uncased */
        c->layers = 12;
        c->dim = 768;
        c->heads = 12;
        c->ffn = 3072;
        c->vocab = 30522;
        c->max_len = 512;
        c->pad_id = 0;
        c->eps = 1e-12f;
        c->drop_embedding = c->drop_attn_out = c->drop_ffn = c->drop_classifier = c->drop_attn_probs = 0.1f;
        return;
    }
    c->layers = 22;                    /* ModernBertConfig() = ModernBERT-base */
    c->dim = 768;
    c->heads = 12;
    c->ffn = 1152;
    c->vocab = 50368;
    c->max_len = 8192;
    c->pad_id = 50283;
    c->eps = 1e-5f;
    c->init_cutoff = 2.0f;
    c->global_every = 3;
    c->local_window = 128;
    c->global_theta = 160000.0;
    c->local_theta = 10000.0;
}

static int bad_prob(float p)
{
    return !(p >= 0.0f && p < 1.0f);
}

gt_status gt_nn_config_check(const gt_nn_config *c, gt_error *err)
{
    struct {
        const char *name;
        long value, max;
    } sizes[] = {{"layers", c->layers, 1024}, {"dim", c->dim, 65536}, {"heads", c->heads, 4096},
                 {"ffn", c->ffn, 1 << 20}, {"vocab", c->vocab, 1 << 24}, {"max_len", c->max_len, 1 << 20},
                 {"num_labels", c->num_labels, 1 << 16}};
    if (c->arch != GT_NN_BERT && c->arch != GT_NN_MODERNBERT)
        return gt_error_set(err, GT_ERR_INVALID, "model arch %d: unknown (use bert or modernbert)", (int)c->arch);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < 1 || sizes[i].value > sizes[i].max)
            return gt_error_set(err, GT_ERR_INVALID, "model %s %ld: must be 1 to %ld", sizes[i].name, sizes[i].value,
                                sizes[i].max);
    if (c->dim % c->heads != 0)
        return gt_error_set(err, GT_ERR_INVALID, "model heads %d: must divide dim %d (head size dim / heads)",
                            c->heads, c->dim);
    if (c->num_labels < 2)
        return gt_error_set(err, GT_ERR_INVALID,
                            "model num_labels 1: a regression head, which greentune does not train (use 2 or more)");
    if (!(c->eps > 0.0f) || !isfinite(c->eps))
        return gt_error_set(err, GT_ERR_INVALID, "model eps %g: must be positive", (double)c->eps);
    if ((unsigned)c->act > GT_NN_RELU || (unsigned)c->head_act > GT_NN_RELU ||
        (unsigned)c->pooling > GT_NN_POOL_MEAN)
        return gt_error_set(err, GT_ERR_INVALID, "model: unknown activation or pooling");
    float probs[] = {c->drop_embedding, c->drop_attn_out, c->drop_ffn, c->drop_classifier, c->drop_attn_probs};
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
        if (bad_prob(probs[i]))
            return gt_error_set(err, GT_ERR_INVALID, "model dropout %g: must be in [0, 1)", (double)probs[i]);
    if (c->arch == GT_NN_BERT) {
        if (c->type_vocab < 1 || c->type_vocab > 1024)
            return gt_error_set(err, GT_ERR_INVALID, "model type_vocab %d: must be 1 to 1024", c->type_vocab);
        return GT_OK;
    }
    if ((c->dim / c->heads) % 2 != 0)
        return gt_error_set(err, GT_ERR_INVALID, "model dim %d / heads %d = %d: RoPE needs an even head size",
                            c->dim, c->heads, c->dim / c->heads);
    if (c->global_every < 1 || c->local_window < 2)
        return gt_error_set(err, GT_ERR_INVALID,
                            "model global_every %d, local_window %d: need global_every >= 1 and a window >= 2",
                            c->global_every, c->local_window);
    if (c->global_offset < 0 || c->global_offset >= c->global_every)
        return gt_error_set(err, GT_ERR_INVALID, "model global_offset %d: must be 0 to global_every - 1 (%d)",
                            c->global_offset, c->global_every - 1);
    if (!(c->global_theta > 0) || !(c->local_theta > 0) || !isfinite(c->global_theta) || !isfinite(c->local_theta))
        return gt_error_set(err, GT_ERR_INVALID, "model rope theta %g / %g: must be positive", c->global_theta,
                            c->local_theta);
    return GT_OK;
}

/* ---- from config.json --------------------------------------------------------------- */

/* A run of typed reads that stops at the first error. */
typedef struct {
    const gt_config *json;
    gt_error *err;
    gt_status st;
} reader;

static void read_int(reader *r, const char *key, int *out, long long min, long long max)
{
    long long v;
    if (r->st == GT_OK && (r->st = gt_config_int(r->json, key, *out, min, max, &v, r->err)) == GT_OK)
        *out = (int)v;
}

static void read_float(reader *r, const char *key, float *out)
{
    double v;
    if (r->st == GT_OK && (r->st = gt_config_number(r->json, key, *out, 0, 1e30, &v, r->err)) == GT_OK)
        *out = (float)v;
}

static void read_double(reader *r, const char *key, double *out)
{
    if (r->st == GT_OK)
        r->st = gt_config_number(r->json, key, *out, 0, 1e30, out, r->err);
}

static void read_activation(reader *r, const char *key, gt_nn_activation *out)
{
    const char *name;
    if (r->st != GT_OK || (r->st = gt_config_string(r->json, key, NULL, &name, r->err)) != GT_OK || !name)
        return;
    gt_error why = {0};
    if (gt_nn_activation_parse(name, out, &why) != GT_OK)
        r->st = gt_config_error(r->json, gt_config_get(r->json, key), key, r->err, GT_ERR_UNSUPPORTED, "%s",
                                why.message);
}

/* A feature flag the engine does not implement must be absent or false. */
static void require_false(reader *r, const char *key, const char *why)
{
    int v = 0;
    if (r->st == GT_OK && (r->st = gt_config_bool(r->json, key, 0, &v, r->err)) == GT_OK && v)
        r->st = gt_config_error(r->json, gt_config_get(r->json, key), key, r->err, GT_ERR_UNSUPPORTED,
                                "true is not supported (%s)", why);
}

/* A string key that must have one of the given values (first = the default). */
static int read_choice(reader *r, const char *key, const char *const *choices, int n)
{
    const char *v;
    if (r->st != GT_OK || (r->st = gt_config_string(r->json, key, choices[0], &v, r->err)) != GT_OK)
        return 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(v, choices[i]))
            return i;
    r->st = gt_config_error(r->json, gt_config_get(r->json, key), key, r->err, GT_ERR_UNSUPPORTED,
                            "\"%s\" is not supported (use \"%s\")", v, choices[0]);
    return 0;
}

/* num_labels, else the size of id2label, else 2 (PretrainedConfig). */
static void read_labels(reader *r, gt_nn_config *c)
{
    const cJSON *map = gt_config_get(r->json, "id2label");
    if (cJSON_IsObject(map))
        c->num_labels = cJSON_GetArraySize(map);
    read_int(r, "num_labels", &c->num_labels, 1, 1 << 16);
}

static void read_common(reader *r, gt_nn_config *c)
{
    read_int(r, "vocab_size", &c->vocab, 1, 1 << 24);
    read_int(r, "hidden_size", &c->dim, 1, 65536);
    read_int(r, "num_hidden_layers", &c->layers, 1, 1024);
    read_int(r, "num_attention_heads", &c->heads, 1, 4096);
    read_int(r, "intermediate_size", &c->ffn, 1, 1 << 20);
    read_int(r, "max_position_embeddings", &c->max_len, 1, 1 << 20);
    read_float(r, "initializer_range", &c->init_range);
    if (r->st == GT_OK && cJSON_IsNull(gt_config_get(r->json, "pad_token_id")))
        c->pad_id = -1;
    else
        read_int(r, "pad_token_id", &c->pad_id, -1, 1 << 24);
    read_labels(r, c);
}

static void read_bert(reader *r, gt_nn_config *c)
{
    static const char *const positions[] = {"absolute"};
    read_common(r, c);
    read_int(r, "type_vocab_size", &c->type_vocab, 1, 1024);
    read_activation(r, "hidden_act", &c->act);
    read_float(r, "layer_norm_eps", &c->eps);
    read_float(r, "hidden_dropout_prob", &c->drop_embedding);
    c->drop_attn_out = c->drop_ffn = c->drop_classifier = c->drop_embedding;
    read_float(r, "classifier_dropout", &c->drop_classifier);   /* null: hidden_dropout_prob */
    read_float(r, "attention_probs_dropout_prob", &c->drop_attn_probs);
    read_choice(r, "position_embedding_type", positions, 1);
}

static void read_modernbert(reader *r, gt_nn_config *c)
{
    static const char *const poolings[] = {"cls", "mean"};
    read_common(r, c);
    read_activation(r, "hidden_activation", &c->act);
    read_activation(r, "classifier_activation", &c->head_act);
    read_float(r, "norm_eps", &c->eps);
    read_float(r, "initializer_cutoff_factor", &c->init_cutoff);
    read_float(r, "embedding_dropout", &c->drop_embedding);
    read_float(r, "attention_dropout", &c->drop_attn_out);
    c->drop_attn_probs = c->drop_attn_out;
    read_float(r, "mlp_dropout", &c->drop_ffn);
    read_float(r, "classifier_dropout", &c->drop_classifier);
    c->pooling = read_choice(r, "classifier_pooling", poolings, 2) ? GT_NN_POOL_MEAN : GT_NN_POOL_CLS;
    read_int(r, "global_attn_every_n_layers", &c->global_every, 1, 1024);
    read_int(r, "local_attention", &c->local_window, 2, 1 << 20);
    read_double(r, "global_rope_theta", &c->global_theta);
    read_double(r, "local_rope_theta", &c->local_theta);
    /* newer transformers: rope_parameters per layer type */
    read_double(r, "rope_parameters.full_attention.rope_theta", &c->global_theta);
    read_double(r, "rope_parameters.sliding_attention.rope_theta", &c->local_theta);
    static const char *const rope_types[] = {"default"};
    read_choice(r, "rope_parameters.full_attention.rope_type", rope_types, 1);
    read_choice(r, "rope_parameters.sliding_attention.rope_type", rope_types, 1);
    require_false(r, "norm_bias", "greentune's ModernBERT has no LayerNorm biases");
    require_false(r, "attention_bias", "greentune's ModernBERT has no attention biases");
    require_false(r, "mlp_bias", "greentune's ModernBERT has no MLP biases");
    require_false(r, "classifier_bias", "greentune's ModernBERT head.dense has no bias");
}

/* Does layer_types follow "full every global_every layers, sliding otherwise",
 * the first full layer at index (global_every - offset) % global_every? */
static int layer_types_match(const cJSON *types, int layers, int every, int offset)
{
    for (int i = 0; i < layers; i++) {
        const cJSON *t = cJSON_GetArrayItem(types, i);
        const char *want = (i + offset) % every == 0 ? "full_attention" : "sliding_attention";
        if (!cJSON_IsString(t) || strcmp(t->valuestring, want) != 0)
            return 0;
    }
    return 1;
}

/* layer_types, when given, must be the pattern global_attn_every_n_layers
 * describes, possibly shifted (a model pruned from the bottom keeps each
 * layer's kind): the shift becomes global_offset. */
static void read_layer_types(reader *r, gt_nn_config *c)
{
    const cJSON *types = gt_config_get(r->json, "layer_types");
    if (r->st != GT_OK || !types || cJSON_IsNull(types))
        return;
    int ok = cJSON_IsArray(types) && cJSON_GetArraySize(types) == c->layers;
    int offset = 0;
    while (ok && offset < c->global_every && !layer_types_match(types, c->layers, c->global_every, offset))
        offset++;
    if (ok && offset < c->global_every)
        c->global_offset = offset;
    else
        r->st = gt_config_error(r->json, types, "layer_types", r->err, GT_ERR_UNSUPPORTED,
                                "must be full_attention every %d layers and sliding_attention otherwise",
                                c->global_every);
}

gt_status gt_nn_config_from_hf(const gt_config *json, gt_nn_config *c, gt_error *err)
{
    const char *type;
    gt_status st = gt_config_string(json, "model_type", NULL, &type, err);
    if (st != GT_OK)
        return st;
    if (!type)
        return gt_config_error(json, NULL, "model_type", err, GT_ERR_INVALID,
                               "missing (a Hugging Face config.json names its model_type)");
    gt_nn_arch arch;
    if (gt_nn_arch_parse(type, &arch, NULL) != GT_OK)
        return gt_config_error(json, gt_config_get(json, "model_type"), "model_type", err, GT_ERR_UNSUPPORTED,
                               "\"%s\" is not supported (use a bert or modernbert model)", type);
    gt_nn_config_default(c, arch);
    reader r = {json, err, GT_OK};
    if (arch == GT_NN_BERT) {
        read_bert(&r, c);
    } else {
        read_modernbert(&r, c);
        read_layer_types(&r, c);
    }
    if (r.st != GT_OK)
        return r.st;
    if ((st = gt_nn_config_check(c, err)) != GT_OK)
        return gt_error_prefix(err, "%s: ", gt_config_label(json));
    return GT_OK;
}

/* ---- to config.json ----------------------------------------------------------------- */

static void add_labels(cJSON *root, int n)
{
    cJSON *id2label = cJSON_AddObjectToObject(root, "id2label");
    cJSON *label2id = cJSON_AddObjectToObject(root, "label2id");
    for (int i = 0; i < n && id2label && label2id; i++) {
        char id[16], label[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(label, sizeof label, "LABEL_%d", i);
        cJSON_AddStringToObject(id2label, id, label);
        cJSON_AddNumberToObject(label2id, label, i);
    }
}

/* Floats as the decimal that reads back as the same float ("0.1", not 0.100000001). */
static void add_float(cJSON *root, const char *key, float v)
{
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if ((float)strtod(text, NULL) == v)
            break;
    }
    cJSON_AddItemToObject(root, key, cJSON_CreateRaw(text));
}

static cJSON *hf_tree(const gt_nn_config *c)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(root, "architectures");
    int bert = c->arch == GT_NN_BERT;
    cJSON_AddItemToArray(archs, cJSON_CreateString(bert ? "BertForSequenceClassification"
                                                         : "ModernBertForSequenceClassification"));
    cJSON_AddStringToObject(root, "model_type", gt_nn_arch_name(c->arch));
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(root, "hidden_size", c->dim);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->layers);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->heads);
    cJSON_AddNumberToObject(root, "intermediate_size", c->ffn);
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_len);
    add_float(root, "initializer_range", c->init_range);
    if (c->pad_id >= 0)
        cJSON_AddNumberToObject(root, "pad_token_id", c->pad_id);
    else
        cJSON_AddNullToObject(root, "pad_token_id");
    if (bert) {
        cJSON_AddNumberToObject(root, "type_vocab_size", c->type_vocab);
        cJSON_AddStringToObject(root, "hidden_act", gt_nn_activation_name(c->act));
        add_float(root, "layer_norm_eps", c->eps);
        add_float(root, "hidden_dropout_prob", c->drop_attn_out);
        add_float(root, "attention_probs_dropout_prob", c->drop_attn_probs);
        add_float(root, "classifier_dropout", c->drop_classifier);
        cJSON_AddStringToObject(root, "position_embedding_type", "absolute");
    } else {
        cJSON_AddStringToObject(root, "hidden_activation", gt_nn_activation_name(c->act));
        cJSON_AddStringToObject(root, "classifier_activation", gt_nn_activation_name(c->head_act));
        cJSON_AddStringToObject(root, "classifier_pooling", c->pooling == GT_NN_POOL_MEAN ? "mean" : "cls");
        add_float(root, "norm_eps", c->eps);
        add_float(root, "initializer_cutoff_factor", c->init_cutoff);
        add_float(root, "embedding_dropout", c->drop_embedding);
        add_float(root, "attention_dropout", c->drop_attn_out);
        add_float(root, "mlp_dropout", c->drop_ffn);
        add_float(root, "classifier_dropout", c->drop_classifier);
        cJSON_AddNumberToObject(root, "global_attn_every_n_layers", c->global_every);
        if (c->global_offset) {   /* a pruned model: each layer's kind is not i % every */
            cJSON *types = cJSON_AddArrayToObject(root, "layer_types");
            for (int i = 0; i < c->layers; i++)
                cJSON_AddItemToArray(types, cJSON_CreateString((i + c->global_offset) % c->global_every == 0
                                                                   ? "full_attention" : "sliding_attention"));
        }
        cJSON_AddNumberToObject(root, "local_attention", c->local_window);
        cJSON_AddNumberToObject(root, "global_rope_theta", c->global_theta);
        cJSON_AddNumberToObject(root, "local_rope_theta", c->local_theta);
        const char *flags[] = {"norm_bias", "attention_bias", "mlp_bias", "classifier_bias"};
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            cJSON_AddFalseToObject(root, flags[i]);
    }
    add_labels(root, c->num_labels);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    return root;
}

gt_status gt_nn_config_write_hf(const gt_nn_config *c, const char *path, gt_error *err)
{
    gt_status st = gt_nn_config_check(c, err);
    if (st != GT_OK)
        return st;
    cJSON *root = hf_tree(c);
    if (!root)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    st = gt_json_write_file(path, root, err);
    cJSON_Delete(root);
    return st;
}
