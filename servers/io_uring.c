/*
 * io_uring.c - completions: multishot accept, multishot recv into provided
 * buffers, one send in flight per connection. Minimum kernel 6.0.
 *
 * Two rings are shared with the kernel: we write requests (SQEs), it writes
 * results (CQEs, -errno on failure); one io_uring_enter() submits any number
 * and waits for completions. A socket op that cannot finish now arms an
 * internal poll (FEAT_FAST_POLL, 5.7) and is retried as task_work in our
 * task, never on an io-wq thread. Multishot accept (5.19) and recv (6.0)
 * post CQEs while IORING_CQE_F_MORE is set; without it the request ended and
 * is armed again. The recv takes a buffer from a registered ring (5.19) only
 * when data arrives, so idle connections pin no memory.
 * SINGLE_ISSUER|DEFER_TASKRUN (6.1) runs that task_work only inside our
 * io_uring_enter(), in one batch; without it completions trickle in while we
 * work. Traps: close() does not cancel requests armed on an fd (they hold the
 * file), so we close only when nothing is in flight.
 * SIGTERM/SIGINT are blocked and arrive as a completion: a poll on a
 * signalfd, readable while one is pending (signalfd(2)). No timer is needed
 * to see them, and no handler: valgrind keeps signals blocked around a call
 * it does not know can block (io_uring_enter), so a handler never ran there.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define SQ_ENTRIES 4096          /* per batch; a full SQ is submitted early */
#define CQ_MAX 65536             /* kernel cap on CQ entries */
#define MAX_BUFS 4096            /* buffer pool, a power of two (ring max 32768) */
#define POOL_BYTES (64u << 20)   /* fewer buffers when --bufsize is large */
#define RING_MIN 32              /* buffers published at least */
#define MAX_QUEUED 4             /* per connection, then its recv is cancelled */
#define ACCEPT_RETRY_MS 10       /* after EMFILE, re-arm the accept this much later */
#define IDLE_WAIT_S 3600         /* the wait's timeout when nothing is timed */

/* user_data carries fd, type and a generation: a CQE or a cancel of a closed
 * connection never touches its fd's next owner. -EMFILE ends the accept:
 * accept_client() drops what is queued and the accept is re-armed
 * ACCEPT_RETRY_MS later. Backpressure: at MAX_QUEUED received buffers a
 * connection's multishot recv is cancelled (TCP then stops the client) and it
 * goes on with single-shot recvs until one finds the socket empty. */
enum { T_ACCEPT = 1, T_RECV, T_SEND, T_CANCEL, T_STOP };

struct conn {
	uint32_t gen;           /* bumped at close: CQEs with an older one are stale */
	uint32_t off;           /* bytes of the head buffer already sent */
	uint16_t head, tail;    /* FIFO of received buffers, linked by bm[].next */
	uint16_t queued;        /* buffers in it; the head one is being sent */
	uint8_t open, recv_on;  /* recv_on: a recv is armed */
	uint8_t send_on;        /* a send is in flight (never more than one) */
	uint8_t cancelled;      /* the armed recv has a cancel queued */
	uint8_t eof, dead;      /* FIN / error seen: close when nothing is in flight */
	uint8_t slow;           /* single-shot recvs after backpressure */
	uint8_t waiting;        /* listed in waitq[] (outlives the connection) */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;              /* nbufs x cfg.bufsize */
static struct { uint32_t len; uint16_t next; } *bm;  /* per buffer: bytes, next in FIFO */
static unsigned nbufs, *freestk, nfree;  /* free buffers we hold: LIFO */
static unsigned in_ring, took;  /* published, not yet seen taken; taken this batch */
static struct conn *conns;      /* indexed by fd */
static int nconns, *waitq, nwait, accept_on;
static unsigned seen;           /* CQEs handled, not yet released to the kernel */
static long long accept_at;     /* ms: earliest re-arm of the accept */

static uint64_t ud(int fd, int type)
{
	return (uint64_t)(conns[fd].gen & 0xffffff) << 40 | (uint64_t)type << 32 | (uint32_t)fd;
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);   /* vDSO: no system call */
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&ring))) {
		io_uring_cq_advance(&ring, seen);   /* SQ full: submit now, CQ room first (-EBUSY) */
		seen = 0;
		SC(SC_SUBMIT);
		int r = io_uring_submit(&ring);
		if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN)
			die_err(-r, "io_uring_submit");
	}
	return sqe;
}

