/* Model configuration: Hugging Face config.json -> gt_nn_config for both
 * architectures (values written here, checked field by field), back to
 * config.json and again, and clear errors for what the engine cannot build. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/config.h"
#include "greentune/nn.h"
#include "test_support.h"

static gt_status from_json(const char *json, gt_nn_config *c, gt_error *err)
{
    gt_config *cfg;
    gt_status st = gt_config_parse_json(json, strlen(json), "config.json", &cfg, err);
    if (st != GT_OK)
        return st;
    st = gt_nn_config_from_hf(cfg, c, err);
    gt_config_free(cfg);
    return st;
}

/* A BertConfig as transformers writes it: every key maps to its field. */
static void test_model_config_bert_keys(void)
{
    const char *json = "{\"model_type\": \"bert\", \"vocab_size\": 1000, \"hidden_size\": 64, "
                       "\"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"intermediate_size\": 128, "
                       "\"hidden_act\": \"gelu_new\", \"hidden_dropout_prob\": 0.2, "
                       "\"attention_probs_dropout_prob\": 0.05, \"max_position_embeddings\": 128, "
                       "\"type_vocab_size\": 1, \"initializer_range\": 0.03, \"layer_norm_eps\": 1e-7, "
                       "\"pad_token_id\": 5, \"classifier_dropout\": null, "
                       "\"id2label\": {\"0\": \"a\", \"1\": \"b\", \"2\": \"c\", \"3\": \"d\"}}";
    gt_nn_config c;
    gt_error err = {0};
    CHECK_MSG(from_json(json, &c, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(c.arch, GT_NN_BERT);
    CHECK_EQ_INT(c.vocab, 1000);
    CHECK_EQ_INT(c.dim, 64);
    CHECK_EQ_INT(c.layers, 3);
    CHECK_EQ_INT(c.heads, 4);
    CHECK_EQ_INT(c.ffn, 128);
    CHECK_EQ_INT(c.act, GT_NN_GELU_TANH);
    CHECK_EQ_INT(c.max_len, 128);
    CHECK_EQ_INT(c.type_vocab, 1);
    CHECK_EQ_INT(c.pad_id, 5);
    CHECK_EQ_INT(c.num_labels, 4);
    CHECK_EQ_INT(c.pooling, GT_NN_POOL_CLS);
    CHECK_NEAR(c.eps, 1e-7, 1e-12);
    CHECK_NEAR(c.init_range, 0.03, 1e-7);
    /* hidden_dropout_prob is every hidden dropout, and the classifier's when classifier_dropout is null */
    CHECK_NEAR(c.drop_embedding, 0.2, 1e-7);
    CHECK_NEAR(c.drop_attn_out, 0.2, 1e-7);
    CHECK_NEAR(c.drop_ffn, 0.2, 1e-7);
    CHECK_NEAR(c.drop_classifier, 0.2, 1e-7);
    CHECK_NEAR(c.drop_attn_probs, 0.05, 1e-7);
}

/* Missing keys take BertConfig's defaults (bert-base-uncased). */
static void test_model_config_bert_defaults(void)
{
    gt_nn_config c;
    gt_error err = {0};
    CHECK_MSG(from_json("{\"model_type\": \"bert\"}", &c, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(c.vocab, 30522);
    CHECK_EQ_INT(c.dim, 768);
    CHECK_EQ_INT(c.layers, 12);
    CHECK_EQ_INT(c.heads, 12);
    CHECK_EQ_INT(c.ffn, 3072);
    CHECK_EQ_INT(c.max_len, 512);
    CHECK_EQ_INT(c.num_labels, 2);
    CHECK_NEAR(c.eps, 1e-12, 1e-18);
    CHECK_NEAR(c.drop_ffn, 0.1, 1e-7);
}

/* ModernBERT-base's published config.json keys. */
static void test_model_config_modernbert_keys(void)
{
    const char *json =
        "{\"architectures\": [\"ModernBertForMaskedLM\"], \"model_type\": \"modernbert\", "
        "\"vocab_size\": 50368, \"hidden_size\": 768, \"intermediate_size\": 1152, \"num_hidden_layers\": 22, "
        "\"num_attention_heads\": 12, \"hidden_activation\": \"gelu\", \"max_position_embeddings\": 8192, "
        "\"initializer_range\": 0.02, \"initializer_cutoff_factor\": 2.0, \"norm_eps\": 1e-05, "
        "\"norm_bias\": false, \"pad_token_id\": 50283, \"attention_bias\": false, \"attention_dropout\": 0.0, "
        "\"global_attn_every_n_layers\": 3, \"local_attention\": 128, \"global_rope_theta\": 160000.0, "
        "\"local_rope_theta\": 10000.0, \"embedding_dropout\": 0.0, \"mlp_bias\": false, \"mlp_dropout\": 0.0, "
        "\"classifier_pooling\": \"mean\", \"classifier_dropout\": 0.0, \"classifier_bias\": false, "
        "\"classifier_activation\": \"gelu\", \"decoder_bias\": true}";
    gt_nn_config c;
    gt_error err = {0};
    CHECK_MSG(from_json(json, &c, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(c.arch, GT_NN_MODERNBERT);
    CHECK_EQ_INT(c.vocab, 50368);
    CHECK_EQ_INT(c.dim, 768);
    CHECK_EQ_INT(c.ffn, 1152);
    CHECK_EQ_INT(c.layers, 22);
    CHECK_EQ_INT(c.heads, 12);
    CHECK_EQ_INT(c.max_len, 8192);
    CHECK_EQ_INT(c.pad_id, 50283);
    CHECK_EQ_INT(c.global_every, 3);
    CHECK_EQ_INT(c.local_window, 128);
    CHECK_EQ_INT(c.pooling, GT_NN_POOL_MEAN);
    CHECK_EQ_INT(c.act, GT_NN_GELU);
    CHECK_EQ_INT(c.head_act, GT_NN_GELU);
    CHECK_NEAR(c.global_theta, 160000.0, 0);
    CHECK_NEAR(c.local_theta, 10000.0, 0);
    CHECK_NEAR(c.eps, 1e-5, 1e-11);
    CHECK_NEAR(c.init_cutoff, 2.0, 0);
}

/* ModernBertConfig's defaults: cls pooling (the class default), 128-token
 * window every third layer global, theta 160000 / 10000. */
static void test_model_config_modernbert_defaults(void)
{
    gt_nn_config c;
    gt_error err = {0};
    CHECK_MSG(from_json("{\"model_type\": \"modernbert\"}", &c, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(c.pooling, GT_NN_POOL_CLS);
    CHECK_EQ_INT(c.global_every, 3);
    CHECK_EQ_INT(c.local_window, 128);
    CHECK_NEAR(c.global_theta, 160000.0, 0);
    CHECK_NEAR(c.local_theta, 10000.0, 0);
    CHECK_NEAR(c.init_cutoff, 2.0, 0);
    CHECK_NEAR(c.drop_ffn, 0.0, 0);
}

/* Newer transformers write rope_parameters per layer type and layer_types. */
static void test_model_config_modernbert_rope_parameters(void)
{
    const char *json = "{\"model_type\": \"modernbert\", \"num_hidden_layers\": 4, "
                       "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 80000},"
                       " \"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 5000}}, "
                       "\"layer_types\": [\"full_attention\", \"sliding_attention\", \"sliding_attention\", "
                       "\"full_attention\"]}";
    gt_nn_config c;
    gt_error err = {0};
    CHECK_MSG(from_json(json, &c, &err) == GT_OK, "%s", err.message);
    CHECK_NEAR(c.global_theta, 80000.0, 0);
    CHECK_NEAR(c.local_theta, 5000.0, 0);

    const char *odd = "{\"model_type\": \"modernbert\", \"num_hidden_layers\": 4, "
                      "\"layer_types\": [\"full_attention\", \"full_attention\", \"sliding_attention\", "
                      "\"sliding_attention\"]}";
    CHECK(from_json(odd, &c, &err) == GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "layer_types") != NULL, "%s", err.message);
}

/* A model pruned from the bottom keeps each layer's kind: the every-3 pattern
 * shifted, read as global_offset and written back as layer_types. */
static void test_model_config_shifted_layer_types(void)
{
    const char *json = "{\"model_type\": \"modernbert\", \"num_hidden_layers\": 4, "
                       "\"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\", "
                       "\"sliding_attention\"]}";
    gt_nn_config c;
    gt_error err = {0};
    CHECK_MSG(from_json(json, &c, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(c.global_offset, 2);
    const char *path = test_path("shifted.json");
    CHECK(gt_nn_config_write_hf(&c, path, &err) == GT_OK);
    char *text = test_read_file(path, NULL);
    cJSON *root = cJSON_Parse(text);
    const cJSON *types = cJSON_GetObjectItem(root, "layer_types");
    CHECK(cJSON_GetArraySize(types) == 4);
    for (int i = 0; i < 4 && cJSON_GetArraySize(types) == 4; i++)
        CHECK_EQ_STR(cJSON_GetArrayItem(types, i)->valuestring, i == 1 ? "full_attention" : "sliding_attention");
    cJSON_Delete(root);
    free(text);
    c.global_offset = 3;
    CHECK(gt_nn_config_check(&c, &err) == GT_ERR_INVALID);
    CHECK(strstr(err.message, "global_offset") != NULL);
}

/* What the engine cannot build is refused with the key named. */
static void test_model_config_refusals(void)
{
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"model_type\": \"roberta\"}", "\"roberta\" is not supported"},
        {"{\"hidden_size\": 8}", "model_type"},
        {"{\"model_type\": \"modernbert\", \"norm_bias\": true}", "norm_bias"},
        {"{\"model_type\": \"modernbert\", \"mlp_bias\": true}", "mlp_bias"},
        {"{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\"}", "position_embedding_type"},
        {"{\"model_type\": \"bert\", \"hidden_act\": \"swish\"}", "swish"},
        {"{\"model_type\": \"bert\", \"hidden_size\": 100, \"num_attention_heads\": 12}", "must divide dim"},
        {"{\"model_type\": \"bert\", \"num_labels\": 1}", "regression"},
        {"{\"model_type\": \"bert\", \"hidden_size\": 0}", "hidden_size"},
        {"{\"model_type\": \"modernbert\", \"hidden_size\": 36, \"num_attention_heads\": 4}", "even head size"},
        {"{\"model_type\": \"modernbert\", \"classifier_pooling\": \"max\"}", "classifier_pooling"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gt_nn_config c;
        gt_error err = {0};
        CHECK_MSG(from_json(cases[i].json, &c, &err) != GT_OK, "%s accepted", cases[i].json);
        CHECK_MSG(strstr(err.message, cases[i].needle) != NULL, "%s: \"%s\" lacks \"%s\"", cases[i].json,
                  err.message, cases[i].needle);
        CHECK_MSG(strchr(err.message, '\n') == NULL, "%s: message spans lines", cases[i].json);
        CHECK_MSG(strncmp(err.message, "config.json", 11) == 0, "%s: \"%s\" does not name the file",
                  cases[i].json, err.message);
    }
}

/* Shapes gt_nn_config_check refuses before anything is allocated. */
static void test_model_config_bad_shapes(void)
{
    gt_nn_config base;
    gt_nn_config_default(&base, GT_NN_BERT);
    gt_nn_config c = base;
    gt_error err = {0};
    c.heads = 7;
    CHECK(gt_nn_config_check(&c, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "heads 7") && strstr(err.message, "dim 768"), "%s", err.message);
    c = base;
    c.layers = 0;
    CHECK(gt_nn_config_check(&c, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "layers 0") != NULL, "%s", err.message);
    c = base;
    c.vocab = 0;
    CHECK(gt_nn_config_check(&c, &err) == GT_ERR_INVALID);
    c = base;
    c.drop_ffn = 1.0f;
    CHECK(gt_nn_config_check(&c, &err) == GT_ERR_INVALID);
    gt_nn_model *m = NULL;
    c = base;
    c.dim = -4;
    CHECK(gt_nn_model_create(&c, 1, &m, &err) == GT_ERR_INVALID);
    CHECK(m == NULL);
}

/* config -> config.json -> config gives the same config, for both architectures. */
static void test_model_config_write_round_trip(void)
{
    for (int arch = 0; arch < 2; arch++) {
        gt_nn_config a;
        gt_nn_config_default(&a, (gt_nn_arch)arch);
        a.layers = 5;
        a.dim = 96;
        a.heads = 6;
        a.ffn = 200;
        a.num_labels = 4;
        a.act = GT_NN_GELU_TANH;
        a.drop_classifier = 0.3f;
        a.pooling = arch ? GT_NN_POOL_MEAN : GT_NN_POOL_CLS;
        a.global_theta = arch ? 123456.0 : 0.0;
        a.local_window = arch ? 64 : 0;
        a.eps = arch ? 1e-6f : 1e-12f;
        gt_error err = {0};
        const char *path = test_path(arch ? "modernbert.json" : "bert.json");
        CHECK_MSG(gt_nn_config_write_hf(&a, path, &err) == GT_OK, "%s", err.message);
        gt_config *cfg;
        gt_nn_config b;
        CHECK_MSG(gt_config_load(path, &cfg, &err) == GT_OK, "%s", err.message);
        CHECK_MSG(gt_nn_config_from_hf(cfg, &b, &err) == GT_OK, "%s", err.message);
        CHECK_EQ_STR(gt_config_root(cfg) ? cJSON_GetObjectItem(gt_config_root(cfg), "model_type")->valuestring : "",
                     arch ? "modernbert" : "bert");
        gt_config_free(cfg);
        CHECK_EQ_INT(b.layers, 5);
        CHECK_EQ_INT(b.dim, 96);
        CHECK_EQ_INT(b.heads, 6);
        CHECK_EQ_INT(b.ffn, 200);
        CHECK_EQ_INT(b.num_labels, 4);
        CHECK_EQ_INT(b.act, GT_NN_GELU_TANH);
        CHECK_EQ_INT(b.pooling, a.pooling);
        CHECK(b.eps == a.eps);
        CHECK(b.drop_classifier == a.drop_classifier);
        CHECK(b.init_range == a.init_range);
        if (arch) {
            CHECK_EQ_INT(b.local_window, 64);
            CHECK(b.global_theta == 123456.0);
        }
    }
}

int main(void)
{
    RUN(test_model_config_bert_keys);
    RUN(test_model_config_bert_defaults);
    RUN(test_model_config_modernbert_keys);
    RUN(test_model_config_modernbert_defaults);
    RUN(test_model_config_modernbert_rope_parameters);
    RUN(test_model_config_shifted_layer_types);
    RUN(test_model_config_refusals);
    RUN(test_model_config_bad_shapes);
    RUN(test_model_config_write_round_trip);
    return test_summary();
}
