/* Example kfarm adapter: kind `primes` counts the primes <= N (payload: N in decimal, at most
 * 2000000) with a CPU variant and an OpenCL variant, and one knob, `chunk` (numbers per OpenCL
 * work-item), that the tuner picks per size of N. Copy this file to start your own kernel; the
 * tutorial is kfarm's docs/adapters.md.
 *
 * Build: `make` (plain Makefile) or `cmake -S . -B build && cmake --build build`, both through
 * `pkg-config kfarm-adapter`. Serve: `srun -n 3 kfarm --adapter ./primes.so --bind ...`. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kfarm/adapter.h>

#define MAX_N 2000000ul

/* The accelerator: one context, queue and kernel, made once at init. */
struct primes {
    cl_context ctx;
    cl_command_queue queue;
    cl_program prog;
    cl_kernel kernel;
    char why[256]; /* why there is no accelerator */
};

static const char *cl_source =
    "__kernel void count_primes(ulong n, uint chunk, __global uint *counts) {\n"
    "    ulong lo = (ulong)get_global_id(0) * chunk + 2, hi = lo + chunk;\n"
    "    if (hi > n + 1) hi = n + 1;\n"
    "    uint c = 0;\n"
    "    for (ulong x = lo; x < hi; x++) {\n"
    "        uint prime = 1;\n"
    "        for (ulong d = 2; d * d <= x; d++)\n"
    "            if (x % d == 0) { prime = 0; break; }\n"
    "        c += prime;\n"
    "    }\n"
    "    counts[get_global_id(0)] = c;\n"
    "}\n";

/* Sets up OpenCL; without a device the adapter still serves with the CPU variant. */
static void open_device(struct primes *p)
{
    cl_platform_id plat;
    cl_device_id dev;
    cl_uint n = 0;
    cl_int e;
    if (clGetPlatformIDs(1, &plat, &n) != CL_SUCCESS || n == 0 ||
        clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 1, &dev, &n) != CL_SUCCESS || n == 0) {
        snprintf(p->why, sizeof(p->why), "no OpenCL device (install an ICD, e.g. pocl-opencl-icd)");
        return;
    }
    p->ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &e);
    p->queue = p->ctx ? clCreateCommandQueue(p->ctx, dev, 0, &e) : NULL;
    p->prog = p->queue ? clCreateProgramWithSource(p->ctx, 1, &cl_source, NULL, &e) : NULL;
    if (p->prog && clBuildProgram(p->prog, 1, &dev, "", NULL, NULL) == CL_SUCCESS)
        p->kernel = clCreateKernel(p->prog, "count_primes", &e);
    if (!p->kernel)
        snprintf(p->why, sizeof(p->why), "OpenCL setup failed (%d)", e);
}

static void primes_fini(void *state)
{
    struct primes *p = state;
    if (!p)
        return;
    if (p->kernel)
        clReleaseKernel(p->kernel);
    if (p->prog)
        clReleaseProgram(p->prog);
    if (p->queue)
        clReleaseCommandQueue(p->queue);
    if (p->ctx)
        clReleaseContext(p->ctx);
    free(p);
}

static int primes_init(void **state, const struct kf_args *args, char *err, size_t errlen)
{
    (void)args; /* --adapter-arg KEY=VALUE pairs; kf_args_get(args, "key") reads one */
    struct primes *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "primes: out of memory");
        return KF_ERROR;
    }
    open_device(p);
    *state = p;
    return KF_OK;
}

