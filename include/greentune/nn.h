/* greentune/nn.h — the training engine's public face.
 *
 * The engine runs encoder models on oneDNN. What a caller outside the engine
 * needs so far: choose a precision, check that this CPU runs it, set the thread
 * count, and know the machine's measured matmul peak (the denominator of MFU).
 *
 *   gt_error err = {0};
 *   gt_nn_precision p;
 *   if (gt_nn_precision_parse("bf16", &p, &err) != GT_OK ||
 *       gt_nn_check_precision(p, NULL, &err) != GT_OK)
 *       fprintf(stderr, "greentune: %s\n", err.message);
 *   gt_nn_peak peak;
 *   gt_nn_gemm_peak(p, gt_nn_threads(), NULL, &peak, &err);   // measured once, then cached
 */
#ifndef GREENTUNE_NN_H
#define GREENTUNE_NN_H

#include <stdint.h>

#include "greentune/common.h"
#include "greentune/config.h"

/* Precision of the matmuls. Everything else (softmax, layernorm, loss,
 * optimizer state) stays fp32. bf16: bf16 inputs, fp32 accumulation and fp32
 * outputs, fp32 master weights. int8: inference only; s8 weights with one
 * scale per output channel (7 bits on CPUs without VNNI), u8/s8 activations
 * with one dynamic scale per call. GPU only (device cuda): fp16, as bf16 with
 * fp16 inputs; tf32, fp32 data multiplied on TF32 tensor cores (inputs rounded
 * to 10 mantissa bits, fp32 accumulation). */
typedef enum {
    GT_NN_FP32 = 0,
    GT_NN_BF16 = 1,
    GT_NN_INT8 = 2,
    GT_NN_FP16 = 3,
    GT_NN_TF32 = 4
} gt_nn_precision;

#define GT_NN_PRECISIONS 5

/* "fp32", "bf16", "int8", "fp16", "tf32". */
GT_API const char *gt_nn_precision_name(gt_nn_precision p);
GT_API gt_status gt_nn_precision_parse(const char *name, gt_nn_precision *p, gt_error *err);

/* What this CPU does with a precision. */
typedef struct {
    int supported;       /* the engine runs it here */
    int native;          /* with instructions made for it (AVX512_BF16/AMX, VNNI) */
    char isa[32];        /* the best instruction set oneDNN may use ("avx512_core_bf16") */
    char detail[200];    /* one line on the path taken, e.g. the slower int8 path */
} gt_nn_precision_info;

/* GT_OK when the precision runs on this CPU; GT_ERR_UNSUPPORTED with one line
 * (what is missing, what to use instead) when not. bf16 needs AVX512_BF16 or
 * AMX: emulated bf16 would be slower than fp32, so it is refused rather than
 * silently slow. int8 without VNNI runs on oneDNN's older int8 kernels
 * (supported, native = 0, said in detail); fp16 and tf32 are GPU only.
 * info may be NULL. */
GT_API gt_status gt_nn_check_precision(gt_nn_precision p, gt_nn_precision_info *info, gt_error *err);

/* Threads used by the engine's matmuls and ops (OpenMP), 1..1024. Matmul
 * primitives are specialised for a thread count, so results are reproducible
 * for a given count. */
GT_API gt_status gt_nn_set_threads(int threads, gt_error *err);
GT_API int gt_nn_threads(void);

/* The machine's measured matmul peak for a precision and thread count: the
 * fastest run of a few large oneDNN matmuls (fp32: f32 x f32; bf16: bf16 x bf16
 * -> f32; int8: u8 x s8 -> s32), each repeated for seconds_per_shape. Other
 * load on the machine lowers it: measure on a quiet machine (refresh = 1 to
 * measure again). Cached in
 * <cache_dir>/gemm-peak.tsv keyed by CPU model, oneDNN version, threads and
 * precision; the file is written atomically. */
typedef struct {
    const char *cache_dir;      /* NULL: $XDG_CACHE_HOME/greentune or ~/.cache/greentune */
    double seconds_per_shape;   /* 0: 0.3 */
    int refresh;                /* 1: measure again even when cached */
} gt_nn_peak_options;

typedef struct {
    double gflops;
    int cached;                 /* 1: read from the cache file, 0: measured now */
    char impl[64];              /* the kernel oneDNN ran ("brg:avx512_core_bf16") */
} gt_nn_peak;

