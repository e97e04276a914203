/* Guest-side check of the kfarm_vf ioctl ABI: every bad call fails with its documented errno and
 * leaves the VF's queue count (sysfs kfarm/busy) as it was; with --unbind, a file whose VF was
 * unbound under it gets ENODEV and closes cleanly. Built static to run in the guest. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kfarm_vf.h"

static const char *bdf;
static int failures;

/* The VF's active queue count from /sys/bus/pci/devices/<bdf>/kfarm/busy. */
static long busy_queues(void)
{
    char path[256];
    long q = -1;
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/kfarm/busy", bdf);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &q) != 1)
        q = -1;
    fclose(f);
    return q;
}

/* Runs ioctl(fd, cmd, arg) and checks its result (want_errno 0: returns want_ret). */
static void expect(const char *what, int fd, unsigned long cmd, void *arg, int want_ret,
                   int want_errno, long want_busy)
{
    errno = 0;
    int ret = ioctl(fd, cmd, arg);
    int err = ret < 0 ? errno : 0;
    long busy = busy_queues();
    int ok = want_errno ? (ret == -1 && err == want_errno) : ret == want_ret;
    ok = ok && busy == want_busy;
    printf("%s: %s -> ret %d errno %s, busy %ld", ok ? "ok" : "FAIL", what, ret,
           err ? strerror(err) : "0", busy);
    if (!ok) {
        printf(" (want %s, busy %ld)", want_errno ? strerror(want_errno) : "success", want_busy);
        failures++;
    }
    printf("\n");
}

/* Opens the VF, adds a queue, unbinds the VF from kfarm_vf under the open file, then expects ENODEV
 * from both ioctls and from a new open. */
static int check_unbind(void)
{
    char path[256], unbind[256];
    snprintf(path, sizeof path, "/dev/kfarm_vf/%s", bdf);
    snprintf(unbind, sizeof unbind, "/sys/bus/pci/devices/%s/driver/unbind", bdf);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "kfarm_vf_ioctl_check: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct kfarm_vf_queues q = {.count = 1};
    expect("add 1", fd, KFARM_VF_QUEUE_ADD, &q, 1, 0, 1);
    FILE *f = fopen(unbind, "we");
    if (!f || fprintf(f, "%s\n", bdf) < 0 || fclose(f) != 0) {
        fprintf(stderr, "kfarm_vf_ioctl_check: cannot write %s: %s\n", unbind, strerror(errno));
        return 1;
    }
    /* busy_queues() is -1 now: the VF's kfarm/busy left with the driver. */
    expect("add after unbind", fd, KFARM_VF_QUEUE_ADD, &q, 0, ENODEV, -1);
    expect("del after unbind", fd, KFARM_VF_QUEUE_DEL, &q, 0, ENODEV, -1);
    int fd2 = open(path, O_RDWR | O_CLOEXEC);
    int ok = fd2 < 0;
    printf("%s: %s is gone after unbind (open: %s)\n", ok ? "ok" : "FAIL", path,
           ok ? strerror(errno) : "succeeded");
    failures += !ok;
    if (fd2 >= 0)
        close(fd2);
    ok = close(fd) == 0;
    printf("%s: close of the orphaned file\n", ok ? "ok" : "FAIL");
    failures += !ok;
    printf("%d failed checks\n", failures);
    return failures ? 1 : 0;
}

/* For SECONDS, opens the VF, adds and deletes a few queues and closes, some files still holding
 * queues, so that the kernel's bookkeeping races with other processes and sysfs readers. Every
 * call must succeed: nothing else touches this VF. */
