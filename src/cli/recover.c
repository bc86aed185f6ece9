#include <stdio.h>

#include "cli.h"
#include "greentune/knobs.h"

void cli_recover_machine_state(void)
{
    gt_error err = {0};
    char summary[GT_ERROR_MESSAGE_MAX];
    int restored = 0;
    /* A failed replay keeps the journal for the next start; the command itself
     * goes on, since most commands never touch machine state. */
    if (gt_machine_state_recover(&restored, summary, sizeof summary, &err) != GT_OK)
        fprintf(stderr, "greentune: %s\n", err.message);
    else if (restored)
        fprintf(stderr, "greentune: %s\n", summary);
}
