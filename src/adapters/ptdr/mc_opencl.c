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
    } route_off, segs, out;
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
    release(&cl->route_off.mem);
    release(&cl->segs.mem);
    release(&cl->out.mem);
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

int ptdr_cl_run(struct ptdr_cl *cl, const struct ptdr_profiles *p, const struct ptdr_request *q,
                float *times, char *err, size_t errlen)
{
    const struct ptdr_cl_profiles *d = p->device;
    cl_int e = CL_SUCCESS;
    int rc = -EIO, locked = 0;
    size_t n_segs = q->route_off[q->n_routes];
    size_t work = (size_t)q->n_routes * q->samples;
    if (!d)
        FAIL("%s: the profiles of %s are not on the device", cl->name, p->path);
    pthread_mutex_lock(&cl->lock);
    locked = 1;
    size_t off_len = 4u * (q->n_routes + 1u), segs_len = 4u * n_segs;
    if (scratch(cl, &cl->route_off, off_len, CL_MEM_READ_ONLY, &e) ||
        scratch(cl, &cl->segs, segs_len, CL_MEM_READ_ONLY, &e) ||
        scratch(cl, &cl->out, 4u * work, CL_MEM_WRITE_ONLY, &e))
        FAIL("%s: allocating request buffers failed (%d)", cl->name, e);
    cl_mem route_off = cl->route_off.mem, segs = cl->segs.mem, out = cl->out.mem;
    /* Non-blocking writes: the in-order queue runs them before the kernel, and the blocking
     * read at the end returns only after all of it, while q is still alive. */
    if ((e = clEnqueueWriteBuffer(cl->queue, route_off, CL_FALSE, 0, off_len, q->route_off, 0, NULL,
                                  NULL)) != CL_SUCCESS ||
        (e = clEnqueueWriteBuffer(cl->queue, segs, CL_FALSE, 0, segs_len, q->segs, 0, NULL,
                                  NULL)) != CL_SUCCESS)
        FAIL("%s: copying the request to the device failed (%d)", cl->name, e);
    cl_ulong seed = q->seed;
    cl_uint samples = q->samples, dep_slot = q->dep_slot;
    cl_float dep_offset = q->dep_offset;
    const struct {
        size_t size;
        const void *value;
    } args[] = {
        {sizeof(cl_mem), &d->lv},
        {sizeof(cl_mem), &d->seg_base},
        {sizeof(cl_mem), &d->slot_rel},
        {sizeof(cl_mem), &d->values},
        {sizeof(cl_mem), &d->cumprobs},
        {sizeof(cl_mem), &route_off},
        {sizeof(cl_mem), &segs},
        {sizeof(samples), &samples},
        {sizeof(seed), &seed},
        {sizeof(dep_slot), &dep_slot},
        {sizeof(dep_offset), &dep_offset},
        {sizeof(cl_mem), &out},
    };
    for (cl_uint i = 0; i < sizeof(args) / sizeof(args[0]); i++)
        if ((e = clSetKernelArg(cl->kernel, i, args[i].size, args[i].value)) != CL_SUCCESS)
            FAIL("%s: clSetKernelArg %u failed (%d)", cl->name, i, e);
    /* Blocks of PTDR_BLOCK samples along dimension 0, routes along dimension 1. */
    size_t global[2] = {(q->samples + PTDR_BLOCK - 1) / PTDR_BLOCK, q->n_routes};
    if ((e = clEnqueueNDRangeKernel(cl->queue, cl->kernel, 2, NULL, global, NULL, 0, NULL, NULL)) !=
        CL_SUCCESS)
        FAIL("%s: launching the kernel failed (%d)", cl->name, e);
    if ((e = clEnqueueReadBuffer(cl->queue, out, CL_TRUE, 0, 4u * work, times, 0, NULL, NULL)) !=
        CL_SUCCESS)
        FAIL("%s: reading the results failed (%d)", cl->name, e);
    rc = 0;
fail:
    if (rc && locked)
        clFinish(cl->queue); /* nothing may still read q's arrays after we return */
    if (locked)
        pthread_mutex_unlock(&cl->lock);
    return rc;
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
