/* What is flashed on each PF: the name and sha256 of the bitstream the last `init --bitstream`
 * (or `reconf --bitstream`) flashed there, in state_dir/bitstream.<pf>.json. A card cannot be
 * asked what it runs in a portable way (and the flasher here is a FAKE command), so ESFM keeps
 * what it flashed; the SPANK plugin matches a job's --fpga-bitstream against it. */
#include "esfm_internal.h"

#include <atomic_file.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void record_path(const struct esfm_ctx *ctx, const char *pf, char *out, size_t len)
{
    snprintf(out, len, "%s/bitstream.%s.json", ctx->state_dir, pf);
}

int esfm_bitstream_record_write(struct esfm_ctx *ctx, const char *pf, const char *name,
                                const char *sha256, char *err, size_t errlen)
{
    char path[1024];
    record_path(ctx, pf, path, sizeof path);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pf", pf);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "sha256", sha256);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    char why[ESFM_ERR_LEN];
    int rc = kf_atomic_write_text(path, text, 0600, why, sizeof why);
    free(text);
    if (rc)
        return kf_errf(err, errlen, -ENOLCK, "cannot record the bitstream of PF %s: %s", pf, why);
    return 0;
}

int esfm_pf_bitstream(struct esfm_ctx *ctx, const char *pf, char name[ESFM_BITSTREAM_NAME_LEN],
                      char sha256[65])
{
    char path[1024];
    cJSON *o = NULL;
    name[0] = sha256[0] = '\0';
    record_path(ctx, pf, path, sizeof path);
    int rc = esfm_read_json(path, &o);
    if (rc)
        return rc; /* -ENOENT: ESFM never flashed this PF */
    const char *n = esfm_json_str(o, "name"), *s = esfm_json_str(o, "sha256");
    if (!n || !s || strlen(n) >= ESFM_BITSTREAM_NAME_LEN || strlen(s) != 64) {
        cJSON_Delete(o);
        return -EINVAL;
    }
    snprintf(name, ESFM_BITSTREAM_NAME_LEN, "%s", n);
    snprintf(sha256, 65, "%s", s);
    cJSON_Delete(o);
    return 0;
}
