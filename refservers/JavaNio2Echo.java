/*
 * JavaNio2Echo.java - reference row: Java's proactor, NIO.2's
 * AsynchronousServerSocketChannel and AsynchronousSocketChannel with
 * CompletionHandlers.
 *
 * What the JDK does underneath on Linux (sun.nio.ch.EPollPort): the channel
 * group is one epoll set and a fixed pool of --loops threads. Every socket
 * is armed one-shot (EPOLL_CTL_MOD with EPOLLONESHOT) when an operation
 * has to wait; one pool thread at a time sits in epoll_wait and queues what
 * it gets for the others. It is a proactor built from a reactor: a read is
 * first tried at once on the calling pool thread; on EAGAIN the socket is
 * armed and the read is retried when epoll reports it, then the completion
 * handler runs (on the same thread when it may, up to 16 nested calls).
 * So a closed-loop echo typically costs a read that returns EAGAIN, an
 * epoll_ctl, a share of an epoll_wait, the read and the write.
 * Memory: a proactor hands the kernel side a buffer with each read, so every
 * connection owns its --bufsize direct buffer while it waits, idle or not
 * (the C io_uring row avoids this with a provided-buffer ring).
 * Backpressure: one operation in flight per connection: we read again only
 * when the whole previous chunk is written (a short write is resubmitted).
 * Half-close: read completes with -1 after every earlier byte, all of which
 * was echoed, so we close.
 * EMFILE: the accept completes with "Too many open files"; re-arming at once
 * would spin, so we keep a spare descriptor (/dev/null), close it, accept
 * and close what is queued, reopen it (libuv's trick, as servers/common.c),
 * and wait 100 ms before retrying if even that fails.
 * SIGTERM/SIGINT: the JVM runs shutdown hooks; ours prints the counters, shuts
 * the group down and halts with status 0.
 * Counters: bytes, messages, connections exact (LongAdder, shared by the
 * pool); "syscalls" are the operations we start (accept, read, write,
 * close): a lower bound (the EAGAIN reads, epoll_ctl and epoll_wait are
 * the JDK's).
 *
 * Contract (flags, READY, the counters line): EchoContract.java; --loops is
 * this server's own. Needs Java >= 11.
 */
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousChannelGroup;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.AsynchronousServerSocketChannel;
import java.nio.channels.AsynchronousSocketChannel;
import java.nio.channels.CompletionHandler;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public final class JavaNio2Echo {
	static final String MODEL = "java_nio2";
	static final int EMFILE_RETRY_MS = 100;  /* when even the spare cannot be freed */
	static final long STOP_WAIT_MS = 200;    /* the pool gets this long to stop at SIGTERM */

	static int loops = 0;                    /* --loops; 0: one per CPU */
	static final EchoContract cfg = new EchoContract(MODEL, "read buffer per connection")
		.number("loops", "N", "threads of the channel group (default: one per CPU we may\nrun on)",
			1, 1024, v -> loops = (int) v);
	/* stats, shared by the pool's threads */
	static final EchoContract.SharedCounts stats = new EchoContract.SharedCounts();

	static AsynchronousServerSocketChannel listener;
	static ScheduledExecutorService timer;
	static RandomAccessFile spare;          /* reserved for the EMFILE drain */
	static boolean draining;                /* the pending accept is one to drop */

	/* One connection: its channel and the buffer its one pending operation uses. */
	static final class Conn {
		final AsynchronousSocketChannel ch;
		final ByteBuffer buf = ByteBuffer.allocateDirect(cfg.bufsize);

		Conn(AsynchronousSocketChannel ch) {
			this.ch = ch;
		}

		void read() {
			buf.clear();
			stats.read.increment();
			ch.read(buf, this, ON_READ);
		}

		void write() {
			stats.write.increment();
			ch.write(buf, this, ON_WRITE);
		}

		void close(Throwable err) {
			if (err != null && !(err instanceof AsynchronousCloseException))
				stats.failed(err);
			EchoContract.closeQuietly(ch);
			stats.onClose();
		}
	}

	static final CompletionHandler<Integer, Conn> ON_READ = new CompletionHandler<>() {
		@Override
		public void completed(Integer n, Conn c) {
			if (n < 0) {                      /* EOF: all echoed, so close */
				c.close(null);
				return;
			}
			stats.bytesIn.add(n);
			stats.messages.increment();
			cfg.work(c.buf, n);
			c.buf.flip();
			c.write();
		}

		@Override
		public void failed(Throwable exc, Conn c) {
			c.close(exc);
		}
	};

	static final CompletionHandler<Integer, Conn> ON_WRITE = new CompletionHandler<>() {
		@Override
		public void completed(Integer n, Conn c) {
			stats.bytesOut.add(n);
			if (c.buf.hasRemaining())
				c.write();                    /* short write: send the rest first */
			else
				c.read();
		}

		@Override
		public void failed(Throwable exc, Conn c) {
			c.close(exc);
		}
	};

	static void accept() {
		stats.accept.increment();
		listener.accept(null, ON_ACCEPT);
	}

	/* One accept is pending at a time, so these run one after another. */
	static final CompletionHandler<AsynchronousSocketChannel, Void> ON_ACCEPT = new CompletionHandler<>() {
		@Override
		public void completed(AsynchronousSocketChannel ch, Void unused) {
			if (draining) {                   /* out of descriptors: drop it */
				draining = false;
				EchoContract.closeQuietly(ch);
				spare = EchoContract.openSpare();   /* null: next EMFILE waits EMFILE_RETRY_MS */
				stats.emfile.increment();
				accept();
				return;
			}
			accept();                         /* the next one, before serving this one */
			try {
				ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
			} catch (IOException ignored) {
				/* the peer may already be gone: the read will say so */
			}
			stats.onAccept();
			new Conn(ch).read();
		}

		@Override
		public void failed(Throwable exc, Void unused) {
			if (exc instanceof AsynchronousCloseException)
				return;
			if (!EchoContract.outOfDescriptors(exc)) {
				System.err.println(MODEL + ": accept: " + exc);
			} else if (spare != null) {
				EchoContract.closeQuietly(spare);
				spare = null;
				draining = true;
				accept();
				return;
			}
			timer.schedule(JavaNio2Echo::accept, EMFILE_RETRY_MS, TimeUnit.MILLISECONDS);
		}
	};

	public static void main(String[] argv) throws IOException, InterruptedException {
		cfg.parse(argv);
		if (loops == 0)
			loops = Runtime.getRuntime().availableProcessors();   /* the affinity mask */
		AtomicInteger nth = new AtomicInteger();
		AsynchronousChannelGroup group = AsynchronousChannelGroup.withFixedThreadPool(loops, r -> {
			Thread t = new Thread(r, "nio2-" + nth.incrementAndGet());
			t.setDaemon(true);
			return t;
		});
		timer = Executors.newSingleThreadScheduledExecutor(r -> {
			Thread t = new Thread(r, "emfile-retry");
			t.setDaemon(true);
			return t;
		});
		spare = EchoContract.openSpare();
		listener = AsynchronousServerSocketChannel.open(group);
		cfg.listen(listener, listener::bind);
		/* At SIGTERM, after the counters: stop the pool before halting, since
		 * HotSpot's exit waits up to 300 ms for threads inside native code (the
		 * poller sits in epoll_wait). */
		cfg.ready(((InetSocketAddress) listener.getLocalAddress()).getPort(),
			() -> stats.sum().line(MODEL), () -> {
				try {
					group.shutdownNow();
					group.awaitTermination(STOP_WAIT_MS, TimeUnit.MILLISECONDS);
				} catch (IOException | InterruptedException ignored) {
					/* halt anyway */
				}
			});
		accept();
		new CountDownLatch(1).await();        /* the pool's threads do the rest */
	}
}
