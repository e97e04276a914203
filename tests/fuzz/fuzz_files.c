/* Temp files and input splitting for the fuzz targets (see fuzz_files.h). Files live in /dev/shm
 * when it exists, so that the parsers reading a path do not slow the fuzzer down with disk I/O. */
#include "fuzz_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[128];

static void remove_dir(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (dir[0] && system(cmd) != 0)
        fprintf(stderr, "fuzz: cannot remove %s\n", dir);
}

const char *kfz_dir(void)
{
    if (dir[0])
        return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/kfarm-fuzz.XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return dir;
}

const char *kfz_write(const char *name, const void *data, size_t size)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", kfz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    const char *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) {
            close(fd);
            return NULL;
        }
        p += w;
        size -= (size_t)w;
    }
    close(fd);
    return path;
}

char *kfz_strndup(const void *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

uint8_t kfz_u8(struct kfz_cursor *c)
{
    if (!c->left)
        return 0;
    c->left--;
    return *c->p++;
}

uint16_t kfz_u16(struct kfz_cursor *c)
{
    uint16_t lo = kfz_u8(c);
    return (uint16_t)(lo | (uint16_t)kfz_u8(c) << 8);
}

uint64_t kfz_u64(struct kfz_cursor *c)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)kfz_u8(c) << (8 * i);
    return v;
}

const uint8_t *kfz_chunk(struct kfz_cursor *c, size_t *len)
{
    size_t n = kfz_u16(c);
    if (n > c->left)
        n = c->left;
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    *len = n;
    return p;
}

const uint8_t *kfz_until(struct kfz_cursor *c, uint8_t sep, size_t *len)
{
    const uint8_t *p = c->p;
    const uint8_t *e = memchr(p, sep, c->left);
    size_t n = e ? (size_t)(e - p) : c->left;
    c->p += n;
    c->left -= n;
    if (e) {
        c->p++;
        c->left--;
    }
    *len = n;
    return p;
}
