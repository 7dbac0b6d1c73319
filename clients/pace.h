/*
 * pace.h - open-loop schedule as a pure function of time.
 *
 * One global sequence of sends n = 0, 1, 2, ... at t0 + n * num / den ns,
 * send n going to connection slot n mod total. For --rate R over A active
 * connections: num = 1e9, den = R, total = A, so connection g sends at
 * t0 + (k*A + g) / R: each connection at R/A per second, the connections
 * evenly offset from each other (never a synchronised burst). The idle
 * pings of --idle-ping S over I idle connections use num = S in ns,
 * den = I. Exact integer arithmetic (128-bit), no drift over any run.
 */
#ifndef LG_PACE_H
#define LG_PACE_H

#include <stdint.h>

struct pace {
	uint64_t t0;      /* ns, CLOCK_MONOTONIC: when send 0 is due */
	uint64_t num;     /* send n is due at t0 + n * num / den */
	uint64_t den;
	uint32_t total;   /* slots sharing the sequence */
};

/* Due time (ns) of send n of the global sequence. */
static inline uint64_t pace_time(const struct pace *p, uint64_t n)
{
	return p->t0 + (uint64_t)((unsigned __int128)n * p->num / p->den);
}

/* Due time of the k-th send of slot g. */
static inline uint64_t pace_slot_time(const struct pace *p, uint32_t g, uint64_t k)
{
	return pace_time(p, k * p->total + g);
}

/* Sends of the global sequence due at or before t (all slots). */
uint64_t pace_due_total(const struct pace *p, uint64_t t);
/* Sends of slot g due at or before t. */
uint64_t pace_due_slot(const struct pace *p, uint32_t g, uint64_t t);

/* A thread's walk through its own slots in due order: slots[] holds the
 * thread's slot numbers (ascending); (k, j) is its next send: slot
 * slots[j], k-th round. */
struct pace_cursor {
	const struct pace *p;
	const uint32_t *slots;
	uint32_t nslots, j;
	uint64_t k;
};
static inline uint64_t pace_cursor_time(const struct pace_cursor *c)
{
	return pace_slot_time(c->p, c->slots[c->j], c->k);
}
static inline void pace_cursor_next(struct pace_cursor *c)
{
	if (++c->j == c->nslots) {
		c->j = 0;
		c->k++;
	}
}

#endif
