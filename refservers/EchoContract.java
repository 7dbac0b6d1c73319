/*
 * EchoContract.java - the echo servers' contract, written once for the Java
 * reference rows (JavaNioEcho, JavaNio2Echo, NettyEcho): what
 * servers/common.c is to the C servers. Each launcher compiles it with its
 * server, and again when either source changes.
 *
 * The flags every server takes (--addr --port --backlog --bufsize
 * --reuseport --work-us --work-every --help) plus the server's own; a bad
 * one: the reason and the usage on stderr, exit 2. The listening socket:
 * --port 0 is any free port, SO_REUSEADDR, SO_REUSEPORT with --reuseport; a
 * failed bind exits 1 naming the address. "READY <port>" on stdout once
 * listening. On SIGTERM/SIGINT the JVM runs its shutdown hooks; ours prints
 * one JSON line of counters and halts with status 0. --work-us: CPU spun on
 * a heavy message (work_key() in servers/common.h). The spare descriptor
 * of the EMFILE drain (libuv's trick), and what an IOException's message
 * says (a reset, out of descriptors): the JDK gives no errno.
 */
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.NetworkChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.IntUnaryOperator;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

final class EchoContract {
	final String model;

	/* cfg: the flags every server takes */
	String addr = "127.0.0.1";
	int port = 0, backlog = 4096, bufsize = 16384;
	boolean reuseport;
	long workUs = 0, workEvery = 1;

	/* The server's own flags: name -> what to do with the value, and their usage. */
	private final Map<String, Consumer<String>> own = new LinkedHashMap<>();
	private final List<String> ownUsage = new ArrayList<>();
	private final String bufsizeHelp;
	private String ownSynopsis = "";

	/** bufsizeHelp: what --bufsize is to this server (the usage line). */
	EchoContract(String model, String bufsizeHelp) {
		this.model = model;
		this.bufsizeHelp = bufsizeHelp;
	}

	/** A flag of this server's only: --name ARG, a whole number from min to max. */
	EchoContract number(String name, String arg, String help, long min, long max,
			LongConsumer set) {
		return flag(name, arg, help, v -> set.accept(num(name, v, min, max)));
	}

	/** A flag of this server's only: --name ARG, one of values. */
	EchoContract choice(String name, String arg, String help, Consumer<String> set,
			String... values) {
		return flag(name, arg, help, v -> {
			if (!List.of(values).contains(v))
				badArg("--" + name + ": '" + v + "' is not " + String.join(" or ", values));
			set.accept(v);
		});
	}

	private EchoContract flag(String name, String arg, String help, Consumer<String> set) {
		own.put(name, set);
		ownSynopsis += " [--" + name + " " + arg + "]";
		ownUsage.add(option("--" + name + " " + arg, help));
		return this;
	}

	/* "  --flag ARG      help", continuation lines under the help. */
	private static String option(String flag, String help) {
		return String.format("  %-15s %s%n", flag, help.replace("\n", "\n                  "));
	}

	void usage(PrintStream out) {
		StringBuilder s = new StringBuilder("usage: echo_" + model
			+ " [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"
			+ "       [--reuseport] [--work-us N] [--work-every K]" + ownSynopsis + "\n");
		s.append(option("--addr A", "IPv4 address to listen on (default 127.0.0.1)"));
		s.append(option("--port P", "TCP port, 0 = any free port (default 0)"));
		s.append(option("--backlog N", "listen() backlog (default 4096)"));
		s.append(option("--bufsize BYTES", bufsizeHelp + " (default 16384)"));
		s.append(option("--reuseport", "set SO_REUSEPORT to share the port with other servers"));
		s.append(option("--work-us N", "spin N microseconds of CPU per message (default 0)"));
		s.append(option("--work-every K", "a message is heavy when the key of its first two bytes is a\n"
			+ "multiple of K (about 1 in K for the generator's pseudo-random\n"
			+ "payloads; exact at --depth 1, where one read is one message)\n"
			+ "(default 1)"));
		ownUsage.forEach(s::append);
		s.append("Prints 'READY <port>' when listening; on SIGTERM/SIGINT prints one JSON\n"
			+ "line of counters and exits 0.\n");
		out.print(s);
		out.flush();
	}

