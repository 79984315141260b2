// Command walk pages through every user of a running Gatehouse, as Okta's
// import does (startIndex += count), or with RFC 9865 cursors, and reports
// how long each tenth of the walk took: a walk that is linear in the number
// of users takes the same time for every tenth.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

type listResponse struct {
	TotalResults int               `json:"totalResults"`
	ItemsPerPage int               `json:"itemsPerPage"`
	NextCursor   string            `json:"nextCursor"`
	Resources    []json.RawMessage `json:"Resources"`
}

func main() {
	base := flag.String("base", "http://127.0.0.1:8080/scim/v2", "SCIM base URL")
	count := flag.Int("count", 100, "page size")
	mode := flag.String("mode", "index", "index (startIndex/count) or cursor (RFC 9865)")
	tokenFile := flag.String("token-file", "bench/out/token.txt", "file holding the bearer token")
	flag.Parse()
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		log.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(q url.Values) listResponse {
		req, _ := http.NewRequest("GET", *base+"/Users?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			log.Fatalf("%d: %s", resp.StatusCode, b)
		}
		var lr listResponse
		if err := json.Unmarshal(b, &lr); err != nil {
			log.Fatal(err)
		}
		return lr
	}
	start := time.Now()
	seen, pages, total := 0, 0, -1
	var marks []time.Duration
	next := 0.1
	cursor := ""
	for {
		q := url.Values{"count": {fmt.Sprint(*count)}}
		if *mode == "cursor" {
			q.Set("cursor", cursor)
		} else {
			q.Set("startIndex", fmt.Sprint(seen+1))
		}
		lr := get(q)
		if total < 0 {
			total = lr.TotalResults
		}
		pages++
		seen += len(lr.Resources)
		for total > 0 && float64(seen)/float64(total) >= next && next <= 1.0001 {
			marks = append(marks, time.Since(start))
			next += 0.1
		}
		if *mode == "cursor" {
			if lr.NextCursor == "" {
				break
			}
			cursor = lr.NextCursor
		} else if len(lr.Resources) == 0 || seen >= total {
			break
		}
	}
	elapsed := time.Since(start)
	var tenths []float64
	prev := time.Duration(0)
	for _, m := range marks {
		tenths = append(tenths, (m - prev).Seconds())
		prev = m
	}
	out, _ := json.Marshal(map[string]any{
		"mode": *mode, "users": seen, "total": total, "pages": pages, "seconds": elapsed.Seconds(),
		"users_per_second": float64(seen) / elapsed.Seconds(), "seconds_per_tenth": tenths,
	})
	fmt.Println(string(out))
}
