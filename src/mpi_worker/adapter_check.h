/* Checks an adapter's declarations at load time: a table that is inconsistent would crash the
 * worker or mislead the tuner later, far from its cause. */
#ifndef KF_ADAPTER_CHECK_H
#define KF_ADAPTER_CHECK_H

#include <stddef.h>

#include <kfarm/adapter.h>

/* Returns 0 when adapter a (loaded from `from`, ABI version 1 or 2) can be served, or -EINVAL
 * (-EPROTO for another ABI version) with what is wrong and how to fix it in err. */
int kf_adapter_check(const struct kf_adapter *a, const char *from, char *err, size_t errlen);

/* Number of values of knob k's domain (k already checked). */
size_t kf_knob_domain_size(const struct kf_knob *k);

#endif
