package main

import (
	"bytes"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runBroadcast measures fan-out against a server that sends every message it
// receives to every connection (bench/ws_broadcast.ru, `wsbench hub`).
//
// All -clients connections are subscribers; the first -publishers of them
// also publish "pub:<publisher>:<seq>:<sent>:xxx..." (seq from 0, +1 per
// message; sent = nanoseconds since the run began, for the delivery latency).
// Each message should reach every client, the publisher included, so one
// published message is -clients deliveries.
//
// Pace (closed loop): a publisher keeps at most -window messages in flight,
// where in flight means published but not yet delivered to all clients, as
// counted by (deliveries of its messages over all clients) / clients. A lost
// message so only shrinks the window; it cannot deadlock the run.
// With -rate R (messages/s over all publishers) publishers also keep to that
// pace (open loop, the window still caps what is in flight), which asks
// "does the server sustain R * clients deliveries/s?" instead of "how many?".
//
// Deliveries/s grows with what is in flight (publishers * window): the more
// frames wait for a socket, the more one write carries. Compare servers at the
// same settings.
//
// Checks, per client and publisher: a bitmap of the seqs received gives
// duplicates; seq below the highest seen is out-of-order; after publishing
// stops and the deliveries drain, lost = published * clients - unique received.
func runBroadcast(args []string) error {
	fs := flag.NewFlagSet("broadcast", flag.ExitOnError)
	rawURL := fs.String("url", "", "ws:// URL of a broadcast endpoint")
	nClients := fs.Int("clients", 1000, "connections, all subscribers")
	nPub := fs.Int("publishers", 10, "how many of the clients also publish")
	window := fs.Int("window", 4, "messages in flight per publisher")
	rate := fs.Float64("rate", 0, "messages/s over all publishers (0: as fast as the window allows)")
	duration := fs.Duration("duration", 5*time.Second, "measured time")
	warmup := fs.Duration("warmup", 0, "publishing time before the measured time")
	drain := fs.Duration("drain", 3*time.Second, "after publishing stops: how long without a new delivery ends the wait")
	size := fs.Int("size", 32, "message size in bytes (at least the \"pub:P:SEQ:\" header)")
	parallel := fs.Int("dialers", 100, "handshakes at a time")
	timeout := fs.Duration("timeout", 10*time.Second, "dial/handshake limit, and the limit for the ready probe")
	_ = fs.Parse(args)
	t, err := parseTarget(*rawURL)
	if err != nil {
		return err
	}
	N, P := *nClients, *nPub
	if P < 1 || P > N || *window < 1 {
		return fmt.Errorf("need 1 <= publishers <= clients and window >= 1")
	}
	conns, err := dialAll(t, N, *parallel, 16384, *timeout)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	pubs := make([]publisher, P)
	for i := range pubs {
		pubs[i].wake = make(chan struct{}, 1)
	}
	// the time base, set when publishing starts: publishers stamp messages
	// with it and readers compute delivery latency from it
	var lat atomic.Pointer[latWindow]
	subs := make([]subscriber, N)
	var stopping atomic.Bool
	var readers sync.WaitGroup
	for i := range conns {
		subs[i].init(P)
		readers.Add(1)
		go func(s *subscriber, c *Conn) {
			defer readers.Done()
			s.read(c, pubs, uint64(N), &stopping, &lat)
		}(&subs[i], conns[i])
	}

	// Ready probe: a server may subscribe a connection a little after the
	// handshake, so publishing starts only once every client has received a
	// "ready:" message (publisher 0 sends one every 100 ms until then).
	probeEnd := time.Now().Add(*timeout)
	notReady := N
	for k := 0; time.Now().Before(probeEnd); k++ {
		notReady = 0
		for i := range subs {
			if !subs[i].ready.Load() {
				notReady++
			}
		}
		if notReady == 0 {
			break
		}
		if err := conns[0].WriteMessage(opText, []byte("ready:"+strconv.Itoa(k))); err != nil {
			return fmt.Errorf("ready probe: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if notReady > 0 {
		fmt.Printf("  warning: %d of %d clients never received the ready probe; they will count as losses\n", notReady, N)
	}

	cpu0 := cpuSeconds()
	start := time.Now()
	lat.Store(&latWindow{epoch: start, from: *warmup, to: *warmup + *duration})
	done := make(chan struct{})
	var pubWG sync.WaitGroup
	for p := 0; p < P; p++ {
		pubWG.Add(1)
		go func(p int) {
			defer pubWG.Done()
			var interval time.Duration // between two messages of this publisher
			if *rate > 0 {
				interval = time.Duration(float64(P) / *rate * float64(time.Second))
			}
			pubs[p].run(conns[p], p, *window, uint64(N), *size, done, start, start.Add(interval*time.Duration(p)/time.Duration(P)), interval)
		}(p)
	}
	delivered := func() (n int64) {
		for i := range subs {
			n += subs[i].unique.Load()
		}
		return n
	}
	time.Sleep(*warmup)
	t0, d0 := time.Now(), delivered()
	time.Sleep(*duration)
	t1, d1 := time.Now(), delivered()
	close(done)
	pubWG.Wait()
	var published int64
	var pubErr error
	for p := range pubs {
		published += pubs[p].sent.Load()
		if pubErr == nil {
			pubErr = pubs[p].err
		}
	}
	expected := published * int64(N)

	// Drain: wait for the deliveries still on their way, until all arrived or
	// none arrived for -drain (at most 10 * -drain in all).
	drainStart := time.Now()
	last, lastChange := delivered(), time.Now()
	for last < expected && time.Since(lastChange) < *drain && time.Since(drainStart) < 10**drain {
		time.Sleep(20 * time.Millisecond)
		if d := delivered(); d != last {
			last, lastChange = d, time.Now()
		}
	}
	wall := time.Since(start)
	cpu := clientCPU(cpu0, wall)
	stopping.Store(true)

	var unique, dups, ooo, gaps, bad int64
	var latency hist
	connErrs := 0
	var firstErr error
	for i := range subs {
		s := &subs[i]
		unique += s.unique.Load()
	}
	// The readers still run (they own their counters): stop them by closing
	// the sockets, then read the counters they leave.
	closeAll(conns)
	readers.Wait()
	for i := range subs {
		s := &subs[i]
		dups += s.dups
		ooo += s.ooo
		gaps += s.gaps
		bad += s.bad
		latency.merge(&s.lat)
		if s.err != nil {
			connErrs++
			if firstErr == nil {
				firstErr = s.err
			}
		}
	}
	lost := expected - unique
	dps := float64(d1-d0) / t1.Sub(t0).Seconds()
	pace := "as fast as the window allows"
	if *rate > 0 {
		pace = fmt.Sprintf("at most %g messages/s", *rate)
	}
	fmt.Printf("broadcast %s: %d clients, %d publishers (clients 0..%d) with window %d, %s, %d-byte messages, %s measured (+%s warm-up)\n",
		*rawURL, N, P, P-1, *window, pace, *size, *duration, *warmup)
	fmt.Printf("  deliveries/s %s   (published %s messages = %s/s overall; %s deliveries expected, %s received)\n",
		commas(int64(dps)), commas(published), commas(int64(float64(published)/(t1.Sub(start).Seconds()))),
		commas(expected), commas(unique))
	fmt.Printf("  delivery latency (publish to receipt) p50 %s  p99 %s  max %s\n",
		latency.quantile(0.50), latency.quantile(0.99), time.Duration(latency.max))
	fmt.Printf("  lost %d  out-of-order %d  duplicates %d  (gaps seen on arrival %d, unparsable %d, connection errors %d)\n",
		lost, ooo, dups, gaps, bad, connErrs)
	if pubErr != nil {
		fmt.Printf("  publisher error: %v\n", pubErr)
	}
	if firstErr != nil {
		fmt.Printf("  first connection error: %v\n", firstErr)
	}
	fmt.Println("  " + cpu)
	fmt.Printf("RESULT dps=%d lost=%d ooo=%d dup=%d published=%d conn_errors=%d not_ready=%d p50_us=%d p99_us=%d\n",
		int64(dps), lost, ooo, dups, published, connErrs, notReady,
		latency.quantile(0.50).Microseconds(), latency.quantile(0.99).Microseconds())
	return nil
}

type publisher struct {
	delivered atomic.Uint64 // deliveries of this publisher's messages, all clients
	sent      atomic.Int64
	wake      chan struct{} // a message of ours reached its last client
	err       error
	_         [64]byte // keeps the hot counters of publishers off one cache line
}

func (pb *publisher) run(c *Conn, p, window int, clients uint64, size int, done <-chan struct{},
	epoch, first time.Time, interval time.Duration) {
	head := []byte("pub:" + strconv.Itoa(p) + ":")
	var msg, prefix []byte
	for seq := int64(0); ; seq++ {
		if interval > 0 { // open loop: wait for this message's time, no catching up in bursts beyond the window
			if d := time.Until(first.Add(interval * time.Duration(seq))); d > 0 {
				select {
				case <-time.After(d):
				case <-done:
					return
				}
			}
		}
		for uint64(seq)-pb.delivered.Load()/clients >= uint64(window) {
			select {
			case <-pb.wake:
			case <-done:
				return
			}
		}
		select {
		case <-done:
			return
		default:
		}
		prefix = append(strconv.AppendInt(append(prefix[:0], head...), seq, 10), ':')
		prefix = append(strconv.AppendInt(prefix, int64(time.Since(epoch)), 10), ':')
		msg = fill(msg, prefix, size)
		if err := c.WriteMessage(opText, msg); err != nil {
			pb.err = err
			return
		}
		pb.sent.Store(seq + 1)
	}
}

// subscriber is one client's bookkeeping; only its reader goroutine writes it
// (unique is atomic because the main goroutine samples it while running).
type subscriber struct {
	unique               atomic.Int64
	ready                atomic.Bool
	seen                 [][]uint64 // per publisher: bitmap of received seqs
	max                  []int64    // per publisher: highest seq received, -1 for none
	dups, ooo, gaps, bad int64
	err                  error
	lat                  hist // delivery latency, measured time only
}

// latWindow is the run's time base: deliveries received between from and
// to (offsets from epoch) count toward the latency percentiles.
type latWindow struct {
	epoch    time.Time
	from, to time.Duration
}

func (s *subscriber) init(publishers int) {
	s.seen = make([][]uint64, publishers)
	s.max = make([]int64, publishers)
	for i := range s.max {
		s.max[i] = -1
	}
}

var pubPrefix, readyPrefix = []byte("pub:"), []byte("ready:")

func (s *subscriber) read(c *Conn, pubs []publisher, clients uint64, stopping *atomic.Bool, lat *atomic.Pointer[latWindow]) {
	for {
		op, m, err := c.ReadMessage()
		if err != nil {
			if !stopping.Load() {
				s.err = err
			}
			return
		}
		if op == opPong {
			continue
		}
		p, seq, sent, ok := parsePub(m)
		if !ok || p >= len(pubs) {
			if bytes.HasPrefix(m, readyPrefix) {
				s.ready.Store(true)
			} else {
				s.bad++
			}
			continue
		}
		word, bit := seq>>6, uint64(1)<<(seq&63)
		seen := s.seen[p]
		for int64(len(seen)) <= word {
			seen = append(seen, 0)
		}
		s.seen[p] = seen
		if seen[word]&bit != 0 {
			s.dups++
			continue
		}
		seen[word] |= bit
		switch max := s.max[p]; {
		case seq < max:
			s.ooo++
		case seq > max+1:
			s.gaps++ // lost, unless it arrives later (then also out-of-order)
		}
		if seq > s.max[p] {
			s.max[p] = seq
		}
		s.unique.Add(1)
		if lw := lat.Load(); lw != nil {
			if now := time.Since(lw.epoch); now >= lw.from && now <= lw.to {
				s.lat.add(now - time.Duration(sent))
			}
		}
		// the delivery that completes a multiple of `clients` may free a slot
		// in the publisher's window
		if pubs[p].delivered.Add(1)%clients == 0 {
			select {
			case pubs[p].wake <- struct{}{}:
			default:
			}
		}
	}
}

// parsePub reads "pub:<p>:<seq>:<sent>:..." without allocating.
func parsePub(m []byte) (p int, seq, sent int64, ok bool) {
	if !bytes.HasPrefix(m, pubPrefix) {
		return 0, 0, 0, false
	}
	m = m[len(pubPrefix):]
	var vals [3]int64
	for k := range vals {
		i, v := 0, int64(0)
		for ; i < len(m) && m[i] >= '0' && m[i] <= '9'; i++ {
			v = v*10 + int64(m[i]-'0')
		}
		if i == 0 || i == len(m) || m[i] != ':' {
			return 0, 0, 0, false
		}
		vals[k] = v
		m = m[i+1:]
	}
	return int(vals[0]), vals[1], vals[2], true
}
