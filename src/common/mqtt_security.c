/* MQTT security settings for every kfarm MQTT client: option names, URI and file checks, the
 * password file (owner-only), and connection errors that say which option to fix. */
#include <kfarm/mqtt_security.h>

#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kf_mqtt_security_set(struct kf_mqtt_security *s, int which, const char *value)
{
    switch (which) {
    case KF_MQTT_OPT_USERNAME:
        s->username = value;
        return 0;
    case KF_MQTT_OPT_PASSWORD_FILE:
        s->password_file = value;
        return 0;
    case KF_MQTT_OPT_CAFILE:
        s->cafile = value;
        return 0;
    case KF_MQTT_OPT_CERT:
        s->certfile = value;
        return 0;
    case KF_MQTT_OPT_KEY:
        s->keyfile = value;
        return 0;
    default:
        return -EINVAL;
    }
}

int kf_mqtt_uri_tls(const char *uri)
{
    if (!uri)
        return -1;
    if (!strncmp(uri, "ssl://", 6) || !strncmp(uri, "mqtts://", 8))
        return 1;
    if (!strncmp(uri, "tcp://", 6) || !strncmp(uri, "mqtt://", 7))
        return 0;
    return -1;
}

static int check_readable(const char *opt, const char *path, char *err, size_t errlen)
{
    if (path && access(path, R_OK) != 0) {
        int e = errno;
        char why[128];
        snprintf(why, sizeof(why), "%s", strerror(e));
        return kf_errf(err, errlen, -e, "--%s %s: cannot read it: %s", opt, path, why);
    }
    return 0;
}

int kf_mqtt_security_check(const char *uri, const struct kf_mqtt_security *s, char *err,
                           size_t errlen)
{
    int tls = kf_mqtt_uri_tls(uri);
    if (tls < 0)
        return kf_errf(err, errlen, -EINVAL,
                       "MQTT broker URI '%s': expected tcp://HOST:PORT, or ssl://HOST:PORT "
                       "(mqtts://) for TLS",
                       uri ? uri : "(none)");
    if (!s)
        return 0;
    if (s->username && !*s->username)
        return kf_errf(err, errlen, -EINVAL, "--mqtt-username is empty");
    if (s->username && !s->password_file)
        return kf_errf(err, errlen, -EINVAL,
                       "--mqtt-username %s needs --mqtt-password-file FILE (a password is never "
                       "taken on the command line, where ps shows it)",
                       s->username);
    if (s->password_file && !s->username)
        return kf_errf(err, errlen, -EINVAL,
                       "--mqtt-password-file %s needs --mqtt-username (whose password it is)",
                       s->password_file);
    const char *tls_opt = s->cafile     ? "--mqtt-cafile"
                          : s->certfile ? "--mqtt-cert"
                          : s->keyfile  ? "--mqtt-key"
                                        : NULL;
    if (tls_opt && !tls)
        return kf_errf(err, errlen, -EINVAL,
                       "%s is for TLS, but the broker URI %s is plain TCP: use ssl://HOST:PORT",
                       tls_opt, uri);
    if (s->keyfile && !s->certfile)
        return kf_errf(err, errlen, -EINVAL,
                       "--mqtt-key %s needs --mqtt-cert (the certificate of that key)", s->keyfile);
    return 0;
}

int kf_mqtt_security_check_files(const struct kf_mqtt_security *s, char *err, size_t errlen)
{
    int rc;
    if (!s)
        return 0;
    if ((rc = check_readable("mqtt-cafile", s->cafile, err, errlen)) ||
        (rc = check_readable("mqtt-cert", s->certfile, err, errlen)) ||
        (rc = check_readable("mqtt-key", s->keyfile, err, errlen)) ||
        (rc = check_readable("mqtt-password-file", s->password_file, err, errlen)))
        return rc;
    return 0;
}

int kf_check_private_file(int fd, const char *opt, const char *path, char *err, size_t errlen)
{
    char why[128];
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        snprintf(why, sizeof(why), "%s", strerror(-rc));
        snprintf(err, errlen, "--%s %s: %s", opt, path, why);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "--%s %s: not a regular file", opt, path);
        return -EINVAL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, sizeof(why), "%04o", (unsigned)(st.st_mode & 07777));
        snprintf(err, errlen,
                 "--%s %s has mode %s: group or others may read it, so it is refused; make it "
                 "owner-only with chmod 600 %s",
                 opt, path, why, path);
        return -EPERM;
    }
    return 0;
}

