/*
 * test_hist.c - the latency histogram: layout, percentiles of a known
 * distribution, merge, edge values (0, 1 us, 60 s, over range), .hgrm;
 * the Wasserstein distance and the open loop's send-process verdict.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "hist.h"
#include "tap.h"

static struct hist a, b, m;
static struct lg_result r1, r2;

/* within 3 significant digits: |got - want| <= want / 1000 (+1 for rounding) */
static int close3(uint64_t got, uint64_t want)
{
	uint64_t d = got > want ? got - want : want - got;
	return d <= want / 1000 + 1;
}

int main(void)
{
	/* layout: exact below 2048, then 3 significant digits */
	int exact = 1;
	for (uint64_t v = 0; v < 2048; v++)
		exact &= hist_value_at(hist_index(v)) == v;
	ok(exact, "values 0..2047 have their own bucket");
	int mono = 1, prec = 1;
	for (uint64_t v = 2048; v < HIST_MAX_VALUE; v = v * 1.013 + 1) {
		uint64_t lo = hist_value_at(hist_index(v)), hi = hist_highest_equiv(v);
		mono &= lo <= v && v <= hi;
		prec &= (double)(hi - lo) <= (double)v / 1000.0;
	}
	ok(mono, "every value lies inside its bucket");
	ok(prec, "bucket width <= 0.1%% of the value (3 significant digits)");
	ok(hist_index(HIST_MAX_VALUE) < HIST_LEN, "60 s fits in the counts array");

	/* uniform 1..100000 us: percentile p is p% of 100000 */
	hist_init(&a);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&a, v);
	is(a.total, 100000, "count");
	ok(close3(hist_percentile(&a, 50), 50000), "p50 of uniform 1..1e5 = %llu",
	   (unsigned long long)hist_percentile(&a, 50));
	ok(close3(hist_percentile(&a, 90), 90000), "p90 = %llu", (unsigned long long)hist_percentile(&a, 90));
	ok(close3(hist_percentile(&a, 99), 99000), "p99 = %llu", (unsigned long long)hist_percentile(&a, 99));
	ok(close3(hist_percentile(&a, 99.9), 99900), "p99.9 = %llu", (unsigned long long)hist_percentile(&a, 99.9));
	is(hist_percentile(&a, 100), 100000, "p100 is the exact max");
	is(hist_percentile(&a, 0), 1, "p0 is the min");
	ok(hist_mean(&a) > 50000.4 && hist_mean(&a) < 50000.6, "mean exact: %f", hist_mean(&a));

	/* merge: two halves == the whole, bucket by bucket */
	hist_init(&b);
	hist_init(&m);
	struct hist *lo = calloc(1, sizeof *lo), *hi = calloc(1, sizeof *hi);
	hist_init(lo);
	hist_init(hi);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(v % 2 ? lo : hi, v);
	hist_merge(&m, lo);
	hist_merge(&m, hi);
	ok(!memcmp(m.counts, a.counts, sizeof a.counts), "merged counts equal the single histogram");
	is(m.total, a.total, "merged total");
	is(m.min, 1, "merged min");
	is(m.max, 100000, "merged max");
	is(hist_percentile(&m, 99.99), hist_percentile(&a, 99.99), "merged p99.99");
	/* the trap merging avoids: averaging percentiles of unequal halves */
	hist_init(lo);
	hist_init(hi);
	for (int i = 0; i < 990; i++)
		hist_record(lo, 100);
	for (int i = 0; i < 10; i++)
		hist_record(hi, 10000);
	hist_init(&m);
	hist_merge(&m, lo);
	hist_merge(&m, hi);
	is(hist_percentile(&m, 99), 100, "merged p99 of 990x100 + 10x10000 is 100");
	is(hist_percentile(&m, 99.5), 10000, "merged p99.5 is 10000");

	/* edges */
	hist_init(&b);
	is(hist_percentile(&b, 50), 0, "empty histogram: p50 0");
	hist_record(&b, 0);
	is(hist_percentile(&b, 50), 0, "value 0 recorded");
	hist_record(&b, 1);
	is(hist_percentile(&b, 100), 1, "value 1 us");
	hist_record(&b, HIST_MAX_VALUE);
	ok(close3(hist_percentile(&b, 100), HIST_MAX_VALUE), "60 s recorded");
	is(b.over, 0, "60 s is in range");
	hist_record(&b, 3 * HIST_MAX_VALUE);
	is(b.over, 1, "over range counted");
	is(b.max, 3 * HIST_MAX_VALUE, "exact max kept for over-range values");
	ok(close3(hist_percentile(&b, 74), HIST_MAX_VALUE), "over-range value clamped to 60 s in the buckets");
	is(b.total, 4, "4 values");

	/* .hgrm output */
	FILE *f = tmpfile();
	ok(f && hist_write_hgrm(&a, f, 1000.0) == 0, "hgrm written");
	char line[256];
	rewind(f);
	int lines = 0, header = 0, footer = 0, last100 = 0;
	while (fgets(line, sizeof line, f)) {
		lines++;
		header |= strstr(line, "Value") && strstr(line, "Percentile") && strstr(line, "TotalCount") &&
			  strstr(line, "1/(1-Percentile)");
		footer |= !strncmp(line, "#[Max", 5) && strstr(line, "100000");
		last100 |= strstr(line, "1.000000000000") != NULL;
	}
	fclose(f);
	ok(header, "hgrm header has the 4 columns");
	ok(footer, "hgrm footer has max and total count");
	ok(last100, "hgrm reaches percentile 1.0");
	ok(lines > 50, "hgrm has %d lines", lines);

	/* results merge (what --procs does through the pipe) */
	lg_result_init(&r1);
	lg_result_init(&r2);
	r1.echoes = 10; r1.fair_n = 2; r1.fair_min = 4; r1.fair_max = 6; r1.fair_sum = 10; r1.fair_sumsq = 52;
	r2.echoes = 20; r2.fair_n = 2; r2.fair_min = 10; r2.fair_max = 10; r2.fair_sum = 20; r2.fair_sumsq = 200;
	hist_record(&r1.lat, 5);
	hist_record(&r2.lat, 7);
	lg_result_merge(&r1, &r2);
	is(r1.echoes, 30, "echoes add");
	is(r1.fair_min, 4, "fairness min");
	is(r1.fair_max, 10, "fairness max");
	ok(lg_result_jain(&r1) > 0.8928 && lg_result_jain(&r1) < 0.8929,
	   "jain of 4,6,10,10 = 900/(4*252) = 0.89286: got %f", lg_result_jain(&r1));
	is(r1.lat.total, 2, "latency histograms merge");

	/* the open loop's histograms and counters merge too */
	lg_result_init(&r1);
	lg_result_init(&r2);
	r1.sends = 3; r1.held = 1; r1.gap_unit_ns = 100;
	r2.sends = 4; r2.held = 2; r2.gap_unit_ns = 100;
	hist_record(&r1.late, 1500);
	hist_record(&r2.late, 2500);
	hist_record(&r2.gap_sent, 1000);
	hist_record(&r2.gap_due, 1000);
	hist_record(&r2.srv_lat, 40);
	lg_result_merge(&r1, &r2);
	ok(r1.sends == 7 && r1.held == 3 && r1.gap_unit_ns == 100, "sends, held add; the gap unit stays");
	ok(r1.late.total == 2 && r1.late.max == 2500 && r1.gap_sent.total == 1 && r1.gap_due.total == 1 &&
	   r1.srv_lat.total == 1, "lateness, gap and latency-less-lateness histograms merge");

	/* Wasserstein-1 distance: known answers */
	hist_init(&a);
	hist_init(&b);
	ok(hist_w1(&a, &b) < 0, "W1 of empty histograms: none (-1)");
	for (int i = 0; i < 1000; i++) {
		hist_record(&a, 1000);
		hist_record(&b, 1000);
	}
	ok(hist_w1(&a, &b) == 0.0, "W1 of identical distributions: 0");
	hist_init(&b);
	for (int i = 0; i < 1000; i++)
		hist_record(&b, 1030);
	ok(fabs(hist_w1(&a, &b) - 30.0) < 1e-9, "W1 of a point mass moved by 30: 30 (got %f)", hist_w1(&a, &b));
	/* half the gaps 0 and half 2000 (sends batched in pairs) against all 1000: 1000 */
	hist_init(&b);
	for (int i = 0; i < 500; i++) {
		hist_record(&b, 0);
		hist_record(&b, 2000);
	}
	ok(fabs(hist_w1(&b, &a) - 1000.0) < 1e-9, "W1 of pairs (0, 2000) against 1000 each: 1000 (got %f)",
	   hist_w1(&b, &a));
	/* uniform 1..N against uniform 1..N shifted by N/10: N/10, in the 3-digit buckets too */
	hist_init(&a);
	hist_init(&b);
	for (uint64_t v = 1; v <= 100000; v++) {
		hist_record(&a, v);
		hist_record(&b, v + 10000);
	}
	ok(fabs(hist_w1(&a, &b) / 10000.0 - 1) < 0.002, "W1 of uniform 1..100000 shifted by 10000: %f",
	   hist_w1(&a, &b));

	/* the send-process verdict on made-up runs */
	struct lg_verdict v;
	lg_result_init(&r1);
	r1.gap_unit_ns = 100;                        /* 1,000 units = 100 us */
	for (int i = 0; i < 1000; i++) {
		hist_record(&r1.gap_due, 1000);
		hist_record(&r1.gap_sent, i % 2 ? 1050 : 950);   /* 5 us of jitter either way */
		hist_record(&r1.late, 3000);             /* 3 us late */
		hist_record(&r1.lat, 100);               /* 100 us */
		hist_record(&r1.srv_lat, 97);
	}
	r1.sends = 1000;
	lg_result_verdict(&r1, 0, &v);
	ok(v.known && !v.why, "5 us of jitter on 100 us gaps, 3%% of the latency: ok (w1 %.3f, share %.3f)",
	   v.w1_gaps, v.share_p99);
	ok(fabs(v.w1_gaps - 0.05) < 1e-9 && fabs(v.gap_us - 100.0) < 1e-9, "w1 0.05 gaps of 100 us (got %f, %f)",
	   v.w1_gaps, v.gap_us);
	lg_result_verdict(&r1, 1, &v);
	is(v.why, LG_WHY_SATURATED, "the same run on a saturated generator: saturated");
	hist_init(&r1.gap_sent);
	for (int i = 0; i < 1000; i++)
		hist_record(&r1.gap_sent, i % 2 ? 0 : 2000);   /* sent in pairs */
	hist_init(&r1.srv_lat);
	for (int i = 0; i < 1000; i++)
		hist_record(&r1.srv_lat, 80);                  /* 20 of the 100 us were the generator's */
	lg_result_verdict(&r1, 0, &v);
	ok(v.why == (LG_WHY_ARRIVALS | LG_WHY_LATE), "pairs and 20%% of the latency: arrivals and late "
	   "(why %d, w1 %.3f, share %.3f)", v.why, v.w1_gaps, v.share_p50);
	r1.sends = LG_VERDICT_MIN - 1;
	lg_result_verdict(&r1, 0, &v);
	ok(!v.known, "fewer than %d sends: no verdict", LG_VERDICT_MIN);
	free(lo);
	free(hi);
	return done_testing();
}
