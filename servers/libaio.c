/*
 * libaio.c - Linux native AIO (io_submit/io_getevents) with IOCB_CMD_POLL.
 *
 * Kernel AIO was built for O_DIRECT files: on a socket IOCB_CMD_PREAD is not
 * asynchronous at all, it runs inside io_submit() and BLOCKS it until data
 * arrives. So this server uses IOCB_CMD_POLL (Linux 4.18), a one-shot
 * readiness request that completes with the revents in ev.res (at once if
 * the socket is ready at submit) and is resubmitted after every event; plain
 * nonblocking read()/send() do the I/O. Every re-arm of a loop turn goes in
 * ONE io_submit() and one io_getevents() reaps up to MAX_EVENTS. io_setup(nr)
 * takes nr from fs.aio-max-nr (system-wide) and the ring is pinned memory;
 * nr follows --max-conns (default the fd limit). Trap: close() does NOT
 * complete an outstanding poll iocb, which holds the file (the peer sees no
 * FIN): an armed connection is io_cancel()ed first. Each iocb carries fd and
 * a per-fd generation, so an event of an earlier connection on a reused fd
 * is dropped.
 */
#include <errno.h>
#include <libaio.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_EVENTS 1024      /* per io_getevents; more wait for the next call */
#define ACCEPT_BATCH 256     /* per listener event, then re-arm */
#define NR_SLACK 64          /* cancelled polls hold a ring slot until reaped */

enum { IDLE, QUEUED, ARMED };    /* iocb state: free, in subq[], in the kernel */

struct conn {
	struct iocb cb;         /* the one poll request of this fd */
	struct outbuf out;      /* bytes the kernel would not take yet */
	uint32_t gen;           /* bumped per connection on this fd */
	char state, open;
};

static struct conn *conns;  /* indexed by fd */
static struct iocb **subq;  /* to submit at the top of the next loop turn */
static int nsub, limit, nconns;
static char *buf;
static io_context_t ctx;

static void queue_poll(int fd, short events)
{
	struct conn *c = &conns[fd];
	io_prep_poll(&c->cb, fd, events);
	c->cb.data = (void *)(uintptr_t)((uint64_t)c->gen << 32 | (uint32_t)fd);
	c->state = QUEUED;
	subq[nsub++] = &c->cb;
}

static void conn_drop(int fd, int err)
{
	struct conn *c = &conns[fd];
	struct io_event ev;
	if (c->state == ARMED) {    /* else close() would leave the socket open */
		SC(SC_CTL);
		io_cancel(ctx, &c->cb, &ev);
	} else if (c->state == QUEUED) {
		for (int i = 0; i < nsub; i++)
			if (subq[i] == &c->cb)
				subq[i] = subq[--nsub];
	}
	c->state = IDLE;
	c->open = 0;
	nconns--;
	conn_end(fd, &c->out, err);
}

static void on_accept(int lfd)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept_client(lfd, 0);
		if (fd == -1) {
			accept_failed();
			break;
		}
		if (fd >= limit || nconns >= (int)cfg.max_conns) {
			conn_close_fd(fd);  /* over --max-conns: the ring has no room */
			STAT_ADD(emfile, 1);
			continue;
		}
		conns[fd].gen++;
		conns[fd].open = 1;
		nconns++;
		queue_poll(fd, POLLIN);
	}
	queue_poll(lfd, POLLIN);
}

static void on_ready(int fd)
{
	struct conn *c = &conns[fd];
	if (outbuf_pending(&c->out)) {
		int r = flush_pending(fd, &c->out);
		if (r == -1)
			return conn_drop(fd, errno);
		if (r == 0)
			return queue_poll(fd, POLLOUT);
	}                               /* drained: read again */
	ssize_t n = echo_some(fd, &c->out, buf);
	if (n == -1)
		return conn_drop(fd, errno);    /* errno 0: EOF, all echoed */
	if (n == 0)
		return queue_poll(fd, POLLIN);  /* spurious */
	/* One read per event: if bytes remain, the new poll completes at once. */
	queue_poll(fd, outbuf_pending(&c->out) ? POLLOUT : POLLIN);
}

/* One io_submit for everything queued; returns 1 if the ring was full. */
static int submit_all(int lfd)
{
	int done = 0;
	while (done < nsub) {
		SC(SC_SUBMIT);
		int r = io_submit(ctx, nsub - done, subq + done);
		if (r == -EAGAIN)
			break;              /* out of ring slots: keep the rest */
		if (r < 0) {            /* subq[done] itself was refused */
			int fd = (int)(uint32_t)(uintptr_t)subq[done]->data;
			if (fd == lfd)
				die_err(-r, "io_submit(poll listener %d)", lfd);
			conns[fd].state = IDLE;
			subq[done] = subq[--nsub];   /* conn_drop must not find it */
			conn_drop(fd, -r);
			continue;
		}
		for (int i = done; i < done + r; i++)
			conns[(uint32_t)(uintptr_t)subq[i]->data].state = ARMED;
		done += r;
	}
	nsub -= done;
	memmove(subq, subq + done, (size_t)nsub * sizeof(struct iocb *));
	return nsub > 0;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "libaio", OPT_MAX_CONNS);
	setup_process();
	limit = fd_limit();
	if (!cfg.max_conns || cfg.max_conns > (unsigned)limit)
		cfg.max_conns = (unsigned)limit;
	conns = calloc((size_t)limit, sizeof *conns);
	subq = calloc((size_t)limit, sizeof(struct iocb *));
	buf = malloc(cfg.bufsize);
	if (!conns || !subq || !buf)
		die("calloc(%d conns)", limit);

	unsigned nr = cfg.max_conns + 1 + NR_SLACK;   /* one poll per fd + the listener */
	SC(SC_OTHER);
	int r = io_setup(nr, &ctx);
	if (r == -EAGAIN)
		die_err(-r, "io_setup(%u): fs.aio-max-nr minus fs.aio-nr (see /proc/sys/fs) "
			"is below %u; lower --max-conns or raise fs.aio-max-nr", nr, nr);
	if (r < 0)
		die_err(-r, "io_setup(%u)", nr);

	int lfd = listen_socket(0);
	queue_poll(lfd, POLLIN);
	announce_ready(lfd);

	struct io_event evs[MAX_EVENTS];
	while (!stop) {
		int full = submit_all(lfd);
		struct timespec ts = { 0, (full ? 1 : STOP_CHECK_MS) * 1000000L };
		SC(SC_WAIT);
		int n = io_getevents(ctx, 1, MAX_EVENTS, evs, &ts);
		if (n < 0) {
			if (n == -EINTR)
				continue;
			die_err(-n, "io_getevents");
		}
		for (int i = 0; i < n; i++) {
			uint64_t d = (uintptr_t)evs[i].data;
			int fd = (int)(uint32_t)d;
			struct conn *c = &conns[fd];
			if (fd == lfd) {
				c->state = IDLE;
				on_accept(lfd);
			} else if (c->open && c->gen == (uint32_t)(d >> 32) && c->state == ARMED) {
				c->state = IDLE;
				on_ready(fd);   /* res: revents or -errno; read() tells which */
			}                       /* else stale: a cancelled or earlier connection */
		}
	}
	print_stats();
	SC(SC_OTHER);
	io_destroy(ctx);
	return 0;
}
