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
 *   open    sends are due on the fixed schedule of pace.h; the latency runs
 *           from when the message was DUE (wrk2: coordinated omission
 *           corrected), so a stalled server shows in the tail. A connection
 *           that is behind owes messages (a counter: due times are recomputed
 *           from the schedule, so the queue costs no memory) and sends them as
 *           soon as it may, never with more than --depth in flight; past
 *           LG_OWED_MAX owed the oldest are dropped and counted (open_missed).
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

enum { ST_NEW, ST_CONNECTING, ST_UP, ST_DEAD, ST_RETRY };

struct lg_conn {
	int fd;
	uint32_t id;           /* global connection number: payload stream id */
	uint32_t slot;         /* place in the open-loop or idle-ping schedule */
	uint8_t state, active, out_armed, was_up;
	uint32_t head;         /* ring index of the oldest message in flight */
	uint32_t inflight;     /* messages queued and not fully echoed */
	uint64_t k_send, k_due;  /* schedule: next message to send, messages due */
	uint64_t sent_off, target_off, recv_off;   /* stream offsets, bytes */
	uint64_t wait_since;   /* ns: connect start, or last progress while waiting */
	uint64_t echoes;       /* measured echoes (fairness) */
	uint64_t nsent;        /* messages queued so far (--count) */
	uint8_t finished;      /* --count: all sent and echoed, or lost */
	uint64_t bad_msg;      /* 1 + last message counted as a verify error */
	uint64_t *ring;        /* depth send times (closed) or due times (open) */
};

static int lg_phase_v;
static uint64_t lg_t0;

