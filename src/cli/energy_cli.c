#include "energy_cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "greentune/config.h"
#include "greentune/fileio.h"
#include "greentune/knobs.h"

#define IDLE_FILE "idle.json"

void energy_cli_init(energy_cli *e)
{
    memset(e, 0, sizeof *e);
    gt_measure_options_init(&e->measure);
    e->carbon_intensity = -1;
    e->pue = 1.0;
}

int energy_cli_option(energy_cli *e, int option, const char *arg)
{
    long n;
    switch (option) {
    case ENERGY_OPT_METER: e->measure.meter = arg; return 1;
    case ENERGY_OPT_INTERVAL:
        if (!cli_parse_long("--interval-ms", arg, 0, 60000, &n))
            return -1;
        e->measure.interval_ms = (int)n;
        return 1;
    case ENERGY_OPT_TDP: return cli_parse_double("--cpu-tdp", arg, 0.1, 10000, &e->measure.cpu_tdp_w) ? 1 : -1;
    case ENERGY_OPT_IDLE_WATTS: return cli_parse_double("--idle-watts", arg, 0.01, 100000, &e->measure.idle_w) ? 1 : -1;
    case ENERGY_OPT_CALIBRATION: e->measure.calibration = strcmp(arg, "none") ? arg : ""; return 1;
    case ENERGY_OPT_COUNTRY: e->country = arg; return 1;
    case ENERGY_OPT_INTENSITY:
        return cli_parse_double("--carbon-intensity", arg, 0, 5000, &e->carbon_intensity) ? 1 : -1;
    case ENERGY_OPT_PUE: return cli_parse_double("--pue", arg, 1, 10, &e->pue) ? 1 : -1;
    default: return 0;
    }
}

int energy_cli_finish(energy_cli *e, gt_carbon *carbon)
{
    gt_error err = {0};
    if (gt_meter_spec_check(e->measure.meter, &err) != GT_OK) {
        cli_fail(CLI_EXIT_USAGE, "--%s", err.message);
        return 0;
    }
    if (gt_carbon_resolve(e->country, e->carbon_intensity, e->pue, carbon, &err) != GT_OK) {
        cli_fail(CLI_EXIT_USAGE, "%s", err.message);
        return 0;
    }
    return 1;
}

void energy_cli_help(FILE *out, int default_interval_ms)
{
    fprintf(out,
            "  --meter M             auto (default), rapl, perf, nvml, rocm, estimate, file:PATH (a host-provided\n"
            "                        meter: joules or watts), or a list: rapl+nvml\n"
            "  --interval-ms N       sampling period for power and the trace (default %d; 0: off)\n"
            "  --cpu-tdp W           estimate: TDP of one CPU package (default: from a table)\n"
            "  --idle-watts W        estimate: the CPUs' power at zero load (default: 10 %% of full load)\n"
            "  --calibration FILE    estimate: calibration file (default ~/.config/greentune/calibration.json;\n"
            "                        none: ignore it); see greentune calibrate\n"
            "  --country ISO3        grid carbon intensity of a country (default: world average)\n"
            "  --carbon-intensity G  grid carbon intensity in g CO2e/kWh (overrides the table)\n"
            "  --pue X               data-centre power usage effectiveness (default 1.0)\n",
            default_interval_ms);
}

static int idle_path(char *buf, size_t size, int create)
{
    char dir[400];
    gt_error err = {0};
    if (gt_machine_state_dir(dir, sizeof dir, &err) != GT_OK)
        return 0;
    if (create && cli_make_dirs(dir) != 0)
        return 0;
    snprintf(buf, size, "%s/%s", dir, IDLE_FILE);
    return 1;
}

static void add_temp(cJSON *o, const char *key, double c, int sensors)
{
    if (sensors)
        cJSON_AddNumberToObject(o, key, c);
    else
        cJSON_AddNullToObject(o, key);
}

void idle_reference_save(double power_w, const gt_temperatures *temps)
{
    char path[512];
    if (!idle_path(path, sizeof path, 1))
        return; /* a convenience for later gates, not worth failing a measurement */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "idle_w", power_w);
    add_temp(o, "cpu_c", temps->cpu_c, temps->cpu_sensors);
    add_temp(o, "gpu_c", temps->gpu_c, temps->gpu_sensors);
    cJSON_AddNumberToObject(o, "time", (double)time(NULL));
    gt_error err = {0};
    if (gt_json_write_file(path, o, &err) != GT_OK)
        fprintf(stderr, "greentune: warning: %s\n", err.message);
    cJSON_Delete(o);
}

static double temp_of(const cJSON *o, const char *key, int *sensors)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *sensors = cJSON_IsNumber(v);
    return *sensors ? v->valuedouble : NAN;
}

int idle_reference_load(idle_reference *ref)
{
    char path[512], *text = NULL;
    size_t len;
    gt_error err = {0};
    if (!idle_path(path, sizeof path, 0) || gt_read_file(path, 1 << 16, &text, &len, &err) != GT_OK)
        return 0;
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "idle_w");
    ref->power_w = cJSON_IsNumber(w) ? w->valuedouble : NAN;
    ref->temps.cpu_c = temp_of(o, "cpu_c", &ref->temps.cpu_sensors);
    ref->temps.gpu_c = temp_of(o, "gpu_c", &ref->temps.gpu_sensors);
    cJSON_Delete(o);
    return ref->temps.cpu_sensors || ref->temps.gpu_sensors;
}

int parse_idle_temps(const char *text, gt_temperatures *t)
{
    char cpu[32] = "", gpu[32] = "";
    const char *comma = strchr(text, ',');
    size_t n = comma ? (size_t)(comma - text) : strlen(text);
    snprintf(cpu, sizeof cpu, "%.*s", (int)(n < sizeof cpu ? n : sizeof cpu - 1), text);
    if (comma)
        snprintf(gpu, sizeof gpu, "%s", comma + 1);
    t->cpu_c = t->gpu_c = NAN;
    t->cpu_sensors = t->gpu_sensors = 0;
    if (cpu[0] && !cli_parse_double("--idle-temp", cpu, -50, 150, &t->cpu_c))
        return 0;
    if (gpu[0] && !cli_parse_double("--idle-temp", gpu, -50, 150, &t->gpu_c))
        return 0;
    t->cpu_sensors = cpu[0] != '\0';
    t->gpu_sensors = gpu[0] != '\0';
    if (!t->cpu_sensors && !t->gpu_sensors) {
        cli_fail(CLI_EXIT_USAGE, "--idle-temp '%s': give CPU_C, or CPU_C,GPU_C, or ,GPU_C", text);
        return 0;
    }
    return 1;
}
