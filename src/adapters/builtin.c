/* Table of built-in adapters; each lives in src/adapters/<name>/. */
#include <string.h>

#include "builtin.h"

extern const struct kf_adapter kf_adapter_echo;
#ifdef KFARM_HAVE_PTDR
extern const struct kf_adapter kf_adapter_ptdr;
#endif

static const struct kf_adapter *const builtins[] = {
    &kf_adapter_echo,
#ifdef KFARM_HAVE_PTDR
    &kf_adapter_ptdr,
#endif
};

const struct kf_adapter *kf_builtin_adapter(const char *name)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

const char *kf_builtin_adapter_names(void)
{
#ifdef KFARM_HAVE_PTDR
    return "echo, ptdr";
#else
    return "echo";
#endif
}
