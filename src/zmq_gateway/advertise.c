/* Choosing the address written to the endpoint file for wildcard binds. A hostname often does not
 * resolve inside a container or network namespace, or resolves to 127.0.1.1, so interfaces decide.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "advertise.h"

static int is_loopback(uint32_t host_order)
{
    return (host_order >> 24) == 127;
}

/* Calls match(ifa name, address in host order, arg) on every IPv4 of an interface that is up;
 * stores the first match in out. Returns 1 when one matched. */
static int find_ipv4(int (*match)(const char *, uint32_t, const void *), const void *arg, char *out,
                     size_t outlen)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list))
        return 0;
    int found = 0;
    for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
        if (match(i->ifa_name, ntohl(sin->sin_addr.s_addr), arg)) {
            inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outlen);
            found = 1;
        }
    }
    freeifaddrs(list);
    return found;
}

static int match_any(const char *name, uint32_t a, const void *arg)
{
    (void)name;
    (void)arg;
    return !is_loopback(a) && (a >> 16) != 0xa9fe; /* not 169.254/16 link-local */
}

static int match_name(const char *name, uint32_t a, const void *arg)
{
    (void)a;
    return strcmp(name, arg) == 0;
}

struct subnet {
    uint32_t net, mask;
};

static int match_subnet(const char *name, uint32_t a, const void *arg)
{
    (void)name;
    const struct subnet *s = arg;
    return (a & s->mask) == s->net;
}

static int match_address(const char *name, uint32_t a, const void *arg)
{
    (void)name;
    return a == *(const uint32_t *)arg;
}

/* The hostname's IPv4, if it is not loopback and an interface here holds it. */
static int from_hostname(char *out, size_t outlen)
{
    char name[256];
    if (gethostname(name, sizeof(name)))
        return 0;
    name[sizeof(name) - 1] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(name, NULL, &hints, &res))
        return 0;
    int found = 0;
    for (struct addrinfo *ai = res; ai && !found; ai = ai->ai_next) {
        uint32_t a = ntohl(((const struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr);
        found = !is_loopback(a) && find_ipv4(match_address, &a, out, outlen);
    }
    freeaddrinfo(res);
    return found;
}

/* The interface of the IPv4 default route, from /proc/net/route. */
static int default_route_interface(char *ifname, size_t len)
{
    FILE *f = fopen("/proc/net/route", "r");
    if (!f)
        return 0;
    char line[256], name[64];
    unsigned long dest, mask;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", name, &dest, &mask) == 3 &&
            dest == 0 && mask == 0 && strlen(name) < len) {
            strcpy(ifname, name);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static int parse_subnet(const char *s, struct subnet *out)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(addr))
        return -1;
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    struct in_addr in;
    if (*end || end == slash + 1 || bits < 0 || bits > 32 || inet_pton(AF_INET, addr, &in) != 1)
        return -1;
    out->mask = bits ? ~(uint32_t)0 << (32 - bits) : 0;
    out->net = ntohl(in.s_addr) & out->mask;
    return 0;
}

int kf_advertise_resolve(const char *want, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!want) {
        char ifname[64];
        if (from_hostname(out, outlen))
            return 0;
        if (default_route_interface(ifname, sizeof(ifname)) &&
            find_ipv4(match_name, ifname, out, outlen))
            return 0;
        if (find_ipv4(match_any, NULL, out, outlen))
            return 0;
        snprintf(out, outlen, "127.0.0.1");
        return 0;
    }
    if (strchr(want, '/')) {
        struct subnet s;
        if (parse_subnet(want, &s)) {
            return kf_errf(err, errlen, -EINVAL,
                           "--advertise %s: expected a subnet such as 10.1.0.0/16", want);
        }
        if (find_ipv4(match_subnet, &s, out, outlen))
            return 0;
        return kf_errf(err, errlen, -EADDRNOTAVAIL,
                       "--advertise %s: no interface of this node has an IPv4 address in that "
                       "subnet; give the subnet of the network clients use",
                       want);
    }
    if (if_nametoindex(want)) {
        if (find_ipv4(match_name, want, out, outlen))
            return 0;
        return kf_errf(err, errlen, -EINVAL,
                       "--advertise %s: that interface has no IPv4 address or is down", want);
    }
    snprintf(out, outlen, "%s", want);
    return 0;
}