/* The payload: N in decimal. Errors go back to the client as the reply's message. */
static int parse_n(const void *payload, size_t len, unsigned long *n, struct kf_result *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return kf_result_error(out, "primes: payload must be N in decimal, 2 <= N <= %lu", MAX_N);
    memcpy(buf, payload, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    *n = strtoul(buf, &end, 10);
    if (errno || *end || buf[0] == '-' || *n < 2 || *n > MAX_N)
        return kf_result_error(out, "primes: '%s' is not a number in 2..%lu", buf, MAX_N);
    return KF_OK;
}

static int reply_count(unsigned long count, struct kf_result *out)
{
    char num[24];
    int w = snprintf(num, sizeof(num), "%lu", count);
    return kf_result_set(out, num, (size_t)w);
}

static int primes_cpu(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                      struct kf_result *out)
{
    (void)state;
    (void)knobs; /* chunk only shapes the OpenCL launch */
    unsigned long n, count = 0;
    if (parse_n(payload, len, &n, out) != KF_OK)
        return KF_ERROR;
    for (unsigned long x = 2; x <= n; x++) {
        int prime = 1;
        for (unsigned long d = 2; d * d <= x; d++)
            if (x % d == 0) {
                prime = 0;
                break;
            }
        count += (unsigned long)prime;
    }
    return reply_count(count, out);
}

static int primes_accel(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                        struct kf_result *out)
{
    struct primes *p = state;
    if (!p->kernel) {
        kf_result_error(out, "accelerator unavailable: %s", p->why);
        return KF_UNAVAILABLE; /* the worker runs the CPU variant instead */
    }
    unsigned long n;
    if (parse_n(payload, len, &n, out) != KF_OK)
        return KF_ERROR;
    cl_uint chunk = (cl_uint)kf_knob_get(knobs, 0, 384);
    size_t items = (n - 1 + chunk - 1) / chunk;
    cl_int e;
    cl_mem counts = clCreateBuffer(p->ctx, CL_MEM_WRITE_ONLY, items * sizeof(cl_uint), NULL, &e);
    cl_uint *host = malloc(items * sizeof(cl_uint));
    cl_ulong cn = n;
    int rc = KF_UNAVAILABLE;
    if (!counts || !host || clSetKernelArg(p->kernel, 0, sizeof(cn), &cn) != CL_SUCCESS ||
        clSetKernelArg(p->kernel, 1, sizeof(chunk), &chunk) != CL_SUCCESS ||
        clSetKernelArg(p->kernel, 2, sizeof(counts), &counts) != CL_SUCCESS ||
        clEnqueueNDRangeKernel(p->queue, p->kernel, 1, NULL, &items, NULL, 0, NULL, NULL) !=
            CL_SUCCESS ||
        clEnqueueReadBuffer(p->queue, counts, CL_TRUE, 0, items * sizeof(cl_uint), host, 0, NULL,
                            NULL) != CL_SUCCESS) {
        kf_result_error(out, "accelerator unavailable: the OpenCL launch failed");
    } else {
        unsigned long count = 0;
        for (size_t i = 0; i < items; i++)
            count += host[i];
        rc = reply_count(count, out);
    }
    free(host);
    if (counts)
        clReleaseMemObject(counts);
    return rc;
}

/* One feature, N, so that the tuner learns per size (sizes of similar magnitude share a
 * cluster); the work of a request grows with N. */
static int primes_features(void *state, const void *payload, size_t len, double *f, size_t max)
{
    (void)state;
    struct kf_result scratch;
    unsigned long n;
    if (max < 1 || parse_n(payload, len, &n, &scratch) != KF_OK)
        return -1;
    f[0] = (double)n;
    return 1;
}

static double primes_work(void *state, const void *payload, size_t len, const double *f, size_t n)
{
    (void)state;
    (void)payload;
    (void)len;
    return n == 1 ? f[0] : 1;
}

static int primes_accel_available(void *state)
{
    return ((struct primes *)state)->kernel != NULL;
}

static const char *const feature_names[] = {"n", NULL};

static const struct kf_knob knobs[] = {
    {.name = "chunk", .type = KF_KNOB_RANGE, .min = 64, .max = 1024, .step = 320, .def = 384},
};

static const struct kf_kernel kernels[] = {
    {.kind = "primes",
     .cpu = primes_cpu,
     .accel = primes_accel,
     .features = primes_features,
     .feature_names = feature_names,
     .knobs = knobs,
     .n_knobs = 1,
     .work_units = primes_work,
     .flags = KF_KERNEL_RETRY_SAFE},
};

/* The one symbol kfarm looks up in the .so (KF_ADAPTER_SYMBOL). */
const struct kf_adapter kfarm_adapter = {
    .abi_version = KF_ADAPTER_ABI_VERSION,
    .name = "primes",
    .init = primes_init,
    .fini = primes_fini,
    .kernels = kernels,
    .n_kernels = 1,
    .accel_available = primes_accel_available,
};