	void badArg(String msg) {
		System.err.println(model + ": " + msg);
		usage(System.err);
		System.exit(2);
	}

	long num(String flag, String s, long min, long max) {
		long v = -1;
		if (s.matches("[0-9]{1,12}"))
			v = Long.parseLong(s);
		if (v < min || v > max)
			badArg("--" + flag + ": '" + s + "' is not a whole number from " + min + " to " + max);
		return v;
	}

	/** --flag V and --flag=V; --help prints the usage and exits 0. */
	void parse(String[] argv) {
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
			if (!a.matches("addr|port|backlog|bufsize|work-us|work-every") && !own.containsKey(a))
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
			default: own.get(a).accept(v); break;
			}
		}
	}

	private static boolean validQuad(String s) {
		for (String p : s.split("\\."))
			if (Integer.parseInt(p) > 255)
				return false;
		return true;
	}

	/* ---- listening, READY, the counters on SIGTERM ------------------------- */

	/** bind(local, backlog) of a ServerSocketChannel or AsynchronousServerSocketChannel. */
	interface Bind {
		void bind(SocketAddress local, int backlog) throws IOException;
	}

	InetSocketAddress local() throws IOException {
		return new InetSocketAddress(InetAddress.getByName(addr), port);   /* a dotted quad */
	}

	/** SO_REUSEADDR, SO_REUSEPORT with --reuseport, bind(--addr:--port, --backlog). */
	void listen(NetworkChannel ch, Bind bind) {
		try {
			ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
			if (reuseport)
				ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
			bind.bind(local(), backlog);
		} catch (IOException e) {
			bindFailed(e);
		}
	}

	void bindFailed(Exception e) {
		System.err.println(model + ": bind(" + addr + ":" + port + "): " + e.getMessage());
		System.exit(1);
	}

	/** Listening on port: arm the SIGTERM/SIGINT hook, then print READY. The hook
	 * prints counters.get() (which may first stop the server's loop to read
	 * them), runs then (may be null) and halts with status 0. */
	void ready(int port, Supplier<String> counters, Runnable then) {
		/* The JDK opens a socketpair for its deferred-close trick on the first
		 * close of a socket channel; do that now so it is not counted as a leak. */
		try {
			SocketChannel.open().close();
		} catch (IOException e) {
			System.err.println(model + ": socket: " + e.getMessage());
			System.exit(1);
		}
		new Counts().line(model);         /* link the string concatenation now, not in the hook */
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			System.out.print(counters.get());
			System.out.flush();
			if (then != null)
				then.run();
			Runtime.getRuntime().halt(0);
		}));
		System.out.print("READY " + port + "\n");
		System.out.flush();
	}

	/* ---- the counters line --------------------------------------------------- */

	/** The counters of the JSON line, plain numbers for one thread. "Syscalls" are
	 * the calls the server makes or sees (its header says which), total their sum. */
	static class Counts {
		long accepted, closed, cur, peakConns, bytesIn, bytesOut, messages, errors, resets, emfile;
		long accept, read, write, close, wait, ctl;

		void onAccept() {
			accepted++;
			if (++cur > peakConns)
				peakConns = cur;
		}

		void onClose() {
			closed++;
			cur--;
		}

		void failed(Throwable e) {
			errors++;
			if (isReset(e))
				resets++;
		}

		String line(String model) {
			return "{\"model\":\"" + model + "\",\"accepted\":" + accepted + ",\"closed\":" + closed
				+ ",\"peak_conns\":" + peakConns + ",\"bytes_in\":" + bytesIn + ",\"bytes_out\":" + bytesOut
				+ ",\"messages\":" + messages + ",\"errors\":" + errors + ",\"resets\":" + resets
				+ ",\"emfile\":" + emfile + ",\"overflows\":0,\"syscalls\":{\"accept\":" + accept
				+ ",\"read\":" + read + ",\"write\":" + write + ",\"close\":" + close
				+ ",\"wait\":" + wait + ",\"ctl\":" + ctl + ",\"submit\":0,\"sigwait\":0,\"other\":0,"
				+ "\"total\":" + (accept + read + write + close + wait + ctl) + "}}\n";
		}
	}

	/** The same counters shared by a pool's threads (exact, LongAdder). Every
	 * close is counted as one close call. */
	static final class SharedCounts {
		final LongAdder accepted = new LongAdder(), closed = new LongAdder(),
			bytesIn = new LongAdder(), bytesOut = new LongAdder(), messages = new LongAdder(),
			errors = new LongAdder(), resets = new LongAdder(), emfile = new LongAdder(),
			accept = new LongAdder(), read = new LongAdder(), write = new LongAdder();
		final AtomicLong cur = new AtomicLong(), peak = new AtomicLong();

		void onAccept() {
			accepted.increment();
			peak.accumulateAndGet(cur.incrementAndGet(), Math::max);
		}

		void onClose() {
			closed.increment();
			cur.decrementAndGet();
		}

		void failed(Throwable e) {
			errors.increment();
			if (isReset(e))
				resets.increment();
		}

		Counts sum() {
			Counts c = new Counts();
			c.accepted = accepted.sum();
			c.closed = c.close = closed.sum();
			c.peakConns = peak.get();
			c.bytesIn = bytesIn.sum();
			c.bytesOut = bytesOut.sum();
			c.messages = messages.sum();
			c.errors = errors.sum();
			c.resets = resets.sum();
			c.emfile = emfile.sum();
			c.accept = accept.sum();
			c.read = read.sum();
			c.write = write.sum();
			return c;
		}
	}

	/* ---- --work-us, errors, the spare descriptor ------------------------------ */

	/** Spin --work-us when the message is heavy: the key of its first two bytes
	 * (little-endian; one byte if n == 1), byteAt(0) and byteAt(1), is a
	 * multiple of --work-every (work_key() in servers/common.h). */
	void work(int n, IntUnaryOperator byteAt) {
		if (workUs == 0 || n <= 0)
			return;
		long key = n >= 2 ? byteAt.applyAsInt(0) | byteAt.applyAsInt(1) << 8 : byteAt.applyAsInt(0);
		if (key % workEvery != 0)
			return;
		long end = System.nanoTime() + workUs * 1000;
		while (System.nanoTime() < end)
			Thread.onSpinWait();
	}

	/** The same for a message at the start of b. */
	void work(ByteBuffer b, int n) {
		if (workUs != 0)
			work(n, i -> b.get(i) & 0xff);
	}

	/** The peer reset the connection, or it was gone when we wrote (EPIPE). */
	static boolean isReset(Throwable e) {
		String m = String.valueOf(e.getMessage());
		return m.contains("reset") || m.contains("Broken pipe");
	}

	/** EMFILE/ENFILE: "Too many open files" (in the system). */
	static boolean outOfDescriptors(Throwable e) {
		return String.valueOf(e.getMessage()).contains("open files");
	}

	/** The descriptor kept for the EMFILE drain, or null when none can be opened. */
	static RandomAccessFile openSpare() {
		try {
			return new RandomAccessFile("/dev/null", "r");
		} catch (IOException e) {
			return null;
		}
	}

	/** Close, ignoring null and errors: never retry close. */
	static void closeQuietly(Closeable c) {
		try {
			if (c != null)
				c.close();
		} catch (IOException ignored) {
			/* nothing to do */
		}
	}
}
