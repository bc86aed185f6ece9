/* greentune's tokenizers give the ids of the independent Python reference
 * (tests/data/reference_tokenizer.py, whose output is committed as
 * tests/fixtures/tokenizers/expected.json and was cross-checked against
 * Hugging Face tokenizers) for WordPiece and byte-level BPE tokenizer.json
 * files, with and without truncation — on the plain path, the fast path and
 * one text at a time alike. */
#include <cjson/cJSON.h>

#include "data_tests.h"
#include "greentune/fileio.h"
#include "greentune/tokenizer.h"

static cJSON *load_json(const char *rel)
{
    char *text = test_read_file(fixture(rel), NULL);
    cJSON *json = text ? cJSON_Parse(text) : NULL;
    free(text);
    return json;
}

static int same_ids(const int32_t *ids, size_t n, const cJSON *expected)
{
    if ((size_t)cJSON_GetArraySize(expected) != n)
        return 0;
    size_t i = 0;
    for (const cJSON *e = expected->child; e; e = e->next, i++)
        if (ids[i] != (int32_t)e->valuedouble)
            return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

static void run_case(const cJSON *c)
{
    const char *tok_file = cJSON_GetObjectItem(c, "tokenizer")->valuestring;
    const char *texts_file = cJSON_GetObjectItem(c, "texts")->valuestring;
    const cJSON *special = cJSON_GetObjectItem(c, "add_special_tokens");
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s", tok_file);
    gt_error err = {0};
    gt_tokenizer *tok = NULL;
    CHECK_EQ_INT(gt_tokenizer_load(&tok, fixture(rel), &err), GT_OK);
    snprintf(rel, sizeof rel, "tokenizers/%s", texts_file);
    cJSON *texts = load_json(rel);
    CHECK(cJSON_IsArray(texts));
    if (!tok || !texts) {
        fprintf(stderr, "%s\n", err.message);
        cJSON_Delete(texts);
        gt_tokenizer_free(tok);
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(texts);
    const char **strings = malloc(n * sizeof *strings);
    size_t i = 0;
    for (const cJSON *t = texts->child; t; t = t->next)
        strings[i++] = t->valuestring;

    gt_encode_options opt;
    gt_encode_options_init(&opt);
    opt.max_len = (size_t)cJSON_GetObjectItem(c, "max_len")->valuedouble;
    opt.add_special_tokens = special ? cJSON_IsTrue(special) : 1;
    gt_encoded plain, fast;
    opt.fast = 0;
    CHECK_EQ_INT(gt_tokenizer_encode_batch(tok, strings, NULL, n, &opt, &plain, &err), GT_OK);
    opt.fast = 1;
    opt.threads = 3;  /* more threads than cores is fine and shuffles the work */
    CHECK_EQ_INT(gt_tokenizer_encode_batch(tok, strings, NULL, n, &opt, &fast, &err), GT_OK);
    CHECK_EQ_INT(plain.n, n);
    const cJSON *expected = cJSON_GetObjectItem(c, "ids")->child;
    for (i = 0; i < n && expected; i++, expected = expected->next) {
        const int32_t *ids = plain.ids + plain.offsets[i];
        size_t len = plain.offsets[i + 1] - plain.offsets[i];
        int ok = same_ids(ids, len, expected);
        CHECK_MSG(ok, "%s max_len %zu: text %zu differs from the reference", tok_file, opt.max_len, i);
        if (!ok) {
            char *want = cJSON_PrintUnformatted(expected);
            fprintf(stderr, "  text: %s\n  want: %s\n", strings[i], want);
            print_ids("got ", ids, len);
            free(want);
        }
        CHECK_MSG(same_ids(fast.ids + fast.offsets[i], fast.offsets[i + 1] - fast.offsets[i], expected),
                  "%s: text %zu: the fast path differs", tok_file, i);
        int32_t *one;
        size_t one_n;
        CHECK_EQ_INT(gt_tokenizer_encode(tok, strings[i], strlen(strings[i]), &opt, &one, &one_n, &err), GT_OK);
        CHECK_MSG(same_ids(one, one_n, expected), "%s: text %zu: encoding it alone differs", tok_file, i);
        free(one);
    }
    gt_encoded_free(&plain);
    gt_encoded_free(&fast);
    free(strings);
    cJSON_Delete(texts);
    gt_tokenizer_free(tok);
}

static void test_every_case_matches_the_reference(void)
{
    cJSON *expected = load_json("tokenizers/expected.json");
    const cJSON *cases = cJSON_GetObjectItem(expected, "cases");
    CHECK(cJSON_GetArraySize(cases) >= 6);
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next)
        run_case(c);
    cJSON_Delete(expected);
}

/* What the files declare, read back: the special ids batching and the model need. */
static void test_facts_of_the_fixture_tokenizers(void)
{
    gt_tokenizer *wp = fixture_tokenizer("wordpiece-tiny.json"), *bpe = fixture_tokenizer("bpe-tiny.json");
    if (!wp || !bpe)
        return;
    gt_tokenizer_facts f;
    gt_tokenizer_describe(wp, &f);
    CHECK_EQ_STR(f.model, "WordPiece");
    CHECK_EQ_INT(f.pad_id, 0);
    CHECK_EQ_INT(f.unk_id, 1);
    CHECK_EQ_INT(f.cls_id, 2);
    CHECK_EQ_INT(f.sep_id, 3);
    CHECK_EQ_INT(f.mask_id, 4);
    CHECK_EQ_INT(f.n_added_ids, 2);
    CHECK_EQ_INT(f.byte_level, 0);
    CHECK_EQ_INT(gt_tokenizer_token_to_id(wp, "<url>"), (int32_t)f.vocab_size - 1);
    gt_tokenizer_describe(bpe, &f);
    CHECK_EQ_STR(f.model, "BPE");
    CHECK_EQ_INT(f.byte_level, 1);
    CHECK_EQ_INT(f.pad_id, gt_tokenizer_token_to_id(bpe, "[PAD]"));  /* ModernBERT pads with [PAD], not <|padding|> */
    CHECK_EQ_INT(f.cls_id, gt_tokenizer_token_to_id(bpe, "[CLS]"));
    CHECK_EQ_STR(gt_tokenizer_id_to_token(bpe, f.sep_id), "[SEP]");
    CHECK(gt_tokenizer_id_to_token(bpe, (int32_t)f.vocab_size) == NULL);
    gt_tokenizer_free(wp);
    gt_tokenizer_free(bpe);
}

static void test_decoding_returns_the_text(void)
{
    gt_error err = {0};
    gt_tokenizer *wp = fixture_tokenizer("wordpiece-tiny.json"), *bpe = fixture_tokenizer("bpe-tiny.json");
    if (!wp || !bpe)
        return;
    /* Byte-level BPE is lossless (NFC text, special tokens skipped). */
    const char *text = "Caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80  x <= 3;\n\ttab";
    int32_t *ids;
    size_t n;
    char *back;
    CHECK_EQ_INT(gt_tokenizer_encode(bpe, text, strlen(text), NULL, &ids, &n, &err), GT_OK);
    CHECK_EQ_INT(gt_tokenizer_decode(bpe, ids, n, 1, &back, &err), GT_OK);
    CHECK_EQ_STR(back, text);
    free(back);
    free(ids);
    /* WordPiece loses case and spacing around punctuation only. */
    text = "Hello, world! The tokens.";
    CHECK_EQ_INT(gt_tokenizer_encode(wp, text, strlen(text), NULL, &ids, &n, &err), GT_OK);
    CHECK_EQ_INT(gt_tokenizer_decode(wp, ids, n, 1, &back, &err), GT_OK);
    CHECK_EQ_STR(back, "hello, world! the tokens.");
    free(back);
    int32_t bad = 1 << 20;
    CHECK_EQ_INT(gt_tokenizer_decode(wp, &bad, 1, 0, &back, &err), GT_ERR_INVALID);
    free(ids);
    gt_tokenizer_free(bpe);
    gt_tokenizer_free(wp);
}

/* A Sequence of pre-tokenizers splits the words of each step again: whitespace
 * then BERT's rules cut exactly where BERT's rules alone do. */
static void test_pre_tokenizer_sequence(void)
{
    char *text = test_read_file(fixture("tokenizers/wordpiece-tiny.json"), NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    cJSON_ReplaceItemInObject(root, "pre_tokenizer",
                              cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                                          "\"WhitespaceSplit\"}, {\"type\": \"BertPreTokenizer\"}]}"));
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    gt_error err = {0};
    gt_tokenizer *seq = NULL, *plain = fixture_tokenizer("wordpiece-tiny.json");
    CHECK_EQ_INT(gt_tokenizer_from_json(&seq, json, strlen(json), "sequence", &err), GT_OK);
    free(json);
    cJSON *texts = load_json("tokenizers/texts.json");
    for (const cJSON *t = texts && seq && plain ? texts->child : NULL; t; t = t->next) {
        int32_t *a, *b;
        size_t na, nb;
        CHECK_EQ_INT(gt_tokenizer_encode(seq, t->valuestring, strlen(t->valuestring), NULL, &a, &na, &err), GT_OK);
        CHECK_EQ_INT(gt_tokenizer_encode(plain, t->valuestring, strlen(t->valuestring), NULL, &b, &nb, &err), GT_OK);
        CHECK_MSG(na == nb && memcmp(a, b, na * sizeof *a) == 0, "\"%s\"", t->valuestring);
        free(a);
        free(b);
    }
    cJSON_Delete(texts);
    gt_tokenizer_free(seq);
    gt_tokenizer_free(plain);
}

int main(void)
{
    RUN(test_every_case_matches_the_reference);
    RUN(test_facts_of_the_fixture_tokenizers);
    RUN(test_decoding_returns_the_text);
    RUN(test_pre_tokenizer_sequence);
    return test_summary();
}
