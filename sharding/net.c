/*
 * net.c - address parsing and socket binding for membership and transport.
 * Only IPv4 "host:port" for now; every socket is close-on-exec.
 */
#include "sharding/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports/err.h"
#include "ports/log.h"

int sharding__addr_parse(const char *addr, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || (size_t)(colon - addr) >= sizeof host) return NE_EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) return NE_EINVAL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (host[0] == 0 || strcmp(host, "*") == 0) {
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        struct addrinfo hints = {.ai_family = AF_INET}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return NE_EINVAL;
        sa.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }
    *out = sa;
    return 0;
}

void sharding__addr_format(const struct sockaddr_in *sa, char *buf, size_t n)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip);
    snprintf(buf, n, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
}

int sharding__bind(const char *addr, int type, struct sockaddr_in *bound)
{
    struct sockaddr_in sa;
    if (sharding__addr_parse(addr, &sa) != 0) {
        ne_log(NE_LOG_ERROR, "sharding", "bad listen address", "addr", addr, NULL);
        return NE_EINVAL;
    }
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return ne_err_from_errno(errno);
    int one = 1;
    if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = sizeof *bound;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        (type == SOCK_STREAM && listen(fd, 64) != 0) ||
        getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
        int rc = ne_err_from_errno(errno);
        ne_log(NE_LOG_ERROR, "sharding", "cannot bind", "addr", addr, "err", strerror(errno), NULL);
        close(fd);
        return rc;
    }
    return fd;
}
