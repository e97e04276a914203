/* Fuzz target: the job record state_dir/<jobid> of spank_kfarm.so (record.c). The prolog writes
 * text the user controls into it (the reason quotes a refused option value) and slurmstepd reads
 * it back as root: a written record must read back as written (newlines become spaces), and any
 * file content must read as a record with terminated strings or be refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "kfarm_spank.h"

/* Copies the next chunk into dst (cap bytes, NUL-terminated, no NUL inside). */
static void field(struct kfz_cursor *c, char *dst, size_t cap)
{
    size_t len;
    const uint8_t *p = kfz_chunk(c, &len);
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++)
        if (p[i])
            dst[n++] = (char)p[i];
    dst[n] = '\0';
}

static void expect_field(const char *got, const char *wrote)
{
    size_t n = strlen(wrote);
    if (strlen(got) != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (got[i] != (wrote[i] == '\n' ? ' ' : wrote[i]))
            abort();
}

static void check_terminated(const struct ks_record *r)
{
    if (strnlen(r->domain, sizeof r->domain) == sizeof r->domain ||
        strnlen(r->host_bdfs, sizeof r->host_bdfs) == sizeof r->host_bdfs ||
        strnlen(r->guest_bdfs, sizeof r->guest_bdfs) == sizeof r->guest_bdfs ||
        strnlen(r->bitstream, sizeof r->bitstream) == sizeof r->bitstream ||
        strnlen(r->reason, sizeof r->reason) == sizeof r->reason)
        abort();
}

/* Input: [0: round trip | 1: raw file] then for a round trip job u32, uid u32, nvfs u16,
 * flags (accel, fallback) and chunks for domain, host_bdfs, guest_bdfs, bitstream, reason; for
 * a raw file, the file's bytes (read as job 42). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[256];
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s/state", kfz_dir());
    struct kfz_cursor c = {data, size};
    char err[KS_ERR_LEN] = "";
    static struct ks_record w, r;
    if (kfz_u8(&c) & 1) {
        char name[300];
        snprintf(name, sizeof name, "state/42");
        /* the first write makes the directory */
        if (!kfz_write(name, c.p, c.left)) {
            memset(&w, 0, sizeof w);
            w.job_id = 1;
            if (ks_record_write(dir, &w, err, sizeof err) || !kfz_write(name, c.p, c.left))
                abort();
        }
        int rc = ks_record_read(dir, 42, &r, err, sizeof err);
        if (rc == 0) {
            check_terminated(&r);
            if (r.job_id != 42)
                abort();
        } else if (strnlen(err, sizeof err) == 0) {
            abort();
        }
        return 0;
    }
    memset(&w, 0, sizeof w);
    w.job_id = (uint32_t)kfz_u16(&c) | (uint32_t)kfz_u16(&c) << 16;
    w.uid = (uid_t)(kfz_u16(&c) | (uint32_t)kfz_u16(&c) << 16);
    w.nvfs = kfz_u16(&c);
    uint8_t flags = kfz_u8(&c);
    w.accel = flags & 1;
    w.fallback = flags & 2 ? KS_FALLBACK_FAIL : KS_FALLBACK_CPU;
    field(&c, w.domain, sizeof w.domain);
    field(&c, w.host_bdfs, sizeof w.host_bdfs);
    field(&c, w.guest_bdfs, sizeof w.guest_bdfs);
    field(&c, w.bitstream, sizeof w.bitstream);
    field(&c, w.reason, sizeof w.reason);
    if (ks_record_write(dir, &w, err, sizeof err))
        abort();
    if (ks_record_read(dir, w.job_id, &r, err, sizeof err))
        abort();
    check_terminated(&r);
    if (r.job_id != w.job_id || r.uid != w.uid || r.nvfs != w.nvfs || r.accel != w.accel ||
        r.fallback != w.fallback)
        abort();
    expect_field(r.domain, w.domain);
    expect_field(r.host_bdfs, w.host_bdfs);
    expect_field(r.guest_bdfs, w.guest_bdfs);
    expect_field(r.bitstream, w.bitstream);
    expect_field(r.reason, w.reason);
    if (ks_record_remove(dir, w.job_id, err, sizeof err))
        abort();
    return 0;
}