/* The kernel takes ring buffers in order, so a full ring would cycle (fault
 * in) the whole pool: publish about twice what the last batch took, from a
 * LIFO of free buffers (cache-hot first), so RSS is the working set. */
static void refill_ring(void)
{
	unsigned want = RING_MIN + 2 * took, n = 0;
	for (took = 0; in_ring < want && nfree; n++, in_ring++) {
		unsigned b = freestk[--nfree];
		io_uring_buf_ring_add(br, bufs + (size_t)b * cfg.bufsize, (unsigned)cfg.bufsize,
				      (unsigned short)b, io_uring_buf_ring_mask(nbufs), (int)n);
	}
	io_uring_buf_ring_advance(br, (int)n);
}

static void want_recv(int fd)
{
	struct conn *c = &conns[fd];
	if (!c->open || c->recv_on || c->eof || c->dead || c->queued >= MAX_QUEUED)
		return;
	struct io_uring_sqe *sqe = get_sqe();
	if (c->slow)
		io_uring_prep_recv(sqe, fd, NULL, 0, 0);
	else
		io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;   /* the kernel picks the buffer (group 0) */
	io_uring_sqe_set_data64(sqe, ud(fd, T_RECV));
	c->recv_on = 1;
	c->cancelled = 0;
}

static void cancel(int fd, int type)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_cancel64(sqe, ud(fd, type), 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;   /* the cancelled request posts its own CQE */
	io_uring_sqe_set_data64(sqe, (uint64_t)T_CANCEL << 32);
	conns[fd].cancelled |= type == T_RECV;
}

static void send_head(int fd)
{
	struct conn *c = &conns[fd];
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, fd, bufs + (size_t)c->head * cfg.bufsize + c->off,
			   bm[c->head].len - c->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(fd, T_SEND));
	c->send_on = 1;
}

static void start_conn(int fd)
{
	if (fd >= nconns) {     /* beyond --max-conns: dropped like an EMFILE */
		STAT_ADD(emfile, 1);
		return conn_close_fd(fd);
	}
	conns[fd] = (struct conn){ .gen = conns[fd].gen, .waiting = conns[fd].waiting, .open = 1 };
	want_recv(fd);
}

static void conn_fail(int fd, int err)
{
	struct conn *c = &conns[fd];
	if (!c->dead)
		conn_error(err);
	c->dead = 1;
	if (c->recv_on && !c->cancelled)
		cancel(fd, T_RECV);
	if (c->send_on)
		cancel(fd, T_SEND);
}

static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	if (!(c->eof || c->dead) || c->recv_on || c->send_on)
		return;             /* the kernel still holds a request on this fd */
	for (; c->queued; c->queued--, c->head = bm[c->head].next)
		freestk[nfree++] = c->head;
	c->open = 0;
	c->gen++;
	conn_close_fd(fd);
}

static void handle_accept(int lfd, int res, unsigned flags)
{
	accept_on &= !!(flags & IORING_CQE_F_MORE);   /* ended: the loop re-arms it */
	if (res >= 0) {
		int one = 1;        /* echo replies are small: do not wait for Nagle */
		SC(SC_OTHER);
		setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conn_opened();
		start_conn(res);
	} else if (res == -EMFILE || res == -ENFILE) {
		int fd;             /* drops what is queued; takes an fd freed meanwhile */
		while ((fd = accept_client(lfd, 0)) >= 0)
			start_conn(fd);
		accept_at = now_ms() + ACCEPT_RETRY_MS;
	} else if (res != -ECANCELED && res != -EINTR) {
		warnx_("accept: %s", strerror(-res));
	}
}

