/* monitor_overhead: what `greentune monitor` costs while it runs. Starts it at
 * 1, 10 and 100 Hz sampling, scrapes /metrics once a second as Prometheus
 * would, and reports the monitor process's own CPU time (user + system, from
 * wait4) per second of monitoring, less what starting and stopping it costs
 * (a run of 0.05 s), as a share of one CPU.
 *
 *   build/monitor_overhead [SECONDS]   (default 5 per configuration;
 *                                       the greentune binary: $GREENTUNE_BIN or next to this one) */
#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char greentune[1024];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void scrape(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            char buf[4096];
            while (read(fd, buf, sizeof buf) > 0)
                ;
        }
    }
    if (fd >= 0)
        close(fd);
}

/* Runs the monitor for seconds at interval_ms; returns its CPU seconds (-1 on failure). */
static double run(const char *meter, int interval_ms, double seconds)
{
    int err_pipe[2];
    if (pipe(err_pipe) != 0)
        return -1;
    char interval[32], duration[32];
    snprintf(interval, sizeof interval, "%d", interval_ms);
    snprintf(duration, sizeof duration, "%g", seconds);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err_pipe[1], 2);
        close(err_pipe[0]);
        execl(greentune, greentune, "monitor", "--prometheus", "127.0.0.1:0", "--interval-ms", interval, "--duration",
              duration, "--meter", meter, (char *)NULL);
        _exit(127);
    }
    close(err_pipe[1]);
    FILE *err = fdopen(err_pipe[0], "r");
    char line[256] = "";
    int port = 0;
    if (err && fgets(line, sizeof line, err)) {
        const char *colon = strrchr(line, ':');
        port = colon ? atoi(colon + 1) : 0;
    }
    double end = now() + seconds;
    while (port && now() + 1 < end) { /* one scrape a second */
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
        scrape(port);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "monitor_overhead: greentune monitor failed: %s", line);
        if (err)
            fclose(err);
        return -1;
    }
    if (err)
        fclose(err);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static void fake_powercap(const char *root)
{
    char dir[512], file[600];
    snprintf(dir, sizeof dir, "%s/class", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/class/powercap", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/class/powercap/intel-rapl:0", root);
    mkdir(dir, 0755);
    const char *files[][2] = {{"name", "package-0\n"}, {"max_energy_range_uj", "262143328850\n"},
                              {"energy_uj", "123456789\n"}};
    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(file, "w");
        if (f) {
            fputs(files[i][1], f);
            fclose(f);
        }
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    if (!(seconds >= 1)) {
        fprintf(stderr, "usage: monitor_overhead [SECONDS >= 1]\n");
        return 2;
    }
    const char *bin = getenv("GREENTUNE_BIN");
    if (bin && *bin)
        snprintf(greentune, sizeof greentune, "%s", bin);
    else {
        char self[1024];
        snprintf(self, sizeof self, "%s", argv[0]);
        snprintf(greentune, sizeof greentune, "%s/greentune", dirname(self));
    }
    char root[] = "/tmp/greentune-monitor-bench-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    fake_powercap(root);
    setenv("GREENTUNE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    setenv("GREENTUNE_AMDSMI_LIB", "/nonexistent/libamd_smi.so", 1);
    setenv("GREENTUNE_ROCM_SMI_LIB", "/nonexistent/librocm_smi64.so", 1);
    double load[3] = {0};
    getloadavg(load, 3);
    printf("greentune monitor, %g s per run, scraped once a second (%ld CPUs, load %.2f)\n", seconds,
           sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    printf("%-22s %6s %12s %14s %12s\n", "meter", "rate", "cpu s", "% of one CPU", "us/sample");
    static const char *const meters[] = {"estimate", "rapl"};
    static const int rates[] = {1, 10, 100};
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        setenv("GREENTUNE_SYSFS_ROOT", k ? root : "/nonexistent", 1);
        double base = run(meters[k], 1000, 0.05);
        for (int i = 0; i < 3 && base >= 0; i++) {
            double cpu = run(meters[k], 1000 / rates[i], seconds);
            if (cpu < 0) {
                failed = 1;
                continue;
            }
            double per_s = (cpu - base) / seconds;
            printf("%-22s %3d Hz %12.4f %14.3f %12.1f\n", k ? "rapl (fake sysfs tree)" : "estimate (machine)",
                   rates[i], cpu, 100 * per_s, per_s / rates[i] * 1e6);
        }
        failed |= base < 0;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        failed = 1;
    printf("%% of one CPU = (monitor CPU time - a 0.05 s run's) / seconds; us/sample includes the scrapes\n");
    return failed;
}
