/* err.c - messages for the NE_E* codes and errno mapping. */
#include "ports/err.h"

#include <errno.h>

const char *ne_strerror(int err)
{
    switch (err) {
    case NE_OK:
        return "success";
#define NE_ERR_MSG(name, msg)                                                          \
    case NE_E##name:                                                                   \
        return msg;
        NE_ERR_MAP(NE_ERR_MSG)
#undef NE_ERR_MSG
    default:
        return "unknown error";
    }
}

const char *ne_errname(int err)
{
    switch (err) {
    case NE_OK:
        return "OK";
#define NE_ERR_NAME(name, msg)                                                         \
    case NE_E##name:                                                                   \
        return #name;
        NE_ERR_MAP(NE_ERR_NAME)
#undef NE_ERR_NAME
    default:
        return "UNKNOWN";
    }
}

int ne_err_from_errno(int e)
{
    switch (e) {
    case 0:
        return NE_OK;
    case ENOMEM:
        return NE_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return NE_ENOSPC;
    case EAGAIN:
    case EINTR:
        return NE_EAGAIN;
    case EBUSY:
        return NE_EBUSY;
    case EINVAL:
        return NE_EINVAL;
    case ENOENT:
        return NE_ENOTFOUND;
    case EEXIST:
        return NE_EEXISTS;
    case EACCES:
    case EPERM:
    case EROFS:
        return NE_EPERM;
    case ERANGE:
    case EOVERFLOW:
        return NE_ERANGE;
    case EFBIG:
        return NE_ETOOBIG;
    case ETIMEDOUT:
        return NE_ETIMEOUT;
    case EADDRINUSE:
        return NE_EADDRINUSE;
    case EOPNOTSUPP:
    case ENOSYS:
        return NE_EUNSUPPORTED;
    default:
        return NE_EIO;
    }
}

bool ne_err_retryable(int err)
{
    return err == NE_EAGAIN || err == NE_EBUSY || err == NE_ENOSPC || err == NE_ETIMEOUT;
}
