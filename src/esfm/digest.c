/* sha256 of a bitstream file through OpenSSL's EVP interface (never a hand-written digest). */
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int esfm_sha256_fd(int fd, const char *path, char hex[65], char *err, size_t errlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = 0;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = kf_errf(err, errlen, -ENOMEM, "OpenSSL sha256 init failed");
        goto out;
    }
    unsigned char buf[65536];
    off_t off = 0;
    for (;;) {
        /* pread: the descriptor's offset stays at 0 for a flasher that inherits it. */
        ssize_t r = pread(fd, buf, sizeof buf, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc =
                kf_errf(err, errlen, -EIO, "read error on bitstream %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (EVP_DigestUpdate(md, buf, (size_t)r) != 1) {
            rc = kf_errf(err, errlen, -EIO, "OpenSSL sha256 update failed");
            goto out;
        }
        off += r;
    }
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (EVP_DigestFinal_ex(md, dig, &dl) != 1 || dl != 32) {
        rc = kf_errf(err, errlen, -EIO, "OpenSSL sha256 final failed");
        goto out;
    }
    for (unsigned i = 0; i < dl; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
out:
    EVP_MD_CTX_free(md);
    return rc;
}

int esfm_sha256_file(const char *path, char hex[65], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return kf_errf(err, errlen, e == ENOENT ? -ENOENT : -EACCES, "cannot open bitstream %s: %s",
                       path, strerror(e));
    }
    int rc = esfm_sha256_fd(fd, path, hex, err, errlen);
    close(fd);
    return rc;
}
