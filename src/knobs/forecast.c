#include "forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (the era-based method:
 * 400-year eras of 146097 days, years starting in March so leap days come last). */
static long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n digits. */
static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return 0;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 1;
}

static int days_in_month(long y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

int forecast_parse_time(const char *text, double *t)
{
    const char *s = text;
    char *end;
    /* Unix seconds. */
    if (*s >= '0' && *s <= '9' && strspn(s, "0123456789.") == strlen(s)) {
        *t = strtod(s, &end);
        /* 4e26 s parsed, then overflowed a long when formatted (fuzz_forecast). */
        return *end == '\0' && *t <= FORECAST_TIME_MAX;
    }
    int year, month, day, hour, minute, second = 0;
    if (!digits(&s, 4, &year) || *s++ != '-' || !digits(&s, 2, &month) || *s++ != '-' || !digits(&s, 2, &day) ||
        (*s != 'T' && *s != 't' && *s != ' ') || (s++, !digits(&s, 2, &hour)) || *s++ != ':' ||
        !digits(&s, 2, &minute))
        return 0;
    double fraction = 0;
    if (*s == ':') {
        s++;
        if (!digits(&s, 2, &second))
            return 0;
        if (*s == '.') {
            const char *start = s;
            fraction = strtod(start, &end);
            s = end;
            if (!(fraction < 1)) /* ".5e300" is a number, not a fraction of a second */
                return 0;
        }
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 60)
        return 0;
    int offset = 0; /* seconds east of UTC */
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
        if (!digits(&s, 2, &oh))
            return 0;
        if (*s == ':')
            s++;
        if (*s && !digits(&s, 2, &om))
            return 0;
        if (oh > 23 || om > 59)
            return 0;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return 0; /* no zone: refuse rather than guess local time */
    }
    if (*s)
        return 0;
    *t = (double)days_from_civil(year, month, day) * 86400.0 + hour * 3600 + minute * 60 + second + fraction - offset;
    return 1;
}

void forecast_format_time(double t, char *buf, size_t size)
{
    long whole = (long)floor(t);
    long days = whole >= 0 ? whole / 86400 : -((-whole + 86399) / 86400);
    long rest = whole - days * 86400, year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    snprintf(buf, size, "%04ld-%02d-%02dT%02ld:%02ld:%02ldZ", year, month, day, rest / 3600, rest / 60 % 60, rest % 60);
}

/* --- CSV -------------------------------------------------------------------- */

