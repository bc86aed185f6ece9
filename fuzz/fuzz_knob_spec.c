/* `--knob` specs: NAME, NAME=VALUE or NAME={k: v, ...} through the flow parser
 * and the catalog's parameter checks. Each input line is one spec added to the
 * same set (so duplicates and conflicts are reached too); the set must stay
 * within its bound and print as the run JSON's "knobs" array. */
#include "fuzz.h"

#include "greentune/knobs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    gt_knob_set set;
    gt_knob_set_init(&set);
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        gt_error err = {0};
        size_t before = set.count;
        gt_status status = gt_knob_set_add_spec(&set, line, &err);
        if (status != GT_OK) {
            FUZZ_ASSERT(set.count == before && err.status == status);
            fuzz_check_message(err.message);
        }
        FUZZ_ASSERT(set.count <= GT_KNOB_SET_MAX);
    }
    for (size_t i = 0; i < set.count; i++)
        FUZZ_ASSERT(gt_knob_set_find(&set, set.items[i].def->name) == &set.items[i]);
    gt_error err = {0};
    if (gt_knob_set_check_available(&set, &err) != GT_OK)
        fuzz_check_message(err.message);
    cJSON *json = gt_knob_set_to_json(&set);
    FUZZ_ASSERT(cJSON_GetArraySize(json) == (int)set.count);
    char *printed = cJSON_PrintUnformatted(json);
    FUZZ_ASSERT(printed);
    cJSON_free(printed);
    cJSON_Delete(json);
    gt_knob_set_free(&set);
    free(text);
    return 0;
}
