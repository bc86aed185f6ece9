/* The grid carbon-intensity table (src/energy/grid_intensity.csv, compiled in):
 * rows "iso3,country,g_co2e_per_kwh,year,source" looked up by country code.
 * The input is the table; the codes looked up are fixed ones and the input's
 * first three bytes. A row found is the row asked for, with bounded strings. */
#include "fuzz.h"

#include "energy/internal.h"

static void lookup(const char *table, const char *iso3)
{
    energy_grid_row row;
    memset(&row, 0x55, sizeof row); /* garbage, so an unterminated field shows */
    if (!energy_grid_find(table, iso3, &row))
        return;
    FUZZ_ASSERT(memchr(row.iso3, '\0', sizeof row.iso3) && !strncmp(row.iso3, iso3, 3));
    FUZZ_ASSERT(memchr(row.name, '\0', sizeof row.name) && row.name[0]);
    FUZZ_ASSERT(memchr(row.source, '\0', sizeof row.source) && row.source[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *table = fuzz_cstring(data, size);
    static const char *const codes[] = {"WLD", "FRA", "USA", "DEU"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        lookup(table, codes[i]);
    /* Codes are three capital letters (gt_carbon_resolve checks and uppercases). */
    char own[4] = {0};
    if (strnlen(table, 3) == 3 && strspn(table, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 3) {
        memcpy(own, table, 3);
        lookup(table, own);
    }
    free(table);
    return 0;
}
