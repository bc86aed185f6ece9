/* Model-phase knobs: what the model is (adapters, weight precision, attention
 * kernel, depth, a teacher, the activation) before it trains.
 *
 * Each knob's effect is a few stage hooks (src/pipeline/stage_hooks.h) that
 * set up the engine (gt_nn_lora, gt_nn_options, a layer map, a teacher) and
 * record evidence read back from the built model and the finished steps —
 * never echoed from the parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knob_internal.h"
#include "pipeline/hf_config.h"
#include "pipeline/pipeline_internal.h"

static const char *const lora_targets[] = {"q", "k", "v", "o", "ffn", NULL};
static const char *const attention_impls[] = {"naive", "fused", "flash", NULL};
static const char *const prune_sides[] = {"top", "bottom", NULL};
static const char *const activations[] = {"relu", "gelu", "gelu_tanh", NULL};
static const char *const teacher_precisions[] = {"auto", "fp32", "bf16", "int8", NULL};

static gt_nn_model_info model_info(const gt_pipeline_ctx *p)
{
    gt_nn_model_info info;
    gt_nn_model_info_get(p->model, &info);
    return info;
}

/* bf16 where the CPU runs it natively (gt_nn_check_precision refuses it otherwise), else fp32. */
static gt_nn_precision fastest_exact_precision(void)
{
    return gt_nn_check_precision(GT_NN_BF16, NULL, NULL) == GT_OK ? GT_NN_BF16 : GT_NN_FP32;
}

/* --- lora ----------------------------------------------------------------------- */

static unsigned lora_target_mask(const gt_knob_use *use)
{
    unsigned mask = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(use->params, "targets"))
        for (int i = 0; lora_targets[i]; i++)
            if (!strcmp(t->valuestring, lora_targets[i]))
                mask |= 1u << i;
    return mask;
}

static gt_status lora_configure(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    p->lora = (gt_nn_lora){.rank = (int)gt_knob_int(use, "rank"), .alpha = (float)gt_knob_double(use, "alpha"),
                           .targets = lora_target_mask(use), .train_head = gt_knob_bool(use, "head"),
                           .dropout = (float)gt_knob_double(use, "dropout")};
    return GT_OK;
}

/* The paper's LoRA run trained ~14 k parameters of adapters on module names
 * that did not exist and learnt nothing: what was built is counted here and a
 * target without adapters or a share under min_share stops the run. */
static gt_status lora_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info = model_info(p);
    gt_nn_lora_info li;
    gt_nn_lora_info_get(p->model, &li);
    unsigned asked = lora_target_mask(use);
    cJSON *covered = cJSON_CreateObject();
    const char *missing = NULL;
    for (int i = 0; i < GT_NN_LORA_TARGETS; i++) {
        if (!(asked & (1u << i)))
            continue;
        cJSON_AddNumberToObject(covered, gt_nn_lora_target_name(i), li.adapters[i]);
        if (!li.adapters[i] && !missing)
            missing = gt_nn_lora_target_name(i);
    }
    double share = info.params ? (double)info.trainable_params / (double)info.params : 0.0;
    knob_evidence_number(use, "trainable_params", (double)info.trainable_params);
    knob_evidence_number(use, "total_params", (double)info.params);
    knob_evidence_number(use, "trainable_share", share);
    knob_evidence_item(use, "targets_covered", covered);
    knob_evidence_number(use, "adapter_params", (double)li.adapter_params);
    knob_evidence_number(use, "frozen_params", (double)li.frozen_params);
    if (missing)
        return gt_error_set(err, GT_ERR_INVALID,
                            "knob \"lora\": target \"%s\" matched no projection of this %s model, so it would train "
                            "nothing there; drop it from targets", missing, gt_nn_arch_name(p->model_config.arch));
    double min_share = gt_knob_double(use, "min_share");
    if (share < min_share)
        return gt_error_set(err, GT_ERR_INVALID,
                            "knob \"lora\": only %ld of %ld parameters (%.3f %%) would train, under min_share %.3g %% "
                            "— too few to learn the task (raise rank, add targets or head, or lower min_share)",
                            info.trainable_params, info.params, 100.0 * share, 100.0 * min_share);
    return GT_OK;
}

