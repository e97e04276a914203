/* sha256 of a bitstream file through OpenSSL's EVP interface (never a hand-written digest). */
#include "internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int esfm_sha256_file(const char *path, char hex[65], char *err, size_t errlen)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        int e = errno;
        return esfm_fail(err, errlen, e == ENOENT ? -ENOENT : -EACCES,
                         "cannot open bitstream %s: %s", path, strerror(e));
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = 0;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = esfm_fail(err, errlen, -ENOMEM, "OpenSSL sha256 init failed");
        goto out;
    }
    unsigned char buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        if (EVP_DigestUpdate(md, buf, r) != 1) {
            rc = esfm_fail(err, errlen, -EIO, "OpenSSL sha256 update failed");
            goto out;
        }
    }
    if (ferror(f)) {
        rc = esfm_fail(err, errlen, -EIO, "read error on bitstream %s", path);
        goto out;
    }
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (EVP_DigestFinal_ex(md, dig, &dl) != 1 || dl != 32) {
        rc = esfm_fail(err, errlen, -EIO, "OpenSSL sha256 final failed");
        goto out;
    }
    for (unsigned i = 0; i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
out:
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}
