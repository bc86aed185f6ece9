/* A tokenizer.json greentune cannot reproduce exactly is refused with one line
 * naming the file and the component, never tokenized differently. */
#include <cjson/cJSON.h>

#include "data_tests.h"
#include "greentune/tokenizer.h"

/* Loads text as a tokenizer; returns the status and leaves the message in err. */
static gt_status load_text(const char *name, const char *json, gt_error *err)
{
    const char *path = test_path(name);
    test_write_file(path, json, strlen(json));
    gt_tokenizer *tok = NULL;
    gt_status status = gt_tokenizer_load(&tok, path, err);
    gt_tokenizer_free(tok);
    return status;
}

/* The WordPiece fixture with one member replaced (key at the top level or in model). */
static gt_status load_variant(const char *name, const char *where, const char *key, const char *value_json,
                              gt_error *err)
{
    char *text = test_read_file(fixture("tokenizers/wordpiece-tiny.json"), NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *parent = where ? cJSON_GetObjectItem(root, where) : root;
    cJSON_ReplaceItemInObject(parent, key, cJSON_Parse(value_json));
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    gt_status status = load_text(name, json, err);
    free(json);
    return status;
}

static void test_unknown_model_type(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = NULL;
    CHECK_EQ_INT(gt_tokenizer_load(&tok, fixture("tokenizers/unigram.json"), &err), GT_ERR_UNSUPPORTED);
    CHECK(tok == NULL);
    CHECK_MSG(strstr(err.message, "unigram.json: ") && strstr(err.message, "model type \"Unigram\"") &&
                  strstr(err.message, "WordPiece and BPE"), "%s", err.message);
}

static void test_not_a_tokenizer_file(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(load_text("text.json", "hello", &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "text.json: not a JSON object"), "%s", err.message);
    CHECK_EQ_INT(load_text("config.json", "{\"hidden_size\": 768}", &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "no \"model\""), "%s", err.message);
    gt_tokenizer *tok;
    CHECK_EQ_INT(gt_tokenizer_load(&tok, test_path("absent.json"), &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "absent.json") != NULL);
}

static void test_unsupported_components_are_named(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(load_variant("nfkc.json", NULL, "normalizer", "{\"type\": \"NFKC\"}", &err), GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "nfkc.json: normalizer \"NFKC\" is not supported"), "%s", err.message);
    CHECK_EQ_INT(load_variant("meta.json", NULL, "pre_tokenizer", "{\"type\": \"Metaspace\"}", &err),
                 GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "pre_tokenizer \"Metaspace\""), "%s", err.message);
    CHECK_EQ_INT(load_variant("post.json", NULL, "post_processor", "{\"type\": \"Mystery\"}", &err),
                 GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "post_processor \"Mystery\""), "%s", err.message);
}

static void test_inconsistent_vocabularies_are_refused(void)
{
    gt_error err = {0};
    CHECK_EQ_INT(load_variant("unk.json", "model", "unk_token", "\"<unk>\"", &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "unk_token \"<unk>\" is not in the vocabulary"), "%s", err.message);
    CHECK_EQ_INT(load_variant("vocab.json", "model", "vocab", "{\"a\": 0, \"b\": -3}", &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "\"b\"") && strstr(err.message, "not an integer"), "%s", err.message);
    CHECK_EQ_INT(load_variant("dup.json", "model", "vocab", "{\"[UNK]\": 0, \"b\": 0}", &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "same id"), "%s", err.message);
    const char *bpe = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}";
    CHECK_EQ_INT(load_text("merge.json", bpe, &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "merge.json: model.merges: \"ab\"") && strstr(err.message, "merged token"), "%s",
              err.message);
    bpe = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b c\"]}}";
    CHECK_EQ_INT(load_text("three.json", bpe, &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "\"a b c\" is not two tokens"), "%s", err.message);
    bpe = "{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {\"a\": 0}, \"merges\": []}}";
    CHECK_EQ_INT(load_text("dropout.json", bpe, &err), GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "dropout"), "%s", err.message);
    bpe = "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}";
    CHECK_EQ_INT(load_text("fallback.json", bpe, &err), GT_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "byte_fallback"), "%s", err.message);
}

/* The post processor's and the padding's ids index the embedding table like
 * every other id: one outside the vocabulary is refused, not emitted. */
