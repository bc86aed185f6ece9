/* `--set KEY=VALUE` overrides: each line of the input is one assignment applied
 * to a small pipeline file, then the tree is read back as the loaders would. */
#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char base[] = "data: {format: csv, path: data.csv, split: [0.8, 0.1, 0.1]}\n"
                               "train: {epochs: 1, lr: 5.0e-4}\n"
                               "knobs: {seq_trim: 128}\n"
                               "variants:\n  - {name: V0}\n  - {name: V1, knobs: {bf16: true}}\n";
    gt_config *cfg = NULL;
    gt_error err = {0};
    FUZZ_ASSERT(gt_config_parse_yaml(base, sizeof base - 1, "base.yaml", &cfg, &err) == GT_OK);
    char *text = fuzz_cstring(data, size);
    int applied = 0;
    for (char *line = text, *next; line && applied < 64; line = next, applied++) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (gt_config_set(cfg, line, &err) != GT_OK)
            fuzz_check_message(err.message);
    }
    free(text);
    fuzz_config_read_back(cfg);
    gt_config_free(cfg);
    return 0;
}
