package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/payoutledger/ledger/domain"
)

// maxAnswerBytes bounds an answer the demo reads (its largest, the CSV
// export of a shop, is about 1 KiB).
const maxAnswerBytes = 1 << 20

// send sends one request and reads its answer.
func (d *demo) send(r request) (answer, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(d.ctx, r.method, d.base+r.path, body)
	if err != nil {
		return answer{}, err
	}
	if r.who.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.who.token)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	// Read to the end (the connection is then reused), within a bound.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{}, err
	}
	if len(raw) > maxAnswerBytes {
		return answer{}, fmt.Errorf("%s %s: the answer is larger than %d bytes", r.method, r.path, maxAnswerBytes)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw, replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return a, nil
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return a, fmt.Errorf("%s %s: error answer is not JSON: %w", r.method, r.path, err)
		}
		a.code, a.message, a.details = e.Code, e.Message, e.Details
		return a, nil
	}
	if r.method != http.MethodGet {
		var res struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return a, fmt.Errorf("%s %s: answer is not JSON: %w", r.method, r.path, err)
		}
		for _, ev := range res.Events {
			e, err := decodeEvent(ev)
			if err != nil {
				return a, fmt.Errorf("%s %s: %w", r.method, r.path, err)
			}
			a.events = append(a.events, e)
		}
	}
	return a, nil
}

// decodeEvent reads one event of a command's answer with the domain's
// codec (the answer's events have the stored body's field names).
func decodeEvent(raw json.RawMessage) (domain.Event, error) {
	var env struct {
		ID            uuid.UUID `json:"id"`
		Type          string    `json:"type"`
		SchemaVersion int       `json:"schema_version"`
		Stream        string    `json:"stream"`
		Version       uint64    `json:"version"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return domain.Event{}, err
	}
	e, err := domain.DecodeBody(env.ID, env.Type, env.SchemaVersion, raw)
	if err != nil {
		return domain.Event{}, err
	}
	e.Stream, e.Version = env.Stream, env.Version
	return e, nil
}
