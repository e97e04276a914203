/* plugstack.conf arguments of spank_kfarm.so (`key=value` after the plugin path) and the VM name
 * pattern. An unknown key is an error, so that a typo does not silently change behaviour. */
#include "kfarm_spank.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct key {
    const char *name;
    size_t off, len;
};

#define KEY(f)                                                                                     \
    {                                                                                              \
#f, offsetof(struct ks_config, f), sizeof(((struct ks_config *)0)->f)                      \
    }
static const struct key keys[] = {
    KEY(policy),      KEY(hypervisor), KEY(domain),   KEY(state_dir),     KEY(esfm_state_dir),
    KEY(mqtt),        KEY(sysfs_root), KEY(squeue),   KEY(mqtt_username), KEY(mqtt_password_file),
    KEY(mqtt_cafile), KEY(mqtt_cert),  KEY(mqtt_key),   KEY(scontrol),      KEY(gres),
    KEY(reflash),     KEY(mode),       KEY(channel),    KEY(guest_driver),  KEY(guest_wait_ms),
    KEY(channel_timeout_ms),
};

static void set_defaults(struct ks_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->domain, sizeof cfg->domain, "%%n");
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "/var/lib/kfarm/spank");
    snprintf(cfg->esfm_state_dir, sizeof cfg->esfm_state_dir, "/var/lib/esfm");
    snprintf(cfg->squeue, sizeof cfg->squeue, "/usr/bin/squeue");
    snprintf(cfg->scontrol, sizeof cfg->scontrol, "/usr/bin/scontrol");
    snprintf(cfg->reflash, sizeof cfg->reflash, "never");
    snprintf(cfg->mode, sizeof cfg->mode, "host");
    snprintf(cfg->channel, sizeof cfg->channel, "/dev/virtio-ports/org.kfarm.esfm.0");
    snprintf(cfg->guest_wait_ms, sizeof cfg->guest_wait_ms, "10000");
    snprintf(cfg->channel_timeout_ms, sizeof cfg->channel_timeout_ms, "60000");
}

/* mode=vm needs no hypervisor URI (esfmd on the host has it) but a channel and bounds. */
static int check_mode(const struct ks_config *cfg, char *err, size_t errlen)
{
    if (strcmp(cfg->mode, "host") != 0 && strcmp(cfg->mode, "vm") != 0) {
        snprintf(err, errlen, "plugstack.conf: mode=%s: use mode=host or mode=vm", cfg->mode);
        return -EINVAL;
    }
    const char *nums[] = {cfg->guest_wait_ms, cfg->channel_timeout_ms};
    for (size_t i = 0; i < 2; i++) {
        char *end;
        long v = strtol(nums[i], &end, 10);
        if (!*nums[i] || *end || v < 1 || v > 3600000) {
            snprintf(err, errlen,
                     "plugstack.conf: guest_wait_ms= and channel_timeout_ms= are 1 to 3600000 "
                     "(milliseconds), not '%s'",
                     nums[i]);
            return -EINVAL;
        }
    }
    if (ks_config_vm(cfg) && cfg->channel[0] != '/') {
        snprintf(err, errlen, "plugstack.conf: channel= must be an absolute path");
        return -EINVAL;
    }
    return 0;
}

