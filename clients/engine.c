/*
 * engine.c - one load-generating thread: an epoll loop over its connections.
 *
 * Per echo the hot path makes one recv() and one send() (plus the batched
 * epoll_wait), reads the clock once per event (vDSO, no system call), checks
 * every byte against payload.h and allocates nothing: all per-connection
 * state, send-time rings and buffers are allocated before the clock starts.
 *
 * Modes:
 *   closed  each active connection keeps --depth messages in flight; the
 *           latency of a message runs from its send() to its last byte.
 *   open    sends are due on the schedule of pace.h (uniform or Poisson); the
 *           latency runs from when the message was DUE (wrk2: coordinated
 *           omission corrected) to the kernel's receive timestamp of its
 *           reply (SO_TIMESTAMPNS), so a stalled server shows in the tail and
 *           the generator's own delay in reading the reply does not. A
 *           connection that is behind owes messages (a counter: due times are
 *           recomputed from the schedule, so the queue costs no memory) and
 *           sends them as soon as it may, never with more than --depth in
 *           flight; past LG_OWED_MAX owed the oldest are dropped and counted
 *           (open_missed).
 *           The thread sleeps on a timer until the next send is due (at most
 *           one wake-up per --batch-us, waking --early-us early and spinning;
 *           when the next send is due within --spin-us it spins instead),
 *           then collects every reply that came meanwhile without blocking
 *           (epoll_wait, timeout 0), and sends everything due. Replies do not
 *           wake it (nobody waits on the epoll set, so the server's send wakes
 *           nobody), unless --wake-on-reply.
 *           Lateness: for each send, the time the generator sent it (clock
 *           read just before send()) minus when it became sendable: its due
 *           time, or, when --depth messages were in flight then ("held"), the
 *           receive timestamp of the reply that freed the slot. The first part
 *           of a held message's wait is the server's; lateness is the
 *           generator's own. Both gaps between consecutive sends (as sent and
 *           as due) are kept per thread, for the send-process test.
 *   churn   each slot connects, sends one message, reads it back, closes and
 *           starts again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "payload.h"

#define LG_BUF         65536      /* per-thread send and receive buffers */
#define LG_EVENTS      512        /* events per epoll_wait */
#define LG_OWED_MAX    100000     /* owed sends per connection before dropping */
#define LG_SCAN_NS     100000000  /* timeouts checked every 100 ms */
#define LG_WAKE_NS     20000000   /* loop wakes at least every 20 ms (phase changes) */
#define LG_RETRY_NS    10000000   /* churn: wait 10 ms after a failed connect */
#define LG_ROUNDS      64         /* non-blocking collects per wake (64 x 512 events) */

enum { ST_NEW, ST_CONNECTING, ST_UP, ST_DEAD, ST_RETRY };

struct lg_conn {
	int fd;
	uint32_t id;           /* global connection number: payload stream id */
	uint32_t slot;         /* place in the open-loop or idle-ping schedule */
	uint8_t state, active, out_armed, was_up;
	uint32_t head;         /* ring index of the oldest message in flight */
	uint32_t inflight;     /* messages queued and not fully echoed */
	struct pace_slot snd;  /* schedule: next message to send (snd.k) and its due time */
	uint64_t k_due;        /* schedule: messages due */
	uint64_t free_at;      /* ns: when a reply last freed a --depth slot */
	uint64_t sent_off, target_off, recv_off;   /* stream offsets, bytes */
	uint64_t wait_since;   /* ns: connect start, or last progress while waiting */
	uint64_t echoes;       /* measured echoes (fairness) */
	uint64_t nsent;        /* messages queued so far (--count) */
	uint8_t finished;      /* --count: all sent and echoed, or lost */
	uint64_t bad_msg;      /* 1 + last message counted as a verify error */
	uint64_t *ring;        /* depth send times (closed) or due times (open) */
	uint32_t *ring_late;   /* depth lateness (ns) of those messages, open loop */
};

static int lg_phase_v;
static uint64_t lg_t0;

void lg_set_phase(enum lg_phase ph, uint64_t t0)
{
	if (t0)
		__atomic_store_n(&lg_t0, t0, __ATOMIC_RELAXED);
	__atomic_store_n(&lg_phase_v, (int)ph, __ATOMIC_RELEASE);
}

static int lg_released_v;

void lg_release(void)
{
	__atomic_store_n(&lg_released_v, 1, __ATOMIC_RELEASE);
}

enum lg_phase lg_get_phase(void)
{
	return (enum lg_phase)__atomic_load_n(&lg_phase_v, __ATOMIC_ACQUIRE);
}

uint64_t lg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Active connections are spread evenly over the ids: id i is active when
 * floor((i+1)A/N) > floor(iA/N); its slot is floor(iA/N) (actives before it). */
int lg_is_active(const struct lg_cfg *c, uint32_t id)
{
	uint64_t a = c->active, n = c->conns;
	return (id + 1ull) * a / n > id * a / n;
}

