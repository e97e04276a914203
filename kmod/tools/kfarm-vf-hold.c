// SPDX-License-Identifier: GPL-2.0
/*
 * kfarm-vf-hold: opens a kfarm VF and holds N active queues on it until killed,
 * the way a DMA user process would; tests and demos use it to make a VF busy.
 *
 * usage: kfarm-vf-hold [-n QUEUES] VF
 *   VF is a BDF (0000:01:00.1) or a device path (/dev/kfarm_vf/0000:01:00.1).
 * Prints "holding <n> queues on <VF>, VF active <total>, pid <pid>" once the
 * queues are added, then waits for SIGTERM/SIGINT; the kernel deletes the
 * queues when the file is closed, whether the program exits or is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kfarm_vf.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: kfarm-vf-hold [-n QUEUES] VF (BDF or /dev/kfarm_vf/BDF)\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct kfarm_vf_queues q = { .count = 1 };
	struct sigaction sa;
	char path[256];
	char *end;
	long n;
	int opt, fd, active;
	sigset_t mask, old;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		switch (opt) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > KFARM_VF_MAX_QUEUES) {
				fprintf(stderr, "kfarm-vf-hold: -n wants 1..%d, got '%s'\n",
					KFARM_VF_MAX_QUEUES, optarg);
				return 2;
			}
			q.count = (__u32)n;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	if (strchr(argv[optind], '/'))
		snprintf(path, sizeof(path), "%s", argv[optind]);
	else
		snprintf(path, sizeof(path), "/dev/kfarm_vf/%s", argv[optind]);

	/* Block the signals first so that a kill right after "holding" is not lost. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old);

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kfarm-vf-hold: cannot open %s: %s (VF bound to kfarm_vf?)\n",
			path, strerror(errno));
		return 1;
	}
	active = ioctl(fd, KFARM_VF_QUEUE_ADD, &q);
	if (active < 0) {
		fprintf(stderr, "kfarm-vf-hold: KFARM_VF_QUEUE_ADD %u on %s: %s\n",
			q.count, path, strerror(errno));
		close(fd);
		return 1;
	}
	printf("holding %u queues on %s, VF active %d, pid %d\n", q.count, path,
	       active, (int)getpid());
	fflush(stdout);

	while (!stop)
		sigsuspend(&old);
	close(fd);
	return 0;
}
