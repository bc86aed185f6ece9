/* gt_report_*: picks the writer for a format, renders into memory, writes the
 * file atomically. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"
#include "greentune/report.h"
#include "report_internal.h"

gt_status gt_report_format_from_name(const char *name, gt_report_format *format, gt_error *err)
{
    static const struct {
        const char *name;
        gt_report_format format;
    } names[] = {{"md", GT_REPORT_MARKDOWN}, {"markdown", GT_REPORT_MARKDOWN}, {"csv", GT_REPORT_CSV},
                 {"json", GT_REPORT_JSON},   {"html", GT_REPORT_HTML},         {"htm", GT_REPORT_HTML}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && !strcmp(name, names[i].name)) {
            *format = names[i].format;
            return GT_OK;
        }
    return gt_error_set(err, GT_ERR_INVALID, "report format '%s': unknown — use md, csv, json or html",
                        name ? name : "");
}

gt_status gt_report_render(const gt_analysis *analysis, gt_report_format format, char **text, size_t *len,
                           gt_error *err)
{
    *text = NULL;
    if (len)
        *len = 0;
    rbuf b = {0};
    switch (format) {
    case GT_REPORT_MARKDOWN: report_markdown(&b, analysis); break;
    case GT_REPORT_CSV: report_csv(&b, analysis); break;
    case GT_REPORT_HTML: report_html(&b, analysis); break;
    case GT_REPORT_JSON: {
        cJSON *root = report_json(analysis);
        char *json = root ? cJSON_Print(root) : NULL;
        cJSON_Delete(root);
        if (!json)
            return gt_error_set(err, GT_ERR_NOMEM, "report: out of memory");
        rbuf_puts(&b, json);
        rbuf_puts(&b, "\n");
        cJSON_free(json);
        break;
    }
    default: return gt_error_set(err, GT_ERR_INVALID, "report: unknown format %d", (int)format);
    }
    if (b.failed || !b.data) {
        rbuf_free(&b);
        return gt_error_set(err, GT_ERR_NOMEM, "report: out of memory");
    }
    *text = b.data;
    if (len)
        *len = b.len;
    return GT_OK;
}

gt_status gt_report_write(const gt_analysis *analysis, gt_report_format format, const char *path, gt_error *err)
{
    char *text;
    size_t len;
    gt_status st = gt_report_render(analysis, format, &text, &len, err);
    if (st != GT_OK)
        return st;
    st = gt_write_file_atomic(path, text, len, err);
    free(text);
    return st;
}
