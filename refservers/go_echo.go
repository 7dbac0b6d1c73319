// go_echo.go - reference row: a goroutine per connection on Go's netpoller.
//
// What the runtime does underneath (Go 1.19, linux/amd64): every net.Conn
// is a nonblocking socket registered once with one edge-triggered epoll set
// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) when it is accepted. conn.Read
// tries read(2) at once; on EAGAIN the goroutine parks on the descriptor
// and the scheduler runs another one. Parked goroutines are woken by
// netpoll(), an epoll_wait that the scheduler calls when it runs out of
// work (blocking) and sysmon calls every 10 ms (non-blocking). So the code
// below is blocking-style, one goroutine per connection, and the kernel
// mechanism is servers/epoll_et.c's: each message costs a read, a write and,
// when the next message is not there yet, a read that returns EAGAIN.
// Threads: GOMAXPROCS threads run goroutines (default: the CPUs in our
// affinity mask, which is how the harness's CPU plan reaches us; --loops or
// the GOMAXPROCS variable override it), plus sysmon and threads parked in
// the scheduler's pool.
// Memory: each connection holds its goroutine's stack (starts at 2-8 KiB,
// grows by copying) and its own --bufsize read buffer: the idiomatic loop
// below keeps it while the connection is idle.
// Backpressure: conn.Write returns only when every byte is written (it parks
// on EAGAIN), and the goroutine reads nothing meanwhile.
// Half-close: Read returns io.EOF after every earlier byte, all of which has
// been echoed, so the connection is closed then.
// EMFILE: Accept calls accept(2) before it parks, and accept(2) fails with
// EMFILE while no descriptor is free even if nothing is queued, so retrying
// at once spins. net/http's Server sleeps (5 ms, doubling to 1 s) and lets
// the queue wait; the contract asks for libuv's trick instead: close a spare
// descriptor, so Accept takes it (or parks while nothing is queued); a
// connection accepted that way is closed at once unless the spare can be
// reopened. The sleep remains the fallback when there is no spare.
// Not io.Copy(c, c): on Linux it would splice(2) socket -> pipe -> socket,
// holding a pipe (two descriptors) per waiting connection.
// Counters: bytes, messages, connections exact (atomic adds); "syscalls"
// are the calls this program makes (one Read, one Write per echo, accept,
// close): a lower bound, the runtime's epoll_wait, EAGAIN reads and futex
// calls are not seen here.
//
// Contract: --addr --port --backlog --bufsize --reuseport --work-us
// --work-every --loops --help; bad flag -> usage on stderr, exit 2;
// "READY <port>"; one JSON line of counters on SIGTERM/SIGINT, exit 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const model = "go"

// cfg
var (
	addr                     = "127.0.0.1"
	port                     = 0
	backlog                  = 4096 // Go's listen uses net.core.somaxconn; see listenConfig
	bufsize                  = 16384
	reuseport                = false
	workUs, workEvery uint64 = 0, 1
	loops                    = 0 // 0: GOMAXPROCS from the affinity mask or $GOMAXPROCS
)

// stats
var accepted, closed, cur, peak, bytesIn, bytesOut, messages, nerrors, resets, emfile,
	scAccept, scRead, scWrite, scClose atomic.Uint64

func usage(out *os.File) {
	fmt.Fprint(out, "usage: echo_"+model+" [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"+
		"       [--reuseport] [--work-us N] [--work-every K] [--loops N]\n"+
		"  --addr A        IPv4 address to listen on (default 127.0.0.1)\n"+
		"  --port P        TCP port, 0 = any free port (default 0)\n"+
		"  --backlog N     listen() backlog (default 4096; Go itself passes somaxconn)\n"+
		"  --bufsize BYTES read buffer per connection (default 16384)\n"+
		"  --reuseport     set SO_REUSEPORT to share the port with other servers\n"+
		"  --work-us N     spin N microseconds of CPU per message (default 0)\n"+
		"  --work-every K  a message is heavy when the key of its first two bytes is a\n"+
		"                  multiple of K (about 1 in K for the generator's pseudo-random\n"+
		"                  payloads; exact at --depth 1, where one read is one message)\n"+
		"                  (default 1)\n"+
		"  --loops N       GOMAXPROCS: threads running goroutines (default: the CPUs\n"+
		"                  we may run on, or $GOMAXPROCS)\n"+
		"Prints 'READY <port>' when listening; on SIGTERM/SIGINT prints one JSON\n"+
		"line of counters and exits 0.\n")
}

func badArg(format string, a ...any) {
	fmt.Fprintf(os.Stderr, model+": "+format+"\n", a...)
	usage(os.Stderr)
	os.Exit(2)
}

func num(flag, s string, min, max uint64) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < min || v > max || !regexp.MustCompile(`^[0-9]+$`).MatchString(s) {
		badArg("--%s: '%s' is not a whole number from %d to %d", flag, s, min, max)
	}
	return v
}

