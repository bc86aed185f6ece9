/* The machine facts of a run record, as the run store reads them back. */
#include "pipeline/machine.h"

#include "greentune/store.h"

cJSON *pl_machine_json(int threads)
{
    gt_machine m;
    gt_machine_read(&m);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "hostname", m.hostname);
    cJSON_AddStringToObject(o, "cpu_model", m.cpu_model);
    cJSON_AddNumberToObject(o, "cores", m.cores);
    cJSON_AddNumberToObject(o, "threads", threads);
    return o;
}
