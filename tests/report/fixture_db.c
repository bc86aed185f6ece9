/* fixture_db FIXTURE.json DB: builds a run store for the Python report tests. */
#include <stdio.h>

#include "fixture.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fixture_db FIXTURE.json DB\n");
        return 2;
    }
    gt_error err = {0};
    if (fixture_build_db(argv[1], argv[2], &err) != GT_OK) {
        fprintf(stderr, "fixture_db: %s\n", err.message);
        return 1;
    }
    return 0;
}
