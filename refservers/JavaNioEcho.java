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
 * reopen it (libuv's trick, as servers/common.c does). The JVM's other
 * threads open files too (HotSpot's compiler threads read the cgroup's
 * memory.limit_in_bytes, seen under strace taking the descriptor the drain
 * had just freed): with no spare left, accepting pauses for
 * EMFILE_RETRY_MS and the spare is reopened then, or the listener would be
 * reported ready, and fail, forever (seen: 100% CPU under load).
 * SIGTERM/SIGINT: the JVM runs shutdown hooks; ours stops the loop, waits
 * for it (the counters are the loop thread's), prints them and halts with
 * status 0.
 * Counters: the NIO calls we make (accept, read, write, close, select as
 * "wait", register/interestOps as "ctl"); each is one system call here, but
 * epoll_ctl is issued only for changed keys, so "ctl" is an upper bound.
 *
 * Contract (flags, READY, the counters line): EchoContract.java. Needs
 * Java >= 11.
 */
import java.io.IOException;
import java.io.RandomAccessFile;
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
	static final int STOP_WAIT_MS = 900;    /* the loop gets this long to stop at SIGTERM */
	static final long EMFILE_RETRY_MS = 100; /* no spare: accepting pauses this long */

	static final EchoContract cfg = new EchoContract(MODEL, "read buffer size");
	/* stats: touched by the loop thread only, read after it stops */
	static final EchoContract.Counts stats = new EchoContract.Counts();

	static volatile boolean stop;
	static final CountDownLatch stopped = new CountDownLatch(1);
	static RandomAccessFile spare;          /* reserved for the EMFILE drain */
	static SelectionKey acceptKey;
	static long acceptPausedUntil;          /* nanoTime; 0: accepting */
	static ByteBuffer rbuf;                 /* one read buffer for all connections */

	static void drop(SelectionKey k, IOException e) {
		if (e != null)
			stats.failed(e);
		k.cancel();
		stats.close++;
		EchoContract.closeQuietly(k.channel());   /* the fd really closes at the next select */
		stats.onClose();
	}

	/* Out of descriptors: free the spare, accept and drop what is queued. */
	static void drainOnEmfile(ServerSocketChannel ss) {
		if (spare == null) {
			pauseAccepting();
			return;
		}
		EchoContract.closeQuietly(spare);
		try {
			SocketChannel d;
			while ((d = ss.accept()) != null) {
				stats.accept++;
				d.close();
				stats.emfile++;
			}
		} catch (IOException ignored) {
			/* still out of descriptors: the next event retries */
		}
		spare = EchoContract.openSpare();   /* null: another thread took the descriptor */
	}

	static void pauseAccepting() {
		stats.ctl++;
		acceptKey.interestOps(0);
		acceptPausedUntil = System.nanoTime() + EMFILE_RETRY_MS * 1000000;
	}

	/* After a pause: accept again once the spare is back. */
	static void resumeAccepting() {
		if (acceptPausedUntil == 0 || System.nanoTime() < acceptPausedUntil)
			return;
		spare = EchoContract.openSpare();
		if (spare == null) {
			acceptPausedUntil = System.nanoTime() + EMFILE_RETRY_MS * 1000000;
			return;
		}
		acceptPausedUntil = 0;
		stats.ctl++;
		acceptKey.interestOps(SelectionKey.OP_ACCEPT);
	}

	static void onAccept(ServerSocketChannel ss, Selector sel) {
		try {
			stats.accept++;
			SocketChannel c = ss.accept();    /* one per event: LT reports it again */
			if (c == null)
				return;
			c.configureBlocking(false);
			c.setOption(StandardSocketOptions.TCP_NODELAY, true);
			stats.ctl++;
			c.register(sel, SelectionKey.OP_READ);
			stats.onAccept();
		} catch (IOException e) {
			if (EchoContract.outOfDescriptors(e))
				drainOnEmfile(ss);
			else
				System.err.println(MODEL + ": accept: " + e.getMessage());
		}
	}

	static void onReadable(SelectionKey k) {
		SocketChannel c = (SocketChannel) k.channel();
		try {
			rbuf.clear();
			stats.read++;
			int n = c.read(rbuf);
			if (n < 0) {
				drop(k, null);                /* EOF: all echoed, so close */
				return;
			}
			if (n == 0)
				return;
			stats.bytesIn += n;
			stats.messages++;
			cfg.work(rbuf, n);
			rbuf.flip();
			stats.write++;
			stats.bytesOut += c.write(rbuf);
			if (rbuf.hasRemaining()) {        /* keep the rest, stop reading */
				ByteBuffer rest = ByteBuffer.allocate(rbuf.remaining());
				rest.put(rbuf).flip();
				k.attach(rest);
				stats.ctl++;
				k.interestOps(SelectionKey.OP_WRITE);
			}
		} catch (IOException e) {
			drop(k, e);
		}
	}

	static void onWritable(SelectionKey k) {
		ByteBuffer rest = (ByteBuffer) k.attachment();
		try {
			stats.write++;
			stats.bytesOut += ((SocketChannel) k.channel()).write(rest);
		} catch (IOException e) {
			drop(k, e);
			return;
		}
		if (!rest.hasRemaining()) {           /* all sent: read again */
			k.attach(null);
			stats.ctl++;
			k.interestOps(SelectionKey.OP_READ);
		}
	}

	/* SIGTERM/SIGINT: stop the loop, then its counters can be read. */
	static String stopAndCount(Selector sel) {
		stop = true;
		sel.wakeup();
		try {
			if (!stopped.await(STOP_WAIT_MS, TimeUnit.MILLISECONDS))
				Runtime.getRuntime().halt(1);
		} catch (InterruptedException e) {
			Runtime.getRuntime().halt(1);
		}
		return stats.line(MODEL);
	}

	public static void main(String[] argv) throws IOException {
		cfg.parse(argv);
		spare = EchoContract.openSpare();
		rbuf = ByteBuffer.allocateDirect(cfg.bufsize);
		Selector sel = Selector.open();
		ServerSocketChannel ss = ServerSocketChannel.open();
		cfg.listen(ss, ss::bind);
		ss.configureBlocking(false);
		acceptKey = ss.register(sel, SelectionKey.OP_ACCEPT);
		cfg.ready(ss.socket().getLocalPort(), () -> stopAndCount(sel), null);

		while (!stop) {
			stats.wait++;
			sel.select(k -> {
				if (!k.isValid())
					return;
				if (k.isAcceptable())
					onAccept(ss, sel);
				else if (k.attachment() != null)
					onWritable(k);            /* OP_WRITE, or an error: write() says which */
				else
					onReadable(k);            /* read() reports the error or EOF */
			}, acceptPausedUntil == 0 ? STOP_CHECK_MS : EMFILE_RETRY_MS);
			resumeAccepting();
		}
		stopped.countDown();                  /* the hook prints the counters, halts with 0 */
	}
}
