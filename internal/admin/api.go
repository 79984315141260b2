package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/httpbody"
	"github.com/gatehouse-id/gatehouse/internal/httpquery"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/strictjson"
)

// OpenAPI is the API's OpenAPI 3.1 description, served at
// /admin/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Prefix is where the API is served.
const Prefix = "/admin/v1"

// MaxBody bounds request bodies (bytes); larger ones are answered 413.
const MaxBody = 1 << 20

// Authenticator checks the Authorization header of a request from client.
type Authenticator interface {
	Authenticate(ctx context.Context, header, client string) (*auth.Principal, error)
}

// API serves /admin/v1.
type API struct {
	ops        *Ops
	authn      Authenticator
	log        *slog.Logger
	clientAddr func(*http.Request) string
	mux        *http.ServeMux
	routes     []string
	// Unavailable reports whether an error means that the database is
	// unavailable (answered 503 with Retry-After); nil: never.
	Unavailable func(error) bool
}

// NewAPI returns the admin API. clientAddr returns a request's client
// address (for throttling failed authentication).
func NewAPI(ops *Ops, authn Authenticator, clientAddr func(*http.Request) string, log *slog.Logger) *API {
	a := &API{ops: ops, authn: authn, log: log, clientAddr: clientAddr, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET "+Prefix+"/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	})
	a.handle("GET /apps", a.listApps)
	a.handle("POST /apps", a.createApp)
	a.handle("GET /apps/{app}", a.getApp)
	a.handle("PATCH /apps/{app}", a.updateApp)
	a.handle("DELETE /apps/{app}", a.deleteApp)
	a.handle("GET /apps/{app}/tokens", a.listTokens)
	a.handle("POST /apps/{app}/tokens", a.createToken)
	a.handle("GET /apps/{app}/tokens/{id}", a.getToken)
	a.handle("PATCH /apps/{app}/tokens/{id}", a.updateToken)
	a.handle("DELETE /apps/{app}/tokens/{id}", a.deleteToken)
	a.handle("GET /apps/{app}/secrets", a.listSecrets)
	a.handle("POST /apps/{app}/secrets", a.createSecret)
	a.handle("PATCH /apps/{app}/secrets/{id}", a.updateSecret)
	a.handle("DELETE /apps/{app}/secrets/{id}", a.deleteSecret)
	a.handle("GET /orgs", a.listOrgs)
	a.handle("POST /orgs", a.createOrg)
	a.handle("GET /orgs/{id}", a.getOrg)
	a.handle("PATCH /orgs/{id}", a.updateOrg)
	a.handle("DELETE /orgs/{id}", a.deleteOrg)
	a.handle("GET /audit", a.listAudit)
	a.handle("POST /audit/verify", a.verifyAudit)
	a.handle("GET /keys", a.listKeys)
	a.handle("POST /keys/rotate", a.rotateKey)
	a.oidcRoutes()
	a.eventRoutes()
	a.directoryRoutes()
	a.journeyRoutes()
	a.samlRoutes()
	a.loginRoutes()
	a.docsRoutes()
	a.factorRoutes()
	return a
}

// Routes lists the authenticated routes ("GET /apps/{app}"), for the test
// that keeps the OpenAPI document complete.
func (a *API) Routes() []string { return a.routes }

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern == "" {
		// The router's own 404 and 405, as problem documents.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeProblem(w, r, &problem{Status: http.StatusMethodNotAllowed, Title: "Method not allowed", Detail: r.Method + " is not allowed here"})
			return
		}
		writeProblem(w, r, &problem{Status: http.StatusNotFound, Title: "Not found", Detail: "no such admin endpoint: " + r.URL.Path})
		return
	}
	if err := httpquery.Check(r.URL.RawQuery); err != nil {
		writeProblem(w, r, &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "the query string is malformed: " + err.Error()})
		return
	}
	a.mux.ServeHTTP(w, r)
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

type handlerFunc func(r *http.Request, actor directory.Actor) (status int, body any, err error)

