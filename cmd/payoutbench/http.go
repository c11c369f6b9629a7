package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore/handler"
)

// httpSender is the commandSender of payoutd's HTTP API: each domain
// command becomes the request of its adapters/httpapi route (method, path
// with the platform, shop and IDs, the rest of the command as the JSON
// body), with the bearer token of the actor, the idempotency key in its
// header, over keep-alive connections; the answer comes back as the
// handler's would: a handler.Result, a *domain.Rejection, or
// handler.ErrConflict. Safe for concurrent use.
type httpSender struct {
	base   string // scheme://host:port, no trailing slash
	client *http.Client
	routes map[string][]httpRoute // by command name
	tokens *tokenBook
}

// httpRoute is one command route of the API, as the sender fills it.
type httpRoute struct {
	method  string
	pattern string
	segs    []pathSeg
	status  int // of a success
}

// pathSeg is a literal part of a path or a wildcard ({name}).
type pathSeg struct {
	lit, wild string
}

// wildcardFields: the command's JSON field that fills each wildcard of
// the API's paths, in order of preference (ExpireCard names its payout or
// collection "id"). The field is left out of the body: the path carries
// it. A wildcard missing here fails newHTTPSender, so a new route cannot
// be sent wrongly.
var wildcardFields = map[string][]string{
	"platform":   {"platform"},
	"shop":       {"shop_id"},
	"payout":     {"payout_id", "id"},
	"collection": {"collection_id", "id"},
	"order":      {"order_id"},
	"staff":      {"staff"},
	"kind":       {"kind"},
	"warning":    {"warning_id"},
}

// commandRoutes indexes the API's command routes by command name.
func commandRoutes(rs []httpapi.Route) (map[string][]httpRoute, error) {
	out := map[string][]httpRoute{}
	for _, r := range rs {
		if r.Command == "" {
			continue
		}
		hr := httpRoute{method: r.Method, pattern: r.Pattern, status: r.Status}
		for _, part := range strings.Split(strings.TrimPrefix(r.Pattern, "/"), "/") {
			if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
				name := part[1 : len(part)-1]
				if _, ok := wildcardFields[name]; !ok {
					return nil, fmt.Errorf("route %s %s: no command field known for {%s}", r.Method, r.Pattern, name)
				}
				hr.segs = append(hr.segs, pathSeg{wild: name})
				continue
			}
			hr.segs = append(hr.segs, pathSeg{lit: part})
		}
		out[r.Command] = append(out[r.Command], hr)
	}
	return out, nil
}

// newHTTPSender returns a sender to the API at base (http://host:port)
// keeping up to conns idle connections: at least the number of clients,
// so that every client keeps its connection alive between commands.
func newHTTPSender(base string, book *tokenBook, conns int) (*httpSender, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s)://host:port URL", base)
	}
	routes, err := commandRoutes(httpapi.Routes())
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback, or a URL given as is: no environment proxy in the measurement
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 8,
		MaxIdleConnsPerHost: conns + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   u.Scheme == "https",
	}
	return &httpSender{
		base:   strings.TrimSuffix(u.String(), "/"),
		client: &http.Client{Transport: tr, Timeout: time.Minute},
		routes: routes,
		tokens: book,
	}, nil
}

// close drops the idle connections.
func (s *httpSender) close() { s.client.CloseIdleConnections() }

// httpRequest is what a command becomes.
type httpRequest struct {
	method, path string
	body         []byte // nil: no body
	route        httpRoute
}

