/* JSON array data sets (Devign's function.json): one array of objects.
 * The first input byte picks the reader options (fuzz_data.h). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dataset(GT_DATA_JSON, data, size);
    return 0;
}
