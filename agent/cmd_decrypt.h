/*
 * cmd_decrypt.h - `neoedge decrypt`: turns an object sealed by cloud
 * sync's encryption at rest (sync/crypt/crypt.h) back into plaintext.
 */
#ifndef NE_AGENT_CMD_DECRYPT_H
#define NE_AGENT_CMD_DECRYPT_H

/* The handler of the `decrypt` row of the command table (agent/cli.c):
 * argv[0] is "decrypt", then its arguments. Returns the exit code: 0 when
 * the output was written, 1 when decryption failed (wrong key, damaged
 * or foreign input, I/O), 2 for a usage error. */
int agent__cmd_decrypt(int argc, char **argv);

#endif