// handle registers an authenticated route: a credential with the admin
// scope is required.
func (a *API) handle(pattern string, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	a.routes = append(a.routes, pattern)
	a.mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authn.Authenticate(r.Context(), auth.Authorization(r), a.clientAddr(r))
		if err != nil {
			if logging.ClientGone(r, err) {
				logging.AnswerClientGone(w, r)
				return
			}
			writeProblem(w, r, authProblem(a.classify(logging.Stopped(r, err)), r.Header.Get("Authorization") != ""))
			return
		}
		logging.SetCaller(r.Context(), p.App.ID)
		if !p.Scopes.Has(auth.ScopeAdmin) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="insufficient_scope", scope="admin"`)
			writeProblem(w, r, &problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: "the credential does not have the admin scope"})
			return
		}
		// The body is read here, once: one limit, and a 413 the client can
		// read, for every route.
		raw, err := httpbody.Read(w, r, MaxBody)
		if err != nil {
			var tl *httpbody.TooLargeError
			if errors.As(err, &tl) {
				writeProblem(w, r, &problem{Status: http.StatusRequestEntityTooLarge, Title: "Request body too large",
					Detail: "the request body exceeds " + strconv.Itoa(MaxBody) + " bytes"})
				return
			}
			if serr := logging.Stopping(r); serr != nil {
				writeProblem(w, r, asProblem(a.classify(serr))) // the server stopped the request: 503
				return
			}
			writeProblem(w, r, &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "could not read the request body"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		status, body, err := h(r, p.Actor(logging.RequestID(r.Context())))
		if err != nil && logging.ClientGone(r, err) {
			logging.AnswerClientGone(w, r)
			return
		}
		if err != nil {
			err = logging.Stopped(r, err)
			pr := asProblem(a.classify(err))
			if logging.ServerFault(pr.Status) && !errors.Is(err, logging.ErrStopping) {
				a.log.ErrorContext(r.Context(), "admin request failed", "err", err)
			}
			writeProblem(w, r, pr)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// classify makes an error that means the database is unavailable a
// directory.ErrUnavailable.
func (a *API) classify(err error) error {
	if errors.Is(err, logging.ErrStopping) && !errors.Is(err, directory.ErrUnavailable) {
		return &directory.Error{Kind: directory.ErrUnavailable, Op: "serve", Msg: "the server is stopping; retry later", Err: err}
	}
	if a.Unavailable == nil || errors.Is(err, directory.ErrUnavailable) || !a.Unavailable(err) {
		return err
	}
	return &directory.Error{Kind: directory.ErrUnavailable, Op: "database", Msg: "the database is unavailable; retry later", Err: err}
}

// jsonKind names, in JSON's terms, what a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// jsonArticle names a JSON value kind as the decoder reports it ("string",
// "number", "number 1.5", "bool", "array", "object").
func jsonArticle(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "string", "number", "array", "object":
		return map[string]string{"string": "a string", "number": "a number", "array": "an array", "object": "an object"}[kind]
	case "bool":
		return "true or false"
	}
	return v
}

// ---- problems (RFC 9457)

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	header http.Header
}

func (p *problem) Error() string { return strconv.Itoa(p.Status) + " " + p.Title + ": " + p.Detail }

func authProblem(err error, presented bool) *problem {
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		secs := int(math.Ceil(te.RetryAfter.Seconds()))
		return &problem{Status: http.StatusTooManyRequests, Title: "Too many requests", Detail: "too many failed authentications; retry later",
			header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}
	}
	if errors.Is(err, auth.ErrUnauthenticated) {
		challenge := `Bearer realm="gatehouse"`
		detail := "an admin bearer token is required (Authorization: Bearer <token>)"
		if presented {
			challenge += `, error="invalid_token"`
			detail = "the bearer token is invalid, expired or disabled"
		}
		return &problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: detail, header: http.Header{"Www-Authenticate": {challenge}}}
	}
	return asProblem(err)
}

func asProblem(err error) *problem {
	var pr *problem
	if errors.As(err, &pr) {
		return pr
	}
	msg, field := directory.Message(err), directory.Field(err)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return &problem{Status: http.StatusNotFound, Title: "Not found", Detail: msg, Field: field}
	case errors.Is(err, directory.ErrConflict), errors.Is(err, directory.ErrInUse):
		return &problem{Status: http.StatusConflict, Title: "Conflict", Detail: msg, Field: field}
	case errors.Is(err, directory.ErrInvalid), errors.Is(err, directory.ErrMutability):
		return &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: msg, Field: field}
	case errors.Is(err, directory.ErrBusy):
		return &problem{Status: http.StatusServiceUnavailable, Title: "Busy", Detail: msg, header: http.Header{"Retry-After": {"1"}}}
	case errors.Is(err, directory.ErrUnavailable):
		return &problem{Status: http.StatusServiceUnavailable, Title: "Service unavailable", Detail: msg, header: http.Header{"Retry-After": {"5"}}}
	}
	return &problem{Status: http.StatusInternalServerError, Title: "Internal error", Detail: "internal error; the server log has details (request id in X-Request-Id)"}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	for k, v := range p.header {
		w.Header()[k] = v
	}
	logging.SetFailure(r.Context(), strconv.Itoa(p.Status))
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Responses may carry a new credential (shown once): never cache.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decode reads a JSON body into v, refusing unknown fields and trailing
// data, and what encoding/json would silently alter: invalid UTF-8 and
// unpaired surrogates (decoded as U+FFFD), \u0000, a member given twice
// (the last one would win), and two names of one object that differ only
// in case but both match one field (encoding/json matches field names
// case-insensitively: {"name": "a", "NAME": "b"} would set Name to "b").
// Inside free-form values (rule patterns, payloads) names are
// case-sensitive: there only exact duplicates are refused.
func decode(r *http.Request, v any) error {
	if mt := r.Header.Get("Content-Type"); mt != "" && !strings.HasPrefix(mt, "application/json") && !strings.HasPrefix(mt, "application/merge-patch+json") {
		return &problem{Status: http.StatusUnsupportedMediaType, Title: "Unsupported media type", Detail: "send application/json"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "the body could not be read"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "a JSON body is required"}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Say what the field wants in JSON's terms, not Go's (the
			// decoder's message names Go's types and struct fields).
			field := te.Field
			if i := strings.LastIndexByte(field, '.'); i >= 0 {
				field = field[i+1:]
			}
			return &problem{Status: http.StatusBadRequest, Title: "Invalid value", Field: field,
				Detail: fmt.Sprintf("%s must be %s, not %s", cmpOr(te.Field, "the body"), jsonKind(te.Type), jsonArticle(te.Value))}
		}
		return &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "the body is not valid JSON for this request: " + err.Error()}
	}
	if dec.More() {
		return &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "unexpected data after the JSON body"}
	}
	if err := strictjson.Check(body, strictjson.Options{}); err != nil {
		return &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: "the body is refused: " + err.Error()}
	}
	var raw any
	if err := json.Unmarshal(body, &raw); err == nil {
		if a, b, field := sameField(raw, reflect.TypeOf(v)); field != "" {
			return &problem{Status: http.StatusBadRequest, Title: "Invalid request", Field: field,
				Detail: fmt.Sprintf("the body is refused: %q and %q both name the field %q (names are matched ignoring case)", a, b, field)}
		}
	}
	return nil
}

// sameField finds two names of one object in v that encoding/json would
// both decode into the same field of a struct of type t (or of the structs
// t holds), and returns them and the field's JSON name.
func sameField(v any, t reflect.Type) (first, second, field string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return "", "", ""
		}
		fields := jsonFields(t)
		given := map[int]string{} // field → the name it was given as
		for _, k := range slices.Sorted(maps.Keys(m)) {
			i := slices.IndexFunc(fields, func(f jsonField) bool { return strings.EqualFold(f.name, k) })
			if i < 0 {
				continue // unknown: DisallowUnknownFields has refused it
			}
			if prev, ok := given[i]; ok {
				return prev, k, fields[i].name
			}
			given[i] = k
			if a, b, f := sameField(m[k], fields[i].typ); f != "" {
				return a, b, f
			}
		}
	case reflect.Slice, reflect.Array:
		l, _ := v.([]any)
		for _, el := range l {
			if a, b, f := sameField(el, t.Elem()); f != "" {
				return a, b, f
			}
		}
	}
	return "", "", ""
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the fields encoding/json decodes into a struct of type
// t, with the fields of embedded structs.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type})
	}
	return out
}

type list[T any] struct {
	Items []T `json:"items"`
}

// MarshalJSON writes an empty list as [], never null.
func (l list[T]) MarshalJSON() ([]byte, error) {
	items := l.Items
	if items == nil {
		items = []T{}
	}
	return json.Marshal(struct {
		Items []T `json:"items"`
	}{items})
}

// Items is a list as the API answers it: {"items": […]}. The command line
// prints its lists with it, so that --json is the API's shape.
func Items[T any](items []T) any { return list[T]{items} }

// ---- applications

func (a *API) listApps(r *http.Request, _ directory.Actor) (int, any, error) {
	apps, err := a.ops.ListApps(r.Context())
	return http.StatusOK, list[*App]{apps}, err
}

func (a *API) createApp(r *http.Request, actor directory.Actor) (int, any, error) {
	var in AppInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	app, err := a.ops.CreateApp(r.Context(), actor, in)
	return http.StatusCreated, app, err
}

func (a *API) getApp(r *http.Request, _ directory.Actor) (int, any, error) {
	app, err := a.ops.GetApp(r.Context(), r.PathValue("app"))
	return http.StatusOK, app, err
}

func (a *API) updateApp(r *http.Request, actor directory.Actor) (int, any, error) {
	var p AppPatch
	if err := decode(r, &p); err != nil {
		return 0, nil, err
	}
	app, err := a.ops.UpdateApp(r.Context(), actor, r.PathValue("app"), p)
	return http.StatusOK, app, err
}

func (a *API) deleteApp(r *http.Request, actor directory.Actor) (int, any, error) {
	// Exactly true or false: strconv.ParseBool would also take 1, t, T,
	// TRUE and True, and a client sending force=yes deserves the same
	// answer as one sending force=1.
	var force bool
	if q := r.URL.Query(); q.Has("force") {
		switch q.Get("force") {
		case "true":
			force = true
		case "false":
		default:
			return 0, nil, &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: "force must be true or false", Field: "force"}
		}
	}
	_, err := a.ops.DeleteApp(r.Context(), actor, r.PathValue("app"), force)
	if directory.Field(err) == "force" {
		return 0, nil, &problem{Status: http.StatusConflict, Title: "Conflict", Field: "force",
			Detail: directory.Message(err) + `; disable the application first (PATCH {"enabled": false}), or delete it with ?force=true`}
	}
	return http.StatusNoContent, nil, err
}

// ---- tokens

type tokenInput struct {
	// Validity: "90d", "1y", "36h" (default one year).
	Validity string `json:"validity,omitempty"`
}

type enabledInput struct {
	Enabled *bool `json:"enabled"`
}

func (e enabledInput) value() (bool, error) {
	if e.Enabled == nil {
		return false, &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: `give {"enabled": true} or {"enabled": false}`, Field: "enabled"}
	}
	return *e.Enabled, nil
}

func (a *API) listTokens(r *http.Request, _ directory.Actor) (int, any, error) {
	toks, err := a.ops.ListTokens(r.Context(), r.PathValue("app"))
	return http.StatusOK, list[Token]{toks}, err
}

func (a *API) createToken(r *http.Request, actor directory.Actor) (int, any, error) {
	var in tokenInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
	}
	t, err := a.ops.CreateToken(r.Context(), actor, r.PathValue("app"), in.Validity)
	return http.StatusCreated, t, err
}

func (a *API) getToken(r *http.Request, _ directory.Actor) (int, any, error) {
	t, err := a.ops.GetToken(r.Context(), r.PathValue("app"), r.PathValue("id"))
	return http.StatusOK, t, err
}

func (a *API) updateToken(r *http.Request, actor directory.Actor) (int, any, error) {
	var in enabledInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	enabled, err := in.value()
	if err != nil {
		return 0, nil, err
	}
	t, err := a.ops.SetTokenEnabled(r.Context(), actor, r.PathValue("app"), r.PathValue("id"), enabled)
	return http.StatusOK, t, err
}

func (a *API) deleteToken(r *http.Request, actor directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.DeleteToken(r.Context(), actor, r.PathValue("app"), r.PathValue("id"))
}

// ---- secrets

func (a *API) listSecrets(r *http.Request, _ directory.Actor) (int, any, error) {
	secs, err := a.ops.ListSecrets(r.Context(), r.PathValue("app"))
	return http.StatusOK, list[Secret]{secs}, err
}

func (a *API) createSecret(r *http.Request, actor directory.Actor) (int, any, error) {
	s, err := a.ops.CreateSecret(r.Context(), actor, r.PathValue("app"))
	return http.StatusCreated, s, err
}

func (a *API) updateSecret(r *http.Request, actor directory.Actor) (int, any, error) {
	var in enabledInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	enabled, err := in.value()
	if err != nil {
		return 0, nil, err
	}
	s, err := a.ops.SetSecretEnabled(r.Context(), actor, r.PathValue("app"), r.PathValue("id"), enabled)
	return http.StatusOK, s, err
}

func (a *API) deleteSecret(r *http.Request, actor directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.DeleteSecret(r.Context(), actor, r.PathValue("app"), r.PathValue("id"))
}

// ---- organizations

func (a *API) listOrgs(r *http.Request, _ directory.Actor) (int, any, error) {
	orgs, err := a.ops.Dir.Orgs(r.Context())
	if orgs == nil {
		orgs = []*directory.Organization{}
	}
	return http.StatusOK, list[*directory.Organization]{orgs}, err
}

func (a *API) createOrg(r *http.Request, actor directory.Actor) (int, any, error) {
	var in OrgInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	o, err := a.ops.CreateOrg(r.Context(), actor, in)
	return http.StatusCreated, o, err
}

func (a *API) getOrg(r *http.Request, _ directory.Actor) (int, any, error) {
	o, err := a.ops.Dir.Org(r.Context(), r.PathValue("id"))
	return http.StatusOK, o, err
}

func (a *API) updateOrg(r *http.Request, actor directory.Actor) (int, any, error) {
	var p OrgPatch
	if err := decode(r, &p); err != nil {
		return 0, nil, err
	}
	o, err := a.ops.UpdateOrg(r.Context(), actor, r.PathValue("id"), p)
	return http.StatusOK, o, err
}

func (a *API) deleteOrg(r *http.Request, actor directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.Dir.DeleteOrg(r.Context(), actor, r.PathValue("id"))
}

// ---- audit

type auditPage struct {
	Items []*directory.AuditEntry `json:"items"`
	// Next is the "before" value that continues the listing (absent at
	// the end).
	Next int64 `json:"next,omitempty"`
}

// AuditPage is a page of the audit log as GET /audit answers it.
func AuditPage(entries []*directory.AuditEntry, next int64) any {
	if entries == nil {
		entries = []*directory.AuditEntry{}
	}
	return auditPage{Items: entries, Next: next}
}

func (a *API) listAudit(r *http.Request, _ directory.Actor) (int, any, error) {
	q := r.URL.Query()
	f := AuditFilter{Actor: q.Get("actor"), Resource: q.Get("resource"), Action: q.Get("action"), Since: q.Get("since"), Until: q.Get("until")}
	for _, p := range []struct {
		name string
		dst  any
	}{{"before", &f.Before}, {"limit", &f.Limit}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, nil, &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: p.name + " must be a non-negative integer", Field: p.name}
		}
		switch d := p.dst.(type) {
		case *int64:
			*d = n
		case *int:
			*d = int(min(n, math.MaxInt32))
		}
	}
	entries, next, err := a.ops.Audit(r.Context(), f)
	return http.StatusOK, AuditPage(entries, next), err
}

func (a *API) verifyAudit(r *http.Request, _ directory.Actor) (int, any, error) {
	var in VerifyInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
	}
	rep, err := a.ops.VerifyAudit(r.Context(), in)
	return http.StatusOK, rep, err
}

// ---- keys

func (a *API) listKeys(r *http.Request, _ directory.Actor) (int, any, error) {
	keys, err := a.ops.Keys(r.Context())
	return http.StatusOK, list[Key]{keys}, err
}

func (a *API) rotateKey(r *http.Request, actor directory.Actor) (int, any, error) {
	keys, err := a.ops.RotateKey(r.Context(), actor)
	return http.StatusCreated, list[Key]{keys}, err
}
