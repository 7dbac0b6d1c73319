/*
 * libevent.c - libevent 2.1 as its book teaches: an evconnlistener and one
 * bufferevent per connection; libevent does every read, write and accept.
 *
 * Underneath, event_base_dispatch() is a level-triggered epoll_wait() loop
 * and a bufferevent is two events on one fd. Reading: on EPOLLIN,
 * ioctl(FIONREAD) to size the read, readv() into a chain of malloc'd blocks,
 * then our callback. Writing: bufferevent_write_buffer() only appends to the
 * output and adds the write event (EPOLL_CTL_MOD +EPOLLOUT); the writev()
 * waits for the NEXT epoll_wait to report the socket writable, and an empty
 * output deletes the event again (MOD -EPOLLOUT). So an echo costs ioctl,
 * readv, writev, two epoll_ctl and a second pass through epoll_wait.
 * Backpressure by watermarks (HIGH_MARK). EMFILE: libevent's listener passes
 * the error on with the listener still armed, and a level-triggered loop
 * would spin; our error callback runs accept_client()'s drain. Counters:
 * bytes, messages and close are ours; libevent's own calls stay 0.
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

/* Unsent output before reads pause (re-enabled when it drains). Not 0: that
 * would pause after every message, one more epoll_ctl each, since libevent
 * never writes before the next wait. */
#define HIGH_MARK cfg.bufsize

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
	if (!bev)
		return conn_end(fd, NULL, ENOMEM);
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
