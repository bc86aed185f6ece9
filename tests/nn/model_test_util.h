/* Helpers shared by the model tests (test_model_*.c): tiny configurations,
 * weights large enough that every path carries signal, and random batches
 * with padding. */
#ifndef GREENTUNE_TESTS_NN_MODEL_TEST_UTIL_H
#define GREENTUNE_TESTS_NN_MODEL_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "greentune/nn.h"
#include "nn/model.h"
#include "test_support.h"

/* A tiny model without dropout: bert with 2 layers, modernbert with 4 (layers
 * 0 and 3 global, 1 and 2 local with a window of 4 tokens). */
static inline gt_nn_config tiny_config(gt_nn_arch arch)
{
    gt_nn_config c;
    gt_nn_config_default(&c, arch);
    c.layers = arch == GT_NN_BERT ? 2 : 4;
    c.dim = 8;
    c.heads = 2;
    c.ffn = arch == GT_NN_BERT ? 12 : 6;
    c.vocab = 11;
    c.max_len = 16;
    c.num_labels = 3;
    c.pad_id = 0;
    c.local_window = 4;
    c.drop_embedding = c.drop_attn_out = c.drop_ffn = c.drop_classifier = c.drop_attn_probs = 0.0f;
    return c;
}

static inline gt_nn_model *tiny_model(const gt_nn_config *c, uint64_t seed)
{
    gt_nn_model *m = NULL;
    gt_error err = {0};
    if (gt_nn_model_create(c, seed, &m, &err) != GT_OK) {
        fprintf(stderr, "tiny_model: %s\n", err.message);
        exit(1);
    }
    return m;
}

/* Weights of order 0.3 and LayerNorm gains around 1 (HF's 0.02 init leaves
 * the attention nearly uniform and the gradients tiny). */
static inline void randomize_weights(gt_nn_model *m, uint64_t seed)
{
    gc_rng rng = {seed};
    for (int i = 0; i < m->params.count; i++) {
        const param_tensor *t = &m->params.tensors[i];
        float *x = params_data(&m->params, i);
        int gain = t->ndim == 1 && !strstr(t->name, ".bias");
        gc_fill(&rng, x, (long)t->numel, gain ? 0.7f : -0.5f, gain ? 1.3f : 0.5f);
    }
    params_touch(&m->params);
}

/* ids (B, T) in [1, vocab) with the pad id after each sequence's valid
 * length, and labels in [0, num_labels). */
static inline void random_batch(int32_t *ids, int32_t *labels, const int32_t *valid, int B, int T,
                                const gt_nn_config *c, uint64_t seed)
{
    gc_rng rng = {seed};
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int id = 1 + (int)gc_uniform(&rng, 0.0f, (float)(c->vocab - 1) - 1e-3f);
            ids[b * T + t] = t < (valid ? valid[b] : T) ? id : c->pad_id;
        }
        labels[b] = (int)gc_uniform(&rng, 0.0f, (float)c->num_labels - 1e-3f);
    }
}

/* Cross-entropy of one row of L logits against label, in double. */
static inline double row_cross_entropy(const float *s, int L, int label)
{
    double mx = s[0], sum = 0.0;
    for (int j = 1; j < L; j++)
        mx = s[j] > mx ? s[j] : mx;
    for (int j = 0; j < L; j++)
        sum += exp(s[j] - mx);
    return mx + log(sum) - s[label];
}

#endif