static int churn(int seconds)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/kfarm_vf/%s", bdf);
    time_t end = time(NULL) + seconds;
    unsigned long rounds = 0, seed = (unsigned long)getpid();
    while (time(NULL) < end) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            printf("FAIL: churn open %s: %s\n", path, strerror(errno));
            return 1;
        }
        seed = seed * 1103515245 + 12345;
        struct kfarm_vf_queues q = {.count = 1 + (unsigned)(seed >> 16) % 4};
        unsigned held = q.count;
        if (ioctl(fd, KFARM_VF_QUEUE_ADD, &q) < 0) {
            printf("FAIL: churn add %u: %s\n", q.count, strerror(errno));
            return 1;
        }
        q.count = 1 + (unsigned)(seed >> 20) % held;
        if ((seed >> 24) % 2 && ioctl(fd, KFARM_VF_QUEUE_DEL, &q) < 0) {
            printf("FAIL: churn del %u of %u: %s\n", q.count, held, strerror(errno));
            return 1;
        }
        close(fd);
        rounds++;
    }
    printf("ok: churn on %s: %lu rounds\n", bdf, rounds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--unbind") == 0) {
        bdf = argv[2];
        return check_unbind();
    }
    if (argc == 4 && strcmp(argv[1], "--churn") == 0) {
        bdf = argv[3];
        return churn(atoi(argv[2]));
    }
    if (argc != 2) {
        fprintf(stderr, "usage: kfarm_vf_ioctl_check [--unbind | --churn SECONDS] VF-BDF\n");
        return 2;
    }
    bdf = argv[1];
    char path[256];
    snprintf(path, sizeof path, "/dev/kfarm_vf/%s", bdf);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int fd2 = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fd2 < 0) {
        fprintf(stderr, "kfarm_vf_ioctl_check: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct kfarm_vf_queues q = {.count = 2};
    expect("add 2", fd, KFARM_VF_QUEUE_ADD, &q, 2, 0, 2);

    expect("add, NULL argument", fd, KFARM_VF_QUEUE_ADD, NULL, 0, EFAULT, 2);
    expect("del, unmapped argument", fd, KFARM_VF_QUEUE_DEL, (void *)(uintptr_t)8, 0, EFAULT, 2);
    q = (struct kfarm_vf_queues){.count = 0};
    expect("add 0 queues", fd, KFARM_VF_QUEUE_ADD, &q, 0, EINVAL, 2);
    q = (struct kfarm_vf_queues){.count = 1, .flags = 1};
    expect("add with flags", fd, KFARM_VF_QUEUE_ADD, &q, 0, EINVAL, 2);
    q = (struct kfarm_vf_queues){.count = 1, .reserved = 1};
    expect("del with reserved set", fd, KFARM_VF_QUEUE_DEL, &q, 0, EINVAL, 2);
    q = (struct kfarm_vf_queues){.count = KFARM_VF_MAX_QUEUES + 1};
    expect("add above the per-VF limit", fd, KFARM_VF_QUEUE_ADD, &q, 0, ERANGE, 2);
    q = (struct kfarm_vf_queues){.count = KFARM_VF_MAX_QUEUES - 1};
    expect("add to a total above the limit", fd, KFARM_VF_QUEUE_ADD, &q, 0, ERANGE, 2);
    q = (struct kfarm_vf_queues){.count = 0xffffffffu};
    expect("del 2^32-1", fd, KFARM_VF_QUEUE_DEL, &q, 0, ERANGE, 2);
    q = (struct kfarm_vf_queues){.count = 3};
    expect("del 3 of 2 held (below zero)", fd, KFARM_VF_QUEUE_DEL, &q, 0, ERANGE, 2);
    q = (struct kfarm_vf_queues){.count = 1};
    expect("del 1 on a file holding none", fd2, KFARM_VF_QUEUE_DEL, &q, 0, ERANGE, 2);
    expect("unknown ioctl", fd, _IO(KFARM_VF_IOC_MAGIC, 0x7f), &q, 0, ENOTTY, 2);
    expect("queue add with a wrong size", fd, _IOW(KFARM_VF_IOC_MAGIC, 0x01, __u32), &q, 0, ENOTTY,
           2);
    expect("a tty ioctl", fd, TCGETS, &q, 0, ENOTTY, 2);

    expect("add 1 on a second file", fd2, KFARM_VF_QUEUE_ADD, &q, 3, 0, 3);
    close(fd2);
    long after_close = busy_queues();
    printf("%s: closing the second file releases its queue -> busy %ld\n",
           after_close == 2 ? "ok" : "FAIL", after_close);
    failures += after_close != 2;

    q = (struct kfarm_vf_queues){.count = 2};
    expect("del 2", fd, KFARM_VF_QUEUE_DEL, &q, 0, 0, 0);
    q = (struct kfarm_vf_queues){.count = 1};
    expect("del below zero", fd, KFARM_VF_QUEUE_DEL, &q, 0, ERANGE, 0);
    close(fd);
    printf("%d failed checks\n", failures);
    return failures ? 1 : 0;
}
