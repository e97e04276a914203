/* Accelerator variant: runs the Monte Carlo kernel through the OpenCL ICD loader (an FPGA
 * vendor's ICD, or PoCL on a CPU), with the profiles uploaded once per load. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "ptdr.h"
#include "ptdr_sample.h"

extern const char ptdr_cl_source[];
extern const size_t ptdr_cl_source_len;

struct ptdr_cl {
    pthread_mutex_t lock; /* one command queue: requests run one at a time on the device */
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue queue;
    cl_program prog;
    cl_kernel kernel;
    char name[256];
    int unified; /* device shares host memory (CPU devices such as PoCL) */
    /* Request buffers, kept between requests and grown on demand: creating them per request
     * is a large part of the cost of small requests. Under lock. */
    struct cl_scratch {
        cl_mem mem;
        size_t size;
    } route_off, segs, route_info, req_u, req_seed, req_off, out;
    unsigned long launches; /* kernel launches so far, for tests; under lock */
};

struct ptdr_cl_profiles {
    cl_mem lv, seg_base, slot_rel, values, cumprobs;
};

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

/* Finds the device named by sel; see ptdr_cl_new. */
static int pick_device(const char *sel, cl_device_id *dev, char *name, size_t namelen, char *err,
                       size_t errlen)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || np == 0) {
        snprintf(err, errlen, "no OpenCL platform (is an ICD installed in /etc/OpenCL/vendors?)");
        return -ENODEV;
    }
    unsigned want_p = 0, want_d = 0;
    int by_index = 0;
    char tail;
    if (sel && *sel && sscanf(sel, "%u:%u%c", &want_p, &want_d, &tail) == 2)
        by_index = 1;
    for (cl_uint pi = 0; pi < np && pi < 16; pi++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint di = 0; di < nd && di < 16; di++) {
            char dn[200] = "", pn[50] = "";
            clGetDeviceInfo(devs[di], CL_DEVICE_NAME, sizeof(dn) - 1, dn, NULL);
            clGetPlatformInfo(plats[pi], CL_PLATFORM_NAME, sizeof(pn) - 1, pn, NULL);
            int match = by_index ? (pi == want_p && di == want_d)
                                 : (!sel || !*sel || strstr(dn, sel) || strstr(pn, sel));
            if (match) {
                *dev = devs[di];
                snprintf(name, namelen, "%s: %s", pn, dn);
                return 0;
            }
        }
    }
    snprintf(err, errlen,
             "no OpenCL device matches \"%s\" (give opencl_device=P:D or a part of "
             "the device name; clinfo -l lists them)",
             sel ? sel : "");
    return -ENODEV;
}

static int read_binary(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "opencl_binary %s: cannot open: %s", path, strerror(errno));
        return -errno;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
        free(*buf);
        *buf = NULL;
        fclose(f);
        snprintf(err, errlen, "opencl_binary %s: empty or unreadable", path);
        return -EIO;
    }
    fclose(f);
    *len = (size_t)n;
    return 0;
}

