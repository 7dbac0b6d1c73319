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
 * Contract: --addr --port --backlog --bufsize --reuseport --work-us
 * --work-every --loops --help; bad flag -> usage on stderr, exit 2;
 * "READY <port>"; one JSON line of counters on SIGTERM/SIGINT, exit 0.
 * Needs Java >= 11.
 */
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
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
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

public final class JavaNio2Echo {
	static final String MODEL = "java_nio2";
	static final int EMFILE_RETRY_MS = 100;  /* when even the spare cannot be freed */
	static final long STOP_WAIT_MS = 200;    /* the pool gets this long to stop at SIGTERM */

	/* cfg */
	static String addr = "127.0.0.1";
	static int port = 0, backlog = 4096, bufsize = 16384, loops = 0;
	static boolean reuseport;
	static long workUs = 0, workEvery = 1;

	/* stats, shared by the pool's threads */
	static final LongAdder accepted = new LongAdder(), closed = new LongAdder(),
		bytesIn = new LongAdder(), bytesOut = new LongAdder(), messages = new LongAdder(),
		errors = new LongAdder(), resets = new LongAdder(), emfile = new LongAdder(),
		scAccept = new LongAdder(), scRead = new LongAdder(), scWrite = new LongAdder();
	static final AtomicLong cur = new AtomicLong(), peak = new AtomicLong();

	static AsynchronousServerSocketChannel listener;
	static ScheduledExecutorService timer;
	static RandomAccessFile spare;          /* reserved for the EMFILE drain */
	static boolean draining;                /* the pending accept is one to drop */

	static void usage(PrintStream out) {
		out.print("usage: echo_" + MODEL + " [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"
			+ "       [--reuseport] [--work-us N] [--work-every K] [--loops N]\n"
			+ "  --addr A        IPv4 address to listen on (default 127.0.0.1)\n"
			+ "  --port P        TCP port, 0 = any free port (default 0)\n"
			+ "  --backlog N     listen() backlog (default 4096)\n"
			+ "  --bufsize BYTES read buffer per connection (default 16384)\n"
			+ "  --reuseport     set SO_REUSEPORT to share the port with other servers\n"
			+ "  --work-us N     spin N microseconds of CPU per message (default 0)\n"
			+ "  --work-every K  a message is heavy when the key of its first two bytes is a\n"
			+ "                  multiple of K (about 1 in K for the generator's pseudo-random\n"
			+ "                  payloads; exact at --depth 1, where one read is one message)\n"
			+ "                  (default 1)\n"
			+ "  --loops N       threads of the channel group (default: one per CPU we may\n"
			+ "                  run on)\n"
			+ "Prints 'READY <port>' when listening; on SIGTERM/SIGINT prints one JSON\n"
			+ "line of counters and exits 0.\n");
		out.flush();
	}

	static void badArg(String msg) {
		System.err.println(MODEL + ": " + msg);
		usage(System.err);
		System.exit(2);
	}

	static long num(String flag, String s, long min, long max) {
		long v = -1;
		if (s.matches("[0-9]{1,12}"))
			v = Long.parseLong(s);
		if (v < min || v > max)
			badArg("--" + flag + ": '" + s + "' is not a whole number from " + min + " to " + max);
		return v;
	}

	static void parseArgs(String[] argv) {
		for (int i = 0; i < argv.length; i++) {
			String a = argv[i], v = null;
			if (!a.startsWith("--"))
				badArg("unexpected argument '" + a + "'");
			a = a.substring(2);
			int eq = a.indexOf('=');
			if (eq >= 0) {
				v = a.substring(eq + 1);
				a = a.substring(0, eq);
			}
			if (a.equals("help") && v == null) {
				usage(System.out);
				System.exit(0);
			}
			if (a.equals("reuseport") && v == null) {
				reuseport = true;
				continue;
			}
			if (!a.matches("addr|port|backlog|bufsize|work-us|work-every|loops"))
				badArg("unknown or incomplete option '" + argv[i] + "'");
			if (v == null) {
				if (i + 1 >= argv.length)
					badArg("option '" + argv[i] + "' needs a value");
				v = argv[++i];
			}
			switch (a) {
			case "addr":
				if (!v.matches("(\\d{1,3})(\\.\\d{1,3}){3}") || !validQuad(v))
					badArg("--addr: '" + v + "' is not an IPv4 address");
				addr = v;
				break;
			case "port": port = (int) num(a, v, 0, 65535); break;
			case "backlog": backlog = (int) num(a, v, 1, Integer.MAX_VALUE); break;
			case "bufsize": bufsize = (int) num(a, v, 64, 64 << 20); break;
			case "work-us": workUs = num(a, v, 0, 10000000); break;
			case "work-every": workEvery = num(a, v, 1, 4294967295L); break;
			case "loops": loops = (int) num(a, v, 1, 1024); break;
			}
		}
	}

	static boolean validQuad(String s) {
		for (String p : s.split("\\."))
			if (Integer.parseInt(p) > 255)
				return false;
		return true;
	}

	/* Heavy iff the key of the first two bytes (little-endian; one byte if
	 * n == 1) is a multiple of --work-every: work_key() in servers/common.h. */
	static void maybeWork(ByteBuffer b, int n) {
		if (workUs == 0 || n <= 0)
			return;
		long key = n >= 2 ? (b.get(0) & 0xff) | (b.get(1) & 0xff) << 8 : b.get(0) & 0xff;
		if (key % workEvery != 0)
			return;
		long end = System.nanoTime() + workUs * 1000;
		while (System.nanoTime() < end)
			Thread.onSpinWait();
	}

