/*
 * echo_broken.c - TEST OF THE TESTS ONLY: the poll server (servers/poll.c,
 * compiled in whole) with one deliberate contract violation, chosen by the
 * environment variable ECHO_BROKEN. The conformance battery and scale.t must
 * catch each one (tests/broken.t and scale.t run them); with ECHO_BROKEN unset
 * it is a correct server whose JSON model is "broken".
 *
 *   ECHO_BROKEN=noterm      ignores SIGTERM (never stops in time)
 *   ECHO_BROKEN=exit1       prints its JSON line, then exits 1
 *   ECHO_BROKEN=noemfile    reports emfile 0 however many accepts it dropped
 *   ECHO_BROKEN=twolines    prints an extra stderr line before any other output
 *                           (so a bad flag gives two lines before the usage)
 *   ECHO_BROKEN=json:KEY    one wrong number in the JSON line: KEY (a counter
 *                           or a syscalls kind, or "total") is one less, or 1
 *                           where it was 0; json:model names another model
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char *broken(void)
{
	const char *b = getenv("ECHO_BROKEN");
	return b ? b : "";
}

static void broken_parse_args(int argc, char **argv, const char *model, unsigned extra)
{
	(void)model;
	if (!strcmp(broken(), "twolines"))
		fprintf(stderr, "echo_broken: a second line nobody asked for\n");
	parse_args(argc, argv, "broken", extra);
}

static void broken_setup_process(void)
{
	setup_process();
	if (!strcmp(broken(), "noterm"))
		signal(SIGTERM, SIG_IGN);
}

/* print_stats() into memory, one number changed, then to stdout. */
static void broken_print_stats(void)
{
	const char *b = broken();
	if (!strcmp(b, "noemfile"))
		stats.emfile = 0;
	char *line = NULL;
	size_t len = 0;
	FILE *real = stdout;
	fflush(stdout);
	stdout = open_memstream(&line, &len);
	if (!stdout) {
		stdout = real;
		print_stats();
		return;
	}
	print_stats();
	fclose(stdout);
	stdout = real;
	char key[64];
	const char *at = NULL;
	if (!strncmp(b, "json:", 5)) {
		snprintf(key, sizeof key, "\"%s\":", b + 5);
		at = strstr(line, key);
	}
	if (at && !strcmp(b + 5, "model")) {
		fputs("{\"model\":\"not_broken\"", stdout);
		fputs(strchr(at, ','), stdout);
	} else if (at) {
		const char *num = at + strlen(key);
		unsigned long long v = strtoull(num, NULL, 10);
		fwrite(line, 1, (size_t)(num - line), stdout);
		printf("%llu", v ? v - 1 : 1);
		fputs(num + strspn(num, "0123456789"), stdout);
	} else {
		fputs(line, stdout);
	}
	fflush(stdout);
	free(line);
	if (!strcmp(b, "exit1"))
		exit(1);
}

#define parse_args broken_parse_args
#define setup_process broken_setup_process
#define print_stats broken_print_stats
#include "../../servers/poll.c" /* NOLINT(bugprone-suspicious-include): the whole server, on purpose */
