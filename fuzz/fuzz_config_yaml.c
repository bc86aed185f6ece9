/* Pipeline and experiment files: YAML through libyaml's events into a config
 * tree (bounded depth, node count and scalar length, no aliases), then every
 * getter, key check and a JSON round trip. */
#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gt_config *cfg = NULL;
    gt_error err = {0};
    gt_status status = gt_config_parse_yaml((const char *)data, size, "fuzz.yaml", &cfg, &err);
    if (status != GT_OK) {
        FUZZ_ASSERT(!cfg && err.status == status);
        fuzz_check_message(err.message);
        return 0;
    }
    fuzz_config_read_back(cfg);
    gt_config_free(cfg);
    return 0;
}
