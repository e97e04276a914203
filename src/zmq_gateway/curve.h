/* Optional ZeroMQ CURVE for the client-facing sockets: key files, a ZAP handler thread that admits
 * only the listed client keys (bind mode), and the client side of CURVE (connect mode). */
#ifndef KF_CURVE_H
#define KF_CURVE_H

#include <stddef.h>

#define KF_CURVE_MAX_KEYS 4096

struct kf_curve {
    int enabled;
    char secret[41], public_key[41]; /* this gateway's key pair, Z85 */
    char server[41];                 /* connect mode: the client's (CURVE server's) public key */
    unsigned char (*allowed)[32];    /* bind mode: admitted client public keys */
    size_t n_allowed;
    void *zap;    /* ZAP REP socket (bind mode) */
    void *thread; /* pthread_t of the ZAP handler */
    unsigned long admitted, refused;
};

/* Reads one Z85 key (40 characters; blank lines and '#' comments ignored) from path. A secret key
 * (secret_opt: the option naming it, without "--") must be owner-only (kf_check_private_file). */
int kf_curve_read_key(const char *path, const char *secret_opt, char out[41], char *err,
                      size_t errlen);
/* Loads the keys named by the options (NULL = not given) and checks they fit the mode. CURVE is
 * on when secret_path is given. Returns 0, or a negative errno with err filled. */
int kf_curve_init(struct kf_curve *c, int bind_mode, const char *secret_path,
                  const char *allowed_path, const char *server_path, char *err, size_t errlen);
/* Bind mode: starts the ZAP handler on ctx (before any socket binds). */
int kf_curve_start_zap(struct kf_curve *c, void *ctx, char *err, size_t errlen);
/* Makes sock a CURVE server (bind mode) or client (connect mode). */
int kf_curve_apply(const struct kf_curve *c, void *sock, int bind_mode, char *err, size_t errlen);
/* Joins the ZAP thread; call after zmq_ctx_term() (which makes it leave) and frees the keys. */
void kf_curve_fini(struct kf_curve *c);

#endif
