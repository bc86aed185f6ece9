/* The fuzz build leaves the engine (src/nn, src/pipeline) out — see
 * CMakeLists.txt — but the knob catalog's stage hooks, which run only inside a
 * pipeline, name engine functions, so fuzz_knob_spec would not link. These
 * stand in for them, by name only: none is reached by parsing a knob spec, and
 * one that were would abort here, naming itself, which the fuzzer reports as a
 * crash (a parser reaching into the engine is a finding). A knob that starts
 * calling another engine function shows up as an undefined reference when the
 * fuzz build links: add its name below. */
#include "fuzz.h"

static void absent(const char *name)
{
    fprintf(stderr, "fuzz build: %s is engine code, not linked here, yet a parser reached it\n", name);
    abort();
}

#define ABSENT(name)                                                                                             \
    void name(void);                                                                                             \
    void name(void) { absent(#name); }

ABSENT(gt_nn_activation_name)
ABSENT(gt_nn_activation_parse)
ABSENT(gt_nn_arch_name)
ABSENT(gt_nn_attention_name)
ABSENT(gt_nn_check_precision)
ABSENT(gt_nn_config_params)
ABSENT(gt_nn_lora_info_get)
ABSENT(gt_nn_lora_target_name)
ABSENT(gt_nn_model_config)
ABSENT(gt_nn_model_create)
ABSENT(gt_nn_model_free)
ABSENT(gt_nn_model_info_get)
ABSENT(gt_nn_model_options)
ABSENT(gt_nn_model_set_options)
ABSENT(gt_nn_optimizer_defaults)
ABSENT(gt_nn_plan_bytes)
ABSENT(gt_nn_precision_name)
ABSENT(gt_nn_precision_parse)
ABSENT(gt_nn_set_teacher)
ABSENT(pl_check_vocab)
ABSENT(pl_class_names_free)
ABSENT(pl_hf_config_read)
ABSENT(pl_load_weights)
ABSENT(pl_log)
ABSENT(pl_warn)