uint32_t lg_slot(const struct lg_cfg *c, uint32_t id)
{
	uint32_t before = (uint32_t)((uint64_t)id * c->active / c->conns);
	return lg_is_active(c, id) ? before : id - before;
}

/* ---- results -------------------------------------------------------------- */

void lg_result_init(struct lg_result *r)
{
	memset(r, 0, sizeof *r);
	r->fair_min = UINT64_MAX;
	hist_init(&r->late);
	hist_init(&r->srv_lat);
	hist_init(&r->gap_sent);
	hist_init(&r->gap_due);
	hist_init(&r->lat);
	hist_init(&r->conn_lat);
	hist_init(&r->light_lat);
	hist_init(&r->heavy_lat);
}

void lg_result_merge(struct lg_result *d, const struct lg_result *s)
{
	d->conns += s->conns;
	d->connected += s->connected;
	d->connect_errors += s->connect_errors;
	for (int i = 0; i < LG_REASONS; i++)
		d->connect_reasons[i] += s->connect_reasons[i];
	d->echoes += s->echoes;
	d->bytes += s->bytes;
	d->idle_echoes += s->idle_echoes;
	d->churn_conns += s->churn_conns;
	d->verify_errors += s->verify_errors;
	d->unexpected_closes += s->unexpected_closes;
	d->timeouts += s->timeouts;
	d->open_missed += s->open_missed;
	d->unfinished += s->unfinished;
	d->fair_n += s->fair_n;
	if (s->fair_n && s->fair_min < d->fair_min)
		d->fair_min = s->fair_min;
	if (s->fair_max > d->fair_max)
		d->fair_max = s->fair_max;
	d->fair_sum += s->fair_sum;
	d->fair_sumsq += s->fair_sumsq;
	d->cpu_user += s->cpu_user;
	d->cpu_sys += s->cpu_sys;
	d->cpu_wait = d->cpu_wait < 0 || s->cpu_wait < 0 ? -1.0 : d->cpu_wait + s->cpu_wait;
	d->sends += s->sends;
	d->spin_ns_sum += s->spin_ns_sum;
	d->spin_ns += s->spin_ns;
	d->spin_threads += s->spin_threads;
	d->held += s->held;
	if (s->gap_unit_ns > d->gap_unit_ns)
		d->gap_unit_ns = s->gap_unit_ns;   /* the same in every thread: from cfg */
	hist_merge(&d->late, &s->late);
	hist_merge(&d->srv_lat, &s->srv_lat);
	hist_merge(&d->gap_sent, &s->gap_sent);
	hist_merge(&d->gap_due, &s->gap_due);
	hist_merge(&d->lat, &s->lat);
	hist_merge(&d->conn_lat, &s->conn_lat);
	hist_merge(&d->light_lat, &s->light_lat);
	hist_merge(&d->heavy_lat, &s->heavy_lat);
}

/* 1 - (latency less lateness) / latency at percentile q: the generator's
 * share of that percentile. */
static double late_share(const struct lg_result *r, double q)
{
	uint64_t all = hist_percentile(&r->lat, q), srv = hist_percentile(&r->srv_lat, q);
	return all && srv < all ? 1.0 - (double)srv / (double)all : 0.0;
}

void lg_result_verdict(const struct lg_result *r, int saturated, struct lg_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->w1_gaps = hist_w1(&r->gap_sent, &r->gap_due);
	double mean = hist_mean(&r->gap_due);
	v->gap_us = mean * (double)r->gap_unit_ns / 1000.0;
	if (v->w1_gaps >= 0)
		v->w1_gaps = mean > 0 ? v->w1_gaps / mean : 0.0;
	v->share_p50 = late_share(r, 50);
	v->share_p99 = late_share(r, 99);
	v->known = r->sends >= LG_VERDICT_MIN;
	if (v->w1_gaps > LG_W1_LIMIT)
		v->why |= LG_WHY_ARRIVALS;
	if (v->share_p50 > LG_SHARE_LIMIT || v->share_p99 > LG_SHARE_LIMIT)
		v->why |= LG_WHY_LATE;
	if (saturated)
		v->why |= LG_WHY_SATURATED;
}

double lg_result_jain(const struct lg_result *r)
{
	if (!r->fair_n || r->fair_sumsq <= 0)
		return r->fair_n ? 1.0 : 0.0;
	return r->fair_sum * r->fair_sum / ((double)r->fair_n * r->fair_sumsq);
}

/* ---- one connection ---------------------------------------------------------- */

static int counting(void)
{
	enum lg_phase ph = lg_get_phase();
	return ph == LG_PH_WARMUP || ph == LG_PH_MEASURE;
}

static void ep_ctl(struct lg_thread *t, int op, struct lg_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	epoll_ctl(t->epfd, op, c->fd, &ev);   /* only ENOMEM can fail here; the timeout scan catches it */
}

