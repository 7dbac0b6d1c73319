/*
 * NettyEcho.java - reference row: Netty 4's echo server (ServerBootstrap,
 * an echo ChannelInboundHandler), the shape of Netty's own EchoServer example.
 *
 * What Netty does underneath: a boss event loop accepts and hands each new
 * channel to one of --loops worker event loops (round robin); a channel stays
 * on its loop for life. On the NIO transport each loop is a java.nio Selector,
 * which on Linux is a level-triggered epoll set (see JavaNioEcho.java), with
 * Netty's read loop on top: on readiness it reads into a pooled direct ByteBuf
 * sized by AdaptiveRecvByteBufAllocator (at most --bufsize), up to 16 reads
 * per wake-up, firing channelRead for each and channelReadComplete at the end.
 * The native epoll transport (edge-triggered epoll through JNI, --transport
 * epoll) needs libnetty_transport_native_epoll_x86_64.so: Debian's
 * libnetty-java 4.1.48 ships the Java classes of netty-transport-native-epoll
 * but not that library, so there it reports unavailable and we exit 1.
 * Backpressure, the Netty way: writes go to the channel's outbound buffer and
 * are flushed once per read batch; when the buffer passes the high water mark
 * (--bufsize) the channel turns unwritable and we switch autoRead off, and
 * back on when channelWritabilityChanged says it drained below the low mark.
 * So a connection holds at most one read batch beyond --bufsize.
 * Half-close: ALLOW_HALF_CLOSURE, so the peer's FIN arrives as a
 * ChannelInputShutdownEvent; we close once every queued byte is flushed (the
 * default would close at once and drop what is still queued).
 * EMFILE: accept() throws. Netty's own answer (ServerBootstrapAcceptor) is
 * to stop accepting for 1 s, leaving the queue waiting; we keep the
 * contract instead with a handler on the listening channel that frees a
 * spare descriptor, lets the loop accept and close what is queued, and
 * reserves the spare again (Netty's pause remains the fallback).
 * SIGTERM/SIGINT: the JVM runs shutdown hooks; ours prints the counters, stops
 * the event loops with no quiet period (the default is 2 s) and halts with
 * status 0.
 * Counters: bytes, messages, connections exact (LongAdder, shared by the
 * loops); "syscalls" are the calls Netty makes for us that we can see: one
 * read per channelRead, one write per flush (more when a flush is partial),
 * accept, close: a lower bound (epoll_wait, epoll_ctl and the read that
 * ends a batch are not seen).
 *
 * Contract: --addr --port --backlog --bufsize --reuseport --work-us
 * --work-every --loops --transport --help; bad flag -> usage on stderr,
 * exit 2; "READY <port>"; one JSON line of counters on SIGTERM/SIGINT,
 * exit 0. Needs Netty 4.1 and Java >= 11.
 */
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.AttributeKey;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

public final class NettyEcho {
	static final String MODEL = "netty";
	static final long STOP_WAIT_MS = 200;   /* loops get this long to stop at SIGTERM */

	/* cfg */
	static String addr = "127.0.0.1", transport = "nio";
	static int port = 0, backlog = 4096, bufsize = 16384, loops = 0;
	static boolean reuseport;
	static long workUs = 0, workEvery = 1;

	/* stats, shared by every event loop */
	static final LongAdder accepted = new LongAdder(), closed = new LongAdder(),
		bytesIn = new LongAdder(), bytesOut = new LongAdder(), messages = new LongAdder(),
		errors = new LongAdder(), resets = new LongAdder(), emfile = new LongAdder(),
		scRead = new LongAdder(), scWrite = new LongAdder();
	static final AtomicLong cur = new AtomicLong(), peak = new AtomicLong();

