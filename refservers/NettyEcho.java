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
 * Contract (flags, READY, the counters line): EchoContract.java; --loops
 * and --transport are this server's own. Needs Netty 4.1 and Java >= 11.
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
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.util.concurrent.TimeUnit;

public final class NettyEcho {
	static final String MODEL = "netty";
	static final long STOP_WAIT_MS = 200;   /* loops get this long to stop at SIGTERM */

	static int loops = 0;                   /* --loops; 0: one per CPU */
	static String transport = "nio";
	static final EchoContract cfg = new EchoContract(MODEL,
			"largest read, and the write high water mark")
		.number("loops", "N", "worker event loops (default: one per CPU we may run on);\n"
			+ "one more loop accepts", 1, 1024, v -> loops = (int) v)
		.choice("transport", "T", "nio or epoll (Netty's native transport; default nio)",
			v -> transport = v, "nio", "epoll");
	/* stats, shared by every event loop */
	static final EchoContract.SharedCounts stats = new EchoContract.SharedCounts();

	/* The listening channel's first handler. Out of descriptors, accept()
	 * throws; instead of letting Netty's acceptor pause accepting for 1 s (the
	 * queue would wait), we free a spare descriptor, let the loop accept what
	 * is queued and close it at once, then reserve the spare again: libuv's
	 * trick, as servers/common.c. Runs on the boss loop only. */
	static final class AcceptDrain extends ChannelInboundHandlerAdapter {
		RandomAccessFile spare = EchoContract.openSpare();   /* null: EMFILE -> the pause */
		boolean draining;

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
			stats.emfile.increment();
		}

		@Override
		public void channelReadComplete(ChannelHandlerContext ctx) {
			if (draining) {                   /* the queue is empty, or 16 were dropped */
				draining = false;
				spare = EchoContract.openSpare();
			}
			ctx.fireChannelReadComplete();
		}

		@Override
		public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
			if (cause instanceof IOException && EchoContract.outOfDescriptors(cause) && spare != null) {
				EchoContract.closeQuietly(spare);   /* the next accept gets this descriptor */
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
			if (!EchoContract.outOfDescriptors(cause))
				System.err.println(MODEL + ": accept: " + cause);
		}
	}

	/* One instance for every connection: all its state is the channel's. */
	@Sharable
	static final class EchoHandler extends ChannelInboundHandlerAdapter {
		@Override
		public void channelActive(ChannelHandlerContext ctx) {
			stats.onAccept();
			stats.accept.increment();             /* the accept we see is this one */
		}

		@Override
		public void channelInactive(ChannelHandlerContext ctx) {
			stats.onClose();
		}

		@Override
		public void channelRead(ChannelHandlerContext ctx, Object msg) {
			ByteBuf b = (ByteBuf) msg;
			int n = b.readableBytes();
			stats.read.increment();
			stats.bytesIn.add(n);
			stats.messages.increment();
			cfg.work(n, i -> b.getUnsignedByte(b.readerIndex() + i));
			ctx.write(b).addListener(f -> {      /* b is released once written */
				if (f.isSuccess())
					stats.bytesOut.add(n);
				else
					failed(ctx.channel(), f.cause());
			});
		}

		@Override
		public void channelReadComplete(ChannelHandlerContext ctx) {
			stats.write.increment();
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
				stats.failed(cause);
		}
	}
	static final AttributeKey<Boolean> FAILED = AttributeKey.valueOf("failed");

	public static void main(String[] argv) throws InterruptedException {
		cfg.parse(argv);
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
			.option(ChannelOption.SO_BACKLOG, cfg.backlog)
			.option(ChannelOption.SO_REUSEADDR, true)
			.handler(new AcceptDrain())
			.childOption(ChannelOption.TCP_NODELAY, true)
			.childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
			.childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
				new WriteBufferWaterMark(cfg.bufsize / 2, cfg.bufsize))
			.childOption(ChannelOption.RCVBUF_ALLOCATOR,   /* Netty's default, capped at --bufsize */
				new AdaptiveRecvByteBufAllocator(64, Math.min(1024, cfg.bufsize), cfg.bufsize))
			.childHandler(new ChannelInitializer<Channel>() {
				@Override
				protected void initChannel(Channel ch) {
					ch.pipeline().addLast(echo);
				}
			});
		if (cfg.reuseport) {
			if (chan == EpollServerSocketChannel.class)
				b.option(EpollChannelOption.SO_REUSEPORT, true);
			else
				b.option(NioChannelOption.of(StandardSocketOptions.SO_REUSEPORT), true);
		}
		Channel server;
		try {
			server = b.bind(cfg.local()).sync().channel();
		} catch (Exception e) {         /* sync() rethrows the bind's IOException */
			cfg.bindFailed(e);
			return;
		}
		/* At SIGTERM, after the counters: stop the loops before halting, since
		 * HotSpot's exit waits up to 300 ms for threads inside native code (each
		 * loop sits in epoll_wait). */
		int port = ((InetSocketAddress) server.localAddress()).getPort();
		cfg.ready(port, () -> stats.sum().line(MODEL), () -> {
			boss.shutdownGracefully(0, STOP_WAIT_MS, TimeUnit.MILLISECONDS);
			workers.shutdownGracefully(0, STOP_WAIT_MS, TimeUnit.MILLISECONDS);
			boss.terminationFuture().awaitUninterruptibly(STOP_WAIT_MS);
			workers.terminationFuture().awaitUninterruptibly(STOP_WAIT_MS);
		});
		server.closeFuture().sync();
	}
}
