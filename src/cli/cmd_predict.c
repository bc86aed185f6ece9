/* greentune predict MODEL_DIR [--text T]... [--input FILE] [--json FILE]
 *
 * Classifies texts with a Hugging Face model directory (a checkpoint from
 * `greentune run --out`, or a downloaded bert / modernbert classifier). One
 * line per text on stdout; design.md's {"predictions": [...]} with --json. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "greentune/config.h"
#include "greentune/data.h"
#include "greentune/fileio.h"
#include "greentune/pipeline.h"

#define INPUT_MAX_BYTES (256u << 20)

static void usage(FILE *out)
{
    fputs("usage: greentune predict MODEL_DIR [--text T]... [--input FILE] [--json FILE] [--batch N]\n"
          "\n"
          "Classifies texts with a model directory (config.json, model.safetensors, tokenizer.json):\n"
          "a checkpoint of 'greentune run --out DIR' or a Hugging Face bert / modernbert classifier.\n"
          "Prints label, probability and text, one line per text.\n"
          "\n"
          "  --text T        a text to classify (repeatable)\n"
          "  --input FILE    one text per line ('-': standard input)\n"
          "  --json FILE     write {\"predictions\": [{\"text\", \"label\", \"label_name\", \"probs\",\n"
          "                  \"logits\", \"tokens\", \"ids\"}]}\n"
          "  --batch N       texts per forward pass (default 32)\n"
          "  -h, --help      this help\n",
          out);
}

typedef struct {
    char **texts;
    size_t *lengths;
    size_t n, cap;
    char *input;  /* the --input file's bytes; its lines point into it */
} text_list;

static int add_text(text_list *l, char *text, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **t = realloc(l->texts, cap * sizeof *t);
        size_t *n = t ? realloc(l->lengths, cap * sizeof *n) : NULL;
        if (t)
            l->texts = t;
        if (!t || !n)
            return 0;
        l->lengths = n;
        l->cap = cap;
    }
    l->texts[l->n] = text;
    l->lengths[l->n++] = len;
    return 1;
}

static gt_status read_stdin(char **data, size_t *len, gt_error *err)
{
    size_t cap = 1 << 16;
    *len = 0;
    *data = malloc(cap + 1);
    size_t got;
    while (*data && (got = fread(*data + *len, 1, cap - *len, stdin)) > 0) {
        *len += got;
        if (*len == cap) {
            if (cap >= INPUT_MAX_BYTES)
                return gt_error_set(err, GT_ERR_NOMEM, "--input -: more than %u bytes", INPUT_MAX_BYTES);
            char *bigger = realloc(*data, 2 * cap + 1);
            if (!bigger)
                break;
            *data = bigger;
            cap *= 2;
        }
    }
    if (!*data)
        return gt_error_set(err, GT_ERR_NOMEM, "--input -: out of memory");
    (*data)[*len] = '\0';
    return GT_OK;
}

/* Lines of the --input file, each a text (a trailing '\r' dropped, empty lines skipped). */
static int read_input(text_list *l, const char *path)
{
    gt_error err = {0};
    size_t len;
    gt_status st = !strcmp(path, "-") ? read_stdin(&l->input, &len, &err)
                                      : gt_read_file(path, INPUT_MAX_BYTES, &l->input, &len, &err);
    if (st != GT_OK) {
        cli_fail_error(&err);
        return 0;
    }
    for (char *line = l->input, *end; line < l->input + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)(l->input + len - line));
        if (!end)
            end = l->input + len;
        *end = '\0';
        size_t n = (size_t)(end - line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n && !add_text(l, line, n)) {
            cli_fail(CLI_EXIT_FAILURE, "--input %s: out of memory", path);
            return 0;
        }
    }
    return 1;
}

/* Text as valid UTF-8 for JSON and the terminal. */
static char *clean(const char *text, size_t len)
{
    char *out = NULL;
    size_t out_len, replaced;
    return gt_utf8_sanitize(text, len, &out, &out_len, &replaced, NULL) == GT_OK ? out : NULL;
}

