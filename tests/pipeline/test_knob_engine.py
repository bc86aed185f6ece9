"""The knobs that change how the engine computes, on the tiny pipeline, each
against the same run without it (same seed and threads):

grad_ckpt   the same losses and predictions bit for bit, less activation
            memory, extra forward FLOPs counted;
attention   naive vs flash: the flash kernel's attention memory is a fraction
            of the naive one's, results within rounding;
fused       fused ops counted, time per step measured, results within rounding;
activation  relu read back from the model and written into config.json;
int8        eval logits within int8's bound of the fp32 ones (the trained
            weights are the same), weights 4x smaller;
infer_engine  less padding than the plain eval batches, tokens/s measured,
            logits within bf16's (or int8's) bound.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from knob_util import Pipeline, config_json, evidence, logits, max_diff, one_line, scale  # noqa: E402
from pipeline_util import Checks  # noqa: E402

c = Checks("test_knob_engine")
p = Pipeline("engine", epochs=8)
code, plain, err, plain_preds = p.run()
if not c.check(code == 0, "plain run: %s" % err):
    sys.exit(c.close())
plain_logits = logits(plain_preds)


def epoch_losses(r):
    return [e["loss"] for e in r["train"]["epochs"]]


def close(r, preds, tol, what):
    """Training and eval agree with the plain run within tol of their scale."""
    a, b = epoch_losses(r), epoch_losses(plain)
    c.check(max(abs(x - y) for x, y in zip(a, b)) <= tol * max(b), "%s: losses %r vs %r" % (what, a, b))
    d = max_diff(logits(preds), plain_logits)
    c.check(d <= tol * scale(plain_logits), "%s: eval logits differ by %g" % (what, d))


# grad_ckpt: bit-identical training, smaller activations.
code, r, err, preds = p.run(["grad_ckpt"])
if c.check(code == 0, "grad_ckpt: %s" % err):
    e = evidence(r, "grad_ckpt")
    c.check(epoch_losses(r) == epoch_losses(plain) and logits(preds) == plain_logits, "grad_ckpt changed results")
    c.check(e["peak_activation_bytes_after"] < e["peak_activation_bytes_before"], "bytes %r" % e)
    c.check(0.1 < e["extra_flop_share"] < 0.5 and e["extra_forward_flops"] > 0, "extra flops %r" % e)
# every=2 on two layers recomputes layer 0 alone: no memory saved, and the run says so
code, r, err, _ = p.run(["grad_ckpt=2"])
c.check(code == 0 and any("saves no memory" in w for w in r["warnings"]), "grad_ckpt=2: %r" % err)
code, _, err, _ = p.run(["grad_ckpt=3"])
c.check(one_line(code, err) and "every 3" in err, "grad_ckpt=3 on 2 layers: %r" % err)

# attention: the probabilities vs the log-sum-exp.
code, naive, err, naive_preds = p.run(["attention=naive"])
code2, flash, err2, flash_preds = p.run(["attention={impl: flash, block: 16}"])
if c.check(code == 0 and code2 == 0, "attention: %s %s" % (err, err2)):
    en, ef = evidence(naive, "attention"), evidence(flash, "attention")
    c.check(en["impl_used"] == "standard" and ef["impl_used"] == "fused (block 16)", "impl %r %r" % (en, ef))
    c.check(en["peak_attention_bytes"] == en["peak_attention_bytes_naive"] == ef["peak_attention_bytes_naive"],
            "naive bytes %r %r" % (en, ef))
    c.check(ef["peak_attention_bytes"] < 0.5 * en["peak_attention_bytes"], "flash bytes %r vs %r" % (ef, en))
    c.check(epoch_losses(naive) == epoch_losses(plain), "naive is the default kernel")
    close(flash, flash_preds, 1e-4, "flash attention")

# fused: same results within rounding, ops counted, time per step measured.
code, r, err, preds = p.run(["fused"])
if c.check(code == 0, "fused: %s" % err):
    e = evidence(r, "fused")
    # per step and layer at least: attention, two residual + norms, the activation's slope
    c.check(e["fused_ops"] >= 4 * 2 * r["train"]["steps"] and e["step_ms"] > 0, "fused %r" % e)
    close(r, preds, 1e-4, "fused")

# activation: read back from the model, and the checkpoint says so.
out = p.out("relu-model")
code, r, err, _ = p.run(["activation=relu"], out=out)
if c.check(code == 0, "activation: %s" % err):
    e = evidence(r, "activation")
    c.check(e == {"activation_before": "gelu", "activation_used": "relu"}, "activation %r" % e)
    c.check(config_json(out)["hidden_act"] == "relu" and r["model"]["activation"] == "relu", "config.json")
    c.check(epoch_losses(r) != epoch_losses(plain), "relu trained exactly like gelu")

code, r, err, _ = p.run(["activation=gelu"], sets=["train.epochs=1"])
c.check(code == 0 and any("changes nothing" in w for w in r["warnings"]), "activation=gelu: %r" % err)

# int8: the same trained weights, evaluated in int8.
code, r, err, preds = p.run(["int8"])
if c.check(code == 0, "int8: %s" % err):
    e = evidence(r, "int8")
    c.check(e["int8_matmuls"] > 0 and e["qlora"] is False and r["eval"]["precision"] == "int8", "int8 %r" % e)
    c.check(e["weight_bytes_after"] < e["weight_bytes_before"] / 3, "weight bytes %r" % e)
    c.check(epoch_losses(r) == epoch_losses(plain), "int8 alone changed training")
    d = max_diff(logits(preds), plain_logits)
    c.check(d <= 8e-2 * scale(plain_logits), "int8 logits differ by %g of %g" % (d, scale(plain_logits)))

# infer_engine: bucketed batches pad less; logits within the precision's bound.
code, r, err, preds = p.run(["infer_engine"], sets=["eval.batch=4"])
if c.check(code == 0, "infer_engine: %s" % err):
    e = evidence(r, "infer_engine")
    c.check(e["padding_share"] < e["padding_share_plain"] and e["eval_tokens_per_s"] > 0, "infer %r" % e)
    c.check(e["precision"] == r["eval"]["precision"] and e["fused"] is True, "precision %r" % e)
    bound = {"fp32": 1e-5, "bf16": 5e-2, "int8": 8e-2}[e["precision"]]
    d = max_diff(logits(preds), plain_logits)
    c.check(d <= bound * scale(plain_logits), "%s logits differ by %g" % (e["precision"], d))
code, r, err, preds = p.run(["infer_engine={precision: fp32, bucket: false}"])
if c.check(code == 0, "infer_engine fp32: %s" % err):
    e = evidence(r, "infer_engine")
    c.check(e["precision"] == "fp32" and e["padding_share"] <= e["padding_share_plain"], "fp32 %r" % e)
    c.check(max_diff(logits(preds), plain_logits) <= 1e-5 * scale(plain_logits), "fp32 engine logits")

sys.exit(c.close())
