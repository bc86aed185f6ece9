/* JSON Lines data sets: one object per line, text / label / id fields.
 * The first input byte picks the reader options (fuzz_data.h). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dataset(GT_DATA_JSONL, data, size);
    return 0;
}
