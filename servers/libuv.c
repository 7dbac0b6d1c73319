/*
 * libuv.c - libuv's streams as its guide teaches: uv_listen, uv_read_start
 * with an alloc callback, one uv_write request per chunk read.
 *
 * Underneath (libuv 1.44: epoll only; io_uring came in 1.45) each uv_run
 * iteration runs timers, pending callbacks, idle, prepare, uv__io_poll()
 * (one epoll_ctl per queued watcher, changed or not, then a level-triggered
 * epoll_wait), check, closing handles. A readable stream is read up to 32
 * times while reads fill the buffer. uv_write() writes at once when the
 * queue is empty; what the kernel refuses stays queued with POLLOUT armed.
 * The extra call per echo: when the write queue empties, uv__drain() calls
 * uv__io_stop(POLLOUT), which requeues the watcher although POLLOUT was never
 * armed, and the next poll issues EPOLL_CTL_MOD with the unchanged mask.
 * Backpressure: uv_read_stop() while output is queued. EMFILE: libuv's own
 * reserve-fd trick. Counters: bytes, messages, close and loop iterations
 * ("wait") are ours; accept4, read, write, epoll_ctl are libuv's. libuv 1.19+.
 */
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

#include "common.h"

#define WRITE_QUEUE_MAX 0     /* queued output bytes before reads pause */
#define POOL_MAX 64           /* spare read buffers kept: 1 MiB at the default bufsize */

struct conn {
	uv_tcp_t tcp;           /* first: a handle pointer is a conn pointer */
	uv_shutdown_t sd;       /* used once, at EOF */
	int paused;             /* uv_read_stop'ed for backpressure */
	int eof;                /* peer sent FIN: shutting down */
};

struct wreq {
	uv_write_t req;
	uv_buf_t buf;           /* the read buffer, freed when written */
};

static uv_loop_t *loop;
static char *pool[POOL_MAX];  /* free read buffers, LIFO: warm in the cache */
static int npool;

static void buf_put(char *b)
{
	if (npool < POOL_MAX && b)
		pool[npool++] = b;
	else
		free(b);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_closed(uv_handle_t *h)
{
	SC(SC_CLOSE);           /* libuv closed the socket in uv_close */
	conn_closed();
	free(h);
}

static void on_unused(uv_handle_t *h)
{
	free(h);
}

static void conn_drop(struct conn *c, int uverr)
{
	if (uverr && uverr != UV_ECANCELED)
		conn_error(-uverr);   /* libuv errors are -errno on Unix */
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_closed);   /* cancels queued writes */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h; (void)suggested;   /* libuv suggests 64 KiB; we read cfg.bufsize */
	buf->base = npool ? pool[--npool] : malloc(cfg.bufsize);
	buf->len = buf->base ? cfg.bufsize : 0;   /* 0: read_cb gets UV_ENOBUFS */
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	uv_stream_t *s = req->handle;   /* read before req is freed */
	struct conn *c = (struct conn *)s;
	if (status == 0)
		STAT_ADD(bytes_out, w->buf.len);
	buf_put(w->buf.base);
	free(w);
	if (status < 0)
		return conn_drop(c, status);
	if (c->paused && !c->eof && uv_stream_get_write_queue_size(s) <= WRITE_QUEUE_MAX) {
		c->paused = 0;
		uv_read_start(s, on_alloc, on_read);
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	conn_drop((struct conn *)req->handle, status);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)s;
	if (nread <= 0) {
		buf_put(buf->base);
		if (nread == 0)
			return;             /* EAGAIN: nothing this time */
		if (nread != UV_EOF)
			return conn_drop(c, (int)nread);
		c->eof = 1;             /* libuv has stopped reading */
		if (uv_shutdown(&c->sd, s, on_shutdown))
			conn_drop(c, 0);
		return;
	}
	STAT_ADD(bytes_in, nread);
	STAT_ADD(messages, 1);
	maybe_work(buf->base, (size_t)nread);
	struct wreq *w = malloc(sizeof *w);
	if (!w) {
		buf_put(buf->base);
		return conn_drop(c, UV_ENOMEM);
	}
	w->buf = uv_buf_init(buf->base, (unsigned)nread);
	int err = uv_write(&w->req, s, &w->buf, 1, on_written);
	if (err) {
		buf_put(buf->base);
		free(w);
		return conn_drop(c, err);
	}
	if (uv_stream_get_write_queue_size(s) > WRITE_QUEUE_MAX) {
		c->paused = 1;          /* the kernel refused some: stop reading */
		uv_read_stop(s);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	if (status < 0) {           /* only if the reserve descriptor is gone */
		if (status == UV_EMFILE || status == UV_ENFILE)
			STAT_ADD(emfile, 1);
		else
			warnx_("accept: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c || uv_tcp_init(loop, &c->tcp))
		die("calloc/uv_tcp_init");
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {   /* takes libuv's accepted fd */
		uv_close((uv_handle_t *)&c->tcp, on_unused);      /* never free an open handle */
		return;
	}
	conn_opened();
	uv_tcp_nodelay(&c->tcp, 1);   /* as accept_client() */
	int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (err)
		conn_drop(c, err);
}

static void on_prepare(uv_prepare_t *p)
{
	(void)p;
	SC(SC_WAIT);                /* uv__io_poll (epoll_wait) comes next */
}

static void on_stop_signal(uv_signal_t *h, int sig)
{
	(void)sig;
	stop = 1;
	uv_stop(h->loop);           /* uv_run returns after this iteration */
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "libuv", 0);
	setup_process();
	loop = uv_default_loop();

	/* libuv's handlers replace setup_process()'s for these two signals. */
	uv_signal_t sigterm, sigint;
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	if (uv_signal_start(&sigterm, on_stop_signal, SIGTERM) ||
	    uv_signal_start(&sigint, on_stop_signal, SIGINT))
		die("uv_signal_start(SIGTERM/SIGINT)");
	uv_prepare_t prep;
	uv_prepare_init(loop, &prep);
	uv_prepare_start(&prep, on_prepare);

	/* Adopt our listening socket so --addr/--port/--backlog/--reuseport
	 * behave as for every other server; uv_listen calls listen() again
	 * with the same backlog, which only updates it. */
	int lfd = listen_socket(0);
	uv_tcp_t server;
	int err;
	if ((err = uv_tcp_init(loop, &server)) || (err = uv_tcp_open(&server, lfd)) ||
	    (err = uv_listen((uv_stream_t *)&server, cfg.backlog, on_connection)))
		die_err(-err, "uv_tcp_open/uv_listen(fd %d)", lfd);
	announce_ready(lfd);

	/* The loop: each UV_RUN_ONCE is one iteration (prepare, epoll_wait,
	 * callbacks). `stop` is also set by setup_process()'s handler if a
	 * signal came before uv_signal_start replaced it. */
	while (!stop)
		uv_run(loop, UV_RUN_ONCE);
	print_stats();
	return 0;
}
