/* The machine a run ran on, for the run record. Kept apart because
 * greentune/store.h (gt_machine_read) and greentune/knobs.h both define the
 * GT_STAGE_* names: a file may include only one of them. */
#ifndef GREENTUNE_PIPELINE_MACHINE_H
#define GREENTUNE_PIPELINE_MACHINE_H

#include <cjson/cJSON.h>

/* {"hostname", "cpu_model", "cores", "threads"}. */
cJSON *pl_machine_json(int threads);

#endif
