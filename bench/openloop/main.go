// Command openloop POSTs new users at a fixed rate (open loop: each request
// starts on schedule whether or not earlier ones have finished, as an IdP
// pushing a burst of hires would) to one or more Gatehouse servers in turn,
// and prints one JSON line: the rate offered and achieved, failures, and the
// latency quantiles. With a closed-loop tool (wrk) a slow server slows the
// load down; here it shows as latency.
//
//	go run ./bench/openloop -urls http://127.0.0.1:18080 -token-file bench/out/postgres-1000000/token.txt -rate 1500 -duration 30s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	urls := flag.String("urls", "http://127.0.0.1:18080", "comma-separated base URLs of the servers, used in turn")
	tokenFile := flag.String("token-file", "", "file holding the SCIM bearer token")
	rate := flag.Int("rate", 1500, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	prefix := flag.String("prefix", fmt.Sprint(time.Now().UnixNano()), "user name prefix (unique per run)")
	flag.Parse()
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	token := strings.TrimSpace(string(tok))
	bases := strings.Split(*urls, ",")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}}
	n := int(duration.Seconds() * float64(*rate))
	interval := time.Second / time.Duration(*rate)
	lat := make([]time.Duration, n)
	var failed, late atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		} else if d < -10*time.Millisecond {
			late.Add(1) // the generator itself fell behind
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("open-%s-%d@example.com", *prefix, i)
			body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name +
				`","displayName":"New Hire","name":{"givenName":"New","familyName":"Hire"},"emails":[{"value":"` + name +
				`","type":"work","primary":true}],"active":true}`
			req, _ := http.NewRequest("POST", bases[i%len(bases)]+"/scim/v2/Users", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/scim+json")
			sent := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				failed.Add(1)
				return
			}
			lat[i] = time.Since(sent)
		}()
	}
	sendSpan := time.Since(start)
	wg.Wait()
	span := time.Since(start) // until the last answer
	var ok []time.Duration
	for _, d := range lat {
		if d > 0 {
			ok = append(ok, d)
		}
	}
	slices.Sort(ok)
	q := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return float64(ok[min(len(ok)-1, int(p*float64(len(ok))))].Microseconds()) / 1000
	}
	out, _ := json.Marshal(map[string]any{
		"scenario": "post_open_loop", "servers": len(bases), "rate": *rate, "requests": n, "failed": failed.Load(),
		"generator_late": late.Load(), "send_seconds": sendSpan.Seconds(),
		// Answered requests over the time until the last answer: below
		// the rate offered when the server falls behind.
		"achieved_rate": float64(len(ok)) / span.Seconds(),
		"p50_ms":        q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": q(1),
	})
	fmt.Println(string(out))
}