static void conn_close(struct lg_conn *c, int state)
{
	if (c->fd >= 0)
		close(c->fd);   /* also leaves the epoll interest list */
	c->fd = -1;
	c->state = (uint8_t)state;
	c->inflight = 0;
	c->out_armed = 0;
}

/* --count: tell the process's main thread this thread is done (once). */
static void signal_done(struct lg_thread *t)
{
	uint64_t one = 1;
	if (t->done_sent)
		return;
	t->done_sent = 1;
	if (write(t->done_fd, &one, sizeof one) != sizeof one)
		t->res.unfinished++;   /* cannot happen on an eventfd; be loud if it does */
}

/* --count: this active connection has nothing more to do (all its echoes
 * back, or it was lost); the thread's last one tells the main thread. */
static void conn_finished(struct lg_thread *t, struct lg_conn *c)
{
	if (!t->cfg->count || !c->active || c->finished)
		return;
	c->finished = 1;
	if (--t->left == 0)
		signal_done(t);
}

/* A connection lost during the run: reset, EOF, send error. */
static void conn_lost(struct lg_thread *t, struct lg_conn *c)
{
	if (counting() || t->priming)
		t->res.unexpected_closes++;
	conn_close(c, ST_DEAD);
	conn_finished(t, c);
}

/* --count: may c queue another message? */
static int may_send(const struct lg_thread *t, const struct lg_conn *c)
{
	return !t->cfg->count || !c->active || c->nsent < t->cfg->count;
}

static void connect_failed(struct lg_thread *t, struct lg_conn *c, int err, uint64_t now)
{
	t->res.connect_errors++;
	t->res.connect_reasons[err > 0 && err < LG_REASONS ? err : 0]++;
	conn_close(c, t->cfg->mode == LG_CHURN ? ST_RETRY : ST_DEAD);
	c->wait_since = now;
	conn_finished(t, c);
}

static void queue_msg(struct lg_thread *t, struct lg_conn *c, uint64_t ts, uint64_t now, uint64_t late)
{
	uint32_t depth = t->cfg->depth, i = c->head + c->inflight;
	if (i >= depth)
		i -= depth;
	c->ring[i] = ts;
	c->ring_late[i] = late > UINT32_MAX ? UINT32_MAX : (uint32_t)late;
	if (c->inflight++ == 0)
		c->wait_since = now;
	c->nsent++;
	c->target_off += t->cfg->size;
}

/* Send what is queued; on a full socket buffer wait for EPOLLOUT.
 * Returns -1 when the connection was lost. */
static int flush_send(struct lg_thread *t, struct lg_conn *c)
{
	while (c->sent_off < c->target_off) {
		uint64_t left = c->target_off - c->sent_off;
		size_t n = left > LG_BUF ? LG_BUF : (size_t)left;
		payload_fill(t->sbuf, c->id, c->sent_off, n);
		ssize_t w = send(c->fd, t->sbuf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_lost(t, c);
				return -1;
			}
			w = 0;
		}
		c->sent_off += (uint64_t)w;
		if ((size_t)w < n) {
			if (!c->out_armed) {
				c->out_armed = 1;
				ep_ctl(t, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLOUT);
			}
			return 0;
		}
	}
	if (c->out_armed) {
		c->out_armed = 0;
		ep_ctl(t, EPOLL_CTL_MOD, c, EPOLLIN);
	}
	return 0;
}

/* Open loop / idle pings: send what is owed, up to --depth in flight, and
 * (rec, an active connection) record each send's lateness and, for a send
 * that was not held, the gap since the thread's previous such send as sent
 * and as due: a held send goes when the server lets it, so the test of the
 * generator's send process leaves it out. */
static void send_owed(struct lg_thread *t, struct lg_conn *c, const struct pace *p, int rec)
{
	uint32_t depth = t->cfg->depth;
	if (c->snd.k >= c->k_due || c->inflight >= depth || !may_send(t, c))
		return;
	uint64_t now = lg_now_ns();   /* the flush_send() that follows sends them now */
	rec &= c->active;
	while (c->snd.k < c->k_due && c->inflight < depth && may_send(t, c)) {
		uint64_t due = c->snd.due;
		uint64_t ready = due > c->free_at ? due : c->free_at;   /* held: from the freeing reply */
		uint64_t late = now > ready ? now - ready : 0;
		queue_msg(t, c, due, now, late);
		if (rec) {
			struct lg_result *r = &t->res;
			hist_record(&r->late, late);
			r->sends++;
			if (ready > due) {
				r->held++;
			} else {
				if (t->last_send) {
					hist_record(&r->gap_sent, (now - t->last_send) / r->gap_unit_ns);
					hist_record(&r->gap_due, (due > t->last_due ? due - t->last_due : 0) /
						    r->gap_unit_ns);
				}
				t->last_send = now;
				t->last_due = due;
			}
		}
		pace_slot_step(p, c->slot, &c->snd);
	}
}

static void start_connect(struct lg_thread *t, struct lg_conn *c, uint64_t now);

