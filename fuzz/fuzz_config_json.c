/* config.json (and every JSON file read through gt_json_parse): UTF-8, NUL,
 * depth and duplicate-key checks before cJSON, then the config getters and a
 * JSON round trip. */
#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_config_text(gt_config_parse_json, "config.json", data, size);
    return 0;
}
