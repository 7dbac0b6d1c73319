/*
 * JavaNioEcho.java - reference row: an echo server on a java.nio Selector.
 *
 * On Linux the JDK's default SelectorProvider is EPollSelectorImpl: a
 * level-triggered epoll set; register() and interestOps() only queue the
 * change, and the next select() applies the queue with one epoll_ctl per
 * changed key before its epoll_wait. A cancelled key's fd is removed (and
 * a closed channel's fd really closed) at that next select too. wakeup()
 * writes to an eventfd/pipe the set also watches. The loop below is the
 * same shape as servers/epoll_lt.c: one read per readiness event, and on a
 * short write the rest is kept and interest switches OP_READ -> OP_WRITE,
 * so we never read more from a connection while it has pending output.
 * What the JVM adds: read() into one shared direct buffer costs no copy, a
 * kept remainder is a heap ByteBuffer (copied through a per-thread direct
 * buffer on write), the JIT warms up over the first ~10,000 calls, and the
 * GC, JIT compiler and signal threads run beside the one loop thread.
 * EMFILE: accept() throws "Too many open files" and the level-triggered
 * set would report the listener ready forever, so we keep a spare
 * descriptor (/dev/null), close it, accept-and-close what is queued, and
 * reopen it (libuv's trick, as servers/common.c does).
 * SIGTERM/SIGINT: the JVM runs shutdown hooks; ours stops the loop, waits
 * for the counters line, and halts with status 0.
 * Counters: the NIO calls we make (accept, read, write, close, select as
 * "wait", register/interestOps as "ctl"); each is one system call here, but
 * epoll_ctl is issued only for changed keys, so "ctl" is an upper bound.
 *
 * Contract: --addr --port --backlog --bufsize --reuseport --work-us
 * --work-every --help; bad flag -> usage on stderr, exit 2; "READY <port>";
 * one JSON line of counters on SIGTERM/SIGINT, exit 0. Needs Java >= 11.
 */
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public final class JavaNioEcho {
	static final String MODEL = "java";
	static final int STOP_CHECK_MS = 200;   /* select() timeout, as common.h */

	/* cfg */
	static String addr = "127.0.0.1";
	static int port = 0, backlog = 4096, bufsize = 16384;
	static boolean reuseport;
	static long workUs = 0, workEvery = 1;

	/* stats: touched by the loop thread only, read after it stops */
	static long accepted, closed, cur, peakConns, bytesIn, bytesOut, messages;
	static long errors, resets, emfile;
	static long scAccept, scRead, scWrite, scClose, scWait, scCtl;

	static volatile boolean stop;
	static final CountDownLatch printed = new CountDownLatch(1);
	static RandomAccessFile spare;          /* reserved for the EMFILE drain */
	static ByteBuffer rbuf;                 /* one read buffer for all connections */

	static void usage(PrintStream out) {
		out.print("usage: echo_" + MODEL + " [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"
			+ "       [--reuseport] [--work-us N] [--work-every K]\n"
			+ "  --addr A        IPv4 address to listen on (default 127.0.0.1)\n"
			+ "  --port P        TCP port, 0 = any free port (default 0)\n"
			+ "  --backlog N     listen() backlog (default 4096)\n"
			+ "  --bufsize BYTES read buffer size (default 16384)\n"
			+ "  --reuseport     set SO_REUSEPORT to share the port with other servers\n"
			+ "  --work-us N     spin N microseconds of CPU per message (default 0)\n"
			+ "  --work-every K  a message is heavy when the key of its first two bytes is a\n"
			+ "                  multiple of K (about 1 in K for the generator's pseudo-random\n"
			+ "                  payloads; exact at --depth 1, where one read is one message)\n"
			+ "                  (default 1)\n"
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
			if (!a.matches("addr|port|backlog|bufsize|work-us|work-every"))
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

	static void printStats() {
		long total = scAccept + scRead + scWrite + scClose + scWait + scCtl;
		String line = "{\"model\":\"" + MODEL + "\",\"accepted\":" + accepted + ",\"closed\":" + closed
			+ ",\"peak_conns\":" + peakConns + ",\"bytes_in\":" + bytesIn + ",\"bytes_out\":" + bytesOut
			+ ",\"messages\":" + messages + ",\"errors\":" + errors + ",\"resets\":" + resets
			+ ",\"emfile\":" + emfile + ",\"overflows\":0,\"syscalls\":{\"accept\":" + scAccept
			+ ",\"read\":" + scRead + ",\"write\":" + scWrite + ",\"close\":" + scClose
			+ ",\"wait\":" + scWait + ",\"ctl\":" + scCtl
			+ ",\"submit\":0,\"sigwait\":0,\"other\":0,\"total\":" + total + "}}\n";
		System.out.print(line);
		System.out.flush();
	}

	static void drop(SelectionKey k, IOException e) {
		if (e != null) {
			errors++;
			String m = String.valueOf(e.getMessage());
			if (m.contains("reset") || m.contains("Broken pipe"))
				resets++;
		}
		k.cancel();
		try {
			scClose++;
			k.channel().close();   /* the fd really closes at the next select */
		} catch (IOException ignored) {
			/* nothing to do: never retry close */
		}
		closed++;
		cur--;
	}

	/* Out of descriptors: free the spare, accept and drop what is queued. */
	static void drainOnEmfile(ServerSocketChannel ss) {
		try {
			spare.close();
		} catch (IOException ignored) {
			/* it was open; nothing to undo */
		}
		try {
			SocketChannel d;
			while ((d = ss.accept()) != null) {
				scAccept++;
				d.close();
				emfile++;
			}
		} catch (IOException ignored) {
			/* still out of descriptors: the next event retries */
		}
		try {
			spare = new RandomAccessFile("/dev/null", "r");
		} catch (IOException ignored) {
			/* a concurrent close will let the next drain retry */
		}
	}

	static void onAccept(ServerSocketChannel ss, Selector sel) {
		try {
			scAccept++;
			SocketChannel c = ss.accept();    /* one per event: LT reports it again */
			if (c == null)
				return;
			c.configureBlocking(false);
			c.setOption(StandardSocketOptions.TCP_NODELAY, true);
			scCtl++;
			c.register(sel, SelectionKey.OP_READ);
			accepted++;
			if (++cur > peakConns)
				peakConns = cur;
		} catch (IOException e) {
			if (String.valueOf(e.getMessage()).contains("Too many open files"))
				drainOnEmfile(ss);
			else
				System.err.println(MODEL + ": accept: " + e.getMessage());
		}
	}

	static void onReadable(SelectionKey k) {
		SocketChannel c = (SocketChannel) k.channel();
		try {
			rbuf.clear();
			scRead++;
			int n = c.read(rbuf);
			if (n < 0) {
				drop(k, null);                /* EOF: all echoed, so close */
				return;
			}
			if (n == 0)
				return;
			bytesIn += n;
			messages++;
			maybeWork(rbuf, n);
			rbuf.flip();
			scWrite++;
			bytesOut += c.write(rbuf);
			if (rbuf.hasRemaining()) {        /* keep the rest, stop reading */
				ByteBuffer rest = ByteBuffer.allocate(rbuf.remaining());
				rest.put(rbuf).flip();
				k.attach(rest);
				scCtl++;
				k.interestOps(SelectionKey.OP_WRITE);
			}
		} catch (IOException e) {
			drop(k, e);
		}
	}

	static void onWritable(SelectionKey k) {
		ByteBuffer rest = (ByteBuffer) k.attachment();
		try {
			scWrite++;
			bytesOut += ((SocketChannel) k.channel()).write(rest);
			if (!rest.hasRemaining()) {
				k.attach(null);
				scCtl++;
				k.interestOps(SelectionKey.OP_READ);
			}
		} catch (IOException e) {
			drop(k, e);
		}
	}

	public static void main(String[] argv) throws IOException {
		parseArgs(argv);
		spare = new RandomAccessFile("/dev/null", "r");
		rbuf = ByteBuffer.allocateDirect(bufsize);
		Selector sel = Selector.open();
		ServerSocketChannel ss = ServerSocketChannel.open();
		try {
			ss.setOption(StandardSocketOptions.SO_REUSEADDR, true);
			if (reuseport)
				ss.setOption(StandardSocketOptions.SO_REUSEPORT, true);
			ss.bind(new InetSocketAddress(InetAddress.getByName(addr), port), backlog);
		} catch (IOException e) {
			System.err.println(MODEL + ": bind(" + addr + ":" + port + "): " + e.getMessage());
			System.exit(1);
		}
		ss.configureBlocking(false);
		ss.register(sel, SelectionKey.OP_ACCEPT);
		/* The JDK opens a socketpair for its deferred-close trick on the first
		 * close of a socket channel; do that now so it is not counted as a leak. */
		SocketChannel.open().close();

		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			stop = true;                      /* SIGTERM/SIGINT */
			sel.wakeup();
			try {
				printed.await(900, TimeUnit.MILLISECONDS);
			} catch (InterruptedException ignored) {
				/* halt anyway */
			}
			Runtime.getRuntime().halt(printed.getCount() == 0 ? 0 : 1);
		}));
		System.out.print("READY " + ss.socket().getLocalPort() + "\n");
		System.out.flush();

		while (!stop) {
			scWait++;
			sel.select(k -> {
				if (!k.isValid())
					return;
				if (k.isAcceptable())
					onAccept(ss, sel);
				else if (k.attachment() != null)
					onWritable(k);            /* OP_WRITE, or an error: write() says which */
				else
					onReadable(k);            /* read() reports the error or EOF */
			}, STOP_CHECK_MS);
		}
		printStats();
		printed.countDown();                  /* the hook halts the JVM with status 0 */
	}
}