static void test_special_ids_outside_the_vocabulary(void)
{
    gt_error err = {0};
    const char *template = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\"}},"
                           " {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"[CLS]\": {\"ids\": [5000]}}}";
    CHECK_EQ_INT(load_variant("template.json", NULL, "post_processor", template, &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "template.json: post_processor: special token id 5000 is outside the vocabulary"),
              "%s", err.message);
    CHECK_EQ_INT(load_variant("bert.json", NULL, "post_processor",
                              "{\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 2], \"sep\": [\"[SEP]\", 99999]}", &err),
                 GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "special token id 99999"), "%s", err.message);
    CHECK_EQ_INT(load_variant("pad.json", NULL, "padding", "{\"pad_id\": 70000}", &err), GT_ERR_PARSE);
    CHECK_MSG(strstr(err.message, "padding.pad_id 70000 is outside the vocabulary"), "%s", err.message);
}

/* Length limits beyond any text (1e300) load as "no limit", not as an
 * undefined conversion. */
static void test_huge_length_limits_are_capped(void)
{
    char *text = test_read_file(fixture("tokenizers/wordpiece-tiny.json"), NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "model"), "max_input_chars_per_word", cJSON_CreateNumber(1e300));
    cJSON *truncation = cJSON_CreateObject();
    cJSON_AddNumberToObject(truncation, "max_length", 1e300);
    cJSON_ReplaceItemInObject(root, "truncation", truncation);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    gt_tokenizer *tok = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_tokenizer_from_json(&tok, json, strlen(json), "huge.json", &err), GT_OK);
    free(json);
    if (!tok)
        return;
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(tok, &facts);
    CHECK(facts.truncation_max_len == (size_t)1e18);
    int32_t *ids;
    size_t n;
    CHECK_EQ_INT(gt_tokenizer_encode(tok, "hello world", 11, NULL, &ids, &n, &err), GT_OK);
    CHECK(n >= 3);
    free(ids);
    gt_tokenizer_free(tok);
}

static void test_max_len_must_leave_room_for_text(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = fixture_tokenizer("wordpiece-tiny.json");
    if (!tok)
        return;
    gt_encode_options opt;
    gt_encode_options_init(&opt);
    opt.max_len = 2;  /* [CLS] and [SEP] alone */
    int32_t *ids;
    size_t n;
    CHECK_EQ_INT(gt_tokenizer_encode(tok, "hi", 2, &opt, &ids, &n, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "max_len 2"), "%s", err.message);
    opt.max_len = 3;
    CHECK_EQ_INT(gt_tokenizer_encode(tok, "hello world", 11, &opt, &ids, &n, &err), GT_OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(ids[0], 2);
        CHECK_EQ_INT(ids[2], 3);  /* truncation keeps [SEP] */
    }
    free(ids);
    gt_tokenizer_free(tok);
}

/* Texts carry their length: a NUL inside is text, not an end. */
static void test_nul_bytes_inside_text(void)
{
    gt_error err = {0};
    gt_tokenizer *wp = fixture_tokenizer("wordpiece-tiny.json"), *bpe = fixture_tokenizer("bpe-tiny.json");
    if (!wp || !bpe)
        return;
    int32_t *a, *b;
    size_t na, nb;
    /* BERT's clean-up drops NUL: "to\0ken" reads as "token". */
    CHECK_EQ_INT(gt_tokenizer_encode(wp, "to\0ken", 6, NULL, &a, &na, &err), GT_OK);
    CHECK_EQ_INT(gt_tokenizer_encode(wp, "token", 5, NULL, &b, &nb, &err), GT_OK);
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
    free(a);
    free(b);
    /* Byte-level BPE keeps every byte: NUL is the symbol U+0100 ("\xc4\x80"). */
    CHECK_EQ_INT(gt_tokenizer_encode(bpe, "a\0b", 3, NULL, &a, &na, &err), GT_OK);
    int found = 0;
    for (size_t i = 0; i < na; i++)
        found |= a[i] == gt_tokenizer_token_to_id(bpe, "\xc4\x80");
    CHECK(found);
    free(a);
    gt_tokenizer_free(wp);
    gt_tokenizer_free(bpe);
}

int main(void)
{
    RUN(test_unknown_model_type);
    RUN(test_not_a_tokenizer_file);
    RUN(test_unsupported_components_are_named);
    RUN(test_inconsistent_vocabularies_are_refused);
    RUN(test_special_ids_outside_the_vocabulary);
    RUN(test_huge_length_limits_are_capped);
    RUN(test_max_len_must_leave_room_for_text);
    RUN(test_nul_bytes_inside_text);
    return test_summary();
}
