/* A worker's served kinds as JSON, sent in its HELLO so that the gateway can answer $info. */
#ifndef KF_DESCRIBE_H
#define KF_DESCRIBE_H

#include "registry.h"

/* {"kinds":[{"kind","variants":["cpu"(,"accel")],"features":[..],"knobs":[]}],
 *  "broadcasts":[..]}, malloc()ed (free with cJSON_free/free); NULL when out of memory. */
char *kf_describe_registry(const struct kf_registry *r);

#endif
