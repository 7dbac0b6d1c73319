/*
 * select.c - select() with heap bitmaps sized to the fd limit, not FD_SETSIZE.
 *
 * The kernel copies in one bit per descriptor below nfds for each set, calls
 * ->poll() on every fd whose bit is set (skipping all-zero 64-bit words),
 * sleeps, polls them all again and copies the sets back holding only the
 * ready bits. So the caller copies its master sets before every call, and a
 * call costs O(maxfd) for the kernel and for us, idle connections included.
 * Level-triggered. The oldest API: 4.2BSD. Trap: fd_set is a fixed 1024-bit
 * array (FD_SETSIZE) and a fortified build's FD_SET() aborts at fd >= 1024,
 * but the kernel reads (nfds + 63) / 64 words from any pointer, up to the
 * descriptor table size: so this file allocates words for RLIMIT_NOFILE bits
 * and does its own bit operations. Backpressure: a connection with pending
 * output moves from the read set to the write set until it drains.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "common.h"

/* Accepts per wake-up: each select() costs O(maxfd), so amortise a burst. */
#define ACCEPT_BATCH 64
#define WORD_BITS ((int)(8 * sizeof(unsigned long)))

struct conn {
	struct outbuf out;      /* bytes the kernel would not take yet */
};

static struct conn *conns;  /* indexed by fd */
static unsigned long *rd_master, *wr_master;  /* what we want, by fd */
static unsigned long *rd, *wr;                /* per-call copies select() rewrites */
static int maxfd = -1;      /* highest fd in either master set */
static char *buf;

static void bit_set(unsigned long *s, int fd) { s[fd / WORD_BITS] |= 1UL << (fd % WORD_BITS); }
static void bit_clr(unsigned long *s, int fd) { s[fd / WORD_BITS] &= ~(1UL << (fd % WORD_BITS)); }
static int bit_isset(const unsigned long *s, int fd) { return (int)(s[fd / WORD_BITS] >> (fd % WORD_BITS)) & 1; }

static void want(int fd, unsigned long *on, unsigned long *off)
{
	bit_set(on, fd);
	bit_clr(off, fd);
	if (fd > maxfd)
		maxfd = fd;
}

static void conn_drop(int fd, int err)
{
	bit_clr(rd_master, fd);
	bit_clr(wr_master, fd);
	while (maxfd >= 0 && !bit_isset(rd_master, maxfd) && !bit_isset(wr_master, maxfd))
		maxfd--;                    /* the listener stays, so this stops early */
	conn_end(fd, &conns[fd].out, err);
}

static void on_accept(int lfd)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			accept_failed();
			return;
		}
		want(fd, rd_master, wr_master);
	}
}

static void on_readable(int fd)
{
	if (echo_some(fd, &conns[fd].out, buf) == -1)
		return conn_drop(fd, errno);        /* errno 0: EOF, all echoed */
	if (outbuf_pending(&conns[fd].out))
		want(fd, wr_master, rd_master);     /* stop reading until drained */
}

static void on_writable(int fd)
{
	int r = flush_pending(fd, &conns[fd].out);
	if (r == -1)
		return conn_drop(fd, errno);
	if (r == 1)
		want(fd, rd_master, wr_master);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "select", 0);
	setup_process();
	int limit = fd_limit();
	size_t words = (size_t)limit / WORD_BITS + 1;
	conns = calloc((size_t)limit, sizeof *conns);
	rd_master = calloc(words, sizeof *rd_master);
	wr_master = calloc(words, sizeof *wr_master);
	rd = calloc(words, sizeof *rd);
	wr = calloc(words, sizeof *wr);
	buf = malloc(cfg.bufsize);
	if (!conns || !rd_master || !wr_master || !rd || !wr || !buf)
		die("calloc(%d conns)", limit);

	int lfd = listen_socket(0);
	want(lfd, rd_master, wr_master);
	announce_ready(lfd);

	while (!stop) {
		int top = maxfd;
		size_t nw = (size_t)top / WORD_BITS + 1;
		memcpy(rd, rd_master, nw * sizeof *rd);     /* select() overwrote the last copy */
		memcpy(wr, wr_master, nw * sizeof *wr);
		struct timeval tv = { 0, STOP_CHECK_MS * 1000 };   /* Linux rewrites it too */
		SC(SC_WAIT);
		int n = select(top + 1, (fd_set *)rd, (fd_set *)wr, NULL, &tv);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("select(nfds %d)", top + 1);
		}
		/* The model's other O(maxfd): find the ready bits, a word at a
		 * time. n counts bits over both sets; stop once all are found. */
		for (size_t w = 0; w < nw && n > 0; w++) {
			unsigned long bits = rd[w] | wr[w];
			while (bits) {
				int fd = (int)w * WORD_BITS + __builtin_ctzl(bits);
				bits &= bits - 1;
				n -= bit_isset(rd, fd) + bit_isset(wr, fd);
				if (fd == lfd)
					on_accept(lfd);
				else if (bit_isset(wr, fd))
					on_writable(fd);
				else
					on_readable(fd);    /* data, EOF or error: read() tells */
			}
		}
	}
	print_stats();
	return 0;
}
