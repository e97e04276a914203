/* The test hook of the crash and fault tests: every externally visible step is counted, and the
 * step named by ESFM_TEST_CRASH_AFTER_STEP (or ..._STOP_AFTER_STEP) kills (or stops) the process.
 */
#include "esfm_internal.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* Says which step on stderr with write(2) only: nothing buffered may be needed after it. */
static void say_step(const char *what_happens, long n, const char *what)
{
    char msg[256];
    int len =
        snprintf(msg, sizeof msg, "esfm: test %s after step %ld (%s)\n", what_happens, n, what);
    if (len > 0 && write(2, msg, (size_t)len) < 0)
        len = 0;
}

void esfm_step(struct esfm_ctx *ctx, const char *what)
{
    long n = atomic_fetch_add(&ctx->steps, 1) + 1;
    if (ctx->crash_after > 0 && n == ctx->crash_after) {
        /* The crash test: die as kill -9 would, with no cleanup, no flush, no atexit. */
        say_step("crash", n, what);
        kill(getpid(), SIGKILL);
        _exit(99); /* not reached */
    }
    if (ctx->stop_after > 0 && n == ctx->stop_after) {
        /* The fault tests: hold still right inside the operation (e.g. while libvirtd is
         * restarted) until the test sends SIGCONT. */
        say_step("stop", n, what);
        raise(SIGSTOP);
    }
}
