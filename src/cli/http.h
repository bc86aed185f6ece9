/* A very small HTTP/1.0 server for `greentune monitor --prometheus`: one
 * request per connection, GET and HEAD only, bounded reads with a timeout, so
 * a slow or hostile client costs at most a few seconds and never memory. */
#ifndef GREENTUNE_HTTP_H
#define GREENTUNE_HTTP_H

#include <stddef.h>

/* Listens on "[ADDR:]PORT" (ADDR an IPv4 address or localhost; default
 * 127.0.0.1; PORT 0 picks a free one). Returns the socket, or after
 * reporting minus the exit code (-2: a bad spec, -1: the port is taken...);
 * bound gets "ADDR:PORT" as bound. */
int http_listen(const char *spec, char *bound, size_t size);

/* What to answer for a path: status, content type and a malloc'd body the
 * server frees. */
typedef struct {
    int status;
    const char *content_type;
    char *body;
} http_response;
typedef http_response (*http_handler)(void *ctx, const char *path);

/* Accepts one connection on listen_fd and answers its request. */
void http_serve_one(int listen_fd, http_handler handler, void *ctx);

#endif
