/* state_pack.h: the packed form of a statistics document (output stage), for ranks that exchange
 * states in memory: the document as JSON, its big per-feature arrays left out and sent as raw
 * 8-byte words; state_io.c builds and reads documents through these pieces.
 *
 * Frame (host byte order, every field checked when read):
 *   bytes  0..7   magic "h5pstate"
 *          8..11  uint32 format version (1)
 *         12..15  uint32 0x01020304, the writer's byte order
 *         16..23  uint64 header bytes H, its terminating NUL included
 *         24..31  uint64 payload bytes P (a multiple of 8)
 *         32..    the header, a JSON document, NUL-terminated, padded with NULs to a multiple of 8
 *         then    the payload: the arrays, 8-byte words (int64 counts, float64 values)
 * An array in the header is a reference {"packed": [OFFSET, N]}: N words at byte OFFSET of the
 * payload. The length of the buffer must be 32 + H rounded up to 8 + P, exactly. */
#ifndef H5PREP_STATE_PACK_H
#define H5PREP_STATE_PACK_H

#include "h5prep.h"

#include <stddef.h>
#include <stdint.h>

struct json_t;

/* The payload being built: words appended in the order the document is built. */
typedef struct h5p_packer {
    unsigned char *data;
    size_t len, cap;
    int failed; /* out of memory once: the document is refused as a whole */
} h5p_packer;

/* Reserves n words at the end of the payload; *words (8 n bytes) is to be filled before the next
 * reservation. Returns the reference to put in the document in place of the array, NULL when out
 * of memory (pk->failed is then set). */
struct json_t *h5p_pack_reserve(h5p_packer *pk, uint64_t n, void **words);

/* The framed buffer (*buf from malloc, *len bytes) of header (JSON text) and pk's payload. */
h5prep_status h5p_pack_finish(const h5p_packer *pk, const char *header, void **buf, size_t *len);
void h5p_packer_free(h5p_packer *pk);

/* A payload as read: its words are reached only through h5p_payload_words. */
typedef struct h5p_payload {
    unsigned char *data;
    uint64_t len;
} h5p_payload;

/* Checks the frame of buf (len bytes; `name` stands for it in messages): magic, version, byte
 * order and lengths; gives the header (NUL-terminated, *header_len bytes without the NUL) and the
 * payload (pointing into buf). H5PREP_ERR_STATE when damaged or truncated. */
h5prep_status h5p_packed_open(const void *buf, size_t len, const char *name, const char **header, size_t *header_len,
                              h5p_payload *payload);

enum { H5P_PACKED_OK = 0, H5P_PACKED_NOT_REF = 1, H5P_PACKED_OUTSIDE = 2, H5P_PACKED_COUNT = 3 };
/* The n words of reference ref into out (8 n bytes; NULL only checks): H5P_PACKED_OK, or why not:
 * ref is not {"packed": [OFFSET, N]}, its words lie outside the payload (or off an 8-byte
 * boundary), or N is not n. */
int h5p_payload_words(const h5p_payload *p, struct json_t *ref, uint64_t n, void *out);

#endif
