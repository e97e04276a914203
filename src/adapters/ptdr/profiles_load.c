/* Loading a profile file: the JSON or binary loader builds the block (told apart by the magic),
 * then ptdr_profiles_finish validates and indexes it, the same for both. */
#include "profiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef int (*build_fn)(const char *path, struct ptdr_profiles **out, char *err, size_t errlen);

static int load_with(build_fn build, const char *path, struct ptdr_profiles **out, char *err,
                     size_t errlen)
{
    struct ptdr_profiles *p = NULL;
    int rc = build(path, &p, err, errlen);
    if (rc)
        return rc;
    rc = ptdr_profiles_finish(p, err, errlen);
    if (rc) {
        ptdr_profiles_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int ptdr_profiles_load_json(const char *path, struct ptdr_profiles **out, char *err, size_t errlen)
{
    return load_with(ptdr_profiles_read_json, path, out, err, errlen);
}

int ptdr_profiles_load_binary(const char *path, struct ptdr_profiles **out, char *err,
                              size_t errlen)
{
    return load_with(ptdr_profiles_map_binary, path, out, err, errlen);
}

int ptdr_profiles_load(const char *path, struct ptdr_profiles **out, char *err, size_t errlen)
{
    char magic[8] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open the profile file: %s", path, strerror(e));
        return -e;
    }
    ssize_t n = read(fd, magic, sizeof(magic));
    close(fd);
    if (n == (ssize_t)sizeof(magic) && memcmp(magic, PTDR_MAGIC, 8) == 0)
        return ptdr_profiles_load_binary(path, out, err, errlen);
    return ptdr_profiles_load_json(path, out, err, errlen);
}