GT_API gt_status gt_nn_gemm_peak(gt_nn_precision p, int threads, const gt_nn_peak_options *options,
                                 gt_nn_peak *peak, gt_error *err);

/* ---- devices ----------------------------------------------------------------------
 *
 * A model runs on the CPU (oneDNN) or on an NVIDIA GPU (device cuda: cuBLASLt
 * and greentune's kernels, src/nn/cuda). The CUDA backend is compiled when
 * nvcc was found at build time; without a GPU it is still there and says so.
 *
 *   gt_nn_device_info info;
 *   if (gt_nn_device_check(GT_NN_CUDA, &info, &err) != GT_OK)
 *       fprintf(stderr, "greentune: %s\n", err.message);   // one line: why not, what to do
 */
typedef enum { GT_NN_CPU = 0, GT_NN_CUDA = 1 } gt_nn_device;

/* "cpu", "cuda". */
GT_API const char *gt_nn_device_name(gt_nn_device d);
GT_API gt_status gt_nn_device_parse(const char *name, gt_nn_device *d, gt_error *err);

typedef struct {
    int emulated;          /* GREENTUNE_CUDA_EMULATE=1: the CUDA model code on the CPU with
                              reference kernels (for tests; nothing runs on a GPU) */
    char name[96];         /* "NVIDIA H200"; the CPU model for cpu */
    int cc_major, cc_minor;            /* compute capability (cuda) */
    int multiprocessors;
    double memory_gib;
    char runtime[96];      /* "CUDA runtime 13.0, driver 13.0, cuBLASLt 130000" */
} gt_nn_device_info;

/* GT_OK when models can run on the device; else GT_ERR_UNSUPPORTED with one
 * line: built without CUDA, no driver, no GPU, too old a GPU. info may be NULL. */
GT_API gt_status gt_nn_device_check(gt_nn_device d, gt_nn_device_info *info, gt_error *err);

/* Whether the device runs the precision for training (train = 1) or inference.
 * cpu: gt_nn_check_precision (int8 inference only). cuda: fp32, tf32, bf16 and
 * fp16 both ways (bf16 and tf32 need compute capability 8.0), int8 inference
 * only (layers whose sizes are not multiples of 4 stay fp32). */
GT_API gt_status gt_nn_device_check_precision(gt_nn_device d, gt_nn_precision p, int train, gt_error *err);

/* The device's measured matmul peak for a precision, the denominator of MFU:
 * cpu, gt_nn_gemm_peak with the engine's threads; cuda, the fastest of a few
 * large cuBLASLt matmuls on random data (fp32 and tf32: f32 x f32 -> f32;
 * bf16/fp16: 16-bit x 16-bit -> f32; int8: s8 x s8 -> s32), cached in
 * <cache_dir>/gpu-gemm-peak.tsv keyed by GPU, driver and cuBLASLt version. */
GT_API gt_status gt_nn_device_gemm_peak(gt_nn_device d, gt_nn_precision p, const gt_nn_peak_options *options,
                                        gt_nn_peak *peak, gt_error *err);

/* ---- models ---------------------------------------------------------------------
 *
 * Encoder models for sequence classification, with Hugging Face's parameter
 * names (a HF checkpoint loads, a saved one loads in HF):
 *   bert        BertForSequenceClassification: post-norm, learned positions,
 *               GELU, biases, pooler (dense + tanh on [CLS]).
 *   modernbert  ModernBertForSequenceClassification: pre-norm, RoPE, GeGLU, no
 *               biases, layer i global iff i % global_every == 0, else local
 *               (sliding window), head (dense, act, norm) after pooling.
 *
 *   gt_nn_config cfg;
 *   gt_nn_config_default(&cfg, GT_NN_BERT);          // then set sizes
 *   gt_nn_model *m;
 *   gt_nn_model_create(&cfg, 42, &m, &err);
 *   gt_nn_model_set_optimizer(m, NULL, &err);         // AdamW, PyTorch defaults
 *   for (each batch) {
 *       gt_nn_zero_grad(m);
 *       gt_nn_forward(m, ids, valid, labels, B, T, logits, &loss, &err);
 *       gt_nn_backward(m, 1.0f, &err);
 *       gt_nn_step(m, lr, 1.0, NULL, &err);
 *   }
 *   gt_nn_infer(m, ids, valid, B, T, logits, &err);   // no backward state kept
 *
 * ids: (B, T) token ids in [0, vocab); valid: (B) real tokens per sequence
 * (they come first; NULL: all T); labels: (B) in [0, num_labels). Memory for
 * activations is sized once per (batch, seq, mode) shape; steps allocate nothing.
 * The same seed and thread count give bit-identical results. */