static gt_status lora_save(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)p;
    (void)err;
    knob_evidence_string(use, "checkpoint", "adapters merged into the base weights (a plain HF model)");
    return GT_OK;
}

static gt_status lora_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                           gt_error *err)
{
    (void)ctx;
    (void)err;
    char targets[64];
    fprintf(out, "    would freeze every weight but the classifier%s, add rank-%ld adapters (scale %g) to %s of "
            "each layer%s, and merge them into the saved weights\n", gt_knob_bool(use, "head") ? " and the head" : "",
            gt_knob_int(use, "rank"), gt_knob_double(use, "alpha") / (double)gt_knob_int(use, "rank"),
            knob_value_text(cJSON_GetObjectItemCaseSensitive(use->params, "targets"), targets, sizeof targets),
            gt_knob_set_find(set, "int8") ? " (QLoRA: the frozen base runs int8 matmuls)" : "");
    return GT_OK;
}

static const gt_stage_hooks lora_stage = {.at = {[GT_HOOK_CONFIGURE] = lora_configure,
                                                 [GT_HOOK_LOAD] = lora_load,
                                                 [GT_HOOK_SAVE] = lora_save}};
static const struct gt_knob_hooks lora_hooks = {.plan = lora_plan, .stage = &lora_stage};

/* --- int8 ----------------------------------------------------------------------- */

static gt_status int8_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_precision_info pi;
    gt_status st = gt_nn_check_precision(GT_NN_INT8, &pi, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "knob \"int8\": ");
    p->nn.infer_precision = GT_NN_INT8;
    p->nn.frozen_int8 = gt_knob_set_find(p->knobs, "lora") != NULL;
    knob_evidence_bool(use, "qlora", p->nn.frozen_int8);
    knob_evidence_string(use, "int8_path", pi.detail);
    return GT_OK;
}

static gt_status int8_save(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    knob_evidence_number(use, "int8_matmuls_train", (double)model_info(p).matmul_calls[GT_NN_INT8]);
    return GT_OK;
}

static gt_status int8_finish(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info = model_info(p);
    knob_evidence_number(use, "int8_matmuls", (double)info.matmul_calls[GT_NN_INT8]);
    knob_evidence_number(use, "int8_weights", info.int8_weights);
    knob_evidence_number(use, "weight_bytes_before", (double)info.int8_source_bytes);
    knob_evidence_number(use, "weight_bytes_after", (double)info.int8_weight_bytes);
    if (!info.matmul_calls[GT_NN_INT8] || !info.int8_weights)
        return gt_error_set(err, GT_ERR_INTERNAL, "knob \"int8\": no matmul ran in int8 (was the precision overridden?)");
    return GT_OK;
}

static gt_status int8_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                           gt_error *err)
{
    (void)use;
    (void)ctx;
    gt_nn_precision_info pi;
    if (gt_nn_check_precision(GT_NN_INT8, &pi, err) != GT_OK)
        return GT_ERR_UNSUPPORTED;
    fprintf(out, "    would quantize the linear weights to int8 (per-channel scales) for validation and eval%s; %s\n",
            gt_knob_set_find(set, "lora") ? ", and run the frozen LoRA base in int8 while training (QLoRA)" : "",
            pi.detail);
    return GT_OK;
}

static const gt_stage_hooks int8_stage = {.at = {[GT_HOOK_LOAD] = int8_load,
                                                 [GT_HOOK_SAVE] = int8_save,
                                                 [GT_HOOK_FINISH] = int8_finish}};
static const struct gt_knob_hooks int8_hooks = {.plan = int8_plan, .stage = &int8_stage};

/* --- attention ------------------------------------------------------------------ */

/* naive: the kernel that keeps the (T, T) probabilities; fused: the blocked
 * online-softmax kernel with its own block size; flash: the same kernel with
 * the block parameter. */
