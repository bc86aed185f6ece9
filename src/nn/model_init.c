/* Initial weights, following Hugging Face's _init_weights for each
 * architecture (the values differ from torch's generator; the distributions
 * are the same):
 *   bert:       every Linear and Embedding weight ~ normal(0, init_range),
 *               biases 0, LayerNorm weight 1 / bias 0, the padding row of the
 *               word embeddings 0 (BertPreTrainedModel._init_weights).
 *   modernbert: truncated normal on [-cutoff std, cutoff std] with std
 *               init_range for the embeddings, Wqkv and Wi; init_range /
 *               sqrt(2 layers) for the output projections attn.Wo, mlp.Wo
 *               and head.dense; dim^-0.5 for the classifier; biases 0;
 *               LayerNorm weights 1 (ModernBertPreTrainedModel._init_weights).
 *               The padding row is drawn like the rest, as HF leaves it. */
#include <math.h>
#include <string.h>

#include "nn/model.h"

typedef struct {
    uint64_t state;
} init_rng;

/* splitmix64: a full-period generator with good mixing; one stream for the model. */
static uint64_t next_u64(init_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 (Box-Muller takes its log). */
static double next_uniform(init_rng *r)
{
    return ((double)(next_u64(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double next_normal(init_rng *r)
{
    double u = next_uniform(r), v = next_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* normal(0, std), redrawn until inside [-cutoff std, cutoff std] when cutoff > 0. */
static void fill_normal(init_rng *r, float *x, size_t n, double std, double cutoff)
{
    for (size_t i = 0; i < n; i++) {
        double z = next_normal(r);
        while (cutoff > 0 && fabs(z) > cutoff)
            z = next_normal(r);
        x[i] = (float)(z * std);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* std of a modernbert matrix by its role. */
static double modernbert_std(const gt_nn_config *c, const char *name)
{
    if (!strncmp(name, "classifier.", 11))
        return 1.0 / sqrt((double)c->dim);
    if (strstr(name, ".attn.Wo.") || strstr(name, ".mlp.Wo.") || !strncmp(name, "head.dense.", 11))
        return c->init_range / sqrt(2.0 * c->layers);
    return c->init_range;
}

void model_init_weights(gt_nn_model *m, uint64_t seed)
{
    const gt_nn_config *c = &m->cfg;
    init_rng r = {seed};
    for (int i = 0; i < m->params.count; i++) {
        const param_tensor *t = &m->params.tensors[i];
        float *x = model_data(m, i);
        if (ends_with(t->name, ".bias")) {
            memset(x, 0, t->numel * sizeof(float));
        } else if (t->ndim == 1) {          /* every 1-D weight is a LayerNorm gain */
            for (size_t k = 0; k < t->numel; k++)
                x[k] = 1.0f;
        } else if (c->arch == GT_NN_BERT) {
            fill_normal(&r, x, t->numel, c->init_range, 0);
        } else {
            double std = modernbert_std(c, t->name);
            fill_normal(&r, x, t->numel, std, c->init_cutoff);
        }
    }
    if (c->arch == GT_NN_BERT && c->pad_id >= 0 && c->pad_id < c->vocab)
        memset(model_data(m, m->emb_word) + (long)c->pad_id * c->dim, 0, sizeof(float) * c->dim);
    params_touch(&m->params);
}