	static String statsLine() {
		long acc = scAccept.sum(), rd = scRead.sum(), wr = scWrite.sum(), cl = closed.sum();
		return "{\"model\":\"" + MODEL + "\",\"accepted\":" + accepted.sum()
			+ ",\"closed\":" + cl + ",\"peak_conns\":" + peak.get() + ",\"bytes_in\":" + bytesIn.sum()
			+ ",\"bytes_out\":" + bytesOut.sum() + ",\"messages\":" + messages.sum()
			+ ",\"errors\":" + errors.sum() + ",\"resets\":" + resets.sum()
			+ ",\"emfile\":" + emfile.sum() + ",\"overflows\":0,\"syscalls\":{\"accept\":" + acc
			+ ",\"read\":" + rd + ",\"write\":" + wr + ",\"close\":" + cl
			+ ",\"wait\":0,\"ctl\":0,\"submit\":0,\"sigwait\":0,\"other\":0,\"total\":"
			+ (acc + rd + wr + cl) + "}}\n";
	}

	/* One connection: its channel and the buffer its one pending operation uses. */
	static final class Conn {
		final AsynchronousSocketChannel ch;
		final ByteBuffer buf = ByteBuffer.allocateDirect(bufsize);

		Conn(AsynchronousSocketChannel ch) {
			this.ch = ch;
		}

		void read() {
			buf.clear();
			scRead.increment();
			ch.read(buf, this, ON_READ);
		}

		void write() {
			scWrite.increment();
			ch.write(buf, this, ON_WRITE);
		}

		void close(Throwable err) {
			if (err != null && !(err instanceof AsynchronousCloseException)) {
				errors.increment();
				String m = String.valueOf(err.getMessage());
				if (m.contains("reset") || m.contains("Broken pipe"))
					resets.increment();
			}
			try {
				ch.close();
			} catch (IOException ignored) {
				/* nothing to do: never retry close */
			}
			closed.increment();
			cur.decrementAndGet();
		}
	}

	static final CompletionHandler<Integer, Conn> ON_READ = new CompletionHandler<>() {
		@Override
		public void completed(Integer n, Conn c) {
			if (n < 0) {                      /* EOF: all echoed, so close */
				c.close(null);
				return;
			}
			bytesIn.add(n);
			messages.increment();
			maybeWork(c.buf, n);
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
			bytesOut.add(n);
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
		scAccept.increment();
		listener.accept(null, ON_ACCEPT);
	}

	/* One accept is pending at a time, so these run one after another. */
	static final CompletionHandler<AsynchronousSocketChannel, Void> ON_ACCEPT = new CompletionHandler<>() {
		@Override
		public void completed(AsynchronousSocketChannel ch, Void unused) {
			if (draining) {                   /* out of descriptors: drop it */
				draining = false;
				try {
					ch.close();
					spare = new RandomAccessFile("/dev/null", "r");
				} catch (IOException ignored) {
					/* no spare: the next EMFILE waits EMFILE_RETRY_MS */
				}
				emfile.increment();
				accept();
				return;
			}
			accept();                         /* the next one, before serving this one */
			try {
				ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
			} catch (IOException ignored) {
				/* the peer may already be gone: the read will say so */
			}
			accepted.increment();
			peak.accumulateAndGet(cur.incrementAndGet(), Math::max);
			new Conn(ch).read();
		}

		@Override
		public void failed(Throwable exc, Void unused) {
			if (exc instanceof AsynchronousCloseException)
				return;
			if (!String.valueOf(exc.getMessage()).contains("open files")) {
				System.err.println(MODEL + ": accept: " + exc);
			} else if (spare != null) {
				try {
					spare.close();
				} catch (IOException ignored) {
					/* it was open; nothing to undo */
				}
				spare = null;
				draining = true;
				accept();
				return;
			}
			timer.schedule(JavaNio2Echo::accept, EMFILE_RETRY_MS, TimeUnit.MILLISECONDS);
		}
	};

	public static void main(String[] argv) throws IOException, InterruptedException {
		parseArgs(argv);
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
		spare = new RandomAccessFile("/dev/null", "r");
		listener = AsynchronousServerSocketChannel.open(group);
		try {
			listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
			if (reuseport)
				listener.setOption(StandardSocketOptions.SO_REUSEPORT, true);
			listener.bind(new InetSocketAddress(InetAddress.getByName(addr), port), backlog);
		} catch (IOException e) {
			System.err.println(MODEL + ": bind(" + addr + ":" + port + "): " + e.getMessage());
			System.exit(1);
		}
		/* The JDK opens a socketpair for its deferred-close trick on the first
		 * close of a socket channel; do that now so it is not counted as a leak. */
		java.nio.channels.SocketChannel.open().close();
		statsLine();      /* link the string concatenation now, not in the hook */
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			System.out.print(statsLine());    /* SIGTERM/SIGINT */
			System.out.flush();
			/* Stop the pool before halting: HotSpot's exit waits up to 300 ms
			 * for threads inside native code (the poller sits in epoll_wait). */
			try {
				group.shutdownNow();
				group.awaitTermination(STOP_WAIT_MS, TimeUnit.MILLISECONDS);
			} catch (IOException | InterruptedException ignored) {
				/* halt anyway */
			}
			Runtime.getRuntime().halt(0);
		}));
		System.out.print("READY " + ((InetSocketAddress) listener.getLocalAddress()).getPort() + "\n");
		System.out.flush();
		accept();
		new CountDownLatch(1).await();        /* the pool's threads do the rest */
	}
}