static gt_status attention_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const char *impl = gt_knob_string(use, "impl");
    p->nn.attention = strcmp(impl, "naive") ? GT_NN_ATTN_FUSED : GT_NN_ATTN_STANDARD;
    p->nn.attention_block = strcmp(impl, "flash") ? 0 : (int)gt_knob_int(use, "block");
    return GT_OK;
}

static gt_status attention_finish(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info = model_info(p);
    gt_nn_options used = gt_nn_model_options(p->model), other = used;
    char text[64];
    snprintf(text, sizeof text, "%s%s", gt_nn_attention_name(used.attention),
             used.attention_block ? " (block " : "");
    if (used.attention_block)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d)", used.attention_block);
    knob_evidence_string(use, "impl_used", text);
    knob_evidence_number(use, "peak_attention_bytes", (double)info.train_attention_bytes);
    /* the other kernel at the same step shape, from the same plan */
    other.attention = used.attention == GT_NN_ATTN_FUSED ? GT_NN_ATTN_STANDARD : GT_NN_ATTN_FUSED;
    size_t total, attention;
    gt_status st = gt_nn_plan_bytes(p->model, info.train_B, info.train_T, 1, &other, &total, &attention, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "knob \"attention\": ");
    int naive = used.attention == GT_NN_ATTN_STANDARD;
    knob_evidence_number(use, "peak_attention_bytes_naive", (double)(naive ? info.train_attention_bytes : attention));
    knob_evidence_number(use, "peak_attention_bytes_blocked", (double)(naive ? attention : info.train_attention_bytes));
    return GT_OK;
}

static gt_status attention_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    const char *impl = gt_knob_string(use, "impl");
    if (!strcmp(impl, "naive"))
        fputs("    would run the attention that keeps every (T, T) probability matrix for backward\n", out);
    else
        fprintf(out, "    would run the blocked online-softmax attention (only a log-sum-exp per query kept), "
                "blocks of %s\n", strcmp(impl, "flash") ? "the kernel's choice" : "the block parameter");
    return GT_OK;
}

static const gt_stage_hooks attention_stage = {.at = {[GT_HOOK_LOAD] = attention_load,
                                                      [GT_HOOK_FINISH] = attention_finish}};
static const struct gt_knob_hooks attention_hooks = {.plan = attention_plan, .stage = &attention_stage};

/* --- prune_layers ----------------------------------------------------------------- */

/* Exactly one of n and fraction: the paper's "prune 4 of 22 layers" becomes a
 * fraction so the same experiment file scales to any model depth. */
static gt_status prune_layers_validate(const gt_knob_def *def, const cJSON *params, gt_error *err)
{
    int has_n = cJSON_GetObjectItemCaseSensitive(params, "n") != NULL;
    int has_fraction = cJSON_GetObjectItemCaseSensitive(params, "fraction") != NULL;
    if (has_n == has_fraction)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": give n (layers) or fraction (of the layers), %s",
                            def->name, has_n ? "not both" : "e.g. prune_layers={n: 2, from: top}");
    return GT_OK;
}

/* Layers the knob removes from a model of `layers`. */
static long prune_count(const gt_knob_use *use, int layers)
{
    return gt_knob_has(use, "n") ? gt_knob_int(use, "n") : lround(gt_knob_double(use, "fraction") * layers);
}

/* The kept layers are one contiguous run [first, first + kept) of the
 * original ones; a loaded model reads them through p->layer_map. ModernBERT
 * keeps each layer's global/local kind by shifting the every-n pattern. */
