/* Carbon-intensity forecasts for carbon_aware: a CSV of (time, g/kWh) rows read
 * as a step function (each row holds until the next; the last for as long as
 * the step before it), and the choice of the lowest-carbon start within a
 * bounded delay. */
#ifndef GREENTUNE_FORECAST_H
#define GREENTUNE_FORECAST_H

#include <stddef.h>

#include "greentune/common.h"

#define FORECAST_ROWS_MAX 200000
/* The last second an ISO 8601 time can name (9999-12-31T23:59:59Z); Unix
 * seconds beyond it are refused, so every time formats as a date. */
#define FORECAST_TIME_MAX 253402300799.0
#define FORECAST_BYTES_MAX (8u << 20)

typedef struct {
    double *time;      /* Unix seconds, strictly increasing */
    double *intensity; /* g CO2e per kWh from time[i] to time[i + 1] */
    int count;
    double end;        /* when the last row stops holding */
} forecast;

/* CSV text: "time,g_per_kwh" rows, an optional header line, '#' comments and
 * blank lines; extra columns are ignored. Times are ISO 8601 with a zone
 * (2024-05-01T13:00Z, 2024-05-01 13:00:00+02:00) or Unix seconds. `name`
 * names the file in errors ("grid.csv:7: ..."). */
gt_status forecast_parse(const char *text, const char *name, forecast *f, gt_error *err);
gt_status forecast_load(const char *path, forecast *f, gt_error *err);
void forecast_free(forecast *f);

/* Mean intensity over [start, start + duration], clipped to the forecast's
 * end; duration 0 gives the intensity at start. */
double forecast_mean(const forecast *f, double start, double duration);

typedef struct {
    double start;          /* chosen start, Unix seconds */
    double intensity;      /* mean intensity of a job starting then */
    double intensity_now;  /* the same for starting now */
} forecast_choice;

/* The start in [now, now + window] whose job of `duration` seconds has the
 * lowest mean intensity (the earliest among equals); a later start must have
 * the whole job inside the forecast. Fails when the forecast does not cover now. */
gt_status forecast_choose(const forecast *f, double now, double window, double duration, forecast_choice *choice,
                          gt_error *err);

/* Parses an ISO 8601 time with a zone, or Unix seconds; 0 when malformed. */
int forecast_parse_time(const char *text, double *t);
/* Formats Unix seconds as 2024-05-01T13:00:00Z. */
void forecast_format_time(double t, char *buf, size_t size);

#endif
