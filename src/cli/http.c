#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"

#define REQUEST_MAX 8192
#define CLIENT_TIMEOUT_S 2

int http_listen(const char *spec, char *bound, size_t size)
{
    char addr[64] = "127.0.0.1";
    const char *colon = strrchr(spec, ':');
    const char *port_text = colon ? colon + 1 : spec;
    if (colon) {
        size_t n = (size_t)(colon - spec);
        if (n == 0 || n >= sizeof addr) {
            return -cli_fail(CLI_EXIT_USAGE, "--prometheus '%s': expected [ADDR:]PORT such as 127.0.0.1:9877", spec);
        }
        memcpy(addr, spec, n);
        addr[n] = '\0';
        if (!strcmp(addr, "localhost"))
            strcpy(addr, "127.0.0.1");
    }
    long port;
    if (!cli_parse_long("--prometheus port", port_text, 0, 65535, &port))
        return -CLI_EXIT_USAGE;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        return -cli_fail(CLI_EXIT_USAGE, "--prometheus '%s': '%s' is not an IPv4 address (such as 127.0.0.1)", spec,
                         addr);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return -cli_fail(CLI_EXIT_FAILURE, "--prometheus %s: cannot listen: %s%s", spec, strerror(e),
                         e == EADDRINUSE ? " (pick another port)" : "");
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
    snprintf(bound, size, "%s:%u", ip, (unsigned)ntohs(sa.sin_port));
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t sent = send(fd, data, len, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return; /* the client went away or stalled past the timeout */
        data += sent;
        len -= (size_t)sent;
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Internal Server Error";
    }
}

static void respond(int fd, int head_only, http_response r)
{
    size_t len = r.body ? strlen(r.body) : 0;
    char header[512];
    int n = snprintf(header, sizeof header,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     r.status, reason(r.status), r.content_type ? r.content_type : "text/plain; charset=utf-8", len,
                     r.status == 405 ? "Allow: GET, HEAD\r\n" : "");
    send_all(fd, header, (size_t)n);
    if (!head_only && r.body)
        send_all(fd, r.body, len);
    free(r.body);
}

static http_response plain(int status, const char *text)
{
    http_response r = {status, NULL, strdup(text)};
    return r;
}

/* Reads up to the end of the headers (or the bound, or the timeout). */
static size_t read_request(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t got = recv(fd, buf + n, size - 1 - n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
            break;
    }
    buf[n] = '\0';
    return n;
}

void http_serve_one(int listen_fd, http_handler handler, void *ctx)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct timeval timeout = {CLIENT_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    char *req = malloc(REQUEST_MAX);
    if (!req) {
        close(fd);
        return;
    }
    read_request(fd, req, REQUEST_MAX);
    char method[16], path[1024];
    int head = 0;
    if (sscanf(req, "%15s %1023s HTTP/%*d.%*d", method, path) != 2)
        respond(fd, 0, plain(400, "bad request\n"));
    else if (strcmp(method, "GET") && !(head = !strcmp(method, "HEAD")))
        respond(fd, 0, plain(405, "only GET and HEAD\n"));
    else {
        char *query = strchr(path, '?');
        if (query)
            *query = '\0';
        respond(fd, head, handler(ctx, path));
    }
    free(req);
    close(fd);
}