static gt_status prune_configure(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_config *c = &p->model_config;
    int before = c->layers;
    long n = prune_count(use, before);
    if (n < 1 || n >= before)
        return gt_error_set(err, GT_ERR_INVALID,
                            "knob \"prune_layers\": removing %ld of the model's %d layers leaves %s; give n from 1 to "
                            "%d (or a fraction that rounds into it)", n, before, n < 1 ? "it as it is" : "none",
                            before - 1);
    int kept = before - (int)n, first = strcmp(gt_knob_string(use, "from"), "bottom") ? 0 : (int)n;
    long params_before;
    gt_status st = gt_nn_config_params(c, &params_before, err);
    if (st != GT_OK)
        return st;
    if (p->spec->model_from) {
        free(p->layer_map);
        if (!(p->layer_map = malloc((size_t)kept * sizeof *p->layer_map)))
            return gt_error_set(err, GT_ERR_NOMEM, "knob \"prune_layers\": out of memory");
        for (int i = 0; i < kept; i++)
            p->layer_map[i] = first + i;
    }
    if (c->arch == GT_NN_MODERNBERT)
        c->global_offset = (c->global_offset + first) % c->global_every;
    c->layers = kept;
    cJSON *removed = cJSON_CreateArray();
    for (int i = 0; i < before; i++)
        if (i < first || i >= first + kept)
            cJSON_AddItemToArray(removed, cJSON_CreateNumber(i));
    knob_evidence_number(use, "layers_before", before);
    knob_evidence_item(use, "removed_layers", removed);
    knob_evidence_number(use, "params_before", (double)params_before);
    return GT_OK;
}

static gt_status prune_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const gt_nn_config *c = gt_nn_model_config(p->model);
    knob_evidence_number(use, "layers_after", c->layers);
    knob_evidence_number(use, "params_after", (double)model_info(p).params);
    knob_evidence_bool(use, "weights_loaded", p->layer_map != NULL);
    if (p->layer_map && c->arch == GT_NN_MODERNBERT && p->layer_map[0] != 0)
        pl_warn(p, "prune_layers: ModernBERT's first layer has no attn_norm, so kept layer %d loses its own (as "
                "Hugging Face builds the pruned model too)", p->layer_map[0]);
    return GT_OK;
}

static gt_status prune_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                            gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    if (gt_knob_has(use, "n"))
        fprintf(out, "    would build the model with %ld fewer layers, removed from the %s", gt_knob_int(use, "n"),
                gt_knob_string(use, "from"));
    else
        fprintf(out, "    would build the model with %g of its layers (rounded) removed from the %s",
                gt_knob_double(use, "fraction"), gt_knob_string(use, "from"));
    fputs("; a loaded model keeps the other layers' weights and the saved config.json says the new depth\n", out);
    return GT_OK;
}

static const gt_stage_hooks prune_stage = {.at = {[GT_HOOK_CONFIGURE] = prune_configure,
                                                  [GT_HOOK_LOAD] = prune_load}};
static const struct gt_knob_hooks prune_layers_hooks = {.validate = prune_layers_validate, .plan = prune_plan,
                                                        .stage = &prune_stage};

/* --- distill ---------------------------------------------------------------------- */

static int teacher_is_unpruned(const gt_knob_use *use)
{
    return !strcmp(gt_knob_string(use, "teacher"), "unpruned");
}

/* The teacher directory (relative paths from the pipeline file's directory, as model.from). */
static const char *teacher_dir(const gt_knob_use *use, const gt_pipeline_ctx *p, char *buf, size_t size)
{
    if (teacher_is_unpruned(use))
        return p->spec->model_from;
    const char *t = gt_knob_string(use, "teacher");
    if (t[0] == '/')
        return t;
    char base[4096];
    snprintf(base, sizeof base, "%s", gt_config_label(p->spec->config));
    char *slash = strrchr(base, '/');
    if (!slash)
        return t;
    *slash = '\0';
    snprintf(buf, size, "%s/%s", base, t);
    return buf;
}

static gt_status teacher_config(const gt_knob_use *use, const gt_pipeline_ctx *p, gt_nn_config *cfg, gt_error *err)
{
    char buf[4096];
    const char *dir = teacher_dir(use, p, buf, sizeof buf);
    if (!dir)
        return gt_error_set(err, GT_ERR_INVALID,
                            "knob \"distill\": teacher=unpruned distills the model of model.from, and this pipeline "
                            "builds one from scratch; give teacher=DIR (a fine-tuned model directory)");
    char **names;
    gt_status st = pl_hf_config_read(dir, cfg, &names, err);
    if (st != GT_OK)
        return gt_error_prefix(err, "knob \"distill\": teacher: ");
    pl_class_names_free(names, cfg->num_labels);
    return GT_OK;
}