struct ptdr_cl *ptdr_cl_new(const char *sel, const char *binary_path, char *err, size_t errlen)
{
    cl_int e;
    unsigned char *bin = NULL;
    struct ptdr_cl *cl = calloc(1, sizeof(*cl));
    if (!cl)
        FAIL("out of memory");
    pthread_mutex_init(&cl->lock, NULL);
    if (sel && strcmp(sel, "none") == 0)
        FAIL("accelerator disabled (opencl_device=none)");
    if (pick_device(sel, &cl->dev, cl->name, sizeof(cl->name), err, errlen))
        goto fail;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(cl->dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof(unified), &unified, NULL);
    cl->unified = unified == CL_TRUE;
    cl->ctx = clCreateContext(NULL, 1, &cl->dev, NULL, NULL, &e);
    if (!cl->ctx)
        FAIL("%s: clCreateContext failed (%d)", cl->name, e);
    cl->queue = clCreateCommandQueue(cl->ctx, cl->dev, 0, &e);
    if (!cl->queue)
        FAIL("%s: clCreateCommandQueue failed (%d)", cl->name, e);
    if (binary_path && *binary_path) {
        size_t len;
        if (read_binary(binary_path, &bin, &len, err, errlen))
            goto fail;
        const unsigned char *b = bin;
        cl_int status;
        cl->prog = clCreateProgramWithBinary(cl->ctx, 1, &cl->dev, &len, &b, &status, &e);
        if (!cl->prog || status != CL_SUCCESS)
            FAIL("opencl_binary %s: not a program for %s (%d/%d)", binary_path, cl->name, e,
                 status);
    } else {
        const char *src = ptdr_cl_source;
        cl->prog = clCreateProgramWithSource(cl->ctx, 1, &src, &ptdr_cl_source_len, &e);
        if (!cl->prog)
            FAIL("%s: clCreateProgramWithSource failed (%d)", cl->name, e);
    }
    /* Identical results need IEEE division; never -cl-mad-enable / -cl-fast-relaxed-math. */
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(cl->dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof(fp), &fp, NULL);
    const char *opts =
        (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? "-cl-fp32-correctly-rounded-divide-sqrt" : "";
    e = clBuildProgram(cl->prog, 1, &cl->dev, opts, NULL, NULL);
    if (e != CL_SUCCESS) {
        char log[4096] = "";
        clGetProgramBuildInfo(cl->prog, cl->dev, CL_PROGRAM_BUILD_LOG, sizeof(log) - 1, log, NULL);
        FAIL("%s: building the ptdr kernel failed (%d): %s", cl->name, e, log);
    }
    cl->kernel = clCreateKernel(cl->prog, "ptdr_monte_carlo", &e);
    if (!cl->kernel)
        FAIL("%s: no kernel ptdr_monte_carlo in the program (%d)", cl->name, e);
    free(bin);
    return cl;
fail:
    free(bin);
    ptdr_cl_free(cl);
    return NULL;
}

static void release(cl_mem *m);

void ptdr_cl_free(struct ptdr_cl *cl)
{
    if (!cl)
        return;
    struct cl_scratch *bufs[] = {&cl->route_off, &cl->segs,    &cl->route_info, &cl->req_u,
                                 &cl->req_seed,  &cl->req_off, &cl->out};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        release(&bufs[i]->mem);
    if (cl->kernel)
        clReleaseKernel(cl->kernel);
    if (cl->prog)
        clReleaseProgram(cl->prog);
    if (cl->queue)
        clReleaseCommandQueue(cl->queue);
    if (cl->ctx)
        clReleaseContext(cl->ctx);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}

const char *ptdr_cl_device_name(const struct ptdr_cl *cl)
{
    return cl->name;
}

static void release(cl_mem *m)
{
    if (*m)
        clReleaseMemObject(*m);
    *m = NULL;
}

static void device_profiles_free(void *device)
{
    struct ptdr_cl_profiles *d = device;
    release(&d->lv);
    release(&d->seg_base);
    release(&d->slot_rel);
    release(&d->values);
    release(&d->cumprobs);
    free(d);
}

static cl_mem upload(struct ptdr_cl *cl, const void *data, size_t len, cl_int *e)
{
    return clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, len, (void *)data, e);
}

/* Profiles: on a device that shares host memory, use the loaded (often mmap()ed) arrays in
 * place instead of a second copy, so the resident size stays that of one profile set. */
static cl_mem upload_profiles(struct ptdr_cl *cl, const void *data, size_t len, cl_int *e)
{
    if (cl->unified)
        return clCreateBuffer(cl->ctx, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, len, (void *)data,
                              e);
    return upload(cl, data, len, e);
}

int ptdr_cl_upload(struct ptdr_cl *cl, struct ptdr_profiles *p, char *err, size_t errlen)
{
    cl_int e = CL_SUCCESS;
    struct ptdr_cl_profiles *d = calloc(1, sizeof(*d));
    if (!d)
        FAIL("out of memory");
    if (!(d->lv = upload_profiles(cl, p->lv, 4u * p->n_seg, &e)) ||
        !(d->seg_base = upload_profiles(cl, p->seg_base, 4u * p->n_seg, &e)) ||
        !(d->slot_rel = upload_profiles(cl, p->slot_rel, 2u * PTDR_REL_STRIDE * p->n_seg, &e)) ||
        !(d->values = upload_profiles(cl, p->values, 4u * p->n_bins, &e)) ||
        !(d->cumprobs = upload_profiles(cl, p->cumprobs, 4u * p->n_bins, &e)))
        FAIL("%s: uploading %s to the device failed (%d)", cl->name, p->path, e);
    if (p->device && p->device_free)
        p->device_free(p->device);
    p->device = d;
    p->device_free = device_profiles_free;
    return 0;
fail:
    if (d)
        device_profiles_free(d);
    return -ENOMEM;
}