typedef enum { GT_NN_BERT = 0, GT_NN_MODERNBERT = 1 } gt_nn_arch;
typedef enum { GT_NN_POOL_CLS = 0, GT_NN_POOL_MEAN = 1 } gt_nn_pooling;
/* gelu: erf form (HF "gelu"); gelu_tanh: tanh approximation ("gelu_new",
 * "gelu_pytorch_tanh"); relu. */
typedef enum { GT_NN_GELU = 0, GT_NN_GELU_TANH = 1, GT_NN_RELU = 2 } gt_nn_activation;

typedef struct {
    gt_nn_arch arch;
    int layers, dim, heads, ffn;    /* ffn: intermediate size (modernbert: GeGLU's F, Wi is 2F x dim) */
    int vocab, max_len, num_labels;
    int type_vocab;                 /* bert: token types (only type 0 is used) */
    int pad_id;                     /* its embedding row gets no gradient (nn.Embedding padding_idx) */
    float eps;                      /* LayerNorm epsilon (bert 1e-12, modernbert 1e-5) */
    gt_nn_activation act;           /* FFN activation (knob: override) */
    gt_nn_activation head_act;      /* modernbert head activation */
    gt_nn_pooling pooling;          /* bert: cls (its pooler); modernbert: cls or mean over valid tokens */
    float init_range;               /* std of the initial weights (0.02) */
    float init_cutoff;              /* modernbert: truncation at +-cutoff * std (2.0) */
    /* Dropout probabilities, applied in training mode only:
     *   embedding   after the embedding LayerNorm
     *   attn_out    after the attention output projection
     *   ffn         bert: after the FFN output; modernbert: on GeGLU's output
     *   classifier  before the classifier
     *   attn_probs  on attention probabilities: NOT applied (recorded only; the
     *               attention kernels have no dropout) */
    float drop_embedding, drop_attn_out, drop_ffn, drop_classifier, drop_attn_probs;
    /* modernbert: alternating attention and RoPE */
    int global_every;               /* 3: layers 0, 3, 6, ... attend globally */
    int local_window;               /* 128: local layers see keys with |i - j| <= 64 */
    double global_theta, local_theta; /* RoPE bases: 160000 and 10000 */
    /* modernbert: layer i is global iff (i + global_offset) % global_every == 0.
     * 0 in HF's models; a model pruned from the bottom keeps each layer's kind
     * with the offset of its first kept layer (config.json: layer_types). */
    int global_offset;
} gt_nn_config;

GT_API const char *gt_nn_arch_name(gt_nn_arch a);
GT_API gt_status gt_nn_arch_parse(const char *name, gt_nn_arch *a, gt_error *err);
GT_API const char *gt_nn_activation_name(gt_nn_activation a);
/* HF names: "gelu", "gelu_new", "gelu_pytorch_tanh", "relu"; also "gelu_tanh". */
GT_API gt_status gt_nn_activation_parse(const char *name, gt_nn_activation *a, gt_error *err);

/* HF's defaults for the architecture (bert-base / ModernBERT-base sizes and settings). */
GT_API void gt_nn_config_default(gt_nn_config *cfg, gt_nn_arch arch);
/* One clear line for a config the engine cannot build (heads not dividing dim,
 * zero sizes, odd head size with RoPE, ...). */
GT_API gt_status gt_nn_config_check(const gt_nn_config *cfg, gt_error *err);
/* From a HF config.json tree (gt_hf_load_config): model_type "bert" or
 * "modernbert"; an unknown model_type or a setting the engine does not
 * implement (position_embedding_type other than absolute, biases in modernbert)
 * is an error naming the key. */
GT_API gt_status gt_nn_config_from_hf(const gt_config *json, gt_nn_config *cfg, gt_error *err);
/* Writes a HF config.json for cfg (with "architectures", "model_type"), atomically. */
GT_API gt_status gt_nn_config_write_hf(const gt_nn_config *cfg, const char *path, gt_error *err);

/* Attention kernels: straightforward (keeps the probabilities) or fused
 * (blocked online softmax, O(T) memory per head). Same results within 1e-5. */
