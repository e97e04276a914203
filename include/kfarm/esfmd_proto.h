/* The esfmd channel protocol, version esfm1 (docs/esfmd.md): one request or reply per line,
 * shared by the host daemon and the guest side (the SPANK plugin in mode=vm). */
#ifndef KFARM_ESFMD_PROTO_H
#define KFARM_ESFMD_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ESFMD_PROTO "esfm1"
/* A line, its final LF included, is at most this long; longer ones are refused whole. */
#define ESFMD_LINE_MAX 512
#define ESFMD_ID_MAX 16
#define ESFMD_KEY_MAX 16
#define ESFMD_VAL_MAX 200
#define ESFMD_MAX_ARGS 8
/* Default bound on a request line: from its first byte to its LF (docs/esfmd.md). */
#define ESFMD_READ_TIMEOUT_MS 2000
/* Name of the virtio-serial port (libvirt <target type='virtio' name=.../>). */
#define ESFMD_PORT_NAME "org.kfarm.esfm.0"

struct esfmd_arg {
    char key[ESFMD_KEY_MAX + 1];
    char val[ESFMD_VAL_MAX + 1];
};

/* A parsed line: a request (verb = its name), or a reply (verb = "ok" with args, or "err" with
 * code and text). */
struct esfmd_msg {
    char id[ESFMD_ID_MAX + 1];
    char verb[24];
    unsigned nargs;
    struct esfmd_arg args[ESFMD_MAX_ARGS];
    char code[24];                /* err replies: EINVAL, EACCES, ... */
    char text[ESFMD_LINE_MAX];    /* err replies: the message */
};

/* Parses one line (without its LF). 0, or -EINVAL / -EPROTONOSUPPORT with why in err; m->id is
 * filled as soon as it could be read ("-" otherwise), so that an error reply can carry it. */
int esfmd_parse_line(const char *line, size_t len, struct esfmd_msg *m, char *err, size_t errlen);
/* The value of key, or NULL. */
const char *esfmd_msg_get(const struct esfmd_msg *m, const char *key);

/* Formats "esfm1 ID WORD k=v ... LF" (kv: key, value pairs, NULL-terminated; a NULL value skips
 * the pair). Returns the length, or -EINVAL (bad key or value) / -E2BIG (over ESFMD_LINE_MAX). */
int esfmd_format(char *buf, size_t len, const char *id, const char *word, const char *const *kv);
/* Formats "esfm1 ID err CODE TEXT LF"; TEXT's control characters become '?' and it is cut to fit. */
int esfmd_format_err(char *buf, size_t len, const char *id, const char *code, const char *text);
/* The errno name for a negative code ("EACCES"), and back (0 when unknown). */
const char *esfmd_code_name(int rc);
int esfmd_code_value(const char *name);

/* Splits a byte stream into lines of at most ESFMD_LINE_MAX bytes. */
struct esfmd_linebuf {
    char buf[ESFMD_LINE_MAX];
    size_t len;
    bool discarding; /* dropping the rest of an oversized line */
};
/* Consumes bytes from data[0..n) into lb; stops at the end of a line. Returns 1 with the line
 * (NUL-terminated, LF removed) in line[ESFMD_LINE_MAX], 0 when more bytes are needed, -E2BIG
 * once per oversized line (the rest of it, up to its LF, is then dropped). *used gets how many
 * bytes were consumed. */
int esfmd_linebuf_take(struct esfmd_linebuf *lb, const char *data, size_t n, size_t *used,
                       char line[ESFMD_LINE_MAX]);

#ifdef __cplusplus
}
#endif
#endif