/* Makes b at least len bytes (doubling, so a stream of growing requests reallocates rarely). */
static int scratch(struct ptdr_cl *cl, struct cl_scratch *b, size_t len, cl_mem_flags flags,
                   cl_int *e)
{
    if (b->mem && b->size >= len)
        return 0;
    release(&b->mem);
    size_t size = b->size ? b->size : 4096;
    while (size < len)
        size *= 2;
    b->mem = clCreateBuffer(cl->ctx, flags, size, NULL, e);
    b->size = b->mem ? size : 0;
    return b->mem ? 0 : -1;
}

/* The per-route and per-request arrays of one launch (see ptdr.cl). */
struct launch {
    uint32_t *route_off, *segs, *route_info, *req_u;
    uint64_t *req_seed;
    float *req_off;
    size_t n_routes, n_segs, blocks, work;
};

static void launch_fini(struct launch *l)
{
    free(l->route_off);
    free(l->segs);
    free(l->route_info);
    free(l->req_u);
    free(l->req_seed);
    free(l->req_off);
}

/* Concatenates the requests' routes; times of request j start after those of requests < j. */
static int launch_init(struct launch *l, const struct ptdr_request *const *qs, size_t n)
{
    memset(l, 0, sizeof(*l));
    for (size_t j = 0; j < n; j++) {
        l->n_routes += qs[j]->n_routes;
        l->n_segs += qs[j]->route_off[qs[j]->n_routes];
        size_t b = (qs[j]->samples + PTDR_BLOCK - 1) / PTDR_BLOCK;
        l->blocks = b > l->blocks ? b : l->blocks;
    }
    l->route_off = malloc((l->n_routes + 1) * 4);
    l->segs = malloc((l->n_segs ? l->n_segs : 1) * 4);
    l->route_info = malloc(l->n_routes * 12);
    l->req_u = malloc(n * 8);
    l->req_seed = malloc(n * 8);
    l->req_off = malloc(n * 4);
    if (!l->route_off || !l->segs || !l->route_info || !l->req_u || !l->req_seed || !l->req_off)
        return -ENOMEM;
    size_t g = 0, seg = 0, out = 0;
    for (size_t j = 0; j < n; j++) {
        const struct ptdr_request *q = qs[j];
        l->req_u[2 * j] = q->samples;
        l->req_u[2 * j + 1] = q->dep_slot;
        l->req_seed[j] = q->seed;
        l->req_off[j] = q->dep_offset;
        memcpy(l->segs + seg, q->segs, q->route_off[q->n_routes] * 4u);
        for (uint32_t r = 0; r < q->n_routes; r++, g++) {
            l->route_off[g] = (uint32_t)seg + q->route_off[r];
            l->route_info[3 * g] = (uint32_t)j;
            l->route_info[3 * g + 1] = r;
            l->route_info[3 * g + 2] = (uint32_t)out;
            out += q->samples;
        }
        seg += q->route_off[q->n_routes];
    }
    l->route_off[g] = (uint32_t)seg;
    l->work = out;
    return 0;
}

int ptdr_cl_run(struct ptdr_cl *cl, const struct ptdr_profiles *p, const struct ptdr_request *q,
                float *times, char *err, size_t errlen)
{
    return ptdr_cl_run_batch(cl, p, &q, 1, times, err, errlen);
}