typedef enum { GT_NN_ATTN_STANDARD = 0, GT_NN_ATTN_FUSED = 1 } gt_nn_attention;
GT_API const char *gt_nn_attention_name(gt_nn_attention a);
/* Query/key block sizes the fused kernel takes (gt_nn_options.attention_block). */
#define GT_NN_ATTN_BLOCK_MIN 16
#define GT_NN_ATTN_BLOCK_MAX 256

/* How the model runs (changeable between steps). */
typedef struct {
    gt_nn_precision train_precision;  /* gt_nn_forward/backward: fp32 or bf16 */
    gt_nn_precision infer_precision;  /* gt_nn_infer: fp32, bf16 or int8 (int8 linear
                                         layers; in bf16 and int8 the attention's products
                                         run in bf16 where the CPU has bf16 instructions
                                         and the standard kernel is chosen) */
    gt_nn_attention attention;
    /* 1: fused kernels. Inference: bias + activation in the matmul's epilogue,
     * residual adds as the matmul's sum post-op. Training (bert): the GELU's
     * slope is kept from the forward pass so backward only multiplies. Same
     * results within rounding. Training also runs residual + LayerNorm (and
     * the dropout before them) in one pass per row: bit-identical. */
    int fused;
    /* Fused attention's query/key block, GT_NN_ATTN_BLOCK_MIN..MAX; 0: the
     * kernel's choice (128, or 64 in sliding-window layers). */
    int attention_block;
    /* Gradient checkpointing: k > 0 keeps only the input of every layer l
     * with l % k == 0 and recomputes its activations in backward (1: every
     * layer). Bit-identical gradients; 0: off. */
    int checkpoint_every;
    /* 1: frozen weights (LoRA's base) run int8 matmuls in training too
     * (QLoRA-style): forward on the per-channel int8 copy, backward's
     * dx = dy W on that copy dequantized to fp32, so both see the same W. */
    int frozen_int8;
    /* Where the model runs. Switching to cuda copies the weights (and the
     * optimizer state) to the GPU, switching back copies them home; load and
     * save stay on the host and copy as needed. On cuda, standard attention
     * runs as batched matmuls with the probabilities kept, fused as greentune's
     * online-softmax kernels; fused has no other effect there. */
    gt_nn_device device;
} gt_nn_options;

typedef struct gt_nn_model gt_nn_model;

/* Builds the model with initial weights drawn as HF's _init_weights does
 * (bert: normal(0, init_range), pad row zero; modernbert: truncated normal,
 * output projections scaled by 1/sqrt(2 layers), classifier dim^-0.5),
 * from a generator seeded with seed. Training mode, fp32, standard attention. */
GT_API gt_status gt_nn_model_create(const gt_nn_config *cfg, uint64_t seed, gt_nn_model **out, gt_error *err);

/* LoRA (as PEFT): the base weights are frozen and each targeted projection W
 * (out, in) gets y += (alpha / rank) drop(x) A^T B^T with A (rank, in) drawn
 * kaiming-uniform (bound 1/sqrt(in)) and B (out, rank) zero, so training starts
 * from the base model. bert's and modernbert's packed q/k/v block gets one
 * adapter per target on its rows (q: rows [0, C), k: [C, 2C), v: [2C, 3C));
 * o is the attention output projection, ffn both FFN matrices. The classifier
 * trains fully; train_head also trains the pooler (bert) / head.dense and
 * head.norm (modernbert). Adapters run in fp32; the checkpoint merges them into
 * the base weights (gt_nn_model_save), so Hugging Face loads it as a plain model. */
enum { GT_NN_LORA_Q = 1, GT_NN_LORA_K = 2, GT_NN_LORA_V = 4, GT_NN_LORA_O = 8, GT_NN_LORA_FFN = 16 };
#define GT_NN_LORA_TARGETS 5
typedef struct {
    int rank;            /* 0: no adapters, every weight trains */
    float alpha;
    unsigned targets;    /* GT_NN_LORA_* */
    int train_head;
    float dropout;       /* on the adapters' input, training only */
} gt_nn_lora;
GT_API gt_status gt_nn_model_create_lora(const gt_nn_config *cfg, const gt_nn_lora *lora, uint64_t seed,
                                         gt_nn_model **out, gt_error *err);
/* "q", "k", "v", "o", "ffn" for target bit i (0..4). */
GT_API const char *gt_nn_lora_target_name(int i);
/* What was built, counted from the model's adapters. */
typedef struct {
    int adapters[GT_NN_LORA_TARGETS];   /* adapters per target (q, k, v, o, ffn) */
    long adapter_params;
    long frozen_params;
} gt_nn_lora_info;
GT_API void gt_nn_lora_info_get(const gt_nn_model *m, gt_nn_lora_info *info);

