/*
 * pace.c - counting what the open-loop schedule has made due by time t.
 */
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
