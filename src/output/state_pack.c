/* state_pack.c: the packed form of statistics documents (output/state_pack.h): the payload of raw
 * words built beside the document, the frame around header and payload, and its checked reading. */
#include "output/state_pack.h"

#include "common/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char g_magic[8] = {'h', '5', 'p', 's', 't', 'a', 't', 'e'};
enum { FRAME = 32, VERSION = 1 };
#define BYTE_ORDER_MARK 0x01020304u

static uint64_t round8(uint64_t n) { return (n + 7) / 8 * 8; }

json_t *h5p_pack_reserve(h5p_packer *pk, uint64_t n, void **words)
{
    *words = NULL;
    if (pk->failed || n > (SIZE_MAX - pk->len) / 16) {
        pk->failed = 1;
        return NULL;
    }
    size_t need = pk->len + (size_t)n * 8;
    if (need > pk->cap) {
        size_t cap = pk->cap ? pk->cap : 1 << 16;
        while (cap < need)
            cap *= 2;
        unsigned char *grown = realloc(pk->data, cap);
        if (!grown) {
            pk->failed = 1;
            return NULL;
        }
        pk->data = grown, pk->cap = cap;
    }
    json_t *ref = json_pack("{s:[I, I]}", "packed", (json_int_t)pk->len, (json_int_t)n);
    if (!ref) {
        pk->failed = 1;
        return NULL;
    }
    *words = pk->data + pk->len;
    pk->len = need;
    return ref;
}

h5prep_status h5p_pack_finish(const h5p_packer *pk, const char *header, void **buf, size_t *len)
{
    uint64_t hb = strlen(header) + 1, at = FRAME + round8(hb), pb = pk->len;
    unsigned char *b = calloc(1, at + pb);
    RETURN_ERROR_IF(!b, H5PREP_ERR_NOMEM, "out of memory for %llu bytes of packed statistics",
                    (unsigned long long)(at + pb));
    uint32_t version = VERSION, bom = BYTE_ORDER_MARK;
    memcpy(b, g_magic, 8);
    memcpy(b + 8, &version, 4);
    memcpy(b + 12, &bom, 4);
    memcpy(b + 16, &hb, 8);
    memcpy(b + 24, &pb, 8);
    memcpy(b + FRAME, header, hb);
    if (pb)
        memcpy(b + at, pk->data, pb);
    *buf = b;
    *len = at + pb;
    return H5PREP_OK;
}

void h5p_packer_free(h5p_packer *pk)
{
    free(pk->data);
    memset(pk, 0, sizeof *pk);
}

h5prep_status h5p_packed_open(const void *buf, size_t len, const char *name, const char **header, size_t *header_len,
                              h5p_payload *payload)
{
    const unsigned char *b = buf;
    RETURN_ERROR_IF(!b || len < FRAME, H5PREP_ERR_STATE,
                    "%s: packed statistics of %zu bytes are shorter than their %d-byte frame (truncated)", name, b ? len : 0,
                    FRAME);
    RETURN_ERROR_IF(memcmp(b, g_magic, 8) != 0, H5PREP_ERR_STATE, "%s: not packed h5prep statistics (the magic \"h5pstate\" is missing)", name);
    uint32_t version, bom;
    uint64_t hb, pb;
    memcpy(&version, b + 8, 4);
    memcpy(&bom, b + 12, 4);
    memcpy(&hb, b + 16, 8);
    memcpy(&pb, b + 24, 8);
    RETURN_ERROR_IF(version != VERSION, H5PREP_ERR_STATE, "%s: packed statistics of format version %u; this h5prep reads version %d",
                    name, version, VERSION);
    RETURN_ERROR_IF(bom != BYTE_ORDER_MARK, H5PREP_ERR_STATE,
                    "%s: packed statistics written in another byte order (mark 0x%08x); ranks must run on machines of one byte order", name, bom);
    int fits = hb >= 1 && hb <= len && pb % 8 == 0 && pb <= len && FRAME + round8(hb) + pb == len;
    if (!fits) {
        h5p_fail(H5PREP_ERR_STATE, "%s: packed statistics frame says %llu header and %llu payload bytes, but the buffer holds %zu (truncated or damaged)",
                 name, (unsigned long long)hb, (unsigned long long)pb, len);
        return h5p_hint(H5PREP_ERR_STATE, "h5prep does not send such a buffer: it was cut or changed on its way");
    }
    const char *h = (const char *)b + FRAME;
    RETURN_ERROR_IF(h[hb - 1] != '\0' || memchr(h, '\0', hb - 1) != NULL, H5PREP_ERR_STATE,
                    "%s: the header of the packed statistics is not one NUL-terminated text of %llu bytes", name,
                    (unsigned long long)hb);
    *header = h;
    *header_len = (size_t)hb - 1;
    payload->data = (unsigned char *)b + FRAME + round8(hb);
    payload->len = pb;
    return H5PREP_OK;
}

int h5p_payload_words(const h5p_payload *p, json_t *ref, uint64_t n, void *out)
{
    json_t *pos = json_is_object(ref) && json_object_size(ref) == 1 ? json_object_get(ref, "packed") : NULL;
    json_t *jo = json_array_get(pos, 0), *jn = json_array_get(pos, 1);
    if (!json_is_array(pos) || json_array_size(pos) != 2 || !json_is_integer(jo) || !json_is_integer(jn))
        return H5P_PACKED_NOT_REF;
    json_int_t off = json_integer_value(jo), cnt = json_integer_value(jn);
    if (off < 0 || cnt < 0 || off % 8 != 0 || (uint64_t)off > p->len || (uint64_t)cnt > (p->len - (uint64_t)off) / 8)
        return H5P_PACKED_OUTSIDE;
    if ((uint64_t)cnt != n)
        return H5P_PACKED_COUNT;
    if (out && n)
        memcpy(out, p->data + off, (size_t)n * 8);
    return H5P_PACKED_OK;
}
