/* WordPiece training: the vocabulary holds the corpus' frequent words, known
 * words round-trip, unseen characters are [UNK], and the saved tokenizer.json
 * reloads to the same ids — here and in the independent Python reference. */
#include <cjson/cJSON.h>

#include "data_tests.h"
#include "greentune/tokenizer.h"

static const char *corpus[] = {
    "The energy of the training run is measured for every stage.",
    "Green tuning: the energy per token, the energy per stage, the total energy.",
    "Tokenizers split the text; the tokenizer is trained on the training split.",
    "Measure the energy, then measure again. Energy, energy, energy!",
    "THE STAGES: data, tokenize, load, train, save, eval. The stages are metered.",
    "Caf\xc3\xa9 and na\xc3\xafve lose their accents when lowercased; the words stay.",
    "tokenize tokenized tokenizing tokenizer tokenizers token tokens",
};
enum { N_CORPUS = sizeof corpus / sizeof corpus[0] };

static gt_tokenizer *train(size_t vocab_size, int lowercase, gt_error *err)
{
    gt_wordpiece_options opt;
    gt_wordpiece_options_init(&opt);
    opt.vocab_size = vocab_size;
    opt.lowercase = lowercase;
    gt_tokenizer *tok = NULL;
    if (gt_tokenizer_train_wordpiece(&tok, corpus, NULL, N_CORPUS, &opt, err) != GT_OK)
        fprintf(stderr, "%s\n", err->message);
    return tok;
}

static int32_t *encode(const gt_tokenizer *tok, const char *text, size_t *n)
{
    gt_error err = {0};
    int32_t *ids = NULL;
    if (gt_tokenizer_encode(tok, text, strlen(text), NULL, &ids, n, &err) != GT_OK)
        fprintf(stderr, "%s\n", err.message);
    return ids;
}

static void test_vocabulary_holds_frequent_words(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = train(200, 1, &err);
    CHECK(tok != NULL);
    if (!tok)
        return;
    gt_tokenizer_facts f;
    gt_tokenizer_describe(tok, &f);
    CHECK(f.vocab_size <= 200);
    CHECK_EQ_STR(f.model, "WordPiece");
    static const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
        CHECK_EQ_STR(gt_tokenizer_id_to_token(tok, i), specials[i]);
    CHECK_EQ_INT(f.pad_id, 0);
    CHECK_EQ_INT(f.cls_id, 2);
    CHECK_EQ_INT(f.sep_id, 3);
    /* In the lowercased corpus "the" occurs 12 times, "energy" 8, the others at least twice. */
    static const char *frequent[] = {"the", "energy", "stage", "token", "train"};
    for (size_t i = 0; i < 5; i++)
        CHECK_MSG(gt_tokenizer_token_to_id(tok, frequent[i]) >= 0, "\"%s\" is not in the vocabulary", frequent[i]);
    /* Accents are stripped before counting: "cafe" has no "é" to learn. */
    CHECK(gt_tokenizer_token_to_id(tok, "\xc3\xa9") < 0);
    gt_tokenizer_free(tok);
}

static void test_known_words_round_trip_and_unseen_chars_are_unknown(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = train(200, 1, &err);
    if (!tok)
        return;
    size_t n;
    int32_t *ids = encode(tok, "The energy, the stage.", &n);
    /* [CLS] the energy , the stage . [SEP]: one id per known word. */
    CHECK_EQ_INT(n, 8);
    if (ids && n == 8) {
        CHECK_EQ_INT(ids[0], 2);
        CHECK_EQ_INT(ids[1], gt_tokenizer_token_to_id(tok, "the"));
        CHECK_EQ_INT(ids[2], gt_tokenizer_token_to_id(tok, "energy"));
        CHECK_EQ_INT(ids[7], 3);
    }
    char *text = NULL;
    CHECK_EQ_INT(gt_tokenizer_decode(tok, ids, n, 1, &text, &err), GT_OK);
    CHECK_EQ_STR(text, "the energy, the stage.");
    free(text);
    free(ids);
    /* No Greek or CJK in the corpus: such words are one [UNK] each. */
    ids = encode(tok, "energy \xce\xa9mega \xe4\xb8\xad", &n);
    CHECK_EQ_INT(n, 5);
    if (ids && n == 5) {
        CHECK_EQ_INT(ids[2], 1);
        CHECK_EQ_INT(ids[3], 1);
    }
    free(ids);
    /* An unseen word of seen characters is spelled in pieces, never [UNK]. */
    ids = encode(tok, "tokenizingly", &n);
    CHECK(n >= 3);
    for (size_t i = 1; ids && i + 1 < n; i++)
        CHECK(ids[i] != 1);
    free(ids);
    gt_tokenizer_free(tok);
}