/* Knowledge distillation: each gt_nn_forward in training also runs teacher
 * (inference, its own options) on the same ids and the loss becomes
 *   alpha T^2 KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) CE(s, labels)
 * (Hinton et al.). teacher NULL turns it off; it must outlive its use and
 * have the same number of labels and a vocabulary that covers the ids. */
GT_API gt_status gt_nn_set_teacher(gt_nn_model *m, gt_nn_model *teacher, float temperature, float alpha,
                                   gt_error *err);
GT_API void gt_nn_model_free(gt_nn_model *m);
GT_API const gt_nn_config *gt_nn_model_config(const gt_nn_model *m);

GT_API gt_status gt_nn_model_set_options(gt_nn_model *m, const gt_nn_options *o, gt_error *err);
GT_API gt_nn_options gt_nn_model_options(const gt_nn_model *m);
/* Training mode applies dropout in gt_nn_forward; eval mode does not. */
GT_API void gt_nn_model_set_training(gt_nn_model *m, int training);

/* Forward pass that keeps what backward needs. logits: (B, num_labels), may
 * be NULL; loss: the mean cross-entropy (labels required). */
GT_API gt_status gt_nn_forward(gt_nn_model *m, const int32_t *ids, const int32_t *valid, const int32_t *labels,
                               int B, int T, float *logits, float *loss, gt_error *err);
/* Gradients of loss * grad_scale (1/k for k accumulated micro-batches),
 * ACCUMULATED into the gradient block. */
GT_API gt_status gt_nn_backward(gt_nn_model *m, float grad_scale, gt_error *err);
GT_API void gt_nn_zero_grad(gt_nn_model *m);

/* Optimizer: "adamw" (default), "adamw8bit", "sgd" or "adafactor", with
 * PyTorch's defaults unless set (adafactor: transformers' Adafactor as its
 * Trainer sets it up: the learning rate given to gt_nn_step drives it, beta1 0
 * keeps no first moment, eps is its eps1). Biases and LayerNorm weights get no
 * weight decay (HF grouping). grad_threshold > 0: gradient entries whose
 * magnitude is below it are not applied (grad_sparsify); they are counted in
 * gt_nn_model_info. */
typedef struct {
    const char *name;
    double weight_decay, beta1, beta2, eps, momentum;
    double grad_threshold;
} gt_nn_optimizer_config;
GT_API gt_status gt_nn_optimizer_defaults(const char *name, gt_nn_optimizer_config *cfg, gt_error *err);
/* cfg NULL: AdamW with PyTorch's defaults (weight decay 0.01). */
GT_API gt_status gt_nn_model_set_optimizer(gt_nn_model *m, const gt_nn_optimizer_config *cfg, gt_error *err);
/* Clips the gradient norm to max_norm (<= 0: no clipping), then updates with
 * learning rate lr. grad_norm (may be NULL) gets the norm before clipping. */
GT_API gt_status gt_nn_step(gt_nn_model *m, double lr, double max_norm, double *grad_norm, gt_error *err);

/* Inference: logits (B, num_labels) in infer_precision, without dropout and
 * without keeping activations for backward. */
GT_API gt_status gt_nn_infer(gt_nn_model *m, const int32_t *ids, const int32_t *valid, int B, int T, float *logits,
                             gt_error *err);

/* Weights by HF names. Loading: every tensor the model has is looked up (also
 * without the "bert." / "model." prefix, as HF's base-model checkpoints store
 * them) and converted from F32/BF16/F16/F64; a wrong shape is an error naming
 * the tensor and both shapes. strict = 0 keeps the initial values of tensors
 * the file lacks (a pretrained encoder without a classifier) and counts them. */
typedef struct {
    int loaded, missing, unused;      /* tensors: set, kept at init, in the file but not used */
    char first_missing[128];          /* the first missing tensor's name, "" if none */
} gt_nn_load_report;
GT_API gt_status gt_nn_model_load(gt_nn_model *m, const char *path, int strict, gt_nn_load_report *report,
                                  gt_error *err);
/* The same with a layer map (pruning): layer i of m is read from the file's
 * layer layer_map[i]; NULL: layer i. The tensors of layers left out count as
 * unused. */
GT_API gt_status gt_nn_model_load_layers(gt_nn_model *m, const char *path, const int *layer_map, int strict,
                                         gt_nn_load_report *report, gt_error *err);