int kf_mqtt_read_password(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    char why[128];
    if (len < 2)
        return kf_errf(err, errlen, -EINVAL, "password buffer too small for %s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(why, sizeof(why), "%s", strerror(e));
        return kf_errf(err, errlen, -e, "--mqtt-password-file %s: %s", path, why);
    }
    /* checked on the opened file: what is checked is what is read */
    int rc = kf_check_private_file(fd, "mqtt-password-file", path, err, errlen);
    if (rc)
        goto out;
    size_t n = 0;
    while (n < len - 1) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            snprintf(why, sizeof(why), "%s", strerror(-rc));
            kf_errf(err, errlen, rc, "--mqtt-password-file %s: %s", path, why);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    size_t line = strcspn(buf, "\r\n");
    if (line == n && n == len - 1) {
        rc = kf_errf(err, errlen, -EINVAL,
                     "--mqtt-password-file %s: the password is longer than %zu bytes", path,
                     len - 2);
        goto out;
    }
    buf[line] = 0;
    if (line == 0)
        rc = kf_errf(err, errlen, -EINVAL,
                     "--mqtt-password-file %s: the first line (the password) is empty", path);
out:
    if (rc)
        explicit_bzero(buf, len);
    close(fd);
    return rc;
}

static const char *connack_text(int connack)
{
    switch (connack) {
    case 1:
        return "unacceptable protocol version";
    case 2:
        return "client identifier rejected";
    case 3:
        return "server unavailable";
    case 4:
        return "bad user name or password";
    case 5:
        return "not authorised";
    default:
        return "refused";
    }
}

void kf_mqtt_connect_error(char *err, size_t errlen, const char *uri,
                           const struct kf_mqtt_security *s, int connack, int client_rc,
                           const char *tls_error)
{
    const char *user = s ? s->username : NULL;
    const char *cert = s ? s->certfile : NULL;
    const int tls = kf_mqtt_uri_tls(uri) == 1;
    const char *cafile = s && s->cafile ? s->cafile : "the system's trust store";
    if ((connack == 4 || connack == 5) && user) {
        snprintf(err, errlen,
                 "MQTT broker %s refused user %s: %s (check --mqtt-username/--mqtt-password-file)",
                 uri, user, connack_text(connack));
    } else if (connack == 4 || connack == 5) {
        snprintf(err, errlen,
                 "MQTT broker %s refused an anonymous client: %s (give --mqtt-username and "
                 "--mqtt-password-file)",
                 uri, connack_text(connack));
    } else if (connack > 0) {
        snprintf(err, errlen, "MQTT broker %s refused the connection: %s (CONNACK %d)", uri,
                 connack_text(connack), connack);
    } else if (tls_error && strstr(tls_error, "certificate verify failed")) {
        snprintf(err, errlen,
                 "TLS with MQTT broker %s failed: its certificate does not verify against %s "
                 "(--mqtt-cafile): signed by another CA, expired, or not for this host name",
                 uri, cafile);
    } else if (tls_error && *tls_error) {
        snprintf(err, errlen, "TLS with MQTT broker %s failed: %s (CA file %s)", uri, tls_error,
                 cafile);
    } else if (tls) {
        /* paho reports neither a host name the certificate does not cover (its post-handshake
         * check) nor, with TLS 1.3, a client certificate the broker wanted (the connection just
         * closes): name both */
        char host[256];
        const char *sep = strstr(uri, "://");
        const char *h = sep ? sep + 3 : uri;
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(h, ":/"), h);
        char client[300];
        if (cert)
            snprintf(client, sizeof(client), "does its CA accept --mqtt-cert %s?", cert);
        else
            snprintf(client, sizeof(client),
                     "if it requires a client certificate, give --mqtt-cert and --mqtt-key");
        snprintf(err, errlen,
                 "cannot connect to MQTT broker %s (client rc %d): is it running, with a TLS "
                 "listener on that port? Does its certificate name %s (subjectAltName)? And %s",
                 uri, client_rc, host, client);
    } else {
        snprintf(err, errlen,
                 "cannot connect to MQTT broker %s (client rc %d): is it running? A TLS listener "
                 "needs an ssl:// URI",
                 uri, client_rc);
    }
}

void kf_mqtt_reserve_std_fds(void)
{
    /* open() returns the lowest free descriptor: each call fills one of 0-2 while any is free */
    for (;;) {
        int fd = open("/dev/null", O_RDWR | O_NOCTTY);
        if (fd < 0)
            return;
        if (fd > 2) {
            close(fd);
            return;
        }
    }
}
