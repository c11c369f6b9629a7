package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/eventstore"
	"github.com/payoutledger/ledger/eventstore/handler"
	"github.com/payoutledger/ledger/projections"
)

// Codes of the HTTP layer. Like the domain's codes (domain/rejection.go,
// docs/rules.md) they are a contract with clients: append-only, never
// renamed. Every error answer is JSON {"code", "message", "details"}.
//
// The status rule: what the HTTP layer refuses before the domain sees the
// command (syntax, headers, path values, body size, media type) is 4xx with
// one of these codes; what the domain decides is 422 with the rule's code,
// except auth.forbidden (403) and the *.unknown codes naming a missing
// resource (404). A client switches on the code; the status is coarse.
const (
	CodeMalformedJSON      = "request.malformed_json"          // 400: not JSON, or truncated
	CodeUnknownField       = "request.unknown_field"           // 400: a field the command does not have
	CodeInvalidField       = "request.invalid_field"           // 400: a field of the wrong JSON type or unparsable value
	CodeTrailingData       = "request.trailing_data"           // 400: more after the JSON value
	CodePathMismatch       = "request.path_mismatch"           // 400: a body field contradicts the path
	CodeInvalidPath        = "request.invalid_path"            // 400: a path value that is no platform or ID
	CodeInvalidQuery       = "request.invalid_query"           // 400: a query parameter that cannot be read
	CodeAmountRange        = "request.amount_out_of_range"     // 400: an amount too large or too fine to be money
	CodeIdemMissing        = "request.idempotency_key_missing" // 400: a command without Idempotency-Key
	CodeIdemInvalid        = "request.idempotency_key_invalid" // 400: longer than 200 bytes or not printable ASCII
	CodeCorrelationInvalid = "request.correlation_id_invalid"  // 400: X-Correlation-Id likewise
	CodeTooLarge           = "request.too_large"               // 413: body above Config.MaxBodyBytes
	CodeMediaType          = "request.unsupported_media_type"  // 415: a command body that is not application/json
	CodeNotFound           = "request.not_found"               // 404: no such route
	CodeMethodNotAllowed   = "request.method_not_allowed"      // 405: the route exists with other methods (see Allow)
	CodeMissingToken       = "auth.missing_token"              // 401: no Authorization: Bearer header
	CodeInvalidToken       = "auth.invalid_token"              // 401: malformed, unknown or revoked token (not said which)
	CodeShopForbidden      = "auth.shop_forbidden"             // 403: the token does not reach this shop
	CodeForbidden          = domain.CodeAuthForbidden          // 403: the token's role may not use the route
	CodeConflict           = "concurrency.conflict"            // 409: concurrent writers kept winning; retry
	CodeNotReady           = "projections.not_ready"           // 503: the read models are not loaded yet
	CodeUnavailable        = "service.unavailable"             // 503: the store is closed or the request was cancelled
	CodeInternal           = "internal"                        // 500: a failure of ours, logged; retry later
)

// apiError is an error answered as is: status, code, message, details.
type apiError struct {
	status  int
	code    string
	message string
	details map[string]any
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func (e *apiError) with(k string, v any) *apiError {
	if e.details == nil {
		e.details = map[string]any{}
	}
	e.details[k] = v
	return e
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// rejectionStatus maps a domain rejection to its status (see the codes
// above for the rule).
func rejectionStatus(code string) int {
	switch code {
	case domain.CodeAuthForbidden:
		return http.StatusForbidden
	case domain.CodeShopUnknown, domain.CodePayoutUnknown, domain.CodeStaffUnknown,
		domain.CodeWarningUnknown, domain.CodeOrderUnknown:
		return http.StatusNotFound
	}
	return http.StatusUnprocessableEntity
}

// fromRejection renders a *domain.Rejection: the numbers it checked and
// its details go into details (the typed numbers win over a detail of the
// same name).
func fromRejection(r *domain.Rejection) *apiError {
	e := &apiError{status: rejectionStatus(r.Code), code: r.Code, message: r.Message}
	for k, v := range r.Details {
		e.with(k, v)
	}
	if r.Unit != "" {
		e.with("unit", r.Unit)
	}
	if r.Limit != nil {
		e.with("limit", r.Limit.String())
	}
	if r.Used != nil {
		e.with("used", r.Used.String())
	}
	if r.Requested != nil {
		e.with("requested", r.Requested.String())
	}
	return e
}

// classify turns any error of the command or query path into its answer.
// internal reports a failure of ours (to be logged, its text never sent).
func classify(err error) (e *apiError, internal bool) {
	var ae *apiError
	var rej *domain.Rejection
	switch {
	case errors.As(err, &ae):
		return ae, false
	case errors.As(err, &rej):
		return fromRejection(rej), false
	case errors.Is(err, handler.ErrConflict):
		return fail(http.StatusConflict, CodeConflict, "concurrent commands on this shop kept winning; retry with the same Idempotency-Key"), false
	case errors.Is(err, projections.ErrNotReady):
		return fail(http.StatusServiceUnavailable, CodeNotReady, "the read models are not ready yet; retry shortly"), false
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fail(http.StatusServiceUnavailable, CodeUnavailable, "the service is shutting down or the request was cancelled; retry"), true
	}
	return fail(http.StatusInternalServerError, CodeInternal, "internal error; retry later"), true
}
