/* The job side of the per-VF records in the state file: which jobs hold a VF, and dropping a job
 * from them. */
#include "job.h"

#include <ctype.h>
#include <string.h>

bool job_id_valid(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

cJSON *job_entry(cJSON *rec, const char *job_id, int *idx)
{
    int i = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "jobs"))
    {
        const char *j = esfm_json_str(e, "job");
        if (j && strcmp(j, job_id) == 0) {
            if (idx)
                *idx = i;
            return e;
        }
        i++;
    }
    return NULL;
}

void job_drop(cJSON *st, const char *job_id, const char *only_vf)
{
    cJSON *vfs = cJSON_GetObjectItemCaseSensitive(st, "vfs");
    cJSON *r = vfs ? vfs->child : NULL;
    while (r) {
        cJSON *next = r->next;
        int idx;
        if ((!only_vf || strcmp(r->string, only_vf) == 0) && job_entry(r, job_id, &idx)) {
            cJSON_DeleteItemFromArray(cJSON_GetObjectItemCaseSensitive(r, "jobs"), idx);
            if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "jobs")) == 0)
                cJSON_DeleteItemFromObjectCaseSensitive(vfs, r->string);
        }
        r = next;
    }
}
