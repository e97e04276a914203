/* The adapters compiled into kfarm, found by name without dlopen. */
#ifndef KF_BUILTIN_H
#define KF_BUILTIN_H

#include <kfarm/adapter.h>

/* The built-in adapter called name, or NULL. */
const struct kf_adapter *kf_builtin_adapter(const char *name);
/* Comma-separated names, for messages. */
const char *kf_builtin_adapter_names(void);

#endif
