/* Builds a run store from a fixture file (tests/fixtures/report/experiment.json,
 * written by make_fixture.py) through the public store API, the way a sweep
 * would fill it: experiment and variants, idle power, done runs from their
 * JSON records, failed runs (claimed, then failed) and planned ones. */
#ifndef GREENTUNE_TEST_REPORT_FIXTURE_H
#define GREENTUNE_TEST_REPORT_FIXTURE_H

#include "greentune/common.h"

gt_status fixture_build_db(const char *fixture_path, const char *db_path, gt_error *err);

#endif