static void handle_recv(int fd, int res, unsigned flags)
{
	struct conn *c = &conns[fd];
	c->recv_on &= !!(flags & IORING_CQE_F_MORE);  /* ended: re-armed below if wanted */
	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		in_ring--;
		if (res <= 0 || c->dead) {
			freestk[nfree++] = bid;
		} else {
			STAT_ADD(bytes_in, res);
			STAT_ADD(messages, 1);
#ifdef EXTRA_SYSCALL
			(void)fcntl(fd, F_GETFL);   /* unmarked: the gate's self test, as in conn_read() */
#endif
			maybe_work(bufs + (size_t)bid * cfg.bufsize, (size_t)res);
			bm[bid].len = (uint32_t)res;
			if (c->queued++)
				bm[c->tail].next = (uint16_t)bid;
			else
				c->head = (uint16_t)bid, c->off = 0;
			c->tail = (uint16_t)bid;
			took += c->queued <= MAX_QUEUED;   /* a hog cannot inflate the ring */
			if (!c->send_on)
				send_head(fd);
			if (c->queued >= MAX_QUEUED && c->recv_on && !c->cancelled)
				cancel(fd, T_RECV), c->slow = 1;   /* backpressure */
			else if (c->slow && !(flags & IORING_CQE_F_SOCK_NONEMPTY))
				c->slow = 0;    /* it found the socket empty: multishot again */
		}
	}
	if (res == 0) {
		c->eof = 1;         /* half-close: echo what is queued, then close */
	} else if (res == -ENOBUFS) {
		STAT_ADD(overflows, 1);
		if (!c->waiting)
			c->waiting = 1, waitq[nwait++] = fd;
	} else if (res < 0 && res != -ECANCELED) {
		conn_fail(fd, -res);
	}
	if (res != -ENOBUFS)
		want_recv(fd);
	maybe_close(fd);
}

static void handle_send(int fd, int res)
{
	struct conn *c = &conns[fd];
	c->send_on = 0;
	if (res > 0)
		STAT_ADD(bytes_out, res);
	else if (!c->dead)
		conn_fail(fd, res ? -res : EPIPE);
	if (!c->dead && (c->off += (uint32_t)res) == bm[c->head].len) {
		freestk[nfree++] = c->head;     /* else a short send: send the rest */
		c->head = bm[c->head].next;
		c->queued--;
		c->off = 0;
	}
	if (!c->dead && c->queued)
		send_head(fd);
	want_recv(fd);
	maybe_close(fd);
}

