/*
 * hist.c - HdrHistogram-layout histogram: merge, percentiles, .hgrm output.
 */
#include <math.h>
#include <string.h>

#include "hist.h"

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t v)
{
	return hist_index_inline(v > HIST_MAX_VALUE ? HIST_MAX_VALUE : v);
}

uint64_t hist_value_at(unsigned idx)
{
	int bucket = (int)(idx >> HIST_SUB_HALF_BITS) - 1;
	uint64_t sub = (idx & (HIST_SUB_HALF - 1)) + HIST_SUB_HALF;
	if (bucket < 0) {
		sub -= HIST_SUB_HALF;
		bucket = 0;
	}
	return sub << bucket;
}

static uint64_t range_size(unsigned idx)
{
	int bucket = (int)(idx >> HIST_SUB_HALF_BITS) - 1;
	return 1ull << (bucket < 0 ? 0 : bucket);
}

uint64_t hist_highest_equiv(uint64_t v)
{
	unsigned i = hist_index(v);
	return hist_value_at(i) + range_size(i) - 1;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (!src->total)
		return;
	for (unsigned i = 0; i < HIST_LEN; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	dst->over += src->over;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (!h->total)
		return 0;
	if (p > 100.0)
		p = 100.0;
	/* Rank as HdrHistogram computes it: at least 1, rounded half up. */
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_LEN; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = hist_value_at(i) + range_size(i) - 1;
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? (double)h->sum / (double)h->total : 0.0;
}

double hist_stddev(const struct hist *h)
{
	if (!h->total)
		return 0.0;
	double mean = hist_mean(h), acc = 0.0;
	for (unsigned i = 0; i < HIST_LEN; i++) {
		if (!h->counts[i])
			continue;
		/* the middle of the bucket stands for every value in it */
		double mid = (double)hist_value_at(i) + (double)(range_size(i) - 1) / 2.0;
		acc += (double)h->counts[i] * (mid - mean) * (mid - mean);
	}
	return sqrt(acc / (double)h->total);
}

double hist_w1(const struct hist *a, const struct hist *b)
{
	if (!a->total || !b->total)
		return -1.0;
	/* F_a and F_b are step functions that jump at the buckets' lowest
	 * values; between two such values their difference is constant */
	uint64_t ca = 0, cb = 0;
	double sum = 0.0, na = (double)a->total, nb = (double)b->total;
	for (unsigned i = 0; i + 1 < HIST_LEN; i++) {
		ca += a->counts[i];
		cb += b->counts[i];
		if (ca == a->total && cb == b->total)
			break;
		double d = (double)ca / na - (double)cb / nb;
		sum += fabs(d) * (double)(hist_value_at(i + 1) - hist_value_at(i));
	}
	return sum;
}

int hist_write_hgrm(const struct hist *h, FILE *f, double scale)
{
	/* HdrHistogram's outputPercentileDistribution with 5 ticks per half
	 * distance: a line each time the cumulative count passes the next
	 * reporting level, levels getting denser toward 100 %. */
	const int ticks = 5;
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
	uint64_t seen = 0;
	double level = 0.0;   /* percent */
	for (unsigned i = 0; i < HIST_LEN && h->total; i++) {
		if (!h->counts[i])
			continue;
		seen += h->counts[i];
		uint64_t v = hist_value_at(i) + range_size(i) - 1;
		if (v > h->max)
			v = h->max;
		double pct = 100.0 * (double)seen / (double)h->total;
		while (pct >= level && seen < h->total) {
			fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", (double)v / scale, level / 100.0,
				(unsigned long long)seen, 1.0 / (1.0 - level / 100.0));
			double half = floor(log2(100.0 / (100.0 - level))) + 1.0;
			level += 100.0 / ((double)ticks * pow(2.0, half));
		}
		if (seen == h->total)
			fprintf(f, "%12.3f %2.12f %10llu\n", (double)v / scale, 1.0,
				(unsigned long long)seen);
	}
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
		hist_mean(h) / scale, hist_stddev(h) / scale);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n",
		(double)(h->total ? h->max : 0) / scale, (unsigned long long)h->total);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12u]\n", HIST_BUCKETS, HIST_SUB_COUNT);
	return ferror(f) ? -1 : 0;
}
