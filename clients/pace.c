/*
 * pace.c - counting what the uniform schedule has made due by time t, the
 * Poisson schedule's variates, and a thread's walk in due order.
 */
#include <math.h>

#include "pace.h"

uint64_t pace_due_total(const struct pace *p, uint64_t t)
{
	if (t < p->t0)
		return 0;
	/* the largest n with floor(n * num / den) <= d is
	 * floor(((d + 1) * den - 1) / num); sends 0..n are due */
	unsigned __int128 d = t - p->t0;
	return (uint64_t)(((d + 1) * p->den - 1) / p->num) + 1;
}

uint64_t pace_due_slot(const struct pace *p, uint32_t g, uint64_t t)
{
	uint64_t n = pace_due_total(p, t);   /* sends 0 .. n-1 are due */
	if (n <= g)
		return 0;
	return (n - 1 - g) / p->total + 1;
}

uint64_t pace_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;   /* splitmix64 (Steele, Lea, Flood 2014) */
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t pace_exp_of(double mean, double u)
{
	return (uint64_t)llround(-mean * log(u));
}

uint64_t pace_exp_gap(const struct pace *p, uint32_t g, uint64_t k)
{
	uint64_t x = pace_mix(pace_mix(p->seed ^ ((uint64_t)g << 32)) + k);
	double u = (double)((x >> 11) + 1) * 0x1.0p-53;   /* (0, 1]: 53 random bits */
	return pace_exp_of((double)p->total * (double)p->num / (double)p->den, u);
}

void pace_slot_start(const struct pace *p, uint32_t g, struct pace_slot *s)
{
	s->k = 0;
	s->due = p->kind == PACE_POISSON ? p->t0 + pace_exp_gap(p, g, 0) : pace_slot_time(p, g, 0);
}

static void heap_down(struct pace_heap_ent *h, uint32_t n, uint32_t i)
{
	struct pace_heap_ent e = h[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].due < h[c].due)
			c++;
		if (h[c].due >= e.due)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

void pace_cursor_start(struct pace_cursor *c, const struct pace *p, const uint32_t *slots,
		       uint32_t nslots, struct pace_heap_ent *heap)
{
	*c = (struct pace_cursor){ .p = p, .slots = slots, .nslots = nslots, .heap = heap };
	if (p->kind != PACE_POISSON)
		return;
	for (uint32_t j = 0; j < nslots; j++) {
		struct pace_slot s;
		pace_slot_start(p, slots[j], &s);
		heap[j] = (struct pace_heap_ent){ s.due, 0, j };
	}
	for (uint32_t i = nslots / 2; i-- > 0; )
		heap_down(heap, nslots, i);
}

void pace_cursor_next(struct pace_cursor *c)
{
	if (c->p->kind == PACE_POISSON) {
		struct pace_heap_ent *top = &c->heap[0];
		top->k++;
		top->due += pace_exp_gap(c->p, c->slots[top->j], top->k);
		heap_down(c->heap, c->nslots, 0);
		return;
	}
	if (++c->j == c->nslots) {
		c->j = 0;
		c->k++;
	}
}
