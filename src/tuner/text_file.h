/* Whole-file text I/O used by configuration, knowledge, learner state and observer hints. */
#ifndef KFARM_TUNER_TEXT_FILE_H
#define KFARM_TUNER_TEXT_FILE_H

#include <stddef.h>
#include <stdint.h>

/* NUL-terminated contents (malloc'd) or NULL with err filled ("<path>: why"). */
char *tuner_read_text(const char *path, char *err, size_t errlen);
/* Replaces path with text atomically; 0 or a negative errno with err filled. */
int tuner_write_text_atomic(const char *path, const char *text, char *err, size_t errlen);

/* FNV-1a of a NUL-terminated text: cheap identity of a knowledge message across processes. */
uint64_t tuner_text_hash(const char *text);

#endif
