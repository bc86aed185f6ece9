/* One SpamAssassin record as `make data` unpacks it ({"id", "group",
 * "checksum", "text"}), read into a data set under the group spam-1. A record
 * that is accepted becomes exactly one spam sample with valid UTF-8 text. */
#include "fuzz.h"

#include "data/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.path = "spamassassin";
    gt_dataset_builder b;
    gt_error err = {0};
    FUZZ_ASSERT(gt_builder_init(&b, &opt, &err) == GT_OK);
    char *names[2] = {"ham", "spam"};
    FUZZ_ASSERT(gt_builder_set_classes(&b, names, 2, &err) == GT_OK);
    gt_status status = gt_read_spamassassin_message(&b, (const char *)data, size, "spam-1/00001.json", "spam-1", 1,
                                                    &err);
    if (status == GT_OK) {
        FUZZ_ASSERT(b.ds->n == 1 && b.ds->labels[0] == 1);
        FUZZ_ASSERT(!strncmp(b.ds->ids[0], "spam-1/", 7));
    } else {
        FUZZ_ASSERT(b.ds->n == 0 && err.status == status);
        fuzz_check_message(err.message);
    }
    gt_builder_abort(&b);
    return 0;
}
