/*
 * libevent.c - libevent 2.1 as its book teaches: an evconnlistener and one
 * bufferevent per connection; libevent does every read, write and accept.
 *
 * Underneath, on Linux, event_base_dispatch() is a level-triggered
 * epoll_wait() loop (epoll.c; its event array starts at 32 and doubles when
 * a wait fills it, up to 4,096), and a bufferevent is two events on one fd:
 *   - reading: on EPOLLIN, ioctl(FIONREAD) to size the read, then readv()
 *     into the input evbuffer's chain of malloc'd blocks (at most
 *     max_single_read bytes), then our read callback.
 *   - writing: bufferevent_write_buffer() only appends to the output evbuffer
 *     and adds the write event (EPOLL_CTL_MOD +EPOLLOUT). The writev() waits
 *     for the NEXT epoll_wait to report the socket writable; once the output
 *     is empty the write event is deleted again (EPOLL_CTL_MOD -EPOLLOUT).
 * So one echo costs ioctl, readv, writev, two epoll_ctl and a second pass
 * through epoll_wait before the reply leaves: strace -c -f measured 5.08
 * system calls per echo (50 ping-pong connections, 64 B) where epoll_lt
 * makes 2.05 (read, send, a shared epoll_wait).
 * The default base applies each event_add/event_del with its own epoll_ctl
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST would batch them per iteration, but
 * here the add and the delete fall in different iterations anyway).
 * evbuffer_add_buffer() moves chains between buffers without copying bytes;
 * what libevent pays instead is a malloc'd chain per read, freed once
 * written, and the chain and callback bookkeeping around it.
 *
 * Backpressure by watermarks: when the output holds more than HIGH_MARK
 * (cfg.bufsize) bytes the kernel would not take, EV_READ is disabled; the
 * write callback (libevent calls it when the output drains to the write
 * low-watermark, 0) enables it again. Output is thus bounded by HIGH_MARK +
 * one read per connection. A mark of 0 would disable reading after every
 * message (one more epoll_ctl each), since libevent never writes before
 * the next wait.
 *
 * EMFILE: libevent's listener retries only EINTR/EAGAIN/ECONNABORTED; any
 * other accept error goes to the error callback with the listener still
 * armed, so a full descriptor table spins the level-triggered loop (64% of
 * a core measured without an error callback, RLIMIT_NOFILE 64 + 200
 * connects). Our error callback runs accept_client()'s spare-descriptor
 * drain instead: 0%.
 *
 * Counters: bytes and messages are exact (read callback; output-buffer
 * callback for bytes the socket really took); close is exact (one close per
 * bufferevent_free). libevent gives no hook around its own epoll_wait,
 * epoll_ctl, ioctl, readv, writev or accept4: those counts stay 0 (measure
 * them with strace -c -f). SIGTERM/SIGINT: evsignal events (libevent's
 * handler writes to a socketpair the loop polls). Needs libevent >= 2.1.1.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"

#define HIGH_MARK cfg.bufsize  /* bytes of unsent output before reads pause */

struct conn {
	int eof;                /* peer sent FIN: close once the output drains */
};

static struct conn *conns;  /* indexed by fd */

static void conn_free(struct bufferevent *bev, int err)
{
	if (err)
		conn_error(err);
	conns[bufferevent_getfd(bev)].eof = 0;
	SC(SC_CLOSE);
	bufferevent_free(bev);  /* BEV_OPT_CLOSE_ON_FREE: closes the fd */
	conn_closed();
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	STAT_ADD(bytes_in, evbuffer_get_length(in));
	STAT_ADD(messages, 1);   /* libevent calls us once per readv that got data */
	unsigned char head[2];           /* the work key: a copy of the first two bytes */
	ev_ssize_t h = evbuffer_copyout(in, head, sizeof head);
	maybe_work(head, h > 0 ? (size_t)h : 0);
	bufferevent_write_buffer(bev, in);   /* moves the chains: no byte copy */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > HIGH_MARK)
		bufferevent_disable(bev, EV_READ);
}

static void on_drained(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;   /* output is empty (write low-watermark 0) */
	if (c->eof)
		return conn_free(bev, 0);        /* half-close: everything echoed */
	if (!(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_enable(bev, EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_ERROR)
		return conn_free(bev, errno ? errno : EIO);
	if (what & BEV_EVENT_EOF) {          /* libevent has disabled EV_READ */
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			return conn_free(bev, 0);
		c->eof = 1;                      /* on_drained closes it */
	}
}

/* The socket took n_deleted bytes of the output buffer. */
static void on_output_change(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	(void)b; (void)arg;
	if (info->n_deleted)
		STAT_ADD(bytes_out, info->n_deleted);
}

static void conn_start(struct event_base *base, int fd)
{
	struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		conn_error(ENOMEM);
		return conn_close_fd(fd);
	}
	bufferevent_setcb(bev, on_read, on_drained, on_event, &conns[fd]);
	/* Low 0: on_drained runs when the output is empty. A socket bufferevent
	 * ignores the high write mark, so on_read compares against it itself. */
	bufferevent_setwatermark(bev, EV_WRITE, 0, HIGH_MARK);
	bufferevent_set_max_single_read(bev, cfg.bufsize);
	evbuffer_add_cb(bufferevent_get_output(bev), on_output_change, NULL);
	bufferevent_enable(bev, EV_READ);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)l; (void)sa; (void)salen;
	int one = 1;   /* as accept_client(): echo replies must not wait for Nagle */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_opened();
	conn_start(arg, fd);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	int err = errno;
	if (err != EMFILE && err != ENFILE) {
		warnx_("accept: %s", strerror(err));
		return;
	}
	/* Drop what is queued with the spare descriptor so the listener is no
	 * longer readable; if a descriptor freed up meanwhile, serve it. */
	int fd = accept_client(evconnlistener_get_fd(l), 0);
	if (fd >= 0)
		conn_start(arg, fd);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig; (void)what;
	stop = 1;
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "libevent", 0);
	setup_process();
	if (!(conns = calloc((size_t)fd_limit(), sizeof *conns)))
		die("calloc(%d conns)", fd_limit());

	struct event_base *base = event_base_new();
	if (!base)
		die("event_base_new");
	/* libevent's handlers replace setup_process()'s for these two signals. */
	struct event *sigterm = evsignal_new(base, SIGTERM, on_stop_signal, base);
	struct event *sigint = evsignal_new(base, SIGINT, on_stop_signal, base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
		die("evsignal_add(SIGTERM/SIGINT)");

	int lfd = listen_socket(0);
	/* backlog 0: the socket already listens with cfg.backlog. */
	struct evconnlistener *l = evconnlistener_new(base, on_accept, base,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, lfd);
	if (!l)
		die("evconnlistener_new(fd %d)", lfd);
	evconnlistener_set_error_cb(l, on_accept_error);
	announce_ready(lfd);

	/* The loop: epoll_wait, then run the callbacks, until on_stop_signal.
	 * `stop` is already set if a signal came before evsignal_add. */
	if (!stop && event_base_dispatch(base) == -1)
		die("event_base_dispatch");
	print_stats();
	return 0;
}
