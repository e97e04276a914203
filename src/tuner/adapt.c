/* Error-coefficient adaptation: observed metric values are compared with what the current OP
 * expects; the averaged coefficient rescales the goals of the constraints on that metric. */
#include "tuner_private.h"

#include <math.h>
#include <stdlib.h>

int tuner_set_adaptation(struct tuner *t, size_t metric, size_t window, size_t inertia)
{
    if (metric >= t->nm || window == 0 || inertia == 0)
        return -EINVAL;
    struct metric *m = &t->metrics[metric];
    struct tuner_monitor *mon = tuner_monitor_new(window);
    double *ring = calloc(inertia, sizeof(double));
    if (!mon || !ring) {
        tuner_monitor_free(mon);
        free(ring);
        return -ENOMEM;
    }
    tuner_monitor_free(m->mon);
    free(m->ring);
    m->mon = mon;
    m->ring = ring;
    m->inertia = inertia;
    m->ring_n = m->ring_pos = 0;
    if (m->coef != 1.0) {
        m->coef = 1.0;
        tuner_invalidate(t);
    }
    return 0;
}

int tuner_observe(struct tuner *t, size_t metric, double value)
{
    if (metric >= t->nm)
        return -EINVAL;
    struct metric *m = &t->metrics[metric];
    if (!m->mon)
        return -ENOENT;
    tuner_monitor_push(m->mon, value);
    if (!t->have_current)
        return 0; /* no OP to compare with yet */
    double expected = t->op_mean[t->last.op * t->nm + metric];
    double sd = t->op_std[t->last.op * t->nm + metric];
    double observed = tuner_monitor_avg(m->mon);
    double sample = 1.0;
    if (tuner_monitor_full(m->mon) && fabs(observed - expected) > sd && observed != 0.0 &&
        isfinite(expected / observed))
        sample = expected / observed;
    m->ring[m->ring_pos] = sample;
    m->ring_pos = (m->ring_pos + 1) % m->inertia;
    if (m->ring_n < m->inertia)
        m->ring_n++;
    double sum = 0;
    for (size_t i = 0; i < m->ring_n; i++)
        sum += m->ring[i];
    double coef = sum / (double)m->ring_n;
    if (coef != m->coef) {
        m->coef = coef;
        tuner_invalidate(t);
    }
    return 0;
}

double tuner_error_coefficient(const struct tuner *t, size_t metric)
{
    return metric < t->nm ? t->metrics[metric].coef : 1.0;
}

void tuner_reset_monitors(struct tuner *t)
{
    for (size_t i = 0; i < t->nm; i++)
        if (t->metrics[i].mon)
            tuner_monitor_clear(t->metrics[i].mon);
}

void tuner_reset_adaptation(struct tuner *t, size_t metric)
{
    if (metric >= t->nm || !t->metrics[metric].mon)
        return;
    struct metric *m = &t->metrics[metric];
    tuner_monitor_clear(m->mon);
    m->ring_n = m->ring_pos = 0;
    if (m->coef != 1.0) {
        m->coef = 1.0;
        tuner_invalidate(t);
    }
}