int ks_config_parse(int argc, char **argv, struct ks_config *cfg, char *err, size_t errlen)
{
    set_defaults(cfg);
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        const struct key *k = NULL;
        for (size_t j = 0; eq && j < sizeof keys / sizeof keys[0]; j++)
            if (strlen(keys[j].name) == (size_t)(eq - argv[i]) &&
                strncmp(keys[j].name, argv[i], (size_t)(eq - argv[i])) == 0)
                k = &keys[j];
        if (!k) {
            snprintf(err, errlen,
                     "plugstack.conf: unknown argument '%s' for spank_kfarm.so; use policy=, "
                     "hypervisor=, domain=, state_dir=, esfm_state_dir=, mqtt=, mqtt_username=, "
                     "mqtt_password_file=, mqtt_cafile=, mqtt_cert=, mqtt_key=, sysfs_root=, "
                     "squeue=, scontrol=, gres=, reflash=, mode=, channel=, guest_driver=, "
                     "guest_wait_ms=, channel_timeout_ms= (see docs/spank.md)",
                     argv[i]);
            return -EINVAL;
        }
        if (strlen(eq + 1) >= k->len) {
            snprintf(err, errlen, "plugstack.conf: %s is longer than %zu characters", k->name,
                     k->len - 1);
            return -EINVAL;
        }
        snprintf((char *)cfg + k->off, k->len, "%s", eq + 1);
    }
    if (strcmp(cfg->reflash, "allow") != 0 && strcmp(cfg->reflash, "never") != 0) {
        snprintf(err, errlen, "plugstack.conf: reflash=%s: use reflash=allow or reflash=never",
                 cfg->reflash);
        return -EINVAL;
    }
    int mrc = check_mode(cfg, err, errlen);
    if (mrc)
        return mrc;
    if (!cfg->hypervisor[0] && !ks_config_vm(cfg)) {
        snprintf(err, errlen,
                 "plugstack.conf: spank_kfarm.so needs hypervisor=URI (a libvirt URI such as "
                 "qemu:///system)");
        return -EINVAL;
    }
    if (cfg->state_dir[0] != '/' || cfg->esfm_state_dir[0] != '/') {
        snprintf(err, errlen, "plugstack.conf: state_dir and esfm_state_dir must be absolute");
        return -EINVAL;
    }
    struct kf_mqtt_security sec;
    ks_config_mqtt_security(cfg, &sec);
    const int any_security =
        sec.username || sec.password_file || sec.cafile || sec.certfile || sec.keyfile;
    if (any_security && !cfg->mqtt[0]) {
        snprintf(err, errlen, "plugstack.conf: the mqtt_* security arguments need mqtt=URI");
        return -EINVAL;
    }
    char why[512];
    if (cfg->mqtt[0] && kf_mqtt_security_check(cfg->mqtt, &sec, why, sizeof why)) {
        /* the shared check names command-line options; say which arguments these are here */
        snprintf(err, errlen,
                 "plugstack.conf: %s (plugstack arguments: mqtt_username=, "
                 "mqtt_password_file=, mqtt_cafile=, mqtt_cert=, mqtt_key=)",
                 why);
        return -EINVAL;
    }
    char probe[128];
    return ks_config_domain(cfg, "node", probe, sizeof probe, err, errlen);
}

void ks_config_mqtt_security(const struct ks_config *cfg, struct kf_mqtt_security *sec)
{
    sec->username = cfg->mqtt_username[0] ? cfg->mqtt_username : NULL;
    sec->password_file = cfg->mqtt_password_file[0] ? cfg->mqtt_password_file : NULL;
    sec->cafile = cfg->mqtt_cafile[0] ? cfg->mqtt_cafile : NULL;
    sec->certfile = cfg->mqtt_cert[0] ? cfg->mqtt_cert : NULL;
    sec->keyfile = cfg->mqtt_key[0] ? cfg->mqtt_key : NULL;
}

int ks_config_domain(const struct ks_config *cfg, const char *node, char *out, size_t outlen,
                     char *err, size_t errlen)
{
    size_t o = 0;
    for (const char *p = cfg->domain; *p; p++) {
        const char *add = p;
        size_t n = 1;
        if (*p == '%') {
            if (p[1] == 'n') {
                add = node;
                n = strlen(node);
            } else if (p[1] != '%') {
                snprintf(err, errlen,
                         "plugstack.conf: domain=%s: only %%n (node name) and %%%% may follow %%",
                         cfg->domain);
                return -EINVAL;
            }
            p++;
        }
        if (o + n >= outlen) {
            snprintf(err, errlen, "domain=%s: the VM name for node %s is too long", cfg->domain,
                     node);
            return -ENAMETOOLONG;
        }
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = '\0';
    if (o == 0) {
        snprintf(err, errlen, "plugstack.conf: domain= is empty");
        return -EINVAL;
    }
    return 0;
}
