/* Ordinary least squares with an intercept over the features that vary, solved through the
 * normal equations with partial pivoting (a handful of features: no need for QR). */
#include "linear_model.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define DIM (TUNER_MAX_FEATURES + 1)

static int solve(double a[DIM][DIM + 1], size_t n, double *x)
{
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r][c]) > fabs(a[piv][c]))
                piv = r;
        if (fabs(a[piv][c]) < 1e-300)
            return -1;
        if (piv != c)
            for (size_t k = 0; k <= n; k++) {
                double t = a[c][k];
                a[c][k] = a[piv][k];
                a[piv][k] = t;
            }
        for (size_t r = 0; r < n; r++) {
            if (r == c)
                continue;
            double f = a[r][c] / a[c][c];
            for (size_t k = c; k <= n; k++)
                a[r][k] -= f * a[c][k];
        }
    }
    for (size_t c = 0; c < n; c++)
        x[c] = a[c][n] / a[c][c];
    return 0;
}

int linear_model_fit(struct linear_model *m, const double *X, const double *y, size_t n, size_t p)
{
    memset(m, 0, sizeof(*m));
    if (n == 0 || p > TUNER_MAX_FEATURES)
        return -EINVAL;
    m->p = p;
    m->n = n;
    size_t idx[TUNER_MAX_FEATURES], q = 0;
    for (size_t j = 0; j < p; j++) {
        for (size_t i = 1; i < n; i++)
            if (X[i * p + j] != X[j]) {
                m->use[j] = 1;
                idx[q++] = j;
                break;
            }
    }
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    m->coef[0] = mean;
    if (q > 0 && n > q + 1) {
        /* scale columns so that sizes in the millions do not wreck the conditioning */
        double scale[TUNER_MAX_FEATURES];
        for (size_t a = 0; a < q; a++) {
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s = fmax(s, fabs(X[i * p + idx[a]]));
            scale[a] = s > 0 ? s : 1;
        }
        double A[DIM][DIM + 1];
        memset(A, 0, sizeof(A));
        for (size_t i = 0; i < n; i++) {
            double row[DIM];
            row[0] = 1;
            for (size_t a = 0; a < q; a++)
                row[a + 1] = X[i * p + idx[a]] / scale[a];
            for (size_t r = 0; r <= q; r++) {
                for (size_t c = 0; c <= q; c++)
                    A[r][c] += row[r] * row[c];
                A[r][q + 1] += row[r] * y[i];
            }
        }
        /* solve() fills sol[0..q]; zeroed because gcc -O3 cannot bound q (q + 1 could wrap to
         * 0 for all it knows) and reports the reads below as maybe-uninitialized. */
        double sol[DIM] = {0};
        if (solve(A, q + 1, sol) == 0) {
            memset(m->coef, 0, sizeof(m->coef));
            m->coef[0] = sol[0];
            for (size_t a = 0; a < q; a++)
                m->coef[idx[a] + 1] = sol[a + 1] / scale[a];
        } else {
            memset(m->use, 0, sizeof(m->use));
        }
    } else {
        memset(m->use, 0, sizeof(m->use));
    }
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double r = y[i] - linear_model_predict(m, X + i * p);
        ss += r * r;
    }
    m->resid_sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    return 0;
}

double linear_model_predict(const struct linear_model *m, const double *x)
{
    double v = m->coef[0];
    for (size_t j = 0; j < m->p; j++)
        if (m->use[j])
            v += m->coef[j + 1] * x[j];
    return v;
}
