/* The <hostdev> XML ESFM hands libvirt, and the parser that reads PCI hostdevs (host address,
 * alias, guest address) back out of a domain's XML, which is the truth for list-vf-vm. */
#include "hv.h"
#include "esfm_internal.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int esfm_hostdev_xml(const char *bdf, const char *alias, char *buf, size_t len)
{
    unsigned d, b, s, f;
    if (sscanf(bdf, "%x:%x:%x.%x", &d, &b, &s, &f) != 4)
        return -EINVAL;
    int n = snprintf(buf, len,
                     "<hostdev mode='subsystem' type='pci' managed='yes'>"
                     "<source><address domain='0x%04x' bus='0x%02x' slot='0x%02x' "
                     "function='0x%x'/></source>"
                     "<alias name='%s'/></hostdev>",
                     d, b, s, f, alias);
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static bool address_bdf(xmlNodePtr addr, char out[ESFM_BDF_LEN])
{
    const char *names[] = {"domain", "bus", "slot", "function"};
    unsigned v[4] = {0};
    for (int i = 0; i < 4; i++) {
        xmlChar *a = xmlGetProp(addr, (const xmlChar *)names[i]);
        if (!a) {
            if (i == 0)
                continue; /* domain defaults to 0 */
            return false;
        }
        v[i] = (unsigned)strtoul((const char *)a, NULL, 0);
        xmlFree(a);
    }
    snprintf(out, ESFM_BDF_LEN, "%04x:%02x:%02x.%x", v[0] & 0xffff, v[1] & 0xff, v[2] & 0x1f,
             v[3] & 7);
    return true;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

int esfm_hostdevs_from_xml(const char *domain, const char *xml, struct esfm_hostdev **out,
                           size_t *n)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return -EINVAL;
    xmlXPathContextPtr xp = xmlXPathNewContext(doc);
    xmlXPathObjectPtr res =
        xp ? xmlXPathEvalExpression(
                 (const xmlChar *)"/domain/devices/hostdev[@mode='subsystem' and @type='pci']", xp)
           : NULL;
    int rc = 0;
    int cnt = (res && res->nodesetval) ? res->nodesetval->nodeNr : 0;
    if (cnt > 0) {
        struct esfm_hostdev *v = realloc(*out, (*n + (size_t)cnt) * sizeof *v);
        if (!v) {
            rc = -ENOMEM;
            goto out;
        }
        *out = v;
        for (int i = 0; i < cnt; i++) {
            xmlNodePtr h = res->nodesetval->nodeTab[i];
            struct esfm_hostdev *e = &v[*n];
            memset(e, 0, sizeof *e);
            if (!address_bdf(child(child(h, "source"), "address"), e->bdf))
                continue;
            snprintf(e->domain, sizeof e->domain, "%s", domain);
            xmlChar *a = xmlGetProp(child(h, "alias"), (const xmlChar *)"name");
            if (a) {
                snprintf(e->alias, sizeof e->alias, "%s", (const char *)a);
                xmlFree(a);
            }
            for (xmlNodePtr c = h->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "address"))
                    continue;
                xmlChar *t = xmlGetProp(c, (const xmlChar *)"type");
                if (t && strcmp((const char *)t, "pci") == 0)
                    address_bdf(c, e->guest_bdf);
                xmlFree(t);
            }
            (*n)++;
        }
    }
out:
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(xp);
    xmlFreeDoc(doc);
    return rc;
}

bool esfm_qmp_is_command_not_found(const char *text)
{
    return text && (strstr(text, "CommandNotFound") || strstr(text, "has not been found"));
}
