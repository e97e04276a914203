/* Helpers shared by the fuzz targets: a private temp directory for parsers that only take a path,
 * and a cursor that splits the fuzzer's input into pieces (bytes, integers, length-prefixed
 * chunks). */
#ifndef KFARM_FUZZ_FILES_H
#define KFARM_FUZZ_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Private directory (created once, mode 0700) for this fuzz process. */
const char *kfz_dir(void);
/* Replaces <kfz_dir>/<name> with data (mode 0600); returns the path (static, per call), or NULL. */
const char *kfz_write(const char *name, const void *data, size_t size);
/* Same, NUL-terminated copy of data in memory (malloc'd) for parsers that take strings. */
char *kfz_strndup(const void *data, size_t size);

struct kfz_cursor {
    const uint8_t *p;
    size_t left;
};

uint8_t kfz_u8(struct kfz_cursor *c);
uint16_t kfz_u16(struct kfz_cursor *c);
uint64_t kfz_u64(struct kfz_cursor *c);
/* Next chunk: a 16-bit little-endian length (cut to what is left), then that many bytes. */
const uint8_t *kfz_chunk(struct kfz_cursor *c, size_t *len);
/* Next chunk up to the separator byte sep (not included) or the end. */
const uint8_t *kfz_until(struct kfz_cursor *c, uint8_t sep, size_t *len);

#endif
