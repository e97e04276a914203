/* Least-squares linear model metric ~ a + b . features, used by kfarm-learner per configuration. */
#ifndef KFARM_TUNER_LINEAR_MODEL_H
#define KFARM_TUNER_LINEAR_MODEL_H

#include <kfarm/tuner.h>

struct linear_model {
    size_t p;                            /* number of features */
    int use[TUNER_MAX_FEATURES];         /* features that vary in the data */
    double coef[TUNER_MAX_FEATURES + 1]; /* intercept first */
    double resid_sd;
    size_t n;
};

/* X: n rows of p features; y: n values. Features constant over the data get no coefficient;
 * with too few rows the model is the mean. Returns 0 or -EINVAL (n == 0). */
int linear_model_fit(struct linear_model *m, const double *X, const double *y, size_t n, size_t p);
double linear_model_predict(const struct linear_model *m, const double *x);

#endif