	static void usage(PrintStream out) {
		out.print("usage: echo_" + MODEL + " [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"
			+ "       [--reuseport] [--work-us N] [--work-every K] [--loops N] [--transport T]\n"
			+ "  --addr A        IPv4 address to listen on (default 127.0.0.1)\n"
			+ "  --port P        TCP port, 0 = any free port (default 0)\n"
			+ "  --backlog N     listen() backlog (default 4096)\n"
			+ "  --bufsize BYTES largest read, and the write high water mark (default 16384)\n"
			+ "  --reuseport     set SO_REUSEPORT to share the port with other servers\n"
			+ "  --work-us N     spin N microseconds of CPU per message (default 0)\n"
			+ "  --work-every K  a message is heavy when the key of its first two bytes is a\n"
			+ "                  multiple of K (about 1 in K for the generator's pseudo-random\n"
			+ "                  payloads; exact at --depth 1, where one read is one message)\n"
			+ "                  (default 1)\n"
			+ "  --loops N       worker event loops (default: one per CPU we may run on);\n"
			+ "                  one more loop accepts\n"
			+ "  --transport T   nio or epoll (Netty's native transport; default nio)\n"
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
			if (!a.matches("addr|port|backlog|bufsize|work-us|work-every|loops|transport"))
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
			case "transport":
				if (!v.matches("nio|epoll"))
					badArg("--transport: '" + v + "' is not nio or epoll");
				transport = v;
				break;
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
	static void maybeWork(ByteBuf b, int n) {
		if (workUs == 0 || n <= 0)
			return;
		int i = b.readerIndex();
		long key = n >= 2 ? b.getUnsignedByte(i) | b.getUnsignedByte(i + 1) << 8 : b.getUnsignedByte(i);
		if (key % workEvery != 0)
			return;
		long end = System.nanoTime() + workUs * 1000;
		while (System.nanoTime() < end)
			Thread.onSpinWait();
	}

	static void countError(Throwable t) {
		errors.increment();
		String m = String.valueOf(t.getMessage());
		if (m.contains("reset") || m.contains("Broken pipe"))
			resets.increment();
	}

	static String statsLine() {
		long acc = accepted.sum(), cl = closed.sum(), rd = scRead.sum(), wr = scWrite.sum();
		return "{\"model\":\"" + MODEL + "\",\"accepted\":" + acc + ",\"closed\":" + cl
			+ ",\"peak_conns\":" + peak.get() + ",\"bytes_in\":" + bytesIn.sum()
			+ ",\"bytes_out\":" + bytesOut.sum() + ",\"messages\":" + messages.sum()
			+ ",\"errors\":" + errors.sum() + ",\"resets\":" + resets.sum()
			+ ",\"emfile\":" + emfile.sum() + ",\"overflows\":0,\"syscalls\":{\"accept\":" + acc
			+ ",\"read\":" + rd + ",\"write\":" + wr + ",\"close\":" + cl
			+ ",\"wait\":0,\"ctl\":0,\"submit\":0,\"sigwait\":0,\"other\":0,\"total\":"
			+ (acc + rd + wr + cl) + "}}\n";
	}

	/* The listening channel's first handler. Out of descriptors, accept()
	 * throws; instead of letting Netty's acceptor pause accepting for 1 s (the
	 * queue would wait), we free a spare descriptor, let the loop accept what
	 * is queued and close it at once, then reserve the spare again: libuv's
	 * trick, as servers/common.c. Runs on the boss loop only. */
	static final class AcceptDrain extends ChannelInboundHandlerAdapter {
		RandomAccessFile spare = openSpare();
		boolean draining;

		static RandomAccessFile openSpare() {
			try {
				return new RandomAccessFile("/dev/null", "r");
			} catch (IOException e) {
				return null;                  /* the next EMFILE falls back to the pause */
			}
		}

		@Override
		public void channelActive(ChannelHandlerContext ctx) {
			ctx.pipeline().addLast(new AcceptErrorSink());   /* behind the acceptor now */
			ctx.fireChannelActive();
		}

		@Override
		public void channelRead(ChannelHandlerContext ctx, Object child) {
			if (!draining) {
				ctx.fireChannelRead(child);   /* to the acceptor: register and serve */
				return;
			}
			((Channel) child).unsafe().closeForcibly();   /* dropped: never registered */
			emfile.increment();
		}

		@Override
		public void channelReadComplete(ChannelHandlerContext ctx) {
			if (draining) {                   /* the queue is empty, or 16 were dropped */
				draining = false;
				spare = openSpare();
			}
			ctx.fireChannelReadComplete();
		}

		@Override
		public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
			if (cause instanceof IOException && String.valueOf(cause.getMessage()).contains("open files")
			    && spare != null) {
				try {
					spare.close();            /* the next accept gets this descriptor */
				} catch (IOException ignored) {
					/* it was open; nothing to undo */
				}
				spare = null;
				draining = true;              /* autoRead stays on: the loop accepts again */
				return;
			}
			ctx.fireExceptionCaught(cause);   /* the acceptor pauses accepting for 1 s */
		}
	}

	/* The listening channel's last handler. Without it the pipeline's tail logs
	 * each accept failure through java.util.logging, whose first use loads the
	 * time-zone file: out of descriptors that throws, and the boss loop's
	 * thread died (measured here), so nothing was accepted again. */
	static final class AcceptErrorSink extends ChannelInboundHandlerAdapter {
		@Override
		public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
			if (!String.valueOf(cause.getMessage()).contains("open files"))
				System.err.println(MODEL + ": accept: " + cause);
		}
	}

	/* One instance for every connection: all its state is the channel's. */
	@Sharable
	static final class EchoHandler extends ChannelInboundHandlerAdapter {
		@Override
		public void channelActive(ChannelHandlerContext ctx) {
			accepted.increment();
			long n = cur.incrementAndGet();
			peak.accumulateAndGet(n, Math::max);
		}

		@Override
		public void channelInactive(ChannelHandlerContext ctx) {
			closed.increment();
			cur.decrementAndGet();
		}

