/*
 * err.h - neoedge error codes.
 *
 * Every function that can fail returns int: 0 on success, a negative
 * NE_E* code on failure. The codes and their messages come from one
 * X-macro list. Data errors (CORRUPT, CHECKSUM, VERSION) are kept apart
 * from retryable ones (AGAIN, BUSY, NOSPC, TIMEOUT): see ne_err_retryable().
 */
#ifndef NE_PORTS_ERR_H
#define NE_PORTS_ERR_H

#include <stdbool.h>

#define NE_ERR_MAP(X)                                                                  \
    X(NOMEM, "out of memory")                                                          \
    X(IO, "I/O error")                                                                 \
    X(NOSPC, "no space left on device")                                                \
    X(CORRUPT, "data is corrupt")                                                      \
    X(CHECKSUM, "checksum mismatch")                                                   \
    X(VERSION, "unsupported format version")                                           \
    X(AGAIN, "temporarily unavailable, try again")                                     \
    X(BUSY, "busy")                                                                    \
    X(INVAL, "invalid argument")                                                       \
    X(NOTFOUND, "not found")                                                           \
    X(EXISTS, "already exists")                                                        \
    X(RANGE, "value out of range")                                                     \
    X(PARSE, "parse error")                                                            \
    X(LOCKED, "locked by another process")                                             \
    X(PERM, "permission denied")                                                       \
    X(CLOSED, "closed")                                                                \
    X(UNSUPPORTED, "not supported")                                                    \
    X(TOOBIG, "too large")                                                             \
    X(TIMEOUT, "timed out")                                                            \
    X(CONFLICT, "type conflict")                                                       \
    X(LIMIT, "limit exceeded")                                                         \
    X(ADDRINUSE, "address already in use")                                             \
    X(FAILED, "failed state: reopen required")

enum ne_err {
    NE_OK = 0,
#define NE_ERR_ENUM(name, msg) NE_E##name,
    NE__ERR_FIRST = -1000,
    NE_ERR_MAP(NE_ERR_ENUM)
#undef NE_ERR_ENUM
    NE__ERR_LAST
};

/* Returns a static message for an NE_E* code (or "unknown error"). */
const char *ne_strerror(int err);

/* Returns the short symbolic name, e.g. "NOSPC". */
const char *ne_errname(int err);

/* Maps an errno value (positive) to an NE_E* code. */
int ne_err_from_errno(int e);

/* True for errors after which the same call may succeed later. */
bool ne_err_retryable(int err);

#endif
