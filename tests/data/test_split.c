/* Splits: stratified, reproducible from the seed, disjoint and complete;
 * limit keeps a stratified subset; split files name samples by id. */
#include <math.h>

#include "data_tests.h"

/* 1000 samples in three classes of 700, 250 and 50, interleaved. */
static gt_dataset *three_classes(void)
{
    size_t cap = 64 * 1000, used = 0;
    char *csv = malloc(cap);
    used += (size_t)snprintf(csv + used, cap - used, "id,text,label\n");
    for (int i = 0; i < 1000; i++) {
        int label = i % 20 == 0 ? 2 : i % 4 == 1 ? 1 : 0;
        used += (size_t)snprintf(csv + used, cap - used, "s%d,text %d,%d\n", i, i, label);
    }
    test_write_file(test_path("three.csv"), csv, used);
    free(csv);
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.format = GT_DATA_CSV;
    opt.path = test_path("three.csv");
    opt.id_field = "id";
    opt.n_classes = 3;
    gt_error err = {0};
    gt_dataset *ds = NULL;
    if (gt_dataset_load(&ds, &opt, &err) != GT_OK)
        fprintf(stderr, "%s\n", err.message);
    return ds;
}

static void write_text(const char *path, const char *text)
{
    test_write_file(path, text, strlen(text));
}

static int same_set(const gt_index_set *a, const gt_index_set *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->idx, b->idx, a->n * sizeof *a->idx) == 0);
}

static void check_partition(const gt_dataset *ds, const gt_split *s, size_t expected_total)
{
    unsigned char *seen = calloc(ds->n, 1);
    const gt_index_set *parts[3] = {&s->train, &s->val, &s->test};
    size_t total = 0;
    for (int p = 0; p < 3; p++) {
        for (size_t i = 0; i < parts[p]->n; i++) {
            size_t k = parts[p]->idx[i];
            CHECK(k < ds->n);
            CHECK_MSG(!seen[k], "sample %zu is in two splits", k);
            seen[k] = 1;
            if (i > 0)
                CHECK(parts[p]->idx[i - 1] < k);  /* ascending */
        }
        total += parts[p]->n;
    }
    CHECK_EQ_INT(total, expected_total);
    free(seen);
}

static void test_same_seed_same_split_other_seed_other_split(void)
{
    gt_dataset *ds = three_classes();
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(ds->class_counts[0], 700);
    CHECK_EQ_INT(ds->class_counts[1], 250);
    CHECK_EQ_INT(ds->class_counts[2], 50);
    double fr[3] = {0.8, 0.1, 0.1};
    gt_error err = {0};
    gt_split a, b, c;
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 7, 0, &a, &err), GT_OK);
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 7, 0, &b, &err), GT_OK);
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 8, 0, &c, &err), GT_OK);
    CHECK(same_set(&a.train, &b.train) && same_set(&a.val, &b.val) && same_set(&a.test, &b.test));
    CHECK(!same_set(&a.test, &c.test));
    check_partition(ds, &a, 1000);
    check_partition(ds, &c, 1000);
    gt_split_free(&a);
    gt_split_free(&b);
    gt_split_free(&c);
    gt_dataset_free(ds);
}

/* Every part holds each class within one sample of its exact share. */
static void test_class_ratios_within_one_sample(void)
{
    gt_dataset *ds = three_classes();
    if (!ds)
        return;
    static const double fractions[][3] = {{0.8, 0.1, 0.1}, {0.7, 0.15, 0.15}, {0.5, 0.0, 0.5}, {0.33, 0.33, 0.34}};
    for (size_t f = 0; f < 4; f++) {
        gt_error err = {0};
        gt_split s;
        CHECK_EQ_INT(gt_dataset_split(ds, fractions[f], 3, 0, &s, &err), GT_OK);
        const gt_index_set *parts[3] = {&s.train, &s.val, &s.test};
        for (int p = 0; p < 3; p++) {
            size_t counts[3];
            gt_index_set_class_counts(ds, parts[p], counts);
            for (int c = 0; c < 3; c++) {
                double exact = fractions[f][p] * (double)ds->class_counts[c];
                CHECK_MSG(fabs((double)counts[c] - exact) <= 1.0, "fractions %zu part %d class %d: %zu vs %.2f", f,
                          p, c, counts[c], exact);
            }
        }
        check_partition(ds, &s, 1000);
        gt_split_free(&s);
    }
    gt_dataset_free(ds);
}

static void test_limit_is_a_stratified_subset(void)
{
    gt_dataset *ds = three_classes();
    if (!ds)
        return;
    double fr[3] = {0.8, 0.1, 0.1};
    gt_error err = {0};
    gt_split s, again;
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 1, 200, &s, &err), GT_OK);
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 1, 200, &again, &err), GT_OK);
    check_partition(ds, &s, 200);
    CHECK(same_set(&s.train, &again.train) && same_set(&s.test, &again.test));
    size_t counts[3] = {0}, part[3];
    const gt_index_set *parts[3] = {&s.train, &s.val, &s.test};
    for (int p = 0; p < 3; p++) {
        gt_index_set_class_counts(ds, parts[p], part);
        for (int c = 0; c < 3; c++)
            counts[c] += part[c];
    }
    CHECK_EQ_INT(counts[0], 140);  /* 200 x 0.70 */
    CHECK_EQ_INT(counts[1], 50);   /* 200 x 0.25 */
    CHECK_EQ_INT(counts[2], 10);   /* 200 x 0.05 */
    gt_split_free(&s);
    gt_split_free(&again);

    /* A tiny limit keeps the rare class in the training split. */
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 1, 6, &s, &err), GT_OK);
    size_t train[3];
    gt_index_set_class_counts(ds, &s.train, train);
    CHECK_MSG(train[0] > 0 && train[1] > 0 && train[2] > 0, "%zu %zu %zu", train[0], train[1], train[2]);
    gt_split_free(&s);
    gt_dataset_free(ds);
}

