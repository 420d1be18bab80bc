/*
 * crc32c.h - CRC-32C (Castagnoli), as used by every on-disk format.
 * Hardware (SSE4.2) where the CPU has it, a table-driven fallback elsewhere.
 */
#ifndef NE_PORTS_CRC32C_H
#define NE_PORTS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (start with 0) over buf. crc32c("123456789") == 0xE3069283. */
uint32_t ne_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