int ptdr_cl_run_batch(struct ptdr_cl *cl, const struct ptdr_profiles *p,
                      const struct ptdr_request *const *qs, size_t n, float *times, char *err,
                      size_t errlen)
{
    const struct ptdr_cl_profiles *d = p->device;
    cl_int e = CL_SUCCESS;
    int rc = -EIO, locked = 0;
    struct launch l;
    if (launch_init(&l, qs, n)) {
        launch_fini(&l);
        snprintf(err, errlen, "out of memory for a batch of %zu requests", n);
        return -ENOMEM;
    }
    if (!d)
        FAIL("%s: the profiles of %s are not on the device", cl->name, p->path);
    if (l.work > PTDR_MAX_WORK)
        FAIL("%s: a launch of %zu samples is over the limit of %u", cl->name, l.work,
             PTDR_MAX_WORK);
    pthread_mutex_lock(&cl->lock);
    locked = 1;
    const struct {
        struct cl_scratch *b;
        size_t len;
        const void *host;
        cl_mem_flags flags;
    } bufs[] = {
        {&cl->route_off, 4 * (l.n_routes + 1), l.route_off, CL_MEM_READ_ONLY},
        {&cl->segs, 4 * (l.n_segs ? l.n_segs : 1), l.segs, CL_MEM_READ_ONLY},
        {&cl->route_info, 12 * l.n_routes, l.route_info, CL_MEM_READ_ONLY},
        {&cl->req_u, 8 * n, l.req_u, CL_MEM_READ_ONLY},
        {&cl->req_seed, 8 * n, l.req_seed, CL_MEM_READ_ONLY},
        {&cl->req_off, 4 * n, l.req_off, CL_MEM_READ_ONLY},
        {&cl->out, 4 * l.work, NULL, CL_MEM_WRITE_ONLY},
    };
    size_t nb = sizeof(bufs) / sizeof(bufs[0]);
    for (size_t i = 0; i < nb; i++)
        if (scratch(cl, bufs[i].b, bufs[i].len, bufs[i].flags, &e))
            FAIL("%s: allocating request buffers failed (%d)", cl->name, e);
    /* Non-blocking writes: the in-order queue runs them before the kernel, and the blocking
     * read at the end returns only after all of it, while the arrays are still alive. */
    for (size_t i = 0; i + 1 < nb; i++)
        if ((e = clEnqueueWriteBuffer(cl->queue, bufs[i].b->mem, CL_FALSE, 0, bufs[i].len,
                                      bufs[i].host, 0, NULL, NULL)) != CL_SUCCESS)
            FAIL("%s: copying the requests to the device failed (%d)", cl->name, e);
    const cl_mem *mems[] = {
        &d->lv,         &d->seg_base,       &d->slot_rel,     &d->values,
        &d->cumprobs,   &cl->route_off.mem, &cl->segs.mem,    &cl->route_info.mem,
        &cl->req_u.mem, &cl->req_seed.mem,  &cl->req_off.mem, &cl->out.mem};
    for (cl_uint i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
        if ((e = clSetKernelArg(cl->kernel, i, sizeof(cl_mem), mems[i])) != CL_SUCCESS)
            FAIL("%s: clSetKernelArg %u failed (%d)", cl->name, i, e);
    /* Blocks of PTDR_BLOCK samples along dimension 0, routes of every request along 1. */
    size_t global[2] = {l.blocks, l.n_routes};
    if ((e = clEnqueueNDRangeKernel(cl->queue, cl->kernel, 2, NULL, global, NULL, 0, NULL, NULL)) !=
        CL_SUCCESS)
        FAIL("%s: launching the kernel failed (%d)", cl->name, e);
    cl->launches++;
    if ((e = clEnqueueReadBuffer(cl->queue, cl->out.mem, CL_TRUE, 0, 4 * l.work, times, 0, NULL,
                                 NULL)) != CL_SUCCESS)
        FAIL("%s: reading the results failed (%d)", cl->name, e);
    rc = 0;
fail:
    if (rc && locked)
        clFinish(cl->queue); /* nothing may still read the arrays after we return */
    if (locked)
        pthread_mutex_unlock(&cl->lock);
    launch_fini(&l);
    return rc;
}

unsigned long ptdr_cl_launches(struct ptdr_cl *cl)
{
    pthread_mutex_lock(&cl->lock);
    unsigned long n = cl->launches;
    pthread_mutex_unlock(&cl->lock);
    return n;
}

int ptdr_cl_save_binary(struct ptdr_cl *cl, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    unsigned char *bin = NULL;
    int rc = -EIO;
    if (clGetProgramInfo(cl->prog, CL_PROGRAM_BINARY_SIZES, sizeof(len), &len, NULL) !=
            CL_SUCCESS ||
        len == 0)
        FAIL("%s: the program has no binary", cl->name);
    bin = malloc(len);
    if (!bin)
        FAIL("out of memory");
    if (clGetProgramInfo(cl->prog, CL_PROGRAM_BINARIES, sizeof(bin), &bin, NULL) != CL_SUCCESS)
        FAIL("%s: clGetProgramInfo(CL_PROGRAM_BINARIES) failed", cl->name);
    /* the one atomic writer: a crash never leaves a half binary for the next load to trip on */
    rc = kf_atomic_write(path, bin, len, 0644, err, errlen);
fail:
    free(bin);
    return rc;
}
