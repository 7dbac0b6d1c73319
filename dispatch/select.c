/*
 * select.c - select() on heap bitmaps sized to the descriptor limit.
 *
 * Each call copies in (maxfd + 1) bits, calls ->poll() on every descriptor
 * whose bit is set, and copies the set back with only the ready bits left:
 * O(maxfd) in the kernel per wait, then O(maxfd) again here to find the
 * bits. Nothing is registered: setup is filling a bitmap. FD_SET() aborts
 * past FD_SETSIZE (1024) in a fortified build, but the kernel reads as many
 * words as nfds needs, so we keep our own words (as servers/select.c does).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "dispatch.h"

#define WORD_BITS ((int)(8 * sizeof(unsigned long)))

static unsigned long *master, *set;   /* what we watch; the copy select() rewrites */
static int maxfd;
static size_t words;

static void setup(void)
{
	for (int i = 0; i < B.n; i++)
		if (B.rfd[i] > maxfd)
			maxfd = B.rfd[i];
	words = (size_t)maxfd / WORD_BITS + 1;
	master = calloc(words, sizeof *master);
	set = calloc(words, sizeof *set);
	if (!master || !set)
		die("calloc(%zu words)", words);
	for (int i = 0; i < B.n; i++)
		master[B.rfd[i] / WORD_BITS] |= 1UL << (B.rfd[i] % WORD_BITS);
}

static void run(void)
{
	while (B.done < B.events) {
		memcpy(set, master, words * sizeof *set);   /* select() overwrote the last one */
		struct timeval tv = { WAIT_MS / 1000, WAIT_MS % 1000 * 1000 };
		int n = select(maxfd + 1, (fd_set *)set, NULL, NULL, &tv);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("select(nfds %d)", maxfd + 1);
		}
		for (size_t w = 0; w < words && n > 0; w++)
			for (unsigned long bits = set[w]; bits; bits &= bits - 1, n--)
				exact_ready(B.slot_of[(int)w * WORD_BITS + __builtin_ctzl(bits)]);
	}
}

const struct mech mech_select = { .kind = KIND_EVENTFD, .setup = setup, .run = run };
