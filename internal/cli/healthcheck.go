package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// version prints the build: version, commit, build date.
func (e *env) version(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "version", about: "Print the version, commit and build date stamped at build time."})
	asJSON := fs.Bool("json", false, "print the build information as JSON")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("version takes no arguments")
	}
	b := gatehouse.Build()
	if *asJSON {
		return printJSON(e.stdout, b)
	}
	_, err = fmt.Fprintln(e.stdout, b.String())
	return err
}

// healthcheck asks a running server whether it is ready (GET /readyz) and
// exits 0 if it answers 200, 1 otherwise. It is the container's
// HEALTHCHECK: a static image has no curl. Without --url it asks the
// server of the configuration it reads (--config, GATEHOUSE_LISTEN,
// GATEHOUSE_TLS_CERT…) on its listen address, loopback for an unspecified
// host. It sends no credentials.
func (e *env) healthcheck(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "healthcheck", about: "Ask a running server whether it is ready (GET /readyz): exit 0 on 200, 1 otherwise.\nThe container image's HEALTHCHECK; it sends no credentials."})
	var f config.Flags
	fs.StringVar(&f.Config, "config", "", "configuration file (YAML), for the listen address and TLS; env GATEHOUSE_CONFIG")
	rawURL := fs.String("url", "", "URL to ask instead (default: /readyz on the configured listen address; a URL without a path means its /readyz)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("healthcheck takes no arguments (use --url)")
	}
	if *timeout <= 0 || *timeout > time.Minute {
		return usagef("--timeout: must be positive and at most 1m")
	}
	target := *rawURL
	if target == "" {
		cfg, err := config.Load(f, e.getenv)
		if err != nil {
			return err
		}
		target, err = readyURL(cfg.Listen, cfg.TLS.CertFile != "")
		if err != nil {
			return err
		}
	} else {
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--url: %q is not an absolute http(s) URL", target)
		}
		if u.Path == "" || u.Path == "/" {
			// The server's address alone: ask it whether it is ready, not
			// for its home page.
			u.Path = "/readyz"
			target = u.String()
		}
	}
	status, err := probe(e.ctx, target, *timeout)
	if err != nil {
		fmt.Fprintf(e.stderr, "gatehouse: not ready: %v\n", err)
		return exitError{1}
	}
	fmt.Fprintf(e.stdout, "ready: %s answered %s\n", target, status)
	return nil
}

// readyURL is /readyz on the address the server listens on: loopback for
// an unspecified host ("0.0.0.0:8080", ":8080", "[::]:8080").
func readyURL(listen string, tlsOn bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen: %q is not host:port", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probe GETs target once, without following redirects, and wants a 200.
func probe(ctx context.Context, target string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Transport: &http.Transport{
			Proxy: nil, // a health check asks this host, never a proxy from the environment
			// The server's certificate names its public host, not the
			// loopback address asked here; nothing secret is sent, and the
			// answer only says whether to restart.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "gatehouse-healthcheck/"+gatehouse.Version)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if msg != "" {
			msg = ": " + msg
		}
		return "", fmt.Errorf("GET %s: %s%s", target, resp.Status, msg)
	}
	return resp.Status, nil
}
