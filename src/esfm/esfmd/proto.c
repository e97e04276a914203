/* The esfm1 line protocol: parse and format requests and replies, and cut a byte stream into
 * bounded lines. No I/O here, so that the host daemon and the guest side share every rule. */
#include <kfarm/esfmd_proto.h>

#include "errbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
} codes[] = {
    {EINVAL, "EINVAL"},   {EACCES, "EACCES"},   {ENOENT, "ENOENT"},       {EBUSY, "EBUSY"},
    {EREMOTEIO, "EREMOTEIO"}, {EIO, "EIO"},     {ENOLCK, "ENOLCK"},       {ENOEXEC, "ENOEXEC"},
    {ETIMEDOUT, "ETIMEDOUT"}, {E2BIG, "E2BIG"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ENOMEM, "ENOMEM"},   {EAGAIN, "EAGAIN"},   {EPROTO, "EPROTO"},       {ESRCH, "ESRCH"},
};

const char *esfmd_code_name(int rc)
{
    if (rc < 0)
        rc = -rc;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == rc)
            return codes[i].name;
    return "EIO";
}

int esfmd_code_value(const char *name)
{
    for (size_t i = 0; name && i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0)
            return -codes[i].code;
    return 0;
}

static bool id_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

static bool key_char(char c)
{
    return islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '_';
}

/* Values: printable ASCII without space and '=' (BDF lists, job ids, names). */
static bool val_char(char c)
{
    return c > ' ' && c < 0x7f && c != '=';
}

/* Copies the next space-separated word of [*p, end) into out (cap bytes with NUL). */
static int next_word(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    const char *e = s;
    while (e < end && *e != ' ')
        e++;
    if (e == s || (size_t)(e - s) >= cap)
        return e == s ? -ENOENT : -E2BIG;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    *p = e;
    return 0;
}

static bool all_chars(const char *s, bool (*ok)(char))
{
    for (; *s; s++)
        if (!ok(*s))
            return false;
    return true;
}

static int parse_arg(const char *word, struct esfmd_msg *m, char *err, size_t errlen)
{
    const char *eq = strchr(word, '=');
    if (!eq || eq == word)
        return kf_errf(err, errlen, -EINVAL, "argument '%.40s' is not key=value", word);
    size_t kl = (size_t)(eq - word);
    if (kl > ESFMD_KEY_MAX || strlen(eq + 1) > ESFMD_VAL_MAX || !eq[1])
        return kf_errf(err, errlen, -EINVAL, "argument '%.40s': key or value empty or too long",
                       word);
    if (m->nargs == ESFMD_MAX_ARGS)
        return kf_errf(err, errlen, -EINVAL, "more than %d arguments", ESFMD_MAX_ARGS);
    struct esfmd_arg *a = &m->args[m->nargs];
    memcpy(a->key, word, kl);
    a->key[kl] = '\0';
    snprintf(a->val, sizeof a->val, "%s", eq + 1);
    if (!all_chars(a->key, key_char) || !all_chars(a->val, val_char))
        return kf_errf(err, errlen, -EINVAL, "argument '%.40s' has characters outside the protocol's",
                       word);
    if (esfmd_msg_get(m, a->key))
        return kf_errf(err, errlen, -EINVAL, "argument %s given twice", a->key);
    m->nargs++;
    return 0;
}