static void on_connected(struct lg_thread *t, struct lg_conn *c, uint64_t now, int rec)
{
	int one = 1;   /* small messages: no Nagle delay */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->state = ST_UP;
	c->was_up = 1;
	t->res.connected++;
	if (t->cfg->mode == LG_OPEN)   /* the kernel stamps each reply's arrival */
		setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
	ep_ctl(t, EPOLL_CTL_MOD, c, EPOLLIN);
	if (t->cfg->mode == LG_CHURN) {
		if (rec)
			hist_record(&t->res.conn_lat, (now - c->wait_since) / 1000);
		c->sent_off = c->target_off = c->recv_off = 0;
		c->head = 0;
		queue_msg(t, c, now, now, 0);
		flush_send(t, c);
	}
}

static void start_connect(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	const struct lg_cfg *cf = t->cfg;
	c->wait_since = now;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return connect_failed(t, c, errno, now);
	if (cf->nsrcs) {
		/* Bind the source address but let connect() pick the port, so the
		 * port is unique per (src, dst, dport) rather than per src. */
		int one = 1;
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = cf->srcs[c->id % (uint32_t)cf->nsrcs] };
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src))
			return connect_failed(t, c, errno, now);
	}
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr = cf->host,
				   .sin_port = htons(cf->ports[c->id % (uint32_t)cf->nports]) };
	int r = connect(c->fd, (struct sockaddr *)&dst, sizeof dst);
	if (r && errno != EINPROGRESS)
		return connect_failed(t, c, errno, now);
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &ev))
		return connect_failed(t, c, errno, now);
	c->state = ST_CONNECTING;
	if (r == 0)
		on_connected(t, c, now, counting() && lg_get_phase() == LG_PH_MEASURE);
}

static void on_connect_event(struct lg_thread *t, struct lg_conn *c, uint64_t now, int rec)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err)
		return connect_failed(t, c, err, now);
	on_connected(t, c, now, rec);
}

static void count_bad(struct lg_thread *t, struct lg_conn *c, const uint8_t *buf, size_t n)
{
	uint32_t size = t->cfg->size;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != payload_byte(c->id, c->recv_off + i)) {
			uint64_t msg = (c->recv_off + i) / size + 1;
			if (c->bad_msg != msg) {
				c->bad_msg = msg;
				t->res.verify_errors++;
			}
		}
}

/* recv(); in the open loop recvmsg(), which also gives the kernel's receive
 * timestamp of the last segment read (CLOCK_REALTIME, moved to the
 * monotonic clock by the offset read at this wake-up) in *at; else, or
 * without a timestamp, *at stays the caller's now. */
static ssize_t recv_stamped(struct lg_thread *t, int fd, uint64_t *at)
{
	if (t->cfg->mode != LG_OPEN)
		return recv(fd, t->rbuf, LG_BUF, MSG_DONTWAIT);
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = t->rbuf, .iov_len = LG_BUF };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof ctl.buf };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n <= 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(cm), sizeof ts);
		uint64_t rt = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (rt > t->rt_off && rt - t->rt_off < *at)
			*at = rt - t->rt_off;   /* never after now: a step of the wall clock cannot */
	}
	return n;
}

static void on_readable(struct lg_thread *t, struct lg_conn *c, uint64_t now, int rec)
{
	const struct lg_cfg *cf = t->cfg;
	uint64_t at = now;   /* when the bytes arrived (open loop: the kernel's stamp) */
	ssize_t n = recv_stamped(t, c->fd, &at);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		return conn_lost(t, c);    /* EOF or reset while we expect replies */
	}
	uint64_t got = (uint64_t)n;
	if (c->recv_off + got > c->sent_off) {   /* bytes we never sent */
		t->res.verify_errors++;
		conn_close(c, ST_DEAD);
		return conn_finished(t, c);
	}
	if (payload_check(t->rbuf, c->id, c->recv_off, (size_t)n) != (size_t)n)
		count_bad(t, c, t->rbuf, (size_t)n);
	uint64_t first = c->recv_off / cf->size;   /* index of the oldest message in flight */
	uint64_t done = (c->recv_off + got) / cf->size - first;
	c->recv_off += got;
	c->wait_since = now;
	if (rec && c->active)
		t->res.bytes += got;
	uint32_t depth = cf->depth;
	if (done && c->inflight >= depth)
		c->free_at = at;   /* a held message may go from here on */
	for (uint64_t i = 0; i < done; i++) {
		uint64_t ts = c->ring[c->head], late = c->ring_late[c->head];
		c->head = c->head + 1 == depth ? 0 : c->head + 1;
		c->inflight--;
		if (!rec)
			continue;
		if (c->active) {
			uint64_t us = at > ts ? (at - ts) / 1000 : 0;
			hist_record(&t->res.lat, us);
			if (cf->mode == LG_OPEN)
				hist_record(&t->res.srv_lat, at > ts + late ? (at - ts - late) / 1000 : 0);
			if (cf->work_every) {      /* the server's rule, on the same bytes */
				unsigned key = payload_work_key(c->id, (first + i) * cf->size, cf->size);
				hist_record(key % cf->work_every ? &t->res.light_lat : &t->res.heavy_lat, us);
			}
			t->res.echoes++;
			c->echoes++;
		} else {
			t->res.idle_echoes++;
		}
	}
	if (cf->count && c->active && c->inflight == 0 && !may_send(t, c))
		conn_finished(t, c);
	if (!done || t->draining)
		return;
	if (cf->mode == LG_CHURN) {
		if (rec)
			t->res.churn_conns++;
		conn_close(c, ST_NEW);
		return start_connect(t, c, lg_now_ns());
	}
	if (c->active && cf->mode == LG_CLOSED) {
		for (uint64_t i = 0; i < done && may_send(t, c); i++)
			queue_msg(t, c, now, now, 0);
	} else {
		send_owed(t, c, c->active ? &t->pace_act : &t->pace_idle, rec);
	}
	flush_send(t, c);
}

