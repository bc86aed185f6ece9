/* config.json (and every JSON file read through gt_json_parse): UTF-8, NUL,
 * depth and duplicate-key checks before cJSON, then the config getters and a
 * JSON round trip. */
#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gt_config *cfg = NULL;
    gt_error err = {0};
    gt_status status = gt_config_parse_json((const char *)data, size, "config.json", &cfg, &err);
    if (status != GT_OK) {
        FUZZ_ASSERT(!cfg && err.status == status);
        fuzz_check_message(err.message);
        return 0;
    }
    fuzz_config_read_back(cfg);
    gt_config_free(cfg);
    return 0;
}
