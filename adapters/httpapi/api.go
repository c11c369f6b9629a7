package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// Commands decides and appends commands: *handler.Handler.
type Commands interface {
	Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error)
}

// Authenticator verifies a bearer token (the token store). Errors:
// tokens.ErrMalformed and tokens.ErrUnknown answer 401; any other error is
// a failure of the store (500, logged).
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (tokens.Principal, error)
}

// Config wires an API. Commands, Views and Auth are required.
type Config struct {
	Commands     Commands
	Views        *projections.Runtime // read models (projections.View(rt, name, fn))
	Auth         Authenticator
	Logger       *slog.Logger // nil: discard
	MaxBodyBytes int64        // default 64 KiB
	// Observe, if set, is told every command request's outcome: "ok",
	// "replayed" or the error code, and how long it took (metrics).
	Observe func(command, outcome string, d time.Duration)
	// Now is the clock for the default day of quota reads (default
	// time.Now).
	Now func() time.Time
}

// DefaultMaxBodyBytes bounds a command body unless Config says otherwise.
const DefaultMaxBodyBytes = 64 << 10

// API serves the routes of Routes under /v1/. Safe for concurrent use.
type API struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	zones sync.Map // time zone name -> *time.Location
}

// New returns the API. Errors: a missing Commands, Views or Auth.
func New(cfg Config) (*API, error) {
	if cfg.Commands == nil || cfg.Views == nil || cfg.Auth == nil {
		return nil, errors.New("httpapi: Config.Commands, Config.Views and Config.Auth are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	for _, rt := range table {
		rt := rt
		a.mux.HandleFunc(rt.Method+" "+rt.Pattern, func(w http.ResponseWriter, r *http.Request) { a.serve(rt, w, r) })
	}
	// Everything else: 404, or 405 when the path exists with other
	// methods. ServeMux's own answers are text; ours are JSON.
	a.mux.HandleFunc("/", a.unrouted)
	return a, nil
}

// ServeHTTP answers one request. A panic below is logged and answered 500
// (if nothing was written yet); the server goes on.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &recorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error("httpapi: panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rw.wrote {
				a.writeError(rw, fail(http.StatusInternalServerError, CodeInternal, "internal error; retry later"))
			}
		}
	}()
	a.mux.ServeHTTP(rw, r)
}

// recorder remembers whether the answer was started (for the panic path).
type recorder struct {
	http.ResponseWriter
	wrote bool
}

