/* Emissions = energy x grid carbon intensity x PUE. The national intensities
 * come from src/energy/grid_intensity.csv (sources and years in its header),
 * compiled in by src/energy/energy.cmake. */
#include "energy/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid_intensity_csv.h"

/* Finds iso3 in the table; rows are "iso3,country,g_co2e_per_kwh,year,source". */
int energy_grid_find(const char *table, const char *iso3, energy_grid_row *row)
{
    for (const char *line = table; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[256];
        if (len < sizeof buf && line[0] != '#' && !strncmp(line, iso3, 3) && line[3] == ',') {
            memcpy(buf, line, len);
            buf[len] = '\0';
            if (sscanf(buf, "%3[A-Z],%63[^,],%lf,%d,%15s", row->iso3, row->name, &row->g_per_kwh, &row->year,
                       row->source) == 5)
                return 1;
        }
        line += len + (end != NULL);
    }
    return 0;
}

static const char *source_text(const char *key)
{
    if (!strcmp(key, "owid"))
        return "Our World in Data carbon_intensity_elec (Ember, Energy Institute)";
    if (!strcmp(key, "ember-ger"))
        return "Ember Global Electricity Review 2024";
    return key;
}

gt_status gt_carbon_resolve(const char *country, double g_per_kwh, double pue, gt_carbon *c, gt_error *err)
{
    memset(c, 0, sizeof *c);
    if (!(pue >= 1.0 && pue <= 10.0))
        return gt_error_set(err, GT_ERR_INVALID, "pue %g: must be between 1 (no overhead) and 10", pue);
    c->pue = pue;
    char iso3[4] = "WLD";
    if (country) {
        int ok = strlen(country) == 3;
        for (int i = 0; ok && i < 3; i++) {
            ok = isalpha((unsigned char)country[i]);
            iso3[i] = (char)toupper((unsigned char)country[i]);
        }
        if (!ok)
            return gt_error_set(err, GT_ERR_INVALID,
                                "country '%.20s': not an ISO 3166-1 alpha-3 code (such as FRA, USA, DEU)", country);
    }
    energy_grid_row row;
    int found = energy_grid_find(grid_intensity_csv, iso3, &row);
    if (country && !found && !(g_per_kwh >= 0))
        return gt_error_set(err, GT_ERR_NOT_FOUND,
                            "country '%s': not in the grid-intensity table; give the intensity in g CO2e/kWh "
                            "instead (--carbon-intensity)", iso3);
    if (found && country) {
        snprintf(c->country, sizeof c->country, "%s", row.iso3);
        snprintf(c->country_name, sizeof c->country_name, "%s", row.name);
    }
    if (g_per_kwh >= 0) {
        if (g_per_kwh > 5000)
            return gt_error_set(err, GT_ERR_INVALID, "carbon intensity %g g/kWh: above any real grid (0..5000)",
                                g_per_kwh);
        c->g_per_kwh = g_per_kwh;
        snprintf(c->source, sizeof c->source, "given by the user");
        return GT_OK;
    }
    if (!found)
        return gt_error_set(err, GT_ERR_INTERNAL, "grid-intensity table: no world (WLD) row");
    c->g_per_kwh = row.g_per_kwh;
    c->year = row.year;
    snprintf(c->source, sizeof c->source, "%s%s, %d", country ? "" : "world average: ", source_text(row.source),
             row.year);
    return GT_OK;
}

double gt_carbon_grams(const gt_carbon *c, double joules)
{
    return joules / 3.6e6 * c->g_per_kwh * c->pue;
}
