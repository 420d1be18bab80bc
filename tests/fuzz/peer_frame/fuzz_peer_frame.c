/*
 * fuzz_peer_frame.c - arbitrary bytes as (1) a stream of peer frames, each
 * payload also read as a HELLO, and (2) a SWIM datagram, decoded and then
 * handed to a live state machine. Nothing may crash, leak or read out of
 * bounds; whatever decodes must re-encode to the same bytes. Each input
 * also runs a second time with its checksums recomputed, so mutations
 * reach the code behind the CRC checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "sharding/frame.h"
#include "sharding/swim.h"

static void frames(const uint8_t *data, size_t size)
{
    struct ne_pbuf scratch = {0};
    size_t off = 0;
    while (off < size) {
        uint8_t type;
        const uint8_t *msg;
        size_t n, used;
        if (ne_frame_decode(data + off, size - off, &scratch, &type, &msg, &n, &used) != 0) break;
        struct ne_hello h;
        if (ne_hello_decode(msg, n, &h) == 0) {
            struct ne_pbuf again = {0};
            if (ne_hello_encode(&h, &again) != 0 || again.len != n || memcmp(again.p, msg, n))
                abort();
            ne_pbuf_free(&again);
        }
        off += used;
    }
    ne_pbuf_free(&scratch);
}

static void drop_send(void *ctx, const char *to, const uint8_t *msg, size_t n)
{
    (void)ctx, (void)to, (void)msg, (void)n;
}

static void datagram(const uint8_t *data, size_t size)
{
    static struct ne_swim_msg m;
    static uint8_t buf[NE_SWIM_MAX_MSG];
    if (ne_swim_msg_decode(data, size, &m) == 0) {
        size_t n = ne_swim_msg_encode(&m, buf);
        if (n != size || memcmp(buf, data, n) != 0) abort();
    }
    struct ne_swim_opts o = {.id = "fuzz", .addr = "127.0.0.1:1", .send = drop_send};
    struct ne_swim *s = NULL;
    if (ne_swim_new(&o, &s) != 0) return;
    ne_swim_receive(s, data, size, 1);
    ne_swim_tick(s, 2000);
    ne_swim_receive(s, data, size, 2001);
    ne_swim_tick(s, 60000);
    ne_swim_free(&s);
}

/* Rewrites the CRC of every whole frame in p. */
static void fix_frame_crcs(uint8_t *p, size_t size)
{
    size_t off = 0;
    while (size - off >= NE_FRAME_HDR) {
        uint32_t len = ne_get_u32(p + off + 5);
        if (len > size - off - NE_FRAME_HDR) break;
        uint32_t crc = ne_crc32c(0, p + off, 9);
        ne_put_u32(p + off + 9, ne_crc32c(crc, p + off + NE_FRAME_HDR, len));
        off += NE_FRAME_HDR + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frames(data, size);
    datagram(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_frame_crcs(copy, size);
    frames(copy, size);
    if (size >= 4) {
        memcpy(copy, data, size);
        ne_put_u32(copy + size - 4, ne_crc32c(0, copy, size - 4));
        datagram(copy, size);
    }
    free(copy);
    return 0;
}
