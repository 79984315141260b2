package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// Authenticator checks a request's credential.
type Authenticator interface {
	Authenticate(ctx context.Context, header, client string) (*auth.Principal, error)
}

// Receiver serves POST /events: events from outside (Alibaba Cloud
// EventBridge as an HTTP target, IDaaS change callbacks, any CloudEvents
// producer), for a credential with the events:write scope.
type Receiver struct {
	// Source is the CloudEvents source of Gatehouse's own events
	// (Builder.Source): a received event that claims it, in any spelling
	// (SameSource), is refused.
	Source     string
	Store      Store
	Auth       Authenticator
	ClientAddr func(*http.Request) string
	Poke       func()
	// Received, when set, is told how many events each request brought
	// (new ones and duplicates).
	Received func(accepted, duplicates int)
	// Unavailable reports whether an error means that the database cannot
	// be used for now: answered 503 with Retry-After, not 500.
	Unavailable func(error) bool
	Log         *slog.Logger
	Now         func() time.Time
}

// UnavailableRetryAfter is the Retry-After of a 503 for an unavailable
// database (seconds).
const UnavailableRetryAfter = "5"

// serverFault answers an error that is not the caller's: 503 with
// Retry-After when the database cannot be used for now, else 500.
func (rc *Receiver) serverFault(w http.ResponseWriter, r *http.Request, log *slog.Logger, what string, err error) {
	if logging.ClientGone(r, err) {
		// The client went away: not a server fault (docs/operations.md).
		logging.AnswerClientGone(w, r)
		return
	}
	err = logging.Stopped(r, err)
	if errors.Is(err, logging.ErrStopping) {
		// Not a fault: the stopping server logs the requests it stops.
		w.Header().Set("Retry-After", UnavailableRetryAfter)
		writeError(w, r, http.StatusServiceUnavailable, "the server is stopping; retry later")
		return
	}
	log.ErrorContext(r.Context(), what, "err", err)
	if rc.Unavailable != nil && rc.Unavailable(err) {
		w.Header().Set("Retry-After", UnavailableRetryAfter)
		writeError(w, r, http.StatusServiceUnavailable, "the database is unavailable; retry later")
		return
	}
	writeError(w, r, http.StatusInternalServerError, "internal error (request id in X-Request-Id)")
}

type ingestReply struct {
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	IDs        []string `json:"ids"`
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, r, http.StatusMethodNotAllowed, "POST events here")
		return
	}
	log := rc.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := ""
	if rc.ClientAddr != nil {
		client = rc.ClientAddr(r)
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		client = host
	}
	header := auth.Authorization(r)
	p, err := rc.Auth.Authenticate(r.Context(), header, client)
	if err != nil {
		var te *auth.ThrottledError
		switch {
		case errors.As(err, &te):
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(te.RetryAfter.Seconds())))))
			writeError(w, r, http.StatusTooManyRequests, "too many failed authentications; retry later")
		case errors.Is(err, auth.ErrUnauthenticated):
			challenge := `Bearer realm="gatehouse"`
			if header != "" {
				challenge += `, error="invalid_token"` // RFC 6750, section 3.1
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeError(w, r, http.StatusUnauthorized, "a bearer token with the events:write scope is required")
		default:
			// The check itself failed (the database): not the caller's fault.
			rc.serverFault(w, r, log, "authenticate", err)
		}
		return
	}
	logging.SetCaller(r.Context(), p.App.ID)
	if !p.Scopes.Has(auth.ScopeEventsWrite) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="insufficient_scope", scope="events:write"`)
		writeError(w, r, http.StatusForbidden, "the credential does not have the events:write scope")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxIngestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, "the body is larger than 2 MiB")
		} else if serr := logging.Stopping(r); serr != nil {
			rc.serverFault(w, r, log, "read events", serr) // the server stopped the request: 503
		} else {
			writeError(w, r, http.StatusBadRequest, "the body could not be read")
		}
		return
	}
	now := time.Now().UTC()
	if rc.Now != nil {
		now = rc.Now().UTC()
	}
	evs, err := ParseRequest(r, body, now)
	if err != nil {
		var ie *IngestError
		if errors.As(err, &ie) {
			writeError(w, r, ie.Status, ie.Msg)
			return
		}
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	for i, e := range evs {
		if SameSource(e.Source, rc.Source) {
			msg := fmt.Sprintf("source %q is this hub's own (events.source %q): events received over HTTP cannot pass for Gatehouse's own; give the sender's own source", e.Source, rc.Source)
			if e.Source == IDaaSSource {
				msg = fmt.Sprintf("IDaaS callbacks are given the source %q, which is this hub's own (events.source): events received over HTTP cannot pass for Gatehouse's own; set events.source to another value to receive IDaaS callbacks", IDaaSSource)
			}
			if len(evs) > 1 {
				msg = fmt.Sprintf("event %d: %s", i, msg)
			}
			writeError(w, r, http.StatusBadRequest, msg)
			return
		}
	}
	fresh, err := rc.Store.AppendExternal(r.Context(), evs, p.Actor(logging.RequestID(r.Context())))
	if err != nil {
		rc.serverFault(w, r, log, "store received events", err)
		return
	}
	rep := ingestReply{IDs: make([]string, 0, len(evs))}
	for i, e := range evs {
		rep.IDs = append(rep.IDs, e.ID)
		if fresh[i] {
			rep.Accepted++
		} else {
			rep.Duplicates++
		}
	}
	if rep.Accepted > 0 && rc.Poke != nil {
		rc.Poke()
	}
	if rc.Received != nil {
		rc.Received(rep.Accepted, rep.Duplicates)
	}
	// Stored durably: 202, the events are delivered asynchronously.
	b, _ := json.Marshal(rep)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	logging.SetFailure(r.Context(), strconv.Itoa(status))
	b, _ := json.Marshal(map[string]any{"status": status, "error": http.StatusText(status), "detail": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
