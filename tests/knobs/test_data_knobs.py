"""The data-phase knobs take effect on a tiny pipeline, and their evidence says
so in the expected direction, checked against independent figures: the
baseline run's own record (what the pipeline did without the knob), the data
as this test wrote it (duplicates planted, classes counted in Python, the
normalization rule written again here).

tokenizer_fast  same ids as the plain path: the training is bit-identical to
                the baseline's; tokens/s of both paths measured on the same documents
seq_trim        tokens per sample before = the baseline's, after = max_len
dynamic_padding padding share before = the baseline's padding, after lower
dedup           exactly the duplicates planted (normalized or exact) are removed
subsample       round(fraction n) kept; classes as counted here; per strategy
"""
import re
import sys

from knob_runs import TINY_PIPELINE, Workdir, evidence, main_of, texts


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def test_tokenizer_fast(c):
    w = Workdir("tokfast")
    rc0, base, err0 = w.run()
    rc, rec, err = w.run(["tokenizer_fast"])
    if not c.check(rc0 == 0 and rc == 0, "tokenizer_fast runs: %s %s" % (err0, err)):
        return
    e = evidence(rec, "tokenizer_fast")
    c.check(e["ids_identical"] is True, "tokenizer_fast: ids differ: %s" % e)
    c.check(e["tokens_per_s_before"] > 0 and e["tokens_per_s_after"] > 0, "tokenizer_fast: tokens/s %s" % e)
    c.check(e["sample_documents"] == rec["data"]["split"]["train"]["samples"], "sample: all 48 training documents")
    c.check(e["cache_hit_share"] > 0, "tokenizer_fast: the word cache was not used: %s" % e)
    c.check(rec["tokenize"]["fast"] is True and base["tokenize"]["fast"] is False, "tokenize.fast flags")
    # The same ids train the same model: every loss and the predictions agree exactly.
    for key in ("first_loss", "last_loss"):
        c.check(rec["train"][key] == base["train"][key], "tokenizer_fast changed train.%s" % key)
    c.check(rec["metrics"]["confusion"] == base["metrics"]["confusion"], "tokenizer_fast changed the predictions")


def test_seq_trim(c):
    w = Workdir("seqtrim")
    rc0, base, _ = w.run()
    rc, rec, err = w.run(["seq_trim=8"])
    if not c.check(rc0 == 0 and rc == 0, "seq_trim runs: %s" % err):
        return
    e = evidence(rec, "seq_trim")
    c.check(close(e["mean_tokens_before"], base["tokenize"]["mean_tokens_train"]),
            "seq_trim: mean before %s, the baseline trained on %s" % (e["mean_tokens_before"],
                                                                     base["tokenize"]["mean_tokens_train"]))
    c.check(close(e["mean_tokens_after"], rec["tokenize"]["mean_tokens_train"]), "seq_trim: mean after")
    c.check(e["max_tokens_after"] == 8 and e["max_tokens_before"] > 8, "seq_trim: max %s" % e)
    c.check(e["mean_tokens_after"] < e["mean_tokens_before"], "seq_trim: the mean did not drop")
    # Fixed padding to the new max_len: every trained row is 8 tokens wide.
    t = rec["train"]
    samples = rec["data"]["split"]["train"]["samples"] * len(t["epochs"])
    c.check(t["padded_tokens"] == samples * 8, "seq_trim: trained %s padded tokens, expected %d x 8"
            % (t["padded_tokens"], samples))
    c.check(rec["tokenize"]["max_len"] == 8 and rec["model"]["positions"] == 24, "model keeps its positions")


def test_dynamic_padding(c):
    w = Workdir("dynpad")
    rc0, base, _ = w.run()
    for bucket in ("true", "false"):
        rc, rec, err = w.run(["dynamic_padding={bucket: %s}" % bucket])
        if not c.check(rc0 == 0 and rc == 0, "dynamic_padding runs: %s" % err):
            return
        e = evidence(rec, "dynamic_padding")
        c.check(close(e["padding_share_before"], base["train"]["pad_share"]),
                "dynamic_padding: before %s, the baseline padded %s" % (e["padding_share_before"],
                                                                        base["train"]["pad_share"]))
        c.check(close(e["padding_share_after"], rec["train"]["pad_share"]), "dynamic_padding: after = trained")
        c.check(e["padding_share_after"] < e["padding_share_before"], "dynamic_padding: padding did not drop")
        c.check(rec["train"]["tokens"] == base["train"]["tokens"], "dynamic_padding: real tokens changed")
        if bucket == "true":
            bucketed = e["padding_share_after"]
        else:
            c.check(bucketed <= e["padding_share_after"], "bucketing by length did not cut padding further")


