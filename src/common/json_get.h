/* Reading an optional member of a parsed JSON object with a default, for code that displays or
 * forwards values (statistics, metrics) rather than validating input. */
#ifndef KF_JSON_GET_H
#define KF_JSON_GET_H

#include <cjson/cJSON.h>

/* The number o[key]; true counts as 1; missing or another type gives 0. */
double kf_json_number(const cJSON *o, const char *key);

/* The string o[key], or dflt when it is missing or not a string. */
const char *kf_json_string(const cJSON *o, const char *key, const char *dflt);

#endif
