/*
 * tap.h - a tiny TAP producer for the C unit tests (run by prove).
 *   ok(cond, "name %d", i);  is(a, b, "name");  skip_all("why");  return done_testing();
 * As Test::More: a failure's diagnostics (diag) go to stderr, which prove
 * shows in its log; note() is a comment on stdout, seen under prove -v.
 */
#ifndef C10K_TAP_H
#define C10K_TAP_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static inline __attribute__((format(printf, 2, 3))) int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond) {
		tap_failed++;
		fprintf(stderr, "# Failed test %d - ", tap_n);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, "\n");
	}
	return cond;
}

/* Compare two integers; on failure print both as a TAP diagnostic. */
#define is(got, want, ...)                                                            \
	do {                                                                          \
		long long g_ = (long long)(got), w_ = (long long)(want);              \
		if (!ok(g_ == w_, __VA_ARGS__))                                       \
			fprintf(stderr, "#   got %lld, want %lld (%s:%d)\n", g_, w_, __FILE__, __LINE__); \
	} while (0)

/* A failure's diagnostics: stderr. */
static inline __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* Information: a TAP comment on stdout. */
static inline __attribute__((format(printf, 1, 2))) void note(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline __attribute__((noreturn)) void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
#endif
