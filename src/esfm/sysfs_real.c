/* The real kernel's sysfs writes: one open/write/close per attribute, returning -errno.
 * The kernel reports a refused value (EBUSY, ERANGE, ENOENT...) as the write's errno. */
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int write_attr_real(void *priv, const char *path, const char *value)
{
    (void)priv;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(value);
    ssize_t w = write(fd, value, len);
    int rc = w < 0 ? -errno : ((size_t)w == len ? 0 : -EIO);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

const struct esfm_sysfs_ops esfm_sysfs_real = {.write_attr = write_attr_real, .priv = NULL};
