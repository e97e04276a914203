/* CURVE keys and the ZAP handler. The handler runs in its own thread on the gateway's ZeroMQ
 * context (ZeroMQ calls it synchronously during each handshake) and answers 200 only for client
 * public keys listed in --curve-allowed-keys; everything else is refused before any frame of the
 * client reaches the gateway. It leaves when zmq_ctx_term() makes its recv fail with ETERM. */
#include "errbuf.h"
#include "curve.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <kfarm/mqtt_security.h>

#include "log.h"

static int next_key_line(FILE *f, char out[41])
{
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *e;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (e - p != 40)
            return -2;
        memcpy(out, p, 41);
        return 0;
    }
    return -1;
}

int kf_curve_read_key(const char *path, const char *secret_opt, char out[41], char *err,
                      size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        return kf_errf(err, errlen, -errno, "%s: cannot read the key: %s", path, strerror(errno));
    }
    uint8_t bin[32];
    /* a secret key is refused when others may read it, as the MQTT password file is */
    int rc = secret_opt ? kf_check_private_file(fileno(f), secret_opt, path, err, errlen) : 0;
    if (rc) {
        fclose(f);
        return rc;
    }
    rc = next_key_line(f, out);
    fclose(f);
    if (rc || !zmq_z85_decode(bin, out)) {
        return kf_errf(err, errlen, -EINVAL,
                       "%s: expected a 40-character Z85 CURVE key (make a pair with "
                       "zmq_curve_keypair(); see docs/security.md)",
                       path);
    }
    return 0;
}

static int load_allowed(struct kf_curve *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        return kf_errf(err, errlen, -errno, "--curve-allowed-keys %s: %s", path, strerror(errno));
    }
    c->allowed = calloc(KF_CURVE_MAX_KEYS, 32);
    if (!c->allowed) {
        fclose(f);
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    }
    char key[41];
    int rc;
    size_t line = 0;
    while ((rc = next_key_line(f, key)) != -1) {
        line++;
        if (rc || !zmq_z85_decode(c->allowed[c->n_allowed], key)) {
            fclose(f);
            return kf_errf(err, errlen, -EINVAL,
                           "--curve-allowed-keys %s: key %zu is not a 40-character Z85 key", path,
                           line);
        }
        if (++c->n_allowed == KF_CURVE_MAX_KEYS) {
            fclose(f);
            return kf_errf(err, errlen, -EINVAL, "--curve-allowed-keys %s: more than %d keys", path,
                           KF_CURVE_MAX_KEYS);
        }
    }
    fclose(f);
    if (c->n_allowed == 0) {
        return kf_errf(err, errlen, -EINVAL,
                       "--curve-allowed-keys %s: no key in the file; nobody could connect", path);
    }
    return 0;
}

int kf_curve_init(struct kf_curve *c, int bind_mode, const char *secret_path,
                  const char *allowed_path, const char *server_path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (!secret_path) {
        if (allowed_path || server_path) {
            return kf_errf(err, errlen, -EINVAL,
                           "--curve-allowed-keys and --curve-server-key need --curve-secret-key");
        }
        return 0;
    }
    if (!zmq_has("curve")) {
        return kf_errf(err, errlen, -EINVAL,
                       "--curve-secret-key: this libzmq was built without CURVE");
    }
    int rc = kf_curve_read_key(secret_path, "curve-secret-key", c->secret, err, errlen);
    if (rc)
        return rc;
    if (zmq_curve_public(c->public_key, c->secret)) {
        return kf_errf(err, errlen, -EINVAL, "--curve-secret-key %s: not a valid secret key",
                       secret_path);
    }
    if (bind_mode) {
        if (!allowed_path || server_path) {
            return kf_errf(err, errlen, -EINVAL,
                           "bind mode with CURVE needs --curve-allowed-keys FILE (the client "
                           "public keys to admit) and no --curve-server-key");
        }
        if ((rc = load_allowed(c, allowed_path, err, errlen)))
            return rc;
    } else {
        if (!server_path || allowed_path) {
            return kf_errf(err, errlen, -EINVAL,
                           "connect mode with CURVE needs --curve-server-key FILE (the client's "
                           "public key) and no --curve-allowed-keys");
        }
        if ((rc = kf_curve_read_key(server_path, NULL, c->server, err, errlen)))
            return rc;
    }
    c->enabled = 1;
    return 0;
}

