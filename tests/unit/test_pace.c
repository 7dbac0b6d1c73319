/*
 * test_pace.c - the open-loop schedule, as a pure function of time: the
 * rate it yields, its spread over connections, a thread's cursor order.
 */
#include <stdint.h>
#include <stdlib.h>

#include "engine.h"
#include "pace.h"
#include "tap.h"

#define SEC 1000000000ull

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
	struct pace_cursor c = { &p, slots, 3, 0, 0 };
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
