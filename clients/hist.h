/*
 * hist.h - a log-linear latency histogram with HdrHistogram's layout.
 *
 * 3 significant digits, values 1 us .. 60 s (or 1 ns .. 60 ms, or any unit:
 * the histogram counts integers 0 .. 60,000,000; the unit is the caller's): 2048 sub-buckets per power of
 * two (every value below 2048 exact, above it within 0.05 %), 16 buckets,
 * 17,408 counters = 139 KiB, stored inline so a histogram never allocates
 * and can be copied through a pipe as it is. One per thread, merged
 * bucket-wise at the end: percentiles are never averaged.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>
#include <stdio.h>

#define HIST_MAX_VALUE      60000000ull  /* 60 s in us: highest trackable */
#define HIST_SUB_BITS       11           /* ceil(log2(2 * 10^3)): 3 digits */
#define HIST_SUB_COUNT      (1u << HIST_SUB_BITS)         /* 2048 */
#define HIST_SUB_HALF_BITS  (HIST_SUB_BITS - 1)
#define HIST_SUB_HALF       (1u << HIST_SUB_HALF_BITS)    /* 1024 */
#define HIST_BUCKETS        16           /* 2048 << 15 = 67 M > 60 M */
#define HIST_LEN            ((HIST_BUCKETS + 1) * HIST_SUB_HALF)

struct hist {
	uint64_t total;      /* values recorded */
	uint64_t sum;        /* exact sum, for the mean */
	uint64_t min, max;   /* exact; min is UINT64_MAX while empty */
	uint64_t over;       /* values above HIST_MAX_VALUE (counted at the top) */
	uint64_t counts[HIST_LEN];
};

void hist_init(struct hist *h);
/* Record one value (us). Values above 60 s are clamped and counted in over. */
static inline void hist_record(struct hist *h, uint64_t v);
/* Add src's counts into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* Value at percentile p (0..100): the highest value equivalent to the
 * bucket holding that rank, capped at the exact max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
double hist_stddev(const struct hist *h);
/* Wasserstein-1 (earth mover's) distance between the distributions of a
 * and b, in their unit: the integral of |F_a(x) - F_b(x)| over x, each
 * bucket's values placed at its lowest value. -1 when either is empty. */
double hist_w1(const struct hist *a, const struct hist *b);
/* HdrHistogram's .hgrm percentile distribution, values printed / scale
 * (scale 1000: us -> ms, as wrk2 does). Returns 0, or -1 on write error. */
int hist_write_hgrm(const struct hist *h, FILE *f, double scale);

/* index <-> value (exposed for the tests) */
unsigned hist_index(uint64_t v);
uint64_t hist_value_at(unsigned idx);        /* lowest value of the bucket */
uint64_t hist_highest_equiv(uint64_t v);     /* highest value equal to v */

static inline unsigned hist_index_inline(uint64_t v)
{
	/* HdrHistogram: bucket = position of the top bit above the sub-bucket
	 * range; sub = v >> bucket lands in [1024, 2048) except in bucket 0. */
	unsigned bucket = (unsigned)(63 - __builtin_clzll(v | (HIST_SUB_COUNT - 1))) - HIST_SUB_HALF_BITS;
	unsigned sub = (unsigned)(v >> bucket);
	return (bucket << HIST_SUB_HALF_BITS) + sub;
}

static inline void hist_record(struct hist *h, uint64_t v)
{
	h->total++;
	h->sum += v;
	if (v > HIST_MAX_VALUE) {
		h->over++;
		if (v > h->max)
			h->max = v;
		v = HIST_MAX_VALUE;
	} else if (v > h->max) {
		h->max = v;
	}
	if (v < h->min)
		h->min = v;
	h->counts[hist_index_inline(v)]++;
}

#endif
