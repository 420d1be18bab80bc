/*
 * crypt_tool.c - seals a file into the encryption envelope, for
 * tests/integration/decrypt.sh (the daemon has no command that encrypts).
 *
 *   crypt_tool encrypt KEYHEX IN OUT [CHUNK]
 *
 * CHUNK is the plaintext bytes per chunk (default 1 MiB). Exit 0 on
 * success, 1 with a message on failure, 2 for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "sync/crypt/crypt.h"

int main(int argc, char **argv)
{
    if ((argc != 5 && argc != 6) || strcmp(argv[1], "encrypt") != 0) {
        fprintf(stderr, "usage: crypt_tool encrypt KEYHEX IN OUT [CHUNK]\n");
        return 2;
    }
    uint8_t key[NE_CRYPT_KEY_SIZE];
    char why[NE_CRYPT_WHY_MAX];
    if (ne_crypt_key_parse_why(argv[2], key, why, sizeof(why)) != 0) {
        fprintf(stderr, "crypt_tool: bad key: %s\n", why);
        return 2;
    }
    unsigned long chunk = argc == 6 ? strtoul(argv[5], NULL, 10) : NE_CRYPT_CHUNK_DEFAULT;
    int rc = ne_crypt_encrypt_file_chunked(key, (uint32_t)chunk, argv[3], argv[4]);
    if (rc) {
        fprintf(stderr, "crypt_tool: sealing %s into %s: %s\n", argv[3], argv[4], ne_strerror(rc));
        return 1;
    }
    return 0;
}
