// Command ceiling is the pure-Go upper bound for bench/run.sh: a fasthttp
// server answering every request with the same bytes as bench/hello.ru
// (status 200, Content-Type text/html, Content-Length 16, "Hello from Rack!").
// No Ruby is involved, so its requests/s is what the Go core could reach if
// the Rack hand-off cost nothing.
//
// Usage: ceiling PORT [ADDRESS]   (ADDRESS defaults to 127.0.0.1)
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/valyala/fasthttp"
)

var (
	body        = []byte("Hello from Rack!")
	contentType = []byte("text/html")
)

func handler(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(contentType)
	ctx.Response.SetBodyRaw(body) // sets Content-Length: 16
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ceiling PORT [ADDRESS]")
		os.Exit(2)
	}
	addr := "127.0.0.1"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(addr, os.Args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	srv := &fasthttp.Server{
		Handler:               handler,
		NoDefaultServerHeader: true, // iodine sends no Server header either
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		_ = srv.Shutdown()
	}()
	fmt.Fprintf(os.Stderr, "ceiling listening on http://%s (GOMAXPROCS=%d)\n", ln.Addr(), runtime.GOMAXPROCS(0))
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}