func parseArgs(argv []string) {
	withValue := map[string]bool{"addr": true, "port": true, "backlog": true, "bufsize": true,
		"work-us": true, "work-every": true, "loops": true}
	for i := 0; i < len(argv); i++ {
		a, v, hasV := argv[i], "", false
		if !strings.HasPrefix(a, "--") {
			badArg("unexpected argument '%s'", a)
		}
		a = a[2:]
		if eq := strings.IndexByte(a, '='); eq >= 0 {
			a, v, hasV = a[:eq], a[eq+1:], true
		}
		if a == "help" && !hasV {
			usage(os.Stdout)
			os.Exit(0)
		}
		if a == "reuseport" && !hasV {
			reuseport = true
			continue
		}
		if !withValue[a] {
			badArg("unknown or incomplete option '%s'", argv[i])
		}
		if !hasV {
			if i+1 >= len(argv) {
				badArg("option '%s' needs a value", argv[i])
			}
			i++
			v = argv[i]
		}
		switch a {
		case "addr":
			ip := net.ParseIP(v)
			if ip == nil || ip.To4() == nil || strings.Contains(v, ":") {
				badArg("--addr: '%s' is not an IPv4 address", v)
			}
			addr = v
		case "port":
			port = int(num(a, v, 0, 65535))
		case "backlog":
			backlog = int(num(a, v, 1, 2147483647))
		case "bufsize":
			bufsize = int(num(a, v, 64, 64<<20))
		case "work-us":
			workUs = num(a, v, 0, 10000000)
		case "work-every":
			workEvery = num(a, v, 1, 4294967295)
		case "loops":
			loops = int(num(a, v, 1, 1024))
		}
	}
}

// maybeWork spins --work-us when the key of the first two bytes (little-endian;
// one byte if n == 1) is a multiple of --work-every: work_key() in servers/common.h.
func maybeWork(b []byte) {
	if workUs == 0 || len(b) == 0 {
		return
	}
	key := uint64(b[0])
	if len(b) >= 2 {
		key |= uint64(b[1]) << 8
	}
	if key%workEvery != 0 {
		return
	}
	end := time.Now().Add(time.Duration(workUs) * time.Microsecond)
	for time.Now().Before(end) {
	}
}

func countError(err error) {
	nerrors.Add(1)
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		resets.Add(1)
	}
}

// serve is one connection's whole life: read, echo, until EOF or an error.
func serve(c net.Conn) {
	defer func() {
		scClose.Add(1)
		c.Close()
		closed.Add(1)
		cur.Add(^uint64(0))
	}()
	buf := make([]byte, bufsize)
	for {
		scRead.Add(1)
		n, err := c.Read(buf)
		if n > 0 {
			bytesIn.Add(uint64(n))
			messages.Add(1)
			maybeWork(buf[:n])
			scWrite.Add(1)
			w, werr := c.Write(buf[:n]) // all n bytes, or an error
			bytesOut.Add(uint64(w))
			if werr != nil {
				countError(werr)
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			countError(err)
			return
		}
	}
}

func printStats() {
	sc := []uint64{scAccept.Load(), scRead.Load(), scWrite.Load(), scClose.Load()}
	fmt.Printf("{\"model\":\"%s\",\"accepted\":%d,\"closed\":%d,\"peak_conns\":%d,"+
		"\"bytes_in\":%d,\"bytes_out\":%d,\"messages\":%d,\"errors\":%d,\"resets\":%d,"+
		"\"emfile\":%d,\"overflows\":0,\"syscalls\":{\"accept\":%d,\"read\":%d,\"write\":%d,"+
		"\"close\":%d,\"wait\":0,\"ctl\":0,\"submit\":0,\"sigwait\":0,\"other\":0,\"total\":%d}}\n",
		model, accepted.Load(), closed.Load(), peak.Load(), bytesIn.Load(), bytesOut.Load(),
		messages.Load(), nerrors.Load(), resets.Load(), emfile.Load(),
		sc[0], sc[1], sc[2], sc[3], sc[0]+sc[1]+sc[2]+sc[3])
}

// listenConfig sets SO_REUSEADDR (Go sets it already) and, if asked, SO_REUSEPORT
// before bind. Go passes net.core.somaxconn as the backlog; --backlog is accepted
// for the contract but cannot lower it.
func listenConfig() net.ListenConfig {
	return net.ListenConfig{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if reuseport {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

func main() {
	parseArgs(os.Args[1:])
	if loops > 0 {
		runtime.GOMAXPROCS(loops)
	}
	lc := listenConfig()
	ln, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: listen(%s:%d): %v\n", model, addr, port, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		printStats()
		os.Exit(0)
	}()
	fmt.Printf("READY %d\n", ln.Addr().(*net.TCPAddr).Port)

	spare, _ := os.Open("/dev/null") // reserved for the EMFILE drain
	var delay time.Duration          // back-off, as net/http's Server.Serve
	for {
		scAccept.Add(1)
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				if spare != nil {
					spare.Close() // the next Accept takes this descriptor,
					spare = nil   // or parks while nothing is queued
					continue
				}
			} else {
				fmt.Fprintf(os.Stderr, "%s: accept: %v\n", model, err)
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		if spare == nil { // c has the spare's descriptor: is another one free?
			if spare, _ = os.Open("/dev/null"); spare == nil {
				c.Close() // no: drop it, as libuv does
				emfile.Add(1)
				continue
			}
		}
		c.(*net.TCPConn).SetNoDelay(true) // Go's default already; stated for the reader
		accepted.Add(1)
		if n := cur.Add(1); n > peak.Load() {
			peak.Store(n) // only this goroutine raises cur, so the max is exact
		}
		go serve(c)
	}
}