int esfmd_parse_line(const char *line, size_t len, struct esfmd_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "-");
    for (size_t i = 0; i < len; i++)
        if (line[i] < ' ' || line[i] >= 0x7f)
            return kf_errf(err, errlen, -EINVAL,
                           "byte 0x%02x at offset %zu: a line is printable ASCII only",
                           (unsigned char)line[i], i);
    const char *p = line, *end = line + len;
    char ver[16], word[ESFMD_LINE_MAX];
    if (next_word(&p, end, ver, sizeof ver))
        return kf_errf(err, errlen, -EINVAL, "empty or malformed line: want '%s ID VERB ...'",
                       ESFMD_PROTO);
    char id[ESFMD_ID_MAX + 1];
    int rc = next_word(&p, end, id, sizeof id);
    if (rc == 0 && all_chars(id, id_char))
        snprintf(m->id, sizeof m->id, "%s", id);
    if (strcmp(ver, ESFMD_PROTO) != 0)
        return kf_errf(err, errlen, -EPROTONOSUPPORT,
                       "protocol '%.15s' not spoken here; this side speaks %s", ver, ESFMD_PROTO);
    if (rc || !all_chars(id, id_char))
        return kf_errf(err, errlen, -EINVAL, "missing or bad request id: 1-%d of [A-Za-z0-9_-]",
                       ESFMD_ID_MAX);
    if (next_word(&p, end, m->verb, sizeof m->verb))
        return kf_errf(err, errlen, -EINVAL, "missing or overlong verb");
    if (strcmp(m->verb, "err") == 0) {
        if (next_word(&p, end, m->code, sizeof m->code))
            return kf_errf(err, errlen, -EINVAL, "err reply without a code");
        while (p < end && *p == ' ')
            p++;
        snprintf(m->text, sizeof m->text, "%.*s", (int)(end - p), p);
        return 0;
    }
    if (!all_chars(m->verb, key_char))
        return kf_errf(err, errlen, -EINVAL, "verb '%.20s' has characters outside [a-z0-9_-]",
                       m->verb);
    while ((rc = next_word(&p, end, word, sizeof word)) == 0)
        if ((rc = parse_arg(word, m, err, errlen)))
            return rc;
    return 0;
}

const char *esfmd_msg_get(const struct esfmd_msg *m, const char *key)
{
    for (unsigned i = 0; i < m->nargs; i++)
        if (strcmp(m->args[i].key, key) == 0)
            return m->args[i].val;
    return NULL;
}

int esfmd_format(char *buf, size_t len, const char *id, const char *word, const char *const *kv)
{
    if (len > ESFMD_LINE_MAX)
        len = ESFMD_LINE_MAX + 1; /* room for the NUL after a full line */
    int n = snprintf(buf, len, "%s %s %s", ESFMD_PROTO, id, word);
    if (n < 0 || (size_t)n >= len)
        return -E2BIG;
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1])
            continue;
        if (!all_chars(kv[i], key_char) || !kv[i + 1][0] || !all_chars(kv[i + 1], val_char) ||
            strlen(kv[i + 1]) > ESFMD_VAL_MAX)
            return -EINVAL;
        int m = snprintf(buf + n, len - (size_t)n, " %s=%s", kv[i], kv[i + 1]);
        if (m < 0 || (size_t)n + (size_t)m >= len)
            return -E2BIG;
        n += m;
    }
    if ((size_t)n + 1 >= len)
        return -E2BIG;
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

int esfmd_format_err(char *buf, size_t len, const char *id, const char *code, const char *text)
{
    if (len > ESFMD_LINE_MAX)
        len = ESFMD_LINE_MAX + 1;
    int n = snprintf(buf, len, "%s %s err %s ", ESFMD_PROTO, id, code);
    if (n < 0 || (size_t)n + 2 > len)
        return -E2BIG;
    size_t room = len - (size_t)n - 2; /* LF and NUL */
    size_t i = 0;
    for (; text && text[i] && i < room; i++)
        buf[n + (int)i] = (text[i] < ' ' || text[i] >= 0x7f) ? '?' : text[i];
    n += (int)i;
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

int esfmd_linebuf_take(struct esfmd_linebuf *lb, const char *data, size_t n, size_t *used,
                       char line[ESFMD_LINE_MAX])
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (lb->discarding) {
            if (c == '\n')
                lb->discarding = false;
            continue;
        }
        if (c == '\n') {
            memcpy(line, lb->buf, lb->len);
            line[lb->len] = '\0';
            lb->len = 0;
            *used = i + 1;
            return 1;
        }
        if (lb->len + 1 >= ESFMD_LINE_MAX) { /* no room left for this byte and the LF */
            lb->len = 0;
            lb->discarding = true;
            *used = i + 1;
            return -E2BIG;
        }
        lb->buf[lb->len++] = c;
    }
    *used = n;
    return 0;
}
