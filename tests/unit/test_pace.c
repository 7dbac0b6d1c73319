/*
 * test_pace.c - the open-loop schedule, as a pure function of time: the
 * rate it yields, its spread over connections, a thread's cursor order;
 * the Poisson schedule's gaps (their mean, their distribution against the
 * exponential's, reproducible per (seed, slot, k)) and its walk in due
 * order across slots.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine.h"
#include "pace.h"
#include "tap.h"

#define SEC 1000000000ull

int cmpd(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int main(void)
{
	const uint64_t rates[] = { 1, 7, 1000, 33333, 250000, 1000000 };
	const uint32_t actives[] = { 1, 3, 100, 1000, 10000 };
	for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++)
		for (size_t a = 0; a < sizeof actives / sizeof actives[0]; a++) {
			struct pace p = { .t0 = 123456789, .num = SEC, .den = rates[r], .total = actives[a] };
			uint64_t T = 10 * SEC;   /* simulated 10 s */
			uint64_t due = pace_due_total(&p, p.t0 + T - 1);
			double want = (double)rates[r] * 10;
			ok(due >= want * 0.99 && due <= want * 1.01 + 1,
			   "rate %llu/s over %u conns: %llu sends in 10 s (want %.0f)",
			   (unsigned long long)rates[r], actives[a], (unsigned long long)due, want);
		}

	/* the per-slot counts add up to the total, and are even (+-1) */
	struct pace p = { .t0 = 0, .num = SEC, .den = 1000, .total = 7 };
	uint64_t sum = 0, mn = UINT64_MAX, mx = 0;
	for (uint32_t g = 0; g < 7; g++) {
		uint64_t d = pace_due_slot(&p, g, 5 * SEC);
		sum += d;
		mn = d < mn ? d : mn;
		mx = d > mx ? d : mx;
	}
	is(sum, pace_due_total(&p, 5 * SEC), "slot counts add up to the total");
	ok(mx - mn <= 1, "slots are even: min %llu max %llu", (unsigned long long)mn, (unsigned long long)mx);

	/* no synchronised bursts: consecutive sends 1/R apart, slots offset */
	ok(pace_time(&p, 1) - pace_time(&p, 0) == 1000000, "sends 1 ms apart at 1000/s");
	ok(pace_slot_time(&p, 1, 0) - pace_slot_time(&p, 0, 0) == 1000000, "slot 1 starts 1 ms after slot 0");
	ok(pace_slot_time(&p, 0, 1) - pace_slot_time(&p, 0, 0) == 7000000, "each slot every 7 ms");
	is(pace_due_total(&p, 0), 1, "send 0 is due at t0");
	struct pace late = { .t0 = 1000, .num = SEC, .den = 1000, .total = 1 };
	is(pace_due_total(&late, 999), 0, "nothing due before t0");

	/* a thread's cursor visits its slots in due order */
	uint32_t slots[] = { 1, 4, 5 };
	struct pace_cursor c;
	pace_cursor_start(&c, &p, slots, 3, NULL);
	uint64_t prev = 0;
	int ordered = 1;
	for (int i = 0; i < 30; i++) {
		uint64_t t = pace_cursor_time(&c);
		ordered &= t >= prev;
		prev = t;
		pace_cursor_next(&c);
	}
	ok(ordered, "cursor times never go back");
	is(c.k, 10, "30 steps over 3 slots = 10 rounds");

	/* a slot's own walk (the send side) agrees with the cursor (the due side) */
	struct pace_slot sw;
	pace_slot_start(&p, 4, &sw);
	pace_slot_step(&p, 4, &sw);
	is(sw.due, pace_slot_time(&p, 4, 1), "uniform slot walk: send 1 of slot 4 at its schedule time");

	/* ---- Poisson ---- */
	/* exponential inverse CDF: -mean ln u */
	is(pace_exp_of(1000.0, 1.0), 0, "u = 1 gives a gap of 0");
	is(pace_exp_of(1000.0, exp(-1.0)), 1000, "u = 1/e gives the mean");
	/* R = 10,000/s over 100 connections: each slot's gaps have mean 10 ms */
	struct pace pp = { .t0 = 5 * SEC, .num = SEC, .den = 10000, .total = 100, .kind = PACE_POISSON, .seed = 1 };
	enum { NG = 200000 };
	static double gaps[NG];
	double gsum = 0;
	for (int i = 0; i < NG; i++) {
		gaps[i] = (double)pace_exp_gap(&pp, (uint32_t)(i % 100), (uint64_t)(i / 100));
		gsum += gaps[i];
	}
	double mean = gsum / NG;
	/* the mean of 200,000 exponentials has a relative standard error of 1/sqrt(200,000) = 0.22% */
	ok(fabs(mean / 1e7 - 1) < 0.01, "Poisson gaps: mean %.0f ns, want 1e7 (1%%)", mean);
	/* Kolmogorov-Smirnov against the exponential CDF 1 - exp(-x/mean): the
	 * 0.1% critical value for n = 200,000 is 1.95/sqrt(n) = 0.0044 */
	qsort(gaps, NG, sizeof gaps[0], cmpd);
	double dmax = 0;
	for (int i = 0; i < NG; i++) {
		double f = 1 - exp(-gaps[i] / 1e7), lo = f - (double)i / NG, hi = (double)(i + 1) / NG - f;
		dmax = fmax(dmax, fmax(lo, hi));
	}
	ok(dmax < 0.0044, "Poisson gaps are exponential: KS distance %.4f < 0.0044 (n = 200,000)", dmax);
	is(pace_exp_gap(&pp, 7, 12345), pace_exp_gap(&pp, 7, 12345), "a gap is a pure function of (seed, slot, k)");
	ok(pace_exp_gap(&pp, 7, 12345) != pace_exp_gap(&pp, 8, 12345), "slots have their own variates");
	struct pace pp2 = pp;
	pp2.seed = 2;
	int differ = 0;
	for (uint64_t k = 0; k < 10; k++)
		differ += pace_exp_gap(&pp, 3, k) != pace_exp_gap(&pp2, 3, k);
	ok(differ >= 9, "another --seed, other gaps (%d of 10 differ)", differ);

	/* a thread's Poisson walk over its slots: in due order, and each slot's
	 * sends where its own walk (the send side) puts them */
	uint32_t ps[] = { 3, 10, 11, 50, 99 };
	struct pace_heap_ent heap[5];
	struct pace_cursor pc;
	pace_cursor_start(&pc, &pp, ps, 5, heap);
	struct pace_slot own[5];
	for (int j = 0; j < 5; j++)
		pace_slot_start(&pp, ps[j], &own[j]);
	uint64_t last = 0, n5 = 0;
	int in_order = 1, agree = 1;
	while (pace_cursor_time(&pc) < pp.t0 + 10 * SEC && n5 < 100000) {
		uint64_t t = pace_cursor_time(&pc);
		uint32_t j = pace_cursor_index(&pc);
		in_order &= t >= last;
		agree &= own[j].due == t;
		pace_slot_step(&pp, ps[j], &own[j]);
		last = t;
		n5++;
		pace_cursor_next(&pc);
	}
	ok(in_order, "Poisson walk: due times never go back");
	ok(agree, "Poisson walk: every send where its slot's own walk puts it");
	/* 5 of 100 slots at 10,000/s in total: 500/s, 5,000 in 10 s (sd sqrt(5000) = 71) */
	ok(n5 > 4700 && n5 < 5300, "Poisson walk: %llu sends in 10 s from 5 slots of 100 at 10,000/s (want ~5,000)",
	   (unsigned long long)n5);

	/* idle pings: every S seconds per connection, spread over S */
	struct pace ip = { .t0 = 0, .num = 2 * SEC, .den = 4, .total = 4 };   /* S = 2 s, 4 idle */
	is(pace_slot_time(&ip, 0, 1), 2 * SEC, "idle slot 0 pings every 2 s");
	is(pace_slot_time(&ip, 1, 0), SEC / 2, "idle slot 1 offset by S/4");

	/* active spread over ids: exactly A active, slots 0..A-1 */
	struct lg_cfg cf = { .conns = 10, .active = 3 };
	int n = 0, slot_ok = 1;
	for (uint32_t id = 0; id < 10; id++)
		if (lg_is_active(&cf, id))
			slot_ok &= lg_slot(&cf, id) == (uint32_t)n++;
	is(n, 3, "3 of 10 connections active");
	ok(slot_ok, "active slots numbered 0..2 in id order");
	return done_testing();
}