/* A teacher directory brings its tokenizer: the student reads the same ids. */
static gt_status distill_tokenize(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_config tcfg;
    gt_status st = teacher_config(use, p, &tcfg, err);
    if (st != GT_OK || teacher_is_unpruned(use) || p->spec->tokenizer_path || p->spec->model_from)
        return st;
    char buf[4096], path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", teacher_dir(use, p, buf, sizeof buf));
    gt_tokenizer *tok;
    if ((st = gt_tokenizer_load(&tok, path, err)) != GT_OK)
        return gt_error_prefix(err, "knob \"distill\": ");
    gt_tokenizer_free(p->tok);
    p->tok = tok;
    gt_tokenizer_facts facts;
    gt_tokenizer_describe(tok, &facts);
    p->train_batch.pad_id = p->eval_batch.pad_id = facts.pad_id < 0 ? 0 : facts.pad_id;
    knob_evidence_string(use, "tokenizer", path);
    return GT_OK;
}

/* Without prune_layers the knob cuts the student itself: `layers` (or half the
 * teacher's); a loaded student keeps the bottom layers. */
static gt_status distill_configure(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_config tcfg;
    gt_status st = teacher_config(use, p, &tcfg, err);
    if (st != GT_OK || gt_knob_set_find(p->knobs, "prune_layers"))
        return st;
    long layers = gt_knob_int(use, "layers");
    if (!layers)
        layers = tcfg.layers / 2 > 0 ? tcfg.layers / 2 : 1;
    int from = p->model_config.layers;
    if (layers >= tcfg.layers || (p->spec->model_from && layers > from))
        return gt_error_set(err, GT_ERR_INVALID,
                            "knob \"distill\": a %ld-layer student is not smaller than the %d-layer teacher; give "
                            "layers from 1 to %d", layers, tcfg.layers, (p->spec->model_from && from < tcfg.layers
                                                                            ? from : tcfg.layers - 1));
    if (p->spec->model_from) {
        free(p->layer_map);
        if (!(p->layer_map = malloc((size_t)layers * sizeof *p->layer_map)))
            return gt_error_set(err, GT_ERR_NOMEM, "knob \"distill\": out of memory");
        for (int i = 0; i < layers; i++)
            p->layer_map[i] = i;
    }
    p->model_config.layers = (int)layers;
    return GT_OK;
}

