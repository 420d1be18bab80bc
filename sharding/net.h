/*
 * net.h - socket helpers shared inside the sharding module (not public).
 * Addresses are "host:port" strings, IPv4 (host a name or dotted quad).
 */
#ifndef NE_SHARDING_NET_H
#define NE_SHARDING_NET_H

#include <netinet/in.h>
#include <stddef.h>

/* Resolves "host:port" (numeric quads without a DNS lookup). Returns 0 or
 * NE_EINVAL. */
int sharding__addr_parse(const char *addr, struct sockaddr_in *out);

/* Formats sa as "a.b.c.d:port" into buf (>= 32 bytes). */
void sharding__addr_format(const struct sockaddr_in *sa, char *buf, size_t n);

/* Creates a socket of type (SOCK_STREAM or SOCK_DGRAM), close-on-exec,
 * bound to addr (port 0 picks a free one; TCP listens too). *bound gets the
 * actual address. Returns the fd, or a negative NE_E* code after logging. */
int sharding__bind(const char *addr, int type, struct sockaddr_in *bound);

#endif
