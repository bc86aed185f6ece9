/* The engine's elementwise, normalization, attention and loss ops.
 *
 * Each op has a *_forward and a *_backward side by side (in src/nn/<op>.c).
 * Arguments: outputs first, then inputs, then sizes. Shapes are in the comments,
 * in argument order. All tensors are fp32, row-major and contiguous; N is a
 * number of rows (usually B*T), C a channel count. Backward functions ACCUMULATE
 * (+=) into parameter gradients (dw, db, dtable, ...) and WRITE (=) input
 * gradients (dx) unless the comment says otherwise — the model zeroes parameter
 * gradients once per optimizer step, which is what gradient accumulation needs.
 *
 * Ops parallelise with OpenMP (static schedules, fixed reduction order): the same
 * inputs give bit-identical results, whatever the thread count (every sum runs
 * in an order fixed by the shapes alone). No op allocates memory; scratch space
 * is passed in by the caller (the model's activation arena). Scratch sizes
 * marked "per thread" are computed for omp_get_max_threads() at the time of the
 * *_scratch_floats() call: size them again after changing the thread count.
 * Call ops from serial code, not from inside a parallel region (per-thread
 * scratch is indexed by omp_get_thread_num()).
 *
 * Sequence lengths: `valid` arguments, (B) int32, give the number of real
 * (non-padding) tokens of each sequence, which come first; NULL means none is
 * padding. Values outside [0, T] are clamped.
 *
 * Matmuls (linear layers) are not here: see src/nn/linear.h (oneDNN). */
#ifndef GREENTUNE_NN_OPS_H
#define GREENTUNE_NN_OPS_H

#include <stdint.h>

/* Real tokens of sequence b (see `valid` above). */
static inline int valid_tokens(const int32_t *valid, int b, int T)
{
    if (!valid)
        return T;
    return valid[b] < 0 ? 0 : valid[b] > T ? T : valid[b];
}

/* ---- embeddings ---------------------------------------------------------- */

/* out[n] = table[ids[n]].  out: (N, C), ids: (N) in [0, V), table: (V, C). */
void embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C);
/* dtable[ids[n]] += dout[n]. */
void embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C);

/* Learned absolute positions: out[b, t] += positions[t].
 * out: (B, T, C), positions: (>= T, C). */
void position_embedding_forward(float *out, const float *positions, int B, int T, int C);
/* dpositions[t] += sum_b dout[b, t]. */
void position_embedding_backward(float *dpositions, const float *dout, int B, int T, int C);

/* Rotary position embedding (RoPE, GPT-NeoX "rotate half" convention as used by
 * ModernBERT: dimension i pairs with i + D/2), applied in place to rows of heads.
 * x: (B, T, H, D) with row stride `stride` floats between tokens (so q and k can
 * be rotated inside a packed (B, T, 3, H, D) qkv buffer); D even;
 * cos/sin: (T, D/2) tables from rope_tables(). q and k are adjacent in the
 * packed layout, so one call rotates both:
 *   rope_forward(qkv, cos, sin, B, T, 2 * H, D, 3 * H * D). */
void rope_forward(float *x, const float *cos, const float *sin, int B, int T, int H, int D, int stride);
/* The inverse rotation applied to the gradient, in place. */
void rope_backward(float *dx, const float *cos, const float *sin, int B, int T, int H, int D, int stride);
/* cos/sin: (T, D/2): angle(t, i) = t * theta^(-2i/D), with inv_freq and the
 * angle rounded to float as PyTorch computes them (ModernBERT: theta 160000 for
 * global layers, 10000 for local ones). */
void rope_tables(float *cos, float *sin, int T, int D, double theta);

/* ---- normalization -------------------------------------------------------- */

/* LayerNorm over the last dimension (torch.nn.LayerNorm: biased variance, eps
 * inside the square root). y: (N, C), mean/rstd: (N) saved for backward (NULL
 * in inference), x: (N, C), w: (C), b: (C) or NULL. */
void layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                       int N, int C, float eps);
/* dx: (N, C) written; dw, db (db may be NULL) accumulated.
 * scratch: layernorm_scratch_floats(C) floats (a fixed number of row groups'
 * partial sums of dw and db, independent of the thread count). */
void layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        const float *mean, const float *rstd, float *scratch, int N, int C);
long layernorm_scratch_floats(int C);

/* ---- activations ------------------------------------------------------------ */

typedef enum { ACTIVATION_GELU_ERF, ACTIVATION_GELU_TANH, ACTIVATION_RELU } activation_kind;

/* y = act(x).  y, x: (n). y may equal x only in inference (backward needs x). */
void activation_forward(float *y, const float *x, long n, activation_kind kind);
/* dx = dy * act'(x). dx may equal dy. */
void activation_backward(float *dx, const float *x, const float *dy, long n, activation_kind kind);

/* y = act(x) and slope = act'(x) in one pass, so that backward only
 * multiplies (activation_backward_slope) instead of evaluating act' again.
 * y, slope, x: (n); slope may equal x (the pre-activation is not needed once
 * its slope is kept), y may not. */
void activation_forward_slope(float *y, float *slope, const float *x, long n, activation_kind kind);
/* dx = dy * slope.  dx may equal dy. */
void activation_backward_slope(float *dx, const float *slope, const float *dy, long n);

/* GeGLU: y[n, j] = act(x[n, j]) * x[n, F + j].  y: (N, F), x: (N, 2F). */
void geglu_forward(float *y, const float *x, int N, int F, activation_kind kind);
/* dx: (N, 2F) written. */
void geglu_backward(float *dx, const float *x, const float *dy, int N, int F, activation_kind kind);