static gt_status distill_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_config tcfg;
    char buf[4096];
    const char *dir = teacher_dir(use, p, buf, sizeof buf);
    gt_status st = teacher_config(use, p, &tcfg, err);
    if (st == GT_OK && tcfg.num_labels != p->model_config.num_labels)
        st = gt_error_set(err, GT_ERR_INVALID, "knob \"distill\": the teacher %s has %d labels, the data set %d", dir,
                          tcfg.num_labels, p->model_config.num_labels);
    if (st == GT_OK && (st = pl_check_vocab(p->tok, &tcfg, dir, err)) != GT_OK)
        gt_error_prefix(err, "knob \"distill\": ");
    if (st == GT_OK && (st = gt_nn_model_create(&tcfg, p->spec->seed, &p->teacher, err)) != GT_OK)
        gt_error_prefix(err, "knob \"distill\": teacher: ");
    gt_nn_load_report rep = {0};
    if (st == GT_OK && (st = pl_load_weights(p->teacher, dir, NULL, 0, &rep, err)) != GT_OK)
        gt_error_prefix(err, "knob \"distill\": ");
    if (st == GT_OK && rep.missing)
        st = gt_error_set(err, GT_ERR_INVALID,
                          "knob \"distill\": the teacher %s lacks %d tensors (first: %s), so it is not a fine-tuned "
                          "classifier and its logits teach nothing; fine-tune it first (greentune run --out DIR) "
                          "and give teacher=DIR", dir, rep.missing, rep.first_missing);
    if (st != GT_OK)
        return st;
    gt_nn_options o = gt_nn_model_options(p->teacher);
    const char *prec = gt_knob_string(use, "precision");
    if (strcmp(prec, "auto"))
        st = gt_nn_precision_parse(prec, &o.infer_precision, err);
    else
        o.infer_precision = fastest_exact_precision();
    o.fused = 1;
    if (st == GT_OK && (st = gt_nn_model_set_options(p->teacher, &o, err)) == GT_OK)
        st = gt_nn_set_teacher(p->model, p->teacher, (float)gt_knob_double(use, "temperature"),
                               (float)gt_knob_double(use, "alpha"), err);
    if (st != GT_OK)
        return gt_error_prefix(err, "knob \"distill\": ");
    gt_nn_model_info ti;
    gt_nn_model_info_get(p->teacher, &ti);
    char what[4200];
    snprintf(what, sizeof what, "%s%s", teacher_is_unpruned(use) ? "unpruned model.from " : "", dir);
    knob_evidence_string(use, "teacher", what);
    knob_evidence_number(use, "teacher_params", (double)ti.params);
    knob_evidence_number(use, "teacher_layers", tcfg.layers);
    knob_evidence_string(use, "teacher_precision", gt_nn_precision_name(o.infer_precision));
    knob_evidence_number(use, "student_params", (double)model_info(p).params);
    knob_evidence_number(use, "student_layers", gt_nn_model_config(p->model)->layers);
    return GT_OK;
}

/* The teacher is done once training is: its memory goes before eval. */
static gt_status distill_save(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_nn_model_info info = model_info(p);
    knob_evidence_number(use, "distill_steps", (double)info.distill_steps);
    knob_evidence_number(use, "distill_loss_share",
                         info.distill_loss_sum > 0 ? info.distill_kd_sum / info.distill_loss_sum : 0.0);
    gt_status st = gt_nn_set_teacher(p->model, NULL, 1.0f, 0.0f, err);
    gt_nn_model_free(p->teacher);
    p->teacher = NULL;
    if (st == GT_OK && !info.distill_steps)
        st = gt_error_set(err, GT_ERR_INTERNAL, "knob \"distill\": no training step ran with the teacher");
    return st;
}

static gt_status distill_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx, FILE *out,
                              gt_error *err)
{
    (void)ctx;
    (void)err;
    fprintf(out, "    would train the %s on the logits of %s (T %g, loss alpha %g KL + (1 - alpha) CE)\n",
            gt_knob_set_find(set, "prune_layers") ? "pruned model" : "smaller student",
            teacher_is_unpruned(use) ? "the unpruned model.from" : gt_knob_string(use, "teacher"),
            gt_knob_double(use, "temperature"), gt_knob_double(use, "alpha"));
    return GT_OK;
}

static const gt_stage_hooks distill_stage = {.at = {[GT_HOOK_TOKENIZE] = distill_tokenize,
                                                    [GT_HOOK_CONFIGURE] = distill_configure,
                                                    [GT_HOOK_LOAD] = distill_load,
                                                    [GT_HOOK_SAVE] = distill_save}};
static const struct gt_knob_hooks distill_hooks = {.plan = distill_plan, .stage = &distill_stage};

/* --- activation ------------------------------------------------------------------- */

static gt_status activation_configure(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    knob_evidence_string(use, "activation_before", gt_nn_activation_name(p->model_config.act));
    gt_status st = gt_nn_activation_parse(gt_knob_string(use, "fn"), &p->model_config.act, err);
    return st == GT_OK ? GT_OK : gt_error_prefix(err, "knob \"activation\": ");
}

static gt_status activation_load(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    (void)err;
    const char *used = gt_nn_activation_name(gt_nn_model_config(p->model)->act);
    knob_evidence_string(use, "activation_used", used);
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(use->evidence, "activation_before");
    if (cJSON_IsString(before) && !strcmp(before->valuestring, used))
        pl_warn(p, "activation: the model already uses %s, so the knob changes nothing", used);
    return GT_OK;
}

