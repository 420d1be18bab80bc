/*
 * creds.c - where the S3 client finds its keys.
 *
 * Order: explicit configuration, then the AWS_* environment, then the
 * shared credentials file (the INI file the AWS CLI writes:
 * "[profile]" headers, "key = value" lines, '#' and ';' comments).
 * Invariant: a source counts only when it has both the access key and the
 * secret; a session token or region is taken from that same source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/s3/s3.h"

static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) return NE_ETOOBIG;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *s)
{
    return copy_field(dst, cap, s, strlen(s));
}

static bool set(const char *s)
{
    return s && *s;
}

/* Trims blanks (and a trailing CR) off [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

static bool span_eq(const char *s, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(e - s) == n && memcmp(s, lit, n) == 0;
}

/* Handles one "key = value" line of the wanted profile. */
static int take_kv(const char *s, const char *e, struct ne_s3_creds *out, int *found)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) return 0;
    const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
    trim(&ks, &ke);
    trim(&vs, &ve);
    size_t vn = (size_t)(ve - vs);
    if (span_eq(ks, ke, "aws_access_key_id")) {
        *found |= 1;
        return copy_field(out->access_key, sizeof(out->access_key), vs, vn);
    }
    if (span_eq(ks, ke, "aws_secret_access_key")) {
        *found |= 2;
        return copy_field(out->secret_key, sizeof(out->secret_key), vs, vn);
    }
    if (span_eq(ks, ke, "aws_session_token"))
        return copy_field(out->session_token, sizeof(out->session_token), vs, vn);
    if (span_eq(ks, ke, "region")) return copy_field(out->region, sizeof(out->region), vs, vn);
    return 0;
}

int ne_s3_creds_parse(const char *text, size_t len, const char *profile, struct ne_s3_creds *out)
{
    const char *p = text, *end = text + len;
    bool in_profile = false, seen_profile = false;
    int found = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            const char *ns = s + 1, *ne = e;
            if (ne > ns && ne[-1] == ']') ne--;
            trim(&ns, &ne);
            in_profile = span_eq(ns, ne, profile);
            seen_profile |= in_profile;
            continue;
        }
        if (in_profile) {
            int rc = take_kv(s, e, out, &found);
            if (rc) return rc;
        }
    }
    if (!seen_profile || found != 3) return NE_ENOTFOUND;
    return 0;
}

static int from_file(struct ne_s3_creds *out)
{
    char path[1024];
    const char *f = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    if (set(f))
        snprintf(path, sizeof(path), "%s", f);
    else if (set(home))
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    else
        return NE_ENOTFOUND;
    if (!ne_fs_exists(path)) return NE_ENOTFOUND;
    char *text = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(path, &text, &len);
    if (rc) return rc;
    const char *prof = getenv("AWS_PROFILE");
    struct ne_s3_creds tmp = *out;
    rc = ne_s3_creds_parse(text, len, set(prof) ? prof : "default", &tmp);
    ne_free(text);
    if (rc == 0)
        *out = tmp;
    else if (rc == NE_ENOTFOUND)
        NE_WARN("s3", "credentials file %s has no keys for profile %s", path,
                set(prof) ? prof : "default");
    return rc;
}

static int from_env(struct ne_s3_creds *out)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!set(ak) || !set(sk)) return NE_ENOTFOUND;
    const char *tok = getenv("AWS_SESSION_TOKEN");
    int rc = copy_str(out->access_key, sizeof(out->access_key), ak);
    if (!rc) rc = copy_str(out->secret_key, sizeof(out->secret_key), sk);
    if (!rc && set(tok)) rc = copy_str(out->session_token, sizeof(out->session_token), tok);
    return rc;
}

static int from_args(const char *ak, const char *sk, const char *tok, struct ne_s3_creds *out)
{
    if (!set(ak) || !set(sk)) return NE_ENOTFOUND;
    int rc = copy_str(out->access_key, sizeof(out->access_key), ak);
    if (!rc) rc = copy_str(out->secret_key, sizeof(out->secret_key), sk);
    if (!rc && set(tok)) rc = copy_str(out->session_token, sizeof(out->session_token), tok);
    return rc;
}

int ne_s3_creds_resolve(const char *access_key, const char *secret_key, const char *session_token,
                        const char *region, struct ne_s3_creds *out)
{
    struct ne_s3_creds c;
    memset(&c, 0, sizeof(c));
    int rc = from_args(access_key, secret_key, session_token, &c);
    if (rc == NE_ENOTFOUND) rc = from_env(&c);
    if (rc == NE_ENOTFOUND) rc = from_file(&c);
    if (rc) {
        if (rc == NE_ENOTFOUND)
            NE_ERROR("s3", "no S3 credentials: set access/secret keys, AWS_ACCESS_KEY_ID, "
                           "or a shared credentials file");
        return rc;
    }
    const char *env_region = getenv("AWS_REGION"), *env_def = getenv("AWS_DEFAULT_REGION");
    if (set(region))
        rc = copy_str(c.region, sizeof(c.region), region);
    else if (set(env_region))
        rc = copy_str(c.region, sizeof(c.region), env_region);
    else if (set(env_def))
        rc = copy_str(c.region, sizeof(c.region), env_def);
    if (rc) return rc;
    *out = c;
    return 0;
}