void lg_set_phase(enum lg_phase ph, uint64_t t0)
{
	if (t0)
		__atomic_store_n(&lg_t0, t0, __ATOMIC_RELAXED);
	__atomic_store_n(&lg_phase_v, (int)ph, __ATOMIC_RELEASE);
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
	hist_merge(&d->lat, &s->lat);
	hist_merge(&d->conn_lat, &s->conn_lat);
	hist_merge(&d->light_lat, &s->light_lat);
	hist_merge(&d->heavy_lat, &s->heavy_lat);
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
	if (counting())
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

static void queue_msg(struct lg_thread *t, struct lg_conn *c, uint64_t ts, uint64_t now)
{
	uint32_t depth = t->cfg->depth, i = c->head + c->inflight;
	c->ring[i >= depth ? i - depth : i] = ts;
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

/* Open loop / idle pings: send what is owed, up to --depth in flight. */
static void send_owed(struct lg_thread *t, struct lg_conn *c, const struct pace *p, uint64_t now)
{
	uint32_t depth = t->cfg->depth;
	while (c->k_send < c->k_due && c->inflight < depth && may_send(t, c)) {
		queue_msg(t, c, pace_slot_time(p, c->slot, c->k_send), now);
		c->k_send++;
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
	ep_ctl(t, EPOLL_CTL_MOD, c, EPOLLIN);
	if (t->cfg->mode == LG_CHURN) {
		if (rec)
			hist_record(&t->res.conn_lat, (now - c->wait_since) / 1000);
		c->sent_off = c->target_off = c->recv_off = 0;
		c->head = 0;
		queue_msg(t, c, now, now);
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

static void on_readable(struct lg_thread *t, struct lg_conn *c, uint64_t now, int rec)
{
	const struct lg_cfg *cf = t->cfg;
	ssize_t n = recv(c->fd, t->rbuf, LG_BUF, MSG_DONTWAIT);
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
	for (uint64_t i = 0; i < done; i++) {
		uint64_t ts = c->ring[c->head];
		c->head = c->head + 1 == depth ? 0 : c->head + 1;
		c->inflight--;
		if (!rec)
			continue;
		if (c->active) {
			uint64_t us = now > ts ? (now - ts) / 1000 : 0;
			hist_record(&t->res.lat, us);
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
			queue_msg(t, c, now, now);
	} else {
		send_owed(t, c, c->active ? &t->pace_act : &t->pace_idle, now);
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
static void pump(struct lg_thread *t, struct pace_cursor *cur, struct lg_conn **map, uint64_t now)
{
	while (cur->nslots && pace_cursor_time(cur) <= now) {
		struct lg_conn *c = map[cur->j];
		if (c->state == ST_UP) {
			c->k_due++;
			if (c->k_due - c->k_send > LG_OWED_MAX) {
				c->k_send++;
				t->res.open_missed++;
			}
			if (c->inflight < t->cfg->depth) {
				send_owed(t, c, cur->p, now);
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
		if (c->state == ST_CONNECTING && now - c->wait_since > cto) {
			connect_failed(t, c, 0, now);
		} else if (c->state == ST_UP && c->inflight && now - c->wait_since > to) {
			if (counting())
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
		int n = wait_events(t, evs, 10000000);
		now = lg_now_ns();
		for (int i = 0; i < n; i++)
			dispatch(t, &evs[i], now, 0);
		if (now - last_scan > LG_SCAN_NS) {
			scan_timeouts(t, now);
			last_scan = now;
		}
	}
}

static void *thread_main(void *arg)
{
	struct lg_thread *t = arg;
	const struct lg_cfg *cf = t->cfg;
	struct epoll_event evs[LG_EVENTS];
	prctl(PR_SET_TIMERSLACK, 1000UL);   /* 1 us, not the default 50 us: open-loop timing */

	if (cf->mode != LG_CHURN)
		connect_phase(t, evs);
	__atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
	while (lg_get_phase() == LG_PH_CONNECT) {
		int n = wait_events(t, evs, 10000000);
		uint64_t now = lg_now_ns();
		for (int i = 0; i < n; i++)
			dispatch(t, &evs[i], now, 0);   /* only closes can arrive */
	}

	uint64_t t0 = __atomic_load_n(&lg_t0, __ATOMIC_RELAXED), now = lg_now_ns();
	t->pace_act = (struct pace){ .t0 = t0, .num = 1000000000ull, .den = cf->rate ? cf->rate : 1,
				     .total = cf->active ? cf->active : 1 };
	uint32_t idle_total = cf->conns - cf->active;
	t->pace_idle = (struct pace){ .t0 = t0, .num = (uint64_t)(cf->idle_ping_s * 1e9),
				      .den = idle_total ? idle_total : 1, .total = idle_total ? idle_total : 1 };
	struct pace_cursor ca = { &t->pace_act, t->act_slots, cf->mode == LG_OPEN ? t->nact : 0, 0, 0 };
	struct pace_cursor ci = { &t->pace_idle, t->idle_slots, cf->idle_ping_s > 0 ? t->nidle : 0, 0, 0 };
	for (uint32_t i = 0; i < t->count; i++) {
		struct lg_conn *c = &t->conns[i];
		if (cf->mode == LG_CHURN)
			start_connect(t, c, now);
		else if (cf->mode == LG_CLOSED && c->active && c->state == ST_UP) {
			for (uint32_t d = 0; d < cf->depth && may_send(t, c); d++)
				queue_msg(t, c, now, now);
			flush_send(t, c);
		}
		if (c->active && c->state != ST_UP)
			conn_finished(t, c);   /* never connected: nothing to wait for */
	}
	if (cf->count && t->left == 0)
		signal_done(t);            /* no active connection here at all */

	uint64_t last_scan = now;
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
		int n = wait_events(t, evs, wake > now ? wake - now : 0);
		for (int i = 0; i < n; i++)
			dispatch(t, &evs[i], lg_now_ns(), rec);
		now = lg_now_ns();
		pump(t, &ca, t->act_conns, now);
		pump(t, &ci, t->idle_conns, now);
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
	t->act_conns = calloc(count, sizeof(struct lg_conn *));
	t->idle_conns = calloc(count, sizeof(struct lg_conn *));
	t->act_slots = calloc(count, sizeof *t->act_slots);
	t->idle_slots = calloc(count, sizeof *t->idle_slots);
	t->sbuf = malloc(LG_BUF);
	t->rbuf = malloc(LG_BUF);
	if (!t->conns || !t->ring || !t->act_conns || !t->idle_conns || !t->act_slots ||
	    !t->idle_slots || !t->sbuf || !t->rbuf)
		return -1;
	if ((t->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		struct lg_conn *k = &t->conns[i];
		t->left += c->mode != LG_CHURN && lg_is_active(c, first + i);
		k->fd = -1;
		k->id = first + i;
		k->ring = t->ring + (size_t)i * c->depth;
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