static int admitted(const struct kf_curve *c, const void *key, size_t len)
{
    if (len != 32)
        return 0;
    for (size_t i = 0; i < c->n_allowed; i++)
        if (memcmp(c->allowed[i], key, 32) == 0)
            return 1;
    return 0;
}

static void *zap_loop(void *arg)
{
    struct kf_curve *c = arg;
    for (;;) {
        /* [version, request id, domain, address, identity, mechanism, credentials...] */
        zmq_msg_t part[8];
        size_t n = 0;
        int more = 1, failed = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->zap, 0) < 0) {
                zmq_msg_close(&m);
                failed = 1;
                break;
            }
            more = zmq_msg_more(&m);
            if (n < 8)
                part[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (failed) {
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
            if (zmq_errno() == ETERM)
                break;
            continue;
        }
        int ok = n >= 7 && zmq_msg_size(&part[5]) == 5 &&
                 memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
                 admitted(c, zmq_msg_data(&part[6]), zmq_msg_size(&part[6]));
        if (ok)
            c->admitted++;
        else
            c->refused++;
        if (!ok)
            kf_warn("CURVE: refused a client whose key is not in --curve-allowed-keys");
        const char *code = ok ? "200" : "400", *text = ok ? "OK" : "key not allowed";
        /* version and request id are echoed back */
        if (n >= 2) {
            zmq_send(c->zap, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]), ZMQ_SNDMORE);
            zmq_send(c->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
            zmq_send(c->zap, code, 3, ZMQ_SNDMORE);
            zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE);
            zmq_send(c->zap, "", 0, ZMQ_SNDMORE); /* user id */
            zmq_send(c->zap, "", 0, 0);           /* metadata */
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
    int zero = 0;
    zmq_setsockopt(c->zap, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(c->zap);
    c->zap = NULL;
    return NULL;
}

int kf_curve_start_zap(struct kf_curve *c, void *ctx, char *err, size_t errlen)
{
    c->zap = zmq_socket(ctx, ZMQ_REP);
    if (!c->zap || zmq_bind(c->zap, "inproc://zeromq.zap.01")) {
        int rc = kf_errf(err, errlen, -zmq_errno(), "CURVE: cannot start the ZAP handler: %s",
                         zmq_strerror(zmq_errno()));
        if (c->zap)
            zmq_close(c->zap);
        c->zap = NULL;
        return rc;
    }
    pthread_t *t = malloc(sizeof(*t));
    if (!t || pthread_create(t, NULL, zap_loop, c)) {
        free(t);
        zmq_close(c->zap);
        c->zap = NULL;
        return kf_errf(err, errlen, -EAGAIN, "CURVE: cannot start the ZAP thread");
    }
    c->thread = t;
    return 0;
}

int kf_curve_apply(const struct kf_curve *c, void *sock, int bind_mode, char *err, size_t errlen)
{
    if (!c->enabled)
        return 0;
    int one = 1, rc;
    if (bind_mode) {
        rc = zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
             zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret, 40);
    } else {
        rc = zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, c->server, 40) ||
             zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->public_key, 40) ||
             zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->secret, 40);
    }
    if (rc) {
        return kf_errf(err, errlen, -zmq_errno(), "CURVE: cannot set the socket's keys: %s",
                       zmq_strerror(zmq_errno()));
    }
    return 0;
}

void kf_curve_fini(struct kf_curve *c)
{
    if (c->thread) {
        pthread_join(*(pthread_t *)c->thread, NULL);
        free(c->thread);
    }
    free(c->allowed);
    /* the secret key does not outlive the session in this process's memory */
    explicit_bzero(c->secret, sizeof(c->secret));
    memset(c, 0, sizeof(*c));
}