/* Writes all weights as F32 safetensors with HF names, atomically. */
GT_API gt_status gt_nn_model_save(const gt_nn_model *m, const char *path, gt_error *err);

/* Facts about a model and its last step. */
typedef struct {
    long params, trainable_params;
    size_t weight_bytes, grad_bytes, optimizer_bytes;
    size_t arena_bytes;               /* activation memory held now */
    size_t arena_peak;                /* the most a step used */
    double matmul_flops[GT_NN_PRECISIONS]; /* matmul work so far, by precision */
    long matmul_calls[GT_NN_PRECISIONS];
    /* The largest training step so far: its shape, its activation memory and
     * the part of it attention holds (probabilities or log-sum-exp, scratch). */
    int train_B, train_T;
    size_t train_activation_bytes, train_attention_bytes;
    double recompute_flops;           /* matmul FLOPs spent recomputing checkpointed layers */
    long fused_ops;                   /* ops that ran fused (epilogues, residual + norm, attention) */
    /* int8 copies of the linear weights held now, and the fp32 bytes they stand for */
    int int8_weights;
    size_t int8_weight_bytes, int8_source_bytes;
    /* distillation: loss sums over the training forwards (combined, the alpha-weighted KL part) */
    long distill_steps;
    double distill_loss_sum, distill_kd_sum;
    uint64_t grad_entries_updated;    /* gradient entries the optimizer looked at, all steps */
    uint64_t grad_entries_skipped;    /* ... of which below its grad_threshold (not applied) */
} gt_nn_model_info;
GT_API void gt_nn_model_info_get(const gt_nn_model *m, gt_nn_model_info *info);
/* Activation memory a step at (B, T) would need under options o (NULL: the
 * model's), measured by running the step plan on an empty arena; attention
 * (may be NULL) gets attention's part. Nothing is allocated; the next step
 * lays its memory out again. */
GT_API gt_status gt_nn_plan_bytes(gt_nn_model *m, int B, int T, int train, const gt_nn_options *o, size_t *total,
                                  size_t *attention, gt_error *err);
/* Parameters a config's model has (without building it). */
GT_API gt_status gt_nn_config_params(const gt_nn_config *cfg, long *params, gt_error *err);

/* Where device time goes (device cuda): start = 1 times every op from now on
 * with CUDA events (costs a little), from zero; start = 0 stops. out (may be
 * NULL) gets the sums since timing started, by kind of op. */
#define GT_NN_PROFILE_KINDS 12
typedef struct {
    int kinds;                              /* entries filled */
    char name[GT_NN_PROFILE_KINDS][16];     /* gemm (linear layers), attn_gemm (attention's matmuls), attention
                                               (its other kernels), norm, elementwise, embedding, loss, optimizer,
                                               copy */
    double ms[GT_NN_PROFILE_KINDS];
    long calls[GT_NN_PROFILE_KINDS];
    long fallback_matmuls;                  /* matmuls cuBLASLt had no algorithm for (a plain kernel ran them) */
    double fallback_gflop;                  /* their work (both since timing started) */
} gt_nn_profile;
GT_API gt_status gt_nn_model_profile(gt_nn_model *m, int start, gt_nn_profile *out, gt_error *err);

/* The model's two contiguous blocks, for training spread over processes
 * (data parallelism): every parameter (*n floats), and the gradients of the
 * trainable ones (NULL with *n = 0 when nothing trains). Gradients may be
 * changed between gt_nn_backward and gt_nn_step (summed over processes);
 * after writing parameters, call gt_nn_params_changed so the derived copies
 * (bf16, int8, packed weights) are made again. */
GT_API float *gt_nn_param_block(gt_nn_model *m, size_t *n);
GT_API float *gt_nn_grad_block(gt_nn_model *m, size_t *n);
GT_API void gt_nn_params_changed(gt_nn_model *m);

/* FLOPs of one step at (B, T) with every token real: every linear layer's
 * matmuls (2 M N K each: one forward, two backward) plus attention's score and
 * value products over the keys each query may see (2 products forward, 4
 * backward). Work a kernel spends beyond that is not counted: the
 * straightforward kernel's full T x T products in local layers, the fused
 * kernel's recomputed scores. Elementwise ops are not counted either.
 * train = 1: forward + backward (not the optimizer); train = 0: inference. */
GT_API double gt_nn_step_flops(const gt_nn_config *cfg, int B, int T, int train);

#endif
