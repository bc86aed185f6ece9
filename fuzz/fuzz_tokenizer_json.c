/* tokenizer.json through the tokenizer loader (gt_tokenizer_from_json; the
 * facts `greentune inspect` shows are fuzz_hf_facts.c). A tokenizer that loads
 * must encode and decode text — a fixed sample and the input's own bytes —
 * within its promises: ids inside the vocabulary, at most max_len of them. */
#include "fuzz.h"

#include "greentune/tokenizer.h"

static void check_encoding(const gt_tokenizer *tok, const char *text, size_t len)
{
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(tok, &facts);
    gt_encode_options opt;
    gt_encode_options_init(&opt);
    opt.max_len = 16;
    int32_t *ids = NULL;
    size_t n = 0;
    gt_error err = {0};
    if (gt_tokenizer_encode(tok, text, len, &opt, &ids, &n, &err) != GT_OK) {
        fuzz_check_message(err.message);
        return;
    }
    FUZZ_ASSERT(n <= opt.max_len);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= facts.vocab_size) {
            fprintf(stderr, "id %d of token %zu is outside the vocabulary of %zu\n", ids[i], i, facts.vocab_size);
            abort();
        }
    }
    FUZZ_ASSERT(facts.pad_id < 0 || (size_t)facts.pad_id < facts.vocab_size);
    char *decoded = NULL;
    if (gt_tokenizer_decode(tok, ids, n, 1, &decoded, &err) == GT_OK)
        FUZZ_ASSERT(decoded != NULL);
    else
        fuzz_check_message(err.message);
    free(decoded);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sample[] = "Hello, World! naïve café — 東京 [CLS] <s> don't\tstop\n";
    gt_tokenizer *tok = NULL;
    gt_error err = {0};
    gt_status status = gt_tokenizer_from_json(&tok, (const char *)data, size, "fuzz.json", &err);
    if (status == GT_OK) {
        check_encoding(tok, sample, sizeof sample - 1);
        check_encoding(tok, (const char *)data, size < 256 ? size : 256);
        gt_tokenizer_free(tok);
    } else {
        FUZZ_ASSERT(!tok && err.status == status);
        fuzz_check_message(err.message);
    }
    return 0;
}