/* Trims spaces and one pair of surrounding double quotes, in place. */
static char *trim_field(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static gt_status row_error(forecast *f, gt_error *err, const char *name, int line, const char *problem,
                           const char *field)
{
    forecast_free(f);
    return gt_error_set(err, GT_ERR_PARSE, "%s:%d: \"%.40s\" %s", name, line, field, problem);
}

gt_status forecast_parse(const char *text, const char *name, forecast *f, gt_error *err)
{
    memset(f, 0, sizeof f[0]);
    char *copy = strdup(text);
    int cap = 1024, line_no = 0, header_seen = 0;
    f->time = malloc((size_t)cap * sizeof *f->time);
    f->intensity = malloc((size_t)cap * sizeof *f->intensity);
    if (!copy || !f->time || !f->intensity) {
        free(copy);
        forecast_free(f);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", name);
    }
    gt_status status = GT_OK;
    for (char *line = copy, *next; line && status == GT_OK; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        char *first = trim_field(line);
        if (!first[0] || first[0] == '#')
            continue;
        char *comma = strchr(first, ',');
        if (!comma) {
            status = row_error(f, err, name, line_no, "has one column; expected time,g_per_kwh", first);
            break;
        }
        *comma = '\0';
        char *rest = comma + 1, *after = strchr(rest, ',');
        if (after)
            *after = '\0'; /* further columns are ignored */
        char *time_text = trim_field(first), *value_text = trim_field(rest), *end;
        double t, g = strtod(value_text, &end);
        int numeric = value_text[0] && !*end && isfinite(g);
        if (!forecast_parse_time(time_text, &t)) {
            /* A header names its columns; a row with a bad time still has a number. */
            if (!f->count && !header_seen++ && !numeric)
                continue;
            status = row_error(f, err, name, line_no,
                               "is not a time (expected ISO 8601 with a zone, like 2024-05-01T13:00Z, or Unix seconds)",
                               time_text);
            break;
        }
        if (!numeric || g < 0 || g > 100000) {
            status = row_error(f, err, name, line_no, "is not a carbon intensity in g/kWh (0 to 100000)", value_text);
            break;
        }
        if (f->count && t <= f->time[f->count - 1]) {
            status = row_error(f, err, name, line_no, "is not after the previous row's time (rows must be in time order)",
                               time_text);
            break;
        }
        if (f->count == FORECAST_ROWS_MAX) {
            forecast_free(f);
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: more than %d rows", name, FORECAST_ROWS_MAX);
            break;
        }
        if (f->count == cap) {
            cap *= 2;
            double *bigger_t = realloc(f->time, (size_t)cap * sizeof *f->time);
            if (bigger_t)
                f->time = bigger_t;
            double *bigger_g = realloc(f->intensity, (size_t)cap * sizeof *f->intensity);
            if (bigger_g)
                f->intensity = bigger_g;
            if (!bigger_t || !bigger_g) {
                forecast_free(f);
                status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", name);
                break;
            }
        }
        f->time[f->count] = t;
        f->intensity[f->count++] = g;
    }
    free(copy);
    if (status != GT_OK)
        return status;
    if (f->count < 2) {
        forecast_free(f);
        return gt_error_set(err, GT_ERR_PARSE, "%s: needs at least two rows (time,g_per_kwh) to know how long each holds",
                            name);
    }
    f->end = f->time[f->count - 1] + (f->time[f->count - 1] - f->time[f->count - 2]);
    return GT_OK;
}

gt_status forecast_load(const char *path, forecast *f, gt_error *err)
{
    char *text;
    memset(f, 0, sizeof f[0]);
    gt_status status = gt_read_file(path, FORECAST_BYTES_MAX, &text, NULL, err);
    if (status != GT_OK)
        return status;
    status = forecast_parse(text, path, f, err);
    free(text);
    return status;
}

void forecast_free(forecast *f)
{
    free(f->time);
    free(f->intensity);
    memset(f, 0, sizeof f[0]);
}

/* Index of the row holding at t (t inside [time[0], end)). */
static int row_at(const forecast *f, double t)
{
    int lo = 0, hi = f->count - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f->time[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

double forecast_mean(const forecast *f, double start, double duration)
{
    if (duration <= 0 || start + 1e-9 >= f->end)
        return f->intensity[row_at(f, start)];
    double stop = fmin(start + duration, f->end), sum = 0;
    for (int i = row_at(f, start); i < f->count; i++) {
        double from = fmax(start, f->time[i]);
        double to = fmin(stop, i + 1 < f->count ? f->time[i + 1] : f->end);
        if (to > from)
            sum += f->intensity[i] * (to - from);
        if (to >= stop)
            break;
    }
    return sum / (stop - start);
}

gt_status forecast_choose(const forecast *f, double now, double window, double duration, forecast_choice *choice,
                          gt_error *err)
{
    char a[32], b[32];
    if (now < f->time[0]) {
        forecast_format_time(f->time[0], a, sizeof a);
        forecast_format_time(now, b, sizeof b);
        return gt_error_set(err, GT_ERR_INVALID, "forecast starts at %s, after now (%s); use one that covers now", a, b);
    }
    if (now >= f->end) {
        forecast_format_time(f->end, a, sizeof a);
        forecast_format_time(now, b, sizeof b);
        return gt_error_set(err, GT_ERR_INVALID, "forecast ends at %s, before now (%s); fetch a fresh one", a, b);
    }
    choice->start = now;
    choice->intensity_now = choice->intensity = forecast_mean(f, now, duration);
    /* The mean over [t, t + duration] is piecewise linear in t, with breaks where
     * t or t + duration crosses a row boundary, so its minimum over the window
     * is at one of those breaks or at the window's ends. */
    double last = now + window;
    for (int i = 0; i <= f->count; i++) {
        double boundary = i < f->count ? f->time[i] : f->end;
        double candidates[3] = {boundary, boundary - duration, last};
        for (int c = 0; c < (duration > 0 ? 3 : 1); c++) {
            double t = candidates[c];
            if (t <= now || t > last || t + duration > f->end || (duration <= 0 && t >= f->end))
                continue;
            double mean = forecast_mean(f, t, duration);
            if (mean < choice->intensity - 1e-9 || (fabs(mean - choice->intensity) <= 1e-9 && t < choice->start)) {
                choice->start = t;
                choice->intensity = mean;
            }
        }
    }
    return GT_OK;
}