/* y = tanh(x) (BERT's pooler). */
void tanh_forward(float *y, const float *x, long n);
/* dx = dy * (1 - y^2), from the saved output y. */
void tanh_backward(float *dx, const float *y, const float *dy, long n);

/* ---- residual and dropout ---------------------------------------------------- */

/* y = a + b.  (n) each. */
void residual_forward(float *y, const float *a, const float *b, long n);
/* da += dy and db += dy (either may be NULL). */
void residual_backward(float *da, float *db, const float *dy, long n);

/* Inverted dropout: y = x * mask / (1 - p), with mask drawn from a counter-based
 * generator (seed, offset) so results do not depend on thread count.
 * mask: (n) bytes saved for backward. p = 0 copies x (mask all ones); p >= 1
 * gives zeros. y may equal x. Element i uses counter offset + i: give each
 * dropout site of a step its own offset range (or seed). */
void dropout_forward(float *y, uint8_t *mask, const float *x, long n, float p, uint64_t seed, uint64_t offset);
/* y = residual + dropout(x) in one pass: the same mask and values as
 * dropout_forward followed by residual_forward. y may equal x or residual. */
void dropout_residual_forward(float *y, uint8_t *mask, const float *x, const float *residual, long n, float p,
                              uint64_t seed, uint64_t offset);
void dropout_backward(float *dx, const uint8_t *mask, const float *dy, long n, float p);

/* res = residual + dropout(x) (dropout_residual_forward; mask NULL or p = 0:
 * no dropout), then y = LayerNorm(res) (layernorm_forward), row by row in one
 * pass: the same mask and, within rounding, the same values as the two ops
 * (the compiler may form fused multiply-adds differently in the two loops).
 * res, y, mask, x, residual: (N, C); mean, rstd: (N) or NULL; w: (C); b: (C) or NULL. */
void residual_layernorm_forward(float *res, float *y, float *mean, float *rstd, uint8_t *mask, const float *x,
                                const float *residual, const float *w, const float *b, int N, int C, float eps,
                                float p, uint64_t seed, uint64_t offset);

/* ---- attention ----------------------------------------------------------------- */

/* Multi-head self-attention core on a packed projection.
 *   qkv:   (B, T, 3, H, D)   q, k and v for every token (the output of one linear)
 *   out:   (B, T, H, D)      softmax(q k^T * scale + mask) v
 *   valid: (B) or NULL       number of real (non-padding) tokens of each sequence;
 *                            keys at t >= valid[b] are masked out; queries there
 *                            still produce outputs (ignored by pooling).
 *   window: 0 for global attention; otherwise local (sliding-window) attention
 *           where query i attends to keys j with |i - j| <= window / 2
 *           (ModernBERT's local_attention = 128 means +-64).
 *   scale: usually 1/sqrt(D).
 * A query with no allowed key (valid[b] = 0, or a padding query farther than
 * window/2 from every real token) outputs zeros and gets zero gradients; its
 * saved probabilities are 0 and its lse is -INFINITY. (PyTorch with a -inf mask
 * gives NaN there, and HF's finite mask a uniform average; such rows are padding
 * and never reach the loss.) */
typedef struct {
    int B, T, H, D;
    int window;
    float scale;
    int block;      /* fused kernel: query/key block, 16..256; 0: its own choice */
} attention_shape;

/* Straightforward version: materialises the probabilities.
 * probs: (B, H, T, T) saved for backward.
 * scratch: attention_scratch_floats(s) (per thread), for forward and backward. */
void attention_forward(float *out, float *probs, const float *qkv, const int32_t *valid, float *scratch,
                       attention_shape s);
/* dqkv: (B, T, 3, H, D) written. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                        const int32_t *valid, float *scratch, attention_shape s);
long attention_scratch_floats(attention_shape s);

/* Memory-efficient version: blocked over keys with an online softmax, never
 * holding a full (T, T) matrix per head; saves only the log-sum-exp per query.
 * lse: (B, H, T). Backward recomputes the probabilities block by block.
 * scratch: fused_attention_scratch_floats(s) (per thread; O(T D), no (T, T)). */
void fused_attention_forward(float *out, float *lse, const float *qkv, const int32_t *valid, float *scratch,
                             attention_shape s);
void fused_attention_backward(float *dqkv, const float *dout, const float *out, const float *qkv,
                              const float *lse, const int32_t *valid, float *scratch, attention_shape s);
long fused_attention_scratch_floats(attention_shape s);

/* ---- pooling ------------------------------------------------------------------- */

/* out[b] = x[b, 0].  out: (B, C), x: (B, T, C). */
void cls_pool_forward(float *out, const float *x, int B, int T, int C);
/* dx[b, 0] += dout[b]; other rows untouched (the caller zeroes dx). */
void cls_pool_backward(float *dx, const float *dout, int B, int T, int C);

/* out[b] = mean over t < valid[b] of x[b, t] (zeros when valid[b] = 0). */
void mean_pool_forward(float *out, const float *x, const int32_t *valid, int B, int T, int C);
/* dx[b, t] += dout[b] / valid[b] for t < valid[b]. */
void mean_pool_backward(float *dx, const float *dout, const int32_t *valid, int B, int T, int C);

/* ---- loss ---------------------------------------------------------------------- */

/* Softmax cross-entropy over L classes.
 * losses: (B), probs: (B, L) saved for backward, logits: (B, L), labels: (B)
 * in [0, L) (the caller validates them). Returns the mean loss. */
float cross_entropy_forward(float *losses, float *probs, const float *logits, const int32_t *labels, int B, int L);
/* dlogits = (probs - onehot(labels)) * scale (scale = 1/B for a mean loss;
 * 1/(B*k) with k micro-batches of gradient accumulation). Written. */
void cross_entropy_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int L, float scale);

#endif
