/* Gives a rank's freed message buffers back to the kernel at most once per interval, and once
 * more when it goes idle (see heap_trim.c for why and what it was measured to do). */
#ifndef KF_HEAP_TRIM_H
#define KF_HEAP_TRIM_H

#include <stdint.h>

struct kf_heap_trim {
    uint64_t last_ns;     /* when the heap was last trimmed */
    uint64_t interval_ns; /* at most one trim per interval under load */
    unsigned long dirty;  /* messages handled since the last trim */
    unsigned long trims;  /* trims done so far (for tests and debuggers) */
};

void kf_heap_trim_init(struct kf_heap_trim *t, uint64_t interval_ns, uint64_t now_ns);
/* Notes that n messages were handled (their buffers went through malloc/free). */
static inline void kf_heap_trim_note(struct kf_heap_trim *t, int n)
{
    t->dirty += (unsigned long)n;
}
/* Trims when messages were handled since the last trim and the interval has passed. Returns 1
 * when it trimmed. */
int kf_heap_trim_maybe(struct kf_heap_trim *t, uint64_t now_ns);
/* How long an idle loop may sleep before the next trim is due: -1 when nothing is left to trim,
 * so that an idle gateway also gives back what its last requests freed. */
int64_t kf_heap_trim_due_ns(const struct kf_heap_trim *t, uint64_t now_ns);

#endif
