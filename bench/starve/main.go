// Command starve measures how point reads fare while one client floods
// Gatehouse with expensive searches (docs/benchmarks.md, "Expensive
// queries"): conc goroutines send, back to back, a list query with a
// terms-term `emails.value ew` filter, count=1000 and sortBy=displayName,
// while one goroutine reads users by id (GET /Users/{id}, ids from a file)
// one after another. It prints one JSON line: the point reads' latency
// percentiles and the expensive requests' outcomes by status.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	var (
		base     = flag.String("url", "http://127.0.0.1:18080/scim/v2", "SCIM base URL")
		tokFile  = flag.String("token", "bench/out/token.txt", "file holding the bearer token")
		idsFile  = flag.String("ids", "bench/out/ids.txt", "file of user ids, one a line")
		conc     = flag.Int("conc", 32, "concurrent expensive requests")
		terms    = flag.Int("terms", 100, "emails.value ew terms in the expensive filter")
		duration = flag.Duration("duration", 20*time.Second, "how long to measure")
		backoff  = flag.Duration("backoff", time.Second, "pause after a refused expensive request (0: none, a client that ignores Retry-After)")
	)
	flag.Parse()
	tok, err := os.ReadFile(*tokFile)
	if err != nil {
		log.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	ids, err := readLines(*idsFile)
	if err != nil {
		log.Fatal(err)
	}
	parts := make([]string, *terms)
	for i := range parts {
		parts[i] = fmt.Sprintf(`emails.value ew "@nowhere-%d.example"`, i)
	}
	q := url.Values{"filter": {strings.Join(parts, " or ")}, "count": {"1000"}, "sortBy": {"displayName"}}
	expensive := *base + "/Users?" + q.Encode()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc + 4}, Timeout: 5 * time.Minute}
	do := func(u string) (int, time.Duration, error) {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, time.Since(t0), err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(t0), nil
	}

	stop := time.Now().Add(*duration)
	var mu sync.Mutex
	statuses := map[string]int{}
	var expLat []time.Duration
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for time.Now().Before(stop) {
				code, d, err := do(expensive)
				mu.Lock()
				if err != nil {
					statuses["error"]++
				} else {
					statuses[fmt.Sprint(code)]++
					if code == http.StatusOK {
						expLat = append(expLat, d)
					}
				}
				mu.Unlock()
				if code != http.StatusOK {
					// By default a refused client waits as told (Retry-After
					// is 1 s).
					time.Sleep(*backoff)
				}
			}
		})
	}
	var point []time.Duration
	pointErrors := 0
	wg.Go(func() {
		// Let the flood start first.
		time.Sleep(500 * time.Millisecond)
		for time.Now().Before(stop) {
			code, d, err := do(*base + "/Users/" + ids[rand.IntN(len(ids))])
			if err != nil || code != http.StatusOK {
				pointErrors++
				continue
			}
			point = append(point, d)
		}
	})
	wg.Wait()
	out := map[string]any{
		"conc": *conc, "terms": *terms, "duration_s": duration.Seconds(), "backoff_s": backoff.Seconds(),
		"point_reads": len(point), "point_errors": pointErrors,
		"point_p50_ms": pct(point, 50), "point_p99_ms": pct(point, 99), "point_max_ms": pct(point, 100),
		"expensive": statuses, "expensive_ok_p50_ms": pct(expLat, 50), "expensive_ok_max_ms": pct(expLat, 100),
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return float64(s[max(i, 0)].Microseconds()) / 1000
}

func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
