/* CSV (RFC 4180) data sets: quoted fields, doubled quotes, line ends, size limits.
 * The first input byte picks the reader options (fuzz_data.h). */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dataset(GT_DATA_CSV, data, size);
    return 0;
}