		@Override
		public void channelRead(ChannelHandlerContext ctx, Object msg) {
			ByteBuf b = (ByteBuf) msg;
			int n = b.readableBytes();
			scRead.increment();
			bytesIn.add(n);
			messages.increment();
			maybeWork(b, n);
			ctx.write(b).addListener(f -> {      /* b is released once written */
				if (f.isSuccess())
					bytesOut.add(n);
				else
					failed(ctx.channel(), f.cause());
			});
		}

		@Override
		public void channelReadComplete(ChannelHandlerContext ctx) {
			scWrite.increment();
			ctx.flush();
			if (!ctx.channel().isWritable())
				ctx.channel().config().setAutoRead(false);   /* stop reading: backpressure */
		}

		@Override
		public void channelWritabilityChanged(ChannelHandlerContext ctx) {
			if (ctx.channel().isWritable())
				ctx.channel().config().setAutoRead(true);    /* drained below the low mark */
			ctx.fireChannelWritabilityChanged();
		}

		@Override
		public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
			if (evt instanceof ChannelInputShutdownEvent)   /* the peer's FIN */
				ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
			ctx.fireUserEventTriggered(evt);
		}

		/* A failed read fires exceptionCaught; a failed write fails its promise
		 * (and every queued one) and closes the channel. Count one per channel. */
		@Override
		public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
			failed(ctx.channel(), cause);
			ctx.close();
		}

		static void failed(Channel ch, Throwable cause) {
			if (ch.attr(FAILED).setIfAbsent(Boolean.TRUE) == null)
				countError(cause);
		}
	}
	static final AttributeKey<Boolean> FAILED = AttributeKey.valueOf("failed");

	public static void main(String[] argv) throws InterruptedException {
		parseArgs(argv);
		if (loops == 0)
			loops = Runtime.getRuntime().availableProcessors();   /* the affinity mask */
		EventLoopGroup boss, workers;
		Class<? extends ServerChannel> chan;
		if (transport.equals("epoll")) {
			if (!Epoll.isAvailable()) {
				System.err.println(MODEL + ": the native epoll transport is unavailable here: "
					+ Epoll.unavailabilityCause());
				System.exit(1);
			}
			boss = new EpollEventLoopGroup(1);
			workers = new EpollEventLoopGroup(loops);
			chan = EpollServerSocketChannel.class;
		} else {
			boss = new NioEventLoopGroup(1);
			workers = new NioEventLoopGroup(loops);
			chan = NioServerSocketChannel.class;
		}
		EchoHandler echo = new EchoHandler();
		ServerBootstrap b = new ServerBootstrap()
			.group(boss, workers)
			.channel(chan)
			.option(ChannelOption.SO_BACKLOG, backlog)
			.option(ChannelOption.SO_REUSEADDR, true)
			.handler(new AcceptDrain())
			.childOption(ChannelOption.TCP_NODELAY, true)
			.childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
			.childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
				new WriteBufferWaterMark(bufsize / 2, bufsize))
			.childOption(ChannelOption.RCVBUF_ALLOCATOR,   /* Netty's default, capped at --bufsize */
				new AdaptiveRecvByteBufAllocator(64, Math.min(1024, bufsize), bufsize))
			.childHandler(new ChannelInitializer<Channel>() {
				@Override
				protected void initChannel(Channel ch) {
					ch.pipeline().addLast(echo);
				}
			});
		if (reuseport) {
			if (chan == EpollServerSocketChannel.class)
				b.option(EpollChannelOption.SO_REUSEPORT, true);
			else
				b.option(NioChannelOption.of(StandardSocketOptions.SO_REUSEPORT), true);
		}
		Channel server;
		try {
			server = b.bind(new InetSocketAddress(InetAddress.getByName(addr), port)).sync().channel();
		} catch (Exception e) {         /* sync() rethrows the bind's IOException */
			System.err.println(MODEL + ": bind(" + addr + ":" + port + "): " + e.getMessage());
			System.exit(1);
			return;
		}
		/* The JDK opens a socketpair for its deferred-close trick on the first
		 * close of a socket channel; do that now so it is not counted as a leak. */
		try {
			java.nio.channels.SocketChannel.open().close();
		} catch (IOException e) {
			System.err.println(MODEL + ": socket: " + e.getMessage());
			System.exit(1);
		}
		statsLine();      /* link the string concatenation now, not in the hook */
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			System.out.print(statsLine());    /* SIGTERM/SIGINT */
			System.out.flush();
			/* Stop the loops before halting: HotSpot's exit waits up to 300 ms
			 * for threads inside native code (each loop sits in epoll_wait). */
			boss.shutdownGracefully(0, STOP_WAIT_MS, TimeUnit.MILLISECONDS);
			workers.shutdownGracefully(0, STOP_WAIT_MS, TimeUnit.MILLISECONDS);
			boss.terminationFuture().awaitUninterruptibly(STOP_WAIT_MS);
			workers.terminationFuture().awaitUninterruptibly(STOP_WAIT_MS);
			Runtime.getRuntime().halt(0);
		}));
		System.out.print("READY " + ((InetSocketAddress) server.localAddress()).getPort() + "\n");
		System.out.flush();
		server.closeFuture().sync();
	}
}
