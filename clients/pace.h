/*
 * pace.h - the open-loop schedule: when each message is due.
 *
 * Uniform (the default): one global sequence of sends n = 0, 1, 2, ... at
 * t0 + n * num / den ns, send n going to connection slot n mod total. For
 * --rate R over A active connections: num = 1e9, den = R, total = A, so
 * connection g sends at t0 + (k*A + g) / R: each connection at R/A per
 * second, the connections evenly offset from each other (never a
 * synchronised burst). The idle pings of --idle-ping S over I idle
 * connections use num = S in ns, den = I. Exact integer arithmetic
 * (128-bit), no drift over any run: a pure function of (slot, k).
 *
 * Poisson (--arrivals poisson): every active connection is an independent
 * Poisson process of rate R/A, so their superposition, what the server
 * sees, is a Poisson process of rate R (and so is each thread's and each
 * process's share). Slot g's k-th gap is an exponential variate that is a
 * pure function of (seed, g, k) (a counter-based generator, splitmix64), so
 * the due time of any message is recomputed by adding gaps in order: the
 * schedule is stored nowhere and needs no shared state.
 */
#ifndef LG_PACE_H
#define LG_PACE_H

#include <stdint.h>

enum pace_kind { PACE_UNIFORM, PACE_POISSON };

struct pace {
	uint64_t t0;      /* ns, CLOCK_MONOTONIC: when send 0 is due */
	uint64_t num;     /* send n is due at t0 + n * num / den */
	uint64_t den;
	uint32_t total;   /* slots sharing the sequence */
	int kind;         /* enum pace_kind */
	uint64_t seed;    /* Poisson: the variates' seed */
};

/* Due time (ns) of send n of the global sequence (uniform). */
static inline uint64_t pace_time(const struct pace *p, uint64_t n)
{
	return p->t0 + (uint64_t)((unsigned __int128)n * p->num / p->den);
}

/* Due time of the k-th send of slot g (uniform). */
static inline uint64_t pace_slot_time(const struct pace *p, uint32_t g, uint64_t k)
{
	return pace_time(p, k * p->total + g);
}

/* Sends of the global sequence due at or before t (all slots; uniform). */
uint64_t pace_due_total(const struct pace *p, uint64_t t);
/* Sends of slot g due at or before t (uniform). */
uint64_t pace_due_slot(const struct pace *p, uint32_t g, uint64_t t);

/* Poisson: the gap (ns) before slot g's k-th send (k = 0: from t0), an
 * exponential variate of mean total * num / den ns. */
uint64_t pace_exp_gap(const struct pace *p, uint32_t g, uint64_t k);
/* Poisson: the gap of mean `mean` ns that the uniform variate u in (0,1]
 * gives (inverse CDF: -mean * ln u); exposed for the tests. */
uint64_t pace_exp_of(double mean, double u);
/* splitmix64: the counter-based generator behind the variates. */
uint64_t pace_mix(uint64_t x);

/* One slot's schedule, walked in order: the due time of its next send. */
struct pace_slot {
	uint64_t due;     /* ns: when send k is due */
	uint64_t k;
};
/* Start slot g's walk at its send 0. */
void pace_slot_start(const struct pace *p, uint32_t g, struct pace_slot *s);
/* Step slot g's walk to its next send. */
static inline void pace_slot_step(const struct pace *p, uint32_t g, struct pace_slot *s)
{
	s->k++;
	s->due = p->kind == PACE_POISSON ? s->due + pace_exp_gap(p, g, s->k) : pace_slot_time(p, g, s->k);
}

/* A thread's walk through its own slots in due order: slots[] holds the
 * thread's slot numbers (ascending). Uniform: slots in turn, (k, j) its
 * next send (slot slots[j], k-th round). Poisson: a binary min-heap of the
 * slots' next due times (heap[], nslots entries, owned by the caller). */
struct pace_heap_ent {
	uint64_t due, k;
	uint32_t j;       /* index into slots[] */
};
struct pace_cursor {
	const struct pace *p;
	const uint32_t *slots;
	uint32_t nslots, j;
	uint64_t k;
	struct pace_heap_ent *heap;   /* Poisson only */
};

/* Start the walk (Poisson: fills heap, which must hold nslots entries). */
void pace_cursor_start(struct pace_cursor *c, const struct pace *p, const uint32_t *slots,
		       uint32_t nslots, struct pace_heap_ent *heap);
/* Due time of the walk's next send, and its index into slots[]. */
static inline uint64_t pace_cursor_time(const struct pace_cursor *c)
{
	if (c->p->kind == PACE_POISSON)
		return c->heap[0].due;
	return pace_slot_time(c->p, c->slots[c->j], c->k);
}
static inline uint32_t pace_cursor_index(const struct pace_cursor *c)
{
	return c->p->kind == PACE_POISSON ? c->heap[0].j : c->j;
}
/* Step past the next send. */
void pace_cursor_next(struct pace_cursor *c);

#endif
