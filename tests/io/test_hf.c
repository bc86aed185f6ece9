/* Hugging Face files: config.json through the config tree, tokenizer.json facts,
 * and a clear line for the tokenizer files greentune cannot describe. */
#include <stdlib.h>
#include <string.h>

#include "greentune/hf.h"
#include "test_support.h"

static const char *fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/hf/%s", test_env("GREENTUNE_SOURCE_DIR"), name);
    return path;
}

static void test_model_directory_config(void)
{
    gt_config *cfg = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_hf_load_config(fixture("tiny-modernbert"), &cfg, &err), GT_OK);
    long long every = 0, hidden = 0;
    CHECK_EQ_INT(gt_config_int(cfg, "global_attn_every_n_layers", 1, 1, 1000, &every, &err), GT_OK);
    CHECK_EQ_INT(gt_config_int(cfg, "hidden_size", 0, 1, 1 << 20, &hidden, &err), GT_OK);
    CHECK_EQ_INT(every, 3);
    CHECK_EQ_INT(hidden, 8);
    const char *arch = NULL;
    CHECK_EQ_INT(gt_config_string(cfg, "architectures.0", NULL, &arch, &err), GT_OK);
    CHECK_EQ_STR(arch, "ModernBertForSequenceClassification");
    gt_config_free(cfg);

    CHECK_EQ_INT(gt_hf_load_config(fixture("bad/unknown-model"), &cfg, &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "no config.json (not a Hugging Face model directory?)") != NULL);
    CHECK_EQ_INT(gt_hf_load_config(fixture("bad/truncated-config"), &cfg, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "config.json:1:39: not valid JSON") != NULL);
}

static void test_wordpiece_facts(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", fixture("tiny-bert"));
    gt_hf_tokenizer_facts f;
    gt_error err = {0};
    CHECK_EQ_INT(gt_hf_tokenizer_facts_read(path, &f, &err), GT_OK);
    CHECK_EQ_STR(f.model, "WordPiece");
    CHECK_EQ_INT(f.vocab_size, 40);
    CHECK_EQ_INT(f.added_tokens, 5);
    CHECK_EQ_INT(f.special_count, 5);
    CHECK_EQ_STR(f.specials[0], "[PAD]");
    CHECK_EQ_STR(f.specials[4], "[MASK]");
    CHECK_EQ_STR(f.unk_token, "[UNK]");
    CHECK_EQ_STR(f.subword_prefix, "##");
    CHECK_EQ_STR(f.normalizer, "BertNormalizer");
    CHECK_EQ_INT(f.lowercase, 1);
    CHECK_EQ_INT(f.truncation_max_length, 0);
    CHECK_EQ_INT(f.padding, 0);
}

static gt_status facts_of(const char *json, gt_hf_tokenizer_facts *f, gt_error *err)
{
    cJSON *root;
    gt_status status = gt_json_parse(json, strlen(json), "tokenizer.json", &root, err);
    if (status == GT_OK)
        status = gt_hf_tokenizer_facts_from_tree(root, "tokenizer.json", f, err);
    cJSON_Delete(root);
    return status;
}

static void test_types_inferred_and_pipelines_named(void)
{
    gt_hf_tokenizer_facts f;
    gt_error err = {0};
    /* Older files leave out model.type: a list vocab is Unigram. */
    CHECK_EQ_INT(facts_of("{\"model\": {\"unk_id\": 1, \"vocab\": [[\"<pad>\", 0], [\"<unk>\", 0], [\"a\", -1.5]]},"
                          " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"},"
                          " {\"type\": \"Lowercase\"}]}, \"truncation\": {\"max_length\": 512}}",
                          &f, &err),
                 GT_OK);
    CHECK_EQ_STR(f.model, "Unigram");
    CHECK_EQ_INT(f.vocab_size, 3);
    CHECK_EQ_STR(f.unk_token, "<unk>");
    CHECK_EQ_STR(f.normalizer, "Sequence(NFKC, Lowercase)");
    CHECK_EQ_INT(f.lowercase, 1);
    CHECK_EQ_INT(f.truncation_max_length, 512);
    /* A merges list means BPE. */
    CHECK_EQ_INT(facts_of("{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}", &f, &err),
                 GT_OK);
    CHECK_EQ_STR(f.model, "BPE");
    CHECK_EQ_INT(f.merges, 1);
    CHECK_EQ_INT(f.lowercase, 0);
}

static void test_tokenizers_that_cannot_be_described(void)
{
    gt_hf_tokenizer_facts f;
    gt_error err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", fixture("bad/unknown-model"));
    CHECK_EQ_INT(gt_hf_tokenizer_facts_read(path, &f, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "unknown tokenizer model type \"SentencePieceMagic\"") != NULL);
    CHECK_EQ_INT(facts_of("{\"model\": {}}", &f, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "unknown tokenizer model type \"(none)\"") != NULL);
    CHECK_EQ_INT(facts_of("{\"model\": {\"type\": \"WordPiece\", \"vocab\": [1]}}", &f, &err), GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "tokenizer.json: model.vocab is missing or not a mapping of tokens to ids");
    CHECK_EQ_INT(facts_of("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", &f, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "BPE model has no \"merges\" list") != NULL);
    CHECK_EQ_INT(facts_of("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}, \"added_tokens\": [{\"id\": 1}]}",
                          &f, &err),
                 GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "tokenizer.json: added_tokens[0] has no \"content\" string");
    CHECK_EQ_INT(facts_of("{\"vocab\": {}}", &f, &err), GT_ERR_PARSE);
    CHECK(strstr(err.message, "no \"model\" object") != NULL);
    /* A hostile token's text is shown without control characters. */
    CHECK_EQ_INT(facts_of("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}, \"added_tokens\":"
                          " [{\"content\": \"a\\n\\u001b[2J\", \"special\": true}]}",
                          &f, &err),
                 GT_OK);
    CHECK_EQ_STR(f.specials[0], "a??[2J");
}

int main(void)
{
    RUN(test_model_directory_config);
    RUN(test_wordpiece_facts);
    RUN(test_types_inferred_and_pipelines_named);
    RUN(test_tokenizers_that_cannot_be_described);
    return test_summary();
}