static cJSON *prediction_json(const gt_classifier *c, const gt_prediction *p, const char *text)
{
    int k = gt_classifier_num_labels(c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text ? text : "");
    cJSON_AddNumberToObject(o, "label", p->label);
    const char *name = gt_classifier_label_name(c, p->label);
    if (name)
        cJSON_AddStringToObject(o, "label_name", name);
    else
        cJSON_AddNullToObject(o, "label_name");
    cJSON *probs = cJSON_AddArrayToObject(o, "probs"), *logits = cJSON_AddArrayToObject(o, "logits");
    for (int i = 0; i < k; i++) {
        cJSON_AddItemToArray(probs, cJSON_CreateNumber(p->probs[i]));
        cJSON_AddItemToArray(logits, cJSON_CreateNumber(p->logits[i]));
    }
    cJSON *tokens = cJSON_AddArrayToObject(o, "tokens"), *ids = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < p->n_ids; i++) {
        const char *token = gt_tokenizer_id_to_token(gt_classifier_tokenizer(c), p->ids[i]);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(token ? token : ""));
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(p->ids[i]));
    }
    return o;
}

/* "1  spam  0.9871  Buy now ..." with the text on one line, cut to at most 60
 * bytes at a character boundary. */
static void print_line(const gt_classifier *c, const gt_prediction *p, const char *text)
{
    char shown[64];
    const char *s = text ? text : "";
    size_t n = strnlen(s, 60);
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] continues a character that began before it: cut there */
    for (size_t i = 0; i < n; i++)
        shown[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    shown[n] = '\0';
    const char *name = gt_classifier_label_name(c, p->label);
    printf("%d\t%-10s\t%.4f\t%s\n", p->label, name ? name : "-", p->probs[p->label], shown);
}

static int predict(const char *dir, const text_list *l, const char *json_path, size_t batch)
{
    gt_error err = {0};
    gt_classifier *c;
    if (gt_classifier_open(dir, &c, &err) != GT_OK)
        return cli_fail_error(&err);
    gt_prediction *preds = calloc(l->n ? l->n : 1, sizeof *preds);
    int rc = 0;
    if (!preds || gt_classifier_predict(c, (const char *const *)l->texts, l->lengths, l->n, batch, preds, &err) !=
                      GT_OK) {
        rc = preds ? cli_fail_error(&err) : cli_fail(CLI_EXIT_FAILURE, "predict: out of memory");
    } else {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "model", dir);
        cJSON *list = cJSON_AddArrayToObject(root, "predictions");
        for (size_t i = 0; i < l->n; i++) {
            char *text = clean(l->texts[i], l->lengths[i]);
            print_line(c, &preds[i], text);
            cJSON_AddItemToArray(list, prediction_json(c, &preds[i], text));
            free(text);
        }
        if (json_path && gt_json_write_file(json_path, root, &err) != GT_OK)
            rc = cli_fail_error(&err);
        cJSON_Delete(root);
    }
    gt_predictions_free(preds, l->n);
    free(preds);
    gt_classifier_free(c);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    static const struct option options[] = {
        {"text", required_argument, 0, 't'}, {"input", required_argument, 0, 'i'},
        {"json", required_argument, 0, 'j'}, {"batch", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    text_list l;
    memset(&l, 0, sizeof l);
    const char *json = NULL, *input = NULL;
    long batch = 32;
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!add_text(&l, optarg, strlen(optarg)))
                rc = cli_fail(CLI_EXIT_FAILURE, "predict: out of memory");
            break;
        case 'i': input = optarg; break;
        case 'j': json = optarg; break;
        case 'b':
            if (!cli_parse_long("--batch", optarg, 1, 65536, &batch))
                rc = CLI_EXIT_USAGE;
            break;
        case 'h': usage(stdout); rc = -1; break;
        default: rc = cli_usage_error("predict");
        }
    }
    if (rc == 0 && optind != argc - 1)
        rc = cli_fail(CLI_EXIT_USAGE, "predict: %s; usage: greentune predict MODEL_DIR [--text T]... [--input FILE]",
                      optind >= argc ? "no model directory given" : "one model directory at a time");
    if (rc == 0 && !cli_check_output("--json", json))
        rc = CLI_EXIT_USAGE;
    if (rc == 0 && input && !read_input(&l, input))
        rc = CLI_EXIT_FAILURE;
    if (rc == 0 && l.n == 0)
        rc = cli_fail(CLI_EXIT_USAGE, "predict: no texts; give --text T or --input FILE");
    if (rc == 0)
        rc = predict(argv[optind], &l, json, (size_t)batch);
    free(l.texts);
    free(l.lengths);
    free(l.input);
    return rc < 0 ? 0 : rc;
}