static void test_bad_fractions_and_starved_classes_are_refused(void)
{
    gt_dataset *ds = three_classes();
    if (!ds)
        return;
    gt_error err = {0};
    gt_split s;
    double wrong_sum[3] = {0.8, 0.1, 0.2}, negative[3] = {1.1, -0.1, 0.0}, small_train[3] = {0.005, 0.495, 0.5};
    CHECK_EQ_INT(gt_dataset_split(ds, wrong_sum, 1, 0, &s, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "add up to 1"), "%s", err.message);
    CHECK_EQ_INT(gt_dataset_split(ds, negative, 1, 0, &s, &err), GT_ERR_INVALID);
    /* 0.5% of class 2's 50 samples is 0.25: none reaches train. */
    CHECK_EQ_INT(gt_dataset_split(ds, small_train, 1, 0, &s, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "class 2") && strstr(err.message, "training split"), "%s", err.message);
    gt_dataset_free(ds);
}

static void test_split_files_by_id(void)
{
    gt_error err = {0};
    gt_dataset *ds = load_bigvul(&err);
    if (!ds)
        return;
    const char *paths[3] = {fixture("data/bigvul-splits/train.txt"), fixture("data/bigvul-splits/val.txt"),
                            fixture("data/bigvul-splits/test.txt")};
    gt_split s;
    CHECK_EQ_INT(gt_dataset_split_files(ds, paths, &s, &err), GT_OK);
    CHECK_EQ_INT(s.train.n, 3);
    CHECK_EQ_INT(s.val.n, 1);
    CHECK_EQ_INT(s.test.n, 1);
    if (s.test.n == 1 && s.val.n == 1) {
        CHECK_EQ_INT(s.test.idx[0], 3);
        CHECK_EQ_INT(s.val.idx[0], 4);
    }
    gt_split_free(&s);

    /* bigvul's train file lacks a vulnerable sample if id 0 is left out. */
    write_text(test_path("train.txt"), "1\n2\n");
    const char *no_vul[3] = {test_path("train.txt"), NULL, paths[2]};
    CHECK_EQ_INT(gt_dataset_split_files(ds, no_vul, &s, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "class 1") && strstr(err.message, "training split"), "%s", err.message);

    write_text(test_path("unknown.txt"), "0\n1\n\n# comment\n99\n");
    const char *unknown[3] = {test_path("unknown.txt"), NULL, paths[2]};
    CHECK_EQ_INT(gt_dataset_split_files(ds, unknown, &s, &err), GT_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "unknown.txt: line 5") && strstr(err.message, "\"99\""), "%s", err.message);

    write_text(test_path("overlap.txt"), "0\n3\n");
    const char *overlap[3] = {paths[0], test_path("overlap.txt"), paths[2]};
    CHECK_EQ_INT(gt_dataset_split_files(ds, overlap, &s, &err), GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "overlap.txt: line 1") && strstr(err.message, "already in the train split"), "%s",
              err.message);
    gt_dataset_free(ds);
}

static int keep_even(size_t index, void *ctx)
{
    (*(int *)ctx)++;
    return index % 2 == 0;
}

static void test_filter_and_subset_hooks(void)
{
    gt_dataset *ds = three_classes();
    if (!ds)
        return;
    gt_error err = {0};
    gt_split s;
    double fr[3] = {0.8, 0.1, 0.1};
    CHECK_EQ_INT(gt_dataset_split(ds, fr, 5, 0, &s, &err), GT_OK);
    size_t before = s.train.n, evens = 0;
    for (size_t i = 0; i < s.train.n; i++)
        evens += s.train.idx[i] % 2 == 0;
    int calls = 0;
    size_t dropped = gt_index_set_filter(&s.train, keep_even, &calls);
    CHECK_EQ_INT(calls, before);
    CHECK_EQ_INT(s.train.n, evens);
    CHECK_EQ_INT(dropped, before - evens);
    for (size_t i = 0; i < s.train.n; i++)
        CHECK(s.train.idx[i] % 2 == 0);

    gt_index_set half;
    CHECK_EQ_INT(gt_dataset_stratified_subset(ds, &s.test, s.test.n / 2, 9, &half, &err), GT_OK);
    CHECK_EQ_INT(half.n, s.test.n / 2);
    for (size_t i = 0; i < half.n; i++) {  /* a subset of the test split */
        int found = 0;
        for (size_t j = 0; j < s.test.n && !found; j++)
            found = s.test.idx[j] == half.idx[i];
        CHECK(found);
    }
    gt_index_set_free(&half);
    gt_split_free(&s);
    gt_dataset_free(ds);
}

int main(void)
{
    RUN(test_same_seed_same_split_other_seed_other_split);
    RUN(test_class_ratios_within_one_sample);
    RUN(test_limit_is_a_stratified_subset);
    RUN(test_bad_fractions_and_starved_classes_are_refused);
    RUN(test_split_files_by_id);
    RUN(test_filter_and_subset_hooks);
    return test_summary();
}