def normalize(text):
    """dedup's rule, written again: lowercase ASCII letters, runs of other ASCII one space, trimmed."""
    return re.sub(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+", " ", "".join(
        ch.lower() if ch.isascii() else ch for ch in text)).strip()


def test_dedup(c):
    pairs = texts(40, seed=5)
    # Plant duplicates in the training part: exact copies, and copies that differ
    # only in case, punctuation and spacing.
    exact = [pairs[1], pairs[2], pairs[2]]
    near = [(pairs[3][0].upper() + " !!", pairs[3][1]), ("  " + pairs[4][0].replace(" ", ",  "), pairs[4][1])]
    train = list(range(0, 24)) + list(range(40, 45))
    pairs += exact + near
    split = (train, list(range(24, 32)), list(range(32, 40)))
    w = Workdir("dedup", pairs=pairs, split=split)
    texts_train = [pairs[i][0] for i in train]
    for normalize_flag, key in (("true", normalize), ("false", lambda t: t)):
        rc, rec, err = w.run(["dedup={normalize: %s}" % normalize_flag])
        if not c.check(rc == 0, "dedup runs: %s" % err):
            return
        e = evidence(rec, "dedup")
        expect = len(texts_train) - len({key(t) for t in texts_train})
        c.check(e["samples_before"] == len(train), "dedup: %s samples before, wrote %d" % (e["samples_before"],
                                                                                          len(train)))
        c.check(e["samples_removed"] == expect, "dedup normalize=%s: removed %s, expected %d"
                % (normalize_flag, e["samples_removed"], expect))
        c.check(rec["data"]["split"]["train"]["samples"] == len(train) - expect, "dedup: the split did not shrink")
        c.check(rec["data"]["split"]["test"]["samples"] == 8, "dedup touched the test split")
    c.check(len(texts_train) - len({normalize(t) for t in texts_train}) == 5, "the test planted 5 duplicates")
    # Without duplicates the knob says so in the run's warnings.
    rc, rec, err = Workdir("dedup-none").run(["dedup"])
    c.check(rc == 0 and evidence(rec, "dedup")["samples_removed"] == 0 and
            any("no duplicate" in x for x in rec["warnings"]), "dedup without duplicates: %s" % err)


def test_subsample(c):
    pairs = texts(96, seed=7)
    train = list(range(0, 60))
    split = (train, list(range(60, 78)), list(range(78, 96)))
    w = Workdir("subsample", pairs=pairs, split=split)
    counts = [sum(1 for i in train if pairs[i][1] == k) for k in (0, 1)]
    lengths = [len(pairs[i][0].encode()) for i in train]
    for strategy in ("stratified", "random", "length"):
        rc, rec, err = w.run(["subsample={fraction: 0.5, strategy: %s}" % strategy])
        if not c.check(rc == 0, "subsample %s runs: %s" % (strategy, err)):
            continue
        e = evidence(rec, "subsample")
        c.check(e["train_samples_before"] == 60 and e["train_samples_after"] == 30,
                "subsample %s: %s -> %s, expected 60 -> 30" % (strategy, e["train_samples_before"],
                                                              e["train_samples_after"]))
        c.check(rec["data"]["split"]["train"]["samples"] == 30, "subsample: the split did not shrink")
        c.check([e["classes_before"]["0"], e["classes_before"]["1"]] == counts,
                "subsample: classes before %s, counted %s" % (e["classes_before"], counts))
        after = [e["classes_after"]["0"], e["classes_after"]["1"]]
        c.check(sum(after) == 30 and min(after) > 0, "subsample %s: classes after %s" % (strategy, after))
        c.check(close(e["mean_length_before"], sum(lengths) / len(lengths)), "subsample: mean length before")
        if strategy == "stratified":
            c.check(all(abs(a - n / 2) <= 1 for a, n in zip(after, counts)),
                    "stratified: %s is not half of %s per class" % (after, counts))
        if strategy == "length":
            # One sample from each pair of neighbours in length order: the mean length stays.
            c.check(abs(e["mean_length_after"] - e["mean_length_before"]) <= 0.05 * e["mean_length_before"],
                    "length-aware: mean length %s -> %s" % (e["mean_length_before"], e["mean_length_after"]))


if __name__ == "__main__":
    sys.exit(main_of("test_data_knobs", [test_tokenizer_fast, test_seq_trim, test_dynamic_padding, test_dedup,
                                         test_subsample]))
