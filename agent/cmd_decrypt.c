/*
 * cmd_decrypt.c - `neoedge decrypt`: opens an envelope written by cloud
 * sync's encryption at rest (format in sync/crypt/crypt.h) and writes the
 * plaintext next to it.
 *
 * The key comes from, in this order: --key-file, --key, the environment
 * variable NEOEDGE_DECRYPT_KEY. The output appears only once every chunk
 * authenticated (ne_crypt_decrypt_file publishes it by rename), so a
 * failed run leaves nothing behind, and an existing output is replaced
 * only with --force.
 */
#include "agent/cmd_decrypt.h"

#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "sync/crypt/crypt.h"

#define KEY_ENV      "NEOEDGE_DECRYPT_KEY"
#define KEY_FILE_MAX 4096 /* a key file is 64 hex digits and maybe a newline */
#define SUFFIX       ".enc"

struct decrypt_args {
    const char *key_file;
    const char *key_hex;
    const char *out;
    const char *input;
    bool force;
};

/* Parses the command line into a. Returns NE_EXIT_OK or the usage exit code
 * (after printing the problem). */
static int parse_args(int argc, char **argv, struct decrypt_args *a)
{
    static const struct option opts[] = {
        {"key-file", required_argument, NULL, 'k'},
        {"key", required_argument, NULL, 'K'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    int ch;
    while ((ch = getopt_long(argc, argv, "k:o:f", opts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            a->key_file = optarg;
            break;
        case 'K':
            a->key_hex = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'f':
            a->force = true;
            break;
        default:
            return agent__usage_error("decrypt", "invalid option");
        }
    }
    if (optind >= argc) return agent__usage_error("decrypt", "missing INPUT");
    if (optind + 1 < argc)
        return agent__usage_error("decrypt", "unexpected argument '%s'", argv[optind + 1]);
    a->input = argv[optind];
    if (a->key_file && a->key_hex)
        return agent__usage_error("decrypt", "give either --key-file or --key, not both");
    return NE_EXIT_OK;
}

/* Reads the key text of path into buf (surrounding whitespace removed).
 * Prints the problem and returns false on failure. */
static bool read_key_file(const char *path, char *buf, size_t n)
{
    uint64_t size = 0;
    int rc = ne_fs_file_size(path, &size);
    if (rc) {
        fprintf(stderr, "neoedge decrypt: key file %s: %s\n", path, ne_strerror(rc));
        return false;
    }
    if (size >= KEY_FILE_MAX) {
        fprintf(stderr, "neoedge decrypt: key file %s: %llu bytes is too large for a key\n", path,
                (unsigned long long)size);
        return false;
    }
    char *text = NULL;
    size_t len = 0, all = 0;
    rc = ne_fs_read_all(path, &text, &all);
    len = all;
    if (rc) {
        fprintf(stderr, "neoedge decrypt: key file %s: %s\n", path, ne_strerror(rc));
        return false;
    }
    size_t start = 0;
    while (start < len && isspace((unsigned char)text[start]))
        start++;
    while (len > start && isspace((unsigned char)text[len - 1]))
        len--;
    bool fits = len - start < n;
    if (fits) {
        memcpy(buf, text + start, len - start);
        buf[len - start] = '\0';
    } else {
        fprintf(stderr, "neoedge decrypt: key file %s: too long for a key\n", path);
    }
    explicit_bzero(text, all);
    ne_free(text);
    return fits;
}

/* Resolves the key from the arguments or the environment into key.
 * Prints the problem and returns the exit code on failure. */
static int load_key(const struct decrypt_args *a, uint8_t key[NE_CRYPT_KEY_SIZE])
{
    char text[KEY_FILE_MAX];
    const char *hex = a->key_hex, *source = "--key";
    if (a->key_file) {
        if (!read_key_file(a->key_file, text, sizeof(text))) return NE_EXIT_FAIL;
        hex = text;
        source = a->key_file;
    } else if (!hex) {
        hex = getenv(KEY_ENV);
        source = KEY_ENV;
        if (!hex)
            return agent__usage_error("decrypt",
                                      "no key: give --key-file FILE, --key HEX or set "
                                      "%s",
                                      KEY_ENV);
    }
    char why[NE_CRYPT_WHY_MAX];
    int rc = ne_crypt_key_parse_why(hex, key, why, sizeof(why));
    explicit_bzero(text, sizeof(text));
    if (rc) {
        fprintf(stderr, "neoedge decrypt: bad key in %s: %s\n", source, why);
        return NE_EXIT_FAIL;
    }
    return NE_EXIT_OK;
}

/* The default output: INPUT without its ".enc" suffix (ne_malloc'd), or
 * NULL when INPUT has no such suffix. */
static char *default_output(const char *input)
{
    size_t n = strlen(input), s = strlen(SUFFIX);
    if (n <= s || strcmp(input + n - s, SUFFIX) != 0 || input[n - s - 1] == '/') return NULL;
    return ne_strndup(input, n - s);
}

int agent__cmd_decrypt(int argc, char **argv)
{
    struct decrypt_args a;
    int ex = parse_args(argc, argv, &a);
    if (ex != NE_EXIT_OK) return ex;
    char *derived = NULL;
    const char *out = a.out;
    if (!out) {
        derived = default_output(a.input);
        if (!derived)
            return agent__usage_error("decrypt",
                                      "%s does not end in \"" SUFFIX "\": name the output with "
                                      "--out",
                                      a.input);
        out = derived;
    }
    uint8_t key[NE_CRYPT_KEY_SIZE];
    ex = load_key(&a, key);
    if (ex == NE_EXIT_OK && !ne_fs_exists(a.input)) {
        fprintf(stderr, "neoedge decrypt: %s: no such file\n", a.input);
        ex = NE_EXIT_FAIL;
    }
    if (ex == NE_EXIT_OK && !a.force && ne_fs_exists(out)) {
        fprintf(stderr, "neoedge decrypt: %s exists; use --force to replace it\n", out);
        ex = NE_EXIT_FAIL;
    }
    if (ex == NE_EXIT_OK) {
        char why[NE_CRYPT_WHY_MAX];
        int rc = ne_crypt_decrypt_file(key, a.input, out, why, sizeof(why));
        if (rc) {
            fprintf(stderr, "neoedge decrypt: %s: %s\n", a.input, why[0] ? why : ne_strerror(rc));
            ex = NE_EXIT_FAIL;
        } else {
            fprintf(stderr, "%s -> %s\n", a.input, out);
        }
    }
    explicit_bzero(key, sizeof(key));
    ne_free(derived);
    return ex;
}
