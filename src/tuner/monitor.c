/* Monitors: a fixed window of the last observations of a metric, with average, stddev, min,
 * max and last; push and average are O(1), min/max/stddev scan the (small) window. */
#include "tuner_private.h"

#include <math.h>
#include <stdlib.h>

struct tuner_monitor {
    size_t window, n, pos;
    double sum, last;
    double v[];
};

struct tuner_monitor *tuner_monitor_new(size_t window)
{
    if (window == 0)
        window = 1;
    struct tuner_monitor *m = calloc(1, sizeof(*m) + window * sizeof(double));
    if (m)
        m->window = window;
    return m;
}

void tuner_monitor_free(struct tuner_monitor *m)
{
    free(m);
}

void tuner_monitor_push(struct tuner_monitor *m, double v)
{
    if (m->n == m->window)
        m->sum -= m->v[m->pos];
    else
        m->n++;
    m->v[m->pos] = v;
    m->sum += v;
    m->pos = (m->pos + 1) % m->window;
    m->last = v;
    if (m->pos == 0) {
        /* re-sum once per lap so rounding errors of the running sum cannot accumulate */
        double s = 0;
        for (size_t i = 0; i < m->n; i++)
            s += m->v[i];
        m->sum = s;
    }
}

void tuner_monitor_clear(struct tuner_monitor *m)
{
    m->n = m->pos = 0;
    m->sum = m->last = 0;
}

size_t tuner_monitor_count(const struct tuner_monitor *m)
{
    return m->n;
}

int tuner_monitor_full(const struct tuner_monitor *m)
{
    return m->n == m->window;
}

double tuner_monitor_avg(const struct tuner_monitor *m)
{
    return m->n ? m->sum / (double)m->n : 0.0;
}

double tuner_monitor_stddev(const struct tuner_monitor *m)
{
    if (m->n < 2)
        return 0.0;
    double mean = tuner_monitor_avg(m), s = 0;
    for (size_t i = 0; i < m->n; i++)
        s += (m->v[i] - mean) * (m->v[i] - mean);
    return sqrt(s / (double)(m->n - 1));
}

double tuner_monitor_min(const struct tuner_monitor *m)
{
    double r = m->n ? m->v[0] : 0.0;
    for (size_t i = 1; i < m->n; i++)
        r = m->v[i] < r ? m->v[i] : r;
    return r;
}

double tuner_monitor_max(const struct tuner_monitor *m)
{
    double r = m->n ? m->v[0] : 0.0;
    for (size_t i = 1; i < m->n; i++)
        r = m->v[i] > r ? m->v[i] : r;
    return r;
}

double tuner_monitor_last(const struct tuner_monitor *m)
{
    return m->last;
}