static gt_status activation_plan(const gt_knob_use *use, const gt_knob_set *set, const gt_knob_context *ctx,
                                 FILE *out, gt_error *err)
{
    (void)set;
    (void)ctx;
    (void)err;
    fprintf(out, "    would run %s in every FFN (a loaded model's weights were trained with its own activation)\n",
            gt_knob_string(use, "fn"));
    return GT_OK;
}

static const gt_stage_hooks activation_stage = {.at = {[GT_HOOK_CONFIGURE] = activation_configure,
                                                       [GT_HOOK_LOAD] = activation_load}};
static const struct gt_knob_hooks activation_hooks = {.plan = activation_plan, .stage = &activation_stage};

const gt_knob_def gt_knobs_model[] = {
    /* lora (V2): load builds the adapters and freezes the base; save merges them. */
    {
        .name = "lora",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE | GT_RESOURCE_MEMORY,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_SAVE,
        .paper = "V2",
        .summary = "freeze the base weights and train low-rank adapters on the named projections (+ the head)",
        .params = (const gt_knob_param[]){
            {"rank", GT_PARAM_INT, "8", 1, 1024, NULL, 1, "rank r of each adapter B·A"},
            {"alpha", GT_PARAM_FLOAT, "16", 0.001, 4096, NULL, 0, "scale alpha/r applied to the adapter's output"},
            {"targets", GT_PARAM_LIST, "q,k,v,o,ffn", 0, 0, lora_targets, 0,
             "attention projections q, k, v, o and the FFN's two matrices (ffn) that get adapters"},
            {"head", GT_PARAM_BOOL, "true", 0, 0, NULL, 0,
             "train the pooler (bert) / head (modernbert) fully too; the classifier always trains"},
            {"dropout", GT_PARAM_FLOAT, "0", 0, 0.9, NULL, 0, "dropout on the adapter input"},
            {"min_share", GT_PARAM_FLOAT, "0.001", 0, 1, NULL, 0,
             "fail when fewer than this share of the parameters would train (the paper's run trained 14 k)"},
            {0}},
        /* Distillation cuts a fresh student whose every weight must train; lora
         * would freeze them. prune_layers + lora is the combination to use. */
        .conflicts = (const gt_knob_conflict[]){
            {"distill", NULL, NULL,
             "distill trains every weight of a freshly cut student and lora would freeze them; use prune_layers with lora instead"},
            {0}},
        .evidence = (const char *const[]){"trainable_params", "total_params", "trainable_share", "targets_covered", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &lora_hooks,
    },
    /* int8 (V3). Alone it quantizes the trained model for validation and eval;
     * with lora the frozen base is int8 during training too (QLoRA-style),
     * adapters stay fp32. */
    {
        .name = "int8",
        .phases = GT_PHASE_MODEL | GT_PHASE_INFER,
        .resources = GT_RESOURCE_PRECISION,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V3",
        .summary = "int8 weights with per-channel scales for the matmuls; QLoRA-style with lora (int8 frozen base)",
        .params = NULL,
        .conflicts = (const gt_knob_conflict[]){
            {"infer_engine", NULL, "precision=fp32|bf16",
             "two weight precisions for inference; let infer_engine follow int8 (precision=auto) or drop int8"},
            {0}},
        .evidence = (const char *const[]){"int8_matmuls", "weight_bytes_before", "weight_bytes_after", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &int8_hooks,
    },
    /* attention (V12): the engine's two attention kernels. */
    {
        .name = "attention",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_MEMORY | GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "V12",
        .summary = "attention kernel: naive (full score matrix), fused, or flash (blocked, online softmax)",
        .params = (const gt_knob_param[]){
            {"impl", GT_PARAM_ENUM, "flash", 0, 0, attention_impls, 1,
             "naive keeps the probabilities; fused and flash run the blocked kernel (flash with the block given)"},
            {"block", GT_PARAM_INT, "64", GT_NN_ATTN_BLOCK_MIN, GT_NN_ATTN_BLOCK_MAX, NULL, 0,
             "query/key block size of the flash kernel"},
            {0}},
        /* `fused` replaces attention with its own fused kernel: two attention
         * implementations in one run cannot both hold. */
        .conflicts = (const gt_knob_conflict[]){
            {"fused", NULL, NULL, "both choose the attention kernel (fused brings its own fused attention); keep one"},
            {0}},
        .evidence = (const char *const[]){"peak_attention_bytes", "impl_used", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &attention_hooks,
    },
    /* prune_layers (V13–V22): configure builds fewer layers, load maps the kept ones. */
    {
        .name = "prune_layers",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_SAVE | GT_STAGE_EVAL,
        .paper = "V13–V22",
        .summary = "drop n encoder layers from the top (next to the head) or the bottom (next to the embeddings)",
        .params = (const gt_knob_param[]){
            {"n", GT_PARAM_INT, GT_PARAM_OPTIONAL, 1, 1024, NULL, 1, "layers to drop (or give fraction)"},
            {"fraction", GT_PARAM_FLOAT, GT_PARAM_OPTIONAL, 0.01, 0.99, NULL, 0,
             "share of the layers to drop, rounded to the nearest layer (or give n)"},
            {"from", GT_PARAM_ENUM, "top", 0, 0, prune_sides, 0,
             "top: the layers nearest the output; bottom: nearest the embeddings"},
            {0}},
        .evidence = (const char *const[]){"layers_before", "layers_after", "removed_layers", "params_before",
                                          "params_after", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &prune_layers_hooks,
    },
    /* distill (survey): a teacher at load, its logits in every training step. */
    {
        .name = "distill",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_TOKENIZE | GT_STAGE_LOAD | GT_STAGE_TRAIN,
        .paper = "survey",
        .summary = "train a smaller student on the teacher's logits (and the labels)",
        .params = (const gt_knob_param[]){
            {"teacher", GT_PARAM_STRING, "unpruned", 0, 0, NULL, 1,
             "a fine-tuned model directory (relative: to the pipeline file), or \"unpruned\": model.from before "
             "prune_layers / before the student is cut"},
            {"layers", GT_PARAM_INT, "0", 0, 1024, NULL, 0,
             "student layers; 0: what prune_layers leaves, or half the teacher's layers without it"},
            {"temperature", GT_PARAM_FLOAT, "2", 0.5, 20, NULL, 0, "softmax temperature of the distillation loss"},
            {"alpha", GT_PARAM_FLOAT, "0.5", 0, 1, NULL, 0, "weight of the distillation loss against the label loss"},
            {"precision", GT_PARAM_ENUM, "auto", 0, 0, teacher_precisions, 0,
             "the teacher's inference precision; auto: bf16 where the CPU has it, else fp32"},
            {0}},
        /* With prune_layers the student is the pruned model; a layer count here
         * would be a second, contradicting size. */
        .conflicts = (const gt_knob_conflict[]){
            {"prune_layers", "layers!=0", NULL,
             "both size the student; with prune_layers the student is the pruned model, so drop distill's layers"},
            {0}},
        .evidence = (const char *const[]){"student_params", "teacher_params", "teacher", "distill_loss_share", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &distill_hooks,
    },
    /* activation (paper §II): the FFN activation of the model that is built. */
    {
        .name = "activation",
        .phases = GT_PHASE_MODEL,
        .resources = GT_RESOURCE_COMPUTE,
        .stages = GT_STAGE_LOAD | GT_STAGE_TRAIN | GT_STAGE_EVAL,
        .paper = "paper §II",
        .summary = "replace the FFN activation with a cheaper one",
        .params = (const gt_knob_param[]){
            {"fn", GT_PARAM_ENUM, "relu", 0, 0, activations, 1, "the activation used in every FFN"},
            {0}},
        .evidence = (const char *const[]){"activation_used", "activation_before", NULL},
        .effect = GT_KNOB_PIPELINE,
        .hooks = &activation_hooks,
    },
    {0},
};