static void setup_ring(void)
{
	unsigned cq = 4096;     /* room for every connection's recv, send and cancel */
	while (cq < CQ_MAX && cq < 4u * (unsigned)nconns)
		cq <<= 1;
	struct io_uring_params p = { .cq_entries = cq, .flags = IORING_SETUP_CQSIZE |
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
	int r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	if (r == -EINVAL) {     /* before 6.1 */
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
		r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	}
	/* Without CAP_IPC_LOCK the rings' pages count against RLIMIT_MEMLOCK
	 * (~1.3 MiB at cq 65536): a user's 8 MiB holds 6 such servers. */
	struct rlimit ml;
	if (r == -ENOMEM && getrlimit(RLIMIT_MEMLOCK, &ml) == 0 && ml.rlim_cur != RLIM_INFINITY)
		die_err(-r, "io_uring_queue_init_params(%d, cq %u), RLIMIT_MEMLOCK %llu KiB for all "
			"this user's rings", SQ_ENTRIES, cq, (unsigned long long)ml.rlim_cur / 1024);
	if (r < 0)
		die_err(-r, "io_uring_queue_init_params(%d, cq %u)", SQ_ENTRIES, cq);
	io_uring_register_ring_fd(&ring);   /* optional: enter skips the fd lookup */

	for (nbufs = MAX_BUFS; nbufs > 8 && (size_t)nbufs * cfg.bufsize > POOL_BYTES; nbufs /= 2)
		;
	bufs = malloc((size_t)nbufs * cfg.bufsize);
	bm = calloc(nbufs, sizeof *bm);
	freestk = calloc(nbufs, sizeof *freestk);
	if (!bufs || !bm || !freestk ||
	    posix_memalign((void **)&br, 4096, nbufs * sizeof(struct io_uring_buf)))
		die("malloc(%u buffers of %zu)", nbufs, cfg.bufsize);
	struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)br, .ring_entries = nbufs };
	if ((r = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
		die_err(-r, "io_uring_register_buf_ring(%u)", nbufs);
	io_uring_buf_ring_init(br);
	while (nfree < nbufs)
		freestk[nfree] = nbufs - 1 - nfree, nfree++;   /* buffer 0 on top */
	refill_ring();
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "io_uring", OPT_MAX_CONNS);
	setup_process();
	nconns = fd_limit();
	if (cfg.max_conns && (int)cfg.max_conns < nconns)
		nconns = (int)cfg.max_conns;
	conns = calloc((size_t)nconns, sizeof *conns);
	waitq = calloc((size_t)nconns, sizeof *waitq);
	if (!conns || !waitq)
		die("calloc(%d conns)", nconns);
	int lfd = listen_socket(0);   /* nonblocking, for accept_client()'s EMFILE drain */
	setup_ring();
	sigset_t sigs;
	stop_signals(&sigs);
	block_stop_signals(NULL);
	int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd(SIGTERM, SIGINT)");
	struct io_uring_sqe *sqe = get_sqe();   /* one-shot: the first signal ends the loop */
	io_uring_prep_poll_add(sqe, sfd, POLLIN);
	io_uring_sqe_set_data64(sqe, (uint64_t)T_STOP << 32 | (uint32_t)sfd);
	announce_ready(lfd);

	while (!stop) {
		if (!accept_on && now_ms() >= accept_at) {
			sqe = get_sqe();
			io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
			io_uring_sqe_set_data64(sqe, (uint64_t)T_ACCEPT << 32 | (uint32_t)lfd);
			accept_on = 1;
		}
		/* Every wake-up is a CQE (the stop too) unless the accept waits to be
		 * re-armed. A timespec all the same: liburing 2.3 sends a wait without
		 * one through its exported __io_uring_get_cqe, +20 instructions per
		 * echo under callgrind (806 against 786). */
		static struct __kernel_timespec idle = { IDLE_WAIT_S, 0 },
			retry = { 0, ACCEPT_RETRY_MS * 1000000LL };
		struct io_uring_cqe *cqe;
		if (io_uring_sq_ready(&ring) || !io_uring_cq_ready(&ring))
			SC(SC_SUBMIT);  /* liburing enters the kernel only then */
		int r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, accept_on ? &idle : &retry, NULL);
		if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY)
			die_err(-r, "io_uring_submit_and_wait_timeout");
		if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
			STAT_ADD(overflows, 1);   /* the kernel holds CQEs back; they come later */
		unsigned head;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t u = cqe->user_data;
			int fd = (int)(uint32_t)u, type = (int)(u >> 32 & 0xff);
			seen++;
			if (type == T_ACCEPT)
				handle_accept(fd, cqe->res, cqe->flags);
			else if (type == T_STOP && cqe->res < 0)
				die_err(-cqe->res, "poll(signalfd %d)", fd);
			else if (type == T_STOP)
				stop = 1;   /* SIGTERM/SIGINT pending: it stays so, blocked, to the exit */
			else if (type == T_CANCEL)
				;           /* -ENOENT/-EALREADY: that request had ended */
			else if (u >> 40 != (conns[fd].gen & 0xffffff)) {
				if (cqe->flags & IORING_CQE_F_BUFFER)   /* stale: recycle */
					in_ring--, freestk[nfree++] = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			} else if (type == T_RECV)
				handle_recv(fd, cqe->res, cqe->flags);
			else
				handle_send(fd, cqe->res);
		}
		io_uring_cq_advance(&ring, seen);
		seen = 0;
		refill_ring();
		for (unsigned n = in_ring; nwait && n; n--) {
			int fd = waitq[--nwait];
			conns[fd].waiting = 0;
			want_recv(fd);  /* its recv hit an empty ring: buffers are back */
		}
	}
	print_stats();
	return 0;
}
