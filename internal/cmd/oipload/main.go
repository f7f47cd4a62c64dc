package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "the server (loopback)")
	model := flag.String("model", "m", "the model name")
	conns := flag.Int("c", 64, "concurrent clients, one connection each")
	dur := flag.Duration("d", 10*time.Second, "how long")
	bodyFile := flag.String("body", "", "the JSON infer request")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("-addr %s: a loopback address only", *addr)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	url := "http://" + *addr + "/v2/models/" + *model + "/infer"
	var mu sync.Mutex
	var lat []time.Duration
	failures := map[string]int{}
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: time.Minute}
			var mine []time.Duration
			for time.Now().Before(deadline) {
				start := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					failures[kindOf(err)]++
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		log.Fatalf("no request answered: %v", failures)
	}
	pct := func(p int) float64 { return float64(lat[len(lat)*p/100].Microseconds()) / 1000 }
	fmt.Printf("%d requests, %.0f/s, latency p50 %.2f ms, p99 %.2f ms, failures %v\n",
		len(lat), float64(len(lat))/dur.Seconds(), pct(50), pct(99), failures)
}

// kindOf names an error without its addresses, so that failures group.
func kindOf(err error) string {
	var ne net.Error
	switch msg := err.Error(); {
	case strings.Contains(msg, "connection reset"):
		return "connection reset"
	case strings.Contains(msg, "EOF"):
		return "EOF"
	case strings.Contains(msg, "connection refused"):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return msg
	}
}
