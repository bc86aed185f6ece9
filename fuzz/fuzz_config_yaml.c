/* Pipeline and experiment files: YAML through libyaml's events into a config
 * tree (bounded depth, node count and scalar length, no aliases), then every
 * getter, key check and a JSON round trip. */
#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_config_text(gt_config_parse_yaml, "fuzz.yaml", data, size);
    return 0;
}
