/* The names ESFM reads and makes: PCI addresses (checked and normalized), the hypervisor alias of
 * a VF, and string fields of its JSON records. */
#include "esfm_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void esfm_alias_for(const char *vf_bdf, char alias[ESFM_ALIAS_LEN])
{
    /* libvirt user aliases allow only [A-Za-z0-9_-] after "ua-". */
    size_t o = (size_t)snprintf(alias, ESFM_ALIAS_LEN, "ua-kfarm-");
    for (const char *p = vf_bdf; *p && o + 1 < ESFM_ALIAS_LEN; p++)
        alias[o++] = (*p == ':' || *p == '.') ? '-' : *p;
    alias[o] = '\0';
}

bool esfm_valid_bdf(const char *s)
{
    unsigned d, b, sl, f;
    char tail;
    if (!s || strlen(s) != 12)
        return false;
    if (sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &sl, &f, &tail) != 4)
        return false;
    return s[4] == ':' && s[7] == ':' && s[10] == '.' && sl < 32 && f < 8 &&
           isxdigit((unsigned char)s[0]);
}

int esfm_normalize_bdf(const char *in, char out[ESFM_BDF_LEN])
{
    if (!in)
        return -EINVAL;
    char tmp[ESFM_BDF_LEN + 8];
    if (strlen(in) == 7)
        snprintf(tmp, sizeof tmp, "0000:%s", in);
    else
        snprintf(tmp, sizeof tmp, "%s", in);
    for (char *p = tmp; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!esfm_valid_bdf(tmp))
        return -EINVAL;
    memcpy(out, tmp, 13); /* valid means exactly 12 characters */
    return 0;
}

const char *esfm_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
