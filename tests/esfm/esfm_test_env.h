/* Per-test environment for ESFM's unit tests: a temp dir with a FAKE sysfs tree (fake kernel),
 * a FAKE hypervisor state file with VMs vm1/vm2, a state dir, and helpers to inspect them. */
#ifndef ESFM_TEST_ENV_H
#define ESFM_TEST_ENV_H

#include "fake_kernel.h"
#include <cjson/cJSON.h>
#include <kfarm/esfm.h>

#define PF  "0000:01:00.0"
#define VF0 "0000:01:00.1"
#define VF1 "0000:01:00.2"
#define VF2 "0000:01:00.3"
#define VF3 "0000:01:00.4"

struct env {
    char dir[256], root[300], state[300], hv[300], uri[320], policy[300];
    struct fake_kernel k;
    char log[8192];
};

struct env *env_new(bool device_pause);
void env_free(struct env *e);
void env_policy(struct env *e, const char *json);
int env_ctx(struct env *e, bool with_policy, bool force, struct esfm_ctx **ctx, char *err);
void env_set_numvfs(struct env *e, unsigned n);
unsigned env_numvfs(struct env *e);
/* Puts vf into domain's hostdevs in the fake hypervisor and records it (admin attach). */
void env_attach(struct env *e, const char *vf, const char *domain);
/* Counts how many domains hold vf; fills domain with the last one. */
int env_holders(struct env *e, const char *vf, char *domain);
bool env_hostdev_paused(struct env *e, const char *vf);
int env_journal_entries(struct env *e);
cJSON *env_state(struct env *e);
char *env_read_file(const char *path);
void env_hv_set(struct env *e, const char *domain, const char *key, cJSON *value);
#endif
