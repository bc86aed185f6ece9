/* What `greentune inspect` reads from a tokenizer.json (hf.c): the JSON through
 * the bounded parser, then the facts. Text fields are copied for display, so
 * they must come out NUL-terminated and free of control characters. */
#include "fuzz.h"

#include "greentune/hf.h"

static void check_display(const char *text, size_t cap)
{
    FUZZ_ASSERT(memchr(text, '\0', cap) != NULL);
    for (const char *p = text; *p; p++)
        FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7F);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = NULL;
    gt_error err = {0};
    if (gt_json_parse((const char *)data, size, "fuzz.json", &root, &err) != GT_OK) {
        FUZZ_ASSERT(!root);
        fuzz_check_message(err.message);
        return 0;
    }
    gt_hf_tokenizer_facts f;
    if (gt_hf_tokenizer_facts_from_tree(root, "fuzz.json", &f, &err) == GT_OK) {
        FUZZ_ASSERT(f.special_count <= f.added_tokens);
        check_display(f.unk_token, sizeof f.unk_token);
        check_display(f.subword_prefix, sizeof f.subword_prefix);
        check_display(f.normalizer, sizeof f.normalizer);
        check_display(f.pre_tokenizer, sizeof f.pre_tokenizer);
        for (size_t i = 0; i < f.special_count && i < GT_HF_TOKENIZER_SPECIALS; i++)
            check_display(f.specials[i], sizeof f.specials[i]);
    } else {
        fuzz_check_message(err.message);
    }
    cJSON_Delete(root);
    return 0;
}
