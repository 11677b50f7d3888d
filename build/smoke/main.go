// Command smoke is the post-checks workload: `smoke serve` answers every GET with its host
// name (a pod's name), and `smoke get` requests a URL several times and prints each answer,
// so a test can tell which replica, and so which node, served it.
//
//	smoke serve [-listen :80]
//	smoke get [-n 20] [-timeout 5s] [-interval 200ms] URL
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const version = "1.1"

// maxBody bounds what `get` reads of one answer.
const maxBody = 4096

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "get":
		get(os.Args[2:])
	case "-v", "version":
		fmt.Printf("k8s-install smoke %s\n", version)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: smoke serve [-listen :80] | smoke get [-n N] [-timeout D] [-interval D] URL")
	os.Exit(2)
}

func serve(args []string) {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := flags.String("listen", ":80", "address to listen on")
	_ = flags.Parse(args)
	name, err := os.Hostname()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smoke: no host name:", err)
		os.Exit(1)
	}
	server := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, name)
		}),
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	fmt.Fprintf(os.Stderr, "smoke %s: %s serving on %s\n", version, name, *listen)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
}

// get prints one line per request: the answer's first line, or "failed: <reason>". It exits
// 0 once every request was made; the caller judges the answers.
func get(args []string) {
	flags := flag.NewFlagSet("get", flag.ExitOnError)
	count := flags.Int("n", 20, "number of requests")
	timeout := flags.Duration("timeout", 5*time.Second, "timeout of one request")
	interval := flags.Duration("interval", 200*time.Millisecond, "pause between requests")
	_ = flags.Parse(args)
	if flags.NArg() != 1 || *count < 1 {
		usage()
	}
	url := flags.Arg(0)
	// A new connection per request, so the Service balances each one.
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < *count; i++ {
		if i > 0 {
			time.Sleep(*interval)
		}
		fmt.Println(fetch(client, url))
	}
}

func fetch(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return "failed: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "failed: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("failed: HTTP %d", resp.StatusCode)
	}
	line, _, _ := strings.Cut(string(body), "\n")
	return strings.TrimSpace(line)
}