static void test_saved_file_reloads_to_the_same_ids(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = train(150, 1, &err), *again = train(150, 1, &err), *loaded = NULL;
    if (!tok || !again)
        return;
    const char *path = test_path("tokenizer.json"), *path2 = test_path("again.json");
    CHECK_EQ_INT(gt_tokenizer_save(tok, path, &err), GT_OK);
    CHECK_EQ_INT(gt_tokenizer_save(again, path2, &err), GT_OK);
    char *a = test_read_file(path, NULL), *b = test_read_file(path2, NULL);
    CHECK_MSG(a && b && !strcmp(a, b), "training twice gave different files");
    cJSON *json = a ? cJSON_Parse(a) : NULL;
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "model"), "type")->valuestring, "WordPiece");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "normalizer"), "type")->valuestring,
                 "BertNormalizer");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "post_processor"), "type")->valuestring,
                 "TemplateProcessing");
    cJSON_Delete(json);
    free(a);
    free(b);
    CHECK_EQ_INT(gt_tokenizer_load(&loaded, path, &err), GT_OK);
    if (loaded) {
        for (int i = 0; i < N_CORPUS; i++) {
            size_t n1, n2;
            int32_t *x = encode(tok, corpus[i], &n1), *y = encode(loaded, corpus[i], &n2);
            CHECK(n1 == n2 && memcmp(x, y, n1 * sizeof *x) == 0);
            free(x);
            free(y);
        }
    }
    gt_tokenizer_free(loaded);
    gt_tokenizer_free(again);
    gt_tokenizer_free(tok);
}

/* The saved file, read by the Python reference, gives the same ids as greentune. */
static void test_reference_reads_the_trained_tokenizer(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = train(150, 1, &err);
    if (!tok)
        return;
    CHECK_EQ_INT(gt_tokenizer_save(tok, test_path("trained.json"), &err), GT_OK);
    static const char *extra[] = {"Unseen: \xce\xa9 and \xe4\xb8\xad\xe6\x96\x87!", "  spaces\tand\ttabs  ",
                                  "ENERGY-efficient tokenization", ""};
    cJSON *texts = cJSON_CreateArray();
    for (int i = 0; i < N_CORPUS; i++)
        cJSON_AddItemToArray(texts, cJSON_CreateString(corpus[i]));
    for (int i = 0; i < 4; i++)
        cJSON_AddItemToArray(texts, cJSON_CreateString(extra[i]));
    char *json = cJSON_PrintUnformatted(texts);
    test_write_file(test_path("texts.json"), json, strlen(json));
    free(json);
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/data/reference_tokenizer.py", test_env("GREENTUNE_SOURCE_DIR"));
    char *argv[] = {(char *)test_env("GREENTUNE_PYTHON"), script, (char *)test_path("trained.json"),
                    (char *)test_path("texts.json"), NULL};
    char *out = NULL, *errout = NULL;
    CHECK_EQ_INT(test_run(argv, &out, &errout), 0);
    cJSON *expected = out ? cJSON_Parse(out) : NULL;
    CHECK_EQ_INT(cJSON_GetArraySize(expected), N_CORPUS + 4);
    const cJSON *row = expected ? expected->child : NULL;
    for (const cJSON *t = texts->child; t && row; t = t->next, row = row->next) {
        size_t n;
        int32_t *ids = encode(tok, t->valuestring, &n);
        int same = (size_t)cJSON_GetArraySize(row) == n;
        size_t i = 0;
        for (const cJSON *e = row->child; e && same; e = e->next, i++)
            same = ids[i] == (int32_t)e->valuedouble;
        CHECK_MSG(same, "\"%s\": greentune and the reference disagree", t->valuestring);
        free(ids);
    }
    cJSON_Delete(expected);
    cJSON_Delete(texts);
    free(out);
    free(errout);
    gt_tokenizer_free(tok);
}

static void test_cased_training_keeps_case(void)
{
    gt_error err = {0};
    gt_tokenizer *tok = train(250, 0, &err);
    if (!tok)
        return;
    size_t n1, n2;
    int32_t *upper = encode(tok, "The", &n1), *lower = encode(tok, "the", &n2);
    CHECK(n1 == 3 && n2 == 3 && upper[1] != lower[1]);
    free(upper);
    free(lower);
    gt_tokenizer_free(tok);
}

static void test_bad_options_are_refused(void)
{
    gt_error err = {0};
    gt_wordpiece_options opt;
    gt_wordpiece_options_init(&opt);
    gt_tokenizer *tok = NULL;
    opt.vocab_size = 3;
    CHECK_EQ_INT(gt_tokenizer_train_wordpiece(&tok, corpus, NULL, N_CORPUS, &opt, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "vocab_size 3"), "%s", err.message);
    opt.vocab_size = 100;
    CHECK_EQ_INT(gt_tokenizer_train_wordpiece(&tok, corpus, NULL, 0, &opt, &err), GT_ERR_INVALID);
    static const char *blank[] = {"   ", "\t\n"};
    CHECK_EQ_INT(gt_tokenizer_train_wordpiece(&tok, blank, NULL, 2, &opt, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "no words"), "%s", err.message);
}

int main(void)
{
    RUN(test_vocabulary_holds_frequent_words);
    RUN(test_known_words_round_trip_and_unseen_chars_are_unknown);
    RUN(test_saved_file_reloads_to_the_same_ids);
    RUN(test_reference_reads_the_trained_tokenizer);
    RUN(test_cased_training_keeps_case);
    RUN(test_bad_options_are_refused);
    return test_summary();
}