func (r *recorder) WriteHeader(code int) { r.wrote = true; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var probeMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH"}

func (a *API) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		a.writeError(w, fail(http.StatusNotFound, CodeNotFound, "no such route"))
		return
	}
	if slices.Contains(allow, "GET") {
		allow = append(allow, "HEAD")
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	a.writeError(w, fail(http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed here").with("allow", allow))
}

// serve runs one route: authenticate, check the path values, the shop and
// the role, then the command or the read.
func (a *API) serve(rt *route, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if rt.Command != "" {
		if corr := r.Header.Get("X-Correlation-Id"); corr != "" && printable(corr) {
			w.Header().Set("X-Correlation-Id", corr)
		}
	}
	p, err := a.authorize(rt, r)
	if err == nil {
		if rt.Command != "" {
			err = a.command(rt, p, w, r, start)
		} else {
			err = rt.read(a, w, r, &query{p: p, r: r})
		}
	}
	if err != nil {
		e, internal := classify(err)
		if internal {
			a.log.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "route", rt.Pattern, "error", err)
		}
		if rt.Command != "" && a.cfg.Observe != nil {
			a.cfg.Observe(rt.Command, e.code, time.Since(start))
		}
		a.writeError(w, e)
	}
}

// authorize checks the token, the path values, that the token reaches
// the shop, and that its role may use the route.
func (a *API) authorize(rt *route, r *http.Request) (tokens.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return tokens.Principal{}, fail(http.StatusUnauthorized, CodeMissingToken, "an Authorization: Bearer token is required")
	}
	scheme, bearer, found := strings.Cut(h, " ")
	bearer = strings.TrimSpace(bearer)
	if !found || !strings.EqualFold(scheme, "Bearer") || bearer == "" {
		return tokens.Principal{}, fail(http.StatusUnauthorized, CodeInvalidToken, "the bearer token is missing, malformed, unknown or revoked")
	}
	p, err := a.cfg.Auth.Authenticate(r.Context(), bearer)
	if errors.Is(err, tokens.ErrMalformed) || errors.Is(err, tokens.ErrUnknown) {
		return tokens.Principal{}, fail(http.StatusUnauthorized, CodeInvalidToken, "the bearer token is missing, malformed, unknown or revoked")
	}
	if err != nil {
		return tokens.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if rt.Pattern != "/v1/shops" {
		if _, known := domain.LookupProfile(domain.PlatformID(r.PathValue("platform"))); !known {
			return p, fail(http.StatusBadRequest, CodeInvalidPath, "the platform in the path is not one of the ledger's").with("param", "platform")
		}
		if !validID(r.PathValue("shop")) {
			return p, fail(http.StatusBadRequest, CodeInvalidPath, "the shop ID must be 1-64 of A-Z a-z 0-9 _ -").with("param", "shop")
		}
		for _, name := range rt.params {
			if !validID(r.PathValue(name)) {
				return p, fail(http.StatusBadRequest, CodeInvalidPath, "path value "+name+" must be 1-64 of A-Z a-z 0-9 _ -").with("param", name)
			}
		}
		if !p.CanAccess(domain.ShopRef{Platform: domain.PlatformID(r.PathValue("platform")), ShopID: r.PathValue("shop")}) {
			return p, fail(http.StatusForbidden, CodeShopForbidden, "this token does not reach that shop")
		}
	}
	if role := p.Actor().Role; !slices.Contains(rt.Roles, role) {
		return p, fail(http.StatusForbidden, CodeForbidden, "a "+string(role)+" token may not use this route").with("role", string(role))
	}
	return p, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// command decodes, checks and hands the command to the handler.
func (a *API) command(rt *route, p tokens.Principal, w http.ResponseWriter, r *http.Request, start time.Time) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return fail(http.StatusBadRequest, CodeIdemMissing, "every command needs an Idempotency-Key header")
	}
	if !printable(key) {
		return fail(http.StatusBadRequest, CodeIdemInvalid, "the Idempotency-Key must be 1-200 bytes of printable ASCII")
	}
	corr := r.Header.Get("X-Correlation-Id")
	if corr != "" && !printable(corr) {
		return fail(http.StatusBadRequest, CodeCorrelationInvalid, "the X-Correlation-Id must be 1-200 bytes of printable ASCII")
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" && !jsonMediaType(ct) || ct == "" && r.ContentLength > 0 {
		return fail(http.StatusUnsupportedMediaType, CodeMediaType, "command bodies are application/json")
	}
	if r.ContentLength > a.cfg.MaxBodyBytes {
		return tooLarge(a.cfg.MaxBodyBytes)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 2*DefaultMaxBodyBytes {
			bufPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, a.cfg.MaxBodyBytes+1)); err != nil {
		return fail(http.StatusBadRequest, CodeMalformedJSON, "the body could not be read")
	}
	if int64(buf.Len()) > a.cfg.MaxBodyBytes {
		return tooLarge(a.cfg.MaxBodyBytes)
	}
	if buf.Len() > 0 && ct == "" {
		return fail(http.StatusUnsupportedMediaType, CodeMediaType, "command bodies are application/json")
	}
	cmd, err := rt.decode(buf.Bytes(), &binder{r: r})
	if err != nil {
		return err
	}
	if rt.Pattern == "/v1/shops" && !p.CanAccess(cmd.Shop()) {
		// RegisterShop names its shop in the body.
		return fail(http.StatusForbidden, CodeShopForbidden, "this token does not reach that platform")
	}
	if e := checkAmounts(cmd); e != nil {
		return e
	}
	res, err := a.cfg.Commands.Handle(r.Context(), cmd, handler.Meta{Actor: p.Actor(), IdempotencyKey: key, CorrelationID: corr})
	if err != nil {
		return err
	}
	outcome := "ok"
	if res.Replayed {
		outcome = "replayed"
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if rt.location != nil {
		w.Header().Set("Location", rt.location(cmd))
	}
	a.writeJSON(w, rt.Status, resultBody(res))
	if a.cfg.Observe != nil {
		a.cfg.Observe(rt.Command, outcome, time.Since(start))
	}
	return nil
}

func tooLarge(max int64) *apiError {
	return fail(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is larger than "+strconv.FormatInt(max, 10)+" bytes").with("max_bytes", max)
}

// writeJSON answers v as JSON with its length.
func (a *API) writeJSON(w http.ResponseWriter, status int, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		a.log.Error("httpapi: encode answer", "error", err)
		buf.Reset()
		buf.WriteString(`{"code":"internal","message":"internal error; retry later"}` + "\n")
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (a *API) writeError(w http.ResponseWriter, e *apiError) {
	switch e.status {
	case http.StatusUnauthorized:
		v := `Bearer realm="payoutd"`
		if e.code == CodeInvalidToken {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	a.writeJSON(w, e.status, errorBody{Code: e.code, Message: e.message, Details: e.details})
}