// request maps a command to its route's method, path and body.
func (s *httpSender) request(cmd domain.Command) (httpRequest, error) {
	name := cmd.CommandName()
	rs := s.routes[name]
	if len(rs) == 0 {
		return httpRequest{}, fmt.Errorf("http: the API has no route for %s", name)
	}
	rt := rs[0]
	if len(rs) > 1 {
		rt = pickRoute(rs, cmd.Shop().Platform)
	}
	raw, err := json.Marshal(cmd)
	if err != nil {
		return httpRequest{}, fmt.Errorf("http: encode %s: %w", name, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return httpRequest{}, fmt.Errorf("http: %s is not a JSON object: %w", name, err)
	}
	var path strings.Builder
	for _, sg := range rt.segs {
		path.WriteByte('/')
		if sg.wild == "" {
			path.WriteString(sg.lit)
			continue
		}
		v, field, ok := pathValue(fields, wildcardFields[sg.wild])
		if !ok {
			return httpRequest{}, fmt.Errorf("http: %s has no value for {%s} of %s", name, sg.wild, rt.pattern)
		}
		delete(fields, field)
		path.WriteString(url.PathEscape(v))
	}
	req := httpRequest{method: rt.method, path: path.String(), route: rt}
	if len(fields) > 0 {
		if req.body, err = json.Marshal(fields); err != nil {
			return httpRequest{}, fmt.Errorf("http: encode %s's body: %w", name, err)
		}
	}
	return req, nil
}

// pickRoute chooses among the routes of one command (ExpireCard: a
// collection card on a platform with collections, Taobao; a buyer's card
// on a payout elsewhere).
func pickRoute(rs []httpRoute, p domain.PlatformID) httpRoute {
	prof, ok := domain.LookupProfile(p)
	collections := ok && prof.Collection != nil
	for _, r := range rs {
		if strings.Contains(r.pattern, "/collections/") == collections {
			return r
		}
	}
	return rs[0]
}

// pathValue is the first of names that the command holds as a non-empty
// string.
func pathValue(fields map[string]json.RawMessage, names []string) (value, field string, ok bool) {
	for _, n := range names {
		raw, present := fields[n]
		if !present {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err == nil && v != "" {
			return v, n, true
		}
	}
	return "", "", false
}

// Handle sends cmd as meta's actor and maps the answer back.
func (s *httpSender) Handle(ctx context.Context, cmd domain.Command, meta handler.Meta) (handler.Result, error) {
	if meta.CausationID != "" {
		// The API takes no causation: sending without it would record
		// other events than the caller asked for.
		return handler.Result{}, errors.New("http: the API carries no causation ID")
	}
	token, err := s.tokens.token(cmd.Shop(), meta.Actor)
	if err != nil {
		return handler.Result{}, err
	}
	rq, err := s.request(cmd)
	if err != nil {
		return handler.Result{}, err
	}
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, s.base+rq.path, body)
	if err != nil {
		return handler.Result{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", meta.IdempotencyKey)
	if meta.CorrelationID != "" {
		req.Header.Set("X-Correlation-Id", meta.CorrelationID)
	}
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return handler.Result{}, fmt.Errorf("http: %s %s: %w", rq.method, rq.route.pattern, err)
	}
	defer resp.Body.Close()
	// Read to the end: a drained body lets the connection be reused.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return handler.Result{}, fmt.Errorf("http: %s %s: read the answer: %w", rq.method, rq.route.pattern, err)
	}
	return answer(resp.StatusCode, b)
}

// apiResult is the API's answer to an accepted command
// (httpapi's commandResult).
type apiResult struct {
	Stream   string            `json:"stream"`
	Version  uint64            `json:"version"`
	Position uint64            `json:"position"`
	Replayed bool              `json:"replayed"`
	Events   []json.RawMessage `json:"events"`
}

// apiEvent is one event of it: domain.Event's JSON without the store's
// fields; data is read by the domain's codec.
type apiEvent struct {
	ID             uuid.UUID       `json:"id"`
	Type           string          `json:"type"`
	SchemaVersion  int             `json:"schema_version"`
	Stream         string          `json:"stream"`
	Version        uint64          `json:"version"`
	OccurredAt     time.Time       `json:"occurred_at"`
	Actor          domain.Actor    `json:"actor"`
	Command        string          `json:"command"`
	CorrelationID  string          `json:"correlation_id"`
	CausationID    string          `json:"causation_id"`
	IdempotencyKey string          `json:"idempotency_key"`
	Data           json.RawMessage `json:"data"`
}

// apiError is the API's error body.
type apiError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// httpError is an answer that is neither a success, a rejection nor a
// conflict (a 4xx of the HTTP layer, a 5xx).
type httpError struct {
	Status  int
	Code    string
	Message string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("http %d %s: %s", e.Status, e.Code, e.Message)
}

// answer maps a status and body to what handler.Handle would return.
func answer(status int, body []byte) (handler.Result, error) {
	if status >= 200 && status < 300 {
		return decodeResult(body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		return handler.Result{}, &httpError{Status: status, Code: "?", Message: strings.TrimSpace(string(body))}
	}
	switch {
	case status == http.StatusConflict && e.Code == httpapi.CodeConflict:
		return handler.Result{}, fmt.Errorf("%w (%s)", handler.ErrConflict, e.Message)
	case isRejection(status, e.Code):
		return handler.Result{}, rejection(e)
	}
	return handler.Result{}, &httpError{Status: status, Code: e.Code, Message: e.Message}
}

// isRejection: the domain decided (httpapi's status rule): 422, or its
// auth.forbidden (403) and *.unknown codes (404); the HTTP layer's own
// refusals carry request.*, auth.* or service codes.
func isRejection(status int, code string) bool {
	switch status {
	case http.StatusUnprocessableEntity:
		return true
	case http.StatusForbidden:
		return code == domain.CodeAuthForbidden
	case http.StatusNotFound:
		return code != httpapi.CodeNotFound
	}
	return false
}

// rejection rebuilds the domain's rejection from its rendering: the
// checked numbers from limit, used, requested and unit, the rest as
// details.
func rejection(e apiError) *domain.Rejection {
	r := &domain.Rejection{Code: e.Code, Message: e.Message}
	for k, v := range e.Details {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		num := func() *decimal.Decimal {
			d, err := decimal.NewFromString(s)
			if err != nil {
				return nil
			}
			return &d
		}
		switch k {
		case "unit":
			r.Unit = s
			continue
		case "limit":
			if r.Limit = num(); r.Limit != nil {
				continue
			}
		case "used":
			if r.Used = num(); r.Used != nil {
				continue
			}
		case "requested":
			if r.Requested = num(); r.Requested != nil {
				continue
			}
		}
		if r.Details == nil {
			r.Details = map[string]string{}
		}
		r.Details[k] = s
	}
	return r
}

// decodeResult reads an accepted command's answer into a handler.Result:
// the events with their payloads; the answer's position is the last
// event's (the API gives only that one).
func decodeResult(body []byte) (handler.Result, error) {
	var a apiResult
	if err := json.Unmarshal(body, &a); err != nil {
		return handler.Result{}, fmt.Errorf("http: the answer is not a command result: %w", err)
	}
	res := handler.Result{Stream: a.Stream, Version: a.Version, Replayed: a.Replayed, Events: make([]domain.Event, len(a.Events))}
	for i, raw := range a.Events {
		var ae apiEvent
		if err := json.Unmarshal(raw, &ae); err != nil {
			return handler.Result{}, fmt.Errorf("http: event %d of the answer: %w", i, err)
		}
		// The domain's codec reads a stored body; the payload alone is
		// one with only its data.
		wrapped := make([]byte, 0, len(ae.Data)+9)
		wrapped = append(append(append(wrapped, `{"data":`...), ae.Data...), '}')
		ev, err := domain.DecodeBody(ae.ID, ae.Type, ae.SchemaVersion, wrapped)
		if err != nil {
			return handler.Result{}, fmt.Errorf("http: event %d of the answer: %w", i, err)
		}
		ev.Stream, ev.Version, ev.OccurredAt, ev.Actor = ae.Stream, ae.Version, ae.OccurredAt, ae.Actor
		ev.Command, ev.CorrelationID, ev.CausationID, ev.IdempotencyKey = ae.Command, ae.CorrelationID, ae.CausationID, ae.IdempotencyKey
		res.Events[i] = ev
	}
	if n := len(res.Events); n > 0 {
		res.Events[n-1].Position = a.Position
	}
	return res, nil
}
