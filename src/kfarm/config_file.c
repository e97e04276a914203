/* `kfarm --config FILE`: the options of a file spliced into the command line where --config
 * stands, one option per line (`--name value`, the value the rest of the line, spaces and all),
 * so that job scripts need no shell quoting to pass a value with spaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"
#include "errbuf.h"

/* Trims trailing white space (and the newline) in place. */
static void trim_end(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

static int push(struct kf_config_args *a, char *s)
{
    if ((size_t)a->argc + 1 >= a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->argv, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        a->argv = v;
        a->cap = cap;
    }
    a->argv[a->argc++] = s;
    a->argv[a->argc] = NULL;
    return 0;
}

/* One line: "--name value" -> "--name", "value"; "--flag" -> "--flag"; blank or # -> nothing. */
static int add_line(struct kf_config_args *a, char *line, const char *path, int lineno, char *err,
                    size_t errlen)
{
    trim_end(line);
    line += strspn(line, " \t");
    if (!*line || *line == '#')
        return 0;
    if (strncmp(line, "--", 2) != 0)
        return kf_errf(err, errlen, -EINVAL,
                       "--config %s line %d: '%s' is not an option; write one '--name value' per "
                       "line",
                       path, lineno, line);
    if (!strcmp(line, "--config") || !strncmp(line, "--config ", 9) ||
        !strncmp(line, "--config=", 9))
        return kf_errf(err, errlen, -EINVAL, "--config %s line %d: --config cannot be nested", path,
                       lineno);
    char *value = line + strcspn(line, " \t=");
    int has_value = *value != '\0';
    if (has_value) {
        *value++ = '\0';
        value += strspn(value, " \t");
    }
    char *name = strdup(line), *val = has_value ? strdup(value) : NULL;
    if (!name || (has_value && !val) || push(a, name)) {
        free(name);
        free(val);
        return kf_errf(err, errlen, -ENOMEM, "--config %s: out of memory", path);
    }
    /* name now belongs to a */
    if (has_value && push(a, val)) {
        free(val);
        return kf_errf(err, errlen, -ENOMEM, "--config %s: out of memory", path);
    }
    return 0;
}

static int add_file(struct kf_config_args *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return kf_errf(err, errlen, -EINVAL, "--config %s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, lineno = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0)
        rc = add_line(a, line, path, ++lineno, err, errlen);
    free(line);
    fclose(f);
    return rc;
}

int kf_config_expand(struct kf_config_args *a, int argc, char **argv, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        char *copy = NULL;
        if (i > 0 && !strcmp(argv[i], "--config")) {
            if (i + 1 == argc)
                return kf_errf(err, errlen, -EINVAL, "--config needs a value; see kfarm --help");
            rc = add_file(a, argv[++i], err, errlen);
        } else if (i > 0 && !strncmp(argv[i], "--config=", 9)) {
            rc = add_file(a, argv[i] + 9, err, errlen);
        } else if (!(copy = strdup(argv[i])) || push(a, copy)) {
            free(copy);
            rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
        }
    }
    return rc;
}

void kf_config_args_fini(struct kf_config_args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    memset(a, 0, sizeof(*a));
}