static void dispatch(struct lg_thread *t, struct epoll_event *ev, uint64_t now, int rec)
{
	struct lg_conn *c = ev->data.ptr;
	uint32_t e = ev->events;
	if (c->state == ST_CONNECTING) {
		if (!t->draining)
			on_connect_event(t, c, now, rec);
		return;
	}
	if (c->state != ST_UP)
		return;
	if (c->out_armed && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && flush_send(t, c) < 0)
		return;
	if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(t, c, now, rec);
}

/* Everything due on one schedule by now: owe it, send it. */
static void pump(struct lg_thread *t, struct pace_cursor *cur, struct lg_conn **map, uint64_t now, int rec)
{
	while (cur->nslots && pace_cursor_time(cur) <= now) {
		struct lg_conn *c = map[pace_cursor_index(cur)];
		if (c->state == ST_UP) {
			c->k_due++;
			if (c->k_due - c->snd.k > LG_OWED_MAX) {
				pace_slot_step(cur->p, c->slot, &c->snd);   /* the oldest owed: dropped */
				t->res.open_missed++;
			}
			if (c->inflight < t->cfg->depth) {
				send_owed(t, c, cur->p, rec);
				flush_send(t, c);
			}
		}
		pace_cursor_next(cur);
	}
}

static void scan_timeouts(struct lg_thread *t, uint64_t now)
{
	const struct lg_cfg *cf = t->cfg;
	uint64_t cto = (uint64_t)(cf->connect_timeout_s * 1e9), to = (uint64_t)(cf->timeout_s * 1e9);
	for (uint32_t i = 0; i < t->count; i++) {
		struct lg_conn *c = &t->conns[i];
		if (c->wait_since > now)
			continue;   /* stamped by a send after this scan's clock reading */
		if (c->state == ST_CONNECTING && now - c->wait_since > cto) {
			connect_failed(t, c, 0, now);
		} else if (c->state == ST_UP && c->inflight && now - c->wait_since > to) {
			if (counting() || t->priming)
				t->res.timeouts++;
			conn_close(c, ST_DEAD);
			conn_finished(t, c);
		} else if (c->state == ST_RETRY && now - c->wait_since > LG_RETRY_NS && counting()) {
			start_connect(t, c, now);
		}
	}
}

/* ---- the thread -------------------------------------------------------------- */

static int wait_events(struct lg_thread *t, struct epoll_event *evs, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull) };
	int n = epoll_pwait2(t->epfd, evs, LG_EVENTS, &ts, NULL);
	return n < 0 ? 0 : n;   /* EINTR: signals are blocked here, but be safe */
}

/* Spin on the clock (vDSO: no system call) until `until`; the ns spun. */
static uint64_t spin_until(uint64_t until)
{
	uint64_t t0 = lg_now_ns(), now = t0;
	while (now < until)
		now = lg_now_ns();
	return now - t0;
}

/* The open loop's sleep until `wake`: when it is more than `spin` away, on
 * a timer (the thread's slack applies) until `early` before it, then
 * spinning the rest (if early); else spinning all the way. The ns spun. */
