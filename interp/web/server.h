/* server.h — the HTTP side of `ubpipe serve` (libmicrohttpd): routing,
 * auth (bearer token, login session + CSRF + Origin), security headers,
 * the JSON API (api.h), /metrics, Server-Sent Events, and the pages
 * (pages.h) for every other GET. */
#ifndef UB_SERVER_H
#define UB_SERVER_H
#include "base/err.h"
#include "web/serve.h"

typedef struct ub_server ub_server;

/* Listens on host (an IPv4 address or "localhost") and port (0 = a free
 * one; *bound = the port taken).  token: what POSTs must carry (copied).
 * One thread per connection, bounded in number, size and time. */
ub_server *ub_server_start(ub_serve *s, const char *host, int port, const char *token, int *bound, ub_err *err);
/* Stops accepting new connections (the listening socket closes). */
void ub_server_quiesce(ub_server *srv);
/* Ends every connection and frees. */
void ub_server_stop(ub_server *srv);

#endif
