/* carbon_aware's forecast CSV: "time,g_per_kwh" rows (ISO 8601 with a zone or
 * Unix seconds), then the choice of the lowest-carbon start. A forecast that
 * parses is strictly increasing in time with intensities in range, and every
 * choice lies in the window with a mean no worse than starting now. Times are
 * also formatted for messages (forecast_format_time), which must cope with any
 * time the parser accepted. */
#include "fuzz.h"

#include <math.h>

#include "knobs/forecast.h"

static void choose(const forecast *f, double now, double window, double duration)
{
    forecast_choice c;
    gt_error err = {0};
    if (forecast_choose(f, now, window, duration, &c, &err) != GT_OK) {
        fuzz_check_message(err.message);
        return;
    }
    FUZZ_ASSERT(c.start >= now && c.start <= now + window);
    FUZZ_ASSERT(c.intensity <= c.intensity_now + 1e-6);
    FUZZ_ASSERT(c.intensity >= 0 && c.intensity <= 100000 * (1 + 1e-9));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    forecast f;
    gt_error err = {0};
    gt_status status = forecast_parse(text, "forecast.csv", &f, &err);
    free(text);
    if (status != GT_OK) {
        FUZZ_ASSERT(f.count == 0 && !f.time && !f.intensity);
        fuzz_check_message(err.message);
        return 0;
    }
    FUZZ_ASSERT(f.count >= 2);
    for (int i = 0; i < f.count; i++) {
        FUZZ_ASSERT(isfinite(f.time[i]) && f.intensity[i] >= 0 && f.intensity[i] <= 100000);
        FUZZ_ASSERT(i == 0 || f.time[i] > f.time[i - 1]);
    }
    char when[64];
    forecast_format_time(f.time[0], when, sizeof when);
    forecast_format_time(f.end, when, sizeof when);
    double span = f.end - f.time[0];
    choose(&f, f.time[0] - 1, 3600, 60); /* before the forecast: an error naming both times */
    choose(&f, f.time[0], span / 2, span / 4);
    choose(&f, f.time[0] + span / 3, span, 0);
    choose(&f, f.end, 60, 60);             /* after it: an error */
    forecast_free(&f);
    return 0;
}
