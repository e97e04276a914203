/* MQTT security settings shared by every kfarm MQTT client (the workers' tuner, kfarm-learner,
 * kfarm-observer, ESFM): user name, password file, TLS trust and client certificate. */
#ifndef KFARM_MQTT_SECURITY_H
#define KFARM_MQTT_SECURITY_H

#include <stddef.h>

/* Every field may be NULL. Strings are borrowed (argv, a config buffer) and must outlive the
 * client. The defaults (all NULL, tcp://) are a plain, anonymous connection. */
struct kf_mqtt_security {
    const char *username;      /* NULL: anonymous */
    const char *password_file; /* first line is the password; never on the command line (ps) */
    const char *cafile;        /* PEM CA(s) the broker's certificate must chain to (TLS URIs);
                                  NULL: the system's trust store */
    const char *certfile;      /* client certificate (PEM), for brokers that require one */
    const char *keyfile;       /* its private key (PEM); NULL: in certfile */
};

/* The same option names everywhere: --mqtt-username U --mqtt-password-file F --mqtt-cafile F
 * --mqtt-cert F --mqtt-key F (plugstack args: mqtt_username= ...). */
enum {
    KF_MQTT_OPT_USERNAME,
    KF_MQTT_OPT_PASSWORD_FILE,
    KF_MQTT_OPT_CAFILE,
    KF_MQTT_OPT_CERT,
    KF_MQTT_OPT_KEY,
    KF_MQTT_OPT_COUNT
};

/* getopt_long entries for the five options, each with val = base + KF_MQTT_OPT_* (the caller
 * includes <getopt.h>; 1 is its required_argument); hand such a val to kf_mqtt_security_set(). */
/* clang-format off */
#define KF_MQTT_SECURITY_LONG_OPTIONS(base)                                 \
    {"mqtt-username", 1, NULL, (base) + KF_MQTT_OPT_USERNAME},              \
    {"mqtt-password-file", 1, NULL, (base) + KF_MQTT_OPT_PASSWORD_FILE},    \
    {"mqtt-cafile", 1, NULL, (base) + KF_MQTT_OPT_CAFILE},                  \
    {"mqtt-cert", 1, NULL, (base) + KF_MQTT_OPT_CERT},                      \
    {"mqtt-key", 1, NULL, (base) + KF_MQTT_OPT_KEY}
/* clang-format on */

/* Size of the buffer kf_mqtt_read_password() fills: passwords up to 254 bytes. */
#define KF_MQTT_PASSWORD_BUF 256

/* Stores value as option `which` (KF_MQTT_OPT_*); returns 0, or -EINVAL for another index. */
int kf_mqtt_security_set(struct kf_mqtt_security *s, int which, const char *value);

/* 1 for ssl:// and mqtts:// (TLS), 0 for tcp:// and mqtt://, -1 for anything else. */
int kf_mqtt_uri_tls(const char *uri);

/* Checks a broker URI and its settings: a known scheme, user name and password file given
 * together, TLS files only with a TLS URI, a key only with a certificate. Does not touch the
 * files (configuration parsers run where they may not be readable). Returns 0 or -EINVAL with
 * err saying which option and what to do. */
int kf_mqtt_security_check(const char *uri, const struct kf_mqtt_security *s, char *err,
                           size_t errlen);

/* Checks that every file named in s is readable by this process (clients call it before
 * connecting, for an error that names the option). Returns 0 or -errno with err filled. */
int kf_mqtt_security_check_files(const struct kf_mqtt_security *s, char *err, size_t errlen);

/* The rule for secret files (this password file, the gateway's CURVE secret key): fd, opened
 * from path for option --opt, must be a regular file that group and others cannot read or write.
 * Returns 0, or -EPERM/-EINVAL/-errno with err naming the option, the path, the mode and the fix. */
int kf_check_private_file(int fd, const char *opt, const char *path, char *err, size_t errlen);

/* Reads the password (the first line, without its newline) from path into buf (len is
 * KF_MQTT_PASSWORD_BUF; a password may be len - 2 bytes long). Refuses a file that group or others
 * may read or write, a non-regular file, an empty or overlong password. Returns 0 or a negative
 * errno with err filled. The caller wipes buf (explicit_bzero) when done with it. */
int kf_mqtt_read_password(const char *path, char *buf, size_t len, char *err, size_t errlen);

/* Explains a failed connection to uri in err. connack: the broker's CONNACK code (1-5; 4 and 5
 * are refused credentials), or 0 when the connection failed before it (TCP, TLS); client_rc:
 * the MQTT library's code, for the log; tls_error: OpenSSL's text for a failed handshake, or
 * NULL. The text names the option to check (--mqtt-username, --mqtt-cafile, ...). */
void kf_mqtt_connect_error(char *err, size_t errlen, const char *uri,
                           const struct kf_mqtt_security *s, int connack, int client_rc,
                           const char *tls_error);

/* paho takes socket 0 for "no socket": in a process started with stdin closed (slurmstepd runs
 * the SPANK prolog so) the broker connection gets fd 0 and its CONNACK is never read. Clients
 * call this before connecting: it opens /dev/null on whichever of fds 0-2 are closed. */
void kf_mqtt_reserve_std_fds(void);

#endif
