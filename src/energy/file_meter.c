/* A host-provided meter: a file that something outside this machine keeps up
 * to date — a hypervisor exporting each VM's share of the host's RAPL
 * counters (Scaphandre's approach), or a script polling a wall-plug meter
 * (PowerJoular's). `--meter file:PATH`. The file holds one line per
 * component:
 *
 *   [cpu|dram|gpu] NUMBER [J|kJ|mJ|uJ|Wh|kWh|W|mW|kW]
 *
 * An energy unit (or none: joules) is a cumulative counter; a power unit is
 * the power now, integrated between reads with the trapezoid rule. Without a
 * component name the figure is booked as cpu: a host meter does not say how
 * its watts split. A counter that goes down means the writer restarted: it
 * counts again from zero. An empty file (a writer between truncate and write)
 * repeats the last reading; anything else that does not parse is an error.
 * Writers should write a temporary file and rename it over PATH. */
#include "energy/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_TEXT_MAX 4096

typedef struct {
    int present, is_power;
    double last;          /* the value as read: joules (counter) or watts */
    double total_j;       /* counters */
    power_integral power; /* watts */
} file_entry;

typedef struct {
    backend base;
    char path[400];
    file_entry entries[GT_COMPONENTS];
} file_meter;

typedef struct {
    const char *name;
    double scale; /* to J or W */
    int is_power;
} unit;

static const unit units[] = {{"J", 1, 0},        {"kJ", 1e3, 0}, {"mJ", 1e-3, 0}, {"uJ", 1e-6, 0},
                             {"Wh", 3600, 0},    {"kWh", 3.6e6, 0}, {"W", 1, 1}, {"mW", 1e-3, 1},
                             {"kW", 1e3, 1}};

static const char *const component_names[GT_COMPONENTS] = {"cpu", "dram", "gpu"};

/* One line into (component, value in J or W, is_power). */
static gt_status parse_line(const char *path, int number, char *line, int *component, double *value, int *is_power,
                            gt_error *err)
{
    char *words[4], *save = NULL;
    int n = 0;
    for (char *w = strtok_r(line, " \t\r", &save); w && n < 4; w = strtok_r(NULL, " \t\r", &save))
        words[n++] = w;
    int first = 0;
    *component = GT_CPU;
    for (int c = 0; n > 0 && c < GT_COMPONENTS; c++)
        if (!strcmp(words[0], component_names[c])) {
            *component = c;
            first = 1;
        }
    char *end = NULL;
    double v = n > first ? strtod(words[first], &end) : 0;
    const char *unit_name = end && *end ? end : n == first + 2 ? words[first + 1] : NULL; /* "85W" or "85 W" */
    if (n <= first || n > first + 2 || end == words[first] || (end && *end && n == first + 2) || !isfinite(v) ||
        v < 0)
        return gt_error_set(err, GT_ERR_PARSE,
                            "%s:%d: expected '[cpu|dram|gpu] NUMBER [J|kJ|mJ|uJ|Wh|kWh|W|mW|kW]' with a number >= 0",
                            path, number);
    double scale = 1;
    *is_power = 0;
    if (unit_name) {
        size_t k = 0;
        while (k < sizeof units / sizeof units[0] && strcmp(units[k].name, unit_name))
            k++;
        if (k == sizeof units / sizeof units[0])
            return gt_error_set(err, GT_ERR_PARSE, "%s:%d: unit '%.16s' is not one of J kJ mJ uJ Wh kWh W mW kW",
                                path, number, unit_name);
        scale = units[k].scale;
        *is_power = units[k].is_power;
    }
    *value = v * scale;
    return GT_OK;
}

/* The file now: per component, a value and whether it is power; *empty when
 * the file has no lines. */
static gt_status read_values(file_meter *f, file_entry now[GT_COMPONENTS], int *empty, gt_error *err)
{
    char text[FILE_TEXT_MAX];
    gt_status s = energy_read_text(f->path, text, sizeof text, err);
    if (s != GT_OK)
        return gt_error_prefix(err, "file meter: ");
    memset(now, 0, sizeof(file_entry) * GT_COMPONENTS);
    *empty = 1;
    int number = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        number++;
        if (strspn(line, " \t\r") == strlen(line))
            continue;
        int c = GT_CPU, is_power = 0;
        double v = 0;
        if ((s = parse_line(f->path, number, line, &c, &v, &is_power, err)) != GT_OK)
            return s;
        if (now[c].present)
            return gt_error_set(err, GT_ERR_PARSE, "%s:%d: a second %s line", f->path, number, component_names[c]);
        now[c].present = 1;
        now[c].is_power = is_power;
        now[c].last = v;
        *empty = 0;
    }
    return GT_OK;
}

static gt_status file_read(backend *b, double now_s, double joules[GT_COMPONENTS], gt_error *err)
{
    file_meter *f = (file_meter *)b;
    file_entry now[GT_COMPONENTS];
    int empty;
    gt_status s = read_values(f, now, &empty, err);
    if (s != GT_OK)
        return s;
    for (int c = 0; c < GT_COMPONENTS; c++) {
        file_entry *e = &f->entries[c];
        if (!empty && (now[c].present != e->present || (e->present && now[c].is_power != e->is_power)))
            return gt_error_set(err, GT_ERR_PARSE, "%s: its %s line %s since the start; keep the same lines and units",
                                f->path, component_names[c], e->present ? "changed or went away" : "appeared");
        if (!e->present || empty)
            continue;
        double v = now[c].last;
        if (e->is_power) {
            power_integral_add(&e->power, now_s, v);
            e->total_j = e->power.joules;
        } else {
            e->total_j += v >= e->last ? v - e->last : v; /* down: the writer restarted from zero */
        }
        e->last = v;
    }
    for (int c = 0; c < GT_COMPONENTS; c++)
        joules[c] = f->entries[c].total_j;
    return GT_OK;
}

static void file_close(backend *b) { free(b); }

gt_status file_meter_open(const char *path, double now_s, backend **out, gt_error *err)
{
    *out = NULL;
    file_meter *f = calloc(1, sizeof *f);
    if (!f)
        return gt_error_set(err, GT_ERR_NOMEM, "file meter: out of memory");
    f->base.name = "file";
    f->base.read = file_read;
    f->base.close = file_close;
    snprintf(f->path, sizeof f->path, "%s", path);
    int empty;
    gt_status s = read_values(f, f->entries, &empty, err);
    if (s == GT_OK && empty)
        s = gt_error_set(err, GT_ERR_PARSE, "%s: empty; the host meter writes lines such as '1234.5 J' or 'cpu 85 W'",
                         path);
    if (s != GT_OK) {
        free(f);
        return s;
    }
    char what[200] = "";
    for (int c = 0; c < GT_COMPONENTS; c++) {
        file_entry *e = &f->entries[c];
        if (!e->present)
            continue;
        power_integral_start(&e->power, now_s, e->last);
        f->base.components |= COMPONENT_BIT(c);
        size_t used = strlen(what);
        snprintf(what + used, sizeof what - used, "%s%s as %s", used ? ", " : "", component_names[c],
                 e->is_power ? "power (integrated)" : "a joule counter");
    }
    snprintf(f->base.description, sizeof f->base.description, "file: host-provided meter %s (%s)", path, what);
    *out = &f->base;
    return GT_OK;
}