static uint64_t sleep_until(uint64_t wake, uint64_t early, uint64_t spin)
{
	uint64_t now = lg_now_ns();
	if (wake > now + spin && wake > now + early) {
		uint64_t at = wake - early;
		struct timespec ts = { (time_t)(at / 1000000000ull), (long)(at % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);   /* EINTR: signals blocked */
		if (!early)
			return 0;
	}
	return spin_until(wake);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The CPU time one sleep and wake-up costs this thread (the median of
 * LG_CALIB sleeps of LG_CALIB_NS): when the next send is due sooner than
 * that, spinning to it costs less CPU than sleeping, and is on time. */
#define LG_CALIB     15
#define LG_CALIB_NS  50000
static uint64_t sleep_cost_ns(void)
{
	uint64_t c[LG_CALIB];
	for (int i = 0; i < LG_CALIB; i++) {
		struct timespec ts = { 0, LG_CALIB_NS };
		uint64_t c0 = thread_cpu_ns();
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		c[i] = thread_cpu_ns() - c0;
	}
	qsort(c, LG_CALIB, sizeof c[0], cmp_u64);
	return c[LG_CALIB / 2];
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One wait of the set-up phases (connecting, priming): up to 10 ms for
 * events, nothing recorded, and the timeouts checked every LG_SCAN_NS. */
static void wait_round(struct lg_thread *t, struct epoll_event *evs, uint64_t *last_scan)
{
	int n = wait_events(t, evs, 10000000);
	uint64_t now = lg_now_ns();
	for (int i = 0; i < n; i++)
		dispatch(t, &evs[i], now, 0);
	if (now - *last_scan > LG_SCAN_NS) {
		scan_timeouts(t, now);
		*last_scan = now;
	}
}

static void connect_phase(struct lg_thread *t, struct epoll_event *evs)
{
	uint32_t next = 0;
	uint64_t last_scan = lg_now_ns();
	while (lg_get_phase() != LG_PH_STOP) {
		uint64_t now = lg_now_ns();
		uint32_t connecting = 0;
		for (uint32_t i = 0; i < next; i++)   /* O(n) per round, only while connecting */
			connecting += t->conns[i].state == ST_CONNECTING;
		while (next < t->count && connecting < t->connect_cap) {
			start_connect(t, &t->conns[next++], now);
			connecting += t->conns[next - 1].state == ST_CONNECTING;
		}
		if (next == t->count && !connecting)
			break;
		wait_round(t, evs, &last_scan);
	}
}

/* --prime: one echo on every connection that is up, idle ones too, and wait
 * until each came back or was lost (--timeout bounds it): the server has
 * then accepted and served every connection before the warm-up begins. A
 * server that accepts lazily (a thread or a process per connection, made
 * at accept) would otherwise still be accepting inside the measured window.
 * Nothing is recorded; a reply sends nothing more (draining). */
static void prime_phase(struct lg_thread *t, struct epoll_event *evs)
{
	uint64_t now = lg_now_ns(), last_scan = now;
	t->priming = t->draining = 1;
	for (uint32_t i = 0; i < t->count; i++) {
		struct lg_conn *c = &t->conns[i];
		if (c->state != ST_UP)
			continue;
		queue_msg(t, c, now, now, 0);
		flush_send(t, c);
	}
	while (lg_get_phase() != LG_PH_STOP) {
		uint32_t waiting = 0;
		for (uint32_t i = 0; i < t->count; i++)
			waiting += t->conns[i].state == ST_UP && t->conns[i].inflight;
		if (!waiting)
			break;
		wait_round(t, evs, &last_scan);
	}
	t->priming = t->draining = 0;
}

static void *thread_main(void *arg)
{
	struct lg_thread *t = arg;
	const struct lg_cfg *cf = t->cfg;
	struct epoll_event evs[LG_EVENTS];
	prctl(PR_SET_TIMERSLACK, (unsigned long)cf->slack_ns);   /* default 1 us, not 50 us: open-loop timing */

	if (cf->mode != LG_CHURN)
		connect_phase(t, evs);
	if (cf->prime)
		prime_phase(t, evs);
	__atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
	while (lg_get_phase() == LG_PH_CONNECT) {
		int n = wait_events(t, evs, 10000000);
		uint64_t now = lg_now_ns();
		for (int i = 0; i < n; i++)
			dispatch(t, &evs[i], now, 0);   /* only closes can arrive */
	}

	uint64_t t0 = __atomic_load_n(&lg_t0, __ATOMIC_RELAXED), now = lg_now_ns();
	t->pace_act = (struct pace){ .t0 = t0, .num = 1000000000ull, .den = cf->rate ? cf->rate : 1,
				     .total = cf->active ? cf->active : 1, .kind = cf->arrivals, .seed = cf->seed };
	uint32_t idle_total = cf->conns - cf->active;
	t->pace_idle = (struct pace){ .t0 = t0, .num = (uint64_t)(cf->idle_ping_s * 1e9),
				      .den = idle_total ? idle_total : 1, .total = idle_total ? idle_total : 1 };
	/* gaps in units of a thousandth of the mean gap 1/R: exact to 0.1% of it */
	t->res.gap_unit_ns = cf->rate && cf->rate < 1000000 ? 1000000 / cf->rate : 1;
	struct pace_cursor ca, ci;
	pace_cursor_start(&ca, &t->pace_act, t->act_slots, cf->mode == LG_OPEN ? t->nact : 0, t->heap_act);
	pace_cursor_start(&ci, &t->pace_idle, t->idle_slots, cf->idle_ping_s > 0 ? t->nidle : 0, NULL);
	for (uint32_t i = 0; i < t->count; i++) {
		struct lg_conn *c = &t->conns[i];
		pace_slot_start(c->active ? &t->pace_act : &t->pace_idle, c->slot, &c->snd);
		if (cf->mode == LG_CHURN)
			start_connect(t, c, now);
		else if (cf->mode == LG_CLOSED && c->active && c->state == ST_UP) {
			for (uint32_t d = 0; d < cf->depth && may_send(t, c); d++)
				queue_msg(t, c, now, now, 0);
			flush_send(t, c);
		}
		if (c->active && c->state != ST_UP)
			conn_finished(t, c);   /* never connected: nothing to wait for */
	}
	if (cf->count && t->left == 0)
		signal_done(t);            /* no active connection here at all */

	/* the open loop sleeps on a timer and collects replies at each wake-up */
	int deferred = cf->mode == LG_OPEN && !cf->wake_on_reply;
	uint64_t batch = (uint64_t)cf->batch_us * 1000, early = (uint64_t)cf->early_us * 1000;
	uint64_t spin = (uint64_t)cf->spin_us * 1000;
	if (cf->mode == LG_OPEN && cf->spin_auto)
		spin = sleep_cost_ns();
	t->res.spin_ns_sum = spin;
	t->res.spin_threads = 1;
	uint64_t last_scan = now, woke = 0;
	for (;;) {
		enum lg_phase ph = lg_get_phase();
		if (ph == LG_PH_STOP)
			break;
		int rec = ph == LG_PH_MEASURE;
		now = lg_now_ns();
		uint64_t wake = now + LG_WAKE_NS;
		if (ca.nslots && pace_cursor_time(&ca) < wake)
			wake = pace_cursor_time(&ca);
		if (ci.nslots && pace_cursor_time(&ci) < wake)
			wake = pace_cursor_time(&ci);
		if (cf->mode == LG_OPEN && wake < woke + batch)
			wake = woke + batch;   /* --batch-us: at most one wake-up per G */
		int n = 0;
		uint64_t spun = 0;
		if (deferred) {
			spun = sleep_until(wake, early, spin);
		} else {
			uint64_t until = wake <= now + spin ? now : wake > early ? wake - early : 0;
			n = wait_events(t, evs, until > now ? until - now : 0);
			if (!n && (early || until == now))
				spun = spin_until(wake);
		}
		if (rec)
			t->res.spin_ns += spun;
		now = woke = lg_now_ns();
		if (cf->mode == LG_OPEN)
			t->rt_off = realtime_ns() - now;   /* for the receive timestamps */
		for (int round = 0; deferred && round < LG_ROUNDS; round++) {
			n = wait_events(t, evs, 0);   /* what came while we slept, without blocking */
			for (int i = 0; i < n; i++)
				dispatch(t, &evs[i], now, rec);
			if (n < LG_EVENTS)
				break;
		}
		for (int i = 0; !deferred && i < n; i++)
			dispatch(t, &evs[i], now, rec);
		now = lg_now_ns();
		pump(t, &ca, t->act_conns, now, rec);
		pump(t, &ci, t->idle_conns, now, rec);
		if (now - last_scan > LG_SCAN_NS) {
			scan_timeouts(t, now);
			last_scan = now;
		}
		__atomic_store_n(&t->progress, t->res.echoes, __ATOMIC_RELAXED);
	}

	/* A graceful end: send nothing new and collect what is in flight (at
	 * most 1 s), so each close finds an empty receive queue and sends a FIN;
	 * close() with unread bytes would send the server a reset instead. */
	t->draining = 1;
	uint64_t drain_end = lg_now_ns() + 1000000000ull;
	while ((now = lg_now_ns()) < drain_end) {
		uint32_t busy = 0;
		for (uint32_t i = 0; i < t->count; i++)
			busy += t->conns[i].state == ST_UP && t->conns[i].inflight;
		if (!busy)
			break;
		int n = wait_events(t, evs, 10000000);
		for (int i = 0; i < n; i++)
			dispatch(t, &evs[i], now, 0);
	}

	/* --hold: open and silent until released (the process's main, when
	 * whoever reads the server at "measure end" has read it), at most S */
	uint64_t hold_end = lg_now_ns() + (uint64_t)(cf->hold_s * 1e9);
	while (cf->hold_s > 0 && !__atomic_load_n(&lg_released_v, __ATOMIC_ACQUIRE) &&
	       (now = lg_now_ns()) < hold_end) {
		int n = wait_events(t, evs, 5000000);
		for (int i = 0; i < n; i++)
			dispatch(t, &evs[i], now, 0);
	}

	/* fairness over the active connections that were ever up */
	for (uint32_t i = 0; i < t->count; i++) {
		struct lg_conn *c = &t->conns[i];
		if (cf->count && c->active && !c->finished)
			t->res.unfinished++;   /* the --duration cap came first */
		if (c->active && c->was_up && cf->mode != LG_CHURN) {
			struct lg_result *r = &t->res;
			r->fair_n++;
			r->fair_sum += (double)c->echoes;
			r->fair_sumsq += (double)c->echoes * (double)c->echoes;
			if (c->echoes < r->fair_min)
				r->fair_min = c->echoes;
			if (c->echoes > r->fair_max)
				r->fair_max = c->echoes;
		}
		if (c->fd >= 0)
			conn_close(c, ST_DEAD);
	}
	return NULL;
}

static int thread_setup(struct lg_thread *t, const struct lg_cfg *c, uint32_t first, uint32_t count,
			uint32_t cap, int done_fd)
{
	memset(t, 0, sizeof *t);
	t->done_fd = done_fd;
	t->cfg = c;
	t->first = first;
	t->count = count;
	t->connect_cap = cap;
	lg_result_init(&t->res);
	t->res.conns = count;
	t->conns = calloc(count, sizeof *t->conns);
	t->ring = calloc((size_t)count * c->depth, sizeof *t->ring);
	t->ring_late = calloc((size_t)count * c->depth, sizeof *t->ring_late);
	t->heap_act = calloc(count, sizeof *t->heap_act);
	t->act_conns = calloc(count, sizeof(struct lg_conn *));
	t->idle_conns = calloc(count, sizeof(struct lg_conn *));
	t->act_slots = calloc(count, sizeof *t->act_slots);
	t->idle_slots = calloc(count, sizeof *t->idle_slots);
	t->sbuf = malloc(LG_BUF);
	t->rbuf = malloc(LG_BUF);
	if (!t->conns || !t->ring || !t->ring_late || !t->heap_act || !t->act_conns || !t->idle_conns ||
	    !t->act_slots || !t->idle_slots || !t->sbuf || !t->rbuf)
		return -1;
	if ((t->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		struct lg_conn *k = &t->conns[i];
		t->left += c->mode != LG_CHURN && lg_is_active(c, first + i);
		k->fd = -1;
		k->id = first + i;
		k->ring = t->ring + (size_t)i * c->depth;
		k->ring_late = t->ring_late + (size_t)i * c->depth;
		k->active = c->mode == LG_CHURN || lg_is_active(c, k->id);
		k->slot = lg_slot(c, k->id);
		if (k->active) {
			t->act_conns[t->nact] = k;
			t->act_slots[t->nact++] = k->slot;
		} else {
			t->idle_conns[t->nidle] = k;
			t->idle_slots[t->nidle++] = k->slot;
		}
	}
	return 0;
}

int lg_proc_start(struct lg_proc *p, const struct lg_cfg *c, uint32_t first, uint32_t count)
{
	p->cfg = c;
	p->nthreads = c->threads;
	p->ndone = 0;
	p->done_fd = -1;
	p->threads = calloc((size_t)p->nthreads, sizeof *p->threads);
	if (!p->threads)
		return -1;
	if (c->count && (p->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		p->nthreads = 0;
		return -1;
	}
	/* "a few hundred connects in flight" in all: 256 split over every thread */
	uint32_t cap = 256u / (uint32_t)(c->threads * c->procs);
	if (cap < 8)
		cap = 8;
	/* worker threads take no signals: the process's main thread handles them */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = 0;
	for (int i = 0; i < p->nthreads && !rc; i++) {
		uint32_t a = first + (uint32_t)((uint64_t)count * (uint64_t)i / (uint64_t)p->nthreads);
		uint32_t b = first + (uint32_t)((uint64_t)count * (uint64_t)(i + 1) / (uint64_t)p->nthreads);
		if (thread_setup(&p->threads[i], c, a, b - a, cap, p->done_fd) ||
		    (errno = pthread_create(&p->threads[i].tid, NULL, thread_main, &p->threads[i])) != 0) {
			p->nthreads = i;   /* join only those started */
			rc = -1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int lg_proc_connected(const struct lg_proc *p)
{
	for (int i = 0; i < p->nthreads; i++)
		if (!__atomic_load_n(&p->threads[i].ready, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

int lg_proc_done(struct lg_proc *p)
{
	uint64_t n;
	if (p->done_fd < 0)
		return 0;
	if (read(p->done_fd, &n, sizeof n) == sizeof n)
		p->ndone += (int)n;
	return p->ndone >= p->nthreads;
}

uint64_t lg_proc_progress(const struct lg_proc *p)
{
	uint64_t s = 0;
	for (int i = 0; i < p->nthreads; i++)
		s += __atomic_load_n(&p->threads[i].progress, __ATOMIC_RELAXED);
	return s;
}

void lg_proc_finish(struct lg_proc *p, struct lg_result *r)
{
	for (int i = 0; i < p->nthreads; i++) {
		struct lg_thread *t = &p->threads[i];
		pthread_join(t->tid, NULL);
		lg_result_merge(r, &t->res);
		close(t->epfd);
		free(t->conns);
		free(t->ring);
		free(t->ring_late);
		free(t->heap_act);
		free(t->act_conns);
		free(t->idle_conns);
		free(t->act_slots);
		free(t->idle_slots);
		free(t->sbuf);
		free(t->rbuf);
	}
	free(p->threads);
	p->threads = NULL;
	if (p->done_fd >= 0)
		close(p->done_fd);
	p->done_fd = -1;
}
